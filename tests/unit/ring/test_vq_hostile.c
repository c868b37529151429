/* SPDX-License-Identifier: MIT */
/*
 * test_vq_hostile.c - one test per ring-level hostile input
 * (docs/architecture.md, "Hostile input").  Raw descriptors are written
 * straight into the ring memory the driver-side ring laid out.  Each test asserts the error, whether the
 * queue is broken, and that no byte outside the buffers was touched.
 * Every test runs for split and packed rings in gpa / identity / iotlb.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define NUM	8
#define W	VHK_VRING_DESC_F_WRITE
#define N	VHK_VRING_DESC_F_NEXT
#define I	VHK_VRING_DESC_F_INDIRECT

static uint64_t f_ind(void)
{
	return vhk_feature_bit(VHK_F_INDIRECT_DESC);
}

/* Set up, write @n raw descriptors, pop once, expect @err and broken. */
static void expect_broken(int packed, int mi, uint64_t feat,
			  void (*build)(struct rt *t, struct rd *d,
					unsigned int *n),
			  int err)
{
	struct rt t;
	struct rd d[NUM + 1];
	unsigned int n = 0;
	uint32_t base;

	rt_setup(&t, vhk_test_modes[mi], packed, NUM, feat);
	memset(d, 0, sizeof(d));
	build(&t, d, &n);
	rt_raw_chain(&t, d, n);
	base = vhk_vq_base(t.vq);
	assert_int_equal(rt_pop(&t), err);
	assert_int_equal(vhk_vq_base(t.vq), base);	/* nothing consumed */
	rt_assert_broken(&t);
	rt_fini(&t);
}

#define FOR_ALL(p, mi) RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi)

/* ---- descriptor loops -------------------------------------------------- */

static void build_loop(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4), b = rt_buf(t, 4);

	if (!t->packed) {
		/* 0 -> 1 -> 0 -> ... */
		d[0] = (struct rd){ rt_addr(t, a), 4, N, 1 };
		d[1] = (struct rd){ rt_addr(t, b), 4, N, 0 };
		*n = 2;
		return;
	}
	/* Packed: every slot says "more follows" - a list longer than the
	 * ring, which only a walk without a bound would follow. */
	for (unsigned int i = 0; i < NUM; i++)
		d[i] = (struct rd){ rt_addr(t, i % 2 ? a : b), 4, N, 0 };
	*n = NUM;
}

static void test_loop_direct(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		struct rd d[NUM];
		unsigned int n;
		struct vhk_vq_stats st;

		rt_setup(&t, vhk_test_modes[mi], p, NUM, 0);
		build_loop(&t, d, &n);
		rt_raw_chain(&t, d, n);
		assert_int_equal(rt_pop(&t), -ELOOP);
		vhk_vq_get_stats(t.vq, &st);
		/* Bounded work: never more descriptors than the queue. */
		assert_true(st.last_pop_descs <= NUM);
		rt_assert_broken(&t);
		rt_fini(&t);
	}
}

static void build_loop_indirect(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4), b = rt_buf(t, 4);
	struct rd tab[2] = {
		{ rt_addr(t, a), 4, N, 1 },
		{ rt_addr(t, b), 4, N, 0 },
	};

	d[0] = (struct rd){ rt_raw_table(t, tab, 2), 32, I, 0 };
	*n = 1;
}

static void test_loop_indirect(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		if (!p) {
			expect_broken(p, mi, f_ind(), build_loop_indirect,
				      -ELOOP);
			continue;
		}
		/* Packed tables have no next field (2.8.7): NEXT is ignored,
		 * the walk is bounded by the table length. */
		struct rt t;
		struct rd d[1];
		unsigned int n;
		struct vhk_vq_stats st;

		rt_setup(&t, vhk_test_modes[mi], p, NUM, f_ind());
		build_loop_indirect(&t, d, &n);
		rt_raw_chain(&t, d, n);
		rt_pop_ok(&t);
		assert_int_equal(t.c.read_bytes, 8);
		vhk_vq_get_stats(t.vq, &st);
		assert_int_equal(st.last_pop_descs, 3);
		rt_fini(&t);
	}
}

/* ---- next >= num ------------------------------------------------------- */

static void build_next_oob(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);

	if (!t->packed) {
		d[0] = (struct rd){ rt_addr(t, a), 4, N, NUM };
		*n = 1;
		return;
	}
	/* Packed: NEXT into a slot the driver never made available (a
	 * partial list, VIRTIO 1.2 2.8.6). */
	d[0] = (struct rd){ rt_addr(t, a), 4, N, 0 };
	*n = 1;
}

static void build_next_oob_indirect(struct rt *t, struct rd *d,
				    unsigned int *n)
{
	size_t a = rt_buf(t, 4);
	struct rd tab[2] = {
		{ rt_addr(t, a), 4, N, 2 },	/* table has 2 entries */
		{ rt_addr(t, a), 4, 0, 0 },
	};

	d[0] = (struct rd){ rt_raw_table(t, tab, 2), 32, I, 0 };
	*n = 1;
}

static void test_next_out_of_range(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		expect_broken(p, mi, 0, build_next_oob, -EPROTO);
		if (!p)
			expect_broken(p, mi, f_ind(), build_next_oob_indirect,
				      -EPROTO);
	}
}

/* ---- indirect rules ---------------------------------------------------- */

static void build_nested(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);
	struct rd inner[1] = { { rt_addr(t, a), 4, 0, 0 } };
	uint64_t in_addr = rt_raw_table(t, inner, 1);
	struct rd outer[1] = { { in_addr, 16, I, 0 } };

	d[0] = (struct rd){ rt_raw_table(t, outer, 1), 16, I, 0 };
	*n = 1;
}

static void test_nested_indirect(void **state)
{
	(void)state;
	FOR_ALL(p, mi)
		expect_broken(p, mi, f_ind(), build_nested, -EPROTO);
}

static uint32_t ind_len;

static void build_ind_len(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);
	struct rd tab[2] = {
		{ rt_addr(t, a), 4, N, 1 }, { rt_addr(t, a), 4, 0, 0 },
	};

	d[0] = (struct rd){ rt_raw_table(t, tab, 2), ind_len, I, 0 };
	*n = 1;
}

static void test_indirect_len(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		ind_len = 24;	/* not a multiple of 16 */
		expect_broken(p, mi, f_ind(), build_ind_len, -EPROTO);
		ind_len = 0;
		expect_broken(p, mi, f_ind(), build_ind_len, -EPROTO);
	}
}

static void test_indirect_without_feature(void **state)
{
	(void)state;
	ind_len = 32;
	FOR_ALL(p, mi)
		expect_broken(p, mi, 0, build_ind_len, -EPROTO);
}

static void build_ind_next(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);
	struct rd tab[1] = { { rt_addr(t, a), 4, 0, 0 } };

	d[0] = (struct rd){ rt_raw_table(t, tab, 1), 16, I | N, 1 };
	d[1] = (struct rd){ rt_addr(t, a), 4, 0, 0 };
	*n = 2;
}

static void test_indirect_with_next(void **state)
{
	(void)state;
	FOR_ALL(p, mi)
		expect_broken(p, mi, f_ind(), build_ind_next, -EPROTO);
}

/* ---- buffer rules ------------------------------------------------------ */

static void build_zero_len(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);

	d[0] = (struct rd){ rt_addr(t, a), 4, N, 1 };
	d[1] = (struct rd){ rt_addr(t, a), 0, W, 0 };
	*n = 2;
}

static void test_zero_length(void **state)
{
	(void)state;
	FOR_ALL(p, mi)
		expect_broken(p, mi, 0, build_zero_len, -EPROTO);
}

static void build_overflow(struct rt *t, struct rd *d, unsigned int *n)
{
	(void)t;
	d[0] = (struct rd){ UINT64_MAX - 2, 16, 0, 0 };
	*n = 1;
}

static void test_addr_len_overflow(void **state)
{
	(void)state;
	FOR_ALL(p, mi)
		expect_broken(p, mi, 0, build_overflow, -EFAULT);
}

static void build_rw_order(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4), b = rt_buf(t, 4);

	d[0] = (struct rd){ rt_addr(t, a), 4, W | N, 1 };
	d[1] = (struct rd){ rt_addr(t, b), 4, 0, 0 };
	*n = 2;
}

static void test_readable_after_writable(void **state)
{
	(void)state;
	FOR_ALL(p, mi)
		expect_broken(p, mi, 0, build_rw_order, -EPROTO);
}

static void build_unmapped(struct rt *t, struct rd *d, unsigned int *n)
{
	size_t a = rt_buf(t, 4);

	/* Readable head, then a writable buffer that runs off the end of
	 * the buffer area into memory nobody mapped. */
	d[0] = (struct rd){ rt_addr(t, a), 4, N, 1 };
	d[1] = (struct rd){ rt_addr(t, RT_BUF_SIZE - 8), 64, W, 0 };
	*n = 2;
}

/* A second address space whose buffer window spans two regions (gpa /
 * identity) or two IOTLB entries over two regions (iotlb). */
struct span {
	struct vhk_memtable *mt;
	struct vhk_iotlb *tlb;
	struct vhk_as as;
	uint8_t *ha, *hb;
	uint64_t base;		/* device address of the window */
};

#define SPAN_GPA	0x300000000ull
#define SPAN_IOVA	0xc0000000ull
#define SPAN_UVA_A	0x3f0200000000ull
#define SPAN_UVA_B	0x3f0300000000ull

static void span_init(struct rt *t, struct span *s)
{
	memset(s, 0, sizeof(*s));
	s->ha = calloc(1, 64);
	s->hb = calloc(1, 64);
	assert_int_equal(vhk_memtable_new(&s->mt, 4), 0);
	/* The ring, where the mock puts it. */
	assert_int_equal(vhk_memtable_add_host(s->mt, VHK_MOCK_GPA_RING,
					       t->m.ring_size,
					       VHK_MOCK_UVA_RING,
					       t->m.ring_host), 0);
	assert_int_equal(vhk_memtable_add_host(s->mt, SPAN_GPA, 64,
					       SPAN_UVA_A, s->ha), 0);
	assert_int_equal(vhk_memtable_add_host(s->mt, SPAN_GPA + 64, 64,
					       SPAN_UVA_B, s->hb), 0);
	s->as.mode = t->mode;
	s->as.mt = s->mt;
	s->base = SPAN_GPA;
	if (t->mode == VHK_AS_IOTLB) {
		assert_int_equal(vhk_iotlb_new(&s->tlb, 0), 0);
		s->as.iotlb = s->tlb;
		assert_int_equal(vhk_as_iotlb_update(&s->as, VHK_MOCK_IOVA_RING,
						     t->m.ring_size,
						     VHK_MOCK_UVA_RING,
						     VHK_PERM_RW), 0);
		assert_int_equal(vhk_as_iotlb_update(&s->as, SPAN_IOVA, 64,
						     SPAN_UVA_A, VHK_PERM_RW),
				 0);
		assert_int_equal(vhk_as_iotlb_update(&s->as, SPAN_IOVA + 64, 64,
						     SPAN_UVA_B, VHK_PERM_RW),
				 0);
		s->base = SPAN_IOVA;
	}
	t->as = &s->as;
}

static void span_fini(struct span *s)
{
	vhk_iotlb_free(s->tlb);
	vhk_memtable_free(s->mt);
	free(s->ha);
	free(s->hb);
}

static void test_unmapped(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		struct rd d[2];
		unsigned int n;

		if (vhk_test_modes[mi] != VHK_AS_IOTLB) {
			expect_broken(p, mi, 0, build_unmapped, -EFAULT);
			continue;
		}
		/*
		 * iotlb: an unmapped IOVA is a miss (-EAGAIN, the front-end
		 * is asked); an IOVA whose UVA left the memory table is a
		 * fault.
		 */
		rt_setup(&t, vhk_test_modes[mi], p, NUM, 0);
		memset(d, 0, sizeof(d));
		build_unmapped(&t, d, &n);
		rt_raw_chain(&t, d, n);
		assert_int_equal(rt_pop(&t), -EAGAIN);
		assert_false(vhk_vq_broken(t.vq));
		/* The queue records its own misses. */
		assert_true(vhk_iotlb_qmiss_oldest(vhk_vq_iotlb_cache(t.vq),
						   NULL, NULL) != 0);
		rt_fini(&t);

		struct span s;

		rt_init(&t, vhk_test_modes[mi], p, NUM, 0);
		span_init(&t, &s);
		rt_start(&t);
		d[0] = (struct rd){ s.base + 8, 16, 0, 0 };
		assert_int_equal(vhk_memtable_remove(s.mt, SPAN_GPA, 64,
						     SPAN_UVA_A), 0);
		rt_raw_chain(&t, d, 1);
		assert_int_equal(rt_pop(&t), -EFAULT);
		rt_assert_broken(&t);
		rt_fini(&t);
		span_fini(&s);
	}
}

/* Buffers spanning regions / IOTLB entries must work, split into iovecs. */
static void test_span_regions(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		struct span s;
		struct vhk_iter it;
		struct rd d[1];
		uint8_t buf[48];

		rt_init(&t, vhk_test_modes[mi], p, NUM, 0);
		span_init(&t, &s);
		rt_start(&t);
		for (int i = 0; i < 64; i++) {
			s.ha[i] = (uint8_t)i;
			s.hb[i] = (uint8_t)(64 + i);
		}
		/* readable [40, 88): 24 bytes in A, 24 in B */
		d[0] = (struct rd){ s.base + 40, 48, 0, 0 };
		rt_raw_chain(&t, d, 1);
		rt_pop_ok(&t);
		assert_int_equal(t.c.nread, 2);
		assert_int_equal(t.c.iov[0].iov_len, 24);
		assert_ptr_equal(t.c.iov[0].iov_base, s.ha + 40);
		assert_ptr_equal(t.c.iov[1].iov_base, s.hb);
		vhk_chain_reader(&t.c, &it);
		assert_int_equal(vhk_iter_read(&it, buf, 48), 48);
		for (int i = 0; i < 48; i++)
			assert_int_equal(buf[i], 40 + i);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 0), 0);
		vhk_vq_flush(t.vq);

		/* writable [60, 70): 4 bytes in A, 6 in B */
		d[0] = (struct rd){ s.base + 60, 10, W, 1 };
		rt_raw_chain(&t, d, 1);
		rt_pop_ok(&t);
		assert_int_equal(t.c.nwrite, 2);
		vhk_chain_writer(&t.c, &it);
		memset(buf, 0xee, sizeof(buf));
		assert_int_equal(vhk_iter_write(&it, buf, 48), 10);
		for (int i = 0; i < 64; i++) {
			assert_int_equal(s.ha[i], i >= 60 ? 0xee : i);
			assert_int_equal(s.hb[i], i < 6 ? 0xee : 64 + i);
		}
		assert_false(vhk_vq_broken(t.vq));
		rt_fini(&t);
		span_fini(&s);
	}
}

/* ---- avail index jumps, floods ----------------------------------------- */

static void test_avail_jump(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		size_t a;

		rt_setup(&t, vhk_test_modes[mi], p, NUM, 0);
		a = rt_buf(&t, 4);
		if (p) {
			/* Packed has no index: a descriptor whose AVAIL and
			 * USED bits are equal is not available, whatever its
			 * contents (VIRTIO 1.2, 2.8.1). */
			struct vhk_vring_packed_desc *r = t.rdesc;

			r[0].addr = vhk_le64_make(rt_addr(&t, a));
			r[0].len = vhk_le32_make(4);
			r[0].flags = vhk_le16_make(0x8080);
			assert_int_equal(rt_pop(&t), 0);
			assert_false(vhk_vq_pending(t.vq));
			assert_false(vhk_vq_broken(t.vq));
			rt_fini(&t);
			continue;
		}
		struct vhk_vring_desc *tab = t.rdesc;

		tab[0].addr = vhk_le64_make(rt_addr(&t, a));
		tab[0].len = vhk_le32_make(4);
		/* NUM entries at once is fine ... */
		rt_raw_set_avail_idx(&t, NUM);
		for (int i = 0; i < NUM; i++) {
			rt_pop_ok(&t);
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 0), 0);
		}
		assert_int_equal(rt_pop(&t), 0);
		vhk_vq_flush(t.vq);
		/* ... NUM + 1 more is a jump */
		rt_raw_set_avail_idx(&t, 2 * NUM + 1);
		assert_int_equal(rt_pop(&t), -EPROTO);
		rt_assert_broken(&t);
		rt_fini(&t);
	}
}

/*
 * A descriptor flood: the driver keeps the ring full.  Each pop walks at
 * most NUM descriptors, and at most NUM chains come out per publish before
 * the driver has to publish (and kick) again.
 */
static void test_flood(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		struct vhk_vq_stats st;
		size_t a;
		void *tok;
		uint32_t len;

		rt_setup(&t, vhk_test_modes[mi], p, NUM, 0);
		a = rt_buf(&t, 4);
		for (int round = 0; round < 5; round++) {
			struct vhk_drv_seg s = { rt_addr(&t, a), 4, true };
			int added = 0, popped = 0;

			while (vhk_drv_vq_add(t.dq, &s, 1, &t) == 0)
				added++;
			assert_int_equal(added, NUM);
			vhk_drv_vq_publish(t.dq);
			while (rt_pop(&t) == 1) {
				vhk_vq_get_stats(t.vq, &st);
				assert_true(st.last_pop_descs <= NUM);
				assert_int_equal(vhk_vq_push(t.vq, &t.c, 4), 0);
				popped++;
			}
			assert_int_equal(popped, NUM);
			vhk_vq_flush(t.vq);
			while (vhk_drv_vq_get_used(t.dq, &tok, &len) == 1)
				;
		}
		/* A chain as long as the ring is walked exactly once. */
		struct vhk_drv_seg seg[NUM];

		for (int i = 0; i < NUM; i++)
			seg[i] = (struct vhk_drv_seg){ rt_addr(&t, a), 4,
						       false };
		assert_int_equal(vhk_drv_vq_add(t.dq, seg, NUM, &t), 0);
		vhk_drv_vq_publish(t.dq);
		rt_pop_ok(&t);
		vhk_vq_get_stats(t.vq, &st);
		assert_int_equal(st.last_pop_descs, NUM);
		assert_int_equal(rt_pop(&t), 0);
		assert_false(vhk_vq_broken(t.vq));
		rt_fini(&t);
	}
}

/* ---- transient errors: nothing consumed, not broken -------------------- */

static void test_iov_cap(void **state)
{
	(void)state;
	FOR_ALL(p, mi) {
		struct rt t;
		struct rd d[3];
		uint32_t base;
		size_t a = 0;

		rt_setup(&t, vhk_test_modes[mi], p, NUM, 0);
		a = rt_buf(&t, 12);
		d[0] = (struct rd){ rt_addr(&t, a), 4, N, 1 };
		d[1] = (struct rd){ rt_addr(&t, a + 4), 4, N, 2 };
		d[2] = (struct rd){ rt_addr(&t, a + 8), 4, W, 7 };
		rt_raw_chain(&t, d, 3);
		base = vhk_vq_base(t.vq);
		t.c.iov_cap = 2;
		assert_int_equal(rt_pop(&t), -ENOBUFS);
		assert_false(vhk_vq_broken(t.vq));
		assert_int_equal(vhk_vq_base(t.vq), base);
		assert_int_equal(rt_pop(&t), -ENOBUFS);	/* still there */
		t.c.iov_cap = t.iov_cap;
		rt_pop_ok(&t);
		assert_int_equal(t.c.read_bytes, 8);
		assert_int_equal(t.c.write_bytes, 4);
		assert_int_equal(t.c.id, p ? 7 : 0);
		rt_fini(&t);
	}
}

/* IOTLB miss in the middle of a chain: -EAGAIN, retry after UPDATE. */
static void test_iotlb_miss_mid_chain(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		struct rd d[2];
		struct rt_tlb_save *sv = malloc(sizeof(*sv));
		uint32_t base;
		size_t a, b;

		rt_setup(&t, VHK_AS_IOTLB, p, NUM, 0);
		a = rt_buf(&t, 16);
		b = rt_buf(&t, 16);
		d[0] = (struct rd){ rt_addr(&t, a), 16, N, 1 };
		d[1] = (struct rd){ rt_addr(&t, b), 16, W, 3 };
		rt_raw_chain(&t, d, 2);
		rt_tlb_save(&t, rt_addr(&t, b), 16, sv);
		assert_int_equal(vhk_iotlb_invalidate(t.m.iotlb,
						      rt_addr(&t, b) + 5, 1),
				 0);
		base = vhk_vq_base(t.vq);
		assert_int_equal(rt_pop(&t), -EAGAIN);
		assert_false(vhk_vq_broken(t.vq));
		assert_int_equal(vhk_vq_base(t.vq), base);
		/* The queue records its own misses. */
		assert_true(vhk_iotlb_qmiss_oldest(vhk_vq_iotlb_cache(t.vq),
						   NULL, NULL) != 0);
		assert_int_equal(rt_pop(&t), -EAGAIN);
		rt_tlb_restore(&t, sv, VHK_PERM_RW);	/* the UPDATE */
		rt_pop_ok(&t);
		assert_int_equal(t.c.write_bytes, 16);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 16), 0);
		vhk_vq_flush(t.vq);
		assert_false(vhk_vq_broken(t.vq));
		free(sv);
		rt_fini(&t);
	}
}

/* Writing into a read-only IOTLB entry (and reading a write-only one). */
static void test_iotlb_permission(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) for (int rd_case = 0; rd_case < 2; rd_case++) {
		struct rt t;
		struct rd d[1];
		struct rt_tlb_save *sv = malloc(sizeof(*sv));
		size_t a;

		rt_setup(&t, VHK_AS_IOTLB, p, NUM, 0);
		a = rt_buf(&t, 16);
		d[0] = (struct rd){ rt_addr(&t, a), 16, rd_case ? 0 : W, 0 };
		rt_tlb_save(&t, rt_addr(&t, a), 16, sv);
		rt_tlb_restore(&t, sv, rd_case ? VHK_PERM_WO : VHK_PERM_RO);
		rt_raw_chain(&t, d, 1);
		assert_int_equal(rt_pop(&t), -EACCES);
		rt_assert_broken(&t);
		free(sv);
		rt_fini(&t);
	}
}

/* The ring itself invalidated: -EAGAIN until the UPDATE, then works. */
static void test_ring_invalidate(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		struct rd d[1];
		size_t a;

		rt_setup(&t, VHK_AS_IOTLB, p, NUM, 0);
		a = rt_buf(&t, 4);
		d[0] = (struct rd){ rt_addr(&t, a), 4, 0, 0 };
		rt_raw_chain(&t, d, 1);
		assert_int_equal(vhk_iotlb_invalidate(t.m.iotlb, t.m.ring_addr,
						      t.m.ring_size), 0);
		assert_int_equal(rt_pop(&t), -EAGAIN);
		assert_false(vhk_vq_broken(t.vq));
		assert_int_equal(vhk_as_iotlb_update(&t.m.as, t.m.ring_addr,
						     t.m.ring_size,
						     VHK_MOCK_UVA_RING,
						     VHK_PERM_RW), 0);
		rt_pop_ok(&t);
		rt_fini(&t);
	}
}

/*
 * A chain longer than 2^32 bytes in total (VIRTIO 1.2, 2.7.5.2).  Each
 * descriptor must translate, so the window is 3 GiB of reserved, never
 * touched, host address space in a memory table of its own.
 */
static void test_chain_over_4g(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		const uint64_t big = 3ull << 30, gpa = 0x1000000000ull;
		struct vhk_memtable *mt;
		struct vhk_as as;
		struct rt t;
		struct rd d[2];
		void *host;

		host = mmap(NULL, big, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		assert_true(host != MAP_FAILED);
		rt_init(&t, VHK_AS_GPA, p, NUM, 0);
		assert_int_equal(vhk_memtable_new(&mt, 4), 0);
		assert_int_equal(vhk_memtable_add_host(mt, VHK_MOCK_GPA_RING,
						       t.m.ring_size,
						       VHK_MOCK_UVA_RING,
						       t.m.ring_host), 0);
		assert_int_equal(vhk_memtable_add_host(mt, gpa, big,
						       0x500000000000ull, host),
				 0);
		memset(&as, 0, sizeof(as));
		as.mode = VHK_AS_GPA;
		as.mt = mt;
		t.as = &as;
		rt_start(&t);
		/* 2 x 2.5 GiB: each fine alone, 5 GiB together */
		d[0] = (struct rd){ gpa, 0xa0000000u, N, 1 };
		d[1] = (struct rd){ gpa, 0xa0000000u, W, 0 };
		rt_raw_chain(&t, d, 2);
		assert_int_equal(rt_pop(&t), -EPROTO);
		rt_assert_broken(&t);
		rt_fini(&t);
		vhk_memtable_free(mt);
		munmap(host, big);
	}
}

/* Ring addresses missing from the IOTLB at start: -EAGAIN, then remap. */
static void test_start_ring_miss(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		struct rd d[1];
		struct vhk_vq_params prm;
		size_t a;

		rt_init(&t, VHK_AS_IOTLB, p, NUM, 0);
		assert_int_equal(vhk_iotlb_invalidate(t.m.iotlb, t.m.ring_addr,
						      t.m.ring_size), 0);
		memset(&prm, 0, sizeof(prm));
		prm.num = NUM;
		prm.features = t.features;
		vhk_drv_vq_addrs(t.dq, &prm.addrs);
		prm.avail_base = p ? 0x8000 : 0;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EAGAIN);
		assert_true(vhk_vq_started(t.vq));
		/* The queue records its own misses. */
		assert_true(vhk_iotlb_qmiss_oldest(vhk_vq_iotlb_cache(t.vq),
						   NULL, NULL) != 0);
		assert_int_equal(rt_pop(&t), -EAGAIN);
		assert_int_equal(vhk_vq_remap(t.vq), -EAGAIN);
		assert_int_equal(vhk_as_iotlb_update(&t.m.as, t.m.ring_addr,
						     t.m.ring_size,
						     VHK_MOCK_UVA_RING,
						     VHK_PERM_RW), 0);
		assert_int_equal(vhk_vq_remap(t.vq), 0);
		a = rt_buf(&t, 4);
		d[0] = (struct rd){ rt_addr(&t, a), 4, 0, 0 };
		rt_raw_chain(&t, d, 1);
		rt_pop_ok(&t);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 0), 0);
		assert_true(vhk_vq_flush(t.vq));
		assert_false(vhk_vq_broken(t.vq));
		rt_fini(&t);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_direct),
		cmocka_unit_test(test_loop_indirect),
		cmocka_unit_test(test_next_out_of_range),
		cmocka_unit_test(test_nested_indirect),
		cmocka_unit_test(test_indirect_len),
		cmocka_unit_test(test_indirect_without_feature),
		cmocka_unit_test(test_indirect_with_next),
		cmocka_unit_test(test_zero_length),
		cmocka_unit_test(test_addr_len_overflow),
		cmocka_unit_test(test_readable_after_writable),
		cmocka_unit_test(test_unmapped),
		cmocka_unit_test(test_span_regions),
		cmocka_unit_test(test_avail_jump),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_iov_cap),
		cmocka_unit_test(test_iotlb_miss_mid_chain),
		cmocka_unit_test(test_iotlb_permission),
		cmocka_unit_test(test_ring_invalidate),
		cmocka_unit_test(test_chain_over_4g),
		cmocka_unit_test(test_start_ring_miss),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring hostile", tests);
}
