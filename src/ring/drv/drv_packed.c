/* SPDX-License-Identifier: MIT */
/*
 * drv_packed.c - driver side of the packed virtqueue (VIRTIO 1.2, 2.8).
 *
 * Layout in the caller's memory: descriptor ring at offset 0 (16-byte
 * aligned), driver event suppression right after it, device event
 * suppression after that (both 4-byte aligned, 2.8.10.1).
 *
 * A descriptor is available when its AVAIL bit equals the driver's wrap
 * counter and its USED bit does not; used when both equal the device's
 * wrap counter (2.8.1).  Buffer ids come from a private free stack; a
 * used descriptor names an id and the driver skips as many slots as that
 * buffer's chain took (2.8.7 / 2.8.22).
 */
#include <errno.h>
#include <stdlib.h>

#include "ring/drv/drv_priv.h"

#define F_AVAIL (1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VHK_VRING_PACKED_DESC_F_USED)

size_t drv_packed_mem_size(uint16_t num)
{
	return 16ull * num + 2 * sizeof(struct vhk_vring_packed_event);
}

int drv_packed_init(struct vhk_drv_vq *dq)
{
	uint16_t num = dq->num;
	size_t evt = 16ull * num;

	dq->pdesc = (struct vhk_vring_packed_desc *)(void *)dq->mem;
	dq->drv_evt = (struct vhk_vring_packed_event *)(void *)(dq->mem + evt);
	dq->dev_evt = dq->drv_evt + 1;
	dq->addrs.desc = dq->mem_addr;
	dq->addrs.driver = dq->mem_addr + evt;
	dq->addrs.device = dq->mem_addr + evt + 4;
	dq->id_next = calloc(num, sizeof(*dq->id_next));
	if (!dq->id_next)
		return -ENOMEM;
	for (uint16_t i = 0; i < num; i++)
		dq->id_next[i] = i + 1 < num ? (uint16_t)(i + 1) : (uint16_t)DRV_NONE;
	dq->free_id = 0;
	/* VIRTIO 1.2, 2.8.1: both wrap counters start at 1. */
	dq->avail_wrap = true;
	dq->pub_wrap = true;
	dq->used_wrap = true;
	return 0;
}

/* AVAIL = wrap, USED = !wrap: "available" in the lap of counter @wrap. */
static uint16_t avail_bits(bool wrap)
{
	return (uint16_t)(wrap ? F_AVAIL : F_USED);
}

static void write_pdesc(struct vhk_vring_packed_desc *d, uint64_t addr,
			uint32_t len, uint16_t id)
{
	d->addr = vhk_le64_make(addr);
	d->len = vhk_le32_make(len);
	d->id = vhk_le16_make(id);
}

int drv_packed_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		   unsigned int n, void *token, void *table,
		   uint64_t table_addr, uint64_t wlen)
{
	uint16_t id = dq->free_id, slot = dq->next_avail;
	bool wrap = dq->avail_wrap;
	unsigned int ndesc = table ? 1 : n;
	struct drv_state *st;

	/* Free ids >= free slots: a free slot implies a free id. */
	if (id == DRV_NONE || id >= dq->num)
		return -ENOSPC;
	st = &dq->st[id];
	if (table) {
		struct vhk_vring_packed_desc *t = table;

		/*
		 * VIRTIO 1.2, 2.8.19: table entries carry only WRITE (no
		 * INDIRECT, no NEXT); their count is len / 16.
		 */
		for (unsigned int k = 0; k < n; k++) {
			write_pdesc(&t[k], segs[k].addr, segs[k].len, 0);
			t[k].flags = vhk_le16_make(segs[k].write ?
						   VHK_VRING_DESC_F_WRITE : 0);
		}
	}
	for (unsigned int k = 0; k < ndesc; k++) {
		uint16_t fl = avail_bits(wrap);

		if (table) {
			write_pdesc(&dq->pdesc[slot], table_addr,
				    (uint32_t)(16u * n), id);
			fl |= VHK_VRING_DESC_F_INDIRECT;
		} else {
			write_pdesc(&dq->pdesc[slot], segs[k].addr,
				    segs[k].len, id);
			if (segs[k].write)
				fl |= VHK_VRING_DESC_F_WRITE;
			if (k + 1 < ndesc)
				fl |= VHK_VRING_DESC_F_NEXT;
		}
		if (k == 0 && !dq->head_pending) {
			/*
			 * VIRTIO 1.2, 2.8.21.1.1: the first descriptor is made
			 * available last - by publish, with a release store.
			 * Later chains' heads sit behind this one in ring
			 * order, so the device cannot reach them earlier.
			 */
			dq->head_pending = true;
			dq->head_slot = slot;
			dq->head_flags = fl;
		} else {
			drv_store_relaxed(&dq->pdesc[slot].flags, fl);
		}
		if (++slot == dq->num) {
			slot = 0;
			wrap = !wrap;
		}
	}
	dq->free_id = dq->id_next[id];
	st->token = token;
	st->wlen = wlen;
	st->ndesc = (uint16_t)ndesc;
	dq->next_avail = slot;
	dq->avail_wrap = wrap;
	dq->num_free -= ndesc;
	dq->inflight++;
	if (dq->in_order)
		drv_order_push(dq, id);
	return 0;
}

/* Position of (@slot, @wrap) on a circle of 2 * num positions. */
static uint32_t lin(const struct vhk_drv_vq *dq, uint16_t slot, bool wrap)
{
	return slot + (wrap ? dq->num : 0u);
}

bool drv_packed_publish(struct vhk_drv_vq *dq)
{
	uint32_t two = 2u * dq->num, old_p, new_p, ev_p, added;
	uint16_t flags, off_wrap, off;

	if (dq->head_pending) {
		/*
		 * Release store of the head flags pairs with the device's
		 * acquire load of a descriptor's flags (vhk_vq_pop) before it
		 * reads addr, len, id and the rest of the chain.
		 */
		drv_store_release(dq, &dq->pdesc[dq->head_slot].flags,
				  dq->head_flags);
		dq->head_pending = false;
	}
	old_p = lin(dq, dq->pub_slot, dq->pub_wrap);
	new_p = lin(dq, dq->next_avail, dq->avail_wrap);
	dq->pub_slot = dq->next_avail;
	dq->pub_wrap = dq->avail_wrap;
	added = (new_p + two - old_p) % two;
	if (added == 0)
		return false;
	/*
	 * Store(flags) -> load(device event): full fence pairing with the
	 * device's full fence between its event suppression store and its
	 * re-read of descriptor flags (vhk_vq_enable_notify).  The acquire
	 * on the event flags orders the off_wrap read after it (2.8.21.3.1).
	 */
	drv_mb();
	flags = drv_load_acquire(dq, &dq->dev_evt->flags);
	switch (flags & 3) {
	case VHK_RING_EVENT_FLAGS_DISABLE:
		return false;
	case VHK_RING_EVENT_FLAGS_DESC:
		/* VIRTIO 1.2, 2.8.10: DESC is valid only with EVENT_IDX. */
		if (!dq->event_idx)
			return true;
		break;
	default:	/* ENABLE, or a reserved value: notify to be safe */
		return true;
	}
	off_wrap = drv_load_relaxed(&dq->dev_evt->off_wrap);
	off = off_wrap & 0x7fff;
	if (off >= dq->num)
		return true;
	ev_p = lin(dq, off, off_wrap >> 15);
	/* Notify if the event position lies in [old, new) (2.8.10). */
	return (new_p + two - ev_p - 1) % two < added;
}

/* True if the descriptor at @slot is used in the device's lap @wrap. */
static bool is_used(uint16_t flags, bool wrap)
{
	bool a = flags & F_AVAIL, u = flags & F_USED;

	return a == u && u == wrap;
}

static void free_id(struct vhk_drv_vq *dq, uint16_t id)
{
	struct drv_state *st = &dq->st[id];

	dq->next_used = (uint16_t)(dq->next_used + st->ndesc);
	if (dq->next_used >= dq->num) {
		dq->next_used = (uint16_t)(dq->next_used - dq->num);
		dq->used_wrap = !dq->used_wrap;
	}
	dq->id_next[id] = dq->free_id;
	dq->free_id = id;
	if (dq->in_order) {
		dq->order_head = (uint16_t)((dq->order_head + 1) % dq->num);
		dq->order_count--;
	}
	dq->num_free += st->ndesc;
	dq->inflight--;
	st->token = NULL;
}

int drv_packed_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len)
{
	uint32_t ulen;
	uint16_t id;
	int ret;

	if (!dq->batch) {
		struct vhk_vring_packed_desc *d = &dq->pdesc[dq->next_used];
		struct vhk_vring_packed_desc u;
		uint16_t flags;

		/*
		 * Acquire pairs with the device's release store of the used
		 * descriptor's flags (vhk_vq_flush) after it wrote id and len.
		 */
		flags = drv_load_acquire(dq, &d->flags);
		if (!is_used(flags, dq->used_wrap))
			return 0;
		if (dq->inflight == 0)
			return drv_fail(dq, "used descriptor with nothing in flight");
		/* Single fetch of the used descriptor: only the copy's id
		 * and len are checked and used (no double fetch). */
		vring_copy16(&u, d);
		id = vhk_le16_get(u.id);
		ulen = vhk_le32_get(u.len);
		if (id >= dq->num)
			return drv_fail(dq, "used id %u >= queue size %u", id,
					dq->num);
		ret = drv_order_check(dq, id, UINT32_MAX, true);
		if (ret < 0)
			return ret;
		/* VIRTIO 1.2, 2.8.4: len is the bytes written to the buffer. */
		if (ulen > dq->st[id].wlen)
			return drv_fail(dq, "used len %u > writable %llu of id %u",
					ulen,
					(unsigned long long)dq->st[id].wlen, id);
		if (!dq->batch) {
			*token = dq->st[id].token;
			*len = ulen;
			free_id(dq, id);
			return 1;
		}
		dq->batch_len = ulen;
	}
	/*
	 * In-order batch (VIRTIO 1.2, 2.8.8): one used descriptor for the
	 * whole batch at its first slot; earlier buffers count as fully
	 * written and we skip each one's chain length.
	 */
	id = dq->order[dq->order_head];
	if (id == dq->batch_last) {
		ulen = dq->batch_len;
		dq->batch = false;
	} else {
		ulen = (uint32_t)VHK_MIN(dq->st[id].wlen, UINT32_MAX);
	}
	*token = dq->st[id].token;
	*len = ulen;
	free_id(dq, id);
	return 1;
}

bool drv_packed_enable_cb(struct vhk_drv_vq *dq, bool enable)
{
	if (!enable) {
		drv_store_relaxed(&dq->drv_evt->flags,
				  VHK_RING_EVENT_FLAGS_DISABLE);
		return false;
	}
	if (dq->event_idx) {
		/*
		 * VIRTIO 1.2, 2.8.10: notify when the device writes the used
		 * descriptor at our next slot.  Release: off_wrap before flags,
		 * pairing with the device's acquire load of our flags.
		 */
		drv_store_relaxed(&dq->drv_evt->off_wrap,
				  (uint16_t)(dq->next_used |
					     (dq->used_wrap ? 0x8000 : 0)));
		drv_store_release(dq, &dq->drv_evt->flags,
				  VHK_RING_EVENT_FLAGS_DESC);
	} else {
		drv_store_relaxed(&dq->drv_evt->flags,
				  VHK_RING_EVENT_FLAGS_ENABLE);
	}
	/*
	 * Store(event flags) -> load(descriptor flags): full fence pairing
	 * with the device's full fence between its used-flags store and its
	 * read of our event suppression (vhk_vq_flush).
	 */
	drv_mb();
	if (dq->batch)
		return true;
	return is_used(drv_load_acquire(dq, &dq->pdesc[dq->next_used].flags),
		       dq->used_wrap);
}
