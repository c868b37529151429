/* SPDX-License-Identifier: MIT */
/*
 * server.c - the vhost-user back-end server: the Unix socket (listen or
 * connect), the epoll loop, the connection lifecycle and the back-end
 * channel (IOTLB misses, config-change notifications).
 *
 * The message table and handlers live in dispatch.c and vring.c; the
 * optional per-queue worker threads in worker.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"
#include "vhostkit/ring_ctl.h"

#define CONNECT_RETRY_MS	200
#define BE_IO_TIMEOUT_MS	3000	/* rest of a message, or a reply */

void be_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int be_epoll_add(struct vhk_backend *be, int fd, uint32_t events,
		 enum be_tag tag, uint32_t idx)
{
	struct epoll_event ev = {
		.events = events,
		.data.u64 = ((uint64_t)tag << 32) | idx,
	};

	if (epoll_ctl(be->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void be_epoll_del(struct vhk_backend *be, int fd)
{
	if (fd >= 0)
		epoll_ctl(be->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- socket setup */

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static int listen_socket(struct vhk_backend *be)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, err;

	err = make_addr(be->socket_path, &sa);
	if (err)
		return err;
	/* A stale socket from a previous run: replace it, but never
	 * remove anything that is not a socket. */
	if (lstat(be->socket_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(be->socket_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	be->listen_fd = fd;
	be->unlink_on_exit = true;
	return 0;
}

/*
 * An inherited socket (--fd N, LISTEN_FDS): it must be an AF_UNIX stream
 * socket that already listens; made non-blocking so that a connection
 * that vanishes between epoll and accept4() cannot block the loop.
 */
static int adopt_listen_socket(struct vhk_backend *be)
{
	int v = 0, fl;
	socklen_t len = sizeof(v);

	if (be->listen_fd < 0)
		return -EBADF;
	if (getsockopt(be->listen_fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno;
	if (v != AF_UNIX)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(be->listen_fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(be->listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &v,
		       &len) < 0)
		return -errno;
	if (!v)
		return -EINVAL;
	fl = fcntl(be->listen_fd, F_GETFL);
	if (fl < 0 || fcntl(be->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	fl = fcntl(be->listen_fd, F_GETFD);
	if (fl < 0 || fcntl(be->listen_fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int try_connect(struct vhk_backend *be)
{
	struct sockaddr_un sa;
	int fd, err;

	err = make_addr(be->socket_path, &sa);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* ---- public API */

/* ---- the device's host (vhk_device_ops.host_start): this server */

static int dh_watch(void *opaque, int fd, uint32_t events, vhk_watch_fn fn,
		    void *arg)
{
	return vhk_backend_watch(opaque, fd, events, fn, arg);
}

static int dh_unwatch(void *opaque, int fd)
{
	return vhk_backend_unwatch(opaque, fd);
}

static void dh_complete(void *opaque, uint16_t idx)
{
	vhk_backend_complete(opaque, idx);
}

static void dh_kick_later(void *opaque, uint16_t idx)
{
	vhk_backend_kick_later(opaque, idx);
}

static void dh_broken(void *opaque, const char *why)
{
	vhk_backend_device_broken(opaque, why);
}

/* Start the device's own part (its fds) once the server is set up. */
static int dev_host_start(struct vhk_backend *be)
{
	const struct vhk_dev_host h = {
		.watch = dh_watch,
		.unwatch = dh_unwatch,
		.complete = dh_complete,
		.kick_later = dh_kick_later,
		.broken = dh_broken,
		.opaque = be,
	};
	int err;

	if (!be->ops->host_start)
		return 0;
	err = be->ops->host_start(be->dev, &h);
	if (err) {
		vhk_log(VHK_LOG_ERR, be->name, "device start: %s",
			strerror(-err));
		return err;
	}
	be->dev_host_started = true;
	return 0;
}

int vhk_backend_new(struct vhk_backend **out,
		    const struct vhk_backend_config *cfg,
		    const struct vhk_device_ops *ops, void *dev)
{
	struct vhk_backend *be;
	uint16_t n;
	int err;

	if (!out || !cfg || (!cfg->socket_path && !cfg->adopt_listen_fd) ||
	    !ops || !ops->num_queues || !ops->get_features ||
	    (!ops->handle_chain && !ops->queue_kick) ||
	    (cfg->adopt_listen_fd && cfg->connect)) {
		if (cfg && cfg->adopt_listen_fd && cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		return -EINVAL;
	}
	be = calloc(1, sizeof(*be));
	if (!be) {
		if (cfg->adopt_listen_fd && cfg->listen_fd >= 0)
			close(cfg->listen_fd);
		return -ENOMEM;
	}
	be->cfg = *cfg;
	if (be->cfg.poll_us)	/* a polling ring has a thread of its own */
		be->cfg.queue_workers = true;
	be->ops = ops;
	be->dev = dev;
	be->max_iov = ops->max_iov ? ops->max_iov(dev) : 0;
	if (!be->max_iov)
		be->max_iov = VHK_VQ_DEFAULT_MAX_IOV;
	be->epfd = be->stop_fd = be->listen_fd = -1;
	be->conn_fd = be->channel_fd = -1;
	be->notify_fd = -1;
	if (cfg->adopt_listen_fd)
		be->listen_fd = cfg->listen_fd;
	be->socket_path = strdup(cfg->socket_path ? cfg->socket_path :
				 "(inherited socket)");
	be->name = strdup(cfg->name ? cfg->name : "vhost-user");
	if (!be->cfg.miss_timeout_ms)
		be->cfg.miss_timeout_ms = 2000;
	be->cfg.socket_path = be->socket_path;
	be->cfg.name = be->name;
	/* Test knob (docs/peer-tests.md, migration): offer LOG_ALL but mark
	 * nothing, so a migration test can prove it notices a missing log. */
	be->log_dropped = getenv("VHOSTKIT_TEST_NO_DIRTY_LOG") != NULL;
	for (unsigned int i = 0; i < BE_MAX_WATCHES; i++) {
		be->watches[i].fd = -1;
		be->watches[i].queue = -1;
	}
	err = -ENOMEM;
	if (!be->socket_path || !be->name)
		goto fail;

	n = ops->num_vrings ? ops->num_vrings(dev) : ops->num_queues(dev);
	if (n == 0 || n > 256) {
		/* vring indexes travel in 8 bits of SET_VRING_KICK/CALL. */
		err = -EINVAL;
		goto fail;
	}
	be->nvrings = n;
	/* A smaller table can livelock a ring (backend.h). */
	if (cfg->iotlb_max_entries &&
	    cfg->iotlb_max_entries < vhk_iotlb_min_entries(n, be->max_iov)) {
		vhk_log(VHK_LOG_ERR, be->name,
			"IOTLB of %u entries is below the %lu that %u rings of up to %u segments need to make progress",
			cfg->iotlb_max_entries,
			vhk_iotlb_min_entries(n, be->max_iov), n, be->max_iov);
		err = -ERANGE;
		goto fail;
	}
	be->vr = calloc(n, sizeof(*be->vr));
	if (!be->vr)
		goto fail;
	for (uint16_t i = 0; i < n; i++) {
		struct be_vring *r = &be->vr[i];

		r->kick_fd = r->call_fd = r->err_fd = -1;
		snprintf(r->name, sizeof(r->name), "%s vq%u", be->name, i);
		err = vhk_vq_new(&r->vq);
		if (err)
			goto fail;
	}
	/* The default grows to the floor for devices with many rings. */
	err = vhk_iotlb_new(&be->iotlb, cfg->iotlb_max_entries ?
				       cfg->iotlb_max_entries :
				       VHK_MAX((unsigned long)VHK_IOTLB_DEFAULT_MAX_ENTRIES,
					       vhk_iotlb_min_entries(n, be->max_iov)));
	if (err)
		goto fail;
	be_set_mode(be, VHK_AS_GPA);
	be->as.iotlb = be->iotlb;
	be->as.miss_fn = be_miss_cb;
	be->as.miss_opaque = be;

	be->epfd = epoll_create1(EPOLL_CLOEXEC);
	be->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be->epfd < 0 || be->stop_fd < 0) {
		err = -errno;
		goto fail;
	}
	err = be_epoll_add(be, be->stop_fd, EPOLLIN, BE_TAG_STOP, 0);
	if (err)
		goto fail;
	err = be_workers_init(be);
	if (err)
		goto fail;
	if (cfg->adopt_listen_fd) {
		err = adopt_listen_socket(be);
		if (err) {
			vhk_log(VHK_LOG_ERR, be->name,
				"fd %d is not a listening Unix stream socket: %s",
				be->listen_fd, strerror(-err));
			goto fail;
		}
	} else if (!cfg->connect) {
		err = listen_socket(be);
		if (err) {
			vhk_log(VHK_LOG_ERR, be->name, "cannot listen on %s: %s",
				be->socket_path, strerror(-err));
			goto fail;
		}
	}
	err = dev_host_start(be);
	if (err)
		goto fail;
	*out = be;
	return 0;
fail:
	vhk_backend_free(be);
	return err;
}

void vhk_backend_stop(struct vhk_backend *be)
{
	uint64_t one = 1;
	ssize_t r;

	/* Only async-signal-safe calls here: a store and a write(). */
	atomic_store_explicit(&be->stopping, 1, memory_order_relaxed);
	r = write(be->stop_fd, &one, sizeof(one));
	(void)r;
}

void vhk_backend_get_stats(const struct vhk_backend *be,
			   struct vhk_backend_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->type = be->ops->type;
	out->nqueues = be->nvrings;
	out->connections = vhk_stat_get(&be->st_connections);
	out->connected = vhk_stat_get(&be->st_connected);
	out->device_broken = vhk_stat_get(&be->st_broken);
	out->iotlb_evictions = vhk_iotlb_evictions(be->iotlb);
	out->stat_names = be->ops->stat_names;
}

int vhk_backend_queue_stats(const struct vhk_backend *be, uint16_t idx,
			    struct vhk_queue_stats *out)
{
	if (idx >= be->nvrings)
		return -EINVAL;
	vhk_queue_stats_read(vhk_vq_queue_stats(be->vr[idx].vq), out);
	return 0;
}

const char *vhk_backend_name(const struct vhk_backend *be)
{
	return be->name;
}

enum vhk_as_mode vhk_backend_mode(const struct vhk_backend *be)
{
	return (enum vhk_as_mode)atomic_load_explicit(&be->mode_pub,
						      memory_order_relaxed);
}

static int watch_add(struct vhk_backend *be, int queue, int fd,
		     uint32_t events, vhk_watch_fn fn, void *opaque)
{
	for (unsigned int i = 0; i < BE_MAX_WATCHES; i++) {
		struct be_watch *w = &be->watches[i];
		int err;

		if (w->used)
			continue;
		/* Filled before the fd is polled: its first event sees it. */
		w->fd = fd;
		w->fn = fn;
		w->opaque = opaque;
		w->queue = queue;
		w->used = true;
		if (queue >= 0)
			err = be_ring_fd_add(be, (uint16_t)queue, fd, events,
					     BE_TAG_WATCH, i);
		else
			err = be_epoll_add(be, fd, events, BE_TAG_WATCH, i);
		if (err) {
			w->used = false;
			w->fd = -1;
			w->queue = -1;
		}
		return err;
	}
	return -ENOSPC;
}

int vhk_backend_watch(struct vhk_backend *be, int fd, uint32_t events,
		      vhk_watch_fn fn, void *opaque)
{
	return watch_add(be, -1, fd, events, fn, opaque);
}

int vhk_backend_watch_queue(struct vhk_backend *be, uint16_t idx, int fd,
			    uint32_t events, vhk_watch_fn fn, void *opaque)
{
	int err;

	if (idx >= be->nvrings)
		return -EINVAL;
	if (be_on_worker())
		return -EPERM;	/* control path only (main thread) */
	be_workers_pause(be);
	err = be_worker_ensure(be, idx);
	if (!err)
		err = watch_add(be, idx, fd, events, fn, opaque);
	be_workers_resume(be);
	return err;
}

int vhk_backend_unwatch(struct vhk_backend *be, int fd)
{
	for (unsigned int i = 0; i < BE_MAX_WATCHES; i++) {
		struct be_watch *w = &be->watches[i];

		if (w->used && w->fd == fd) {
			/* A queue watch's worker may be inside the callback
			 * (unless this is that worker). */
			bool pause = w->queue >= 0 && !be_on_worker();

			if (pause)
				be_workers_pause(be);
			if (w->queue < 0)
				be_epoll_del(be, fd);
			else
				be_ring_fd_del(be, (uint16_t)w->queue, fd);
			w->used = false;
			w->fd = -1;
			if (pause)
				be_workers_resume(be);
			w->queue = -1;
			return 0;
		}
	}
	return -ENOENT;
}

void vhk_backend_complete(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r;

	if (idx >= be->nvrings)
		return;
	r = &be->vr[idx];
	if (!vhk_vq_started(r->vq))
		return;
	if (vhk_vq_flush(r->vq) && r->call_fd >= 0) {
		/* Never blocks (fdio.c): an unwritable call fd already has
		 * a notification pending.  A broken one is reported once;
		 * the front-end that handed it over loses its interrupts,
		 * nobody else is affected. */
		int err = be_fd_signal(r->call_fd, &r->call_nowait);

		if (err < 0 && !r->call_failed) {
			r->call_failed = true;
			vhk_log(VHK_LOG_WARN, r->name,
				"call fd unusable (%s): the front-end gets no notifications",
				strerror(-err));
		}
	}
}

void vhk_backend_kick_later(struct vhk_backend *be, uint16_t idx)
{
	if (idx < be->nvrings)
		be->vr[idx].again = true;
}

/* The message naming the mapping a SIGBUS hit, if one did. */
static bool mem_fault_msg(struct vhk_backend *be, char *why, size_t n)
{
	if (vhk_memtable_fault(be->mt, why, n))
		return true;
	if (__atomic_load_n(&be->log_fault.hit, __ATOMIC_ACQUIRE)) {
		snprintf(why, n, "dirty log lost its backing (SIGBUS at offset "
			 "0x%llx): the front-end shrank its file after "
			 "SET_LOG_BASE",
			 (unsigned long long)__atomic_load_n(
				&be->log_fault.offset, __ATOMIC_RELAXED));
		return true;
	}
	if (!__atomic_load_n(&be->inflight_fault.hit, __ATOMIC_ACQUIRE))
		return false;
	snprintf(why, n, "inflight region lost its backing (SIGBUS at offset "
		 "0x%llx): the front-end shrank its file after SET_INFLIGHT_FD",
		 (unsigned long long)__atomic_load_n(&be->inflight_fault.offset,
						     __ATOMIC_RELAXED));
	return true;
}

void be_check_mem_fault(struct vhk_backend *be)
{
	char why[384];

	/* The mapping now reads as zeros: stop before acting on it. */
	if (!mem_fault_msg(be, why, sizeof(why)))
		return;
	if (be_on_worker())
		be_xq_broken(be, why);
	else if (!be->broken)
		vhk_backend_device_broken(be, why);
}

void vhk_backend_device_broken(struct vhk_backend *be, const char *why)
{
	if (be_on_worker()) {
		/* Status and channel belong to the main thread. */
		be_xq_broken(be, why);
		return;
	}
	be_workers_pause(be);
	if (!be->broken) {
		char fault[384];

		/* A shrunk file explains what the device saw next (it read
		 * zeros where its memory was): name the cause first. */
		if (mem_fault_msg(be, fault, sizeof(fault)))
			vhk_log(VHK_LOG_ERR, be->name,
				"device needs reset: %s (the device then saw: %s)",
				fault, why ? why : "device error");
		else
			vhk_log(VHK_LOG_ERR, be->name,
				"device needs reset: %s",
				why ? why : "device error");
	}
	if (!be->broken)
		vhk_stat_add(&be->st_broken, 1);
	be->broken = true;
	be->status |= VHK_STATUS_NEEDS_RESET;
	/* VIRTIO 1.2, 2.1.2: after setting DEVICE_NEEDS_RESET the device
	 * MUST send a configuration change notification. */
	if (be->channel_fd >= 0 &&
	    vhk_has_feature(be->acked_proto, VHK_PROTO_F_BACKEND_REQ) &&
	    vhk_has_feature(be->acked_proto, VHK_PROTO_F_CONFIG))
		be_channel_send(be, VHK_VU_BACKEND_CONFIG_CHANGE_MSG, NULL, 0);
	be_workers_resume(be);
}

/* ---- back-end channel: a byte queue flushed without ever blocking */

static void channel_flush(struct vhk_backend *be)
{
	while (be->outq_len > 0 && be->channel_fd >= 0) {
		ssize_t r = send(be->channel_fd, be->outq, be->outq_len,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			vhk_log(VHK_LOG_WARN, be->name,
				"back-end channel write failed: %s; closing it",
				strerror(errno));
			be_epoll_del(be, be->channel_fd);
			be->channel_watched = false;
			be_close_fd(&be->channel_fd);
			be->outq_len = 0;
			return;
		}
		memmove(be->outq, be->outq + r, be->outq_len - (size_t)r);
		be->outq_len -= (size_t)r;
	}
	if (be->channel_fd < 0)
		return;
	/* Wait for EPOLLOUT only while something is queued. */
	if (be->outq_len > 0 && !be->channel_watched) {
		if (be_epoll_add(be, be->channel_fd, EPOLLOUT, BE_TAG_CHANNEL,
				 0) == 0)
			be->channel_watched = true;
	} else if (be->outq_len == 0 && be->channel_watched) {
		be_epoll_del(be, be->channel_fd);
		be->channel_watched = false;
	}
}

int be_channel_send(struct vhk_backend *be, uint32_t request,
		    const void *payload, uint32_t size)
{
	struct vhk_vu_hdr h = {
		.request = request,
		.flags = VHK_VU_VERSION,
		.size = size,
	};

	if (be->channel_fd < 0)
		return -ENOTCONN;
	if (be->outq_len + sizeof(h) + size > sizeof(be->outq)) {
		vhk_log(VHK_LOG_WARN, be->name,
			"back-end channel queue full: dropping %s",
			vhk_vu_backend_request_name(request));
		return -ENOBUFS;
	}
	memcpy(be->outq + be->outq_len, &h, sizeof(h));
	be->outq_len += sizeof(h);
	if (size) {
		memcpy(be->outq + be->outq_len, payload, size);
		be->outq_len += size;
	}
	channel_flush(be);
	return 0;
}

/*
 * The address space found an IOTLB miss nobody asked about yet: tell the
 * front-end (vhost-user spec, VHOST_USER_BACKEND_IOTLB_MSG; only iova and
 * perm are meaningful in a MISS).
 */
void be_miss_cb(void *opaque, uint64_t iova, uint8_t perm)
{
	struct vhk_backend *be = opaque;
	struct vhk_vu_iotlb m = {
		.iova = iova,
		.size = 0,
		.uaddr = 0,
		.perm = perm,
		.type = VHK_VU_IOTLB_MISS,
	};

	if (be_on_worker()) {
		/* The channel is the main thread's: hand the miss over. */
		be_xq_miss(be, iova, perm);
		return;
	}
	vhk_log(VHK_LOG_DEBUG, be->name, "IOTLB miss iova 0x%llx perm %u",
		(unsigned long long)iova, perm);
	if (be_channel_send(be, VHK_VU_BACKEND_IOTLB_MSG, &m, sizeof(m)) ==
	    -ENOTCONN)
		vhk_log(VHK_LOG_WARN, be->name,
			"IOTLB miss at 0x%llx but no back-end channel",
			(unsigned long long)iova);
}

/* ---- connection lifecycle */

void be_log_unmap(struct vhk_backend *be)
{
	be_workers_pause(be);
	be->as.log_on = false;
	be->as.log = NULL;
	be->as.log_size = 0;
	be_workers_resume(be);
	if (be->log_base) {
		vhk_mem_guard_del(be->log_base);
		munmap(be->log_base, be->log_len);
	}
	be->log_base = NULL;
	be->log_len = 0;
	memset(&be->log_fault, 0, sizeof(be->log_fault));
}

static void inflight_unmap(struct vhk_backend *be)
{
	if (be->inflight_base) {
		vhk_mem_guard_del(be->inflight_base);
		munmap(be->inflight_base, be->inflight_len);
	}
	memset(&be->inflight_fault, 0, sizeof(be->inflight_fault));
	be->inflight_base = NULL;
	be->inflight_len = 0;
	be->inflight_nq = 0;
	for (uint16_t i = 0; i < be->nvrings; i++) {
		be->vr[i].inflight = NULL;
		be->vr[i].inflight_size = 0;
	}
}

/*
 * Device reset (RESET_DEVICE, SET_STATUS 0; @full for RESET_OWNER and
 * disconnect): stop every ring (the device drains in-flight I/O), reset
 * the device and the ring state.  IOTLB entries are platform state: they
 * are flushed unless the front-end acked IOTLB_PERSIST (docs/translation-model.md,
 * "Reset and persistence"); a full reset always flushes them and drops
 * the memory table.
 */
void be_device_reset(struct vhk_backend *be, bool full)
{
	for (uint16_t i = 0; i < be->nvrings; i++)
		be_vring_reset(be, i);
	if (be->ops->reset)
		be->ops->reset(be->dev);
	if (full || !vhk_has_feature(be->acked_proto,
				     VHK_PROTO_F_IOTLB_PERSIST))
		vhk_iotlb_flush(be->iotlb);
	else
		vhk_log(VHK_LOG_INFO, be->name,
			"reset: keeping %zu IOTLB entries (IOTLB_PERSIST)",
			vhk_iotlb_count(be->iotlb));
	be->acked_features = 0;
	be->features_set = false;
	be->features_refused = false;
	be->status = 0;
	be->broken = false;
	be->miss_reported = false;
	be->mode_logged = false;
	be->ring_reading_set = false;
	be->as.ring_gpa = false;
	be_set_mode(be, VHK_AS_GPA);
	if (full) {
		be->as.mt = NULL;
		vhk_memtable_free(be->mt);
		be->mt = NULL;
	}
}

static void conn_close(struct vhk_backend *be)
{
	if (be->conn_fd < 0)
		return;
	vhk_log(VHK_LOG_INFO, be->name, "front-end disconnected");
	be_workers_pause(be);
	be_device_reset(be, true);
	/* Every ring is stopped: no fd is left in a worker's epoll. */
	be_workers_stop_all(be);
	be_workers_resume(be);
	for (uint16_t i = 0; i < be->nvrings; i++) {
		struct be_vring *r = &be->vr[i];

		be_close_fd(&r->call_fd);
		be_close_fd(&r->err_fd);
		r->avail_base = r->used_base = 0;
		r->used_base_valid = false;
	}
	inflight_unmap(be);
	be_log_unmap(be);
	if (be->channel_watched)
		be_epoll_del(be, be->channel_fd);
	be->channel_watched = false;
	be_close_fd(&be->channel_fd);
	be->outq_len = 0;
	be_epoll_del(be, be->conn_fd);
	be_close_fd(&be->conn_fd);
	__atomic_store_n(&be->st_connected, 0, __ATOMIC_RELAXED);
	be->owner = false;
	be->acked_proto = 0;
}

static void conn_open(struct vhk_backend *be, int fd)
{
	/* A message arrives whole: a front-end that stops halfway through
	 * one (or never reads our replies) must not stall the loop, which
	 * also serves signals, kicks and the device's own fds. */
	struct timeval tv = {
		.tv_sec = BE_IO_TIMEOUT_MS / 1000,
		.tv_usec = (BE_IO_TIMEOUT_MS % 1000) * 1000,
	};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	be->conn_fd = fd;
	vhk_stat_add(&be->st_connections, 1);
	__atomic_store_n(&be->st_connected, 1, __ATOMIC_RELAXED);
	be->owner = false;
	be->acked_proto = 0;
	be->acked_features = 0;
	be->features_set = false;
	be->features_refused = false;
	be->status = 0;
	be->broken = false;
	if (be_epoll_add(be, fd, EPOLLIN, BE_TAG_CONN, 0) < 0) {
		be_close_fd(&be->conn_fd);
		return;
	}
	vhk_log(VHK_LOG_INFO, be->name, "front-end connected");
}

/* Read and dispatch one message; false if the connection must close. */
static bool conn_readable(struct vhk_backend *be)
{
	struct be_msg_ctx ctx;
	int err;

	memset(&ctx, 0, sizeof(ctx));
	err = vhk_vu_recv(be->conn_fd, &ctx.msg, ctx.fds, &ctx.nfds,
			  VHK_VU_MAX_FDS);
	if (err == -ECONNRESET)
		return false;
	if (err == -EPROTO) {
		vhk_log(VHK_LOG_ERR, be->name,
			"bad message header (version bits 0x%x, want 0x%x): closing connection",
			ctx.msg.hdr.flags & VHK_VU_VERSION_MASK,
			VHK_VU_VERSION);
		return false;
	}
	if (err == -EMSGSIZE) {
		vhk_log(VHK_LOG_ERR, be->name,
			"%s: payload size %u exceeds %zu bytes: stream out of sync, closing connection",
			vhk_vu_request_name(ctx.msg.hdr.request),
			ctx.msg.hdr.size, sizeof(ctx.msg.payload));
		return false;
	}
	if (err == -EAGAIN) {
		vhk_log(VHK_LOG_ERR, be->name,
			"front-end stalled in the middle of a message for %d ms: closing connection",
			BE_IO_TIMEOUT_MS);
		return false;
	}
	if (err) {
		vhk_log(VHK_LOG_ERR, be->name, "socket read failed: %s",
			strerror(-err));
		return false;
	}
	return be_dispatch(be, &ctx) == 0;
}

/* ---- the event loop */

/*
 * The oldest outstanding IOTLB miss of the device: queues record their
 * own (struct vhk_iotlb_cache), the shared IOTLB those of callers without
 * a queue.  @exact: also fill *@iova and *@perm and look at rings waiting for
 * a mapping only (workers quiesced); else only the lock-free stamps.
 */
static uint64_t oldest_miss(struct vhk_backend *be, bool exact,
			    uint64_t *iova, uint8_t *perm)
{
	uint64_t best = 0, t, i_ = 0;
	uint8_t p_ = 0;
	bool waiting = false;

	for (uint16_t i = 0; exact && i < be->nvrings; i++)
		if (be->vr[i].dev_started &&
		    (be->vr[i].parked || !be->vr[i].mapped))
			waiting = true;
	if (exact && !waiting)
		return 0;
	if (exact)
		best = vhk_iotlb_miss_oldest(be->iotlb, iova, perm);
	for (uint16_t i = 0; i < be->nvrings; i++) {
		struct be_vring *r = &be->vr[i];
		const struct vhk_iotlb_cache *c;

		if (!r->dev_started)
			continue;
		/* Only a miss some ring waits for matters: a stale one
		 * must not mark the device broken. */
		if (exact && !r->parked && r->mapped)
			continue;
		c = vhk_vq_iotlb_cache(r->vq);
		t = exact ? vhk_iotlb_qmiss_oldest(c, &i_, &p_) :
			    vhk_iotlb_qmiss_oldest(c, NULL, NULL);
		if (t && (!best || t < best)) {
			best = t;
			if (exact) {
				*iova = i_;
				*perm = p_;
			}
		}
	}
	return best;
}

static void check_miss_timeout(struct vhk_backend *be, int *timeout_ms)
{
	uint64_t oldest, iova = 0, now, deadline;
	uint8_t perm = 0;
	char why[256];

	if (be->miss_reported || be->as.mode != VHK_AS_IOTLB)
		return;
	if (be->workers) {
		/* Workers own their queues' miss records: look at the
		 * stamps first (atomic loads), and pause the workers only
		 * once a miss is overdue. */
		oldest = oldest_miss(be, false, NULL, NULL);
		if (!oldest)
			return;
		now = vhk_now_ns();
		deadline = oldest +
			(uint64_t)be->cfg.miss_timeout_ms * 1000000ull;
		if (now < deadline)
			goto rearm;
		if (now < be->miss_checked_ns + 1000000000ull) {
			/* Looked less than a second ago: look again then. */
			deadline = be->miss_checked_ns + 1000000000ull;
			goto rearm;
		}
		be->miss_checked_ns = now;
		be_workers_pause(be);
	}
	oldest = oldest_miss(be, true, &iova, &perm);
	be_workers_resume(be);
	if (!oldest)
		return;
	now = vhk_now_ns();
	deadline = oldest + (uint64_t)be->cfg.miss_timeout_ms * 1000000ull;
	if (now >= deadline) {
		be->miss_reported = true;
		snprintf(why, sizeof(why),
			 "IOTLB miss at iova 0x%llx (perm %u) unanswered for %u ms: front-end acked ACCESS_PLATFORM but never answers IOTLB misses; if this VMM has no vIOMMU for this device, run with --iommu=off",
			 (unsigned long long)iova, perm,
			 be->cfg.miss_timeout_ms);
		vhk_backend_device_broken(be, why);
		return;
	}
rearm:
	{
		uint64_t ms = (deadline - now + 999999ull) / 1000000ull;
		int t = ms > 60000 ? 60000 : (int)ms;

		if (*timeout_ms < 0 || t < *timeout_ms)
			*timeout_ms = t;
	}
}

/* Deferred re-kicks run before the loop blocks; true if any ran. */
static bool run_deferred(struct vhk_backend *be)
{
	bool any = false;

	for (uint16_t i = 0; i < be->nvrings; i++) {
		/* A worker's ring is its worker's business. */
		if (be_ring_has_worker(be, i) || !be->vr[i].again)
			continue;
		be->vr[i].again = false;
		be_vring_process(be, i);
		any = true;
	}
	return any;
}

/* A kick fd is readable: consume it (not an eventfd watched edge-
 * triggered: each write woke us once, the counter stays), let the device
 * process.  Runs on the ring's worker when it has one. */
void be_kick_readable(struct vhk_backend *be, uint32_t idx, uint32_t ev)
{
	struct be_vring *r;
	int n = 1;

	if (idx >= be->nvrings)
		return;
	r = &be->vr[idx];
	if (r->kick_fd < 0)
		return;
	/* Never blocks (fdio.c), whatever flags the front-end's fd has. */
	if (!r->kick_edge || (ev & (EPOLLHUP | EPOLLERR)))
		n = be_fd_drain(r->kick_fd, &r->kick_nowait);
	if (n < 0 && (ev & (EPOLLHUP | EPOLLERR))) {
		/* Not an eventfd (a closed pipe, say): stop watching it
		 * rather than spin on a permanent HUP. */
		vhk_log(VHK_LOG_WARN, r->name,
			"kick fd hung up; no longer watching it");
		be_ring_fd_del(be, (uint16_t)idx, r->kick_fd);
		r->kick_watched = false;
		return;
	}
	be_vring_process(be, (uint16_t)idx);
}

static void accept_one(struct vhk_backend *be)
{
	int fd = accept4(be->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* Stop listening while this front-end is served: one at a time. */
	be_epoll_del(be, be->listen_fd);
	be->listen_watched = false;
	conn_open(be, fd);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void dispatch_event(struct vhk_backend *be, const struct epoll_event *e)
{
	uint32_t tag = (uint32_t)(e->data.u64 >> 32);
	uint32_t idx = (uint32_t)e->data.u64;
	uint32_t ev = e->events;

	switch (tag) {
	case BE_TAG_STOP:
		break;
	case BE_TAG_LISTEN:
		if (be->conn_fd < 0) {
			accept_one(be);
			be->served = be->served || be->conn_fd >= 0;
		}
		break;
	case BE_TAG_CONN:
		if (be->conn_fd >= 0 && !conn_readable(be))
			conn_close(be);
		break;
	case BE_TAG_KICK:
		be_kick_readable(be, idx, ev);
		break;
	case BE_TAG_WATCH:
		/* A stale event must not call a slot that now belongs to a
		 * worker. */
		if (idx < BE_MAX_WATCHES && be->watches[idx].used &&
		    (be->watches[idx].queue < 0 ||
		     !be_ring_has_worker(be, (uint16_t)be->watches[idx].queue)))
			be->watches[idx].fn(be->watches[idx].opaque,
					    be->watches[idx].fd, ev);
		break;
	case BE_TAG_CHANNEL:
		channel_flush(be);
		break;
	case BE_TAG_NOTIFY:
		be_xq_handle(be);
		break;
	}
}

/* Passes of vhk_backend_poll(.., 0) with deferred work between two looks
 * at the epoll set (the socket, watches): a busy-polling caller saves the
 * epoll_wait() call on the other passes. */
#define POLL_EPOLL_EVERY	32

/*
 * One pass of the server loop: connect / listen, deferred re-kicks, the
 * ready events (waiting at most @timeout ms; -1 forever).  With @skip_ok a
 * pass that ran deferred work may leave the epoll set for a later pass.
 * Returns the number of things handled, -ESHUTDOWN when stopped (or done,
 * cfg.once), another -errno on a fatal error.
 */
static int run_pass(struct vhk_backend *be, int timeout, bool skip_ok)
{
	struct epoll_event evs[16];
	int n, done = 0;

	if (atomic_load_explicit(&be->stopping, memory_order_relaxed))
		return -ESHUTDOWN;
	if (be->conn_fd < 0) {
		if (be->served && be->cfg.once)
			return -ESHUTDOWN;
		if (be->cfg.connect) {
			uint64_t now = mono_ms();

			if (now >= be->retry_at_ms) {
				int fd = try_connect(be);

				if (fd >= 0) {
					conn_open(be, fd);
					be->served = be->conn_fd >= 0;
				} else {
					be->retry_at_ms = now + CONNECT_RETRY_MS;
				}
			}
			if (be->conn_fd < 0) {
				uint64_t left = be->retry_at_ms > now ?
						be->retry_at_ms - now : 0;

				if (timeout < 0 || (uint64_t)timeout > left)
					timeout = (int)left;
			}
		} else if (!be->listen_watched) {
			int rc = be_epoll_add(be, be->listen_fd, EPOLLIN,
					      BE_TAG_LISTEN, 0);

			if (rc)
				return rc;
			be->listen_watched = true;
		}
	}
	if (run_deferred(be)) {
		timeout = 0;
		done++;
		if (skip_ok && ++be->poll_skips < POLL_EPOLL_EVERY) {
			be_check_mem_fault(be);
			return done;
		}
	}
	be->poll_skips = 0;
	check_miss_timeout(be, &timeout);
	n = epoll_wait(be->epfd, evs, VHK_ARRAY_SIZE(evs), timeout);
	if (n < 0)
		return errno == EINTR ? done : -errno;
	for (int i = 0; i < n; i++) {
		uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);

		dispatch_event(be, &evs[i]);
		/* A handler may have closed fds later events name. */
		if (be->conn_fd < 0 && tag == BE_TAG_CONN)
			break;
	}
	be_check_mem_fault(be);
	return done + n;
}

int vhk_backend_fd(const struct vhk_backend *be)
{
	return be->epfd;
}

int vhk_backend_poll(struct vhk_backend *be, int timeout_ms)
{
	return run_pass(be, timeout_ms, timeout_ms == 0);
}

void vhk_backend_poll_end(struct vhk_backend *be)
{
	/* Drain in-flight I/O and leave no fd of the connection behind. */
	conn_close(be);
	if (be->listen_watched)
		be_epoll_del(be, be->listen_fd);
	be->listen_watched = false;
	be->served = false;
	if (be->unlink_on_exit) {
		unlink(be->socket_path);
		be->unlink_on_exit = false;
	}
	if (atomic_load_explicit(&be->stopping, memory_order_relaxed))
		vhk_log(VHK_LOG_INFO, be->name, "stopped");
}

int vhk_backend_run(struct vhk_backend *be)
{
	int rc;

	do
		rc = run_pass(be, -1, false);
	while (rc >= 0);
	vhk_backend_poll_end(be);
	return rc == -ESHUTDOWN ? 0 : rc;
}

void vhk_backend_free(struct vhk_backend *be)
{
	if (!be)
		return;
	conn_close(be);
	if (be->dev_host_started && be->ops->host_stop)
		be->ops->host_stop(be->dev);
	be->dev_host_started = false;
	if (be->vr) {
		for (uint16_t i = 0; i < be->nvrings; i++) {
			vhk_dq_fini(&be->vr[i].dq);
			vhk_vq_free(be->vr[i].vq);
		}
		free(be->vr);
	}
	vhk_memtable_free(be->mt);
	vhk_iotlb_free(be->iotlb);
	be_workers_fini(be);
	be_close_fd(&be->listen_fd);
	be_close_fd(&be->stop_fd);
	be_close_fd(&be->epfd);
	if (be->unlink_on_exit)
		unlink(be->socket_path);
	free(be->socket_path);
	free(be->name);
	free(be);
}
