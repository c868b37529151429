// SPDX-License-Identifier: MIT
/*
 * test_vq_unpop.c - vhk_vq_unpop(): chains popped and given back come out
 * of the next pops again, unchanged, on split and packed rings (across the
 * packed wrap), with EVENT_IDX and IN_ORDER, with inflight tracking; the
 * used ring the driver sees is as if the unpopped pops never happened.
 */
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define NUM	8

/* Post a chain of @n slots: n-1 readable 4-byte + one writable 8-byte. */
static void post(struct rt *t, unsigned int n, uintptr_t token)
{
	struct vhk_drv_seg s[4];

	for (unsigned int k = 0; k < n; k++)
		s[k] = (struct vhk_drv_seg){ rt_addr(t, rt_buf(t, 8)),
					     k == n - 1 ? 8 : 4, k == n - 1 };
	assert_int_equal(vhk_drv_vq_add(t->dq, s, n, (void *)token), 0);
}

/*
 * Rounds of: post 3 chains, pop all, give the newest two back, pop them
 * again (same id, same shape), complete all three in pop order.
 */
static void rounds(enum vhk_as_mode mode, bool packed, uint64_t feat)
{
	struct vhk_chain first[3];
	struct vhk_vq_stats st;
	struct rt t;

	rt_setup(&t, mode, packed, NUM, feat);
	for (unsigned int round = 0; round < 3u * NUM; round++) {
		struct iovec iov[3][64];
		unsigned int i;

		t.buf_next = 0;
		for (i = 0; i < 3; i++)
			post(&t, 1 + (round + i) % 3,
			     (uintptr_t)(round * 3 + i + 1));
		vhk_drv_vq_publish(t.dq);
		for (i = 0; i < 3; i++) {
			rt_pop_ok(&t);
			assert_true(t.c.nread + t.c.nwrite <= 64);
			memcpy(iov[i], t.c.iov,
			       (t.c.nread + t.c.nwrite) * sizeof(iov[i][0]));
			first[i] = t.c;
			first[i].iov = iov[i];
		}
		assert_int_equal(rt_pop(&t), 0);
		/* Newest first. */
		assert_int_equal(vhk_vq_unpop(t.vq, &first[2]), 0);
		assert_int_equal(vhk_vq_unpop(t.vq, &first[1]), 0);
		assert_true(vhk_vq_pending(t.vq));
		for (i = 1; i < 3; i++) {
			rt_pop_ok(&t);
			assert_int_equal(t.c.id, first[i].id);
			assert_int_equal(t.c.ndesc, first[i].ndesc);
			assert_int_equal(t.c.read_bytes, first[i].read_bytes);
			assert_int_equal(t.c.write_bytes, first[i].write_bytes);
			assert_ptr_equal(t.c.iov[t.c.nread + t.c.nwrite - 1]
						 .iov_base,
					 iov[i][first[i].nread +
						first[i].nwrite - 1].iov_base);
		}
		assert_int_equal(rt_pop(&t), 0);
		for (i = 0; i < 3; i++)
			assert_int_equal(vhk_vq_push(t.vq, &first[i], 8), 0);
		vhk_vq_flush(t.vq);
		for (i = 0; i < 3; i++) {
			void *tok;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len),
					 1);
			assert_int_equal((uintptr_t)tok, round * 3 + i + 1);
			assert_int_equal(len, 8);
		}
	}
	vhk_vq_get_stats(t.vq, &st);
	assert_int_equal(st.popped, 3u * 3 * NUM);
	assert_int_equal(st.unpopped, 2u * 3 * NUM);
	assert_false(vhk_vq_broken(t.vq));
	rt_fini(&t);
}

static void test_unpop_roundtrip(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		rounds(vhk_test_modes[mi], p, 0);
		rounds(vhk_test_modes[mi], p,
		       vhk_feature_bit(VHK_F_EVENT_IDX));
		rounds(vhk_test_modes[mi], p,
		       vhk_feature_bit(VHK_F_IN_ORDER));
	}
}

/* Nothing popped: nothing to give back; a stopped queue ignores it. */
static void test_unpop_nothing(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		struct vhk_chain c;

		rt_setup(&t, VHK_AS_GPA, p, NUM, 0);
		memset(&c, 0, sizeof(c));
		c.ndesc = 1;
		assert_int_equal(vhk_vq_unpop(t.vq, &c), -EINVAL);
		post(&t, 1, 1);
		vhk_drv_vq_publish(t.dq);
		rt_pop_ok(&t);
		c = t.c;
		assert_int_equal(vhk_vq_unpop(t.vq, &c), 0);
		assert_int_equal(vhk_vq_unpop(t.vq, &c), -EINVAL);
		c.id = NUM;	/* not an id of this ring */
		assert_int_equal(vhk_vq_unpop(t.vq, &c), -EINVAL);
		assert_false(vhk_vq_broken(t.vq));
		rt_pop_ok(&t);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 0), 0);
		vhk_vq_flush(t.vq);
		/* GET_VRING_BASE counts the chain once. */
		assert_int_equal(vhk_vq_base(t.vq) & 0x7fff, 1);
		rt_fini(&t);
	}
}

/* Split with an inflight region: the flag set by pop is cleared again. */
static void test_unpop_inflight(void **state)
{
	size_t sz = vhk_vq_inflight_size(NUM, false);
	uint8_t *reg = calloc(1, sz);
	struct rt t;
	uint16_t id;

	(void)state;
	assert_non_null(reg);
	rt_init(&t, VHK_AS_GPA, false, NUM, 0);
	assert_int_equal(vhk_vq_set_inflight(t.vq, reg, sz), 0);
	rt_start(&t);
	post(&t, 2, 1);
	vhk_drv_vq_publish(t.dq);
	rt_pop_ok(&t);
	id = t.c.id;
	/* struct DescStateSplit: 16 bytes after a 16-byte header. */
	assert_int_equal(reg[16 + 16 * id], 1);
	assert_int_equal(vhk_vq_unpop(t.vq, &t.c), 0);
	assert_int_equal(reg[16 + 16 * id], 0);
	rt_pop_ok(&t);
	assert_int_equal(t.c.id, id);
	assert_int_equal(reg[16 + 16 * id], 1);
	assert_int_equal(vhk_vq_push(t.vq, &t.c, 8), 0);
	vhk_vq_flush(t.vq);
	assert_int_equal(reg[16 + 16 * id], 0);
	rt_fini(&t);
	free(reg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unpop_roundtrip),
		cmocka_unit_test(test_unpop_nothing),
		cmocka_unit_test(test_unpop_inflight),
	};

	vhk_test_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
