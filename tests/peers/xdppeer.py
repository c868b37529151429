#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""xdppeer.py - vhostkit-net's AF_XDP port against a real kernel interface.

A veth pair made for the run: one end (the xdp port, in the root
namespace) is given to `vhostkit-net --port xdp=IFACE`, the other lives in
a network namespace of its own.  The userspace net driver (`vhostkit net
send | recv`) is the VM on the daemon's vhost-user port.

  vhost-user -> veth: `vhostkit net send` N frames; an AF_PACKET socket in
                      the namespace receives them, every byte checked;
  veth -> vhost-user: the namespace sends N frames from an AF_PACKET
                      socket; `vhostkit net recv` checks every byte;
  counters:           the daemon's xdp port counted both directions.

Needs root (namespaces, XDP programs).  A kernel without AF_XDP makes the
test skip (exit 77) with that reason; anything else that fails is a
failure.  Uses only loopback-style interfaces made for the run.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
N = 200
ETYPE = 0x88b5


def say(msg):
    print(msg, flush=True)


def pat(seq, i):
    """The byte `vhostkit net send` puts at offset i of frame seq."""
    return (seq * 131 + i * 7 + (i >> 8)) & 0xff


def frame(seq, size, src, dst=b'\xff' * 6):
    body = bytes(pat(seq, i) for i in range(22, size))
    return dst + src + ETYPE.to_bytes(2, 'big') + seq.to_bytes(8, 'little') \
        + body


# ---- run inside the namespace (this file re-executed with --ns-*)

def ns_sniff(iface, count, timeout):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETYPE))
    # room for every frame: the checks below are slow under load
    s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)     # SO_RCVBUFFORCE
    s.bind((iface, 0))
    s.settimeout(timeout)
    print('ready', flush=True)
    seen, bad = set(), 0
    try:
        while len(seen) < count:
            d = s.recv(65536)
            seq = int.from_bytes(d[14:22], 'little')
            if any(d[i] != pat(seq, i) for i in range(22, len(d))):
                bad += 1
            else:
                seen.add(seq)
    except socket.timeout:
        pass
    print('got %d bad %d' % (len(seen), bad), flush=True)


def ns_send(iface, count, size):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETYPE))
    s.bind((iface, 0))
    src = bytes.fromhex('02aabbccdd01')
    for seq in range(count):
        s.send(frame(seq, size, src))
        if seq % 32 == 31:
            time.sleep(0.01)   # the driver's ring is 256 buffers
    print('sent %d' % count, flush=True)


# ---- the test

class Rig:
    def __init__(self, name):
        self.ns = 'vhkx%d' % os.getpid()
        self.a = 'vx%da' % (os.getpid() % 100000)
        self.b = 'vx%db' % (os.getpid() % 100000)
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix='vhkxdp-')

    def sh(self, *cmd):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def setup(self):
        self.sh('ip', 'netns', 'add', self.ns)
        self.sh('ip', 'link', 'add', self.a, 'type', 'veth', 'peer', 'name',
                self.b)
        self.sh('ip', 'link', 'set', self.b, 'netns', self.ns)
        self.sh('ip', 'link', 'set', self.a, 'up')
        self.sh('ip', '-n', self.ns, 'link', 'set', self.b, 'up')

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run(['ip', 'link', 'del', self.a],
                       stderr=subprocess.DEVNULL)
        subprocess.run(['ip', 'netns', 'del', self.ns],
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def in_ns(self, *args):
        return ['ip', 'netns', 'exec', self.ns, sys.executable,
                os.path.abspath(__file__)] + list(args)


def wait_line(p, pat, timeout):
    end = time.time() + timeout
    while time.time() < end:
        line = p.stdout.readline()
        if not line:
            break
        if re.search(pat, line):
            return line
    raise RuntimeError('no "%s" within %d s' % (pat, timeout))


def stats(cli, ctl):
    out = subprocess.run([cli, 'net', 'stats', '--control', ctl],
                         capture_output=True, text=True, timeout=10).stdout
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) > 1 and f[0] == 'port':
            res[f[1]] = dict(kv.split('=', 1) for kv in f[2:] if '=' in kv)
    return res


def run(a):
    daemon = os.path.join(a.build_dir, 'tools', 'vhostkit-net')
    cli = os.path.join(a.build_dir, 'tools', 'vhostkit')
    if not os.path.exists(daemon):
        say('FAIL: %s not built' % daemon)
        return 1
    if os.geteuid() != 0 or not shutil.which('ip'):
        say('FAIL: needs root and iproute2 (network namespaces, XDP)')
        return 1
    try:
        socket.socket(44, socket.SOCK_RAW, 0).close()    # AF_XDP
    except OSError as e:
        say('SKIP: this kernel has no AF_XDP sockets (%s)' % e)
        return SKIP
    r = Rig(a.name)
    try:
        r.setup()
        sock = os.path.join(r.tmp, 'vu.sock')
        ctl = os.path.join(r.tmp, 'ctl')
        log = open(os.path.join(r.tmp, 'daemon.log'), 'w+')
        d = subprocess.Popen([daemon, '--port', 'xdp=' + r.a, '--port',
                              'socket=' + sock, '--control', ctl],
                             stdout=log, stderr=subprocess.STDOUT)
        r.procs.append(d)
        for _ in range(600):
            if os.path.exists(ctl) or d.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(ctl):
            log.seek(0)
            raise RuntimeError('daemon did not start: ' + log.read())
        say('daemon: xdp=%s, vhost-user %s' % (r.a, sock))

        # vhost-user -> veth
        sn = subprocess.Popen(r.in_ns('--ns-sniff', r.b, str(N), '10'),
                              stdout=subprocess.PIPE, text=True)
        r.procs.append(sn)
        wait_line(sn, 'ready', 60)
        out = subprocess.run([cli, 'net', 'send', sock, '--count', str(N),
                              '--size', '700'], capture_output=True,
                             text=True, timeout=120)
        if out.returncode:
            raise RuntimeError('net send: %s' % out.stderr.strip())
        got = wait_line(sn, '^got', 120).split()
        say('vhost-user -> veth: %s of %d frames intact, %s corrupt' % (
            got[1], N, got[3]))
        if int(got[1]) != N or int(got[3]):
            raise RuntimeError('frames lost or corrupt towards the veth')

        # veth -> vhost-user
        rv = subprocess.Popen([cli, 'net', 'recv', sock, '--count', str(N),
                               '--timeout', '20000', '--quiet'],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        r.procs.append(rv)
        for _ in range(600):      # the driver attached: its port is up
            st = stats(cli, ctl)
            if st.get('vu1', {}).get('up') == '1':
                break
            time.sleep(0.1)
        else:
            raise RuntimeError('the receiving driver never attached')
        subprocess.run(r.in_ns('--ns-send', r.b, str(N), '900'), check=True,
                       timeout=120, stdout=subprocess.DEVNULL)
        out, _ = rv.communicate(timeout=120)
        say('veth -> vhost-user: ' + out.strip().splitlines()[-1])
        if rv.returncode:
            raise RuntimeError('net recv failed: %s' % out.strip())

        st = stats(cli, ctl)
        x = st.get(r.a, {})
        say('daemon xdp port: in %s, out %s packets' % (
            x.get('in_packets'), x.get('out_packets')))
        if int(x.get('in_packets', 0)) < N or int(x.get('out_packets', 0)) < N:
            raise RuntimeError('xdp port counters below %d' % N)
        say('PASS')
        return 0
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        say('FAIL: %s' % e)
        p = os.path.join(r.tmp, 'daemon.log')
        if os.path.exists(p):
            with open(p) as f:
                say('daemon log:\n' + f.read()[-4000:])
        return 1
    finally:
        r.teardown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build-dir')
    ap.add_argument('--name', default='net-xdp')
    ap.add_argument('--ns-sniff', nargs=3)
    ap.add_argument('--ns-send', nargs=3)
    a = ap.parse_args()
    if a.ns_sniff:
        ns_sniff(a.ns_sniff[0], int(a.ns_sniff[1]), float(a.ns_sniff[2]))
        return 0
    if a.ns_send:
        ns_send(a.ns_send[0], int(a.ns_send[1]), int(a.ns_send[2]))
        return 0
    return run(a)


if __name__ == '__main__':
    sys.exit(main())
