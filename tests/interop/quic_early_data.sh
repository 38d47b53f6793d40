#!/usr/bin/env bash
# 0-RTT over QUIC (RFC 9001 §4.6, RFC 9000 §7.4.1), issue 15 item 1:
#  - ngtcp2's gtlsclient --session-file S --tp-file T twice against `handoff serve --early-data`:
#    the second run sends its request in 0-RTT packets, which we accept (no "Early data was
#    rejected" from gtlsclient, our page says "early data: yes": answered before the handshake
#    completed), the counters show 0-RTT packets accepted;
#  - the first session again (a replay of that ticket): refused as early data (gtlsclient says
#    so, the counters count it replayed and its 0-RTT packets dropped), the request still
#    completes in 1-RTT ("early data: no");
#  - `handoff get --h3 --early-data --session-file F` against us: accepted, then the same
#    session again: rejected, the body still right;
#  - a forced reject: the server restarted without --early-data (same --ticket-keys, so the
#    ticket still resumes): rejected, completes in 1-RTT with the right body;
#  - with every handshake step on the offload pool (--offload always), 0-RTT is still
#    accepted (the 0-RTT packets after the ClientHello wait for the step);
#  - our get --h3 --early-data against gtlsserver: accepted (gtlsserver logs our 0-RTT
#    packets), the body byte-exact.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 gtlsclient openssl cmp
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
    finish
fi
gen_cert ed localhost "DNS:localhost,IP:127.0.0.1"
openssl rand -hex 32 >"$T/ticket.keys"

# gc NAME SESSION TP: one gtlsclient run of /?early (log NAME.log, body under NAME.d/).
gc() {
    rm -rf "$T/$1.d"
    mkdir -p "$T/$1.d"
    timeout 60 gtlsclient --exit-on-all-streams-close --timeout=30s --session-file="$2" --tp-file="$3" \
        --download="$T/$1.d" 127.0.0.1 "$HTTPS_PORT" "https://127.0.0.1:$HTTPS_PORT/?early" >"$T/$1.log" 2>&1
}
# body_has NAME STRING: the body gtlsclient downloaded in NAME contains STRING.
body_has() { cat "$T/$1.d"/* 2>/dev/null >"$T/$1.body"; has "$T/$1.body" "$2"; }
# hg NAME SESSION ARGS...: one `get --h3 -v` of /?early against us.
hg() {
    local name=$1 sess=$2
    shift 2
    timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/ed.crt" --timeout 30 --session-file "$sess" "$@" \
        "https://127.0.0.1:$HTTPS_PORT/?early" >"$T/$name.out" 2>"$T/$name.err"
}

if serve3 ed --cert "$T/ed.crt" --key "$T/ed.key" --early-data --ticket-keys "$T/ticket.keys"; then
    # ---- gtlsclient against us ----------------------------------------------------------------
    rm -f "$T/g.sess" "$T/g.tp"
    verdict "gtlsclient: first run completes" "gtlsclient: first run failed" gc g1 "$T/g.sess" "$T/g.tp"
    verdict "gtlsclient: session and transport parameters stored" "gtlsclient: no session/tp file" \
        test -s "$T/g.sess" -a -s "$T/g.tp"
    verdict "gtlsclient: first run answered in 1-RTT" "gtlsclient: first body wrong" body_has g1 "early data: no"
    cp "$T/g.sess" "$T/g0.sess"
    cp "$T/g.tp" "$T/g0.tp"
    counters "$T/c0.json"
    acc0=$(counter "$T/c0.json" quic_0rtt_accepted)
    verdict "gtlsclient: second run completes" "gtlsclient: second run failed" gc g2 "$T/g.sess" "$T/g.tp"
    check "gtlsclient: second run sends 0-RTT packets" "$T/g2.log" "type=0RTT"
    check_not "gtlsclient: its early data accepted" "$T/g2.log" "Early data was rejected"
    verdict "gtlsclient: answered before the handshake completed (early data: yes)" \
        "gtlsclient: second body does not say early data: yes" body_has g2 "early data: yes"
    counters "$T/c1.json"
    expect_counter "$T/c1.json" h3_early_accepted -ge 1
    expect_counter "$T/c1.json" quic_0rtt_accepted -gt "$acc0"
    expect_counter "$T/c1.json" quic_0rtt_dropped -eq 0
    # The first session again: its ticket was used for early data, so this is what a replay of
    # that ClientHello meets too: refused as early data, resumed and answered in 1-RTT.
    verdict "gtlsclient replay: completes" "gtlsclient replay: failed" gc g3 "$T/g0.sess" "$T/g0.tp"
    check "gtlsclient replay: sends 0-RTT, refused as early data" "$T/g3.log" "type=0RTT" \
        "Early data was rejected by server"
    verdict "gtlsclient replay: answered in 1-RTT (early data: no)" "gtlsclient replay: body wrong" \
        body_has g3 "early data: no"
    counters "$T/c2.json"
    expect_counter "$T/c2.json" h3_early_replayed -ge 1
    expect_counter "$T/c2.json" quic_0rtt_dropped -ge 1

    # ---- our client against us ----------------------------------------------------------------
    rm -f "$T/h.sess"
    verdict "get --h3: first run completes" "get --h3: first run failed" hg h1 "$T/h.sess"
    cp "$T/h.sess" "$T/h0.sess"
    verdict "get --h3 --early-data: completes" "get --h3 --early-data: failed" hg h2 "$T/h.sess" --early-data
    check "get --h3 --early-data: accepted, answered early" "$T/h2.err" "resumed: yes" "early-data: accepted"
    check "get --h3 --early-data: page says early data: yes" "$T/h2.out" "early data: yes"
    check_not "get --h3 --early-data: 0-RTT packets sent" "$T/h2.err" "0rtt-packets-sent: 0"
    verdict "get --h3 --early-data, same session again: completes" "get --h3 replay: failed" \
        hg h3 "$T/h0.sess" --early-data
    check "get --h3 replay: refused as early data, resumed in 1-RTT" "$T/h3.err" "resumed: yes" "early-data: rejected"
    check "get --h3 replay: answered in 1-RTT" "$T/h3.out" "early data: no"
    cp "$T/h.sess" "$T/h4.sess"
    counters "$T/c3.json"
    expect_counter "$T/c3.json" h3_early_accepted -ge 2
    expect_counter "$T/c3.json" h3_early_replayed -ge 2
    end_server ed
else
    fail "serve --early-data did not start"
fi

# ---- a forced reject: same ticket keys, early data off -------------------------------------------
if serve3 off --cert "$T/ed.crt" --key "$T/ed.key" --ticket-keys "$T/ticket.keys"; then
    verdict "early data off: get --h3 --early-data completes" "early data off: get failed" \
        hg h5 "$T/h4.sess" --early-data
    check "early data off: resumed, 0-RTT rejected" "$T/h5.err" "resumed: yes" "early-data: rejected"
    check_not "early data off: 0-RTT was sent" "$T/h5.err" "0rtt-packets-sent: 0"
    check "early data off: the body arrives in 1-RTT" "$T/h5.out" "early data: no" "</html>"
    counters "$T/c4.json"
    expect_counter "$T/c4.json" h3_early_rejected -ge 1
    expect_counter "$T/c4.json" quic_0rtt_accepted -eq 0
    expect_counter "$T/c4.json" quic_0rtt_dropped -ge 1
    end_server off
else
    fail "serve without --early-data did not start"
fi

# ---- every handshake step on the pool ---------------------------------------------------------
if serve3 pool --cert "$T/ed.crt" --key "$T/ed.key" --early-data --offload always --handshake-workers 2; then
    rm -f "$T/p.sess"
    verdict "offload always: first get completes" "offload always: first get failed" hg p1 "$T/p.sess"
    verdict "offload always: get --h3 --early-data completes" "offload always: get failed" \
        hg p2 "$T/p.sess" --early-data
    check "offload always: 0-RTT accepted, answered early" "$T/p2.err" "early-data: accepted"
    check "offload always: page says early data: yes" "$T/p2.out" "early data: yes"
    counters "$T/c5.json"
    expect_counter "$T/c5.json" quic_steps_offloaded -ge 2
    expect_counter "$T/c5.json" quic_0rtt_accepted -ge 1
    end_server pool
else
    fail "serve --offload always --early-data did not start"
fi

# ---- our client against gtlsserver ---------------------------------------------------------
free_port
mkdir -p "$T/htdocs"
head -c 30000 /dev/urandom >"$T/htdocs/f30000"
timeout -k 5 120 "$GTLSSERVER" 127.0.0.1 "$PORT" "$T/ed.key" "$T/ed.crt" -d "$T/htdocs" \
    >"$T/gtls.log" 2>&1 </dev/null &
GTLS_PID=$!
BG_PIDS+=("$GTLS_PID")
if wait_udp "$PORT" "$GTLS_PID"; then
    rm -f "$T/gs.sess"
    timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/ed.crt" --timeout 30 --session-file "$T/gs.sess" \
        "https://127.0.0.1:$PORT/f30000" >"$T/gs1.out" 2>"$T/gs1.err"
    verdict "gtlsserver: first get stores a session" "gtlsserver: no session stored" test -s "$T/gs.sess"
    timeout 60 "$HO_BIN" get --h3 -v --early-data --cafile "$T/ed.crt" --timeout 30 --session-file "$T/gs.sess" \
        "https://127.0.0.1:$PORT/f30000" >"$T/gs2.out" 2>"$T/gs2.err"
    check "gtlsserver: our 0-RTT accepted" "$T/gs2.err" "resumed: yes" "early-data: accepted"
    check_not "gtlsserver: 0-RTT packets sent" "$T/gs2.err" "0rtt-packets-sent: 0"
    check "gtlsserver: it received our 0-RTT packets" "$T/gtls.log" "type=0RTT"
    verdict "gtlsserver: body byte-exact" "gtlsserver: body differs" cmp -s "$T/gs2.out" "$T/htdocs/f30000"
else
    fail "gtlsserver did not bind UDP port $PORT"
    show "$T/gtls.log"
fi
stop_bg "$GTLS_PID"
finish
