#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_iotlb (tests/fuzz/corpus/iotlb/).

Input layout: see the comment at the top of fuzz_iotlb.c.  IOVAs and UVAs
are 16-bit offsets from the input's base / UVA_BASE.  Memory table slots
(uva offset, size): 0x0000+0x3000, 0x3000+0x1000, 0x6000+0x2000 (off at
start), 0xc000+0x4000.
Run from anywhere: python3 tests/fuzz/gen_iotlb_corpus.py [OUTDIR]
"""
import os
import struct
import sys

RO, WO, RW = 1, 2, 3
NOCACHE, CA, CB = 0, 1, 2


def update(iova, size, uva, perm):
    return struct.pack("<BHHHB", 0, iova, size, uva, perm)


def invalidate(iova, size):
    return struct.pack("<BHH", 1, iova, size)


def lookup(iova, ln, perm, cache=NOCACHE):
    return struct.pack("<BHHBB", 2, iova, ln - 1, perm - 1, cache)


def miss(iova, perm, stamp):
    return struct.pack("<BHBB", 3, iova, perm - 1, stamp)


def translate(iova, ln, perm, cache=NOCACHE):
    return struct.pack("<BHHBB", 4, iova, ln - 1, perm - 1, cache)


def flush():
    return b"\x05"


def slot(s):
    return struct.pack("<BB", 6, s)


def prog(base, *ops):
    return bytes([base]) + b"".join(ops)


SEEDS = {
    "update-lookup": prog(0, update(0x1000, 0x1000, 0x0, RW),
                          lookup(0x1000, 16, RO), lookup(0x1ff0, 64, WO, CA),
                          lookup(0x1ff8, 4, RW, CA), lookup(0x2000, 1, RO)),
    "overlap-split": prog(0, update(0x0, 0x4000, 0x0, RW),
                          update(0x1000, 0x1000, 0xc000, RO),
                          lookup(0x0fff, 8, RW, CA), lookup(0x1000, 8, WO, CA),
                          lookup(0x2000, 0x100, RW, CB),
                          invalidate(0x3800, 0x100),
                          lookup(0x3700, 0x1000, RO, CB),
                          lookup(0x3900, 1, RO, CB)),
    "miss-answer": prog(0, miss(0x1234, RW, 5), miss(0x1fff, RW, 6),
                        miss(0x1000, RO, 7), update(0x1000, 0x100, 0, RO),
                        update(0x1200, 0x100, 0, RW), miss(0x5000, WO, 0),
                        invalidate(0, 0)),
    "translate-window": prog(0, update(0x0, 0x8000, 0x0, RW),
                             translate(0x10, 16, RO, CA),
                             translate(0x2ff0, 0x40, RW, CA),
                             translate(0x3000, 0x2000, WO, CA),
                             translate(0x5000, 16, RO, CB),
                             slot(1), translate(0x3000, 16, RO, CA),
                             slot(1), translate(0x3000, 16, RO, CA)),
    "translate-miss": prog(0, translate(0x9000, 16, RO, CA),
                           translate(0x9010, 16, RO, CA),
                           update(0x9000, 0x1000, 0xc000, RO),
                           translate(0x9010, 16, RO, CA),
                           translate(0x9010, 16, WO, CA)),
    "wrap-top": prog(2, update(0x7000, 0x1000, 0, RW),
                     update(0x7fff, 2, 0, RW), update(0x7ff0, 0x10, 0, RW),
                     lookup(0x7fff, 0x100, RW, CA),
                     translate(0x7ff8, 0x10, RO, CA),
                     invalidate(0x7ffe, 3), invalidate(0x7ffe, 2),
                     lookup(0x7ff0, 0x20, RO)),
    "bad-args": prog(1, update(0x10, 0, 0, RW), update(0x10, 0x10, 0, 0),
                     update(0x10, 0x10, 0, 4), update(0x10, 0x10, 0, 7),
                     flush(), lookup(0x10, 1, RO)),
    "many-fragments": prog(0, *[update(i * 0x100, 0x100, i * 0x40, 1 + i % 3)
                                for i in range(40)],
                           invalidate(0x80, 0x1000), flush(),
                           *[update(i * 0x300, 0x200, 0x0, RO)
                             for i in range(20)],
                           *[lookup(i * 0x180, 0x80, RO, CA)
                             for i in range(30)]),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "iotlb")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
