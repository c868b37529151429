/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/as.h - a device's address space and the one translate entry point
 * (internal: src/include, not installed; the mode names are public in
 * vhostkit/translation.h).
 *
 * docs/translation-model.md.  Three address spaces: GPA, UVA (front-end virtual
 * address) and IOVA.  A device runs in exactly one mode, chosen once at ring
 * start from negotiated state only (vhk_as_choose_mode(), vhostkit/mode.h):
 *
 *   mode               descriptor addresses          ring addresses
 *   gpa                GPA -> mem table              UVA -> mem table
 *   platform-identity  GPA (platform is identity)    UVA, or GPA (IOVA = GPA)
 *   iotlb              IOVA -> IOTLB -> UVA -> table IOVA likewise
 *
 * Every ring and buffer access goes through vhk_as_translate() or
 * vhk_as_translate_ring(); nothing else turns a device address into a host
 * pointer.
 */
#ifndef VHOSTKIT_AS_H
#define VHOSTKIT_AS_H

#include "vhostkit/iotlb.h"
#include "vhostkit/mem.h"
#include "vhostkit/translation.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vhk_as_mode_parse - "gpa"/"platform-identity"/"iotlb" -> mode; 0 or -EINVAL. */
int vhk_as_mode_parse(const char *s, enum vhk_as_mode *mode);

/**
 * Called when a translation misses in the IOTLB and no miss for that page
 * and permission is outstanding: the owner sends an IOTLB MISS to the
 * front-end.  Called from inside vhk_as_translate*().
 */
typedef void (*vhk_as_miss_fn)(void *opaque, uint64_t iova, uint8_t perm);

struct vhk_as {
	enum vhk_as_mode mode;
	struct vhk_memtable *mt;	/* not owned; may be NULL (all fault) */
	struct vhk_iotlb *iotlb;	/* not owned; used in iotlb mode only */
	vhk_as_miss_fn miss_fn;		/* may be NULL */
	void *miss_opaque;
	/*
	 * platform-identity only: ring addresses are guest-physical (true)
	 * or the front-end's virtual addresses (false, the default);
	 * chosen at ring start by vhk_as_pick_ring_reading().
	 */
	bool ring_gpa;
	/*
	 * Dirty log (vhost-user SET_LOG_BASE): one bit per 4 KiB guest page,
	 * set for every page the device writes while @log_on.  Changed only
	 * with the queues quiescent; read with relaxed atomics.
	 */
	uint8_t *log;
	uint64_t log_size;		/* bytes */
	bool log_on;			/* VHOST_F_LOG_ALL acked */
};

#define VHK_LOG_PAGE	4096u		/* vhost-user: VHOST_LOG_PAGE */

/**
 * vhk_as_log_write - record that the device wrote @len bytes at host
 * address @host (inside a memory-table region) in the dirty log: the
 * guest-physical pages they land on are marked atomically, whatever the
 * translation mode (an IOVA write was translated to a host address; the
 * memory table maps that back to a GPA).  No-op unless logging is on.
 */
void vhk_as_log_write(const struct vhk_as *as, const void *host, size_t len);

/** vhk_dirty_log_mark - set the bits of GPA range [@gpa, @gpa + @len). */
void vhk_dirty_log_mark(uint8_t *log, uint64_t log_size, uint64_t gpa,
			uint64_t len);

/**
 * vhk_as_pick_ring_reading - platform-identity mode: decide how the ring
 * addresses @addrs[0..@n) of a front-end are read, and set @as->ring_gpa.
 * The vhost-user spec gives ring addresses as front-end virtual addresses
 * without an IOMMU, and as I/O virtual addresses once ACCESS_PLATFORM is
 * negotiated; with an identity platform translation (IOVA = GPA) the second
 * reading means guest-physical.  Front-ends send either: the UVA reading is
 * kept when every address lies in a region's UVA range (it always was the
 * reading here), the GPA reading when every address lies in a region's GPA
 * range instead.  *@why (may be NULL) gets a static description of the
 * reading used.  Returns 0, -EINVAL (not platform-identity mode) or
 * -EFAULT (neither reading maps every address).
 */
int vhk_as_pick_ring_reading(struct vhk_as *as, const uint64_t *addrs,
			     unsigned int n, const char **why);

/**
 * vhk_as_dirty - THE hook for device writes into guest memory: every byte
 * a device writes into memory the driver owns is reported here, @len bytes
 * at host address @host (a pointer translate() returned), after the write.
 * Callers: the ring layer's used-ring / event stores (src/ring/vq_priv.h),
 * vhk_guest_write() (the chain iterator's write path) and vhk_vq_push()
 * (the bytes a device's own I/O wrote, up to the used length).
 *
 * Dirty-page logging for live migration (vhost-user SET_LOG_BASE with
 * VHOST_F_LOG_ALL) lives here and nowhere else: vhk_as_log_write() maps
 * @host back to a guest physical address through the memory table and
 * sets the log bits.  While logging is off this is one relaxed load.
 */
static inline bool vhk_as_logging(const struct vhk_as *as)
{
	return as && __atomic_load_n(&as->log_on, __ATOMIC_RELAXED);
}

static inline void vhk_as_dirty(const struct vhk_as *as, const void *host,
				size_t len)
{
	if (vhk_as_logging(as))
		vhk_as_log_write(as, host, len);
}

/**
 * vhk_as_translate - host pointer for device address @addr (GPA or IOVA by
 * mode) for an access with @perm (VHK_PERM_RO: device reads, WO: writes).
 * *@len: in, bytes wanted (> 0); out, the contiguous prefix (<= in).
 * @cache (may be NULL) is the caller's per-queue IOTLB state (last-hit
 * cache and outstanding misses; without it misses go to the shared IOTLB).
 * Returns 0 and *@host; -EFAULT (unmapped, range wraps, UVA outside the
 * table); -EACCES (IOTLB permission); -EAGAIN (IOTLB miss: recorded, and
 * the miss callback called if it is new - park and retry after UPDATE).
 */
int vhk_as_translate(struct vhk_as *as, uint64_t addr, uint64_t *len,
		     uint8_t perm, void **host, struct vhk_iotlb_cache *cache);

/**
 * vhk_as_translate_ring - host pointer for a ring structure of @size bytes
 * at @addr (UVA in gpa mode; UVA or GPA in platform-identity mode, as
 * @as->ring_gpa says; IOVA in iotlb mode).  The
 * whole structure must be contiguous in host memory.
 * Returns 0, -EFAULT (unmapped or straddling regions/entries), -EACCES or
 * -EAGAIN as vhk_as_translate().
 */
int vhk_as_translate_ring(struct vhk_as *as, uint64_t addr, uint64_t size,
			  uint8_t perm, void **host,
			  struct vhk_iotlb_cache *cache);

/**
 * vhk_as_copy_from - copy @len bytes at device address @addr into @dst,
 * splitting at every boundary.  Returns 0 or an error as vhk_as_translate().
 */
int vhk_as_copy_from(struct vhk_as *as, void *dst, uint64_t addr, size_t len,
		     struct vhk_iotlb_cache *cache);

/** vhk_as_copy_to - copy @len bytes from @src to device address @addr. */
int vhk_as_copy_to(struct vhk_as *as, uint64_t addr, const void *src,
		   size_t len, struct vhk_iotlb_cache *cache);

/**
 * vhk_as_iotlb_update - IOTLB UPDATE with the check the IOTLB cannot do
 * itself: the UVA range must lie inside the memory table.
 * Returns 0, -EINVAL (size 0, wrap, bad perm) or -EFAULT (outside table).
 */
int vhk_as_iotlb_update(struct vhk_as *as, uint64_t iova, uint64_t size,
			uint64_t uva, uint8_t perm);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_AS_H */
