/* SPDX-License-Identifier: MIT */
/*
 * drv_priv.h - driver-side virtqueue internals shared by drv_ring.c (common
 * entry points), drv_split.c and drv_packed.c.
 *
 * Memory ordering (VIRTIO 1.2, 2.7.13 / 2.8.21), through the accessors
 * the device rings use too (ring/vring_access.h).  Shared indices and
 * flags are C11 atomics on the 16-bit words; used elements are fetched
 * once into a copy; descriptors we write are plain memory ordered by the
 * index / flags:
 *  - publish: release store of avail->idx / a packed head's flags, pairing
 *    with the device's acquire load of the same word before it reads the
 *    descriptors;
 *  - collect: acquire load of used->idx / a packed descriptor's flags,
 *    pairing with the device's release store after it wrote id and len;
 *  - notification decisions: a full fence between our index store and our
 *    read of the other side's event word (store->load order), pairing with
 *    the device's full fence between its event store and its index re-read.
 * With VIRTIO_F_ORDER_PLATFORM the device may be real hardware (or another
 * agent that does not follow the C11 model), so every fence becomes a full
 * sequentially consistent one (a hardware barrier, mfence/dmb ish).
 */
#ifndef VHK_RING_DRV_PRIV_H
#define VHK_RING_DRV_PRIV_H

#include <stdatomic.h>

#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "ring/vring_access.h"

/* Per-buffer bookkeeping, indexed by split head / packed buffer id. */
struct drv_state {
	void *token;		/* NULL when the id is free */
	uint64_t wlen;		/* device-writable bytes (used len bound) */
	uint16_t ndesc;		/* ring slots (split: table entries) used */
	uint16_t last;		/* split: last table index of the chain */
};

struct vhk_drv_vq {
	bool packed;
	bool event_idx;
	bool indirect;
	bool in_order;
	bool hw_barriers;	/* ORDER_PLATFORM */
	bool broken;		/* the device broke a rule: -EPROTO seen */
	bool cb_enabled;
	uint16_t num;
	unsigned int num_free;	/* free descriptors (slots) */
	unsigned int inflight;	/* chains added and not yet collected */
	uint64_t features;
	uint8_t *mem;
	uint64_t mem_addr;
	struct vhk_vq_addrs addrs;
	struct drv_state *st;	/* [num] */

	/* In-order completion: ids in the order they were made available. */
	uint16_t *order;	/* [num] FIFO */
	uint16_t order_head;	/* oldest in flight */
	uint16_t order_count;
	/* In-order batch being returned (VIRTIO 1.2, 2.7.9 / 2.8.8). */
	bool batch;
	uint16_t batch_last;	/* id the device wrote for the whole batch */
	uint32_t batch_len;

	/* Split (VIRTIO 1.2, 2.7). */
	struct vhk_vring_desc *desc;
	struct vhk_vring_avail *avail;
	struct vhk_vring_used *used;
	uint16_t *next;		/* private free-list links (never read back) */
	uint16_t free_head;
	uint16_t avail_idx;	/* shadow: next avail index to fill */
	uint16_t avail_pub;	/* avail index at the last publish */
	uint16_t last_used;	/* next used index to collect */

	/* Packed (VIRTIO 1.2, 2.8). */
	struct vhk_vring_packed_desc *pdesc;
	struct vhk_vring_packed_event *drv_evt;	/* written by us */
	struct vhk_vring_packed_event *dev_evt;	/* written by the device */
	uint16_t *id_next;	/* free buffer-id stack links */
	uint16_t free_id;
	uint16_t next_avail;	/* next slot to fill */
	bool avail_wrap;	/* driver ring wrap counter (2.8.1) */
	uint16_t pub_slot;	/* next_avail / avail_wrap at the last publish */
	bool pub_wrap;
	uint16_t next_used;	/* next slot the device writes a used desc to */
	bool used_wrap;
	/* The first head added since the last publish: its flags are stored
	 * last, by publish (VIRTIO 1.2, 2.8.21.1.1). */
	bool head_pending;
	uint16_t head_slot;
	uint16_t head_flags;
};

#define DRV_NONE 0xffffu

/* A full sequentially consistent fence (vring_access.h). */
static inline void drv_fence(void)
{
	vring_fence(memory_order_seq_cst);
}

/* ---- ordered accesses to shared words (vring_access.h) ---- */

/* Store @v with release semantics (full fence first with ORDER_PLATFORM). */
static inline void drv_store_release(const struct vhk_drv_vq *dq,
				     vhk_le16 *p, uint16_t v)
{
	if (dq->hw_barriers)
		drv_fence();
	vring_store16(p, v, memory_order_release);
}

/* Load with acquire semantics (full fence after with ORDER_PLATFORM). */
static inline uint16_t drv_load_acquire(const struct vhk_drv_vq *dq,
					vhk_le16 *p)
{
	uint16_t v = vring_load16(p, memory_order_acquire);

	if (dq->hw_barriers)
		drv_fence();
	return v;
}

/* Unordered single access to a shared word (the fence is elsewhere). */
static inline uint16_t drv_load_relaxed(vhk_le16 *p)
{
	return vring_load16(p, memory_order_relaxed);
}

static inline void drv_store_relaxed(vhk_le16 *p, uint16_t v)
{
	vring_store16(p, v, memory_order_relaxed);
}

/* Full barrier: store->load order for notification decisions. */
static inline void drv_mb(void)
{
	drv_fence();
}

int drv_fail(struct vhk_drv_vq *dq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Common in-order FIFO helpers (drv_ring.c). */
void drv_order_push(struct vhk_drv_vq *dq, uint16_t id);
int drv_order_check(struct vhk_drv_vq *dq, uint16_t id, unsigned int avail,
		    bool packed);

/* Layout-specific halves. */
size_t drv_split_mem_size(uint16_t num);
int drv_split_init(struct vhk_drv_vq *dq);
int drv_split_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		  unsigned int n, void *token, void *table,
		  uint64_t table_addr, uint64_t wlen);
bool drv_split_publish(struct vhk_drv_vq *dq);
int drv_split_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len);
bool drv_split_enable_cb(struct vhk_drv_vq *dq, bool enable);

size_t drv_packed_mem_size(uint16_t num);
int drv_packed_init(struct vhk_drv_vq *dq);
int drv_packed_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		   unsigned int n, void *token, void *table,
		   uint64_t table_addr, uint64_t wlen);
bool drv_packed_publish(struct vhk_drv_vq *dq);
int drv_packed_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len);
bool drv_packed_enable_cb(struct vhk_drv_vq *dq, bool enable);

#endif /* VHK_RING_DRV_PRIV_H */
