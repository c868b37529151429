# Reset mid-life: unbinding and rebinding virtio-pci resets the device
# (status 0) and makes the front-end stop and restart the vhost rings.
# Data written before each reset must survive it, and I/O must work after.
vhk_check_basics || exit 1
vhk_verify_io before-reset 0 0 16 || exit 1
md5a=$(dd if=/pat bs=64k count=16 2>/dev/null | md5sum | cut -d' ' -f1)
for i in 1 2; do
	vhk_reset_device || exit 1
	vhk_check_basics || exit 1
	vhk_check_region intact-after-reset-$i 0 16 "$md5a" || exit 1
	vhk_verify_io io-after-reset-$i $((16 * i)) $((64 * i)) 16 || exit 1
done
exit $VHK_FAILED
