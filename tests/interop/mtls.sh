#!/usr/bin/env bash
# Client certificates (mutual TLS, issue 14 item 2), both ways, over TCP and QUIC.
#   serve --client-ca: openssl s_client -cert/-key and gnutls-cli --x509certfile/--x509keyfile
#     are served and named (GET /whoami, the handshake_done log line); a client without a
#     certificate gets certificate_required, one from another CA unknown_ca, an expired one
#     certificate_expired (seen by openssl); optional mode serves a client without one.
#   get --cert/--key against openssl s_server -Verify 1 and gnutls-serv --require-client-cert
#     (their pages name the certificate); without --cert both refuse with certificate_required.
#   QUIC: get --h3 --cert/--key and gtlsclient --cert/--key against serve --client-ca.
#   The counters of client certificates verified / refused, TCP and QUIC, at /metrics.
# Certificates: $HO_TESTDATA/mtls (scripts/gen-testdata.sh).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl gnutls-cli gnutls-serv gtlsclient curl
gen_ec_cert
cert_files ec
M=$HO_TESTDATA/mtls
for f in client-ca.crt client.crt client.key other.crt other.key expired.crt expired.key; do
    [ -r "$M/$f" ] || { fail "test data missing: $M/$f (scripts/gen-testdata.sh)"; finish; }
done
WHO='GET /whoami HTTP/1.0\r\n\r\n'

# s_client NAME ARGS...: one request for /whoami through openssl s_client; $T/NAME.out.
s_client() {
    local name=$1
    shift
    printf "$WHO" | timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$CRT" -ign_eof "$@" >"$T/$name.out" 2>&1
}

# gnutls_who NAME ARGS...: gnutls-cli, the request sent once the handshake is done and the
# connection held until the response is in (gnutls-cli closes at the end of its input).
gnutls_who() {
    local name=$1
    shift
    talk "$T/$name.out" "$T/$name.out" timeout 60 gnutls-cli -p "$PORT" --x509cafile "$CRT" \
        --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3' "$@" localhost
    wait_log "$T/$name.out" "Simple Client Mode" 30 || wait_log "$T/$name.out" "Handshake was completed" 1
    tell "$WHO"
    wait_log "$T/$name.out" "HTTP/1.1" 30
    hangup
}

# metric NAME: the sum over threads of a counter at /metrics.
metric() {
    timeout 30 curl -s --max-time 20 "http://127.0.0.1:$MPORT/metrics" |
        awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}
# wait_metric NAME VALUE: bounded poll (30 s) until the counter has VALUE.
wait_metric() {
    local i
    for ((i = 0; i < 300; i++)); do
        [ "$(metric "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
# check_metric NAME VALUE: the counter reaches VALUE.
check_metric() {
    if wait_metric "$1" "$2"; then pass "metrics: $1 = $2"; else fail "metrics: $1 = $(metric "$1"), want $2"; fi
}

# ---- our server, required (the default with --client-ca) ---------------------------------
free_port
MPORT=$PORT
if serve_handoff req --cert "$CRT" --key "$KEY" --client-ca "$M/client-ca.crt" --metrics "127.0.0.1:$MPORT"; then
    s_client sc-good -cert "$M/client.crt" -key "$M/client.key"
    check "openssl s_client -cert vs serve --client-ca: served, subject seen by the handler" \
        "$T/sc-good.out" "HTTP/1.1 200" "CN=alice"
    s_client sc-none
    check "openssl s_client without a certificate: certificate_required" "$T/sc-none.out" \
        "alert certificate required" "SSL alert number 116"
    check_not "openssl s_client without a certificate: not served" "$T/sc-none.out" "HTTP/1.1 200"
    s_client sc-other -cert "$M/other.crt" -key "$M/other.key"
    check "openssl s_client, certificate from another CA: unknown_ca" "$T/sc-other.out" \
        "alert unknown ca" "SSL alert number 48"
    s_client sc-expired -cert "$M/expired.crt" -key "$M/expired.key"
    check "openssl s_client, expired certificate: certificate_expired" "$T/sc-expired.out" \
        "alert certificate expired" "SSL alert number 45"

    gnutls_who gc-good --x509certfile "$M/client.crt" --x509keyfile "$M/client.key"
    check "gnutls-cli --x509certfile vs serve --client-ca: served, subject seen by the handler" \
        "$T/gc-good.out" "Handshake was completed" "HTTP/1.1 200" "CN=alice"
    echo | timeout 60 gnutls-cli -p "$PORT" --x509cafile "$CRT" localhost >"$T/gc-none.out" 2>&1
    check "gnutls-cli without a certificate: certificate_required" "$T/gc-none.out" "Received alert [116]"

    # The server's log names the verified client on each handshake it completed.
    wait_count "$SRV_LOG" "client=O=handoff tests,CN=alice" 2 30
    check "serve log: handshakes name the client" "$SRV_LOG" "client=O=handoff tests,CN=alice"

    # ---- QUIC / HTTP/3 on the same port -------------------------------------------------
    if wait_udp "$PORT" "$SRV_PID"; then
        timeout 60 "$HO_BIN" get --h3 "https://localhost:$PORT/whoami" --cafile "$CRT" \
            --cert "$M/client.crt" --key "$M/client.key" >"$T/h3-good.out" 2>"$T/h3-good.err"
        check "get --h3 --cert vs serve --client-ca: subject over HTTP/3" "$T/h3-good.out" "CN=alice"
        timeout 60 "$HO_BIN" get --h3 "https://localhost:$PORT/whoami" --cafile "$CRT" \
            >"$T/h3-none.out" 2>"$T/h3-none.err"
        check "get --h3 without a certificate: certificate_required in CONNECTION_CLOSE" "$T/h3-none.err" \
            "certificate_required"
        mkdir -p "$T/dl"
        timeout 60 gtlsclient -q --exit-on-all-streams-close --download="$T/dl" --cert="$M/client.crt" \
            --key="$M/client.key" 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/whoami" >"$T/gtls.log" 2>&1
        check "gtlsclient --cert vs serve --client-ca: subject over HTTP/3" "$T/dl/whoami" "CN=alice"
    else
        fail "serve --client-ca: no UDP socket on $PORT"
    fi
    timeout 60 "$HO_BIN" get "https://localhost:$PORT/whoami" --cafile "$CRT" \
        --cert "$M/client.crt" --key "$M/client.key" >"$T/get-self.out" 2>"$T/get-self.err"
    check "get --cert vs serve --client-ca (TCP)" "$T/get-self.out" "CN=alice"
    # Counted: over TCP s_client, gnutls-cli and get verified, four refused (none from
    # s_client and gnutls-cli, another CA, expired); over QUIC get --h3 and gtlsclient
    # verified, one refused (counted when the connection is freed, after its draining).
    check_metric handoff_tls_client_certs_verified_total 3
    check_metric handoff_tls_client_certs_refused_total 4
    check_metric handoff_quic_client_certs_verified_total 2
    check_metric handoff_quic_client_certs_refused_total 1
    stop_bg "$SRV_PID"
else
    fail "serve --client-ca: start"
fi

# ---- our server, optional ---------------------------------------------------------------
if serve_handoff opt --cert "$CRT" --key "$KEY" --client-ca "$M/client-ca.crt" --client-auth optional; then
    s_client so-none
    check "openssl s_client without a certificate vs --client-auth optional: served, no subject" \
        "$T/so-none.out" "HTTP/1.1 200" "none"
    s_client so-good -cert "$M/client.crt" -key "$M/client.key"
    check "openssl s_client -cert vs --client-auth optional: subject" "$T/so-good.out" "CN=alice"
    s_client so-other -cert "$M/other.crt" -key "$M/other.key"
    check "optional mode still refuses a certificate it cannot verify: unknown_ca" "$T/so-other.out" \
        "alert unknown ca"
    stop_bg "$SRV_PID"
else
    fail "serve --client-auth optional: start"
fi

# ---- our client -------------------------------------------------------------------------
free_port
if start_bg "$PORT" "$T/s_server.log" openssl s_server -accept "127.0.0.1:$PORT" -cert "$CRT" -key "$KEY" \
    -tls1_3 -www -Verify 1 -CAfile "$M/client-ca.crt"; then
    timeout 60 "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" --cert "$M/client.crt" \
        --key "$M/client.key" >"$T/g-ossl.out" 2>"$T/g-ossl.err"
    check "get --cert vs openssl s_server -Verify 1: s_server saw the certificate" "$T/g-ossl.out" \
        "Client certificate" "CN=alice"
    timeout 60 "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" >"$T/g-ossl-none.out" 2>"$T/g-ossl-none.err"
    check "get without --cert vs s_server -Verify 1: certificate_required" "$T/g-ossl-none.err" \
        "TLS alert received: certificate_required"
    stop_bg "$BG_PID"
else
    fail "openssl s_server -Verify: start"
fi

free_port
if start_bg "$PORT" "$T/gnutls-serv.log" gnutls-serv --port "$PORT" --x509certfile "$CRT" --x509keyfile "$KEY" \
    --http --require-client-cert --x509cafile "$M/client-ca.crt"; then
    timeout 60 "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" --cert "$M/client.crt" \
        --key "$M/client.key" >"$T/g-gnutls.out" 2>"$T/g-gnutls.err"
    check "get --cert vs gnutls-serv --require-client-cert: gnutls-serv saw the certificate" "$T/g-gnutls.out" \
        "O=handoff tests,CN=alice"
    timeout 60 "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" >"$T/g-gnutls-none.out" \
        2>"$T/g-gnutls-none.err"
    check "get without --cert vs gnutls-serv --require-client-cert: certificate_required" \
        "$T/g-gnutls-none.err" "TLS alert received: certificate_required"
    stop_bg "$BG_PID"
else
    fail "gnutls-serv --require-client-cert: start"
fi

finish
