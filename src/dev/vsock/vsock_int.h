/* SPDX-License-Identifier: MIT */
/*
 * vsock_int.h - the virtio-vsock device's private state, shared by its
 * files (one job each):
 *   pkt.c      copy a packet header out of a chain once, validate the copy
 *   conn.c     the connection table (lookup, ports, free)
 *   proto.c    the guest's packets: state machine and credit (tx queue)
 *   rx.c       packets toward the guest: replies, data, siblings (rx queue)
 *   host.c     the hybrid host side: Unix sockets, CONNECT lines, timers
 *   gather.c   consecutive RW payloads of a tx pass, one sendmsg for them
 *   hub.c      sibling VMs: groups, mailboxes
 *   vsock.c    device ops: features, config, queues, events, reset, and
 *              its host (host_start: whoever runs it, the server or a test)
 * The device knows no server: it gets a struct vhk_dev_host through
 * vhk_vsock_ops.host_start() (vhostkit/device.h), which tests supply
 * themselves.
 */
#ifndef VHK_DEV_VSOCK_INT_H
#define VHK_DEV_VSOCK_INT_H

#include <pthread.h>
#include "vhostkit/vsock.h"

#define VSOCK_RSTQ		1024	/* pending reset replies (no connection) */
#define VSOCK_MAX_CLIENTS	256	/* host clients before their CONNECT line */
#define VSOCK_LINE_MAX		32	/* "CONNECT 4294967295\n" is 19 bytes */
#define VSOCK_RX_BUDGET		256	/* rx chains per run */
#define VSOCK_MAX_IOV		1024	/* segments per chain */
#define VSOCK_CONNECT_MS	5000	/* guest answers a host REQUEST */
#define VSOCK_LINE_MS		5000	/* a host client's CONNECT line */
#define VSOCK_CLOSE_MS		10000	/* flushing to the host before RST */
#define VSOCK_TICK_MS		200
#define VSOCK_CREDIT_RETRY_MS	500	/* CREDIT_REQUEST unanswered: again, */
#define VSOCK_CREDIT_RETRIES	6	/* ... doubling, this many times */
#define VSOCK_INBOX_BYTES	(8u * 1024 * 1024)	/* sibling mailbox */
#define VSOCK_INBOX_PKTS	8192
#define VSOCK_SEQ_MAX_MSGS	4096	/* seqpacket messages queued to host */
#define VSOCK_PKT_MAX		(64u * 1024)	/* payload per packet we send */
#define VSOCK_RX_BATCH		31	/* extra rx chains filled by one readv */
#define VSOCK_BATCH_IOV		8	/* segments per extra chain */
#define VSOCK_GATHER_CHAINS	64	/* tx chains held by one gather */
#define VSOCK_GATHER_IOV	128	/* segments of one gather's sendmsg */

/* A packet header, host byte order, copied once from the chain. */
struct vsock_pkt {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

enum vsock_ev_kind {
	VSOCK_EV_LISTEN = 1,
	VSOCK_EV_TIMER,
	VSOCK_EV_INBOX,
	VSOCK_EV_CLIENT,
	VSOCK_EV_CONN,
};

/* epoll_event.data.ptr points at one of these (first member). */
struct vsock_ev {
	enum vsock_ev_kind kind;
};

enum vsock_state {
	CONN_REQUEST,		/* host -> guest: REQUEST sent, no answer yet */
	CONN_OPEN,		/* established (each direction may be shut) */
	CONN_CLOSING,		/* guest shut both: flushing to host, then RST */
};

/* Control packets a connection owes the guest (bounded: one bit each). */
#define P_REQUEST	(1u << 0)
#define P_RESPONSE	(1u << 1)
#define P_CREDIT_UPDATE	(1u << 2)
#define P_CREDIT_REQ	(1u << 3)
#define P_SHUTDOWN	(1u << 4)	/* flags in conn->shut_sent */

struct vsock_conn {
	struct vsock_ev ev;
	struct vsock_conn *hnext;	/* hash chain */
	struct vsock_conn *rnext, *rprev; /* rx list */
	struct vsock_conn *znext;	/* freed during an epoll batch */
	bool on_rx;
	bool dead;			/* freed: events for it are stale */
	uint32_t guest_port;
	uint32_t peer_cid;		/* always the host (2) today */
	uint32_t peer_port;
	uint16_t type;			/* VHK_VSOCK_TYPE_* */
	enum vsock_state state;
	int fd;				/* host Unix socket, -1 once gone */
	uint32_t fd_events;		/* epoll interest in force */
	bool fd_in_ep;
	bool host_eof;			/* host read side ended */
	bool host_hup;			/* host closed both ways / error */
	bool host_wr_shut;		/* shutdown(SHUT_WR) done */
	bool host_drained;		/* a short read emptied the socket:
					 * not read again before EPOLLIN */
	bool host_rdhup;		/* EPOLLRDHUP seen: read to EOF (a
					 * short read is no longer empty) */
	bool read_big;			/* the last read filled a whole rx
					 * buffer: batch the next one */
	uint32_t guest_shut;		/* SHUTDOWN flags the guest sent */
	uint32_t shut_sent;		/* SHUTDOWN flags we sent */
	uint32_t pending;		/* P_* */
	uint64_t deadline_ns;		/* 0 = none */

	/* guest -> host: our receive side (we advertise the credit) */
	uint32_t buf_alloc;		/* = tx-buffer-size */
	uint32_t recv_cnt;		/* payload bytes taken from the guest */
	uint32_t fwd_cnt;		/* ... and handed to the host socket */
	uint32_t fwd_advertised;	/* fwd_cnt the guest last saw */
	uint8_t *buf;			/* ring of buf_alloc bytes, lazily */
	uint32_t buf_head;		/* oldest byte */
	uint32_t buf_len;		/* bytes queued */
	/* seqpacket: lengths of whole messages queued, then the open one */
	uint32_t *msg_len;
	uint32_t msg_head, msg_count, msg_cap;
	uint32_t msg_open;		/* bytes of the unfinished message */

	/* host -> guest: the guest's credit */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt;		/* payload bytes sent to the guest */
	bool credit_asked;		/* CREDIT_REQUEST sent, no update yet */
	uint8_t credit_retries;		/* sent again in this stall */
	uint64_t credit_asked_ns;	/* when it was last sent */
	uint32_t seq_need;		/* seqpacket: next host message size */
	/* seqpacket from the host: one message staged whole */
	uint8_t *stage;
	uint32_t stage_len, stage_off;
	/* host -> guest: the "OK <port>\n" is owed to the host client */
	bool ok_owed;
};

/* A host client before its CONNECT line is complete. */
struct vsock_client {
	struct vsock_ev ev;
	struct vsock_client *next;
	bool dead;
	int fd;
	uint32_t len;
	char line[VSOCK_LINE_MAX];
	uint64_t deadline_ns;
};

/* A reset reply owed to the guest for a flow without a connection. */
struct vsock_rst {
	uint32_t src_cid, src_port, dst_port;
	uint16_t type;
};

/* A packet forwarded from a sibling, waiting for this VM's rx queue. */
struct vsock_fwd {
	struct vsock_fwd *next;
	struct vsock_pkt hdr;
	uint32_t off;			/* payload bytes already delivered */
	uint8_t data[];
};

struct vhk_vsock {
	char name[40];
	uint32_t guest_cid;
	char *uds_path;
	uint32_t buf_size;
	uint16_t max_queue_size;
	char groups[VHK_VSOCK_MAX_GROUPS][64];
	unsigned int ngroups;
	struct vhk_vsock_hub *hub;

	uint64_t acked;
	struct vhk_vq *vq[VHK_VSOCK_NUM_VQS];
	struct vhk_dev_host host;	/* host_start() .. host_stop() */
	bool have_host;
	bool ep_watched;		/* host.watch() took vs->ep */
	bool need_reset_event;		/* connections lost: TRANSPORT_RESET */
	bool progressed[VHK_VSOCK_NUM_VQS]; /* stopped past its start */

	int ep;				/* the host side's own epoll */
	int listen_fd;
	int timer_fd;
	int inbox_fd;			/* eventfd: a sibling posted */
	struct vsock_ev listen_ev, timer_ev, inbox_ev;
	bool timer_armed;
	bool unlink_uds;

	struct vsock_conn **buckets;
	unsigned int nbuckets;
	unsigned int nconns;
	uint32_t next_host_port;

	struct vsock_conn *rx_head, *rx_tail;
	struct vsock_rst rstq[VSOCK_RSTQ];
	unsigned int rst_head, rst_len;

	struct vsock_client *clients;
	unsigned int nclients;
	/* freed while an epoll batch may still name them */
	bool in_poll;
	struct vsock_conn *zombies;
	struct vsock_client *zombie_clients;

	/* an rx chain popped and not used yet (nothing to send after all) */
	struct vhk_chain spare;
	bool have_spare;
	struct iovec *rx_iov, *tx_iov, *io_iov;
	/* extra rx chains one host readv fills after the spare (rx.c) */
	struct vhk_chain batch[VSOCK_RX_BATCH];
	struct iovec *batch_iov;	/* VSOCK_BATCH_IOV per batch chain */
	unsigned int rx_batch_used;	/* batch chains used by the last step */
	uint8_t *scratch;		/* VSOCK_PKT_MAX bytes */
	bool in_rx_run;
	bool rx_kicked;			/* rx run inside queue_kick(rx) */
	enum vhk_kick_result rx_result;	/* what that queue_kick reports */

	/* sibling mailbox (guarded by the hub's lock) */
	struct vsock_fwd *inbox_head, *inbox_tail;
	uint32_t inbox_bytes, inbox_pkts;
	bool reachable;			/* rx queue running */
	/* taken from the mailbox, this thread's only */
	struct vsock_fwd *fwd_head, *fwd_tail;

	/* timeouts (VSOCK_*_MS; tests shorten them) */
	uint32_t connect_ms, line_ms, close_ms;
	uint32_t credit_retry_ms;
	unsigned int credit_retries;

	/* gather.c: RW payloads of one connection, sent together */
	struct vsock_gather {
		bool on;			/* a tx pass is running */
		bool took;			/* the last packet's payload */
		struct vsock_conn *c;		/* NULL: nothing gathered */
		struct iovec iov[VSOCK_GATHER_IOV];
		unsigned int niov;
		uint32_t bytes;
		struct vhk_chain held[VSOCK_GATHER_CHAINS];
		unsigned int nheld;
	} gather;
	uint64_t tx_gathered;		/* chains sent by multi-chain gathers */

	struct vhk_vsock_stats st;
	struct vhk_ratelimit rl;
};

struct vhk_vsock_hub {
	pthread_mutex_t lock;
	struct vhk_vsock *vms[VHK_VSOCK_MAX_VMS];
	unsigned int n;
};

#define vs_warn(vs, ...) \
	vhk_log_ratelimited(&(vs)->rl, VHK_LOG_WARN, (vs)->name, __VA_ARGS__)

/* pkt.c */
int vsock_pkt_parse(const struct vhk_chain *c, struct vsock_pkt *p,
		    struct vhk_iter *payload);
void vsock_hdr_encode(struct vhk_vsock_hdr *h, const struct vsock_pkt *p);
const char *vsock_op_name(uint16_t op);

/* conn.c */
int vsock_conns_init(struct vhk_vsock *vs);
void vsock_conns_fini(struct vhk_vsock *vs);
struct vsock_conn *vsock_conn_find(struct vhk_vsock *vs, uint32_t guest_port,
				   uint32_t peer_cid, uint32_t peer_port);
struct vsock_conn *vsock_conn_new(struct vhk_vsock *vs, uint32_t guest_port,
				  uint32_t peer_cid, uint32_t peer_port,
				  uint16_t type, int fd);
void vsock_conn_free(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_conn_reap(struct vhk_vsock *vs);
void vsock_conn_reset(struct vhk_vsock *vs, struct vsock_conn *c);
uint32_t vsock_conn_alloc_port(struct vhk_vsock *vs, uint32_t guest_port);
void vsock_conn_foreach(struct vhk_vsock *vs,
			void (*fn)(struct vhk_vsock *, struct vsock_conn *));
uint32_t vsock_conn_credit(const struct vsock_conn *c);
void vsock_conn_note_credit(struct vhk_vsock *vs, struct vsock_conn *c,
			    const struct vsock_pkt *p);
void vsock_conn_want(struct vhk_vsock *vs, struct vsock_conn *c,
		     uint32_t bits);
bool vsock_conn_update_due(const struct vsock_conn *c);

/* proto.c */
void vsock_handle_tx(struct vhk_vsock *vs, const struct vsock_pkt *p,
		     struct vhk_iter *payload);
void vsock_queue_rst(struct vhk_vsock *vs, uint32_t src_cid,
		     uint32_t src_port, uint32_t dst_port, uint16_t type);
enum vhk_kick_result vsock_tx_process(struct vhk_vsock *vs);

/* rx.c */
void vsock_rx_run(struct vhk_vsock *vs);
void vsock_rx_add(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_rx_remove(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_rx_drop_spare(struct vhk_vsock *vs);

/* host.c */
int vsock_host_init(struct vhk_vsock *vs);
void vsock_host_fini(struct vhk_vsock *vs);
void vsock_host_poll(struct vhk_vsock *vs);
void vsock_host_watch_cb(void *opaque, int fd, uint32_t events);
int vsock_host_connect(struct vhk_vsock *vs, uint32_t port, uint16_t type);
void vsock_host_update_events(struct vhk_vsock *vs, struct vsock_conn *c);
int vsock_host_write(struct vhk_vsock *vs, struct vsock_conn *c,
		     struct vhk_iter *payload, uint32_t len, uint32_t flags);
int vsock_host_flush(struct vhk_vsock *vs, struct vsock_conn *c);
int vsock_host_buffer(struct vsock_conn *c, struct vhk_iter *it, uint32_t n);
void vsock_host_shut_wr(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_host_close_fd(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_host_send_ok(struct vhk_vsock *vs, struct vsock_conn *c);
void vsock_host_arm_timer(struct vhk_vsock *vs);
void vsock_host_drop_clients(struct vhk_vsock *vs);

/* gather.c */
bool vsock_gather_add(struct vhk_vsock *vs, struct vsock_conn *c,
		      const struct vhk_iter *it, uint32_t len);
bool vsock_gather_hold(struct vhk_vsock *vs, const struct vhk_chain *ch);
void vsock_gather_flush(struct vhk_vsock *vs);
void vsock_gather_forget(struct vhk_vsock *vs, struct vsock_conn *c);

/* hub.c */
int vsock_hub_add(struct vhk_vsock_hub *hub, struct vhk_vsock *vs);
void vsock_hub_remove(struct vhk_vsock_hub *hub, struct vhk_vsock *vs);
int vsock_hub_forward(struct vhk_vsock *vs, const struct vsock_pkt *p,
		      struct vhk_iter *payload);
void vsock_hub_take(struct vhk_vsock *vs);
void vsock_hub_set_reachable(struct vhk_vsock *vs, bool on);
void vsock_hub_drop_all(struct vhk_vsock *vs);

/* vsock.c */
void vsock_complete(struct vhk_vsock *vs, uint16_t idx);
void vsock_kick_later(struct vhk_vsock *vs, uint16_t idx);
void vsock_broken(struct vhk_vsock *vs, const char *why);
/* vhk_vq_push(); a failed push (a completion the driver would never see)
 * breaks the device.  Returns its result. */
int vsock_push(struct vhk_vsock *vs, struct vhk_vq *vq,
	       const struct vhk_chain *ch, uint32_t written);
bool vsock_post_event(struct vhk_vsock *vs);

#endif /* VHK_DEV_VSOCK_INT_H */
