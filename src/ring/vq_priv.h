/* SPDX-License-Identifier: MIT */
/*
 * vq_priv.h - private state of a device-side virtqueue, shared by vq.c
 * (lifecycle), vq_split.c, vq_packed.c, vq_walk.c and vq_inflight.c.
 */
#ifndef VHK_RING_VQ_PRIV_H
#define VHK_RING_VQ_PRIV_H

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "vhostkit/ring_ctl.h"
#include "vhostkit/stats.h"
#include "ring/vring_access.h"

/* A pushed element waiting for vhk_vq_flush(). */
struct vq_pending {
	uint16_t id;
	uint16_t ndesc;
	uint32_t len;
	uint32_t wmax;		/* writable bytes of the chain */
	bool in_seq;		/* IN_ORDER: pushed in pop order */
};

/* vhost-user "Inflight I/O tracking", split layout (one queue region). */
struct vq_inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct vq_inflight_region {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vq_inflight_desc desc[];
};

_Static_assert(sizeof(struct vq_inflight_desc) == 16, "DescStateSplit is 16 bytes");
_Static_assert(sizeof(struct vq_inflight_region) == 16, "QueueRegionSplit header is 16 bytes");

/*
 * Packed layout (DescStatePacked / QueueRegionPacked): entries are taken
 * from a free list, one per descriptor of a popped list, and keep a copy
 * of the descriptor, since the ring slot is overwritten by used entries.
 */
struct vq_inflight_pdesc {
	uint8_t inflight;	/* head entries only */
	uint8_t padding;
	uint16_t next;		/* next free entry / next entry of the list */
	uint16_t last;		/* head: last entry of the list */
	uint16_t num;		/* head: descriptors in the list */
	uint64_t counter;	/* head: pop order */
	uint16_t id;
	uint16_t flags;
	uint32_t len;
	uint64_t addr;
};

struct vq_inflight_pregion {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t free_head;
	uint16_t old_free_head;
	uint16_t used_idx;
	uint16_t old_used_idx;
	uint8_t used_wrap_counter;
	uint8_t old_used_wrap_counter;
	uint8_t padding[7];
	struct vq_inflight_pdesc desc[];
};

_Static_assert(sizeof(struct vq_inflight_pdesc) == 32, "DescStatePacked is 32 bytes");
_Static_assert(sizeof(struct vq_inflight_pregion) == 32, "QueueRegionPacked header is 32 bytes");

/* The back-end's own copy of the packed region's lists (never read back
 * from shared memory after start). */
struct vq_pk_state {
	uint16_t *next;		/* [num] */
	uint16_t *last;		/* [num] head: last entry */
	uint16_t *nent;		/* [num] head: entries in the list */
	uint16_t *id;		/* [num] head: buffer id */
	uint16_t *by_id;	/* [num] buffer id (< num) -> head entry + 1 */
	uint16_t *freed;	/* [num] heads freed by the publish under way */
	unsigned int nfreed;
	uint8_t *busy;		/* [num] 1: head of a list in flight; 2: freed
				 * by the publish under way */
	struct vhk_vring_packed_desc *copy; /* [num] the list being popped */
	uint16_t free_head;
	unsigned int nfree;
};

/*
 * The memory region the queue's last buffer translated into, in gpa and
 * platform-identity modes (vq_translate()): [gpa, last] maps to @host
 * while @as->mt is @mt at generation @gen.  Buffers of one queue mostly
 * come from one region: a hit costs a compare instead of the table's
 * binary search.  (iotlb mode has its own window in @tlb_cache.)
 */
struct vq_region_cache {
	const struct vhk_memtable *mt;
	uint64_t gen;
	uint64_t gpa, last;
	uint8_t *host;
};

#define VQ_INFLIGHT_VERSION	1
#define VQ_INFLIGHT_ALIGN	64

struct vhk_vq {
	/* configuration (valid while started) */
	bool started;
	bool mapped;		/* ring host pointers valid */
	bool broken;
	bool layout_ready;	/* split: used idx read, inflight loaded */
	bool packed;
	bool event_idx;
	bool indirect;
	/* IN_ORDER on a packed ring: a run of buffers used in order may be
	 * published as one used descriptor (vq_batch_end()).  A split ring
	 * writes every used entry, which IN_ORDER allows too (VIRTIO 1.2,
	 * 2.7.9 "may"): an 8-byte store per buffer is cheaper than tracking
	 * pop order, and drivers (DPDK's in-order receive path) read every
	 * entry's length anyway. */
	bool batch_used;
	uint16_t num;
	uint64_t features;
	struct vhk_vq_addrs addrs;
	unsigned int max_iov;
	char name[48];
	struct vhk_as *as;
	struct vhk_iotlb_cache tlb_cache;
	struct vq_region_cache rcache;
	uint64_t ring_gen;	/* IOTLB generation the ring pointers are from */
	/*
	 * vhost-user SET_VRING_ADDR flag VHOST_VRING_F_LOG: stores into the
	 * device area (split: used ring; packed: device event suppression)
	 * are logged at @log_addr + their offset in it, not where they land
	 * (docs/migration.md).  @log_addr is a GPA in gpa / platform-identity
	 * mode (@log_direct) and an IOVA in iotlb mode, translated once per
	 * mapping into @log_host (valid while @mapped).
	 */
	bool log_used;
	bool log_direct;
	uint64_t log_addr;
	uint64_t dev_size;	/* device-area bytes mapped */
	const uint8_t *log_host;

	/* host pointers: valid only while @mapped */
	union {
		struct vhk_vring_desc *split_desc;
		struct vhk_vring_packed_desc *packed_desc;
	};
	union {
		struct vhk_vring_avail *avail;
		struct vhk_vring_packed_event *driver_event;
	};
	union {
		struct vhk_vring_used *used;
		struct vhk_vring_packed_event *device_event;
	};

	/* split state */
	uint16_t last_avail;	/* next avail ring index to read */
	uint16_t shadow_avail;	/* last avail->idx read */
	uint16_t used_idx;	/* next used ring index to write */

	/* packed state */
	uint16_t avail_slot;
	bool avail_wrap;
	uint16_t used_slot;
	bool used_wrap;

	/* notification */
	bool notify_enabled;	/* we asked the driver for kicks */
	bool signalled_valid;
	uint16_t signalled_used; /* split: used idx at the last flush */
	uint16_t signalled_slot; /* packed: used slot at the last flush */
	bool signalled_wrap;
	bool notify_owed;	/* an automatic flush decided to notify */

	/* pushed, not yet flushed (at most @num) */
	struct vq_pending *pending;
	unsigned int npending;

	/* batch_used: ids popped and not yet pushed, in pop order */
	uint16_t *order;
	unsigned int order_head, order_count;

	/* indirect table bounce buffer (grown on demand) */
	void *ind_buf;
	size_t ind_cap;

	/* inflight tracking: the region given, and the active view of it */
	void *inflight_mem;
	size_t inflight_size;
	struct vq_inflight_region *inflight;	/* split, while started */
	struct vq_inflight_pregion *pinflight;	/* packed, while started */
	struct vq_pk_state pk;
	uint64_t inflight_counter;
	unsigned int avail_pops; /* popped from the ring, not unpopped */
	uint16_t *resubmit;	/* heads (packed: entries) to return first,
				 * oldest first */
	unsigned int nresubmit;
	unsigned int resubmit_pos;

	struct vhk_vq_stats stats;
	struct vhk_ratelimit rl;

	/* Exported counters (vhostkit/stats.h): never reset, read by other
	 * threads; @pop_ns: pop time by chain id (< num), while started. */
	struct vhk_queue_stats qs;
	uint64_t *pop_ns;
};

/* ---- guest-shared memory accessors: the shared set (vring_access.h)
 * plus the dirty-log hook on every store (R6: name the pairing at each
 * use) */

static inline uint16_t vq_load16_acquire(const vhk_le16 *p)
{
	return vring_load16(p, memory_order_acquire);
}

static inline uint16_t vq_load16(const vhk_le16 *p)
{
	return vring_load16(p, memory_order_relaxed);
}

/* vq.c: log a store at byte @off of the device area (@vq->log_used). */
void vq_log_used(const struct vhk_vq *vq, uint64_t off, size_t len);

/*
 * The dirty-log hook of the ring's own stores: a store into the device
 * area of a ring with VHOST_VRING_F_LOG is logged at the ring's log
 * address; every other store (packed descriptors, rings without the
 * flag) through vhk_as_dirty(), the one hook for device writes into guest
 * memory, at the guest page it lands on.
 */
static inline void vq_dirty(struct vhk_vq *vq, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, dev = (uintptr_t)vq->used;

	if (!vhk_as_logging(vq->as))
		return;
	if (vq->log_used && a >= dev && a - dev < vq->dev_size) {
		vq_log_used(vq, a - dev, len);
		return;
	}
	vhk_as_dirty(vq->as, p, len);
}

/* Stores into guest memory (used ring, event suppression, packed
 * descriptors): every one goes through vq_dirty(). */
static inline void vq_store16(struct vhk_vq *vq, vhk_le16 *p, uint16_t val)
{
	vring_store16(p, val, memory_order_relaxed);
	vq_dirty(vq, p, sizeof(*p));
}

static inline void vq_store16_release(struct vhk_vq *vq, vhk_le16 *p,
				      uint16_t val)
{
	vring_store16(p, val, memory_order_release);
	vq_dirty(vq, p, sizeof(*p));
}

static inline void vq_store32(struct vhk_vq *vq, vhk_le32 *p, uint32_t val)
{
	vring_store32(p, val);
	vq_dirty(vq, p, sizeof(*p));
}

/* Single fetch of a descriptor (vring_copy16(), R1). */
static inline void vq_copy16(void *dst, const void *src)
{
	vring_copy16(dst, src);
}

/* ---- chain walking (vq_walk.c) */

struct vq_walk {
	struct vhk_vq *vq;
	struct vhk_chain *c;
	unsigned int cap;	/* segments allowed */
	uint32_t nseg;
	bool seen_write;
	uint64_t total;		/* bytes in the whole chain */
	uint32_t walked;	/* descriptors read */
};

/*
 * vq_translate - vhk_as_translate() of a buffer range the caller checked
 * (@len > 0, no wrap), through the queue's region cache in gpa and
 * platform-identity modes.  Same contract: 0 with *@host and *@len cut to
 * the contiguous prefix, or a negative errno.
 */
int vq_translate(struct vhk_vq *vq, uint64_t addr, uint64_t *len,
		 uint8_t perm, void **host);

/*
 * vq_rcache_current - @vq->rcache describes the address space now: gpa or
 * platform-identity mode, the same memory table at the same generation.
 * vq_rcache_check - make @vq->rcache match the address space now (empty
 * if it does not, or in iotlb mode), once per burst: the memory table
 * only changes between bursts (the queue's thread, or with its workers
 * paused).  Then vq_rcache_hit() is a range compare.
 */
static inline bool vq_rcache_current(const struct vhk_vq *vq)
{
	const struct vq_region_cache *rc = &vq->rcache;
	const struct vhk_as *as = vq->as;

	return (as->mode == VHK_AS_GPA ||
		as->mode == VHK_AS_PLATFORM_IDENTITY) &&
	       as->mt && rc->mt == as->mt &&
	       rc->gen == vhk_memtable_generation(as->mt);
}

static inline void vq_rcache_check(struct vhk_vq *vq)
{
	struct vq_region_cache *rc = &vq->rcache;

	if (vq_rcache_current(vq))
		return;
	rc->mt = NULL;
	rc->gpa = 1;	/* empty: no address hits */
	rc->last = 0;
}

/* Host pointer of [@addr, @addr + @len) (checked: @len > 0, no wrap) when
 * the checked region cache holds all of it, else NULL. */
static inline void *vq_rcache_hit(const struct vhk_vq *vq, uint64_t addr,
				  uint32_t len)
{
	const struct vq_region_cache *rc = &vq->rcache;

	if (addr < rc->gpa || addr + (len - 1) > rc->last)
		return NULL;
	return rc->host + (addr - rc->gpa);
}

void vq_walk_init(struct vq_walk *w, struct vhk_vq *vq, struct vhk_chain *c);
int vq_walk_buffer(struct vq_walk *w, uint64_t addr, uint32_t len,
		   bool write);
int vq_walk_indirect(struct vq_walk *w, uint64_t addr, uint32_t len,
		     void **table, uint32_t *ntable);
void vq_walk_finish(struct vq_walk *w);
/* true for the errors that leave the queue usable (nothing consumed) */
static inline bool vq_err_transient(int err)
{
	return err == -EAGAIN || err == -ENOBUFS || err == -ENOMEM;
}

/* ---- per-layout operations */
int vq_split_map(struct vhk_vq *vq);
int vq_split_start(struct vhk_vq *vq);
int vq_split_pop(struct vhk_vq *vq, struct vhk_chain *c);
int vq_split_pop_burst(struct vhk_vq *vq, struct vhk_chain *c, unsigned int n);
int vq_split_pop_head(struct vhk_vq *vq, uint16_t head, struct vhk_chain *c);
int vq_split_unpop(struct vhk_vq *vq, const struct vhk_chain *c);
bool vq_split_publish(struct vhk_vq *vq);
bool vq_split_enable_notify(struct vhk_vq *vq, bool enable);
bool vq_split_pending(struct vhk_vq *vq);

int vq_packed_map(struct vhk_vq *vq);
int vq_packed_start(struct vhk_vq *vq);
int vq_packed_pop(struct vhk_vq *vq, struct vhk_chain *c);
int vq_packed_unpop(struct vhk_vq *vq, const struct vhk_chain *c);
bool vq_packed_publish(struct vhk_vq *vq);
bool vq_packed_enable_notify(struct vhk_vq *vq, bool enable);
bool vq_packed_pending(struct vhk_vq *vq);

/* ---- inflight (vq_inflight.c) */
int vq_inflight_start(struct vhk_vq *vq);
void vq_inflight_stop(struct vhk_vq *vq);
void vq_inflight_mark(struct vhk_vq *vq, uint16_t head);
void vq_inflight_unmark(struct vhk_vq *vq, uint16_t head);
void vq_inflight_batch_add(struct vhk_vq *vq, uint16_t head);
void vq_inflight_batch_done(struct vhk_vq *vq, uint16_t new_used_idx);
int vq_sort_by_counter(uint16_t *idx, unsigned int n, const uint64_t *c0,
		       size_t stride);

/* ---- packed inflight (vq_inflight_packed.c) */
int vq_pinflight_start(struct vhk_vq *vq);
void vq_pinflight_stop(struct vhk_vq *vq);
/* A list of @c->ndesc descriptors (copies in vq->pk.copy) was popped. */
int vq_pinflight_mark(struct vhk_vq *vq, const struct vhk_chain *c);
/* Undo the mark of the newest pop (vhk_vq_unpop()). */
void vq_pinflight_unmark(struct vhk_vq *vq, const struct vhk_chain *c);
/* Resubmission: the descriptors of entry list @head into vq->pk.copy;
 * returns their number or -EPROTO. */
int vq_pinflight_load(struct vhk_vq *vq, uint16_t head);
/* Publishing: before the first used flags store (entries freed, new used
 * position recorded) and after it (flags cleared, state committed). */
void vq_pinflight_batch_add(struct vhk_vq *vq);
void vq_pinflight_batch_done(struct vhk_vq *vq);

/* ---- lifecycle helpers (vq.c) */
int vq_ensure_mapped(struct vhk_vq *vq);

/*
 * vq_batch_end - last pending index of the used batch starting at @k.
 * With IN_ORDER one used entry may stand for a run of buffers used in
 * order (VIRTIO 1.2, 2.7.9 / 2.8.8): every buffer but the run's last must
 * have been written completely, since the driver assumes exactly that.
 */
static inline unsigned int vq_batch_end(const struct vhk_vq *vq,
					unsigned int k)
{
	const struct vq_pending *p = vq->pending;

	if (!vq->batch_used)
		return k;
	while (k + 1 < vq->npending && p[k].in_seq && p[k + 1].in_seq &&
	       p[k].len == p[k].wmax)
		k++;
	return k;
}

#endif /* VHK_RING_VQ_PRIV_H */
