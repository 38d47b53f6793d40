#!/usr/bin/env bash
# Our QUIC/HTTP-3 server (`handoff serve`) <- ngtcp2's gtlsclient, one case per feature:
# handshake + small GET, a 50 MB download, 10 streams in one connection, version negotiation,
# ChaCha20-Poly1305 only, 10 % loss both ways, session resumption (seen by the client and counted
# by the server), 1-RTT key updates initiated by both sides (counted by the server), Retry, and
# IPv6 (::1) next to IPv4 on the default dual-stack bind. Every body is compared byte for byte
# with its file under --root.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools curl pgrep openssl cmp head
if ! command -v gtlsclient >/dev/null 2>&1; then
    fail "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert

# The document root: random files, so a wrong byte anywhere shows.
ROOT=$T/root
mkdir -p "$ROOT/many"
head -c 1000 /dev/urandom >"$ROOT/small.bin"
head -c 50000000 /dev/urandom >"$ROOT/big50.bin"
head -c 8000000 /dev/urandom >"$ROOT/mid8.bin"
head -c 3000000 /dev/urandom >"$ROOT/loss3.bin"
for i in 0 1 2 3 4 5 6 7 8 9; do head -c $((100000 + i * 37000)) /dev/urandom >"$ROOT/many/f$i.bin"; done

# gtls NAME HOST ARGS... -- PATH...: gtlsclient (log kept, packets not dumped) fetches each PATH
# from HOST on our UDP port into $T/NAME/. Returns its exit status.
gtls() {
    local name=$1 host=$2 urlhost p urls=() args=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    urlhost=$host
    case $host in *:*) urlhost="[$host]" ;; esac
    for p; do urls+=("https://$urlhost:$HTTPS_PORT$p"); done
    rm -rf "$T/$name"
    mkdir -p "$T/$name"
    timeout 90 gtlsclient --no-quic-dump --no-http-dump --exit-on-all-streams-close --download="$T/$name" \
        "${args[@]+"${args[@]}"}" "$host" "$HTTPS_PORT" "${urls[@]}" >"$T/$name.log" 2>&1
}

# same NAME FILE...: each downloaded $T/NAME/<basename> equals $ROOT/FILE.
same() {
    local name=$1 f bad=0
    shift
    for f; do
        cmp -s "$T/$name/${f##*/}" "$ROOT/$f" || { bad=1; say "    $name: $f differs or is missing"; }
    done
    if [ "$bad" = 0 ]; then pass "$name: $# file(s) byte-identical"; else fail "$name: bodies differ"; fi
}

# fetch NAME HOST ARGS... -- PATH...: gtls, a pass/fail on its exit status, then `same`.
fetch() {
    local name=$1 host=$2 a files=()
    if gtls "$@"; then pass "$name: gtlsclient exit 0"; else fail "$name: gtlsclient exit $?"; show "$T/$name.log"; fi
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
    shift
    for a; do files+=("${a#/}"); done
    same "$name" "${files[@]}"
}

SERVE_ARGS=(--cert "$T/ec.crt" --key "$T/ec.key" --root "$ROOT")

# ---- one server for most cases --------------------------------------------------------------
if serve3 main "${SERVE_ARGS[@]}"; then
    check "main: --root announced" "$SRV_LOG" "serving 14 files from $ROOT at /"
    fetch small 127.0.0.1 -- /small.bin
    check "small: handshake completed (1-RTT, HANDSHAKE_DONE)" "$T/small.log" "HANDSHAKE_DONE"

    fetch big50 127.0.0.1 -- /big50.bin

    many=()
    for i in 0 1 2 3 4 5 6 7 8 9; do many+=("/many/f$i.bin"); done
    fetch streams10 127.0.0.1 -- "${many[@]}"
    n=$(grep -c ':status: 200' "$T/streams10.log")
    verdict "streams10: 10 responses with status 200 on one connection" \
        "streams10: $n responses with status 200 (expected 10)" test "$n" -eq 10

    fetch vn 127.0.0.1 -v 0x1a2a3a4a --preferred-versions=v1 -- /small.bin
    check "vn: the client got Version Negotiation and chose v1" "$T/vn.log" "type=VN" "Client selected version 0x1"

    fetch chacha 127.0.0.1 --ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305 -- /mid8.bin
    check "chacha: cipher suite" "$T/chacha.log" "Negotiated cipher suite is CHACHA20-POLY1305"

    fetch loss10 127.0.0.1 -t 0.1 -r 0.1 -- /loss3.bin

    # Resumption: the first run stores the ticket, the second offers it (and tries 0-RTT,
    # which we reject: 0-RTT is not supported, the request goes again in 1-RTT).
    rm -f "$T/sess" "$T/tp"
    fetch resume1 127.0.0.1 --session-file="$T/sess" --tp-file="$T/tp" -- /small.bin
    verdict "resume1: the client stored a session ticket" "resume1: no session file" test -s "$T/sess"
    counters "$T/before-resume.json"
    fetch resume2 127.0.0.1 --session-file="$T/sess" --tp-file="$T/tp" -- /small.bin
    check "resume2: the client offered 0-RTT and we rejected it" "$T/resume2.log" "Early data was rejected"
    counters "$T/after-resume.json"
    r0=$(counter "$T/before-resume.json" h3_resumed)
    r1=$(counter "$T/after-resume.json" h3_resumed)
    verdict "resume2: the server counted one more resumed handshake ($r0 -> $r1)" \
        "resume2: h3_resumed $r0 -> $r1 (expected +1)" test "$r1" = "$((r0 + 1))"

    counters "$T/main.json"
    expect_counter "$T/main.json" h3_vn_sent -ge 1
    expect_counter "$T/main.json" h3_handshakes -ge 8
    expect_counter "$T/main.json" h3_resumed -ge 1
    end_server main
else
    fail "main: server did not start"
fi

# ---- key update (RFC 9001 §6) ------------------------------------------------------------------
# gtlsclient initiates one update 5 ms after the handshake (during the download); the server
# initiates one after 1000 packets under a key (--quic-key-update), at the earliest three PTOs
# after the previous one (§6.5): at least one more during 50 MB (typically 2 to 5 on loopback).
if serve3 keyupdate "${SERVE_ARGS[@]}" --quic-key-update 1000; then
    fetch keyupdate 127.0.0.1 --key-update=5ms -- /big50.bin
    check "keyupdate: the client initiated a key update" "$T/keyupdate.log" "Initiate key update"
    # Key phases of the server's packets, in the order the client received them: 0, 1 (the
    # client's update answered), 0 (the server's own update), ...
    phases=$(grep -o 'pkt rx .*type=1RTT k=[01]' "$T/keyupdate.log" | sed 's/.*k=//' | uniq | wc -l)
    verdict "keyupdate: the client received the server's packets in $phases key phases (>= 3)" \
        "keyupdate: only $phases key phase(s) in the server's packets (expected >= 3)" test "$phases" -ge 3
    counters "$T/keyupdate.json"
    expect_counter "$T/keyupdate.json" h3_key_updates -ge 2
    end_server keyupdate
else
    fail "keyupdate: server did not start"
fi

# ---- Retry -------------------------------------------------------------------------------------
if serve3 retry "${SERVE_ARGS[@]}" --retry; then
    fetch retry 127.0.0.1 -- /mid8.bin
    check "retry: the client got a Retry" "$T/retry.log" "type=Retry"
    counters "$T/retry.json"
    expect_counter "$T/retry.json" h3_retry_sent -ge 1
    end_server retry
else
    fail "retry: server did not start"
fi

# ---- IPv6: the default bind (::, dual-stack) -------------------------------------------------
free_port && HTTPS_PORT=$PORT
SRV_LOG=$T/v6.srv.log
if start_bg "$HTTPS_PORT" "$SRV_LOG" "$HO_BIN" serve --port "$HTTPS_PORT" --tls-port 0 --http-port 0 \
    "${SERVE_ARGS[@]}"; then
    SRV_WRAP=$BG_PID
    SRV_PID=$(pgrep -P "$SRV_WRAP" | head -n 1)
    check "ipv6: default bind is :: (dual-stack)" "$SRV_LOG" "listening h3 (QUIC) on UDP [::]:$HTTPS_PORT"
    fetch ipv6 ::1 -- /mid8.bin
    check "ipv6: gtlsclient talked to [::1]" "$T/ipv6.log" "remote=[::1]:$HTTPS_PORT"
    fetch ipv4-dualstack 127.0.0.1 -- /small.bin
    timeout 60 curl -sk -6 "https://[::1]:$HTTPS_PORT/small.bin" -o "$T/v6-tcp.bin"
    verdict "ipv6: HTTPS over TCP on [::1] byte-identical" "ipv6: HTTPS over TCP on [::1] failed or differs" \
        cmp -s "$T/v6-tcp.bin" "$ROOT/small.bin"
    end_server v6
else
    fail "ipv6: server did not start"
fi
finish
