/* SPDX-License-Identifier: MIT */
/*
 * vsock.c - the virtio-vsock device: options, features (VIRTIO 1.2,
 * 5.10.3), configuration space (5.10.4), queue lifecycle, the event queue
 * (5.10.6.7) and device reset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "dev/vsock/vsock_int.h"

static struct vhk_vsock *to_vs(void *dev)
{
	return dev;
}

int vhk_vsock_cid_check(uint64_t cid, const char **why)
{
	const char *w = NULL;
	int ret = 0;

	/* VIRTIO 1.2, 5.10.4: the device MUST NOT use a reserved CID. */
	if (cid > 0xffffffffull) {
		w = "a guest CID has 32 bits (the upper 32 bits are reserved)";
		ret = -ERANGE;
	} else if (cid == VHK_VSOCK_CID_HYPERVISOR || cid == VHK_VSOCK_CID_LOCAL) {
		w = "CIDs 0 and 1 are reserved (hypervisor, local)";
		ret = -EINVAL;
	} else if (cid == VHK_VSOCK_CID_HOST) {
		w = "CID 2 is the host's";
		ret = -EINVAL;
	} else if (cid == VHK_VSOCK_CID_ANY) {
		w = "CID 0xffffffff is reserved (VMADDR_CID_ANY)";
		ret = -EINVAL;
	}
	if (why)
		*why = w;
	return ret;
}

uint32_t vhk_vsock_guest_cid(const struct vhk_vsock *vs)
{
	return vs->guest_cid;
}

void vhk_vsock_get_stats(const struct vhk_vsock *vs,
			 struct vhk_vsock_stats *st)
{
	*st = vs->st;
}

static int parse_groups(struct vhk_vsock *vs, const char *groups)
{
	const char *p = groups && *groups ? groups : "default";

	vs->ngroups = 0;
	while (*p) {
		size_t n = strcspn(p, "+");

		if (n == 0 || n >= sizeof(vs->groups[0]) ||
		    vs->ngroups >= VHK_VSOCK_MAX_GROUPS)
			return -EINVAL;
		memcpy(vs->groups[vs->ngroups], p, n);
		vs->groups[vs->ngroups][n] = '\0';
		vs->ngroups++;
		p += n;
		if (*p == '+' && !*++p)
			return -EINVAL;		/* trailing '+' */
	}
	return 0;
}

int vhk_vsock_new(struct vhk_vsock **out, struct vhk_vsock_hub *hub,
		  const struct vhk_vsock_opts *o)
{
	struct vhk_vsock *vs;
	int ret;

	if (!o->uds_path || !*o->uds_path)
		return -EINVAL;
	ret = vhk_vsock_cid_check(o->guest_cid, NULL);
	if (ret)
		return ret < 0 ? -EINVAL : ret;
	if (o->tx_buffer_size &&
	    (o->tx_buffer_size < 4096 ||
	     o->tx_buffer_size > VHK_VSOCK_MAX_BUF_SIZE))
		return -EINVAL;
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->ep = vs->listen_fd = vs->timer_fd = vs->inbox_fd = -1;
	vs->guest_cid = (uint32_t)o->guest_cid;
	vs->buf_size = o->tx_buffer_size ? o->tx_buffer_size :
					   VHK_VSOCK_DEFAULT_BUF_SIZE;
	vs->max_queue_size = o->queue_size ? o->queue_size : VHK_VQ_MAX_SIZE;
	vs->need_reset_event = true;	/* a restart lost what was open */
	vs->connect_ms = VSOCK_CONNECT_MS;
	vs->line_ms = VSOCK_LINE_MS;
	vs->close_ms = VSOCK_CLOSE_MS;
	vs->credit_retry_ms = VSOCK_CREDIT_RETRY_MS;
	vs->credit_retries = VSOCK_CREDIT_RETRIES;
	vs->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	if (o->name && *o->name)
		snprintf(vs->name, sizeof(vs->name), "%s", o->name);
	else
		snprintf(vs->name, sizeof(vs->name), "vsock%u", vs->guest_cid);
	vs->uds_path = strdup(o->uds_path);
	vs->rx_iov = calloc(VSOCK_MAX_IOV, sizeof(struct iovec));
	vs->tx_iov = calloc(VSOCK_MAX_IOV, sizeof(struct iovec));
	vs->io_iov = calloc(VSOCK_MAX_IOV, sizeof(struct iovec));
	vs->scratch = malloc(VSOCK_PKT_MAX);
	vs->batch_iov = calloc(VSOCK_RX_BATCH * VSOCK_BATCH_IOV,
			       sizeof(struct iovec));
	ret = -ENOMEM;
	if (!vs->uds_path || !vs->rx_iov || !vs->tx_iov || !vs->io_iov ||
	    !vs->scratch || !vs->batch_iov)
		goto fail;
	ret = parse_groups(vs, o->groups);
	if (ret)
		goto fail;
	ret = vsock_conns_init(vs);
	if (ret)
		goto fail;
	ret = vsock_host_init(vs);
	if (ret)
		goto fail;
	if (hub) {
		ret = vsock_hub_add(hub, vs);
		if (ret)
			goto fail;
		vs->hub = hub;
	}
	*out = vs;
	return 0;
fail:
	vhk_vsock_free(vs);
	return ret;
}

void vhk_vsock_free(struct vhk_vsock *vs)
{
	if (!vs)
		return;
	if (vs->hub)
		vsock_hub_remove(vs->hub, vs);
	vsock_hub_drop_all(vs);
	vsock_conns_fini(vs);
	vsock_conn_reap(vs);
	vsock_host_fini(vs);
	free(vs->uds_path);
	free(vs->rx_iov);
	free(vs->tx_iov);
	free(vs->io_iov);
	free(vs->scratch);
	free(vs->batch_iov);
	free(vs);
}

/*
 * The device's host (the server, or a test): the host side's sockets sit
 * in the device's own epoll set, and the host watches that one fd,
 * however many connections there are.
 */
static int vs_host_start(void *dev, const struct vhk_dev_host *h)
{
	struct vhk_vsock *vs = to_vs(dev);
	int err;

	vs->host = *h;
	vs->have_host = true;
	if (!h->watch)
		return 0;	/* a test polls the device itself */
	err = h->watch(h->opaque, vs->ep, EPOLLIN, vsock_host_watch_cb, vs);
	if (err) {
		vs->have_host = false;
		return err;
	}
	vs->ep_watched = true;
	return 0;
}

static void vs_host_stop(void *dev)
{
	struct vhk_vsock *vs = to_vs(dev);

	if (vs->ep_watched && vs->host.unwatch)
		vs->host.unwatch(vs->host.opaque, vs->ep);
	vs->ep_watched = false;
	vs->have_host = false;
}

void vsock_complete(struct vhk_vsock *vs, uint16_t idx)
{
	if (vs->have_host && vs->host.complete)
		vs->host.complete(vs->host.opaque, idx);
}

void vsock_kick_later(struct vhk_vsock *vs, uint16_t idx)
{
	if (vs->have_host && vs->host.kick_later)
		vs->host.kick_later(vs->host.opaque, idx);
}

void vsock_broken(struct vhk_vsock *vs, const char *why)
{
	vs_warn(vs, "%s", why);
	if (vs->have_host && vs->host.broken)
		vs->host.broken(vs->host.opaque, why);
}

int vsock_push(struct vhk_vsock *vs, struct vhk_vq *vq,
	       const struct vhk_chain *ch, uint32_t written)
{
	int ret = vhk_vq_push(vq, ch, written);

	if (ret < 0)
		vsock_broken(vs, "virtio-vsock completion lost: queue broken");
	return ret;
}

/*
 * vsock_post_event - VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event
 * queue if one is owed and the driver gave a buffer (5.10.6.7).
 * Returns true once posted (or nothing owed).
 */
bool vsock_post_event(struct vhk_vsock *vs)
{
	struct vhk_vq *vq = vs->vq[VHK_VSOCK_VQ_EVENT];
	struct vhk_vsock_event e = {
		.id = vhk_le32_make(VHK_VSOCK_EVENT_TRANSPORT_RESET),
	};
	struct iovec iov[64];
	struct vhk_chain ch;
	struct vhk_iter w;
	int ret;

	if (!vs->need_reset_event)
		return true;
	if (!vq)
		return false;
	for (;;) {
		memset(&ch, 0, sizeof(ch));
		ch.iov = iov;
		ch.iov_cap = VHK_ARRAY_SIZE(iov);
		ret = vhk_vq_pop(vq, &ch);
		if (ret == 0 && vhk_vq_enable_notify(vq, true))
			continue;
		break;
	}
	if (ret <= 0) {
		if (ret < 0 && ret != -EAGAIN)
			vsock_broken(vs, "virtio-vsock event queue broken by the driver");
		return false;
	}
	if (ch.nread || ch.write_bytes < sizeof(e)) {
		(void)vsock_push(vs, vq, &ch, 0);	/* broken below anyway */
		vsock_complete(vs, VHK_VSOCK_VQ_EVENT);
		vhk_vq_fail(vq, -EINVAL, "event buffer not a writable 4 bytes");
		vsock_broken(vs, "virtio-vsock event buffer is not writable");
		return false;
	}
	vhk_chain_writer(&ch, &w);
	(void)vhk_iter_write(&w, &e, sizeof(e));
	if (vsock_push(vs, vq, &ch, sizeof(e)) < 0)
		return false;
	vsock_complete(vs, VHK_VSOCK_VQ_EVENT);
	vs->need_reset_event = false;
	vs->st.events++;
	vhk_log(VHK_LOG_INFO, vs->name, "posted TRANSPORT_RESET");
	return true;
}

/* ---- device ops */

static uint64_t vs_get_features(void *dev)
{
	uint64_t f = 0;

	(void)dev;
	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, VHK_F_INDIRECT_DESC);
	vhk_set_feature(&f, VHK_F_EVENT_IDX);
	vhk_set_feature(&f, VHK_F_RING_PACKED);
	vhk_set_feature(&f, VHK_VSOCK_F_SEQPACKET);
	return f;
}

static uint64_t vs_get_protocol_features(void *dev)
{
	uint64_t f = 0;

	(void)dev;
	/* QEMU's vhost-user-vsock reads guest_cid with GET_CONFIG. */
	vhk_set_feature(&f, VHK_PROTO_F_CONFIG);
	return f;
}

static uint16_t vs_num_queues(void *dev)
{
	(void)dev;
	return VHK_VSOCK_NUM_VQS;
}

static int vs_get_config(void *dev, uint32_t offset, void *buf, uint32_t len)
{
	struct vhk_vsock *vs = to_vs(dev);
	struct vhk_vsock_config cfg = {
		.guest_cid = vhk_le64_make(vs->guest_cid),
	};

	if (offset > sizeof(cfg) || len > sizeof(cfg) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&cfg + offset, len);
	return 0;
}

static int vs_set_config(void *dev, uint32_t offset, const void *buf,
			 uint32_t len)
{
	(void)dev;
	(void)offset;
	(void)buf;
	(void)len;
	return -EINVAL;		/* 5.10.4: guest_cid is read-only */
}

static int vs_set_features(void *dev, uint64_t acked)
{
	to_vs(dev)->acked = acked;
	return 0;
}

static enum vhk_kick_result rx_result(struct vhk_vsock *vs)
{
	enum vhk_kick_result r = vs->rx_result;

	vs->rx_result = VHK_KICK_DONE;
	return r;
}

static void drop_connections(struct vhk_vsock *vs)
{
	vsock_conns_fini(vs);
	vsock_conns_init(vs);
	vs->rst_len = vs->rst_head = 0;
	vsock_hub_drop_all(vs);
}

/*
 * A ring that starts fresh (split: index 0; packed: slot 0, wrap 1) after
 * the driver had used it means the driver re-initialised it: a device
 * reset by the guest (virtio-pci unbind/bind, driver reload).  QEMU 7.2
 * tells a vhost-user back-end nothing else about it - the rings are only
 * stopped and started again - while the guest has dropped every socket.
 * The connections are gone on the guest's side: close their host sockets
 * now rather than when the host side next writes.  A VM that is paused
 * and resumed restarts its rings where they were and keeps them.  (A
 * split ring whose 16-bit index wrapped to exactly 0 at a pause reads as
 * fresh: its connections close - rare, and the guest sees an RST.)
 */
static bool ring_fresh(struct vhk_vq *vq)
{
	uint32_t base = vhk_vq_base(vq);

	/* split: next avail 0; packed: avail and used slot 0, wrap 1 */
	return base == 0 || base == 0x80008000u;
}

static void check_ring_reinit(struct vhk_vsock *vs, uint16_t idx,
			      struct vhk_vq *vq)
{
	if (ring_fresh(vq) && vs->progressed[idx] && vs->nconns) {
		vhk_log(VHK_LOG_INFO, vs->name,
			"vq%u restarted from scratch: the driver reset the device; %u connections closed",
			idx, vs->nconns);
		drop_connections(vs);
	}
	vs->progressed[idx] = false;
}

static int vs_queue_start(void *dev, struct vhk_dev_queue *q)
{
	struct vhk_vsock *vs = to_vs(dev);
	uint16_t idx = vhk_dq_index(q);
	struct vhk_vq *vq = vhk_dq_vq(q);

	if (idx >= VHK_VSOCK_NUM_VQS)
		return -EINVAL;
	if (vhk_vq_size(vq) > vs->max_queue_size) {
		vhk_log(VHK_LOG_ERR, vs->name,
			"vq%u size %u is above --queue-size %u", idx,
			vhk_vq_size(vq), vs->max_queue_size);
		return -EINVAL;
	}
	if (idx != VHK_VSOCK_VQ_EVENT)
		check_ring_reinit(vs, idx, vq);
	vs->vq[idx] = vq;
	if (idx == VHK_VSOCK_VQ_RX) {
		vsock_hub_set_reachable(vs, true);
		vsock_rx_run(vs);
		if (rx_result(vs) != VHK_KICK_DONE)
			vsock_kick_later(vs, idx);
	} else if (idx == VHK_VSOCK_VQ_EVENT) {
		(void)vsock_post_event(vs);
	} else {
		vsock_kick_later(vs, idx);
	}
	return 0;
}

static enum vhk_kick_result vs_queue_kick(void *dev, struct vhk_dev_queue *q)
{
	struct vhk_vsock *vs = to_vs(dev);

	switch (vhk_dq_index(q)) {
	case VHK_VSOCK_VQ_TX: {
		enum vhk_kick_result r = vsock_tx_process(vs);

		(void)rx_result(vs);	/* rx re-kicked itself if needed */
		return r;
	}
	case VHK_VSOCK_VQ_RX:
		vs->rx_kicked = true;
		vsock_rx_run(vs);
		vs->rx_kicked = false;
		return rx_result(vs);
	case VHK_VSOCK_VQ_EVENT:
		(void)vsock_post_event(vs);
		return VHK_KICK_DONE;
	default:
		return VHK_KICK_DONE;
	}
}

static void vs_queue_stop(void *dev, struct vhk_dev_queue *q)
{
	struct vhk_vsock *vs = to_vs(dev);
	uint16_t idx = vhk_dq_index(q);
	struct vhk_vq *vq = vhk_dq_vq(q);

	if (idx >= VHK_VSOCK_NUM_VQS)
		return;
	if (vq && vhk_vq_started(vq))
		vs->progressed[idx] = !ring_fresh(vq);
	if (idx == VHK_VSOCK_VQ_RX) {
		vsock_hub_set_reachable(vs, false);
		vsock_rx_drop_spare(vs);
	}
	vs->vq[idx] = NULL;
}

static void vs_drain(void *dev)
{
	/* The only guest pointers kept across calls: the spare rx chain. */
	vsock_rx_drop_spare(to_vs(dev));
}

static void vs_reset(void *dev)
{
	struct vhk_vsock *vs = to_vs(dev);

	vsock_rx_drop_spare(vs);
	if (vs->nconns)
		vhk_log(VHK_LOG_INFO, vs->name,
			"device reset: %u connections closed", vs->nconns);
	drop_connections(vs);
	memset(vs->progressed, 0, sizeof(vs->progressed));
	vs->acked = 0;
	/* The guest must learn that its connections are gone (5.10.6.7). */
	vs->need_reset_event = true;
}

const struct vhk_device_ops vhk_vsock_ops = {
	.type = VHK_DEV_VSOCK,
	.get_features = vs_get_features,
	.get_protocol_features = vs_get_protocol_features,
	.num_queues = vs_num_queues,
	.get_config = vs_get_config,
	.set_config = vs_set_config,
	.set_features = vs_set_features,
	.queue_start = vs_queue_start,
	.queue_kick = vs_queue_kick,
	.queue_stop = vs_queue_stop,
	.drain = vs_drain,
	.reset = vs_reset,
	.host_start = vs_host_start,
	.host_stop = vs_host_stop,
};
