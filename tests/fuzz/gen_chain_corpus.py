#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_chain (tests/fuzz/corpus/chain/).

Input layout: see the comment at the top of fuzz_chain.c.  Addresses are
buffer-area offsets (the target folds addresses with bit 63 clear).
Run from anywhere: python3 tests/fuzz/gen_chain_corpus.py
"""
import os
import struct

NEXT, WRITE, INDIRECT = 1, 2, 4
AVAIL, USED = 1 << 7, 1 << 15
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "chain")


def cfg(packed=False, mode=0, event_idx=False, indirect=False,
        in_order=False, frag=False, miss=False):
    return (packed | mode << 1 | event_idx << 3 | indirect << 4 |
            in_order << 5 | frag << 6 | miss << 7)


def split_desc(addr, ln, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, ln, flags, nxt)


def packed_desc(addr, ln, flags=0, bid=0, wrap=1):
    flags |= AVAIL if wrap else USED
    return struct.pack("<QIHH", addr, ln, bid, flags)


def split_input(c, qlog, descs, avail_idx, heads, bufrecs=b"", cap=255):
    num = 1 << qlog
    table = b"".join(descs).ljust(16 * num, b"\0")
    ring = struct.pack("<H", avail_idx) + b"".join(
        struct.pack("<H", h) for h in heads).ljust(2 * num, b"\0")
    return bytes([c, qlog, cap, 17]) + table + ring + bufrecs


def packed_input(c, num, descs, bufrecs=b"", cap=255):
    table = b"".join(descs).ljust(16 * num, b"\0")
    return bytes([c, num - 1, cap, 17]) + table + bufrecs


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        # a request: 16 readable bytes, 32 writable
        "split-simple": split_input(cfg(), 3, [
            split_desc(0, 16, NEXT, 1), split_desc(64, 32, WRITE)], 1, [0]),
        "split-event-idx-iotlb": split_input(cfg(mode=2, event_idx=True), 2, [
            split_desc(0, 8), split_desc(32, 8, WRITE)], 2, [0, 1]),
        "split-indirect": split_input(cfg(indirect=True), 2, [
            split_desc(256, 48, INDIRECT)], 1, [0],
            bufrecs=b"\0" * 256 + split_desc(0, 8, NEXT, 1) +
            split_desc(16, 8, NEXT, 2) + split_desc(512, 100, WRITE)),
        "split-loop": split_input(cfg(), 2, [
            split_desc(0, 8, NEXT, 1), split_desc(8, 8, NEXT, 0)], 1, [0]),
        "split-nested-indirect": split_input(cfg(indirect=True), 1, [
            split_desc(0, 16, INDIRECT)], 1, [0],
            bufrecs=split_desc(16, 16, INDIRECT)),
        "split-avail-jump": split_input(cfg(), 2, [split_desc(0, 8)],
                                        9, [0, 0, 0, 0]),
        "split-fragmented-identity": split_input(
            cfg(mode=1, frag=True), 3, [
                split_desc(0, 40, NEXT, 1), split_desc(100, 60, WRITE)],
            1, [0], cap=40),
        "packed-simple": packed_input(cfg(packed=True), 4, [
            packed_desc(0, 16, NEXT), packed_desc(64, 32, WRITE, bid=3)]),
        "packed-indirect-iotlb": packed_input(
            cfg(packed=True, mode=2, indirect=True), 3, [
                packed_desc(128, 32, INDIRECT, bid=1)],
            bufrecs=b"\0" * 128 + struct.pack("<QIHH", 0, 8, 0, 0) +
            struct.pack("<QIHH", 300, 64, 0, WRITE)),
        "packed-full-ring": packed_input(cfg(packed=True, event_idx=True), 5, [
            packed_desc(16 * i, 8, 0, bid=i) for i in range(5)]),
        "packed-too-long": packed_input(cfg(packed=True), 3, [
            packed_desc(0, 8, NEXT) for _ in range(3)]),
        # byte 3 (17) drops IOVA buffer bytes [136, 154): a miss, answered
        "split-iotlb-miss-retry": split_input(cfg(mode=2, miss=True), 2, [
            split_desc(128, 32, NEXT, 1), split_desc(400, 16, WRITE)],
            1, [0]),
        "packed-iotlb-miss-retry": packed_input(
            cfg(packed=True, mode=2, miss=True), 4, [
                packed_desc(120, 64, WRITE, bid=2)]),
        "packed-in-order-frag": packed_input(
            cfg(packed=True, in_order=True, frag=True), 6, [
                packed_desc(0, 8, NEXT, bid=0), packed_desc(8, 8, WRITE, bid=0),
                packed_desc(40, 4, WRITE, bid=1)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {OUT}")


if __name__ == "__main__":
    main()
