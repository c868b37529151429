/* SPDX-License-Identifier: MIT */
/*
 * fe_util.c - see fe_util.h.
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

#include "fe_util.h"

static char tmpdir[128];

const char *fe_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/vhk-fe-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			abort();
		}
	}
	return tmpdir;
}

void fe_tmp_cleanup(void)
{
	char cmd[200];

	if (!tmpdir[0] || getenv("VHK_KEEP_TMP"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", tmpdir);
	tmpdir[0] = 0;
}

uint8_t fe_pattern(uint64_t sector)
{
	return (uint8_t)((sector & 0xff) ^ 0x5a);
}

int fe_make_image(const char *path, unsigned int sectors)
{
	uint8_t sec[512];
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return -errno;
	for (unsigned int s = 0; s < sectors; s++) {
		memset(sec, fe_pattern(s), sizeof(sec));
		if (write(fd, sec, sizeof(sec)) != sizeof(sec)) {
			close(fd);
			return -EIO;
		}
	}
	close(fd);
	return 0;
}

int fe_spawn(struct fe_proc *p, char *const argv[])
{
	static int n;
	int fd;

	snprintf(p->log, sizeof(p->log), "%s/proc%d.log", fe_tmpdir(), n++);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		/* a test killed mid-way takes its daemon with it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(127);
		fd = open(p->log, O_CREAT | O_TRUNC | O_WRONLY, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return 0;
}

int fe_wait_path(const char *path, unsigned int ms)
{
	struct stat st;

	for (unsigned int t = 0; t < ms; t += 10) {
		if (stat(path, &st) == 0)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

void fe_kill(struct fe_proc *p, int sig)
{
	int status;

	if (p->pid <= 0)
		return;
	kill(p->pid, sig ? sig : SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
}

void fe_dump_log(const struct fe_proc *p)
{
	char buf[4096];
	FILE *f = fopen(p->log, "r");
	size_t n;

	if (!f)
		return;
	fprintf(stderr, "---- %s\n", p->log);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

const char *fe_blk_bin(void)
{
	const char *b = getenv("VHK_BLK_BIN");

	if (!b || access(b, X_OK) != 0)
		return NULL;
	return b;
}

int fe_spawn_blk(struct fe_proc *p, const char *sock, const char *disk,
		 const char *iommu)
{
	char *argv[] = {
		(char *)fe_blk_bin(), "--socket-path", (char *)sock,
		"--disk", (char *)disk, "--iommu", (char *)iommu, NULL,
	};
	int ret;

	if (!argv[0])
		return -ENOENT;
	unlink(sock);
	ret = fe_spawn(p, argv);
	if (!ret)
		ret = fe_wait_path(sock, 5000);
	return ret;
}

int fe_spawn_qsd(struct fe_proc *p, const char *sock, const char *img)
{
	char blockdev[300], export[300];
	char *argv[] = {
		"qemu-storage-daemon", "--blockdev", blockdev,
		"--export", export, NULL,
	};
	int ret;

	snprintf(blockdev, sizeof(blockdev),
		 "driver=file,node-name=d,filename=%s", img);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e,node-name=d,addr.type=unix,addr.path=%s,writable=on",
		 sock);
	unlink(sock);
	ret = fe_spawn(p, argv);
	if (!ret)
		ret = fe_wait_path(sock, 10000);
	return ret;
}

/* struct virtio_blk_outhdr (VIRTIO 1.2, 5.2.6). */
struct blk_hdr {
	vhk_le32 type;
	vhk_le32 reserved;
	vhk_le64 sector;
};

struct fe_blk_req {
	struct blk_hdr *hdr;
	uint8_t *status;
	void *buf;
	uint32_t len;
	enum vhk_dma_dir dir;
	uint64_t a_hdr, a_buf, a_status;
	bool done;
	bool own;	/* hdr/status allocated here */
};

int fe_blk_submit(struct vhk_fe *fe, uint16_t q, uint32_t type,
		  uint64_t sector, void *buf, uint32_t len, bool kick,
		  struct fe_blk_req **out)
{
	return fe_blk_submit_at(fe, q, type, sector, buf, len, kick, NULL,
				out);
}

int fe_blk_submit_at(struct vhk_fe *fe, uint16_t q, uint32_t type,
		     uint64_t sector, void *buf, uint32_t len, bool kick,
		     void *scratch, struct fe_blk_req **out)
{
	struct vhk_drv_vq *dq = vhk_fe_queue(fe, q);
	struct vhk_drv_seg segs[3];
	struct fe_blk_req *r;
	unsigned int n = 0;
	int ret;

	if (!dq)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->own = !scratch;
	if (scratch) {
		r->hdr = scratch;
		r->status = (uint8_t *)scratch + 32;
	} else {
		r->hdr = vhk_fe_alloc(fe, sizeof(*r->hdr));
		r->status = vhk_fe_alloc(fe, 1);
	}
	if (!r->hdr || !r->status) {
		ret = -ENOMEM;
		goto fail;
	}
	r->hdr->type = vhk_le32_make(type);
	r->hdr->sector = vhk_le64_make(sector);
	*r->status = 0xff;
	r->buf = buf;
	r->len = buf ? len : 0;
	r->dir = type == FE_T_OUT ? VHK_DMA_TO_DEVICE : VHK_DMA_FROM_DEVICE;
	ret = vhk_fe_dma_map(fe, r->hdr, sizeof(*r->hdr), VHK_DMA_TO_DEVICE,
			     &r->a_hdr);
	if (ret)
		goto fail;
	segs[n++] = (struct vhk_drv_seg){ r->a_hdr, sizeof(*r->hdr), false };
	if (r->len) {
		ret = vhk_fe_dma_map(fe, buf, len, r->dir, &r->a_buf);
		if (ret)
			goto fail;
		segs[n++] = (struct vhk_drv_seg){ r->a_buf, len,
						  r->dir == VHK_DMA_FROM_DEVICE };
	}
	ret = vhk_fe_dma_map(fe, r->status, 1, VHK_DMA_FROM_DEVICE,
			     &r->a_status);
	if (ret)
		goto fail;
	segs[n++] = (struct vhk_drv_seg){ r->a_status, 1, true };
	ret = vhk_drv_vq_add(dq, segs, n, r);
	if (ret)
		goto fail;
	if (vhk_drv_vq_publish(dq) && kick)
		vhk_fe_kick(fe, q);
	*out = r;
	return 0;
fail:
	/* Test helper: leaks the mappings on failure, frees memory. */
	if (r->own) {
		vhk_fe_free(fe, r->hdr);
		vhk_fe_free(fe, r->status);
	}
	free(r);
	return ret;
}

int fe_blk_collect(struct vhk_fe *fe, uint16_t q, struct fe_blk_req *r,
		   int timeout_ms)
{
	struct vhk_drv_vq *dq = vhk_fe_queue(fe, q);
	uint64_t deadline = vhk_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int ret = 0, st;

	while (!r->done) {
		void *tok;
		uint32_t len;

		ret = vhk_drv_vq_get_used(dq, &tok, &len);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			((struct fe_blk_req *)tok)->done = true;
			continue;
		}
		if (vhk_now_ns() >= deadline) {
			/* Abandoned: the caller must not use the queue
			 * again (the ring still holds the token). */
			free(r);
			return -ETIMEDOUT;
		}
		ret = vhk_fe_wait(fe, q, 50);
		if (ret < 0)
			return ret;
	}
	ret = vhk_fe_dma_unmap(fe, r->hdr, sizeof(*r->hdr), VHK_DMA_TO_DEVICE,
			       r->a_hdr);
	if (!ret && r->len)
		ret = vhk_fe_dma_unmap(fe, r->buf, r->len, r->dir, r->a_buf);
	if (!ret)
		ret = vhk_fe_dma_unmap(fe, r->status, 1, VHK_DMA_FROM_DEVICE,
				       r->a_status);
	st = *r->status;
	if (r->own) {
		vhk_fe_free(fe, r->hdr);
		vhk_fe_free(fe, r->status);
	}
	free(r);
	return ret ? ret : st;
}

int fe_blk_rw(struct vhk_fe *fe, uint16_t q, uint32_t type, uint64_t sector,
	      void *buf, uint32_t len, int timeout_ms)
{
	return fe_blk_rw_at(fe, q, type, sector, buf, len, NULL, timeout_ms);
}

int fe_blk_rw_at(struct vhk_fe *fe, uint16_t q, uint32_t type,
		 uint64_t sector, void *buf, uint32_t len, void *scratch,
		 int timeout_ms)
{
	struct fe_blk_req *r;
	int ret = fe_blk_submit_at(fe, q, type, sector, buf, len, true,
				   scratch, &r);

	if (ret)
		return ret;
	return fe_blk_collect(fe, q, r, timeout_ms);
}
