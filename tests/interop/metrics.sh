#!/usr/bin/env bash
# `handoff serve --metrics`: the Prometheus text at /metrics, scraped by a real Prometheus.
#   1. A known workload: N curl requests over TLS (N handshakes), M over plaintext, one HTTP/3
#      request with `handoff get --h3`.
#   2. promtool check metrics passes on the scraped text; /metrics has the 0.0.4 content type,
#      anything else is a 404.
#   3. A Prometheus server (Debian's prometheus; started here, 1 s scrape interval, its TSDB in
#      $T) scrapes handoff: its HTTP API shows the workload's request and handshake counts.
#   4. At rest, the scraped values equal the SIGUSR1 counters (JSON), field by field
#      (tests/interop/metrics_check.py; an unmapped JSON counter fails), and the histograms
#      count one handshake per handshake and one queue time per pool job.
#   5. --offload always: every TCP and QUIC handshake is in mode="offloaded", every pool job
#      in the queue histogram; --offload off: all inline, no pool job.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools curl python3 pgrep promtool prometheus

CHECK_PY=$(dirname "${BASH_SOURCE[0]}")/metrics_check.py
N=5
M=4

# scrape FILE: GET /metrics into FILE (headers in FILE.hdr).
scrape() { timeout 30 curl -s --max-time 20 -D "$1.hdr" -o "$1" "http://127.0.0.1:$MPORT/metrics"; }

# prom_query EXPR: the value of a one-sample PromQL result ("?" when none).
prom_query() {
    timeout 30 curl -s --max-time 20 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
        timeout 30 python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "?")
except Exception:
    print("?")'
}

free_port || { fail "no free port"; finish; }
MPORT=$PORT
if ! serve3 metrics --metrics "127.0.0.1:$MPORT"; then
    fail "start handoff serve --metrics"
    finish
fi
for _ in $(seq 600); do
    listening "$MPORT" && break
    sleep 0.1
done
check "metrics: the server says where /metrics is" "$SRV_LOG" "handoff: metrics on http://127.0.0.1:$MPORT/metrics"

# ---- 1. the workload -------------------------------------------------------------------------
ok=0
for i in $(seq $N); do
    timeout 60 curl -sk --max-time 50 -o /dev/null -w '%{http_code}\n' "https://127.0.0.1:$HTTPS_PORT/json/1?m=$i" \
        >>"$T/tls.codes" 2>&1
done
for i in $(seq $M); do
    timeout 60 curl -s --max-time 50 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$HTTP_PORT/baseline2?a=$i&b=1" \
        >>"$T/plain.codes" 2>&1
done
timeout 60 "$HO_BIN" get --h3 --insecure "https://127.0.0.1:$HTTPS_PORT/json/2?m=1" >"$T/h3.body" 2>"$T/h3.err"
h3rc=$?
[ "$(grep -c '^200$' "$T/tls.codes")" = $N ] && ok=$((ok + 1))
[ "$(grep -c '^200$' "$T/plain.codes")" = $M ] && ok=$((ok + 1))
[ $h3rc = 0 ] && ok=$((ok + 1))
if [ $ok = 3 ]; then
    pass "workload: $N TLS, $M plaintext and 1 HTTP/3 request answered"
else
    fail "workload: TLS codes $(tr '\n' ' ' <"$T/tls.codes"), plaintext $(tr '\n' ' ' <"$T/plain.codes"), h3 exit $h3rc"
    show "$T/h3.err"
fi

# ---- 2. the text: promtool, content type, 404 ---------------------------------------------------
if scrape "$T/m1.txt"; then
    if timeout 60 promtool check metrics <"$T/m1.txt" >"$T/promtool.out" 2>&1; then
        pass "promtool check metrics: no problem ($(grep -vc '^#' "$T/m1.txt") samples)"
    else
        fail "promtool check metrics"
        show "$T/promtool.out"
    fi
    check "metrics: Content-Type text/plain; version=0.0.4" "$T/m1.txt.hdr" "Content-Type: text/plain; version=0.0.4"
    check "metrics: TYPE and HELP lines" "$T/m1.txt" "# TYPE handoff_tcp_requests_total counter" \
        "# HELP handoff_tcp_requests_total " "# TYPE handoff_handshake_duration_seconds histogram" \
        'handoff_tcp_connections_accepted_total{thread="1"} ' \
        'handoff_handshake_duration_seconds_bucket{transport="tcp",mode="inline",le="+Inf"} ' \
        'handoff_offload_queue_duration_seconds_bucket{le="0.00005"} '
else
    fail "GET /metrics"
fi
code=$(timeout 30 curl -s --max-time 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")
verdict "metrics port: GET /other is a 404" "metrics port: GET /other gave $code" [ "$code" = 404 ]
code=$(timeout 30 curl -s --max-time 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/json/1")
verdict "metrics port: the application's routes are not there (404)" "metrics port: /json/1 gave $code" \
    [ "$code" = 404 ]

# ---- 3. a real Prometheus scrapes it --------------------------------------------------------------
free_port || fail "no free port for prometheus"
PPORT=$PORT
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: handoff
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
if start_bg "$PPORT" "$T/prometheus.log" prometheus --config.file="$T/prometheus.yml" \
    --storage.tsdb.path="$T/tsdb" --web.listen-address="127.0.0.1:$PPORT"; then
    PROM_PID=$BG_PID
    # Bounded poll: Prometheus' view reaches the workload (the H3 request counts once its
    # connection is gone, after the draining period).
    want="up=1 tcp_requests=$((N + M)) tls_handshakes=$N tcp_hist=$N h3_requests=1 quic_handshakes=1"
    got=
    for _ in $(seq 240); do
        got="up=$(prom_query 'up{job="handoff"}')"
        got+=" tcp_requests=$(prom_query 'sum(handoff_tcp_requests_total)')"
        got+=" tls_handshakes=$(prom_query 'sum(handoff_tls_handshakes_total)')"
        got+=" tcp_hist=$(prom_query 'sum(handoff_handshake_duration_seconds_count{transport="tcp"})')"
        got+=" h3_requests=$(prom_query 'sum(handoff_h3_requests_total)')"
        got+=" quic_handshakes=$(prom_query 'sum(handoff_quic_handshakes_total)')"
        [ "$got" = "$want" ] && break
        sleep 0.5
    done
    if [ "$got" = "$want" ]; then
        pass "prometheus: scraped the workload ($got)"
    else
        fail "prometheus: expected $want, last saw $got"
        show "$T/prometheus.log"
    fi
    p50=$(prom_query 'histogram_quantile(0.5, sum by (le) (handoff_handshake_duration_seconds_bucket{transport="tcp"}))')
    verdict "prometheus: a TCP handshake median from the histogram ($p50 s)" \
        "prometheus: no handshake median ($p50)" python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if 0 < v <= 1 else 1)" "$p50"
    tw=$(prom_query 'count(handoff_tcp_connections_accepted_total)')
    verdict "prometheus: one accepted series per thread ($tw)" "prometheus: $tw accepted series, expected 2" [ "$tw" = 2 ]
else
    fail "prometheus did not start"
fi

# ---- 4. the scraped values equal the SIGUSR1 counters -------------------------------------------
# At rest (two scrapes around the SIGUSR1 agree), every JSON counter is compared.
same=0
for _ in $(seq 60); do
    scrape "$T/a.txt" && counters "$T/c.json" && scrape "$T/b.txt" || break
    if timeout 30 python3 "$CHECK_PY" same "$T/a.txt" "$T/b.txt"; then
        same=1
        break
    fi
    sleep 0.5
done
if [ $same = 1 ]; then
    if timeout 60 python3 "$CHECK_PY" compare "$T/a.txt" "$T/c.json" >"$T/compare.out" 2>&1; then
        pass "metrics equal the SIGUSR1 counters: $(tail -n 1 "$T/compare.out")"
    else
        fail "metrics differ from the SIGUSR1 counters"
        show "$T/compare.out"
        say "    counters: $(cat "$T/c.json")"
    fi
    expect_counter "$T/c.json" requests -eq $((N + M))
    expect_counter "$T/c.json" handshakes_done -eq $N
    expect_counter "$T/c.json" h3_requests -eq 1
else
    fail "metrics: no two scrapes agreed around a SIGUSR1 (the server never settled)"
fi

[ -n "${PROM_PID:-}" ] && stop_bg "$PROM_PID"
verdict "metrics: server still running" "metrics: server died" alive
end_server metrics

# ---- 5. the histograms' mode: every handshake offloaded, or every one inline ----------------------
# value FILE NAME LABEL=VALUE...: the sum of the matching samples of a scrape.
value() { timeout 30 python3 "$CHECK_PY" value "$@"; }
for mode in always off; do
    free_port || { fail "no free port"; break; }
    MPORT=$PORT
    if ! serve3 "$mode" --offload "$mode" --metrics "$MPORT"; then
        fail "$mode: start handoff serve --offload $mode --metrics"
        continue
    fi
    for i in 1 2 3; do
        timeout 60 curl -sk --max-time 50 -o /dev/null "https://127.0.0.1:$HTTPS_PORT/json/1?m=$i"
    done
    timeout 60 "$HO_BIN" get --h3 --insecure "https://127.0.0.1:$HTTPS_PORT/json/1?m=1" >/dev/null 2>&1
    if [ "$mode" = always ]; then yes=offloaded no=inline; else yes=inline no=offloaded; fi
    # The QUIC handshake is counted at the tick after it completes: poll (bounded).
    for _ in $(seq 100); do
        scrape "$T/$mode.txt" || break
        [ "$(value "$T/$mode.txt" handoff_handshake_duration_seconds_count transport=quic mode=$yes)" = 1 ] && break
        sleep 0.2
    done
    got="tcp $yes=$(value "$T/$mode.txt" handoff_handshake_duration_seconds_count transport=tcp mode=$yes)"
    got+=" tcp $no=$(value "$T/$mode.txt" handoff_handshake_duration_seconds_count transport=tcp mode=$no)"
    got+=" quic $yes=$(value "$T/$mode.txt" handoff_handshake_duration_seconds_count transport=quic mode=$yes)"
    got+=" quic $no=$(value "$T/$mode.txt" handoff_handshake_duration_seconds_count transport=quic mode=$no)"
    want="tcp $yes=3 tcp $no=0 quic $yes=1 quic $no=0"
    verdict "$mode: handshake histogram by mode ($got)" "$mode: handshake histogram: expected $want, got $got" \
        [ "$got" = "$want" ]
    q=$(value "$T/$mode.txt" handoff_offload_queue_duration_seconds_count)
    jobs=$(value "$T/$mode.txt" handoff_offload_jobs_completed_total)
    # always: two steps per TCP handshake and at least two per QUIC one went through the pool.
    if [ "$mode" = always ]; then min=8; else min=0; fi
    if [ "$q" = "$jobs" ] && [ "$jobs" != "?" ] && [ "$jobs" -ge $min ] && { [ $min -gt 0 ] || [ "$jobs" = 0 ]; }; then
        pass "$mode: the offload queue histogram counts every pool job ($q of $jobs)"
    else
        fail "$mode: offload queue histogram count $q, pool jobs $jobs (expected equal, >= $min; 0 for off)"
    fi
    end_server "$mode"
done
finish
