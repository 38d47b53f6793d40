#!/usr/bin/env bash
# examples/async_sni (the public-API example of an asynchronous ClientHello callback): the
# certificate for each server name is "fetched" by a loader thread after a delay, then cached.
# openssl s_client and gnutls-cli get the certificate for the name they ask for; the first
# handshake for a name is a cache miss (the handshake waited for the loader), the next a hit.
# The same over QUIC: ngtcp2's gtlsclient gets HTTP/3 answers for names loaded asynchronously
# (the connection parked, its datagrams queued), from the same cache.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EX=${HO_BUILD:-$HO_SRC/build}/examples
SERVER=$EX/async_sni
if [ ! -x "$SERVER" ]; then
    fail "$SERVER is not built"
    finish
fi
need_tools openssl gnutls-cli gtlsclient

free_port || { fail "no free port"; finish; }
start_bg "$PORT" "$T/server.log" "$SERVER" "$PORT" 300 || { fail "async_sni did not start"; finish; }
SRV=$BG_PID
pass "async_sni listens on TCP port $PORT"
if wait_udp "$PORT" "$SRV"; then
    pass "async_sni listens on UDP port $PORT (HTTP/3)"
else
    fail "async_sni does not listen on UDP port $PORT"
fi

req() { printf 'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1"; }

# openssl NAME OUT: one request with SNI NAME.
ossl() {
    req "$1" | timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -servername "$1" -tls1_3 -ign_eof \
        >"$2" 2>&1
}

ossl a.test "$T/a1.out"
check "openssl, first a.test: its certificate after a cache miss" "$T/a1.out" \
    "subject=CN = a.test" "certificate cache: 0 hits, 1 misses"
ossl a.test "$T/a2.out"
check "openssl, again a.test: a cache hit" "$T/a2.out" \
    "subject=CN = a.test" "certificate cache: 1 hits, 1 misses"

# gnutls-cli sends its close_notify as soon as its stdin ends, often in the same read as the
# request: the request is still answered (RFC 8446 §6.1, test_tls_async_server).
req b.test | timeout 30 gnutls-cli --insecure --port="$PORT" --sni-hostname=b.test --print-cert 127.0.0.1 \
    >"$T/b.out" 2>&1
check "gnutls-cli, b.test: its certificate after a cache miss" "$T/b.out" \
    "CN=b.test" "certificate cache: 1 hits, 2 misses"

# Without SNI: the default certificate, synchronously.
req localhost | timeout 30 openssl s_client -connect "127.0.0.1:$PORT" -noservername -tls1_3 -ign_eof \
    >"$T/none.out" 2>&1
check "no SNI: the default certificate, no wait" "$T/none.out" "subject=CN = localhost" \
    "certificate cache: 1 hits, 2 misses"

# gtlsclient NAME DIR: one HTTP/3 GET / with SNI NAME, the body saved in DIR/index.html.
h3() {
    mkdir -p "$2"
    timeout 30 gtlsclient -q --exit-on-all-streams-close --sni="$1" --download="$2" 127.0.0.1 "$PORT" \
        "https://127.0.0.1:$PORT/" >"$2.log" 2>&1
    cat "$2"/* >"$2.out" 2>/dev/null
}

# c.test is new: its handshake waits for the loader (a miss), the next one is a hit; a.test
# was loaded by the TCP handshakes above (a hit).
h3 c.test "$T/c1"
check "gtlsclient, first c.test over QUIC: answered after a cache miss" "$T/c1.out" \
    "certificate cache: 1 hits, 3 misses"
h3 c.test "$T/c2"
check "gtlsclient, again c.test over QUIC: a cache hit" "$T/c2.out" "certificate cache: 2 hits, 3 misses"
h3 a.test "$T/a3"
check "gtlsclient, a.test over QUIC: the cache of the TCP handshakes" "$T/a3.out" \
    "certificate cache: 3 hits, 3 misses"

# (A miss is counted only where the connection could wait, ho_tls_async_supported: the
# misses above are QUIC handshakes that parked and were resumed by the loader.)
stop_bg "$SRV"
if grep -q "Sanitizer" "$T/server.log"; then
    fail "async_sni: sanitizer report"
    show "$T/server.log"
else
    pass "async_sni stopped cleanly (no sanitizer report)"
fi
finish
