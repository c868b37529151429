/* SPDX-License-Identifier: MIT */
/*
 * net_pkt.h - the frames that travel between the switch's ports, and
 * their allocator.
 *
 * A frame of up to VHK_NET_PKT_POOL_DATA bytes (every frame of a 1500-byte
 * MTU, VLAN tag included) lives in a fixed-size slot that is recycled:
 * freed slots go to the freeing thread's cache, and between threads
 * through a shared depot in batches.  Larger frames are malloc()ed.
 *
 * Why not malloc() for every frame: glibc's thread caches stop at about
 * 1 KiB, so a 1518-byte frame went through its arena's free lists, and
 * a run of frees next to the top of a thread arena's heap trimmed it
 * (madvise(MADV_DONTNEED)): the next allocations faulted the pages in
 * again - a page fault for every few frames at 1518 B (docs/benchmarks.md).
 *
 * Any thread may allocate and free; a frame allocated on one thread may be
 * freed on another.  Memory kept: each thread's cache (at most
 * 2 * VHK_NET_PKT_CACHE slots, returned to the depot when the thread
 * exits) and the depot (at most VHK_NET_PKT_DEPOT_MAX slots; beyond that
 * slots are freed).
 */
#ifndef VHK_DEV_NET_PKT_H
#define VHK_DEV_NET_PKT_H

#include <stddef.h>
#include <stdint.h>

#include "dev/net/net_offload.h"

/* Slot size, header included. */
#define VHK_NET_PKT_SLOT	2048
/* Slots a thread keeps before it hands half of them to the depot: a pass
 * of a queue moves up to VHK_KICK_BUDGET (256) frames, and a cache that
 * holds a pass's worth recycles them without the depot's lock (with 64,
 * every frame of the busy-poll loopback went through the depot: ~24
 * instructions of 770 per 64 B frame). */
#define VHK_NET_PKT_CACHE	256
/* Slots the depot keeps (8 MiB of 2 KiB slots). */
#define VHK_NET_PKT_DEPOT_MAX	4096

/* One frame in flight between ports. */
struct vhk_net_pkt {
	struct vhk_net_pkt *next;
	struct vhk_net_meta meta;
	uint32_t len;
	uint32_t hash;		/* flow hash (RX queue choice) */
	uint32_t pooled;	/* a pool slot (else malloc()ed); allocator's */
	/* Room for a virtio_net_hdr just before the frame: a receive queue
	 * writes the header here and copies header and frame into the
	 * guest's buffer in one go.  Scratch of the frame's current owner. */
	uint8_t headroom[sizeof(struct vhk_net_hdr)];
	uint8_t data[];
};
_Static_assert(offsetof(struct vhk_net_pkt, data) ==
	       offsetof(struct vhk_net_pkt, headroom) +
	       sizeof(struct vhk_net_hdr), "headroom right before data");

/* Largest frame a pool slot holds. */
#define VHK_NET_PKT_POOL_DATA \
	(VHK_NET_PKT_SLOT - offsetof(struct vhk_net_pkt, data))

/**
 * vhk_net_pkt_alloc - a packet with room for @len bytes: len = @len, meta
 * zeroed, hash 0, next NULL; the data is not initialised.  NULL when out
 * of memory.
 */
struct vhk_net_pkt *vhk_net_pkt_alloc(size_t len);
/** vhk_net_pkt_free - give @p (or NULL) back; any thread. */
void vhk_net_pkt_free(struct vhk_net_pkt *p);

/* Allocator counters (tests, benchmarks): process-wide, relaxed. */
struct vhk_net_pkt_stats {
	uint64_t slot_mallocs;	/* slots created (a pool miss) */
	uint64_t slot_frees;	/* slots freed (the depot was full) */
	uint64_t big_mallocs;	/* frames too large for a slot */
};

/** vhk_net_pkt_stats - the allocator counters so far. */
void vhk_net_pkt_stats(struct vhk_net_pkt_stats *out);

#endif /* VHK_DEV_NET_PKT_H */
