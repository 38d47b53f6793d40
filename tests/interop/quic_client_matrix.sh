#!/usr/bin/env bash
# Our QUIC client (`handoff get --h3`) against ngtcp2's gtlsserver (Debian ngtcp2-server), one
# pass/fail line per case: handshake + small GET; a 50 MB file byte for byte; 10 URLs on one
# connection (10 streams at once), every body compared; Retry (server -V); Version
# Negotiation (we offer 0x1a2a3a4a first); ChaCha20-Poly1305 only; a key update (our counter and
# the server's log); 10 % loss both ways (-t 0.1 -r 0.1); resumption (second run resumed);
# IPv6 (::1); and a clear non-zero failure when nobody answers.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools cmp head
GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert
D=$T/htdocs
mkdir -p "$D"
head -c 50000000 /dev/urandom >"$D/big50m"
head -c 3000000 /dev/urandom >"$D/f3m"
for i in 0 1 2 3 4 5 6 7 8 9; do head -c $((100000 + i * 7919)) /dev/urandom >"$D/s$i"; done

# start_gtls NAME ADDR ARGS...: gtlsserver on a free UDP port of ADDR; sets PORT, GTLS_PID,
# GTLS_LOG. Waits until the UDP socket exists.
start_gtls() {
    local name=$1 addr=$2 i
    shift 2
    free_port
    GTLS_LOG=$T/$name.gtls.log
    timeout -k 5 110 "$GTLSSERVER" "$addr" "$PORT" "$T/ec.key" "$T/ec.crt" -d "$D" "$@" >"$GTLS_LOG" 2>&1 </dev/null &
    GTLS_PID=$!
    BG_PIDS+=("$GTLS_PID")
    for i in $(seq 50); do
        [ -n "$(timeout 5 ss -Hlun "( sport = :$PORT )" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    fail "$name: gtlsserver did not start"
    show "$GTLS_LOG"
    return 1
}

# get NAME ARGS...: handoff get --h3 --cafile ... -v ARGS; stdout to $T/NAME.out, stderr to
# $T/NAME.err; sets RC.
get() {
    local name=$1
    shift
    timeout -k 5 60 "$HO_BIN" get --h3 --cafile "$T/ec.crt" -v --timeout 50 "$@" >"$T/$name.out" 2>"$T/$name.err"
    RC=$?
}

# same NAME FILE...: every FILE equals its namesake in $D.
same() {
    local name=$1 f ok=1
    shift
    for f in "$@"; do
        cmp -s "$f" "$D/$(basename "$f")" || { ok=0; say "    $f differs from $D/$(basename "$f")"; }
    done
    [ "$ok" -eq 1 ]
}

verdict() { # NAME CONDITION-RESULT DETAIL
    if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1 (exit $RC)"; show "$T/$3.err" "$GTLS_LOG"; fi
}

start_gtls plain 127.0.0.1 -q || finish
P=$PORT
URL=https://127.0.0.1:$P

get small "$URL/5000"
[ "$RC" -eq 0 ] && [ "$(wc -c <"$T/small.out")" -eq 5000 ] && has "$T/small.err" "resumed: no"
verdict "handshake + small GET: 5000 bytes" $? small

get big -o "$T/big" "$URL/big50m"
[ "$RC" -eq 0 ] && same big "$T/big/big50m"
verdict "50 MB download, byte for byte" $? big

urls=()
files=()
for i in 0 1 2 3 4 5 6 7 8 9; do urls+=("$URL/s$i"); files+=("$T/ten/s$i"); done
get ten -o "$T/ten" "${urls[@]}"
[ "$RC" -eq 0 ] && same ten "${files[@]}"
verdict "10 streams on one connection, all 10 bodies identical" $? ten
# and to stdout, concatenated in URL order
get ten_stdout "${urls[@]}"
cat "${files[@]/#$T\/ten/$D}" >"$T/ten.expect"
[ "$RC" -eq 0 ] && cmp -s "$T/ten_stdout.out" "$T/ten.expect"
verdict "10 URLs to stdout, concatenated in order" $? ten_stdout

get vn --quic-version 0x1a2a3a4a "$URL/f3m"
[ "$RC" -eq 0 ] && cmp -s "$T/vn.out" "$D/f3m" && has "$T/vn.err" "version-negotiation: yes" &&
    has "$T/vn.err" "quic-version: 0x00000001"
verdict "version negotiation: 0x1a2a3a4a first, then v1" $? vn

get chacha --ciphers TLS_CHACHA20_POLY1305_SHA256 "$URL/f3m"
[ "$RC" -eq 0 ] && cmp -s "$T/chacha.out" "$D/f3m" && has "$T/chacha.err" "suite: TLS_CHACHA20_POLY1305_SHA256"
verdict "ChaCha20-Poly1305 only" $? chacha

rm -f "$T/sess"
get resume1 --session-file "$T/sess" "$URL/5000"
r1=$RC
get resume2 --session-file "$T/sess" "$URL/5000"
[ "$r1" -eq 0 ] && [ "$RC" -eq 0 ] && [ -s "$T/sess" ] && has "$T/resume1.err" "resumed: no" &&
    has "$T/resume2.err" "resumed: yes" && [ "$(wc -c <"$T/resume2.out")" -eq 5000 ]
verdict "resumption: the second run is resumed" $? resume2
stop_bg "$GTLS_PID"

start_gtls retry 127.0.0.1 -q -V || finish
get retry "https://127.0.0.1:$PORT/f3m"
[ "$RC" -eq 0 ] && cmp -s "$T/retry.out" "$D/f3m" && has "$T/retry.err" "retry: yes"
verdict "Retry (gtlsserver -V) followed" $? retry
stop_bg "$GTLS_PID"

# Not -q: the server logs its key phases ("rotate keys" when our update arrives).
start_gtls keyupdate 127.0.0.1 || finish
get keyupdate --key-update "https://127.0.0.1:$PORT/300000"
[ "$RC" -eq 0 ] && [ "$(wc -c <"$T/keyupdate.out")" -eq 300000 ] && has "$T/keyupdate.err" "key-updates-initiated: 1" &&
    has "$T/keyupdate.err" "key-updates: 1" && has "$GTLS_LOG" "rotate keys" &&
    has "$GTLS_LOG" "type=1RTT k=1"
verdict "key update initiated, answered (our counter) and seen by the server (its log)" $? keyupdate
stop_bg "$GTLS_PID"

start_gtls loss 127.0.0.1 -q -t 0.1 -r 0.1 || finish
get loss -o "$T/loss" "https://127.0.0.1:$PORT/f3m"
# (the loss must show in our packet counters: "packets: sent N received M lost K", K > 0)
[ "$RC" -eq 0 ] && same loss "$T/loss/f3m" && grep -Eq "^packets: .* lost [1-9]" "$T/loss.err"
verdict "10 % loss both ways: 3 MB complete and identical" $? loss
stop_bg "$GTLS_PID"

start_gtls ipv6 ::1 -q || finish
get ipv6 -o "$T/v6" "https://[::1]:$PORT/f3m"
[ "$RC" -eq 0 ] && same ipv6 "$T/v6/f3m"
verdict "IPv6 (::1)" $? ipv6
stop_bg "$GTLS_PID"

# Nobody listening: a clear failure, non-zero exit (the kernel's port unreachable is seen).
free_port
RC=0
timeout -k 5 30 "$HO_BIN" get --h3 --cafile "$T/ec.crt" --timeout 5 "https://127.0.0.1:$PORT/x" >"$T/none.out" 2>"$T/none.err" || RC=$?
[ "$RC" -eq 1 ] && has "$T/none.err" "cannot reach 127.0.0.1 port $PORT"
verdict "no server: exit 1, 'cannot reach'" $? none
# A server that answers nothing (a UDP socket that never reads): timed out.
RC=0
timeout -k 5 30 python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1]))); time.sleep(20)' "$PORT" &
SINK=$!
BG_PIDS+=("$SINK")
# Until the sink has bound (a bounded poll, not a fixed sleep: python may start slowly).
for _ in $(seq 100); do
    ss -uln | grep -q "127.0.0.1:$PORT " && break
    sleep 0.1
done
timeout -k 5 30 "$HO_BIN" get --h3 --cafile "$T/ec.crt" --timeout 2 "https://127.0.0.1:$PORT/x" >"$T/mute.out" 2>"$T/mute.err" || RC=$?
[ "$RC" -eq 1 ] && has "$T/mute.err" "timed out (no handshake)"
verdict "silent server: exit 1, 'timed out (no handshake)'" $? mute
stop_bg "$SINK"
finish
