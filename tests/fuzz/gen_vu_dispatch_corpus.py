#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus for fuzz_vu_dispatch (tests/fuzz/corpus/vu_dispatch/).

Input layout: see the comment at the top of fuzz_vu_dispatch.c.  Guest
memory is the first memfd sent (64 KiB), GPA 0 = UVA UVA = offset 0; the
split ring of queue 0 (8 entries) sits at 0x0 (desc), 0x1000 (avail),
0x2000 (used); buffers at 0x4000 and 0x5000.
Run from anywhere: python3 tests/fuzz/gen_vu_dispatch_corpus.py [OUTDIR]
"""
import os
import struct
import sys

MEMFD, EVENTFD, SOCK, DEVNULL = 0, 1, 2, 3
NEED_REPLY = 8
UVA = 0x7f0000000000
IOVA = 0x40000000

# requests
(GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE,
 SET_LOG_BASE, SET_LOG_FD, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE,
 GET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR,
 GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
 SET_VRING_ENABLE, SEND_RARP, NET_SET_MTU, SET_BACKEND_REQ_FD, IOTLB_MSG,
 SET_VRING_ENDIAN, GET_CONFIG, SET_CONFIG) = range(1, 26)
GET_INFLIGHT_FD, SET_INFLIGHT_FD = 31, 32
RESET_DEVICE, GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG = 34, 36, 37, 38
SET_STATUS, GET_STATUS = 39, 40

F_INDIRECT, F_EVENT_IDX, F_PROTO, F_V1, F_PLATFORM, F_PACKED = (
    28, 29, 30, 32, 33, 34)
P_MQ, P_REPLY_ACK, P_BACKEND_REQ, P_CONFIG, P_INFLIGHT, P_RESET = (
    0, 3, 5, 9, 12, 13)
P_SLOTS, P_STATUS = 15, 16


def bits(*b):
    v = 0
    for x in b:
        v |= 1 << x
    return v


def msg(req, payload=b"", fds=(), flags=1, size=None):
    if size is None:
        size = len(payload)
    return (struct.pack("<BBBHB", 0, req, flags, size, len(fds)) +
            bytes(fds) + payload)


def u64(req, v, **kw):
    return msg(req, struct.pack("<Q", v), **kw)


def state(req, idx, num, **kw):
    return msg(req, struct.pack("<II", idx, num), **kw)


def kick(ring):
    return bytes([1, ring])


def poke(k, off, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += struct.pack("<BBHB", 2, k, off, len(chunk)) + chunk
        off += len(chunk)
    return out


def region(gpa, size, uva, off):
    return struct.pack("<QQQQ", gpa, size, uva, off)


def mem_table(*regs, fds=None):
    n = len(regs)
    return msg(SET_MEM_TABLE, struct.pack("<II", n, 0) + b"".join(regs),
               fds=fds if fds is not None else [MEMFD] * n)


def vring_addr(idx, desc, avail, used, flags=0):
    return msg(SET_VRING_ADDR,
               struct.pack("<IIQQQQ", idx, flags, desc, used, avail, 0))


def iotlb(iova, size, uaddr, perm, typ):
    return msg(IOTLB_MSG, struct.pack("<QQQBB6x", iova, size, uaddr, perm,
                                      typ))


def handshake(proto, feats):
    return (msg(GET_FEATURES) + msg(SET_OWNER) +
            msg(GET_PROTOCOL_FEATURES) + u64(SET_PROTOCOL_FEATURES, proto) +
            u64(SET_FEATURES, feats))


def split_ring_data(base=0):
    desc = (struct.pack("<QIHH", base + 0x4000, 16, 1, 1) +
            struct.pack("<QIHH", base + 0x5000, 32, 2, 0))
    avail = struct.pack("<HHH", 0, 1, 0)
    return poke(0, 0x4000, b"hello, vhost-user") + poke(0, 0x0, desc) + \
        poke(0, 0x1000, avail)


def ring0(base_addr):
    return (state(SET_VRING_NUM, 0, 8) +
            vring_addr(0, base_addr, base_addr + 0x1000, base_addr + 0x2000) +
            state(SET_VRING_BASE, 0, 0) +
            u64(SET_VRING_CALL, 0, fds=[EVENTFD]) +
            u64(SET_VRING_KICK, 0, fds=[EVENTFD]) +
            state(SET_VRING_ENABLE, 0, 1))


PROTO = bits(P_MQ, P_REPLY_ACK, P_CONFIG, P_INFLIGHT, P_RESET, P_SLOTS,
             P_STATUS)
FEATS = bits(F_V1, F_PROTO)

SEEDS = {
    "flow-split-echo": bytes([0]) + handshake(PROTO, FEATS) +
    mem_table(region(0, 0x10000, UVA, 0)) + split_ring_data() + ring0(UVA) +
    kick(0) + state(GET_VRING_BASE, 0, 0) + msg(GET_STATUS),
    "flow-iotlb": bytes([0x10]) + msg(GET_FEATURES) + msg(SET_OWNER) +
    u64(SET_PROTOCOL_FEATURES, PROTO | bits(P_BACKEND_REQ)) +
    msg(SET_BACKEND_REQ_FD, fds=[SOCK]) +
    u64(SET_FEATURES, FEATS | bits(F_PLATFORM)) +
    mem_table(region(0, 0x10000, UVA, 0)) + split_ring_data(IOVA) +
    ring0(IOVA) + kick(0) +
    iotlb(IOVA, 0x10000, UVA, 3, 2) + kick(0) +
    iotlb(IOVA + 0x4000, 0x1000, 0, 0, 3) + kick(0) +
    iotlb(0, 0, 0, 0, 3) + msg(RESET_DEVICE),
    "workers-echo": bytes([64]) + handshake(PROTO, FEATS) +
    mem_table(region(0, 0x10000, UVA, 0)) + split_ring_data() + ring0(UVA) +
    kick(0) + kick(0) + state(GET_VRING_BASE, 0, 0) + ring0(UVA) + kick(1) +
    mem_table(region(0, 0x10000, UVA, 0)) + kick(0) + msg(RESET_DEVICE),
    "workers-iotlb": bytes([64 | 0x10]) + msg(GET_FEATURES) +
    msg(SET_OWNER) +
    u64(SET_PROTOCOL_FEATURES, PROTO | bits(P_BACKEND_REQ)) +
    msg(SET_BACKEND_REQ_FD, fds=[SOCK]) +
    u64(SET_FEATURES, FEATS | bits(F_PLATFORM)) +
    mem_table(region(0, 0x10000, UVA, 0)) + split_ring_data(IOVA) +
    ring0(IOVA) + kick(0) + iotlb(IOVA, 0x4000, UVA, 3, 2) + kick(0) +
    iotlb(IOVA + 0x4000, 0x4000, UVA + 0x4000, 3, 2) + kick(0) +
    iotlb(IOVA + 0x4000, 0x1000, 0, 0, 3) + kick(0) + msg(RESET_OWNER),
    "config-status": bytes([0]) + handshake(PROTO, FEATS) +
    msg(GET_CONFIG, struct.pack("<III", 0, 16, 0) + bytes(16)) +
    msg(SET_CONFIG, struct.pack("<III", 4, 4, 0) + b"abcd") +
    msg(GET_CONFIG, struct.pack("<III", 12, 8, 0) + bytes(8)) +
    u64(SET_STATUS, 0xf) + msg(GET_STATUS) + u64(SET_STATUS, 0) +
    msg(GET_QUEUE_NUM) + msg(GET_MAX_MEM_SLOTS),
    "inflight": bytes([0]) + handshake(PROTO, FEATS) +
    msg(GET_INFLIGHT_FD, struct.pack("<QQHH4x", 0, 0, 2, 8)) +
    msg(SET_INFLIGHT_FD, struct.pack("<QQHH4x", 0x1000, 0, 2, 8),
        fds=[MEMFD]) +
    mem_table(region(0, 0x10000, UVA, 0)) + ring0(UVA) + kick(0),
    "mem-slots": bytes([0]) + handshake(PROTO, FEATS) +
    msg(ADD_MEM_REG, bytes(8) + region(0, 0x8000, UVA, 0), fds=[MEMFD]) +
    msg(ADD_MEM_REG, bytes(8) + region(0x8000, 0x8000, UVA + 0x8000,
                                       0x8000), fds=[MEMFD]) +
    msg(REM_MEM_REG, bytes(8) + region(0, 0x8000, UVA, 0)) +
    msg(REM_MEM_REG, bytes(8) + region(0, 0x8000, UVA, 0), flags=1 |
        NEED_REPLY) +
    mem_table(region(0, 0x8000, UVA, 0), region(0x10000, 0x8000,
                                                UVA + 0x10000, 0x8000)),
    "packed-flow": bytes([1 | 2]) +
    handshake(PROTO, FEATS | bits(F_PACKED, F_EVENT_IDX)) +
    mem_table(region(0, 0x10000, UVA, 0)) +
    poke(0, 0, struct.pack("<QIHH", 0x4000, 16, 0, 1 << 7)) +
    state(SET_VRING_NUM, 0, 5) +
    vring_addr(0, UVA, UVA + 0x1000, UVA + 0x2000) +
    state(SET_VRING_BASE, 0, 0x8000) +
    u64(SET_VRING_KICK, 0, fds=[EVENTFD]) + state(SET_VRING_ENABLE, 0, 1) +
    kick(0) + msg(RESET_OWNER),
    "hostile": bytes([0]) + msg(SET_MEM_TABLE, bytes(8), fds=[MEMFD]) +
    msg(SET_OWNER, fds=[DEVNULL, EVENTFD, MEMFD]) +
    u64(SET_VRING_KICK, 0x100, fds=[EVENTFD]) +
    u64(SET_VRING_CALL, 0x1ff, fds=[EVENTFD, EVENTFD]) +
    state(SET_VRING_NUM, 0x10000, 8) + state(SET_VRING_NUM, 0, 3) +
    mem_table(region(0, 0x20000, UVA, 0)) +
    mem_table(region(0, 0x1000, UVA, 0), region(0x800, 0x1000,
                                                UVA + 0x10000, 0)) +
    u64(SET_LOG_BASE, 0, fds=[MEMFD]) + msg(99) +
    msg(GET_FEATURES, flags=1 | 4) + msg(GET_FEATURES, size=0x1000),
    "fd-flood": bytes([0]) + msg(SET_OWNER) +
    b"".join(u64(SET_VRING_CALL, i % 2, fds=[EVENTFD]) for i in range(12)) +
    b"".join(msg(GET_INFLIGHT_FD, struct.pack("<QQHH4x", 0, 0, 2, 8))
             for i in range(4)) +
    msg(SET_OWNER, fds=[MEMFD] * 12),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "vu_dispatch")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
