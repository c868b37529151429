/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/blk.h - the virtio-blk device (VIRTIO 1.2, 5.2) over a file or a
 * block device, with I/O through io_uring.
 *
 * The device plugs into the vhost-user back-end server (vhostkit/backend.h)
 * through vhk_blk_ops.  It sees chains only as byte streams (vhostkit/ring.h):
 * a 16-byte request header in the readable part, data, and the status byte
 * as the last writable byte.
 *
 * Per started queue: one io_uring, at most min(queue size, queue_depth)
 * requests in flight (queue_depth 0: min(queue size, 1024)), completions
 * signalled through an eventfd that the server's event loop watches.
 * Everything runs on the server's thread.
 *
 * Usage:
 *	vhk_blk_open(&blk, &opts);
 *	vhk_backend_new(&be, &cfg, &vhk_blk_ops, blk);
 *	vhk_blk_attach(blk, be);
 *	vhk_backend_run(be);
 *	vhk_backend_free(be);
 *	vhk_blk_close(blk);
 */
#ifndef VHOSTKIT_BLK_H
#define VHOSTKIT_BLK_H

#include "vhostkit/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Request types (VIRTIO 1.2, 5.2.6). */
#define VHK_BLK_T_IN		0
#define VHK_BLK_T_OUT		1
#define VHK_BLK_T_FLUSH		4
#define VHK_BLK_T_GET_ID	8
#define VHK_BLK_T_GET_LIFETIME	10
#define VHK_BLK_T_DISCARD	11
#define VHK_BLK_T_WRITE_ZEROES	13
#define VHK_BLK_T_SECURE_ERASE	14

/* Status byte values (VIRTIO 1.2, 5.2.6). */
#define VHK_BLK_S_OK		0
#define VHK_BLK_S_IOERR		1
#define VHK_BLK_S_UNSUPP	2

#define VHK_BLK_SECTOR_SIZE	512	/* virtio-blk sectors are 512 bytes */
#define VHK_BLK_ID_BYTES	20	/* GET_ID string length */
/* Flag in struct vhk_blk_dwz_seg (VIRTIO 1.2, 5.2.6). */
#define VHK_BLK_WZ_FLAG_UNMAP	0x1u

/* Segments one DISCARD / WRITE_ZEROES request may carry (config space). */
#define VHK_BLK_MAX_DWZ_SEG	32
/*
 * Host segments one chain may translate to by default.  One descriptor can
 * become several segments (region or IOTLB page boundaries), so this is
 * larger than the seg_max the driver is told (min(max_iov, 1024) - 2).
 */
#define VHK_BLK_DEFAULT_MAX_IOV	4096
/* Sectors one discard / write-zeroes segment may cover (config space). */
#define VHK_BLK_MAX_DWZ_SECTORS	(1u << 22)	/* 2 GiB */

/* The request header, first 16 readable bytes of every chain. */
struct vhk_blk_req_hdr {
	vhk_le32 type;
	vhk_le32 reserved;	/* ioprio in legacy */
	vhk_le64 sector;
};
_Static_assert(sizeof(struct vhk_blk_req_hdr) == 16, "virtio_blk_outhdr");

/* One DISCARD / WRITE_ZEROES segment (VIRTIO 1.2, 5.2.6). */
struct vhk_blk_dwz_seg {
	vhk_le64 sector;
	vhk_le32 num_sectors;
	vhk_le32 flags;
};
_Static_assert(sizeof(struct vhk_blk_dwz_seg) == 16, "discard_write_zeroes");

/*
 * Device configuration layout (VIRTIO 1.2, 5.2.4), plus the zoned block
 * characteristics that later revisions append, so that a front-end built
 * with newer headers can read the whole structure (those fields are 0).
 */
struct vhk_blk_config {
	vhk_le64 capacity;		/* 512-byte sectors */
	vhk_le32 size_max;
	vhk_le32 seg_max;
	vhk_le16 cylinders;
	uint8_t heads;
	uint8_t sectors;
	vhk_le32 blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	vhk_le16 min_io_size;
	vhk_le32 opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	vhk_le16 num_queues;
	vhk_le32 max_discard_sectors;
	vhk_le32 max_discard_seg;
	vhk_le32 discard_sector_alignment;
	vhk_le32 max_write_zeroes_sectors;
	vhk_le32 max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	vhk_le32 max_secure_erase_sectors;
	vhk_le32 max_secure_erase_seg;
	vhk_le32 secure_erase_sector_alignment;
	/* struct virtio_blk_zoned_characteristics (not offered: zeroes) */
	vhk_le32 zone_sectors;
	vhk_le32 max_open_zones;
	vhk_le32 max_active_zones;
	vhk_le32 max_append_sectors;
	vhk_le32 write_granularity;
	uint8_t model;
	uint8_t unused2[3];
};
_Static_assert(sizeof(struct vhk_blk_config) == 96, "virtio_blk_config");

struct vhk_blk_opts {
	const char *disk;		/* file or block device path */
	bool read_only;			/* open O_RDONLY, offer VIRTIO_BLK_F_RO */
	bool no_direct;			/* do not try O_DIRECT */
	uint16_t num_queues;		/* 0 = 1 */
	uint16_t queue_depth;		/* per queue in flight; 0 = queue size,
					   at most 1024 */
	const char *serial;		/* GET_ID (<= 20 bytes used); NULL: none */
	unsigned int max_iov;		/* host segments per chain (3-65536);
					   0 = VHK_BLK_DEFAULT_MAX_IOV; give
					   the server the same value */
};

struct vhk_blk;

/** The device operations to give vhk_backend_new() with the vhk_blk. */
extern const struct vhk_device_ops vhk_blk_ops;

/**
 * vhk_blk_open - open @o->disk (O_DIRECT when possible, else buffered;
 * O_RDONLY with @o->read_only) and build the configuration space.
 * The capacity is the file size (or the block device size) rounded down to
 * 512 bytes.  Returns 0 and *@out; -EINVAL for bad options (no disk,
 * num_queues above 256, max_iov < 3 or > 65536); the open/stat errno.
 */
int vhk_blk_open(struct vhk_blk **out, const struct vhk_blk_opts *o);

/**
 * vhk_blk_attach - bind the device to the server @be that drives it (for
 * watching eventfds, completing and re-kicking queues).  Call after
 * vhk_backend_new(), before vhk_backend_run().
 */
void vhk_blk_attach(struct vhk_blk *blk, struct vhk_backend *be);

/**
 * vhk_blk_close - close the disk and free @blk; every queue must be
 * stopped (vhk_backend_free() first).  NULL is a no-op.
 */
void vhk_blk_close(struct vhk_blk *blk);

/**
 * vhk_blk_max_iov - host segments per chain the device accepts: pass it as
 * vhk_backend_config.max_iov so that the rings pop no larger chains.
 */
unsigned int vhk_blk_max_iov(const struct vhk_blk *blk);

/** vhk_blk_capacity - capacity in 512-byte sectors. */
uint64_t vhk_blk_capacity(const struct vhk_blk *blk);

/** vhk_blk_direct - true if the disk is opened with O_DIRECT. */
bool vhk_blk_direct(const struct vhk_blk *blk);

/** vhk_blk_is_blockdev - true if the disk is a block device. */
bool vhk_blk_is_blockdev(const struct vhk_blk *blk);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_BLK_H */
