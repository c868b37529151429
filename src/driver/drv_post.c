// SPDX-License-Identifier: MIT
/*
 * drv_post.c - shared pieces of the userspace drivers (drv_post.h).
 */
#include <errno.h>
#include <unistd.h>

#include "drv_post.h"
#include "vhostkit/util.h"

int drv_post_one(struct vhk_fe *fe, struct vhk_drv_vq *vq, void *host,
		 uint32_t len, enum vhk_dma_dir dir, void *token,
		 uint64_t *addr)
{
	struct vhk_drv_seg seg;
	int ret = vhk_fe_dma_map(fe, host, len, dir, addr);

	if (ret < 0)
		return ret;
	seg = (struct vhk_drv_seg){ *addr, len, dir == VHK_DMA_FROM_DEVICE };
	ret = vhk_drv_vq_add(vq, &seg, 1, token);
	if (ret < 0)
		vhk_fe_dma_unmap(fe, host, len, dir, *addr);
	return ret;
}

void drv_drain_eventfd(int fd)
{
	uint64_t v;
	ssize_t r;

	/* One read takes the whole counter (not EFD_SEMAPHORE); a second
	 * would only return EAGAIN (a signal after this read is left for the
	 * next poll, as it should be). */
	r = read(fd, &v, sizeof(v));
	(void)r;
}

int drv_poll_chores(struct vhk_fe *fe, uint64_t deadline)
{
	int ret;

	if (vhk_fe_backend_channel_fd(fe) >= 0) {
		ret = vhk_fe_poll(fe, 0);
		if (ret < 0 && ret != -EAGAIN)
			return ret;
	}
	if (!vhk_fe_connected(fe))
		return -ECONNRESET;
	return vhk_now_ns() >= deadline ? 0 : 1;
}
