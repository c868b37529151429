/* SPDX-License-Identifier: MIT */
/*
 * vq_inflight_packed.c - vhost-user "Inflight I/O tracking" for packed
 * rings (QueueRegionPacked / DescStatePacked).
 *
 * Entries of the region are taken from a free list, one per descriptor of
 * a popped list; the head entry carries the pop order (counter), the list
 * length (num) and its last entry; every entry keeps a copy of its
 * descriptor (the ring slot is overwritten by used descriptors while the
 * buffer is in flight).  The "old_*" fields are the state at the last
 * complete pop or publish: a back-end that dies in the middle of either is
 * rolled back to them (or forward, if the ring shows the used descriptors
 * were already published).
 *
 * The back-end keeps its own copy of the lists (struct vq_pk_state) and
 * only writes the region while running; the region is read once, at
 * start, and every value read from it is bounded before use (the
 * front-end can write it at any time).
 */
#include <stdlib.h>

#include "ring/vq_priv.h"
#include "vhostkit/ring_ctl.h"

#define F_AVAIL	(1u << VHK_VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VHK_VRING_PACKED_DESC_F_USED)

static void pk_free(struct vq_pk_state *pk)
{
	free(pk->next);
	free(pk->copy);
	free(pk->busy);
	memset(pk, 0, sizeof(*pk));
}

static int pk_alloc(struct vq_pk_state *pk, uint16_t num)
{
	uint16_t *a = calloc((size_t)num * 6, sizeof(uint16_t));

	pk_free(pk);
	pk->copy = calloc(num, sizeof(*pk->copy));
	pk->busy = calloc(num, 1);
	if (!a || !pk->copy || !pk->busy) {
		free(a);
		free(pk->copy);
		free(pk->busy);
		memset(pk, 0, sizeof(*pk));
		return -ENOMEM;
	}
	pk->next = a;
	pk->last = a + num;
	pk->nent = a + 2 * num;
	pk->id = a + 3 * num;
	pk->by_id = a + 4 * num;
	pk->freed = a + 5 * num;
	pk->nfreed = 0;
	return 0;
}

/*
 * Head entry of the list in flight with buffer @id, or -1.  Drivers number
 * buffers below the queue size (Linux does): those ids have a direct slot;
 * larger ones, which the spec does not forbid, are searched.
 */
static int pk_lookup(const struct vhk_vq *vq, uint16_t id)
{
	const struct vq_pk_state *pk = &vq->pk;
	unsigned int e;

	if (id < vq->num) {
		e = pk->by_id[id];
		if (e && pk->busy[e - 1] == 1 && pk->id[e - 1] == id)
			return (int)e - 1;
		return -1;
	}
	for (e = 0; e < vq->num; e++)
		if (pk->busy[e] == 1 && pk->id[e] == id)
			return (int)e;
	return -1;
}

static void pk_claim(struct vhk_vq *vq, uint16_t head, uint16_t id)
{
	struct vq_pk_state *pk = &vq->pk;

	pk->busy[head] = 1;
	pk->id[head] = id;
	if (id < vq->num)
		pk->by_id[id] = (uint16_t)(head + 1);
}

/* Initialise a region the front-end zeroed (first use). */
static void init_region(struct vhk_vq *vq, struct vq_inflight_pregion *r)
{
	struct vq_pk_state *pk = &vq->pk;
	uint16_t num = vq->num;

	for (uint16_t i = 0; i < num; i++) {
		memset(&r->desc[i], 0, sizeof(r->desc[i]));
		r->desc[i].next = (uint16_t)(i + 1);
		pk->next[i] = (uint16_t)(i + 1);
	}
	pk->free_head = 0;
	pk->nfree = num;
	r->features = 0;
	r->desc_num = num;
	r->free_head = r->old_free_head = 0;
	r->used_idx = r->old_used_idx = vq->used_slot;
	r->used_wrap_counter = r->old_used_wrap_counter = vq->used_wrap;
	vring_fence(memory_order_release);
	r->version = VQ_INFLIGHT_VERSION;
}

/*
 * vhost-user spec, "Inflight I/O tracking", packed, "When reconnecting",
 * step 1: a publish that was cut short is committed if the ring shows its
 * first used descriptor, else rolled back.  Returns the free list head,
 * used slot and wrap counter to resume from.
 */
static void settle(struct vhk_vq *vq, struct vq_inflight_pregion *r,
		   uint16_t *free_head, uint16_t *used, bool *wrap)
{
	uint16_t old_used = r->old_used_idx, cur_used = r->used_idx;
	bool old_wrap = r->old_used_wrap_counter & 1;
	bool cur_wrap = r->used_wrap_counter & 1;
	uint16_t old_free = r->old_free_head, cur_free = r->free_head;

	if ((cur_used != old_used || cur_wrap != old_wrap) &&
	    old_used < vq->num) {
		uint16_t f = vq_load16_acquire(&vq->packed_desc[old_used].flags);
		/* The flags an available descriptor has for that wrap
		 * counter (VIRTIO 1.2, 2.8.1). */
		uint16_t avail = old_wrap ? F_AVAIL : F_USED;

		if ((f & (F_AVAIL | F_USED)) != avail) {
			/* Published before the crash: commit. */
			old_used = cur_used;
			old_wrap = cur_wrap;
			old_free = cur_free;
		}
	}
	/* Step 2: roll any in-progress update back. */
	*free_head = old_free;
	*used = old_used;
	*wrap = old_wrap;
}

/*
 * Rebuild the back-end's lists from a region in use: the free list from
 * @free_head, then every head outside it marked in flight with its list.
 * Returns the descriptors in flight, or -EINVAL for a region that cannot
 * have been written by a back-end (lists crossing, out of range, longer
 * than the ring).
 */
static int load_lists(struct vhk_vq *vq, struct vq_inflight_pregion *r,
		      uint16_t free_head, unsigned int *nheads)
{
	struct vq_pk_state *pk = &vq->pk;
	uint16_t num = vq->num;
	uint8_t *st = calloc(num, 1);	/* 1 free, 2 in a list */
	unsigned int total = 0, n = 0, steps;
	uint16_t e, prev;
	int ret = 0;

	if (!st)
		return -ENOMEM;
	/* Step 3: entries on the free list are not in flight. */
	for (e = free_head, steps = 0; e < num && steps < num; steps++) {
		if (st[e])
			break;	/* a cycle: the rest is rebuilt below */
		st[e] = 1;
		r->desc[e].inflight = 0;
		e = r->desc[e].next;
	}
	for (uint16_t h = 0; h < num && !ret; h++) {
		uint16_t cnt;

		if (st[h] || !r->desc[h].inflight)
			continue;
		cnt = r->desc[h].num;
		if (cnt == 0 || cnt > num - total) {
			ret = -EINVAL;
			break;
		}
		e = h;
		for (uint16_t k = 0; k < cnt; k++) {
			if (e >= num || st[e]) {
				ret = -EINVAL;
				break;
			}
			st[e] = 2;
			pk->next[e] = r->desc[e].next;
			prev = e;
			e = pk->next[e];
			if (k + 1 == cnt)
				pk->last[h] = prev;
		}
		if (ret)
			break;
		pk->nent[h] = cnt;
		pk_claim(vq, h, r->desc[pk->last[h]].id);
		vq->resubmit[n++] = h;
		total += cnt;
	}
	if (!ret) {
		/* The free list is every entry not in a list, in index
		 * order (what a back-end wrote is kept as it was only for
		 * the entries in flight). */
		pk->nfree = 0;
		pk->free_head = num;
		for (e = num; e-- > 0;) {
			if (st[e] == 2)
				continue;
			pk->next[e] = pk->free_head;
			r->desc[e].next = pk->free_head;
			r->desc[e].inflight = 0;
			pk->free_head = e;
			pk->nfree++;
		}
		*nheads = n;
		ret = (int)total;
	}
	free(st);
	return ret;
}

int vq_pinflight_start(struct vhk_vq *vq)
{
	struct vq_inflight_pregion *r = vq->inflight_mem;
	uint16_t num = vq->num, free_head, used;
	unsigned int nheads = 0;
	uint64_t maxc = 0;
	bool wrap;
	int total, err;

	vq->nresubmit = 0;
	vq->resubmit_pos = 0;
	vq->inflight_counter = 1;
	vq->pinflight = NULL;
	if (!r)
		return 0;
	if (vq->inflight_size < vhk_vq_inflight_size(num, true)) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region of %zu bytes too small for %u packed entries",
			vq->inflight_size, num);
		return -EINVAL;
	}
	err = pk_alloc(&vq->pk, num);
	if (err)
		return err;
	if (r->version == 0) {
		init_region(vq, r);
		vq->pinflight = r;
		return 0;
	}
	if (r->version != VQ_INFLIGHT_VERSION || r->desc_num != num) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region version %u / %u entries does not match "
			"this queue (%u)", r->version, r->desc_num, num);
		return -EINVAL;
	}
	settle(vq, r, &free_head, &used, &wrap);
	if (used >= num) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region: used index %u beyond %u entries",
			used, num);
		return -EINVAL;
	}
	free(vq->resubmit);
	vq->resubmit = malloc(sizeof(*vq->resubmit) * num);
	if (!vq->resubmit)
		return -ENOMEM;
	total = load_lists(vq, r, free_head, &nheads);
	if (total < 0) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region: descriptor lists corrupt");
		return total;
	}
	for (unsigned int i = 0; i < nheads; i++)
		if (r->desc[vq->resubmit[i]].counter > maxc)
			maxc = r->desc[vq->resubmit[i]].counter;
	if (vq_sort_by_counter(vq->resubmit, nheads, &r->desc[0].counter,
			       sizeof(r->desc[0])) < 0)
		return -ENOMEM;
	vq->nresubmit = nheads;
	vq->inflight_counter = maxc + 1;

	/*
	 * The region, not SET_VRING_BASE, says where the device stands: the
	 * used position is the last committed one, and the lists in flight
	 * were popped in order right after it, so the next available slot
	 * is @total slots further (a front-end cannot know either after a
	 * crash: nothing in guest memory records them for packed rings).
	 */
	vq->used_slot = used;
	vq->used_wrap = wrap;
	vq->avail_slot = used;
	vq->avail_wrap = wrap;
	for (int k = 0; k < total; k++) {
		if (++vq->avail_slot >= num) {
			vq->avail_slot = 0;
			vq->avail_wrap = !vq->avail_wrap;
		}
	}
	r->free_head = r->old_free_head = vq->pk.free_head;
	r->used_idx = r->old_used_idx = used;
	r->used_wrap_counter = r->old_used_wrap_counter = wrap;
	vq->pinflight = r;
	if (nheads)
		vhk_log(VHK_LOG_INFO, vq->name,
			"resubmitting %u in-flight buffers (%d descriptors)",
			nheads, total);
	return 0;
}

void vq_pinflight_stop(struct vhk_vq *vq)
{
	vq->pinflight = NULL;
	pk_free(&vq->pk);
}

int vq_pinflight_mark(struct vhk_vq *vq, const struct vhk_chain *c)
{
	struct vq_inflight_pregion *r = vq->pinflight;
	struct vq_pk_state *pk = &vq->pk;
	uint16_t head = pk->free_head, e = head, id = c->id;

	if (!r)
		return 0;
	/* Every descriptor in flight holds a ring slot: a driver cannot
	 * have more in flight than the ring has (VIRTIO 1.2, 2.8.6). */
	if (c->ndesc == 0 || c->ndesc > pk->nfree)
		return vhk_vq_fail(vq, -EPROTO,
				   "more descriptors in flight than the ring holds (%u > %u free)",
				   c->ndesc, pk->nfree);
	/* VIRTIO 1.2, 2.8.6: the device names a used buffer by its id, so
	 * two buffers in flight with one id cannot be told apart. */
	if (pk_lookup(vq, id) >= 0)
		return vhk_vq_fail(vq, -EPROTO,
				   "buffer id %u made available while in flight",
				   id);

	/* vhost-user spec, packed, "When receiving available buffers". */
	r->desc[head].num = 0;
	r->desc[head].counter = vq->inflight_counter++;
	atomic_signal_fence(memory_order_release);
	r->desc[head].inflight = 1;
	for (uint16_t k = 0; k < c->ndesc; k++) {
		const struct vhk_vring_packed_desc *d = &pk->copy[k];

		r->desc[e].addr = vhk_le64_get(d->addr);
		r->desc[e].len = vhk_le32_get(d->len);
		r->desc[e].flags = vhk_le16_get(d->flags);
		r->desc[e].id = vhk_le16_get(d->id);
		if (k + 1 == c->ndesc) {
			r->desc[head].last = e;
			pk->last[head] = e;
		}
		e = pk->next[e];
		r->free_head = e;
	}
	r->desc[head].num = c->ndesc;
	pk->nent[head] = c->ndesc;
	pk->free_head = e;
	pk->nfree -= c->ndesc;
	pk_claim(vq, head, id);
	/* The list is complete before it counts. */
	vring_fence(memory_order_release);
	r->old_free_head = e;
	return 0;
}

void vq_pinflight_unmark(struct vhk_vq *vq, const struct vhk_chain *c)
{
	struct vq_inflight_pregion *r = vq->pinflight;
	struct vq_pk_state *pk = &vq->pk;
	int h;

	if (!r)
		return;
	h = pk_lookup(vq, c->id);
	if (h < 0)
		return;
	/* Not in flight first, then its entries back on the free list. */
	r->desc[h].inflight = 0;
	vring_fence(memory_order_release);
	r->desc[pk->last[h]].next = pk->free_head;
	pk->next[pk->last[h]] = pk->free_head;
	pk->free_head = (uint16_t)h;
	pk->nfree += pk->nent[h];
	pk->busy[h] = 0;
	r->free_head = (uint16_t)h;
	vring_fence(memory_order_release);
	r->old_free_head = (uint16_t)h;
	vq->inflight_counter--;
}

int vq_pinflight_load(struct vhk_vq *vq, uint16_t head)
{
	struct vq_inflight_pregion *r = vq->pinflight;
	struct vq_pk_state *pk = &vq->pk;
	uint16_t e = head, n;

	if (!r || head >= vq->num || !pk->busy[head])
		return -EPROTO;
	n = pk->nent[head];
	for (uint16_t k = 0; k < n; k++) {
		struct vhk_vring_packed_desc *d = &pk->copy[k];

		/* One read of each field; the walk validates the copy. */
		d->addr = vhk_le64_make(atomic_load_explicit(
			(_Atomic uint64_t *)&r->desc[e].addr,
			memory_order_relaxed));
		d->len = vhk_le32_make(atomic_load_explicit(
			(_Atomic uint32_t *)&r->desc[e].len,
			memory_order_relaxed));
		d->id = vhk_le16_make(k + 1 == n ? pk->id[head] :
			atomic_load_explicit((_Atomic uint16_t *)&r->desc[e].id,
					     memory_order_relaxed));
		d->flags = vhk_le16_make(atomic_load_explicit(
			(_Atomic uint16_t *)&r->desc[e].flags,
			memory_order_relaxed));
		e = pk->next[e];
	}
	return n;
}

/*
 * vhost-user spec, packed, "When supplying used buffers", steps 1-5: the
 * entries of every pending buffer go back on the free list and the new
 * used position is recorded; nothing is committed (old_*) yet.
 */
void vq_pinflight_batch_add(struct vhk_vq *vq)
{
	struct vq_inflight_pregion *r = vq->pinflight;
	struct vq_pk_state *pk = &vq->pk;
	uint16_t slot = vq->used_slot;
	bool wrap = vq->used_wrap;

	if (!r)
		return;
	for (unsigned int k = 0; k < vq->npending; k++) {
		int h = pk_lookup(vq, vq->pending[k].id);

		for (unsigned int j = 0; j < vq->pending[k].ndesc; j++) {
			if (++slot >= vq->num) {
				slot = 0;
				wrap = !wrap;
			}
		}
		if (h < 0)
			continue;	/* not popped by us: nothing to free */
		r->desc[pk->last[h]].next = pk->free_head;
		pk->next[pk->last[h]] = pk->free_head;
		pk->free_head = (uint16_t)h;
		pk->nfree += pk->nent[h];
		r->free_head = (uint16_t)h;
		pk->busy[h] = 2;	/* freed, flag cleared after publish */
		pk->freed[pk->nfreed++] = (uint16_t)h;
	}
	r->used_idx = slot;
	r->used_wrap_counter = wrap;
	/* Ordered before the ring's used flags (the commit point). */
	vring_fence(memory_order_release);
}

/* Steps 7-8: after the used flags are published. */
void vq_pinflight_batch_done(struct vhk_vq *vq)
{
	struct vq_inflight_pregion *r = vq->pinflight;
	struct vq_pk_state *pk = &vq->pk;

	if (!r)
		return;
	vring_fence(memory_order_release);
	for (unsigned int k = 0; k < pk->nfreed; k++) {
		r->desc[pk->freed[k]].inflight = 0;
		pk->busy[pk->freed[k]] = 0;
	}
	pk->nfreed = 0;
	vring_fence(memory_order_release);
	r->old_free_head = pk->free_head;
	r->old_used_idx = vq->used_slot;
	r->old_used_wrap_counter = vq->used_wrap;
}
