/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/stats.h - per-queue counters every device gets from the
 * framework (docs/daemons.md, "Observability").
 *
 * Where they are counted, once for every device:
 *  - the ring (vhk_vq_pop / vhk_vq_unpop / vhk_vq_push / vhk_vq_stop):
 *    chains taken, given back, completed (with their bytes and the
 *    pop-to-push latency, a log2 histogram) and forgotten at a stop;
 *  - the framework loop (vhk_dq_process, device.h): errors by reason,
 *    IOTLB parks, chains the device had no room for;
 *  - the address space (vhk_as_translate) and the IOTLB: hits, misses,
 *    and how long answered misses waited;
 *  - the device itself, through vhk_dq_stat_add(): up to
 *    VHK_DEV_STATS_MAX counters it names in vhk_device_ops.stat_names.
 *
 * Concurrency.  Each queue's counters have one writer at a time: the
 * thread that runs the queue (its worker or the one loop), or the main
 * thread while that worker is paused (control callbacks).  Writers update
 * with relaxed atomic stores (vhk_stat_add: no locked instruction on the
 * hot path); anyone may read a consistent-enough snapshot at any time
 * with vhk_queue_stats_read() (relaxed atomic loads, field by field).
 * Every counter only grows; "in flight" is derived from them.
 */
#ifndef VHOSTKIT_STATS_H
#define VHOSTKIT_STATS_H

#include "vhostkit/api.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors and events counted by the framework, by reason. */
enum vhk_qerr {
	VHK_QERR_RING = 0,	/* the driver broke the ring (queue failed) */
	VHK_QERR_SEGMENTS,	/* a chain needed more than max_iov segments */
	VHK_QERR_DEVICE,	/* handle_chain() failed: DEVICE_NEEDS_RESET */
	VHK_QERR__COUNT,
};

/* Latency histogram: bucket i counts latencies in [2^i, 2^(i+1)) ns
 * (bucket 0 also holds 0 ns; the last one everything above). */
#define VHK_LAT_BUCKETS		40

/* Device-specific counters per queue (vhk_device_ops.stat_names). */
#define VHK_DEV_STATS_MAX	16

struct vhk_iotlb_counters {
	uint64_t hits;		/* translations served by the IOTLB */
	uint64_t misses;	/* translations that missed (queue parked) */
	uint64_t answered;	/* misses an UPDATE answered */
	uint64_t wait_ns;	/* summed miss-to-UPDATE time of those */
	uint64_t denied;	/* the entry lacked the permission asked */
};

struct vhk_queue_stats {
	uint64_t popped;	/* chains taken from the avail ring */
	uint64_t unpopped;	/* chains given back (vhk_vq_unpop) */
	uint64_t completed;	/* chains pushed to the used ring */
	uint64_t forgotten;	/* in flight when the queue stopped */
	uint64_t bytes_read;	/* driver->device bytes of completed chains */
	uint64_t bytes_written;	/* used lengths of completed chains */
	uint64_t notifies;	/* flushes that asked to notify the driver */
	uint64_t kicks;		/* times the framework processed the queue */
	uint64_t busy;		/* chains given back: device had no room */
	uint64_t parked;	/* processing stopped on an IOTLB miss */
	uint64_t errors[VHK_QERR__COUNT];
	struct vhk_iotlb_counters iotlb;
	uint64_t lat_sum_ns;	/* summed pop-to-push time (completed) */
	uint64_t lat[VHK_LAT_BUCKETS];
	uint64_t dev[VHK_DEV_STATS_MAX];
};

/** vhk_stat_add - add @n to a counter; its single writer only. */
static inline void vhk_stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

/** vhk_stat_get - read a counter from any thread. */
static inline uint64_t vhk_stat_get(const uint64_t *ctr)
{
	return __atomic_load_n(ctr, __ATOMIC_RELAXED);
}

/** vhk_lat_bucket - the histogram bucket of a latency of @ns. */
static inline unsigned int vhk_lat_bucket(uint64_t ns)
{
	unsigned int b = ns ? 63u - (unsigned int)__builtin_clzll(ns) : 0;

	return b < VHK_LAT_BUCKETS ? b : VHK_LAT_BUCKETS - 1;
}

/** vhk_queue_stats_read - snapshot @live into @out (any thread). */
VHK_API
void vhk_queue_stats_read(const struct vhk_queue_stats *live,
			  struct vhk_queue_stats *out);

/**
 * vhk_queue_stats_inflight - chains popped and neither completed, given
 * back nor forgotten (0 if a snapshot raced a completion).
 */
static inline uint64_t vhk_queue_stats_inflight(const struct vhk_queue_stats *s)
{
	uint64_t done = s->unpopped + s->completed + s->forgotten;

	return s->popped > done ? s->popped - done : 0;
}

/** vhk_qerr_name - the reason's name in exported stats ("ring" ...). */
VHK_API
const char *vhk_qerr_name(enum vhk_qerr e);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_STATS_H */
