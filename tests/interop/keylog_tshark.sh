#!/usr/bin/env bash
# SSLKEYLOGFILE: tshark decrypts a loopback capture of a handoff connection with the key log
# written by our server (client: handoff get) and, separately, by our client (server:
# openssl s_server -www).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools tshark openssl
gen_ec_cert
cert_files ec

# A capture is known to be live, and known to hold everything sent so far, only once tshark
# has read back a packet sent after it: "Capturing on" can precede the first captured packet,
# and dumpcap flushes its file only every half second. So the filter also takes UDP datagrams
# to the same port (nobody listens there): 5-byte ones mark the start, 4-byte ones the end,
# and tshark, reading its own file back (-P), prints each packet's UDP length.

# marker TEXT UDPLEN: send TEXT to udp/$PORT every 0.1 s until tshark has seen one (5 s max).
marker() {
    local i
    for i in $(seq 50); do
        { printf '%s' "$1" >"/dev/udp/127.0.0.1/$PORT"; } 2>/dev/null
        sleep 0.1
        grep -q "^[0-9]*[[:space:]]$2\$" "$CAP.txt" && return 0
        kill -0 "$CAP_PID" 2>/dev/null || return 1
    done
    return 1
}

# capture_start NAME: capture port $PORT on lo into $T/NAME.pcapng, and wait until it is
# live. Sets CAP, CAP_PID.
capture_start() {
    local i
    CAP=$T/$1.pcapng
    # --foreground: timeout then signals tshark alone, not its process group; a SIGINT that
    # also reached dumpcap directly could end the capture before the last packets are written.
    timeout --foreground 60 tshark -i lo -f "port $PORT" -w "$CAP" -P -l -T fields -e frame.number \
        -e udp.length >"$CAP.txt" 2>"$CAP.log" </dev/null &
    CAP_PID=$!
    BG_PIDS+=("$CAP_PID")
    for i in $(seq 100); do
        has "$CAP.log" "Capturing on" && break
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
    done
    if has "$CAP.log" "Capturing on" && marker start 13; then
        return 0
    fi
    say "    tshark did not start capturing on lo"
    show "$CAP.log" "$CAP.txt"
    stop_bg "$CAP_PID"
    return 1
}

# capture_stop: wait until tshark has the end marker (so every earlier packet is in the
# file), then stop it (SIGINT: it closes the pcapng file and exits).
capture_stop() {
    local i
    marker stop 12 || say "    tshark never saw the end marker; the capture may be incomplete"
    kill -INT "$CAP_PID" 2>/dev/null
    for i in $(seq 50); do
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_bg "$CAP_PID"
}

# decode NAME KEYLOG: the HTTP request methods and response codes tshark finds in the capture
# ($T/NAME.http); without KEYLOG, without decryption.
decode() {
    local name=$1 keylog=${2:-}
    local opt=()
    [ -n "$keylog" ] && opt=(-o "tls.keylog_file:$keylog")
    # http.desegment_body off: s_server -www answers HTTP/1.0 without Content-Length, a body
    # that tshark would otherwise wait for until the end of the stream and never show.
    timeout 30 tshark -r "$CAP" "${opt[@]}" -o http.desegment_body:FALSE -Y http -T fields -e http.request.method -e http.response.code \
        >"$T/$name.http" 2>"$T/$name.tshark.err"
}

# check_keylog NAME FILE: FILE has the five TLS 1.3 labels of the NSS key log format.
check_keylog() {
    check "$1: key log has the TLS 1.3 secrets" "$2" CLIENT_HANDSHAKE_TRAFFIC_SECRET \
        SERVER_HANDSHAKE_TRAFFIC_SECRET CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0 EXPORTER_SECRET
}

# check_decoded NAME: tshark found the GET and the 200 response.
check_decoded() {
    local f=$T/$1.http
    if grep -q '^GET' "$f" && grep -q '200' "$f"; then
        pass "$1: tshark decrypted GET and 200"
    else
        fail "$1: tshark did not decrypt the HTTP exchange"
        show "$f" "$T/$1.tshark.err" "$CAP.log"
    fi
}

# check_opaque NAME: without keys tshark sees no HTTP (the capture really is encrypted).
check_opaque() {
    if [ -s "$T/$1.http" ]; then
        fail "$1: HTTP visible without the key log"
        show "$T/$1.http"
    else
        pass "$1: no HTTP visible without the key log"
    fi
}

# ---- our server writes the key log -----------------------------------------------------------
SKEYS=$T/server-keys.log
free_port
SRV_LOG=$T/keylog-server.srv.log
if start_bg "$PORT" "$SRV_LOG" env SSLKEYLOGFILE="$SKEYS" "$HO_BIN" serve --bind 127.0.0.1 \
    --port "$PORT" --cert "$CRT" --key "$KEY"; then
    SRV_PID=$BG_PID
    if capture_start server; then
        timeout 60 env -u SSLKEYLOGFILE "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" \
            >"$T/server.get.out" 2>"$T/server.get.err" </dev/null
        capture_stop
        check "server keys: get worked" "$T/server.get.out" "handoff"
        check_keylog "server keys" "$SKEYS"
        decode server "$SKEYS"
        check_decoded server
        decode server-nokeys
        check_opaque server-nokeys
    else
        fail "server keys: tshark capture on lo"
    fi
    stop_bg "$SRV_PID"
else
    fail "server keys: start handoff serve with SSLKEYLOGFILE"
fi

# ---- our client writes the key log (OpenSSL 3.0's s_server ignores SSLKEYLOGFILE) ----------
CKEYS=$T/client-keys.log
free_port
SRV_LOG=$T/keylog-client.srv.log
if start_bg "$PORT" "$SRV_LOG" env -u SSLKEYLOGFILE openssl s_server -accept "127.0.0.1:$PORT" \
    -cert "$CRT" -key "$KEY" -tls1_3 -www; then
    SRV_PID=$BG_PID
    if capture_start client; then
        timeout 60 env SSLKEYLOGFILE="$CKEYS" "$HO_BIN" get "https://localhost:$PORT/" --cafile "$CRT" \
            >"$T/client.get.out" 2>"$T/client.get.err" </dev/null
        capture_stop
        check "client keys: get worked" "$T/client.get.out" "New, TLSv1.3"
        check_keylog "client keys" "$CKEYS"
        decode client "$CKEYS"
        check_decoded client
        decode client-nokeys
        check_opaque client-nokeys
    else
        fail "client keys: tshark capture on lo"
    fi
    stop_bg "$SRV_PID"
else
    fail "client keys: start openssl s_server"
fi

finish
