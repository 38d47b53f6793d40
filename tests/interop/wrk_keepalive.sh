#!/usr/bin/env bash
# The HttpArena json-tls load shape, briefly: wrk (keep-alive, no ALPN) against the json-tls port,
# round-robin over the suite's seven (count, m) pairs; a Lua response() callback checks every body
# against the bodies fetched beforehand from the plaintext port. Asserts no socket errors, no
# non-2xx, no mismatches, and some requests done. Not a benchmark: nothing is timed.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools wrk curl python3 pgrep
need_arena

PAIRS="1:3 5:7 10:2 15:5 25:4 40:8 50:6"

if ! serve3 wrk --dataset "$ARENA/dataset.json" --threads 2; then
    fail "start handoff serve"
    finish
fi

# ---- the expected bodies, from the plaintext port ------------------------------------------
i=0
for pair in $PAIRS; do
    i=$((i + 1))
    path="/json/${pair%:*}?m=${pair#*:}"
    code=$(timeout 60 curl -s --max-time 50 -o "$T/expect-$i.json" -w '%{http_code}' \
        "http://127.0.0.1:$HTTP_PORT$path" 2>"$T/curl-$i.err")
    if [ "$code" = 200 ] && [ -s "$T/expect-$i.json" ]; then
        pass "expected body for $path fetched ($(wc -c <"$T/expect-$i.json") bytes)"
    else
        fail "fetch $path from the plaintext port: status '$code'"
        show "$T/curl-$i.err"
    fi
done

# ---- the Lua script --------------------------------------------------------------------------
# Each wrk thread has its own Lua state: the counters live there and done() (main state) sums
# them through the thread objects kept by setup().
{
    printf 'local T = "%s"\nlocal PAIRS = { ' "$T"
    for pair in $PAIRS; do printf '"/json/%s?m=%s", ' "${pair%:*}" "${pair#*:}"; done
    printf '}\n'
    cat <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
    expected = {}
    for i = 1, #PAIRS do
        local f = assert(io.open(T .. "/expect-" .. i .. ".json", "rb"))
        expected[f:read("*a")] = true
        f:close()
    end
    idx, responses, mismatches, non200 = 0, 0, 0, 0
    first_bad = ""
end

function request()
    idx = idx % #PAIRS + 1
    return wrk.format("GET", PAIRS[idx])
end

function response(status, headers, body)
    responses = responses + 1
    if status ~= 200 then
        non200 = non200 + 1
        if first_bad == "" then first_bad = "status " .. status end
    elseif not expected[body] then
        mismatches = mismatches + 1
        if first_bad == "" then first_bad = "body: " .. string.sub(body, 1, 160) end
    end
end

function done(summary, latency, requests)
    local r, m, n = 0, 0, 0
    for _, t in ipairs(threads) do
        r = r + t:get("responses")
        m = m + t:get("mismatches")
        n = n + t:get("non200")
        local bad = t:get("first_bad")
        if bad ~= "" then io.write("FIRST_BAD " .. bad .. "\n") end
    end
    io.write(string.format("CHECKED %d\nMISMATCHES %d\nNON200 %d\n", r, m, n))
end
EOF
} >"$T/check.lua"

# ---- the load ---------------------------------------------------------------------------------
# --timeout 10s: a slow response on a busy machine is not a socket error.
timeout 60 wrk -t2 -c32 -d3s --timeout 10s -s "$T/check.lua" "https://127.0.0.1:$TLS_PORT/" \
    >"$T/wrk.out" 2>&1
rc=$?
sed 's/^/    wrk| /' "$T/wrk.out"
verdict "wrk exited 0" "wrk exit status $rc" [ "$rc" = 0 ]

# wrk_num REGEX: the first number after REGEX in wrk's output (0 when the line is absent: wrk
# prints "Socket errors" and "Non-2xx" only when there are some).
wrk_num() { grep -oE "$1 *[0-9]+" "$T/wrk.out" | head -n 1 | grep -oE '[0-9]+$' || echo 0; }

requests=$(grep -oE '^ *[0-9]+ requests in' "$T/wrk.out" | grep -oE '[0-9]+' || echo 0)
checked=$(wrk_num CHECKED)
verdict "wrk completed $requests requests" "wrk completed no requests" [ "${requests:-0}" -gt 0 ]
verdict "response() checked $checked bodies" "response() checked no bodies" [ "$checked" -gt 0 ]
if has "$T/wrk.out" "Socket errors"; then
    fail "socket errors: $(grep 'Socket errors' "$T/wrk.out")"
else
    pass "0 socket errors"
fi
non2xx=$(wrk_num 'Non-2xx or 3xx responses:')
verdict "0 non-2xx responses (wrk)" "$non2xx non-2xx responses (wrk)" [ "$non2xx" = 0 ]
n=$(wrk_num NON200)
verdict "0 non-200 responses (Lua)" "$n non-200 responses (Lua)" [ "$n" = 0 ]
n=$(wrk_num MISMATCHES)
if [ "$n" = 0 ] && has "$T/wrk.out" MISMATCHES; then
    pass "0 body mismatches"
else
    fail "$n body mismatches (or no MISMATCHES line)"
fi

counters "$T/counters.json" && {
    expect_counter "$T/counters.json" handshakes_failed -eq 0
    expect_counter "$T/counters.json" requests -ge "${requests:-1}"
}
verdict "server still running" "server died" alive
end_server wrk
finish
