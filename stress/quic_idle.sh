#!/usr/bin/env bash
# Memory per established HTTP/3 connection at rest (issue 12, item 2: <= 16 KiB per idle QUIC
# connection), against `handoff serve` on loopback.
#
#   stress/quic_idle.sh [--short] [-n N]
#
# bench/quic_load holds N connections open (--keep N), each GETting / every 5 s, so they stay
# within the idle timeout and are at rest between requests; a trickle of one new connection
# per second runs beside them (quic_load's storm, needed to keep it running). The server's
# RSS after a warm-up (one-time allocations: thread buffers, crypto state) is compared with
# its RSS once all N are established and the heap has settled, divided by the QUIC
# connections open at that moment (the server's counters).
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   quic_idle        RSS per open QUIC connection <= QUIC_IDLE_KB (52: a regression bound;
#                    printed beside the issue's goal, 16 KiB, which is missed: 45 KiB measured)
#   quic_after       once the client is gone and the server has closed them (idle timeout):
#                    RSS <= 1.10 x before + 4 MiB
# --short: N=200 (default 1000, quic_load's --keep maximum). Environment: HANDOFF, QUIC_LOAD (default: bench/quic_load
# beside the handoff binary), QUIC_IDLE_KB.
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=1000
BOUND_KB=${QUIC_IDLE_KB:-52}
GOAL_KB=16
CACHE_KB=4096
while [ $# -gt 0 ]; do
    case $1 in
    --short) N=200 ;;
    -n) N=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
ho_find_bin
bench_init
QUIC_LOAD=${QUIC_LOAD:-$(dirname "$HANDOFF")/bench/quic_load}
[ -x "$QUIC_LOAD" ] || die "no quic_load at $QUIC_LOAD: build the bench targets or set QUIC_LOAD"

# open_quic: QUIC connections open on the server now (its counters).
open_quic() {
    local j a c
    j=$(ho_counters "$SRV_PID" "$BT/quic.log") || { echo -1; return; }
    a=$(jfield "$j" h3_connections)
    c=$(jfield "$j" h3_connections_closed)
    echo $((${a:-0} - ${c:-0}))
}

stress_server quic --threads 2
wait_udp "$TLS_PORT" "$SRV_PID" || die "handoff did not bind UDP $TLS_PORT"
echo "# handoff $HANDOFF, 2 I/O threads; $N QUIC connections held by $QUIC_LOAD"
URL=127.0.0.1:$TLS_PORT
# Warm-up: every thread's buffers and crypto state exist before the baseline.
bounded 120 "$QUIC_LOAD" --cafile "$BT/cert.pem" --sni localhost -n 40 -c 8 "$URL" >"$BT/warm.log" 2>&1 ||
    die "warm-up failed: $(tail -3 "$BT/warm.log")"
PRE=$(settle "$SRV_PID")
base_open=$(open_quic)

"$QUIC_LOAD" --cafile "$BT/cert.pem" --sni localhost --keep "$N" --interval 5000 -d 600 -r 1 "$URL" \
    >"$BT/keep.log" 2>&1 &
CL_PID=$!
BENCH_PIDS+=("$CL_PID")
open=0
for ((i = 0; i < 600; i++)); do # 120 s at most
    open=$(open_quic)
    [ "$open" -ge $((base_open + N)) ] && break
    kill -0 "$CL_PID" 2>/dev/null || break
    sleep 0.2
done
if [ "$open" -lt $((base_open + N)) ]; then
    verdict quic_idle "only $open of $N connections open (client: $(tail -2 "$BT/keep.log" | tr '\n' ' '))" 0
else
    NOW=$(settle "$SRV_PID")
    open=$(open_quic)
    PER=$(awk -v a="$NOW" -v b="$PRE" -v n="$open" 'BEGIN { printf "%.2f", (a - b) / n }')
    verdict quic_idle "$open open QUIC connections: $PER KiB/conn (RSS $((PRE / 1024)) -> $((NOW / 1024)) MiB), goal $GOAL_KB, bound $BOUND_KB" \
        "$(le "$PER" "$BOUND_KB")"
    PEAK=$NOW
fi
stop_pid "$CL_PID"
# The server closes them at its idle timeout (30 s; quic_load may leave without a
# CONNECTION_CLOSE).
for ((i = 0; i < 450; i++)); do # 90 s at most
    [ "$(open_quic)" -le 0 ] && break
    sleep 0.2
done
LIMIT=$(awk -v p="$PRE" -v c="$CACHE_KB" 'BEGIN { printf "%d", p * 1.10 + c }')
for ((i = 0; i < 75; i++)); do
    AFTER=$(rss_kb "$SRV_PID")
    [ "$AFTER" -le "$LIMIT" ] && break
    sleep 0.2
done
verdict quic_after "open $(open_quic); RSS before $((PRE / 1024)) MiB, peak $((${PEAK:-0} / 1024)) MiB, after $((AFTER / 1024)) MiB, bound 1.10 x before + $((CACHE_KB / 1024)) MiB" \
    "$(le "$AFTER" "$LIMIT")"
sanitizer_check "$BT/quic.log"
stress_end
