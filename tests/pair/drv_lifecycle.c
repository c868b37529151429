// SPDX-License-Identifier: MIT
/*
 * drv_lifecycle.c - the blk driver against vhostkit-blk through the events
 * that break naive stacks:
 *
 *  - device reset in iommu-lazy mode, with and without IOTLB_PERSIST: the
 *    front-end counters show what was re-sent (nothing with persist, every
 *    live mapping without), and data written before the reset reads back
 *    through the old mappings after it;
 *  - the back-end SIGKILLed with writes in flight and restarted (split
 *    and packed rings, direct and through an IOTLB): after
 *    vhk_fe_reconnect() every in-flight write completes (none lost), every
 *    completed write is readable, and no completed write is replayed over
 *    a newer one (no duplicates);
 *  - IOTLB invalidation while I/O runs (iommu strict): once a buffer's
 *    INVALIDATE was acknowledged the buffer is poisoned while hundreds of
 *    requests reuse the IOVA space; the poison must survive (a back-end
 *    writing through a stale translation would overwrite it).
 *
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

#define DISK_BYTES	(32u << 20)
#define BS		4096u

static const char *bin;
static struct drv_proc blk;
static struct drv_conn c;
static char sock[200], disk[200];

static int start_daemon(void **state)
{
	static unsigned int n;

	(void)state;
	snprintf(sock, sizeof(sock), "%s/lc%u.sock", drv_tmpdir(), n);
	snprintf(disk, sizeof(disk), "%s/lc%u.img", drv_tmpdir(), n++);
	if (drv_make_disk(disk, DISK_BYTES) < 0)
		return -1;
	return drv_spawn_blk(&blk, bin, sock, disk, 1, "auto");
}

static int stop_daemon(void **state)
{
	(void)state;
	if (c.fe)
		drv_close(&c);
	drv_kill(&blk, SIGTERM);
	return 0;
}

static void open_conn_layout(enum drv_dma dma, bool persist,
			     unsigned int depth, bool packed)
{
	struct drv_open_opts o = { .sock = sock, .dma = dma, .queues = 1,
				   .depth = depth, .persist = persist,
				   .use_call_fd = true, .packed = packed };

	if (drv_open(&c, &o) < 0) {
		drv_dump_log(&blk);
		fail_msg("cannot open the driver on vhostkit-blk");
	}
}

static int rw_one(enum vhk_blk_op op, uint64_t block, void *buf)
{
	struct vhk_blk_req req = { .op = op, .sector = block * (BS / 512),
				   .buf = buf, .len = BS };

	return vhk_blk_drv_run(c.drv, 0, &req, 5000);
}

static void open_conn(enum drv_dma dma, bool persist, unsigned int depth)
{
	open_conn_layout(dma, persist, depth, false);
}

/* ---- reset, with and without IOTLB_PERSIST ----------------------------- */

#define NBUF 64

static void reset_case(bool persist)
{
	struct vhk_blk_drv_params dp = { .queue_depth = 16,
					  .use_call_fd = true };
	struct vhk_fe_stats before, after;
	uint8_t *bufs[NBUF];
	uint64_t seed = persist ? 0x5eed1 : 0x5eed2, resent;
	unsigned int i;

	open_conn(DRV_LAZY, persist, 16);
	assert_int_equal(vhk_has_feature(vhk_fe_protocol_features(c.fe),
					 VHK_PROTO_F_IOTLB_PERSIST), persist);
	/* NBUF long-lived (lazy) mappings, each used by one write. */
	for (i = 0; i < NBUF; i++) {
		bufs[i] = vhk_fe_alloc(c.fe, BS);
		assert_non_null(bufs[i]);
		drv_fill(bufs[i], BS, seed, (uint64_t)i * BS);
		assert_int_equal(rw_one(VHK_BLK_OP_WRITE, i, bufs[i]), 0);
	}

	/* The driver's rings go away with the reset: free it first. */
	vhk_blk_drv_free(c.drv);
	c.drv = NULL;
	vhk_fe_stats(c.fe, &before);
	assert_int_equal(vhk_fe_reset(c.fe), 0);
	vhk_fe_stats(c.fe, &after);
	resent = after.iotlb_updates_sent - before.iotlb_updates_sent;
	assert_int_equal(after.resets, before.resets + 1);
	if (persist)
		/* IOTLB entries are platform state: nothing re-sent. */
		assert_int_equal(resent, 0);
	else
		/* Reset flushed the IOTLB: every live mapping again. */
		assert_true(resent >= NBUF);

	assert_int_equal(vhk_blk_drv_new(&c.drv, c.fe, &dp), 0);
	/* Read back through the same (old) mappings. */
	for (i = 0; i < NBUF; i++) {
		memset(bufs[i], 0, BS);
		assert_int_equal(rw_one(VHK_BLK_OP_READ, i, bufs[i]), 0);
		assert_int_equal(drv_check(bufs[i], BS, seed,
					   (uint64_t)i * BS), -1);
	}
	/*
	 * With persist the back-end still knew every mapping; without it
	 * they were all re-sent: either way it never had to ask.
	 */
	vhk_fe_stats(c.fe, &after);
	assert_int_equal(after.misses_unmapped, 0);
	for (i = 0; i < NBUF; i++)
		vhk_fe_free(c.fe, bufs[i]);
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, 0, NBUF * BS, seed), 0);
}

static void test_reset_persist(void **state)
{
	(void)state;
	reset_case(true);
}

static void test_reset_no_persist(void **state)
{
	(void)state;
	reset_case(false);
}

/* ---- back-end killed mid-I/O, restarted --------------------------------- */

#define KBLOCKS	1024u
#define KDEPTH	24u

struct kstate {
	struct vhk_blk_req reqs[KDEPTH + 16];
	uint8_t *bufs[KDEPTH + 16];
	uint64_t block_of[KDEPTH + 16];
	uint64_t seed_of[KDEPTH + 16];
	unsigned int free_slots[KDEPTH + 16], nfree;
	uint64_t want[KBLOCKS];		/* seed each block must hold */
	bool done2[KBLOCKS];		/* gen-2 write completed */
};

static void ksubmit(struct kstate *k, uint64_t block, uint64_t seed)
{
	unsigned int s = k->free_slots[--k->nfree];
	struct vhk_blk_req *r = &k->reqs[s];

	memset(r, 0, sizeof(*r));
	r->op = VHK_BLK_OP_WRITE;
	r->sector = block * (BS / 512);
	r->buf = k->bufs[s];
	r->len = BS;
	r->priv = (void *)(uintptr_t)s;
	k->block_of[s] = block;
	k->seed_of[s] = seed;
	drv_fill(r->buf, BS, seed, block * BS);
	assert_int_equal(vhk_blk_drv_submit(c.drv, 0, r), 0);
}

/* Reap what is there; returns completions, marks gen-2 blocks done. */
static unsigned int kreap(struct kstate *k)
{
	struct vhk_blk_req *done[KDEPTH + 16];
	int n, i;

	n = vhk_blk_drv_reap(c.drv, 0, done, KDEPTH + 16);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		unsigned int s = (unsigned int)(uintptr_t)done[i]->priv;

		assert_int_equal(done[i]->result, 0);
		if (k->seed_of[s] == 2)
			k->done2[k->block_of[s]] = true;
		k->free_slots[k->nfree++] = s;
	}
	return (unsigned int)n;
}

static void kill_case(enum drv_dma dma, bool packed)
{
	struct kstate *k = calloc(1, sizeof(*k));
	uint64_t blocks[KBLOCKS], seeds[KBLOCKS];
	unsigned int i, completed = 0, inflight_at_kill, gen3 = 0, kills;
	uint64_t next = 0;
	struct vhk_fe_stats st, st0;

	assert_non_null(k);
	open_conn_layout(dma, true, KDEPTH + 16, packed);
	assert_true(vhk_has_feature(vhk_fe_protocol_features(c.fe),
				    VHK_PROTO_F_INFLIGHT_SHMFD));
	/* Generation 1 everywhere. */
	for (i = 0; i < KBLOCKS; i++) {
		blocks[i] = i;
		seeds[i] = 1;
		k->want[i] = 1;
	}
	assert_int_equal(drv_blocks(&c, VHK_BLK_OP_WRITE, blocks, seeds,
				    KBLOCKS, BS), 0);
	for (i = 0; i < KDEPTH + 16; i++) {
		k->bufs[i] = vhk_fe_alloc(c.fe, BS);
		assert_non_null(k->bufs[i]);
		k->free_slots[k->nfree++] = i;
	}

	/* Generation 2, KDEPTH in flight; kill after 200 completions. */
	while (completed < 200) {
		unsigned int got = kreap(k);

		completed += got;
		while (k->nfree > 16 && next < KBLOCKS)
			ksubmit(k, next++, 2);
		assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
		if (!got && completed < 200)
			assert_true(vhk_blk_drv_wait(c.drv, 0, 5000) > 0);
	}
	for (kills = 1;; kills++) {
		while (k->nfree > 16 && next < KBLOCKS)
			ksubmit(k, next++, 2);
		assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
		drv_kill(&blk, SIGKILL);
		completed += kreap(k);	/* what finished before it died */
		inflight_at_kill = vhk_blk_drv_inflight(c.drv, 0);

		/* Restart on the same socket and disk; reconnect. */
		assert_int_equal(drv_spawn_blk(&blk, bin, sock, disk, 1,
					       "auto"), 0);
		vhk_fe_stats(c.fe, &st0);
		assert_int_equal(vhk_fe_reconnect(c.fe), 0);
		assert_int_equal(vhk_blk_drv_resync(c.drv), 0);
		/* Under load the back-end may have finished everything
		 * before it died: that kill tested nothing, kill again. */
		if (inflight_at_kill > 0 || kills == 5 || next >= KBLOCKS)
			break;
	}
	assert_true(inflight_at_kill > 0);
	vhk_fe_stats(c.fe, &st);
	assert_int_equal(st.reconnects, kills);
	/*
	 * The new process knew no mapping: every live one was sent again
	 * (the KDEPTH buffers used so far - lazy maps on first use - and
	 * the driver's slot area).
	 */
	if (dma == DRV_LAZY)
		assert_true(st.iotlb_updates_sent - st0.iotlb_updates_sent >=
			    KDEPTH + 1);
	else
		assert_int_equal(st.iotlb_updates_sent, 0);

	/*
	 * Newer writes (generation 3) over blocks whose generation-2 write
	 * had completed: a back-end replaying completed requests would put
	 * generation 2 back over them.
	 */
	for (i = 0; i < KBLOCKS && k->nfree > 0 && gen3 < 16; i++) {
		if (!k->done2[i])
			continue;
		ksubmit(k, i, 3);
		k->want[i] = 3;
		gen3++;
	}
	assert_true(gen3 > 0);
	assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);

	/* Everything in flight completes (nothing lost), then the rest. */
	while (vhk_blk_drv_inflight(c.drv, 0) || next < KBLOCKS) {
		while (k->nfree > 0 && next < KBLOCKS)
			ksubmit(k, next++, 2);
		assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
		if (kreap(k) == 0) {
			int w = vhk_blk_drv_wait(c.drv, 0, 5000);

			if (w == 0) {
				drv_dump_log(&blk);
				fail_msg("%u request(s) lost after restart",
					 vhk_blk_drv_inflight(c.drv, 0));
			}
			assert_true(w > 0);
		}
	}
	for (i = 0; i < KBLOCKS; i++) {
		if (k->want[i] == 1)
			k->want[i] = 2;
		seeds[i] = k->want[i];
	}
	/* Every write readable with its last generation, via the driver... */
	assert_int_equal(drv_blocks(&c, VHK_BLK_OP_READ, blocks, seeds,
				    KBLOCKS, BS), 0);
	for (i = 0; i < KDEPTH + 16; i++)
		vhk_fe_free(c.fe, k->bufs[i]);
	drv_close(&c);
	/* ...and in the file. */
	for (i = 0; i < KBLOCKS; i++)
		assert_int_equal(drv_check_file(disk, (uint64_t)i * BS, BS,
						seeds[i]), 0);
	free(k);
}

static void test_kill_restart(void **state)
{
	(void)state;
	kill_case(DRV_DIRECT, false);
}

/* The same through a device IOTLB: reconnect re-sends every mapping. */
static void test_kill_restart_iommu(void **state)
{
	(void)state;
	kill_case(DRV_LAZY, false);
}

/* Packed rings: the device's positions come from the inflight region. */
static void test_kill_restart_packed(void **state)
{
	(void)state;
	kill_case(DRV_DIRECT, true);
}

static void test_kill_restart_packed_iommu(void **state)
{
	(void)state;
	kill_case(DRV_LAZY, true);
}

/* ---- IOTLB invalidation while I/O runs ---------------------------------- */

#define NVICTIM	32u
#define POISON	0x5a

static void test_invalidate_under_io(void **state)
{
	uint8_t *victim[NVICTIM];
	struct vhk_blk_req vreq[NVICTIM], wreq[16], *done[32];
	uint8_t *wbuf[16];
	uint64_t blocks[256], seeds[256];
	struct vhk_fe_stats st0, st1;
	unsigned int i, nv = 0, vdone = 0, wdone = 0, j;
	int n;

	(void)state;
	open_conn(DRV_STRICT, true, 32);
	for (i = 0; i < 256; i++) {
		blocks[i] = i;
		seeds[i] = 0xfeed;
	}
	assert_int_equal(drv_blocks(&c, VHK_BLK_OP_WRITE, blocks, seeds, 256,
				    BS), 0);
	for (i = 0; i < NVICTIM; i++) {
		victim[i] = vhk_fe_alloc(c.fe, BS);
		assert_non_null(victim[i]);
	}
	for (i = 0; i < 16; i++) {
		wbuf[i] = vhk_fe_alloc(c.fe, BS);
		assert_non_null(wbuf[i]);
	}
	vhk_fe_stats(c.fe, &st0);

	/* Workers keep 15 reads in flight; a victim read joins now and then. */
	for (i = 0; i < 15; i++) {
		memset(&wreq[i], 0, sizeof(wreq[i]));
		wreq[i].op = VHK_BLK_OP_READ;
		wreq[i].sector = (i % 256) * (BS / 512);
		wreq[i].buf = wbuf[i];
		wreq[i].len = BS;
		wreq[i].priv = NULL;
		assert_int_equal(vhk_blk_drv_submit(c.drv, 0, &wreq[i]), 0);
	}
	assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
	while (wdone < 3000 || vdone < NVICTIM) {
		if (nv < NVICTIM && wdone >= nv * 60) {
			memset(&vreq[nv], 0, sizeof(vreq[nv]));
			vreq[nv].op = VHK_BLK_OP_READ;
			vreq[nv].sector = nv * (BS / 512);
			vreq[nv].buf = victim[nv];
			vreq[nv].len = BS;
			vreq[nv].priv = &vreq[nv];
			assert_int_equal(vhk_blk_drv_submit(c.drv, 0,
							    &vreq[nv]), 0);
			nv++;
			assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
		}
		n = vhk_blk_drv_reap(c.drv, 0, done, 32);
		assert_true(n >= 0);
		if (n == 0) {
			assert_true(vhk_blk_drv_wait(c.drv, 0, 5000) > 0);
			continue;
		}
		for (j = 0; j < (unsigned int)n; j++) {
			struct vhk_blk_req *r = done[j];
			uint64_t bno = r->sector / (BS / 512);

			assert_int_equal(r->result, 0);
			assert_int_equal(drv_check(r->buf, BS, 0xfeed,
						   bno * BS), -1);
			if (r->priv) {
				/*
				 * Completed = unmapped, INVALIDATE acked by
				 * the back-end: from now on the device must
				 * not touch this memory.
				 */
				memset(r->buf, POISON, BS);
				vdone++;
				continue;
			}
			wdone++;
			if (wdone + 15 > 3000 + 15)
				continue;
			r->sector = ((bno + 15) % 256) * (BS / 512);
			memset(r->buf, 0, BS);
			assert_int_equal(vhk_blk_drv_submit(c.drv, 0, r), 0);
		}
		assert_int_equal(vhk_blk_drv_kick(c.drv, 0), 0);
	}
	while (vhk_blk_drv_inflight(c.drv, 0)) {
		n = vhk_blk_drv_reap(c.drv, 0, done, 32);
		assert_true(n >= 0);
		if (n == 0)
			assert_true(vhk_blk_drv_wait(c.drv, 0, 5000) > 0);
	}
	vhk_fe_stats(c.fe, &st1);
	/* Strict: at least one INVALIDATE per mapping of every request. */
	assert_true(st1.iotlb_invalidates_sent - st0.iotlb_invalidates_sent >=
		    2u * (3000 + NVICTIM));
	for (i = 0; i < NVICTIM; i++)
		for (j = 0; j < BS; j++)
			if (victim[i][j] != POISON)
				fail_msg("victim %u byte %u written after its "
					 "INVALIDATE was acknowledged", i, j);
	drv_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_persist,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_reset_no_persist,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_kill_restart,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_kill_restart_iommu,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_kill_restart_packed,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_kill_restart_packed_iommu,
						start_daemon, stop_daemon),
		cmocka_unit_test_setup_teardown(test_invalidate_under_io,
						start_daemon, stop_daemon),
	};

	bin = drv_require("VHK_BLK_BIN", "vhostkit-blk");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
