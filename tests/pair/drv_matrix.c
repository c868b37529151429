// SPDX-License-Identifier: MIT
/*
 * drv_matrix.c - the blk driver against vhostkit-blk over every
 * combination of {split, packed} x {direct, iommu strict, iommu lazy,
 * bounce} x {1 queue, 4 queues}, each with verified data: written through
 * the driver, read back through the driver, and compared in the disk file
 * directly.  Each combination uses its own region and seed, so a request
 * landing at the wrong place is caught by the next one's checks too.
 *
 * Every combination also checks that the DMA mode really happened, through
 * the front-end counters: IOTLB updates/invalidations for iommu, bytes
 * copied through the pool for bounce, none of either for direct.
 * Completions come through the call eventfds (one, or four polled at
 * once), except split x 4 queues, which busy-polls the used rings.
 * Skips (77) when vhostkit-blk is not built.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "drv_util.h"

#define DISK_BYTES	(64u << 20)
#define REGION		(2u << 20)	/* bytes per combination */
#define BS		(16u << 10)

struct combo {
	bool packed;
	enum drv_dma dma;
	uint16_t queues;
	unsigned int index;
};

static struct drv_proc blk;
/* The open connection, closed by the teardown when an assertion fails. */
static struct drv_conn c;
static char sock[200], disk[200];

static int group_setup(void **state)
{
	const char *bin = drv_require("VHK_BLK_BIN", "vhostkit-blk");

	(void)state;
	snprintf(sock, sizeof(sock), "%s/blk.sock", drv_tmpdir());
	snprintf(disk, sizeof(disk), "%s/blk.img", drv_tmpdir());
	if (drv_make_disk(disk, DISK_BYTES) < 0)
		return -1;
	return drv_spawn_blk(&blk, bin, sock, disk, 4, "auto");
}

static int group_teardown(void **state)
{
	(void)state;
	drv_kill(&blk, SIGTERM);
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
		.queues = cb->queues, .depth = 16,
		/* Call eventfds (one or four at once), except split x 4
		 * queues, which busy-polls the used rings. */
		.use_call_fd = cb->queues == 1 || cb->packed,
	};
	uint64_t nblocks = REGION / BS, first = cb->index * nblocks;
	uint64_t seed = 0xc0ffee00u + cb->index, i;
	uint64_t blocks[REGION / BS], seeds[REGION / BS];
	struct vhk_fe_stats st;
	int ret;

	for (i = 0; i < nblocks; i++) {
		blocks[i] = first + i;
		seeds[i] = seed;
	}
	if (drv_open(&c, &o) < 0) {
		drv_dump_log(&blk);
		fail_msg("cannot open %s %s %u queue(s)",
			 cb->packed ? "packed" : "split",
			 drv_dma_name(cb->dma), cb->queues);
	}
	assert_int_equal(vhk_blk_drv_num_queues(c.drv), cb->queues);
	ret = drv_blocks(&c, VHK_BLK_OP_WRITE, blocks, seeds, nblocks, BS);
	if (ret == 0)
		ret = drv_blocks(&c, VHK_BLK_OP_READ, blocks, seeds, nblocks,
				 BS);
	if (ret)
		drv_dump_log(&blk);
	assert_int_equal(ret, 0);

	vhk_fe_stats(c.fe, &st);
	switch (cb->dma) {
	case DRV_DIRECT:
		assert_int_equal(st.iotlb_updates_sent, 0);
		assert_int_equal(st.bounce_bytes_in, 0);
		break;
	case DRV_STRICT:
		/* Every request's buffers were invalidated at completion. */
		assert_true(st.iotlb_invalidates_sent >= 2 * nblocks);
		assert_true(st.iotlb_updates_sent >= 2 * nblocks);
		break;
	case DRV_LAZY:
		/*
		 * Long-lived mappings: one per allocation (buffers, slot
		 * area, rings), fewer than one per request (2 * nblocks
		 * requests), where strict sends two or more per request.
		 */
		assert_true(st.iotlb_updates_sent > 0);
		assert_true(st.iotlb_updates_sent < 2 * nblocks);
		break;
	case DRV_BOUNCE:
		assert_int_equal(st.iotlb_updates_sent, 0);
		assert_true(st.bounce_bytes_in >= (uint64_t)REGION);
		assert_true(st.bounce_bytes_out >= (uint64_t)REGION);
		break;
	}
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, first * BS, REGION, seed), 0);
}

/*
 * vhostkit-blk offers INDIRECT_DESC: one ring slot per request, so the
 * default depth is the whole ring (128) and all of it can be in flight;
 * bounce mode uses plain chains (3 slots per request).
 */
static void test_default_depth(void **state)
{
	static const enum drv_dma modes[] = { DRV_DIRECT, DRV_STRICT,
					      DRV_BOUNCE };
	struct drv_open_opts o = { .sock = sock, .queues = 1,
				   .use_call_fd = true };
	unsigned int i;

	(void)state;
	for (i = 0; i < VHK_ARRAY_SIZE(modes); i++) {
		o.dma = modes[i];
		assert_int_equal(drv_open(&c, &o), 0);
		assert_int_equal(vhk_blk_drv_queue_depth(c.drv),
				 modes[i] == DRV_BOUNCE ? 128 / 3 : 128);
		/* 128 (or 42) blocks at once, then read back. */
		assert_int_equal(drv_pattern_io(&c, 128, 4096, 0xdee9 + i),
				 0);
		drv_close(&c);
	}
}

/* `vhostkit probe` sees every translation mode vhostkit-blk offers. */
static void test_probe(void **state)
{
	const char *cli = drv_bin("VHK_CLI");
	static char out[32768];
	char cmd[512];
	size_t n = 0;
	FILE *f;

	(void)state;
	if (!cli)
		skip();
	snprintf(cmd, sizeof(cmd), "%s probe %s", cli, sock);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (n + 1 < sizeof(out) && fgets(out + n, (int)(sizeof(out) - n), f))
		n += strlen(out + n);
	out[n] = 0;
	assert_int_equal(pclose(f), 0);
	assert_non_null(strstr(out, "device type         blk"));
	assert_non_null(strstr(out, "queues              4"));
	assert_non_null(strstr(out, "num_queues          4"));
	assert_non_null(strstr(out, "platform-identity   yes"));
	assert_non_null(strstr(out, "iotlb               yes"));
	assert_non_null(strstr(out, "persist             yes"));
	assert_non_null(strstr(out, "reconnect           yes"));
	assert_non_null(strstr(out, "VIRTIO_F_RING_PACKED"));
}

#define COMBO(p, d, q, i) { p, d, q, i }
static struct combo combos[] = {
	COMBO(false, DRV_DIRECT, 1, 0),	COMBO(false, DRV_DIRECT, 4, 1),
	COMBO(false, DRV_STRICT, 1, 2),	COMBO(false, DRV_STRICT, 4, 3),
	COMBO(false, DRV_LAZY, 1, 4),	COMBO(false, DRV_LAZY, 4, 5),
	COMBO(false, DRV_BOUNCE, 1, 6),	COMBO(false, DRV_BOUNCE, 4, 7),
	COMBO(true, DRV_DIRECT, 1, 8),	COMBO(true, DRV_DIRECT, 4, 9),
	COMBO(true, DRV_STRICT, 1, 10),	COMBO(true, DRV_STRICT, 4, 11),
	COMBO(true, DRV_LAZY, 1, 12),	COMBO(true, DRV_LAZY, 4, 13),
	COMBO(true, DRV_BOUNCE, 1, 14),	COMBO(true, DRV_BOUNCE, 4, 15),
};

int main(void)
{
	struct CMUnitTest tests[VHK_ARRAY_SIZE(combos) + 2];
	static char names[VHK_ARRAY_SIZE(combos)][64];
	unsigned int i;

	for (i = 0; i < VHK_ARRAY_SIZE(combos); i++) {
		snprintf(names[i], sizeof(names[i]), "%s_%s_%uq",
			 combos[i].packed ? "packed" : "split",
			 drv_dma_name(combos[i].dma), combos[i].queues);
		tests[i] = (struct CMUnitTest){
			.name = names[i], .test_func = run_combo,
			.initial_state = &combos[i],
			.teardown_func = close_conn,
		};
	}
	tests[i++] = (struct CMUnitTest){ .name = "probe",
					  .test_func = test_probe };
	tests[i] = (struct CMUnitTest){ .name = "default_depth",
					.test_func = test_default_depth,
					.teardown_func = close_conn };
	return _cmocka_run_group_tests("drv_matrix", tests,
				       VHK_ARRAY_SIZE(tests), group_setup,
				       group_teardown);
}
