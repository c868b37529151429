/* SPDX-License-Identifier: MIT */
/*
 * test_vq_inflight_packed.c - vhost-user inflight I/O tracking on packed
 * rings: a back-end that dies (a new queue object on the same rings and
 * region, given a stale SET_VRING_BASE) resubmits exactly the buffers it
 * had popped and not completed, in pop order, resumes popping where it
 * stopped, and a publish cut short is committed or rolled back as the
 * ring shows.  A region the front-end scribbled on is refused, never
 * followed out of bounds.
 */
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define NUM	16
#define F_AVAIL	(1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VHK_VRING_PACKED_DESC_F_USED)

/* The packed queue region, as the vhost-user spec lays it out. */
struct pdesc {
	uint8_t inflight;
	uint8_t padding;
	uint16_t next;
	uint16_t last;
	uint16_t num;
	uint64_t counter;
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct pregion {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct pdesc desc[];
};

/* Start a new back-end on the same rings and region.  @base is what a
 * front-end that lost track would send: the region must win. */
static int restart(struct rt *t, void *reg, size_t sz, uint16_t base)
{
	struct vhk_vq_params p;

	vhk_vq_free(t->vq);
	assert_int_equal(vhk_vq_new(&t->vq), 0);
	assert_int_equal(vhk_vq_set_inflight(t->vq, reg, sz), 0);
	memset(&p, 0, sizeof(p));
	p.num = NUM;
	p.features = t->features;
	vhk_drv_vq_addrs(t->dq, &p.addrs);
	p.avail_base = base;
	p.max_iov = t->iov_cap;
	return vhk_vq_start(t->vq, t->as, &p);
}

/* ---- randomized: any interleaving, any crash point -------------------- */

struct vhk_rand {
	uint64_t s;
};

static void vhk_rand_seed(struct vhk_rand *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 1;
}

/* xorshift64: deterministic, so a failure replays. */
static unsigned int vhk_rand_below(struct vhk_rand *r, unsigned int n)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return n ? (unsigned int)(r->s % n) : 0;
}

struct rec {
	uint64_t seq;
	unsigned int slot;
};

struct sim {
	struct rt t;
	struct pregion *reg;
	size_t sz;
	size_t slot_off[NUM];	/* per slot: 8 readable + 32 writable */
	bool slot_busy[NUM];
	struct rec recs[NUM];
	uint64_t next_seq;
	/* device side: popped and not published, in pop order */
	struct vhk_chain held[NUM];
	struct iovec held_iov[NUM][64];
	uint64_t held_seq[NUM];
	bool pushed[NUM];	/* pushed, waiting for the flush */
	unsigned int nheld;
	uint8_t *done;		/* completions per seq */
	size_t ndone_cap;
};

static uint64_t chain_seq(const struct vhk_chain *c)
{
	struct vhk_iter it;
	uint64_t seq = 0;

	vhk_chain_reader(c, &it);
	assert_int_equal(vhk_iter_read(&it, &seq, 8), 8);
	return seq;
}

static void sim_add(struct sim *s, struct vhk_rand *rng)
{
	unsigned int slot, nw = 1 + vhk_rand_below(rng, 3), i;
	struct vhk_drv_seg seg[4];

	for (slot = 0; slot < NUM && s->slot_busy[slot]; slot++)
		;
	if (slot == NUM || vhk_drv_vq_num_free(s->t.dq) < 1 + nw)
		return;
	assert_true(s->next_seq < s->ndone_cap);
	vhk_mockmem_write(&s->t.m, s->slot_off[slot], &s->next_seq, 8);
	seg[0] = (struct vhk_drv_seg){ rt_addr(&s->t, s->slot_off[slot]), 8,
				       false };
	for (i = 0; i < nw; i++)
		seg[1 + i] = (struct vhk_drv_seg){
			rt_addr(&s->t, s->slot_off[slot] + 8 + 8 * i), 8,
			true };
	s->recs[slot].seq = s->next_seq++;
	s->recs[slot].slot = slot;
	assert_int_equal(vhk_drv_vq_add(s->t.dq, seg, 1 + nw,
					&s->recs[slot]), 0);
	s->slot_busy[slot] = true;
}

/* Pop one into the held list; returns what pop returned. */
static int sim_pop(struct sim *s)
{
	struct vhk_chain *c = &s->held[s->nheld];
	int r;

	assert_true(s->nheld < NUM);
	c->iov = s->held_iov[s->nheld];
	c->iov_cap = 64;
	r = vhk_vq_pop(s->t.vq, c);
	assert_true(r >= 0);
	if (r == 0)
		return 0;
	s->held_seq[s->nheld] = chain_seq(c);
	s->pushed[s->nheld] = false;
	s->nheld++;
	return 1;
}

static void sim_push(struct sim *s, struct vhk_rand *rng)
{
	unsigned int k = vhk_rand_below(rng, s->nheld);

	if (s->pushed[k])
		return;
	assert_int_equal(vhk_vq_push(s->t.vq, &s->held[k], 4), 0);
	s->pushed[k] = true;
}

/* Flush: every pushed buffer is published; the rest stay, in order. */
static void sim_flush(struct sim *s)
{
	unsigned int j = 0;

	vhk_vq_flush(s->t.vq);
	for (unsigned int i = 0; i < s->nheld; i++) {
		if (s->pushed[i])
			continue;
		if (i != j) {
			s->held[j] = s->held[i];
			memcpy(s->held_iov[j], s->held_iov[i],
			       sizeof(s->held_iov[j]));
			s->held[j].iov = s->held_iov[j];
			s->held_seq[j] = s->held_seq[i];
			s->pushed[j] = false;
		}
		j++;
	}
	s->nheld = j;
}

static void sim_collect(struct sim *s)
{
	void *tk;
	uint32_t len;
	int r;

	while ((r = vhk_drv_vq_get_used(s->t.dq, &tk, &len)) == 1) {
		struct rec *rc = tk;

		s->done[rc->seq]++;
		s->slot_busy[rc->slot] = false;
	}
	assert_int_equal(r, 0);
}

/* The back-end dies: every buffer popped and not published comes back
 * (pushed-but-unflushed ones too: the driver never saw them), in pop
 * order. */
static void sim_crash(struct sim *s, struct vhk_rand *rng)
{
	uint64_t want[NUM];
	unsigned int n = s->nheld;

	memcpy(want, s->held_seq, sizeof(want[0]) * n);
	/* A stale base: the front-end's last known value, or garbage. */
	assert_int_equal(restart(&s->t, s->reg, s->sz,
				 vhk_rand_below(rng, 2) ? 0x8000 :
				 (uint16_t)vhk_rand_below(rng, NUM)), 0);
	s->nheld = 0;
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(sim_pop(s), 1);
		assert_int_equal(s->held_seq[i], want[i]);
	}
}

static void test_random_crashes(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) {
		struct sim *s = calloc(1, sizeof(*s));
		struct vhk_rand rng;
		unsigned int crashes = 0;

		assert_non_null(s);
		vhk_rand_seed(&rng, 0x9ac4ed + mi);
		s->ndone_cap = 1u << 16;
		s->done = calloc(s->ndone_cap, 1);
		s->sz = vhk_vq_inflight_size(NUM, true);
		s->reg = aligned_alloc(64, s->sz);
		assert_non_null(s->reg);
		memset(s->reg, 0, s->sz);
		rt_init(&s->t, vhk_test_modes[mi], true, NUM, 0);
		for (unsigned int i = 0; i < NUM; i++)
			s->slot_off[i] = rt_buf(&s->t, 40);
		assert_int_equal(vhk_vq_set_inflight(s->t.vq, s->reg, s->sz),
				 0);
		rt_start(&s->t);
		for (unsigned int step = 0; step < 6000; step++) {
			switch (vhk_rand_below(&rng, 8)) {
			case 0: case 1:
				sim_add(s, &rng);
				vhk_drv_vq_publish(s->t.dq);
				break;
			case 2: case 3:
				sim_pop(s);
				break;
			case 4: case 5:
				if (s->nheld)
					sim_push(s, &rng);
				break;
			case 6:
				sim_flush(s);
				sim_collect(s);
				break;
			default:
				if (vhk_rand_below(&rng, 8) == 0) {
					sim_crash(s, &rng);
					crashes++;
				}
				break;
			}
		}
		/* Drain: everything completes exactly once. */
		while (s->nheld || sim_pop(s)) {
			while (sim_pop(s))
				;
			for (unsigned int i = 0; i < s->nheld; i++)
				if (!s->pushed[i])
					assert_int_equal(vhk_vq_push(s->t.vq,
						&s->held[i], 4), 0);
			for (unsigned int i = 0; i < s->nheld; i++)
				s->pushed[i] = true;
			sim_flush(s);
			sim_collect(s);
		}
		assert_true(crashes > 20);
		assert_true(s->next_seq > 500);
		for (uint64_t q = 0; q < s->next_seq; q++)
			if (s->done[q] != 1)
				fail_msg("seq %llu completed %u times",
					 (unsigned long long)q, s->done[q]);
		assert_false(vhk_vq_broken(s->t.vq));
		rt_fini(&s->t);
		free(s->reg);
		free(s->done);
		free(s);
	}
}

/* ---- fixed cases ------------------------------------------------------- */

static struct pregion *new_region(size_t *sz)
{
	struct pregion *reg;

	*sz = vhk_vq_inflight_size(NUM, true);
	assert_true(*sz >= sizeof(*reg) + NUM * sizeof(reg->desc[0]));
	reg = aligned_alloc(64, *sz);
	assert_non_null(reg);
	memset(reg, 0, *sz);
	return reg;
}

/* Two-descriptor buffers; 0 and 3 stay in flight; oldest first after. */
static void test_resubmit_order(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) {
		struct rt t;
		size_t sz;
		struct pregion *reg = new_region(&sz);
		struct vhk_chain ch[4];
		uint16_t id[4];
		int tok[5];
		size_t b;
		void *tk;
		uint32_t len;

		rt_init(&t, vhk_test_modes[mi], true, NUM, 0);
		assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
		rt_start(&t);
		assert_int_equal(reg->version, 1);
		assert_int_equal(reg->desc_num, NUM);
		assert_int_equal(reg->used_wrap_counter, 1);

		b = rt_buf(&t, 32);
		for (int i = 0; i < 4; i++) {
			struct vhk_drv_seg s[2] = {
				{ rt_addr(&t, b), 8, false },
				{ rt_addr(&t, b + 8), 8 + i, true },
			};

			tok[i] = i;
			assert_int_equal(vhk_drv_vq_add(t.dq, s, 2, &tok[i]),
					 0);
		}
		vhk_drv_vq_publish(t.dq);
		for (int i = 0; i < 4; i++) {
			rt_pop_ok(&t);
			ch[i] = t.c;
			id[i] = t.c.id;
			assert_int_equal(t.c.ndesc, 2);
		}
		/* Each buffer took two entries; the head knows its list. */
		assert_int_equal(reg->free_head, 8);
		assert_int_equal(reg->old_free_head, 8);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(reg->desc[2 * i].inflight, 1);
			assert_int_equal(reg->desc[2 * i].num, 2);
			assert_int_equal(reg->desc[2 * i].last, 2 * i + 1);
			assert_int_equal(reg->desc[2 * i + 1].id, id[i]);
			assert_int_equal(reg->desc[2 * i + 1].len, 8 + i);
			if (i)
				assert_true(reg->desc[2 * i].counter >
					    reg->desc[2 * i - 2].counter);
		}
		assert_int_equal(vhk_vq_push(t.vq, &ch[2], 2), 0);
		assert_int_equal(vhk_vq_push(t.vq, &ch[1], 1), 0);
		vhk_vq_flush(t.vq);
		assert_int_equal(reg->desc[2].inflight, 0);
		assert_int_equal(reg->desc[4].inflight, 0);
		assert_int_equal(reg->used_idx, 4);
		assert_int_equal(reg->old_used_idx, 4);
		assert_int_equal(reg->free_head, 2);	/* 1 freed last */
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[2]);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[1]);

		/* Crash; the front-end's base is stale (fresh ring). */
		assert_int_equal(restart(&t, reg, sz, 0x8000), 0);
		rt_pop_ok(&t);
		assert_int_equal(t.c.id, id[0]);	/* oldest first */
		assert_int_equal(t.c.write_bytes, 8);
		assert_int_equal(t.c.ndesc, 2);
		ch[0] = t.c;
		rt_pop_ok(&t);
		assert_int_equal(t.c.id, id[3]);
		assert_int_equal(t.c.write_bytes, 11);
		ch[3] = t.c;
		assert_int_equal(rt_pop(&t), 0);	/* nothing else */
		/* avail after the 8 slots popped; used after the 4 used */
		assert_int_equal(vhk_vq_base(t.vq), 8u | 0x8000u |
						    (4u | 0x8000u) << 16);
		assert_int_equal(vhk_vq_push(t.vq, &ch[3], 3), 0);
		assert_int_equal(vhk_vq_push(t.vq, &ch[0], 4), 0);
		vhk_vq_flush(t.vq);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[3]);
		assert_int_equal(len, 3);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[0]);
		assert_int_equal(len, 4);
		for (int i = 0; i < NUM; i++)
			assert_int_equal(reg->desc[i].inflight, 0);

		/* New work flows normally after the resubmission. */
		struct vhk_drv_seg s = { rt_addr(&t, b + 8), 16, true };

		assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &tok[4]), 0);
		vhk_drv_vq_publish(t.dq);
		rt_pop_ok(&t);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 5), 0);
		vhk_vq_flush(t.vq);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[4]);
		assert_false(vhk_vq_broken(t.vq));
		rt_fini(&t);
		free(reg);
	}
}

/*
 * A publish cut short.  Before the ring's used flags: rolled back, the
 * buffers are redone.  After them: committed, they are not.
 */
static void half_publish(bool ring_written)
{
	struct rt t;
	size_t sz;
	struct pregion *reg = new_region(&sz), *snap = malloc(sz);
	struct vhk_vring_packed_desc *ring = t.rdesc, slot0;
	uint16_t id[3];
	size_t b;
	void *tk;
	uint32_t len;
	int n = 0;

	rt_init(&t, VHK_AS_GPA, true, NUM, 0);
	ring = t.rdesc;
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
	rt_start(&t);
	b = rt_buf(&t, 8);
	for (int i = 0; i < 3; i++) {
		struct vhk_drv_seg s = { rt_addr(&t, b), 8, true };

		assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &t), 0);
	}
	vhk_drv_vq_publish(t.dq);
	for (int i = 0; i < 3; i++) {
		rt_pop_ok(&t);
		id[i] = t.c.id;
		if (i < 2)
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 8), 0);
	}
	memcpy(snap, reg, sz);
	slot0 = ring[0];
	vhk_vq_flush(t.vq);
	assert_int_equal(reg->used_idx, 2);
	if (ring_written) {
		/* Died after the flags: steps 7-8 undone. */
		reg->desc[0].inflight = 1;
		reg->desc[1].inflight = 1;
		reg->old_used_idx = snap->old_used_idx;
		reg->old_free_head = snap->old_free_head;
	} else {
		/* Died before the flags: the free list and used position
		 * were updated, the ring was not. */
		uint16_t fh = reg->free_head, ui = reg->used_idx;

		memcpy(reg, snap, sz);
		reg->free_head = fh;
		reg->used_idx = ui;
		ring[0] = slot0;
		ring[1].flags = slot0.flags;
	}
	assert_int_equal(restart(&t, reg, sz, 0x8000), 0);
	while (rt_pop(&t) == 1) {
		if (ring_written)
			assert_int_equal(t.c.id, id[2]);
		else
			assert_int_equal(t.c.id, id[n]);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 8), 0);
		n++;
	}
	assert_int_equal(n, ring_written ? 1 : 3);
	vhk_vq_flush(t.vq);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
	assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 0);
	assert_false(vhk_vq_broken(t.vq));
	rt_fini(&t);
	free(reg);
	free(snap);
}

static void test_half_publish_committed(void **state)
{
	(void)state;
	half_publish(true);
}

static void test_half_publish_rolled_back(void **state)
{
	(void)state;
	half_publish(false);
}

/* Died in the middle of a pop: the half-recorded list is dropped and the
 * buffer popped again from the ring. */
static void test_half_pop(void **state)
{
	(void)state;
	struct rt t;
	size_t sz;
	struct pregion *reg = new_region(&sz);
	size_t b;
	uint16_t id0;

	rt_init(&t, VHK_AS_GPA, true, NUM, 0);
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
	rt_start(&t);
	b = rt_buf(&t, 8);
	struct vhk_drv_seg s = { rt_addr(&t, b), 8, true };

	assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &t), 0);
	vhk_drv_vq_publish(t.dq);
	rt_pop_ok(&t);
	id0 = t.c.id;
	reg->old_free_head = 0;		/* the commit never happened */
	assert_int_equal(restart(&t, reg, sz, 0x8000), 0);
	assert_int_equal(reg->desc[0].inflight, 0);
	rt_pop_ok(&t);
	assert_int_equal(t.c.id, id0);
	struct vhk_vq_stats st;

	vhk_vq_get_stats(t.vq, &st);
	assert_int_equal(st.resubmitted, 0);
	assert_int_equal(rt_pop(&t), 0);
	rt_fini(&t);
	free(reg);
}

/* A region the front-end wrote: refused or bounded, never followed. */
static void test_bad_region(void **state)
{
	(void)state;
	struct rt t;
	size_t sz;
	struct pregion *reg = new_region(&sz);

	rt_init(&t, VHK_AS_GPA, true, NUM, 0);
	/* too small */
	assert_int_equal(restart(&t, reg, 64, 0x8000), -EINVAL);
	/* wrong version / size */
	reg->version = 9;
	reg->desc_num = NUM;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	reg->version = 1;
	reg->desc_num = NUM + 1;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	reg->desc_num = NUM;
	/* used index out of range */
	reg->used_idx = reg->old_used_idx = 0x7fff;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	reg->used_idx = reg->old_used_idx = 0;
	/* a list longer than the ring */
	reg->free_head = reg->old_free_head = NUM;
	for (int i = 0; i < NUM; i++)
		reg->desc[i].next = (uint16_t)(i + 1);
	reg->desc[0].inflight = 1;
	reg->desc[0].num = NUM + 1;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	/* a list that leaves the table */
	reg->desc[0].num = 3;
	reg->desc[1].next = 0xfff0;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	/* two lists sharing entries */
	reg->desc[1].next = 2;
	reg->desc[3].inflight = 1;
	reg->desc[3].num = 2;
	reg->desc[3].next = 1;
	assert_int_equal(restart(&t, reg, sz, 0x8000), -EINVAL);
	/* a free list with a cycle is rebuilt; the saved descriptor is
	 * validated like a ring one (a zero length is refused) */
	reg->desc[3].inflight = 0;
	reg->desc[0].num = 1;
	reg->desc[0].len = 0;
	reg->desc[0].flags = 0;
	reg->free_head = reg->old_free_head = 5;
	reg->desc[5].next = 6;
	reg->desc[6].next = 5;
	assert_int_equal(restart(&t, reg, sz, 0x8000), 0);
	assert_int_equal(rt_pop(&t), -EPROTO);
	assert_true(vhk_vq_broken(t.vq));
	rt_fini(&t);
	free(reg);
}

/* Two buffers in flight with one id cannot be told apart. */
static void test_duplicate_id(void **state)
{
	(void)state;
	struct rt t;
	size_t sz;
	struct pregion *reg = new_region(&sz);
	size_t b;

	rt_init(&t, VHK_AS_GPA, true, NUM, 0);
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
	rt_start(&t);
	b = rt_buf(&t, 8);
	struct rd d = { rt_addr(&t, b), 8, VHK_VRING_DESC_F_WRITE, 3 };

	rt_raw_chain(&t, &d, 1);
	rt_raw_chain(&t, &d, 1);
	rt_pop_ok(&t);
	assert_int_equal(rt_pop(&t), -EPROTO);
	rt_assert_broken(&t);
	rt_fini(&t);
	free(reg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resubmit_order),
		cmocka_unit_test(test_half_publish_committed),
		cmocka_unit_test(test_half_publish_rolled_back),
		cmocka_unit_test(test_half_pop),
		cmocka_unit_test(test_bad_region),
		cmocka_unit_test(test_duplicate_id),
		cmocka_unit_test(test_random_crashes),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring inflight packed", tests);
}
