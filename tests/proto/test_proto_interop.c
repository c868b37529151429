/* SPDX-License-Identifier: MIT */
/*
 * test_proto_interop.c - front-ends that read the vhost-user spec
 * differently, or hand over fds that a careless back-end would block on
 * (docs/interop.md):
 *  - ring addresses as guest addresses in platform-identity mode, and as
 *    front-end virtual addresses (both work, on separate connections);
 *  - IOTLB_MSG payloads of 26 (the spec's field list) and 32 bytes;
 *  - a blocking call eventfd at its counter limit, a full pipe, a pipe
 *    without a reader, blocking kick fds - with and without queue workers:
 *    the device keeps completing, the control channel answers, the fd's
 *    flags stay the front-end's, the next front-end is served;
 *  - unknown requests with NEED_REPLY, FEATURES_OK the device does not
 *    accept (VIRTIO 1.2, 3.1.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto_util.h"
#include "vhost-user/server_int.h"	/* be_fd_signal / be_fd_drain */

#define F(b) vhk_feature_bit(b)
#define EVENTFD_MAX	0xfffffffffffffffeull

/* Post one echo request on queue @idx and wait for its used entry by
 * polling the ring only: the call fd is the test's subject, not its
 * clock.  Returns the used length or -ETIMEDOUT. */
static int echo_poll(struct pt_guest *g, uint16_t idx, const char *msg,
		     int wait_ms)
{
	uint64_t in_gpa = 0x200000 + idx * 0x10000ull;
	void *tok;
	uint32_t len;

	pt_echo_post(g, idx, msg, 64);
	for (int t = 0; t < wait_ms; t++) {
		int r = vhk_drv_vq_get_used(g->dq[idx], &tok, &len);

		if (r < 0)
			return r;
		if (r == 1) {
			if (len != strlen(msg) ||
			    memcmp(g->mem + in_gpa, msg, len) != 0)
				return -EPROTO;
			return (int)len;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* A fresh connection does echo I/O on queue 0: the server serves. */
static void next_frontend_served(struct pt_server *s)
{
	struct pt_guest g;
	char in[64];
	int sock;

	pt_guest_init(&g);
	sock = pt_connect(s->path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	assert_int_equal(pt_echo_once(&g, 0, "next", in, sizeof(in), 3000), 4);
	close(sock);
	pt_guest_fini(&g);
}

/* ---- ring addresses in platform-identity mode */

static void platform_identity_echo(struct pt_server *s, bool ring_gpa)
{
	struct pt_guest g;
	char in[64];
	int sock;

	pt_guest_init(&g);
	g.ring_gpa = ring_gpa;
	sock = pt_connect(s->path);
	/* ACCESS_PLATFORM acked, no BACKEND_REQ, no channel. */
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM),
		     0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	assert_int_equal(pt_setup_vq(sock, &g, 1, 64), 0);
	assert_int_equal(vhk_backend_mode(s->be), VHK_AS_PLATFORM_IDENTITY);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pt_echo_once(&g, 0, "identity", in,
					      sizeof(in), 3000), 8);
		assert_memory_equal(in, "identity", 8);
		assert_int_equal(pt_echo_once(&g, 1, "queue-one", in,
					      sizeof(in), 3000), 9);
	}
	close(sock);
	pt_guest_fini(&g);
}

static void test_platform_identity_rings(void **st)
{
	struct pt_server s;

	(void)st;
	pt_server_start(&s, NULL);
	/* IOVA = GPA, as the spec reads ring addresses under
	 * ACCESS_PLATFORM: was EFAULT at ring start. */
	platform_identity_echo(&s, true);
	/* The front-end's own virtual addresses keep working. */
	platform_identity_echo(&s, false);
	platform_identity_echo(&s, true);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* Ring addresses that are neither reading fail the ring start cleanly. */
static void test_platform_identity_bad_rings(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_vring_state vs = { .index = 0, .num = 64 };
	struct vhk_vu_vring_addr a = {
		.index = 0, .desc_user_addr = 0x7000000000ull,
		.avail_user_addr = 0x7000001000ull,
		.used_user_addr = 0x7000002000ull,
	};
	uint64_t u = 0;
	int sock;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM),
		     0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0),
			 0);
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_ADDR, &a, sizeof(a),
				NULL, 0), 0);
	assert_true(pt_req(sock, VHK_VU_SET_VRING_KICK, &u, 8, &g.kick[0],
			   1) > 0);
	assert_true(pt_alive(sock));
	close(sock);
	pt_guest_fini(&g);
	next_frontend_served(&s);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* ---- IOTLB payload sizes */

static int64_t iotlb_msg(int sock, uint8_t type, uint64_t iova,
			 uint64_t size, uint64_t uaddr, uint32_t wire_size)
{
	struct vhk_vu_iotlb m = {
		.iova = iova, .size = size, .uaddr = uaddr,
		.perm = VHK_PERM_RW, .type = type,
	};
	uint8_t buf[40];

	memset(buf, 0xa5, sizeof(buf));	/* padding is never read */
	memcpy(buf, &m, VHK_VU_IOTLB_MIN_SIZE);
	return pt_req(sock, VHK_VU_IOTLB_MSG, buf, wire_size, NULL, 0);
}

static void iotlb_sizes(uint32_t wire_size)
{
	struct pt_server s;
	struct pt_guest g;
	uint64_t proto = F(VHK_PROTO_F_REPLY_ACK) | F(VHK_PROTO_F_BACKEND_REQ);
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM) |
		     F(VHK_F_PROTOCOL_FEATURES);
	char in[64];
	int sock, sv[2];

	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	g.iotlb = true;
	sock = pt_connect(s.path);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	assert_int_equal(pt_req(sock, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0,
				&sv[1], 1), 0);
	close(sv[1]);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	g.features = f;
	pt_send_mem(sock, &g);
	/* Map everything before the rings start: no miss needed. */
	assert_int_equal(iotlb_msg(sock, VHK_VU_IOTLB_UPDATE, PT_IOVA_BASE,
				   PT_MEM_SIZE, g.uva, wire_size), 0);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_IOTLB);
	assert_int_equal(pt_echo_once(&g, 0, "iotlb-size", in, sizeof(in),
				      3000), 10);
	/* INVALIDATE in the same layout takes the buffers away... */
	assert_int_equal(iotlb_msg(sock, VHK_VU_IOTLB_INVALIDATE,
				   PT_IOVA_BASE + 0x100000, 0x200000, 0,
				   wire_size), 0);
	pt_echo_post(&g, 0, "after-inval", 64);
	assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 200),
			 -ETIMEDOUT);
	/* ...and an UPDATE brings them back: the parked request runs. */
	assert_int_equal(iotlb_msg(sock, VHK_VU_IOTLB_UPDATE,
				   PT_IOVA_BASE + 0x100000, 0x200000,
				   g.uva + 0x100000, wire_size), 0);
	assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 3000), 11);
	/* Neither layout: refused, the connection lives on. */
	assert_true(iotlb_msg(sock, VHK_VU_IOTLB_UPDATE, PT_IOVA_BASE,
			      0x1000, g.uva, VHK_VU_IOTLB_MIN_SIZE - 1) > 0);
	assert_true(iotlb_msg(sock, VHK_VU_IOTLB_UPDATE, PT_IOVA_BASE,
			      0x1000, g.uva, 33) > 0);
	assert_true(pt_alive(sock));
	close(sock);
	close(sv[0]);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_iotlb_packed_26(void **st)
{
	(void)st;
	iotlb_sizes(VHK_VU_IOTLB_MIN_SIZE);
}

static void test_iotlb_padded_32(void **st)
{
	(void)st;
	iotlb_sizes(sizeof(struct vhk_vu_iotlb));
}

/* ---- fds the front-end handed over */

enum bad_call { CALL_EVENTFD_FULL, CALL_PIPE_FULL, CALL_PIPE_NO_READER };

static void fill_pipe(int wfd)
{
	static char junk[4096];
	int fl = fcntl(wfd, F_GETFL);

	/* Fill it through a non-blocking phase, then hand it over in the
	 * blocking state a careless front-end would use. */
	assert_int_equal(fcntl(wfd, F_SETFL, fl | O_NONBLOCK), 0);
	while (write(wfd, junk, sizeof(junk)) > 0)
		;
	while (write(wfd, junk, 1) > 0)
		;
	assert_int_equal(fcntl(wfd, F_SETFL, fl & ~O_NONBLOCK), 0);
}

static void blocked_fds(bool workers, enum bad_call kind)
{
	struct pt_server_opts o = { .queue_workers = workers };
	struct pt_server s;
	struct pt_guest g;
	int sock, p[2] = { -1, -1 };
	uint64_t v;

	pt_server_start(&s, &o);
	pt_guest_init(&g);
	/* Blocking kick fds on both queues. */
	for (int i = 0; i < PT_NQUEUES; i++) {
		close(g.kick[i]);
		g.kick[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(g.kick[i] >= 0);
	}
	close(g.call[0]);
	switch (kind) {
	case CALL_EVENTFD_FULL:
		g.call[0] = eventfd(0, EFD_CLOEXEC);	/* blocking */
		v = EVENTFD_MAX;
		assert_int_equal(write(g.call[0], &v, 8), 8);
		break;
	case CALL_PIPE_FULL:
	case CALL_PIPE_NO_READER:
		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		fill_pipe(p[1]);
		g.call[0] = p[1];
		if (kind == CALL_PIPE_NO_READER) {
			close(p[0]);
			p[0] = -1;
		}
		break;
	}
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	assert_int_equal(pt_setup_vq(sock, &g, 1, 64), 0);
	for (int i = 0; i < 4; i++) {
		/* Completions keep coming on the poisoned queue, the other
		 * queue and the control channel keep working. */
		assert_int_equal(echo_poll(&g, 0, "poisoned-call", 3000), 13);
		assert_int_equal(echo_poll(&g, 1, "healthy", 3000), 7);
		assert_true(pt_alive(sock));
	}
	/* The front-end's file status flags are its own. */
	assert_false(fcntl(g.call[0], F_GETFL) & O_NONBLOCK);
	assert_false(fcntl(g.kick[0], F_GETFL) & O_NONBLOCK);
	if (kind == CALL_EVENTFD_FULL) {
		/* Nothing written, nothing lost: still at the limit. */
		assert_int_equal(read(g.call[0], &v, 8), 8);
		assert_true(v == EVENTFD_MAX);
	}
	/* The queue-1 call eventfd (healthy) was signalled. */
	assert_true(pt_wait_call(&g, 1, 1000));
	close(sock);
	if (p[0] >= 0)
		close(p[0]);
	pt_guest_fini(&g);
	/* The daemon goes on with the next front-end. */
	next_frontend_served(&s);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_call_eventfd_full(void **st)
{
	(void)st;
	blocked_fds(false, CALL_EVENTFD_FULL);
}

static void test_call_eventfd_full_workers(void **st)
{
	(void)st;
	blocked_fds(true, CALL_EVENTFD_FULL);
}

static void test_call_pipe_full(void **st)
{
	(void)st;
	blocked_fds(false, CALL_PIPE_FULL);
}

static void test_call_pipe_full_workers(void **st)
{
	(void)st;
	blocked_fds(true, CALL_PIPE_FULL);
}

static void test_call_pipe_no_reader(void **st)
{
	(void)st;
	/* A write would raise SIGPIPE in this (server) process. */
	blocked_fds(false, CALL_PIPE_NO_READER);
	blocked_fds(true, CALL_PIPE_NO_READER);
}

/* The primitives themselves, on blocking fds (a kick drained by someone
 * else between epoll and read cannot be timed from outside). */
static void test_fdio_never_blocks(void **st)
{
	int8_t nw;
	int efd, p[2];
	uint64_t v;

	(void)st;
	efd = eventfd(0, EFD_CLOEXEC);
	nw = 0;
	assert_int_equal(be_fd_drain(efd, &nw), 0);		/* empty */
	assert_int_equal(be_fd_signal(efd, &nw), 0);
	assert_int_equal(be_fd_drain(efd, &nw), 1);
	assert_int_equal(be_fd_drain(efd, &nw), 0);
	v = EVENTFD_MAX;
	assert_int_equal(write(efd, &v, 8), 8);
	nw = 0;
	assert_int_equal(be_fd_signal(efd, &nw), 1);		/* pending */
	assert_int_equal(be_fd_signal(efd, &nw), 1);
	close(efd);

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	nw = 0;
	assert_int_equal(be_fd_drain(p[0], &nw), 0);
	assert_int_equal(be_fd_signal(p[1], &nw), 0);
	nw = 0;
	assert_int_equal(be_fd_drain(p[0], &nw), 1);
	fill_pipe(p[1]);
	nw = 0;
	assert_int_equal(be_fd_signal(p[1], &nw), 1);		/* full */
	close(p[0]);
	assert_int_equal(be_fd_signal(p[1], &nw), -EPIPE);	/* no SIGPIPE */
	close(p[1]);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	nw = 0;
	assert_int_equal(be_fd_drain(p[0], &nw), -EPIPE);	/* no writer */
	close(p[0]);
	assert_int_equal(be_fd_signal(p[0], &nw), -EBADF);
}

/* ---- replies */

static void test_unknown_need_reply(void **st)
{
	static const uint32_t reqs[] = { 0, 27, 60, VHK_VU_REQUEST_MAX, 999 };
	struct pt_server s;
	struct pt_guest g;
	uint8_t payload[64] = { 1, 2, 3 };
	int sock, efd;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	/* Before any negotiation (no REPLY_ACK yet): NEED_REPLY is still
	 * answered, so the front-end never waits for its own timeout. */
	assert_true(pt_req(sock, 58, NULL, 0, NULL, 0) > 0);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(reqs); i++) {
		efd = eventfd(0, EFD_CLOEXEC);
		assert_true(pt_req(sock, reqs[i], payload, sizeof(payload),
				   &efd, 1) > 0);
		close(efd);
		assert_true(pt_alive(sock));
	}
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static uint64_t status_after(int sock, uint64_t set)
{
	assert_int_equal(pt_req(sock, VHK_VU_SET_STATUS, &set, 8, NULL, 0), 0);
	return pt_get_u64(sock, VHK_VU_GET_STATUS);
}

static void test_features_ok(void **st)
{
	const uint64_t base = VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER;
	const uint64_t fok = base | VHK_STATUS_FEATURES_OK;
	uint64_t proto = F(VHK_PROTO_F_REPLY_ACK) | F(VHK_PROTO_F_STATUS);
	uint64_t f;
	struct pt_server s;
	int sock;

	(void)st;
	pt_server_start(&s, NULL);
	sock = pt_connect(s.path);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	/* VIRTIO 1.2, 3.1.1: no features accepted yet - not kept. */
	assert_int_equal(status_after(sock, fok), base);
	/* A refused feature set (bit 60 never offered): not kept. */
	f = F(VHK_F_VERSION_1) | F(VHK_F_PROTOCOL_FEATURES) | F(60);
	assert_true(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0) > 0);
	assert_int_equal(status_after(sock, fok), base);
	/* Without VERSION_1 (a modern driver must accept it): not kept. */
	f = F(VHK_F_PROTOCOL_FEATURES);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	assert_int_equal(status_after(sock, fok), base);
	/* An accepted set: kept, and DRIVER_OK on top of it too. */
	f = F(VHK_F_VERSION_1) | F(VHK_F_PROTOCOL_FEATURES);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	assert_int_equal(status_after(sock, fok), fok);
	assert_int_equal(status_after(sock, fok | VHK_STATUS_DRIVER_OK),
			 fok | VHK_STATUS_DRIVER_OK);
	/* Reset forgets the accepted set. */
	assert_int_equal(status_after(sock, 0), 0);
	assert_int_equal(status_after(sock, fok), base);
	close(sock);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_platform_identity_rings),
		cmocka_unit_test(test_platform_identity_bad_rings),
		cmocka_unit_test(test_iotlb_packed_26),
		cmocka_unit_test(test_iotlb_padded_32),
		cmocka_unit_test(test_call_eventfd_full),
		cmocka_unit_test(test_call_eventfd_full_workers),
		cmocka_unit_test(test_call_pipe_full),
		cmocka_unit_test(test_call_pipe_full_workers),
		cmocka_unit_test(test_call_pipe_no_reader),
		cmocka_unit_test(test_fdio_never_blocks),
		cmocka_unit_test(test_unknown_need_reply),
		cmocka_unit_test(test_features_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
