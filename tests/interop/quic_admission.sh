#!/usr/bin/env bash
# QUIC admission under a handshake storm (`serve --retry auto`, the default; --retry-above,
# --refuse-above), on one I/O thread so that "handshakes in progress on this thread" is exact:
# a handshake is held in progress by replaying a real client's first Initial from a socket that
# never answers (the server accepts it and waits for the client's Finished); then
#  - --retry-above 1: gtlsclient gets a Retry (h3_admission_retries, h3_retry_sent > 0), follows
#    it with the token and completes; more clients while the held one lasts also complete;
#  - --refuse-above 1: gtlsclient sees CONNECTION_CLOSE with CONNECTION_REFUSED (0x2) in an
#    Initial and gets no further (h3_admission_refused > 0);
#  - --retry=off with the same held handshake: no Retry.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3
if ! command -v gtlsclient >/dev/null 2>&1; then
    fail "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert

# capture FILE: a gtlsclient's first datagram (its Initial) into FILE, from a UDP socket that
# stands in for the server.
capture() {
    local file=$1
    free_port || return 1
    timeout 60 python3 - "$PORT" "$file" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(15)
d, _ = s.recvfrom(65536)
open(sys.argv[2], "wb").write(d)
EOF
    local py=$!
    # The python socket binds before gtlsclient sends (bounded poll on the bound port).
    local _
    for _ in $(seq 50); do
        ss -uln | grep -q "127.0.0.1:$PORT " && break
        sleep 0.1
    done
    timeout 3 gtlsclient -q 127.0.0.1 "$PORT" "https://127.0.0.1:$PORT/" >/dev/null 2>&1
    wait "$py"
    [ -s "$file" ]
}

# hold FILE: replays the captured Initial to our server from a socket that never answers.
hold() {
    timeout 60 python3 - "$HTTPS_PORT" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(open(sys.argv[2], "rb").read(), ("127.0.0.1", int(sys.argv[1])))
s.settimeout(45)
s.recvfrom(65536)   # the server's Initial/Handshake flight: the connection exists
EOF
}

# gtls NAME: one GET with gtlsclient (its frame log in $T/NAME.log).
gtls() {
    timeout 60 gtlsclient --exit-on-all-streams-close 127.0.0.1 "$HTTPS_PORT" \
        "https://127.0.0.1:$HTTPS_PORT/baseline2?a=1&b=2" >"$T/$1.log" 2>&1
}

for mode in retry refuse off; do
    tag=admission-$mode
    case $mode in
    retry) args=(--retry-above 1) ;;
    refuse) args=(--refuse-above 1) ;;
    off) args=(--retry=off --retry-above 1) ;;
    esac
    capture "$T/$tag.initial" || { fail "$tag: could not capture a client Initial"; continue; }
    serve3 "$tag" --threads 1 --cert "$T/ec.crt" --key "$T/ec.key" "${args[@]}" ||
        { fail "$tag: server did not start"; continue; }
    verdict "$tag: a handshake held in progress" "$tag: the replayed Initial got no answer" hold "$T/$tag.initial"
    case $mode in
    retry)
        verdict "$tag: gtlsclient completes" "$tag: gtlsclient failed" gtls "$tag"
        check "$tag: gtlsclient was sent a Retry" "$T/$tag.log" "Retry"
        ok=0
        for i in 1 2 3 4 5; do gtls "$tag-$i" && ok=$((ok + 1)); done
        verdict "$tag: 5 more clients complete ($ok)" "$tag: only $ok of 5 more clients completed" test "$ok" = 5
        counters "$T/$tag.json"
        expect_counter "$T/$tag.json" h3_admission_retries -ge 6
        expect_counter "$T/$tag.json" h3_retry_sent -ge 6
        expect_counter "$T/$tag.json" h3_handshakes_in_progress -eq 1
        ;;
    refuse)
        gtls "$tag" # (gtlsclient exits 0 after a peer's close: the log says what happened)
        check_not "$tag: gtlsclient got no 1-RTT packet (no handshake, no response)" "$T/$tag.log" "1RTT"
        check "$tag: CONNECTION_CLOSE with CONNECTION_REFUSED" "$T/$tag.log" "CONNECTION_CLOSE" \
            "error_code=CONNECTION_REFUSED"
        # Our client names the peer's close: who closed, the RFC 9000 name, the code.
        timeout 60 "$HO_BIN" get --h3 --cafile "$T/ec.crt" --timeout 50 "https://127.0.0.1:$HTTPS_PORT/" \
            >"$T/$tag.get.out" 2>"$T/$tag.get.err"
        check "$tag: get --h3 says the server closed with CONNECTION_REFUSED" "$T/$tag.get.err" \
            "HTTP/3 fetch: server closed: CONNECTION_REFUSED (0x2)"
        check_not "$tag: get --h3 never says 'unknown error'" "$T/$tag.get.err" "unknown error"
        counters "$T/$tag.json"
        expect_counter "$T/$tag.json" h3_admission_refused -ge 1
        ;;
    off)
        verdict "$tag: gtlsclient completes" "$tag: gtlsclient failed" gtls "$tag"
        check_not "$tag: no Retry" "$T/$tag.log" "Retry"
        counters "$T/$tag.json"
        expect_counter "$T/$tag.json" h3_retry_sent -eq 0
        ;;
    esac
    end_server "$tag"
done
finish
