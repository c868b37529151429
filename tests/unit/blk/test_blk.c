/* SPDX-License-Identifier: MIT */
/*
 * test_blk.c - the virtio-blk device driven through real rings in mock
 * guest memory: a driver-side queue (drv_ring.h) places requests, the
 * device-side queue is started on the mockmem address space, and the
 * device runs through a fake host (no socket server) against a temp file.
 *
 * Every test asserts the status byte, the used length, the file content
 * and that no guest byte outside the request's buffers changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdatomic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "vhk_test.h"
#include "vhostkit/devq.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/ring_ctl.h"
#include "dev/blk/blk_internal.h"

#define QSIZE		16
#define DISK_SECTORS	256		/* 128 KiB temp disk */
#define SERIAL		"vhk-serial-1234"

/* Buffer area layout (offsets in the mock guest buffer area). */
#define OFF_HDR		0x0000
#define OFF_PAY		0x0100		/* discard/wz segments, bad headers */
#define OFF_DATA	0x1000		/* data, up to 0x2000 bytes */
#define OFF_STATUS	0x3800
#define BUF_SIZE	0x4000

/* --mmap: every test on a memory-mapped disk (blk_mmap.c). */
static bool mmap_all;
static bool mmap_cur;		/* the next setup's mode */
static unsigned int sqpoll_cur;	/* the next setup's sqpoll_idle_ms */
/* --shm: every test on a disk in /dev/shm (tmpfs: nowait by default). */
static const char *disk_dir_all = ".";
static const char *disk_dir = ".";	/* where the next setup's disk goes */
static enum vhk_blk_nowait nowait_cur;	/* the next setup's nowait mode */

struct fake_host {
	struct vhk_vq *vq;
	unsigned int completes;
	unsigned int kick_laters;
	unsigned int broken;
	int fd;
	vhk_watch_fn fn;
	void *arg;
};

struct ctx {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq;
	struct vhk_vq *vq;
	struct vhk_blk *blk;
	struct fake_host host;
	struct vhk_dev_queue q;	/* the framework's queue, run by the test */
	char path[128];
	int fd;			/* test's own view of the disk */
	uint64_t features;
};

static void h_complete(void *opaque, struct vhk_dev_queue *q)
{
	struct fake_host *h = opaque;

	assert_int_equal(vhk_dq_index(q), 0);
	vhk_vq_flush(h->vq);
	h->completes++;
}

static void h_kick_later(void *opaque, struct vhk_dev_queue *q)
{
	struct fake_host *h = opaque;

	assert_int_equal(vhk_dq_index(q), 0);
	h->kick_laters++;
}

static int h_watch(void *opaque, struct vhk_dev_queue *q, int fd,
		   uint32_t events, vhk_watch_fn fn, void *arg)
{
	struct fake_host *h = opaque;

	(void)q;
	assert_int_equal(events, EPOLLIN);
	h->fd = fd;
	h->fn = fn;
	h->arg = arg;
	return 0;
}

static int h_unwatch(void *opaque, struct vhk_dev_queue *q, int fd)
{
	struct fake_host *h = opaque;

	(void)q;
	if (fd != h->fd)
		return -ENOENT;
	h->fd = -1;
	return 0;
}

static void h_broken(void *opaque, const char *why)
{
	struct fake_host *h = opaque;

	(void)why;
	h->broken++;
}

static void setup_full(struct ctx *c, enum vhk_as_mode mode, bool read_only,
		       bool packed, uint16_t depth, unsigned int max_iov)
{
	struct vhk_blk_opts o = {
		.num_queues = 1,
		.queue_depth = depth,
		.serial = SERIAL,
		.read_only = read_only,
		.max_iov = max_iov,
		.mmap = mmap_cur ? VHK_BLK_MMAP_ON : VHK_BLK_MMAP_OFF,
		.sqpoll_idle_ms = sqpoll_cur,
		.nowait = nowait_cur,
	};
	static const struct vhk_dq_host h = {
		.complete = h_complete,
		.kick_later = h_kick_later,
		.watch = h_watch,
		.unwatch = h_unwatch,
		.broken = h_broken,
	};
	struct vhk_vq_params p = { .num = QSIZE, .name = "test vq0" };
	uint8_t *init;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->host.fd = -1;
	vhk_test_mockmem(&c->m, mode, vhk_drv_vq_mem_size(packed, QSIZE),
			 BUF_SIZE);
	vhk_set_feature(&c->features, VHK_F_VERSION_1);
	vhk_set_feature(&c->features, VHK_F_EVENT_IDX);
	/* A driver that uses discard / write-zeroes acks them. */
	vhk_set_feature(&c->features, VHK_BLK_F_DISCARD);
	vhk_set_feature(&c->features, VHK_BLK_F_WRITE_ZEROES);
	if (packed)
		vhk_set_feature(&c->features, VHK_F_RING_PACKED);
	assert_int_equal(vhk_drv_vq_new(&c->dq, QSIZE, c->features,
					c->m.ring_host, c->m.ring_addr), 0);
	vhk_drv_vq_addrs(c->dq, &p.addrs);
	p.features = c->features;
	/* As the server does: the rings pop what the device takes. */
	p.max_iov = max_iov ? max_iov : VHK_BLK_DEFAULT_MAX_IOV;
	/* Packed (vhost-user encoding): slot 0, wrap counter 1. */
	p.avail_base = packed ? 0x8000 : 0;
	assert_int_equal(vhk_vq_new(&c->vq), 0);
	assert_int_equal(vhk_vq_start(c->vq, &c->m.as, &p), 0);

	/* The disk: a temp file with a recognisable pattern. */
	snprintf(c->path, sizeof(c->path), "%s/test_blk_disk_XXXXXX",
		 disk_dir);
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	init = malloc(DISK_SECTORS * 512);
	assert_non_null(init);
	for (i = 0; i < DISK_SECTORS * 512; i++)
		init[i] = (uint8_t)(i / 512 + 1);
	assert_int_equal(pwrite(c->fd, init, DISK_SECTORS * 512, 0),
			 DISK_SECTORS * 512);
	free(init);

	o.disk = c->path;
	assert_int_equal(vhk_blk_open(&c->blk, &o), 0);
	assert_int_equal(vhk_blk_capacity(c->blk), DISK_SECTORS);
	assert_int_equal(vhk_blk_mmapped(c->blk), mmap_cur);
	c->host.vq = c->vq;
	assert_int_equal(vhk_dq_init(&c->q, c->vq, 0,
				     vhk_blk_ops.max_iov(c->blk), &h,
				     &c->host, "test vq0"), 0);
	assert_int_equal(vhk_dq_max_iov(&c->q), p.max_iov);
	assert_int_equal(vhk_blk_ops.set_features(c->blk, c->features), 0);
	assert_int_equal(vhk_blk_ops.queue_start(c->blk, &c->q), 0);
	assert_true(c->host.fd >= 0);
}

static void setup_ctx(struct ctx *c, bool read_only, bool packed,
		      uint16_t depth)
{
	setup_full(c, VHK_AS_GPA, read_only, packed, depth, 0);
}

static void teardown_full(struct ctx *c, unsigned int broken)
{
	vhk_blk_ops.queue_stop(c->blk, &c->q);
	assert_int_equal(c->host.fd, -1);	/* the eventfd was unwatched */
	vhk_dq_fini(&c->q);
	vhk_blk_ops.reset(c->blk);
	vhk_blk_close(c->blk);
	assert_true(vhk_mockmem_canaries_intact(&c->m));
	assert_int_equal(c->host.broken, broken);
	vhk_vq_free(c->vq);
	vhk_drv_vq_free(c->dq);
	vhk_mockmem_fini(&c->m);
	close(c->fd);
	unlink(c->path);
}

static void teardown_ctx(struct ctx *c)
{
	teardown_full(c, 0);
}

/* A segment in the mock buffer area. */
static struct vhk_drv_seg seg(struct ctx *c, size_t off, uint32_t len, bool w)
{
	struct vhk_drv_seg s = {
		.addr = vhk_mockmem_buf_addr(&c->m, off),
		.len = len,
		.write = w,
	};
	return s;
}

static void put_hdr(struct ctx *c, uint32_t type, uint64_t sector)
{
	struct vhk_blk_req_hdr h = {
		.type = vhk_le32_make(type),
		.sector = vhk_le64_make(sector),
	};

	vhk_mockmem_write(&c->m, OFF_HDR, &h, sizeof(h));
}

/*
 * Kick, then run completions until @n used buffers came back.  Like the
 * server, a kick_later() raised anywhere (inside vhk_dq_process() when
 * the batch's completions were reaped inline, or in the completion
 * watch) makes the test process the ring again before it waits: the
 * requests it parked have nothing else that would wake them.
 */
static void run(struct ctx *c, unsigned int n, uint32_t *lens)
{
	unsigned int got = 0, rounds = 0;
	unsigned int kl = c->host.kick_laters;

	vhk_drv_vq_publish(c->dq);
	vhk_dq_process(&c->q, &vhk_blk_ops, c->blk);
	while (got < n) {
		struct pollfd pfd = { .fd = c->host.fd, .events = POLLIN };
		void *token;
		uint32_t len;
		int ret;

		ret = vhk_drv_vq_get_used(c->dq, &token, &len);
		assert_true(ret >= 0);
		if (ret == 1) {
			lens[(uintptr_t)token - 1] = len;
			got++;
			continue;
		}
		assert_true(++rounds < 1000);
		if (c->host.kick_laters != kl) {
			kl = c->host.kick_laters;
			vhk_dq_process(&c->q, &vhk_blk_ops, c->blk);
			continue;
		}
		assert_true(poll(&pfd, 1, 5000) == 1);
		c->host.fn(c->host.arg, c->host.fd, POLLIN);
	}
}

/* One request: header, optional data, status; returns the used length. */
static uint32_t one(struct ctx *c, uint32_t type, uint64_t sector,
		    size_t data_len, bool data_w, uint8_t *status)
{
	struct vhk_drv_seg s[3];
	unsigned int n = 0;
	uint32_t len = 0xdeadbeef;

	put_hdr(c, type, sector);
	vhk_mockmem_fill(&c->m, OFF_STATUS, 0x77, 1);
	s[n++] = seg(c, OFF_HDR, 16, false);
	if (data_len)
		s[n++] = seg(c, OFF_DATA, (uint32_t)data_len, data_w);
	s[n++] = seg(c, OFF_STATUS, 1, true);
	assert_int_equal(vhk_drv_vq_add(c->dq, s, n, (void *)(uintptr_t)1), 0);
	run(c, 1, &len);
	vhk_mockmem_read(&c->m, OFF_STATUS, status, 1);
	return len;
}

static size_t data_len(void)
{
	/* Fragmented: one host segment per byte, keep under max_iov. */
	return vhk_test_fragmented() ? 512 : 4096;
}

static void read_disk(struct ctx *c, uint64_t sector, void *buf, size_t n)
{
	assert_int_equal(pread(c->fd, buf, n, (off_t)(sector * 512)),
			 (ssize_t)n);
}

static bool disk_is(struct ctx *c, uint64_t sector, size_t n, int byte)
{
	uint8_t *b = malloc(n);
	size_t i;
	bool ok = true;

	assert_non_null(b);
	read_disk(c, sector, b, n);
	for (i = 0; i < n; i++)
		ok &= b[i] == (uint8_t)(byte < 0 ? sector + i / 512 + 1 :
					   (uint64_t)byte);
	free(b);
	return ok;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

static void roundtrip(enum vhk_as_mode mode, bool packed)
{
	struct ctx c;
	size_t n = data_len();
	uint8_t *w = malloc(n), *r = malloc(n);
	uint8_t st;

	assert_non_null(w);
	assert_non_null(r);
	setup_full(&c, mode, false, packed, 0, 0);
	fill_pattern(w, n, 0x31);
	vhk_mockmem_write(&c.m, OFF_DATA, w, n);
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 8, n, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 8, r, n);
	assert_memory_equal(r, w, n);

	/* Read it back into a buffer full of 0xee. */
	vhk_mockmem_fill(&c.m, OFF_DATA, 0xee, n);
	assert_int_equal(one(&c, VHK_BLK_T_IN, 8, n, true, &st), n + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, r, n);
	assert_memory_equal(r, w, n);

	/* The last sector of the disk is readable too (boundary). */
	assert_int_equal(one(&c, VHK_BLK_T_IN, DISK_SECTORS - 1, 512, true,
			     &st), 513);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, r, 512);
	assert_int_equal(r[0], (uint8_t)DISK_SECTORS);
	assert_int_equal(r[511], (uint8_t)DISK_SECTORS);
	teardown_ctx(&c);
	free(w);
	free(r);
}

static void test_roundtrip_split(void **state)
{
	(void)state;
	roundtrip(VHK_AS_GPA, false);
}

static void test_roundtrip_packed(void **state)
{
	(void)state;
	roundtrip(VHK_AS_GPA, true);
}

/* The same through the identity and IOTLB address spaces. */
static void test_roundtrip_modes(void **state)
{
	(void)state;
	roundtrip(VHK_AS_PLATFORM_IDENTITY, false);
	roundtrip(VHK_AS_IOTLB, false);
	roundtrip(VHK_AS_IOTLB, true);
}

/* drain() completes every in-flight request without the event loop. */
static void test_drain(void **state)
{
	enum { N = 4 };
	struct ctx c;
	struct vhk_drv_seg s[3];
	unsigned int i, got = 0;
	void *token;
	uint32_t len;
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	for (i = 0; i < N; i++) {
		struct vhk_blk_req_hdr h = {
			.type = vhk_le32_make(VHK_BLK_T_IN),
			.sector = vhk_le64_make(10 + i),
		};

		vhk_mockmem_write(&c.m, OFF_HDR + 16 * i, &h, sizeof(h));
		vhk_mockmem_fill(&c.m, OFF_STATUS + i, 0x77, 1);
		s[0] = seg(&c, OFF_HDR + 16 * i, 16, false);
		s[1] = seg(&c, OFF_DATA + 512 * i, 512, true);
		s[2] = seg(&c, OFF_STATUS + i, 1, true);
		assert_int_equal(vhk_drv_vq_add(c.dq, s, 3,
						(void *)(uintptr_t)(i + 1)), 0);
	}
	vhk_drv_vq_publish(c.dq);
	vhk_dq_process(&c.q, &vhk_blk_ops, c.blk);
	vhk_blk_ops.drain(c.blk);
	assert_int_equal(c.blk->queues[0].inflight, 0);
	while (vhk_drv_vq_get_used(c.dq, &token, &len) == 1) {
		assert_int_equal(len, 513);
		got++;
	}
	assert_int_equal(got, N);
	for (i = 0; i < N; i++) {
		uint8_t b[512];

		vhk_mockmem_read(&c.m, OFF_STATUS + i, &st, 1);
		assert_int_equal(st, VHK_BLK_S_OK);
		vhk_mockmem_read(&c.m, OFF_DATA + 512 * i, b, sizeof(b));
		assert_true(b[0] == 11 + i && b[511] == 11 + i);
	}
	teardown_ctx(&c);
}

/* The file shrank under the device: reads past its end fail cleanly. */
static void test_short_file(void **state)
{
	struct ctx c;
	uint8_t st, b[512];

	(void)state;
	setup_ctx(&c, false, false, 0);
	assert_int_equal(ftruncate(c.fd, 200 * 512 + 256), 0);
	/* Entirely past EOF: read returns 0 -> IOERR. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 220, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* Straddling EOF: a short read, then 0 -> IOERR. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 200, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* Before EOF still works. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 199, 512, true, &st), 513);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, b, sizeof(b));
	assert_true(b[0] == 200 && b[511] == 200);
	teardown_ctx(&c);
}

/*
 * 2048 data bytes: in the fragmented run that is 2048 host segments, more
 * than one readv/writev takes (IOV_MAX), so the transfer goes in steps.
 */
static void test_many_segments(void **state)
{
	struct ctx c;
	uint8_t w[2048], r[2048], st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	fill_pattern(w, sizeof(w), 0x3c);
	vhk_mockmem_write(&c.m, OFF_DATA, w, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 64, sizeof(w), false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 64, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	vhk_mockmem_fill(&c.m, OFF_DATA, 0, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_IN, 64, sizeof(w), true, &st),
			 sizeof(w) + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	teardown_ctx(&c);
}

/* A chain with more host segments than max_iov breaks the queue. */
static void test_too_many_segments(void **state)
{
	struct ctx c;
	struct vhk_drv_seg s[8];
	unsigned int i;
	void *token;
	uint32_t len;

	(void)state;
	if (vhk_test_fragmented())
		skip();	/* every byte is a segment: covered by the cap */
	setup_full(&c, VHK_AS_GPA, false, false, 0, 4);
	put_hdr(&c, VHK_BLK_T_OUT, 0);
	s[0] = seg(&c, OFF_HDR, 16, false);
	for (i = 1; i < 5; i++)
		s[i] = seg(&c, OFF_DATA + 0x400 * i, 512, false);
	s[5] = seg(&c, OFF_STATUS, 1, true);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 6, (void *)1), 0);
	vhk_drv_vq_publish(c.dq);
	assert_int_equal(vhk_dq_process(&c.q, &vhk_blk_ops, c.blk),
			 VHK_KICK_DONE);
	assert_int_equal(c.host.broken, 1);
	assert_true(vhk_vq_broken(c.vq));
	assert_int_equal(vhk_drv_vq_get_used(c.dq, &token, &len), 0);
	assert_true(disk_is(&c, 0, 2048, -1));
	teardown_full(&c, 1);
}

/* Data split over several descriptors, plus a header split in two. */
static void test_scattered(void **state)
{
	struct ctx c;
	struct vhk_drv_seg s[6];
	uint8_t w[2048], r[2048], st;
	/* Fragmented: one host segment per byte, keep under max_iov. */
	uint32_t p = vhk_test_fragmented() ? 256 : 1024, len;

	(void)state;
	setup_ctx(&c, false, false, 0);
	fill_pattern(w, sizeof(w), 0x55);
	vhk_mockmem_write(&c.m, OFF_DATA, w, p);
	vhk_mockmem_write(&c.m, OFF_DATA + 0x1000, w + p, p);
	put_hdr(&c, VHK_BLK_T_OUT, 100);
	s[0] = seg(&c, OFF_HDR, 5, false);
	s[1] = seg(&c, OFF_HDR + 5, 11, false);
	s[2] = seg(&c, OFF_DATA, p, false);
	s[3] = seg(&c, OFF_DATA + 0x1000, p, false);
	s[4] = seg(&c, OFF_STATUS, 1, true);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 5, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 1);
	vhk_mockmem_read(&c.m, OFF_STATUS, &st, 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 100, r, 2 * p);
	assert_memory_equal(r, w, 2 * p);

	/* Read back into two writable pieces with the status in a third. */
	vhk_mockmem_fill(&c.m, OFF_DATA, 0, 0x2000);
	put_hdr(&c, VHK_BLK_T_IN, 100);
	s[0] = seg(&c, OFF_HDR, 16, false);
	s[1] = seg(&c, OFF_DATA, p + p / 2, true);
	s[2] = seg(&c, OFF_DATA + 0x1000, p / 2, true);
	s[3] = seg(&c, OFF_STATUS, 1, true);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 4, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 2 * p + 1);
	vhk_mockmem_read(&c.m, OFF_DATA, r, p + p / 2);
	vhk_mockmem_read(&c.m, OFF_DATA + 0x1000, r + p + p / 2, p / 2);
	assert_memory_equal(r, w, 2 * p);
	teardown_ctx(&c);
}

static void test_flush(void **state)
{
	struct ctx c;
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	assert_int_equal(one(&c, VHK_BLK_T_FLUSH, 0, 0, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	teardown_ctx(&c);
}

static void put_dwz(struct ctx *c, unsigned int i, uint64_t sector,
		    uint32_t num, uint32_t flags)
{
	struct vhk_blk_dwz_seg s = {
		.sector = vhk_le64_make(sector),
		.num_sectors = vhk_le32_make(num),
		.flags = vhk_le32_make(flags),
	};

	vhk_mockmem_write(&c->m, OFF_PAY + i * sizeof(s), &s, sizeof(s));
}

/* DISCARD / WZ with @nseg segments already written at OFF_PAY. */
static uint32_t dwz(struct ctx *c, uint32_t type, size_t bytes, uint8_t *st)
{
	struct vhk_drv_seg s[3];
	uint32_t len;

	put_hdr(c, type, 0);
	vhk_mockmem_fill(&c->m, OFF_STATUS, 0x77, 1);
	s[0] = seg(c, OFF_HDR, 16, false);
	s[1] = seg(c, OFF_PAY, (uint32_t)bytes, false);
	s[2] = seg(c, OFF_STATUS, 1, true);
	assert_int_equal(vhk_drv_vq_add(c->dq, s, 3, (void *)1), 0);
	run(c, 1, &len);
	vhk_mockmem_read(&c->m, OFF_STATUS, st, 1);
	return len;
}


/* DISCARD / WRITE_ZEROES without the feature acked: UNSUPP, disk untouched. */
static void test_dwz_not_acked(void **state)
{
	struct ctx c;
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	c.features &= ~(vhk_feature_bit(VHK_BLK_F_DISCARD) |
			vhk_feature_bit(VHK_BLK_F_WRITE_ZEROES));
	assert_int_equal(vhk_blk_ops.set_features(c.blk, c.features), 0);
	put_dwz(&c, 0, 16, 8, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	assert_int_equal(dwz(&c, VHK_BLK_T_WRITE_ZEROES, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	assert_true(disk_is(&c, 16, 8 * 512, -1));
	teardown_ctx(&c);
}

static void test_discard(void **state)
{
	struct ctx c;
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	put_dwz(&c, 0, 16, 8, 0);
	put_dwz(&c, 1, 40, 8, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 32, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	/* Sectors around the ranges are untouched. */
	assert_true(disk_is(&c, 15, 512, -1));
	assert_true(disk_is(&c, 24, 512, -1));
	assert_true(disk_is(&c, 48, 512, -1));

	/* VIRTIO 1.2, 5.2.6.2: unmap on a discard -> UNSUPP. */
	put_dwz(&c, 0, 16, 8, VHK_BLK_WZ_FLAG_UNMAP);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	/* Unknown flags -> UNSUPP. */
	put_dwz(&c, 0, 16, 8, 0x80);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	/* Payload not a multiple of 16 -> IOERR. */
	put_dwz(&c, 0, 16, 8, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 15, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* Range past the end, and a wrapping one -> IOERR. */
	put_dwz(&c, 0, DISK_SECTORS - 4, 8, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	put_dwz(&c, 0, UINT64_MAX - 2, 8, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_true(disk_is(&c, DISK_SECTORS - 4, 4 * 512, -1));
	/* More segments than max_discard_seg -> UNSUPP. */
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD,
			     16 * (VHK_BLK_MAX_DWZ_SEG + 1), &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	teardown_ctx(&c);
}

static void write_zeroes(bool no_punch, bool no_zero_range)
{
	struct ctx c;
	uint8_t st;

	setup_ctx(&c, false, false, 0);
	c.blk->no_punch = no_punch;
	c.blk->no_zero_range = no_zero_range;
	assert_true(disk_is(&c, 32, 16 * 512, -1));
	put_dwz(&c, 0, 32, 8, 0);
	put_dwz(&c, 1, 44, 4, VHK_BLK_WZ_FLAG_UNMAP);
	assert_int_equal(dwz(&c, VHK_BLK_T_WRITE_ZEROES, 32, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	assert_true(disk_is(&c, 31, 512, -1));
	assert_true(disk_is(&c, 32, 8 * 512, 0));
	assert_true(disk_is(&c, 40, 4 * 512, -1));
	assert_true(disk_is(&c, 44, 4 * 512, 0));
	assert_true(disk_is(&c, 48, 512, -1));
	/* Unknown flag -> UNSUPP, disk unchanged. */
	put_dwz(&c, 0, 60, 1, 0x2);
	assert_int_equal(dwz(&c, VHK_BLK_T_WRITE_ZEROES, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	assert_true(disk_is(&c, 60, 512, -1));
	teardown_ctx(&c);
}

static void test_write_zeroes(void **state)
{
	(void)state;
	write_zeroes(false, false);
}

static void test_write_zeroes_fallback_write(void **state)
{
	(void)state;
	write_zeroes(true, true);	/* writev from the zero buffer */
}

static void test_get_id(void **state)
{
	struct ctx c;
	uint8_t id[VHK_BLK_ID_BYTES], want[VHK_BLK_ID_BYTES] = { 0 };
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	memcpy(want, SERIAL, strlen(SERIAL));
	vhk_mockmem_fill(&c.m, OFF_DATA, 0xcc, sizeof(id));
	assert_int_equal(one(&c, VHK_BLK_T_GET_ID, 0, sizeof(id), true, &st),
			 sizeof(id) + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, id, sizeof(id));
	assert_memory_equal(id, want, sizeof(id));
	teardown_ctx(&c);
}

static void test_unsupported(void **state)
{
	struct ctx c;
	uint8_t st;

	(void)state;
	setup_ctx(&c, false, false, 0);
	assert_int_equal(one(&c, 99, 0, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	assert_int_equal(one(&c, VHK_BLK_T_GET_LIFETIME, 0, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	assert_int_equal(one(&c, VHK_BLK_T_SECURE_ERASE, 0, 512, false, &st),
			 1);
	assert_int_equal(st, VHK_BLK_S_UNSUPP);
	teardown_ctx(&c);
}

static void test_out_of_range(void **state)
{
	static const uint64_t bad[] = {
		DISK_SECTORS, DISK_SECTORS - 1, DISK_SECTORS + 1,
		UINT64_MAX / 512, UINT64_MAX / 512 + 1, UINT64_MAX,
	};
	struct ctx c;
	uint8_t buf[1024], st;
	size_t i, n = vhk_test_fragmented() ? 512 : 1024;

	(void)state;
	setup_ctx(&c, false, false, 0);
	for (i = 0; i < VHK_ARRAY_SIZE(bad); i++) {
		if (n == 512 && bad[i] == DISK_SECTORS - 1)
			continue;	/* in range with one sector */
		vhk_mockmem_fill(&c.m, OFF_DATA, 0xaa, n);
		assert_int_equal(one(&c, VHK_BLK_T_IN, bad[i], n, true,
				     &st), 1);
		assert_int_equal(st, VHK_BLK_S_IOERR);
		vhk_mockmem_read(&c.m, OFF_DATA, buf, n);
		assert_true(buf[0] == 0xaa && buf[n - 1] == 0xaa);
		assert_int_equal(one(&c, VHK_BLK_T_OUT, bad[i], n, false,
				     &st), 1);
		assert_int_equal(st, VHK_BLK_S_IOERR);
	}
	assert_true(disk_is(&c, DISK_SECTORS - 2, 1024, -1));
	teardown_ctx(&c);
}

static void test_short_chains(void **state)
{
	struct ctx c;
	struct vhk_drv_seg s[2];
	uint8_t st, hdr[16];
	uint32_t len;

	(void)state;
	setup_ctx(&c, false, false, 0);
	/* Header only, nothing writable: used with 0 bytes, header intact. */
	put_hdr(&c, VHK_BLK_T_IN, 0);
	vhk_mockmem_read(&c.m, OFF_HDR, hdr, sizeof(hdr));
	s[0] = seg(&c, OFF_HDR, 16, false);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 1, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 0);

	/* 8 header bytes and a status byte: IOERR. */
	s[0] = seg(&c, OFF_HDR, 8, false);
	s[1] = seg(&c, OFF_STATUS, 1, true);
	vhk_mockmem_fill(&c.m, OFF_STATUS, 0x77, 1);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 2, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 1);
	vhk_mockmem_read(&c.m, OFF_STATUS, &st, 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);

	/* Only a status byte. */
	s[0] = seg(&c, OFF_STATUS, 1, true);
	vhk_mockmem_fill(&c.m, OFF_STATUS, 0x77, 1);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 1, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 1);
	vhk_mockmem_read(&c.m, OFF_STATUS, &st, 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);

	/* The queue still works afterwards. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 0, 512, true, &st), 513);
	assert_int_equal(st, VHK_BLK_S_OK);
	teardown_ctx(&c);
}

static void test_bad_directions(void **state)
{
	struct ctx c;
	struct vhk_drv_seg s[3];
	uint8_t st;
	uint32_t len;

	(void)state;
	setup_ctx(&c, false, false, 0);
	/* OUT whose data is device-writable: IOERR, disk unchanged. */
	vhk_mockmem_fill(&c.m, OFF_DATA, 0x11, 512);
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 4, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_true(disk_is(&c, 4, 512, -1));
	/* IN without writable data. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 4, 0, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* IN with extra readable data. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 4, 512, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* OUT of 0 bytes. */
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 4, 0, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	/* OUT with readable data, then a writable byte before the status. */
	put_hdr(&c, VHK_BLK_T_OUT, 4);
	s[0] = seg(&c, OFF_HDR, 16, false);
	s[1] = seg(&c, OFF_DATA, 512, false);
	s[2] = seg(&c, OFF_STATUS, 2, true);
	assert_int_equal(vhk_drv_vq_add(c.dq, s, 3, (void *)1), 0);
	run(&c, 1, &len);
	assert_int_equal(len, 1);
	vhk_mockmem_read(&c.m, OFF_STATUS + 1, &st, 1);	/* last byte */
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_true(disk_is(&c, 4, 512, -1));
	teardown_ctx(&c);
}

static void test_not_multiple_of_512(void **state)
{
	static const size_t lens[] = { 1, 511, 513, 700, 1000 };
	struct ctx c;
	uint8_t st;
	size_t i;

	(void)state;
	setup_ctx(&c, false, false, 0);
	for (i = 0; i < VHK_ARRAY_SIZE(lens); i++) {
		vhk_mockmem_fill(&c.m, OFF_DATA, 0x22, lens[i]);
		assert_int_equal(one(&c, VHK_BLK_T_OUT, 2, lens[i], false,
				     &st), 1);
		assert_int_equal(st, VHK_BLK_S_IOERR);
		vhk_mockmem_fill(&c.m, OFF_DATA, 0x33, lens[i]);
		assert_int_equal(one(&c, VHK_BLK_T_IN, 2, lens[i], true, &st),
				 1);
		assert_int_equal(st, VHK_BLK_S_IOERR);
	}
	assert_true(disk_is(&c, 2, 1024, -1));
	teardown_ctx(&c);
}

static void test_read_only(void **state)
{
	struct ctx c;
	uint8_t st;
	uint64_t f;
	size_t n = vhk_test_fragmented() ? 512 : 1024;

	(void)state;
	setup_ctx(&c, true, false, 0);
	f = vhk_blk_ops.get_features(c.blk);
	assert_true(vhk_has_feature(f, VHK_BLK_F_RO));
	assert_false(vhk_has_feature(f, VHK_BLK_F_DISCARD));
	vhk_mockmem_fill(&c.m, OFF_DATA, 0x44, n);
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 6, n, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	put_dwz(&c, 0, 6, 2, 0);
	assert_int_equal(dwz(&c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_int_equal(dwz(&c, VHK_BLK_T_WRITE_ZEROES, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_true(disk_is(&c, 6, 1024, -1));
	assert_int_equal(one(&c, VHK_BLK_T_FLUSH, 0, 0, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	assert_int_equal(one(&c, VHK_BLK_T_IN, 6, n, true, &st), n + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	teardown_ctx(&c);
}

/* More requests than slots: the device parks and is re-kicked. */
static void test_queue_depth(void **state)
{
	enum { N = 5 };	/* 3 descriptors each in a ring of 16 */
	struct ctx c;
	struct vhk_drv_seg s[3];
	uint32_t lens[N];
	uint8_t st;
	unsigned int i;

	(void)state;
	setup_ctx(&c, false, false, 2);
	for (i = 0; i < N; i++) {
		struct vhk_blk_req_hdr h = {
			.type = vhk_le32_make(VHK_BLK_T_OUT),
			.sector = vhk_le64_make(128 + i),
		};

		vhk_mockmem_write(&c.m, OFF_HDR + 16 * i, &h, sizeof(h));
		vhk_mockmem_fill(&c.m, OFF_DATA + 512 * i, (uint8_t)(0xa0 + i),
				 512);
		vhk_mockmem_fill(&c.m, OFF_STATUS + i, 0x77, 1);
		s[0] = seg(&c, OFF_HDR + 16 * i, 16, false);
		s[1] = seg(&c, OFF_DATA + 512 * i, 512, false);
		s[2] = seg(&c, OFF_STATUS + i, 1, true);
		assert_int_equal(vhk_drv_vq_add(c.dq, s, 3,
						(void *)(uintptr_t)(i + 1)), 0);
	}
	run(&c, N, lens);
	/* Memory-mapped: every request completes while it is handled, a
	 * slot is never short. */
	if (mmap_all)
		assert_int_equal(c.host.kick_laters, 0);
	else
		assert_true(c.host.kick_laters > 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(lens[i], 1);
		vhk_mockmem_read(&c.m, OFF_STATUS + i, &st, 1);
		assert_int_equal(st, VHK_BLK_S_OK);
		assert_true(disk_is(&c, 128 + i, 512, 0xa0 + (int)i));
	}
	teardown_ctx(&c);
}

/* xorshift: deterministic "random" hostile requests. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/*
 * Random chains: random types, sectors near the end and far beyond it,
 * random readable/writable layouts, random discard payloads.  Whatever the
 * input, every chain comes back, the used length never exceeds the
 * writable bytes, a status written is one of OK/IOERR/UNSUPP, and no byte
 * outside the buffers changes.
 */
static void test_random_requests(void **state)
{
	static const uint32_t types[] = {
		VHK_BLK_T_IN, VHK_BLK_T_OUT, VHK_BLK_T_FLUSH, VHK_BLK_T_GET_ID,
		VHK_BLK_T_DISCARD, VHK_BLK_T_WRITE_ZEROES, 2, 0xffffffffu,
	};
	size_t maxlen = vhk_test_fragmented() ? 96 : 1536;
	struct ctx c;
	unsigned int iter, i;

	(void)state;
	setup_ctx(&c, false, (rnd() & 1) != 0, 0);
	for (iter = 0; iter < 300; iter++) {
		struct vhk_drv_seg s[4];
		unsigned int n = 1 + (unsigned int)(rnd() % 4);
		unsigned int nr = (unsigned int)(rnd() % (n + 1));
		uint64_t wbytes = 0;
		uint32_t len;
		uint8_t st;

		put_hdr(&c, types[rnd() % VHK_ARRAY_SIZE(types)],
			rnd() % 4 == 0 ? rnd() : rnd() % (DISK_SECTORS + 8));
		/* random discard/wz segments after the header */
		for (i = 0; i < 4; i++)
			put_dwz(&c, i, rnd() % (DISK_SECTORS + 4),
				(uint32_t)(rnd() % 16),
				rnd() % 3 == 0 ? (uint32_t)rnd() % 4 : 0);
		for (i = 0; i < n; i++) {
			bool w = i >= nr;
			/* random length, often a whole number of sectors */
			uint32_t l = 1 + (uint32_t)(rnd() % maxlen);

			if (rnd() % 2 && l >= 512)
				l = l / 512 * 512;
			if (i == 0 && !w)	/* the header, maybe cut short */
				s[i] = seg(&c, OFF_HDR, rnd() % 3 ? 16 :
					   1 + (uint32_t)(rnd() % 16), false);
			else if (i == 1 && !w && rnd() % 2)	/* segments */
				s[i] = seg(&c, OFF_PAY,
					   16 * (1 + (uint32_t)(rnd() % 4)),
					   false);
			else	/* apart from each other: 0x600 each */
				s[i] = seg(&c, OFF_DATA + 0x600 * i,
					   VHK_MIN(l, 0x600u), w);
			if (w)
				wbytes += s[i].len;
		}
		assert_int_equal(vhk_drv_vq_add(c.dq, s, n, (void *)1), 0);
		run(&c, 1, &len);
		assert_true(len <= wbytes);
		if (len) {
			/* the status is the last writable byte */
			for (i = n; i-- > 0;)
				if (s[i].write)
					break;
			vhk_mockmem_read(&c.m, OFF_DATA + 0x600 * i +
					 s[i].len - 1, &st, 1);
			assert_true(st <= VHK_BLK_S_UNSUPP);
		}
		assert_true(vhk_mockmem_canaries_intact(&c.m));
	}
	assert_false(vhk_vq_broken(c.vq));
	/* Nothing was written past the capacity. */
	assert_int_equal(lseek(c.fd, 0, SEEK_END), DISK_SECTORS * 512);
	teardown_ctx(&c);
}

/* CONFIG_WCE: writeback byte writable once negotiated (VIRTIO 1.2, 5.2.4). */
static void test_wce(void **state)
{
	struct ctx c;
	uint8_t b, st, w[512], r[512];
	uint64_t f;

	(void)state;
	setup_ctx(&c, false, false, 0);
	f = vhk_blk_ops.get_features(c.blk);
	assert_true(vhk_has_feature(f, VHK_BLK_F_CONFIG_WCE));
	b = 0;
	/* Not negotiated yet: read-only field. */
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 32, &b, 1), -EINVAL);
	vhk_set_feature(&c.features, VHK_BLK_F_CONFIG_WCE);
	assert_int_equal(vhk_blk_ops.set_features(c.blk, c.features), 0);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 32, &b, 1), 0);
	assert_int_equal(b, 1);
	b = 0;
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 32, &b, 1), 0);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 32, &b, 1), 0);
	assert_int_equal(b, 0);
	b = 2;
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 32, &b, 1), -EINVAL);
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 33, &b, 1), -EINVAL);
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 0, &b, 1), -EINVAL);
	/* Writethrough writes still land. */
	fill_pattern(w, sizeof(w), 0x99);
	vhk_mockmem_write(&c.m, OFF_DATA, w, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 30, sizeof(w), false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 30, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	/* Reset restores writeback. */
	vhk_blk_ops.queue_stop(c.blk, &c.q);
	vhk_blk_ops.reset(c.blk);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 32, &b, 1), 0);
	assert_int_equal(b, 1);
	assert_int_equal(vhk_blk_ops.queue_start(c.blk, &c.q), 0);
	teardown_ctx(&c);
}

static void test_config(void **state)
{
	struct ctx c;
	struct vhk_blk_config cfg;
	uint8_t b[8];
	uint64_t f;

	(void)state;
	setup_ctx(&c, false, false, 0);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 0, &cfg, sizeof(cfg)),
			 0);
	assert_int_equal(vhk_le64_get(cfg.capacity), DISK_SECTORS);
	assert_int_equal(vhk_le32_get(cfg.seg_max), VHK_VQ_DEFAULT_MAX_IOV - 2);
	assert_int_equal(vhk_le32_get(cfg.blk_size), 512);
	assert_int_equal(vhk_le16_get(cfg.num_queues), 1);
	assert_int_equal(vhk_le32_get(cfg.max_discard_seg),
			 VHK_BLK_MAX_DWZ_SEG);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 36, b, 4), 0);
	assert_int_equal(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24,
			 VHK_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, sizeof(cfg), b, 0), 0);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, sizeof(cfg) - 1, b, 2),
			 -EINVAL);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 0xffffffffu, b, 2),
			 -EINVAL);
	assert_int_equal(vhk_blk_ops.get_config(c.blk, 8, b, 0xfffffffcu),
			 -EINVAL);
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 32, b, 1), -EINVAL);
	f = vhk_blk_ops.get_features(c.blk);
	assert_true(vhk_has_feature(f, VHK_F_VERSION_1));
	assert_true(vhk_has_feature(f, VHK_F_RING_PACKED));
	assert_true(vhk_has_feature(f, VHK_BLK_F_FLUSH));
	assert_true(vhk_has_feature(f, VHK_BLK_F_DISCARD));
	assert_true(vhk_has_feature(f, VHK_BLK_F_WRITE_ZEROES));
	assert_false(vhk_has_feature(f, VHK_BLK_F_MQ));
	assert_false(vhk_has_feature(f, VHK_BLK_F_RO));
	assert_int_equal(vhk_blk_ops.num_queues(c.blk), 1);
	teardown_ctx(&c);
}

static bool tmpfs_dir(const char *dir)
{
	struct statfs sf;

	assert_int_equal(statfs(dir, &sf), 0);
	return (unsigned long)sf.f_type == 0x01021994;	/* TMPFS_MAGIC */
}

/*
 * Memory-mapped mode: writes reach the file through the mapping with no
 * writeback of their own in writeback mode; a writethrough write (the FUA
 * of virtio-blk, CONFIG_WCE) and a FLUSH wait for one when the file has a
 * backing store, none on tmpfs.  Run on a file in @dir.
 */
static void mmap_sync_in(const char *dir)
{
	struct ctx c;
	uint8_t st, b, w[1024], r[1024];
	uint64_t syncs;
	bool backed = !tmpfs_dir(dir);

	disk_dir = dir;
	mmap_cur = true;
	setup_ctx(&c, false, false, 0);
	disk_dir = disk_dir_all;
	mmap_cur = mmap_all;
	assert_true(vhk_blk_mmapped(c.blk));
	assert_int_equal(c.blk->map_sync, backed);
	assert_false(vhk_blk_direct(c.blk));
	syncs = atomic_load(&c.blk->map_syncs);
	/* Writeback: on the file (shared page cache) at once, no sync. */
	fill_pattern(w, sizeof(w), 0x31);
	vhk_mockmem_write(&c.m, OFF_DATA, w, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 7, sizeof(w), false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 7, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	assert_int_equal(atomic_load(&c.blk->map_syncs), syncs);
	/* FLUSH: one writeback where there is a backing store. */
	assert_int_equal(one(&c, VHK_BLK_T_FLUSH, 0, 0, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	assert_int_equal(atomic_load(&c.blk->map_syncs), syncs + backed);
	/* Writethrough (VIRTIO 1.2, 5.2.4): every write is stable when it
	 * completes. */
	vhk_set_feature(&c.features, VHK_BLK_F_CONFIG_WCE);
	assert_int_equal(vhk_blk_ops.set_features(c.blk, c.features), 0);
	b = 0;
	assert_int_equal(vhk_blk_ops.set_config(c.blk, 32, &b, 1), 0);
	fill_pattern(w, sizeof(w), 0x52);
	vhk_mockmem_write(&c.m, OFF_DATA, w, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 100, sizeof(w), false, &st),
			 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	assert_int_equal(atomic_load(&c.blk->map_syncs), syncs + 2 * backed);
	read_disk(&c, 100, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	/* And read back through the mapping. */
	vhk_mockmem_fill(&c.m, OFF_DATA, 0, sizeof(r));
	assert_int_equal(one(&c, VHK_BLK_T_IN, 100, sizeof(r), true, &st),
			 sizeof(r) + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	teardown_ctx(&c);
}

static void test_mmap_sync(void **state)
{
	(void)state;
	mmap_sync_in(".");		/* the build tree: a backing store */
	if (access("/dev/shm", W_OK) == 0)
		mmap_sync_in("/dev/shm");
	else
		fail_msg("no writable /dev/shm for the tmpfs case");
}

/*
 * The disk file shrinks under the mapping: the access past its end
 * (SIGBUS) fails that request, not the daemon; the device leaves the
 * memory-mapped mode and serves what is left of the file through io_uring.
 */
static void test_mmap_shrink(void **state)
{
	struct ctx c;
	uint8_t st, w[512], r[512];

	(void)state;
	mmap_cur = true;
	setup_ctx(&c, false, false, 0);
	mmap_cur = mmap_all;
	assert_int_equal(ftruncate(c.fd, 64 * 512), 0);
	assert_int_equal(one(&c, VHK_BLK_T_IN, 200, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	assert_false(vhk_blk_mmapped(c.blk));
	/* Before the new end: still served, through the file. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 10, 512, true, &st), 513);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c.m, OFF_DATA, r, sizeof(r));
	assert_true(r[0] == 11 && r[511] == 11);
	fill_pattern(w, sizeof(w), 0x17);
	vhk_mockmem_write(&c.m, OFF_DATA, w, sizeof(w));
	assert_int_equal(one(&c, VHK_BLK_T_OUT, 20, 512, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(&c, 20, r, sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	/* Past the new end: IOERR through the file too. */
	assert_int_equal(one(&c, VHK_BLK_T_IN, 100, 512, true, &st), 1);
	assert_int_equal(st, VHK_BLK_S_IOERR);
	teardown_ctx(&c);
}

/*
 * io_uring SQPOLL (--sqpoll): the kernel thread takes the SQEs, so no
 * completion is ready right after the submit; verified round trips and
 * the random request mix still complete (through the eventfd).  A kernel
 * that refuses SQPOLL falls back to plain submission: same checks.
 */
static void test_sqpoll(void **state)
{
	sqpoll_cur = 1;
	roundtrip(VHK_AS_GPA, false);
	roundtrip(VHK_AS_GPA, true);
	test_random_requests(state);
	sqpoll_cur = 0;
}

static bool fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	return (fl & O_NONBLOCK) != 0;
}

/*
 * 4k reads, one batch each: true if every one was used when the batch
 * ended (completed inside the submit and reaped inline), with no wake-up
 * through the completion eventfd.  Verifies the data of each.
 */
static bool reads_inline(struct ctx *c, unsigned int n)
{
	size_t dl = data_len();
	unsigned int i, inl = 0;
	uint8_t st, r[4096];

	for (i = 0; i < n; i++) {
		uint64_t sector = (i * 8) % (DISK_SECTORS - 8);
		struct vhk_drv_seg s[3];
		uint32_t len = 0;
		void *token;

		put_hdr(c, VHK_BLK_T_IN, sector);
		vhk_mockmem_fill(&c->m, OFF_STATUS, 0x77, 1);
		s[0] = seg(c, OFF_HDR, 16, false);
		s[1] = seg(c, OFF_DATA, (uint32_t)dl, true);
		s[2] = seg(c, OFF_STATUS, 1, true);
		assert_int_equal(vhk_drv_vq_add(c->dq, s, 3, (void *)1), 0);
		vhk_drv_vq_publish(c->dq);
		vhk_dq_process(&c->q, &vhk_blk_ops, c->blk);
		if (vhk_drv_vq_get_used(c->dq, &token, &len) == 1)
			inl++;
		else
			run(c, 1, &len);	/* through the eventfd */
		assert_int_equal(len, dl + 1);
		vhk_mockmem_read(&c->m, OFF_STATUS, &st, 1);
		assert_int_equal(st, VHK_BLK_S_OK);
		vhk_mockmem_read(&c->m, OFF_DATA, r, dl);
		assert_true(r[0] == (uint8_t)(sector + 1) &&
			    r[dl - 1] == (uint8_t)(sector + dl / 512));
	}
	print_message("%s: %u of %u reads completed inside the submit\n",
		      c->path, inl, n);
	return inl == n;
}

/* Write @n bytes of pattern @seed at @sector through @c (kept in @w) and
 * check the disk holds them. */
static void write_verified(struct ctx *c, uint64_t sector, uint8_t *w,
			   size_t n, uint8_t seed)
{
	uint8_t st, r[4096];

	fill_pattern(w, n, seed);
	vhk_mockmem_write(&c->m, OFF_DATA, w, n);
	assert_int_equal(one(c, VHK_BLK_T_OUT, sector, n, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	read_disk(c, sector, r, n);
	assert_memory_equal(r, w, n);
}

/* A full verified round trip, flush, discard, write-zeroes and get-id on
 * @c's disk (the request types through whatever issue mode it has). */
static void all_types(struct ctx *c)
{
	size_t n = data_len();
	uint8_t st, w[4096], r[4096], id[VHK_BLK_ID_BYTES];
	uint8_t want[VHK_BLK_ID_BYTES] = { 0 };

	write_verified(c, 40, w, n, 0x5a);
	vhk_mockmem_fill(&c->m, OFF_DATA, 0xee, n);
	assert_int_equal(one(c, VHK_BLK_T_IN, 40, n, true, &st), n + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c->m, OFF_DATA, r, n);
	assert_memory_equal(r, w, n);
	assert_int_equal(one(c, VHK_BLK_T_FLUSH, 0, 0, false, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	/* Write-zeroes over the first sector written, discard elsewhere. */
	put_dwz(c, 0, 40, 1, 0);
	assert_int_equal(dwz(c, VHK_BLK_T_WRITE_ZEROES, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	assert_true(disk_is(c, 40, 512, 0));
	if (n > 512) {
		read_disk(c, 41, r, n - 512);
		assert_memory_equal(r, w + 512, n - 512);
	}
	put_dwz(c, 0, 60, 2, 0);
	assert_int_equal(dwz(c, VHK_BLK_T_DISCARD, 16, &st), 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	memcpy(want, SERIAL, strlen(SERIAL));
	assert_int_equal(one(c, VHK_BLK_T_GET_ID, 0, sizeof(id), true, &st),
			 sizeof(id) + 1);
	assert_int_equal(st, VHK_BLK_S_OK);
	vhk_mockmem_read(&c->m, OFF_DATA, id, sizeof(id));
	assert_memory_equal(id, want, sizeof(id));
	/* Writethrough (CONFIG_WCE): RWF_DSYNC writes in this mode too. */
	vhk_set_feature(&c->features, VHK_BLK_F_CONFIG_WCE);
	assert_int_equal(vhk_blk_ops.set_features(c->blk, c->features), 0);
	st = 0;
	assert_int_equal(vhk_blk_ops.set_config(c->blk, 32, &st, 1), 0);
	write_verified(c, 80, w, n, 0x6b);
}

/* One setup on a disk in @dir with nowait @mode: the mode it ends up in,
 * O_NONBLOCK on the disk's fds, and every request type verified. */
static void nowait_in(const char *dir, enum vhk_blk_nowait mode, bool want,
		      bool check_inline)
{
	struct ctx c;

	disk_dir = dir;
	nowait_cur = mode;
	setup_ctx(&c, false, false, 0);
	disk_dir = disk_dir_all;
	nowait_cur = VHK_BLK_NOWAIT_AUTO;
	assert_int_equal(vhk_blk_nowait_on(c.blk), want && !mmap_cur);
	assert_int_equal(fd_nonblock(c.blk->fd_buf), want);
	assert_int_equal(fd_nonblock(c.blk->fd), want);
	if (check_inline && !mmap_cur)
		assert_true(reads_inline(&c, 16));
	all_types(&c);
	teardown_ctx(&c);
}

/*
 * The io_uring issue mode (blk_nowait.c).  A disk in tmpfs gets nowait by
 * default: its reads complete inside the batch's submit and are reaped in
 * the same batch (without it this kernel hands every one to an io-wq
 * thread and the test sees them only through the eventfd).  A disk
 * elsewhere keeps io_uring's choice unless forced on; off never sets it.
 */
static void test_nowait(void **state)
{
	bool shm = access("/dev/shm", W_OK) == 0 && tmpfs_dir("/dev/shm");
	bool here_mem = tmpfs_dir(".");

	(void)state;
	if (shm) {
		nowait_in("/dev/shm", VHK_BLK_NOWAIT_AUTO, true, true);
		nowait_in("/dev/shm", VHK_BLK_NOWAIT_ON, true, true);
		nowait_in("/dev/shm", VHK_BLK_NOWAIT_OFF, false, false);
	} else {
		print_message("no tmpfs /dev/shm: the in-memory cases skipped\n");
	}
	nowait_in(".", VHK_BLK_NOWAIT_AUTO, here_mem, false);
	nowait_in(".", VHK_BLK_NOWAIT_ON, true, false);
	nowait_in(".", VHK_BLK_NOWAIT_OFF, false, false);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_roundtrip_split),
		cmocka_unit_test(test_roundtrip_packed),
		cmocka_unit_test(test_roundtrip_modes),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_many_segments),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_scattered),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_dwz_not_acked),
		cmocka_unit_test(test_write_zeroes),
		cmocka_unit_test(test_write_zeroes_fallback_write),
		cmocka_unit_test(test_get_id),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_short_chains),
		cmocka_unit_test(test_bad_directions),
		cmocka_unit_test(test_not_multiple_of_512),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_queue_depth),
		cmocka_unit_test(test_random_requests),
		cmocka_unit_test(test_wce),
		cmocka_unit_test(test_mmap_sync),
		cmocka_unit_test(test_mmap_shrink),
		cmocka_unit_test(test_sqpoll),
		cmocka_unit_test(test_nowait),
	};

	vhk_test_init(argc, argv);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--mmap") == 0)
			mmap_all = true;
		else if (strcmp(argv[i], "--shm") == 0)
			disk_dir_all = "/dev/shm";
	mmap_cur = mmap_all;
	disk_dir = disk_dir_all;
	return VHK_TEST_RUN(mmap_all ? "blk [memory-mapped]" :
			    disk_dir_all[0] == '/' ? "blk [disk in /dev/shm]" :
			    "blk", tests);
}
