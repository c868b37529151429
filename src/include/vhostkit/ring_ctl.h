/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/ring_ctl.h - the owner's side of a device-side virtqueue
 * (internal: src/include, not installed): create, start on an address
 * space, stop, resume position, remap, inflight tracking.  The server and
 * the tests own queues; a device only uses vhostkit/ring.h on the queue it
 * is handed.
 *
 * Lifecycle: vhk_vq_new() -> vhk_vq_start() -> { pop, push, flush,
 * enable_notify }* -> vhk_vq_stop() -> vhk_vq_free().
 */
#ifndef VHOSTKIT_RING_CTL_H
#define VHOSTKIT_RING_CTL_H

#include "vhostkit/as.h"
#include "vhostkit/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_vq_params {
	uint16_t num;		/* queue size; split: power of 2 */
	uint64_t features;	/* acked: RING_PACKED, EVENT_IDX, INDIRECT_DESC, IN_ORDER */
	struct vhk_vq_addrs addrs;
	/*
	 * Where to resume (SET_VRING_BASE).  Split: the next avail index to
	 * read.  Packed (vhost-user encoding): bits 0-14 the next avail slot,
	 * bit 15 its wrap counter.
	 */
	uint16_t avail_base;
	/*
	 * Packed only, same encoding: next used slot + wrap counter.  Split
	 * reads used->idx from the ring instead.
	 */
	uint16_t used_base;
	bool used_base_valid;	/* packed: false -> used_base = avail_base */
	unsigned int max_iov;	/* 0 = VHK_VQ_DEFAULT_MAX_IOV */
	/*
	 * vhost-user SET_VRING_ADDR flags bit VHOST_VRING_F_LOG and
	 * log_guest_addr: while the address space logs, stores into the
	 * device area (split: used ring; packed: device event suppression)
	 * are marked at @log_addr + offset - a GPA in gpa and
	 * platform-identity mode, an IOVA in iotlb mode (QEMU sends the
	 * device area's own DMA address there).  Without the flag they are
	 * marked at the guest page they land on.  Packed descriptors (used
	 * elements) are always marked where they land: the log address only
	 * covers the device area.
	 */
	bool log_used;
	uint64_t log_addr;
	const char *name;	/* for logs, e.g. "blk0 vq1"; copied */
};

/** vhk_vq_new - an idle queue.  Returns 0 and *@out, or -ENOMEM. */
int vhk_vq_new(struct vhk_vq **out);

/** vhk_vq_free - free @vq (stopping it if needed); NULL is a no-op. */
void vhk_vq_free(struct vhk_vq *vq);

/**
 * vhk_vq_start - validate @p and translate the ring addresses through @as
 * (kept by reference: @as must outlive the started queue).
 * Returns 0; -EINVAL for num 0, not a power of two (split), > 32768
 * (VIRTIO 1.2, 2.7/2.8), misaligned rings; -EFAULT for rings unmapped or
 * straddling regions; -EAGAIN on an IOTLB miss (retry via vhk_vq_remap()).
 * On -EAGAIN the parameters are kept and the queue counts as started with
 * its rings unmapped: pop returns -EAGAIN until a remap succeeds.
 */
int vhk_vq_start(struct vhk_vq *vq, struct vhk_as *as,
		 const struct vhk_vq_params *p);

/**
 * vhk_vq_stop - stop the queue; vhk_vq_base() then returns where to resume.
 * Chains popped and not yet pushed are forgotten by the ring (the inflight
 * region, if any, still records them).
 */
void vhk_vq_stop(struct vhk_vq *vq);

/**
 * vhk_vq_remap - translate the ring addresses again (after a memory table
 * change, an IOTLB invalidation, or the UPDATE that answers a ring miss).
 * Returns 0 or an error as vhk_vq_start().
 */
int vhk_vq_remap(struct vhk_vq *vq);

/** vhk_vq_as - the address space the queue translates through. */
struct vhk_as *vhk_vq_as(const struct vhk_vq *vq);

/**
 * vhk_vq_queue_stats - @vq's exported counters (vhostkit/stats.h): kept
 * for the queue's whole life (never reset by stop / start).  Written by
 * the queue's owner (the ring calls, the framework, the device's
 * vhk_dq_stat_add()); any thread may snapshot them with
 * vhk_queue_stats_read().
 */
struct vhk_queue_stats *vhk_vq_queue_stats(struct vhk_vq *vq);

/** vhk_vq_iotlb_cache - the queue's IOTLB last-hit cache (for devices). */
struct vhk_iotlb_cache *vhk_vq_iotlb_cache(struct vhk_vq *vq);

/*
 * Inflight tracking (vhost-user INFLIGHT_SHMFD, "Inflight I/O tracking"),
 * split and packed layouts.  With a region set, pop records a chain in
 * flight and the flush that publishes its push clears it (after the used
 * index / used flags, as the vhost-user spec orders it), so a back-end
 * restarted on the same region resubmits what was in flight, oldest
 * first, and nothing that was used.
 * Split: on resubmission the next avail index is used->idx + the number of
 * chains in flight (they were popped in order).
 * Packed: the region keeps a copy of every descriptor in flight (the ring
 * slots are overwritten by used descriptors) and the device's used
 * position; on resubmission both ring positions come from the region
 * (SET_VRING_BASE is ignored: after a crash nothing else records them).
 * A packed driver must not have two buffers with one id in flight (the
 * queue breaks).  The region is front-end memory: anything inconsistent
 * in it makes start fail with -EINVAL, never an access out of bounds.
 */

/** vhk_vq_inflight_size - bytes of the inflight region for a queue of @num. */
size_t vhk_vq_inflight_size(uint16_t num, bool packed);

/**
 * vhk_vq_set_inflight - use @region (@size bytes, zeroed by the front-end
 * on first use) for queue tracking.  Call before vhk_vq_start().  If the
 * region records chains in flight, the first pops after start return them
 * again (oldest first).  Returns 0, -EBUSY (queue started) or -EINVAL
 * (misaligned, smaller than a header); the region's size, version and
 * contents are checked at start (-EINVAL there).
 */
int vhk_vq_set_inflight(struct vhk_vq *vq, void *region, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_RING_CTL_H */
