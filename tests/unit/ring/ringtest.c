/* SPDX-License-Identifier: MIT */
/* ringtest.c - fixture for device-side ring tests (see ringtest.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define F_AVAIL	(1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VHK_VRING_PACKED_DESC_F_USED)

void rt_init(struct rt *t, enum vhk_as_mode mode, bool packed, uint16_t num,
	     uint64_t features)
{
	size_t rb;
	int r;

	memset(t, 0, sizeof(*t));
	t->mode = mode;
	t->packed = packed;
	t->num = num;
	t->features = features;
	vhk_set_feature(&t->features, VHK_F_VERSION_1);
	if (packed)
		vhk_set_feature(&t->features, VHK_F_RING_PACKED);
	if (mode != VHK_AS_GPA)
		vhk_set_feature(&t->features, VHK_F_ACCESS_PLATFORM);
	rb = vhk_drv_vq_mem_size(packed, num);
	assert_true(rb > 0);
	rb = (rb + 4095) & ~(size_t)4095;
	t->ring_bytes = rb;
	t->table_next = rb;
	vhk_test_mockmem(&t->m, mode, rb + RT_RING_EXTRA, RT_BUF_SIZE);
	r = vhk_drv_vq_new(&t->dq, num, t->features, t->m.ring_host,
			   t->m.ring_addr);
	assert_int_equal(r, 0);
	vhk_drv_vq_raw(t->dq, &t->rdesc, &t->rdriver, &t->rdevice);
	assert_int_equal(vhk_vq_new(&t->vq), 0);
	/* Every byte maps separately in the fragmented run. */
	t->iov_cap = 1u << 16;
	t->iov = calloc(t->iov_cap, sizeof(*t->iov));
	assert_non_null(t->iov);
	t->c.iov = t->iov;
	t->c.iov_cap = t->iov_cap;
	t->raw_wrap = true;
	t->as = &t->m.as;
	/* Everything in the buffer area is off limits until handed out. */
	vhk_mockmem_guard(&t->m, 0, RT_BUF_SIZE);
}

void rt_start(struct rt *t)
{
	struct vhk_vq_params p;

	memset(&p, 0, sizeof(p));
	p.num = t->num;
	p.features = t->features;
	vhk_drv_vq_addrs(t->dq, &p.addrs);
	/* Packed rings start with both wrap counters at 1 (2.8.1). */
	p.avail_base = t->packed ? 0x8000 : 0;
	p.max_iov = t->iov_cap;
	p.name = t->packed ? "test packed" : "test split";
	assert_int_equal(vhk_vq_start(t->vq, t->as, &p), 0);
	assert_true(vhk_vq_started(t->vq));
}

void rt_setup(struct rt *t, enum vhk_as_mode mode, bool packed, uint16_t num,
	      uint64_t features)
{
	rt_init(t, mode, packed, num, features);
	rt_start(t);
}

void rt_fini(struct rt *t)
{
	bool ok = vhk_mockmem_canaries_intact(&t->m);

	vhk_vq_free(t->vq);
	vhk_drv_vq_free(t->dq);
	vhk_mockmem_fini(&t->m);
	free(t->iov);
	assert_true(ok);
}

size_t rt_buf(struct rt *t, size_t len)
{
	size_t off = t->buf_next;

	assert_true(off + len + RT_GAP <= RT_BUF_SIZE);
	vhk_mockmem_unguard(&t->m, off, len);
	t->buf_next += len + RT_GAP;
	return off;
}

uint64_t rt_addr(const struct rt *t, size_t off)
{
	return vhk_mockmem_buf_addr(&t->m, off);
}

void *rt_table(struct rt *t, size_t len, uint64_t *addr)
{
	size_t off = (t->table_next + 15) & ~(size_t)15;

	assert_true(off + len <= t->ring_bytes + RT_RING_EXTRA);
	t->table_next = off + len;
	*addr = vhk_mockmem_ring_buf_addr(&t->m, off);
	return t->m.ring_host + off;
}

int rt_pop(struct rt *t)
{
	t->c.iov = t->iov;
	if (!t->c.iov_cap)
		t->c.iov_cap = t->iov_cap;
	return vhk_vq_pop(t->vq, &t->c);
}

void rt_pop_ok(struct rt *t)
{
	assert_int_equal(rt_pop(t), 1);
}

static void store16_release(vhk_le16 *p, uint16_t v)
{
	atomic_store_explicit((_Atomic uint16_t *)&p->v, vhk_le16_make(v).v,
			      memory_order_release);
}

void rt_raw_publish_head(struct rt *t, uint16_t head)
{
	struct vhk_vring_avail *a = t->rdriver;

	a->ring[t->raw_idx & (t->num - 1)] = vhk_le16_make(head);
	t->raw_idx++;
	store16_release(&a->idx, t->raw_idx);
}

void rt_raw_set_avail_idx(struct rt *t, uint16_t idx)
{
	struct vhk_vring_avail *a = t->rdriver;

	t->raw_idx = idx;
	store16_release(&a->idx, idx);
}

void rt_raw_chain(struct rt *t, const struct rd *d, unsigned int n)
{
	if (!t->packed) {
		struct vhk_vring_desc *tab = t->rdesc;

		for (unsigned int i = 0; i < n; i++) {
			tab[i].addr = vhk_le64_make(d[i].addr);
			tab[i].len = vhk_le32_make(d[i].len);
			tab[i].flags = vhk_le16_make(d[i].flags);
			tab[i].next = vhk_le16_make(d[i].next);
		}
		rt_raw_publish_head(t, 0);
		return;
	}
	struct vhk_vring_packed_desc *ring = t->rdesc;
	uint16_t first = t->raw_idx, first_flags = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t s = t->raw_idx;
		uint16_t f = d[i].flags & ~(F_AVAIL | F_USED);

		f |= t->raw_wrap ? F_AVAIL : F_USED;
		ring[s].addr = vhk_le64_make(d[i].addr);
		ring[s].len = vhk_le32_make(d[i].len);
		ring[s].id = vhk_le16_make(d[i].next);
		if (i == 0)
			first_flags = f;
		else
			ring[s].flags = vhk_le16_make(f);
		if (++t->raw_idx == t->num) {
			t->raw_idx = 0;
			t->raw_wrap = !t->raw_wrap;
		}
	}
	store16_release(&ring[first].flags, first_flags);
}

uint64_t rt_raw_table(struct rt *t, const struct rd *d, unsigned int n)
{
	size_t off = rt_buf(t, 16 * (size_t)n);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t b[16];

		if (!t->packed) {
			struct vhk_vring_desc e = {
				vhk_le64_make(d[i].addr), vhk_le32_make(d[i].len),
				vhk_le16_make(d[i].flags),
				vhk_le16_make(d[i].next),
			};
			memcpy(b, &e, 16);
		} else {
			struct vhk_vring_packed_desc e = {
				vhk_le64_make(d[i].addr), vhk_le32_make(d[i].len),
				vhk_le16_make(d[i].next),
				vhk_le16_make(d[i].flags),
			};
			memcpy(b, &e, 16);
		}
		vhk_mockmem_write(&t->m, off + 16 * i, b, 16);
	}
	return rt_addr(t, off);
}

void rt_assert_broken(struct rt *t)
{
	assert_true(vhk_vq_broken(t->vq));
	assert_int_equal(rt_pop(t), -EIO);
	assert_int_equal(vhk_vq_push(t->vq, &t->c, 0), -EIO);
	assert_false(vhk_vq_flush(t->vq));
}

void rt_tlb_save(struct rt *t, uint64_t iova, uint64_t len,
		 struct rt_tlb_save *s)
{
	s->n = 0;
	while (len) {
		uint64_t l = len, uva;

		assert_true(s->n < VHK_ARRAY_SIZE(s->e));
		assert_int_equal(vhk_iotlb_lookup(t->m.iotlb, iova, VHK_PERM_RO,
						  &uva, &l, NULL), 0);
		s->e[s->n].iova = iova;
		s->e[s->n].len = l;
		s->e[s->n].uva = uva;
		s->e[s->n].perm = VHK_PERM_RW;
		s->n++;
		iova += l;
		len -= l;
	}
}

void rt_tlb_restore(struct rt *t, const struct rt_tlb_save *s,
		    uint8_t perm_mask)
{
	for (unsigned int i = 0; i < s->n; i++)
		assert_int_equal(vhk_as_iotlb_update(&t->m.as, s->e[i].iova,
						     s->e[i].len, s->e[i].uva,
						     s->e[i].perm & perm_mask),
				 0);
}
