/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/virtio_blk.h - the virtio block device's wire format (VIRTIO
 * 1.2, 5.2 "Block Device"): the one definition used by the device
 * (src/dev/blk), the userspace driver (src/driver), `vhostkit probe` and
 * the tests.
 *
 * Everything a guest or driver shares is little-endian (vhk_le* fields,
 * read with vhk_leNN_get()).  Every structure's size and every field's
 * offset is checked at compile time against the spec's layout; code reads
 * configuration fields with offsetof() on struct vhk_blk_config, never
 * with a hand-written offset.
 *
 * Feature bits are numbers in vhostkit/features.h (VHK_BLK_F_*, VIRTIO
 * 1.2, 5.2.3), where the feature table names them; test them with
 * vhk_has_feature().
 */
#ifndef VHOSTKIT_VIRTIO_BLK_H
#define VHOSTKIT_VIRTIO_BLK_H

#include "vhostkit/api.h"
#include <stddef.h>
#include "vhostkit/features.h"

#ifdef __cplusplus
extern "C" {
#endif

_Static_assert(VHK_BLK_F_SEG_MAX == 2 && VHK_BLK_F_RO == 5 &&
	       VHK_BLK_F_FLUSH == 9 && VHK_BLK_F_MQ == 12 &&
	       VHK_BLK_F_DISCARD == 13 && VHK_BLK_F_WRITE_ZEROES == 14,
	       "VIRTIO 1.2, 5.2.3 feature bit numbers");

/* Request types (VIRTIO 1.2, 5.2.6, VIRTIO_BLK_T_*). */
#define VHK_BLK_T_IN		0
#define VHK_BLK_T_OUT		1
#define VHK_BLK_T_FLUSH		4
#define VHK_BLK_T_GET_ID	8
#define VHK_BLK_T_GET_LIFETIME	10
#define VHK_BLK_T_DISCARD	11
#define VHK_BLK_T_WRITE_ZEROES	13
#define VHK_BLK_T_SECURE_ERASE	14

/* Status byte values (VIRTIO 1.2, 5.2.6, VIRTIO_BLK_S_*). */
#define VHK_BLK_S_OK		0
#define VHK_BLK_S_IOERR		1
#define VHK_BLK_S_UNSUPP	2

#define VHK_BLK_SECTOR_SIZE	512	/* virtio-blk sectors are 512 bytes */
#define VHK_BLK_ID_BYTES	20	/* GET_ID string length */

/* Flag in struct vhk_blk_dwz_seg (VIRTIO 1.2, 5.2.6). */
#define VHK_BLK_WZ_FLAG_UNMAP	0x1u

/*
 * The request header, the first 16 device-readable bytes of every request
 * (VIRTIO 1.2, 5.2.6 struct virtio_blk_req); data follows, and the status
 * byte is the last device-writable byte.
 */
struct vhk_blk_req_hdr {
	vhk_le32 type;		/* VHK_BLK_T_* */
	vhk_le32 reserved;	/* ioprio in legacy */
	vhk_le64 sector;
};
_Static_assert(sizeof(struct vhk_blk_req_hdr) == 16, "virtio_blk_req header");
_Static_assert(offsetof(struct vhk_blk_req_hdr, type) == 0, "type");
_Static_assert(offsetof(struct vhk_blk_req_hdr, reserved) == 4, "reserved");
_Static_assert(offsetof(struct vhk_blk_req_hdr, sector) == 8, "sector");

/*
 * One DISCARD / WRITE_ZEROES segment, the data of those requests (VIRTIO
 * 1.2, 5.2.6 struct virtio_blk_discard_write_zeroes).
 */
struct vhk_blk_dwz_seg {
	vhk_le64 sector;
	vhk_le32 num_sectors;
	vhk_le32 flags;		/* VHK_BLK_WZ_FLAG_UNMAP */
};
_Static_assert(sizeof(struct vhk_blk_dwz_seg) == 16, "discard_write_zeroes");
_Static_assert(offsetof(struct vhk_blk_dwz_seg, sector) == 0, "sector");
_Static_assert(offsetof(struct vhk_blk_dwz_seg, num_sectors) == 8,
	       "num_sectors");
_Static_assert(offsetof(struct vhk_blk_dwz_seg, flags) == 12, "flags");

/*
 * Device configuration layout (VIRTIO 1.2, 5.2.4), plus the zoned block
 * characteristics that later revisions append, so that a front-end built
 * with newer headers can read the whole structure (vhostkit leaves those
 * fields 0).  Each field is valid only with the feature named beside it.
 */
struct vhk_blk_config {
	vhk_le64 capacity;		/* 512-byte sectors; always */
	vhk_le32 size_max;		/* SIZE_MAX */
	vhk_le32 seg_max;		/* SEG_MAX */
	vhk_le16 cylinders;		/* GEOMETRY */
	uint8_t heads;
	uint8_t sectors;
	vhk_le32 blk_size;		/* BLK_SIZE */
	uint8_t physical_block_exp;	/* TOPOLOGY */
	uint8_t alignment_offset;
	vhk_le16 min_io_size;
	vhk_le32 opt_io_size;
	uint8_t writeback;		/* CONFIG_WCE */
	uint8_t unused0;
	vhk_le16 num_queues;		/* MQ */
	vhk_le32 max_discard_sectors;	/* DISCARD */
	vhk_le32 max_discard_seg;
	vhk_le32 discard_sector_alignment;
	vhk_le32 max_write_zeroes_sectors; /* WRITE_ZEROES */
	vhk_le32 max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	vhk_le32 max_secure_erase_sectors; /* SECURE_ERASE */
	vhk_le32 max_secure_erase_seg;
	vhk_le32 secure_erase_sector_alignment;
	/* struct virtio_blk_zoned_characteristics (ZONED; not offered) */
	vhk_le32 zone_sectors;
	vhk_le32 max_open_zones;
	vhk_le32 max_active_zones;
	vhk_le32 max_append_sectors;
	vhk_le32 write_granularity;
	uint8_t model;
	uint8_t unused2[3];
};
_Static_assert(sizeof(struct vhk_blk_config) == 96, "virtio_blk_config");
#define VHK_BLK_CFG_AT(field, off) \
	_Static_assert(offsetof(struct vhk_blk_config, field) == (off), #field)
VHK_BLK_CFG_AT(capacity, 0);
VHK_BLK_CFG_AT(size_max, 8);
VHK_BLK_CFG_AT(seg_max, 12);
VHK_BLK_CFG_AT(cylinders, 16);
VHK_BLK_CFG_AT(heads, 18);
VHK_BLK_CFG_AT(sectors, 19);
VHK_BLK_CFG_AT(blk_size, 20);
VHK_BLK_CFG_AT(physical_block_exp, 24);
VHK_BLK_CFG_AT(alignment_offset, 25);
VHK_BLK_CFG_AT(min_io_size, 26);
VHK_BLK_CFG_AT(opt_io_size, 28);
VHK_BLK_CFG_AT(writeback, 32);
VHK_BLK_CFG_AT(unused0, 33);
VHK_BLK_CFG_AT(num_queues, 34);
VHK_BLK_CFG_AT(max_discard_sectors, 36);
VHK_BLK_CFG_AT(max_discard_seg, 40);
VHK_BLK_CFG_AT(discard_sector_alignment, 44);
VHK_BLK_CFG_AT(max_write_zeroes_sectors, 48);
VHK_BLK_CFG_AT(max_write_zeroes_seg, 52);
VHK_BLK_CFG_AT(write_zeroes_may_unmap, 56);
VHK_BLK_CFG_AT(max_secure_erase_sectors, 60);
VHK_BLK_CFG_AT(max_secure_erase_seg, 64);
VHK_BLK_CFG_AT(secure_erase_sector_alignment, 68);
VHK_BLK_CFG_AT(zone_sectors, 72);
VHK_BLK_CFG_AT(max_open_zones, 76);
VHK_BLK_CFG_AT(max_active_zones, 80);
VHK_BLK_CFG_AT(max_append_sectors, 84);
VHK_BLK_CFG_AT(write_granularity, 88);
VHK_BLK_CFG_AT(model, 92);
#undef VHK_BLK_CFG_AT

/*
 * Bytes of the configuration space vhostkit's driver and `vhostkit probe`
 * read: up to and including write_zeroes_may_unmap and its padding.  Never
 * more: some back-ends abort on a GET_CONFIG beyond their structure
 * (qemu-storage-daemon asserts on it).
 */
#define VHK_BLK_CONFIG_READ_LEN \
	((uint32_t)offsetof(struct vhk_blk_config, max_secure_erase_sectors))
_Static_assert(VHK_BLK_CONFIG_READ_LEN == 60, "config read length");

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VIRTIO_BLK_H */
