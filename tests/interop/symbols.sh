#!/usr/bin/env bash
# The library exports its API and nothing else (issue 11, item 4):
#  - every symbol libhandoff.so exports starts with ho_ (the library is built with
#    -fvisibility=hidden; HO_API in include/handoff marks the API);
#  - every function the public headers declare HO_API is exported (and nothing more);
#  - every global symbol of libhandoff.a carries a module prefix (ho_ for the API, tls_, io_,
#    quic_, http_, crypto_, offload_, base_ for internals), so a static link cannot collide
#    with an application's own names.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools nm
BUILD=${HO_BUILD:-$HO_SRC/build}
SO=$BUILD/libhandoff.so
AR=$BUILD/libhandoff.a
for f in "$SO" "$AR"; do
    [ -e "$f" ] || { fail "$f is not built"; finish; }
done

# A sanitizer build adds its own symbols (ASan's __odr_asan.* ODR indicators): not ours.
SANITIZER_SYMS='^__(odr_asan|asan|ubsan|tsan|sanitizer)'
nm -D --defined-only "$SO" | awk '{print $3}' | grep -Ev "$SANITIZER_SYMS" | sort -u >"$T/exported"
grep -v '^ho_' "$T/exported" >"$T/bad-exported"
n=$(wc -l <"$T/exported")
if [ "$n" -gt 100 ] && [ ! -s "$T/bad-exported" ]; then
    pass "libhandoff.so exports $n symbols, all ho_"
else
    fail "libhandoff.so exports $(wc -l <"$T/bad-exported") symbols without ho_ (of $n):"
    head -n 40 "$T/bad-exported" | sed 's/^/    | /'
fi

# Functions declared HO_API (the declaration's first line carries the name) and exported objects
# (arrays too: ho_hist_bounds_ns[HO_HIST_BOUNDS]).
grep -hoE '^HO_API [^;]*' "$HO_SRC"/include/handoff/*.h | grep -oE '\bho_[a-z0-9_]+\(' | tr -d '(' |
    sort -u >"$T/declared"
grep -hoE '^HO_API extern [^;]*' "$HO_SRC"/include/handoff/*.h | grep -oE '\bho_[a-z0-9_]+(\[[A-Za-z0-9_ +]*\])?;?$' |
    sed 's/\[.*//; s/;$//' |
    sort -u >>"$T/declared"
sort -u -o "$T/declared" "$T/declared"
comm -23 "$T/declared" "$T/exported" >"$T/missing"
comm -13 "$T/declared" "$T/exported" >"$T/extra"
if [ ! -s "$T/missing" ]; then
    pass "every HO_API declaration ($(wc -l <"$T/declared")) is exported"
else
    fail "declared HO_API but not exported:"
    sed 's/^/    | /' "$T/missing"
fi
if [ ! -s "$T/extra" ]; then
    pass "nothing is exported that the headers do not declare HO_API"
else
    fail "exported without an HO_API declaration:"
    sed 's/^/    | /' "$T/extra"
fi

nm -g --defined-only "$AR" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -Ev "$SANITIZER_SYMS" | sort -u >"$T/globals"
grep -vE '^(ho|tls|io|quic|http|crypto|offload|base)_' "$T/globals" >"$T/bad-globals"
if [ -s "$T/globals" ] && [ ! -s "$T/bad-globals" ]; then
    pass "libhandoff.a: all $(wc -l <"$T/globals") global symbols carry a module prefix"
else
    fail "libhandoff.a: global symbols without a module prefix:"
    head -n 40 "$T/bad-globals" | sed 's/^/    | /'
fi
finish
