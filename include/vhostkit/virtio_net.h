/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/virtio_net.h - the virtio-net wire format (VIRTIO 1.2, 5.1):
 * the per-packet header, its flag and GSO-type values, the configuration
 * space and the control-queue constants.  The one definition in vhostkit;
 * the device (src/dev/net), the userspace driver and the tests include it.
 *
 * Every field is little-endian (VERSION_1 devices only): read and write them
 * through vhk_le16_get() / vhk_le16_make().  Feature bit NUMBERS live in
 * vhostkit/features.h (VHK_NET_F_*) and are tested with vhk_has_feature().
 */
#ifndef VHOSTKIT_VIRTIO_NET_H
#define VHOSTKIT_VIRTIO_NET_H

#include "vhostkit/api.h"
#include <stddef.h>
#include "vhostkit/features.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct virtio_net_hdr (VIRTIO 1.2, 5.1.6).  With VERSION_1 the header
 * always carries num_buffers (12 bytes), with or without MRG_RXBUF; the
 * hash-report fields exist only with VIRTIO_NET_F_HASH_REPORT (not offered
 * by vhostkit).
 */
struct vhk_net_hdr {
	uint8_t flags;		/* VHK_NET_HDR_F_* */
	uint8_t gso_type;	/* VHK_NET_HDR_GSO_*, maybe | ECN */
	vhk_le16 hdr_len;	/* bytes of headers to copy into each segment */
	vhk_le16 gso_size;	/* payload bytes per segment */
	vhk_le16 csum_start;	/* checksum from here ... */
	vhk_le16 csum_offset;	/* ... stored at csum_start + csum_offset */
	vhk_le16 num_buffers;	/* RX with MRG_RXBUF: buffers this packet used */
};
_Static_assert(sizeof(struct vhk_net_hdr) == 12, "virtio_net_hdr size");
_Static_assert(offsetof(struct vhk_net_hdr, flags) == 0, "flags");
_Static_assert(offsetof(struct vhk_net_hdr, gso_type) == 1, "gso_type");
_Static_assert(offsetof(struct vhk_net_hdr, hdr_len) == 2, "hdr_len");
_Static_assert(offsetof(struct vhk_net_hdr, gso_size) == 4, "gso_size");
_Static_assert(offsetof(struct vhk_net_hdr, csum_start) == 6, "csum_start");
_Static_assert(offsetof(struct vhk_net_hdr, csum_offset) == 8, "csum_offset");
_Static_assert(offsetof(struct vhk_net_hdr, num_buffers) == 10, "num_buffers");

/* The header without num_buffers: what a tap with IFF_VNET_HDR uses by
 * default (struct virtio_net_hdr of <linux/virtio_net.h>, 10 bytes). */
#define VHK_NET_HDR_LEGACY_SIZE	10

/* flags (VIRTIO 1.2, 5.1.6) */
#define VHK_NET_HDR_F_NEEDS_CSUM	1	/* partial checksum, see csum_* */
#define VHK_NET_HDR_F_DATA_VALID	2	/* RX: checksum already checked */
#define VHK_NET_HDR_F_RSC_INFO		4	/* RX: RSC_EXT coalescing info */

/* gso_type (VIRTIO 1.2, 5.1.6) */
#define VHK_NET_HDR_GSO_NONE		0
#define VHK_NET_HDR_GSO_TCPV4		1
#define VHK_NET_HDR_GSO_UDP		3	/* UFO, deprecated */
#define VHK_NET_HDR_GSO_TCPV6		4
#define VHK_NET_HDR_GSO_UDP_L4		5	/* USO */
#define VHK_NET_HDR_GSO_ECN		0x80	/* flag: TCP ECN (CWR) set */

/* Configuration space (VIRTIO 1.2, 5.1.4).  Fields after mtu exist only
 * with their features (SPEED_DUPLEX, RSS / HASH_REPORT). */
struct vhk_net_config {
	uint8_t mac[6];			/* VIRTIO_NET_F_MAC */
	vhk_le16 status;		/* VIRTIO_NET_F_STATUS: VHK_NET_S_* */
	vhk_le16 max_virtqueue_pairs;	/* VIRTIO_NET_F_MQ / RSS */
	vhk_le16 mtu;			/* VIRTIO_NET_F_MTU */
	vhk_le32 speed;			/* Mbit/s, SPEED_DUPLEX */
	uint8_t duplex;
	uint8_t rss_max_key_size;
	vhk_le16 rss_max_indirection_table_length;
	vhk_le32 supported_hash_types;
};
_Static_assert(sizeof(struct vhk_net_config) == 24, "virtio_net_config size");
_Static_assert(offsetof(struct vhk_net_config, mac) == 0, "mac");
_Static_assert(offsetof(struct vhk_net_config, status) == 6, "status");
_Static_assert(offsetof(struct vhk_net_config, max_virtqueue_pairs) == 8,
	       "max_virtqueue_pairs");
_Static_assert(offsetof(struct vhk_net_config, mtu) == 10, "mtu");
_Static_assert(offsetof(struct vhk_net_config, speed) == 12, "speed");
_Static_assert(offsetof(struct vhk_net_config, duplex) == 16, "duplex");
_Static_assert(offsetof(struct vhk_net_config, rss_max_key_size) == 17,
	       "rss_max_key_size");
_Static_assert(offsetof(struct vhk_net_config,
			rss_max_indirection_table_length) == 18,
	       "rss_max_indirection_table_length");
_Static_assert(offsetof(struct vhk_net_config, supported_hash_types) == 20,
	       "supported_hash_types");

/* status (VIRTIO 1.2, 5.1.4) */
#define VHK_NET_S_LINK_UP		1
#define VHK_NET_S_ANNOUNCE		2

/* max_virtqueue_pairs range (VIRTIO 1.2, 5.1.4.1) */
#define VHK_NET_MQ_PAIRS_MIN		1
#define VHK_NET_MQ_PAIRS_MAX		0x8000

/* Queue layout (VIRTIO 1.2, 5.1.2): receiveq N = 2N, transmitq N = 2N+1,
 * the control queue last (2 * max_virtqueue_pairs). */
static inline int vhk_net_queue_is_rx(uint16_t idx)
{
	return !(idx & 1);
}

static inline uint16_t vhk_net_queue_pair(uint16_t idx)
{
	return (uint16_t)(idx >> 1);
}

/* Control queue (VIRTIO 1.2, 5.1.6.5): class, command, data, ack byte. */
struct vhk_net_ctrl_hdr {
	uint8_t class_;
	uint8_t cmd;
};
_Static_assert(sizeof(struct vhk_net_ctrl_hdr) == 2, "virtio_net_ctrl_hdr");

#define VHK_NET_OK			0	/* ack values */
#define VHK_NET_ERR			1

#define VHK_NET_CTRL_RX			0
#define  VHK_NET_CTRL_RX_PROMISC	0
#define  VHK_NET_CTRL_RX_ALLMULTI	1
#define VHK_NET_CTRL_MAC		1
#define  VHK_NET_CTRL_MAC_TABLE_SET	0
#define  VHK_NET_CTRL_MAC_ADDR_SET	1
#define VHK_NET_CTRL_VLAN		2
#define VHK_NET_CTRL_ANNOUNCE		3
#define  VHK_NET_CTRL_ANNOUNCE_ACK	0
#define VHK_NET_CTRL_MQ			4
#define  VHK_NET_CTRL_MQ_VQ_PAIRS_SET	0
#define VHK_NET_CTRL_GUEST_OFFLOADS	5
#define  VHK_NET_CTRL_GUEST_OFFLOADS_SET 0

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET payload (VIRTIO 1.2, 5.1.6.5.5). */
struct vhk_net_ctrl_mq {
	vhk_le16 virtqueue_pairs;
};
_Static_assert(sizeof(struct vhk_net_ctrl_mq) == 2, "virtio_net_ctrl_mq");

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VIRTIO_NET_H */
