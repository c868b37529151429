/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/vhost_user.h - the vhost-user wire format (QEMU docs/interop/
 * vhost-user.rst), shared by the back-end server and the front-end library.
 *
 * Every message is a 12-byte header (request, flags, size) followed by
 * @size payload bytes; file descriptors travel as SCM_RIGHTS ancillary data
 * with the header.  All fields are host-endian on the wire, as the spec
 * says (both ends share one machine).
 */
#ifndef VHOSTKIT_VHOST_USER_H
#define VHOSTKIT_VHOST_USER_H

#include "vhostkit/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Front-end -> back-end requests. */
enum vhk_vu_request {
	VHK_VU_NONE = 0,
	VHK_VU_GET_FEATURES = 1,
	VHK_VU_SET_FEATURES = 2,
	VHK_VU_SET_OWNER = 3,
	VHK_VU_RESET_OWNER = 4,
	VHK_VU_SET_MEM_TABLE = 5,
	VHK_VU_SET_LOG_BASE = 6,
	VHK_VU_SET_LOG_FD = 7,
	VHK_VU_SET_VRING_NUM = 8,
	VHK_VU_SET_VRING_ADDR = 9,
	VHK_VU_SET_VRING_BASE = 10,
	VHK_VU_GET_VRING_BASE = 11,
	VHK_VU_SET_VRING_KICK = 12,
	VHK_VU_SET_VRING_CALL = 13,
	VHK_VU_SET_VRING_ERR = 14,
	VHK_VU_GET_PROTOCOL_FEATURES = 15,
	VHK_VU_SET_PROTOCOL_FEATURES = 16,
	VHK_VU_GET_QUEUE_NUM = 17,
	VHK_VU_SET_VRING_ENABLE = 18,
	VHK_VU_SEND_RARP = 19,
	VHK_VU_NET_SET_MTU = 20,
	VHK_VU_SET_BACKEND_REQ_FD = 21,
	VHK_VU_IOTLB_MSG = 22,
	VHK_VU_SET_VRING_ENDIAN = 23,
	VHK_VU_GET_CONFIG = 24,
	VHK_VU_SET_CONFIG = 25,
	VHK_VU_CREATE_CRYPTO_SESSION = 26,
	VHK_VU_CLOSE_CRYPTO_SESSION = 27,
	VHK_VU_POSTCOPY_ADVISE = 28,
	VHK_VU_POSTCOPY_LISTEN = 29,
	VHK_VU_POSTCOPY_END = 30,
	VHK_VU_GET_INFLIGHT_FD = 31,
	VHK_VU_SET_INFLIGHT_FD = 32,
	VHK_VU_GPU_SET_SOCKET = 33,
	VHK_VU_RESET_DEVICE = 34,
	VHK_VU_VRING_KICK = 35,
	VHK_VU_GET_MAX_MEM_SLOTS = 36,
	VHK_VU_ADD_MEM_REG = 37,
	VHK_VU_REM_MEM_REG = 38,
	VHK_VU_SET_STATUS = 39,
	VHK_VU_GET_STATUS = 40,
	VHK_VU_REQUEST_MAX = 41,
};

/* Back-end -> front-end requests (on the back-end channel). */
enum vhk_vu_backend_request {
	VHK_VU_BACKEND_NONE = 0,
	VHK_VU_BACKEND_IOTLB_MSG = 1,
	VHK_VU_BACKEND_CONFIG_CHANGE_MSG = 2,
	VHK_VU_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
	VHK_VU_BACKEND_VRING_CALL = 4,
	VHK_VU_BACKEND_VRING_ERR = 5,
	VHK_VU_BACKEND_REQUEST_MAX = 6,
};

/* Header flags. */
#define VHK_VU_VERSION		0x1
#define VHK_VU_VERSION_MASK	0x3
#define VHK_VU_FLAG_REPLY	(1u << 2)
#define VHK_VU_FLAG_NEED_REPLY	(1u << 3)

/* Most fds one message carries (SET_MEM_TABLE: one per region). */
#define VHK_VU_MAX_FDS		8

/* u64 payload of SET_VRING_KICK/CALL/ERR: index, and "no fd" flag. */
#define VHK_VU_VRING_IDX_MASK	0xffull
#define VHK_VU_VRING_NOFD	(1ull << 8)

/* IOTLB message types (linux/vhost_types.h). */
#define VHK_VU_IOTLB_MISS		1
#define VHK_VU_IOTLB_UPDATE		2
#define VHK_VU_IOTLB_INVALIDATE		3
#define VHK_VU_IOTLB_ACCESS_FAIL	4
#define VHK_VU_IOTLB_BATCH_BEGIN	5
#define VHK_VU_IOTLB_BATCH_END		6

/* Device status bits (VIRTIO 1.2, 2.1). */
#define VHK_STATUS_ACKNOWLEDGE		1
#define VHK_STATUS_DRIVER		2
#define VHK_STATUS_DRIVER_OK		4
#define VHK_STATUS_FEATURES_OK		8
#define VHK_STATUS_NEEDS_RESET		64
#define VHK_STATUS_FAILED		128

#define VHK_VU_CONFIG_MAX	256	/* GET/SET_CONFIG payload bytes */

struct vhk_vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vhk_vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhk_vu_vring_addr {
	uint32_t index;
	uint32_t flags;		/* VHK_VU_VRING_F_LOG */
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

/* SET_VRING_ADDR flags bit 0 (VHOST_VRING_F_LOG): log_guest_addr is valid
 * and the ring's used-ring writes are logged there. */
#define VHK_VU_VRING_F_LOG	(1u << 0)

struct vhk_vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhk_vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhk_vu_mem_region regions[VHK_VU_MAX_FDS];
};

struct vhk_vu_mem_single {
	uint64_t padding;
	struct vhk_vu_mem_region region;
};

struct vhk_vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

/*
 * IOTLB message payload.  QEMU, DPDK and Linux send the C struct
 * vhost_iotlb_msg: 32 bytes, 6 of them tail padding.  The vhost-user
 * spec's field list (iova, size, user address, permissions, type) adds up
 * to 26 bytes, and front-ends written from it send that; the field offsets
 * are the same.  Both sizes are accepted wherever one is received
 * (VHK_VU_IOTLB_MIN_SIZE..sizeof); vhostkit sends 32.
 */
struct vhk_vu_iotlb {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
};
#define VHK_VU_IOTLB_MIN_SIZE	26	/* the spec's packed field list */

struct vhk_vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHK_VU_CONFIG_MAX];
};

struct vhk_vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/* The largest payload any message carries. */
union vhk_vu_payload {
	uint64_t u64;
	struct vhk_vu_vring_state state;
	struct vhk_vu_vring_addr addr;
	struct vhk_vu_memory memory;
	struct vhk_vu_mem_single mem_single;
	struct vhk_vu_log log;
	struct vhk_vu_iotlb iotlb;
	struct vhk_vu_config config;
	struct vhk_vu_inflight inflight;
};

struct vhk_vu_msg {
	struct vhk_vu_hdr hdr;
	union vhk_vu_payload payload;
} __attribute__((packed));

_Static_assert(sizeof(struct vhk_vu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vhk_vu_vring_addr) == 40, "vring addr is 40 bytes");
_Static_assert(sizeof(struct vhk_vu_mem_region) == 32, "region is 32 bytes");
_Static_assert(sizeof(struct vhk_vu_iotlb) == 32, "iotlb msg is 32 bytes (padded)");
_Static_assert(offsetof(struct vhk_vu_iotlb, type) + 1 == VHK_VU_IOTLB_MIN_SIZE,
	       "the packed iotlb layout ends after type");
_Static_assert(sizeof(struct vhk_vu_inflight) == 24, "inflight is 24 bytes (padded)");

/** vhk_vu_request_name - "GET_FEATURES" etc., or "UNKNOWN". */
const char *vhk_vu_request_name(uint32_t request);

/** vhk_vu_backend_request_name - "IOTLB_MSG" etc., or "UNKNOWN". */
const char *vhk_vu_backend_request_name(uint32_t request);


/**
 * vhk_vu_recv - read one message from @sock: the header, then exactly
 * hdr.size payload bytes.  Up to @max_fds received fds go to @fds (*@nfds
 * set); fds beyond @max_fds are closed here.  On any error every received
 * fd has been closed.
 * Returns 0; -ECONNRESET on EOF; -EPROTO for a bad version; -EMSGSIZE if
 * hdr.size exceeds sizeof(union vhk_vu_payload) (the stream is then out
 * of sync: close it); other -errno from recvmsg.  Blocking, EINTR retried.
 */
int vhk_vu_recv(int sock, struct vhk_vu_msg *msg, int *fds, unsigned int *nfds,
		unsigned int max_fds);

/**
 * vhk_vu_send - write header + hdr.size payload bytes of @msg with @nfds
 * fds (<= VHK_VU_MAX_FDS) as SCM_RIGHTS.  Returns 0 or -errno (partial
 * writes are completed; EINTR retried).
 */
int vhk_vu_send(int sock, const struct vhk_vu_msg *msg, const int *fds,
		unsigned int nfds);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VHOST_USER_H */
