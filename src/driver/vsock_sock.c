// SPDX-License-Identifier: MIT
/*
 * vsock_sock.c - connections of the userspace vsock driver: the state
 * machine (VIRTIO 1.2, 5.10.6.4 - 5.10.6.6), credit (5.10.6.3) and the
 * socket calls of vhostkit/vsock_driver.h.
 *
 * Receive side: each connection has a ring of buf_alloc bytes; buf_alloc
 * is the credit announced in every packet, fwd_cnt counts what the user
 * read.  An RW that does not fit is a credit violation: the connection is
 * reset (RST).  While a STREAM recv() waits (or has room left after taking
 * what rbuf held) the payload goes straight into its buffer instead and
 * counts as read at once: one copy per byte, not two.  A CREDIT_UPDATE goes out when the user has freed a quarter
 * of the buffer since the peer last heard of fwd_cnt, or when the peer asks
 * (CREDIT_REQUEST).  Send side: never more than
 * vhk_vsock_peer_free() bytes in flight; when the credit is exhausted we
 * wait, asking once per stall with CREDIT_REQUEST.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "vsock_priv.h"

#define CREDIT_REQUEST_AFTER_NS	(50ull * 1000000ull)
#define MAX_SEQ_MSGS		65536	/* unread SEQPACKET messages */

/* ---- helpers ----------------------------------------------------------- */

void vsk_fill_hdr(const struct vhk_vsock_conn *c, struct vhk_vsock_hdr *h,
		  uint16_t op, uint32_t flags, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = vhk_le64_make(c->d->guest_cid);
	h->dst_cid = vhk_le64_make(c->pcid);
	h->src_port = vhk_le32_make(c->lport);
	h->dst_port = vhk_le32_make(c->pport);
	h->len = vhk_le32_make(len);
	h->type = vhk_le16_make(c->type);
	h->op = vhk_le16_make(op);
	h->flags = vhk_le32_make(flags);
	h->buf_alloc = vhk_le32_make(c->rcap);
	h->fwd_cnt = vhk_le32_make(c->fwd_cnt);
}

static void ctrl(struct vhk_vsock_conn *c, uint16_t op, uint32_t flags)
{
	struct vhk_vsock_hdr h;

	vsk_fill_hdr(c, &h, op, flags, 0);
	if (vsk_send_ctrl(c->d, &h) == 0)
		c->fwd_sent = c->fwd_cnt;
}

/* RST to the sender of @in that has no connection (never for an RST). */
static void rst_reply(struct vhk_vsock_drv *d, const struct vhk_vsock_hdr *in)
{
	struct vhk_vsock_hdr h;

	if (vhk_le16_get(in->op) == VHK_VSOCK_OP_RST)
		return;
	memset(&h, 0, sizeof(h));
	h.src_cid = vhk_le64_make(d->guest_cid);
	h.dst_cid = in->src_cid;
	h.src_port = in->dst_port;
	h.dst_port = in->src_port;
	h.type = in->type;
	h.op = vhk_le16_make(VHK_VSOCK_OP_RST);
	vsk_send_ctrl(d, &h);
}

static int add_conn(struct vhk_vsock_drv *d, struct vhk_vsock_conn *c)
{
	if (d->nconns == d->conns_cap) {
		unsigned int cap = d->conns_cap ? d->conns_cap * 2 : 16;
		struct vhk_vsock_conn **n = realloc(d->conns, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->conns = n;
		d->conns_cap = cap;
	}
	d->conns[d->nconns++] = c;
	return 0;
}

static struct vhk_vsock_conn *new_conn(struct vhk_vsock_drv *d, uint16_t type,
				       uint32_t lport, uint64_t pcid,
				       uint32_t pport)
{
	struct vhk_vsock_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->d = d;
	c->type = type;
	c->lport = lport;
	c->pport = pport;
	c->pcid = pcid;
	c->rcap = d->p.buf_alloc;
	c->rbuf = malloc(c->rcap);
	if (type == VHK_VSOCK_TYPE_SEQPACKET) {
		c->msg_cap = 64;
		c->msgs = calloc(c->msg_cap, sizeof(*c->msgs));
	}
	if (!c->rbuf || (type == VHK_VSOCK_TYPE_SEQPACKET && !c->msgs) ||
	    add_conn(d, c) < 0) {
		free(c->rbuf);
		free(c->msgs);
		free(c);
		return NULL;
	}
	return c;
}

static void free_conn(struct vhk_vsock_conn *c)
{
	free(c->rbuf);
	free(c->msgs);
	free(c);
}

static struct vhk_vsock_conn *find_conn(struct vhk_vsock_drv *d,
					uint32_t lport, uint64_t pcid,
					uint32_t pport)
{
	unsigned int i;

	for (i = 0; i < d->nconns; i++) {
		struct vhk_vsock_conn *c = d->conns[i];

		if (c->lport == lport && c->pport == pport && c->pcid == pcid &&
		    c->state != CONN_DEAD)
			return c;
	}
	return NULL;
}

static struct listener *find_listener(struct vhk_vsock_drv *d, uint32_t port)
{
	unsigned int i;

	for (i = 0; i < d->nlst; i++)
		if (d->lst[i].port == port)
			return &d->lst[i];
	return NULL;
}

/* The connection is over: no packets in or out any more. */
static void kill_conn(struct vhk_vsock_conn *c, int err)
{
	if (c->state == CONN_DEAD)
		return;
	c->state = CONN_DEAD;
	if (!c->err)
		c->err = err;
}

static void reset_conn(struct vhk_vsock_conn *c, int err)
{
	if (c->state != CONN_DEAD)
		ctrl(c, VHK_VSOCK_OP_RST, 0);
	kill_conn(c, err);
}

void vsk_reset_all(struct vhk_vsock_drv *d, int err, bool spare_connecting)
{
	unsigned int i;

	for (i = 0; i < d->nconns; i++)
		if (!spare_connecting ||
		    d->conns[i]->state != CONN_CONNECTING)
			kill_conn(d->conns[i], err);
	vsk_housekeeping(d);
}

/* Free connections nobody can use any more; time out lingering closes. */
void vsk_housekeeping(struct vhk_vsock_drv *d)
{
	unsigned int i = 0;
	uint64_t now = 0;

	while (i < d->nconns) {
		struct vhk_vsock_conn *c = d->conns[i];

		if (c->state == CONN_CLOSING) {
			if (!now)
				now = vhk_now_ns();
			if (now >= c->linger_deadline)
				reset_conn(c, -ETIMEDOUT);
		}
		if (c->state == CONN_DEAD && c->user_closed) {
			d->conns[i] = d->conns[--d->nconns];
			free_conn(c);
			continue;
		}
		if (c->state == CONN_ESTABLISHED && c->credit_update_due) {
			c->credit_update_due = false;
			ctrl(c, VHK_VSOCK_OP_CREDIT_UPDATE, 0);
		}
		i++;
	}
}

void vsk_conns_free(struct vhk_vsock_drv *d)
{
	unsigned int i;

	for (i = 0; i < d->nconns; i++)
		free_conn(d->conns[i]);
	free(d->conns);
	free(d->lst);
	d->conns = NULL;
	d->lst = NULL;
	d->nconns = d->nlst = 0;
}

/*
 * The user read @n bytes from rbuf and @direct bytes that never went
 * there (rx_payload): the space is free again.
 */
static void consumed(struct vhk_vsock_conn *c, uint32_t n, uint32_t direct)
{
	c->rhead = (c->rhead + n) % c->rcap;
	c->rlen -= n;
	c->fwd_cnt += n + direct;
	/* VIRTIO 1.2, 5.10.6.3: tell the peer about the space we freed. */
	if (c->state == CONN_ESTABLISHED &&
	    c->fwd_cnt - c->fwd_sent >= c->rcap / 4)
		c->credit_update_due = true;
}

/* ---- incoming packets --------------------------------------------------- */

static void rx_payload(struct vhk_vsock_conn *c, const struct vhk_vsock_hdr *h,
		       const uint8_t *p, uint32_t len)
{
	struct vhk_vsock_drv *d = c->d;
	uint32_t used = c->rx_cnt - c->fwd_cnt, tail, first;

	/* VIRTIO 1.2, 5.10.6.3: the sender MUST NOT exceed our credit. */
	if (len > c->rcap - used || c->rlen + len > c->rcap) {
		d->st.credit_violations++;
		vhk_log_ratelimited(&d->rl, VHK_LOG_WARN, VSOCK_WHO,
				    "port %u: RW of %u bytes beyond the %u "
				    "bytes of credit: connection reset",
				    c->lport, len, c->rcap - used);
		reset_conn(c, -EPROTO);
		return;
	}
	if (c->peer_shut & VHK_VSOCK_SHUTDOWN_SEND) {
		d->st.dropped++;	/* data after the peer's SHUTDOWN SEND */
		return;
	}
	if (c->direct && !c->rlen && c->type == VHK_VSOCK_TYPE_STREAM) {
		/* A recv() is waiting and nothing older is queued: straight
		 * into its buffer, read at once (no copy through rbuf). */
		uint32_t k = VHK_MIN(len, c->direct_room);

		memcpy(c->direct + c->direct_got, p, k);
		c->direct_got += k;
		c->direct_room -= k;
		if (!c->direct_room)
			c->direct = NULL;
		c->rx_cnt += k;
		d->st.rx_bytes += k;
		consumed(c, 0, k);
		p += k;
		len -= k;
		if (!len)
			return;
	}
	tail = (c->rhead + c->rlen) % c->rcap;
	first = VHK_MIN(len, c->rcap - tail);
	memcpy(c->rbuf + tail, p, first);
	memcpy(c->rbuf, p + first, len - first);
	c->rlen += len;
	c->rx_cnt += len;
	d->st.rx_bytes += len;
	if (c->type != VHK_VSOCK_TYPE_SEQPACKET)
		return;
	c->msg_partial += len;
	if (!(vhk_le32_get(h->flags) & VHK_VSOCK_SEQ_EOM))
		return;
	if (c->nmsgs == c->msg_cap) {
		unsigned int cap = c->msg_cap * 2, i;

		/* Empty messages cost no credit: bound them separately. */
		if (cap > MAX_SEQ_MSGS) {
			d->st.credit_violations++;
			reset_conn(c, -EPROTO);
			return;
		}
		uint32_t *n = malloc(cap * sizeof(*n));

		if (!n) {
			reset_conn(c, -ENOMEM);
			return;
		}
		for (i = 0; i < c->nmsgs; i++)
			n[i] = c->msgs[(c->msg_head + i) % c->msg_cap];
		free(c->msgs);
		c->msgs = n;
		c->msg_cap = cap;
		c->msg_head = 0;
	}
	c->msgs[(c->msg_head + c->nmsgs) % c->msg_cap] = c->msg_partial;
	c->nmsgs++;
	c->msg_partial = 0;
}

static void handle_request(struct vhk_vsock_drv *d,
			   const struct vhk_vsock_hdr *h)
{
	struct listener *l = find_listener(d, vhk_le32_get(h->dst_port));
	uint16_t type = vhk_le16_get(h->type);
	struct vhk_vsock_conn *c;
	unsigned int i, waiting = 0;

	if (!l || l->type != type) {
		rst_reply(d, h);	/* nobody listens: VIRTIO 1.2, 5.10.6.4 */
		return;
	}
	for (i = 0; i < d->nconns; i++)
		waiting += d->conns[i]->in_backlog &&
			   d->conns[i]->lport == l->port;
	if (waiting >= l->backlog) {
		rst_reply(d, h);
		return;
	}
	c = new_conn(d, type, l->port, vhk_le64_get(h->src_cid),
		     vhk_le32_get(h->src_port));
	if (!c) {
		rst_reply(d, h);
		return;
	}
	c->peer_buf_alloc = vhk_le32_get(h->buf_alloc);
	c->peer_fwd_cnt = vhk_le32_get(h->fwd_cnt);
	c->state = CONN_ESTABLISHED;
	c->in_backlog = true;
	ctrl(c, VHK_VSOCK_OP_RESPONSE, 0);
}

void vsk_handle_packet(struct vhk_vsock_drv *d, const struct vhk_vsock_hdr *h,
		       const uint8_t *payload, uint32_t len)
{
	uint16_t op = vhk_le16_get(h->op), type = vhk_le16_get(h->type);
	uint32_t flags = vhk_le32_get(h->flags);
	struct vhk_vsock_conn *c;

	if (type != VHK_VSOCK_TYPE_STREAM &&
	    !(type == VHK_VSOCK_TYPE_SEQPACKET &&
	      vhk_has_feature(d->features, VHK_VSOCK_F_SEQPACKET))) {
		d->st.dropped++;
		rst_reply(d, h);
		return;
	}
	c = find_conn(d, vhk_le32_get(h->dst_port), vhk_le64_get(h->src_cid),
		      vhk_le32_get(h->src_port));
	if (!c) {
		if (op == VHK_VSOCK_OP_REQUEST)
			handle_request(d, h);
		else
			rst_reply(d, h);
		return;
	}
	if (op == VHK_VSOCK_OP_RST) {
		d->st.rst_rx++;
		if (c->state == CONN_CONNECTING) {
			vhk_log(VHK_LOG_DEBUG, VSOCK_WHO, "port %u: RST for "
				"our REQUEST to %llu:%u", c->lport,
				(unsigned long long)c->pcid, c->pport);
			kill_conn(c, -ECONNRESET);
		} else {
			/* The peer is gone: what was received stays readable
			 * and then reads as EOF (as Linux does). */
			c->peer_shut = VHK_VSOCK_SHUTDOWN_MASK;
			kill_conn(c, 0);
		}
		return;
	}
	if (type != c->type) {
		reset_conn(c, -EPROTO);
		return;
	}
	c->peer_buf_alloc = vhk_le32_get(h->buf_alloc);
	c->peer_fwd_cnt = vhk_le32_get(h->fwd_cnt);
	if (c->state == CONN_CONNECTING) {
		if (op == VHK_VSOCK_OP_RESPONSE)
			c->state = CONN_ESTABLISHED;
		else
			reset_conn(c, -EPROTO);
		return;
	}
	switch (op) {
	case VHK_VSOCK_OP_RW:
		if (c->state == CONN_CLOSING)
			break;		/* we closed: nobody reads it */
		rx_payload(c, h, payload, len);
		break;
	case VHK_VSOCK_OP_CREDIT_UPDATE:
		c->credit_requested = false;
		break;
	case VHK_VSOCK_OP_CREDIT_REQUEST:
		c->credit_update_due = true;
		break;
	case VHK_VSOCK_OP_SHUTDOWN:
		c->peer_shut |= flags & VHK_VSOCK_SHUTDOWN_MASK;
		/* Both sides closed after our close: the exchange is done. */
		if (c->state == CONN_CLOSING &&
		    c->peer_shut == VHK_VSOCK_SHUTDOWN_MASK)
			reset_conn(c, 0);
		break;
	default:
		/* REQUEST / RESPONSE on an established connection, or an op
		 * out of range (VIRTIO 1.2, 5.10.6): reset it. */
		reset_conn(c, -EPROTO);
	}
}

/* ---- the socket calls ------------------------------------------------- */

static bool port_used(struct vhk_vsock_drv *d, uint32_t port)
{
	unsigned int i;

	if (find_listener(d, port))
		return true;
	for (i = 0; i < d->nconns; i++)
		if (d->conns[i]->lport == port)
			return true;
	return false;
}

int vhk_vsock_connect(struct vhk_vsock_drv *d, uint64_t cid, uint32_t port,
		      uint16_t type, int timeout_ms,
		      struct vhk_vsock_conn **out)
{
	uint64_t deadline = vsk_deadline(timeout_ms);
	struct vhk_vsock_conn *c;
	uint32_t lport;
	unsigned int tries = 0;
	int ret;

	*out = NULL;
	if (type == VHK_VSOCK_TYPE_SEQPACKET &&
	    !vhk_has_feature(d->features, VHK_VSOCK_F_SEQPACKET))
		return -EOPNOTSUPP;
	if (type != VHK_VSOCK_TYPE_STREAM && type != VHK_VSOCK_TYPE_SEQPACKET)
		return -EINVAL;
	do {
		lport = d->next_port++;
		if (d->next_port == 0 || d->next_port >= VHK_VSOCK_PORT_ANY)
			d->next_port = 49152;
		if (++tries > 65536)
			return -EADDRNOTAVAIL;
	} while (port_used(d, lport));
	c = new_conn(d, type, lport, cid, port);
	if (!c)
		return -ENOMEM;
	c->state = CONN_CONNECTING;
	ctrl(c, VHK_VSOCK_OP_REQUEST, 0);
	while (c->state == CONN_CONNECTING) {
		uint64_t now = vhk_now_ns();

		if (now >= deadline) {
			reset_conn(c, -ETIMEDOUT);
			break;
		}
		ret = vsk_engine(d, deadline == UINT64_MAX ? -1 :
				 (int)((deadline - now) / 1000000u) + 1);
		if (ret < 0) {
			vhk_log(VHK_LOG_DEBUG, VSOCK_WHO, "port %u: engine "
				"failed while connecting: %s", lport,
				strerror(-ret));
			kill_conn(c, ret);
			break;
		}
	}
	if (c->state != CONN_ESTABLISHED) {
		ret = c->err ? c->err : -ECONNRESET;
		c->user_closed = true;
		kill_conn(c, ret);
		vsk_housekeeping(d);
		return ret;
	}
	*out = c;
	return 0;
}

int vhk_vsock_listen(struct vhk_vsock_drv *d, uint32_t port, uint16_t type,
		     unsigned int backlog)
{
	struct listener *n;

	if ((type != VHK_VSOCK_TYPE_STREAM && type != VHK_VSOCK_TYPE_SEQPACKET) ||
	    !backlog || port == VHK_VSOCK_PORT_ANY)
		return -EINVAL;
	if (find_listener(d, port))
		return -EADDRINUSE;
	n = realloc(d->lst, (d->nlst + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->lst = n;
	d->lst[d->nlst++] = (struct listener){ port, type, backlog };
	return 0;
}

int vhk_vsock_accept(struct vhk_vsock_drv *d, uint32_t port, int timeout_ms,
		     struct vhk_vsock_conn **out)
{
	uint64_t deadline = vsk_deadline(timeout_ms);
	unsigned int i;
	int ret;

	*out = NULL;
	if (!find_listener(d, port))
		return -EINVAL;
	for (;;) {
		uint64_t now;

		for (i = 0; i < d->nconns; i++) {
			struct vhk_vsock_conn *c = d->conns[i];

			if (c->in_backlog && c->lport == port) {
				c->in_backlog = false;
				*out = c;
				return 0;
			}
		}
		now = vhk_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = vsk_engine(d, deadline == UINT64_MAX ? -1 :
				 (int)((deadline - now) / 1000000u) + 1);
		if (ret < 0)
			return ret;
	}
}

/* Wait for the engine once; returns 0 or -errno (-ETIMEDOUT at @deadline). */
static int wait_more(struct vhk_vsock_drv *d, uint64_t deadline)
{
	uint64_t now = vhk_now_ns();
	int ret;

	if (now >= deadline)
		return -ETIMEDOUT;
	ret = vsk_engine(d, deadline == UINT64_MAX ? -1 :
			 (int)((deadline - now) / 1000000u) + 1);
	return ret < 0 ? ret : 0;
}

static int send_err(const struct vhk_vsock_conn *c)
{
	if (c->err)
		return c->err;
	if (c->state != CONN_ESTABLISHED)
		return -ENOTCONN;
	if ((c->our_shut & VHK_VSOCK_SHUTDOWN_SEND) ||
	    (c->peer_shut & VHK_VSOCK_SHUTDOWN_RCV))
		return -EPIPE;
	return 0;
}

/* Queue one RW packet of @len bytes, waiting for credit and a slot. */
static int send_packet(struct vhk_vsock_conn *c, const uint8_t *p,
		       uint32_t len, uint32_t flags, uint64_t deadline,
		       bool partial_ok, uint32_t *sent)
{
	struct vhk_vsock_drv *d = c->d;
	uint64_t stall = 0;
	int ret;

	for (;;) {
		uint32_t credit, n;
		struct vhk_vsock_hdr h;

		ret = send_err(c);
		if (ret < 0)
			return ret;
		credit = vhk_vsock_peer_free(c->peer_buf_alloc, c->peer_fwd_cnt,
					     c->tx_cnt);
		n = VHK_MIN(len, credit);
		if (n == len || (partial_ok && n > 0)) {
			vsk_fill_hdr(c, &h, VHK_VSOCK_OP_RW,
				     n == len ? flags : 0, n);
			ret = vsk_try_send_rw(d, &h, p, n);
			if (ret == 0) {
				c->tx_cnt += n;
				c->fwd_sent = c->fwd_cnt;
				c->credit_requested = false;
				*sent = n;
				return 0;
			}
			if (ret != -EAGAIN)
				return ret;
		} else if (!c->credit_requested) {
			/* VIRTIO 1.2, 5.10.6.3: ask, once per stall. */
			uint64_t now = vhk_now_ns();

			if (!stall)
				stall = now;
			else if (now - stall >= CREDIT_REQUEST_AFTER_NS) {
				ctrl(c, VHK_VSOCK_OP_CREDIT_REQUEST, 0);
				c->credit_requested = true;
			}
		}
		ret = wait_more(d, deadline);
		if (ret < 0)
			return ret;
	}
}

ssize_t vhk_vsock_send(struct vhk_vsock_conn *c, const void *buf, size_t len,
		       int timeout_ms)
{
	struct vhk_vsock_drv *d = c->d;
	uint64_t deadline = vsk_deadline(timeout_ms);
	const uint8_t *p = buf;
	size_t done = 0;
	uint32_t n = 0;
	int ret;

	if (c->type == VHK_VSOCK_TYPE_SEQPACKET) {
		/* A message is packets of at most tx_max bytes each, the
		 * last one with EOM (VIRTIO 1.2, 5.10.6.6.1). */
		if (len > 65536 || len > c->peer_buf_alloc)
			return -EMSGSIZE;
		do {
			uint32_t chunk = (uint32_t)VHK_MIN(len - done,
							   d->p.tx_max);
			bool last = done + chunk == len;

			ret = send_packet(c, p + done, chunk,
					  last ? VHK_VSOCK_SEQ_EOM : 0,
					  UINT64_MAX, false, &n);
			if (ret < 0)
				return ret;
			done += n;
		} while (done < len);
		return (ssize_t)done;
	}
	if (len == 0)
		return 0;
	while (done < len) {
		uint32_t chunk = (uint32_t)VHK_MIN(len - done, d->p.tx_max);

		ret = send_packet(c, p + done, chunk, 0,
				  done ? vhk_now_ns() : deadline, true, &n);
		if (ret < 0)
			return done ? (ssize_t)done : ret;
		done += n;
	}
	/* Let the device see what we queued. */
	vsk_engine(d, 0);
	return (ssize_t)done;
}

static void copy_out(struct vhk_vsock_conn *c, uint8_t *dst, uint32_t n)
{
	uint32_t first = VHK_MIN(n, c->rcap - c->rhead);

	memcpy(dst, c->rbuf + c->rhead, first);
	memcpy(dst + first, c->rbuf, n - first);
}

/*
 * Run the engine once (waiting until @deadline; 0 = do not wait) with
 * STREAM payload for @c going straight into @buf (@len bytes) instead of
 * rbuf, which must be empty.  Returns the bytes placed there; *@err
 * (if given) gets the wait's result (0 or -errno, -ETIMEDOUT at @deadline).
 */
static uint32_t engine_direct(struct vhk_vsock_conn *c, uint8_t *buf,
			      size_t len, uint64_t deadline, int *err)
{
	uint32_t got;
	int ret;

	if (!len) {
		if (!deadline)
			(void)vsk_engine(c->d, 0);
		return 0;
	}
	c->direct = buf;
	c->direct_room = (uint32_t)VHK_MIN(len, (size_t)UINT32_MAX);
	c->direct_got = 0;
	if (deadline)
		ret = wait_more(c->d, deadline);
	else
		ret = vsk_engine(c->d, 0);
	if (err)
		*err = ret < 0 ? ret : 0;
	got = c->direct_got;
	c->direct = NULL;
	c->direct_room = c->direct_got = 0;
	return got;
}

ssize_t vhk_vsock_recv(struct vhk_vsock_conn *c, void *buf, size_t len,
		       int timeout_ms, int *flags)
{
	uint64_t deadline = vsk_deadline(timeout_ms);
	int ret;

	if (flags)
		*flags = 0;
	for (;;) {
		if (c->type == VHK_VSOCK_TYPE_SEQPACKET && c->nmsgs) {
			uint32_t m = c->msgs[c->msg_head];
			uint32_t n = (uint32_t)VHK_MIN(len, m);

			copy_out(c, buf, n);
			consumed(c, m, 0);
			c->msg_head = (c->msg_head + 1) % c->msg_cap;
			c->nmsgs--;
			if (n < m && flags)
				*flags = MSG_TRUNC;
			vsk_engine(c->d, 0);
			return n;
		}
		if (c->type == VHK_VSOCK_TYPE_STREAM && c->rlen) {
			uint32_t n = (uint32_t)VHK_MIN(len, c->rlen);

			copy_out(c, buf, n);
			consumed(c, n, 0);
			/* What the device used meanwhile goes straight after
			 * it (rbuf is empty when there is room left). */
			return n + engine_direct(c, (uint8_t *)buf + n,
						 len - n, 0, NULL);
		}
		if (c->err)
			return c->err;
		if ((c->peer_shut & VHK_VSOCK_SHUTDOWN_SEND) ||
		    c->state == CONN_DEAD)
			return 0;	/* EOF */
		if (c->state != CONN_ESTABLISHED)
			return -ENOTCONN;
		if (c->type == VHK_VSOCK_TYPE_STREAM && len) {
			uint32_t got = engine_direct(c, buf, len, deadline,
						     &ret);

			if (got)
				return got;
		} else {
			ret = wait_more(c->d, deadline);
		}
		if (ret == -ETIMEDOUT)
			vhk_log(VHK_LOG_DEBUG, VSOCK_WHO, "port %u: recv timed "
				"out: rx_cnt %u fwd_cnt %u fwd_sent %u, %u "
				"control packets queued, %u tx slots free",
				c->lport, c->rx_cnt, c->fwd_cnt, c->fwd_sent,
				c->d->nctrl, c->d->ntx_free);
		if (ret < 0)
			return ret;
	}
}

int vhk_vsock_shutdown(struct vhk_vsock_conn *c, uint32_t how)
{
	how &= VHK_VSOCK_SHUTDOWN_MASK;
	if (c->err)
		return c->err;
	if (c->state != CONN_ESTABLISHED)
		return -ENOTCONN;
	if (how & ~c->our_shut) {
		c->our_shut |= how;
		ctrl(c, VHK_VSOCK_OP_SHUTDOWN, c->our_shut);
		vsk_engine(c->d, 0);
	}
	return 0;
}

void vhk_vsock_close(struct vhk_vsock_conn *c)
{
	struct vhk_vsock_drv *d;

	if (!c)
		return;
	d = c->d;
	c->user_closed = true;
	if (c->state == CONN_ESTABLISHED) {
		if (c->peer_shut == VHK_VSOCK_SHUTDOWN_MASK) {
			reset_conn(c, 0);	/* the peer is done too */
		} else {
			/* VIRTIO 1.2, 5.10.6.5: SHUTDOWN, then the peer's
			 * RST; ours after a linger if none comes. */
			c->our_shut = VHK_VSOCK_SHUTDOWN_MASK;
			ctrl(c, VHK_VSOCK_OP_SHUTDOWN, c->our_shut);
			c->state = CONN_CLOSING;
			c->linger_deadline = vhk_now_ns() + CLOSE_LINGER_NS;
		}
	} else if (c->state == CONN_CONNECTING) {
		reset_conn(c, -ECONNABORTED);
	}
	vsk_housekeeping(d);
	vsk_engine(d, 0);
}

void vhk_vsock_conn_ports(const struct vhk_vsock_conn *c, uint32_t *local,
			  uint32_t *peer)
{
	if (local)
		*local = c->lport;
	if (peer)
		*peer = c->pport;
}

int vhk_vsock_conn_error(const struct vhk_vsock_conn *c)
{
	return c->err;
}
