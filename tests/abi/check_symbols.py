#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
check_symbols.py - the ABI guard of libvhostkit.so.

    check_symbols.py LIB LIST [--headers INCDIR] [--debian SYMBOLS]
    check_symbols.py --update LIB LIST [--debian SYMBOLS]

The first form compares and exits 1 with a diff; --update rewrites LIST
(and the dpkg symbols file) from LIB.

The dynamic symbols LIB defines (nm -D --defined-only) must be exactly the
names in LIST (one a line, sorted; '#' comments).  A symbol appears only
when its declaration carries VHK_API (vhostkit/api.h): adding or removing a
public function means editing LIST in the same commit, on purpose
(docs/architecture.md, "The library boundary").

With --headers (the installed headers, include/vhostkit): every function or
object an installed header declares carries VHK_API on the line before
(an internal function belongs in src/include, not in an installed header),
the VHK_API names are exactly LIST, and an installed header includes no
vhostkit header that is not installed.  With --debian: the dpkg symbols
file of libvhostkit0 names the same symbols (dpkg-gensymbols checks the
package against it).
"""
import argparse
import difflib
import os
import re
import subprocess
import sys

# defined by the linker in every shared object, not by vhostkit
LINKER = {"_init", "_fini", "_edata", "_end", "__bss_start"}
# made by sanitizer instrumentation, not by vhostkit (ASan's ODR indicator
# "__odr_asan.NAME" for every exported global NAME, and the like)
INSTRUMENTATION = ("__odr_asan", "__asan_", "__tsan_", "__ubsan_",
                   "__sancov", "__sanitizer_")

HEADER = """\
# libvhostkit.so exported symbols (the ABI of libvhostkit0), one a line.
# Checked by tests/abi/check_symbols.py (the abi_symbols test, unit suite).
# A symbol is exported only when its declaration carries VHK_API.  After a
# deliberate change: meson compile -C BUILD abi-update (also rewrites
# debian/libvhostkit0.symbols), and review the diff.
"""


def exported(lib):
    r = subprocess.run(["nm", "-D", "--defined-only", "-P", lib],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nm -D {lib} failed: {r.stderr.strip()}")
    names = set()
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        name = f[0].split("@")[0]
        if name not in LINKER and not name.startswith(INSTRUMENTATION):
            names.add(name)
    return sorted(names)


def header_decls(path):
    """(name, has_vhk_api, line) for each top-level declaration in path."""
    lines = open(path).read().split("\n")
    out = []
    depth = 0
    in_comment = False
    for i, line in enumerate(lines):
        code = line
        if in_comment:
            if "*/" not in line:
                continue
            code = line.split("*/", 1)[1]
            in_comment = False
        code = re.sub(r"/\*.*?\*/", "", code)
        if "/*" in code:
            code = code.split("/*", 1)[0]
            in_comment = True
        top = (depth == 0 and code and not code[0].isspace() and
               not re.match(r"(static|typedef|#|\}|extern \"C\"|VHK_API\b)",
                            code) and
               not re.match(r"(struct|enum|union)\s+\w+\s*(\{|;)", code))
        if top:
            stmt = ""
            for j in range(i, min(i + 12, len(lines))):
                stmt += lines[j] + " "
                if ";" in lines[j] or "{" in lines[j]:
                    break
            m = (re.search(r"\b(\w+)\s*\(", stmt) if "(" in stmt.split(";")[0]
                 else re.search(r"\b(\w+)\s*;", stmt))
            # _Static_assert and macro invocations are not declarations
            if (m and stmt.split(";")[0].count("{") == 0 and
                    not re.fullmatch(r"_Static_assert|[A-Z0-9_]+", m.group(1))):
                prev = lines[i - 1].strip() if i else ""
                out.append((m.group(1), prev == "VHK_API", i + 1))
        if 'extern "C"' not in code:
            depth = max(depth + code.count("{") - code.count("}"), 0)
    return out


def check_headers(incdir, want):
    errors = []
    exported = set()
    installed = set(os.listdir(incdir))
    for h in sorted(installed):
        if not h.endswith(".h"):
            continue
        path = os.path.join(incdir, h)
        for name, api, line in header_decls(path):
            if api:
                exported.add(name)
            else:
                errors.append(f"{h}:{line}: {name} is declared in an "
                              "installed header without VHK_API")
        for inc in re.findall(r'#include\s+["<]vhostkit/([\w.]+)[">]',
                              open(path).read()):
            if inc not in installed:
                errors.append(f"{h}: includes vhostkit/{inc}, which is "
                              "not installed")
    for n in sorted(exported - set(want)):
        errors.append(f"{n}: VHK_API in a header, not in the list")
    for n in sorted(set(want) - exported):
        errors.append(f"{n}: in the list, no VHK_API declaration in "
                      "an installed header")
    return errors


def read_debian(path):
    """{name: version} of a dpkg symbols file (libvhostkit0.symbols)."""
    syms = {}
    with open(path) as f:
        for line in f:
            if line.startswith(" ") and "@" in line:
                name, ver = line.split()[:2]
                syms[name.split("@")[0]] = ver
    return syms


def debian_version(changelog):
    with open(changelog) as f:
        m = re.match(r"\S+ \(([^)]+)\)", f.readline())
    return m.group(1).split("-")[0] if m else "0"


def write_debian(path, names, changelog):
    """Rewrite the dpkg symbols file: known symbols keep their version, new
    ones get the version at the top of debian/changelog."""
    old = read_debian(path) if os.path.exists(path) else {}
    ver = debian_version(changelog)
    with open(path, "w") as f:
        f.write("libvhostkit.so.0 libvhostkit0 #MINVER#\n"
                "* Build-Depends-Package: libvhostkit-dev\n")
        for n in names:
            f.write(f" {n}@Base {old.get(n, ver)}\n")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lib")
    ap.add_argument("list")
    ap.add_argument("--headers", help="the installed headers' directory")
    ap.add_argument("--debian", help="debian/libvhostkit0.symbols")
    ap.add_argument("--update", action="store_true",
                    help="rewrite the list (and --debian) from LIB")
    a = ap.parse_args(argv)
    have = exported(a.lib)
    if a.update:
        with open(a.list, "w") as f:
            f.write(HEADER + "".join(n + "\n" for n in have))
        print(f"{a.list}: {len(have)} symbols")
        if a.debian:
            write_debian(a.debian, have, os.path.join(
                os.path.dirname(a.debian), "changelog"))
            print(f"{a.debian}: {len(have)} symbols")
        return 0
    with open(a.list) as f:
        want = sorted(l.strip() for l in f
                      if l.strip() and not l.startswith("#"))
    errors = check_headers(a.headers, want) if a.headers else []
    if a.debian:
        deb = sorted(read_debian(a.debian))
        if deb != want:
            errors.append(f"{a.debian} lists other symbols than {a.list}: "
                          f"missing {sorted(set(want) - set(deb))}, "
                          f"extra {sorted(set(deb) - set(want))}")
    for e in errors:
        print("FAIL: " + e)
    if want == have:
        print(f"ok: {len(have)} exported symbols match {a.list}")
        return 1 if errors else 0
    print(f"FAIL: libvhostkit.so exports differ from {a.list} "
          f"(- listed only, + exported only):")
    sys.stdout.writelines(difflib.unified_diff(
        [n + "\n" for n in want], [n + "\n" for n in have],
        fromfile=a.list, tofile="nm -D " + a.lib, n=0))
    print("A new public function needs VHK_API and a line in the list "
          "(meson compile -C BUILD abi-update); an internal one needs "
          "neither (docs/architecture.md).")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
