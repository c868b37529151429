/* SPDX-License-Identifier: MIT */
/* test_memtable.c - guest memory table: rejects, lookups, copies, mmap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "vhostkit/mem.h"

static struct vhk_memtable *mk(unsigned int max)
{
	struct vhk_memtable *mt = NULL;

	assert_int_equal(vhk_memtable_new(&mt, max), 0);
	return mt;
}

static void test_new_rejects(void **state)
{
	struct vhk_memtable *mt = NULL;

	(void)state;
	assert_int_equal(vhk_memtable_new(&mt, 0), -EINVAL);
	assert_int_equal(vhk_memtable_new(NULL, 4), -EINVAL);
	vhk_memtable_free(NULL);
}

static void test_add_rejects(void **state)
{
	static uint8_t buf[0x4000];
	struct vhk_memtable *mt = mk(3);
	struct vhk_mem_region_desc d = { .gpa = 0, .size = 0x1000, .uva = 0,
					 .mmap_offset = 0, .fd = -1 };

	(void)state;
	/* size 0 */
	assert_int_equal(vhk_memtable_add_host(mt, 0, 0, 0, buf), -EINVAL);
	/* gpa + size and uva + size overflow */
	assert_int_equal(vhk_memtable_add_host(mt, UINT64_MAX - 0xfff, 0x2000,
					       0, buf), -EINVAL);
	assert_int_equal(vhk_memtable_add_host(mt, 0, 0x2000,
					       UINT64_MAX - 0xfff, buf),
			 -EINVAL);
	/* fd < 0 */
	assert_int_equal(vhk_memtable_add(mt, &d), -EINVAL);
	/* offset + size overflow (checked before mmap; fd 0 is never used) */
	d.fd = 0;
	d.mmap_offset = UINT64_MAX - 0x10;
	assert_int_equal(vhk_memtable_add(mt, &d), -EINVAL);
	d.size = 0;
	d.mmap_offset = 0;
	assert_int_equal(vhk_memtable_add(mt, &d), -EINVAL);
	assert_int_equal(vhk_memtable_count(mt), 0);

	/* Ending exactly at the top of the space is fine. */
	assert_int_equal(vhk_memtable_add_host(mt, UINT64_MAX - 0xfff, 0x1000,
					       0x100000, buf), 0);
	assert_int_equal(vhk_memtable_add_host(mt, 0x10000, 0x2000, 0x200000,
					       buf), 0);
	/* GPA overlap: head, tail, inside, covering. */
	assert_int_equal(vhk_memtable_add_host(mt, 0xf000, 0x1001, 0x900000,
					       buf), -EINVAL);
	assert_int_equal(vhk_memtable_add_host(mt, 0x11fff, 0x10, 0x900000,
					       buf), -EINVAL);
	assert_int_equal(vhk_memtable_add_host(mt, 0x10800, 0x10, 0x900000,
					       buf), -EINVAL);
	assert_int_equal(vhk_memtable_add_host(mt, 0x8000, 0x10000, 0x900000,
					       buf), -EINVAL);
	/* UVA overlap with disjoint GPA */
	assert_int_equal(vhk_memtable_add_host(mt, 0x40000, 0x1000, 0x200fff,
					       buf), -EINVAL);
	assert_int_equal(vhk_memtable_add_host(mt, 0x40000, 0x1000, 0x1ff001,
					       buf), -EINVAL);
	/* Adjacent in both spaces is not an overlap. */
	assert_int_equal(vhk_memtable_add_host(mt, 0xf000, 0x1000, 0x1ff000,
					       buf), 0);
	assert_int_equal(vhk_memtable_count(mt), 3);
	/* Over the limit */
	assert_int_equal(vhk_memtable_add_host(mt, 0x80000, 0x1000, 0x800000,
					       buf), -ENOSPC);
	/* Sorted by GPA */
	assert_int_equal(vhk_memtable_region(mt, 0)->gpa, 0xf000);
	assert_int_equal(vhk_memtable_region(mt, 1)->gpa, 0x10000);
	assert_int_equal(vhk_memtable_region(mt, 2)->gpa, UINT64_MAX - 0xfff);
	assert_null(vhk_memtable_region(mt, 3));

	/* Remove needs an exact match. */
	assert_int_equal(vhk_memtable_remove(mt, 0x10000, 0x1000, 0x200000),
			 -ENOENT);
	assert_int_equal(vhk_memtable_remove(mt, 0x10000, 0x2000, 0x200001),
			 -ENOENT);
	assert_int_equal(vhk_memtable_remove(mt, 0x10000, 0x2000, 0x200000), 0);
	assert_int_equal(vhk_memtable_count(mt), 2);
	/* The UVA index follows the removal. */
	{
		uint64_t l = 1;

		assert_null(vhk_memtable_uva_to_host(mt, 0x200000, &l));
		l = 1;
		assert_ptr_equal(vhk_memtable_uva_to_host(mt, 0x100000, &l),
				 buf);
		l = 1;
		assert_ptr_equal(vhk_memtable_uva_to_host(mt, 0x1ff010, &l),
				 buf + 0x10);
	}
	vhk_memtable_free(mt);
}

static void test_prefix(void **state)
{
	static uint8_t a[0x1000], b[0x1000];
	struct vhk_memtable *mt = mk(8);
	uint64_t l;

	(void)state;
	/* Added out of order on purpose: GPA order differs from UVA order. */
	assert_int_equal(vhk_memtable_add_host(mt, 0x2000, 0x1000, 0x10000, b),
			 0);
	assert_int_equal(vhk_memtable_add_host(mt, 0x1000, 0x1000, 0x20000, a),
			 0);
	l = 0x100;
	assert_ptr_equal(vhk_memtable_gpa_to_host(mt, 0x1000, &l), a);
	assert_int_equal(l, 0x100);
	l = 0x2000;
	assert_ptr_equal(vhk_memtable_gpa_to_host(mt, 0x1f00, &l), a + 0xf00);
	assert_int_equal(l, 0x100);		/* stops at the region end */
	l = 0x2000;
	assert_ptr_equal(vhk_memtable_gpa_to_host(mt, 0x2fff, &l), b + 0xfff);
	assert_int_equal(l, 1);
	l = 1;
	assert_null(vhk_memtable_gpa_to_host(mt, 0x3000, &l));
	l = 1;
	assert_null(vhk_memtable_gpa_to_host(mt, 0xfff, &l));
	l = 0;
	assert_null(vhk_memtable_gpa_to_host(mt, 0x1000, &l));
	l = 0x10;
	assert_ptr_equal(vhk_memtable_uva_to_host(mt, 0x20ff8, &l), a + 0xff8);
	assert_int_equal(l, 8);
	l = 0x10;
	assert_ptr_equal(vhk_memtable_uva_to_host(mt, 0x10000, &l), b);
	l = 1;
	assert_null(vhk_memtable_uva_to_host(mt, 0x11000, &l));

	/* UVA ranges: contiguous in UVA space only if the UVAs touch. */
	assert_true(vhk_memtable_uva_range_ok(mt, 0x10000, 0x1000));
	assert_false(vhk_memtable_uva_range_ok(mt, 0x10000, 0x1001));
	assert_false(vhk_memtable_uva_range_ok(mt, 0x10000, 0));
	assert_true(vhk_memtable_uva_range_ok(mt, 0x20fff, 1));
	assert_false(vhk_memtable_uva_range_ok(mt, UINT64_MAX, 2));
	vhk_memtable_free(mt);
}

static void test_copy_across(void **state)
{
	static uint8_t r0[100], r1[50], r2[200];
	uint8_t src[300], dst[300];
	struct vhk_memtable *mt = mk(8);

	(void)state;
	assert_int_equal(vhk_memtable_add_host(mt, 1000, 100, 0x10000, r0), 0);
	assert_int_equal(vhk_memtable_add_host(mt, 1100, 50, 0x30000, r1), 0);
	assert_int_equal(vhk_memtable_add_host(mt, 1150, 200, 0x20000, r2), 0);
	for (unsigned int i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(vhk_memtable_copy_to_gpa(mt, 1010, src, 300), 0);
	assert_memory_equal(r0 + 10, src, 90);
	assert_memory_equal(r1, src + 90, 50);
	assert_memory_equal(r2, src + 140, 160);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, dst, 1010, 300), 0);
	assert_memory_equal(dst, src, 300);
	/* Running off the end, starting in a hole, wrapping. */
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, dst, 1200, 151),
			 -EFAULT);
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, dst, 999, 2), -EFAULT);
	assert_int_equal(vhk_memtable_copy_to_gpa(mt, UINT64_MAX, src, 2),
			 -EFAULT);
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, dst, 5000, 0), 0);
	vhk_memtable_free(mt);
}

static void test_memfd_offset(void **state)
{
	const long pg = sysconf(_SC_PAGESIZE);
	struct vhk_memtable *mt = mk(4);
	struct vhk_mem_region_desc d;
	const struct vhk_mem_region *r;
	uint8_t *view, msg[16];
	uint64_t l;
	int fd;

	(void)state;
	fd = memfd_create("vhk-test", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * pg), 0);
	view = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(view != MAP_FAILED);
	memcpy(view + pg + 100, "hello, region", 14);

	/* A non page-aligned offset: the byte at offset maps to gpa. */
	d.gpa = 0x100000;
	d.size = 2 * pg;
	d.uva = 0x7f0000000000;
	d.mmap_offset = pg + 100;
	d.fd = fd;
	assert_int_equal(vhk_memtable_add(mt, &d), 0);
	r = vhk_memtable_region(mt, 0);
	assert_non_null(r);
	assert_int_equal(r->fd, fd);
	assert_int_equal(r->mmap_offset, pg + 100);
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, msg, 0x100000, 14), 0);
	assert_string_equal((char *)msg, "hello, region");
	/* Writes go through MAP_SHARED to the fd. */
	assert_int_equal(vhk_memtable_copy_to_gpa(mt, 0x100000 + 2 * pg - 4,
						  "tail", 4), 0);
	assert_memory_equal(view + pg + 100 + 2 * pg - 4, "tail", 4);
	l = 8;
	assert_ptr_equal(vhk_memtable_uva_to_host(mt, 0x7f0000000000, &l),
			 r->host);
	/* An fd whose mmap fails leaves the caller owning it. */
	d.gpa = 0x900000;
	d.uva = 0x1000;
	d.mmap_offset = 0;
	d.fd = fd;
	{
		int dir = open("/", O_RDONLY | O_DIRECTORY);

		assert_true(dir >= 0);
		d.fd = dir;
		assert_true(vhk_memtable_add(mt, &d) < 0);
		assert_int_equal(close(dir), 0);	/* still ours */
	}
	assert_int_equal(vhk_memtable_count(mt), 1);
	munmap(view, 4 * pg);
	/* The table closes fd; the region goes away with it. */
	vhk_memtable_free(mt);
	assert_int_equal(close(fd), -1);
}

/* One region per byte: the adversarial address space (docs/architecture.md,
 * "How we know it works"). */
static void test_100k_regions(void **state)
{
	enum { N = 100000 };
	struct vhk_memtable *mt = mk(N + 1);
	uint8_t *mem = malloc(N), *out = malloc(N);
	uint64_t l;

	(void)state;
	assert_non_null(mem);
	assert_non_null(out);
	for (unsigned int i = 0; i < N; i++) {
		mem[i] = (uint8_t)(i * 13);
		/* GPA ascending, UVA ascending with a one-byte gap each. */
		assert_int_equal(vhk_memtable_add_host(mt, 0x1000 + i, 1,
						       0x10000000 + i * 2,
						       mem + i), 0);
	}
	assert_int_equal(vhk_memtable_count(mt), N);
	assert_int_equal(vhk_memtable_add_host(mt, 0x1000 + 500, 1, 1, mem),
			 -EINVAL);
	for (unsigned int i = 0; i < N; i += 997) {
		l = 64;
		assert_ptr_equal(vhk_memtable_gpa_to_host(mt, 0x1000 + i, &l),
				 mem + i);
		assert_int_equal(l, 1);
		l = 64;
		assert_ptr_equal(vhk_memtable_uva_to_host(mt,
							  0x10000000 + i * 2,
							  &l), mem + i);
		assert_int_equal(l, 1);
		l = 1;
		assert_null(vhk_memtable_uva_to_host(mt, 0x10000001 + i * 2,
						     &l));
	}
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, out, 0x1000, N), 0);
	assert_memory_equal(out, mem, N);
	assert_int_equal(vhk_memtable_copy_from_gpa(mt, out, 0x1000, N + 1),
			 -EFAULT);
	vhk_memtable_free(mt);
	free(mem);
	free(out);
}

/*
 * Random adds (in any order, some overlapping) and removes checked against
 * a naive list: the same accept/reject decisions and the same lookups by
 * GPA and by UVA.
 */
struct naive {
	uint64_t gpa, size, uva;
	bool live;
};

static uint64_t rs = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void test_random_vs_naive(void **state)
{
	enum { SLOTS = 64, OPS = 3000, SPACE = 1 << 16 };
	static uint8_t backing[SPACE];
	struct naive nv[OPS];
	unsigned int nn = 0, live = 0;
	struct vhk_memtable *mt = mk(SLOTS);

	(void)state;
	for (unsigned int op = 0; op < OPS; op++) {
		if (rnd() % 3 == 0 && live > 0) {
			/* Remove a random live region. */
			unsigned int k = rnd() % nn;

			while (!nv[k].live)
				k = (k + 1) % nn;
			assert_int_equal(vhk_memtable_remove(mt, nv[k].gpa,
							     nv[k].size,
							     nv[k].uva), 0);
			nv[k].live = false;
			live--;
		} else {
			uint64_t size = 1 + rnd() % 700;
			uint64_t gpa = rnd() % (SPACE - size);
			uint64_t uva = 0x100000 + rnd() % (SPACE - size);
			int want = 0, got;

			for (unsigned int i = 0; i < nn; i++)
				if (nv[i].live &&
				    (overlaps(gpa, size, nv[i].gpa, nv[i].size) ||
				     overlaps(uva, size, nv[i].uva, nv[i].size)))
					want = -EINVAL;
			if (!want && live == SLOTS)
				want = -ENOSPC;
			/* host = backing at the uva offset: 1:1 with UVA. */
			got = vhk_memtable_add_host(mt, gpa, size, uva,
						    backing + (uva - 0x100000));
			assert_int_equal(got, want);
			if (!got) {
				nv[nn].gpa = gpa;
				nv[nn].size = size;
				nv[nn].uva = uva;
				nv[nn].live = true;
				nn++;
				live++;
			}
		}
		assert_int_equal(vhk_memtable_count(mt), live);
		if (op % 50)
			continue;
		/* Probe addresses against the naive list. */
		for (unsigned int p = 0; p < 200; p++) {
			uint64_t a = rnd() % SPACE, l = 1 + rnd() % 1000;
			uint64_t lg = l, lu = l;
			void *hg = vhk_memtable_gpa_to_host(mt, a, &lg);
			void *hu = vhk_memtable_uva_to_host(mt, 0x100000 + a,
							    &lu);
			void *eg = NULL, *eu = NULL;
			uint64_t elg = 0, elu = 0;

			for (unsigned int i = 0; i < nn; i++) {
				if (!nv[i].live)
					continue;
				if (a >= nv[i].gpa && a < nv[i].gpa + nv[i].size) {
					eg = backing + (nv[i].uva - 0x100000) +
					     (a - nv[i].gpa);
					elg = nv[i].gpa + nv[i].size - a;
				}
				if (0x100000 + a >= nv[i].uva &&
				    0x100000 + a < nv[i].uva + nv[i].size) {
					eu = backing + a;
					elu = nv[i].uva + nv[i].size -
					      (0x100000 + a);
				}
			}
			assert_ptr_equal(hg, eg);
			assert_ptr_equal(hu, eu);
			if (eg)
				assert_int_equal(lg, VHK_MIN(l, elg));
			if (eu)
				assert_int_equal(lu, VHK_MIN(l, elu));
		}
		/* Regions stay sorted by GPA. */
		for (unsigned int i = 1; i < live; i++)
			assert_true(vhk_memtable_region(mt, i - 1)->gpa <
				    vhk_memtable_region(mt, i)->gpa);
	}
	vhk_memtable_free(mt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects),
		cmocka_unit_test(test_add_rejects),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_copy_across),
		cmocka_unit_test(test_memfd_offset),
		cmocka_unit_test(test_100k_regions),
		cmocka_unit_test(test_random_vs_naive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
