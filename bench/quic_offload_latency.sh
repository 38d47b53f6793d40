#!/usr/bin/env bash
# bench/quic_offload_latency.sh — latency of HTTP/3 requests on established QUIC connections
# while a storm of fresh QUIC handshakes hits the same `handoff serve`, with the handshake
# steps run inline (--offload off), always on the pool (always) or adaptive. Issue 9 (c).
#
# Per run: a fresh server (--threads T --handshake-workers M --offload MODE), an uncounted
# warm-up (quic_load -n WARM), then one quic_load run with
#   --keep K --interval MS   K connections, established before the storm, each GETting
#                            /baseline2?a=1&b=1 every MS ms on schedule (latency from the
#                            scheduled time: no coordinated omission); reported for the
#                            storm's window only
#   -c C -n N                the storm: C concurrent fresh handshakes + one GET each
# and the server's counters (SIGUSR1) before and after: QUIC steps offloaded / inline, their
# mean time out (submit to finish, out_us), datagrams that waited for a step (dq), Retries
# sent, and the kernel's UDP receive-buffer drops during the run (rcvbuf: /proc/net/snmp
# RcvbufErrors, every socket of the machine). Modes alternate order over rounds.
#
# Pinning (default on, 2-CPU machine): the server and all its threads (I/O and handshake
# workers) on CPU 1 (taskset -a -p after start; later threads inherit it), quic_load on
# CPU 0. So the I/O thread and the workers share one core: what offload buys there is the
# scheduler's preference for the I/O thread (workers run at --worker-nice 10) and a loop
# that is never blocked for a whole handshake step. --no-pin lets everything float.
#
# Usage: bench/quic_offload_latency.sh [options]
#   -r N              rounds (default 2)
#   -n N              storm connections per run (default 2000)
#   -c N              storm concurrency (default 64)
#   --keep K          probe connections (default 8)
#   --interval MS     probe period per connection (default 10)
#   --threads N       handoff serve --threads (default 1)
#   --workers M       handoff serve --handshake-workers (default 1)
#   --modes LIST      subset of "off always adaptive" (default all three)
#   --warm N          warm-up connections per run (default 200)
#   --rate R          open-loop storm: R new connections/s (quic_load -r; default: closed
#                     loop, a new connection as soon as one of the -c slots frees up)
#   --server-cpu L / --client-cpu L   taskset CPU lists (default 1 / 0)
#   --worker-cpu L    put the handshake workers (threads named ho-handshake) on these CPUs
#                     instead of the server's (e.g. 0: with quic_load), so that the I/O
#                     thread has CPU 1 to itself
#   --no-pin          no taskset
#   -h, --help
# Environment: HANDOFF, QUIC_LOAD (default: from build-bench/, then build/), KEEP=1 keeps the
# temp dir (server logs, quic_load reports).
#
# Output: one row per run, then medians per mode and the ratios
#   p99(off) / p99(mode)            probe request p99, goal >= 5 for the offloaded modes
#   hs_p50(mode) / hs_p50(off)      the storm's own handshake latency, goal <= 1.10
# (and the same for hs_p99). The machine is shared: each run prints what else was busy.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=2 N=2000 CONNS=64 KEEPN=8 INTERVAL=10 THREADS=1 WORKERS=1 MODES="off always adaptive" WARM=200
SCPU=1 CCPU=0 PIN=1 RATE="" WCPU=""
while [ $# -gt 0 ]; do
    case $1 in
    -r) ROUNDS=$2; shift 2 ;;
    -n) N=$2; shift 2 ;;
    -c) CONNS=$2; shift 2 ;;
    --keep) KEEPN=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --warm) WARM=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --server-cpu) SCPU=$2; shift 2 ;;
    --client-cpu) CCPU=$2; shift 2 ;;
    --no-pin) PIN=0; shift ;;
    --worker-cpu) WCPU=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
for v in ROUNDS N CONNS KEEPN INTERVAL THREADS WARM; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done
[[ $WORKERS =~ ^[0-9]+$ ]] || die "--workers takes a number"
for m in $MODES; do case $m in off | always | adaptive) ;; *) die "unknown mode $m" ;; esac; done

ho_find_bin
if [ -z "${QUIC_LOAD:-}" ]; then
    QUIC_LOAD=$(dirname "$HANDOFF")/bench/quic_load
fi
[ -x "$QUIC_LOAD" ] || die "no quic_load at $QUIC_LOAD: build the bench targets or set QUIC_LOAD"
[ "$PIN" = 0 ] || command -v taskset >/dev/null || die "taskset missing (util-linux)"
bench_init
make_cert "$BT"
PORT=$(free_port)
CLIENT=("$QUIC_LOAD")
[ "$PIN" = 1 ] && CLIENT=(taskset -c "$CCPU" "$QUIC_LOAD")

load() { # OUT ARGS...: quic_load, report in OUT, its JSON on stdout
    local out=$1
    shift
    bounded 600 "${CLIENT[@]}" --cafile "$BT/cert.pem" "$@" "127.0.0.1:$PORT" >"$out" 2>&1 ||
        die "quic_load failed: $(tail -5 "$out")"
    grep '^quic_load {' "$out" | tail -1 | sed 's/^quic_load //'
}
# rcvbuf_errors: the kernel's UDP receive-buffer drops, all sockets (/proc/net/snmp RcvbufErrors)
rcvbuf_errors() { awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp; }
jnum() { echo "$1" | grep -o "\"$2\":[-0-9.]*" | head -1 | cut -d: -f2; }
delta() { echo $(($(jfield "$2" "$1") - $(jfield "$3" "$1"))); } # NAME AFTER BEFORE

note "$(busy_others)"
echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(uname -sr), loopback"
echo "# handoff: $HANDOFF (repo HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null))"
echo "# server: --threads $THREADS --handshake-workers $WORKERS --offload MODE$([ "$PIN" = 1 ] && echo ", pinned to CPU $SCPU (taskset -a -p)${WCPU:+, handshake workers on CPU $WCPU}")"
echo "# quic_load -c $CONNS -n $N${RATE:+ -r $RATE} --keep $KEEPN --interval $INTERVAL$([ "$PIN" = 1 ] && echo ", pinned to CPU $CCPU (taskset -c)")"
printf '%-8s %3s %5s %4s %7s %8s %8s %8s %8s %8s %7s %7s %6s %5s %5s %6s %s\n' mode rnd ok err hs/s \
    keep_p50 keep_p99 keep_max hs_p50 hs_p99 off_ld inline out_us dq retry rcvbuf late/err
RESULTS=$BT/results.tsv
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
    order=$MODES
    [ $((round % 2)) = 0 ] && order=$(echo "$MODES" | tr ' ' '\n' | tac | tr '\n' ' ')
    for m in $order; do
        wait_udp_gone "$PORT" || die "UDP port $PORT still bound"
        ho_start "$m" --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 --threads "$THREADS" \
            --handshake-workers "$WORKERS" --offload "$m" --cert "$BT/cert.pem" --key "$BT/key.pem"
        pid=$BENCH_PID
        wait_udp "$PORT" "$pid" || die "server ($m) did not start: $(tail -5 "$BT/$m.log")"
        if [ "$PIN" = 1 ]; then
            taskset -a -p -c "$SCPU" "$pid" >/dev/null || die "taskset failed"
            if [ -n "$WCPU" ]; then
                nw=0
                for t in /proc/"$pid"/task/*; do
                    [ "$(cat "$t/comm" 2>/dev/null)" = ho-handshake ] || continue
                    taskset -p -c "$WCPU" "${t##*/}" >/dev/null || die "taskset (worker) failed"
                    nw=$((nw + 1))
                done
                [ "$WORKERS" = 0 ] || [ "$m" = off ] || [ "$nw" -gt 0 ] || die "no ho-handshake thread found"
            fi
        fi
        load "$BT/$m.$round.warm" -n "$WARM" -c "$CONNS" >/dev/null
        c0=$(ho_counters "$pid" "$BT/$m.log") || die "no counters from the server"
        r0=$(rcvbuf_errors)
        j=$(load "$BT/$m.$round.out" -n "$N" -c "$CONNS" ${RATE:+-r "$RATE"} --keep "$KEEPN" --interval "$INTERVAL")
        r1=$(rcvbuf_errors)
        c1=$(ho_counters "$pid" "$BT/$m.log") || die "no counters from the server"
        stop_pid "$pid"
        kj=$(echo "$j" | grep -o '"keep":{[^}]*}')
        offl=$(delta quic_steps_offloaded "$c1" "$c0")
        inl=$(delta quic_steps_inline "$c1" "$c0")
        outus=$(delta quic_step_out_us "$c1" "$c0")
        qmean=$(awk -v q="$outus" -v n="$offl" 'BEGIN { printf "%.0f", (n > 0 ? q / n : 0) }')
        dq=$(delta quic_step_queued "$c1" "$c0")
        retry=$(delta h3_retry_sent "$c1" "$c0")
        printf '%-8s %3s %5s %4s %7s %8s %8s %8s %8s %8s %7s %7s %6s %5s %5s %6s %s\n' "$m" "$round" \
            "$(jnum "$j" ok)" "$(jnum "$j" errors)" "$(jnum "$j" handshakes_per_s)" \
            "$(jnum "$kj" p50_ms)" "$(jnum "$kj" p99_ms)" "$(jnum "$kj" max_ms)" \
            "$(jnum "$j" hs_p50_ms)" "$(jnum "$j" hs_p99_ms)" "$offl" "$inl" "$qmean" "$dq" "$retry" "$((r1 - r0))" \
            "$(jnum "$kj" late)/$(jnum "$kj" errors)"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$(jnum "$kj" p99_ms)" "$(jnum "$j" hs_p50_ms)" \
            "$(jnum "$j" hs_p99_ms)" "$(jnum "$kj" p50_ms)" "$(jnum "$j" handshakes_per_s)" >>"$RESULTS"
    done
done

med() { awk -F'\t' -v s="$1" -v c="$2" '$1 == s { print $c }' "$RESULTS" | median; }
echo "# medians over $ROUNDS rounds (ms; keep = requests on established connections during the storm)"
for m in $MODES; do
    printf '%-8s keep_p50 %s  keep_p99 %s  hs_p50 %s  hs_p99 %s  hs/s %s\n' "$m" "$(med "$m" 5)" \
        "$(med "$m" 2)" "$(med "$m" 3)" "$(med "$m" 4)" "$(med "$m" 6)"
done
if echo " $MODES " | grep -q ' off '; then
    for m in $MODES; do
        [ "$m" = off ] && continue
        awk -v m="$m" -v po="$(med off 2)" -v pm="$(med "$m" 2)" -v ho="$(med off 3)" -v hm="$(med "$m" 3)" \
            -v qo="$(med off 4)" -v qm="$(med "$m" 4)" 'BEGIN {
            printf "ratio %s: keep p99 off/%s %.2fx (goal >= 5); storm handshake p50 %s/off %.2fx, p99 %s/off %.2fx (goal <= 1.10)\n",
                m, m, po / pm, m, hm / ho, m, qm / qo }'
    done
fi
note "$(busy_others)"
