# Read-only: the back-end offers VIRTIO_BLK_F_RO; the guest sees a read-only
# disk, reads host data, and an O_DIRECT write is refused (the host also
# checks that the image did not change).
vhk_check_basics || exit 1
b=${VHK_DEV#/dev/}
ro=$(cat /sys/block/$b/ro)
[ "$ro" = 1 ] && vhk_pass ro-flag || vhk_fail ro-flag "ro=$ro"
if dd if=/pat of=$VHK_DEV bs=64k count=1 oflag=direct conv=notrunc,fsync \
	2>/tmp/w; then
	vhk_fail ro-write-refused "write succeeded"
else
	vhk_pass ro-write-refused "$(tail -1 /tmp/w)"
fi
# Bypass the block layer's ro check: BLKROSET clears the guest's flag, so
# the request reaches the device, which must fail it (VIRTIO 1.2, 5.2.6.2:
# a device offering VIRTIO_BLK_F_RO fails writes with VIRTIO_BLK_S_IOERR).
if blockdev --setrw $VHK_DEV 2>/dev/null; then
	if dd if=/pat of=$VHK_DEV bs=64k count=1 oflag=direct conv=notrunc \
		2>/tmp/w2; then
		vhk_fail ro-device-refuses "device accepted a write"
	else
		vhk_pass ro-device-refuses "$(tail -1 /tmp/w2)"
	fi
else
	vhk_info "blockdev --setrw not possible; device-side check skipped"
fi
exit $VHK_FAILED
