#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vsock peer-test runner: vhostkit-vsock, QEMU's vhost-user-vsock-pci and
a Linux guest.  Shares vhkpeer.py's machinery (back-end and QEMU processes,
serial console, guest verdicts); adds the host side of the hybrid vsock.

The host side speaks only Unix sockets (AF_VSOCK is never opened on the
host): listeners at <uds>_<port> for the guest's connections to CID 2, and
`CONNECT <port>\\n` on <uds> for connections into the guest.

Host listeners, up before the guest boots:
  5000 echo        write back what arrives, until EOF
  5001 sink        read to EOF (the guest's shutdown(SHUT_WR)), then answer
                   "<bytes> <crc32>\\n" on the half-closed connection
  5002 report      waits for every host action to finish and answers
                   "host <n> ok" or "host <n> FAIL <why>": the guest prints
                   the verdict, so host-side checks land on the console
  5003 seq echo    SOCK_SEQPACKET: every message back as one message
  (no listener on 5999: connections there must be refused.)
Host actions, asked by the guest with `VHK-HOST vsock ACTION ARGS`:
  bulk PORT BYTES        CONNECT, send BYTES random bytes, shutdown(SHUT_WR),
                         read the guest's "<bytes> <crc32>" and compare
  echo PORT ROUNDS       messages of 1 B .. 64 KiB, each read back
  multi PORT N BYTES     N connections at once, each a bulk of BYTES
  refused PORT           CONNECT to a port nobody listens on in the guest:
                         the daemon must close the socket without "OK"
  hold PORT              CONNECT, one echo, keep the socket
  poke PORT              (after the guest reset its device) write a byte on
                         the held socket: the daemon must close it within
                         5 s (the guest no longer knows the connection)
Exit 0 pass, 1 fail, 77 skip (with the reason).
"""

import os
import socket
import sys
import threading
import time
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhkpeer  # noqa: E402

GUEST_CID = 3
IO_TIMEOUT = 90
SIZES = [1, 2, 3, 7, 8, 63, 64, 65, 511, 512, 1000, 3776, 3777, 4095, 4096,
         4097, 8191, 12345, 32768, 65535, 65536]


def recv_line(s, cap=128):
    """One '\\n'-terminated line (without it); b'' at EOF before any."""
    buf = b''
    while not buf.endswith(b'\n'):
        c = s.recv(1)
        if not c:
            return buf
        buf += c
        if len(buf) > cap:
            raise OSError('line longer than %d bytes' % cap)
    return buf[:-1]


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            raise OSError('EOF after %d of %d bytes' % (len(buf), n))
        buf += c
    return bytes(buf)


class HostSide:
    """The host peer: listeners, actions, results (thread-safe)."""

    def __init__(self, uds):
        self.uds = uds
        self.lock = threading.Lock()
        self.results = []       # (action, ok, detail)
        self.threads = []
        self.listeners = []
        self.stop = False
        self.conn_counts = {}
        self.held = {}          # port -> socket kept across a reset

    def record(self, action, ok, detail):
        with self.lock:
            self.results.append((action, ok, detail))
        vhkpeer.say('host %s: %s %s' % (action, 'ok' if ok else 'FAIL',
                                         detail))

    def spawn(self, fn, *args):
        th = threading.Thread(target=fn, args=args, daemon=True)
        with self.lock:
            self.threads.append(th)
        th.start()

    # ------------------------------------------------------ listeners
    def listen(self, port, handler, kind=socket.SOCK_STREAM):
        path = '%s_%d' % (self.uds, port)
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(path)
        s.listen(128)
        s.settimeout(0.5)
        self.listeners.append((s, path))
        th = threading.Thread(target=self.accept_loop,
                              args=(s, port, handler), daemon=True)
        th.start()

    def accept_loop(self, s, port, handler):
        while not self.stop:
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conn_counts[port] = self.conn_counts.get(port, 0) + 1
            c.settimeout(IO_TIMEOUT)
            threading.Thread(target=self.serve_conn, args=(handler, c),
                             daemon=True).start()

    @staticmethod
    def serve_conn(handler, c):
        try:
            handler(c)
        except OSError as e:
            vhkpeer.say('host listener: %s' % e)
        finally:
            c.close()

    @staticmethod
    def h_echo(c):
        while True:
            b = c.recv(65536)
            if not b:
                return
            c.sendall(b)

    @staticmethod
    def h_sink(c):
        n, crc = 0, 0
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            n += len(b)
            crc = zlib.crc32(b, crc)
        c.sendall(b'%d %d\n' % (n, crc))

    @staticmethod
    def h_seq(c):
        while True:
            b = c.recv(65536 + 64)
            if not b:
                return
            c.send(b)

    def h_report(self, c):
        deadline = time.time() + 2 * IO_TIMEOUT
        while True:
            with self.lock:
                live = [t for t in self.threads if t.is_alive()]
            if not live or time.time() > deadline:
                break
            live[0].join(0.2)
        with self.lock:
            bad = [r for r in self.results if not r[1]]
            n = len(self.results)
            if live:
                bad.append(('pending', False, '%d actions' % len(live)))
        if bad:
            why = '; '.join('%s: %s' % (a, d) for a, _, d in bad)
            c.sendall(('host %d FAIL %s\n' % (n, why[:400])).encode())
        else:
            c.sendall(b'host %d ok\n' % n)

    def start(self):
        self.listen(5000, self.h_echo)
        self.listen(5001, self.h_sink)
        self.listen(5002, self.h_report)
        self.listen(5003, self.h_seq, socket.SOCK_SEQPACKET)

    def close(self):
        self.stop = True
        for s, path in self.listeners:
            s.close()
            try:
                os.unlink(path)
            except OSError:
                pass

    # -------------------------------------------------- host -> guest
    def connect(self, port, expect_ok=True):
        """CONNECT PORT through the daemon's Unix socket."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        s.connect(self.uds)
        s.sendall(b'CONNECT %d\n' % port)
        line = recv_line(s)
        if expect_ok and not line.startswith(b'OK '):
            s.close()
            raise OSError('CONNECT %d answered %r' % (port, line))
        return s, line

    def a_bulk(self, port, nbytes, tag='bulk'):
        t0 = time.time()
        try:
            s, _ = self.connect(port)
            crc, left = 0, nbytes
            while left:
                b = os.urandom(min(left, 1 << 20))
                crc = zlib.crc32(b, crc)
                s.sendall(b)
                left -= len(b)
            s.shutdown(socket.SHUT_WR)     # half-close: EOF in the guest
            line = recv_line(s).decode(errors='replace')
            s.close()
            want = '%d %d' % (nbytes, crc)
            dt = time.time() - t0
            self.record(tag, line == want, 'port %d: guest says %r, sent '
                        '%s (%.1f s, %.1f MB/s)' % (port, line, want, dt,
                                                    nbytes / dt / 1e6))
            return line == want
        except OSError as e:
            self.record(tag, False, 'port %d: %s' % (port, e))
            return False

    def a_echo(self, port, rounds):
        try:
            s, _ = self.connect(port)
            for r in range(rounds):
                b = os.urandom(SIZES[r % len(SIZES)])
                s.sendall(b)
                if recv_exact(s, len(b)) != b:
                    raise OSError('round %d: echo differs' % r)
            s.shutdown(socket.SHUT_WR)
            if s.recv(1) != b'':
                raise OSError('no EOF after shutdown')
            s.close()
            self.record('echo', True, 'port %d: %d rounds' % (port, rounds))
        except OSError as e:
            self.record('echo', False, 'port %d: %s' % (port, e))

    def a_multi(self, port, n, nbytes):
        # every connection is up before any data moves
        try:
            socks = [self.connect(port)[0] for _ in range(n)]
        except OSError as e:
            self.record('multi', False, 'port %d: connect: %s' % (port, e))
            return
        res = [None] * n

        def one(i):
            s = socks[i]
            try:
                b = os.urandom(nbytes)
                s.sendall(b)
                s.shutdown(socket.SHUT_WR)
                line = recv_line(s).decode(errors='replace')
                res[i] = line == '%d %d' % (nbytes, zlib.crc32(b))
            except OSError:
                res[i] = False
            s.close()
        ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(IO_TIMEOUT)
        good = sum(1 for r in res if r)
        self.record('multi', good == n, 'port %d: %d/%d connections of %d '
                    'bytes verified' % (port, good, n, nbytes))

    def a_refused(self, port):
        t0 = time.time()
        try:
            s, line = self.connect(port, expect_ok=False)
            rest = s.recv(64) if not line else b''
            s.close()
            dt = time.time() - t0
            ok = line == b'' and rest == b'' and dt < 5
            self.record('refused', ok, 'port %d: answer %r, closed after '
                        '%.2f s' % (port, line, dt))
        except OSError as e:
            # a reset by the daemon is a refusal too
            self.record('refused', isinstance(e, ConnectionResetError),
                        'port %d: %s' % (port, e))

    def a_hold(self, port):
        """CONNECT and echo one byte, then keep the socket for a poke."""
        try:
            s, _ = self.connect(port)
            s.sendall(b'x')
            if recv_exact(s, 1) != b'x':
                raise OSError('hold echo differs')
            with self.lock:
                self.held[port] = s
            self.record('hold', True, 'port %d: connected, echoed' % port)
        except OSError as e:
            self.record('hold', False, 'port %d: %s' % (port, e))

    def a_poke(self, port):
        """After the guest reset its device: a byte on the held socket
        reaches a guest that no longer knows the connection; the guest
        answers RST and the daemon must close the host socket promptly
        (QEMU 7.2 stops the rings on reset and on a VM pause alike, so
        the daemon cannot drop connections on a ring stop by itself)."""
        with self.lock:
            s = self.held.pop(port, None)
        if s is None:
            self.record('poke', False, 'port %d: nothing held' % port)
            return
        t0 = time.time()
        s.settimeout(5)
        try:
            s.sendall(b'y')
            b = s.recv(1)
            ok, how = not b, 'EOF' if not b else 'data %r' % b
        except socket.timeout:
            ok, how = False, 'still open 5 s after a write'
        except OSError as e:
            ok, how = True, str(e)      # reset / broken pipe: closed
        s.close()
        self.record('poke', ok, 'port %d: %s after %.2f s'
                    % (port, how, time.time() - t0))

    def action(self, run, words):
        """VHK-HOST vsock ACTION ARGS (called from the console reader)."""
        act, args = words[0], [int(w) for w in words[1:]]
        fn = {'bulk': self.a_bulk, 'echo': self.a_echo,
              'multi': self.a_multi, 'refused': self.a_refused,
              'hold': self.a_hold, 'poke': self.a_poke}.get(act)
        if fn is None:
            self.record(act, False, 'unknown host action')
            return
        self.spawn(fn, *args)


class VsockRun(vhkpeer.Run):
    def __init__(self, a):
        super().__init__(a)
        self.sock = os.path.join(self.tmp, 'vsock.sock')
        self.uds = os.path.join(self.tmp, 'v.uds')
        self.host = HostSide(self.uds)

    def make_disk(self):
        self.disk = None
        self.disk_md5 = None
        self.host_off, self.host_cnt, self.host_md5 = 0, 0, ''

    def backend_cmd(self):
        a = self.a
        binp = vhkpeer.find_tool(a.build_dir, 'vhostkit-vsock',
                                 'VHK_VSOCK_BIN')
        cmd = [binp, '--vm', 'guest-cid=%d,socket=%s,uds-path=%s'
               % (GUEST_CID, self.sock, self.uds), '--iommu', a.iommu]
        cmd += a.backend_arg
        return ['timeout', '-s', 'KILL', str(a.timeout + 30)] + cmd

    def start_backend(self, mode='w'):
        super().start_backend(mode)
        if mode == 'w':
            self.host.start()

    def device_args(self):
        return ('vhost-user-vsock-pci,chardev=c0',
                ['-chardev', 'socket,id=c0,path=%s%s'
                 % (self.sock, ',reconnect=1' if self.a.reconnect else '')])

    def handle_mark(self, m):
        w = m.split()
        if len(w) >= 3 and w[0] == 'VHK-HOST' and w[1] == 'vsock':
            self.host.action(self, w[2:])

    def check(self, qemu_rc):
        errs, passes, nwrote = super().check(qemu_rc)
        with self.host.lock:
            live = [t for t in self.host.threads if t.is_alive()]
            results = list(self.host.results)
        if live:
            errs.append('%d host actions never finished' % len(live))
        asked = sum(1 for _, m in self.marks
                    if m.startswith('VHK-HOST vsock '))
        if len(results) != asked:
            errs.append('guest asked %d host actions, %d done'
                        % (asked, len(results)))
        errs += ['host %s: %s' % (a, d) for a, ok, d in results if not ok]
        return errs, passes, nwrote

    def cleanup(self):
        self.host.close()
        super().cleanup()


def add_args(ap):
    ap.add_argument('--backend-arg', action='append', default=[],
                    help='extra vhostkit-vsock argument')
    ap.set_defaults(pat_mb=0, mem_mb=512)


def main(argv):
    a = vhkpeer.parse(argv, doc=__doc__, add_args=add_args)
    if a.backend != 'vhostkit':
        print('vsockpeer: only the vhostkit back-end', file=sys.stderr)
        return 2
    rc, _ = vhkpeer.run(a, on_mark=lambda r, m: r.handle_mark(m),
                        run_cls=VsockRun)
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
