// SPDX-License-Identifier: MIT
/*
 * drv_modes.c - the blk driver against vhostkit-blk's fast modes:
 * --mmap (a disk file in tmpfs served by memcpy), --poll (busy-polling
 * queue threads) and both together, and event mode with io_uring's nowait
 * issue (the default for a disk in tmpfs) and without (--nowait=off),
 * each with verified I/O on 2 queues
 * (split and packed, direct and iommu-lazy DMA; the data checked through
 * the driver and in the disk file).  --poll=BOUND must idle: once the
 * bound has passed without I/O, the daemon takes no CPU time over a
 * second (< 2 % of one core).  Skips (77) when vhostkit-blk is not built.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>
#include <cmocka.h>

#include "drv_util.h"

#define DISK_BYTES	(16u << 20)
#define QUEUES		2
#define POLL_US		"20000"		/* the idle bound: 20 ms */

static char sock[200], disk[200];

/* CPU time of every thread of @pid, nanoseconds (schedstat). */
static uint64_t cpu_ns(pid_t pid)
{
	char path[320];
	struct dirent *de;
	unsigned long long v;
	uint64_t sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
			 (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &v) == 1)
			sum += v;
		fclose(f);
	}
	closedir(d);
	return sum;
}

/* true if @path's log has a line containing @needle. */
static bool log_has(const char *path, const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* The disk is in tmpfs (drv_tmpdir() falls back to /tmp otherwise). */
static bool disk_in_tmpfs(void)
{
	struct statfs sf;

	assert_int_equal(statfs(drv_tmpdir(), &sf), 0);
	return (unsigned long)sf.f_type == 0x01021994;	/* TMPFS_MAGIC */
}

/*
 * Start the daemon with @extra options, run verified I/O in 4 setups.
 * @nowait: 1 / 0 = its start-up line must / must not say that io_uring
 * issues nowait; -1: not checked.
 */
static void run_mode(const char *const *extra, bool idle_check, int nowait)
{
	const char *bin = drv_require("VHK_BLK_BIN", "vhostkit-blk");
	char *argv[16] = { (char *)bin, "--socket-path", sock, "--disk", disk,
			   "--num-queues", "2" };
	static const struct { bool packed; enum drv_dma dma; } setups[] = {
		{ false, DRV_DIRECT }, { true, DRV_DIRECT },
		{ false, DRV_LAZY }, { true, DRV_LAZY },
	};
	struct drv_proc blk;
	struct drv_conn c;
	unsigned int n = 7, i;
	int ret;

	for (i = 0; extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	assert_int_equal(drv_make_disk(disk, DISK_BYTES), 0);
	unlink(sock);
	assert_int_equal(drv_spawn(&blk, argv), 0);
	if (drv_wait_path(sock, 5000) < 0) {
		drv_dump_log(&blk);
		fail_msg("vhostkit-blk did not start");
	}
	for (i = 0; i < VHK_ARRAY_SIZE(setups); i++) {
		struct drv_open_opts o = {
			.sock = sock, .dma = setups[i].dma,
			.packed = setups[i].packed, .queues = QUEUES,
			.depth = 32, .use_call_fd = true,
		};
		uint64_t seed = 0x6d6d6170u + i;

		if (drv_open(&c, &o) < 0) {
			drv_dump_log(&blk);
			fail_msg("cannot open setup %u", i);
		}
		ret = drv_pattern_io(&c, 512, 4096, seed);
		if (ret)
			drv_dump_log(&blk);
		assert_int_equal(ret, 0);
		assert_int_equal(drv_check_file(disk, 0, 512 * 4096, seed), 0);
		if (idle_check && i == VHK_ARRAY_SIZE(setups) - 1) {
			uint64_t t0, t1;

			/* Connected, queues started, no I/O: past the
			 * bound the queue threads sleep. */
			usleep(200 * 1000);
			t0 = cpu_ns(blk.pid);
			usleep(1000 * 1000);
			t1 = cpu_ns(blk.pid);
			print_message("idle --poll daemon: %.2f ms CPU in 1 s\n",
				      (t1 - t0) / 1e6);
			assert_true(t1 - t0 < 20u * 1000 * 1000);
			/* And it wakes up again. */
			assert_int_equal(drv_pattern_io(&c, 64, 4096, seed + 9),
					 0);
		}
		drv_close(&c);
	}
	if (nowait >= 0 && log_has(blk.log, " nowait,") != (nowait > 0)) {
		drv_dump_log(&blk);
		fail_msg("the start-up line should%s say nowait",
			 nowait ? "" : " not");
	}
	drv_kill(&blk, SIGTERM);
}

static void test_mmap(void **state)
{
	static const char *const extra[] = { "--mmap", NULL };

	(void)state;
	run_mode(extra, false, 0);
}

static void test_poll(void **state)
{
	static const char *const extra[] = { "--poll=" POLL_US, NULL };

	(void)state;
	run_mode(extra, true, disk_in_tmpfs());
}

static void test_mmap_poll(void **state)
{
	static const char *const extra[] = { "--mmap", "--poll=" POLL_US,
					     NULL };

	(void)state;
	run_mode(extra, true, 0);
}

/* io_uring SQPOLL under polling: completions are no longer reaped
 * inside the submit; verified I/O and the idle check as for --poll. */
static void test_poll_sqpoll(void **state)
{
	static const char *const extra[] = { "--poll=" POLL_US, "--sqpoll",
					     NULL };

	(void)state;
	run_mode(extra, true, -1);
}

/* Event mode, the default issue mode: nowait for a disk in tmpfs (reads
 * complete in the queue thread's submit), io_uring's choice elsewhere. */
static void test_event(void **state)
{
	static const char *const extra[] = { NULL };

	(void)state;
	run_mode(extra, false, disk_in_tmpfs());
}

/* Forced either way: --nowait=off (every read on io-wq in tmpfs) and
 * --nowait (also for a disk that is not in memory). */
static void test_event_nowait_forced(void **state)
{
	static const char *const off[] = { "--nowait=off", NULL };
	static const char *const on[] = { "--nowait", NULL };

	(void)state;
	run_mode(off, false, 0);
	run_mode(on, false, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_event_nowait_forced),
		cmocka_unit_test(test_mmap),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_mmap_poll),
		cmocka_unit_test(test_poll_sqpoll),
	};

	snprintf(sock, sizeof(sock), "%s/modes.sock", drv_tmpdir());
	snprintf(disk, sizeof(disk), "%s/modes.img", drv_tmpdir());
	return cmocka_run_group_tests_name("drv_modes", tests, NULL, NULL);
}
