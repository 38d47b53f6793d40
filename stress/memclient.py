#!/usr/bin/env python3
"""Hostile and idle clients for the memory stress tests (stress/memory.sh,
tests/interop/memory_bound.sh). Prints "ready N" once its connections are in
the state asked for, then holds them until it is killed (10 minutes at most).

  memclient.py slow HOST PORT N PATH [--plain]   N connections, one GET each, read nothing
  memclient.py pipeline HOST PORT N PATH [--plain] one connection, N pipelined GETs, read nothing
  memclient.py idle HOST PORT N [--plain]         N connections, handshake done, no request
  memclient.py fetch HOST PORT N PATH=FILE... [--plain] [--half-close]
      one connection, N rounds of pipelined GETs of every PATH sent at once (then, with
      --half-close, shutdown(SHUT_WR)); reads every response and checks status 200 and that
      the body equals FILE. Prints "fetched N responses" and exits 0, or exits 1.
"""
import socket
import ssl
import sys
import time


def connect(host, port, plain):
    s = socket.create_connection((host, port), timeout=30)
    # A small receive buffer: the server's output stays in its own buffers
    # (and the kernel's send buffer), not in ours.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    if plain:
        return s
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx.wrap_socket(s, server_hostname="localhost")


def request(path, host):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def read_response(f):
    status = f.readline()
    if not status:
        raise EOFError("connection closed before a response")
    code = int(status.split()[1])
    length = None
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = f.read(length) if length else b""
    return code, body


def fetch(host, port, rounds, pairs, plain, half_close):
    want = []
    for pair in pairs:
        path, _, name = pair.partition("=")
        with open(name, "rb") as fh:
            want.append((path, fh.read()))
    s = connect(host, port, plain)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(60)
    s.sendall(b"".join(request(p, host) for _ in range(rounds) for p, _ in want))
    if half_close:
        s.shutdown(socket.SHUT_WR)
    f = s.makefile("rb")
    got = 0
    for r in range(rounds):
        for path, body in want:
            try:
                code, data = read_response(f)
            except (EOFError, OSError, ValueError) as e:
                print("response %d (%s): %s" % (got + 1, path, e))
                return 1
            if code != 200 or data != body:
                print("response %d (%s): status %d, %d bytes, want 200 and %d bytes" % (got + 1, path, code, len(data), len(body)))
                return 1
            got += 1
    print("fetched %d responses" % got)
    return 0


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    plain = "--plain" in sys.argv
    mode, host, port, n = args[0], args[1], int(args[2]), int(args[3])
    path = args[4] if len(args) > 4 else "/"
    conns = []
    if mode == "slow":
        for _ in range(n):
            s = connect(host, port, plain)
            s.sendall(request(path, host))
            conns.append(s)
    elif mode == "pipeline":
        s = connect(host, port, plain)
        s.sendall(request(path, host) * n)
        conns.append(s)
    elif mode == "idle":
        for i in range(n):
            conns.append(connect(host, port, plain))
    elif mode == "fetch":
        sys.exit(fetch(host, port, n, args[4:], plain, "--half-close" in sys.argv))
    else:
        sys.exit("unknown mode " + mode)
    print("ready %d" % len(conns), flush=True)
    time.sleep(600)  # held until killed (at most 10 minutes)


if __name__ == "__main__":
    main()
