# shellcheck shell=bash
# Helpers for the end-to-end tests of `handoff serve` with all three listeners (arena_json_tls,
# wrk_keepalive, chromium, offload, http_badinput, shutdown). Sourced after lib.sh; not a test
# itself (ctest runs tests/interop/*.sh only).
#
#   serve3 NAME ARGS...   start the server on three free ports; sets HTTPS_PORT, TLS_PORT,
#                         HTTP_PORT, SRV_PID (the handoff process), SRV_WRAP (its `timeout`
#                         wrapper, whose exit status is the server's), SRV_LOG
#   counters FILE         SIGUSR1, wait for the new counters line, store its JSON in FILE
#   counter FILE NAME     print one field of a counters JSON file
#   expect_counter FILE NAME OP VALUE   pass/fail on `NAME OP VALUE` (OP: -eq -ge -gt ...)
#   stop_server [SECS]    SIGTERM, wait up to SECS (10) for the exit; sets SRV_EXIT
#                         ("running" if it did not stop)
#   end_server NAME       stop_server, then expect exit 0 and no sanitizer report
#   verdict OK KO CMD...  pass OK when CMD succeeds, else fail KO
#   rawhttp ARGS...       tests/interop/e2e_http.py, bounded

E2E_PY=$(dirname "${BASH_SOURCE[0]}")/e2e_http.py
ARENA=$HO_TESTDATA/arena

# serve3 NAME ARGS...: `handoff serve --bind 127.0.0.1 --threads 2` on three free ports plus ARGS.
serve3() {
    local name=$1 _
    shift
    free_port || return 1
    HTTPS_PORT=$PORT
    free_port || return 1
    TLS_PORT=$PORT
    free_port || return 1
    HTTP_PORT=$PORT
    SRV_LOG=$T/$name.srv.log
    # Two I/O threads unless the test says otherwise (HO_SERVE_THREADS, or --threads in ARGS,
    # which comes later and wins): QUIC and TCP are served by every thread.
    start_bg "$HTTPS_PORT" "$SRV_LOG" "$HO_BIN" serve --bind 127.0.0.1 --port "$HTTPS_PORT" \
        --tls-port "$TLS_PORT" --http-port "$HTTP_PORT" --threads "${HO_SERVE_THREADS:-2}" "$@" || return 1
    SRV_WRAP=$BG_PID
    SRV_PID=
    for _ in $(seq 600); do
        SRV_PID=$(pgrep -P "$SRV_WRAP" | head -n 1)
        if [ -n "$SRV_PID" ] && listening "$TLS_PORT" && listening "$HTTP_PORT"; then
            # The QUIC listener starts after the TCP ports (it needs the certificate first).
            case " $* " in *" --no-h3 "*) return 0 ;; esac
            wait_log "$SRV_LOG" "listening h3 (QUIC)" && return 0
            say "    server $name: the QUIC listener did not start"
            break
        fi
        sleep 0.1
    done
    say "    server $name: no process or not all ports listening ($HTTPS_PORT $TLS_PORT $HTTP_PORT)"
    show "$SRV_LOG"
    stop_bg "$SRV_WRAP"
    return 1
}

# alive: the server process still runs.
alive() { [ -n "${SRV_PID:-}" ] && kill -0 "$SRV_PID" 2>/dev/null; }

_count_lines() { grep -c 'handoff: counters {' "$SRV_LOG" 2>/dev/null; }

# counters FILE: ask the server for its counters (SIGUSR1) and store the JSON in FILE.
counters() {
    local file=$1 n0 _
    n0=$(_count_lines)
    : >"$file"
    alive || { say "    counters: server not running"; return 1; }
    kill -USR1 "$SRV_PID"
    for _ in $(seq 600); do
        if [ "$(_count_lines)" -gt "$n0" ]; then
            grep 'handoff: counters {' "$SRV_LOG" | tail -n 1 | sed 's/^.*handoff: counters //' >"$file"
            return 0
        fi
        sleep 0.1
    done
    say "    counters: no counters line after SIGUSR1"
    show "$SRV_LOG"
    return 1
}

# counter FILE NAME: one field of a counters JSON ("?" when missing).
counter() {
    timeout 120 python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("?")' "$1" "$2"
}

# expect_counter FILE NAME OP VALUE: pass when the counter satisfies `test v OP VALUE`.
expect_counter() {
    local file=$1 name=$2 op=$3 want=$4 v
    local tag=${file##*/}
    v=$(counter "$file" "$name")
    tag=${tag%.json}
    if [ "$v" != "?" ] && test "$v" "$op" "$want"; then
        pass "$tag: counter $name=$v ($op $want)"
    else
        fail "$tag: counter $name=$v, expected $op $want"
        say "    counters: $(cat "$file")"
    fi
}

# stop_server [SECS]: SIGTERM to the server, wait up to SECS (10) for it to exit. SRV_EXIT is
# its exit status, or "running" when it did not stop (it is then killed).
stop_server() {
    local secs=${1:-10} _ stopped=0 rc
    kill -TERM "$SRV_PID" 2>/dev/null
    for _ in $(seq $((secs * 10))); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            stopped=1
            break
        fi
        sleep 0.1
    done
    [ "$stopped" = 1 ] || kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_WRAP" 2>/dev/null
    rc=$?
    if [ "$stopped" = 1 ]; then SRV_EXIT=$rc; else SRV_EXIT=running; fi
    stop_bg "$SRV_WRAP"
}

# end_server NAME: graceful stop, then exit status 0 and no sanitizer report in the log.
# The SIGTERM goes to the server itself, not to its `timeout` wrapper: timeout follows a
# forwarded SIGTERM with SIGCONT, which can cancel the SIGSTOP of LeakSanitizer's ptrace at exit
# and leave an ASan server spinning forever (timeout has no -k in start_bg).
end_server() {
    stop_server 20
    if [ "$SRV_EXIT" = 0 ]; then
        pass "$1: server stopped cleanly (exit 0)"
    else
        fail "$1: server exit status $SRV_EXIT after SIGTERM (expected 0)"
        show "$SRV_LOG"
    fi
    check_not "$1: no sanitizer report in the server log" "$SRV_LOG" \
        "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" "runtime error:" "WARNING: ThreadSanitizer"
}

# verdict PASS_MSG FAIL_MSG CMD...: pass PASS_MSG when CMD succeeds, else fail FAIL_MSG.
verdict() {
    local ok=$1 ko=$2
    shift 2
    if "$@"; then pass "$ok"; else fail "$ko"; fi
}

# rawhttp ARGS...: the python client, at most 60 s.
rawhttp() { timeout 60 python3 "$E2E_PY" "$@"; }

# need_arena: the HttpArena data (dataset, static files, RSA certificate) must exist.
need_arena() {
    local f
    for f in "$ARENA/dataset.json" "$ARENA/static/reset.css" "$ARENA/certs/server.crt" "$ARENA/certs/server.key"; do
        if [ ! -r "$f" ]; then
            fail "HttpArena data missing: $f (scripts/gen-testdata.sh writes it)"
            finish
        fi
    done
}
