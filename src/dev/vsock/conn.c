/* SPDX-License-Identifier: MIT */
/*
 * conn.c - the connection table: connections keyed by (guest port, peer
 * CID, peer port), host port allocation, the credit arithmetic of one
 * connection (VIRTIO 1.2, 5.10.6.3), and freeing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/vsock/vsock_int.h"

#define NBUCKETS	1024		/* power of two */
#define HOST_PORT_MIN	1024u

static unsigned int bucket(const struct vhk_vsock *vs, uint32_t guest_port,
			   uint32_t peer_cid, uint32_t peer_port)
{
	uint64_t h = ((uint64_t)guest_port * 0x9e3779b97f4a7c15ull) ^
		     ((uint64_t)peer_port * 0xc2b2ae3d27d4eb4full) ^ peer_cid;

	return (unsigned int)(h ^ (h >> 29)) & (vs->nbuckets - 1);
}

int vsock_conns_init(struct vhk_vsock *vs)
{
	vs->nbuckets = NBUCKETS;
	vs->buckets = calloc(NBUCKETS, sizeof(*vs->buckets));
	vs->next_host_port = HOST_PORT_MIN;
	return vs->buckets ? 0 : -ENOMEM;
}

void vsock_conns_fini(struct vhk_vsock *vs)
{
	unsigned int i;

	if (!vs->buckets)
		return;
	for (i = 0; i < vs->nbuckets; i++)
		while (vs->buckets[i])
			vsock_conn_free(vs, vs->buckets[i]);
	free(vs->buckets);
	vs->buckets = NULL;
}

struct vsock_conn *vsock_conn_find(struct vhk_vsock *vs, uint32_t guest_port,
				   uint32_t peer_cid, uint32_t peer_port)
{
	struct vsock_conn *c;

	c = vs->buckets[bucket(vs, guest_port, peer_cid, peer_port)];
	for (; c; c = c->hnext)
		if (c->guest_port == guest_port && c->peer_cid == peer_cid &&
		    c->peer_port == peer_port)
			return c;
	return NULL;
}

/* A new connection owning @fd (closed on failure); NULL at the limit. */
struct vsock_conn *vsock_conn_new(struct vhk_vsock *vs, uint32_t guest_port,
				  uint32_t peer_cid, uint32_t peer_port,
				  uint16_t type, int fd)
{
	struct vsock_conn *c;
	unsigned int b;

	if (vs->nconns >= VHK_VSOCK_MAX_CONNS)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->ev.kind = VSOCK_EV_CONN;
	c->guest_port = guest_port;
	c->peer_cid = peer_cid;
	c->peer_port = peer_port;
	c->type = type;
	c->fd = fd;
	c->buf_alloc = vs->buf_size;
	b = bucket(vs, guest_port, peer_cid, peer_port);
	c->hnext = vs->buckets[b];
	vs->buckets[b] = c;
	vs->nconns++;
	return c;
fail:
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Free @c without telling the guest (it sent RST, or the device resets). */
void vsock_conn_free(struct vhk_vsock *vs, struct vsock_conn *c)
{
	struct vsock_conn **pp;

	vsock_gather_forget(vs, c);
	pp = &vs->buckets[bucket(vs, c->guest_port, c->peer_cid,
				 c->peer_port)];
	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	vsock_rx_remove(vs, c);
	vsock_host_close_fd(vs, c);
	if (c->state != CONN_REQUEST && vs->st.conns_open)
		vs->st.conns_open--;
	vs->nconns--;
	free(c->buf);
	free(c->msg_len);
	free(c->stage);
	c->buf = c->stage = NULL;
	c->msg_len = NULL;
	if (vs->in_poll) {
		/* The epoll batch being handled may still name @c. */
		c->dead = true;
		c->znext = vs->zombies;
		vs->zombies = c;
		return;
	}
	free(c);
}

/* Free what vsock_conn_free() kept for the end of an epoll batch. */
void vsock_conn_reap(struct vhk_vsock *vs)
{
	while (vs->zombies) {
		struct vsock_conn *c = vs->zombies;

		vs->zombies = c->znext;
		free(c);
	}
}

/* Abort @c: RST to the guest (VIRTIO 1.2, 5.10.6.5), host socket closed. */
void vsock_conn_reset(struct vhk_vsock *vs, struct vsock_conn *c)
{
	vsock_queue_rst(vs, c->peer_cid, c->peer_port, c->guest_port,
			c->type);
	vsock_conn_free(vs, c);
}

/* A host port for a host -> guest connection to @guest_port. */
uint32_t vsock_conn_alloc_port(struct vhk_vsock *vs, uint32_t guest_port)
{
	unsigned int tries;

	for (tries = 0; tries < 2 * VHK_VSOCK_MAX_CONNS; tries++) {
		uint32_t p = vs->next_host_port++;

		if (vs->next_host_port == VHK_VSOCK_PORT_ANY)
			vs->next_host_port = HOST_PORT_MIN;
		if (!vsock_conn_find(vs, guest_port, VHK_VSOCK_CID_HOST, p))
			return p;
	}
	return VHK_VSOCK_PORT_ANY;	/* cannot happen below the limit */
}

void vsock_conn_foreach(struct vhk_vsock *vs,
			void (*fn)(struct vhk_vsock *, struct vsock_conn *))
{
	unsigned int i;

	for (i = 0; i < vs->nbuckets; i++) {
		struct vsock_conn *c = vs->buckets[i], *next;

		for (; c; c = next) {
			next = c->hnext;	/* fn may free c */
			fn(vs, c);
		}
	}
}

/*
 * vsock_conn_credit - payload bytes we may still send to the guest:
 * peer_buf_alloc - (tx_cnt - peer_fwd_cnt) (VIRTIO 1.2, 5.10.6.3).
 */
uint32_t vsock_conn_credit(const struct vsock_conn *c)
{
	return vhk_vsock_peer_free(c->peer_buf_alloc, c->peer_fwd_cnt,
				   c->tx_cnt);
}

/*
 * Every packet of a flow carries the sender's buf_alloc and fwd_cnt
 * (VIRTIO 1.2, 5.10.6.3): take them, and resume reading the host socket
 * if the guest gave us credit again.  A connection that had enough
 * credit already is polled for input (host.c) or listed: more credit
 * changes nothing there, and a read now would mostly find nothing.
 */
void vsock_conn_note_credit(struct vhk_vsock *vs, struct vsock_conn *c,
			    const struct vsock_pkt *p)
{
	uint32_t before = vsock_conn_credit(c);
	uint32_t need = VHK_MAX(c->seq_need, 1u);

	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	if (vsock_conn_credit(c) > before) {
		c->credit_asked = false;
		c->credit_retries = 0;
		if ((c->stage || c->fd >= 0) && before < need)
			vsock_rx_add(vs, c);	/* may send again */
	}
}

/* Owe the guest the control packets @bits. */
void vsock_conn_want(struct vhk_vsock *vs, struct vsock_conn *c,
		     uint32_t bits)
{
	c->pending |= bits;
	vsock_rx_add(vs, c);
}

/*
 * Should the guest hear our fwd_cnt?  When the credit it believes it has
 * fell to half of buf_alloc or less and we have freed space since: the
 * guest never waits on space we have, and a bulk transfer costs about one
 * update per half buffer.
 */
bool vsock_conn_update_due(const struct vsock_conn *c)
{
	uint32_t believed = vhk_vsock_peer_free(c->buf_alloc,
						c->fwd_advertised,
						c->recv_cnt);

	return c->fwd_cnt != c->fwd_advertised && believed <= c->buf_alloc / 2;
}
