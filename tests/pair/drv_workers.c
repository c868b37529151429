// SPDX-License-Identifier: MIT
/*
 * drv_workers.c - the blk driver against `vhostkit-blk --queue-workers`
 * over 4 queues: {split, packed} x {direct, iommu strict, iommu lazy,
 * bounce}, each with verified data (through the driver and in the disk
 * file), then reconnects that must leave the daemon with no worker thread
 * and no extra fd, and a SIGTERM that must stop it cleanly (exit 0).
 * While connected, the daemon has one "vhk-qN" thread per queue.
 * Skips (77) when vhostkit-blk is not built.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "drv_util.h"

#define DISK_BYTES	(64u << 20)
#define REGION		(4u << 20)	/* bytes per combination */
#define BS		(16u << 10)
#define QUEUES		4

struct combo {
	bool packed;
	enum drv_dma dma;
	unsigned int index;
};

static struct drv_proc blk;
static struct drv_conn c;
static char sock[200], disk[200];
static int idle_fds = -1;

/* Threads of the daemon named vhk-q* (its queue workers). */
static int worker_threads(pid_t pid)
{
	char path[320], comm[32];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm",
			 (int)pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    strncmp(comm, "vhk-q", 5) == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static int open_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Wait up to 2 s for @fn(pid) to reach @want. */
static int wait_count(int (*fn)(pid_t), pid_t pid, int want)
{
	int n = fn(pid);

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = fn(pid);
	}
	return n;
}

static int group_setup(void **state)
{
	const char *bin = drv_require("VHK_BLK_BIN", "vhostkit-blk");
	char *argv[] = { (char *)bin, "--socket-path", sock, "--disk", disk,
			 "--num-queues", "4", "--queue-workers", NULL };

	(void)state;
	snprintf(sock, sizeof(sock), "%s/blkw.sock", drv_tmpdir());
	snprintf(disk, sizeof(disk), "%s/blkw.img", drv_tmpdir());
	if (drv_make_disk(disk, DISK_BYTES) < 0)
		return -1;
	unlink(sock);
	if (drv_spawn(&blk, argv) < 0)
		return -1;
	if (drv_wait_path(sock, 5000) < 0) {
		drv_dump_log(&blk);
		drv_kill(&blk, SIGKILL);
		return -1;
	}
	/* The socket appears before the daemon finished setting up (a slow
	 * sanitizer build shows it): count once the number settles. */
	idle_fds = open_fds(blk.pid);
	for (int i = 0; i < 20; i++) {
		int n;

		usleep(100000);
		n = open_fds(blk.pid);
		if (n == idle_fds)
			break;
		idle_fds = n;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	drv_kill(&blk, SIGKILL);	/* only if the last test failed */
	return 0;
}

static int close_conn(void **state)
{
	(void)state;
	if (c.fe)
		drv_close(&c);
	return 0;
}

static void run_combo(void **state)
{
	const struct combo *cb = *state;
	struct drv_open_opts o = {
		.sock = sock, .dma = cb->dma, .packed = cb->packed,
		.queues = QUEUES, .depth = 32, .use_call_fd = true,
	};
	uint64_t nblocks = REGION / BS, first = cb->index * nblocks;
	uint64_t seed = 0x3077e500u + cb->index, i;
	static uint64_t blocks[REGION / BS], seeds[REGION / BS];
	int ret;

	for (i = 0; i < nblocks; i++) {
		/* Interleaved so that neighbouring blocks go to different
		 * queues and land on the file in parallel. */
		blocks[i] = first + (i * 7) % nblocks;
		seeds[i] = seed;
	}
	if (drv_open(&c, &o) < 0) {
		drv_dump_log(&blk);
		fail_msg("cannot open %s %s", cb->packed ? "packed" : "split",
			 drv_dma_name(cb->dma));
	}
	assert_int_equal(vhk_blk_drv_num_queues(c.drv), QUEUES);
	assert_int_equal(worker_threads(blk.pid), QUEUES);
	ret = drv_blocks(&c, VHK_BLK_OP_WRITE, blocks, seeds, nblocks, BS);
	if (ret == 0)
		ret = drv_blocks(&c, VHK_BLK_OP_READ, blocks, seeds, nblocks,
				 BS);
	if (ret)
		drv_dump_log(&blk);
	assert_int_equal(ret, 0);
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, first * BS, REGION, seed), 0);
	/* The connection's workers are joined, its fds closed. */
	assert_int_equal(wait_count(worker_threads, blk.pid, 0), 0);
	assert_int_equal(wait_count(open_fds, blk.pid, idle_fds), idle_fds);
}

/* SIGTERM while connected with I/O done: workers joined, exit 0. */
static void test_sigterm(void **state)
{
	struct drv_open_opts o = { .sock = sock, .queues = QUEUES,
				   .depth = 16, .use_call_fd = true };
	int status = -1;

	(void)state;
	assert_int_equal(drv_open(&c, &o), 0);
	assert_int_equal(drv_pattern_io(&c, 64, 4096, 0x51),  0);
	assert_int_equal(worker_threads(blk.pid), QUEUES);
	kill(blk.pid, SIGTERM);
	assert_int_equal(waitpid(blk.pid, &status, 0), blk.pid);
	blk.pid = 0;
	drv_close(&c);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		drv_dump_log(&blk);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define COMBO(p, d, i) { p, d, i }
static struct combo combos[] = {
	COMBO(false, DRV_DIRECT, 0),	COMBO(false, DRV_STRICT, 1),
	COMBO(false, DRV_LAZY, 2),	COMBO(false, DRV_BOUNCE, 3),
	COMBO(true, DRV_DIRECT, 4),	COMBO(true, DRV_STRICT, 5),
	COMBO(true, DRV_LAZY, 6),	COMBO(true, DRV_BOUNCE, 7),
};

int main(void)
{
	struct CMUnitTest tests[VHK_ARRAY_SIZE(combos) + 1];
	static char names[VHK_ARRAY_SIZE(combos)][64];
	unsigned int i;

	for (i = 0; i < VHK_ARRAY_SIZE(combos); i++) {
		snprintf(names[i], sizeof(names[i]), "workers_%s_%s_4q",
			 combos[i].packed ? "packed" : "split",
			 drv_dma_name(combos[i].dma));
		tests[i] = (struct CMUnitTest){
			.name = names[i], .test_func = run_combo,
			.initial_state = &combos[i],
			.teardown_func = close_conn,
		};
	}
	tests[i] = (struct CMUnitTest){ .name = "sigterm",
					.test_func = test_sigterm,
					.teardown_func = close_conn };
	return _cmocka_run_group_tests("drv_workers", tests,
				       VHK_ARRAY_SIZE(tests), group_setup,
				       group_teardown);
}
