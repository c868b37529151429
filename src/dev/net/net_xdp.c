/* SPDX-License-Identifier: MIT */
/*
 * net_xdp.c - AF_XDP ports (net_xdp.h): one XDP socket on queue 0 of an
 * interface, a UMEM of NFRAMES frames of FRAME bytes split in two: the
 * first half circulates through the fill / rx rings, the second half is
 * the tx pool (taken from a free list, returned by the completion ring).
 * One thread per port, like a tap port.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xdp/xsk.h>

#include "dev/net/net_offload.h"
#include "dev/net/net_xdp.h"
#include "vhostkit/util.h"

#define FRAME		XSK_UMEM__DEFAULT_FRAME_SIZE	/* 4096 */
#define NFRAMES		2048
#define NRX		(NFRAMES / 2)
#define RING		1024
#define BURST		64

struct vhk_net_xdp_impl {
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	uint64_t txfree[NFRAMES - NRX];
	unsigned int ntxfree;
	unsigned int tx_outstanding;
	int fd;
};

static int fill_ring(struct vhk_net_xdp_impl *x, const uint64_t *addrs,
		     unsigned int n)
{
	uint32_t idx;

	if (xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		return -ENOSPC;
	for (unsigned int i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addrs[i];
	xsk_ring_prod__submit(&x->fill, n);
	return 0;
}

int vhk_net_xdp_open(struct vhk_net_xdp *p, struct vhk_net_switch *sw,
		     const char *ifname, uint16_t mtu)
{
	const struct xsk_umem_config ucfg = {
		.fill_size = RING, .comp_size = RING, .frame_size = FRAME,
		.frame_headroom = 0,
	};
	const struct xsk_socket_config scfg = {
		.rx_size = RING, .tx_size = RING,
		.xdp_flags = XDP_FLAGS_SKB_MODE,
		.bind_flags = XDP_COPY,
	};
	struct vhk_net_xdp_impl *x;
	uint64_t addrs[NRX];
	int rc;

	memset(p, 0, sizeof(*p));
	p->stopfd = -1;
	if (strlen(ifname) >= IF_NAMESIZE)
		return -EINVAL;
	if (!if_nametoindex(ifname)) {
		vhk_log(VHK_LOG_ERR, "net", "xdp=%s: no such interface", ifname);
		return -ENODEV;
	}
	rc = vhk_net_port_init(sw, &p->port, ifname, VHK_NET_PORT_XDP, 0);
	if (rc)
		return rc;
	p->port.priv = p;
	p->port.queues = 1;
	p->port.mtu = mtu ? mtu : 1500;
	x = p->x = calloc(1, sizeof(*x));
	if (!x) {
		vhk_net_xdp_close(p);
		return -ENOMEM;
	}
	x->fd = -1;
	x->area = mmap(NULL, (size_t)NFRAMES * FRAME, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		vhk_net_xdp_close(p);
		return -ENOMEM;
	}
	rc = xsk_umem__create(&x->umem, x->area, (uint64_t)NFRAMES * FRAME,
			      &x->fill, &x->comp, &ucfg);
	if (rc == 0)
		rc = xsk_socket__create(&x->xsk, ifname, 0, x->umem, &x->rx,
					&x->tx, &scfg);
	if (rc) {
		/* libxdp returns -errno (or a positive errno from old
		 * libbpf paths) */
		rc = rc > 0 ? -rc : rc;
		vhk_log(VHK_LOG_ERR, "net", "xdp=%s: AF_XDP socket: %s%s",
			ifname, strerror(-rc),
			rc == -EPERM ? " (needs CAP_NET_ADMIN + CAP_BPF)" :
			rc == -EAFNOSUPPORT || rc == -EOPNOTSUPP ?
			" (kernel without CONFIG_XDP_SOCKETS?)" : "");
		vhk_net_xdp_close(p);
		return rc;
	}
	x->fd = xsk_socket__fd(x->xsk);
	for (unsigned int i = 0; i < NRX; i++)
		addrs[i] = (uint64_t)i * FRAME;
	fill_ring(x, addrs, NRX);
	for (unsigned int i = NRX; i < NFRAMES; i++)
		x->txfree[x->ntxfree++] = (uint64_t)i * FRAME;
	p->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->stopfd < 0) {
		vhk_net_xdp_close(p);
		return -ENOMEM;
	}
	atomic_store(&p->port.caps, 0u);	/* no offloads cross AF_XDP */
	atomic_store(&p->port.up, true);
	return 0;
}

/* Frames from the interface into the switch. */
static void xdp_read(struct vhk_net_xdp *p)
{
	struct vhk_net_xdp_impl *x = p->x;
	const struct vhk_net_hdr none = { 0 };
	uint64_t back[BURST];
	uint32_t idx;
	unsigned int n = xsk_ring_cons__peek(&x->rx, BURST, &idx);

	for (unsigned int i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx,
								  idx + i);
		/* Copy the descriptor once; the kernel wrote it, but the
		 * frame bounds are still checked against the UMEM. */
		uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
		uint32_t len = d->len;
		struct vhk_net_pkt *pkt;
		int rc;

		back[i] = xsk_umem__extract_addr(d->addr);
		if (addr >= (uint64_t)NFRAMES * FRAME ||
		    len > (uint64_t)NFRAMES * FRAME - addr ||
		    len < VHK_ETH_HLEN) {
			vhk_net_count_drop(&p->port, VHK_NET_DROP_RUNT);
			continue;
		}
		pkt = vhk_net_pkt_alloc(len);
		if (!pkt) {
			vhk_net_count_drop(&p->port, VHK_NET_DROP_NOMEM);
			continue;
		}
		memcpy(pkt->data, xsk_umem__get_data(x->area, addr), len);
		rc = vhk_net_meta_parse(&none, pkt->data, pkt->len, 0,
					p->port.mtu, &pkt->meta);
		if (rc < 0) {
			vhk_net_count_drop(&p->port, vhk_net_drop_of(rc));
			vhk_net_pkt_free(pkt);
			continue;
		}
		vhk_net_cnt_add(&p->port.q[0].tx_packets, 1);
		vhk_net_cnt_add(&p->port.q[0].tx_bytes, pkt->len);
		vhk_net_switch_input(p->port.sw, &p->port, pkt);
	}
	if (n) {
		xsk_ring_cons__release(&x->rx, n);
		fill_ring(x, back, n);
	}
}

static void xdp_complete(struct vhk_net_xdp_impl *x)
{
	uint32_t idx;
	unsigned int n = xsk_ring_cons__peek(&x->comp, RING, &idx);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t a = *xsk_ring_cons__comp_addr(&x->comp, idx + i);

		/* only our own tx frames come back (checked all the same) */
		if (a >= (uint64_t)NRX * FRAME && a < (uint64_t)NFRAMES * FRAME &&
		    x->ntxfree < NFRAMES - NRX)
			x->txfree[x->ntxfree++] = a - a % FRAME;
	}
	if (n) {
		xsk_ring_cons__release(&x->comp, n);
		x->tx_outstanding -= VHK_MIN(n, x->tx_outstanding);
	}
}

/* Frames from the switch onto the interface. */
static void xdp_write(struct vhk_net_xdp *p)
{
	struct vhk_net_xdp_impl *x = p->x;
	struct vhk_net_pkt *l, *n;
	unsigned int sent = 0;
	uint32_t idx;

	xdp_complete(x);
	l = vhk_net_backlog_take(&p->port, BURST);
	for (; l; l = n) {
		n = l->next;
		if (l->len > FRAME) {
			vhk_net_count_drop(&p->port, VHK_NET_DROP_TOO_BIG);
		} else if (!x->ntxfree ||
			   xsk_ring_prod__reserve(&x->tx, 1, &idx) != 1) {
			vhk_net_count_drop(&p->port, VHK_NET_DROP_QUEUE_FULL);
		} else {
			struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx);
			uint64_t a = x->txfree[--x->ntxfree];

			memcpy(xsk_umem__get_data(x->area, a), l->data, l->len);
			d->addr = a;
			d->len = (uint32_t)l->len;
			xsk_ring_prod__submit(&x->tx, 1);
			sent++;
			vhk_net_cnt_add(&p->port.c.out_packets, 1);
			vhk_net_cnt_add(&p->port.c.out_bytes, l->len);
			vhk_net_cnt_add(&p->port.q[0].rx_packets, 1);
			vhk_net_cnt_add(&p->port.q[0].rx_bytes, l->len);
		}
		vhk_net_pkt_free(l);
	}
	x->tx_outstanding += sent;
	/* Copy mode transmits on a send() kick, a bounded batch per call:
	 * kick again while the kernel has frames of ours. */
	if (x->tx_outstanding && sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
	    errno != EAGAIN && errno != EBUSY && errno != ENOBUFS &&
	    errno != ENETDOWN)
		vhk_net_count_drop(&p->port, VHK_NET_DROP_IO);
}

static void *xdp_thread(void *arg)
{
	struct vhk_net_xdp *p = arg;
	struct pollfd pfd[3] = {
		{ .fd = p->x->fd, .events = POLLIN },
		{ .fd = p->port.efd, .events = POLLIN },
		{ .fd = p->stopfd, .events = POLLIN },
	};

	for (int timeout = -1;;) {
		int k = poll(pfd, 3, timeout);

		if (k < 0 && errno != EINTR)
			break;
		if (k > 0 && pfd[2].revents)
			break;
		if (k > 0 && (pfd[0].revents & POLLIN))
			xdp_read(p);
		xdp_write(p);
		pthread_mutex_lock(&p->port.lock);
		/* frames waiting, or tx frames the kernel still has: come
		 * back soon (completions have no wakeup in copy mode) */
		timeout = p->port.count > 0 ? 0 :
			  p->x->tx_outstanding ? 1 : -1;
		pthread_mutex_unlock(&p->port.lock);
	}
	return NULL;
}

int vhk_net_xdp_start(struct vhk_net_xdp *p)
{
	int rc = pthread_create(&p->th, NULL, xdp_thread, p);

	p->running = rc == 0;
	return -rc;
}

void vhk_net_xdp_stop(struct vhk_net_xdp *p)
{
	uint64_t one = 1;
	ssize_t w;

	if (!p->running)
		return;
	w = write(p->stopfd, &one, sizeof(one));
	(void)w;
	pthread_join(p->th, NULL);
	p->running = false;
}

void vhk_net_xdp_close(struct vhk_net_xdp *p)
{
	struct vhk_net_xdp_impl *x = p->x;

	vhk_net_xdp_stop(p);
	atomic_store(&p->port.up, false);
	if (x) {
		if (x->xsk)
			xsk_socket__delete(x->xsk);	/* detaches the program */
		if (x->umem)
			xsk_umem__delete(x->umem);
		if (x->area)
			munmap(x->area, (size_t)NFRAMES * FRAME);
		free(x);
		p->x = NULL;
	}
	if (p->stopfd >= 0)
		close(p->stopfd);
	p->stopfd = -1;
	if (p->port.sw)
		vhk_net_port_fini(&p->port);
}
