/* SPDX-License-Identifier: MIT */
/*
 * vring_defs.h - virtqueue wire layouts (VIRTIO 1.2, 2.7 split, 2.8 packed).
 * Private to src/ring (and to tests that write hostile rings): devices never
 * see a descriptor.
 */
#ifndef VHK_RING_VRING_DEFS_H
#define VHK_RING_VRING_DEFS_H

#include "vhostkit/util.h"

/* Descriptor flags (split and packed). */
#define VHK_VRING_DESC_F_NEXT		1
#define VHK_VRING_DESC_F_WRITE		2
#define VHK_VRING_DESC_F_INDIRECT	4
/* Packed only (VIRTIO 1.2, 2.8.1). */
#define VHK_VRING_PACKED_DESC_F_AVAIL	7	/* bit number */
#define VHK_VRING_PACKED_DESC_F_USED	15	/* bit number */

/* Split ring flags. */
#define VHK_VRING_AVAIL_F_NO_INTERRUPT	1
#define VHK_VRING_USED_F_NO_NOTIFY	1

/* Packed event suppression flags (VIRTIO 1.2, 2.8.10). */
#define VHK_RING_EVENT_FLAGS_ENABLE	0x0
#define VHK_RING_EVENT_FLAGS_DISABLE	0x1
#define VHK_RING_EVENT_FLAGS_DESC	0x2

/* Alignment (VIRTIO 1.2, 2.7 table "Virtqueue Part Alignment"). */
#define VHK_SPLIT_DESC_ALIGN	16
#define VHK_SPLIT_AVAIL_ALIGN	2
#define VHK_SPLIT_USED_ALIGN	4
#define VHK_PACKED_DESC_ALIGN	16
#define VHK_PACKED_EVENT_ALIGN	4

struct vhk_vring_desc {
	vhk_le64 addr;
	vhk_le32 len;
	vhk_le16 flags;
	vhk_le16 next;
};

struct vhk_vring_avail {
	vhk_le16 flags;
	vhk_le16 idx;
	vhk_le16 ring[];	/* [num], then le16 used_event with EVENT_IDX */
};

struct vhk_vring_used_elem {
	vhk_le32 id;
	vhk_le32 len;
};

struct vhk_vring_used {
	vhk_le16 flags;
	vhk_le16 idx;
	struct vhk_vring_used_elem ring[]; /* [num], then le16 avail_event */
};

struct vhk_vring_packed_desc {
	vhk_le64 addr;
	vhk_le32 len;
	vhk_le16 id;
	vhk_le16 flags;
};

struct vhk_vring_packed_event {
	vhk_le16 off_wrap;	/* bits 0-14 offset, bit 15 wrap counter */
	vhk_le16 flags;
};

_Static_assert(sizeof(struct vhk_vring_desc) == 16, "split desc is 16 bytes");
_Static_assert(sizeof(struct vhk_vring_packed_desc) == 16, "packed desc is 16 bytes");
_Static_assert(sizeof(struct vhk_vring_used_elem) == 8, "used elem is 8 bytes");
_Static_assert(sizeof(struct vhk_vring_packed_event) == 4, "event is 4 bytes");

/* Split ring sizes for a queue of @num. */
static inline uint64_t vhk_split_desc_size(uint16_t num)
{
	return 16ull * num;
}

static inline uint64_t vhk_split_avail_size(uint16_t num)
{
	return 4ull + 2ull * num + 2;	/* flags, idx, ring, used_event */
}

static inline uint64_t vhk_split_used_size(uint16_t num)
{
	return 4ull + 8ull * num + 2;	/* flags, idx, ring, avail_event */
}

/*
 * vring_need_event (VIRTIO 1.2, 2.7.10 / Linux virtio_ring.h): true if the
 * other side asked to be notified when the index passes @event_idx, given
 * the index moved from @old to @new_idx.
 */
static inline bool vhk_vring_need_event(uint16_t event_idx, uint16_t new_idx,
					uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

#endif /* VHK_RING_VRING_DEFS_H */
