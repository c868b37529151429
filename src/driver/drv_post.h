/* SPDX-License-Identifier: MIT */
/*
 * drv_post.h - what the userspace drivers (blk.c, vsock.c, net.c) share:
 * put one single-segment buffer on a driver ring through the front-end's
 * DMA API, empty a call eventfd, and the chores of a polling loop.
 * Internal to src/driver.
 */
#ifndef VHK_DRIVER_DRV_POST_H
#define VHK_DRIVER_DRV_POST_H

#include <stddef.h>
#include <stdint.h>

#include "vhostkit/drv_ring.h"
#include "vhostkit/frontend.h"

/**
 * drv_post_one - map [@host, @host+@len) for @dir (FROM_DEVICE: a
 * device-writable buffer) and add it to @vq as one segment with @token;
 * the device address goes to *@addr.  On an add failure the mapping is
 * ended again.  Not published (vhk_drv_vq_publish()).  0, the map's
 * -errno, or vhk_drv_vq_add()'s.
 */
int drv_post_one(struct vhk_fe *fe, struct vhk_drv_vq *vq, void *host,
		 uint32_t len, enum vhk_dma_dir dir, void *token,
		 uint64_t *addr);

/** drv_drain_eventfd - empty non-blocking eventfd @fd (one read). */
void drv_drain_eventfd(int fd);

/**
 * drv_poll_chores - what a polling loop does every few dozen empty passes:
 * serve the back-end channel (IOTLB misses the device may be parked on),
 * notice a lost connection, honour @deadline (vhk_now_ns() time).
 * Returns 1 to keep polling, 0 once @deadline passed, -ECONNRESET, or the
 * channel's negative errno.
 */
int drv_poll_chores(struct vhk_fe *fe, uint64_t deadline);

#endif /* VHK_DRIVER_DRV_POST_H */
