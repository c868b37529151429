/* SPDX-License-Identifier: MIT */
/*
 * test_drv_split.c - driver-side split ring against a hand-written device
 * that reads the avail ring and writes used elements directly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhk_test.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "ring/vring_defs.h"

#define MEM_ADDR 0x7e0000000000ull

struct env {
	struct vhk_drv_vq *dq;
	uint8_t *mem;
	uint16_t num;
	struct vhk_vring_desc *desc;
	struct vhk_vring_avail *avail;
	struct vhk_vring_used *used;
	uint16_t dev_avail;	/* device: next avail index to read */
	uint16_t dev_used;	/* device: used->idx it published */
};

static uint64_t feat(unsigned int a, unsigned int b, unsigned int c)
{
	uint64_t f = 0;

	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, a);
	vhk_set_feature(&f, b);
	vhk_set_feature(&f, c);
	return f;
}

static void env_init(struct env *e, uint16_t num, uint64_t features)
{
	size_t sz = vhk_drv_vq_mem_size(false, num);
	void *d, *dr, *dv;

	memset(e, 0, sizeof(*e));
	assert_int_not_equal(sz, 0);
	e->mem = aligned_alloc(4096, (sz + 4095) / 4096 * 4096);
	assert_non_null(e->mem);
	memset(e->mem, 0xee, sz);
	assert_int_equal(vhk_drv_vq_new(&e->dq, num, features, e->mem,
					MEM_ADDR), 0);
	e->num = num;
	vhk_drv_vq_raw(e->dq, &d, &dr, &dv);
	e->desc = d;
	e->avail = dr;
	e->used = dv;
}

static void env_fini(struct env *e)
{
	vhk_drv_vq_free(e->dq);
	free(e->mem);
}

static uint16_t le16(vhk_le16 v)
{
	return vhk_le16_get(v);
}

/* Device: take the next avail head; returns -1 if none. */
static int dev_pop(struct env *e)
{
	if (le16(e->avail->idx) == e->dev_avail)
		return -1;
	return le16(e->avail->ring[e->dev_avail++ % e->num]);
}

/* Device: write one used element and publish it. */
static void dev_used(struct env *e, uint32_t id, uint32_t len, uint16_t step)
{
	e->used->ring[e->dev_used % e->num].id = vhk_le32_make(id);
	e->used->ring[e->dev_used % e->num].len = vhk_le32_make(len);
	e->dev_used = (uint16_t)(e->dev_used + step);
	e->used->idx = vhk_le16_make(e->dev_used);
}

static void set_avail_event(struct env *e, uint16_t v)
{
	*(vhk_le16 *)(void *)&e->used->ring[e->num] = vhk_le16_make(v);
}

static uint16_t get_used_event(struct env *e)
{
	return le16(e->avail->ring[e->num]);
}

static void test_layout(void **state)
{
	struct vhk_vq_addrs a;
	struct env e;

	(void)state;
	assert_int_equal(vhk_drv_vq_mem_size(false, 0), 0);
	assert_int_equal(vhk_drv_vq_mem_size(false, 3), 0);
	assert_int_equal(vhk_drv_vq_mem_size(false, 32768 + 0), 16 * 32768 +
			 ((4 + 2 * 32768 + 2 + 3) & ~3) + 4 + 8 * 32768 + 2);
	/* 256: desc 4096, avail 518 -> used at 4616 (4-aligned), 2054 bytes. */
	assert_int_equal(vhk_drv_vq_mem_size(false, 256), 4616 + 2054);
	env_init(&e, 256, feat(VHK_F_EVENT_IDX, 0, 0));
	vhk_drv_vq_addrs(e.dq, &a);
	assert_int_equal(a.desc, MEM_ADDR);
	assert_int_equal(a.driver, MEM_ADDR + 4096);
	assert_int_equal(a.device, MEM_ADDR + 4616);
	assert_int_equal(a.desc % VHK_SPLIT_DESC_ALIGN, 0);
	assert_int_equal(a.driver % VHK_SPLIT_AVAIL_ALIGN, 0);
	assert_int_equal(a.device % VHK_SPLIT_USED_ALIGN, 0);
	assert_ptr_equal((uint8_t *)e.avail, e.mem + 4096);
	assert_ptr_equal((uint8_t *)e.used, e.mem + 4616);
	/* new zeroes the ring memory. */
	for (size_t i = 0; i < vhk_drv_vq_mem_size(false, 256); i++)
		assert_int_equal(e.mem[i], 0);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 256);
	assert_int_equal(vhk_drv_vq_size(e.dq), 256);
	env_fini(&e);
	/* Misaligned memory, bad sizes. */
	{
		struct vhk_drv_vq *dq;
		uint8_t *m = aligned_alloc(4096, 8192);

		assert_int_equal(vhk_drv_vq_new(&dq, 8, 0, m + 8, MEM_ADDR),
				 -EINVAL);
		assert_int_equal(vhk_drv_vq_new(&dq, 8, 0, m, MEM_ADDR + 4),
				 -EINVAL);
		assert_int_equal(vhk_drv_vq_new(&dq, 12, 0, m, MEM_ADDR),
				 -EINVAL);
		assert_int_equal(vhk_drv_vq_new(&dq, 0, 0, m, MEM_ADDR),
				 -EINVAL);
		free(m);
	}
}

static void test_add_publish_collect(void **state)
{
	struct vhk_drv_seg s[3] = {
		{ 0x100000, 16, false },
		{ 0x200000, 512, false },
		{ 0x300000, 100, true },
	};
	int tok = 1;
	void *t = NULL;
	uint32_t len = 0;
	struct env e;
	int head, i;

	(void)state;
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), 0);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 5);
	/* Not visible before publish. */
	assert_int_equal(le16(e.avail->idx), 0);
	assert_int_equal(dev_pop(&e), -1);
	assert_true(vhk_drv_vq_publish(e.dq));
	assert_int_equal(le16(e.avail->idx), 1);
	head = dev_pop(&e);
	assert_true(head >= 0 && head < 8);
	/* Walk the chain as a device would. */
	i = head;
	for (int k = 0; k < 3; k++) {
		uint16_t fl = le16(e.desc[i].flags);

		assert_int_equal(vhk_le64_get(e.desc[i].addr), s[k].addr);
		assert_int_equal(vhk_le32_get(e.desc[i].len), s[k].len);
		assert_int_equal(!!(fl & VHK_VRING_DESC_F_WRITE), s[k].write);
		assert_int_equal(!!(fl & VHK_VRING_DESC_F_NEXT), k < 2);
		i = le16(e.desc[i].next);
	}
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
	dev_used(&e, (uint32_t)head, 60, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	assert_ptr_equal(t, &tok);
	assert_int_equal(len, 60);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 8);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
	/* Publishing nothing new does not ask for a kick. */
	assert_false(vhk_drv_vq_publish(e.dq));
	/* used->flags NO_NOTIFY suppresses the kick without EVENT_IDX. */
	e.used->flags = vhk_le16_make(VHK_VRING_USED_F_NO_NOTIFY);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	env_fini(&e);
}

/* Many cycles with out-of-order completion keep the free list sound. */
static void test_out_of_order_cycles(void **state)
{
	struct vhk_drv_seg s[4];
	int toks[8];
	struct env e;

	(void)state;
	for (int k = 0; k < 4; k++) {
		s[k].addr = 0x1000u * (k + 1);
		s[k].len = 10;
		s[k].write = k >= 2;
	}
	env_init(&e, 8, feat(0, 0, 0));
	for (int round = 0; round < 500; round++) {
		int heads[8], n = 0;
		unsigned int nd = (unsigned int)(round % 4) + 1;
		uint16_t used_start = e.dev_used;

		while (vhk_drv_vq_num_free(e.dq) >= nd) {
			assert_int_equal(vhk_drv_vq_add(e.dq, s, nd, &toks[n]), 0);
			n++;
		}
		assert_int_equal(vhk_drv_vq_add(e.dq, s, nd, &toks[0]),
				 -ENOSPC);
		vhk_drv_vq_publish(e.dq);
		for (int k = 0; k < n; k++)
			heads[k] = dev_pop(&e);
		assert_int_equal(dev_pop(&e), -1);
		/* Complete in reverse order. */
		for (int k = n - 1; k >= 0; k--)
			dev_used(&e, (uint32_t)heads[k], nd > 2 ? (nd - 2) * 10 : 0, 1);
		for (int k = n - 1; k >= 0; k--) {
			void *t;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
			assert_ptr_equal(t, &toks[k]);
			assert_int_equal(len, nd > 2 ? (nd - 2) * 10 : 0);
		}
		assert_int_equal((uint16_t)(e.dev_used - used_start), n);
		assert_int_equal(vhk_drv_vq_num_free(e.dq), 8);
	}
	env_fini(&e);
}

/* Drive avail idx to @target with complete add/use cycles. */
static void cycle_to(struct env *e, uint16_t target)
{
	struct vhk_drv_seg s = { 0x1000, 8, true };
	int tok;

	while (e->dev_avail != target) {
		void *t;
		uint32_t len;

		assert_int_equal(vhk_drv_vq_add(e->dq, &s, 1, &tok), 0);
		vhk_drv_vq_publish(e->dq);
		dev_used(e, (uint32_t)dev_pop(e), 8, 1);
		assert_int_equal(vhk_drv_vq_get_used(e->dq, &t, &len), 1);
	}
}

static void test_event_idx_wrap(void **state)
{
	struct vhk_drv_seg s = { 0x1000, 8, false };
	int tok;
	struct env e;

	(void)state;
	env_init(&e, 16, feat(VHK_F_EVENT_IDX, 0, 0));
	/* used->flags are ignored with EVENT_IDX (2.7.10). */
	e.used->flags = vhk_le16_make(VHK_VRING_USED_F_NO_NOTIFY);
	cycle_to(&e, 65534);
	assert_int_equal(vhk_drv_vq_base(e.dq), 65534);
	set_avail_event(&e, 65535);
	/* 65534 -> 65535: event 65535 not crossed yet. */
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	/* 65535 -> 0 crosses it across the 16-bit wrap. */
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	assert_int_equal(le16(e.avail->idx), 0);
	assert_int_equal(vhk_drv_vq_base(e.dq), 0);
	/* Two at once, 0 -> 2, event 1 in between. */
	set_avail_event(&e, 1);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	/* 2 -> 3 with the event already passed: no kick. */
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	/* Event exactly at the old index: kick. */
	set_avail_event(&e, 3);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	env_fini(&e);
}

static void test_enable_cb(void **state)
{
	struct env e;

	(void)state;
	/* EVENT_IDX: used_event tracks last_used; flags stay 0 (2.7.7.1). */
	env_init(&e, 8, feat(VHK_F_EVENT_IDX, 0, 0));
	cycle_to(&e, 65535);
	cycle_to(&e, 2);
	assert_false(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(get_used_event(&e), 2);
	vhk_drv_vq_enable_cb(e.dq, false);
	assert_int_equal(get_used_event(&e), 1);
	/* The device's check never fires for the disabled event. */
	assert_false(vhk_vring_need_event(get_used_event(&e), 3, 2));
	assert_int_equal(le16(e.avail->flags), 0);
	/* Used buffers that arrived while disabled are reported. */
	{
		struct vhk_drv_seg s = { 0x1000, 8, true };
		int tok;

		assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
		vhk_drv_vq_publish(e.dq);
		dev_used(&e, (uint32_t)dev_pop(&e), 4, 1);
		assert_true(vhk_drv_vq_enable_cb(e.dq, true));
	}
	env_fini(&e);

	/* Without EVENT_IDX: the NO_INTERRUPT hint. */
	env_init(&e, 8, feat(0, 0, 0));
	vhk_drv_vq_enable_cb(e.dq, false);
	assert_int_equal(le16(e.avail->flags), VHK_VRING_AVAIL_F_NO_INTERRUPT);
	assert_false(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(le16(e.avail->flags), 0);
	env_fini(&e);
}

static void test_bad_used(void **state)
{
	struct vhk_drv_seg s[2] = { { 0x1000, 8, false }, { 0x2000, 64, true } };
	int tok;
	void *t;
	uint32_t len;
	struct env e;
	int head;

	(void)state;
	/* id beyond the queue. */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	dev_used(&e, 8, 0, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	assert_true(vhk_drv_vq_broken(e.dq));
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), -EIO);
	env_fini(&e);

	/* id in range but not a head in flight (the second descriptor). */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	head = dev_pop(&e);
	dev_used(&e, le16(e.desc[head].next), 0, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);

	/* len beyond the writable bytes (64); 64 itself is fine. */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	dev_used(&e, (uint32_t)dev_pop(&e), 64, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	assert_int_equal(len, 64);
	dev_used(&e, (uint32_t)dev_pop(&e), 65, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);

	/* The same id used twice (two chains in flight). */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	head = dev_pop(&e);
	dev_used(&e, (uint32_t)head, 1, 1);
	dev_used(&e, (uint32_t)head, 1, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);

	/* used->idx jumping past what is in flight. */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	dev_used(&e, (uint32_t)dev_pop(&e), 1, 5);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);
}

static void test_ring_full_and_args(void **state)
{
	struct vhk_drv_seg s[9];
	int tok;
	struct env e;
	uint8_t table[16 * 4];

	(void)state;
	for (int k = 0; k < 9; k++) {
		s[k].addr = 0x1000u * (k + 1);
		s[k].len = 4;
		s[k].write = false;
	}
	env_init(&e, 8, feat(VHK_F_INDIRECT_DESC, 0, 0));
	/* Argument checks. */
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 0, &tok), -EINVAL);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 9, &tok), -EINVAL);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, NULL), -EINVAL);
	s[0].write = true;
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), -EINVAL);
	s[0].write = false;
	s[0].addr = UINT64_MAX - 1;
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), -EINVAL);
	s[0].addr = 0x1000;
	{
		struct vhk_drv_seg big[2] = { { 0, UINT32_MAX, false },
					      { 1ull << 33, 2, false } };

		assert_int_equal(vhk_drv_vq_add(e.dq, big, 2, &tok), -EINVAL);
	}
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 8);
	/* Fill: 3 + 3 then a 3-chain does not fit in 2. */
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), -ENOSPC);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), 0);
	/* Indirect takes one slot whatever its length. */
	s[3].write = true;
	assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 4, &tok, table,
						 0x9000), 0);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), -ENOSPC);
	assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 2, &tok, table,
						 0x9000), -ENOSPC);
	vhk_drv_vq_publish(e.dq);
	/* Check the indirect entry (the 4th head) and its table. */
	for (int k = 0; k < 3; k++)
		dev_pop(&e);
	{
		int h = dev_pop(&e);
		struct vhk_vring_desc *t = (void *)table;

		assert_int_equal(le16(e.desc[h].flags), VHK_VRING_DESC_F_INDIRECT);
		assert_int_equal(vhk_le64_get(e.desc[h].addr), 0x9000);
		assert_int_equal(vhk_le32_get(e.desc[h].len), 64);
		for (int k = 0; k < 4; k++) {
			uint16_t fl = le16(t[k].flags);

			assert_int_equal(vhk_le64_get(t[k].addr), s[k].addr);
			assert_int_equal(!!(fl & VHK_VRING_DESC_F_NEXT), k < 3);
			assert_int_equal(!!(fl & VHK_VRING_DESC_F_WRITE), k == 3);
			if (k < 3)
				assert_int_equal(le16(t[k].next), k + 1);
		}
		dev_used(&e, (uint32_t)h, 4, 1);
		{
			void *tk;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(e.dq, &tk, &len), 1);
			assert_int_equal(len, 4);
			assert_int_equal(vhk_drv_vq_num_free(e.dq), 1);
		}
	}
	env_fini(&e);

	/* Indirect needs the feature. */
	env_init(&e, 8, feat(0, 0, 0));
	assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 2, &tok, table,
						 0x9000), -EINVAL);
	env_fini(&e);
}

static void test_in_order(void **state)
{
	struct vhk_drv_seg s[3] = {
		{ 0x1000, 8, false }, { 0x2000, 8, true }, { 0x3000, 8, true },
	};
	int toks[3];
	void *t;
	uint32_t len;
	struct env e;

	(void)state;
	env_init(&e, 8, feat(VHK_F_IN_ORDER, VHK_F_ORDER_PLATFORM, 0));
	/* Descriptors in ring order, next = x + 1 wrapping to 0 (2.7.5.2). */
	for (int round = 0; round < 5; round++) {
		unsigned int n = 3;
		int heads[3];

		for (int k = 0; k < 2; k++)
			assert_int_equal(vhk_drv_vq_add(e.dq, s, n, &toks[k]), 0);
		vhk_drv_vq_publish(e.dq);
		for (int k = 0; k < 2; k++) {
			int i;

			heads[k] = dev_pop(&e);
			i = heads[k];
			for (unsigned int d = 0; d + 1 < n; d++) {
				assert_int_equal(le16(e.desc[i].next),
						 (i + 1) % 8);
				i = (i + 1) % 8;
			}
		}
		assert_int_equal(heads[1], (heads[0] + 3) % 8);
		/* One used entry for the batch of two, idx += 2 (2.7.9). */
		dev_used(&e, (uint32_t)heads[1], 5, 2);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
		assert_ptr_equal(t, &toks[0]);
		assert_int_equal(len, 16);	/* whole writable length */
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
		assert_ptr_equal(t, &toks[1]);
		assert_int_equal(len, 5);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
		assert_int_equal(vhk_drv_vq_num_free(e.dq), 8);
	}
	/* A batch larger than the used index moved: -EPROTO. */
	for (int k = 0; k < 2; k++)
		assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &toks[k]), 0);
	vhk_drv_vq_publish(e.dq);
	dev_pop(&e);
	dev_used(&e, (uint32_t)dev_pop(&e), 0, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_add_publish_collect),
		cmocka_unit_test(test_out_of_order_cycles),
		cmocka_unit_test(test_event_idx_wrap),
		cmocka_unit_test(test_enable_cb),
		cmocka_unit_test(test_bad_used),
		cmocka_unit_test(test_ring_full_and_args),
		cmocka_unit_test(test_in_order),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("drv-split", tests);
}
