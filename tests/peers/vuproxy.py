#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vuproxy: a logging proxy between a vhost-user front-end and back-end.

    vuproxy.py FRONT_SOCK BACK_SOCK

Listens on FRONT_SOCK (QEMU connects there), connects to BACK_SOCK (the
back-end's socket), forwards every message both ways with its fds, and
prints one line per message from the front-end: the request number and, for
VHOST_USER_IOTLB_MSG (22), type (1 miss, 2 update, 3 invalidate), iova,
size, uaddr and perm.  The back-end request channel (SET_BACKEND_REQ_FD) is
a separate socket passed as an fd and is not seen here.  A diagnostic tool,
used to find out which IOTLB invalidations QEMU really sends (see
docs/peer-tests.md); one connection, then it exits.
"""

import array
import os
import socket
import struct
import sys
import threading

HDR = struct.Struct('<III')          # request, flags, size
IOTLB = struct.Struct('<QQQBB')      # iova, size, uaddr, perm, type
VHOST_USER_IOTLB_MSG = 22
MAX_FDS = 8


def recv_exact(s, n, fds):
    buf = b''
    while len(buf) < n:
        msg, anc, _flags, _addr = s.recvmsg(
            n - len(buf), socket.CMSG_SPACE(MAX_FDS * 4))
        if not msg:
            return None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array('i')
                a.frombytes(data[:len(data) - len(data) % 4])
                fds.extend(a)
        buf += msg
    return buf


def pump(src, dst, tag, out):
    try:
        while True:
            fds = []
            hdr = recv_exact(src, HDR.size, fds)
            if hdr is None:
                break
            req, _flags, size = HDR.unpack(hdr)
            pl = recv_exact(src, size, fds) if size else b''
            if pl is None:
                break
            if tag == 'fe':
                line = 'fe req %d size %d fds %d' % (req, size, len(fds))
                if req == VHOST_USER_IOTLB_MSG and size >= IOTLB.size:
                    iova, sz, ua, perm, typ = IOTLB.unpack(pl[:IOTLB.size])
                    line += (' IOTLB type %d iova 0x%x size 0x%x uaddr 0x%x '
                             'perm %d' % (typ, iova, sz, ua, perm))
                print(line, file=out, flush=True)
            data = hdr + pl
            if fds:
                dst.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                      array.array('i', fds))])
                for fd in fds:
                    os.close(fd)
            else:
                dst.sendall(data)
    except OSError as e:
        print('%s: %s' % (tag, e), file=out, flush=True)
    finally:
        try:
            dst.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    front, back = sys.argv[1], sys.argv[2]
    if os.path.exists(front):
        os.unlink(front)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(front)
    ls.listen(1)
    c, _ = ls.accept()
    ls.close()
    os.unlink(front)
    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.connect(back)
    t = threading.Thread(target=pump, args=(b, c, 'be', sys.stdout),
                         daemon=True)
    t.start()
    pump(c, b, 'fe', sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
