#!/usr/bin/env bash
# Our server (`handoff serve`) against OpenSSL's client (`openssl s_client -tls1_3`):
# every suite x group x certificate, HelloRetryRequest, resumption, KeyUpdate.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl
need_rsa_cert
gen_ec_cert

REQ='GET / HTTP/1.0\r\n\r\n'

# s_client ARGS...: connect to 127.0.0.1:$PORT as localhost, verifying against $CRT.
s_client() {
    timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$CRT" -verify_return_error -verify_hostname localhost "$@"
}

# temp_key GROUP: what s_client prints for the server's key share.
temp_key() {
    case $1 in
        X25519) echo "Server Temp Key: X25519, 253 bits" ;;
        P-256) echo "Server Temp Key: ECDH, prime256v1, 256 bits" ;;
    esac
}

# ---- suite x group x certificate ---------------------------------------------------------
for kind in ec rsa; do
    cert_files "$kind"
    case $kind in ec) sig="Signature type: ECDSA" ;; rsa) sig="Signature type: RSA-PSS" ;; esac
    if ! serve_handoff "matrix-$kind" --cert "$CRT" --key "$KEY"; then
        fail "start handoff serve with the $kind certificate"
        continue
    fi
    for suite in "${SUITES[@]}"; do
        for group in "${HO_GROUP_LIST[@]}"; do
            n="$kind $suite $group"
            o=$T/m-$kind-$suite-$group
            # -brief: handshake summary on stderr; -ign_eof: read the response until the server closes.
            printf "$REQ" | s_client -brief -ign_eof -ciphersuites "$suite" -groups "$group" >"$o.out" 2>"$o.err"
            check "handshake $n" "$o.err" "Protocol version: TLSv1.3" "Ciphersuite: $suite" \
                "$(temp_key "$group")" "$sig" "Verification: OK"
            check "response $n" "$o.out" "HTTP/1.1 200"
            check_body "body $n" "$o.out" "handoff"
        done
    done
    check "server log $kind: handshakes done" "$SRV_LOG" \
        "handshake_done a=0 b=0 suite=TLS_CHACHA20_POLY1305_SHA256 group=secp256r1"
    stop_bg "$SRV_PID"
done

cert_files ec

# ---- HelloRetryRequest: server takes only P-256, client shares X25519 first ----------------
for cookie in "" --hrr-cookie; do
    n="hrr${cookie:+ (cookie)}"
    if serve_handoff "hrr$cookie" --cert "$CRT" --key "$KEY" --groups P-256 $cookie; then
        o=$T/hrr$cookie
        printf "$REQ" | s_client -brief -ign_eof -groups X25519:P-256 >"$o.out" 2>"$o.err"
        check "$n: handshake" "$o.err" "Protocol version: TLSv1.3" "$(temp_key P-256)"
        check_body "$n: body" "$o.out" "handoff"
        check "$n: server saw a retry" "$SRV_LOG" "group=secp256r1 alpn=- resumed=0 hrr=1"
        stop_bg "$SRV_PID"
    else
        fail "$n: start server"
    fi
done

# No common group: the server must refuse with handshake_failure (RFC 8446 §4.1.1 also
# allows insufficient_security).
if serve_handoff nogroup --cert "$CRT" --key "$KEY" --groups P-256; then
    o=$T/nogroup
    echo | s_client -brief -groups X25519 >"$o.out" 2>"$o.err"
    if has "$o.err" "alert handshake failure" || has "$o.err" "alert insufficient security"; then
        pass "no common group: refused with handshake_failure"
    else
        fail "no common group: expected a handshake_failure alert"
        show "$o.err"
    fi
    stop_bg "$SRV_PID"
else
    fail "no common group: start server"
fi

# ---- resumption ----------------------------------------------------------------------------
if serve_handoff resume --cert "$CRT" --key "$KEY"; then
    o=$T/resume
    # The ticket follows the handshake; -ign_eof keeps reading until the server closes.
    printf "$REQ" | s_client -ign_eof -sess_out "$o.sess" >"$o.1.out" 2>"$o.1.err"
    check "resumption: first connection is new" "$o.1.out" "New, TLSv1.3" "<h1>handoff</h1>"
    if [ -s "$o.sess" ]; then
        printf "$REQ" | s_client -ign_eof -sess_in "$o.sess" >"$o.2.out" 2>"$o.2.err"
        check "resumption: second connection reused" "$o.2.out" "Reused, TLSv1.3"
        check_body "resumption: body" "$o.2.out" "resumed: yes"
        check "resumption: server log" "$SRV_LOG" "resumed=1"
    else
        fail "resumption: s_client stored no session (no NewSessionTicket received?)"
        show "$o.1.out" "$o.1.err"
    fi
    stop_bg "$SRV_PID"
else
    fail "resumption: start server"
fi

# --no-tickets: nothing to resume.
if serve_handoff notickets --cert "$CRT" --key "$KEY" --no-tickets; then
    o=$T/notickets
    printf "$REQ" | s_client -ign_eof -sess_out "$o.sess" >"$o.1.out" 2>"$o.1.err"
    check "no tickets: connection works" "$o.1.out" "New, TLSv1.3" "<h1>handoff</h1>"
    if [ -s "$o.sess" ]; then
        # s_client stores a TLS 1.3 session only when a ticket arrives: there should be none.
        fail "no tickets: s_client received a session ticket"
        printf "$REQ" | s_client -ign_eof -sess_in "$o.sess" >"$o.2.out" 2>"$o.2.err"
        check "no tickets: second connection is new" "$o.2.out" "New, TLSv1.3" "<h1>handoff</h1>"
    else
        pass "no tickets: no session ticket received"
    fi
    check_not "no tickets: server never resumed" "$SRV_LOG" "resumed=1"
    stop_bg "$SRV_PID"
else
    fail "no tickets: start server"
fi

# ---- ALPN --------------------------------------------------------------------------------
if serve_handoff alpn --cert "$CRT" --key "$KEY" --alpn http/1.1; then
    o=$T/alpn
    printf "$REQ" | s_client -ign_eof -alpn h2,http/1.1 >"$o.out" 2>"$o.err"
    check "alpn: http/1.1 selected" "$o.out" "ALPN protocol: http/1.1" "<h1>handoff</h1>"
    # RFC 8446 §4.2 / RFC 7301 §3.2: no protocol in common -> no_application_protocol.
    echo | s_client -alpn h2 >"$o.2.out" 2>"$o.2.err"
    check "alpn: no common protocol refused" "$o.2.err" "no application protocol"
    check "alpn: server log" "$SRV_LOG" "alpn=http/1.1"
    stop_bg "$SRV_PID"
else
    fail "alpn: start server"
fi

# ---- KeyUpdate -----------------------------------------------------------------------------
# s_client (OpenSSL 3.0) turns an input line starting with 'K' into KeyUpdate(update_requested)
# and 'k' into KeyUpdate(update_not_requested), only in its interactive mode: not with -quiet,
# -brief or -ign_eof (and not with -nocommands). Each read of stdin is one command or one write,
# so each line is sent once the previous one took effect. The server's own KeyUpdate
# answering 'K' must not stop the response.
if serve_handoff keyupdate --cert "$CRT" --key "$KEY"; then
    o=$T/keyupdate
    talk "$o.out" "$o.err" s_client
    wait_log "$o.out" "Verify return code" 60
    tell 'K\n'
    wait_count "$o.err" KEYUPDATE 1 60
    tell 'k\n'
    wait_count "$o.err" KEYUPDATE 2 60
    tell "$REQ"
    wait_log "$o.out" "<h1>handoff</h1>" 60
    hangup
    check "key update: s_client sent two" "$o.err" "KEYUPDATE"
    [ "$(grep -c KEYUPDATE "$o.err")" -eq 2 ] || fail "key update: expected 2 KEYUPDATE lines in s_client output"
    check "key update: response after the updates" "$o.out" "<h1>handoff</h1>"
    check "key update: server read update_requested and answered" "$SRV_LOG" \
        "key_update a=1 b=0 read" "key_update a=0 b=1 write"
    check "key update: server read update_not_requested" "$SRV_LOG" "key_update a=0 b=0 read"
    stop_bg "$SRV_PID"
else
    fail "key update: start server"
fi

finish
