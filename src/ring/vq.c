/* SPDX-License-Identifier: MIT */
/*
 * vq.c - device-side virtqueue lifecycle and the layout-independent half of
 * pop / push / flush; the split and packed halves live in vq_split.c and
 * vq_packed.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vhostkit/features.h"
#include "vhostkit/ring_ctl.h"
#include "ring/vq_priv.h"

int vhk_vq_new(struct vhk_vq **out)
{
	struct vhk_vq *vq = calloc(1, sizeof(*vq));

	if (!vq)
		return -ENOMEM;
	vq->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	snprintf(vq->name, sizeof(vq->name), "vq");
	*out = vq;
	return 0;
}

void vhk_vq_free(struct vhk_vq *vq)
{
	if (!vq)
		return;
	vhk_vq_stop(vq);
	free(vq->pop_ns);
	free(vq->ind_buf);
	free(vq);
}

int vhk_vq_fail(struct vhk_vq *vq, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!vq->broken)
		vhk_log_ratelimited(&vq->rl, VHK_LOG_ERR, vq->name,
				    "queue broken (%d): %s", err, msg);
	vq->broken = true;
	return err;
}

/* Translate one ring area; the whole area must be contiguous. */
static int map_area(struct vhk_vq *vq, uint64_t addr, uint64_t size,
		    uint8_t perm, void **host)
{
	int r = vhk_as_translate_ring(vq->as, addr, size, perm, host,
				       &vq->tlb_cache);

	if (r == -EAGAIN)
		vhk_log(VHK_LOG_DEBUG, vq->name,
			"ring area 0x%llx+%llu: IOTLB miss, waiting for UPDATE",
			(unsigned long long)addr, (unsigned long long)size);
	else if (r < 0)
		vhk_log_ratelimited(&vq->rl, VHK_LOG_ERR, vq->name,
				    "ring area 0x%llx+%llu not mapped (%d)",
				    (unsigned long long)addr,
				    (unsigned long long)size, r);
	return r;
}

/*
 * VHOST_VRING_F_LOG: where the device area's stores are logged.  gpa and
 * platform-identity mode: log_guest_addr is a guest-physical address,
 * used as it is.  iotlb mode: it is an I/O virtual address like the ring
 * addresses (QEMU passes the device area's DMA address and itself reads
 * the log at the GPA the vIOMMU translates it to): it goes through the
 * IOTLB here, and each store is marked at the GPA of log_host + offset.
 */
static int map_log(struct vhk_vq *vq, void *dev_host, uint64_t sz_dev)
{
	void *lh = dev_host;
	int r = 0;

	vq->dev_size = sz_dev;
	vq->log_direct = vq->as->mode != VHK_AS_IOTLB;
	if (!vq->log_direct && vq->log_addr != vq->addrs.device)
		r = map_area(vq, vq->log_addr, sz_dev, VHK_PERM_WO, &lh);
	vq->log_host = r ? NULL : lh;
	return r;
}

void vq_log_used(const struct vhk_vq *vq, uint64_t off, size_t len)
{
	if (vq->log_direct)
		vhk_dirty_log_mark(vq->as->log, vq->as->log_size,
				   vq->log_addr + off, len);
	else if (vq->log_host)
		vhk_as_log_write(vq->as, vq->log_host + off, len);
}

static int map_rings(struct vhk_vq *vq)
{
	uint64_t sz_desc, sz_drv, sz_dev;
	void *d, *a, *u;
	int r;

	vq->mapped = false;
	if (vq->as->mode == VHK_AS_IOTLB && vq->as->iotlb)
		vq->ring_gen = vhk_iotlb_generation(vq->as->iotlb);
	if (vq->packed) {
		sz_desc = 16ull * vq->num;
		sz_drv = sizeof(struct vhk_vring_packed_event);
		sz_dev = sizeof(struct vhk_vring_packed_event);
		/* The device writes used descriptors into the ring. */
		r = map_area(vq, vq->addrs.desc, sz_desc, VHK_PERM_RW, &d);
		if (!r)
			r = map_area(vq, vq->addrs.driver, sz_drv, VHK_PERM_RO,
				     &a);
		if (!r)
			r = map_area(vq, vq->addrs.device, sz_dev, VHK_PERM_WO,
				     &u);
	} else {
		sz_desc = vhk_split_desc_size(vq->num);
		sz_drv = vhk_split_avail_size(vq->num);
		sz_dev = vhk_split_used_size(vq->num);
		if (!vq->event_idx) {	/* no used_event / avail_event word */
			sz_drv -= 2;
			sz_dev -= 2;
		}
		r = map_area(vq, vq->addrs.desc, sz_desc, VHK_PERM_RO, &d);
		if (!r)
			r = map_area(vq, vq->addrs.driver, sz_drv, VHK_PERM_RO,
				     &a);
		/* RW: the device reads used->idx when it starts. */
		if (!r)
			r = map_area(vq, vq->addrs.device, sz_dev, VHK_PERM_RW,
				     &u);
	}
	if (!r && vq->log_used)
		r = map_log(vq, u, sz_dev);
	if (r < 0)
		return r;
	/*
	 * The addresses were checked against the alignment table at start;
	 * the host pointers they translate to must be aligned as well, or
	 * the index and flag atomics are undefined behaviour (a fault on
	 * strict-alignment hosts).  A region with an odd mmap offset or an
	 * IOTLB entry whose uaddr is not congruent to its iova does that.
	 */
	if ((uintptr_t)d % (vq->packed ? VHK_PACKED_DESC_ALIGN :
					 VHK_SPLIT_DESC_ALIGN) ||
	    (uintptr_t)a % (vq->packed ? VHK_PACKED_EVENT_ALIGN :
					 VHK_SPLIT_AVAIL_ALIGN) ||
	    (uintptr_t)u % (vq->packed ? VHK_PACKED_EVENT_ALIGN :
					 VHK_SPLIT_USED_ALIGN)) {
		vhk_log_ratelimited(&vq->rl, VHK_LOG_ERR, vq->name,
				    "ring host addresses misaligned (%p %p %p): the memory table or IOTLB maps aligned ring addresses to odd host addresses",
				    d, a, u);
		return -EINVAL;
	}
	vq->split_desc = d;
	vq->avail = a;
	vq->used = u;
	vq->mapped = true;
	return 0;
}

/*
 * vq_ensure_mapped - the ring pointers are usable: re-translate if the
 * IOTLB dropped or shrank a mapping since they were taken (never keep a
 * host pointer across a table change).
 */
int vq_ensure_mapped(struct vhk_vq *vq)
{
	int r;

	if (vq->mapped && vq->as->mode == VHK_AS_IOTLB && vq->as->iotlb &&
	    vhk_iotlb_generation(vq->as->iotlb) != vq->ring_gen)
		vq->mapped = false;
	if (vq->mapped)
		return 0;
	r = map_rings(vq);
	if (r < 0)
		return r;
	/* A start that was waiting for its rings finishes here. */
	if (!vq->layout_ready)
		return vq->packed ? vq_packed_start(vq) : vq_split_start(vq);
	return 0;
}

int vhk_vq_start(struct vhk_vq *vq, struct vhk_as *as,
		 const struct vhk_vq_params *p)
{
	uint16_t num = p->num;
	bool packed = vhk_has_feature(p->features, VHK_F_RING_PACKED);
	int r;

	if (vq->started)
		vhk_vq_stop(vq);
	vq->broken = false;
	if (p->name)
		snprintf(vq->name, sizeof(vq->name), "%s", p->name);
	if (!as)
		return -EINVAL;
	/* VIRTIO 1.2, 2.7 / 2.8: queue size 1..32768; split: a power of 2. */
	if (num == 0 || num > VHK_VQ_MAX_SIZE)
		return -EINVAL;
	if (!packed && (num & (num - 1)))
		return -EINVAL;
	/* VIRTIO 1.2, 2.7 / 2.8.10.1 alignment table. */
	if (packed) {
		if (p->addrs.desc % VHK_PACKED_DESC_ALIGN ||
		    p->addrs.driver % VHK_PACKED_EVENT_ALIGN ||
		    p->addrs.device % VHK_PACKED_EVENT_ALIGN)
			return -EINVAL;
		/* vhost-user encoding: bits 0-14 slot, bit 15 wrap counter */
		if ((p->avail_base & 0x7fff) >= num ||
		    (p->used_base_valid && (p->used_base & 0x7fff) >= num))
			return -EINVAL;
	} else {
		if (p->addrs.desc % VHK_SPLIT_DESC_ALIGN ||
		    p->addrs.driver % VHK_SPLIT_AVAIL_ALIGN ||
		    p->addrs.device % VHK_SPLIT_USED_ALIGN)
			return -EINVAL;
	}
	/* The log address covers the device area: it must not wrap. */
	if (p->log_used &&
	    vhk_range_overflows(p->log_addr, packed ?
				sizeof(struct vhk_vring_packed_event) :
				vhk_split_used_size(num)))
		return -EINVAL;
	vq->pending = calloc(num, sizeof(*vq->pending));
	vq->order = calloc(num, sizeof(*vq->order));
	free(vq->pop_ns);
	vq->pop_ns = calloc(num, sizeof(*vq->pop_ns));
	if (!vq->pending || !vq->order) {
		free(vq->pending);
		free(vq->order);
		vq->pending = NULL;
		vq->order = NULL;
		return -ENOMEM;
	}
	vq->order_head = 0;
	vq->order_count = 0;
	vq->npending = 0;
	vq->avail_pops = 0;
	vq->as = as;
	vq->num = num;
	vq->packed = packed;
	vq->features = p->features;
	vq->event_idx = vhk_has_feature(p->features, VHK_F_EVENT_IDX);
	vq->indirect = vhk_has_feature(p->features, VHK_F_INDIRECT_DESC);
	vq->batch_used = packed && vhk_has_feature(p->features, VHK_F_IN_ORDER);
	vq->addrs = p->addrs;
	vq->log_used = p->log_used;
	vq->log_addr = p->log_addr;
	vq->log_host = NULL;
	vq->max_iov = p->max_iov ? p->max_iov : VHK_VQ_DEFAULT_MAX_IOV;
	memset(&vq->tlb_cache, 0, sizeof(vq->tlb_cache));
	vq->tlb_cache.ctr = &vq->qs.iotlb;
	vq->notify_enabled = true;
	vq->signalled_valid = false;
	vq->notify_owed = false;
	memset(&vq->stats, 0, sizeof(vq->stats));
	if (packed) {
		uint16_t ub = p->used_base_valid ? p->used_base : p->avail_base;

		vq->avail_slot = p->avail_base & 0x7fff;
		vq->avail_wrap = p->avail_base >> 15;
		vq->used_slot = ub & 0x7fff;
		vq->used_wrap = ub >> 15;
	} else {
		vq->last_avail = p->avail_base;
		vq->shadow_avail = p->avail_base;
	}
	vq->started = true;
	vq->layout_ready = false;
	vq->mapped = false;

	r = vq_ensure_mapped(vq);
	if (r == -EAGAIN && !vq->mapped)
		return r;	/* started, rings pending an UPDATE */
	if (r < 0)
		goto fail;
	vhk_log(VHK_LOG_DEBUG, vq->name, "started: %s ring, %u entries, %s",
		packed ? "packed" : "split", num, vhk_as_mode_name(as->mode));
	return 0;
fail:
	vhk_vq_stop(vq);
	return r;
}

void vhk_vq_stop(struct vhk_vq *vq)
{
	if (!vq->started)
		return;
	vq_inflight_stop(vq);
	vq_pinflight_stop(vq);
	free(vq->pending);
	vq->pending = NULL;
	free(vq->order);
	vq->order = NULL;
	free(vq->pop_ns);
	vq->pop_ns = NULL;
	vq->npending = 0;
	/* Chains in flight now are never pushed (push after stop is a
	 * no-op): count them as forgotten so "in flight" returns to 0. */
	vhk_stat_add(&vq->qs.forgotten, vhk_queue_stats_inflight(&vq->qs));
	vq->started = false;
	vq->mapped = false;
	vq->split_desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
}

bool vhk_vq_started(const struct vhk_vq *vq)
{
	return vq->started;
}

uint32_t vhk_vq_base(const struct vhk_vq *vq)
{
	if (vq->packed)
		return (uint32_t)(vq->avail_slot | (uint16_t)vq->avail_wrap << 15) |
		       (uint32_t)(vq->used_slot | (uint16_t)vq->used_wrap << 15)
		       << 16;
	return vq->last_avail;
}

int vhk_vq_remap(struct vhk_vq *vq)
{
	if (!vq->started)
		return -EINVAL;
	/* Cached translations go; the queue's outstanding misses stay. */
	vhk_iotlb_cache_invalidate(&vq->tlb_cache);
	vq->mapped = false;
	return vq_ensure_mapped(vq);
}

/* Bookkeeping of @n chains just popped into @c[] at time @now: counters,
 * pop times (latency, unless untimed), pop order (batch_used). */
static void note_popped(struct vhk_vq *vq, struct vhk_chain *c,
			unsigned int n, uint64_t now)
{
	const struct vhk_as *as = vq->as;
	uint64_t *pop_ns = vq->pop_ns;
	unsigned int num = vq->num;

	vq->stats.popped += n;
	vhk_stat_add(&vq->qs.popped, n);
	for (unsigned int i = 0; i < n; i++)
		c[i].as = as;
	if (pop_ns)
		for (unsigned int i = 0; i < n; i++)
			if (c[i].id < num)
				pop_ns[c[i].id] = now;
	if (vq->batch_used) {
		uint16_t *order = vq->order;
		unsigned int head = vq->order_head, cnt = vq->order_count;

		for (unsigned int i = 0; i < n && cnt < num; i++) {
			unsigned int o = head + cnt++;

			order[o < num ? o : o - num] = c[i].id;
		}
		vq->order_count = cnt;
	}
}

int vhk_vq_pop(struct vhk_vq *vq, struct vhk_chain *c)
{
	int r;

	if (vq->broken)
		return -EIO;
	if (!vq->started)
		return 0;
	if (!c || !c->iov || !c->iov_cap)
		return -ENOBUFS;
	r = vq_ensure_mapped(vq);
	if (r < 0)
		return r == -EAGAIN ? r : vhk_vq_fail(vq, r, "ring unmapped");
	r = vq->packed ? vq_packed_pop(vq, c) : vq_split_pop(vq, c);
	if (r > 0)
		note_popped(vq, c, 1, vq->pop_ns ? vhk_now_ns() : 0);
	return r;
}

int vhk_vq_pop_burst(struct vhk_vq *vq, struct vhk_chain *c, unsigned int n)
{
	unsigned int k;
	int r;

	if (vq->broken)
		return -EIO;
	if (!vq->started || !n)
		return 0;
	if (!c)
		return -ENOBUFS;
	if (vq->packed || vq->resubmit_pos < vq->nresubmit) {
		/* Packed rings and inflight resubmission: one at a time. */
		for (k = 0; k < n; k++) {
			r = vhk_vq_pop(vq, &c[k]);
			if (r <= 0)
				return k ? (int)k : r;
		}
		return (int)n;
	}
	r = vq_ensure_mapped(vq);
	if (r < 0)
		return r == -EAGAIN ? r : vhk_vq_fail(vq, r, "ring unmapped");
	r = vq_split_pop_burst(vq, c, n);
	if (r > 0)
		note_popped(vq, c, (unsigned int)r,
			    vq->pop_ns ? vhk_now_ns() : 0);
	return r;
}

int vhk_vq_unpop(struct vhk_vq *vq, const struct vhk_chain *c)
{
	int r = 0;

	if (vq->broken)
		return -EIO;
	if (!vq->started)
		return 0;
	if (!c || c->id >= vq->num || !c->ndesc || c->ndesc > vq->num)
		return -EINVAL;
	r = vq->packed ? vq_packed_unpop(vq, c) : vq_split_unpop(vq, c);
	if (r < 0)
		return r;
	/* IN_ORDER: the id was the newest in pop order. */
	if (vq->batch_used && vq->order_count &&
	    vq->order[(vq->order_head + vq->order_count - 1) % vq->num] ==
	    c->id)
		vq->order_count--;
	vq->stats.popped--;
	vq->stats.unpopped++;
	vhk_stat_add(&vq->qs.unpopped, 1);
	return 0;
}

/* Publish what is pending; returns the notification decision. */
static bool publish(struct vhk_vq *vq)
{
	bool n;

	if (!vq->npending)
		return false;
	if (vq_ensure_mapped(vq) < 0)
		return false;	/* kept pending until the rings are back */
	n = vq->packed ? vq_packed_publish(vq) : vq_split_publish(vq);
	vq->npending = 0;
	vq->stats.flushes++;
	return n;
}

/*
 * The pending entry @e of chain @c completed with @written bytes; returns
 * the used length: never more than the writable bytes, or the driver
 * would read stale memory as data (VIRTIO 1.2, 2.7.8.1).
 */
static inline uint32_t pending_fill(struct vq_pending *e,
				    const struct vhk_chain *c,
				    uint32_t written)
{
	if (written > c->write_bytes)
		written = (uint32_t)c->write_bytes;
	e->id = c->id;
	e->ndesc = c->ndesc ? c->ndesc : 1;
	e->len = written;
	e->wmax = (uint32_t)VHK_MIN(c->write_bytes, UINT32_MAX);
	e->in_seq = false;
	return written;
}

/* IN_ORDER: @id is the oldest chain popped and not pushed (order[] from
 * *@head, *@cnt of them): take it off and return true. */
static inline bool order_take(const uint16_t *order, unsigned int num,
			      unsigned int *head, unsigned int *cnt,
			      uint16_t id)
{
	if (!*cnt || order[*head] != id)
		return false;
	if (++*head == num)
		*head = 0;
	--*cnt;
	return true;
}

/* The latency of chain @id, whose pop time is cleared; false when it has
 * none.  *@now: the clock, read at the first chain that needs it (0: not
 * yet). */
static inline bool take_latency(uint64_t *pop_ns, unsigned int num,
				uint16_t id, uint64_t *now, uint64_t *lat)
{
	uint64_t t;

	if (!pop_ns || id >= num || !pop_ns[id])
		return false;
	t = pop_ns[id];
	pop_ns[id] = 0;
	if (!*now)
		*now = vhk_now_ns();
	*lat = *now > t ? *now - t : 0;
	return true;
}

/* The exported counters of one completed chain (vhostkit/stats.h);
 * *@now as take_latency(). */
static void count_push(struct vhk_vq *vq, const struct vhk_chain *c,
		       uint32_t written, uint64_t *now)
{
	struct vhk_queue_stats *s = &vq->qs;
	uint64_t lat;

	vhk_stat_add(&s->completed, 1);
	vhk_stat_add(&s->bytes_read, c->read_bytes);
	vhk_stat_add(&s->bytes_written, written);
	if (take_latency(vq->pop_ns, vq->num, c->id, now, &lat)) {
		vhk_stat_add(&s->lat_sum_ns, lat);
		vhk_stat_add(&s->lat[vhk_lat_bucket(lat)], 1);
	}
}

/* vhk_vq_push() of a started, unbroken queue; *@now as count_push(). */
static int push_one(struct vhk_vq *vq, const struct vhk_chain *c,
		    uint32_t written, uint64_t *now)
{
	struct vq_pending *e;

	if (vq->npending == vq->num) {
		/* More pushes than chains can be in flight: publish early
		 * and keep the notification decision for the next flush. */
		if (publish(vq))
			vq->notify_owed = true;
		/* Still full: the used ring is unreachable and every chain
		 * that can be in flight is pushed already, so this push is
		 * one too many (a device bug) - fail loudly, never drop a
		 * completion silently. */
		if (vq->npending == vq->num)
			return vhk_vq_fail(vq, -EIO,
					   "push of chain %u with %u completions unpublished",
					   c->id, vq->npending);
	}
	/* Dirty log: every device-writable byte of the chain may have been
	 * written (a superset of @written, never less). */
	if (vhk_as_logging(vq->as))
		for (uint32_t i = 0; i < c->nwrite; i++)
			vhk_as_dirty(vq->as, c->iov[c->nread + i].iov_base,
				     c->iov[c->nread + i].iov_len);
	e = &vq->pending[vq->npending++];
	written = pending_fill(e, c, written);
	if (vq->batch_used)
		e->in_seq = order_take(vq->order, vq->num, &vq->order_head,
				       &vq->order_count, c->id);
	vq->stats.pushed++;
	count_push(vq, c, written, now);
	return 0;
}

int vhk_vq_push(struct vhk_vq *vq, const struct vhk_chain *c,
		uint32_t written)
{
	uint64_t now = 0;

	if (vq->broken)
		return -EIO;
	if (!vq->started)
		return 0;	/* stopped: popped chains are forgotten */
	return push_one(vq, c, written, &now);
}

int vhk_vq_push_burst(struct vhk_vq *vq, const struct vhk_chain *c,
		      const uint32_t *written, unsigned int n)
{
	struct vhk_queue_stats *s = &vq->qs;
	uint64_t now = 0, rd = 0, wr = 0, lat_sum = 0, lat_prev = 0;
	unsigned int lat_n = 0;	/* latencies of lat_prev not counted */

	if (vq->broken)
		return -EIO;
	if (!vq->started)
		return 0;	/* stopped: popped chains are forgotten */
	if (n > vq->num - vq->npending || vhk_as_logging(vq->as)) {
		/* Publishing early, or dirty logging: one at a time. */
		for (unsigned int i = 0; i < n; i++) {
			int r = push_one(vq, &c[i], written ? written[i] : 0,
					 &now);

			if (r < 0)
				return r;
		}
		return 0;
	}
	/* What push_one() does, the counters added once; locals, since the
	 * stores into pending[] would make the compiler reload @vq. */
	struct vq_pending *e = vq->pending + vq->npending;
	uint64_t *pop_ns = vq->pop_ns;
	uint16_t *order = vq->order;
	unsigned int num = vq->num, ohead = vq->order_head;
	unsigned int ocnt = vq->batch_used ? vq->order_count : 0;

	for (unsigned int i = 0; i < n; i++, e++) {
		const struct vhk_chain *ci = &c[i];
		uint32_t w = pending_fill(e, ci, written ? written[i] : 0);
		uint64_t lat;

		e->in_seq = order_take(order, num, &ohead, &ocnt, ci->id);
		rd += ci->read_bytes;
		wr += w;
		if (take_latency(pop_ns, num, ci->id, &now, &lat)) {
			lat_sum += lat;
			/* The chains of a burst were mostly popped together:
			 * one histogram add per run of equal latencies. */
			if (lat_n && lat != lat_prev) {
				vhk_stat_add(&s->lat[vhk_lat_bucket(lat_prev)],
					     lat_n);
				lat_n = 0;
			}
			lat_prev = lat;
			lat_n++;
		}
	}
	if (lat_n)
		vhk_stat_add(&s->lat[vhk_lat_bucket(lat_prev)], lat_n);
	vq->npending += n;
	if (vq->batch_used) {
		vq->order_head = ohead;
		vq->order_count = ocnt;
	}
	vq->stats.pushed += n;
	vhk_stat_add(&s->completed, n);
	vhk_stat_add(&s->bytes_read, rd);
	vhk_stat_add(&s->bytes_written, wr);
	vhk_stat_add(&s->lat_sum_ns, lat_sum);
	return 0;
}

bool vhk_vq_flush(struct vhk_vq *vq)
{
	bool n;

	if (vq->broken || !vq->started)
		return false;
	n = publish(vq) || vq->notify_owed;
	vq->notify_owed = false;
	if (n) {
		vq->stats.notifies++;
		vhk_stat_add(&vq->qs.notifies, 1);
	}
	return n;
}

bool vhk_vq_enable_notify(struct vhk_vq *vq, bool enable)
{
	if (vq->broken || !vq->started || vq_ensure_mapped(vq) < 0)
		return false;
	vq->notify_enabled = enable;
	return vq->packed ? vq_packed_enable_notify(vq, enable) :
			    vq_split_enable_notify(vq, enable);
}

void vhk_vq_untimed(struct vhk_vq *vq)
{
	if (!vq->started)
		return;
	free(vq->pop_ns);
	vq->pop_ns = NULL;
}

bool vhk_vq_pending(struct vhk_vq *vq)
{
	if (vq->broken || !vq->started)
		return false;
	if (vq->resubmit_pos < vq->nresubmit)
		return true;
	if (vq_ensure_mapped(vq) < 0)
		return false;
	return vq->packed ? vq_packed_pending(vq) : vq_split_pending(vq);
}

bool vhk_vq_broken(const struct vhk_vq *vq)
{
	return vq->broken;
}

const char *vhk_vq_name(const struct vhk_vq *vq)
{
	return vq->name;
}

uint16_t vhk_vq_size(const struct vhk_vq *vq)
{
	return vq->started ? vq->num : 0;
}

struct vhk_as *vhk_vq_as(const struct vhk_vq *vq)
{
	return vq->as;
}

struct vhk_queue_stats *vhk_vq_queue_stats(struct vhk_vq *vq)
{
	return &vq->qs;
}

struct vhk_iotlb_cache *vhk_vq_iotlb_cache(struct vhk_vq *vq)
{
	return &vq->tlb_cache;
}

void vhk_vq_get_stats(const struct vhk_vq *vq, struct vhk_vq_stats *st)
{
	*st = vq->stats;
}
