#!/usr/bin/env bash
# bench/quic_handshakes.sh — server CPU per QUIC connection (a full handshake plus one small
# HTTP/3 GET), `handoff serve` against ngtcp2's gtlsserver, both driven by bench/quic_load in
# the same run. ECDSA P-256 certificate (the PEERS.md recipe), X25519 (quic_load's key share),
# TLS_AES_128_GCM_SHA256 (both servers' first choice), no resumption: every connection is a
# fresh handshake. handoff answers /baseline2?a=1&b=1 ("2"), gtlsserver a file /small holding
# the same byte.
#
# Each round starts a fresh server, runs an uncounted warm-up (quic_load -n WARM), then reads
# the server's utime+stime (/proc/PID/stat, all threads, clock ticks of 1/CLK_TCK s) before and
# after one quic_load -n N -c C run; CPU per connection = that difference / connections that
# succeeded. Rounds alternate the order (ho ng, ng ho, ...). Then medians per server and the
# ratio handoff / gtlsserver (the issue 9 goal is <= 0.25).
#
# Usage: bench/quic_handshakes.sh [options]
#   -n N              connections per measured run (default 3000)
#   -c N              quic_load concurrent connections (default 32)
#   -r N              rounds (default 3)
#   -t N              quic_load threads (default 1)
#   --threads N       handoff serve --threads (default 1)
#   --workers M       handoff serve --handshake-workers (default: the server's default)
#   --offload MODE    handoff serve --offload off|always|adaptive (default: the server's)
#   --warm N          warm-up connections per round, not measured (default 200)
#   --servers LIST    subset of "ho ng" (default both)
#   --tcp             also, in the same handoff process right after its QUIC run, the same
#                     work over TCP: h2load -n N -c C -m 1 --h1, Connection: close, to
#                     https://127.0.0.1:PORT/baseline2?a=1&b=1 (TLS 1.3, X25519, P-256), and
#                     the ratio QUIC/TCP of handoff's CPU per connection (goal <= 1.3)
#   -h, --help
# Environment: HANDOFF=path/to/handoff and QUIC_LOAD=path/to/quic_load (default: from
# build-bench/, then build/), KEEP=1 keeps the temp dir (logs, quic_load reports).
#
# Caveat: on a 2-core machine quic_load and the server share the cores (and with whatever
# else runs); compare CPU per connection first, rates second. gtlsserver (ngtcp2 0.12
# example) answers a GET about 20 ms after the handshake on its own schedule, so its request
# latency is not comparable, and -c must be large enough to keep it busy.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=3000 CONNS=32 ROUNDS=3 QTHREADS=1 THREADS=1 WORKERS="" OFFLOAD="" WARM=200 SERVERS="ho ng" TCP=0
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    -t) QTHREADS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --offload) OFFLOAD=$2; shift 2 ;;
    --warm) WARM=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --tcp) TCP=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
for v in N CONNS ROUNDS QTHREADS THREADS WARM; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
for s in $SERVERS; do case $s in ho | ng) ;; *) die "unknown server $s (ho ng)" ;; esac; done
command -v gtlsserver >/dev/null || die "gtlsserver missing: apt-get install ngtcp2-server"
[ "$TCP" = 0 ] || command -v h2load >/dev/null || die "h2load missing: apt-get install nghttp2-client"

ho_find_bin
if [ -z "${QUIC_LOAD:-}" ]; then
    QUIC_LOAD=$(dirname "$HANDOFF")/bench/quic_load
fi
[ -x "$QUIC_LOAD" ] || die "no quic_load at $QUIC_LOAD: build the bench targets or set QUIC_LOAD"
bench_init
make_cert "$BT"
mkdir -p "$BT/htdocs"
printf 2 >"$BT/htdocs/small"
PORT=$(free_port)   # a TCP port picked by the kernel; the UDP port of the same number is used


start_server() { # ho|ng -> BENCH_PID, URL_PATH
    wait_udp_gone "$PORT" || die "UDP port $PORT still bound"
    if [ "$1" = ho ]; then
        local extra=()
        [ -n "$WORKERS" ] && extra+=(--handshake-workers "$WORKERS")
        [ -n "$OFFLOAD" ] && extra+=(--offload "$OFFLOAD")
        ho_start ho --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 --threads "$THREADS" \
            --cert "$BT/cert.pem" --key "$BT/key.pem" "${extra[@]}"
        URL_PATH='/baseline2?a=1&b=1'
    else
        gtlsserver 127.0.0.1 "$PORT" "$BT/key.pem" "$BT/cert.pem" -d "$BT/htdocs" -q >"$BT/ng.log" 2>&1 &
        BENCH_PID=$!
        BENCH_PIDS+=("$BENCH_PID")
        URL_PATH=/small
    fi
    wait_udp "$PORT" "$BENCH_PID" || die "$1 server did not start: $(tail -5 "$BT/$1.log")"
}

# load OUT ARGS...: quic_load against the server, report in OUT; the JSON line on stdout.
load() {
    local out=$1
    shift
    bounded 600 "$QUIC_LOAD" --cafile "$BT/cert.pem" -p "$URL_PATH" "$@" "127.0.0.1:$PORT" >"$out" 2>&1 ||
        die "quic_load failed: $(tail -5 "$out")"
    grep '^quic_load {' "$out" | tail -1 | sed 's/^quic_load //'
}
# tcp_run OUT COUNT: h2load, one GET per TLS connection, to handoff's TCP port.
tcp_run() {
    bounded 600 h2load -n "$(($2 > CONNS ? $2 : CONNS))" -c "$CONNS" -m 1 --h1 -H 'Connection: close' \
        "https://127.0.0.1:$PORT/baseline2?a=1&b=1" >"$1" 2>&1 || die "h2load failed: $(tail -5 "$1")"
}
jnum() { echo "$1" | grep -o "\"$2\":[-0-9.]*" | head -1 | cut -d: -f2; }

note "$(busy_others)"
echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(uname -sr), loopback"
echo "# handoff: $HANDOFF (repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)); gtlsserver: ngtcp2 $(dpkg-query -W -f='${Version}' ngtcp2-server 2>/dev/null)"
echo "# quic_load -n $N -c $CONNS -t $QTHREADS; handoff --threads $THREADS${WORKERS:+ --handshake-workers $WORKERS}${OFFLOAD:+ --offload $OFFLOAD}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %5s %6s %7s %8s %9s %8s %8s %10s\n' server round ok errors hs/s cpu_us/c hs_p50 hs_p99 client_us/c
RESULTS=$BT/results.tsv
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    order=$SERVERS
    if [ $((round % 2)) = 0 ]; then order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for s in $order; do
        start_server "$s"
        load "$BT/$s.$round.warm" -n "$WARM" -c "$CONNS" -t "$QTHREADS" >/dev/null
        before=$(cpu_ticks "$BENCH_PID")
        j=$(load "$BT/$s.$round.out" -n "$N" -c "$CONNS" -t "$QTHREADS")
        after=$(cpu_ticks "$BENCH_PID")
        ok=$(jnum "$j" ok) errors=$(jnum "$j" errors)
        [ "${ok:-0}" -gt 0 ] || die "$s: no connection succeeded: $(tail -5 "$BT/$s.$round.out")"
        cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$ok" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
        cli=$(awk -v c="$(jnum "$j" client_cpu_s)" -v n="$(jnum "$j" started)" 'BEGIN { printf "%.1f", c * 1e6 / n }')
        printf '%-4s %5s %6s %7s %8s %9s %8s %8s %10s\n' "$s" "$round" "$ok" "$errors" "$(jnum "$j" handshakes_per_s)" \
            "$cpu" "$(jnum "$j" hs_p50_ms)" "$(jnum "$j" hs_p99_ms)" "$cli"
        printf '%s\t%s\t%s\t%s\n' "$s" "$cpu" "$(jnum "$j" handshakes_per_s)" "$errors" >>"$RESULTS"
        if [ "$s" = ho ] && [ "$TCP" = 1 ]; then
            tcp_run "$BT/tcp.$round.warm" "$WARM"
            tb=$(cpu_ticks "$BENCH_PID")
            tcp_run "$BT/tcp.$round.out" "$N"
            ta=$(cpu_ticks "$BENCH_PID")
            read -r tok tfail _ trps <<<"$(h2load_parse "$BT/tcp.$round.out")"
            [ "${tok:-0}" -gt 0 ] || die "tcp: no connection succeeded: $(tail -5 "$BT/tcp.$round.out")"
            tcpu=$(awk -v t=$((ta - tb)) -v hz="$CLK_TCK" -v n="$tok" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
            printf '%-4s %5s %6s %7s %8s %9s %8s %8s %10s\n' tcp "$round" "$tok" "$tfail" "$trps" "$tcpu" - - -
            printf '%s\t%s\t%s\t%s\n' tcp "$tcpu" "$trps" "$tfail" >>"$RESULTS"
        fi
        stop_pid "$BENCH_PID"
    done
done

med() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s { print $c }' "$RESULTS" | median; }
echo "# medians over $ROUNDS rounds (cpu_us/c: server CPU per connection, microseconds)"
SHOWN=$SERVERS
[ "$TCP" = 1 ] && SHOWN="$SERVERS tcp"
for s in $SHOWN; do
    printf '%-4s cpu_us/c %s  hs/s %s  errors(total) %s\n' "$s" "$(med "$s" 2)" "$(med "$s" 3)" \
        "$(awk -F'\t' -v s="$s" '$1 == s { e += $4 } END { print e + 0 }' "$RESULTS")"
done
if [ "$SERVERS" = "ho ng" ] || [ "$SERVERS" = "ng ho" ]; then
    awk -v h="$(med ho 2)" -v g="$(med ng 2)" -v hr="$(med ho 3)" -v gr="$(med ng 3)" 'BEGIN {
        printf "ratio handoff/gtlsserver: server CPU per connection %.2fx, handshakes/s %.2fx\n", h / g, hr / gr }'
fi
if [ "$TCP" = 1 ]; then
    awk -v q="$(med ho 2)" -v t="$(med tcp 2)" 'BEGIN {
        printf "ratio handoff QUIC/TCP+TLS: server CPU per connection %.2fx\n", q / t }'
fi
note "$(busy_others)"
