/* SPDX-License-Identifier: MIT */
/*
 * rt_dma.c - the runtime's DMA API over the three modes (direct, iommu
 * strict or lazy, bounce).  IOTLB messages go through the protocol
 * client (client_iotlb.c), which also answers misses.
 *
 * Locking: fe->lock covers every table here (allocations, bounce slots,
 * allocators, bounce counters); the client's own lock is taken inside it
 * (never the other way round).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe_priv.h"

static uint64_t page_down(uint64_t v)
{
	return v & ~(FE_PAGE - 1);
}

static uint64_t page_up(uint64_t v)
{
	return (v + FE_PAGE - 1) & ~(FE_PAGE - 1);
}

/* Grow a dynamic array of @elem-byte items to hold one more. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static uint8_t perm_of(enum vhk_dma_dir dir)
{
	/* The device reads TO_DEVICE buffers and writes FROM_DEVICE ones. */
	switch (dir) {
	case VHK_DMA_TO_DEVICE:
		return VHK_PERM_RO;
	case VHK_DMA_FROM_DEVICE:
		return VHK_PERM_WO;
	case VHK_DMA_BIDIR:
		return VHK_PERM_RW;
	}
	return VHK_PERM_NONE;
}

/* Map [uva, uva+len) (page-aligned) at a fresh IOVA; UPDATE sent. */
static int map_new_locked(struct vhk_fe *fe, uint64_t uva, uint64_t len,
			  uint8_t perm, enum vuc_map_tag tag, uint64_t *iova)
{
	uint64_t a;
	int ret;

	ret = fe_ralloc_get(&fe->iova, len, &a);
	if (ret)
		return ret;
	ret = vuc_map_tagged(fe->c, a, len, uva, perm, tag);
	if (ret) {
		fe_ralloc_put(&fe->iova, a, len);
		return ret;
	}
	*iova = a;
	return 0;
}

/* Drop the mapping at @iova made with @tag; INVALIDATE sent. */
static int unmap_locked(struct vhk_fe *fe, uint64_t iova, uint64_t len,
			enum vuc_map_tag tag)
{
	int ret = vuc_unmap_tagged(fe->c, iova, len, tag);

	/* -ENOENT: not ours.  Other errors: gone on our side anyway. */
	if (ret != -ENOENT)
		fe_ralloc_put(&fe->iova, iova, len);
	return ret;
}

int fe_map_ring_area(struct vhk_fe *fe)
{
	int ret;

	pthread_mutex_lock(&fe->lock);
	ret = map_new_locked(fe, (uintptr_t)fe->mem_host, fe->ring_area,
			     VHK_PERM_RW, VUC_TAG_RING, &fe->ring_iova);
	pthread_mutex_unlock(&fe->lock);
	return ret;
}

/* Allocation containing [host, host+len), or NULL. */
static struct fe_alloc *alloc_find(struct vhk_fe *fe, const uint8_t *host,
				   size_t len)
{
	size_t lo = 0, hi = fe->nallocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fe->allocs[mid].host <= host)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if ((size_t)(host - fe->allocs[lo - 1].host) >=
	    fe->allocs[lo - 1].len ||
	    len > fe->allocs[lo - 1].len -
		  (size_t)(host - fe->allocs[lo - 1].host))
		return NULL;
	return &fe->allocs[lo - 1];
}

static int alloc_insert(struct vhk_fe *fe, const struct fe_alloc *a)
{
	size_t i;

	if (grow((void **)&fe->allocs, &fe->allocs_cap, fe->nallocs,
		 sizeof(*fe->allocs)))
		return -ENOMEM;
	for (i = fe->nallocs; i > 0 && fe->allocs[i - 1].host > a->host; i--)
		;
	memmove(&fe->allocs[i + 1], &fe->allocs[i],
		(fe->nallocs - i) * sizeof(*fe->allocs));
	fe->allocs[i] = *a;
	fe->nallocs++;
	return 0;
}

void *vhk_fe_alloc(struct vhk_fe *fe, size_t len)
{
	struct fe_alloc a = { 0 };
	uint64_t off;
	void *p = NULL;

	if (!fe->started || len == 0 || len > fe->mem_size)
		return NULL;
	a.len = (len + FE_ALLOC_ALIGN - 1) & ~(FE_ALLOC_ALIGN - 1);
	pthread_mutex_lock(&fe->lock);
	if (fe->mode == VHK_DMA_BOUNCE) {
		/* Private memory: the back-end never sees it. */
		if (posix_memalign(&p, FE_ALLOC_ALIGN, a.len))
			p = NULL;
	} else if (!fe_ralloc_get(&fe->heap, a.len, &off)) {
		p = fe->mem_host + off;
	}
	if (p) {
		memset(p, 0, a.len);
		a.host = p;
		if (alloc_insert(fe, &a)) {
			if (fe->mode == VHK_DMA_BOUNCE)
				free(p);
			else
				fe_ralloc_put(&fe->heap, off, a.len);
			p = NULL;
		}
	}
	pthread_mutex_unlock(&fe->lock);
	return p;
}

void vhk_fe_free(struct vhk_fe *fe, void *p)
{
	struct fe_alloc *a;
	size_t i;

	if (!p)
		return;
	pthread_mutex_lock(&fe->lock);
	a = alloc_find(fe, p, 1);
	if (!a || a->host != p) {
		pthread_mutex_unlock(&fe->lock);
		vhk_log(VHK_LOG_ERR, fe->name, "vhk_fe_free: %p not allocated",
			p);
		return;
	}
	if (a->lazy_iova)
		unmap_locked(fe, a->lazy_iova, a->lazy_len, VUC_TAG_LAZY);
	if (fe->mode == VHK_DMA_BOUNCE) {
		/* A slot still bouncing for this buffer would copy back
		 * into freed memory at unmap: drop it now (driver bug). */
		for (i = 0; i < fe->nbounces;) {
			struct fe_bounce *b = &fe->bounces[i];

			if (b->host < a->host || b->host >= a->host + a->len) {
				i++;
				continue;
			}
			vhk_log(VHK_LOG_ERR, fe->name,
				"vhk_fe_free: %p still mapped, slot dropped",
				p);
			fe_ralloc_put(&fe->pool, b->gpa, b->len);
			memmove(b, b + 1,
				(fe->nbounces - i - 1) * sizeof(*b));
			fe->nbounces--;
		}
		free(a->host);
	}
	else
		fe_ralloc_put(&fe->heap, (uint64_t)(a->host - fe->mem_host),
			      a->len);
	i = (size_t)(a - fe->allocs);
	memmove(&fe->allocs[i], &fe->allocs[i + 1],
		(fe->nallocs - i - 1) * sizeof(*fe->allocs));
	fe->nallocs--;
	pthread_mutex_unlock(&fe->lock);
}

/* Is [host, host+len) inside the shared heap (after the rings)? */
static bool in_heap(const struct vhk_fe *fe, const uint8_t *host, size_t len)
{
	const uint8_t *lo = fe->mem_host + fe->ring_area;
	const uint8_t *hi = fe->mem_host + fe->mem_size;

	return host >= lo && host < hi && len <= (size_t)(hi - host);
}

static int bounce_map_locked(struct vhk_fe *fe, uint8_t *host, size_t len,
			     enum vhk_dma_dir dir, uint64_t *dev_addr)
{
	struct fe_bounce b = { .host = host, .host_len = len, .dir = dir };
	uint8_t *slot;
	size_t i;
	int ret;

	ret = fe_ralloc_get(&fe->pool, len, &b.gpa);
	if (ret)
		return ret;
	b.len = len;
	slot = fe->mem_host + (b.gpa - FE_GPA_BASE);
	if (dir & VHK_DMA_TO_DEVICE) {
		memcpy(slot, host, len);
		fe->bounce_bytes_in += len;
	} else {
		/* Do not show the device what an earlier user left here. */
		memset(slot, 0, len);
	}
	if (grow((void **)&fe->bounces, &fe->bounces_cap, fe->nbounces,
		 sizeof(*fe->bounces))) {
		fe_ralloc_put(&fe->pool, b.gpa, len);
		return -ENOMEM;
	}
	for (i = fe->nbounces; i > 0 && fe->bounces[i - 1].gpa > b.gpa; i--)
		;
	memmove(&fe->bounces[i + 1], &fe->bounces[i],
		(fe->nbounces - i) * sizeof(*fe->bounces));
	fe->bounces[i] = b;
	fe->nbounces++;
	*dev_addr = b.gpa;
	return 0;
}

static int bounce_unmap_locked(struct vhk_fe *fe, uint8_t *host, size_t len,
			       enum vhk_dma_dir dir, uint64_t dev_addr)
{
	size_t lo = 0, hi = fe->nbounces;
	struct fe_bounce *b;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fe->bounces[mid].gpa < dev_addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= fe->nbounces || fe->bounces[lo].gpa != dev_addr)
		return -ENOENT;
	b = &fe->bounces[lo];
	if (b->host != host || b->host_len != len || b->dir != dir)
		return -EINVAL;
	if (dir & VHK_DMA_FROM_DEVICE) {
		memcpy(host, fe->mem_host + (b->gpa - FE_GPA_BASE), len);
		fe->bounce_bytes_out += len;
	}
	fe_ralloc_put(&fe->pool, b->gpa, b->len);
	memmove(b, b + 1, (fe->nbounces - lo - 1) * sizeof(*b));
	fe->nbounces--;
	return 0;
}

int vhk_fe_dma_map(struct vhk_fe *fe, void *host, size_t len,
		   enum vhk_dma_dir dir, uint64_t *dev_addr)
{
	uint8_t *h = host;
	struct fe_alloc *a;
	uint64_t uva, iova;
	int ret = 0;

	if (!fe->started || !host || len == 0 || perm_of(dir) == VHK_PERM_NONE)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	switch (fe->mode) {
	case VHK_DMA_DIRECT:
		if (!in_heap(fe, h, len)) {
			ret = -EINVAL;
			break;
		}
		*dev_addr = FE_GPA_BASE + (uint64_t)(h - fe->mem_host);
		break;
	case VHK_DMA_IOMMU:
		if (!in_heap(fe, h, len)) {
			ret = -EINVAL;
			break;
		}
		uva = (uintptr_t)h;
		if (fe->cfg.flush == VHK_IOMMU_STRICT) {
			/* One mapping per call, only the pages it touches,
			 * only the permission its direction needs. */
			ret = map_new_locked(fe, page_down(uva),
					     page_up(uva + len) - page_down(uva),
					     perm_of(dir), VUC_TAG_STRICT,
					     &iova);
			if (!ret)
				*dev_addr = iova + (uva - page_down(uva));
			break;
		}
		a = alloc_find(fe, h, len);
		if (!a) {
			ret = -EINVAL;
			break;
		}
		if (!a->lazy_iova) {
			/* Lazy: the whole allocation, once, read-write. */
			a->lazy_len = page_up(a->len);
			ret = map_new_locked(fe, (uintptr_t)a->host,
					     a->lazy_len, VHK_PERM_RW,
					     VUC_TAG_LAZY, &iova);
			if (ret) {
				a->lazy_len = 0;
				break;
			}
			a->lazy_iova = iova;
		}
		*dev_addr = a->lazy_iova + (uint64_t)(h - a->host);
		break;
	case VHK_DMA_BOUNCE:
		ret = bounce_map_locked(fe, h, len, dir, dev_addr);
		break;
	}
	pthread_mutex_unlock(&fe->lock);
	return ret;
}

int vhk_fe_dma_unmap(struct vhk_fe *fe, void *host, size_t len,
		     enum vhk_dma_dir dir, uint64_t dev_addr)
{
	uint8_t *h = host;
	uint64_t uva = (uintptr_t)host;
	int ret = 0;

	if (!fe->started || !host || len == 0 || perm_of(dir) == VHK_PERM_NONE)
		return -EINVAL;
	pthread_mutex_lock(&fe->lock);
	switch (fe->mode) {
	case VHK_DMA_DIRECT:
		if (!in_heap(fe, h, len) ||
		    dev_addr != FE_GPA_BASE + (uint64_t)(h - fe->mem_host))
			ret = -ENOENT;
		break;
	case VHK_DMA_IOMMU:
		if (fe->cfg.flush == VHK_IOMMU_STRICT) {
			if (page_down(dev_addr) + (uva - page_down(uva)) !=
			    dev_addr) {
				ret = -ENOENT;
				break;
			}
			ret = unmap_locked(fe, page_down(dev_addr),
					   page_up(uva + len) - page_down(uva),
					   VUC_TAG_STRICT);
		} else if (!alloc_find(fe, h, len)) {
			ret = -ENOENT;
		}
		/* Lazy: the mapping lives until vhk_fe_free(). */
		break;
	case VHK_DMA_BOUNCE:
		ret = bounce_unmap_locked(fe, h, len, dir, dev_addr);
		break;
	}
	pthread_mutex_unlock(&fe->lock);
	return ret;
}

void fe_dma_free_all(struct vhk_fe *fe)
{
	if (fe->mode == VHK_DMA_BOUNCE) {
		for (size_t i = 0; i < fe->nallocs; i++)
			free(fe->allocs[i].host);
	}
	free(fe->allocs);
	free(fe->bounces);
	fe->allocs = NULL;
	fe->bounces = NULL;
	fe->nallocs = fe->nbounces = 0;
	fe_ralloc_destroy(&fe->heap);
	fe_ralloc_destroy(&fe->pool);
	fe_ralloc_destroy(&fe->iova);
}

int vhk_fe_poll(struct vhk_fe *fe, int timeout_ms)
{
	return vhk_vuc_poll(fe->c, timeout_ms);
}
