#!/usr/bin/env bash
# HTTP/3's field-section limit refuses the request, not the connection (issue 12 item 5):
# `handoff serve` announces SETTINGS_MAX_FIELD_SECTION_SIZE 16384 (RFC 9114 §4.2.2).
# `handoff get --h3 -H 'x-big: ...'` (our QUIC client, nghttp3's QPACK encoder) with
#  - an 8,000-byte value: 200;
#  - a 20,000-byte value: 431 Request Header Fields Too Large;
#  - a 100,000-byte value (a HEADERS frame over 32 KiB): the stream is reset with
#    H3_REQUEST_REJECTED (0x10b), and the connection is not closed;
#  - a second URL on the same connection as the oversized one is answered (200).
# The server keeps serving and counts no connection closed with an error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

serve3 h3limit --threads 1 || { fail "server did not start"; finish; }
URL="https://127.0.0.1:$HTTPS_PORT"

# big N: a value of N 'a's.
big() { head -c "$1" /dev/zero | tr '\0' a; }

# h3get NAME ARGS...: get --h3 into $T/NAME.out / .err; exit status in RC.
h3get() {
    local name=$1
    shift
    timeout 30 "$HO_BIN" get "$@" --h3 --insecure >"$T/$name.out" 2>"$T/$name.err"
    RC=$?
}

h3get small "$URL/baseline2?a=1&b=2" -H "x-big: $(big 8000)"
if [ "$RC" = 0 ] && [ "$(cat "$T/small.out")" = 3 ]; then
    pass "8,000-byte field: 200"
else
    fail "8,000-byte field: exit $RC, body '$(head -c 80 "$T/small.out")'"
    show "$T/small.err"
fi

h3get mid "$URL/baseline2?a=1&b=2" -H "x-big: $(big 20000)"
check "20,000-byte field: 431" "$T/mid.err" "status 431"
check "20,000-byte field: the 431 body" "$T/mid.out" "431 Request Header Fields Too Large"

h3get huge "$URL/baseline2?a=1&b=2" -H "x-big: $(big 100000)"
check "100,000-byte field: stream reset with H3_REQUEST_REJECTED" "$T/huge.err" "reset (code 0x10b)"
check_not "100,000-byte field: the connection was not closed" "$T/huge.err" "GENERAL_PROTOCOL" "server closed"

# Two requests on one connection, the header on both: each refused alone (431), the connection
# carries both answers.
h3get two "$URL/baseline2?a=1&b=2" "$URL/baseline2?a=2&b=2" -H "x-big: $(big 20000)"
n=$(grep -c "status 431" "$T/two.err")
verdict "two oversized requests on one connection: both 431 ($n)" "two oversized requests: $n 431s" test "$n" = 2

# Still serving, with no connection closed on an error.
h3get after "$URL/baseline2?a=40&b=2"
verdict "a request after them: 200" "a request after them: exit $RC" test "$RC" = 0 -a "$(cat "$T/after.out")" = 42
counters "$T/c.json" || fail "no counters"
expect_counter "$T/c.json" h3_connections -eq 5
end_server h3limit
finish
