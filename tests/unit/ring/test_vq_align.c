/* SPDX-License-Identifier: MIT */
/*
 * test_vq_align - ring addresses that are aligned as VIRTIO 1.2, 2.7 /
 * 2.8.10.1 require but translate to misaligned host addresses (a region
 * with an odd mmap offset, an IOTLB uaddr not congruent to its iova) are
 * refused at start, in every mode and both layouts.  Found by
 * fuzz_vu_dispatch (UBSan: misaligned atomic access to avail->idx).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vhostkit/features.h"
#include "vhostkit/ring.h"
#include "vhostkit/ring_ctl.h"

#define GPA	0x100000ull
#define UVA	0x7e0000000000ull
#define IOVA	0xa0000000ull
#define SIZE	0x10000ull

static void try_start(enum vhk_as_mode mode, bool packed, size_t skew,
		      int want)
{
	uint8_t *mem = aligned_alloc(4096, SIZE + 4096);
	struct vhk_memtable *mt;
	struct vhk_iotlb *tlb = NULL;
	struct vhk_as as = { .mode = mode };
	struct vhk_vq_params p;
	struct vhk_vq *vq;
	uint64_t base = mode == VHK_AS_IOTLB ? IOVA : UVA;

	assert_non_null(mem);
	assert_int_equal(vhk_memtable_new(&mt, 4), 0);
	/* The host view starts @skew bytes past an aligned address. */
	assert_int_equal(vhk_memtable_add_host(mt, GPA, SIZE, UVA,
					       mem + skew), 0);
	as.mt = mt;
	if (mode == VHK_AS_IOTLB) {
		assert_int_equal(vhk_iotlb_new(&tlb, 16), 0);
		as.iotlb = tlb;
		assert_int_equal(vhk_as_iotlb_update(&as, IOVA, SIZE, UVA,
						     VHK_PERM_RW), 0);
	}
	memset(&p, 0, sizeof(p));
	p.num = 64;
	p.features = vhk_feature_bit(VHK_F_VERSION_1);
	if (packed) {
		vhk_set_feature(&p.features, VHK_F_RING_PACKED);
		p.avail_base = 0x8000;	/* slot 0, wrap counter 1 */
	}
	p.addrs.desc = base;
	p.addrs.driver = base + 0x1000;
	p.addrs.device = base + 0x2000;
	p.name = "align";
	assert_int_equal(vhk_vq_new(&vq), 0);
	assert_int_equal(vhk_vq_start(vq, &as, &p), want);
	vhk_vq_free(vq);
	vhk_iotlb_free(tlb);
	vhk_memtable_free(mt);
	free(mem);
}

static void test_misaligned_host(void **state)
{
	enum vhk_as_mode modes[] = { VHK_AS_GPA, VHK_AS_PLATFORM_IDENTITY,
				     VHK_AS_IOTLB };

	(void)state;
	for (unsigned int m = 0; m < 3; m++) {
		for (int packed = 0; packed < 2; packed++) {
			try_start(modes[m], packed, 0, 0);
			try_start(modes[m], packed, 1, -EINVAL);
			try_start(modes[m], packed, 2, -EINVAL);
			try_start(modes[m], packed, 8, -EINVAL);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misaligned_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
