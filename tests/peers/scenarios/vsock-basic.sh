# vsock: echo, bulk, concurrency, half-close, SEQPACKET and refusals, both
# directions, through vhostkit-vsock (issue scenarios 1-5 in one boot).
. /lib/vhk/vsock.sh
vsk_check_basics || exit 1
. /lib/vhk/vsock-io.sh
vsk_report
exit $VHK_FAILED
