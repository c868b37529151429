/* SPDX-License-Identifier: MIT */
/*
 * vsock_harness.c - see vsock_harness.h.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vsock_harness.h"
#include "vhostkit/ring_ctl.h"

#define TX_TOKEN	0x10000u
#define EV_TOKEN	0x20000u
#define NEV		4


static void h_complete(void *opaque, uint16_t idx)
{
	struct vh *h = opaque;

	assert_true(idx < VHK_VSOCK_NUM_VQS);
	vhk_vq_flush(h->vq[idx]);
}

static void h_kick_later(void *opaque, uint16_t idx)
{
	struct vh *h = opaque;

	h->kick_laters++;
	if (idx < VHK_VSOCK_NUM_VQS)
		h->kick[idx] = true;
}

static void h_broken(void *opaque, const char *why)
{
	struct vh *h = opaque;

	(void)why;
	h->broken++;
}

static size_t tx_off(struct vh *h, unsigned int i)
{
	return (size_t)i * h->tx_slot;
}

static size_t rx_off(struct vh *h, unsigned int i)
{
	return (size_t)VH_NTX * h->tx_slot + (size_t)i * h->rx_slot;
}

static size_t ev_off(struct vh *h, unsigned int i)
{
	return rx_off(h, VH_NRX) + (size_t)i * 8;
}

static void start_queue(struct vh *h, uint16_t idx, bool packed)
{
	struct vhk_vq_params p = { .num = VH_QSIZE, .name = "vsock test" };
	size_t qmem = vhk_drv_vq_mem_size(packed, VH_QSIZE);
	size_t roff = ((qmem + 4095) & ~(size_t)4095) * idx;

	assert_int_equal(vhk_drv_vq_new(&h->dq[idx], VH_QSIZE, h->features,
					h->m.ring_host + roff,
					h->m.ring_addr + roff), 0);
	vhk_drv_vq_addrs(h->dq[idx], &p.addrs);
	p.features = h->features;
	p.max_iov = VSOCK_MAX_IOV;
	p.avail_base = packed ? 0x8000 : 0;
	assert_int_equal(vhk_vq_new(&h->vq[idx]), 0);
	assert_int_equal(vhk_vq_start(h->vq[idx], &h->m.as, &p), 0);
	assert_int_equal(vhk_dq_init(&h->devq[idx], h->vq[idx], idx, 0, NULL,
				     NULL, "vsock test"), 0);
	assert_int_equal(vhk_vsock_ops.queue_start(h->vs, &h->devq[idx]), 0);
}

void vh_setup(struct vh *h, enum vhk_as_mode mode, bool packed, uint32_t cid,
	      struct vhk_vsock_hub *hub, bool event, uint32_t rx_size)
{
	struct vhk_dev_host host = {
		.complete = h_complete,
		.kick_later = h_kick_later,
		.broken = h_broken,
	};
	struct vhk_vsock_opts o = { .guest_cid = cid };
	bool frag = vhk_test_fragmented();
	size_t qmem = (vhk_drv_vq_mem_size(packed, VH_QSIZE) + 4095) &
		      ~(size_t)4095;
	unsigned int i;

	memset(h, 0, sizeof(*h));
	h->cid = cid;
	h->watch_fd = -1;
	h->tx_slot = frag ? VHK_VSOCK_HDR_SIZE + 400 : VHK_VSOCK_HDR_SIZE + 16384;
	h->rx_slot = rx_size ? rx_size : (frag ? 512 : 3776);
	vhk_test_mockmem(&h->m, mode, 3 * qmem,
			 ev_off(h, NEV) + 64);
	vhk_set_feature(&h->features, VHK_F_VERSION_1);
	vhk_set_feature(&h->features, VHK_F_EVENT_IDX);
	vhk_set_feature(&h->features, VHK_VSOCK_F_SEQPACKET);
	if (packed)
		vhk_set_feature(&h->features, VHK_F_RING_PACKED);

	snprintf(h->dir, sizeof(h->dir), "/tmp/vhk-vsock-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->uds, sizeof(h->uds), "%s/v%u", h->dir, cid);
	o.uds_path = h->uds;
	assert_int_equal(vhk_vsock_new(&h->vs, hub, &o), 0);
	host.opaque = h;
	assert_int_equal(vhk_vsock_ops.host_start(h->vs, &host), 0);
	assert_int_equal(vhk_vsock_ops.set_features(h->vs, h->features), 0);
	start_queue(h, VHK_VSOCK_VQ_RX, packed);
	start_queue(h, VHK_VSOCK_VQ_TX, packed);
	if (event) {
		start_queue(h, VHK_VSOCK_VQ_EVENT, packed);
		for (i = 0; i < NEV; i++) {
			struct vhk_drv_seg s = {
				vhk_mockmem_buf_addr(&h->m, ev_off(h, i)), 8,
				true };

			assert_int_equal(vhk_drv_vq_add(h->dq[VHK_VSOCK_VQ_EVENT],
				&s, 1, (void *)(uintptr_t)(EV_TOKEN + i)), 0);
		}
		vhk_drv_vq_publish(h->dq[VHK_VSOCK_VQ_EVENT]);
		vhk_vsock_ops.queue_kick(h->vs, &h->devq[VHK_VSOCK_VQ_EVENT]);
	}
}

void vh_restart_ring(struct vh *h, uint16_t idx)
{
	unsigned int i;

	vhk_vsock_ops.queue_stop(h->vs, &h->devq[idx]);
	vhk_dq_fini(&h->devq[idx]);
	vhk_vq_free(h->vq[idx]);
	vhk_drv_vq_free(h->dq[idx]);
	h->vq[idx] = NULL;
	h->dq[idx] = NULL;
	start_queue(h, idx, vhk_has_feature(h->features, VHK_F_RING_PACKED));
	if (idx == VHK_VSOCK_VQ_RX)
		for (i = 0; i < VH_NRX; i++)
			h->rx_posted[i] = false;
	if (idx == VHK_VSOCK_VQ_TX)
		for (i = 0; i < VH_NTX; i++)
			h->tx_busy[i] = false;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[300];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

void vh_teardown(struct vh *h, unsigned int expect_broken)
{
	unsigned int i;

	for (i = 0; i < VHK_VSOCK_NUM_VQS; i++) {
		if (h->vq[i])
			vhk_vsock_ops.queue_stop(h->vs, &h->devq[i]);
		vhk_dq_fini(&h->devq[i]);
	}
	vhk_vsock_ops.reset(h->vs);
	vhk_vsock_ops.host_stop(h->vs);
	vhk_vsock_free(h->vs);
	assert_true(vhk_mockmem_canaries_intact(&h->m));
	assert_int_equal(h->broken, expect_broken);
	for (i = 0; i < VHK_VSOCK_NUM_VQS; i++) {
		vhk_vq_free(h->vq[i]);
		vhk_drv_vq_free(h->dq[i]);
	}
	vhk_mockmem_fini(&h->m);
	rm_dir(h->dir);
}

static void run_kicks(struct vh *h)
{
	unsigned int i, rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		bool any = false;

		for (i = 0; i < VHK_VSOCK_NUM_VQS; i++)
			if (h->kick[i] && h->vq[i]) {
				h->kick[i] = false;
				any = true;
				vhk_vsock_ops.queue_kick(h->vs, &h->devq[i]);
			}
		if (!any)
			return;
	}
}

static void reclaim_tx(struct vh *h)
{
	void *tok;
	uint32_t len;

	while (vhk_drv_vq_get_used(h->dq[VHK_VSOCK_VQ_TX], &tok, &len) == 1) {
		unsigned int i = (unsigned int)((uintptr_t)tok - TX_TOKEN);

		assert_true(i < VH_NTX);
		assert_int_equal(len, 0);	/* tx buffers are read-only */
		h->tx_busy[i] = false;
	}
}

struct vsock_pkt vh_pkt(struct vh *h, uint16_t op, uint32_t src_port,
			uint32_t dst_port, uint16_t type)
{
	struct vsock_pkt p;

	memset(&p, 0, sizeof(p));
	p.src_cid = h->cid;
	p.dst_cid = VHK_VSOCK_CID_HOST;
	p.src_port = src_port;
	p.dst_port = dst_port;
	p.op = op;
	p.type = type;
	p.buf_alloc = VH_GUEST_BUF;
	p.fwd_cnt = h->fwd_cnt;
	return p;
}

static void tx_chain(struct vh *h, const void *a, uint32_t na, const void *b,
		     uint32_t nb)
{
	struct vhk_drv_seg s[2];
	unsigned int i, n = 0;

	reclaim_tx(h);
	for (i = 0; i < VH_NTX && h->tx_busy[i]; i++)
		;
	if (i == VH_NTX) {
		/* The device processes tx synchronously: kick and retry. */
		vhk_vsock_ops.queue_kick(h->vs, &h->devq[VHK_VSOCK_VQ_TX]);
		reclaim_tx(h);
		for (i = 0; i < VH_NTX && h->tx_busy[i]; i++)
			;
		assert_true(i < VH_NTX);
	}
	assert_true(na + nb <= h->tx_slot);
	vhk_mockmem_write(&h->m, tx_off(h, i), a, na);
	s[n++] = (struct vhk_drv_seg){ vhk_mockmem_buf_addr(&h->m,
							    tx_off(h, i)),
				       na, false };
	if (nb) {
		vhk_mockmem_write(&h->m, tx_off(h, i) + na, b, nb);
		s[n++] = (struct vhk_drv_seg){
			vhk_mockmem_buf_addr(&h->m, tx_off(h, i) + na), nb,
			false };
	}
	h->tx_busy[i] = true;
	assert_int_equal(vhk_drv_vq_add(h->dq[VHK_VSOCK_VQ_TX], s, n,
					(void *)(uintptr_t)(TX_TOKEN + i)), 0);
	vhk_drv_vq_publish(h->dq[VHK_VSOCK_VQ_TX]);
	if (!h->defer_tx)
		vh_kick_tx(h);
}

void vh_kick_tx(struct vh *h)
{
	vhk_vsock_ops.queue_kick(h->vs, &h->devq[VHK_VSOCK_VQ_TX]);
	run_kicks(h);
	reclaim_tx(h);
}

void vh_send(struct vh *h, struct vsock_pkt *p, const void *data, uint32_t n)
{
	struct vhk_vsock_hdr hdr;

	p->len = n;
	vsock_hdr_encode(&hdr, p);
	tx_chain(h, &hdr, sizeof(hdr), data, n);
}

void vh_send_bytes(struct vh *h, const void *bytes, uint32_t n)
{
	if (n == 0) {
		/* A zero-length descriptor chain is refused by the ring;
		 * one byte is the shortest hostile header. */
		static const uint8_t z;

		tx_chain(h, &z, 1, NULL, 0);
		return;
	}
	tx_chain(h, bytes, n, NULL, 0);
}

void vh_post_rx(struct vh *h, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < VH_NRX && n; i++) {
		struct vhk_drv_seg s;

		if (h->rx_posted[i])
			continue;
		s = (struct vhk_drv_seg){ vhk_mockmem_buf_addr(&h->m,
							       rx_off(h, i)),
					  h->rx_slot, true };
		if (vhk_drv_vq_add(h->dq[VHK_VSOCK_VQ_RX], &s, 1,
				   (void *)(uintptr_t)(i + 1)))
			break;
		h->rx_posted[i] = true;
		n--;
	}
	vhk_drv_vq_publish(h->dq[VHK_VSOCK_VQ_RX]);
	vhk_vsock_ops.queue_kick(h->vs, &h->devq[VHK_VSOCK_VQ_RX]);
	run_kicks(h);
}

unsigned int vh_rx_posted(struct vh *h)
{
	unsigned int i, n = 0;

	for (i = 0; i < VH_NRX; i++)
		n += h->rx_posted[i];
	return n;
}

int vh_recv(struct vh *h, struct vsock_pkt *p, void *data, uint32_t cap)
{
	struct vhk_vsock_hdr hdr;
	unsigned int i;
	uint32_t len;
	void *tok;
	int ret;

	run_kicks(h);
	ret = vhk_drv_vq_get_used(h->dq[VHK_VSOCK_VQ_RX], &tok, &len);
	assert_true(ret >= 0);
	if (ret == 0)
		return 0;
	i = (unsigned int)(uintptr_t)tok - 1;
	assert_true(i < VH_NRX && h->rx_posted[i]);
	h->rx_posted[i] = false;
	assert_true(len >= VHK_VSOCK_HDR_SIZE);
	vhk_mockmem_read(&h->m, rx_off(h, i), &hdr, sizeof(hdr));
	memset(p, 0, sizeof(*p));
	p->src_cid = vhk_le64_get(hdr.src_cid);
	p->dst_cid = vhk_le64_get(hdr.dst_cid);
	p->src_port = vhk_le32_get(hdr.src_port);
	p->dst_port = vhk_le32_get(hdr.dst_port);
	p->len = vhk_le32_get(hdr.len);
	p->type = vhk_le16_get(hdr.type);
	p->op = vhk_le16_get(hdr.op);
	p->flags = vhk_le32_get(hdr.flags);
	p->buf_alloc = vhk_le32_get(hdr.buf_alloc);
	p->fwd_cnt = vhk_le32_get(hdr.fwd_cnt);
	assert_int_equal(len, VHK_VSOCK_HDR_SIZE + p->len);
	assert_true(p->len <= h->rx_slot - VHK_VSOCK_HDR_SIZE);
	if (data && p->len) {
		assert_true(p->len <= cap);
		vhk_mockmem_read(&h->m, rx_off(h, i) + VHK_VSOCK_HDR_SIZE,
				 data, p->len);
	}
	if (!h->no_repost)
		vh_post_rx(h, 1);	/* as a driver refills its rx queue */
	return 1;
}

void vh_poll(struct vh *h)
{
	vsock_host_poll(h->vs);
	run_kicks(h);
}

int vh_wait(struct vh *h, struct vsock_pkt *p, void *data, uint32_t cap,
	    unsigned int ms)
{
	uint64_t end = vhk_now_ns() + (uint64_t)ms * 1000000ull;

	do {
		if (vh_recv(h, p, data, cap))
			return 1;
		vh_poll(h);
		if (vh_recv(h, p, data, cap))
			return 1;
		poll(NULL, 0, 1);
	} while (vhk_now_ns() < end);
	return 0;
}

int vh_listen(struct vh *h, uint32_t port, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", h->uds, port);
	unlink(sa.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 64), 0);
	return fd;
}

int vh_client(struct vh *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", h->uds);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

int vh_accept(int lfd)
{
	struct pollfd pf = { .fd = lfd, .events = POLLIN };

	if (poll(&pf, 1, 1000) != 1)
		return -1;
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

ssize_t vh_read_some(struct vh *h, int fd, void *buf, size_t n,
		     unsigned int ms)
{
	uint64_t end = vhk_now_ns() + (uint64_t)ms * 1000000ull;
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);

		if (r == 0)
			break;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (errno != EAGAIN)
			return got ? (ssize_t)got : -errno;
		if (vhk_now_ns() >= end)
			break;
		vh_poll(h);
		poll(NULL, 0, 1);
	}
	return (ssize_t)got;
}

int vh_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}
