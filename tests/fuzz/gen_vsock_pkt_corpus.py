#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_vsock_pkt (tests/fuzz/corpus/vsock_pkt/).

Input layout: see the comment at the top of fuzz_vsock_pkt.c.
Run from anywhere: python3 tests/fuzz/gen_vsock_pkt_corpus.py [OUTDIR]
"""
import os
import struct
import sys

TX, RAW, POST, COLLECT, HWRITE, HREAD, CLIENT, POLL = range(8)
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = \
    range(1, 8)
STREAM, SEQ = 0, 1          # type byte: 1 + t % 2


def tx(op, sport=0, dport=0, typ=STREAM, flags=0, alloc=0, payload=b"",
       src=0, dst=0, split=0):
    return bytes([TX, src, dst, sport, dport, op, typ, flags, alloc,
                  len(payload), split]) + payload


def post(n=8, size=1024, readable=False):
    return bytes([POST, n - 1]) + struct.pack("<H", (size - 1) |
                                              (0x8000 if readable else 0))


def client(line):
    return bytes([CLIENT, len(line)]) + line


SEEDS = {
    # guest -> host: connect, data, half-close, close
    "g2h-stream": post() + tx(REQUEST, 0, 0) + bytes([COLLECT]) +
    tx(RW, 0, 0, payload=b"hello host") + bytes([HREAD, 0]) +
    bytes([HWRITE, 0, 5]) + b"reply" + bytes([POLL, 0, COLLECT]) +
    tx(SHUTDOWN, 0, 0, flags=2) + tx(SHUTDOWN, 0, 0, flags=3) +
    bytes([COLLECT]),
    # seqpacket to port 2, a message in two packets
    "g2h-seq": post() + tx(REQUEST, 1, 1, typ=SEQ) +
    tx(RW, 1, 1, typ=SEQ, payload=b"part1") +
    tx(RW, 1, 1, typ=SEQ, flags=1, payload=b"part2") + bytes([HREAD, 0]) +
    bytes([HWRITE, 0, 3]) + b"msg" + bytes([POLL, 0, COLLECT]),
    # host -> guest: CONNECT line, the guest accepts, data both ways
    "h2g": post() + client(b"CC\x00") + bytes([POLL, 0, COLLECT]) +
    bytes([HWRITE, 0, 4]) + b"ping" + bytes([POLL, 0, COLLECT]),
    # hostile CONNECT lines
    "bad-lines": client(b"CONNECT x\n") + client(b"CONNECT 1") +
    client(b"CONNECT 99999999999\n") + client(b"A" * 40) +
    bytes([POLL, 0, POLL, 0]),
    # hostile headers: short, unknown op/type, spoofed cid, len beyond
    "hostile": post() + bytes([RAW, 10]) + b"0123456789" +
    bytes([RAW, 43]) + b"x" * 43 +
    tx(240, 0, 0) + tx(REQUEST, 0, 0, typ=250) +
    tx(REQUEST, 0, 0, src=203) + tx(RW, 0, 0, alloc=255) +
    tx(RW, 2, 2, payload=b"nobody") + bytes([COLLECT]),
    # rx buffers: readable, tiny; rx full while tx keeps coming
    "rx-bad": tx(RW, 3, 0) + post(1, 20) + post(1, 100, True) +
    bytes([COLLECT]),
    "rx-full": b"".join(tx(RW, i % 4, 0) for i in range(40)) + post(8) +
    bytes([COLLECT]),
    # credit: a small guest allocation, the host writes more
    "credit": post() + tx(REQUEST, 0, 0, alloc=201) + bytes([COLLECT]) +
    bytes([HWRITE, 0, 200]) + b"z" * 200 + bytes([POLL, 0, COLLECT]) +
    bytes([HWRITE, 0, 200]) + b"y" * 200 + bytes([POLL, 0]) +
    tx(CREDIT_REQUEST, 0, 0) + tx(CREDIT_UPDATE, 0, 0, alloc=255) +
    bytes([POLL, 0, COLLECT]),
    # reset in the middle of everything
    "reset": post() + tx(REQUEST, 0, 0) + client(b"CC\x01") +
    bytes([POLL, 1]) + post() + tx(RW, 0, 0, payload=b"stale") +
    bytes([COLLECT]),
    # the host closes while data is queued
    "host-close": post() + tx(REQUEST, 0, 0) +
    tx(RW, 0, 0, payload=b"q" * 200) + bytes([HREAD, 0x80]) +
    bytes([POLL, 0, COLLECT]) + tx(RST, 0, 0),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "vsock_pkt")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
