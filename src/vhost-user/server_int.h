/* SPDX-License-Identifier: MIT */
/*
 * server_int.h - the back-end server's private state, shared by server.c
 * (socket, event loop, connection lifecycle), dispatch.c (the message
 * table and the connection-wide handlers) and vring.c (ring handlers).
 */
#ifndef VHOSTKIT_SERVER_INT_H
#define VHOSTKIT_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "vhostkit/backend.h"
#include "vhostkit/devq.h"
#include "vhostkit/ring_ctl.h"
#include "vhostkit/vhost_user.h"

#define BE_MAX_WATCHES		32
#define BE_OUTQ_BYTES		4096	/* back-end channel send queue */
#define BE_XQ_MISSES		64	/* worker -> main IOTLB misses */

/* epoll_event.data.u64 = tag << 32 | index */
enum be_tag {
	BE_TAG_LISTEN = 1,
	BE_TAG_CONN,
	BE_TAG_STOP,
	BE_TAG_KICK,
	BE_TAG_WATCH,
	BE_TAG_CHANNEL,
	BE_TAG_NOTIFY,			/* worker hand-over (worker.c) */
};

struct be_vring {
	struct vhk_vq *vq;
	struct vhk_dev_queue dq;	/* what the device sees (device.h) */
	char name[64];
	uint16_t num;			/* SET_VRING_NUM, 0 = unset */
	bool addr_set;
	struct vhk_vq_addrs addrs;
	bool log_used;			/* SET_VRING_ADDR VHOST_VRING_F_LOG */
	uint64_t log_addr;		/* ... log_guest_addr */
	uint16_t avail_base;		/* SET_VRING_BASE / saved at stop */
	uint16_t used_base;
	bool used_base_valid;
	int kick_fd;
	int call_fd;
	int err_fd;
	int8_t kick_nowait;		/* RWF_NOWAIT on kick_fd: 0 ?, 1, -1 */
	int8_t call_nowait;		/* ... on call_fd (fdio.c) */
	bool call_failed;		/* call_fd write error logged */
	bool kick_set;			/* SET_VRING_KICK seen (fd or NOFD) */
	bool enabled;			/* SET_VRING_ENABLE / no PROTOCOL_FEATURES */
	bool started;			/* the front-end gave addr + kick */
	bool mapped;			/* vhk_vq_start/remap succeeded */
	bool dev_started;		/* ops->queue_start called */
	bool parked;			/* device reported an IOTLB miss */
	bool again;			/* deferred re-kick */
	bool kick_watched;
	bool kick_edge;			/* kick_fd watched EPOLLET, not read */
	void *inflight;			/* region inside be->inflight_base */
	size_t inflight_size;
};

struct be_watch {
	int fd;
	vhk_watch_fn fn;
	void *opaque;
	int queue;			/* served with vring @queue, or -1 */
	bool used;
};

struct be_worker;

struct vhk_backend {
	/* configuration */
	struct vhk_backend_config cfg;
	char *socket_path;
	char *name;
	const struct vhk_device_ops *ops;
	void *dev;
	unsigned int max_iov;		/* ops->max_iov(), per chain */
	bool dev_host_started;		/* ops->host_start() succeeded */

	/* fds */
	int epfd;
	int stop_fd;			/* eventfd written by vhk_backend_stop */
	int listen_fd;
	int conn_fd;
	int channel_fd;			/* SET_BACKEND_REQ_FD */
	bool listen_watched;
	bool channel_watched;
	bool unlink_on_exit;
	atomic_int stopping;		/* lock-free: signal-safe */
	/* loop state (run_pass()) */
	bool served;			/* a front-end was served (cfg.once) */
	uint64_t retry_at_ms;		/* next connect attempt (cfg.connect) */
	unsigned int poll_skips;	/* passes without epoll_wait() */

	/* exported counters (vhk_backend_get_stats; vhk_stat_add) */
	uint64_t st_connections;	/* front-ends served */
	uint64_t st_connected;		/* 1 while one is */
	uint64_t st_broken;		/* DEVICE_NEEDS_RESET set */

	/* negotiation (one connection) */
	uint64_t offered_features;
	uint64_t acked_features;
	bool features_set;
	bool features_refused;		/* the last SET_FEATURES failed */
	uint64_t offered_proto;
	uint64_t acked_proto;
	bool owner;
	uint8_t status;
	bool broken;

	/* memory */
	struct vhk_memtable *mt;
	struct vhk_iotlb *iotlb;
	struct vhk_as as;
	/* as.mode as other threads may read it (vhk_backend_mode()); set
	 * with it through be_set_mode() */
	_Atomic int mode_pub;
	bool mode_logged;
	bool ring_reading_set;		/* as.ring_gpa decided (vring.c) */
	bool miss_reported;

	/* inflight region (GET/SET_INFLIGHT_FD) */
	void *inflight_base;
	size_t inflight_len;
	struct vhk_mem_fault inflight_fault;	/* SIGBUS in the region */
	void *log_base;				/* SET_LOG_BASE mapping */
	size_t log_len;
	struct vhk_mem_fault log_fault;
	bool log_dropped;	/* VHOSTKIT_TEST_NO_DIRTY_LOG: negative control */
	uint16_t inflight_nq;
	uint16_t inflight_qsize;

	/* rings */
	uint16_t nvrings;
	struct be_vring *vr;

	/* back-end channel send queue (never blocks the loop) */
	uint8_t outq[BE_OUTQ_BYTES];
	size_t outq_len;

	struct be_watch watches[BE_MAX_WATCHES];

	/* per-queue workers (cfg.queue_workers, worker.c) */
	struct be_worker **workers;	/* nvrings entries, NULL = off */
	unsigned int pause_depth;	/* main thread only */
	uint64_t miss_checked_ns;	/* last overdue-miss look (workers) */
	int notify_fd;			/* workers -> main loop */
	bool locks_init;
	pthread_mutex_t xq_lock;	/* guards the xq_* hand-over */
	struct {
		uint64_t iova;
		uint8_t perm;
	} xq_miss[BE_XQ_MISSES];
	unsigned int xq_nmiss;
	bool xq_broken;
	char xq_why[256];
};

/* The translation mode of every ring (main thread, workers paused). */
static inline void be_set_mode(struct vhk_backend *be, enum vhk_as_mode m)
{
	be->as.mode = m;
	atomic_store_explicit(&be->mode_pub, (int)m, memory_order_relaxed);
}

/* One message being dispatched. */
struct be_msg_ctx {
	struct vhk_vu_msg msg;		/* as received / sent (packed) */
	union vhk_vu_payload pl;	/* aligned payload for handlers */
	int fds[VHK_VU_MAX_FDS];	/* a handler that keeps one sets it -1 */
	unsigned int nfds;
	int reply_fds[VHK_VU_MAX_FDS];
	unsigned int reply_nfds;
};

/* Handler results besides a negative errno. */
#define BE_OK		0	/* success; ack if NEED_REPLY */
#define BE_REPLY	1	/* msg.payload/size hold the reply */

/* dispatch.c */
int be_dispatch(struct vhk_backend *be, struct be_msg_ctx *ctx);
const char *be_who(const struct vhk_backend *be);

/* vring.c */
int be_h_vring_num(struct vhk_backend *be, struct be_msg_ctx *ctx);
int be_h_vring_addr(struct vhk_backend *be, struct be_msg_ctx *ctx);
/* Ring @idx's log address fits the dirty log (vring.c); 0 or -EINVAL. */
int be_vring_log_check(struct vhk_backend *be, uint16_t idx);
int be_h_vring_base(struct vhk_backend *be, struct be_msg_ctx *ctx);
int be_h_get_vring_base(struct vhk_backend *be, struct be_msg_ctx *ctx);
int be_h_vring_fd(struct vhk_backend *be, struct be_msg_ctx *ctx);
int be_h_vring_enable(struct vhk_backend *be, struct be_msg_ctx *ctx);
int be_h_vring_endian(struct vhk_backend *be, struct be_msg_ctx *ctx);
void be_vring_stop(struct vhk_backend *be, uint16_t idx, bool close_kick);
void be_vring_reset(struct vhk_backend *be, uint16_t idx);
int be_vring_try_start(struct vhk_backend *be, uint16_t idx);
int be_remap_all(struct vhk_backend *be);
void be_vring_process(struct vhk_backend *be, uint16_t idx);
void be_resume_parked(struct vhk_backend *be);
int be_dq_init(struct vhk_backend *be, uint16_t idx);

/* server.c */
int be_epoll_add(struct vhk_backend *be, int fd, uint32_t events,
		 enum be_tag tag, uint32_t idx);
void be_epoll_del(struct vhk_backend *be, int fd);
void be_miss_cb(void *opaque, uint64_t iova, uint8_t perm);
int be_channel_send(struct vhk_backend *be, uint32_t request,
		    const void *payload, uint32_t size);
void be_device_reset(struct vhk_backend *be, bool full);
void be_close_fd(int *fd);
void be_kick_readable(struct vhk_backend *be, uint32_t idx, uint32_t ev);

/* fdio.c: never block on a front-end's fd.  @nowait: per-fd state,
 * 0 before the first call. */
int be_fd_signal(int fd, int8_t *nowait);	/* 0 sent, 1 pending, -errno */
int be_fd_drain(int fd, int8_t *nowait);	/* 1 read, 0 empty, -errno */
/* @fd is an anonymous-inode file (an eventfd, not a pipe or socket):
 * every write to an eventfd wakes an edge-triggered epoll, so such a kick
 * fd is watched with EPOLLET and never read (no counter to empty). */
bool be_fd_anon(int fd);

/* worker.c */
int be_workers_init(struct vhk_backend *be);
void be_workers_fini(struct vhk_backend *be);
int be_worker_ensure(struct vhk_backend *be, uint16_t idx);
void be_workers_stop_all(struct vhk_backend *be);
void be_workers_pause(struct vhk_backend *be);
void be_workers_resume(struct vhk_backend *be);
bool be_ring_has_worker(struct vhk_backend *be, uint16_t idx);
bool be_on_worker(void);
int be_ring_fd_add(struct vhk_backend *be, uint16_t ring, int fd,
		   uint32_t events, enum be_tag tag, uint32_t idx);
void be_ring_fd_del(struct vhk_backend *be, uint16_t ring, int fd);
void be_xq_miss(struct vhk_backend *be, uint64_t iova, uint8_t perm);
void be_xq_broken(struct vhk_backend *be, const char *why);
/* A front-end shrank a file we map (guest memory, inflight region): mark
 * the device broken, naming it.  Main thread or worker, after an event. */
void be_check_mem_fault(struct vhk_backend *be);
/* Drop the dirty log (disconnect). */
void be_log_unmap(struct vhk_backend *be);
void be_xq_handle(struct vhk_backend *be);

#endif /* VHOSTKIT_SERVER_INT_H */
