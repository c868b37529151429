/* SPDX-License-Identifier: MIT */
/*
 * pkt.c - packet headers: copied out of a guest chain once, validated on
 * the copy (never re-read from guest memory), and encoded for the rx queue.
 */
#include <errno.h>
#include <string.h>

#include "dev/vsock/vsock_int.h"

/*
 * vsock_pkt_parse - copy the 44-byte header of tx chain @c into @p and set
 * @payload to the readable bytes after it, cut to hdr.len.
 * Returns 0; -EMSGSIZE if fewer than 44 readable bytes; -EINVAL if the
 * chain has device-writable parts (tx buffers are read-only, VIRTIO 1.2
 * 5.10.6.4); -E2BIG if hdr.len exceeds the readable bytes after the header
 * (@p is filled then, so that the caller can reset the flow).
 */
int vsock_pkt_parse(const struct vhk_chain *c, struct vsock_pkt *p,
		    struct vhk_iter *payload)
{
	struct vhk_vsock_hdr h;

	memset(p, 0, sizeof(*p));
	if (c->nwrite || c->write_bytes)
		return -EINVAL;
	vhk_chain_reader(c, payload);
	if (vhk_iter_read(payload, &h, sizeof(h)) != sizeof(h))
		return -EMSGSIZE;
	p->src_cid = vhk_le64_get(h.src_cid);
	p->dst_cid = vhk_le64_get(h.dst_cid);
	p->src_port = vhk_le32_get(h.src_port);
	p->dst_port = vhk_le32_get(h.dst_port);
	p->len = vhk_le32_get(h.len);
	p->type = vhk_le16_get(h.type);
	p->op = vhk_le16_get(h.op);
	p->flags = vhk_le32_get(h.flags);
	p->buf_alloc = vhk_le32_get(h.buf_alloc);
	p->fwd_cnt = vhk_le32_get(h.fwd_cnt);
	if (p->len > payload->left)
		return -E2BIG;
	payload->left = p->len;		/* trailing bytes are ignored */
	return 0;
}

void vsock_hdr_encode(struct vhk_vsock_hdr *h, const struct vsock_pkt *p)
{
	h->src_cid = vhk_le64_make(p->src_cid);
	h->dst_cid = vhk_le64_make(p->dst_cid);
	h->src_port = vhk_le32_make(p->src_port);
	h->dst_port = vhk_le32_make(p->dst_port);
	h->len = vhk_le32_make(p->len);
	h->type = vhk_le16_make(p->type);
	h->op = vhk_le16_make(p->op);
	h->flags = vhk_le32_make(p->flags);
	h->buf_alloc = vhk_le32_make(p->buf_alloc);
	h->fwd_cnt = vhk_le32_make(p->fwd_cnt);
}

const char *vsock_op_name(uint16_t op)
{
	static const char *const names[] = {
		"INVALID", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW",
		"CREDIT_UPDATE", "CREDIT_REQUEST",
	};

	return op < VHK_ARRAY_SIZE(names) ? names[op] : "unknown";
}
