#!/usr/bin/env bash
# bench/offload_latency.sh — latency of requests on established keep-alive connections while
# a storm of full handshakes hits the same server. For each server: a baseline (wrk alone),
# then the storm (h2load, Connection: close, one request per connection) with wrk running
# inside it: wrk starts after the storm has begun and ends before the storm is stopped.
# Servers: `handoff serve` with --offload off, always, adaptive; nginx as the peer (it does
# handshakes inline in its workers). One server at a time, alternating order over rounds.
#
# Two latency probes, run one after the other (each in its own storm), both keep-alive,
# 8 connections, on the same URI:
#   wrk     wrk -t1 -c8 -d5s --latency: closed loop, as fast as it can. Its percentiles are
#           wrk 4.1's *corrected* histogram: after the run, every sample longer than twice
#           the mean interval between requests of a connection is complemented with synthetic
#           samples (stats_correct, a coordinated-omission correction), so one long stall
#           weighs as many requests as a constant-rate client would have sent in it.
#   h2load  h2load -t1 -c8 -m1 --rps R -D 5 --log-file: paced (R requests/s per connection,
#           default 500, 4000/s in all: a light load that leaves the CPUs to the server and
#           the storm); p50/p99/p99.9/max computed here from every request's own time.
#
# Usage: bench/offload_latency.sh [options]
#   -d DUR            probe duration (default 5s)
#   -t N / -c N       probe threads / connections (default 1 / 8)
#   --probe P         wrk | h2load | both (default both)
#   --rps R           h2load probe: requests/s per connection (default 500)
#   --uri URI         the probe's request (default /json/1?m=1)
#   --storm-c N       h2load concurrent connections for the storm (default 64)
#   --lead S          seconds of storm before wrk starts (default 2)
#   -r N              rounds (default 2)
#   --threads N       our I/O threads = nginx worker_processes (default 2)
#   --workers M       our --handshake-workers (default 2)
#   --servers LIST    subset of: off always adaptive nginx (default: all four)
#   --no-baseline     skip the runs without storm
#   --samples DIR     h2load probe: keep every request's latency (ms, one a line) in
#                     DIR/SERVER_LOAD_ROUND.lat (bench/charts.sh plots their distribution)
#   -h, --help
# Environment: HANDOFF=path/to/handoff (default build-bench/handoff), KEEP=1 keeps the temp dir.
#
# Output: one row per run: storm handshakes/s during the probe's window (ours: the
# handshakes_done counter, SIGUSR1; nginx: stub_status accepts), the probe's req/s, p50/p99
# (and p99.9 for h2load), max, server CPU% in the window, and for ours the share of handshake
# steps run on a worker and their mean wait in the pool queue. Then medians per probe and
# the ratios p99(off)/p99(always), p99(off)/p99(adaptive), p99(nginx)/p99(mode).
# Goal of the offload issue: p99 with offload <= 2 ms and >= 5x better than without.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

DUR=5s WRK_T=1 WRK_C=8 URI='/json/1?m=1' STORM_C=64 LEAD=2 ROUNDS=2 THREADS=2 WORKERS=2 BASELINE=1
PROBES="wrk h2load" RPS=500 SAMPLES=
SERVERS="off always adaptive nginx"
while [ $# -gt 0 ]; do
    case $1 in
    -d) DUR=$2; shift 2 ;;
    -t) WRK_T=$2; shift 2 ;;
    -c) WRK_C=$2; shift 2 ;;
    --uri) URI=$2; shift 2 ;;
    --probe) case $2 in both) PROBES="wrk h2load" ;; wrk | h2load) PROBES=$2 ;; *) die "--probe wrk|h2load|both" ;; esac; shift 2 ;;
    --rps) RPS=$2; shift 2 ;;
    --storm-c) STORM_C=$2; shift 2 ;;
    --lead) LEAD=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --no-baseline) BASELINE=0; shift ;;
    --samples) SAMPLES=$2; mkdir -p "$SAMPLES"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
DUR_S=${DUR%s}
[[ $DUR_S =~ ^[0-9]+$ ]] || die "-d takes seconds, e.g. 5s"

ho_find_bin
bench_init
NG=$BT/nginx
mkdir -p "$NG/www"
make_cert "$BT"
cp "$BT/cert.pem" "$BT/key.pem" "$NG/"
PORT=$(free_port)
HTTP_PORT=$(free_port)
NG_PORT=$(free_port)
NG_STATUS=$(free_port)

# ---- the bodies nginx serves: wrk's URI and / (the storm's page), from our server ------
ho_start bodies --port "$PORT" --tls-port 0 --http-port "$HTTP_PORT" --threads "$THREADS" \
    --cert "$BT/cert.pem" --key "$BT/key.pem" --dataset "$DATASET_DEFAULT"
wait_port "$PORT" "$BENCH_PID" || die "handoff did not start: $(cat "$BT/bodies.log")"
wait_port "$HTTP_PORT" "$BENCH_PID" || die "handoff did not start: $(cat "$BT/bodies.log")"
curl -s --max-time 5 -o "$NG/www/uri.body" "http://127.0.0.1:$HTTP_PORT$URI" || die "GET $URI failed"
curl -s --max-time 5 -o "$NG/www/index.html" "http://127.0.0.1:$HTTP_PORT/" || die "GET / failed"
stop_pid "$BENCH_PID"

{
    nginx_conf_head "$NG" "$THREADS"
    cat <<EOF
    types { text/html html; }
    default_type application/json;
    server {
        listen 127.0.0.1:$NG_PORT ssl;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        ssl_ecdh_curve X25519;
        root $NG/www;
        location = / { try_files /index.html =404; }
        location / { if (\$request_uri = "$URI") { rewrite ^ /uri.body break; } return 404; }
    }
    server {
        listen 127.0.0.1:$NG_STATUS;
        location = /status { stub_status; }
    }
}
EOF
} >"$NG/nginx.conf"
nginx_prepare "$NG"

RESULTS=$BT/results.tsv
: >"$RESULTS"

start_server() { # NAME -> BENCH_PID, SPORT
    case $1 in
    off | always | adaptive)
        ho_start "$1" --port "$PORT" --tls-port 0 --http-port 0 --threads "$THREADS" \
            --handshake-workers "$WORKERS" --offload "$1" --groups X25519 --no-tickets \
            --cert "$BT/cert.pem" --key "$BT/key.pem" --dataset "$DATASET_DEFAULT"
        SPORT=$PORT ;;
    nginx) nginx_start nginx "$NG"; SPORT=$NG_PORT ;;
    *) die "unknown server $1" ;;
    esac
    wait_port "$SPORT" "$BENCH_PID" || die "$1 did not start: $(cat "$BT/$1.log")"
}

# handshake count of the server under test (ours: handshakes_done; nginx: accepts) and,
# for ours, offloaded and inline handshake steps, pool jobs and their total queueing time:
# "done offloaded inline jobs queued_us"
hs_count() { # NAME PID
    if [ "$1" = nginx ]; then
        echo "$(nginx_accepts "$NG_STATUS") 0 0 0 0"
    else
        local c
        c=$(ho_counters "$2" "$BT/$1.log")
        echo "$(jfield "$c" handshakes_done) $(jfield "$c" handshakes_offloaded) $(jfield "$c" handshakes_inline)" \
            "$(jfield "$c" pool_jobs) $(jfield "$c" pool_queued_us)"
    fi
}

# h2load_lat LOG: "p50 p99 p99.9 max" in ms over every request of an h2load --log-file
h2load_lat() {
    sort -t$'\t' -k3,3n "$1" | awk -F'\t' '{ a[NR] = $3 }
        function q(p) { i = int(NR * p + 0.5); if (i < 1) i = 1; if (i > NR) i = NR; return a[i] / 1000 }
        END { if (NR == 0) print "nan nan nan nan"; else printf "%.3f %.3f %.3f %.3f\n", q(0.50), q(0.99), q(0.999), a[NR] / 1000 }'
}

run_one() { # ROUND NAME STORM(0|1) PROBE(wrk|h2load)
    local round=$1 name=$2 storm=$3 probe=$4 pid spid="" t0 t1 w0 w1 out h0 h1
    start_server "$name"
    pid=$BENCH_PID
    if [ "$round" = 1 ] && [ "$storm" = 1 ]; then
        curl -sk --http1.1 --max-time 5 "https://127.0.0.1:$SPORT$URI" | cmp -s - "$NG/www/uri.body" ||
            die "$name: $URI differs from the reference body"
    fi
    local tag
    tag=$([ "$storm" = 1 ] && echo storm || echo alone)
    out=$BT/${probe}_${name}_${tag}_$round.txt
    if [ "$storm" = 1 ]; then
        # enough connections for far longer than the window; stopped (by PID) after the probe
        timeout -k 5 $((LEAD + DUR_S + 60)) h2load -n 100000000 -c "$STORM_C" -m 1 --h1 \
            -H 'Connection: close' "https://127.0.0.1:$SPORT/" >"$BT/storm_${name}_${probe}_$round.txt" 2>&1 &
        spid=$!
        BENCH_PIDS+=("$spid")
        sleep "$LEAD"
        kill -0 "$spid" 2>/dev/null || die "the storm (h2load) ended before the probe started: $(tail -5 "$BT/storm_${name}_${probe}_$round.txt")"
    fi
    read -r -a h0 < <(hs_count "$name" "$pid")
    t0=$(server_ticks "$pid")
    w0=$(date +%s.%N)
    if [ "$probe" = wrk ]; then
        bounded $((DUR_S + 30)) wrk -t"$WRK_T" -c"$WRK_C" -d"$DUR" --latency "https://127.0.0.1:$SPORT$URI" \
            >"$out" 2>&1 || note "wrk exited with $? for $name"
    else
        bounded $((DUR_S + 30)) h2load -t"$WRK_T" -c"$WRK_C" -m 1 --h1 --rps "$RPS" -D "$DUR_S" \
            --log-file="$out.log" "https://127.0.0.1:$SPORT$URI" >"$out" 2>&1 || note "h2load probe exited with $? for $name"
    fi
    w1=$(date +%s.%N)
    t1=$(server_ticks "$pid")
    read -r -a h1 < <(hs_count "$name" "$pid")
    local alive=1
    if [ -n "$spid" ]; then
        kill -0 "$spid" 2>/dev/null || alive=0
        stop_pid "$spid"
        [ $alive = 1 ] || note "WARNING: $name: the storm ended before the probe did"
    fi
    stop_pid "$pid"
    local reqs secs rps p50 p99 p999="-" maxl errs us
    if [ "$probe" = wrk ]; then
        read -r reqs secs rps p50 p99 errs < <(wrk_parse "$out")
        maxl=$(to_ms "$(awk '$1 == "Latency" { print $4; exit }' "$out")")
    else
        read -r _ errs _ rps < <(h2load_parse "$out")
        read -r p50 p99 p999 maxl < <(h2load_lat "$out.log")
        [ -z "$SAMPLES" ] || awk -F'\t' '{ printf "%.3f\n", $3 / 1000 }' "$out.log" >"$SAMPLES/${name}_${tag}_$round.lat"
        rm -f "$out.log"
    fi
    us=$(ticks_to_us $((t1 - t0)))
    awk -v r="$round" -v n="$name" -v tag="$tag" -v pr="$probe" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')" \
        -v hd="$((h1[0] - h0[0]))" -v off="$((h1[1] - h0[1]))" -v inl="$((h1[2] - h0[2]))" -v rps="$rps" \
        -v jobs="$((h1[3] - h0[3]))" -v qus="$((h1[4] - h0[4]))" \
        -v p50="$p50" -v p99="$p99" -v p999="$p999" -v mx="$maxl" -v us="$us" -v e="$errs" -v storm="$storm" 'BEGIN {
        hs = storm ? hd / w : 0
        o = (n == "nginx" || off + inl == 0) ? "-" : sprintf("%.0f", 100 * off / (off + inl))
        q = (jobs > 0) ? sprintf("%.2f", qus / jobs / 1000) : "-"
        printf "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%.0f\t%s\t%d\t%s\n", r, n, tag, pr, hs, rps, p50, p99, p999, mx, us / 1e4 / w, o, e, q }' >>"$RESULTS"
    tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-5s %-9s %-6s %-6s %7s %7s %8s %8s %8s %8s %6s %9s %6s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 }'
}

echo "== request latency under a handshake storm: storm h2load -c $STORM_C -m 1 --h1 -H 'Connection: close' https://.../ ;"
echo "   probes (keep-alive, ${LEAD}s into the storm, ${DUR_S}s): wrk -t$WRK_T -c$WRK_C -d$DUR --latency https://...$URI"
echo "   and h2load -t$WRK_T -c$WRK_C -m1 --h1 --rps $RPS -D $DUR_S --log-file (raw per-request times);"
echo "   X25519, ECDSA P-256, no tickets; ours: --threads $THREADS --handshake-workers $WORKERS; nginx: worker_processes $THREADS"
echo "   hs/s: handshakes completed by the server during the probe (ours: handshakes_done; nginx: stub_status accepts);"
echo "   cpu_%: server CPU during the probe (200 = both cores); offload_%: handshake steps run on a worker;"
echo "   q_ms: mean time an offloaded step waited in the pool queue (pool_queued_us / pool_jobs, in the window)"
peer_versions | sed 's/^/# /'
echo "# machine before: $(busy_others)"
printf "%-5s %-9s %-6s %-6s %7s %7s %8s %8s %8s %8s %6s %9s %6s %7s\n" round server load probe "hs/s" "req/s" p50_ms p99_ms p999_ms max_ms "cpu_%" "offload_%" errors q_ms
read -r -a LIST <<<"$SERVERS"
read -r -a PLIST <<<"$PROBES"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=("${LIST[@]}"); else order=(); for ((i = ${#LIST[@]} - 1; i >= 0; i--)); do order+=("${LIST[i]}"); done; fi
    for s in "${order[@]}"; do
        for pr in "${PLIST[@]}"; do
            [ "$BASELINE" = 1 ] && run_one "$r" "$s" 0 "$pr"
            run_one "$r" "$s" 1 "$pr"
        done
    done
done

echo
echo "summary (median over $ROUNDS rounds)"
printf "%-9s %-6s %-6s %7s %7s %8s %8s %8s %9s %7s\n" server load probe "hs/s" "req/s" p50_ms p99_ms p999_ms "offload_%" q_ms
for pr in "${PLIST[@]}"; do
    for s in "${LIST[@]}"; do
        for tag in alone storm; do
            grep -q $'\t'"$s"$'\t'"$tag"$'\t'"$pr"$'\t' "$RESULTS" || continue
            med() { awk -F'\t' -v s="$s" -v t="$tag" -v p="$pr" -v c="$1" '$2 == s && $3 == t && $4 == p && $c != "-" { print $c }' "$RESULTS" | median; }
            o=$(med 12); [ "$o" = nan ] && o=-
            q=$(med 9); [ "$q" = nan ] && q=- || q=$(printf %.3f "$q")
            qm=$(med 14); [ "$qm" = nan ] && qm=- || qm=$(printf %.2f "$qm")
            printf "%-9s %-6s %-6s %7.0f %7.0f %8.3f %8.3f %8s %9s %7s\n" "$s" "$tag" "$pr" "$(med 5)" "$(med 6)" "$(med 7)" "$(med 8)" "$q" "$o" "$qm"
        done
    done
done
echo
echo "p99 ratios under the storm (per round, then median; > 1: the second is better)"
ratio() { # PROBE A B
    awk -F'\t' -v p="$1" -v a="$2" -v b="$3" '$3 == "storm" && $4 == p && $2 == a { x[$1] = $8 } $3 == "storm" && $4 == p && $2 == b { y[$1] = $8 }
        END { for (k in x) if (k in y && y[k] > 0) print x[k] / y[k] }' "$RESULTS" | median
}
for pr in "${PLIST[@]}"; do
    for pair in "off always" "off adaptive" "nginx off" "nginx always" "nginx adaptive"; do
        read -r a b <<<"$pair"
        [[ " ${LIST[*]} " == *" $a "* && " ${LIST[*]} " == *" $b "* ]] || continue
        printf "  %-6s p99 %s / p99 %s: %.2f\n" "$pr" "$a" "$b" "$(ratio "$pr" "$a" "$b")"
    done
    for m in always adaptive; do
        [[ " ${LIST[*]} " == *" $m "* ]] || continue
        p=$(awk -F'\t' -v s="$m" -v pr="$pr" '$2 == s && $3 == "storm" && $4 == pr { print $8 }' "$RESULTS" | median)
        x=$([[ " ${LIST[*]} " == *" off "* ]] && ratio "$pr" off "$m" || echo nan)
        awk -v m="$m" -v p="$p" -v x="$x" -v pr="$pr" 'BEGIN {
            printf "  %-6s goal (%s): p99 %.3f ms <= 2 ms: %s; ", pr, m, p, (p <= 2 ? "met" : "NOT met")
            if (x == "nan" || x == "") print "p99 off/" m ": n/a (off not run)"
            else printf "p99 off/%s %.2fx >= 5x: %s\n", m, x, (x + 0 >= 5 ? "met" : "NOT met") }'
    done
done
echo "# machine after: $(busy_others)"
