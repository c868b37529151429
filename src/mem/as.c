/* SPDX-License-Identifier: MIT */
/*
 * as.c - a device's address space: the one translate entry point
 * (docs/translation-model.md).  Which mode a device runs in is the
 * back-end's decision (src/vhost-user/mode.c).
 */
#include <errno.h>
#include <string.h>

#include "vhostkit/as.h"
#include "vhostkit/features.h"

static const char *const mode_names[] = {
	[VHK_AS_GPA] = "gpa",
	[VHK_AS_PLATFORM_IDENTITY] = "platform-identity",
	[VHK_AS_IOTLB] = "iotlb",
};

const char *vhk_as_mode_name(enum vhk_as_mode mode)
{
	if ((unsigned int)mode >= VHK_ARRAY_SIZE(mode_names))
		return "unknown";
	return mode_names[mode];
}

int vhk_as_mode_parse(const char *s, enum vhk_as_mode *mode)
{
	if (!s || !mode)
		return -EINVAL;
	for (unsigned int i = 0; i < VHK_ARRAY_SIZE(mode_names); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum vhk_as_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool perm_ok(uint8_t perm)
{
	return perm == VHK_PERM_RO || perm == VHK_PERM_WO ||
	       perm == VHK_PERM_RW;
}

/*
 * Remember where [cache->iova, cache->last] (the IOTLB entry just hit)
 * lands in host memory, clamped to the memory region that holds @iova, so
 * the next access in that window needs no search at all.
 */
static void fill_window(struct vhk_as *as, struct vhk_iotlb_cache *cache,
			uint64_t iova, uint64_t uva, uint8_t *host)
{
	uint64_t start = cache->iova, len = cache->last - cache->iova + 1;
	uint64_t s_uva = cache->uva;
	uint8_t *p;

	/* Prefer the whole entry if its first byte is in @iova's region. */
	p = vhk_memtable_uva_to_host(as->mt, s_uva, &len);
	if (!p || start + (len - 1) < iova ||
	    (uintptr_t)p + (uva - s_uva) != (uintptr_t)host) {
		start = iova;
		len = cache->last - iova + 1;
		p = vhk_memtable_uva_to_host(as->mt, uva, &len);
		if (!p)
			return;
	}
	cache->win_iova = start;
	cache->win_last = start + (len - 1);
	cache->win_host = p;
	/*
	 * The window keeps its own permission: cache->perm follows whatever
	 * entry vhk_iotlb_lookup() saw last, which may be a different entry
	 * than the window's if a later translation failed past the lookup.
	 */
	cache->win_perm = cache->perm;
	cache->win_tlb_gen = vhk_iotlb_generation(as->iotlb);
	cache->win_mt_gen = vhk_memtable_generation(as->mt);
}

/* IOVA -> UVA -> host, the prefix being the shorter of entry and region. */
static int translate_iotlb(struct vhk_as *as, uint64_t iova, uint64_t *len,
			   uint8_t perm, void **host,
			   struct vhk_iotlb_cache *cache)
{
	uint64_t uva, l = *len;
	void *p;
	int ret;

	if (!as->iotlb)
		return -EFAULT;
	if (cache && cache->win_tlb_gen &&
	    iova >= cache->win_iova && iova <= cache->win_last &&
	    (cache->win_perm & perm) == perm &&
	    cache->win_tlb_gen == vhk_iotlb_generation(as->iotlb) &&
	    cache->win_mt_gen == vhk_memtable_generation(as->mt)) {
		uint64_t avail = cache->win_last - iova + 1;

		if (avail != 0 && *len > avail)
			*len = avail;
		*host = cache->win_host + (iova - cache->win_iova);
		if (cache->ctr)
			vhk_stat_add(&cache->ctr->hits, 1);
		return 0;
	}
	ret = vhk_iotlb_lookup(as->iotlb, iova, perm, &uva, &l, cache);
	if (ret == -ENOENT) {
		if (cache && cache->ctr)
			vhk_stat_add(&cache->ctr->misses, 1);
		/* A queue records its misses in its own cache: translating
		 * never writes the shared IOTLB, so queues run in parallel
		 * (the shared record is for callers without a queue). */
		if (cache)
			ret = vhk_iotlb_qmiss_note(cache, iova, perm,
						   vhk_now_ns());
		else
			ret = vhk_iotlb_miss_note(as->iotlb, iova, perm,
						  vhk_now_ns());
		if (ret == 1 && as->miss_fn)
			as->miss_fn(as->miss_opaque, iova, perm);
		/*
		 * -ENOSPC (too many misses outstanding) also parks the
		 * queue: the oldest-miss timeout reports the front-end.
		 */
		return -EAGAIN;
	}
	if (ret) {
		if (ret == -EACCES && cache && cache->ctr)
			vhk_stat_add(&cache->ctr->denied, 1);
		return ret;
	}
	if (cache && cache->ctr)
		vhk_stat_add(&cache->ctr->hits, 1);
	p = vhk_memtable_uva_to_host(as->mt, uva, &l);
	if (!p)
		return -EFAULT;
	if (cache && cache->gen)
		fill_window(as, cache, iova, uva, p);
	*len = l;
	*host = p;
	return 0;
}

int vhk_as_translate(struct vhk_as *as, uint64_t addr, uint64_t *len,
		     uint8_t perm, void **host, struct vhk_iotlb_cache *cache)
{
	void *p;

	if (!as || !len || !host || *len == 0 || !perm_ok(perm))
		return -EINVAL;
	if (vhk_range_overflows(addr, *len))
		return -EFAULT;

	switch (as->mode) {
	case VHK_AS_GPA:
	case VHK_AS_PLATFORM_IDENTITY:
		/* Platform-identity: the platform's translation is 1:1. */
		p = vhk_memtable_gpa_to_host(as->mt, addr, len);
		if (!p)
			return -EFAULT;
		*host = p;
		return 0;
	case VHK_AS_IOTLB:
		return translate_iotlb(as, addr, len, perm, host, cache);
	}
	return -EINVAL;
}

int vhk_as_translate_ring(struct vhk_as *as, uint64_t addr, uint64_t size,
			  uint8_t perm, void **host,
			  struct vhk_iotlb_cache *cache)
{
	uint64_t len = size;
	void *p;
	int ret;

	if (!as || !host || size == 0 || !perm_ok(perm))
		return -EINVAL;
	if (vhk_range_overflows(addr, size))
		return -EFAULT;

	switch (as->mode) {
	case VHK_AS_PLATFORM_IDENTITY:
		if (as->ring_gpa) {
			/* IOVA = GPA: the platform translation is 1:1. */
			p = vhk_memtable_gpa_to_host(as->mt, addr, &len);
			if (!p)
				return -EFAULT;
			break;
		}
		__attribute__((fallthrough));
	case VHK_AS_GPA:
		/* vhost-user ring addresses are front-end UVAs here. */
		p = vhk_memtable_uva_to_host(as->mt, addr, &len);
		if (!p)
			return -EFAULT;
		break;
	case VHK_AS_IOTLB:
		ret = translate_iotlb(as, addr, &len, perm, &p, cache);
		if (ret)
			return ret;
		break;
	default:
		return -EINVAL;
	}
	/* A ring must be contiguous: no straddling regions or entries. */
	if (len < size)
		return -EFAULT;
	*host = p;
	return 0;
}

int vhk_as_pick_ring_reading(struct vhk_as *as, const uint64_t *addrs,
			     unsigned int n, const char **why)
{
	bool uva = true, gpa = true;

	if (!as || !addrs || as->mode != VHK_AS_PLATFORM_IDENTITY)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t l = 1;

		if (!vhk_memtable_uva_to_host(as->mt, addrs[i], &l))
			uva = false;
		l = 1;
		if (!vhk_memtable_gpa_to_host(as->mt, addrs[i], &l))
			gpa = false;
	}
	if (uva) {
		as->ring_gpa = false;
		if (why)
			*why = "ring addresses read as front-end virtual "
			       "addresses";
		return 0;
	}
	if (gpa) {
		as->ring_gpa = true;
		if (why)
			*why = "ring addresses read as guest-physical "
			       "(IOVA = GPA under an identity platform "
			       "translation)";
		return 0;
	}
	if (why)
		*why = "ring addresses are neither front-end virtual nor "
		       "guest-physical addresses of the memory table";
	return -EFAULT;
}

int vhk_as_copy_from(struct vhk_as *as, void *dst, uint64_t addr, size_t len,
		     struct vhk_iotlb_cache *cache)
{
	uint8_t *d = dst;

	while (len > 0) {
		uint64_t chunk = len;
		void *src;
		int ret = vhk_as_translate(as, addr, &chunk, VHK_PERM_RO, &src,
					   cache);

		if (ret)
			return ret;
		memcpy(d, src, (size_t)chunk);
		d += chunk;
		addr += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int vhk_as_copy_to(struct vhk_as *as, uint64_t addr, const void *src,
		   size_t len, struct vhk_iotlb_cache *cache)
{
	const uint8_t *s = src;

	while (len > 0) {
		uint64_t chunk = len;
		void *dst;
		int ret = vhk_as_translate(as, addr, &chunk, VHK_PERM_WO, &dst,
					   cache);

		if (ret)
			return ret;
		memcpy(dst, s, (size_t)chunk);
		s += chunk;
		addr += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int vhk_as_iotlb_update(struct vhk_as *as, uint64_t iova, uint64_t size,
			uint64_t uva, uint8_t perm)
{
	if (!as || !as->iotlb)
		return -EINVAL;
	/* vhost-user: UPDATE of size 0 or with a wrapping range is invalid. */
	if (size == 0 || vhk_range_overflows(iova, size) ||
	    vhk_range_overflows(uva, size) || !perm_ok(perm))
		return -EINVAL;
	if (!vhk_memtable_uva_range_ok(as->mt, uva, size))
		return -EFAULT;
	return vhk_iotlb_update(as->iotlb, iova, size, uva, perm);
}

void vhk_dirty_log_mark(uint8_t *log, uint64_t log_size, uint64_t gpa,
			uint64_t len)
{
	uint64_t first, last;

	if (!log || len == 0)
		return;
	first = gpa / VHK_LOG_PAGE;
	last = (gpa + (len - 1)) / VHK_LOG_PAGE;
	if (gpa + (len - 1) < gpa)
		last = UINT64_MAX / VHK_LOG_PAGE;
	for (uint64_t pg = first; pg <= last; pg++) {
		/* Pages beyond the log: the front-end sized it for its
		 * memory; nothing to mark (SET_LOG_BASE checked the size). */
		if (pg / 8 >= log_size)
			break;
		/* Atomic OR: other queues' threads and the front-end's
		 * harvest (read-and-clear) touch the same bytes. */
		__atomic_fetch_or(&log[pg / 8], (uint8_t)(1u << (pg % 8)),
				  __ATOMIC_RELAXED);
	}
}

void vhk_as_log_write(const struct vhk_as *as, const void *host, size_t len)
{
	const uint8_t *h = host;

	if (!as || !__atomic_load_n(&as->log_on, __ATOMIC_RELAXED) || !as->log)
		return;
	while (len) {
		uint64_t gpa;
		size_t n = len;

		if (vhk_memtable_host_to_gpa(as->mt, h, &gpa, &n) < 0)
			return;	/* not guest memory (cannot happen) */
		vhk_dirty_log_mark(as->log, as->log_size, gpa, n);
		h += n;
		len -= n;
	}
}
