// SPDX-License-Identifier: MIT
/*
 * drv_hostile.c - the blk driver trusts nothing the device writes back.
 *
 * A minimal fake vhost-user blk back-end runs in a thread (split ring, no
 * IOMMU, a 1 MiB RAM disk) and completes each request correctly or in one
 * chosen wrong way: an unknown status value, IOERR/UNSUPP, no status byte
 * written, a used length short by one, a used length beyond the buffers, a
 * used id that is not in flight.  Each must come back as a clean error
 * (-EPROTO, -EIO, -EOPNOTSUPP) - never as success, a crash or a hang - and
 * a correct request must work before and after the harmless ones.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "drv_util.h"
#include "vhostkit/vhost_user.h"

#define DISK_SECTORS	2048u

enum bad {
	BAD_NONE,
	BAD_STATUS_VALUE,	/* status 0x77 */
	BAD_IOERR,		/* status IOERR (legal: -EIO) */
	BAD_UNSUPP,		/* status UNSUPP (legal: -EOPNOTSUPP) */
	BAD_NO_STATUS,		/* nothing written, used len 0 */
	BAD_SHORT_LEN,		/* used len one short: status not covered */
	BAD_LONG_LEN,		/* used len beyond the writable buffers */
	BAD_ID,			/* used id not in flight */
	BAD_CORRUPT,		/* READ data with one bit flipped */
};

struct fake {
	char path[200];
	int lfd, cfd, kick, call;
	pthread_t th;
	atomic_int bad;
	atomic_bool stop;
	uint8_t disk[DISK_SECTORS * 512];
	struct { uint64_t gpa, size, uva; uint8_t *host; } reg[8];
	unsigned int nreg;
	uint32_t num;
	uint64_t desc, avail, used;	/* UVAs */
	uint16_t last_avail;
	uint32_t size_max, seg_max;	/* offered when non-zero */
	uint32_t max_chain;		/* longest chain seen */
	/*
	 * Held by the fake's thread while it handles a message or a kick,
	 * and by the test around its own accesses to the fields above.
	 * The ring and the kick cannot order them for ThreadSanitizer: the
	 * fake sees guest memory through its own mapping of the memfd and
	 * the eventfds as SCM_RIGHTS duplicates (other addresses, other fd
	 * numbers than the driver's).
	 */
	pthread_mutex_t lock;
};

static struct fake *F;

static uint8_t *gpa_ptr(struct fake *f, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < f->nreg; i++)
		if (gpa >= f->reg[i].gpa && len <= f->reg[i].size &&
		    gpa - f->reg[i].gpa <= f->reg[i].size - len)
			return f->reg[i].host + (gpa - f->reg[i].gpa);
	return NULL;
}

static uint8_t *uva_ptr(struct fake *f, uint64_t uva, uint64_t len)
{
	for (unsigned int i = 0; i < f->nreg; i++)
		if (uva >= f->reg[i].uva && len <= f->reg[i].size &&
		    uva - f->reg[i].uva <= f->reg[i].size - len)
			return f->reg[i].host + (uva - f->reg[i].uva);
	return NULL;
}

static void reply(struct fake *f, struct vhk_vu_msg *m, uint32_t size)
{
	m->hdr.flags = VHK_VU_VERSION | VHK_VU_FLAG_REPLY;
	m->hdr.size = size;
	vhk_vu_send(f->cfd, m, NULL, 0);
}

/* One chain: header, data..., status (VIRTIO 1.2, 5.2.6). */
static void serve_chain(struct fake *f, uint16_t head)
{
	struct fdesc { uint64_t addr; uint32_t len; uint16_t flags,
				next; } *dt, d[8];
	uint16_t *avail = (uint16_t *)uva_ptr(f, f->avail, 4 + 2 * f->num);
	uint8_t *used = uva_ptr(f, f->used, 4 + 8 * f->num);
	uint32_t n = 0, wlen = 0, type, id = head, len;
	uint64_t sector, off;
	uint8_t *hdr, *st, status = 0;
	uint16_t uidx;
	int bad = atomic_load(&F->bad);

	(void)avail;
	dt = (void *)uva_ptr(f, f->desc, 16ull * f->num);
	for (uint16_t i = head; n < 8; i = d[n - 1].next) {
		memcpy(&d[n++], &dt[i], sizeof(d[0]));
		if (!(d[n - 1].flags & 1))
			break;
	}
	if (n > f->max_chain)
		f->max_chain = n;
	hdr = gpa_ptr(f, d[0].addr, 16);
	st = gpa_ptr(f, d[n - 1].addr, 1);
	memcpy(&type, hdr, 4);
	memcpy(&sector, hdr + 8, 8);
	off = sector * 512;
	for (uint32_t i = 1; i + 1 < n; i++) {
		uint8_t *p = gpa_ptr(f, d[i].addr, d[i].len);

		if (off + d[i].len > sizeof(f->disk)) {
			status = 1;
			break;
		}
		if (type == 0) {
			memcpy(p, f->disk + off, d[i].len);
			if (bad == BAD_CORRUPT && d[i].len > 100)
				p[100] ^= 1;
			wlen += d[i].len;
		} else if (type == 1) {
			memcpy(f->disk + off, p, d[i].len);
		} else if (type == 8) {
			memset(p, 'f', d[i].len);
			wlen += d[i].len;
		}
		off += d[i].len;
	}
	wlen += 1;
	len = wlen;
	switch (bad) {
	case BAD_STATUS_VALUE:
		status = 0x77;
		break;
	case BAD_IOERR:
		status = 1;
		break;
	case BAD_UNSUPP:
		status = 2;
		break;
	case BAD_SHORT_LEN:
		len = wlen - 1;
		break;
	case BAD_LONG_LEN:
		len = wlen + 100;
		break;
	case BAD_ID:
		id = (uint16_t)(head + 1) % f->num;
		break;
	}
	if (bad != BAD_NO_STATUS)
		*st = status;
	else
		len = 0;
	memcpy(&uidx, used + 2, 2);
	memcpy(used + 4 + 8 * (uidx % f->num), &id, 4);
	memcpy(used + 4 + 8 * (uidx % f->num) + 4, &len, 4);
	/* Entry before index (pairs with the driver's acquire of idx). */
	uidx++;
	atomic_store_explicit((_Atomic uint16_t *)(void *)(used + 2), uidx,
			      memory_order_release);
}

static void process(struct fake *f)
{
	uint16_t *avail = (uint16_t *)uva_ptr(f, f->avail, 4 + 2 * f->num);
	uint16_t idx;
	uint64_t one = 1;

	if (!avail)
		return;
	for (;;) {
		idx = atomic_load_explicit((_Atomic uint16_t *)&avail[1],
					   memory_order_acquire);
		if (idx == f->last_avail)
			break;
		serve_chain(f, avail[2 + f->last_avail % f->num]);
		f->last_avail++;
	}
	if (write(f->call, &one, 8) != 8)
		return;
}

static void handle(struct fake *f, struct vhk_vu_msg *m, int *fds,
		   unsigned int nfds)
{
	uint64_t features = vhk_feature_bit(VHK_F_VERSION_1) |
			    vhk_feature_bit(VHK_F_PROTOCOL_FEATURES) |
			    vhk_feature_bit(VHK_BLK_F_FLUSH);
	unsigned int i;

	if (f->size_max)
		vhk_set_feature(&features, VHK_BLK_F_SIZE_MAX);
	if (f->seg_max)
		vhk_set_feature(&features, VHK_BLK_F_SEG_MAX);

	switch (m->hdr.request) {
	case VHK_VU_GET_FEATURES:
		m->payload.u64 = features;
		reply(f, m, 8);
		break;
	case VHK_VU_GET_PROTOCOL_FEATURES:
		m->payload.u64 = vhk_feature_bit(VHK_PROTO_F_CONFIG) |
				 vhk_feature_bit(VHK_PROTO_F_MQ);
		reply(f, m, 8);
		break;
	case VHK_VU_GET_QUEUE_NUM:
		m->payload.u64 = 1;
		reply(f, m, 8);
		break;
	case VHK_VU_GET_CONFIG: {
		uint64_t cap = DISK_SECTORS;
		uint32_t sz = m->payload.config.size;

		memset(m->payload.config.region, 0, sizeof(m->payload.config.region));
		memcpy(m->payload.config.region, &cap, 8);
		memcpy(m->payload.config.region + 8, &f->size_max, 4);
		memcpy(m->payload.config.region + 12, &f->seg_max, 4);
		reply(f, m, 12 + sz);
		break;
	}
	case VHK_VU_SET_MEM_TABLE:
		f->nreg = 0;
		for (i = 0; i < m->payload.memory.nregions && i < nfds; i++) {
			struct vhk_vu_mem_region r;
			void *p;

			memcpy(&r, (uint8_t *)&m->payload +
			       offsetof(struct vhk_vu_memory, regions) +
			       i * sizeof(r), sizeof(r));
			p = mmap(NULL, r.memory_size + r.mmap_offset,
				 PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
			if (p == MAP_FAILED)
				continue;
			f->reg[i].gpa = r.guest_phys_addr;
			f->reg[i].size = r.memory_size;
			f->reg[i].uva = r.userspace_addr;
			f->reg[i].host = (uint8_t *)p + r.mmap_offset;
			f->nreg++;
		}
		break;
	case VHK_VU_SET_VRING_NUM:
		f->num = m->payload.state.num;
		break;
	case VHK_VU_SET_VRING_ADDR:
		f->desc = m->payload.addr.desc_user_addr;
		f->avail = m->payload.addr.avail_user_addr;
		f->used = m->payload.addr.used_user_addr;
		break;
	case VHK_VU_SET_VRING_BASE:
		f->last_avail = (uint16_t)m->payload.state.num;
		break;
	case VHK_VU_GET_VRING_BASE:
		m->payload.state.num = f->last_avail;
		reply(f, m, sizeof(m->payload.state));
		break;
	case VHK_VU_SET_VRING_KICK:
		if (nfds) {
			f->kick = fds[0];
			fds[0] = -1;
		}
		break;
	case VHK_VU_SET_VRING_CALL:
		if (nfds) {
			f->call = fds[0];
			fds[0] = -1;
		}
		break;
	default:
		break;
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct vhk_vu_msg m;
	int fds[VHK_VU_MAX_FDS];
	unsigned int nfds, i;

	int cfd = accept(f->lfd, NULL, NULL);
	bool done = false;

	pthread_mutex_lock(&f->lock);
	f->cfd = cfd;
	pthread_mutex_unlock(&f->lock);
	while (!done && !atomic_load(&f->stop) && cfd >= 0) {
		struct pollfd p[2] = { { cfd, POLLIN, 0 },
				       { f->kick, POLLIN, 0 } };

		if (poll(p, f->kick >= 0 ? 2 : 1, 100) <= 0)
			continue;
		pthread_mutex_lock(&f->lock);
		if (p[0].revents) {
			nfds = 0;
			if (vhk_vu_recv(cfd, &m, fds, &nfds,
					VHK_VU_MAX_FDS) < 0) {
				done = true;
			} else {
				handle(f, &m, fds, nfds);
				for (i = 0; i < nfds; i++)
					if (fds[i] >= 0 &&
					    m.hdr.request != VHK_VU_SET_MEM_TABLE)
						close(fds[i]);
			}
		}
		if (!done && f->kick >= 0 && p[1].revents) {
			uint64_t v;

			if (read(f->kick, &v, 8) == 8)
				process(f);
		}
		pthread_mutex_unlock(&f->lock);
	}
	return NULL;
}

static struct drv_conn c;

static int fake_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	F = calloc(1, sizeof(*F));
	pthread_mutex_init(&F->lock, NULL);
	F->kick = F->call = F->cfd = -1;
	snprintf(F->path, sizeof(F->path), "%s/fake.sock", drv_tmpdir());
	unlink(F->path);
	strcpy(sa.sun_path, F->path);
	F->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(F->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(F->lfd, 1) < 0)
		return -1;
	pthread_create(&F->th, NULL, fake_main, F);
	return 0;
}

static int open_fake(void)
{
	struct drv_open_opts o = { .dma = DRV_DIRECT, .queues = 1,
				   .depth = 4, .use_call_fd = true,
				   .mem_size = 4u << 20 };

	o.sock = F->path;
	return drv_open(&c, &o);
}

/* A device with size_max 512 and seg_max 4 (VIRTIO 1.2, 5.2.4). */
static int setup_segs(void **state)
{
	(void)state;
	if (fake_listen() < 0)
		return -1;
	pthread_mutex_lock(&F->lock);
	F->size_max = 512;
	F->seg_max = 4;
	pthread_mutex_unlock(&F->lock);
	return open_fake();
}

static int setup(void **state)
{
	struct drv_open_opts o = { .dma = DRV_DIRECT, .queues = 1,
				   .depth = 4, .use_call_fd = true,
				   .mem_size = 4u << 20 };

	(void)state;
	if (fake_listen() < 0)
		return -1;
	o.sock = F->path;
	return drv_open(&c, &o);
}

static int teardown(void **state)
{
	(void)state;
	drv_close(&c);
	atomic_store(&F->stop, true);
	pthread_mutex_lock(&F->lock);
	shutdown(F->cfd, SHUT_RDWR);
	pthread_mutex_unlock(&F->lock);
	pthread_join(F->th, NULL);
	close(F->lfd);
	pthread_mutex_destroy(&F->lock);
	free(F);
	return 0;
}

static int read_with(enum bad bad, struct vhk_blk_req *req, void *buf)
{
	atomic_store(&F->bad, bad);
	memset(req, 0, sizeof(*req));
	req->op = VHK_BLK_OP_READ;
	req->sector = 4;
	req->buf = buf;
	req->len = 1024;
	return vhk_blk_drv_run(c.drv, 0, req, 2000);
}

static void test_good_then_bad_status(void **state)
{
	uint8_t *buf = vhk_fe_alloc(c.fe, 4096);
	struct vhk_blk_req req;

	(void)state;
	pthread_mutex_lock(&F->lock);
	memset(F->disk + 4 * 512, 0x3c, 1024);
	pthread_mutex_unlock(&F->lock);
	assert_int_equal(read_with(BAD_NONE, &req, buf), 0);
	assert_int_equal(req.used_len, 1025);
	assert_int_equal(buf[0], 0x3c);
	assert_int_equal(buf[1023], 0x3c);

	/* VIRTIO 1.2, 5.2.6: 0x77 is no status value. */
	assert_int_equal(read_with(BAD_STATUS_VALUE, &req, buf), -EPROTO);
	assert_int_equal(req.status, 0x77);
	assert_int_equal(read_with(BAD_IOERR, &req, buf), -EIO);
	assert_int_equal(read_with(BAD_UNSUPP, &req, buf), -EOPNOTSUPP);
	/* Nothing written: the 0xff the driver put there is not "OK". */
	assert_int_equal(read_with(BAD_NO_STATUS, &req, buf), -EPROTO);
	/* VIRTIO 1.2, 2.7.8.2: bytes past used len are not trusted. */
	assert_int_equal(read_with(BAD_SHORT_LEN, &req, buf), -EPROTO);
	assert_int_equal(req.status, 0);	/* the byte said OK anyway */
	/* The queue still works after all of those. */
	assert_int_equal(read_with(BAD_NONE, &req, buf), 0);
	assert_int_equal(vhk_blk_drv_inflight(c.drv, 0), 0);
	vhk_fe_free(c.fe, buf);
}

static void test_used_len_too_long(void **state)
{
	uint8_t *buf = vhk_fe_alloc(c.fe, 4096);
	struct vhk_blk_req req;

	(void)state;
	/* Beyond the writable bytes: the used ring is corrupt. */
	assert_int_equal(read_with(BAD_LONG_LEN, &req, buf), -EPROTO);
	/* Broken queue: refuses new work instead of guessing. */
	assert_int_equal(read_with(BAD_NONE, &req, buf), -EIO);
}

static void test_used_id_not_in_flight(void **state)
{
	uint8_t *buf = vhk_fe_alloc(c.fe, 4096);
	struct vhk_blk_req req;

	(void)state;
	assert_int_equal(read_with(BAD_ID, &req, buf), -EPROTO);
	assert_int_equal(read_with(BAD_NONE, &req, buf), -EIO);
}

static uint32_t fake_max_chain(void)
{
	uint32_t n;

	pthread_mutex_lock(&F->lock);
	n = F->max_chain;
	pthread_mutex_unlock(&F->lock);
	return n;
}

/* Data split at size_max, at most seg_max segments. */
static void test_size_max_seg_max(void **state)
{
	uint8_t *buf = vhk_fe_alloc(c.fe, 4096);
	struct vhk_blk_req req;
	unsigned int i;

	(void)state;
	pthread_mutex_lock(&F->lock);
	for (i = 0; i < 2048; i++)
		F->disk[512 * 8 + i] = (uint8_t)(i * 7);
	pthread_mutex_unlock(&F->lock);
	memset(&req, 0, sizeof(req));
	req.op = VHK_BLK_OP_READ;
	req.sector = 8;
	req.buf = buf;
	req.len = 2048;		/* four 512-byte segments */
	assert_int_equal(vhk_blk_drv_run(c.drv, 0, &req, 2000), 0);
	assert_int_equal(fake_max_chain(), 6);	/* header + 4 + status */
	for (i = 0; i < 2048; i++)
		assert_int_equal(buf[i], (uint8_t)(i * 7));
	req.len = 2560;		/* five: more than seg_max */
	assert_int_equal(vhk_blk_drv_submit(c.drv, 0, &req), -EINVAL);
	assert_int_equal(vhk_blk_drv_inflight(c.drv, 0), 0);
	assert_int_equal(fake_max_chain(), 6);
}

static int setup_fake_only(void **state)
{
	(void)state;
	return fake_listen();
}

/* `vhostkit blk io` must exit 1 and say MISMATCH on corrupted reads. */
static void test_cli_detects_mismatch(void **state)
{
	const char *cli = drv_bin("VHK_CLI");
	char cmd[600], out[8192];
	size_t n = 0;
	FILE *f;
	int st;

	(void)state;
	if (!cli)
		skip();
	atomic_store(&F->bad, BAD_CORRUPT);
	snprintf(cmd, sizeof(cmd), "%s blk io %s --size 64k --bs 4k "
		 "--no-extra 2>&1", cli, F->path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (n + 1 < sizeof(out) && fgets(out + n, (int)(sizeof(out) - n), f))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(f);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_non_null(strstr(out, "MISMATCH at byte 100 "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_then_bad_status,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_used_len_too_long,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_used_id_not_in_flight,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_size_max_seg_max,
						setup_segs, teardown),
		cmocka_unit_test_setup_teardown(test_cli_detects_mismatch,
						setup_fake_only, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
