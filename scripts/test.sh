#!/usr/bin/env bash
# Builds twice (plain, and ASan+UBSan) and runs the whole ctest suite in both,
# then replays the fuzz corpora with the libFuzzer build. Needs nothing beside the
# repository: the test data is generated into each build tree (scripts/gen-testdata.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
rc=0
run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null || return 1
  cmake --build "$dir" -j"$JOBS" >/dev/null 2>"$dir.build.log" || { cat "$dir.build.log"; return 1; }
  (cd "$dir" && ctest --output-on-failure -j1)
}
echo "== plain build =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo || rc=1
echo "== ASan+UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DHO_SANITIZE=ON || rc=1
if [ -x scripts/fuzz-replay.sh ]; then
  echo "== fuzz corpus replay =="
  bash scripts/fuzz-replay.sh || rc=1
fi
exit $rc
