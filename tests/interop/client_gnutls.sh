#!/usr/bin/env bash
# Our client (`handoff get`) against GnuTLS's server (`gnutls-serv --http`): every suite x
# group x certificate, HelloRetryRequest, resumption, KeyUpdate.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools gnutls-serv openssl
need_rsa_cert
gen_ec_cert

TLS13='NORMAL:-VERS-ALL:+VERS-TLS1.3'

# gserv NAME PRIORITY ARGS...: gnutls-serv --http on a free port (it binds every address)
# with $CRT/$KEY; sets PORT, SRV_PID, SRV_LOG. Its log is complete only after stop_bg.
gserv() {
    local name=$1 prio=$2
    shift 2
    free_port || return 1
    SRV_LOG=$T/$name.srv.log
    start_bg "$PORT" "$SRV_LOG" gnutls-serv --port "$PORT" --x509certfile="$CRT" --x509keyfile="$KEY" \
        --priority "$prio" --http "$@" || return 1
    SRV_PID=$BG_PID
}

# get NAME ARGS...: `handoff get -v https://localhost:$PORT/ --cafile $CRT ARGS`
# -> $T/NAME.out, $T/NAME.err; sets RC.
get() {
    local name=$1
    shift
    timeout 60 "$HO_BIN" get -v "https://localhost:$PORT/" --cafile "$CRT" "$@" \
        >"$T/$name.out" 2>"$T/$name.err" </dev/null
    RC=$?
}

ok_get() {
    if [ "$RC" -eq 0 ]; then
        pass "$1: exit 0"
    else
        fail "$1: handoff get exited $RC"
        show "$T/$1.err"
    fi
}

gcipher() {
    case $1 in
        TLS_AES_128_GCM_SHA256) echo AES-128-GCM ;;
        TLS_AES_256_GCM_SHA384) echo AES-256-GCM ;;
        TLS_CHACHA20_POLY1305_SHA256) echo CHACHA20-POLY1305 ;;
    esac
}
ggroup() {
    case $1 in
        X25519) echo X25519 ;;
        P-256) echo SECP256R1 ;;
    esac
}

# ---- suite x group x certificate ---------------------------------------------------------
for kind in ec rsa; do
    cert_files "$kind"
    case $kind in ec) sig=ECDSA-SECP256R1-SHA256 ;; rsa) sig=RSA-PSS-RSAE-SHA256 ;; esac
    for suite in "${SUITES[@]}"; do
        for group in "${HO_GROUP_LIST[@]}"; do
            n="$kind $suite $group"
            m=m-$kind-$suite-$group
            c=$(gcipher "$suite") g=$(ggroup "$group")
            if ! gserv "$m" "$TLS13:-CIPHER-ALL:+$c:-GROUP-ALL:+GROUP-$g"; then
                fail "$n: start gnutls-serv"
                continue
            fi
            get "$m" --groups "$group"
            ok_get "$m"
            check "$n: negotiated" "$T/$m.err" "suite: $suite" "group: $(group_name "$group")" \
                "resumed: no" "hrr: no"
            check "$n: gnutls-serv page" "$T/$m.out" "GnuTLS" \
                "(TLS1.3-X.509)-(ECDHE-$g)-($sig)-($c)"
            stop_bg "$SRV_PID"
        done
    done
done

cert_files ec

# ---- HelloRetryRequest: gnutls-serv takes only P-256, we share X25519 first ------------------
if gserv hrr "$TLS13:-GROUP-ALL:+GROUP-SECP256R1"; then
    get hrr --groups X25519,P-256
    ok_get hrr
    check "hrr: negotiated after a retry" "$T/hrr.err" "group: secp256r1" "hrr: yes"
    check "hrr: gnutls-serv page" "$T/hrr.out" "(TLS1.3-X.509)-(ECDHE-SECP256R1)-"
    stop_bg "$SRV_PID"
else
    fail "hrr: start gnutls-serv"
fi

# ---- resumption ----------------------------------------------------------------------------
if gserv resume "$TLS13"; then
    get resume1 --resume "$T/sess"
    ok_get resume1
    check "resumption: first is full" "$T/resume1.err" "resumed: no"
    get resume2 --resume "$T/sess"
    ok_get resume2
    check "resumption: second resumed" "$T/resume2.err" "resumed: yes"
    check "resumption: page" "$T/resume2.out" "GnuTLS"
    stop_bg "$SRV_PID"
    if [ "$(grep -c '^\*\*\* This is a resumed session' "$SRV_LOG")" -eq 1 ]; then
        pass "resumption: gnutls-serv resumed exactly the second"
    else
        fail "resumption: gnutls-serv log should show one resumed session"
        show "$SRV_LOG"
    fi
else
    fail "resumption: start gnutls-serv"
fi

# Resumption after a retry: the binder covers the second ClientHello.
if gserv resume-hrr "$TLS13:-GROUP-ALL:+GROUP-SECP256R1"; then
    get resume-hrr1 --resume "$T/sess-hrr" --groups X25519,P-256
    get resume-hrr2 --resume "$T/sess-hrr" --groups X25519,P-256
    ok_get resume-hrr2
    check "resumption after a retry" "$T/resume-hrr2.err" "resumed: yes" "hrr: yes"
    stop_bg "$SRV_PID"
else
    fail "resumption with retry: start gnutls-serv"
fi

# ---- KeyUpdate -----------------------------------------------------------------------------
if gserv keyupdate "$TLS13" -d 4; then
    get keyupdate --key-update
    ok_get keyupdate
    check "key update: reported" "$T/keyupdate.err" "key-update: sent"
    check "key update: page after the update" "$T/keyupdate.out" "GnuTLS"
    stop_bg "$SRV_PID"
    check "key update: gnutls-serv received update_requested and answered" "$SRV_LOG" \
        "received TLS 1.3 key update (1)" "sending key update (0)"
else
    fail "key update: start gnutls-serv"
fi

finish
