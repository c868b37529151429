#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/guest/blk-vs-qsd.sh - guest fio: vhostkit-blk vs qemu-storage-daemon.
# Builds vhostkit-blk if needed (build/bench-guest, or VHK_BUILD_DIR), then
# runs bench/guest/blk_vs_qsd.py (same guest, same image, same run; about
# 2 x (10 s boot + 3 x 10 s fio)).  Extra arguments go to the Python part:
#   bash bench/guest/blk-vs-qsd.sh --runtime 5 --queues 2
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${VHK_BUILD_DIR:-$top/build/bench-guest}
for p in fio qemu-system-x86 qemu-system-common busybox-static; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing="${missing:-} $p"
done
if [ -n "${missing:-}" ]; then
	echo "== installing:$missing"
	apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
if [ ! -x "$build/tools/vhostkit-blk" ]; then
	[ -f "$build/build.ninja" ] || meson setup "$build" -Dtests=false >/dev/null
	ninja -C "$build" tools/vhostkit-blk >/dev/null
fi
exec python3 "$top/bench/guest/blk_vs_qsd.py" --build-dir "$build" "$@"
