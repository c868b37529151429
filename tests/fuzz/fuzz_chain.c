/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chain.c - libFuzzer target for the device-side chain walker.
 *
 * Input layout (missing bytes read as zero):
 *   [0]     bit 0 packed, bits 1-2 mode (gpa / identity / iotlb),
 *           bit 3 EVENT_IDX, bit 4 INDIRECT_DESC, bit 5 IN_ORDER,
 *           bit 6 fragmented address space, bit 7 (iotlb mode) drop
 *           part of the buffer mapping before popping (misses), and put
 *           it back after the first -EAGAIN (not fragmented)
 *   [1]     queue size (split: 2^(b % 6); packed: 1 + b % 32)
 *   [2]     iov capacity - 1
 *   [3]     written-length seed for push
 *   then    num descriptors (16 bytes each) for the descriptor table/ring
 *   then    split: avail->idx and num avail ring entries (2 bytes each)
 *   rest    the buffer area, as 16-byte descriptor records (indirect
 *           tables found there are walked too)
 * Descriptor addresses with bit 63 clear are folded into the buffer area
 * (possibly running off its end); with bit 63 set they are used raw.
 * Lengths with bit 31 clear are folded to < 2 KiB.
 *
 * The target pops until the queue is empty, broken or stalled, pushes
 * every chain, flushes, and checks that no canary byte was touched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mockmem.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/iotlb.h"
#include "vhostkit/features.h"
#include "vhostkit/ring.h"
#include "vhostkit/ring_ctl.h"
#include "ring/vring_defs.h"

#define BUF_SIZE	2048
#define RING_SIZE	(64 * 1024)
#define MAX_IOV		256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct in {
	const uint8_t *p;
	size_t n;
};

static void take(struct in *in, void *dst, size_t len)
{
	size_t k = len < in->n ? len : in->n;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

static uint8_t take8(struct in *in)
{
	uint8_t b;

	take(in, &b, 1);
	return b;
}

/* Fold a raw descriptor so that most addresses hit the buffer area. */
static void fold(const struct vhk_mockmem *m, uint8_t rec[16])
{
	uint64_t addr;
	uint32_t len;

	memcpy(&addr, rec, 8);
	memcpy(&len, rec + 8, 4);
	if (!(addr >> 63))
		addr = vhk_mockmem_buf_addr(m, 0) + addr % (BUF_SIZE + 64);
	if (!(len >> 31))
		len %= 2048;
	memcpy(rec, &addr, 8);
	memcpy(rec + 8, &len, 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vhk_log_set_level(VHK_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq = NULL;
	struct vhk_vq *vq = NULL;
	struct vhk_vq_params p;
	static struct iovec iov[MAX_IOV];
	struct vhk_chain c;
	void *rdesc, *rdrv, *rdev;
	uint8_t cfg, qb, capb, wseed;
	enum vhk_as_mode mode;
	uint16_t num;
	bool packed, restored = false;
	int rounds;

	cfg = take8(&in);
	qb = take8(&in);
	capb = take8(&in);
	wseed = take8(&in);
	packed = cfg & 1;
	mode = (enum vhk_as_mode)(((cfg >> 1) & 3) % 3);
	num = packed ? (uint16_t)(1 + qb % 32) : (uint16_t)(1u << (qb % 6));

	memset(&p, 0, sizeof(p));
	vhk_set_feature(&p.features, VHK_F_VERSION_1);
	if (packed)
		vhk_set_feature(&p.features, VHK_F_RING_PACKED);
	if (cfg & 8)
		vhk_set_feature(&p.features, VHK_F_EVENT_IDX);
	if (cfg & 16)
		vhk_set_feature(&p.features, VHK_F_INDIRECT_DESC);
	if (cfg & 32)
		vhk_set_feature(&p.features, VHK_F_IN_ORDER);

	if (vhk_mockmem_init(&m, mode, cfg & 64, RING_SIZE, BUF_SIZE))
		return 0;
	if (vhk_drv_vq_new(&dq, num, p.features, m.ring_host, m.ring_addr))
		goto out;
	vhk_drv_vq_raw(dq, &rdesc, &rdrv, &rdev);

	/* Descriptor table / ring: raw guest bytes, folded addresses. */
	for (unsigned int i = 0; i < num; i++) {
		uint8_t rec[16];

		take(&in, rec, 16);
		fold(&m, rec);
		memcpy((uint8_t *)rdesc + 16 * i, rec, 16);
	}
	if (!packed) {
		struct vhk_vring_avail *a = rdrv;
		uint16_t idx;

		take(&in, &idx, 2);
		a->idx = vhk_le16_make(idx);
		for (unsigned int i = 0; i < num; i++) {
			uint16_t h;

			take(&in, &h, 2);
			a->ring[i] = vhk_le16_make(h);
		}
	}
	/* The buffer area holds more (indirect) descriptors. */
	for (size_t off = 0; off + 16 <= BUF_SIZE && in.n; off += 16) {
		uint8_t rec[16];

		take(&in, rec, 16);
		fold(&m, rec);
		vhk_mockmem_write(&m, off, rec, 16);
	}

	if (vhk_vq_new(&vq))
		goto out;
	vhk_drv_vq_addrs(dq, &p.addrs);
	p.num = num;
	p.avail_base = packed ? 0x8000 : 0;
	p.max_iov = MAX_IOV;
	p.name = "fuzz";
	if (vhk_vq_start(vq, &m.as, &p))
		goto out;

	c.iov = iov;
	c.iov_cap = 1u + capb % MAX_IOV;
	if (mode == VHK_AS_IOTLB && (cfg & 128))
		vhk_iotlb_invalidate(m.iotlb,
				     vhk_mockmem_buf_addr(&m, wseed * 8u),
				     1u + (wseed % 64u));
	/* Bounded: at most 4 * num pops however the ring looks. */
	for (rounds = 0; rounds < 4 * num; rounds++) {
		int r = vhk_vq_pop(vq, &c);
		struct vhk_iter it;
		uint8_t junk[64];
		uint32_t w;

		if (r == -EAGAIN && !restored && !m.fragmented &&
		    mode == VHK_AS_IOTLB) {
			/* The front-end answers the miss. */
			restored = true;
			vhk_as_iotlb_update(&m.as, VHK_MOCK_IOVA_BUF, BUF_SIZE,
					    VHK_MOCK_UVA_BUF, VHK_PERM_RW);
			continue;
		}
		if (r <= 0)
			break;
		/* Touch every byte the chain offers: reads and writes must
		 * stay inside guest buffers (canaries below). */
		vhk_chain_reader(&c, &it);
		while (vhk_iter_read(&it, junk, sizeof(junk)))
			;
		vhk_chain_writer(&c, &it);
		memset(junk, 0x5a, sizeof(junk));
		while (vhk_iter_write(&it, junk, sizeof(junk)))
			;
		w = (uint32_t)((wseed * 131u + rounds * 7u) %
			       (c.write_bytes + 2));
		/* A chain just popped always gets its completion recorded. */
		if (vhk_vq_push(vq, &c, w) != 0)
			abort();
		if (rounds % 3 == 2)
			vhk_vq_flush(vq);
		vhk_vq_enable_notify(vq, rounds & 1);
	}
	vhk_vq_flush(vq);
	vhk_vq_pending(vq);
	(void)vhk_vq_base(vq);
	if (!vhk_mockmem_canaries_intact(&m))
		__builtin_trap();
out:
	vhk_vq_free(vq);
	vhk_drv_vq_free(dq);
	vhk_mockmem_fini(&m);
	return 0;
}
