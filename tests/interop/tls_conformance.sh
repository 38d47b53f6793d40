#!/usr/bin/env bash
# RFC 8446 rules of issue 10 that a real peer can show: our server sends the
# middlebox-compatibility change_cipher_spec right after its ServerHello (App. D.4) to
# OpenSSL's client, which offers a legacy_session_id by default, also after a
# HelloRetryRequest; and `handoff get` sets TCP_NODELAY on its TCP socket (issue 10 item 10).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl strace
gen_ec_cert
cert_files ec

REQ='GET / HTTP/1.0\r\n\r\n'
s_client() {
    timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$CRT" -verify_return_error -verify_hostname localhost "$@"
}

# -msg prints every record header it receives ("<<< ... RecordHeader" then its bytes in
# hex); OpenSSL drops a received change_cipher_spec without naming it, so it is the header
# 14 03 03 00 01. ccs_records FILE: one line per received one, "after-hello" when the
# record before it was the ServerHello (or HelloRetryRequest, which -msg also calls so).
ccs_records() {
    awk '/^<<< .*RecordHeader/ { hdr = 1; next }
         hdr && /^ +14 03 03 00 01/ { print (last_hello ? "after-hello" : "elsewhere") }
         /^<<< .*Handshake/ { last_hello = /ServerHello/ }
         { hdr = 0 }' "$1"
}

for variant in plain hrr; do
    extra=()
    groups=X25519:P-256
    [ "$variant" = hrr ] && extra=(--groups P-256)
    if ! serve_handoff "ccs-$variant" --cert "$CRT" --key "$KEY" "${extra[@]}"; then
        fail "ccs $variant: start handoff serve"
        continue
    fi
    o=$T/ccs-$variant
    printf "$REQ" | s_client -msg -ign_eof -groups "$groups" >"$o.out" 2>"$o.err"
    check "ccs $variant: handshake and response" "$o.out" "Protocol  : TLSv1.3" "HTTP/1.1 200"
    ccs=$(ccs_records "$o.out" | tr '\n' ' ')
    if [ "$ccs" = "after-hello " ]; then
        pass "ccs $variant: one change_cipher_spec, right after the first server hello"
    else
        fail "ccs $variant: change_cipher_spec records seen: '${ccs}' (want 'after-hello ')"
        show "$o.out"
    fi
    [ "$variant" = hrr ] && check "ccs hrr: server did a retry" "$SRV_LOG" "hrr=1"
    stop_bg "$SRV_PID"
done

# ---- handoff get over TCP sets TCP_NODELAY --------------------------------------------
if serve_handoff nodelay --cert "$CRT" --key "$KEY"; then
    timeout 20 strace -f -e trace=setsockopt -o "$T/get.strace" \
        "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" >"$T/get.out" 2>"$T/get.err" </dev/null
    check "get: response" "$T/get.out" "handoff"
    check "get: TCP_NODELAY set on the client socket" "$T/get.strace" "TCP_NODELAY, [1]"
    stop_bg "$SRV_PID"
else
    fail "nodelay: start handoff serve"
fi

finish
