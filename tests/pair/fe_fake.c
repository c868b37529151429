/* SPDX-License-Identifier: MIT */
/*
 * fe_fake.c - the front-end library against a minimal fake back-end in a
 * thread:
 *  - kernel-vhost semantics (ACCESS_PLATFORM acked => IOTLB on, no
 *    preconditions, nobody to ask on a miss): the crosvm stall, reproduced
 *    with the naive intersection and gone with vhk_fe_backend_features();
 *  - a hostile back-end: wrong reply codes, short replies, NACKs, silence,
 *    hang-ups, GET_QUEUE_NUM 0, GET_MAX_MEM_SLOTS 0 or absurd, a NACKed
 *    ADD_MEM_REG, failed GET_CONFIG, channel messages for unmapped IOVAs
 *    and unknown requests.  Each must give a clean error.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "fe_util.h"
#include "vhost-user/fe/fe_priv.h"

enum bad { BAD_NONE, BAD_CODE, BAD_SIZE, BAD_NACK, BAD_SILENT, BAD_CLOSE };

struct fake {
	char path[200];
	int lfd, cfd, chan;
	pthread_t th;
	/* knobs */
	bool kernel_iotlb;
	uint32_t bad_req;
	enum bad bad;
	uint64_t queue_num;
	bool config_fails;
	bool offer_slots;	/* offer CONFIGURE_MEM_SLOTS */
	uint64_t mem_slots;	/* GET_MAX_MEM_SLOTS */
	int nack_adds;		/* NACK the first N ADD_MEM_REGs */
	int regions_added, regions_removed;
	/* state */
	uint64_t proto;
	bool ap;
	uint8_t *mem;
	uint64_t gpa, size, uva;
	uint32_t num;
	uint64_t desc, avail, used;
	int kick, call;
	struct { uint64_t iova, size, uva; } tlb[64];
	int ntlb;
	uint16_t last_avail;
	int completed, stalled, updates;
	bool joined;
};

static struct fake *fake_new(void)
{
	static int n;
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(f->path, sizeof(f->path), "%s/fake%d.sock", fe_tmpdir(),
		 n++);
	strcpy(sa.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->cfd = f->chan = f->kick = f->call = -1;
	f->queue_num = 1;
	return f;
}

static void reply(struct fake *f, const struct vhk_vu_msg *req,
		  const void *p, uint32_t size)
{
	struct vhk_vu_msg r;

	memset(&r, 0, sizeof(r));
	r.hdr.request = req->hdr.request;
	r.hdr.flags = VHK_VU_VERSION | VHK_VU_FLAG_REPLY;
	r.hdr.size = size;
	memcpy(&r.payload, p, size);
	if (f->bad_req == req->hdr.request) {
		if (f->bad == BAD_CODE)
			r.hdr.request++;
		if (f->bad == BAD_SIZE)
			r.hdr.size = 4;
		if (f->bad == BAD_NACK)
			r.payload.u64 = 1;
	}
	vhk_vu_send(f->cfd, &r, NULL, 0);
}

static void reply_u64(struct fake *f, const struct vhk_vu_msg *req,
		      uint64_t v)
{
	reply(f, req, &v, sizeof(v));
}

/* Host pointer for [addr, addr+len): ring addresses are UVAs, buffer
 * addresses GPAs - unless the IOTLB is on, then both are IOVAs. */
static uint8_t *xlate(struct fake *f, uint64_t addr, uint64_t len, bool ring)
{
	uint64_t uva = addr;

	if (f->ap && f->kernel_iotlb) {
		int i;

		for (i = 0; i < f->ntlb; i++)
			if (addr >= f->tlb[i].iova &&
			    addr - f->tlb[i].iova + len <= f->tlb[i].size)
				break;
		if (i == f->ntlb)
			return NULL;	/* a miss nobody will answer */
		uva = f->tlb[i].uva + (addr - f->tlb[i].iova);
	} else if (!ring) {
		if (addr < f->gpa || addr - f->gpa + len > f->size)
			return NULL;
		return f->mem + (addr - f->gpa);
	}
	if (uva < f->uva || uva - f->uva + len > f->size)
		return NULL;
	return f->mem + (uva - f->uva);
}

/* Complete every available chain: status byte 0 in its last buffer. */
static void process(struct fake *f)
{
	uint8_t *desc = xlate(f, f->desc, 16ull * f->num, true);
	uint8_t *avail = xlate(f, f->avail, 4 + 2ull * f->num, true);
	uint8_t *used = xlate(f, f->used, 4 + 8ull * f->num, true);
	uint16_t idx, used_idx;

	if (!desc || !avail || !used || !f->num) {
		f->stalled++;
		return;
	}
	idx = __atomic_load_n((uint16_t *)(avail + 2), __ATOMIC_ACQUIRE);
	while (f->last_avail != idx) {
		uint16_t head, i, steps = 0;
		uint64_t addr = 0;
		uint32_t len = 0;
		uint8_t *st;

		memcpy(&head, avail + 4 + 2 * (f->last_avail % f->num), 2);
		i = head;
		for (;;) {
			uint16_t flags, next;

			if (i >= f->num || steps++ > f->num)
				return;
			memcpy(&addr, desc + 16 * i, 8);
			memcpy(&len, desc + 16 * i + 8, 4);
			memcpy(&flags, desc + 16 * i + 12, 2);
			memcpy(&next, desc + 16 * i + 14, 2);
			if (!(flags & 1))
				break;
			i = next;
		}
		st = xlate(f, addr + len - 1, 1, false);
		if (!st) {
			f->stalled++;
			return;
		}
		*st = 0;
		memcpy(&used_idx, used + 2, 2);
		{
			uint32_t e[2] = { head, 1 };

			memcpy(used + 4 + 8 * (used_idx % f->num), e, 8);
		}
		__atomic_store_n((uint16_t *)(used + 2),
				 (uint16_t)(used_idx + 1), __ATOMIC_RELEASE);
		f->last_avail++;
		f->completed++;
	}
	if (f->call >= 0) {
		uint64_t one = 1;

		if (write(f->call, &one, 8) != 8)
			f->stalled++;
	}
}

static void take_fd(int *slot, const int *fds, unsigned int nfds)
{
	if (nfds < 1)
		return;
	if (*slot >= 0)
		close(*slot);
	*slot = fds[0];
}

/* Returns false to hang up. */
static bool handle(struct fake *f, struct vhk_vu_msg *m, int *fds,
		   unsigned int nfds)
{
	bool need = m->hdr.flags & VHK_VU_FLAG_NEED_REPLY;
	bool replied = false;
	uint64_t v;

	if (f->bad_req == m->hdr.request && f->bad == BAD_CLOSE)
		return false;
	if (f->bad_req == m->hdr.request && f->bad == BAD_SILENT)
		return true;
	switch (m->hdr.request) {
	case VHK_VU_GET_FEATURES:
		v = vhk_feature_bit(VHK_F_VERSION_1) |
		    vhk_feature_bit(VHK_F_PROTOCOL_FEATURES) |
		    vhk_feature_bit(VHK_F_ACCESS_PLATFORM);
		reply_u64(f, m, v);
		replied = true;
		break;
	case VHK_VU_GET_PROTOCOL_FEATURES:
		v = vhk_feature_bit(VHK_PROTO_F_MQ) |
		    vhk_feature_bit(VHK_PROTO_F_REPLY_ACK) |
		    vhk_feature_bit(VHK_PROTO_F_BACKEND_REQ) |
		    vhk_feature_bit(VHK_PROTO_F_CONFIG);
		if (f->offer_slots)
			vhk_set_feature(&v, VHK_PROTO_F_CONFIGURE_MEM_SLOTS);
		reply_u64(f, m, v);
		replied = true;
		break;
	case VHK_VU_SET_PROTOCOL_FEATURES:
		f->proto = m->payload.u64;
		break;
	case VHK_VU_GET_QUEUE_NUM:
		reply_u64(f, m, f->queue_num);
		replied = true;
		break;
	case VHK_VU_GET_MAX_MEM_SLOTS:
		reply_u64(f, m, f->mem_slots);
		replied = true;
		break;
	case VHK_VU_ADD_MEM_REG:
		f->regions_added++;
		if (f->nack_adds > 0 && need) {
			f->nack_adds--;
			reply_u64(f, m, 1);
			replied = true;
		}
		break;
	case VHK_VU_REM_MEM_REG:
		f->regions_removed++;
		break;
	case VHK_VU_SET_FEATURES:
		/* Kernel vhost: bit 33 switches the IOTLB on, no questions. */
		f->ap = vhk_has_feature(m->payload.u64, VHK_F_ACCESS_PLATFORM);
		break;
	case VHK_VU_SET_MEM_TABLE: {
		struct vhk_vu_mem_region r = m->payload.memory.regions[0];

		if (nfds == 1 && !f->mem) {
			f->mem = mmap(NULL, r.memory_size,
				      PROT_READ | PROT_WRITE, MAP_SHARED,
				      fds[0], (off_t)r.mmap_offset);
			f->gpa = r.guest_phys_addr;
			f->size = r.memory_size;
			f->uva = r.userspace_addr;
		}
		break;
	}
	case VHK_VU_SET_BACKEND_REQ_FD:
		take_fd(&f->chan, fds, nfds);
		return (need ? (reply_u64(f, m, 0), true) : true);
	case VHK_VU_SET_VRING_NUM:
		f->num = m->payload.state.num;
		break;
	case VHK_VU_SET_VRING_ADDR:
		f->desc = m->payload.addr.desc_user_addr;
		f->avail = m->payload.addr.avail_user_addr;
		f->used = m->payload.addr.used_user_addr;
		break;
	case VHK_VU_SET_VRING_KICK:
		take_fd(&f->kick, fds, nfds);
		return (need ? (reply_u64(f, m, 0), true) : true);
	case VHK_VU_SET_VRING_CALL:
		take_fd(&f->call, fds, nfds);
		return (need ? (reply_u64(f, m, 0), true) : true);
	case VHK_VU_IOTLB_MSG:
		if (m->payload.iotlb.type == VHK_VU_IOTLB_UPDATE &&
		    f->ntlb < 64) {
			f->tlb[f->ntlb].iova = m->payload.iotlb.iova;
			f->tlb[f->ntlb].size = m->payload.iotlb.size;
			f->tlb[f->ntlb].uva = m->payload.iotlb.uaddr;
			f->ntlb++;
			f->updates++;
		}
		break;
	case VHK_VU_GET_CONFIG: {
		struct vhk_vu_config c = m->payload.config;

		/* libvhost-user answers a failed GET_CONFIG with size 0. */
		if (f->config_fails) {
			reply(f, m, &c, 0);
		} else {
			memset(c.region, 0xab, sizeof(c.region));
			reply(f, m, &c, m->hdr.size);
		}
		replied = true;
		break;
	}
	case VHK_VU_GET_VRING_BASE: {
		struct vhk_vu_vring_state s = { 0, f->last_avail };

		reply(f, m, &s, sizeof(s));
		replied = true;
		break;
	}
	default:
		break;
	}
	for (unsigned int i = 0; i < nfds; i++)
		if (m->hdr.request != VHK_VU_SET_MEM_TABLE || i > 0)
			close(fds[i]);
	if (m->hdr.request == VHK_VU_SET_MEM_TABLE && nfds)
		close(fds[0]);	/* mapped; the mapping stays */
	if (need && !replied)
		reply_u64(f, m, 0);
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	f->cfd = accept(f->lfd, NULL, NULL);
	if (f->cfd < 0)
		return NULL;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = f->cfd, .events = POLLIN },
			{ .fd = f->kick, .events = POLLIN },
		};
		struct vhk_vu_msg m;
		int fds[VHK_VU_MAX_FDS];
		unsigned int nfds;

		if (poll(p, 2, -1) < 0)
			break;
		if (p[1].revents & POLLIN) {
			uint64_t v;

			if (read(f->kick, &v, 8) == 8)
				process(f);
		}
		if (!p[0].revents)
			continue;
		if (vhk_vu_recv(f->cfd, &m, fds, &nfds, VHK_VU_MAX_FDS))
			break;
		if (!handle(f, &m, fds, nfds))
			break;
	}
	close(f->cfd);
	f->cfd = -1;
	return NULL;
}

static void fake_start(struct fake *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

/* Wait for the fake to see the hang-up; its counters are then stable. */
static void fake_join(struct fake *f)
{
	if (!f->joined)
		pthread_join(f->th, NULL);
	f->joined = true;
}

static void fake_free(struct fake *f)
{
	fake_join(f);
	close(f->lfd);
	unlink(f->path);
	if (f->chan >= 0)
		close(f->chan);
	if (f->kick >= 0)
		close(f->kick);
	if (f->call >= 0)
		close(f->call);
	if (f->mem)
		munmap(f->mem, f->size);
	free(f);
}

static void cfg_for(struct vhk_fe_config *cfg, const struct fake *f)
{
	vhk_fe_config_init(cfg, f->path);
	cfg->name = "fe-fake";
	cfg->driver_features = vhk_feature_bit(VHK_F_VERSION_1);
	cfg->mem_size = 1u << 20;
	cfg->bounce_pool_size = 64u << 10;
	cfg->queue_size = 16;
	cfg->reply_timeout_ms = 300;
}

static uint64_t naive(uint64_t guest, uint64_t offered, uint64_t allow,
		      bool iotlb)
{
	(void)allow;
	(void)iotlb;
	return guest & offered;
}

/* One FLUSH-like request (header + status): completes or not. */
static int one_request(struct vhk_fe *fe, int tmo)
{
	return fe_blk_rw(fe, 0, FE_T_FLUSH, 0, NULL, 0, tmo);
}

/*
 * A pKVM-like guest (ACCESS_PLATFORM, restricted DMA) on a VMM without an
 * IOTLB, in front of a kernel-vhost-like back-end.  Naive intersection:
 * bit 33 reaches the back-end, its IOTLB switches on empty, ring accesses
 * fault and nobody answers - the request never completes (crosvm before
 * 4e7d00be2e13).  The helper masks the bit and the same request completes.
 */
static void crosvm_case(bool use_helper)
{
	struct fake *f = fake_new();
	struct vhk_fe_config cfg;
	struct vhk_fe *fe;
	int ret;

	f->kernel_iotlb = true;
	fake_start(f);
	cfg_for(&cfg, f);
	cfg.access_platform = true;	/* pKVM guest */
	cfg.iotlb = false;		/* no IOTLB in this VMM */
	if (!use_helper)
		cfg.negotiate = naive;
	assert_int_equal(vhk_fe_connect(&fe, &cfg), 0);
	assert_int_equal(vhk_fe_start(fe), 0);
	assert_int_equal(vhk_fe_dma_mode(fe), VHK_DMA_BOUNCE);
	assert_true(vhk_has_feature(vhk_fe_driver_features(fe),
				    VHK_F_ACCESS_PLATFORM));
	assert_int_equal(vhk_has_feature(vhk_fe_features(fe),
					 VHK_F_ACCESS_PLATFORM), !use_helper);
	ret = one_request(fe, use_helper ? 5000 : 500);
	vhk_fe_close(fe);
	fake_join(f);
	if (use_helper) {
		assert_int_equal(ret, 0);
		assert_int_equal(f->completed, 1);
		assert_int_equal(f->stalled, 0);
	} else {
		assert_int_equal(ret, -ETIMEDOUT);	/* the stall */
		assert_int_equal(f->completed, 0);
		assert_true(f->stalled > 0);
	}
	fake_free(f);
}

static void test_crosvm_naive_stalls(void **state)
{
	(void)state;
	crosvm_case(false);
}

static void test_crosvm_helper_works(void **state)
{
	(void)state;
	crosvm_case(true);
}

/* ---- hostile back-end ---------------------------------------------- */

static int connect_bad(uint32_t req, enum bad bad, uint64_t qnum,
		       struct fake **out, struct vhk_fe **fe)
{
	struct fake *f = fake_new();
	struct vhk_fe_config cfg;
	int ret;

	f->bad_req = req;
	f->bad = bad;
	f->queue_num = qnum;
	fake_start(f);
	cfg_for(&cfg, f);
	ret = vhk_fe_connect(fe, &cfg);
	*out = f;
	return ret;
}

static void test_bad_handshake(void **state)
{
	struct {
		uint32_t req;
		enum bad bad;
		uint64_t qnum;
		int want;
	} rows[] = {
		{ VHK_VU_GET_FEATURES, BAD_CODE, 1, -EPROTO },
		{ VHK_VU_GET_PROTOCOL_FEATURES, BAD_SIZE, 1, -EPROTO },
		{ VHK_VU_SET_OWNER, BAD_NACK, 1, -EIO },
		{ VHK_VU_SET_OWNER, BAD_CLOSE, 1, -ECONNRESET },
		{ VHK_VU_GET_QUEUE_NUM, BAD_NONE, 0, -EPROTO },
		{ VHK_VU_GET_QUEUE_NUM, BAD_NONE, 1ull << 20, -EPROTO },
		{ VHK_VU_GET_FEATURES, BAD_SILENT, 1, -EAGAIN },
	};

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(rows); i++) {
		struct fake *f;
		struct vhk_fe *fe = NULL;
		int ret = connect_bad(rows[i].req, rows[i].bad, rows[i].qnum,
				      &f, &fe);

		if (ret != rows[i].want)
			fail_msg("row %zu: got %d want %d", i, ret,
				 rows[i].want);
		assert_null(fe);
		fake_free(f);
	}
}

/*
 * The protocol client's memory slots against a hostile or small back-end:
 * GET_MAX_MEM_SLOTS of 0 or absurd, a NACKed ADD_MEM_REG, a table fuller
 * than the slots announced.
 */
static void test_mem_slots(void **state)
{
	static const uint64_t bad_slots[] = { 0, 1ull << 40 };
	struct vhk_vuc_config cfg;
	struct vhk_vuc_region r;
	struct vhk_vuc *c;
	struct fake *f;
	uint8_t *mem;
	int fd;

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(bad_slots); i++) {
		f = fake_new();
		f->offer_slots = true;
		f->mem_slots = bad_slots[i];
		fake_start(f);
		vhk_vuc_config_init(&cfg, f->path);
		cfg.connect_timeout_ms = 2000;
		assert_int_equal(vhk_vuc_connect(&c, &cfg), -EPROTO);
		assert_null(c);
		fake_free(f);
	}

	fd = memfd_create("fe-fake-slots", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0x4000), 0);
	mem = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(mem != MAP_FAILED);
	f = fake_new();
	f->offer_slots = true;
	f->mem_slots = 2;
	f->nack_adds = 1;
	fake_start(f);
	vhk_vuc_config_init(&cfg, f->path);
	assert_int_equal(vhk_vuc_connect(&c, &cfg), 0);
	assert_int_equal(vhk_vuc_max_regions(c), 2);
	r = (struct vhk_vuc_region){ .gpa = 0x100000, .size = 0x1000,
				     .host = mem, .fd = fd };
	/* The back-end refuses: the client's table stays empty. */
	assert_int_equal(vhk_vuc_add_region(c, &r), -EIO);
	assert_int_equal(vhk_vuc_num_regions(c), 0);
	assert_int_equal(vhk_vuc_add_region(c, &r), 0);
	r.gpa += 0x1000;
	r.host = mem + 0x1000;
	r.fd_offset = 0x1000;
	assert_int_equal(vhk_vuc_add_region(c, &r), 0);
	/* Two slots announced: the third never reaches the back-end. */
	r.gpa += 0x1000;
	r.host = mem + 0x2000;
	r.fd_offset = 0x2000;
	assert_int_equal(vhk_vuc_add_region(c, &r), -ENOSPC);
	assert_int_equal(vhk_vuc_remove_region(c, 0x100000, 0x1000), 0);
	assert_true(vhk_vuc_connected(c));
	vhk_vuc_close(c);
	fake_join(f);
	assert_int_equal(f->regions_added, 3);	/* 1 refused + 2 */
	assert_int_equal(f->regions_removed, 1);
	fake_free(f);
	munmap(mem, 0x4000);
	close(fd);
}

static void test_bad_start(void **state)
{
	struct {
		uint32_t req;
		enum bad bad;
		int want;
	} rows[] = {
		{ VHK_VU_SET_FEATURES, BAD_NACK, -EIO },
		{ VHK_VU_SET_MEM_TABLE, BAD_NACK, -EIO },
		{ VHK_VU_SET_VRING_ADDR, BAD_CODE, -EPROTO },
		{ VHK_VU_SET_VRING_KICK, BAD_SIZE, -EPROTO },
		{ VHK_VU_SET_VRING_ADDR, BAD_SILENT, -EAGAIN },
		{ VHK_VU_SET_MEM_TABLE, BAD_CLOSE, -ECONNRESET },
	};

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(rows); i++) {
		struct fake *f;
		struct vhk_fe *fe;
		int ret;

		assert_int_equal(connect_bad(rows[i].req, rows[i].bad, 1, &f,
					     &fe), 0);
		ret = vhk_fe_start(fe);
		if (ret != rows[i].want)
			fail_msg("row %zu: got %d want %d", i, ret,
				 rows[i].want);
		/* A broken stream is never reused. */
		if (rows[i].bad != BAD_NACK)
			assert_false(vhk_fe_connected(fe));
		vhk_fe_close(fe);
		fake_free(f);
	}
}

static void test_bad_config(void **state)
{
	struct fake *f = fake_new();
	struct vhk_fe_config cfg;
	struct vhk_fe *fe;
	uint8_t buf[16];

	(void)state;
	f->config_fails = true;
	fake_start(f);
	cfg_for(&cfg, f);
	assert_int_equal(vhk_fe_connect(&fe, &cfg), 0);
	assert_int_equal(vhk_fe_get_config(fe, 0, buf, 8), -EIO);
	assert_int_equal(vhk_fe_get_config(fe, 250, buf, 8), -EINVAL);
	assert_int_equal(vhk_fe_get_config(fe, 0, buf, 0), -EINVAL);
	assert_true(vhk_fe_connected(fe));
	f->config_fails = false;
	assert_int_equal(vhk_fe_get_config(fe, 4, buf, 16), 0);
	assert_int_equal(buf[15], 0xab);
	vhk_fe_close(fe);
	fake_free(f);
}

static void chan_send(int fd, uint32_t req, uint32_t flags, const void *p,
		      uint32_t size)
{
	struct vhk_vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHK_VU_VERSION | flags;
	m.hdr.size = size;
	memcpy(&m.payload, p, size);
	assert_int_equal(vhk_vu_send(fd, &m, NULL, 0), 0);
}

static uint64_t chan_reply(int fd, uint32_t req)
{
	struct vhk_vu_msg m;
	unsigned int nfds;

	assert_int_equal(vhk_vu_recv(fd, &m, NULL, &nfds, 0), 0);
	assert_int_equal(m.hdr.request, req);
	assert_true(m.hdr.flags & VHK_VU_FLAG_REPLY);
	assert_int_equal(m.hdr.size, 8);
	return m.payload.u64;
}

/* Misses for mapped / unmapped IOVAs and unknown requests on the channel. */
static void test_channel(void **state)
{
	struct fake *f = fake_new();
	struct vhk_fe_config cfg;
	struct vhk_fe_stats st;
	struct vhk_vu_iotlb miss = { 0 };
	struct vhk_fe *fe;
	int updates;

	(void)state;
	f->kernel_iotlb = true;
	fake_start(f);
	cfg_for(&cfg, f);
	cfg.access_platform = true;
	cfg.iotlb = true;
	cfg.flush = VHK_IOMMU_STRICT;
	assert_int_equal(vhk_fe_connect(&fe, &cfg), 0);
	assert_int_equal(vhk_fe_start(fe), 0);
	assert_int_equal(vhk_fe_dma_mode(fe), VHK_DMA_IOMMU);
	assert_true(f->chan >= 0);
	/* The rings work through the IOTLB: one request completes. */
	assert_int_equal(one_request(fe, 5000), 0);
	updates = f->updates;

	/* 1. MISS inside the ring mapping, NEED_REPLY: acked, UPDATE sent. */
	miss.iova = fe->ring_iova + 100;
	miss.perm = VHK_PERM_RO;
	miss.type = VHK_VU_IOTLB_MISS;
	chan_send(f->chan, VHK_VU_BACKEND_IOTLB_MSG, VHK_VU_FLAG_NEED_REPLY,
		  &miss, sizeof(miss));
	/* 2. MISS for an IOVA never mapped (a GPA): not answered. */
	miss.iova = FE_GPA_BASE;
	chan_send(f->chan, VHK_VU_BACKEND_IOTLB_MSG, 0, &miss, sizeof(miss));
	/* 3. An unknown request wanting a reply: refused. */
	chan_send(f->chan, 77, VHK_VU_FLAG_NEED_REPLY, &miss, 8);
	/* 4. Truncated IOTLB payload: ignored. */
	chan_send(f->chan, VHK_VU_BACKEND_IOTLB_MSG, 0, &miss, 8);
	/* 5. MISS in the spec's packed 26-byte layout: served as well. */
	miss.iova = fe->ring_iova + 200;
	chan_send(f->chan, VHK_VU_BACKEND_IOTLB_MSG, VHK_VU_FLAG_NEED_REPLY,
		  &miss, VHK_VU_IOTLB_MIN_SIZE);
	usleep(50000);
	assert_int_equal(vhk_fe_poll(fe, 1000), 5);
	assert_int_equal(chan_reply(f->chan, VHK_VU_BACKEND_IOTLB_MSG), 0);
	assert_int_not_equal(chan_reply(f->chan, 77), 0);
	assert_int_equal(chan_reply(f->chan, VHK_VU_BACKEND_IOTLB_MSG), 0);
	vhk_fe_stats(fe, &st);
	assert_int_equal(st.misses_served, 2);
	assert_int_equal(st.misses_unmapped, 1);
	/* The strict-mode request above mapped and unmapped 2 buffers. */
	assert_int_equal(st.iotlb_updates_sent, 1 + 2 + 2);
	assert_int_equal(st.iotlb_invalidates_sent, 2);
	/* The fake saw exactly the two UPDATEs for the misses. */
	assert_int_equal(vhk_fe_poll(fe, 0), 0);
	assert_true(vhk_fe_connected(fe));
	vhk_fe_close(fe);
	fake_join(f);
	assert_int_equal(f->updates, updates + 2);
	fake_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crosvm_naive_stalls),
		cmocka_unit_test(test_crosvm_helper_works),
		cmocka_unit_test(test_bad_handshake),
		cmocka_unit_test(test_bad_start),
		cmocka_unit_test(test_mem_slots),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_channel),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	fe_tmp_cleanup();
	return ret;
}
