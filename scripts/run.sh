#!/usr/bin/env bash
# `make run`: starts the handoff HTTPS server in the foreground.
# Usage: bash scripts/run.sh BUILD_DIR   (PORT=8443 by default; extra args go to `handoff serve`)
set -euo pipefail
BUILD=${1:-build}
shift || true
PORT=${PORT:-8443}
BIN="$BUILD/handoff"
if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN not found; build first (make build)" >&2
  exit 1
fi
CERT="${TMPDIR:-/tmp}/handoff-selfsigned-$PORT.pem"
cat >&2 <<MSG
Starting the handoff TLS 1.3 server on port $PORT (Ctrl-C stops it).
It uses a fresh self-signed certificate for localhost, written to $CERT.
Reach it with:
  curl -k https://localhost:$PORT/
  $BIN get --insecure https://localhost:$PORT/
  $BIN get --cafile $CERT -v https://localhost:$PORT/
  openssl s_client -connect 127.0.0.1:$PORT -tls1_3 -CAfile $CERT
MSG
exec "$BIN" serve --port "$PORT" "$@"
