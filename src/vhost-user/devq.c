/* SPDX-License-Identifier: MIT */
/*
 * devq.c - the device framework's per-queue work (vhostkit/device.h): the
 * one pop loop every chain-handling device shares, and the queue calls a
 * device makes, forwarded to whoever runs the queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhostkit/devq.h"
#include "vhostkit/ring_ctl.h"

int vhk_dq_init(struct vhk_dev_queue *q, struct vhk_vq *vq, uint16_t idx,
		unsigned int max_iov, const struct vhk_dq_host *host,
		void *host_opaque, const char *name)
{
	memset(q, 0, sizeof(*q));
	q->vq = vq;
	q->idx = idx;
	q->max_iov = max_iov ? max_iov : VHK_VQ_DEFAULT_MAX_IOV;
	q->host = host;
	q->host_opaque = host_opaque;
	snprintf(q->name, sizeof(q->name), "%s", name ? name : "vq");
	q->scratch = calloc(q->max_iov, sizeof(*q->scratch));
	return q->scratch ? 0 : -ENOMEM;
}

void vhk_dq_fini(struct vhk_dev_queue *q)
{
	free(q->scratch);
	q->scratch = NULL;
}

/* ---- what a device may read or keep of its queue (device.h) */

struct vhk_vq *vhk_dq_vq(const struct vhk_dev_queue *q)
{
	return q->vq;
}

uint16_t vhk_dq_index(const struct vhk_dev_queue *q)
{
	return q->idx;
}

const char *vhk_dq_name(const struct vhk_dev_queue *q)
{
	return q->name;
}

void *vhk_dq_priv(const struct vhk_dev_queue *q)
{
	return q->priv;
}

void vhk_dq_set_priv(struct vhk_dev_queue *q, void *priv)
{
	q->priv = priv;
}

unsigned int vhk_dq_max_iov(const struct vhk_dev_queue *q)
{
	return q->max_iov;
}

void vhk_dq_complete(struct vhk_dev_queue *q)
{
	if (q->host && q->host->complete)
		q->host->complete(q->host_opaque, q);
	else if (q->vq)
		vhk_vq_flush(q->vq);
}

void vhk_dq_kick_later(struct vhk_dev_queue *q)
{
	if (q->host && q->host->kick_later)
		q->host->kick_later(q->host_opaque, q);
}

int vhk_dq_watch(struct vhk_dev_queue *q, int fd, uint32_t events,
		 vhk_watch_fn fn, void *arg)
{
	if (!q->host || !q->host->watch)
		return 0;	/* a test that polls the fd itself */
	return q->host->watch(q->host_opaque, q, fd, events, fn, arg);
}

int vhk_dq_unwatch(struct vhk_dev_queue *q, int fd)
{
	if (!q->host || !q->host->unwatch)
		return 0;
	return q->host->unwatch(q->host_opaque, q, fd);
}

void vhk_dq_broken(struct vhk_dev_queue *q, const char *why)
{
	if (q->host && q->host->broken)
		q->host->broken(q->host_opaque, why);
}

void vhk_dq_stat_add(struct vhk_dev_queue *q, unsigned int i, uint64_t n)
{
	if (q && q->vq && i < VHK_DEV_STATS_MAX)
		vhk_stat_add(&vhk_vq_queue_stats(q->vq)->dev[i], n);
}

/* Pop one chain into the scratch vector: 1, 0 (empty) or -errno. */
static int pop(struct vhk_dev_queue *q, struct vhk_chain *c)
{
	memset(c, 0, sizeof(*c));
	c->iov = q->scratch;
	c->iov_cap = q->max_iov;
	return vhk_vq_pop(q->vq, c);
}

enum vhk_kick_result vhk_dq_process(struct vhk_dev_queue *q,
				    const struct vhk_device_ops *ops,
				    void *dev)
{
	enum vhk_kick_result res = VHK_KICK_AGAIN;
	struct vhk_queue_stats *st;
	struct vhk_chain c;
	unsigned int budget;
	int ret;

	if (!q->vq)
		return ops->queue_kick ? ops->queue_kick(dev, q) : VHK_KICK_DONE;
	st = vhk_vq_queue_stats(q->vq);
	vhk_stat_add(&st->kicks, 1);
	if (ops->queue_kick) {
		res = ops->queue_kick(dev, q);
		if (res == VHK_KICK_PARKED)
			vhk_stat_add(&st->parked, 1);
		return res;
	}
	if (!q->scratch || !ops->handle_chain)
		return VHK_KICK_DONE;
	/* No kicks while we drain the ring; re-enabled when it is empty. */
	vhk_vq_enable_notify(q->vq, false);
	for (budget = 0; budget < VHK_KICK_BUDGET; budget++) {
		ret = pop(q, &c);
		if (ret == 0 && q->polling) {
			/* The host polls: no kicks wanted (worker.c). */
			res = VHK_KICK_DONE;
			break;
		}
		if (ret == 0) {
			/* Re-enable, then look again: buffers made available
			 * before the driver saw notifications on would
			 * otherwise wait for a kick that never comes
			 * (VIRTIO 1.2, 2.7.10 / 2.8.10). */
			if (vhk_vq_enable_notify(q->vq, true))
				continue;
			res = VHK_KICK_DONE;
			break;
		}
		if (ret == -EAGAIN) {
			res = VHK_KICK_PARKED;	/* IOTLB miss */
			vhk_stat_add(&st->parked, 1);
			break;
		}
		if (ret == -ENOBUFS) {
			vhk_stat_add(&st->errors[VHK_QERR_SEGMENTS], 1);
			vhk_vq_fail(q->vq, -ENOBUFS,
				    "chain needs more than %u host segments",
				    q->max_iov);
			vhk_dq_broken(q, "chain with too many segments");
			res = VHK_KICK_DONE;
			break;
		}
		if (ret < 0) {
			vhk_stat_add(&st->errors[VHK_QERR_RING], 1);
			vhk_dq_broken(q, "queue broken by the driver");
			res = VHK_KICK_DONE;
			break;
		}
		ret = ops->handle_chain(dev, q, &c);
		if (ret == VHK_CHAIN_BUSY) {
			/* Room comes back with a vhk_dq_kick_later().  A
			 * chain neither given back nor pushed would be a
			 * request the driver never sees finish. */
			if (vhk_vq_unpop(q->vq, &c) < 0)
				vhk_dq_broken(q, "busy chain could not be given back");
			vhk_stat_add(&st->busy, 1);
			res = VHK_KICK_DONE;
			break;
		}
		if (ret < 0) {
			vhk_stat_add(&st->errors[VHK_QERR_DEVICE], 1);
			vhk_dq_broken(q, "device error");
			res = VHK_KICK_DONE;
			break;
		}
	}
	if (ops->batch_end)
		ops->batch_end(dev, q);
	vhk_dq_complete(q);
	return res;
}
