#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Net peer tests: vhostkit-net between real peers and a tap in a network
namespace created for the run (never any other address).

Scenarios:
  dpdk   dpdk-testpmd with a virtio-user port on one vhost-user port, a tap
         on the other: 200 pings from the namespace reach testpmd (rxonly),
         testpmd's txonly burst reaches the tap; every counter (testpmd,
         daemon, kernel) must agree.
  guest  a Linux guest under QEMU (virtio-net-pci on -netdev vhost-user):
         ping both ways, 64 MiB over TCP host -> guest and back, md5
         checked on both sides; the features the guest acked are printed.
  guest-migrate  the guest takes a TCP stream from the tap while it is
         live-migrated to a second QEMU on another port of the switch:
         the stream arrives whole, SEND_RARP moves the guest's MAC.
  guest-dpdk  the guest on one vhost-user port, dpdk-testpmd (virtio-user)
         on another: the guest's 20 pings reach testpmd (rxonly),
         testpmd's txonly frames reach the guest (counted there).
Exit 0 pass, 1 fail (with the reasons), 77 skip (with the reason).
"""

import argparse
import select
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from testpmd import Testpmd, TestpmdError  # noqa: E402
SKIP = 77
HOST_IP, GUEST_IP = '10.77.0.1', '10.77.0.2'
PEER_MAC = '02:00:00:00:00:02'
PEER_IP = '10.77.0.3'
GUEST_MAC = '52:54:00:00:00:02'


def say(msg):
    print('netpeer: %s' % msg, flush=True)


class Fail(Exception):
    pass


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, **kw)
    if check and r.returncode != 0:
        raise Fail('%s: rc %d: %s' % (' '.join(cmd), r.returncode,
                                      r.stdout.strip()[-500:]))
    return r.stdout


def parse_stats(text):
    """{'switch': {...}, 'port NAME': {...}, 'queue NAME/pair': {...}}"""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        kv = dict(p.split('=', 1) for p in parts[1:] if '=' in p)
        if parts[0] == 'switch':
            out['switch'] = kv
        elif parts[0] == 'port':
            out['port ' + parts[1]] = kv
        elif parts[0] == 'queue':
            out['queue %s/%s' % (parts[1], kv.get('pair'))] = kv
    return out


class Rig:
    """Namespace + tap + vhostkit-net; torn down on exit."""

    def __init__(self, a, tmp):
        self.a, self.tmp = a, tmp
        self.ns = 'vhknet%d' % os.getpid()
        self.tap = 'vhkt%d' % (os.getpid() % 100000)
        self.sock = os.path.join(tmp, 'vu0.sock')
        self.sock1 = os.path.join(tmp, 'vu1.sock')
        self.extra_ports = []
        self.ctl = os.path.join(tmp, 'ctl.sock')
        self.log = os.path.join(tmp, 'vhostkit-net.log')
        self.daemon = None
        self.client = False
        self.procs = []

    def start(self, port_opts='', new_ns=True, wait_ctl=True):
        self.client = ',client' in port_opts
        if new_ns:
            run(['ip', 'netns', 'add', self.ns])
        if os.path.exists(self.ctl):
            os.unlink(self.ctl)
        cmd = ['ip', 'netns', 'exec', self.ns, self.a.bin,
               '--port', 'socket=%s%s' % (self.sock, port_opts),
               '--port', 'tap=' + self.tap, '--control', self.ctl]
        for p in self.extra_ports:
            cmd += ['--port', p]
        say('daemon: ' + ' '.join(cmd[4:]))
        self.daemon = subprocess.Popen(cmd, stdout=open(self.log, 'w'),
                                       stderr=subprocess.STDOUT)
        # Ready = the line main() prints after vhk_daemon_start(), i.e.
        # after the sandbox is entered (the control socket itself is
        # created before it, so its existence alone races the check
        # below).
        for _ in range(600):
            if os.path.exists(self.ctl) and \
                    'vhostkit-net: control socket' in open(self.log).read() \
                    and self.tap in run(
                    ['ip', '-n', self.ns, '-o', 'link'], check=False):
                break
            if self.daemon.poll() is not None:
                raise Fail('vhostkit-net exited %d: %s' % (
                    self.daemon.returncode, open(self.log).read()[-800:]))
            time.sleep(0.05)
        else:
            raise Fail('vhostkit-net did not create its control socket')
        # The daemon serves the guest / peers from inside its sandbox
        # (docs/daemons.md; default --sandbox namespace, seccomp on).
        pid = self.daemon.pid
        with open('/proc/%d/comm' % pid) as f:
            if f.read().strip() != 'vhostkit-net':
                # a wrapper (strace, valgrind): its child is the daemon
                with open('/proc/%d/task/%d/children' % (pid, pid)) as c:
                    kids = c.read().split()
                pid = int(kids[0]) if kids else pid
        with open('/proc/%d/status' % pid) as f:
            st = dict(l.split(':', 1) for l in f if ':' in l)
        got = (st.get('Seccomp', '').strip(), st.get('NoNewPrivs', '').strip(),
               int(st.get('CapEff', '1').strip(), 16))
        say('vhostkit-net sandbox: Seccomp %s, NoNewPrivs %s, CapEff %x' % got)
        if got != ('2', '1', 0):
            raise Fail('vhostkit-net not sandboxed: Seccomp %s, NoNewPrivs '
                       '%s, CapEff %x' % got)
        ns = ['ip', '-n', self.ns]
        # no IPv6 chatter (router / neighbour solicitations) on the tap:
        # every frame in the counters is one the test sent
        run(['ip', 'netns', 'exec', self.ns, 'sysctl', '-qw',
             'net.ipv6.conf.%s.disable_ipv6=1' % self.tap])
        run(ns + ['link', 'set', 'lo', 'up'])
        run(ns + ['addr', 'add', HOST_IP + '/24', 'dev', self.tap])
        run(ns + ['link', 'set', self.tap, 'up'])

    def stats(self):
        out = run([self.a.cli, 'net', 'stats', '--control', self.ctl])
        return parse_stats(out)

    def kernel_tap(self):
        out = run(['ip', '-n', self.ns, '-s', '-j', 'link', 'show',
                   self.tap])
        return json.loads(out)[0]['stats64']

    def nsexec(self, cmd, **kw):
        return run(['ip', 'netns', 'exec', self.ns] + cmd, **kw)

    def stop(self):
        errs = []
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                rc = self.daemon.wait(20)
                if rc != 0:
                    errs.append('vhostkit-net exited %d on SIGTERM' % rc)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                errs.append('vhostkit-net ignored SIGTERM for 20 s')
        elif self.daemon:
            errs.append('vhostkit-net died during the run (rc %s)' %
                        self.daemon.returncode)
        subprocess.run(['ip', 'netns', 'del', self.ns],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(self.log).read() if os.path.exists(self.log) else ''
        for pat in ('ERROR: AddressSanitizer', 'runtime error:',
                    'LeakSanitizer', 'ThreadSanitizer'):
            if pat in log:
                errs.append('sanitizer report in the daemon log')
        if os.path.exists(self.sock) and not self.client:
            errs.append('socket %s left behind' % self.sock)
        return errs


def check_bad_drops(st, port, allow=()):
    bad = {k: v for k, v in st[port].items()
           if k.startswith('drop_') and v != '0' and
           k not in ('drop_queue_full', 'drop_no_port') + tuple(allow)}
    return ['%s: %s' % (port, bad)] if bad else []


# ---- dpdk

def start_testpmd(rig, vdev_extra, queues, sock=None):
    """dpdk-testpmd, interactive, one virtio-user port on @sock."""
    cmd = [shutil.which('dpdk-testpmd'), '-l', '0,1', '--no-huge',
           '-m', '1024', '--no-pci', '--file-prefix',
           'vhknet%d' % os.getpid(), '--vdev',
           'net_virtio_user0,path=%s,queues=%d,mac=%s%s' % (
               sock or rig.sock, queues, PEER_MAC, vdev_extra),
           '--', '-i', '--total-num-mbufs=32768',
           '--rxq=%d' % queues, '--txq=%d' % queues]
    say('testpmd: ' + ' '.join(cmd))
    tp = Testpmd(cmd)
    rig.procs.append(tp.p)
    return tp


def scenario_dpdk(a, rig):
    if not shutil.which('dpdk-testpmd'):
        raise Fail('dpdk-testpmd not installed (package dpdk)')
    rig.start(',queues=%d%s' % (a.queues, a.port_opts))
    tp = start_testpmd(rig, a.vdev_extra, a.queues)
    tp.wait_for(r'testpmd>|Port 0: ', 120)
    # the static neighbour: the namespace sends straight to testpmd's MAC
    rig.nsexec(['ip', 'neigh', 'add', GUEST_IP, 'lladdr', PEER_MAC, 'dev',
                rig.tap, 'nud', 'permanent'])
    mark = len(tp.out)
    tp.cmd('set fwd rxonly')
    tp.cmd('start')
    tp.wait_for(r'rxonly packet forwarding', 30, mark)
    for _ in range(100):
        if rig.stats()['port vu0'].get('up') == '1':
            break
        time.sleep(0.1)
    else:
        raise Fail('the vhost-user port never came up')
    # testpmd prints the line above before its forwarding has started:
    # with a release-build daemon the first ping was missing from the
    # totals 'stop' prints (199 of 200, 5 runs of 5) while testpmd's
    # cumulative port counter had all 200.  A second's pause lets the
    # start finish.
    time.sleep(1)
    before = rig.stats()
    rig.nsexec(['busybox', 'ping', '-c', '200', '-i', '0.01', '-W', '1',
                GUEST_IP],
               check=False)
    settle_rx(tp, rig, 'port vu0')
    mark = len(tp.out)
    tp.cmd('stop')
    rx, _, mark = tp.fwd_stats(mark)
    mid = rig.stats()
    tp.cmd('set fwd txonly')
    tp.cmd('start')
    tp.wait_for(r'txonly packet forwarding', 30, mark)
    time.sleep(a.seconds)
    mark = len(tp.out)
    tp.cmd('stop')
    _, tx, mark = tp.fwd_stats(mark)
    time.sleep(1)
    steer_errs = steer_check(a, rig) if a.queues > 1 else []
    tp.cmd('quit')
    try:
        tp.p.wait(60)
    except subprocess.TimeoutExpired:
        raise Fail('testpmd did not quit')
    after = rig.stats()
    ktap = rig.kernel_tap()
    d = lambda s, p, k: int(s[p][k]) - int(before[p][k])  # noqa: E731
    vu, tap = 'port vu0', 'port ' + rig.tap
    errs = []
    say('host -> testpmd: 200 pings, testpmd rx %d, vu0 out %d, tap in %d'
        % (rx, d(mid, vu, 'out_packets'), d(mid, tap, 'in_packets')))
    if not (rx == 200 == d(mid, vu, 'out_packets') ==
            d(mid, tap, 'in_packets')):
        errs.append('host -> testpmd counters disagree')
    vin = int(after[vu]['in_packets']) - int(mid[vu]['in_packets'])
    tout = int(after[tap]['out_packets']) - int(mid[tap]['out_packets'])
    tdrop = sum(int(after[tap][k]) - int(mid[tap][k])
                for k in after[tap] if k.startswith('drop_'))
    say('testpmd -> host: testpmd tx %d, vu0 in %d, tap out %d + dropped %d,'
        ' kernel tap rx %d' % (tx, vin, tout, tdrop, ktap['rx']['packets']))
    if tx == 0:
        errs.append('testpmd transmitted nothing')
    if tx != vin:
        errs.append('testpmd tx %d != vu0 in %d' % (tx, vin))
    if vin != tout + tdrop:
        errs.append('vu0 in %d != tap out %d + drops %d' % (vin, tout,
                                                            tdrop))
    if ktap['rx']['packets'] != int(after[tap]['out_packets']):
        errs.append('kernel tap rx %d != daemon tap out %s' % (
            ktap['rx']['packets'], after[tap]['out_packets']))
    if tout == 0:
        errs.append('nothing reached the tap')
    qsum = sum(int(after['queue vu0/%d' % q]['tx_packets'])
               for q in range(a.queues))
    if qsum != int(after[vu]['in_packets']):
        errs.append('queue counters %d != port in %s' % (
            qsum, after[vu]['in_packets']))
    errs += check_bad_drops(after, vu) + check_bad_drops(after, tap)
    return errs + steer_errs


def steer_check(a, rig):
    """64 UDP flows from the namespace to testpmd's MAC: with MQ the
    daemon steers them by flow hash over every receive queue (VIRTIO 1.2,
    5.1.6.5.5), so each queue gets some (testpmd, stopped, keeps them)."""
    def per_queue():
        st = rig.stats()
        return [int(st['queue vu0/%d' % q]['rx_packets'])
                for q in range(a.queues)]
    q0 = per_queue()
    rig.nsexec([sys.executable, '-c',
                'import socket\n'
                'for i in range(64):\n'
                '    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n'
                '    s.sendto(b"x" * 32, ("%s", 9))\n'
                '    s.close()\n' % GUEST_IP])
    time.sleep(1)
    got = [b - c for b, c in zip(per_queue(), q0)]
    say('64 UDP flows to testpmd, per receive queue: %s' % got)
    errs = []
    if sum(got) != 64:
        errs.append('%d of 64 flows delivered' % sum(got))
    if 0 in got:
        errs.append('a receive queue got none of 64 flows (no RX steering)')
    return errs


# ---- guest

def host_side(a):
    """Runs inside the namespace: ping the guest, 64 MiB each way."""
    res = {}
    data = open(a.data, 'rb').read()
    r = subprocess.run(['busybox', 'ping', '-c', '3', '-W', '5', GUEST_IP],
                       stdout=subprocess.DEVNULL)
    res['ping'] = r.returncode == 0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST_IP, 5002))
    ls.listen(1)
    t0 = time.time()
    for _ in range(120):
        try:
            s = socket.create_connection((GUEST_IP, 5001), timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    else:
        res['err'] = 'cannot connect to the guest'
        print(json.dumps(res))
        return
    s.settimeout(300)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    res['tx_s'] = time.time() - t0
    ls.settimeout(300)
    c, _ = ls.accept()
    c.settimeout(300)
    t0 = time.time()
    h, n = hashlib.md5(), 0
    while n < len(data):
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.close()
    res['rx_s'] = time.time() - t0
    res['rx_bytes'] = n
    res['rx_md5'] = h.hexdigest()
    print(json.dumps(res))


def start_guest(a, rig, script_name, env, port='', mem='512M', qmp=None,
                incoming=None, sock=None, tag='guest'):
    """Boot the guest kit with tests/peers/net/@script_name on the
    daemon's vu0 port (@sock instead: another port of a daemon already
    started); returns (qemu, marks, ready event).  @qmp: a QMP socket
    path; @incoming: wait for a migration from this URI."""
    import guestkit
    try:
        kit = guestkit.kit()
    except guestkit.KitUnavailable as e:
        raise Fail('guest kit: %s' % e)
    qemu = shutil.which('qemu-system-x86_64')
    if not qemu:
        raise Fail('qemu-system-x86_64 not installed')
    script = open(os.path.join(HERE, 'net', script_name), 'rb').read()
    initrd = os.path.join(rig.tmp, 'initrd-%s.cpio' % tag)
    with open(initrd, 'wb') as out, open(kit['initrd'], 'rb') as base:
        shutil.copyfileobj(base, out)
        out.write(guestkit.overlay({'scenario.sh': (script, 0o755),
                                    'etc/vhk.env': (env.encode(), 0o644)}))
    machine, dev, extra = 'q35', ('virtio-net-pci,netdev=n0,'
                                  'mac=%s,vectors=0' % GUEST_MAC), []
    append = ('console=ttyS0 panic=-1 loglevel=4 vhk.timeout=%d '
              'init_on_alloc=0' % (a.timeout - 20))
    if a.viommu:
        # behind a PCIe root port so the guest enables ATS and sends
        # device-IOTLB invalidations (QEMU forwards them to the back-end)
        machine += ',kernel-irqchip=split'
        extra = ['-device', 'intel-iommu,intremap=on,device-iotlb=on',
                 '-device', 'pcie-root-port,id=rp0,chassis=1,slot=1']
        dev += ',bus=rp0,iommu_platform=on,ats=on,disable-legacy=on'
        append += ' intel_iommu=on'
    if a.restart:
        # QEMU is the server: the daemon connects and reconnects
        chardev = 'socket,id=c0,path=%s,server=on' % rig.sock
    else:
        chardev = 'socket,id=c0,path=' + (sock or rig.sock)
    if qmp:
        extra += ['-qmp', 'unix:%s,server=on,wait=off' % qmp]
    if incoming:
        extra += ['-incoming', incoming]
    if not sock:
        rig.start(port)
    cmd = [qemu, '-machine', machine, '-accel', 'tcg,thread=multi',
           '-cpu', 'max', '-smp', '1', '-m', mem,
           '-object', 'memory-backend-memfd,id=mem,size=%s,share=on' % mem,
           '-numa', 'node,memdev=mem', '-nographic', '-nodefaults',
           '-serial', 'stdio', '-no-reboot',
           '-kernel', kit['kernel'], '-initrd', initrd,
           '-append', append] + extra + [
           '-chardev', chardev,
           '-netdev', 'vhost-user,id=n0,chardev=c0', '-device', dev]
    say('qemu: ' + ' '.join(cmd[1:]))
    q = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         errors='replace')
    rig.procs.append(q)
    marks, ready = [], threading.Event()

    def reader():
        for line in q.stdout:
            line = line.rstrip()
            if line.startswith('VHK-'):
                marks.append(line)
                say('%s: %s' % (tag, line))
                if line == 'VHK-READY':
                    ready.set()
    q.reader = threading.Thread(target=reader, daemon=True)
    q.reader.start()
    return q, marks, ready


def end_guest(a, q, marks):
    errs = []
    try:
        q.wait(a.timeout)
    except subprocess.TimeoutExpired:
        errs.append('QEMU still running after %d s' % a.timeout)
    q.reader.join(5)
    if 'VHK-END rc=0' not in marks:
        errs.append('guest did not end with rc=0')
    errs += ['guest: ' + m for m in marks if m.startswith('VHK-RESULT FAIL')]
    return errs


def scenario_guest(a, rig):
    size = a.mib << 20
    data = os.urandom(size)
    md5 = hashlib.md5(data).hexdigest()
    dpath = os.path.join(rig.tmp, 'data')
    with open(dpath, 'wb') as f:
        f.write(data)
    env = 'VHK_MD5=%s\nVHK_SIZE=%d\n' % (md5, size)
    port = (',iommu=on' if a.viommu else '') + (',client' if a.restart
                                                  else '')
    q, marks, ready = start_guest(
        a, rig, 'guest-restart.sh' if a.restart else 'guest-net.sh', env,
        port)
    errs = []
    if not ready.wait(a.timeout):
        errs.append('guest never got ready')
    elif a.restart:
        time.sleep(2)
        say('restarting vhostkit-net (SIGKILL, then a new daemon)')
        rig.daemon.kill()
        rig.daemon.wait()
        time.sleep(1)
        rig.start(port, new_ns=False)
        say('new daemon up')
    else:
        out = rig.nsexec([sys.executable, os.path.abspath(__file__),
                          '--host-side', '--data', dpath], check=False,
                         timeout=a.timeout)
        try:
            res = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res = {'err': 'host side: ' + out[-500:]}
        say('host side: %s' % res)
        if res.get('err'):
            errs.append(res['err'])
        if not res.get('ping'):
            errs.append('host could not ping the guest')
        if res.get('rx_md5') != md5 or res.get('rx_bytes') != size:
            errs.append('guest -> host: %s bytes, md5 %s (want %d, %s)' % (
                res.get('rx_bytes'), res.get('rx_md5'), size, md5))
        else:
            say('64 MiB host -> guest %.1f s, guest -> host %.1f s' % (
                res['tx_s'], res['rx_s']) if a.mib == 64 else 'ok')
    errs += end_guest(a, q, marks)
    st = rig.stats()
    # a restarted daemon's new tap is down until the test configures it:
    # the guest's pings meanwhile fail to be written (EIO), counted
    errs += check_bad_drops(st, 'port vu0') + check_bad_drops(
        st, 'port ' + rig.tap, ('drop_io_error',) if a.restart else ())
    say('vu0: in %s out %s sw_csum %s sw_segments %s' % (
        st['port vu0']['in_packets'], st['port vu0']['out_packets'],
        st['port vu0']['sw_csum'], st['port vu0']['sw_segments']))
    modes = set()
    for line in open(rig.log):
        if 'features acked' in line:
            say('guest acked: ' + line.split('acked:', 1)[1].strip())
        m = re.search(r'started: mode (\S+)', line)
        if m:
            modes.add(m.group(1))
    want = 'iotlb' if a.viommu else 'gpa'
    say('ring translation modes: %s' % sorted(modes))
    if modes != {want}:
        errs.append('rings ran in %s, want only %s' % (sorted(modes), want))
    return errs


def settle_rx(tp, rig, port):
    """Before testpmd's rx forwarding is stopped and counted: the last
    frames the switch put on testpmd's rx ring (switch @port's
    out_packets) may not have been polled yet, and stopping now would
    leave them uncounted (seen on a loaded machine: vu2 out 14, testpmd rx
    13).  Wait until testpmd's port 0 counter has caught up with the
    switch's, for at most 10 s (the caller's checks then report the
    difference)."""
    settle = time.time() + 10
    while time.time() < settle and tp.rx_packets((0,)) != \
            int(rig.stats()[port]['out_packets']):
        time.sleep(0.2)


def scenario_guest_dpdk(a, rig):
    """Issue scenario 2: a Linux guest (vu0) and a DPDK virtio-user
    testpmd (vu2) talking through the switch, both ways, counters agree."""
    if not shutil.which('dpdk-testpmd'):
        raise Fail('dpdk-testpmd not installed (package dpdk)')
    rig.extra_ports = ['socket=' + rig.sock1]
    tpp = 'port vu2'        # ports: vu0, the tap, then testpmd's
    q, marks, ready = start_guest(a, rig, 'guest-dpdk.sh',
                                  'VHK_PEER_IP=%s\nVHK_PEER_MAC=%s\n' % (
                                      PEER_IP, PEER_MAC))
    tp = start_testpmd(rig, '', 1, sock=rig.sock1)
    tp.wait_for(r'testpmd>|Port 0: ', 120)
    mark = len(tp.out)
    tp.cmd('set fwd rxonly')
    tp.cmd('start')
    tp.wait_for(r'rxonly packet forwarding', 30, mark)
    errs = []
    if not ready.wait(a.timeout):
        raise Fail('guest never got ready')
    end = time.time() + a.timeout
    while 'VHK-PINGED' not in marks and time.time() < end and \
            q.poll() is None:
        time.sleep(0.2)
    settle_rx(tp, rig, tpp)
    mark = len(tp.out)
    tp.cmd('stop')
    rx, _, mark = tp.fwd_stats(mark)
    mid = rig.stats()
    say('guest -> testpmd: testpmd rx %d, vu0 in %s, vu2 out %s' % (
        rx, mid['port vu0']['in_packets'], mid[tpp]['out_packets']))
    if rx < 10 or rx != int(mid['port vu0']['in_packets']):
        errs.append('testpmd received %d, the guest sent %s (20 pings)' % (
            rx, mid['port vu0']['in_packets']))
    if rx != int(mid[tpp]['out_packets']):
        errs.append('testpmd rx %d != vu2 out %s' % (
            rx, mid[tpp]['out_packets']))
    # testpmd -> guest: UDP frames to the guest's MAC, counted in the guest
    tp.cmd('set eth-peer 0 %s' % GUEST_MAC)
    tp.cmd('set fwd txonly')
    tp.cmd('start')
    tp.wait_for(r'txonly packet forwarding', 30, mark)
    while 'VHK-GOT' not in ' '.join(marks) and time.time() < end and \
            q.poll() is None:
        time.sleep(0.2)
    mark = len(tp.out)
    tp.cmd('stop')
    _, tx, mark = tp.fwd_stats(mark)
    tp.cmd('quit')
    try:
        tp.p.wait(60)
    except subprocess.TimeoutExpired:
        errs.append('testpmd did not quit')
    errs += end_guest(a, q, marks)
    after = rig.stats()
    vin = int(after[tpp]['in_packets']) - \
        int(mid[tpp]['in_packets'])
    vout = int(after['port vu0']['out_packets']) - \
        int(mid['port vu0']['out_packets'])
    vdrop = sum(int(after['port vu0'][k]) - int(mid['port vu0'][k])
                for k in after['port vu0'] if k.startswith('drop_'))
    say('testpmd -> guest: testpmd tx %d, vu2 in %d, vu0 out %d + dropped '
        '%d (a TCG guest is slower than testpmd)' % (tx, vin, vout, vdrop))
    if tx == 0 or tx != vin:
        errs.append('testpmd tx %d != vu2 in %d' % (tx, vin))
    if vout == 0:
        errs.append('nothing reached the guest')
    # the guest powers off while testpmd still sends: link_down after it
    errs += check_bad_drops(after, tpp) + check_bad_drops(
        after, 'port vu0', ('drop_link_down',))
    return errs


def host_send(a):
    """Runs inside the namespace: send @a.data to the guest over TCP.
    The first quarter at full speed, then "PROGRESS" on stdout and 64 KiB
    every 0.1 s (traffic during the migration) until "GO" on stdin, then
    the rest at full speed; "DONE" when the guest closed."""
    data = open(a.data, 'rb').read()
    for _ in range(120):
        try:
            s = socket.create_connection((GUEST_IP, 5001), timeout=5)
            break
        except OSError:
            time.sleep(0.5)
    else:
        print('ERR cannot connect to the guest', flush=True)
        return
    s.settimeout(300)
    q = len(data) // 4
    s.sendall(data[:q])
    print('PROGRESS %d bytes' % q, flush=True)
    off = q
    while off < 3 * q:
        if select.select([sys.stdin], [], [], 0.1)[0]:
            break
        s.sendall(data[off:off + 65536])
        off += 65536
    sys.stdin.readline()
    print('RESUMED at %d bytes' % off, flush=True)
    s.sendall(data[off:])
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    print('DONE', flush=True)


def scenario_guest_migrate(a, rig):
    """Issue 10 for net: the guest receives a TCP stream from the host's
    tap while it is live-migrated to a second QEMU on another port of the
    same switch; the stream arrives whole (md5 in the guest), the guest
    reaches the host afterwards, and SEND_RARP (QEMU's announce for a
    guest without GUEST_ANNOUNCE) moved its MAC to the new port."""
    from migratepeer import QMP
    size = a.mib << 20
    data = os.urandom(size)
    md5 = hashlib.md5(data).hexdigest()
    dpath = os.path.join(rig.tmp, 'data')
    with open(dpath, 'wb') as f:
        f.write(data)
    env = 'VHK_MD5=%s\nVHK_SIZE=%d\n' % (md5, size)
    # 256 MiB - 8 KiB: the size QEMU 7.2 TCG migrates reliably
    mem = '262136K'
    rig.extra_ports = ['socket=' + rig.sock1]       # vu2: the destination
    qsrc, qdst = (os.path.join(rig.tmp, n) for n in ('qmp-src', 'qmp-dst'))
    uri = 'unix:' + os.path.join(rig.tmp, 'migrate.sock')
    q, marks, ready = start_guest(a, rig, 'guest-migrate.sh', env, mem=mem,
                                  qmp=qsrc, tag='source')
    qd, dmarks, _ = start_guest(a, rig, 'guest-migrate.sh', env, mem=mem,
                                qmp=qdst, incoming=uri, sock=rig.sock1,
                                tag='destination')
    errs = []
    if not ready.wait(a.timeout):
        raise Fail('guest never got ready')
    sender = subprocess.Popen(
        ['ip', 'netns', 'exec', rig.ns, sys.executable,
         os.path.abspath(__file__), '--host-send', '--data', dpath],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rig.procs.append(sender)
    line = ''
    while not line.startswith('PROGRESS'):
        line = sender.stdout.readline()
        if not line or line.startswith('ERR'):
            raise Fail('host sender: %s' % (line.strip() or 'exited'))
    before = rig.stats()
    say('%s sent; migrating' % line.strip())
    src = QMP(qsrc)
    src.cmd('migrate', uri=uri)
    end = time.time() + a.timeout
    status = ''
    while time.time() < end:
        status = src.cmd('query-migrate').get('status', '')
        if status in ('completed', 'failed', 'cancelled'):
            break
        time.sleep(0.5)
    say('migration: %s' % status)
    if status != 'completed':
        raise Fail('migration ended %r' % status)
    src.cmd('quit')
    src.close()
    rest = sender.communicate('GO\n', timeout=a.timeout)[0]
    say('host sender: ' + ' / '.join(rest.split('\n')))
    if 'DONE' not in rest:
        errs.append('the host could not finish the stream: %s' %
                    rest.strip()[-200:])
    errs += end_guest(a, qd, dmarks)        # the destination runs it out
    errs += ['guest: ' + m for m in marks if m.startswith('VHK-RESULT FAIL')]
    after = rig.stats()
    moved = int(after['switch']['moved']) - int(before['switch']['moved'])
    say('switch: %d MAC moves; vu0 in %s, vu2 in %s out %s' % (
        moved, after['port vu0']['in_packets'],
        after['port vu2']['in_packets'], after['port vu2']['out_packets']))
    if moved < 1:
        errs.append('the guest MAC never moved to the destination port')
    if int(after['port vu2']['out_packets']) == 0:
        errs.append('nothing reached the guest on the destination port')
    # QEMU's SET_LOG_BASE then SET_FEATURES with VHOST_F_LOG_ALL
    log = open(rig.log).read()
    if not re.search(r'vu0\]: info: dirty logging on', log):
        errs.append('the source port never switched dirty logging on')
    return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--scenario', choices=['dpdk', 'guest', 'guest-dpdk',
                                           'guest-migrate'])
    ap.add_argument('--build-dir')
    ap.add_argument('--name', default='net')
    ap.add_argument('--queues', type=int, default=1)
    ap.add_argument('--vdev-extra', default='')
    ap.add_argument('--port-opts', default='',
                    help='more options of the socket port (dpdk scenario)')
    ap.add_argument('--seconds', type=float, default=2)
    ap.add_argument('--mib', type=int, default=64)
    ap.add_argument('--timeout', type=int, default=360)
    ap.add_argument('--viommu', action='store_true',
                    help='guest: intel-iommu, the device behind a root '
                    'port with iommu_platform=on,ats=on; port iommu=on')
    ap.add_argument('--restart', action='store_true',
                    help='guest: client-mode port, the daemon is killed '
                    'and restarted while the guest pings')
    ap.add_argument('--host-side', action='store_true')
    ap.add_argument('--host-send', action='store_true')
    ap.add_argument('--data')
    a = ap.parse_args()
    if a.host_side:
        host_side(a)
        return 0
    if a.host_send:
        host_send(a)
        return 0
    a.bin = os.path.join(a.build_dir, 'tools', 'vhostkit-net')
    a.cli = os.path.join(a.build_dir, 'tools', 'vhostkit')
    if not os.path.exists(a.bin):
        say('SKIP: %s not built' % a.bin)
        return SKIP
    if os.geteuid() != 0 or not shutil.which('ip'):
        say('FAIL: needs root and iproute2 (network namespaces)')
        return 1
    tmp = tempfile.mkdtemp(prefix='vhknet-')
    rig = Rig(a, tmp)
    errs = []
    try:
        errs = {'dpdk': scenario_dpdk, 'guest': scenario_guest,
                'guest-dpdk': scenario_guest_dpdk,
                'guest-migrate': scenario_guest_migrate}[a.scenario](a, rig)
    except (Fail, TestpmdError) as e:
        errs = [str(e)]
    except subprocess.TimeoutExpired as e:
        errs = ['timeout: %s' % e]
    finally:
        errs += rig.stop()
    if errs:
        for e in errs:
            say('FAIL: ' + e)
        say('daemon log tail:\n' + ''.join(open(rig.log).readlines()[-15:])
            if os.path.exists(rig.log) else 'no daemon log')
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    say('PASS %s' % a.name)
    return 0


if __name__ == '__main__':
    sys.exit(main())
