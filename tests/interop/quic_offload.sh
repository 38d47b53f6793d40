#!/usr/bin/env bash
# QUIC handshakes on the offload pool (issue 9): `handoff serve --threads 2 --handshake-workers 2`
# with --offload always, then off. In each, bench/quic_load runs a burst of 500 fresh QUIC
# connections (handshake + one GET) while one connection, established before the burst,
# downloads a 4 MB file again and again:
#  - all 500 handshakes and GETs succeed, and the download receives bytes during the burst
#    (counted by quic_load, not timed);
#  - always: every QUIC handshake step ran on the workers (quic_steps_offloaded >= 1000, two
#    steps a handshake) and none inline; off: none on the workers, all inline;
#  - the server stops cleanly, with no sanitizer report.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3
QL=${HO_BUILD:-$HO_SRC/build}/bench/quic_load
if [ ! -x "$QL" ]; then
    fail "quic_load not built ($QL)"
    finish
fi
gen_ec_cert
mkdir -p "$T/static"
head -c 4000000 /dev/urandom >"$T/static/big"
N=500

for mode in always off; do
    if ! serve3 "$mode" --cert "$T/ec.crt" --key "$T/ec.key" --static "$T/static" --threads 2 \
        --handshake-workers 2 --offload "$mode"; then
        fail "$mode: handoff serve did not start"
        continue
    fi
    o=$T/$mode.out
    timeout 300 "$QL" -c 16 -n "$N" --timeout 60000 --download /static/big --cafile "$T/ec.crt" \
        "127.0.0.1:$HTTPS_PORT" >"$o" 2>&1
    ql_exited "$mode" $? "$o"
    ql_report "$mode: $N of $N handshakes and GETs during the download" "$o" \
        "r['ok'] == $N and r['handshakes'] == $N and r['errors'] == 0"
    ql_report "$mode: the established download kept receiving bytes during the burst" "$o" \
        'r["download"]["bytes_during_storm"] > 0 and r["download"]["errors"] == 0'
    if counters "$T/$mode.json"; then
        expect_counter "$T/$mode.json" h3_handshakes -ge "$N"
        if [ "$mode" = always ]; then
            expect_counter "$T/$mode.json" quic_steps_offloaded -ge $((2 * N))
            expect_counter "$T/$mode.json" quic_steps_inline -eq 0
        else
            expect_counter "$T/$mode.json" quic_steps_offloaded -eq 0
            expect_counter "$T/$mode.json" quic_steps_inline -ge $((2 * N))
        fi
        expect_counter "$T/$mode.json" quic_step_queue_overflows -eq 0
    else
        fail "$mode: no counters"
    fi
    end_server "$mode"
done
finish
