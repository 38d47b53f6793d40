#!/usr/bin/env bash
# Graceful stop of `handoff serve` (SIGTERM): idle keep-alive connections on both TLS ports get an
# orderly TLS close (close_notify), a plaintext one a FIN; a request that is half received when
# the signal comes is still answered (with Connection: close); the server exits 0 after printing
# its counters, and nothing listens on its ports afterwards.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 curl pgrep

REQ='GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'
CLIENTS=()

# idle_client NAME ARGS...: one request on a keep-alive connection, then wait (up to 20 s) for
# the server to end it; creates $T/NAME.ready after the response, result in $T/NAME.out.
idle_client() {
    local name=$1
    shift
    printf '%b' "$REQ" | rawhttp raw --timeout 60 --ready "$T/$name.ready" --out "$T/$name.resp" "$@" \
        >"$T/$name.out" 2>&1 &
    CLIENTS+=($!)
}

# slow_client NAME ARGS...: sends the first half of a request, waits 3 s, sends the rest;
# creates $T/NAME.sent after the first half.
slow_client() {
    local name=$1
    shift
    printf '%b' "$REQ" | rawhttp raw --timeout 60 --split 20 --pause 3 --sent "$T/$name.sent" \
        --out "$T/$name.resp" "$@" >"$T/$name.out" 2>&1 &
    CLIENTS+=($!)
}

# wait_files FILE...: up to 15 s for every FILE to exist.
wait_files() {
    local _ f missing
    for _ in $(seq 150); do
        missing=0
        for f; do [ -e "$f" ] || missing=1; done
        [ "$missing" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# refused NAME URL: curl cannot connect (exit 7).
refused() {
    local rc
    timeout 60 curl -sk --max-time 50 -o /dev/null "$2" 2>/dev/null
    rc=$?
    if [ "$rc" = 7 ]; then
        pass "$1: connection refused after the stop"
    else
        fail "$1: curl exit $rc, expected 7 (connection refused)"
    fi
}

if ! serve3 stop; then
    fail "start handoff serve"
    finish
fi

idle_client tls --port "$TLS_PORT" --tls
idle_client https --port "$HTTPS_PORT" --tls
idle_client plain --port "$HTTP_PORT"
slow_client slow --port "$TLS_PORT" --tls
if wait_files "$T/tls.ready" "$T/https.ready" "$T/plain.ready" "$T/slow.sent"; then
    pass "four connections open (three idle keep-alive, one half-sent request)"
else
    fail "clients did not get their first response"
    show "$T/tls.out" "$T/https.out" "$T/plain.out" "$T/slow.out"
fi

stop_server 15
for p in "${CLIENTS[@]}"; do wait "$p"; done

if [ "$SRV_EXIT" = 0 ]; then
    pass "server exited 0 after SIGTERM"
else
    fail "server exit status after SIGTERM: $SRV_EXIT (expected 0)"
    show "$SRV_LOG"
fi
check_not "no sanitizer report in the server log" "$SRV_LOG" \
    "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" "runtime error:"
check "idle TLS keep-alive (json-tls port): orderly close (close_notify)" "$T/tls.out" \
    "statuses=200 end=close_notify extra=0"
check "idle TLS keep-alive (HTTPS port): orderly close (close_notify)" "$T/https.out" \
    "statuses=200 end=close_notify extra=0"
check "idle plaintext keep-alive: closed with FIN" "$T/plain.out" "statuses=200 end=eof extra=0"
check "half-received request finished, then close_notify" "$T/slow.out" \
    "statuses=200 end=close_notify extra=0"
check "half-received request: response says Connection: close" "$T/slow.resp" "Connection: close"
check "counters printed at the stop" "$SRV_LOG" "shutting down" "handoff: counters {"

refused "json-tls port" "https://127.0.0.1:$TLS_PORT/"
refused "HTTPS port" "https://127.0.0.1:$HTTPS_PORT/"
refused "plaintext port" "http://127.0.0.1:$HTTP_PORT/"

finish
