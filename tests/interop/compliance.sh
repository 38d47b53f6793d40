#!/usr/bin/env bash
# docs/COMPLIANCE.md is what tests/interop/compliance_report.py generates from the RFC texts
# in docs/specs/ and the section citations in the sources: fails (with the difference) when
# the committed report is stale. Regenerate: python3 tests/interop/compliance_report.py --write
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools python3
src=$HO_SRC
if python3 "$src/tests/interop/compliance_report.py" --check >"$T/compliance.out" 2>&1; then
    pass "docs/COMPLIANCE.md is up to date"
else
    fail "docs/COMPLIANCE.md is stale or could not be generated"
    show "$T/compliance.out"
fi
# The report must list no applicable section that nothing cites or explains.
if grep -q '^\- Status: \*\*GAP\*\*' "$src/docs/COMPLIANCE.md"; then
    fail "docs/COMPLIANCE.md lists unexplained gaps"
    grep -B2 '^\- Status: \*\*GAP\*\*' "$src/docs/COMPLIANCE.md" | grep '^###' | head -20
else
    pass "no unexplained gaps"
fi
finish
