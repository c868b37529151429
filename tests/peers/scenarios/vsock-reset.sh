# vsock: device reset (virtio-pci unbind/bind) with connections open in
# both directions: old sockets fail promptly on both sides, new ones work
# (issue scenario 6).
. /lib/vhk/vsock.sh
vsk_check_basics || exit 1
. /lib/vhk/vsock-reset.sh
vsk_report
exit $VHK_FAILED
