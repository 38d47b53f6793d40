#!/usr/bin/env bash
# Writes the data the tests and `make run`'s examples use, so that the repository needs
# nothing beside it:
#   OUTDIR/arena/dataset.json          the HttpArena dataset (tests/data/, MIT, see its LICENSE)
#   OUTDIR/arena/static/<20 files>     synthetic static files with the suite's names and sizes,
#                                      each text file with .br and .gz siblings
#   OUTDIR/arena/certs/server.{crt,key} a fresh self-signed RSA-2048 certificate, CN=localhost,
#                                      no subjectAltName (the suite's own certificate is of that kind)
#   OUTDIR/mtls/                       client certificates (P-256) for mutual TLS tests:
#     client-ca.{crt,key}              the CA a server trusts (CN=handoff test client CA)
#     client.{crt,key}                 CN=alice,O=handoff tests, issued by client-ca
#     other-ca.{crt,key}, other.{crt,key}  CN=mallory from a CA nobody trusts
#     expired.{crt,key}                CN=old-alice from client-ca, valid only in January 2020
# Usage: scripts/gen-testdata.sh OUTDIR
# Deterministic except for the key pair. Needs python3, gzip, brotli and openssl
# (scripts/deps.sh installs them). Writes into OUTDIR.tmp and renames, so a reader never
# sees half a directory.
set -euo pipefail
out=${1:?usage: gen-testdata.sh OUTDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
for t in python3 gzip brotli openssl; do
  command -v "$t" >/dev/null || { echo "gen-testdata: $t is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
done
tmp=$out.tmp.$$
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/arena/static" "$tmp/arena/certs"
cp "$src/tests/data/dataset.json" "$tmp/arena/dataset.json"

# name size kind: the suite's 20 files. Text kinds get .br/.gz siblings; images and fonts
# do not (as in the suite).
python3 - "$tmp/arena/static" <<'PY'
import os, random, sys
files = [
    ("analytics.js", 12288), ("app.js", 204800), ("bold.woff2", 22528),
    ("components.css", 204800), ("footer.html", 56320), ("header.html", 122880),
    ("helpers.js", 22528), ("hero.webp", 46080), ("icon-sprite.svg", 71680),
    ("layout.css", 25600), ("logo.svg", 15344), ("manifest.json", 2883),
    ("regular.woff2", 18432), ("reset.css", 8192), ("router.js", 35840),
    ("theme.css", 18432), ("thumb1.webp", 8192), ("thumb2.webp", 6144),
    ("utilities.css", 61440), ("vendor.js", 307200),
]
words = ("layout theme route cache token value entity render merge filter debounce channel "
         "config helper widget panel header footer module signal stream").split()

def line(kind, rng, i):
    a, b = rng.choice(words), rng.choice(words)
    if kind == "js":
        return f"export function {a}{i}({b}, n) {{ return {b}.map((x) => x * {i % 97} + n); }}\n"
    if kind == "css":
        return f".{a}-{i} {{ margin: {i % 17}px {i % 5}px; color: #{rng.randrange(1 << 24):06x}; }}\n"
    if kind == "html":
        return f'<div class="{a}-{i}"><a href="/{b}/{i}">{a} {b} {i}</a></div>\n'
    if kind == "svg":
        return f'<path id="{a}{i}" d="M{i % 64} {i % 48}L{rng.randrange(64)} {rng.randrange(48)}Z"/>\n'
    raise ValueError(kind)

def text(kind, size, seed):
    rng = random.Random(seed)
    head, tail = "", ""
    if kind == "svg":
        head, tail = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 48">\n', "</svg>\n"
    elif kind == "html":
        head, tail = "<!doctype html>\n<section>\n", "</section>\n"
    # Whole lines only, padded with spaces to the exact size: the file stays well-formed.
    room = size - len(tail)
    out, i = head, 0
    while True:
        s = line(kind, rng, i)
        if len(out) + len(s) > room:
            break
        out += s
        i += 1
    data = out.encode() + b" " * (room - len(out))
    return data + tail.encode()

def manifest(size):
    import json
    m = {"name": "HttpArena Web Application", "short_name": "HttpArena", "start_url": "/",
         "display": "standalone", "icons": [], "description": ""}
    i = 0
    while len(json.dumps(m)) < size:
        m["icons"].append({"src": f"/static/icon-{i}.png", "sizes": f"{16 * (i % 8 + 1)}x{16 * (i % 8 + 1)}"})
        i += 1
    m["icons"].pop()
    pad = size - len(json.dumps(m))
    m["description"] = "x" * pad
    data = json.dumps(m).encode()
    assert len(data) == size, (len(data), size)
    return data

def binary(magic, size, seed):
    rng = random.Random(seed)
    return magic + bytes(rng.randrange(256) for _ in range(size - len(magic)))

for k, (name, size) in enumerate(files):
    ext = name.rsplit(".", 1)[1]
    if ext == "json":
        data = manifest(size)
    elif ext == "webp":
        data = binary(b"RIFF" + (size - 8).to_bytes(4, "little") + b"WEBPVP8 ", size, k)
    elif ext == "woff2":
        data = binary(b"wOF2\x00\x01\x00\x00", size, k)
    else:
        data = text(ext, size, k)
    assert len(data) == size, (name, len(data), size)
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
PY
for f in "$tmp"/arena/static/*; do
  case $f in
    *.webp | *.woff2) ;;
    *)
      gzip -9 -n -c "$f" >"$f.gz"
      brotli -q 11 -c "$f" >"$f.br"
      ;;
  esac
done

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
  -keyout "$tmp/arena/certs/server.key" -out "$tmp/arena/certs/server.crt" >/dev/null 2>&1 ||
  { echo "gen-testdata: openssl req failed" >&2; exit 1; }

# Client certificates. The expired one needs a validity in the past, which only
# `openssl ca` sets (-startdate/-enddate) on OpenSSL 3.0, so it gets a minimal CA setup.
m=$tmp/mtls
mkdir -p "$m/ca"
touch "$m/ca/index.txt"
cat >"$m/ca/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $m/ca/index.txt
new_certs_dir = $m/ca
serial = $m/ca/serial
default_md = sha256
policy = p
copy_extensions = none
unique_subject = no
x509_extensions = leaf
[p]
commonName = supplied
organizationName = optional
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
CNF
echo 1000 >"$m/ca/serial"
mtls() { "$@" >/dev/null 2>&1 || { echo "gen-testdata: $* failed" >&2; exit 1; }; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
mtls openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=handoff test client CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$m/client-ca.key" -out "$m/client-ca.crt"
mtls openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=other CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$m/other-ca.key" -out "$m/other-ca.crt"
for who in client:alice:client-ca other:mallory:other-ca expired:old-alice:client-ca; do
  IFS=: read -r name cn ca <<<"$who"
  mtls openssl req -new "${ec[@]}" -subj "/O=handoff tests/CN=$cn" -keyout "$m/$name.key" -out "$m/$name.csr"
  if [ "$name" = expired ]; then
    dates=(-startdate 20200101000000Z -enddate 20200131000000Z)
  else
    dates=(-days 3650)
  fi
  mtls openssl ca -batch -config "$m/ca/ca.cnf" -cert "$m/$ca.crt" -keyfile "$m/$ca.key" -notext \
    "${dates[@]}" -in "$m/$name.csr" -out "$m/$name.crt"
  rm -f "$m/$name.csr"
done
rm -rf "$m/ca"

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
