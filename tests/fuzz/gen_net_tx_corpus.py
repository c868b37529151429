#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_net_tx (tests/fuzz/corpus/net_tx/).

Input layout: see the comment at the top of fuzz_net_tx.c.  Seeds: plain
frames, partial checksums, TSO4 / TSO6 / USO super-frames (with VLAN and
TCP options), and a few broken headers.
Run from anywhere: python3 tests/fuzz/gen_net_tx_corpus.py [OUTDIR]
"""
import os
import struct
import sys

ALL = 0x1f


def eth(v6, vlan=False):
    e = bytes.fromhex("525400000002525400000001")
    if vlan:
        e += b"\x81\x00\x00\x05"
    return e + (b"\x86\xdd" if v6 else b"\x08\x00")


def ip(v6, proto, l4len):
    if v6:
        return struct.pack(">IHBB", 0x60000000, l4len, proto, 64) + \
            bytes(range(0x20, 0x30)) + bytes(range(0x40, 0x50))
    return struct.pack(">BBHHHBBH", 0x45, 0, 20 + l4len, 1, 0x4000, 64,
                       proto, 0) + bytes([10, 0, 0, 1, 10, 0, 0, 2])


def tcp(opts=0):
    return struct.pack(">HHIIBBHHH", 40000, 5201, 1, 2,
                       ((20 + opts) // 4) << 4, 0x18, 65535, 0, 0) + \
        b"\x01" * opts


def udp(n):
    return struct.pack(">HHHH", 40000, 5201, 8 + n, 0)


def hdr(flags=0, gso=0, hlen=0, gsz=0, cs=0, co=0):
    return struct.pack("<BBHHHHH", flags, gso, hlen, gsz, cs, co, 0)


def seed(allowed, h, frame, mtu=1500):
    return bytes([allowed]) + struct.pack("<H", mtu) + h + frame


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "net_tx")
    os.makedirs(out, exist_ok=True)
    pay = bytes((i * 7) & 0xff for i in range(6000))
    seeds = {}
    f = eth(False) + ip(False, 6, 20 + 100) + tcp() + pay[:100]
    seeds["plain"] = seed(ALL, hdr(), f)
    seeds["csum4"] = seed(ALL, hdr(1, 0, 0, 0, 34, 16), f)
    f = eth(False) + ip(False, 6, 32 + 5000) + tcp(12) + pay[:5000]
    seeds["tso4"] = seed(ALL, hdr(1, 1, 66, 1448, 34, 16), f)
    seeds["tso4_ecn"] = seed(ALL, hdr(1, 0x81, 66, 1448, 34, 16), f)
    seeds["gso0"] = seed(ALL, hdr(1, 1, 66, 0, 34, 16), f)
    seeds["tso4_noneg"] = seed(1, hdr(1, 1, 66, 1448, 34, 16), f)
    f = eth(True, True) + ip(True, 6, 20 + 3000) + tcp() + pay[:3000]
    seeds["tso6_vlan"] = seed(ALL, hdr(1, 4, 78, 1000, 58, 16), f)
    f = eth(True) + ip(True, 17, 8 + 4000) + udp(4000) + pay[:4000]
    seeds["uso6"] = seed(ALL, hdr(1, 5, 62, 1400, 54, 6), f)
    seeds["hdrlen_past"] = seed(ALL, hdr(0, 0, 65535), f[:200])
    seeds["csum_past"] = seed(ALL, hdr(1, 0, 0, 0, 190, 9), f[:200])
    seeds["runt"] = seed(ALL, hdr(), f[:13])
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)


if __name__ == "__main__":
    main()
