#!/usr/bin/python3
"""Decode the HTTP/3 HEADERS frames tshark decrypted (keylog_tshark.sh, QUIC part).

tshark 4.0 dissects HTTP/3 frames but not their QPACK field sections, so the
script reads `tshark -T fields -e udp.srcport -e http3.frame_type -e
http3.frame_payload` lines on stdin and prints each HEADERS field line as
"SRCPORT NAME VALUE". Only what a section without dynamic table references
holds (RFC 9204 §4.5.2, §4.5.4, §4.5.6) is decoded; anything else prints as
"?". The static table (RFC 9204 Appendix A) is named for the entries our
encoder uses in a request and a response; others print as "#N". Huffman
strings (RFC 7541 Appendix B) are decoded with Debian's python3-hpack, hence
/usr/bin/python3 (scripts/deps.sh --test installs it)."""
import sys

from hpack.huffman_table import decode_huffman

STATIC = {0: (":authority", ""), 1: (":path", "/"), 17: (":method", "GET"), 20: (":method", "POST"),
          22: (":scheme", "http"), 23: (":scheme", "https"), 24: (":status", "103"),
          25: (":status", "200"), 26: (":status", "304"), 27: (":status", "404"), 28: (":status", "503")}


def prefixed(b, i, bits):
    """RFC 9204 §4.1.1 (RFC 7541 §5.1) integer with a `bits`-bit prefix at b[i]."""
    mask = (1 << bits) - 1
    v = b[i] & mask
    i += 1
    if v < mask:
        return v, i
    m = 0
    while True:
        c = b[i]
        i += 1
        v += (c & 0x7F) << m
        m += 7
        if not c & 0x80:
            return v, i


def string(b, i, bits):
    """A string literal whose H flag is the bit above a `bits`-bit length prefix."""
    huff = b[i] & (1 << bits)
    n, i = prefixed(b, i, bits)
    raw = bytes(b[i:i + n])
    return (decode_huffman(raw) if huff else raw).decode("latin-1"), i + n


def fields(b):
    _, i = prefixed(b, 0, 8)   # required insert count
    _, i = prefixed(b, i, 7)   # delta base
    while i < len(b):
        c = b[i]
        if c & 0x80:                       # indexed field line
            idx, i = prefixed(b, i, 6)
            yield STATIC.get(idx, ("#%d" % idx, "")) if c & 0x40 else ("?", "")
        elif c & 0x40:                     # literal with name reference
            idx, i = prefixed(b, i, 4)
            value, i = string(b, i, 7)
            name = STATIC.get(idx, ("#%d" % idx, ""))[0] if c & 0x10 else "?"
            yield name, value
        elif c & 0x20:                     # literal with literal name
            name, i = string(b, i, 3)
            value, i = string(b, i, 7)
            yield name, value
        else:                              # post-base forms: dynamic table only
            yield "?", ""
            return


for line in sys.stdin:
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 3:
        continue
    port, types, payloads = cols[0], cols[1].split(","), cols[2].split(",")
    for t, p in zip(types, payloads):
        if t.strip() != "1" or not p:
            continue
        try:
            for name, value in fields(bytes.fromhex(p.replace(":", ""))):
                print(port, name, value)
        except (IndexError, ValueError) as e:
            print(port, "?", "undecodable: %s" % e)
