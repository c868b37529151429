/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/device.h - the device framework: what a virtio device supplies
 * (struct vhk_device_ops) and the per-queue context it works on (struct
 * vhk_dev_queue, opaque: accessors below).  A device is "spec structs
 * (vhostkit/virtio_*.h) + request handlers + its daemon's option
 * parsing"; it needs nothing but
 * this header and vhostkit/ring.h.  docs/architecture.md tells the whole
 * story.
 *
 * The common per-queue work lives here once, in vhk_dq_process(): pop
 * with a budget into a scratch vector sized by the device's max_iov,
 * notification suppression while the ring is drained and re-enable +
 * re-check when it looks empty, IOTLB-miss parking, give-back of a chain
 * the device has no room for (vhk_vq_unpop()), and one flush + call per
 * batch.  A device only handles chains: handle_chain() is called once per
 * chain, then batch_end() once.
 *
 * Who runs a queue - the vhost-user server (vhostkit/backend.h), or a
 * unit test without a socket - sits behind the queue (the owner's side,
 * struct vhk_dq_host and vhk_dq_init(), is internal); who runs the
 * whole device is a struct vhk_dev_host, handed to the
 * device's host_start() (a device with fds of its own - listening
 * sockets, timers - watches them through it): devices never call the
 * server directly and need no "attach" step.
 */
#ifndef VHOSTKIT_DEVICE_H
#define VHOSTKIT_DEVICE_H

#include "vhostkit/api.h"
#include "vhostkit/features.h"
#include "vhostkit/ring.h"
#include "vhostkit/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_dev_queue;

/* What a kick reports back to whoever runs the queue. */
enum vhk_kick_result {
	VHK_KICK_DONE = 0,	/* queue empty (or device full), wait for a kick */
	VHK_KICK_AGAIN = 1,	/* budget used up: process again soon */
	VHK_KICK_PARKED = 2,	/* IOTLB miss: process again after the UPDATE */
};

/* What handle_chain() reports. */
enum vhk_chain_result {
	VHK_CHAIN_TAKEN = 0,	/* the device owns the chain (will push it) */
	VHK_CHAIN_BUSY = 1,	/* no room now: the framework gives the chain
				   back (vhk_vq_unpop) and stops popping; the
				   device calls vhk_dq_kick_later() when it
				   has room again */
};

/* Chains one kick pops at most (descriptor-flood bound per kick). */
#define VHK_KICK_BUDGET 256

typedef void (*vhk_watch_fn)(void *opaque, int fd, uint32_t events);

/*
 * Who runs the whole device: the vhost-user server, or a test.  Given to
 * vhk_device_ops.host_start(); the device keeps a copy until
 * host_stop().  Calls from the device's own watches (they run on the
 * host's main loop, never concurrently with control callbacks).
 */
struct vhk_dev_host {
	/* call @fn(@arg, @fd, events) on the host's main loop when @fd has
	 * @events (a device's listening socket, its timerfd); 0 or -errno.
	 * NULL: the host polls nothing (a test calls the device itself). */
	int (*watch)(void *opaque, int fd, uint32_t events, vhk_watch_fn fn,
		     void *arg);
	/* stop watching @fd; 0 or -ENOENT */
	int (*unwatch)(void *opaque, int fd);
	/* flush queue @idx's pushed chains, notify the driver if it wants */
	void (*complete)(void *opaque, uint16_t idx);
	/* process queue @idx again soon */
	void (*kick_later)(void *opaque, uint16_t idx);
	/* the driver broke a rule: DEVICE_NEEDS_RESET */
	void (*broken)(void *opaque, const char *why);
	void *opaque;
};

/*
 * The device.  Every callback gets the device pointer given to
 * vhk_backend_new() (@dev); queue callbacks also get their queue's
 * context.  Callbacks without a comment "optional" are required.
 */
struct vhk_device_ops {
	enum vhk_device_type type;
	/* Device + transport features the device supports.  The server adds
	 * PROTOCOL_FEATURES and, unless --iommu=off, ACCESS_PLATFORM. */
	uint64_t (*get_features)(void *dev);
	/* Optional: protocol features the device wants on top of the
	 * server's own (CONFIG, MQ, INFLIGHT_SHMFD); unknown ones masked. */
	uint64_t (*get_protocol_features)(void *dev);
	/* Queues the device has (GET_QUEUE_NUM). */
	uint16_t (*num_queues)(void *dev);
	/* Optional: vrings to allocate when that differs from num_queues()
	 * (net: GET_QUEUE_NUM counts queue pairs).  NULL = num_queues(). */
	uint16_t (*num_vrings)(void *dev);
	/* Optional: host segments one chain may have (a descriptor can
	 * become several at region / IOTLB page boundaries); a longer chain
	 * breaks the queue.  NULL or 0 = VHK_VQ_DEFAULT_MAX_IOV. */
	unsigned int (*max_iov)(void *dev);
	/* Optional: config space access; 0 or -EINVAL when out of range. */
	int (*get_config)(void *dev, uint32_t offset, void *buf, uint32_t len);
	int (*set_config)(void *dev, uint32_t offset, const void *buf,
			  uint32_t len);
	/* Optional: acked features (a subset of the offer). */
	int (*set_features)(void *dev, uint64_t acked);
	/* Optional: queue @q started; vhk_dq_vq(@q) is valid until
	 * queue_stop().  Per-queue state goes in vhk_dq_set_priv(). */
	int (*queue_start)(void *dev, struct vhk_dev_queue *q);
	/*
	 * One chain popped from @q (@c->iov is the framework's scratch
	 * vector: valid during the call only, copy what you keep).  Push
	 * it now or later with vhk_vq_push(vhk_dq_vq(q), ...) and
	 * vhk_dq_complete(); or return VHK_CHAIN_BUSY untouched.  A
	 * negative errno: the device cannot go on (DEVICE_NEEDS_RESET).
	 * Required unless queue_kick is set.
	 */
	int (*handle_chain)(void *dev, struct vhk_dev_queue *q,
			    struct vhk_chain *c);
	/* Optional: after a batch of handle_chain() calls, before the
	 * framework flushes and notifies (submit batched I/O here). */
	void (*batch_end)(void *dev, struct vhk_dev_queue *q);
	/*
	 * Optional, instead of handle_chain: the device runs its own pop
	 * loop for @q (it must respect VHK_KICK_BUDGET and re-enable
	 * notifications itself).  For queues a device fills on its own
	 * schedule (receive queues).
	 */
	enum vhk_kick_result (*queue_kick)(void *dev, struct vhk_dev_queue *q);
	/*
	 * Optional, for polling mode (vhk_backend_config.poll_us): handle
	 * the completions of @q that are ready, without waiting and
	 * without a system call if it can (an io_uring CQ ring); push and
	 * vhk_dq_complete() them.  Returns how many it handled (0: none).
	 */
	int (*queue_poll)(void *dev, struct vhk_dev_queue *q);
	/* Optional: complete every in-flight request of @q, forget it. */
	void (*queue_stop)(void *dev, struct vhk_dev_queue *q);
	/* Optional: complete every in-flight request (before a memory
	 * table or IOTLB change: no host pointer outlives its mapping). */
	void (*drain)(void *dev);
	/* Optional: device reset, forget negotiated state (queues are
	 * already stopped). */
	void (*reset)(void *dev);
	/*
	 * Optional: the device's host is up (the server: at the end of
	 * vhk_backend_new(), before it serves anything).  The device copies
	 * *@h and may watch its own fds through it.  A negative errno
	 * fails vhk_backend_new().
	 */
	int (*host_start)(void *dev, const struct vhk_dev_host *h);
	/* Optional: the host goes away (the server: vhk_backend_free(),
	 * after the connection closed); unwatch, forget the copy. */
	void (*host_stop)(void *dev);
	/* Optional, net only: SEND_RARP (PROTOCOL_F_RARP) asks the device to
	 * announce @mac (the first 6 bytes of the payload) on its network,
	 * for guests that cannot announce themselves after migration. */
	void (*send_rarp)(void *dev, const uint8_t mac[6]);
	/* Optional: names of the device's own per-queue counters (at most
	 * VHK_DEV_STATS_MAX, NULL-terminated; lower-case, [a-z0-9_]),
	 * counted with vhk_dq_stat_add(q, index, n) and exported next to
	 * the framework's (vhostkit/stats.h). */
	const char *const *stat_names;
};

/**
 * vhk_dq_process - serve a kick of @q for device @dev with @ops: the
 * device's queue_kick() if it has one, else the framework loop (top of
 * this file) calling handle_chain() / batch_end().  When its host polls
 * the ring, the loop does not re-enable notifications when it runs empty.
 */
VHK_API
enum vhk_kick_result vhk_dq_process(struct vhk_dev_queue *q,
				    const struct vhk_device_ops *ops,
				    void *dev);

/* ---- what a device calls on its queue */

/*
 * A queue's context is the framework's (opaque): what a device may read
 * or keep of it goes through these.  Valid from queue_start() to
 * queue_stop() of that queue.
 */

/** vhk_dq_vq - the ring of @q (pop / push / unpop: vhostkit/ring.h). */
VHK_API
struct vhk_vq *vhk_dq_vq(const struct vhk_dev_queue *q);

/** vhk_dq_index - the vring index of @q (0 .. num_vrings - 1). */
VHK_API
uint16_t vhk_dq_index(const struct vhk_dev_queue *q);

/** vhk_dq_name - "<device name> vq<N>", for log lines. */
VHK_API
const char *vhk_dq_name(const struct vhk_dev_queue *q);

/**
 * vhk_dq_priv - the device's per-queue state set with vhk_dq_set_priv()
 * (NULL until then; kept across stops and starts of the ring).
 */
VHK_API
void *vhk_dq_priv(const struct vhk_dev_queue *q);

/** vhk_dq_set_priv - keep @priv as the device's state for @q. */
VHK_API
void vhk_dq_set_priv(struct vhk_dev_queue *q, void *priv);

/** vhk_dq_max_iov - host segments a chain of @q may have. */
VHK_API
unsigned int vhk_dq_max_iov(const struct vhk_dev_queue *q);

/**
 * vhk_dq_complete - make @q's pushed chains visible to the driver and
 * notify it if it asked for it.  From @q's callbacks and watches.
 */
VHK_API
void vhk_dq_complete(struct vhk_dev_queue *q);

/** vhk_dq_kick_later - process @q again soon (room freed up). */
VHK_API
void vhk_dq_kick_later(struct vhk_dev_queue *q);

/**
 * vhk_dq_watch - call @fn(@arg, @fd, events) when @fd has @events, on
 * @q's thread, never concurrently with @q's other callbacks (an io_uring
 * eventfd).  From queue_start().  Returns 0 or -errno.
 */
VHK_API
int vhk_dq_watch(struct vhk_dev_queue *q, int fd, uint32_t events,
		 vhk_watch_fn fn, void *arg);

/** vhk_dq_unwatch - stop watching @fd; 0 or -ENOENT. */
VHK_API
int vhk_dq_unwatch(struct vhk_dev_queue *q, int fd);

/**
 * vhk_dq_stat_add - add @n to device counter @i (an index into
 * vhk_device_ops.stat_names) of @q; from @q's callbacks and watches.
 */
VHK_API
void vhk_dq_stat_add(struct vhk_dev_queue *q, unsigned int i, uint64_t n);

/**
 * vhk_dq_broken - the driver broke a rule the device cannot continue
 * from: DEVICE_NEEDS_RESET (with a config-change notification where the
 * front-end allows it).
 */
VHK_API
void vhk_dq_broken(struct vhk_dev_queue *q, const char *why);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_DEVICE_H */
