/* SPDX-License-Identifier: MIT */
/*
 * drv_split.c - driver side of the split virtqueue (VIRTIO 1.2, 2.7).
 *
 * Layout in the caller's memory: descriptor table at offset 0 (16-byte
 * aligned), available ring right after it (2-byte aligned), used ring at
 * the next 4-byte boundary.  Free descriptors are linked through a private
 * array, never through the shared table, so a device that scribbles on the
 * table cannot corrupt our free list.
 */
#include <errno.h>
#include <stdlib.h>

#include "ring/drv/drv_priv.h"

static size_t used_off(uint16_t num)
{
	size_t off = vhk_split_desc_size(num) + vhk_split_avail_size(num);

	return (off + VHK_SPLIT_USED_ALIGN - 1) & ~(size_t)(VHK_SPLIT_USED_ALIGN - 1);
}

size_t drv_split_mem_size(uint16_t num)
{
	return used_off(num) + vhk_split_used_size(num);
}

/* used_event lives after avail->ring[num]; avail_event after used->ring[num]. */
static vhk_le16 *used_event(struct vhk_drv_vq *dq)
{
	return &dq->avail->ring[dq->num];
}

static vhk_le16 *avail_event(struct vhk_drv_vq *dq)
{
	return (vhk_le16 *)(void *)&dq->used->ring[dq->num];
}

int drv_split_init(struct vhk_drv_vq *dq)
{
	uint16_t num = dq->num;

	dq->desc = (struct vhk_vring_desc *)(void *)dq->mem;
	dq->avail = (struct vhk_vring_avail *)(void *)
		(dq->mem + vhk_split_desc_size(num));
	dq->used = (struct vhk_vring_used *)(void *)(dq->mem + used_off(num));
	dq->addrs.desc = dq->mem_addr;
	dq->addrs.driver = dq->mem_addr + vhk_split_desc_size(num);
	dq->addrs.device = dq->mem_addr + used_off(num);
	dq->next = calloc(num, sizeof(*dq->next));
	if (!dq->next)
		return -ENOMEM;
	for (uint16_t i = 0; i < num; i++)
		dq->next[i] = (uint16_t)(i + 1 < num ? i + 1 : 0);
	dq->free_head = 0;
	return 0;
}

static void write_desc(struct vhk_vring_desc *d, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	d->addr = vhk_le64_make(addr);
	d->len = vhk_le32_make(len);
	d->flags = vhk_le16_make(flags);
	d->next = vhk_le16_make(next);
}

/*
 * Next table index after @i.  With IN_ORDER descriptors are used in ring
 * order: "next" is x + 1, and 0 after the last entry (VIRTIO 1.2, 2.7.5.2).
 */
static uint16_t next_index(const struct vhk_drv_vq *dq, uint16_t i)
{
	if (dq->in_order)
		return (uint16_t)(i + 1 == dq->num ? 0 : i + 1);
	return dq->next[i];
}

int drv_split_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		  unsigned int n, void *token, void *table,
		  uint64_t table_addr, uint64_t wlen)
{
	uint16_t head = dq->free_head, i = head, last = head;
	struct drv_state *st = &dq->st[head];

	if (table) {
		struct vhk_vring_desc *t = table;

		/* VIRTIO 1.2, 2.7.5.3.1: entries chained with next = i + 1. */
		for (unsigned int k = 0; k < n; k++) {
			uint16_t fl = segs[k].write ? VHK_VRING_DESC_F_WRITE : 0;

			if (k + 1 < n)
				fl |= VHK_VRING_DESC_F_NEXT;
			write_desc(&t[k], segs[k].addr, segs[k].len, fl,
				   (uint16_t)(k + 1 < n ? k + 1 : 0));
		}
		/* The ring entry: INDIRECT without NEXT or WRITE (2.7.5.3.1). */
		write_desc(&dq->desc[head], table_addr, (uint32_t)(16u * n),
			   VHK_VRING_DESC_F_INDIRECT, 0);
		st->ndesc = 1;
	} else {
		for (unsigned int k = 0; k < n; k++) {
			uint16_t fl = segs[k].write ? VHK_VRING_DESC_F_WRITE : 0;
			uint16_t nx = next_index(dq, i);

			if (k + 1 < n)
				fl |= VHK_VRING_DESC_F_NEXT;
			write_desc(&dq->desc[i], segs[k].addr, segs[k].len,
				   fl, k + 1 < n ? nx : 0);
			last = i;
			i = nx;
		}
		st->ndesc = (uint16_t)n;
	}
	st->last = last;
	st->token = token;
	st->wlen = wlen;
	dq->free_head = next_index(dq, last);
	dq->num_free -= st->ndesc;
	dq->inflight++;
	if (dq->in_order)
		drv_order_push(dq, head);
	/*
	 * The avail entry is plain memory: the device reads it only after it
	 * saw the index store in publish (VIRTIO 1.2, 2.7.13.2).
	 */
	dq->avail->ring[dq->avail_idx & (dq->num - 1)] = vhk_le16_make(head);
	dq->avail_idx++;
	return 0;
}

bool drv_split_publish(struct vhk_drv_vq *dq)
{
	uint16_t old = dq->avail_pub, new_idx = dq->avail_idx;

	/*
	 * VIRTIO 1.2, 2.7.13.3.1: descriptors and ring entries before idx.
	 * Release store pairs with the device's acquire load of avail->idx
	 * (vhk_vq_pop) before it reads avail->ring[] and the table.
	 */
	drv_store_release(dq, &dq->avail->idx, new_idx);
	dq->avail_pub = new_idx;
	if (old == new_idx)
		return false;
	/*
	 * Store(avail->idx) -> load(avail_event / used->flags) needs a full
	 * fence (VIRTIO 1.2, 2.7.13.4.1); it pairs with the device's full
	 * fence between its avail_event / flags store and its re-read of
	 * avail->idx (vhk_vq_enable_notify).
	 */
	drv_mb();
	if (dq->event_idx)
		return vhk_vring_need_event(drv_load_relaxed(avail_event(dq)),
					    new_idx, old);
	/* VIRTIO 1.2, 2.7.10: NO_NOTIFY is only a hint, flags else ignored. */
	return !(drv_load_relaxed(&dq->used->flags) &
		 VHK_VRING_USED_F_NO_NOTIFY);
}

static void free_chain(struct vhk_drv_vq *dq, uint16_t id)
{
	struct drv_state *st = &dq->st[id];

	if (!dq->in_order) {
		dq->next[st->last] = dq->free_head;
		dq->free_head = id;
	} else {
		dq->order_head = (uint16_t)((dq->order_head + 1) % dq->num);
		dq->order_count--;
	}
	dq->num_free += st->ndesc;
	dq->inflight--;
	st->token = NULL;
}

int drv_split_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len)
{
	uint32_t id, ulen;
	int ret;

	if (!dq->batch) {
		struct vhk_vring_used_elem e;
		uint16_t used_idx, avail;

		/*
		 * Acquire pairs with the device's release store of used->idx
		 * (vhk_vq_flush) after it wrote the used elements.
		 */
		used_idx = drv_load_acquire(dq, &dq->used->idx);
		if (used_idx == dq->last_used)
			return 0;
		avail = (uint16_t)(used_idx - dq->last_used);
		/* More used than in flight: the index jumped (2.7.8.1). */
		if (avail > dq->inflight)
			return drv_fail(dq, "used idx moved by %u, %u in flight",
					avail, dq->inflight);
		/* Single fetch of the element: only the copy is checked
		 * and used (no double fetch). */
		e = vring_load_used_elem(
			&dq->used->ring[dq->last_used & (dq->num - 1)]);
		id = vhk_le32_get(e.id);
		ulen = vhk_le32_get(e.len);
		if (id >= dq->num)
			return drv_fail(dq, "used id %u >= queue size %u", id,
					dq->num);
		ret = drv_order_check(dq, (uint16_t)id, avail, false);
		if (ret < 0)
			return ret;
		/* VIRTIO 1.2, 2.7.8.1: len counts bytes written to the buffer. */
		if (ulen > dq->st[id].wlen)
			return drv_fail(dq, "used len %u > writable %llu of id %u",
					ulen,
					(unsigned long long)dq->st[id].wlen, id);
		if (!dq->batch) {
			*token = dq->st[id].token;
			*len = ulen;
			free_chain(dq, (uint16_t)id);
			dq->last_used++;
			return 1;
		}
		dq->batch_len = ulen;
	}
	/* In-order batch: earlier buffers count as fully written (2.7.9). */
	id = dq->order[dq->order_head];
	if (id == dq->batch_last) {
		ulen = dq->batch_len;
		dq->batch = false;
	} else {
		ulen = (uint32_t)VHK_MIN(dq->st[id].wlen, UINT32_MAX);
	}
	*token = dq->st[id].token;
	*len = ulen;
	free_chain(dq, (uint16_t)id);
	dq->last_used++;
	return 1;
}

bool drv_split_enable_cb(struct vhk_drv_vq *dq, bool enable)
{
	if (!enable) {
		/*
		 * VIRTIO 1.2, 2.7.7.1: with EVENT_IDX flags stay 0; an event
		 * just behind our position is never crossed.  Without it the
		 * NO_INTERRUPT hint.
		 */
		if (dq->event_idx)
			drv_store_relaxed(used_event(dq),
					  (uint16_t)(dq->last_used - 1));
		else
			drv_store_relaxed(&dq->avail->flags,
					  VHK_VRING_AVAIL_F_NO_INTERRUPT);
		return false;
	}
	if (dq->event_idx)
		drv_store_relaxed(used_event(dq), dq->last_used);
	else
		drv_store_relaxed(&dq->avail->flags, 0);
	/*
	 * Store(used_event / flags) -> load(used->idx): full fence pairing
	 * with the device's full fence between its used->idx store and its
	 * read of used_event / flags (vhk_vq_flush).
	 */
	drv_mb();
	if (dq->batch)
		return true;
	return drv_load_acquire(dq, &dq->used->idx) != dq->last_used;
}
