#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing, one line per step.
# Runs as root on a fresh Debian 12 machine (or with sudo available).
#   scripts/deps.sh          what building and running need (`make build`, `make run`)
#   scripts/deps.sh --test   that, plus the peers and tools the tests use (`make test`)
set -euo pipefail
# Build and run: compiler, cmake, libcrypto, nghttp3 (HTTP/3 framing and QPACK),
# openssl (the run script's certificate).
run_pkgs=(build-essential cmake pkg-config libssl-dev openssl libnghttp3-dev)
# Tests: clang and its sanitizer runtime (fuzz build), test data tools (python3, brotli),
# peers (openssl, gnutls-bin, curl, wrk, h2load, nginx, chromium, ngtcp2's gtlsclient and
# gtlsserver), man-db (the install test renders handoff(1)), tshark and python3-hpack for the key-log test (QPACK
# Huffman strings), gnuplot-nox for the charts of bench/charts.sh,
# qemu/busybox/cpio for the kTLS VM test, the profilers behind docs/BENCHMARKS.md
# (linux-perf, valgrind), prometheus (the server and promtool) for the metrics test, and
# haproxy (the load balancer in front of two servers in fleet_tickets.sh).
test_pkgs=(clang libclang-rt-14-dev python3 brotli gnutls-bin tshark curl wrk nghttp2-client
           nginx chromium qemu-system-x86 busybox-static cpio ngtcp2-client ngtcp2-server
           iproute2 procps man-db linux-perf valgrind prometheus python3-hpack gnuplot-nox haproxy)
pkgs=("${run_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
log=$(mktemp "${TMPDIR:-/tmp}/ho-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
step() { # step WHAT CMD...: one line, the command's output only on failure
  local what=$1; shift
  printf 'deps: %s ... ' "$what"
  if "$@" >"$log" 2>&1; then echo ok; else echo FAILED; tail -n 30 "$log"; exit 1; fi
}
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
export DEBIAN_FRONTEND=noninteractive
step "apt-get update" $SUDO apt-get update -qq
step "installing ${#missing[@]} packages (${missing[*]})" \
  $SUDO apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"
