#!/usr/bin/env bash
# NEW_TOKEN (RFC 9000 §8.1.3) end to end.
#  - `serve --retry=always` (every client without a valid token gets a Retry): `get --h3
#    --session-file F` is retried the first time and stores the server's token in F.token; the
#    second run sends it and gets no Retry (h3_retry_sent unchanged, h3_new_tokens_accepted +1);
#    the same token sent from another address (--local-addr 127.0.0.2) gets a Retry
#    (h3_new_tokens_refused +1), and so does an expired one (--new-token-lifetime 1000, after
#    the wall clock passed the token's expiry);
#  - gtlsclient --token-file against our server stores the token we sent (NEW_TOKEN frame in its
#    log, the PEM token file holds our 41-byte 'N' token). (Its second run cannot resend it:
#    gtlsclient 0.12.1 opens the token file and never reads it, against gtlsserver too.)
#  - our client against gtlsserver --validate-addr (Retry unless the Initial carries a valid
#    token): the first run is retried and stores ngtcp2's token, the second is not retried.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 gtlsclient base64 stat
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
    finish
fi
gen_cert nt localhost "DNS:localhost,IP:127.0.0.1,IP:127.0.0.2"

# get NAME ARGS...: one `get --h3 -v` of /baseline2 with session file $T/sess (stderr: NAME.err).
get() {
    local name=$1
    shift
    timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/nt.crt" --timeout 30 --session-file "$T/sess" "$@" \
        "https://127.0.0.1:$HTTPS_PORT/baseline2?a=1&b=2" >"$T/$name.out" 2>"$T/$name.err"
}

# ---- our client, our server, --retry=always --------------------------------------------
if serve3 nt --threads 1 --cert "$T/nt.crt" --key "$T/nt.key" --retry=always; then
    rm -f "$T/sess" "$T/sess.token"
    verdict "first visit: get --h3 completes" "first visit: get --h3 failed" get first
    check "first visit: retried (no token yet)" "$T/first.err" "retry: yes"
    check "first visit: a NEW_TOKEN received" "$T/first.err" "new-token: sent no, received 1"
    verdict "first visit: the token is stored in F.token" "first visit: no F.token" test -s "$T/sess.token"
    counters "$T/c1.json"
    expect_counter "$T/c1.json" h3_new_tokens_issued -ge 1
    retries=$(counter "$T/c1.json" h3_retry_sent)
    accepted=$(counter "$T/c1.json" h3_new_tokens_accepted)
    refused=$(counter "$T/c1.json" h3_new_tokens_refused)

    mkdir -p "$T/cq"
    verdict "return: get --h3 completes" "return: get --h3 failed" get back --qlog-dir "$T/cq"
    # qlog: the client's Initial carries the token (header.token of type resumption, 41 bytes).
    check "return: qlog shows the token in the Initial" "$(ls "$T"/cq/*_client.sqlog 2>/dev/null | head -n 1)" \
        '"token":{"type":"resumption","raw":{"length":41}}' '"new_token"'
    check "return: the token is sent" "$T/back.err" "new-token: sent yes"
    check "return: no Retry" "$T/back.err" "retry: no"
    counters "$T/c2.json"
    expect_counter "$T/c2.json" h3_retry_sent -eq "$retries"
    expect_counter "$T/c2.json" h3_new_tokens_accepted -eq $((accepted + 1))

    # The same (valid) token from another address: bound to the IP, so refused -> Retry.
    cp "$T/sess.token" "$T/kept.token"
    verdict "other address: get --h3 completes" "other address: get --h3 failed" get other --local-addr 127.0.0.2
    check "other address: the token is sent" "$T/other.err" "new-token: sent yes"
    check "other address: retried" "$T/other.err" "retry: yes"
    counters "$T/c3.json"
    expect_counter "$T/c3.json" h3_new_tokens_refused -ge $((refused + 1))
    expect_counter "$T/c3.json" h3_new_tokens_accepted -eq $((accepted + 1))
    expect_counter "$T/c3.json" h3_retry_sent -gt "$retries"

    # gtlsclient keeps the token we send it.
    rm -f "$T/g.tok"
    timeout 60 gtlsclient --exit-on-all-streams-close --token-file "$T/g.tok" 127.0.0.1 "$HTTPS_PORT" \
        "https://127.0.0.1:$HTTPS_PORT/baseline2?a=1&b=2" >"$T/g1.log" 2>&1
    check "gtlsclient: retried the first time" "$T/g1.log" "Retry"
    check "gtlsclient: NEW_TOKEN received" "$T/g1.log" "NEW_TOKEN"
    tok=$(sed -n '/BEGIN QUIC TOKEN/,/END QUIC TOKEN/p' "$T/g.tok" 2>/dev/null | grep -v -- ----- | tr -d '\n' |
        base64 -d 2>/dev/null | od -An -tx1 | tr -d ' \n')
    verdict "gtlsclient: stored our token (41 bytes, 'N' mark)" "gtlsclient: token file holds '$tok'" \
        test "${#tok}" = 82 -a "${tok:0:2}" = 4e
    end_server nt
else
    fail "server nt did not start"
fi

# ---- expiry: --new-token-lifetime 1000 ---------------------------------------------------
if serve3 exp --threads 1 --cert "$T/nt.crt" --key "$T/nt.key" --retry=always --new-token-lifetime 1000; then
    rm -f "$T/sess" "$T/sess.token"
    verdict "expiry: first visit completes" "expiry: first visit failed" get exp1
    verdict "expiry: token stored" "expiry: no token" test -s "$T/sess.token"
    # The token expires 1000 ms after it was issued (before the file was written): poll the
    # wall clock until it is 1000 ms past the file's time, plus a margin.
    written=$(stat -c %.3Y "$T/sess.token" | tr -d .)
    for _ in $(seq 100); do
        [ "$(date +%s%3N)" -gt $((written + 1200)) ] && break
        sleep 0.05
    done
    counters "$T/e1.json"
    refused=$(counter "$T/e1.json" h3_new_tokens_refused)
    verdict "expiry: second visit completes" "expiry: second visit failed" get exp2
    check "expiry: the (expired) token is sent" "$T/exp2.err" "new-token: sent yes"
    check "expiry: retried" "$T/exp2.err" "retry: yes"
    counters "$T/e2.json"
    expect_counter "$T/e2.json" h3_new_tokens_refused -ge $((refused + 1))
    expect_counter "$T/e2.json" h3_new_tokens_accepted -eq 0
    end_server exp
else
    fail "server exp did not start"
fi

# ---- our client against gtlsserver --validate-addr ---------------------------------------
free_port
mkdir -p "$T/htdocs"
printf 'token ok\n' >"$T/htdocs/index.html"
timeout -k 5 120 "$GTLSSERVER" 127.0.0.1 "$PORT" "$T/nt.key" "$T/nt.crt" -d "$T/htdocs" -V \
    >"$T/gtls.log" 2>&1 </dev/null &
GTLS_PID=$!
BG_PIDS+=("$GTLS_PID")
if wait_udp "$PORT" "$GTLS_PID"; then
    HTTPS_PORT=$PORT
    rm -f "$T/sess" "$T/sess.token"
    gs() {
        timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/nt.crt" --timeout 30 --session-file "$T/sess" \
            "https://127.0.0.1:$PORT/index.html" >"$T/$1.out" 2>"$T/$1.err"
    }
    verdict "gtlsserver: first get completes" "gtlsserver: first get failed" gs gs1
    check "gtlsserver: first get retried" "$T/gs1.err" "retry: yes"
    check "gtlsserver: its NEW_TOKEN received" "$T/gs1.err" "received 1"
    verdict "gtlsserver: token stored" "gtlsserver: no token stored" test -s "$T/sess.token"
    verdict "gtlsserver: second get completes" "gtlsserver: second get failed" gs gs2
    check "gtlsserver: second get sends the token" "$T/gs2.err" "new-token: sent yes"
    check "gtlsserver: second get not retried (token validated)" "$T/gs2.err" "retry: no"
    check "gtlsserver: body" "$T/gs2.out" "token ok"
else
    fail "gtlsserver did not bind UDP port $PORT"
    show "$T/gtls.log"
fi
stop_bg "$GTLS_PID"
finish
