#!/usr/bin/env bash
# qlog (src/quic/qlog.c, docs/DEBUGGING.md): `handoff serve --qlog-dir` and `handoff get --h3`
# with QLOGDIR write one JSON-SEQ file per connection, <odcid>_server.sqlog and
# <odcid>_client.sqlog with the same ODCID. qlog_check.py parses every record and checks the
# fields and values draft-ietf-quic-qlog-main-schema-14 and draft-ietf-quic-qlog-quic-events-13
# require (connection_started first, one connection_closed naming who closed); the
# client's packet_sent / packet_received events equal the counters `get -v` prints, the
# server's equal its connection's counters (quic_packets_sent / quic_packets_received of the
# SIGUSR1 line, summed when the connection is freed: the test's is the server's only one),
# and the two sides agree (the server sent at least what the client received, and received
# at most what the client sent). Then the same download from ngtcp2's gtlsserver
# --qlog-dir: the set of event names of its file equals ours, over the event types both
# write (parameters_set, packet_sent, packet_received, recovery metrics_updated; ngtcp2
# writes qlog 0.3 names, "transport:" and "recovery:", normalized to "quic:").
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 openssl
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
    finish
fi
CHECK="python3 $HO_SRC/tests/interop/qlog_check.py"
SIZE=300000
gen_ec_cert
mkdir -p "$T/root" "$T/sq" "$T/cq" "$T/gq" "$T/htdocs"
head -c "$SIZE" /dev/urandom >"$T/root/$SIZE"

# ---- ours: serve --qlog-dir, get with QLOGDIR ------------------------------------------
serve_handoff qlog --cert "$T/ec.crt" --key "$T/ec.key" --root "$T/root" --qlog-dir "$T/sq" || finish
wait_udp "$PORT" "$SRV_PID" || { fail "serve did not bind UDP $PORT"; show "$SRV_LOG"; finish; }
QLOGDIR=$T/cq timeout 60 "$HO_BIN" get --h3 -v --cafile "$T/ec.crt" "https://127.0.0.1:$PORT/$SIZE" \
    >"$T/get.body" 2>"$T/get.err"
rc=$?
if [ "$rc" -eq 0 ] && cmp -s "$T/get.body" "$T/root/$SIZE"; then
    pass "get --h3 with QLOGDIR: $SIZE bytes"
else
    fail "get --h3 with QLOGDIR: exit $rc"
    show "$T/get.err" "$SRV_LOG"
fi
# The server completes its file when the connection is freed (the client's CONNECTION_CLOSE,
# then the draining period of 3 PTO), and adds the connection's packet counters to its
# quic_packets_* then: poll its counters (SIGUSR1) until the connection is gone.
SRV_WRAP=$SRV_PID
SRV_PID=$(pgrep -P "$SRV_WRAP" | head -n 1)
srv_sent= srv_recv=
for i in $(seq 300); do
    counters "$T/counters.json" || break
    if [ "$(counter "$T/counters.json" h3_connections_closed)" = 1 ]; then
        srv_sent=$(counter "$T/counters.json" quic_packets_sent)
        srv_recv=$(counter "$T/counters.json" quic_packets_received)
        break
    fi
    sleep 0.1
done
stop_bg "$SRV_WRAP"
if [ -z "$srv_sent" ]; then
    fail "the server did not free the connection within 30 s (h3_connections_closed != 1)"
    show "$T/counters.json"
fi
read -r sent received lost < <(sed -n 's/^packets: sent \([0-9]*\) received \([0-9]*\) lost \([0-9]*\)$/\1 \2 \3/p' "$T/get.err")
cfile=$(ls "$T"/cq/*_client.sqlog 2>/dev/null)
sfile=$(ls "$T"/sq/*_server.sqlog 2>/dev/null)
if [ "$(echo "$cfile" | grep -c .)" -eq 1 ] && [ "$(echo "$sfile" | grep -c .)" -eq 1 ] &&
    [ "$(basename "$cfile" _client.sqlog)" = "$(basename "$sfile" _server.sqlog)" ]; then
    pass "one file each, named by the same ODCID: $(basename "$cfile"), $(basename "$sfile")"
else
    fail "qlog files: client '$cfile', server '$sfile'"
    ls -la "$T/cq" "$T/sq"
    finish
fi
if [ -z "${sent:-}" ]; then
    fail "get -v printed no packet counters"
    show "$T/get.err"
    finish
fi
if $CHECK check "$cfile" --sent "$sent" --received "$received" --closed-by local >"$T/ccheck.out" 2>&1; then
    pass "client qlog: every record parses, required fields present, packet_sent $sent and packet_received $received equal the counters, connection_started first, connection_closed by the client"
else
    fail "client qlog check"
    show "$T/ccheck.out"
fi
if $CHECK check "$sfile" --sent "${srv_sent:--1}" --received "${srv_recv:--1}" --closed-by remote >"$T/scheck.out" 2>&1; then
    pass "server qlog: every record parses, required fields present, packet_sent $srv_sent and packet_received $srv_recv equal the connection's counters, connection_closed by the peer"
else
    fail "server qlog check"
    show "$T/scheck.out"
fi
ssent=$(tr ' ' '\n' <"$T/scheck.out" | sed -n 's/^quic:packet_sent=//p')
srecv=$(tr ' ' '\n' <"$T/scheck.out" | sed -n 's/^quic:packet_received=//p')
if [ -n "$ssent" ] && [ -n "$srecv" ] && [ "$ssent" -ge "$received" ] && [ "$srecv" -le "$sent" ] &&
    [ "$srecv" -gt 0 ]; then
    pass "server qlog agrees with the client: sent $ssent >= $received received, received $srecv <= $sent sent"
else
    fail "server qlog packet counts: sent '$ssent' received '$srecv'; client sent $sent received $received"
fi
say "    client: $(cat "$T/ccheck.out")"
say "    server: $(cat "$T/scheck.out")"

# ---- ngtcp2: the same download from gtlsserver --qlog-dir ------------------------------
free_port
timeout -k 5 120 "$GTLSSERVER" 127.0.0.1 "$PORT" "$T/ec.key" "$T/ec.crt" -d "$T/htdocs" -q \
    --qlog-dir="$T/gq" >"$T/gtls.log" 2>&1 </dev/null &
GTLS_PID=$!
BG_PIDS+=("$GTLS_PID")
if ! wait_udp "$PORT" "$GTLS_PID"; then
    fail "gtlsserver did not bind UDP port $PORT"
    show "$T/gtls.log"
    finish
fi
timeout 60 "$HO_BIN" get --h3 --cafile "$T/ec.crt" "https://127.0.0.1:$PORT/$SIZE" >"$T/g.body" 2>"$T/g.err" ||
    { fail "get --h3 from gtlsserver"; show "$T/g.err" "$T/gtls.log"; }
# gtlsserver writes its file out when it removes the connection: poll (30 s) until every
# record of it parses.
gfile=
for i in $(seq 300); do
    gfile=$(ls "$T"/gq/*.sqlog 2>/dev/null | head -n 1)
    [ -n "$gfile" ] && $CHECK names "$gfile" >"$T/gnames" 2>/dev/null && [ -s "$T/gnames" ] && break
    sleep 0.1
done
stop_bg "$GTLS_PID"
if [ -z "$gfile" ] || ! $CHECK names "$gfile" >"$T/gnames" 2>"$T/gnames.err"; then
    fail "gtlsserver's qlog file is missing or incomplete"
    show "$T/gnames.err" "$T/gtls.log"
    finish
fi
$CHECK names "$sfile" >"$T/snames"
BOTH='^quic:(parameters_set|packet_sent|packet_received|recovery_metrics_updated)$'
grep -E "$BOTH" "$T/snames" >"$T/s.both"
grep -E "$BOTH" "$T/gnames" >"$T/g.both"
if [ -s "$T/s.both" ] && cmp -s "$T/s.both" "$T/g.both"; then
    pass "same event types as gtlsserver's qlog over those both write: $(tr '\n' ' ' <"$T/s.both")"
else
    fail "event types differ from gtlsserver's (ours: $(tr '\n' ' ' <"$T/s.both"); gtlsserver: $(tr '\n' ' ' <"$T/g.both"))"
fi
say "    ours also: $(grep -vE "$BOTH" "$T/snames" | tr '\n' ' ')"
say "    gtlsserver also: $(grep -vE "$BOTH" "$T/gnames" | tr '\n' ' ')"
# packet_lost: present in our client's file exactly when its counter lost any.
if { [ "${lost:-0}" -gt 0 ] && grep -q '"quic:packet_lost"' "$cfile"; } ||
    { [ "${lost:-0}" -eq 0 ] && ! grep -q '"quic:packet_lost"' "$cfile"; }; then
    pass "packet_lost events in the client's file agree with its counter (lost $lost)"
else
    fail "packet_lost events vs the counter (lost $lost)"
fi
finish
