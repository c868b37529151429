/* SPDX-License-Identifier: MIT */
/*
 * test_proto_workers.c - the back-end server with cfg.queue_workers: the
 * echo device on every queue at once from one client thread per queue,
 * memory table changes and IOTLB invalidations while that traffic runs
 * (the quiesce protocol), IOTLB misses seen by a worker handed to the
 * back-end channel, a device error from a worker, and reconnect / stop
 * loops that must leave no fd and no thread behind.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto_util.h"

#define F(b) vhk_feature_bit(b)
#define BUF_GPA		0x100000ull	/* pt_echo_post's buffer area */
#define BUF_SIZE	0x200000ull

static int task_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int wait_tasks(int want)
{
	int n = task_count();

	for (int i = 0; i < 200 && n != want; i++) {
		usleep(10000);
		n = task_count();
	}
	return n;
}

/* ---- one traffic thread per queue (no cmocka asserts off the main
 * thread: results are counted and checked after the join) */

struct traffic {
	struct pt_guest *g;
	uint16_t idx;
	int n;
	atomic_int done;
	atomic_int bad;
	atomic_bool *stop;
	pthread_t th;
};

static void *traffic_main(void *arg)
{
	struct traffic *t = arg;

	for (int i = 0; i < t->n; i++) {
		char out[48], in[64];
		int len;

		if (t->stop && atomic_load(t->stop))
			break;
		snprintf(out, sizeof(out), "vq%u message %d %08x", t->idx, i,
			 (unsigned int)(i * 2654435761u));
		len = pt_echo_once(t->g, t->idx, out, in, sizeof(in), 5000);
		if (len != (int)strlen(out) || memcmp(in, out, strlen(out))) {
			t->bad++;
			break;
		}
		t->done++;
	}
	return NULL;
}

static void traffic_start(struct traffic *t, struct pt_guest *g, int n,
			  atomic_bool *stop)
{
	for (uint16_t q = 0; q < PT_NQUEUES; q++) {
		memset(&t[q], 0, sizeof(t[q]));
		t[q].g = g;
		t[q].idx = q;
		t[q].n = n;
		t[q].stop = stop;
		assert_int_equal(pthread_create(&t[q].th, NULL, traffic_main,
						&t[q]), 0);
	}
}

static int traffic_join(struct traffic *t)
{
	int total = 0;

	for (uint16_t q = 0; q < PT_NQUEUES; q++) {
		pthread_join(t[q].th, NULL);
		assert_int_equal(t[q].bad, 0);
		total += t[q].done;
	}
	return total;
}

static bool traffic_running(struct traffic *t)
{
	for (uint16_t q = 0; q < PT_NQUEUES; q++)
		if (t[q].done < t[q].n && !t[q].bad)
			return true;
	return false;
}

static void setup_all(int sock, struct pt_guest *g, uint16_t num)
{
	for (uint16_t q = 0; q < PT_NQUEUES; q++)
		assert_int_equal(pt_setup_vq(sock, g, q, num), 0);
}

static const struct pt_server_opts workers_opts = {
	.queue_workers = true,
};

/* Every queue echoes at once; SET_MEM_TABLE and config traffic on the
 * socket meanwhile. */
static void concurrent_echo(bool packed)
{
	uint64_t f = F(VHK_F_VERSION_1) | (packed ? F(VHK_F_RING_PACKED) : 0);
	struct traffic t[PT_NQUEUES];
	struct pt_server s;
	struct pt_guest g;
	int sock, base_tasks, total, remaps = 0;

	pt_server_start(&s, &workers_opts);
	base_tasks = task_count();
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, f, F(VHK_PROTO_F_MQ) | F(VHK_PROTO_F_CONFIG));
	pt_send_mem(sock, &g);
	setup_all(sock, &g, 64);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_GPA);
	/* One worker thread per started queue. */
	assert_int_equal(task_count(), base_tasks + PT_NQUEUES);

	traffic_start(t, &g, 3000, NULL);
	do {
		struct vhk_vu_msg r;
		uint8_t cfg[16] = { 0 };

		/* A new mapping of the same memory: every host pointer the
		 * workers hold is replaced while they are paused. */
		pt_send_mem(sock, &g);
		remaps++;
		cfg[4] = 4;	/* offset 0, size 4 */
		assert_int_equal(pt_get(sock, VHK_VU_GET_CONFIG, cfg, 16, &r,
					NULL, NULL), 16);
		usleep(2000);
	} while (traffic_running(t));
	total = traffic_join(t);
	assert_int_equal(total, 3000 * PT_NQUEUES);
	assert_true(remaps > 0);
	assert_true(atomic_load(&s.echo.chains) >= (unsigned int)total);
	assert_int_equal(atomic_load(&s.echo.errors), 0);

	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	assert_int_equal(wait_tasks(base_tasks), base_tasks);
	pt_server_stop(&s);
}

static void test_concurrent_split(void **st)
{
	(void)st;
	concurrent_echo(false);
}

static void test_concurrent_packed(void **st)
{
	(void)st;
	concurrent_echo(true);
}

/* ---- IOTLB under traffic */

static int64_t iotlb_msg(int sock, struct pt_guest *g, uint8_t type,
			 uint64_t gpa, uint64_t size)
{
	struct vhk_vu_iotlb u = {
		.iova = PT_IOVA_BASE + gpa,
		.size = size,
		.uaddr = g->uva + gpa,
		.perm = VHK_PERM_RW,
		.type = type,
	};

	return pt_req(sock, VHK_VU_IOTLB_MSG, &u, sizeof(u), NULL, 0);
}

/* Read MISS messages from @ch for up to @ms; returns how many. */
static int read_misses(int ch, int ms)
{
	struct pollfd p = { .fd = ch, .events = POLLIN };
	int n = 0;

	while (poll(&p, 1, ms) == 1) {
		struct vhk_vu_msg m;

		assert_int_equal(pt_recv(ch, &m, NULL, NULL), 0);
		assert_int_equal(m.hdr.request, VHK_VU_BACKEND_IOTLB_MSG);
		assert_int_equal(m.payload.iotlb.type, VHK_VU_IOTLB_MISS);
		/* Only the invalidated buffers can miss. */
		assert_true(m.payload.iotlb.iova >= PT_IOVA_BASE + BUF_GPA);
		assert_true(m.payload.iotlb.iova <
			    PT_IOVA_BASE + BUF_GPA + BUF_SIZE);
		n++;
		ms = 0;
	}
	return n;
}

/* Negotiate IOTLB mode with a back-end channel (returned in *@ch). */
static void iotlb_setup(struct pt_server *s, struct pt_guest *g, int *sock,
			int *ch, uint64_t extra_proto)
{
	uint64_t proto = F(VHK_PROTO_F_REPLY_ACK) |
			 F(VHK_PROTO_F_BACKEND_REQ) | extra_proto;
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_ACCESS_PLATFORM) |
		     F(VHK_F_PROTOCOL_FEATURES);
	int sv[2];

	pt_guest_init(g);
	g->iotlb = true;
	*sock = pt_connect(s->path);
	assert_int_equal(pt_send_raw(*sock, VHK_VU_SET_OWNER, VHK_VU_VERSION,
				     NULL, 0, NULL, 0), 0);
	assert_int_equal(pt_send_raw(*sock, VHK_VU_SET_PROTOCOL_FEATURES,
				     VHK_VU_VERSION, &proto, 8, NULL, 0), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	assert_int_equal(pt_req(*sock, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0,
				&sv[1], 1), 0);
	close(sv[1]);
	*ch = sv[0];
	assert_int_equal(pt_req(*sock, VHK_VU_SET_FEATURES, &f, 8, NULL, 0),
			 0);
	g->features = f;
	pt_send_mem(*sock, g);
}

static void test_iotlb_under_traffic(void **st)
{
	struct traffic t[PT_NQUEUES];
	struct pt_server s;
	struct pt_guest g;
	int sock, ch, misses = 0, rounds = 0;

	(void)st;
	pt_server_start(&s, &workers_opts);
	iotlb_setup(&s, &g, &sock, &ch, 0);
	assert_int_equal(iotlb_msg(sock, &g, VHK_VU_IOTLB_UPDATE, 0,
				   PT_MEM_SIZE), 0);
	setup_all(sock, &g, 64);
	assert_int_equal(vhk_backend_mode(s.be), VHK_AS_IOTLB);

	traffic_start(t, &g, 1500, NULL);
	do {
		/* Take the data buffers away (the rings stay mapped): the
		 * next chain a worker pops misses there, the miss reaches
		 * the channel through the main loop, the UPDATE resumes
		 * the parked queue on its worker. */
		assert_int_equal(iotlb_msg(sock, &g, VHK_VU_IOTLB_INVALIDATE,
					   BUF_GPA, BUF_SIZE), 0);
		misses += read_misses(ch, 50);
		assert_int_equal(iotlb_msg(sock, &g, VHK_VU_IOTLB_UPDATE,
					   BUF_GPA, BUF_SIZE), 0);
		rounds++;
		usleep(1000);
	} while (traffic_running(t) && rounds < 200);
	assert_int_equal(traffic_join(t), 1500 * PT_NQUEUES);
	read_misses(ch, 0);
	/* Workers parked on their misses and were resumed. */
	assert_true(misses > 0);
	assert_true(atomic_load(&s.echo.parks) > 0);
	assert_int_equal(atomic_load(&s.echo.errors), 0);
	assert_true(atomic_load(&s.echo.drains) >= (unsigned int)rounds);

	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* A miss seen by a worker and never answered: the main loop's timeout
 * still finds the parked queue and reports the front-end. */
static void test_miss_timeout(void **st)
{
	struct pt_server_opts o = { .queue_workers = true,
				    .miss_timeout_ms = 300 };
	struct pt_server s;
	struct pt_guest g;
	uint64_t status = 0;
	int sock, ch;

	(void)st;
	pt_server_start(&s, &o);
	iotlb_setup(&s, &g, &sock, &ch, F(VHK_PROTO_F_STATUS));
	/* Only the rings are mapped. */
	assert_int_equal(iotlb_msg(sock, &g, VHK_VU_IOTLB_UPDATE, 0,
				   BUF_GPA), 0);
	setup_all(sock, &g, 32);
	pt_echo_post(&g, 1, "never", 16);
	assert_int_equal(read_misses(ch, 2000), 1);
	for (int i = 0; i < 300; i++) {
		status = pt_get_u64(sock, VHK_VU_GET_STATUS);
		if (status & VHK_STATUS_NEEDS_RESET)
			break;
		usleep(10000);
	}
	assert_true(status & VHK_STATUS_NEEDS_RESET);
	assert_true(atomic_load(&s.echo.parks) >= 1);
	close(ch);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* ---- a device error on a worker reaches the status */

static void test_broken_from_worker(void **st)
{
	struct pt_server s;
	struct pt_guest g;
	struct vhk_drv_seg seg = { 0x7f000000ull, 16, true };	/* unmapped */
	uint64_t one = 1, status = 0;
	int sock;

	(void)st;
	pt_server_start(&s, &workers_opts);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1),
		     F(VHK_PROTO_F_MQ) | F(VHK_PROTO_F_STATUS));
	pt_send_mem(sock, &g);
	setup_all(sock, &g, 32);
	assert_int_equal(pt_echo_once(&g, 1, "fine", (char[16]){ 0 }, 16,
				      2000), 4);
	assert_int_equal(vhk_drv_vq_add(g.dq[1], &seg, 1, &g), 0);
	vhk_drv_vq_publish(g.dq[1]);
	assert_int_equal(write(g.kick[1], &one, 8), 8);
	for (int i = 0; i < 200; i++) {
		status = pt_get_u64(sock, VHK_VU_GET_STATUS);
		if (status & VHK_STATUS_NEEDS_RESET)
			break;
		usleep(10000);
	}
	assert_true(status & VHK_STATUS_NEEDS_RESET);
	assert_true(atomic_load(&s.echo.errors) >= 1);
	close(sock);
	pt_guest_fini(&g);
	assert_int_equal(pt_wait_fds(s.base_fds), s.base_fds);
	pt_server_stop(&s);
}

/* ---- reconnects and stop: no fd, no thread left behind */

static void test_reconnect_no_leak(void **st)
{
	struct pt_server s;
	int base_tasks, base_fds;

	(void)st;
	pt_server_start(&s, &workers_opts);
	base_tasks = task_count();
	base_fds = s.base_fds;
	for (int i = 0; i < 6; i++) {
		struct traffic t[PT_NQUEUES];
		struct pt_guest g;
		int sock;

		pt_guest_init(&g);
		sock = pt_connect(s.path);
		pt_negotiate(sock, &g, F(VHK_F_VERSION_1) |
			     (i & 1 ? F(VHK_F_RING_PACKED) : 0), 0);
		pt_send_mem(sock, &g);
		setup_all(sock, &g, 32);
		assert_int_equal(task_count(), base_tasks + PT_NQUEUES);
		traffic_start(t, &g, 50, NULL);
		assert_int_equal(traffic_join(t), 50 * PT_NQUEUES);
		if (i == 2) {
			/* Stop one ring and restart it on a running
			 * connection: its worker stays, no extra one. */
			struct vhk_vu_vring_state vs = { .index = 0 };
			struct vhk_vu_msg r;

			assert_int_equal(pt_get(sock, VHK_VU_GET_VRING_BASE,
						&vs, 8, &r, NULL, NULL), 8);
			assert_int_equal(pt_setup_vq(sock, &g, 0, 32), 0);
			assert_int_equal(task_count(),
					 base_tasks + PT_NQUEUES);
		}
		close(sock);
		pt_guest_fini(&g);
		assert_int_equal(pt_wait_fds(base_fds), base_fds);
		assert_int_equal(wait_tasks(base_tasks), base_tasks);
	}
	pt_server_stop(&s);
	/* The server thread itself is gone too. */
	assert_int_equal(wait_tasks(base_tasks - 1), base_tasks - 1);
}

/* Stop (SIGTERM path) while every queue has traffic in flight. */
static void test_stop_under_traffic(void **st)
{
	struct traffic t[PT_NQUEUES];
	struct pt_server s;
	struct pt_guest g;
	atomic_bool stop = false;
	int sock, base_tasks;

	(void)st;
	base_tasks = task_count();
	pt_server_start(&s, &workers_opts);
	pt_guest_init(&g);
	sock = pt_connect(s.path);
	pt_negotiate(sock, &g, F(VHK_F_VERSION_1), 0);
	pt_send_mem(sock, &g);
	setup_all(sock, &g, 64);
	traffic_start(t, &g, 1000000, &stop);
	usleep(20000);
	pt_server_stop(&s);	/* joins workers, frees everything */
	assert_int_equal(task_count(), base_tasks + PT_NQUEUES);
	atomic_store(&stop, true);
	/* The in-progress echo of each thread may time out: count only. */
	for (uint16_t q = 0; q < PT_NQUEUES; q++)
		pthread_join(t[q].th, NULL);
	assert_int_equal(task_count(), base_tasks);
	close(sock);
	pt_guest_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_split),
		cmocka_unit_test(test_concurrent_packed),
		cmocka_unit_test(test_iotlb_under_traffic),
		cmocka_unit_test(test_miss_timeout),
		cmocka_unit_test(test_broken_from_worker),
		cmocka_unit_test(test_reconnect_no_leak),
		cmocka_unit_test(test_stop_under_traffic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
