# Guest side of the net back-end restart test: ping the host once a
# second; the host restarts vhostkit-net (client mode) meanwhile.  PASS
# when pings failed (the outage) and then succeed again (traffic resumed).
dev=$(ls /sys/class/net | grep -v lo | head -1)
[ -n "$dev" ] || { vhk_fail net no-interface; exit 1; }
ip link set "$dev" up
ip addr add 10.77.0.2/24 dev "$dev"
i=0
until ping -c 1 -W 2 10.77.0.1 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 30 ] || { vhk_fail ping-host; exit 1; }
done
vhk_pass ping-host
echo "VHK-READY"
lost=0 back=0 i=0
while [ $i -lt 120 ]; do
	i=$((i + 1))
	if ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1; then
		[ $lost -gt 0 ] && back=$((back + 1))
		[ $back -ge 3 ] && break
		sleep 1
	else
		lost=$((lost + 1))
	fi
done
vhk_info "pings lost during the restart: $lost"
if [ $lost -gt 0 ] && [ $back -ge 3 ]; then
	vhk_pass traffic-resumed
else
	vhk_fail traffic-resumed "lost $lost back $back"
fi
exit ${VHK_FAILED:-0}
