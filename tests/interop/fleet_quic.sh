#!/usr/bin/env bash
# QUIC keys shared by a fleet (`serve --quic-keys FILE`, docs/SERVER.md "Ticket keys"): a
# Retry from one server is honoured by another. A UDP switch stands in for a load balancer
# that moves a client between servers: the client's first datagram goes to server a, every
# later one to server b, from one socket (so both see the same client address, which the
# token is bound to). Both run --retry (always): a sends the Retry, b accepts the client's
# Initial with a's token, completes the handshake and answers, without a Retry of its own.
# With a server that has a key of its own in b's place, the token is refused (INVALID_TOKEN)
# and there is no response. Clients: our `handoff get --h3` and ngtcp2's gtlsclient. Ours
# offers X25519 only here: the X25519MLKEM768 share makes the ClientHello two datagrams, and
# the second would reach b before the Retry (b would answer it with its own Retry, which the
# client may take first: the switch's "first datagram" would no longer be the whole flight).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl python3 gtlsclient
gen_ec_cert
cert_files ec
KEYS=$T/quic.keys
(umask 077 && openssl rand -hex 32 >"$KEYS")
(umask 077 && openssl rand -hex 32 >"$T/other.keys")

# start NAME KEYFILE: `handoff serve --retry --quic-keys KEYFILE`; sets <NAME>_PORT, <NAME>_LOG.
start() {
    serve_handoff "$1" --cert "$CRT" --key "$KEY" --retry --quic-keys "$2" || return 1
    wait_log "$SRV_LOG" "listening h3 (QUIC)" 30 || return 1
    printf -v "${1}_PORT" %s "$PORT"
    printf -v "${1}_LOG" %s "$SRV_LOG"
    printf -v "${1}_PID" %s "$(pgrep -P "$SRV_PID")"
}
start a "$KEYS" || { fail "start a"; finish; }
start b "$KEYS" || { fail "start b"; finish; }
start c "$T/other.keys" || { fail "start c"; finish; }
check "a logs where its QUIC keys come from" "$a_LOG" "QUIC token and stateless reset keys from $KEYS"

# switch NAME FIRST REST: a UDP switch on a free port (SW_PORT): the client's first datagram
# to port FIRST, the others to REST; replies back to the client. Its log: $T/NAME.sw.log, one
# line per datagram ("client->first", "client->rest", "first->client", "rest->client").
switch() {
    local name=$1
    free_port || return 1
    SW_PORT=$PORT
    SW_LOG=$T/$name.sw.log
    : >"$SW_LOG"
    timeout -k 5 120 python3 - "$SW_PORT" "$2" "$3" "$SW_LOG" <<'EOF' &
import select, socket, sys
lp, first, rest, log = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.bind(("127.0.0.1", lp))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
out = open(log, "a", buffering=1)
out.write("ready\n")
client, n = None, 0
while True:
    r, _, _ = select.select([c, u], [], [], 100)
    if not r:
        break
    for s in r:
        d, addr = s.recvfrom(65536)
        if s is c:
            client, n = addr, n + 1
            u.sendto(d, ("127.0.0.1", first if n == 1 else rest))
            out.write("client->%s %d\n" % ("first" if n == 1 else "rest", len(d)))
        elif client is not None:
            c.sendto(d, client)
            out.write("%s->client %d\n" % ("first" if addr[1] == first else "rest", len(d)))
EOF
    SW_PID=$!
    BG_PIDS+=("$SW_PID")
    wait_log "$SW_LOG" ready 30
}

# h3_counters NAME LOG PID: SIGUSR1, then the last counters line of LOG in $T/NAME.json.
h3_counters() {
    local n0
    n0=$(grep -c 'handoff: counters {' "$2")
    kill -USR1 "$3"
    wait_count "$2" 'handoff: counters {' $((n0 + 1)) 30 || { fail "$1: no counters"; return 1; }
    grep 'handoff: counters {' "$2" | tail -n 1 | sed 's/^.*handoff: counters //' >"$T/$1.json"
}
# expect NAME FIELD OP VALUE: a field of $T/NAME.json.
expect() {
    local v
    v=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))[sys.argv[2]])
except Exception: print("?")' "$T/$1.json" "$2")
    if [ "$v" != "?" ] && test "$v" "$3" "$4"; then pass "$1: $2=$v ($3 $4)"; else fail "$1: $2=$v, want $3 $4"; fi
}

# ---- a's Retry, b's handshake: our client, then gtlsclient ------------------------------------
switch ours "$a_PORT" "$b_PORT" || { fail "start the switch"; finish; }
timeout 60 "$HO_BIN" get --h3 -v --groups X25519 --cafile "$CRT" --timeout 30 "https://localhost:$SW_PORT/baseline2?a=20&b=22" \
    >"$T/ours.out" 2>"$T/ours.err" </dev/null
check "get --h3: a Retry from a, the response from b" "$T/ours.out" "42"
check "the switch: a answered the first datagram, b the rest" "$SW_LOG" "first->client" "rest->client"
stop_bg "$SW_PID"

switch gtls "$a_PORT" "$b_PORT" || { fail "start the switch"; finish; }
timeout 60 gtlsclient --exit-on-all-streams-close 127.0.0.1 "$SW_PORT" \
    "https://localhost:$SW_PORT/baseline2?a=1&b=2" >"$T/gtls.log" 2>&1 </dev/null
check "gtlsclient: Retry from a, handshake and response from b" "$T/gtls.log" "Retry" "HANDSHAKE_DONE"
check "gtlsclient: b's response" "$T/gtls.log" ":status: 200"
stop_bg "$SW_PID"

h3_counters a "$a_LOG" "$a_PID" && { expect a h3_retry_sent -eq 2; expect a h3_handshakes -eq 0; }
h3_counters b "$b_LOG" "$b_PID" && {
    expect b h3_retry_sent -eq 0
    expect b h3_handshakes -eq 2
    expect b quic_initial_bad_token -eq 0
}

# ---- a's Retry, c's refusal (another key) ---------------------------------------------------
switch other "$a_PORT" "$c_PORT" || { fail "start the switch"; finish; }
timeout 60 "$HO_BIN" get --h3 --groups X25519 --cafile "$CRT" --timeout 10 "https://localhost:$SW_PORT/baseline2?a=20&b=22" \
    >"$T/other.out" 2>"$T/other.err" </dev/null
rc=$?
[ "$rc" != 0 ] && pass "get --h3 fails when the token is not the fleet's (exit $rc)" ||
    { fail "get --h3 through a server with another key succeeded"; show "$T/other.out"; }
check "get --h3 says the server refused the token" "$T/other.err" "INVALID_TOKEN"
stop_bg "$SW_PID"
h3_counters c "$c_LOG" "$c_PID" && { expect c quic_initial_bad_token -ge 1; expect c h3_handshakes -eq 0; }

finish
