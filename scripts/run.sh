#!/usr/bin/env bash
# `make run`: starts the handoff server in the foreground on its defaults
# (HTTPS 8443, HTTPS json-tls 8081, plaintext HTTP 8080).
# Usage: bash scripts/run.sh BUILD_DIR [extra `handoff serve` args]
set -euo pipefail
BUILD=${1:-build}
shift || true
BIN="$BUILD/handoff"
if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN not found; build first (make build)" >&2
  exit 1
fi
CERT="${TMPDIR:-/tmp}/handoff-selfsigned-8443.pem"
cat >&2 <<MSG
Starting handoff serve (Ctrl-C stops it gracefully; kill -USR1 prints counters).
Without a certificate (--cert/--key, TLS_CERT/TLS_KEY, /certs/server.{crt,key}) it uses a fresh
self-signed one for localhost, written to $CERT. Reach it with:
  curl -k https://localhost:8443/
  curl -k --http1.1 'https://localhost:8081/json/5?m=2'
  curl 'http://localhost:8080/baseline2?a=1&b=2'
  $BIN get --cafile $CERT -v https://localhost:8443/
  openssl s_client -connect 127.0.0.1:8443 -tls1_3 -CAfile $CERT
See '$BIN serve --help' for every flag.
MSG
exec "$BIN" serve "$@"
