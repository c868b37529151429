/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/blk.h - the virtio-blk device (VIRTIO 1.2, 5.2) over a file or a
 * block device, with I/O through io_uring.
 *
 * The device plugs into the vhost-user back-end server (vhostkit/backend.h)
 * through vhk_blk_ops.  It sees chains only as byte streams (vhostkit/ring.h):
 * a 16-byte request header in the readable part, data, and the status byte
 * as the last writable byte.
 *
 * Per started queue: one io_uring, at most min(queue size, queue_depth)
 * requests in flight (queue_depth 0: min(queue size, 1024)), completions
 * signalled through an eventfd that the server's event loop watches.
 * A queue runs on its server thread (the one loop, or its queue worker).
 *
 * Usage:
 *	vhk_blk_open(&blk, &opts);
 *	vhk_backend_new(&be, &cfg, &vhk_blk_ops, blk);
 *	vhk_backend_run(be);
 *	vhk_backend_free(be);
 *	vhk_blk_close(blk);
 */
#ifndef VHOSTKIT_BLK_H
#define VHOSTKIT_BLK_H

#include "vhostkit/api.h"
#include "vhostkit/backend.h"
#include "vhostkit/virtio_blk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Segments one DISCARD / WRITE_ZEROES request may carry (config space). */
#define VHK_BLK_MAX_DWZ_SEG	32
/*
 * Host segments one chain may translate to by default.  One descriptor can
 * become several segments (region or IOTLB page boundaries), so this is
 * larger than the seg_max the driver is told (min(max_iov, 1024) - 2).
 */
#define VHK_BLK_DEFAULT_MAX_IOV	4096
/* Sectors one discard / write-zeroes segment may cover (config space). */
#define VHK_BLK_MAX_DWZ_SECTORS	(1u << 22)	/* 2 GiB */

/* Memory-mapped disk mode (vhk_blk_opts.mmap). */
enum vhk_blk_mmap {
	VHK_BLK_MMAP_OFF = 0,	/* io_uring on the file (default) */
	VHK_BLK_MMAP_ON,	/* map it, or vhk_blk_open() fails */
	VHK_BLK_MMAP_AUTO,	/* map it if it lives in tmpfs / hugetlbfs /
				   ramfs, else io_uring */
};

/*
 * How io_uring issues the disk's reads and writes (vhk_blk_opts.nowait).
 * "nowait": the disk's fds are O_NONBLOCK, which io_uring takes as "this
 * file supports IOCB_NOWAIT": a read or an O_DIRECT write is tried in the
 * submitting (queue) thread and completes inside io_uring_enter when it
 * would not block; only what would block goes to io_uring's worker
 * threads.  Without it io_uring sends every read and write of a file
 * whose file system does not declare nowait support (tmpfs, ramfs,
 * hugetlbfs) to a worker thread.  docs/vhostkit-blk.md.
 */
enum vhk_blk_nowait {
	VHK_BLK_NOWAIT_AUTO = 0,	/* nowait for a file in tmpfs / ramfs
					   / hugetlbfs (memory: nothing to
					   wait for), else off (default) */
	VHK_BLK_NOWAIT_ON,		/* nowait whatever the file */
	VHK_BLK_NOWAIT_OFF,		/* never: io_uring decides */
};

struct vhk_blk_opts {
	const char *disk;		/* file or block device path */
	bool read_only;			/* open O_RDONLY, offer VIRTIO_BLK_F_RO */
	bool no_direct;			/* do not try O_DIRECT */
	uint16_t num_queues;		/* 0 = 1 */
	uint16_t queue_depth;		/* per queue in flight; 0 = queue size,
					   at most 1024 */
	const char *serial;		/* GET_ID (<= 20 bytes used); NULL: none */
	unsigned int max_iov;		/* host segments per chain (3-65536);
					   0 = VHK_BLK_DEFAULT_MAX_IOV; the
					   server learns it from the ops */
	enum vhk_blk_mmap mmap;		/* memory-mapped mode: reads and
					   writes are memcpy between guest
					   memory and a MAP_SHARED mapping
					   of the disk (docs/vhostkit-blk.md) */
	unsigned int sqpoll_idle_ms;	/* 0: off; else each queue's io_uring
					   uses SQPOLL (a kernel thread polls
					   the submission ring, no
					   io_uring_enter per batch), which
					   sleeps after this many ms idle; if
					   the kernel refuses, a warning and
					   plain submission */
	enum vhk_blk_nowait nowait;	/* io_uring issue mode (above) */
};

struct vhk_blk;

/** The device operations to give vhk_backend_new() with the vhk_blk. */
VHK_API
extern const struct vhk_device_ops vhk_blk_ops;

/**
 * vhk_blk_open - open @o->disk (O_DIRECT when possible, else buffered;
 * O_RDONLY with @o->read_only) and build the configuration space.
 * The capacity is the file size (or the block device size) rounded down to
 * 512 bytes.  Returns 0 and *@out; -EINVAL for bad options (no disk,
 * num_queues above 256, max_iov < 3 or > 65536); the open/stat errno.
 */
VHK_API
int vhk_blk_open(struct vhk_blk **out, const struct vhk_blk_opts *o);

/**
 * vhk_blk_close - close the disk and free @blk; every queue must be
 * stopped (vhk_backend_free() first).  NULL is a no-op.
 */
VHK_API
void vhk_blk_close(struct vhk_blk *blk);

/**
 * vhk_blk_max_iov - host segments per chain the device accepts (what its
 * max_iov() operation tells the server).
 */
VHK_API
unsigned int vhk_blk_max_iov(const struct vhk_blk *blk);

/** vhk_blk_capacity - capacity in 512-byte sectors. */
VHK_API
uint64_t vhk_blk_capacity(const struct vhk_blk *blk);

/** vhk_blk_direct - true if the disk is opened with O_DIRECT. */
VHK_API
bool vhk_blk_direct(const struct vhk_blk *blk);

/**
 * vhk_blk_nowait_on - true if the disk's reads and writes are issued
 * nowait in the queue thread (enum vhk_blk_nowait; false when memory-mapped
 * mode serves them).
 */
VHK_API
bool vhk_blk_nowait_on(const struct vhk_blk *blk);

/**
 * vhk_blk_mmapped - true if reads and writes are served from a mapping of
 * the disk (memory-mapped mode, and the file has not shrunk under it).
 */
VHK_API
bool vhk_blk_mmapped(const struct vhk_blk *blk);

/** vhk_blk_is_blockdev - true if the disk is a block device. */
VHK_API
bool vhk_blk_is_blockdev(const struct vhk_blk *blk);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_BLK_H */
