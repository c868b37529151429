/* SPDX-License-Identifier: MIT */
/*
 * drv_util.h - helpers for the blk driver pair tests: back-end processes
 * (vhostkit-blk, qemu-storage-daemon), scratch disks in /dev/shm, a driver
 * on a socket in a given DMA mode, and pattern I/O that is verified both
 * through the driver and directly in the disk file.
 */
#ifndef VHK_TESTS_DRV_UTIL_H
#define VHK_TESTS_DRV_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/frontend.h"

#define DRV_SKIP	77	/* meson's "skipped" exit code */

enum drv_dma { DRV_DIRECT, DRV_STRICT, DRV_LAZY, DRV_BOUNCE };

struct drv_proc {
	pid_t pid;
	char log[256];
};

/* A private scratch directory under /dev/shm (or /tmp), removed at exit. */
const char *drv_tmpdir(void);

/*
 * Binary from environment variable @env if it names an executable file,
 * else NULL.  drv_require() prints why and exits 77 when missing.
 */
const char *drv_bin(const char *env);
const char *drv_require(const char *env, const char *what);

/* Create a zero-filled disk file of @bytes. */
int drv_make_disk(const char *path, uint64_t bytes);

/* Spawn argv (NULL-terminated); output to a log in the tmpdir. */
int drv_spawn(struct drv_proc *p, char *const argv[]);
/* Wait until @path exists, up to @ms. */
int drv_wait_path(const char *path, unsigned int ms);
/* Send @sig, reap. */
void drv_kill(struct drv_proc *p, int sig);
/* Print the log of @p to stderr. */
void drv_dump_log(const struct drv_proc *p);

/* vhostkit-blk --socket-path @sock --disk @disk --num-queues @nq --iommu @iommu */
int drv_spawn_blk(struct drv_proc *p, const char *bin, const char *sock,
		  const char *disk, unsigned int nq, const char *iommu);
/* qemu-storage-daemon exporting @disk (writable) on @sock. */
int drv_spawn_qsd(struct drv_proc *p, const char *bin, const char *sock,
		  const char *disk);

struct drv_conn {
	struct vhk_fe *fe;
	struct vhk_blk_drv *drv;
};

struct drv_open_opts {
	const char *sock;
	enum drv_dma dma;
	bool packed;
	uint16_t queues;
	unsigned int depth;
	bool persist;		/* ack IOTLB_PERSIST when offered */
	bool use_call_fd;
	size_t mem_size;	/* 0: 32 MiB */
};

/* Connect, start, driver.  0 or -errno; logs what failed. */
int drv_open(struct drv_conn *c, const struct drv_open_opts *o);
void drv_close(struct drv_conn *c);
enum vhk_dma_mode drv_expected_mode(enum drv_dma d);
/* Ask for @d in @cfg (vhk_fe_config_set_dma()). */
void drv_dma_config(struct vhk_fe_config *cfg, enum drv_dma d);
const char *drv_dma_name(enum drv_dma d);

/* Pattern word for byte offset @off of generation @gen. */
void drv_fill(uint8_t *buf, uint32_t len, uint64_t seed, uint64_t off);
/* -1 if @buf holds the pattern, else the first bad byte. */
int64_t drv_check(const uint8_t *buf, uint32_t len, uint64_t seed,
		  uint64_t off);

/*
 * Write @nblocks blocks of @bs bytes from byte 0 with the pattern of
 * @seed, spread over every queue and pipelined; then read them back and
 * compare.  Returns 0, -EILSEQ (mismatch, printed) or -errno.
 */
int drv_pattern_io(struct drv_conn *c, uint64_t nblocks, uint32_t bs,
		   uint64_t seed);

/*
 * Run the given blocks as @op (WRITE fills the pattern of @seeds[i] for
 * block @blocks[i]; READ verifies it).  Returns 0 or as above.
 */
int drv_blocks(struct drv_conn *c, enum vhk_blk_op op, const uint64_t *blocks,
	       const uint64_t *seeds, uint64_t n, uint32_t bs);

/* Read the disk FILE directly and compare with the pattern. */
int drv_check_file(const char *path, uint64_t off, uint64_t len,
		   uint64_t seed);

#endif
