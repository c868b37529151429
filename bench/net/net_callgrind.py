#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/net/net_callgrind.py - user-space instructions per forwarded frame
of vhostkit-net (callgrind), in net_bench.py's loopback topology.

One dpdk-testpmd with two virtio-user ports ("start tx_first 64", io
forward) against vhostkit-net with two socket ports (",poll" unless
--event) run under valgrind --tool=callgrind.  After a warm-up the
daemon's counters are zeroed (callgrind_control -z), frames are counted by
the generator's receive counters over the window, and the counters are
dumped (callgrind_control -d): instructions / frames is printed, with the
top functions (self cost per frame) when --top N is given.

Instruction counts are exact and do not depend on the machine's load (no
bench lock needed); wall times under callgrind mean nothing.

  python3 bench/net/net_callgrind.py [--size 64] [--seconds 10]
                                     [--backends vhk-poll,dpdk] [--event]
                                     [--top 25] [--keep DIR]

--backends vhk-poll,dpdk measures DPDK's vhost PMD the same way (dpdk-
testpmd with two net_vhost ports in io forward under callgrind, all its
threads added up) and prints the ratio of instructions per frame.

vhostkit-net is taken from VHK_BUILD_DIR (default build/bench-net, built
release like net_bench.py's).
"""

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(TOP, 'tests', 'peers'))
from testpmd import Testpmd  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from net_bench import Fail, build_daemon, wait_socket  # noqa: E402


def total_ir(path):
    for line in open(path):
        m = re.match(r'(summary|totals):\s*(\d+)', line)
        if m:
            return int(m.group(2))
    raise SystemExit('no totals in %s' % path)


def self_costs(path):
    """[(function, self instructions)], largest first, from an
    uncompressed callgrind file (the line after calls= is a call's
    inclusive cost, not the caller's own)."""
    cost, fn, skip = {}, None, False
    for line in open(path):
        if line.startswith('fn='):
            fn = line[3:].strip()
            continue
        if line.startswith('calls='):
            skip = True
            continue
        if not line[:1].isdigit() and line[:1] not in '+-*':
            continue
        if skip:
            skip = False
            continue
        if fn is not None:
            parts = line.split()
            if len(parts) >= 2:
                cost[fn] = cost.get(fn, 0) + int(parts[1])
    return sorted(cost.items(), key=lambda kv: -kv[1])


def start_backend(kind, daemon, tp, d, socks, out):
    """The back-end under callgrind: (its Popen, a Testpmd or None)."""
    vg = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
          '--compress-strings=no', '--compress-pos=no']
    if kind == 'dpdk':
        argv = vg + [tp, '--lcores', '0@1,1@1', '--no-huge', '-m', '1024',
                     '--no-pci', '--file-prefix', 'vhkcgbe%d' % os.getpid()]
        for i, s in enumerate(socks):
            argv += ['--vdev', 'net_vhost%d,iface=%s,queues=1' % (i, s)]
        argv += ['--', '-i', '--total-num-mbufs=32768',
                 '--forward-mode=io', '--nb-cores=1']
        be = Testpmd(argv, 'dpdk back-end')
        be.wait_ready(timeout=300)
        return be.p, be
    extra = ',poll' if kind == 'vhk-poll' else ''
    argv = vg + [daemon, '--sandbox', 'none', '--seccomp', 'off']
    for s in socks:
        argv += ['--port', 'socket=%s%s' % (s, extra)]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=open(out + '.log', 'w'))
    return p, None


def measure(kind, a, daemon, tp):
    """(frames, instructions, [(function, self instructions)]) of one
    back-end over the window."""
    d = tempfile.mkdtemp(prefix='vhk-net-cg-')
    socks = [os.path.join(d, 'p%d.sock' % i) for i in (0, 1)]
    out = os.path.join(d, 'cg.out')
    dm, be, gen = None, None, None
    try:
        dm, be = start_backend(kind, daemon, tp, d, socks, out)
        for s in socks:
            wait_socket(s, dm, 120)   # valgrind starts slowly
        gargv = [tp, '--lcores', '0@0,1@0', '--no-huge', '-m', '1024',
                 '--no-pci', '--file-prefix',
                 'vhkcg%d%s' % (os.getpid(), kind.replace('-', ''))]
        for i, s in enumerate(socks):
            gargv += ['--vdev', 'net_virtio_user%d,path=%s,queues=1,'
                      'mac=02:00:00:00:01:%02x' % (i, s, i)]
        gargv += ['--', '-i', '--total-num-mbufs=32768',
                  '--forward-mode=io', '--nb-cores=1']
        gen = Testpmd(gargv, 'generator')
        gen.wait_ready(timeout=300)
        if be:
            # Forwarding once both ports are up; under valgrind the
            # vhost-user set-up takes a few seconds after the generator
            # says it is ready (frames sent earlier are lost).
            time.sleep(5)
            be.cmd('start')
            time.sleep(5)
        if a.size != 64:
            gen.cmd('set txpkts %d' % a.size)
        gen.cmd('start tx_first 64')
        time.sleep(a.warmup)
        subprocess.run(['callgrind_control', '-z', str(dm.pid)],
                       check=True, stdout=subprocess.DEVNULL)
        p0 = gen.rx_packets()
        time.sleep(a.seconds)
        p1 = gen.rx_packets()
        subprocess.run(['callgrind_control', '-d', str(dm.pid)],
                       check=True, stdout=subprocess.DEVNULL)
        gen.cmd('stop')
        # One dump per thread (DPDK's lcores are threads), named
        # OUT.PID[-THREAD] (OUT.log is not one): the newest of each.
        last = {}
        for f in glob.glob(out + '.*'):
            m = re.match(r'.*\.(\d+)(-(\d+))?$', f)
            if not m:
                continue
            key = m.group(3) or '0'
            if key not in last or os.path.getmtime(f) > \
                    os.path.getmtime(last[key]):
                last[key] = f
        if not last:
            raise SystemExit('no callgrind dump (see %s)' % d)
        ir, costs = 0, {}
        for f in last.values():
            ir += total_ir(f)
            for fn, v in self_costs(f):
                costs[fn] = costs.get(fn, 0) + v
        frames = p1 - p0
        if frames <= 0:
            raise SystemExit('%s: nothing forwarded' % kind)
        if a.keep:
            os.makedirs(a.keep, exist_ok=True)
            for f in last.values():
                shutil.copy(f, a.keep)
        return frames, ir, sorted(costs.items(), key=lambda kv: -kv[1])
    finally:
        if gen:
            gen.quit()
        if be:
            be.quit(timeout=60)
        elif dm and dm.poll() is None:
            dm.send_signal(signal.SIGTERM)
            try:
                dm.wait(timeout=60)
            except subprocess.TimeoutExpired:
                dm.kill()
                dm.wait()
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--warmup', type=float, default=4)
    ap.add_argument('--event', action='store_true',
                    help='vhostkit-net in event mode (with --backends '
                    'vhk-poll it is the same as vhk-event)')
    ap.add_argument('--backends', default='vhk-poll',
                    help='comma-separated: vhk-poll, vhk-event, dpdk; '
                    'with two, the ratio of the first to the second')
    ap.add_argument('--top', type=int, default=0)
    ap.add_argument('--keep', help='keep the callgrind files in DIR')
    a = ap.parse_args()
    kinds = a.backends.split(',')
    if a.event:
        kinds = ['vhk-event' if k == 'vhk-poll' else k for k in kinds]
    for k in kinds:
        if k not in ('vhk-poll', 'vhk-event', 'dpdk'):
            raise SystemExit('unknown back-end %s' % k)
    daemon = build_daemon()
    tp = shutil.which('dpdk-testpmd')
    per = {}
    for k in kinds:
        frames, ir, costs = measure(k, a, daemon, tp)
        per[k] = ir / frames
        mode = {'vhk-poll': 'poll', 'vhk-event': 'event'}.get(k, k)
        print('RESULT size=%d mode=%s frames=%d instructions=%d '
              'per_frame=%.0f' % (a.size, mode, frames, ir, ir / frames))
        for fn, v in costs[:a.top]:
            print('%8.1f  %s' % (v / frames, fn))
        sys.stdout.flush()
    if len(kinds) == 2:
        print('instructions per frame %s / %s at %d B: %.2fx' % (
            kinds[0], kinds[1], a.size, per[kinds[0]] / per[kinds[1]]))


if __name__ == '__main__':
    try:
        main()
    except Fail as e:
        raise SystemExit('net_callgrind: %s' % e)
