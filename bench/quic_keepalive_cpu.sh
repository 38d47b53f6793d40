#!/usr/bin/env bash
# Server CPU per HTTP/3 request on established connections, for one or two builds of
# handoff side by side (an A/B of a change on the request path):
#
#   bench/quic_keepalive_cpu.sh [-r ROUNDS] [-d SECONDS] HANDOFF_A [HANDOFF_B]
#
# Each round starts `handoff serve` (2 I/O threads, QUIC only) from each binary in turn and
# runs bench/quic_load --keep 64 --interval 1 against it for -d seconds (default 10): 64
# connections, each GETting / every millisecond, so on loopback every connection comes to
# rest (all acknowledged) between two requests. Prints per run the requests answered and
# the server's CPU (utime + stime from /proc) per request, then the median of each binary
# and B/A. Environment: QUIC_LOAD (default bench/quic_load beside the first binary).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=3
SECS=10
while [ $# -gt 0 ]; do
    case $1 in
    -r) ROUNDS=$2; shift ;;
    -d) SECS=$2; shift ;;
    -*) die "unknown option $1" ;;
    *) break ;;
    esac
    shift
done
{ [ $# -ge 1 ] && [ $# -le 2 ]; } || die "usage: $0 [-r ROUNDS] [-d SECONDS] HANDOFF_A [HANDOFF_B]"
BINS=("$@")
for b in "${BINS[@]}"; do [ -x "$b" ] || die "$b is not executable"; done
QUIC_LOAD=${QUIC_LOAD:-$(dirname "$1")/bench/quic_load}
[ -x "$QUIC_LOAD" ] || die "no quic_load at $QUIC_LOAD: build the bench targets or set QUIC_LOAD"
bench_init
make_cert "$BT"

# one BIN: prints "OK US_PER_REQUEST"
one() {
    local port pid t0 t1 out ok
    port=$(free_port)
    "$1" serve --bind 127.0.0.1 --port "$port" --tls-port 0 --http-port 0 --threads 2 \
        --cert "$BT/cert.pem" --key "$BT/key.pem" >"$BT/srv.log" 2>&1 &
    pid=$!
    BENCH_PIDS+=("$pid")
    wait_udp "$port" "$pid" || die "$1 did not bind UDP $port: $(tail -3 "$BT/srv.log")"
    bounded 60 "$QUIC_LOAD" --cafile "$BT/cert.pem" --sni localhost -n 20 -c 4 "127.0.0.1:$port" >/dev/null 2>&1
    t0=$(cpu_ticks "$pid")
    out=$(bounded $((SECS + 60)) "$QUIC_LOAD" --cafile "$BT/cert.pem" --sni localhost --keep 64 --interval 1 \
        -d "$SECS" -r 1 "127.0.0.1:$port" 2>/dev/null | tail -1)
    t1=$(cpu_ticks "$pid")
    stop_pid "$pid"
    ok=$(echo "$out" | grep -o '"keep":{"sent":[0-9]*,"ok":[0-9]*' | grep -o '"ok":[0-9]*' | cut -d: -f2)
    { [ -n "$ok" ] && [ "$ok" -gt 0 ]; } || die "no keep-alive request answered: $out"
    echo "$ok $(awk -v t=$((t1 - t0)) -v n="$ok" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
}

LBL=(A B)
RES=("" "")
for ((r = 1; r <= ROUNDS; r++)); do
    for i in "${!BINS[@]}"; do
        # one runs in a subshell: its die ends only that, so an empty answer stops here.
        read -r ok us < <(one "${BINS[i]}")
        [ -n "${us:-}" ] || die "round $r, ${BINS[i]}: no figure (see the message above)"
        echo "round $r  ${LBL[i]}  $ok requests  $us us/request  (${BINS[i]})"
        RES[i]="${RES[i]:-} $us"
    done
done
MA=$(echo "${RES[0]}" | tr ' ' '\n' | grep . | median)
echo "A median: $MA us/request"
if [ ${#BINS[@]} = 2 ]; then
    MB=$(echo "${RES[1]}" | tr ' ' '\n' | grep . | median)
    echo "B median: $MB us/request; B/A $(awk -v a="$MA" -v b="$MB" 'BEGIN { printf "%.2f", b / a }')"
fi
