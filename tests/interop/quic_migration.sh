#!/usr/bin/env bash
# Connection migration against ngtcp2's gtlsclient (RFC 9000 §8.2, §9): `handoff serve` follows
# the client to a new address and validates it with PATH_CHALLENGE.
#  - active migration mid-transfer: gtlsclient --change-local-addr moves to a new local port
#    30 ms after the handshake, while a 40 MB body is downloading (about 200 ms on loopback);
#  - NAT rebinding: --change-local-addr --nat-rebinding (the client changes port without probing;
#    --delay-stream makes its request the first packet from the new port, since a downloading
#    client that ignores the old path has nothing else to send);
# both bodies byte-identical; the server's log shows the path migrated and validated, its
# counters (the h3 line at exit) count them, and gtlsclient's log shows our PATH_CHALLENGE.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools openssl cmp
if ! command -v gtlsclient >/dev/null 2>&1; then
    fail "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert
mkdir -p "$T/static"
head -c 40000000 /dev/urandom >"$T/static/big.bin"

# fetch NAME ARGS...: gtlsclient downloads /static/big.bin into $T/NAME/ (log: $T/NAME.log).
fetch() {
    local name=$1
    shift
    mkdir -p "$T/$name"
    timeout 60 gtlsclient --no-quic-dump --no-http-dump --exit-on-all-streams-close --download="$T/$name" \
        "$@" 127.0.0.1 "$HTTPS_PORT" "https://127.0.0.1:$HTTPS_PORT/static/big.bin" >"$T/$name.log" 2>&1
}

export HANDOFF_LOG=info
for mode in active nat; do
    tag=migration-$mode
    serve3 "$tag" --cert "$T/ec.crt" --key "$T/ec.key" --static "$T/static" ||
        { fail "$tag: server did not start"; continue; }
    if [ "$mode" = active ]; then
        fetch "$tag" --change-local-addr=30ms
        rc=$?
    else
        fetch "$tag" --change-local-addr=50ms --nat-rebinding --delay-stream=300ms
        rc=$?
    fi
    if [ "$rc" = 0 ]; then pass "$tag: gtlsclient exit 0"; else fail "$tag: gtlsclient exit $rc"; fi
    verdict "$tag: 40 MB body byte-identical" "$tag: body differs or is missing" \
        cmp -s "$T/$tag/big.bin" "$T/static/big.bin"
    check "$tag: gtlsclient changed its local address" "$T/$tag.log" "Changing local address"
    check "$tag: gtlsclient received our PATH_CHALLENGE" "$T/$tag.log" "1RTT PATH_CHALLENGE"
    check "$tag: server followed the client" "$SRV_LOG" "quic path migrated"
    check "$tag: server validated the new path" "$SRV_LOG" "quic path validated"
    if [ "$mode" = active ]; then
        # The client's PATH_CHALLENGE from the new port, answered by us.
        check "$tag: gtlsclient got our PATH_RESPONSE" "$T/$tag.log" "1RTT PATH_RESPONSE"
        # Mid-transfer: body data (stream 0 at an offset) arrived before and after the change.
        verdict "$tag: the change happened mid-transfer" "$tag: no body data on both sides of the change" \
            awk '/frm rx .* STREAM\(0x0[ef]\) id=0x0 / { if (changed) after = 1; else before = 1 }
                 /Changing local address/ { changed = 1 }
                 END { exit !(before && after && changed) }' "$T/$tag.log"
    fi
    end_server "$tag"
    line=$(grep 'handoff: counters' "$SRV_LOG" | tail -n 1 | sed 's/^.*counters //')
    printf '%s\n' "$line" >"$T/$tag.json"
    expect_counter "$T/$tag.json" h3_migrations -ge 1
    expect_counter "$T/$tag.json" h3_paths_validated -ge 1
done
unset HANDOFF_LOG
finish
