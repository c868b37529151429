/* SPDX-License-Identifier: MIT */
/*
 * vq_inflight.c - vhost-user "Inflight I/O tracking" for split rings (the
 * packed layout is in vq_inflight_packed.c): the
 * shared region lets a restarted back-end resubmit chains it had popped
 * but not completed.  The region is written by the front-end too, so
 * every value read from it is bounded before use.
 */
#include <stdlib.h>

#include "ring/vq_priv.h"
#include "vhostkit/ring_ctl.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

size_t vhk_vq_inflight_size(uint16_t num, bool packed)
{
	if (num == 0)
		return 0;
	if (packed)
		return align_up(sizeof(struct vq_inflight_pregion) +
				sizeof(struct vq_inflight_pdesc) * (size_t)num,
				VQ_INFLIGHT_ALIGN);
	return align_up(sizeof(struct vq_inflight_region) +
			sizeof(struct vq_inflight_desc) * (size_t)num,
			VQ_INFLIGHT_ALIGN);
}

int vhk_vq_set_inflight(struct vhk_vq *vq, void *region, size_t size)
{
	if (vq->started)
		return -EBUSY;
	if (region && (size < sizeof(struct vq_inflight_region) ||
		       (uintptr_t)region % 8))
		return -EINVAL;
	vq->inflight_mem = region;
	vq->inflight_size = region ? size : 0;
	return 0;
}

struct by_counter {
	uint64_t counter;
	uint16_t idx;
};

static int cmp_counter(const void *a, const void *b)
{
	const struct by_counter *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Sort entry indexes by the counters of their entries (oldest first).  The
 * counters live in memory the front-end may write at any time: each is
 * read once into a private array, so the comparison stays consistent.
 */
int vq_sort_by_counter(uint16_t *idx, unsigned int n, const uint64_t *c0,
		       size_t stride)
{
	struct by_counter *v;
	unsigned int i;

	if (n < 2)
		return 0;
	v = malloc(sizeof(*v) * n);
	if (!v)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const uint64_t *c = (const uint64_t *)((const uint8_t *)c0 +
						       stride * idx[i]);

		v[i].counter = atomic_load_explicit((_Atomic uint64_t *)c,
						    memory_order_relaxed);
		v[i].idx = idx[i];
	}
	qsort(v, n, sizeof(*v), cmp_counter);
	for (i = 0; i < n; i++)
		idx[i] = v[i].idx;
	free(v);
	return 0;
}

/*
 * Called when a split queue's rings are mapped for the first time after
 * start (used->idx is known).  Initialises a fresh region, or rolls back
 * the last, possibly half-written, batch and queues the chains still in
 * flight for resubmission (vhost-user spec, "When reconnecting").
 */
int vq_inflight_start(struct vhk_vq *vq)
{
	struct vq_inflight_region *r = vq->inflight_mem;
	uint16_t num = vq->num, used = vq->used_idx;
	uint64_t maxc = 0;
	unsigned int n = 0, i;

	vq->nresubmit = 0;
	vq->resubmit_pos = 0;
	vq->inflight_counter = 1;
	vq->inflight = NULL;
	if (!r)
		return 0;
	if (vq->inflight_size < vhk_vq_inflight_size(num, false)) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region of %zu bytes too small for %u entries",
			vq->inflight_size, num);
		return -EINVAL;
	}
	if (r->version == 0) {
		/* Zeroed by the front-end on first use: initialise. */
		memset(r->desc, 0, sizeof(r->desc[0]) * num);
		r->features = 0;
		r->desc_num = num;
		r->last_batch_head = 0;
		r->used_idx = used;
		vring_fence(memory_order_release);
		r->version = VQ_INFLIGHT_VERSION;
		vq->inflight = r;
		return 0;
	}
	if (r->version != VQ_INFLIGHT_VERSION || r->desc_num != num) {
		vhk_log(VHK_LOG_ERR, vq->name,
			"inflight region version %u / %u entries does not match "
			"this queue (%u)", r->version, r->desc_num, num);
		return -EINVAL;
	}

	if (r->used_idx != used) {
		/* A batch was published but not yet cleared: its heads are
		 * used already.  The list is bounded by the batch size and
		 * by num (the front-end may have scribbled on it). */
		uint16_t batch = (uint16_t)(used - r->used_idx);
		uint16_t h = r->last_batch_head;

		for (i = 0; i < batch && i < num && h < num; i++) {
			r->desc[h].inflight = 0;
			h = r->desc[h].next;
		}
		r->used_idx = used;
	}

	free(vq->resubmit);
	vq->resubmit = malloc(sizeof(*vq->resubmit) * num);
	if (!vq->resubmit)
		return -ENOMEM;
	for (i = 0; i < num; i++) {
		if (!r->desc[i].inflight)
			continue;
		vq->resubmit[n++] = (uint16_t)i;
		if (r->desc[i].counter > maxc)
			maxc = r->desc[i].counter;
	}
	if (vq_sort_by_counter(vq->resubmit, n, &r->desc[0].counter,
			       sizeof(r->desc[0])) < 0)
		return -ENOMEM;
	vq->nresubmit = n;
	vq->inflight = r;
	vq->inflight_counter = maxc + 1;
	/* Everything popped before is either used or in flight. */
	vq->last_avail = (uint16_t)(used + n);
	vq->shadow_avail = vq->last_avail;
	if (n)
		vhk_log(VHK_LOG_INFO, vq->name,
			"resubmitting %u in-flight chains", n);
	return 0;
}

void vq_inflight_stop(struct vhk_vq *vq)
{
	vq->inflight = NULL;
	free(vq->resubmit);
	vq->resubmit = NULL;
	vq->nresubmit = 0;
	vq->resubmit_pos = 0;
}

void vq_inflight_mark(struct vhk_vq *vq, uint16_t head)
{
	struct vq_inflight_desc *d;

	if (!vq->inflight)
		return;
	d = &vq->inflight->desc[head];
	d->counter = vq->inflight_counter++;
	/* The counter is in place before the flag that makes it count. */
	atomic_signal_fence(memory_order_release);
	d->inflight = 1;
}

/* Undo vq_inflight_mark() of the newest pop (vhk_vq_unpop()). */
void vq_inflight_unmark(struct vhk_vq *vq, uint16_t head)
{
	if (!vq->inflight || head >= vq->num)
		return;
	vq->inflight->desc[head].inflight = 0;
	vq->inflight_counter--;
}

void vq_inflight_batch_add(struct vhk_vq *vq, uint16_t head)
{
	struct vq_inflight_region *r = vq->inflight;

	if (!r || head >= vq->num)
		return;
	r->desc[head].next = r->last_batch_head;
	atomic_signal_fence(memory_order_release);
	r->last_batch_head = head;
}

void vq_inflight_batch_done(struct vhk_vq *vq, uint16_t new_used_idx)
{
	struct vq_inflight_region *r = vq->inflight;
	unsigned int k;

	if (!r)
		return;
	for (k = 0; k < vq->npending; k++) {
		uint16_t h = vq->pending[k].id;

		if (h < vq->num)
			r->desc[h].inflight = 0;
	}
	atomic_signal_fence(memory_order_release);
	r->used_idx = new_used_idx;
}
