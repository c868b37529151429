// SPDX-License-Identifier: MIT
/*
 * net.c - the userspace virtio-net driver (VIRTIO 1.2, 5.1) on queue pair
 * 0 of a front-end: rx buffers (with or without MRG_RXBUF), tx slots,
 * waiting.  The contract is vhostkit/net_driver.h.
 *
 * rx: every buffer is mapped FROM_DEVICE while posted and unmapped (bounce
 * mode: copied back) when used, then reposted.  tx: a frame is one
 * readable descriptor (header + frame) in a slot mapped TO_DEVICE while in
 * flight.  Used lengths and num_buffers come from the device: checked
 * before anything is copied.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhostkit/drv_ring.h"
#include "vhostkit/frontend.h"
#include "vhostkit/net_driver.h"
#include "vhostkit/util.h"
#include "drv_post.h"

#define NET_WHO		"net-drv"
#define RXQ		0
#define TXQ		1
#define HDR		sizeof(struct vhk_net_hdr)	/* VERSION_1: 12 */

struct rxbuf {
	uint8_t *host;
	uint64_t addr;
	bool posted;
};

struct txslot {
	uint8_t *host;
	uint64_t addr;
	uint32_t maplen;	/* 0: free */
};

struct vhk_net_drv {
	struct vhk_fe *fe;
	struct vhk_drv_vq *rxq, *txq;
	struct vhk_net_drv_params p;
	uint64_t features;
	bool mrg, broken, rx_due, tx_due, has_mac;
	uint8_t mac[6];
	struct rxbuf *rx;
	unsigned int nrx, rx_pending;	/* reposted since the last publish */
	struct txslot *tx;
	unsigned int *tx_free, ntx_free;
	struct vhk_net_drv_stats st;
	struct vhk_ratelimit rl;
};

uint64_t vhk_net_drv_features(bool packed, bool mrg)
{
	static const unsigned int bits[] = {
		VHK_F_VERSION_1, VHK_F_EVENT_IDX, VHK_NET_F_MAC,
		VHK_NET_F_STATUS, VHK_NET_F_MTU, VHK_NET_F_CSUM,
		VHK_NET_F_GUEST_CSUM,
	};
	uint64_t f = 0;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		f |= 1ull << bits[i];
	if (mrg)
		f |= 1ull << VHK_NET_F_MRG_RXBUF;
	if (packed)
		f |= 1ull << VHK_F_RING_PACKED;
	return f;
}

static int broken(struct vhk_net_drv *d, const char *q)
{
	if (!d->broken)
		vhk_log(VHK_LOG_ERR, NET_WHO, "%s queue: the device wrote a "
			"corrupt used ring: driver broken", q);
	d->broken = true;
	return -EPROTO;
}

/* ---- setup ------------------------------------------------------------- */

static uint16_t read_config(struct vhk_net_drv *d)
{
	struct vhk_net_config cfg;
	uint16_t mtu = 1500;

	if (!vhk_has_feature(vhk_fe_protocol_features(d->fe),
			     VHK_PROTO_F_CONFIG) ||
	    vhk_fe_get_config(d->fe, 0, &cfg, offsetof(struct vhk_net_config,
							 speed)) < 0)
		return mtu;
	if (vhk_has_feature(d->features, VHK_NET_F_MAC)) {
		memcpy(d->mac, cfg.mac, 6);
		d->has_mac = true;
	}
	/* VIRTIO 1.2, 5.1.4.1: the driver uses at most mtu; 68 is the least
	 * a device may offer. */
	if (vhk_has_feature(d->features, VHK_NET_F_MTU) &&
	    vhk_le16_get(cfg.mtu) >= 68)
		mtu = vhk_le16_get(cfg.mtu);
	return mtu;
}

static int post_rx(struct vhk_net_drv *d, struct rxbuf *b)
{
	int ret = drv_post_one(d->fe, d->rxq, b->host, d->p.rx_buf_size,
			       VHK_DMA_FROM_DEVICE, b, &b->addr);

	if (ret < 0)
		return ret;
	b->posted = true;
	d->rx_due = true;
	d->rx_pending++;
	return 0;
}

int vhk_net_drv_new(struct vhk_net_drv **out, struct vhk_fe *fe,
		    const struct vhk_net_drv_params *p)
{
	const struct vhk_net_drv_params defp = { 0 };
	struct vhk_net_drv *d;
	unsigned int i;
	uint16_t mtu;
	int ret;

	*out = NULL;
	if (!fe)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fe = fe;
	d->p = p ? *p : defp;
	d->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	d->features = vhk_fe_driver_features(fe);
	d->mrg = vhk_has_feature(d->features, VHK_NET_F_MRG_RXBUF);
	ret = -ENODEV;
	if (!vhk_has_feature(d->features, VHK_F_VERSION_1)) {
		vhk_log(VHK_LOG_ERR, NET_WHO, "VERSION_1 not negotiated");
		goto fail;
	}
	d->rxq = vhk_fe_queue(fe, RXQ);
	d->txq = vhk_fe_queue(fe, TXQ);
	if (!d->rxq || !d->txq) {
		vhk_log(VHK_LOG_ERR, NET_WHO, "receiveq1 and transmitq1 "
			"needed, the front-end has %u queues",
			vhk_fe_num_queues(fe));
		goto fail;
	}
	mtu = read_config(d);
	ret = -EINVAL;
	if (!d->p.rx_buf_size) {
		d->p.rx_buf_size = 2048;
		/* VIRTIO 1.2, 5.1.6.3.1: without MRG_RXBUF every buffer
		 * takes a whole frame (GUEST_TSO is never asked for). */
		if (!d->mrg && HDR + mtu + 18u > 2048)
			d->p.rx_buf_size = (uint32_t)(HDR + mtu + 18u);
	}
	if (d->p.rx_buf_size <= HDR || d->p.rx_buf_size > (1u << 20))
		goto fail;
	if (!d->p.tx_max)
		d->p.tx_max = 1518;
	if (d->p.tx_max > 65536 + 14)
		goto fail;
	d->nrx = d->p.rx_bufs ? d->p.rx_bufs : vhk_drv_vq_size(d->rxq);
	if (d->nrx > vhk_drv_vq_size(d->rxq))
		d->nrx = vhk_drv_vq_size(d->rxq);
	if (!d->p.tx_slots || d->p.tx_slots > vhk_drv_vq_size(d->txq))
		d->p.tx_slots = vhk_drv_vq_size(d->txq);

	ret = -ENOMEM;
	d->rx = calloc(d->nrx, sizeof(*d->rx));
	d->tx = calloc(d->p.tx_slots, sizeof(*d->tx));
	d->tx_free = calloc(d->p.tx_slots, sizeof(*d->tx_free));
	if (!d->rx || !d->tx || !d->tx_free)
		goto fail;
	for (i = 0; i < d->nrx; i++) {
		d->rx[i].host = vhk_fe_alloc(fe, d->p.rx_buf_size);
		if (!d->rx[i].host)
			goto fail;
	}
	for (i = 0; i < d->p.tx_slots; i++) {
		d->tx[i].host = vhk_fe_alloc(fe, HDR + d->p.tx_max);
		if (!d->tx[i].host)
			goto fail;
		d->tx_free[d->ntx_free++] = d->p.tx_slots - 1 - i;
	}
	for (i = 0; i < d->nrx; i++) {
		ret = post_rx(d, &d->rx[i]);
		if (ret < 0)
			goto fail;
	}
	/* No tx interrupts: completions are collected when slots run out. */
	vhk_drv_vq_enable_cb(d->txq, false);
	ret = vhk_net_drv_flush(d);
	if (ret < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	vhk_net_drv_free(d);
	return ret;
}

void vhk_net_drv_free(struct vhk_net_drv *d)
{
	unsigned int i;

	if (!d)
		return;
	/* The device is stopped or reset (contract): end every mapping. */
	for (i = 0; d->rx && i < d->nrx; i++) {
		if (d->rx[i].posted)
			vhk_fe_dma_unmap(d->fe, d->rx[i].host,
					 d->p.rx_buf_size, VHK_DMA_FROM_DEVICE,
					 d->rx[i].addr);
		vhk_fe_free(d->fe, d->rx[i].host);
	}
	for (i = 0; d->tx && i < d->p.tx_slots; i++) {
		if (d->tx[i].maplen)
			vhk_fe_dma_unmap(d->fe, d->tx[i].host, d->tx[i].maplen,
					 VHK_DMA_TO_DEVICE, d->tx[i].addr);
		vhk_fe_free(d->fe, d->tx[i].host);
	}
	free(d->rx);
	free(d->tx);
	free(d->tx_free);
	free(d);
}

int vhk_net_drv_mac(const struct vhk_net_drv *d, uint8_t mac[6])
{
	if (!d->has_mac)
		return -ENOENT;
	memcpy(mac, d->mac, 6);
	return 0;
}

bool vhk_net_drv_link_up(struct vhk_net_drv *d)
{
	struct vhk_net_config cfg;

	if (!vhk_has_feature(d->features, VHK_NET_F_STATUS))
		return true;
	if (vhk_fe_get_config(d->fe, 0, &cfg,
			      offsetof(struct vhk_net_config, max_virtqueue_pairs)) < 0)
		return false;
	return vhk_le16_get(cfg.status) & VHK_NET_S_LINK_UP;
}

void vhk_net_drv_stats(const struct vhk_net_drv *d,
		       struct vhk_net_drv_stats *st)
{
	*st = d->st;
}

/* ---- tx ---------------------------------------------------------------- */

int vhk_net_drv_reclaim(struct vhk_net_drv *d)
{
	void *tok;
	uint32_t len;
	int n = 0, ret;

	if (d->broken)
		return -EPROTO;
	while ((ret = vhk_drv_vq_get_used(d->txq, &tok, &len)) > 0) {
		struct txslot *s = tok;

		vhk_fe_dma_unmap(d->fe, s->host, s->maplen, VHK_DMA_TO_DEVICE,
				 s->addr);
		s->maplen = 0;
		d->tx_free[d->ntx_free++] = (unsigned int)(s - d->tx);
		n++;
	}
	return ret < 0 ? broken(d, "tx") : n;
}

int vhk_net_drv_send(struct vhk_net_drv *d, const struct vhk_net_hdr *hdr,
		     const void *frame, size_t len)
{
	struct txslot *s;
	unsigned int si;
	int ret;

	if (d->broken)
		return -EPROTO;
	if (!len || len > d->p.tx_max)
		return -EMSGSIZE;
	if (!d->ntx_free) {
		ret = vhk_net_drv_reclaim(d);
		if (ret < 0)
			return ret;
		if (!d->ntx_free) {
			d->st.tx_full++;
			return -EAGAIN;
		}
	}
	si = d->tx_free[d->ntx_free - 1];
	s = &d->tx[si];
	if (hdr)
		memcpy(s->host, hdr, HDR);
	else
		memset(s->host, 0, HDR);
	/* VIRTIO 1.2, 5.1.6.2: num_buffers is 0 on transmitted packets. */
	memset(s->host + offsetof(struct vhk_net_hdr, num_buffers), 0, 2);
	memcpy(s->host + HDR, frame, len);
	ret = drv_post_one(d->fe, d->txq, s->host, (uint32_t)(HDR + len),
			   VHK_DMA_TO_DEVICE, s, &s->addr);
	if (ret < 0) {
		if (ret == -ENOSPC)
			d->st.tx_full++;
		return ret == -ENOSPC ? -EAGAIN : ret;
	}
	s->maplen = (uint32_t)(HDR + len);
	d->ntx_free--;
	d->st.tx_frames++;
	d->st.tx_bytes += len;
	d->tx_due = true;
	return 0;
}

int vhk_net_drv_flush(struct vhk_net_drv *d)
{
	int ret = 0;

	if (d->rx_due) {
		d->rx_due = false;
		d->rx_pending = 0;
		if (vhk_drv_vq_publish(d->rxq)) {
			d->st.kicks++;
			ret = vhk_fe_kick(d->fe, RXQ);
		}
	}
	if (d->tx_due) {
		d->tx_due = false;
		if (vhk_drv_vq_publish(d->txq)) {
			d->st.kicks++;
			if (ret == 0)
				ret = vhk_fe_kick(d->fe, TXQ);
		}
	}
	return ret;
}

/* ---- rx ---------------------------------------------------------------- */

/*
 * The next used rx buffer, unmapped: 1 with *@b and *@len, 0 if none, or
 * -EPROTO.
 */
static int next_used(struct vhk_net_drv *d, struct rxbuf **b, uint32_t *len)
{
	void *tok;
	int ret = vhk_drv_vq_get_used(d->rxq, &tok, len);

	if (ret <= 0)
		return ret < 0 ? broken(d, "rx") : 0;
	*b = tok;
	(*b)->posted = false;
	d->st.rx_buffers++;
	/* bounce mode: the data reaches b->host here */
	ret = vhk_fe_dma_unmap(d->fe, (*b)->host, d->p.rx_buf_size,
			       VHK_DMA_FROM_DEVICE, (*b)->addr);
	return ret < 0 ? ret : 1;
}

static int repost(struct vhk_net_drv *d, struct rxbuf *b)
{
	int ret = post_rx(d, b);

	if (ret < 0)
		vhk_log(VHK_LOG_ERR, NET_WHO, "cannot repost an rx buffer: %s",
			strerror(-ret));
	return ret;
}

static void drop(struct vhk_net_drv *d, const char *why, uint32_t v)
{
	d->st.rx_dropped++;
	vhk_log_ratelimited(&d->rl, VHK_LOG_WARN, NET_WHO,
			    "rx frame dropped: %s (%u)", why, v);
}

/*
 * One frame out of the used ring into @buf: its length, 0 if no used
 * buffer was there, -EAGAIN if the frame was dropped, or -errno.
 */
static int take_frame(struct vhk_net_drv *d, struct vhk_net_hdr *hdr,
		      uint8_t *buf, size_t cap)
{
	struct vhk_net_hdr h;
	struct rxbuf *b;
	uint32_t len, nb, got;
	size_t off = 0;
	bool fits = true;
	int ret;

	ret = next_used(d, &b, &len);
	if (ret <= 0)
		return ret;
	if (len < HDR) {
		ret = repost(d, b);
		drop(d, "used length below the header", len);
		return ret < 0 ? ret : -EAGAIN;
	}
	/* Copy the header once, then validate the copy. */
	memcpy(&h, b->host, HDR);
	nb = d->mrg ? vhk_le16_get(h.num_buffers) : 1;
	/* VIRTIO 1.2, 5.1.6.4: num_buffers counts this buffer too; more than
	 * were posted cannot be true. */
	if (nb == 0 || nb > d->nrx) {
		ret = repost(d, b);
		drop(d, "num_buffers out of range", nb);
		return ret < 0 ? ret : -EAGAIN;
	}
	len -= HDR;
	if (len > cap)
		fits = false;
	else
		memcpy(buf, b->host + HDR, len);
	off = len;
	ret = repost(d, b);
	for (got = 1; ret >= 0 && got < nb; got++) {
		ret = next_used(d, &b, &len);
		if (ret == 0) {
			/* The device publishes a frame's buffers together;
			 * missing ones are a device bug (Linux drops too). */
			drop(d, "buffers missing from a merged frame", nb - got);
			return -EAGAIN;
		}
		if (ret < 0)
			break;
		if (fits && len <= cap - off)
			memcpy(buf + off, b->host, len);
		else
			fits = false;
		off += len;
		ret = repost(d, b);
	}
	if (ret < 0)
		return ret;
	if (!fits) {
		drop(d, "frame larger than the caller's buffer", (uint32_t)off);
		return -EAGAIN;
	}
	if (hdr)
		*hdr = h;
	d->st.rx_frames++;
	d->st.rx_bytes += off;
	return (int)off;
}

/* Sleep on the rx call eventfd and the back-end channel: 0 or -errno. */
static int sleep_rx(struct vhk_net_drv *d, int timeout_ms)
{
	struct pollfd pfd[2];
	int chan = vhk_fe_backend_channel_fd(d->fe), n = 1, ret;

	if (vhk_drv_vq_enable_cb(d->rxq, true))
		return 0;
	pfd[0] = (struct pollfd){ vhk_fe_call_fd(d->fe, RXQ), POLLIN, 0 };
	if (chan >= 0)
		pfd[n++] = (struct pollfd){ chan, POLLIN, 0 };
	ret = poll(pfd, (nfds_t)n, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[0].revents)
		drv_drain_eventfd(pfd[0].fd);
	if (n > 1 && pfd[1].revents) {
		ret = vhk_fe_poll(d->fe, 0);
		if (ret < 0 && ret != -EAGAIN)
			return ret;
	}
	return vhk_fe_connected(d->fe) ? 0 : -ECONNRESET;
}

int vhk_net_drv_recv(struct vhk_net_drv *d, struct vhk_net_hdr *hdr,
		     void *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
	unsigned int spins = 0;
	int ret;

	for (;;) {
		if (d->broken)
			return -EPROTO;
		ret = take_frame(d, hdr, buf, cap);
		if (ret == -EAGAIN)
			continue;
		if (ret != 0)
			break;
		/* nothing used: give the reposted buffers to the device */
		ret = vhk_net_drv_flush(d);
		if (ret < 0)
			return ret;
		if (d->p.busy_poll) {
			if ((++spins & 63) == 0) {
				ret = drv_poll_chores(d->fe, deadline);
				if (ret <= 0)
					return ret ? ret : -ETIMEDOUT;
			}
			sched_yield();
			continue;
		}
		if (vhk_now_ns() >= deadline)
			return -ETIMEDOUT;
		ret = sleep_rx(d, timeout_ms < 0 ? -1 :
			       (int)((deadline - vhk_now_ns()) / 1000000u) + 1);
		vhk_drv_vq_enable_cb(d->rxq, false);
		if (ret < 0)
			return ret;
	}
	/* Reposted buffers go back in batches of a quarter ring (and
	 * always before sleeping, above). */
	if (ret > 0 && d->rx_pending >= d->nrx / 4) {
		int k = vhk_net_drv_flush(d);

		if (k < 0)
			return k;
	}
	return ret;
}
