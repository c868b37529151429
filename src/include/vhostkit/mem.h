/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/mem.h - the guest memory table.
 *
 * A table of regions as vhost-user describes them: guest-physical address
 * (GPA), size, front-end virtual address (UVA) and an fd + offset to mmap.
 * Lookups return the *contiguous prefix* of a range: callers loop.
 *
 * Host pointers returned by lookups are valid only while the table is
 * alive: whoever swaps tables must first stop every user of the old one
 * (the back-end drains in-flight I/O before it frees a table).
 */
#ifndef VHOSTKIT_MEM_H
#define VHOSTKIT_MEM_H

#include <sys/uio.h>
#include "vhostkit/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Regions a SET_MEM_TABLE message carries (vhost-user spec). */
#define VHK_MEM_MAX_REGIONS_MSG		8
/* Slots this back-end reports in GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS). */
#define VHK_MEM_MAX_SLOTS		32

/* A region as the front-end describes it. */
struct vhk_mem_region_desc {
	uint64_t gpa;		/* guest physical address */
	uint64_t size;		/* bytes, > 0 */
	uint64_t uva;		/* front-end virtual address */
	uint64_t mmap_offset;	/* offset into @fd */
	int fd;			/* -1 with vhk_memtable_add_host() */
};

/* A mapped region. */
struct vhk_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
	uint8_t *host;		/* host address of gpa */
	void *mmap_base;	/* NULL for caller-owned memory */
	size_t mmap_len;
	int fd;			/* owned, or -1 */
	bool sealed;		/* the file cannot shrink (F_SEAL_SHRINK) */
};

struct vhk_memtable;

/**
 * vhk_memtable_new - an empty table that accepts at most @max_regions
 * regions (VHK_MEM_MAX_SLOTS for vhost-user; tests may ask for more).
 * Returns 0 and *@out, or -ENOMEM / -EINVAL.
 */
int vhk_memtable_new(struct vhk_memtable **out, unsigned int max_regions);

/**
 * vhk_memtable_free - unmap every region, close its fd, free the table.
 * NULL is a no-op.
 */
void vhk_memtable_free(struct vhk_memtable *mt);

/**
 * vhk_memtable_add - mmap @d->fd (MAP_SHARED, read/write) and add it.
 * On success the table owns @d->fd; on failure the caller still owns it.
 * Returns 0, or -EINVAL (size 0, gpa+size / uva+size / offset+size
 * overflow, overlap with an existing region in GPA or UVA space, negative
 * fd), -ENOSPC (table full), or the mmap errno.
 */
int vhk_memtable_add(struct vhk_memtable *mt,
		     const struct vhk_mem_region_desc *d);

/**
 * vhk_memtable_add_host - add caller-owned memory @host as a region (no
 * mmap, no fd).  Same validation as vhk_memtable_add().  The caller keeps
 * @host alive longer than the table.  Used by tests and by the front-end
 * library for its own view of memory it shares.
 *
 * Cost (both adds): O(log n) when regions arrive in ascending GPA and UVA
 * order (one-region-per-byte test spaces should be built that way), O(n)
 * otherwise - nothing for the 32 slots of vhost-user.
 */
int vhk_memtable_add_host(struct vhk_memtable *mt, uint64_t gpa,
			  uint64_t size, uint64_t uva, void *host);

/**
 * vhk_memtable_remove - remove (and unmap) the region that matches @gpa,
 * @size and @uva exactly (REM_MEM_REG).  Returns 0 or -ENOENT.
 */
int vhk_memtable_remove(struct vhk_memtable *mt, uint64_t gpa, uint64_t size,
			uint64_t uva);

/**
 * vhk_memtable_generation - a number that changes on every add or remove
 * and is never shared by two tables: a host pointer cached together with it
 * is valid while it is unchanged.
 */
uint64_t vhk_memtable_generation(const struct vhk_memtable *mt);

/** vhk_memtable_count - number of regions. */
unsigned int vhk_memtable_count(const struct vhk_memtable *mt);

/** vhk_memtable_region - region @i (0 <= @i < count), sorted by GPA. */
const struct vhk_mem_region *vhk_memtable_region(const struct vhk_memtable *mt,
						 unsigned int i);

/**
 * vhk_memtable_find_gpa - the region containing @gpa, or NULL (unmapped,
 * or no table).  The pointer is valid while the table's generation is
 * unchanged.  O(log n).
 */
const struct vhk_mem_region *vhk_memtable_find_gpa(const struct vhk_memtable *mt,
						   uint64_t gpa);

/**
 * vhk_memtable_gpa_to_host - host pointer for @gpa.
 * *@len: in, the bytes wanted (> 0); out, the contiguous bytes available
 * from @gpa inside one region (<= in).  Returns NULL if @gpa is unmapped.
 * O(log n).
 */
void *vhk_memtable_gpa_to_host(const struct vhk_memtable *mt, uint64_t gpa,
			       uint64_t *len);

/** vhk_memtable_uva_to_host - as vhk_memtable_gpa_to_host(), by UVA. */
void *vhk_memtable_uva_to_host(const struct vhk_memtable *mt, uint64_t uva,
			       uint64_t *len);

/**
 * vhk_memtable_uva_range_ok - true if [@uva, @uva+@len) lies entirely in
 * mapped UVA space (possibly across several regions).  @len 0 is false.
 */
bool vhk_memtable_uva_range_ok(const struct vhk_memtable *mt, uint64_t uva,
			       uint64_t len);

/**
 * vhk_memtable_copy_from_gpa - copy @len bytes at @gpa into @dst, splitting
 * at region boundaries.  Returns 0 or -EFAULT (nothing is promised about
 * @dst then).
 */
int vhk_memtable_copy_from_gpa(const struct vhk_memtable *mt, void *dst,
			       uint64_t gpa, size_t len);

/** vhk_memtable_copy_to_gpa - copy @len bytes from @src to @gpa; 0 or -EFAULT. */
int vhk_memtable_copy_to_gpa(const struct vhk_memtable *mt, uint64_t gpa,
			     const void *src, size_t len);

/**
 * vhk_memtable_host_to_gpa - the GPA of host address @host (inside a
 * mapped region) and, in *@len, how many of the *@len bytes from there
 * stay in that region.  Returns 0 or -EFAULT (not in any region).
 */
int vhk_memtable_host_to_gpa(const struct vhk_memtable *mt, const void *host,
			     uint64_t *gpa, size_t *len);

/* ---- guest memory whose file shrinks (SIGBUS survival) */

/* What the SIGBUS handler recorded for a guarded mapping (read with
 * __atomic_load_n: the handler may run on any thread). */
struct vhk_mem_fault {
	uint32_t hit;			/* set once, by the handler */
	uint64_t tag;			/* the registrant's tag */
	uint64_t offset;		/* faulting byte in the mapping */
};

/**
 * vhk_mem_guard_add - survive SIGBUS in [@base, @base + @len): a fault
 * there replaces the whole mapping with anonymous zero pages (the access
 * completes, reading zeros or writing nowhere) and records @tag and the
 * offset in *@f (first fault only).  The owner checks @f at a safe point
 * and stops using the memory.  Installs a process-wide SIGBUS handler on
 * first use; faults elsewhere go to the previous handler.
 * Returns 0, -EINVAL or -ENOSPC (registry full: the mapping is not
 * guarded).
 */
int vhk_mem_guard_add(void *base, size_t len, struct vhk_mem_fault *f,
		      uint64_t tag);

/** vhk_mem_guard_del - forget the mapping at @base; call before munmap. */
void vhk_mem_guard_del(void *base);

/** vhk_fd_shrink_sealed - true if @fd carries F_SEAL_SHRINK. */
bool vhk_fd_shrink_sealed(int fd);

/**
 * vhk_memtable_fault - true once an access to one of @mt's regions hit the
 * end of its (shrunk) file; *@msg then names the region.
 */
bool vhk_memtable_fault(const struct vhk_memtable *mt, char *msg, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_MEM_H */
