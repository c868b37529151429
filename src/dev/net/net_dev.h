/* SPDX-License-Identifier: MIT */
/*
 * net_dev.h - the virtio-net device behind a vhost-user port: queue pairs,
 * TX parsing into switch frames, RX delivery with MRG_RXBUF (VIRTIO 1.2,
 * 5.1).  It sees whoever runs it only through the struct vhk_dev_host
 * its host_start() receives (vhostkit/device.h): the vhost-user server,
 * which then also watches the port's backlog eventfd.
 */
#ifndef VHK_DEV_NET_DEV_H
#define VHK_DEV_NET_DEV_H

#include "vhostkit/backend.h"
#include "dev/net/net_switch.h"

/* Host segments one chain may translate to (pop fails beyond that). */
#define VHK_NET_MAX_IOV		128
/* Popped RX buffers one packet may wait on (MRG_RXBUF: 64 KiB / 1 KiB). */
#define VHK_NET_RX_BUFS	64
#define VHK_NET_RX_BATCH	32
_Static_assert(VHK_NET_RX_BATCH <= VHK_NET_RX_BUFS,
	       "a receive burst uses the iovecs of buf[]");
/* TX frames handed to the switch together. */
#define VHK_NET_TX_BURST	32

/* A receive buffer popped for the packet being delivered. */
struct net_rx_buf {
	struct vhk_chain c;
	bool bad;		/* smaller than a header: returned empty */
};

struct net_rxq {
	struct vhk_vq *vq;
	bool started;
	bool quiet;		/* busy-poll: driver kicks turned off */
	/* Buffers of the packet being delivered (rx_one() only: buffers a
	 * packet cannot use go back to the ring with vhk_vq_unpop(), none
	 * is held between calls). */
	struct net_rx_buf buf[VHK_NET_RX_BUFS];
	struct iovec *iov;		/* VHK_NET_RX_BUFS * VHK_NET_MAX_IOV */
	/* One burst of buffers (rx_burst(): one frame each), on the same
	 * iovecs as buf[]; and their used lengths. */
	struct vhk_chain bc[VHK_NET_RX_BATCH];
	uint32_t blen[VHK_NET_RX_BATCH];
	/* Frames steered to this queue, not delivered yet (FIFO): the lead
	 * queue takes the port's backlog and steers each frame by its flow
	 * hash (VIRTIO 1.2, 5.1.6.5.5: a flow stays on one receive queue). */
	struct vhk_net_pkt *pend, *pend_tail;
	unsigned int npend;
};

struct net_txq {
	struct vhk_vq *vq;
	bool started;
	bool quiet;		/* busy-poll: driver kicks turned off */
	/* One burst of chains (vhk_vq_pop_burst()), chain i on
	 * iov[i * VHK_NET_MAX_IOV ..]. */
	struct vhk_chain c[VHK_NET_TX_BURST];
	struct iovec *iov;	/* VHK_NET_TX_BURST * VHK_NET_MAX_IOV */
};

struct vhk_net_dev_opts {
	uint16_t queues;	/* queue pairs, 1..VHK_NET_MAX_QUEUES */
	uint16_t mtu;		/* 68..65535, default 1500 */
	const uint8_t *mac;	/* NULL: none offered */
	bool poll;		/* busy-poll instead of kicks */
	unsigned int backlog;	/* frames waiting per port; 0 = default */
};

struct vhk_net_dev {
	struct vhk_net_port port;
	struct vhk_dev_host host;	/* host_start() .. host_stop() */
	bool have_host;
	bool efd_watched;		/* host.watch() took port.efd */
	bool poll;
	uint16_t pairs;
	uint64_t acked;
	unsigned int tx_allowed;	/* VHK_NET_OFF_* the guest may request */
	size_t hdr_size;		/* 12 (VERSION_1 / MRG_RXBUF) or 10 */
	bool mrg;
	struct vhk_net_config cfg;
	struct net_rxq rx[VHK_NET_MAX_QUEUES];
	struct net_txq tx[VHK_NET_MAX_QUEUES];
};

extern const struct vhk_device_ops vhk_net_dev_ops;

/** vhk_net_dev_init - a device (and its switch port @name on @sw). */
int vhk_net_dev_init(struct vhk_net_dev *d, struct vhk_net_switch *sw,
		     const char *name, const struct vhk_net_dev_opts *o);
void vhk_net_dev_fini(struct vhk_net_dev *d);

/** vhk_net_dev_announce - inject a RARP from @mac (SEND_RARP). */
void vhk_net_dev_announce(struct vhk_net_dev *d, const uint8_t mac[6]);

#endif /* VHK_DEV_NET_DEV_H */
