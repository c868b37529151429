/* SPDX-License-Identifier: MIT */
/*
 * fe_util.h - helpers for the front-end pair tests: spawn a back-end
 * process (qemu-storage-daemon or vhostkit-blk), scratch images, and a
 * minimal virtio-blk request builder (VIRTIO 1.2, 5.2.6) that goes
 * through the front-end's DMA API, so every DMA mode is exercised.
 */
#ifndef VHK_TESTS_FE_UTIL_H
#define VHK_TESTS_FE_UTIL_H

#include <sys/types.h>
#include "vhostkit/frontend.h"

#define FE_T_IN		0	/* VIRTIO_BLK_T_IN */
#define FE_T_OUT	1	/* VIRTIO_BLK_T_OUT */
#define FE_T_FLUSH	4	/* VIRTIO_BLK_T_FLUSH */
#define FE_T_GET_ID	8	/* VIRTIO_BLK_T_GET_ID */

struct fe_proc {
	pid_t pid;
	char log[256];
};

/* A private scratch directory (removed by fe_tmp_cleanup). */
const char *fe_tmpdir(void);
void fe_tmp_cleanup(void);

/* Create @path of @sectors 512-byte sectors, sector s filled with (s & 0xff) ^ 0x5a. */
int fe_make_image(const char *path, unsigned int sectors);
uint8_t fe_pattern(uint64_t sector);

/* Spawn argv; stdout+stderr go to a log in the tmpdir.  0 or -errno. */
int fe_spawn(struct fe_proc *p, char *const argv[]);
/* Wait until @path exists (a listening socket), up to @ms. */
int fe_wait_path(const char *path, unsigned int ms);
/* SIGTERM (or @sig) and reap. */
void fe_kill(struct fe_proc *p, int sig);
/* Print the process log to stderr (on failure). */
void fe_dump_log(const struct fe_proc *p);

/* Path of vhostkit-blk (env VHK_BLK_BIN), or NULL if not executable. */
const char *fe_blk_bin(void);
/* Spawn vhostkit-blk on @sock for @disk with --iommu @iommu. */
int fe_spawn_blk(struct fe_proc *p, const char *sock, const char *disk,
		 const char *iommu);
/* Spawn qemu-storage-daemon exporting @img at @sock (writable). */
int fe_spawn_qsd(struct fe_proc *p, const char *sock, const char *img);

/*
 * One blk request on queue @q: header, @len bytes of @buf (from
 * vhk_fe_alloc(); may be NULL for FLUSH), status.  Maps everything through
 * vhk_fe_dma_map(), waits for completion up to @timeout_ms, unmaps.
 * Returns the virtio status byte (0 = OK), -ETIMEDOUT, or -errno.
 */
int fe_blk_rw(struct vhk_fe *fe, uint16_t q, uint32_t type, uint64_t sector,
	      void *buf, uint32_t len, int timeout_ms);

/*
 * Place (and publish, without kicking when @kick is false) a request whose
 * completion is collected later by fe_blk_collect().  The request state is
 * returned in *@req.  @scratch (NULL, or 64 bytes from vhk_fe_alloc()
 * owned by the caller) holds the header and status instead of two fresh
 * allocations, so that a lazy IOMMU mapping can be reused.
 */
struct fe_blk_req;
int fe_blk_submit(struct vhk_fe *fe, uint16_t q, uint32_t type,
		  uint64_t sector, void *buf, uint32_t len, bool kick,
		  struct fe_blk_req **req);
int fe_blk_submit_at(struct vhk_fe *fe, uint16_t q, uint32_t type,
		     uint64_t sector, void *buf, uint32_t len, bool kick,
		     void *scratch, struct fe_blk_req **req);
/* fe_blk_rw() with @scratch as in fe_blk_submit_at(). */
int fe_blk_rw_at(struct vhk_fe *fe, uint16_t q, uint32_t type,
		 uint64_t sector, void *buf, uint32_t len, void *scratch,
		 int timeout_ms);
/*
 * Wait for @req to complete; returns status or -errno; frees @req.  After
 * -ETIMEDOUT the queue must not be used again (its ring holds the token).
 */
int fe_blk_collect(struct vhk_fe *fe, uint16_t q, struct fe_blk_req *req,
		   int timeout_ms);

#endif
