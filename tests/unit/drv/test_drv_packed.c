/* SPDX-License-Identifier: MIT */
/*
 * test_drv_packed.c - driver-side packed ring against a hand-written
 * device that follows VIRTIO 1.2 2.8 with its own wrap counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhk_test.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "ring/vring_defs.h"

#define MEM_ADDR 0x7e0000000000ull
#define F_AVAIL (1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VHK_VRING_PACKED_DESC_F_USED)

struct env {
	struct vhk_drv_vq *dq;
	uint8_t *mem;
	uint16_t num;
	struct vhk_vring_packed_desc *desc;
	struct vhk_vring_packed_event *drv_evt, *dev_evt;
	/* The device's view. */
	uint16_t av_slot, us_slot;
	bool av_wrap, us_wrap;
};

struct dchain {
	uint16_t id;
	uint16_t ndesc;
	uint16_t head_flags;
	uint64_t addr[16];
	uint32_t len[16];
	bool write[16];
	unsigned int n;
};

static uint64_t feat(unsigned int a, unsigned int b)
{
	uint64_t f = 0;

	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, VHK_F_RING_PACKED);
	vhk_set_feature(&f, a);
	vhk_set_feature(&f, b);
	return f;
}

static void env_init(struct env *e, uint16_t num, uint64_t features)
{
	size_t sz = vhk_drv_vq_mem_size(true, num);
	void *d, *dr, *dv;

	memset(e, 0, sizeof(*e));
	e->mem = aligned_alloc(4096, (sz + 4095) / 4096 * 4096);
	assert_non_null(e->mem);
	assert_int_equal(vhk_drv_vq_new(&e->dq, num, features, e->mem,
					MEM_ADDR), 0);
	e->num = num;
	vhk_drv_vq_raw(e->dq, &d, &dr, &dv);
	e->desc = d;
	e->drv_evt = dr;
	e->dev_evt = dv;
	e->av_wrap = e->us_wrap = true;
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

static bool dev_is_avail(struct env *e, uint16_t slot, bool wrap)
{
	uint16_t fl = le16(e->desc[slot].flags);

	return !!(fl & F_AVAIL) == wrap && !!(fl & F_USED) != wrap;
}

/* Device: read the next available chain (2.8.1, 2.8.6); false if none. */
static bool dev_pop(struct env *e, struct dchain *c)
{
	uint16_t fl;

	memset(c, 0, sizeof(*c));
	if (!dev_is_avail(e, e->av_slot, e->av_wrap))
		return false;
	c->head_flags = le16(e->desc[e->av_slot].flags);
	do {
		struct vhk_vring_packed_desc *d = &e->desc[e->av_slot];

		assert_true(dev_is_avail(e, e->av_slot, e->av_wrap));
		fl = le16(d->flags);
		c->addr[c->n] = vhk_le64_get(d->addr);
		c->len[c->n] = vhk_le32_get(d->len);
		c->write[c->n] = fl & VHK_VRING_DESC_F_WRITE;
		c->id = le16(d->id);
		c->n++;
		c->ndesc++;
		if (++e->av_slot == e->num) {
			e->av_slot = 0;
			e->av_wrap = !e->av_wrap;
		}
	} while ((fl & VHK_VRING_DESC_F_NEXT) && c->n < 16);
	return true;
}

/* Device: write one used descriptor and skip @skip slots (2.8.7). */
static void dev_used(struct env *e, uint16_t id, uint32_t len, uint16_t skip)
{
	struct vhk_vring_packed_desc *d = &e->desc[e->us_slot];

	d->id = vhk_le16_make(id);
	d->len = vhk_le32_make(len);
	d->flags = vhk_le16_make(e->us_wrap ? F_AVAIL | F_USED : 0);
	e->us_slot = (uint16_t)(e->us_slot + skip);
	if (e->us_slot >= e->num) {
		e->us_slot = (uint16_t)(e->us_slot - e->num);
		e->us_wrap = !e->us_wrap;
	}
}

static void set_dev_evt(struct env *e, uint16_t flags, uint16_t off,
			bool wrap)
{
	e->dev_evt->off_wrap = vhk_le16_make((uint16_t)(off | (wrap ? 0x8000 : 0)));
	e->dev_evt->flags = vhk_le16_make(flags);
}

static void test_layout(void **state)
{
	struct vhk_vq_addrs a;
	struct env e;

	(void)state;
	/* Packed sizes need not be powers of two (2.8). */
	assert_int_equal(vhk_drv_vq_mem_size(true, 5), 16 * 5 + 8);
	assert_int_equal(vhk_drv_vq_mem_size(true, 0), 0);
	assert_int_equal(vhk_drv_vq_mem_size(true, 32768), 16 * 32768 + 8);
	env_init(&e, 5, feat(0, 0));
	vhk_drv_vq_addrs(e.dq, &a);
	assert_int_equal(a.desc, MEM_ADDR);
	assert_int_equal(a.driver, MEM_ADDR + 80);
	assert_int_equal(a.device, MEM_ADDR + 84);
	assert_int_equal(a.desc % VHK_PACKED_DESC_ALIGN, 0);
	assert_int_equal(a.driver % VHK_PACKED_EVENT_ALIGN, 0);
	assert_int_equal(a.device % VHK_PACKED_EVENT_ALIGN, 0);
	assert_ptr_equal((uint8_t *)e.drv_evt, e.mem + 80);
	assert_ptr_equal((uint8_t *)e.dev_evt, e.mem + 84);
	/* A fresh packed queue starts at slot 0 with wrap counter 1. */
	assert_int_equal(vhk_drv_vq_base(e.dq), 0x8000);
	env_fini(&e);
}

static void test_add_publish_collect(void **state)
{
	struct vhk_drv_seg s[3] = {
		{ 0x100000, 16, false },
		{ 0x200000, 512, true },
		{ 0x300000, 100, true },
	};
	struct dchain c;
	int tok;
	void *t;
	uint32_t len;
	struct env e;

	(void)state;
	env_init(&e, 8, feat(0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), 0);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 5);
	/* The head is made available last, by publish (2.8.21.1.1). */
	assert_false(dev_is_avail(&e, 0, true));
	assert_true(dev_is_avail(&e, 1, true));
	assert_false(dev_pop(&e, &c));
	/* Default device event flags are ENABLE: kick. */
	assert_true(vhk_drv_vq_publish(e.dq));
	assert_true(dev_pop(&e, &c));
	assert_int_equal(c.n, 3);
	for (unsigned int k = 0; k < 3; k++) {
		assert_int_equal(c.addr[k], s[k].addr);
		assert_int_equal(c.len[k], s[k].len);
		assert_int_equal(c.write[k], s[k].write);
	}
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
	dev_used(&e, c.id, 612, c.ndesc);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	assert_ptr_equal(t, &tok);
	assert_int_equal(len, 612);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 8);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	env_fini(&e);
}

/*
 * Several laps of a size-5 ring with chains of 1-3 descriptors, several
 * chains per publish, completed out of order: wrap counters on both sides
 * and the skip-by-chain-length stay in step.
 */
static void test_wrap_laps(void **state)
{
	struct vhk_drv_seg s[3] = {
		{ 0x1000, 4, false }, { 0x2000, 8, true }, { 0x3000, 8, true },
	};
	int toks[5];
	struct env e;
	unsigned int laps = 0;
	bool last_wrap = true;

	(void)state;
	env_init(&e, 5, feat(VHK_F_INDIRECT_DESC, 0));
	for (int round = 0; round < 300; round++) {
		struct dchain c[5], extra;
		uint32_t lens[5];
		unsigned int n = 0, nd = (unsigned int)round % 3 + 1;
		uint8_t table[16 * 3];

		while (vhk_drv_vq_num_free(e.dq) >= nd && n < 3) {
			assert_int_equal(vhk_drv_vq_add(e.dq, s, nd, &toks[n]), 0);
			n++;
		}
		/* An indirect chain now and then (one slot). */
		if (round % 7 == 0 && vhk_drv_vq_num_free(e.dq) >= 1) {
			assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 3,
					 &toks[n], table, 0x8000), 0);
			n++;
		}
		vhk_drv_vq_publish(e.dq);
		for (unsigned int k = 0; k < n; k++)
			assert_true(dev_pop(&e, &c[k]));
		assert_false(dev_pop(&e, &extra));
		/* Complete in reverse order: the skip follows each id. */
		for (int k = (int)n - 1; k >= 0; k--) {
			/* Writable bytes: none for 1-desc direct chains. */
			lens[k] = c[k].ndesc == 1 && c[k].n == 1 &&
				  !(c[k].head_flags & VHK_VRING_DESC_F_INDIRECT) ?
				  0 : 3;
			dev_used(&e, c[k].id, lens[k], c[k].ndesc);
		}
		for (int k = (int)n - 1; k >= 0; k--) {
			void *t;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
			assert_ptr_equal(t, &toks[k]);
			assert_int_equal(len, lens[k]);
		}
		{
			void *t;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
		}
		assert_int_equal(vhk_drv_vq_num_free(e.dq), 5);
		if (e.av_wrap != last_wrap) {
			laps++;
			last_wrap = e.av_wrap;
		}
		assert_int_equal(e.av_slot, e.us_slot);
		assert_int_equal(e.av_wrap, e.us_wrap);
		/* SET_VRING_BASE for a device starting here. */
		assert_int_equal(vhk_drv_vq_base(e.dq),
				 e.av_slot | (e.av_wrap ? 0x8000 : 0));
	}
	assert_true(laps >= 50);
	env_fini(&e);
}

static void test_kick_suppression(void **state)
{
	struct vhk_drv_seg s = { 0x1000, 4, false };
	struct dchain c;
	int tok;
	struct env e;

	(void)state;
	env_init(&e, 8, feat(VHK_F_EVENT_IDX, 0));
	/* DISABLE: no kick. */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DISABLE, 0, true);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	/* DESC at (2, wrap 1): slot 1 -> 2 does not reach it... */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DESC, 2, true);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	/* ... slot 2 -> 3 makes descriptor 2 available: kick. */
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	/* Drain so that we can lap. */
	while (dev_pop(&e, &c))
		dev_used(&e, c.id, 0, c.ndesc);
	{
		void *t;
		uint32_t len;

		while (vhk_drv_vq_get_used(e.dq, &t, &len) == 1)
			;
	}
	/* Now at slot 3 wrap 1; advance to slot 6. */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DISABLE, 0, true);
	for (int k = 0; k < 3; k++)
		assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	while (dev_pop(&e, &c))
		dev_used(&e, c.id, 0, c.ndesc);
	{
		void *t;
		uint32_t len;

		while (vhk_drv_vq_get_used(e.dq, &t, &len) == 1)
			;
	}
	/* 6,7 (wrap 1), 0,1 (wrap 0): event (1, wrap 0) is crossed. */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DESC, 1, false);
	for (int k = 0; k < 4; k++)
		assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	/* Event (1, wrap 1) belongs to the previous lap: passed long ago. */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DESC, 1, true);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_false(vhk_drv_vq_publish(e.dq));
	/* A bogus offset >= num: kick to be safe. */
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DESC, 100, false);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	env_fini(&e);

	/* DESC without EVENT_IDX is not valid (2.8.10): kick anyway. */
	env_init(&e, 8, feat(0, 0));
	set_dev_evt(&e, VHK_RING_EVENT_FLAGS_DESC, 5, true);
	assert_int_equal(vhk_drv_vq_add(e.dq, &s, 1, &tok), 0);
	assert_true(vhk_drv_vq_publish(e.dq));
	env_fini(&e);
}

static void test_enable_cb(void **state)
{
	struct vhk_drv_seg s[2] = { { 0x1000, 4, false }, { 0x2000, 4, true } };
	struct dchain c;
	int tok;
	struct env e;
	void *t;
	uint32_t len;

	(void)state;
	env_init(&e, 4, feat(VHK_F_EVENT_IDX, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	vhk_drv_vq_enable_cb(e.dq, false);
	assert_int_equal(le16(e.drv_evt->flags), VHK_RING_EVENT_FLAGS_DISABLE);
	assert_true(dev_pop(&e, &c));
	dev_used(&e, c.id, 4, c.ndesc);
	/* Arrived while disabled: enabling reports it. */
	assert_true(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(le16(e.drv_evt->flags), VHK_RING_EVENT_FLAGS_DESC);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	/* Ask for the descriptor at the next used slot (2, wrap 1). */
	assert_false(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(le16(e.drv_evt->off_wrap), 2 | 0x8000);
	/* Lap once: (0, wrap 0). */
	for (int k = 0; k < 1; k++) {
		assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
		vhk_drv_vq_publish(e.dq);
		assert_true(dev_pop(&e, &c));
		dev_used(&e, c.id, 4, c.ndesc);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
	}
	assert_false(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(le16(e.drv_evt->off_wrap), 0);
	env_fini(&e);

	env_init(&e, 4, feat(0, 0));
	vhk_drv_vq_enable_cb(e.dq, false);
	assert_int_equal(le16(e.drv_evt->flags), VHK_RING_EVENT_FLAGS_DISABLE);
	assert_false(vhk_drv_vq_enable_cb(e.dq, true));
	assert_int_equal(le16(e.drv_evt->flags), VHK_RING_EVENT_FLAGS_ENABLE);
	env_fini(&e);
}

static void test_bad_used(void **state)
{
	struct vhk_drv_seg s[2] = { { 0x1000, 8, false }, { 0x2000, 64, true } };
	struct dchain c;
	int tok;
	void *t;
	uint32_t len;
	struct env e;

	(void)state;
	/* id beyond the queue. */
	env_init(&e, 8, feat(0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	dev_used(&e, 8, 0, 2);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	assert_true(vhk_drv_vq_broken(e.dq));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), -EIO);
	env_fini(&e);

	/* id in range, not in flight. */
	env_init(&e, 8, feat(0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	assert_true(dev_pop(&e, &c));
	dev_used(&e, (uint16_t)(c.id + 1), 0, 2);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);

	/* len beyond the writable bytes. */
	env_init(&e, 8, feat(0, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &tok), 0);
	vhk_drv_vq_publish(e.dq);
	assert_true(dev_pop(&e, &c));
	dev_used(&e, c.id, 65, 2);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);

	/* A used descriptor with nothing in flight. */
	env_init(&e, 8, feat(0, 0));
	dev_used(&e, 0, 0, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);
}

static void test_ring_full_indirect(void **state)
{
	struct vhk_drv_seg s[4] = {
		{ 0x1000, 4, false }, { 0x2000, 4, false },
		{ 0x3000, 4, true }, { 0x4000, 4, true },
	};
	struct vhk_vring_packed_desc table[4];
	struct dchain c;
	int tok;
	struct env e;

	(void)state;
	env_init(&e, 6, feat(VHK_F_INDIRECT_DESC, 0));
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 4, &tok), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &tok), -ENOSPC);
	assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 4, &tok, table,
						 0x7000), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), 0);
	assert_int_equal(vhk_drv_vq_num_free(e.dq), 0);
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &tok), -ENOSPC);
	vhk_drv_vq_publish(e.dq);
	assert_true(dev_pop(&e, &c));
	assert_int_equal(c.ndesc, 4);
	assert_true(dev_pop(&e, &c));
	assert_int_equal(c.ndesc, 1);
	assert_true(c.head_flags & VHK_VRING_DESC_F_INDIRECT);
	assert_int_equal(c.addr[0], 0x7000);
	assert_int_equal(c.len[0], 64);
	/* Table entries: packed format, only WRITE (2.8.19). */
	for (int k = 0; k < 4; k++) {
		assert_int_equal(vhk_le64_get(table[k].addr), s[k].addr);
		assert_int_equal(le16(table[k].flags),
				 s[k].write ? VHK_VRING_DESC_F_WRITE : 0);
	}
	env_fini(&e);

	env_init(&e, 6, feat(0, 0));
	assert_int_equal(vhk_drv_vq_add_indirect(e.dq, s, 2, &tok, table,
						 0x7000), -EINVAL);
	env_fini(&e);
}

static void test_in_order_batch(void **state)
{
	struct vhk_drv_seg s[3] = {
		{ 0x1000, 4, false }, { 0x2000, 8, true }, { 0x3000, 8, true },
	};
	int toks[3];
	struct dchain c[3];
	void *t;
	uint32_t len;
	struct env e;

	(void)state;
	env_init(&e, 7, feat(VHK_F_IN_ORDER, VHK_F_ORDER_PLATFORM));
	for (int round = 0; round < 20; round++) {
		/* Chains of 2, 1 and 3 descriptors = 6 slots. */
		assert_int_equal(vhk_drv_vq_add(e.dq, s, 2, &toks[0]), 0);
		assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &toks[1]), 0);
		assert_int_equal(vhk_drv_vq_add(e.dq, s, 3, &toks[2]), 0);
		vhk_drv_vq_publish(e.dq);
		for (int k = 0; k < 3; k++)
			assert_true(dev_pop(&e, &c[k]));
		/* One used descriptor for all three, skip 6 (2.8.8). */
		dev_used(&e, c[2].id, 7, 6);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
		assert_ptr_equal(t, &toks[0]);
		assert_int_equal(len, 8);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
		assert_ptr_equal(t, &toks[1]);
		assert_int_equal(len, 0);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 1);
		assert_ptr_equal(t, &toks[2]);
		assert_int_equal(len, 7);
		assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), 0);
		assert_int_equal(vhk_drv_vq_num_free(e.dq), 7);
	}
	/* A used id that is not in flight. */
	assert_int_equal(vhk_drv_vq_add(e.dq, s, 1, &toks[0]), 0);
	vhk_drv_vq_publish(e.dq);
	assert_true(dev_pop(&e, &c[0]));
	dev_used(&e, (uint16_t)((c[0].id + 1) % 7), 0, 1);
	assert_int_equal(vhk_drv_vq_get_used(e.dq, &t, &len), -EPROTO);
	env_fini(&e);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_add_publish_collect),
		cmocka_unit_test(test_wrap_laps),
		cmocka_unit_test(test_kick_suppression),
		cmocka_unit_test(test_enable_cb),
		cmocka_unit_test(test_bad_used),
		cmocka_unit_test(test_ring_full_indirect),
		cmocka_unit_test(test_in_order_batch),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("drv-packed", tests);
}
