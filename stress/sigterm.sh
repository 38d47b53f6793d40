#!/usr/bin/env bash
# SIGTERM under load (issue 12, item 7): C keep-alive TLS clients (stress/loadclient.py, half
# on / and half on a 256 KiB static file, one request every 5 ms each) are running when the
# server gets SIGTERM.
#
#   stress/sigterm.sh [--short] [-c CONNS]
#
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   sigterm_exit       the server exits with status 0 within GRACE_S (its shutdown grace is 5 s,
#                      the bound adds slack for a loaded machine)
#   sigterm_responses  no response truncated: each one is complete, or the connection was
#                      closed before its first byte; no other error (status, connect)
# --short: 20 connections; default 100. Environment: HANDOFF, KEEP=1, GRACE_S (15).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CONNS=100
GRACE_S=${GRACE_S:-15}
while [ $# -gt 0 ]; do
    case $1 in
    --short) CONNS=20 ;;
    -c) CONNS=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
ho_find_bin
bench_init
mkdir -p "$BT/static"
head -c 262144 /dev/urandom >"$BT/static/f256k.bin"
stress_server ho --no-h3 --threads 2 --static "$BT/static"
echo "# handoff $HANDOFF; $CONNS keep-alive TLS clients, SIGTERM while they run"
half=$((CONNS / 2))
python3 "$LOADCLIENT" keepalive 127.0.0.1 "$TLS_PORT" "$half" 120 / --until-closed --pace=5 >"$BT/ka1.log" 2>&1 &
K1=$!
python3 "$LOADCLIENT" keepalive 127.0.0.1 "$TLS_PORT" $((CONNS - half)) 120 /static/f256k.bin --until-closed --pace=5 >"$BT/ka2.log" 2>&1 &
K2=$!
BENCH_PIDS+=("$K1" "$K2")
wait_line "$BT/ka1.log" '^ready' 120 "$K1" && wait_line "$BT/ka2.log" '^ready' 120 "$K2" ||
    echo "# clients not ready: $(tail -2 "$BT/ka1.log" "$BT/ka2.log")"
r0=$(counters_field "$SRV_PID" "$BT/ho.log" requests)
t0=$(date +%s.%N)
kill -TERM "$SRV_PID"
# bounded wait for the exit (GRACE_S + 10 s, then SIGKILL)
rc=timeout
for ((i = 0; i < (GRACE_S + 10) * 20; i++)); do
    if ! kill -0 "$SRV_PID" 2>/dev/null; then
        wait "$SRV_PID"
        rc=$?
        break
    fi
    sleep 0.05
done
t1=$(date +%s.%N)
[ "$rc" = timeout ] && stop_pid "$SRV_PID"
forget_pid "$SRV_PID"
wait "$K1" "$K2" 2>/dev/null
forget_pid "$K1"
forget_pid "$K2"
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
verdict sigterm_exit "server exit status $rc, $secs s after SIGTERM ($r0 requests served before it), bound 0 within $GRACE_S s" \
    "$([ "$rc" = 0 ] && [ "$(le "$secs" "$GRACE_S")" = 1 ] && echo 1 || echo 0)"
req=0 err=0 tr=0 cl=0
for f in "$BT/ka1.log" "$BT/ka2.log"; do
    grep '^error' "$f" | head -3
    read -r _ _ a _ b _ c _ d _ < <(grep '^keepalive ' "$f" || echo "x x 0 x 1 x 0 x 0 x")
    req=$((req + a)) err=$((err + b)) tr=$((tr + c)) cl=$((cl + d))
done
verdict sigterm_responses "$req complete responses, $tr truncated, $cl connections closed between responses, $((err - tr)) other errors; bound 0 truncated, 0 errors" \
    "$([ "$req" -gt 0 ] && [ "$err" = 0 ] && echo 1 || echo 0)"
sanitizer_check "$BT/ho.log"
stress_end
