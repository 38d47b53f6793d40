#!/usr/bin/env bash
# Runs `make test` RUNS times in a row (default 3) while a CPU hog keeps every core
# busy: one busy loop per core (`nproc`), at the same priority as the tests (nice 0),
# started before the first run and stopped after the last. A test that depends on
# timing rather than on polling for what it awaits shows up here.
# Usage: scripts/test-loaded.sh [RUNS]   (or `make test-loaded RUNS=3`)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
ncpu=$(nproc)
hogs=()
stop_hogs() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; wait 2>/dev/null; }
trap stop_hogs EXIT
for _ in $(seq "$ncpu"); do
  bash -c 'while :; do :; done' &
  hogs+=($!)
done
echo "== load: $ncpu busy loops (pids ${hogs[*]}) at nice 0 =="
rc=0
for i in $(seq "$runs"); do
  start=$(date +%s)
  echo "== loaded run $i of $runs: $(date -u +%H:%M:%S) =="
  if make test; then res=passed; else res=FAILED; rc=1; fi
  echo "== loaded run $i of $runs: $res in $(( $(date +%s) - start )) s (load average: $(cut -d' ' -f1-3 /proc/loadavg)) =="
done
exit $rc
