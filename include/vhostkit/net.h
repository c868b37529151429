/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/net.h - vhostkit-net: a learning L2 switch whose ports are
 * vhost-user virtio-net devices (VIRTIO 1.2, 5.1) and host interfaces
 * (tap).  See docs/vhostkit-net.md.
 *
 * Usage:
 *	vhk_net_new(&n);
 *	vhk_net_port_parse("socket=/run/vm0.sock,queues=2", &po, err, len);
 *	vhk_net_add_port(n, &po);		(for every port)
 *	vhk_net_run(n, "/run/vhostkit-net.ctl");	(until vhk_net_stop())
 *	vhk_net_free(n);
 *
 * Every port runs on its own thread; frames cross between ports through
 * bounded per-port backlogs (a port whose peer stops receiving drops its
 * own frames, counted, and slows nobody else).  The control socket
 * answers "stats" with one line per switch, port and queue pair.
 */
#ifndef VHOSTKIT_NET_H
#define VHOSTKIT_NET_H

#include <stdio.h>
#include "vhostkit/api.h"
#include "vhostkit/backend.h"
#include "vhostkit/virtio_net.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vhk_net_port_type {
	VHK_NET_PT_SOCKET,	/* vhost-user socket */
	VHK_NET_PT_TAP,		/* tap interface (IFF_VNET_HDR) */
	VHK_NET_PT_XDP,		/* AF_XDP socket on queue 0 of an interface */
};

struct vhk_net_port_opts {
	enum vhk_net_port_type type;
	char path[108];		/* socket path or interface name */
	bool client;		/* socket: connect (and reconnect) */
	bool has_mac;
	uint8_t mac[6];
	uint16_t queues;	/* queue pairs, 1..16 (default 1) */
	uint16_t mtu;		/* default 1500 */
	uint64_t rate_bytes;	/* ingress bytes/s, 0 = unlimited */
	uint64_t rate_pkts;	/* ingress packets/s, 0 = unlimited */
	bool poll;		/* busy-poll the rings */
	unsigned int backlog;	/* frames waiting for the port (default 1024) */
	enum vhk_iommu_policy iommu;
	/* socket: accept on @listen_fd, an already listening Unix stream
	 * socket (--fd, systemd socket activation; owned by the port from
	 * vhk_net_add_port() on), instead of creating @path. */
	bool adopt_listen_fd;
	int listen_fd;
	/* socket, not poll: the port's server on a thread of its own.  By
	 * default every vhost-user port runs on one shared thread, where a
	 * frame crosses from port to port without a thread switch; a port
	 * of its own spreads ports over cores instead. */
	bool own_thread;
};

struct vhk_net;

/**
 * vhk_net_port_parse - parse a --port value: "socket=PATH[,client]
 * [,mac=XX:..][,queues=N][,mtu=N][,rate=BYTES][,pps=N][,poll|,thread]
 * [,backlog=N][,iommu=auto|on|off]" or "tap=NAME[,queues=N][,mtu=N]
 * [,rate=..][,pps=..]".  Sizes take k/M/G suffixes (powers of 1000).
 * Returns 0, or -EINVAL with a message in @err.
 */
VHK_API
int vhk_net_port_parse(const char *spec, struct vhk_net_port_opts *o,
		       char *err, size_t errlen);

/** vhk_net_new - an empty switch.  0 or -errno. */
VHK_API
int vhk_net_new(struct vhk_net **out);

/** vhk_net_add_port - create port @o (socket / tap opened now).  0 or -errno. */
VHK_API
int vhk_net_add_port(struct vhk_net *n, const struct vhk_net_port_opts *o);

/**
 * vhk_net_port_backend - the vhost-user server of port @i (in the order
 * added), for its counters (vhk_backend_get_stats()); NULL for a tap
 * port or an index out of range.
 */
VHK_API
struct vhk_backend *vhk_net_port_backend(struct vhk_net *n, unsigned int i);

/**
 * vhk_net_stats_text - what the control socket answers to "stats" (one
 * key=value line per switch, port and queue pair), written to @out.  Any
 * thread, while the switch exists.
 */
VHK_API
void vhk_net_stats_text(struct vhk_net *n, FILE *out);

/**
 * vhk_net_run - start every port's thread and the control socket at
 * @control_path (NULL: none), block until vhk_net_stop(), join the
 * threads.  Returns 0 or -errno (control socket setup).
 */
VHK_API
int vhk_net_run(struct vhk_net *n, const char *control_path);

/** vhk_net_stop - make vhk_net_run() return; async-signal-safe. */
VHK_API
void vhk_net_stop(struct vhk_net *n);

/** vhk_net_free - close every port; NULL is a no-op. */
VHK_API
void vhk_net_free(struct vhk_net *n);

/**
 * vhk_net_ctl_query - send @cmd ("stats") to the control socket at @path
 * and copy the answer to @out.  Returns 0 or -errno.
 */
VHK_API
int vhk_net_ctl_query(const char *path, const char *cmd, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_NET_H */
