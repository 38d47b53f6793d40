#!/usr/bin/env bash
# Ticket keys shared by a fleet (issue 14 item 4; docs/SERVER.md "Ticket keys"): two
# `handoff serve` with the same --ticket-keys file resume each other's tickets (openssl
# s_client -sess_out on one, -sess_in on the other); a server with keys of its own does not.
# A rotation (new key first, the old one second) and SIGHUP: old tickets still resume, new
# ones carry the new key's id. A bad file at SIGHUP keeps the keys in use; at start it is
# exit status 2. Then HAProxy (TCP mode, round-robin) in front of both: 20 chained
# resumptions through it all resume, and both servers took a share (their counters).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools openssl haproxy
gen_ec_cert
cert_files ec
REQ='GET / HTTP/1.0\r\n\r\n'
K1=$(openssl rand -hex 32)
K2=$(openssl rand -hex 32)
KEYS=$T/ticket.keys

# write_keys LINE...: replace the key file (a new file renamed over the old: a reader never
# sees half of it), mode 600.
write_keys() {
    (umask 077 && printf '%s\n' "$@" >"$KEYS.new") && mv -f "$KEYS.new" "$KEYS"
}

# resume NAME PORT IN OUT: one s_client connection offering session file IN (none if "-")
# and saving the new session to OUT; output in $T/NAME.out.
resume() {
    local name=$1 port=$2 in=$3 out=$4 args=()
    [ "$in" != - ] && args+=(-sess_in "$in")
    rm -f "$out"
    printf "$REQ" | timeout 60 openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls1_3 \
        -CAfile "$CRT" "${args[@]}" -sess_out "$out" -ign_eof >"$T/$name.out" 2>&1
}

# ticket_id SESSION: the first 4 octets (hex) of the ticket in an openssl session file:
# the key id our tickets start with.
ticket_id() {
    timeout 10 openssl sess_id -in "$1" -noout -text 2>/dev/null |
        sed -n '/TLS session ticket:/{n;s/^ *0000 - \([0-9a-f][0-9a-f]\) \([0-9a-f][0-9a-f]\) \([0-9a-f][0-9a-f]\) \([0-9a-f][0-9a-f]\).*/\1\2\3\4/p;}'
}

# logged_id LOG WORD N: the sealing key id of the N-th "ticket keys WORD" line of LOG.
logged_id() {
    grep -F "ticket keys $2 from" "$1" | sed -n "$3s/.*sealing with key id \([0-9a-f]*\)$/\1/p"
}

# check_id NAME SESSION WANT: the session's ticket carries key id WANT.
check_id() {
    local got
    got=$(ticket_id "$2")
    if [ -n "$3" ] && [ "$got" = "$3" ]; then pass "$1 (key id $got)"; else fail "$1: key id '$got', want '$3'"; fi
}

write_keys "# fleet ticket keys" "$K1"
serve_handoff a --cert "$CRT" --key "$KEY" --ticket-keys "$KEYS" --quic-keys "$KEYS" || { fail "start server a"; finish; }
PA=$PORT A_PID=$SRV_PID A_LOG=$SRV_LOG
# b runs every handshake step on its offload workers: tickets are sealed and opened there
# while SIGHUP swaps the keys on the main thread (this test is in TSAN_TESTS).
serve_handoff b --cert "$CRT" --key "$KEY" --ticket-keys "$KEYS" --quic-keys "$KEYS" --offload always || { fail "start server b"; finish; }
PB=$PORT B_PID=$SRV_PID B_LOG=$SRV_LOG
serve_handoff c --cert "$CRT" --key "$KEY" || { fail "start server c"; finish; }
PC=$PORT
wait_log "$A_LOG" "ticket keys loaded from" 10 && wait_log "$B_LOG" "ticket keys loaded from" 10
check "servers log the key file and the sealing key id" "$A_LOG" "1 key, sealing with key id" \
    "QUIC token and stateless reset keys from $KEYS"
check_not "a key file of mode 600 gets no warning" "$A_LOG" "warning:"
ID1=$(logged_id "$A_LOG" loaded 1)
[ -n "$ID1" ] && [ "$ID1" = "$(logged_id "$B_LOG" loaded 1)" ] && pass "both servers seal under key id $ID1" ||
    fail "key ids differ: a '$ID1', b '$(logged_id "$B_LOG" loaded 1)'"

# ---- the same file: each resumes the other's tickets ------------------------------------------
resume a1 "$PA" - "$T/s1"
check "full handshake on a" "$T/a1.out" "New, TLSv1.3" "HTTP/1.1 200"
check_id "a's ticket sealed under the file's key" "$T/s1" "$ID1"
resume b1 "$PB" "$T/s1" "$T/s2"
check "a's ticket resumes on b" "$T/b1.out" "Reused, TLSv1.3" "HTTP/1.1 200"
resume a2 "$PA" "$T/s2" "$T/s3"
check "b's ticket resumes on a" "$T/a2.out" "Reused, TLSv1.3" "HTTP/1.1 200"
resume c1 "$PC" "$T/s1" "$T/sc"
check "a server with keys of its own does not resume it" "$T/c1.out" "New, TLSv1.3" "HTTP/1.1 200"

# ---- rotation: new key first, old key second, SIGHUP --------------------------------------------
write_keys "# rotated" "$K2" "$K1"
kill -HUP "$(pgrep -P "$A_PID")" "$(pgrep -P "$B_PID")"
if wait_log "$A_LOG" "ticket keys reloaded from" 30 && wait_log "$B_LOG" "ticket keys reloaded from" 30; then
    pass "SIGHUP: both servers reloaded the keys"
else
    fail "SIGHUP: no reload line"
    show "$A_LOG" "$B_LOG"
fi
ID2=$(logged_id "$A_LOG" reloaded 1)
[ -n "$ID2" ] && [ "$ID2" != "$ID1" ] && [ "$ID2" = "$(logged_id "$B_LOG" reloaded 1)" ] &&
    pass "after the rotation both seal under the new key id $ID2" || fail "new key ids: a '$ID2', b '$(logged_id "$B_LOG" reloaded 1)'"
resume b2 "$PB" "$T/s1" "$T/s4"
check "an old ticket (a, before the rotation) resumes on b after it" "$T/b2.out" "Reused, TLSv1.3"
check_id "the new ticket is sealed under the new key" "$T/s4" "$ID2"
resume a3 "$PA" "$T/s4" "$T/s5"
check "the new ticket resumes on a" "$T/a3.out" "Reused, TLSv1.3"
resume a4 "$PA" "$T/s2" "$T/s6"
check "an old ticket (b, before the rotation) resumes on a after it" "$T/a4.out" "Reused, TLSv1.3"

# ---- a bad file at SIGHUP keeps the keys in use ---------------------------------------------
write_keys "$K2" "not a key"
kill -HUP "$(pgrep -P "$A_PID")"
if wait_log "$A_LOG" "ticket keys NOT reloaded" 30; then
    check "SIGHUP with a bad file: the error is logged" "$A_LOG" "line 2: a key is 64 hex digits"
else
    fail "SIGHUP with a bad file: no refusal line"
    show "$A_LOG"
fi
resume a5 "$PA" "$T/s4" "$T/s7"
check "after the refused reload, tickets still resume" "$T/a5.out" "Reused, TLSv1.3"
check_id "and are still sealed under the key in use" "$T/s7" "$ID2"
kill -0 "$A_PID" 2>/dev/null && pass "server a still runs" || fail "server a exited"

# ---- a bad file at start: exit status 2 -----------------------------------------------------
start_refused() {
    local name=$1 file=$2 want=$3 rc
    free_port
    timeout 30 "$HO_BIN" serve --bind 127.0.0.1 --port "$PORT" --tls-port 0 --http-port 0 --cert "$CRT" \
        --key "$KEY" --ticket-keys "$file" >"$T/$name.log" 2>&1 </dev/null
    rc=$?
    if [ "$rc" = 2 ] && has "$T/$name.log" "$want"; then pass "$name: exit 2, '$want'"; else
        fail "$name: exit $rc"
        show "$T/$name.log"
    fi
}
printf '# nothing\n' >"$T/empty.keys"
start_refused "start with no key" "$T/empty.keys" "no key"
start_refused "start with a missing file" "$T/missing.keys" "No such file"
printf '%s\n%s\n' "$K1" "$K1" >"$T/dup.keys"
chmod 644 "$T/dup.keys"
start_refused "start with a key twice" "$T/dup.keys" "the same key as an earlier line"
check "a key file others can read gets a warning" "$T/start with a key twice.log" "chmod 600 it"

# ---- behind HAProxy (TCP mode, round-robin) ---------------------------------------------------
write_keys "$K2" "$K1"
kill -HUP "$(pgrep -P "$A_PID")"
wait_count "$A_LOG" "ticket keys reloaded from" 2 30 || fail "a did not reload the repaired file"
free_port
LB=$PORT
cat >"$T/haproxy.cfg" <<EOF
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fleet
    bind 127.0.0.1:$LB
    default_backend servers
backend servers
    balance roundrobin
    server a 127.0.0.1:$PA
    server b 127.0.0.1:$PB
EOF
start_bg "$LB" "$T/haproxy.log" haproxy -f "$T/haproxy.cfg" -db || { fail "start haproxy"; finish; }
HA_PID=$BG_PID
a_before=$(grep -c 'resumed=1' "$A_LOG")
b_before=$(grep -c 'resumed=1' "$B_LOG")
resume lb0 "$LB" - "$T/lb0"
check "through haproxy: a full handshake" "$T/lb0.out" "New, TLSv1.3" "HTTP/1.1 200"
reused=0
for i in $(seq 1 20); do
    # Each resumption offers the ticket the previous one got: consecutive ones land on
    # different servers (round-robin), so every ticket is opened by the other server.
    resume "lb$i" "$LB" "$T/lb$((i - 1))" "$T/lb$i"
    if has "$T/lb$i.out" "Reused, TLSv1.3" && has "$T/lb$i.out" "HTTP/1.1 200"; then
        reused=$((reused + 1))
    else
        show "$T/lb$i.out"
    fi
done
[ "$reused" = 20 ] && pass "through haproxy: 20 of 20 resumptions resumed" ||
    fail "through haproxy: $reused of 20 resumptions resumed"
# Both servers took connections: their handshake counters (SIGUSR1) and resumption log lines.
kill -USR1 "$(pgrep -P "$A_PID")" "$(pgrep -P "$B_PID")"
wait_log "$A_LOG" "handoff: counters" 30 && wait_log "$B_LOG" "handoff: counters" 30 || fail "no counters"
wait_count "$A_LOG" "resumed=1" $((a_before + 10)) 30
wait_count "$B_LOG" "resumed=1" $((b_before + 10)) 30
a_res=$(($(grep -c 'resumed=1' "$A_LOG") - a_before))
b_res=$(($(grep -c 'resumed=1' "$B_LOG") - b_before))
a_hs=$(sed -n 's/.*handoff: counters.*"handshakes_done":\([0-9]*\).*/\1/p' "$A_LOG" | tail -n 1)
b_hs=$(sed -n 's/.*handoff: counters.*"handshakes_done":\([0-9]*\).*/\1/p' "$B_LOG" | tail -n 1)
say "    resumed through haproxy: a $a_res, b $b_res; handshakes in all: a ${a_hs:-?}, b ${b_hs:-?}"
[ "$a_res" -ge 10 ] && [ "$b_res" -ge 10 ] && [ "$((a_res + b_res))" = 20 ] &&
    pass "both servers resumed their share (a $a_res, b $b_res)" ||
    { fail "resumptions per server: a $a_res, b $b_res"; show "$T/haproxy.log"; }
[ "${a_hs:-0}" -ge 10 ] && [ "${b_hs:-0}" -ge 10 ] && pass "both servers' handshake counters count them" ||
    fail "handshake counters: a '${a_hs:-}', b '${b_hs:-}'"
b_off=$(sed -n 's/.*handoff: counters.*"worker_steps":\([0-9]*\).*/\1/p' "$B_LOG" | tail -n 1)
[ "${b_off:-0}" -ge 20 ] && pass "b's handshake steps ran on workers ($b_off steps)" ||
    fail "b's worker steps: '${b_off:-}'"
stop_bg "$HA_PID"

finish
