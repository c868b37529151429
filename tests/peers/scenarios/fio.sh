# Benchmark workload (bench/guest/blk-vs-qsd.sh): fio jobs on the raw disk,
# libaio, O_DIRECT.  The host samples the back-end's CPU time at each
# VHK-FIO-START / VHK-FIO-DONE marker; results go out as terse v3 lines.
vhk_check_basics || exit 1
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu/ceph
rt=${FIO_RUNTIME:-10}
size=${FIO_SIZE_MB:-128}
fio --version >/tmp/fio.v 2>&1 || { cat /tmp/fio.v; vhk_fail fio no-fio; exit 1; }
vhk_info "$(cat /tmp/fio.v)"
for job in ${FIO_JOBS:-randread randwrite seqread}; do
	case $job in
	randread) args="--rw=randread --bs=4k --iodepth=32" ;;
	randwrite) args="--rw=randwrite --bs=4k --iodepth=32" ;;
	seqread) args="--rw=read --bs=128k --iodepth=32" ;;
	*) vhk_fail fio unknown-job-$job; continue ;;
	esac
	echo "VHK-FIO-START $job"
	fio --name=$job --filename=$VHK_DEV --ioengine=libaio --direct=1 \
		$args --runtime=$rt --time_based --size=${size}M \
		--randrepeat=0 --norandommap --minimal >/tmp/fio.$job 2>&1
	r=$?
	echo "VHK-FIO-DONE $job"
	if [ $r = 0 ]; then
		echo "VHK-FIO-RESULT $job $(grep '^3;' /tmp/fio.$job | head -1)"
		vhk_pass fio-$job
	else
		cat /tmp/fio.$job
		vhk_fail fio-$job "fio rc $r"
	fi
done
exit $VHK_FAILED
