#!/usr/bin/env bash
# The post-quantum hybrid group X25519MLKEM768 (0x11EC, draft-ietf-tls-ecdhe-mlkem) live:
# our `handoff get` and `handoff serve` negotiate it by default over TLS/TCP (get -v names
# the group), a client restricted to X25519 still gets X25519; Debian's Chromium, which offers
# the group by default, completes handshakes over TCP and over QUIC using it: the server's
# handshakes_pq / h3_handshakes_pq counters count them and Chromium's net log carries the
# group (key_exchange_group 4588).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools chromium pgrep openssl
gen_ec_cert

serve3 mlkem --cert "$T/ec.crt" --key "$T/ec.key" || { fail "server did not start"; finish; }
URL="https://127.0.0.1:$HTTPS_PORT/"

# ---- our client --------------------------------------------------------------------------
timeout 30 "$HO_BIN" get -v --insecure "$URL" >"$T/get.body" 2>"$T/get.err"
check "get: group X25519MLKEM768" "$T/get.err" "group: X25519MLKEM768"
check "get: no HelloRetryRequest" "$T/get.err" "hrr: no"
check "get: page" "$T/get.body" "<h1>handoff</h1>"
timeout 30 "$HO_BIN" get -v --insecure --groups X25519 "$URL" >/dev/null 2>"$T/get-x.err"
check "get --groups X25519: group x25519" "$T/get-x.err" "group: x25519"
timeout 30 "$HO_BIN" get --h3 -v --insecure "$URL" >"$T/get-h3.body" 2>"$T/get-h3.err"
check "get --h3: page" "$T/get-h3.body" "<h1>handoff</h1>"
counters "$T/ours.json" && {
    # get (hybrid), get --groups X25519 (not), get --h3 (hybrid: the QUIC client's TLS defaults)
    expect_counter "$T/ours.json" handshakes_done -eq 2
    expect_counter "$T/ours.json" handshakes_pq -eq 1
    expect_counter "$T/ours.json" h3_handshakes -eq 1
    expect_counter "$T/ours.json" h3_handshakes_pq -eq 1
}

# ---- Chromium over TCP and over QUIC -------------------------------------------------------
CHROME_FLAGS=(--headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking
    --disable-component-update --disable-sync --disable-dev-shm-usage --disable-crash-reporter
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
SPKI=$(openssl x509 -in "$T/ec.crt" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)

# chrome NAME EXTRA...: Chromium's DOM of $URL in $T/NAME.dom, its net log in $T/NAME.netlog.
chrome() {
    local name=$1 pid
    shift
    mkdir -p "$T/profile-$name"
    timeout 60 chromium "${CHROME_FLAGS[@]}" --user-data-dir="$T/profile-$name" "$@" \
        --log-net-log="$T/$name.netlog" --dump-dom "$URL" >"$T/$name.dom" 2>"$T/$name.log" </dev/null &
    pid=$!
    wait "$pid"
    kill_group "$pid"
}

chrome tcp --ignore-certificate-errors
check "chromium TCP: page" "$T/tcp.dom" "<h1>handoff</h1>"
check "chromium TCP: net log names group 4588 (0x11EC)" "$T/tcp.netlog" '"key_exchange_group":4588'
chrome quic --enable-quic --origin-to-force-quic-on="127.0.0.1:$HTTPS_PORT" \
    --ignore-certificate-errors-spki-list="$SPKI"
check "chromium QUIC: page" "$T/quic.dom" "<h1>handoff</h1>"
check "chromium QUIC: net log has a QUIC session" "$T/quic.netlog" "QUIC_SESSION"
counters "$T/chrome.json" && {
    expect_counter "$T/chrome.json" handshakes_pq -ge 2
    expect_counter "$T/chrome.json" h3_handshakes_pq -ge 2
}
verdict "server still running" "server died" alive
end_server mlkem
finish
