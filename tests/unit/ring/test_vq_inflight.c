/* SPDX-License-Identifier: MIT */
/*
 * test_vq_inflight.c - vhost-user inflight I/O tracking: a back-end that
 * restarts (a new queue object on the same rings and the same shared
 * region) resubmits exactly the chains it had popped and not completed,
 * oldest first, and nothing that was already used.
 */
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define NUM 8

/* The split queue region, as the vhost-user spec lays it out. */
struct desc_state {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct region {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct desc_state desc[];
};

static void restart(struct rt *t, void *reg, size_t sz, uint16_t avail_base)
{
	struct vhk_vq_params p;

	vhk_vq_free(t->vq);	/* the old back-end dies */
	assert_int_equal(vhk_vq_new(&t->vq), 0);
	assert_int_equal(vhk_vq_set_inflight(t->vq, reg, sz), 0);
	memset(&p, 0, sizeof(p));
	p.num = NUM;
	p.features = t->features;
	vhk_drv_vq_addrs(t->dq, &p.addrs);
	p.avail_base = avail_base;
	assert_int_equal(vhk_vq_start(t->vq, t->as, &p), 0);
}

static void test_inflight_resubmit(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) {
		struct rt t;
		size_t sz = vhk_vq_inflight_size(NUM, false);
		struct region *reg = aligned_alloc(64, sz);
		struct vhk_chain ch[4];
		uint16_t head[4];
		int tok[4];
		size_t b;
		void *tk;
		uint32_t len;

		assert_true(sz >= sizeof(*reg) + NUM * sizeof(reg->desc[0]));
		memset(reg, 0, sz);
		rt_init(&t, vhk_test_modes[mi], false, NUM, 0);
		assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
		rt_start(&t);
		assert_int_equal(reg->version, 1);
		assert_int_equal(reg->desc_num, NUM);

		b = rt_buf(&t, 16);
		for (int i = 0; i < 4; i++) {
			struct vhk_drv_seg s = { rt_addr(&t, b), 16, true };

			tok[i] = i;
			assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &tok[i]),
					 0);
		}
		vhk_drv_vq_publish(t.dq);
		for (int i = 0; i < 4; i++) {
			rt_pop_ok(&t);
			ch[i] = t.c;
			head[i] = t.c.id;
			assert_int_equal(reg->desc[head[i]].inflight, 1);
			if (i)
				assert_true(reg->desc[head[i]].counter >
					    reg->desc[head[i - 1]].counter);
		}
		/* Complete 1 and 2; 0 and 3 stay in flight. */
		assert_int_equal(vhk_vq_push(t.vq, &ch[2], 2), 0);
		assert_int_equal(vhk_vq_push(t.vq, &ch[1], 1), 0);
		vhk_vq_flush(t.vq);
		assert_int_equal(reg->desc[head[1]].inflight, 0);
		assert_int_equal(reg->desc[head[2]].inflight, 0);
		assert_int_equal(reg->used_idx, 2);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[2]);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[1]);

		/* Crash; the front-end restarts us from the used index. */
		restart(&t, reg, sz, 2);
		rt_pop_ok(&t);
		assert_int_equal(t.c.id, head[0]);	/* oldest first */
		assert_int_equal(t.c.write_bytes, 16);
		ch[0] = t.c;
		rt_pop_ok(&t);
		assert_int_equal(t.c.id, head[3]);
		ch[3] = t.c;
		assert_int_equal(rt_pop(&t), 0);	/* nothing else */
		assert_int_equal(vhk_vq_base(t.vq), 4);
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
		struct vhk_drv_seg s = { rt_addr(&t, b), 16, true };

		assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &tok[1]), 0);
		vhk_drv_vq_publish(t.dq);
		rt_pop_ok(&t);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 5), 0);
		vhk_vq_flush(t.vq);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[1]);
		rt_fini(&t);
		free(reg);
	}
}

/*
 * The back-end died after publishing used->idx but before clearing the
 * batch's inflight flags: the batch list rolls them back, so those chains
 * are not run twice.
 */
static void test_inflight_half_batch(void **state)
{
	(void)state;
	struct rt t;
	size_t sz = vhk_vq_inflight_size(NUM, false);
	struct region *reg = aligned_alloc(64, sz);
	uint16_t head[3];
	size_t b;
	void *tk;
	uint32_t len;

	memset(reg, 0, sz);
	rt_init(&t, VHK_AS_GPA, false, NUM, 0);
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
		head[i] = t.c.id;
		if (i < 2)
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 8), 0);
	}
	vhk_vq_flush(t.vq);
	assert_int_equal(reg->used_idx, 2);
	/* Undo the last two steps of the flush, as if we crashed there. */
	reg->desc[head[0]].inflight = 1;
	reg->desc[head[1]].inflight = 1;
	reg->used_idx = 0;

	restart(&t, reg, sz, 2);
	rt_pop_ok(&t);
	assert_int_equal(t.c.id, head[2]);	/* only the unfinished one */
	assert_int_equal(rt_pop(&t), 0);
	assert_int_equal(reg->used_idx, 2);
	assert_int_equal(reg->desc[head[0]].inflight, 0);
	assert_int_equal(reg->desc[head[1]].inflight, 0);
	assert_int_equal(vhk_vq_push(t.vq, &t.c, 1), 0);
	vhk_vq_flush(t.vq);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tk, &len), 1);
	rt_fini(&t);
	free(reg);
}

/* A hostile region (front-end memory): wrong size, version, entries. */
static void test_inflight_bad_region(void **state)
{
	(void)state;
	struct rt t;
	size_t sz = vhk_vq_inflight_size(NUM, false);
	struct region *reg = aligned_alloc(64, sz);
	struct vhk_vq_params p;

	memset(reg, 0, sz);
	rt_init(&t, VHK_AS_GPA, false, NUM, 0);
	memset(&p, 0, sizeof(p));
	p.num = NUM;
	p.features = t.features;
	vhk_drv_vq_addrs(t.dq, &p.addrs);
	/* too small for the queue */
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, 64), 0);
	assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &p), -EINVAL);
	/* wrong version */
	reg->version = 7;
	reg->desc_num = NUM;
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
	assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &p), -EINVAL);
	/* a batch list that points anywhere is bounded and ignored */
	reg->version = 1;
	reg->used_idx = 0x8000;	/* used->idx is 0: a huge batch */
	reg->last_batch_head = 0xffff;
	for (int i = 0; i < NUM; i++) {
		reg->desc[i].next = (uint16_t)(i * 4001);
		reg->desc[i].inflight = 0;
	}
	assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &p), 0);
	assert_int_equal(rt_pop(&t), 0);
	assert_false(vhk_vq_broken(t.vq));
	rt_fini(&t);
	free(reg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inflight_resubmit),
		cmocka_unit_test(test_inflight_half_batch),
		cmocka_unit_test(test_inflight_bad_region),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring inflight", tests);
}
