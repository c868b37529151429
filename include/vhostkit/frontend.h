/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/frontend.h - the userspace-driver runtime (VMM + guest roles in
 * one process).
 *
 * One struct vhk_fe is one device driven from user space.  It sits on the
 * protocol client (vu_client.h), which speaks vhost-user; the runtime
 * plays the VMM's platform and the guest kernel: it owns its shared
 * ("guest") memory (one memfd), chooses the driver's features, lays out
 * the rings, creates the eventfds, and offers a small DMA API to the
 * userspace driver that uses the queues.  A VMM that owns its guest
 * memory, rings and eventfds uses vu_client.h directly instead.
 *
 * Two facts are kept apart (docs/translation-model.md):
 *  - the "guest" (driver) acks ACCESS_PLATFORM: it must use the DMA API
 *    (cfg.access_platform);
 *  - this front-end provides a device IOTLB for the device (cfg.iotlb).
 * ACCESS_PLATFORM reaches the back-end only for the second.
 *
 * The DMA mode is decided once, in vhk_fe_start(), from negotiated bits
 * only (docs/frontend.md, "The three DMA modes"):
 *  - VHK_DMA_DIRECT: the driver did not ack ACCESS_PLATFORM.  Device
 *    addresses are GPAs of the shared memfd; ring addresses are UVAs.
 *  - VHK_DMA_IOMMU: the driver acked ACCESS_PLATFORM and ACCESS_PLATFORM
 *    was negotiated with the back-end (an IOTLB is provided).  Device
 *    addresses are IOVAs from an allocator whose space is distinct from
 *    GPA space; the front-end sends IOTLB UPDATE/INVALIDATE and answers
 *    MISS messages.  Rings are mapped too (ring addresses are IOVAs).
 *  - VHK_DMA_BOUNCE: the driver acked ACCESS_PLATFORM but the back-end did
 *    not get it (no IOTLB): restricted DMA, like a pKVM guest's swiotlb.
 *    The memory table holds only a small pool (rings + bounce slots);
 *    buffers from vhk_fe_alloc() are private and are copied through the
 *    pool by vhk_fe_dma_map()/vhk_fe_dma_unmap().
 * ORDER_PLATFORM negotiated with the driver selects hardware barriers in
 * the driver rings.
 *
 * Thread safety: one mutex serialises every message on the main socket and
 * the mapping bookkeeping, so vhk_fe_alloc()/free(), vhk_fe_dma_map()/
 * unmap() and the back-end channel reader (vhk_fe_poll(), vhk_fe_wait(),
 * or the optional miss thread, cfg.miss_thread) may run concurrently.
 * Only one channel reader at a time: with the miss thread on, do not call
 * vhk_fe_poll() (vhk_fe_wait() then leaves the channel alone).  Queues
 * (vhk_fe_queue()) follow drv_ring.h: one thread per queue.  Lifecycle
 * calls (start, reset, reconnect, stop, close) must not race with anything
 * else on the same struct vhk_fe.
 *
 * Errors are negative errno values.  A lost connection is reported as
 * -ECONNRESET (or -EPIPE); vhk_fe_reconnect() then restores the device.
 */
#ifndef VHOSTKIT_FRONTEND_H
#define VHOSTKIT_FRONTEND_H

#include "vhostkit/api.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "vhostkit/vu_client.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_fe;

/*
 * vhk_fe_default_allowlist() and vhk_fe_backend_features(), the VMM
 * negotiation helper, are declared in vu_client.h (included above): they
 * belong to the protocol client and serve this runtime too.
 */

enum vhk_dma_mode {
	VHK_DMA_DIRECT,		/* no ACCESS_PLATFORM: GPAs */
	VHK_DMA_IOMMU,		/* ACCESS_PLATFORM + IOTLB: IOVAs */
	VHK_DMA_BOUNCE,		/* ACCESS_PLATFORM, no IOTLB: shared pool */
};

/**
 * vhk_fe_dma_mode_from - the DMA mode the negotiated words imply:
 * @driver_features (acked by the driver), @backend_features (sent to the
 * back-end in SET_FEATURES) and @protocol_features (acked).
 *  - no ACCESS_PLATFORM from the driver: direct;
 *  - ACCESS_PLATFORM to the back-end and BACKEND_REQ acked (the channel
 *    this front-end answers misses on): iommu;
 *  - otherwise bounce.  (A naive policy that forwards ACCESS_PLATFORM
 *    without an IOTLB also lands here: the back-end then faults - the
 *    crosvm bug, reproduced by test_crosvm_naive_fails in tests/pair/fe_blk.c.)
 * Pure function; vhk_fe_start() uses it.
 */
VHK_API
enum vhk_dma_mode vhk_fe_dma_mode_from(uint64_t driver_features,
				       uint64_t backend_features,
				       uint64_t protocol_features);

/** vhk_fe_dma_mode_name - "direct", "iommu" or "bounce". */
VHK_API
const char *vhk_fe_dma_mode_name(enum vhk_dma_mode mode);

enum vhk_iommu_flush {
	VHK_IOMMU_STRICT,	/* one mapping per dma_map, invalidated at unmap */
	VHK_IOMMU_LAZY,		/* long-lived per-allocation mappings */
};

struct vhk_fe_config {
	const char *socket_path;
	const char *name;		/* log prefix; NULL = "fe" */
	unsigned int connect_timeout_ms; /* retry connect(); 0 = 5000 */
	unsigned int reply_timeout_ms;	/* a reply that takes longer marks
					 * the connection lost; 0 = 10000 */
	/*
	 * Device + transport bits the driver wants (it acks those the
	 * back-end offers, within @allowlist).  ACCESS_PLATFORM here is
	 * the same as @access_platform = true.
	 */
	uint64_t driver_features;
	uint64_t allowlist;		/* 0 = vhk_fe_default_allowlist() */
	/*
	 * The VMM negotiation policy; NULL = vhk_fe_backend_features().
	 * Tests plug a naive intersection here to reproduce the crosvm bug.
	 */
	uint64_t (*negotiate)(uint64_t guest_acked, uint64_t backend_offered,
			      uint64_t allowlist, bool iotlb_provided);
	bool access_platform;		/* the "guest" acks ACCESS_PLATFORM */
	bool iotlb;			/* this front-end provides an IOTLB */
	enum vhk_iommu_flush flush;	/* iommu mode: strict or lazy */
	bool want_persist;		/* ack IOTLB_PERSIST when offered */
	bool miss_thread;		/* serve the back-end channel in a thread */
	uint16_t num_queues;		/* capped by GET_QUEUE_NUM; 0 = 1 */
	/*
	 * Queues the device type always has (vsock: rx, tx, event = 3),
	 * the cap when the back-end does not offer PROTOCOL_F_MQ (a VMM
	 * knows them from the device type); 0 = 1, as for blk and net.
	 */
	uint16_t type_queues;
	bool queue_num_pairs;		/* GET_QUEUE_NUM counts pairs (net) */
	uint16_t queue_size;		/* 0 = 128 */
	bool packed;			/* want RING_PACKED (if offered) */
	size_t mem_size;		/* direct/iommu shared memory; 0 = 16 MiB */
	size_t bounce_pool_size;	/* bounce pool; 0 = 2 MiB */
};

/**
 * vhk_fe_config_init - fill @cfg with defaults for @socket_path:
 * want_persist true, flush lazy, one queue of 128, default sizes, every
 * other field zero.  Callers then set driver_features etc.
 */
VHK_API
void vhk_fe_config_init(struct vhk_fe_config *cfg, const char *socket_path);

/**
 * vhk_fe_config_set_dma - ask for DMA mode @mode in @cfg:
 * VHK_DMA_DIRECT clears access_platform and iotlb; VHK_DMA_BOUNCE sets
 * access_platform without an IOTLB (the bounce pool); VHK_DMA_IOMMU sets
 * both, with mappings per @flush (@flush is left alone for the other
 * two).  The back-end's offer decides what is granted: compare with
 * vhk_fe_dma_mode() after vhk_fe_start().
 */
VHK_API
void vhk_fe_config_set_dma(struct vhk_fe_config *cfg, enum vhk_dma_mode mode,
			   enum vhk_iommu_flush flush);

/**
 * vhk_fe_connect - connect to the back-end listening on cfg->socket_path,
 * retrying until cfg->connect_timeout_ms, then GET_FEATURES,
 * GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, BACKEND_REQ,
 * CONFIG, RESET_DEVICE, STATUS, INFLIGHT_SHMFD, and IOTLB_PERSIST when
 * offered and cfg->want_persist), SET_OWNER, GET_QUEUE_NUM.  @cfg is copied
 * (socket_path and name too).
 * Returns 0 and *@out, -ETIMEDOUT if nobody listened in time, -EPROTO on a
 * malformed reply, or another -errno.
 */
VHK_API
int vhk_fe_connect(struct vhk_fe **out, const struct vhk_fe_config *cfg);

/**
 * vhk_fe_start - negotiate (vhk_fe_backend_features()), create and share
 * memory, SET_BACKEND_REQ_FD (iommu), SET_FEATURES (+ FEATURES_OK check
 * when STATUS was acked), SET_MEM_TABLE, map the rings (iommu: IOTLB
 * UPDATE), GET/SET_INFLIGHT_FD (when INFLIGHT_SHMFD was acked), per queue
 * SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_CALL,
 * SET_VRING_KICK, SET_VRING_ENABLE, and SET_STATUS (DRIVER_OK) when
 * STATUS was acked.  Every message that
 * supports REPLY_ACK is sent with NEED_REPLY and its reply checked.
 * Returns 0; -ENOTSUP if the back-end lacks what the driver requires
 * (VERSION_1 asked but not offered, packed asked but not offered is NOT an
 * error: split is used); -EPROTO / -ECONNRESET / other -errno.
 */
VHK_API
int vhk_fe_start(struct vhk_fe *fe);

/** vhk_fe_dma_mode - the mode chosen by vhk_fe_start(). */
VHK_API
enum vhk_dma_mode vhk_fe_dma_mode(const struct vhk_fe *fe);

/** vhk_fe_features - the word sent to the back-end in SET_FEATURES. */
VHK_API
uint64_t vhk_fe_features(const struct vhk_fe *fe);

/**
 * vhk_fe_driver_features - the word the driver negotiated (what a guest
 * would see: may hold ACCESS_PLATFORM, never PROTOCOL_FEATURES).  Use this
 * to test device bits (e.g. VHK_BLK_F_FLUSH).
 */
VHK_API
uint64_t vhk_fe_driver_features(const struct vhk_fe *fe);

/** vhk_fe_backend_offered - GET_FEATURES of the back-end. */
VHK_API
uint64_t vhk_fe_backend_offered(const struct vhk_fe *fe);

/** vhk_fe_protocol_features - protocol features acked (SET_PROTOCOL_FEATURES). */
VHK_API
uint64_t vhk_fe_protocol_features(const struct vhk_fe *fe);

/** vhk_fe_max_queues - GET_QUEUE_NUM (cfg.type_queues or 1 without MQ). */
VHK_API
uint16_t vhk_fe_max_queues(const struct vhk_fe *fe);

/** vhk_fe_num_queues - queues set up by vhk_fe_start(). */
VHK_API
uint16_t vhk_fe_num_queues(const struct vhk_fe *fe);

/**
 * vhk_fe_get_config - GET_CONFIG @len bytes at @off of the device config
 * space into @buf.  Needs the CONFIG protocol feature (-ENOTSUP).
 * Returns 0, -EINVAL (@off + @len > VHK_VU_CONFIG_MAX), -EIO if the
 * back-end answered with an empty/short reply, or -errno.
 */
VHK_API
int vhk_fe_get_config(struct vhk_fe *fe, uint32_t off, void *buf,
		      uint32_t len);

/** vhk_fe_set_config - SET_CONFIG, as vhk_fe_get_config(). */
VHK_API
int vhk_fe_set_config(struct vhk_fe *fe, uint32_t off, const void *buf,
		      uint32_t len);

/**
 * vhk_fe_queue - driver ring of queue @idx (NULL if out of range or not
 * started).  Valid until vhk_fe_reset() or vhk_fe_close(); survives
 * vhk_fe_reconnect().
 */
VHK_API
struct vhk_drv_vq *vhk_fe_queue(struct vhk_fe *fe, uint16_t idx);

/** vhk_fe_kick - write queue @idx's kick eventfd.  0 or -errno. */
VHK_API
int vhk_fe_kick(struct vhk_fe *fe, uint16_t idx);

/**
 * vhk_fe_call_fd - queue @idx's call eventfd (non-blocking; poll it, read
 * 8 bytes to clear), or -EINVAL.
 */
VHK_API
int vhk_fe_call_fd(struct vhk_fe *fe, uint16_t idx);

/**
 * vhk_fe_wait - wait up to @timeout_ms (-1 = forever) for queue @idx's call
 * eventfd, serving the back-end channel meanwhile (unless the miss thread
 * does).  Clears the eventfd.  Returns 1 if a call arrived, 0 on timeout,
 * or -errno (-ECONNRESET: the back-end went away).
 */
VHK_API
int vhk_fe_wait(struct vhk_fe *fe, uint16_t idx, int timeout_ms);

/**
 * vhk_fe_backend_channel_fd - the front-end end of the back-end channel
 * (SET_BACKEND_REQ_FD), for an external event loop, or -1 if none.
 */
VHK_API
int vhk_fe_backend_channel_fd(const struct vhk_fe *fe);

/**
 * vhk_fe_poll - wait up to @timeout_ms (0 = no wait, -1 = forever) for a
 * back-end channel message, then serve every pending one: IOTLB MISS is
 * answered with UPDATE on the main socket when the IOVA is mapped with the
 * permission asked (acked on the channel first when NEED_REPLY); other
 * requests are acked.  Returns the number of messages served, or -errno.
 */
VHK_API
int vhk_fe_poll(struct vhk_fe *fe, int timeout_ms);

/*
 * DMA API (like dma_map_single).  Valid between vhk_fe_start() and
 * vhk_fe_close().
 */

/**
 * vhk_fe_alloc - @len bytes (64-byte aligned) the driver may use for I/O:
 * inside shared memory in direct/iommu mode, private memory in bounce mode
 * (never shared).  Returns NULL when out of memory.
 */
VHK_API
void *vhk_fe_alloc(struct vhk_fe *fe, size_t len);

/**
 * vhk_fe_free - release @p from vhk_fe_alloc().  In lazy iommu mode the
 * allocation's long-lived mapping is invalidated here.  NULL is a no-op.
 */
VHK_API
void vhk_fe_free(struct vhk_fe *fe, void *p);

enum vhk_dma_dir {
	VHK_DMA_TO_DEVICE = 1,		/* device reads */
	VHK_DMA_FROM_DEVICE = 2,	/* device writes */
	VHK_DMA_BIDIR = 3,
};

/**
 * vhk_fe_dma_map - make [@host, @host+@len) visible to the device; the
 * address to put in descriptors goes to *@dev_addr.
 *  direct: the GPA (@host must come from vhk_fe_alloc());
 *  iommu strict: a fresh IOVA range, UPDATE sent (NEED_REPLY) before return;
 *  iommu lazy: the allocation's long-lived mapping, sent on first use;
 *  bounce: a pool slot; TO_DEVICE data is copied in now (fill first).
 * Returns 0, -EINVAL (@len 0, @host not from vhk_fe_alloc() where
 * required), -ENOMEM (IOVA space or bounce pool exhausted), or the -errno
 * of the UPDATE.
 */
VHK_API
int vhk_fe_dma_map(struct vhk_fe *fe, void *host, size_t len,
		   enum vhk_dma_dir dir, uint64_t *dev_addr);

/**
 * vhk_fe_dma_unmap - end a mapping made by vhk_fe_dma_map() with the same
 * @host, @len, @dir and *dev_addr.  strict: INVALIDATE sent (NEED_REPLY);
 * lazy/direct: nothing sent; bounce: FROM_DEVICE data copied back to
 * @host, slot freed.  Returns 0, -ENOENT (no such mapping) or -errno.
 */
VHK_API
int vhk_fe_dma_unmap(struct vhk_fe *fe, void *host, size_t len,
		     enum vhk_dma_dir dir, uint64_t dev_addr);

/**
 * vhk_fe_stop - GET_VRING_BASE on every queue (the back-end stops them)
 * and remember the bases.  Returns 0 or the first -errno.
 */
VHK_API
int vhk_fe_stop(struct vhk_fe *fe);

/**
 * vhk_fe_vring_base - base returned by GET_VRING_BASE for queue @idx at
 * the last vhk_fe_stop(), or -EINVAL.
 */
VHK_API
int vhk_fe_vring_base(const struct vhk_fe *fe, uint16_t idx);

/**
 * vhk_fe_reset - device reset: RESET_DEVICE (or SET_STATUS 0, or
 * RESET_OWNER), then set the device up again with fresh rings (the old
 * vhk_drv_vq pointers are freed; in-flight buffers are dropped; their DMA
 * mappings stay until the driver unmaps them).  IOTLB: with IOTLB_PERSIST
 * acked the back-end keeps its mappings and no UPDATE is re-sent; without
 * it every long-lived mapping (rings, lazy mappings, open strict ones) is
 * sent again.  Returns 0 or -errno.
 */
VHK_API
int vhk_fe_reset(struct vhk_fe *fe);

/**
 * vhk_fe_reconnect - after the back-end restarted: close the old socket,
 * connect again (retrying up to connect_timeout_ms), renegotiate the same
 * features, re-send the same memory table and inflight fd, re-send every
 * IOTLB mapping, and restore each split queue at base = its used index so
 * that the back-end resubmits in-flight requests from the inflight region
 * (the QEMU convention).  Queues and their in-flight tokens are kept.
 * Packed rings resume from the inflight region alone (nothing in guest
 * memory records a packed device's positions).
 * Returns 0, -ENOTSUP (packed ring and the back-end gave no inflight
 * region; the restarted back-end lacks a feature in use), or -errno.
 */
VHK_API
int vhk_fe_reconnect(struct vhk_fe *fe);

/** vhk_fe_connected - false after the connection was seen to break. */
VHK_API
bool vhk_fe_connected(const struct vhk_fe *fe);

struct vhk_fe_stats {
	uint64_t iotlb_updates_sent;	/* UPDATE messages on the main socket */
	uint64_t iotlb_invalidates_sent;
	uint64_t misses_served;		/* MISS answered with an UPDATE */
	uint64_t misses_unmapped;	/* MISS for an IOVA not mapped */
	uint64_t bounce_bytes_in;	/* copied into the pool (TO_DEVICE) */
	uint64_t bounce_bytes_out;	/* copied back (FROM_DEVICE) */
	uint64_t resets;
	uint64_t reconnects;
};

/** vhk_fe_stats - counters since vhk_fe_connect(). */
VHK_API
void vhk_fe_stats(const struct vhk_fe *fe, struct vhk_fe_stats *st);

/**
 * vhk_fe_client - the protocol client under @fe (for what the runtime does
 * not wrap, e.g. vhk_vuc_stats()).  Do not change its memory table, rings
 * or features behind the runtime's back.
 */
VHK_API
struct vhk_vuc *vhk_fe_client(struct vhk_fe *fe);

/**
 * vhk_fe_close - stop the queues (if connected), stop the miss thread,
 * close every fd, unmap memory, free @fe.  NULL is a no-op.
 */
VHK_API
void vhk_fe_close(struct vhk_fe *fe);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_FRONTEND_H */
