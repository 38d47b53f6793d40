#!/usr/bin/env bash
# QUIC version 2 (RFC 9369) and compatible version negotiation (RFC 9368) between `handoff get
# --h3` and `handoff serve`: a server preferring v2 moves a client that starts in v1 (and lists
# v2) to v2, a client starting in v2 stays there, a default server keeps the client's v1; each
# body byte-identical to the file. ngtcp2's gtlsclient (0.12: QUIC v1, and only the v2 *draft*
# version, not RFC 9369's) still gets version 1 from the v2-preferring server. A client starting
# in v2 falls back to v1 by Version Negotiation, against our v1-only server and gtlsserver.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

if ! command -v gtlsclient >/dev/null 2>&1; then
    fail "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert
STATIC=$HO_TESTDATA/arena/static

# ours TAG WANT_VERSION GET_ARGS...: get --h3 -v /static/app.js, body and negotiated version.
ours() {
    local tag=$1 want=$2
    shift 2
    timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/ec.crt" "$@" "https://127.0.0.1:$HTTPS_PORT/static/app.js" \
        >"$T/$tag.body" 2>"$T/$tag.err"
    verdict "$tag: body byte-identical" "$tag: get --h3 failed or the body differs" \
        cmp -s "$T/$tag.body" "$STATIC/app.js"
    check "$tag: QUIC version $want" "$T/$tag.err" "quic-version: $want"
}

serve3 v2pref --cert "$T/ec.crt" --key "$T/ec.key" --static "$STATIC" --quic-versions v2,v1 ||
    { fail "v2pref: server did not start"; finish; }
ours v1-to-v2 0x6b3343cf --quic-versions v1,v2
ours v2-start 0x6b3343cf --quic-versions v2,v1
ours v1-default-get 0x6b3343cf
mkdir -p "$T/gtls"
if timeout 30 gtlsclient --exit-on-all-streams-close --download="$T/gtls" 127.0.0.1 "$HTTPS_PORT" \
    "https://127.0.0.1:$HTTPS_PORT/static/app.js" >"$T/gtls.log" 2>&1; then
    pass "gtlsclient (v1 only) against a v2-preferring server: exit 0"
else
    fail "gtlsclient against a v2-preferring server failed"
    show "$T/gtls.log" "$SRV_LOG"
fi
verdict "gtlsclient: body byte-identical" "gtlsclient: body differs" cmp -s "$T/gtls/app.js" "$STATIC/app.js"
# Its long headers (ngtcp2's verbose packet log) carry version 1, never RFC 9369's v2.
if grep 'pkt rx' "$T/gtls.log" | grep -q 'version=0x00000001'; then
    pass "gtlsclient: received version 1 long headers"
else
    fail "gtlsclient: no version 1 long header received"
fi
if grep -q "0x6b3343cf" "$T/gtls.log"; then fail "gtlsclient saw version 2"; else pass "gtlsclient never saw version 2"; fi
end_server v2pref

# RFC 9368 §4: a client starting in v2 against a v1-only server draws Version Negotiation
# and completes in v1 with a new first flight (its version_information names v1).
serve3 v1only --cert "$T/ec.crt" --key "$T/ec.key" --static "$STATIC" --quic-versions v1 ||
    { fail "v1only: server did not start"; finish; }
ours vn-to-v1 0x00000001 --quic-versions v2,v1
check "vn-to-v1: Version Negotiation followed" "$T/vn-to-v1.err" "version-negotiation: yes"
end_server v1only

# The same against ngtcp2's gtlsserver, which does not know RFC 9369's v2 and answers VN.
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
else
    mkdir -p "$T/htdocs"
    free_port
    timeout -k 5 60 "$GTLSSERVER" 127.0.0.1 "$PORT" "$T/ec.key" "$T/ec.crt" -d "$T/htdocs" -q \
        >"$T/gtlsserver.log" 2>&1 </dev/null &
    GTLS_PID=$!
    BG_PIDS+=("$GTLS_PID")
    if wait_udp "$PORT" "$GTLS_PID"; then
        timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/ec.crt" --quic-versions v2,v1 \
            "https://127.0.0.1:$PORT/5000" >"$T/gvn.body" 2>"$T/gvn.err"
        got=$(wc -c <"$T/gvn.body")
        if [ "$got" -eq 5000 ]; then
            pass "gtlsserver: a v2-first client falls back to v1 by VN, 5000 bytes"
        else
            fail "gtlsserver: v2-first client got $got bytes (want 5000)"
            show "$T/gvn.err" "$T/gtlsserver.log"
        fi
        check "gtlsserver: Version Negotiation followed" "$T/gvn.err" "version-negotiation: yes"
        check "gtlsserver: completed in version 1" "$T/gvn.err" "quic-version: 0x00000001"
    else
        fail "gtlsserver did not bind UDP port $PORT"
        show "$T/gtlsserver.log"
    fi
    stop_bg "$GTLS_PID"
fi

serve3 default --cert "$T/ec.crt" --key "$T/ec.key" --static "$STATIC" ||
    { fail "default: server did not start"; finish; }
ours default-server-v1 0x00000001 --quic-versions v1,v2
ours default-server-v2 0x6b3343cf --quic-versions v2,v1
end_server default
finish
