#!/usr/bin/env bash
# kTLS on this host, through the real server: what the kernel offers decides, and the server
# says so. On a kernel without the "tls" ULP (this build machine): `--ktls on` refuses to start
# with a clear error; `--ktls auto` serves every connection over userspace records, counts each
# fallback (ktls_fallback) and logs the reason once; `--ktls off` never tries. Responses are
# byte-identical to the plaintext port's either way. On a kernel with kTLS, auto engages it
# instead (ktls_engaged) — the VM test (ktls_vm.sh) covers that case in depth.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 curl pgrep
N=5

# ---- --ktls on: refused where the kernel lacks kTLS ------------------------------------------
free_port
timeout 60 env HANDOFF_LOG=warn "$HO_BIN" serve --bind 127.0.0.1 --port "$PORT" --tls-port 0 \
    --http-port 0 --ktls on >"$T/on.out" 2>&1 </dev/null &
on_pid=$!
# It either listens (the kernel has kTLS) or exits with its reason: wait for one of the two.
for _ in $(seq 100); do
    listening "$PORT" && break
    kill -0 "$on_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$on_pid" 2>/dev/null; then
    KERNEL_KTLS=1 # it started: the kernel has kTLS
    kill "$on_pid"
    wait "$on_pid" 2>/dev/null
    pass "--ktls on: started (this kernel offers kTLS)"
else
    KERNEL_KTLS=0
    wait "$on_pid"
    rc=$?
    if [ "$rc" -ne 0 ] && has "$T/on.out" 'this kernel has no kTLS'; then
        pass "--ktls on: refused to start without kernel kTLS (exit $rc, reason given)"
    else
        fail "--ktls on: expected a non-zero exit naming the missing kTLS, got exit $rc"
        show "$T/on.out"
    fi
fi

# ---- --ktls auto and off: N connections each, bodies against the plaintext port ---------------
for mode in auto off; do
    serve3 "ktls-$mode" --ktls "$mode" --threads 1 --handshake-workers 0 \
        --dataset "$HO_TESTDATA/arena/dataset.json" || { fail "$mode: server did not start"; continue; }
    timeout 60 curl -s "http://127.0.0.1:$HTTP_PORT/json/40?m=8" -o "$T/plain.body"
    same=0
    for i in $(seq $N); do
        timeout 60 curl -sk --http1.1 "https://127.0.0.1:$TLS_PORT/json/40?m=8" -o "$T/$mode.$i.body" &&
            cmp -s "$T/$mode.$i.body" "$T/plain.body" && same=$((same + 1))
    done
    verdict "--ktls $mode: $N connections, bodies identical to the plaintext port" \
        "--ktls $mode: only $same of $N bodies identical to the plaintext port" [ "$same" -eq $N ]
    counters "$T/ktls-$mode.json"
    if [ "$mode" = off ]; then
        expect_counter "$T/ktls-$mode.json" ktls_engaged -eq 0
        expect_counter "$T/ktls-$mode.json" ktls_fallback -eq 0
    elif [ "$KERNEL_KTLS" = 1 ]; then
        expect_counter "$T/ktls-$mode.json" ktls_engaged -ge $N
    else
        expect_counter "$T/ktls-$mode.json" ktls_engaged -eq 0
        expect_counter "$T/ktls-$mode.json" ktls_fallback -ge $N
        check "--ktls auto: startup line says userspace" "$SRV_LOG" "kTLS unavailable (userspace)"
    fi
    end_server "ktls-$mode"
done
finish
