# Guest side of the guest <-> DPDK test (sourced by /init with lib.sh):
# eth0 and a dpdk-testpmd virtio-user port on two ports of vhostkit-net.
# 20 pings to testpmd's MAC (a static neighbour: testpmd answers
# nothing, it counts in rxonly mode), then count the frames testpmd's
# txonly mode sends to our MAC.
. /etc/vhk.env
dev=$(ls /sys/class/net | grep -v lo | head -1)
[ -n "$dev" ] || { vhk_fail net no-interface; exit 1; }
ip link set "$dev" up
ip addr add 10.77.0.2/24 dev "$dev"
ip neigh add "$VHK_PEER_IP" lladdr "$VHK_PEER_MAC" dev "$dev" nud permanent
echo "VHK-READY"
sleep 2
ping -c 20 -i 0.2 -w 12 "$VHK_PEER_IP" >/dev/null 2>&1
echo "VHK-PINGED"
rx0=$(cat /sys/class/net/$dev/statistics/rx_packets)
i=0 got=0
while [ $i -lt 120 ]; do
	rx=$(cat /sys/class/net/$dev/statistics/rx_packets)
	got=$((rx - rx0))
	[ $got -ge 1000 ] && break
	i=$((i + 1))
	sleep 0.5
done
echo "VHK-GOT $got"
if [ $got -ge 1000 ]; then
	vhk_pass testpmd-to-guest
else
	vhk_fail testpmd-to-guest "only $got frames"
fi
exit ${VHK_FAILED:-0}
