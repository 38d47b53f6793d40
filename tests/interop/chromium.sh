#!/usr/bin/env bash
# Headless Chromium against `handoff serve` over TLS 1.3 (HTTPS port): the home page and a /json
# response, checked in the dumped DOM (Chromium exits 0 even when a page fails to load).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools chromium pgrep

CHROME_FLAGS=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
    --disable-component-update --disable-sync --disable-dev-shm-usage --disable-crash-reporter
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" --ignore-certificate-errors)

# dump_dom NAME URL: Chromium's DOM of URL in $T/NAME.dom (its log in $T/NAME.log), with a fresh
# profile, at most 60 s. `timeout` runs Chromium in its own process group; whatever of that
# group outlives it (zygote, renderer, utility processes) is killed by group id afterwards.
dump_dom() {
    local name=$1 url=$2 pid
    mkdir -p "$T/profile-$name"
    timeout 60 chromium "${CHROME_FLAGS[@]}" --user-data-dir="$T/profile-$name" --dump-dom "$url" \
        >"$T/$name.dom" 2>"$T/$name.log" </dev/null &
    pid=$!
    wait "$pid"
    kill_group "$pid"
}

# check_dom NAME STRING: the DOM of NAME contains STRING.
check_dom() {
    if has "$T/$1.dom" "$2"; then
        pass "$1: DOM contains $2"
    else
        fail "$1: DOM lacks $2"
        grep -v 'dbus\|Fontconfig' "$T/$1.log" >"$T/$1.log.short"
        show "$T/$1.dom" "$T/$1.log.short"
    fi
}

if ! serve3 chromium; then
    fail "start handoff serve"
    finish
fi

dump_dom home "https://127.0.0.1:$HTTPS_PORT/"
check_dom home "<h1>handoff</h1>"

dump_dom json "https://127.0.0.1:$HTTPS_PORT/json/3?m=2"
check_dom json '"count":3'

counters "$T/counters.json" && {
    expect_counter "$T/counters.json" handshakes_done -ge 1
    expect_counter "$T/counters.json" requests -ge 2
}
verdict "server still running" "server died" alive
end_server chromium
finish
