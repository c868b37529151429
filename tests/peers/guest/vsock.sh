#!/bin/sh
# SPDX-License-Identifier: MIT
# vsock helpers for the guest scenarios (sourced after lib.sh).  The tool
# is /bin/vsockt (tests/peers/guest-src/vsockt.c); the host side is
# tests/peers/vsockpeer.py: listeners on CID 2 ports 5000 echo, 5001 sink,
# 5002 report, 5003 SEQPACKET echo; `VHK-HOST vsock ACTION ...` asks it to
# connect into the guest.
VSK_GUEST_CID=${VSK_GUEST_CID:-3}

# vsk_virtio_dev: the virtio device (virtioN) of type 19 (socket).
vsk_virtio_dev() {
	for d in /sys/bus/virtio/devices/*; do
		[ "$(cat $d/device 2>/dev/null)" = 0x0013 ] && { basename $d; return 0; }
	done
	return 1
}

# vsk_check_basics: the transport is bound, features and CID as configured.
vsk_check_basics() {
	n=200
	while ! v=$(vsk_virtio_dev) || [ ! -e /sys/bus/virtio/devices/$v/driver ]; do
		n=$((n - 1))
		[ $n -le 0 ] && { vhk_fail basics no-virtio-vsock; return 1; }
		usleep 100000
	done
	f=$(cat /sys/bus/virtio/devices/$v/features)
	drv=$(basename "$(readlink -f /sys/bus/virtio/devices/$v/driver)")
	cid=$(vsockt cid) || { vhk_fail basics "no-cid"; return 1; }
	vhk_info "dev=$v driver=$drv cid=$cid features=$f"
	[ "$cid" = "$VSK_GUEST_CID" ] ||
		{ vhk_fail basics "cid $cid != $VSK_GUEST_CID"; return 1; }
	[ "$(echo "$f" | cut -c33)" = 1 ] || { vhk_fail basics no-VERSION_1; return 1; }
	ap=$(echo "$f" | cut -c34)
	[ "$ap" = "${VHK_IOMMU:-0}" ] ||
		{ vhk_fail basics "ACCESS_PLATFORM=$ap want ${VHK_IOMMU:-0}"; return 1; }
	if [ "${VHK_IOMMU:-0}" = 1 ]; then
		pci=$(basename "$(dirname "$(readlink -f /sys/bus/virtio/devices/$v)")")
		t=$(cat /sys/bus/pci/devices/$pci/iommu_group/type 2>/dev/null)
		case "$t" in
		DMA*) vhk_info "iommu group type $t" ;;
		*) vhk_fail basics "iommu-domain-type=$t"; return 1 ;;
		esac
	fi
	vhk_pass basics "cid=$cid"
}

# vsk_run TAG ARGS...: run vsockt ARGS, its output as VHK-INFO, verdict by
# exit code.
vsk_run() {
	tag=$1
	shift
	vsockt "$@" > /tmp/run.$tag 2>&1
	rc=$?
	sed "s/^/VHK-INFO $tag: /" /tmp/run.$tag
	if [ $rc = 0 ]; then
		vhk_pass "$tag" "$(tail -n1 /tmp/run.$tag | tr ' ' _)"
	else
		vhk_fail "$tag" "rc=$rc"
	fi
}

# vsk_wait_line FILE REGEX SECONDS
vsk_wait_line() {
	n=$(( $3 * 10 ))
	while ! grep -q "$2" "$1" 2>/dev/null; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		usleep 100000
	done
	return 0
}

# vsk_serve PORT MODE COUNT: a guest server in the background (COUNT
# connections), listening when this returns.
vsk_serve() {
	vsockt serve "$1" "$2" "$3" > /tmp/srv.$1 2>&1 &
	vsk_wait_line /tmp/srv.$1 '^listening' 10 ||
		{ cat /tmp/srv.$1; vhk_fail "serve-$1" not-listening; return 1; }
}

# vsk_host TAG PORT SECONDS ACTION ARGS...: ask the host to run ACTION
# against the guest server on PORT, wait for that server to finish.
vsk_host() {
	tag=$1 port=$2 secs=$3
	shift 3
	echo "VHK-HOST vsock $*"
	if ! vsk_wait_line /tmp/srv.$port '^served' "$secs"; then
		sed "s/^/VHK-INFO $tag: /" /tmp/srv.$port
		vhk_fail "$tag" "guest server timeout"
		return 1
	fi
	grep -v '^sink\|^accepted' /tmp/srv.$port | sed "s/^/VHK-INFO $tag: /"
	if grep -q '^served .* ok' /tmp/srv.$port; then
		vhk_pass "$tag" "$(grep -c "^accepted" /tmp/srv.$port)-connections"
	else
		vhk_fail "$tag" "guest server failed"
	fi
}

# vsk_report: the host's verdict on its own checks (it waits for them).
vsk_report() {
	r=$(vsockt getline 2 5002 2>&1)
	vhk_info "host report: $r"
	case "$r" in
	"host "*" ok") vhk_pass host-side "$(echo "$r" | cut -d' ' -f2)-actions" ;;
	*) vhk_fail host-side "$r" ;;
	esac
}

# vsk_reset_device: unbind + bind virtio-pci of the vsock device.
vsk_reset_device() {
	v=$(vsk_virtio_dev) || { vhk_fail reset no-device; return 1; }
	pci=$(basename "$(dirname "$(readlink -f /sys/bus/virtio/devices/$v)")")
	d=/sys/bus/pci/drivers/virtio-pci
	echo "VHK-INFO vsock-reset-start $pci"
	echo "$pci" > $d/unbind || { vhk_fail reset unbind; return 1; }
	echo "$pci" > $d/bind || { vhk_fail reset bind; return 1; }
	n=100
	while ! v=$(vsk_virtio_dev) || [ ! -e /sys/bus/virtio/devices/$v/driver ]; do
		n=$((n - 1))
		[ $n -le 0 ] && { vhk_fail reset no-transport-after-bind; return 1; }
		usleep 100000
	done
	vhk_pass reset "$pci"
}
