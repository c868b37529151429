/* SPDX-License-Identifier: MIT */
/*
 * memtable.c - the guest memory table: regions sorted by GPA with a second
 * index sorted by UVA, O(log n) lookups that return contiguous prefixes,
 * copy helpers that split at region boundaries.
 *
 * Regions live in one array sorted by GPA; uva_idx[] holds their positions
 * sorted by UVA.  Adding a region in ascending order (the common case, and
 * what the one-region-per-byte tests do) is O(log n) amortised; adding out
 * of order costs a memmove, O(n), which is fine for the 32 slots vhost-user
 * allows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhostkit/mem.h"

/* Largest table a caller may ask for (keeps index arithmetic in 32 bits). */
#define MT_MAX_REGIONS_LIMIT	(1u << 26)

struct vhk_memtable {
	struct vhk_mem_region *regs;	/* sorted by gpa */
	uint32_t *uva_idx;		/* positions in regs[], sorted by uva */
	unsigned int count;
	unsigned int cap;
	unsigned int max;
	uint64_t gen;		/* unique across tables; new on every change */
	struct vhk_mem_fault fault;	/* SIGBUS in a region (guard.c) */
};

/*
 * Generations come from one counter so that two tables (an old one and its
 * replacement) never share one: a translation cached against a generation
 * is then valid exactly while that table is unchanged.
 */
static _Atomic uint64_t memtable_gen_counter;

static uint64_t next_gen(void)
{
	return ++memtable_gen_counter;
}

static inline uint64_t reg_gpa_last(const struct vhk_mem_region *r)
{
	return r->gpa + (r->size - 1);
}

static inline uint64_t reg_uva_last(const struct vhk_mem_region *r)
{
	return r->uva + (r->size - 1);
}

int vhk_memtable_new(struct vhk_memtable **out, unsigned int max_regions)
{
	struct vhk_memtable *mt;

	if (!out || max_regions == 0 || max_regions > MT_MAX_REGIONS_LIMIT)
		return -EINVAL;
	mt = calloc(1, sizeof(*mt));
	if (!mt)
		return -ENOMEM;
	mt->max = max_regions;
	mt->gen = next_gen();
	*out = mt;
	return 0;
}

static void region_release(struct vhk_mem_region *r)
{
	if (r->mmap_base) {
		vhk_mem_guard_del(r->mmap_base);
		munmap(r->mmap_base, r->mmap_len);
	}
	if (r->fd >= 0)
		close(r->fd);
	r->mmap_base = NULL;
	r->fd = -1;
}

void vhk_memtable_free(struct vhk_memtable *mt)
{
	if (!mt)
		return;
	for (unsigned int i = 0; i < mt->count; i++)
		region_release(&mt->regs[i]);
	free(mt->regs);
	free(mt->uva_idx);
	free(mt);
}

unsigned int vhk_memtable_count(const struct vhk_memtable *mt)
{
	return mt ? mt->count : 0;
}

const struct vhk_mem_region *vhk_memtable_region(const struct vhk_memtable *mt,
						 unsigned int i)
{
	if (!mt || i >= mt->count)
		return NULL;
	return &mt->regs[i];
}

/* Number of regions whose gpa <= @gpa (the insertion point for @gpa). */
static unsigned int gpa_upper(const struct vhk_memtable *mt, uint64_t gpa)
{
	unsigned int lo = 0, hi = mt->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (mt->regs[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Number of uva_idx entries whose region uva <= @uva. */
static unsigned int uva_upper(const struct vhk_memtable *mt, uint64_t uva)
{
	unsigned int lo = 0, hi = mt->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (mt->regs[mt->uva_idx[mid]].uva <= uva)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int grow(struct vhk_memtable *mt)
{
	unsigned int ncap;
	struct vhk_mem_region *r;
	uint32_t *u;

	if (mt->count < mt->cap)
		return 0;
	ncap = mt->cap ? mt->cap * 2 : 8;
	if (ncap > mt->max)
		ncap = mt->max;
	r = realloc(mt->regs, (size_t)ncap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	mt->regs = r;
	u = realloc(mt->uva_idx, (size_t)ncap * sizeof(*u));
	if (!u)
		return -ENOMEM;
	mt->uva_idx = u;
	mt->cap = ncap;
	return 0;
}

/*
 * Validate a new region and find where it goes.  Returns 0 with the
 * insertion points in GPA order (*@gpos) and UVA order (*@upos).
 */
static int check_new(const struct vhk_memtable *mt, uint64_t gpa,
		     uint64_t size, uint64_t uva, unsigned int *gpos,
		     unsigned int *upos)
{
	unsigned int g, u;

	/* vhost-user: a region of size 0 or whose end wraps is malformed. */
	if (size == 0 || vhk_range_overflows(gpa, size) ||
	    vhk_range_overflows(uva, size))
		return -EINVAL;
	if (mt->count >= mt->max)
		return -ENOSPC;

	g = gpa_upper(mt, gpa);
	/* The region below must end before us, the one above start after. */
	if (g > 0 && reg_gpa_last(&mt->regs[g - 1]) >= gpa)
		return -EINVAL;
	if (g < mt->count && mt->regs[g].gpa <= gpa + (size - 1))
		return -EINVAL;

	u = uva_upper(mt, uva);
	if (u > 0 && reg_uva_last(&mt->regs[mt->uva_idx[u - 1]]) >= uva)
		return -EINVAL;
	if (u < mt->count && mt->regs[mt->uva_idx[u]].uva <= uva + (size - 1))
		return -EINVAL;
	*gpos = g;
	*upos = u;
	return 0;
}

static void insert_at(struct vhk_memtable *mt, unsigned int g, unsigned int u,
		      const struct vhk_mem_region *r)
{
	if (g < mt->count) {
		memmove(&mt->regs[g + 1], &mt->regs[g],
			(size_t)(mt->count - g) * sizeof(mt->regs[0]));
		/* Positions at or after g moved up by one. */
		for (unsigned int i = 0; i < mt->count; i++)
			if (mt->uva_idx[i] >= g)
				mt->uva_idx[i]++;
	}
	mt->regs[g] = *r;
	if (u < mt->count)
		memmove(&mt->uva_idx[u + 1], &mt->uva_idx[u],
			(size_t)(mt->count - u) * sizeof(mt->uva_idx[0]));
	mt->uva_idx[u] = g;
	mt->count++;
	mt->gen = next_gen();
}

int vhk_memtable_add_host(struct vhk_memtable *mt, uint64_t gpa,
			  uint64_t size, uint64_t uva, void *host)
{
	struct vhk_mem_region r;
	unsigned int g, u;
	int ret;

	if (!mt || !host)
		return -EINVAL;
	/* The host range must not wrap either. */
	if (vhk_range_overflows((uintptr_t)host, size))
		return -EINVAL;
	ret = check_new(mt, gpa, size, uva, &g, &u);
	if (ret)
		return ret;
	ret = grow(mt);
	if (ret)
		return ret;
	memset(&r, 0, sizeof(r));
	r.gpa = gpa;
	r.size = size;
	r.uva = uva;
	r.host = host;
	r.fd = -1;
	insert_at(mt, g, u, &r);
	return 0;
}

int vhk_memtable_add(struct vhk_memtable *mt,
		     const struct vhk_mem_region_desc *d)
{
	struct vhk_mem_region r;
	unsigned int g, u;
	long pagesz;
	uint64_t map_off, delta;
	void *base;
	int ret;

	if (!mt || !d)
		return -EINVAL;
	if (d->fd < 0)
		return -EINVAL;
	if (d->size == 0 || vhk_range_overflows(d->mmap_offset, d->size))
		return -EINVAL;
	ret = check_new(mt, d->gpa, d->size, d->uva, &g, &u);
	if (ret)
		return ret;
	ret = grow(mt);
	if (ret)
		return ret;

	/*
	 * mmap() wants a page-aligned offset; the front-end's mmap_offset
	 * need not be one.  Map from the page that contains it and point
	 * host at the requested byte.
	 */
	pagesz = sysconf(_SC_PAGESIZE);
	if (pagesz <= 0)
		pagesz = 4096;
	map_off = d->mmap_offset & ~((uint64_t)pagesz - 1);
	delta = d->mmap_offset - map_off;
	if (vhk_add_overflows(d->size, delta) || d->size + delta > SIZE_MAX ||
	    map_off > (uint64_t)INT64_MAX)
		return -EINVAL;
	base = mmap(NULL, (size_t)(d->size + delta), PROT_READ | PROT_WRITE,
		    MAP_SHARED, d->fd, (off_t)map_off);
	if (base == MAP_FAILED)
		return -errno;

	memset(&r, 0, sizeof(r));
	r.gpa = d->gpa;
	r.size = d->size;
	r.uva = d->uva;
	r.mmap_offset = d->mmap_offset;
	r.host = (uint8_t *)base + delta;
	r.mmap_base = base;
	r.mmap_len = (size_t)(d->size + delta);
	r.fd = d->fd;
	/*
	 * A file the front-end can still shrink would SIGBUS us on the next
	 * access past its new end: guard the mapping (a sealed one cannot
	 * shrink; it is guarded too, the registry is cheap).
	 */
	r.sealed = vhk_fd_shrink_sealed(d->fd);
	if (vhk_mem_guard_add(base, r.mmap_len, &mt->fault, d->gpa) < 0 &&
	    !r.sealed) {
		munmap(base, r.mmap_len);
		return -ENOSPC;
	}
	insert_at(mt, g, u, &r);
	return 0;
}

bool vhk_memtable_fault(const struct vhk_memtable *mt, char *msg, size_t n)
{
	uint64_t gpa, off;

	if (!mt || !__atomic_load_n(&mt->fault.hit, __ATOMIC_ACQUIRE))
		return false;
	gpa = __atomic_load_n(&mt->fault.tag, __ATOMIC_RELAXED);
	off = __atomic_load_n(&mt->fault.offset, __ATOMIC_RELAXED);
	for (unsigned int i = 0; i < mt->count; i++) {
		const struct vhk_mem_region *r = &mt->regs[i];

		if (r->gpa != gpa || !r->mmap_base)
			continue;
		snprintf(msg, n, "guest memory region gpa 0x%llx size 0x%llx "
			 "(file offset 0x%llx) lost its backing: SIGBUS at "
			 "offset 0x%llx - the front-end shrank the file after "
			 "SET_MEM_TABLE%s",
			 (unsigned long long)r->gpa,
			 (unsigned long long)r->size,
			 (unsigned long long)r->mmap_offset,
			 (unsigned long long)off,
			 r->sealed ? "" : " (not sealed with F_SEAL_SHRINK)");
		return true;
	}
	snprintf(msg, n, "guest memory region gpa 0x%llx lost its backing "
		 "(SIGBUS): the front-end shrank its file",
		 (unsigned long long)gpa);
	return true;
}

uint64_t vhk_memtable_generation(const struct vhk_memtable *mt)
{
	return mt ? mt->gen : 0;
}

int vhk_memtable_remove(struct vhk_memtable *mt, uint64_t gpa, uint64_t size,
			uint64_t uva)
{
	unsigned int g, u = 0;
	struct vhk_mem_region *r;

	if (!mt || mt->count == 0)
		return -ENOENT;
	g = gpa_upper(mt, gpa);
	if (g == 0)
		return -ENOENT;
	g--;
	r = &mt->regs[g];
	if (r->gpa != gpa || r->size != size || r->uva != uva)
		return -ENOENT;
	region_release(r);

	/* Drop g from the UVA index, renumber the positions above it. */
	for (unsigned int i = 0; i < mt->count; i++) {
		if (mt->uva_idx[i] == g)
			continue;
		mt->uva_idx[u++] = mt->uva_idx[i] > g ? mt->uva_idx[i] - 1
						      : mt->uva_idx[i];
	}
	memmove(&mt->regs[g], &mt->regs[g + 1],
		(size_t)(mt->count - g - 1) * sizeof(mt->regs[0]));
	mt->count--;
	mt->gen = next_gen();
	return 0;
}

/* Region containing @gpa, or NULL. */
static const struct vhk_mem_region *find_gpa(const struct vhk_memtable *mt,
					     uint64_t gpa)
{
	unsigned int g;
	const struct vhk_mem_region *r;

	if (!mt || mt->count == 0)
		return NULL;
	g = gpa_upper(mt, gpa);
	if (g == 0)
		return NULL;
	r = &mt->regs[g - 1];
	return gpa <= reg_gpa_last(r) ? r : NULL;
}

static const struct vhk_mem_region *find_uva(const struct vhk_memtable *mt,
					     uint64_t uva)
{
	unsigned int u;
	const struct vhk_mem_region *r;

	if (!mt || mt->count == 0)
		return NULL;
	u = uva_upper(mt, uva);
	if (u == 0)
		return NULL;
	r = &mt->regs[mt->uva_idx[u - 1]];
	return uva <= reg_uva_last(r) ? r : NULL;
}

const struct vhk_mem_region *vhk_memtable_find_gpa(const struct vhk_memtable *mt,
						   uint64_t gpa)
{
	return find_gpa(mt, gpa);
}

void *vhk_memtable_gpa_to_host(const struct vhk_memtable *mt, uint64_t gpa,
			       uint64_t *len)
{
	const struct vhk_mem_region *r;
	uint64_t off, avail;

	if (!len || *len == 0)
		return NULL;
	r = find_gpa(mt, gpa);
	if (!r)
		return NULL;
	off = gpa - r->gpa;
	avail = r->size - off;
	if (*len > avail)
		*len = avail;
	return r->host + off;
}

void *vhk_memtable_uva_to_host(const struct vhk_memtable *mt, uint64_t uva,
			       uint64_t *len)
{
	const struct vhk_mem_region *r;
	uint64_t off, avail;

	if (!len || *len == 0)
		return NULL;
	r = find_uva(mt, uva);
	if (!r)
		return NULL;
	off = uva - r->uva;
	avail = r->size - off;
	if (*len > avail)
		*len = avail;
	return r->host + off;
}

bool vhk_memtable_uva_range_ok(const struct vhk_memtable *mt, uint64_t uva,
			       uint64_t len)
{
	if (len == 0 || vhk_range_overflows(uva, len))
		return false;
	while (len > 0) {
		uint64_t chunk = len;

		if (!vhk_memtable_uva_to_host(mt, uva, &chunk))
			return false;
		len -= chunk;
		uva += chunk;	/* may reach 2^64 only when len hits 0 */
	}
	return true;
}

int vhk_memtable_copy_from_gpa(const struct vhk_memtable *mt, void *dst,
			       uint64_t gpa, size_t len)
{
	uint8_t *d = dst;

	if (vhk_range_overflows(gpa, len))
		return -EFAULT;
	while (len > 0) {
		uint64_t chunk = len;
		void *src = vhk_memtable_gpa_to_host(mt, gpa, &chunk);

		if (!src)
			return -EFAULT;
		memcpy(d, src, (size_t)chunk);
		d += chunk;
		gpa += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int vhk_memtable_copy_to_gpa(const struct vhk_memtable *mt, uint64_t gpa,
			     const void *src, size_t len)
{
	const uint8_t *s = src;

	if (vhk_range_overflows(gpa, len))
		return -EFAULT;
	while (len > 0) {
		uint64_t chunk = len;
		void *dst = vhk_memtable_gpa_to_host(mt, gpa, &chunk);

		if (!dst)
			return -EFAULT;
		memcpy(dst, s, (size_t)chunk);
		s += chunk;
		gpa += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int vhk_memtable_host_to_gpa(const struct vhk_memtable *mt, const void *host,
			     uint64_t *gpa, size_t *len)
{
	uintptr_t h = (uintptr_t)host;

	if (!mt)
		return -EFAULT;
	/* Linear: only used while dirty logging is on, few regions. */
	for (unsigned int i = 0; i < mt->count; i++) {
		const struct vhk_mem_region *r = &mt->regs[i];
		uintptr_t b = (uintptr_t)r->host;

		if (h < b || h - b >= r->size)
			continue;
		*gpa = r->gpa + (h - b);
		if (*len > r->size - (h - b))
			*len = (size_t)(r->size - (h - b));
		return 0;
	}
	return -EFAULT;
}
