/* SPDX-License-Identifier: MIT */
/*
 * test_vsock_credit.c - randomized property test of the vsock device's
 * flow control (VIRTIO 1.2, 5.10.6.3): a model guest and a host program
 * drive one connection at a time with arbitrary interleavings of writes,
 * reads, credit updates and requests, rx starvation, half-closes and
 * resets from both ends.  Checked on every step:
 *   - no overrun: the device never sends past the guest's credit, and
 *     never holds more than its own buf_alloc for the host;
 *   - no loss, no duplication: both byte streams arrive exactly, in order
 *     (each byte is a function of its offset);
 *   - eventual progress: once both ends stop writing and keep reading
 *     (a guest that sends CREDIT_UPDATE as Linux does), everything written
 *     arrives within a bounded number of steps - a stall is a failure.
 * Seeded: VHK_VSOCK_PROP_SEED=N replays one seed; the default run tries
 * seeds for VHK_VSOCK_PROP_SECONDS (default 3) seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsock_harness.h"

#define CID		3
#define HPORT		90
#define DRAIN_IDLE	500

static uint64_t rng;

static uint32_t rnd(uint32_t n)		/* 0 .. n-1 */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

/* The stream byte at @off of direction @dir in epoch @ep. */
static uint8_t sbyte(uint32_t ep, int dir, uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + ep * 7919u + (uint64_t)dir;

	x ^= x >> 29;
	return (uint8_t)(x * 0xbf58476d1ce4e5b9ull >> 56);
}

struct model {
	struct vh *h;
	uint64_t seed;
	uint32_t ep;
	uint32_t gport, hport;
	int fd;				/* host program's socket */
	bool open;
	/* guest -> host */
	uint32_t g_tx;			/* bytes the guest sent */
	uint32_t d_buf_alloc, d_fwd;	/* the device's credit, last seen */
	uint64_t h_rx;			/* bytes the host read */
	bool g_shut_send, h_eof;
	/* host -> guest */
	uint64_t h_tx;			/* bytes the host wrote */
	uint32_t g_buf_alloc;
	uint32_t g_rx, g_fwd, g_fwd_adv; /* received, consumed, advertised */
	bool h_shut_wr, g_eof;
	uint32_t g_shut_flags;		/* SHUTDOWN flags the device sent */
	bool starve;			/* guest holds back rx buffers */
};

#define CHECK(m, cond, fmt, ...) do {					\
	if (!(cond))							\
		fail_msg("seed %llu epoch %u: %s: " fmt,		\
			 (unsigned long long)(m)->seed, (m)->ep, #cond,	\
			 ##__VA_ARGS__);				\
} while (0)

static struct vsock_pkt gpkt(struct model *m, uint16_t op)
{
	struct vsock_pkt p = vh_pkt(m->h, op, m->gport, m->hport,
				    VHK_VSOCK_TYPE_STREAM);

	p.buf_alloc = m->g_buf_alloc;
	p.fwd_cnt = m->g_fwd;
	m->g_fwd_adv = m->g_fwd;
	return p;
}

static void guest_send(struct model *m, uint16_t op, const void *d,
		       uint32_t n)
{
	struct vsock_pkt p = gpkt(m, op);

	vh_send(m->h, &p, d, n);
}

/* Handle one packet the device sent; false if none. */
static bool guest_recv(struct model *m)
{
	struct vsock_pkt p;
	uint8_t d[65536];
	uint32_t i;

	if (!vh_recv(m->h, &p, d, sizeof(d)))
		return false;
	if (p.dst_port != m->gport || p.src_port != m->hport)
		return true;		/* an earlier epoch's RST */
	CHECK(m, p.src_cid == VHK_VSOCK_CID_HOST && p.dst_cid == CID, "addr%s", "");
	if (p.op == VHK_VSOCK_OP_RST) {
		m->open = false;
		return true;
	}
	m->d_buf_alloc = p.buf_alloc;
	m->d_fwd = p.fwd_cnt;
	switch (p.op) {
	case VHK_VSOCK_OP_RW:
		/* no overrun: within the credit we gave */
		CHECK(m, (m->g_rx - m->g_fwd_adv) + p.len <= m->g_buf_alloc,
		      "RW of %u beyond credit (rx %u adv %u alloc %u)", p.len,
		      m->g_rx, m->g_fwd_adv, m->g_buf_alloc);
		CHECK(m, !m->g_eof, "RW after SHUTDOWN(SEND)");
		for (i = 0; i < p.len; i++)
			CHECK(m, d[i] == sbyte(m->ep, 1, m->g_rx + i),
			      "h2g byte %u wrong", m->g_rx + i);
		m->g_rx += p.len;
		break;
	case VHK_VSOCK_OP_CREDIT_REQUEST:
		guest_send(m, VHK_VSOCK_OP_CREDIT_UPDATE, NULL, 0);
		break;
	case VHK_VSOCK_OP_SHUTDOWN:
		m->g_shut_flags |= p.flags;
		if (p.flags & VHK_VSOCK_SHUTDOWN_SEND)
			m->g_eof = true;
		break;
	case VHK_VSOCK_OP_CREDIT_UPDATE:
		break;
	default:
		CHECK(m, false, "unexpected op %u", p.op);
	}
	return true;
}

static uint32_t dev_credit(const struct model *m)
{
	return vhk_vsock_peer_free(m->d_buf_alloc, m->d_fwd, m->g_tx);
}

static void guest_write(struct model *m, uint32_t max)
{
	uint8_t d[16384];
	uint32_t n = VHK_MIN(dev_credit(m), max), i;

	n = VHK_MIN(n, m->h->tx_slot - VHK_VSOCK_HDR_SIZE);
	n = VHK_MIN(n, (uint32_t)sizeof(d));
	if (!n || m->g_shut_send)
		return;
	n = 1 + rnd(n);
	for (i = 0; i < n; i++)
		d[i] = sbyte(m->ep, 0, m->g_tx + i);
	guest_send(m, VHK_VSOCK_OP_RW, d, n);
	m->g_tx += n;
}

/* The guest application reads; the driver updates credit like Linux:
 * when the credit the device believes it has fell below half. */
static void guest_read(struct model *m, bool all)
{
	uint32_t unread = m->g_rx - m->g_fwd;
	uint32_t k = all ? unread : rnd(unread + 1);

	m->g_fwd += k;
	if (k && (m->g_buf_alloc - (m->g_rx - m->g_fwd_adv) <
		  m->g_buf_alloc / 2 + 1 || rnd(4) == 0))
		guest_send(m, VHK_VSOCK_OP_CREDIT_UPDATE, NULL, 0);
}

static void host_write(struct model *m, uint32_t max)
{
	uint8_t d[8192];
	uint32_t n = 1 + rnd(VHK_MIN(max, (uint32_t)sizeof(d))), i;
	ssize_t w;

	if (m->h_shut_wr)
		return;
	/* A tiny guest buffer moves a few bytes per round trip: keep the
	 * volume in proportion so that a seed stays fast. */
	n = VHK_MIN(n, 4 * m->g_buf_alloc + 64);
	for (i = 0; i < n; i++)
		d[i] = sbyte(m->ep, 1, m->h_tx + i);
	w = send(m->fd, d, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w > 0)
		m->h_tx += (uint64_t)w;
}

static void host_read(struct model *m, uint32_t max)
{
	uint8_t d[8192];
	ssize_t r = recv(m->fd, d, VHK_MIN(max, (uint32_t)sizeof(d)),
			 MSG_DONTWAIT);
	ssize_t i;

	if (r == 0) {
		m->h_eof = true;
		CHECK(m, m->g_shut_send || !m->open, "host EOF too early");
		CHECK(m, m->h_rx == m->g_tx || !m->open,
		      "EOF after %llu of %u bytes",
		      (unsigned long long)m->h_rx, m->g_tx);
	}
	for (i = 0; i < r; i++)
		CHECK(m, d[i] == sbyte(m->ep, 0, m->h_rx + (uint64_t)i),
		      "g2h byte %llu wrong",
		      (unsigned long long)(m->h_rx + (uint64_t)i));
	if (r > 0)
		m->h_rx += (uint64_t)r;
}

static void check_device(struct model *m)
{
	struct vsock_conn *c = vsock_conn_find(m->h->vs, m->gport,
					       VHK_VSOCK_CID_HOST, m->hport);

	if (!c)
		return;
	CHECK(m, c->buf_len <= c->buf_alloc, "device holds %u > %u",
	      c->buf_len, c->buf_alloc);
	CHECK(m, c->recv_cnt - c->fwd_cnt <= c->buf_alloc, "credit accounting");
}

static void set_starve(struct model *m, bool on)
{
	m->starve = on;
	m->h->no_repost = on;
	if (!on)
		vh_post_rx(m->h, VH_NRX);
}

static void open_conn(struct model *m, int lfd)
{
	struct vsock_pkt p;
	uint32_t allocs[] = { 1, 7, 100, 1000, 4096, 65536, 262144 };

	m->ep++;
	memset(&m->g_tx, 0, sizeof(*m) - offsetof(struct model, g_tx));
	m->g_buf_alloc = allocs[rnd(VHK_ARRAY_SIZE(allocs))];
	m->gport = 1000 + m->ep;
	set_starve(m, false);
	if (rnd(2)) {
		/* guest -> host */
		m->hport = HPORT;
		guest_send(m, VHK_VSOCK_OP_REQUEST, NULL, 0);
		do {
			CHECK(m, vh_wait(m->h, &p, NULL, 0, 1000), "no RESPONSE");
		} while (p.dst_port != m->gport);
		CHECK(m, p.op == VHK_VSOCK_OP_RESPONSE, "op %u", p.op);
		m->fd = vh_accept(lfd);
	} else {
		/* host -> guest */
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", m->gport);

		m->fd = vh_client(m->h);
		CHECK(m, send(m->fd, line, (size_t)n, 0) == n, "send");
		do {
			CHECK(m, vh_wait(m->h, &p, NULL, 0, 1000), "no REQUEST");
		} while (p.op != VHK_VSOCK_OP_REQUEST);
		m->hport = p.src_port;
		guest_send(m, VHK_VSOCK_OP_RESPONSE, NULL, 0);
		CHECK(m, vh_read_some(m->h, m->fd, line, 3, 1000) == 3, "OK");
		while (recv(m->fd, line, 1, 0) == 1 && line[0] != '\n')
			;
	}
	m->d_buf_alloc = p.buf_alloc;
	m->d_fwd = p.fwd_cnt;
	CHECK(m, m->fd >= 0, "no host socket");
	m->open = true;
}

/* Stop writing, keep reading on both ends: everything must arrive. */
static void drain(struct model *m)
{
	unsigned int idle = 0;

	set_starve(m, false);
	/* Progress is a byte moved either way; a stall is DRAIN_IDLE steps
	 * without one (each step gives every party its turn). */
	while (idle < DRAIN_IDLE && m->open) {
		uint64_t before = m->h_rx + m->g_rx;
		bool got = false;

		while (guest_recv(m))
			got = true;
		guest_read(m, true);
		host_read(m, 1 << 20);
		vh_poll(m->h);
		check_device(m);
		if (m->h_rx == m->g_tx && m->g_rx == m->h_tx && !got)
			break;
		idle = m->h_rx + m->g_rx == before ? idle + 1 : 0;
	}
	if (!m->open)
		return;
	if (m->h_rx != m->g_tx || m->g_rx != m->h_tx) {
		struct vsock_conn *c = vsock_conn_find(m->h->vs, m->gport,
						       2, m->hport);

		if (c)
			fprintf(stderr, "stall: credit %u peer_alloc %u peer_fwd %u tx_cnt %u on_rx %d ev %#x pending %#x eof %d hup %d asked %d guest alloc %u g_rx %u g_fwd %u adv %u rxposted %u spare %d\n",
				vsock_conn_credit(c), c->peer_buf_alloc,
				c->peer_fwd_cnt, c->tx_cnt, c->on_rx,
				c->fd_events, c->pending, c->host_eof,
				c->host_hup, c->credit_asked, m->g_buf_alloc,
				m->g_rx, m->g_fwd, m->g_fwd_adv,
				vh_rx_posted(m->h), m->h->vs->have_spare);
		else
			fprintf(stderr, "stall: no connection\n");
	}
	CHECK(m, m->h_rx == m->g_tx, "stalled: host got %llu of %u",
	      (unsigned long long)m->h_rx, m->g_tx);
	CHECK(m, m->g_rx == m->h_tx, "stalled: guest got %u of %llu",
	      m->g_rx, (unsigned long long)m->h_tx);
}

static void close_conn(struct model *m)
{
	struct vsock_pkt p;
	char b[16];
	ssize_t r;

	if (rnd(2)) {
		/* the guest resets: the host program sees the end */
		guest_send(m, VHK_VSOCK_OP_RST, NULL, 0);
		r = vh_read_some(m->h, m->fd, b, sizeof(b), 1000);
		CHECK(m, r == 0 || r == -ECONNRESET, "host not closed (%zd)", r);
	} else {
		/* the host program closes: SHUTDOWN(RCV|SEND) reaches the
		 * guest (after any data), the guest answers RST */
		close(m->fd);
		m->fd = -1;
		while (m->g_shut_flags != VHK_VSOCK_SHUTDOWN_MASK) {
			CHECK(m, vh_wait(m->h, &p, NULL, 0, 1000), "no SHUTDOWN");
			if (p.dst_port == m->gport && p.src_port == m->hport &&
			    p.op == VHK_VSOCK_OP_SHUTDOWN)
				m->g_shut_flags |= p.flags;
		}
		guest_send(m, VHK_VSOCK_OP_RST, NULL, 0);
	}
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->open = false;
	CHECK(m, vsock_conn_find(m->h->vs, m->gport, 2, m->hport) == NULL,
	      "connection left behind");
}

static void run_seed(uint64_t seed, unsigned int steps)
{
	struct vh h;
	struct model m;
	unsigned int i, epochs = 0;
	int lfd;

	memset(&m, 0, sizeof(m));
	m.h = &h;
	m.seed = seed;
	rng = seed * 0x2545f4914f6cdd1dull + 1;
	vh_setup(&h, VHK_AS_GPA, seed & 1, CID, NULL, false,
		 vhk_test_fragmented() ? 100 + rnd(400) :
		 (uint32_t[]){ 64, 100, 512, 3776, 16384 }[rnd(5)]);
	h.vs->buf_size = (uint32_t[]){ 4096, 10000, 65536 }[rnd(3)];
	vh_post_rx(&h, VH_NRX);
	lfd = vh_listen(&h, HPORT, SOCK_STREAM);
	open_conn(&m, lfd);
	for (i = 0; i < steps; i++) {
		uint32_t a = rnd(100);

		if (!m.open) {
			if (m.fd >= 0)
				close(m.fd);
			open_conn(&m, lfd);
			epochs++;
		}
		if (a < 20)
			guest_write(&m, 1 + rnd(20000));
		else if (a < 35)
			host_write(&m, 1 + rnd(20000));
		else if (a < 50)
			(void)guest_recv(&m);
		else if (a < 60)
			guest_read(&m, false);
		else if (a < 70)
			host_read(&m, 1 + rnd(20000));
		else if (a < 80)
			vh_poll(&h);
		else if (a < 83)
			guest_send(&m, VHK_VSOCK_OP_CREDIT_REQUEST, NULL, 0);
		else if (a < 88)
			set_starve(&m, !m.starve);
		else if (a < 89 && !m.g_shut_send) {
			struct vsock_pkt p = gpkt(&m, VHK_VSOCK_OP_SHUTDOWN);

			p.flags = VHK_VSOCK_SHUTDOWN_SEND;
			vh_send(&h, &p, NULL, 0);
			m.g_shut_send = true;
		} else if (a < 90 && !m.h_shut_wr) {
			shutdown(m.fd, SHUT_WR);
			m.h_shut_wr = true;
		} else if (a < 92) {
			drain(&m);
			if (m.open)
				close_conn(&m);
		} else {
			(void)guest_recv(&m);
		}
		check_device(&m);
	}
	if (m.open) {
		drain(&m);
		if (m.open)
			close_conn(&m);
	}
	if (m.fd >= 0)
		close(m.fd);
	(void)epochs;
	close(lfd);
	vh_teardown(&h, 0);
}

static void test_credit_property(void **state)
{
	const char *s = getenv("VHK_VSOCK_PROP_SEED");
	const char *t = getenv("VHK_VSOCK_PROP_SECONDS");
	double secs = t ? atof(t) : 3.0;
	uint64_t end, seed;
	unsigned int n = 0;

	(void)state;
	if (s) {
		run_seed(strtoull(s, NULL, 0), 3000);
		return;
	}
	end = vhk_now_ns() + (uint64_t)(secs * 1e9);
	for (seed = 1; vhk_now_ns() < end || n < 3; seed++, n++)
		run_seed(seed, 1500);
	fprintf(stderr, "credit property: %u seeds passed\n", n);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_credit_property),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("vsock-credit", tests);
}
