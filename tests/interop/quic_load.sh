#!/usr/bin/env bash
# bench/quic_load (the QUIC load generator) against `handoff serve` and against ngtcp2's
# gtlsserver: -c 8 -n 200, every connection a fresh handshake and one HTTP/3 GET; all 200
# handshakes and requests succeed, no error of any kind, and the report's JSON line parses
# with consistent figures. Then the probes against handoff serve (--keep and --download: the
# established connections answer during a storm and the download receives bytes during it),
# and the error accounting: an unknown path is counted as status 404, a refused certificate
# as a handshake failure with its alert, a closed port as refused. And --streams (many GETs
# in flight per established connection, past the peer's initial stream limit) against both.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl python3 gtlsserver
QL=${HO_BUILD:-$HO_SRC/build}/bench/quic_load
if [ ! -x "$QL" ]; then
    fail "quic_load not built ($QL)"
    finish
fi
gen_ec_cert

ALL_OK='r["started"] == 200 and r["ok"] == 200 and r["handshakes"] == 200 and r["requests"] == 200
    and r["errors"] == 0 and r["statuses"] == {"200": 200} and r["handshakes_per_s"] > 0
    and 0 < r["hs_p50_ms"] <= r["hs_p99_ms"] <= r["hs_max_ms"]
    and 0 < r["req_p50_ms"] <= r["req_p99_ms"] <= r["req_max_ms"]'

# settled_counters: handoff's counters (SIGUSR1) once every connection so far is freed (the
# packet counters count connections that are gone); a bounded poll.
settled_counters() {
    local srv i n c
    srv=$(pgrep -P "$SRV_PID" | head -n 1) # the server itself, not its timeout wrapper
    [ -n "$srv" ] || return 1
    for ((i = 0; i < 50; i++)); do
        n=$(grep -c "counters {" "$SRV_LOG")
        kill -USR1 "$srv"
        wait_count "$SRV_LOG" "counters {" $((n + 1)) 10 || return 1
        c=$(grep "counters {" "$SRV_LOG" | tail -1 | sed 's/^.*counters //')
        if python3 -c 'import json, sys; c = json.loads(sys.argv[1]); sys.exit(c["h3_connections_closed"] != c["h3_connections"])' "$c"; then
            echo "$c"
            return 0
        fi
        sleep 0.2 # closing periods end within a few PTOs
    done
    return 1
}

# ---- handoff serve --------------------------------------------------------------------------
mkdir -p "$T/static"
head -c 4000000 /dev/urandom >"$T/static/big"
serve_handoff ho --cert "$T/ec.crt" --key "$T/ec.key" --static "$T/static" || { fail "handoff serve did not start"; finish; }
if wait_log "$SRV_LOG" "listening h3 (QUIC) on UDP"; then
    timeout 120 "$QL" -c 8 -n 200 --cafile "$T/ec.crt" "127.0.0.1:$PORT" >"$T/ho.out" 2>&1
    ql_exited "handoff" $? "$T/ho.out"
    ql_report "handoff: 200 of 200 handshakes and GETs, no errors, the report parses" "$T/ho.out" "$ALL_OK"

    timeout 120 "$QL" -c 8 -n 200 --keep 2 --interval 5 --download /static/big --cafile "$T/ec.crt" \
        "127.0.0.1:$PORT" >"$T/probe.out" 2>&1
    ql_exited "handoff probes" $? "$T/probe.out"
    ql_report "handoff probes: the storm succeeded" "$T/probe.out" 'r["ok"] == 200 and r["errors"] == 0'
    ql_report "handoff probes: keep requests answered during the storm" "$T/probe.out" \
        'r["keep"]["ok"] > 0 and r["keep"]["errors"] == 0 and r["keep"]["p99_ms"] > 0'
    ql_report "handoff probes: the download received bytes during the storm" "$T/probe.out" \
        'r["download"]["bytes_during_storm"] > 0 and r["download"]["errors"] == 0'

    # --streams: 2 established connections, 150 GETs in flight on each, for 2 s. 150 is above
    # the server's 100 initial bidirectional streams: the client waits for MAX_STREAMS
    # (stream_blocked > 0) and goes on (more than 2 x 150 requests); every one answered 200.
    timeout 60 "$QL" -c 2 --streams 150 -d 2 --cafile "$T/ec.crt" "127.0.0.1:$PORT" >"$T/streams.out" 2>&1
    ql_exited "handoff --streams" $? "$T/streams.out"
    ql_report "handoff --streams: 2 connections x 150 streams, requests past MAX_STREAMS renewals, no errors" \
        "$T/streams.out" 'r["started"] == 2 and r["ok"] == 2 and r["handshakes"] == 2 and r["errors"] == 0
        and r["streams"] == 150 and r["stream_blocked"] > 0 and r["requests"] > 300
        and r["statuses"] == {"200": r["requests"]} and r["requests_per_s"] > 0
        and r["requests_all"] >= r["requests"] and r["client_us_per_req"] > 0
        and 0 < r["req_p50_ms"] <= r["req_p99_ms"] <= r["req_max_ms"]'
    # The server gathers the datagrams of several connections into one sendmmsg: over a
    # --streams run on 8 connections, some calls carry two connections or more (the counters'
    # differences across the run, each taken once every connection so far is gone). How many
    # depends on timing (5.3 packets per call on a quiet machine, 1.2 under ASan on a busy one),
    # so only their existence is checked: with one call per connection's output, none.
    c0=$(settled_counters) || fail "handoff: no settled counters before the --streams -c 8 run"
    timeout 60 "$QL" -c 8 --streams 8 -d 2 --cafile "$T/ec.crt" "127.0.0.1:$PORT" >"$T/batch.out" 2>&1
    ql_exited "handoff --streams -c 8" $? "$T/batch.out"
    c1=$(settled_counters) || fail "handoff: no settled counters after the --streams -c 8 run"
    if python3 -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
calls, pkts = b["quic_send_calls"] - a["quic_send_calls"], b["quic_packets_sent"] - a["quic_packets_sent"]
gathered = b["quic_send_gathered"] - a["quic_send_gathered"]
print("send calls %d, of them with several connections %d, packets sent %d" % (calls, gathered, pkts))
sys.exit(not (0 < gathered <= calls < pkts))' "${c0:-{\}}" "${c1:-{\}}" >"$T/batch.check" 2>&1; then
        pass "handoff: datagrams of several connections leave in one sendmmsg ($(cat "$T/batch.check"))"
    else
        fail "handoff: sends not gathered ($(tail -1 "$T/batch.check"))"
    fi

    timeout 60 "$QL" -c 2 --streams 4 -d 1 --cafile "$T/ec.crt" -p /no/such/page "127.0.0.1:$PORT" \
        >"$T/streams404.out" 2>&1
    ql_report "handoff --streams: an unknown path counts as status 404, per request" "$T/streams404.out" \
        'r["requests"] == 0 and r["status_not_200"] > 8 and r["statuses"] == {"404": r["status_not_200"]}'
    timeout 10 "$QL" -c 2 --streams 4 -n 10 "127.0.0.1:$PORT" >"$T/streams_n.out" 2>&1
    rc=$?
    if [ "$rc" = 2 ]; then pass "quic_load --streams with -n is a usage error"; else
        fail "quic_load --streams -n exited $rc"; show "$T/streams_n.out"; fi

    timeout 60 "$QL" -c 4 -n 20 --cafile "$T/ec.crt" -p /no/such/page "127.0.0.1:$PORT" >"$T/404.out" 2>&1
    ql_report "handoff: an unknown path counts as status 404" "$T/404.out" \
        'r["handshakes"] == 20 and r["status_not_200"] == 20 and r["statuses"] == {"404": 20}'
    # A CA that did not sign the server's certificate: our client refuses it (unknown_ca, 48).
    gen_cert other other "DNS:other"
    timeout 60 "$QL" -c 4 -n 20 --cafile "$T/other.crt" "127.0.0.1:$PORT" >"$T/badca.out" 2>&1
    ql_report "handoff: an untrusted certificate counts as a handshake failure with its alert" "$T/badca.out" \
        'r["handshake_failed"] == 20 and r["handshake_codes"] == {"alert_sent_48": 20}'
else
    fail "handoff serve announced no QUIC listener"
    show "$SRV_LOG"
fi
stop_bg "$SRV_PID"

# Nothing listens on that UDP port any more: ICMP port unreachable.
timeout 60 "$QL" -c 4 -n 20 --insecure --timeout 3000 "127.0.0.1:$PORT" >"$T/refused.out" 2>&1
ql_report "closed port: counted as refused" "$T/refused.out" 'r["refused"] == 20 and r["ok"] == 0'

# ---- gtlsserver (ngtcp2) ----------------------------------------------------------------------
mkdir -p "$T/htdocs"
printf 'hello world' >"$T/htdocs/small.txt"
free_port || { fail "no free port"; finish; }
NG_PORT=$PORT
timeout -k 10 120 gtlsserver 127.0.0.1 "$NG_PORT" "$T/ec.key" "$T/ec.crt" -d "$T/htdocs" -q \
    >"$T/ng.log" 2>&1 </dev/null &
NG_PID=$!
BG_PIDS+=("$NG_PID")
up=0
wait_udp "$NG_PORT" "$NG_PID" && up=1
if [ "$up" = 1 ]; then
    timeout 120 "$QL" -c 8 -n 200 --cafile "$T/ec.crt" -p /small.txt "127.0.0.1:$NG_PORT" >"$T/ng.out" 2>&1
    ql_exited "gtlsserver" $? "$T/ng.out"
    ql_report "gtlsserver: 200 of 200 handshakes and GETs, no errors, the report parses" "$T/ng.out" "$ALL_OK"
    timeout 60 "$QL" -c 2 --streams 150 -d 2 --cafile "$T/ec.crt" -p /small.txt "127.0.0.1:$NG_PORT" \
        >"$T/ng_streams.out" 2>&1
    ql_exited "gtlsserver --streams" $? "$T/ng_streams.out"
    ql_report "gtlsserver --streams: 2 connections x 150 streams, past its stream limit, no errors" \
        "$T/ng_streams.out" 'r["ok"] == 2 and r["errors"] == 0 and r["requests"] > 300
        and r["stream_blocked"] > 0 and r["statuses"] == {"200": r["requests"]}'
else
    fail "gtlsserver did not bind UDP port $NG_PORT"
    show "$T/ng.log"
fi
stop_bg "$NG_PID"
finish
