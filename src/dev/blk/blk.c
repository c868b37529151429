/* SPDX-License-Identifier: MIT */
/*
 * blk.c - the virtio-blk device: open the disk, build the configuration
 * space (VIRTIO 1.2, 5.2.4), offer features (5.2.3), and run queues through
 * the request engine in blk_req.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/blk/blk_internal.h"

#define BLK_MAX_QUEUES	256

static struct vhk_blk *to_blk(void *dev)
{
	return dev;
}

static uint64_t blk_get_features(void *dev)
{
	struct vhk_blk *blk = to_blk(dev);
	uint64_t f = 0;

	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, VHK_F_INDIRECT_DESC);
	vhk_set_feature(&f, VHK_F_EVENT_IDX);
	vhk_set_feature(&f, VHK_F_RING_PACKED);
	vhk_set_feature(&f, VHK_BLK_F_SEG_MAX);
	vhk_set_feature(&f, VHK_BLK_F_BLK_SIZE);
	vhk_set_feature(&f, VHK_BLK_F_FLUSH);
	vhk_set_feature(&f, VHK_BLK_F_TOPOLOGY);
	if (!blk->read_only)
		vhk_set_feature(&f, VHK_BLK_F_CONFIG_WCE);
	if (blk->num_queues > 1)
		vhk_set_feature(&f, VHK_BLK_F_MQ);
	if (blk->read_only) {
		vhk_set_feature(&f, VHK_BLK_F_RO);
	} else {
		vhk_set_feature(&f, VHK_BLK_F_DISCARD);
		vhk_set_feature(&f, VHK_BLK_F_WRITE_ZEROES);
	}
	return f;
}

static uint64_t blk_get_protocol_features(void *dev)
{
	uint64_t f = 0;

	(void)dev;
	vhk_set_feature(&f, VHK_PROTO_F_MQ);
	vhk_set_feature(&f, VHK_PROTO_F_CONFIG);
	vhk_set_feature(&f, VHK_PROTO_F_INFLIGHT_SHMFD);
	return f;
}

static uint16_t blk_num_queues(void *dev)
{
	return to_blk(dev)->num_queues;
}

static int blk_get_config(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vhk_blk *blk = to_blk(dev);

	/* vhost-user GET_CONFIG: offset + size must lie in the space. */
	if (offset > sizeof(blk->cfg) || len > sizeof(blk->cfg) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&blk->cfg + offset, len);
	return 0;
}

static int blk_set_config(void *dev, uint32_t offset, const void *buf,
			  uint32_t len)
{
	struct vhk_blk *blk = to_blk(dev);
	uint8_t wce;

	/* VIRTIO 1.2, 5.2.4: writeback is the one writable field, and only
	 * with VIRTIO_BLK_F_CONFIG_WCE; 0 = writethrough, 1 = writeback. */
	if (offset != offsetof(struct vhk_blk_config, writeback) || len != 1 ||
	    !vhk_has_feature(blk->acked, VHK_BLK_F_CONFIG_WCE))
		return -EINVAL;
	memcpy(&wce, buf, 1);
	if (wce > 1)
		return -EINVAL;
	blk->cfg.writeback = wce;
	blk->writethrough = wce == 0;
	return 0;
}

static int blk_set_features(void *dev, uint64_t acked)
{
	to_blk(dev)->acked = acked;
	return 0;
}

static struct blk_queue *queue_of(struct vhk_blk *blk, uint16_t idx)
{
	if (idx >= blk->num_queues)
		return NULL;
	return &blk->queues[idx];
}

static unsigned int blk_max_iov(void *dev)
{
	return to_blk(dev)->max_iov;
}

static int blk_queue_start(void *dev, struct vhk_dev_queue *dq)
{
	struct vhk_blk *blk = to_blk(dev);
	struct blk_queue *q = queue_of(blk, vhk_dq_index(dq));

	if (!q)
		return -EINVAL;
	if (q->started)
		vhk_blk_queue_fini(q);
	q->idx = vhk_dq_index(dq);
	return vhk_blk_queue_init(blk, q, dq);
}

static int blk_handle_chain(void *dev, struct vhk_dev_queue *dq,
			    struct vhk_chain *c)
{
	struct blk_queue *q = vhk_dq_priv(dq);

	(void)dev;
	if (!q)
		return VHK_CHAIN_BUSY;
	return vhk_blk_queue_chain(q, c);
}

static void blk_batch_end(void *dev, struct vhk_dev_queue *dq)
{
	struct blk_queue *q = vhk_dq_priv(dq);

	(void)dev;
	if (q)
		vhk_blk_queue_batch_end(q);
}

static int blk_queue_poll(void *dev, struct vhk_dev_queue *dq)
{
	struct blk_queue *q = vhk_dq_priv(dq);

	(void)dev;
	return q ? vhk_blk_queue_poll(q) : 0;
}

static void blk_queue_stop(void *dev, struct vhk_dev_queue *dq)
{
	struct blk_queue *q = queue_of(to_blk(dev), vhk_dq_index(dq));

	if (q)
		vhk_blk_queue_fini(q);
	vhk_dq_set_priv(dq, NULL);
}

static void blk_drain(void *dev)
{
	struct vhk_blk *blk = to_blk(dev);
	unsigned int i;

	for (i = 0; i < blk->num_queues; i++)
		vhk_blk_queue_reap(&blk->queues[i], true);
}

static void blk_reset(void *dev)
{
	struct vhk_blk *blk = to_blk(dev);
	unsigned int i;

	for (i = 0; i < blk->num_queues; i++)
		vhk_blk_queue_fini(&blk->queues[i]);
	blk->acked = 0;
	/* The cache mode is device state: back to writeback. */
	blk->writethrough = false;
	blk->cfg.writeback = 1;
}

static const char *const blk_stat_names[] = {
	[BLK_STAT_READ] = "read",
	[BLK_STAT_WRITE] = "write",
	[BLK_STAT_FLUSH] = "flush",
	[BLK_STAT_DISCARD] = "discard",
	[BLK_STAT_WRITE_ZEROES] = "write_zeroes",
	[BLK_STAT_OTHER] = "get_id",
	[BLK_STAT_UNSUPP] = "unsupported",
	[BLK_STAT_IOERR] = "io_error",
	NULL,
};

const struct vhk_device_ops vhk_blk_ops = {
	.stat_names = blk_stat_names,
	.type = VHK_DEV_BLK,
	.get_features = blk_get_features,
	.get_protocol_features = blk_get_protocol_features,
	.num_queues = blk_num_queues,
	.get_config = blk_get_config,
	.set_config = blk_set_config,
	.set_features = blk_set_features,
	.max_iov = blk_max_iov,
	.queue_start = blk_queue_start,
	.handle_chain = blk_handle_chain,
	.batch_end = blk_batch_end,
	.queue_poll = blk_queue_poll,
	.queue_stop = blk_queue_stop,
	.drain = blk_drain,
	.reset = blk_reset,
};

/* ---- opening the disk */

static int open_disk(struct vhk_blk *blk, const struct vhk_blk_opts *o)
{
	int flags = (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	uint64_t bytes;
	int lbs;

	blk->fd = -1;
	if (!o->no_direct)
		blk->fd = open(o->disk, flags | O_DIRECT);
	blk->fd_buf = open(o->disk, flags);
	if (blk->fd_buf < 0) {
		int err = -errno;

		if (blk->fd >= 0)
			close(blk->fd);
		return err;
	}
	blk->direct = blk->fd >= 0;
	if (!blk->direct)
		blk->fd = blk->fd_buf;
	if (fstat(blk->fd_buf, &st) < 0)
		return -errno;
	blk->blk_size = VHK_BLK_SECTOR_SIZE;
	if (S_ISBLK(st.st_mode)) {
		blk->blockdev = true;
		if (ioctl(blk->fd_buf, BLKGETSIZE64, &bytes) < 0)
			return -errno;
		if (ioctl(blk->fd_buf, BLKSSZGET, &lbs) == 0 && lbs >= 512 &&
		    lbs <= 65536 && !(lbs & (lbs - 1)))
			blk->blk_size = (uint32_t)lbs;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	blk->capacity = bytes / VHK_BLK_SECTOR_SIZE;
	return 0;
}

static void build_config(struct vhk_blk *blk)
{
	struct vhk_blk_config *c = &blk->cfg;
	uint32_t lbs_sectors = blk->blk_size / VHK_BLK_SECTOR_SIZE;

	memset(c, 0, sizeof(*c));
	c->capacity = vhk_le64_make(blk->capacity);
	/* Two segments of a chain are the header and the status byte; the
	 * driver's data descriptors go into readv/writev (IOV_MAX = 1024). */
	c->seg_max = vhk_le32_make(VHK_MIN(blk->max_iov, (unsigned int)IOV_MAX) -
				   2);
	c->blk_size = vhk_le32_make(blk->blk_size);
	c->min_io_size = vhk_le16_make(1);
	c->opt_io_size = vhk_le32_make(0);
	c->num_queues = vhk_le16_make(blk->num_queues);
	c->max_discard_sectors = vhk_le32_make(VHK_BLK_MAX_DWZ_SECTORS);
	c->max_discard_seg = vhk_le32_make(VHK_BLK_MAX_DWZ_SEG);
	c->discard_sector_alignment = vhk_le32_make(VHK_MAX(lbs_sectors, 1u));
	c->max_write_zeroes_sectors = vhk_le32_make(VHK_BLK_MAX_DWZ_SECTORS);
	c->max_write_zeroes_seg = vhk_le32_make(VHK_BLK_MAX_DWZ_SEG);
	c->write_zeroes_may_unmap = 1;
	c->writeback = 1;
}

int vhk_blk_open(struct vhk_blk **out, const struct vhk_blk_opts *o)
{
	struct vhk_blk *blk;
	unsigned int i;
	int ret;

	if (!o || !o->disk || !*o->disk || o->num_queues > BLK_MAX_QUEUES ||
	    (o->max_iov && (o->max_iov < 3 || o->max_iov > 65536)))
		return -EINVAL;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->fd = blk->fd_buf = -1;
	blk->read_only = o->read_only;
	blk->num_queues = o->num_queues ? o->num_queues : 1;
	blk->queue_depth = o->queue_depth;
	blk->sqpoll_idle_ms = o->sqpoll_idle_ms;
	blk->max_iov = o->max_iov ? o->max_iov : VHK_BLK_DEFAULT_MAX_IOV;
	blk->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	if (o->serial) {
		blk->serial_len = VHK_MIN(strlen(o->serial),
					  (size_t)VHK_BLK_ID_BYTES);
		memcpy(blk->serial, o->serial, blk->serial_len);
	}
	ret = open_disk(blk, o);
	if (ret < 0)
		goto fail;
	ret = vhk_blk_nowait_open(blk, o->nowait);
	if (ret < 0)
		goto fail;
	ret = vhk_blk_mmap_open(blk, o->mmap);
	if (ret < 0)
		goto fail;
	blk->queues = calloc(blk->num_queues, sizeof(*blk->queues));
	blk->zero_iov = calloc(BLK_ZERO_IOV, sizeof(*blk->zero_iov));
	ret = -ENOMEM;
	if (!blk->queues || !blk->zero_iov)
		goto fail;
	/* Aligned for O_DIRECT writes of zeroes. */
	if (posix_memalign(&blk->zero_buf, 4096, BLK_ZERO_CHUNK))
		goto fail;
	memset(blk->zero_buf, 0, BLK_ZERO_CHUNK);
	for (i = 0; i < BLK_ZERO_IOV; i++) {
		blk->zero_iov[i].iov_base = blk->zero_buf;
		blk->zero_iov[i].iov_len = BLK_ZERO_CHUNK;
	}
	for (i = 0; i < blk->num_queues; i++) {
		blk->queues[i].blk = blk;
		blk->queues[i].idx = (uint16_t)i;
		blk->queues[i].efd = -1;
	}
	build_config(blk);
	*out = blk;
	return 0;
fail:
	vhk_blk_close(blk);
	return ret;
}

void vhk_blk_close(struct vhk_blk *blk)
{
	unsigned int i;

	if (!blk)
		return;
	for (i = 0; blk->queues && i < blk->num_queues; i++)
		vhk_blk_queue_fini(&blk->queues[i]);
	vhk_blk_mmap_close(blk);
	if (blk->fd >= 0 && blk->fd != blk->fd_buf)
		close(blk->fd);
	if (blk->fd_buf >= 0)
		close(blk->fd_buf);
	free(blk->queues);
	free(blk->zero_iov);
	free(blk->zero_buf);
	free(blk);
}

unsigned int vhk_blk_max_iov(const struct vhk_blk *blk)
{
	return blk->max_iov;
}

uint64_t vhk_blk_capacity(const struct vhk_blk *blk)
{
	return blk->capacity;
}

bool vhk_blk_direct(const struct vhk_blk *blk)
{
	return blk->direct;
}

bool vhk_blk_is_blockdev(const struct vhk_blk *blk)
{
	return blk->blockdev;
}
