#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh - the main job, from a fresh clone on Debian 12:
#
#   1. installs what is missing (apt-get, as root or via sudo);
#   2. builds vhostkit-blk (meson + ninja, in build/demo);
#   3. creates a scratch disk image and starts vhostkit-blk on it;
#   4. boots a small Linux guest under QEMU (Debian 6.1 kernel, busybox
#      initramfs, fetched once into tests/peers/cache/) whose /init writes
#      DEMO_MB MiB with O_DIRECT, reads it back and verifies it, printing
#      write and read throughput;
#   5. shuts the guest and the daemon down, checks the data in the image file
#      on the host too, and prints a summary.
# Exit status 0 only if the verify passed (in the guest and on the host).
#
#   DEMO_MB=64 bash scripts/demo.sh         # size of the workload (MiB)
#   VHK_DEMO_BACKEND=qsd bash scripts/demo.sh   # same run on qemu-storage-daemon
#   VHK_DEMO_BUILD=DIR  bash scripts/demo.sh    # build directory
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mb=${DEMO_MB:-64}
backend=${VHK_DEMO_BACKEND:-vhostkit}
build=${VHK_DEMO_BUILD:-$top/build/demo}

say() { printf '== %s\n' "$*"; }

# ---- 1. dependencies -------------------------------------------------------
pkgs=(meson ninja-build gcc pkg-config liburing-dev python3
      qemu-system-x86 qemu-system-common busybox-static)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "demo: apt-get install failed"; exit 1; }
fi

# ---- 2. build --------------------------------------------------------------
if [ "$backend" = vhostkit ]; then
	say "building vhostkit-blk in $build"
	mkdir -p "$(dirname "$build")"
	if [ ! -f "$build/build.ninja" ]; then
		meson setup "$build" -Dtests=false >"$build.setup.log" 2>&1 ||
			{ cat "$build.setup.log"; echo "demo: meson setup failed"; exit 1; }
	fi
	ninja -C "$build" tools/vhostkit-blk >"$build.ninja.log" 2>&1 ||
		{ tail -30 "$build.ninja.log"; echo "demo: build failed"; exit 1; }
	[ -x "$build/tools/vhostkit-blk" ] ||
		{ echo "demo: $build/tools/vhostkit-blk was not built"; exit 1; }
fi

# ---- 3-5. image, daemon, guest, shutdown, checks ---------------------------
say "guest kit (kernel + initramfs; fetched once into tests/peers/cache/)"
python3 tests/peers/guestkit.py >/dev/null || { echo "demo: no guest kit"; exit 1; }

say "running: $backend on a $((mb * 2)) MiB scratch image, guest writes/reads/verifies $mb MiB"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
python3 tests/peers/vhkpeer.py --name demo --scenario demo \
	--backend "$backend" --build-dir "$build" \
	--disk-mb $((mb * 2)) --pat-mb "$mb" --guest-env "DEMO_MB=$mb" \
	--timeout $((240 + mb)) --echo 'VHK-(INFO (write|read|verify)|RESULT)' \
	2>&1 | tee "$out"
rc=${PIPESTATUS[0]}

echo
say "summary"
w=$(grep -o 'write: .*' "$out" | head -1 | sed 's/^write: *//')
r=$(grep -o 'read: .*' "$out" | head -1 | sed 's/^read: *//')
printf '  back-end   : %s\n' "$backend"
printf '  write      : %s\n' "$w"
printf '  read       : %s\n' "$r"
if [ "$rc" -eq 0 ] && grep -q 'VHK-RESULT PASS verify' "$out"; then
	printf '  verify     : OK (guest md5 and the image file on the host)\n'
	printf '  shutdown   : guest powered off, back-end exited 0 on SIGTERM\n'
	exit 0
fi
if [ "$rc" -eq 77 ]; then
	printf '  verify     : NOT RUN (skipped, see above)\n'
else
	printf '  verify     : FAILED (runner exit %s, see above)\n' "$rc"
fi
exit 1
