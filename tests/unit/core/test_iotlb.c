/* SPDX-License-Identifier: MIT */
/* test_iotlb.c - the device IOTLB interval map, cache, eviction, misses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vhostkit/iotlb.h"

static struct vhk_iotlb *mk(size_t max)
{
	struct vhk_iotlb *t = NULL;

	assert_int_equal(vhk_iotlb_new(&t, max), 0);
	assert_non_null(t);
	return t;
}

/* Expect @iova to translate to @uva with @len contiguous bytes (perm RO). */
static void expect_map(struct vhk_iotlb *t, uint64_t iova, uint64_t uva,
		       uint64_t len)
{
	uint64_t u = 0, l = UINT64_MAX;

	assert_int_equal(vhk_iotlb_lookup(t, iova, VHK_PERM_NONE, &u, &l, NULL),
			 0);
	assert_int_equal(u, uva);
	assert_int_equal(l, len);
}

static void expect_miss(struct vhk_iotlb *t, uint64_t iova)
{
	uint64_t u, l = 1;

	assert_int_equal(vhk_iotlb_lookup(t, iova, VHK_PERM_RO, &u, &l, NULL),
			 -ENOENT);
}

static void test_basic_and_prefix(void **state)
{
	struct vhk_iotlb *t = mk(0);
	uint64_t u, l;

	(void)state;
	expect_miss(t, 0x1000);
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x2000, 0x50000,
					  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_count(t), 1);
	expect_map(t, 0x1000, 0x50000, 0x2000);
	expect_map(t, 0x2fff, 0x51fff, 1);
	expect_miss(t, 0xfff);
	expect_miss(t, 0x3000);
	/* A request shorter than the entry is not extended. */
	l = 16;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1800, VHK_PERM_WO, &u, &l, NULL),
			 0);
	assert_int_equal(l, 16);
	assert_int_equal(u, 0x50800);
	vhk_iotlb_free(t);
}

static void test_rejects(void **state)
{
	struct vhk_iotlb *t = mk(0);

	(void)state;
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0, 0x1000, VHK_PERM_RO),
			 -EINVAL);
	assert_int_equal(vhk_iotlb_update(t, UINT64_MAX - 10, 12, 0,
					  VHK_PERM_RO), -EINVAL);
	assert_int_equal(vhk_iotlb_update(t, 0, 12, UINT64_MAX - 10,
					  VHK_PERM_RO), -EINVAL);
	assert_int_equal(vhk_iotlb_update(t, 0, 12, 0, VHK_PERM_NONE), -EINVAL);
	assert_int_equal(vhk_iotlb_update(t, 0, 12, 0, 4), -EINVAL);
	assert_int_equal(vhk_iotlb_update(t, 0, 12, 0, 0xff), -EINVAL);
	assert_int_equal(vhk_iotlb_invalidate(t, UINT64_MAX - 1, 3), -EINVAL);
	assert_int_equal(vhk_iotlb_count(t), 0);
	/* The very top of the space is fine when it does not wrap. */
	assert_int_equal(vhk_iotlb_update(t, UINT64_MAX - 9, 10, 0x100,
					  VHK_PERM_RO), 0);
	expect_map(t, UINT64_MAX, 0x109, 1);
	vhk_iotlb_free(t);
}

static void test_perm(void **state)
{
	struct vhk_iotlb *t = mk(0);
	uint64_t u, l = 8;

	(void)state;
	assert_int_equal(vhk_iotlb_update(t, 0, 0x1000, 0x9000, VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_lookup(t, 8, VHK_PERM_RO, &u, &l, NULL), 0);
	assert_int_equal(vhk_iotlb_lookup(t, 8, VHK_PERM_WO, &u, &l, NULL),
			 -EACCES);
	assert_int_equal(vhk_iotlb_lookup(t, 8, VHK_PERM_RW, &u, &l, NULL),
			 -EACCES);
	assert_int_equal(vhk_iotlb_update(t, 0x2000, 0x1000, 0x9000,
					  VHK_PERM_WO), 0);
	assert_int_equal(vhk_iotlb_lookup(t, 0x2000, VHK_PERM_RO, &u, &l, NULL),
			 -EACCES);
	assert_int_equal(vhk_iotlb_lookup(t, 0x2000, VHK_PERM_WO, &u, &l, NULL),
			 0);
	vhk_iotlb_free(t);
}

static void test_overlap_replace(void **state)
{
	struct vhk_iotlb *t = mk(0);

	(void)state;
	assert_int_equal(vhk_iotlb_update(t, 0x0, 0x1000, 0x10000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x1000, 0x20000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_update(t, 0x2000, 0x1000, 0x30000,
					  VHK_PERM_RO), 0);
	/* Straddles the first two and cuts the third's head. */
	assert_int_equal(vhk_iotlb_update(t, 0x800, 0x2000, 0x90000,
					  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_count(t), 3);
	expect_map(t, 0x0, 0x10000, 0x800);
	expect_map(t, 0x800, 0x90000, 0x2000);
	expect_map(t, 0x2800, 0x30800, 0x800);
	/* Exact replacement. */
	assert_int_equal(vhk_iotlb_update(t, 0x800, 0x2000, 0xa0000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_count(t), 3);
	expect_map(t, 0x1000, 0xa0800, 0x1800);
	/* Inside one entry: it is split around the new one. */
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x10, 0xb0000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_count(t), 5);
	expect_map(t, 0x800, 0xa0000, 0x800);
	expect_map(t, 0x1000, 0xb0000, 0x10);
	expect_map(t, 0x1010, 0xa0810, 0x17f0);
	vhk_iotlb_free(t);
}

static void test_invalidate_split(void **state)
{
	struct vhk_iotlb *t = mk(0);

	(void)state;
	assert_int_equal(vhk_iotlb_update(t, 0x10000, 0x10000, 0x100000,
					  VHK_PERM_RW), 0);
	/* middle */
	assert_int_equal(vhk_iotlb_invalidate(t, 0x14000, 0x1000), 0);
	assert_int_equal(vhk_iotlb_count(t), 2);
	expect_map(t, 0x10000, 0x100000, 0x4000);
	expect_miss(t, 0x14000);
	expect_miss(t, 0x14fff);
	expect_map(t, 0x15000, 0x105000, 0xb000);
	/* head */
	assert_int_equal(vhk_iotlb_invalidate(t, 0xf000, 0x2000), 0);
	expect_miss(t, 0x10fff);
	expect_map(t, 0x11000, 0x101000, 0x3000);
	/* tail */
	assert_int_equal(vhk_iotlb_invalidate(t, 0x1f000, 0x5000), 0);
	expect_map(t, 0x15000, 0x105000, 0xa000);
	expect_miss(t, 0x1f000);
	assert_int_equal(vhk_iotlb_count(t), 2);
	/* a range spanning both fragments and the hole between */
	assert_int_equal(vhk_iotlb_invalidate(t, 0x12000, 0x4000), 0);
	expect_map(t, 0x11000, 0x101000, 0x1000);
	expect_map(t, 0x16000, 0x106000, 0x9000);
	/* unmapped range: no-op, no error */
	assert_int_equal(vhk_iotlb_invalidate(t, 0x900000, 0x1000), 0);
	assert_int_equal(vhk_iotlb_count(t), 2);
	vhk_iotlb_free(t);
}

static void test_invalidate_all(void **state)
{
	struct vhk_iotlb *t = mk(0);

	(void)state;
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(vhk_iotlb_update(t, i * 0x1000, 0x1000,
						  0x1000000 + i * 0x2000,
						  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_miss_note(t, 0x900000, VHK_PERM_RO, 5), 1);
	assert_int_equal(vhk_iotlb_count(t), 100);
	assert_int_equal(vhk_iotlb_invalidate(t, 0x1234, 0), 0);
	assert_int_equal(vhk_iotlb_count(t), 0);
	assert_int_equal(vhk_iotlb_miss_count(t), 0);
	expect_miss(t, 0);
	expect_miss(t, 0x50000);
	/* Usable again afterwards. */
	assert_int_equal(vhk_iotlb_update(t, 0, 0x1000, 0x7000, VHK_PERM_RW), 0);
	expect_map(t, 0x10, 0x7010, 0xff0);
	vhk_iotlb_free(t);
}

static void test_eviction_fifo(void **state)
{
	struct vhk_iotlb *t = mk(4);

	(void)state;
	/* Inserted in the order 3, 1, 0, 2 (by address). */
	const uint64_t order[] = { 3, 1, 0, 2, 4, 5 };

	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(vhk_iotlb_update(t, order[i] * 0x1000, 0x1000,
						  order[i] * 0x10000,
						  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_count(t), 4);
	/* The fifth evicts the oldest (page 3), the sixth page 1. */
	assert_int_equal(vhk_iotlb_update(t, 4 * 0x1000, 0x1000, 0x40000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_count(t), 4);
	expect_miss(t, 3 * 0x1000);
	expect_map(t, 0x1000, 0x10000, 0x1000);
	assert_int_equal(vhk_iotlb_update(t, 5 * 0x1000, 0x1000, 0x50000,
					  VHK_PERM_RO), 0);
	expect_miss(t, 0x1000);
	expect_map(t, 0, 0, 0x1000);
	expect_map(t, 0x2000, 0x20000, 0x1000);

	/*
	 * A split fragment keeps its parent's age: split page 0 (now the
	 * oldest) into two fragments; they are the next two evicted.
	 */
	assert_int_equal(vhk_iotlb_update(t, 0x800, 0x10, 0x70000,
					  VHK_PERM_RO), 0);
	/* 0-head, new, 0-tail, 2, 4, 5 = 6 > 4: both fragments of 0 go. */
	assert_int_equal(vhk_iotlb_count(t), 4);
	expect_miss(t, 0x0);
	expect_miss(t, 0xfff);
	expect_map(t, 0x800, 0x70000, 0x10);
	expect_map(t, 0x2000, 0x20000, 0x1000);
	expect_map(t, 0x4000, 0x40000, 0x1000);
	expect_map(t, 0x5000, 0x50000, 0x1000);
	vhk_iotlb_free(t);
}

static void test_generation_cache(void **state)
{
	struct vhk_iotlb *t = mk(0);
	struct vhk_iotlb_cache c;
	uint64_t u, l, g0;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x1000, 0x8000,
					  VHK_PERM_RW), 0);
	g0 = vhk_iotlb_generation(t);
	assert_true(g0 != 0);
	l = 4;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1004, VHK_PERM_RO, &u, &l, &c),
			 0);
	assert_int_equal(c.gen, g0);
	assert_int_equal(c.iova, 0x1000);
	/* A cache hit: still right. */
	l = 0x10000;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1ff0, VHK_PERM_WO, &u, &l, &c),
			 0);
	assert_int_equal(u, 0x8ff0);
	assert_int_equal(l, 0x10);
	/* An insertion elsewhere does not bump (the cache stays valid)... */
	assert_int_equal(vhk_iotlb_update(t, 0x5000, 0x1000, 0x9000,
					  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_generation(t), g0);
	/* ...an invalidation does, and the cached mapping is gone. */
	assert_int_equal(vhk_iotlb_invalidate(t, 0x1000, 0x800), 0);
	assert_true(vhk_iotlb_generation(t) > g0);
	l = 1;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1004, VHK_PERM_RO, &u, &l, &c),
			 -ENOENT);
	/* Replacement with a narrower permission is seen through the cache. */
	l = 1;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1804, VHK_PERM_WO, &u, &l, &c),
			 0);
	g0 = vhk_iotlb_generation(t);
	assert_int_equal(vhk_iotlb_update(t, 0x1800, 0x800, 0xa000,
					  VHK_PERM_RO), 0);
	assert_true(vhk_iotlb_generation(t) > g0);
	l = 1;
	assert_int_equal(vhk_iotlb_lookup(t, 0x1804, VHK_PERM_WO, &u, &l, &c),
			 -EACCES);
	assert_int_equal(vhk_iotlb_lookup(t, 0x1804, VHK_PERM_RO, &u, &l, &c),
			 0);
	assert_int_equal(u, 0xa004);
	/* Eviction bumps too. */
	vhk_iotlb_free(t);
	t = mk(1);
	assert_int_equal(vhk_iotlb_update(t, 0, 0x1000, 0, VHK_PERM_RW), 0);
	g0 = vhk_iotlb_generation(t);
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x1000, 0, VHK_PERM_RW), 0);
	assert_true(vhk_iotlb_generation(t) > g0);
	vhk_iotlb_free(t);
}

static void test_misses(void **state)
{
	struct vhk_iotlb *t = mk(0);
	uint64_t iova = 0;
	uint8_t perm = 0;

	(void)state;
	assert_int_equal(vhk_iotlb_miss_oldest(t, &iova, &perm), 0);
	assert_int_equal(vhk_iotlb_miss_note(t, 0x1010, VHK_PERM_RW, 100), 1);
	/* Same page and perm: deduplicated. */
	assert_int_equal(vhk_iotlb_miss_note(t, 0x1ff0, VHK_PERM_RW, 110), 0);
	/* Other perm or page: new. */
	assert_int_equal(vhk_iotlb_miss_note(t, 0x1010, VHK_PERM_RO, 120), 1);
	assert_int_equal(vhk_iotlb_miss_note(t, 0x2010, VHK_PERM_RW, 130), 1);
	assert_int_equal(vhk_iotlb_miss_count(t), 3);
	assert_int_equal(vhk_iotlb_miss_oldest(t, &iova, &perm), 100);
	assert_int_equal(iova, 0x1010);
	assert_int_equal(perm, VHK_PERM_RW);

	/* An RO UPDATE answers the RO miss but not the RW one. */
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x1000, 0x5000,
					  VHK_PERM_RO), 0);
	assert_int_equal(vhk_iotlb_miss_count(t), 2);
	assert_int_equal(vhk_iotlb_miss_note(t, 0x1010, VHK_PERM_RW, 140), 0);
	assert_int_equal(vhk_iotlb_miss_oldest(t, &iova, &perm), 100);
	/* An UPDATE not covering the missed address does not clear it. */
	assert_int_equal(vhk_iotlb_update(t, 0x2800, 0x100, 0x5000,
					  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_miss_count(t), 2);
	/* RW covering: cleared; the oldest is now the 0x2010 one. */
	assert_int_equal(vhk_iotlb_update(t, 0x1000, 0x1000, 0x5000,
					  VHK_PERM_RW), 0);
	assert_int_equal(vhk_iotlb_miss_count(t), 1);
	assert_int_equal(vhk_iotlb_miss_oldest(t, &iova, NULL), 130);
	assert_int_equal(iova, 0x2010);
	/* A cleared miss can be noted (and sent) again. */
	assert_int_equal(vhk_iotlb_miss_note(t, 0x1010, VHK_PERM_RW, 150), 1);

	/* Bounded: a front-end that never answers cannot grow it forever. */
	vhk_iotlb_flush(t);
	assert_int_equal(vhk_iotlb_miss_count(t), 0);
	for (uint64_t i = 0;; i++) {
		int r = vhk_iotlb_miss_note(t, i * 4096, VHK_PERM_RO, i + 1);

		if (r == -ENOSPC) {
			assert_true(i >= 16);
			break;
		}
		assert_int_equal(r, 1);
		assert_true(i < 1000000);
	}
	vhk_iotlb_free(t);
}

/*
 * Model check against a naive map of a small IOVA space: for every byte,
 * the id of the UPDATE that maps it (0: none), from which uva, perm and the
 * contiguous length follow.
 */
#define SPACE	6000u

struct model {
	uint32_t id[SPACE];
	uint64_t uva[SPACE];
	uint8_t perm[SPACE];
};

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t model_count(const struct model *m)
{
	size_t n = 0;

	for (unsigned int i = 0; i < SPACE; i++)
		if (m->id[i] && (i == 0 || m->id[i - 1] != m->id[i]))
			n++;
	return n;
}

/*
 * IOVA of model address 0: the model also runs at the top of the IOVA
 * space, where real keys equal the UINT64_MAX padding of the tree's nodes
 * and a lookup of UINT64_MAX must still find its entry.
 */
static uint64_t model_base;

static void model_verify(struct vhk_iotlb *t, const struct model *m,
			 bool exact)
{
	for (unsigned int a = 0; a < SPACE; a++) {
		uint64_t u = 0, l = UINT64_MAX;
		int r = vhk_iotlb_lookup(t, model_base + a, VHK_PERM_NONE, &u,
					 &l, NULL);

		if (!m->id[a]) {
			assert_int_equal(r, -ENOENT);
			continue;
		}
		if (!exact && r == -ENOENT)
			continue;	/* evicted */
		assert_int_equal(r, 0);
		assert_int_equal(u, m->uva[a]);
		if (exact) {
			unsigned int e = a;

			while (e < SPACE && m->id[e] == m->id[a])
				e++;
			assert_int_equal(l, e - a);
		}
		l = 1;
		r = vhk_iotlb_lookup(t, model_base + a, m->perm[a], &u, &l,
				     NULL);
		assert_int_equal(r, 0);
		if (m->perm[a] != VHK_PERM_RW) {
			l = 1;
			r = vhk_iotlb_lookup(t, model_base + a, VHK_PERM_RW,
					     &u, &l, NULL);
			assert_int_equal(r, -EACCES);
		}
	}
	if (exact)
		assert_int_equal(vhk_iotlb_count(t), model_count(m));
}

static void run_model(size_t max, unsigned int ops, unsigned int maxlen)
{
	struct vhk_iotlb *t = mk(max);
	struct model *m = calloc(1, sizeof(*m));
	bool exact = max == 0;
	uint32_t next_id = 1;

	assert_non_null(m);
	for (unsigned int op = 0; op < ops; op++) {
		unsigned int kind = rnd() % 10;
		uint64_t a = rnd() % SPACE;
		uint64_t len = 1 + rnd() % (kind < 8 ? maxlen : 300);

		if (a + len > SPACE)
			len = SPACE - a;
		if (kind < 6) {
			uint64_t uva = (rnd() % 100000) * 64;
			uint8_t perm = 1 + rnd() % 3;

			assert_int_equal(vhk_iotlb_update(t, model_base + a,
							  len, uva, perm), 0);
			for (uint64_t i = 0; i < len; i++) {
				m->id[a + i] = next_id;
				m->uva[a + i] = uva + i;
				m->perm[a + i] = perm;
			}
			next_id++;
		} else if (kind < 9 || rnd() % 20) {
			assert_int_equal(vhk_iotlb_invalidate(t, model_base + a,
							      len), 0);
			for (uint64_t i = 0; i < len; i++)
				m->id[a + i] = 0;
		} else {
			assert_int_equal(vhk_iotlb_invalidate(t, 0, 0), 0);
			memset(m->id, 0, sizeof(m->id));
		}
		if (max)
			assert_true(vhk_iotlb_count(t) <= max);
		if (op % 97 == 0 || op == ops - 1)
			model_verify(t, m, exact);
	}
	free(m);
	vhk_iotlb_free(t);
}

static void test_model_exact(void **state)
{
	(void)state;
	run_model(0, 6000, 24);
	/* Short ranges: thousands of entries, a deeper tree. */
	run_model(0, 12000, 3);
	/* The same at the top of the IOVA space (last byte UINT64_MAX). */
	model_base = UINT64_MAX - SPACE + 1;
	run_model(0, 12000, 3);
	model_base = 0;
}

static void test_model_bounded(void **state)
{
	(void)state;
	run_model(40, 4000, 24);
	run_model(1000, 8000, 4);
}

/* Ascending then descending bulk insert/remove to exercise rebalancing. */
static void test_bulk(void **state)
{
	struct vhk_iotlb *t = mk(0);
	const uint64_t n = 20000;

	(void)state;
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(vhk_iotlb_update(t, i * 2, 1, i * 3,
						  VHK_PERM_RO), 0);
	for (uint64_t i = n; i-- > 0;)
		assert_int_equal(vhk_iotlb_update(t, i * 2 + 1, 1, i * 5,
						  VHK_PERM_WO), 0);
	assert_int_equal(vhk_iotlb_count(t), 2 * n);
	for (uint64_t i = 0; i < 2 * n; i += 7) {
		uint64_t u, l = 10;
		uint64_t want = (i & 1) ? (i / 2) * 5 : (i / 2) * 3;

		assert_int_equal(vhk_iotlb_lookup(t, i, VHK_PERM_NONE, &u, &l,
						  NULL), 0);
		assert_int_equal(u, want);
		assert_int_equal(l, 1);
	}
	/* Remove every other entry from the middle outward, then the rest. */
	for (uint64_t i = 0; i < 2 * n; i += 2)
		assert_int_equal(vhk_iotlb_invalidate(t, i, 1), 0);
	assert_int_equal(vhk_iotlb_count(t), n);
	expect_miss(t, 100);
	expect_map(t, 101, 50 * 5, 1);
	assert_int_equal(vhk_iotlb_invalidate(t, 0, 2 * n), 0);
	assert_int_equal(vhk_iotlb_count(t), 0);
	expect_miss(t, 101);
	vhk_iotlb_free(t);
}

/* Per-queue misses: deduplicated per page + perm, answered by a covering
 * UPDATE with enough permission, oldest first, bounded, and kept apart
 * from the shared record (a lookup through a queue writes nothing shared). */
static void test_queue_misses(void **st)
{
	struct vhk_iotlb_cache a, b;
	struct vhk_iotlb *t;
	uint64_t iova = 0;
	uint8_t perm = 0;

	(void)st;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_int_equal(vhk_iotlb_new(&t, 0), 0);
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, NULL, NULL), 0);
	assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x1010, VHK_PERM_RW, 100), 1);
	assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x1ff0, VHK_PERM_RW, 110), 0);
	assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x1010, VHK_PERM_RO, 120), 1);
	assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x5000, VHK_PERM_WO, 0), 1);
	/* Another queue's record is its own: the same page is new there. */
	assert_int_equal(vhk_iotlb_qmiss_note(&b, 0x1010, VHK_PERM_RW, 130), 1);
	assert_int_equal(vhk_iotlb_miss_count(t), 0);
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, NULL, NULL), 100);
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, &iova, &perm), 100);
	assert_int_equal(iova, 0x1010);
	assert_int_equal(perm, VHK_PERM_RW);
	/* An RO UPDATE answers the RO miss, not the RW one. */
	vhk_iotlb_qmiss_clear(&a, 0x1000, 0x1000, VHK_PERM_RO);
	assert_int_equal(a.miss_n, 2);
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, NULL, NULL), 100);
	vhk_iotlb_qmiss_clear(&a, 0x1000, 0x1000, VHK_PERM_RW);
	assert_int_equal(a.miss_n, 1);
	/* Stamp 0 is stored as 1 (0 = none). */
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, NULL, NULL), 1);
	/* Cached translations go, misses stay. */
	vhk_iotlb_cache_invalidate(&a);
	assert_int_equal(a.miss_n, 1);
	vhk_iotlb_qmiss_clear(&a, 0, 0, 0);			/* flush */
	assert_int_equal(a.miss_n, 0);
	assert_int_equal(vhk_iotlb_qmiss_oldest(&a, NULL, NULL), 0);
	for (unsigned int i = 0; i < VHK_IOTLB_QUEUE_MISSES; i++)
		assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x100000ull * (i + 1),
						      VHK_PERM_RO, 5), 1);
	assert_int_equal(vhk_iotlb_qmiss_note(&a, 0x1, VHK_PERM_RO, 5),
			 -ENOSPC);
	assert_int_equal(b.miss_n, 1);
	vhk_iotlb_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_and_prefix),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_perm),
		cmocka_unit_test(test_overlap_replace),
		cmocka_unit_test(test_invalidate_split),
		cmocka_unit_test(test_invalidate_all),
		cmocka_unit_test(test_eviction_fifo),
		cmocka_unit_test(test_generation_cache),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_model_exact),
		cmocka_unit_test(test_model_bounded),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_queue_misses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
