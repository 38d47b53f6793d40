#!/usr/bin/env bash
# Builds three times and runs: the whole ctest suite in a plain build and in an
# ASan+UBSan build (both with -Werror), the threaded tests (the offload pool, the
# multi-thread TCP and QUIC servers) in a ThreadSanitizer build, then replays the
# fuzz corpora with the libFuzzer build. Needs nothing beside the
# repository: the test data is generated into each build tree (scripts/gen-testdata.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
rc=0
# run_suite DIR CTEST_ARGS -- CMAKE_ARGS...
run_suite() {
  local dir=$1 ctest_args=$2; shift 2
  cmake -S . -B "$dir" -DHO_WERROR=ON "$@" >/dev/null || return 1
  cmake --build "$dir" -j"$JOBS" >/dev/null 2>"$dir.build.log" || { cat "$dir.build.log"; return 1; }
  # shellcheck disable=SC2086 # ctest_args is a list of words
  (cd "$dir" && ctest --output-on-failure -j1 $ctest_args)
}
# The tests that run threads: the pool, the TCP server's offload and shutdown, the
# multi-thread QUIC server.
TSAN_TESTS='^(test_offload|test_tls_async|test_tls_async_server|test_quic_async_server|test_tls_ticketkeys|interop_fleet_tickets|test_quic_offload|test_quic_steering|interop_offload|interop_shutdown|interop_quic_steering|interop_quic_offload|interop_handoff_self|test_metrics|interop_metrics|test_x509)$'

echo "== plain build =="
run_suite build "" -DCMAKE_BUILD_TYPE=RelWithDebInfo || rc=1
echo "== ASan+UBSan build =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan "" -DCMAKE_BUILD_TYPE=Debug -DHO_SANITIZE=ON || rc=1
echo "== ThreadSanitizer build (threaded tests) =="
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  run_suite build-tsan "-R $TSAN_TESTS" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHO_TSAN=ON || rc=1
if [ -x scripts/fuzz-replay.sh ]; then
  echo "== fuzz corpus replay =="
  bash scripts/fuzz-replay.sh || rc=1
fi
exit $rc
