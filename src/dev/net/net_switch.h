/* SPDX-License-Identifier: MIT */
/*
 * net_switch.h - the learning L2 switch of vhostkit-net, its ports, and
 * the packets that travel between them.
 *
 * Threads.  Every port runs on its own thread (a vhost-user server loop, a
 * tap loop).  A port hands a frame to the switch with vhk_net_switch_input()
 * (or a burst of them with vhk_net_switch_input_burst()) on its own
 * thread; the switch learns the source MAC, picks the output
 * ports, carries out in software the offloads an output port cannot take
 * (checksum, segmentation: vhk_net_port.caps), and appends a copy to each
 * output port's backlog (bounded, mutex-protected), waking the port's
 * thread through its eventfd (not a busy-polled port's: its owner looks at
 * the backlog on every pass).  The owner thread drains its backlog with
 * vhk_net_backlog_take() and puts the frames on its wire.  A port whose
 * peer stops taking frames (a guest that never refills RX) fills its own
 * backlog and drops with a counter; no other port waits for it.
 *
 * Counters are atomics: written by the owner thread (or, for backlog
 * drops, by senders) and read by the control socket at any time.
 */
#ifndef VHK_DEV_NET_SWITCH_H
#define VHK_DEV_NET_SWITCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dev/net/net_offload.h"
#include "dev/net/net_pkt.h"

#define VHK_NET_MAX_PORTS	64
#define VHK_NET_MAX_QUEUES	16	/* queue pairs per port */
#define VHK_NET_BACKLOG_DEFAULT	1024	/* frames waiting for one port */
/* MAC table: sets x ways entries; a full set evicts its oldest entry. */
#define VHK_NET_MAC_SETS	1024
#define VHK_NET_MAC_WAYS	4
#define VHK_NET_MAC_AGE_NS	(300ull * 1000000000ull)

enum vhk_net_port_kind {
	VHK_NET_PORT_VHOST_USER,
	VHK_NET_PORT_TAP,
	VHK_NET_PORT_XDP,
	VHK_NET_PORT_TEST,
};

struct vhk_net_counters {
	_Atomic uint64_t in_packets;	/* frames from the port's peer */
	_Atomic uint64_t in_bytes;
	_Atomic uint64_t out_packets;	/* frames put on the port's wire */
	_Atomic uint64_t out_bytes;
	_Atomic uint64_t sw_csum;	/* checksums completed for it */
	_Atomic uint64_t sw_segments;	/* segments cut for it */
	_Atomic uint64_t drops[VHK_NET_DROP__COUNT];
};

/* Per queue pair counters (vhost-user / multi-queue tap). */
struct vhk_net_qcounters {
	_Atomic uint64_t rx_packets;	/* put into the peer's receive queue */
	_Atomic uint64_t rx_bytes;
	_Atomic uint64_t tx_packets;	/* taken from the peer's transmit queue */
	_Atomic uint64_t tx_bytes;
};

/* Token bucket (bytes/s and packets/s; 0 = unlimited). */
struct vhk_net_rate {
	uint64_t bytes_per_s;
	uint64_t pkts_per_s;
	double btok, ptok;	/* tokens now */
	uint64_t last_ns;
};

struct vhk_net_switch;

/* A port's input thread's copy of one MAC table answer (net_switch.c). */
struct vhk_net_mac_memo {
	uint8_t mac[6];
	bool valid;
	int port;		/* destination memo: the port, -1 = flood */
	uint64_t gen;		/* sw->gen the answer was read at */
	uint64_t ns;		/* source: learnt at; destination: valid until */
};

struct vhk_net_port {
	char name[32];
	enum vhk_net_port_kind kind;
	unsigned int idx;
	struct vhk_net_switch *sw;
	uint8_t mac[6];			/* device MAC (config space, RARP) */
	bool has_mac;
	uint16_t mtu;
	uint16_t queues;		/* queue pairs */
	/* VHK_NET_OFF_* the port's receiver takes (guest acked GUEST_*,
	 * tap offloads); anything else is done in software for it. */
	_Atomic unsigned int caps;
	_Atomic bool up;		/* a peer is attached and receiving */
	/* backlog: frames waiting for this port's thread */
	pthread_mutex_t lock;
	struct vhk_net_pkt *head, *tail;
	unsigned int count, limit;
	/* count != 0, stored under @lock: a look at an empty backlog (every
	 * pass of a polling owner) takes no lock. */
	_Atomic bool nonempty;
	int efd;			/* eventfd: backlog became non-empty */
	/* The owner busy-polls its backlog: senders never write efd. */
	bool polled;
	/* efd was written since the owner last read it: the owner reads
	 * the eventfd only then, not on every backlog look. */
	_Atomic bool efd_armed;
	struct vhk_net_rate rate;	/* ingress policing */
	/* The input thread's memos of its last source learnt and its last
	 * destination looked up (only that thread uses them): they stand
	 * for the table while sw->gen is unchanged. */
	struct vhk_net_mac_memo src_memo, dst_memo;
	struct vhk_net_counters c;
	struct vhk_net_qcounters q[VHK_NET_MAX_QUEUES];
	void *priv;			/* the port implementation */
};

struct vhk_net_mac_entry {
	uint8_t mac[6];
	uint16_t port;
	bool used;
	uint64_t seen_ns;
};

struct vhk_net_switch {
	pthread_mutex_t lock;		/* MAC table */
	struct vhk_net_mac_entry mac[VHK_NET_MAC_SETS][VHK_NET_MAC_WAYS];
	unsigned int nmacs;
	struct vhk_net_port *ports[VHK_NET_MAX_PORTS];
	unsigned int nports;
	_Atomic uint64_t learned, evicted, moved, flooded;
	/* Bumped (under lock) whenever an address starts or stops meaning
	 * a port: a new, moved, evicted or revived entry. */
	_Atomic uint64_t gen;
	uint64_t (*now_ns)(void);	/* clock (tests replace it) */
};

/** vhk_net_switch_init - an empty switch. */
int vhk_net_switch_init(struct vhk_net_switch *sw);
/** vhk_net_switch_fini - free the switch; ports are finished by their owners. */
void vhk_net_switch_fini(struct vhk_net_switch *sw);

/**
 * vhk_net_port_init - set up @p (name, kind, backlog @limit, eventfd) and
 * attach it to @sw.  Ports are added before any port thread starts.
 * Returns 0, -ENOSPC (too many ports) or -errno.
 */
int vhk_net_port_init(struct vhk_net_switch *sw, struct vhk_net_port *p,
		      const char *name, enum vhk_net_port_kind kind,
		      unsigned int limit);
void vhk_net_port_fini(struct vhk_net_port *p);

/**
 * vhk_net_switch_input - frame @pkt (its meta validated) arrived from port
 * @in: police it, learn its source, deliver it.  Takes ownership of @pkt.
 */
void vhk_net_switch_input(struct vhk_net_switch *sw, struct vhk_net_port *in,
			  struct vhk_net_pkt *pkt);

/**
 * vhk_net_switch_input_burst - vhk_net_switch_input() of @n frames @pkts
 * from @in, in order: one clock read, and one backlog append (one lock,
 * at most one wake-up) per output port.  Frames for one output keep
 * their order.  Takes ownership of every frame.  Called only by @in's
 * input thread (like vhk_net_switch_input()).
 */
void vhk_net_switch_input_burst(struct vhk_net_switch *sw,
				struct vhk_net_port *in,
				struct vhk_net_pkt **pkts, unsigned int n);

/**
 * vhk_net_backlog_take - the owner thread takes up to @max frames queued
 * for @p (oldest first, a NULL-terminated list); clears the eventfd.
 */
struct vhk_net_pkt *vhk_net_backlog_take(struct vhk_net_port *p,
					 unsigned int max);

/** vhk_net_backlog_putback - return untaken frames @list to the head. */
void vhk_net_backlog_putback(struct vhk_net_port *p, struct vhk_net_pkt *list);

/** vhk_net_backlog_flush - drop every frame queued for @p (port down). */
void vhk_net_backlog_flush(struct vhk_net_port *p);

/** vhk_net_count_drop - count one dropped frame of @p for @reason. */
void vhk_net_count_drop(struct vhk_net_port *p, enum vhk_net_drop reason);

/** vhk_net_cnt_add - add @v to a counter (relaxed; any thread). */
static inline void vhk_net_cnt_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t vhk_net_cnt_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/** vhk_net_rate_set - police @p to @bytes_per_s / @pkts_per_s (0 = none). */
void vhk_net_rate_set(struct vhk_net_port *p, uint64_t bytes_per_s,
		      uint64_t pkts_per_s);

/** vhk_net_flow_hash - hash of @pkt's addresses (RX queue choice). */
uint32_t vhk_net_flow_hash(const uint8_t *frame, size_t len);

/** vhk_net_switch_stats - write every counter of @sw as text lines to @out. */
void vhk_net_switch_stats(struct vhk_net_switch *sw, FILE *out);

/** vhk_net_rarp_frame - a RARP announcement from @mac into @buf (60 bytes). */
size_t vhk_net_rarp_frame(const uint8_t mac[6], uint8_t *buf);

/** vhk_net_mac_lookup - port index learnt for @mac, or -1. */
int vhk_net_mac_lookup(struct vhk_net_switch *sw, const uint8_t mac[6]);

#endif /* VHK_DEV_NET_SWITCH_H */
