/* SPDX-License-Identifier: MIT */
/* test_as.c - translation mode decision and translation in every mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vhostkit/as.h"
#include "vhostkit/features.h"
#include "vhostkit/mode.h"
#include "vhostkit/backend.h"

/*
 * vhk_as_choose_mode over every combination of {ACCESS_PLATFORM acked} x
 * {REPLY_ACK} x {BACKEND_REQ} x {channel} x {auto, on, off}.  The expected
 * value is written out row by row, not computed, so that the table is the
 * specification (as.h, docs/translation-model.md "Who decides").
 */
struct mode_row {
	bool ap, reply_ack, backend_req, channel;
	enum vhk_iommu_policy policy;
	int err;
	enum vhk_as_mode mode;
	bool warn;
};

#define A VHK_IOMMU_AUTO
#define ON VHK_IOMMU_ON
#define OFF VHK_IOMMU_OFF
#define GPA VHK_AS_GPA
#define PID VHK_AS_PLATFORM_IDENTITY
#define TLB VHK_AS_IOTLB

static const struct mode_row mode_table[] = {
	/* ACCESS_PLATFORM not acked: always gpa, whatever else. */
	{ 0, 0, 0, 0, A, 0, GPA, 0 }, { 0, 0, 0, 0, ON, 0, GPA, 0 },
	{ 0, 0, 0, 0, OFF, 0, GPA, 0 },
	{ 0, 0, 0, 1, A, 0, GPA, 0 }, { 0, 0, 0, 1, ON, 0, GPA, 0 },
	{ 0, 0, 0, 1, OFF, 0, GPA, 0 },
	{ 0, 0, 1, 0, A, 0, GPA, 0 }, { 0, 0, 1, 0, ON, 0, GPA, 0 },
	{ 0, 0, 1, 0, OFF, 0, GPA, 0 },
	{ 0, 0, 1, 1, A, 0, GPA, 0 }, { 0, 0, 1, 1, ON, 0, GPA, 0 },
	{ 0, 0, 1, 1, OFF, 0, GPA, 0 },
	{ 0, 1, 0, 0, A, 0, GPA, 0 }, { 0, 1, 0, 0, ON, 0, GPA, 0 },
	{ 0, 1, 0, 0, OFF, 0, GPA, 0 },
	{ 0, 1, 0, 1, A, 0, GPA, 0 }, { 0, 1, 0, 1, ON, 0, GPA, 0 },
	{ 0, 1, 0, 1, OFF, 0, GPA, 0 },
	{ 0, 1, 1, 0, A, 0, GPA, 0 }, { 0, 1, 1, 0, ON, 0, GPA, 0 },
	{ 0, 1, 1, 0, OFF, 0, GPA, 0 },
	{ 0, 1, 1, 1, A, 0, GPA, 0 }, { 0, 1, 1, 1, ON, 0, GPA, 0 },
	{ 0, 1, 1, 1, OFF, 0, GPA, 0 },
	/*
	 * ACCESS_PLATFORM acked.  The seed case - an intersecting front-end
	 * that forwards the guest's bit and never drives an IOTLB (no
	 * REPLY_ACK, no BACKEND_REQ, no channel) - is the first row group.
	 */
	{ 1, 0, 0, 0, A, 0, PID, 1 }, { 1, 0, 0, 0, ON, -EPROTO, GPA, 0 },
	{ 1, 0, 0, 0, OFF, -EINVAL, GPA, 0 },
	{ 1, 0, 0, 1, A, 0, PID, 1 }, { 1, 0, 0, 1, ON, -EPROTO, GPA, 0 },
	{ 1, 0, 0, 1, OFF, -EINVAL, GPA, 0 },
	{ 1, 0, 1, 0, A, 0, PID, 1 }, { 1, 0, 1, 0, ON, -EPROTO, GPA, 0 },
	{ 1, 0, 1, 0, OFF, -EINVAL, GPA, 0 },
	{ 1, 0, 1, 1, A, 0, PID, 1 }, { 1, 0, 1, 1, ON, -EPROTO, GPA, 0 },
	{ 1, 0, 1, 1, OFF, -EINVAL, GPA, 0 },
	{ 1, 1, 0, 0, A, 0, PID, 1 }, { 1, 1, 0, 0, ON, -EPROTO, GPA, 0 },
	{ 1, 1, 0, 0, OFF, -EINVAL, GPA, 0 },
	{ 1, 1, 0, 1, A, 0, PID, 1 }, { 1, 1, 0, 1, ON, -EPROTO, GPA, 0 },
	{ 1, 1, 0, 1, OFF, -EINVAL, GPA, 0 },
	/* BACKEND_REQ + REPLY_ACK negotiated but the fd never arrived. */
	{ 1, 1, 1, 0, A, 0, PID, 1 }, { 1, 1, 1, 0, ON, -EPROTO, GPA, 0 },
	{ 1, 1, 1, 0, OFF, -EINVAL, GPA, 0 },
	/* Everything an IOTLB needs. */
	{ 1, 1, 1, 1, A, 0, TLB, 0 }, { 1, 1, 1, 1, ON, 0, TLB, 0 },
	{ 1, 1, 1, 1, OFF, -EINVAL, GPA, 0 },
};

static void test_choose_mode_table(void **state)
{
	(void)state;
	assert_int_equal(VHK_ARRAY_SIZE(mode_table), 2 * 2 * 2 * 2 * 3);
	for (unsigned int i = 0; i < VHK_ARRAY_SIZE(mode_table); i++) {
		const struct mode_row *r = &mode_table[i];
		struct vhk_mode_input in = { 0 };
		enum vhk_as_mode mode = (enum vhk_as_mode)99;
		bool warn = !r->warn;
		const char *why = NULL;
		int ret;

		/* Unrelated bits must not matter. */
		in.acked_features = vhk_feature_bit(VHK_F_VERSION_1) |
				    vhk_feature_bit(VHK_F_RING_PACKED);
		in.protocol_features = vhk_feature_bit(VHK_PROTO_F_MQ);
		if (r->ap)
			vhk_set_feature(&in.acked_features,
					VHK_F_ACCESS_PLATFORM);
		if (r->reply_ack)
			vhk_set_feature(&in.protocol_features,
					VHK_PROTO_F_REPLY_ACK);
		if (r->backend_req)
			vhk_set_feature(&in.protocol_features,
					VHK_PROTO_F_BACKEND_REQ);
		in.backend_channel = r->channel;
		in.policy = r->policy;

		ret = vhk_as_choose_mode(&in, &mode, &warn, &why);
		if (ret != r->err || (ret == 0 && mode != r->mode) ||
		    warn != r->warn)
			fail_msg("row %u (ap %d ra %d br %d ch %d %s): ret %d "
				 "mode %d warn %d", i, r->ap, r->reply_ack,
				 r->backend_req, r->channel,
				 vhk_iommu_policy_name(r->policy), ret, mode,
				 warn);
		assert_non_null(why);
		assert_true(strlen(why) > 10);
		/* NULL warn/why are allowed. */
		assert_int_equal(vhk_as_choose_mode(&in, &mode, NULL, NULL),
				 r->err);
	}
}

static void test_choose_mode_explains(void **state)
{
	struct vhk_mode_input in = { 0 };
	enum vhk_as_mode mode;
	const char *why = NULL;

	(void)state;
	vhk_set_feature(&in.acked_features, VHK_F_ACCESS_PLATFORM);
	in.policy = VHK_IOMMU_ON;
	assert_int_equal(vhk_as_choose_mode(&in, &mode, NULL, &why), -EPROTO);
	/* The error names what is missing and the policy that fixes it. */
	assert_non_null(strstr(why, "BACKEND_REQ"));
	assert_non_null(strstr(why, "REPLY_ACK"));
	assert_non_null(strstr(why, "--iommu="));
	in.policy = (enum vhk_iommu_policy)7;
	assert_int_equal(vhk_as_choose_mode(&in, &mode, NULL, &why), -EINVAL);
	assert_int_equal(vhk_as_choose_mode(NULL, &mode, NULL, &why), -EINVAL);
}

static void test_names(void **state)
{
	enum vhk_iommu_policy p;
	enum vhk_as_mode m;

	(void)state;
	assert_string_equal(vhk_as_mode_name(VHK_AS_GPA), "gpa");
	assert_string_equal(vhk_as_mode_name(VHK_AS_PLATFORM_IDENTITY),
			    "platform-identity");
	assert_string_equal(vhk_as_mode_name(VHK_AS_IOTLB), "iotlb");
	assert_string_equal(vhk_as_mode_name((enum vhk_as_mode)9), "unknown");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vhk_iommu_policy_parse(
			vhk_iommu_policy_name((enum vhk_iommu_policy)i), &p), 0);
		assert_int_equal(p, i);
		assert_int_equal(vhk_as_mode_parse(
			vhk_as_mode_name((enum vhk_as_mode)i), &m), 0);
		assert_int_equal(m, i);
	}
	assert_int_equal(vhk_iommu_policy_parse("yes", &p), -EINVAL);
	assert_int_equal(vhk_iommu_policy_parse("", &p), -EINVAL);
	assert_int_equal(vhk_as_mode_parse("IOTLB", &m), -EINVAL);
}

/*
 * Guest memory: ram0 and ram1 GPA-adjacent and UVA-apart; ram2 UVA-adjacent
 * to ram0 and GPA-apart.
 */
static uint8_t ram0[0x1000], ram1[0x1000], ram2[0x1000];

struct fixture {
	struct vhk_memtable *mt;
	struct vhk_iotlb *tlb;
	struct vhk_as as;
	unsigned int misses;
	uint64_t miss_iova;
	uint8_t miss_perm;
};

static void on_miss(void *opaque, uint64_t iova, uint8_t perm)
{
	struct fixture *f = opaque;

	f->misses++;
	f->miss_iova = iova;
	f->miss_perm = perm;
}

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	assert_int_equal(vhk_memtable_new(&f.mt, 8), 0);
	assert_int_equal(vhk_memtable_add_host(f.mt, 0x10000, 0x1000,
					       0x7000000, ram0), 0);
	assert_int_equal(vhk_memtable_add_host(f.mt, 0x11000, 0x1000,
					       0x5000000, ram1), 0);
	assert_int_equal(vhk_memtable_add_host(f.mt, 0x40000, 0x1000,
					       0x7001000, ram2), 0);
	assert_int_equal(vhk_iotlb_new(&f.tlb, 0), 0);
	f.as.mt = f.mt;
	f.as.iotlb = f.tlb;
	f.as.miss_fn = on_miss;
	f.as.miss_opaque = &f;
	for (unsigned int i = 0; i < 0x1000; i++) {
		ram0[i] = (uint8_t)i;
		ram1[i] = (uint8_t)(i ^ 0x5a);
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vhk_iotlb_free(f->tlb);
	vhk_memtable_free(f->mt);
	return 0;
}

static void test_translate_gpa_modes(void **state)
{
	struct fixture *f = *state;
	enum vhk_as_mode modes[] = { VHK_AS_GPA, VHK_AS_PLATFORM_IDENTITY };
	uint8_t buf[0x20];

	for (unsigned int m = 0; m < 2; m++) {
		uint64_t len;
		void *p;

		f->as.mode = modes[m];
		len = 0x100;
		assert_int_equal(vhk_as_translate(&f->as, 0x10f80, &len,
						  VHK_PERM_RO, &p, NULL), 0);
		assert_ptr_equal(p, ram0 + 0xf80);
		assert_int_equal(len, 0x80);	/* prefix up to the region end */
		len = 0x100;
		assert_int_equal(vhk_as_translate(&f->as, 0x11000, &len,
						  VHK_PERM_WO, &p, NULL), 0);
		assert_ptr_equal(p, ram1);
		assert_int_equal(len, 0x100);
		len = 1;
		assert_int_equal(vhk_as_translate(&f->as, 0x12000, &len,
						  VHK_PERM_RO, &p, NULL),
				 -EFAULT);
		len = 16;
		assert_int_equal(vhk_as_translate(&f->as, UINT64_MAX - 3, &len,
						  VHK_PERM_RO, &p, NULL),
				 -EFAULT);
		len = 0;
		assert_int_equal(vhk_as_translate(&f->as, 0x10000, &len,
						  VHK_PERM_RO, &p, NULL),
				 -EINVAL);
		/* A copy crosses the GPA boundary into the next region. */
		assert_int_equal(vhk_as_copy_from(&f->as, buf, 0x10ff0, 0x20,
						  NULL), 0);
		assert_memory_equal(buf, ram0 + 0xff0, 0x10);
		assert_memory_equal(buf + 0x10, ram1, 0x10);
		/* Ring addresses are UVAs in these modes, not GPAs. */
		assert_int_equal(vhk_as_translate_ring(&f->as, 0x7000100, 0x40,
						       VHK_PERM_RO, &p, NULL), 0);
		assert_ptr_equal(p, ram0 + 0x100);
		assert_int_equal(vhk_as_translate_ring(&f->as, 0x10100, 0x40,
						       VHK_PERM_RO, &p, NULL),
				 -EFAULT);
		/* Straddling the end of a region: not contiguous. */
		assert_int_equal(vhk_as_translate_ring(&f->as, 0x7000ff0, 0x20,
						       VHK_PERM_RO, &p, NULL),
				 -EFAULT);
		assert_int_equal(f->misses, 0);
	}
}

static void test_translate_iotlb(void **state)
{
	struct fixture *f = *state;
	struct vhk_iotlb_cache cache;
	uint8_t buf[0x40];
	uint64_t len;
	void *p;

	memset(&cache, 0, sizeof(cache));
	f->as.mode = VHK_AS_IOTLB;
	/* IOVA 0xa0000.. -> UVA of ram1, then 0xa1000.. -> UVA of ram0. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xa0000, 0x1000,
					     0x5000000, VHK_PERM_RW), 0);
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xa1000, 0x800,
					     0x7000800, VHK_PERM_RO), 0);
	len = 0x2000;
	assert_int_equal(vhk_as_translate(&f->as, 0xa0ff0, &len, VHK_PERM_WO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram1 + 0xff0);
	assert_int_equal(len, 0x10);
	/* Prefix = min(IOTLB entry, region): one entry over two regions. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xb0000, 0x200,
					     0x7000f00, VHK_PERM_RO), 0);
	len = 0x200;
	assert_int_equal(vhk_as_translate(&f->as, 0xb0080, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram0 + 0xf80);
	assert_int_equal(len, 0x80);
	len = 0x200;
	assert_int_equal(vhk_as_translate(&f->as, 0xb0100, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram2);
	assert_int_equal(len, 0x100);
	/* ...and a ring across it is not contiguous in host memory. */
	assert_int_equal(vhk_as_translate_ring(&f->as, 0xb00f0, 0x20,
					       VHK_PERM_RO, &p, NULL), -EFAULT);
	len = 0x2000;
	assert_int_equal(vhk_as_translate(&f->as, 0xa1100, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram0 + 0x900);
	assert_int_equal(len, 0x700);
	/* Permission. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xa1100, &len, VHK_PERM_WO,
					  &p, &cache), -EACCES);
	assert_int_equal(f->misses, 0);
	/* GPAs mean nothing in this mode. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0x10000, &len, VHK_PERM_RO,
					  &p, &cache), -EAGAIN);
	assert_int_equal(f->misses, 1);
	assert_int_equal(f->miss_iova, 0x10000);
	assert_int_equal(f->miss_perm, VHK_PERM_RO);
	/* Same page and perm again: parked, but no second MISS message. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0x10ffc, &len, VHK_PERM_RO,
					  &p, &cache), -EAGAIN);
	assert_int_equal(f->misses, 1);
	/* Other perm: a new miss. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0x10010, &len, VHK_PERM_WO,
					  &p, &cache), -EAGAIN);
	assert_int_equal(f->misses, 2);
	/* Recorded in the queue's cache, nothing in the shared IOTLB. */
	assert_int_equal(cache.miss_n, 2);
	assert_int_equal(vhk_iotlb_miss_count(f->tlb), 0);
	/* The front-end answers: both cleared (the owner of the queue
	 * clears its record), translation works. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0x10000, 0x1000,
					     0x5000000, VHK_PERM_RW), 0);
	vhk_iotlb_qmiss_clear(&cache, 0x10000, 0x1000, VHK_PERM_RW);
	assert_int_equal(cache.miss_n, 0);
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0x10ffc, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram1 + 0xffc);

	/* Copy across two IOTLB entries that point to different regions. */
	assert_int_equal(vhk_as_copy_from(&f->as, buf, 0xa0fe0, 0x40, &cache),
			 0);
	assert_memory_equal(buf, ram1 + 0xfe0, 0x20);
	assert_memory_equal(buf + 0x20, ram0 + 0x800, 0x20);
	/* Copying to a read-only entry fails with -EACCES. */
	assert_int_equal(vhk_as_copy_to(&f->as, 0xa1000, buf, 4, &cache),
			 -EACCES);
	assert_int_equal(vhk_as_copy_to(&f->as, 0xa0000, "abcd", 4, &cache),
			 0);
	assert_memory_equal(ram1, "abcd", 4);

	/* Rings: IOVA, contiguous within one entry, else -EFAULT. */
	assert_int_equal(vhk_as_translate_ring(&f->as, 0xa0100, 0x100,
					       VHK_PERM_RW, &p, NULL), 0);
	assert_ptr_equal(p, ram1 + 0x100);
	assert_int_equal(vhk_as_translate_ring(&f->as, 0xa0f00, 0x200,
					       VHK_PERM_RO, &p, NULL), -EFAULT);
	assert_int_equal(vhk_as_translate_ring(&f->as, 0xc0000, 0x10,
					       VHK_PERM_RO, &p, NULL), -EAGAIN);
	assert_int_equal(f->misses, 3);

	/* Updates: outside the table, size 0, wrap, bad perm. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd0000, 0x10, 0x6000000,
					     VHK_PERM_RO), -EFAULT);
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd0000, 0x2000,
					     0x5000000, VHK_PERM_RO), -EFAULT);
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd0000, 0, 0x5000000,
					     VHK_PERM_RO), -EINVAL);
	assert_int_equal(vhk_as_iotlb_update(&f->as, UINT64_MAX, 2, 0x5000000,
					     VHK_PERM_RO), -EINVAL);
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd0000, 0x10, 0x5000000,
					     0), -EINVAL);
	/* After invalidation the cached entry is not used. */
	assert_int_equal(vhk_iotlb_invalidate(f->tlb, 0xa0000, 0x1000), 0);
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xa0000, &len, VHK_PERM_RO,
					  &p, &cache), -EAGAIN);
	/* No IOTLB at all: fault, never a crash. */
	f->as.iotlb = NULL;
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xa0000, &len, VHK_PERM_RO,
					  &p, &cache), -EFAULT);
	f->as.iotlb = f->tlb;
}

/*
 * The adversarial IOTLB: one entry per byte, mapping IOVA i to the byte at
 * the mirrored position.  Every copy splits at every byte.
 */
/*
 * The per-queue cache remembers a host window: it must serve repeated
 * accesses without a search, and must never outlive an invalidation, a
 * remapping UPDATE or a memory-table change.
 */
static void test_iotlb_host_window(void **state)
{
	struct fixture *f = *state;
	struct vhk_iotlb_cache cache;
	uint64_t len;
	void *p;

	memset(&cache, 0, sizeof(cache));
	f->as.mode = VHK_AS_IOTLB;
	/* One entry over ram0 (UVA 0x7000000) and ram2 (UVA 0x7001000). */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xc0000, 0x2000,
					     0x7000000, VHK_PERM_RW), 0);
	len = 8;
	assert_int_equal(vhk_as_translate(&f->as, 0xc0010, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram0 + 0x10);
	assert_int_not_equal(cache.win_tlb_gen, 0);
	/* Inside the window, including before the first access. */
	len = 0x2000;
	assert_int_equal(vhk_as_translate(&f->as, 0xc0000, &len, VHK_PERM_WO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram0);
	assert_int_equal(len, 0x1000);	/* window ends with ram0 */
	/* The second region of the same entry is not in the window. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xc1004, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram2 + 4);
	/* Remap the IOVA to another UVA: the old window must not serve it. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xc1000, 0x1000,
					     0x5000000, VHK_PERM_RW), 0);
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xc1004, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram1 + 4);
	/* Invalidate: a miss, not a stale pointer. */
	assert_int_equal(vhk_iotlb_invalidate(f->tlb, 0xc1000, 0x1000), 0);
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xc1004, &len, VHK_PERM_RO,
					  &p, &cache), -EAGAIN);
	/* A memory-table change drops the window too. */
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xc0004, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_int_equal(vhk_memtable_remove(f->mt, 0x10000, 0x1000,
					     0x7000000), 0);
	len = 4;
	assert_int_equal(vhk_as_translate(&f->as, 0xc0004, &len, VHK_PERM_RO,
					  &p, &cache), -EFAULT);
}

/*
 * Regression (found by fuzz_iotlb): a failed translation of another entry
 * must not lend that entry's permission to the cached host window.
 */
static void test_iotlb_window_keeps_its_perm(void **state)
{
	struct fixture *f = *state;
	struct vhk_iotlb_cache cache;
	uint64_t len;
	void *p;

	memset(&cache, 0, sizeof(cache));
	f->as.mode = VHK_AS_IOTLB;
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd0000, 0x1000,
					     0x7000000, VHK_PERM_RO), 0);
	/* An RW entry whose UVA then leaves the table. */
	assert_int_equal(vhk_as_iotlb_update(&f->as, 0xd2000, 0x1000,
					     0x5000000, VHK_PERM_RW), 0);
	assert_int_equal(vhk_memtable_remove(f->mt, 0x11000, 0x1000,
					     0x5000000), 0);
	len = 16;
	assert_int_equal(vhk_as_translate(&f->as, 0xd0000, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	len = 16;
	assert_int_equal(vhk_as_translate(&f->as, 0xd2000, &len, VHK_PERM_RO,
					  &p, &cache), -EFAULT);
	len = 16;
	assert_int_equal(vhk_as_translate(&f->as, 0xd0010, &len, VHK_PERM_WO,
					  &p, &cache), -EACCES);
	len = 16;
	assert_int_equal(vhk_as_translate(&f->as, 0xd0010, &len, VHK_PERM_RO,
					  &p, &cache), 0);
	assert_ptr_equal(p, ram0 + 0x10);
}

static void test_iotlb_one_byte_entries(void **state)
{
	enum { N = 4096 };
	static uint8_t ram[N];
	uint8_t out[N], back[64];
	struct vhk_memtable *mt;
	struct vhk_iotlb *tlb;
	struct vhk_iotlb_cache cache;
	struct vhk_as as;

	(void)state;
	memset(&cache, 0, sizeof(cache));
	assert_int_equal(vhk_memtable_new(&mt, 1), 0);
	assert_int_equal(vhk_memtable_add_host(mt, 0, N, 0x400000, ram), 0);
	assert_int_equal(vhk_iotlb_new(&tlb, 0), 0);
	memset(&as, 0, sizeof(as));
	as.mode = VHK_AS_IOTLB;
	as.mt = mt;
	as.iotlb = tlb;
	for (unsigned int i = 0; i < N; i++) {
		ram[i] = (uint8_t)(i * 31 + 7);
		assert_int_equal(vhk_as_iotlb_update(&as, 0x1000000 + i, 1,
						     0x400000 + (N - 1 - i),
						     VHK_PERM_RW), 0);
	}
	assert_int_equal(vhk_iotlb_count(tlb), N);
	assert_int_equal(vhk_as_copy_from(&as, out, 0x1000000, N, &cache), 0);
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(out[i], ram[N - 1 - i]);
	/* Writes go to the mirrored bytes too. */
	assert_int_equal(vhk_as_copy_to(&as, 0x1000000 + 10, "0123456789", 10,
					&cache), 0);
	for (unsigned int i = 0; i < 10; i++)
		assert_int_equal(ram[N - 1 - 10 - i], '0' + i);
	/* One byte past the end: a miss, reported as -EAGAIN. */
	assert_int_equal(vhk_as_copy_from(&as, back, 0x1000000 + N - 8, 9,
					  &cache), -EAGAIN);
	/* Rings cannot live in such a space. */
	{
		void *p;

		assert_int_equal(vhk_as_translate_ring(&as, 0x1000000, 2,
						       VHK_PERM_RO, &p, NULL),
				 -EFAULT);
		assert_int_equal(vhk_as_translate_ring(&as, 0x1000000, 1,
						       VHK_PERM_RO, &p, NULL), 0);
		assert_ptr_equal(p, ram + N - 1);
	}
	vhk_iotlb_free(tlb);
	vhk_memtable_free(mt);
}

static void test_no_memtable(void **state)
{
	struct vhk_as as;
	uint64_t len = 4;
	void *p;

	(void)state;
	memset(&as, 0, sizeof(as));
	assert_int_equal(vhk_as_translate(&as, 0, &len, VHK_PERM_RO, &p, NULL),
			 -EFAULT);
	assert_int_equal(vhk_as_translate_ring(&as, 0, 16, VHK_PERM_RO, &p, NULL),
			 -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose_mode_table),
		cmocka_unit_test(test_choose_mode_explains),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_translate_gpa_modes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_iotlb, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iotlb_host_window, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_iotlb_window_keeps_its_perm,
						setup, teardown),
		cmocka_unit_test(test_iotlb_one_byte_entries),
		cmocka_unit_test(test_no_memtable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
