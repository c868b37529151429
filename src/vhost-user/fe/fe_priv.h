/* SPDX-License-Identifier: MIT */
/*
 * fe_priv.h - internals of the vhost-user front-end library (the fe/ sources only).
 *
 * Address spaces the front-end owns (DESIGN.md s2):
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
#include "vhostkit/vhost_user.h"

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

/* What an IOTLB mapping is for. */
enum fe_map_kind {
	FE_MAP_RING,		/* long-lived: the ring area */
	FE_MAP_LAZY,		/* long-lived: one vhk_fe_alloc() allocation */
	FE_MAP_STRICT,		/* one vhk_fe_dma_map() call */
};

/* One IOTLB mapping this front-end sent (sorted by iova). */
struct fe_map {
	uint64_t iova;		/* page-aligned */
	uint64_t len;		/* page multiple */
	uint64_t uva;
	uint8_t perm;
	enum fe_map_kind kind;
};

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

	int sock;
	bool connected;
	bool started;
	pthread_mutex_t lock;	/* main socket + bookkeeping below */
	pthread_mutex_t chan_lock; /* back-end channel writes */

	uint64_t backend_offered;
	uint64_t proto_offered;
	uint64_t proto_acked;
	uint64_t driver_features;	/* guest view */
	uint64_t backend_features;	/* SET_FEATURES word */
	uint16_t max_queues;
	uint16_t nqueues;
	uint16_t qsize;
	enum vhk_dma_mode mode;

	/* Back-end channel (our end; the other went with SET_BACKEND_REQ_FD). */
	int chan_fd;
	pthread_t miss_thread;
	bool miss_thread_on;
	int stop_efd;		/* wakes the miss thread */

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
	struct fe_map *maps;
	size_t nmaps, maps_cap;
	struct fe_bounce *bounces;
	size_t nbounces, bounces_cap;
	uint64_t ring_iova;	/* iommu: IOVA of the ring area */

	/* Inflight region from GET_INFLIGHT_FD (kept across reconnect). */
	int inflight_fd;
	struct vhk_vu_inflight inflight;

	uint8_t status;
	struct fe_queue q[FE_MAX_QUEUES];
	struct vhk_fe_stats stats;
};

/* conn.c */
int fe_send_ack_locked(struct vhk_fe *fe, uint32_t req, const void *payload,
		       uint32_t size, const int *fds, unsigned int nfds);
int fe_note_io_error(struct vhk_fe *fe, int err);
int fe_ack(struct vhk_fe *fe, uint32_t req, const void *payload,
	   uint32_t size, const int *fds, unsigned int nfds);
int fe_ack_u64(struct vhk_fe *fe, uint32_t req, uint64_t val);
int fe_call(struct vhk_fe *fe, uint32_t req, const void *payload,
	    uint32_t size, struct vhk_vu_msg *reply, int *fds,
	    unsigned int *nfds, unsigned int max_fds);
int fe_handshake(struct vhk_fe *fe);
int fe_get_vring_base(struct vhk_fe *fe, uint16_t idx, uint32_t *base);
int fe_get_status(struct vhk_fe *fe, uint8_t *status);
bool fe_peer_gone(struct vhk_fe *fe);

/* dma.c */
int fe_iotlb_send_locked(struct vhk_fe *fe, uint8_t type, uint64_t iova,
			 uint64_t size, uint64_t uva, uint8_t perm);
int fe_map_ring_area(struct vhk_fe *fe);
int fe_resend_mappings(struct vhk_fe *fe);
int fe_maps_insert(struct vhk_fe *fe, const struct fe_map *m);
struct fe_map *fe_maps_find(struct vhk_fe *fe, uint64_t iova, uint8_t perm);
int fe_serve_channel_msg(struct vhk_fe *fe);
int fe_start_miss_thread(struct vhk_fe *fe);
void fe_stop_miss_thread(struct vhk_fe *fe);
void fe_dma_free_all(struct vhk_fe *fe);

#endif /* VHK_FE_PRIV_H */
