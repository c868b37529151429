/* SPDX-License-Identifier: MIT */
/*
 * test_net_offload.c - virtio_net_hdr validation (every hostile header of
 * VIRTIO 1.2, 5.1.6.2 gets its drop reason), checksum completion and
 * TCP / UDP segmentation against frames built independently (netpkt.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dev/net/net_offload.h"
#include "netpkt.h"

#define ALL_OFF (VHK_NET_OFF_CSUM | VHK_NET_OFF_TSO4 | VHK_NET_OFF_TSO6 | \
		 VHK_NET_OFF_ECN | VHK_NET_OFF_USO)

static uint8_t payload[65536];
static uint8_t frame[VHK_NET_MAX_FRAME + 64];
static uint8_t expect[VHK_NET_MAX_FRAME];

static void fill_payload(void)
{
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + (i >> 8));
}

static struct vhk_net_hdr gso_hdr(uint8_t type, uint16_t gso, uint16_t cs,
				  uint16_t co)
{
	struct vhk_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VHK_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = type;
	h.gso_size = vhk_le16_make(gso);
	h.csum_start = vhk_le16_make(cs);
	h.csum_offset = vhk_le16_make(co);
	return h;
}

static void check_finish(int v6, int udp, size_t plen)
{
	struct tframe t = { .v6 = v6, .udp = udp, .seq = 1000,
			    .tcp_flags = 0x18, .payload = payload,
			    .plen = plen };
	struct vhk_net_hdr h;
	struct vhk_net_meta m;
	size_t l4, len, len2;

	len = build_frame(frame, &t, 0, &l4);
	len2 = build_frame(expect, &t, 1, &l4);
	assert_int_equal(len, len2);
	h = gso_hdr(VHK_NET_HDR_GSO_NONE, 0, (uint16_t)l4, udp ? 6 : 16);
	assert_int_equal(vhk_net_meta_parse(&h, frame, len, ALL_OFF, 1500, &m),
			 0);
	assert_true(m.needs_csum);
	vhk_net_csum_finish(frame, len, &m);
	assert_memory_equal(frame, expect, len);
	assert_true(l4_csum_ok(frame, len, v6, udp, l4));
}

static void test_csum_finish(void **state)
{
	(void)state;
	check_finish(0, 0, 0);
	check_finish(0, 0, 1);
	check_finish(0, 0, 1001);
	check_finish(1, 0, 1400);
	check_finish(0, 1, 333);
	check_finish(1, 1, 1);
}

struct segs {
	const struct tframe *orig;
	size_t gso;
	unsigned int n;
	int fail;
};

static int check_seg(void *arg, const uint8_t *seg, size_t len)
{
	struct segs *s = arg;
	const struct tframe *o = s->orig;
	size_t off = s->n * s->gso, l4;
	size_t plen = o->plen - off < s->gso ? o->plen - off : s->gso;
	int last = off + plen >= o->plen;
	struct tframe t = *o;
	size_t elen;

	t.payload = o->payload + off;
	t.plen = plen;
	t.seq = o->seq + (uint32_t)off;
	t.ipid = (uint16_t)(o->ipid + s->n);
	t.tcp_flags = o->tcp_flags;
	if (!last)
		t.tcp_flags &= (uint8_t)~0x09;	/* FIN, PSH on the last only */
	if (s->n > 0)
		t.tcp_flags &= (uint8_t)~0x80;	/* CWR on the first only */
	elen = build_frame(expect, &t, 1, &l4);
	if (elen != len || memcmp(seg, expect, len)) {
		print_error("segment %u differs (len %zu, expected %zu)\n",
			    s->n, len, elen);
		s->fail = 1;
	}
	s->n++;
	return 0;
}

static void check_segment(int v6, int udp, uint8_t opts, size_t plen,
			  uint16_t gso, uint8_t flags)
{
	struct tframe t = { .v6 = v6, .udp = udp, .seq = 0xfffff000u,
			    .ipid = 0xfffe, .tcp_flags = flags,
			    .tcp_opts = opts, .payload = payload,
			    .plen = plen };
	uint8_t type = udp ? VHK_NET_HDR_GSO_UDP_L4 :
		       v6 ? VHK_NET_HDR_GSO_TCPV6 : VHK_NET_HDR_GSO_TCPV4;
	uint8_t *scratch = malloc(VHK_NET_MAX_FRAME);
	struct segs s = { .orig = &t, .gso = gso };
	struct vhk_net_hdr h;
	struct vhk_net_meta m;
	size_t l4, len;

	len = build_frame(frame, &t, 0, &l4);
	h = gso_hdr(type, gso, (uint16_t)l4, udp ? 6 : 16);
	if (flags & 0x80)
		h.gso_type |= VHK_NET_HDR_GSO_ECN;
	assert_int_equal(vhk_net_meta_parse(&h, frame, len, ALL_OFF, 1500, &m),
			 0);
	assert_int_equal(m.l4, l4);
	assert_int_equal(vhk_net_segment(frame, len, &m, scratch, check_seg,
					 &s), 0);
	assert_false(s.fail);
	assert_int_equal(s.n, plen ? (plen + gso - 1) / gso : 1);
	free(scratch);
}

static void test_segment_vs_reference(void **state)
{
	(void)state;
	check_segment(0, 0, 0, 5000, 1448, 0x10 | 0x08 | 0x01);
	check_segment(0, 0, 12, 64000, 1448, 0x10 | 0x80 | 0x08);
	check_segment(0, 0, 0, 1448, 1448, 0x10);
	check_segment(0, 0, 0, 1, 536, 0x10);
	check_segment(1, 0, 12, 30001, 1428, 0x10 | 0x08);
	check_segment(1, 0, 0, 65000 - 60, 9000, 0x10);
	check_segment(0, 1, 0, 4000, 1472, 0);
	check_segment(1, 1, 0, 2999, 1000, 0);
}

struct bad {
	const char *what;
	size_t len;		/* frame length (0: the built frame) */
	struct vhk_net_hdr h;
	unsigned int allowed;
	int reason;		/* -1: accepted */
};

static void test_hostile_headers(void **state)
{
	struct tframe t = { .payload = payload, .plen = 3000,
			    .tcp_flags = 0x10 };
	struct tframe t6 = { .v6 = 1, .payload = payload, .plen = 3000,
			     .tcp_flags = 0x10 };
	uint8_t f6[4000];
	struct vhk_net_meta m;
	size_t l4, len, l46, len6;
	struct vhk_net_hdr zero, h;

	(void)state;
	len = build_frame(frame, &t, 0, &l4);
	len6 = build_frame(f6, &t6, 0, &l46);
	memset(&zero, 0, sizeof(zero));
	const struct bad cases[] = {
		{ "runt", 13, zero, ALL_OFF, VHK_NET_DROP_RUNT },
		{ "over MTU", 1519, zero, ALL_OFF, VHK_NET_DROP_TOO_BIG },
		{ "MTU + VLAN fits", 1518, zero, ALL_OFF, -1 },
		{ "over 64 KiB", VHK_NET_MAX_FRAME + 1, zero, ALL_OFF,
		  VHK_NET_DROP_TOO_BIG },
		{ "hdr_len past end", 100,
		  { .hdr_len = vhk_le16_make(101) }, ALL_OFF,
		  VHK_NET_DROP_BAD_HDRLEN },
		{ "csum_start at end", 100,
		  { .flags = 1, .csum_start = vhk_le16_make(100) }, ALL_OFF,
		  VHK_NET_DROP_BAD_CSUM },
		{ "csum field past end", 100,
		  { .flags = 1, .csum_start = vhk_le16_make(90),
		    .csum_offset = vhk_le16_make(9) }, ALL_OFF,
		  VHK_NET_DROP_BAD_CSUM },
		{ "csum field at end", 100,
		  { .flags = 1, .csum_start = vhk_le16_make(90),
		    .csum_offset = vhk_le16_make(8) }, ALL_OFF, -1 },
		{ "gso_size 0", 0, gso_hdr(1, 0, (uint16_t)l4, 16), ALL_OFF,
		  VHK_NET_DROP_BAD_GSO },
		{ "TSO4 not negotiated", 0, gso_hdr(1, 1448, (uint16_t)l4, 16),
		  VHK_NET_OFF_CSUM, VHK_NET_DROP_BAD_GSO },
		{ "ECN not negotiated", 0,
		  gso_hdr(1 | 0x80, 1448, (uint16_t)l4, 16),
		  ALL_OFF & ~VHK_NET_OFF_ECN, VHK_NET_DROP_BAD_GSO },
		{ "UFO", 0, gso_hdr(3, 1448, (uint16_t)l4, 16), ALL_OFF,
		  VHK_NET_DROP_BAD_GSO },
		{ "unknown GSO type", 0, gso_hdr(7, 1448, (uint16_t)l4, 16),
		  ALL_OFF, VHK_NET_DROP_BAD_GSO },
		{ "GSO without NEEDS_CSUM", 0,
		  { .gso_type = 1, .gso_size = vhk_le16_make(1448) }, ALL_OFF,
		  VHK_NET_DROP_BAD_GSO },
		{ "GSO, csum_start not L4", 0,
		  gso_hdr(1, 1448, (uint16_t)(l4 + 2), 14), ALL_OFF,
		  VHK_NET_DROP_BAD_CSUM },
		{ "GSO, csum_offset not TCP's", 0,
		  gso_hdr(1, 1448, (uint16_t)l4, 6), ALL_OFF,
		  VHK_NET_DROP_BAD_CSUM },
		{ "GSO, TCP header cut", l4 + 19,
		  gso_hdr(1, 1448, (uint16_t)l4, 16), ALL_OFF,
		  VHK_NET_DROP_BAD_L3L4 },
		{ "GSO UDP_L4 on TCP", 0, gso_hdr(5, 1448, (uint16_t)l4, 6),
		  ALL_OFF, VHK_NET_DROP_BAD_L3L4 },
		{ "valid TSO4", 0, gso_hdr(1, 1448, (uint16_t)l4, 16), ALL_OFF,
		  -1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];
		size_t n = c->len ? c->len : len;
		int rc = vhk_net_meta_parse(&c->h, frame, n, c->allowed, 1500,
					    &m);

		if (c->reason < 0) {
			if (rc != 0)
				fail_msg("%s: rejected (%s)", c->what,
					 vhk_net_drop_name(vhk_net_drop_of(rc)));
		} else if (rc >= 0 || (int)vhk_net_drop_of(rc) != c->reason) {
			fail_msg("%s: got %s, want %s", c->what,
				 rc >= 0 ? "accepted" :
				 vhk_net_drop_name(vhk_net_drop_of(rc)),
				 vhk_net_drop_name(c->reason));
		}
	}
	/* TSO4 on an IPv6 frame, TSO6 on an IPv4 frame */
	h = gso_hdr(VHK_NET_HDR_GSO_TCPV4, 1428, (uint16_t)l46, 16);
	assert_int_equal(vhk_net_meta_parse(&h, f6, len6, ALL_OFF, 1500, &m),
			 -(int)VHK_NET_DROP_BAD_L3L4 - 1);
	h = gso_hdr(VHK_NET_HDR_GSO_TCPV6, 1428, (uint16_t)l4, 16);
	assert_int_equal(vhk_net_meta_parse(&h, frame, len, ALL_OFF, 1500, &m),
			 -(int)VHK_NET_DROP_BAD_L3L4 - 1);
	/* an IPv4 fragment cannot be segmented */
	frame[14 + 6] = 0x20;
	h = gso_hdr(VHK_NET_HDR_GSO_TCPV4, 1448, (uint16_t)l4, 16);
	assert_int_equal(vhk_net_meta_parse(&h, frame, len, ALL_OFF, 1500, &m),
			 -(int)VHK_NET_DROP_BAD_L3L4 - 1);
}

/* Random headers over random frames: parse either accepts with offsets
 * inside the frame or names a reason; accepted GSO frames segment into
 * frames no longer than hlen + gso_size. */
static int seg_bound(void *arg, const uint8_t *seg, size_t len)
{
	const struct vhk_net_meta *m = arg;

	(void)seg;
	assert_true(len <= (size_t)m->hlen + m->gso_size);
	return 0;
}

static void test_random_headers(void **state)
{
	uint8_t *scratch = malloc(VHK_NET_MAX_FRAME);
	struct tframe t = { .payload = payload, .plen = 4000,
			    .tcp_flags = 0x10 };
	unsigned int seed = 12345, accepted = 0;
	size_t l4, len;

	(void)state;
	len = build_frame(frame, &t, 0, &l4);
	for (int i = 0; i < 200000; i++) {
		struct vhk_net_hdr h;
		struct vhk_net_meta m;
		uint8_t raw[12];
		size_t n = (size_t)rand_r(&seed) % (len + 1);
		int rc;

		for (int k = 0; k < 12; k++)
			raw[k] = (uint8_t)rand_r(&seed);
		if (i & 1) {	/* near-valid: keep offsets plausible */
			raw[1] &= 0x85;
			raw[6] = (uint8_t)l4;
			raw[7] = 0;
		}
		memcpy(&h, raw, sizeof(h));
		rc = vhk_net_meta_parse(&h, frame, n, ALL_OFF, 1500, &m);
		if (rc < 0) {
			assert_true(vhk_net_drop_of(rc) < VHK_NET_DROP__COUNT);
			continue;
		}
		accepted++;
		if (m.needs_csum)
			assert_true((size_t)m.csum_start + m.csum_offset + 2 <= n);
		if (m.gso_type)
			assert_int_equal(vhk_net_segment(frame, n, &m, scratch,
							 seg_bound, &m), 0);
	}
	assert_true(accepted > 0);
	free(scratch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csum_finish),
		cmocka_unit_test(test_segment_vs_reference),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_random_headers),
	};

	fill_payload();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
