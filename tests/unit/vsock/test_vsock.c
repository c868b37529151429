/* SPDX-License-Identifier: MIT */
/*
 * test_vsock.c - the vsock device's protocol through real rings in mock
 * guest memory, with host programs on Unix sockets: connections both
 * ways, data, half-close, seqpacket boundaries, credit, resets, the event
 * queue, sibling VMs.  Hostile input lives in test_vsock_hostile.c.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsock_harness.h"

#define CID	3
#define GPORT	5000

static uint32_t pay_max(struct vh *h)
{
	return VHK_MIN(h->tx_slot, h->rx_slot) - VHK_VSOCK_HDR_SIZE;
}

/* The guest connects to host port @port; returns the host's accepted fd. */
static int guest_connect(struct vh *h, int lfd, uint32_t gport, uint32_t port,
			 uint16_t type)
{
	struct vsock_pkt p = vh_pkt(h, VHK_VSOCK_OP_REQUEST, gport, port, type);
	int afd;

	vh_send(h, &p, NULL, 0);
	assert_int_equal(vh_wait(h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
	assert_int_equal(p.src_cid, VHK_VSOCK_CID_HOST);
	assert_int_equal(p.dst_cid, h->cid);
	assert_int_equal(p.src_port, port);
	assert_int_equal(p.dst_port, gport);
	assert_int_equal(p.type, type);
	assert_int_equal(p.buf_alloc, VHK_VSOCK_DEFAULT_BUF_SIZE);
	afd = vh_accept(lfd);
	assert_true(afd >= 0);
	return afd;
}

static void test_guest_to_host(void **state)
{
	enum vhk_as_mode mode = VHK_AS_GPA;
	unsigned int mi;

	(void)state;
	for (mi = 0; mi < 3; mi++) {
		struct vh h;
		struct vsock_pkt p;
		char buf[512], got[512];
		int lfd, afd;
		uint32_t n;

		mode = vhk_test_modes[mi];
		vh_setup(&h, mode, mi == 1, CID, NULL, false, 0);
		vh_post_rx(&h, 16);
		lfd = vh_listen(&h, 1234, SOCK_STREAM);
		afd = guest_connect(&h, lfd, GPORT, 1234, VHK_VSOCK_TYPE_STREAM);

		/* guest -> host bytes */
		n = VHK_MIN(pay_max(&h), sizeof(buf));
		for (uint32_t i = 0; i < n; i++)
			buf[i] = (char)(i * 7 + mi);
		p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 1234,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, buf, n);
		assert_int_equal(vh_read_some(&h, afd, got, n, 1000), n);
		assert_memory_equal(buf, got, n);

		/* host -> guest bytes */
		assert_int_equal(send(afd, "hello guest", 11, 0), 11);
		assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
		assert_int_equal(p.op, VHK_VSOCK_OP_RW);
		assert_int_equal(p.len, 11);
		assert_memory_equal(got, "hello guest", 11);
		h.fwd_cnt += 11;

		/* half-close: guest shuts its write side, host sees EOF and
		 * still answers */
		p = vh_pkt(&h, VHK_VSOCK_OP_SHUTDOWN, GPORT, 1234,
			   VHK_VSOCK_TYPE_STREAM);
		p.flags = VHK_VSOCK_SHUTDOWN_SEND;
		vh_send(&h, &p, NULL, 0);
		assert_int_equal(vh_read_some(&h, afd, got, 1, 500), 0);
		assert_int_equal(send(afd, "reply", 5, 0), 5);
		assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
		assert_int_equal(p.op, VHK_VSOCK_OP_RW);
		assert_memory_equal(got, "reply", 5);

		/* host closes: SHUTDOWN(RCV|SEND) to the guest */
		close(afd);
		assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
		assert_int_equal(p.op, VHK_VSOCK_OP_SHUTDOWN);
		assert_int_equal(p.flags, VHK_VSOCK_SHUTDOWN_MASK);
		/* the guest closes: RST, the connection is gone */
		p = vh_pkt(&h, VHK_VSOCK_OP_RST, GPORT, 1234,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, NULL, 0);
		assert_int_equal(h.vs->nconns, 0);
		assert_int_equal(h.vs->st.conns_open, 0);
		assert_int_equal(h.vs->st.conns_opened, 1);
		close(lfd);
		vh_teardown(&h, 0);
	}
}

/* Queue @n RW packets of @len bytes on @gport -> 1234, payload bytes
 * from *@seq on (counting up). */
static void queue_rw(struct vh *h, uint32_t gport, unsigned int n,
		     uint32_t len, uint8_t *seq)
{
	uint8_t buf[1024];

	assert_true(len <= sizeof(buf));
	for (unsigned int k = 0; k < n; k++) {
		struct vsock_pkt p = vh_pkt(h, VHK_VSOCK_OP_RW, gport, 1234,
					    VHK_VSOCK_TYPE_STREAM);

		for (uint32_t i = 0; i < len; i++)
			buf[i] = (*seq)++;
		vh_send(h, &p, buf, len);
	}
}

/* @n bytes from @fd continue the count at *@seq. */
static void expect_seq(struct vh *h, int fd, size_t n, uint8_t *seq)
{
	uint8_t *got = malloc(n);

	assert_non_null(got);
	assert_int_equal(vh_read_some(h, fd, got, n, 2000), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], (uint8_t)(*seq)++);
	free(got);
}

/*
 * RW packets of one connection that come one after the other in a tx
 * pass go to the host with one sendmsg (gather.c): every byte arrives in
 * the guest's order, another connection's packet in between splits the
 * gather, and a host socket that takes only part of it gets the rest from
 * the connection's buffer.  Only what went out counts in fwd_cnt.
 */
static void test_tx_gather(void **state)
{
	unsigned int mi;

	(void)state;
	for (mi = 0; mi < 3; mi++) {
		bool frag = vhk_test_fragmented();
		uint32_t small = frag ? 4 : 100, big = frag ? 400 : 1000;
		uint8_t sa = 0, sb = 100, ra = 0, rb = 100;
		struct vsock_conn *ca;
		int sndbuf = 1;
		struct vh h;
		int lfd, afd, bfd;

		vh_setup(&h, vhk_test_modes[mi], mi == 1, CID, NULL, false, 0);
		vh_post_rx(&h, 16);
		lfd = vh_listen(&h, 1234, SOCK_STREAM);
		afd = guest_connect(&h, lfd, GPORT, 1234,
				    VHK_VSOCK_TYPE_STREAM);
		bfd = guest_connect(&h, lfd, GPORT + 1, 1234,
				    VHK_VSOCK_TYPE_STREAM);

		/* 10 of A, 1 of B, 10 of A: in one pass */
		h.defer_tx = true;
		queue_rw(&h, GPORT, 10, small, &sa);
		queue_rw(&h, GPORT + 1, 1, small, &sb);
		queue_rw(&h, GPORT, 10, small, &sa);
		vh_kick_tx(&h);
		assert_int_equal(h.vs->tx_gathered, 20);
		expect_seq(&h, afd, 20 * small, &ra);
		expect_seq(&h, bfd, small, &rb);

		/* A's host socket takes a few KiB: the gather is cut short,
		 * the rest waits in the connection's buffer, nothing is
		 * lost or reordered. */
		ca = vsock_conn_find(h.vs, GPORT, VHK_VSOCK_CID_HOST, 1234);
		assert_non_null(ca);
		assert_int_equal(setsockopt(ca->fd, SOL_SOCKET, SO_SNDBUF,
					    &sndbuf, sizeof(sndbuf)), 0);
		queue_rw(&h, GPORT, 24, big, &sa);
		vh_kick_tx(&h);
		assert_int_equal(h.vs->tx_gathered, frag ? 20 : 44);
		assert_true(ca->buf_len > 0);
		assert_int_equal(ca->recv_cnt - ca->fwd_cnt, ca->buf_len);
		h.defer_tx = false;
		expect_seq(&h, afd, 24 * big, &ra);
		assert_int_equal(ca->buf_len, 0);
		assert_int_equal(ca->fwd_cnt, ca->recv_cnt);
		assert_int_equal(ca->recv_cnt, 20 * small + 24 * big);
		close(afd);
		close(bfd);
		close(lfd);
		vh_teardown(&h, 0);
	}
}

static void test_guest_close_clean(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	char got[16];
	int lfd, afd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	lfd = vh_listen(&h, 77, SOCK_STREAM);
	afd = guest_connect(&h, lfd, GPORT, 77, VHK_VSOCK_TYPE_STREAM);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 77, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, "bye", 3);
	/* close(): SHUTDOWN(RCV|SEND), the device answers RST (5.10.6.5) */
	p = vh_pkt(&h, VHK_VSOCK_OP_SHUTDOWN, GPORT, 77, VHK_VSOCK_TYPE_STREAM);
	p.flags = VHK_VSOCK_SHUTDOWN_MASK;
	vh_send(&h, &p, NULL, 0);
	assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RST);
	assert_int_equal(h.vs->nconns, 0);
	assert_int_equal(vh_read_some(&h, afd, got, sizeof(got), 500), 3);
	assert_memory_equal(got, "bye", 3);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

static void test_no_listener(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	uint64_t t0;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 4);
	t0 = vhk_now_ns();
	p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, GPORT, 9999, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RST);
	assert_int_equal(p.src_port, 9999);
	assert_int_equal(p.dst_port, GPORT);
	assert_true(vhk_now_ns() - t0 < 500000000ull);	/* prompt */
	assert_int_equal(h.vs->st.rst_no_listener, 1);
	assert_int_equal(h.vs->nconns, 0);
	vh_teardown(&h, 0);
}

static int host_connect(struct vh *h, uint32_t port, struct vsock_pkt *req)
{
	char line[32];
	int fd = vh_client(h);
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);

	assert_int_equal(send(fd, line, (size_t)n, 0), n);
	assert_int_equal(vh_wait(h, req, NULL, 0, 1000), 1);
	assert_int_equal(req->op, VHK_VSOCK_OP_REQUEST);
	assert_int_equal(req->dst_port, port);
	assert_int_equal(req->src_cid, VHK_VSOCK_CID_HOST);
	assert_int_equal(req->dst_cid, h->cid);
	return fd;
}

static void test_host_to_guest(void **state)
{
	struct vh h;
	struct vsock_pkt req, p;
	char got[64], want[32];
	int fd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	fd = host_connect(&h, 52, &req);
	/* the guest accepts */
	p = vh_pkt(&h, VHK_VSOCK_OP_RESPONSE, 52, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", req.src_port);
	assert_int_equal(vh_read_some(&h, fd, got, strlen(want), 1000),
			 strlen(want));
	assert_memory_equal(got, want, strlen(want));
	/* both directions */
	assert_int_equal(send(fd, "ping", 4, 0), 4);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RW);
	assert_int_equal(p.len, 4);
	assert_memory_equal(got, "ping", 4);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, 52, req.src_port, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, "pong", 4);
	assert_int_equal(vh_read_some(&h, fd, got, 4, 1000), 4);
	assert_memory_equal(got, "pong", 4);
	close(fd);
	vh_teardown(&h, 0);
}

/*
 * A short read empties the host socket: the device does not read it again
 * until epoll reports input (no readv that only returns EAGAIN), its poll
 * interest stays set, and a small message is read into one rx buffer
 * without batching (rx.c).  Later bytes still arrive, and after a
 * hang-up the rest is read to EOF although the last read was short.
 */
static void test_host_short_reads(void **state)
{
	struct vh h;
	struct vsock_pkt req, p;
	struct vsock_conn *c;
	char got[64];
	int fd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	fd = host_connect(&h, 54, &req);
	p = vh_pkt(&h, VHK_VSOCK_OP_RESPONSE, 54, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	assert_true(vh_read_some(&h, fd, got, 3, 1000) == 3);
	vh_read_some(&h, fd, got, sizeof(got), 50);	/* rest of "OK n\n" */
	c = vsock_conn_find(h.vs, 54, VHK_VSOCK_CID_HOST, req.src_port);
	assert_non_null(c);
	/* listed for a control packet with nothing to read: found empty
	 * once, then not read again until epoll reports input */
	p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_REQUEST, 54, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_CREDIT_UPDATE);
	assert_true(c->host_drained);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(send(fd, "xyz", (size_t)i, 0), i);
		assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
		assert_int_equal(p.op, VHK_VSOCK_OP_RW);
		assert_int_equal(p.len, (uint32_t)i);
		assert_memory_equal(got, "xyz", (size_t)i);
		assert_true(c->host_drained);
		assert_false(c->read_big);
		assert_false(c->on_rx);
		assert_true(c->fd_events & EPOLLIN);
		/* one buffer used (and reposted by vh_recv), none held */
		assert_false(h.vs->have_spare);
		assert_int_equal(vh_rx_posted(&h), 8);
	}
	/* the guest's credit update (it read 6 bytes) reads nothing */
	p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_UPDATE, 54, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	p.fwd_cnt = 6;
	vh_send(&h, &p, NULL, 0);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 50), 0);
	assert_true(c->host_drained);
	/* a last message, then the host closes: read to EOF */
	assert_int_equal(send(fd, "tail", 4, 0), 4);
	close(fd);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RW);
	assert_int_equal(p.len, 4);
	assert_memory_equal(got, "tail", 4);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_SHUTDOWN);
	vh_teardown(&h, 0);
}

/*
 * Host data larger than one rx buffer: one readv fills several buffers
 * (rx.c, stream_data), each an RW packet in ring order; buffers the read
 * did not reach stay the guest's, and the guest's credit bounds the batch
 * exactly (VIRTIO 1.2, 5.10.6.3).
 */
static void batch_case(uint32_t guest_buf, uint32_t sent, uint32_t expect)
{
	static uint8_t out[65536], in[65536];
	struct vh h;
	struct vsock_pkt req, p;
	char got[32];
	uint32_t total = 0, pkts = 0, reqs = 0, room;
	int fd;

	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	room = h.rx_slot - VHK_VSOCK_HDR_SIZE;
	expect = VHK_MIN(expect, 16 * room);	/* fragmented runs: 512 B */
	vh_post_rx(&h, 16);
	fd = host_connect(&h, 53, &req);
	p = vh_pkt(&h, VHK_VSOCK_OP_RESPONSE, 53, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	p.buf_alloc = guest_buf;
	vh_send(&h, &p, NULL, 0);
	assert_true(vh_read_some(&h, fd, got, 3, 1000) == 3);
	vh_read_some(&h, fd, got, sizeof(got), 50);	/* rest of "OK n\n" */
	for (uint32_t i = 0; i < sent; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	assert_int_equal(send(fd, out, sent, 0), (ssize_t)sent);
	h.no_repost = true;
	while (vh_wait(&h, &p, in + total, sizeof(in) - total, 200)) {
		if (p.op != VHK_VSOCK_OP_RW) {
			assert_int_equal(p.op, VHK_VSOCK_OP_CREDIT_REQUEST);
			reqs++;
			continue;
		}
		assert_true(p.len > 0 && p.len <= room);
		total += p.len;
		pkts++;
	}
	assert_int_equal(total, expect);
	assert_memory_equal(in, out, expect);
	assert_int_equal(pkts, (expect + room - 1) / room);
	/* the buffers the read did not fill are still posted */
	assert_int_equal(vh_rx_posted(&h), 16 - pkts - reqs);
	close(fd);
	vh_teardown(&h, 0);
}

static void test_host_batch_read(void **state)
{
	(void)state;
	batch_case(VH_GUEST_BUF, 10000, 10000);	/* 3 of 16 buffers */
	batch_case(5000, 10000, 5000);		/* credit ends the batch */
	batch_case(VH_GUEST_BUF, 16 * 3732, 16 * 3732); /* every buffer */
}

static void test_host_refused(void **state)
{
	struct vh h;
	struct vsock_pkt req, p;
	char got[8];
	int fd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	fd = host_connect(&h, 53, &req);
	p = vh_pkt(&h, VHK_VSOCK_OP_RST, 53, req.src_port, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	/* refused: the client's socket is closed, no "OK" */
	assert_int_equal(vh_read_some(&h, fd, got, sizeof(got), 1000), 0);
	assert_int_equal(h.vs->st.host_refused, 1);
	assert_int_equal(h.vs->nconns, 0);
	close(fd);
	vh_teardown(&h, 0);
}

static void test_seqpacket(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	char buf[2048], got[4096];
	uint32_t sizes[] = { 1, 7, 100, 0 };
	int lfd, afd;
	unsigned int i;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 32);
	sizes[3] = VHK_MIN(pay_max(&h) * 3, sizeof(buf));
	lfd = vh_listen(&h, 60, SOCK_SEQPACKET);
	afd = guest_connect(&h, lfd, GPORT, 60, VHK_VSOCK_TYPE_SEQPACKET);
	/* guest -> host: messages in pieces, boundaries at EOM */
	for (i = 0; i < 4; i++) {
		uint32_t off = 0, n = sizes[i];

		memset(buf, 'a' + (int)i, n);
		while (off < n) {
			uint32_t k = VHK_MIN(n - off, pay_max(&h) / 2 + 1);

			p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 60,
				   VHK_VSOCK_TYPE_SEQPACKET);
			if (off + k == n)
				p.flags = VHK_VSOCK_SEQ_EOM;
			vh_send(&h, &p, buf + off, k);
			off += k;
		}
	}
	for (i = 0; i < 4; i++) {
		struct pollfd pf = { .fd = afd, .events = POLLIN };

		vh_poll(&h);
		assert_int_equal(poll(&pf, 1, 1000), 1);
		assert_int_equal(recv(afd, got, sizeof(got), 0), sizes[i]);
		assert_int_equal(got[0], 'a' + (int)i);
	}
	/* host -> guest: one message of 3 rx buffers, EOM on the last */
	memset(buf, 'z', sizes[3]);
	assert_int_equal(send(afd, buf, sizes[3], 0), sizes[3]);
	assert_int_equal(send(afd, "x", 1, 0), 1);
	{
		uint32_t total = 0;

		do {
			assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
			assert_int_equal(p.op, VHK_VSOCK_OP_RW);
			total += p.len;
		} while (!(p.flags & VHK_VSOCK_SEQ_EOM));
		assert_int_equal(total, sizes[3]);
		assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
		assert_int_equal(p.len, 1);
		assert_int_equal(p.flags, VHK_VSOCK_SEQ_EOM);
	}
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/*
 * A device on 32 posted rx buffers, a host listener on @port and a guest
 * connection to it that advertises only 1000 bytes of credit; returns the
 * host's accepted socket, the listener in *@lfd.
 */
static int credit_conn(struct vh *h, uint32_t port, int *lfd)
{
	struct vsock_pkt p;

	vh_setup(h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(h, 32);
	*lfd = vh_listen(h, port, SOCK_STREAM);
	p = vh_pkt(h, VHK_VSOCK_OP_REQUEST, GPORT, port, VHK_VSOCK_TYPE_STREAM);
	p.buf_alloc = 1000;
	vh_send(h, &p, NULL, 0);
	assert_int_equal(vh_wait(h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
	return vh_accept(*lfd);
}

/* The device never sends beyond the guest's credit; it resumes on update. */
static void test_credit_respected(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	char big[8192], got[4096];
	uint32_t total = 0;
	int lfd, afd;

	(void)state;
	afd = credit_conn(&h, 61, &lfd);
	memset(big, 'q', sizeof(big));
	assert_int_equal(send(afd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	while (vh_wait(&h, &p, got, sizeof(got), 200)) {
		if (p.op == VHK_VSOCK_OP_RW)
			total += p.len;
		else
			assert_int_equal(p.op, VHK_VSOCK_OP_CREDIT_REQUEST);
	}
	assert_int_equal(total, 1000);		/* exactly the credit */
	/* the guest read 600 bytes: CREDIT_UPDATE, 600 more may come */
	p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_UPDATE, GPORT, 61,
		   VHK_VSOCK_TYPE_STREAM);
	p.buf_alloc = 1000;
	p.fwd_cnt = 600;
	vh_send(&h, &p, NULL, 0);
	while (vh_wait(&h, &p, got, sizeof(got), 200))
		if (p.op == VHK_VSOCK_OP_RW)
			total += p.len;
	assert_int_equal(total, 1600);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/*
 * The host writes more than the guest's credit and shuts its side at
 * once.  While the connection waits for credit its socket keeps the same
 * edge-triggered poll interest (no epoll_ctl to stop and resume reading,
 * host.c); each credit update resumes the data although no new edge
 * comes, and the EOF that arrived long before the last bytes were read
 * still reaches the guest as SHUTDOWN.
 */
static void test_credit_stall_edge(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	struct vsock_conn *c;
	char big[8192], got[4096];
	uint32_t total = 0, ev;
	bool shut = false;
	int lfd, afd;

	(void)state;
	afd = credit_conn(&h, 62, &lfd);
	c = vsock_conn_find(h.vs, GPORT, VHK_VSOCK_CID_HOST, 62);
	assert_non_null(c);
	ev = c->fd_events;
	assert_true(ev & EPOLLET);
	assert_true(ev & EPOLLIN);
	for (unsigned int i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 13 + i / 7);
	assert_int_equal(send(afd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	shutdown(afd, SHUT_WR);
	for (int round = 0; round < 20 && !shut; round++) {
		while (vh_wait(&h, &p, got, sizeof(got), 200)) {
			if (p.op == VHK_VSOCK_OP_SHUTDOWN) {
				shut = true;
				break;
			}
			if (p.op != VHK_VSOCK_OP_RW) {
				assert_int_equal(p.op,
						 VHK_VSOCK_OP_CREDIT_REQUEST);
				continue;
			}
			assert_true(total + p.len <= sizeof(big));
			assert_memory_equal(got, big + total, p.len);
			total += p.len;
		}
		/* stalled on credit: still polled the same way */
		assert_int_equal(c->fd_events, ev);
		assert_true(c->fd_in_ep || c->host_hup);
		/* the guest read everything so far */
		p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_UPDATE, GPORT, 62,
			   VHK_VSOCK_TYPE_STREAM);
		p.buf_alloc = 1000;
		p.fwd_cnt = total;
		vh_send(&h, &p, NULL, 0);
	}
	assert_int_equal(total, sizeof(big));
	assert_true(shut);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/*
 * A guest that does not answer our CREDIT_REQUEST (it missed it): asked
 * again, doubling the wait, a bounded number of times; an update resumes
 * the data and ends the stall.
 */
static void test_credit_request_retry(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	char big[8192], got[4096];
	uint32_t total = 0, reqs = 0;
	uint64_t t0, t_last = 0;
	int lfd, afd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	h.vs->credit_retry_ms = 20;
	h.vs->credit_retries = 3;
	vh_post_rx(&h, 32);
	lfd = vh_listen(&h, 62, SOCK_STREAM);
	p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, GPORT, 62, VHK_VSOCK_TYPE_STREAM);
	p.buf_alloc = 1000;
	vh_send(&h, &p, NULL, 0);
	assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
	afd = vh_accept(lfd);
	memset(big, 'r', sizeof(big));
	assert_int_equal(send(afd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	t0 = vhk_now_ns();
	/* 1000 bytes, then 1 + 3 requests (ticks are 200 ms), then quiet */
	while (vh_wait(&h, &p, got, sizeof(got), 1500)) {
		if (p.op == VHK_VSOCK_OP_RW) {
			total += p.len;
			continue;
		}
		assert_int_equal(p.op, VHK_VSOCK_OP_CREDIT_REQUEST);
		assert_int_equal(p.dst_port, GPORT);
		reqs++;
		t_last = vhk_now_ns();
	}
	assert_int_equal(total, 1000);
	assert_int_equal(reqs, 4);
	assert_true(t_last - t0 >= 140ull * 1000000ull); /* 20+40+80 ms */
	/* the update: the data flows again, and a new stall asks again */
	p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_UPDATE, GPORT, 62,
		   VHK_VSOCK_TYPE_STREAM);
	p.buf_alloc = 1000;
	p.fwd_cnt = 1000;
	vh_send(&h, &p, NULL, 0);
	reqs = 0;
	while (vh_wait(&h, &p, got, sizeof(got), 1500)) {
		if (p.op == VHK_VSOCK_OP_RW)
			total += p.len;
		else if (p.op == VHK_VSOCK_OP_CREDIT_REQUEST)
			reqs++;
	}
	assert_int_equal(total, 2000);
	assert_int_equal(reqs, 4);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/*
 * A guest that resets its device (unbind/bind) only restarts the rings
 * from scratch as far as a vhost-user back-end can see: the host sockets
 * of the lost connections close at once.  A pause (rings stopped and
 * started where they were) keeps them.
 */
static void test_driver_reinit(void **state)
{
	struct vh h;
	char got[8];
	int lfd, afd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	lfd = vh_listen(&h, 62, SOCK_STREAM);
	afd = guest_connect(&h, lfd, GPORT, 62, VHK_VSOCK_TYPE_STREAM);
	/* pause / resume: same rings, same positions */
	for (uint16_t i = 0; i < 2; i++) {
		vhk_vsock_ops.queue_stop(h.vs, &h.devq[i]);
		assert_int_equal(vhk_vsock_ops.queue_start(h.vs, &h.devq[i]),
				 0);
	}
	assert_int_equal(h.vs->nconns, 1);
	/* re-initialised rings: the guest dropped its sockets */
	vh_restart_ring(&h, VHK_VSOCK_VQ_RX);
	vh_restart_ring(&h, VHK_VSOCK_VQ_TX);
	assert_int_equal(h.vs->nconns, 0);
	assert_int_equal(vh_read_some(&h, afd, got, sizeof(got), 1000), 0);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/* TRANSPORT_RESET when the event queue starts and after a reset. */
static void test_transport_reset(void **state)
{
	struct vh h;
	uint32_t len;
	void *tok;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, true, 0);
	assert_int_equal(vhk_drv_vq_get_used(h.dq[VHK_VSOCK_VQ_EVENT], &tok,
					     &len), 1);
	assert_int_equal(len, 4);
	assert_int_equal(h.vs->st.events, 1);
	/* nothing more until the connections are lost again */
	vhk_vsock_ops.queue_kick(h.vs, &h.devq[VHK_VSOCK_VQ_EVENT]);
	assert_int_equal(vhk_drv_vq_get_used(h.dq[VHK_VSOCK_VQ_EVENT], &tok,
					     &len), 0);
	/* a device reset loses the connections: one more event when the
	 * event queue runs again */
	for (uint16_t i = 0; i < VHK_VSOCK_NUM_VQS; i++)
		vhk_vsock_ops.queue_stop(h.vs, &h.devq[i]);
	vhk_vsock_ops.reset(h.vs);
	assert_int_equal(vhk_vsock_ops.set_features(h.vs, h.features), 0);
	for (uint16_t i = 0; i < VHK_VSOCK_NUM_VQS; i++)
		assert_int_equal(vhk_vsock_ops.queue_start(h.vs, &h.devq[i]),
				 0);
	assert_int_equal(vhk_drv_vq_get_used(h.dq[VHK_VSOCK_VQ_EVENT], &tok,
					     &len), 1);
	assert_int_equal(len, 4);
	assert_int_equal(h.vs->st.events, 2);
	vh_teardown(&h, 0);
}

/* Two VMs in a group reach each other by CID; other groups do not. */
static void test_siblings(void **state)
{
	struct vhk_vsock_hub *hub;
	struct vh a, b;
	struct vsock_pkt p;
	char got[64];

	(void)state;
	assert_int_equal(vhk_vsock_hub_new(&hub), 0);
	vh_setup(&a, VHK_AS_GPA, false, 3, hub, false, 0);
	vh_setup(&b, VHK_AS_GPA, false, 4, hub, false, 0);
	vh_post_rx(&a, 8);
	vh_post_rx(&b, 8);
	p = vh_pkt(&a, VHK_VSOCK_OP_REQUEST, 100, 200, VHK_VSOCK_TYPE_STREAM);
	p.dst_cid = 4;
	vh_send(&a, &p, NULL, 0);
	assert_int_equal(vh_wait(&b, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_REQUEST);
	assert_int_equal(p.src_cid, 3);
	assert_int_equal(p.dst_cid, 4);
	p = vh_pkt(&b, VHK_VSOCK_OP_RESPONSE, 200, 100, VHK_VSOCK_TYPE_STREAM);
	p.dst_cid = 3;
	vh_send(&b, &p, NULL, 0);
	assert_int_equal(vh_wait(&a, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
	p = vh_pkt(&a, VHK_VSOCK_OP_RW, 100, 200, VHK_VSOCK_TYPE_STREAM);
	p.dst_cid = 4;
	vh_send(&a, &p, "sib", 3);
	assert_int_equal(vh_wait(&b, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.len, 3);
	assert_memory_equal(got, "sib", 3);
	assert_int_equal(a.vs->st.sibling_fwd, 2);	/* REQUEST, RW */
	/* an unknown CID: dropped, counted, a REQUEST gets RST at once */
	p = vh_pkt(&a, VHK_VSOCK_OP_REQUEST, 101, 200, VHK_VSOCK_TYPE_STREAM);
	p.dst_cid = 77;
	vh_send(&a, &p, NULL, 0);
	assert_int_equal(vh_wait(&a, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RST);
	assert_int_equal(a.vs->st.drop_unreachable, 1);
	vh_teardown(&b, 0);
	vh_teardown(&a, 0);
	vhk_vsock_hub_free(hub);
}

static void test_sibling_groups(void **state)
{
	struct vhk_vsock_hub *hub;
	struct vhk_vsock *x, *y;
	struct vhk_vsock_opts ox = { .guest_cid = 10, .uds_path = "/tmp/vhk-vsock-gx",
				     .groups = "red+blue" };
	struct vhk_vsock_opts oy = { .guest_cid = 11, .uds_path = "/tmp/vhk-vsock-gy",
				     .groups = "green" };
	struct vhk_vsock_opts oz = { .guest_cid = 10, .uds_path = "/tmp/vhk-vsock-gz" };
	struct vhk_vsock_opts bad = { .guest_cid = 12, .uds_path = "/tmp/vhk-vsock-gw",
				      .groups = "a++b" };
	struct vhk_vsock *z = NULL;
	struct vsock_pkt p = { .src_cid = 10, .dst_cid = 11,
			       .op = VHK_VSOCK_OP_REQUEST,
			       .type = VHK_VSOCK_TYPE_STREAM };
	struct vhk_iter it = { 0 };

	(void)state;
	assert_int_equal(vhk_vsock_hub_new(&hub), 0);
	assert_int_equal(vhk_vsock_new(&x, hub, &ox), 0);
	assert_int_equal(vhk_vsock_new(&y, hub, &oy), 0);
	assert_int_equal(vhk_vsock_new(&z, hub, &oz), -EEXIST);
	assert_int_equal(vhk_vsock_new(&z, hub, &bad), -EINVAL);
	y->reachable = true;
	/* different groups: unreachable */
	assert_int_equal(vsock_hub_forward(x, &p, &it), -EHOSTUNREACH);
	vhk_vsock_free(y);
	oy.groups = "blue";
	assert_int_equal(vhk_vsock_new(&y, hub, &oy), 0);
	y->reachable = true;
	assert_int_equal(vsock_hub_forward(x, &p, &it), 0);
	assert_int_equal(x->st.sibling_fwd, 1);
	vhk_vsock_free(y);
	vhk_vsock_free(x);
	vhk_vsock_hub_free(hub);
}

static void test_cid_check(void **state)
{
	const char *why;

	(void)state;
	assert_int_equal(vhk_vsock_cid_check(0, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(vhk_vsock_cid_check(1, NULL), -EINVAL);
	assert_int_equal(vhk_vsock_cid_check(2, NULL), -EINVAL);
	assert_int_equal(vhk_vsock_cid_check(0xffffffffull, NULL), -EINVAL);
	assert_int_equal(vhk_vsock_cid_check(0x100000003ull, NULL), -ERANGE);
	assert_int_equal(vhk_vsock_cid_check(3, &why), 0);
	assert_null(why);
	assert_int_equal(vhk_vsock_cid_check(0xfffffffeull, NULL), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cid_check),
		cmocka_unit_test(test_guest_to_host),
		cmocka_unit_test(test_tx_gather),
		cmocka_unit_test(test_guest_close_clean),
		cmocka_unit_test(test_no_listener),
		cmocka_unit_test(test_host_to_guest),
		cmocka_unit_test(test_host_short_reads),
		cmocka_unit_test(test_host_batch_read),
		cmocka_unit_test(test_host_refused),
		cmocka_unit_test(test_seqpacket),
		cmocka_unit_test(test_credit_respected),
		cmocka_unit_test(test_credit_stall_edge),
		cmocka_unit_test(test_credit_request_retry),
		cmocka_unit_test(test_transport_reset),
		cmocka_unit_test(test_driver_reinit),
		cmocka_unit_test(test_siblings),
		cmocka_unit_test(test_sibling_groups),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("vsock", tests);
}
