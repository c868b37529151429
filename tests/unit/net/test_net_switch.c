/* SPDX-License-Identifier: MIT */
/*
 * test_net_switch.c - the learning switch without sockets: learning and
 * flooding, a bounded MAC table under a MAC flood, a port that never
 * drains (drops for it only), software offloads towards ports without
 * them, the token bucket, RARP announcements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dev/net/net_switch.h"
#include "netpkt.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct rig {
	struct vhk_net_switch sw;
	struct vhk_net_port p[3];
};

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	assert_int_equal(vhk_net_switch_init(&r->sw), 0);
	r->sw.now_ns = fake_clock;
	fake_now = 1000000000ull;
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(vhk_net_port_init(&r->sw, &r->p[i], name,
						   VHK_NET_PORT_TEST, 16), 0);
		atomic_store(&r->p[i].up, true);
		atomic_store(&r->p[i].caps, 0x1fu);
	}
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	for (int i = 0; i < 3; i++)
		vhk_net_port_fini(&r->p[i]);
	vhk_net_switch_fini(&r->sw);
	free(r);
	return 0;
}

static struct vhk_net_pkt *eth(const uint8_t dst[6], const uint8_t src[6],
			       size_t len)
{
	struct vhk_net_pkt *p = vhk_net_pkt_alloc(len);

	assert_non_null(p);
	memset(p->data, 0xab, len);
	memcpy(p->data, dst, 6);
	memcpy(p->data + 6, src, 6);
	p->data[12] = 0x08;
	p->data[13] = 0x00;
	return p;
}

static unsigned int drain(struct vhk_net_port *p)
{
	struct vhk_net_pkt *l = vhk_net_backlog_take(p, 1u << 30), *n;
	unsigned int k = 0;

	for (; l; l = n, k++) {
		n = l->next;
		vhk_net_pkt_free(l);
	}
	return k;
}

static const uint8_t BC[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t M0[6] = { 0x52, 0, 0, 0, 0, 0x10 };
static const uint8_t M1[6] = { 0x52, 0, 0, 0, 0, 0x11 };
static const uint8_t M2[6] = { 0x52, 0, 0, 0, 0, 0x12 };

static void test_learn_and_flood(void **state)
{
	struct rig *r = *state;

	/* unknown destination: flooded to both others */
	vhk_net_switch_input(&r->sw, &r->p[0], eth(M1, M0, 60));
	assert_int_equal(drain(&r->p[1]), 1);
	assert_int_equal(drain(&r->p[2]), 1);
	assert_int_equal(drain(&r->p[0]), 0);
	/* M0 learnt on port 0: a reply goes there only */
	vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
	assert_int_equal(drain(&r->p[0]), 1);
	assert_int_equal(drain(&r->p[2]), 0);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M1), 1);
	/* broadcast floods */
	vhk_net_switch_input(&r->sw, &r->p[2], eth(BC, M1, 60));
	assert_int_equal(drain(&r->p[0]), 1);
	assert_int_equal(drain(&r->p[1]), 1);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M1), 2);
	assert_int_equal(atomic_load(&r->sw.moved), 1);
	/* a frame to a MAC on its own port goes nowhere, counted */
	vhk_net_switch_input(&r->sw, &r->p[2], eth(M1, M2, 60));
	assert_int_equal(drain(&r->p[0]) + drain(&r->p[1]), 0);
	assert_int_equal(atomic_load(&r->p[2].c.drops[VHK_NET_DROP_NO_PORT]),
			 1);
	/* a learnt port that went down: dropped with link_down */
	atomic_store(&r->p[0].up, false);
	vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
	assert_int_equal(atomic_load(&r->p[0].c.drops[VHK_NET_DROP_LINK_DOWN]),
			 1);
	assert_int_equal(drain(&r->p[0]), 0);
	/* entries age out: flooding again */
	atomic_store(&r->p[0].up, true);
	fake_now += VHK_NET_MAC_AGE_NS + 1;
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M0), -1);
}

static void test_mac_flood_bounded(void **state)
{
	struct rig *r = *state;
	const unsigned int cap = VHK_NET_MAC_SETS * VHK_NET_MAC_WAYS;

	for (unsigned int i = 0; i < 4 * cap; i++) {
		uint8_t src[6] = { 0x02, 0, (uint8_t)(i >> 24),
				   (uint8_t)(i >> 16), (uint8_t)(i >> 8),
				   (uint8_t)i };

		fake_now++;
		vhk_net_switch_input(&r->sw, &r->p[0], eth(BC, src, 60));
		drain(&r->p[1]);
		drain(&r->p[2]);
	}
	assert_true(r->sw.nmacs <= cap);
	assert_true(atomic_load(&r->sw.evicted) >= 4 * cap - cap);
	/* the switch still learns and forwards after the flood */
	vhk_net_switch_input(&r->sw, &r->p[2], eth(BC, M1, 60));
	drain(&r->p[0]);
	drain(&r->p[1]);
	vhk_net_switch_input(&r->sw, &r->p[0], eth(M1, M0, 60));
	assert_int_equal(drain(&r->p[2]), 1);
	assert_int_equal(drain(&r->p[1]), 0);
}

static void test_stuck_port_drops_alone(void **state)
{
	struct rig *r = *state;

	/* port 1 never drains (a guest that never refills RX) */
	for (int i = 0; i < 100; i++) {
		vhk_net_switch_input(&r->sw, &r->p[0], eth(BC, M0, 60));
		assert_int_equal(drain(&r->p[2]), 1);
	}
	assert_int_equal(r->p[1].count, r->p[1].limit);
	assert_int_equal(atomic_load(&r->p[1].c.drops[VHK_NET_DROP_QUEUE_FULL]),
			 100 - r->p[1].limit);
	assert_int_equal(atomic_load(&r->p[2].c.drops[VHK_NET_DROP_QUEUE_FULL]),
			 0);
	assert_int_equal(drain(&r->p[1]), r->p[1].limit);
}

static void test_sw_offloads(void **state)
{
	struct rig *r = *state;
	static uint8_t pay[20000];
	struct tframe t = { .payload = pay, .plen = sizeof(pay),
			    .tcp_flags = 0x18 };
	struct vhk_net_pkt *p, *l, *n;
	size_t l4, len;
	unsigned int k = 0;
	uint8_t buf[21000];

	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)i;
	len = build_frame(buf, &t, 0, &l4);
	/* port 1 takes TSO, port 2 takes nothing */
	atomic_store(&r->p[2].caps, 0u);
	p = vhk_net_pkt_alloc(len);
	memcpy(p->data, buf, len);
	p->meta = (struct vhk_net_meta){ .needs_csum = 1,
		.gso_type = VHK_NET_HDR_GSO_TCPV4, .gso_size = 1448,
		.csum_start = (uint16_t)l4, .csum_offset = 16,
		.l3 = 14, .l4 = (uint16_t)l4, .hlen = (uint16_t)(l4 + 20) };
	vhk_net_switch_input(&r->sw, &r->p[0], p);
	l = vhk_net_backlog_take(&r->p[1], 100);
	assert_non_null(l);
	assert_null(l->next);
	assert_int_equal(l->len, len);
	assert_int_equal(l->meta.gso_type, VHK_NET_HDR_GSO_TCPV4);
	vhk_net_pkt_free(l);
	for (l = vhk_net_backlog_take(&r->p[2], 100); l; l = n, k++) {
		n = l->next;
		assert_int_equal(l->meta.gso_type, 0);
		assert_int_equal(l->meta.needs_csum, 0);
		assert_true(l->len <= l4 + 20 + 1448);
		assert_true(l4_csum_ok(l->data, l->len, 0, 0, l4));
		vhk_net_pkt_free(l);
	}
	/* backlog limit 16 < 14 segments? 20000 / 1448 = 14 segments */
	assert_int_equal(k, (sizeof(pay) + 1447) / 1448);
	assert_int_equal(atomic_load(&r->p[2].c.sw_segments), k);
	/* NEEDS_CSUM only, towards a port without CSUM: completed */
	t.plen = 999;
	len = build_frame(buf, &t, 0, &l4);
	p = vhk_net_pkt_alloc(len);
	memcpy(p->data, buf, len);
	p->meta = (struct vhk_net_meta){ .needs_csum = 1,
		.csum_start = (uint16_t)l4, .csum_offset = 16 };
	vhk_net_switch_input(&r->sw, &r->p[0], p);
	l = vhk_net_backlog_take(&r->p[2], 100);
	assert_non_null(l);
	assert_int_equal(l->meta.needs_csum, 0);
	assert_true(l4_csum_ok(l->data, l->len, 0, 0, l4));
	vhk_net_pkt_free(l);
	l = vhk_net_backlog_take(&r->p[1], 100);
	assert_non_null(l);
	assert_int_equal(l->meta.needs_csum, 1);	/* passed through */
	vhk_net_pkt_free(l);
	assert_int_equal(atomic_load(&r->p[2].c.sw_csum), 1);
}

static void test_rate_limit(void **state)
{
	struct rig *r = *state;
	unsigned int passed = 0;

	/* 100 packets/s, burst 32: over 2 s of 1000 pkts/s, ~32 + 200 */
	vhk_net_rate_set(&r->p[0], 0, 100);
	for (int i = 0; i < 2000; i++) {
		fake_now += 1000000;	/* 1 ms */
		vhk_net_switch_input(&r->sw, &r->p[0], eth(BC, M0, 60));
		passed += drain(&r->p[1]);
		drain(&r->p[2]);
	}
	assert_in_range(passed, 225, 235);
	assert_int_equal(atomic_load(&r->p[0].c.drops[VHK_NET_DROP_RATE]),
			 2000 - passed);
	/* bytes/s: 60000 B/s of 60-byte frames = 1000 pkts/s, burst
	 * max(6000, 2 frames of 64 KiB) */
	vhk_net_rate_set(&r->p[1], 60000, 0);
	passed = 0;
	for (int i = 0; i < 10000; i++) {
		fake_now += 100000;	/* 0.1 ms: 10000 pkts/s offered */
		vhk_net_switch_input(&r->sw, &r->p[1], eth(BC, M1, 60));
		passed += drain(&r->p[0]);
		drain(&r->p[2]);
	}
	/* 1 s at 1000/s + the burst (131100 B / 60) */
	assert_in_range(passed, 1000 + 2185 - 10, 1000 + 2185 + 10);
}

/* The per-port memos of the MAC table never outlive a change of it: a
 * moved address, an aged-out one, a revived one, an evicted one. */
/* M0 speaks (a broadcast) on port @in; the flood is drained. */
static void announce_m0(struct rig *r, int in)
{
	vhk_net_switch_input(&r->sw, &r->p[in], eth(BC, M0, 60));
	for (int i = 0; i < 3; i++)
		if (i != in)
			drain(&r->p[i]);
}

static void test_memo_follows_table(void **state)
{
	struct rig *r = *state;

	announce_m0(r, 0);
	/* port 1 memoises M0 -> port 0 */
	for (int i = 0; i < 3; i++) {
		vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
		assert_int_equal(drain(&r->p[0]), 1);
		assert_int_equal(drain(&r->p[2]), 0);
	}
	/* M0 moves to port 2: port 1's next frame for it goes there */
	announce_m0(r, 2);
	vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
	assert_int_equal(drain(&r->p[2]), 1);
	assert_int_equal(drain(&r->p[0]), 0);
	/* ... and back: port 2's source memo must not keep it there */
	announce_m0(r, 0);
	announce_m0(r, 2);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M0), 2);
	/* aged out: flooded, although port 1 memoised port 2 */
	fake_now += VHK_NET_MAC_AGE_NS + 1;
	vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
	assert_int_equal(drain(&r->p[0]), 1);
	assert_int_equal(drain(&r->p[2]), 1);
	/* revived on the same port: unicast again, although port 1
	 * memoised "unknown" */
	announce_m0(r, 2);
	vhk_net_switch_input(&r->sw, &r->p[1], eth(M0, M1, 60));
	assert_int_equal(drain(&r->p[2]), 1);
	assert_int_equal(drain(&r->p[0]), 0);
	/* a source keeps its entry young while it sends (memo refreshes
	 * at least once a second) */
	for (int i = 0; i < 400; i++) {
		fake_now += 1000000000ull;	/* 1 s */
		vhk_net_switch_input(&r->sw, &r->p[2], eth(BC, M0, 60));
		drain(&r->p[0]);
		drain(&r->p[1]);
	}
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M0), 2);
}

/* A burst: frames for one output keep their order, each output gets one
 * append, a full backlog drops the excess of the burst (counted). */
static void test_burst(void **state)
{
	struct rig *r = *state;
	struct vhk_net_pkt *b[40], *l, *n;
	unsigned int k = 0;

	vhk_net_switch_input(&r->sw, &r->p[1], eth(BC, M1, 60));
	vhk_net_switch_input(&r->sw, &r->p[2], eth(BC, M2, 60));
	drain(&r->p[0]);
	drain(&r->p[1]);
	drain(&r->p[2]);
	for (int i = 0; i < 40; i++) {
		b[i] = eth(i % 2 ? M1 : M2, M0, 60);
		b[i]->data[20] = (uint8_t)i;
	}
	vhk_net_switch_input_burst(&r->sw, &r->p[0], b, 40);
	/* 20 each offered, the backlogs hold 16 */
	assert_int_equal(r->p[1].count, 16);
	assert_int_equal(r->p[2].count, 16);
	assert_int_equal(atomic_load(&r->p[1].c.drops[VHK_NET_DROP_QUEUE_FULL]),
			 4);
	assert_int_equal(atomic_load(&r->p[0].c.in_packets), 40);
	assert_int_equal(atomic_load(&r->p[0].c.in_bytes), 40 * 60);
	l = vhk_net_backlog_take(&r->p[1], 100);
	for (; l; l = n, k++) {
		n = l->next;
		assert_int_equal(l->data[20], 2 * k + 1);
		vhk_net_pkt_free(l);
	}
	assert_int_equal(k, 16);
	assert_int_equal(drain(&r->p[2]), 16);
	assert_int_equal(drain(&r->p[0]), 0);
	vhk_net_switch_input_burst(&r->sw, &r->p[0], b, 0);
}

/* Runs of frames with the same addresses in one burst are learnt and
 * looked up once: a frame with other addresses ends the run, a move of a
 * source inside the burst is seen by the frames after it. */
static void test_burst_runs(void **state)
{
	struct rig *r = *state;
	struct vhk_net_pkt *b[9], *l, *n;
	unsigned int k = 0;
	static const uint8_t want[] = { 2, 3, 4, 7, 8 };

	vhk_net_switch_input(&r->sw, &r->p[1], eth(BC, M1, 60));
	vhk_net_switch_input(&r->sw, &r->p[2], eth(BC, M2, 60));
	drain(&r->p[0]);
	drain(&r->p[1]);
	drain(&r->p[2]);
	/* on port 0: M1 <- M0 twice, M2 <- M0 twice, M2 <- M1 (same
	 * destination, another source: M1 moves to port 0), M1 <- M0 twice
	 * (M1 is on port 0 now: dropped), M2 <- M0 twice */
	for (int i = 0; i < 9; i++) {
		const uint8_t *dst = i < 2 ? M1 : (i < 5 || i > 6) ? M2 : M1;

		b[i] = eth(dst, i == 4 ? M1 : M0, 60);
		b[i]->data[20] = (uint8_t)i;
	}
	vhk_net_switch_input_burst(&r->sw, &r->p[0], b, 9);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M1), 0);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M0), 0);
	assert_int_equal(drain(&r->p[1]), 2);
	l = vhk_net_backlog_take(&r->p[2], 100);
	for (; l; l = n, k++) {
		n = l->next;
		assert_true(k < 5);
		assert_int_equal(l->data[20], want[k]);
		vhk_net_pkt_free(l);
	}
	assert_int_equal(k, 5);
	assert_int_equal(drain(&r->p[0]), 0);
	assert_int_equal(atomic_load(&r->p[0].c.drops[VHK_NET_DROP_NO_PORT]),
			 2);
	assert_int_equal(atomic_load(&r->sw.moved), 1);
	assert_int_equal(atomic_load(&r->p[0].c.in_packets), 9);
}

static void test_rarp(void **state)
{
	struct rig *r = *state;
	uint8_t f[60];
	struct vhk_net_pkt *p;

	assert_int_equal(vhk_net_rarp_frame(M0, f), 60);
	p = vhk_net_pkt_alloc(60);
	memcpy(p->data, f, 60);
	vhk_net_switch_input(&r->sw, &r->p[2], p);
	assert_int_equal(vhk_net_mac_lookup(&r->sw, M0), 2);
	p = vhk_net_backlog_take(&r->p[0], 1);
	assert_non_null(p);
	assert_memory_equal(p->data, BC, 6);
	assert_int_equal(rd16(p->data + 12), 0x8035);
	assert_int_equal(rd16(p->data + 20), 3);	/* reverse request */
	assert_memory_equal(p->data + 22, M0, 6);
	vhk_net_pkt_free(p);
	drain(&r->p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_learn_and_flood, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mac_flood_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stuck_port_drops_alone,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_sw_offloads, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rarp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memo_follows_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_runs, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
