/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/backend.h - the vhost-user back-end server, reused by every device
 * daemon (blk, vsock, net).
 *
 * The server owns the socket, the memory table, the device IOTLB, the
 * address space and the virtqueues; a device supplies struct vhk_device_ops
 * (vhostkit/device.h) and sees only started queues (struct vhk_dev_queue)
 * and popped chains.  The server runs each queue's kicks through
 * vhk_dq_process(), and takes the chain limit from the device's max_iov().
 *
 * Threads.  By default everything runs on one epoll thread: device
 * callbacks are never called concurrently.  With cfg.queue_workers each
 * ring gets a worker thread with its own epoll that serves the ring's kick
 * eventfd and the device's queue watches (vhk_dq_watch()) and processes
 * that ring only (handle_chain() / queue_kick()); the main thread keeps
 * the socket, the back-end channel and every control callback
 * (get/set_config, set_features, queue_start/stop, drain, reset) and plain
 * watches.  Then:
 *  - callbacks for ONE queue (handle_chain, batch_end, queue_kick, its
 *    queue watches) are never concurrent with each other;
 *  - callbacks for different queues, and plain watches, may run
 *    concurrently: state shared between queues needs its own care;
 *  - control callbacks run while every worker is paused outside any
 *    device callback, so they may touch every queue's state.
 * In IOTLB translation mode the workers' callbacks are serialised (the
 * IOTLB records misses), so only GPA-mode I/O runs in parallel.
 *
 * Front-end input is untrusted: every message is checked against one table
 * (payload size range, fd count) before any handler runs; a message that
 * breaks the protocol gets a clear log line and, where the spec allows, an
 * error reply - a malformed stream closes the connection.  After any
 * disconnect the device is reset and the server waits for the next
 * front-end; it never exits on a disconnect.
 */
#ifndef VHOSTKIT_BACKEND_H
#define VHOSTKIT_BACKEND_H

#include "vhostkit/api.h"
#include "vhostkit/device.h"
#include "vhostkit/translation.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_backend;

/* Back-end policy --iommu=auto|on|off (docs/translation-model.md, "Who decides"). */
enum vhk_iommu_policy {
	VHK_IOMMU_AUTO = 0,	/* offer ACCESS_PLATFORM; iotlb if a channel */
	VHK_IOMMU_ON = 1,	/* offer; acked => iotlb, else refuse */
	VHK_IOMMU_OFF = 2,	/* never offer ACCESS_PLATFORM */
};

/** vhk_iommu_policy_parse - "auto"/"on"/"off" -> policy; 0 or -EINVAL. */
VHK_API
int vhk_iommu_policy_parse(const char *s, enum vhk_iommu_policy *policy);

/** vhk_iommu_policy_name - "auto", "on" or "off". */
VHK_API
const char *vhk_iommu_policy_name(enum vhk_iommu_policy policy);

/*
 * vhk_iotlb_min_entries - the smallest device IOTLB that guarantees every
 * ring progress: @nvrings rings whose chains produce at most @max_iov host
 * segments each (0 = VHK_VQ_DEFAULT_MAX_IOV).
 *
 * Why a floor: a request is served only when everything it touches
 * translates at once.  Each miss parks the ring until the front-end's
 * UPDATE, then the chain is walked again from its start; when the table
 * is full every UPDATE evicts the oldest entry.  If a request needs more
 * entries than the table holds, its misses evict each other forever (a
 * livelock: --iotlb-entries 2 did that with one 4 KiB read).  One ring
 * needs at most: its 3 ring areas (desc, driver and device area, each one
 * entry: VIRTIO rings must be contiguous), one entry per host segment
 * (each segment lies in one entry; more than max_iov segments fail the
 * chain instead) and the pages of an indirect table (at most max_iov
 * descriptors of 16 bytes, larger tables fail the chain; mapped, like all
 * IOTLB answers, by entries of at least one 4 KiB page, plus one for an
 * unaligned start).  Rings whose misses interleave each need theirs, since
 * parked rings all retry after any UPDATE: the floor is the sum.
 */
static inline unsigned long vhk_iotlb_min_entries(unsigned int nvrings,
						  unsigned int max_iov)
{
	unsigned long segs = max_iov ? max_iov : VHK_VQ_DEFAULT_MAX_IOV;
	unsigned long table_pages = (16 * segs + 4095) / 4096 + 1;

	return (unsigned long)(nvrings ? nvrings : 1) *
	       (3 + segs + table_pages);
}

struct vhk_backend_config {
	const char *socket_path;	/* NULL only with adopt_listen_fd */
	/* With adopt_listen_fd: accept on listen_fd, an already listening
	 * Unix stream socket (--fd, systemd socket activation) instead of
	 * creating socket_path.  The server owns the fd from
	 * vhk_backend_new() on (closed by free, also when new fails), makes
	 * it non-blocking and never unlinks a path for it. */
	bool adopt_listen_fd;
	int listen_fd;
	bool connect;			/* connect to a listening front-end */
	enum vhk_iommu_policy iommu;
	const char *name;		/* log prefix, e.g. "blk0" */
	/* 0 = default: 65536, or vhk_iotlb_min_entries() if that is more;
	 * else at least vhk_iotlb_min_entries() (vhk_backend_new: -ERANGE). */
	unsigned int iotlb_max_entries;
	unsigned int miss_timeout_ms;	/* unanswered IOTLB miss; 0 = 2000 */
	bool once;			/* exit after the first front-end leaves */
	bool queue_workers;		/* a worker thread per ring (above) */
	/*
	 * Polling mode: after a ring had work, its worker busy-polls it
	 * (the avail ring, and the device's completions through
	 * queue_poll()) with the driver's kicks off, until poll_us
	 * microseconds pass without work; then it turns kicks on again and
	 * sleeps, so an idle ring costs no CPU.  Implies queue_workers.
	 * 0: event-driven (default).
	 */
	unsigned int poll_us;
};

/**
 * vhk_backend_new - create a server for device @dev with @ops.  Listen mode
 * creates (and on exit removes) the socket; connect mode connects with
 * retries inside vhk_backend_run().  Last, the device's host_start() (if
 * any) gets this server as its struct vhk_dev_host (vhostkit/device.h);
 * its error fails the call.  Returns 0 and *@out, or -errno.
 */
VHK_API
int vhk_backend_new(struct vhk_backend **out,
		    const struct vhk_backend_config *cfg,
		    const struct vhk_device_ops *ops, void *dev);

/**
 * vhk_backend_run - serve front-ends until vhk_backend_stop() (or, with
 * cfg.once, until the first front-end disconnects).  In-flight I/O is
 * completed before it returns.  Returns 0 or a fatal -errno (socket setup).
 */
VHK_API
int vhk_backend_run(struct vhk_backend *be);

/**
 * vhk_backend_poll - one pass of the loop vhk_backend_run() runs, so one
 * thread can serve several back-ends (a busy-poll loop calls it for each
 * with @timeout_ms 0): connect / accept, deferred re-kicks (queues whose
 * device asked for more, VHK_KICK_AGAIN), then the ready events, waiting
 * at most @timeout_ms (-1: until something happens).  A pass with
 * @timeout_ms 0 that ran deferred work looks at the socket and watches
 * only every few passes.  Call it from one thread at a time, never
 * together with vhk_backend_run().  Returns how many things it handled
 * (0: idle), -ESHUTDOWN once vhk_backend_stop() was called (or, with
 * cfg.once, the front-end left), or a fatal -errno; then call
 * vhk_backend_poll_end().
 */
VHK_API
int vhk_backend_poll(struct vhk_backend *be, int timeout_ms);

/**
 * vhk_backend_poll_end - what run() does when it returns: close the
 * connection (in-flight I/O completed), stop listening, remove the socket
 * file it created.
 */
VHK_API
void vhk_backend_poll_end(struct vhk_backend *be);

/**
 * vhk_backend_fd - an fd (the server's epoll set) that is readable when
 * vhk_backend_poll() has events to handle: a caller serving several
 * back-ends waits on these (poll()) after a pass where none had work.
 */
VHK_API
int vhk_backend_fd(const struct vhk_backend *be);

/** vhk_backend_stop - make run() return (poll() return -ESHUTDOWN);
 * async-signal-safe. */
VHK_API
void vhk_backend_stop(struct vhk_backend *be);

/**
 * vhk_backend_free - close everything (the device's host_stop() after the
 * connection), remove the socket file.
 */
VHK_API
void vhk_backend_free(struct vhk_backend *be);

/**
 * vhk_backend_watch - call @fn(@opaque, @fd, events) from the event loop when
 * @fd has @events (EPOLLIN ...).  For a device's own fds (an io_uring
 * eventfd, a tap, a listening socket).  Returns 0 or -errno.
 */
VHK_API
int vhk_backend_watch(struct vhk_backend *be, int fd, uint32_t events,
		      vhk_watch_fn fn, void *opaque);

/**
 * vhk_backend_watch_queue - like vhk_backend_watch() for an fd that belongs
 * to queue @idx (an io_uring eventfd): @fn runs on that queue's worker
 * when queue workers are on, never concurrently with its processing; on
 * the main loop otherwise.  Call it from a control callback (queue_start).
 * Returns 0, -EINVAL (@idx), -ENOSPC or -errno.
 */
VHK_API
int vhk_backend_watch_queue(struct vhk_backend *be, uint16_t idx, int fd,
			    uint32_t events, vhk_watch_fn fn, void *opaque);

/**
 * vhk_backend_unwatch - stop watching @fd (a plain or a queue watch); from
 * a control callback, or from the queue's own worker.  0 or -ENOENT.
 */
VHK_API
int vhk_backend_unwatch(struct vhk_backend *be, int fd);

/**
 * vhk_backend_complete - flush queue @idx's pushed chains and signal the
 * front-end's call eventfd if the driver wants a notification.  With
 * queue workers: from queue @idx's own callbacks, or a control callback.
 */
VHK_API
void vhk_backend_complete(struct vhk_backend *be, uint16_t idx);

/**
 * vhk_backend_kick_later - ask the loop to process queue @idx again
 * (e.g. after completions freed request slots).  Same calling rule as
 * vhk_backend_complete().
 */
VHK_API
void vhk_backend_kick_later(struct vhk_backend *be, uint16_t idx);

/**
 * vhk_backend_device_broken - the device hit a guest error it cannot
 * continue from: set DEVICE_NEEDS_RESET in the status and, if the
 * front-end allows it, send a config-change notification.  Callable from
 * any device callback (from a worker it is handed to the main loop).
 */
VHK_API
void vhk_backend_device_broken(struct vhk_backend *be, const char *why);

/** vhk_backend_mode - translation mode in force (valid once a ring started);
 * callable from any thread. */
VHK_API
enum vhk_as_mode vhk_backend_mode(const struct vhk_backend *be);

/* Device-wide counters (vhk_backend_get_stats). */
struct vhk_backend_stats {
	enum vhk_device_type type;
	uint16_t nqueues;		/* vrings: vhk_backend_queue_stats() */
	uint64_t connections;		/* front-ends served so far */
	uint64_t connected;		/* 1 while a front-end is */
	uint64_t device_broken;		/* times DEVICE_NEEDS_RESET was set */
	uint64_t iotlb_evictions;	/* entries evicted (the bound) */
	const char *const *stat_names;	/* vhk_device_ops.stat_names */
};

/**
 * vhk_backend_get_stats - device-wide counters of @be.  Any thread, at any
 * time between vhk_backend_new() and vhk_backend_free() (atomic loads).
 */
VHK_API
void vhk_backend_get_stats(const struct vhk_backend *be,
			   struct vhk_backend_stats *out);

/**
 * vhk_backend_queue_stats - snapshot of vring @idx's counters
 * (vhostkit/stats.h; they survive reconnects).  Any thread, like
 * vhk_backend_get_stats().  0, or -EINVAL if @idx >= nqueues.
 */
VHK_API
int vhk_backend_queue_stats(const struct vhk_backend *be, uint16_t idx,
			    struct vhk_queue_stats *out);

/** vhk_backend_name - the configured name for log lines. */
VHK_API
const char *vhk_backend_name(const struct vhk_backend *be);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_BACKEND_H */
