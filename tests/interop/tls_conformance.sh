#!/usr/bin/env bash
# RFC 8446 rules of issue 10 that a real peer can show: our server sends the
# middlebox-compatibility change_cipher_spec right after its ServerHello (App. D.4) to
# OpenSSL's client, which offers a legacy_session_id by default, also after a
# HelloRetryRequest; `handoff get` sets TCP_NODELAY on its TCP socket (issue 10 item 10); and
# certificates of other kinds (item 12): `handoff get` verifies servers with Ed25519 and
# RSA-PSS (id-RSASSA-PSS key, rsa_pss_pss_*) certificates, OpenSSL's and GnuTLS's, and
# `handoff serve` serves an Ed25519 certificate to both.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl strace gnutls-serv gnutls-cli
gen_ec_cert
cert_files ec

REQ='GET / HTTP/1.0\r\n\r\n'
s_client() {
    timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
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
    timeout 60 strace -f -e trace=setsockopt -o "$T/get.strace" \
        "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" >"$T/get.out" 2>"$T/get.err" </dev/null
    check "get: response" "$T/get.out" "handoff"
    check "get: TCP_NODELAY set on the client socket" "$T/get.strace" "TCP_NODELAY, [1]"
    stop_bg "$SRV_PID"
else
    fail "nodelay: start handoff serve"
fi

# ---- certificates: Ed25519 and RSA-PSS (RFC 8446 §4.2.3, §4.4.2.2) ------------------------
gen_key_cert() { # NAME ALG [OPTS...]: self-signed $T/NAME.crt / .key for localhost
    local name=$1 alg=$2
    shift 2
    timeout 60 openssl req -x509 -newkey "$alg" "$@" -nodes -keyout "$T/$name.key" -out "$T/$name.crt" \
        -days 30 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        >"$T/$name.gen.log" 2>&1 || fail "openssl req $name"
}
gen_key_cert ed25519 ed25519
gen_key_cert rsapss rsa-pss -pkeyopt rsa_keygen_bits:2048

for kind in ed25519 rsapss; do
    case $kind in ed25519) want="Ed25519" ;; rsapss) want="RSA-PSS" ;; esac
    # handoff get against openssl s_server
    free_port && start_bg "$PORT" "$T/oss-$kind.log" openssl s_server -accept "127.0.0.1:$PORT" \
        -cert "$T/$kind.crt" -key "$T/$kind.key" -tls1_3 -www && {
        timeout 60 "$HO_BIN" get -v "https://localhost:$PORT/" --cafile "$T/$kind.crt" \
            >"$T/get-oss-$kind.out" 2>"$T/get-oss-$kind.err" </dev/null
        check "get vs openssl s_server, $kind certificate" "$T/get-oss-$kind.out" "Shared Signature Algorithms"
        stop_bg "$BG_PID"
    } || fail "start openssl s_server ($kind)"
    # handoff get against gnutls-serv
    free_port && start_bg "$PORT" "$T/gs-$kind.log" gnutls-serv --port "$PORT" \
        --x509certfile="$T/$kind.crt" --x509keyfile="$T/$kind.key" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+SIGN-RSA-PSS-SHA256:+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-EDDSA-ED25519' \
        --http && {
        timeout 60 "$HO_BIN" get -v "https://localhost:$PORT/" --cafile "$T/$kind.crt" \
            >"$T/get-gs-$kind.out" 2>"$T/get-gs-$kind.err" </dev/null
        check "get vs gnutls-serv, $kind certificate" "$T/get-gs-$kind.out" "GnuTLS"
        stop_bg "$BG_PID"
    } || fail "start gnutls-serv ($kind)"
done

# handoff serve with an RSA-PSS (id-RSASSA-PSS) key, to openssl s_client and gnutls-cli: it signs
# with rsa_pss_pss_sha256 (RFC 8446 §4.2.3).
if serve_handoff rsapss --cert "$T/rsapss.crt" --key "$T/rsapss.key"; then
    printf "$REQ" | timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -sigalgs rsa_pss_pss_sha256 -CAfile "$T/rsapss.crt" -verify_return_error -brief -ign_eof \
        >"$T/sc-pss.out" 2>"$T/sc-pss.err"
    check "openssl s_client (offering only rsa_pss_pss_sha256) vs serve, RSA-PSS key" "$T/sc-pss.err" \
        "Signature type: RSA-PSS" "Verification: OK"
    check "openssl s_client vs serve, RSA-PSS key: response" "$T/sc-pss.out" "HTTP/1.1 200"
    printf "$REQ" | timeout 60 gnutls-cli --port "$PORT" --x509cafile "$T/rsapss.crt" localhost \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+SIGN-RSA-PSS-SHA256' >"$T/gc-pss.out" 2>&1
    check "gnutls-cli vs serve, RSA-PSS key" "$T/gc-pss.out" "(RSA-PSS-SHA256)" "Handshake was completed"
    stop_bg "$SRV_PID"
else
    fail "serve with an RSA-PSS key"
fi

# handoff serve with an Ed25519 certificate, to openssl s_client and gnutls-cli.
if serve_handoff ed25519 --cert "$T/ed25519.crt" --key "$T/ed25519.key"; then
    printf "$REQ" | timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$T/ed25519.crt" -verify_return_error -brief -ign_eof >"$T/sc-ed.out" 2>"$T/sc-ed.err"
    check "openssl s_client vs serve, Ed25519 certificate" "$T/sc-ed.err" "Signature type: ed25519" "Verification: OK"
    check "openssl s_client vs serve, Ed25519: response" "$T/sc-ed.out" "HTTP/1.1 200"
    printf "$REQ" | timeout 60 gnutls-cli --port "$PORT" --x509cafile "$T/ed25519.crt" localhost \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+SIGN-EDDSA-ED25519' >"$T/gc-ed.out" 2>&1
    # (gnutls-cli may close before the response arrives: the handshake is what is checked)
    check "gnutls-cli vs serve, Ed25519 certificate" "$T/gc-ed.out" "(EdDSA-Ed25519)" "Handshake was completed"
    stop_bg "$SRV_PID"
else
    fail "serve with an Ed25519 certificate"
fi

finish
