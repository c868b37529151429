/* SPDX-License-Identifier: MIT */
/*
 * gather.c - consecutive RW payloads of one stream connection, taken from
 * the guest's tx queue in one pass, toward its host socket with one
 * sendmsg() instead of one per packet.
 *
 * A guest writing small messages posts them faster than a sendmsg() per
 * packet can forward them (64-byte writes: one system call per 64 bytes).
 * While a pass of the tx queue meets RW packets of the same connection
 * one after the other, their payloads are gathered - the iovecs point
 * into the guest's buffers, nothing is copied - and their chains are held
 * (not pushed: the driver must not reuse a buffer before its bytes are
 * out).  Any other packet, the pass's end, or a full gather sends them:
 * what the socket takes counts as forwarded (fwd_cnt), the rest is copied
 * into the connection's buffer exactly as a short write of a single
 * packet is, then the held chains are pushed.  So the bytes reach the
 * host in the guest's order, credit (VIRTIO 1.2, 5.10.6.3) is reckoned as
 * before, and every packet other than such an RW sees the state it saw
 * before gathering existed.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "dev/vsock/vsock_int.h"

/*
 * vsock_gather_add - take @len payload bytes of @it (an RW of stream
 * connection @c, within its credit, nothing of it buffered) into the
 * gather.  Returns true when taken (the caller's chain is then held by
 * vsock_gather_hold()); false when the caller writes them itself (no tx
 * pass running, or the payload does not fit even an empty gather).
 */
bool vsock_gather_add(struct vhk_vsock *vs, struct vsock_conn *c,
		      const struct vhk_iter *it, uint32_t len)
{
	struct vsock_gather *g = &vs->gather;
	struct vhk_iter tmp = *it;
	int n;

	if (!g->on || !len)
		return false;
	if (g->c && g->c != c)
		vsock_gather_flush(vs);		/* cannot happen: see proto.c */
	if (g->nheld == VSOCK_GATHER_CHAINS)
		vsock_gather_flush(vs);
	n = vhk_iter_slice(&tmp, len, g->iov + g->niov,
			   VSOCK_GATHER_IOV - g->niov);
	if (n < 0 && g->niov) {
		vsock_gather_flush(vs);
		tmp = *it;
		n = vhk_iter_slice(&tmp, len, g->iov, VSOCK_GATHER_IOV);
	}
	if (n < 0)
		return false;
	g->c = c;
	g->niov += (unsigned int)n;
	g->bytes += len;
	g->took = true;
	return true;
}

/*
 * vsock_gather_hold - after a packet was handled: hold its chain @ch if
 * its payload went into the gather (true; the chain is pushed by the
 * flush), else false (push it now).
 */
bool vsock_gather_hold(struct vhk_vsock *vs, const struct vhk_chain *ch)
{
	struct vsock_gather *g = &vs->gather;
	struct vhk_chain *h;

	if (!g->took)
		return false;
	g->took = false;
	h = &g->held[g->nheld++];
	*h = *ch;
	/* Pushing reads the chain's id and sizes only: a tx chain has no
	 * writable segment to log, and its iovecs are the pass's scratch. */
	h->iov = NULL;
	h->iov_cap = 0;
	return true;
}

/* Push the held chains (the driver may reuse their buffers now). */
static void push_held(struct vhk_vsock *vs)
{
	struct vsock_gather *g = &vs->gather;
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_TX];
	unsigned int i, n = g->nheld;

	g->nheld = 0;
	if (!n || !vq)
		return;
	for (i = 0; i < n; i++)
		if (vsock_push(vs, vq, &g->held[i], 0) < 0)
			break;
	vsock_complete(vs, VHK_VSOCK_VQ_TX);
}

/* The gathered bytes are dealt with: empty the gather, push the chains. */
static void release(struct vhk_vsock *vs)
{
	vs->gather.niov = 0;
	vs->gather.bytes = 0;
	push_held(vs);
}

/* The host side of @c failed (or no memory for its rest): the chains go
 * back, the connection is reset, as after a failed single write. */
static void fail(struct vhk_vsock *vs, struct vsock_conn *c)
{
	release(vs);
	vs->st.rst_other++;
	vsock_conn_reset(vs, c);
}

/*
 * vsock_gather_flush - send what is gathered with one sendmsg(); what the
 * socket does not take goes into the connection's buffer (at most its
 * credit, so it fits); then the held chains are pushed.  A host socket
 * that failed resets the connection, as a failed single write does.
 */
void vsock_gather_flush(struct vhk_vsock *vs)
{
	struct vsock_gather *g = &vs->gather;
	struct vsock_conn *c = g->c;
	struct msghdr mh = { .msg_iov = g->iov, .msg_iovlen = g->niov };
	struct vhk_iter rest;
	ssize_t w;

	if (!c) {
		push_held(vs);
		return;
	}
	g->c = NULL;	/* before anything below can free @c */
	w = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			fail(vs, c);
			return;
		}
		w = 0;
	}
	c->fwd_cnt += (uint32_t)w;
	vs->st.tx_bytes += (uint64_t)w;
	if (g->nheld > 1)
		vs->tx_gathered += g->nheld;
	memset(&rest, 0, sizeof(rest));
	rest.iov = g->iov;
	rest.n = g->niov;
	rest.left = g->bytes;
	(void)vhk_iter_skip(&rest, (size_t)w);
	if ((uint32_t)w < g->bytes &&
	    vsock_host_buffer(c, &rest, g->bytes - (uint32_t)w) < 0) {
		fail(vs, c);
		return;
	}
	release(vs);
	if (c->buf_len)
		vsock_host_update_events(vs, c);	/* EPOLLOUT */
	if (vsock_conn_update_due(c))
		vsock_conn_want(vs, c, P_CREDIT_UPDATE);
}

/*
 * vsock_gather_forget - @c is being freed (reset): its gathered bytes go
 * out as far as the socket takes them at once - they were the guest's
 * before the reset - and the held chains are pushed.  Nothing here may
 * free @c again.
 */
void vsock_gather_forget(struct vhk_vsock *vs, struct vsock_conn *c)
{
	struct vsock_gather *g = &vs->gather;
	struct msghdr mh = { .msg_iov = g->iov, .msg_iovlen = g->niov };

	if (g->c != c)
		return;
	g->c = NULL;
	if (c->fd >= 0 && g->niov)
		(void)sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	release(vs);
}
