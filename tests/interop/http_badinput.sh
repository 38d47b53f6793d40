#!/usr/bin/env bash
# Malformed and hostile HTTP/1.1 requests against `handoff serve`, sent as raw bytes over TLS
# (json-tls port) and, for a subset, over the plaintext port (same parser). Each case expects a
# sequence of response status codes and how the connection ends:
#   closed  the server closed (TLS: close_notify, or EOF without it; plaintext: FIN)
#   open    the connection was still open when the client gave up (5 s)
# Rejections close the connection (RFC 9112 §9.6, include/handoff/http.h). Also: a request that
# stalls mid-head is cut at --request-timeout, a silent client at --handshake-timeout; afterwards
# the server still answers.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 curl pgrep
need_arena

# ---- request pieces (printf %b escapes) --------------------------------------------------------
H='Host: localhost\r\n'
C='Connection: close\r\n'
OK="GET / HTTP/1.1\r\n$H$C\r\n"
KA="GET / HTTP/1.1\r\n$H\r\n"                       # keep-alive
rep() { head -c "$2" /dev/zero | tr '\0' "$1"; }     # rep CHAR N
LONG_TARGET=/$(rep a 9000)                           # request line > 8192
MANY_HEADERS=$(for i in $(seq 100); do printf 'X-H%d: v\\r\\n' "$i"; done)    # > 64 headers
BIG_HEADERS=$(for i in $(seq 20); do printf 'X-B%d: %s\\r\\n' "$i" "$(rep b 1000)"; done)  # > 16 KiB
HUGE_VALUE="X-Big: $(rep c 20000)\r\n"

# ---- running a case --------------------------------------------------------------------------
N=0

# outcome FILE: "STATUSES closed|open|reset|..." from an e2e_http.py raw result line, plus
# " +N" when N bytes followed the last complete response.
outcome() {
    local line st end extra
    line=$(grep '^statuses=' "$1" | tail -n 1)
    [ -n "$line" ] || { echo "client-failed"; return; }
    st=$(sed -E 's/^statuses=([^ ]*).*/\1/' <<<"$line")
    end=$(sed -E 's/.* end=([^ ]*).*/\1/' <<<"$line")
    extra=$(sed -E 's/.* extra=([0-9]*).*/\1/' <<<"$line")
    case $end in
        close_notify | eof) end=closed ;;
        timeout) end=open ;;
    esac
    printf '%s %s' "$st" "$end"
    [ "$extra" = 0 ] || printf ' +%s' "$extra"
}

# case_ VIA NAME WANT REQUEST [RAWHTTP ARGS...]: send REQUEST (printf %b escapes) on a new
# connection; VIA is tls (json-tls port), plain (plaintext port) or tcp2tls (plain TCP to the
# json-tls port). WANT is the expected outcome, e.g. "400 closed" or "200,200 closed".
case_() {
    local via=$1 name=$2 want=$3 req=$4 got end args
    shift 4
    N=$((N + 1))
    case $via in
        tls) args=(--port "$TLS_PORT" --tls) ;;
        plain) args=(--port "$HTTP_PORT") ;;
        tcp2tls) args=(--port "$TLS_PORT") ;;
    esac
    printf '%b' "$req" | rawhttp raw "${args[@]}" --timeout 5 --out "$T/case$N.resp" "$@" \
        >"$T/case$N.out" 2>&1
    got=$(outcome "$T/case$N.out")
    end=$(grep -oE 'end=[^ ]*' "$T/case$N.out" | cut -d= -f2)
    local row
    row=$(printf '%-3s %-7s %-46s %-16s %-16s (%s)' "$N" "$via" "$name" "$want" "$got" "${end:-?}")
    if [ "$got" = "$want" ]; then
        pass "$row"
    else
        fail "$row"
        show "$T/case$N.out"
        head -c 400 "$T/case$N.resp" 2>/dev/null | tr -d '\r' | awk 'NR <= 8 { print "    resp| " $0 }'
    fi
}

# 70 cases, each a python client (slow to start on a busy machine); the server lives up to
# start_bg's 590 s, inside ctest's 600 s.
if ! serve3 bad --dataset "$ARENA/dataset.json" --static "$ARENA/static" \
    --request-timeout 1000 --handshake-timeout 1000 --idle-timeout 1000; then
    fail "start handoff serve"
    finish
fi

say "     #   via     case                                           expected         got              (end)"

# ---- well-formed requests (the baseline) ------------------------------------------------------
case_ tls "valid GET, Connection: close" "200 closed" "$OK"
case_ tls "valid pipelined triple (in order)" "200,200,200 closed" "$KA$KA$OK"
case_ tls "HEAD: no body" "200 closed" "HEAD / HTTP/1.1\r\n$H$C\r\n" --head
case_ tls "HTTP/1.0 without Host: allowed, closes" "200 closed" "GET / HTTP/1.0\r\n\r\n"
case_ tls "empty lines before the request" "200 closed" "\r\n\r\n$OK"
case_ tls "request split across two writes" "200 closed" "$OK" --split 10 --pause 0.1

# ---- request line ----------------------------------------------------------------------------
case_ tls "request line too long (9 KB target)" "414 closed" "GET $LONG_TARGET HTTP/1.1\r\n$H\r\n"
case_ tls "partial request line too long (no CRLF)" "414 closed" "GET $LONG_TARGET"
case_ tls "missing version" "400 closed" "GET /\r\n$H\r\n"
case_ tls "two spaces after method" "400 closed" "GET  / HTTP/1.1\r\n$H\r\n"
case_ tls "tabs instead of spaces" "400 closed" "GET\t/\tHTTP/1.1\r\n$H\r\n"
case_ tls "space inside the target" "400 closed" "GET /a b HTTP/1.1\r\n$H\r\n"
case_ tls "lowercase version http/1.1" "400 closed" "GET / http/1.1\r\n$H\r\n"
case_ tls "HTTP/2.0" "505 closed" "GET / HTTP/2.0\r\n$H\r\n"
case_ tls "HTTP/1.2" "505 closed" "GET / HTTP/1.2\r\n$H\r\n"
case_ tls "binary garbage" "400 closed" "\x16\x03\x01\x00\xff\xfe garbage\r\n\r\n"
case_ tls "unknown method FOO" "501 closed" "FOO / HTTP/1.1\r\n$H\r\n"
case_ tls "lowercase method get (unknown)" "501 closed" "get / HTTP/1.1\r\n$H\r\n"

# ---- header block ----------------------------------------------------------------------------
case_ tls "too many headers (100)" "431 closed" "GET / HTTP/1.1\r\n$H$MANY_HEADERS\r\n"
case_ tls "header block > 16 KiB (20 x 1 KB)" "431 closed" "GET / HTTP/1.1\r\n$H$BIG_HEADERS\r\n"
case_ tls "one 20 KB header value" "431 closed" "GET / HTTP/1.1\r\n$H$HUGE_VALUE\r\n"
case_ tls "bare LF inside a header value" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\nb\r\n\r\n"
case_ tls "bare CR inside a header value" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n"
case_ tls "NUL byte in a header value" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n"
case_ tls "control byte 0x01 in a header value" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\x01b\r\n\r\n"
case_ tls "whitespace before colon" "400 closed" "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n"
case_ tls "obs-fold continuation line" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n"
case_ tls "invalid token char in header name" "400 closed" "GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n"
case_ tls "header line without colon" "400 closed" "GET / HTTP/1.1\r\n${H}NoColonHere\r\n\r\n"
case_ tls "missing Host (HTTP/1.1)" "400 closed" "GET / HTTP/1.1\r\n$C\r\n"
case_ tls "two Host headers" "400 closed" "GET / HTTP/1.1\r\n${H}Host: other\r\n$C\r\n"

# ---- framing ---------------------------------------------------------------------------------
case_ tls "two differing Content-Length" "400 closed" "POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"
case_ tls "Content-Length non-numeric" "400 closed" "POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n"
case_ tls "Content-Length negative" "400 closed" "POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n"
case_ tls "Content-Length overflows 64 bits" "400 closed" "POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n"
case_ tls "Content-Length 1e9 (> 1 MiB limit)" "413 closed" "POST / HTTP/1.1\r\n${H}Content-Length: 1000000000\r\n\r\n"
case_ tls "Transfer-Encoding: gzip, chunked (unknown coding)" "501 closed" "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
case_ tls "Transfer-Encoding and Content-Length" "400 closed" "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"
case_ tls "pipelined garbage after a valid request" "200,400 closed" "${KA}GARBAGE\r\n\r\n$OK"
# A body that looks like a request is a body: two responses (405 for POST /, then the GET).
SMUGGLED="GET /json/1?m=1 HTTP/1.1\r\n$H\r\n"
case_ tls "request-shaped body is not a request" "405,200 closed" \
    "POST / HTTP/1.1\r\n${H}Content-Length: $(printf '%b' "$SMUGGLED" | wc -c)\r\n\r\n$SMUGGLED$OK"

# ---- routes ----------------------------------------------------------------------------------
case_ tls "static: ../dataset.json (traversal)" "404 closed" "GET /static/../dataset.json HTTP/1.1\r\n$H$C\r\n"
case_ tls "static: ../certs/server.key (traversal)" "404 closed" "GET /static/../certs/server.key HTTP/1.1\r\n$H$C\r\n"
case_ tls "static: %2e%2e%2f traversal" "404 closed" "GET /static/%2e%2e%2fdataset.json HTTP/1.1\r\n$H$C\r\n"
case_ tls "static: /etc/passwd via ../../.." "404 closed" "GET /static/../../../../../../etc/passwd HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: count not a number" "400 closed" "GET /json/abc?m=1 HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: negative count" "400 closed" "GET /json/-3?m=1 HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: m not a number" "400 closed" "GET /json/5?m=x HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: m overflows" "400 closed" "GET /json/5?m=99999999999999999999999 HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: m empty" "400 closed" "GET /json/5?m= HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: count 1e3" "400 closed" "GET /json/1e3?m=1 HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: total overflows (m=2^62)" "400 closed" "GET /json/5?m=4611686018427387904 HTTP/1.1\r\n$H$C\r\n"
case_ tls "json: m = INT64_MIN" "400 closed" "GET /json/5?m=-9223372036854775808 HTTP/1.1\r\n$H$C\r\n"

# ---- the plaintext port: same parser -----------------------------------------------------------
case_ plain "valid pipelined triple" "200,200,200 closed" "$KA$KA$OK"
case_ plain "request line too long" "414 closed" "GET $LONG_TARGET HTTP/1.1\r\n$H\r\n"
case_ plain "too many headers (100)" "431 closed" "GET / HTTP/1.1\r\n$H$MANY_HEADERS\r\n"
case_ plain "missing Host (HTTP/1.1)" "400 closed" "GET / HTTP/1.1\r\n\r\n"
case_ plain "HTTP/2.0" "505 closed" "GET / HTTP/2.0\r\n$H\r\n"
case_ plain "NUL byte in a header value" "400 closed" "GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n"
case_ plain "Transfer-Encoding: gzip, chunked (unknown coding)" "501 closed" "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
case_ plain "pipelined garbage after a valid request" "200,400 closed" "${KA}GARBAGE\r\n\r\n$OK"
case_ plain "TLS ClientHello bytes on the plaintext port" "400 closed" "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"

# ---- timeouts ----------------------------------------------------------------------------------
# A head that stops half-way: at --request-timeout (1 s) the server drops the connection without
# a response (no 408: src/io/conn.c closes at once).
case_ tls "stalled head (request timeout 1 s)" "- closed" "GET / HTTP/1.1\r\nHo"
case_ plain "stalled head (request timeout 1 s)" "- closed" "GET / HTTP/1.1\r\nHo"
# A client that connects and never speaks is dropped at --handshake-timeout (1 s).
case_ tcp2tls "silent client (handshake timeout 1 s)" "- closed" ""
# An idle keep-alive connection is closed at --idle-timeout (1 s), with close_notify.
case_ tls "idle keep-alive (idle timeout 1 s)" "200 closed" "$KA"
check "idle keep-alive closed with close_notify" "$T/case$N.out" "end=close_notify"

# ---- the server is still fine ------------------------------------------------------------------
code=$(timeout 60 curl -sk --http1.1 --max-time 50 -o "$T/after.body" -w '%{http_code}' "https://127.0.0.1:$TLS_PORT/json/2?m=3")
if [ "$code" = 200 ] && has "$T/after.body" '"count":2'; then
    pass "after all cases: GET /json/2?m=3 -> 200"
else
    fail "after all cases: GET /json/2?m=3 -> '$code'"
fi
verdict "server process alive" "server process died" alive
if counters "$T/bad.json"; then
    expect_counter "$T/bad.json" handshake_timeouts -ge 1
    expect_counter "$T/bad.json" request_timeouts -ge 2
    expect_counter "$T/bad.json" idle_timeouts -ge 1
fi
end_server bad
finish
