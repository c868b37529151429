// SPDX-License-Identifier: MIT
/*
 * cli_bench.c - `vhostkit blk bench`: an fio-style benchmark of one or two
 * vhost-user blk back-ends with the userspace driver; with two, both run
 * in the same invocation, alternating slices with the same parameters,
 * and the ratios are printed.  With the back-ends' PIDs, their CPU time
 * (utime + stime from /proc/PID/stat) per I/O is measured too.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/frontend.h"
#include "cli.h"

static const char bench_help[] =
"NAME\n"
"    vhostkit blk bench - benchmark one or two vhost-user blk back-ends\n"
"\n"
"SYNOPSIS\n"
"    vhostkit blk bench SOCKET [SOCKET2] [--rw MODE] [--bs N]\n"
"                       [--iodepth N] [--runtime S] [--rounds N]\n"
"                       [--size N] [--queues N] [--packed] [--poll]\n"
"                       [--dma direct|iommu-strict|iommu-lazy|bounce]\n"
"                       [--dma-b MODE] [--queues-b N]\n"
"                       [--pid-a PID --pid-b PID]\n"
"                       [--no-stop]\n"
"\n"
"DESCRIPTION\n"
"    Keeps IODEPTH requests of BS bytes in flight on each queue for\n"
"    RUNTIME seconds and prints IOPS, MB/s (10^6 bytes) and completion\n"
"    latency percentiles (p50, p99, p99.9; submit to reap, microseconds).\n"
"\n"
"    With two sockets, back-end A (SOCKET) and B (SOCKET2) are both\n"
"    connected, and measured in ROUNDS alternating slices of\n"
"    RUNTIME/ROUNDS seconds each (A B A B ...), so that both see the same\n"
"    machine state; then the ratios A/B are printed.  --pid-a/--pid-b give\n"
"    the back-end processes: their CPU time during their own slices\n"
"    (all threads, /proc/PID/task/*/schedstat, else /proc/PID/stat) is\n"
"    printed per I/O, with its ratio.  With both PIDs, the back-end not\n"
"    being measured is stopped (SIGSTOP) during the other's slice and\n"
"    continued (SIGCONT) after it, so that a polling back-end does not\n"
"    take the CPU from the one being measured (--no-stop: both run).\n"
"    Each back-end gets one second of warm-up first (not counted).\n"
"\n"
"    The last lines are machine-readable:\n"
"      RESULT side=A iops=... mbps=... p50_us=... p99_us=... p999_us=...\n"
"             cpu_us_per_io=...\n"
"      RATIO iops=... mbps=... p99=... cpu_per_io=...\n"
"\n"
"    Write modes overwrite the device's data.\n"
"\n"
"OPTIONS\n"
"    -r, --rw MODE       randread (default), randwrite, read, write.\n"
"    -b, --bs N          request size (default 4k).\n"
"    -i, --iodepth N     requests in flight per queue (default 32).\n"
"    -t, --runtime S     measured seconds per back-end (default 10).\n"
"    -R, --rounds N      alternating slices with two back-ends (default\n"
"                        4).\n"
"    -s, --size N        span of the device to address (default: all).\n"
"    -q, --queues N      queues (default 1).\n"
"    -d, --dma MODE      as in 'vhostkit blk io' (default direct).\n"
"        --dma-b MODE    DMA mode for back-end B (default: as --dma),\n"
"                        to compare modes: both sockets may be two\n"
"                        daemons serving the same disk.\n"
"    -P, --packed        packed ring layout.\n"
"        --poll          busy-poll completions (default: call eventfd).\n"
"        --queues-b N    queues for back-end B (default: as --queues),\n"
"                        to compare 2 queues with 1 in one run.\n"
"        --pid-a PID     process of back-end A (CPU per I/O).\n"
"        --pid-b PID     process of back-end B.\n"
"        --no-stop       do not SIGSTOP the idle back-end.\n"
"    -h, --help          this text.\n"
"\n"
"EXIT STATUS\n"
"    0 success; 1 an I/O failed; 2 bad command line; 3 connection or\n"
"    negotiation failure.\n"
"\n"
"EXAMPLES\n"
"    vhostkit blk bench /tmp/vhk.sock /tmp/qsd.sock --rw randread \\\n"
"        --bs 4k --iodepth 32 --runtime 10 --pid-a 1234 --pid-b 5678\n"
"    vhostkit blk bench /tmp/vhk.sock --dma iommu-lazy --runtime 5\n";

enum rw_mode { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE };

struct side {
	const char *name;		/* "A" / "B" */
	struct cli_blk b;
	long pid;			/* 0: unknown */
	uint16_t nq;
	unsigned int depth;
	uint64_t span_blocks;		/* addressable bs-blocks */
	uint64_t seq_next;
	uint64_t rng;
	struct vhk_blk_req *reqs;
	uint8_t **bufs;
	/* measured */
	uint64_t ios, bytes, ns, cpu_ns;
	uint64_t *lat;			/* ns per completion */
	size_t nlat, cap_lat;
	bool cpu_ok;
};

struct bench {
	enum rw_mode rw;
	uint32_t bs;
	unsigned int depth;
	double runtime;
	unsigned int rounds;
	uint64_t size;
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * CPU time of a process in nanoseconds: the sum over its threads of
 * /proc/PID/task/TID/schedstat's first field (time on CPU, ns), which is
 * finer than the 10 ms ticks of /proc/PID/stat; that is the fallback
 * (utime + stime, proc(5) fields 14 and 15).
 */
static int read_cpu_ns(long pid, uint64_t *ns)
{
	char path[96], buf[1024], *p;
	unsigned long long ut, st, v;
	struct dirent *de;
	uint64_t sum = 0;
	bool any = false;
	FILE *f;
	DIR *dir;
	size_t n;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	if (dir) {
		while ((de = readdir(dir))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/"
				 "schedstat", pid, de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;	/* thread just exited */
			if (fscanf(f, "%llu", &v) == 1) {
				sum += v;
				any = true;
			}
			fclose(f);
		}
		closedir(dir);
		if (any) {
			*ns = sum;
			return 0;
		}
	}

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* comm (field 2) may hold spaces: skip to its closing paren. */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	for (field = 2; field < 13 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	*ns = (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
	return 0;
}

static bool is_write(const struct bench *bn)
{
	return bn->rw == RW_RANDWRITE || bn->rw == RW_WRITE;
}

static void prep(struct bench *bn, struct side *s, struct vhk_blk_req *req)
{
	uint64_t blk;

	if (bn->rw == RW_RANDREAD || bn->rw == RW_RANDWRITE) {
		blk = xorshift(&s->rng) % s->span_blocks;
	} else {
		blk = s->seq_next++;
		if (s->seq_next >= s->span_blocks)
			s->seq_next = 0;
	}
	req->op = is_write(bn) ? VHK_BLK_OP_WRITE : VHK_BLK_OP_READ;
	req->sector = blk * (bn->bs / 512);
	req->len = bn->bs;
}

/*
 * Run @s for @secs seconds; with @count, add to its figures.  Ends with
 * every request reaped (the drain is not timed).
 */
static int run_slice(struct bench *bn, struct side *s, double secs,
		     bool count)
{
	struct vhk_blk_req *done[256];
	uint64_t start, end = 0, t0 = 0, t1 = 0, deadline;
	unsigned int i, inflight = 0;
	bool stop = false;
	int ret = 0, n, k;
	uint16_t q;

	if (count && s->pid && read_cpu_ns(s->pid, &t0) < 0)
		s->cpu_ok = false;
	start = vhk_now_ns();
	deadline = start + (uint64_t)(secs * 1e9);
	for (i = 0; i < s->nq * s->depth; i++) {
		q = (uint16_t)(i / s->depth);
		prep(bn, s, &s->reqs[i]);
		ret = vhk_blk_drv_submit(s->b.drv, q, &s->reqs[i]);
		if (ret < 0)
			goto fail;
		inflight++;
	}
	for (q = 0; q < s->nq; q++)
		vhk_blk_drv_kick(s->b.drv, q);

	while (inflight) {
		bool got = false;

		if (!stop && vhk_now_ns() >= deadline) {
			stop = true;
			end = vhk_now_ns();
			if (count && s->pid && s->cpu_ok &&
			    read_cpu_ns(s->pid, &t1) < 0)
				s->cpu_ok = false;
		}
		for (q = 0; q < s->nq; q++) {
			n = vhk_blk_drv_reap(s->b.drv, q, done,
					     VHK_ARRAY_SIZE(done));
			if (n < 0) {
				ret = n;
				goto fail;
			}
			for (k = 0; k < n; k++) {
				struct vhk_blk_req *req = done[k];

				got = true;
				inflight--;
				if (req->result) {
					ret = req->result;
					goto fail;
				}
				if (count && !stop) {
					s->ios++;
					s->bytes += req->len;
					if (s->nlat < s->cap_lat)
						s->lat[s->nlat++] =
							req->complete_ns -
							req->submit_ns;
				}
				if (stop)
					continue;
				prep(bn, s, req);
				ret = vhk_blk_drv_submit(s->b.drv, q, req);
				if (ret < 0)
					goto fail;
				inflight++;
			}
			vhk_blk_drv_kick(s->b.drv, q);
		}
		if (got)
			continue;
		ret = vhk_blk_drv_wait_any(s->b.drv, 10000);
		if (ret <= 0) {
			ret = ret ? ret : -ETIMEDOUT;
			goto fail;
		}
	}
	if (count) {
		s->ns += end - start;
		if (s->pid && s->cpu_ok)
			s->cpu_ns += t1 - t0;
	}
	return 0;
fail:
	fprintf(stderr, "vhostkit blk bench: %s (%s): %s\n", s->name,
		s->b.drv ? "I/O" : "setup", strerror(-ret));
	return ret;
}

/*
 * Run a slice of @s with the other back-end @other stopped (SIGSTOP) when
 * @stop, continued (SIGCONT) after it whatever happened.
 */
static int run_alone(struct bench *bn, struct side *s,
		     const struct side *other, bool stop, double secs,
		     bool count)
{
	bool stopped = false;
	int ret;

	if (stop && other && other->pid)
		stopped = kill((pid_t)other->pid, SIGSTOP) == 0;
	ret = run_slice(bn, s, secs, count);
	if (stopped)
		kill((pid_t)other->pid, SIGCONT);
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct side *s, double p)
{
	size_t i;

	if (!s->nlat)
		return 0;
	i = (size_t)(p / 100.0 * (double)(s->nlat - 1) + 0.5);
	return s->lat[i] / 1000.0;
}

struct figures {
	double iops, mbps, p50, p99, p999, cpu_us;
	bool cpu;
};

static void report(const struct side *s, struct figures *f)
{
	double secs = s->ns / 1e9;

	qsort(s->lat, s->nlat, sizeof(*s->lat), cmp_u64);
	f->iops = secs > 0 ? s->ios / secs : 0;
	f->mbps = secs > 0 ? s->bytes / secs / 1e6 : 0;
	f->p50 = pct(s, 50);
	f->p99 = pct(s, 99);
	f->p999 = pct(s, 99.9);
	f->cpu = s->pid && s->cpu_ok && s->ios;
	f->cpu_us = f->cpu ? s->cpu_ns / 1e3 / s->ios : 0;
	printf("  %-4s %10.0f %9.1f %9.1f %9.1f %9.1f", s->name, f->iops,
	       f->mbps, f->p50, f->p99, f->p999);
	if (f->cpu)
		printf(" %10.2f\n", f->cpu_us);
	else
		printf(" %10s\n", s->pid ? "n/a" : "-");
}

static int side_setup(struct bench *bn, struct side *s,
		      const struct cli_blk_opts *o)
{
	const struct vhk_blk_info *bi;
	unsigned int i;
	int ret;

	ret = cli_blk_open(&s->b, o, "blk bench");
	if (ret)
		return ret;
	bi = vhk_blk_drv_info(s->b.drv);
	if (is_write(bn) && bi->ro) {
		fprintf(stderr, "vhostkit blk bench: %s is read-only\n",
			o->socket);
		return CLI_EXIT_FAIL;
	}
	s->nq = vhk_blk_drv_num_queues(s->b.drv);
	s->depth = VHK_MIN(bn->depth, vhk_blk_drv_queue_depth(s->b.drv));
	if (s->depth < bn->depth)
		fprintf(stderr, "vhostkit blk bench: %s: iodepth capped at "
			"%u by the ring size\n", s->name, s->depth);
	s->span_blocks = VHK_MIN(bi->capacity * 512,
				 bn->size ? bn->size : UINT64_MAX) / bn->bs;
	if (!s->span_blocks) {
		fprintf(stderr, "vhostkit blk bench: %s smaller than --bs\n",
			o->socket);
		return CLI_EXIT_FAIL;
	}
	s->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)s;
	s->reqs = calloc((size_t)s->nq * s->depth, sizeof(*s->reqs));
	s->bufs = calloc((size_t)s->nq * s->depth, sizeof(*s->bufs));
	if (!s->reqs || !s->bufs)
		return CLI_EXIT_FAIL;
	for (i = 0; i < s->nq * s->depth; i++) {
		s->bufs[i] = vhk_fe_alloc(s->b.fe, bn->bs);
		if (!s->bufs[i]) {
			fprintf(stderr, "vhostkit blk bench: out of DMA "
				"memory\n");
			return CLI_EXIT_FAIL;
		}
		memset(s->bufs[i], (int)i, bn->bs);
		s->reqs[i].buf = s->bufs[i];
	}
	/* Room for every completion at 1M IOPS over the runtime. */
	s->cap_lat = (size_t)(bn->runtime * 1e6) + 1024;
	s->lat = malloc(s->cap_lat * sizeof(*s->lat));
	if (!s->lat)
		return CLI_EXIT_FAIL;
	s->cpu_ok = true;
	printf("  %s %s: ", s->name, o->socket);
	cli_blk_describe(&s->b, stdout);
	return 0;
}

static void side_free(struct side *s)
{
	unsigned int i;

	if (s->bufs && s->b.fe)
		for (i = 0; i < s->nq * s->depth; i++)
			vhk_fe_free(s->b.fe, s->bufs[i]);
	free(s->bufs);
	free(s->reqs);
	free(s->lat);
	if (s->b.fe)
		cli_blk_close(&s->b);
}

static const char *const rw_names[] = { "randread", "randwrite", "read",
					"write" };

int cli_blk_bench_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },
		{ "bs", required_argument, NULL, 'b' },
		{ "iodepth", required_argument, NULL, 'i' },
		{ "runtime", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "size", required_argument, NULL, 's' },
		{ "queues", required_argument, NULL, 'q' },
		{ "dma", required_argument, NULL, 'd' },
		{ "packed", no_argument, NULL, 'P' },
		{ "poll", no_argument, NULL, 'L' },
		{ "dma-b", required_argument, NULL, 'D' },
		{ "pid-a", required_argument, NULL, 'A' },
		{ "pid-b", required_argument, NULL, 'B' },
		{ "no-stop", no_argument, NULL, 'N' },
		{ "queues-b", required_argument, NULL, 'Q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench bn = { .rw = RW_RANDREAD, .bs = 4096, .depth = 32,
			    .runtime = 10, .rounds = 4 };
	struct cli_blk_opts o = { .dma = CLI_DMA_DIRECT, .queues = 1 };
	struct side sides[2] = { { .name = "A" }, { .name = "B" } };
	struct figures f[2];
	enum cli_dma dma_b = CLI_DMA_DIRECT;
	bool have_dma_b = false, stop_other = true;
	uint16_t queues_b = 0;
	unsigned int nsides, i, r;
	uint64_t v;
	char *end;
	int c, ret, rc = CLI_EXIT_FAIL;

	optind = 0;
	while ((c = getopt_long(argc, argv, "r:b:i:t:R:s:q:d:Ph", opts,
				NULL)) != -1) {
		switch (c) {
		case 'r':
			for (i = 0; i < VHK_ARRAY_SIZE(rw_names); i++)
				if (!strcmp(optarg, rw_names[i]))
					break;
			if (i == VHK_ARRAY_SIZE(rw_names))
				return cli_usage_error("blk bench",
						       "unknown --rw '%s'",
						       optarg);
			bn.rw = (enum rw_mode)i;
			break;
		case 'b':
			if (cli_parse_size(optarg, &v) || !v || v % 512 ||
			    v > (16u << 20))
				return cli_usage_error("blk bench",
					"--bs: a multiple of 512 up to 16M");
			bn.bs = (uint32_t)v;
			break;
		case 'i':
			if (cli_parse_u64(optarg, &v) || !v || v > 1024)
				return cli_usage_error("blk bench",
						       "--iodepth: 1 to 1024");
			bn.depth = (unsigned int)v;
			break;
		case 't':
			bn.runtime = strtod(optarg, &end);
			if (*end || !(bn.runtime > 0) || bn.runtime > 3600)
				return cli_usage_error("blk bench",
					"--runtime: seconds, up to 3600");
			break;
		case 'R':
			if (cli_parse_u64(optarg, &v) || !v || v > 100)
				return cli_usage_error("blk bench",
						       "--rounds: 1 to 100");
			bn.rounds = (unsigned int)v;
			break;
		case 's':
			if (cli_parse_size(optarg, &bn.size) || !bn.size)
				return cli_usage_error("blk bench",
						       "bad --size");
			break;
		case 'q':
			if (cli_parse_u64(optarg, &v) || !v || v > 64)
				return cli_usage_error("blk bench",
						       "--queues: 1 to 64");
			o.queues = (uint16_t)v;
			break;
		case 'd':
			if (cli_parse_dma(optarg, &o.dma))
				return cli_usage_error("blk bench",
						       "unknown --dma '%s'",
						       optarg);
			break;
		case 'D':
			if (cli_parse_dma(optarg, &dma_b))
				return cli_usage_error("blk bench",
						       "unknown --dma-b '%s'",
						       optarg);
			have_dma_b = true;
			break;
		case 'P':
			o.packed = true;
			break;
		case 'L':
			o.poll = true;
			break;
		case 'A':
		case 'B':
			if (cli_parse_u64(optarg, &v) || !v || v > 0x7fffffff)
				return cli_usage_error("blk bench",
						       "bad PID '%s'", optarg);
			sides[c == 'B'].pid = (long)v;
			break;
		case 'N':
			stop_other = false;
			break;
		case 'Q':
			if (cli_parse_u64(optarg, &v) || !v || v > 64)
				return cli_usage_error("blk bench",
						       "--queues-b: 1 to 64");
			queues_b = (uint16_t)v;
			break;
		case 'h':
			fputs(bench_help, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("blk bench", "bad option");
		}
	}
	nsides = (unsigned int)(argc - optind);
	if (nsides < 1 || nsides > 2)
		return cli_usage_error("blk bench",
				       "expected SOCKET [SOCKET2]");
	if (nsides == 1 && sides[1].pid)
		return cli_usage_error("blk bench",
				       "--pid-b needs a second SOCKET");
	if (nsides == 1)
		bn.rounds = 1;
	o.depth = bn.depth;
	o.buf_bytes = (uint64_t)o.queues * bn.depth * bn.bs;

	printf("vhostkit blk bench: %s bs=%u iodepth=%u queues=%u "
	       "runtime=%gs%s, %u round(s)\n", rw_names[bn.rw], bn.bs,
	       bn.depth, o.queues, bn.runtime,
	       nsides == 2 ? " per back-end" : "", bn.rounds);
	if (queues_b && nsides == 1)
		return cli_usage_error("blk bench",
				       "--queues-b needs a second SOCKET");
	if (have_dma_b && nsides == 1)
		return cli_usage_error("blk bench",
				       "--dma-b needs a second SOCKET");
	for (i = 0; i < nsides; i++) {
		o.socket = argv[optind + i];
		if (i == 1 && have_dma_b)
			o.dma = dma_b;
		if (i == 1 && queues_b) {
			o.queues = queues_b;
			o.buf_bytes = (uint64_t)o.queues * bn.depth * bn.bs;
		}
		ret = side_setup(&bn, &sides[i], &o);
		if (ret) {
			rc = ret;
			goto out;
		}
	}
	stop_other = stop_other && nsides == 2 && sides[0].pid &&
		     sides[1].pid;
	if (stop_other)
		printf("  the back-end not measured is stopped (SIGSTOP) "
		       "during the other's slices\n");
	fflush(stdout);
	/* Warm-up: caches, page tables, the back-ends' first requests. */
	for (i = 0; i < nsides; i++)
		if (run_alone(&bn, &sides[i], nsides == 2 ? &sides[!i] : NULL,
			      stop_other, VHK_MIN(1.0, bn.runtime), false))
			goto out;
	for (r = 0; r < bn.rounds; r++)
		for (i = 0; i < nsides; i++)
			if (run_alone(&bn, &sides[i],
				      nsides == 2 ? &sides[!i] : NULL,
				      stop_other, bn.runtime / bn.rounds,
				      true))
				goto out;

	printf("\n  %-4s %10s %9s %9s %9s %9s %10s\n", "", "IOPS", "MB/s",
	       "p50 us", "p99 us", "p99.9 us", "CPU us/IO");
	for (i = 0; i < nsides; i++)
		report(&sides[i], &f[i]);
	if (nsides == 2 && f[1].iops > 0) {
		printf("\n  A/B: IOPS %.2fx, MB/s %.2fx, p50 %.2fx, p99 %.2fx",
		       f[0].iops / f[1].iops, f[0].mbps / f[1].mbps,
		       f[1].p50 > 0 ? f[0].p50 / f[1].p50 : 0,
		       f[1].p99 > 0 ? f[0].p99 / f[1].p99 : 0);
		if (f[0].cpu && f[1].cpu && f[1].cpu_us > 0)
			printf(", back-end CPU per I/O %.2fx",
			       f[0].cpu_us / f[1].cpu_us);
		printf("\n");
	}
	printf("\n");
	for (i = 0; i < nsides; i++) {
		printf("RESULT side=%s iops=%.0f mbps=%.1f p50_us=%.1f "
		       "p99_us=%.1f p999_us=%.1f", sides[i].name, f[i].iops,
		       f[i].mbps, f[i].p50, f[i].p99, f[i].p999);
		if (f[i].cpu)
			printf(" cpu_us_per_io=%.3f", f[i].cpu_us);
		printf("\n");
	}
	if (nsides == 2 && f[1].iops > 0) {
		printf("RATIO iops=%.3f mbps=%.3f p99=%.3f", f[0].iops /
		       f[1].iops, f[0].mbps / f[1].mbps,
		       f[1].p99 > 0 ? f[0].p99 / f[1].p99 : 0);
		if (f[0].cpu && f[1].cpu && f[1].cpu_us > 0)
			printf(" cpu_per_io=%.3f", f[0].cpu_us / f[1].cpu_us);
		printf("\n");
	}
	rc = CLI_EXIT_OK;
out:
	for (i = 0; i < 2; i++)
		side_free(&sides[i]);
	return rc;
}
