#!/usr/bin/env bash
# SSLKEYLOGFILE: tshark decrypts a loopback capture of a handoff connection with the key log
# written by our server (client: handoff get) and, separately, by our client (server:
# openssl s_server -www). Then the same over QUIC: `handoff serve` and `handoff get --h3`,
# once with only the server's key log, once with only the client's; tshark decrypts the
# QUIC packets and shows the HTTP/3 HEADERS frames, whose QPACK field sections
# qpack_fields.py decodes (tshark 4.0 does not): the request's :path and the :status 200.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools tshark openssl /usr/bin/python3
if ! /usr/bin/python3 -c 'import hpack' 2>/dev/null; then
    fail "python3-hpack is not installed (scripts/deps.sh --test installs it)"
fi
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

# ---- QUIC: HTTP/3 between our server and our client ---------------------------------------
# --no-gso on both sides: with UDP segmentation offload, lo is captured before segmentation,
# so tshark would see several QUIC packets glued into one datagram and fail to decrypt them.
H3_PATH="/json/25?m=4"

# decode_h3 NAME KEYLOG: the HTTP/3 field lines in the capture, "SRCPORT NAME VALUE"
# ($T/NAME.h3); without KEYLOG, without decryption.
decode_h3() {
    local name=$1 keylog=${2:-}
    local opt=()
    [ -n "$keylog" ] && opt=(-o "tls.keylog_file:$keylog")
    timeout 30 tshark -r "$CAP" "${opt[@]}" -Y http3 -T fields -e udp.srcport -e http3.frame_type \
        -e http3.frame_payload >"$T/$name.h3frames" 2>"$T/$name.tshark.err"
    /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/qpack_fields.py" <"$T/$name.h3frames" >"$T/$name.h3"
}

# check_h3 NAME KEYLOG: tshark decrypted the request (from the client's port) and the response
# (from the server's port $PORT).
check_h3() {
    local f=$T/$1.h3
    if grep -qxF ":path $H3_PATH" <(grep -v "^$PORT " "$f" | cut -d' ' -f2-) &&
        grep -qxF ":method GET" <(grep -v "^$PORT " "$f" | cut -d' ' -f2-) &&
        grep -qxF "$PORT :status 200" "$f"; then
        pass "$1: tshark decrypted the HTTP/3 request (:path $H3_PATH) and its :status 200"
    else
        fail "$1: tshark did not show the HTTP/3 request and response"
        # Per packet: UDP length, long-header types, frame types and tshark's expert notes
        # (a decryption failure names itself there).
        tshark -r "$CAP" -o "tls.keylog_file:$2" -T fields -e frame.number -e udp.srcport \
            -e udp.length -e quic.long.packet_type -e quic.frame_type -e _ws.expert.message \
            >"$T/$1.packets" 2>&1
        show "$f" "$T/$1.h3frames" "$T/$1.tshark.err" "$CAP.log" "$T/$1.packets"
    fi
}

# check_h3_opaque NAME: without keys, no HTTP/3 frame at all.
check_h3_opaque() {
    if [ -s "$T/$1.h3frames" ]; then
        fail "$1: HTTP/3 visible without the key log"
        show "$T/$1.h3frames"
    else
        pass "$1: no HTTP/3 visible without the key log"
    fi
}

# quic_case NAME SERVER_KEYS CLIENT_KEYS: one HTTP/3 GET with the key log written by the
# server only (CLIENT_KEYS empty) or by the client only (SERVER_KEYS empty).
quic_case() {
    local name=$1 skeys=$2 ckeys=$3 keys senv=(env -u SSLKEYLOGFILE) cenv=(env -u SSLKEYLOGFILE)
    keys=${skeys:-$ckeys}
    [ -n "$skeys" ] && senv=(env SSLKEYLOGFILE="$skeys")
    [ -n "$ckeys" ] && cenv=(env SSLKEYLOGFILE="$ckeys")
    free_port
    SRV_LOG=$T/$name.srv.log
    if ! start_bg "$PORT" "$SRV_LOG" "${senv[@]}" "$HO_BIN" serve --bind 127.0.0.1 --port "$PORT" \
        --tls-port 0 --http-port 0 --no-gso --cert "$CRT" --key "$KEY"; then
        fail "$name: start handoff serve"
        return
    fi
    SRV_PID=$BG_PID
    if ! wait_log "$SRV_LOG" "listening h3 (QUIC)"; then
        fail "$name: the QUIC listener did not start"
        show "$SRV_LOG"
    elif capture_start "$name"; then
        timeout 60 "${cenv[@]}" "$HO_BIN" get --h3 --no-gso "https://localhost:$PORT$H3_PATH" --cafile "$CRT" \
            >"$T/$name.get.out" 2>"$T/$name.get.err" </dev/null
        capture_stop
        check "$name: get --h3 worked" "$T/$name.get.out" '"items"'
        check_keylog "$name" "$keys"
        decode_h3 "$name" "$keys"
        check_h3 "$name" "$keys"
        decode_h3 "$name-nokeys"
        check_h3_opaque "$name-nokeys"
    else
        fail "$name: tshark capture on lo"
    fi
    stop_bg "$SRV_PID"
}

quic_case quic-server "$T/quic-server-keys.log" ""
quic_case quic-client "" "$T/quic-client-keys.log"

finish
