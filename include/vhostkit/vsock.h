/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/vsock.h - the virtio socket device (VIRTIO 1.2, 5.10) with the
 * hybrid host side: guest AF_VSOCK connections become host Unix sockets.
 *
 *  - host -> guest: a host program connects to @uds_path and writes
 *    "CONNECT <port>\n"; once the guest accepted it reads "OK <hostport>\n"
 *    and the socket carries the stream; a refused connection is closed.
 *  - guest -> host: a guest connecting to CID 2 port P reaches the Unix
 *    socket "<uds_path>_<P>" (SOCK_STREAM, or SOCK_SEQPACKET for a
 *    seqpacket vsock).
 *  - sibling VMs: devices created on one hub (one daemon) reach each other
 *    by CID when they share a group; packets are forwarded as they are,
 *    credit stays end-to-end between the two guests.
 *
 * Flow control is the spec's credit (VIRTIO 1.2, 5.10.6.3): toward the
 * guest the device never sends more than the guest's credit and reads a
 * host socket only when it may forward what it reads; from the guest it
 * accepts at most @tx_buffer_size bytes per connection that the host has
 * not read yet (its buf_alloc), so memory per connection is bounded.  The
 * tx queue is processed even when rx is full (5.10.6.1): replies wait in
 * bounded per-connection flags and a bounded reset queue.
 *
 * Threads: one device is driven by one thread (its server's loop).
 * Devices on one hub may run on different threads: they only meet in the
 * hub's mailboxes, under the hub's lock.
 *
 * Usage (one VM):
 *	vhk_vsock_hub_new(&hub);
 *	vhk_vsock_new(&vs, hub, &opts);
 *	vhk_backend_new(&be, &cfg, &vhk_vsock_ops, vs);
 *	vhk_backend_run(be);
 *	vhk_backend_free(be); vhk_vsock_free(vs); vhk_vsock_hub_free(hub);
 */
#ifndef VHOSTKIT_VSOCK_H
#define VHOSTKIT_VSOCK_H

#include "vhostkit/api.h"
#include "vhostkit/backend.h"
#include "vhostkit/virtio_vsock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VHK_VSOCK_DEFAULT_BUF_SIZE	(256u * 1024)	/* tx-buffer-size */
#define VHK_VSOCK_MAX_BUF_SIZE		(64u * 1024 * 1024)
#define VHK_VSOCK_MAX_GROUPS		16
#define VHK_VSOCK_MAX_CONNS		4096	/* per device */
#define VHK_VSOCK_MAX_VMS		64	/* per hub */

struct vhk_vsock;
struct vhk_vsock_hub;

struct vhk_vsock_opts {
	uint64_t guest_cid;	/* see vhk_vsock_cid_check() */
	const char *uds_path;	/* host side; required */
	uint32_t tx_buffer_size; /* per connection, guest->host; 0 = default */
	uint16_t queue_size;	/* largest vring accepted; 0 = 32768 */
	/* groups, '+'-separated ("a+b"); NULL or "" = "default" */
	const char *groups;
	const char *name;	/* log prefix; NULL = "vsock<cid>" */
};

/* Counters; every drop and every reset the device decides has one. */
struct vhk_vsock_stats {
	uint64_t tx_packets;		/* guest -> device packets handled */
	uint64_t rx_packets;		/* device -> guest packets delivered */
	uint64_t tx_bytes;		/* payload the host side accepted */
	uint64_t rx_bytes;		/* payload delivered to the guest */
	uint64_t drop_short_hdr;	/* tx chain shorter than 44 bytes */
	uint64_t drop_bad_chain;	/* tx chain with device-writable parts */
	uint64_t drop_spoofed_cid;	/* src_cid is not the guest's CID */
	uint64_t drop_unreachable;	/* dst_cid neither host nor sibling */
	uint64_t rst_malformed;		/* bad op/type/len: RST sent */
	uint64_t rst_unknown_conn;	/* packet for no connection: RST */
	uint64_t rst_no_listener;	/* guest connect to a missing socket */
	uint64_t rst_credit;		/* guest ignored our credit: RST */
	uint64_t rst_other;		/* host side gone, timeouts, limits */
	uint64_t rstq_overflow;		/* reset replies dropped (queue full) */
	uint64_t rx_bad_buffer;		/* rx buffer too short / read-only */
	uint64_t conns_opened;		/* connections established */
	uint64_t conns_open;		/* now */
	uint64_t host_clients;		/* accepted on uds_path */
	uint64_t host_bad_connect;	/* bad/slow CONNECT lines: closed */
	uint64_t host_refused;		/* guest refused a host connect */
	uint64_t sibling_fwd;		/* packets forwarded to a sibling */
	uint64_t sibling_drop;		/* sibling mailbox full / gone */
	uint64_t events;		/* TRANSPORT_RESET events posted */
};

/**
 * vhk_vsock_cid_check - 0 if @cid may be a guest's CID; -EINVAL for the
 * reserved ones (0, 1, 2, 0xffffffff, VIRTIO 1.2 5.10.4) and -ERANGE for
 * values above 32 bits.  *@why (if not NULL) gets a sentence for the user.
 */
VHK_API
int vhk_vsock_cid_check(uint64_t cid, const char **why);

/** vhk_vsock_hub_new - an empty hub (one per daemon).  0 or -ENOMEM. */
VHK_API
int vhk_vsock_hub_new(struct vhk_vsock_hub **out);

/** vhk_vsock_hub_free - free @hub after every device on it. */
VHK_API
void vhk_vsock_hub_free(struct vhk_vsock_hub *hub);

/**
 * vhk_vsock_new - a device on @hub: checks the CID (unique on the hub),
 * binds and listens on @o->uds_path (replacing a stale socket file).
 * Returns 0 and *@out; -EINVAL (options, CID), -EEXIST (CID taken),
 * -ENAMETOOLONG (path), -ENOSPC (hub full) or -errno.
 */
VHK_API
int vhk_vsock_new(struct vhk_vsock **out, struct vhk_vsock_hub *hub,
		  const struct vhk_vsock_opts *o);

/** vhk_vsock_free - close every connection, remove @uds_path; NULL ok. */
VHK_API
void vhk_vsock_free(struct vhk_vsock *vs);

/*
 * The device's callbacks for vhk_backend_new().  Its host_start() asks
 * the server to watch the host side's sockets (one epoll fd), so
 * vhk_backend_new() is all it takes; one device runs under one server at
 * a time.
 */
VHK_API
extern const struct vhk_device_ops vhk_vsock_ops;

/** vhk_vsock_get_stats - copy the counters. */
VHK_API
void vhk_vsock_get_stats(const struct vhk_vsock *vs,
			 struct vhk_vsock_stats *st);

/** vhk_vsock_guest_cid - the configured CID. */
VHK_API
uint32_t vhk_vsock_guest_cid(const struct vhk_vsock *vs);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VSOCK_H */
