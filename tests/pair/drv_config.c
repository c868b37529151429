// SPDX-License-Identifier: MIT
/*
 * drv_config.c - vhk_blk_config_parse(): the blk configuration space as the
 * driver and `vhostkit probe` read it (VIRTIO 1.2, 5.2.4).  Fields count
 * only when their feature is offered; values the spec forbids are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/features.h"

/* Offset of a config field (VIRTIO 1.2, 5.2.4). */
#define CFG(field)	offsetof(struct vhk_blk_config, field)

static void put16(uint8_t *b, size_t off, uint16_t v)
{
	vhk_le16 x = vhk_le16_make(v);

	memcpy(b + off, &x, 2);
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
	vhk_le32 x = vhk_le32_make(v);

	memcpy(b + off, &x, 4);
}

/* A config space with every field set (offsets: vhostkit/virtio_blk.h). */
static void fill(uint8_t *b)
{
	struct vhk_blk_config c;

	memset(&c, 0, sizeof(c));
	c.capacity = vhk_le64_make(123456789);
	c.size_max = vhk_le32_make(65536);
	c.seg_max = vhk_le32_make(126);
	c.cylinders = vhk_le16_make(1000);
	c.heads = 16;
	c.sectors = 63;
	c.blk_size = vhk_le32_make(4096);
	c.physical_block_exp = 3;
	c.min_io_size = vhk_le16_make(8);
	c.opt_io_size = vhk_le32_make(256);
	c.writeback = 1;
	c.num_queues = vhk_le16_make(4);
	c.max_discard_sectors = vhk_le32_make(1000);
	c.max_discard_seg = vhk_le32_make(2);
	c.discard_sector_alignment = vhk_le32_make(8);
	c.max_write_zeroes_sectors = vhk_le32_make(2000);
	c.max_write_zeroes_seg = vhk_le32_make(3);
	c.write_zeroes_may_unmap = 1;
	memcpy(b, &c, VHK_BLK_CONFIG_READ_LEN);
}

static uint64_t all_features(void)
{
	static const unsigned int bits[] = {
		VHK_BLK_F_SIZE_MAX, VHK_BLK_F_SEG_MAX, VHK_BLK_F_GEOMETRY,
		VHK_BLK_F_BLK_SIZE, VHK_BLK_F_TOPOLOGY, VHK_BLK_F_CONFIG_WCE,
		VHK_BLK_F_MQ, VHK_BLK_F_DISCARD, VHK_BLK_F_WRITE_ZEROES,
		VHK_BLK_F_FLUSH, VHK_F_VERSION_1,
	};
	uint64_t f = 0;

	for (size_t i = 0; i < VHK_ARRAY_SIZE(bits); i++)
		vhk_set_feature(&f, bits[i]);
	return f;
}

static void test_all_fields(void **state)
{
	uint8_t b[VHK_BLK_CONFIG_READ_LEN];
	struct vhk_blk_info bi;

	(void)state;
	fill(b);
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), all_features(),
					      &bi), 0);
	assert_int_equal(bi.capacity, 123456789);
	assert_int_equal(bi.size_max, 65536);
	assert_int_equal(bi.seg_max, 126);
	assert_int_equal(bi.cylinders, 1000);
	assert_int_equal(bi.heads, 16);
	assert_int_equal(bi.sectors, 63);
	assert_int_equal(bi.blk_size, 4096);
	assert_int_equal(bi.physical_block_exp, 3);
	assert_int_equal(bi.min_io_size, 8);
	assert_int_equal(bi.opt_io_size, 256);
	assert_int_equal(bi.writeback, 1);
	assert_int_equal(bi.num_queues, 4);
	assert_int_equal(bi.max_discard_sectors, 1000);
	assert_int_equal(bi.max_discard_seg, 2);
	assert_int_equal(bi.discard_sector_alignment, 8);
	assert_int_equal(bi.max_write_zeroes_sectors, 2000);
	assert_int_equal(bi.max_write_zeroes_seg, 3);
	assert_int_equal(bi.write_zeroes_may_unmap, 1);
	assert_true(bi.discard && bi.write_zeroes && bi.flush && !bi.ro);
}

/* Without their feature bits the same bytes mean nothing. */
static void test_fields_need_features(void **state)
{
	uint8_t b[VHK_BLK_CONFIG_READ_LEN];
	struct vhk_blk_info bi;
	uint64_t f = 0;

	(void)state;
	fill(b);
	vhk_set_feature(&f, VHK_BLK_F_RO);
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), f, &bi), 0);
	assert_int_equal(bi.capacity, 123456789);
	assert_int_equal(bi.size_max, 0);
	assert_int_equal(bi.seg_max, 0);
	assert_int_equal(bi.blk_size, 512);
	assert_int_equal(bi.num_queues, 1);
	assert_int_equal(bi.cylinders, 0);
	assert_false(bi.discard || bi.write_zeroes || bi.flush);
	assert_true(bi.ro);
}

/* A short config: fields beyond it keep defaults, capacity is required. */
static void test_short_config(void **state)
{
	uint8_t b[VHK_BLK_CONFIG_READ_LEN];
	struct vhk_blk_info bi;

	(void)state;
	fill(b);
	assert_int_equal(vhk_blk_config_parse(b, 20, all_features(), &bi), 0);
	assert_int_equal(bi.seg_max, 126);
	assert_int_equal(bi.blk_size, 512);	/* beyond 20 bytes */
	assert_int_equal(bi.num_queues, 1);
	assert_int_equal(vhk_blk_config_parse(b, 7, all_features(), &bi),
			 -EINVAL);
	assert_int_equal(vhk_blk_config_parse(NULL, 60, 0, &bi), -EINVAL);
}

/* Values the spec rules out. */
static void test_forbidden_values(void **state)
{
	uint8_t b[VHK_BLK_CONFIG_READ_LEN];
	struct vhk_blk_info bi;

	(void)state;
	fill(b);
	put16(b, CFG(num_queues), 0);	/* MQ with num_queues 0 */
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), all_features(),
					      &bi), -EINVAL);
	fill(b);
	put32(b, CFG(blk_size), 1000);	/* blk_size not a power of two */
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), all_features(),
					      &bi), -EINVAL);
	put32(b, CFG(blk_size), 256);	/* below a sector */
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), all_features(),
					      &bi), -EINVAL);
	fill(b);
	put32(b, CFG(seg_max), 0);	/* SEG_MAX offered, zero segments */
	assert_int_equal(vhk_blk_config_parse(b, sizeof(b), all_features(),
					      &bi), -EINVAL);
}

static void test_driver_features(void **state)
{
	uint64_t split = vhk_blk_drv_features(false);
	uint64_t packed = vhk_blk_drv_features(true);

	(void)state;
	assert_true(vhk_has_feature(split, VHK_F_VERSION_1));
	assert_true(vhk_has_feature(split, VHK_BLK_F_FLUSH));
	assert_true(vhk_has_feature(split, VHK_BLK_F_MQ));
	assert_false(vhk_has_feature(split, VHK_F_RING_PACKED));
	assert_true(vhk_has_feature(packed, VHK_F_RING_PACKED));
	/* Platform and plumbing bits are not the driver's to ask. */
	assert_false(vhk_has_feature(split, VHK_F_ACCESS_PLATFORM));
	assert_false(vhk_has_feature(split, VHK_F_PROTOCOL_FEATURES));
	assert_string_equal(vhk_blk_op_name(VHK_BLK_OP_WRITE_ZEROES),
			    "write-zeroes");
	assert_string_equal(vhk_blk_op_name((enum vhk_blk_op)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_fields_need_features),
		cmocka_unit_test(test_short_config),
		cmocka_unit_test(test_forbidden_values),
		cmocka_unit_test(test_driver_features),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
