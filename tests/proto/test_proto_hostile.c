/* SPDX-License-Identifier: MIT */
/*
 * test_proto_hostile.c - one test per protocol-level hostile input
 * (docs/architecture.md, "Hostile input").  Each expects a clear error (an error reply or a
 * closed connection), no crash, no fd leak (the process's fd count is back
 * to the idle server's), and a server that still serves the next
 * front-end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "proto_util.h"

#define F(b) vhk_feature_bit(b)
#define NR VHK_VU_VERSION	/* plain request flags */

static struct pt_server srv;

struct ctx {
	int sock;
	struct pt_guest g;
};

static int group_setup(void **st)
{
	(void)st;
	pt_server_start(&srv, NULL);
	return 0;
}

static int group_teardown(void **st)
{
	(void)st;
	pt_server_stop(&srv);
	return 0;
}

/* Connect; @level 0 raw, 1 negotiated (split, VERSION_1), 2 + memory. */
static void begin(struct ctx *c, int level)
{
	pt_guest_init(&c->g);
	c->sock = pt_connect(srv.path);
	if (level >= 1)
		pt_negotiate(c->sock, &c->g, F(VHK_F_VERSION_1),
			     F(VHK_PROTO_F_CONFIG) | F(VHK_PROTO_F_STATUS) |
			     F(VHK_PROTO_F_INFLIGHT_SHMFD) |
			     F(VHK_PROTO_F_BACKEND_REQ));
	if (level >= 2)
		pt_send_mem(c->sock, &c->g);
}

/* Disconnect; no fd leaked; the next front-end is served. */
static void end(struct ctx *c)
{
	int s2;

	close(c->sock);
	pt_guest_fini(&c->g);
	assert_int_equal(pt_wait_fds(srv.base_fds), srv.base_fds);
	s2 = pt_connect(srv.path);
	assert_true(pt_alive(s2));
	close(s2);
	assert_int_equal(pt_wait_fds(srv.base_fds), srv.base_fds);
}

/* The request failed with an error ack, and the connection lives on. */
static void expect_err(struct ctx *c, uint32_t req, const void *p,
		       uint32_t size, const int *fds, unsigned int nfds)
{
	int64_t r = pt_req(c->sock, req, p, size, fds, nfds);

	assert_true(r > 0);
	assert_true(pt_alive(c->sock));
}

static void expect_ok(struct ctx *c, uint32_t req, const void *p,
		      uint32_t size, const int *fds, unsigned int nfds)
{
	assert_int_equal(pt_req(c->sock, req, p, size, fds, nfds), 0);
}

/* ---- header */

static void test_bad_version(void **st)
{
	struct ctx c;

	(void)st;
	begin(&c, 0);
	assert_int_equal(pt_send_raw(c.sock, VHK_VU_GET_FEATURES, 0x2, NULL,
				     0, NULL, 0), 0);
	assert_true(pt_closed(c.sock));
	end(&c);
}

static void test_bad_flags(void **st)
{
	static const uint32_t bad[] = {
		VHK_VU_VERSION | VHK_VU_FLAG_REPLY,	/* a reply as request */
		VHK_VU_VERSION | 0x80,			/* reserved bit */
		VHK_VU_VERSION | 0x80000000u,
	};

	(void)st;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(bad); i++) {
		struct ctx c;
		int efd = eventfd(0, EFD_CLOEXEC);

		begin(&c, 1);
		/* With an fd attached: it must be closed too. */
		assert_int_equal(pt_send_raw(c.sock, VHK_VU_GET_FEATURES,
					     bad[i], NULL, 0, &efd, 1), 0);
		close(efd);
		assert_true(pt_closed(c.sock));
		end(&c);
	}
}

static void test_size_beyond_payload(void **st)
{
	struct ctx c;

	(void)st;
	begin(&c, 1);
	/* Larger than any payload: the stream cannot be resynchronised. */
	assert_int_equal(pt_send_raw(c.sock, VHK_VU_SET_FEATURES, NR, NULL,
				     0x10000, NULL, 0), 0);
	assert_true(pt_closed(c.sock));
	end(&c);
}

static void test_size_mismatch(void **st)
{
	struct ctx c;
	uint8_t junk[64] = { 0 };
	struct vhk_vu_msg m;

	(void)st;
	begin(&c, 1);
	expect_err(&c, VHK_VU_SET_FEATURES, junk, 4, NULL, 0);
	expect_err(&c, VHK_VU_SET_FEATURES, junk, 16, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_NUM, junk, 4, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_NUM, junk, 12, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_ADDR, junk, 32, NULL, 0);
	expect_err(&c, VHK_VU_IOTLB_MSG, junk, 24, NULL, 0);
	expect_err(&c, VHK_VU_SET_STATUS, junk, 0, NULL, 0);
	/* A GET with a payload it does not take: an empty (error) reply. */
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_FEATURES, junk, 8, &m,
				NULL, NULL), 0);
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_VRING_BASE, junk, 4, &m,
				NULL, NULL), 0);
	assert_true(pt_alive(c.sock));
	end(&c);
}

static void test_unknown_requests(void **st)
{
	static const uint32_t reqs[] = {
		0, 26, 27, 28, 29, 30, 33, 35, VHK_VU_REQUEST_MAX, 200,
		0x10000 + VHK_VU_GET_FEATURES, 0xffffffffu,
	};
	struct ctx c;

	(void)st;
	begin(&c, 1);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(reqs); i++)
		expect_err(&c, reqs[i], NULL, 0, NULL, 0);
	end(&c);
}

/* ---- fds */

static void test_missing_fds(void **st)
{
	struct ctx c;
	struct vhk_vu_memory m = { .nregions = 1 };
	struct vhk_vu_log lg = { .mmap_size = 4096 };
	struct vhk_vu_inflight in = { 4096, 0, 1, 64 };
	uint64_t u = 0;

	(void)st;
	begin(&c, 1);
	m.regions[0].memory_size = 4096;
	m.regions[0].userspace_addr = c.g.uva;
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_CALL, &u, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_ERR, &u, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, NULL, 0);
	expect_err(&c, VHK_VU_SET_LOG_BASE, &lg, sizeof(lg), NULL, 0);
	expect_err(&c, VHK_VU_SET_INFLIGHT_FD, &in, sizeof(in), NULL, 0);
	expect_err(&c, VHK_VU_ADD_MEM_REG, &m, 40, NULL, 0);
	end(&c);
}

static void test_extra_fds(void **st)
{
	struct ctx c;
	int fds[64];
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_PROTOCOL_FEATURES);
	uint64_t u = VHK_VU_VRING_NOFD;
	struct vhk_vu_msg m;

	(void)st;
	for (int i = 0; i < 64; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	begin(&c, 1);
	/* fds on a message that takes none */
	expect_err(&c, VHK_VU_SET_FEATURES, &f, 8, fds, 3);
	expect_err(&c, VHK_VU_SET_OWNER, NULL, 0, fds, 1);
	/* an fd with the NOFD bit set */
	expect_err(&c, VHK_VU_SET_VRING_CALL, &u, 8, fds, 1);
	/* more fds than any message may carry (8): the rest are dropped */
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_FEATURES, NULL, 0, &m,
				NULL, NULL), 8);
	assert_int_equal(pt_send_raw(c.sock, VHK_VU_GET_QUEUE_NUM, NR, NULL,
				     0, fds, 64), 0);
	assert_int_equal(pt_recv(c.sock, &m, NULL, NULL), 0);
	assert_int_equal(m.hdr.size, 0);	/* error reply */
	for (int i = 0; i < 64; i++)
		close(fds[i]);
	end(&c);
}

static void test_fd_flood(void **st)
{
	struct ctx c;
	struct vhk_vu_vring_state vs = { 0, 64 };
	struct vhk_vu_inflight in = { 0, 0, 2, 64 };
	int before;

	(void)st;
	begin(&c, 2);
	before = pt_fd_count();
	for (int i = 0; i < 300; i++) {
		int efd = eventfd(0, EFD_CLOEXEC), sv[2];
		uint64_t u = (uint64_t)(i & 1);
		int fds[VHK_VU_MAX_FDS];
		unsigned int n;
		struct vhk_vu_msg m;

		expect_ok(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
		expect_ok(&c, VHK_VU_SET_VRING_CALL, &u, 8, &efd, 1);
		expect_ok(&c, VHK_VU_SET_VRING_ERR, &u, 8, &efd, 1);
		close(efd);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM |
					    SOCK_CLOEXEC, 0, sv), 0);
		expect_ok(&c, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
		close(sv[0]);
		close(sv[1]);
		assert_int_equal(pt_get(c.sock, VHK_VU_GET_INFLIGHT_FD, &in,
					sizeof(in), &m, fds, &n),
				 (int)sizeof(in));
		assert_int_equal(n, 1);
		close(fds[0]);
		pt_send_mem(c.sock, &c.g);
	}
	/* The server keeps one call and one err fd per ring and one
	 * channel: the count may grow by those five, not per round. */
	assert_true(pt_wait_fds(before + 5) <= before + 5);
	end(&c);
}

/* ---- memory table */

static void mem_msg(struct vhk_vu_memory *m, uint32_t n)
{
	memset(m, 0, sizeof(*m));
	m->nregions = n;
}

static void test_mem_nregions(void **st)
{
	struct ctx c;
	struct vhk_vu_memory m;
	int fds[9];

	(void)st;
	begin(&c, 1);
	for (int i = 0; i < 9; i++)
		fds[i] = dup(c.g.memfd);
	/* 9 regions: more than the 8 a message may carry */
	mem_msg(&m, 9);
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, sizeof(m), fds, 8);
	/* 2 regions, 1 fd; 1 region, 2 fds; 0 regions */
	mem_msg(&m, 2);
	for (int i = 0; i < 2; i++) {
		m.regions[i].guest_phys_addr = 0x100000ull * i;
		m.regions[i].memory_size = 0x100000;
		m.regions[i].userspace_addr = c.g.uva + 0x100000ull * i;
		m.regions[i].mmap_offset = 0x100000ull * i;
	}
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 64, fds, 1);
	mem_msg(&m, 1);
	m.regions[0].memory_size = 0x100000;
	m.regions[0].userspace_addr = c.g.uva;
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, fds, 2);
	mem_msg(&m, 0);
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8, NULL, 0);
	/* payload size that does not match nregions */
	mem_msg(&m, 2);
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, fds, 2);
	for (int i = 0; i < 9; i++)
		close(fds[i]);
	end(&c);
}

static void one_bad_region(struct ctx *c, uint64_t gpa, uint64_t size,
			   uint64_t uva, uint64_t off)
{
	struct vhk_vu_memory m;

	mem_msg(&m, 1);
	m.regions[0].guest_phys_addr = gpa;
	m.regions[0].memory_size = size;
	m.regions[0].userspace_addr = uva;
	m.regions[0].mmap_offset = off;
	expect_err(c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, &c->g.memfd, 1);
	expect_err(c, VHK_VU_ADD_MEM_REG, &m, 40, &c->g.memfd, 1);
}

static void test_mem_bad_regions(void **st)
{
	struct ctx c;

	(void)st;
	begin(&c, 1);
	one_bad_region(&c, 0, 0, c.g.uva, 0);			/* size 0 */
	one_bad_region(&c, ~0ull - 0xfff, 0x2000, c.g.uva, 0);	/* gpa wrap */
	one_bad_region(&c, 0, 0x2000, ~0ull - 0xfff, 0);	/* uva wrap */
	one_bad_region(&c, 0, 0x2000, c.g.uva, ~0ull - 0xfff);	/* off wrap */
	one_bad_region(&c, 0, 0x2000, c.g.uva, 1ull << 40);	/* beyond fd */
	end(&c);
}

static void test_mem_overlap(void **st)
{
	struct ctx c;
	struct vhk_vu_memory m;
	int fds[2];

	(void)st;
	begin(&c, 1);
	fds[0] = dup(c.g.memfd);
	fds[1] = dup(c.g.memfd);
	mem_msg(&m, 2);
	m.regions[0].memory_size = 0x200000;
	m.regions[0].userspace_addr = c.g.uva;
	m.regions[1].guest_phys_addr = 0x100000;	/* GPA overlap */
	m.regions[1].memory_size = 0x200000;
	m.regions[1].userspace_addr = c.g.uva + 0x200000;
	m.regions[1].mmap_offset = 0x200000;
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 64, fds, 2);
	m.regions[1].guest_phys_addr = 0x200000;
	m.regions[1].userspace_addr = c.g.uva + 0x100000; /* UVA overlap */
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 64, fds, 2);
	/* ADD_MEM_REG overlapping the table */
	pt_send_mem(c.sock, &c.g);
	mem_msg(&m, 1);
	m.regions[0].guest_phys_addr = 0x1000;
	m.regions[0].memory_size = 0x1000;
	m.regions[0].userspace_addr = c.g.uva + 0x1000;
	expect_err(&c, VHK_VU_ADD_MEM_REG, &m, 40, fds, 1);
	close(fds[0]);
	close(fds[1]);
	end(&c);
}

/* ---- rings */

static void test_queue_index(void **st)
{
	static const uint32_t bad[] = { PT_NQUEUES, 255, 0x10000, 0x10001,
					0xffffffffu };
	struct ctx c;
	struct vhk_vu_msg m;

	(void)st;
	begin(&c, 2);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(bad); i++) {
		struct vhk_vu_vring_state vs = { bad[i], 64 };
		struct vhk_vu_vring_addr a = { .index = bad[i] };
		int efd = eventfd(0, EFD_CLOEXEC);
		uint64_t u = bad[i];

		expect_err(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_BASE, &vs, 8, NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_ENABLE, &vs, 8, NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &efd, 1);
		expect_err(&c, VHK_VU_SET_VRING_CALL, &u, 8, &efd, 1);
		assert_int_equal(pt_get(c.sock, VHK_VU_GET_VRING_BASE, &vs, 8,
					&m, NULL, NULL), 0);
		close(efd);
	}
	end(&c);
}

static void test_vring_num(void **st)
{
	static const uint32_t bad[] = { 0, 3, 100, 32769, 65536, 0x10040 };
	struct ctx c;

	(void)st;
	begin(&c, 2);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(bad); i++) {
		struct vhk_vu_vring_state vs = { 0, bad[i] };

		expect_err(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
	}
	{
		struct vhk_vu_vring_state vs = { 0, 32768 };

		expect_ok(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
		/* repeated SET_VRING_NUM: harmless, nothing leaks */
		for (int i = 0; i < 1000; i++) {
			vs.num = 1u << (i % 16);
			expect_ok(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
		}
		vs.num = 1;
		expect_err(&c, VHK_VU_SET_VRING_ENABLE, &(struct vhk_vu_vring_state){ 0, 2 }, 8, NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_ENDIAN, &vs, 8, NULL, 0);
		expect_err(&c, VHK_VU_SET_VRING_BASE,
			   &(struct vhk_vu_vring_state){ 0, 0x10000 }, 8,
			   NULL, 0);
	}
	end(&c);
}

/* Ring addresses unmapped or straddling two regions: the kick that would
 * start the ring fails, and the ring never reaches the device. */
static void test_ring_addr_bad(void **st)
{
	struct ctx c;
	struct vhk_vu_memory m;
	unsigned int starts;
	int fds[2];
	uint64_t u = 0;
	struct vhk_vu_vring_state vs = { 0, 64 };
	struct vhk_vu_vring_addr a = { .index = 0 };

	(void)st;
	begin(&c, 1);
	/* Two regions adjacent in GPA and UVA whose host mappings are not
	 * adjacent (the front-end's UVAs are only labels). */
	fds[0] = dup(c.g.memfd);
	fds[1] = dup(c.g.memfd);
	mem_msg(&m, 2);
	m.regions[0].memory_size = 0x100000;
	m.regions[0].userspace_addr = 0x7e0000000000ull;
	m.regions[1].guest_phys_addr = 0x100000;
	m.regions[1].memory_size = 0x100000;
	m.regions[1].userspace_addr = 0x7e0000100000ull;
	m.regions[1].mmap_offset = 0x200000;
	expect_ok(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 64, fds, 2);
	expect_ok(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
	starts = atomic_load(&srv.echo.starts);

	/* unmapped */
	a.desc_user_addr = 0x7f0000000000ull;
	a.avail_user_addr = 0x7e0000002000ull;
	a.used_user_addr = 0x7e0000003000ull;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	/* straddling: the descriptor table crosses the region boundary */
	a.desc_user_addr = 0x7e0000100000ull - 0x200;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	/* wrapping */
	a.desc_user_addr = ~0ull - 0x100;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	assert_int_equal(atomic_load(&srv.echo.starts), starts);
	/* a good layout then works */
	a.desc_user_addr = 0x7e0000001000ull;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_ok(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	assert_int_equal(atomic_load(&srv.echo.starts), starts + 1);
	close(fds[0]);
	close(fds[1]);
	end(&c);
}

/* ---- log, IOTLB, config */

static void test_log_base(void **st)
{
	struct ctx c;
	struct vhk_vu_log lg = { .mmap_size = 0x1000,
				 .mmap_offset = ~0ull - 0x10 };
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)st;
	begin(&c, 2);
	expect_err(&c, VHK_VU_SET_LOG_BASE, &lg, sizeof(lg), &efd, 1);
	lg.mmap_size = 0;
	lg.mmap_offset = 0;
	expect_err(&c, VHK_VU_SET_LOG_BASE, &lg, sizeof(lg), &efd, 1);
	/* well-formed, but LOG_SHMFD was not negotiated */
	lg.mmap_size = 0x1000;
	expect_err(&c, VHK_VU_SET_LOG_BASE, &lg, sizeof(lg), &efd, 1);
	expect_err(&c, VHK_VU_SET_LOG_FD, NULL, 0, &efd, 1);
	close(efd);
	end(&c);
}

/* Send SET_LOG_BASE as QEMU does and read its zero-sized reply. */
static void set_log_base(struct ctx *c, int fd, uint64_t size, uint64_t off)
{
	struct vhk_vu_log lg = { .mmap_size = size, .mmap_offset = off };
	struct vhk_vu_msg m;
	int fds[VHK_VU_MAX_FDS];
	unsigned int n = 0;

	assert_int_equal(pt_send_raw(c->sock, VHK_VU_SET_LOG_BASE, NR, &lg,
				     sizeof(lg), &fd, 1), 0);
	assert_int_equal(pt_recv(c->sock, &m, fds, &n), 0);
	assert_int_equal(m.hdr.request, VHK_VU_SET_LOG_BASE);
	assert_int_equal(m.hdr.size, 0);
}

static bool page_dirty(const uint8_t *log, uint64_t gpa)
{
	uint64_t pg = gpa / 4096;

	return log[pg / 8] & (1u << (pg % 8));
}

static bool any_dirty(const uint8_t *log, uint64_t gpa, uint64_t len)
{
	for (uint64_t a = gpa; a < gpa + len; a += 4096)
		if (page_dirty(log, a))
			return true;
	return false;
}

/*
 * A connection with LOG_SHMFD negotiated (LOG_ALL not yet), memory sent and
 * ring 0 running; @lfd (a memfd) is sized to one page and returned mapped.
 */
static uint8_t *log_conn(struct ctx *c, int lfd)
{
	uint8_t *log;

	assert_true(lfd >= 0);
	assert_int_equal(ftruncate(lfd, 4096), 0);
	log = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	assert_true(log != MAP_FAILED);
	pt_guest_init(&c->g);
	c->sock = pt_connect(srv.path);
	pt_negotiate(c->sock, &c->g, F(VHK_F_VERSION_1),
		     F(VHK_PROTO_F_LOG_SHMFD) | F(VHK_PROTO_F_STATUS));
	pt_send_mem(c->sock, &c->g);
	assert_int_equal(pt_setup_vq(c->sock, &c->g, 0, 64), 0);
	return log;
}

/*
 * Dirty logging (vhost-user spec, "Migration"): SET_LOG_BASE with LOG_SHMFD,
 * LOG_ALL toggled by SET_FEATURES while the ring runs; the device-writable
 * buffer's page and the used ring's page are marked, the readable
 * buffer's page is not; hostile log bases are refused.
 */
static void test_dirty_log(void **st)
{
	struct ctx c;
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_LOG_ALL), f_off;
	size_t logsz = PT_MEM_SIZE / 4096 / 8;
	int lfd = memfd_create("vhk-log", MFD_CLOEXEC);
	struct vhk_vu_log bad;
	uint8_t *log;
	char buf[64];

	(void)st;
	log = log_conn(&c, lfd);
	/* beyond the end of its file, and offset + size wrapping */
	bad.mmap_size = 0x2000;
	bad.mmap_offset = 0;
	expect_err(&c, VHK_VU_SET_LOG_BASE, &bad, sizeof(bad), &lfd, 1);
	bad.mmap_size = 0x1000;
	bad.mmap_offset = ~0ull - 0xfff;
	expect_err(&c, VHK_VU_SET_LOG_BASE, &bad, sizeof(bad), &lfd, 1);

	set_log_base(&c, lfd, logsz, 0);
	/* Logging off (LOG_ALL not acked): nothing marked. */
	assert_int_equal(pt_echo_once(&c.g, 0, "quiet", buf, sizeof(buf),
				      2000), 5);
	assert_false(any_dirty(log, 0, PT_MEM_SIZE));
	/* On, while the ring runs. */
	expect_ok(&c, VHK_VU_SET_FEATURES, &f, 8, NULL, 0);
	assert_int_equal(pt_echo_once(&c.g, 0, "logged", buf, sizeof(buf),
				      2000), 6);
	assert_true(page_dirty(log, 0x200000));		/* written buffer */
	assert_true(any_dirty(log, 0x10000, 0x10000));	/* used ring */
	assert_false(page_dirty(log, 0x100000));	/* only read */
	/* Harvest, then more I/O: marked again. */
	memset(log, 0, logsz);
	assert_int_equal(pt_echo_once(&c.g, 0, "again", buf, sizeof(buf),
				      2000), 5);
	assert_true(page_dirty(log, 0x200000));
	/* Off again, I/O goes on unlogged.  Harvest after the ack: the
	 * device may still have logged its notification-area writes. */
	f_off = F(VHK_F_VERSION_1) | F(VHK_F_PROTOCOL_FEATURES);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f_off, 8, NULL, 0);
	memset(log, 0, logsz);
	assert_int_equal(pt_echo_once(&c.g, 0, "off", buf, sizeof(buf),
				      2000), 3);
	assert_false(any_dirty(log, 0, PT_MEM_SIZE));
	munmap(log, 4096);
	close(lfd);
	end(&c);
}

/*
 * The per-ring log address (vhost-user SET_VRING_ADDR flags bit
 * VHOST_VRING_F_LOG, log_guest_addr; gpa mode: a guest-physical address):
 * with the flag, a running ring's used-ring writes are marked at the log
 * address's page and not at the ring's own pages.  Unknown flags and a
 * log address beyond the log (or wrapping) are refused with an error; a
 * new log too small for a ring's log address keeps that ring from
 * running.
 */
static void test_dirty_log_ring_addr(void **st)
{
	struct ctx c;
	uint64_t f = F(VHK_F_VERSION_1) | F(VHK_F_LOG_ALL), u = 0;
	size_t logsz = PT_MEM_SIZE / 4096 / 8;
	int lfd = memfd_create("vhk-log", MFD_CLOEXEC);
	struct vhk_vu_vring_addr a = { .index = 0 };
	struct vhk_vq_addrs va;
	uint8_t *log;
	char buf[64];

	(void)st;
	log = log_conn(&c, lfd);
	set_log_base(&c, lfd, logsz, 0);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f, 8, NULL, 0);

	/* The flag, while the ring runs (QEMU starting a migration). */
	vhk_drv_vq_addrs(c.g.dq[0], &va);
	a.desc_user_addr = va.desc;
	a.avail_user_addr = va.driver;
	a.used_user_addr = va.device;
	a.flags = VHK_VU_VRING_F_LOG;
	a.log_guest_addr = 0x300000;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	memset(log, 0, logsz);
	assert_int_equal(pt_echo_once(&c.g, 0, "flagged", buf, sizeof(buf),
				      2000), 7);
	assert_true(page_dirty(log, 0x300000));		/* the log address */
	assert_true(page_dirty(log, 0x200000));		/* written buffer */
	assert_false(any_dirty(log, 0x10000, 0x10000));	/* ring's own */

	/* Unknown flags: refused, the ring keeps its settings. */
	a.flags = VHK_VU_VRING_F_LOG | 0x2;
	expect_err(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	/* Beyond the log, and wrapping: refused, the ring stops. */
	a.flags = VHK_VU_VRING_F_LOG;
	a.log_guest_addr = PT_MEM_SIZE;
	expect_err(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	a.log_guest_addr = ~0ull - 1;
	expect_err(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	/* A good one: the ring runs again, logging at the new address. */
	a.log_guest_addr = 0x301000;
	expect_ok(&c, VHK_VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	expect_ok(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	memset(log, 0, logsz);
	assert_int_equal(pt_echo_once(&c.g, 0, "again", buf, sizeof(buf),
				      2000), 5);
	assert_true(page_dirty(log, 0x301000));
	assert_false(page_dirty(log, 0x300000));
	assert_false(any_dirty(log, 0x10000, 0x10000));

	/* A new log covering only the first 3 MiB: the ring stops, and
	 * cannot start again while its log address lies beyond. */
	set_log_base(&c, lfd, 0x300000 / 4096 / 8, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &u, 8, &c.g.kick[0], 1);
	munmap(log, 4096);
	close(lfd);
	end(&c);
}

static void test_iotlb_bad(void **st)
{
	struct ctx c;
	struct vhk_vu_iotlb good = {
		.iova = 0x1000, .size = 0x1000, .perm = VHK_PERM_RW,
		.type = VHK_VU_IOTLB_UPDATE,
	};
	struct vhk_vu_iotlb m;

	(void)st;
	begin(&c, 2);
	good.uaddr = c.g.uva;
	expect_ok(&c, VHK_VU_IOTLB_MSG, &good, sizeof(good), NULL, 0);
	m = good;
	m.size = 0;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.iova = ~0ull - 0x10;					/* iova wrap */
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.uaddr = ~0ull - 0x10;					/* uva wrap */
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.uaddr = c.g.uva + PT_MEM_SIZE;			/* outside */
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.uaddr = c.g.uva + PT_MEM_SIZE - 0x800;		/* straddles */
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.perm = 0;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.perm = 7;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.type = VHK_VU_IOTLB_MISS;		/* back-end -> front-end only */
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.type = VHK_VU_IOTLB_ACCESS_FAIL;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.type = 0;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.type = 99;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m = good;
	m.type = VHK_VU_IOTLB_INVALIDATE;
	m.iova = ~0ull - 0x10;
	expect_err(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.iova = 0;
	m.size = 0;					/* = everything */
	expect_ok(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	m.type = VHK_VU_IOTLB_BATCH_BEGIN;
	expect_ok(&c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	end(&c);
}

static void test_config_range(void **st)
{
	struct ctx c;
	struct vhk_vu_config cf;
	struct vhk_vu_msg m;

	(void)st;
	begin(&c, 1);
	memset(&cf, 0, sizeof(cf));
	cf.offset = 250;
	cf.size = 10;
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 10, &m,
				NULL, NULL), 0);
	cf.offset = pt_config_len() - 8;
	cf.size = 16;			/* beyond the device's space */
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 16, &m,
				NULL, NULL), 0);
	cf.offset = 0xffffffffu;
	cf.size = 2;
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 2, &m,
				NULL, NULL), 0);
	cf.offset = 0;
	cf.size = 8;			/* header says 4 bytes follow */
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 4, &m,
				NULL, NULL), 0);
	cf.size = 300;
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 256, &m,
				NULL, NULL), 0);
	cf.offset = 10;
	cf.size = 10;
	expect_err(&c, VHK_VU_SET_CONFIG, &cf, 12 + 10, NULL, 0);
	cf.offset = 0;
	cf.size = 4;
	expect_err(&c, VHK_VU_SET_CONFIG, &cf, 12 + 8, NULL, 0);
	/* in range still works */
	cf.size = 4;
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_CONFIG, &cf, 12 + 4, &m,
				NULL, NULL), 16);
	end(&c);
}

/* ---- order */

static void test_before_owner(void **st)
{
	struct ctx c;
	uint64_t f = F(VHK_F_VERSION_1);
	struct vhk_vu_vring_state vs = { 0, 64 };
	struct vhk_vu_memory m;

	(void)st;
	begin(&c, 0);
	mem_msg(&m, 1);
	m.regions[0].memory_size = PT_MEM_SIZE;
	m.regions[0].userspace_addr = c.g.uva;
	expect_err(&c, VHK_VU_SET_FEATURES, &f, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, &c.g.memfd, 1);
	expect_err(&c, VHK_VU_SET_VRING_NUM, &vs, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_VRING_KICK, &(uint64_t){ 0 }, 8,
		   &c.g.kick[0], 1);
	assert_int_equal(pt_send_raw(c.sock, VHK_VU_SET_OWNER, NR, NULL, 0,
				     NULL, 0), 0);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f, 8, NULL, 0);
	expect_ok(&c, VHK_VU_SET_MEM_TABLE, &m, 8 + 32, &c.g.memfd, 1);
	end(&c);
}

static void test_features(void **st)
{
	struct ctx c;
	uint64_t f1 = F(VHK_F_VERSION_1) | F(VHK_F_PROTOCOL_FEATURES);
	uint64_t f2 = f1 | F(VHK_F_RING_PACKED);
	uint64_t bad = f1 | F(VHK_F_NOTIFICATION_DATA) | F(2);
	uint64_t s = VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER |
		     VHK_STATUS_FEATURES_OK | VHK_STATUS_DRIVER_OK;
	uint64_t p = ~0ull;

	(void)st;
	begin(&c, 1);
	expect_err(&c, VHK_VU_SET_FEATURES, &bad, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_PROTOCOL_FEATURES, &p, 8, NULL, 0);
	p = F(VHK_PROTO_F_PAGEFAULT) | F(VHK_PROTO_F_REPLY_ACK);
	expect_err(&c, VHK_VU_SET_PROTOCOL_FEATURES, &p, 8, NULL, 0);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f1, 8, NULL, 0);
	expect_ok(&c, VHK_VU_SET_STATUS, &s, 8, NULL, 0);
	/* VIRTIO 1.2, 3.1.1: no feature change once DRIVER_OK */
	expect_err(&c, VHK_VU_SET_FEATURES, &f2, 8, NULL, 0);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f1, 8, NULL, 0);
	expect_err(&c, VHK_VU_SET_STATUS, &(uint64_t){ 0x100 }, 8, NULL, 0);
	/* after a reset the change is fine */
	expect_ok(&c, VHK_VU_SET_STATUS, &(uint64_t){ 0 }, 8, NULL, 0);
	expect_ok(&c, VHK_VU_SET_FEATURES, &f2, 8, NULL, 0);
	/* net-only messages on a blk device */
	expect_err(&c, VHK_VU_NET_SET_MTU, &(uint64_t){ 1500 }, 8, NULL, 0);
	expect_err(&c, VHK_VU_SEND_RARP, &(uint64_t){ 0 }, 8, NULL, 0);
	end(&c);
}

/* Resets while requests are in flight: rings stop (the device drains),
 * the server lives on and the device comes back up. */
static void test_reset_mid_io(void **st)
{
	static const uint32_t resets[] = { VHK_VU_RESET_DEVICE,
					   VHK_VU_SET_STATUS,
					   VHK_VU_RESET_OWNER };

	(void)st;
	for (size_t k = 0; k < VHK_ARRAY_SIZE(resets); k++) {
		struct ctx c;
		unsigned int stops;
		uint64_t f;
		char in[64];
		uint64_t zero = 0;

		begin(&c, 2);
		assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
		assert_int_equal(pt_setup_vq(c.sock, &c.g, 1, 64), 0);
		for (int i = 0; i < 20; i++)
			pt_echo_post(&c.g, (uint16_t)(i & 1), "in flight", 32);
		stops = atomic_load(&srv.echo.stops);
		if (resets[k] == VHK_VU_SET_STATUS)
			expect_ok(&c, resets[k], &zero, 8, NULL, 0);
		else
			expect_ok(&c, resets[k], NULL, 0, NULL, 0);
		assert_true(atomic_load(&srv.echo.stops) >= stops + 2);
		assert_true(pt_alive(c.sock));
		/* Up again, with fresh rings. */
		f = c.g.features;
		expect_ok(&c, VHK_VU_SET_FEATURES, &f, 8, NULL, 0);
		if (resets[k] == VHK_VU_RESET_OWNER)
			pt_send_mem(c.sock, &c.g);
		assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
		assert_int_equal(pt_echo_once(&c.g, 0, "again", in,
					      sizeof(in), 2000), 5);
		end(&c);
	}
}

/* A front-end that dies halfway through a message, or right after
 * handing over fds. */
static void test_truncated(void **st)
{
	struct ctx c;
	struct vhk_vu_hdr h = { VHK_VU_SET_MEM_TABLE, NR, 40 };

	(void)st;
	begin(&c, 1);
	assert_int_equal(send(c.sock, &h, 6, 0), 6);
	end(&c);
	begin(&c, 1);
	assert_int_equal(send(c.sock, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(send(c.sock, &h, 4, 0), 4);
	end(&c);
	begin(&c, 2);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	pt_echo_post(&c.g, 0, "bye", 8);
	end(&c);
}

/* A front-end that sends a header and then nothing: the server gives up
 * on it after its I/O timeout instead of hanging the loop. */
static void test_stalled(void **st)
{
	struct ctx c;
	struct vhk_vu_hdr h = { VHK_VU_SET_VRING_NUM, NR, 8 };
	struct pollfd p;
	char b;

	(void)st;
	begin(&c, 1);
	assert_int_equal(send(c.sock, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	p.fd = c.sock;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 6000), 1);
	assert_int_equal(recv(c.sock, &b, 1, MSG_DONTWAIT), 0);
	end(&c);
}

/* State-dependent misuse: an IOTLB UPDATE before any memory table, an
 * inflight region swapped under running rings. */
static void test_out_of_order_state(void **st)
{
	struct ctx c;
	struct vhk_vu_iotlb u = {
		.iova = 0x1000, .size = 0x1000, .perm = VHK_PERM_RW,
		.type = VHK_VU_IOTLB_UPDATE,
	};
	struct vhk_vu_inflight in = { 0, 0, 2, 64 };
	struct vhk_vu_msg m;
	int fds[VHK_VU_MAX_FDS];
	unsigned int n;
	char buf[64];

	(void)st;
	begin(&c, 1);
	u.uaddr = c.g.uva;
	expect_err(&c, VHK_VU_IOTLB_MSG, &u, sizeof(u), NULL, 0);
	pt_send_mem(c.sock, &c.g);
	expect_ok(&c, VHK_VU_IOTLB_MSG, &u, sizeof(u), NULL, 0);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_INFLIGHT_FD, &in,
				sizeof(in), &m, fds, &n), 0);
	in.mmap_size = 0x10000;
	expect_err(&c, VHK_VU_SET_INFLIGHT_FD, &in, sizeof(in), &c.g.memfd,
		   1);
	assert_int_equal(pt_echo_once(&c.g, 0, "still fine", buf,
				      sizeof(buf), 2000), 10);
	end(&c);
}

/*
 * SET_INFLIGHT_FD whose offset + size runs past the end of its file
 * (found by fuzz_vu_dispatch): mmap() accepts it, the first touch at ring
 * start would be SIGBUS.  Refused with an error; the ring still works.
 */
static void test_inflight_beyond_file(void **st)
{
	struct ctx c;
	struct vhk_vu_inflight in = { 0, 0, 1, 64 };
	struct vhk_vu_msg m;
	int fds[VHK_VU_MAX_FDS];
	unsigned int n;
	char buf[64];
	int small;

	(void)st;
	begin(&c, 2);
	assert_int_equal(pt_get(c.sock, VHK_VU_GET_INFLIGHT_FD, &in,
				sizeof(in), &m, fds, &n), (int)sizeof(in));
	assert_int_equal(n, 1);
	close(fds[0]);
	small = memfd_create("vhk-small-inflight", MFD_CLOEXEC);
	assert_true(small >= 0);
	assert_int_equal(ftruncate(small, 0x10000), 0);
	in.mmap_size = 0x100000;
	in.mmap_offset = 0x10000;
	in.num_queues = 1;
	in.queue_size = 64;
	expect_err(&c, VHK_VU_SET_INFLIGHT_FD, &in, sizeof(in), &small, 1);
	in.mmap_offset = 0;
	expect_err(&c, VHK_VU_SET_INFLIGHT_FD, &in, sizeof(in), &small, 1);
	close(small);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	assert_int_equal(pt_echo_once(&c.g, 0, "still fine", buf,
				      sizeof(buf), 2000), 10);
	end(&c);
	/*
	 * The next front-end sends no inflight fd at all: the ring must not
	 * use the region the last connection had (it is unmapped).
	 */
	begin(&c, 2);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	assert_int_equal(pt_echo_once(&c.g, 0, "no inflight", buf,
				      sizeof(buf), 2000), 11);
	end(&c);
}

/*
 * The front-end shrinks its guest memory file after SET_MEM_TABLE, then
 * kicks a request whose buffer lies past the new end.  Without a guard the
 * device's write into it is a SIGBUS that kills the whole daemon; with it
 * the device is marked NEEDS_RESET (the log names the region), the
 * connection answers, and the next front-end is served.
 */
static void test_mem_shrunk(void **st)
{
	struct ctx c;
	uint64_t one = 1, status = 0;
	char buf[64];

	(void)st;
	begin(&c, 2);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	assert_int_equal(pt_echo_once(&c.g, 0, "before", buf, sizeof(buf),
				      2000), 6);
	/* A request that writes at 0x200000 (pt_echo_place: the echo's
	 * bytes, blk's status byte), published, not kicked. */
	pt_echo_place(&c.g, 0, "gone!", 32);
	/* Rings and the readable buffer stay, the writable one goes.  From
	 * here the test itself must not touch c.g.mem past 0x180000. */
	assert_int_equal(ftruncate(c.g.memfd, 0x180000), 0);
	assert_int_equal(write(c.g.kick[0], &one, 8), 8);
	for (int i = 0; i < 200; i++) {
		status = pt_get_u64(c.sock, VHK_VU_GET_STATUS);
		if (status & VHK_STATUS_NEEDS_RESET)
			break;
		usleep(10000);
	}
	assert_true(status & VHK_STATUS_NEEDS_RESET);
	assert_true(pt_alive(c.sock));
	end(&c);
	/* The daemon serves on, with fresh memory. */
	begin(&c, 2);
	assert_int_equal(pt_setup_vq(c.sock, &c.g, 0, 64), 0);
	assert_int_equal(pt_echo_once(&c.g, 0, "after", buf, sizeof(buf),
				      2000), 5);
	assert_int_equal(pt_get_u64(c.sock, VHK_VU_GET_STATUS) &
			 VHK_STATUS_NEEDS_RESET, 0);
	end(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_inflight_beyond_file),
		cmocka_unit_test(test_mem_shrunk),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_size_beyond_payload),
		cmocka_unit_test(test_size_mismatch),
		cmocka_unit_test(test_unknown_requests),
		cmocka_unit_test(test_missing_fds),
		cmocka_unit_test(test_extra_fds),
		cmocka_unit_test(test_fd_flood),
		cmocka_unit_test(test_mem_nregions),
		cmocka_unit_test(test_mem_bad_regions),
		cmocka_unit_test(test_mem_overlap),
		cmocka_unit_test(test_queue_index),
		cmocka_unit_test(test_vring_num),
		cmocka_unit_test(test_ring_addr_bad),
		cmocka_unit_test(test_log_base),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_dirty_log_ring_addr),
		cmocka_unit_test(test_iotlb_bad),
		cmocka_unit_test(test_config_range),
		cmocka_unit_test(test_before_owner),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_reset_mid_io),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_stalled),
		cmocka_unit_test(test_out_of_order_state),
	};

	if (getenv("PT_FILTER"))
		cmocka_set_test_filter(getenv("PT_FILTER"));
	return cmocka_run_group_tests_name("proto_hostile", tests, group_setup,
					   group_teardown);
}
