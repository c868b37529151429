#!/usr/bin/env bash
# scripts/soak.sh - the full soak of vhostkit-blk (tests/soak/soak.c):
# 10 000 connect / negotiate / disconnect cycles with the daemon's fds and
# RSS compared, 100 SIGKILLs of the daemon under I/O with a reconnecting
# front-end (no lost or repeated write), 20 rounds of front-ends killed
# mid-message and mid-IOTLB-miss.  The default test command runs a short
# version (meson test soak-short: 500 cycles, 5 kills, 1 round).
#
#   bash scripts/soak.sh [BUILD_DIR]        # default: build/release
#   SOAK_CYCLES=10000 SOAK_KILLS=100 SOAK_HOSTILE=20 SOAK_SEED=N
#
# BUILD_DIR must be a configured meson build dir (scripts/test.sh makes
# build/release and build/asan); the soak binary and vhostkit-blk are
# built there first.  Prints the figures and ends with "soak: PASS".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/release}
[ -f "$build/build.ninja" ] || {
	echo "soak.sh: $build is not a meson build dir (run scripts/test.sh or meson setup)" >&2
	exit 2
}
ninja -C "$build" tests/soak/soak tools/vhostkit-blk >/dev/null
args=(--cycles "${SOAK_CYCLES:-10000}" --kills "${SOAK_KILLS:-100}"
      --hostile "${SOAK_HOSTILE:-20}")
[ -n "${SOAK_SEED:-}" ] && args+=(--seed "$SOAK_SEED")
echo "soak.sh: $build/tests/soak/soak ${args[*]}"
VHK_BLK_BIN="$build/tools/vhostkit-blk" exec "$build/tests/soak/soak" "${args[@]}"
