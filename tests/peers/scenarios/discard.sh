# Discard: the guest sees discard limits, BLKDISCARD on a written region
# succeeds (VIRTIO_BLK_T_DISCARD with a real Linux segment list), the region
# then reads back either unchanged or as zeros (VIRTIO 1.2, 5.2.6.1: discard
# does not promise zeros) and the device keeps working.
vhk_check_basics || exit 1
b=${VHK_DEV#/dev/}
dmax=$(cat /sys/block/$b/queue/discard_max_bytes)
dgran=$(cat /sys/block/$b/queue/discard_granularity)
wz=$(cat /sys/block/$b/queue/write_zeroes_max_bytes)
vhk_info "discard_max_bytes=$dmax granularity=$dgran write_zeroes_max_bytes=$wz"
[ "$dmax" -gt 0 ] || { vhk_fail discard-offered "discard_max_bytes=0"; exit 1; }
vhk_pass discard-offered

# region B: 1 MiB at 8 MiB, written then discarded (left discarded)
dd if=/pat of=$VHK_DEV bs=64k skip=0 seek=128 count=16 oflag=direct \
	conv=notrunc,fsync 2>/dev/null || { vhk_fail discard write; exit 1; }
pm=$(dd if=/pat bs=64k count=16 2>/dev/null | md5sum | cut -d' ' -f1)
zm=$(dd if=/dev/zero bs=64k count=16 2>/dev/null | md5sum | cut -d' ' -f1)
blkdiscard -o $((128 * 65536)) -l $((16 * 65536)) $VHK_DEV 2>/tmp/bd ||
	{ cat /tmp/bd; vhk_fail discard blkdiscard-failed; exit 1; }
vhk_drop_caches
got=$(vhk_read_md5 discard 128 16)
if [ "$got" = "$zm" ]; then
	vhk_pass discard "region reads as zeros"
	echo "VHK-ZEROED $((128 * 65536)) $((16 * 65536))"
elif [ "$got" = "$pm" ]; then
	vhk_pass discard "region unchanged (allowed)"
else
	vhk_fail discard "region is neither the old data nor zeros"
fi
# the device still does verified I/O, next to the discarded range
vhk_verify_io after-discard 16 144 16
exit $VHK_FAILED
