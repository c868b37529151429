# Back-end restart mid-I/O: the host SIGKILLs the back-end when the guest
# asks (VHK-HOST restart-backend) while a stream of O_DIRECT writes is
# running, and starts it again on the same socket; QEMU reconnects and the
# in-flight requests are resubmitted (inflight tracking).  Every write must
# complete, all data must read back, and data from before must be intact.
vhk_check_basics || exit 1
vhk_verify_io before-restart 0 0 8 || exit 1
md5a=$(dd if=/pat bs=64k count=8 2>/dev/null | md5sum | cut -d' ' -f1)
echo "VHK-HOST restart-backend"
i=0
while [ $i -lt 48 ]; do
	dd if=/pat of=$VHK_DEV bs=64k skip=$((8 + i)) seek=$((64 + i)) count=1 \
		oflag=direct conv=notrunc 2>/tmp/w ||
		{ cat /tmp/w; vhk_fail write-across-restart "block $i"; exit 1; }
	i=$((i + 1))
done
sync
m=$(dd if=/pat bs=64k skip=8 count=48 2>/dev/null | md5sum | cut -d' ' -f1)
echo "VHK-WROTE $((64 * 65536)) $((48 * 65536)) $m"
vhk_pass write-across-restart
vhk_check_region readback-after-restart 64 48 "$m"
vhk_check_region intact-after-restart 0 8 "$md5a"
exit $VHK_FAILED
