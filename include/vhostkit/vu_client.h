/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/vu_client.h - the vhost-user protocol client (the VMM side of
 * the socket), on its own.
 *
 * One struct vhk_vuc is one connection to a vhost-user back-end.  It sends
 * the message sequence a VMM sends and remembers what it sent, so that a
 * device reset or a back-end restart can be replayed.  It owns no guest
 * memory, no ring and no eventfd: the caller (a VMM) passes
 *  - guest memory regions: fd + offset, GPA, host address, size; several
 *    of them, added and removed while the device runs (ADD_MEM_REG /
 *    REM_MEM_REG when the back-end offers CONFIGURE_MEM_SLOTS, else the
 *    whole table is sent again);
 *  - ring addresses it chose: device addresses, i.e. GPAs, or IOVAs once
 *    ACCESS_PLATFORM is negotiated (the client turns GPAs into the
 *    front-end virtual addresses SET_VRING_ADDR carries);
 *  - kick and call eventfds (a VMM's ioeventfd / irqfd).
 * The caller keeps every fd and every region mapping alive while the
 * client uses it (until it is removed, or vhk_vuc_close()); the client
 * never closes them.
 *
 * It also is the IOTLB provider: vhk_vuc_iotlb_map()/unmap() send UPDATE /
 * INVALIDATE (NEED_REPLY: the back-end has the entry when they return),
 * the mappings are remembered, and an IOTLB MISS on the back-end channel
 * is answered from them (vhk_vuc_poll(), or a thread).
 *
 * The userspace-driver runtime (frontend.h: its own memfd, DMA modes,
 * bounce pool) is built on this client; a VMM uses the client directly.
 * docs/frontend.md shows the calls a VMM makes.
 *
 * Host address = the "user address" of the vhost-user spec: the client
 * sends the caller's host addresses as userspace_addr, as QEMU does.
 *
 * Thread safety: one mutex serialises the main socket and the mapping
 * table, so iotlb_map/unmap and the back-end channel reader (vhk_vuc_poll()
 * or the miss thread, never both) may run concurrently with each other.
 * Everything else (memory, rings, status, reset, reconnect, close) must
 * not race with other calls on the same client.
 *
 * Errors are negative errno values.  A lost connection is -ECONNRESET (or
 * -EPIPE); vhk_vuc_connected() then turns false and vhk_vuc_reconnect()
 * replays the device on a new back-end process.
 */
#ifndef VHOSTKIT_VU_CLIENT_H
#define VHOSTKIT_VU_CLIENT_H

#include "vhostkit/api.h"
#include <stdbool.h>
#include <stdint.h>
#include "vhostkit/translation.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_vuc;

/**
 * vhk_fe_default_allowlist - the virtio feature bits this front-end knows
 * how to forward: device bits 0-23 and the transport bits INDIRECT_DESC,
 * EVENT_IDX, VERSION_1, ACCESS_PLATFORM, RING_PACKED, IN_ORDER and
 * ORDER_PLATFORM.  PROTOCOL_FEATURES (30) is not in it (handled apart).
 */
VHK_API
uint64_t vhk_fe_default_allowlist(void);

/**
 * vhk_fe_backend_features - the VMM negotiation helper (docs/frontend.md,
 * "The negotiation rule"): the word to pass to vhk_vuc_set_features().
 * @guest_acked:     features the guest (driver) acked
 * @backend_offered: GET_FEATURES of the back-end
 * @allowlist:       bits this VMM knows how to forward
 * @iotlb_provided:  this VMM really drives a device IOTLB for the device
 *
 * Returns guest_acked & backend_offered & allowlist, with ACCESS_PLATFORM
 * kept only when @iotlb_provided (else masked: the guest may still have
 * been told ACCESS_PLATFORM, but a back-end seeing it would switch on an
 * IOTLB nobody fills - the crosvm bug, fixed by 4e7d00be2e13).
 * PROTOCOL_FEATURES (30) is never in the result: vhk_vuc_set_features()
 * adds it when the back-end offered it.  Pure function.
 */
VHK_API
uint64_t vhk_fe_backend_features(uint64_t guest_acked, uint64_t backend_offered,
				 uint64_t allowlist, bool iotlb_provided);

struct vhk_vuc_config {
	const char *socket_path;
	const char *name;		 /* log prefix; NULL = "vuc" */
	unsigned int connect_timeout_ms; /* retry connect(); 0 = 5000 */
	unsigned int reply_timeout_ms;	 /* 0 = 10000; longer = lost */
	/*
	 * This VMM provides a device IOTLB: ack BACKEND_REQ (the channel
	 * misses arrive on).  Without it the back-end channel is not set up.
	 */
	bool iotlb;
	bool want_persist;		/* ack IOTLB_PERSIST (63) when offered */
	bool no_mem_slots;		/* never ack CONFIGURE_MEM_SLOTS */
	/*
	 * Queues the device type always has (vsock: 3): the queue count
	 * when the back-end does not offer MQ; 0 = 1 (blk, net).
	 */
	uint16_t type_queues;
	/*
	 * GET_QUEUE_NUM counts queue pairs (virtio-net: QEMU, DPDK and
	 * vhostkit-net answer with max_virtqueue_pairs): the queue count is
	 * twice the answer.
	 */
	bool queue_num_pairs;
};

/** vhk_vuc_config_init - zero @cfg, set @socket_path and want_persist. */
VHK_API
void vhk_vuc_config_init(struct vhk_vuc_config *cfg, const char *socket_path);

/**
 * vhk_vuc_connect - connect (retrying until connect_timeout_ms) and run the
 * owner handshake: GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_
 * FEATURES (MQ, REPLY_ACK, CONFIG, RESET_DEVICE, STATUS, INFLIGHT_SHMFD,
 * CONFIGURE_MEM_SLOTS, and BACKEND_REQ with cfg->iotlb, IOTLB_PERSIST with
 * cfg->want_persist, each when offered), SET_OWNER, GET_QUEUE_NUM (MQ),
 * GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS).  @cfg is copied.
 * Returns 0 and *@out, -ETIMEDOUT (nobody listened), -EPROTO (malformed
 * reply), or -errno.
 */
VHK_API
int vhk_vuc_connect(struct vhk_vuc **out, const struct vhk_vuc_config *cfg);

/**
 * vhk_vuc_close - GET_VRING_BASE on running rings (if connected), stop the
 * miss thread, close the socket, the channel and the inflight fd, free
 * @c.  Caller fds and memory are left alone.  NULL is a no-op.
 */
VHK_API
void vhk_vuc_close(struct vhk_vuc *c);

/** vhk_vuc_backend_offered - GET_FEATURES. */
VHK_API
uint64_t vhk_vuc_backend_offered(const struct vhk_vuc *c);
/** vhk_vuc_protocol_features - protocol features acked. */
VHK_API
uint64_t vhk_vuc_protocol_features(const struct vhk_vuc *c);
/** vhk_vuc_max_queues - GET_QUEUE_NUM, doubled with cfg.queue_num_pairs
 * (without MQ: cfg.type_queues or 1). */
VHK_API
uint16_t vhk_vuc_max_queues(const struct vhk_vuc *c);
/**
 * vhk_vuc_max_regions - regions the back-end takes: GET_MAX_MEM_SLOTS with
 * CONFIGURE_MEM_SLOTS, else 8 (one SET_MEM_TABLE message).
 */
VHK_API
unsigned int vhk_vuc_max_regions(const struct vhk_vuc *c);
/** vhk_vuc_features - the last SET_FEATURES word (0 before). */
VHK_API
uint64_t vhk_vuc_features(const struct vhk_vuc *c);
/** vhk_vuc_connected - false once the connection was seen to break. */
VHK_API
bool vhk_vuc_connected(const struct vhk_vuc *c);

/**
 * vhk_vuc_set_features - SET_FEATURES @features (PROTOCOL_FEATURES is
 * added when the back-end offered it).  Before it, SET_BACKEND_REQ_FD when
 * BACKEND_REQ was acked and no channel exists yet; after it, with STATUS
 * acked, SET_STATUS(ACKNOWLEDGE | DRIVER | FEATURES_OK) and GET_STATUS
 * (VIRTIO 1.2, 3.1.1: FEATURES_OK must stick); then, after a reset without
 * IOTLB_PERSIST, every remembered IOTLB mapping is sent again.
 * Compute @features with vhk_fe_backend_features() (above):
 * ACCESS_PLATFORM only if this VMM fills the IOTLB.
 * Returns 0, -ENOTSUP (bits not offered, or FEATURES_OK refused), -errno.
 */
VHK_API
int vhk_vuc_set_features(struct vhk_vuc *c, uint64_t features);

/**
 * vhk_vuc_set_status - SET_STATUS (needs STATUS acked: -ENOTSUP).  A VMM
 * sets DRIVER_OK (with the bits before it) once its rings are started.
 */
VHK_API
int vhk_vuc_set_status(struct vhk_vuc *c, uint8_t status);
/** vhk_vuc_get_status - GET_STATUS (-ENOTSUP without STATUS). */
VHK_API
int vhk_vuc_get_status(struct vhk_vuc *c, uint8_t *status);

/**
 * vhk_vuc_get_config - GET_CONFIG @len bytes at @off into @buf (CONFIG
 * acked, else -ENOTSUP).  Ask for no more than the device's config space:
 * some back-ends (qemu-storage-daemon) fail on a longer GET_CONFIG.
 * Returns 0, -EINVAL (beyond 256 bytes), -EIO (empty/short reply), -errno.
 */
VHK_API
int vhk_vuc_get_config(struct vhk_vuc *c, uint32_t off, void *buf,
		       uint32_t len);
/** vhk_vuc_set_config - SET_CONFIG, as vhk_vuc_get_config(). */
VHK_API
int vhk_vuc_set_config(struct vhk_vuc *c, uint32_t off, const void *buf,
		       uint32_t len);

/* One region of guest memory, as the caller mapped it. */
struct vhk_vuc_region {
	uint64_t gpa;		/* guest physical address */
	uint64_t size;		/* bytes, > 0 */
	void *host;		/* where the caller mapped it (MAP_SHARED) */
	int fd;			/* memfd / shm fd the back-end maps */
	uint64_t fd_offset;	/* offset of @gpa in @fd */
};

/**
 * vhk_vuc_set_mem_table - replace the memory table by @n regions.  With
 * CONFIGURE_MEM_SLOTS acked and regions already sent, the old ones are
 * removed (REM_MEM_REG) and the new ones added one by one (ADD_MEM_REG);
 * otherwise one SET_MEM_TABLE (at most 8 regions).
 * Returns 0; -EINVAL (size 0, a range that wraps, fd < 0, two regions that
 * overlap in GPA or host space), -ENOSPC (more than vhk_vuc_max_regions()),
 * or the back-end's refusal (-EIO) / -errno.  On an error nothing about the
 * table the back-end holds was changed unless the error came from it.
 */
VHK_API
int vhk_vuc_set_mem_table(struct vhk_vuc *c, const struct vhk_vuc_region *r,
			  unsigned int n);

/**
 * vhk_vuc_add_region - hot-add one region: ADD_MEM_REG with
 * CONFIGURE_MEM_SLOTS acked, else the whole table again (SET_MEM_TABLE).
 * Same errors as vhk_vuc_set_mem_table().
 */
VHK_API
int vhk_vuc_add_region(struct vhk_vuc *c, const struct vhk_vuc_region *r);

/**
 * vhk_vuc_remove_region - hot-remove the region at @gpa of @size (exact
 * match): REM_MEM_REG (with the region's fd, which QEMU 7.2's
 * libvhost-user requires) or the whole table again.  The caller stops
 * using the memory for I/O first.  Returns 0, -ENOENT, or -errno.
 */
VHK_API
int vhk_vuc_remove_region(struct vhk_vuc *c, uint64_t gpa, uint64_t size);

/** vhk_vuc_num_regions - regions in the table the client sent. */
VHK_API
unsigned int vhk_vuc_num_regions(const struct vhk_vuc *c);

/**
 * vhk_vuc_gpa_to_host - host address of [@gpa, @gpa + @len) if it lies in
 * one region of the table, else NULL.
 */
VHK_API
void *vhk_vuc_gpa_to_host(const struct vhk_vuc *c, uint64_t gpa,
			  uint64_t len);

/**
 * vhk_vuc_setup_inflight - GET_INFLIGHT_FD for @num_queues of @queue_size,
 * then SET_INFLIGHT_FD with it (INFLIGHT_SHMFD acked, else 0, nothing
 * sent).  The region is kept for vhk_vuc_reconnect() (a new process must
 * see the requests the old one had fetched).  Returns 0 or -errno.
 */
VHK_API
int vhk_vuc_setup_inflight(struct vhk_vuc *c, uint16_t num_queues,
			   uint16_t queue_size);

/* One ring as the caller laid it out. */
struct vhk_vuc_vring {
	uint16_t num;		/* queue size */
	uint16_t base;		/* SET_VRING_BASE (packed: idx | wrap << 15) */
	uint64_t desc;		/* device addresses: GPA, or IOVA with */
	uint64_t driver;	/*   ACCESS_PLATFORM negotiated (the */
	uint64_t device;	/*   avail / used rings for split) */
	int kick_fd;		/* eventfd the back-end reads (ioeventfd) */
	int call_fd;		/* eventfd the back-end writes (irqfd) */
};

/**
 * vhk_vuc_vring_start - start ring @idx, in this order: SET_VRING_NUM,
 * SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_CALL, SET_VRING_KICK, and
 * SET_VRING_ENABLE(1) when PROTOCOL_FEATURES was negotiated (rings start
 * disabled then: vhost-user spec, "Ring states").  Without
 * ACCESS_PLATFORM the three GPAs must lie in the memory table (they are
 * sent as host addresses); with it they go as IOVAs.
 * Returns 0, -EINVAL (idx >= max queues, num 0, misaligned address,
 * address outside the table, fd < 0), or -errno.
 */
VHK_API
int vhk_vuc_vring_start(struct vhk_vuc *c, uint16_t idx,
			const struct vhk_vuc_vring *v);

/**
 * vhk_vuc_vring_enable - SET_VRING_ENABLE @enable on started ring @idx
 * (a guest that uses fewer queue pairs than the device has, or pauses
 * one).  Remembered: reconnect replays it.  Needs PROTOCOL_FEATURES
 * negotiated (-ENOTSUP: rings are then always enabled).
 * Returns 0, -EINVAL (ring not started), or -errno.
 */
VHK_API
int vhk_vuc_vring_enable(struct vhk_vuc *c, uint16_t idx, bool enable);

/**
 * vhk_vuc_vring_stop - GET_VRING_BASE: the back-end stops ring @idx and
 * returns where it stopped (*@base).  Returns 0 or -errno.
 */
VHK_API
int vhk_vuc_vring_stop(struct vhk_vuc *c, uint16_t idx, uint32_t *base);

/**
 * vhk_vuc_iotlb_map - IOTLB UPDATE [@iova, @iova + @size) -> @host with
 * @perm (VHK_PERM_RO / WO / RW), NEED_REPLY; remembered for MISS answers,
 * resets without IOTLB_PERSIST, and reconnects.  Needs REPLY_ACK and
 * BACKEND_REQ acked (-ENOTSUP).  Returns 0, -EINVAL (size 0, wraps, perm
 * none, overlap with a mapping), -ENOMEM, or -errno.
 */
VHK_API
int vhk_vuc_iotlb_map(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		      void *host, uint8_t perm);

/**
 * vhk_vuc_iotlb_unmap - IOTLB INVALIDATE of the mapping made at @iova of
 * @size (exact).  Forgotten even if the message fails.  0, -ENOENT, -errno.
 */
VHK_API
int vhk_vuc_iotlb_unmap(struct vhk_vuc *c, uint64_t iova, uint64_t size);

/** vhk_vuc_channel_fd - our end of the back-end channel, or -1. */
VHK_API
int vhk_vuc_channel_fd(const struct vhk_vuc *c);

/**
 * vhk_vuc_poll - wait up to @timeout_ms (0 = no wait, -1 = forever) for
 * back-end channel messages and serve them: an IOTLB MISS is acked (when
 * NEED_REPLY) and answered with UPDATE if a remembered mapping covers it
 * with the permission asked; other requests are acked or refused.
 * Returns the number served, or -errno.
 */
VHK_API
int vhk_vuc_poll(struct vhk_vuc *c, int timeout_ms);

/**
 * vhk_vuc_start_miss_thread - serve the channel in a thread of ours (then
 * never call vhk_vuc_poll()).  Restarted by vhk_vuc_reconnect().
 */
VHK_API
int vhk_vuc_start_miss_thread(struct vhk_vuc *c);
/** vhk_vuc_stop_miss_thread - join it (no-op if not running). */
VHK_API
void vhk_vuc_stop_miss_thread(struct vhk_vuc *c);

/**
 * vhk_vuc_reset - device reset: GET_VRING_BASE on every started ring,
 * RESET_DEVICE (else SET_STATUS 0, else RESET_OWNER).  The rings are
 * forgotten (start them again after vhk_vuc_set_features()); the memory
 * table stays (platform state); IOTLB mappings stay remembered, and are
 * re-sent by the next vhk_vuc_set_features() unless IOTLB_PERSIST was
 * acked.  Returns 0 or -errno.
 */
VHK_API
int vhk_vuc_reset(struct vhk_vuc *c);

/**
 * vhk_vuc_reconnect - after the back-end process restarted: connect again,
 * redo the handshake, check the new process offers the features in force,
 * then replay: SET_FEATURES (+ status), the memory table, every IOTLB
 * mapping, the same inflight region, every started ring at base = its
 * used index (split rings; the back-end resubmits what it had fetched
 * from the inflight region: QEMU's rule), DRIVER_OK if it was set, and a
 * kick per ring.  Restarts the miss thread if it ran.  Packed rings are
 * re-sent with the base given at start, a hint only: the back-end takes
 * both ring positions from the inflight region (nothing in guest memory
 * records them).
 * Returns 0, -ENOTSUP (features or protocol bits now missing; packed rings
 * without an inflight region), or -errno.
 */
VHK_API
int vhk_vuc_reconnect(struct vhk_vuc *c);

struct vhk_vuc_stats {
	uint64_t iotlb_updates_sent;	/* UPDATE messages */
	uint64_t iotlb_invalidates_sent;
	uint64_t misses_served;		/* MISS answered with an UPDATE */
	uint64_t misses_unmapped;	/* MISS for an IOVA not mapped */
	uint64_t regions_added;		/* ADD_MEM_REG sent */
	uint64_t regions_removed;	/* REM_MEM_REG sent */
	uint64_t mem_tables_sent;	/* SET_MEM_TABLE sent */
};

/** vhk_vuc_stats - counters since vhk_vuc_connect(). */
VHK_API
void vhk_vuc_stats(const struct vhk_vuc *c, struct vhk_vuc_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VU_CLIENT_H */
