#!/usr/bin/env bash
# A TLS handshake flood against `handoff serve` (issue 12, item 7): P parallel
# `openssl s_time -new` (a full handshake per connection, no resumption) for S seconds,
# while K established keep-alive clients (stress/loadclient.py) send GET / every 10 ms.
#
#   stress/handshake_flood.sh [--short] [-p PROCS] [-t SECONDS]
#
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   hs_flood_rate      handshakes/s (the server's handshakes_done over the wall time) >= MIN_HS_S
#   hs_flood_failed    handshakes_failed = 0
#   hs_established     the keep-alive clients: 0 errors; p99 <= EST_P99_MS (p50 printed)
# --short: 4 processes for 8 s; default 8 for 30 s. Environment: HANDOFF, KEEP=1,
# MIN_HS_S (50), EST_P99_MS (1000).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PROCS=8 SECS=30 KA=4
MIN_HS_S=${MIN_HS_S:-50}
EST_P99_MS=${EST_P99_MS:-1000}
while [ $# -gt 0 ]; do
    case $1 in
    --short) PROCS=4 SECS=8 ;;
    -p) PROCS=$2; shift ;;
    -t) SECS=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
command -v openssl >/dev/null || die "openssl is missing (scripts/deps.sh)"
ho_find_bin
bench_init
stress_server ho --no-h3 --threads 2
echo "# handoff $HANDOFF; $PROCS x openssl s_time -new for $SECS s, $KA keep-alive clients"

# the established clients first, for the flood's duration plus a margin on both sides
python3 "$LOADCLIENT" keepalive 127.0.0.1 "$TLS_PORT" "$KA" $((SECS + 4)) / --pace=10 >"$BT/ka.log" 2>&1 &
KA_PID=$!
BENCH_PIDS+=("$KA_PID")
wait_line "$BT/ka.log" '^ready' 60 "$KA_PID" || echo "# keep-alive clients not ready: $(tail -3 "$BT/ka.log")"
h0=$(counters_field "$SRV_PID" "$BT/ho.log" handshakes_done)
t0=$(date +%s.%N)
pids=()
for ((i = 0; i < PROCS; i++)); do
    timeout -k 5 $((SECS + 60)) openssl s_time -connect "127.0.0.1:$TLS_PORT" -new -time "$SECS" \
        >"$BT/stime.$i.log" 2>&1 &
    pids+=("$!")
    BENCH_PIDS+=("$!")
done
for p in "${pids[@]}"; do wait "$p"; forget_pid "$p"; done
t1=$(date +%s.%N)
j=$(ho_counters "$SRV_PID" "$BT/ho.log")
h1=$(jfield "$j" handshakes_done)
hf=$(jfield "$j" handshakes_failed)
wait "$KA_PID"
forget_pid "$KA_PID"

n=$((h1 - h0))
rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
verdict hs_flood_rate "$n full handshakes in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s from $PROCS processes: $rate handshakes/s, bound >= $MIN_HS_S" \
    "$(le "$MIN_HS_S" "$rate")"
verdict hs_flood_failed "handshakes_failed ${hf:-?}, bound 0" "$([ "${hf:-1}" = 0 ] && echo 1 || echo 0)"
read -r _ _ reqs _ errs _ _ _ _ _ p50 _ p99 < <(grep '^keepalive ' "$BT/ka.log" || echo "x x 0 x 1 x x x x x nan x nan")
grep '^error' "$BT/ka.log" | head -3
verdict hs_established "$KA keep-alive clients during the flood: $reqs requests, $errs errors, p50 $p50 ms, p99 $p99 ms, bound 0 errors, p99 $EST_P99_MS ms" \
    "$([ "$reqs" -gt 0 ] && [ "$errs" = 0 ] && [ "$(le "$p99" "$EST_P99_MS")" = 1 ] && echo 1 || echo 0)"
stop_pid "$SRV_PID"
sanitizer_check "$BT/ho.log"
stress_end
