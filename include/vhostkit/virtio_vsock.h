/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/virtio_vsock.h - the virtio socket device's wire format
 * (VIRTIO 1.2, 5.10 "Socket Device"): the one definition used by the
 * device (src/dev/vsock), the userspace driver and the tests.
 *
 * Everything a guest or driver shares is little-endian (vhk_le* fields,
 * read with vhk_leNN_get()).  Structures are packed and their sizes and
 * offsets are checked at compile time against the spec's layout.
 *
 * Feature bits are numbers in vhostkit/features.h:
 *   VHK_VSOCK_F_STREAM (0), VHK_VSOCK_F_SEQPACKET (1)   (VIRTIO 1.2, 5.10.3)
 * test them with vhk_has_feature().  A device that offers neither supports
 * stream sockets only (VIRTIO 1.2, 5.10.3).
 */
#ifndef VHOSTKIT_VIRTIO_VSOCK_H
#define VHOSTKIT_VIRTIO_VSOCK_H

#include "vhostkit/api.h"
#include <stddef.h>
#include "vhostkit/features.h"

#ifdef __cplusplus
extern "C" {
#endif

_Static_assert(VHK_VSOCK_F_STREAM == 0, "VIRTIO_VSOCK_F_STREAM is bit 0");
_Static_assert(VHK_VSOCK_F_SEQPACKET == 1, "VIRTIO_VSOCK_F_SEQPACKET is bit 1");

/* Virtqueues (VIRTIO 1.2, 5.10.2). */
#define VHK_VSOCK_VQ_RX		0	/* device -> driver packets */
#define VHK_VSOCK_VQ_TX		1	/* driver -> device packets */
#define VHK_VSOCK_VQ_EVENT	2	/* device -> driver events */
#define VHK_VSOCK_NUM_VQS	3

/*
 * Well-known and reserved context ids (VIRTIO 1.2, 5.10.4: 0, 1 and
 * 0xffffffff are reserved, 2 is the host; a guest_cid MUST NOT be one of
 * them, 5.10.6.4).  CIDs are 32-bit: the upper 32 bits of every le64 CID
 * field are reserved and zero.
 */
#define VHK_VSOCK_CID_HYPERVISOR	0u
#define VHK_VSOCK_CID_LOCAL		1u
#define VHK_VSOCK_CID_HOST		2u
#define VHK_VSOCK_CID_ANY		0xffffffffu
#define VHK_VSOCK_PORT_ANY		0xffffffffu

/* Device configuration layout (VIRTIO 1.2, 5.10.4). */
struct vhk_vsock_config {
	vhk_le64 guest_cid;
} __attribute__((packed));
_Static_assert(sizeof(struct vhk_vsock_config) == 8, "virtio_vsock_config");
_Static_assert(offsetof(struct vhk_vsock_config, guest_cid) == 0, "guest_cid");

/*
 * Packet header (VIRTIO 1.2, 5.10.6): every packet on rx and tx starts
 * with these 44 bytes, followed by @len bytes of payload (RW only).
 */
struct vhk_vsock_hdr {
	vhk_le64 src_cid;
	vhk_le64 dst_cid;
	vhk_le32 src_port;
	vhk_le32 dst_port;
	vhk_le32 len;		/* payload bytes after the header */
	vhk_le16 type;		/* VHK_VSOCK_TYPE_* */
	vhk_le16 op;		/* VHK_VSOCK_OP_* */
	vhk_le32 flags;		/* SHUTDOWN: VHK_VSOCK_SHUTDOWN_*; RW+SEQPACKET: VHK_VSOCK_SEQ_* */
	vhk_le32 buf_alloc;	/* sender's receive buffer size (credit) */
	vhk_le32 fwd_cnt;	/* bytes the sender consumed (free-running) */
} __attribute__((packed));

#define VHK_VSOCK_HDR_SIZE	44
_Static_assert(sizeof(struct vhk_vsock_hdr) == VHK_VSOCK_HDR_SIZE,
	       "virtio_vsock_hdr is 44 bytes");
_Static_assert(offsetof(struct vhk_vsock_hdr, src_cid) == 0, "src_cid");
_Static_assert(offsetof(struct vhk_vsock_hdr, dst_cid) == 8, "dst_cid");
_Static_assert(offsetof(struct vhk_vsock_hdr, src_port) == 16, "src_port");
_Static_assert(offsetof(struct vhk_vsock_hdr, dst_port) == 20, "dst_port");
_Static_assert(offsetof(struct vhk_vsock_hdr, len) == 24, "len");
_Static_assert(offsetof(struct vhk_vsock_hdr, type) == 28, "type");
_Static_assert(offsetof(struct vhk_vsock_hdr, op) == 30, "op");
_Static_assert(offsetof(struct vhk_vsock_hdr, flags) == 32, "flags");
_Static_assert(offsetof(struct vhk_vsock_hdr, buf_alloc) == 36, "buf_alloc");
_Static_assert(offsetof(struct vhk_vsock_hdr, fwd_cnt) == 40, "fwd_cnt");

/* Socket types (VIRTIO 1.2, 5.10.6.2). */
#define VHK_VSOCK_TYPE_STREAM		1
#define VHK_VSOCK_TYPE_SEQPACKET	2

/* Operations (VIRTIO 1.2, 5.10.6). */
#define VHK_VSOCK_OP_INVALID		0
#define VHK_VSOCK_OP_REQUEST		1	/* connect */
#define VHK_VSOCK_OP_RESPONSE		2	/* accept */
#define VHK_VSOCK_OP_RST		3	/* refuse / abort */
#define VHK_VSOCK_OP_SHUTDOWN		4	/* flags: which side(s) close */
#define VHK_VSOCK_OP_RW			5	/* payload */
#define VHK_VSOCK_OP_CREDIT_UPDATE	6	/* buf_alloc / fwd_cnt changed */
#define VHK_VSOCK_OP_CREDIT_REQUEST	7	/* please send CREDIT_UPDATE */
#define VHK_VSOCK_OP_MAX		VHK_VSOCK_OP_CREDIT_REQUEST

/*
 * SHUTDOWN flags (VIRTIO 1.2, 5.10.6.5): the SENDER will receive (RCV) /
 * send (SEND) no more data.  Each is honoured separately (half-close).
 */
#define VHK_VSOCK_SHUTDOWN_RCV		(1u << 0)
#define VHK_VSOCK_SHUTDOWN_SEND		(1u << 1)
#define VHK_VSOCK_SHUTDOWN_MASK		(VHK_VSOCK_SHUTDOWN_RCV | VHK_VSOCK_SHUTDOWN_SEND)

/*
 * SEQPACKET RW flags (VIRTIO 1.2, 5.10.6.6.1): EOM marks the last packet of
 * a message, EOR additionally the end of a record (MSG_EOR).
 */
#define VHK_VSOCK_SEQ_EOM		(1u << 0)
#define VHK_VSOCK_SEQ_EOR		(1u << 1)
#define VHK_VSOCK_SEQ_MASK		(VHK_VSOCK_SEQ_EOM | VHK_VSOCK_SEQ_EOR)

/* The event queue's buffers (VIRTIO 1.2, 5.10.6.7). */
struct vhk_vsock_event {
	vhk_le32 id;		/* VHK_VSOCK_EVENT_* */
} __attribute__((packed));
_Static_assert(sizeof(struct vhk_vsock_event) == 4, "virtio_vsock_event");
_Static_assert(offsetof(struct vhk_vsock_event, id) == 0, "event id");

/*
 * TRANSPORT_RESET: the device lost every connection (reset, migration,
 * back-end restart); the driver resets every socket and re-reads guest_cid
 * (VIRTIO 1.2, 5.10.6.7).
 */
#define VHK_VSOCK_EVENT_TRANSPORT_RESET	0

/*
 * Credit (VIRTIO 1.2, 5.10.6.3): a sender may transmit at most
 *	peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt)
 * bytes, where tx_cnt counts the payload bytes it sent and peer_buf_alloc /
 * peer_fwd_cnt are the latest values from the peer's headers.  All
 * counters are free-running 32-bit values (wrap-around arithmetic).
 */
static inline uint32_t vhk_vsock_peer_free(uint32_t peer_buf_alloc,
					   uint32_t peer_fwd_cnt,
					   uint32_t tx_cnt)
{
	uint32_t in_flight = tx_cnt - peer_fwd_cnt;

	/* A peer that shrank buf_alloc below what is in flight: no credit. */
	return in_flight > peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VIRTIO_VSOCK_H */
