#!/usr/bin/env bash
# bench/quic_bulk.sh — one QUIC connection, one bulk HTTP/3 download over loopback, ours
# against ngtcp2's GnuTLS examples, in the same run. Four server → client pairs:
#   a  handoff serve  → handoff get --h3      (ours end to end)
#   b  gtlsserver     → gtlsclient            (the peer, the reference of the ratios)
#   c  handoff serve  → gtlsclient            (our server against the peer's client)
#   d  gtlsserver     → handoff get --h3      (our client against the peer's server)
# The body is SIZE random bytes made once on tmpfs, served by `handoff serve --static`
# (/static/blob) and by `gtlsserver -d` (/blob). Every run starts a fresh server, waits
# until it listens, then times one client process; rounds alternate the order of the pairs
# (a b c d, d c b a, ...). One server and one client at a time.
#
# Before the timed rounds, each pair downloads once into a file on tmpfs and the bytes are
# compared with the original (cmp): a broken transfer stops the benchmark. The timed runs
# discard the body without printing it: `handoff get --h3 ... >/dev/null`, gtlsclient `-q`
# without --download.
#
# Figures per run:
#   wall     the client process from exec to exit (QUIC + TLS handshake included), ms
#   Gbit/s   SIZE * 8 / wall
#   srv/GB   the server's CPU time (all threads, from /proc/PID/task/*/schedstat, ns
#            resolution; user+sys) spent during the client's run, ms per GB of body
#   cli/GB   the client's user+sys CPU time (wait4 rusage), ms per GB of body
# Then medians over the rounds per pair, and ratios to pair b (throughput x/b, CPU x/b).
#
# Usage: bench/quic_bulk.sh [options]
#   --size BYTES      body size (default 100000000; suffixes k, M, G = 10^3, 10^6, 10^9)
#   --rounds N        timed rounds (default 3)
#   --pairs LIST      subset of a b c d, e.g. "a b" (default all four)
#   -h, --help
# Environment: HANDOFF=path/to/handoff (default build-bench/handoff, then build/handoff),
# KEEP=1 keeps the temp dir, TMPDIR (default /dev/shm when writable: the body lives there).
#
# Caveat: on this machine (2 shared vCPUs) client and server run on the same two cores
# as each other and as whatever else runs; compare CPU per GB first, rates second.
set -euo pipefail
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

SIZE=100000000 ROUNDS=3 PAIRS="a b c d"
while [ $# -gt 0 ]; do
    case $1 in
    --size) SIZE=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
case $SIZE in
*k) SIZE=$((${SIZE%k} * 1000)) ;;
*M) SIZE=$((${SIZE%M} * 1000000)) ;;
*G) SIZE=$((${SIZE%G} * 1000000000)) ;;
esac
if ! [[ $SIZE =~ ^[0-9]+$ ]] || [ "$SIZE" -eq 0 ]; then die "--size takes a positive byte count"; fi
if ! [[ $ROUNDS =~ ^[0-9]+$ ]] || [ "$ROUNDS" -eq 0 ]; then die "--rounds takes a positive count"; fi
for p in $PAIRS; do case $p in a | b | c | d) ;; *) die "unknown pair $p (a b c d)" ;; esac; done
if ! command -v gtlsserver >/dev/null || ! command -v gtlsclient >/dev/null; then
    die "gtlsserver/gtlsclient missing: apt-get install ngtcp2-server ngtcp2-client"
fi

ho_find_bin
bench_init
mkdir -p "$BT/static" "$BT/htdocs" "$BT/dl"
make_cert "$BT"
head -c "$SIZE" /dev/urandom >"$BT/static/blob"
ln "$BT/static/blob" "$BT/htdocs/blob" 2>/dev/null || cp "$BT/static/blob" "$BT/htdocs/blob"
PORT=$(free_port)   # a TCP port picked by the kernel; the UDP port of the same number is used
URL_HO="https://127.0.0.1:$PORT/static/blob"
URL_NG="https://127.0.0.1:$PORT/blob"


start_server() { # ho|ng -> BENCH_PID
    if [ "$1" = ho ]; then
        ho_start ho --port "$PORT" --tls-port 0 --http-port 0 --threads 1 --handshake-workers 0 \
            --cert "$BT/cert.pem" --key "$BT/key.pem" --static "$BT/static"
    else
        gtlsserver 127.0.0.1 "$PORT" "$BT/key.pem" "$BT/cert.pem" -d "$BT/htdocs" -q >"$BT/ng.log" 2>&1 &
        BENCH_PID=$!
        BENCH_PIDS+=("$BENCH_PID")
    fi
    wait_udp "$PORT" "$BENCH_PID" || die "$1 server did not start: $(tail -5 "$BT/$1.log")"
}

# server_ns PID: CPU time of every thread of PID, ns (schedstat's first field: time on CPU).
server_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# runc OUT CMD...: CMD with stdout to OUT, bounded to 120 s; prints "rc wall_ns cpu_ns"
# (client user+sys from wait4). Python only forks and waits: its own start-up is not timed.
runc() {
    local out=$1
    shift
    python3 - "$out" "$@" <<'EOF'
import os, sys, time, signal
out, argv = sys.argv[1], sys.argv[2:]
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.monotonic_ns()
pid = os.fork()
if pid == 0:
    os.dup2(fd, 1)
    os.execvp(argv[0], argv)
signal.signal(signal.SIGALRM, lambda *a: os.kill(pid, signal.SIGKILL))
signal.alarm(120)
_, status, ru = os.wait4(pid, 0)
t1 = time.monotonic_ns()
rc = os.waitstatus_to_exitcode(status)
print(rc, t1 - t0, int((ru.ru_utime + ru.ru_stime) * 1e9))
EOF
}

# client_cmd PAIR MODE(verify|time): the client's argv, one word per line
client_cmd() {
    local srv_url
    case $1 in a | c) srv_url=$URL_HO ;; b | d) srv_url=$URL_NG ;; esac
    case $1 in
    a | d) printf '%s\n' "$HANDOFF" get --h3 --cafile "$BT/cert.pem" "$srv_url" ;;
    b | c)
        printf '%s\n' gtlsclient -q --exit-on-all-streams-close
        [ "$2" = verify ] && printf '%s\n' "--download=$BT/dl"
        printf '%s\n' 127.0.0.1 "$PORT" "$srv_url" ;;
    esac
}
server_of() { case $1 in a | c) echo ho ;; b | d) echo ng ;; esac; }
label() {
    case $1 in
    a) echo "handoff->handoff" ;; b) echo "gtls->gtls" ;; c) echo "handoff->gtlscli" ;; d) echo "gtls->handoff" ;;
    esac
}

# run_pair PAIR MODE: prints "wall_ns client_cpu_ns server_cpu_ns"
run_pair() {
    local pair=$1 mode=$2 spid s0 s1 res rc wall ccpu out=/dev/null
    local -a cmd
    mapfile -t cmd < <(client_cmd "$pair" "$mode")
    start_server "$(server_of "$pair")"
    spid=$BENCH_PID
    if [ "$mode" = verify ]; then
        out=$BT/dl/out.$pair
        rm -f "$BT/dl/blob"
    fi
    s0=$(server_ns "$spid")
    res=$(runc "$out" "${cmd[@]}")
    s1=$(server_ns "$spid")
    stop_pid "$spid"
    read -r rc wall ccpu <<<"$res"
    [ "$rc" = 0 ] || die "pair $pair ($(label "$pair")): client exited with $rc: ${cmd[*]}"
    if [ "$mode" = verify ]; then
        local got=$out
        case $pair in b | c) got=$BT/dl/blob ;; esac
        cmp -s "$got" "$BT/static/blob" ||
            die "pair $pair ($(label "$pair")): the downloaded body differs from the original ($(stat -c %s "$got" 2>/dev/null || echo no file) bytes)"
        rm -f "$got" "$out"
    fi
    echo "$wall $ccpu $((s1 - s0))"
}

note "$(busy_others)"
note "gtlsserver/gtlsclient: ngtcp2 $(dpkg-query -W -f '${Version}' ngtcp2-server 2>/dev/null || echo '?')" \
    "; handoff: $HANDOFF (built $(date -r "$HANDOFF" '+%F %T'), HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null))"
note "body: $SIZE bytes on $(df --output=fstype "$BT" | tail -1) ($BT); rounds: $ROUNDS; $(nproc) CPUs"
for p in $PAIRS; do
    run_pair "$p" verify >/dev/null
    note "pair $p ($(label "$p")): $SIZE bytes verified (cmp)"
done

RES=$BT/results.tsv
: >"$RES"
read -r -a order <<<"$PAIRS"
printf '%-5s %-6s %-18s %9s %8s %11s %11s\n' round pair what wall_ms Gbit/s srv_ms/GB cli_ms/GB
for ((r = 1; r <= ROUNDS; r++)); do
    seq_pairs=("${order[@]}")
    if ((r % 2 == 0)); then
        seq_pairs=()
        for ((i = ${#order[@]} - 1; i >= 0; i--)); do seq_pairs+=("${order[i]}"); done
    fi
    for p in "${seq_pairs[@]}"; do
        read -r wall ccpu scpu < <(run_pair "$p" time)
        awk -v r="$r" -v p="$p" -v l="$(label "$p")" -v w="$wall" -v c="$ccpu" -v s="$scpu" -v n="$SIZE" 'BEGIN {
            gb = n / 1e9
            printf "%-5s %-6s %-18s %9.1f %8.2f %11.0f %11.0f\n", r, p, l, w / 1e6, n * 8 / w, s / 1e6 / gb, c / 1e6 / gb
            printf "%s\t%s\t%.3f\t%.4f\t%.1f\t%.1f\n", r, p, w / 1e6, n * 8 / w, s / 1e6 / gb, c / 1e6 / gb > "/dev/stderr" }' \
            2>>"$RES"
    done
done

col_median() { awk -F'\t' -v p="$1" -v c="$2" '$2 == p { print $c }' "$RES" | median; }
echo
echo "medians over $ROUNDS rounds ($SIZE bytes, one connection; ratios to b = gtlsserver->gtlsclient)"
printf '%-6s %-18s %9s %8s %11s %11s %9s %9s %9s\n' pair what wall_ms Gbit/s srv_ms/GB cli_ms/GB 'rate/b' 'srv/b' 'cli/b'
bw=$(col_median b 3) bs=$(col_median b 5) bc=$(col_median b 6)
for p in $PAIRS; do
    w=$(col_median "$p" 3) g=$(col_median "$p" 4) s=$(col_median "$p" 5) c=$(col_median "$p" 6)
    awk -v p="$p" -v l="$(label "$p")" -v w="$w" -v g="$g" -v s="$s" -v c="$c" -v bw="${bw:-nan}" -v bs="${bs:-nan}" -v bc="${bc:-nan}" '
        function ratio(x, y) { return (x == "nan" || y == "nan" || y + 0 == 0) ? "-" : sprintf("%.2f", x / y) }
        BEGIN { printf "%-6s %-18s %9.1f %8.2f %11.0f %11.0f %9s %9s %9s\n", p, l, w, g, s, c,
                ratio(bw, w), ratio(s, bs), ratio(c, bc) }'
done
