#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Peer-test runner: a vhost-user-blk back-end, QEMU and a Linux guest.

One run = one scenario: start the back-end on a scratch image, wait for its
socket, boot QEMU (q35, memfd shared memory, vhost-user-blk-pci) with the
guest kit, collect the serial log, then assert:
  * the guest printed VHK-RESULT PASS lines, no FAIL, and VHK-END rc=0;
  * QEMU exited 0 by the guest's poweroff, within the time bound;
  * every region the guest reported writing (VHK-WROTE) is in the image
    file with the same md5 (data reached the back-end's file);
  * the back-end, stopped with SIGTERM, exited 0 and removed its socket;
  * optional regexes match the back-end log (e.g. the IOTLB mode).
Exit 0 pass, 1 fail, 77 skip (always with the reason printed).
"""

import argparse
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestkit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
BLOCK = 65536

# 'builtin' is QEMU's own virtio-blk-pci (no vhost-user, no back-end
# process): the baseline for setups qemu-storage-daemon cannot do (vIOMMU).
BACKENDS = {
    'builtin': None,
    'vhostkit': '{bin} --socket-path {sock} --disk {disk} '
                '--num-queues {queues} --iommu {iommu}',
    'qsd': 'qemu-storage-daemon '
           '--blockdev driver=file,node-name=disk,filename={disk} '
           '--export type=vhost-user-blk,id=exp,node-name=disk,'
           'addr.type=unix,addr.path={sock},writable={writable},'
           'num-queues={queues}',
}


# Sanitizer reports in the back-end log fail a run (the peer suite runs
# against the ASan+UBSan build).
SANITIZER_RX = [r'ERROR: (Address|Leak|Thread|Memory)Sanitizer',
                r'runtime error: ']


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def say(msg):
    print('vhkpeer: ' + msg, flush=True)


def tail(path, n=40):
    try:
        with open(path, errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return '(no %s)' % path
    return '\n'.join('    ' + ln for ln in lines[-n:])


def find_tool(build_dir, name, env_var):
    """BUILD/tools/NAME, or $ENV_VAR first when set; Skip if neither."""
    cands = []
    if build_dir:
        cands.append(os.path.join(build_dir, 'tools', name))
    env = os.environ.get(env_var)
    if env:
        cands.insert(0, env)
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise Skip('%s not built (looked at %s)' % (name, ', '.join(cands)))


def find_vhostkit_blk(build_dir):
    return find_tool(build_dir, 'vhostkit-blk', 'VHK_BLK_BIN')


def cpu_seconds(pid):
    """utime+stime of a process in seconds (from /proc/PID/stat), or 0.0
    if it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class Proc:
    """A child in its own session, killed (group) when stopped."""

    def __init__(self, name, cmd, logpath, stdout_pipe=False, mode='w',
                 env=None):
        self.name = name
        self.logpath = logpath
        self.log = open(logpath, mode)
        self.p = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, env=env,
            stdout=subprocess.PIPE if stdout_pipe else self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.p.pid
        self.killed = False

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        # the whole group: members may outlive the leader (sh -c ... &)
        if self.alive() or not self.killed:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.killed = True
            self.p.wait()

    def term(self, timeout):
        """SIGTERM, wait; return exit code, or None if it had to be killed."""
        if not self.alive():
            return self.p.returncode
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


class Run:
    def __init__(self, a):
        self.a = a
        self.procs = []
        # not "vhk-*": other suites' clean-ups must not catch a live run
        self.tmp = tempfile.mkdtemp(prefix='peerrun-%s-' % a.name)
        self.sock = os.path.join(self.tmp, 'blk.sock')
        self.disk = os.path.join(self.tmp, 'disk.img')
        self.guest_log = os.path.join(self.tmp, 'guest.log')
        self.backend_log = os.path.join(self.tmp, 'backend.log')
        self.lines = []
        self.marks = []         # (time, line) of VHK-* lines
        self.on_mark = None     # callback(run, line) from the reader thread
        self.backend = None
        self.failed = False
        self.restarts = 0
        self.echo_rx = re.compile(a.echo) if a.echo else None
        self.host_errs = []

    # ------------------------------------------------------------ setup
    def make_disk(self):
        a = self.a
        if a.disk:
            # a caller-owned image (benchmarks: same image for both peers)
            self.disk = os.path.abspath(a.disk)
            a.disk_mb = os.path.getsize(self.disk) >> 20
        else:
            with open(self.disk, 'wb') as f:
                f.truncate(a.disk_mb << 20)
        # Host-written data the guest must read back (read path check).
        self.host_off = (a.disk_mb << 20) // BLOCK // 2
        self.host_cnt = 16
        data = os.urandom(self.host_cnt * BLOCK)
        with open(self.disk, 'r+b') as f:
            f.seek(self.host_off * BLOCK)
            f.write(data)
        self.host_md5 = hashlib.md5(data).hexdigest()
        self.disk_md5 = self.file_md5() if a.read_only else None

    def file_md5(self):
        h = hashlib.md5()
        with open(self.disk, 'rb') as f:
            for chunk in iter(lambda: f.read(1 << 20), b''):
                h.update(chunk)
        return h.hexdigest()

    def make_initrd(self, kit):
        a = self.a
        script = os.path.join(HERE, 'scenarios', a.scenario + '.sh')
        if not os.path.exists(script):
            raise Fail('no guest scenario %s' % script)
        env = {
            'VHK_SCENARIO': a.scenario,
            'VHK_DISK_BYTES': str(a.disk_mb << 20),
            'VHK_QUEUES': str(a.queues),
            'VHK_IOMMU': '1' if a.viommu else '0',
            'VHK_PACKED': '1' if a.packed else '0',
            'HOSTBLK_OFF': str(self.host_off),
            'HOSTBLK_CNT': str(self.host_cnt),
            'HOSTBLK_MD5': self.host_md5,
        }
        for kv in a.guest_env:
            k, v = kv.split('=', 1)
            env[k] = v
        envtxt = ''.join('%s=%s\n' % (k, shlex.quote(v))
                         for k, v in sorted(env.items()))
        self.pat = os.urandom(a.pat_mb << 20)
        with open(script, 'rb') as f:
            files = {'scenario.sh': (f.read(), 0o755),
                     'etc/vhk.env': (envtxt.encode(), 0o644),
                     'pat': (self.pat, 0o644)}
        initrd = os.path.join(self.tmp, 'initrd.cpio')
        with open(initrd, 'wb') as out, open(kit['initrd'], 'rb') as base:
            shutil.copyfileobj(base, out)
            out.write(guestkit.overlay(files))
        return initrd

    def backend_cmd(self):
        a = self.a
        tmpl = a.backend_cmd or BACKENDS[a.backend]
        binp = ''
        if '{bin}' in tmpl:
            binp = find_vhostkit_blk(a.build_dir)
        elif a.backend == 'qsd' and not shutil.which('qemu-storage-daemon'):
            raise Skip('qemu-storage-daemon not installed (qemu-system-common)')
        cmd = tmpl.format(bin=binp, sock=self.sock, disk=self.disk,
                          queues=a.queues, iommu=a.iommu,
                          writable='off' if a.read_only else 'on')
        cmd = shlex.split(cmd)
        if a.read_only and '{bin}' in tmpl:
            cmd.append('--read-only')
        return ['timeout', '-s', 'KILL', str(a.timeout + 30)] + cmd

    def sock_listening(self):
        """True if some process listens on the socket path: a stale socket
        file left by a killed back-end does not count (/proc/net/unix)."""
        try:
            with open('/proc/net/unix') as f:
                for line in f:
                    fl = line.split()
                    # Num RefCount Protocol Flags Type St Inode Path
                    if len(fl) >= 8 and fl[7] == self.sock and \
                            int(fl[3], 16) & 0x10000:
                        return True
        except OSError:
            pass
        return False

    def start_backend(self, mode='w'):
        if self.a.backend == 'builtin':
            self.backend_pid = os.getpid()   # nothing to account
            return
        cmd = self.backend_cmd()
        say('back-end: ' + ' '.join(cmd))
        env = notify = None
        if self.a.backend == 'vhostkit':
            # vhostkit daemons say READY=1 on NOTIFY_SOCKET once they
            # accept (docs/daemons.md); the socket file appears then too,
            # bound under a temporary name first (so /proc/net/unix
            # shows that name, not the path).
            npath = os.path.join(self.tmp, 'notify.sock')
            if os.path.exists(npath):
                os.unlink(npath)
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(npath)
            notify.setblocking(False)
            env = dict(os.environ, NOTIFY_SOCKET=npath)
        self.backend = Proc('backend', cmd, self.backend_log, mode=mode,
                            env=env)
        self.procs.append(self.backend)
        deadline = time.time() + 15
        ready = False

        def is_ready():
            nonlocal ready
            if notify is None:
                return os.path.exists(self.sock) and self.sock_listening()
            try:
                ready = ready or b'READY=1' in notify.recv(4096)
            except BlockingIOError:
                pass
            # every vhostkit daemon says READY=1 once it is inside its
            # sandbox (a socket may listen before that: vhostkit-vsock
            # creates its VMs' sockets first)
            return ready and os.path.exists(self.sock)
        while not is_ready():
            if not self.backend.alive():
                raise Fail('back-end exited (rc %s) before creating its '
                           'socket' % self.backend.p.returncode)
            if time.time() > deadline:
                raise Fail('back-end socket %s not there after 15 s'
                           % self.sock)
            time.sleep(0.05)
        if notify is not None:
            notify.close()
        # the real back-end pid (under timeout(1)) for CPU accounting
        self.backend_pid = self.child_pid(self.backend.pid)
        if self.a.backend == 'vhostkit':
            self.check_sandbox(self.backend_pid)

    def check_sandbox(self, pid):
        """A vhostkit daemon serves the guest from inside its sandbox
        (docs/daemons.md): seccomp filter on, no_new_privs, no
        capabilities, its own mount namespace.  Recorded as a run error
        otherwise (unless the run asked for --seccomp off)."""
        if '--seccomp' in ' '.join(getattr(self.a, 'backend_arg', [])):
            return
        try:
            with open('/proc/%d/status' % pid) as f:
                st = dict(l.split(':', 1) for l in f if ':' in l)
            own_ns = os.readlink('/proc/%d/ns/mnt' % pid) != \
                os.readlink('/proc/self/ns/mnt')
        except OSError as e:
            self.host_errs.append('sandbox: cannot read /proc/%d: %s'
                                  % (pid, e))
            return
        got = (st.get('Seccomp', '').strip(), st.get('NoNewPrivs', '').strip(),
               int(st.get('CapEff', '1').strip(), 16), own_ns)
        say('back-end sandbox: Seccomp %s, NoNewPrivs %s, CapEff %x, '
            'own mount namespace %s' % got)
        if got != ('2', '1', 0, True):
            self.host_errs.append('back-end not sandboxed: Seccomp %s, '
                                  'NoNewPrivs %s, CapEff %x, own mount '
                                  'namespace %s' % got)

    @staticmethod
    def child_pid(pid):
        try:
            with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
                kids = f.read().split()
            return int(kids[0]) if kids else pid
        except OSError:
            return pid

    def qemu_cmd(self, kit, initrd):
        a = self.a
        qemu = shutil.which('qemu-system-x86_64')
        if not qemu:
            raise Skip('qemu-system-x86_64 not installed (qemu-system-x86)')
        machine = 'q35'
        dev, extra = self.device_args()
        append = ('console=ttyS0 panic=-1 loglevel=4 vhk.timeout=%d'
                  % max(30, a.timeout - 15))
        if a.packed:
            dev += ',packed=on'
        if a.root_port:
            extra += ['-device', 'pcie-root-port,id=rp0,chassis=1,slot=1']
        if a.viommu:
            machine += ',kernel-irqchip=split'
            extra += ['-device', 'intel-iommu,' + a.viommu_opts]
            dev += ',iommu_platform=on,ats=on,disable-legacy=on'
            append += ' intel_iommu=on'
        mem = '%dM' % a.mem_mb
        cmd = [qemu, '-machine', machine, '-accel', 'tcg,thread=multi',
               '-cpu', 'max', '-smp', str(a.smp), '-m', mem,
               '-object', 'memory-backend-memfd,id=mem,size=%s,share=on' % mem,
               '-numa', 'node,memdev=mem',
               '-nographic', '-nodefaults', '-serial', 'stdio',
               '-no-reboot',
               '-kernel', kit['kernel'], '-initrd', initrd,
               '-append', append + ' ' + a.append] + extra + [
               '-device', dev + (',bus=rp0' if a.root_port else '')] + \
            shlex.split(a.qemu_args)
        return ['timeout', '-s', 'KILL', str(a.timeout)] + cmd

    def device_args(self):
        """(-device string, extra QEMU args) of the device under test."""
        a = self.a
        if a.backend == 'builtin':
            dev = 'virtio-blk-pci,drive=d0,num-queues=%d' % a.queues
            extra = ['-drive', 'file=%s,if=none,id=d0,format=raw,'
                     'cache=none,aio=threads%s'
                     % (self.disk, ',readonly=on' if a.read_only else '')]
        else:
            dev = 'vhost-user-blk-pci,chardev=c0,num-queues=%d' % a.queues
            extra = ['-chardev', 'socket,id=c0,path=%s%s'
                     % (self.sock, ',reconnect=1' if a.reconnect else '')]
        return dev, extra

    def restart_backend(self):
        """SIGKILL the back-end mid-life (stale socket left) and start it
        again; QEMU (chardev reconnect=1) reconnects to the new one."""
        say('guest asked for a back-end restart: SIGKILL pid %d'
            % self.backend_pid)
        self.backend.kill()
        with open(self.backend_log, 'a') as f:
            f.write('==== vhkpeer: back-end killed (SIGKILL), restarting\n')
        self.start_backend(mode='a')
        self.restarts += 1
        say('back-end restarted (pid %d)' % self.backend_pid)

    # ------------------------------------------------------------- run
    def reader(self, pipe, logf):
        for raw in iter(pipe.readline, b''):
            line = raw.decode(errors='replace').rstrip('\r\n')
            logf.write(line + '\n')
            logf.flush()
            self.lines.append(line)
            if self.a.verbose or (self.echo_rx and
                                  self.echo_rx.search(line)):
                print('  | ' + line, flush=True)
            i = line.find('VHK-')
            if i >= 0:
                m = line[i:]
                self.marks.append((time.time(), m))
                if m.startswith('VHK-HOST restart-backend'):
                    try:
                        self.restart_backend()
                    except (Fail, Skip, OSError) as e:
                        self.host_errs.append('restart: %s' % e)
                if self.on_mark:
                    try:
                        self.on_mark(self, m)
                    except Exception as e:  # noqa: BLE001
                        say('on_mark: %s' % e)

    def boot(self, kit, initrd):
        cmd = self.qemu_cmd(kit, initrd)
        say('qemu: ' + ' '.join(shlex.quote(c) for c in cmd))
        t0 = time.time()
        q = Proc('qemu', cmd, self.guest_log + '.raw', stdout_pipe=True)
        self.procs.append(q)
        logf = open(self.guest_log, 'w')
        th = threading.Thread(target=self.reader, args=(q.p.stdout, logf))
        th.start()
        try:
            rc = q.p.wait(self.a.timeout + 5)
        except subprocess.TimeoutExpired:
            q.kill()
            rc = -9
        th.join(30)
        logf.close()
        self.boot_seconds = time.time() - t0
        return rc

    def check(self, qemu_rc):
        errs = list(self.host_errs)
        want = sum(1 for _, m in self.marks
                   if m.startswith('VHK-HOST restart-backend'))
        if self.restarts != want:
            errs.append('%d back-end restarts asked, %d done'
                        % (want, self.restarts))
        if self.disk_md5 and self.file_md5() != self.disk_md5:
            errs.append('read-only run changed the image')
        results = [m for _, m in self.marks if m.startswith('VHK-RESULT')]
        passes = [r for r in results if r.split()[1:2] == ['PASS']]
        fails = [r for r in results if r.split()[1:2] != ['PASS']]
        ends = [m for _, m in self.marks if m.startswith('VHK-END')]
        if qemu_rc in (-9, 137, 124):
            errs.append('QEMU killed after the %d s bound' % self.a.timeout)
        elif qemu_rc != 0:
            errs.append('QEMU exited %d' % qemu_rc)
        if any('Kernel panic' in ln for ln in self.lines):
            errs.append('guest kernel panic')
        if not ends:
            errs.append('guest never reached VHK-END')
        elif ends[-1] != 'VHK-END rc=0':
            errs.append('guest scenario ended with ' + ends[-1])
        errs += ['guest: ' + f for f in fails]
        if not passes:
            errs.append('no VHK-RESULT PASS from the guest')
        # Data the guest wrote must be in the image, bit for bit.
        nwrote = 0
        if self.disk is None:
            return errs, passes, nwrote
        with open(self.disk, 'rb') as f:
            for _, m in self.marks:
                if not m.startswith('VHK-WROTE'):
                    continue
                _, off, ln, md5 = m.split()[:4]
                f.seek(int(off))
                got = hashlib.md5(f.read(int(ln))).hexdigest()
                nwrote += 1
                if got != md5:
                    errs.append('image at %s+%s: md5 %s, guest wrote %s'
                                % (off, ln, got, md5))
                elif md5 not in self.pat_md5s(int(ln)):
                    errs.append('guest wrote %s at %s: not a slice of the '
                                'pattern' % (md5, off))
            # regions the guest saw zeroed (discard) are zeros in the file
            for _, m in self.marks:
                if not m.startswith('VHK-ZEROED'):
                    continue
                _, off, ln = m.split()[:3]
                f.seek(int(off))
                if f.read(int(ln)).strip(b'\0'):
                    errs.append('image at %s+%s: guest read zeros, file has '
                                'data' % (off, ln))
        return errs, passes, nwrote

    def pat_md5s(self, ln):
        return {hashlib.md5(self.pat[o:o + ln]).hexdigest()
                for o in range(0, len(self.pat) - ln + 1, BLOCK)}

    def stop_backend(self):
        errs = []
        if self.backend is None:
            return errs
        if not self.backend.alive():
            errs.append('back-end died during the run (rc %s)'
                        % self.backend.p.returncode)
            return errs
        # timeout(1) forwards SIGTERM to the back-end and returns its status
        rc = self.backend.term(15)
        if rc is None:
            errs.append('back-end did not exit within 15 s of SIGTERM')
        elif rc != 0:
            errs.append('back-end exited %d after SIGTERM' % rc)
        if os.path.exists(self.sock):
            msg = 'back-end left its socket %s behind' % self.sock
            if self.a.backend == 'qsd':
                say('note: ' + msg + ' (qemu-storage-daemon; not ours)')
            else:
                errs.append(msg)
        try:
            with open(self.backend_log, errors='replace') as f:
                blog = f.read()
        except OSError as e:
            errs.append('back-end log unreadable: %s' % e)
            blog = ''
        for rx in self.a.expect_backend_log:
            if not re.search(rx, blog, re.M):
                errs.append('back-end log does not match /%s/' % rx)
        for n, rx in self.a.expect_backend_count:
            got = len(re.findall(rx, blog, re.M))
            if got < int(n):
                errs.append('back-end log matches /%s/ %d times, want >= %s'
                            % (rx, got, n))
        for rx in self.a.reject_backend_log + SANITIZER_RX:
            m = re.search(rx, blog, re.M)
            if m:
                errs.append('back-end log has /%s/: %s' % (rx, m.group(0)))
        return errs

    def cleanup(self):
        for p in reversed(self.procs):
            p.kill()
        if not self.failed and not self.a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)




def parse(argv, doc=None, add_args=None):
    """The runner's options; a sibling runner passes its own @doc and
    @add_args(parser) for its extra options."""
    ap = argparse.ArgumentParser(description=doc or __doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    if add_args:
        add_args(ap)
    ap.add_argument('--scenario', required=True,
                    help='guest script tests/peers/scenarios/NAME.sh')
    ap.add_argument('--name', help='test name in messages (default scenario)')
    ap.add_argument('--backend', choices=sorted(BACKENDS), default='vhostkit')
    ap.add_argument('--backend-cmd', help='back-end command template with '
                    '{bin} {sock} {disk} {queues} {iommu}')
    ap.add_argument('--build-dir', default=os.environ.get('VHK_BUILD_DIR'),
                    help='meson build dir holding tools/vhostkit-blk')
    ap.add_argument('--queues', type=int, default=1)
    ap.add_argument('--smp', type=int, default=1)
    ap.add_argument('--mem-mb', type=int, default=512)
    ap.add_argument('--disk-mb', type=int, default=64)
    ap.add_argument('--disk', help='use this existing image (size from the '
                    'file) instead of a scratch one')
    ap.add_argument('--pat-mb', type=int, default=4)
    ap.add_argument('--viommu', action='store_true',
                    help='intel-iommu + iommu_platform=on,ats=on')
    ap.add_argument('--packed', action='store_true',
                    help='QEMU packed=on: the guest must negotiate '
                    'VIRTIO_F_RING_PACKED')
    ap.add_argument('--root-port', action='store_true',
                    help='put the device behind a pcie-root-port (a PCIe '
                    'endpoint: ATS visible to the guest)')
    ap.add_argument('--viommu-opts', default='intremap=on,device-iotlb=on',
                    help='intel-iommu device options')
    ap.add_argument('--iommu', default='auto', help='back-end --iommu mode')
    ap.add_argument('--read-only', action='store_true')
    ap.add_argument('--reconnect', action='store_true',
                    help='QEMU chardev reconnect=1 (back-end restarts)')
    ap.add_argument('--append', default='', help='extra kernel cmdline')
    ap.add_argument('--qemu-args', default='', help='extra QEMU arguments')
    ap.add_argument('--guest-env', action='append', default=[],
                    help='KEY=VALUE for /etc/vhk.env')
    ap.add_argument('--expect-backend-log', action='append', default=[],
                    metavar='REGEX')
    ap.add_argument('--expect-backend-count', nargs=2, action='append',
                    default=[], metavar=('N', 'REGEX'),
                    help='REGEX must match the back-end log >= N times')
    ap.add_argument('--reject-backend-log', action='append', default=[],
                    metavar='REGEX', help='fail if REGEX matches the log')
    ap.add_argument('--fio', action='store_true', help='guest kit with fio')
    ap.add_argument('--timeout', type=int,
                    default=int(os.environ.get('VHK_PEER_TIMEOUT', 240)))
    ap.add_argument('--keep', action='store_true', help='keep the run dir')
    ap.add_argument('--echo', metavar='REGEX',
                    help='echo guest console lines matching REGEX')
    ap.add_argument('-v', '--verbose', action='store_true',
                    help='echo the guest console')
    a = ap.parse_args(argv)
    a.name = a.name or a.scenario
    return a


def run(a, on_mark=None, run_cls=Run):
    """Run one scenario; return (rc, Run).  rc is 0, 1 or 77.  A sibling
    runner passes its Run subclass as @run_cls."""
    r = None

    def on_term(signum, _frame):
        raise Fail('runner got signal %d' % signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            kit = guestkit.kit(with_fio=a.fio)
        except guestkit.KitUnavailable as e:
            raise Skip('guest kit unavailable: %s' % e)
        r = run_cls(a)
        r.on_mark = on_mark
        r.make_disk()
        initrd = r.make_initrd(kit)
        r.start_backend()
        r.backend_cpu0 = cpu_seconds(r.backend_pid)
        qrc = r.boot(kit, initrd)
        r.backend_cpu1 = cpu_seconds(r.backend_pid)
        errs = r.stop_backend()
        cerrs, passes, nwrote = r.check(qrc)
        errs = cerrs + errs
        if errs:
            raise Fail('; '.join(errs))
        say('PASS %s [%s]: %d guest checks (%s), %d written regions '
            'verified in the image, guest run %.1f s, back-end exit 0'
            % (a.name, a.backend, len(passes),
               ' '.join(p.split()[2] for p in passes), nwrote,
               r.boot_seconds))
        return 0, r
    except Skip as e:
        say('SKIP %s: %s' % (a.name, e))
        return SKIP, r
    except Fail as e:
        say('FAIL %s [%s]: %s' % (a.name, a.backend, e))
        if r:
            r.failed = True
            say('guest log tail (%s):\n%s' % (r.guest_log, tail(r.guest_log)))
            say('back-end log tail (%s):\n%s'
                % (r.backend_log, tail(r.backend_log, 25)))
        return 1, r
    finally:
        if r:
            r.cleanup()


if __name__ == '__main__':
    rc, _ = run(parse(sys.argv[1:]))
    sys.exit(rc)
