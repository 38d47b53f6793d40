#!/usr/bin/env bash
# examples/echo_server and examples/echo_client (the public-API QUIC examples): a short
# string and a 1 MB file through stdin come back byte-identical, a DATAGRAM frame comes back
# as one (RFC 9221); a certificate the client
# does not trust, and a closed port, make the client fail with a message and exit 1.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EX=${HO_BUILD:-$HO_SRC/build}/examples
SERVER=$EX/echo_server
CLIENT=$EX/echo_client
for b in "$SERVER" "$CLIENT"; do
    if [ ! -x "$b" ]; then
        fail "$b is not built"
        finish
    fi
done
need_tools cmp head
gen_ec_cert
gen_cert other other.example "DNS:other.example"

# The server picks its UDP port (0) and prints it.
start_echo "$T/server.log" "$SERVER" 0 "$T/ec.crt" "$T/ec.key"
SRV=$ECHO_PID
if [ -z "$EPORT" ]; then
    fail "echo_server did not start"
    show "$T/server.log"
    finish
fi
pass "echo_server listens on UDP port $EPORT"

# 1. A short string as the argument.
msg="hello, QUIC echo"
timeout 30 "$CLIENT" --cafile "$T/ec.crt" 127.0.0.1 "$EPORT" "$msg" >"$T/short.out" 2>"$T/short.err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$T/short.out")" = "$msg" ]; then
    pass "short string echoed (exit 0, certificate verified)"
else
    fail "short string: exit $rc, got '$(head -c 200 "$T/short.out")'"
    show "$T/short.err" "$T/server.log"
fi

# 2. 1 MB of random bytes through stdin (more than one send buffer's worth of flow credit).
head -c 1000000 /dev/urandom >"$T/big.in"
timeout 60 "$CLIENT" --cafile "$T/ec.crt" 127.0.0.1 "$EPORT" <"$T/big.in" >"$T/big.out" 2>"$T/big.err"
rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$T/big.in" "$T/big.out"; then
    pass "1 MB through stdin echoed byte-identical (exit 0)"
else
    fail "1 MB: exit $rc, $(wc -c <"$T/big.out") bytes back, $(cmp "$T/big.in" "$T/big.out" 2>&1 | head -1)"
    show "$T/big.err" "$T/server.log"
fi

# 3. An empty stdin: an empty echo, exit 0.
timeout 30 "$CLIENT" --cafile "$T/ec.crt" 127.0.0.1 "$EPORT" </dev/null >"$T/empty.out" 2>"$T/empty.err"
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$T/empty.out" ]; then
    pass "empty message: empty echo, exit 0"
else
    fail "empty message: exit $rc, $(wc -c <"$T/empty.out") bytes"
    show "$T/empty.err"
fi

# 4. A CA that did not sign the server's certificate: the handshake fails.
timeout 30 "$CLIENT" --cafile "$T/other.crt" 127.0.0.1 "$EPORT" hi >"$T/untrusted.out" 2>"$T/untrusted.err"
rc=$?
if [ "$rc" -eq 1 ] && [ ! -s "$T/untrusted.out" ] && has "$T/untrusted.err" "echo_client:"; then
    pass "untrusted certificate: exit 1 with a message ($(head -1 "$T/untrusted.err"))"
else
    fail "untrusted certificate: exit $rc"
    show "$T/untrusted.err"
fi

# 4b. A DATAGRAM frame (RFC 9221) beside the stream: it comes back as one.
timeout 30 "$CLIENT" --cafile "$T/ec.crt" --datagram "datagram hello" 127.0.0.1 "$EPORT" "stream hello" \
    >"$T/dgram.out" 2>"$T/dgram.err"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(cat "$T/dgram.out")" = "stream hello" ] && has "$T/dgram.err" "datagram echo: datagram hello"; then
    pass "DATAGRAM frame echoed beside the stream (exit 0)"
else
    fail "DATAGRAM echo: exit $rc"
    show "$T/dgram.err" "$T/server.log"
fi

# The server stops on SIGTERM; under ASan its log would carry any leak or error report.
stop_bg "$SRV"
if grep -q "Sanitizer" "$T/server.log"; then
    fail "echo_server: sanitizer report"
    show "$T/server.log"
else
    pass "echo_server stopped cleanly (no sanitizer report)"
fi

# 5. Nothing listens on the port: a clean failure, not a hang or a crash.
timeout 30 "$CLIENT" --cafile "$T/ec.crt" 127.0.0.1 "$EPORT" hi >"$T/closed.out" 2>"$T/closed.err"
rc=$?
if [ "$rc" -eq 1 ] && has "$T/closed.err" "echo_client:"; then
    pass "closed port: exit 1 with a message ($(head -1 "$T/closed.err"))"
else
    fail "closed port: exit $rc (want 1 and a message)"
    show "$T/closed.err"
fi

# 6. Bad usage: exit 2.
timeout 60 "$CLIENT" >/dev/null 2>"$T/usage.err"
rc=$?
if [ "$rc" -eq 2 ] && has "$T/usage.err" usage; then pass "no arguments: usage, exit 2"; else fail "no arguments: exit $rc"; fi
finish
