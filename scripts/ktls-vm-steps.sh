# shellcheck shell=dash
# The test steps run inside the kTLS VM (sourced by the /init that
# scripts/ktls-vm.sh writes; busybox sh, no bash). The kernel there is
# Debian's own, with tls.ko and the AES-GCM / ChaCha20-Poly1305 modules
# loaded, so TCP_ULP "tls" works.
#
# Each step is a function step_<name>; STEPS lists them in order. A step
# records checks with pass/fail/check; /init prints "CHECKS passed=N
# failed=M" and "RESULT=<rc>" after the last step. Programs come from
# /bin (scripts/ktls-vm.sh ships them: VM_BINS there), the certificate
# from /etc/ho.
#
# To add a step: write step_<name>, append <name> to STEPS. Steps for the
# real server (`handoff serve`) go in the marked section at the end.

PASS=0
FAIL=0
SUITES="TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256"
CERT=/etc/ho/cert.pem
KEY=/etc/ho/key.pem
export HANDOFF_LOG=warn

pass() { PASS=$((PASS + 1)); echo "PASS $*"; }
fail() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }
has() { grep -qF -- "$2" "$1" 2>/dev/null; }

# show FILE...: the tail of each file, indented.
show() {
    local f
    for f; do
        [ -e "$f" ] || continue
        echo "    --- $f"
        tail -n 20 "$f" | sed 's/^/    | /'
    done
}

# check NAME FILE STRING...: FILE contains every STRING.
check() {
    local name=$1 file=$2 s
    shift 2
    for s; do
        if ! has "$file" "$s"; then
            fail "$name: expected '$s' in $file"
            show "$file"
            return 1
        fi
    done
    pass "$name"
}

# tls_stat NAME: a counter of /proc/net/tls_stat (TlsTxSw: sockets that
# got a software kTLS TX context, TlsRxSw: RX, TlsDecryptError: records
# the kernel rejected).
tls_stat() { awk -v n="$1" '$1 == n { print $2 }' /proc/net/tls_stat; }

# stat_line LABEL: the counters on one line.
stat_line() {
    echo "tls_stat $1: $(awk '{ printf "%s=%s ", $1, $2 }' /proc/net/tls_stat)"
}

# check_grew NAME BEFORE_TX BEFORE_RX MIN: TlsTxSw and TlsRxSw grew by MIN at least.
check_grew() {
    local tx rx
    tx=$(tls_stat TlsTxSw) rx=$(tls_stat TlsRxSw)
    if [ $((tx - $2)) -ge "$4" ] && [ $((rx - $3)) -ge "$4" ]; then
        pass "$1: TlsTxSw $2 -> $tx, TlsRxSw $3 -> $rx"
    else
        fail "$1: TlsTxSw $2 -> $tx, TlsRxSw $3 -> $rx (expected +$4 each)"
    fi
}

# start_echo PORT LOG ARGS...: start ktls_echo_server in the background and
# wait for it to listen. Sets SRV_PID.
start_echo() {
    local port=$1 log=$2 i=0
    shift 2
    ktls_echo_server --port "$port" --cert "$CERT" --key "$KEY" "$@" >"$log" 2>&1 &
    SRV_PID=$!
    while [ $i -lt 100 ]; do
        has "$log" "listening on port" && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    fail "ktls_echo_server did not start on port $port"
    show "$log"
    return 1
}

# stop PID: wait a little for it to end by itself, then kill it.
stop() {
    local i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# s_client PORT SUITE ARGS...: OpenSSL's client, verifying our certificate.
s_client() {
    local port=$1 suite=$2
    shift 2
    timeout 60 openssl s_client -connect "127.0.0.1:$port" -servername localhost -tls1_3 \
        -ciphersuites "$suite" -CAfile "$CERT" -verify_return_error -verify_hostname localhost "$@"
}

# body_ok NAME FILE: the HTTP response in FILE has exactly Content-Length body bytes.
body_ok() {
    local cl hl total
    cl=$(sed -n 's/^Content-Length: \([0-9]*\).*/\1/p' "$2" | head -n 1)
    hl=$(awk '{ n += length($0) + 1 } /^\r$/ { print n; exit }' "$2")
    total=$(wc -c <"$2")
    if [ -n "$cl" ] && [ -n "$hl" ] && [ $((total - hl)) -eq "$cl" ]; then
        pass "$1: $cl body bytes"
    else
        fail "$1: body of $((total - ${hl:-0})) bytes, Content-Length '${cl}'"
        show "$2"
    fi
}

# ---- steps -----------------------------------------------------------------

step_modules() {
    if [ -r /proc/net/tls_stat ]; then
        pass "tls module loaded (/proc/net/tls_stat exists)"
    else
        fail "no /proc/net/tls_stat: tls.ko did not load"
    fi
    lsmod >/tmp/lsmod.txt
    check "crypto modules loaded" /tmp/lsmod.txt "gcm" "ghash_generic" "ctr" "chacha20poly1305" "poly1305_generic" \
        "chacha_generic"
}

# Our unit test, which asserts kTLS engages for every suite (HO_EXPECT_KTLS=1):
# both ends in the kernel, kernel against our userspace records, KeyUpdate.
step_unit() {
    stat_line "before test_ktls"
    tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
    # Its own log hook prints the warnings: no second copy from HANDOFF_LOG.
    HANDOFF_LOG='' HO_EXPECT_KTLS=1 test_ktls >/tmp/unit.log 2>&1
    rc=$?
    sed 's/^/    | /' /tmp/unit.log
    if [ $rc -eq 0 ] && has /tmp/unit.log " 0 failed"; then
        pass "test_ktls: $(grep 'passed,' /tmp/unit.log)"
    else
        fail "test_ktls exited $rc"
    fi
    check "test_ktls: kTLS both ends, all suites" /tmp/unit.log \
        "TLS_AES_128_GCM_SHA256: kTLS both ends: ok" "TLS_AES_256_GCM_SHA384: kTLS both ends: ok" \
        "TLS_CHACHA20_POLY1305_SHA256: kTLS both ends: ok"
    check "test_ktls: kTLS against userspace records, all suites" /tmp/unit.log \
        "TLS_AES_128_GCM_SHA256: kTLS server with userspace client: ok" \
        "TLS_AES_256_GCM_SHA384: kTLS server with userspace client: ok" \
        "TLS_CHACHA20_POLY1305_SHA256: kTLS server with userspace client: ok"
    stat_line "after test_ktls"
    # Per suite: 3 sockets in both_kernel (2) + kernel_userspace (1), 2 in key_update.
    check_grew "test_ktls: kTLS sockets counted" "$tx0" "$rx0" 15
}

# ktls_echo_server (our handshake, then kTLS) against openssl s_client.
step_interop() {
    port=4430
    d0=$(tls_stat TlsDecryptError)
    for suite in $SUITES; do
        port=$((port + 1))
        o=/tmp/interop-$suite
        start_echo "$port" "$o.srv" --conns 1 || continue
        tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
        printf 'GET /bytes/100000 HTTP/1.0\r\n\r\n' | s_client "$port" "$suite" -brief -ign_eof >"$o.out" 2>"$o.err"
        stop "$SRV_PID"
        sed 's/^/    | /' "$o.srv"
        check "s_client $suite: handshake" "$o.err" "Protocol version: TLSv1.3" "Ciphersuite: $suite" \
            "Verification: OK"
        check "s_client $suite: response" "$o.out" "HTTP/1.0 200 OK" "ktls-echo suite=$suite ktls=on" \
            "request: GET /bytes/100000 HTTP/1.0" "end"
        body_ok "s_client $suite: body" "$o.out"
        check "echo server $suite: kTLS on, request, close_notify both ways" "$o.srv" "ktls on" \
            "request 'GET /bytes/100000 HTTP/1.0'" "close_notify sent: yes" "peer close_notify"
        check_grew "echo server $suite: tls_stat" "$tx0" "$rx0" 1
    done
    d1=$(tls_stat TlsDecryptError)
    if [ "$d0" = "$d1" ]; then pass "no records rejected (TlsDecryptError $d1)"; else fail "TlsDecryptError $d0 -> $d1"; fi
    stat_line "after interop"
}

# A KeyUpdate from s_client after the hand-over. Debian 12's 6.1 kernel
# cannot take a second TLS_RX: the server must say so and close, not go on
# with a stale key. A kernel with TLS 1.3 rekey support serves the request.
step_keyupdate() {
    suite=TLS_AES_128_GCM_SHA256
    port=4440
    o=/tmp/keyupdate
    start_echo "$port" "$o.srv" --conns 1 || return
    # s_client's interactive mode: a line "K" sends KeyUpdate(update_requested).
    { sleep 1; printf 'K\n'; sleep 1; printf 'GET /after-keyupdate HTTP/1.0\r\n\r\n'; sleep 1; } |
        s_client "$port" "$suite" >"$o.out" 2>"$o.err"
    stop "$SRV_PID"
    sed 's/^/    | /' "$o.srv"
    check "key update: s_client sent it" "$o.err" "KEYUPDATE"
    if has "$o.srv" "kTLS: kernel cannot rekey after KeyUpdate; closing"; then
        pass "key update: kernel cannot rekey; server warned and closed"
        check "key update: no request served on stale keys" "$o.srv" "no request: I/O error"
    elif has "$o.srv" "request 'GET /after-keyupdate HTTP/1.0'"; then
        pass "key update: kernel rekeyed; request served after the update"
        check "key update: response" "$o.out" "ktls-echo suite=$suite ktls=on"
    else
        fail "key update: neither a rekey warning nor a served request"
        show "$o.srv" "$o.err"
    fi
}

# ==== handoff serve steps ====================================================
# Run when /bin/handoff is in the image (scripts/ktls-vm.sh:
# HO_KTLS_BINS="handoff-bin:handoff"). Add further server steps here, and
# their names to STEPS below.

# serve_start PORT LOG MODE: `handoff serve` on PORT with --ktls MODE.
serve_start() {
    local port=$1 log=$2 mode=$3 i=0
    handoff serve --tls-port "$port" --http-port 0 --ktls "$mode" --threads 1 --handshake-workers 1 \
        --cert "$CERT" --key "$KEY" >"$log" 2>&1 &
    SRV_PID=$!
    while [ $i -lt 100 ]; do
        netstat -ltn 2>/dev/null | grep -q ":$port " && return 0
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    fail "handoff serve --ktls $mode did not listen on $port"
    show "$log"
    return 1
}

# body FILE OUT: the body of the HTTP response in FILE (after the blank line).
body() { awk 'b { print; next } /^\r?$/ { b = 1 }' "$1" >"$2"; }

# fetch PORT SUITE PATH OUT: one request over `openssl s_client` with SUITE;
# the response in OUT.out, the body in OUT.body.
fetch() {
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$3" |
        s_client "$1" "$2" -brief -ign_eof >"$4.out" 2>"$4.err"
    body "$4.out" "$4.body"
}

# The real server with --ktls on and --ktls off, every suite: the kernel
# takes both directions (tls_stat grows by two sockets per connection, the
# server counts kTLS engaged), and every response body is byte-identical to
# the one the userspace record path sends.
step_serve() {
    if [ ! -x /bin/handoff ]; then
        fail "serve: /bin/handoff is not in the image (HO_KTLS_BINS)"
        return
    fi
    port=4450
    for mode in on off; do
        port=$((port + 1))
        o=/tmp/serve-$mode
        serve_start "$port" "$o.srv" "$mode" || continue
        tx0=$(tls_stat TlsTxSw) rx0=$(tls_stat TlsRxSw)
        n=0
        for suite in $SUITES; do
            for path in '/baseline2?a=1&b=2' '/json/50?m=6' '/json/7?m=2' '/'; do
                n=$((n + 1))
                fetch "$port" "$suite" "$path" "$o.$n"
                check "serve --ktls $mode $suite $path: 200" "$o.$n.out" "HTTP/1.1 200"
            done
        done
        kill -USR1 "$SRV_PID" 2>/dev/null
        sleep 0.3
        kill "$SRV_PID" 2>/dev/null
        wait "$SRV_PID" 2>/dev/null
        tx=$(tls_stat TlsTxSw) rx=$(tls_stat TlsRxSw)
        if [ "$mode" = on ]; then
            check_grew "serve --ktls on: tls_stat" "$tx0" "$rx0" "$n"
            check "serve --ktls on: server counted kTLS engaged" "$o.srv" "\"ktls_engaged\":$n,"
        else
            if [ "$tx" = "$tx0" ] && [ "$rx" = "$rx0" ]; then
                pass "serve --ktls off: no kTLS sockets"
            else
                fail "serve --ktls off: TlsTxSw $tx0 -> $tx, TlsRxSw $rx0 -> $rx"
            fi
            check "serve --ktls off: no kTLS engaged" "$o.srv" "\"ktls_engaged\":0,"
        fi
    done
    i=1
    same=0
    while [ $i -le "$n" ]; do
        if [ -s /tmp/serve-on.$i.body ] && cmp -s /tmp/serve-on.$i.body /tmp/serve-off.$i.body; then
            same=$((same + 1))
        else
            fail "serve: response $i differs between kTLS and userspace records"
            show /tmp/serve-on.$i.out /tmp/serve-off.$i.out
        fi
        i=$((i + 1))
    done
    [ "$same" -eq "$n" ] && pass "serve: all $n responses byte-identical with kTLS and userspace records"
    echo "serve: /json/50?m=6 body $(wc -c </tmp/serve-on.2.body) bytes"
}

# shellcheck disable=SC2034 # read by /init
STEPS="modules unit interop keyupdate serve"
