#!/bin/sh
# SPDX-License-Identifier: MIT
# Helpers sourced by every guest scenario.  Units: offsets and sizes are in
# 64 KiB blocks (bs=64k) so O_DIRECT alignment always holds.
# Markers: VHK-RESULT PASS|FAIL <check> [reason], VHK-INFO, VHK-WROTE
# <offset-bytes> <length-bytes> <md5> (the host checks the image file).

[ -f /etc/vhk.env ] && . /etc/vhk.env
VHK_DEV=${VHK_DEV:-/dev/vda}
VHK_FAILED=0

vhk_info() { echo "VHK-INFO $*"; }
vhk_pass() { echo "VHK-RESULT PASS $*"; }
vhk_fail() {
	echo "VHK-RESULT FAIL $*"
	VHK_FAILED=1
	return 1
}

# vhk_wait_path PATH SECONDS: wait until PATH exists.
vhk_wait_path() {
	n=$(( $2 * 10 ))
	while [ ! -e "$1" ]; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		usleep 100000
	done
	return 0
}

# vhk_wait_gone PATH SECONDS
vhk_wait_gone() {
	n=$(( $2 * 10 ))
	while [ -e "$1" ]; do
		n=$((n - 1))
		[ $n -le 0 ] && return 1
		usleep 100000
	done
	return 0
}

vhk_drop_caches() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
}

# vhk_now: seconds since boot, 10 ms resolution.
vhk_now() { cut -d' ' -f1 /proc/uptime; }

# vhk_rate T0 T1 BYTES: "BYTES bytes in S s, R MB/s".
vhk_rate() {
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
		s = b - a; if (s < 0.01) s = 0.01;
		printf "%d bytes in %.2f s, %.1f MB/s", n, s, n / 1048576 / s }'
}

# vhk_write TAG PATOFF OFF COUNT: copy COUNT 64k blocks of /pat starting at
# block PATOFF to block OFF of the disk, O_DIRECT, then fsync.
vhk_write() {
	t0=$(vhk_now)
	dd if=/pat of="$VHK_DEV" bs=64k skip="$2" seek="$3" count="$4" \
		oflag=direct conv=notrunc,fsync 2>/tmp/dd.$1 ||
		{ cat /tmp/dd.$1; vhk_fail "$1" write-error; return 1; }
	t1=$(vhk_now)
	m=$(dd if=/pat bs=64k skip="$2" count="$4" 2>/dev/null | md5sum)
	echo "VHK-WROTE $(($3 * 65536)) $(($4 * 65536)) ${m%% *}"
	vhk_info "$1 write $(vhk_rate $t0 $t1 $(($4 * 65536)))"
}

# vhk_read_md5 TAG OFF COUNT: md5 of COUNT blocks at OFF, read O_DIRECT.
vhk_read_md5() {
	dd if="$VHK_DEV" bs=64k skip="$2" count="$3" iflag=direct \
		2>/tmp/ddr.$1 | md5sum | cut -d' ' -f1
}

# vhk_verify_io TAG PATOFF OFF COUNT: write, drop caches, read back, compare.
vhk_verify_io() {
	vhk_write "$1" "$2" "$3" "$4" || return 1
	want=$(dd if=/pat bs=64k skip="$2" count="$4" 2>/dev/null | md5sum |
		cut -d' ' -f1)
	vhk_drop_caches
	t0=$(vhk_now)
	got=$(vhk_read_md5 "$1" "$3" "$4")
	t1=$(vhk_now)
	vhk_info "$1 read $(vhk_rate $t0 $t1 $(($4 * 65536))) (incl. md5)"
	if [ "$got" = "$want" ]; then
		vhk_pass "$1" "$(($4 * 64))KiB-at-$(($3 * 64))KiB"
	else
		vhk_fail "$1" "readback-md5 got=$got want=$want"
	fi
}

# vhk_check_region TAG OFF COUNT MD5: data already on the disk is intact.
vhk_check_region() {
	vhk_drop_caches
	got=$(vhk_read_md5 "$1" "$2" "$3")
	if [ "$got" = "$4" ]; then
		vhk_pass "$1"
	else
		vhk_fail "$1" "md5 got=$got want=$4"
	fi
}

# vhk_pci_addr: PCI address of the virtio device behind $VHK_DEV.
vhk_pci_addr() {
	p=$(readlink -f "/sys/block/${VHK_DEV#/dev/}/device")
	basename "$(dirname "$p")"
}

# vhk_check_basics: the device as the guest sees it matches the setup.
vhk_check_basics() {
	vhk_wait_path "$VHK_DEV" 20 || { vhk_fail basics no-$VHK_DEV; return 1; }
	b=${VHK_DEV#/dev/}
	sz=$(( $(cat /sys/block/$b/size) * 512 ))
	[ "$sz" = "$VHK_DISK_BYTES" ] ||
		{ vhk_fail basics "size $sz != $VHK_DISK_BYTES"; return 1; }
	nq=$(ls -d /sys/block/$b/mq/* | wc -l)
	[ "$nq" = "${VHK_QUEUES:-1}" ] ||
		{ vhk_fail basics "queues $nq != ${VHK_QUEUES:-1}"; return 1; }
	f=$(cat /sys/block/$b/device/features)
	pci=$(vhk_pci_addr)
	vhk_info "dev=$VHK_DEV pci=$pci size=$sz queues=$nq features=$f"
	# Bit 32 VERSION_1, bit 33 ACCESS_PLATFORM (features is a bit string).
	v1=$(echo "$f" | cut -c33)
	ap=$(echo "$f" | cut -c34)
	[ "$v1" = 1 ] || { vhk_fail basics no-VERSION_1; return 1; }
	# Bit 34 RING_PACKED: negotiated exactly when the runner asked for it.
	pk=$(echo "$f" | cut -c35)
	[ "$pk" = "${VHK_PACKED:-0}" ] ||
		{ vhk_fail basics "RING_PACKED=$pk want ${VHK_PACKED:-0}"; return 1; }
	if [ "${VHK_IOMMU:-0}" = 1 ]; then
		[ "$ap" = 1 ] ||
			{ vhk_fail basics no-ACCESS_PLATFORM; return 1; }
		ls /sys/class/iommu/ | grep -q dmar ||
			{ vhk_fail basics no-dmar; return 1; }
		t=$(cat /sys/bus/pci/devices/$pci/iommu_group/type 2>/dev/null)
		case "$t" in
		DMA*) vhk_info "iommu group type $t" ;;
		*) vhk_fail basics "iommu-domain-type=$t"; return 1 ;;
		esac
	else
		[ "$ap" = 0 ] || { vhk_fail basics unexpected-ACCESS_PLATFORM; return 1; }
	fi
	if [ -n "$HOSTBLK_MD5" ]; then
		vhk_check_region host-data "$HOSTBLK_OFF" "$HOSTBLK_CNT" \
			"$HOSTBLK_MD5" || return 1
	fi
	vhk_pass basics
}

# vhk_reset_device: unbind and rebind virtio-pci (device reset, rings
# restarted by the front-end and the back-end), wait for the disk again.
vhk_reset_device() {
	pci=$(vhk_pci_addr)
	d=/sys/bus/pci/drivers/virtio-pci
	echo "$pci" > $d/unbind || { vhk_fail reset unbind; return 1; }
	vhk_wait_gone "$VHK_DEV" 20 || { vhk_fail reset still-present; return 1; }
	echo "$pci" > $d/bind || { vhk_fail reset bind; return 1; }
	vhk_wait_path "$VHK_DEV" 30 || { vhk_fail reset no-disk-after-bind; return 1; }
	vhk_pass reset "$pci"
}
