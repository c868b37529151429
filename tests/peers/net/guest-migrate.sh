# Guest side of the net live-migration test (sourced by /init with
# lib.sh): eth0 behind vhostkit-net, the host's tap at 10.77.0.1.  Take a
# TCP stream from the host while the host migrates this guest to another
# QEMU (and another port of the switch); check its md5, then reach the
# host from the destination.
. /etc/vhk.env
dev=$(ls /sys/class/net | grep -v lo | head -1)
[ -n "$dev" ] || { vhk_fail net no-interface; exit 1; }
ip link set "$dev" up
ip addr add 10.77.0.2/24 dev "$dev"
if ping -c 3 -W 5 10.77.0.1 >/dev/null 2>&1; then
	vhk_pass ping-host
else
	vhk_fail ping-host
fi
echo "VHK-READY"
nc -l -p 5001 > /tmp/in
sum=$(md5sum /tmp/in | cut -d' ' -f1)
size=$(wc -c < /tmp/in)
if [ "$sum" = "$VHK_MD5" ] && [ "$size" = "$VHK_SIZE" ]; then
	vhk_pass tcp-across-migration
else
	vhk_fail tcp-across-migration "md5 $sum size $size"
fi
if ping -c 3 -W 5 10.77.0.1 >/dev/null 2>&1; then
	vhk_pass ping-host-after
else
	vhk_fail ping-host-after
fi
exit ${VHK_FAILED:-0}
