# shellcheck shell=bash
# bench/lib.sh — helpers shared by the load benchmarks (json_tls.sh, handshakes.sh,
# offload_latency.sh). Source it; it does nothing on its own.
#
#   source "$(dirname "$0")/lib.sh"
#   bench_init              # temp dir in $BT, EXIT trap that stops every server started here
#   ho_start NAME ARGS...   # `handoff serve ARGS...` in the background; PID in $BENCH_PID
#   nginx_start NAME DIR    # nginx, unprivileged, foreground, from DIR/nginx.conf; PID in $BENCH_PID
#   cpu_ticks PID...        # utime+stime (clock ticks) of these processes, all threads
#   server_ticks PID        # the same over a server's whole process tree (nginx: master + workers)
#   stop_pid PID            # SIGTERM, then SIGKILL after 5 s; by PID only
#
# Environment: HANDOFF (the binary; default build-bench/handoff, then build/handoff),
# KEEP=1 keeps the temp dir (logs, nginx.conf, bodies) for inspection.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_LIB_DIR/.." && pwd)
CLK_TCK=$(getconf CLK_TCK)
# shellcheck disable=SC2034 # used by the scripts that source this file
DATASET_DEFAULT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/data/dataset.json
NGINX_BIN=${NGINX_BIN:-nginx}

BENCH_PIDS=()   # every server and load generator started here; stopped on exit
BT=""

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

ho_find_bin() {
    if [ -n "${HANDOFF:-}" ]; then
        [ -x "$HANDOFF" ] || die "HANDOFF=$HANDOFF is not executable"
        return
    fi
    for b in "$REPO/build-bench/handoff" "$REPO/build/handoff"; do
        if [ -x "$b" ]; then HANDOFF=$b; return; fi
    done
    die "no handoff binary: build it (cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench -j2) or set HANDOFF"
}

bench_cleanup() {
    local rc=$?
    local p
    for p in "${BENCH_PIDS[@]}"; do
        # still ours: alive and a child of this script (not a reused number)
        [ -n "$p" ] && [ "$(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$p/stat" 2>/dev/null)" = "$$" ] &&
            stop_pid "$p"
    done
    if [ -n "$BT" ] && [ -d "$BT" ]; then
        if [ "${KEEP:-0}" = 1 ]; then note "kept $BT"; else rm -rf "$BT"; fi
    fi
    exit "$rc"
}

bench_init() {
    BT=$(mktemp -d "${TMPDIR:-/tmp}/handoff-bench.XXXXXX")
    chmod 755 "$BT"
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# A free TCP port on 127.0.0.1 (the kernel picks it; racy but fine on this machine).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT PID [SECONDS]: until something accepts on 127.0.0.1:PORT; fails if PID died.
wait_port() {
    local port=$1 pid=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# forget_pid PID: drop a finished child from BENCH_PIDS (its number may be reused later).
forget_pid() {
    local i
    for i in "${!BENCH_PIDS[@]}"; do
        [ "${BENCH_PIDS[i]}" = "$1" ] && unset 'BENCH_PIDS[i]'
    done
    return 0
}

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL. Only the given PID (a child of this
# script: `wait` reaps it, so its number is not reused while we still hold it).
stop_pid() {
    local pid=$1 i
    if kill -TERM "$pid" 2>/dev/null; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# make_cert DIR: ECDSA P-256 certificate for localhost (the PEERS.md recipe): DIR/cert.pem, DIR/key.pem.
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/key.pem" \
        -out "$1/cert.pem" -days 365 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" 2>/dev/null ||
        die "openssl req failed"
}

# ---- CPU time -------------------------------------------------------------

# cpu_ticks PID...: sum of utime+stime (fields 14, 15 of /proc/PID/stat) over the processes;
# a process's counters include all of its threads, live and exited.
cpu_ticks() {
    local p sum=0 t
    for p in "$@"; do
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

# server_ticks PID: the process and its children (nginx's workers are child processes).
server_ticks() {
    local kids
    kids=$(pgrep -P "$1" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    cpu_ticks "$1" $kids
}

# ticks_to_us TICKS: microseconds of CPU time.
ticks_to_us() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e6 / hz }'; }

# ---- our server -----------------------------------------------------------

# ho_start NAME ARGS...: `handoff serve ARGS...`, log in $BT/NAME.log, PID in BENCH_PID.
ho_start() {
    local name=$1
    shift
    "$HANDOFF" serve "$@" >"$BT/$name.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
}

# ho_counters PID LOG: ask the server for its counters (SIGUSR1) and print the JSON line.
ho_counters() {
    local pid=$1 log=$2 before i
    before=$(grep -c 'counters {' "$log" 2>/dev/null)
    kill -USR1 "$pid" 2>/dev/null || return 1
    for ((i = 0; i < 100; i++)); do
        if [ "$(grep -c 'counters {' "$log" 2>/dev/null)" -gt "$before" ]; then
            grep 'counters {' "$log" | tail -1 | sed 's/^.*counters //'
            return 0
        fi
        sleep 0.02
    done
    return 1
}

# jfield JSON NAME: an integer field of a flat JSON object.
jfield() { echo "$1" | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2; }

# ---- nginx ----------------------------------------------------------------

# nginx_conf_head DIR WORKERS: the common top of an nginx.conf, written to stdout.
# nginx's temp paths are compiled in as /var/lib/nginx/...: all are redirected to DIR.
# Unprivileged foreground process, everything under DIR, error_log stderr,
# TLS 1.3 only with the suite our server picks (TLS_AES_128_GCM_SHA256),
# no tickets, no session cache, keep-alive on.
nginx_conf_head() {
    local dir=$1 workers=$2
    cat <<EOF
worker_processes $workers;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    open_file_cache max=64 inactive=600s;
    open_file_cache_valid 600s;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
    ssl_session_tickets off;
    ssl_session_cache off;
EOF
}

# nginx_prepare DIR: make DIR usable by the unprivileged user nginx runs as.
nginx_prepare() {
    mkdir -p "$1/tmp"
    if [ "$(id -u)" = 0 ]; then chown -R nobody:nogroup "$1"; fi
}

# nginx_start NAME DIR: nginx -p DIR -c DIR/nginx.conf in the foreground; as nobody when we
# are root (nginx never runs privileged here). Log in $BT/NAME.log, PID in BENCH_PID.
nginx_start() {
    local name=$1 dir=$2
    local cmd=("$NGINX_BIN" -e stderr -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;')
    if [ "$(id -u)" = 0 ]; then
        cmd=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all -- "${cmd[@]}")
    fi
    "${cmd[@]}" >"$BT/$name.log" 2>&1 &
    BENCH_PID=$!
    BENCH_PIDS+=("$BENCH_PID")
}

# nginx_accepts STATUS_PORT: the "accepts" counter of stub_status on 127.0.0.1:STATUS_PORT.
nginx_accepts() {
    curl -s --max-time 2 "http://127.0.0.1:$1/status" | awk 'NR == 3 { print $1 }'
}

# ---- checks and versions --------------------------------------------------

# tls_params PORT: "TLSv1.3 <suite> <group>" as openssl s_client sees it.
tls_params() {
    local out
    out=$(echo | timeout 5 openssl s_client -connect "127.0.0.1:$1" -brief 2>&1 </dev/null)
    printf '%s %s %s\n' \
        "$(echo "$out" | sed -n 's/^Protocol version: //p')" \
        "$(echo "$out" | sed -n 's/^Ciphersuite: //p')" \
        "$(echo "$out" | sed -n 's/^Negotiated TLS1.3 group: //p; s/^Server Temp Key: //p' | head -1)"
}

peer_versions() {
    echo "nginx: $($NGINX_BIN -v 2>&1 | sed 's/^nginx version: //')"
    echo "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "h2load: $(h2load --version 2>&1 | head -1)"
    echo "openssl: $(openssl version)"
    echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(uname -sr), loopback"
    echo "handoff: $HANDOFF (built $(date -r "$HANDOFF" "+%F %T"); repo HEAD now $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null))"
}

# median of the numbers on stdin (one per line)
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- load generators ------------------------------------------------------

# to_ms VALUE: wrk's "512.00us" / "1.23ms" / "1.01s" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else print "nan" }'
}

# wrk_parse FILE: "requests seconds req_s p50_ms p99_ms errors" from wrk output (run with --latency).
# errors = non-2xx/3xx responses + socket errors.
wrk_parse() {
    local f=$1 reqs secs rps p50 p99 non2xx sockerr
    reqs=$(awk '/requests in/ { print $1 }' "$f")
    secs=$(awk '/requests in/ { v = $4; sub(/,$/, "", v); print v }' "$f")
    secs=$(awk -v v="$(to_ms "$secs")" 'BEGIN { printf "%.3f", v / 1000 }')
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$f")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$f")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$f")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    sockerr=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$f")
    echo "${reqs:-0} ${secs:-0} ${rps:-0} ${p50:-nan} ${p99:-nan} $(( ${non2xx:-0} + ${sockerr:-0} ))"
}

# h2load_parse FILE: "succeeded failed_or_errored seconds req_s" from h2load output.
h2load_parse() {
    local f=$1
    awk '
        /^finished in/ { t = $3; sub(/,$/, "", t)
                         if (t ~ /ms$/) { sub(/ms$/, "", t); t /= 1000 } else if (t ~ /us$/) { sub(/us$/, "", t); t /= 1e6 } else sub(/s$/, "", t)
                         rps = $4 }
        /^requests:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^succeeded/) ok = $i; if ($(i+1) ~ /^failed/) fl = $i; if ($(i+1) ~ /^errored/) er = $i } }
        END { printf "%d %d %.3f %s\n", ok, fl + er, t, rps }' "$f"
}

# busy_others: processes using more than 10 % of a CPU over one second (other users of this
# shared machine; called while none of our servers or load generators runs), and the load average.
busy_others() {
    local b
    b=$(top -b -n2 -d1 -w 200 2>/dev/null | awk '/^top -/ { n++ } n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 10 { printf "%s(%s%%) ", $12, $9 }')
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg); busy: ${b:-none}"
}

# bounded SECS CMD...: CMD under `timeout` (SECS, then SIGKILL 5 s later), run in the background
# and waited for, so that a signal to this script is handled at once (the EXIT trap then stops
# CMD by its PID). Returns CMD's status.
bounded() {
    local secs=$1
    shift
    timeout -k 5 "$secs" "$@" &
    local p=$! rc=0
    BENCH_PIDS+=("$p")
    wait "$p" || rc=$?
    forget_pid "$p"
    return "$rc"
}

# wait_udp PORT PID: until a UDP socket is bound on PORT (at most 10 s); fails if PID died.
wait_udp() {
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$2" 2>/dev/null || return 1
        [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ] && return 0
        sleep 0.05
    done
    return 1
}
# wait_udp_gone PORT: until no UDP socket is bound on PORT (the previous server is gone).
wait_udp_gone() {
    local i
    for ((i = 0; i < 200; i++)); do
        [ -z "$(ss -Hlun "sport = :$1" 2>/dev/null)" ] && return 0
        sleep 0.05
    done
    return 1
}
