/* SPDX-License-Identifier: MIT */
/*
 * fe_priv.h - internals of the userspace-driver runtime (frontend.h), the
 * layer above the protocol client (client_priv.h).
 *
 * Address spaces the runtime owns (docs/translation-model.md):
 *   GPA   shared memory starts at FE_GPA_BASE (never 0, never a UVA);
 *   UVA   our own mmap of the memfd;
 *   IOVA  allocated from [FE_IOVA_BASE, FE_IOVA_BASE + FE_IOVA_SIZE), a
 *         range that overlaps no GPA, so a device that confuses the two
 *         faults instead of silently working.
 */
#ifndef VHK_FE_PRIV_H
#define VHK_FE_PRIV_H

#include <pthread.h>
#include "vhostkit/frontend.h"
#include "client_priv.h"

#define FE_GPA_BASE		0x100000000ull		/* 4 GiB */
#define FE_IOVA_BASE		0x10000000000ull	/* 1 TiB */
#define FE_IOVA_SIZE		0x1000000000ull		/* 64 GiB */
#define FE_PAGE			4096ull
#define FE_ALLOC_ALIGN		64ull
#define FE_REPLY_TIMEOUT_MS	10000
#define FE_MAX_QUEUES		64

/* First-fit allocator over [base, base+size) with a sorted free list. */
struct fe_range {
	uint64_t start;
	uint64_t len;
};

struct fe_ralloc {
	uint64_t base;
	uint64_t size;
	uint64_t align;
	struct fe_range *free;
	size_t nfree;
	size_t cap;
};

int fe_ralloc_init(struct fe_ralloc *ra, uint64_t base, uint64_t size,
		   uint64_t align);
void fe_ralloc_destroy(struct fe_ralloc *ra);
/* 0 and *@out, -EINVAL (len 0), -ENOMEM (no room). */
int fe_ralloc_get(struct fe_ralloc *ra, uint64_t len, uint64_t *out);
/* Give back what fe_ralloc_get() returned (same len); -EINVAL if bogus. */
int fe_ralloc_put(struct fe_ralloc *ra, uint64_t start, uint64_t len);
/* Bytes free (tests). */
uint64_t fe_ralloc_free_bytes(const struct fe_ralloc *ra);

/* One vhk_fe_alloc() allocation (sorted by host). */
struct fe_alloc {
	uint8_t *host;
	size_t len;		/* rounded up to FE_ALLOC_ALIGN */
	uint64_t lazy_iova;	/* 0 = no lazy mapping yet */
	uint64_t lazy_len;
};

/* One bounce slot in use (sorted by gpa). */
struct fe_bounce {
	uint64_t gpa;
	uint64_t len;		/* slot length as allocated */
	uint8_t *host;		/* the private buffer */
	size_t host_len;
	enum vhk_dma_dir dir;
};

struct fe_queue {
	struct vhk_drv_vq *dq;
	uint8_t *ring_host;	/* in shared memory (or the bounce pool) */
	uint64_t ring_gpa;
	uint64_t ring_size;	/* page-rounded slot */
	int kick_fd;
	int call_fd;
	int base;		/* from GET_VRING_BASE, -1 if unknown */
};

struct vhk_fe {
	struct vhk_fe_config cfg;
	char *socket_path;
	char *name;
	struct vhk_vuc *c;	/* the protocol client under this runtime */
	bool started;
	pthread_mutex_t lock;	/* the bookkeeping below */

	uint64_t driver_features;	/* guest view */
	uint64_t backend_features;	/* SET_FEATURES word */
	uint16_t nqueues;
	uint16_t qsize;
	enum vhk_dma_mode mode;

	/* Shared memory: direct/iommu the whole "guest" RAM, bounce the pool. */
	int mem_fd;
	uint8_t *mem_host;
	uint64_t mem_size;
	uint64_t ring_area;	/* bytes at the start of the memory for rings */
	struct fe_ralloc heap;	/* direct/iommu: offsets into mem after rings */
	struct fe_ralloc pool;	/* bounce: GPAs of bounce slots */
	struct fe_ralloc iova;	/* iommu */

	struct fe_alloc *allocs;
	size_t nallocs, allocs_cap;
	struct fe_bounce *bounces;
	size_t nbounces, bounces_cap;
	uint64_t ring_iova;	/* iommu: IOVA of the ring area */

	struct fe_queue q[FE_MAX_QUEUES];
	uint64_t bounce_bytes_in, bounce_bytes_out, resets, reconnects;
};

/* rt_dma.c */
int fe_map_ring_area(struct vhk_fe *fe);
void fe_dma_free_all(struct vhk_fe *fe);

#endif /* VHK_FE_PRIV_H */
