#!/usr/bin/env bash
# Request bodies against `handoff serve --max-body 100000`: POST /upload (the demo app's route,
# answering the body's byte count) with chunked bodies from curl over TLS and plaintext, a
# Content-Length body, bodies over --max-body (413), chunked framing sent raw (extensions,
# trailers, a request pipelined after the body; bad syntax → 400 and the connection closed), then
# the server still answers others; and POST /upload over HTTP/3 from ngtcp2's gtlsclient.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 curl pgrep gtlsclient
need_arena

MAX=100000
head -c 77777 /dev/urandom >"$T/small"    # under --max-body
head -c 200000 /dev/urandom >"$T/big"     # over it
HO_SERVER_LIFETIME=280
if ! serve3 up --dataset "$ARENA/dataset.json" --static "$ARENA/static" --max-body "$MAX"; then
    fail "start handoff serve"
    finish
fi

# upload NAME WANT_CODE WANT_BODY URL CURL_ARGS...: POST a body to /upload with curl.
upload() {
    local name=$1 want_code=$2 want_body=$3 url=$4 code body
    shift 4
    code=$(timeout 60 curl -sk --http1.1 --max-time 50 -X POST -o "$T/$name.body" -w '%{http_code}' "$@" "$url")
    body=$(cat "$T/$name.body" 2>/dev/null)
    if [ "$code" = "$want_code" ] && { [ -z "$want_body" ] || [ "$body" = "$want_body" ]; }; then
        pass "$name: $code ${want_body:+$body}"
    else
        fail "$name: got $code '$(head -c 80 "$T/$name.body" 2>/dev/null)', want $want_code '$want_body'"
    fi
}
TLS_URL=https://127.0.0.1:$TLS_PORT/upload
PLAIN_URL=http://127.0.0.1:$HTTP_PORT/upload
CHUNKED=(-H 'Transfer-Encoding: chunked')

upload "tls chunked 77777 B" 200 77777 "$TLS_URL" -T "$T/small" "${CHUNKED[@]}"
upload "plain chunked 77777 B" 200 77777 "$PLAIN_URL" -T "$T/small" "${CHUNKED[@]}"
upload "tls Content-Length 77777 B" 200 77777 "$TLS_URL" --data-binary "@$T/small"
upload "tls chunked empty body" 200 0 "$TLS_URL" -T /dev/null "${CHUNKED[@]}"
upload "tls chunked 200000 B > --max-body" 413 "" "$TLS_URL" -T "$T/big" "${CHUNKED[@]}"
upload "plain chunked 200000 B > --max-body" 413 "" "$PLAIN_URL" -T "$T/big" "${CHUNKED[@]}"
upload "tls Content-Length 200000 B > --max-body" 413 "" "$TLS_URL" --data-binary "@$T/big"

# ---- raw chunked framing (rawhttp: statuses and how the connection ended) ----------------------
H='Host: localhost\r\n'
TE='Transfer-Encoding: chunked\r\n'
C='Connection: close\r\n'
N=0
raw() {
    local via=$1 name=$2 want=$3 req=$4 got args
    shift 4
    N=$((N + 1))
    case $via in
        tls) args=(--port "$TLS_PORT" --tls) ;;
        plain) args=(--port "$HTTP_PORT") ;;
    esac
    printf '%b' "$req" | rawhttp raw "${args[@]}" --timeout 5 --out "$T/raw$N.resp" "$@" >"$T/raw$N.out" 2>&1
    got=$(grep '^statuses=' "$T/raw$N.out" | tail -n 1 | sed -E 's/^statuses=([^ ]*) .*end=([^ ]*).*/\1 \2/')
    got=${got/close_notify/closed}
    got=${got/eof/closed}
    if [ "$got" = "$want" ]; then
        pass "raw $via: $name: $got"
    else
        fail "raw $via: $name: got '$got', want '$want'"
        show "$T/raw$N.out"
    fi
}
VALID="POST /upload HTTP/1.1\r\n$H$TE\r\n5;a=b;c=\"q\\\\\"x\"\r\nhello\r\n3 ; y\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
NEXT="GET /baseline2?a=1&b=2 HTTP/1.1\r\n$H$C\r\n"
for via in tls plain; do
    raw $via "extensions, trailers, a GET pipelined after" "200,200 closed" "$VALID$NEXT"
    check "raw $via: the upload counted 8 decoded bytes" "$T/raw$N.resp" $'\r\n\r\n8HTTP/1.1 200'
    raw $via "split into 7-byte writes" "200,200 closed" "$VALID$NEXT" --split 7 --pause 0.02
    raw $via "non-hex chunk size" "400 closed" "POST /upload HTTP/1.1\r\n$H$TE\r\nzz\r\nhello\r\n0\r\n\r\n$NEXT"
    raw $via "bare LF after the chunk size" "400 closed" "POST /upload HTTP/1.1\r\n$H$TE\r\n5\nhello\r\n0\r\n\r\n$NEXT"
    raw $via "chunk data longer than its size" "400 closed" "POST /upload HTTP/1.1\r\n$H$TE\r\n3\r\nhello\r\n0\r\n\r\n$NEXT"
    raw $via "chunk size overflows 64 bits" "413 closed" "POST /upload HTTP/1.1\r\n$H$TE\r\n10000000000000000\r\n"
    raw $via "Content-Length and Transfer-Encoding" "400 closed" "POST /upload HTTP/1.1\r\n${H}Content-Length: 5\r\n$TE\r\n0\r\n\r\n"
done

# ---- the server goes on ------------------------------------------------------------------------
code=$(timeout 60 curl -sk --http1.1 --max-time 50 -o "$T/after.body" -w '%{http_code}' "https://127.0.0.1:$TLS_PORT/baseline2?a=2&b=3")
verdict "after the bad requests: /baseline2 -> 200 5" "after the bad requests: '$code' '$(cat "$T/after.body")'" \
    test "$code" = 200 -a "$(cat "$T/after.body")" = 5

# ---- HTTP/3: the same route, the body on the request stream -------------------------------------
mkdir -p "$T/h3"
if timeout 60 gtlsclient -q --exit-on-all-streams-close --download="$T/h3" -m POST -d "$T/small" \
    127.0.0.1 "$HTTPS_PORT" "https://127.0.0.1:$HTTPS_PORT/upload" >"$T/h3.log" 2>&1; then
    check "h3: POST /upload of 77777 B counted" "$T/h3/upload" 77777
else
    fail "h3: gtlsclient POST /upload failed"
    show "$T/h3.log"
fi

verdict "server process alive" "server process died" alive
end_server up
finish
