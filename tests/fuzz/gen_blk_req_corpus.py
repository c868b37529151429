#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_blk_req (tests/fuzz/corpus/blk_req/).

Input layout: see the comment at the top of fuzz_blk_req.c.  Offsets are
buffer-area offsets; the disk is 64 sectors.
Run from anywhere: python3 tests/fuzz/gen_blk_req_corpus.py [OUTDIR]
"""
import os
import struct
import sys

IN, OUT, FLUSH, GET_ID, LIFETIME, DISCARD, WZ, ERASE = range(8)
PACKED, RO, NODIRECT, EVENT_IDX, INDIRECT = 1, 2, 4, 8, 16
GPA, IDENTITY, IOTLB = 0, 32, 64
W = 0x8000
HDR, PAY, DATA, STATUS = 0x0, 0x100, 0x1000, 0x6000


def cfg(*flags):
    v = 0
    for f in flags:
        v |= f
    return v


def req(typ, sector, segs, blob=b"", blob_off=PAY, hdr=HDR, indirect=False,
        raw_type=None):
    out = bytes([8]) + struct.pack("<I", raw_type) if raw_type is not None \
        else bytes([typ])
    if sector == "cap":
        out += bytes([1, 0])
    elif isinstance(sector, tuple):
        out += bytes([1, sector[1]])
    elif sector < 256:
        out += bytes([0, sector])
    else:
        out += bytes([2]) + struct.pack("<Q", sector)
    out += struct.pack("<HB", hdr, (len(segs) - 1) | (0x80 if indirect
                                                        else 0))
    for off, ln in segs:
        out += struct.pack("<HH", off, ln)
    out += struct.pack("<HB", blob_off, len(blob)) + blob
    return out


def dwz(sector, n, flags=0):
    return struct.pack("<QII", sector, n, flags)


def rw(typ, sector, n, i=0, indirect=False):
    data = (DATA + i * 0x800, n | (W if typ == IN else 0))
    return req(typ, sector, [(HDR + i * 16, 16), data, (STATUS + i, 1 | W)],
               hdr=HDR + i * 16, indirect=indirect)


def prog(c, feat, *reqs):
    return bytes([c, feat]) + b"".join(reqs)


SEEDS = {
    "read": prog(0, 0, rw(IN, 8, 4096)),
    "write-read": prog(0, 0, rw(OUT, 3, 1024, 0), rw(IN, 3, 1024, 1)),
    "last-sector": prog(EVENT_IDX, 0, rw(IN, ("cap", 1), 512),
                        rw(OUT, ("cap", 1), 1024, 1)),
    "flush-getid": prog(0, 0,
                        req(FLUSH, 0, [(HDR, 16), (STATUS, 1 | W)]),
                        req(GET_ID, 0, [(HDR + 16, 16), (DATA, 20 | W),
                                        (STATUS + 1, 1 | W)], hdr=HDR + 16),
                        req(LIFETIME, 0, [(HDR + 32, 16), (DATA + 64, 8 | W),
                                          (STATUS + 2, 1 | W)],
                            hdr=HDR + 32)),
    "discard": prog(0, 0, req(DISCARD, 0, [(HDR, 16), (PAY, 32),
                                           (STATUS, 1 | W)],
                              blob=dwz(2, 4) + dwz(40, 8))),
    "write-zeroes-unmap": prog(0, 0, req(WZ, 0, [(HDR, 16), (PAY, 16),
                                                 (STATUS, 1 | W)],
                                         blob=dwz(60, 4, 1))),
    "dwz-bad": prog(0, 0,
                    req(DISCARD, 0, [(HDR, 16), (PAY, 16), (STATUS, 1 | W)],
                        blob=dwz(62, 8)),
                    req(WZ, 0, [(HDR + 16, 16), (PAY + 0x40, 12),
                                (STATUS + 1, 1 | W)], hdr=HDR + 16,
                        blob=dwz(1, 1, 2), blob_off=PAY + 0x40),
                    req(ERASE, 0, [(HDR + 32, 16), (PAY + 0x80, 16),
                                   (STATUS + 2, 1 | W)], hdr=HDR + 32,
                        blob=dwz(0, 1), blob_off=PAY + 0x80)),
    "no-dwz-features": prog(0x80, 0x0f,
                            req(DISCARD, 0, [(HDR, 16), (PAY, 16),
                                             (STATUS, 1 | W)],
                                blob=dwz(2, 4)),
                            req(FLUSH, 0, [(HDR + 16, 16),
                                           (STATUS + 1, 1 | W)],
                                hdr=HDR + 16)),
    "out-of-range": prog(0, 0, rw(IN, 63, 1024), rw(OUT, 0xfffffffffffffff0,
                                                    512, 1),
                         rw(IN, 64, 512, 2)),
    "read-only-write": prog(RO, 0, rw(OUT, 1, 512),
                            req(DISCARD, 0, [(HDR + 16, 16), (PAY, 16),
                                             (STATUS + 1, 1 | W)],
                                hdr=HDR + 16, blob=dwz(0, 1))),
    "packed-indirect": prog(PACKED | INDIRECT | EVENT_IDX, 0,
                            rw(OUT, 5, 2048, 0, True), rw(IN, 5, 2048, 1),
                            rw(IN, 5, 1536, 2, True)),
    "iotlb-multiseg": prog(IOTLB | NODIRECT, 0,
                           req(OUT, 2, [(HDR, 16), (DATA, 100), (DATA + 200,
                                                                 412),
                                        (STATUS, 1 | W)]),
                           req(IN, 2, [(HDR + 16, 16), (DATA + 0x1000, 7 | W),
                                       (DATA + 0x1100, 505 | W),
                                       (STATUS + 1, 1 | W)], hdr=HDR + 16)),
    "short-hdr-unknown": prog(IDENTITY, 0,
                              req(IN, 0, [(HDR, 8), (STATUS, 1 | W)]),
                              req(0, 0, [(HDR + 16, 16), (STATUS + 1, 1 | W)],
                                  hdr=HDR + 16, raw_type=0x12345),
                              req(IN, 0, [(HDR + 32, 16)], hdr=HDR + 32)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "blk_req")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
