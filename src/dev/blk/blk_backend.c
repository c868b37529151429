/* SPDX-License-Identifier: MIT */
/*
 * blk_backend.c - run the virtio-blk device under the vhost-user back-end
 * server (kept apart so that unit tests link the device without a server).
 */
#include <stdio.h>
#include <sys/epoll.h>

#include "dev/blk/blk_internal.h"

static void be_complete(void *opaque, uint16_t idx)
{
	vhk_backend_complete(opaque, idx);
}

static void be_kick_later(void *opaque, uint16_t idx)
{
	vhk_backend_kick_later(opaque, idx);
}

static int be_watch(void *opaque, int fd, vhk_watch_fn fn, void *arg)
{
	return vhk_backend_watch(opaque, fd, EPOLLIN, fn, arg);
}

static int be_watch_queue(void *opaque, uint16_t idx, int fd,
			  vhk_watch_fn fn, void *arg)
{
	return vhk_backend_watch_queue(opaque, idx, fd, EPOLLIN, fn, arg);
}

static int be_unwatch(void *opaque, int fd)
{
	return vhk_backend_unwatch(opaque, fd);
}

static void be_broken(void *opaque, const char *why)
{
	vhk_backend_device_broken(opaque, why);
}

void vhk_blk_attach(struct vhk_blk *blk, struct vhk_backend *be)
{
	const struct vhk_blk_host h = {
		.complete = be_complete,
		.kick_later = be_kick_later,
		.watch = be_watch,
		.watch_queue = be_watch_queue,
		.unwatch = be_unwatch,
		.broken = be_broken,
		.opaque = be,
	};
	const char *name = vhk_backend_name(be);

	vhk_blk_set_host(blk, &h);
	if (name && *name)
		snprintf(blk->name, sizeof(blk->name), "%s", name);
}
