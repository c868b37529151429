# Multi-queue: two request queues, two CPUs, one O_DIRECT writer and reader
# pinned to each CPU; both virtqueues must complete requests (their MSI-X
# vectors "virtioN-req.0" and "req.1" in /proc/interrupts both count up).
vhk_check_basics || exit 1
b=${VHK_DEV#/dev/}
for q in /sys/block/$b/mq/*; do
	vhk_info "hctx $(basename $q) cpus $(cat $q/cpu_list)"
done
# vhk_vq_irqs Q: interrupts of request queue Q, summed over CPUs.
vhk_vq_irqs() {
	awk -v q="req.$1" '$NF ~ q"$" { for (i = 2; i <= NF; i++)
		if ($i ~ /^[0-9]+$/) n += $i } END { print n + 0 }' \
		/proc/interrupts
}
q0=$(vhk_vq_irqs 0); q1=$(vhk_vq_irqs 1)

taskset -c 0 dd if=/pat of=$VHK_DEV bs=64k skip=0 seek=64 count=32 \
	oflag=direct conv=notrunc,fsync 2>/tmp/w0 & p0=$!
taskset -c 1 dd if=/pat of=$VHK_DEV bs=64k skip=32 seek=128 count=32 \
	oflag=direct conv=notrunc,fsync 2>/tmp/w1 & p1=$!
wait $p0; r0=$?
wait $p1; r1=$?
[ $r0 = 0 ] && [ $r1 = 0 ] || { vhk_fail mq-write "rc $r0 $r1"; exit 1; }
m0=$(dd if=/pat bs=64k skip=0 count=32 2>/dev/null | md5sum | cut -d' ' -f1)
m1=$(dd if=/pat bs=64k skip=32 count=32 2>/dev/null | md5sum | cut -d' ' -f1)
echo "VHK-WROTE $((64 * 65536)) $((32 * 65536)) $m0"
echo "VHK-WROTE $((128 * 65536)) $((32 * 65536)) $m1"
vhk_pass mq-write-parallel

vhk_drop_caches
taskset -c 1 dd if=$VHK_DEV bs=64k skip=64 count=32 iflag=direct \
	2>/dev/null | md5sum | cut -d' ' -f1 >/tmp/r0 & p0=$!
taskset -c 0 dd if=$VHK_DEV bs=64k skip=128 count=32 iflag=direct \
	2>/dev/null | md5sum | cut -d' ' -f1 >/tmp/r1 & p1=$!
wait $p0; wait $p1
[ "$(cat /tmp/r0)" = "$m0" ] || vhk_fail mq-read-0 "md5 $(cat /tmp/r0) != $m0"
[ "$(cat /tmp/r1)" = "$m1" ] || vhk_fail mq-read-1 "md5 $(cat /tmp/r1) != $m1"
[ $VHK_FAILED = 0 ] && vhk_pass mq-read-parallel

n0=$(( $(vhk_vq_irqs 0) - q0 )); n1=$(( $(vhk_vq_irqs 1) - q1 ))
grep req /proc/interrupts | sed "s/^/VHK-INFO /"
vhk_info "completion interrupts: vq0 $n0, vq1 $n1"
if [ $n0 -gt 0 ] && [ $n1 -gt 0 ]; then
	vhk_pass mq-both-queues "vq0=$n0 vq1=$n1"
else
	vhk_fail mq-both-queues "vq0=$n0 vq1=$n1"
fi
exit $VHK_FAILED
