#!/usr/bin/env bash
# `handoff get --h3` (HTTP/3 over our QUIC client) against ngtcp2's gtlsserver (Debian
# ngtcp2-server): generated bodies of 5000 and 300000 bytes arrive whole, the certificate is
# verified against --cafile (an untrusted one fails), and -i shows the HTTP/3 status.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

GTLSSERVER=/usr/sbin/gtlsserver
[ -x "$GTLSSERVER" ] || GTLSSERVER=$(command -v gtlsserver || true)
if [ -z "$GTLSSERVER" ] || [ ! -x "$GTLSSERVER" ]; then
    fail "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)"
    finish
fi
gen_ec_cert
gen_cert other other.example "DNS:other.example"
mkdir -p "$T/htdocs"
free_port
# gtlsserver listens on UDP: start it and wait for its socket (start_bg waits for TCP).
timeout -k 5 60 "$GTLSSERVER" 127.0.0.1 "$PORT" "$T/ec.key" "$T/ec.crt" -d "$T/htdocs" -q \
    >"$T/gtls.log" 2>&1 </dev/null &
GTLS_PID=$!
BG_PIDS+=("$GTLS_PID")
if ! wait_udp "$PORT" "$GTLS_PID"; then
    fail "gtlsserver did not bind UDP port $PORT"
    show "$T/gtls.log"
    finish
fi

for size in 5000 300000; do
    timeout 60 "$HO_BIN" get --h3 --cafile "$T/ec.crt" "https://127.0.0.1:$PORT/$size" >"$T/$size.body" 2>"$T/$size.err"
    rc=$?
    got=$(wc -c <"$T/$size.body")
    if [ "$rc" -eq 0 ] && [ "$got" -eq "$size" ]; then
        pass "get --h3 /$size: $got bytes, exit 0"
    else
        fail "get --h3 /$size: exit $rc, $got bytes (want $size)"
        show "$T/$size.err" "$T/gtls.log"
    fi
done
timeout 60 "$HO_BIN" get --h3 -i --cafile "$T/ec.crt" "https://127.0.0.1:$PORT/10" >"$T/head.out" 2>"$T/head.err"
check "get --h3 -i: status line" "$T/head.out" "HTTP/3 200"
timeout 60 "$HO_BIN" get --h3 --cafile "$T/other.crt" "https://127.0.0.1:$PORT/10" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
if [ "$rc" -eq 1 ] && has "$T/bad.err" unknown_ca; then
    pass "get --h3 with an untrusted certificate fails (exit 1, unknown_ca)"
else
    fail "get --h3 with an untrusted certificate: exit $rc (want 1)"
    show "$T/bad.err"
fi
stop_bg "$GTLS_PID"
finish
