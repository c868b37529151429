#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/blk/blk-bench.sh - vhostkit-blk against qemu-storage-daemon, DMA mode
# costs, and IOTLB_PERSIST at reset, all with vhostkit's userspace driver
# (no guest), on a RAM-backed disk in /dev/shm.  Every comparison runs both
# sides in one invocation (alternating slices) and prints the ratio.
#
#   bash bench/blk/blk-bench.sh [--runtime S] [--entries N] [--disk-mb N]
#                               [--skip-persist] [--skip-dma] [--skip-workers]
#
# 1. 4k randread, iodepth 32, one queue: vhostkit-blk (A) vs
#    qemu-storage-daemon (B): IOPS ratio (goal >= 1.5) and back-end CPU per
#    I/O ratio (goal <= 0.7).
# 2. DMA modes against two vhostkit-blk daemons serving the same disk:
#    iommu-lazy / direct (goal >= 0.9), iommu-strict / direct,
#    bounce / direct (throughput ratios).
# 3. reset + resume with N live IOTLB mappings (default 1000000), with
#    IOTLB_PERSIST vs re-sending them (goal >= 100x faster).
# 4. 4 queues in iotlb mode (iommu-lazy), 4k randread qd32 per queue:
#    vhostkit-blk --queue-workers (A) vs the same daemon on one thread (B),
#    IOPS and back-end CPU per I/O.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${VHK_BUILD_DIR:-$top/build/bench-blk}
runtime=10
entries=1000000
disk_mb=512
do_persist=1
do_dma=1
do_workers=1
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) runtime=$2; shift 2 ;;
	--entries) entries=$2; shift 2 ;;
	--disk-mb) disk_mb=$2; shift 2 ;;
	--skip-persist) do_persist=0; shift ;;
	--skip-dma) do_dma=0; shift ;;
	--skip-workers) do_workers=0; shift ;;
	-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done

qsd=$(command -v qemu-storage-daemon || true)
if [ -z "$qsd" ]; then
	echo "== installing qemu-system-common (qemu-storage-daemon)"
	apt-get install -y -q --no-install-recommends qemu-system-common >/dev/null
	qsd=$(command -v qemu-storage-daemon)
fi
if [ ! -x "$build/tools/vhostkit" ] || [ ! -x "$build/tools/vhostkit-blk" ] ||
   [ ! -x "$build/bench/blk/vhostkit-bench-persist" ]; then
	[ -f "$build/build.ninja" ] ||
		meson setup "$build" -Dtests=false --buildtype=release >/dev/null
	ninja -C "$build" tools/vhostkit tools/vhostkit-blk \
		bench/blk/vhostkit-bench-persist >/dev/null
fi
cli=$build/tools/vhostkit
daemon=$build/tools/vhostkit-blk

dir=$(mktemp -d /dev/shm/vhk-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
# Real pages, not a sparse file: both back-ends read the same RAM.
dd if=/dev/urandom of="$dir/disk.img" bs=1M count="$disk_mb" status=none

wait_sock() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "no socket $1" >&2; exit 1
}
start_vhk() {	# SOCKET [QUEUES [DAEMON OPTIONS...]]
	local sock=$1 nq=${2:-1}
	shift; [ $# -gt 0 ] && shift
	VHOSTKIT_LOG=warn "$daemon" --socket-path "$sock" --disk "$dir/disk.img" \
		--num-queues "$nq" --iotlb-entries $((entries + 4096 + nq * 4116)) "$@" \
		>"$sock.log" 2>&1 &
	last_pid=$!
	pids+=($last_pid)
	wait_sock "$sock"
}

start_vhk "$dir/vhk.sock"; vhk_pid=$last_pid
"$qsd" --blockdev driver=file,node-name=d,filename="$dir/disk.img" \
	--export type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path="$dir/qsd.sock",writable=on \
	>"$dir/qsd.log" 2>&1 &
qsd_pid=$!
pids+=($qsd_pid)
wait_sock "$dir/qsd.sock"

export VHOSTKIT_LOG=warn
echo "== 1. 4k randread qd32, 1 queue: vhostkit-blk (A) vs qemu-storage-daemon (B), ${runtime}s each"
"$cli" blk bench "$dir/vhk.sock" "$dir/qsd.sock" --rw randread --bs 4k \
	--iodepth 32 --runtime "$runtime" --pid-a "$vhk_pid" --pid-b "$qsd_pid" |
	tee "$dir/peer.out"
ratio=$(grep '^RATIO' "$dir/peer.out")

dma_lines=()
if [ "$do_dma" = 1 ]; then
	start_vhk "$dir/vhk2.sock"
	for m in iommu-lazy iommu-strict bounce; do
		echo "== 2. DMA mode $m (A) vs direct (B), 4k randread qd32, ${runtime}s each"
		"$cli" blk bench "$dir/vhk.sock" "$dir/vhk2.sock" --rw randread \
			--bs 4k --iodepth 32 --runtime "$runtime" --dma "$m" \
			--dma-b direct | tee "$dir/dma-$m.out"
		dma_lines+=("$m/direct: $(grep '^RATIO' "$dir/dma-$m.out")")
	done
fi

persist_line=""
if [ "$do_persist" = 1 ]; then
	echo "== 3. reset + resume with $entries live IOTLB mappings"
	"$build/bench/blk/vhostkit-bench-persist" "$dir/vhk.sock" "$entries" |
		tee "$dir/persist.out"
	persist_line=$(grep '^RESULT' "$dir/persist.out")
fi

workers_line=""
if [ "$do_workers" = 1 ]; then
	start_vhk "$dir/vhkw.sock" 4 --queue-workers; w_pid=$last_pid
	start_vhk "$dir/vhk1.sock" 4; one_pid=$last_pid
	echo "== 4. 4 queues, iommu-lazy (device IOTLB), 4k randread qd32 per queue: --queue-workers (A) vs one thread (B), ${runtime}s each"
	"$cli" blk bench "$dir/vhkw.sock" "$dir/vhk1.sock" --rw randread \
		--bs 4k --iodepth 32 --queues 4 --runtime "$runtime" \
		--dma iommu-lazy --pid-a "$w_pid" --pid-b "$one_pid" |
		tee "$dir/workers.out"
	workers_line=$(grep '^RATIO' "$dir/workers.out")
fi

echo
echo "== summary"
echo "vhostkit-blk / qemu-storage-daemon: $ratio   (goals: iops >= 1.5, cpu_per_io <= 0.7)"
for l in "${dma_lines[@]}"; do echo "DMA $l   (goal for iommu-lazy: iops >= 0.9)"; done
[ -n "$persist_line" ] && echo "persist: $persist_line   (goal: ratio >= 100)"
[ -n "$workers_line" ] && echo "4 queues iotlb, workers / one thread: $workers_line"
exit 0
