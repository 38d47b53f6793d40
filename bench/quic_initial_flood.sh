#!/usr/bin/env bash
# bench/quic_initial_flood.sh — what a forged QUIC Initial costs the server, against a replay
# of a real one (issue 12 item 3).
#
# One `handoff serve` (one I/O thread). A real client Initial is captured once (`handoff get
# --h3` sent to a UDP socket of ours). Each round: a fresh server; N forged Initials
# (bench/quic_initial_flood.py forged: well-formed 1200-byte version-1 Initials with random
# 8-byte DCIDs and a random protected part), then N replays of the captured Initial (the first
# makes a connection, the others reach it and are dropped as duplicates), or the other order on
# odd rounds. Around each phase: the server's CPU time (the sum over its threads of
# /proc/PID/task/*/schedstat, nanoseconds: utime+stime in clock ticks was too coarse for a
# short phase) and its counters (SIGUSR1): CPU per datagram = CPU time / (h3_datagrams_received
# delta), so datagrams the kernel dropped do not count. Printed per phase: µs per datagram, connections made
# (h3_connections delta) and the drop counters; then the medians and the ratio forged / replay
# (the issue's goal: <= 1).
#
# Usage: bench/quic_initial_flood.sh [-n N] [-r ROUNDS]   (defaults 50000, 3)
# Environment: HANDOFF=path/to/handoff (default build-bench/, then build/), KEEP=1.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=50000
ROUNDS=3
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1" ;;
    esac
done
ho_find_bin
bench_init
PY=$BENCH_LIB_DIR/quic_initial_flood.py
make_cert "$BT"

# The real Initial.
CAP_PORT=$(free_port)
python3 "$PY" capture "$CAP_PORT" "$BT/initial.bin" &
CAP_PID=$!
BENCH_PIDS+=("$CAP_PID")
for _ in $(seq 100); do ss -uln | grep -q "127.0.0.1:$CAP_PORT " && break; sleep 0.05; done
timeout 3 "$HANDOFF" get "https://127.0.0.1:$CAP_PORT/" --h3 --insecure --timeout 2 >/dev/null 2>&1 || true
wait "$CAP_PID" || die "could not capture a client Initial"
forget_pid "$CAP_PID"
note "captured a client Initial of $(stat -c %s "$BT/initial.bin") bytes"

PORT=$(free_port)
# cpu_ns PID: nanoseconds on a CPU, summed over the process's threads (all of handoff's live
# as long as the process).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s }'; }
# settle LOG: poll the counters until h3_datagrams_received stops moving; prints the JSON.
settle() {
    local prev=-1 cur j
    for _ in $(seq 200); do
        j=$(ho_counters "$BENCH_PID" "$BT/ho.log") || die "no counters"
        cur=$(jfield "$j" h3_datagrams_received)
        if [ "$cur" = "$prev" ]; then echo "$j"; return 0; fi
        prev=$cur
        sleep 0.1
    done
    die "the server kept receiving"
}

# phase KIND: one flood; prints "KIND us_per_dgram dgrams conns undecryptable".
phase() {
    local kind=$1 j0 j1 t0 t1 d c u u0 u1
    j0=$(settle)
    t0=$(cpu_ns "$BENCH_PID")
    if [ "$kind" = forged ]; then
        python3 "$PY" forged 127.0.0.1 "$PORT" "$N"
    else
        python3 "$PY" replay 127.0.0.1 "$PORT" "$N" "$BT/initial.bin"
    fi
    j1=$(settle)
    t1=$(cpu_ns "$BENCH_PID")
    d=$(($(jfield "$j1" h3_datagrams_received) - $(jfield "$j0" h3_datagrams_received)))
    c=$(($(jfield "$j1" h3_connections) - $(jfield "$j0" h3_connections)))
    # (0 with a server older than the counter, for a before/after comparison)
    u0=$(jfield "$j0" quic_initial_undecryptable)
    u1=$(jfield "$j1" quic_initial_undecryptable)
    u=$((${u1:-0} - ${u0:-0}))
    awk -v k="$kind" -v t=$((t1 - t0)) -v d="$d" -v c="$c" -v u="$u" \
        'BEGIN { printf "%s %.2f %d %d %d\n", k, (d > 0 ? t / 1000 / d : 0), d, c, u }'
}

echo "# $N datagrams per phase, $ROUNDS rounds; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %-7s %12s %10s %12s %15s\n' round kind us/dgram dgrams connections undecryptable
: >"$BT/results"
for ((r = 1; r <= ROUNDS; r++)); do
    wait_udp_gone "$PORT" || die "UDP port $PORT still bound"
    ho_start ho --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 --threads 1 \
        --cert "$BT/cert.pem" --key "$BT/key.pem"
    wait_udp "$PORT" "$BENCH_PID" || die "server did not start: $(tail -5 "$BT/ho.log")"
    if ((r % 2)); then order="forged replay"; else order="replay forged"; fi
    for kind in $order; do
        line=$(phase "$kind")
        echo "$line" >>"$BT/results"
        # shellcheck disable=SC2086
        printf '%-7s %-7s %12s %10s %12s %15s\n' "$r" $line
    done
    stop_pid "$BENCH_PID"
done
awk '
function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 == "forged" { f[++nf] = $2; fc += $4 } $1 == "replay" { p[++np] = $2; pc += $4 }
END {
    mf = median(f, nf); mp = median(p, np)
    printf "median µs/datagram: forged %.2f, replay %.2f; ratio forged/replay %.2f\n", mf, mp, (mp > 0 ? mf / mp : 0)
    printf "connections made: by forged Initials %d, by replays %d\n", fc, pc
}' "$BT/results"
