/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/features.h - the feature model: every virtio feature bit and every
 * vhost-user protocol feature bit with one owner and one meaning (the words
 * - owner, meaning, spec section - are the library's internal feature
 * table, shown by "vhostkit features explain").
 *
 * All VHK_*_F_* names are bit NUMBERS.  Test them with vhk_has_feature().
 */
#ifndef VHOSTKIT_FEATURES_H
#define VHOSTKIT_FEATURES_H

#include "vhostkit/api.h"
#include <stdio.h>
#include "vhostkit/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Virtio device IDs (VIRTIO 1.2, 5 "Device Types"). */
enum vhk_device_type {
	VHK_DEV_ANY = 0,	/* for lookups: transport/platform bits only */
	VHK_DEV_NET = 1,
	VHK_DEV_BLK = 2,
	VHK_DEV_VSOCK = 19,
};

/* Transport / reserved feature bits (VIRTIO 1.2, 6 "Reserved Feature Bits"). */
#define VHK_F_NOTIFY_ON_EMPTY		24
#define VHK_F_LOG_ALL			26 /* vhost: log every write (migration) */
#define VHK_F_ANY_LAYOUT		27
#define VHK_F_INDIRECT_DESC		28
#define VHK_F_EVENT_IDX			29
#define VHK_F_PROTOCOL_FEATURES		30 /* vhost-user only, never to a guest */
#define VHK_F_VERSION_1			32
#define VHK_F_ACCESS_PLATFORM		33 /* owner: platform */
#define VHK_F_RING_PACKED		34
#define VHK_F_IN_ORDER			35
#define VHK_F_ORDER_PLATFORM		36
#define VHK_F_SR_IOV			37
#define VHK_F_NOTIFICATION_DATA		38
#define VHK_F_NOTIF_CONFIG_DATA		39
#define VHK_F_RING_RESET		40
#define VHK_F_ADMIN_VQ			41

/* Block device bits (VIRTIO 1.2, 5.2.3). */
#define VHK_BLK_F_SIZE_MAX		1
#define VHK_BLK_F_SEG_MAX		2
#define VHK_BLK_F_GEOMETRY		4
#define VHK_BLK_F_RO			5
#define VHK_BLK_F_BLK_SIZE		6
#define VHK_BLK_F_FLUSH			9
#define VHK_BLK_F_TOPOLOGY		10
#define VHK_BLK_F_CONFIG_WCE		11
#define VHK_BLK_F_MQ			12
#define VHK_BLK_F_DISCARD		13
#define VHK_BLK_F_WRITE_ZEROES		14
#define VHK_BLK_F_LIFETIME		15
#define VHK_BLK_F_SECURE_ERASE		16
#define VHK_BLK_F_ZONED			17

/* Network device bits (VIRTIO 1.2, 5.1.3). */
#define VHK_NET_F_CSUM			0
#define VHK_NET_F_GUEST_CSUM		1
#define VHK_NET_F_CTRL_GUEST_OFFLOADS	2
#define VHK_NET_F_MTU			3
#define VHK_NET_F_MAC			5
#define VHK_NET_F_GUEST_TSO4		7
#define VHK_NET_F_GUEST_TSO6		8
#define VHK_NET_F_GUEST_ECN		9
#define VHK_NET_F_GUEST_UFO		10
#define VHK_NET_F_HOST_TSO4		11
#define VHK_NET_F_HOST_TSO6		12
#define VHK_NET_F_HOST_ECN		13
#define VHK_NET_F_HOST_UFO		14
#define VHK_NET_F_MRG_RXBUF		15
#define VHK_NET_F_STATUS		16
#define VHK_NET_F_CTRL_VQ		17
#define VHK_NET_F_CTRL_RX		18
#define VHK_NET_F_CTRL_VLAN		19
#define VHK_NET_F_GUEST_ANNOUNCE	21
#define VHK_NET_F_MQ			22
#define VHK_NET_F_CTRL_MAC_ADDR		23
#define VHK_NET_F_GSO			6  /* legacy, never offered */
#define VHK_NET_F_CTRL_RX_EXTRA		20
#define VHK_NET_F_GUEST_USO4		54
#define VHK_NET_F_GUEST_USO6		55
#define VHK_NET_F_HOST_USO		56
#define VHK_NET_F_HASH_REPORT		57
#define VHK_NET_F_SPEED_DUPLEX		63

/* Socket (vsock) device bits (VIRTIO 1.2, 5.10.3). */
#define VHK_VSOCK_F_STREAM		0
#define VHK_VSOCK_F_SEQPACKET		1

/* vhost-user protocol feature bits (vhost-user spec, "Protocol features"). */
#define VHK_PROTO_F_MQ				0
#define VHK_PROTO_F_LOG_SHMFD			1
#define VHK_PROTO_F_RARP			2
#define VHK_PROTO_F_REPLY_ACK			3
#define VHK_PROTO_F_NET_MTU			4
#define VHK_PROTO_F_BACKEND_REQ			5
#define VHK_PROTO_F_CROSS_ENDIAN		6
#define VHK_PROTO_F_CRYPTO_SESSION		7
#define VHK_PROTO_F_PAGEFAULT			8
#define VHK_PROTO_F_CONFIG			9
#define VHK_PROTO_F_BACKEND_SEND_FD		10
#define VHK_PROTO_F_HOST_NOTIFIER		11
#define VHK_PROTO_F_INFLIGHT_SHMFD		12
#define VHK_PROTO_F_RESET_DEVICE		13
#define VHK_PROTO_F_INBAND_NOTIFICATIONS	14
#define VHK_PROTO_F_CONFIGURE_MEM_SLOTS		15
#define VHK_PROTO_F_STATUS			16
#define VHK_PROTO_F_XEN_MMAP			17
#define VHK_PROTO_F_SHARED_OBJECT		18
#define VHK_PROTO_F_DEVICE_STATE		19
/*
 * vhostkit's experimental bit: IOTLB entries are platform state and survive
 * a device reset (twin of vhost-vdpa's VHOST_BACKEND_F_IOTLB_PERSIST).
 * A front-end that does not ack it sees "reset flushes the IOTLB".
 */
#define VHK_PROTO_F_IOTLB_PERSIST		63

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_FEATURES_H */
