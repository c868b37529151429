/* SPDX-License-Identifier: MIT */
/*
 * net_vu.c - a virtio-net device (net_dev.c) under its own vhost-user
 * server, on the port's server thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include "dev/net/net_vu.h"

int vhk_net_vu_open(struct vhk_net_vu *v, struct vhk_net_switch *sw,
		    const char *name, const struct vhk_net_dev_opts *o,
		    const struct vhk_backend_config *cfg)
{
	struct vhk_backend_config c = *cfg;
	int rc;

	rc = vhk_net_dev_init(&v->dev, sw, name, o);
	if (rc)
		return rc;
	c.name = v->dev.port.name;
	/* The device's host_start() has the server watch its backlog. */
	rc = vhk_backend_new(&v->be, &c, &vhk_net_dev_ops, &v->dev);
	if (rc)
		vhk_net_dev_fini(&v->dev);
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

/* ---- the shared thread */

int vhk_net_vu_group_add(struct vhk_net_vu_group *g, struct vhk_net_vu *v)
{
	if (g->running || g->n >= VHK_NET_MAX_PORTS)
		return -EBUSY;
	g->m[g->n++] = v;
	return 0;
}

/* Longest sleep of an idle group: a client port's reconnect timer runs
 * inside its passes. */
#define GROUP_IDLE_MS	100

static void *group_thread(void *arg)
{
	struct vhk_net_vu_group *g = arg;
	bool live[VHK_NET_MAX_PORTS];
	unsigned int nlive = g->n;

	for (unsigned int i = 0; i < g->n; i++)
		live[i] = true;
	while (nlive) {
		struct pollfd pfd[VHK_NET_MAX_PORTS];
		unsigned int np = 0;
		int work = 0;

		for (unsigned int i = 0; i < g->n; i++) {
			struct vhk_net_vu *v = g->m[i];
			int rc;

			if (!live[i])
				continue;
			rc = vhk_backend_poll(v->be, 0);
			if (rc < 0) {
				if (rc != -ESHUTDOWN)
					vhk_log(VHK_LOG_ERR, v->dev.port.name,
						"server: %s", strerror(-rc));
				vhk_backend_poll_end(v->be);
				live[i] = false;
				nlive--;
				continue;
			}
			work += rc;
			pfd[np++] = (struct pollfd){
				.fd = vhk_backend_fd(v->be), .events = POLLIN,
			};
		}
		if (!work && np)
			(void)poll(pfd, np, GROUP_IDLE_MS);
	}
	return NULL;
}

int vhk_net_vu_group_start(struct vhk_net_vu_group *g)
{
	int rc;

	if (!g->n || g->running)
		return 0;
	rc = pthread_create(&g->th, NULL, group_thread, g);
	g->running = rc == 0;
	return -rc;
}

void vhk_net_vu_group_stop(struct vhk_net_vu_group *g)
{
	if (!g->running)
		return;
	for (unsigned int i = 0; i < g->n; i++)
		vhk_backend_stop(g->m[i]->be);
	pthread_join(g->th, NULL);
	g->running = false;
}
