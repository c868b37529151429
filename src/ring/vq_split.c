/* SPDX-License-Identifier: MIT */
/*
 * vq_split.c - split virtqueue, device side (VIRTIO 1.2, 2.7).
 */
#include "ring/vq_priv.h"

static inline vhk_le16 *used_event_p(struct vhk_vq *vq)
{
	return &vq->avail->ring[vq->num];	/* after ring[num] */
}

static inline vhk_le16 *avail_event_p(struct vhk_vq *vq)
{
	return (vhk_le16 *)&vq->used->ring[vq->num];
}

/* The rings are mapped for the first time: read where the device stands. */
int vq_split_start(struct vhk_vq *vq)
{
	int r;

	vq->used_idx = vq_load16(&vq->used->idx);
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = false;
	r = vq_inflight_start(vq);
	if (r < 0)
		return r;
	vq->layout_ready = true;
	return 0;
}

/*
 * Walk the chain at @head into @c.  Every descriptor is copied once into a
 * local and only the copy is used (R1); @first, if not NULL, is the copy
 * of the head descriptor the caller already took.  Returns 0 or a
 * negative errno.
 */
static int walk_chain(struct vhk_vq *vq, uint16_t head, struct vhk_chain *c,
		      const struct vhk_vring_desc *first)
{
	const struct vhk_vring_desc *table = vq->split_desc;
	uint32_t tnum = vq->num;
	uint32_t ttl = vq->num;	/* VIRTIO 1.2, 2.7.5.3.1: bounded chains */
	bool in_indirect = false;
	uint32_t i = head;
	struct vq_walk w;
	int r = 0;

	vq_walk_init(&w, vq, c);
	for (;;) {
		struct vhk_vring_desc d;
		uint16_t flags;
		uint32_t len;
		uint64_t addr;

		if (ttl == 0) {
			/* More descriptors than the table holds: a loop. */
			r = -ELOOP;
			break;
		}
		ttl--;
		if (in_indirect)
			d = table[i];	/* already our private copy */
		else if (first && w.walked == 0)
			d = *first;	/* the caller's copy of the head */
		else
			vq_copy16(&d, &table[i]);
		w.walked++;
		flags = vhk_le16_get(d.flags);
		len = vhk_le32_get(d.len);
		addr = vhk_le64_get(d.addr);

		if (flags & VHK_VRING_DESC_F_INDIRECT) {
			void *t;

			/* VIRTIO 1.2, 2.7.5.3.1: the driver MUST NOT set
			 * INDIRECT within an indirect descriptor, nor both
			 * INDIRECT and NEXT. */
			if (in_indirect || (flags & VHK_VRING_DESC_F_NEXT)) {
				r = -EPROTO;
				break;
			}
			r = vq_walk_indirect(&w, addr, len, &t, &tnum);
			if (r < 0)
				break;
			table = t;
			in_indirect = true;
			/* TTL restarts at the table length (2.7.5.3.1). */
			ttl = tnum;
			i = 0;
			continue;
		}
		r = vq_walk_buffer(&w, addr, len,
				   flags & VHK_VRING_DESC_F_WRITE);
		if (r < 0)
			break;
		if (!(flags & VHK_VRING_DESC_F_NEXT))
			break;
		i = vhk_le16_get(d.next);
		/* VIRTIO 1.2, 2.7.5.2: next indexes the same table. */
		if (i >= tnum) {
			r = -EPROTO;
			break;
		}
	}
	vq_walk_finish(&w);
	c->id = head;
	c->ndesc = 1;
	return r;
}

static int chain_error(struct vhk_vq *vq, int r, uint16_t head)
{
	if (vq_err_transient(r))
		return r;	/* nothing consumed, not broken */
	return vhk_vq_fail(vq, r, "bad descriptor chain at head %u (%s)",
			   head, r == -ELOOP ? "loop" :
			   r == -EFAULT ? "bad address" :
			   r == -EACCES ? "IOTLB permission" :
			   "protocol violation");
}

/* Pop a chain whose head is already known (inflight resubmission). */
int vq_split_pop_head(struct vhk_vq *vq, uint16_t head, struct vhk_chain *c)
{
	int r;

	if (head >= vq->num)
		return vhk_vq_fail(vq, -EPROTO, "inflight head %u >= %u",
				   head, vq->num);
	r = walk_chain(vq, head, c, NULL);
	if (r < 0)
		return chain_error(vq, r, head);
	return 1;
}

/*
 * Read the driver's avail index into vq->shadow_avail.  Acquire: pairs
 * with the driver's release store of avail->idx after writing the ring
 * entries (VIRTIO 1.2, 2.7.13.3), so entries below idx are visible once
 * we see idx.  Returns 0, or the error of the now broken queue: at most
 * num entries can be available (VIRTIO 1.2, 2.7.6); a larger jump is a
 * driver bug that would make us re-read stale entries.
 */
static int refresh_avail(struct vhk_vq *vq)
{
	uint16_t idx = vq_load16_acquire(&vq->avail->idx);

	if ((uint16_t)(idx - vq->last_avail) > vq->num)
		return vhk_vq_fail(vq, -EPROTO,
				   "avail idx %u jumped from %u (> %u)",
				   idx, vq->last_avail, vq->num);
	vq->shadow_avail = idx;
	return 0;
}

int vq_split_pop(struct vhk_vq *vq, struct vhk_chain *c)
{
	uint16_t head;
	int r;

	if (vq->resubmit_pos < vq->nresubmit) {
		r = vq_split_pop_head(vq, vq->resubmit[vq->resubmit_pos], c);
		if (r > 0) {
			vq->resubmit_pos++;
			vq->stats.resubmitted++;
		}
		return r;
	}
	if (vq->last_avail == vq->shadow_avail) {
		r = refresh_avail(vq);
		if (r < 0)
			return r;
		if (vq->shadow_avail == vq->last_avail) {
			vq->stats.last_pop_descs = 0;
			return 0;
		}
	}
	head = vq_load16(&vq->avail->ring[vq->last_avail & (vq->num - 1)]);
	if (head >= vq->num)
		return vhk_vq_fail(vq, -EPROTO, "avail head %u >= %u", head,
				   vq->num);
	r = walk_chain(vq, head, c, NULL);
	if (r < 0)
		return chain_error(vq, r, head);
	vq->last_avail++;
	vq->avail_pops++;
	vq_inflight_mark(vq, head);
	/* Ask for a kick for the next entry (VIRTIO 1.2, 2.7.10): without
	 * this a driver with EVENT_IDX would stop kicking. */
	if (vq->event_idx && vq->notify_enabled)
		vq_store16(vq, avail_event_p(vq), vq->last_avail);
	return 1;
}

/*
 * A chain of a burst whose head descriptor @d (our one copy, R1) is a
 * single buffer that translates to one host segment: filled in directly.
 * Returns 1 when done; 0 when the chain needs the generic walk (NEXT,
 * INDIRECT, a zero length, a wrap, a buffer split across regions), which
 * checks everything again from the same copy; or a negative errno from
 * the translation (the walk's errors for a one-descriptor chain).
 */
static int pop_single(struct vhk_vq *vq, uint16_t head,
		      const struct vhk_vring_desc *d, struct vhk_chain *c)
{
	uint16_t flags = vhk_le16_get(d->flags);
	uint32_t len = vhk_le32_get(d->len);
	uint64_t addr = vhk_le64_get(d->addr), l = len;
	bool write = flags & VHK_VRING_DESC_F_WRITE;
	void *host;
	int r;

	if ((flags & (VHK_VRING_DESC_F_NEXT | VHK_VRING_DESC_F_INDIRECT)) ||
	    len == 0 || vhk_range_overflows(addr, len))
		return 0;
	host = vq_rcache_hit(vq, addr, len);
	if (!host) {
		r = vq_translate(vq, addr, &l,
				 write ? VHK_PERM_WO : VHK_PERM_RO, &host);
		if (r < 0)
			return r;
		if (l != len)
			return 0;
	}
	c->iov[0].iov_base = host;
	c->iov[0].iov_len = len;
	c->nread = write ? 0 : 1;
	c->nwrite = write ? 1 : 0;
	c->read_bytes = write ? 0 : len;
	c->write_bytes = write ? len : 0;
	c->id = head;
	c->ndesc = 1;
	/* vq->stats: added up by the caller, once per burst */
	return 1;
}

/*
 * Up to @n chains into @c[]: the avail index read once (when fewer than
 * @n entries are known), one-descriptor chains through pop_single(), the
 * others through the generic walk, avail_event stored once at the end.
 * Each chain is checked as vq_split_pop() checks it.  Returns the chains
 * popped; when none, 0 or the error of the first.  An error after the
 * first chain ends the burst (the queue is broken, or a transient error
 * is met again by the next pop).
 */
int vq_split_pop_burst(struct vhk_vq *vq, struct vhk_chain *c, unsigned int n)
{
	/* Locals: the stores into @c would make the compiler reload every
	 * field of @vq (no strict aliasing in this build). */
	const vhk_le16 *ring = vq->avail->ring;
	const struct vhk_vring_desc *table = vq->split_desc;
	uint16_t num = vq->num, mask = (uint16_t)(num - 1);
	uint16_t last = vq->last_avail, shadow = vq->shadow_avail;
	unsigned int k = 0, singles = 0;	/* pop_single()s not counted */
	int r = 0;

	if ((uint16_t)(shadow - last) < n) {
		r = refresh_avail(vq);
		if (r < 0)
			return r;
		shadow = vq->shadow_avail;
	}
	if (last == shadow) {
		vq->stats.last_pop_descs = 0;
		return 0;
	}
	vq_rcache_check(vq);
	while (k < n && last != shadow) {
		struct vhk_vring_desc d;
		uint16_t head;

		if (!c[k].iov || !c[k].iov_cap) {
			r = -ENOBUFS;	/* nothing consumed */
			break;
		}
		head = vq_load16(&ring[last & mask]);
		if (head >= num) {
			r = vhk_vq_fail(vq, -EPROTO, "avail head %u >= %u",
					head, num);
			break;
		}
		vq_copy16(&d, &table[head]);
		r = pop_single(vq, head, &d, &c[k]);
		if (r == 0) {
			/* The walk's stats come after the singles' before
			 * it (last_pop_descs: the last chain's). */
			if (singles) {
				vq->stats.last_pop_descs = 1;
				vq->stats.descs_walked += singles;
				singles = 0;
			}
			r = walk_chain(vq, head, &c[k], &d);
		} else if (r > 0) {
			singles++;
		}
		if (r < 0) {
			r = chain_error(vq, r, head);
			break;
		}
		last++;
		if (vq->inflight)
			vq_inflight_mark(vq, head);
		k++;
	}
	if (singles) {
		vq->stats.last_pop_descs = 1;
		vq->stats.descs_walked += singles;
	}
	vq->last_avail = last;
	vq->avail_pops += k;
	/* Ask for a kick for the next entry (VIRTIO 1.2, 2.7.10), once. */
	if (k && vq->event_idx && vq->notify_enabled)
		vq_store16(vq, avail_event_p(vq), last);
	return k ? (int)k : r;
}

/*
 * Give back the newest popped chain @c: a resubmitted head goes back to
 * the resubmission list, a ring head makes last_avail step back (the
 * avail entry is still the driver's: we only read it).
 */
int vq_split_unpop(struct vhk_vq *vq, const struct vhk_chain *c)
{
	if (vq->avail_pops) {
		vq->avail_pops--;
		vq->last_avail--;
		vq_inflight_unmark(vq, c->id);
		if (vq->event_idx && vq->notify_enabled)
			vq_store16(vq, avail_event_p(vq), vq->last_avail);
		return 0;
	}
	if (vq->resubmit_pos > 0 &&
	    vq->resubmit[vq->resubmit_pos - 1] == c->id) {
		/* Still in flight in the region: it was before the pop. */
		vq->resubmit_pos--;
		vq->stats.resubmitted--;
		return 0;
	}
	return -EINVAL;
}

bool vq_split_publish(struct vhk_vq *vq)
{
	struct vhk_vring_used_elem *ring = vq->used->ring;
	const struct vq_pending *e = vq->pending;
	uint16_t old = vq->used_idx, mask = (uint16_t)(vq->num - 1);
	uint16_t new_idx, event;
	unsigned int k, n = vq->npending;
	bool v, log = vhk_as_logging(vq->as);

	/* One entry per buffer, IN_ORDER or not (batch_used is packed
	 * only, vq_priv.h); the dirty log asked once (vq_dirty() per entry
	 * only while it is on). */
	for (k = 0; k < n; k++) {
		struct vhk_vring_used_elem *u =
			&ring[(uint16_t)(old + k) & mask];

		vring_store32(&u->id, e[k].id);
		vring_store32(&u->len, e[k].len);
		if (log)
			vq_dirty(vq, u, sizeof(*u));
	}
	if (vq->inflight)
		for (k = 0; k < vq->npending; k++)
			vq_inflight_batch_add(vq, vq->pending[k].id);
	new_idx = (uint16_t)(old + vq->npending);
	vq->used_idx = new_idx;
	/* Release: the used elements above become visible before the new
	 * index; pairs with the driver's acquire load of used->idx. */
	vq_store16_release(vq, &vq->used->idx, new_idx);
	vq_inflight_batch_done(vq, new_idx);

	/* Full fence: our used->idx store must be visible before we read the
	 * driver's used_event / flags (store->load ordering; pairs with the
	 * driver's fence between writing used_event and re-reading used->idx,
	 * VIRTIO 1.2, 2.7.7). */
	vring_fence(memory_order_seq_cst);
	v = vq->signalled_valid;
	old = vq->signalled_used;
	vq->signalled_used = new_idx;
	vq->signalled_valid = true;
	if (vq->event_idx) {
		if (!v)
			return true;
		event = vq_load16(used_event_p(vq));
		return vhk_vring_need_event(event, new_idx, old);
	}
	return !(vq_load16(&vq->avail->flags) & VHK_VRING_AVAIL_F_NO_INTERRUPT);
}

bool vq_split_enable_notify(struct vhk_vq *vq, bool enable)
{
	if (vq->event_idx) {
		/* With EVENT_IDX the driver ignores used->flags.  Enabling
		 * asks for a kick when entry last_avail is published;
		 * disabling puts the event just behind us, where the driver
		 * only crosses it after 2^16 more entries (pop stops moving
		 * it while disabled). */
		vq_store16(vq, avail_event_p(vq),
			   enable ? vq->last_avail : (uint16_t)(vq->last_avail - 1));
	} else {
		vq_store16(vq, &vq->used->flags,
			   enable ? 0 : VHK_VRING_USED_F_NO_NOTIFY);
	}
	if (!enable)
		return false;
	/* Full fence: the avail_event / flags store must be visible before
	 * we re-read avail->idx, or a driver that read the old value and
	 * skipped its kick would leave buffers we never see. */
	vring_fence(memory_order_seq_cst);
	return vq_split_pending(vq);
}

bool vq_split_pending(struct vhk_vq *vq)
{
	if (vq->last_avail != vq->shadow_avail)
		return true;
	return vq_load16_acquire(&vq->avail->idx) != vq->last_avail;
}
