#!/usr/bin/env bash
# Slowloris against `handoff serve` (issue 12, item 7): N connections (half TLS, half
# plaintext) that send a request one byte every INTERVAL seconds, plus N/10 that send 5 bytes
# of a ClientHello and nothing more. Server: --request-timeout and --handshake-timeout TO ms.
# Meanwhile curl (a new connection per request, TLS and plaintext in turn) fetches / in a loop.
#
#   stress/slowloris.sh [--short] [-n N] [--timeout MS]
#
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   slowloris_closed  every slow connection closed by the server, none later than the
#                     timeout + SLACK_S after its first byte (counters: request/handshake timeouts)
#   slowloris_rss     server RSS growth with all of them open <= PER_CONN_KB per connection
#   slowloris_good    curl: every response 200; p99 <= GOOD_P99_MS
# --short: N 300; default N 2000. Environment: HANDOFF, KEEP=1, PER_CONN_KB (64),
# GOOD_P99_MS (1000), SLACK_S (15).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=2000 TO=3000 INTERVAL=1
PER_CONN_KB=${PER_CONN_KB:-64}
GOOD_P99_MS=${GOOD_P99_MS:-1000}
SLACK_S=${SLACK_S:-15}
while [ $# -gt 0 ]; do
    case $1 in
    --short) N=300 ;;
    -n) N=$2; shift ;;
    --timeout) TO=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
ho_find_bin
bench_init
stress_server ho --no-h3 --threads 2 --request-timeout "$TO" --handshake-timeout "$TO"
# warm up every thread (buffers, crypto state): one-time allocations are not per connection
for i in 1 2 3 4 5 6 7 8; do
    curl -sk -o /dev/null -o /dev/null --max-time 10 "https://127.0.0.1:$TLS_PORT/" "http://127.0.0.1:$PLAIN_PORT/"
done
base=$(rss_kb "$SRV_PID")
echo "# handoff $HANDOFF; $N slow connections + $((N / 10)) stalled handshakes, timeouts $TO ms"

# the well-behaved client, until $BT/stop exists
good() {
    local u i=0
    while [ ! -e "$BT/stop" ]; do
        if ((i++ % 2)); then u="https://127.0.0.1:$TLS_PORT/"; else u="http://127.0.0.1:$PLAIN_PORT/"; fi
        curl -sk -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 "$u" || echo "000 10"
    done >"$BT/good.txt"
}
good &
GOOD_PID=$!
BENCH_PIDS+=("$GOOD_PID")

limit=$((TO / 1000 + SLACK_S))
python3 "$LOADCLIENT" slowloris 127.0.0.1 "$TLS_PORT" "$PLAIN_PORT" "$N" "$INTERVAL" $((limit + 60)) >"$BT/slow.log" 2>&1 &
SL_PID=$!
BENCH_PIDS+=("$SL_PID")
if wait_line "$BT/slow.log" '^ready' 300 "$SL_PID"; then
    # the peak while they trickle (sampled until the client is done)
    peak=0
    while kill -0 "$SL_PID" 2>/dev/null; do
        r=$(rss_kb "$SRV_PID")
        [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.2
    done
    wait "$SL_PID"
    forget_pid "$SL_PID"
else
    peak=0
    echo "slowloris: client did not get ready: $(tail -3 "$BT/slow.log")"
    stop_pid "$SL_PID"
fi
touch "$BT/stop"
wait "$GOOD_PID"
forget_pid "$GOOD_PID"

read -r _ _ opened _ closed _ never _ maxs < <(grep '^slowloris ' "$BT/slow.log" || echo "x x 0 x 0 x 0 x 999")
j=$(ho_counters "$SRV_PID" "$BT/ho.log")
rt=$(jfield "$j" request_timeouts)
ht=$(jfield "$j" handshake_timeouts)
verdict slowloris_closed "$closed of $opened closed by the server (request_timeouts ${rt:-?}, handshake_timeouts ${ht:-?}), latest ${maxs} s after its first byte, bound $((TO / 1000)) + $SLACK_S s" \
    "$([ "$opened" -gt 0 ] && [ "$never" = 0 ] && [ "$(le "$maxs" "$limit")" = 1 ] && echo 1 || echo 0)"
g=$((peak - base))
per=$(awk -v g="$g" -v n="$opened" 'BEGIN { printf "%.1f", (n > 0) ? g / n : 1e9 }')
verdict slowloris_rss "RSS $((base / 1024)) -> $((peak / 1024)) MiB with $opened open: $per KiB/conn, bound $PER_CONN_KB KiB/conn" \
    "$(le "$per" "$PER_CONN_KB")"
read -r gn gerr gp50 gp99 < <(sort -k2,2g "$BT/good.txt" | awk '{ n++; if ($1 != 200) e++; t[n] = $2 * 1000 }
    END { printf "%d %d %.1f %.1f\n", n, e, n ? t[int((n - 1) * 0.5) + 1] : 0, n ? t[int((n - 1) * 0.99) + 1] : 0 }')
verdict slowloris_good "curl meanwhile: $gn requests, $gerr errors, p50 $gp50 ms, p99 $gp99 ms, bound 0 errors and p99 $GOOD_P99_MS ms" \
    "$([ "$gn" -gt 0 ] && [ "$gerr" = 0 ] && [ "$(le "$gp99" "$GOOD_P99_MS")" = 1 ] && echo 1 || echo 0)"
stop_pid "$SRV_PID"
sanitizer_check "$BT/ho.log"
stress_end
