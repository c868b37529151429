# Demo workload (scripts/demo.sh): write DEMO_MB MiB of the host's random
# pattern with O_DIRECT, drop caches, read it back with O_DIRECT, verify.
vhk_check_basics || exit 1
n=${DEMO_MB:-32}
bytes=$((n * 1048576))
t0=$(vhk_now)
dd if=/pat of=$VHK_DEV bs=1M count=$n oflag=direct conv=notrunc,fsync \
	2>/tmp/dw || { cat /tmp/dw; vhk_fail write dd-error; exit 1; }
t1=$(vhk_now)
want=$(dd if=/pat bs=1M count=$n 2>/dev/null | md5sum | cut -d' ' -f1)
echo "VHK-WROTE 0 $bytes $want"
vhk_info "write: $(vhk_rate $t0 $t1 $bytes) (O_DIRECT, 1 MiB requests)"
vhk_drop_caches
t0=$(vhk_now)
dd if=$VHK_DEV of=/tmp/rb bs=1M count=$n iflag=direct 2>/tmp/dr ||
	{ cat /tmp/dr; vhk_fail read dd-error; exit 1; }
t1=$(vhk_now)
vhk_info "read:  $(vhk_rate $t0 $t1 $bytes) (O_DIRECT, 1 MiB requests)"
got=$(md5sum /tmp/rb | cut -d' ' -f1)
if [ "$got" = "$want" ]; then
	vhk_info "verify OK: md5 $got over $n MiB"
	vhk_pass verify
else
	vhk_fail verify "md5 got=$got want=$want"
fi
exit $VHK_FAILED
