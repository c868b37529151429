/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/iotlb.h - the device IOTLB: IOVA -> UVA with permissions.
 *
 * Entries are non-overlapping intervals [iova, iova+size) kept in an
 * ordered structure with O(log n) lookup, insert and removal.  An UPDATE
 * that overlaps existing entries replaces the overlapped parts; an
 * INVALIDATE that covers part of an entry splits it.  The entry count is
 * bounded; when an UPDATE (or an INVALIDATE that splits an entry) would
 * exceed the bound, the entries inserted longest ago are evicted first
 * (FIFO by UPDATE order; the fragments of a split entry keep its age) - a
 * later access to an evicted range is a miss that the front-end answers
 * again, so eviction is always safe.
 *
 * The map is a B+tree of 576-byte nodes (see src/mem/iotlb.c for the
 * measured reasons); lookup, insert and removal are O(log n) whatever the
 * order of UPDATEs.  Memory: about 75 bytes per entry at random insertion
 * order, 55 in ascending order (tree nodes plus the FIFO heap).  Nodes
 * freed by invalidations and flushes are kept for reuse until
 * vhk_iotlb_free(), so the footprint follows the peak entry count, which
 * the entry bound limits.
 *
 * Every change that removes or shrinks a mapping bumps a generation
 * number; struct vhk_iotlb_cache (a per-queue last-hit cache) is valid only
 * while its generation matches.
 *
 * Not thread-safe: the caller serialises every call that changes one
 * IOTLB.  vhk_iotlb_lookup() only reads it (and writes the caller's
 * per-queue cache), so lookups of different queues may run in parallel
 * while no change runs; per-queue misses (vhk_iotlb_qmiss_*) keep the miss
 * path off the shared state too.
 */
#ifndef VHOSTKIT_IOTLB_H
#define VHOSTKIT_IOTLB_H

#include "vhostkit/stats.h"
#include "vhostkit/translation.h"
#include "vhostkit/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VHK_IOTLB_DEFAULT_MAX_ENTRIES	(1u << 16)
/* Miss deduplication granule: one outstanding miss per page + perm. */
#define VHK_IOTLB_MISS_PAGE		4096u
/* Outstanding misses one IOTLB tracks before vhk_iotlb_miss_note() fails. */
#define VHK_IOTLB_MAX_MISSES		1024u

struct vhk_iotlb;

/* Outstanding misses one queue tracks (struct vhk_iotlb_cache). */
#define VHK_IOTLB_QUEUE_MISSES		32u

struct vhk_iotlb_qmiss {
	uint64_t iova;
	uint64_t stamp;		/* vhk_now_ns() of the first miss, never 0 */
	uint8_t perm;
};

/*
 * Per-queue IOTLB state: the last-hit cache and the queue's outstanding
 * misses.  Zero-initialise it.  Owned by the thread that runs the queue:
 * translating through it writes only here, never into the shared IOTLB,
 * so queues translate in parallel while the IOTLB itself is not changed.
 * Other threads may read miss_oldest (atomically, vhk_iotlb_qmiss_oldest()
 * with NULL outputs) at any time, everything else only while the owner is
 * quiesced.
 */
struct vhk_iotlb_cache {
	uint64_t iova;		/* first byte of the cached entry */
	uint64_t last;		/* last byte (inclusive) */
	uint64_t uva;
	uint64_t gen;		/* 0 = empty */
	uint8_t perm;
	/*
	 * Host window, filled by vhk_as_translate(): [win_iova, win_last]
	 * maps contiguously to win_host while the IOTLB generation equals
	 * win_tlb_gen and the memory table generation equals win_mt_gen
	 * (both are never 0 when valid).  Saves the IOVA and UVA searches on
	 * the hot path.
	 */
	uint64_t win_iova;
	uint64_t win_last;
	uint8_t *win_host;
	uint64_t win_tlb_gen;
	uint64_t win_mt_gen;
	uint8_t win_perm;	/* the window's own entry's permission */
	/* Outstanding misses of this queue, oldest first. */
	struct vhk_iotlb_qmiss miss[VHK_IOTLB_QUEUE_MISSES];
	uint32_t miss_n;
	uint64_t miss_oldest;	/* miss[0].stamp or 0; atomic accesses */
	/* Where hits, misses and miss wait times are counted (the queue's
	 * exported counters, vhostkit/stats.h), or NULL. */
	struct vhk_iotlb_counters *ctr;
};

/**
 * vhk_iotlb_new - an empty IOTLB holding at most @max_entries entries
 * (0 = VHK_IOTLB_DEFAULT_MAX_ENTRIES).  Returns 0 and *@out, or -ENOMEM.
 */
int vhk_iotlb_new(struct vhk_iotlb **out, size_t max_entries);

/** vhk_iotlb_free - free the IOTLB; NULL is a no-op. */
void vhk_iotlb_free(struct vhk_iotlb *tlb);

/**
 * vhk_iotlb_update - map [@iova, @iova+@size) to @uva with @perm.
 * Overlapped parts of older entries are replaced.  Clears outstanding
 * misses whose address the new entry covers with a sufficient permission
 * (an RO UPDATE does not answer an RW miss).
 * Returns 0, or -EINVAL: @size 0 (vhost-user: UPDATE size 0 is invalid),
 * iova or uva range wraps, @perm not RO/WO/RW.  Checking that the UVA range
 * lies in the memory table is the caller's job (vhk_as_iotlb_update()).
 */
int vhk_iotlb_update(struct vhk_iotlb *tlb, uint64_t iova, uint64_t size,
		     uint64_t uva, uint8_t perm);

/**
 * vhk_iotlb_invalidate - drop every mapping in [@iova, @iova+@size);
 * partially covered entries are split.  @size 0 drops everything (and every
 * outstanding miss).  Returns 0, or -EINVAL if the range wraps, or -ENOMEM
 * when a split could not allocate (the whole range is unmapped anyway
 * except the fragment that could not be kept - never more mapped than
 * asked).
 */
int vhk_iotlb_invalidate(struct vhk_iotlb *tlb, uint64_t iova, uint64_t size);

/** vhk_iotlb_flush - drop every entry and outstanding miss. */
void vhk_iotlb_flush(struct vhk_iotlb *tlb);

/**
 * vhk_iotlb_lookup - translate @iova for an access needing @perm.
 * *@len: in, bytes wanted (> 0); out, contiguous bytes available in the
 * entry (<= in).  @cache may be NULL.
 * Returns 0 and *@uva, -ENOENT on a miss, -EACCES if the entry lacks @perm.
 */
int vhk_iotlb_lookup(const struct vhk_iotlb *tlb, uint64_t iova, uint8_t perm,
		     uint64_t *uva, uint64_t *len, struct vhk_iotlb_cache *cache);

/** vhk_iotlb_count - current number of entries. */
size_t vhk_iotlb_count(const struct vhk_iotlb *tlb);

/**
 * vhk_iotlb_evictions - entries evicted to keep the bound so far; any
 * thread may call it (an atomic load).
 */
uint64_t vhk_iotlb_evictions(const struct vhk_iotlb *tlb);

/** vhk_iotlb_generation - bumped by every removal, shrink or eviction. */
uint64_t vhk_iotlb_generation(const struct vhk_iotlb *tlb);

/**
 * vhk_iotlb_miss_note - record that @iova with @perm missed at time @now_ns.
 * Returns 1 if no miss for that page + perm is outstanding (the caller must
 * send one MISS message), 0 if one is already outstanding, -ENOSPC if
 * VHK_IOTLB_MAX_MISSES are outstanding (a front-end that never answers).
 * A stamp of 0 is stored as 1 (0 means "none" below).
 */
int vhk_iotlb_miss_note(struct vhk_iotlb *tlb, uint64_t iova, uint8_t perm,
			uint64_t now_ns);

/**
 * vhk_iotlb_miss_oldest - the age-stamp of the oldest outstanding miss, or
 * 0 if none; used to report a front-end that does not answer misses.
 * *@iova and *@perm (may be NULL) receive that miss.
 */
uint64_t vhk_iotlb_miss_oldest(const struct vhk_iotlb *tlb, uint64_t *iova,
			       uint8_t *perm);

/** vhk_iotlb_miss_count - outstanding misses. */
size_t vhk_iotlb_miss_count(const struct vhk_iotlb *tlb);

/**
 * vhk_iotlb_qmiss_note - as vhk_iotlb_miss_note(), recorded in one
 * queue's @cache instead of the shared IOTLB (deduplicated per queue, per
 * page + perm).  Returns 1 (new: send a MISS), 0 (already outstanding) or
 * -ENOSPC (VHK_IOTLB_QUEUE_MISSES outstanding).
 */
int vhk_iotlb_qmiss_note(struct vhk_iotlb_cache *cache, uint64_t iova,
			 uint8_t perm, uint64_t now_ns);

/**
 * vhk_iotlb_qmiss_clear - drop @cache's misses that an UPDATE of
 * [@iova, @iova+@size) with @perm answers (their waiting time is added to
 * @cache->ctr); @size 0 drops them all (unanswered, not counted).
 * Caller: the owner, or any thread while the owner is quiesced.
 */
void vhk_iotlb_qmiss_clear(struct vhk_iotlb_cache *cache, uint64_t iova,
			   uint64_t size, uint8_t perm);

/**
 * vhk_iotlb_qmiss_oldest - the stamp of @cache's oldest outstanding miss,
 * or 0.  With @iova and @perm NULL it is a single atomic load that any
 * thread may do; otherwise they receive that miss (owner quiesced).
 */
uint64_t vhk_iotlb_qmiss_oldest(const struct vhk_iotlb_cache *cache,
				uint64_t *iova, uint8_t *perm);

/**
 * vhk_iotlb_cache_invalidate - forget the cached translations (after a
 * memory or ring change); the outstanding misses stay.
 */
void vhk_iotlb_cache_invalidate(struct vhk_iotlb_cache *cache);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_IOTLB_H */
