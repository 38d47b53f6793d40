#!/usr/bin/env bash
# Kernel TLS, tested where the kernel has it: scripts/ktls-vm.sh boots Debian's own kernel
# under qemu (TCG) with the tls module and runs, inside: test_ktls (kTLS engaged for every
# suite, kernel against our userspace records, KeyUpdate), ktls_echo_server against
# `openssl s_client -tls1_3` for each suite with /proc/net/tls_stat before/after, and a
# KeyUpdate that Debian 12's kernel cannot follow, and `handoff serve --ktls on|off` (every
# suite, responses byte-identical). Each check in the VM becomes one here.
# The build machine's kernel has no kTLS, so this never skips: missing qemu or busybox fail.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

missing=0
for t in qemu-system-x86_64 busybox cpio timeout; do
    if ! command -v "$t" >/dev/null 2>&1; then
        fail "required tool '$t' is not installed (scripts/deps.sh installs qemu-system-x86 busybox-static cpio)"
        missing=1
    fi
done
[ "$missing" -eq 0 ] || finish

log=$T/ktls-vm.log
start=$(date +%s)
# The ctest limit is 600 s. The VM is emulated (TCG), so on a machine whose cores
# are busy it runs many times slower than on a quiet one (a loaded `make test`
# overran a 150 s VM limit): the limits are safety nets, sized for that.
HO_KTLS_BINS="handoff-bin:handoff" HO_KTLS_VM_TIMEOUT=420 timeout 570 bash "$HO_SRC/scripts/ktls-vm.sh" >"$log" 2>&1
rc=$?
say "    scripts/ktls-vm.sh: exit $rc after $(($(date +%s) - start)) s"
sed 's/^/    | /' "$log"

# One check per check in the VM.
while IFS= read -r line; do
    case $line in
        "PASS "*) pass "vm: ${line#PASS }" ;;
        "FAIL "*) fail "vm: ${line#FAIL }" ;;
    esac
done < <(grep -a -E '^(PASS|FAIL) ' "$log")

# Steps that must have run (a VM that stops early fails here, not silently).
check "vm: test_ktls engaged kTLS for all suites" "$log" "PASS test_ktls: kTLS both ends, all suites" \
    "PASS test_ktls: kTLS against userspace records, all suites"
for suite in "${SUITES[@]}"; do
    check "vm: openssl s_client $suite against kTLS" "$log" \
        "PASS echo server $suite: kTLS on, request, close_notify both ways" "PASS echo server $suite: tls_stat"
done
check "vm: KeyUpdate handled" "$log" "PASS key update: "
check "vm: handoff serve with kTLS, byte-identical to userspace" "$log" \
    "PASS serve --ktls on: tls_stat" "PASS serve --ktls on: server counted kTLS engaged" \
    "PASS serve: all 12 responses byte-identical with kTLS and userspace records"
check "vm: result line" "$log" "RESULT=0" "CHECKS passed="
if [ "$rc" -eq 0 ]; then
    pass "scripts/ktls-vm.sh succeeded"
else
    fail "scripts/ktls-vm.sh exited $rc"
fi
finish
