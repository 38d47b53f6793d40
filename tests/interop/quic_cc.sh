#!/usr/bin/env bash
# --cc on `handoff serve` and `handoff get --h3` (docs/QUIC.md "Congestion controllers you plug
# in"): the server's QUIC connections and the client's run the controller named (cubic, the
# default, or newreno). The client reports the one that ran (`get -v`: congestion-control),
# the server names its own on the listening line; a 300 kB body arrives byte-exact with either.
# A name that is not a controller is refused at once, exit status 2, on both.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools cmp head
gen_ec_cert
mkdir -p "$T/root"
head -c 300000 /dev/urandom >"$T/root/blob"

serve_handoff cc --cert "$T/ec.crt" --key "$T/ec.key" --root "$T/root" --cc newreno || finish
wait_udp "$PORT" "$SRV_PID" || { fail "serve did not bind UDP $PORT"; show "$SRV_LOG"; finish; }
wait_log "$SRV_LOG" "congestion control newreno" &&
    pass "serve --cc newreno: the listening line names it" ||
    { fail "serve --cc newreno: not on the listening line"; show "$SRV_LOG"; }

for cc in newreno cubic default; do
    args=()
    [ "$cc" != default ] && args=(--cc "$cc")
    want=$cc
    [ "$cc" = default ] && want=cubic
    timeout 60 "$HO_BIN" get --h3 -v "${args[@]}" --cafile "$T/ec.crt" "https://127.0.0.1:$PORT/blob" \
        >"$T/$cc.body" 2>"$T/$cc.err"
    rc=$?
    if [ "$rc" -eq 0 ] && cmp -s "$T/$cc.body" "$T/root/blob" && has "$T/$cc.err" "congestion-control: $want"; then
        pass "get --h3 ${args[*]:-(no --cc)}: 300000 bytes byte-exact, congestion-control: $want"
    else
        fail "get --h3 ${args[*]:-(no --cc)}: exit $rc, $(grep congestion-control "$T/$cc.err")"
        show "$T/$cc.err"
    fi
done
stop_bg "$SRV_PID"

timeout 30 "$HO_BIN" get --h3 --cc bbr9 "https://127.0.0.1:$PORT/" >/dev/null 2>"$T/bad.err"
rc=$?
[ "$rc" -eq 2 ] && has "$T/bad.err" "--cc" && pass "get --cc bbr9: refused, exit 2" ||
    { fail "get --cc bbr9: exit $rc"; show "$T/bad.err"; }
timeout 30 "$HO_BIN" serve --port 0 --tls-port 0 --http-port 0 --cc bbr9 >/dev/null 2>"$T/sbad.err" </dev/null
rc=$?
[ "$rc" -eq 2 ] && has "$T/sbad.err" "--cc" && pass "serve --cc bbr9: refused, exit 2" ||
    { fail "serve --cc bbr9: exit $rc"; show "$T/sbad.err"; }
finish
