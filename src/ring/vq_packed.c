/* SPDX-License-Identifier: MIT */
/*
 * vq_packed.c - packed virtqueue, device side (VIRTIO 1.2, 2.8).
 */
#include "ring/vq_priv.h"

#define F_AVAIL	(1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VHK_VRING_PACKED_DESC_F_USED)

/* VIRTIO 1.2, 2.8.1: available means AVAIL == wrap and USED != wrap. */
static inline bool desc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static inline void next_slot(const struct vhk_vq *vq, uint16_t *slot,
			     bool *wrap)
{
	if (++*slot >= vq->num) {
		*slot = 0;
		*wrap = !*wrap;
	}
}

/* Walk the buffers of an indirect table (VIRTIO 1.2, 2.8.7). */
static int walk_table(struct vq_walk *w, uint64_t addr, uint32_t len)
{
	const struct vhk_vring_packed_desc *t;
	uint32_t n, i;
	void *p;
	int r;

	r = vq_walk_indirect(w, addr, len, &p, &n);
	if (r < 0)
		return r;
	t = p;
	for (i = 0; i < n; i++) {
		/* Our private copy: read each entry once. */
		uint16_t flags = vhk_le16_get(t[i].flags);

		w->walked++;
		/* Only WRITE is valid in table entries (2.8.7); a nested
		 * table is refused like in the split ring (2.7.5.3.1), NEXT
		 * is ignored: entries are consecutive. */
		if (flags & VHK_VRING_DESC_F_INDIRECT)
			return -EPROTO;
		r = vq_walk_buffer(w, vhk_le64_get(t[i].addr),
				   vhk_le32_get(t[i].len),
				   flags & VHK_VRING_DESC_F_WRITE);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Walk a descriptor list into @c: from the ring at avail_slot (@list NULL;
 * @flags0 is the first descriptor's flags as the acquire load saw them),
 * or from @nlist private copies (inflight resubmission).  With inflight
 * tracking the ring descriptors are copied into vq->pk.copy as read.
 */
static int walk_chain(struct vhk_vq *vq, uint16_t flags0,
		      const struct vhk_vring_packed_desc *list, uint16_t nlist,
		      struct vhk_chain *c)
{
	uint16_t slot = vq->avail_slot;
	bool wrap = vq->avail_wrap;
	uint16_t ndesc = 0, id = 0;
	struct vq_walk w;
	int r = 0;

	vq_walk_init(&w, vq, c);
	for (;;) {
		struct vhk_vring_packed_desc d;
		uint16_t flags;

		/* A list never holds more descriptors than the ring. */
		if (ndesc >= (list ? nlist : vq->num)) {
			r = list ? -EPROTO : -ELOOP;
			break;
		}
		if (list) {
			d = list[ndesc];
			flags = vhk_le16_get(d.flags);
		} else {
			vq_copy16(&d, &vq->packed_desc[slot]);
			if (vq->pinflight)
				vq->pk.copy[ndesc] = d;
		}
		w.walked++;
		if (list) {
			/* A saved list: its length is known. */
			bool more = ndesc + 1 < nlist;

			if (!!(flags & VHK_VRING_DESC_F_NEXT) != more) {
				r = -EPROTO;
				break;
			}
		} else if (ndesc == 0) {
			/* Use the flags value the acquire load saw. */
			flags = flags0;
			if (vq->pinflight)
				vq->pk.copy[0].flags = vhk_le16_make(flags0);
		} else {
			flags = vhk_le16_get(d.flags);
			/* VIRTIO 1.2, 2.8.6: flags must be set correctly in
			 * every descriptor of the list, and the driver makes
			 * the first available after writing the rest. */
			if (!desc_avail(flags, wrap)) {
				r = -EPROTO;
				break;
			}
		}
		ndesc++;
		/* VIRTIO 1.2, 2.8.6: the buffer ID is in the last
		 * descriptor of the list. */
		id = vhk_le16_get(d.id);
		if (flags & VHK_VRING_DESC_F_INDIRECT) {
			/* VIRTIO 1.2, 2.8.5: a list contains descriptors of
			 * one type; 2.8.7: no INDIRECT together with NEXT. */
			if (ndesc > 1 || (flags & VHK_VRING_DESC_F_NEXT)) {
				r = -EPROTO;
				break;
			}
			r = walk_table(&w, vhk_le64_get(d.addr),
				       vhk_le32_get(d.len));
			break;
		}
		r = vq_walk_buffer(&w, vhk_le64_get(d.addr),
				   vhk_le32_get(d.len),
				   flags & VHK_VRING_DESC_F_WRITE);
		if (r < 0 || !(flags & VHK_VRING_DESC_F_NEXT))
			break;
		next_slot(vq, &slot, &wrap);
	}
	vq_walk_finish(&w);
	c->id = id;
	c->ndesc = ndesc;
	return r;
}

static int list_error(struct vhk_vq *vq, int r, const char *what,
		      uint16_t where)
{
	if (vq_err_transient(r))
		return r;
	return vhk_vq_fail(vq, r, "bad descriptor list at %s %u (%s)", what,
			   where, r == -ELOOP ? "too long" :
			   r == -EFAULT ? "bad address" :
			   r == -EACCES ? "IOTLB permission" :
			   "protocol violation");
}

/* The rings are mapped for the first time: load the inflight region. */
int vq_packed_start(struct vhk_vq *vq)
{
	int r = vq_pinflight_start(vq);

	if (r < 0)
		return r;
	vq->layout_ready = true;
	return 0;
}

/* Return the next list recorded in flight by a previous back-end. */
static int pop_resubmit(struct vhk_vq *vq, struct vhk_chain *c)
{
	uint16_t head = vq->resubmit[vq->resubmit_pos];
	int n = vq_pinflight_load(vq, head);
	int r;

	if (n <= 0)
		return vhk_vq_fail(vq, -EPROTO, "inflight entry %u unusable",
				   head);
	r = walk_chain(vq, 0, vq->pk.copy, (uint16_t)n, c);
	if (r < 0)
		return list_error(vq, r, "inflight entry", head);
	vq->resubmit_pos++;
	vq->stats.resubmitted++;
	return 1;
}

int vq_packed_pop(struct vhk_vq *vq, struct vhk_chain *c)
{
	struct vhk_vring_packed_desc *d = &vq->packed_desc[vq->avail_slot];
	uint16_t flags;
	unsigned int k;
	int r;

	if (vq->resubmit_pos < vq->nresubmit)
		return pop_resubmit(vq, c);
	/* Acquire: pairs with the driver's release store of the first
	 * descriptor's flags, which it writes after the rest of the list
	 * (VIRTIO 1.2, 2.8.6); addr/len/id are read after this. */
	flags = vq_load16_acquire(&d->flags);
	if (!desc_avail(flags, vq->avail_wrap)) {
		vq->stats.last_pop_descs = 0;
		return 0;
	}
	r = walk_chain(vq, flags, NULL, 0, c);
	if (r < 0)
		return list_error(vq, r, "slot", vq->avail_slot);
	r = vq_pinflight_mark(vq, c);
	if (r < 0)
		return r;
	for (k = 0; k < c->ndesc; k++)
		next_slot(vq, &vq->avail_slot, &vq->avail_wrap);
	vq->avail_pops++;
	return 1;
}

/*
 * Give back the newest popped chain @c.  A resubmitted list goes back to
 * the resubmission list (still in flight in the region).  A ring list
 * makes avail_slot step back over its c->ndesc slots: its descriptors are
 * intact, since used entries are written only over slots of lists popped
 * before it (VIRTIO 1.2, 2.8.6: in ring order), and its inflight entries
 * go back to the free list.
 */
int vq_packed_unpop(struct vhk_vq *vq, const struct vhk_chain *c)
{
	unsigned int k;

	if (!vq->avail_pops) {
		if (vq->resubmit_pos > 0 &&
		    vq->pk.id[vq->resubmit[vq->resubmit_pos - 1]] == c->id) {
			vq->resubmit_pos--;
			vq->stats.resubmitted--;
			return 0;
		}
		return -EINVAL;
	}
	vq->avail_pops--;
	vq_pinflight_unmark(vq, c);
	for (k = 0; k < c->ndesc; k++) {
		if (vq->avail_slot == 0) {
			vq->avail_slot = vq->num;
			vq->avail_wrap = !vq->avail_wrap;
		}
		vq->avail_slot--;
	}
	return 0;
}

bool vq_packed_publish(struct vhk_vq *vq)
{
	uint16_t first_slot = vq->used_slot;
	uint16_t first_flags = 0, old_slot, new_slot, off, off_wrap, eflags;
	bool old_wrap, v;
	unsigned int k, j, i, last;
	int32_t o, n, e;

	vq_pinflight_batch_add(vq);
	for (k = 0; k < vq->npending; k = last + 1) {
		struct vhk_vring_packed_desc *d = &vq->packed_desc[vq->used_slot];
		/* VIRTIO 1.2, 2.8.1: used means AVAIL == USED == wrap;
		 * 2.8.3: WRITE says whether the device wrote anything. */
		uint16_t flags = vq->used_wrap ? (F_AVAIL | F_USED) : 0;
		struct vq_pending *p;

		/* One used descriptor per in-order run, naming the run's
		 * last buffer (VIRTIO 1.2, 2.8.8). */
		last = vq_batch_end(vq, k);
		p = &vq->pending[last];
		if (p->len)
			flags |= VHK_VRING_DESC_F_WRITE;
		vq_store16(vq, &d->id, p->id);
		vq_store32(vq, &d->len, p->len);
		if (k == 0)
			first_flags = flags;
		else	/* Release: id/len before flags (the driver polls
			 * flags then reads id/len with acquire). */
			vq_store16_release(vq, &d->flags, flags);
		/* 2.8.6: skip the slots every buffer of the run took. */
		for (i = k; i <= last; i++)
			for (j = 0; j < vq->pending[i].ndesc; j++)
				next_slot(vq, &vq->used_slot, &vq->used_wrap);
	}
	/*
	 * The first used descriptor's flags go last, with release: pairs with
	 * the driver's acquire load of that descriptor's flags, so it never
	 * sees a partial batch (VIRTIO 1.2, 2.8.6 / 2.8.9).
	 */
	vq_store16_release(vq, &vq->packed_desc[first_slot].flags, first_flags);
	vq_pinflight_batch_done(vq);

	/* Full fence before reading the driver event suppression area (pairs
	 * with the driver's fence after writing it, 2.8.10). */
	vring_fence(memory_order_seq_cst);
	v = vq->signalled_valid;
	old_slot = vq->signalled_slot;
	old_wrap = vq->signalled_wrap;
	new_slot = vq->used_slot;
	vq->signalled_slot = vq->used_slot;
	vq->signalled_wrap = vq->used_wrap;
	vq->signalled_valid = true;

	eflags = vq_load16(&vq->driver_event->flags) & 0x3;
	if (eflags == VHK_RING_EVENT_FLAGS_DISABLE)
		return false;
	/* DESC mode only with EVENT_IDX (2.8.10); ENABLE, or the reserved
	 * value 3, notify. */
	if (eflags != VHK_RING_EVENT_FLAGS_DESC || !vq->event_idx || !v)
		return true;
	off_wrap = vq_load16(&vq->driver_event->off_wrap);
	off = off_wrap & 0x7fff;
	/*
	 * Compare in a flat index space where the current lap is
	 * [0, num): the old position and the event offset are moved one lap
	 * back when they belong to the previous wrap counter value.
	 */
	n = new_slot;
	o = old_slot;
	if (old_wrap != vq->used_wrap)
		o -= vq->num;
	e = off;
	if (!!(off_wrap >> 15) != vq->used_wrap)
		e -= vq->num;
	/* Notify if the event descriptor lies in [old, new). */
	return e >= o && e < n;
}

bool vq_packed_enable_notify(struct vhk_vq *vq, bool enable)
{
	/*
	 * ENABLE / DISABLE only: DESC mode would need the offset updated on
	 * every pop, ENABLE is always valid (VIRTIO 1.2, 2.8.10).
	 */
	vq_store16(vq, &vq->device_event->flags,
		   enable ? VHK_RING_EVENT_FLAGS_ENABLE :
			    VHK_RING_EVENT_FLAGS_DISABLE);
	if (!enable)
		return false;
	/* Full fence: the flags store before re-reading the ring (a driver
	 * that saw DISABLE skipped its kick). */
	vring_fence(memory_order_seq_cst);
	return vq_packed_pending(vq);
}

bool vq_packed_pending(struct vhk_vq *vq)
{
	uint16_t f = vq_load16_acquire(&vq->packed_desc[vq->avail_slot].flags);

	return desc_avail(f, vq->avail_wrap);
}
