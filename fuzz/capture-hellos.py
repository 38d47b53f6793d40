#!/usr/bin/env python3
"""Captures ClientHellos of other TLS clients as fuzz_tls_server seeds.

usage: capture-hellos.py OUTDIR   (e.g. fuzz/corpus/fuzz_tls_server)

Listens on 127.0.0.1, points `openssl s_client` and `gnutls-cli` at it with
a few option sets, reads the handshake records of the first flight, strips
the 5-byte record headers and writes [0x00 split byte][ClientHello] to
OUTDIR/ch-<client>-<variant>. Clients that are not installed are skipped.
"""
import os
import shutil
import socket
import subprocess
import sys

CLIENTS = [
    ("openssl-default", ["openssl", "s_client", "-connect", "{addr}", "-servername", "localhost"]),
    ("openssl-tls13-alpn-p256", ["openssl", "s_client", "-connect", "{addr}", "-servername", "localhost",
                                 "-tls1_3", "-alpn", "h2,http/1.1", "-groups", "P-256:X25519"]),
    ("openssl-chacha-p384", ["openssl", "s_client", "-connect", "{addr}", "-noservername", "-tls1_3",
                             "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256", "-groups", "P-384"]),
    ("gnutls-default", ["gnutls-cli", "--insecure", "--port", "{port}", "127.0.0.1"]),
    ("gnutls-tls13-alpn", ["gnutls-cli", "--insecure", "--port", "{port}", "--alpn", "h2", "--sni-hostname",
                           "localhost", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "127.0.0.1"]),
]


def read_hello(conn):
    """Reads handshake records until one whole handshake message is in."""
    data, msg = b"", b""
    conn.settimeout(5)
    while True:
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
            chunk = conn.recv(65536)
            if not chunk:
                raise EOFError("client closed")
            data += chunk
        n = int.from_bytes(data[3:5], "big")
        if data[0] != 22:
            raise ValueError("not a handshake record: %d" % data[0])
        msg += data[5:5 + n]
        data = data[5 + n:]
        if len(msg) >= 4 and len(msg) >= 4 + int.from_bytes(msg[1:4], "big"):
            return msg[:4 + int.from_bytes(msg[1:4], "big")]


def capture(name, argv, outdir):
    if shutil.which(argv[0]) is None:
        print("capture-hellos: %s not installed, %s skipped" % (argv[0], name))
        return
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    argv = [a.format(addr="127.0.0.1:%d" % port, port=port) for a in argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        srv.settimeout(10)
        conn, _ = srv.accept()
        hello = read_hello(conn)
        conn.close()
    finally:
        srv.close()
        proc.kill()
        proc.wait()
    path = os.path.join(outdir, "ch-" + name)
    with open(path, "wb") as f:
        f.write(b"\x00" + hello)
    print("capture-hellos: %s: %d bytes" % (path, len(hello)))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, argv in CLIENTS:
        capture(name, argv, sys.argv[1])


if __name__ == "__main__":
    main()
