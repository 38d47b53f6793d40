#!/usr/bin/env bash
# bench/handshakes.sh — full TLS 1.3 handshakes over loopback: h2load, one request per
# connection (-m 1, Connection: close), X25519 and an ECDSA P-256 certificate, no tickets,
# no session cache, against `handoff serve` (--offload off, --offload adaptive) and nginx.
# Servers run one at a time, in alternating order over the rounds; each gets a fresh process.
#
# Usage: bench/handshakes.sh [options]
#   -n N              connections (= handshakes) per run (default 10000)
#   -c N              h2load concurrent connections (default 32)
#   -r N              rounds (default 2)
#   --threads N       our I/O threads = nginx worker_processes (default 2)
#   --workers M       our --handshake-workers (default 2)
#   --servers LIST    space-separated subset of: handoff-off handoff-adaptive handoff-always nginx
#                     (default: handoff-off handoff-adaptive nginx)
#   --max-time S      bound on one h2load run, seconds (default 120)
#   -h, --help
# Environment: HANDOFF=path/to/handoff (default build-bench/handoff), KEEP=1 keeps the temp dir.
#
# Output: one row per run and a summary (medians, ratios handoff/nginx). cpu_us/hs is the
# server's utime+stime (all threads; nginx: master + workers, /proc/PID/stat) over the run
# divided by the successful connections; client_us/hs is h2load's own CPU the same way.
# Every connection also carries one GET / (the same bytes from both servers).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=10000 CONNS=32 ROUNDS=2 THREADS=2 WORKERS=2 MAXT=120
SERVERS="handoff-off handoff-adaptive nginx"
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --max-time) MAXT=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done

ho_find_bin
bench_init
NG=$BT/nginx
mkdir -p "$NG/www"
make_cert "$BT"
cp "$BT/cert.pem" "$BT/key.pem" "$NG/"
PORT=$(free_port)
NG_PORT=$(free_port)

# ---- the page: our / , served by nginx as a static file ------------------------------
ho_start page --port "$PORT" --tls-port 0 --http-port 0 --threads "$THREADS" \
    --cert "$BT/cert.pem" --key "$BT/key.pem"
wait_port "$PORT" "$BENCH_PID" || die "handoff did not start: $(cat "$BT/page.log")"
curl -sk --http1.1 --max-time 5 -o "$NG/www/index.html" "https://127.0.0.1:$PORT/" || die "GET / failed"
stop_pid "$BENCH_PID"

{
    nginx_conf_head "$NG" "$THREADS"
    cat <<EOF
    types { text/html html; }
    default_type text/html;
    server {
        listen 127.0.0.1:$NG_PORT ssl;
        ssl_certificate $NG/cert.pem;
        ssl_certificate_key $NG/key.pem;
        ssl_ecdh_curve X25519;
        root $NG/www;
        location = / { try_files /index.html =404; }
    }
}
EOF
} >"$NG/nginx.conf"
nginx_prepare "$NG"

RESULTS=$BT/results.tsv
: >"$RESULTS"

start_server() { # NAME -> BENCH_PID, SPORT
    local mode
    case $1 in
    handoff-off | handoff-adaptive | handoff-always)
        mode=${1#handoff-}
        ho_start "$1" --port "$PORT" --tls-port 0 --http-port 0 --threads "$THREADS" \
            --handshake-workers "$WORKERS" --offload "$mode" --groups X25519 --no-tickets \
            --cert "$BT/cert.pem" --key "$BT/key.pem"
        SPORT=$PORT ;;
    nginx) nginx_start nginx "$NG"; SPORT=$NG_PORT ;;
    *) die "unknown server $1" ;;
    esac
    wait_port "$SPORT" "$BENCH_PID" || die "$1 did not start: $(cat "$BT/$1.log")"
}

run_one() { # ROUND NAME
    local round=$1 name=$2 pid t0 t1 out c0="" c1="" offl="-"
    start_server "$name"
    pid=$BENCH_PID
    if [ "$round" = 1 ]; then
        curl -sk --http1.1 --max-time 5 "https://127.0.0.1:$SPORT/" | cmp -s - "$NG/www/index.html" ||
            die "$name: GET / differs from the reference page"
    fi
    out=$BT/h2load_${name}_$round.txt
    [ "${name#handoff}" != "$name" ] && c0=$(ho_counters "$pid" "$BT/$name.log")
    t0=$(server_ticks "$pid")
    bounded "$MAXT" /usr/bin/time -f 'client_cpu %U %S' \
        h2load -n "$N" -c "$CONNS" -m 1 --h1 -H 'Connection: close' "https://127.0.0.1:$SPORT/" \
        >"$out" 2>&1 || note "h2load exited with $? for $name"
    t1=$(server_ticks "$pid")
    if [ "${name#handoff}" != "$name" ]; then
        c1=$(ho_counters "$pid" "$BT/$name.log")
        local off in_
        off=$(($(jfield "$c1" handshakes_offloaded) - $(jfield "$c0" handshakes_offloaded)))
        in_=$(($(jfield "$c1" handshakes_inline) - $(jfield "$c0" handshakes_inline)))
        # steps: a full handshake is 2 steps (ClientHello, client Finished)
        offl=$(awk -v o="$off" -v i="$in_" 'BEGIN { printf "%.0f", (o + i) ? 100 * o / (o + i) : 0 }')
    fi
    [ "$round" = 1 ] && note "$name: $(grep -E 'TLS Protocol|Cipher|Server Temp Key|Application protocol' "$out" | tr -s ' \n' ' ')"
    stop_pid "$pid"
    read -r ok bad secs rps < <(h2load_parse "$out")
    local us cus
    us=$(ticks_to_us $((t1 - t0)))
    cus=$(awk '/^client_cpu/ { printf "%.0f", ($2 + $3) * 1e6 }' "$out")
    awk -v r="$round" -v n="$name" -v ok="$ok" -v bad="$bad" -v s="$secs" -v us="$us" -v cus="${cus:-0}" \
        -v off="$offl" 'BEGIN {
        printf "%s\t%s\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%s\n", r, n, (s > 0 ? ok / s : 0), (ok > 0 ? us / ok : 0),
               (s > 0 ? us / 1e4 / s : 0), (ok > 0 ? cus / ok : 0), bad, off }' >>"$RESULTS"
    tail -1 "$RESULTS" | awk -F'\t' '{ printf "%-5s %-17s %8s %10s %7s %12s %7s %12s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}

echo "== full handshakes: h2load -n $N -c $CONNS -m 1 --h1 -H 'Connection: close'; X25519, ECDSA P-256, TLS_AES_128_GCM_SHA256;"
echo "   no tickets, no session cache; servers: $THREADS I/O threads / workers (ours: --handshake-workers $WORKERS)"
peer_versions | sed 's/^/# /'
echo "# machine before: $(busy_others)"
printf "%-5s %-17s %8s %10s %7s %12s %7s %12s\n" round server "hs/s" "cpu_us/hs" "cpu_%" "client_us/hs" failed "offloaded_%"
read -r -a LIST <<<"$SERVERS"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=("${LIST[@]}"); else order=(); for ((i = ${#LIST[@]} - 1; i >= 0; i--)); do order+=("${LIST[i]}"); done; fi
    for s in "${order[@]}"; do run_one "$r" "$s"; done
done

echo
echo "summary (median over $ROUNDS rounds; ratio = handoff variant / nginx, per round then median;"
echo "         hs/s: higher is better, cpu_us/hs: lower is better; offloaded_% = handshake steps run on a worker)"
printf "%-17s %8s %10s %12s %12s %14s\n" server "hs/s" "cpu_us/hs" "client_us/hs" "ratio_hs/s" "ratio_cpu/hs"
for s in "${LIST[@]}"; do
    rps=$(awk -F'\t' -v s="$s" '$2 == s { print $3 }' "$RESULTS" | median)
    cpu=$(awk -F'\t' -v s="$s" '$2 == s { print $4 }' "$RESULTS" | median)
    cl=$(awk -F'\t' -v s="$s" '$2 == s { print $6 }' "$RESULTS" | median)
    if [ "$s" != nginx ] && grep -q $'\tnginx\t' "$RESULTS"; then
        rr=$(awk -F'\t' -v s="$s" '$2 == s { a[$1] = $3 } $2 == "nginx" { b[$1] = $3 }
            END { for (k in a) if (k in b && b[k] > 0) print a[k] / b[k] }' "$RESULTS" | median)
        rc=$(awk -F'\t' -v s="$s" '$2 == s { a[$1] = $4 } $2 == "nginx" { b[$1] = $4 }
            END { for (k in a) if (k in b && b[k] > 0) print a[k] / b[k] }' "$RESULTS" | median)
        printf "%-17s %8.0f %10.1f %12.1f %12.2f %14.2f\n" "$s" "$rps" "$cpu" "$cl" "$rr" "$rc"
    else
        printf "%-17s %8.0f %10.1f %12.1f %12s %14s\n" "$s" "$rps" "$cpu" "$cl" - -
    fi
done
echo "# machine after: $(busy_others)"
