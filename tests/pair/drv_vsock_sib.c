// SPDX-License-Identifier: MIT
/*
 * drv_vsock_sib.c - sibling VMs through one vhostkit-vsock: three
 * userspace-driver front-ends (each playing a guest) on three vhost-user
 * sockets of one daemon (`--vm` three times).  CIDs 3 and 4 share group
 * "red" and reach each other by CID (a checksummed echo); CID 5 is in
 * group "green" only: connects between it and the others fail at once
 * with RST (ECONNRESET), both ways, although a listener waits there.
 * Each driver runs in its own thread (a driver is single-threaded).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vsock_util.h"
#include "vhostkit/frontend.h"

#define T_MS	20000
#define PORT	6000
#define BYTES	(192u * 1024)	/* below the driver's 256 KiB credit */

static const char *g_bin;

struct vm {
	uint32_t cid;
	const char *groups;
	char sock[200], uds[200];
	struct vt_drv v;
	int result;
};

/* B (CID 4): accept one connection on PORT, echo it to EOF. */
static void *echo_vm(void *p)
{
	struct vm *m = p;
	struct vhk_vsock_conn *c = NULL;
	static uint8_t buf[BYTES];
	size_t got = 0;
	ssize_t r;
	int ret;

	ret = vhk_vsock_listen(m->v.d, PORT, VHK_VSOCK_TYPE_STREAM, 4);
	if (!ret)
		ret = vhk_vsock_accept(m->v.d, PORT, T_MS, &c);
	while (!ret && (r = vhk_vsock_recv(c, buf + got, sizeof(buf) - got,
					   T_MS, NULL)) != 0) {
		if (r < 0)
			ret = (int)r;
		else
			got += (size_t)r;
		if (got == sizeof(buf))
			break;
	}
	if (!ret)
		ret = vt_send_all(c, buf, got, T_MS);
	if (c)
		vhk_vsock_close(c);
	m->result = ret ? ret : (int)got;
	return NULL;
}

/* C (CID 5, another group): a listener nobody may reach; then C tries
 * to reach A itself. */
static void *lonely_vm(void *p)
{
	struct vm *m = p;
	struct vhk_vsock_conn *c = NULL;
	int ret;

	ret = vhk_vsock_listen(m->v.d, PORT, VHK_VSOCK_TYPE_STREAM, 4);
	if (!ret) {
		ret = vhk_vsock_accept(m->v.d, PORT, 3000, &c);
		if (ret == 0) {
			vhk_vsock_close(c);
			ret = -EEXIST;		/* reached across groups */
		} else if (ret == -ETIMEDOUT) {
			ret = vhk_vsock_connect(m->v.d, 3, PORT,
						VHK_VSOCK_TYPE_STREAM, 5000, &c);
			if (ret == 0) {
				vhk_vsock_close(c);
				ret = -EEXIST;
			} else if (ret == -ECONNRESET) {
				ret = 0;
			}
		}
	}
	m->result = ret;
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_siblings(void **state)
{
	struct vm vms[3] = { { .cid = 3, .groups = "red" },
			     { .cid = 4, .groups = "red+blue" },
			     { .cid = 5, .groups = "green" } };
	char spec[3][600];
	char *argv[10];
	struct drv_proc proc;
	struct vt_open_opts o = { .dma = DRV_DIRECT };
	struct vhk_vsock_conn *c;
	static uint8_t out[BYTES], in[BYTES];
	pthread_t tb, tc;
	double t0;
	int n = 0, ret;

	(void)state;
	argv[n++] = (char *)g_bin;
	for (int i = 0; i < 3; i++) {
		snprintf(vms[i].sock, sizeof(vms[i].sock), "%s/sib%u.sock",
			 drv_tmpdir(), vms[i].cid);
		snprintf(vms[i].uds, sizeof(vms[i].uds), "%s/sib%u.uds",
			 drv_tmpdir(), vms[i].cid);
		snprintf(spec[i], sizeof(spec[i]),
			 "guest-cid=%u,socket=%s,uds-path=%s,groups=%s",
			 vms[i].cid, vms[i].sock, vms[i].uds, vms[i].groups);
		argv[n++] = "--vm";
		argv[n++] = spec[i];
	}
	argv[n] = NULL;
	assert_int_equal(drv_spawn(&proc, argv), 0);
	for (int i = 0; i < 3; i++) {
		if (drv_wait_path(vms[i].sock, 10000) < 0 ||
		    vt_open(&vms[i].v, vms[i].sock, &o) < 0) {
			drv_dump_log(&proc);
			fail_msg("VM %u did not come up", vms[i].cid);
		}
		assert_int_equal(vhk_vsock_drv_guest_cid(vms[i].v.d),
				 vms[i].cid);
	}
	pthread_create(&tb, NULL, echo_vm, &vms[1]);
	pthread_create(&tc, NULL, lonely_vm, &vms[2]);

	/* same group: A -> B by CID, the bytes come back intact */
	ret = vhk_vsock_connect(vms[0].v.d, 4, PORT, VHK_VSOCK_TYPE_STREAM,
				T_MS, &c);
	assert_int_equal(ret, 0);
	vt_fill(out, sizeof(out), 4, 0);
	assert_int_equal(vt_send_all(c, out, sizeof(out), T_MS), 0);
	assert_int_equal(vt_recv_all(c, in, sizeof(in), T_MS), 0);
	assert_memory_equal(in, out, sizeof(out));
	vhk_vsock_close(c);

	/* different groups: refused at once (RST), not timed out */
	t0 = now_s();
	ret = vhk_vsock_connect(vms[0].v.d, 5, PORT, VHK_VSOCK_TYPE_STREAM,
				T_MS, &c);
	assert_int_equal(ret, -ECONNRESET);
	assert_true(now_s() - t0 < 2.0);
	/* and a CID no VM has */
	ret = vhk_vsock_connect(vms[0].v.d, 77, PORT, VHK_VSOCK_TYPE_STREAM,
				T_MS, &c);
	assert_int_equal(ret, -ECONNRESET);

	/* A listens while C tries to reach it (C's thread) */
	assert_int_equal(vhk_vsock_listen(vms[0].v.d, PORT,
					  VHK_VSOCK_TYPE_STREAM, 4), 0);
	ret = vhk_vsock_accept(vms[0].v.d, PORT, 6000, &c);
	assert_int_equal(ret, -ETIMEDOUT);

	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(vms[1].result, (int)BYTES);
	assert_int_equal(vms[2].result, 0);
	for (int i = 0; i < 3; i++)
		vt_close(&vms[i].v);
	drv_kill(&proc, SIGTERM);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siblings),
	};

	(void)argc;
	(void)argv;
	g_bin = drv_require("VHK_VSOCK_BIN", "vhostkit-vsock");
	return cmocka_run_group_tests_name("drv_vsock_sib", tests, NULL,
					   NULL);
}
