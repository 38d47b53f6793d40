#!/usr/bin/env bash
# Builds twice (plain, and ASan+UBSan) and runs the whole ctest suite in both,
# then replays the fuzz corpora with the libFuzzer build.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
# Tests read the HttpArena data and certificates from the shared directory beside
# the repository (../shared), or from $HO_SHARED. Without it they cannot run.
SHARED=${HO_SHARED:-$(pwd)/../shared}
if [ ! -r "$SHARED/arena/dataset.json" ] || [ ! -r "$SHARED/arena/certs/server.crt" ]; then
  echo "test.sh: the shared data directory is missing: no $SHARED/arena/dataset.json." >&2
  echo "  Clone the repository beside it (…/shared and …/<repo>), or set HO_SHARED=/path/to/shared." >&2
  exit 1
fi
export HO_SHARED=$SHARED
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
