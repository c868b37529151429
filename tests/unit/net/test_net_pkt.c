/* SPDX-License-Identifier: MIT */
/*
 * test_net_pkt.c - the switch's frame allocator: 1518-byte frames are
 * recycled (no allocation in the steady state of a forwarding loop), a
 * frame freed on another thread comes back through the depot, frames too
 * large for a slot are malloc()ed, the slot's full data size is usable.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dev/net/net_pkt.h"

static uint64_t slot_mallocs(void)
{
	struct vhk_net_pkt_stats s;

	vhk_net_pkt_stats(&s);
	return s.slot_mallocs;
}

/* A forwarding loop: 512 frames of 1518 bytes in flight, 100k frames;
 * after the first round every frame reuses a freed slot. */
static void test_steady_state_recycles(void **state)
{
	enum { INFLIGHT = 512, ROUNDS = 200 };
	static struct vhk_net_pkt *ring[INFLIGHT];
	uint64_t before;

	(void)state;
	for (int i = 0; i < INFLIGHT; i++) {
		ring[i] = vhk_net_pkt_alloc(1518);
		assert_non_null(ring[i]);
		assert_int_equal(ring[i]->len, 1518);
	}
	before = slot_mallocs();
	for (int r = 0; r < ROUNDS; r++)
		for (int i = 0; i < INFLIGHT; i++) {
			vhk_net_pkt_free(ring[i]);
			ring[i] = vhk_net_pkt_alloc(64 + (size_t)(i % 1455));
			assert_non_null(ring[i]);
			assert_null(ring[i]->next);
			assert_int_equal(ring[i]->hash, 0);
			assert_int_equal(ring[i]->meta.gso_type, 0);
			memset(ring[i]->data, r, ring[i]->len);
		}
	assert_int_equal(slot_mallocs(), before);
	for (int i = 0; i < INFLIGHT; i++)
		vhk_net_pkt_free(ring[i]);
}

/* The largest pooled frame uses its whole slot; one byte more is a
 * malloc()ed frame. */
static void test_sizes(void **state)
{
	struct vhk_net_pkt_stats a, b;
	struct vhk_net_pkt *p, *q;

	(void)state;
	assert_true(VHK_NET_PKT_POOL_DATA >= 1518 + 4);
	vhk_net_pkt_stats(&a);
	p = vhk_net_pkt_alloc(VHK_NET_PKT_POOL_DATA);
	q = vhk_net_pkt_alloc(VHK_NET_PKT_POOL_DATA + 1);
	assert_non_null(p);
	assert_non_null(q);
	memset(p->data, 0x5a, VHK_NET_PKT_POOL_DATA);
	memset(q->data, 0xa5, VHK_NET_PKT_POOL_DATA + 1);
	vhk_net_pkt_stats(&b);
	assert_int_equal(b.big_mallocs, a.big_mallocs + 1);
	assert_int_equal(p->len, VHK_NET_PKT_POOL_DATA);
	assert_int_equal(q->len, VHK_NET_PKT_POOL_DATA + 1);
	vhk_net_pkt_free(p);
	vhk_net_pkt_free(q);
	vhk_net_pkt_free(NULL);
	p = vhk_net_pkt_alloc(65536);
	assert_non_null(p);
	p->data[65535] = 1;
	vhk_net_pkt_free(p);
}

enum { XN = 1000 };
static struct vhk_net_pkt *xfer[XN];

static void *free_all(void *arg)
{
	(void)arg;
	for (int i = 0; i < XN; i++)
		vhk_net_pkt_free(xfer[i]);
	return NULL;	/* thread exit: its cache goes to the depot */
}

/* Frames allocated here and freed on a thread that then exits are
 * allocated again from the depot, not malloc()ed. */
static void test_cross_thread(void **state)
{
	pthread_t th;
	uint64_t before;

	(void)state;
	for (int i = 0; i < XN; i++) {
		xfer[i] = vhk_net_pkt_alloc(1000);
		assert_non_null(xfer[i]);
	}
	assert_int_equal(pthread_create(&th, NULL, free_all, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	before = slot_mallocs();
	for (int i = 0; i < XN; i++) {
		xfer[i] = vhk_net_pkt_alloc(1518);
		assert_non_null(xfer[i]);
	}
	assert_int_equal(slot_mallocs(), before);
	for (int i = 0; i < XN; i++)
		vhk_net_pkt_free(xfer[i]);
}

/* The depot is bounded: freeing far more slots than it keeps frees the
 * rest. */
static void test_depot_bounded(void **state)
{
	enum { N = VHK_NET_PKT_DEPOT_MAX + 1000 };
	struct vhk_net_pkt **v = calloc(N, sizeof(*v));
	struct vhk_net_pkt_stats a, b;

	(void)state;
	assert_non_null(v);
	for (int i = 0; i < N; i++) {
		v[i] = vhk_net_pkt_alloc(100);
		assert_non_null(v[i]);
	}
	vhk_net_pkt_stats(&a);
	for (int i = 0; i < N; i++)
		vhk_net_pkt_free(v[i]);
	vhk_net_pkt_stats(&b);
	assert_true(b.slot_frees - a.slot_frees >= 1000 - 2 * VHK_NET_PKT_CACHE);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_state_recycles),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_cross_thread),
		cmocka_unit_test(test_depot_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
