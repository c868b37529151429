// SPDX-License-Identifier: MIT
/*
 * drv_qsd.c - interop: vhostkit's userspace blk driver and CLI against
 * qemu-storage-daemon's vhost-user-blk export (the peer back-end).
 *
 * Data is verified twice: read back through the driver, and read directly
 * from the exported file (so a driver and device that agree on a wrong
 * offset are still caught).  Skips (77) when qemu-storage-daemon is not
 * installed.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "drv_util.h"

#define DISK_BYTES	(32u << 20)

static struct drv_proc qsd;
/* The open connection; a failed test leaves it to close_conn(). */
static struct drv_conn c;

static int close_conn(void **state)
{
	(void)state;
	if (c.fe)
		drv_close(&c);
	return 0;
}
static char sock[200], disk[200];

static int group_setup(void **state)
{
	const char *bin = drv_require("VHK_QSD", "qemu-storage-daemon");

	(void)state;
	snprintf(sock, sizeof(sock), "%s/qsd.sock", drv_tmpdir());
	snprintf(disk, sizeof(disk), "%s/qsd.img", drv_tmpdir());
	if (drv_make_disk(disk, DISK_BYTES) < 0)
		return -1;
	if (drv_spawn_qsd(&qsd, bin, sock, disk) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	drv_kill(&qsd, SIGTERM);
	return 0;
}

static void open_or_fail(struct drv_conn *conn, enum drv_dma dma,
			 unsigned int depth)
{
	struct drv_open_opts o = { .sock = sock, .dma = dma, .queues = 1,
				   .depth = depth, .use_call_fd = true };

	if (drv_open(conn, &o) < 0) {
		drv_dump_log(&qsd);
		fail_msg("cannot open the driver on qemu-storage-daemon");
	}
}

/* Direct mode, 16 MiB of 64 KiB requests 16 deep; then the file itself. */
static void test_qsd_direct(void **state)
{
	const struct vhk_blk_info *bi;

	(void)state;
	open_or_fail(&c, DRV_DIRECT, 16);
	bi = vhk_blk_drv_info(c.drv);
	assert_int_equal(bi->capacity, DISK_BYTES / 512);
	assert_true(bi->flush);
	assert_int_equal(drv_pattern_io(&c, 256, 64 << 10, 0x1234), 0);
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, 0, 16u << 20, 0x1234), 0);
}

/* FLUSH, GET_ID, WRITE_ZEROES (read back as zeroes), DISCARD. */
static void test_qsd_other_ops(void **state)
{
	struct vhk_blk_req req;
	uint8_t *buf;
	unsigned int i;

	(void)state;
	open_or_fail(&c, DRV_DIRECT, 4);
	buf = vhk_fe_alloc(c.fe, 8192);
	assert_non_null(buf);

	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_FLUSH;
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 5000), 0);
	assert_int_equal(req.used_len, 1);

	memset(&req, 0, sizeof(req));
	memset(buf, 0, 64);
	req.op = VHK_BLK_OP_GET_ID;
	req.buf = buf;
	req.len = VHK_BLK_ID_BYTES;
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 5000), 0);
	assert_int_equal(req.used_len, VHK_BLK_ID_BYTES + 1);
	assert_true(buf[0] != 0);

	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_WRITE_ZEROES;
	req.sector = 8;
	req.num_sectors = 16;
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 5000), 0);
	memset(&req, 0, sizeof(req));
	memset(buf, 0xee, 8192);
	req.op = VHK_BLK_OP_READ;
	req.sector = 8;
	req.buf = buf;
	req.len = 8192;
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 5000), 0);
	for (i = 0; i < 8192; i++)
		assert_int_equal(buf[i], 0);

	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_DISCARD;
	req.sector = 64;
	req.num_sectors = 8;
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 5000), 0);

	/* Malformed requests never reach the device. */
	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_READ;
	req.sector = DISK_BYTES / 512 - 1;
	req.buf = buf;
	req.len = 1024;		/* one sector past the end */
	assert_int_equal(vhk_blk_drv_submit(c.drv, 0, &req), -EINVAL);
	req.sector = 0;
	req.len = 100;		/* not a multiple of 512 */
	assert_int_equal(vhk_blk_drv_submit(c.drv, 0, &req), -EINVAL);
	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_DISCARD;
	req.num_sectors = 1;
	req.flags = VHK_BLK_WZ_FLAG_UNMAP;	/* VIRTIO 1.2, 5.2.6.1 */
	assert_int_equal(vhk_blk_drv_submit(c.drv, 0, &req), -EINVAL);
	assert_int_equal(vhk_blk_drv_inflight(c.drv, 0), 0);

	vhk_fe_free(c.fe, buf);
	drv_close(&c);
}

/* Bounce mode (restricted DMA) against a back-end that knows nothing of it. */
static void test_qsd_bounce(void **state)
{
	struct vhk_fe_stats st;

	(void)state;
	open_or_fail(&c, DRV_BOUNCE, 8);
	assert_int_equal(drv_pattern_io(&c, 128, 16 << 10, 0xb0b0), 0);
	vhk_fe_stats(c.fe, &st);
	assert_true(st.bounce_bytes_in >= 128u * (16 << 10));
	assert_true(st.bounce_bytes_out >= 128u * (16 << 10));
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, 0, 2u << 20, 0xb0b0), 0);
}

/* Polling for completions instead of the call eventfd. */
static void test_qsd_poll(void **state)
{
	struct drv_open_opts o = { .sock = sock, .dma = DRV_DIRECT,
				   .queues = 1, .depth = 32 };

	(void)state;
	assert_int_equal(drv_open(&c, &o), 0);
	assert_int_equal(drv_pattern_io(&c, 512, 4096, 0x9011), 0);
	drv_close(&c);
	assert_int_equal(drv_check_file(disk, 0, 2u << 20, 0x9011), 0);
}

/* Run the CLI; returns its exit code and its stdout in @out. */
static int run_cli(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int run_cli(char *out, size_t outlen, const char *fmt, ...)
{
	char cmd[600];
	va_list ap;
	size_t n = 0;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n + 1 < outlen && fgets(out + n, (int)(outlen - n), f))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_qsd_cli_probe(void **state)
{
	const char *cli = drv_bin("VHK_CLI");
	static char out[32768];

	(void)state;
	if (!cli)
		skip();
	assert_int_equal(run_cli(out, sizeof(out), "%s probe %s", cli, sock),
			 0);
	assert_non_null(strstr(out, "device type         blk"));
	assert_non_null(strstr(out, "capacity            65536 sectors"));
	assert_non_null(strstr(out, "VIRTIO_BLK_F_FLUSH"));
	assert_non_null(strstr(out, "VHOST_USER_PROTOCOL_F_CONFIG"));
	/* qemu-storage-daemon offers no ACCESS_PLATFORM. */
	assert_non_null(strstr(out, "gpa                 yes"));
	assert_non_null(strstr(out, "iotlb               no"));
}

static void test_qsd_cli_io(void **state)
{
	const char *cli = drv_bin("VHK_CLI");
	static char out[8192];

	(void)state;
	if (!cli)
		skip();
	assert_int_equal(run_cli(out, sizeof(out),
				 "%s blk io %s --size 4M --bs 16k --seed 7 "
				 "2>&1", cli, sock), 0);
	assert_non_null(strstr(out, "OK: 4194304 bytes verified"));
	/* A DMA mode the back-end cannot run is a negotiation error (3). */
	assert_int_equal(run_cli(out, sizeof(out),
				 "%s blk io %s --size 1M --dma iommu-strict "
				 "2>&1", cli, sock), 3);
	assert_non_null(strstr(out, "does not offer ACCESS_PLATFORM"));
}

/* The benchmark runs and measures the back-end's CPU time per I/O. */
static void test_qsd_cli_bench(void **state)
{
	const char *cli = drv_bin("VHK_CLI");
	static char out[8192];
	double iops = 0, cpu = 0;
	char *r;

	(void)state;
	if (!cli)
		skip();
	assert_int_equal(run_cli(out, sizeof(out),
				 "%s blk bench %s --runtime 0.3 --iodepth 8 "
				 "--pid-a %d 2>&1", cli, sock, (int)qsd.pid),
			 0);
	r = strstr(out, "RESULT side=A iops=");
	assert_non_null(r);
	assert_int_equal(sscanf(r, "RESULT side=A iops=%lf", &iops), 1);
	assert_true(iops > 100);
	r = strstr(r, "cpu_us_per_io=");
	assert_non_null(r);
	assert_int_equal(sscanf(r, "cpu_us_per_io=%lf", &cpu), 1);
	assert_true(cpu > 0 && cpu < 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_qsd_direct, close_conn),
		cmocka_unit_test_teardown(test_qsd_other_ops, close_conn),
		cmocka_unit_test_teardown(test_qsd_bounce, close_conn),
		cmocka_unit_test_teardown(test_qsd_poll, close_conn),
		cmocka_unit_test_teardown(test_qsd_cli_probe, close_conn),
		cmocka_unit_test_teardown(test_qsd_cli_io, close_conn),
		cmocka_unit_test_teardown(test_qsd_cli_bench, close_conn),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
