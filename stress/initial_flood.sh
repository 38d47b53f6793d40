#!/usr/bin/env bash
# A flood of forged QUIC Initials (issue 12, item 7), through bench/quic_initial_flood.sh:
# forged Initials (random protected part, no key opens them) against replays of a real
# client Initial, fresh server per round, CPU per datagram received from /proc and the
# server's counters.
#
#   stress/initial_flood.sh [--short] [-n N] [-r ROUNDS]
#
# Checks (one "name: figure ... bound ... ok|FAIL" line each; exit 1 on any FAIL):
#   initial_conns      connections created by forged Initials = 0
#   initial_cpu        median CPU per forged datagram <= RATIO x per replayed one (the issue's
#                      goal is 1.0; measured 1.04 at its best, so the regression bound is 1.25:
#                      before the fix a forged Initial cost 3x)
# --short: 10000 datagrams per phase, 3 rounds; default 50000, 3. Environment: HANDOFF,
# RATIO (1.25; the ctest case passes 2.0: a phase of ~5000 datagrams is ~35 ms of CPU).
set -u
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N=50000 ROUNDS=3
RATIO=${RATIO:-1.25}
while [ $# -gt 0 ]; do
    case $1 in
    --short) N=10000 ;;
    -n) N=$2; shift ;;
    -r) ROUNDS=$2; shift ;;
    *) die "unknown argument $1" ;;
    esac
    shift
done
ho_find_bin
bench_init
echo "# handoff $HANDOFF; bench/quic_initial_flood.sh -n $N -r $ROUNDS"
HANDOFF=$HANDOFF bounded 600 bash "$REPO/bench/quic_initial_flood.sh" -n "$N" -r "$ROUNDS" >"$BT/flood.log" 2>&1
rc=$?
sed 's/^/#   /' "$BT/flood.log"
read -r fc pc < <(sed -n 's/^connections made: by forged Initials \([0-9]*\), by replays \([0-9]*\)$/\1 \2/p' "$BT/flood.log")
read -r mf mp ratio < <(sed -n 's/^median µs\/datagram: forged \([0-9.]*\), replay \([0-9.]*\); ratio forged\/replay \([0-9.]*\)$/\1 \2 \3/p' "$BT/flood.log")
if [ "$rc" != 0 ] || [ -z "${fc:-}" ] || [ -z "${ratio:-}" ]; then
    verdict initial_flood "bench/quic_initial_flood.sh failed (rc $rc)" 0
else
    verdict initial_conns "$((N * ROUNDS)) forged Initials made $fc connections (replays made $pc), bound 0" \
        "$([ "$fc" = 0 ] && echo 1 || echo 0)"
    verdict initial_cpu "CPU per datagram: forged $mf µs, replayed $mp µs, ratio $ratio, bound $RATIO" \
        "$(le "$ratio" "$RATIO")"
fi
stress_end
