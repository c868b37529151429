/* SPDX-License-Identifier: MIT */
/*
 * iotlb_bench.c - IOTLB lookup and insert cost as the table grows.
 *
 * For 1, 2048, 65536 and 1048576 entries of 4 KiB each (IOVA-contiguous,
 * UVAs scattered so nothing could be merged), inserted in random order,
 * it prints the cost of uncached random lookups (no per-queue cache, a
 * fresh random IOVA each time) and of inserts, then the targets: an
 * uncached lookup at 1M entries within 1.0x of one dependent random load
 * over 64 MiB (the price of a DRAM miss, measured here), and at the
 * default 65536 entries <= 50 ns.
 *
 * Usage: vhostkit-bench-iotlb [lookups-per-size]   (default 4000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vhostkit/iotlb.h"

#define PAGE 4096u

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define BATCHES 15

struct result {
	size_t n;
	double insert_ns;
	double lookup_ns;	/* best batch */
	double lookup_med_ns;	/* median batch */
	long huge_kib;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* AnonHugePages of this process in KiB (-1 if unknown): THP diagnostics. */
static long anon_huge_kib(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * The machine's price of one cache miss: a dependent random pointer chase
 * over @bytes (huge pages requested, like the IOTLB arena).  A lookup in a
 * table far larger than the caches cannot cost less than about one of
 * these unless consecutive lookups overlap, so it puts the ratio in scale.
 */
static double chase_ns(size_t bytes)
{
	size_t n = bytes / 64, steps = 1000000;
	uint8_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t *perm;
	void **p;
	uint64_t t0;

	if (m == MAP_FAILED)
		return -1;
	madvise(m, bytes, MADV_HUGEPAGE);
	perm = malloc(n * sizeof(*perm));
	if (!perm) {
		munmap(m, bytes);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = next_rand() % i, x = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		*(void **)(m + perm[i] * 64) = m + perm[(i + 1) % n] * 64;
	p = (void **)(m + perm[0] * 64);
	t0 = vhk_now_ns();
	for (size_t i = 0; i < steps; i++)
		p = *p;
	t0 = vhk_now_ns() - t0;
	if (!p)
		printf("#");
	free(perm);
	munmap(m, bytes);
	return (double)t0 / (double)steps;
}

static int run(size_t n, size_t lookups, struct result *res)
{
	struct vhk_iotlb *t;
	uint64_t *order, t0, t1, sum = 0, mask = n - 1;
	int ret;

	order = malloc(n * sizeof(*order));
	if (!order)
		return -1;
	/* Random insertion order (what a hostile front-end would do). */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = next_rand() % i;
		uint64_t x = order[i - 1];

		order[i - 1] = order[j];
		order[j] = x;
	}
	ret = vhk_iotlb_new(&t, n);
	if (ret) {
		free(order);
		return ret;
	}
	t0 = vhk_now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t p = order[i];

		ret = vhk_iotlb_update(t, p * PAGE, PAGE,
				       0x10000000000ull + p * 3 * PAGE,
				       VHK_PERM_RW);
		if (ret) {
			fprintf(stderr, "update failed: %d\n", ret);
			vhk_iotlb_free(t);
			free(order);
			return ret;
		}
	}
	t1 = vhk_now_ns();
	res->n = n;
	res->huge_kib = anon_huge_kib();
	res->insert_ns = (double)(t1 - t0) / (double)n;
	free(order);

	/* Warm up once over the table so every size starts alike. */
	for (size_t i = 0; i < n && i < lookups; i++) {
		uint64_t uva, len = 8;

		vhk_iotlb_lookup(t, (next_rand() & mask) * PAGE, VHK_PERM_RO, &uva,
				 &len, NULL);
	}
	/*
	 * The machine is shared: time the lookups in batches and report the
	 * best batch (what the structure costs) and the median (what
	 * interference left of it).
	 */
	{
		double per[BATCHES];
		size_t batch = lookups / BATCHES ? lookups / BATCHES : 1;

		for (unsigned int b = 0; b < BATCHES; b++) {
			t0 = vhk_now_ns();
			for (size_t i = 0; i < batch; i++) {
				uint64_t r = next_rand();
				/* n is a power of two: no division here. */
				uint64_t iova = (r & mask) * PAGE + (r >> 52);
				uint64_t uva = 0, len = 64;

				if (vhk_iotlb_lookup(t, iova, VHK_PERM_RO, &uva,
						     &len, NULL))
					abort();
				sum += uva + len;
			}
			t1 = vhk_now_ns();
			per[b] = (double)(t1 - t0) / (double)batch;
		}
		qsort(per, BATCHES, sizeof(per[0]), cmp_double);
		res->lookup_ns = per[0];
		res->lookup_med_ns = per[BATCHES / 2];
	}
	vhk_iotlb_free(t);
	/* Keep the lookups from being optimised away. */
	if (sum == 42)
		printf("#");
	return 0;
}

/*
 * Usage: vhostkit-bench-iotlb [LOOKUPS [ENTRIES]]
 * Without ENTRIES: every size and the targets; with it: that size only.
 */
int main(int argc, char **argv)
{
	const size_t sizes[] = { 1, 2048, 65536, 1048576 };
	struct result res[4];
	size_t lookups = 4000000;
	double ratio, dram;

	if (argc > 1)
		lookups = strtoull(argv[1], NULL, 0);
	if (lookups == 0)
		lookups = 1;
	if (argc > 2) {
		/*
		 * One size only, for instruction counts that do not depend on
		 * the machine's caches:
		 *   valgrind --tool=callgrind --toggle-collect=vhk_iotlb_lookup \
		 *     vhostkit-bench-iotlb 100000 1048576
		 * then divide the Ir total by the lookups done: LOOKUPS plus
		 * the warm-up's min(ENTRIES, LOOKUPS).
		 */
		struct result one;
		size_t n = strtoull(argv[2], NULL, 0);

		if (n == 0 || run(n, lookups, &one))
			return 1;
		printf("%zu entries: %zu lookups, %.1f ns best batch\n", one.n,
		       lookups, one.lookup_ns);
		return 0;
	}
	printf("vhostkit IOTLB benchmark: 4 KiB entries, random insert order, "
	       "%zu uncached random lookups per size\n", lookups);
	printf("%10s %16s %16s %14s\n", "entries", "lookup ns (best)",
	       "lookup ns (med)", "insert ns/op");
	for (size_t i = 0; i < VHK_ARRAY_SIZE(sizes); i++) {
		if (run(sizes[i], lookups, &res[i])) {
			fprintf(stderr, "run at %zu entries failed\n", sizes[i]);
			return 1;
		}
		printf("%10zu %16.1f %16.1f %14.1f\n", res[i].n,
		       res[i].lookup_ns, res[i].lookup_med_ns,
		       res[i].insert_ns);
		fflush(stdout);
	}
	printf("transparent huge pages backing the 1M table: %ld KiB\n",
	       res[3].huge_kib);
	dram = chase_ns(64u << 20);
	printf("reference: one dependent random load costs %.1f ns over "
	       "256 KiB, %.1f ns over 64 MiB\n", chase_ns(256u << 10), dram);
	/* The targets (docs/benchmarks.md): at 1M entries the table is far
	 * larger than the caches, so a lookup is measured against the
	 * machine's price of one DRAM miss; at the default 65536 entries in
	 * nanoseconds.  (A 1M / 2K ratio measured DRAM, not the tree.) */
	ratio = dram > 0 ? res[3].lookup_ns / dram : 0;
	printf("lookup(1048576) / one dependent random load, best batches = "
	       "%.2f (target <= 1.0): %s\n", ratio,
	       ratio > 0 && ratio <= 1.0 ? "PASS" : "MISS");
	ratio = dram > 0 ? res[3].lookup_med_ns / dram : 0;
	printf("lookup(1048576) / one dependent random load, median batches = "
	       "%.2f (target <= 1.0): %s\n", ratio,
	       ratio > 0 && ratio <= 1.0 ? "PASS" : "MISS");
	printf("lookup(65536) = %.1f ns best, %.1f ns median (target <= 50): "
	       "%s\n", res[2].lookup_ns, res[2].lookup_med_ns,
	       res[2].lookup_ns <= 50.0 ? "PASS" : "MISS");
	return 0;
}
