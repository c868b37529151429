# Guest side of the net peer test (sourced by /init with lib.sh): eth0
# behind vhostkit-net, the host's tap at 10.77.0.1.  Ping the host, take
# 64 MiB from the host over TCP (md5 checked here), send them back (md5
# checked by the host), report the features the driver acked.
. /etc/vhk.env
dev=$(ls /sys/class/net | grep -v lo | head -1)
[ -n "$dev" ] || { vhk_fail net no-interface; exit 1; }
feat=$(cat /sys/class/net/$dev/device/features 2>/dev/null)
vhk_info "features $feat"
ip link set "$dev" up
ip addr add 10.77.0.2/24 dev "$dev"
vhk_info "offloads $(cat /sys/class/net/$dev/features 2>/dev/null)"
if ping -c 3 -W 5 10.77.0.1 >/dev/null 2>&1; then
	vhk_pass ping-host
else
	vhk_fail ping-host
fi
echo "VHK-READY"
# host -> guest
t0=$(vhk_now)
nc -l -p 5001 > /tmp/in
sum=$(md5sum /tmp/in | cut -d' ' -f1)
size=$(wc -c < /tmp/in)
t1=$(vhk_now)
vhk_info "rx $size bytes in $(echo "$t0 $t1" | awk '{print $2-$1}') s"
if [ "$sum" = "$VHK_MD5" ] && [ "$size" = "$VHK_SIZE" ]; then
	vhk_pass tcp-host-to-guest
else
	vhk_fail tcp-host-to-guest "md5 $sum size $size"
fi
# guest -> host (the host listens already)
i=0
until nc 10.77.0.1 5002 < /tmp/in; do
	i=$((i + 1))
	[ $i -lt 20 ] || { vhk_fail tcp-guest-to-host connect; break; }
	sleep 1
done
vhk_info "tx done"
# the host pings us meanwhile; wait for its verdict marker file-less: idle
sleep 2
exit ${VHK_FAILED:-0}
