/* SPDX-License-Identifier: MIT */
/*
 * net_offload.c - validate a virtio_net_hdr copy against its frame and
 * carry out, in software, the offloads a receiver cannot take: checksum
 * completion and TCP / UDP segmentation (VIRTIO 1.2, 5.1.6.2).
 */
#include <errno.h>
#include <string.h>

#include "dev/net/net_offload.h"

#define ETH_P_IPV4	0x0800
#define ETH_P_IPV6	0x86dd
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define TCP_FIN		0x01
#define TCP_PSH		0x08
#define TCP_CWR		0x80

static const char *const drop_names[VHK_NET_DROP__COUNT] = {
	[VHK_NET_DROP_HDR_SHORT] = "hdr_short",
	[VHK_NET_DROP_RUNT] = "runt",
	[VHK_NET_DROP_TOO_BIG] = "too_big",
	[VHK_NET_DROP_BAD_GSO] = "bad_gso",
	[VHK_NET_DROP_BAD_CSUM] = "bad_csum",
	[VHK_NET_DROP_BAD_HDRLEN] = "bad_hdr_len",
	[VHK_NET_DROP_BAD_L3L4] = "bad_l3l4",
	[VHK_NET_DROP_QUEUE_FULL] = "queue_full",
	[VHK_NET_DROP_RX_NO_ROOM] = "rx_no_room",
	[VHK_NET_DROP_RX_BAD_BUF] = "rx_bad_buf",
	[VHK_NET_DROP_RATE] = "rate_limit",
	[VHK_NET_DROP_NO_PORT] = "no_port",
	[VHK_NET_DROP_LINK_DOWN] = "link_down",
	[VHK_NET_DROP_NOMEM] = "nomem",
	[VHK_NET_DROP_IO] = "io_error",
};

const char *vhk_net_drop_name(enum vhk_net_drop d)
{
	return (unsigned int)d < VHK_NET_DROP__COUNT ? drop_names[d] : "?";
}

static uint16_t be16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

#define DROP(r) (-(int)(r) - 1)

/*
 * Find the IP and L4 headers of a GSO frame ourselves: the guest's
 * csum_start and hdr_len are checked against this parse, never trusted.
 */
static int parse_l3l4(const uint8_t *f, size_t len, struct vhk_net_meta *m)
{
	size_t l3 = VHK_ETH_HLEN, l4, hlen;
	uint16_t et = be16_at(f + 12);
	uint8_t proto;

	if (et == ETH_P_8021Q || et == ETH_P_8021AD) {
		if (len < VHK_ETH_HLEN + VHK_VLAN_HLEN)
			return -1;
		et = be16_at(f + 16);
		l3 += VHK_VLAN_HLEN;
	}
	if (et == ETH_P_IPV4) {
		size_t ihl;

		if (m->gso_type == VHK_NET_HDR_GSO_TCPV6 || len < l3 + 20 ||
		    f[l3] >> 4 != 4)
			return -1;
		ihl = (size_t)(f[l3] & 15) * 4;
		/* fragments cannot be segmented (MF or offset set) */
		if (ihl < 20 || len < l3 + ihl || (be16_at(f + l3 + 6) & 0x3fff))
			return -1;
		proto = f[l3 + 9];
		l4 = l3 + ihl;
	} else if (et == ETH_P_IPV6) {
		if (m->gso_type == VHK_NET_HDR_GSO_TCPV4 || len < l3 + 40 ||
		    f[l3] >> 4 != 6)
			return -1;
		proto = f[l3 + 6];	/* no extension headers */
		l4 = l3 + 40;
	} else {
		return -1;
	}
	if (m->gso_type == VHK_NET_HDR_GSO_UDP_L4) {
		if (proto != IPPROTO_UDP_ || len < l4 + 8)
			return -1;
		hlen = l4 + 8;
	} else {
		size_t doff;

		if (proto != IPPROTO_TCP_ || len < l4 + 20)
			return -1;
		doff = (size_t)(f[l4 + 12] >> 4) * 4;
		if (doff < 20 || len < l4 + doff)
			return -1;
		hlen = l4 + doff;
	}
	m->l3 = (uint16_t)l3;
	m->l4 = (uint16_t)l4;
	m->hlen = (uint16_t)hlen;
	return 0;
}

int vhk_net_meta_parse(const struct vhk_net_hdr *h, const uint8_t *frame,
		       size_t len, unsigned int allowed, uint16_t mtu,
		       struct vhk_net_meta *m)
{
	uint16_t hdr_len = vhk_le16_get(h->hdr_len);
	uint8_t gt = h->gso_type;
	unsigned int need;

	memset(m, 0, sizeof(*m));
	if (len < VHK_ETH_HLEN)
		return DROP(VHK_NET_DROP_RUNT);
	if (len > VHK_NET_MAX_FRAME)
		return DROP(VHK_NET_DROP_TOO_BIG);
	/* VIRTIO 1.2, 5.1.6.2.2: hdr_len is only a hint, but a hint past the
	 * end of the frame is a broken header. */
	if (hdr_len > len)
		return DROP(VHK_NET_DROP_BAD_HDRLEN);
	/* DATA_VALID / RSC_INFO are RX-only flags (VIRTIO 1.2, 5.1.6.2.1):
	 * ignored on TX. */
	if (h->flags & VHK_NET_HDR_F_NEEDS_CSUM) {
		uint16_t cs = vhk_le16_get(h->csum_start);
		uint16_t co = vhk_le16_get(h->csum_offset);

		/* VIRTIO 1.2, 5.1.6.2: the checksum field lies at
		 * csum_start + csum_offset and the sum covers csum_start to
		 * the end of the frame: both inside it. */
		if (cs >= len || (size_t)co + 2 > len - cs)
			return DROP(VHK_NET_DROP_BAD_CSUM);
		m->needs_csum = 1;
		m->csum_start = cs;
		m->csum_offset = co;
	}
	m->ecn = !!(gt & VHK_NET_HDR_GSO_ECN);
	m->gso_type = gt & (uint8_t)~VHK_NET_HDR_GSO_ECN;
	if (m->gso_type == VHK_NET_HDR_GSO_NONE) {
		m->ecn = 0;
		if (len > (size_t)mtu + VHK_ETH_HLEN + VHK_VLAN_HLEN)
			return DROP(VHK_NET_DROP_TOO_BIG);
		return 0;
	}
	if (m->gso_type != VHK_NET_HDR_GSO_TCPV4 &&
	    m->gso_type != VHK_NET_HDR_GSO_TCPV6 &&
	    m->gso_type != VHK_NET_HDR_GSO_UDP_L4)
		return DROP(VHK_NET_DROP_BAD_GSO);	/* UFO, unknown */
	m->gso_size = vhk_le16_get(h->gso_size);
	/* VIRTIO 1.2, 5.1.6.2.1: a GSO type needs its feature, a non-zero
	 * gso_size and NEEDS_CSUM (segments get their checksums). */
	need = vhk_net_offloads_needed(m);
	if (m->gso_size == 0 || !m->needs_csum || (need & ~allowed))
		return DROP(VHK_NET_DROP_BAD_GSO);
	if (parse_l3l4(frame, len, m))
		return DROP(VHK_NET_DROP_BAD_L3L4);
	if (m->csum_start != m->l4 ||
	    m->csum_offset != (m->gso_type == VHK_NET_HDR_GSO_UDP_L4 ? 6 : 16))
		return DROP(VHK_NET_DROP_BAD_CSUM);
	if ((size_t)m->hlen + m->gso_size > VHK_NET_MAX_FRAME)
		return DROP(VHK_NET_DROP_BAD_GSO);
	return 0;
}

void vhk_net_meta_to_hdr(const struct vhk_net_meta *m, struct vhk_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (m->needs_csum) {
		h->flags = VHK_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = vhk_le16_make(m->csum_start);
		h->csum_offset = vhk_le16_make(m->csum_offset);
	} else if (m->data_valid) {
		h->flags = VHK_NET_HDR_F_DATA_VALID;
	}
	if (m->gso_type != VHK_NET_HDR_GSO_NONE) {
		h->gso_type = m->gso_type |
			      (m->ecn ? VHK_NET_HDR_GSO_ECN : 0);
		h->gso_size = vhk_le16_make(m->gso_size);
		h->hdr_len = vhk_le16_make(m->hlen);
	}
}

/* ---- checksums */

uint32_t vhk_csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t s = sum;

	while (len >= 8) {
		uint32_t w[2];

		memcpy(w, b, 8);
		s += (uint64_t)w[0] + w[1];
		b += 8;
		len -= 8;
	}
	while (len >= 2) {
		uint16_t w;

		memcpy(&w, b, 2);
		s += w;
		b += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;

		memcpy(&w, b, 1);	/* memory order: byte, then zero */
		s += w;
	}
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t vhk_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Store the complement of @sum at @p; 0 becomes 0xffff (same value in
 * ones' complement, and the only legal form for UDP). */
static void put_csum(uint8_t *p, uint32_t sum)
{
	uint16_t c = (uint16_t)~vhk_csum_fold(sum);

	if (c == 0)
		c = 0xffff;
	memcpy(p, &c, 2);
}

void vhk_net_csum_finish(uint8_t *frame, size_t len,
			 const struct vhk_net_meta *m)
{
	uint8_t *field = frame + m->csum_start + m->csum_offset;

	if (!m->needs_csum)
		return;
	put_csum(field, vhk_csum_add(0, frame + m->csum_start,
				     len - m->csum_start));
}

/* ---- segmentation */

static uint32_t pseudo_sum(const uint8_t *f, const struct vhk_net_meta *m,
			   size_t l4len, uint8_t proto)
{
	uint8_t tail[8] = { 0 };
	uint32_t sum;

	if (f[m->l3] >> 4 == 4) {
		sum = vhk_csum_add(0, f + m->l3 + 12, 8);
		tail[1] = proto;
		put_be16(tail + 2, (uint16_t)l4len);
		return vhk_csum_add(sum, tail, 4);
	}
	sum = vhk_csum_add(0, f + m->l3 + 8, 32);
	put_be32(tail, (uint32_t)l4len);
	tail[7] = proto;
	return vhk_csum_add(sum, tail, 8);
}

int vhk_net_segment(const uint8_t *frame, size_t len,
		    const struct vhk_net_meta *m, uint8_t *scratch,
		    int (*emit)(void *arg, const uint8_t *seg, size_t len),
		    void *arg)
{
	bool v4, udp = m->gso_type == VHK_NET_HDR_GSO_UDP_L4;
	size_t hl = m->hlen, payload, off = 0;
	uint32_t seq0 = 0;
	uint16_t id0 = 0;
	unsigned int i = 0;

	if (m->gso_type == VHK_NET_HDR_GSO_NONE || !m->gso_size || !hl ||
	    hl > len)
		return -EINVAL;
	v4 = frame[m->l3] >> 4 == 4;
	payload = len - hl;
	if (!udp)
		seq0 = be32_at(frame + m->l4 + 4);
	if (v4)
		id0 = be16_at(frame + m->l3 + 4);
	do {
		size_t plen = VHK_MIN((size_t)m->gso_size, payload - off);
		size_t seglen = hl + plen, l4len = seglen - m->l4;
		bool last = off + plen >= payload;
		uint8_t *l3 = scratch + m->l3, *l4 = scratch + m->l4;
		int rc;

		memcpy(scratch, frame, hl);
		memcpy(scratch + hl, frame + hl + off, plen);
		if (v4) {
			size_t ihl = (size_t)(l3[0] & 15) * 4;

			put_be16(l3 + 2, (uint16_t)(seglen - m->l3));
			put_be16(l3 + 4, (uint16_t)(id0 + i));
			put_be16(l3 + 10, 0);
			put_csum(l3 + 10, vhk_csum_add(0, l3, ihl));
		} else {
			put_be16(l3 + 4, (uint16_t)(seglen - m->l3 - 40));
		}
		if (udp) {
			put_be16(l4 + 4, (uint16_t)l4len);
			put_be16(l4 + 6, 0);
			put_csum(l4 + 6, vhk_csum_add(pseudo_sum(scratch, m,
					l4len, IPPROTO_UDP_), l4, l4len));
		} else {
			put_be32(l4 + 4, seq0 + (uint32_t)off);
			if (!last)
				l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
			if (i > 0)
				l4[13] &= (uint8_t)~TCP_CWR;
			put_be16(l4 + 16, 0);
			put_csum(l4 + 16, vhk_csum_add(pseudo_sum(scratch, m,
					l4len, IPPROTO_TCP_), l4, l4len));
		}
		rc = emit(arg, scratch, seglen);
		if (rc)
			return rc;
		off += plen;
		i++;
	} while (off < payload);
	return 0;
}
