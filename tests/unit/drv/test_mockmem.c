/* SPDX-License-Identifier: MIT */
/*
 * test_mockmem.c - the fake guest memory every ring test stands on: each
 * mode translates buffer and ring addresses to the right host bytes, the
 * address spaces do not alias, fragmentation really splits every byte, and
 * canaries catch stray writes.
 */
#include <errno.h>
#include <string.h>

#include "vhk_test.h"

#define RING_SZ	8192
#define BUF_SZ	4096

static void fill_pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 8));
}

static void test_buffers_roundtrip(void **state)
{
	(void)state;
	for (unsigned int mi = 0; mi < 3; mi++) {
		struct vhk_mockmem m;
		uint8_t in[BUF_SZ], out[BUF_SZ];

		vhk_test_mockmem(&m, vhk_test_modes[mi], RING_SZ, BUF_SZ);
		fill_pattern(in, sizeof(in), mi);
		vhk_mockmem_write(&m, 0, in, sizeof(in));
		/* The device path sees exactly the bytes the test wrote. */
		memset(out, 0, sizeof(out));
		assert_int_equal(vhk_as_copy_from(&m.as, out,
						  vhk_mockmem_buf_addr(&m, 0),
						  sizeof(out), NULL), 0);
		assert_memory_equal(in, out, sizeof(in));
		/* And the test sees what the device writes. */
		fill_pattern(in, 100, 99);
		assert_int_equal(vhk_as_copy_to(&m.as,
						vhk_mockmem_buf_addr(&m, 1000),
						in, 100, NULL), 0);
		vhk_mockmem_read(&m, 1000, out, 100);
		assert_memory_equal(in, out, 100);
		assert_true(vhk_mockmem_canaries_intact(&m));
		vhk_mockmem_fini(&m);
	}
}

static void test_prefix_lengths(void **state)
{
	(void)state;
	for (unsigned int mi = 0; mi < 3; mi++) {
		struct vhk_mockmem m;
		uint64_t len = 100;
		void *h;

		vhk_test_mockmem(&m, vhk_test_modes[mi], RING_SZ, BUF_SZ);
		assert_int_equal(vhk_as_translate(&m.as,
						  vhk_mockmem_buf_addr(&m, 10),
						  &len, VHK_PERM_RO, &h, NULL),
				 0);
		/* Fragmented: every byte is its own mapping. */
		assert_int_equal(len, vhk_test_fragmented() ? 1 : 100);
		/* The end of the buffer area is unmapped (fault or miss). */
		len = 1;
		assert_int_not_equal(vhk_as_translate(&m.as,
				     vhk_mockmem_buf_addr(&m, BUF_SZ), &len,
				     VHK_PERM_RO, &h, NULL), 0);
		vhk_mockmem_fini(&m);
	}
}

static void test_scattered_host(void **state)
{
	struct vhk_mockmem m;
	uint64_t len = 1;
	uint8_t *h0, *h1;

	(void)state;
	vhk_test_mockmem(&m, VHK_AS_GPA, RING_SZ, BUF_SZ);
	assert_int_equal(vhk_as_translate(&m.as, vhk_mockmem_buf_addr(&m, 0),
					  &len, VHK_PERM_RO, (void **)&h0,
					  NULL), 0);
	len = 1;
	assert_int_equal(vhk_as_translate(&m.as, vhk_mockmem_buf_addr(&m, 1),
					  &len, VHK_PERM_RO, (void **)&h1,
					  NULL), 0);
	/* A translator assuming contiguity would read h0 + 1 for byte 1. */
	if (vhk_test_fragmented())
		assert_ptr_not_equal(h0 + 1, h1);
	else
		assert_ptr_equal(h0 + 1, h1);
	assert_ptr_equal(vhk_mockmem_buf_host_contig(&m, 1),
			 vhk_test_fragmented() ? NULL : h1);
	vhk_mockmem_fini(&m);
}

static void test_ring_area(void **state)
{
	(void)state;
	for (unsigned int mi = 0; mi < 3; mi++) {
		struct vhk_mockmem m;
		uint64_t len = 64;
		void *h;

		vhk_test_mockmem(&m, vhk_test_modes[mi], RING_SZ, BUF_SZ);
		assert_int_equal(m.ring_size, RING_SZ);
		assert_int_equal(vhk_as_translate_ring(&m.as, m.ring_addr,
						       m.ring_size, VHK_PERM_RW,
						       &h, NULL), 0);
		assert_ptr_equal(h, m.ring_host);
		/* Descriptor view of the ring area (indirect tables). */
		assert_int_equal(vhk_as_translate(&m.as,
				 vhk_mockmem_ring_buf_addr(&m, 256), &len,
				 VHK_PERM_RO, &h, NULL), 0);
		assert_ptr_equal(h, m.ring_host + 256);
		assert_int_equal(len, 64);
		vhk_mockmem_fini(&m);
	}
}

/* GPA, UVA, IOVA and host addresses never alias each other. */
static void test_spaces_disjoint(void **state)
{
	struct vhk_mockmem g, io;
	uint64_t len = 16;
	void *h;

	(void)state;
	vhk_test_mockmem(&g, VHK_AS_GPA, RING_SZ, BUF_SZ);
	vhk_test_mockmem(&io, VHK_AS_IOTLB, RING_SZ, BUF_SZ);
	assert_int_not_equal(vhk_mockmem_buf_addr(&g, 0),
			     vhk_mockmem_buf_addr(&io, 0));
	assert_int_not_equal(g.ring_addr, io.ring_addr);
	/* A GPA is not an IOVA, an IOVA not a GPA. */
	assert_int_not_equal(vhk_as_translate(&io.as,
			     vhk_mockmem_buf_addr(&g, 0), &len, VHK_PERM_RO,
			     &h, NULL), 0);
	len = 16;
	assert_int_not_equal(vhk_as_translate(&g.as,
			     vhk_mockmem_buf_addr(&io, 0), &len, VHK_PERM_RO,
			     &h, NULL), 0);
	/* A ring UVA is not a descriptor address, a host pointer neither. */
	len = 16;
	assert_int_not_equal(vhk_as_translate(&g.as, g.ring_addr, &len,
					      VHK_PERM_RO, &h, NULL), 0);
	len = 16;
	assert_int_not_equal(vhk_as_translate(&g.as,
			     (uint64_t)(uintptr_t)g.ring_host, &len,
			     VHK_PERM_RO, &h, NULL), 0);
	assert_int_not_equal(vhk_as_translate_ring(&g.as,
			     vhk_mockmem_ring_buf_addr(&g, 0), 64, VHK_PERM_RO,
			     &h, NULL), 0);
	vhk_mockmem_fini(&g);
	vhk_mockmem_fini(&io);
}

static void test_canaries(void **state)
{
	struct vhk_mockmem m;
	uint8_t b = 0x5a;

	(void)state;
	vhk_test_mockmem(&m, VHK_AS_GPA, RING_SZ, BUF_SZ);
	assert_true(vhk_mockmem_canaries_intact(&m));
	assert_null(vhk_mockmem_guard_check(&m));
	/* Byte just before the ring area (a guard page). */
	m.ring_host[-1] ^= 0xff;
	assert_false(vhk_mockmem_canaries_intact(&m));
	assert_ptr_equal(vhk_mockmem_guard_check(&m), m.ring_host - 1);
	m.ring_host[-1] ^= 0xff;
	assert_true(vhk_mockmem_canaries_intact(&m));
	/* A declared gap between buffers. */
	vhk_mockmem_guard(&m, 100, 8);
	assert_true(vhk_mockmem_canaries_intact(&m));
	vhk_mockmem_write(&m, 104, &b, 1);
	assert_false(vhk_mockmem_canaries_intact(&m));
	vhk_mockmem_unguard(&m, 100, 8);
	assert_true(vhk_mockmem_canaries_intact(&m));
	if (vhk_test_fragmented()) {
		uint64_t len = 1;
		uint8_t *h;

		/* Overrunning one mapped byte's host pointer hits a canary. */
		assert_int_equal(vhk_as_translate(&m.as,
				 vhk_mockmem_buf_addr(&m, 7), &len,
				 VHK_PERM_WO, (void **)&h, NULL), 0);
		h[1] ^= 1;
		assert_false(vhk_mockmem_canaries_intact(&m));
		h[1] ^= 1;
	}
	assert_true(vhk_mockmem_canaries_intact(&m));
	vhk_mockmem_fini(&m);
}

static void test_init_rejects(void **state)
{
	struct vhk_mockmem m;

	(void)state;
	assert_int_equal(vhk_mockmem_init(&m, VHK_AS_GPA, false, 0, 10),
			 -EINVAL);
	assert_int_equal(vhk_mockmem_init(&m, (enum vhk_as_mode)7, false,
					  4096, 10), -EINVAL);
	assert_int_equal(vhk_mockmem_init(&m, VHK_AS_GPA, true, 4096,
					  VHK_MOCK_MAX_BUF_FRAG + 1), -EINVAL);
	vhk_mockmem_fini(&m);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffers_roundtrip),
		cmocka_unit_test(test_prefix_lengths),
		cmocka_unit_test(test_scattered_host),
		cmocka_unit_test(test_ring_area),
		cmocka_unit_test(test_spaces_disjoint),
		cmocka_unit_test(test_canaries),
		cmocka_unit_test(test_init_rejects),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("mockmem", tests);
}
