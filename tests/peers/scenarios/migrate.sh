# Live migration (runner: migratepeer.py; guest tool: guest-src/migblk.c).
# migblk writes 4 KiB block after block (O_DIRECT, block i = pattern block
# i) and reads each back into its own slot of one long-lived buffer, while
# the host live-migrates the VM to a second QEMU served by a second
# vhostkit-blk on the same image.  The host reports the migration's
# progress in a control block of the disk (CTL_BLK: "MIGRATING", then
# "MIGRATED"), so every write is counted as before, during or after the
# migration (migblk asks for it after MIG_BEFORE blocks: VHK-HOST migrate).
# On the destination migblk checks every slot again - the pages the source
# back-end filled while the migration ran arrive only if it logged them
# dirty - and the whole range on the device.  The host checks the image
# (VHK-WROTE) and that each phase had writes.
vhk_check_basics || exit 1
ctl=$((CTL_BLK * 65536))
# the console sees migblk's lines as they come (VHK-HOST migrate)
{
	migblk "$VHK_DEV" /pat $ctl "$MIG_BEFORE" "$MIG_AFTER" "$MIG_MAX" \
		"${MIG_PAUSE_MS:-20}" 2>&1
	echo $? >/tmp/mig.rc
} | tee /tmp/mig.out
rc=$(cat /tmp/mig.rc)
n=$(sed -n 's/^blocks //p' /tmp/mig.out)
if [ -n "$n" ]; then
	m=$(dd if=/pat bs=4k count="$n" 2>/dev/null | md5sum | cut -d' ' -f1)
	echo "VHK-WROTE 0 $((n * 4096)) $m"
fi
[ $rc = 0 ] || vhk_fail migblk "exit $rc"
exit $VHK_FAILED
