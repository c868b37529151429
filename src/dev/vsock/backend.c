/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the vsock device under the vhost-user back-end server: the
 * only file that knows the server's interface (the rest is driven through
 * struct vsock_host, which tests supply themselves).  The host side's
 * sockets sit in the device's own epoll set: the server watches that one
 * fd, however many connections there are.
 */
#include <sys/epoll.h>

#include "dev/vsock/vsock_int.h"

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

static int be_unwatch(void *opaque, int fd)
{
	return vhk_backend_unwatch(opaque, fd);
}

static void be_broken(void *opaque, const char *why)
{
	vhk_backend_device_broken(opaque, why);
}

int vhk_vsock_attach(struct vhk_vsock *vs, struct vhk_backend *be)
{
	const struct vsock_host h = {
		.complete = be_complete,
		.kick_later = be_kick_later,
		.watch = be_watch,
		.unwatch = be_unwatch,
		.broken = be_broken,
		.opaque = be,
	};

	vsock_set_host(vs, &h);
	return h.watch(be, vs->ep, vsock_host_watch_cb, vs);
}
