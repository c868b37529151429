/* SPDX-License-Identifier: MIT */
/*
 * net_vu.c - the one piece of glue between the virtio-net device
 * (net_dev.c) and the vhost-user server: host callbacks, the backlog
 * eventfd watch, the port's server thread.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dev/net/net_vu.h"

static void be_complete(void *opaque, uint16_t idx)
{
	vhk_backend_complete(opaque, idx);
}

static void be_kick_later(void *opaque, uint16_t idx)
{
	vhk_backend_kick_later(opaque, idx);
}

static void be_broken(void *opaque, const char *why)
{
	vhk_backend_device_broken(opaque, why);
}

/* The port's eventfd: frames arrived in its backlog. */
static void backlog_readable(void *opaque, int fd, uint32_t events)
{
	struct vhk_net_dev *d = opaque;
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof(v));

	(void)r;
	(void)events;
	vhk_net_dev_backlog_ready(d);
}

int vhk_net_vu_open(struct vhk_net_vu *v, struct vhk_net_switch *sw,
		    const char *name, const struct vhk_net_dev_opts *o,
		    const struct vhk_backend_config *cfg)
{
	const struct vhk_net_host h = {
		.complete = be_complete,
		.kick_later = be_kick_later,
		.broken = be_broken,
	};
	struct vhk_backend_config c = *cfg;
	struct vhk_net_host hh = h;
	int rc;

	rc = vhk_net_dev_init(&v->dev, sw, name, o);
	if (rc)
		return rc;
	c.name = v->dev.port.name;
	rc = vhk_backend_new(&v->be, &c, &vhk_net_dev_ops, &v->dev);
	if (rc) {
		vhk_net_dev_fini(&v->dev);
		return rc;
	}
	hh.opaque = v->be;
	vhk_net_dev_set_host(&v->dev, &hh);
	rc = vhk_backend_watch(v->be, v->dev.port.efd, EPOLLIN,
			       backlog_readable, &v->dev);
	if (rc) {
		vhk_backend_free(v->be);
		vhk_net_dev_fini(&v->dev);
	}
	return rc;
}

static void *vu_thread(void *arg)
{
	struct vhk_net_vu *v = arg;
	int rc = vhk_backend_run(v->be);

	if (rc < 0)
		vhk_log(VHK_LOG_ERR, v->dev.port.name, "server: %s",
			strerror(-rc));
	return NULL;
}

int vhk_net_vu_start(struct vhk_net_vu *v)
{
	int rc = pthread_create(&v->th, NULL, vu_thread, v);

	v->running = rc == 0;
	return -rc;
}

void vhk_net_vu_stop(struct vhk_net_vu *v)
{
	if (!v->running)
		return;
	vhk_backend_stop(v->be);
	pthread_join(v->th, NULL);
	v->running = false;
}

void vhk_net_vu_close(struct vhk_net_vu *v)
{
	vhk_net_vu_stop(v);
	vhk_backend_free(v->be);
	vhk_net_dev_fini(&v->dev);
}
