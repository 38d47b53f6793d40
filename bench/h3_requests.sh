#!/usr/bin/env bash
# bench/h3_requests.sh — small-request rate of HTTP/3 against HTTP/1.1 over TLS on the same
# server at the same concurrency (issue 16 item 6): GET /baseline2?a=1&b=1 (a 1-byte body).
#
# Per round one fresh `handoff serve --threads T` (QUIC and TLS on the same port), and on it,
# in alternating order:
#   ho-h3   bench/quic_load -c C --streams S: C established QUIC connections, S GETs in
#           flight on each (a new stream as soon as one completes), C x S in all
#   ho-h1   wrk -t1 -c C*S: C x S keep-alive HTTP/1.1 connections over TLS 1.3, one GET in
#           flight on each, to the same server's TCP port
# and for context, each in its own process (--peers):
#   ng-h3   ngtcp2's gtlsserver (0.12 example, one thread), the same quic_load run, /small
#           holding the same byte
#   ngx-h1  nginx (worker_processes T) over TLS 1.3, `return 200 "2"`, the same wrk run
# Both load generators run one thread, -d SECONDS after -w SECONDS of warm-up (quic_load's
# own -w; wrk runs W+D seconds). Server CPU = utime+stime of the server process (all
# threads; nginx: master + workers) from /proc/PID/stat around the load generator run,
# divided by every request it completed (quic_load's requests_all, wrk's total): the
# handshakes of the C (or C x S) connections are included and negligible. The client's CPU
# per request too (quic_load's getrusage, wrk's by /usr/bin/time). From handoff's counters
# (SIGUSR1): QUIC packets sent and received per request.
#
# Usage: bench/h3_requests.sh [options]
#   -c N              QUIC connections (default 4)
#   -s N              streams in flight per QUIC connection (default 16); HTTP/1.1 runs
#                     with C x S connections
#   -d SECONDS        measured duration of each run (default 5)
#   -w SECONDS        warm-up before it (default 1)
#   -r N              rounds (default 3)
#   --threads N       handoff serve --threads, nginx worker_processes (default 1)
#   --peers LIST      subset of "ng-h3 ngx-h1" (default both; "" for none)
#   --pin             servers on CPU 0, load generators on CPU 1 (taskset)
#   --compare BIN     also, each round, another handoff binary (e.g. a build of the commit
#                     before a change) as old-h3 and old-h1, and the ratios new / old
#   --perf DIR        first an extra, uncounted round on handoff with `perf record -g` of the
#                     server during each of ho-h3 and ho-h1 (DIR/ho-h3.data, DIR/ho-h1.data,
#                     and DIR/*.txt: perf report --no-children) and `perf stat` of its
#                     system calls (DIR/*.syscalls)
#   -h, --help
# Environment: HANDOFF=path/to/handoff and QUIC_LOAD=path/to/quic_load (default: from
# build-bench/, then build/), KEEP=1 keeps the temp dir.
#
# Output: one row per run, then medians per server and the ratios ho-h3 / ho-h1 (per round,
# then the median): the issue's goal is req/s >= 0.8x.
# Caveat: on a 2-core machine the server and the load generator share the cores (and with
# whatever else runs): compare the ratios of one run and the CPU per request, not rates
# across machines or runs.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

CONNS=4 STREAMS=16 DUR=5 WARM=1 ROUNDS=3 THREADS=1 PEERS="ng-h3 ngx-h1" PIN=0 PERF="" COMPARE=""
while [ $# -gt 0 ]; do
    case $1 in
    -c) CONNS=$2; shift 2 ;;
    -s) STREAMS=$2; shift 2 ;;
    -d) DUR=$2; shift 2 ;;
    -w) WARM=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --pin) PIN=1; shift ;;
    --perf) PERF=$2; shift 2 ;;
    --compare) COMPARE=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
for v in CONNS STREAMS DUR ROUNDS THREADS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $WARM =~ ^[0-9]+$ ]] || die "-w takes whole seconds"
for p in $PEERS; do case $p in ng-h3 | ngx-h1) ;; *) die "unknown peer $p (ng-h3 ngx-h1)" ;; esac; done
command -v wrk >/dev/null || die "wrk missing: apt-get install wrk"
case " $PEERS " in *" ng-h3 "*) command -v gtlsserver >/dev/null || die "gtlsserver missing: apt-get install ngtcp2-server" ;; esac
case " $PEERS " in *" ngx-h1 "*) command -v "$NGINX_BIN" >/dev/null || die "nginx missing" ;; esac
[ -z "$PERF" ] || command -v perf >/dev/null || die "perf missing: apt-get install linux-perf"

ho_find_bin
[ -z "$COMPARE" ] || [ -x "$COMPARE" ] || die "--compare $COMPARE is not executable"
if [ -z "${QUIC_LOAD:-}" ]; then
    QUIC_LOAD=$(dirname "$HANDOFF")/bench/quic_load
fi
[ -x "$QUIC_LOAD" ] || die "no quic_load at $QUIC_LOAD: build the bench targets or set QUIC_LOAD"
bench_init
make_cert "$BT"
mkdir -p "$BT/htdocs"
printf 2 >"$BT/htdocs/small"
PORT=$(free_port)   # TCP for HTTP/1.1 and UDP for QUIC, the same number
NGX_PORT=$(free_port)
TOTAL=$((CONNS * STREAMS))
SRV_PIN=() CLI_PIN=()
if [ "$PIN" = 1 ]; then SRV_PIN=(taskset -c 0) CLI_PIN=(taskset -c 1); fi

NG=$BT/nginx
mkdir -p "$NG"
cp "$BT/cert.pem" "$BT/key.pem" "$NG/"
{
    nginx_conf_head "$NG" "$THREADS"
    cat <<EOF
    server {
        listen 127.0.0.1:$NGX_PORT ssl;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        ssl_ecdh_curve X25519;
        location = /baseline2 { default_type text/plain; return 200 "2"; }
    }
}
EOF
} >"$NG/nginx.conf"
nginx_prepare "$NG"

# start NAME -> BENCH_PID, SPORT, URL_PATH
start() {
    case $1 in
    ho | old)
        local bin=$HANDOFF
        [ "$1" = old ] && bin=$COMPARE
        wait_udp_gone "$PORT" || die "UDP port $PORT still bound"
        "${SRV_PIN[@]}" "$bin" serve --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 \
            --threads "$THREADS" --no-tickets --cert "$BT/cert.pem" --key "$BT/key.pem" >"$BT/ho.log" 2>&1 &
        BENCH_PID=$! SPORT=$PORT URL_PATH='/baseline2?a=1&b=1'
        BENCH_PIDS+=("$BENCH_PID")
        { wait_udp "$PORT" "$BENCH_PID" && wait_port "$PORT" "$BENCH_PID"; } ||
            die "handoff did not start: $(tail -5 "$BT/ho.log")"
        ;;
    ng)
        wait_udp_gone "$PORT" || die "UDP port $PORT still bound"
        "${SRV_PIN[@]}" gtlsserver 127.0.0.1 "$PORT" "$BT/key.pem" "$BT/cert.pem" -d "$BT/htdocs" -q >"$BT/ng.log" 2>&1 &
        BENCH_PID=$! SPORT=$PORT URL_PATH=/small
        BENCH_PIDS+=("$BENCH_PID")
        wait_udp "$PORT" "$BENCH_PID" || die "gtlsserver did not start: $(tail -5 "$BT/ng.log")"
        ;;
    ngx)
        nginx_start ngx "$NG"
        SPORT=$NGX_PORT URL_PATH='/baseline2?a=1&b=1'
        wait_port "$NGX_PORT" "$BENCH_PID" || die "nginx did not start: $(tail -5 "$BT/ngx.log")"
        if [ "$PIN" = 1 ]; then # master and workers (setpriv execs nginx in place)
            local p
            for p in "$BENCH_PID" $(pgrep -P "$BENCH_PID"); do taskset -a -cp 0 "$p" >/dev/null; done
        fi
        ;;
    esac
}

jnum() { echo "$1" | grep -o "\"$2\":[-0-9.]*" | head -1 | cut -d: -f2; }

# settled PID: handoff's counters once every QUIC connection so far is freed (its packet
# and request counters count connections that are gone); a bounded poll.
settled() {
    local i c
    for ((i = 0; i < 50; i++)); do
        c=$(ho_counters "$1" "$BT/ho.log") || return 1
        if [ "$(jfield "$c" h3_connections_closed)" = "$(jfield "$c" h3_connections)" ]; then
            echo "$c"
            return 0
        fi
        sleep 0.1
    done
    echo "$c"
}

# h3_run OUT -> J (quic_load's JSON)
h3_run() {
    bounded $((DUR + WARM + 60)) "${CLI_PIN[@]}" "$QUIC_LOAD" --cafile "$BT/cert.pem" -p "$URL_PATH" \
        -c "$CONNS" --streams "$STREAMS" -d "$DUR" -w "$WARM" "127.0.0.1:$SPORT" >"$1" 2>&1 ||
        die "quic_load failed: $(tail -5 "$1")"
    J=$(grep '^quic_load {' "$1" | tail -1 | sed 's/^quic_load //')
}
# h1_run OUT: wrk, W+D seconds; its CPU (user sys, seconds) in OUT.time
h1_run() {
    bounded $((DUR + WARM + 60)) /usr/bin/time -o "$1.time" -f '%U %S' "${CLI_PIN[@]}" wrk -t1 -c"$TOTAL" \
        -d"$((DUR + WARM))s" --latency "https://127.0.0.1:$SPORT$URL_PATH" >"$1" 2>&1 ||
        die "wrk failed: $(tail -5 "$1")"
}

RESULTS=$BT/results.tsv
: >"$RESULTS"
row() { printf '%-5s %-7s %9s %11s %7s %8s %8s %7s %12s %10s %10s %10s\n' "$@"; }

# run ROUND NAME PID: one load run against the running server; appends a row.
run() {
    local round=$1 name=$2 pid=$3 out=$BT/$2.$1 c0="" c1="" t0 t1 perf_pids=()
    case $name in ho-* | old-*) c0=$(settled "$pid" || echo '{}') ;; esac
    if [ "$round" = perf ]; then
        perf record -q -F 499 -g -p "$pid" -o "$PERF/$name.data" -- sleep "$((DUR + WARM))" >/dev/null 2>&1 &
        perf_pids+=($!)
        perf stat -e raw_syscalls:sys_enter -e syscalls:sys_enter_sendmsg -e syscalls:sys_enter_sendmmsg \
            -e syscalls:sys_enter_recvmsg -e syscalls:sys_enter_recvmmsg -e syscalls:sys_enter_epoll_wait \
            -e syscalls:sys_enter_read -e syscalls:sys_enter_write -e syscalls:sys_enter_writev \
            -p "$pid" -o "$PERF/$name.syscalls" -- sleep "$((DUR + WARM))" >/dev/null 2>&1 &
        perf_pids+=($!)
    fi
    t0=$(server_ticks "$pid")
    local rps reqs p50 p99 errs cli
    if [ "${name#*-}" = h3 ]; then
        h3_run "$out"
        t1=$(server_ticks "$pid")
        rps=$(jnum "$J" requests_per_s) reqs=$(jnum "$J" requests_all) p50=$(jnum "$J" req_p50_ms)
        p99=$(jnum "$J" req_p99_ms) errs=$(jnum "$J" errors) cli=$(jnum "$J" client_us_per_req)
    else
        h1_run "$out"
        t1=$(server_ticks "$pid")
        read -r reqs _ rps p50 p99 errs < <(wrk_parse "$out")
        cli=$(awk -v n="$reqs" '{ if (n > 0) printf "%.2f", ($1 + $2) * 1e6 / n; else print "-" }' "$out.time")
    fi
    local p
    for p in "${perf_pids[@]}"; do wait "$p" || true; done
    [ "${reqs:-0}" -gt 0 ] || die "$name: no request completed: $(tail -5 "$out")"
    local pout="-" pin="-" calls="-"
    if [ -n "$c0" ]; then
        c1=$(settled "$pid" || echo '{}')
        if [ "${name#*-}" = h3 ]; then
            local dr=$(($(jfield "$c1" h3_requests) - $(jfield "$c0" h3_requests)))
            if [ "$dr" -gt 0 ]; then
                pout=$(awk -v a="$(jfield "$c0" quic_packets_sent)" -v b="$(jfield "$c1" quic_packets_sent)" -v n="$dr" 'BEGIN { printf "%.3f", (b - a) / n }')
                pin=$(awk -v a="$(jfield "$c0" quic_packets_received)" -v b="$(jfield "$c1" quic_packets_received)" -v n="$dr" 'BEGIN { printf "%.3f", (b - a) / n }')
                [ -n "$(jfield "$c1" quic_send_calls)" ] &&
                    calls=$(awk -v a="$(jfield "$c0" quic_send_calls)" -v b="$(jfield "$c1" quic_send_calls)" -v n="$dr" 'BEGIN { printf "%.3f", (b - a) / n }')
            fi
        fi
    fi
    local us cpu_req pct
    us=$(ticks_to_us $((t1 - t0)))
    cpu_req=$(awk -v u="$us" -v n="$reqs" 'BEGIN { printf "%.2f", u / n }')
    pct=$(awk -v u="$us" -v s="$((DUR + WARM))" 'BEGIN { printf "%.0f", u / 1e4 / s }')
    row "$round" "$name" "$(printf %.0f "$rps")" "$cpu_req" "$pct" "$p50" "$p99" "$errs" "$cli" "$pout" "$pin" "$calls"
    [ "$round" = perf ] || printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$name" "$rps" "$cpu_req" "$errs" >>"$RESULTS"
}

echo "== HTTP/3 vs HTTP/1.1 over TLS, small requests: GET /baseline2?a=1&b=1; quic_load -c $CONNS --streams $STREAMS against wrk -t1 -c $TOTAL; -d $DUR after -w $WARM; servers --threads $THREADS$([ "$PIN" = 1 ] && echo ', pinned: servers on CPU 0, clients on CPU 1')"
echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(uname -sr), loopback"
echo "# handoff: $HANDOFF (repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)); gtlsserver: ngtcp2 $(dpkg-query -W -f='${Version}' ngtcp2-server 2>/dev/null); $($NGINX_BIN -v 2>&1 | sed 's/^nginx version: //'); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo "# machine before: $(busy_others)"
echo "# cpu_us/req: server CPU per request; cpu_%: server CPU over the run (100 = one core); client_us/req:"
echo "# the load generator's; pkt_out/req, pkt_in/req: QUIC packets the server sent / received per request;"
echo "# calls/req: the server's sendmmsg calls per request (quic_send_calls; - when the binary lacks it)"
row round server "req/s" cpu_us/req cpu_% p50_ms p99_ms errors client_us/req pkt_out/req pkt_in/req calls/req
if [ -n "$PERF" ]; then
    mkdir -p "$PERF"
    PERF=$(cd "$PERF" && pwd)
    start ho
    run perf ho-h3 "$BENCH_PID"
    run perf ho-h1 "$BENCH_PID"
    stop_pid "$BENCH_PID"
    for n in ho-h3 ho-h1; do
        perf report -i "$PERF/$n.data" --no-children --percent-limit 0.7 --stdio -g none 2>/dev/null >"$PERF/$n.txt" || true
        perf report -i "$PERF/$n.data" --no-children --sort dso --stdio -g none 2>/dev/null >"$PERF/$n.dso.txt" || true
    done
    note "perf: $PERF/{ho-h3,ho-h1}.{data,txt,dso.txt,syscalls} (an uncounted round)"
fi
for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)); then ho_order="ho-h3 ho-h1"; else ho_order="ho-h1 ho-h3"; fi
    start ho
    for n in $ho_order; do run "$round" "$n" "$BENCH_PID"; done
    stop_pid "$BENCH_PID"
    if [ -n "$COMPARE" ]; then
        start old
        for n in $ho_order; do run "$round" "old-${n#ho-}" "$BENCH_PID"; done
        stop_pid "$BENCH_PID"
    fi
    for p in $PEERS; do
        start "${p%-*}"
        run "$round" "$p" "$BENCH_PID"
        stop_pid "$BENCH_PID"
    done
done

med() { awk -F'\t' -v s="$1" -v c="$2" '$2 == s { print $c }' "$RESULTS" | median; }
# ratio A B COL: per round A/B, then the median
ratio() {
    awk -F'\t' -v a="$1" -v b="$2" -v c="$3" '$2 == a { x[$1] = $c } $2 == b { y[$1] = $c }
        END { for (k in x) if (k in y && y[k] > 0) print x[k] / y[k] }' "$RESULTS" | median
}
echo
echo "summary (median over $ROUNDS rounds; errors: total)"
printf '%-7s %9s %11s %7s\n' server "req/s" cpu_us/req errors
for s in ho-h3 ho-h1 ${COMPARE:+old-h3 old-h1} $PEERS; do
    printf '%-7s %9.0f %11.2f %7s\n' "$s" "$(med "$s" 3)" "$(med "$s" 4)" \
        "$(awk -F'\t' -v s="$s" '$2 == s { e += $5 } END { print e + 0 }' "$RESULTS")"
done
awk -v r="$(ratio ho-h3 ho-h1 3)" -v c="$(ratio ho-h3 ho-h1 4)" 'BEGIN {
    printf "ratio handoff HTTP/3 / HTTP/1.1 over TLS: req/s %.2fx (goal >= 0.8: %s), server CPU per request %.2fx\n",
        r, (r >= 0.8 ? "met" : "missed"), c }'
if [ -n "$COMPARE" ]; then
    for p in h3 h1; do
        awk -v p="$p" -v r="$(ratio "ho-$p" "old-$p" 3)" -v c="$(ratio "ho-$p" "old-$p" 4)" 'BEGIN {
            printf "ratio this build / --compare, %s: req/s %.2fx, server CPU per request %.2fx\n", p, r, c }'
    done
    awk -v r="$(ratio old-h3 old-h1 3)" 'BEGIN { printf "ratio --compare HTTP/3 / HTTP/1.1: req/s %.2fx\n", r }'
fi
case " $PEERS " in *" ng-h3 "*) awk -v r="$(ratio ho-h3 ng-h3 3)" -v c="$(ratio ho-h3 ng-h3 4)" 'BEGIN {
    printf "ratio handoff / gtlsserver, HTTP/3: req/s %.2fx, server CPU per request %.2fx\n", r, c }' ;; esac
case " $PEERS " in *" ngx-h1 "*) awk -v r="$(ratio ho-h1 ngx-h1 3)" -v c="$(ratio ho-h1 ngx-h1 4)" 'BEGIN {
    printf "ratio handoff / nginx, HTTP/1.1 over TLS: req/s %.2fx, server CPU per request %.2fx\n", r, c }' ;; esac
echo "# machine after: $(busy_others)"
