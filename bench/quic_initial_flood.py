#!/usr/bin/env python3
"""Sends QUIC Initials at a server for bench/quic_initial_flood.sh and
tests/interop/quic_initial_flood.sh.

  quic_initial_flood.py forged HOST PORT N       N forged 1200-byte Initials
  quic_initial_flood.py replay HOST PORT N FILE  N copies of the datagram in FILE
  quic_initial_flood.py capture PORT FILE      write the first datagram sent to
                                               127.0.0.1:PORT into FILE

Forged Initials are well-formed long headers of version 1 (type Initial, an 8-byte
random DCID and SCID, no token, a Length covering the rest) whose protected part is
random: no key derived from their DCID opens them. 4096 distinct ones are cycled.
Sending is paced in bursts (FLOOD_BURST datagrams, default 256) with a 1 ms pause so
that the server's socket buffer overflows less (the bench divides by the datagrams the
server received; the ctest case sends smaller bursts).
"""
import os
import socket
import sys
import time


def forged():
    p = bytearray(os.urandom(1200))
    p[0] = 0xC0 | (p[0] & 0x0F)
    p[1:5] = b"\x00\x00\x00\x01"
    p[5] = 8
    p[14] = 8
    p[23] = 0
    rest = 1200 - 26
    p[24] = 0x40 | (rest >> 8)
    p[25] = rest & 0xFF
    return bytes(p)


def send(host, port, pkts, n):
    burst = int(os.environ.get("FLOOD_BURST", "256"))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    dst = (host, port)
    for i in range(n):
        try:
            s.sendto(pkts[i % len(pkts)], dst)
        except OSError:
            pass
        if i % burst == burst - 1:
            time.sleep(0.001)


def main():
    mode = sys.argv[1]
    if mode == "capture":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", int(sys.argv[2])))
        s.settimeout(15)
        d, _ = s.recvfrom(65536)
        with open(sys.argv[3], "wb") as f:
            f.write(d)
        return
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if mode == "forged":
        pkts = [forged() for _ in range(4096)]
    elif mode == "replay":
        with open(sys.argv[5], "rb") as f:
            pkts = [f.read()]
    else:
        sys.exit("usage: quic_initial_flood.py forged|replay|capture ...")
    send(host, port, pkts, n)


if __name__ == "__main__":
    main()
