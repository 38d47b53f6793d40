#!/usr/bin/env bash
# TLS 1.3 early data (0-RTT, RFC 8446 §4.2.10, §8; RFC 8470) over TCP, issue 14 item 1:
#  - openssl s_client -sess_out, then -sess_in -early_data FILE against `handoff serve
#    --early-data`: the early request is answered (the page says "early data: yes"), the
#    counters show it accepted; the same -sess_in again is refused as early data (the ticket was
#    used: anti-replay) and the handshake completes in 1-RTT with the response correct;
#  - a handler that refuses early requests answers 425 Too Early;
#  - gnutls-cli -r --earlydata (Debian's GnuTLS 3.7 has it) against us;
#  - `handoff get --early-data` against `openssl s_server -early_data` (s_server prints the
#    early data) and against us; answered 425 Too Early by a refusing handler, get sends the
#    request again once, after the handshake of a new connection, without early data (RFC 8470
#    §5.2), and prints only the second answer;
#  - with every handshake step on the offload pool, early data is still answered;
#  - a ticket from a server whose config changed (same ticket keys, early data now off): get's
#    early data is refused, it resumes in 1-RTT and sends the request again.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools openssl gnutls-cli pgrep python3
gen_ec_cert
cert_files ec
printf 'GET /?early HTTP/1.1\r\nHost: localhost\r\n\r\n' >"$T/early.req"
printf 'GET /?refuse-early HTTP/1.1\r\nHost: localhost\r\n\r\n' >"$T/refuse.req"
printf 'POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabcGET /?after-post HTTP/1.1\r\nHost: localhost\r\n\r\n' \
    >"$T/post.req"
LAST='GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
openssl rand -hex 32 >"$T/ticket.keys"

# s_client NAME ARGS...: one bounded s_client run sending $LAST after the handshake.
s_client() {
    local name=$1
    shift
    printf "$LAST" | timeout 60 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost \
        -tls1_3 -CAfile "$CRT" -ign_eof "$@" >"$T/$name.out" 2>&1
}

serve3 early --cert "$CRT" --key "$KEY" --no-h3 --early-data --ticket-keys "$T/ticket.keys" ||
    { fail "serve --early-data did not start"; finish; }

# ---- openssl s_client against us ---------------------------------------------------------------
s_client full -sess_out "$T/o.sess"
check "s_client: the ticket allows early data" "$T/full.out" "Max Early Data: 16384" "HTTP/1.1 200 OK"
s_client early1 -sess_in "$T/o.sess" -early_data "$T/early.req"
check "s_client -early_data: accepted, answered early" "$T/early1.out" "Reused, TLSv1.3" \
    "Early data was accepted" "early data: yes"
# The same ticket again (what a replay of the first ClientHello would also meet): refused as
# early data, resumed in 1-RTT, and the request after the handshake is answered.
s_client early2 -sess_in "$T/o.sess" -early_data "$T/early.req"
check "s_client -early_data, same ticket again: refused, 1-RTT answer" "$T/early2.out" "Reused, TLSv1.3" \
    "Early data was rejected" "HTTP/1.1 200 OK" "early data: no"
check_not "s_client -early_data, same ticket again: nothing answered early" "$T/early2.out" "early data: yes"
s_client full2 -sess_out "$T/o2.sess"
s_client refuse -sess_in "$T/o2.sess" -early_data "$T/refuse.req"
check "a handler refusing early data: 425 Too Early" "$T/refuse.out" "Early data was accepted" \
    "HTTP/1.1 425 Too Early"
# An unsafe method in early data waits for the handshake, and so does the GET behind it: its
# page says "early data: no" (answered early, it would say yes).
s_client full3 -sess_out "$T/o3.sess"
s_client post -sess_in "$T/o3.sess" -early_data "$T/post.req"
check "POST in early data: accepted, answered after the handshake" "$T/post.out" "Early data was accepted" \
    "HTTP/1.1 200 OK" "early data: no"
check_not "POST in early data: nothing after it answered early" "$T/post.out" "early data: yes"

# ---- gnutls-cli against us -------------------------------------------------------------------
timeout 60 gnutls-cli -p "$HTTPS_PORT" --x509cafile "$CRT" localhost -r --earlydata="$T/early.req" \
    </dev/null >"$T/gnutls.out" 2>&1
check "gnutls-cli -r --earlydata: resumed, answered early" "$T/gnutls.out" "This is a resumed session" \
    "early data: yes"

# ---- our client against us -------------------------------------------------------------------
rm -f "$T/g.sess"
for i in 1 2; do
    timeout 60 "$HO_BIN" get -v --early-data --resume "$T/g.sess" --cafile "$CRT" \
        "https://localhost:$HTTPS_PORT/" >"$T/get$i.out" 2>"$T/get$i.err" </dev/null
done
check "get --early-data (first): full handshake" "$T/get1.err" "resumed: no" "early-data: none"
check "get --early-data (second): accepted" "$T/get2.err" "resumed: yes" "early-data: accepted"
check "get --early-data (second): answered early" "$T/get2.out" "early data: yes"
# A handler that refuses early requests: 425 Too Early, then get's retry (not in early data).
rm -f "$T/g425.sess"
for i in 1 2; do
    timeout 60 "$HO_BIN" get -v -i --early-data --resume "$T/g425.sess" --cafile "$CRT" \
        "https://localhost:$HTTPS_PORT/?refuse-early" >"$T/get425-$i.out" 2>"$T/get425-$i.err" </dev/null
    echo "exit $?" >>"$T/get425-$i.err"
done
check "get --early-data, refusing handler (first): full handshake, answered" "$T/get425-1.out" "HTTP/1.1 200"
check_not "get --early-data, refusing handler (first): no retry" "$T/get425-1.err" "425 Too Early"
check "get --early-data, refusing handler: accepted early, 425, retried after the handshake" \
    "$T/get425-2.err" "early-data: accepted" "early-data: 425 Too Early, retrying after the handshake" \
    "early-data: none" "exit 0"
check "get --early-data, refusing handler: the retry's answer, not early" "$T/get425-2.out" "HTTP/1.1 200" \
    "early data: no"
check_not "get --early-data, refusing handler: the 425 is not printed" "$T/get425-2.out" "425"

if counters "$T/early.json"; then
    # s_client early1 + refuse + post, gnutls-cli, get, get (refused by the handler): accepted;
    # s_client early2: the ticket again.
    expect_counter "$T/early.json" early_accepted -eq 6
    expect_counter "$T/early.json" early_replayed -eq 1
    expect_counter "$T/early.json" early_rejected -eq 0
fi
end_server "serve --early-data"

# ---- rejected: the same ticket keys, early data turned off ------------------------------------
serve3 early-off --cert "$CRT" --key "$KEY" --no-h3 --ticket-keys "$T/ticket.keys" ||
    { fail "serve (early data off) did not start"; finish; }
timeout 60 "$HO_BIN" get -v --early-data --resume "$T/g.sess" --cafile "$CRT" \
    "https://localhost:$HTTPS_PORT/" >"$T/get-off.out" 2>"$T/get-off.err" </dev/null
check "get --early-data, server config changed: refused, resumed in 1-RTT" "$T/get-off.err" "resumed: yes" \
    "early-data: rejected"
check "get --early-data, server config changed: the response is right" "$T/get-off.out" "<h1>handoff</h1>" \
    "early data: no"
if counters "$T/off.json"; then
    expect_counter "$T/off.json" early_rejected -eq 1
    expect_counter "$T/off.json" early_accepted -eq 0
fi
end_server "serve, early data off"

# ---- every handshake step on the offload pool ------------------------------------------------
# The ClientHello step runs on a worker, which decrypts the early records of the same read; the
# handler runs when the step is back on the I/O thread.
serve3 early-offload --cert "$CRT" --key "$KEY" --no-h3 --early-data --offload always ||
    { fail "serve --early-data --offload always did not start"; finish; }
s_client off-full -sess_out "$T/o4.sess"
s_client off-early -sess_in "$T/o4.sess" -early_data "$T/early.req"
check "offload always: early data accepted, answered early" "$T/off-early.out" "Early data was accepted" \
    "early data: yes"
if counters "$T/offload.json"; then
    expect_counter "$T/offload.json" early_accepted -eq 1
    expect_counter "$T/offload.json" handshakes_offloaded -ge 2
fi
end_server "serve --early-data --offload always"

# ---- our client against openssl s_server -early_data ------------------------------------------
# s_server (not -www, which refuses -early_data) prints the early data it reads; it answers
# nothing, so each get is cut by its timeout once the ticket is stored. -no_anti_replay: without
# it OpenSSL keeps tickets in its session cache, which drops a session whose client went away
# without close_notify. Its stdin is a FIFO held open, so it does not quit on EOF.
free_port || { fail "no free port"; finish; }
mkfifo "$T/s_server.in"
exec 3<>"$T/s_server.in"
start_bg "$PORT" "$T/s_server.log" bash -c 'exec openssl s_server -accept "127.0.0.1:$1" -cert "$2" -key "$3" \
    -tls1_3 -early_data -no_anti_replay <"$4"' _ "$PORT" "$CRT" "$KEY" "$T/s_server.in" ||
    { fail "s_server -early_data did not start"; finish; }
rm -f "$T/s.sess"
for i in 1 2; do
    timeout 5 "$HO_BIN" get -v --early-data --resume "$T/s.sess" --cafile "$CRT" \
        "https://localhost:$PORT/x$i" >"$T/sget$i.out" 2>"$T/sget$i.err" </dev/null
done
check "get --early-data vs s_server: accepted" "$T/sget2.err" "resumed: yes" "early-data: accepted"
if wait_log "$T/s_server.log" "End of early data" 30 && wait_log "$T/s_server.log" "GET /x2 HTTP/1.1" 30; then
    check "s_server printed our early request" "$T/s_server.log" "Early data received:" "GET /x2 HTTP/1.1"
else
    fail "s_server did not print the early request"
    show "$T/s_server.log"
fi
stop_bg "$BG_PID"
exec 3>&-

finish
