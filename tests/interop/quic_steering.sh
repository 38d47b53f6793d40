#!/usr/bin/env bash
# QUIC on two I/O threads (docs/QUIC.md "Threads and steering"): every datagram reaches the
# thread that owns its connection.
#  - steering on (the reuseport BPF program): 200 gtlsclient connections, 10 at a time, all
#    succeed with the right body, both threads serve some, and quic_forwarded is 0: the kernel
#    put every datagram on its owner's socket;
#  - --no-quic-steering: the same 200 all succeed, and quic_forwarded > 0 (datagrams read by
#    the other thread were handed over);
#  - in both: gtlsclient --change-local-addr 30 ms into a 20 MB download (a new client port, so
#    a new 4-tuple) completes byte-exact, the server followed the migration, and with steering
#    on still nothing was forwarded.
# Counters come from the SIGUSR1 JSON line, polled (e2e.bash counters).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools openssl cmp python3
if ! command -v gtlsclient >/dev/null 2>&1; then
    fail "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert
mkdir -p "$T/static"
head -c 20000000 /dev/urandom >"$T/static/big.bin"
N=${HO_STEER_N:-200} # (HO_STEER_N: fewer, e.g. under ThreadSanitizer)

# one DIR I: GET /baseline2?a=1&b=I into DIR; the body must be 1+I.
one() {
    local dir=$1 i=$2
    mkdir -p "$dir/$i"
    timeout 30 gtlsclient -q --exit-on-all-streams-close --download="$dir/$i" 127.0.0.1 "$HTTPS_PORT" \
        "https://127.0.0.1:$HTTPS_PORT/baseline2?a=1&b=$i" >"$dir/$i.log" 2>&1 || return 1
    [ "$(cat "$dir/$i/baseline2?a=1&b=$i" 2>/dev/null)" = "$((1 + i))" ]
}

# many TAG: N connections, 10 at a time; prints how many succeeded.
many() {
    local dir=$T/$1 i ok=0
    mkdir -p "$dir"
    for ((i = 1; i <= N; i++)); do
        (one "$dir" "$i" && : >"$dir/ok.$i") &
        if ((i % 10 == 0)); then wait; fi
    done
    wait
    for ((i = 1; i <= N; i++)); do [ -e "$dir/ok.$i" ] && ok=$((ok + 1)); done
    echo "$ok"
}

# per_thread FILE FIELD: the field of each thread, space-separated.
per_thread() {
    timeout 60 python3 -c 'import json,sys
try: print(" ".join(str(t[sys.argv[2]]) for t in json.load(open(sys.argv[1]))["quic_threads"]))
except Exception: print("?")' "$1" "$2"
}

for mode in steer nosteer; do
    tag=$mode
    args=()
    [ "$mode" = nosteer ] && args=(--no-quic-steering)
    serve3 "$tag" --threads 2 --cert "$T/ec.crt" --key "$T/ec.key" --static "$T/static" "${args[@]}" ||
        { fail "$tag: server did not start"; continue; }
    if [ "$mode" = steer ]; then
        check "$tag: the kernel took the steering program" "$SRV_LOG" "2 threads, steering BPF"
    else
        check "$tag: steering off" "$SRV_LOG" "2 threads, steering off"
    fi
    ok=$(many "$tag")
    if [ "$ok" = "$N" ]; then
        pass "$tag: $N/$N gtlsclient connections succeeded with the right body"
    else
        fail "$tag: only $ok/$N gtlsclient connections succeeded"
        for ((i = 1; i <= N; i++)); do
            [ -e "$T/$tag/ok.$i" ] || { show "$T/$tag/$i.log"; break; }
        done
    fi
    counters "$T/$tag.json"
    expect_counter "$T/$tag.json" h3_handshakes -ge "$N"
    if [ "$mode" = steer ]; then
        expect_counter "$T/$tag.json" quic_forwarded -eq 0
    else
        expect_counter "$T/$tag.json" quic_forwarded -gt 0
    fi
    expect_counter "$T/$tag.json" quic_forward_drops -eq 0
    # Both threads own connections, and what one handed over the other took in.
    read -r c0 c1 <<<"$(per_thread "$T/$tag.json" h3_connections)"
    verdict "$tag: both threads own connections ($c0, $c1)" "$tag: a thread owns none ($c0, $c1)" \
        test "${c0:-0}" -gt 0 -a "${c1:-0}" -gt 0
    read -r f0 f1 <<<"$(per_thread "$T/$tag.json" quic_forwarded)"
    read -r i0 i1 <<<"$(per_thread "$T/$tag.json" quic_forwarded_in)"
    verdict "$tag: hand-overs are taken in by the other thread ($f0->$i1, $f1->$i0)" \
        "$tag: hand-overs out and in differ ($f0->$i1, $f1->$i0)" test "$f0" = "$i1" -a "$f1" = "$i0"

    # Migration mid-download: a new client port, the CID still names the owner.
    mkdir -p "$T/$tag-mig"
    timeout 60 gtlsclient --no-quic-dump --no-http-dump --exit-on-all-streams-close --download="$T/$tag-mig" \
        --change-local-addr=30ms 127.0.0.1 "$HTTPS_PORT" "https://127.0.0.1:$HTTPS_PORT/static/big.bin" \
        >"$T/$tag-mig.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then pass "$tag: migrating gtlsclient exit 0"; else fail "$tag: migrating gtlsclient exit $rc"; fi
    verdict "$tag: 20 MB body byte-exact after the address change" "$tag: body differs or is missing" \
        cmp -s "$T/$tag-mig/big.bin" "$T/static/big.bin"
    check "$tag: gtlsclient changed its local address" "$T/$tag-mig.log" "Changing local address"
    counters "$T/$tag-mig.json"
    expect_counter "$T/$tag-mig.json" h3_migrations -ge 1
    [ "$mode" = steer ] && expect_counter "$T/$tag-mig.json" quic_forwarded -eq 0
    end_server "$tag"
done
finish
