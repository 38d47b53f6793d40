#!/usr/bin/env bash
# Graceful stop answers what was received (issue 12, item 4). 50 keep-alive clients per port
# (TLS and plaintext) each get one response, then send one more request; once all 50 have
# sent it, the server gets SIGTERM. Every client must get its answer (200, with
# Connection: close, RFC 9112 §9.6) and then an orderly close.
#  - held: the last request is queued behind a static file larger than the server's socket
#    send buffer can grow, which the client does not read until the stop has begun: the
#    server's output is pending, so it has not read the request when the signal comes; it
#    must read and answer it once the file is out. Deterministic.
#  - idle: the last request follows a completed response; the server may or may not have
#    read it when the signal comes: it must be answered either way (Connection: close when
#    it was read after the signal).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools python3 pgrep gtlsclient cmp
need_arena

N=50
# The held file: larger than the most a socket's send buffer holds (tcp_wmem's maximum).
STATIC=$T/static
mkdir -p "$STATIC"
cp "$ARENA"/static/* "$STATIC"/
WMAX=$(awk '{print $3}' /proc/sys/net/ipv4/tcp_wmem)
head -c $((WMAX + 2 * 1024 * 1024)) /dev/zero >"$STATIC/big.bin"
BIG=/static/big.bin

# ready_all DIR: up to 60 s for DIR/ready.0 .. DIR/ready.(N-1).
ready_all() {
    local _ n
    for _ in $(seq 600); do
        n=$(find "$1" -name 'ready.*' | wc -l)
        [ "$n" -ge "$N" ] && return 0
        sleep 0.1
    done
    say "    only $n of $N clients ready"
    return 1
}

# stopped_listening PORT...: up to 30 s until no socket listens on any PORT (every I/O thread
# has begun its stop: it closes its listeners first).
stopped_listening() {
    local _ p up
    for _ in $(seq 300); do
        up=0
        for p; do listening "$p" && up=1; done
        [ "$up" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

# round MODE: one server, N clients on the TLS port and N on the plaintext port, SIGTERM.
round() {
    local mode=$1 held=() p1 p2
    [ "$mode" = held ] && held=(--held "$BIG")
    mkdir -p "$T/$mode.tls" "$T/$mode.plain"
    if ! serve3 "$mode" --static "$STATIC" --dataset "$ARENA/dataset.json" --no-h3; then
        fail "$mode: start handoff serve"
        return
    fi
    rawhttp stopclients --port "$HTTPS_PORT" --tls --conns "$N" --dir "$T/$mode.tls" "${held[@]}" \
        >"$T/$mode.tls.out" 2>&1 &
    p1=$!
    rawhttp stopclients --port "$HTTP_PORT" --conns "$N" --dir "$T/$mode.plain" "${held[@]}" \
        >"$T/$mode.plain.out" 2>&1 &
    p2=$!
    if ready_all "$T/$mode.tls" && ready_all "$T/$mode.plain"; then
        pass "$mode: $N TLS and $N plaintext clients sent their last request"
    else
        fail "$mode: clients not ready"
        show "$T/$mode.tls.out" "$T/$mode.plain.out"
    fi
    kill -TERM "$SRV_PID"
    # The held clients read on only once the server has begun its stop.
    if stopped_listening "$HTTPS_PORT" "$HTTP_PORT"; then
        : >"$T/$mode.tls/go"
        : >"$T/$mode.plain/go"
    else
        fail "$mode: the server still listens after SIGTERM"
    fi
    stop_server 30
    wait "$p1" "$p2"
    if [ "$SRV_EXIT" = 0 ]; then
        pass "$mode: server exited 0 after SIGTERM"
    else
        fail "$mode: server exit status after SIGTERM: $SRV_EXIT (expected 0)"
        show "$SRV_LOG"
    fi
    check_not "$mode: no sanitizer report in the server log" "$SRV_LOG" \
        "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" "runtime error:"
    if [ "$mode" = held ]; then
        check "held: TLS: $N answered, last response Connection: close, close_notify" \
            "$T/held.tls.out" "answered=$N conn_close=$N clean_end=$N"
        check "held: plaintext: $N answered, last response Connection: close, FIN" \
            "$T/held.plain.out" "answered=$N conn_close=$N clean_end=$N"
    else
        # A request read before the signal is answered as usual (keep-alive), then the
        # connection closes in order; one read after it says Connection: close.
        check "idle: TLS: $N answered, then close_notify" "$T/idle.tls.out" "answered=$N " "clean_end=$N"
        check "idle: plaintext: $N answered, then FIN" "$T/idle.plain.out" "answered=$N " "clean_end=$N"
        say "    idle: answered after the signal (Connection: close): TLS $(grep -o 'conn_close=[0-9]*' \
            "$T/idle.tls.out"), plaintext $(grep -o 'conn_close=[0-9]*' "$T/idle.plain.out")"
    fi
}

# HTTP/3 (RFC 9114 §5.2): gtlsclient downloads H3N large files on one connection; once the
# bodies are flowing it is frozen (SIGSTOP, so the stop surely comes mid-transfer), the server
# gets SIGTERM, and once the server has begun its stop the client resumes. The server must send
# GOAWAY, finish every stream below it and only then close (H3_NO_ERROR): every file arrives
# complete.
H3N=8
H3SIZE=$((8 * 1024 * 1024))
round_h3() {
    local i urls=() cpid total got
    for i in $(seq "$H3N"); do
        head -c "$H3SIZE" /dev/urandom >"$STATIC/h3-$i.bin"
    done
    if ! serve3 h3 --static "$STATIC" --dataset "$ARENA/dataset.json"; then
        fail "h3: start handoff serve"
        return
    fi
    for i in $(seq "$H3N"); do urls+=("https://127.0.0.1:$HTTPS_PORT/static/h3-$i.bin"); done
    mkdir -p "$T/h3.dl"
    timeout 120 gtlsclient -q --exit-on-all-streams-close --download="$T/h3.dl" 127.0.0.1 "$HTTPS_PORT" \
        "${urls[@]}" >"$T/h3.client.log" 2>&1 &
    cpid=$!
    total=$((H3N * H3SIZE))
    # Bounded poll (up to 30 s) for the first body bytes.
    for _ in $(seq 1500); do
        got=$(cat "$T"/h3.dl/* 2>/dev/null | wc -c)
        [ "$got" -gt 0 ] && break
        sleep 0.02
    done
    kill -STOP "$cpid"
    got=$(cat "$T"/h3.dl/* 2>/dev/null | wc -c)
    if [ "$got" -gt 0 ] && [ "$got" -lt "$total" ]; then
        pass "h3: transfer in progress when the server is stopped ($got of $total bytes)"
    else
        fail "h3: expected a transfer in progress, got $got of $total bytes"
    fi
    kill -TERM "$SRV_PID"
    if ! stopped_listening "$TLS_PORT" "$HTTP_PORT"; then
        fail "h3: the server still listens after SIGTERM"
    fi
    kill -CONT "$cpid"
    stop_server 30
    wait "$cpid"
    i=$?
    if [ "$SRV_EXIT" = 0 ]; then
        pass "h3: server exited 0 after SIGTERM"
    else
        fail "h3: server exit status after SIGTERM: $SRV_EXIT (expected 0)"
        show "$SRV_LOG"
    fi
    got=0
    for f in $(seq "$H3N"); do
        if cmp -s "$STATIC/h3-$f.bin" "$T/h3.dl/h3-$f.bin"; then got=$((got + 1)); fi
    done
    if [ "$got" = "$H3N" ] && [ "$i" = 0 ]; then
        pass "h3: all $H3N responses complete across the stop (gtlsclient exit 0)"
    else
        fail "h3: $got of $H3N files complete, gtlsclient exit $i"
        ls -l "$T/h3.dl" >&2
        show "$T/h3.client.log" "$SRV_LOG"
    fi
    check_not "h3: no sanitizer report in the server log" "$SRV_LOG" \
        "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" "runtime error:"
}

# HTTP/3, our client (`get --h3`, ho_h3_fetch_many): 110 GETs of a 256 KiB file on one
# connection; the server allows 100 streams at a time, so 10 wait for MAX_STREAMS. The client is
# frozen once bodies are arriving (the server has received 100 datagrams from it: long before
# the first 50 streams finish and the limit is raised), the server stopped, the client resumed. GOAWAY names stream
# 400: the 100 requests below it must all complete, and the client must not send the other 10
# (it reports them as not requested).
round_get() {
    local attempt
    head -c 262144 /dev/urandom >"$STATIC/m.bin"
    # An attempt whose transfer finished before the stop landed proves nothing: up to 3.
    for attempt in 1 2 3; do
        get_attempt "$attempt" && return
        say "    get: attempt $attempt: the transfer ended before the stop; again"
    done
    fail "get: the stop never landed mid-transfer in 3 attempts"
}

# get_attempt N: one try; false (nothing judged) when everything finished before the stop.
get_attempt() {
    local i urls=() gpid rc done_n notreq lines n=0
    if ! serve3 "get$1" --static "$STATIC" --dataset "$ARENA/dataset.json"; then
        fail "get: start handoff serve"
        return 0
    fi
    for i in $(seq 110); do urls+=("https://127.0.0.1:$HTTPS_PORT/static/m.bin?$i"); done
    "$HO_BIN" get --h3 --insecure -v "${urls[@]}" >/dev/null 2>"$T/get.err" &
    gpid=$!
    # Bounded poll (up to 3000 rounds) until the bodies are flowing: the server's counters
    # (SIGUSR1; each round waits for the new line) show 100 datagrams received from the client
    # (its ACKs), far from the end of the transfer.
    for _ in $(seq 3000); do
        lines=$(grep -c 'handoff: counters {' "$SRV_LOG")
        kill -USR1 "$SRV_PID"
        for _ in $(seq 500); do
            [ "$(grep -c 'handoff: counters {' "$SRV_LOG")" -gt "$lines" ] && break
            sleep 0.01
        done
        n=$(grep 'handoff: counters {' "$SRV_LOG" | tail -n 1 | grep -o '"h3_datagrams_received":[0-9]*' |
            head -n 1 | cut -d: -f2)
        [ "${n:-0}" -ge 100 ] && break
        kill -0 "$gpid" 2>/dev/null || break
    done
    kill -STOP "$gpid"
    kill -TERM "$SRV_PID"
    stopped_listening "$TLS_PORT" "$HTTP_PORT" || fail "get: the server still listens after SIGTERM"
    kill -CONT "$gpid"
    wait "$gpid"
    rc=$?
    stop_server 30
    [ "$SRV_EXIT" = 0 ] && pass "get: server exited 0 after SIGTERM" ||
        fail "get: server exit status after SIGTERM: $SRV_EXIT (expected 0)"
    done_n=$(grep -c 'HTTP/3 status 200, 262144 body bytes' "$T/get.err")
    notreq=$(grep -c 'not requested: the server is shutting down (GOAWAY)' "$T/get.err")
    if [ "$rc" = 0 ] && [ "$done_n" = 110 ] && grep -q '^goaway: none$' "$T/get.err"; then
        return 1
    fi
    if grep -q '^goaway: 400$' "$T/get.err" && [ "$done_n" = 100 ] && [ "$notreq" = 10 ] && [ "$rc" = 1 ]; then
        pass "get: GOAWAY 400; the 100 requests below it complete, the other 10 not sent (exit 1)"
    else
        fail "get: expected goaway 400, 100 complete and 10 not requested (exit 1); got $done_n complete, $notreq not requested, exit $rc"
        grep -v 'status 200, 262144\|not requested\|status 0, 0 body' "$T/get.err" | head -n 20 >&2
        show "$SRV_LOG"
    fi
    return 0
}

round held
round idle
round_h3
round_get

finish
