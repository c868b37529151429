// SPDX-License-Identifier: MIT
/*
 * drv_util.c - helpers for the blk driver pair tests (see drv_util.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drv_util.h"

static char tmpdir[128];

static void rm_tmpdir(void)
{
	char cmd[200];

	if (!tmpdir[0] || getenv("VHK_KEEP_TMP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

const char *drv_tmpdir(void)
{
	if (tmpdir[0])
		return tmpdir;
	/* RAM-backed when possible: the tests are about the protocol. */
	snprintf(tmpdir, sizeof(tmpdir), "/dev/shm/vhk-drv-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhk-drv-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	atexit(rm_tmpdir);
	return tmpdir;
}

const char *drv_bin(const char *env)
{
	const char *p = getenv(env);

	if (!p || !*p || access(p, X_OK))
		return NULL;
	return p;
}

const char *drv_require(const char *env, const char *what)
{
	const char *p = drv_bin(env);

	if (!p) {
		printf("SKIP: %s not available (%s=%s is not an executable "
		       "file)\n", what, env, getenv(env) ? getenv(env) : "");
		exit(DRV_SKIP);
	}
	return p;
}

int drv_make_disk(const char *path, uint64_t bytes)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	return 0;
}

int drv_spawn(struct drv_proc *p, char *const argv[])
{
	static unsigned int n;
	const char *base = strrchr(argv[0], '/');
	int fd;

	snprintf(p->log, sizeof(p->log), "%s/%s.%u.log", drv_tmpdir(),
		 base ? base + 1 : argv[0], n++);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		/* a test killed mid-way takes its daemon with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(127);
		fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return 0;
}

int drv_wait_path(const char *path, unsigned int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned int waited = 0;
	struct stat st;

	while (stat(path, &st) < 0) {
		if (waited >= ms)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		waited += 10;
	}
	return 0;
}

void drv_kill(struct drv_proc *p, int sig)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, sig);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

void drv_dump_log(const struct drv_proc *p)
{
	char line[512];
	FILE *f = fopen(p->log, "r");

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", p->log);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

int drv_spawn_blk(struct drv_proc *p, const char *bin, const char *sock,
		  const char *disk, unsigned int nq, const char *iommu)
{
	char nqs[16];
	char *argv[] = { (char *)bin, "--socket-path", (char *)sock,
			 "--disk", (char *)disk, "--num-queues", nqs,
			 "--iommu", (char *)iommu, NULL };
	int ret;

	snprintf(nqs, sizeof(nqs), "%u", nq);
	unlink(sock);
	ret = drv_spawn(p, argv);
	if (ret == 0 && drv_wait_path(sock, 5000) < 0) {
		drv_dump_log(p);
		drv_kill(p, SIGKILL);
		return -ETIMEDOUT;
	}
	return ret;
}

int drv_spawn_qsd(struct drv_proc *p, const char *bin, const char *sock,
		  const char *disk)
{
	char blockdev[300], export[300];
	char *argv[] = { (char *)bin, "--blockdev", blockdev, "--export",
			 export, NULL };
	int ret;

	snprintf(blockdev, sizeof(blockdev),
		 "driver=file,node-name=d,filename=%s", disk);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,"
		 "addr.path=%s,writable=on", sock);
	unlink(sock);
	ret = drv_spawn(p, argv);
	if (ret == 0 && drv_wait_path(sock, 10000) < 0) {
		drv_dump_log(p);
		drv_kill(p, SIGKILL);
		return -ETIMEDOUT;
	}
	return ret;
}

const char *drv_dma_name(enum drv_dma d)
{
	static const char *const n[] = { "direct", "iommu-strict",
					 "iommu-lazy", "bounce" };

	return n[d];
}

enum vhk_dma_mode drv_expected_mode(enum drv_dma d)
{
	return d == DRV_DIRECT ? VHK_DMA_DIRECT :
	       d == DRV_BOUNCE ? VHK_DMA_BOUNCE : VHK_DMA_IOMMU;
}

void drv_dma_config(struct vhk_fe_config *cfg, enum drv_dma d)
{
	vhk_fe_config_set_dma(cfg, drv_expected_mode(d), d == DRV_STRICT ?
			      VHK_IOMMU_STRICT : VHK_IOMMU_LAZY);
}

int drv_open(struct drv_conn *c, const struct drv_open_opts *o)
{
	struct vhk_blk_drv_params dp = { 0 };
	struct vhk_fe_config cfg;
	int ret;

	c->fe = NULL;
	c->drv = NULL;
	vhk_fe_config_init(&cfg, o->sock);
	cfg.name = "drvtest";
	cfg.driver_features = vhk_blk_drv_features(o->packed);
	cfg.packed = o->packed;
	cfg.num_queues = o->queues ? o->queues : 1;
	cfg.queue_size = 128;
	cfg.want_persist = o->persist;
	cfg.mem_size = o->mem_size ? o->mem_size : (32u << 20);
	cfg.bounce_pool_size = 8u << 20;
	drv_dma_config(&cfg, o->dma);
	ret = vhk_fe_connect(&c->fe, &cfg);
	if (ret < 0) {
		fprintf(stderr, "drv_open: connect %s: %s\n", o->sock,
			strerror(-ret));
		return ret;
	}
	ret = vhk_fe_start(c->fe);
	if (ret < 0) {
		fprintf(stderr, "drv_open: start: %s\n", strerror(-ret));
		goto fail;
	}
	if (vhk_fe_dma_mode(c->fe) != drv_expected_mode(o->dma)) {
		fprintf(stderr, "drv_open: asked %s, got dma mode %s\n",
			drv_dma_name(o->dma),
			vhk_fe_dma_mode_name(vhk_fe_dma_mode(c->fe)));
		ret = -EPROTO;
		goto fail;
	}
	if (o->packed != vhk_has_feature(vhk_fe_driver_features(c->fe),
					 VHK_F_RING_PACKED)) {
		fprintf(stderr, "drv_open: packed ring %s\n",
			o->packed ? "not negotiated" : "negotiated unasked");
		ret = -EPROTO;
		goto fail;
	}
	dp.queue_depth = o->depth;
	dp.num_queues = o->queues ? o->queues : 1;
	dp.use_call_fd = o->use_call_fd;
	ret = vhk_blk_drv_new(&c->drv, c->fe, &dp);
	if (ret < 0) {
		fprintf(stderr, "drv_open: driver: %s\n", strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	vhk_fe_close(c->fe);
	c->fe = NULL;
	return ret;
}

void drv_close(struct drv_conn *c)
{
	vhk_blk_drv_free(c->drv);
	vhk_fe_close(c->fe);
	c->drv = NULL;
	c->fe = NULL;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void drv_fill(uint8_t *buf, uint32_t len, uint64_t seed, uint64_t off)
{
	uint32_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = mix64(seed ^ (off + i));

		memcpy(buf + i, &v, 8);
	}
}

int64_t drv_check(const uint8_t *buf, uint32_t len, uint64_t seed,
		  uint64_t off)
{
	uint32_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = mix64(seed ^ (off + i));

		if (memcmp(buf + i, &v, 8))
			return i;
	}
	return -1;
}

int drv_blocks(struct drv_conn *c, enum vhk_blk_op op, const uint64_t *blocks,
	       const uint64_t *seeds, uint64_t n, uint32_t bs)
{
	uint16_t nq = vhk_blk_drv_num_queues(c->drv);
	unsigned int depth = vhk_blk_drv_queue_depth(c->drv);
	unsigned int nslots = nq * depth, i;
	struct vhk_blk_req *reqs = calloc(nslots, sizeof(*reqs));
	struct vhk_blk_req **done = calloc(depth, sizeof(*done));
	uint64_t *idx_of = calloc(nslots, sizeof(*idx_of));
	uint64_t next = 0, ndone = 0;
	int ret = 0, k, got;
	uint16_t q;

	if (!reqs || !done || !idx_of) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nslots; i++) {
		reqs[i].buf = vhk_fe_alloc(c->fe, bs);
		if (!reqs[i].buf) {
			ret = -ENOMEM;
			goto out;
		}
	}

#define SUBMIT(slot, qq)						\
	do {								\
		struct vhk_blk_req *r_ = &reqs[slot];			\
		uint64_t off_ = blocks[next] * bs;			\
		r_->op = op;						\
		r_->sector = off_ / 512;				\
		r_->len = bs;						\
		r_->priv = (void *)(uintptr_t)(slot);			\
		idx_of[slot] = next;					\
		if (op == VHK_BLK_OP_WRITE)				\
			drv_fill(r_->buf, bs, seeds[next], off_);	\
		else							\
			memset(r_->buf, 0xa5, bs);			\
		next++;							\
		ret = vhk_blk_drv_submit(c->drv, (qq), r_);		\
		if (ret < 0) {						\
			fprintf(stderr, "submit: %s\n",		\
				strerror(-ret));			\
			goto out;					\
		}							\
	} while (0)

	for (i = 0; i < nslots && next < n; i++)
		SUBMIT(i, (uint16_t)(i / depth));
	for (q = 0; q < nq; q++)
		vhk_blk_drv_kick(c->drv, q);
	while (ndone < n) {
		got = 0;
		for (q = 0; q < nq; q++) {
			int m = vhk_blk_drv_reap(c->drv, q, done, depth);

			if (m < 0) {
				ret = m;
				goto out;
			}
			for (k = 0; k < m; k++) {
				struct vhk_blk_req *r = done[k];
				unsigned int slot =
					(unsigned int)(uintptr_t)r->priv;
				uint64_t j = idx_of[slot];
				int64_t bad;

				got++;
				ndone++;
				if (r->result) {
					fprintf(stderr, "%s block %llu: %s "
						"(status %u len %u)\n",
						vhk_blk_op_name(op),
						(unsigned long long)blocks[j],
						strerror(-r->result),
						r->status, r->used_len);
					ret = r->result;
					goto out;
				}
				if (op == VHK_BLK_OP_READ) {
					bad = drv_check(r->buf, bs, seeds[j],
							blocks[j] * bs);
					if (bad >= 0) {
						fprintf(stderr, "MISMATCH "
							"block %llu +%lld\n",
							(unsigned long long)
							blocks[j],
							(long long)bad);
						ret = -EILSEQ;
						goto out;
					}
				}
				if (next < n)
					SUBMIT(slot, q);
			}
			vhk_blk_drv_kick(c->drv, q);
		}
		if (got)
			continue;
		ret = vhk_blk_drv_wait_any(c->drv, 10000);
		if (ret <= 0) {
			ret = ret ? ret : -ETIMEDOUT;
			fprintf(stderr, "wait: %s (%llu/%llu done)\n",
				strerror(-ret), (unsigned long long)ndone,
				(unsigned long long)n);
			goto out;
		}
		ret = 0;
	}
#undef SUBMIT
out:
	if (reqs && ret == 0)
		for (i = 0; i < nslots; i++)
			vhk_fe_free(c->fe, reqs[i].buf);
	free(reqs);
	free(done);
	free(idx_of);
	return ret;
}

int drv_pattern_io(struct drv_conn *c, uint64_t nblocks, uint32_t bs,
		   uint64_t seed)
{
	uint64_t *blocks = calloc(nblocks, sizeof(*blocks));
	uint64_t *seeds = calloc(nblocks, sizeof(*seeds));
	uint64_t i;
	int ret = -ENOMEM;

	if (blocks && seeds) {
		for (i = 0; i < nblocks; i++) {
			blocks[i] = i;
			seeds[i] = seed;
		}
		ret = drv_blocks(c, VHK_BLK_OP_WRITE, blocks, seeds, nblocks,
				 bs);
		if (ret == 0)
			ret = drv_blocks(c, VHK_BLK_OP_READ, blocks, seeds,
					 nblocks, bs);
	}
	free(blocks);
	free(seeds);
	return ret;
}

int drv_check_file(const char *path, uint64_t off, uint64_t len,
		   uint64_t seed)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_RDONLY);
	int64_t bad;
	int ret = 0;

	if (!buf || fd < 0 || pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
		ret = -EIO;
	} else {
		bad = drv_check(buf, (uint32_t)len, seed, off);
		if (bad >= 0) {
			fprintf(stderr, "disk file %s: MISMATCH at byte %llu\n",
				path, (unsigned long long)(off + bad));
			ret = -EILSEQ;
		}
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}
