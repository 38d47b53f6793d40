#!/usr/bin/env bash
# Soak (issue 12, item 7): a mixed workload against one `handoff serve` for a bounded time —
# TLS keep-alive clients and plaintext keep-alive clients (stress/loadclient.py, one request
# every 5 ms each), new TLS and plaintext connections (curl in a loop, one request each) and
# one HTTP/3 client (`handoff get --h3` in a loop, 3 requests per QUIC connection).
#
#   stress/soak.sh [--short] [-t SECONDS]
#
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   soak_errors   every request of every client succeeded (status 200, nothing cut)
#   soak_rss      RSS at the end <= 1.10 x RSS after the warm-up (the first sixth, >= 5 s)
#                 + ALLOW_KB
#   soak_fds      once the clients stop, /proc/PID/fd back to its count before they started
#                 (bounded poll, 30 s)
# --short: 15 s; default 120 s. Environment: HANDOFF, KEEP=1, ALLOW_KB (8192).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SECS=120
ALLOW_KB=${ALLOW_KB:-8192}
while [ $# -gt 0 ]; do
    case $1 in
    --short) SECS=15 ;;
    -t) SECS=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
WARM=$((SECS / 6))
[ "$WARM" -lt 5 ] && WARM=5
ho_find_bin
bench_init
stress_server ho --threads 2
wait_udp "$TLS_PORT" "$SRV_PID" || die "no HTTP/3 listener: $(tail -5 "$BT/ho.log")"
# one request of each kind before the baseline, so that one-time allocations (thread
# buffers, the QUIC endpoint) are not counted as growth
curl -sk -o /dev/null -o /dev/null --max-time 10 "https://127.0.0.1:$TLS_PORT/" "http://127.0.0.1:$PLAIN_PORT/"
timeout 20 "$HANDOFF" get --h3 --insecure --timeout 10 "https://127.0.0.1:$TLS_PORT/" >/dev/null 2>&1
fd0=$(fd_count "$SRV_PID")
echo "# handoff $HANDOFF; soak $SECS s (warm-up $WARM s)"

python3 "$LOADCLIENT" keepalive 127.0.0.1 "$TLS_PORT" 4 "$SECS" / --pace=5 >"$BT/ka-tls.log" 2>&1 &
BENCH_PIDS+=("$!")
KT=$!
python3 "$LOADCLIENT" keepalive 127.0.0.1 "$PLAIN_PORT" 2 "$SECS" "/json/5?m=2" --plain --pace=5 >"$BT/ka-plain.log" 2>&1 &
BENCH_PIDS+=("$!")
KP=$!
newconns() {
    local u i=0
    while [ ! -e "$BT/stop" ]; do
        if ((i++ % 2)); then u="https://127.0.0.1:$TLS_PORT/"; else u="http://127.0.0.1:$PLAIN_PORT/baseline2?a=1&b=2"; fi
        curl -sk -o /dev/null -w '%{http_code}\n' --max-time 10 "$u" || echo "000"
    done >"$BT/new.txt"
}
h3() {
    local u="https://127.0.0.1:$TLS_PORT"
    while [ ! -e "$BT/stop" ]; do
        if timeout 30 "$HANDOFF" get --h3 --insecure --timeout 10 "$u/" "$u/json/3?m=1" "$u/baseline2?a=2&b=3" \
            >/dev/null 2>>"$BT/h3.err"; then echo ok; else echo fail; fi
    done >"$BT/h3.txt"
}
wait_line "$BT/ka-tls.log" '^ready' 60 "$KT" && wait_line "$BT/ka-plain.log" '^ready' 60 "$KP" ||
    echo "# keep-alive clients not ready: $(tail -2 "$BT/ka-tls.log" "$BT/ka-plain.log")"
newconns &
NC=$!
h3 &
H3=$!
BENCH_PIDS+=("$NC" "$H3")
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt "$WARM" ]; do sleep 0.5; done
rss_warm=$(rss_kb "$SRV_PID")
fd_warm=$(fd_count "$SRV_PID")
while [ $(($(date +%s) - t0)) -lt "$SECS" ]; do sleep 0.5; done
rss_end=$(rss_kb "$SRV_PID")
touch "$BT/stop"
for p in "$KT" "$KP" "$NC" "$H3"; do
    for ((i = 0; i < 1200; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$p" 2>/dev/null && kill "$p"
    wait "$p" 2>/dev/null
    forget_pid "$p"
done
# fds back to the baseline (bounded poll)
for ((i = 0; i < 600; i++)); do
    fd1=$(fd_count "$SRV_PID")
    [ "$fd1" -le "$fd0" ] && break
    sleep 0.05
done
j=$(ho_counters "$SRV_PID" "$BT/ho.log")

reqs=0 errs=0
for f in "$BT/ka-tls.log" "$BT/ka-plain.log"; do
    grep '^error' "$f" | head -3
    read -r _ _ a _ b _ < <(grep '^keepalive ' "$f" || echo "x x 0 x 1 x")
    reqs=$((reqs + a)) errs=$((errs + b))
done
nn=$(wc -l <"$BT/new.txt")
ne=$(grep -vc '^200$' "$BT/new.txt")
hn=$(wc -l <"$BT/h3.txt")
he=$(grep -c '^fail$' "$BT/h3.txt")
[ "$he" -gt 0 ] && head -3 "$BT/h3.err"
verdict soak_errors "$SECS s: keep-alive $reqs requests ($errs errors), new connections $nn ($ne errors), HTTP/3 $hn connections x 3 requests ($he failed); server: $(jfield "$j" requests) HTTP/1.1 requests, $(jfield "$j" handshakes_done) TLS handshakes, $(jfield "$j" h3_requests) HTTP/3 requests; bound 0 errors" \
    "$([ "$reqs" -gt 0 ] && [ "$nn" -gt 0 ] && [ "$hn" -gt 0 ] && [ $((errs + ne + he)) = 0 ] && echo 1 || echo 0)"
bound=$(awk -v w="$rss_warm" -v a="$ALLOW_KB" 'BEGIN { printf "%d", w * 1.10 + a }')
verdict soak_rss "RSS after warm-up $rss_warm KiB, at the end $rss_end KiB, bound 1.10 x warm-up + $ALLOW_KB KiB = $bound KiB" \
    "$(le "$rss_end" "$bound")"
verdict soak_fds "fds before the clients $fd0, under load $fd_warm, after $fd1, bound $fd0" "$(le "$fd1" "$fd0")"
stop_pid "$SRV_PID"
sanitizer_check "$BT/ho.log"
stress_end
