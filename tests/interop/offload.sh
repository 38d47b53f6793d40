#!/usr/bin/env bash
# Handshake offload in `handoff serve`, observed through its counters (SIGUSR1):
#   always:   one I/O thread, one worker; keep-alive clients keep requesting on established
#             connections while h2load opens 500 new connections (one request each). Every
#             handshake step runs on the worker, none inline, and the established connections are
#             served while steps are out (served_during_offload).
#   off:      every step inline, nothing on a worker.
#   adaptive: serves a burst correctly; every step is counted inline or on the worker.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools h2load curl python3 pgrep

# h2load_burst NAME PORT N C: N new TLS connections (C at a time), one request each.
h2load_burst() {
    timeout 120 h2load -n "$3" -c "$4" -m 1 --h1 -H 'Connection: close' "https://127.0.0.1:$2/" \
        >"$T/$1.h2load" 2>&1
    grep -E '^(finished in|requests:|status codes:)' "$T/$1.h2load" | sed 's/^/    h2load| /'
}

# h2load_ok NAME N: h2load reports all N requests succeeded.
h2load_ok() {
    check "$1: h2load $2 succeeded" "$T/$1.h2load" \
        "requests: $2 total, $2 started, $2 done, $2 succeeded, 0 failed, 0 errored, 0 timeout"
}

# keepalive_start NAME PORT: 4 keep-alive TLS connections requesting /json/1?m=1 back to back
# until $T/NAME.stop exists; waits until every connection has been answered once.
keepalive_start() {
    rawhttp keepalive --port "$2" --conns 4 --path '/json/1?m=1' --stop "$T/$1.stop" \
        --ready "$T/$1.ready" --max 50 >"$T/$1.ka" 2>&1 &
    KA_PID=$!
    local _
    for _ in $(seq 150); do
        [ -e "$T/$1.ready" ] && return 0
        kill -0 "$KA_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "$1: keep-alive connections not established"
    show "$T/$1.ka"
    return 1
}

# keepalive_stop NAME: stop the keep-alive client; it must have seen no error.
keepalive_stop() {
    touch "$T/$1.stop"
    wait "$KA_PID"
    sed 's/^/    keep-alive| /' "$T/$1.ka"
    local n
    n=$(grep -oE '^requests=[0-9]+' "$T/$1.ka" | cut -d= -f2)
    if has "$T/$1.ka" " errors=0 " && [ "${n:-0}" -gt 0 ]; then
        pass "$1: keep-alive client: $n requests, 0 errors"
    else
        fail "$1: keep-alive client saw errors (or made no requests)"
    fi
}

# ---- always: every step on the worker, established connections served meanwhile -------------
if serve3 always --offload always --threads 1 --handshake-workers 1; then
    if keepalive_start always "$TLS_PORT"; then
        h2load_burst always "$HTTPS_PORT" 500 50
        keepalive_stop always
    fi
    h2load_ok always 500
    if counters "$T/always.json"; then
        c=$T/always.json
        expect_counter "$c" handshakes_done -ge 500
        expect_counter "$c" handshakes_failed -eq 0
        expect_counter "$c" handshakes_inline -eq 0
        # Two steps per full handshake (ClientHello, then the client's Finished).
        expect_counter "$c" worker_steps -ge 1000
        expect_counter "$c" worker_steps -eq "$(counter "$c" handshakes_offloaded)"
        expect_counter "$c" served_during_offload -gt 0
        expect_counter "$c" pool_completed -eq "$(counter "$c" pool_jobs)"
    fi
    verdict "always: server still running" "always: server died" alive
    end_server always
else
    fail "always: start handoff serve"
fi

# ---- off: every step inline ----------------------------------------------------------------
if serve3 off --offload off --threads 1 --handshake-workers 1; then
    h2load_burst off "$HTTPS_PORT" 100 10
    h2load_ok off 100
    if counters "$T/off.json"; then
        c=$T/off.json
        expect_counter "$c" handshakes_done -ge 100
        expect_counter "$c" worker_steps -eq 0
        expect_counter "$c" handshakes_offloaded -eq 0
        expect_counter "$c" handshakes_inline -ge 200
    fi
    end_server off
else
    fail "off: start handoff serve"
fi

# ---- adaptive: correct under a burst with keep-alive traffic ---------------------------------
if serve3 adaptive --offload adaptive --threads 1 --handshake-workers 1; then
    if keepalive_start adaptive "$TLS_PORT"; then
        h2load_burst adaptive "$HTTPS_PORT" 300 30
        keepalive_stop adaptive
    fi
    h2load_ok adaptive 300
    code=$(timeout 60 curl -sk --max-time 50 -o "$T/adaptive.body" -w '%{http_code}' "https://127.0.0.1:$HTTPS_PORT/")
    if [ "$code" = 200 ] && has "$T/adaptive.body" "<h1>handoff</h1>"; then
        pass "adaptive: curl after the burst gets the page"
    else
        fail "adaptive: curl after the burst: status '$code'"
    fi
    if counters "$T/adaptive.json"; then
        c=$T/adaptive.json
        expect_counter "$c" handshakes_done -ge 300
        expect_counter "$c" handshakes_failed -eq 0
        steps=$(($(counter "$c" handshakes_offloaded) + $(counter "$c" handshakes_inline)))
        verdict "adaptive: $steps handshake steps (inline + offloaded)" \
            "adaptive: only $steps handshake steps counted for 300+ handshakes" [ "$steps" -ge 600 ]
        expect_counter "$c" worker_steps -eq "$(counter "$c" handshakes_offloaded)"
    fi
    end_server adaptive
else
    fail "adaptive: start handoff serve"
fi

finish
