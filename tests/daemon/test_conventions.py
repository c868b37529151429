#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_conventions.py - every vhostkit daemon against the shared daemon
conventions (tools/daemon, docs/daemons.md):

  --print-capabilities (JSON for the device type), the share/qemu/vhost-user
  descriptor, --fd on a socket this test created, systemd socket activation
  (systemd-socket-activate) and readiness notification (NOTIFY_SOCKET),
  SIGHUP log reopen, SIGTERM, the sandbox (/proc/PID/status: Seccomp 2,
  NoNewPrivs 1, no capabilities; a forbidden call after setup kills the
  daemon with SIGSYS), and the usage errors.

Usage: test_conventions.py --cli VHOSTKIT --descriptor-dir DIR DAEMON...
Each DAEMON is NAME=PATH[:basic]; basic = a daemon that manages several
sockets itself (vsock, net): capabilities, descriptor, log file, notify,
signals.  The arguments each daemon needs are made here.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

failures = []
TYPES = {"vhostkit-blk": "blk", "vhostkit-vsock": "vsock",
         "vhostkit-net": "net"}


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def status_fields(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def probe_type(cli, path):
    r = subprocess.run([cli, "probe", path, "--timeout", "5000"],
                       capture_output=True, text=True, timeout=30)
    for line in r.stdout.splitlines():
        if line.strip().startswith("device type"):
            return line.split()[2]
    return "probe failed: " + r.stderr.strip()


class Daemon:
    """multi: a multi-socket daemon in its own form (sockets by path in
    --vm / --port); else the back-end program conventions' form: the
    vhost-user socket from --socket-path / --fd / systemd."""
    def __init__(self, name, binary, extra, tmp, multi=False):
        self.name, self.bin, self.tmp = name, binary, tmp
        self.extra = list(extra)
        if name == "vhostkit-blk":
            disk = os.path.join(tmp, "disk.img")
            with open(disk, "wb") as f:
                f.truncate(8 << 20)
            self.extra += ["--disk", disk, "--num-queues", "1"]
        elif name == "vhostkit-vsock":
            self.extra += ["--vm", ("guest-cid=3,socket=%s/vm.sock,uds-path=%s/vm.vsock"
                                    if multi else "guest-cid=3,uds-path=%s/vm.vsock")
                           % ((tmp, tmp) if multi else (tmp,))]
        elif name == "vhostkit-net":
            if multi:
                self.extra += ["--port", "socket=%s/port.sock" % tmp]

    def cmd(self, *args):
        return [self.bin] + list(args) + self.extra


def test_capabilities(d, descriptor_dir):
    r = subprocess.run([d.bin, "--print-capabilities"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 0, f"{d.name} --print-capabilities exits 0")
    try:
        caps = json.loads(r.stdout)
    except ValueError:
        caps = {}
    check(isinstance(caps.get("type"), str),
          f"{d.name} capabilities are a JSON object with a type: {r.stdout.strip()}")
    if d.name == "vhostkit-blk":
        check(caps.get("type") == "block" and
              set(caps.get("features", [])) == {"read-only", "blk-file"},
              "vhostkit-blk: type block, features read-only + blk-file")
    desc = os.path.join(descriptor_dir, f"50-{d.name}.json")
    try:
        with open(desc) as f:
            dj = json.load(f)
    except (OSError, ValueError) as e:
        check(False, f"{desc} parses: {e}")
        return
    check(dj.get("type") == caps.get("type"),
          f"{desc}: type {dj.get('type')} = the capabilities' type")
    check(os.path.basename(dj.get("binary", "")) == d.name and
          os.path.isabs(dj.get("binary", "")),
          f"{desc}: binary {dj.get('binary')} is an absolute path to {d.name}")
    check(bool(dj.get("description")), f"{desc}: has a description")


def test_fd_notify_signals(d, cli):
    """--fd with a socket made here; NOTIFY_SOCKET; sandbox; SIGHUP; TERM."""
    tmp = d.tmp
    path = os.path.join(tmp, "fd.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    ns_path = os.path.join(tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(ns_path)
    ns.settimeout(20)
    log = os.path.join(tmp, "daemon.log")
    env = dict(os.environ, NOTIFY_SOCKET=ns_path)
    p = subprocess.Popen(d.cmd("--fd", str(ls.fileno()), "--log-file", log),
                         pass_fds=[ls.fileno()], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    ls.close()
    try:
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("READY=1" in msg.split("\n") and f"MAINPID={p.pid}" in msg,
              f"{d.name}: READY=1 and MAINPID on NOTIFY_SOCKET ({msg!r})")
        st = status_fields(p.pid)
        check(st.get("Seccomp") == "2", f"{d.name}: Seccomp: {st.get('Seccomp')} (2 = filter)")
        check(st.get("NoNewPrivs") == "1", f"{d.name}: NoNewPrivs: {st.get('NoNewPrivs')}")
        check(int(st.get("CapEff", "1"), 16) == 0 and
              int(st.get("CapPrm", "1"), 16) == 0 and
              int(st.get("CapBnd", "1"), 16) == 0,
              f"{d.name}: no capabilities (CapEff {st.get('CapEff')}, CapBnd {st.get('CapBnd')})")
        root = os.readlink(f"/proc/{p.pid}/root")
        mnt_self = os.readlink("/proc/self/ns/mnt")
        mnt_d = os.readlink(f"/proc/{p.pid}/ns/mnt")
        check(mnt_self != mnt_d, f"{d.name}: own mount namespace (default --sandbox namespace; root {root})")
        t = probe_type(cli, path)
        check(t == TYPES[d.name],
              f"{d.name}: vhostkit probe over the --fd socket says {TYPES[d.name]} ({t})")
        # log rotation: move the file away, SIGHUP, a new file appears
        os.rename(log, log + ".1")
        p.send_signal(signal.SIGHUP)
        check(wait_for(lambda: os.path.exists(log)),
              f"{d.name}: SIGHUP reopens --log-file (a new file after rotation)")
        time.sleep(0.2)
        check(p.poll() is None, f"{d.name}: alive after SIGHUP")
        with open(log + ".1") as f:
            old = f.read()
        check("sandbox: namespace" in old, f"{d.name}: the log file got the log lines")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        with open(log) as f:
            tail = f.read()[-400:]
        check(rc == 0, f"{d.name}: SIGTERM: clean exit (rc {rc}): {tail}")
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("STOPPING=1" in msg, f"{d.name}: STOPPING=1 on the way out")
        check(os.path.exists(path), f"{d.name}: an inherited socket's path is left alone")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ns.close()


def test_basic(d, cli):
    """A daemon with its own sockets: log file, notify, SIGHUP, SIGTERM."""
    ns_path = os.path.join(d.tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(ns_path)
    ns.settimeout(20)
    log = os.path.join(d.tmp, "basic.log")
    st = os.path.join(d.tmp, "basic-stats.sock")
    p = subprocess.Popen(d.cmd("--log-file", log, "--stats-socket", st),
                         env=dict(os.environ, NOTIFY_SOCKET=ns_path),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("READY=1" in msg.split("\n"), f"{d.name}: READY=1 ({msg!r})")
        try:
            j = json.loads(stats_query(st, b"json\n"))
        except (OSError, ValueError) as e:
            j = {"error": str(e)}
        devs = j.get("devices", [])
        want = {"vhostkit-vsock": "vsock", "vhostkit-net": "net"}.get(d.name)
        check(j.get("daemon") == d.name and len(devs) == 1 and
              devs[0].get("type") == want and devs[0].get("queues"),
              f"{d.name}: --stats-socket exports its device ({want}): {str(j)[:160]}")
        check_prometheus(stats_query(st, b"prometheus\n"), d.name)
        # The sandbox, default options (--sandbox namespace, seccomp on).
        sf = status_fields(p.pid)
        check(sf.get("Seccomp") == "2" and sf.get("NoNewPrivs") == "1" and
              int(sf.get("CapEff", "1"), 16) == 0 and
              int(sf.get("CapBnd", "1"), 16) == 0,
              f"{d.name}: Seccomp {sf.get('Seccomp')}, NoNewPrivs {sf.get('NoNewPrivs')}, CapEff {sf.get('CapEff')}")
        check(os.readlink("/proc/self/ns/mnt") != os.readlink(f"/proc/{p.pid}/ns/mnt"),
              f"{d.name}: own mount namespace (--sandbox namespace by default)")
        if d.name == "vhostkit-net":
            r = subprocess.run([cli, "net", "stats", "--control", st],
                               capture_output=True, text=True, timeout=20)
            check(r.returncode == 0 and "port" in r.stdout,
                  f"vhostkit-net: vhostkit net stats --control on the stats socket ({r.stdout[:80]!r})")
        os.rename(log, log + ".1")
        p.send_signal(signal.SIGHUP)
        check(wait_for(lambda: os.path.exists(log)),
              f"{d.name}: SIGHUP reopens --log-file")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        check(rc == 0, f"{d.name}: SIGTERM: clean exit (rc {rc})")
        try:
            msg = ns.recv(4096).decode()
        except socket.timeout:
            msg = ""
        check("STOPPING=1" in msg, f"{d.name}: STOPPING=1")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ns.close()


def test_socket_activation(d, cli, ssa):
    path = os.path.join(d.tmp, "sa.sock")
    # systemd-socket-activate listens, and starts the daemon with
    # LISTEN_FDS=1 / LISTEN_PID at the first connection.
    p = subprocess.Popen([ssa, "-l", path] + d.cmd(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        check(wait_for(lambda: os.path.exists(path)),
              f"systemd-socket-activate listens on {path}")
        t = probe_type(cli, path)
        check(t == TYPES[d.name],
              f"{d.name}: socket-activated, vhostkit probe says {TYPES[d.name]} ({t})")
        check(p.poll() is None, f"{d.name}: socket-activated daemon still serving")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        check(rc == 0, f"{d.name}: socket-activated: SIGTERM, rc {rc}: {p.stderr.read()[-300:]}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def outside_dir(d):
    """A directory that is not one of the daemon's socket directories
    (those stay visible, read-write, in --sandbox namespace)."""
    import atexit
    import shutil
    path = tempfile.mkdtemp(prefix="vhk-conv-out-")
    atexit.register(shutil.rmtree, path, True)
    return path


def test_forbidden_call(d):
    """The debug hook: after setup, try to create a file."""
    target = os.path.join(outside_dir(d), "must-not-exist")
    sock = os.path.join(d.tmp, "hook.sock")

    def run(*opts):
        env = dict(os.environ, VHOSTKIT_SANDBOX_TEST="open:" + target)
        if "chroot" in opts:
            # LeakSanitizer reads /proc at exit, which a chroot hides
            # (ASan builds; no effect otherwise).
            env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                                   ":detect_leaks=0").lstrip(":")
        p = subprocess.Popen(d.cmd("--socket-path", sock, *opts), env=env,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        # The hook runs right after setup: its report, or death by SIGSYS.
        seen = []
        for line in p.stderr:
            seen.append(line)
            if "sandbox test:" in line:
                break
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        return p.returncode, "".join(seen) + p.stderr.read()

    rc, err = run("--sandbox", "none")
    check(rc == -signal.SIGSYS and not os.path.exists(target),
          f"{d.name}: open() after setup with seccomp on: killed by SIGSYS (rc {rc})")
    check("forbidden system call" in err,
          f"{d.name}: the SIGSYS is explained on stderr")
    # Controls: the hook itself works when nothing forbids the call...
    rc, err = run("--sandbox", "none", "--seccomp", "off")
    check(rc == 0 and os.path.exists(target) and "SUCCEEDED" in err,
          f"{d.name}: control: --sandbox none --seccomp off lets it create the file (rc {rc})")
    if os.path.exists(target):
        os.unlink(target)
    # ...and the namespace alone hides the file system.
    rc, err = run("--seccomp", "off")
    check(rc == 0 and not os.path.exists(target) and "failed" in err,
          f"{d.name}: --sandbox namespace alone: the file system is out of reach (rc {rc})")
    if os.geteuid() == 0:
        empty = os.path.join(d.tmp, "empty")
        rc, err = run("--sandbox", "chroot", "--sandbox-dir", empty,
                      "--seccomp", "off")
        if d.name != "vhostkit-vsock":
            check(rc == 0 and not os.path.exists(target) and "failed" in err,
                  f"{d.name}: --sandbox chroot: the file system is out of reach (rc {rc})")
        else:
            # vsock reaches sockets by path after setup: a chroot
            # would hide them, so it is refused with the reason.
            check(rc == 1 and "chroot would hide" in err,
                  f"{d.name}: --sandbox chroot refused, reason given (rc {rc})")


def stats_query(path, cmd, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(cmd)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode()


def check_prometheus(text, who):
    """The text format: HELP + TYPE once per family, before its samples;
    every sample NAME{labels} VALUE with a float value."""
    import re
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
    typed, seen_family, bad = {}, set(), []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if name in typed:
                bad.append("TYPE twice: " + name)
            typed[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = sample.match(line)
        if not m:
            bad.append(line)
            continue
        name = m.group(1)
        base = re.sub(r'_(bucket|sum|count)$', '', name)
        fam = name if name in typed else base
        if fam not in typed:
            bad.append("no TYPE before " + name)
        try:
            float(m.group(3))
        except ValueError:
            bad.append(line)
        seen_family.add(fam)
    check(not bad, f"{who}: Prometheus text parses ({bad[:3]})")
    return typed


def iotlb_floor(d):
    """vhostkit-blk refuses an IOTLB smaller than what its largest request
    can need (it livelocked: misses evicting each other); the floor it
    names is accepted, one less is not."""
    sock = os.path.join(d.tmp, "floor.sock")
    r = subprocess.run(d.cmd("--socket-path", sock, "--iotlb-entries", "2"),
                       capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    m = re.search(r"need at least (\d+)", r.stderr)
    check(r.returncode == 2 and m and "--iotlb-entries 2 is too small" in r.stderr,
          f"{d.name} --iotlb-entries 2: exit {r.returncode}, refused ({r.stderr.strip()[:200]})")
    floor = int(m.group(1)) if m else 4116
    # 1 queue, 4096 host segments a chain: 3 ring areas + 4096 + 17 table pages
    check(floor == 4116, f"{d.name}: IOTLB floor for one queue {floor} (4116)")
    r = subprocess.run(d.cmd("--socket-path", sock, "--iotlb-entries",
                             str(floor - 1)),
                       capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    check(r.returncode == 2 and "too small" in r.stderr,
          f"{d.name} --iotlb-entries {floor - 1}: exit {r.returncode}, refused")
    return floor


def test_stats(d, cli, persist):
    """--stats-socket: counters per device and queue, JSON + Prometheus,
    `vhostkit stats` (--watch --count), hostile clients (blk: real I/O
    through the device, with the smallest IOTLB it accepts filled past its
    capacity so that evictions and misses happen, and requests still
    complete)."""
    sock = os.path.join(d.tmp, "st-dev.sock")
    st = os.path.join(d.tmp, "stats.sock")
    extra = []
    if d.name == "vhostkit-blk":
        floor = iotlb_floor(d)
        extra = ["--iommu", "on", "--iotlb-entries", str(floor)]
    p = subprocess.Popen(d.cmd("--socket-path", sock, "--stats-socket", st,
                               *extra),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        check(wait_for(lambda: os.path.exists(sock) and os.path.exists(st)),
              f"{d.name}: --stats-socket {st} listens")
        check(wait_for(lambda: status_fields(p.pid).get("Seccomp") == "2"),
              f"{d.name}: stats socket served inside the sandbox")
        if d.name == "vhostkit-blk":
            # floor + 2000 live one-page mappings (the oldest are evicted),
            # a read after them; two connections (with / without persist)
            r = subprocess.run([persist, sock, str(floor + 2000)],
                               capture_output=True, text=True, timeout=120)
            check(r.returncode == 0 and "RESULT" in r.stdout,
                  f"{d.name}: {floor + 2000} mappings into an IOTLB of {floor}, reads complete (rc {r.returncode}) {r.stderr[-200:]}")
            r = subprocess.run([cli, "blk", "io", sock, "--size", "64k",
                                "--bs", "4k", "--dma", "iommu-strict"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, f"{d.name}: blk io through the device (rc {r.returncode}) {r.stderr[-200:]}")
        r = subprocess.run([cli, "stats", st], capture_output=True,
                           text=True, timeout=20)
        check(r.returncode == 0, f"vhostkit stats {d.name}: rc {r.returncode} {r.stderr.strip()}")
        try:
            j = json.loads(r.stdout)
        except ValueError as e:
            j = {}
            check(False, f"{d.name}: stats JSON parses: {e}: {r.stdout[:200]}")
        devs = j.get("devices", [])
        check(j.get("daemon") == d.name and j.get("pid") == p.pid and devs,
              f"{d.name}: stats JSON names the daemon, pid and devices ({len(devs)})")
        if d.name == "vhostkit-blk" and devs:
            dev = devs[0]
            q = dev["queues"][0]
            check(dev["type"] == "blk" and dev["connections"] == 3,
                  f"blk stats: type blk, three connections ({dev['type']}, {dev['connections']})")
            check(q["requests"] > 0 and q["requests"] == q["latency_ns"]["count"] ==
                  sum(q["latency_ns"]["log2_buckets"]) and q["in_flight"] == 0,
                  f"blk stats: requests {q['requests']} = latency count = histogram sum, none in flight")
            check(q["bytes_read"] >= 64 * 1024 and q["bytes_written"] >= 64 * 1024,
                  f"blk stats: bytes read {q['bytes_read']} / written {q['bytes_written']} cover the 64 KiB")
            dv = q["device"]
            check(dv.get("read", 0) > 0 and dv.get("write", 0) > 0 and
                  dv.get("io_error", -1) == 0,
                  f"blk stats: device counters read {dv.get('read')} write {dv.get('write')} io_error {dv.get('io_error')}")
            io = q["iotlb"]
            check(io["hits"] > 0 and io["misses"] > 0 and io["answered"] > 0 and
                  io["miss_wait_ns"] > 0 and dev["iotlb_evictions"] > 0,
                  f"blk stats: IOTLB hits {io['hits']} misses {io['misses']} answered {io['answered']} wait {io['miss_wait_ns']} ns, evictions {dev['iotlb_evictions']}")
            check(all(v == 0 for v in q["errors"].values()),
                  f"blk stats: no errors {q['errors']}")
        r = subprocess.run([cli, "stats", st, "--prometheus"],
                           capture_output=True, text=True, timeout=20)
        typed = check_prometheus(r.stdout, d.name)
        check(typed.get("vhostkit_queue_latency_seconds") == "histogram" and
              typed.get("vhostkit_queue_requests_total") == "counter",
              f"{d.name}: Prometheus families typed ({len(typed)})")
        if d.name == "vhostkit-blk":
            check('vhostkit_queue_device_total{daemon="vhostkit-blk",device="blk0",queue="0",counter="read"}' in r.stdout,
                  "blk Prometheus: device counters labelled by name")
        # Hostile clients: idle ones, an over-long request, garbage - the
        # device and other clients are served meanwhile.
        idle = []
        for _ in range(12):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(st)
            idle.append(c)
        long_ = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        long_.connect(st)
        long_.sendall(b"x" * 4096)
        t0 = time.monotonic()
        ans = stats_query(st, b"json\n")
        check(ans.startswith("{") and time.monotonic() - t0 < 1.5,
              f"{d.name}: answered while 12 idle clients and a flood are connected ({time.monotonic() - t0:.2f} s)")
        t = probe_type(cli, sock)
        check(t == TYPES[d.name], f"{d.name}: device served meanwhile (probe: {t})")
        long_.settimeout(5)
        try:
            got = long_.recv(200).decode()
        except (OSError, socket.timeout):
            got = ""
        check("error: request too long" in got, f"{d.name}: an over-long request gets an error ({got.strip()!r})")
        check("error: unknown command" in stats_query(st, b"\x00\xff\n"),
              f"{d.name}: garbage gets an error")
        for c in idle:
            c.close()
        long_.close()
        r = subprocess.run([cli, "stats", st, "--watch", "--count", "2"],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0 and r.stdout.count("\033[2J") == 2 and
              r.stdout.count('"daemon"') == 2,
              f"{d.name}: vhostkit stats --watch --count 2 redraws twice (rc {r.returncode})")
        check(p.poll() is None, f"{d.name}: alive after the stats clients")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        check(rc == 0 and not os.path.exists(st),
              f"{d.name}: SIGTERM: exit {rc}, stats socket removed")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = subprocess.run([cli, "stats", st], capture_output=True, text=True,
                       timeout=20)
    check(r.returncode == 3, f"vhostkit stats on a dead socket: exit {r.returncode} (3)")


def test_forbidden_basic(d):
    """The debug hook in a daemon with its own sockets: killed by SIGSYS
    with seccomp on; the control run (--sandbox none --seccomp off)
    creates the file."""
    target = os.path.join(outside_dir(d), "must-not-exist")

    def run(*opts):
        env = dict(os.environ, VHOSTKIT_SANDBOX_TEST="open:" + target)
        p = subprocess.Popen(d.cmd(*opts), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        seen = []
        for line in p.stderr:
            seen.append(line)
            if "sandbox test:" in line:
                break
        if p.poll() is None:
            time.sleep(0.2)
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        return p.returncode, "".join(seen) + p.stderr.read()

    rc, err = run()
    check(rc == -signal.SIGSYS and not os.path.exists(target) and
          "forbidden system call" in err,
          f"{d.name}: open() after setup (default sandbox): killed by SIGSYS (rc {rc})")
    rc, err = run("--sandbox", "none", "--seccomp", "off")
    check(rc == 0 and os.path.exists(target),
          f"{d.name}: control: --sandbox none --seccomp off creates the file (rc {rc}) {err[-200:]}")
    if os.path.exists(target):
        os.unlink(target)
    rc, err = run("--seccomp", "off")
    check(rc == 0 and not os.path.exists(target) and "failed" in err,
          f"{d.name}: --sandbox namespace alone: the file system is out of reach (rc {rc})")


def test_usage(d):
    sock = os.path.join(d.tmp, "u.sock")
    required = {"vhostkit-vsock": "socket and uds-path are required",
                "vhostkit-net": "at least one --port (or --socket-path / --fd) is required"}
    cases = [
        (["--fd", "0", "--socket-path", sock], 2, "--fd excludes"),
        (["--fd", "x"], 2, "--fd must be"),
        ([], 2, required.get(d.name, "--socket-path or --fd is required")),
        (["--sandbox", "jail", "--socket-path", sock], 2, "--sandbox must be"),
        (["--seccomp", "maybe", "--socket-path", sock], 2, "--seccomp must be"),
    ]
    for opts, want, text in cases:
        r = subprocess.run(d.cmd(*opts), capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        check(r.returncode == want and text in r.stderr,
              f"{d.name} {' '.join(opts) or '(no socket)'}: exit {r.returncode}, '{text}'")
    # Anything but a stale socket at PATH is never replaced.
    with open(sock, "w") as f:
        f.write("precious")
    r = subprocess.run(d.cmd("--socket-path", sock), capture_output=True,
                       text=True, timeout=10)
    with open(sock) as f:
        kept = f.read() == "precious"
    check(r.returncode == 1 and kept and "File exists" in r.stderr,
          f"{d.name}: a regular file at --socket-path is refused and kept (exit {r.returncode})")
    os.unlink(sock)
    # --fd that is not a listening Unix stream socket: a runtime error
    rd, wr = os.pipe()
    r = subprocess.run(d.cmd("--fd", str(rd)), capture_output=True,
                       text=True, timeout=10, pass_fds=[rd])
    check(r.returncode == 1 and "not a listening Unix stream socket" in r.stderr,
          f"{d.name} --fd PIPE: exit {r.returncode}, refused")
    os.close(rd)
    os.close(wr)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    r = subprocess.run(d.cmd("--fd", str(s.fileno())), capture_output=True,
                       text=True, timeout=10, pass_fds=[s.fileno()])
    check(r.returncode == 1 and "not a listening" in r.stderr,
          f"{d.name} --fd of a socket that does not listen: exit {r.returncode}")
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--descriptor-dir", required=True)
    ap.add_argument("--persist", required=True,
                    help="vhostkit-bench-persist (fills the blk IOTLB)")
    ap.add_argument("daemons", nargs="+")
    a = ap.parse_args()
    ssa = "/usr/bin/systemd-socket-activate"
    if not os.access(ssa, os.X_OK):
        print(f"FAIL: {ssa} missing (Debian package systemd; scripts/test.sh installs it)")
        return 1
    for spec in a.daemons:
        name, _, rest = spec.partition("=")
        binary, _, kind = rest.partition(":")
        with tempfile.TemporaryDirectory(prefix="vhk-conv-") as tmp:
            d = Daemon(name, binary, [], tmp)
            test_capabilities(d, a.descriptor_dir)
            if kind == "basic":
                with tempfile.TemporaryDirectory(prefix="vhk-conv-") as tmp2:
                    dm = Daemon(name, binary, [], tmp2, multi=True)
                    test_basic(dm, a.cli)
                    test_forbidden_basic(dm)
            test_usage(d)
            test_fd_notify_signals(d, a.cli)
            test_socket_activation(d, a.cli, ssa)
            test_forbidden_call(d)
            test_stats(d, a.cli, a.persist)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
