/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vsock_pkt.c - libFuzzer target for the vsock device's packet and
 * connection layer (src/dev/vsock: pkt.c, proto.c, conn.c, rx.c, host.c):
 * a hostile guest's tx packets and rx buffers on real rings in mock guest
 * memory, interleaved with a host program's actions on the Unix sockets
 * (listeners, CONNECT lines, reads, writes, closes) and device resets.
 *
 * Checked: no crash or sanitizer report; every rx used length is a whole
 * packet (header + len) within the buffer; every tx buffer comes back with
 * length 0; no connection sends the guest more than the credit it was
 * ever given (the fake guest never consumes); guest bytes outside the buffers keep their canaries; the
 * device's per-connection memory stays within buf_alloc; no fd is left
 * open once the device is freed.
 *
 * Input: a sequence of commands, each a byte (% 8) and its arguments
 * (missing bytes read as zero):
 *   0 tx packet   src8 dst8 sport8 dport8 op8 type8 flags8 alloc8 len8
 *                 split8, then len payload bytes; src/dst choose the
 *                 guest/host CID or a hostile one, ports fold into a few
 *   1 raw tx      n8 bytes as one chain (short headers)
 *   2 post rx     n8 buffers of size16 (bit 15: a readable segment first)
 *   3 collect     take every used rx buffer and check it
 *   4 host write  conn8 n8 bytes into an accepted host socket
 *   5 host read   conn8, read what is there; bit 7 of conn: close it
 *   6 client      n8 bytes to a new client of the uds path (CONNECT line)
 *   7 poll/reset  bit 0: device reset (queues restarted), else poll
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mockmem.h"
#include "vhostkit/devq.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/ring_ctl.h"
#include "dev/vsock/vsock_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

#define CID		3
#define QSIZE		32
#define NTX		16
#define TX_SLOT		512
#define NRX		32
#define RX_AREA		(NTX * TX_SLOT)
#define RX_SLOT		1024
#define BUF_SIZE	(RX_AREA + NRX * RX_SLOT)
#define MAX_HOST	8
#define GUEST_ALLOC	2048
#define MAX_CMDS	256

static char dir[64];

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

struct fz {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq[2];
	struct vhk_vq *vq[2];
	struct vhk_dev_queue devq[2];	/* device.h queue contexts */
	struct vhk_vsock *vs;
	bool kick[2];
	bool tx_busy[NTX];
	bool rx_busy[NRX];
	int lfd[2];			/* host listeners on ports 1 and 2 */
	int hfd[MAX_HOST];		/* accepted / client sockets */
	char uds[100];
};

static void h_complete(void *opaque, uint16_t idx)
{
	struct fz *f = opaque;

	if (idx < 2 && f->vq[idx])
		vhk_vq_flush(f->vq[idx]);
}

static void h_kick_later(void *opaque, uint16_t idx)
{
	struct fz *f = opaque;

	if (idx < 2)
		f->kick[idx] = true;
}

static void h_broken(void *opaque, const char *why)
{
	(void)opaque;
	(void)why;
}

static void start_queues(struct fz *f)
{
	size_t qmem = (vhk_drv_vq_mem_size(false, QSIZE) + 4095) &
		      ~(size_t)4095;
	uint64_t feat = vhk_feature_bit(VHK_F_VERSION_1) |
			vhk_feature_bit(VHK_VSOCK_F_SEQPACKET);

	for (uint16_t i = 0; i < 2; i++) {
		struct vhk_vq_params p = { .num = QSIZE, .name = "fz" };

		vhk_drv_vq_free(f->dq[i]);
		vhk_vq_free(f->vq[i]);
		check(vhk_drv_vq_new(&f->dq[i], QSIZE, feat,
				     f->m.ring_host + i * qmem,
				     f->m.ring_addr + i * qmem) == 0);
		vhk_drv_vq_addrs(f->dq[i], &p.addrs);
		p.features = feat;
		p.max_iov = VSOCK_MAX_IOV;
		check(vhk_vq_new(&f->vq[i]) == 0);
		check(vhk_vq_start(f->vq[i], &f->m.as, &p) == 0);
		vhk_dq_fini(&f->devq[i]);
		check(vhk_dq_init(&f->devq[i], f->vq[i], i, VSOCK_MAX_IOV, NULL,
				  NULL, "fz") == 0);
		check(vhk_vsock_ops.queue_start(f->vs, &f->devq[i]) == 0);
	}
	memset(f->tx_busy, 0, sizeof(f->tx_busy));
	memset(f->rx_busy, 0, sizeof(f->rx_busy));
	check(vhk_vsock_ops.set_features(f->vs, feat) == 0);
}

static void run_kicks(struct fz *f)
{
	for (unsigned int r = 0; r < 16; r++) {
		bool any = false;

		for (uint16_t i = 0; i < 2; i++)
			if (f->kick[i]) {
				f->kick[i] = false;
				any = true;
				vhk_vsock_ops.queue_kick(f->vs, &f->devq[i]);
			}
		if (!any)
			return;
	}
}

static void reclaim_tx(struct fz *f)
{
	void *tok;
	uint32_t len;
	int r;

	while ((r = vhk_drv_vq_get_used(f->dq[1], &tok, &len)) == 1) {
		unsigned int i = (unsigned int)(uintptr_t)tok - 1;

		check(i < NTX && f->tx_busy[i]);
		check(len == 0);
		f->tx_busy[i] = false;
	}
	check(r == 0);
}

static void tx_chain(struct fz *f, const uint8_t *b, uint32_t n,
		     uint32_t split)
{
	struct vhk_drv_seg s[2];
	unsigned int i, ns = 0;

	reclaim_tx(f);
	for (i = 0; i < NTX && f->tx_busy[i]; i++)
		;
	if (i == NTX || n == 0 || n > TX_SLOT)
		return;
	vhk_mockmem_write(&f->m, (size_t)i * TX_SLOT, b, n);
	split = split % (n + 1);
	if (split && split < n) {
		s[ns++] = (struct vhk_drv_seg){
			vhk_mockmem_buf_addr(&f->m, (size_t)i * TX_SLOT),
			split, false };
		s[ns++] = (struct vhk_drv_seg){
			vhk_mockmem_buf_addr(&f->m, (size_t)i * TX_SLOT + split),
			n - split, false };
	} else {
		s[ns++] = (struct vhk_drv_seg){
			vhk_mockmem_buf_addr(&f->m, (size_t)i * TX_SLOT), n,
			false };
	}
	if (vhk_drv_vq_add(f->dq[1], s, ns, (void *)(uintptr_t)(i + 1)))
		return;
	f->tx_busy[i] = true;
	vhk_drv_vq_publish(f->dq[1]);
	vhk_vsock_ops.queue_kick(f->vs, &f->devq[1]);
	run_kicks(f);
	reclaim_tx(f);
}

static uint64_t pick_cid(uint8_t v)
{
	switch (v % 6) {
	case 0: case 1: case 2:
		return v % 6 == 2 ? VHK_VSOCK_CID_HOST : CID;
	case 3:
		return 0;
	case 4:
		return (uint64_t)v << 32 | CID;
	default:
		return v;
	}
}

static void cmd_tx(struct fz *f, struct in *in)
{
	uint8_t src = (uint8_t)take(in, 1), dst = (uint8_t)take(in, 1);
	uint8_t sport = (uint8_t)take(in, 1), dport = (uint8_t)take(in, 1);
	uint8_t op = (uint8_t)take(in, 1), type = (uint8_t)take(in, 1);
	uint8_t flags = (uint8_t)take(in, 1), alloc = (uint8_t)take(in, 1);
	uint8_t len = (uint8_t)take(in, 1), split = (uint8_t)take(in, 1);
	uint8_t buf[TX_SLOT];
	struct vsock_pkt p = { 0 };
	struct vhk_vsock_hdr h;
	uint32_t plen = len;

	p.src_cid = src < 200 ? CID : pick_cid(src);
	p.dst_cid = dst < 200 ? VHK_VSOCK_CID_HOST : pick_cid(dst);
	p.src_port = 100 + sport % 4;
	p.dst_port = dport < 250 ? 1 + dport % 3 : dport;
	p.op = op < 240 ? op % 9 : op;
	p.type = type < 240 ? 1 + type % 2 : type;
	p.flags = flags;
	/* the fake guest's credit: a fixed allocation, never consumed */
	p.buf_alloc = alloc < 200 ? GUEST_ALLOC : (uint32_t)alloc * 7;
	p.fwd_cnt = 0;
	p.len = plen;
	if (alloc == 255)
		p.len = 0xffffff00u;		/* beyond the buffer */
	vsock_hdr_encode(&h, &p);
	memcpy(buf, &h, sizeof(h));
	for (uint32_t i = 0; i < plen; i++)
		buf[sizeof(h) + i] = (uint8_t)take(in, 1);
	tx_chain(f, buf, (uint32_t)sizeof(h) + plen, split);
}

static void cmd_raw(struct fz *f, struct in *in)
{
	uint8_t buf[TX_SLOT];
	uint32_t n = (uint32_t)take(in, 1) % 64 + 1;

	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)take(in, 1);
	tx_chain(f, buf, n, 0);
}

static void cmd_post_rx(struct fz *f, struct in *in)
{
	uint32_t n = (uint32_t)take(in, 1) % 8 + 1;
	uint32_t sz = (uint32_t)take(in, 2);
	bool readable = sz & 0x8000;

	sz = (sz & 0x7fff) % RX_SLOT + 1;
	for (unsigned int i = 0; i < NRX && n; i++) {
		struct vhk_drv_seg s[2];
		size_t off = RX_AREA + (size_t)i * RX_SLOT;
		unsigned int ns = 0;

		if (f->rx_busy[i])
			continue;
		if (readable)
			s[ns++] = (struct vhk_drv_seg){
				vhk_mockmem_buf_addr(&f->m, off), 8, false };
		s[ns++] = (struct vhk_drv_seg){
			vhk_mockmem_buf_addr(&f->m, off + 8), sz - (sz > 8 ? 8 : 0),
			true };
		if (vhk_drv_vq_add(f->dq[0], s, ns, (void *)(uintptr_t)(i + 1)))
			break;
		f->rx_busy[i] = true;
		n--;
	}
	vhk_drv_vq_publish(f->dq[0]);
	vhk_vsock_ops.queue_kick(f->vs, &f->devq[0]);
	run_kicks(f);
}

static void cmd_collect(struct fz *f)
{
	void *tok;
	uint32_t len;
	int r;

	while ((r = vhk_drv_vq_get_used(f->dq[0], &tok, &len)) == 1) {
		unsigned int i = (unsigned int)(uintptr_t)tok - 1;
		struct vhk_vsock_hdr h;

		check(i < NRX && f->rx_busy[i]);
		f->rx_busy[i] = false;
		if (len == 0)
			continue;		/* a buffer it could not use */
		check(len >= VHK_VSOCK_HDR_SIZE && len <= RX_SLOT);
		vhk_mockmem_read(&f->m, RX_AREA + (size_t)i * RX_SLOT + 8, &h,
				 sizeof(h));
		check(vhk_le32_get(h.len) == len - VHK_VSOCK_HDR_SIZE);
		check(vhk_le64_get(h.dst_cid) == CID);
	}
	check(r == 0);
}

static int listen_port(struct fz *f, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, (port == 2 ? SOCK_SEQPACKET : SOCK_STREAM) |
			SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	check(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->uds, port);
	unlink(sa.sun_path);
	check(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	check(listen(fd, 16) == 0);
	return fd;
}

static void add_host_fd(struct fz *f, int fd)
{
	for (unsigned int i = 0; i < MAX_HOST; i++)
		if (f->hfd[i] < 0) {
			f->hfd[i] = fd;
			return;
		}
	close(fd);
}

static void accept_all(struct fz *f)
{
	for (unsigned int l = 0; l < 2; l++) {
		int fd;

		while ((fd = accept4(f->lfd[l], NULL, NULL,
				     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			add_host_fd(f, fd);
	}
}

static void cmd_host_write(struct fz *f, struct in *in)
{
	unsigned int c = (unsigned int)take(in, 1) % MAX_HOST;
	uint32_t n = (uint32_t)take(in, 1);
	uint8_t buf[256];

	accept_all(f);
	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)take(in, 1);
	if (f->hfd[c] >= 0 && n)
		(void)send(f->hfd[c], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void cmd_host_read(struct fz *f, struct in *in)
{
	uint8_t c = (uint8_t)take(in, 1);
	unsigned int i = c % MAX_HOST;
	uint8_t buf[4096];

	accept_all(f);
	if (f->hfd[i] < 0)
		return;
	while (recv(f->hfd[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	if (c & 0x80) {
		close(f->hfd[i]);
		f->hfd[i] = -1;
	}
}

static void cmd_client(struct fz *f, struct in *in)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint32_t n = (uint32_t)take(in, 1) % 48;
	uint8_t buf[48];
	int fd;

	for (uint32_t i = 0; i < n; i++)
		buf[i] = (uint8_t)take(in, 1);
	if (n >= 3 && buf[0] == 'C' && buf[1] == 'C') {
		/* shorthand for a valid line to guest port 100 + b[2] % 4 */
		n = (uint32_t)snprintf((char *)buf, sizeof(buf),
				       "CONNECT %u\n", 100 + buf[2] % 4);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	check(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->uds);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return;
	}
	if (n)
		(void)send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	add_host_fd(f, fd);
}

static void check_conns(struct vhk_vsock *vs, struct vsock_conn *c)
{
	(void)vs;
	check(c->buf_len <= c->buf_alloc);
	check(c->recv_cnt - c->fwd_cnt <= c->buf_alloc);
	/* The fake guest never consumes (fwd_cnt 0) and never offers more
	 * than GUEST_ALLOC: no connection may have sent more (5.10.6.3). */
	check(c->tx_cnt <= GUEST_ALLOC);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	check(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vhk_log_set_level(getenv("FUZZ_VERBOSE") ? VHK_LOG_DEBUG :
			  VHK_LOG_ERR);
	snprintf(dir, sizeof(dir), "/tmp/fuzz-vsock-XXXXXX");
	check(mkdtemp(dir));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhk_dev_host host = {
		.complete = h_complete,
		.kick_later = h_kick_later,
		.broken = h_broken,
	};
	struct vhk_vsock_opts o = { .guest_cid = CID, .tx_buffer_size = 4096 };
	struct in in = { data, size };
	struct fz *f;
	int fds0 = count_fds();
	unsigned int n = 0;

	if (!dir[0])
		LLVMFuzzerInitialize(NULL, NULL);
	f = calloc(1, sizeof(*f));
	check(f);
	for (unsigned int i = 0; i < MAX_HOST; i++)
		f->hfd[i] = -1;
	snprintf(f->uds, sizeof(f->uds), "%s/u", dir);
	check(vhk_mockmem_init(&f->m, VHK_AS_GPA, false, 2 * 0x10000,
			       BUF_SIZE) == 0);
	o.uds_path = f->uds;
	check(vhk_vsock_new(&f->vs, NULL, &o) == 0);
	f->vs->line_ms = 0;	/* CONNECT lines time out at the next tick */
	host.opaque = f;
	check(vhk_vsock_ops.host_start(f->vs, &host) == 0);
	start_queues(f);
	f->lfd[0] = listen_port(f, 1);
	f->lfd[1] = listen_port(f, 2);

	while (in.n && n++ < MAX_CMDS) {
		switch (take(&in, 1) % 8) {
		case 0: cmd_tx(f, &in); break;
		case 1: cmd_raw(f, &in); break;
		case 2: cmd_post_rx(f, &in); break;
		case 3: cmd_collect(f); break;
		case 4: cmd_host_write(f, &in); break;
		case 5: cmd_host_read(f, &in); break;
		case 6: cmd_client(f, &in); break;
		default:
			if (take(&in, 1) & 1) {
				/* device reset: queues stop, state goes */
				for (uint16_t i = 0; i < 2; i++)
					vhk_vsock_ops.queue_stop(f->vs, &f->devq[i]);
				vhk_vsock_ops.reset(f->vs);
				start_queues(f);
			} else {
				vsock_host_poll(f->vs);
				run_kicks(f);
			}
			break;
		}
		vsock_conn_foreach(f->vs, check_conns);
		check(f->vs->nconns <= VHK_VSOCK_MAX_CONNS);
	}
	cmd_collect(f);
	for (uint16_t i = 0; i < 2; i++)
		vhk_vsock_ops.queue_stop(f->vs, &f->devq[i]);
	vhk_vsock_ops.reset(f->vs);
	vhk_vsock_ops.host_stop(f->vs);
	vhk_vsock_free(f->vs);
	check(vhk_mockmem_canaries_intact(&f->m));
	for (unsigned int i = 0; i < 2; i++) {
		vhk_dq_fini(&f->devq[i]);
		vhk_vq_free(f->vq[i]);
		vhk_drv_vq_free(f->dq[i]);
		close(f->lfd[i]);
	}
	for (unsigned int i = 0; i < MAX_HOST; i++)
		if (f->hfd[i] >= 0)
			close(f->hfd[i]);
	vhk_mockmem_fini(&f->m);
	{
		char p[128];

		snprintf(p, sizeof(p), "%s_1", f->uds);
		unlink(p);
		snprintf(p, sizeof(p), "%s_2", f->uds);
		unlink(p);
	}
	free(f);
	check(count_fds() == fds0);
	return 0;
}
