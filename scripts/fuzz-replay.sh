#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/, -DHO_FUZZ=ON) and,
# for every fuzz/fuzz_<name>.c:
#   1. replays its seed corpus fuzz/corpus/fuzz_<name>/ (each input once:
#      a corpus directory with -runs=0);
#   2. fuzzes it for FUZZ_SECONDS (default 20) seconds, starting from the
#      corpus; new inputs go to a temporary directory, never the repo.
# A crash, sanitizer report (ASan, UBSan, LeakSanitizer), timeout or OOM fails
# the target; its reproducer is kept under build-fuzz/fuzz-artifacts/.
# Last line: "fuzz: N passed, N failed". Exit status non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=$(nproc)

targets=()
for src in fuzz/fuzz_*.c; do
  [ -e "$src" ] && targets+=("$(basename "$src" .c)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets under fuzz/"
  echo "fuzz: 0 passed, 0 failed"
  exit 1
fi

build_failed() {
  echo "fuzz: $1"
  echo "fuzz: 0 passed, ${#targets[@]} failed"
  exit 1
}
command -v clang >/dev/null || build_failed "clang not found (scripts/deps.sh installs it)"
CC=clang cmake -S . -B "$BUILD" -DHO_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null 2>"$BUILD.config.log" ||
  { cat "$BUILD.config.log"; build_failed "configure failed"; }
cmake --build "$BUILD" -j"$JOBS" >"$BUILD.build.log" 2>&1 ||
  { tail -n 40 "$BUILD.build.log"; build_failed "build failed (log: $BUILD.build.log)"; }

# UBSan is recoverable in the fuzz build: make every report fatal.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ho-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
artifacts=$BUILD/fuzz-artifacts
passed=0 failed=0
for t in "${targets[@]}"; do
  bin=$BUILD/fuzz/$t
  corpus=fuzz/corpus/$t
  if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
    echo "fuzz: $t: missing $([ -x "$bin" ] && echo "corpus $corpus" || echo "binary $bin")"
    failed=$((failed + 1))
    continue
  fi
  ok=1 why=""
  seeds=$(find "$corpus" -type f | wc -l)
  if ! "$bin" -runs=0 -timeout=10 -artifact_prefix="$tmp/$t-" "$corpus" >"$tmp/$t.replay.log" 2>&1; then
    ok=0 why="replay of $corpus failed"
    log=$tmp/$t.replay.log
  else
    mkdir -p "$tmp/$t.new"
    # The first directory receives new inputs; the seeds are read only.
    if ! "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$tmp/$t-" "$tmp/$t.new" "$corpus" >"$tmp/$t.fuzz.log" 2>&1; then
      ok=0 why="fuzzing for ${FUZZ_SECONDS}s failed"
    fi
    log=$tmp/$t.fuzz.log
  fi
  if [ $ok = 1 ]; then
    execs=$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log")
    rate=$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    echo "fuzz: $t: ok ($seeds seeds replayed; ${FUZZ_SECONDS}s: $execs execs, $rate/s, $cov)"
    passed=$((passed + 1))
  else
    echo "fuzz: $t: FAILED: $why"
    # The report: its first line, the top of its stack, its summary.
    grep -m1 -A6 -E 'runtime error|ERROR: |deadly signal|out-of-memory|timeout' "$log" | grep -v '^--$'
    grep -m1 -E '^SUMMARY' "$log"
    mkdir -p "$artifacts"
    for a in "$tmp/$t-"*; do
      [ -e "$a" ] || continue
      cp "$a" "$artifacts/" && echo "fuzz: $t: reproducer: $artifacts/$(basename "$a")" \
        "(run: UBSAN_OPTIONS=halt_on_error=1 $bin $artifacts/$(basename "$a"))"
    done
    cp "$log" "$artifacts/$t.log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
