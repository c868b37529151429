/* SPDX-License-Identifier: MIT */
/*
 * blk_internal.h - virtio-blk device internals shared by blk.c (device
 * operations, config space) and blk_req.c (request parsing, io_uring), and
 * by the unit tests, which run queues without a socket through a struct
 * vhk_dq_host of their own (vhostkit/device.h).  A queue's calls happen on
 * that queue's thread; queues share only read-mostly state (struct
 * vhk_blk), whose flags below are atomic.
 */
#ifndef VHK_DEV_BLK_INTERNAL_H
#define VHK_DEV_BLK_INTERNAL_H

#include <liburing.h>
#include "vhostkit/blk.h"
#include "vhostkit/mem.h"

/* The device's own counters (vhk_device_ops.stat_names, blk.c): a
 * request finished OK by operation (in enum blk_op order), or failed. */
enum blk_stat {
	BLK_STAT_READ = 0,
	BLK_STAT_WRITE,
	BLK_STAT_FLUSH,
	BLK_STAT_DISCARD,
	BLK_STAT_WRITE_ZEROES,
	BLK_STAT_OTHER,		/* GET_ID */
	BLK_STAT_UNSUPP,
	BLK_STAT_IOERR,
};

enum blk_op {
	BLK_OP_NONE = 0,
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WZ,
	BLK_OP_MSYNC,	/* memory-mapped write: wait for its writeback */
};

/* How a write-zeroes segment is carried out (best first). */
enum blk_wz_mode {
	BLK_WZ_PUNCH = 0,	/* fallocate PUNCH_HOLE | KEEP_SIZE */
	BLK_WZ_ZERO_RANGE,	/* fallocate ZERO_RANGE | KEEP_SIZE */
	BLK_WZ_WRITE,		/* writev from a zero buffer */
};

struct blk_range {
	uint64_t off;	/* bytes */
	uint64_t len;
	bool unmap;	/* write-zeroes may deallocate */
};

/* One request slot; a queue has min(queue size, queue_depth) of them. */
struct blk_req {
	struct vhk_chain chain;		/* chain.iov == iov */
	struct iovec *iov;		/* the chain's host segments (copied) */
	struct iovec *data;		/* read/write data, advanced on short I/O */
	unsigned int cap;		/* entries of iov and of data */
	struct vhk_iter status;		/* the status byte */
	enum blk_op op;
	bool buffered;			/* O_DIRECT refused it: use the other fd */
	enum blk_wz_mode wz_mode;
	unsigned int ndata;		/* data segments */
	unsigned int idata;		/* first data segment not done */
	uint64_t off;			/* file offset of the next byte */
	uint64_t left;			/* bytes left (current range) */
	uint32_t total;			/* IN: data bytes written to the driver */
	unsigned int nseg;		/* DISCARD / WZ ranges */
	unsigned int iseg;		/* current range */
	struct blk_range seg[VHK_BLK_MAX_DWZ_SEG];
	struct blk_req *next_free;
};

struct blk_queue {
	struct vhk_blk *blk;
	uint16_t idx;
	bool started;
	struct vhk_dev_queue *dq;	/* the framework's queue context */
	struct vhk_vq *vq;
	struct io_uring ring;
	bool fixed_files;		/* fd, fd_buf registered as 0, 1 */
	int efd;
	struct blk_req *reqs;
	unsigned int nreqs;
	struct blk_req *free;
	unsigned int inflight;		/* requests with an SQE outstanding */
	unsigned int unsubmitted;	/* SQEs prepared, not yet submitted */
	unsigned int pushed;		/* pushed since the last complete */
	bool starved;			/* stopped popping for lack of slots */
	struct vhk_ratelimit rl;	/* per queue: queues may run in parallel */
	char name[64];
};

struct vhk_blk {
	int fd;				/* O_DIRECT when direct */
	int fd_buf;			/* buffered (== fd when not direct) */
	bool direct;
	bool nowait;			/* fds O_NONBLOCK: blk_nowait.c */
	bool blockdev;
	bool read_only;
	/* Learnt by any queue's completion path: atomic (queue workers). */
	_Atomic bool no_punch;		/* PUNCH_HOLE not supported */
	_Atomic bool no_zero_range;	/* ZERO_RANGE not supported */
	bool writethrough;		/* CONFIG_WCE writeback = 0 */
	uint64_t capacity;		/* sectors */
	uint16_t num_queues;
	uint16_t queue_depth;
	unsigned int sqpoll_idle_ms;	/* 0: no SQPOLL */
	unsigned int max_iov;
	uint32_t blk_size;
	char serial[VHK_BLK_ID_BYTES];
	size_t serial_len;
	uint64_t acked;
	struct vhk_blk_config cfg;
	struct blk_queue *queues;	/* num_queues */
	void *zero_buf;			/* BLK_ZERO_CHUNK aligned zero bytes */
	struct iovec *zero_iov;		/* BLK_ZERO_IOV pointing at zero_buf */
	struct vhk_ratelimit rl;
	/* Memory-mapped mode (blk_mmap.c); map == NULL: io_uring mode. */
	uint8_t *map;
	size_t map_len;			/* capacity in bytes */
	bool map_sync;			/* backing store: flush writes back */
	_Atomic bool map_lost;		/* SIGBUS seen: io_uring from now on */
	struct vhk_mem_fault map_fault;
	_Atomic uint64_t map_syncs;	/* writebacks waited for (tests) */
};

#define BLK_DEFAULT_MAX_DEPTH	1024	/* in flight per queue by default */
#define BLK_ZERO_CHUNK	(64u * 1024)
#define BLK_ZERO_IOV	16		/* one write of 1 MiB at most */

/* blk_nowait.c: how io_uring issues reads and writes. */

/** vhk_blk_in_memory_fs - @fd's file lives in tmpfs, ramfs or hugetlbfs. */
bool vhk_blk_in_memory_fs(int fd);

/**
 * vhk_blk_nowait_open - make the disk's fds O_NONBLOCK for @mode (on:
 * always, or fail with -errno; auto: when the file lives in memory; off:
 * never) and record it in blk->nowait.  After open_disk(), before
 * vhk_blk_mmap_open().
 */
int vhk_blk_nowait_open(struct vhk_blk *blk, enum vhk_blk_nowait mode);

/* blk_mmap.c: the memory-mapped mode. */

/**
 * vhk_blk_mmap_open - map the disk for @mode (on: or fail with -errno;
 * auto: when it lives in tmpfs / hugetlbfs / ramfs, else stay with
 * io_uring; off: nothing).  After vhk_blk_open()'s size checks.
 */
int vhk_blk_mmap_open(struct vhk_blk *blk, enum vhk_blk_mmap mode);

/** vhk_blk_mmap_close - unmap (idempotent). */
void vhk_blk_mmap_close(struct vhk_blk *blk);

/**
 * vhk_blk_mmap_rw - copy @n segments @data from (@write) or to the disk at
 * byte @off; the caller checked off + length against the capacity.  false
 * if the mapping lost its file (SIGBUS): the data is not on the disk, the
 * request fails, and the device no longer uses the mapping.
 */
bool vhk_blk_mmap_rw(struct vhk_blk *blk, struct iovec *data,
		     unsigned int n, uint64_t off, bool write);

/* blk_req.c: the per-queue request engine. */

/**
 * vhk_blk_queue_init - set up queue @q (io_uring, eventfd, request slots)
 * for the started queue @dq.  Returns 0 or -errno.
 */
int vhk_blk_queue_init(struct vhk_blk *blk, struct blk_queue *q,
		       struct vhk_dev_queue *dq);

/**
 * vhk_blk_queue_fini - wait for every in-flight request of @q, complete
 * them, and release the queue's resources.
 */
void vhk_blk_queue_fini(struct blk_queue *q);

/**
 * vhk_blk_queue_chain - handle_chain(): parse @c into a free request slot
 * and start it.  VHK_CHAIN_BUSY when every slot is in flight.
 */
int vhk_blk_queue_chain(struct blk_queue *q, struct vhk_chain *c);

/** vhk_blk_queue_batch_end - batch_end(): submit the batch's SQEs. */
void vhk_blk_queue_batch_end(struct blk_queue *q);

/**
 * vhk_blk_queue_reap - handle every completion io_uring has posted, push
 * the finished chains and complete them through the host.  With @wait,
 * first wait until nothing is in flight.  Returns chains pushed.
 */
unsigned int vhk_blk_queue_reap(struct blk_queue *q, bool wait);

/**
 * vhk_blk_queue_poll - queue_poll(): reap the completions io_uring has
 * posted, if any, without a system call when there are none.  Returns
 * chains pushed.
 */
int vhk_blk_queue_poll(struct blk_queue *q);

#endif /* VHK_DEV_BLK_INTERNAL_H */
