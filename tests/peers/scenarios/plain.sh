# Plain: the device looks right, host-written data reads back, and
# verified O_DIRECT I/O in two regions (64 KiB and 2 MiB) lands in the image.
vhk_check_basics || exit 1
vhk_verify_io io-small 0 16 1 || exit 1
vhk_verify_io io-1m 1 32 32 || exit 1
# The first region must still hold its data.
vhk_check_region io-small-intact 16 1 \
	"$(dd if=/pat bs=64k count=1 2>/dev/null | md5sum | cut -d' ' -f1)"
exit $VHK_FAILED
