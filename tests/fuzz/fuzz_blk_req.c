/* SPDX-License-Identifier: MIT */
/*
 * fuzz_blk_req.c - libFuzzer target for the virtio-blk request parser and
 * its execution (src/dev/blk/blk_req.c, blk.c): requests placed by the
 * driver-side ring (drv_ring.h) in mock guest memory, run by the device
 * through the test host hooks (blk_internal.h, as tests/unit/blk does)
 * against a small temp file.
 *
 * Checked: no crash or sanitizer report; every used length is at most the
 * chain's writable bytes; a status byte the device wrote is OK, IOERR or
 * UNSUPP; guest bytes outside the buffer area keep their canaries; the
 * disk file never grows past its capacity; every request completes (or
 * the device reports itself broken, or parks on an IOTLB miss); no fd is
 * left open after the device is closed.
 *
 * Input layout (missing bytes read as zero):
 *   [0]     bit 0 packed ring, bit 1 read-only disk, bit 2 no O_DIRECT,
 *           bit 3 EVENT_IDX, bit 4 INDIRECT_DESC, bits 5-6 translation
 *           mode (gpa / identity / iotlb), bit 7 the feature byte below
 *           removes DISCARD / WRITE_ZEROES / FLUSH / CONFIG_WCE from the
 *           acked set (bits 0-3)
 *   [1]     feature byte
 *   then    up to MAX_REQS requests, placed together, then kicked:
 *     type8   (% 9: IN OUT FLUSH GET_ID GET_LIFETIME DISCARD WZ
 *             SECURE_ERASE, 8 = a raw type32 follows)
 *     sect8   (% 4: small8 follows / capacity - small8 / raw64 / 0)
 *     hdr16   buffer-area offset of the 16-byte header (header bytes are
 *             ioprio32 = 0, the type, the sector)
 *     nseg8   1..MAX_SEGS segments (% MAX_SEGS + 1); bit 7: indirect
 *     segs    off16 len16 (bit 15 of len: device-writable; len & 0x3fff)
 *     blob    off16 len8 + len bytes written at off (discard / write
 *             zeroes segment tables, data)
 * Offsets are folded into the buffer area; segments may run off its end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mockmem.h"
#include "vhostkit/devq.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/ring_ctl.h"
#include "dev/blk/blk_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

#define QSIZE		16
#define MAX_REQS	8
#define MAX_SEGS	8
#define DISK_SECTORS	64		/* 32 KiB */
#define DISK_BYTES	(DISK_SECTORS * 512)
#define BUF_SIZE	0x8000
#define TABLES		0x7000		/* indirect tables: 128 bytes each */
#define NO_STATUS	0x77

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

struct host {
	struct vhk_vq *vq;
	int fd;
	vhk_watch_fn fn;
	void *arg;
	unsigned int broken;
	unsigned int kick_laters;
};

static void h_complete(void *opaque, struct vhk_dev_queue *q)
{
	struct host *h = opaque;

	check(vhk_dq_index(q) == 0);
	vhk_vq_flush(h->vq);
}

static void h_kick_later(void *opaque, struct vhk_dev_queue *q)
{
	check(vhk_dq_index(q) == 0);
	((struct host *)opaque)->kick_laters++;
}

static int h_watch(void *opaque, struct vhk_dev_queue *q, int fd,
		   uint32_t events, vhk_watch_fn fn, void *arg)
{
	struct host *h = opaque;

	(void)q;
	(void)events;
	check(h->fd < 0);
	h->fd = fd;
	h->fn = fn;
	h->arg = arg;
	return 0;
}

static int h_unwatch(void *opaque, struct vhk_dev_queue *q, int fd)
{
	struct host *h = opaque;

	(void)q;
	if (fd != h->fd)
		return -ENOENT;
	h->fd = -1;
	return 0;
}

static void h_broken(void *opaque, const char *why)
{
	(void)why;
	((struct host *)opaque)->broken++;
}

struct req {
	struct vhk_drv_seg seg[MAX_SEGS];
	unsigned int nseg;
	uint32_t wbytes;		/* writable bytes of the chain */
	bool placed, done;
	uint32_t used;
	size_t status_off;		/* buffer offset, or SIZE_MAX */
};

static char disk_path[64];

static int fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	check(d);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void remove_disk(void)
{
	if (disk_path[0])
		unlink(disk_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	(void)argc;
	(void)argv;
	vhk_log_set_level(getenv("FUZZ_VERBOSE") ? VHK_LOG_DEBUG :
			  VHK_LOG_ERR);
	snprintf(disk_path, sizeof(disk_path), "%s/fuzz_blk_XXXXXX",
		 dir && strlen(dir) < 40 ? dir : "/tmp");
	fd = mkstemp(disk_path);
	check(fd >= 0);
	close(fd);
	atexit(remove_disk);
	return 0;
}

static uint32_t pick_type(struct in *in)
{
	static const uint32_t types[8] = {
		VHK_BLK_T_IN, VHK_BLK_T_OUT, VHK_BLK_T_FLUSH,
		VHK_BLK_T_GET_ID, VHK_BLK_T_GET_LIFETIME, VHK_BLK_T_DISCARD,
		VHK_BLK_T_WRITE_ZEROES, VHK_BLK_T_SECURE_ERASE,
	};
	unsigned int t = (unsigned int)take(in, 1) % 9;

	return t < 8 ? types[t] : (uint32_t)take(in, 4);
}

static uint64_t pick_sector(struct in *in)
{
	switch (take(in, 1) % 4) {
	case 0:
		return take(in, 1);
	case 1:
		return DISK_SECTORS - take(in, 1);
	case 2:
		return take(in, 8);
	default:
		return 0;
	}
}

/* True if buffer byte @off lies in any placed segment but @skip's last. */
static bool overlapped(const struct req *r, unsigned int n,
		       const struct vhk_mockmem *m, size_t off,
		       const struct req *skip)
{
	uint64_t a = vhk_mockmem_buf_addr(m, off);

	for (unsigned int i = 0; i < n; i++) {
		if (!r[i].placed)
			continue;
		for (unsigned int s = 0; s < r[i].nseg; s++) {
			const struct vhk_drv_seg *g = &r[i].seg[s];

			if (&r[i] == skip && s == r[i].nseg - 1 &&
			    a == g->addr + g->len - 1)
				continue;
			if (a >= g->addr && a - g->addr < g->len)
				return true;
		}
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	static struct req reqs[MAX_REQS];
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq = NULL;
	struct vhk_vq *vq = NULL;
	struct vhk_blk *blk = NULL;
	struct host host = { .fd = -1 };
	struct vhk_vq_params p = { .num = QSIZE, .name = "fuzz blk" };
	struct vhk_blk_opts o = {
		.num_queues = 1, .serial = "fuzz-serial",
	};
	static const struct vhk_dq_host hh = {
		.complete = h_complete, .kick_later = h_kick_later,
		.watch = h_watch, .unwatch = h_unwatch, .broken = h_broken,
	};
	struct vhk_dev_queue dev_q;
	uint64_t offered, acked = 0;
	uint8_t cfg, fbyte;
	unsigned int nreq = 0, placed = 0, done = 0;
	enum vhk_as_mode mode;
	enum vhk_kick_result res;
	struct stat st;
	bool packed;
	int fd, fds_before;

	fds_before = fd_count();
	cfg = (uint8_t)take(&in, 1);
	fbyte = (uint8_t)take(&in, 1);
	packed = cfg & 1;
	mode = (enum vhk_as_mode)(((cfg >> 5) & 3) % 3);
	memset(reqs, 0, sizeof(reqs));

	/* A fresh disk every input: capacity bytes of a pattern. */
	fd = open(disk_path, O_RDWR | O_CLOEXEC);
	check(fd >= 0);
	check(ftruncate(fd, 0) == 0 && ftruncate(fd, DISK_BYTES) == 0);
	check(pwrite(fd, "vhostkit", 8, 0) == 8);

	check(vhk_mockmem_init(&m, mode, false,
			       vhk_drv_vq_mem_size(packed, QSIZE),
			       BUF_SIZE) == 0);
	o.disk = disk_path;
	o.read_only = cfg & 2;
	o.no_direct = cfg & 4;
	check(vhk_blk_open(&blk, &o) == 0);
	check(vhk_blk_capacity(blk) == DISK_SECTORS);

	offered = vhk_blk_ops.get_features(blk);
	vhk_set_feature(&acked, VHK_F_VERSION_1);
	if (packed)
		vhk_set_feature(&acked, VHK_F_RING_PACKED);
	if (cfg & 8)
		vhk_set_feature(&acked, VHK_F_EVENT_IDX);
	if (cfg & 16)
		vhk_set_feature(&acked, VHK_F_INDIRECT_DESC);
	{
		static const unsigned int opt[] = {
			VHK_BLK_F_DISCARD, VHK_BLK_F_WRITE_ZEROES,
			VHK_BLK_F_FLUSH, VHK_BLK_F_CONFIG_WCE,
			VHK_BLK_F_SEG_MAX, VHK_BLK_F_BLK_SIZE,
			VHK_BLK_F_TOPOLOGY, VHK_BLK_F_RO,
		};

		for (unsigned int i = 0; i < VHK_ARRAY_SIZE(opt); i++) {
			bool drop = (cfg & 128) && i < 4 && (fbyte >> i) & 1;

			if (vhk_has_feature(offered, opt[i]) && !drop)
				vhk_set_feature(&acked, opt[i]);
		}
	}

	check(vhk_drv_vq_new(&dq, QSIZE, acked, m.ring_host,
			     m.ring_addr) == 0);
	vhk_drv_vq_addrs(dq, &p.addrs);
	p.features = acked;
	p.max_iov = VHK_BLK_DEFAULT_MAX_IOV;
	p.avail_base = packed ? 0x8000 : 0;
	check(vhk_vq_new(&vq) == 0);
	check(vhk_vq_start(vq, &m.as, &p) == 0);
	host.vq = vq;
	check(vhk_dq_init(&dev_q, vq, 0, vhk_blk_ops.max_iov(blk), &hh,
			  &host, "fuzz blk") == 0);
	check(vhk_blk_ops.set_features(blk, acked) == 0);
	check(vhk_blk_ops.queue_start(blk, &dev_q) == 0);
	check(host.fd >= 0);

	/* Place the requests. */
	while (nreq < MAX_REQS && in.n) {
		struct req *r = &reqs[nreq++];
		struct vhk_blk_req_hdr h;
		size_t hoff, boff, blen;
		uint8_t nb, blob[255];
		bool indirect;
		int ret;

		h.type = vhk_le32_make(pick_type(&in));
		h.reserved = vhk_le32_make(0);
		h.sector = vhk_le64_make(pick_sector(&in));
		hoff = (size_t)take(&in, 2) % (BUF_SIZE - 16);
		nb = (uint8_t)take(&in, 1);
		indirect = (nb & 0x80) && (cfg & 16);
		r->nseg = 1u + (nb & 0x7f) % MAX_SEGS;
		for (unsigned int s = 0; s < r->nseg; s++) {
			size_t off = (size_t)take(&in, 2) % BUF_SIZE;
			uint16_t l = (uint16_t)take(&in, 2);

			r->seg[s].addr = vhk_mockmem_buf_addr(&m, off);
			r->seg[s].len = l & 0x3fff;
			r->seg[s].write = l & 0x8000;
			if (r->seg[s].write)
				r->wbytes += r->seg[s].len;
		}
		boff = (size_t)take(&in, 2) % BUF_SIZE;
		blen = (size_t)take(&in, 1);
		for (size_t i = 0; i < blen; i++)
			blob[i] = (uint8_t)take(&in, 1);
		if (boff + blen > BUF_SIZE)
			blen = BUF_SIZE - boff;
		vhk_mockmem_write(&m, boff, blob, blen);
		vhk_mockmem_write(&m, hoff, &h, sizeof(h));

		r->status_off = SIZE_MAX;
		{
			const struct vhk_drv_seg *g = &r->seg[r->nseg - 1];
			uint64_t last = g->addr + g->len - 1;

			if (g->write && g->len &&
			    last >= vhk_mockmem_buf_addr(&m, 0) &&
			    last < vhk_mockmem_buf_addr(&m, 0) + BUF_SIZE)
				r->status_off = (size_t)(last -
					vhk_mockmem_buf_addr(&m, 0));
		}
		if (indirect)
			ret = vhk_drv_vq_add_indirect(dq, r->seg, r->nseg,
				(void *)(uintptr_t)nreq,
				vhk_mockmem_buf_host_contig(&m,
					TABLES + 128 * (nreq - 1)),
				vhk_mockmem_buf_addr(&m,
					TABLES + 128 * (nreq - 1)));
		else
			ret = vhk_drv_vq_add(dq, r->seg, r->nseg,
					     (void *)(uintptr_t)nreq);
		r->placed = ret == 0;
		placed += r->placed;
	}
	/*
	 * Status bytes start out as a value no status has - unless one lies
	 * in the indirect-table area: filling it would rewrite a descriptor
	 * the device is about to read (the device then, correctly, follows
	 * the rewritten one), so such a status byte is neither filled nor
	 * checked.
	 */
	for (unsigned int i = 0; i < nreq; i++)
		if (reqs[i].status_off != SIZE_MAX &&
		    reqs[i].status_off >= TABLES &&
		    reqs[i].status_off < TABLES + 128 * MAX_REQS)
			reqs[i].status_off = SIZE_MAX;
	for (unsigned int i = 0; i < nreq; i++)
		if (reqs[i].placed && reqs[i].status_off != SIZE_MAX)
			vhk_mockmem_fill(&m, reqs[i].status_off, NO_STATUS, 1);

	/* Kick and run completions as the server's loop would. */
	vhk_drv_vq_publish(dq);
	res = vhk_dq_process(&dev_q, &vhk_blk_ops, blk);
	/* Parked: an IOTLB miss (a segment outside the mapped buffer area)
	 * waits for an UPDATE that never comes; the rest stays in flight
	 * until queue_stop() below. */
	for (unsigned int rounds = 0, kl = 0;
	     done < placed && !host.broken && res != VHK_KICK_PARKED;
	     rounds++) {
		struct pollfd pfd = { .fd = host.fd, .events = POLLIN };
		void *token;
		uint32_t len;
		int ret = vhk_drv_vq_get_used(dq, &token, &len);

		check(ret >= 0);
		if (ret == 1) {
			uintptr_t t = (uintptr_t)token;

			check(t >= 1 && t <= nreq && !reqs[t - 1].done);
			reqs[t - 1].done = true;
			reqs[t - 1].used = len;
			check(len <= reqs[t - 1].wbytes);
			done++;
			continue;
		}
		check(rounds < 1000);
		if (host.kick_laters != kl || res == VHK_KICK_AGAIN) {
			kl = host.kick_laters;
			res = vhk_dq_process(&dev_q, &vhk_blk_ops, blk);
			continue;
		}
		/* Nothing to do but wait: a request that never completes
		 * is a hang.  The bound is generous: a fuzzer at nice 19 on
		 * a busy machine can wait seconds for io_uring's worker. */
		check(poll(&pfd, 1, 60000) == 1);
		host.fn(host.arg, host.fd, POLLIN);
	}

	/* Status bytes the device wrote are valid ones (VIRTIO 1.2,
	 * 5.2.6: OK, IOERR or UNSUPP). */
	for (unsigned int i = 0; i < nreq; i++) {
		struct req *r = &reqs[i];
		uint8_t s;

		if (!r->done || r->status_off == SIZE_MAX ||
		    overlapped(reqs, nreq, &m, r->status_off, r))
			continue;
		vhk_mockmem_read(&m, r->status_off, &s, 1);
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "req %u: used %u of %u, status %u\n",
				i, r->used, r->wbytes, s);
		check(s == NO_STATUS || s == VHK_BLK_S_OK ||
		      s == VHK_BLK_S_IOERR || s == VHK_BLK_S_UNSUPP);
		/* A used length that covers the status byte means the
		 * device wrote it. */
		if (r->used == r->wbytes && r->used)
			check(s != NO_STATUS);
	}

	vhk_blk_ops.queue_stop(blk, &dev_q);
	vhk_dq_fini(&dev_q);
	check(host.fd == -1);
	vhk_blk_ops.reset(blk);
	vhk_blk_close(blk);
	check(vhk_mockmem_canaries_intact(&m));
	check(fstat(fd, &st) == 0 && st.st_size <= DISK_BYTES);
	close(fd);
	vhk_vq_free(vq);
	vhk_drv_vq_free(dq);
	vhk_mockmem_fini(&m);
	/* The device closed its io_uring, eventfd and disk fds. */
	check(fd_count() == fds_before);
	return 0;
}
