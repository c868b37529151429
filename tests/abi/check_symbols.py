#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
check_symbols.py - the ABI guard of libvhostkit.so.

    check_symbols.py LIB LIST           # compare; exit 1 with a diff
    check_symbols.py --update LIB LIST  # rewrite LIST from LIB

The dynamic symbols LIB defines (nm -D --defined-only) must be exactly the
names in LIST (one a line, sorted; '#' comments).  A symbol appears only
when its declaration carries VHK_API (vhostkit/api.h): adding or removing a
public function means editing LIST in the same commit, on purpose
(docs/architecture.md, "The library boundary").
"""
import difflib
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
# deliberate change: meson compile -C BUILD abi-update, and review the diff.
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


def main(argv):
    update = argv[:1] == ["--update"]
    if update:
        argv = argv[1:]
    if len(argv) != 2:
        sys.exit(__doc__)
    lib, path = argv
    have = exported(lib)
    if update:
        with open(path, "w") as f:
            f.write(HEADER + "".join(n + "\n" for n in have))
        print(f"{path}: {len(have)} symbols")
        return 0
    with open(path) as f:
        want = sorted(l.strip() for l in f
                      if l.strip() and not l.startswith("#"))
    if want == have:
        print(f"ok: {len(have)} exported symbols match {path}")
        return 0
    print(f"FAIL: libvhostkit.so exports differ from {path} "
          f"(- listed only, + exported only):")
    sys.stdout.writelines(difflib.unified_diff(
        [n + "\n" for n in want], [n + "\n" for n in have],
        fromfile=path, tofile="nm -D " + lib, n=0))
    print("A new public function needs VHK_API and a line in the list; an "
          "internal one needs neither (docs/architecture.md).")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
