/* SPDX-License-Identifier: MIT */
/*
 * proto_util.h - vhost-user protocol tests: the device under test behind
 * the real back-end server (running in a thread on a temp socket), a raw
 * vhost-user client, memfd guest memory, and fd-leak accounting.
 *
 * The device under test is the echo test device (echo_dev.h), or with
 * VHK_PROTO_DEVICE=blk the virtio-blk device (vhostkit/blk.h) on a temp
 * file: tests/proto/meson.build registers the flow and hostile suites once
 * per device, so both run through the same framework paths.  The
 * pt_echo_*() helpers are a round trip of a few bytes through the device:
 * one echo chain, or for blk a write of the bytes to a sector and a read
 * back of that sector.
 */
#ifndef VHK_TESTS_PROTO_UTIL_H
#define VHK_TESTS_PROTO_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhostkit/backend.h"
#include "vhostkit/blk.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/vhost_user.h"
#include "echo_dev.h"

#define PT_NQUEUES	ECHO_NQUEUES
#define PT_MEM_SIZE	(4u << 20)
#define PT_IOVA_BASE	0x40000000ull	/* IOVA = PT_IOVA_BASE + GPA */
#define PT_BLK_DISK_SIZE (1u << 20)	/* the blk device's temp file */

/* The device under test (VHK_PROTO_DEVICE). */
enum pt_device {
	PT_DEV_ECHO = 0,
	PT_DEV_BLK,
};

/** pt_device - the device under test: VHK_PROTO_DEVICE=blk or echo. */
enum pt_device pt_device(void);

/** pt_config_len - config space bytes of the device under test. */
uint32_t pt_config_len(void);

/**
 * pt_chains_per_echo - chains one pt_echo_*() round trip uses: 1 (echo),
 * 2 (blk: the write, then the read back).
 */
unsigned int pt_chains_per_echo(void);
/*
 * The device under test behind a counting shim: what the
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
	uint8_t *config;		/* the echo device's config space
					   (NULL for blk) */
};

struct pt_server {
	char dir[64];
	char path[96];
	struct pt_echo echo;
	struct echo_dev echo_dev;
	struct vhk_blk *blk;	/* PT_DEV_BLK: the device, on disk_path */
	char disk_path[96];
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

/**
 * pt_server_start - the device under test (pt_device()) + back-end in a
 * thread; fails the test on error.
 */
void pt_server_start(struct pt_server *s, const struct pt_server_opts *o);

/** pt_server_stop - vhk_backend_stop, join, free; checks the socket file is gone. */
void pt_server_stop(struct pt_server *s);

/**
 * pt_server_free - free the back-end and the device, remove the temp
 * files (after the server thread returned; pt_server_stop() calls it).
 */
void pt_server_free(struct pt_server *s);

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
	/* blk round trips (pt_echo_*): per queue, the step in flight */
	uint8_t blk_step[PT_NQUEUES];	/* 0 none, 1 write, 2 read back */
	uint32_t blk_len[PT_NQUEUES];	/* bytes of the round trip */
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

/*
 * Round trips.  Buffers: the device-readable part at guest 0x100000 +
 * idx * 0x10000, the device-writable part at 0x200000 + idx * 0x10000.
 * Echo: one chain, "@out" readable + @in_len writable bytes.  Blk: a
 * VIRTIO_BLK_T_OUT chain (header + @out zero-padded to a sector readable,
 * the status byte writable) to sector @idx; pt_echo_collect() waits for
 * it, checks its status and then reads the sector back (T_IN: header
 * readable, sector + status writable).
 */

/** pt_echo_place - add the (first) chain of a round trip and publish it; no kick. */
void pt_echo_place(struct pt_guest *g, uint16_t idx, const char *out,
		   size_t in_len);

/** pt_echo_post - pt_echo_place() and kick. */
void pt_echo_post(struct pt_guest *g, uint16_t idx, const char *out,
		  size_t in_len);

/**
 * pt_echo_collect - wait up to @wait_ms for the round trip on queue @idx
 * to finish; returns its length (strlen(out); the bytes in @in) or
 * -ETIMEDOUT (call again to keep waiting) / -EPROTO / -EIO (blk status).
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
