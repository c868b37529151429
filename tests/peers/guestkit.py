#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Guest kit for the peer tests: a Debian kernel and a busybox initramfs.

Built on demand and cached (idempotent) under $VHK_PEER_CACHE, default
tests/peers/cache/ (gitignored).  Nothing is installed system-wide: the
kernel package is fetched with `apt-get download` and unpacked with
`dpkg-deb -x`.  The base initramfs holds busybox, /init, the guest helper
library and the virtio modules in dependency order; each run appends a
small overlay archive (scenario script, data pattern, parameters).  The
Linux initramfs loader accepts concatenated newc archives.  The C programs in
guest-src/ (e.g. vsockt, the AF_VSOCK test tool: busybox has no vsock) are
built here with `gcc -static` and land in /bin.

Usage as a program:  guestkit.py [--fio]   (build the kit, print paths)
"""

import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = os.path.join(HERE, 'guest')
GUEST_SRC = os.path.join(HERE, 'guest-src')

# Modules the guest needs; their dependencies are found from each .ko's
# modinfo "depends=" field (the package ships no modules.dep).  The Intel
# IOMMU driver is built in (CONFIG_INTEL_IOMMU=y), checked in build_kernel().
WANTED_MODULES = ['virtio_pci', 'virtio_blk', 'vmw_vsock_virtio_transport',
                  'virtio_net']
REQUIRED_CONFIG = ['CONFIG_BLK_DEV_INITRD=y', 'CONFIG_DEVTMPFS=y',
           'CONFIG_INTEL_IOMMU=y', 'CONFIG_IRQ_REMAP=y',
           'CONFIG_SERIAL_8250_CONSOLE=y']


class KitUnavailable(Exception):
    """The kit cannot be built here (no package, no tool): a skip."""


def cache_dir():
    d = os.environ.get('VHK_PEER_CACHE') or os.path.join(HERE, 'cache')
    os.makedirs(d, exist_ok=True)
    return d


def log(msg):
    print('guestkit: ' + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE, text=True, **kw)


# --------------------------------------------------------------- cpio (newc)

class Cpio:
    """Minimal writer for the newc format the kernel unpacks."""

    def __init__(self):
        self.chunks = []
        self.ino = 1
        self.names = set()

    def _entry(self, name, mode, data=b'', rdev=(0, 0)):
        name = name.lstrip('/')
        if name in self.names:
            return
        self.names.add(name)
        nb = name.encode() + b'\0'
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
              rdev[0], rdev[1], len(nb), 0]
        self.ino += 1
        hdr = b'070701' + b''.join(b'%08X' % f for f in fields)
        buf = hdr + nb
        buf += b'\0' * (-len(buf) % 4)
        buf += data
        buf += b'\0' * (-len(buf) % 4)
        self.chunks.append(buf)

    def dir(self, name, mode=0o755):
        parts = name.strip('/').split('/')
        for i in range(1, len(parts) + 1):
            self._entry('/'.join(parts[:i]), stat.S_IFDIR | mode)

    def file(self, name, data, mode=0o644):
        parent = os.path.dirname(name.strip('/'))
        if parent:
            self.dir(parent)
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, name, major, minor, mode=0o600):
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def bytes(self):
        self._entry('TRAILER!!!', 0)
        return b''.join(self.chunks)


# ------------------------------------------------------------------ kernel

def kernel_version():
    """ABI name linux-image-amd64 depends on, e.g. 6.1.0-56-amd64."""
    try:
        out = run(['apt-cache', 'depends', 'linux-image-amd64']).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise KitUnavailable('apt-cache depends linux-image-amd64 '
                     'failed: %s' % e)
    for line in out.splitlines():
        line = line.strip()
        if line.startswith('Depends: linux-image-6.1.'):
            return line.split('linux-image-', 1)[1]
    raise KitUnavailable('linux-image-amd64 does not depend on a 6.1 '
                 'image (run apt-get update?)')


def modinfo_depends(path):
    with open(path, 'rb') as f:
        data = f.read()
    for field in data.split(b'\0'):
        if field.startswith(b'depends='):
            deps = field[len(b'depends='):].decode()
            return [d for d in deps.split(',') if d]
    return []


def module_order(moddir, wanted):
    """Return .ko paths of wanted modules and deps, dependencies first."""
    index = {}
    for root, _dirs, files in os.walk(moddir):
        for fn in files:
            if fn.endswith('.ko'):
                name = fn[:-3].replace('-', '_')
                index[name] = os.path.join(root, fn)
    order, seen = [], set()

    def visit(name, stack):
        name = name.replace('-', '_')
        if name in seen:
            return
        if name in stack:
            raise KitUnavailable('module dependency loop at ' + name)
        if name not in index:
            raise KitUnavailable('module %s not in the package' %
                         name)
        for dep in modinfo_depends(index[name]):
            visit(dep, stack | {name})
        seen.add(name)
        order.append(index[name])

    for w in wanted:
        visit(w, set())
    return order


def apt_download(pkg, dl):
    """apt-get download PKG into DL; on failure, as root, refresh the
    package lists once (the version may have moved on) and say so."""
    try:
        run(['apt-get', 'download', pkg], cwd=dl)
        return
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, 'stderr', '') or str(e)
    raise KitUnavailable('apt-get download %s failed: %s'
                         % (pkg, err.strip()[-300:]))


def build_kernel(cache, retried=False):
    """Fetch and unpack the kernel package; return (kver, vmlinuz, moddir)."""
    kver = kernel_version()
    kdir = os.path.join(cache, 'linux-' + kver)
    vmlinuz = os.path.join(kdir, 'boot', 'vmlinuz-' + kver)
    moddir = os.path.join(kdir, 'lib', 'modules', kver, 'kernel')
    if os.path.exists(os.path.join(kdir, '.done')):
        return kver, vmlinuz, moddir
    dl = os.path.join(cache, 'dl')
    os.makedirs(dl, exist_ok=True)
    pkg = 'linux-image-' + kver
    debs = [f for f in os.listdir(dl) if f.startswith(pkg + '_')]
    if not debs:
        log('apt-get download ' + pkg)
        try:
            apt_download(pkg, dl)
        except KitUnavailable:
            if retried or os.geteuid() != 0:
                raise
            # stale package lists: the kernel ABI may have moved on
            log('download failed: apt-get update, then try again')
            try:
                run(['apt-get', 'update', '-q'])
            except (OSError, subprocess.CalledProcessError) as e:
                raise KitUnavailable('apt-get update failed: %s' % e)
            return build_kernel(cache, retried=True)
        debs = [f for f in os.listdir(dl) if f.startswith(pkg + '_')]
    shutil.rmtree(kdir, ignore_errors=True)
    log('dpkg-deb -x ' + debs[0])
    run(['dpkg-deb', '-x', os.path.join(dl, debs[0]), kdir])
    with open(os.path.join(kdir, 'boot', 'config-' + kver)) as f:
        config = set(f.read().splitlines())
    missing = [c for c in REQUIRED_CONFIG if c not in config]
    if missing:
        raise KitUnavailable('kernel config lacks ' + ' '.join(missing))
    open(os.path.join(kdir, '.done'), 'w').close()
    return kver, vmlinuz, moddir


# --------------------------------------------------------------- initramfs

def is_static(path):
    """True if the ELF has no program interpreter (PT_INTERP, type 3)."""
    with open(path, 'rb') as f:
        eh = f.read(64)
        if eh[:4] != b'\x7fELF' or eh[4] != 2:
            return False
        phoff = int.from_bytes(eh[32:40], 'little')
        phentsize = int.from_bytes(eh[54:56], 'little')
        phnum = int.from_bytes(eh[56:58], 'little')
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
    return all(int.from_bytes(ph[i:i + 4], 'little') != 3
               for i in range(0, len(ph), phentsize))


def busybox_path():
    for p in ('/bin/busybox', '/usr/bin/busybox'):
        if os.path.exists(p) and is_static(p):
            return p
    raise KitUnavailable('static busybox not found '
                         '(apt-get install busybox-static)')


def ldd_closure(binary):
    """Paths of the shared libraries a binary needs (ldd), plus itself."""
    out = run(['ldd', binary]).stdout
    paths = [binary]
    for line in out.splitlines():
        line = line.strip()
        if '=>' in line:
            p = line.split('=>', 1)[1].split('(')[0].strip()
        else:
            p = line.split('(')[0].strip()
        if p.startswith('/'):
            paths.append(p)
    return paths


def guest_programs():
    """Paths of the guest C sources (guest-src/*.c)."""
    return sorted(os.path.join(GUEST_SRC, f) for f in os.listdir(GUEST_SRC)
                  if f.endswith('.c'))


def build_static(src, outdir):
    """gcc -static SRC; return the binary's path."""
    cc = os.environ.get('VHK_GUEST_CC', 'gcc')
    out = os.path.join(outdir, os.path.basename(src)[:-2])
    try:
        run([cc, '-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out,
             src])
    except OSError as e:
        raise KitUnavailable('%s not found (apt-get install gcc '
                             'libc6-dev): %s' % (cc, e))
    except subprocess.CalledProcessError as e:
        raise KitUnavailable('gcc -static %s failed: %s'
                             % (src, e.stderr.strip()[-500:]))
    if not is_static(out):
        raise KitUnavailable('%s is not a static binary' % out)
    return out


def build_initramfs(cache, kver, moddir, with_fio=False):
    """Base initramfs (uncompressed newc); cached by content hash."""
    order = module_order(moddir, WANTED_MODULES)
    bb = busybox_path()
    guest_files = sorted(os.listdir(GUEST_DIR))
    progs = guest_programs()
    h = hashlib.sha256()
    h.update(kver.encode())
    with open(os.path.abspath(__file__), 'rb') as f:
        h.update(f.read())      # the archive layout lives here
    for p in order + [bb] + progs + [os.path.join(GUEST_DIR, g)
                 for g in guest_files]:
        h.update(p.encode())
        with open(p, 'rb') as f:
            h.update(f.read())
    fio_files = []
    if with_fio:
        fio = shutil.which('fio')
        if not fio:
            raise KitUnavailable('fio not installed '
                         '(apt-get install fio)')
        fio_files = ldd_closure(fio)
        h.update(' '.join(fio_files).encode())
    name = 'initramfs-%s%s-%s.cpio' % (kver, '-fio' if with_fio else '',
                       h.hexdigest()[:12])
    out = os.path.join(cache, name)
    if os.path.exists(out):
        return out
    c = Cpio()
    for d in ('bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev',
          'tmp', 'etc', 'lib/modules', 'run', 'root'):
        c.dir(d)
    c.chardev('dev/console', 5, 1)
    c.chardev('dev/null', 1, 3, 0o666)
    with open(bb, 'rb') as f:
        c.file('bin/busybox', f.read(), 0o755)
    c.symlink('bin/sh', 'busybox')
    names = []
    for p in order:
        n = os.path.basename(p)
        names.append(n)
        with open(p, 'rb') as f:
            c.file('lib/modules/' + n, f.read())
    c.file('lib/modules/order', ('\n'.join(names) + '\n').encode())
    for g in guest_files:
        with open(os.path.join(GUEST_DIR, g), 'rb') as f:
            data = f.read()
        if g == 'init':
            c.file('init', data, 0o755)
        else:
            c.file('lib/vhk/' + g, data, 0o755)
    bindir = os.path.join(cache, 'guest-bin')
    os.makedirs(bindir, exist_ok=True)
    for src in progs:
        with open(build_static(src, bindir), 'rb') as f:
            c.file('bin/' + os.path.basename(src)[:-2], f.read(), 0o755)
    for p in fio_files:
        real = os.path.realpath(p)
        with open(real, 'rb') as f:
            c.file(p, f.read(), 0o755)
    tmp = out + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(c.bytes())
    os.rename(tmp, out)
    # drop superseded archives of the same variant (the lock is held)
    prefix = 'initramfs-%s%s-' % (kver, '-fio' if with_fio else '')
    for f in os.listdir(cache):
        if f.startswith(prefix) and f != name and \
                f[len(prefix):].count('-') == 0 and f.endswith('.cpio'):
            os.unlink(os.path.join(cache, f))
    log('built %s (%d MB)' % (name, os.path.getsize(out) >> 20))
    return out


def kit(with_fio=False):
    """Build (or reuse) the kit; return dict(kernel, initrd, kver)."""
    try:
        cache = cache_dir()
        with open(os.path.join(cache, '.lock'), 'w') as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            kver, vmlinuz, moddir = build_kernel(cache)
            initrd = build_initramfs(cache, kver, moddir, with_fio)
    except (OSError, subprocess.CalledProcessError) as e:
        raise KitUnavailable('building the kit failed: %s' % e)
    return {'kernel': vmlinuz, 'initrd': initrd, 'kver': kver}


def overlay(files):
    """Overlay archive bytes from {guest path: (bytes, mode)}."""
    c = Cpio()
    for name, (data, mode) in sorted(files.items()):
        c.file(name, data, mode)
    return c.bytes()


if __name__ == '__main__':
    try:
        k = kit(with_fio='--fio' in sys.argv)
    except KitUnavailable as e:
        print('guest kit unavailable: %s' % e, file=sys.stderr)
        sys.exit(77)
    print('kernel %s\ninitrd %s' % (k['kernel'], k['initrd']))
