/* SPDX-License-Identifier: MIT */
/*
 * net_offload.h - virtio-net header validation and software offloads
 * (checksum completion, TCP / UDP segmentation) on flat frames.
 *
 * Pure functions on host buffers: no ring, no socket, no thread.  The TX
 * path copies a guest's virtio_net_hdr once, validates the copy with
 * vhk_net_meta_parse(), and every later step trusts only the struct
 * vhk_net_meta it produced.
 */
#ifndef VHK_DEV_NET_OFFLOAD_H
#define VHK_DEV_NET_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include "vhostkit/virtio_net.h"

#define VHK_ETH_HLEN		14
#define VHK_VLAN_HLEN		4
/* Largest frame the device carries: a 64 KiB IP packet + Ethernet + VLAN. */
#define VHK_NET_MAX_FRAME	(65535 + VHK_ETH_HLEN + VHK_VLAN_HLEN)

/* Why a frame was dropped; every reason has its own counter. */
enum vhk_net_drop {
	VHK_NET_DROP_HDR_SHORT,		/* TX chain without a whole header */
	VHK_NET_DROP_RUNT,		/* frame shorter than an Ethernet header */
	VHK_NET_DROP_TOO_BIG,		/* over MTU (no GSO) or over 64 KiB */
	VHK_NET_DROP_BAD_GSO,		/* gso_size 0, unknown type, not acked */
	VHK_NET_DROP_BAD_CSUM,		/* csum_start / csum_offset past the end */
	VHK_NET_DROP_BAD_HDRLEN,	/* hdr_len past the end */
	VHK_NET_DROP_BAD_L3L4,		/* GSO frame whose headers do not parse */
	VHK_NET_DROP_QUEUE_FULL,	/* destination backlog full (not refilling) */
	VHK_NET_DROP_RX_NO_ROOM,	/* packet larger than the RX buffers */
	VHK_NET_DROP_RX_BAD_BUF,	/* RX buffer too small for a header */
	VHK_NET_DROP_RATE,		/* over the port's rate limit */
	VHK_NET_DROP_NO_PORT,		/* nowhere to go (own port, no peers) */
	VHK_NET_DROP_LINK_DOWN,		/* destination has no peer attached */
	VHK_NET_DROP_NOMEM,		/* allocation failed */
	VHK_NET_DROP_IO,		/* host interface write/read failed */
	VHK_NET_DROP__COUNT
};

/** vhk_net_drop_name - short stable name of @d ("hdr_short" ...). */
const char *vhk_net_drop_name(enum vhk_net_drop d);

/*
 * Validated offload request of one frame, host byte order.  gso_type has
 * the ECN bit split into @ecn.  l3/l4 offsets are set (non-zero) for GSO
 * frames only: they come from parsing the frame, not from the guest.
 */
struct vhk_net_meta {
	uint8_t needs_csum;
	uint8_t gso_type;	/* VHK_NET_HDR_GSO_NONE/TCPV4/TCPV6/UDP_L4 */
	uint8_t ecn;
	uint8_t data_valid;	/* RX side: checksum known good */
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t l3;		/* IP header offset (GSO) */
	uint16_t l4;		/* TCP / UDP header offset (GSO) */
	uint16_t hlen;		/* all headers, L2..L4 (GSO) */
};

/* What a frame's source negotiated (which offloads it may request). */
#define VHK_NET_OFF_CSUM	(1u << 0)
#define VHK_NET_OFF_TSO4	(1u << 1)
#define VHK_NET_OFF_TSO6	(1u << 2)
#define VHK_NET_OFF_ECN		(1u << 3)
#define VHK_NET_OFF_USO		(1u << 4)

/**
 * vhk_net_meta_parse - validate the header copy @h of a @len-byte frame
 * @frame from a source allowed @allowed (VHK_NET_OFF_*) with link MTU
 * @mtu, per VIRTIO 1.2, 5.1.6.2.  Returns 0 and fills @m, or
 * -(int)VHK_NET_DROP_* - 1 (use vhk_net_drop_of()) naming the reason.
 */
int vhk_net_meta_parse(const struct vhk_net_hdr *h, const uint8_t *frame,
		       size_t len, unsigned int allowed, uint16_t mtu,
		       struct vhk_net_meta *m);

/** vhk_net_drop_of - the drop reason of a negative vhk_net_meta_parse(). */
static inline enum vhk_net_drop vhk_net_drop_of(int rc)
{
	return (enum vhk_net_drop)(-rc - 1);
}

/** vhk_net_meta_to_hdr - the virtio_net_hdr describing @m (num_buffers 0). */
void vhk_net_meta_to_hdr(const struct vhk_net_meta *m, struct vhk_net_hdr *h);

/** vhk_net_offloads_needed - VHK_NET_OFF_* bits a receiver needs for @m
 * (inline: the switch asks for every frame, and most need none). */
static inline unsigned int vhk_net_offloads_needed(const struct vhk_net_meta *m)
{
	unsigned int need = m->needs_csum ? VHK_NET_OFF_CSUM : 0;

	switch (m->gso_type) {
	case VHK_NET_HDR_GSO_TCPV4:
		need |= VHK_NET_OFF_TSO4;
		break;
	case VHK_NET_HDR_GSO_TCPV6:
		need |= VHK_NET_OFF_TSO6;
		break;
	case VHK_NET_HDR_GSO_UDP_L4:
		need |= VHK_NET_OFF_USO;
		break;
	default:
		break;
	}
	if (m->ecn)
		need |= VHK_NET_OFF_ECN;
	return need;
}

/* ---- Internet checksum (RFC 1071) */

/** vhk_csum_add - add @len bytes at @p to the 32-bit partial sum @sum.
 *  Only the last chunk of a sum may have an odd length. */
uint32_t vhk_csum_add(uint32_t sum, const void *p, size_t len);

/** vhk_csum_fold - fold @sum to 16 bits (not complemented). */
uint16_t vhk_csum_fold(uint32_t sum);

/**
 * vhk_net_csum_finish - complete a NEEDS_CSUM frame in place: the ones'
 * complement of the sum from csum_start to the end is stored at
 * csum_start + csum_offset (the driver seeded the field with the pseudo
 * header, VIRTIO 1.2, 5.1.6.2).  @m must come from vhk_net_meta_parse().
 */
void vhk_net_csum_finish(uint8_t *frame, size_t len,
			 const struct vhk_net_meta *m);

/**
 * vhk_net_segment - cut a GSO frame into wire frames of at most
 * hlen + gso_size bytes with complete IP and L4 checksums.  Each segment
 * is built in @scratch (at least hlen + gso_size bytes) and handed to
 * @emit; a non-zero return from @emit stops and is returned.
 * Returns 0, or -EINVAL if @m is not a GSO request.
 */
int vhk_net_segment(const uint8_t *frame, size_t len,
		    const struct vhk_net_meta *m, uint8_t *scratch,
		    int (*emit)(void *arg, const uint8_t *seg, size_t len),
		    void *arg);

#endif /* VHK_DEV_NET_OFFLOAD_H */
