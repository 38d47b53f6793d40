#!/usr/bin/env bash
# The stress suite (docs/RELIABILITY.md, `make stress`): every script of stress/ against
# `handoff serve` on loopback, one after the other, then a summary.
#
#   stress/run.sh [--short] [SCRIPT...]     (SCRIPT: memory quic_idle slowloris handshake_flood
#                                             initial_flood sigterm soak; default all)
#
# Each script prints one "name: figure ... bound ... ok|FAIL" line per check and exits 1 on
# any FAIL; run.sh prints them all again at the end and exits 1 if any script failed.
# Environment: HANDOFF (the binary), passed on with the scripts' own (see each header).
set -u
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHORT=()
ALL=(memory quic_idle slowloris handshake_flood initial_flood sigterm soak)
LIST=()
for a in "$@"; do
    case $a in
    --short) SHORT=(--short) ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) LIST+=("$a") ;;
    esac
done
[ "${#LIST[@]}" = 0 ] && LIST=("${ALL[@]}")
OUT=$(mktemp "${TMPDIR:-/tmp}/handoff-stress.XXXXXX")
trap 'rm -f "$OUT"' EXIT
failed=()
for s in "${LIST[@]}"; do
    [ -f "$DIR/$s.sh" ] || { echo "stress/run.sh: no stress/$s.sh" >&2; exit 2; }
    echo "=== $s ($(date -u +%T))"
    t0=$(date +%s)
    bash "$DIR/$s.sh" "${SHORT[@]}" 2>&1 | tee -a "$OUT"
    rc=${PIPESTATUS[0]}
    echo "=== $s: exit $rc, $(($(date +%s) - t0)) s"
    [ "$rc" = 0 ] || failed+=("$s")
done
echo
echo "=== summary: $(grep -cE ': .* ok$' "$OUT") ok, $(grep -cE ': .* FAIL$' "$OUT") FAIL"
grep -E ': .* (ok|FAIL)$' "$OUT"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "=== failed: ${failed[*]}"
    exit 1
fi
