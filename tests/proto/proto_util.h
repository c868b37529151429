/* SPDX-License-Identifier: MIT */
/*
 * proto_util.h - vhost-user protocol tests: an "echo" device behind the
 * real back-end server (running in a thread on a temp socket), a raw
 * vhost-user client, memfd guest memory, and fd-leak accounting.
 */
#ifndef VHK_TESTS_PROTO_UTIL_H
#define VHK_TESTS_PROTO_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhostkit/backend.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/vhost_user.h"
#include "echo_dev.h"

#define PT_NQUEUES	ECHO_NQUEUES
#define PT_CONFIG_LEN	ECHO_CONFIG_LEN
#define PT_MEM_SIZE	(4u << 20)
#define PT_IOVA_BASE	0x40000000ull	/* IOVA = PT_IOVA_BASE + GPA */

/*
 * The device under test (echo_dev.h) behind a counting shim: what the
 * server asked of it.  Counters are read by the test thread.
 */
struct pt_echo {
	struct vhk_backend *be;
	enum vhk_device_type type;
	const struct vhk_device_ops *ops;	/* the device's */
	void *dev;
	struct vhk_device_ops shim_ops;		/* what the server runs */
	uint64_t features;
	atomic_uint kicks;
	atomic_uint chains;
	atomic_uint parks;
	atomic_uint starts;
	atomic_uint stops;
	atomic_uint resets;
	atomic_uint drains;
	atomic_uint errors;		/* queues the driver broke */
	uint8_t *config;		/* the echo device's config space */
};

struct pt_server {
	char dir[64];
	char path[96];
	struct pt_echo echo;
	struct echo_dev echo_dev;
	struct vhk_backend *be;
	pthread_t thread;
	int run_rc;
	int base_fds;		/* fds open with the server idle */
	bool connect;
	int listen_fd;		/* connect mode: the test listens */
};

struct pt_server_opts {
	enum vhk_iommu_policy iommu;
	unsigned int miss_timeout_ms;
	enum vhk_device_type type;	/* 0 = blk */
	bool connect;		/* the server connects to s->path */
	bool once;
	bool queue_workers;	/* cfg.queue_workers */
	/* called after vhk_backend_new, before the server thread starts */
	void (*before_run)(struct pt_server *s, void *opaque);
	void *opaque;
};

/** pt_server_start - echo device + back-end in a thread; fails the test on error. */
void pt_server_start(struct pt_server *s, const struct pt_server_opts *o);

/** pt_server_stop - vhk_backend_stop, join, free; checks the socket file is gone. */
void pt_server_stop(struct pt_server *s);

/** pt_fd_count - open fds of this process (/proc/self/fd). */
int pt_fd_count(void);

/** pt_wait_fds - wait up to 2 s for the fd count to drop to @want; returns the count. */
int pt_wait_fds(int want);

/* ---- raw client */

/** pt_connect - connect to @path (retrying for 2 s); returns the fd. */
int pt_connect(const char *path);

/**
 * pt_send_raw - send header {@req, @flags, @size} + @size bytes of @payload
 * with @nfds fds.  Returns 0 or -errno.
 */
int pt_send_raw(int sock, uint32_t req, uint32_t flags, const void *payload,
		uint32_t size, const int *fds, unsigned int nfds);

/**
 * pt_recv - receive one message (2 s timeout).  Returns 0, -ETIMEDOUT,
 * -ECONNRESET (connection closed) or -errno.  Received fds go to @fds.
 */
int pt_recv(int sock, struct vhk_vu_msg *m, int *fds, unsigned int *nfds);

/**
 * pt_req - send @req with NEED_REPLY and wait for the REPLY_ACK.
 * Returns the ack value (0 = success, >0 = the server's error), or a
 * negative errno when no ack came (-ECONNRESET: connection closed).
 */
int64_t pt_req(int sock, uint32_t req, const void *payload, uint32_t size,
	       const int *fds, unsigned int nfds);

/**
 * pt_get - send @req (a GET_* with a reply), receive it into @reply.
 * Returns the reply's payload size (0 means the server reported an error)
 * or a negative errno.
 */
int pt_get(int sock, uint32_t req, const void *payload, uint32_t size,
	   struct vhk_vu_msg *reply, int *fds, unsigned int *nfds);

/** pt_get_u64 - GET_FEATURES & co; fails the test if no 8-byte reply. */
uint64_t pt_get_u64(int sock, uint32_t req);

/** pt_alive - true if the connection still answers GET_FEATURES. */
bool pt_alive(int sock);

/** pt_closed - true if the server closed the connection (EOF within 2 s). */
bool pt_closed(int sock);

/* ---- guest memory and a configured device */

struct pt_guest {
	int memfd;
	uint8_t *mem;		/* host view; UVA = (uintptr_t)mem */
	uint64_t uva;
	int kick[PT_NQUEUES];
	int call[PT_NQUEUES];
	struct vhk_drv_vq *dq[PT_NQUEUES];
	bool iotlb;		/* device addresses are IOVAs */
	uint64_t features;
	bool no_enable;		/* pt_setup_vq sends no SET_VRING_ENABLE */
	bool ring_gpa;		/* ring addresses as GPAs (not UVAs) */
};

/** pt_guest_init - a memfd of PT_MEM_SIZE, mapped, and eventfds. */
void pt_guest_init(struct pt_guest *g);

/** pt_guest_fini - unmap and close everything. */
void pt_guest_fini(struct pt_guest *g);

/** pt_dev_addr - device-visible address of guest offset @gpa. */
uint64_t pt_dev_addr(const struct pt_guest *g, uint64_t gpa);

/**
 * pt_negotiate - SET_OWNER, protocol features @proto (REPLY_ACK is always
 * added), features @features (PROTOCOL_FEATURES added); asserts acks.
 */
void pt_negotiate(int sock, struct pt_guest *g, uint64_t features,
		  uint64_t proto);

/** pt_send_mem - SET_MEM_TABLE with the whole memfd as one region at GPA 0. */
void pt_send_mem(int sock, struct pt_guest *g);

/**
 * pt_setup_vq - lay out queue @idx of @num at guest offset 0x10000 * (idx+1)
 * with the driver ring, then SET_VRING_NUM/BASE/ADDR/CALL/KICK/ENABLE.
 * Returns the ack of SET_VRING_KICK (0 on success).
 */
int64_t pt_setup_vq(int sock, struct pt_guest *g, uint16_t idx, uint16_t num);

/** pt_echo_post - place "@out" readable + @in_len writable bytes, publish, kick. */
void pt_echo_post(struct pt_guest *g, uint16_t idx, const char *out,
		  size_t in_len);

/**
 * pt_echo_collect - wait up to @wait_ms for a used buffer on queue @idx;
 * returns its length (and the bytes in @in) or -ETIMEDOUT / -EPROTO.
 */
int pt_echo_collect(struct pt_guest *g, uint16_t idx, char *in, size_t in_len,
		    int wait_ms);

/**
 * pt_echo_once - place "out" readable + writable buffers at buffer area
 * offsets, kick, wait for the call (@wait_ms), collect.  Returns the used
 * length (>= 0) or -ETIMEDOUT / -errno.  On success @in gets the bytes.
 */
int pt_echo_once(struct pt_guest *g, uint16_t idx, const char *out,
		 char *in, size_t in_len, int wait_ms);

/** pt_wait_call - wait up to @ms for queue @idx's call eventfd; true if signalled. */
bool pt_wait_call(struct pt_guest *g, uint16_t idx, int ms);

/** pt_cpu_ms - CPU time of the process in ms. */
double pt_cpu_ms(void);

#endif /* VHK_TESTS_PROTO_UTIL_H */
