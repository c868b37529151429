#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest fio benchmark: vhostkit-blk against qemu-storage-daemon.

The same guest (tests/peers kit with fio) runs the same fio jobs (libaio,
direct=1: 4k randread and randwrite at iodepth 32, 128k sequential read at
iodepth 32), once against each back-end, on the same image, in the same run.
The back-end's CPU time (utime+stime from /proc/PID/stat) is sampled when
the guest starts and ends each job.  Prints IOPS, MB/s, back-end CPU per I/O
and the ratios vhostkit/qsd.  A program, not a test: numbers under TCG are
for comparison within one run only.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'peers'))
import vhkpeer  # noqa: E402

# Same I/O path as vhostkit-blk (O_DIRECT + io_uring) unless --qsd-opts says
# otherwise.
QSD_CMD = ('qemu-storage-daemon --blockdev driver=file,node-name=disk,'
           'filename={disk},{opts} --export type=vhost-user-blk,id=exp,'
           'node-name=disk,addr.type=unix,addr.path={sock},writable=on,'
           'num-queues={queues}')

JOBS = [('randread', 4096, 'r'), ('randwrite', 4096, 'w'),
        ('seqread', 131072, 'r')]


def run_backend(backend, image, opts):
    samples = {}
    results = {}

    def on_mark(run, line):
        f = line.split(None, 2)
        if f[0] in ('VHK-FIO-START', 'VHK-FIO-DONE'):
            samples[(f[0], f[1])] = vhkpeer.cpu_seconds(run.backend_pid)
        elif f[0] == 'VHK-FIO-RESULT' and len(f) == 3:
            results[f[1]] = f[2].split(';')

    argv = ['--name', 'bench-' + backend, '--scenario', 'fio', '--fio',
            '--backend', backend, '--disk', image,
            '--timeout', str(60 + 3 * (opts.runtime + 15)),
            '--guest-env', 'FIO_RUNTIME=%d' % opts.runtime,
            '--guest-env', 'FIO_SIZE_MB=%d' % opts.fio_mb,
            '--queues', str(opts.queues), '--smp', str(opts.queues)]
    if opts.build_dir:
        argv += ['--build-dir', opts.build_dir]
    if backend == 'vhostkit':
        argv += ['--iommu', 'auto']
    else:
        argv += ['--backend-cmd', QSD_CMD.replace('{opts}', opts.qsd_opts)]
    rc, _ = vhkpeer.run(vhkpeer.parse(argv), on_mark=on_mark)
    if rc != 0:
        return rc, None
    out = {}
    for job, bs, d in JOBS:
        t = results.get(job)
        if not t or len(t) < 50:
            print('no fio result for %s/%s' % (backend, job))
            return 1, None
        kb, iops = (int(t[5]), float(t[7])) if d == 'r' else \
            (int(t[46]), float(t[48]))
        bw_kb = int(t[6]) if d == 'r' else int(t[47])
        ios = kb * 1024 // bs
        cpu = samples[('VHK-FIO-DONE', job)] - samples[('VHK-FIO-START', job)]
        out[job] = {'iops': iops, 'mbs': bw_kb / 1024.0, 'ios': ios,
                    'cpu': cpu, 'cpu_us_per_io': cpu * 1e6 / max(ios, 1)}
    return 0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--build-dir', default=os.environ.get('VHK_BUILD_DIR'))
    ap.add_argument('--runtime', type=int, default=10, help='s per fio job')
    ap.add_argument('--disk-mb', type=int, default=256)
    ap.add_argument('--fio-mb', type=int, default=192)
    ap.add_argument('--queues', type=int, default=1)
    ap.add_argument('--qsd-opts', default='cache.direct=on,aio=io_uring',
                    help='qemu-storage-daemon file blockdev options')
    opts = ap.parse_args()

    tmpimg = '/tmp/vhk-bench-guest-%d.img' % os.getpid()
    try:
        with open(tmpimg, 'wb') as f:   # allocated, non-zero data
            for _ in range(opts.disk_mb):
                f.write(os.urandom(1 << 20))
        res = {}
        for backend in ('vhostkit', 'qsd'):
            print('== %s' % backend, flush=True)
            rc, r = run_backend(backend, tmpimg, opts)
            if rc == 77:
                print('%s: skipped (see above)' % backend)
            elif rc != 0:
                print('%s: run failed' % backend)
            res[backend] = r
    finally:
        os.unlink(tmpimg)

    print()
    print('guest fio, libaio direct=1, %d s per job, TCG guest, %d queue(s); '
          'vhostkit-blk (O_DIRECT, io_uring) vs qemu-storage-daemon (%s)'
          % (opts.runtime, opts.queues, opts.qsd_opts))
    print('%-10s %-9s %10s %9s %12s %14s' % ('job', 'back-end', 'IOPS',
                                             'MB/s', 'be-CPU s',
                                             'be-CPU us/IO'))
    for job, _, _ in JOBS:
        for b in ('vhostkit', 'qsd'):
            r = res.get(b)
            if not r:
                print('%-10s %-9s %10s' % (job, b, 'n/a'))
                continue
            x = r[job]
            print('%-10s %-9s %10.0f %9.1f %12.2f %14.2f'
                  % (job, b, x['iops'], x['mbs'], x['cpu'],
                     x['cpu_us_per_io']))
    if not (res.get('vhostkit') and res.get('qsd')):
        print('ratios: n/a (both back-ends must run)')
        return 2
    print()
    print('ratios vhostkit/qsd (IOPS, MB/s: higher is better; '
          'CPU/IO: lower is better)')
    for job, _, _ in JOBS:
        v, q = res['vhostkit'][job], res['qsd'][job]

        def ratio(k):
            return v[k] / q[k] if q[k] else float('nan')
        print('%-10s IOPS %.2f  MB/s %.2f  CPU/IO %.2f'
              % (job, ratio('iops'), ratio('mbs'), ratio('cpu_us_per_io')))
    return 0


if __name__ == '__main__':
    sys.exit(main())
