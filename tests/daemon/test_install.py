#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
test_install.py - `meson install` into a DESTDIR installs what an operator
and a developer need (issue 11 §5), and the result works:

  - the daemons and the CLI, the shared + static library, the headers,
    vhostkit.pc, one man page per program, the vhost-user descriptors
    (JSON, parsed) and the systemd units;
  - every option a program's --help prints is in its man page;
  - a small external C program builds against the installed pkg-config
    file (cflags + libs from the DESTDIR) and runs against the installed
    shared library; one that calls an internal function does not link
    (hidden visibility); every installed header compiles on its own with
    the installed cflags (none includes an uninstalled header).

Usage: test_install.py BUILD_DIR
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


PROGRAMS = ["vhostkit", "vhostkit-blk", "vhostkit-vsock", "vhostkit-net"]

EXTERNAL = r'''
#include <stdio.h>
#include <string.h>
#include <vhostkit/backend.h>

int main(void)
{
	enum vhk_iommu_policy p;

	if (vhk_iommu_policy_parse("on", &p) != 0)
		return 1;
	printf("policy %s\n", vhk_iommu_policy_name(p));
	return strcmp(vhk_iommu_policy_name(p), "on") != 0;
}
'''

INTERNAL = r'''
struct vhk_memtable;
int vhk_memtable_new(struct vhk_memtable **out, unsigned int max_regions);

int main(void)
{
	struct vhk_memtable *mt;

	return vhk_memtable_new(&mt, 8);
}
'''


def main():
    build = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="vhk-install-") as dest:
        r = subprocess.run(["meson", "install", "-C", build, "--destdir",
                            dest, "--no-rebuild", "--quiet"],
                           capture_output=True, text=True, timeout=300)
        if not check(r.returncode == 0, "meson install --destdir: " +
                     (r.stderr.strip()[-500:] or "ok")):
            return 1
        intro = json.loads(subprocess.run(
            ["meson", "introspect", build, "--buildoptions"],
            capture_output=True, text=True).stdout)
        opt = {o["name"]: o["value"] for o in intro}
        prefix = dest + opt["prefix"]
        bindir = os.path.join(prefix, opt["bindir"])
        libdir = os.path.join(prefix, opt["libdir"])
        for p in PROGRAMS:
            check(os.access(os.path.join(bindir, p), os.X_OK),
                  f"{opt['bindir']}/{p} installed")
        check(bool(glob.glob(os.path.join(libdir, "libvhostkit.so.*"))),
              "shared library installed")
        check(os.path.exists(os.path.join(libdir, "libvhostkit.a")),
              "static library installed")
        inc = os.path.join(prefix, opt["includedir"], "vhostkit")
        check(os.path.exists(os.path.join(inc, "backend.h")),
              "headers installed")
        pcdir = os.path.join(libdir, "pkgconfig")
        check(os.path.exists(os.path.join(pcdir, "vhostkit.pc")),
              "vhostkit.pc installed")
        share = os.path.join(prefix, opt["datadir"])
        descs = sorted(glob.glob(os.path.join(share, "qemu", "vhost-user",
                                              "*.json")))
        check(len(descs) == 3, f"3 vhost-user descriptors ({len(descs)})")
        for dsc in descs:
            with open(dsc) as f:
                dj = json.load(f)
            check(dj["binary"] == os.path.join(opt["prefix"], opt["bindir"],
                                               os.path.basename(dj["binary"]))
                  and dj["type"] in ("block", "vsock", "net"),
                  f"{os.path.basename(dsc)}: type {dj['type']}, binary {dj['binary']}")
        for dname in ("vhostkit-blk", "vhostkit-vsock", "vhostkit-net"):
            units = glob.glob(dest + f"/**/systemd/system/{dname}@.*",
                              recursive=True)
            check(len(units) == 2, f"{dname}: systemd units installed ({len(units)})")
            for u in units:
                with open(u) as f:
                    text = f.read()
                if u.endswith(".service"):
                    check("Type=notify" in text and
                          os.path.join(opt["prefix"], opt["bindir"],
                                       dname) in text,
                          f"{dname}@.service: Type=notify, installed binary")
                else:
                    check(f"Service={dname}@%i.service" in text and
                          "ListenStream=/run/vhostkit/" in text,
                          f"{dname}@.socket: ListenStream, Service=")
        # man pages: one per program, every --help option in it
        mandir = os.path.join(prefix, opt["mandir"], "man1")
        for p in PROGRAMS:
            page = os.path.join(mandir, p + ".1")
            if not check(os.path.exists(page), f"man page {p}.1"):
                continue
            with open(page) as f:
                man = f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "")
            helptext = subprocess.run([os.path.join(bindir, p), "--help"],
                                      capture_output=True, text=True,
                                      env=dict(os.environ,
                                               LD_LIBRARY_PATH=libdir)).stdout
            opts = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", helptext))
            missing = sorted(o for o in opts if o not in man)
            check(opts and not missing,
                  f"{p}.1 names all {len(opts)} options of --help"
                  + (f" (missing {missing})" if missing else ""))
        # an external program against the installed pkg-config file
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir,
                   PKG_CONFIG_SYSROOT_DIR=dest)
        pc = subprocess.run(["pkg-config", "--cflags", "--libs", "vhostkit"],
                            capture_output=True, text=True, env=env)
        check(pc.returncode == 0 and dest in pc.stdout,
              f"pkg-config vhostkit: {pc.stdout.strip() or pc.stderr.strip()}")
        src = os.path.join(dest, "ext.c")
        exe = os.path.join(dest, "ext")
        with open(src, "w") as f:
            f.write(EXTERNAL)
        cc = shutil.which("cc") or "gcc"
        r = subprocess.run([cc, src, "-o", exe] + pc.stdout.split(),
                           capture_output=True, text=True)
        check(r.returncode == 0, "external program builds: " + r.stderr[-400:])
        if r.returncode == 0:
            r = subprocess.run([exe], capture_output=True, text=True,
                               env=dict(os.environ, LD_LIBRARY_PATH=libdir))
            ldd = subprocess.run(["ldd", exe], capture_output=True, text=True,
                                 env=dict(os.environ, LD_LIBRARY_PATH=libdir)).stdout
            check(r.returncode == 0 and "policy on" in r.stdout and
                  libdir in ldd,
                  f"external program runs on the installed libvhostkit.so ({r.stdout.strip()})")
        # every installed header compiles on its own with the installed
        # cflags only: no installed header includes an uninstalled one
        cflags = [a for a in pc.stdout.split() if a.startswith(("-I", "-D"))]
        for h in sorted(glob.glob(os.path.join(inc, "*.h"))):
            name = os.path.basename(h)
            r = subprocess.run([cc, "-fsyntax-only", "-Wall", "-Wextra",
                                "-Werror", "-x", "c", "-"] + cflags,
                               input=f"#include <vhostkit/{name}>\n",
                               capture_output=True, text=True)
            check(r.returncode == 0,
                  f"installed vhostkit/{name} compiles on its own"
                  + (": " + r.stderr[-300:] if r.returncode else ""))
        # an internal function is not exported: a program that calls one
        # links against libvhostkit.a only, never against the .so
        with open(src, "w") as f:
            f.write(INTERNAL)
        r = subprocess.run([cc, src, "-o", exe + "-internal"] +
                           pc.stdout.split(), capture_output=True, text=True)
        check(r.returncode != 0 and "vhk_memtable_new" in r.stderr,
              "internal vhk_memtable_new() is not exported by libvhostkit.so")
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
