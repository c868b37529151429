/* SPDX-License-Identifier: MIT */
/*
 * dma.c - the driver's DMA API over the three modes (direct, iommu strict
 * or lazy, bounce), the IOTLB provider (UPDATE/INVALIDATE on the main
 * socket, MISS answered from the back-end channel) and the miss thread.
 *
 * Locking: fe->lock covers the main socket and every table here
 * (allocations, mappings, bounce slots, allocators, stats).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fe_priv.h"

static struct vhk_ratelimit miss_rl = VHK_RATELIMIT_INIT;

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

int fe_iotlb_send_locked(struct vhk_fe *fe, uint8_t type, uint64_t iova,
			 uint64_t size, uint64_t uva, uint8_t perm)
{
	struct vhk_vu_iotlb m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.iova = iova;
	m.size = size;
	m.uaddr = uva;
	m.perm = perm;
	m.type = type;
	/* NEED_REPLY: the back-end has the entry once we return. */
	ret = fe_send_ack_locked(fe, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	if (ret)
		return ret;
	if (type == VHK_VU_IOTLB_UPDATE)
		fe->stats.iotlb_updates_sent++;
	else if (type == VHK_VU_IOTLB_INVALIDATE)
		fe->stats.iotlb_invalidates_sent++;
	return 0;
}

/* Index of the first mapping with iova >= @iova. */
static size_t maps_lower(const struct vhk_fe *fe, uint64_t iova)
{
	size_t lo = 0, hi = fe->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fe->maps[mid].iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int fe_maps_insert(struct vhk_fe *fe, const struct fe_map *m)
{
	size_t i;

	if (grow((void **)&fe->maps, &fe->maps_cap, fe->nmaps,
		 sizeof(*fe->maps)))
		return -ENOMEM;
	i = maps_lower(fe, m->iova);
	memmove(&fe->maps[i + 1], &fe->maps[i],
		(fe->nmaps - i) * sizeof(*fe->maps));
	fe->maps[i] = *m;
	fe->nmaps++;
	return 0;
}

static void maps_remove_at(struct vhk_fe *fe, size_t i)
{
	memmove(&fe->maps[i], &fe->maps[i + 1],
		(fe->nmaps - i - 1) * sizeof(*fe->maps));
	fe->nmaps--;
}

struct fe_map *fe_maps_find(struct vhk_fe *fe, uint64_t iova, uint8_t perm)
{
	size_t i = maps_lower(fe, iova + 1);
	struct fe_map *m;

	/* maps[i - 1] is the last mapping starting at or below @iova. */
	if (i == 0)
		return NULL;
	m = &fe->maps[i - 1];
	if (iova - m->iova >= m->len || (m->perm & perm) != perm)
		return NULL;
	return m;
}

/* Map [uva, uva+len) (page-aligned) at a fresh IOVA; UPDATE sent. */
static int map_new_locked(struct vhk_fe *fe, uint64_t uva, uint64_t len,
			  uint8_t perm, enum fe_map_kind kind, uint64_t *iova)
{
	struct fe_map m = { .uva = uva, .len = len, .perm = perm,
			    .kind = kind };
	int ret;

	ret = fe_ralloc_get(&fe->iova, len, &m.iova);
	if (ret)
		return ret;
	ret = fe_maps_insert(fe, &m);
	if (ret)
		goto put;
	ret = fe_iotlb_send_locked(fe, VHK_VU_IOTLB_UPDATE, m.iova, len, uva,
				   perm);
	if (ret) {
		maps_remove_at(fe, maps_lower(fe, m.iova));
		goto put;
	}
	*iova = m.iova;
	return 0;
put:
	fe_ralloc_put(&fe->iova, m.iova, len);
	return ret;
}

/* Drop the mapping at @iova of @kind; INVALIDATE sent. */
static int unmap_locked(struct vhk_fe *fe, uint64_t iova, uint64_t len,
			enum fe_map_kind kind)
{
	size_t i = maps_lower(fe, iova);
	int ret;

	if (i >= fe->nmaps || fe->maps[i].iova != iova ||
	    fe->maps[i].len != len || fe->maps[i].kind != kind)
		return -ENOENT;
	maps_remove_at(fe, i);
	fe_ralloc_put(&fe->iova, iova, len);
	/*
	 * Even if the message fails (connection lost), the mapping is gone
	 * on our side: a reconnect re-sends only live mappings.
	 */
	ret = fe_iotlb_send_locked(fe, VHK_VU_IOTLB_INVALIDATE, iova, len, 0,
				   VHK_PERM_NONE);
	return ret;
}

int fe_map_ring_area(struct vhk_fe *fe)
{
	int ret;

	pthread_mutex_lock(&fe->lock);
	ret = map_new_locked(fe, (uintptr_t)fe->mem_host, fe->ring_area,
			     VHK_PERM_RW, FE_MAP_RING, &fe->ring_iova);
	pthread_mutex_unlock(&fe->lock);
	return ret;
}

int fe_resend_mappings(struct vhk_fe *fe)
{
	int ret = 0;

	pthread_mutex_lock(&fe->lock);
	for (size_t i = 0; i < fe->nmaps && !ret; i++) {
		const struct fe_map *m = &fe->maps[i];

		ret = fe_iotlb_send_locked(fe, VHK_VU_IOTLB_UPDATE, m->iova,
					   m->len, m->uva, m->perm);
	}
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
		unmap_locked(fe, a->lazy_iova, a->lazy_len, FE_MAP_LAZY);
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
		fe->stats.bounce_bytes_in += len;
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
		fe->stats.bounce_bytes_out += len;
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
					     perm_of(dir), FE_MAP_STRICT,
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
					     FE_MAP_LAZY, &iova);
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
					   FE_MAP_STRICT);
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
	free(fe->maps);
	free(fe->bounces);
	fe->allocs = NULL;
	fe->maps = NULL;
	fe->bounces = NULL;
	fe->nallocs = fe->nmaps = fe->nbounces = 0;
	fe_ralloc_destroy(&fe->heap);
	fe_ralloc_destroy(&fe->pool);
	fe_ralloc_destroy(&fe->iova);
}

/* Reply on the back-end channel (REPLY_ACK semantics: 0 = success). */
static int chan_reply(struct vhk_fe *fe, const struct vhk_vu_msg *req,
		      uint64_t val)
{
	struct vhk_vu_msg r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.hdr.request = req->hdr.request;
	r.hdr.flags = VHK_VU_VERSION | VHK_VU_FLAG_REPLY;
	r.hdr.size = sizeof(uint64_t);
	r.payload.u64 = val;
	pthread_mutex_lock(&fe->chan_lock);
	ret = vhk_vu_send(fe->chan_fd, &r, NULL, 0);
	pthread_mutex_unlock(&fe->chan_lock);
	return ret;
}

static void serve_miss(struct vhk_fe *fe, const struct vhk_vu_iotlb *in)
{
	struct fe_map *m;
	uint8_t perm = in->perm & VHK_PERM_RW;

	pthread_mutex_lock(&fe->lock);
	m = perm ? fe_maps_find(fe, in->iova, perm) : NULL;
	if (m && fe_iotlb_send_locked(fe, VHK_VU_IOTLB_UPDATE, m->iova,
				      m->len, m->uva, m->perm) == 0) {
		fe->stats.misses_served++;
	} else if (!m) {
		fe->stats.misses_unmapped++;
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, fe->name,
				    "IOTLB miss for unmapped iova 0x%llx perm %u",
				    (unsigned long long)in->iova, in->perm);
	}
	pthread_mutex_unlock(&fe->lock);
}

int fe_serve_channel_msg(struct vhk_fe *fe)
{
	struct vhk_vu_msg msg;
	int fds[VHK_VU_MAX_FDS];
	unsigned int nfds = 0;
	bool need;
	int ret;

	if (fe->chan_fd < 0)
		return -EBADF;
	ret = vhk_vu_recv(fe->chan_fd, &msg, fds, &nfds, VHK_VU_MAX_FDS);
	if (ret)
		return ret;
	/* We use none of the fds a back-end may send (host notifiers). */
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	need = msg.hdr.flags & VHK_VU_FLAG_NEED_REPLY;
	if (msg.hdr.request == VHK_VU_BACKEND_IOTLB_MSG &&
	    msg.hdr.size == sizeof(struct vhk_vu_iotlb) &&
	    msg.payload.iotlb.type == VHK_VU_IOTLB_MISS) {
		/*
		 * Ack on the channel first, then UPDATE on the main socket:
		 * a back-end that waits for the ack must not wait on us
		 * while we wait for its reply to the UPDATE.
		 */
		struct vhk_vu_iotlb miss;

		memcpy(&miss, &msg.payload.iotlb, sizeof(miss));
		if (need)
			chan_reply(fe, &msg, 0);
		serve_miss(fe, &miss);
		return 1;
	}
	switch (msg.hdr.request) {
	case VHK_VU_BACKEND_IOTLB_MSG:
		/* Not a well-formed MISS: nothing else is ours to serve. */
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, fe->name,
				    "malformed back-end IOTLB message (size %u)",
				    msg.hdr.size);
		if (need)
			chan_reply(fe, &msg, 1);
		break;
	case VHK_VU_BACKEND_CONFIG_CHANGE_MSG:
	case VHK_VU_BACKEND_VRING_CALL:
	case VHK_VU_BACKEND_VRING_ERR:
		if (need)
			chan_reply(fe, &msg, 0);
		break;
	default:
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, fe->name,
				    "back-end request %s (%u) not supported",
				    vhk_vu_backend_request_name(msg.hdr.request),
				    msg.hdr.request);
		if (need)
			chan_reply(fe, &msg, 1);
		break;
	}
	return 1;
}

int vhk_fe_poll(struct vhk_fe *fe, int timeout_ms)
{
	int served = 0;

	if (fe->chan_fd < 0)
		return 0;
	for (;;) {
		struct pollfd p = { .fd = fe->chan_fd, .events = POLLIN };
		int n = poll(&p, 1, served ? 0 : timeout_ms), ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return served;
		ret = fe_serve_channel_msg(fe);
		if (ret < 0)
			return served ? served : ret;
		served++;
	}
}

static void *miss_thread_main(void *arg)
{
	struct vhk_fe *fe = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fe->stop_efd, .events = POLLIN },
			{ .fd = fe->chan_fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents && fe_serve_channel_msg(fe) < 0)
			break;	/* channel closed: the back-end went away */
	}
	return NULL;
}

int fe_start_miss_thread(struct vhk_fe *fe)
{
	int ret;

	if (fe->miss_thread_on || fe->chan_fd < 0)
		return 0;
	if (fe->stop_efd < 0) {
		fe->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fe->stop_efd < 0)
			return -errno;
	}
	ret = pthread_create(&fe->miss_thread, NULL, miss_thread_main, fe);
	if (ret)
		return -ret;
	fe->miss_thread_on = true;
	return 0;
}

void fe_stop_miss_thread(struct vhk_fe *fe)
{
	uint64_t one = 1;

	if (fe->miss_thread_on) {
		/* Wake it, also out of a blocked read of the channel. */
		if (fe->chan_fd >= 0)
			shutdown(fe->chan_fd, SHUT_RDWR);
		if (write(fe->stop_efd, &one, sizeof(one)) < 0)
			vhk_log(VHK_LOG_WARN, fe->name, "miss thread wake-up");
		pthread_join(fe->miss_thread, NULL);
		fe->miss_thread_on = false;
		if (read(fe->stop_efd, &one, sizeof(one)) < 0)
			one = 0;
	}
	if (fe->stop_efd >= 0) {
		close(fe->stop_efd);
		fe->stop_efd = -1;
	}
}
