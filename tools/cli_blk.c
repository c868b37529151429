// SPDX-License-Identifier: MIT
/*
 * cli_blk.c - `vhostkit blk ...`: dispatch, driver setup shared by the blk
 * subcommands, and `vhostkit blk io` (verified I/O: pattern write, read
 * back, compare).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/frontend.h"
#include "cli.h"

static const char blk_help[] =
"NAME\n"
"    vhostkit blk - drive a vhost-user blk back-end from user space\n"
"\n"
"SYNOPSIS\n"
"    vhostkit blk io SOCKET [OPTIONS]\n"
"    vhostkit blk bench SOCKET [SOCKET2] [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    Both commands connect to the back-end as a VMM would, share memory\n"
"    with it and run vhostkit's userspace virtio-blk driver on its\n"
"    queues.\n"
"\n"
"    io      verified I/O: pattern write, read back, compare; also\n"
"            FLUSH, GET_ID, WRITE_ZEROES and DISCARD when offered.\n"
"    bench   IOPS, MB/s, latency percentiles; two back-ends compared in\n"
"            one run, with their CPU time per I/O.\n"
"\n"
"    See 'vhostkit blk io --help' and 'vhostkit blk bench --help'.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 I/O error, mismatch or spec violation; 2 bad command\n"
"    line; 3 connection or negotiation failure.\n";

static const char io_help[] =
"NAME\n"
"    vhostkit blk io - verified I/O against a vhost-user blk back-end\n"
"\n"
"SYNOPSIS\n"
"    vhostkit blk io SOCKET [--size N] [--bs N] [--offset N]\n"
"                    [--dma direct|iommu-strict|iommu-lazy|bounce]\n"
"                    [--packed] [--queues N] [--iodepth N] [--poll]\n"
"                    [--seed N] [--no-extra]\n"
"\n"
"DESCRIPTION\n"
"    Writes a pattern over SIZE bytes of the device starting at OFFSET\n"
"    (every 8-byte word depends on the seed and its byte offset, so a\n"
"    block written to the wrong place or a stale block is caught), FLUSHes\n"
"    when the device offers it, reads everything back and compares.\n"
"    Requests are spread over the queues and pipelined IODEPTH deep on\n"
"    each.  Unless --no-extra, it also asks for the device id (GET_ID)\n"
"    and, when offered, checks WRITE_ZEROES and DISCARD on the first\n"
"    block (write-zeroes must read back as zeroes), then rewrites it.\n"
"    THE DEVICE'S DATA IN THAT RANGE IS OVERWRITTEN.\n"
"\n"
"    Every status byte and used length the device returns is checked\n"
"    (VIRTIO 1.2 5.2.6, 2.7.8); a violation is an error.  A progress line\n"
"    goes to stderr once a second on runs longer than that.\n"
"\n"
"OPTIONS\n"
"    -s, --size N      bytes to verify (default 16M; k/M/G suffixes),\n"
"                      capped at the device capacity.\n"
"    -b, --bs N        request size (default 64k), a multiple of 512.\n"
"    -o, --offset N    first byte (default 0), a multiple of 512.\n"
"    -d, --dma MODE    how buffers reach the device (default direct):\n"
"                      direct, iommu-strict, iommu-lazy (the back-end\n"
"                      must offer ACCESS_PLATFORM, BACKEND_REQ, REPLY_ACK)\n"
"                      or bounce (restricted DMA through a small pool).\n"
"    -P, --packed      use the packed ring layout (if offered).\n"
"    -q, --queues N    queues to use (default 1).\n"
"    -i, --iodepth N   requests in flight per queue (default 8).\n"
"        --poll        busy-poll for completions instead of sleeping on\n"
"                      the call eventfd.\n"
"        --seed N      pattern seed (default: from the clock; printed).\n"
"        --no-extra    only the write / read / compare passes.\n"
"    -h, --help        this text.\n"
"\n"
"EXIT STATUS\n"
"    0 all data verified; 1 mismatch, device error or spec violation;\n"
"    2 bad command line; 3 connection or negotiation failure (including a\n"
"    DMA mode the back-end cannot run).\n"
"\n"
"EXAMPLES\n"
"    vhostkit blk io /tmp/blk.sock --size 256M --queues 4 --packed\n"
"    vhostkit blk io /tmp/blk.sock --dma iommu-strict --bs 4k\n";

/* ---- setup shared by io and bench -------------------------------------- */

int cli_blk_open(struct cli_blk *b, const struct cli_blk_opts *o,
		 const char *cmd)
{
	struct vhk_blk_drv_params dp = { 0 };
	struct vhk_fe_config cfg;
	enum vhk_dma_mode want, got;
	uint16_t nq = o->queues ? o->queues : 1;
	uint64_t mem;
	int ret;

	b->fe = NULL;
	b->drv = NULL;
	vhk_fe_config_init(&cfg, o->socket);
	cfg.name = "vhostkit";
	cfg.driver_features = vhk_blk_drv_features(o->packed);
	cfg.packed = o->packed;
	cfg.num_queues = nq;
	cfg.queue_size = o->queue_size ? o->queue_size : 256;
	want = cli_dma_config(&cfg, o->dma);
	/* Data buffers, per-request slots and rings, with headroom. */
	mem = o->buf_bytes + ((uint64_t)nq << 20) + (8u << 20);
	mem = (mem + (2u << 20) - 1) & ~((uint64_t)(2u << 20) - 1);
	cfg.mem_size = mem < (16u << 20) ? (16u << 20) : mem;
	/* Bounce: the pool carries what is in flight, plus the rings. */
	cfg.bounce_pool_size = o->buf_bytes + ((uint64_t)nq << 20) +
			       (2u << 20);

	ret = vhk_fe_connect(&b->fe, &cfg);
	if (ret < 0) {
		fprintf(stderr, "vhostkit %s: cannot connect to %s: %s\n",
			cmd, o->socket, strerror(-ret));
		return CLI_EXIT_CONNECT;
	}
	ret = vhk_fe_start(b->fe);
	if (ret < 0) {
		fprintf(stderr, "vhostkit %s: %s: device setup failed: %s\n",
			cmd, o->socket, strerror(-ret));
		goto fail;
	}
	got = vhk_fe_dma_mode(b->fe);
	if (got != want) {
		fprintf(stderr, "vhostkit %s: %s: asked for --dma %s but the "
			"negotiation gave %s%s\n", cmd, o->socket,
			cli_dma_name(o->dma), vhk_fe_dma_mode_name(got),
			want == VHK_DMA_IOMMU ?
			" (the back-end does not offer ACCESS_PLATFORM; see "
			"'vhostkit probe')" : "");
		goto fail;
	}
	if (o->packed && !vhk_has_feature(vhk_fe_driver_features(b->fe),
					  VHK_F_RING_PACKED)) {
		fprintf(stderr, "vhostkit %s: %s: --packed asked but the "
			"back-end does not offer RING_PACKED\n", cmd,
			o->socket);
		goto fail;
	}
	dp.queue_depth = o->depth;
	dp.use_call_fd = !o->poll;
	dp.num_queues = nq;
	ret = vhk_blk_drv_new(&b->drv, b->fe, &dp);
	if (ret < 0) {
		fprintf(stderr, "vhostkit %s: %s: blk driver: %s\n", cmd,
			o->socket, strerror(-ret));
		goto fail;
	}
	return CLI_EXIT_OK;
fail:
	vhk_fe_close(b->fe);
	b->fe = NULL;
	return CLI_EXIT_CONNECT;
}

void cli_blk_close(struct cli_blk *b)
{
	vhk_blk_drv_free(b->drv);
	vhk_fe_close(b->fe);
	b->drv = NULL;
	b->fe = NULL;
}

void cli_blk_describe(const struct cli_blk *b, FILE *out)
{
	const struct vhk_blk_info *bi = vhk_blk_drv_info(b->drv);
	char sz[32];

	fprintf(out, "%s, dma %s, %s ring, %u queue(s) x depth %u%s\n",
		cli_fmt_size(sz, sizeof(sz), bi->capacity * 512),
		vhk_fe_dma_mode_name(vhk_fe_dma_mode(b->fe)),
		vhk_has_feature(vhk_fe_driver_features(b->fe),
				VHK_F_RING_PACKED) ? "packed" : "split",
		vhk_blk_drv_num_queues(b->drv),
		vhk_blk_drv_queue_depth(b->drv),
		bi->ro ? ", read-only" : "");
}

/* ---- verified I/O ------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	/* splitmix64 finaliser: every input bit moves every output bit. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill_pattern(uint8_t *buf, uint32_t len, uint64_t seed,
			 uint64_t off)
{
	uint32_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t v = mix64(seed ^ (off + i));

		memcpy(buf + i, &v, 8);
	}
}

/* Returns the offset of the first bad byte within @buf, or -1. */
static int64_t check_pattern(const uint8_t *buf, uint32_t len, uint64_t seed,
			     uint64_t off)
{
	uint32_t i, j;

	for (i = 0; i < len; i += 8) {
		uint64_t v = mix64(seed ^ (off + i));

		if (memcmp(buf + i, &v, 8)) {
			for (j = 0; j < 8 && buf[i + j] == ((uint8_t *)&v)[j];
			     j++)
				;
			return i + j;
		}
	}
	return -1;
}

struct io_run {
	struct cli_blk *b;
	uint16_t nq;
	unsigned int depth;
	uint32_t bs;
	uint64_t offset, nblocks, seed;
	struct vhk_blk_req *reqs;	/* nq * depth */
	uint8_t **bufs;
	uint64_t *block_of;
	bool tty;
};

static void progress(struct io_run *r, const char *what, uint64_t done,
		     uint64_t start_ns, uint64_t *last_ns, bool final)
{
	uint64_t now = vhk_now_ns();
	double secs = (now - start_ns) / 1e9;

	if (!final && now - *last_ns < 1000000000ull)
		return;
	if (final && *last_ns == start_ns)
		return;	/* short run: no progress line was shown */
	*last_ns = now;
	fprintf(stderr, "%s  %-5s %5.1f%%  %8.1f MiB/s  %llu/%llu blocks%s",
		r->tty ? "\r" : "", what,
		100.0 * done / (r->nblocks ? r->nblocks : 1),
		secs > 0 ? done * (double)r->bs / secs / 1048576.0 : 0.0,
		(unsigned long long)done, (unsigned long long)r->nblocks,
		r->tty && !final ? "" : "\n");
	fflush(stderr);
}

/* Fill (write) or poison (read) slot @slot's buffer and submit @block. */
static int submit_block(struct io_run *r, unsigned int slot, uint16_t q,
			bool write, uint64_t block)
{
	struct vhk_blk_req *req = &r->reqs[slot];
	uint64_t off = r->offset + block * r->bs;
	int ret;

	memset(req, 0, sizeof(*req));
	req->priv = (void *)(uintptr_t)slot;
	req->op = write ? VHK_BLK_OP_WRITE : VHK_BLK_OP_READ;
	req->sector = off / 512;
	req->buf = r->bufs[slot];
	req->len = r->bs;
	if (write)
		fill_pattern(r->bufs[slot], r->bs, r->seed, off);
	else
		memset(r->bufs[slot], 0xa5, r->bs);
	r->block_of[slot] = block;
	ret = vhk_blk_drv_submit(r->b->drv, q, req);
	if (ret < 0)
		fprintf(stderr, "vhostkit blk io: submit %s at byte %llu: %s\n",
			write ? "write" : "read", (unsigned long long)off,
			strerror(-ret));
	return ret;
}

/* Check one completion; returns 0, -EIO or -EILSEQ (mismatch). */
static int check_done(struct io_run *r, struct vhk_blk_req *req, bool write)
{
	unsigned int slot = (unsigned int)(uintptr_t)req->priv;
	uint64_t off = r->offset + r->block_of[slot] * r->bs;
	int64_t bad;

	if (req->result) {
		fprintf(stderr, "vhostkit blk io: %s at byte %llu: %s "
			"(status %u, used len %u)\n", write ? "write" : "read",
			(unsigned long long)off, strerror(-req->result),
			req->status, req->used_len);
		return -EIO;
	}
	if (write)
		return 0;
	bad = check_pattern(req->buf, r->bs, r->seed, off);
	if (bad >= 0) {
		fprintf(stderr, "vhostkit blk io: MISMATCH at byte %llu "
			"(request at byte %llu, +%lld)\n",
			(unsigned long long)(off + bad),
			(unsigned long long)off, (long long)bad);
		return -EILSEQ;
	}
	return 0;
}

/* One pass over every block: write the pattern, or read and compare. */
static int io_pass(struct io_run *r, bool write, double *mibs)
{
	const char *what = write ? "write" : "read";
	struct vhk_blk_req **done;
	uint64_t next = 0, ndone = 0, start = vhk_now_ns(), last = start;
	unsigned int i;
	uint16_t q;
	int ret = 0, n, k;

	done = calloc(r->depth, sizeof(*done));
	if (!done)
		return -ENOMEM;
	/* Keep every slot of every queue busy until all blocks are sent. */
	for (i = 0; i < r->nq * r->depth && next < r->nblocks; i++) {
		ret = submit_block(r, i, (uint16_t)(i / r->depth), write,
				   next++);
		if (ret < 0)
			goto out;
	}
	for (q = 0; q < r->nq; q++) {
		ret = vhk_blk_drv_kick(r->b->drv, q);
		if (ret < 0)
			goto out;
	}

	while (ndone < r->nblocks) {
		bool got = false;

		for (q = 0; q < r->nq; q++) {
			n = vhk_blk_drv_reap(r->b->drv, q, done, r->depth);
			if (n < 0) {
				ret = n;
				fprintf(stderr, "vhostkit blk io: queue %u: "
					"%s\n", q, strerror(-n));
				goto out;
			}
			for (k = 0; k < n; k++) {
				got = true;
				ndone++;
				ret = check_done(r, done[k], write);
				if (ret < 0)
					goto out;
				if (next >= r->nblocks)
					continue;
				ret = submit_block(r, (unsigned int)
						   (uintptr_t)done[k]->priv,
						   q, write, next++);
				if (ret < 0)
					goto out;
			}
			ret = vhk_blk_drv_kick(r->b->drv, q);
			if (ret < 0)
				goto out;
		}
		progress(r, what, ndone, start, &last, false);
		if (got)
			continue;
		ret = vhk_blk_drv_wait_any(r->b->drv, 10000);
		if (ret == 0) {
			fprintf(stderr, "vhostkit blk io: no completion in "
				"10 s (%llu of %llu blocks done)\n",
				(unsigned long long)ndone,
				(unsigned long long)r->nblocks);
			ret = -ETIMEDOUT;
			goto out;
		}
		if (ret < 0) {
			fprintf(stderr, "vhostkit blk io: waiting: %s\n",
				strerror(-ret));
			goto out;
		}
		ret = 0;
	}
	progress(r, what, ndone, start, &last, true);
	*mibs = ndone * (double)r->bs / ((vhk_now_ns() - start) / 1e9) /
		1048576.0;
out:
	free(done);
	return ret;
}

/* Run one request synchronously on queue 0 (nothing else in flight). */
static int io_one(struct io_run *r, struct vhk_blk_req *req)
{
	return vhk_blk_drv_run(r->b->drv, 0, req, 10000);
}

/* GET_ID, FLUSH, WRITE_ZEROES and DISCARD checks on the first block. */
static int io_extra(struct io_run *r, bool flush_only)
{
	const struct vhk_blk_info *bi = vhk_blk_drv_info(r->b->drv);
	struct vhk_blk_req req;
	uint8_t *buf = r->bufs[0];
	uint32_t nsect = r->bs / 512;
	int ret;

	if (bi->flush) {
		memset(&req, 0, sizeof(req));
		req.op = VHK_BLK_OP_FLUSH;
		ret = io_one(r, &req);
		if (ret < 0) {
			fprintf(stderr, "vhostkit blk io: FLUSH: %s\n",
				strerror(-ret));
			return ret;
		}
		printf("  flush               ok\n");
	}
	if (flush_only)
		return 0;

	memset(&req, 0, sizeof(req));
	memset(buf, 0, VHK_BLK_ID_BYTES + 1);
	req.op = VHK_BLK_OP_GET_ID;
	req.buf = buf;
	req.len = VHK_BLK_ID_BYTES;
	ret = io_one(r, &req);
	if (ret == 0) {
		char id[VHK_BLK_ID_BYTES + 1];
		unsigned int i;

		/* Not necessarily NUL-terminated (VIRTIO 1.2, 5.2.6). */
		for (i = 0; i < VHK_BLK_ID_BYTES && buf[i]; i++)
			id[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
		id[i] = 0;
		if (i)
			printf("  device id           \"%s\"\n", id);
		else
			printf("  device id           (empty)\n");
	} else if (ret == -EOPNOTSUPP) {
		printf("  device id           (GET_ID unsupported)\n");
	} else {
		fprintf(stderr, "vhostkit blk io: GET_ID: %s\n",
			strerror(-ret));
		return ret;
	}

	if (bi->write_zeroes && !bi->ro &&
	    (!bi->max_write_zeroes_sectors ||
	     nsect <= bi->max_write_zeroes_sectors)) {
		memset(&req, 0, sizeof(req));
		req.op = VHK_BLK_OP_WRITE_ZEROES;
		req.sector = r->offset / 512;
		req.num_sectors = nsect;
		ret = io_one(r, &req);
		if (ret < 0) {
			fprintf(stderr, "vhostkit blk io: WRITE_ZEROES: %s\n",
				strerror(-ret));
			return ret;
		}
		memset(&req, 0, sizeof(req));
		memset(buf, 0xa5, r->bs);
		req.op = VHK_BLK_OP_READ;
		req.sector = r->offset / 512;
		req.buf = buf;
		req.len = r->bs;
		ret = io_one(r, &req);
		if (ret < 0)
			return ret;
		for (uint32_t i = 0; i < r->bs; i++) {
			if (buf[i]) {
				fprintf(stderr, "vhostkit blk io: MISMATCH: "
					"byte %llu not zero after "
					"WRITE_ZEROES\n",
					(unsigned long long)(r->offset + i));
				return -EILSEQ;
			}
		}
		printf("  write-zeroes        ok (%u sectors read back as "
		       "zeroes)\n", nsect);
	}
	if (bi->discard && !bi->ro &&
	    (!bi->max_discard_sectors || nsect <= bi->max_discard_sectors)) {
		memset(&req, 0, sizeof(req));
		req.op = VHK_BLK_OP_DISCARD;
		req.sector = r->offset / 512;
		req.num_sectors = nsect;
		ret = io_one(r, &req);
		if (ret < 0 && ret != -EOPNOTSUPP) {
			fprintf(stderr, "vhostkit blk io: DISCARD: %s\n",
				strerror(-ret));
			return ret;
		}
		/* Discarded data is undefined: nothing to read back. */
		printf("  discard             %s\n", ret ? "unsupported" : "ok");
	}
	/* Put the pattern back so that the range stays verifiable. */
	if ((bi->write_zeroes || bi->discard) && !bi->ro) {
		memset(&req, 0, sizeof(req));
		fill_pattern(buf, r->bs, r->seed, r->offset);
		req.op = VHK_BLK_OP_WRITE;
		req.sector = r->offset / 512;
		req.buf = buf;
		req.len = r->bs;
		ret = io_one(r, &req);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int blk_io_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "bs", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "dma", required_argument, NULL, 'd' },
		{ "packed", no_argument, NULL, 'P' },
		{ "queues", required_argument, NULL, 'q' },
		{ "iodepth", required_argument, NULL, 'i' },
		{ "poll", no_argument, NULL, 'L' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-extra", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_blk_opts o = { .dma = CLI_DMA_DIRECT, .queues = 1,
				  .depth = 8 };
	uint64_t size = 16u << 20, bs = 64u << 10, offset = 0, v;
	uint64_t seed = vhk_now_ns();
	bool extra = true;
	struct cli_blk b;
	struct io_run r = { 0 };
	double wr = 0, rd = 0;
	const struct vhk_blk_info *bi;
	unsigned int i;
	int c, ret, rc = CLI_EXIT_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "s:b:o:d:Pq:i:h", opts,
				NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_parse_size(optarg, &size) || !size)
				return cli_usage_error("blk io",
						       "bad --size '%s'",
						       optarg);
			break;
		case 'b':
			if (cli_parse_size(optarg, &bs) || !bs || bs % 512 ||
			    bs > (64u << 20))
				return cli_usage_error("blk io",
					"--bs must be a multiple of 512 up to "
					"64M");
			break;
		case 'o':
			if (cli_parse_size(optarg, &offset) || offset % 512)
				return cli_usage_error("blk io",
					"--offset must be a multiple of 512");
			break;
		case 'd':
			if (cli_parse_dma(optarg, &o.dma))
				return cli_usage_error("blk io",
						       "unknown --dma '%s'",
						       optarg);
			break;
		case 'P':
			o.packed = true;
			break;
		case 'q':
			if (cli_parse_u64(optarg, &v) || !v || v > 64)
				return cli_usage_error("blk io",
						       "--queues: 1 to 64");
			o.queues = (uint16_t)v;
			break;
		case 'i':
			if (cli_parse_u64(optarg, &v) || !v || v > 1024)
				return cli_usage_error("blk io",
						       "--iodepth: 1 to 1024");
			o.depth = (unsigned int)v;
			break;
		case 'L':
			o.poll = true;
			break;
		case 'S':
			if (cli_parse_u64(optarg, &seed))
				return cli_usage_error("blk io", "bad --seed");
			break;
		case 'X':
			extra = false;
			break;
		case 'h':
			fputs(io_help, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("blk io", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("blk io", "expected one SOCKET");
	o.socket = argv[optind];
	o.buf_bytes = (uint64_t)o.queues * o.depth * bs;
	if (o.buf_bytes > (1ull << 30))
		return cli_usage_error("blk io",
				       "queues x iodepth x bs above 1 GiB");

	ret = cli_blk_open(&b, &o, "blk io");
	if (ret)
		return ret;
	bi = vhk_blk_drv_info(b.drv);
	if (bi->ro) {
		fprintf(stderr, "vhostkit blk io: %s is read-only\n",
			o.socket);
		goto out;
	}
	if (offset >= bi->capacity * 512) {
		fprintf(stderr, "vhostkit blk io: --offset beyond the "
			"capacity (%llu bytes)\n",
			(unsigned long long)(bi->capacity * 512));
		goto out;
	}
	if (size > bi->capacity * 512 - offset)
		size = bi->capacity * 512 - offset;
	r.b = &b;
	r.nq = vhk_blk_drv_num_queues(b.drv);
	r.depth = VHK_MIN(o.depth, vhk_blk_drv_queue_depth(b.drv));
	r.bs = (uint32_t)bs;
	r.offset = offset;
	r.nblocks = size / bs;
	r.seed = seed;
	r.tty = isatty(STDERR_FILENO);
	if (!r.nblocks) {
		fprintf(stderr, "vhostkit blk io: --size below one --bs "
			"block\n");
		goto out;
	}
	r.reqs = calloc((size_t)r.nq * r.depth, sizeof(*r.reqs));
	r.bufs = calloc((size_t)r.nq * r.depth, sizeof(*r.bufs));
	r.block_of = calloc((size_t)r.nq * r.depth, sizeof(*r.block_of));
	if (!r.reqs || !r.bufs || !r.block_of)
		goto out;
	for (i = 0; i < r.nq * r.depth; i++) {
		r.bufs[i] = vhk_fe_alloc(b.fe, bs);
		if (!r.bufs[i]) {
			fprintf(stderr, "vhostkit blk io: out of DMA memory\n");
			goto out;
		}
	}

	printf("vhostkit blk io %s\n  ", o.socket);
	cli_blk_describe(&b, stdout);
	printf("  verifying %llu x %llu bytes from byte %llu, seed 0x%llx\n",
	       (unsigned long long)r.nblocks, (unsigned long long)bs,
	       (unsigned long long)offset, (unsigned long long)seed);
	fflush(stdout);

	ret = io_pass(&r, true, &wr);
	if (ret == 0)
		ret = io_extra(&r, !extra);
	if (ret == 0)
		ret = io_pass(&r, false, &rd);
	if (ret == 0) {
		printf("  OK: %llu bytes verified (write %.1f MiB/s, read "
		       "%.1f MiB/s)\n", (unsigned long long)(r.nblocks * bs),
		       wr, rd);
		rc = CLI_EXIT_OK;
	} else {
		printf("  FAILED: %s\n", ret == -EILSEQ ? "data mismatch" :
		       strerror(-ret));
	}
out:
	if (r.bufs)
		for (i = 0; i < r.nq * r.depth; i++)
			vhk_fe_free(b.fe, r.bufs[i]);
	free(r.reqs);
	free(r.bufs);
	free(r.block_of);
	cli_blk_close(&b);
	return rc;
}

int cli_blk_io_main(int argc, char **argv)
{
	return blk_io_main(argc, argv);
}

int cli_blk_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(blk_help, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		fputs(blk_help, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "io"))
		return cli_blk_io_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bench"))
		return cli_blk_bench_main(argc - 1, argv + 1);
	return cli_usage_error("blk", "unknown subcommand '%s'", argv[1]);
}
