/* SPDX-License-Identifier: MIT */
/*
 * fe_qsd.c - the front-end library against a real peer:
 * qemu-storage-daemon's vhost-user-blk export (libvhost-user), direct DMA
 * mode.  Raw virtio-blk reads and writes through our rings, config space,
 * GET_VRING_BASE on stop, device reset and back-end restart + reconnect.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fe_util.h"

#define SECTORS 2048
#define TMO 5000

struct ctx {
	char sock[200];
	char img[200];
	struct fe_proc qsd;
	struct vhk_fe *fe;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	snprintf(c->sock, sizeof(c->sock), "%s/qsd.sock", fe_tmpdir());
	snprintf(c->img, sizeof(c->img), "%s/disk.img", fe_tmpdir());
	if (fe_make_image(c->img, SECTORS) || fe_spawn_qsd(&c->qsd, c->sock,
							   c->img)) {
		fe_dump_log(&c->qsd);
		fe_kill(&c->qsd, 0);
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vhk_fe_close(c->fe);
	fe_kill(&c->qsd, 0);
	free(c);
	return 0;
}

static void cfg_for(struct vhk_fe_config *cfg, const struct ctx *c)
{
	vhk_fe_config_init(cfg, c->sock);
	cfg->name = "fe-qsd";
	cfg->driver_features = vhk_feature_bit(VHK_F_VERSION_1) |
			       vhk_feature_bit(VHK_F_EVENT_IDX) |
			       vhk_feature_bit(VHK_BLK_F_FLUSH) |
			       vhk_feature_bit(VHK_BLK_F_SEG_MAX);
	cfg->mem_size = 4u << 20;
}

static bool sector_is(const uint8_t *p, uint8_t v)
{
	for (int i = 0; i < 512; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Read @n sectors from @s and check each against @val(s). */
static void check_read(struct vhk_fe *fe, uint64_t s, unsigned int n,
		       uint8_t (*val)(uint64_t))
{
	uint8_t *buf = vhk_fe_alloc(fe, n * 512);

	assert_non_null(buf);
	memset(buf, 0xee, n * 512);
	assert_int_equal(fe_blk_rw(fe, 0, FE_T_IN, s, buf, n * 512, TMO), 0);
	for (unsigned int i = 0; i < n; i++)
		if (!sector_is(buf + i * 512, val(s + i)))
			fail_msg("sector %llu: got 0x%02x want 0x%02x",
				 (unsigned long long)(s + i), buf[i * 512],
				 val(s + i));
	vhk_fe_free(fe, buf);
}

static uint8_t written(uint64_t s)
{
	return (uint8_t)(0xc0 + s);
}

static void write_sectors(struct vhk_fe *fe, uint64_t s, unsigned int n)
{
	uint8_t *buf = vhk_fe_alloc(fe, n * 512);

	assert_non_null(buf);
	for (unsigned int i = 0; i < n; i++)
		memset(buf + i * 512, written(s + i), 512);
	assert_int_equal(fe_blk_rw(fe, 0, FE_T_OUT, s, buf, n * 512, TMO), 0);
	vhk_fe_free(fe, buf);
}

static void test_direct_rw(void **state)
{
	struct ctx *c = *state;
	struct vhk_fe_config cfg;
	uint8_t capacity[8], back[512];
	uint64_t cap;
	int fd;

	cfg_for(&cfg, c);
	assert_int_equal(vhk_fe_connect(&c->fe, &cfg), 0);
	/* libvhost-user offers REPLY_ACK and CONFIG; we ack them. */
	assert_true(vhk_has_feature(vhk_fe_protocol_features(c->fe),
				    VHK_PROTO_F_REPLY_ACK));
	assert_true(vhk_has_feature(vhk_fe_protocol_features(c->fe),
				    VHK_PROTO_F_CONFIG));
	assert_int_equal(vhk_fe_start(c->fe), 0);
	assert_int_equal(vhk_fe_dma_mode(c->fe), VHK_DMA_DIRECT);
	assert_false(vhk_has_feature(vhk_fe_features(c->fe),
				     VHK_F_ACCESS_PLATFORM));
	assert_true(vhk_has_feature(vhk_fe_features(c->fe),
				    VHK_F_PROTOCOL_FEATURES));
	assert_false(vhk_has_feature(vhk_fe_driver_features(c->fe),
				     VHK_F_PROTOCOL_FEATURES));

	/* Config space: capacity (le64 at offset 0, VIRTIO 1.2 5.2.4). */
	assert_int_equal(vhk_fe_get_config(c->fe, 0, capacity, 8), 0);
	memcpy(&cap, capacity, 8);
	assert_int_equal(cap, SECTORS);

	check_read(c->fe, 0, 4, fe_pattern);
	check_read(c->fe, SECTORS - 3, 3, fe_pattern);
	write_sectors(c->fe, 100, 8);
	check_read(c->fe, 99, 1, fe_pattern);
	check_read(c->fe, 100, 8, written);
	check_read(c->fe, 108, 1, fe_pattern);
	if (vhk_has_feature(vhk_fe_driver_features(c->fe), VHK_BLK_F_FLUSH))
		assert_int_equal(fe_blk_rw(c->fe, 0, FE_T_FLUSH, 0, NULL, 0,
					   TMO), 0);
	/* Beyond the end: the device reports IOERR (status 1). */
	{
		uint8_t *b = vhk_fe_alloc(c->fe, 512);

		assert_int_equal(fe_blk_rw(c->fe, 0, FE_T_IN, SECTORS, b, 512,
					   TMO), 1);
		vhk_fe_free(c->fe, b);
	}
	/* The data really reached the image file. */
	fd = open(c->img, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 512, 103 * 512), 512);
	close(fd);
	assert_true(sector_is(back, written(103)));

	/* GET_VRING_BASE returns how far the back-end read: 5 reads,
	 * 1 write, 1 read past the end (+1 flush when negotiated). */
	assert_int_equal(vhk_fe_stop(c->fe), 0);
	assert_int_equal(vhk_fe_vring_base(c->fe, 0),
			 7 + vhk_has_feature(vhk_fe_driver_features(c->fe),
					     VHK_BLK_F_FLUSH));
}

static void test_reset(void **state)
{
	struct ctx *c = *state;
	struct vhk_fe_config cfg;
	struct vhk_fe_stats st;

	cfg_for(&cfg, c);
	assert_int_equal(vhk_fe_connect(&c->fe, &cfg), 0);
	assert_int_equal(vhk_fe_start(c->fe), 0);
	write_sectors(c->fe, 200, 2);
	assert_int_equal(vhk_fe_reset(c->fe), 0);
	/* Fresh rings after the reset, and the device still works. */
	check_read(c->fe, 200, 2, written);
	assert_int_equal(vhk_fe_stop(c->fe), 0);
	assert_int_equal(vhk_fe_vring_base(c->fe, 0), 1);
	vhk_fe_stats(c->fe, &st);
	assert_int_equal(st.resets, 1);
	assert_int_equal(st.iotlb_updates_sent, 0);
}

/*
 * The back-end dies and comes back: reconnect re-sends the same memory
 * table and restores the ring at the used index, so a request published
 * (but never kicked) before the crash is processed by the new process.
 */
static void test_reconnect(void **state)
{
	struct ctx *c = *state;
	struct vhk_fe_config cfg;
	struct fe_blk_req *r;
	struct vhk_fe_stats st;
	uint8_t *buf;

	cfg_for(&cfg, c);
	assert_int_equal(vhk_fe_connect(&c->fe, &cfg), 0);
	assert_int_equal(vhk_fe_start(c->fe), 0);
	write_sectors(c->fe, 300, 1);

	buf = vhk_fe_alloc(c->fe, 512);
	assert_non_null(buf);
	memset(buf, 0x77, 512);
	assert_int_equal(fe_blk_submit(c->fe, 0, FE_T_OUT, 301, buf, 512,
				       false, &r), 0);
	fe_kill(&c->qsd, SIGKILL);
	assert_int_equal(fe_spawn_qsd(&c->qsd, c->sock, c->img), 0);
	/* The library notices the hang-up on its next wait. */
	assert_int_equal(vhk_fe_wait(c->fe, 0, 1000), -ECONNRESET);
	assert_false(vhk_fe_connected(c->fe));
	assert_int_equal(vhk_fe_reconnect(c->fe), 0);
	assert_true(vhk_fe_connected(c->fe));
	assert_int_equal(fe_blk_collect(c->fe, 0, r, TMO), 0);
	vhk_fe_free(c->fe, buf);
	check_read(c->fe, 300, 1, written);
	buf = vhk_fe_alloc(c->fe, 512);
	assert_int_equal(fe_blk_rw(c->fe, 0, FE_T_IN, 301, buf, 512, TMO), 0);
	assert_true(sector_is(buf, 0x77));
	vhk_fe_free(c->fe, buf);
	vhk_fe_stats(c->fe, &st);
	assert_int_equal(st.reconnects, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_direct_rw, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup,
						teardown),
	};
	int ret;

	if (access("/usr/bin/qemu-storage-daemon", X_OK) != 0) {
		fprintf(stderr, "qemu-storage-daemon not installed: skip\n");
		return 77;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	fe_tmp_cleanup();
	return ret;
}
