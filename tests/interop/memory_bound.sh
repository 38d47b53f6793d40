#!/usr/bin/env bash
# Bounded memory under hostile and idle clients (issue 12): the short run of
# stress/memory.sh against `handoff serve` — 60 TLS slow readers of a 4 MiB file, one
# connection with 400 pipelined GETs of a 16 KiB file read by no one, 1000 idle TLS
# connections and the resident size after they close. RSS bounds only (no CPU figures):
# each line of the stress script is one check here.
source "$(dirname "$0")/lib.sh"
need_tools python3 openssl curl

out=$T/stress.out
HANDOFF=$HO_BIN timeout -k 10 300 bash "$HO_SRC/stress/memory.sh" --short >"$out" 2>&1
rc=$?
n=0
while IFS= read -r line; do
    case $line in
    *": "*" ok") pass "$line"; n=$((n + 1)) ;;
    *": "*" FAIL") fail "$line"; n=$((n + 1)) ;;
    esac
done <"$out"
[ "$n" -ge 4 ] || { fail "stress/memory.sh --short printed $n of 4 checks (rc $rc)"; show "$out"; }
[ "$rc" = 0 ] || { [ "$FAIL" -gt 0 ] || fail "stress/memory.sh --short exited $rc"; show "$out"; }
finish
