#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/blk/blk-modes.sh - vhostkit-blk's modes against a reference
# vhostkit-blk (an older build, or this one in event mode), 4k random reads
# at queue depth 32 on a RAM-backed file in /dev/shm, with vhostkit's
# userspace driver.  Every line is one `vhostkit blk bench A B` run:
# alternating slices, the back-end not being measured stopped (SIGSTOP),
# IOPS and back-end CPU per I/O for both, and the ratios A/B.
#
#   bash bench/blk/blk-modes.sh [--runtime S] [--rounds N]
#                               [--ref PATH-TO-OLD-vhostkit-blk]
#                               [--modes "event poll mmap mmap-poll mq"]
#                               (also: sqpoll, poll-sqpoll: io_uring SQPOLL;
#                                event-punt: event mode with --nowait=off)
#
# Without --ref the reference is this build's vhostkit-blk in event mode.
# Modes (A): event, --poll, --mmap, --mmap --poll, and 2 queues with
# --queue-workers against 1 queue (both this build, driver on 2 queues vs 1).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${VHK_BUILD_DIR:-$top/build/bench-blk}
runtime=4
rounds=4
ref=
modes="event poll mmap mmap-poll mq"
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) runtime=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	--ref) ref=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
if [ ! -x "$build/tools/vhostkit" ] || [ ! -x "$build/tools/vhostkit-blk" ]; then
	[ -f "$build/build.ninja" ] ||
		meson setup "$build" -Dtests=false --buildtype=release >/dev/null
	ninja -C "$build" tools/vhostkit tools/vhostkit-blk >/dev/null
fi
cli=$build/tools/vhostkit
daemon=$build/tools/vhostkit-blk
ref=${ref:-$daemon}
dir=$(mktemp -d /dev/shm/vhk-modes-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true
		kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
dd if=/dev/urandom of="$dir/disk.img" bs=1M count=256 status=none
export VHOSTKIT_LOG=warn

wait_sock() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "no socket $1" >&2; exit 1
}
start() {	# BINARY SOCKET OPTIONS...
	local bin=$1 sock=$2; shift 2
	"$bin" --socket-path "$sock" --disk "$dir/disk.img" "$@" \
		>"$sock.log" 2>&1 &
	last_pid=$!
	pids+=($last_pid)
	wait_sock "$sock"
}
summary=()
pair() {	# LABEL QUEUES-A QUEUES-B A-OPTIONS... -- B-OPTIONS...
	local label=$1 qa=$2 qb=$3; shift 3
	local aopts=() bopts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do aopts+=("$1"); shift; done
	shift
	bopts=("$@")
	local sa=$dir/a.$RANDOM.sock sb=$dir/b.$RANDOM.sock pa pb
	start "$daemon" "$sa" --num-queues "$qa" "${aopts[@]}"; pa=$last_pid
	start "$refbin" "$sb" --num-queues "$qb" "${bopts[@]}"; pb=$last_pid
	echo "== $label"
	"$cli" blk bench "$sa" "$sb" --rw randread --bs 4k --iodepth 32 \
		--queues "$qa" --queues-b "$qb" --runtime "$runtime" \
		--rounds "$rounds" --pid-a "$pa" --pid-b "$pb" | tee "$dir/out"
	summary+=("$label: $(grep '^RESULT side=A' "$dir/out" | cut -d' ' -f3,8) vs $(grep '^RESULT side=B' "$dir/out" | cut -d' ' -f3,8) => $(grep '^RATIO' "$dir/out")")
	kill "$pa" "$pb"; wait "$pa" "$pb" 2>/dev/null || true
}
refbin=$ref
echo "A: $daemon   B (reference): $ref"
for m in $modes; do
	case $m in
	event) pair "event / reference" 1 1 -- ;;
	poll) pair "poll / reference" 1 1 --poll -- ;;
	poll-sqpoll) pair "poll+sqpoll / reference" 1 1 --poll --sqpoll -- ;;
	sqpoll) pair "sqpoll / reference" 1 1 --sqpoll -- ;;
	event-punt) pair "event --nowait=off / reference" 1 1 --nowait=off -- ;;
	mmap) pair "mmap / reference" 1 1 --mmap -- ;;
	mmap-poll) pair "mmap+poll / reference" 1 1 --mmap --poll -- ;;
	mq) refbin=$daemon
	    pair "2 queues -W / 1 queue (this build)" 2 1 --queue-workers --
	    refbin=$ref ;;
	*) echo "unknown mode $m" >&2; exit 2 ;;
	esac
done
echo
echo "== summary (A: iops cpu_us_per_io vs B: iops cpu_us_per_io => ratios)"
for l in "${summary[@]}"; do echo "$l"; done
