/* SPDX-License-Identifier: MIT */
/*
 * test_proto_vsock.c - the vsock device behind the real vhost-user server
 * (in a thread), driven by a raw vhost-user front-end the way QEMU 7.2's
 * vhost-user-vsock-pci drives it: GET_CONFIG for guest_cid, rx and tx
 * only (the event queue stays with the front-end).  Checks the offer, a
 * connection each way through real rings, and that connections the
 * back-end lost (front-end gone) are answered with RST on the guest's
 * next packet, promptly.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto_util.h"
#include "vhostkit/vsock.h"
#include "vhostkit/backend.h"

#define CID		7
#define BUF_GPA		0x100000ull	/* packet buffers */
#define RX_SLOTS	32
#define SLOT		4096

struct vs_server {
	char dir[40];
	char sock[80];
	char uds[80];
	struct vhk_vsock *vs;
	struct vhk_backend *be;
	pthread_t thread;
	int rc;
};

static void *run(void *arg)
{
	struct vs_server *s = arg;

	s->rc = vhk_backend_run(s->be);
	return NULL;
}

static void server_start(struct vs_server *s, enum vhk_iommu_policy iommu)
{
	struct vhk_vsock_opts o = { .guest_cid = CID };
	struct vhk_backend_config cfg = { .name = "vsock-proto" };

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/vhk-pvs-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/vhost", s->dir);
	snprintf(s->uds, sizeof(s->uds), "%s/uds", s->dir);
	o.uds_path = s->uds;
	cfg.socket_path = s->sock;
	cfg.iommu = iommu;
	assert_int_equal(vhk_vsock_new(&s->vs, NULL, &o), 0);
	assert_int_equal(vhk_backend_new(&s->be, &cfg, &vhk_vsock_ops, s->vs), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, run, s), 0);
}

static void server_stop(struct vs_server *s)
{
	vhk_backend_stop(s->be);
	pthread_join(s->thread, NULL);
	assert_int_equal(s->rc, 0);
	vhk_backend_free(s->be);
	vhk_vsock_free(s->vs);
	assert_int_equal(access(s->uds, F_OK), -1);	/* removed */
	rmdir(s->dir);
}

/* What QEMU does: features, protocol features with CONFIG, GET_CONFIG. */
static void negotiate(int sock, struct pt_guest *g, uint64_t extra)
{
	uint64_t offered, poff, proto = 0, f = 0;
	struct vhk_vu_msg reply;
	struct {
		uint32_t offset, size, flags;
		uint8_t data[8];
	} __attribute__((packed)) cfg = { 0, 8, 0, { 0 } };
	uint64_t cid;

	offered = pt_get_u64(sock, VHK_VU_GET_FEATURES);
	assert_true(vhk_has_feature(offered, VHK_VSOCK_F_SEQPACKET));
	assert_true(vhk_has_feature(offered, VHK_F_EVENT_IDX));
	assert_true(vhk_has_feature(offered, VHK_F_RING_PACKED));
	assert_true(vhk_has_feature(offered, VHK_F_INDIRECT_DESC));
	assert_true(vhk_has_feature(offered, VHK_F_VERSION_1));
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	poff = pt_get_u64(sock, VHK_VU_GET_PROTOCOL_FEATURES);
	assert_true(vhk_has_feature(poff, VHK_PROTO_F_CONFIG));
	vhk_set_feature(&proto, VHK_PROTO_F_REPLY_ACK);
	vhk_set_feature(&proto, VHK_PROTO_F_CONFIG);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	/* guest_cid through GET_CONFIG (VIRTIO 1.2, 5.10.4) */
	assert_int_equal(pt_get(sock, VHK_VU_GET_CONFIG, &cfg, sizeof(cfg),
				&reply, NULL, NULL), (int)sizeof(cfg));
	memcpy(&cid, reply.payload.config.region, 8);
	assert_int_equal(cid, CID);
	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, VHK_F_EVENT_IDX);
	vhk_set_feature(&f, VHK_VSOCK_F_SEQPACKET);
	vhk_set_feature(&f, VHK_F_PROTOCOL_FEATURES);
	f |= extra;
	assert_int_equal(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0), 0);
	g->features = f;
}

static uint64_t slot_gpa(unsigned int i)
{
	return BUF_GPA + (uint64_t)i * SLOT;
}

static void post_rx(struct pt_guest *g, unsigned int i)
{
	struct vhk_drv_seg s = { pt_dev_addr(g, slot_gpa(i)), 3776, true };

	assert_int_equal(vhk_drv_vq_add(g->dq[0], &s, 1,
					(void *)(uintptr_t)(i + 1)), 0);
}

static void kick(struct pt_guest *g, uint16_t idx)
{
	uint64_t one = 1;

	vhk_drv_vq_publish(g->dq[idx]);
	assert_int_equal(write(g->kick[idx], &one, 8), 8);
}

/* One used buffer of queue @idx within 2 s, waiting on its call eventfd
 * (with EVENT_IDX: after re-arming used_event). */
static int wait_used(struct pt_guest *g, uint16_t idx, void **tok,
		     uint32_t *len)
{
	uint64_t end = vhk_now_ns() + 2000000000ull;
	int ret;

	while ((ret = vhk_drv_vq_get_used(g->dq[idx], tok, len)) == 0) {
		if (vhk_drv_vq_enable_cb(g->dq[idx], true))
			continue;
		if (vhk_now_ns() >= end)
			return -ETIMEDOUT;
		pt_wait_call(g, idx, 100);
	}
	return ret;
}

static unsigned int tx_next;

static void send_pkt(struct pt_guest *g, uint16_t op, uint32_t sport,
		     uint32_t dport, const void *data, uint32_t n)
{
	unsigned int i = RX_SLOTS + (tx_next++ % 16);
	struct vhk_vsock_hdr h = {
		.src_cid = vhk_le64_make(CID),
		.dst_cid = vhk_le64_make(VHK_VSOCK_CID_HOST),
		.src_port = vhk_le32_make(sport),
		.dst_port = vhk_le32_make(dport),
		.len = vhk_le32_make(n),
		.type = vhk_le16_make(VHK_VSOCK_TYPE_STREAM),
		.op = vhk_le16_make(op),
		.buf_alloc = vhk_le32_make(65536),
	};
	struct vhk_drv_seg s = { pt_dev_addr(g, slot_gpa(i)), 44 + n, false };
	void *tok;
	uint32_t len;

	memcpy(g->mem + slot_gpa(i), &h, sizeof(h));
	if (n)
		memcpy(g->mem + slot_gpa(i) + 44, data, n);
	assert_int_equal(vhk_drv_vq_add(g->dq[1], &s, 1,
					(void *)(uintptr_t)(i + 1)), 0);
	kick(g, 1);
	assert_int_equal(wait_used(g, 1, &tok, &len), 1);
}

/* Next rx packet (2 s): op, and payload into @data. */
static int recv_pkt(struct pt_guest *g, struct vhk_vsock_hdr *h, void *data,
		    size_t cap)
{
	void *tok;
	uint32_t len;
	unsigned int i;
	int ret;

	ret = wait_used(g, 0, &tok, &len);
	if (ret < 0)
		return ret;
	assert_int_equal(ret, 1);
	i = (unsigned int)(uintptr_t)tok - 1;
	assert_true(len >= 44);
	memcpy(h, g->mem + slot_gpa(i), sizeof(*h));
	assert_int_equal(vhk_le32_get(h->len), len - 44);
	if (data)
		memcpy(data, g->mem + slot_gpa(i) + 44,
		       VHK_MIN(cap, (size_t)len - 44));
	post_rx(g, i);
	kick(g, 0);
	return vhk_le16_get(h->op);
}

static int host_listen(const char *uds, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void setup_front(int sock, struct pt_guest *g, uint64_t extra)
{
	unsigned int i;

	negotiate(sock, g, extra);
	pt_send_mem(sock, g);
	/* QEMU 7.2: rx and tx only */
	assert_int_equal(pt_setup_vq(sock, g, 0, 64), 0);
	assert_int_equal(pt_setup_vq(sock, g, 1, 64), 0);
	for (i = 0; i < RX_SLOTS; i++)
		post_rx(g, i);
	kick(g, 0);
}

static void test_flow_and_lost_connection(void **state)
{
	struct vs_server s;
	struct pt_guest g;
	struct vhk_vsock_hdr h;
	char buf[64];
	int sock, lfd, afd, fds0;
	uint64_t t0;

	(void)state;
	fds0 = pt_fd_count();
	server_start(&s, VHK_IOMMU_AUTO);
	sock = pt_connect(s.sock);
	pt_guest_init(&g);
	setup_front(sock, &g, 0);

	lfd = host_listen(s.uds, 4000);
	send_pkt(&g, VHK_VSOCK_OP_REQUEST, 1111, 4000, NULL, 0);
	assert_int_equal(recv_pkt(&g, &h, NULL, 0), VHK_VSOCK_OP_RESPONSE);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	send_pkt(&g, VHK_VSOCK_OP_RW, 1111, 4000, "to host", 7);
	assert_int_equal(recv(afd, buf, sizeof(buf), 0), 7);
	assert_memory_equal(buf, "to host", 7);
	assert_int_equal(send(afd, "to guest", 8, 0), 8);
	assert_int_equal(recv_pkt(&g, &h, buf, sizeof(buf)), VHK_VSOCK_OP_RW);
	assert_memory_equal(buf, "to guest", 8);

	/* The front-end goes away: the device resets, the host socket is
	 * closed (the host program sees EOF). */
	close(sock);
	{
		struct pollfd pf = { .fd = afd, .events = POLLIN };

		assert_int_equal(poll(&pf, 1, 2000), 1);
		assert_int_equal(recv(afd, buf, sizeof(buf), 0), 0);
	}
	close(afd);
	pt_guest_fini(&g);

	/* A new front-end, the same guest: its next packet on the lost
	 * connection gets RST at once (QEMU keeps the event queue). */
	sock = pt_connect(s.sock);
	pt_guest_init(&g);
	setup_front(sock, &g, 0);
	t0 = vhk_now_ns();
	send_pkt(&g, VHK_VSOCK_OP_RW, 1111, 4000, "stale", 5);
	assert_int_equal(recv_pkt(&g, &h, NULL, 0), VHK_VSOCK_OP_RST);
	assert_int_equal(vhk_le32_get(h.dst_port), 1111);
	assert_true(vhk_now_ns() - t0 < 1000000000ull);
	/* and new connections work */
	send_pkt(&g, VHK_VSOCK_OP_REQUEST, 1112, 4000, NULL, 0);
	assert_int_equal(recv_pkt(&g, &h, NULL, 0), VHK_VSOCK_OP_RESPONSE);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	close(lfd);
	close(sock);
	pt_guest_fini(&g);
	server_stop(&s);
	assert_int_equal(pt_wait_fds(fds0), fds0);
}

/* The crosvm case: a front-end forwards ACCESS_PLATFORM with no IOTLB
 * channel.  auto serves it (platform-identity), on refuses it. */
static void test_access_platform_without_iotlb(void **state)
{
	struct vs_server s;
	struct pt_guest g;
	struct vhk_vsock_hdr h;
	uint64_t f;
	int sock, lfd, afd;

	(void)state;
	server_start(&s, VHK_IOMMU_AUTO);
	sock = pt_connect(s.sock);
	pt_guest_init(&g);
	setup_front(sock, &g, vhk_feature_bit(VHK_F_ACCESS_PLATFORM));
	lfd = host_listen(s.uds, 4001);
	send_pkt(&g, VHK_VSOCK_OP_REQUEST, 2222, 4001, NULL, 0);
	assert_int_equal(recv_pkt(&g, &h, NULL, 0), VHK_VSOCK_OP_RESPONSE);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_PLATFORM_IDENTITY);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	close(afd);
	close(lfd);
	close(sock);
	pt_guest_fini(&g);
	server_stop(&s);

	server_start(&s, VHK_IOMMU_ON);
	sock = pt_connect(s.sock);
	f = pt_get_u64(sock, VHK_VU_GET_FEATURES);
	assert_true(vhk_has_feature(f, VHK_F_ACCESS_PLATFORM));
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	f = vhk_feature_bit(VHK_PROTO_F_REPLY_ACK);
	assert_int_equal(pt_send_raw(sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &f, 8, NULL, 0), 0);
	f = vhk_feature_bit(VHK_F_VERSION_1) |
	    vhk_feature_bit(VHK_F_PROTOCOL_FEATURES) |
	    vhk_feature_bit(VHK_F_ACCESS_PLATFORM);
	assert_true(pt_req(sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0) != 0);
	close(sock);
	server_stop(&s);
}

static void test_iommu_off(void **state)
{
	struct vs_server s;
	uint64_t f;
	int sock;

	(void)state;
	server_start(&s, VHK_IOMMU_OFF);
	sock = pt_connect(s.sock);
	f = pt_get_u64(sock, VHK_VU_GET_FEATURES);
	assert_false(vhk_has_feature(f, VHK_F_ACCESS_PLATFORM));
	close(sock);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_and_lost_connection),
		cmocka_unit_test(test_access_platform_without_iotlb),
		cmocka_unit_test(test_iommu_off),
	};

	return cmocka_run_group_tests_name("proto_vsock", tests, NULL, NULL);
}
