/* SPDX-License-Identifier: MIT */
/*
 * net_xdp.h - an AF_XDP port: frames to and from queue 0 of a network
 * interface through an XDP socket (Debian's libxdp: its default XDP
 * program redirects the queue's frames to the socket).  Copy mode with
 * generic (SKB) XDP, so it works on any interface the kernel can attach
 * XDP to - a veth in a network namespace included; no offloads cross it
 * (the switch completes checksums and segments GSO frames in software
 * before they reach this port).
 */
#ifndef VHK_DEV_NET_XDP_H
#define VHK_DEV_NET_XDP_H

#include <pthread.h>
#include "dev/net/net_switch.h"

struct vhk_net_xdp_impl;

struct vhk_net_xdp {
	struct vhk_net_port port;
	struct vhk_net_xdp_impl *x;	/* libxdp state */
	int stopfd;
	pthread_t th;
	bool running;
};

/**
 * vhk_net_xdp_open - an XDP socket on queue 0 of @ifname (which must
 * exist).  Returns 0, or -errno with the reason logged (-EOPNOTSUPP:
 * the kernel lacks AF_XDP; -EPERM: not allowed to load XDP programs).
 */
int vhk_net_xdp_open(struct vhk_net_xdp *p, struct vhk_net_switch *sw,
		     const char *ifname, uint16_t mtu);
int vhk_net_xdp_start(struct vhk_net_xdp *p);
void vhk_net_xdp_stop(struct vhk_net_xdp *p);
void vhk_net_xdp_close(struct vhk_net_xdp *p);

#endif /* VHK_DEV_NET_XDP_H */
