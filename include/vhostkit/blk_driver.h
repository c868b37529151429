/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/blk_driver.h - a userspace virtio-blk driver over the front-end
 * library (vhostkit/frontend.h).
 *
 * The driver plays the role of a guest's virtio_blk: it builds requests
 * (header, data, status byte, VIRTIO 1.2 5.2.6), places them on the
 * front-end's driver-side queues (vhostkit/drv_ring.h), and collects
 * completions by polling the used ring or by waiting on the call eventfd.
 * Every byte the device sees - request header, discard ranges, data and
 * status - goes through the front-end's DMA API (vhk_fe_dma_map/unmap), so
 * the direct, IOMMU (strict or lazy) and bounce modes are transparent here.
 *
 * Nothing the device writes back is trusted: an unknown status value, a
 * status byte the device did not write, or a used length that does not
 * cover the status byte completes the request with -EPROTO.
 *
 * Not thread-safe: one thread drives one driver (all its queues).
 */
#ifndef VHOSTKIT_BLK_DRIVER_H
#define VHOSTKIT_BLK_DRIVER_H

#include "vhostkit/api.h"
#include "vhostkit/virtio_blk.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_fe;
struct vhk_blk_drv;

/* Request types: the wire values of vhostkit/virtio_blk.h. */
enum vhk_blk_op {
	VHK_BLK_OP_READ = VHK_BLK_T_IN,
	VHK_BLK_OP_WRITE = VHK_BLK_T_OUT,
	VHK_BLK_OP_FLUSH = VHK_BLK_T_FLUSH,
	VHK_BLK_OP_GET_ID = VHK_BLK_T_GET_ID,
	VHK_BLK_OP_DISCARD = VHK_BLK_T_DISCARD,
	VHK_BLK_OP_WRITE_ZEROES = VHK_BLK_T_WRITE_ZEROES,
};

/* The blk configuration space, decoded and checked against the features. */
struct vhk_blk_info {
	uint64_t capacity;		/* 512-byte sectors */
	uint32_t size_max;		/* 0: no limit (SIZE_MAX not offered) */
	uint32_t seg_max;		/* 0: no limit (SEG_MAX not offered) */
	uint32_t blk_size;		/* 512 unless BLK_SIZE */
	uint16_t cylinders;		/* GEOMETRY, else 0 */
	uint8_t heads, sectors;
	uint8_t physical_block_exp, alignment_offset;	/* TOPOLOGY */
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;		/* CONFIG_WCE */
	uint16_t num_queues;		/* 1 unless MQ */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	bool ro, flush, discard, write_zeroes;
};

/**
 * vhk_blk_config_parse - decode @len bytes of blk configuration space in
 * @buf (offset 0) under device features @features into @info.  Fields
 * whose feature is not offered, or that lie beyond @len, take their
 * defaults.  Returns 0, or -EINVAL if @len < 8 (no capacity) or a value
 * the spec forbids (MQ with num_queues 0, BLK_SIZE not a power of two >=
 * 512, SEG_MAX 0).
 */
VHK_API
int vhk_blk_config_parse(const void *buf, size_t len, uint64_t features,
			 struct vhk_blk_info *info);

/**
 * vhk_blk_op_name - "read", "write", "flush", "get-id", "discard",
 * "write-zeroes" or "unknown".
 */
VHK_API
const char *vhk_blk_op_name(enum vhk_blk_op op);

/**
 * vhk_blk_drv_features - the virtio feature bits this driver asks for
 * (VERSION_1, the blk bits it uses, EVENT_IDX, INDIRECT_DESC), plus
 * RING_PACKED when @packed.  The front-end intersects them with the offer.
 */
VHK_API
uint64_t vhk_blk_drv_features(bool packed);

/*
 * One request.  The caller owns it until it completes; fill the inputs,
 * submit, read the outputs after it comes back from vhk_blk_drv_reap().
 */
struct vhk_blk_req {
	/* inputs */
	enum vhk_blk_op op;
	uint64_t sector;	/* READ/WRITE/DISCARD/WRITE_ZEROES start */
	/*
	 * READ/WRITE: data, GET_ID: 20-byte answer.  Must come from
	 * vhk_fe_alloc() on the driver's front-end (the DMA API maps or
	 * bounces it).  Unused for FLUSH/DISCARD/WRITE_ZEROES.
	 */
	void *buf;
	uint32_t len;		/* READ/WRITE: bytes, a multiple of 512 */
	uint32_t num_sectors;	/* DISCARD/WRITE_ZEROES */
	uint32_t flags;		/* WRITE_ZEROES: VHK_BLK_WZ_FLAG_UNMAP */
	void *priv;		/* caller's */
	/* outputs */
	int result;		/* 0, -EIO, -EOPNOTSUPP, -EPROTO */
	uint8_t status;		/* raw status byte (0xff: not written) */
	uint32_t used_len;	/* what the device reported */
	uint16_t queue;
	uint64_t submit_ns, complete_ns;	/* vhk_now_ns() */
};

struct vhk_blk_drv_params {
	/*
	 * Requests in flight per queue; 0 = as many as the ring holds (its
	 * size with indirect tables, a third of it without).
	 */
	unsigned int queue_depth;
	/* Wait for completions on the call eventfd (else: busy polling). */
	bool use_call_fd;
	/* Queues to drive; 0 = all the device and front-end offer. */
	uint16_t num_queues;
};

/**
 * vhk_blk_drv_new - a blk driver on @fe, which must be started
 * (vhk_fe_start()) with vhk_blk_drv_features() in its driver features.
 * Reads and checks the configuration space, allocates per-request DMA
 * memory (header, range, status) through vhk_fe_alloc().
 * Returns 0 and *@out; -ENODEV if the device has no capacity field or
 * VERSION_1 was not negotiated; -EINVAL for bad @p; -ENOMEM; or the
 * front-end's error.  The driver does not own @fe.
 */
VHK_API
int vhk_blk_drv_new(struct vhk_blk_drv **out, struct vhk_fe *fe,
		    const struct vhk_blk_drv_params *p);

/**
 * vhk_blk_drv_free - release the per-request DMA memory and bookkeeping.
 * Requests still in flight are abandoned (their DMA mappings are not
 * unmapped: the device may still write them).  NULL is a no-op.
 */
VHK_API
void vhk_blk_drv_free(struct vhk_blk_drv *d);

/** vhk_blk_drv_info - the decoded configuration space. */
VHK_API
const struct vhk_blk_info *vhk_blk_drv_info(const struct vhk_blk_drv *d);

/** vhk_blk_drv_num_queues - queues this driver drives. */
VHK_API
uint16_t vhk_blk_drv_num_queues(const struct vhk_blk_drv *d);

/** vhk_blk_drv_queue_depth - requests in flight allowed per queue. */
VHK_API
unsigned int vhk_blk_drv_queue_depth(const struct vhk_blk_drv *d);

/** vhk_blk_drv_inflight - requests submitted on @q and not yet reaped. */
VHK_API
unsigned int vhk_blk_drv_inflight(const struct vhk_blk_drv *d, uint16_t q);

/**
 * vhk_blk_drv_submit - map @req's buffers and place it on queue @q; not
 * visible to the device until vhk_blk_drv_kick().
 * Returns 0; -EBUSY if @q has queue_depth requests in flight or the ring
 * is full (reap first); -EINVAL for a malformed request (length not a
 * multiple of 512, beyond capacity, more segments than seg_max allows at
 * size_max, bad flags); -EOPNOTSUPP for FLUSH/DISCARD/WRITE_ZEROES not
 * negotiated; -EROFS for a write on a read-only device; -EIO on a queue
 * the device broke; or the DMA API's error (nothing stays mapped on
 * failure).
 */
VHK_API
int vhk_blk_drv_submit(struct vhk_blk_drv *d, uint16_t q,
		       struct vhk_blk_req *req);

/**
 * vhk_blk_drv_kick - publish what was submitted on @q and notify the
 * device if it asked for it.  Returns 0 or the front-end's error.
 */
VHK_API
int vhk_blk_drv_kick(struct vhk_blk_drv *d, uint16_t q);

/**
 * vhk_blk_drv_reap - collect up to @max completed requests of @q into
 * @done without blocking; each is unmapped and its result set.
 * Returns how many (>= 0), or -EPROTO if the device corrupted the used
 * ring (the queue is then unusable: reset the device).
 */
VHK_API
int vhk_blk_drv_reap(struct vhk_blk_drv *d, uint16_t q,
		     struct vhk_blk_req **done, unsigned int max);

/**
 * vhk_blk_drv_wait - block up to @timeout_ms (-1: forever) until @q may
 * have completions: on the call eventfd when use_call_fd, else by polling
 * the used ring.  Serves the front-end's back-end channel (IOTLB misses)
 * meanwhile.  Returns 1 if completions may be ready, 0 on timeout or at
 * once when nothing is in flight on @q, or a negative errno (-ECONNRESET
 * if the back-end went away).  Serving the back-end channel here assumes
 * the front-end runs no miss thread (cfg.miss_thread false).
 */
VHK_API
int vhk_blk_drv_wait(struct vhk_blk_drv *d, uint16_t q, int timeout_ms);

/**
 * vhk_blk_drv_wait_any - as vhk_blk_drv_wait() for every queue that has
 * requests in flight at once (one poll() over their call eventfds and the
 * back-end channel).  Returns 1 if some queue may have completions, 0 on
 * timeout or when nothing is in flight, or a negative errno.
 */
VHK_API
int vhk_blk_drv_wait_any(struct vhk_blk_drv *d, int timeout_ms);

/**
 * vhk_blk_drv_run - submit @req on @q, kick, and wait (up to @timeout_ms
 * in total) until it completes; other completions reaped meanwhile are
 * dropped, so use it only on an otherwise idle queue.
 * Returns @req->result, -ETIMEDOUT, or a submit/wait error.
 */
VHK_API
int vhk_blk_drv_run(struct vhk_blk_drv *d, uint16_t q, struct vhk_blk_req *req,
		    int timeout_ms);

/**
 * vhk_blk_drv_resync - after the front-end reconnected to a restarted
 * back-end (vhk_fe_reconnect()): drop the driver's cached notification
 * state for every queue so that the next kick is always sent.  Requests in
 * flight stay in flight (the back-end resubmits them from the inflight
 * region).  Returns 0.
 */
VHK_API
int vhk_blk_drv_resync(struct vhk_blk_drv *d);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_BLK_DRIVER_H */
