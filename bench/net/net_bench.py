#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/net/net_bench.py - vhostkit-net against DPDK's vhost PMD (net_vhost).

Loopback topology, same machine, same run, rounds alternating:

  generator: one dpdk-testpmd with two virtio-user ports (io forward,
             interactive, "start tx_first 64": 64 bursts circulate, so the
             loop runs at the back-end's rate, not at its latency); every
             thread of it on CPU 0.
  back-end:  cross-connects its two vhost-user ports; every thread of it
             on CPU 1 (the same core budget for each back-end):
    vhk-poll   vhostkit-net, two socket ports with ",poll"
    vhk-event  vhostkit-net, two socket ports, event driven (kicks)
    dpdk       dpdk-testpmd with two net_vhost ports, io forward

Only one back-end runs at a time (the others are not started), so a
busy-polling back-end never steals the core of the one being measured.
For each frame size (64 B and 1518 B by default) and back-end it prints the
median over the rounds of the forwarded packet rate (Mpps, both directions
summed, counted by the generator's receive counters over the measuring
window), Gbit/s, and the back-end's CPU time per packet (all its threads,
/proc/PID/stat utime + stime), then the ratios of medians against dpdk.
The loop only ever loses frames (the generator's io forward drops what a
full TX ring does not take); a run in which nothing comes back is said so,
with the generator's drop count, and repeated; three dead runs in a row
count as a 0 Mpps round and the summary says how many there were.

  python3 bench/net/net_bench.py [--seconds S] [--rounds N] [--sizes 64,1518]
                                 [--backends vhk-poll,vhk-event,dpdk]
                                 [--gen-fwd io|mac]

Wall-clock rates on a shared machine are noisy: only same-run ratios mean
anything.  vhostkit-net is built in build/bench-net (release) unless
VHK_BUILD_DIR names a build with tools/vhostkit-net.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(TOP, 'tests', 'peers'))
from testpmd import Testpmd, TestpmdError  # noqa: E402
HZ = os.sysconf('SC_CLK_TCK')


class Fail(Exception):
    pass


def say(msg):
    print(msg, flush=True)


def build_daemon():
    bd = os.environ.get('VHK_BUILD_DIR', os.path.join(TOP, 'build',
                                                      'bench-net'))
    exe = os.path.join(bd, 'tools', 'vhostkit-net')
    if not os.path.exists(os.path.join(bd, 'build.ninja')):
        subprocess.run(['meson', 'setup', bd, '-Dtests=false',
                        '--buildtype=release'], cwd=TOP, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(['ninja', '-C', bd, 'tools/vhostkit-net'], check=True,
                   stdout=subprocess.DEVNULL)
    return exe


def testpmd_path():
    tp = shutil.which('dpdk-testpmd')
    if not tp:
        say('== installing dpdk (dpdk-testpmd)')
        subprocess.run(['apt-get', 'install', '-y', '-q',
                        '--no-install-recommends', 'dpdk'], check=True,
                       stdout=subprocess.DEVNULL)
        tp = shutil.which('dpdk-testpmd')
    if not tp:
        raise Fail('dpdk-testpmd not found after installing dpdk')
    return tp


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def wait_socket(path, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise Fail('back-end exited before creating %s' % path)
        time.sleep(0.05)
    raise Fail('no socket %s within %d s' % (path, timeout))


class Backend:
    def __init__(self, kind, daemon, testpmd, d, tag):
        self.kind = kind
        self.socks = [os.path.join(d, '%s-%d.sock' % (tag, i))
                      for i in (0, 1)]
        for s in self.socks:
            if os.path.exists(s):
                os.unlink(s)
        self.tp = None
        if kind in ('vhk-poll', 'vhk-event'):
            extra = ',poll' if kind == 'vhk-poll' else ''
            argv = ['taskset', '-c', '1', daemon]
            for s in self.socks:
                argv += ['--port', 'socket=%s%s' % (s, extra)]
            self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            self.pid = self.p.pid
        else:
            argv = [testpmd, '--lcores', '0@1,1@1', '--no-huge', '-m', '1024',
                    '--no-pci', '--file-prefix', 'vhkbe%d' % os.getpid()]
            for i, s in enumerate(self.socks):
                argv += ['--vdev', 'net_vhost%d,iface=%s,queues=1' % (i, s)]
            argv += ['--', '-i', '--total-num-mbufs=32768',
                     '--forward-mode=io', '--nb-cores=1']
            self.tp = Testpmd(argv, 'dpdk back-end')
            self.p = self.tp.p
            self.pid = self.p.pid
            self.tp.wait_ready()
            self.tp.cmd('start')
        for s in self.socks:
            wait_socket(s, self.p)

    def ticks(self):
        return cpu_ticks(self.pid)

    def stop(self):
        if self.tp:
            self.tp.quit()
        elif self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def one_run(kind, size, a, daemon, testpmd, d, n):
    be = Backend(kind, daemon, testpmd, d, 'r%d' % n)
    gen = None
    try:
        argv = [testpmd, '--lcores', '0@0,1@0', '--no-huge', '-m', '1024',
                '--no-pci', '--file-prefix', 'vhkgen%d' % os.getpid()]
        for i, s in enumerate(be.socks):
            argv += ['--vdev', 'net_virtio_user%d,path=%s,queues=1,'
                     'mac=02:00:00:00:01:%02x' % (i, s, i)]
        argv += ['--', '-i', '--total-num-mbufs=32768',
                 '--forward-mode=%s' % a.gen_fwd, '--nb-cores=1']
        gen = Testpmd(argv, 'generator')
        gen.wait_ready()
        if size != 64:
            gen.cmd('set txpkts %d' % size)
        # The back-end handles each port's vhost-user messages on its
        # own; on a loaded machine the first bursts may find the other
        # port not up yet and die (dropped, nothing circulates): give it
        # a second, and start them again while nothing has come back.
        time.sleep(1)
        for _ in range(3):
            gen.cmd('start tx_first 64')
            time.sleep(a.warmup)
            if gen.rx_packets() > 0:
                break
            gen.cmd('stop')
            time.sleep(0.5)
        p0, t0, w0 = gen.rx_packets(), be.ticks(), time.time()
        time.sleep(a.seconds)
        p1, t1, w1 = gen.rx_packets(), be.ticks(), time.time()
        mark = len(gen.out)
        gen.cmd('stop')
        if be.p.poll() is not None:
            raise Fail('%s exited during the run' % kind)
        pkts = p1 - p0
        if pkts <= 0:
            # The loop only ever loses frames: the generator's io forward
            # drops what its full TX ring does not take.  A slow back-end
            # can lose all of them; say where they went.
            i = gen.wait_for(r'Accumulated forward statistics', 60, mark)
            txt = ' '.join(gen.out[i:i + 8])
            m = re.search(r'TX-dropped:\s*(\d+)', txt)
            return None, 'the loop died: nothing came back in %g s (the ' \
                'generator dropped %s frames on full TX rings)' % (
                    a.seconds, m.group(1) if m else '?')
        secs = w1 - w0
        cpu = (t1 - t0) / HZ
        return (pkts / secs, cpu / pkts), None
    finally:
        if gen:
            gen.quit()
        be.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--warmup', type=float, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--sizes', default='64,1518')
    ap.add_argument('--backends', default='vhk-poll,vhk-event,dpdk')
    ap.add_argument('--gen-fwd', default='io', choices=('io', 'mac'))
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise Fail('run as root (DPDK in --no-huge mode still needs it)')
    if os.cpu_count() < 2:
        raise Fail('needs two CPUs (generator on 0, back-end on 1)')
    kinds = a.backends.split(',')
    sizes = [int(s) for s in a.sizes.split(',')]
    daemon = build_daemon()
    testpmd = testpmd_path()
    d = tempfile.mkdtemp(prefix='vhk-net-bench-')
    res = {(k, s): [] for k in kinds for s in sizes}
    dead = {(k, s): 0 for k in kinds for s in sizes}
    n = 0
    try:
        for s in sizes:
            for r in range(a.rounds):
                for k in kinds:
                    for attempt in range(3):
                        n += 1
                        got, why = one_run(k, s, a, daemon, testpmd, d, n)
                        if got:
                            break
                        say('round %d  %-9s %5d B  %s%s' % (
                            r + 1, k, s, why,
                            ', again' if attempt < 2 else ''))
                    if not got:
                        # three dead loops in a row: a result, not noise
                        got = (0.0, float('nan'))
                        dead[(k, s)] += 1
                    pps, cpp = got
                    res[(k, s)].append((pps, cpp))
                    say('round %d  %-9s %5d B  %7.3f Mpps  %7.2f Gbit/s  '
                        '%6.1f ns CPU/pkt' % (r + 1, k, s, pps / 1e6,
                                              pps * s * 8 / 1e9, cpp * 1e9))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    say('')
    say('median of %d rounds, %g s each, generator fwd=%s' % (
        a.rounds, a.seconds, a.gen_fwd))
    say('%-9s %6s %10s %10s %12s' % ('back-end', 'size', 'Mpps', 'Gbit/s',
                                      'ns CPU/pkt'))
    med = {}
    for s in sizes:
        for k in kinds:
            pps = statistics.median(x[0] for x in res[(k, s)])
            cpp = statistics.median([x[1] for x in res[(k, s)]
                                     if x[1] == x[1]] or [float('nan')])
            med[(k, s)] = (pps, cpp)
            say('%-9s %6d %10.3f %10.2f %12.1f%s' % (
                k, s, pps / 1e6, pps * s * 8 / 1e9, cpp * 1e9,
                '   (%d dead round(s) counted as 0)' % dead[(k, s)]
                if dead[(k, s)] else ''))
    if 'dpdk' in kinds:
        say('')
        for s in sizes:
            b = med[('dpdk', s)]
            for k in kinds:
                if k == 'dpdk':
                    continue
                m = med[(k, s)]
                if b[0] <= 0:
                    say('%-9s / dpdk at %4d B: no ratio, dpdk forwarded '
                        'nothing' % (k, s))
                    continue
                say('%-9s / dpdk at %4d B: rate %.2fx, CPU per packet %.2fx'
                    % (k, s, m[0] / b[0], m[1] / b[1]))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (Fail, TestpmdError) as e:
        print('net_bench: %s' % e, file=sys.stderr)
        sys.exit(1)
