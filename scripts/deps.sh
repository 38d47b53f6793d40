#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing.
# Runs as root on a fresh Debian 12 machine (or with sudo available).
set -euo pipefail
# Build: compilers, cmake, libcrypto. Peers for the tests and benchmarks:
# openssl, gnutls-bin, curl, wrk, h2load (nghttp2-client), nginx, tshark,
# chromium, ngtcp2 (gtlsclient, gtlsserver). kTLS VM test: qemu, busybox, cpio.
# HTTP/3: libnghttp3-dev. Profiling (docs/BENCHMARKS.md): linux-perf, valgrind.
pkgs=(build-essential cmake clang libclang-rt-14-dev libssl-dev openssl gnutls-bin tshark
      pkg-config curl wrk nghttp2-client nginx chromium python3 qemu-system-x86
      busybox-static cpio ngtcp2-client ngtcp2-server libnghttp3-dev linux-perf valgrind)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}"
# tshark asks whether non-root users may capture; answer no, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections || true
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
