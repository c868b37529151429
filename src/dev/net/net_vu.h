/* SPDX-License-Identifier: MIT */
/* net_vu.h - a vhost-user port: a virtio-net device under its own server
 * thread; the device reaches the server only through its host_start(). */
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

#endif /* VHK_DEV_NET_VU_H */
