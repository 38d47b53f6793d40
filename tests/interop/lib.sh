# shellcheck shell=bash
# Shared helpers for the interop tests (tests/interop/*.sh); each test sources this file.
#
#   HO_BIN      the handoff binary (set by ctest)
#   HO_TESTDATA <build>/testdata (set by ctest; scripts/gen-testdata.sh writes it)
#
# A test calls need_tools, starts servers with start_bg, records results with pass/fail/check,
# and ends with `finish`, which prints exactly "N passed, N failed" and exits 1 on any failure.
# Every external command is bounded with `timeout`; every background process is stopped by PID.
# A missing peer tool is a failure, never a skip.

set -u

HO_BIN=${HO_BIN:-}
HO_TESTDATA=${HO_TESTDATA:-${HO_BUILD:-build}/testdata}
HO_SRC=${HO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

SUITES=(TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256)
HO_GROUP_LIST=(X25519 P-256)   # not GROUPS: that is a bash builtin variable
RSA_CRT=$HO_TESTDATA/arena/certs/server.crt   # RSA 2048, CN=localhost, no subjectAltName
RSA_KEY=$HO_TESTDATA/arena/certs/server.key

PASS=0
FAIL=0
BG_PIDS=()
T=$(mktemp -d "${TMPDIR:-/tmp}/ho-interop.XXXXXX") || { echo "mktemp failed"; echo "0 passed, 1 failed"; exit 1; }
export TMPDIR=$T    # `handoff serve` without --cert writes its self-signed PEM under $TMPDIR

_ho_cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do
        stop_bg "$p"
    done
    BG_PIDS=()
    # A failed run keeps its files (captures, logs, key logs) for diagnosis.
    if [ -n "${HO_KEEP:-}" ] || [ "$FAIL" -gt 0 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap _ho_cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM HUP

say() { printf '%s\n' "$*"; }
pass() { PASS=$((PASS + 1)); say "PASS $*"; }
fail() { FAIL=$((FAIL + 1)); say "FAIL $*"; }

# show FILE...: the tail of each file, indented, to explain a failure.
show() {
    local f
    for f; do
        [ -e "$f" ] || continue
        say "    --- ${f#"$T"/} (last 25 lines)"
        tail -n 25 "$f" | sed 's/^/    | /'
    done
}

# has FILE STRING: FILE contains the fixed string STRING.
has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# wait_log FILE STRING [SECONDS]: wait (default 60 s) until FILE contains STRING; false if it never does.
# (A server may print a line after its port listens, e.g. where it wrote its self-signed certificate.)
wait_log() {
    local i
    for ((i = 0; i < ${3:-60} * 10; i++)); do
        has "$1" "$2" && return 0
        sleep 0.1
    done
    return 1
}

# wait_count FILE STRING N [SECONDS]: wait (default 60 s) until FILE has N lines containing STRING.
wait_count() {
    local i
    for ((i = 0; i < ${4:-60} * 10; i++)); do
        [ "$(grep -cF -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# talk OUT ERR CMD...: run CMD (an interactive client) in the background with stdout in OUT,
# stderr in ERR (which may be the same file) and stdin from a pipe that `tell` writes to, so
# that a test sends each input once the client's output shows it is due (wait_log,
# wait_count) instead of after a pause. `hangup` closes the pipe and waits for CMD.
talk() {
    local out=$1 err=$2 fifo=$T/talk.$$.$RANDOM
    shift 2
    mkfifo "$fifo" || return 1
    if [ "$out" = "$err" ]; then
        "$@" <"$fifo" >"$out" 2>&1 &
    else
        "$@" <"$fifo" >"$out" 2>"$err" &
    fi
    TALK_PID=$!
    exec 7>"$fifo"
    rm -f "$fifo"
}
# tell FORMAT [ARGS]: printf to the client started by talk.
tell() { printf "$@" >&7 2>/dev/null; }
hangup() {
    exec 7>&-
    wait "$TALK_PID"
}

# start_echo LOG CMD...: start an examples/echo_server command line (UDP port 0: it picks one and
# prints it) in the background, at most 590 s, and wait up to 60 s for its "listening" line.
# Sets ECHO_PID and EPORT ("" when it did not start; then LOG says why).
start_echo() {
    local log=$1 _
    shift
    timeout -k 5 590 "$@" >"$log" 2>&1 </dev/null &
    ECHO_PID=$!
    BG_PIDS+=("$ECHO_PID")
    EPORT=""
    for _ in $(seq 600); do
        EPORT=$(sed -n 's/^echo_server: listening on UDP 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$EPORT" ] && return 0
        kill -0 "$ECHO_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# ql_exited NAME RC FILE: pass when RC (bench/quic_load's exit status) is 0, else show FILE.
ql_exited() {
    if [ "$2" -eq 0 ]; then pass "$1: quic_load exit 0"; else fail "$1: quic_load exit $2"; show "$3"; fi
}

# ql_report NAME FILE PYTHON-CONDITION: the last "quic_load {json}" line of FILE (bench/quic_load's
# report) parses and the condition, on the dict r, holds.
ql_report() {
    local name=$1 file=$2 cond=$3 out
    if out=$(timeout 30 python3 - "$file" "$cond" 2>&1 <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("quic_load {")]
if not lines:
    sys.exit("no report line")
r = json.loads(lines[-1][len("quic_load "):])
if not eval("(" + sys.argv[2] + ")", {}, {"r": r}):
    sys.exit("condition false: " + sys.argv[2])
PY
    ); then
        pass "$name"
    else
        fail "$name: $out"
        show "$file"
    fi
}

# check NAME FILE STRING...: pass when FILE contains every STRING (fixed strings), else fail.
check() {
    local name=$1 file=$2 s
    shift 2
    for s; do
        if ! has "$file" "$s"; then
            fail "$name: expected '$s' in ${file#"$T"/}"
            show "$file"
            return 1
        fi
    done
    pass "$name"
}

# check_not NAME FILE STRING...: pass when FILE contains none of the STRINGs.
check_not() {
    local name=$1 file=$2 s
    shift 2
    for s; do
        if has "$file" "$s"; then
            fail "$name: unexpected '$s' in ${file#"$T"/}"
            show "$file"
            return 1
        fi
    done
    pass "$name"
}

finish() {
    trap - INT TERM HUP
    _ho_cleanup
    trap - EXIT
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ] || exit 1
    exit 0
}

# need_tools TOOL...: every tool must exist (and the handoff binary must be executable);
# a missing one is a failure and ends the test.
need_tools() {
    local t missing=0
    for t in timeout ss "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            fail "required tool '$t' is not installed (scripts/deps.sh installs it)"
            missing=1
        fi
    done
    if [ -z "$HO_BIN" ] || [ ! -x "$HO_BIN" ]; then
        fail "handoff binary not found (HO_BIN='$HO_BIN'); build it first"
        missing=1
    fi
    [ "$missing" -eq 0 ] || finish
}

# free_port: sets PORT to a port with no TCP or UDP socket in any state on it. Successive calls
# return increasing ports from a per-process base, so parallel runs rarely collide.
_HO_PORT=$((20000 + $$ % 20000))
free_port() {
    local p=$_HO_PORT n=0
    while :; do
        p=$((p + 1))
        [ "$p" -gt 60999 ] && p=20001
        n=$((n + 1))
        if [ "$n" -gt 2000 ]; then
            PORT=0
            return 1
        fi
        if [ -z "$(timeout 5 ss -Htuan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]; then
            break
        fi
    done
    _HO_PORT=$p
    PORT=$p
}

# listening PORT: something listens on TCP PORT.
listening() { [ -n "$(timeout 5 ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]; }
# udp_bound PORT: a UDP socket is bound to PORT.
udp_bound() { [ -n "$(timeout 5 ss -Hlun "( sport = :$1 )" 2>/dev/null)" ]; }

# wait_udp PORT PID [SECONDS]: wait (default 60 s) until a UDP socket is bound to PORT, while
# process PID lives; false if PID exits first or the time runs out.
wait_udp() {
    local i
    for ((i = 0; i < ${3:-60} * 10; i++)); do
        udp_bound "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# kill_group PGID: TERM every process of the group, wait up to 5 s for them to go, then KILL.
kill_group() {
    local i
    [ -n "$(pgrep -g "$1" 2>/dev/null)" ] || return 0
    kill -TERM -- "-$1" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        [ -n "$(pgrep -g "$1" 2>/dev/null)" ] || return 0
        sleep 0.1
    done
    kill -KILL -- "-$1" 2>/dev/null
}

# start_bg PORT LOG CMD...: run CMD in the background (stdout+stderr to LOG, stdin from
# /dev/null, at most 590 s: a safety net below ctest's 600 s, never the test's own clock,
# which stops the process itself), then wait up to 60 s for PORT to listen. Sets BG_PID.
# Returns 1 (after showing LOG) if the server exits or never listens.
start_bg() {
    local port=$1 log=$2 i
    shift 2
    timeout -k 10 590 "$@" >"$log" 2>&1 </dev/null &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
    for i in $(seq 600); do
        listening "$port" && return 0
        kill -0 "$BG_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "    server did not start listening on port $port: $*"
    show "$log"
    stop_bg "$BG_PID"
    return 1
}

# stop_bg PID: stop one background process started by start_bg (or bg). The signal goes
# to the program itself, not to its `timeout` wrapper: timeout follows a forwarded
# SIGTERM with SIGCONT, which can cancel LeakSanitizer's stop-the-world at exit under
# ASan and leave the process spinning. Escalates to SIGKILL after 20 s.
stop_bg() {
    local pid=$1 p keep=() child i
    child=$(pgrep -P "$pid" 2>/dev/null | head -n 1)
    kill "${child:-$pid}" 2>/dev/null
    for i in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" ${child:+"$child"} 2>/dev/null
    wait "$pid" 2>/dev/null
    for p in "${BG_PIDS[@]}"; do
        [ "$p" = "$pid" ] || keep+=("$p")
    done
    BG_PIDS=("${keep[@]+"${keep[@]}"}")
}

# serve_handoff NAME ARGS...: start `handoff serve --bind 127.0.0.1 --port <free> ARGS` (only that port)
# with HANDOFF_LOG=info; sets PORT, SRV_PID, SRV_LOG ($T/NAME.srv.log).
serve_handoff() {
    local name=$1
    shift
    free_port || return 1
    SRV_LOG=$T/$name.srv.log
    start_bg "$PORT" "$SRV_LOG" env HANDOFF_LOG=info "$HO_BIN" serve --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 "$@" || return 1
    SRV_PID=$BG_PID
}

# gen_cert NAME CN SAN: ECDSA P-256 self-signed certificate $T/NAME.crt / $T/NAME.key
# (the PEERS.md recipe).
gen_cert() {
    local name=$1 cn=$2 san=$3
    timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$T/$name.key" -out "$T/$name.crt" -days 30 -subj "/CN=$cn" \
        -addext "subjectAltName=$san" >"$T/$name.gen.log" 2>&1 || {
        fail "openssl req could not make the $name certificate"
        show "$T/$name.gen.log"
        finish
    }
}

# gen_ec_cert: $T/ec.crt / $T/ec.key for localhost, 127.0.0.1 and ::1.
gen_ec_cert() { gen_cert ec localhost "DNS:localhost,IP:127.0.0.1,IP:::1"; }

# need_rsa_cert: the arena RSA certificate must exist.
need_rsa_cert() {
    if [ ! -r "$RSA_CRT" ] || [ ! -r "$RSA_KEY" ]; then
        fail "RSA test certificate missing: $RSA_CRT / $RSA_KEY"
        finish
    fi
}

# cert_files KIND: sets CRT and KEY for KIND ec|rsa.
cert_files() {
    case $1 in
        ec) CRT=$T/ec.crt KEY=$T/ec.key ;;
        rsa) CRT=$RSA_CRT KEY=$RSA_KEY ;;
        *) say "unknown cert kind $1"; return 1 ;;
    esac
}

# group_name GROUP: handoff's lower-case name of X25519|P-256 (as printed by get -v).
group_name() {
    case $1 in
        X25519) echo x25519 ;;
        P-256) echo secp256r1 ;;
    esac
}

# http_body FILE: the part of an HTTP response after the header block.
http_body() { sed '1,/^\r\{0,1\}$/d' "$1"; }

# check_body NAME FILE STRING: the response in FILE has a body containing STRING.
check_body() {
    local name=$1 file=$2 s=$3
    http_body "$file" >"$file.body"
    if has "$file.body" "$s"; then
        pass "$name"
    else
        fail "$name: response body lacks '$s'"
        show "$file"
    fi
}

