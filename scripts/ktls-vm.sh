#!/usr/bin/env bash
# Runs the kernel TLS tests in a VM: Debian's own kernel under qemu with
# software emulation (TCG), with the tls module, since the build machine's
# kernel may have no kTLS. Recipe and pitfalls: docs/KTLS-VM.md.
#
#   scripts/ktls-vm.sh
#
#  1. builds static binaries (cmake -DHO_STATIC=ON, in build-static);
#  2. downloads the linux-image package of Debian's current kernel ABI
#     (apt-get download) into the cache, once, and extracts the kernel and
#     the modules kTLS needs;
#  3. builds an initramfs: busybox, the modules, our binaries, openssl with
#     its shared libraries, a certificate, /init and the test steps
#     (scripts/ktls-vm-steps.sh);
#  4. boots qemu -accel tcg; the steps report on the serial console and the
#     result comes back through the isa-debug-exit device.
#
# Exit status 0 when every check in the VM passed. Output: the steps' lines
# (PASS/FAIL, tls_stat before/after), then "CHECKS passed=N failed=M",
# "RESULT=<rc>" and the VM's run time.
#
# Environment:
#   HO_KTLS_CACHE       kernel cache (default ~/.cache/handoff-ktls)
#   HO_STATIC_BUILD     static build directory (default <repo>/build-static)
#   HO_KTLS_BINS        more binaries to ship, "cmake-target:path-in-build"
#                       separated by spaces (e.g. "handoff-bin:handoff" for
#                       the `handoff serve` steps)
#   HO_KTLS_VM_TIMEOUT  seconds the VM may run (default 240)
#   HO_KTLS_KEEP        a directory to keep the initramfs and console log in
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${HO_KTLS_CACHE:-${HOME:-/tmp}/.cache/handoff-ktls}
BUILD=${HO_STATIC_BUILD:-$SRC/build-static}
VM_TIMEOUT=${HO_KTLS_VM_TIMEOUT:-240}

# Shipped as /bin/<basename of the path>: "cmake-target:path under the build dir".
VM_BINS=(
    test_ktls:tests/test_ktls
    ktls_echo_server:tests/ktls/ktls_echo_server
)
read -r -a extra_bins <<<"${HO_KTLS_BINS:-}"
VM_BINS+=("${extra_bins[@]+"${extra_bins[@]}"}")

# Modules to load, by name; their dependencies (modinfo "depends=") are
# added in front. tls.ko declares none, yet TLS_TX fails with ENOENT
# without the AEADs: gcm(aes) needs gcm, ctr and ghash (AES itself is built
# in), rfc7539(chacha20,poly1305) needs chacha20poly1305 and the chacha20
# and poly1305 implementations.
VM_MODULES=(gf128mul ghash-generic ctr gcm chacha_generic poly1305_generic chacha20poly1305 tls)

die() {
    echo "ktls-vm: $*" >&2
    exit 1
}
note() { echo "ktls-vm: $*"; }

# ---- tools -------------------------------------------------------------------
missing=()
for tool in qemu-system-x86_64 busybox cpio gzip dpkg-deb apt-get apt-cache cmake openssl strip flock timeout file ldd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    die "missing tools: ${missing[*]} (Debian: scripts/deps.sh installs qemu-system-x86 busybox-static cpio)"
fi
# The initramfs has no shared libraries for busybox: it must be the static one.
BUSYBOX=$(command -v busybox)
if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
    if [ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked'; then
        BUSYBOX=/bin/busybox
    else
        die "$BUSYBOX is not statically linked (install busybox-static)"
    fi
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one run at a time per cache: the download, extraction and build are shared

# ---- static binaries ---------------------------------------------------------
targets=()
for b in "${VM_BINS[@]}"; do targets+=("${b%%:*}"); done
note "building ${targets[*]} (static, $BUILD)"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHO_STATIC=ON >"$CACHE/build.log" 2>&1 ||
    { tail -n 30 "$CACHE/build.log"; die "cmake configure failed"; }
# libcrypto.a's dlopen/getaddrinfo make the linker warn about static glibc;
# those paths are not used.
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" >>"$CACHE/build.log" 2>&1 ||
    { tail -n 30 "$CACHE/build.log"; die "build failed"; }

# ---- kernel ------------------------------------------------------------------
PKG=${HO_KTLS_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')}
if [ -z "$PKG" ]; then
    # No package index: use what is cached.
    PKG=$(find "$CACHE" -maxdepth 1 -name 'linux-image-[0-9]*_amd64.deb' -printf '%f\n' | sort | tail -n 1)
    PKG=${PKG%%_*}
    [ -n "$PKG" ] || die "cannot resolve the kernel package (apt-cache depends linux-image-amd64) and none is cached"
fi
KVER=${PKG#linux-image-}
KDIR=$CACHE/$KVER
if [ ! -f "$KDIR/.complete" ]; then
    deb=$(find "$CACHE" -maxdepth 1 -name "${PKG}_*_amd64.deb" | head -n 1)
    if [ -z "$deb" ]; then
        note "downloading $PKG into $CACHE"
        (cd "$CACHE" && apt-get download "$PKG" >"$CACHE/download.log" 2>&1) ||
            { cat "$CACHE/download.log"; die "apt-get download $PKG failed"; }
        deb=$(find "$CACHE" -maxdepth 1 -name "${PKG}_*_amd64.deb" | head -n 1)
        [ -n "$deb" ] || die "apt-get download left no ${PKG}_*.deb in $CACHE"
    fi
    note "extracting the kernel and crypto/tls modules of $KVER"
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    m=./lib/modules/$KVER/kernel
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$KDIR" "./boot/vmlinuz-$KVER" "$m/crypto" "$m/lib/crypto" \
        "$m/net/tls" "$m/arch/x86/crypto" || die "extracting $deb failed"
    touch "$KDIR/.complete"
fi
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER/kernel

# module_file NAME: the .ko of a module ('-' and '_' are the same in names).
module_file() {
    local alt=${1//-/_} f
    f=$(find "$MODDIR" \( -name "$1.ko" -o -name "$alt.ko" -o -name "${1//_/-}.ko" \) | head -n 1)
    [ -n "$f" ] || die "module $1 not found in $PKG"
    echo "$f"
}
# Dependency order: each module after what it depends on.
declare -A mod_seen=()
mod_order=()
add_module() {
    local name=$1 f deps d
    [ -n "${mod_seen[$name]:-}" ] && return 0
    mod_seen[$name]=1
    f=$(module_file "$name")
    deps=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n 1)
    for d in ${deps//,/ }; do add_module "$d"; done
    mod_order+=("$f")
}
for name in "${VM_MODULES[@]}"; do add_module "$name"; done

# ---- initramfs ---------------------------------------------------------------
if [ -n "${HO_KTLS_KEEP:-}" ]; then
    WORK=$HO_KTLS_KEEP
    rm -rf "$WORK"
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktls-vm.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc/ho,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
# Output before devtmpfs is mounted needs a console node (mknod needs root;
# /init reopens /dev/console after mounting devtmpfs either way).
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || note "no mknod (not root): early console output is lost"

: >"$ROOT/modules.order"
for f in "${mod_order[@]}"; do
    cp "$f" "$ROOT/lib/modules/"
    basename "$f" >>"$ROOT/modules.order"
done

for b in "${VM_BINS[@]}"; do
    path=$BUILD/${b#*:}
    [ -x "$path" ] || die "built binary missing: $path"
    file -L "$path" | grep -q 'statically linked' || die "$path is not statically linked"
    strip -o "$ROOT/bin/$(basename "$path")" "$path"
done

# openssl s_client as the peer: the dynamically linked /usr/bin/openssl with
# its libraries and loader at their own paths.
OPENSSL=$(command -v openssl)
cp -L "$OPENSSL" "$ROOT/usr/bin/openssl"
for lib in $(ldd "$OPENSSL" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
if [ -r /usr/lib/ssl/openssl.cnf ]; then
    mkdir -p "$ROOT/usr/lib/ssl"
    cp -L /usr/lib/ssl/openssl.cnf "$ROOT/usr/lib/ssl/"
fi

# ECDSA P-256 certificate for localhost / 127.0.0.1 (s_client verifies it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ROOT/etc/ho/key.pem" \
    -out "$ROOT/etc/ho/cert.pem" -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$WORK/cert.log" 2>&1 ||
    { cat "$WORK/cert.log"; die "openssl req failed"; }

cp "$SRC/scripts/ktls-vm-steps.sh" "$ROOT/ktls-steps.sh"
cat >"$ROOT/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
echo "=== ktls-vm: $(uname -sr), $(nproc) CPU"
ip link set lo up
rc=0
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m" || { echo "FAIL insmod $m"; rc=1; }
done
. /ktls-steps.sh
for vm_step in $STEPS; do
    echo "=== step $vm_step"
    vm_t0=$(cut -d' ' -f1 /proc/uptime)
    "step_$vm_step"
    echo "=== step $vm_step: $(awk -v a="$vm_t0" '{ printf "%.1f", $1 - a }' /proc/uptime)s"
done
[ "$FAIL" -eq 0 ] || rc=1
echo "=== end (uptime $(cut -d' ' -f1 /proc/uptime)s)"
echo "CHECKS passed=$PASS failed=$FAIL"
echo "RESULT=$rc"
# qemu's isa-debug-exit device: exit status (rc << 1) | 1.
printf "\\$(printf %03o "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF
chmod 755 "$ROOT/init"

(cd "$ROOT" && find . | cpio -o -H newc --quiet) | gzip -1 >"$WORK/initrd.cpio.gz"
note "kernel $KVER, modules: $(tr '\n' ' ' <"$ROOT/modules.order")"
shipped=()
for b in "${VM_BINS[@]}"; do shipped+=("$(basename "${b#*:}")"); done
note "initramfs $(du -h "$WORK/initrd.cpio.gz" | cut -f1), binaries: ${shipped[*]} openssl"

# ---- boot --------------------------------------------------------------------
# -accel tcg, never KVM here: /dev/kvm on these machines is a nested,
# paravirtual KVM (kvm_pvm) under which the stock kernel hangs.
LOG=$WORK/console.log
note "booting qemu (TCG), up to ${VM_TIMEOUT}s"
start=$(date +%s.%N)
set +e
timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -m 512 -nic none -no-reboot -nographic \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$VMLINUZ" -initrd "$WORK/initrd.cpio.gz" \
    -append 'console=ttyS0 quiet panic=-1' </dev/null >"$LOG" 2>&1
status=$?
set -e
end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

# The console log holds CRs and escape codes: print the steps' part clean.
tr -d '\r' <"$LOG" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' >"$WORK/console.txt"
sed -n '/^=== ktls-vm:/,$p' "$WORK/console.txt"
result=$(grep -a -o '^RESULT=[0-9]*' "$WORK/console.txt" | tail -n 1 | cut -d= -f2 || true)
note "VM ran ${elapsed}s (qemu status $status)"
if [ "$status" -eq 124 ]; then
    tail -n 40 "$WORK/console.txt"
    die "the VM did not finish within ${VM_TIMEOUT}s"
fi
if [ -z "$result" ]; then
    tail -n 40 "$WORK/console.txt"
    die "no RESULT line on the console (qemu status $status: kernel panic or early failure?)"
fi
# Both channels must agree: the console line and the exit device.
if [ "$result" != 0 ] || [ "$status" -ne 1 ]; then
    die "tests in the VM failed (RESULT=$result, qemu status $status)"
fi
note "all checks in the VM passed"
