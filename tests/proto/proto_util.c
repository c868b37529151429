/* SPDX-License-Identifier: MIT */
/*
 * proto_util.c - the device under test (echo or blk), server thread and
 * raw client for proto tests.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon.h"
#include "proto_util.h"
#include "vhostkit/backend.h"
#include "vhostkit/virtio_blk.h"

#define BLK_SECTOR 512u

enum pt_device pt_device(void)
{
	const char *d = getenv("VHK_PROTO_DEVICE");

	return d && !strcmp(d, "blk") ? PT_DEV_BLK : PT_DEV_ECHO;
}

uint32_t pt_config_len(void)
{
	return pt_device() == PT_DEV_BLK ?
	       (uint32_t)sizeof(struct vhk_blk_config) : ECHO_CONFIG_LEN;
}

unsigned int pt_chains_per_echo(void)
{
	return pt_device() == PT_DEV_BLK ? 2 : 1;
}

/*
 * ---- the counting shim: the device under test (the echo device) behind
 * ops that count what the server asks of it.  Its queue_kick()
 * runs the framework loop, vhk_dq_process(), over the device's
 * handle_chain(), so the suites exercise that loop for every device.
 */

static struct pt_echo *shim(void *dev)
{
	return dev;
}

static uint64_t shim_features(void *dev)
{
	struct pt_echo *e = shim(dev);

	return e->ops->get_features(e->dev);
}

static uint64_t shim_proto(void *dev)
{
	struct pt_echo *e = shim(dev);

	return e->ops->get_protocol_features ?
	       e->ops->get_protocol_features(e->dev) : 0;
}

static uint16_t shim_nq(void *dev)
{
	struct pt_echo *e = shim(dev);

	return e->ops->num_queues(e->dev);
}

static unsigned int shim_max_iov(void *dev)
{
	struct pt_echo *e = shim(dev);

	return e->ops->max_iov ? e->ops->max_iov(e->dev) : 0;
}

static int shim_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct pt_echo *e = shim(dev);

	return e->ops->get_config ? e->ops->get_config(e->dev, off, buf, len) :
				    -EINVAL;
}

static int shim_set_config(void *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	struct pt_echo *e = shim(dev);

	return e->ops->set_config ? e->ops->set_config(e->dev, off, buf, len) :
				    -EINVAL;
}

static int shim_set_features(void *dev, uint64_t acked)
{
	struct pt_echo *e = shim(dev);

	return e->ops->set_features ? e->ops->set_features(e->dev, acked) : 0;
}

static int shim_queue_start(void *dev, struct vhk_dev_queue *q)
{
	struct pt_echo *e = shim(dev);
	int err = 0;

	if (vhk_dq_index(q) >= PT_NQUEUES)
		return -EINVAL;
	if (e->ops->queue_start)
		err = e->ops->queue_start(e->dev, q);
	if (!err)
		atomic_fetch_add(&e->starts, 1);
	return err;
}

static int shim_chain(void *dev, struct vhk_dev_queue *q, struct vhk_chain *c)
{
	struct pt_echo *e = shim(dev);
	int r = e->ops->handle_chain(e->dev, q, c);

	if (r == VHK_CHAIN_TAKEN)
		atomic_fetch_add(&e->chains, 1);
	return r;
}

static void shim_batch_end(void *dev, struct vhk_dev_queue *q)
{
	struct pt_echo *e = shim(dev);

	if (e->ops->batch_end)
		e->ops->batch_end(e->dev, q);
}

/* What the framework loop drives: the device's chains, counted. */
static const struct vhk_device_ops shim_chain_ops = {
	.handle_chain = shim_chain,
	.batch_end = shim_batch_end,
};

static enum vhk_kick_result shim_kick(void *dev, struct vhk_dev_queue *q)
{
	struct pt_echo *e = shim(dev);
	enum vhk_kick_result res;
	bool was_broken = vhk_vq_broken(vhk_dq_vq(q));

	atomic_fetch_add(&e->kicks, 1);
	res = vhk_dq_process(q, &shim_chain_ops, e);
	if (res == VHK_KICK_PARKED)
		atomic_fetch_add(&e->parks, 1);
	if (!was_broken && vhk_vq_broken(vhk_dq_vq(q)))
		atomic_fetch_add(&e->errors, 1);
	return res;
}

static void shim_queue_stop(void *dev, struct vhk_dev_queue *q)
{
	struct pt_echo *e = shim(dev);

	if (e->ops->queue_stop)
		e->ops->queue_stop(e->dev, q);
	atomic_fetch_add(&e->stops, 1);
}

static void shim_drain(void *dev)
{
	struct pt_echo *e = shim(dev);

	if (e->ops->drain)
		e->ops->drain(e->dev);
	atomic_fetch_add(&e->drains, 1);
}

static void shim_reset(void *dev)
{
	struct pt_echo *e = shim(dev);

	if (e->ops->reset)
		e->ops->reset(e->dev);
	atomic_fetch_add(&e->resets, 1);
}

static void shim_init(struct pt_echo *e, enum vhk_device_type type)
{
	e->shim_ops = (struct vhk_device_ops){
		.type = type,
		.get_features = shim_features,
		.get_protocol_features = shim_proto,
		.num_queues = shim_nq,
		.max_iov = shim_max_iov,
		.get_config = shim_get_config,
		.set_config = shim_set_config,
		.set_features = shim_set_features,
		.queue_start = shim_queue_start,
		.queue_kick = shim_kick,
		.queue_stop = shim_queue_stop,
		.drain = shim_drain,
		.reset = shim_reset,
	};
}

/* ---- server thread */

/*
 * The server thread runs under the daemons' seccomp allowlist (what
 * vhostkit-blk and vhostkit-vsock load after setup: docs/daemons.md), so
 * every protocol and hostile-input path these suites drive is proven not
 * to need a system call the sandboxed daemons forbid - a forbidden one
 * kills the test with the call's number.  VHK_PROTO_NO_SECCOMP=1 turns it
 * off (debugging only).
 */
static void *server_main(void *arg)
{
	/* vhostkit-vsock's own additions (tools/vhostkit-vsock.c) */
	static const char *const vsock_extra[] = {
		"timerfd_settime", "timerfd_gettime", "unlink", NULL,
	};
	struct pt_server *s = arg;
	struct vhk_daemon d;

	vhk_daemon_init(&d, "proto-server", NULL);
	d.unix_connect = true;		/* connect mode, vsock's host side */
	d.extra_syscalls = vsock_extra;
	if (!getenv("VHK_PROTO_NO_SECCOMP") &&
	    vhk_sandbox_filter_thread(&d) < 0) {
		s->run_rc = -EPERM;
		return NULL;
	}
	s->run_rc = vhk_backend_run(s->be);
	return NULL;
}

int pt_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

int pt_wait_fds(int want)
{
	int n = pt_fd_count();

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = pt_fd_count();
	}
	return n;
}

void pt_server_start(struct pt_server *s, const struct pt_server_opts *o)
{
	struct vhk_backend_config cfg = { 0 };

	memset(s, 0, sizeof(*s));
	strcpy(s->dir, "/tmp/vhk-proto-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
	s->echo.type = o && o->type ? o->type : VHK_DEV_BLK;
	if (pt_device() == PT_DEV_BLK) {
		struct vhk_blk_opts bo = { .num_queues = PT_NQUEUES,
					   .serial = "proto0" };
		int fd;

		snprintf(s->disk_path, sizeof(s->disk_path), "%s/disk",
			 s->dir);
		fd = open(s->disk_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, PT_BLK_DISK_SIZE), 0);
		close(fd);
		bo.disk = s->disk_path;
		assert_int_equal(vhk_blk_open(&s->blk, &bo), 0);
		s->echo.ops = &vhk_blk_ops;
		s->echo.dev = s->blk;
	} else {
		echo_dev_init(&s->echo_dev);
		s->echo.ops = &echo_dev_ops;
		s->echo.dev = &s->echo_dev;
		s->echo.config = s->echo_dev.config;
	}
	s->echo.features = s->echo.ops->get_features(s->echo.dev);
	shim_init(&s->echo, s->echo.type);
	cfg.socket_path = s->path;
	cfg.name = "proto0";
	cfg.iommu = o ? o->iommu : VHK_IOMMU_AUTO;
	cfg.miss_timeout_ms = o ? o->miss_timeout_ms : 0;
	cfg.connect = o && o->connect;
	cfg.once = o && o->once;
	cfg.queue_workers = o && o->queue_workers;
	s->connect = cfg.connect;
	s->listen_fd = -1;
	if (s->connect) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		strncpy(sa.sun_path, s->path, sizeof(sa.sun_path) - 1);
		assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa,
				      sizeof(sa)), 0);
		assert_int_equal(listen(s->listen_fd, 1), 0);
	}
	assert_int_equal(vhk_backend_new(&s->be, &cfg, &s->echo.shim_ops,
					 &s->echo), 0);
	s->echo.be = s->be;
	if (o && o->before_run)
		o->before_run(s, o->opaque);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	s->base_fds = pt_fd_count();
}

void pt_server_stop(struct pt_server *s)
{
	struct stat st;

	vhk_backend_stop(s->be);
	pthread_join(s->thread, NULL);
	assert_int_equal(s->run_rc, 0);
	if (s->connect) {
		/* Connect mode: the socket file is the front-end's. */
		assert_int_equal(stat(s->path, &st), 0);
		close(s->listen_fd);
		unlink(s->path);
	} else {
		/* The socket file is removed when run() returns. */
		assert_int_not_equal(stat(s->path, &st), 0);
	}
	pt_server_free(s);
}

void pt_server_free(struct pt_server *s)
{
	vhk_backend_free(s->be);
	s->be = NULL;
	vhk_blk_close(s->blk);
	s->blk = NULL;
	if (s->disk_path[0])
		unlink(s->disk_path);
	rmdir(s->dir);
}

/* ---- raw client */

int pt_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
	for (int i = 0; i < 200; i++) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		usleep(10000);
	}
	fail_msg("cannot connect to %s", path);
	return -1;
}

int pt_send_raw(int sock, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned int nfds)
{
	uint8_t buf[sizeof(struct vhk_vu_hdr) + 1024];
	struct vhk_vu_hdr h = { .request = req, .flags = flags, .size = size };
	union {
		char b[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr a;
	} ctl;
	size_t len = sizeof(h) + (size > 1024 ? 0 : size);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memcpy(buf, &h, sizeof(h));
	if (size && size <= 1024 && payload)
		memcpy(buf + sizeof(h), payload, size);
	else if (size && size <= 1024)
		memset(buf + sizeof(h), 0, size);
	if (nfds) {
		struct cmsghdr *c;

		assert_true(nfds <= 64);
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno ? -errno : -EIO;
	return 0;
}

int pt_recv(int sock, struct vhk_vu_msg *m, int *fds, unsigned int *nfds)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int dummy[VHK_VU_MAX_FDS];
	unsigned int dn;
	int r;

	r = poll(&p, 1, 2000);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	return vhk_vu_recv(sock, m, fds ? fds : dummy, nfds ? nfds : &dn,
			   VHK_VU_MAX_FDS);
}

int64_t pt_req(int sock, uint32_t req, const void *payload, uint32_t size,
	       const int *fds, unsigned int nfds)
{
	struct vhk_vu_msg m;
	int r;

	r = pt_send_raw(sock, req, VHK_VU_VERSION | VHK_VU_FLAG_NEED_REPLY,
			payload, size, fds, nfds);
	if (r)
		return r;
	r = pt_recv(sock, &m, NULL, NULL);
	if (r)
		return r;
	assert_int_equal(m.hdr.request, req);
	assert_true(m.hdr.flags & VHK_VU_FLAG_REPLY);
	assert_int_equal(m.hdr.size, 8);
	return (int64_t)m.payload.u64;
}

int pt_get(int sock, uint32_t req, const void *payload, uint32_t size,
	   struct vhk_vu_msg *reply, int *fds, unsigned int *nfds)
{
	int r = pt_send_raw(sock, req, VHK_VU_VERSION, payload, size, NULL, 0);

	if (r)
		return r;
	r = pt_recv(sock, reply, fds, nfds);
	if (r)
		return r;
	assert_int_equal(reply->hdr.request, req);
	return (int)reply->hdr.size;
}

uint64_t pt_get_u64(int sock, uint32_t req)
{
	struct vhk_vu_msg m;

	assert_int_equal(pt_get(sock, req, NULL, 0, &m, NULL, NULL), 8);
	return m.payload.u64;
}

bool pt_alive(int sock)
{
	struct vhk_vu_msg m;

	return pt_get(sock, VHK_VU_GET_FEATURES, NULL, 0, &m, NULL, NULL) == 8;
}

bool pt_closed(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char c;

	if (poll(&p, 1, 2000) != 1)
		return false;
	return recv(sock, &c, 1, MSG_DONTWAIT) == 0;
}

/* ---- guest */

void pt_guest_init(struct pt_guest *g)
{
	memset(g, 0, sizeof(*g));
	g->memfd = memfd_create("pt-guest", MFD_CLOEXEC);
	assert_true(g->memfd >= 0);
	assert_int_equal(ftruncate(g->memfd, PT_MEM_SIZE), 0);
	g->mem = mmap(NULL, PT_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->memfd, 0);
	assert_true(g->mem != MAP_FAILED);
	g->uva = (uint64_t)(uintptr_t)g->mem;
	for (int i = 0; i < PT_NQUEUES; i++) {
		g->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(g->kick[i] >= 0 && g->call[i] >= 0);
	}
}

void pt_guest_fini(struct pt_guest *g)
{
	for (int i = 0; i < PT_NQUEUES; i++) {
		vhk_drv_vq_free(g->dq[i]);
		g->dq[i] = NULL;
		close(g->kick[i]);
		close(g->call[i]);
	}
	munmap(g->mem, PT_MEM_SIZE);
	close(g->memfd);
}

uint64_t pt_dev_addr(const struct pt_guest *g, uint64_t gpa)
{
	return g->iotlb ? PT_IOVA_BASE + gpa : gpa;
}

void pt_negotiate(int sock, struct pt_guest *g, uint64_t features,
		  uint64_t proto)
{
	uint64_t offered, poff;

	offered = pt_get_u64(sock, VHK_VU_GET_FEATURES);
	assert_true(vhk_has_feature(offered, VHK_F_PROTOCOL_FEATURES));
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	poff = pt_get_u64(sock, VHK_VU_GET_PROTOCOL_FEATURES);
	vhk_set_feature(&proto, VHK_PROTO_F_REPLY_ACK);
	assert_int_equal(proto & ~poff, 0);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	assert_int_equal(pt_get_u64(sock, VHK_VU_GET_QUEUE_NUM), PT_NQUEUES);
	vhk_set_feature(&features, VHK_F_PROTOCOL_FEATURES);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &features, 8,
				NULL, 0), 0);
	g->features = features;
}

void pt_send_mem(int sock, struct pt_guest *g)
{
	struct vhk_vu_memory m = { .nregions = 1 };

	m.regions[0].guest_phys_addr = 0;
	m.regions[0].memory_size = PT_MEM_SIZE;
	m.regions[0].userspace_addr = g->uva;
	m.regions[0].mmap_offset = 0;
	assert_int_equal(pt_req(sock, VHK_VU_SET_MEM_TABLE, &m, 8 + 32,
				&g->memfd, 1), 0);
}

int64_t pt_setup_vq(int sock, struct pt_guest *g, uint16_t idx, uint16_t num)
{
	uint64_t ring_gpa = 0x10000ull * (idx + 1);
	struct vhk_vu_vring_state st = { .index = idx, .num = num };
	struct vhk_vu_vring_addr a = { .index = idx };
	struct vhk_vq_addrs va;
	uint64_t ring_addr;
	uint64_t u;
	bool packed = vhk_has_feature(g->features, VHK_F_RING_PACKED);

	/* Ring addresses: UVAs (or GPAs if asked), or IOVAs when an IOTLB
	 * is in use. */
	ring_addr = g->iotlb ? PT_IOVA_BASE + ring_gpa :
		    g->ring_gpa ? ring_gpa : g->uva + ring_gpa;
	vhk_drv_vq_free(g->dq[idx]);
	g->dq[idx] = NULL;
	g->blk_step[idx] = 0;
	assert_true(vhk_drv_vq_mem_size(packed, num) <= 0x10000);
	assert_int_equal(vhk_drv_vq_new(&g->dq[idx], num, g->features,
					g->mem + ring_gpa, ring_addr), 0);
	vhk_drv_vq_addrs(g->dq[idx], &va);
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_NUM, &st, 8, NULL, 0),
			 0);
	st.num = packed ? (1u << 15) | (1u << 31) : 0;
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_BASE, &st, 8, NULL, 0),
			 0);
	a.desc_user_addr = va.desc;
	a.avail_user_addr = va.driver;
	a.used_user_addr = va.device;
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_ADDR, &a, sizeof(a),
				NULL, 0), 0);
	u = idx;
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_CALL, &u, 8,
				&g->call[idx], 1), 0);
	st.num = 1;
	if (!g->no_enable)
		assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_ENABLE, &st, 8,
					NULL, 0), 0);
	return pt_req(sock, VHK_VU_SET_VRING_KICK, &u, 8, &g->kick[idx], 1);
}

bool pt_wait_call(struct pt_guest *g, uint16_t idx, int ms)
{
	struct pollfd p = { .fd = g->call[idx], .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) != 1)
		return false;
	return read(g->call[idx], &v, 8) == 8;
}

#define OUT_GPA(idx)	(0x100000 + (idx) * 0x10000ull)
#define IN_GPA(idx)	(0x200000 + (idx) * 0x10000ull)

static void kick(struct pt_guest *g, uint16_t idx)
{
	uint64_t one = 1;

	/* Always kick: the test is about the server, not suppression. */
	assert_int_equal(write(g->kick[idx], &one, 8), 8);
}

/*
 * One blk request on queue @idx, sector @idx (VIRTIO 1.2, 5.2.6): the
 * header at OUT_GPA; T_OUT: @len bytes of @data zero-padded to a sector
 * after it, the status byte at IN_GPA; T_IN: the sector and the status
 * byte at IN_GPA.  The status starts as 0xff (no VIRTIO_BLK_S_*).
 */
static void blk_place(struct pt_guest *g, uint16_t idx, uint32_t type,
		      const char *data, size_t len)
{
	struct vhk_blk_req_hdr h = { .type = vhk_le32_make(type),
				     .sector = vhk_le64_make(idx) };
	uint8_t *out = g->mem + OUT_GPA(idx), *in = g->mem + IN_GPA(idx);
	bool wr = type == VHK_BLK_T_OUT;
	struct vhk_drv_seg segs[2] = {
		{ pt_dev_addr(g, OUT_GPA(idx)),
		  (uint32_t)sizeof(h) + (wr ? BLK_SECTOR : 0), false },
		{ pt_dev_addr(g, IN_GPA(idx)), (wr ? 0 : BLK_SECTOR) + 1,
		  true },
	};

	memcpy(out, &h, sizeof(h));
	if (wr) {
		memset(out + sizeof(h), 0, BLK_SECTOR);
		memcpy(out + sizeof(h), data, len);
	}
	memset(in, 0xff, BLK_SECTOR + 1);
	assert_int_equal(vhk_drv_vq_add(g->dq[idx], segs, 2, g), 0);
	vhk_drv_vq_publish(g->dq[idx]);
}

void pt_echo_place(struct pt_guest *g, uint16_t idx, const char *out,
		   size_t in_len)
{
	struct vhk_drv_seg segs[2] = {
		{ pt_dev_addr(g, OUT_GPA(idx)), (uint32_t)strlen(out), false },
		{ pt_dev_addr(g, IN_GPA(idx)), (uint32_t)in_len, true },
	};

	if (pt_device() == PT_DEV_BLK) {
		assert_true(strlen(out) <= BLK_SECTOR);
		blk_place(g, idx, VHK_BLK_T_OUT, out, strlen(out));
		g->blk_step[idx] = 1;
		g->blk_len[idx] = (uint32_t)strlen(out);
		return;
	}
	memcpy(g->mem + OUT_GPA(idx), out, strlen(out));
	memset(g->mem + IN_GPA(idx), 0, in_len);
	assert_int_equal(vhk_drv_vq_add(g->dq[idx], segs, 2, g), 0);
	vhk_drv_vq_publish(g->dq[idx]);
}

void pt_echo_post(struct pt_guest *g, uint16_t idx, const char *out,
		  size_t in_len)
{
	pt_echo_place(g, idx, out, in_len);
	kick(g, idx);
}

/* Wait up to @wait_ms for one used buffer of queue @idx: 0 (its length
 * in @len), -ETIMEDOUT or the driver ring's error. */
static int wait_used(struct pt_guest *g, uint16_t idx, uint32_t *len,
		     int wait_ms)
{
	struct timespec t0, t;
	void *tok;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		r = vhk_drv_vq_get_used(g->dq[idx], &tok, len);
		if (r < 0)
			return r;
		if (r == 1)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 >= wait_ms)
			return -ETIMEDOUT;
		pt_wait_call(g, idx, 20);
	}
}

/* The blk round trip: the write's status, then the read back. */
static int blk_collect(struct pt_guest *g, uint16_t idx, char *in,
		       size_t in_len, int wait_ms)
{
	const uint8_t *buf = g->mem + IN_GPA(idx);
	uint32_t len;
	int r;

	if (g->blk_step[idx] == 1) {
		r = wait_used(g, idx, &len, wait_ms);
		if (r < 0)
			return r;
		g->blk_step[idx] = 0;
		if (len != 1)
			return -EPROTO;
		if (buf[0] != VHK_BLK_S_OK)
			return -EIO;
		blk_place(g, idx, VHK_BLK_T_IN, NULL, 0);
		g->blk_step[idx] = 2;
		kick(g, idx);
	}
	/* Nothing posted (step 0): a used buffer is a protocol error, no
	 * used buffer a timeout, as for the echo device. */
	r = wait_used(g, idx, &len, wait_ms);
	if (r < 0)
		return r;
	if (g->blk_step[idx] != 2)
		return -EPROTO;
	g->blk_step[idx] = 0;
	if (len != BLK_SECTOR + 1)
		return -EPROTO;
	if (buf[BLK_SECTOR] != VHK_BLK_S_OK)
		return -EIO;
	if (g->blk_len[idx] > in_len)
		return -EPROTO;
	memcpy(in, buf, g->blk_len[idx]);
	return (int)g->blk_len[idx];
}

int pt_echo_collect(struct pt_guest *g, uint16_t idx, char *in, size_t in_len,
		    int wait_ms)
{
	uint32_t len;
	int r;

	if (pt_device() == PT_DEV_BLK)
		return blk_collect(g, idx, in, in_len, wait_ms);
	r = wait_used(g, idx, &len, wait_ms);
	if (r < 0)
		return r;
	if (len > in_len)
		return -EPROTO;
	memcpy(in, g->mem + IN_GPA(idx), len);
	return (int)len;
}

int pt_echo_once(struct pt_guest *g, uint16_t idx, const char *out,
		 char *in, size_t in_len, int wait_ms)
{
	pt_echo_post(g, idx, out, in_len);
	return pt_echo_collect(g, idx, in, in_len, wait_ms);
}

double pt_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}
