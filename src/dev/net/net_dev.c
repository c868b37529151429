/* SPDX-License-Identifier: MIT */
/*
 * net_dev.c - virtio-net device operations (VIRTIO 1.2, 5.1): features,
 * configuration space, transmit queues into the switch, receive queues
 * out of the port's backlog with MRG_RXBUF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev/net/net_dev.h"
#include "vhostkit/features_text.h"

static struct vhk_net_dev *to_dev(void *dev)
{
	return dev;
}

static uint64_t net_get_features(void *dev)
{
	struct vhk_net_dev *d = to_dev(dev);
	static const unsigned int bits[] = {
		VHK_F_VERSION_1, VHK_F_INDIRECT_DESC, VHK_F_EVENT_IDX,
		VHK_F_RING_PACKED, VHK_F_IN_ORDER,
		VHK_NET_F_CSUM, VHK_NET_F_GUEST_CSUM,
		VHK_NET_F_HOST_TSO4, VHK_NET_F_HOST_TSO6, VHK_NET_F_HOST_ECN,
		VHK_NET_F_GUEST_TSO4, VHK_NET_F_GUEST_TSO6,
		VHK_NET_F_GUEST_ECN, VHK_NET_F_HOST_USO,
		VHK_NET_F_GUEST_USO4, VHK_NET_F_GUEST_USO6,
		VHK_NET_F_MRG_RXBUF, VHK_NET_F_STATUS, VHK_NET_F_MTU,
	};
	uint64_t f = 0;

	for (size_t i = 0; i < VHK_ARRAY_SIZE(bits); i++)
		vhk_set_feature(&f, bits[i]);
	if (d->port.has_mac)
		vhk_set_feature(&f, VHK_NET_F_MAC);
	if (d->pairs > 1)
		vhk_set_feature(&f, VHK_NET_F_MQ);
	return f;
}

static uint64_t net_get_protocol_features(void *dev)
{
	uint64_t f = 0;

	(void)dev;
	vhk_set_feature(&f, VHK_PROTO_F_MQ);
	vhk_set_feature(&f, VHK_PROTO_F_CONFIG);
	vhk_set_feature(&f, VHK_PROTO_F_RARP);
	return f;
}

/* vhost-user GET_QUEUE_NUM counts queue pairs for net. */
static uint16_t net_num_queues(void *dev)
{
	return to_dev(dev)->pairs;
}

static uint16_t net_num_vrings(void *dev)
{
	return (uint16_t)(to_dev(dev)->pairs * 2);
}

static int net_get_config(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vhk_net_dev *d = to_dev(dev);

	if (offset > sizeof(d->cfg) || len > sizeof(d->cfg) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&d->cfg + offset, len);
	return 0;
}

/* VIRTIO 1.2, 5.1.4: the driver writes no field of the net config space
 * (the MAC only through the control queue, owned by the front-end). */
static int net_set_config(void *dev, uint32_t offset, const void *buf,
			  uint32_t len)
{
	(void)dev;
	(void)offset;
	(void)buf;
	(void)len;
	return -EINVAL;
}

static int net_set_features(void *dev, uint64_t acked)
{
	struct vhk_net_dev *d = to_dev(dev);
	unsigned int rx = 0, tx = 0;
	char names[512];

	vhk_features_format(names, sizeof(names), acked, VHK_DEV_NET, false);
	vhk_log(VHK_LOG_INFO, d->port.name, "features acked: %s", names);
	d->acked = acked;
	d->mrg = vhk_has_feature(acked, VHK_NET_F_MRG_RXBUF);
	/* VIRTIO 1.2, 5.1.6: the header is 12 bytes with VERSION_1 or
	 * MRG_RXBUF, 10 bytes for legacy drivers without MRG_RXBUF. */
	d->hdr_size = (d->mrg || vhk_has_feature(acked, VHK_F_VERSION_1)) ?
		      sizeof(struct vhk_net_hdr) : VHK_NET_HDR_LEGACY_SIZE;
	if (vhk_has_feature(acked, VHK_NET_F_CSUM))
		tx |= VHK_NET_OFF_CSUM;
	if (vhk_has_feature(acked, VHK_NET_F_HOST_TSO4))
		tx |= VHK_NET_OFF_TSO4;
	if (vhk_has_feature(acked, VHK_NET_F_HOST_TSO6))
		tx |= VHK_NET_OFF_TSO6;
	if (vhk_has_feature(acked, VHK_NET_F_HOST_ECN))
		tx |= VHK_NET_OFF_ECN;
	if (vhk_has_feature(acked, VHK_NET_F_HOST_USO))
		tx |= VHK_NET_OFF_USO;
	if (vhk_has_feature(acked, VHK_NET_F_GUEST_CSUM))
		rx |= VHK_NET_OFF_CSUM;
	if (vhk_has_feature(acked, VHK_NET_F_GUEST_TSO4))
		rx |= VHK_NET_OFF_TSO4;
	if (vhk_has_feature(acked, VHK_NET_F_GUEST_TSO6))
		rx |= VHK_NET_OFF_TSO6;
	if (vhk_has_feature(acked, VHK_NET_F_GUEST_ECN))
		rx |= VHK_NET_OFF_ECN;
	if (vhk_has_feature(acked, VHK_NET_F_GUEST_USO4) &&
	    vhk_has_feature(acked, VHK_NET_F_GUEST_USO6))
		rx |= VHK_NET_OFF_USO;
	/* Without MRG_RXBUF a GSO frame must fit one buffer: only hand the
	 * guest GSO frames if it also said it posts big buffers (it did by
	 * acking GUEST_TSO*; VIRTIO 1.2, 5.1.6.3.1). */
	d->tx_allowed = tx;
	atomic_store_explicit(&d->port.caps, rx, memory_order_relaxed);
	return 0;
}

/* ---- queues */

static void update_up(struct vhk_net_dev *d)
{
	bool up = false;

	for (unsigned int i = 0; i < d->pairs; i++)
		up = up || d->rx[i].started;
	atomic_store_explicit(&d->port.up, up, memory_order_release);
	if (!up)
		vhk_net_backlog_flush(&d->port);
}

static int net_queue_start(void *dev, struct vhk_dev_queue *dq)
{
	struct vhk_net_dev *d = to_dev(dev);
	uint16_t idx = vhk_dq_index(dq);
	struct vhk_vq *vq = vhk_dq_vq(dq);
	uint16_t pair = vhk_net_queue_pair(idx);

	if (pair >= d->pairs)
		return -EINVAL;
	/* Every chain completes in the pass that pops it: a pop-to-push
	 * time says nothing here and costs clock reads and stores per
	 * frame. */
	vhk_vq_untimed(vq);
	if (vhk_net_queue_is_rx(idx)) {
		struct net_rxq *q = &d->rx[pair];

		q->vq = vq;
		q->started = true;
		q->quiet = false;
		update_up(d);
		/* frames may already wait */
		if (d->have_host)
			d->host.kick_later(d->host.opaque, idx);
	} else {
		d->tx[pair].vq = vq;
		d->tx[pair].started = true;
		d->tx[pair].quiet = false;
	}
	return 0;
}

static void rxq_stop(struct vhk_net_dev *d, struct net_rxq *q)
{
	if (!q->started)
		return;
	if (q->pend) {
		vhk_net_backlog_putback(&d->port, q->pend);
		q->pend = q->pend_tail = NULL;
		q->npend = 0;
	}
	q->started = false;
	q->vq = NULL;
}

static void net_queue_stop(void *dev, struct vhk_dev_queue *dq)
{
	struct vhk_net_dev *d = to_dev(dev);
	uint16_t idx = vhk_dq_index(dq);
	uint16_t pair = vhk_net_queue_pair(idx);
	if (pair >= d->pairs)
		return;
	if (vhk_net_queue_is_rx(idx)) {
		rxq_stop(d, &d->rx[pair]);
		update_up(d);
	} else {
		d->tx[pair].started = false;
		d->tx[pair].vq = NULL;
	}
}

static void net_reset(void *dev)
{
	struct vhk_net_dev *d = to_dev(dev);

	for (unsigned int i = 0; i < d->pairs; i++) {
		rxq_stop(d, &d->rx[i]);
		d->tx[i].started = false;
		d->tx[i].vq = NULL;
	}
	update_up(d);
	d->acked = 0;
	d->mrg = false;
	d->tx_allowed = 0;
	atomic_store_explicit(&d->port.caps, 0u, memory_order_relaxed);
}

static enum vhk_kick_result broken(struct vhk_net_dev *d, const char *why)
{
	if (d->have_host)
		d->host.broken(d->host.opaque, why);
	return VHK_KICK_DONE;
}

/* Frames taken from one transmit queue, handed to the switch together
 * (vhk_net_switch_input_burst()). */
struct tx_burst {
	struct vhk_net_pkt *p[VHK_NET_TX_BURST];
	unsigned int n;
	uint64_t bytes;
};

static void tx_burst_flush(struct vhk_net_dev *d, uint16_t pair,
			   struct tx_burst *b)
{
	struct vhk_net_port *port = &d->port;

	if (!b->n)
		return;
	vhk_net_cnt_add(&port->q[pair].tx_packets, b->n);
	vhk_net_cnt_add(&port->q[pair].tx_bytes, b->bytes);
	vhk_net_switch_input_burst(port->sw, port, b->p, b->n);
	b->n = 0;
	b->bytes = 0;
}

/* One TX chain: copy the header once, then the frame once, validate the
 * copies (VIRTIO 1.2, 5.1.6.2), add the frame to @b. */
static void tx_one(struct vhk_net_dev *d, uint16_t pair,
		   const struct vhk_chain *c, struct tx_burst *b)
{
	struct vhk_net_port *port = &d->port;
	struct vhk_net_hdr h;
	struct vhk_net_pkt *pkt;
	struct vhk_iter it;
	uint64_t flen;
	int rc;

	if (c->read_bytes < d->hdr_size) {
		vhk_net_count_drop(port, VHK_NET_DROP_HDR_SHORT);
		return;
	}
	flen = c->read_bytes - d->hdr_size;
	if (flen > VHK_NET_MAX_FRAME) {
		vhk_net_count_drop(port, VHK_NET_DROP_TOO_BIG);
		return;
	}
	if (flen < VHK_ETH_HLEN) {
		vhk_net_count_drop(port, VHK_NET_DROP_RUNT);
		return;
	}
	memset(&h, 0, sizeof(h));
	pkt = vhk_net_pkt_alloc(flen);
	if (!pkt) {
		vhk_net_count_drop(port, VHK_NET_DROP_NOMEM);
		return;
	}
	if (c->nread == 1) {
		/* Header and frame in one segment (DPDK virtio-user): two
		 * copies, no iterator. */
		const uint8_t *seg = c->iov[0].iov_base;

		memcpy(&h, seg, d->hdr_size);
		memcpy(pkt->data, seg + d->hdr_size, flen);
	} else {
		vhk_chain_reader(c, &it);
		vhk_iter_read(&it, &h, d->hdr_size);
		vhk_iter_read(&it, pkt->data, flen);
	}
	rc = vhk_net_meta_parse(&h, pkt->data, flen, d->tx_allowed,
				port->mtu, &pkt->meta);
	if (rc < 0) {
		vhk_net_count_drop(port, vhk_net_drop_of(rc));
		vhk_net_pkt_free(pkt);
		return;
	}
	b->p[b->n++] = pkt;
	b->bytes += flen;
	if (b->n == VHK_NET_TX_BURST)
		tx_burst_flush(d, pair, b);
}

/* A busy-polled queue is looked at on every pass: the driver's kicks
 * (an eventfd write per burst on its side) are turned off once, when the
 * queue first runs (VIRTIO 1.2, 2.7.10 / 2.8.10: notification
 * suppression is only a hint, so a late kick does no harm). */
static void poll_quiet(struct vhk_vq *vq, bool *quiet)
{
	if (*quiet)
		return;
	vhk_vq_enable_notify(vq, false);
	*quiet = true;
}

static enum vhk_kick_result tx_kick(struct vhk_net_dev *d, uint16_t idx,
				    struct vhk_vq *vq)
{
	uint16_t pair = vhk_net_queue_pair(idx);
	struct net_txq *q = &d->tx[pair];
	struct tx_burst b;	/* b.p[] filled as frames come (no memset) */
	unsigned int n = 0;

	b.n = 0;
	b.bytes = 0;

	if (!d->poll)
		vhk_vq_enable_notify(vq, false);
	else
		poll_quiet(vq, &q->quiet);
	while (n < VHK_KICK_BUDGET) {
		int rc = vhk_vq_pop_burst(vq, q->c,
					  VHK_MIN(VHK_NET_TX_BURST,
						  VHK_KICK_BUDGET - n));

		if (rc == 0) {
			if (!d->poll && vhk_vq_enable_notify(vq, true)) {
				vhk_vq_enable_notify(vq, false);
				n++;	/* bounded, as a pop would be */
				continue;
			}
			break;
		}
		if (rc == -EAGAIN) {
			tx_burst_flush(d, pair, &b);
			d->host.complete(d->host.opaque, idx);
			return VHK_KICK_PARKED;
		}
		if (rc == -ENOBUFS)
			rc = vhk_vq_fail(vq, -ENOBUFS,
					 "TX chain longer than %u segments",
					 VHK_NET_MAX_IOV);
		if (rc < 0) {
			tx_burst_flush(d, pair, &b);
			d->host.complete(d->host.opaque, idx);
			return broken(d, "transmit queue broken");
		}
		/* The frames are copied out: their chains complete now, the
		 * switch sees them in bursts. */
		for (int i = 0; i < rc; i++)
			tx_one(d, pair, &q->c[i], &b);
		if (vhk_vq_push_burst(vq, q->c, NULL, (unsigned int)rc) < 0) {
			tx_burst_flush(d, pair, &b);
			d->host.complete(d->host.opaque, idx);
			return broken(d, "transmit completion lost: queue broken");
		}
		n += (unsigned int)rc;
	}
	tx_burst_flush(d, pair, &b);
	d->host.complete(d->host.opaque, idx);
	if (n >= VHK_KICK_BUDGET || d->poll)
		return VHK_KICK_AGAIN;
	return VHK_KICK_DONE;
}

/* ---- RX */

/* Give every buffer popped for the current packet back to the ring,
 * newest first (vhk_vq_unpop()): the next packet pops them again. */
static int rx_unpop(struct net_rxq *q, unsigned int n)
{
	while (n--) {
		int rc = vhk_vq_unpop(q->vq, &q->buf[n].c);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * Deliver @pkt into receive queue @q.  Returns 1 when the packet is gone
 * (delivered or dropped with a counter), 0 when the guest must post more
 * buffers first, -EAGAIN on an IOTLB miss, another negative errno when
 * the queue broke (a lost completion included).  Buffers are popped for
 * this packet only; those it cannot use are unpopped (VIRTIO 1.2, 5.1.6.3:
 * the device may take fewer buffers than it looked at).
 */
static int rx_one(struct vhk_net_dev *d, struct net_rxq *q, uint16_t pair,
		  struct vhk_net_pkt *pkt)
{
	struct vhk_net_port *port = &d->port;
	uint64_t want = d->hdr_size + pkt->len, room = 0;
	unsigned int nbuf = 0, n = 0;
	struct vhk_net_hdr h;
	size_t hoff = 0, doff = 0;

	/* Pop until the good buffers hold the packet (one buffer without
	 * MRG_RXBUF), at most VHK_NET_RX_BUFS of them. */
	while (room < want && n < VHK_NET_RX_BUFS && (d->mrg || nbuf == 0)) {
		struct net_rx_buf *b = &q->buf[n];
		int rc;

		memset(&b->c, 0, sizeof(b->c));
		b->c.iov = q->iov + (size_t)n * VHK_NET_MAX_IOV;
		b->c.iov_cap = VHK_NET_MAX_IOV;
		rc = vhk_vq_pop(q->vq, &b->c);
		if (rc == 0 || rc == -EAGAIN) {
			int u = rx_unpop(q, n);

			return u < 0 ? u : rc;
		}
		if (rc == -ENOBUFS)
			rc = vhk_vq_fail(q->vq, -ENOBUFS,
					 "RX chain longer than %u segments",
					 VHK_NET_MAX_IOV);
		if (rc < 0)
			return rc;
		/*
		 * VIRTIO 1.2, 5.1.6.3.1: every receive buffer holds at least
		 * a header.  The packet's first one carries it: a smaller one
		 * goes back empty.  A later one (MRG_RXBUF) is taken for what
		 * it holds, even nothing: the driver reads num_buffers used
		 * entries in a row, so no empty entry may sit between them.
		 */
		b->bad = n == 0 && b->c.write_bytes < d->hdr_size;
		if (b->bad && n == 0) {
			if (vhk_vq_push(q->vq, &b->c, 0) < 0)
				return -EIO;
			vhk_net_count_drop(port, VHK_NET_DROP_RX_BAD_BUF);
			continue;
		}
		if (!b->bad) {
			room += b->c.write_bytes;
			nbuf++;
		}
		n++;
	}
	if (room < want) {
		/* Larger than what the guest posts (or than 64 buffers):
		 * the buffers go back for the next packet. */
		vhk_net_count_drop(port, VHK_NET_DROP_RX_NO_ROOM);
		return rx_unpop(q, n) < 0 ? -EIO : 1;
	}
	vhk_net_meta_to_hdr(&pkt->meta, &h);
	/* VIRTIO 1.2, 5.1.6.4: num_buffers is the number of buffers the
	 * packet spans with MRG_RXBUF, 1 otherwise. */
	h.num_buffers = vhk_le16_make(d->mrg ? (uint16_t)nbuf : 1);
	for (unsigned int i = 0; i < n; i++) {
		struct net_rx_buf *b = &q->buf[i];
		struct vhk_iter it;
		size_t w = 0;

		if (b->bad) {
			vhk_net_count_drop(port, VHK_NET_DROP_RX_BAD_BUF);
		} else {
			vhk_chain_writer(&b->c, &it);
			if (hoff < d->hdr_size) {
				w = vhk_iter_write(&it, (const uint8_t *)&h + hoff,
						   d->hdr_size - hoff);
				hoff += w;
			}
			if (hoff == d->hdr_size) {
				size_t wd = vhk_iter_write(&it, pkt->data + doff,
							   pkt->len - doff);

				doff += wd;
				w += wd;
			}
		}
		if (vhk_vq_push(q->vq, &b->c, (uint32_t)w) < 0)
			return -EIO;
	}
	vhk_net_cnt_add(&port->q[pair].rx_packets, 1);
	vhk_net_cnt_add(&port->q[pair].rx_bytes, pkt->len);
	vhk_net_cnt_add(&port->c.out_packets, 1);
	vhk_net_cnt_add(&port->c.out_bytes, pkt->len);
	return 1;
}

/* The first started receive queue: it takes the port's backlog. */
static int lead_rxq(const struct vhk_net_dev *d)
{
	for (unsigned int i = 0; i < d->pairs; i++)
		if (d->rx[i].started)
			return (int)i;
	return -1;
}

/*
 * Steer a batch taken from the backlog: each frame to a started receive
 * queue chosen by its flow hash, so a flow keeps one queue (and its
 * order) while the set of started queues stays the same.  A queue whose
 * list is full (its guest does not refill) drops, counted, and holds no
 * other queue up.  Queues other than @self that got frames are kicked.
 */
static void rx_steer(struct vhk_net_dev *d, uint16_t self,
		     struct vhk_net_pkt *l)
{
	uint16_t started[VHK_NET_MAX_QUEUES];
	bool kick[VHK_NET_MAX_QUEUES] = { false };
	unsigned int ns = 0, cap = d->port.limit ? d->port.limit : 1024;
	struct vhk_net_pkt *n;

	for (uint16_t i = 0; i < d->pairs; i++)
		if (d->rx[i].started)
			started[ns++] = i;
	for (; l; l = n) {
		/* (no division for the usual single queue) */
		uint16_t t = ns > 1 ? started[l->hash % ns] :
			     ns ? started[0] : self;
		struct net_rxq *q = &d->rx[t];

		n = l->next;
		l->next = NULL;
		if (q->npend >= cap) {
			vhk_net_count_drop(&d->port, VHK_NET_DROP_QUEUE_FULL);
			vhk_net_pkt_free(l);
			continue;
		}
		if (q->pend_tail)
			q->pend_tail->next = l;
		else
			q->pend = l;
		q->pend_tail = l;
		q->npend++;
		kick[t] = t != self;
	}
	for (uint16_t i = 0; i < d->pairs; i++)
		if (kick[i])
			d->host.kick_later(d->host.opaque, (uint16_t)(2 * i));
}

static void rx_pend_pop(struct net_rxq *q)
{
	struct vhk_net_pkt *pkt = q->pend;

	q->pend = pkt->next;
	if (!q->pend)
		q->pend_tail = NULL;
	q->npend--;
	vhk_net_pkt_free(pkt);
}

/*
 * The receive fast path: buffers for the next frames of @q's list popped
 * together (vhk_vq_pop_burst()), one frame each.  A buffer whose one
 * writable segment takes the header and the frame gets both with one
 * copy from the frame's headroom (num_buffers 1: VIRTIO 1.2, 5.1.6.4).  At the first buffer that
 * does not - a frame larger than it, a buffer in several segments or
 * smaller than a header - the buffers not used go back to the ring
 * (newest first) and rx_one() delivers that frame the general way.
 * *@done: frames gone from the list.  Returns as rx_one(): 1 when *@done
 * frames are gone, 0 when the guest must post buffers, -EAGAIN, or
 * another negative errno when the queue broke.
 */
static int rx_burst(struct vhk_net_dev *d, struct net_rxq *q, uint16_t pair,
		    unsigned int *done)
{
	struct vhk_net_port *port = &d->port;
	unsigned int want = VHK_MIN(q->npend, (unsigned int)VHK_NET_RX_BATCH);
	unsigned int k, m;
	struct vhk_net_pkt *p = q->pend;
	uint64_t bytes = 0;
	int rc;

	*done = 0;
	rc = vhk_vq_pop_burst(q->vq, q->bc, want);
	if (rc == 0 || rc == -EAGAIN || rc == -EIO)
		return rc;
	k = rc > 0 ? (unsigned int)rc : 0;	/* else rx_one() reports */
	for (m = 0; m < k; m++, p = p->next) {
		struct vhk_chain *c = &q->bc[m];
		size_t tot = d->hdr_size + p->len;
		struct vhk_net_hdr h;

		if (c->nwrite != 1 || c->write_bytes < tot)
			break;
		/* The header in the frame's headroom (data - hdr_size; a
		 * constant-size copy for the usual 12 bytes), then one
		 * copy of header and frame. */
		vhk_net_meta_to_hdr(&p->meta, &h);
		h.num_buffers = vhk_le16_make(1);
		if (d->hdr_size == sizeof(h))
			memcpy(p->headroom, &h, sizeof(h));
		else
			memcpy(p->data - d->hdr_size, &h, d->hdr_size);
		vhk_guest_write(c->as, c->iov[c->nread].iov_base,
				p->data - d->hdr_size, tot);
		q->blen[m] = (uint32_t)tot;
		bytes += p->len;
	}
	for (unsigned int i = k; i-- > m;)
		if (vhk_vq_unpop(q->vq, &q->bc[i]) < 0)
			return -EIO;
	if (m) {
		if (vhk_vq_push_burst(q->vq, q->bc, q->blen, m) < 0)
			return -EIO;
		vhk_net_cnt_add(&port->q[pair].rx_packets, m);
		vhk_net_cnt_add(&port->q[pair].rx_bytes, bytes);
		vhk_net_cnt_add(&port->c.out_packets, m);
		vhk_net_cnt_add(&port->c.out_bytes, bytes);
		for (unsigned int i = 0; i < m; i++)
			rx_pend_pop(q);
		*done = m;
		if (m == k)
			return 1;
	}
	/* The frame at the first buffer the fast path could not use. */
	rc = rx_one(d, q, pair, q->pend);
	if (rc == 1) {
		rx_pend_pop(q);
		(*done)++;
	}
	return *done ? 1 : rc;
}

static enum vhk_kick_result rx_kick(struct vhk_net_dev *d, uint16_t idx,
				    struct vhk_vq *vq)
{
	uint16_t pair = vhk_net_queue_pair(idx);
	struct net_rxq *q = &d->rx[pair];
	bool lead = lead_rxq(d) == (int)pair, more;
	unsigned int n = 0;

	if (!q->started || q->vq != vq)
		return VHK_KICK_DONE;
	if (d->poll)
		poll_quiet(vq, &q->quiet);
	while (n < VHK_KICK_BUDGET) {
		struct vhk_net_pkt *pkt;
		unsigned int done;
		int rc;

		if (!q->pend) {
			if (!lead)
				break;
			pkt = vhk_net_backlog_take(&d->port,
						   VHK_NET_RX_BATCH);
			if (!pkt)
				break;
			rx_steer(d, pair, pkt);
			continue;
		}
		rc = rx_burst(d, q, pair, &done);
		if (rc == 0) {
			/* Out of buffers: ask for a kick when the guest
			 * refills; the frames wait (bounded: a guest that
			 * never refills only loses its own).  The lead queue
			 * still steers what the other queues are owed. */
			if (!d->poll && vhk_vq_enable_notify(vq, true))
				continue;
			if (lead)
				for (unsigned int k = 0; k < 4; k++) {
					pkt = vhk_net_backlog_take(
						&d->port, VHK_NET_RX_BATCH);
					if (!pkt)
						break;
					rx_steer(d, pair, pkt);
				}
			d->host.complete(d->host.opaque, idx);
			return d->poll ? VHK_KICK_AGAIN : VHK_KICK_DONE;
		}
		if (rc == -EAGAIN) {
			d->host.complete(d->host.opaque, idx);
			return VHK_KICK_PARKED;
		}
		if (rc < 0) {
			d->host.complete(d->host.opaque, idx);
			return broken(d, "receive queue broken");
		}
		n += done;
	}
	d->host.complete(d->host.opaque, idx);
	more = q->pend != NULL || n >= VHK_KICK_BUDGET;
	return (more || d->poll) ? VHK_KICK_AGAIN : VHK_KICK_DONE;
}

static enum vhk_kick_result net_queue_kick(void *dev,
					   struct vhk_dev_queue *dq)
{
	struct vhk_net_dev *d = to_dev(dev);
	uint16_t idx = vhk_dq_index(dq);
	struct vhk_vq *vq = vhk_dq_vq(dq);
	uint16_t pair = vhk_net_queue_pair(idx);

	if (pair >= d->pairs || !d->have_host)
		return VHK_KICK_DONE;
	if (vhk_net_queue_is_rx(idx))
		return rx_kick(d, idx, vq);
	if (!d->tx[pair].started || d->tx[pair].vq != vq)
		return VHK_KICK_DONE;
	return tx_kick(d, idx, vq);
}

static void backlog_ready(struct vhk_net_dev *d)
{
	/* One backlog per port: the first started receive queue takes it
	 * and steers each frame to its flow's queue (rx_steer()). */
	int lead = lead_rxq(d);

	if (lead >= 0) {
		d->host.kick_later(d->host.opaque, (uint16_t)(2 * lead));
		return;
	}
	/* No receive queue: the backlog is flushed by update_up(); a racing
	 * frame is dropped here. */
	vhk_net_backlog_flush(&d->port);
}

void vhk_net_dev_announce(struct vhk_net_dev *d, const uint8_t mac[6])
{
	struct vhk_net_pkt *pkt = vhk_net_pkt_alloc(60);

	if (!pkt) {
		vhk_net_count_drop(&d->port, VHK_NET_DROP_NOMEM);
		return;
	}
	pkt->len = (uint32_t)vhk_net_rarp_frame(mac, pkt->data);
	vhk_net_switch_input(d->port.sw, &d->port, pkt);
}

static unsigned int net_max_iov(void *dev)
{
	(void)dev;
	return VHK_NET_MAX_IOV;
}

static void net_send_rarp(void *dev, const uint8_t mac[6])
{
	vhk_net_dev_announce(to_dev(dev), mac);
}

/* The port's eventfd: frames arrived in its backlog. */
static void backlog_readable(void *opaque, int fd, uint32_t events)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));

	(void)r;
	(void)events;
	backlog_ready(opaque);
}

/* Whoever runs the device (the server): keep it, have it watch the
 * port's backlog eventfd. */
static int net_host_start(void *dev, const struct vhk_dev_host *h)
{
	struct vhk_net_dev *d = dev;
	int rc;

	if (!h->watch || !h->complete || !h->kick_later || !h->broken)
		return -EINVAL;
	d->host = *h;
	d->have_host = true;
	rc = h->watch(h->opaque, d->port.efd, EPOLLIN, backlog_readable, d);
	if (rc) {
		d->have_host = false;
		return rc;
	}
	d->efd_watched = true;
	return 0;
}

static void net_host_stop(void *dev)
{
	struct vhk_net_dev *d = dev;

	if (d->efd_watched && d->host.unwatch)
		d->host.unwatch(d->host.opaque, d->port.efd);
	d->efd_watched = false;
	d->have_host = false;
}

const struct vhk_device_ops vhk_net_dev_ops = {
	.type = VHK_DEV_NET,
	.get_features = net_get_features,
	.get_protocol_features = net_get_protocol_features,
	.num_queues = net_num_queues,
	.get_config = net_get_config,
	.set_config = net_set_config,
	.set_features = net_set_features,
	.queue_start = net_queue_start,
	.queue_kick = net_queue_kick,
	.queue_stop = net_queue_stop,
	.reset = net_reset,
	.num_vrings = net_num_vrings,
	.max_iov = net_max_iov,
	.send_rarp = net_send_rarp,
	.host_start = net_host_start,
	.host_stop = net_host_stop,
};

int vhk_net_dev_init(struct vhk_net_dev *d, struct vhk_net_switch *sw,
		     const char *name, const struct vhk_net_dev_opts *o)
{
	int rc;

	memset(d, 0, sizeof(*d));
	if (!o->queues || o->queues > VHK_NET_MAX_QUEUES ||
	    (o->mtu && o->mtu < 68))
		return -EINVAL;
	rc = vhk_net_port_init(sw, &d->port, name, VHK_NET_PORT_VHOST_USER,
			       o->backlog);
	if (rc)
		return rc;
	d->pairs = o->queues;
	d->poll = o->poll;
	d->port.queues = o->queues;
	d->port.mtu = o->mtu ? o->mtu : 1500;
	d->port.priv = d;
	d->port.polled = o->poll;
	d->hdr_size = sizeof(struct vhk_net_hdr);
	if (o->mac) {
		memcpy(d->port.mac, o->mac, 6);
		d->port.has_mac = true;
		memcpy(d->cfg.mac, o->mac, 6);
	}
	d->cfg.status = vhk_le16_make(VHK_NET_S_LINK_UP);
	d->cfg.max_virtqueue_pairs = vhk_le16_make(d->pairs);
	d->cfg.mtu = vhk_le16_make(d->port.mtu);
	for (unsigned int i = 0; i < d->pairs; i++) {
		struct net_rxq *rq = &d->rx[i];
		struct net_txq *tq = &d->tx[i];

		rq->iov = calloc((size_t)VHK_NET_RX_BUFS * VHK_NET_MAX_IOV,
				 sizeof(struct iovec));
		tq->iov = calloc((size_t)VHK_NET_TX_BURST * VHK_NET_MAX_IOV,
				 sizeof(struct iovec));
		if (!rq->iov || !tq->iov) {
			vhk_net_dev_fini(d);
			return -ENOMEM;
		}
		for (unsigned int j = 0; j < VHK_NET_RX_BATCH; j++) {
			rq->bc[j].iov = rq->iov + (size_t)j * VHK_NET_MAX_IOV;
			rq->bc[j].iov_cap = VHK_NET_MAX_IOV;
		}
		for (unsigned int j = 0; j < VHK_NET_TX_BURST; j++) {
			tq->c[j].iov = tq->iov + (size_t)j * VHK_NET_MAX_IOV;
			tq->c[j].iov_cap = VHK_NET_MAX_IOV;
		}
	}
	return 0;
}

void vhk_net_dev_fini(struct vhk_net_dev *d)
{
	for (unsigned int i = 0; i < VHK_NET_MAX_QUEUES; i++) {
		struct vhk_net_pkt *p, *n;

		for (p = d->rx[i].pend; p; p = n) {
			n = p->next;
			vhk_net_pkt_free(p);
		}
		d->rx[i].pend = d->rx[i].pend_tail = NULL;
		d->rx[i].npend = 0;
		free(d->rx[i].iov);
		d->rx[i].iov = NULL;
		free(d->tx[i].iov);
		d->tx[i].iov = NULL;
	}
	vhk_net_port_fini(&d->port);
}

