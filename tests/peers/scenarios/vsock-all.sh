# vsock: every I/O check, then a device reset with open connections and
# the checks again (one boot; used behind the vIOMMU, issue scenario 7).
. /lib/vhk/vsock.sh
vsk_check_basics || exit 1
. /lib/vhk/vsock-io.sh
. /lib/vhk/vsock-reset.sh
vsk_report
exit $VHK_FAILED
