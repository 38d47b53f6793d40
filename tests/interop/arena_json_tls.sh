#!/usr/bin/env bash
# The HttpArena json-tls validation (tests/data/README.md), reproduced with curl, openssl and
# python3 against `handoff serve`: RSA certificate from $TLS_CERT/$TLS_KEY, the suite's dataset
# and static files; HTTP/1.1 with and without ALPN; /json, /baseline2, /static on all ports.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/e2e.bash"

need_tools curl openssl python3 pgrep cmp
need_arena

# ---- helpers -------------------------------------------------------------------------------

# fetch NAME URL [CURL ARGS...]: GET with curl; body $T/NAME.body, headers $T/NAME.hdr,
# "<http_version> <status>" in $T/NAME.info.
fetch() {
    local name=$1 url=$2
    shift 2
    timeout 60 curl -sk --max-time 50 -o "$T/$name.body" -D "$T/$name.hdr" \
        -w '%{http_version} %{http_code}\n' "$@" "$url" >"$T/$name.info" 2>"$T/$name.err"
}

# header_has NAME FILE HEADER VALUE: FILE (a response head) has a HEADER (any case) whose value
# contains VALUE.
header_has() {
    if awk -v h="$3" -v v="$4" '{ sub(/\r$/, ""); i = index($0, ":") }
        i > 0 && tolower(substr($0, 1, i - 1)) == tolower(h) && index(substr($0, i + 1), v) { found = 1 }
        END { exit !found }' "$2" 2>/dev/null; then
        pass "$1"
    else
        fail "$1: no '$3' header containing '$4'"
        show "$2"
    fi
}

# same_bytes NAME FILE EXPECTED: FILE is byte-for-byte EXPECTED.
same_bytes() {
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1: body differs from ${3#"$HO_TESTDATA"/} ($(wc -c <"$2") vs $(wc -c <"$3") bytes)"
    fi
}

# The suite's checks of one /json response, plus: the items are the dataset's first `count`
# items with `total` appended, and every number is an integer.
cat >"$T/check_json.py" <<'EOF'
import json, sys
body, count, m, dataset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    doc = json.load(open(body, "rb"))
except Exception as e:
    sys.exit("body is not JSON: %s" % e)
data = json.load(open(dataset))
errs = []
if doc.get("count") != count:
    errs.append("count is %r, expected %d" % (doc.get("count"), count))
items = doc.get("items")
if not isinstance(items, list) or len(items) != count:
    errs.append("items is not a list of %d" % count)
    items = items if isinstance(items, list) else []
isint = lambda v: isinstance(v, int) and not isinstance(v, bool)
for i, it in enumerate(items):
    missing = [k for k in ("id", "name", "category", "price", "quantity", "total") if k not in it]
    if missing:
        errs.append("item %d lacks %s" % (i, ",".join(missing)))
        continue
    if not (isint(it["price"]) and isint(it["quantity"]) and isint(it["total"])):
        errs.append("item %d: price/quantity/total not integers" % i)
    elif it["total"] != it["price"] * it["quantity"] * m:
        errs.append("item %d: total %d != %d*%d*%d" % (i, it["total"], it["price"], it["quantity"], m))
    if not isinstance(it.get("tags"), list):
        errs.append("item %d: tags is not a list" % i)
    if not isinstance(it.get("active"), bool):
        errs.append("item %d: active is not a bool" % i)
    r = it.get("rating")
    if not (isinstance(r, dict) and "score" in r and "count" in r):
        errs.append("item %d: rating is not an object with score and count" % i)
    if i < len(data) and it != dict(data[i], total=data[i]["price"] * data[i]["quantity"] * m):
        errs.append("item %d differs from dataset item %d (+total)" % (i, i))
for e in errs[:10]:
    print(e)
sys.exit(1 if errs else 0)
EOF

# check_json NAME COUNT M: $T/NAME.body passes check_json.py.
check_json() {
    if timeout 60 python3 "$T/check_json.py" "$T/$1.body" "$2" "$3" "$ARENA/dataset.json" >"$T/$1.json.log" 2>&1; then
        pass "$1: body valid (count, items, total = price*quantity*$3)"
    else
        fail "$1: body invalid"
        show "$T/$1.json.log"
        head -c 300 "$T/$1.body" | sed 's/^/    | /'
        echo
    fi
}

# fetch_ok NAME URL CURL_ARGS...: fetch, and expect HTTP/1.1 200.
fetch_ok() {
    local name=$1
    fetch "$@"
    check "$name: HTTP/1.1 200" "$T/$name.info" "1.1 200"
}

# fingerprint: sha256 fingerprint of the certificate in the PEM on stdin.
fingerprint() { timeout 60 openssl x509 -noout -fingerprint -sha256 2>/dev/null; }

# check_cert NAME PORT: the server's leaf certificate is the arena RSA certificate.
check_cert() {
    local want got
    want=$(fingerprint <"$RSA_CRT")
    got=$(echo | timeout 60 openssl s_client -connect "127.0.0.1:$2" -servername localhost -showcerts 2>/dev/null | fingerprint)
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        pass "$1: server certificate is the arena RSA certificate ($want)"
    else
        fail "$1: server certificate fingerprint '$got', expected '$want'"
    fi
}

# s_client_get NAME ARGS...: GET /json/1?m=1 through openssl s_client on the json-tls port.
s_client_get() {
    local name=$1
    shift
    printf 'GET /json/1?m=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        timeout 60 openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername localhost -ign_eof "$@" \
            >"$T/$name.out" 2>"$T/$name.err"
}

# ---- the server: certificate from the environment, the suite's data ------------------------

if ! TLS_CERT=$RSA_CRT TLS_KEY=$RSA_KEY serve3 arena --dataset "$ARENA/dataset.json" --static "$ARENA/static"; then
    fail "start handoff serve"
    finish
fi
TLS=https://127.0.0.1:$TLS_PORT

# ---- certificate, protocol version, ALPN ---------------------------------------------------
check_cert "json-tls port" "$TLS_PORT"
check_cert "HTTPS port" "$HTTPS_PORT"

fetch alpn-curl "$TLS/json/1?m=1"   # curl's default ALPN offer: h2,http/1.1
check "curl offering h2,http/1.1 gets HTTP/1.1" "$T/alpn-curl.info" "1.1 200"
s_client_get alpn-none
check "no ALPN offered: no ALPN in the handshake" "$T/alpn-none.out" "No ALPN negotiated"
check "no ALPN offered: HTTP/1.1 response" "$T/alpn-none.out" "HTTP/1.1 200"
s_client_get alpn-h11 -alpn http/1.1
check "ALPN http/1.1 offered: selected" "$T/alpn-h11.out" "ALPN protocol: http/1.1"
check "ALPN http/1.1 offered: HTTP/1.1 response" "$T/alpn-h11.out" "HTTP/1.1 200"

# ---- /json: the suite's validation pairs ---------------------------------------------------
for pair in 7:2 23:11 50:1; do
    count=${pair%:*} m=${pair#*:}
    n=json-$count-$m
    fetch_ok "$n" "$TLS/json/$count?m=$m" --http1.1
    header_has "$n: Content-Type application/json" "$T/$n.hdr" Content-Type application/json
    check_json "$n" "$count" "$m"
done

# The harness's plaintext probe.
fetch_ok plain-json "http://127.0.0.1:$HTTP_PORT/json/1?m=1" --http1.1
header_has "plain-json: Content-Type application/json" "$T/plain-json.hdr" Content-Type application/json
check_json plain-json 1 1

# ---- /baseline2 on every port --------------------------------------------------------------
for port in https:$HTTPS_PORT json-tls:$TLS_PORT plain:$HTTP_PORT; do
    n=baseline-${port%:*} url=https://127.0.0.1:${port#*:}
    [ "${port%:*}" = plain ] && url=http://127.0.0.1:${port#*:}
    fetch_ok "$n" "$url/baseline2?a=1&b=1" --http1.1
    if [ "$(cat "$T/$n.body" 2>/dev/null)" = 2 ]; then
        pass "$n: body is 2"
    else
        fail "$n: body '$(head -c 100 "$T/$n.body" 2>/dev/null)', expected 2"
    fi
    header_has "$n: Content-Type text/plain" "$T/$n.hdr" Content-Type text/plain
done

# ---- /static -------------------------------------------------------------------------------
S=$ARENA/static
fetch_ok static-br "$TLS/static/reset.css" --http1.1 -H 'Accept-Encoding: br'
same_bytes "static-br: body is reset.css.br" "$T/static-br.body" "$S/reset.css.br"
header_has "static-br: Content-Type text/css" "$T/static-br.hdr" Content-Type text/css
header_has "static-br: Content-Encoding br" "$T/static-br.hdr" Content-Encoding br

fetch_ok static-suite "$TLS/static/reset.css" --http1.1 -H 'Accept-Encoding: br;q=1, gzip;q=0.8'
same_bytes "static-suite (br;q=1, gzip;q=0.8): body is reset.css.br" "$T/static-suite.body" "$S/reset.css.br"

fetch_ok static-gz "$TLS/static/reset.css" --http1.1 -H 'Accept-Encoding: gzip'
same_bytes "static-gz: body is reset.css.gz" "$T/static-gz.body" "$S/reset.css.gz"
header_has "static-gz: Content-Encoding gzip" "$T/static-gz.hdr" Content-Encoding gzip

fetch_ok static-id "$TLS/static/reset.css" --http1.1
same_bytes "static-id (no Accept-Encoding): body is reset.css" "$T/static-id.body" "$S/reset.css"
check_not "static-id: no Content-Encoding" "$T/static-id.hdr" "Content-Encoding" "content-encoding"

for ft in app.js:application/javascript manifest.json:application/json header.html:text/html \
    logo.svg:image/svg+xml hero.webp:image/webp bold.woff2:font/woff2; do
    f=${ft%%:*} type=${ft#*:}
    fetch_ok "static-$f" "$TLS/static/$f" --http1.1
    same_bytes "static-$f: body is the file" "$T/static-$f.body" "$S/$f"
    header_has "static-$f: Content-Type $type" "$T/static-$f.hdr" Content-Type "$type"
done

fetch static-missing "$TLS/static/no-such-file.css" --http1.1
check "static: missing file is 404" "$T/static-missing.info" "1.1 404"

verdict "server still running" "server died" alive
end_server arena
finish
