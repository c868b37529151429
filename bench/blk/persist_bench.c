// SPDX-License-Identifier: MIT
/*
 * persist_bench.c - what IOTLB_PERSIST buys at a device reset.
 *
 * Against one vhost-user blk back-end that offers iotlb and IOTLB_PERSIST
 * (vhostkit-blk), twice: once acking IOTLB_PERSIST, once not.  Each run
 * connects in iommu-strict mode, creates ENTRIES live IOTLB mappings
 * (one page each, what a guest with that many pinned DMA buffers holds),
 * does a read, then times reset + resume: vhk_fe_reset() until the first
 * read after it has completed.  Without persist the reset must re-send
 * every mapping; with it, none.  Prints both times, the mappings re-sent,
 * the time it took to populate the IOTLB in the first place, and ratios.
 *
 *   vhostkit-bench-persist SOCKET [ENTRIES]     (default 1000000)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/frontend.h"

struct run {
	double populate_s, reset_s;
	uint64_t resent;
	bool persist_acked;
};

static int read_one(struct vhk_blk_drv *d, void *buf)
{
	struct vhk_blk_req req = { .op = VHK_BLK_OP_READ, .sector = 0,
				   .buf = buf, .len = 4096 };

	return vhk_blk_drv_run(d, 0, &req, 10000);
}

static int one_run(const char *sock, unsigned long entries, bool persist,
		   struct run *r)
{
	struct vhk_blk_drv_params dp = { .queue_depth = 4,
					  .use_call_fd = true };
	struct vhk_fe_stats before, after;
	struct vhk_blk_drv *drv = NULL;
	struct vhk_fe_config cfg;
	struct vhk_fe *fe = NULL;
	uint64_t t0, addr;
	unsigned long i;
	uint8_t *page, *buf;
	int ret;

	vhk_fe_config_init(&cfg, sock);
	cfg.name = persist ? "persist" : "no-persist";
	cfg.driver_features = vhk_blk_drv_features(false);
	cfg.access_platform = true;
	cfg.iotlb = true;
	cfg.flush = VHK_IOMMU_STRICT;
	cfg.want_persist = persist;
	cfg.mem_size = 16u << 20;
	ret = vhk_fe_connect(&fe, &cfg);
	if (ret < 0)
		return ret;
	ret = vhk_fe_start(fe);
	if (ret < 0)
		goto out;
	if (vhk_fe_dma_mode(fe) != VHK_DMA_IOMMU) {
		fprintf(stderr, "%s: no iotlb mode (see vhostkit probe)\n",
			sock);
		ret = -ENOTSUP;
		goto out;
	}
	r->persist_acked = vhk_has_feature(vhk_fe_protocol_features(fe),
					   VHK_PROTO_F_IOTLB_PERSIST);
	ret = vhk_blk_drv_new(&drv, fe, &dp);
	if (ret < 0)
		goto out;
	page = vhk_fe_alloc(fe, 4096);
	buf = vhk_fe_alloc(fe, 4096);
	if (!page || !buf) {
		ret = -ENOMEM;
		goto out;
	}

	/* ENTRIES live strict mappings: each its own IOVA and UPDATE. */
	t0 = vhk_now_ns();
	for (i = 0; i < entries; i++) {
		ret = vhk_fe_dma_map(fe, page, 4096, VHK_DMA_TO_DEVICE, &addr);
		if (ret < 0) {
			fprintf(stderr, "map %lu: %s\n", i, strerror(-ret));
			goto out;
		}
		if ((i & 0x3ffff) == 0x3ffff)
			fprintf(stderr, "  %s: %lu mappings\n", cfg.name,
				i + 1);
	}
	r->populate_s = (vhk_now_ns() - t0) / 1e9;
	ret = read_one(drv, buf);
	if (ret < 0)
		goto out;

	vhk_fe_stats(fe, &before);
	t0 = vhk_now_ns();
	vhk_blk_drv_free(drv);
	drv = NULL;
	ret = vhk_fe_reset(fe);
	if (ret < 0)
		goto out;
	/* Re-sent by the reset itself (the read below maps its own). */
	vhk_fe_stats(fe, &after);
	r->resent = after.iotlb_updates_sent - before.iotlb_updates_sent;
	ret = vhk_blk_drv_new(&drv, fe, &dp);
	if (ret < 0)
		goto out;
	ret = read_one(drv, buf);
	if (ret < 0)
		goto out;
	r->reset_s = (vhk_now_ns() - t0) / 1e9;
out:
	vhk_blk_drv_free(drv);
	vhk_fe_close(fe);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long entries = 1000000;
	struct run p = { 0 }, np = { 0 };
	int ret;

	if (argc < 2 || argc > 3 || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: %s SOCKET [ENTRIES]\n", argv[0]);
		return 2;
	}
	if (argc == 3)
		entries = strtoul(argv[2], NULL, 0);
	vhk_log_set_level(VHK_LOG_WARN);
	ret = one_run(argv[1], entries, true, &p);
	if (ret == 0)
		ret = one_run(argv[1], entries, false, &np);
	if (ret < 0) {
		fprintf(stderr, "persist bench: %s\n", strerror(-ret));
		return 1;
	}
	if (!p.persist_acked)
		fprintf(stderr, "warning: the back-end does not offer "
			"IOTLB_PERSIST: both runs re-send\n");
	printf("IOTLB entries              %lu\n", entries);
	printf("populate (UPDATE each)     %.3f s\n", np.populate_s);
	printf("reset+resume, persist      %.6f s (%llu mappings re-sent by the reset)\n",
	       p.reset_s, (unsigned long long)p.resent);
	printf("reset+resume, no persist   %.6f s (%llu mappings re-sent by the reset)\n",
	       np.reset_s, (unsigned long long)np.resent);
	printf("speed-up vs re-send        %.0fx\n",
	       p.reset_s > 0 ? np.reset_s / p.reset_s : 0);
	printf("speed-up vs re-populate    %.0fx\n",
	       p.reset_s > 0 ? np.populate_s / p.reset_s : 0);
	printf("RESULT entries=%lu persist_s=%.6f nopersist_s=%.6f "
	       "populate_s=%.3f ratio=%.1f\n", entries, p.reset_s,
	       np.reset_s, np.populate_s,
	       p.reset_s > 0 ? np.reset_s / p.reset_s : 0);
	return 0;
}
