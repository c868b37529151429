/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/ring.h - device-side virtqueues (split and packed) and the
 * byte-stream view of a descriptor chain.
 *
 * The ring layer knows no transport and no device type.  It reads guest
 * rings only through the queue's address space, copies each descriptor
 * once and validates the copy (VIRTIO 1.2, 2.7 / 2.8), and reports every
 * driver error as a negative errno with the queue marked broken (the
 * device should then set DEVICE_NEEDS_RESET).
 *
 * This header is what a device uses on a queue it is handed (pop, push,
 * unpop, flush, notifications, the chain byte streams).  The queue's owner
 * - the server, or a test - creates, starts, stops and remaps it through
 * the internal vhostkit/ring_ctl.h.
 * Not thread-safe: one thread drives a queue at a time.
 */
#ifndef VHOSTKIT_RING_H
#define VHOSTKIT_RING_H

#include "vhostkit/api.h"
#include <sys/uio.h>
#include "vhostkit/stats.h"
#include "vhostkit/util.h"

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

struct vhk_as;		/* a queue's address space (internal) */

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

/** vhk_vq_started - true between a successful start and stop. */
VHK_API
bool vhk_vq_started(const struct vhk_vq *vq);

/**
 * vhk_vq_base - GET_VRING_BASE value: split, next avail index; packed,
 * (avail slot | avail wrap << 15) | (used slot | used wrap << 15) << 16.
 */
VHK_API
uint32_t vhk_vq_base(const struct vhk_vq *vq);

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
 * vhk_vq_pop_burst - pop up to @n chains into @c[0 .. @n) (each with its
 * own iov / iov_cap set), as that many vhk_vq_pop() calls would, stopping
 * where one would not return 1.  Split rings: the avail index is read
 * once, a chain of one descriptor that translates to one host segment
 * (how DPDK's virtio-user posts packets) skips the generic walk, the pop
 * time is read once and avail_event (EVENT_IDX) stored once per burst.
 * Every chain is checked as vhk_vq_pop() checks it.  Packed rings (and
 * inflight resubmission) pop one at a time.
 * Returns the number of chains popped (1..@n); 0 if none is available;
 * with none popped, the error vhk_vq_pop() would return (-ENOBUFS also if
 * @c[0] has no iov).  An error met after the first chain ends the burst
 * with the chains before it: a driver error has marked the queue broken
 * (the next call returns -EIO), a transient one (-EAGAIN, -ENOBUFS, a
 * chain of @c without iov) is met again by the next call.
 */
VHK_API
int vhk_vq_pop_burst(struct vhk_vq *vq, struct vhk_chain *c, unsigned int n);

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
 * With IN_ORDER on a packed ring, buffers pushed in pop order and written
 * completely may be published as one used descriptor (VIRTIO 1.2, 2.8.8);
 * a split ring gets one used entry per buffer (2.7.9 allows both).  The first
 * @written writable bytes are reported to vhk_as_dirty() (a device's own
 * I/O, io_uring say, writes them without vhk_guest_write()).
 * Returns 0 or -EIO if the queue is (or becomes, on a push beyond the
 * chains that can be in flight) broken; 0 and nothing done on a stopped
 * queue.  The result must be checked: a completion that did not reach the
 * used ring is a guest request that never finishes, so a caller that
 * gets -EIO reports the device broken (vhk_dq_broken()).
 */
VHK_API
int vhk_vq_push(struct vhk_vq *vq, const struct vhk_chain *c,
		uint32_t written) __attribute__((warn_unused_result));

/**
 * vhk_vq_push_burst - vhk_vq_push(@c[i], @written[i]) for i = 0 .. @n - 1
 * in that order (@written NULL: 0 bytes each), the clock read once for
 * the latency counters.  Returns 0, or -EIO as vhk_vq_push() (the chains
 * before the failing one are pushed).
 */
VHK_API
int vhk_vq_push_burst(struct vhk_vq *vq, const struct vhk_chain *c,
		      const uint32_t *written, unsigned int n)
	__attribute__((warn_unused_result));

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

/**
 * vhk_vq_untimed - stop timing @vq's chains from pop to push (the latency
 * histogram lat[] and lat_sum_ns of vhostkit/stats.h) until the queue
 * stops; each start times again.  For a device that completes every chain
 * in the pass that pops it (net), where the histogram would only say
 * "under a microsecond" and the per-chain clock bookkeeping costs more
 * than the ring work.  Chains popped before the call complete untimed.
 * No-op on a stopped queue.
 */
VHK_API
void vhk_vq_untimed(struct vhk_vq *vq);

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
