#!/usr/bin/env bash
# Forged QUIC Initials make no connection (issue 12 item 3): `handoff serve` (one I/O thread)
# gets 2,000 well-formed 1200-byte version-1 Initials with random DCIDs and a random protected
# part (bench/quic_initial_flood.py forged); the counters show every datagram it read counted
# as quic_initial_undecryptable and h3_connections still 0; then a real client (`handoff get
# --h3`) is served, and makes exactly one connection.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3
FLOOD=$HO_SRC/bench/quic_initial_flood.py
N=2000

# settled FILE: counters into FILE once h3_datagrams_received stops moving (bounded poll).
settled() {
    local prev=-1 cur _
    for _ in $(seq 100); do
        counters "$1" || return 1
        cur=$(counter "$1" h3_datagrams_received)
        [ "$cur" = "$prev" ] && return 0
        prev=$cur
        sleep 0.1
    done
    return 1
}

serve3 flood --threads 1 || { fail "server did not start"; finish; }
settled "$T/c0.json" || fail "no counters before the flood"
expect_counter "$T/c0.json" h3_connections -eq 0
verdict "sent $N forged Initials" "the sender failed" \
    env FLOOD_BURST=16 timeout 120 python3 "$FLOOD" forged 127.0.0.1 "$HTTPS_PORT" "$N"
settled "$T/c1.json" || fail "the server kept receiving"
got=$(($(counter "$T/c1.json" h3_datagrams_received) - $(counter "$T/c0.json" h3_datagrams_received)))
undec=$(counter "$T/c1.json" quic_initial_undecryptable)
verdict "the server read $got of them (> $((N / 4)))" "the server read only $got of $N" test "$got" -gt $((N / 4))
verdict "every one read was counted undecryptable ($undec)" \
    "quic_initial_undecryptable=$undec for $got datagrams read" test "$undec" = "$got"
expect_counter "$T/c1.json" h3_connections -eq 0
expect_counter "$T/c1.json" h3_connections_closed -eq 0
expect_counter "$T/c1.json" h3_handshakes_in_progress -eq 0

# A real client after the flood.
timeout 30 "$HO_BIN" get "https://127.0.0.1:$HTTPS_PORT/baseline2?a=1&b=2" --h3 --insecure \
    >"$T/get.body" 2>"$T/get.err"
rc=$?
if [ "$rc" = 0 ] && [ "$(cat "$T/get.body")" = 3 ]; then
    pass "get --h3 after the flood: 200, body 3"
else
    fail "get --h3 after the flood: exit $rc, body '$(head -c 100 "$T/get.body")'"
    show "$T/get.err"
fi
counters "$T/c2.json" || fail "no counters after the client"
expect_counter "$T/c2.json" h3_connections -eq 1
expect_counter "$T/c2.json" h3_handshakes -ge 1
expect_counter "$T/c2.json" quic_initial_undecryptable -eq "$undec"
end_server flood
finish
