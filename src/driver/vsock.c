// SPDX-License-Identifier: MIT
/*
 * vsock.c - the userspace virtio-vsock driver's engine (VIRTIO 1.2, 5.10):
 * rx / tx / event queues over the front-end library, packet validation,
 * control packets, waiting.  Connections live in vsock_sock.c.
 *
 * rx: each buffer is one device-writable descriptor of rx_buf_size bytes
 * (header + payload), mapped FROM_DEVICE while posted and unmapped (bounce
 * mode: copied back) when used, then reposted.  tx: a packet is one
 * readable descriptor (header + payload) in a tx slot mapped TO_DEVICE
 * while in flight.  Control packets (RESPONSE, RST, CREDIT_*, SHUTDOWN)
 * generated while handling rx wait in a FIFO for a free tx slot.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vsock_priv.h"
#include "drv_post.h"

#define CTRL_MAX	65536	/* control packets queued before dropping */

uint64_t vhk_vsock_drv_features(bool packed)
{
	uint64_t f = (1ull << VHK_F_VERSION_1) | (1ull << VHK_F_EVENT_IDX) |
		     (1ull << VHK_VSOCK_F_SEQPACKET);

	if (packed)
		f |= 1ull << VHK_F_RING_PACKED;
	return f;
}

uint64_t vsk_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX :
	       vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* ---- setup ------------------------------------------------------------- */

static int read_cid(struct vhk_vsock_drv *d)
{
	struct vhk_vsock_config cfg;
	uint64_t cid;
	int ret;

	if (!vhk_has_feature(vhk_fe_protocol_features(d->fe),
			     VHK_PROTO_F_CONFIG)) {
		vhk_log(VHK_LOG_ERR, VSOCK_WHO, "back-end lacks the CONFIG "
			"protocol feature: cannot read guest_cid");
		return -ENODEV;
	}
	ret = vhk_fe_get_config(d->fe, 0, &cfg, sizeof(cfg));
	if (ret < 0) {
		vhk_log(VHK_LOG_ERR, VSOCK_WHO, "GET_CONFIG failed: %s",
			strerror(-ret));
		return ret;
	}
	cid = vhk_le64_get(cfg.guest_cid);
	/* VIRTIO 1.2, 5.10.4: 0, 1, 2 and 0xffffffff are reserved; CIDs
	 * are 32-bit (the upper bits are reserved). */
	if (cid <= VHK_VSOCK_CID_HOST || cid >= VHK_VSOCK_CID_ANY) {
		vhk_log(VHK_LOG_ERR, VSOCK_WHO, "device guest_cid %llu is "
			"reserved (VIRTIO 1.2, 5.10.4)",
			(unsigned long long)cid);
		return -EPROTO;
	}
	d->guest_cid = cid;
	return 0;
}

static int post_rx(struct vhk_vsock_drv *d, struct rxbuf *b)
{
	int ret = drv_post_one(d->fe, d->rxq, b->host, d->p.rx_buf_size,
			       VHK_DMA_FROM_DEVICE, b, &b->addr);

	if (ret < 0)
		return ret;
	b->posted = true;
	d->rx_kick_due = true;
	return 0;
}

static int post_ev(struct vhk_vsock_drv *d, unsigned int i)
{
	int ret = drv_post_one(d->fe, d->evq, d->ev_area +
			       (size_t)i * EVENT_STRIDE,
			       sizeof(struct vhk_vsock_event),
			       VHK_DMA_FROM_DEVICE, (void *)(uintptr_t)(i + 1),
			       &d->ev_addr[i]);

	if (ret < 0)
		return ret;
	d->ev_posted[i] = true;
	d->ev_kick_due = true;
	return 0;
}

static int flush_kicks(struct vhk_vsock_drv *d)
{
	int ret = 0;

	if (d->rx_kick_due) {
		d->rx_kick_due = false;
		if (vhk_drv_vq_publish(d->rxq))
			ret = vhk_fe_kick(d->fe, VHK_VSOCK_VQ_RX);
	}
	if (d->ev_kick_due && d->evq) {
		d->ev_kick_due = false;
		if (vhk_drv_vq_publish(d->evq))
			ret = vhk_fe_kick(d->fe, VHK_VSOCK_VQ_EVENT);
	}
	if (d->tx_kick_due) {
		d->tx_kick_due = false;
		if (vhk_drv_vq_publish(d->txq))
			ret = vhk_fe_kick(d->fe, VHK_VSOCK_VQ_TX);
	}
	return ret;
}

/*
 * The queues' call eventfds, edge-triggered in an epoll set of the
 * driver's own: every write the device makes wakes one epoll_wait(), so
 * the counter is never read (one system call per sleep instead of a
 * poll() and a read()).  The front-end creates them once and keeps them
 * until it is closed, after the driver.  Without the set (an error)
 * sleep_fds() polls them as before.
 */
static void watch_calls(struct vhk_vsock_drv *d)
{
	static const uint16_t qs[] = { VHK_VSOCK_VQ_RX, VHK_VSOCK_VQ_TX,
				       VHK_VSOCK_VQ_EVENT };
	unsigned int i;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return;
	for (i = 0; i < VHK_ARRAY_SIZE(qs); i++) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLET,
					 .data.u32 = qs[i] };
		int fd;

		if (qs[i] == VHK_VSOCK_VQ_EVENT && !d->evq)
			continue;
		fd = vhk_fe_call_fd(d->fe, qs[i]);
		if (fd < 0 || epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
			close(d->epfd);
			d->epfd = -1;
			return;
		}
	}
}

int vhk_vsock_drv_new(struct vhk_vsock_drv **out, struct vhk_fe *fe,
		      const struct vhk_vsock_drv_params *p)
{
	struct vhk_vsock_drv_params defp = { 0 };
	struct vhk_vsock_drv *d;
	unsigned int i;
	int ret;

	*out = NULL;
	if (!fe)
		return -EINVAL;
	if (!p)
		p = &defp;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fe = fe;
	d->p = *p;
	d->epfd = -1;
	d->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	if (!d->p.rx_buf_size)
		d->p.rx_buf_size = 4096;
	if (!d->p.tx_max)
		d->p.tx_max = 65536;
	if (!d->p.tx_slots)
		d->p.tx_slots = 16;
	if (!d->p.buf_alloc)
		d->p.buf_alloc = 256 * 1024;
	d->next_port = 49152;
	ret = -EINVAL;
	if (d->p.rx_buf_size <= VHK_VSOCK_HDR_SIZE)
		goto fail;
	d->features = vhk_fe_driver_features(fe);
	ret = -ENODEV;
	if (!vhk_has_feature(d->features, VHK_F_VERSION_1)) {
		vhk_log(VHK_LOG_ERR, VSOCK_WHO, "VERSION_1 not negotiated");
		goto fail;
	}
	d->rxq = vhk_fe_queue(fe, VHK_VSOCK_VQ_RX);
	d->txq = vhk_fe_queue(fe, VHK_VSOCK_VQ_TX);
	d->evq = vhk_fe_queue(fe, VHK_VSOCK_VQ_EVENT);
	if (!d->rxq || !d->txq) {
		vhk_log(VHK_LOG_ERR, VSOCK_WHO, "rx and tx queues needed, "
			"the front-end has %u", vhk_fe_num_queues(fe));
		goto fail;
	}
	ret = read_cid(d);
	if (ret < 0)
		goto fail;

	ret = -ENOMEM;
	d->nrx = d->p.rx_bufs ? d->p.rx_bufs : vhk_drv_vq_size(d->rxq);
	if (d->nrx > vhk_drv_vq_size(d->rxq))
		d->nrx = vhk_drv_vq_size(d->rxq);
	if (d->p.tx_slots > vhk_drv_vq_size(d->txq))
		d->p.tx_slots = vhk_drv_vq_size(d->txq);
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
		d->tx[i].host = vhk_fe_alloc(fe, VHK_VSOCK_HDR_SIZE +
					     d->p.tx_max);
		if (!d->tx[i].host)
			goto fail;
		d->tx_free[d->ntx_free++] = d->p.tx_slots - 1 - i;
	}
	if (d->evq) {
		d->ev_area = vhk_fe_alloc(fe, EVENT_BUFS * EVENT_STRIDE);
		if (!d->ev_area)
			goto fail;
	}
	for (i = 0; i < d->nrx; i++) {
		ret = post_rx(d, &d->rx[i]);
		if (ret < 0)
			goto fail;
	}
	for (i = 0; d->evq && i < EVENT_BUFS; i++) {
		ret = post_ev(d, i);
		if (ret < 0)
			goto fail;
	}
	ret = flush_kicks(d);
	if (ret < 0)
		goto fail;
	watch_calls(d);
	*out = d;
	return 0;
fail:
	vhk_vsock_drv_free(d);
	return ret;
}

void vhk_vsock_drv_free(struct vhk_vsock_drv *d)
{
	unsigned int i;

	if (!d)
		return;
	vsk_conns_free(d);
	/* The device is stopped or reset (contract): end every mapping. */
	if (d->rx)
		for (i = 0; i < d->nrx; i++) {
			if (d->rx[i].posted)
				vhk_fe_dma_unmap(d->fe, d->rx[i].host,
						 d->p.rx_buf_size,
						 VHK_DMA_FROM_DEVICE,
						 d->rx[i].addr);
			vhk_fe_free(d->fe, d->rx[i].host);
		}
	if (d->tx)
		for (i = 0; i < d->p.tx_slots; i++) {
			if (d->tx[i].maplen)
				vhk_fe_dma_unmap(d->fe, d->tx[i].host,
						 d->tx[i].maplen,
						 VHK_DMA_TO_DEVICE, d->tx[i].addr);
			vhk_fe_free(d->fe, d->tx[i].host);
		}
	for (i = 0; d->ev_area && i < EVENT_BUFS; i++)
		if (d->ev_posted[i])
			vhk_fe_dma_unmap(d->fe, d->ev_area + (size_t)i * EVENT_STRIDE,
					 sizeof(struct vhk_vsock_event),
					 VHK_DMA_FROM_DEVICE, d->ev_addr[i]);
	vhk_fe_free(d->fe, d->ev_area);
	if (d->epfd >= 0)
		close(d->epfd);
	free(d->rx);
	free(d->tx);
	free(d->tx_free);
	free(d->ctrl);
	free(d);
}

uint64_t vhk_vsock_drv_guest_cid(const struct vhk_vsock_drv *d)
{
	return d->guest_cid;
}

bool vhk_vsock_drv_has_events(const struct vhk_vsock_drv *d)
{
	return d->evq != NULL;
}

void vhk_vsock_drv_stats(const struct vhk_vsock_drv *d,
			 struct vhk_vsock_drv_stats *st)
{
	*st = d->st;
}

/* ---- tx ---------------------------------------------------------------- */

int vsk_try_send_rw(struct vhk_vsock_drv *d, struct vhk_vsock_hdr *h,
		    const void *payload, uint32_t len)
{
	struct txslot *s;
	unsigned int si;
	int ret;

	if (d->broken)
		return -EIO;
	if (len > d->p.tx_max)
		return -EMSGSIZE;
	if (!d->ntx_free)
		return -EAGAIN;
	si = d->tx_free[d->ntx_free - 1];
	s = &d->tx[si];
	memcpy(s->host, h, VHK_VSOCK_HDR_SIZE);
	if (len)
		memcpy(s->host + VHK_VSOCK_HDR_SIZE, payload, len);
	ret = drv_post_one(d->fe, d->txq, s->host, VHK_VSOCK_HDR_SIZE + len,
			   VHK_DMA_TO_DEVICE, s, &s->addr);
	if (ret < 0)
		return ret == -ENOSPC ? -EAGAIN : ret;
	s->maplen = VHK_VSOCK_HDR_SIZE + len;
	d->ntx_free--;
	d->st.tx_packets++;
	if (vhk_le16_get(h->op) == VHK_VSOCK_OP_RW)
		d->st.tx_bytes += len;
	d->tx_kick_due = true;
	return 0;
}

static int flush_ctrl(struct vhk_vsock_drv *d)
{
	int ret;

	while (d->nctrl) {
		ret = vsk_try_send_rw(d, &d->ctrl[d->ctrl_head], NULL, 0);
		if (ret == -EAGAIN)
			break;
		if (ret < 0)
			return ret;
		d->ctrl_head = (d->ctrl_head + 1) % d->ctrl_cap;
		d->nctrl--;
	}
	return 0;
}

int vsk_send_ctrl(struct vhk_vsock_drv *d, const struct vhk_vsock_hdr *h)
{
	uint16_t op = vhk_le16_get(h->op);

	if (op == VHK_VSOCK_OP_RST)
		d->st.rst_tx++;
	else if (op == VHK_VSOCK_OP_CREDIT_UPDATE)
		d->st.credit_updates_tx++;
	else if (op == VHK_VSOCK_OP_CREDIT_REQUEST)
		d->st.credit_requests_tx++;
	if (d->nctrl == d->ctrl_cap) {
		unsigned int cap = d->ctrl_cap ? d->ctrl_cap * 2 : 64, i;
		struct vhk_vsock_hdr *n;

		if (cap > CTRL_MAX) {
			d->st.dropped++;
			return -ENOBUFS;
		}
		n = malloc(cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (i = 0; i < d->nctrl; i++)
			n[i] = d->ctrl[(d->ctrl_head + i) % d->ctrl_cap];
		free(d->ctrl);
		d->ctrl = n;
		d->ctrl_cap = cap;
		d->ctrl_head = 0;
	}
	d->ctrl[(d->ctrl_head + d->nctrl) % d->ctrl_cap] = *h;
	d->nctrl++;
	return 0;
}

/* ---- rx, events, completions ------------------------------------------ */

static void handle_rx(struct vhk_vsock_drv *d, struct rxbuf *b,
		      uint32_t used)
{
	struct vhk_vsock_hdr h;
	uint32_t len;

	if (used == 0) {
		/* Given back unused (nothing written): legal, just reposted. */
		d->st.rx_unused++;
		return;
	}
	if (used < VHK_VSOCK_HDR_SIZE) {
		vhk_log_ratelimited(&d->rl, VHK_LOG_WARN, VSOCK_WHO,
				    "rx used length %u < header (44): dropped",
				    used);
		d->st.dropped++;
		return;
	}
	/* Copy the header once, then validate the copy. */
	memcpy(&h, b->host, sizeof(h));
	len = vhk_le32_get(h.len);
	if (len > used - VHK_VSOCK_HDR_SIZE) {
		vhk_log_ratelimited(&d->rl, VHK_LOG_WARN, VSOCK_WHO,
				    "rx header len %u beyond the %u bytes "
				    "written: dropped", len,
				    used - VHK_VSOCK_HDR_SIZE);
		d->st.dropped++;
		return;
	}
	/* VIRTIO 1.2, 5.10.6.1: dst_cid is ours, CIDs are 32-bit. */
	if (vhk_le64_get(h.dst_cid) != d->guest_cid ||
	    vhk_le64_get(h.src_cid) > UINT32_MAX) {
		d->st.dropped++;
		return;
	}
	d->st.rx_packets++;
	vsk_handle_packet(d, &h, b->host + VHK_VSOCK_HDR_SIZE, len);
}

static void handle_event(struct vhk_vsock_drv *d, unsigned int i,
			 uint32_t used)
{
	struct vhk_vsock_event ev;

	if (used < sizeof(ev)) {
		d->st.dropped++;
		return;
	}
	memcpy(&ev, d->ev_area + (size_t)i * EVENT_STRIDE, sizeof(ev));
	if (vhk_le32_get(ev.id) != VHK_VSOCK_EVENT_TRANSPORT_RESET) {
		d->st.dropped++;	/* VIRTIO 1.2, 5.10.6.7: unknown id */
		return;
	}
	/*
	 * VIRTIO 1.2, 5.10.6.7: reset every socket, re-read guest_cid.
	 * A connection still waiting for its RESPONSE is spared: the event
	 * may predate its REQUEST (a device posts one when the event queue
	 * starts); if the REQUEST was lost instead, the connect times out.
	 */
	d->st.transport_resets++;
	vhk_log(VHK_LOG_INFO, VSOCK_WHO, "TRANSPORT_RESET: every connection "
		"reset");
	vsk_reset_all(d, -ECONNRESET, true);
	if (read_cid(d) < 0)
		d->broken = true;
}

static int broken(struct vhk_vsock_drv *d, const char *q, int ret)
{
	vhk_log(VHK_LOG_ERR, VSOCK_WHO, "%s queue: device wrote a corrupt "
		"used ring (%s)", q, strerror(-ret));
	d->broken = true;
	return -EPROTO;
}

/* Handle every used buffer; returns how many, or -errno. */
static int service(struct vhk_vsock_drv *d)
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
	if (ret < 0)
		return broken(d, "tx", ret);
	/*
	 * Events before rx: a TRANSPORT_RESET used together with a
	 * RESPONSE was posted first (the device answers on fresh state).
	 */
	while (d->evq && (ret = vhk_drv_vq_get_used(d->evq, &tok, &len)) > 0) {
		unsigned int i = (unsigned int)((uintptr_t)tok - 1);

		d->ev_posted[i] = false;
		ret = vhk_fe_dma_unmap(d->fe, d->ev_area + (size_t)i * EVENT_STRIDE,
				       sizeof(struct vhk_vsock_event),
				       VHK_DMA_FROM_DEVICE, d->ev_addr[i]);
		if (ret == 0)
			handle_event(d, i, len);
		ret = post_ev(d, i);
		if (ret < 0)
			return ret;
		n++;
	}
	if (ret < 0)
		return broken(d, "event", ret);
	while ((ret = vhk_drv_vq_get_used(d->rxq, &tok, &len)) > 0) {
		struct rxbuf *b = tok;

		b->posted = false;
		ret = vhk_fe_dma_unmap(d->fe, b->host, d->p.rx_buf_size,
				       VHK_DMA_FROM_DEVICE, b->addr);
		if (ret == 0)
			handle_rx(d, b, len);
		ret = post_rx(d, b);
		if (ret < 0)
			return ret;
		n++;
	}
	if (ret < 0)
		return broken(d, "rx", ret);
	vsk_housekeeping(d);
	ret = flush_ctrl(d);
	if (ret < 0)
		return ret;
	ret = flush_kicks(d);
	if (ret < 0)
		return ret;
	return n;
}

/*
 * Ask for the notifications a sleeper needs.  tx completions only matter
 * when a packet waits for a slot (all in flight, or control packets
 * queued): otherwise they are collected on the next pass and a call per
 * sent packet would only wake us (and make the device signal) for nothing.
 */
static bool arm(struct vhk_vsock_drv *d)
{
	bool more = vhk_drv_vq_enable_cb(d->rxq, true);

	if (!d->ntx_free || d->nctrl)
		more |= vhk_drv_vq_enable_cb(d->txq, true);
	else
		(void)vhk_drv_vq_enable_cb(d->txq, false);
	if (d->evq)
		more |= vhk_drv_vq_enable_cb(d->evq, true);
	return more;
}

/*
 * Sleep on the call eventfds and the back-end channel.  A call eventfd
 * that woke us is emptied on the next call, before arming: the used
 * buffers are handled first (one system call less between the device's
 * notification and the caller's data), and a signal that comes after
 * the read still wakes the poll below.
 */
static int sleep_fds(struct vhk_vsock_drv *d, int timeout_ms)
{
	struct pollfd pfd[4];
	uint16_t qidx[4] = { 0 };
	unsigned int n = 0, i;
	int chan = vhk_fe_backend_channel_fd(d->fe), ret;

	for (i = 0; i < d->nundrained; i++) {
		int fd = vhk_fe_call_fd(d->fe, d->undrained[i]);

		if (fd >= 0)
			drv_drain_eventfd(fd);
	}
	d->nundrained = 0;
	if (arm(d))
		return 1;
	if (d->epfd >= 0 && chan < 0) {
		struct epoll_event ev[3];

		/* A wake-up whose used buffers an earlier pass already
		 * handled only costs one empty service() pass. */
		ret = epoll_wait(d->epfd, ev, VHK_ARRAY_SIZE(ev), timeout_ms);
		if (ret < 0)
			return errno == EINTR ? 0 : -errno;
		return !vhk_fe_connected(d->fe) ? -ECONNRESET : 1;
	}
	qidx[n] = VHK_VSOCK_VQ_RX;
	pfd[n++] = (struct pollfd){ vhk_fe_call_fd(d->fe, VHK_VSOCK_VQ_RX), POLLIN, 0 };
	qidx[n] = VHK_VSOCK_VQ_TX;
	pfd[n++] = (struct pollfd){ vhk_fe_call_fd(d->fe, VHK_VSOCK_VQ_TX), POLLIN, 0 };
	if (d->evq) {
		qidx[n] = VHK_VSOCK_VQ_EVENT;
		pfd[n++] = (struct pollfd){ vhk_fe_call_fd(d->fe, VHK_VSOCK_VQ_EVENT),
					    POLLIN, 0 };
	}
	if (chan >= 0)
		pfd[n++] = (struct pollfd){ chan, POLLIN, 0 };
	ret = poll(pfd, n, timeout_ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (pfd[i].fd == chan) {
			ret = vhk_fe_poll(d->fe, 0);
			if (ret < 0 && ret != -EAGAIN)
				return ret;
		} else if (d->nundrained < VHK_ARRAY_SIZE(d->undrained)) {
			d->undrained[d->nundrained++] = qidx[i];
		} else {
			drv_drain_eventfd(pfd[i].fd);
		}
	}
	return !vhk_fe_connected(d->fe) ? -ECONNRESET : 1;
}

/* The soonest connection linger deadline, as a poll timeout cap. */
static int cap_timeout(struct vhk_vsock_drv *d, int timeout_ms)
{
	unsigned int i;

	for (i = 0; i < d->nconns; i++)
		if (d->conns[i]->state == CONN_CLOSING)
			return timeout_ms < 0 || timeout_ms > 100 ? 100 : timeout_ms;
	return timeout_ms;
}

/*
 * Spin on the rings until @end (vhk_now_ns() time): returns what service()
 * returned once it found work, 0 when @end passed, or -errno.  Empty
 * passes after the first few yield the CPU, so that a peer sharing the
 * core (the host program, the daemon) gets to run.
 */
static int spin(struct vhk_vsock_drv *d, uint64_t end)
{
	unsigned int spins = 0;
	int n;

	for (;;) {
		n = service(d);
		if (n != 0)
			return n;
		if ((++spins & 15) == 0) {
			n = drv_poll_chores(d->fe, end);
			if (n <= 0)
				return n;
		}
		if (spins > 16)
			sched_yield();
	}
}

int vsk_engine(struct vhk_vsock_drv *d, int timeout_ms)
{
	int n, ret;

	n = service(d);
	if (n != 0 || timeout_ms == 0)
		return n;
	if (!vhk_fe_connected(d->fe))
		return -ECONNRESET;
	timeout_ms = cap_timeout(d, timeout_ms);
	if (d->p.busy_poll)
		return spin(d, vsk_deadline(timeout_ms));
	if (d->p.poll_us) {
		/* The spin counts against the caller's timeout. */
		uint64_t dl = vsk_deadline(timeout_ms), now = vhk_now_ns();
		uint64_t end = now + (uint64_t)d->p.poll_us * 1000u;

		n = spin(d, VHK_MIN(end, dl));
		if (n != 0 || end >= dl)
			return n;
		if (timeout_ms > 0) {
			now = vhk_now_ns();
			timeout_ms = now >= dl ? 0 :
				     (int)((dl - now + 999999u) / 1000000u);
		}
	}
	ret = sleep_fds(d, timeout_ms);
	if (ret < 0)
		return ret;
	return service(d);
}

int vhk_vsock_drv_poll(struct vhk_vsock_drv *d, int timeout_ms)
{
	return vsk_engine(d, timeout_ms);
}

int vhk_vsock_drv_resync(struct vhk_vsock_drv *d)
{
	/* The restarted back-end knows none of our connections. */
	vsk_reset_all(d, -ECONNRESET, false);
	d->nctrl = 0;
	vhk_fe_kick(d->fe, VHK_VSOCK_VQ_RX);
	vhk_fe_kick(d->fe, VHK_VSOCK_VQ_TX);
	if (d->evq)
		vhk_fe_kick(d->fe, VHK_VSOCK_VQ_EVENT);
	return 0;
}
