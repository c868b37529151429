/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/ring.h - device-side virtqueues (split and packed) and the
 * byte-stream view of a descriptor chain.
 *
 * The ring layer knows no transport and no device type.  It reads guest
 * rings only through struct vhk_as (vhostkit/as.h), copies each descriptor
 * once and validates the copy (VIRTIO 1.2, 2.7 / 2.8), and reports every
 * driver error as a negative errno with the queue marked broken (the
 * device should then set DEVICE_NEEDS_RESET).
 *
 * Lifecycle: vhk_vq_new() -> vhk_vq_start() -> { pop, push, flush,
 * needs_notify }* -> vhk_vq_stop() -> vhk_vq_free().
 * Not thread-safe: one thread drives a queue at a time.
 */
#ifndef VHOSTKIT_RING_H
#define VHOSTKIT_RING_H

#include "vhostkit/api.h"
#include <sys/uio.h>
#include "vhostkit/as.h"
#include "vhostkit/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VHK_VQ_MAX_SIZE		32768	/* VIRTIO 1.2, 2.7: Queue Size <= 32768 */
#define VHK_VQ_DEFAULT_MAX_IOV	1024	/* host segments one chain may produce */

/* Device-visible ring addresses as the front-end gives them (see as.h). */
struct vhk_vq_addrs {
	uint64_t desc;		/* descriptor table / packed descriptor ring */
	uint64_t driver;	/* split: avail ring; packed: driver event */
	uint64_t device;	/* split: used ring; packed: device event */
};

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
	const char *name;	/* for logs, e.g. "blk0 vq1"; copied */
};

/*
 * A popped descriptor chain.  iov[0 .. nread) are device-readable host
 * segments, iov[nread .. nread + nwrite) device-writable ones.  Host
 * pointers are valid until the chain is pushed and at most until the next
 * memory-table or IOTLB change (the owner drains I/O before those).
 */
struct vhk_chain {
	uint16_t id;		/* split: head index; packed: buffer id */
	uint16_t ndesc;		/* ring slots the chain used (packed skip) */
	uint32_t nread;
	uint32_t nwrite;
	uint64_t read_bytes;
	uint64_t write_bytes;
	struct iovec *iov;	/* set by the caller before pop */
	unsigned int iov_cap;	/* capacity of @iov */
	const struct vhk_as *as; /* set by pop: where writes are reported */
};

struct vhk_vq;

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

/** vhk_vq_started - true between a successful start and stop. */
VHK_API
bool vhk_vq_started(const struct vhk_vq *vq);

/**
 * vhk_vq_base - GET_VRING_BASE value: split, next avail index; packed,
 * (avail slot | avail wrap << 15) | (used slot | used wrap << 15) << 16.
 */
uint32_t vhk_vq_base(const struct vhk_vq *vq);

/**
 * vhk_vq_remap - translate the ring addresses again (after a memory table
 * change, an IOTLB invalidation, or the UPDATE that answers a ring miss).
 * Returns 0 or an error as vhk_vq_start().
 */
int vhk_vq_remap(struct vhk_vq *vq);

/**
 * vhk_vq_pop - take the next available chain into @c (@c->iov and
 * @c->iov_cap set by the caller).
 * Returns 1 with a chain; 0 if none is available; -EAGAIN on an IOTLB miss
 * (nothing consumed: pop again after the UPDATE); -ENOBUFS if the chain
 * needs more than iov_cap segments (nothing consumed, queue not broken);
 * any other negative errno means the driver broke a rule - the queue is
 * now broken and every later call fails with -EIO.
 * Work per call is bounded by the queue size (descriptor loops, indirect
 * tables and avail index jumps are detected, VIRTIO 1.2 2.7.5.3.1).
 */
VHK_API
int vhk_vq_pop(struct vhk_vq *vq, struct vhk_chain *c);

/**
 * vhk_vq_unpop - give back @c, the most recently popped chain that is not
 * pushed yet, as if it had never been popped: the next pop returns it
 * again.  For a device that popped more buffers than it could fill (net
 * mergeable receive buffers, VIRTIO 1.2, 5.1.6.3) or that has no room for
 * a request right now.  Several chains are given back newest first.  The
 * caller must not have written into @c.  Split and packed rings, inflight
 * tracking and IN_ORDER bookkeeping are rolled back.
 * Returns 0; -EINVAL if nothing popped is left to give back; -EIO if the
 * queue is broken (0 and nothing done on a stopped queue).
 */
VHK_API
int vhk_vq_unpop(struct vhk_vq *vq, const struct vhk_chain *c);

/**
 * vhk_vq_push - record @c as used with @written bytes (fill; not yet
 * visible to the driver; @written is clamped to @c's writable bytes).
 * With IN_ORDER, buffers pushed in pop order and written completely may be
 * published as one used entry (VIRTIO 1.2, 2.7.9 / 2.8.8).  The first
 * @written writable bytes are reported to vhk_as_dirty() (a device's own
 * I/O, io_uring say, writes them without vhk_guest_write()).
 * Returns 0 or -EIO if broken (0 and nothing done on a stopped queue).
 */
VHK_API
int vhk_vq_push(struct vhk_vq *vq, const struct vhk_chain *c,
		uint32_t written);

/**
 * vhk_vq_flush - make every pushed element visible to the driver (publish,
 * with a release fence pairing with the driver's read of the used index /
 * used flags).  Returns true if the driver must be notified (EVENT_IDX
 * used_event or packed driver event suppression, else flags).
 */
VHK_API
bool vhk_vq_flush(struct vhk_vq *vq);

/**
 * vhk_vq_enable_notify - ask the driver for (@enable) or not to send kicks
 * (split: avail_event or used->flags; packed: device event suppression).
 * After enabling, returns true if buffers arrived meanwhile (pop again).
 */
VHK_API
bool vhk_vq_enable_notify(struct vhk_vq *vq, bool enable);

/** vhk_vq_pending - true if the driver made buffers available not yet popped. */
VHK_API
bool vhk_vq_pending(struct vhk_vq *vq);

/** vhk_vq_broken - true once the driver broke a rule. */
VHK_API
bool vhk_vq_broken(const struct vhk_vq *vq);

/**
 * vhk_vq_fail - mark @vq broken, log @fmt rate-limited with the queue name,
 * and return @err (so callers write "return vhk_vq_fail(vq, -EPROTO, ...)").
 */
VHK_API
int vhk_vq_fail(struct vhk_vq *vq, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** vhk_vq_name - the name given at start. */
VHK_API
const char *vhk_vq_name(const struct vhk_vq *vq);

/** vhk_vq_size - queue size (0 when stopped). */
VHK_API
uint16_t vhk_vq_size(const struct vhk_vq *vq);

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

/* Counters for diagnostics and tests (bounded-work assertions). */
struct vhk_vq_stats {
	uint64_t popped;	/* chains returned by pop */
	uint64_t pushed;	/* chains pushed */
	uint64_t flushes;	/* flushes that published something */
	uint64_t notifies;	/* flushes that returned true */
	uint64_t descs_walked;	/* descriptors read by all pops */
	uint32_t last_pop_descs; /* descriptors read by the last pop call */
	uint64_t resubmitted;	/* inflight chains returned again */
	uint64_t unpopped;	/* chains given back by vhk_vq_unpop() */
};

/** vhk_vq_get_stats - copy @vq's counters into *@st. */
VHK_API
void vhk_vq_get_stats(const struct vhk_vq *vq, struct vhk_vq_stats *st);

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

/* ---- byte-stream view of a chain: devices see streams, not descriptors */

struct vhk_iter {
	const struct iovec *iov;
	const struct vhk_as *as; /* writes reported to vhk_as_dirty() */
	unsigned int n;		/* segments */
	unsigned int i;		/* current segment */
	size_t off;		/* offset in iov[i] */
	size_t left;		/* bytes left in the stream */
};

/** vhk_chain_reader - an iterator over the device-readable bytes of @c. */
VHK_API
void vhk_chain_reader(const struct vhk_chain *c, struct vhk_iter *it);

/** vhk_chain_writer - an iterator over the device-writable bytes of @c. */
VHK_API
void vhk_chain_writer(const struct vhk_chain *c, struct vhk_iter *it);

/** vhk_iter_read - copy up to @n bytes out of the stream; returns bytes copied. */
VHK_API
size_t vhk_iter_read(struct vhk_iter *it, void *dst, size_t n);

/**
 * vhk_guest_write - the one function that copies device data into guest
 * memory: memcpy(@dst, @src, @n), then vhk_as_dirty(@as, @dst, @n).
 * @dst is a device-writable host pointer of a chain of @as (NULL @as: no
 * report, for memory that is not guest memory).
 */
VHK_API
void vhk_guest_write(const struct vhk_as *as, void *dst, const void *src,
		     size_t n);

/**
 * vhk_iter_write - copy up to @n bytes into the stream (through
 * vhk_guest_write()); returns bytes copied.
 */
VHK_API
size_t vhk_iter_write(struct vhk_iter *it, const void *src, size_t n);

/** vhk_iter_skip - advance up to @n bytes; returns bytes skipped. */
VHK_API
size_t vhk_iter_skip(struct vhk_iter *it, size_t n);

/**
 * vhk_iter_slice - describe the next @n bytes as at most @max segments in
 * @out and advance past them.  Returns the number of segments, or -ENOSPC
 * if @max is too small / -EINVAL if fewer than @n bytes are left (the
 * iterator is unchanged on error).
 */
VHK_API
int vhk_iter_slice(struct vhk_iter *it, size_t n, struct iovec *out,
		   unsigned int max);

/**
 * vhk_iter_tail - split off the last @n bytes of the stream into @tail
 * (for a status byte at the end of the writable part); @it loses them.
 * Returns 0 or -EINVAL if fewer than @n bytes are left.
 */
VHK_API
int vhk_iter_tail(struct vhk_iter *it, size_t n, struct vhk_iter *tail);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_RING_H */
