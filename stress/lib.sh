# shellcheck shell=bash
# stress/lib.sh — helpers of the stress scripts (slowloris.sh, handshake_flood.sh,
# initial_flood.sh, sigterm.sh, soak.sh), on top of bench/lib.sh. Source it.
#
#   verdict NAME TEXT OK      one "NAME: TEXT ok|FAIL" line; counts FAILS
#   le A B                    1 if A <= B (decimals), else 0
#   rss_kb PID / tree_rss_kb PID / fd_count PID
#   settle PID                RSS of PID and its children once steady (1 s, 30 s at most)
#   wait_line FILE REGEX SECS PID   bounded poll for a line in FILE; fails if PID died
#   stress_server NAME ARGS...      handoff serve on loopback with the test certificate;
#                                   SRV_PID, TLS_PORT, PLAIN_PORT (both listening on return)
# shellcheck source=../bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"
STRESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
LOADCLIENT=$STRESS_DIR/loadclient.py
FAILS=0

verdict() { # NAME TEXT OK(1|0)
    if [ "$3" = 1 ]; then echo "$1: $2 ok"; else echo "$1: $2 FAIL"; FAILS=$((FAILS + 1)); fi
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }' && echo 1 || echo 0; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# tree_rss_kb PID: the process and its children (nginx's workers).
tree_rss_kb() {
    local p sum=0
    for p in "$1" $(pgrep -P "$1" 2>/dev/null); do sum=$((sum + $(rss_kb "$p"))); done
    echo "$sum"
}
# settle PID: the tree's RSS once it has not moved by more than 64 KiB over 1 s (at most 30 s).
settle() {
    local last=-1 same=0 now i
    for ((i = 0; i < 150; i++)); do
        now=$(tree_rss_kb "$1")
        if [ $((now - last)) -le 64 ] && [ $((last - now)) -le 64 ]; then
            same=$((same + 1))
            [ "$same" -ge 5 ] && break
        else
            same=0
        fi
        last=$now
        sleep 0.2
    done
    echo "$now"
}
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

wait_line() { # FILE REGEX SECS PID
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && { grep -qE "$2" "$1" 2>/dev/null; return; }
        sleep 0.05
    done
    return 1
}

# A report of a sanitizer in a server log is a failure.
sanitizer_check() { # LOG
    if grep -q "Sanitizer" "$1" 2>/dev/null; then
        verdict sanitizer "report in $(basename "$1"): $(grep -m1 Sanitizer "$1")" 0
    fi
}

stress_server() { # NAME ARGS...
    local name=$1
    shift
    [ -f "$BT/cert.pem" ] || make_cert "$BT"
    TLS_PORT=$(free_port)
    PLAIN_PORT=$(free_port)
    ho_start "$name" --bind 127.0.0.1 --port "$TLS_PORT" --tls-port 0 --http-port "$PLAIN_PORT" \
        --cert "$BT/cert.pem" --key "$BT/key.pem" "$@"
    SRV_PID=$BENCH_PID
    wait_port "$TLS_PORT" "$SRV_PID" 30 && wait_port "$PLAIN_PORT" "$SRV_PID" 30 ||
        die "handoff did not listen: $(tail -5 "$BT/$name.log")"
}

# counters_field PID LOG NAME: one integer of the server's counters (SIGUSR1).
counters_field() {
    local j
    j=$(ho_counters "$1" "$2") || { echo 0; return 1; }
    jfield "$j" "$3"
}

stress_end() {
    echo "# $FAILS failed"
    [ "$FAILS" = 0 ]
}
