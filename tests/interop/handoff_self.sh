#!/usr/bin/env bash
# handoff against itself (`handoff get` -> `handoff serve`), and the helpers of lib.sh:
# the self-signed certificate, IPv6, ALPN, resumption, KeyUpdate, HelloRetryRequest (with and
# without cookie), --no-tickets.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl gnutls-cli gnutls-serv tshark dumpcap
pass "peer tools present: openssl gnutls-cli gnutls-serv tshark dumpcap"
need_rsa_cert
gen_ec_cert
timeout 60 openssl x509 -in "$T/ec.crt" -noout -text >"$T/ec.txt" 2>&1
check "lib: ECDSA P-256 test certificate" "$T/ec.txt" "ASN1 OID: prime256v1" "DNS:localhost, IP Address:127.0.0.1"
free_port
p1=$PORT
free_port
if [ "$PORT" -gt "$p1" ] && ! listening "$PORT"; then pass "lib: free_port $p1, $PORT"; else fail "lib: free_port"; fi

# get NAME URL ARGS...: `handoff get -v` -> $T/NAME.out, $T/NAME.err; sets RC.
get() {
    local name=$1 url=$2
    shift 2
    timeout 60 "$HO_BIN" get -v "$url" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
    RC=$?
    if [ "$RC" -ne 0 ]; then
        fail "$name: handoff get exited $RC"
        show "$T/$name.err"
        return 1
    fi
}

# ---- self-signed certificate -----------------------------------------------------------------
if serve_handoff selfsigned; then
    pass "lib: start_bg (handoff serve listens on $PORT)"
    pem=$T/handoff-selfsigned-$PORT.pem
    # The PEM is written once the port is known, just after it listens: wait for the log line.
    if wait_log "$SRV_LOG" "written to $pem" && [ -s "$pem" ]; then
        pass "self-signed certificate written to \$TMPDIR/handoff-selfsigned-$PORT.pem"
        get selfsigned "https://localhost:$PORT/" --cafile "$pem" &&
            check "self-signed: fetched" "$T/selfsigned.out" "handoff"
    else
        fail "no self-signed certificate at $pem"
        show "$SRV_LOG"
    fi
    stop_bg "$SRV_PID"
    if listening "$PORT"; then fail "lib: stop_bg left port $PORT listening"; else pass "lib: stop_bg"; fi
else
    fail "handoff serve with a self-signed certificate did not listen"
fi

cert_files ec

# ---- IPv6 ------------------------------------------------------------------------------------
free_port
SRV_LOG=$T/ipv6.srv.log
if start_bg "$PORT" "$SRV_LOG" "$HO_BIN" serve --bind ::1 --port "$PORT" --cert "$CRT" --key "$KEY"; then
    SRV_PID=$BG_PID
    get ipv6 "https://[::1]:$PORT/" --cafile "$CRT" && check "ipv6: [::1]" "$T/ipv6.out" "handoff"
    stop_bg "$SRV_PID"
else
    fail "ipv6: handoff serve --bind ::1"
fi

# ---- one server, many features -----------------------------------------------------------------
if serve_handoff features --cert "$CRT" --key "$KEY" --alpn http/1.1; then
    U="https://localhost:$PORT/"
    get full "$U" --cafile "$CRT" --alpn http/1.1 &&
        check "full handshake" "$T/full.err" "group: X25519MLKEM768" "alpn: http/1.1" "resumed: no" "hrr: no"
    get resume1 "$U" --cafile "$CRT" --alpn http/1.1 --resume "$T/sess"
    get resume2 "$U" --cafile "$CRT" --alpn http/1.1 --resume "$T/sess" &&
        check "resumption" "$T/resume2.err" "resumed: yes" "alpn: http/1.1"
    get keyupdate "$U" --cafile "$CRT" --alpn http/1.1 --key-update &&
        check "key update" "$T/keyupdate.err" "key-update: sent"
    check "key update: server answered" "$SRV_LOG" "key_update a=1 b=0 read" "key_update a=0 b=1 write"
    timeout 60 "$HO_BIN" get "$U" --cafile "$CRT" --alpn h2 >"$T/noalpn.out" 2>"$T/noalpn.err" </dev/null
    if [ $? -eq 1 ] && has "$T/noalpn.err" no_application_protocol; then
        pass "alpn: no common protocol -> no_application_protocol"
    else
        fail "alpn: expected exit 1 naming no_application_protocol"
        show "$T/noalpn.err"
    fi
    stop_bg "$SRV_PID"
else
    fail "features: start server"
fi

# ---- HelloRetryRequest, with and without a cookie ----------------------------------------------
for cookie in "" --hrr-cookie; do
    n="hrr${cookie:+ with cookie}"
    if serve_handoff "hrr$cookie" --cert "$CRT" --key "$KEY" --groups P-256 $cookie; then
        get "hrr$cookie" "https://localhost:$PORT/" --cafile "$CRT" --groups X25519,P-256 &&
            check "$n" "$T/hrr$cookie.err" "hrr: yes" "group: secp256r1"
        check "$n: server log" "$SRV_LOG" "hrr=1"
        stop_bg "$SRV_PID"
    else
        fail "$n: start server"
    fi
done

# ---- --no-tickets ---------------------------------------------------------------------------
if serve_handoff notickets --cert "$CRT" --key "$KEY" --no-tickets; then
    get nt1 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess-nt"
    get nt2 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess-nt" &&
        check "no tickets: not resumed" "$T/nt2.err" "resumed: no"
    stop_bg "$SRV_PID"
else
    fail "no tickets: start server"
fi

finish
