/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/vsock_driver.h - a userspace virtio-vsock driver (the guest's
 * role, VIRTIO 1.2 5.10) over the front-end library.
 *
 * It lets tests and benchmarks talk to a vsock device (vhostkit-vsock)
 * without a VM: the driver owns the rx, tx and event queues of a started
 * struct vhk_fe and gives connection-oriented sockets on top of them:
 * STREAM and SEQPACKET, connect / listen / accept, send / recv, half-close
 * (shutdown), credit flow control (VIRTIO 1.2, 5.10.6.3) and RST.  Every
 * buffer the device sees goes through the front-end's DMA API, so the
 * direct, iommu and bounce modes are the front-end's business.
 *
 * rx buffers are single device-writable descriptors of rx_buf_size bytes,
 * header included (as Linux posts them); tx packets are one readable
 * descriptor, header then payload.  Nothing the device writes is trusted:
 * a used length shorter than a header, a header whose len does not fit the
 * used length, a packet for the wrong CID, or an RW beyond the credit the
 * driver gave is dropped and counted (protocol violations on a connection
 * reset it).
 *
 * The event queue (index 2) is used when the front-end set up three queues:
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET resets every connection (ECONNRESET)
 * and re-reads guest_cid (VIRTIO 1.2, 5.10.6.7).
 *
 * Progress: one thread drives one driver.  Every blocking call runs the
 * driver's engine (rx, tx completions, events, the front-end's back-end
 * channel) while it waits, so a single thread can hold many connections.
 * Errors are negative errno values.
 */
#ifndef VHOSTKIT_VSOCK_DRIVER_H
#define VHOSTKIT_VSOCK_DRIVER_H

#include "vhostkit/api.h"
#include <stddef.h>
#include <sys/types.h>

#include "vhostkit/virtio_vsock.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_fe;
struct vhk_vsock_drv;
struct vhk_vsock_conn;

struct vhk_vsock_drv_params {
	uint32_t rx_buf_size;	/* bytes per rx buffer, header included;
				 * 0 = 4096; at least 44 + 1 */
	unsigned int rx_bufs;	/* rx buffers posted; 0 = the ring size */
	uint32_t tx_max;	/* payload bytes per tx packet; 0 = 65536 */
	unsigned int tx_slots;	/* tx packets in flight; 0 = 16 */
	uint32_t buf_alloc;	/* per-connection receive buffer announced
				 * as credit; 0 = 256 KiB */
	bool busy_poll;		/* spin on the rings instead of sleeping on
				 * the call eventfds */
	unsigned int poll_us;	/* without busy_poll: each wait first
				 * spins on the rings for up to this many
				 * microseconds, then sleeps (the trade of
				 * Linux's SO_BUSY_POLL: no wake-up on a
				 * busy connection, no CPU when idle);
				 * 0 = sleep at once */
};

/**
 * vhk_vsock_drv_features - the virtio feature bits this driver asks for:
 * VERSION_1, VSOCK_F_SEQPACKET, EVENT_IDX, plus RING_PACKED when @packed.
 */
VHK_API
uint64_t vhk_vsock_drv_features(bool packed);

/**
 * vhk_vsock_drv_new - a vsock driver on @fe, started (vhk_fe_start())
 * with vhk_vsock_drv_features() and at least 2 queues (3 for events).
 * Reads guest_cid (GET_CONFIG: the CONFIG protocol feature is required),
 * refuses a reserved CID (VIRTIO 1.2, 5.10.4), posts the rx and event
 * buffers and kicks.  Returns 0 and *@out; -ENODEV (no VERSION_1, no
 * config, fewer than 2 queues), -EPROTO (reserved guest_cid), -EINVAL,
 * -ENOMEM or the front-end's error.  The driver does not own @fe.
 */
VHK_API
int vhk_vsock_drv_new(struct vhk_vsock_drv **out, struct vhk_fe *fe,
		      const struct vhk_vsock_drv_params *p);

/**
 * vhk_vsock_drv_free - forget every connection (without telling the
 * device), unmap and free the driver's buffers.  Call it when the device
 * can no longer use them: after vhk_fe_reset() / vhk_fe_stop(), or right
 * before vhk_fe_close().  After vhk_fe_reset() make a new driver.  NULL is
 * a no-op.
 */
VHK_API
void vhk_vsock_drv_free(struct vhk_vsock_drv *d);

/** vhk_vsock_drv_guest_cid - our CID as the device configured it. */
VHK_API
uint64_t vhk_vsock_drv_guest_cid(const struct vhk_vsock_drv *d);

/** vhk_vsock_drv_has_events - true if the event queue is driven. */
VHK_API
bool vhk_vsock_drv_has_events(const struct vhk_vsock_drv *d);

/**
 * vhk_vsock_drv_poll - run the engine once: wait up to @timeout_ms (0: no
 * wait, -1: forever) for the device, then handle every used rx / tx /
 * event buffer and back-end channel message, and flush pending control
 * packets.  Returns the number of packets and events handled (>= 0), or
 * -ECONNRESET (the back-end went away) / -EPROTO (a corrupt ring).
 */
VHK_API
int vhk_vsock_drv_poll(struct vhk_vsock_drv *d, int timeout_ms);

/**
 * vhk_vsock_drv_resync - after vhk_fe_reconnect() to a restarted back-end:
 * every connection is reset (ECONNRESET; the new back-end knows none of
 * them) and the next kick is always sent.  Returns 0.
 */
VHK_API
int vhk_vsock_drv_resync(struct vhk_vsock_drv *d);

/**
 * vhk_vsock_connect - connect to @cid:@port (type VHK_VSOCK_TYPE_STREAM or
 * _SEQPACKET) from a fresh local port and wait up to @timeout_ms for the
 * RESPONSE.  Returns 0 and *@out; -ECONNRESET (RST: nobody listens),
 * -ETIMEDOUT, -EOPNOTSUPP (SEQPACKET not negotiated), or an engine error.
 */
VHK_API
int vhk_vsock_connect(struct vhk_vsock_drv *d, uint64_t cid, uint32_t port,
		      uint16_t type, int timeout_ms,
		      struct vhk_vsock_conn **out);

/**
 * vhk_vsock_listen - accept connection requests of @type to @port (up to
 * @backlog waiting).  Requests to ports nobody listens on get RST.
 * Returns 0, -EADDRINUSE, -EINVAL.
 */
VHK_API
int vhk_vsock_listen(struct vhk_vsock_drv *d, uint32_t port, uint16_t type,
		     unsigned int backlog);

/**
 * vhk_vsock_accept - the next established connection to @port, waiting
 * up to @timeout_ms.  Returns 0 and *@out, -ETIMEDOUT, -EINVAL (not
 * listening), or an engine error.
 */
VHK_API
int vhk_vsock_accept(struct vhk_vsock_drv *d, uint32_t port, int timeout_ms,
		     struct vhk_vsock_conn **out);

/**
 * vhk_vsock_send - STREAM: send up to @len bytes as the peer's credit
 * allows, waiting up to @timeout_ms for credit; returns the bytes queued
 * (> 0).  SEQPACKET: one message (at most 64 KiB + the last packet EOM),
 * all or nothing.  Returns -EPIPE after our or the peer's shutdown of this
 * direction, -ECONNRESET after RST, -ETIMEDOUT, -EMSGSIZE.
 */
VHK_API
ssize_t vhk_vsock_send(struct vhk_vsock_conn *c, const void *buf, size_t len,
		       int timeout_ms);

/**
 * vhk_vsock_recv - STREAM: up to @len bytes; SEQPACKET: one message (the
 * rest of a longer one is dropped, *@flags gets MSG_TRUNC).  Waits up to
 * @timeout_ms.  Returns the bytes read, 0 at EOF (the peer shut down its
 * send side and everything was read), -ECONNRESET, -ETIMEDOUT.
 * @flags may be NULL.
 */
VHK_API
ssize_t vhk_vsock_recv(struct vhk_vsock_conn *c, void *buf, size_t len,
		       int timeout_ms, int *flags);

/**
 * vhk_vsock_shutdown - half-close: @how is VHK_VSOCK_SHUTDOWN_SEND (we send
 * no more: the peer reads EOF) and/or _RCV.  Returns 0 or -ECONNRESET.
 */
VHK_API
int vhk_vsock_shutdown(struct vhk_vsock_conn *c, uint32_t how);

/**
 * vhk_vsock_close - shut both directions down and forget the connection
 * (a later RST from the peer is ignored).  NULL is a no-op.
 */
VHK_API
void vhk_vsock_close(struct vhk_vsock_conn *c);

/** vhk_vsock_conn_ports - local and peer port. */
VHK_API
void vhk_vsock_conn_ports(const struct vhk_vsock_conn *c, uint32_t *local,
			  uint32_t *peer);

/** vhk_vsock_conn_error - 0, or the -errno that ended the connection. */
VHK_API
int vhk_vsock_conn_error(const struct vhk_vsock_conn *c);

struct vhk_vsock_drv_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_bytes, tx_bytes;		/* RW payload */
	uint64_t rst_rx, rst_tx;
	uint64_t credit_updates_tx, credit_requests_tx;
	uint64_t transport_resets;		/* events received */
	uint64_t dropped;			/* malformed / wrong CID */
	uint64_t rx_unused;			/* rx buffers given back with
						 * nothing written (reposted) */
	uint64_t credit_violations;		/* RW beyond our credit */
};

/** vhk_vsock_drv_stats - counters since vhk_vsock_drv_new(). */
VHK_API
void vhk_vsock_drv_stats(const struct vhk_vsock_drv *d,
			 struct vhk_vsock_drv_stats *st);

/*
 * The host side of a hybrid vsock daemon (vhostkit-vsock, Firecracker and
 * cloud-hypervisor use the same convention), over Unix sockets only.
 */

/**
 * vhk_vsock_hybrid_connect - connect to the daemon's @uds_path, send
 * "CONNECT <port>\n" and wait up to @timeout_ms for "OK <host port>\n".
 * Returns the connected Unix socket (blocking, CLOEXEC) with the host
 * port in *@host_port (may be NULL); -ECONNREFUSED when the daemon closed
 * the socket (the guest refused), -ETIMEDOUT, -EPROTO for another answer,
 * or -errno.
 */
VHK_API
int vhk_vsock_hybrid_connect(const char *uds_path, uint32_t port,
			     int timeout_ms, uint32_t *host_port);

/**
 * vhk_vsock_hybrid_listen - listen on "<uds_path>_<port>", where the
 * daemon connects when the guest connects to CID 2 port @port; @seqpacket
 * for SOCK_SEQPACKET.  A stale socket file is replaced.  Returns the
 * listening fd (CLOEXEC) or -errno.
 */
VHK_API
int vhk_vsock_hybrid_listen(const char *uds_path, uint32_t port,
			    bool seqpacket);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_VSOCK_DRIVER_H */
