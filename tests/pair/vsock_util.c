// SPDX-License-Identifier: MIT
/*
 * vsock_util.c - helpers for the vsock driver pair tests (vsock_util.h).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vsock_util.h"
#include "vhostkit/frontend.h"

/* ---- daemon -------------------------------------------------------------- */

static int spawn_daemon(struct vt_daemon *dm, const char *bin)
{
	char vm[600];
	char *argv[] = { (char *)bin, "--vm", vm, "--iommu",
			 (char *)dm->iommu, (char *)dm->extra, NULL };
	int ret;

	snprintf(vm, sizeof(vm), "guest-cid=%u,socket=%s,uds-path=%s",
		 VT_CID, dm->sock, dm->uds);
	unlink(dm->sock);
	ret = drv_spawn(&dm->proc, argv);
	if (ret < 0)
		return ret;
	ret = drv_wait_path(dm->sock, 10000);
	if (ret < 0) {
		drv_dump_log(&dm->proc);
		return ret;
	}
	return 0;
}

int vt_daemon_start(struct vt_daemon *dm, const char *bin, const char *tag,
		    const char *iommu)
{
	return vt_daemon_start_arg(dm, bin, tag, iommu, NULL);
}

int vt_daemon_start_arg(struct vt_daemon *dm, const char *bin,
			const char *tag, const char *iommu, const char *extra)
{
	memset(dm, 0, sizeof(*dm));
	dm->extra = extra;
	snprintf(dm->sock, sizeof(dm->sock), "%s/%s.sock", drv_tmpdir(), tag);
	snprintf(dm->uds, sizeof(dm->uds), "%s/%s.uds", drv_tmpdir(), tag);
	dm->iommu = iommu;
	return spawn_daemon(dm, bin);
}

int vt_daemon_restart(struct vt_daemon *dm, const char *bin)
{
	drv_kill(&dm->proc, SIGKILL);
	unlink(dm->uds);
	return spawn_daemon(dm, bin);
}

void vt_daemon_stop(struct vt_daemon *dm)
{
	if (dm->proc.pid > 0)
		drv_kill(&dm->proc, SIGTERM);
}

/* ---- driver -------------------------------------------------------------- */

int vt_open(struct vt_drv *v, const char *sock, const struct vt_open_opts *o)
{
	struct vhk_vsock_drv_params dp = { 0 };
	struct vhk_fe_config cfg;
	int ret;

	v->fe = NULL;
	v->d = NULL;
	vhk_fe_config_init(&cfg, sock);
	cfg.name = "vsocktest";
	cfg.driver_features = vhk_vsock_drv_features(o->packed);
	cfg.packed = o->packed;
	cfg.num_queues = VHK_VSOCK_NUM_VQS;
	cfg.type_queues = VHK_VSOCK_NUM_VQS;
	cfg.queue_size = 128;
	cfg.mem_size = 32u << 20;
	cfg.bounce_pool_size = 8u << 20;
	drv_dma_config(&cfg, o->dma);
	if (o->negotiate) {
		cfg.negotiate = o->negotiate;
		cfg.iotlb = !o->no_iotlb;
	}
	ret = vhk_fe_connect(&v->fe, &cfg);
	if (ret < 0) {
		fprintf(stderr, "vt_open: connect %s: %s\n", sock,
			strerror(-ret));
		return ret;
	}
	ret = vhk_fe_start(v->fe);
	if (ret < 0) {
		fprintf(stderr, "vt_open: start: %s\n", strerror(-ret));
		goto fail;
	}
	if (!o->negotiate && vhk_fe_dma_mode(v->fe) != drv_expected_mode(o->dma)) {
		fprintf(stderr, "vt_open: asked %s, got dma mode %s\n",
			drv_dma_name(o->dma),
			vhk_fe_dma_mode_name(vhk_fe_dma_mode(v->fe)));
		ret = -EPROTO;
		goto fail;
	}
	dp.busy_poll = o->busy_poll;
	dp.poll_us = o->poll_us;
	dp.rx_buf_size = o->rx_buf_size;
	ret = vhk_vsock_drv_new(&v->d, v->fe, &dp);
	if (ret < 0) {
		fprintf(stderr, "vt_open: driver: %s\n", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	vhk_fe_close(v->fe);
	v->fe = NULL;
	return ret;
}

void vt_close(struct vt_drv *v)
{
	if (v->fe && v->d)
		vhk_fe_stop(v->fe);
	vhk_vsock_drv_free(v->d);
	v->d = NULL;
	if (v->fe)
		vhk_fe_close(v->fe);
	v->fe = NULL;
}

/* ---- data ---------------------------------------------------------------- */

uint64_t vt_hash(uint64_t h, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

void vt_fill(uint8_t *buf, size_t n, uint64_t seed, uint64_t off)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull ^
			     ((off + i) >> 3) * 0xbf58476d1ce4e5b9ull;

		x ^= x >> 31;
		buf[i] = (uint8_t)(x >> (((off + i) & 7) * 8));
	}
}

int vt_send_all(struct vhk_vsock_conn *c, const void *buf, size_t n,
		int timeout_ms)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = vhk_vsock_send(c, (const uint8_t *)buf + done,
					   n - done, timeout_ms);

		if (r < 0)
			return (int)r;
		done += (size_t)r;
	}
	return 0;
}

int vt_recv_all(struct vhk_vsock_conn *c, void *buf, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = vhk_vsock_recv(c, (uint8_t *)buf + got, n - got,
					   timeout_ms, NULL);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

int vt_recv_line(struct vhk_vsock_conn *c, char *line, size_t cap,
		 int timeout_ms)
{
	size_t n = 0;
	int ret;

	while (n + 1 < cap) {
		ret = vt_recv_all(c, line + n, 1, timeout_ms);
		if (ret < 0)
			return ret;
		if (line[n] == '\n') {
			line[n] = 0;
			return 0;
		}
		n++;
	}
	return -E2BIG;
}

/* ---- host side ------------------------------------------------------------ */

#define VT_MAX_LISTEN	8

struct vt_host {
	char uds[200];
	pthread_t thread;
	int stop_pipe[2];
	int lfd[VT_MAX_LISTEN];
	enum vt_mode mode[VT_MAX_LISTEN];
	char path[VT_MAX_LISTEN][220];
	unsigned int n;
	pthread_mutex_t lock;
};

struct vt_conn_arg {
	int fd;
	enum vt_mode mode;
};

static int write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = send(fd, (const char *)buf + done, n - done,
				 MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

static void *serve_conn(void *arg)
{
	struct vt_conn_arg a = *(struct vt_conn_arg *)arg;
	static __thread uint8_t buf[65536 + 64];
	uint64_t h = VT_HASH0, total = 0;
	char line[80];
	ssize_t r;

	free(arg);
	for (;;) {
		r = recv(a.fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (a.mode == VT_SINK) {
			h = vt_hash(h, buf, (size_t)r);
			total += (uint64_t)r;
		} else if (a.mode == VT_SEQ_ECHO) {
			if (send(a.fd, buf, (size_t)r, MSG_NOSIGNAL) != r)
				break;
		} else if (write_all(a.fd, buf, (size_t)r) < 0) {
			break;
		}
	}
	if (a.mode == VT_SINK && r == 0) {
		snprintf(line, sizeof(line), "%llu %016llx\n",
			 (unsigned long long)total, (unsigned long long)h);
		write_all(a.fd, line, strlen(line));
	}
	close(a.fd);
	return NULL;
}

static void *host_loop(void *arg)
{
	struct vt_host *h = arg;
	struct pollfd pfd[VT_MAX_LISTEN + 1];

	for (;;) {
		unsigned int n, i;

		pthread_mutex_lock(&h->lock);
		n = h->n;
		for (i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ h->lfd[i], POLLIN, 0 };
		pthread_mutex_unlock(&h->lock);
		pfd[n] = (struct pollfd){ h->stop_pipe[0], POLLIN, 0 };
		if (poll(pfd, n + 1, 100) < 0 && errno != EINTR)
			return NULL;
		if (pfd[n].revents)
			return NULL;
		for (i = 0; i < n; i++) {
			struct vt_conn_arg *a;
			pthread_t t;
			int fd;

			if (!pfd[i].revents)
				continue;
			fd = accept(h->lfd[i], NULL, NULL);
			if (fd < 0)
				continue;
			a = malloc(sizeof(*a));
			if (!a) {
				close(fd);
				continue;
			}
			a->fd = fd;
			a->mode = h->mode[i];
			if (pthread_create(&t, NULL, serve_conn, a)) {
				close(fd);
				free(a);
				continue;
			}
			pthread_detach(t);
		}
	}
}

struct vt_host *vt_host_start(const char *uds)
{
	struct vt_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	snprintf(h->uds, sizeof(h->uds), "%s", uds);
	pthread_mutex_init(&h->lock, NULL);
	if (pipe(h->stop_pipe) < 0 ||
	    pthread_create(&h->thread, NULL, host_loop, h)) {
		free(h);
		return NULL;
	}
	return h;
}

int vt_host_listen(struct vt_host *h, uint32_t port, enum vt_mode mode)
{
	char path[sizeof(h->path[0])];
	int fd;

	if (h->n == VT_MAX_LISTEN)
		return -ENOSPC;
	fd = vhk_vsock_hybrid_listen(h->uds, port, mode == VT_SEQ_ECHO);
	if (fd < 0)
		return fd;
	snprintf(path, sizeof(path), "%s_%u", h->uds, port);
	pthread_mutex_lock(&h->lock);
	memcpy(h->path[h->n], path, sizeof(path));
	h->lfd[h->n] = fd;
	h->mode[h->n] = mode;
	h->n++;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void vt_host_stop(struct vt_host *h)
{
	unsigned int i;

	if (!h)
		return;
	if (write(h->stop_pipe[1], "x", 1) != 1)
		perror("vt_host_stop");
	pthread_join(h->thread, NULL);
	for (i = 0; i < h->n; i++) {
		close(h->lfd[i]);
		unlink(h->path[i]);
	}
	close(h->stop_pipe[0]);
	close(h->stop_pipe[1]);
	free(h);
}

int vt_host_connect(const char *uds, uint32_t port, int timeout_ms)
{
	return vhk_vsock_hybrid_connect(uds, port, timeout_ms, NULL);
}
