/* SPDX-License-Identifier: MIT */
/*
 * test_proto_flow.c - positive vhost-user flows against the real back-end
 * server: negotiation, memfd memory, split and packed rings echoing data,
 * GET_VRING_BASE stop/restart, config, inflight, IOTLB miss/park/resume,
 * IOTLB persist vs flush across RESET_DEVICE, reconnects.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto_util.h"
#include "vhostkit/ring_ctl.h"
#include "vhostkit/backend.h"

#define F(b) vhk_feature_bit(b)

static void echo_n(struct pt_guest *g, uint16_t idx, int n)
{
	for (int i = 0; i < n; i++) {
		char out[32], in[64];
		int len;

		snprintf(out, sizeof(out), "hello %d from vq%u", i, idx);
		len = pt_echo_once(g, idx, out, in, sizeof(in), 2000);
		assert_int_equal(len, (int)strlen(out));
		assert_memory_equal(in, out, strlen(out));
	}
}

static void plain_echo(bool packed)
{
	struct pt_server s;
	struct pt_guest g;
	uint64_t f = F(VHK_F_VERSION_1) | (packed ? F(VHK_F_RING_PACKED) : 0);
	int sock;

	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, f, F(VHK_PROTO_F_MQ) | F(VHK_PROTO_F_CONFIG));
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 256), 0);
	assert_int_equal(pt_setup_vq(sock, &g, 1, packed ? 100 : 64), 0);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_GPA);
	echo_n(&g, 0, 20);
	echo_n(&g, 1, 300);	/* wraps the 64/100-entry ring */
	assert_true(atomic_load(&s.echo.chains) >= 320);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	assert_true(atomic_load(&s.echo.stops) >= 2);
	pt_server_stop(&s);
}

static void test_split_echo(void **st)
{
	(void)st;
	plain_echo(false);
}

static void test_packed_echo(void **st)
{
	(void)st;
	plain_echo(true);
}

/*
 * A kick eventfd is watched edge-triggered and never read: every write
 * still gets its chains processed (here one round trip per kick, so a
 * lost wake-up times out), and the counter the front-end wrote is still
 * there.  A kick fd that is not an eventfd (a pipe) is still emptied:
 * nothing the front-end wrote is left in it.
 */
static void kick_edge(bool workers)
{
	struct pt_server_opts o = { .queue_workers = workers };
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_msg m;
	struct vhk_vu_vring_state vs = { .index = 0 };
	uint64_t u = 0, v = 0;
	int sock, p[2], left = -1;

	pt_server_start(&s, &o);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 16), 0);
	echo_n(&g, 0, 40);
	/* One write of 1 per kick, at least one kick per round trip. */
	assert_int_equal(read(g.kick[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_true(v >= 40);
	echo_n(&g, 0, 5);	/* still served after our read */

	/* The same ring on a pipe: stopped, then restarted with it. */
	assert_int_equal(pt_get(sock, VHK_VU_GET_VRING_BASE, &vs, 8, &m, NULL,
				NULL), 8);
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_KICK, &u, 8, &p[0], 1),
			 0);
	close(p[0]);
	close(g.kick[0]);
	g.kick[0] = p[1];	/* kicks now write 8 bytes to the pipe */
	echo_n(&g, 0, 40);
	/* The last kick may be read after its chain was served (the ring
	 * pass of an earlier kick saw it): give the loop a moment. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(ioctl(p[1], FIONREAD, &left), 0);
		if (!left)
			break;
		usleep(10000);
	}
	assert_int_equal(left, 0);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_kick_edge(void **st)
{
	(void)st;
	kick_edge(false);
}

static void test_kick_edge_workers(void **st)
{
	(void)st;
	kick_edge(true);
}

/* GET_VRING_BASE stops the ring and reports where to resume; a new kick
 * fd restarts it there. */
static void base_restart(bool packed)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_msg m;
	struct vhk_vu_vring_state vs = { .index = 0 };
	char in[64];
	uint64_t u = 0;
	uint32_t chains = 19 * pt_chains_per_echo();
	int sock;

	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1) |
		     (packed ? F(VHK_F_RING_PACKED) : 0), 0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 16), 0);
	echo_n(&g, 0, 19);	/* wraps */
	assert_int_equal(pt_get(sock, VHK_VU_GET_VRING_BASE, &vs, 8, &m, NULL,
				NULL), 8);
	assert_int_equal(m.payload.state.index, 0);
	if (packed) {
		/* 2 slots per chain on 16 slots; the wrap counter starts at
		 * 1 and flips at each wrap; avail and used alike (echo: 38
		 * slots, slot 6 after two wraps; blk: 76, slot 12, four). */
		uint32_t slots = chains * 2;
		uint32_t pos = (slots % 16) | ((slots / 16) % 2 ? 0 : 1u << 15);

		assert_int_equal(m.payload.state.num, pos | pos << 16);
	} else {
		assert_int_equal(m.payload.state.num, chains);
	}
	/* Stopped: a new buffer is not processed. */
	pt_echo_post(&g, 0, "after-stop", sizeof(in));
	assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 200),
			 -ETIMEDOUT);
	/* Restart at the saved base with a new kick fd. */
	assert_int_equal(pt_req(sock, VHK_VU_SET_VRING_KICK, &u, 8, &g.kick[0],
				1), 0);
	assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 2000), 10);
	assert_memory_equal(in, "after-stop", 10);
	echo_n(&g, 0, 20);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_vring_base_restart(void **st)
{
	(void)st;
	base_restart(false);
}

static void test_vring_base_restart_packed(void **st)
{
	(void)st;
	base_restart(true);
}

/* Without PROTOCOL_FEATURES rings start enabled: no SET_VRING_ENABLE. */
static void test_no_protocol_features(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	uint64_t f = F(VHK_F_VERSION_1);
	int sock;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	g.features = f;
	g.no_enable = true;
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 32), 0);
	echo_n(&g, 0, 5);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* Echo config: 16 bytes 0xa0.., all writable. */
static void echo_config(int sock, struct pt_server *s)
{
	struct vhk_vu_msg m;
	struct vhk_vu_config c = { .offset = 4, .size = 8 };

	assert_int_equal(pt_get(sock, VHK_VU_GET_CONFIG, &c, 12 + 8, &m, NULL,
				NULL), 20);
	for (int i = 0; i < 8; i++)
		assert_int_equal(m.payload.config.region[i], 0xa4 + i);
	c.offset = 0;
	c.size = 2;
	c.region[0] = 0x11;
	c.region[1] = 0x22;
	assert_int_equal(pt_req(sock, VHK_VU_SET_CONFIG, &c, 14, NULL, 0), 0);
	assert_int_equal(s->echo.config[1], 0x22);
}

/* Blk config (VIRTIO 1.2, 5.2.4): the capacity of the disk; writeback
 * is the one writable field, and takes 0 or 1 only. */
static void blk_config(int sock)
{
	struct vhk_vu_msg m;
	struct vhk_vu_config c = { .offset = 0, .size = 8 };
	uint32_t wb = offsetof(struct vhk_blk_config, writeback);
	uint64_t cap;

	assert_int_equal(pt_get(sock, VHK_VU_GET_CONFIG, &c, 12 + 8, &m, NULL,
				NULL), 20);
	memcpy(&cap, m.payload.config.region, 8);
	assert_int_equal(le64toh(cap), PT_BLK_DISK_SIZE / 512);
	for (uint8_t v = 0; v < 2; v++) {
		c.offset = wb;
		c.size = 1;
		c.region[0] = v;
		assert_int_equal(pt_req(sock, VHK_VU_SET_CONFIG, &c, 13, NULL,
					0), 0);
		assert_int_equal(pt_get(sock, VHK_VU_GET_CONFIG, &c, 13, &m,
					NULL, NULL), 13);
		assert_int_equal(m.payload.config.region[0], v);
	}
	c.region[0] = 2;
	assert_true(pt_req(sock, VHK_VU_SET_CONFIG, &c, 13, NULL, 0) > 0);
	c.offset = 0;
	assert_true(pt_req(sock, VHK_VU_SET_CONFIG, &c, 13, NULL, 0) > 0);
}

/* Config space through the device ops; status round trip. */
static void test_config_status(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	bool blk = pt_device() == PT_DEV_BLK;
	uint64_t v;
	int sock;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1) |
		     (blk ? F(VHK_BLK_F_CONFIG_WCE) : 0),
		     F(VHK_PROTO_F_CONFIG) | F(VHK_PROTO_F_STATUS));
	if (blk)
		blk_config(sock);
	else
		echo_config(sock, &s);
	v = VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER |
	    VHK_STATUS_FEATURES_OK | VHK_STATUS_DRIVER_OK;
	assert_int_equal(pt_req(sock, VHK_VU_SET_STATUS, &v, 8, NULL, 0), 0);
	assert_int_equal(pt_get_u64(sock, VHK_VU_GET_STATUS), v);
	v = 0;
	assert_int_equal(pt_req(sock, VHK_VU_SET_STATUS, &v, 8, NULL, 0), 0);
	assert_int_equal(pt_get_u64(sock, VHK_VU_GET_STATUS), 0);
	assert_true(atomic_load(&s.echo.resets) >= 1);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* GET_INFLIGHT_FD: a memfd of the right size; repeated calls do not leak. */
static void test_inflight(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_msg m;
	struct vhk_vu_inflight in = { .num_queues = 2, .queue_size = 128 };
	int fds[VHK_VU_MAX_FDS], sock, before;
	unsigned int nfds;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1),
		     F(VHK_PROTO_F_INFLIGHT_SHMFD));
	before = pt_fd_count();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(pt_get(sock, VHK_VU_GET_INFLIGHT_FD, &in,
					sizeof(in), &m, fds, &nfds),
				 (int)sizeof(in));
		assert_int_equal(nfds, 1);
		assert_int_equal(m.payload.inflight.mmap_size,
				 2 * vhk_vq_inflight_size(128, false));
		assert_int_equal(lseek(fds[0], 0, SEEK_END),
				 (off_t)m.payload.inflight.mmap_size);
		close(fds[0]);
	}
	/* The server closes its copy just after replying. */
	assert_int_equal(pt_wait_fds(before), before);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 128), 0);
	echo_n(&g, 0, 5);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* ---- IOTLB */

static int channel_pair(int sock, int *mine)
{
	int sv[2];
	int64_t r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	r = pt_req(sock, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
	close(sv[1]);
	*mine = sv[0];
	return (int)r;
}

static int64_t iotlb_update(int sock, struct pt_guest *g, uint64_t gpa,
			    uint64_t size, uint8_t perm)
{
	struct vhk_vu_iotlb u = {
		.iova = PT_IOVA_BASE + gpa,
		.size = size,
		.uaddr = g->uva + gpa,
		.perm = perm,
		.type = VHK_VU_IOTLB_UPDATE,
	};

	return pt_req(sock, VHK_VU_IOTLB_MSG, &u, sizeof(u), NULL, 0);
}

/* Expect one MISS on the back-end channel; returns its iova. */
static uint64_t expect_miss(int ch)
{
	struct vhk_vu_msg m;

	assert_int_equal(pt_recv(ch, &m, NULL, NULL), 0);
	assert_int_equal(m.hdr.request, VHK_VU_BACKEND_IOTLB_MSG);
	assert_int_equal(m.hdr.size, sizeof(struct vhk_vu_iotlb));
	assert_int_equal(m.payload.iotlb.type, VHK_VU_IOTLB_MISS);
	return m.payload.iotlb.iova;
}

static void iotlb_connect(struct pt_server *s, struct pt_guest *g, int *sock,
			  int *ch, uint64_t extra_proto)
{
	pt_guest_init(g);
	g->iotlb = true;
	*sock = pt_connect(s->path);
	/* Protocol features first, then the channel, then SET_FEATURES
	 * with ACCESS_PLATFORM (QEMU's order). */
	{
		uint64_t proto = F(VHK_PROTO_F_REPLY_ACK) |
				 F(VHK_PROTO_F_BACKEND_REQ) | extra_proto;
		uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM) |
			     F(VHK_F_PROTOCOL_FEATURES);

		assert_int_equal(pt_send_raw(*sock, VHK_VU_SET_OWNER,
					     VHK_VU_VERSION, NULL, 0, NULL, 0),
				 0);
		assert_int_equal(pt_send_raw(*sock,
					     VHK_VU_SET_PROTOCOL_FEATURES,
					     VHK_VU_VERSION, &proto, 8, NULL,
					     0), 0);
		assert_int_equal(channel_pair(*sock, ch), 0);
		assert_int_equal(pt_req(*sock, VHK_VU_SET_FEATURES, &f, 8,
					NULL, 0), 0);
		g->features = f;
	}
	pt_send_mem(*sock, g);
}

static void test_iotlb_miss_park_resume(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	char in[64];
	double cpu0, cpu1;
	uint64_t iova;
	int sock, ch;

	(void)st;
	pt_server_start(&s, NULL);
	iotlb_connect(&s, &g, &sock, &ch, 0);
	/* The ring itself misses first: its start asks for a mapping. */
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	iova = expect_miss(ch);
	assert_true(iova >= PT_IOVA_BASE + 0x10000 &&
		    iova < PT_IOVA_BASE + 0x20000);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_IOTLB);
	assert_int_equal(iotlb_update(sock, &g, 0x10000, 0x10000,
				      VHK_PERM_RW), 0);
	/* Buffers are not mapped yet: the queue parks on a miss. */
	pt_echo_post(&g, 0, "through-iotlb", sizeof(in));
	iova = expect_miss(ch);
	assert_true(iova >= PT_IOVA_BASE + 0x100000 &&
		    iova < PT_IOVA_BASE + 0x300000);
	/* The MISS is sent from inside the pop: the park follows. */
	for (int i = 0; i < 200 && atomic_load(&s.echo.parks) < 1; i++)
		usleep(10000);
	assert_true(atomic_load(&s.echo.parks) >= 1);
	/* Parked means idle: no busy loop while the miss is pending. */
	cpu0 = pt_cpu_ms();
	usleep(300000);
	cpu1 = pt_cpu_ms();
	assert_true(cpu1 - cpu0 < 60.0);
	assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 50),
			 -ETIMEDOUT);
	/* The UPDATE resumes the queue (the write buffer may miss once
	 * more: answer every miss until the echo completes). */
	assert_int_equal(iotlb_update(sock, &g, 0x100000, 0x10000,
				      VHK_PERM_RO), 0);
	for (int i = 0; i < 3; i++) {
		int r = pt_echo_collect(&g, 0, in, sizeof(in), 300);

		if (r >= 0) {
			assert_int_equal(r, 13);
			assert_memory_equal(in, "through-iotlb", 13);
			break;
		}
		iova = expect_miss(ch);
		assert_true(iova >= PT_IOVA_BASE + 0x200000);
		assert_int_equal(iotlb_update(sock, &g, 0x200000, 0x10000,
					      VHK_PERM_WO), 0);
		assert_true(i < 2);
	}
	echo_n(&g, 0, 10);
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* RESET_DEVICE flushes the IOTLB unless IOTLB_PERSIST was acked. */
static void persist_case(bool persist)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_msg m;
	uint64_t f;
	char in[64];
	int sock, ch, r;

	pt_server_start(&s, NULL);
	iotlb_connect(&s, &g, &sock, &ch,
		      persist ? F(VHK_PROTO_F_IOTLB_PERSIST) : 0);
	assert_int_equal(iotlb_update(sock, &g, 0, PT_MEM_SIZE, VHK_PERM_RW),
			 0);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	echo_n(&g, 0, 3);
	assert_int_equal(pt_req(sock, VHK_VU_RESET_DEVICE, NULL, 0, NULL, 0),
			 0);
	assert_true(atomic_load(&s.echo.resets) >= 1);
	/* Bring the device up again (features were reset). */
	f = g.features;
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	if (persist) {
		echo_n(&g, 0, 3);
		/* No miss was sent: the channel is silent. */
		assert_int_equal(recv(ch, &m, sizeof(m), MSG_DONTWAIT), -1);
	} else {
		expect_miss(ch);
		r = pt_echo_collect(&g, 0, in, sizeof(in), 100);
		assert_int_equal(r, -ETIMEDOUT);
		assert_int_equal(iotlb_update(sock, &g, 0, PT_MEM_SIZE,
					      VHK_PERM_RW), 0);
		echo_n(&g, 0, 3);
	}
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_iotlb_persist(void **st)
{
	(void)st;
	persist_case(true);
}

static void test_iotlb_flush_on_reset(void **st)
{
	(void)st;
	persist_case(false);
}

/*
 * GET_VRING_BASE on every ring stops the device, and a front-end does not
 * forward the guest's invalidations while its device is stopped (QEMU
 * 7.2): the entries are dropped, so rings restarted at the same IOVAs
 * miss instead of reading through a mapping the guest freed meanwhile
 * (a guest's virtio-pci unbind/bind behind a vIOMMU).  With IOTLB_PERSIST
 * they stay.
 */
static void stop_case(bool persist)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_vu_msg m;
	struct vhk_vu_vring_state vs = { .index = 0 };

	int sock, ch;

	pt_server_start(&s, NULL);
	iotlb_connect(&s, &g, &sock, &ch,
		      persist ? F(VHK_PROTO_F_IOTLB_PERSIST) : 0);
	assert_int_equal(iotlb_update(sock, &g, 0, PT_MEM_SIZE, VHK_PERM_RW),
			 0);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	echo_n(&g, 0, 3);
	assert_int_equal(pt_get(sock, VHK_VU_GET_VRING_BASE, &vs, 8, &m, NULL,
				NULL), 8);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	if (persist) {
		echo_n(&g, 0, 3);
		assert_int_equal(recv(ch, &m, sizeof(m), MSG_DONTWAIT), -1);
	} else {
		char in[64];

		/* The ring's first access misses: nothing kept. */
		assert_int_equal(expect_miss(ch), PT_IOVA_BASE + 0x10000);
		assert_int_equal(pt_echo_collect(&g, 0, in, sizeof(in), 100),
				 -ETIMEDOUT);
		assert_int_equal(iotlb_update(sock, &g, 0, PT_MEM_SIZE,
					      VHK_PERM_RW), 0);
		echo_n(&g, 0, 3);
	}
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

static void test_iotlb_flush_on_stop(void **st)
{
	(void)st;
	stop_case(false);
}

static void test_iotlb_persist_on_stop(void **st)
{
	(void)st;
	stop_case(true);
}

/* A miss nobody answers: the device is marked NEEDS_RESET, once, and the
 * server does not spin meanwhile. */
static void test_iotlb_miss_timeout(void **st)
{
	struct pt_server s;
	struct pt_server_opts o = { .miss_timeout_ms = 200 };
	struct pt_guest g;
	double cpu0;
	int sock, ch;

	(void)st;
	pt_server_start(&s, &o);
	iotlb_connect(&s, &g, &sock, &ch, F(VHK_PROTO_F_STATUS));
	cpu0 = pt_cpu_ms();
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	expect_miss(ch);
	usleep(500000);
	assert_true(pt_cpu_ms() - cpu0 < 100.0);
	assert_true(pt_get_u64(sock, VHK_VU_GET_STATUS) &
		    VHK_STATUS_NEEDS_RESET);
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* A miss whose ring was stopped meanwhile is stale: no NEEDS_RESET. */
static void test_iotlb_stale_miss(void **st)
{
	struct pt_server s;
	struct pt_server_opts o = { .miss_timeout_ms = 150 };
	struct pt_guest g;
	struct vhk_vu_msg m;
	struct vhk_vu_vring_state vs = { .index = 0 };
	int sock, ch;

	(void)st;
	pt_server_start(&s, &o);
	iotlb_connect(&s, &g, &sock, &ch, F(VHK_PROTO_F_STATUS) |
		      F(VHK_PROTO_F_IOTLB_PERSIST));
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	expect_miss(ch);
	assert_int_equal(pt_get(sock, VHK_VU_GET_VRING_BASE, &vs, 8, &m, NULL,
				NULL), 8);
	usleep(400000);
	assert_false(pt_get_u64(sock, VHK_VU_GET_STATUS) &
		     VHK_STATUS_NEEDS_RESET);
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* A back-end channel the front-end does not read: the MISS waits in the
 * server's queue, the socket loop keeps serving, and the MISS goes out
 * once the channel drains. */
static void test_channel_backpressure(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	uint64_t proto = F(VHK_PROTO_F_REPLY_ACK) | F(VHK_PROTO_F_BACKEND_REQ);
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM) |
		     F(VHK_F_PROTOCOL_FEATURES);
	static char junk[4096];
	size_t filled = 0;
	int sock, sv[2], sz = 4096;

	(void)st;
	pt_server_start(&s, NULL);
	pt_guest_init(&g);
	g.iotlb = true;
	sock = pt_connect(s.path);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	/* Fill the channel before handing it over. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	for (;;) {
		ssize_t w = send(sv[1], junk, sizeof(junk), MSG_DONTWAIT);

		if (w <= 0)
			break;
		filled += (size_t)w;
	}
	assert_true(filled > 0);
	assert_int_equal(pt_req(sock, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0,
				&sv[1], 1), 0);
	close(sv[1]);
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	g.features = f;
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 64), 0);
	/* The ring's MISS could not be written: the loop still serves. */
	for (int i = 0; i < 20; i++)
		assert_true(pt_alive(sock));
	/* Drain the junk; the queued MISS follows it. */
	while (filled > 0) {
		ssize_t r = recv(sv[0], junk, VHK_MIN(sizeof(junk), filled), 0);

		assert_true(r > 0);
		filled -= (size_t)r;
	}
	expect_miss(sv[0]);
	assert_int_equal(iotlb_update(sock, &g, 0, PT_MEM_SIZE, VHK_PERM_RW),
			 0);
	echo_n(&g, 0, 3);
	close(sv[0]);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* iommu=on without a channel refuses ACCESS_PLATFORM; iommu=off does not
 * offer it. */
static void test_iommu_policy(void **st)
{
	struct pt_server s;
	struct pt_server_opts on = { .iommu = VHK_IOMMU_ON };
	struct pt_server_opts off = { .iommu = VHK_IOMMU_OFF };
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM) |
		     F(VHK_F_PROTOCOL_FEATURES);
	int sock;

	(void)st;
	pt_server_start(&s, &on);
	sock = pt_connect(s.path);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	{
		uint64_t p = F(VHK_PROTO_F_REPLY_ACK);

		assert_int_equal(pt_send_raw(sock,
					     VHK_VU_SET_PROTOCOL_FEATURES,
					     VHK_VU_VERSION, &p, 8, NULL, 0),
				 0);
	}
	assert_true(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0) > 0);
	close(sock);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);

	pt_server_start(&s, &off);
	sock = pt_connect(s.path);
	assert_false(vhk_has_feature(pt_get_u64(sock, VHK_VU_GET_FEATURES),
				     VHK_F_ACCESS_PLATFORM));
	close(sock);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* One front-end after another; each starts from a clean state. */
static void test_reconnect(void **st)
{
	struct pt_server s;

	(void)st;
	pt_server_start(&s, NULL);
	for (int i = 0; i < 3; i++) {
		struct pt_guest g;
		int sock;

		pt_guest_init(&g);
		sock = pt_connect(s.path);
		pt_negotiate(sock, &g, F(VHK_F_VERSION_1) |
			     (i == 1 ? F(VHK_F_RING_PACKED) : 0), 0);
		pt_send_mem(sock, &g);
		assert_int_equal(pt_setup_vq(sock, &g, 0, 32), 0);
		echo_n(&g, 0, 40);
		close(sock);
		pt_guest_fini(&g);
		assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	}
	pt_server_stop(&s);
}

/* Connect mode: the server dials the front-end (retrying until it
 * listens); with cfg.once it returns after that front-end leaves. */
static void test_connect_mode(void **st)
{
	struct pt_server s;
	struct pt_server_opts o = { .connect = true, .once = true };
	struct pt_guest g;
	int sock;

	(void)st;
	pt_server_start(&s, &o);
	sock = accept4(s.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(sock >= 0);
	pt_guest_init(&g);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	pt_send_mem(sock, &g);
	assert_int_equal(pt_setup_vq(sock, &g, 0, 32), 0);
	echo_n(&g, 0, 5);
	close(sock);
	pt_guest_fini(&g);
	/* once: run() returns by itself */
	pthread_join(s.thread, NULL);
	s.thread = pthread_self();
	assert_int_equal(s.run_rc, 0);
	close(s.listen_fd);
	unlink(s.path);
	pt_server_free(&s);
}

/* Device watches run on the server thread's loop. */
static atomic_uint watch_hits;

static void on_watch(void *opaque, int fd, uint32_t events)
{
	uint64_t v;

	(void)opaque;
	(void)events;
	if (read(fd, &v, 8) == 8)
		atomic_fetch_add(&watch_hits, (unsigned int)v);
}

static void add_watch(struct pt_server *s, void *opaque)
{
	int fd = *(int *)opaque;

	assert_int_equal(vhk_backend_watch(s->be, fd, EPOLLIN, on_watch,
					   NULL), 0);
	assert_int_equal(vhk_backend_unwatch(s->be, 12345), -ENOENT);
}

static void test_watch(void **st)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct pt_server_opts o = { .before_run = add_watch, .opaque = &efd };
	struct pt_server s;
	uint64_t v = 3;

	(void)st;
	atomic_store(&watch_hits, 0);
	pt_server_start(&s, &o);
	assert_int_equal(write(efd, &v, 8), 8);
	for (int i = 0; i < 200 && atomic_load(&watch_hits) < 3; i++)
		usleep(10000);
	assert_int_equal(atomic_load(&watch_hits), 3);
	pt_server_stop(&s);
	close(efd);
}

/* NET_SET_MTU and SEND_RARP are acked by a net device (the echo device
 * posing as one: it offers NET_MTU and RARP; blk does not). */
static void test_net_messages(void **st)
{
	struct pt_server s;
	struct pt_server_opts o = { .type = VHK_DEV_NET };
	struct pt_guest g;
	uint64_t mtu = 1500, mac = 0x525400123456ull;
	int sock;

	(void)st;
	if (pt_device() == PT_DEV_BLK)
		skip();
	pt_server_start(&s, &o);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), F(VHK_PROTO_F_NET_MTU) |
		     F(VHK_PROTO_F_RARP));
	assert_int_equal(pt_req(sock, VHK_VU_NET_SET_MTU, &mtu, 8, NULL, 0),
			 0);
	assert_int_equal(pt_req(sock, VHK_VU_SEND_RARP, &mac, 8, NULL, 0), 0);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/*
 * An IOTLB smaller than vhk_iotlb_min_entries() is refused at creation: a
 * request needing more entries than the table holds would evict its own
 * mappings forever.  The floor itself is accepted.
 */
static void test_iotlb_floor(void **state)
{
	struct vhk_backend_config cfg = { 0 };
	struct vhk_backend *be = NULL;
	struct echo_dev ed;
	unsigned int n, max_iov;
	unsigned long floor;
	char dir[] = "/tmp/vhk-proto-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	echo_dev_init(&ed);
	n = echo_dev_ops.num_vrings ? echo_dev_ops.num_vrings(&ed) :
				      echo_dev_ops.num_queues(&ed);
	max_iov = echo_dev_ops.max_iov ? echo_dev_ops.max_iov(&ed) : 0;
	floor = vhk_iotlb_min_entries(n, max_iov);
	/* 3 ring areas + the segments + the indirect table's pages a ring */
	assert_true(floor >= n * (3ul + (max_iov ? max_iov :
					   VHK_VQ_DEFAULT_MAX_IOV)));
	cfg.socket_path = path;
	cfg.name = "floor";
	cfg.iotlb_max_entries = 2;
	assert_int_equal(vhk_backend_new(&be, &cfg, &echo_dev_ops, &ed),
			 -ERANGE);
	cfg.iotlb_max_entries = (unsigned int)floor - 1;
	assert_int_equal(vhk_backend_new(&be, &cfg, &echo_dev_ops, &ed),
			 -ERANGE);
	cfg.iotlb_max_entries = (unsigned int)floor;
	assert_int_equal(vhk_backend_new(&be, &cfg, &echo_dev_ops, &ed), 0);
	vhk_backend_free(be);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iotlb_floor),
		cmocka_unit_test(test_split_echo),
		cmocka_unit_test(test_packed_echo),
		cmocka_unit_test(test_kick_edge),
		cmocka_unit_test(test_kick_edge_workers),
		cmocka_unit_test(test_vring_base_restart),
		cmocka_unit_test(test_vring_base_restart_packed),
		cmocka_unit_test(test_no_protocol_features),
		cmocka_unit_test(test_config_status),
		cmocka_unit_test(test_inflight),
		cmocka_unit_test(test_iotlb_miss_park_resume),
		cmocka_unit_test(test_iotlb_persist),
		cmocka_unit_test(test_iotlb_flush_on_stop),
		cmocka_unit_test(test_iotlb_persist_on_stop),
		cmocka_unit_test(test_iotlb_flush_on_reset),
		cmocka_unit_test(test_iotlb_miss_timeout),
		cmocka_unit_test(test_iotlb_stale_miss),
		cmocka_unit_test(test_channel_backpressure),
		cmocka_unit_test(test_iommu_policy),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_connect_mode),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_net_messages),
	};

	if (getenv("PT_FILTER"))
		cmocka_set_test_filter(getenv("PT_FILTER"));
	return cmocka_run_group_tests_name("proto_flow", tests, NULL, NULL);
}
