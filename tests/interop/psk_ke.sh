#!/usr/bin/env bash
# Resumption without (EC)DHE, psk_ke (RFC 8446 §4.2.9), opt-in with --psk-ke on both sides
# (issue 10 item 11), against OpenSSL (-allow_no_dhe_kex) and GnuTLS (+PSK in the priority),
# both ways: the resumed handshake has no key exchange (no group). Without the option, the
# same peers resume with (EC)DHE.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl gnutls-cli gnutls-serv
gen_ec_cert
cert_files ec
REQ='GET / HTTP/1.0\r\n\r\n'
GPRIO='NORMAL:-VERS-ALL:+VERS-TLS1.3:+PSK'
# gnutls-cli asks for an external PSK when +PSK is in its priority; give it one it never uses.
GPSK=(--pskusername=nobody --pskkey=00112233445566778899aabbccddeeff)

# get_twice NAME ARGS...: two `handoff get -v --resume` runs; $T/NAME.1.err, $T/NAME.2.err.
get_twice() {
    local name=$1 i
    shift
    rm -f "$T/$name.sess"
    for i in 1 2; do
        timeout 60 "$HO_BIN" get -v "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/$name.sess" "$@" \
            >"$T/$name.$i.out" 2>"$T/$name.$i.err" </dev/null
    done
}

# ---- our client ----------------------------------------------------------------------------
for peer in openssl gnutls; do
    for mode in psk_ke dhe; do
        n="get vs $peer, $mode"
        free_port || continue
        if [ "$peer" = openssl ]; then
            start_bg "$PORT" "$T/s-$peer-$mode.log" openssl s_server -accept "127.0.0.1:$PORT" -cert "$CRT" \
                -key "$KEY" -tls1_3 -www -allow_no_dhe_kex || { fail "$n: start s_server"; continue; }
        else
            prio=$GPRIO
            [ "$mode" = dhe ] && prio='NORMAL:-VERS-ALL:+VERS-TLS1.3'
            start_bg "$PORT" "$T/s-$peer-$mode.log" gnutls-serv --port "$PORT" --x509certfile="$CRT" \
                --x509keyfile="$KEY" --http --priority "$prio" || { fail "$n: start gnutls-serv"; continue; }
        fi
        args=()
        [ "$mode" = psk_ke ] && args=(--psk-ke)
        get_twice "$peer-$mode" "${args[@]}"
        check "$n: first handshake, full" "$T/$peer-$mode.1.err" "resumed: no" "group: x25519"
        if [ "$mode" = psk_ke ]; then
            check "$n: resumed without a key exchange" "$T/$peer-$mode.2.err" "resumed: yes" "group: none"
        else
            check "$n: resumed with (EC)DHE" "$T/$peer-$mode.2.err" "resumed: yes" "group: x25519"
        fi
        stop_bg "$BG_PID"
    done
done

# ---- our server ----------------------------------------------------------------------------
for mode in psk_ke dhe; do
    args=()
    [ "$mode" = psk_ke ] && args=(--psk-ke)
    serve_handoff "serve-$mode" --cert "$CRT" --key "$KEY" "${args[@]}" || { fail "serve $mode: start"; continue; }
    rm -f "$T/o.sess"
    printf "$REQ" | timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$CRT" -allow_no_dhe_kex -sess_out "$T/o.sess" -ign_eof >"$T/o-$mode.1" 2>&1
    printf "$REQ" | timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -tls1_3 \
        -CAfile "$CRT" -allow_no_dhe_kex -sess_in "$T/o.sess" -ign_eof >"$T/o-$mode.2" 2>&1
    check "openssl s_client vs serve $mode: resumed" "$T/o-$mode.2" "Reused, TLSv1.3" "HTTP/1.1 200"
    echo | timeout 60 gnutls-cli -p "$PORT" --x509cafile "$CRT" localhost -r --priority "$GPRIO" "${GPSK[@]}" \
        >"$T/g-$mode" 2>&1
    # gnutls-cli with +PSK offers psk_ke alone: resumed only when we allow it (§4.2.9: never a
    # mode the client did not list), else a full handshake.
    if [ "$mode" = psk_ke ]; then
        check "gnutls-cli vs serve psk_ke: resumed" "$T/g-$mode" "*** This is a resumed session"
    else
        check "gnutls-cli (psk_ke only) vs serve without --psk-ke: full handshakes" "$T/g-$mode" \
            "(TLS1.3-X.509)-(ECDHE-X25519)-"
        check_not "gnutls-cli (psk_ke only) vs serve without --psk-ke: not resumed" "$T/g-$mode" \
            "*** This is a resumed session"
    fi
    # The log gets a line per finished handshake: poll (bounded) until all four are in.
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'handshake_done' "$SRV_LOG")" -ge 4 ] && break
        sleep 0.1
    done
    n=$(grep -c 'group=- alpn=- resumed=1' "$SRV_LOG")
    if [ "$mode" = psk_ke ]; then
        [ "$n" = 2 ] && pass "serve psk_ke: both resumptions without a key exchange" ||
            { fail "serve psk_ke: $n resumptions without a key exchange, want 2"; show "$SRV_LOG"; }
        check "gnutls-cli vs serve psk_ke: no group" "$T/g-$mode" "(TLS1.3-X.509)--(AES-"
        check_not "openssl s_client vs serve psk_ke: no key share" "$T/o-$mode.2" "Server Temp Key"
    else
        [ "$n" = 0 ] && pass "serve without --psk-ke: resumptions use (EC)DHE" ||
            { fail "serve without --psk-ke: $n resumptions without a key exchange"; show "$SRV_LOG"; }
    fi
    stop_bg "$SRV_PID"
done

finish
