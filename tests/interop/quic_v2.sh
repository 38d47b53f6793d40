#!/usr/bin/env bash
# QUIC version 2 (RFC 9369) and compatible version negotiation (RFC 9368) between `handoff get
# --h3` and `handoff serve`: a server preferring v2 moves a client that starts in v1 (and lists
# v2) to v2, a client starting in v2 stays there, a default server keeps the client's v1; each
# body byte-identical to the file. ngtcp2's gtlsclient (0.12: QUIC v1, and only the v2 *draft*
# version, not RFC 9369's) still gets version 1 from the v2-preferring server.
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

serve3 default --cert "$T/ec.crt" --key "$T/ec.key" --static "$STATIC" ||
    { fail "default: server did not start"; finish; }
ours default-server-v1 0x00000001 --quic-versions v1,v2
ours default-server-v2 0x6b3343cf --quic-versions v2,v1
end_server default
finish
