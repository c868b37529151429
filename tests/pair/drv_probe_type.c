/* SPDX-License-Identifier: MIT */
/*
 * drv_probe_type.c - `vhostkit probe` tells the device type from the
 * device feature bits and config, not from protocol bits: a blk back-end
 * that offers the net-only RARP / NET_MTU protocol features for every
 * device type (as DPDK's vhost library does) is still reported as blk.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vhostkit/blk.h"

static const struct vhk_device_ops *blk_ops = &vhk_blk_ops;

/* DPDK-like: the net-only protocol bits on top of what blk asks for. */
static uint64_t dpdk_like_protocol(void *dev)
{
	uint64_t f = blk_ops->get_protocol_features ?
		     blk_ops->get_protocol_features(dev) : 0;

	vhk_set_feature(&f, VHK_PROTO_F_RARP);
	vhk_set_feature(&f, VHK_PROTO_F_NET_MTU);
	return f;
}

static void *serve(void *arg)
{
	vhk_backend_run(arg);
	return NULL;
}

static void test_blk_with_net_protocol_bits(void **state)
{
	const char *cli = getenv("VHK_CLI");
	char dir[] = "/tmp/vhk-probe-XXXXXX", disk[64], sock[64], cmd[256];
	char out[8192];
	struct vhk_blk_opts o = { .num_queues = 1 };
	struct vhk_backend_config cfg = { .name = "dpdk-like" };
	struct vhk_device_ops ops = vhk_blk_ops;
	struct vhk_backend *be;
	struct vhk_blk *blk;
	pthread_t th;
	size_t n;
	FILE *f;

	(void)state;
	assert_non_null(cli);
	assert_non_null(mkdtemp(dir));
	snprintf(disk, sizeof(disk), "%s/d.img", dir);
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	f = fopen(disk, "w");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 1 << 20), 0);
	fclose(f);
	o.disk = disk;
	assert_int_equal(vhk_blk_open(&blk, &o), 0);
	ops.get_protocol_features = dpdk_like_protocol;
	cfg.socket_path = sock;
	assert_int_equal(vhk_backend_new(&be, &cfg, &ops, blk), 0);
	assert_int_equal(pthread_create(&th, NULL, serve, be), 0);

	snprintf(cmd, sizeof(cmd), "%s probe %s 2>&1", cli, sock);
	f = popen(cmd, "r");
	assert_non_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	pclose(f);
	vhk_backend_stop(be);
	pthread_join(th, NULL);
	vhk_backend_free(be);
	vhk_blk_close(blk);
	unlink(disk);
	rmdir(dir);

	print_message("%s", out);
	/* The back-end did offer the net-only bits ... */
	assert_non_null(strstr(out, "RARP"));
	/* ... and the type still comes from the device features. */
	assert_non_null(strstr(out, "device type         blk"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_with_net_protocol_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
