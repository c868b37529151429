/* SPDX-License-Identifier: MIT */
/*
 * rx.c - packets toward the guest (rx queue): reset replies, sibling
 * packets and, round-robin over the connections that have something to
 * say, their control packets and host data.
 *
 * Data is read from a host socket only into an rx buffer the guest gave
 * and only as much as the guest's credit allows (VIRTIO 1.2, 5.10.6.3), so
 * the device holds no host data of its own (seqpacket: one message).  A
 * connection waiting for rx buffers or credit is not read; its socket
 * stays polled edge-triggered (host.c), so waiting and resuming cost no
 * epoll_ctl.  A short read (or EAGAIN) means the socket is empty
 * (host_drained): the next read waits for the next EPOLLIN edge instead
 * of costing a readv that returns EAGAIN (a credit update toward a guest
 * that only sends would cost one each).
 *
 * RX buffers are device-writable only (VIRTIO 1.2, 5.10.6.4): a buffer with
 * device-readable parts breaks the device; one shorter than a header is
 * returned unused and counted.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev/vsock/vsock_int.h"

enum step {
	STEP_SENT,	/* used the chain; may have more */
	STEP_IDLE,	/* nothing (more) to send: off the list */
	STEP_GONE,	/* the connection was freed */
};

void vsock_rx_add(struct vhk_vsock *vs, struct vsock_conn *c)
{
	if (c->on_rx)
		return;
	c->on_rx = true;
	c->rnext = NULL;
	c->rprev = vs->rx_tail;
	if (vs->rx_tail)
		vs->rx_tail->rnext = c;
	else
		vs->rx_head = c;
	vs->rx_tail = c;
}

void vsock_rx_remove(struct vhk_vsock *vs, struct vsock_conn *c)
{
	if (!c->on_rx)
		return;
	if (c->rprev)
		c->rprev->rnext = c->rnext;
	else
		vs->rx_head = c->rnext;
	if (c->rnext)
		c->rnext->rprev = c->rprev;
	else
		vs->rx_tail = c->rprev;
	c->on_rx = false;
	c->rnext = c->rprev = NULL;
}

/*
 * Next usable rx chain: 1 and *@ch, 0 if the guest has none (kicks
 * enabled), -1 if the queue cannot be used now (stopped, broken, IOTLB
 * miss: the server calls queue_kick again after the UPDATE).
 */
static int rx_get(struct vhk_vsock *vs, struct vhk_chain **ch)
{
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_RX];
	struct vhk_chain *c = &vs->spare;
	int ret;

	if (!vq || vhk_vq_broken(vq))
		return -1;
	while (!vs->have_spare) {
		memset(c, 0, sizeof(*c));
		c->iov = vs->rx_iov;
		c->iov_cap = VSOCK_MAX_IOV;
		ret = vhk_vq_pop(vq, c);
		if (ret == 0) {
			if (vhk_vq_enable_notify(vq, true))
				continue;
			return 0;
		}
		if (ret == -EAGAIN) {
			/* IOTLB miss: queue_kick(rx) reports it, which parks
			 * the queue until the UPDATE. */
			if (vs->rx_kicked)
				vs->rx_result = VHK_KICK_PARKED;
			else
				vsock_kick_later(vs, VHK_VSOCK_VQ_RX);
			return -1;
		}
		if (ret < 0) {
			if (ret == -ENOBUFS)
				vhk_vq_fail(vq, -ENOBUFS,
					    "rx chain needs more than %u segments",
					    VSOCK_MAX_IOV);
			vsock_broken(vs, "virtio-vsock rx queue broken by the driver");
			return -1;
		}
		if (c->nread) {
			/* VIRTIO 1.2, 5.10.6.4: rx buffers are write-only. */
			vs->st.rx_bad_buffer++;
			vhk_vq_fail(vq, -EINVAL,
				    "rx chain %u has device-readable buffers",
				    c->id);
			vsock_broken(vs, "virtio-vsock rx buffer is device-readable");
			return -1;
		}
		if (c->write_bytes < VHK_VSOCK_HDR_SIZE) {
			vs->st.rx_bad_buffer++;
			vs_warn(vs, "rx buffer of %llu bytes cannot hold a header: returned unused",
				(unsigned long long)c->write_bytes);
			if (vsock_push(vs, vq, c, 0) < 0)
				return -1;
			vsock_complete(vs, VHK_VSOCK_VQ_RX);
			continue;
		}
		vs->have_spare = true;
	}
	*ch = c;
	return 1;
}

/* Give the spare chain back unused (queue stop). */
void vsock_rx_drop_spare(struct vhk_vsock *vs)
{
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_RX];

	if (vs->have_spare && vq) {
		(void)vsock_push(vs, vq, &vs->spare, 0); /* breaks on failure */
		vsock_complete(vs, VHK_VSOCK_VQ_RX);
	}
	vs->have_spare = false;
}

/* Write header @p at the start of @ch and push @ch with its payload. */
static void chain_publish(struct vhk_vsock *vs, struct vhk_chain *ch,
			  const struct vsock_pkt *p)
{
	struct vhk_vsock_hdr h;
	struct vhk_iter w;

	vsock_hdr_encode(&h, p);
	vhk_chain_writer(ch, &w);
	(void)vhk_iter_write(&w, &h, sizeof(h));
	(void)vsock_push(vs, vs->vq[VHK_VSOCK_VQ_RX], ch,
			 VHK_VSOCK_HDR_SIZE + p->len); /* breaks on failure */
	vs->st.rx_packets++;
	vs->st.rx_bytes += p->len;
}

/* The same for the spare chain. */
static void rx_publish(struct vhk_vsock *vs, struct vhk_chain *ch,
		       const struct vsock_pkt *p)
{
	chain_publish(vs, ch, p);
	vs->have_spare = false;
}

static void conn_hdr(struct vhk_vsock *vs, struct vsock_conn *c,
		     struct vsock_pkt *p, uint16_t op)
{
	memset(p, 0, sizeof(*p));
	p->src_cid = c->peer_cid;
	p->dst_cid = vs->guest_cid;
	p->src_port = c->peer_port;
	p->dst_port = c->guest_port;
	p->type = c->type;
	p->op = op;
	p->buf_alloc = c->buf_alloc;
	p->fwd_cnt = c->fwd_cnt;
	c->fwd_advertised = c->fwd_cnt;
}

/* Space for payload in @ch after the header. */
static uint32_t chain_room(const struct vhk_chain *ch)
{
	uint64_t room = ch->write_bytes - VHK_VSOCK_HDR_SIZE;

	return (uint32_t)VHK_MIN(room, (uint64_t)VSOCK_PKT_MAX);
}

/*
 * Read up to @n bytes of the host stream into @ch after the header.
 * Returns bytes read, 0 at EOF, or -errno.
 */
static ssize_t read_into(struct vhk_vsock *vs, struct vsock_conn *c,
			 struct vhk_chain *ch, uint32_t n)
{
	struct vhk_iter w;
	ssize_t r;
	int nseg;

	vhk_chain_writer(ch, &w);
	vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
	nseg = vhk_iter_slice(&w, n, vs->io_iov, VSOCK_MAX_IOV);
	if (nseg > 0) {
		r = readv(c->fd, vs->io_iov, nseg);
	} else {
		/* Too fragmented for one readv: through the scratch. */
		vhk_chain_writer(ch, &w);
		vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
		r = read(c->fd, vs->scratch, n);
		if (r > 0)
			(void)vhk_iter_write(&w, vs->scratch, (size_t)r);
	}
	if (r < 0)
		return -errno;
	return r;
}

/* The host stream ended (@hup: both ways): tell the guest once. */
static void host_ended(struct vhk_vsock *vs, struct vsock_conn *c, bool hup)
{
	uint32_t want = VHK_VSOCK_SHUTDOWN_SEND;

	c->host_eof = true;
	if (hup) {
		c->host_hup = true;
		want |= VHK_VSOCK_SHUTDOWN_RCV;
	}
	if ((c->shut_sent & want) != want)
		c->pending |= P_SHUTDOWN;
	vsock_host_update_events(vs, c);
}

/*
 * More rx chains after the spare for one readv, while the credit covers
 * more payload than the chains popped so far hold (@room).  Only simple
 * chains join (device-writable, room for a header and payload, at most
 * VSOCK_BATCH_IOV segments); anything else is left on the ring (nothing
 * consumed, or given back) for rx_get() to judge on its own turn.
 * Returns how many were popped into vs->batch.
 */
static unsigned int rx_gather(struct vhk_vsock *vs, uint64_t room,
			      uint32_t want)
{
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_RX];
	unsigned int n = 0;

	while (n < VSOCK_RX_BATCH && room < want) {
		struct vhk_chain *b = &vs->batch[n];

		memset(b, 0, sizeof(*b));
		b->iov = vs->batch_iov + (size_t)n * VSOCK_BATCH_IOV;
		b->iov_cap = VSOCK_BATCH_IOV;
		if (vhk_vq_pop(vq, b) != 1)
			break;
		if (b->nread || b->write_bytes <= VHK_VSOCK_HDR_SIZE) {
			(void)vhk_vq_unpop(vq, b);
			break;
		}
		room += chain_room(b);
		n++;
	}
	return n;
}

/* Give back batch chains @from.. (newest first: vhk_vq_unpop()). */
static void rx_ungather(struct vhk_vsock *vs, unsigned int from,
			unsigned int n)
{
	while (n > from)
		(void)vhk_vq_unpop(vs->vq[VHK_VSOCK_VQ_RX], &vs->batch[--n]);
}

/*
 * Describe the payload areas of the spare @ch (@n0 bytes) and of @nb batch
 * chains (their room, the total bounded by @credit) in vs->io_iov; @len
 * gets each batch chain's share.  Returns the segment count, or -ENOSPC.
 */
static int batch_iov(struct vhk_vsock *vs, struct vhk_chain *ch, uint32_t n0,
		     unsigned int nb, uint32_t credit, uint32_t *len)
{
	uint32_t total = n0;
	struct vhk_iter w;
	int nseg, k;

	vhk_chain_writer(ch, &w);
	vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
	nseg = vhk_iter_slice(&w, n0, vs->io_iov, VSOCK_MAX_IOV);
	if (nseg < 0)
		return nseg;
	for (unsigned int i = 0; i < nb; i++) {
		len[i] = VHK_MIN(chain_room(&vs->batch[i]), credit - total);
		vhk_chain_writer(&vs->batch[i], &w);
		vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
		k = vhk_iter_slice(&w, len[i], vs->io_iov + nseg,
				   VSOCK_MAX_IOV - (unsigned int)nseg);
		if (k < 0)
			return k;
		nseg += k;
		total += len[i];
	}
	return nseg;
}

/*
 * Host data for stream connection @c into @ch and, when the guest's credit
 * allows more than @ch holds, into more rx chains: one readv fills them
 * all (a 64 KiB host write into 4 KiB guest buffers is one syscall, not
 * sixteen), then each becomes an RW packet in ring order.  Chains the
 * read did not reach are given back unused.
 */
static enum step stream_data(struct vhk_vsock *vs, struct vsock_conn *c,
			     struct vhk_chain *ch)
{
	uint32_t credit = vsock_conn_credit(c);
	uint32_t n0 = VHK_MIN(chain_room(ch), credit);
	uint32_t len[VSOCK_RX_BATCH];
	unsigned int nb = 0, i;
	struct vsock_pkt p;
	uint64_t left, asked;
	ssize_t r;
	int nseg = -1;

	vs->rx_batch_used = 0;
	/* Batch only after a read that filled a buffer: a small message
	 * (a round trip's byte) is not worth popping 31 chains for. */
	if (c->read_big && n0 < credit && n0 == chain_room(ch))
		nb = rx_gather(vs, n0, credit);
	if (nb) {
		nseg = batch_iov(vs, ch, n0, nb, credit, len);
		if (nseg < 0) {
			rx_ungather(vs, 0, nb);
			nb = 0;
		}
	}
	if (nb) {
		r = readv(c->fd, vs->io_iov, nseg);
		if (r < 0)
			r = -errno;
	} else {
		r = read_into(vs, c, ch, n0);
	}
	if (r <= 0)
		rx_ungather(vs, 0, nb);
	if (r == -EAGAIN || r == -EINTR) {
		c->read_big = false;
		/* Empty: the next read waits for EPOLLIN (a connection
		 * listed for a control packet does not try again). */
		c->host_drained = r == -EAGAIN && c->fd_in_ep;
		return STEP_IDLE;
	}
	if (r < 0) {
		/* ECONNRESET and friends: the host side is gone hard. */
		vs->st.rst_other++;
		vsock_conn_reset(vs, c);
		return STEP_GONE;
	}
	if (r == 0) {
		host_ended(vs, c, c->host_hup);
		return STEP_SENT;	/* the SHUTDOWN goes next */
	}
	/* Which batch chains the read reached; the rest go back first
	 * (only the newest popped chains can be given back). */
	asked = n0;
	for (i = 0; i < nb; i++)
		asked += len[i];
	/* A stream read shorter than asked emptied the socket (while the fd
	 * is polled: after a hang-up it is read to EOF regardless). */
	c->host_drained = (uint64_t)r < asked && c->fd_in_ep &&
			  !c->host_rdhup;
	c->read_big = (uint64_t)r >= chain_room(ch);
	left = (uint64_t)r - VHK_MIN((uint64_t)r, (uint64_t)n0);
	for (i = 0; i < nb && left; i++)
		left -= VHK_MIN(left, (uint64_t)len[i]);
	rx_ungather(vs, i, nb);
	nb = i;
	left = (uint64_t)r;
	for (i = 0; i <= nb; i++) {
		struct vhk_chain *b = i ? &vs->batch[i - 1] : ch;
		uint32_t take = (uint32_t)VHK_MIN(left,
				(uint64_t)(i ? len[i - 1] : n0));

		conn_hdr(vs, c, &p, VHK_VSOCK_OP_RW);
		p.len = take;
		c->tx_cnt += take;
		left -= take;
		if (i)
			chain_publish(vs, b, &p);
		else
			rx_publish(vs, b, &p);
	}
	vs->rx_batch_used = nb;
	c->pending &= ~P_CREDIT_UPDATE;	/* the header carries fwd_cnt */
	return STEP_SENT;
}

/*
 * Seqpacket from the host: a message is read whole (a datagram cannot be
 * read in parts) once the guest's credit covers all of it, then sent in
 * as many RW packets as rx buffers need, EOM on the last (5.10.6.6).
 */
static enum step seq_data(struct vhk_vsock *vs, struct vsock_conn *c,
			  struct vhk_chain *ch)
{
	struct vsock_pkt p;
	uint32_t n;

	if (!c->stage) {
		ssize_t len = recv(c->fd, NULL, 0,
				   MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

		if (len < 0 && (errno == EAGAIN || errno == EINTR)) {
			/* Empty: wait for the next EPOLLIN edge. */
			c->host_drained = errno == EAGAIN && c->fd_in_ep;
			return STEP_IDLE;
		}
		if (len < 0) {
			vs->st.rst_other++;
			vsock_conn_reset(vs, c);
			return STEP_GONE;
		}
		if (len == 0) {
			/* EOF (an empty message reads the same: dropped). */
			(void)recv(c->fd, NULL, 0, MSG_DONTWAIT);
			host_ended(vs, c, c->host_hup);
			return STEP_SENT;
		}
		if ((uint64_t)len > c->peer_buf_alloc ||
		    (uint64_t)len > VHK_VSOCK_MAX_BUF_SIZE) {
			vs_warn(vs, "host message of %zd bytes exceeds the guest's buffer (%u): reset",
				len, c->peer_buf_alloc);
			vs->st.rst_other++;
			vsock_conn_reset(vs, c);
			return STEP_GONE;
		}
		if ((uint32_t)len > vsock_conn_credit(c)) {
			c->seq_need = (uint32_t)len;
			if (!c->credit_asked)
				c->pending |= P_CREDIT_REQ;
			return c->pending ? STEP_SENT : STEP_IDLE;
		}
		c->stage = malloc((size_t)len);
		if (!c->stage)
			return STEP_IDLE;
		if (recv(c->fd, c->stage, (size_t)len, MSG_DONTWAIT) != len) {
			free(c->stage);
			c->stage = NULL;
			vs->st.rst_other++;
			vsock_conn_reset(vs, c);
			return STEP_GONE;
		}
		c->seq_need = 1;
		c->stage_len = (uint32_t)len;
		c->stage_off = 0;
	}
	n = VHK_MIN(chain_room(ch), c->stage_len - c->stage_off);
	conn_hdr(vs, c, &p, VHK_VSOCK_OP_RW);
	p.len = n;
	{
		struct vhk_iter w;

		vhk_chain_writer(ch, &w);
		vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
		(void)vhk_iter_write(&w, c->stage + c->stage_off, n);
	}
	c->stage_off += n;
	c->tx_cnt += n;
	if (c->stage_off == c->stage_len) {
		p.flags = VHK_VSOCK_SEQ_EOM;
		free(c->stage);
		c->stage = NULL;
		c->stage_len = c->stage_off = 0;
	}
	c->pending &= ~P_CREDIT_UPDATE;
	rx_publish(vs, ch, &p);
	return STEP_SENT;
}

static bool may_read_host(const struct vsock_conn *c)
{
	return c->state == CONN_OPEN && c->fd >= 0 && !c->host_eof &&
	       !(c->guest_shut & VHK_VSOCK_SHUTDOWN_RCV);
}

/* One packet for connection @c into @ch, most urgent first. */
static enum step conn_step(struct vhk_vsock *vs, struct vsock_conn *c,
			   struct vhk_chain *ch)
{
	struct vsock_pkt p;

	if (c->pending & P_REQUEST) {
		c->pending &= ~P_REQUEST;
		conn_hdr(vs, c, &p, VHK_VSOCK_OP_REQUEST);
		rx_publish(vs, ch, &p);
		return STEP_SENT;
	}
	if (c->pending & P_RESPONSE) {
		c->pending &= ~(P_RESPONSE | P_CREDIT_UPDATE);
		conn_hdr(vs, c, &p, VHK_VSOCK_OP_RESPONSE);
		rx_publish(vs, ch, &p);
		return STEP_SENT;
	}
	if (c->pending & P_CREDIT_REQ) {
		c->pending &= ~P_CREDIT_REQ;
		c->credit_asked = true;
		c->credit_asked_ns = vhk_now_ns();
		/* The timer asks again if no update comes (host.c). */
		vsock_host_arm_timer(vs);
		conn_hdr(vs, c, &p, VHK_VSOCK_OP_CREDIT_REQUEST);
		rx_publish(vs, ch, &p);
		return STEP_SENT;
	}
	if (c->stage)
		return seq_data(vs, c, ch);
	if (may_read_host(c) && !c->host_drained &&
	    vsock_conn_credit(c) >= c->seq_need && vsock_conn_credit(c) > 0) {
		enum step s = c->type == VHK_VSOCK_TYPE_SEQPACKET ?
			      seq_data(vs, c, ch) : stream_data(vs, c, ch);

		if (s != STEP_IDLE)
			return s;
	} else if (may_read_host(c) && vsock_conn_credit(c) == 0 &&
		   !c->credit_asked) {
		/* Out of credit with the host maybe sending: ask (again
		 * from the timer while no update comes, host.c). */
		c->pending |= P_CREDIT_REQ;
	}
	if (c->pending & P_CREDIT_UPDATE) {
		c->pending &= ~P_CREDIT_UPDATE;
		conn_hdr(vs, c, &p, VHK_VSOCK_OP_CREDIT_UPDATE);
		rx_publish(vs, ch, &p);
		return STEP_SENT;
	}
	if (c->pending & P_CREDIT_REQ)
		return STEP_SENT;	/* loops back to send it */
	if (c->pending & P_SHUTDOWN) {
		c->pending &= ~P_SHUTDOWN;
		conn_hdr(vs, c, &p, VHK_VSOCK_OP_SHUTDOWN);
		c->shut_sent |= VHK_VSOCK_SHUTDOWN_SEND;
		if (c->host_hup)
			c->shut_sent |= VHK_VSOCK_SHUTDOWN_RCV;
		p.flags = c->shut_sent;
		rx_publish(vs, ch, &p);
		return STEP_SENT;
	}
	return STEP_IDLE;
}

static void rst_step(struct vhk_vsock *vs, struct vhk_chain *ch)
{
	struct vsock_rst *r = &vs->rstq[vs->rst_head];
	struct vsock_pkt p;

	memset(&p, 0, sizeof(p));
	p.src_cid = r->src_cid;
	p.dst_cid = vs->guest_cid;
	p.src_port = r->src_port;
	p.dst_port = r->dst_port;
	p.type = r->type;
	p.op = VHK_VSOCK_OP_RST;
	vs->rst_head = (vs->rst_head + 1) % VSOCK_RSTQ;
	vs->rst_len--;
	rx_publish(vs, ch, &p);
}

/* One fragment of the oldest sibling packet. */
static void fwd_step(struct vhk_vsock *vs, struct vhk_chain *ch)
{
	struct vsock_fwd *f = vs->fwd_head;
	struct vsock_pkt p = f->hdr;
	uint32_t n = VHK_MIN(chain_room(ch), f->hdr.len - f->off);
	struct vhk_iter w;

	p.len = n;
	if (f->off + n < f->hdr.len)
		p.flags &= ~VHK_VSOCK_SEQ_MASK;	/* EOM on the last only */
	vhk_chain_writer(ch, &w);
	vhk_iter_skip(&w, VHK_VSOCK_HDR_SIZE);
	(void)vhk_iter_write(&w, f->data + f->off, n);
	f->off += n;
	rx_publish(vs, ch, &p);
	if (f->off >= f->hdr.len) {
		vs->fwd_head = f->next;
		if (!vs->fwd_head)
			vs->fwd_tail = NULL;
		free(f);
	}
}

/*
 * vsock_rx_run - send what is owed while the guest has rx buffers, at most
 * VSOCK_RX_BUDGET chains (then the server calls again).  Re-entrant calls
 * return at once: the outer run picks up the new work.
 */
void vsock_rx_run(struct vhk_vsock *vs)
{
	unsigned int used = 0, turns = 0;
	bool toggle = false;

	if (vs->in_rx_run)
		return;		/* the outer run settles */
	if (!vs->vq[VHK_VSOCK_VQ_RX])
		return;
	vs->in_rx_run = true;
	/* One mailbox batch at a time: the mailbox bound holds. */
	if (vs->reachable && !vs->fwd_head)
		vsock_hub_take(vs);
	while (vs->rst_len || vs->fwd_head || vs->rx_head) {
		struct vhk_chain *ch;

		if (used >= VSOCK_RX_BUDGET || ++turns > 8 * VSOCK_RX_BUDGET) {
			if (vs->rx_kicked)
				vs->rx_result = VHK_KICK_AGAIN;
			else
				vsock_kick_later(vs, VHK_VSOCK_VQ_RX);
			break;
		}
		if (rx_get(vs, &ch) <= 0)
			break;
		toggle = !toggle;
		if (vs->rst_len) {
			rst_step(vs, ch);
		} else if (vs->fwd_head && (toggle || !vs->rx_head)) {
			fwd_step(vs, ch);
			if (!vs->fwd_head && vs->reachable)
				vsock_hub_take(vs);
		} else {
			struct vsock_conn *c = vs->rx_head;
			enum step s = conn_step(vs, c, ch);

			used += vs->rx_batch_used;
			vs->rx_batch_used = 0;
			if (s == STEP_GONE)
				continue;
			vsock_rx_remove(vs, c);
			/* Read to empty with nothing else owed: done here
			 * (no rx chain popped just to find that out). */
			if (s == STEP_SENT && c->host_drained && !c->pending &&
			    !c->stage)
				s = STEP_IDLE;
			if (s == STEP_SENT) {
				vsock_rx_add(vs, c);	/* round-robin */
			} else {
				vsock_host_update_events(vs, c);
				/* Hung up and read to the end: nothing more
				 * can come from the host socket. */
				if (c->state == CONN_OPEN && c->host_hup &&
				    c->host_eof && c->fd >= 0)
					vsock_host_close_fd(vs, c);
			}
		}
		if (!vs->have_spare)
			used++;
	}
	vs->in_rx_run = false;
	if (used)
		vsock_complete(vs, VHK_VSOCK_VQ_RX);
}
