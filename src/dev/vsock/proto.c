/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the guest's packets (tx queue): address checks, the connection
 * state machine (REQUEST / RESPONSE / RST / SHUTDOWN / RW / CREDIT_*,
 * VIRTIO 1.2, 5.10.6.5) and the credit the guest must respect (5.10.6.3).
 *
 * Every decision has an outcome the guest or a counter sees: a reset reply
 * (unknown type, unknown op, no listener, no connection, malformed header,
 * credit ignored) or a drop with a counter (spoofed source, unreachable
 * destination, chains without a header).  Replies never need an rx buffer
 * at once: they wait in per-connection flags or in the bounded reset queue,
 * so the tx queue is processed even when rx is full (5.10.6.1).
 */
#include <errno.h>
#include <string.h>

#include "dev/vsock/vsock_int.h"

/*
 * Owe the guest a reset for the flow (@src_cid, @src_port) -> guest port
 * @dst_port.  Bounded: a full queue drops the reply and counts it (the
 * guest times out instead of learning at once).
 */
void vsock_queue_rst(struct vhk_vsock *vs, uint32_t src_cid,
		     uint32_t src_port, uint32_t dst_port, uint16_t type)
{
	struct vsock_rst *r;

	if (vs->rst_len >= VSOCK_RSTQ) {
		vs->st.rstq_overflow++;
		return;
	}
	r = &vs->rstq[(vs->rst_head + vs->rst_len) % VSOCK_RSTQ];
	r->src_cid = src_cid;
	r->src_port = src_port;
	r->dst_port = dst_port;
	r->type = type;
	vs->rst_len++;
	/* Sent by the rx run that ends every entry point. */
}

static void rst_reply(struct vhk_vsock *vs, const struct vsock_pkt *p)
{
	/* Never answer a reset with a reset (VIRTIO 1.2, 5.10.6.5). */
	if (p->op == VHK_VSOCK_OP_RST)
		return;
	vsock_queue_rst(vs, (uint32_t)p->dst_cid, p->dst_port, p->src_port,
			p->type);
}

static bool type_ok(const struct vhk_vsock *vs, uint16_t type)
{
	if (type == VHK_VSOCK_TYPE_STREAM)
		return true;
	return type == VHK_VSOCK_TYPE_SEQPACKET &&
	       vhk_has_feature(vs->acked, VHK_VSOCK_F_SEQPACKET);
}

/* The guest connects to host port @p->dst_port: "<uds_path>_<port>". */
static void guest_connect(struct vhk_vsock *vs, const struct vsock_pkt *p)
{
	struct vsock_conn *c;
	int fd;

	c = vsock_conn_find(vs, p->src_port, VHK_VSOCK_CID_HOST, p->dst_port);
	if (c) {
		/* A second REQUEST on a live flow: the guest lost track. */
		vs_warn(vs, "REQUEST %u->%u on an open connection: reset",
			p->src_port, p->dst_port);
		vs->st.rst_malformed++;
		vsock_conn_reset(vs, c);
		return;
	}
	fd = vsock_host_connect(vs, p->dst_port, p->type);
	if (fd < 0) {
		vs->st.rst_no_listener++;
		rst_reply(vs, p);
		return;
	}
	c = vsock_conn_new(vs, p->src_port, VHK_VSOCK_CID_HOST, p->dst_port,
			   p->type, fd);
	if (!c) {
		vs->st.rst_other++;
		rst_reply(vs, p);
		return;
	}
	c->state = CONN_OPEN;
	vs->st.conns_opened++;
	vs->st.conns_open++;
	vsock_conn_note_credit(vs, c, p);
	vsock_host_update_events(vs, c);
	vsock_conn_want(vs, c, P_RESPONSE);
}

/* Guest bytes of an RW packet: forward to the host side within credit. */
static void conn_rw(struct vhk_vsock *vs, struct vsock_conn *c,
		    const struct vsock_pkt *p, struct vhk_iter *payload)
{
	uint32_t in_use = c->recv_cnt - c->fwd_cnt;
	int ret;

	if (c->guest_shut & VHK_VSOCK_SHUTDOWN_SEND) {
		vs_warn(vs, "RW after SHUTDOWN(SEND) on %u->%u: reset",
			c->guest_port, c->peer_port);
		vs->st.rst_malformed++;
		vsock_conn_reset(vs, c);
		return;
	}
	/* VIRTIO 1.2, 5.10.6.3: the driver MUST NOT send beyond our credit. */
	if (in_use > c->buf_alloc || p->len > c->buf_alloc - in_use) {
		vs_warn(vs, "guest ignored credit on %u->%u (%u bytes, %u free): reset",
			c->guest_port, c->peer_port, p->len,
			in_use > c->buf_alloc ? 0 : c->buf_alloc - in_use);
		vs->st.rst_credit++;
		vsock_conn_reset(vs, c);
		return;
	}
	if (c->fd < 0 || (c->shut_sent & VHK_VSOCK_SHUTDOWN_RCV)) {
		/* Nobody reads any more (host gone / told the guest so):
		 * count it as consumed so the guest is never stuck. */
		c->recv_cnt += p->len;
		c->fwd_cnt += p->len;
		if (vsock_conn_update_due(c))
			vsock_conn_want(vs, c, P_CREDIT_UPDATE);
		return;
	}
	ret = vsock_host_write(vs, c, payload, p->len, p->flags);
	if (ret < 0) {
		vs->st.rst_other++;
		vsock_conn_reset(vs, c);
		return;
	}
	if (ret > 0)
		return;		/* finished and freed */
	if (vsock_conn_update_due(c))
		vsock_conn_want(vs, c, P_CREDIT_UPDATE);
}

static void conn_shutdown(struct vhk_vsock *vs, struct vsock_conn *c,
			  uint32_t flags)
{
	/* VIRTIO 1.2, 5.10.6.5: the hints are permanent; a later packet
	 * with bits clear does not reset them. */
	c->guest_shut |= flags & VHK_VSOCK_SHUTDOWN_MASK;
	if (c->guest_shut & VHK_VSOCK_SHUTDOWN_SEND)
		vsock_host_shut_wr(vs, c);	/* after the queued bytes */
	if (c->guest_shut & VHK_VSOCK_SHUTDOWN_RCV)
		vsock_host_update_events(vs, c);	/* stop reading */
	if ((c->guest_shut & VHK_VSOCK_SHUTDOWN_MASK) ==
	    VHK_VSOCK_SHUTDOWN_MASK) {
		/* Clean disconnect: we answer with RST once the host has
		 * the guest's last bytes (or the flush times out). */
		if (c->buf_len == 0 && c->msg_count == 0) {
			vsock_conn_reset(vs, c);
			return;
		}
		c->state = CONN_CLOSING;
		c->deadline_ns = vhk_now_ns() + vs->close_ms * 1000000ull;
		vsock_host_arm_timer(vs);
	}
}

static void conn_packet(struct vhk_vsock *vs, struct vsock_conn *c,
			const struct vsock_pkt *p, struct vhk_iter *payload)
{
	if (p->type != c->type) {
		vs->st.rst_malformed++;
		vsock_conn_reset(vs, c);
		return;
	}
	if (p->op == VHK_VSOCK_OP_RST) {
		if (c->state == CONN_REQUEST)
			vs->st.host_refused++;
		vsock_conn_free(vs, c);
		return;
	}
	vsock_conn_note_credit(vs, c, p);
	if (c->state == CONN_REQUEST) {
		if (p->op != VHK_VSOCK_OP_RESPONSE) {
			vs->st.rst_malformed++;
			vsock_conn_reset(vs, c);
			return;
		}
		c->state = CONN_OPEN;
		c->deadline_ns = 0;
		vs->st.conns_opened++;
		vs->st.conns_open++;
		vsock_host_send_ok(vs, c);
		return;
	}
	switch (p->op) {
	case VHK_VSOCK_OP_RW:
		if (c->state == CONN_CLOSING) {
			vs->st.rst_malformed++;
			vsock_conn_reset(vs, c);
			return;
		}
		conn_rw(vs, c, p, payload);
		return;
	case VHK_VSOCK_OP_SHUTDOWN:
		conn_shutdown(vs, c, p->flags);
		return;
	case VHK_VSOCK_OP_CREDIT_UPDATE:
		return;			/* noted above */
	case VHK_VSOCK_OP_CREDIT_REQUEST:
		vsock_conn_want(vs, c, P_CREDIT_UPDATE);
		return;
	default:
		/* REQUEST or RESPONSE on an open connection. */
		vs->st.rst_malformed++;
		vsock_conn_reset(vs, c);
		return;
	}
}

/*
 * vsock_handle_tx - one packet from the guest, header validated for
 * length by vsock_pkt_parse(); @payload holds exactly p->len bytes.
 */
void vsock_handle_tx(struct vhk_vsock *vs, const struct vsock_pkt *p,
		     struct vhk_iter *payload)
{
	struct vsock_conn *c;

	/* VIRTIO 1.2, 5.10.6.4: the driver MUST use guest_cid as source;
	 * the upper 32 bits of both CIDs are reserved and zero. */
	if (p->src_cid != vs->guest_cid) {
		vs->st.drop_spoofed_cid++;
		vs_warn(vs, "dropped %s from CID %llu (guest is %u)",
			vsock_op_name(p->op), (unsigned long long)p->src_cid,
			vs->guest_cid);
		return;
	}
	if (p->dst_cid >> 32 || p->dst_cid == vs->guest_cid ||
	    p->dst_cid == VHK_VSOCK_CID_ANY) {
		vs->st.drop_unreachable++;
		return;
	}
	if (p->dst_cid != VHK_VSOCK_CID_HOST) {
		int ret = vsock_hub_forward(vs, p, payload);

		if (ret == -EHOSTUNREACH) {
			vs->st.drop_unreachable++;
			/* A connect fails at once rather than timing out. */
			if (p->op == VHK_VSOCK_OP_REQUEST)
				rst_reply(vs, p);
		}
		return;
	}
	/* VIRTIO 1.2, 5.10.6.4: RST for an unknown type. */
	if (!type_ok(vs, p->type) || p->op == VHK_VSOCK_OP_INVALID ||
	    p->op > VHK_VSOCK_OP_MAX) {
		vs->st.rst_malformed++;
		c = vsock_conn_find(vs, p->src_port, VHK_VSOCK_CID_HOST,
				    p->dst_port);
		if (c)
			vsock_conn_reset(vs, c);
		else
			rst_reply(vs, p);
		return;
	}
	if (p->op != VHK_VSOCK_OP_RW && p->len) {
		/* Only RW carries payload: a malformed header. */
		vs->st.rst_malformed++;
		c = vsock_conn_find(vs, p->src_port, VHK_VSOCK_CID_HOST,
				    p->dst_port);
		if (c)
			vsock_conn_reset(vs, c);
		else
			rst_reply(vs, p);
		return;
	}
	if (p->op == VHK_VSOCK_OP_REQUEST) {
		guest_connect(vs, p);
		return;
	}
	c = vsock_conn_find(vs, p->src_port, VHK_VSOCK_CID_HOST, p->dst_port);
	if (!c) {
		if (p->op != VHK_VSOCK_OP_RST)
			vs->st.rst_unknown_conn++;
		rst_reply(vs, p);
		return;
	}
	conn_packet(vs, c, p, payload);
}

/* @p (parsed) is an RW of the stream connection being gathered. */
static bool gather_next(const struct vhk_vsock *vs, const struct vsock_pkt *p)
{
	const struct vsock_conn *c = vs->gather.c;

	return p->op == VHK_VSOCK_OP_RW &&
	       p->type == VHK_VSOCK_TYPE_STREAM && p->type == c->type &&
	       p->src_cid == vs->guest_cid &&
	       p->dst_cid == VHK_VSOCK_CID_HOST &&
	       c->peer_cid == VHK_VSOCK_CID_HOST &&
	       p->src_port == c->guest_port && p->dst_port == c->peer_port;
}

/* Pop tx chains (at most VHK_KICK_BUDGET), handle, give them back. */
enum vhk_kick_result vsock_tx_process(struct vhk_vsock *vs)
{
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_TX];
	enum vhk_kick_result res = VHK_KICK_AGAIN;
	unsigned int budget;
	bool pushed = false;

	if (!vq)
		return VHK_KICK_DONE;
	vhk_vq_enable_notify(vq, false);
	vs->gather.on = true;
	for (budget = 0; budget < VHK_KICK_BUDGET; budget++) {
		struct vhk_chain ch;
		struct vsock_pkt p;
		struct vhk_iter payload;
		int ret;

		memset(&ch, 0, sizeof(ch));
		ch.iov = vs->tx_iov;
		ch.iov_cap = VSOCK_MAX_IOV;
		ret = vhk_vq_pop(vq, &ch);
		if (ret == 0) {
			if (vhk_vq_enable_notify(vq, true))
				continue;	/* raced with the driver */
			res = VHK_KICK_DONE;
			break;
		}
		if (ret == -EAGAIN) {
			res = VHK_KICK_PARKED;	/* IOTLB miss */
			break;
		}
		if (ret < 0) {
			if (ret == -ENOBUFS)
				vhk_vq_fail(vq, -ENOBUFS,
					    "tx chain needs more than %u segments",
					    VSOCK_MAX_IOV);
			vsock_broken(vs, "virtio-vsock tx queue broken by the driver");
			res = VHK_KICK_DONE;
			break;
		}
		vs->st.tx_packets++;
		ret = vsock_pkt_parse(&ch, &p, &payload);
		/* Anything but the next RW of the gathering connection sends
		 * the gather first (gather.c): bytes and state in order. */
		if (vs->gather.c && !(ret == 0 && gather_next(vs, &p)))
			vsock_gather_flush(vs);
		if (ret == -EMSGSIZE) {
			vs->st.drop_short_hdr++;
			vs_warn(vs, "tx chain of %llu bytes has no 44-byte header: dropped",
				(unsigned long long)ch.read_bytes);
		} else if (ret == -EINVAL) {
			vs->st.drop_bad_chain++;
			vs_warn(vs, "tx chain with device-writable buffers: dropped");
		} else if (ret == -E2BIG) {
			vs_warn(vs, "%s len %u beyond its %llu-byte buffer: reset",
				vsock_op_name(p.op), p.len,
				(unsigned long long)(ch.read_bytes -
						     VHK_VSOCK_HDR_SIZE));
			if (p.src_cid != vs->guest_cid) {
				vs->st.drop_spoofed_cid++;
			} else {
				struct vsock_conn *c;

				vs->st.rst_malformed++;
				c = vsock_conn_find(vs, p.src_port,
						    (uint32_t)p.dst_cid,
						    p.dst_port);
				if (c)
					vsock_conn_reset(vs, c);
				else
					rst_reply(vs, &p);
			}
		} else {
			vsock_handle_tx(vs, &p, &payload);
		}
		if (vsock_gather_hold(vs, &ch))
			continue;	/* pushed by the flush */
		if (vsock_push(vs, vq, &ch, 0) < 0) {
			res = VHK_KICK_DONE;
			break;
		}
		pushed = true;
	}
	vsock_gather_flush(vs);
	vs->gather.on = false;
	if (pushed)
		vsock_complete(vs, VHK_VSOCK_VQ_TX);
	vsock_rx_run(vs);
	return res;
}
