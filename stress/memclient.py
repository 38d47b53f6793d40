#!/usr/bin/env python3
"""Hostile and idle clients for the memory stress tests (stress/memory.sh,
tests/interop/memory_bound.sh). Prints "ready N" once its connections are in
the state asked for, then holds them until it is killed (10 minutes at most).

  memclient.py slow HOST PORT N PATH [--plain]   N connections, one GET each, read nothing
  memclient.py pipeline HOST PORT N PATH [--plain] one connection, N pipelined GETs, read nothing
  memclient.py idle HOST PORT N [--plain]         N connections, handshake done, no request
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
    else:
        sys.exit("unknown mode " + mode)
    print("ready %d" % len(conns), flush=True)
    time.sleep(600)  # held until killed (at most 10 minutes)


if __name__ == "__main__":
    main()
