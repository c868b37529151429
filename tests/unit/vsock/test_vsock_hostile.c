/* SPDX-License-Identifier: MIT */
/*
 * test_vsock_hostile.c - hostile guests and hostile host clients against
 * the vsock device.  Each input has one expected outcome: a drop and a
 * counter, an RST, or the device marked broken - never a crash, a hang or
 * a leak (fds and memory are counted where it matters).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vsock_harness.h"

#define CID	3
#define GPORT	6000

/* No packet reaches the guest within @ms. */
static void expect_silence(struct vh *h, unsigned int ms)
{
	struct vsock_pkt p;

	assert_int_equal(vh_wait(h, &p, NULL, 0, ms), 0);
}

static void expect_rst(struct vh *h, uint32_t src_port, uint32_t dst_port)
{
	struct vsock_pkt p;

	assert_int_equal(vh_wait(h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RST);
	assert_int_equal(p.src_port, src_port);
	assert_int_equal(p.dst_port, dst_port);
	assert_int_equal(p.dst_cid, h->cid);
}

static void test_short_header(void **state)
{
	struct vh h;
	uint8_t junk[64];

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 4);
	vh_send_bytes(&h, junk, 1);
	vh_send_bytes(&h, junk, 43);
	assert_int_equal(h.vs->st.drop_short_hdr, 2);
	expect_silence(&h, 50);
	vh_teardown(&h, 0);
}

static void test_len_beyond_buffer(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	struct vhk_vsock_hdr hdr;
	uint8_t raw[64];

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 4);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 1, VHK_VSOCK_TYPE_STREAM);
	p.len = 1000;			/* only 20 bytes follow */
	vsock_hdr_encode(&hdr, &p);
	memcpy(raw, &hdr, sizeof(hdr));
	memset(raw + sizeof(hdr), 1, 20);
	vh_send_bytes(&h, raw, sizeof(raw));
	expect_rst(&h, 1, GPORT);
	assert_int_equal(h.vs->st.rst_malformed, 1);
	vh_teardown(&h, 0);
}

static void test_bad_op_type(void **state)
{
	static const uint16_t ops[] = { 0, 8, 0xffff };
	static const uint16_t types[] = { 0, 3, 0xffff };
	struct vh h;
	struct vsock_pkt p;
	unsigned int i;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 16);
	for (i = 0; i < 3; i++) {
		p = vh_pkt(&h, ops[i], GPORT + i, 10, VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, NULL, 0);
		expect_rst(&h, 10, GPORT + i);
		/* VIRTIO 1.2, 5.10.6.4: RST for an unknown type */
		p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, GPORT + i, 11, types[i]);
		vh_send(&h, &p, NULL, 0);
		expect_rst(&h, 11, GPORT + i);
	}
	/* payload on a control op is malformed too */
	p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, GPORT, 12, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, "x", 1);
	expect_rst(&h, 12, GPORT);
	assert_int_equal(h.vs->st.rst_malformed, 7);
	assert_int_equal(h.vs->nconns, 0);
	vh_teardown(&h, 0);
}

static void test_spoofed_cid(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	int lfd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 4);
	lfd = vh_listen(&h, 20, SOCK_STREAM);
	p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, GPORT, 20, VHK_VSOCK_TYPE_STREAM);
	p.src_cid = 99;
	vh_send(&h, &p, NULL, 0);
	p.src_cid = CID | (1ull << 32);
	vh_send(&h, &p, NULL, 0);
	p.src_cid = CID;
	p.dst_cid = VHK_VSOCK_CID_HOST | (1ull << 40);
	vh_send(&h, &p, NULL, 0);
	expect_silence(&h, 50);
	assert_int_equal(h.vs->st.drop_spoofed_cid, 2);
	assert_int_equal(h.vs->st.drop_unreachable, 1);
	assert_int_equal(h.vs->nconns, 0);
	assert_int_equal(vh_accept(lfd), -1);	/* nobody connected */
	close(lfd);
	vh_teardown(&h, 0);
}

static void test_unknown_conn(void **state)
{
	struct vh h;
	struct vsock_pkt p;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, 8);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 30, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, "data", 4);
	expect_rst(&h, 30, GPORT);
	p = vh_pkt(&h, VHK_VSOCK_OP_CREDIT_REQUEST, GPORT, 30,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	expect_rst(&h, 30, GPORT);
	/* an RST for nothing is not answered */
	p = vh_pkt(&h, VHK_VSOCK_OP_RST, GPORT, 30, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	expect_silence(&h, 50);
	assert_int_equal(h.vs->st.rst_unknown_conn, 2);
	vh_teardown(&h, 0);
}

/* A device whose credit is @credit bytes and a guest connection
 * GPORT -> @port to a host listener (*@lfd): the host's accepted fd. */
static int flood_conn(struct vh *h, uint32_t port, uint32_t credit, int *lfd)
{
	struct vsock_pkt p;
	int afd;

	vh_setup(h, VHK_AS_GPA, false, CID, NULL, false, 0);
	h->vs->buf_size = credit;
	vh_post_rx(h, 8);
	*lfd = vh_listen(h, port, SOCK_STREAM);
	p = vh_pkt(h, VHK_VSOCK_OP_REQUEST, GPORT, port,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(h, &p, NULL, 0);
	assert_int_equal(vh_wait(h, &p, NULL, 0, 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
	assert_int_equal(p.buf_alloc, credit);
	afd = vh_accept(*lfd);
	assert_true(afd >= 0);
	return afd;
}

/* A guest that ignores the credit and floods: its connection is reset,
 * the daemon never holds more than buf_alloc of it. */
static void test_credit_flood(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	uint8_t buf[16384];
	unsigned int i;
	int lfd, afd;
	bool reset = false;

	(void)state;
	afd = flood_conn(&h, 40, 8192, &lfd);	/* ... and never reads */
	memset(buf, 0xab, sizeof(buf));
	for (i = 0; i < 10000 && !reset; i++) {
		struct vsock_conn *c;

		p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 40,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, buf, VHK_MIN(sizeof(buf),
					     h.tx_slot - VHK_VSOCK_HDR_SIZE));
		c = vsock_conn_find(h.vs, GPORT, 2, 40);
		if (!c)
			reset = true;
		else
			assert_true(c->buf_len <= 8192);
	}
	assert_true(reset);
	assert_int_equal(h.vs->st.rst_credit, 1);
	for (;;) {
		assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
		if (p.op == VHK_VSOCK_OP_RST)
			break;
		assert_int_equal(p.op, VHK_VSOCK_OP_CREDIT_UPDATE);
	}
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

/*
 * The flood inside one tx pass, while its packets are being gathered for
 * one sendmsg (gather.c): the credit counts the gathered bytes as not yet
 * forwarded - a guest only knows the fwd_cnt it was sent - so the packet
 * that goes beyond it resets the connection.  The bytes before it still
 * reach the host, in order, then EOF; every tx chain comes back.
 */
static void test_credit_flood_gathered(void **state)
{
	/* fragmented runs (a segment per byte): payloads small enough for
	 * a gather's 128 iovecs */
	bool frag = vhk_test_fragmented();
	uint32_t len = frag ? 12 : 1000, credit = frag ? 100 : 8192;
	uint32_t fit = credit / len * len;
	uint8_t buf[1000], got[16384];
	struct vsock_pkt p;
	struct vh h;
	int lfd, afd;
	ssize_t n;

	(void)state;
	afd = flood_conn(&h, 41, credit, &lfd);
	h.defer_tx = true;
	for (unsigned int k = 0; k < 10; k++) {
		memset(buf, (int)k, len);
		p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 41,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, buf, len);
	}
	vh_kick_tx(&h);
	assert_int_equal(h.vs->st.rst_credit, 1);
	assert_null(vsock_conn_find(h.vs, GPORT, 2, 41));
	/* the packets that fit the credit, then EOF */
	n = vh_read_some(&h, afd, got, sizeof(got), 1000);
	assert_int_equal(n, fit);
	for (unsigned int i = 0; i < fit; i++)
		assert_int_equal(got[i], i / len);
	for (unsigned int i = 0; i < VH_NTX; i++)
		assert_false(h.tx_busy[i]);
	close(afd);
	close(lfd);
	vh_teardown(&h, 0);
}

static void test_rx_readable_buffer(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	struct vhk_drv_seg s[2];

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	/* a device-readable rx buffer: VIRTIO 1.2 5.10.6.4 says write-only */
	s[0] = (struct vhk_drv_seg){ vhk_mockmem_buf_addr(&h.m, 0), 64, false };
	s[1] = (struct vhk_drv_seg){ vhk_mockmem_buf_addr(&h.m, 64), 64, true };
	assert_int_equal(vhk_drv_vq_add(h.dq[VHK_VSOCK_VQ_RX], s, 2,
					(void *)(uintptr_t)1000), 0);
	vhk_drv_vq_publish(h.dq[VHK_VSOCK_VQ_RX]);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 50, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);	/* an RST is owed: rx is used */
	assert_int_equal(h.broken, 1);
	assert_int_equal(h.vs->st.rx_bad_buffer, 1);
	vh_teardown(&h, 1);
}

static void test_rx_short_buffer(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	struct vhk_drv_seg s = { 0, 20, true };
	void *tok;
	uint32_t len;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	s.addr = vhk_mockmem_buf_addr(&h.m, 0);
	assert_int_equal(vhk_drv_vq_add(h.dq[VHK_VSOCK_VQ_RX], &s, 1,
					(void *)(uintptr_t)1000), 0);
	vhk_drv_vq_publish(h.dq[VHK_VSOCK_VQ_RX]);
	p = vh_pkt(&h, VHK_VSOCK_OP_RW, GPORT, 51, VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	/* returned unused, the RST waits for a real buffer */
	assert_int_equal(vhk_drv_vq_get_used(h.dq[VHK_VSOCK_VQ_RX], &tok,
					     &len), 1);
	assert_ptr_equal(tok, (void *)(uintptr_t)1000);
	assert_int_equal(len, 0);
	assert_int_equal(h.vs->st.rx_bad_buffer, 1);
	vh_post_rx(&h, 1);
	expect_rst(&h, 51, GPORT);
	vh_teardown(&h, 0);
}

/* TX keeps flowing while rx is full; replies wait, bounded. */
static void test_rx_full(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	unsigned int i, got = 0;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	for (i = 0; i < VSOCK_RSTQ + 100; i++) {
		p = vh_pkt(&h, VHK_VSOCK_OP_RW, 10000 + i, 60,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, NULL, 0);
	}
	/* every tx buffer came back although nothing could be replied */
	assert_int_equal(h.vs->st.tx_packets, VSOCK_RSTQ + 100);
	assert_int_equal(h.vs->st.rstq_overflow, 100);
	vh_post_rx(&h, VH_NRX);
	while (vh_wait(&h, &p, NULL, 0, 100)) {
		assert_int_equal(p.op, VHK_VSOCK_OP_RST);
		assert_int_equal(p.dst_port, 10000 + got);
		got++;
	}
	assert_int_equal(got, VSOCK_RSTQ);
	vh_teardown(&h, 0);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* 10 000 connect / RST cycles: fds and memory flat. */
static void test_connect_rst_cycles(void **state)
{
	unsigned int n = vhk_test_fragmented() ? 2000 : 10000;
	struct vh h;
	struct vsock_pkt p;
	int lfd, fds0 = -1;
	long rss0 = 0;
	unsigned int i;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	vh_post_rx(&h, VH_NRX);
	lfd = vh_listen(&h, 70, SOCK_STREAM);
	for (i = 0; i < n; i++) {
		int afd;

		if (i == n / 10) {
			fds0 = vh_count_fds();
			rss0 = rss_kib();
		}
		p = vh_pkt(&h, VHK_VSOCK_OP_REQUEST, 20000 + i % 3000, 70,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, NULL, 0);
		assert_int_equal(vh_wait(&h, &p, NULL, 0, 1000), 1);
		assert_int_equal(p.op, VHK_VSOCK_OP_RESPONSE);
		afd = vh_accept(lfd);
		assert_true(afd >= 0);
		p = vh_pkt(&h, VHK_VSOCK_OP_RST, 20000 + i % 3000, 70,
			   VHK_VSOCK_TYPE_STREAM);
		vh_send(&h, &p, NULL, 0);
		close(afd);
	}
	assert_int_equal(h.vs->nconns, 0);
	assert_int_equal(h.vs->st.conns_opened, n);
	assert_int_equal(vh_count_fds(), fds0);
	assert_true(rss_kib() - rss0 < 4096);
	close(lfd);
	vh_teardown(&h, 0);
}

static int raw_client(struct vh *h, const char *line, size_t n)
{
	int fd = vh_client(h);

	if (n)
		assert_int_equal(send(fd, line, n, 0), (ssize_t)n);
	return fd;
}

/* The client's socket was closed by the daemon. */
static void expect_closed(struct vh *h, int fd)
{
	char b[8];
	ssize_t r = vh_read_some(h, fd, b, sizeof(b), 2000);

	/* EOF, or ECONNRESET when the daemon closed with bytes unread */
	assert_true(r == 0 || r == -ECONNRESET);
	close(fd);
}

static void test_bad_connect_lines(void **state)
{
	static const char *const bad[] = {
		"CONNECT abc\n", "CONNECT \n", "connect 5\n", "CONNECT -1\n",
		"CONNECT 99999999999\n", "CONNECT 4294967296\n",
		"CONNECT 5 6\n", "HELLO\n",
		"CONNECT 1234567890123456789012345678901234567890",
	};
	struct vh h;
	struct vsock_pkt req, p;
	char got[32];
	unsigned int i;
	int good, fd;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	h.vs->line_ms = 300;
	vh_post_rx(&h, 16);
	/* a good connection first: it must not notice anything */
	good = raw_client(&h, "CONNECT 80\nearly", 16);
	assert_int_equal(vh_wait(&h, &req, NULL, 0, 1000), 1);
	assert_int_equal(req.op, VHK_VSOCK_OP_REQUEST);
	p = vh_pkt(&h, VHK_VSOCK_OP_RESPONSE, 80, req.src_port,
		   VHK_VSOCK_TYPE_STREAM);
	vh_send(&h, &p, NULL, 0);
	for (i = 0; i < VHK_ARRAY_SIZE(bad); i++) {
		fd = raw_client(&h, bad[i], strlen(bad[i]));
		expect_closed(&h, fd);
	}
	/* closes before the newline; never sends anything (times out) */
	fd = raw_client(&h, "CONNECT 8", 9);
	shutdown(fd, SHUT_WR);
	expect_closed(&h, fd);
	fd = raw_client(&h, NULL, 0);
	expect_closed(&h, fd);
	fd = raw_client(&h, "CONNECT 1", 9);	/* no newline, ever */
	expect_closed(&h, fd);
	assert_int_equal(h.vs->st.host_bad_connect, VHK_ARRAY_SIZE(bad) + 3);
	/* the good one: OK line, then the bytes sent after the newline */
	assert_int_equal(vh_read_some(&h, good, got, 3, 1000), 3);
	assert_memory_equal(got, "OK ", 3);
	assert_int_equal(vh_wait(&h, &p, got, sizeof(got), 1000), 1);
	assert_int_equal(p.op, VHK_VSOCK_OP_RW);
	assert_int_equal(p.len, 5);
	assert_memory_equal(got, "early", 5);
	assert_int_equal(h.vs->nconns, 1);
	close(good);
	vh_teardown(&h, 0);
}

/* A storm of host clients: bounded, nothing leaks, others unaffected. */
static void test_connect_storm(void **state)
{
	struct vh h;
	struct vsock_pkt p;
	int fds[600], fds0;
	unsigned int i, reqs = 0;

	(void)state;
	vh_setup(&h, VHK_AS_GPA, false, CID, NULL, false, 0);
	h.vs->connect_ms = 200;
	vh_post_rx(&h, VH_NRX);
	fds0 = vh_count_fds();
	for (i = 0; i < 600; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", 100 + i);

		fds[i] = vh_client(&h);
		if (i % 2)		/* half send their line */
			(void)send(fds[i], line, (size_t)n, MSG_NOSIGNAL);
		if (i % 50 == 0)
			vh_poll(&h);
	}
	for (i = 0; i < 50; i++)
		vh_poll(&h);
	/* the guest refuses nothing and answers nothing: requests time out */
	while (vh_wait(&h, &p, NULL, 0, 400))
		if (p.op == VHK_VSOCK_OP_REQUEST)
			reqs++;
	assert_true(reqs > 0);
	assert_true(h.vs->nclients <= VSOCK_MAX_CLIENTS);
	for (i = 0; i < 600; i++)
		close(fds[i]);
	h.vs->line_ms = 1;
	poll(NULL, 0, 300);
	for (i = 0; i < 20; i++) {
		vh_poll(&h);
		poll(NULL, 0, 20);
	}
	assert_int_equal(h.vs->nclients, 0);
	assert_int_equal(h.vs->nconns, 0);
	assert_int_equal(vh_count_fds(), fds0);
	vh_teardown(&h, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_header),
		cmocka_unit_test(test_len_beyond_buffer),
		cmocka_unit_test(test_bad_op_type),
		cmocka_unit_test(test_spoofed_cid),
		cmocka_unit_test(test_unknown_conn),
		cmocka_unit_test(test_credit_flood),
		cmocka_unit_test(test_credit_flood_gathered),
		cmocka_unit_test(test_rx_readable_buffer),
		cmocka_unit_test(test_rx_short_buffer),
		cmocka_unit_test(test_rx_full),
		cmocka_unit_test(test_connect_rst_cycles),
		cmocka_unit_test(test_bad_connect_lines),
		cmocka_unit_test(test_connect_storm),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("vsock-hostile", tests);
}
