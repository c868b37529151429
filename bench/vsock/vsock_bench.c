// SPDX-License-Identifier: MIT
/*
 * vsock_bench.c - throughput, round trip and connection rate through the
 * userspace vsock driver (the guest's role) and vhostkit-vsock, each next
 * to the same transfer over a Unix socketpair in the same run: the
 * physical limit of a hybrid design, where every byte crosses one Unix
 * socket.  See vsock_bench.h and docs/benchmarks.md.
 *
 * host -> guest: a host thread CONNECTs through the daemon's Unix socket
 * and writes W-byte writes for a fixed time; the driver reads.  guest ->
 * host: the driver writes W-byte sends to CID 2; a host thread reads from
 * the Unix socket the daemon connected.  The socketpair twin has a writer
 * thread and a reader thread doing the same writes and reads.  CPU per GiB
 * is this process (driver + host thread) plus the daemon, from rusage and
 * /proc/PID/stat.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vsock_bench.h"
#include "vhostkit/frontend.h"
#include "vhostkit/vsock_driver.h"

#define P_SINK	7001	/* host reads to EOF (guest -> host) */
#define P_ECHO	7002	/* host echoes (ping-pong) */
#define P_DROP	7003	/* host accepts and closes (conn/s) */
#define P_H2G	7100	/* driver listens (host -> guest) */
#define T_MS	20000
#define BUF	(1u << 20)

struct side_cpu {
	double self, daemon;
};

static double proc_cpu(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void cpu_mark(struct side_cpu *c, pid_t daemon)
{
	c->self = self_cpu();
	c->daemon = proc_cpu(daemon);
}

static double cpu_since(const struct side_cpu *c, pid_t daemon)
{
	return self_cpu() - c->self + proc_cpu(daemon) - c->daemon;
}

static double secs(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e9;
}

/* ---- Unix-side workers ---------------------------------------------------- */

struct worker {
	int fd;
	unsigned int wsize;
	double seconds;
	uint64_t bytes;
	int err;
};

/* Write @wsize-byte writes for @seconds, then shut down the write side. */
static void *unix_writer(void *p)
{
	struct worker *w = p;
	uint8_t *buf = calloc(1, w->wsize);
	uint64_t end = vhk_now_ns() + (uint64_t)(w->seconds * 1e9);
	unsigned int i = 0;

	if (!buf) {
		w->err = -ENOMEM;
		return NULL;
	}
	while ((i++ & 63) || vhk_now_ns() < end) {
		ssize_t r = send(w->fd, buf, w->wsize, MSG_NOSIGNAL);

		if (r < 0) {
			w->err = -errno;
			break;
		}
		w->bytes += (uint64_t)r;
	}
	shutdown(w->fd, SHUT_WR);
	free(buf);
	return NULL;
}

/* Read until EOF. */
static void *unix_reader(void *p)
{
	struct worker *w = p;
	uint8_t *buf = malloc(BUF);
	ssize_t r;

	if (!buf) {
		w->err = -ENOMEM;
		return NULL;
	}
	while ((r = recv(w->fd, buf, BUF, 0)) > 0)
		w->bytes += (uint64_t)r;
	if (r < 0)
		w->err = -errno;
	free(buf);
	return NULL;
}

static void *unix_echo(void *p)
{
	struct worker *w = p;
	char b[64];
	ssize_t r;

	while ((r = recv(w->fd, b, sizeof(b), 0)) > 0)
		if (send(w->fd, b, (size_t)r, MSG_NOSIGNAL) != r)
			break;
	return NULL;
}

/* Accept on @lfd once and run @fn on the connection. */
struct acceptor {
	int lfd;
	void *(*fn)(void *);
	struct worker w;
	unsigned int count;	/* P_DROP: accept and close this many */
};

static void *accept_run(void *p)
{
	struct acceptor *a = p;

	if (a->count) {
		for (unsigned int i = 0; i < a->count; i++) {
			int fd = accept(a->lfd, NULL, NULL);

			if (fd < 0)
				return NULL;
			close(fd);
		}
		return NULL;
	}
	a->w.fd = accept(a->lfd, NULL, NULL);
	if (a->w.fd < 0) {
		a->w.err = -errno;
		return NULL;
	}
	a->fn(&a->w);
	close(a->w.fd);
	return NULL;
}

static int vt_send_all_impl(struct vhk_vsock_conn *c, const uint8_t *p,
			    size_t n)
{
	while (n) {
		ssize_t r = vhk_vsock_send(c, p, n, T_MS);

		if (r < 0)
			return (int)r;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void unlink_port(const char *uds, uint32_t port)
{
	char path[300];

	snprintf(path, sizeof(path), "%s_%u", uds, port);
	unlink(path);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned int n)
{
	double s[VSB_MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- the measurements ------------------------------------------------------ */

struct result {
	double mbps, cpu_per_gib;
};

static struct result mk_result(uint64_t bytes, double s, double cpu)
{
	struct result r = { 0, 0 };

	if (s > 0)
		r.mbps = (double)bytes / s / 1e6;
	if (bytes)
		r.cpu_per_gib = cpu / ((double)bytes / (1u << 30));
	return r;
}

static int pair_throughput(unsigned int wsize, double seconds,
			   unsigned int buf, struct result *out)
{
	struct worker wr = { .wsize = wsize, .seconds = seconds };
	struct worker rd = { 0 };
	struct side_cpu c;
	pthread_t a, b;
	uint64_t t0;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/*
	 * As much buffering as the vsock flow's credit (the kernel doubles
	 * it for its own overhead and caps it at net.core.wmem_max): the
	 * socketpair never gets less room than the driver.
	 */
	if (buf) {
		int sz = (int)buf;

		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	wr.fd = sv[0];
	rd.fd = sv[1];
	cpu_mark(&c, 0);
	t0 = vhk_now_ns();
	pthread_create(&b, NULL, unix_reader, &rd);
	pthread_create(&a, NULL, unix_writer, &wr);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	*out = mk_result(rd.bytes, secs(t0, vhk_now_ns()), cpu_since(&c, 0));
	close(sv[0]);
	close(sv[1]);
	return wr.err ? wr.err : rd.err;
}

struct h2g_host {
	const char *uds;
	uint32_t port;
	struct worker w;
};

/* The host half of host -> guest: CONNECT, then write for a while. */
static void *h2g_host_run(void *p)
{
	struct h2g_host *h = p;

	h->w.fd = vhk_vsock_hybrid_connect(h->uds, h->port, T_MS, NULL);
	if (h->w.fd < 0) {
		h->w.err = h->w.fd;
		return NULL;
	}
	unix_writer(&h->w);
	/* Half-closed: keep the socket until the guest side closes. */
	{
		char b;

		while (recv(h->w.fd, &b, 1, 0) > 0)
			;
	}
	close(h->w.fd);
	return NULL;
}

static int h2g_throughput(struct vhk_vsock_drv *d, const struct vsb_opts *o,
			  unsigned int wsize, uint32_t port, struct result *out)
{
	struct h2g_host h = { o->uds, port,
			      { .wsize = wsize, .seconds = o->seconds } };
	struct vhk_vsock_conn *c = NULL;
	uint8_t *buf = malloc(BUF);
	uint64_t got = 0, t0;
	struct side_cpu cpu;
	pthread_t t;
	ssize_t r = 0;
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = vhk_vsock_listen(d, port, VHK_VSOCK_TYPE_STREAM, 1);
	if (ret < 0)
		goto out;
	cpu_mark(&cpu, o->daemon_pid);
	t0 = vhk_now_ns();
	pthread_create(&t, NULL, h2g_host_run, &h);
	ret = vhk_vsock_accept(d, port, T_MS, &c);
	if (ret == 0) {
		while ((r = vhk_vsock_recv(c, buf, BUF, T_MS, NULL)) > 0)
			got += (uint64_t)r;
		vhk_vsock_close(c);
	}
	pthread_join(t, NULL);
	*out = mk_result(got, secs(t0, vhk_now_ns()),
			 cpu_since(&cpu, o->daemon_pid));
	if (!ret)
		ret = r < 0 ? (int)r : h.w.err;
	if (!ret && got != h.w.bytes)
		ret = -EIO;	/* every byte written must arrive */
out:
	free(buf);
	return ret;
}

static int g2h_throughput(struct vhk_vsock_drv *d, const struct vsb_opts *o,
			  unsigned int wsize, struct result *out)
{
	struct acceptor a = { .fn = unix_reader };
	struct vhk_vsock_conn *c;
	uint8_t *buf = calloc(1, wsize);
	uint64_t sent = 0, t0, end;
	struct side_cpu cpu;
	unsigned int i = 0;
	pthread_t t;
	int ret;

	if (!buf)
		return -ENOMEM;
	a.lfd = vhk_vsock_hybrid_listen(o->uds, P_SINK, false);
	if (a.lfd < 0) {
		free(buf);
		return a.lfd;
	}
	pthread_create(&t, NULL, accept_run, &a);
	cpu_mark(&cpu, o->daemon_pid);
	t0 = vhk_now_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	ret = vhk_vsock_connect(d, 2, P_SINK, VHK_VSOCK_TYPE_STREAM, T_MS, &c);
	if (ret == 0) {
		while ((i++ & 63) || vhk_now_ns() < end) {
			ret = vt_send_all_impl(c, buf, wsize);
			if (ret < 0)
				break;
			sent += wsize;
		}
		if (!ret)
			ret = vhk_vsock_shutdown(c, VHK_VSOCK_SHUTDOWN_SEND);
		/* Run the engine until the host has read everything. */
		while (!ret && __atomic_load_n(&a.w.bytes, __ATOMIC_RELAXED) < sent &&
		       vhk_now_ns() < end + (uint64_t)T_MS * 1000000u)
			vhk_vsock_drv_poll(d, 1);
		vhk_vsock_close(c);
	} else {
		shutdown(a.lfd, SHUT_RDWR);
	}
	pthread_join(t, NULL);
	*out = mk_result(a.w.bytes, secs(t0, vhk_now_ns()),
			 cpu_since(&cpu, o->daemon_pid));
	close(a.lfd);
	unlink_port(o->uds, P_SINK);
	free(buf);
	if (!ret && a.w.bytes != sent)
		ret = -EIO;
	return ret;
}

/* @n one-byte round trips through the driver, each in ns into @t. */
static int vsock_rtt(struct vhk_vsock_drv *d, const struct vsb_opts *o,
		     unsigned int n, uint64_t *t)
{
	struct acceptor a = { .fn = unix_echo };
	struct vhk_vsock_conn *c;
	pthread_t th;
	char b = 'p';
	int ret;

	a.lfd = vhk_vsock_hybrid_listen(o->uds, P_ECHO, false);
	if (a.lfd < 0)
		return a.lfd;
	pthread_create(&th, NULL, accept_run, &a);
	ret = vhk_vsock_connect(d, 2, P_ECHO, VHK_VSOCK_TYPE_STREAM, T_MS, &c);
	if (ret == 0) {
		for (unsigned int i = 0; i < n && !ret; i++) {
			uint64_t t0 = vhk_now_ns();
			ssize_t r = vhk_vsock_send(c, &b, 1, T_MS);

			if (r == 1)
				r = vhk_vsock_recv(c, &b, 1, T_MS, NULL);
			if (r != 1)
				ret = r < 0 ? (int)r : -EIO;
			t[i] = vhk_now_ns() - t0;
		}
		vhk_vsock_shutdown(c, VHK_VSOCK_SHUTDOWN_SEND);
		vhk_vsock_close(c);
	} else {
		shutdown(a.lfd, SHUT_RDWR);
	}
	pthread_join(th, NULL);
	close(a.lfd);
	unlink_port(o->uds, P_ECHO);
	return ret;
}

/* @n one-byte round trips over a socketpair, each in ns into @t. */
static int pair_rtt(unsigned int n, uint64_t *t)
{
	struct worker w = { 0 };
	pthread_t th;
	int sv[2], ret = 0;
	char b = 'p';

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	w.fd = sv[1];
	pthread_create(&th, NULL, unix_echo, &w);
	for (unsigned int i = 0; i < n && !ret; i++) {
		uint64_t t0 = vhk_now_ns();

		if (send(sv[0], &b, 1, 0) != 1 || recv(sv[0], &b, 1, 0) != 1)
			ret = -EIO;
		t[i] = vhk_now_ns() - t0;
	}
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/*
 * The round trips of both sides, in o->rounds rounds of alternating
 * order (vsock first in even rounds, the socketpair first in odd ones):
 * where the scheduler puts the threads changes within a run on a shared
 * machine, and interleaving gives both sides the same mix.  Medians of
 * all the o->rtt_count samples of each side (a multiple of o->rounds),
 * in ns.
 */
static int rtt_rounds(struct vhk_vsock_drv *d, const struct vsb_opts *o,
		      uint64_t *med_v, uint64_t *med_p)
{
	unsigned int per = o->rtt_count / o->rounds, total = o->rtt_count;
	uint64_t *tv = calloc(total, sizeof(*tv));
	uint64_t *tp = calloc(total, sizeof(*tp));
	int ret = tv && tp ? 0 : -ENOMEM;

	for (unsigned int r = 0; r < o->rounds && !ret; r++)
		for (unsigned int k = 0; k < 2 && !ret; k++)
			ret = (k == (r & 1)) ?
			      vsock_rtt(d, o, per, tv + r * per) :
			      pair_rtt(per, tp + r * per);
	if (!ret) {
		qsort(tv, total, sizeof(*tv), cmp_u64);
		qsort(tp, total, sizeof(*tp), cmp_u64);
		*med_v = tv[total / 2];
		*med_p = tp[total / 2];
	}
	free(tv);
	free(tp);
	return ret;
}

/* Connections per second: connect + close, the host accepts and closes. */
static int vsock_conn_rate(struct vhk_vsock_drv *d, const struct vsb_opts *o,
			   double *rate, unsigned int *refused)
{
	struct acceptor a = { .count = o->conns };
	uint64_t t0;
	pthread_t th;
	int ret = 0;

	a.lfd = vhk_vsock_hybrid_listen(o->uds, P_DROP, false);
	if (a.lfd < 0)
		return a.lfd;
	pthread_create(&th, NULL, accept_run, &a);
	t0 = vhk_now_ns();
	for (unsigned int i = 0; i < o->conns && !ret; i++) {
		struct vhk_vsock_conn *c;

		ret = vhk_vsock_connect(d, 2, P_DROP, VHK_VSOCK_TYPE_STREAM,
					T_MS, &c);
		if (ret == -ECONNRESET && *refused < o->conns) {
			/* Refused with RST, seen now and then on a loaded
			 * machine (one cause: the host listener's backlog
			 * full while its thread starves, which the daemon
			 * must answer with RST).  Counted, tried again. */
			(*refused)++;
			vhk_vsock_drv_poll(d, 1);
			i--;
			ret = 0;
			continue;
		}
		if (ret == 0)
			vhk_vsock_close(c);
	}
	*rate = o->conns / secs(t0, vhk_now_ns());
	if (ret)
		shutdown(a.lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	/* Let the closes settle (the daemon's RSTs). */
	for (int i = 0; i < 50; i++)
		vhk_vsock_drv_poll(d, 2);
	close(a.lfd);
	unlink_port(o->uds, P_DROP);
	return ret;
}

/* The same over Unix sockets: connect to a listener, accept, close. */
static int unix_conn_rate(const struct vsb_opts *o, double *rate)
{
	struct acceptor a = { .count = o->conns };
	uint64_t t0;
	pthread_t th;
	int ret = 0;

	a.lfd = vhk_vsock_hybrid_listen(o->uds, P_DROP + 1, false);
	if (a.lfd < 0)
		return a.lfd;
	pthread_create(&th, NULL, accept_run, &a);
	t0 = vhk_now_ns();
	for (unsigned int i = 0; i < o->conns && !ret; i++) {
		char path[300];
		uint32_t hp;
		int fd;

		(void)hp;
		snprintf(path, sizeof(path), "%s_%u", o->uds, P_DROP + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		{
			struct sockaddr_un sa = { .sun_family = AF_UNIX };

			memcpy(sa.sun_path, path, strlen(path) + 1);
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa,
					      sizeof(sa)) < 0)
				ret = -errno;
		}
		if (fd >= 0)
			close(fd);
	}
	*rate = o->conns / secs(t0, vhk_now_ns());
	if (ret)
		shutdown(a.lfd, SHUT_RDWR);
	pthread_join(th, NULL);
	close(a.lfd);
	unlink_port(o->uds, P_DROP + 1);
	return ret;
}

int vsb_parse_dma(const char *s)
{
	static const char *const names[] = { "direct", "iommu-lazy",
					     "iommu-strict", "bounce" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static const char *dma_name(enum vsb_dma m)
{
	static const char *const names[] = { "direct", "iommu-lazy",
					     "iommu-strict", "bounce" };

	return names[m];
}

static int open_driver(const struct vsb_opts *o, struct vhk_fe **fe,
		       struct vhk_vsock_drv **d)
{
	struct vhk_vsock_drv_params dp = { 0 };
	struct vhk_fe_config cfg;
	int ret;

	vhk_fe_config_init(&cfg, o->sock);
	cfg.name = "vsock-bench";
	cfg.driver_features = vhk_vsock_drv_features(false);
	cfg.num_queues = VHK_VSOCK_NUM_VQS;
	cfg.type_queues = VHK_VSOCK_NUM_VQS;
	cfg.queue_size = 256;
	cfg.mem_size = 64u << 20;
	cfg.bounce_pool_size = 32u << 20;	/* 256 rx buffers of 64 KiB + tx */
	vhk_fe_config_set_dma(&cfg, o->dma == VSB_DIRECT ? VHK_DMA_DIRECT :
				    o->dma == VSB_BOUNCE ? VHK_DMA_BOUNCE :
				    VHK_DMA_IOMMU,
			      o->dma == VSB_IOMMU_STRICT ? VHK_IOMMU_STRICT :
							   VHK_IOMMU_LAZY);
	ret = vhk_fe_connect(fe, &cfg);
	if (ret < 0)
		return ret;
	ret = vhk_fe_start(*fe);
	if (ret == 0) {
		dp.busy_poll = o->busy_poll;
		dp.poll_us = o->poll_us;
		dp.buf_alloc = o->buf_alloc;
		dp.rx_buf_size = o->rx_buf;
		dp.rx_bufs = 256;
		dp.tx_slots = 64;
		ret = vhk_vsock_drv_new(d, *fe, &dp);
	}
	if (ret < 0) {
		vhk_fe_close(*fe);
		*fe = NULL;
	}
	return ret;
}

/* @what (@n bytes) is an item of comma-separated @list. */
static bool list_has(const char *list, const char *what, size_t n)
{
	for (;;) {
		if (!strncmp(list, what, n) && (list[n] == ',' || !list[n]))
			return true;
		list = strchr(list, ',');
		if (!list)
			return false;
		list++;
	}
}

#define VSB_ONLY_NAMES	"h2g,g2h,rtt,conn"

bool vsb_only_valid(const char *s)
{
	for (;;) {
		size_t n = strcspn(s, ",");

		if (!n || !list_has(VSB_ONLY_NAMES, s, n))
			return false;
		if (!s[n])
			return true;
		s += n + 1;
	}
}

/* @what is in @o->only (NULL: everything). */
static bool want(const struct vsb_opts *o, const char *what)
{
	return !o->only || list_has(o->only, what, strlen(what));
}

int vsb_run(const struct vsb_opts *oin)
{
	unsigned int sizes[3] = { 64, 4096, 65536 }, nsizes = 3;
	struct vsb_opts o = *oin;
	struct vhk_vsock_drv *d = NULL;
	struct vhk_fe *fe = NULL;
	uint64_t rtt_v = 0, rtt_p = 1;
	double cr_v = 0, cr_u = 0;
	unsigned int refused = 0;
	FILE *out = o.out ? o.out : stdout;
	uint32_t port = P_H2G;
	char wait[64];
	int ret;

	if (!o.seconds)
		o.seconds = 1.0;
	if (!o.rtt_count)
		o.rtt_count = 2000;
	if (!o.conns)
		o.conns = 500;
	if (!o.rounds)
		o.rounds = 3;
	if (o.rounds > VSB_MAX_ROUNDS)
		o.rounds = VSB_MAX_ROUNDS;
	/* Whole rounds of round trips, at least one each. */
	if (o.rtt_count < o.rounds)
		o.rtt_count = o.rounds;
	o.rtt_count -= o.rtt_count % o.rounds;
	if (!o.rx_buf)
		o.rx_buf = VSB_RX_BUF;
	if (o.size) {
		sizes[0] = o.size;
		nsizes = 1;
	}
	ret = open_driver(&o, &fe, &d);
	if (ret < 0) {
		fprintf(stderr, "vsock bench: cannot drive %s: %s\n", o.sock,
			strerror(-ret));
		return ret;
	}
	if (o.busy_poll)
		snprintf(wait, sizeof(wait), "busy poll");
	else if (o.poll_us)
		snprintf(wait, sizeof(wait), "polls %u us, then eventfd wait",
			 o.poll_us);
	else
		snprintf(wait, sizeof(wait), "eventfd wait");
	fprintf(out, "vsock bench: userspace driver (dma %s, rx buffers %u B, "
		"%s) vs Unix socketpair, %.1f s per run, %u rounds (medians)\n",
		dma_name(o.dma), o.rx_buf, wait, o.seconds, o.rounds);
	if (o.daemon_poll_us >= 0)
		fprintf(out, "vsock bench: daemon --poll=%d (%s)\n",
			o.daemon_poll_us, o.daemon_poll_us ?
			"adaptive polling" : "sleeps when idle");
	fprintf(out, "%-14s %6s %10s %10s %7s %12s %12s\n", "direction",
		"write", "vsock MB/s", "pair MB/s", "ratio", "vsock CPU/GiB",
		"pair CPU/GiB");
	for (int dir = 0; dir < 2 && !ret; dir++) {
		if (!want(&o, dir == 0 ? "h2g" : "g2h"))
			continue;
		for (unsigned int i = 0; i < nsizes && !ret; i++) {
			double vm[VSB_MAX_ROUNDS], pm[VSB_MAX_ROUNDS],
			       vc[VSB_MAX_ROUNDS], pc[VSB_MAX_ROUNDS];

			for (unsigned int r = 0; r < o.rounds && !ret; r++) {
				struct result v = { 0, 0 }, p = { 0, 0 };

				/* vsock first in even rounds, as rtt_rounds() */
				for (unsigned int k = 0; k < 2 && !ret; k++)
					if (k != (r & 1))
						ret = pair_throughput(
							sizes[i], o.seconds,
							o.buf_alloc, &p);
					else if (dir == 0)
						ret = h2g_throughput(
							d, &o, sizes[i],
							port++, &v);
					else
						ret = g2h_throughput(
							d, &o, sizes[i], &v);
				vm[r] = v.mbps;
				pm[r] = p.mbps;
				vc[r] = v.cpu_per_gib;
				pc[r] = p.cpu_per_gib;
			}
			if (ret)
				break;
			double v = median(vm, o.rounds), p = median(pm, o.rounds);

			fprintf(out, "%-14s %6u %10.1f %10.1f %6.2fx %10.2f s "
				"%10.2f s\n", dir == 0 ? "host->guest" :
				"guest->host", sizes[i], v, p,
				p > 0 ? v / p : 0, median(vc, o.rounds),
				median(pc, o.rounds));
		}
	}
	if (!ret && want(&o, "rtt"))
		ret = rtt_rounds(d, &o, &rtt_v, &rtt_p);
	if (!ret && want(&o, "rtt"))
		fprintf(out, "1-byte round trip (median of %u in %u rounds): "
			"vsock %.1f us, pair %.1f us, ratio %.2fx\n",
			o.rtt_count, o.rounds, rtt_v / 1e3, rtt_p / 1e3,
			(double)rtt_v / (double)rtt_p);
	if (!ret && want(&o, "conn"))
		ret = vsock_conn_rate(d, &o, &cr_v, &refused);
	if (!ret && want(&o, "conn"))
		ret = unix_conn_rate(&o, &cr_u);
	if (!ret && want(&o, "conn"))
		fprintf(out, "connections/s (connect + close, %u): vsock %.0f, "
			"Unix %.0f (%u refused with RST, retried)\n",
			o.conns, cr_v, cr_u, refused);
	if (ret)
		fprintf(stderr, "vsock bench: %s\n", strerror(-ret));
	vhk_fe_stop(fe);
	vhk_vsock_drv_free(d);
	vhk_fe_close(fe);
	return ret;
}
