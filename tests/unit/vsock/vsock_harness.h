/* SPDX-License-Identifier: MIT */
/*
 * vsock_harness.h - the vsock device driven through real rings in mock
 * guest memory (no vhost-user server): the test is the guest's driver
 * (rx / tx / event queues built with drv_ring.h) and, through Unix
 * sockets in a temporary directory, the host's programs.
 */
#ifndef VHK_TESTS_VSOCK_HARNESS_H
#define VHK_TESTS_VSOCK_HARNESS_H

#include "vhk_test.h"
#include "vhostkit/devq.h"
#include "vhostkit/drv_ring.h"
#include "dev/vsock/vsock_int.h"

#define VH_QSIZE	64
#define VH_NTX		32
#define VH_NRX		64
#define VH_GUEST_BUF	(256u * 1024)	/* buf_alloc the fake guest advertises */

struct vh {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq[VHK_VSOCK_NUM_VQS];
	struct vhk_vq *vq[VHK_VSOCK_NUM_VQS];
	struct vhk_dev_queue devq[VHK_VSOCK_NUM_VQS];	/* device.h contexts */
	struct vhk_vsock *vs;
	uint64_t features;
	char dir[40];
	char uds[80];
	uint32_t cid;
	/* buffer area: tx slots, then rx slots, then event slots */
	uint32_t tx_slot, rx_slot;
	bool tx_busy[VH_NTX];
	bool rx_posted[VH_NRX];
	bool kick[VHK_VSOCK_NUM_VQS];	/* kick_later() asked */
	bool no_repost;			/* vh_recv leaves the buffer used */
	bool defer_tx;			/* vh_send queues: vh_kick_tx() runs */
	/* fake host */
	unsigned int broken, kick_laters;
	int watch_fd;
	/* the guest's receive accounting (what it advertises) */
	uint32_t fwd_cnt;
};

/**
 * vh_setup - mock memory in @mode (fragmented when the run is), the
 * device with guest CID @cid on @hub (may be NULL), rx and tx started,
 * the event queue too if @event.  rx buffers of @rx_size bytes (0: 3776,
 * what Linux posts; fragmented runs use 512).
 */
void vh_setup(struct vh *h, enum vhk_as_mode mode, bool packed, uint32_t cid,
	      struct vhk_vsock_hub *hub, bool event, uint32_t rx_size);

/** vh_teardown - stop, free, check canaries and that nothing broke. */
void vh_teardown(struct vh *h, unsigned int expect_broken);

/** vh_pkt - a header from the guest (src = guest, dst = host). */
struct vsock_pkt vh_pkt(struct vh *h, uint16_t op, uint32_t src_port,
			uint32_t dst_port, uint16_t type);

/** vh_send - put @p (+ @n payload bytes, p->len is set) on tx, kick. */
void vh_send(struct vh *h, struct vsock_pkt *p, const void *data, uint32_t n);

/** vh_kick_tx - process the tx queue (what h->defer_tx queued). */
void vh_kick_tx(struct vh *h);

/** vh_send_bytes - a raw tx chain of @n readable bytes (hostile). */
void vh_send_bytes(struct vh *h, const void *bytes, uint32_t n);

/** vh_post_rx - make @n rx buffers available (posting is kicked). */
void vh_post_rx(struct vh *h, unsigned int n);

/** vh_rx_posted - rx buffers the device has not returned yet. */
unsigned int vh_rx_posted(struct vh *h);

/**
 * vh_recv - one packet the device put on rx: 1 and @p (+ payload into
 * @data, at most @cap bytes), or 0.  The rx buffer is posted again
 * unless h->no_repost.
 */
int vh_recv(struct vh *h, struct vsock_pkt *p, void *data, uint32_t cap);

/**
 * vh_restart_ring - the driver re-initialises ring @idx (as after a guest
 * device reset): stopped, then started fresh.
 */
void vh_restart_ring(struct vh *h, uint16_t idx);

/** vh_poll - run the device's host side once (as the server would). */
void vh_poll(struct vh *h);

/**
 * vh_wait - vh_poll until a packet arrives (1) or @ms pass (0); the
 * packet as vh_recv().
 */
int vh_wait(struct vh *h, struct vsock_pkt *p, void *data, uint32_t cap,
	    unsigned int ms);

/** vh_listen - a host listener at "<uds>_<port>" (@type SOCK_*). */
int vh_listen(struct vh *h, uint32_t port, int type);

/** vh_client - connect to the device's uds path (non-blocking). */
int vh_client(struct vh *h);

/** vh_accept - accept on @lfd within a short wait, or -1. */
int vh_accept(int lfd);

/** vh_read_all - read from @fd until @n bytes or @ms pass (polling @h). */
ssize_t vh_read_some(struct vh *h, int fd, void *buf, size_t n,
		     unsigned int ms);

/** vh_count_fds - open fds of this process. */
int vh_count_fds(void);

#endif /* VHK_TESTS_VSOCK_HARNESS_H */
