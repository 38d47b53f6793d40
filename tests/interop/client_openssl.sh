#!/usr/bin/env bash
# Our client (`handoff get`) against OpenSSL's server (`openssl s_server -tls1_3 -www`):
# every suite x group x certificate, HelloRetryRequest, resumption, KeyUpdate, and
# certificate verification failures.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl
need_rsa_cert
gen_ec_cert
gen_cert other other.example "DNS:other.example"

# s_server NAME ARGS...: `openssl s_server -www` on a free port with $CRT/$KEY; sets PORT,
# SRV_PID, SRV_LOG.
s_server() {
    local name=$1
    shift
    free_port || return 1
    SRV_LOG=$T/$name.srv.log
    start_bg "$PORT" "$SRV_LOG" openssl s_server -accept "127.0.0.1:$PORT" -cert "$CRT" -key "$KEY" \
        -tls1_3 -www "$@" || return 1
    SRV_PID=$BG_PID
}

# get NAME URL ARGS...: `handoff get -v URL ARGS` -> $T/NAME.out (body), $T/NAME.err; sets RC.
get() {
    local name=$1 url=$2
    shift 2
    timeout 60 "$HO_BIN" get -v "$url" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
    RC=$?
}

# ok_get NAME: the last get succeeded.
ok_get() {
    if [ "$RC" -eq 0 ]; then
        pass "$1: exit 0"
    else
        fail "$1: handoff get exited $RC"
        show "$T/$1.err"
    fi
}

# refused NAME ALERT: the last get failed with exit 1 and named ALERT.
refused() {
    if [ "$RC" -eq 1 ] && has "$T/$1.err" "$2"; then
        pass "$1: refused with $2"
    else
        fail "$1: expected exit 1 naming $2, got exit $RC"
        show "$T/$1.err" "$T/$1.out"
    fi
}

# ---- suite x group x certificate ---------------------------------------------------------
for kind in ec rsa; do
    cert_files "$kind"
    for suite in "${SUITES[@]}"; do
        for group in "${HO_GROUP_LIST[@]}"; do
            n="$kind $suite $group"
            m=m-$kind-$suite-$group
            if ! s_server "$m" -ciphersuites "$suite" -groups "$group"; then
                fail "$n: start s_server"
                continue
            fi
            get "$m" "https://localhost:$PORT/" --cafile "$CRT" --groups "$group"
            ok_get "$n"
            check "$n: negotiated" "$T/$m.err" "suite: $suite" "group: $(group_name "$group")" \
                "resumed: no" "hrr: no"
            check "$n: s_server page" "$T/$m.out" "Ciphers supported in s_server binary" \
                "New, TLSv1.3, Cipher is $suite"
            stop_bg "$SRV_PID"
        done
    done
done

cert_files ec

# ---- HelloRetryRequest: s_server takes only P-256, we share X25519 first --------------------
if s_server hrr -groups P-256; then
    get hrr "https://localhost:$PORT/" --cafile "$CRT" --groups X25519,P-256
    ok_get hrr
    check "hrr: negotiated after a retry" "$T/hrr.err" "group: secp256r1" "hrr: yes"
    check "hrr: s_server page" "$T/hrr.out" "New, TLSv1.3"
    stop_bg "$SRV_PID"
else
    fail "hrr: start s_server"
fi

# ---- resumption ----------------------------------------------------------------------------
if s_server resume; then
    get resume1 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess"
    ok_get resume1
    check "resumption: first is full" "$T/resume1.err" "resumed: no"
    if [ -s "$T/sess" ]; then
        pass "resumption: ticket stored"
    else
        fail "resumption: no session stored in --resume file"
    fi
    get resume2 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess"
    ok_get resume2
    check "resumption: second resumed" "$T/resume2.err" "resumed: yes"
    check "resumption: s_server reused" "$T/resume2.out" "Reused, TLSv1.3"
    stop_bg "$SRV_PID"
else
    fail "resumption: start s_server"
fi
# ... and with a retry on top (the PSK binder then covers the second ClientHello).
if s_server resume-hrr -groups P-256; then
    get resume-hrr1 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess-hrr" --groups X25519,P-256
    get resume-hrr2 "https://localhost:$PORT/" --cafile "$CRT" --resume "$T/sess-hrr" --groups X25519,P-256
    ok_get resume-hrr2
    check "resumption after a retry" "$T/resume-hrr2.err" "resumed: yes" "hrr: yes"
    check "resumption after a retry: s_server reused" "$T/resume-hrr2.out" "Reused, TLSv1.3"
    stop_bg "$SRV_PID"
else
    fail "resumption with retry: start s_server"
fi

# ---- ALPN --------------------------------------------------------------------------------
if s_server alpn -alpn http/1.1; then
    get alpn "https://localhost:$PORT/" --cafile "$CRT" --alpn h2,http/1.1
    ok_get alpn
    check "alpn: http/1.1 selected" "$T/alpn.err" "alpn: http/1.1"
    stop_bg "$SRV_PID"
else
    fail "alpn: start s_server"
fi

# ---- KeyUpdate -----------------------------------------------------------------------------
# --key-update sends KeyUpdate(update_requested); s_server must answer with its own before
# the page. -msg makes s_server log the messages.
if s_server keyupdate -msg; then
    get keyupdate "https://localhost:$PORT/" --cafile "$CRT" --key-update
    ok_get keyupdate
    check "key update: reported" "$T/keyupdate.err" "key-update: sent"
    check "key update: page after the update" "$T/keyupdate.out" "New, TLSv1.3"
    stop_bg "$SRV_PID"   # flushes its log
    if grep -q '^<<< .*KeyUpdate' "$SRV_LOG" && grep -q '^>>> .*KeyUpdate' "$SRV_LOG"; then
        pass "key update: s_server received one and answered"
    else
        fail "key update: s_server -msg shows no KeyUpdate received and sent"
        show "$SRV_LOG"
    fi
else
    fail "key update: start s_server"
fi

# ---- certificate verification --------------------------------------------------------------
cert_files rsa   # CN=localhost and no subjectAltName
if s_server verify-rsa; then
    get rsa-by-name "https://localhost:$PORT/" --cafile "$CRT"
    ok_get rsa-by-name
    get name-mismatch-ip "https://127.0.0.1:$PORT/" --cafile "$CRT"
    refused name-mismatch-ip bad_certificate
    get untrusted-other-ca "https://localhost:$PORT/" --cafile "$T/ec.crt"
    refused untrusted-other-ca unknown_ca
    get untrusted-system "https://localhost:$PORT/"
    refused untrusted-system unknown_ca
    get insecure "https://127.0.0.1:$PORT/" --insecure
    ok_get insecure
    stop_bg "$SRV_PID"
else
    fail "verification: start s_server"
fi
CRT=$T/other.crt KEY=$T/other.key   # CN=other.example, SAN DNS:other.example
if s_server verify-other; then
    get name-mismatch-dns "https://localhost:$PORT/" --cafile "$CRT"
    refused name-mismatch-dns bad_certificate
    stop_bg "$SRV_PID"
else
    fail "verification (other.example): start s_server"
fi

finish
