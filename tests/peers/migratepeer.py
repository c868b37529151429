#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Live-migration peer test: a Linux guest doing verified I/O on a
vhostkit-blk disk is live-migrated to a second QEMU on the same machine.

Shares vhkpeer.py's machinery.  Two vhostkit-blk daemons serve the same
image file (source socket blk.sock, destination blk-dst.sock).  The
destination QEMU starts first with `-incoming unix:...`; the source boots
the guest (scenarios/migrate.sh).  When the guest prints `VHK-HOST
migrate` the host writes "MIGRATING" into a control block of the image,
sends QMP `migrate` to the source, waits for "completed" and for the
destination to run, writes "MIGRATED" and quits the source QEMU.  The
guest keeps writing and verifying blocks throughout and powers off the
destination at the end.

Checks (on top of vhkpeer's: guest verdicts, VHK-END, image contents):
  * migration completed, the destination ran the guest to its end;
  * the guest wrote blocks before, during and after the migration;
  * the source daemon switched dirty logging on (QEMU's SET_FEATURES with
    VHOST_F_LOG_ALL) after receiving a log (SET_LOG_BASE);
  * both daemons exit 0 on SIGTERM with clean sanitizer logs.

Guest memory is 256 MiB - 8 KiB (QEMU 7.2 TCG guests sometimes crash
right after a migration with other sizes, even with QEMU's own
virtio-blk: a QEMU bug) and the guest boots with init_on_alloc=0 (no
zeroing by the guest that would mark the back-end's pages dirty for it).
The guest tool (guest-src/migblk.c) reads every block into a slot of one
buffer its CPU never writes again: a slot the back-end filled during the
migration reaches the destination only through the dirty log.  The
negative control: VHOSTKIT_TEST_NO_DIRTY_LOG=1 in the source daemon's
environment (--source-env) must make this test fail.

VHK_QMP_TRACE=1 prints every QMP command and answer.
Exit 0 pass, 1 fail, 77 skip (with the reason).
"""

import json
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vhkpeer  # noqa: E402

say = vhkpeer.say
Fail = vhkpeer.Fail
BLOCK = vhkpeer.BLOCK


class QMP:
    """A minimal QMP client over a Unix socket (one command at a time)."""

    def __init__(self, path, timeout=20):
        deadline = time.time() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > deadline:
                    raise Fail('QMP socket %s not there after %d s'
                               % (path, timeout))
                time.sleep(0.1)
        self.s.settimeout(30)
        self.f = self.s.makefile('rwb')
        self.read()                     # greeting
        self.cmd('qmp_capabilities')

    def read(self):
        line = self.f.readline()
        if not line:
            raise Fail('QMP connection closed')
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.f.write(json.dumps(msg).encode() + b'\n')
        self.f.flush()
        if os.environ.get('VHK_QMP_TRACE'):
            say('qmp -> %s' % msg)
        while True:
            r = self.read()
            if os.environ.get('VHK_QMP_TRACE'):
                say('qmp <- %s' % str(r)[:300])
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise Fail('QMP %s: %s' % (name, r['error'].get('desc')))
            # an event: skip

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class MigrateRun(vhkpeer.Run):
    def __init__(self, a):
        super().__init__(a)
        self.dst_sock = os.path.join(self.tmp, 'blk-dst.sock')
        self.dst_log = os.path.join(self.tmp, 'backend-dst.log')
        self.mig_path = os.path.join(self.tmp, 'mig.sock')
        self.qmp_src = os.path.join(self.tmp, 'qmp-src.sock')
        self.qmp_dst = os.path.join(self.tmp, 'qmp-dst.sock')
        self.dst_backend = None
        self.mig_thread = None
        self.mig_done = threading.Event()
        self.mig_errs = []
        self.mig_info = {}
        self._md5s = {}

    # ------------------------------------------------------------ setup
    def make_disk(self):
        super().make_disk()
        a = self.a
        self.ctl_blk = (a.disk_mb << 20) // BLOCK - 1
        self.ctl_write(b'')
        a.guest_env = list(a.guest_env) + [
            'CTL_BLK=%d' % self.ctl_blk,
            'MIG_BEFORE=%d' % a.before_blocks,
            'MIG_AFTER=%d' % a.after_blocks,
            # 4 KiB blocks below the host-written data
            'MIG_MAX=%d' % min(a.pat_mb << 8, self.host_off * 16)]

    def ctl_write(self, text):
        data = text.ljust(BLOCK, b'\0')
        fd = os.open(self.disk, os.O_WRONLY)
        try:
            os.pwrite(fd, data, self.ctl_blk * BLOCK)
            os.fsync(fd)
        finally:
            os.close(fd)

    def start_backend(self, mode='w'):
        # source: the parent's (self.sock, self.backend_log, self.backend)
        env = os.environ.copy()
        for kv in self.a.source_env:
            k, v = kv.split('=', 1)
            os.environ[k] = v
        try:
            super().start_backend(mode)
        finally:
            os.environ.clear()
            os.environ.update(env)
        src_pid = self.backend_pid
        # destination: the same image, its own socket and log
        saved = (self.sock, self.backend_log, self.backend)
        self.sock, self.backend_log = self.dst_sock, self.dst_log
        try:
            super().start_backend(mode)
            self.dst_backend = self.backend
        finally:
            self.sock, self.backend_log, self.backend = saved
        self.backend_pid = src_pid

    def qemu_cmd(self, kit, initrd, dst=False):
        saved = self.sock
        if dst:
            self.sock = self.dst_sock
        try:
            cmd = super().qemu_cmd(kit, initrd)
        finally:
            self.sock = saved
        mem = self.a.mem
        i = cmd.index('-m')
        cmd[i + 1] = mem
        i = cmd.index('-object')
        cmd[i + 1] = 'memory-backend-memfd,id=mem,size=%s,share=on' % mem
        cmd += ['-qmp', 'unix:%s,server=on,wait=off'
                % (self.qmp_dst if dst else self.qmp_src)]
        if dst:
            cmd += ['-incoming', 'unix:' + self.mig_path]
        return cmd

    # ------------------------------------------------------- migration
    def migrate(self):
        src = dst = None
        try:
            self.ctl_write(b'MIGRATING\n')
            src = QMP(self.qmp_src)
            dst = QMP(self.qmp_dst)
            src.cmd('migrate-set-parameters',
                    **{'max-bandwidth': self.a.bandwidth_mb << 20})
            t0 = time.time()
            say('migrating (max %d MiB/s)' % self.a.bandwidth_mb)
            src.cmd('migrate', uri='unix:' + self.mig_path)
            deadline = t0 + self.a.mig_timeout
            next_note = t0 + 10
            while True:
                st = src.cmd('query-migrate')
                s = st.get('status')
                if s == 'completed':
                    break
                if s in ('failed', 'cancelled'):
                    raise Fail('migration %s: %s'
                               % (s, st.get('error-desc', '')))
                if time.time() > next_note:
                    next_note += 10
                    say('migration %s after %.0f s: ram %s'
                        % (s, time.time() - t0, st.get('ram')))
                if time.time() > deadline:
                    src.cmd('migrate_cancel')
                    raise Fail('migration not done after %d s (%s)'
                               % (self.a.mig_timeout, s))
                time.sleep(0.1)
            ram = st.get('ram', {})
            self.mig_info = {
                'seconds': round(time.time() - t0, 1),
                'total-time-ms': st.get('total-time'),
                'downtime-ms': st.get('downtime'),
                'ram-transferred': ram.get('transferred'),
                'dirty-sync-count': ram.get('dirty-sync-count'),
            }
            deadline = time.time() + 20
            while dst.cmd('query-status').get('status') != 'running':
                if time.time() > deadline:
                    raise Fail('destination not running 20 s after the '
                               'migration completed')
                time.sleep(0.1)
            say('migration completed: %s' % self.mig_info)
            self.ctl_write(b'MIGRATED\n')
            try:
                src.cmd('quit')
            except Fail:
                pass                    # the socket closes on quit
        except (Fail, OSError, ValueError) as e:
            self.mig_errs.append('migration: %s' % e)
            try:
                self.ctl_write(b'FAILED\n')
            except OSError:
                pass
        finally:
            for q in (src, dst):
                if q:
                    q.close()
            self.mig_done.set()

    def handle_mark(self, m):
        if m.startswith('VHK-HOST migrate') and self.mig_thread is None:
            self.mig_thread = threading.Thread(target=self.migrate)
            self.mig_thread.start()

    def boot(self, kit, initrd):
        a = self.a
        t0 = time.time()

        def start(tag, cmd):
            say('qemu %s: %s' % (tag, ' '.join(cmd)))
            q = vhkpeer.Proc('qemu-' + tag, cmd,
                             self.guest_log + '.' + tag + '.raw',
                             stdout_pipe=True)
            self.procs.append(q)
            logf = open(self.guest_log + '.' + tag, 'w')
            th = threading.Thread(target=self.reader,
                                  args=(q.p.stdout, logf))
            th.start()
            return q, th, logf
        dq, dth, dlog = start('dst', self.qemu_cmd(kit, initrd, dst=True))
        sq, sth, slog = start('src', self.qemu_cmd(kit, initrd))
        deadline = t0 + a.timeout + 5
        while time.time() < deadline:
            if not dq.alive():
                break
            if not sq.alive() and not (self.mig_done.is_set() and
                                       not self.mig_errs):
                # the guest ended on the source: nothing will migrate
                time.sleep(1)
                break
            time.sleep(0.2)
        sq_rc = sq.p.poll()
        dq_rc = dq.p.poll()
        for q in (sq, dq):
            if q.alive():
                q.kill()
        if self.mig_thread:
            self.mig_thread.join(40)
        for th, lf in ((sth, slog), (dth, dlog)):
            th.join(30)
            lf.close()
        # one console log, source then destination
        with open(self.guest_log, 'w') as out:
            for tag in ('src', 'dst'):
                with open(self.guest_log + '.' + tag, errors='replace') as f:
                    out.write('==== %s\n' % tag)
                    out.write(f.read())
        self.boot_seconds = time.time() - t0
        self.src_rc = sq_rc
        if dq_rc is None:
            return -9
        if self.mig_done.is_set() and not self.mig_errs:
            return dq_rc
        return sq_rc if sq_rc is not None else -9

    # ------------------------------------------------------------ checks
    def check(self, qemu_rc):
        errs, passes, nwrote = super().check(qemu_rc)
        errs = self.mig_errs + errs
        if self.mig_thread is None:
            errs.append('the guest never asked for the migration')
        elif not self.mig_info:
            errs.append('migration did not complete')
        ph = [m.split()[1:] for _, m in self.marks
              if m.startswith('VHK-PHASES')]
        if not ph:
            errs.append('no VHK-PHASES from the guest')
        else:
            names = ('before', 'during', 'after')
            for n, c in zip(names, ph[-1]):
                if int(c) < 1:
                    errs.append('no guest write %s the migration' % n)
            self.phases = dict(zip(names, ph[-1]))
        if self.src_rc not in (0, None):
            errs.append('source QEMU exited %s' % self.src_rc)
        return errs, passes, nwrote

    def stop_backend(self):
        errs = ['source: ' + e for e in super().stop_backend()]
        saved = (self.sock, self.backend_log, self.backend)
        self.sock, self.backend_log, self.backend = \
            self.dst_sock, self.dst_log, self.dst_backend
        try:
            errs += ['destination: ' + e for e in super().stop_backend()]
        finally:
            self.sock, self.backend_log, self.backend = saved
        with open(self.backend_log, errors='replace') as f:
            slog = f.read()
        if 'dirty log: ' not in slog:
            errs.append('source: no SET_LOG_BASE in its log')
        if 'dirty logging on' not in slog:
            errs.append('source: dirty logging never switched on')
        return errs

    def pat_md5s(self, ln):
        if ln not in self._md5s:
            self._md5s[ln] = super().pat_md5s(ln)
        return self._md5s[ln]


def add_args(ap):
    ap.add_argument('--before-blocks', type=int, default=50,
                    help='blocks the guest writes before asking for the '
                    'migration')
    ap.add_argument('--after-blocks', type=int, default=50,
                    help='blocks the guest writes after the migration')
    ap.add_argument('--bandwidth-mb', type=int, default=96,
                    help='migration max-bandwidth, MiB/s')
    ap.add_argument('--mig-timeout', type=int, default=60,
                    help='seconds the migration may take')
    ap.add_argument('--mem', default='262136K',
                    help='guest RAM (QEMU -m and memfd size)')
    ap.add_argument('--source-env', action='append', default=[],
                    metavar='KEY=VALUE',
                    help='environment of the source daemon only, e.g. '
                    'VHOSTKIT_TEST_NO_DIRTY_LOG=1 (negative control)')


def main(argv):
    a = vhkpeer.parse(argv, doc=__doc__, add_args=add_args)
    # this runner's defaults for the shared options (vhkpeer gives those
    # explicit defaults of its own, so set_defaults() would not win)
    given = ' '.join(argv)
    if '--pat-mb' not in given:
        a.pat_mb = 8
    if '--timeout' not in given:
        a.timeout = 150
    a.append = ('init_on_alloc=0 ' + a.append).strip()
    if a.backend != 'vhostkit':
        print('migratepeer: only the vhostkit back-end', file=sys.stderr)
        return 2
    rc, r = vhkpeer.run(a, on_mark=lambda r, m: r.handle_mark(m),
                        run_cls=MigrateRun)
    if rc == 0 and r is not None:
        say('migration %s; guest writes before/during/after: %s'
            % (r.mig_info, getattr(r, 'phases', {})))
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
