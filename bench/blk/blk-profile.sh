#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/blk/blk-profile.sh - where a 4k request's time goes in vhostkit-blk:
# instructions per request (callgrind, user space) by stage, system calls,
# context switches and CPU time per request at full speed (perf stat with
# the raw_syscalls tracepoint), and which system calls (strace -c), with vhostkit's userspace driver doing 4k
# random reads at queue depth 32 on one queue, on a RAM-backed disk.
#
#   bash bench/blk/blk-profile.sh [--runtime S] [-- DAEMON-OPTIONS...]
#
# Builds vhostkit and vhostkit-blk (debugoptimized: symbols, -O2) in
# build/bench-prof (or VHK_BUILD_DIR).  Instruction counts are exact and
# repeatable on a loaded machine; times under callgrind are not (batches
# are smaller than at full speed: the driver outruns the daemon).
# Stages are inclusive instruction counts of the functions that carry
# them, divided by the requests served (calls of vhk_vq_push).  Under
# callgrind the daemon runs without its sandbox (valgrind does not know
# the seccomp system call); strace runs it as configured.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${VHK_BUILD_DIR:-$top/build/bench-prof}
runtime=6
while [ $# -gt 0 ]; do
	case "$1" in
	--runtime) runtime=$2; shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
for t in valgrind strace callgrind_annotate perf; do
	command -v $t >/dev/null || { echo "needs $t (apt-get install valgrind strace linux-perf)" >&2; exit 1; }
done
if [ ! -x "$build/tools/vhostkit" ] || [ ! -x "$build/tools/vhostkit-blk" ]; then
	[ -f "$build/build.ninja" ] ||
		meson setup "$build" -Dtests=false --buildtype=debugoptimized >/dev/null
	ninja -C "$build" tools/vhostkit tools/vhostkit-blk >/dev/null
fi
cli=$build/tools/vhostkit
daemon=$build/tools/vhostkit-blk
dir=$(mktemp -d /dev/shm/vhk-prof-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
dd if=/dev/urandom of="$dir/disk.img" bs=1M count=64 status=none
export VHOSTKIT_LOG=warn

wait_sock() {
	for _ in $(seq 300); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "no socket $1" >&2; exit 1
}
bench() {	# SOCKET
	"$cli" blk bench "$1" --rw randread --bs 4k --iodepth 32 \
		--runtime "$runtime" | grep '^RESULT'
}

echo "== callgrind: vhostkit-blk $*"
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
	--compress-strings=no --compress-pos=no \
	"$daemon" --socket-path "$dir/cg.sock" --disk "$dir/disk.img" \
	--num-queues 1 --sandbox none --seccomp off "$@" >"$dir/cg.log" 2>&1 &
pid=$!
wait_sock "$dir/cg.sock"
bench "$dir/cg.sock"
kill -TERM "$pid"; wait "$pid" || true; pid=
[ -s "$dir/cg.out" ] || { cat "$dir/cg.log"; exit 1; }
callgrind_annotate --inclusive=yes --threshold=100 "$dir/cg.out" \
	>"$dir/cg.txt" 2>/dev/null
python3 - "$dir/cg.out" "$dir/cg.txt" <<'PY'
import re, sys
calls = {}
cur = None
for line in open(sys.argv[1]):
    if line.startswith('cfn='):
        cur = line[4:].strip()
    elif line.startswith('calls=') and cur:
        calls[cur] = calls.get(cur, 0) + int(line.split()[0][6:])
        cur = None
incl = {}
total = None
for line in open(sys.argv[2]):
    m = re.match(r'\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S+):(\S+)', line)
    if m:
        name = m.group(3).split("'")[0]
        incl.setdefault(name, int(m.group(1).replace(',', '')))
    m = re.match(r'\s*([\d,]+)\s+\(100.0%\)\s+PROGRAM TOTALS', line)
    if m:
        total = int(m.group(1).replace(',', ''))
reqs = calls.get('vhk_vq_push', 0)
if not reqs:
    sys.exit('no requests seen')
print(f'requests served: {reqs}')
if total:
    print(f'{"whole daemon (all threads)":44s} {total / reqs:8.0f} Ir/request')
stages = [
    ('kick: eventfd read + ring processing', 'be_kick_readable'),
    ('  framework loop (pop+handle+batch end)', 'vhk_dq_process'),
    ('  pop (descriptor walk + translate)', 'vhk_vq_pop'),
    ('    translate', 'vhk_as_translate'),
    ('  parse + start (blk)', 'vhk_blk_queue_chain'),
    ('  io_uring submit', 'io_uring_submit'),
    ('  mmap copy', 'blk_mmap_rw'),
    ('completion: eventfd read, reap CQEs, push', 'vhk_blk_queue_reap'),
    ('  push', 'vhk_vq_push'),
    ('flush used ring + call', 'vhk_backend_complete'),
    ('  call (eventfd write)', 'be_fd_signal'),
    ('poll loop', 'be_poll_ring'),
    ('epoll_wait', 'epoll_wait'),
]
for label, fn in stages:
    if fn in incl:
        n = calls.get(fn, 0)
        print(f'{label:44s} {incl[fn] / reqs:8.0f} Ir/request'
              f'  ({fn}, {n / reqs:.3f} calls/request)')
PY

echo "== perf stat at full speed: vhostkit-blk $*"
"$daemon" --socket-path "$dir/st.sock" --disk "$dir/disk.img" \
	--num-queues 1 "$@" >"$dir/st.log" 2>&1 &
pid=$!
wait_sock "$dir/st.sock"
# The bench's warm-up second, then a window inside its measured run.
( sleep 1.5; perf stat -x, -o "$dir/perf.txt" \
	-e raw_syscalls:sys_enter,context-switches,task-clock -p "$pid" \
	-- sleep "$((runtime - 1))" ) 2>/dev/null &
ppid=$!
res=$(bench "$dir/st.sock")
wait "$ppid" || true
echo "$res"
iops=$(echo "$res" | sed -n 's/.*iops=\([0-9]*\).*/\1/p')
if [ -s "$dir/perf.txt" ] && grep -q sys_enter "$dir/perf.txt"; then
	python3 - "$dir/perf.txt" "$iops" "$((runtime - 1))" <<'PY'
import sys
reqs = float(sys.argv[2]) * float(sys.argv[3])
print(f'requests in the window (IOPS x {sys.argv[3]} s): {reqs:.0f}')
for line in open(sys.argv[1]):
    f = line.strip().split(',')
    if len(f) < 3 or not f[0].replace('.', '').isdigit():
        continue
    v = float(f[0])
    if 'task-clock' in f[2]:
        print(f'  CPU (task-clock)      {v * 1000 / reqs:7.3f} us per request')
    else:
        print(f'  {f[2]:20s}  {v / reqs:7.3f} per request')
PY
else
	echo "  (perf stat unavailable: no tracepoint access)"
fi
kill -TERM "$pid"; wait "$pid" || true; pid=

echo "== strace -c (slowed down: batches are larger than at full speed): vhostkit-blk $*"
"$daemon" --socket-path "$dir/st2.sock" --disk "$dir/disk.img" \
	--num-queues 1 "$@" >"$dir/st2.log" 2>&1 &
pid=$!
wait_sock "$dir/st2.sock"
strace -f -c -o "$dir/strace.txt" -p "$pid" 2>/dev/null &
spid=$!
sleep 1
res=$(bench "$dir/st2.sock")
echo "$res"
kill -INT "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
kill -TERM "$pid"; wait "$pid" || true; pid=
# Requests: measured IOPS x (runtime + the one-second warm-up), approximate.
iops=$(echo "$res" | sed -n 's/.*iops=\([0-9]*\).*/\1/p')
python3 - "$dir/strace.txt" "$iops" "$runtime" <<'PY'
import sys
reqs = float(sys.argv[2]) * (float(sys.argv[3]) + 1.0)
print(f'requests (approx., under strace): {reqs:.0f}')
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != 'total':
        calls = int(f[3])
        if calls / reqs >= 0.001:
            print(f'  {f[-1]:20s} {calls / reqs:7.3f} per request')
PY
