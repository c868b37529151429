/* SPDX-License-Identifier: MIT */
/* net_vu.h - a vhost-user port: a virtio-net device with the other
 * vhost-user ports on one shared thread, or under a server thread of its
 * own; the device reaches the server only through its host_start(). */
#ifndef VHK_DEV_NET_VU_H
#define VHK_DEV_NET_VU_H

#include <pthread.h>
#include <string.h>
#include "dev/net/net_dev.h"

struct vhk_net_vu {
	struct vhk_net_dev dev;
	struct vhk_backend *be;
	pthread_t th;
	bool running;
};

/** vhk_net_vu_open - device + server (socket created / connect prepared). */
int vhk_net_vu_open(struct vhk_net_vu *v, struct vhk_net_switch *sw,
		    const char *name, const struct vhk_net_dev_opts *o,
		    const struct vhk_backend_config *cfg);
/** vhk_net_vu_start - run the server on a new thread. */
int vhk_net_vu_start(struct vhk_net_vu *v);
/** vhk_net_vu_stop - stop and join the thread (in-flight chains returned). */
void vhk_net_vu_stop(struct vhk_net_vu *v);
void vhk_net_vu_close(struct vhk_net_vu *v);

/*
 * Ports that share one thread: it runs a pass of each member's server in
 * turn (vhk_backend_poll()), so the ports stop competing for a core, and
 * a frame crosses from one to the other without a thread switch or a
 * wake-up.  When no member has anything to do - no busy-poll member with
 * a started queue, no kick, no frame waiting - the thread sleeps on the
 * servers' fds, which a kick or a frame for a member wakes.
 */
struct vhk_net_vu_group {
	struct vhk_net_vu *m[VHK_NET_MAX_PORTS];
	unsigned int n;
	pthread_t th;
	bool running;
};

/** vhk_net_vu_group_add - @v is served by @g (before the group starts). */
int vhk_net_vu_group_add(struct vhk_net_vu_group *g, struct vhk_net_vu *v);
/** vhk_net_vu_group_start - run the group's thread (no-op when empty). */
int vhk_net_vu_group_start(struct vhk_net_vu_group *g);
/** vhk_net_vu_group_stop - stop every member's server and join. */
void vhk_net_vu_group_stop(struct vhk_net_vu_group *g);

#endif /* VHK_DEV_NET_VU_H */
