/* SPDX-License-Identifier: MIT */
/*
 * net_tap.h - a tap port: a Linux tap interface opened with IFF_VNET_HDR
 * (12-byte headers, offloads pass through both ways: TUNSETOFFLOAD for
 * what the kernel may hand us, GSO / partial checksums written as they
 * are) and IFF_MULTI_QUEUE for more than one queue.
 */
#ifndef VHK_DEV_NET_TAP_H
#define VHK_DEV_NET_TAP_H

#include <pthread.h>
#include "dev/net/net_switch.h"

struct vhk_net_tap {
	struct vhk_net_port port;
	int fds[VHK_NET_MAX_QUEUES];
	unsigned int nfds;
	unsigned int allowed;	/* offloads the kernel may send us */
	int stopfd;
	pthread_t th;
	bool running;
	uint8_t *buf;		/* one read: header + largest frame */
};

/** vhk_net_tap_open - open (or create) tap @ifname with @queues queues. */
int vhk_net_tap_open(struct vhk_net_tap *t, struct vhk_net_switch *sw,
		     const char *ifname, uint16_t queues, uint16_t mtu);
int vhk_net_tap_start(struct vhk_net_tap *t);
void vhk_net_tap_stop(struct vhk_net_tap *t);
void vhk_net_tap_close(struct vhk_net_tap *t);

#endif /* VHK_DEV_NET_TAP_H */
