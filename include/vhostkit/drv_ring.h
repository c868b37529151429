/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/drv_ring.h - driver-side virtqueues (split and packed).
 *
 * The role a guest kernel plays: place buffers, publish them, decide
 * whether to kick, collect used buffers.  Used by the front-end library's
 * userspace drivers and, in tests, as the mock driver that writes real ring
 * bytes into fake guest memory for the device side to read.
 *
 * The driver trusts nothing the device writes back: a used id that is out
 * of range or not in flight, or a used length larger than the buffer, is
 * reported as -EPROTO.
 * Not thread-safe: one thread drives a queue at a time.
 */
#ifndef VHOSTKIT_DRV_RING_H
#define VHOSTKIT_DRV_RING_H

#include "vhostkit/api.h"
#include "vhostkit/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One buffer segment, in the device's address space (GPA or IOVA). */
struct vhk_drv_seg {
	uint64_t addr;
	uint32_t len;
	bool write;		/* device-writable; all writable after readable */
};

struct vhk_drv_vq;

/**
 * vhk_drv_vq_mem_size - bytes of contiguous ring memory a queue of @num
 * needs (descriptor area, driver area and device area, each aligned as
 * VIRTIO 1.2 2.7 / 2.8 require).  Returns 0 for an invalid @num.
 */
VHK_API
size_t vhk_drv_vq_mem_size(bool packed, uint16_t num);

/**
 * vhk_drv_vq_new - lay out a queue in @mem (host pointer, at least
 * vhk_drv_vq_mem_size() bytes, 4096-aligned recommended) whose first byte
 * the device sees at address @mem_addr; the memory is zeroed.
 * @features: negotiated (RING_PACKED chooses the layout; EVENT_IDX,
 * INDIRECT_DESC, IN_ORDER, ORDER_PLATFORM are honoured).
 * Returns 0 and *@out, -EINVAL (num 0, > 32768, or split and not a power
 * of two; @mem or @mem_addr not 16-byte aligned), or -ENOMEM.
 */
VHK_API
int vhk_drv_vq_new(struct vhk_drv_vq **out, uint16_t num, uint64_t features,
		   void *mem, uint64_t mem_addr);

/** vhk_drv_vq_free - free the bookkeeping (not the ring memory). */
VHK_API
void vhk_drv_vq_free(struct vhk_drv_vq *dq);

/** vhk_drv_vq_addrs - device-visible addresses for SET_VRING_ADDR. */
VHK_API
void vhk_drv_vq_addrs(const struct vhk_drv_vq *dq, struct vhk_vq_addrs *a);

/** vhk_drv_vq_num_free - descriptors free for new buffers. */
VHK_API
unsigned int vhk_drv_vq_num_free(const struct vhk_drv_vq *dq);

/**
 * vhk_drv_vq_add - place a chain of @n segments (readable ones first) with
 * @token returned on completion (not NULL).  Not visible until
 * vhk_drv_vq_publish().  Returns 0, -ENOSPC (ring full), -EINVAL (no
 * segments, more than the queue size, readable after writable, more than
 * 2^32 bytes, address range wraps) or -EIO once the queue is broken.
 */
VHK_API
int vhk_drv_vq_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		   unsigned int n, void *token)
	__attribute__((warn_unused_result));

/**
 * vhk_drv_vq_add_indirect - as vhk_drv_vq_add() through an indirect table
 * the caller provides: @table (host pointer, 16 * @n bytes) seen by the
 * device at @table_addr.  Takes one ring slot.  Needs INDIRECT_DESC.
 */
VHK_API
int vhk_drv_vq_add_indirect(struct vhk_drv_vq *dq,
			    const struct vhk_drv_seg *segs, unsigned int n,
			    void *token, void *table, uint64_t table_addr)
	__attribute__((warn_unused_result));

/**
 * vhk_drv_vq_publish - expose added chains to the device (release fence
 * pairing with the device's acquire load of the avail index / flags).
 * Returns true if the device wants a kick (EVENT_IDX avail_event, used
 * flags, or packed device event suppression).
 */
VHK_API
bool vhk_drv_vq_publish(struct vhk_drv_vq *dq);

/**
 * vhk_drv_vq_get_used - collect one used buffer.
 * Returns 1 with *@token and *@len; 0 if none; -EPROTO if the device wrote
 * an id that is not in flight or a length beyond the writable bytes.
 * After -EPROTO the queue is broken: get_used keeps returning -EPROTO and
 * add returns -EIO (the driver should reset the device).
 * With IN_ORDER, one used entry may complete a batch (VIRTIO 1.2, 2.7.9 /
 * 2.8.8): the buffers before the named one are returned one per call with
 * their full writable length.
 */
VHK_API
int vhk_drv_vq_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len)
	__attribute__((warn_unused_result));

/**
 * vhk_drv_vq_enable_cb - ask the device for (@enable) or not for used
 * notifications.  After enabling, returns true if used buffers arrived
 * meanwhile (collect again).
 */
VHK_API
bool vhk_drv_vq_enable_cb(struct vhk_drv_vq *dq, bool enable);

/**
 * vhk_drv_vq_raw - the ring memory laid out by new, for tests that write
 * hostile descriptors: *@desc the descriptor table / ring, *@driver the
 * avail ring / driver event area, *@device the used ring / device event.
 */
VHK_API
void vhk_drv_vq_raw(struct vhk_drv_vq *dq, void **desc, void **driver,
		    void **device);

/**
 * vhk_drv_vq_base - the SET_VRING_BASE value that makes a device start
 * where this queue's next published chain will be: split, the next avail
 * index; packed (vhost-user encoding), the next slot | wrap counter << 15
 * (0x8000 for a fresh packed queue, VIRTIO 1.2 2.8.1).
 */
VHK_API
uint16_t vhk_drv_vq_base(const struct vhk_drv_vq *dq);

/** vhk_drv_vq_size - the queue size given to vhk_drv_vq_new(). */
VHK_API
uint16_t vhk_drv_vq_size(const struct vhk_drv_vq *dq);

/** vhk_drv_vq_broken - true once the device broke a rule (-EPROTO seen). */
VHK_API
bool vhk_drv_vq_broken(const struct vhk_drv_vq *dq);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_DRV_RING_H */
