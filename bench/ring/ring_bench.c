/* SPDX-License-Identifier: MIT */
/*
 * ring_bench.c - vhostkit-bench-ring: one process, the driver-side ring
 * adds chains into mock guest memory, the device-side ring pops and pushes
 * them, the driver collects.  Prints chains/second for split and packed
 * rings, 1 and 4 descriptors per chain, in gpa mode and in iotlb mode (the
 * device's per-queue IOTLB cache stays warm: every buffer lies in one
 * IOTLB entry), and the ratio iotlb/gpa (target >= 0.9).
 *
 * Each figure is the median of --runs short runs (default 7 x ~60 ms of
 * thread CPU time, so other load on the machine does not skew it; gpa and
 * iotlb runs alternate).
 * --iterations N makes every run exactly N chains (use a small N under
 * valgrind --tool=callgrind).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mockmem.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "vhostkit/ring.h"
#include "vhostkit/ring_ctl.h"

#define QSIZE		256
#define BATCH		32
#define SEG_LEN		64
#define MAX_RUNS	31

struct cfg {
	bool packed;
	unsigned int ndesc;
	enum vhk_as_mode mode;
};

struct opts {
	int layout;			/* -1 both, 0 split, 1 packed */
	unsigned int descs;		/* 0 both, else 1 or 4 */
	unsigned long iterations;	/* 0: time-boxed runs */
	unsigned int runs;
	unsigned int run_ms;
};

struct bench {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq;
	struct vhk_vq *vq;
	struct vhk_drv_seg segs[QSIZE][4];
	struct iovec iov[8];
	struct vhk_chain c;
};

static int bench_setup(struct bench *b, const struct cfg *cf)
{
	uint64_t features = 0;
	struct vhk_vq_params p;
	size_t ring;
	int ret;

	memset(b, 0, sizeof(*b));
	vhk_set_feature(&features, VHK_F_VERSION_1);
	vhk_set_feature(&features, VHK_F_EVENT_IDX);
	if (cf->packed)
		vhk_set_feature(&features, VHK_F_RING_PACKED);
	ring = vhk_drv_vq_mem_size(cf->packed, QSIZE);
	/* Buffers: QSIZE * 4 * 64 = 64 KiB, inside the first IOTLB entry. */
	ret = vhk_mockmem_init(&b->m, cf->mode, false, ring, 256 * 1024);
	if (ret)
		return ret;
	ret = vhk_drv_vq_new(&b->dq, QSIZE, features, b->m.ring_host,
			     b->m.ring_addr);
	if (ret)
		return ret;
	ret = vhk_vq_new(&b->vq);
	if (ret)
		return ret;
	memset(&p, 0, sizeof(p));
	p.num = QSIZE;
	p.features = features;
	vhk_drv_vq_addrs(b->dq, &p.addrs);
	p.avail_base = vhk_drv_vq_base(b->dq);
	p.name = "bench vq0";
	ret = vhk_vq_start(b->vq, &b->m.as, &p);
	if (ret)
		return ret;
	/* Per slot: ndesc segments of 64 bytes, the last device-writable. */
	for (unsigned int i = 0; i < QSIZE; i++) {
		for (unsigned int k = 0; k < cf->ndesc; k++) {
			size_t off = ((size_t)i * 4 + k) * SEG_LEN;

			b->segs[i][k].addr = vhk_mockmem_buf_addr(&b->m, off);
			b->segs[i][k].len = SEG_LEN;
			b->segs[i][k].write = k + 1 == cf->ndesc;
		}
	}
	b->c.iov = b->iov;
	b->c.iov_cap = VHK_ARRAY_SIZE(b->iov);
	return 0;
}

static void bench_teardown(struct bench *b)
{
	vhk_vq_free(b->vq);
	vhk_drv_vq_free(b->dq);
	vhk_mockmem_fini(&b->m);
}

/* CPU time of this thread: immune to the other engineers' load. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Move @chains chains (or until thread CPU time @deadline_ns if @chains is
 * 0) through the rings.  Returns the number moved, or a negative errno.
 */
static long run_once(struct bench *b, const struct cfg *cf,
		     unsigned long chains, uint64_t deadline_ns)
{
	unsigned long done = 0;
	unsigned int slot = 0;

	for (;;) {
		unsigned int n = BATCH;
		int ret;

		if (chains) {
			if (done >= chains)
				break;
			if (chains - done < n)
				n = (unsigned int)(chains - done);
		} else if ((done / BATCH) % 16 == 0 && done &&
			   cpu_ns() >= deadline_ns) {
			break;
		}
		/* Driver: add and publish a batch. */
		for (unsigned int i = 0; i < n; i++) {
			ret = vhk_drv_vq_add(b->dq, b->segs[slot], cf->ndesc,
					     b->segs[slot]);
			if (ret)
				return ret;
			slot = (slot + 1) % QSIZE;
		}
		vhk_drv_vq_publish(b->dq);
		/* Device: pop, push, flush. */
		for (unsigned int i = 0; i < n; i++) {
			ret = vhk_vq_pop(b->vq, &b->c);
			if (ret != 1) {
				fprintf(stderr, "pop: %d after %lu chains\n",
					ret, done + i);
				return ret < 0 ? ret : -EPROTO;
			}
			ret = vhk_vq_push(b->vq, &b->c, 0);
			if (ret)
				return ret;
		}
		vhk_vq_flush(b->vq);
		/* Driver: collect. */
		for (unsigned int i = 0; i < n; i++) {
			void *tok;
			uint32_t len;

			ret = vhk_drv_vq_get_used(b->dq, &tok, &len);
			if (ret != 1) {
				fprintf(stderr, "get_used: %d after %lu chains\n",
					ret, done + i);
				return ret < 0 ? ret : -EPROTO;
			}
		}
		done += n;
	}
	return (long)done;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One timed run of @b: chains per CPU-second, or < 0 on error. */
static double timed_run(struct bench *b, const struct cfg *cf,
			const struct opts *o)
{
	uint64_t t0 = cpu_ns(), t1;
	long n = run_once(b, cf, o->iterations,
			  t0 + (uint64_t)o->run_ms * 1000000ull);

	t1 = cpu_ns();
	if (n < 0) {
		fprintf(stderr, "run failed: %s\n", strerror((int)-n));
		return (double)n;
	}
	return (double)n * 1e9 / (double)(t1 > t0 ? t1 - t0 : 1);
}

/*
 * Median chains per CPU-second of gpa (@out[0]) and iotlb (@out[1]) for
 * @layout/@ndesc.  Runs alternate between the two so that both see the
 * same machine.  Returns 0 or a negative errno.
 */
static int measure_pair(bool packed, unsigned int ndesc, const struct opts *o,
			double out[2])
{
	double rates[2][MAX_RUNS];
	struct bench *b[2] = { NULL, NULL };
	struct cfg cf[2] = {
		{ packed, ndesc, VHK_AS_GPA },
		{ packed, ndesc, VHK_AS_IOTLB },
	};
	int ret = 0;

	for (int k = 0; k < 2; k++) {
		b[k] = malloc(sizeof(*b[k]));
		if (!b[k]) {
			ret = -ENOMEM;
			goto out;
		}
		ret = bench_setup(b[k], &cf[k]);
		if (ret) {
			fprintf(stderr, "setup failed: %s\n", strerror(-ret));
			goto out;
		}
		/* Warm up the caches and the IOTLB last-hit cache. */
		ret = (int)run_once(b[k], &cf[k], QSIZE * 4, 0);
		if (ret < 0)
			goto out;
		ret = 0;
	}
	for (unsigned int r = 0; r < o->runs; r++) {
		for (int k = 0; k < 2; k++) {
			rates[k][r] = timed_run(b[k], &cf[k], o);
			if (rates[k][r] < 0) {
				ret = (int)rates[k][r];
				goto out;
			}
		}
	}
	for (int k = 0; k < 2; k++) {
		qsort(rates[k], o->runs, sizeof(rates[k][0]), cmp_double);
		out[k] = rates[k][o->runs / 2];
	}
out:
	for (int k = 0; k < 2; k++) {
		if (!b[k])
			break;
		bench_teardown(b[k]);
		free(b[k]);
		b[k] = NULL;
	}
	return ret;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--iterations N] [--runs R] [--run-ms MS]\n"
		"          [--layout split|packed] [--descs 1|4]\n"
		"  --iterations N  chains per run (default: time-boxed runs)\n"
		"  --runs R        runs per figure, median printed (default 7)\n"
		"  --run-ms MS     length of a time-boxed run (default 60)\n"
		"  --layout, --descs  measure only that configuration\n"
		"Under callgrind: --iterations 20000 --runs 1 (one run each).\n",
		argv0);
}

int main(int argc, char **argv)
{
	struct opts o = { -1, 0, 0, 7, 60 };
	double worst = 1e9;
	int fails = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
			o.iterations = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			o.runs = (unsigned int)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--layout") && i + 1 < argc) {
			i++;
			o.layout = !strcmp(argv[i], "split") ? 0 :
				   !strcmp(argv[i], "packed") ? 1 : -2;
			if (o.layout == -2) {
				usage(argv[0]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--descs") && i + 1 < argc) {
			o.descs = (unsigned int)strtoul(argv[++i], NULL, 0);
			if (o.descs != 1 && o.descs != 4) {
				usage(argv[0]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--run-ms") && i + 1 < argc) {
			o.run_ms = (unsigned int)strtoul(argv[++i], NULL, 0);
		} else {
			usage(argv[0]);
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (o.runs == 0 || o.runs > MAX_RUNS) {
		usage(argv[0]);
		return 2;
	}
	vhk_log_set_level(VHK_LOG_WARN);
	printf("vhostkit ring benchmark: queue %u, batch %u, %u-byte segments, "
	       "median of %u runs (%s)\n", QSIZE, BATCH, SEG_LEN, o.runs,
	       o.iterations ? "fixed iterations" : "time-boxed");
	printf("(chains per second of this thread's CPU time)\n");
	printf("%-7s %5s %16s %16s %12s\n", "layout", "descs", "gpa chains/s",
	       "iotlb chains/s", "iotlb/gpa");
	for (int p = 0; p < 2; p++) {
		for (unsigned int nd = 1; nd <= 4; nd += 3) {
			double r[2], rg, rt;

			if ((o.layout >= 0 && o.layout != p) ||
			    (o.descs && o.descs != nd))
				continue;

			if (measure_pair(p == 1, nd, &o, r)) {
				printf("%-7s %5u %16s %16s %12s\n",
				       p ? "packed" : "split", nd, "error",
				       "error", "-");
				fails++;
				continue;
			}
			rg = r[0];
			rt = r[1];
			printf("%-7s %5u %16.0f %16.0f %12.3f\n",
			       p ? "packed" : "split", nd, rg, rt, rt / rg);
			if (rt / rg < worst)
				worst = rt / rg;
		}
	}
	if (!fails)
		printf("worst iotlb/gpa ratio: %.3f (target >= 0.9): %s\n",
		       worst, worst >= 0.9 ? "met" : "NOT met");
	return fails ? 1 : 0;
}
