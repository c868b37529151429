/* SPDX-License-Identifier: MIT */
/*
 * fe_negotiate.c - the VMM negotiation helper, the DMA mode rule and the
 * front-end's range allocator: pure functions, table-driven.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vhostkit/frontend.h"
#include "vhost-user/fe/fe_priv.h"

#define B(n) vhk_feature_bit(n)

struct neg_row {
	const char *what;
	uint64_t guest, offered, allow;
	bool iotlb;
	uint64_t want;
};

static void test_backend_features_table(void **state)
{
	const uint64_t dflt = vhk_fe_default_allowlist();
	const uint64_t blk = B(VHK_BLK_F_FLUSH) | B(VHK_BLK_F_SEG_MAX) |
			     B(VHK_F_VERSION_1) | B(VHK_F_EVENT_IDX);
	const struct neg_row rows[] = {
		{ "guest AP, no IOTLB: masked (crosvm fix)",
		  blk | B(VHK_F_ACCESS_PLATFORM),
		  blk | B(VHK_F_ACCESS_PLATFORM) | B(VHK_F_PROTOCOL_FEATURES),
		  dflt, false, blk },
		{ "guest AP, IOTLB provided: forwarded",
		  blk | B(VHK_F_ACCESS_PLATFORM),
		  blk | B(VHK_F_ACCESS_PLATFORM), dflt, true,
		  blk | B(VHK_F_ACCESS_PLATFORM) },
		{ "IOTLB but guest did not ack AP: not sent",
		  blk, blk | B(VHK_F_ACCESS_PLATFORM), dflt, true, blk },
		{ "IOTLB but back-end does not offer AP: not sent",
		  blk | B(VHK_F_ACCESS_PLATFORM), blk, dflt, true, blk },
		{ "guest acks what the back-end lacks: dropped",
		  blk | B(VHK_BLK_F_DISCARD) | B(VHK_F_RING_PACKED), blk,
		  dflt, false, blk },
		{ "offered+acked but not allowlisted: dropped",
		  blk | B(VHK_F_NOTIFICATION_DATA) | B(VHK_F_RING_RESET),
		  blk | B(VHK_F_NOTIFICATION_DATA) | B(VHK_F_RING_RESET),
		  dflt, false, blk },
		{ "PROTOCOL_FEATURES never passes (handled apart)",
		  blk | B(VHK_F_PROTOCOL_FEATURES),
		  blk | B(VHK_F_PROTOCOL_FEATURES),
		  dflt | B(VHK_F_PROTOCOL_FEATURES), true, blk },
		{ "narrow allowlist wins over both sides",
		  blk, blk, B(VHK_F_VERSION_1), false, B(VHK_F_VERSION_1) },
		{ "AP outside the allowlist is masked even with IOTLB",
		  blk | B(VHK_F_ACCESS_PLATFORM),
		  blk | B(VHK_F_ACCESS_PLATFORM),
		  dflt & ~B(VHK_F_ACCESS_PLATFORM), true, blk },
		{ "nothing acked: nothing sent", 0, ~0ull, dflt, true, 0 },
		{ "ORDER_PLATFORM + packed + in-order forwarded",
		  B(VHK_F_ORDER_PLATFORM) | B(VHK_F_RING_PACKED) |
		  B(VHK_F_IN_ORDER),
		  B(VHK_F_ORDER_PLATFORM) | B(VHK_F_RING_PACKED) |
		  B(VHK_F_IN_ORDER), dflt, false,
		  B(VHK_F_ORDER_PLATFORM) | B(VHK_F_RING_PACKED) |
		  B(VHK_F_IN_ORDER) },
	};

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(rows); i++) {
		const struct neg_row *r = &rows[i];
		uint64_t got = vhk_fe_backend_features(r->guest, r->offered,
						       r->allow, r->iotlb);

		if (got != r->want)
			fail_msg("row %zu (%s): got 0x%llx want 0x%llx", i,
				 r->what, (unsigned long long)got,
				 (unsigned long long)r->want);
	}
}

/* The naive intersection (what crosvm did) differs exactly on AP. */
static void test_naive_vs_helper(void **state)
{
	uint64_t guest = B(VHK_F_VERSION_1) | B(VHK_F_ACCESS_PLATFORM);
	uint64_t offered = guest | B(VHK_F_PROTOCOL_FEATURES);
	uint64_t naive = guest & offered;
	uint64_t helper = vhk_fe_backend_features(guest, offered,
						  vhk_fe_default_allowlist(),
						  false);

	(void)state;
	assert_true(vhk_has_feature(naive, VHK_F_ACCESS_PLATFORM));
	assert_false(vhk_has_feature(helper, VHK_F_ACCESS_PLATFORM));
	assert_int_equal(naive & ~B(VHK_F_ACCESS_PLATFORM), helper);
}

static void test_default_allowlist(void **state)
{
	uint64_t a = vhk_fe_default_allowlist();

	(void)state;
	for (unsigned int bit = 0; bit < 24; bit++)
		assert_true(vhk_has_feature(a, bit));
	assert_true(vhk_has_feature(a, VHK_F_ACCESS_PLATFORM));
	assert_true(vhk_has_feature(a, VHK_F_VERSION_1));
	assert_true(vhk_has_feature(a, VHK_F_ORDER_PLATFORM));
	assert_false(vhk_has_feature(a, VHK_F_PROTOCOL_FEATURES));
	assert_false(vhk_has_feature(a, VHK_F_NOTIFICATION_DATA));
	assert_false(vhk_has_feature(a, VHK_F_RING_RESET));
	assert_false(vhk_has_feature(a, VHK_F_ADMIN_VQ));
}

struct mode_row {
	uint64_t drv, be, proto;
	enum vhk_dma_mode want;
};

static void test_dma_mode_table(void **state)
{
	const uint64_t ap = B(VHK_F_ACCESS_PLATFORM);
	const uint64_t chan = B(VHK_PROTO_F_BACKEND_REQ) |
			      B(VHK_PROTO_F_REPLY_ACK);
	const struct mode_row rows[] = {
		{ 0, 0, 0, VHK_DMA_DIRECT },
		{ 0, ap, chan, VHK_DMA_DIRECT },	/* driver decides */
		{ ap, ap, chan, VHK_DMA_IOMMU },
		{ ap, 0, chan, VHK_DMA_BOUNCE },	/* masked: restricted DMA */
		{ ap, 0, 0, VHK_DMA_BOUNCE },
		{ ap, ap, 0, VHK_DMA_BOUNCE },	/* naive: AP without IOTLB */
	};

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(rows); i++)
		assert_int_equal(vhk_fe_dma_mode_from(rows[i].drv, rows[i].be,
						      rows[i].proto),
				 rows[i].want);
	assert_string_equal(vhk_fe_dma_mode_name(VHK_DMA_DIRECT), "direct");
	assert_string_equal(vhk_fe_dma_mode_name(VHK_DMA_IOMMU), "iommu");
	assert_string_equal(vhk_fe_dma_mode_name(VHK_DMA_BOUNCE), "bounce");
}

static void test_ralloc(void **state)
{
	struct fe_ralloc ra;
	uint64_t a, b, c, d;

	(void)state;
	assert_int_equal(fe_ralloc_init(&ra, 0x10000, 0x4000, 0x1000), 0);
	assert_int_equal(fe_ralloc_get(&ra, 1, &a), 0);
	assert_int_equal(a, 0x10000);
	assert_int_equal(fe_ralloc_get(&ra, 0x1001, &b), 0);	/* 2 pages */
	assert_int_equal(b, 0x11000);
	assert_int_equal(fe_ralloc_get(&ra, 0x1000, &c), 0);
	assert_int_equal(c, 0x13000);
	assert_int_equal(fe_ralloc_get(&ra, 1, &d), -ENOMEM);
	assert_int_equal(fe_ralloc_get(&ra, 0, &d), -EINVAL);
	assert_int_equal(fe_ralloc_free_bytes(&ra), 0);
	/* Free the middle, then the first: they coalesce into 3 pages. */
	assert_int_equal(fe_ralloc_put(&ra, b, 0x1001), 0);
	assert_int_equal(fe_ralloc_put(&ra, b, 0x1000), -EINVAL); /* double */
	assert_int_equal(fe_ralloc_put(&ra, a, 1), 0);
	assert_int_equal(fe_ralloc_get(&ra, 0x3000, &d), 0);
	assert_int_equal(d, 0x10000);
	assert_int_equal(fe_ralloc_put(&ra, d, 0x3000), 0);
	assert_int_equal(fe_ralloc_put(&ra, c, 0x1000), 0);
	assert_int_equal(fe_ralloc_free_bytes(&ra), 0x4000);
	assert_int_equal(ra.nfree, 1);
	/* Out of range and misaligned frees are refused. */
	assert_int_equal(fe_ralloc_put(&ra, 0x14000, 0x1000), -EINVAL);
	assert_int_equal(fe_ralloc_put(&ra, 0x10800, 0x100), -EINVAL);
	assert_int_equal(fe_ralloc_put(&ra, 0xf000, 0x1000), -EINVAL);
	fe_ralloc_destroy(&ra);
}

/* Many small allocations freed in a scattered order all coalesce. */
static void test_ralloc_scatter(void **state)
{
	struct fe_ralloc ra;
	uint64_t addr[64];

	(void)state;
	assert_int_equal(fe_ralloc_init(&ra, 4096, 64 * 64, 64), 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(fe_ralloc_get(&ra, 64, &addr[i]), 0);
	for (int i = 0; i < 64; i += 2)
		assert_int_equal(fe_ralloc_put(&ra, addr[i], 64), 0);
	assert_int_equal(ra.nfree, 32);
	for (int i = 63; i > 0; i -= 2)
		assert_int_equal(fe_ralloc_put(&ra, addr[i], 64), 0);
	assert_int_equal(ra.nfree, 1);
	assert_int_equal(fe_ralloc_free_bytes(&ra), 64 * 64);
	fe_ralloc_destroy(&ra);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend_features_table),
		cmocka_unit_test(test_naive_vs_helper),
		cmocka_unit_test(test_default_allowlist),
		cmocka_unit_test(test_dma_mode_table),
		cmocka_unit_test(test_ralloc),
		cmocka_unit_test(test_ralloc_scatter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
