/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vu_dispatch.c - libFuzzer target for the vhost-user message
 * dispatcher of the back-end server (src/vhost-user/dispatch.c, vring.c,
 * sock.c) with a tiny echo device.
 *
 * Seam: be_dispatch() (server_int.h) handles one received message.  Each
 * input gets a fresh server (vhk_backend_new in connect mode, never run:
 * no socket file, no thread) whose connection is one end of a socketpair;
 * the harness writes each message to the other end (header, payload, fds
 * by SCM_RIGHTS), receives it with vhk_vu_recv() as the event loop does,
 * dispatches it, then reads back and checks every reply.  At the end the
 * server is freed and the number of open fds must be what it was before
 * the input: any fd the server kept or leaked traps.
 *
 * Input layout (missing bytes read as zero):
 *   [0]     bit 0 RING_PACKED offered, bit 1 EVENT_IDX, bit 2
 *           INDIRECT_DESC, bit 3 IN_ORDER, bits 4-5 iommu policy
 *           (auto/on/off), bit 6 queue workers (cfg.queue_workers: a
 *           thread per started ring; kicks then write the eventfds the
 *           harness sent, and the harness handles the workers' hand-over
 *           with be_xq_handle() as the loop does)
 *   then    records, kind = first byte % 4:
 *     0, 3  message: req8 (>= 0xf0: a raw request32 follows), flags8,
 *           size16 (> payload max: header only, the stream breaks),
 *           nfds8 (% 13), one fd-kind byte per fd (% 4: memfd of
 *           64 KiB / eventfd / socket (peer kept and drained) / /dev/null),
 *           then size payload bytes
 *     1     kick: ring8 -> be_vring_process() as the loop does on a kick
 *     2     poke guest memory: memfd8 off16 len8 + len bytes, written
 *           into the harness's own mapping of the memfd (same pages the
 *           server maps after SET_MEM_TABLE / ADD_MEM_REG)
 * At most MAX_RECORDS records; an error that closes the connection ends
 * the input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vhostkit/backend.h"
#include "vhostkit/vhost_user.h"
#include "vhost-user/server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static bool verbose;

#define check(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

#define MAX_RECORDS	48
#define MAX_SEND_FDS	12
#define MEMFD_SIZE	(64u * 1024)
#define MAX_MAPS	16
#define MAX_PEERS	16
#define NQUEUES		2
#define CONFIG_LEN	16

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

/* ---- the echo device: copies what it reads into what it may write */

struct echo {
	struct vhk_backend *be;
	uint64_t features;
	uint8_t config[CONFIG_LEN];
	struct vhk_vq *vq[NQUEUES];
};

static uint64_t echo_features(void *dev)
{
	return ((struct echo *)dev)->features;
}

static uint64_t echo_proto(void *dev)
{
	(void)dev;
	return vhk_feature_bit(VHK_PROTO_F_MQ) |
	       vhk_feature_bit(VHK_PROTO_F_CONFIG) |
	       vhk_feature_bit(VHK_PROTO_F_INFLIGHT_SHMFD);
}

static uint16_t echo_nq(void *dev)
{
	(void)dev;
	return NQUEUES;
}

static int echo_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct echo *e = dev;

	if ((uint64_t)off + len > CONFIG_LEN)
		return -EINVAL;
	memcpy(buf, e->config + off, len);
	return 0;
}

static int echo_set_config(void *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	struct echo *e = dev;

	if ((uint64_t)off + len > CONFIG_LEN)
		return -EINVAL;
	memcpy(e->config + off, buf, len);
	return 0;
}

static int echo_queue_start(void *dev, struct vhk_dev_queue *q)
{
	struct echo *e = dev;
	uint16_t idx = vhk_dq_index(q);

	check(idx < NQUEUES && vhk_dq_vq(q) && !e->vq[idx]);
	e->vq[idx] = vhk_dq_vq(q);
	return 0;
}

/* Run by the framework loop (vhk_dq_process), on the queue's thread. */
static int echo_chain(void *dev, struct vhk_dev_queue *q, struct vhk_chain *c)
{
	struct echo *e = dev;
	uint16_t idx = vhk_dq_index(q);
	struct vhk_iter rd, wr;
	uint8_t buf[512];
	size_t n, total = 0;

	check(idx < NQUEUES && e->vq[idx] == vhk_dq_vq(q));
	vhk_chain_reader(c, &rd);
	vhk_chain_writer(c, &wr);
	while ((n = vhk_iter_read(&rd, buf, sizeof(buf))) > 0)
		total += vhk_iter_write(&wr, buf, n);
	check(total <= c->write_bytes);
	if (vhk_vq_push(vhk_dq_vq(q), c, (uint32_t)total) < 0)
		return -EIO;	/* lost completion: the device breaks */
	if (verbose)
		fprintf(stderr, "echo: vq%u chain %u bytes\n", idx,
			(unsigned int)total);
	return VHK_CHAIN_TAKEN;
}

static void echo_queue_stop(void *dev, struct vhk_dev_queue *q)
{
	struct echo *e = dev;
	uint16_t idx = vhk_dq_index(q);

	check(idx < NQUEUES && e->vq[idx] == vhk_dq_vq(q));
	e->vq[idx] = NULL;
}

static void echo_reset(void *dev)
{
	struct echo *e = dev;

	/* Queues are stopped before a reset (backend.h). */
	for (unsigned int i = 0; i < NQUEUES; i++)
		check(!e->vq[i]);
}

static const struct vhk_device_ops echo_ops = {
	.type = VHK_DEV_BLK,
	.get_features = echo_features,
	.get_protocol_features = echo_proto,
	.num_queues = echo_nq,
	.get_config = echo_get_config,
	.set_config = echo_set_config,
	.queue_start = echo_queue_start,
	.handle_chain = echo_chain,
	.queue_stop = echo_queue_stop,
	.reset = echo_reset,
};

/* ---- harness state of one input */

struct run {
	struct vhk_backend *be;
	int fe;				/* our end of the connection */
	void *map[MAX_MAPS];		/* memfds we sent, as we see them */
	unsigned int nmaps;
	int peer[MAX_PEERS];		/* peers of sockets we sent */
	unsigned int npeers;
	bool workers;			/* cfg.queue_workers */
	int ev[MAX_PEERS];		/* workers: our copies of eventfds */
	unsigned int nev;
};

static int dir_count(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	check(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Before trapping on a leak: say what is open. */
static void list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[300], t[256];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		n = readlink(p, t, sizeof(t) - 1);
		t[n > 0 ? n : 0] = 0;
		fprintf(stderr, "open fd %s -> %s\n", de->d_name, t);
	}
	closedir(d);
}

/* An fd of kind @k to send; -1 if none could be made. */
static int make_fd(struct run *run, unsigned int k)
{
	int fd = -1, sv[2];
	void *p;

	switch (k % 4) {
	case 0:
		fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
		if (fd < 0)
			return -1;
		if (ftruncate(fd, MEMFD_SIZE) < 0) {
			close(fd);
			return -1;
		}
		if (run->nmaps < MAX_MAPS) {
			p = mmap(NULL, MEMFD_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
			if (p != MAP_FAILED)
				run->map[run->nmaps++] = p;
		}
		return fd;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		/* With workers, kicks go through the eventfds (kept). */
		if (fd >= 0 && run->workers && run->nev < MAX_PEERS) {
			int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

			if (d >= 0)
				run->ev[run->nev++] = d;
		}
		return fd;
	case 2:
		if (run->npeers >= MAX_PEERS ||
		    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
			       SOCK_NONBLOCK, 0, sv) < 0)
			return open("/dev/null", O_RDWR | O_CLOEXEC);
		run->peer[run->npeers++] = sv[1];
		return sv[0];
	default:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	}
}

/* Read and drop whatever arrived on @fd (closing passed fds). */
static void drain(int fd)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 32)];
			struct cmsghdr align;
		} ctl;
		uint8_t buf[4096];
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (r <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n; i++) {
				int tmp;

				memcpy(&tmp, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				close(tmp);
			}
		}
	}
}

/*
 * Replies to the message just dispatched: each is a whole, well-formed
 * reply to @req (the server writes them before dispatch returns).
 * Returns the number of replies.
 */
static unsigned int read_replies(struct run *run, uint32_t req)
{
	unsigned int n = 0;

	for (;;) {
		struct vhk_vu_msg m;
		int fds[VHK_VU_MAX_FDS];
		unsigned int nfds = 0;
		uint8_t probe;

		if (recv(run->fe, &probe, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
			return n;
		check(vhk_vu_recv(run->fe, &m, fds, &nfds,
				  VHK_VU_MAX_FDS) == 0);
		for (unsigned int i = 0; i < nfds; i++)
			close(fds[i]);
		check(m.hdr.flags == (VHK_VU_VERSION | VHK_VU_FLAG_REPLY));
		check(m.hdr.request == req);
		n++;
	}
}

static bool send_msg(struct run *run, struct in *in)
{
	struct vhk_vu_msg m;
	int fds[MAX_SEND_FDS];
	unsigned int nfds, i;
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct be_msg_ctx ctx;
	size_t len;
	uint32_t req;
	bool need_reply, ok;
	int err, r;

	memset(&m, 0, sizeof(m));
	req = (uint32_t)take(in, 1);
	if (req >= 0xf0)
		req = (uint32_t)take(in, 4);
	else
		req %= VHK_VU_REQUEST_MAX + 1;
	m.hdr.request = req;
	m.hdr.flags = (uint32_t)take(in, 1);
	/* Mostly well-formed: version 1 and maybe NEED_REPLY. */
	if (!(m.hdr.flags & 0x80))
		m.hdr.flags = VHK_VU_VERSION |
			      (m.hdr.flags & VHK_VU_FLAG_NEED_REPLY);
	m.hdr.size = (uint32_t)take(in, 2);
	nfds = (unsigned int)take(in, 1) % (MAX_SEND_FDS + 1);
	for (i = 0; i < nfds; i++) {
		fds[i] = make_fd(run, (unsigned int)take(in, 1));
		if (fds[i] < 0)
			break;
	}
	nfds = i;
	len = sizeof(m.hdr);
	if (m.hdr.size <= sizeof(m.payload)) {
		for (i = 0; i < m.hdr.size; i++)
			((uint8_t *)&m.payload)[i] = (uint8_t)take(in, 1);
		len += m.hdr.size;
	}
	iov.iov_base = &m;
	iov.iov_len = len;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
		CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
		CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), fds,
		       sizeof(int) * nfds);
	}
	r = (int)sendmsg(run->fe, &mh, MSG_NOSIGNAL);
	/* In flight now: the server owns the copies, we drop ours. */
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	check(r == (int)len);

	/* What the event loop does with a readable connection. */
	memset(&ctx, 0, sizeof(ctx));
	err = vhk_vu_recv(run->be->conn_fd, &ctx.msg, ctx.fds, &ctx.nfds,
			  VHK_VU_MAX_FDS);
	if (err) {
		check(err == -EPROTO || err == -EMSGSIZE);
		check(ctx.nfds == 0);
		return false;
	}
	need_reply = ctx.msg.hdr.flags & VHK_VU_FLAG_NEED_REPLY;
	r = be_dispatch(run->be, &ctx);
	for (i = 0; i < VHK_VU_MAX_FDS; i++)
		check(i >= ctx.nfds || ctx.fds[i] == -1);
	ok = r == 0;
	{
		unsigned int n = read_replies(run, req);

		check(n <= 1);
		/* A request that wants an answer gets one (or the
		 * connection closes). */
		if (ok && need_reply && req < VHK_VU_REQUEST_MAX)
			check(n == 1 || r != 0);
	}
	for (i = 0; i < run->npeers; i++)
		drain(run->peer[i]);
	return ok;
}

static void kick(struct run *run, struct in *in)
{
	uint16_t idx = (uint16_t)(take(in, 1) % NQUEUES);

	if (run->workers) {
		/* A ring's kicks are its worker's: signal every eventfd we
		 * sent (kick or call, the server does not say which), let
		 * the workers run, and do what the loop does with their
		 * hand-over (misses, broken). */
		uint64_t one = 1;

		for (unsigned int i = 0; i < run->nev; i++)
			if (write(run->ev[i], &one, sizeof(one)) < 0)
				continue;
		sched_yield();
		be_xq_handle(run->be);
		(void)read_replies(run, 0);
		for (unsigned int i = 0; i < run->npeers; i++)
			drain(run->peer[i]);
		return;
	}
	be_vring_process(run->be, idx);
	/* The loop re-kicks deferred rings; a few rounds are enough. */
	for (int i = 0; i < 4 && run->be->vr[idx].again; i++) {
		run->be->vr[idx].again = false;
		be_vring_process(run->be, idx);
	}
	(void)read_replies(run, 0);
	for (unsigned int i = 0; i < run->npeers; i++)
		drain(run->peer[i]);
}

static void poke(struct run *run, struct in *in)
{
	unsigned int k = (unsigned int)take(in, 1);
	size_t off = (size_t)take(in, 2), len = (size_t)take(in, 1);
	uint8_t buf[256];

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)take(in, 1);
	if (!run->nmaps)
		return;
	if (off + len > MEMFD_SIZE)
		len = MEMFD_SIZE - off;
	memcpy((uint8_t *)run->map[k % run->nmaps] + off, buf, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	vhk_log_set_level(verbose ? VHK_LOG_DEBUG : VHK_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct echo dev;
	struct vhk_backend_config cfg = {
		.socket_path = "/nonexistent/vhostkit-fuzz.sock",
		.connect = true,
		.name = "fuzz",
	};
	struct in in = { data, size };
	struct run run = { .be = NULL, .fe = -1 };
	int sv[2], fds_before, threads_before;
	uint8_t c;

	fds_before = dir_count("/proc/self/fd");
	threads_before = dir_count("/proc/self/task");
	c = (uint8_t)take(&in, 1);
	memset(&dev, 0, sizeof(dev));
	dev.features = vhk_feature_bit(VHK_F_VERSION_1);
	if (c & 1)
		vhk_set_feature(&dev.features, VHK_F_RING_PACKED);
	if (c & 2)
		vhk_set_feature(&dev.features, VHK_F_EVENT_IDX);
	if (c & 4)
		vhk_set_feature(&dev.features, VHK_F_INDIRECT_DESC);
	if (c & 8)
		vhk_set_feature(&dev.features, VHK_F_IN_ORDER);
	cfg.iommu = (enum vhk_iommu_policy)(((c >> 4) & 3) % 3);
	cfg.queue_workers = c & 64;
	run.workers = cfg.queue_workers;
	check(vhk_backend_new(&run.be, &cfg, &echo_ops, &dev) == 0);
	dev.be = run.be;
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	run.be->conn_fd = sv[0];	/* what conn_open() does */
	run.fe = sv[1];

	for (unsigned int rec = 0; rec < MAX_RECORDS && in.n; rec++) {
		unsigned int kind = (unsigned int)take(&in, 1) % 4;

		if (kind == 1)
			kick(&run, &in);
		else if (kind == 2)
			poke(&run, &in);
		else if (!send_msg(&run, &in))
			break;
	}

	/* Disconnect: free closes the connection and every fd it holds. */
	vhk_backend_free(run.be);
	for (unsigned int i = 0; i < NQUEUES; i++)
		check(!dev.vq[i]);
	close(run.fe);
	for (unsigned int i = 0; i < run.nev; i++)
		close(run.ev[i]);
	for (unsigned int i = 0; i < run.npeers; i++)
		close(run.peer[i]);
	for (unsigned int i = 0; i < run.nmaps; i++)
		munmap(run.map[i], MEMFD_SIZE);
	if (dir_count("/proc/self/fd") != fds_before) {
		fprintf(stderr, "fd leak: %d open before the input, %d after\n",
			fds_before, dir_count("/proc/self/fd"));
		list_fds();
		__builtin_trap();
	}
	/* No worker thread outlives the server.  A joined thread leaves
	 * /proc/self/task a moment after pthread_join() returns. */
	for (int i = 0; dir_count("/proc/self/task") != threads_before; i++) {
		check(i < 1000);
		usleep(1000);
	}
	return 0;
}
