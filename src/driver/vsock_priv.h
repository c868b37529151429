/* SPDX-License-Identifier: MIT */
/*
 * vsock_priv.h - internals shared by the userspace vsock driver's engine
 * (vsock.c: queues, packets, events) and its sockets (vsock_sock.c:
 * connection state machine, credit, the public socket calls).
 */
#ifndef VHK_DRIVER_VSOCK_PRIV_H
#define VHK_DRIVER_VSOCK_PRIV_H

#include "vhostkit/drv_ring.h"
#include "vhostkit/frontend.h"
#include "vhostkit/util.h"
#include "vhostkit/vsock_driver.h"

#define VSOCK_WHO	"vsockdrv"
#define EVENT_BUFS	8
#define EVENT_STRIDE	64	/* one event buffer per cache line */
#define CLOSE_LINGER_NS	(2000ull * 1000000ull)	/* wait for the peer's RST */

enum conn_state {
	CONN_CONNECTING,	/* REQUEST sent, waiting for RESPONSE */
	CONN_ESTABLISHED,
	CONN_CLOSING,		/* user closed: SHUTDOWN sent, waiting for RST */
	CONN_DEAD,		/* reset or closed: no packets any more */
};

struct vhk_vsock_conn {
	struct vhk_vsock_drv *d;
	enum conn_state state;
	uint16_t type;
	uint32_t lport, pport;
	uint64_t pcid;
	int err;			/* -errno that ended it, or 0 */
	bool user_closed;		/* the handle is gone (free on DEAD) */
	bool in_backlog;		/* accepted, not yet taken by accept() */
	uint64_t linger_deadline;	/* CONN_CLOSING: send RST after it */
	uint32_t peer_shut;		/* SHUTDOWN flags the peer sent */
	uint32_t our_shut;		/* SHUTDOWN flags we sent */
	/* receive side: a ring of buf_alloc bytes (our credit) */
	uint8_t *rbuf;
	uint32_t rcap, rhead, rlen;
	uint32_t rx_cnt, fwd_cnt;	/* free-running (VIRTIO 1.2, 5.10.6.3) */
	uint32_t fwd_sent;		/* fwd_cnt last told to the peer */
	bool credit_update_due;
	/* STREAM recv() in progress: payload goes straight to its buffer
	 * while rbuf is empty (vsock_sock.c, rx_payload) */
	uint8_t *direct;
	uint32_t direct_room, direct_got;
	/* SEQPACKET: lengths of complete messages in rbuf, FIFO */
	uint32_t *msgs;
	unsigned int msg_head, nmsgs, msg_cap;
	uint32_t msg_partial;		/* bytes of the message being received */
	/* send side */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	bool credit_requested;		/* CREDIT_REQUEST sent in this stall */
};

struct listener {
	uint32_t port;
	uint16_t type;
	unsigned int backlog;
};

struct rxbuf {
	uint8_t *host;
	uint64_t addr;
	bool posted;		/* mapped and on the ring */
};

struct txslot {
	uint8_t *host;
	uint64_t addr;
	uint32_t maplen;	/* mapped bytes while in flight, 0 when free */
};

struct vhk_vsock_drv {
	struct vhk_fe *fe;
	uint64_t features;
	uint64_t guest_cid;
	struct vhk_vsock_drv_params p;
	struct vhk_drv_vq *rxq, *txq, *evq;
	struct rxbuf *rx;
	unsigned int nrx;
	struct txslot *tx;
	unsigned int *tx_free;
	unsigned int ntx_free;
	uint8_t *ev_area;
	uint64_t ev_addr[EVENT_BUFS];
	bool ev_posted[EVENT_BUFS];
	bool rx_kick_due, tx_kick_due, ev_kick_due;
	/* queues whose call eventfd poll() found signalled: emptied before
	 * the next sleep rather than between the wake-up and the packets
	 * (by index: the fd is looked up again then) */
	uint16_t undrained[3];
	unsigned int nundrained;
	/* the call eventfds in an epoll set of their own, edge-triggered:
	 * a sleep is one epoll_wait() and no read (vsock.c, sleep_fds);
	 * -1: poll() them (and empty them) instead */
	int epfd;
	/* control packets waiting for a tx slot */
	struct vhk_vsock_hdr *ctrl;
	unsigned int ctrl_head, nctrl, ctrl_cap;
	/* connections and listeners */
	struct vhk_vsock_conn **conns;
	unsigned int nconns, conns_cap;
	struct listener *lst;
	unsigned int nlst;
	uint32_t next_port;
	bool broken;
	struct vhk_vsock_drv_stats st;
	struct vhk_ratelimit rl;
};

/* vsock.c: the engine */
int vsk_engine(struct vhk_vsock_drv *d, int timeout_ms);
int vsk_send_ctrl(struct vhk_vsock_drv *d, const struct vhk_vsock_hdr *h);
int vsk_try_send_rw(struct vhk_vsock_drv *d, struct vhk_vsock_hdr *h,
		    const void *payload, uint32_t len);
uint64_t vsk_deadline(int timeout_ms);

/* vsock_sock.c: connections */
void vsk_handle_packet(struct vhk_vsock_drv *d, const struct vhk_vsock_hdr *h,
		       const uint8_t *payload, uint32_t len);
void vsk_reset_all(struct vhk_vsock_drv *d, int err, bool spare_connecting);
void vsk_housekeeping(struct vhk_vsock_drv *d);
void vsk_fill_hdr(const struct vhk_vsock_conn *c, struct vhk_vsock_hdr *h,
		  uint16_t op, uint32_t flags, uint32_t len);
void vsk_conns_free(struct vhk_vsock_drv *d);

#endif /* VHK_DRIVER_VSOCK_PRIV_H */
