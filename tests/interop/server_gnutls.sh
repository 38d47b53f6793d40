#!/usr/bin/env bash
# Our server (`handoff serve`) against GnuTLS's client (gnutls-cli): every suite x group x
# certificate, HelloRetryRequest, resumption, KeyUpdate.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools gnutls-cli openssl
need_rsa_cert
gen_ec_cert

REQ='GET / HTTP/1.0\r\n\r\n'
TLS13='NORMAL:-VERS-ALL:+VERS-TLS1.3'

# gcli PRIORITY ARGS...: gnutls-cli to 127.0.0.1:$PORT as localhost, trusting $CRT.
gcli() {
    local prio=$1
    shift
    timeout 60 gnutls-cli --x509cafile="$CRT" --priority "$prio" -p "$PORT" "$@" localhost
}

# ask OUT MARK ARGS...: gcli ARGS with output in OUT; sends the request, waits (up to 60 s)
# until OUT shows MARK (gnutls-cli exits at the end of its input, so the input stays open
# until the response is in), then ends the input.
ask() {
    local out=$1 mark=$2
    shift 2
    talk "$out" "$out" gcli "$@"
    tell "$REQ"
    wait_log "$out" "$mark" 60
    hangup
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
    if ! serve_handoff "matrix-$kind" --cert "$CRT" --key "$KEY"; then
        fail "start handoff serve with the $kind certificate"
        continue
    fi
    for suite in "${SUITES[@]}"; do
        for group in "${HO_GROUP_LIST[@]}"; do
            n="$kind $suite $group"
            o=$T/m-$kind-$suite-$group
            c=$(gcipher "$suite") g=$(ggroup "$group")
            ask "$o.out" "<h1>handoff</h1>" "$TLS13:-CIPHER-ALL:+$c:-GROUP-ALL:+GROUP-$g"
            check "handshake $n" "$o.out" "- Status: The certificate is trusted." \
                "- Description: (TLS1.3-X.509)-(ECDHE-$g)-($sig)-($c)"
            check "response $n" "$o.out" "HTTP/1.1 200" "<h1>handoff</h1>"
        done
    done
    stop_bg "$SRV_PID"
done

cert_files ec

# ---- HelloRetryRequest -----------------------------------------------------------------------
# gnutls-cli sends two key shares: its first group and the next group of another key type
# (X25519/X448 versus the NIST curves). To make it guess wrong, its first two shares must be
# groups that our server (X25519, P-256 only) is not configured for:
#  - server P-256 only, client X25519 then P-384 then P-256: shares X25519+P-384 -> retry P-256
#  - server X25519 only, client P-256 then X448 then X25519: shares P-256+X448 -> retry X25519
hrr_case() {
    local name=$1 sgroup=$2 prio=$3 g=$4 cookie=${5:-}
    if ! serve_handoff "$name" --cert "$CRT" --key "$KEY" --groups "$sgroup" $cookie; then
        fail "$name: start server"
        return
    fi
    local o=$T/$name
    ask "$o.out" "<h1>handoff</h1>" "$TLS13:-GROUP-ALL:$prio" -d 4
    check "$name: client got a retry for $g" "$o.out" "HRR key share with $g"
    check "$name: handshake" "$o.out" "- Description: (TLS1.3-X.509)-(ECDHE-$g)-"
    check "$name: response" "$o.out" "<h1>handoff</h1>"
    check "$name: server saw a retry" "$SRV_LOG" "hrr=1"
    stop_bg "$SRV_PID"
}
hrr_case hrr-p256 P-256 '+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP256R1' SECP256R1
hrr_case hrr-x25519 X25519 '+GROUP-SECP256R1:+GROUP-X448:+GROUP-X25519' X25519
hrr_case hrr-cookie P-256 '+GROUP-X25519:+GROUP-SECP384R1:+GROUP-SECP256R1' SECP256R1 --hrr-cookie

# ---- resumption ----------------------------------------------------------------------------
# --resume: gnutls-cli connects, waits for a ticket, reconnects offering it, then sends stdin.
if serve_handoff resume --cert "$CRT" --key "$KEY"; then
    o=$T/resume
    ask "$o.out" "resumed: yes" "$TLS13" --resume
    check "resumption: resumed" "$o.out" "*** This is a resumed session"
    check "resumption: response" "$o.out" "resumed: yes"
    check "resumption: server log" "$SRV_LOG" "resumed=0" "resumed=1"
    stop_bg "$SRV_PID"
else
    fail "resumption: start server"
fi

# ---- KeyUpdate -----------------------------------------------------------------------------
# --inline-commands: ^rekey^ sends KeyUpdate(update_requested), ^rekey1^ update_not_requested.
if serve_handoff keyupdate --cert "$CRT" --key "$KEY"; then
    o=$T/keyupdate
    talk "$o.out" "$o.out" gcli "$TLS13" --inline-commands
    wait_log "$o.out" "- Handshake was completed" 60
    tell '^rekey^\n'
    wait_count "$o.out" "- Rekey was completed" 1 60
    tell '^rekey1^\n'
    wait_count "$o.out" "- Rekey was completed" 2 60
    tell "$REQ"
    wait_log "$o.out" "<h1>handoff</h1>" 60
    hangup
    if [ "$(grep -c -- '- Rekey was completed' "$o.out")" -eq 2 ]; then
        pass "key update: gnutls-cli completed two"
    else
        fail "key update: expected two '- Rekey was completed'"
        show "$o.out"
    fi
    check "key update: response after the updates" "$o.out" "<h1>handoff</h1>"
    check "key update: server read update_requested and answered" "$SRV_LOG" \
        "key_update a=1 b=0 read" "key_update a=0 b=1 write"
    check "key update: server read update_not_requested" "$SRV_LOG" "key_update a=0 b=0 read"
    stop_bg "$SRV_PID"
else
    fail "key update: start server"
fi

finish
