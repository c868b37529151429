/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/devq.h - the owner's side of a device queue context (internal:
 * src/include, not installed): the layout of struct vhk_dev_queue, who
 * runs the queue (struct vhk_dq_host) and its set-up.  The server
 * (src/vhost-user/vring.c) and tests that run a device's queue without a
 * server own queues; a device only sees the opaque struct and the
 * accessors of vhostkit/device.h.
 */
#ifndef VHOSTKIT_DEVQ_H
#define VHOSTKIT_DEVQ_H

#include <stdbool.h>
#include <sys/uio.h>

#include "vhostkit/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Who runs a queue: the vhost-user server, or a test.  A queue's calls
 * happen on that queue's thread (its worker, or the one loop).
 */
struct vhk_dq_host {
	/* flush @q's pushed chains and notify the driver if it wants it */
	void (*complete)(void *opaque, struct vhk_dev_queue *q);
	/* process @q again soon */
	void (*kick_later)(void *opaque, struct vhk_dev_queue *q);
	/* call @fn(@arg, @fd, events) on @q's thread when @fd has @events */
	int (*watch)(void *opaque, struct vhk_dev_queue *q, int fd,
		     uint32_t events, vhk_watch_fn fn, void *arg);
	int (*unwatch)(void *opaque, struct vhk_dev_queue *q, int fd);
	/* the driver broke a rule: DEVICE_NEEDS_RESET */
	void (*broken)(void *opaque, const char *why);
};

/*
 * A queue as the framework keeps it; devices see it through the
 * accessors in vhostkit/device.h only.  The owner embeds it and sets it
 * up with vhk_dq_init().
 */
struct vhk_dev_queue {
	struct vhk_vq *vq;
	uint16_t idx;
	unsigned int max_iov;
	struct iovec *scratch;		/* max_iov entries, pop target */
	void *priv;			/* the device's per-queue state */
	const struct vhk_dq_host *host;
	void *host_opaque;
	char name[64];
	/* Polling mode: the host polls the ring, so vhk_dq_process()
	 * leaves notifications off when the ring runs empty; the host
	 * turns them on (and looks again) before it sleeps. */
	bool polling;
};

/**
 * vhk_dq_init - set up @q for ring @vq (index @idx) run by @host: a pop
 * vector of @max_iov (0 = VHK_VQ_DEFAULT_MAX_IOV) entries.  For the
 * server and for tests.  Returns 0 or -ENOMEM.
 */
int vhk_dq_init(struct vhk_dev_queue *q, struct vhk_vq *vq, uint16_t idx,
		unsigned int max_iov, const struct vhk_dq_host *host,
		void *host_opaque, const char *name);

/** vhk_dq_fini - free what vhk_dq_init() allocated; idempotent. */
void vhk_dq_fini(struct vhk_dev_queue *q);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_DEVQ_H */
