// SPDX-License-Identifier: MIT
/*
 * blk_config.c - the virtio-blk configuration space as a driver reads it
 * (VIRTIO 1.2, 5.2.4), request type names, and the features the userspace
 * blk driver asks for.  Pure functions: shared by the driver and
 * `vhostkit probe`.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/features.h"

/* A field of struct vhk_blk_config: its offset (VIRTIO 1.2, 5.2.4). */
#define CFG(field)	offsetof(struct vhk_blk_config, field)

/* The config space is little-endian for VERSION_1 devices (VIRTIO 1.2, 2.5). */
static bool have(size_t len, size_t off, size_t size)
{
	return off + size <= len;
}

static uint8_t rd8(const uint8_t *b, size_t len, size_t off)
{
	return have(len, off, 1) ? b[off] : 0;
}

static uint16_t rd16(const uint8_t *b, size_t len, size_t off)
{
	vhk_le16 v;

	if (!have(len, off, 2))
		return 0;
	memcpy(&v, b + off, 2);
	return vhk_le16_get(v);
}

static uint32_t rd32(const uint8_t *b, size_t len, size_t off)
{
	vhk_le32 v;

	if (!have(len, off, 4))
		return 0;
	memcpy(&v, b + off, 4);
	return vhk_le32_get(v);
}

static uint64_t rd64(const uint8_t *b, size_t len, size_t off)
{
	vhk_le64 v;

	if (!have(len, off, 8))
		return 0;
	memcpy(&v, b + off, 8);
	return vhk_le64_get(v);
}

int vhk_blk_config_parse(const void *buf, size_t len, uint64_t features,
			 struct vhk_blk_info *info)
{
	const uint8_t *b = buf;

	memset(info, 0, sizeof(*info));
	if (!buf || len < 8)
		return -EINVAL;

	info->capacity = rd64(b, len, CFG(capacity));
	info->blk_size = VHK_BLK_SECTOR_SIZE;
	info->num_queues = 1;

	if (vhk_has_feature(features, VHK_BLK_F_SIZE_MAX))
		info->size_max = rd32(b, len, CFG(size_max));
	if (vhk_has_feature(features, VHK_BLK_F_SEG_MAX)) {
		info->seg_max = rd32(b, len, CFG(seg_max));
		/* A device offering SEG_MAX must allow a segment. */
		if (have(len, CFG(seg_max), 4) && info->seg_max == 0)
			return -EINVAL;
	}
	if (vhk_has_feature(features, VHK_BLK_F_GEOMETRY)) {
		info->cylinders = rd16(b, len, CFG(cylinders));
		info->heads = rd8(b, len, CFG(heads));
		info->sectors = rd8(b, len, CFG(sectors));
	}
	if (vhk_has_feature(features, VHK_BLK_F_BLK_SIZE) &&
	    have(len, CFG(blk_size), 4)) {
		uint32_t bs = rd32(b, len, CFG(blk_size));

		/* blk_size is a logical block size: a power of two >= 512. */
		if (bs < VHK_BLK_SECTOR_SIZE || (bs & (bs - 1)))
			return -EINVAL;
		info->blk_size = bs;
	}
	if (vhk_has_feature(features, VHK_BLK_F_TOPOLOGY)) {
		info->physical_block_exp = rd8(b, len, CFG(physical_block_exp));
		info->alignment_offset = rd8(b, len, CFG(alignment_offset));
		info->min_io_size = rd16(b, len, CFG(min_io_size));
		info->opt_io_size = rd32(b, len, CFG(opt_io_size));
	}
	if (vhk_has_feature(features, VHK_BLK_F_CONFIG_WCE))
		info->writeback = rd8(b, len, CFG(writeback));
	if (vhk_has_feature(features, VHK_BLK_F_MQ) &&
	    have(len, CFG(num_queues), 2)) {
		info->num_queues = rd16(b, len, CFG(num_queues));
		if (info->num_queues == 0)
			return -EINVAL;
	}
	if (vhk_has_feature(features, VHK_BLK_F_DISCARD)) {
		info->discard = true;
		info->max_discard_sectors =
			rd32(b, len, CFG(max_discard_sectors));
		info->max_discard_seg = rd32(b, len, CFG(max_discard_seg));
		info->discard_sector_alignment =
			rd32(b, len, CFG(discard_sector_alignment));
	}
	if (vhk_has_feature(features, VHK_BLK_F_WRITE_ZEROES)) {
		info->write_zeroes = true;
		info->max_write_zeroes_sectors =
			rd32(b, len, CFG(max_write_zeroes_sectors));
		info->max_write_zeroes_seg = rd32(b, len, CFG(max_write_zeroes_seg));
		info->write_zeroes_may_unmap = rd8(b, len, CFG(write_zeroes_may_unmap));
	}
	info->ro = vhk_has_feature(features, VHK_BLK_F_RO);
	info->flush = vhk_has_feature(features, VHK_BLK_F_FLUSH);
	return 0;
}

const char *vhk_blk_op_name(enum vhk_blk_op op)
{
	switch (op) {
	case VHK_BLK_OP_READ:
		return "read";
	case VHK_BLK_OP_WRITE:
		return "write";
	case VHK_BLK_OP_FLUSH:
		return "flush";
	case VHK_BLK_OP_GET_ID:
		return "get-id";
	case VHK_BLK_OP_DISCARD:
		return "discard";
	case VHK_BLK_OP_WRITE_ZEROES:
		return "write-zeroes";
	}
	return "unknown";
}

uint64_t vhk_blk_drv_features(bool packed)
{
	static const unsigned int bits[] = {
		VHK_F_VERSION_1, VHK_F_EVENT_IDX, VHK_F_INDIRECT_DESC,
		VHK_BLK_F_SIZE_MAX, VHK_BLK_F_SEG_MAX, VHK_BLK_F_GEOMETRY,
		VHK_BLK_F_RO, VHK_BLK_F_BLK_SIZE, VHK_BLK_F_FLUSH,
		VHK_BLK_F_TOPOLOGY, VHK_BLK_F_CONFIG_WCE, VHK_BLK_F_MQ,
		VHK_BLK_F_DISCARD, VHK_BLK_F_WRITE_ZEROES,
	};
	uint64_t f = 0;
	size_t i;

	for (i = 0; i < VHK_ARRAY_SIZE(bits); i++)
		vhk_set_feature(&f, bits[i]);
	if (packed)
		vhk_set_feature(&f, VHK_F_RING_PACKED);
	return f;
}
