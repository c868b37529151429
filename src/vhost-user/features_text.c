/* SPDX-License-Identifier: MIT */
/*
 * features_text.c - what feature bits mean: one table of virtio feature
 * bits (owner, meaning, spec section) and one of vhost-user protocol
 * feature bits (vhostkit/features_text.h).  The bit numbers are in
 * vhostkit/features.h.
 *
 * Spec sections are VIRTIO 1.2 (cs01) unless a row says otherwise, and the
 * QEMU vhost-user specification (docs/interop/vhost-user.rst) for the
 * protocol table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhostkit/features_text.h"

#define T VHK_OWNER_TRANSPORT
#define P VHK_OWNER_PLATFORM
#define U VHK_OWNER_VHOST_USER
#define D VHK_OWNER_DEVICE

/*
 * Every virtio feature bit vhostkit knows, with exactly one owner.
 * Transport/platform/vhost-user rows have device VHK_DEV_ANY; device rows
 * name their device type.  Ordered by device, then bit.
 */
static const struct vhk_feature_info feature_table[] = {
	/* Transport, platform and vhost-user bits: VIRTIO 1.2, 6. */
	{ VHK_F_NOTIFY_ON_EMPTY, "VIRTIO_F_NOTIFY_ON_EMPTY", T, VHK_DEV_ANY,
	  "legacy: notify the driver when a queue runs empty",
	  "virtio 1.2, 6.3" },
	{ VHK_F_LOG_ALL, "VHOST_F_LOG_ALL", U, VHK_DEV_ANY,
	  "vhost: log every guest page the back-end writes into the dirty "
	  "log (live migration); toggled while rings run",
	  "vhost-user, Migration" },
	{ VHK_F_ANY_LAYOUT, "VIRTIO_F_ANY_LAYOUT", T, VHK_DEV_ANY,
	  "legacy: device makes no assumption about descriptor framing",
	  "virtio 1.2, 2.7.4.3, 6.3" },
	{ VHK_F_INDIRECT_DESC, "VIRTIO_F_INDIRECT_DESC", T, VHK_DEV_ANY,
	  "driver may use indirect descriptor tables",
	  "virtio 1.2, 2.7.5.3, 2.8.7, 6" },
	{ VHK_F_EVENT_IDX, "VIRTIO_F_EVENT_IDX", T, VHK_DEV_ANY,
	  "used_event/avail_event index based notification suppression",
	  "virtio 1.2, 2.7.7, 2.7.10, 6" },
	{ VHK_F_PROTOCOL_FEATURES, "VHOST_USER_F_PROTOCOL_FEATURES", U,
	  VHK_DEV_ANY,
	  "vhost-user: back-end supports GET/SET_PROTOCOL_FEATURES; "
	  "plumbing between front-end and back-end, never shown to a guest",
	  "vhost-user, Protocol features" },
	{ VHK_F_VERSION_1, "VIRTIO_F_VERSION_1", T, VHK_DEV_ANY,
	  "compliant with VIRTIO 1.x (little-endian, modern layout)",
	  "virtio 1.2, 6" },
	{ VHK_F_ACCESS_PLATFORM, "VIRTIO_F_ACCESS_PLATFORM", P, VHK_DEV_ANY,
	  "driver reading: use the platform DMA API, addresses may be "
	  "translated or limited (IOMMU, swiotlb/restricted DMA); vhost "
	  "reading: switch the device IOTLB on (IOVA -> UVA)",
	  "virtio 1.2, 6; vhost-user, IOMMU support" },
	{ VHK_F_RING_PACKED, "VIRTIO_F_RING_PACKED", T, VHK_DEV_ANY,
	  "packed virtqueue layout",
	  "virtio 1.2, 2.8, 6" },
	{ VHK_F_IN_ORDER, "VIRTIO_F_IN_ORDER", T, VHK_DEV_ANY,
	  "buffers are used in the order they were made available",
	  "virtio 1.2, 2.7.9, 2.8.8, 6" },
	{ VHK_F_ORDER_PLATFORM, "VIRTIO_F_ORDER_PLATFORM", T, VHK_DEV_ANY,
	  "memory accesses ordered as the platform requires (hardware "
	  "barriers, not SMP barriers)",
	  "virtio 1.2, 6" },
	{ VHK_F_SR_IOV, "VIRTIO_F_SR_IOV", T, VHK_DEV_ANY,
	  "device supports PCI single-root I/O virtualization",
	  "virtio 1.2, 6" },
	{ VHK_F_NOTIFICATION_DATA, "VIRTIO_F_NOTIFICATION_DATA", T,
	  VHK_DEV_ANY,
	  "driver passes extra data (ring position) in device notifications",
	  "virtio 1.2, 2.9, 6" },
	{ VHK_F_NOTIF_CONFIG_DATA, "VIRTIO_F_NOTIF_CONFIG_DATA", T,
	  VHK_DEV_ANY,
	  "driver uses a device-provided value (queue_notify_data) in "
	  "notifications",
	  "virtio 1.2, 6" },
	{ VHK_F_RING_RESET, "VIRTIO_F_RING_RESET", T, VHK_DEV_ANY,
	  "driver can reset and re-enable one queue individually",
	  "virtio 1.2, 2.6.1, 6" },
	{ VHK_F_ADMIN_VQ, "VIRTIO_F_ADMIN_VQ", T, VHK_DEV_ANY,
	  "device exposes an administration virtqueue",
	  "virtio 1.3, 2.12, 6 (not in 1.2)" },

	/* Network device: VIRTIO 1.2, 5.1.3. */
	{ VHK_NET_F_CSUM, "VIRTIO_NET_F_CSUM", D, VHK_DEV_NET,
	  "device handles packets with partial checksum (tx offload)",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_GUEST_CSUM, "VIRTIO_NET_F_GUEST_CSUM", D, VHK_DEV_NET,
	  "driver handles packets with partial checksum (rx offload)",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_CTRL_GUEST_OFFLOADS, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS", D,
	  VHK_DEV_NET, "control channel can reconfigure rx offloads",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_MTU, "VIRTIO_NET_F_MTU", D, VHK_DEV_NET,
	  "device reports its maximum MTU in config space",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_MAC, "VIRTIO_NET_F_MAC", D, VHK_DEV_NET,
	  "device has a MAC address in config space",
	  "virtio 1.2, 5.1.3" },
	{ 6, "VIRTIO_NET_F_GSO", D, VHK_DEV_NET,
	  "legacy: device handles packets with any GSO type",
	  "virtio 1.2, 5.1.3.2" },
	{ VHK_NET_F_GUEST_TSO4, "VIRTIO_NET_F_GUEST_TSO4", D, VHK_DEV_NET,
	  "driver can receive TSOv4", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_GUEST_TSO6, "VIRTIO_NET_F_GUEST_TSO6", D, VHK_DEV_NET,
	  "driver can receive TSOv6", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_GUEST_ECN, "VIRTIO_NET_F_GUEST_ECN", D, VHK_DEV_NET,
	  "driver can receive TSO with ECN", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_GUEST_UFO, "VIRTIO_NET_F_GUEST_UFO", D, VHK_DEV_NET,
	  "driver can receive UFO", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_HOST_TSO4, "VIRTIO_NET_F_HOST_TSO4", D, VHK_DEV_NET,
	  "device can receive TSOv4 from the driver", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_HOST_TSO6, "VIRTIO_NET_F_HOST_TSO6", D, VHK_DEV_NET,
	  "device can receive TSOv6 from the driver", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_HOST_ECN, "VIRTIO_NET_F_HOST_ECN", D, VHK_DEV_NET,
	  "device can receive TSO with ECN", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_HOST_UFO, "VIRTIO_NET_F_HOST_UFO", D, VHK_DEV_NET,
	  "device can receive UFO", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_MRG_RXBUF, "VIRTIO_NET_F_MRG_RXBUF", D, VHK_DEV_NET,
	  "driver can merge receive buffers (num_buffers in the header)",
	  "virtio 1.2, 5.1.3, 5.1.6.3" },
	{ VHK_NET_F_STATUS, "VIRTIO_NET_F_STATUS", D, VHK_DEV_NET,
	  "config space status field (link up, announce) is valid",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_CTRL_VQ, "VIRTIO_NET_F_CTRL_VQ", D, VHK_DEV_NET,
	  "control virtqueue is available", "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_CTRL_RX, "VIRTIO_NET_F_CTRL_RX", D, VHK_DEV_NET,
	  "control channel rx mode (promiscuous, all-multicast)",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_CTRL_VLAN, "VIRTIO_NET_F_CTRL_VLAN", D, VHK_DEV_NET,
	  "control channel VLAN filtering", "virtio 1.2, 5.1.3" },
	{ 20, "VIRTIO_NET_F_CTRL_RX_EXTRA", D, VHK_DEV_NET,
	  "control channel extra rx modes (no unicast, no broadcast...)",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_GUEST_ANNOUNCE, "VIRTIO_NET_F_GUEST_ANNOUNCE", D,
	  VHK_DEV_NET, "driver can send gratuitous packets on request",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_MQ, "VIRTIO_NET_F_MQ", D, VHK_DEV_NET,
	  "multiqueue with automatic receive steering",
	  "virtio 1.2, 5.1.3" },
	{ VHK_NET_F_CTRL_MAC_ADDR, "VIRTIO_NET_F_CTRL_MAC_ADDR", D,
	  VHK_DEV_NET, "control channel can set the MAC address",
	  "virtio 1.2, 5.1.3" },
	{ 52, "VIRTIO_NET_F_VQ_NOTF_COAL", D, VHK_DEV_NET,
	  "per-virtqueue notification coalescing",
	  "virtio 1.3, 5.1.3 (not in 1.2)" },
	{ 53, "VIRTIO_NET_F_NOTF_COAL", D, VHK_DEV_NET,
	  "device-wide notification coalescing", "virtio 1.2, 5.1.3" },
	{ 54, "VIRTIO_NET_F_GUEST_USO4", D, VHK_DEV_NET,
	  "driver can receive USOv4", "virtio 1.2, 5.1.3" },
	{ 55, "VIRTIO_NET_F_GUEST_USO6", D, VHK_DEV_NET,
	  "driver can receive USOv6", "virtio 1.2, 5.1.3" },
	{ 56, "VIRTIO_NET_F_HOST_USO", D, VHK_DEV_NET,
	  "device can receive USO from the driver", "virtio 1.2, 5.1.3" },
	{ 57, "VIRTIO_NET_F_HASH_REPORT", D, VHK_DEV_NET,
	  "device reports a hash value and type per packet",
	  "virtio 1.2, 5.1.3" },
	{ 59, "VIRTIO_NET_F_GUEST_HDRLEN", D, VHK_DEV_NET,
	  "driver provides the exact hdr_len value", "virtio 1.2, 5.1.3" },
	{ 60, "VIRTIO_NET_F_RSS", D, VHK_DEV_NET,
	  "receive side scaling", "virtio 1.2, 5.1.3" },
	{ 61, "VIRTIO_NET_F_RSC_EXT", D, VHK_DEV_NET,
	  "device reports coalesced receive segments", "virtio 1.2, 5.1.3" },
	{ 62, "VIRTIO_NET_F_STANDBY", D, VHK_DEV_NET,
	  "device is a standby for a primary device with the same MAC",
	  "virtio 1.2, 5.1.3" },
	{ 63, "VIRTIO_NET_F_SPEED_DUPLEX", D, VHK_DEV_NET,
	  "device reports link speed and duplex", "virtio 1.2, 5.1.3" },

	/* Block device: VIRTIO 1.2, 5.2.3. */
	{ 0, "VIRTIO_BLK_F_BARRIER", D, VHK_DEV_BLK,
	  "legacy: device supports request barriers",
	  "virtio 1.2, 5.2.3.1" },
	{ VHK_BLK_F_SIZE_MAX, "VIRTIO_BLK_F_SIZE_MAX", D, VHK_DEV_BLK,
	  "maximum size of any single segment is in size_max",
	  "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_SEG_MAX, "VIRTIO_BLK_F_SEG_MAX", D, VHK_DEV_BLK,
	  "maximum number of segments in a request is in seg_max",
	  "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_GEOMETRY, "VIRTIO_BLK_F_GEOMETRY", D, VHK_DEV_BLK,
	  "disk-style geometry is in geometry", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_RO, "VIRTIO_BLK_F_RO", D, VHK_DEV_BLK,
	  "device is read-only", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_BLK_SIZE, "VIRTIO_BLK_F_BLK_SIZE", D, VHK_DEV_BLK,
	  "block size of the disk is in blk_size", "virtio 1.2, 5.2.3" },
	{ 7, "VIRTIO_BLK_F_SCSI", D, VHK_DEV_BLK,
	  "legacy: device supports SCSI packet commands",
	  "virtio 1.2, 5.2.3.1" },
	{ VHK_BLK_F_FLUSH, "VIRTIO_BLK_F_FLUSH", D, VHK_DEV_BLK,
	  "cache flush command support", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_TOPOLOGY, "VIRTIO_BLK_F_TOPOLOGY", D, VHK_DEV_BLK,
	  "optimal I/O alignment information is in config space",
	  "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_CONFIG_WCE, "VIRTIO_BLK_F_CONFIG_WCE", D, VHK_DEV_BLK,
	  "driver can toggle writeback/writethrough cache mode",
	  "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_MQ, "VIRTIO_BLK_F_MQ", D, VHK_DEV_BLK,
	  "multiple request queues (num_queues)", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_DISCARD, "VIRTIO_BLK_F_DISCARD", D, VHK_DEV_BLK,
	  "discard command support", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_WRITE_ZEROES, "VIRTIO_BLK_F_WRITE_ZEROES", D, VHK_DEV_BLK,
	  "write zeroes command support", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_LIFETIME, "VIRTIO_BLK_F_LIFETIME", D, VHK_DEV_BLK,
	  "device lifetime (wear) information command",
	  "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_SECURE_ERASE, "VIRTIO_BLK_F_SECURE_ERASE", D, VHK_DEV_BLK,
	  "secure erase command support", "virtio 1.2, 5.2.3" },
	{ VHK_BLK_F_ZONED, "VIRTIO_BLK_F_ZONED", D, VHK_DEV_BLK,
	  "device is a zoned block device", "virtio 1.2, 5.2.3" },

	/* Socket device: VIRTIO 1.2, 5.10.3. */
	{ VHK_VSOCK_F_STREAM, "VIRTIO_VSOCK_F_STREAM", D, VHK_DEV_VSOCK,
	  "stream socket type", "virtio 1.2, 5.10.3" },
	{ VHK_VSOCK_F_SEQPACKET, "VIRTIO_VSOCK_F_SEQPACKET", D, VHK_DEV_VSOCK,
	  "seqpacket socket type", "virtio 1.2, 5.10.3" },
	{ 2, "VIRTIO_VSOCK_F_NO_IMPLIED_STREAM", D, VHK_DEV_VSOCK,
	  "stream type only if STREAM is negotiated too",
	  "virtio 1.3, 5.10.3 (not in 1.2)" },
};

#define VU "vhost-user, Protocol features"

/* vhost-user protocol feature bits (QEMU docs/interop/vhost-user.rst). */
static const struct vhk_feature_info protocol_table[] = {
	{ VHK_PROTO_F_MQ, "VHOST_USER_PROTOCOL_F_MQ", U, VHK_DEV_ANY,
	  "back-end reports its queue count (GET_QUEUE_NUM)",
	  "vhost-user, Multiple queue support" },
	{ VHK_PROTO_F_LOG_SHMFD, "VHOST_USER_PROTOCOL_F_LOG_SHMFD", U,
	  VHK_DEV_ANY, "dirty log is shared memory passed by fd (SET_LOG_BASE)",
	  "vhost-user, Migration" },
	{ VHK_PROTO_F_RARP, "VHOST_USER_PROTOCOL_F_RARP", U, VHK_DEV_ANY,
	  "back-end can send a RARP after migration (SEND_RARP)", VU },
	{ VHK_PROTO_F_REPLY_ACK, "VHOST_USER_PROTOCOL_F_REPLY_ACK", U,
	  VHK_DEV_ANY,
	  "front-end may ask for an ack of any message (NEED_REPLY flag)",
	  "vhost-user, REPLY_ACK" },
	{ VHK_PROTO_F_NET_MTU, "VHOST_USER_PROTOCOL_F_NET_MTU", U, VHK_DEV_ANY,
	  "front-end tells the back-end the MTU (NET_SET_MTU)", VU },
	{ VHK_PROTO_F_BACKEND_REQ, "VHOST_USER_PROTOCOL_F_BACKEND_REQ", U,
	  VHK_DEV_ANY,
	  "back-end to front-end channel (SET_BACKEND_REQ_FD): IOTLB misses, "
	  "config change notifications",
	  "vhost-user, Back-end communication" },
	{ VHK_PROTO_F_CROSS_ENDIAN, "VHOST_USER_PROTOCOL_F_CROSS_ENDIAN", U,
	  VHK_DEV_ANY, "legacy rings may be of the other endianness", VU },
	{ VHK_PROTO_F_CRYPTO_SESSION, "VHOST_USER_PROTOCOL_F_CRYPTO_SESSION",
	  U, VHK_DEV_ANY, "crypto session create/close messages", VU },
	{ VHK_PROTO_F_PAGEFAULT, "VHOST_USER_PROTOCOL_F_PAGEFAULT", U,
	  VHK_DEV_ANY, "postcopy migration with userfaultfd (POSTCOPY_*)",
	  "vhost-user, Migration" },
	{ VHK_PROTO_F_CONFIG, "VHOST_USER_PROTOCOL_F_CONFIG", U, VHK_DEV_ANY,
	  "device config space through GET_CONFIG/SET_CONFIG", VU },
	{ VHK_PROTO_F_BACKEND_SEND_FD, "VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD",
	  U, VHK_DEV_ANY, "back-end may pass fds on the back-end channel", VU },
	{ VHK_PROTO_F_HOST_NOTIFIER, "VHOST_USER_PROTOCOL_F_HOST_NOTIFIER", U,
	  VHK_DEV_ANY, "back-end provides notification areas to map", VU },
	{ VHK_PROTO_F_INFLIGHT_SHMFD, "VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD",
	  U, VHK_DEV_ANY,
	  "inflight I/O tracking buffer shared by fd (GET/SET_INFLIGHT_FD)",
	  "vhost-user, Inflight I/O tracking" },
	{ VHK_PROTO_F_RESET_DEVICE, "VHOST_USER_PROTOCOL_F_RESET_DEVICE", U,
	  VHK_DEV_ANY, "RESET_DEVICE message (replaces RESET_OWNER)", VU },
	{ VHK_PROTO_F_INBAND_NOTIFICATIONS,
	  "VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS", U, VHK_DEV_ANY,
	  "kicks and calls as messages instead of eventfds", VU },
	{ VHK_PROTO_F_CONFIGURE_MEM_SLOTS,
	  "VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS", U, VHK_DEV_ANY,
	  "memory regions added/removed one by one (ADD/REM_MEM_REG)", VU },
	{ VHK_PROTO_F_STATUS, "VHOST_USER_PROTOCOL_F_STATUS", U, VHK_DEV_ANY,
	  "device status byte through SET_STATUS/GET_STATUS", VU },
	{ VHK_PROTO_F_XEN_MMAP, "VHOST_USER_PROTOCOL_F_XEN_MMAP", U,
	  VHK_DEV_ANY, "memory regions carry Xen mmap flags", VU },
	{ VHK_PROTO_F_SHARED_OBJECT, "VHOST_USER_PROTOCOL_F_SHARED_OBJECT", U,
	  VHK_DEV_ANY, "virtio shared objects (SHARED_OBJECT_*)", VU },
	{ VHK_PROTO_F_DEVICE_STATE, "VHOST_USER_PROTOCOL_F_DEVICE_STATE", U,
	  VHK_DEV_ANY, "device state transfer for migration",
	  "vhost-user, Migrating back-end state" },
	{ VHK_PROTO_F_IOTLB_PERSIST, "VHOST_USER_PROTOCOL_F_IOTLB_PERSIST", U,
	  VHK_DEV_ANY,
	  "vhostkit experimental: IOTLB entries survive a device reset "
	  "(twin of vhost-vdpa VHOST_BACKEND_F_IOTLB_PERSIST); unacked: "
	  "reset flushes the IOTLB",
	  "vhostkit docs/translation-model.md (not upstream)" },
};

#undef T
#undef P
#undef U
#undef D
#undef VU

/* Bits 24..41 are reserved for the transport (VIRTIO 1.2, 6). */
static bool transport_range(unsigned int bit)
{
	return bit >= 24 && bit <= 41;
}

const struct vhk_feature_info *vhk_feature_lookup(enum vhk_device_type dev,
						  unsigned int bit)
{
	if (bit >= 64)
		return NULL;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(feature_table); i++) {
		const struct vhk_feature_info *f = &feature_table[i];

		if (f->bit != bit)
			continue;
		if (f->owner != VHK_OWNER_DEVICE)
			return f;
		/* Device bits only for their own device type. */
		if (dev != VHK_DEV_ANY && f->device == dev &&
		    !transport_range(bit))
			return f;
	}
	return NULL;
}

const struct vhk_feature_info *vhk_protocol_feature_lookup(unsigned int bit)
{
	for (size_t i = 0; i < VHK_ARRAY_SIZE(protocol_table); i++)
		if (protocol_table[i].bit == bit)
			return &protocol_table[i];
	return NULL;
}

const struct vhk_feature_info *vhk_feature_table(size_t *count)
{
	if (count)
		*count = VHK_ARRAY_SIZE(feature_table);
	return feature_table;
}

const struct vhk_feature_info *vhk_protocol_feature_table(size_t *count)
{
	if (count)
		*count = VHK_ARRAY_SIZE(protocol_table);
	return protocol_table;
}

const char *vhk_owner_name(enum vhk_feature_owner owner)
{
	switch (owner) {
	case VHK_OWNER_TRANSPORT:
		return "transport";
	case VHK_OWNER_PLATFORM:
		return "platform";
	case VHK_OWNER_VHOST_USER:
		return "vhost-user";
	case VHK_OWNER_DEVICE:
		return "device";
	}
	return "unknown";
}

const char *vhk_device_type_name(enum vhk_device_type dev)
{
	switch (dev) {
	case VHK_DEV_NET:
		return "net";
	case VHK_DEV_BLK:
		return "blk";
	case VHK_DEV_VSOCK:
		return "vsock";
	case VHK_DEV_ANY:
		break;
	}
	return "unknown";
}

int vhk_device_type_parse(const char *s, enum vhk_device_type *dev)
{
	static const enum vhk_device_type known[] = {
		VHK_DEV_NET, VHK_DEV_BLK, VHK_DEV_VSOCK,
	};
	char *end;
	unsigned long v;

	if (!s || !dev || !*s)
		return -EINVAL;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(known); i++) {
		if (strcmp(s, vhk_device_type_name(known[i])) == 0) {
			*dev = known[i];
			return 0;
		}
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xffff)
		return -EINVAL;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(known); i++) {
		if (v == (unsigned long)known[i]) {
			*dev = known[i];
			return 0;
		}
	}
	return -EINVAL;
}

static const struct vhk_feature_info *lookup(enum vhk_device_type dev,
					     unsigned int bit, bool protocol)
{
	return protocol ? vhk_protocol_feature_lookup(bit)
			: vhk_feature_lookup(dev, bit);
}

/* Why an unknown bit is unknown, for the explain output. */
static const char *unknown_why(enum vhk_device_type dev, unsigned int bit,
			       bool protocol)
{
	if (protocol)
		return "not a vhost-user protocol feature vhostkit knows";
	if (transport_range(bit))
		return "reserved transport bit (VIRTIO 1.2, 6)";
	if (dev == VHK_DEV_ANY)
		return "device bit: give a device type to decode it";
	return "not defined for this device type";
}

int vhk_features_explain(FILE *out, uint64_t features, enum vhk_device_type dev,
			 bool protocol)
{
	int n = 0;

	if (!out)
		return -EINVAL;
	for (unsigned int bit = 0; bit < 64; bit++) {
		const struct vhk_feature_info *f;
		int r;

		if (!vhk_has_feature(features, bit))
			continue;
		n++;
		f = lookup(dev, bit, protocol);
		if (f)
			r = fprintf(out, "%2u  %-44s %-10s %s [%s]\n", bit,
				    f->name, vhk_owner_name(f->owner),
				    f->meaning, f->spec);
		else
			r = fprintf(out, "%2u  %-44s %-10s %s\n", bit,
				    "unknown", "?", unknown_why(dev, bit,
								protocol));
		if (r < 0)
			return -EIO;
	}
	if (fflush(out) != 0)
		return -EIO;
	return n;
}

int vhk_features_format(char *buf, size_t len, uint64_t features,
			enum vhk_device_type dev, bool protocol)
{
	uint64_t unknown = 0;
	size_t pos = 0;
	bool first = true;

	if (!buf)
		len = 0;
	if (len)
		buf[0] = '\0';
	for (unsigned int bit = 0; bit < 64; bit++) {
		const struct vhk_feature_info *f;
		int r;

		if (!vhk_has_feature(features, bit))
			continue;
		f = lookup(dev, bit, protocol);
		if (!f) {
			vhk_set_feature(&unknown, bit);
			continue;
		}
		r = snprintf(pos < len ? buf + pos : NULL,
			     pos < len ? len - pos : 0, "%s%s",
			     first ? "" : "|", f->name);
		if (r < 0)
			return -EIO;
		pos += (size_t)r;
		first = false;
	}
	if (unknown || first) {
		int r = snprintf(pos < len ? buf + pos : NULL,
				 pos < len ? len - pos : 0, "%s0x%llx",
				 first ? "" : "|", (unsigned long long)unknown);

		if (r < 0)
			return -EIO;
		pos += (size_t)r;
	}
	return pos > INT32_MAX ? INT32_MAX : (int)pos;
}
