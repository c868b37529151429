/* SPDX-License-Identifier: MIT */
/*
 * vring.c - the back-end's ring messages (SET_VRING_*, GET_VRING_BASE) and
 * ring lifecycle.
 *
 * vhost-user spec, "Ring states": a ring is *started* once its addresses
 * and kick fd are known and *enabled* by SET_VRING_ENABLE (or directly,
 * without PROTOCOL_FEATURES); it is processed only when both hold.
 * GET_VRING_BASE stops it.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server_int.h"
#include "vhostkit/ring_ctl.h"
#include "vhostkit/mode.h"
#include "ring/vring_defs.h"

static struct vhk_ratelimit ring_rl = VHK_RATELIMIT_INIT;

#define ring_err(be, ...) \
	vhk_log_ratelimited(&ring_rl, VHK_LOG_ERR, (be)->name, __VA_ARGS__)

static bool packed(const struct vhk_backend *be)
{
	return vhk_has_feature(be->acked_features, VHK_F_RING_PACKED);
}

/*
 * The vring index of a message.  It is a u32 on the wire: compare it
 * whole, so that 0x10000 + k is not taken for k.
 */
static int ring_index(struct vhk_backend *be, uint64_t index, const char *what)
{
	if (index >= be->nvrings) {
		ring_err(be, "%s: vring index %llu out of range (%u vrings)",
			 what, (unsigned long long)index, be->nvrings);
		return -EINVAL;
	}
	return (int)index;
}

static uint32_t saved_base(const struct vhk_backend *be,
			   const struct be_vring *r)
{
	if (packed(be))
		return (uint32_t)r->avail_base | (uint32_t)r->used_base << 16;
	return r->avail_base;
}

/*
 * Stop ring @idx: the device completes its in-flight requests
 * (queue_stop), then the ring records where to resume.
 */
void be_vring_stop(struct vhk_backend *be, uint16_t idx, bool close_kick)
{
	struct be_vring *r = &be->vr[idx];

	if (r->dev_started && be->ops->queue_stop)
		be->ops->queue_stop(be->dev, &r->dq);
	r->dev_started = false;
	vhk_dq_fini(&r->dq);
	if (vhk_vq_started(r->vq)) {
		uint32_t base = vhk_vq_base(r->vq);

		r->avail_base = (uint16_t)base;
		r->used_base = (uint16_t)(base >> 16);
		r->used_base_valid = packed(be);
		vhk_vq_stop(r->vq);
	}
	r->started = r->mapped = r->parked = r->again = false;
	if (close_kick) {
		if (r->kick_watched)
			be_ring_fd_del(be, idx, r->kick_fd);
		r->kick_watched = false;
		be_close_fd(&r->kick_fd);
		r->kick_set = false;
	}
}

/* ---- the server as the host of its device's queues (device.h) */

static void dq_complete(void *opaque, struct vhk_dev_queue *q)
{
	vhk_backend_complete(opaque, q->idx);
}

static void dq_kick_later(void *opaque, struct vhk_dev_queue *q)
{
	vhk_backend_kick_later(opaque, q->idx);
}

static int dq_watch(void *opaque, struct vhk_dev_queue *q, int fd,
		    uint32_t events, vhk_watch_fn fn, void *arg)
{
	return vhk_backend_watch_queue(opaque, q->idx, fd, events, fn, arg);
}

static int dq_unwatch(void *opaque, struct vhk_dev_queue *q, int fd)
{
	(void)q;
	return vhk_backend_unwatch(opaque, fd);
}

static void dq_broken(void *opaque, const char *why)
{
	vhk_backend_device_broken(opaque, why);
}

static const struct vhk_dq_host be_dq_host = {
	.complete = dq_complete,
	.kick_later = dq_kick_later,
	.watch = dq_watch,
	.unwatch = dq_unwatch,
	.broken = dq_broken,
};

/* The device's view of started ring @idx. */
int be_dq_init(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r = &be->vr[idx];
	void *priv = r->dq.priv;	/* the device's, kept across starts */
	int err;

	err = vhk_dq_init(&r->dq, r->vq, idx, be->max_iov, &be_dq_host, be,
			  r->name);
	r->dq.priv = priv;
	return err;
}

/* Device reset of one ring: stopped, disabled, forgotten layout.  The
 * resume point stays until SET_VRING_BASE (QEMU may ask GET_VRING_BASE
 * after a status reset). */
void be_vring_reset(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r = &be->vr[idx];

	be_vring_stop(be, idx, true);
	r->enabled = false;
	r->num = 0;
	r->addr_set = false;
}

static void log_start(struct vhk_backend *be, uint16_t idx, const char *why)
{
	struct be_vring *r = &be->vr[idx];
	char logat[64] = "";

	if (r->log_used)
		snprintf(logat, sizeof(logat), ", used ring logged at 0x%llx",
			 (unsigned long long)r->log_addr);
	vhk_log(VHK_LOG_INFO, be->name,
		"vq%u started: mode %s (%s), %s ring of %u%s%s", idx,
		vhk_as_mode_name(be->as.mode), why, packed(be) ? "packed" :
		"split", r->num, r->mapped ? "" : ", rings await IOTLB",
		logat);
}

/* A ring runs: the connection's translation mode is chosen. */
static bool mode_chosen(const struct vhk_backend *be)
{
	for (uint16_t i = 0; i < be->nvrings; i++)
		if (be->vr[i].started)
			return true;
	return false;
}

/* The translation mode, decided at ring start from negotiated state only
 * (docs/translation-model.md).  All rings share it: it is chosen by the first ring. */
static int choose_mode(struct vhk_backend *be, const char **why)
{
	struct vhk_mode_input in = {
		.acked_features = be->acked_features,
		.protocol_features = be->acked_proto,
		.backend_channel = be->channel_fd >= 0,
		.policy = be->cfg.iommu,
	};
	enum vhk_as_mode mode;
	bool warn = false;
	int err;

	if (mode_chosen(be)) {
		*why = "as the other rings";
		return 0;
	}
	*why = "";
	err = vhk_as_choose_mode(&in, &mode, &warn, why);
	if (err)
		return err;
	if (!*why)
		*why = "";
	be_set_mode(be, mode);
	return 0;
}

/*
 * Platform-identity mode: front-ends send ring addresses either as their
 * own virtual addresses (what vhost-user means without an IOMMU) or as
 * guest addresses (IOVA = GPA, what the spec means once ACCESS_PLATFORM is
 * negotiated).  The first ring to start decides for the connection; the
 * reading is logged.
 */
static int pick_ring_reading(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r = &be->vr[idx];
	uint64_t a[3] = { r->addrs.desc, r->addrs.driver, r->addrs.device };
	const char *why = NULL;
	int err;

	if (be->as.mode != VHK_AS_PLATFORM_IDENTITY || be->ring_reading_set)
		return 0;
	err = vhk_as_pick_ring_reading(&be->as, a, 3, &why);
	if (err) {
		ring_err(be, "vq%u: platform-identity: %s (desc 0x%llx avail 0x%llx used 0x%llx)",
			 idx, why ? why : strerror(-err),
			 (unsigned long long)a[0], (unsigned long long)a[1],
			 (unsigned long long)a[2]);
		return err;
	}
	be->ring_reading_set = true;
	vhk_log(VHK_LOG_INFO, be->name, "platform-identity: %s", why);
	return 0;
}

/*
 * Start ring @idx once the front-end gave everything it needs.  Returns 0
 * (started, waiting for an IOTLB mapping, or not ready yet) or the error
 * that keeps it from starting.
 */
int be_vring_try_start(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r = &be->vr[idx];
	struct vhk_vq_params p;
	const char *why = "";
	int err;

	if (r->started || !r->kick_set || !r->addr_set || r->num == 0 ||
	    !be->mt)
		return 0;
	err = choose_mode(be, &why);
	if (err) {
		ring_err(be, "vq%u: no usable translation mode: %s", idx,
			 why ? why : strerror(-err));
		return err;
	}
	err = pick_ring_reading(be, idx);
	if (!err)
		err = be_vring_log_check(be, idx);
	if (err)
		return err;
	memset(&p, 0, sizeof(p));
	p.num = r->num;
	p.features = be->acked_features;
	p.addrs = r->addrs;
	p.avail_base = r->avail_base;
	p.used_base = r->used_base;
	p.used_base_valid = r->used_base_valid;
	p.max_iov = be->max_iov;
	p.log_used = r->log_used;
	p.log_addr = r->log_addr;
	p.name = r->name;
	/*
	 * Always (re)set, NULL included: the queue object outlives
	 * connections, and a region the last front-end had is unmapped.
	 */
	err = vhk_vq_set_inflight(r->vq, r->inflight, r->inflight_size);
	if (err) {
		vhk_log(VHK_LOG_WARN, be->name,
			"vq%u: inflight tracking unavailable: %s", idx,
			strerror(-err));
	}
	err = vhk_vq_start(r->vq, &be->as, &p);
	if (err && err != -EAGAIN) {
		ring_err(be, "vq%u: cannot start (size %u desc 0x%llx avail 0x%llx used 0x%llx): %s",
			 idx, r->num, (unsigned long long)r->addrs.desc,
			 (unsigned long long)r->addrs.driver,
			 (unsigned long long)r->addrs.device, strerror(-err));
		return err;
	}
	r->started = true;
	r->mapped = err == 0;
	log_start(be, idx, why);
	/* A ring without a kick fd still gets its worker (queue watches,
	 * deferred kicks); failure leaves it to the main loop. */
	if (be_worker_ensure(be, idx))
		vhk_log(VHK_LOG_WARN, be->name,
			"vq%u: served by the main loop", idx);
	err = be_dq_init(be, idx);
	if (!err && be->ops->queue_start)
		err = be->ops->queue_start(be->dev, &r->dq);
	if (err) {
		ring_err(be, "vq%u: device refused to start: %s", idx,
			 strerror(-err));
		vhk_dq_fini(&r->dq);
		vhk_vq_stop(r->vq);
		r->started = r->mapped = false;
		return err;
	}
	r->dev_started = true;
	/* Buffers may already be waiting (reconnect, restart). */
	vhk_backend_kick_later(be, idx);
	return 0;
}

/*
 * After a memory table or IOTLB change: translate every started ring
 * again, and start rings that were waiting for memory.  A ring that can
 * no longer be mapped is stopped (never keep a stale host pointer).
 */
int be_remap_all(struct vhk_backend *be)
{
	for (uint16_t i = 0; i < be->nvrings; i++) {
		struct be_vring *r = &be->vr[i];
		int err;

		if (!r->started) {
			be_vring_try_start(be, i);
			continue;
		}
		err = vhk_vq_remap(r->vq);
		if (err == 0) {
			if (!r->mapped)
				vhk_backend_kick_later(be, i);
			r->mapped = true;
		} else if (err == -EAGAIN) {
			r->mapped = false;
		} else {
			ring_err(be, "vq%u: rings no longer mapped after a memory change: %s; stopping the ring",
				 i, strerror(-err));
			be_vring_stop(be, i, false);
		}
	}
	return 0;
}

/* After an IOTLB UPDATE: map waiting rings, resume parked queues. */
void be_resume_parked(struct vhk_backend *be)
{
	for (uint16_t i = 0; i < be->nvrings; i++) {
		struct be_vring *r = &be->vr[i];

		if (r->started && !r->mapped) {
			int err = vhk_vq_remap(r->vq);

			if (err == 0) {
				r->mapped = true;
				r->parked = false;
				vhk_backend_kick_later(be, i);
			} else if (err != -EAGAIN) {
				ring_err(be, "vq%u: rings unmappable: %s", i,
					 strerror(-err));
				be_vring_stop(be, i, false);
			}
			continue;
		}
		if (r->parked) {
			r->parked = false;
			vhk_backend_kick_later(be, i);
		}
	}
}

/* Let the device process ring @idx if it is started and enabled. */
void be_vring_process(struct vhk_backend *be, uint16_t idx)
{
	struct be_vring *r = &be->vr[idx];
	enum vhk_kick_result res;

	if (!r->dev_started || !r->enabled || r->parked || be->broken)
		return;
	if (!r->mapped) {
		r->parked = true;	/* waits for the UPDATE */
		return;
	}
	res = vhk_dq_process(&r->dq, be->ops, be->dev);
	if (res == VHK_KICK_AGAIN)
		r->again = true;
	else if (res == VHK_KICK_PARKED)
		r->parked = true;
}

/* ---- handlers */

/* VIRTIO 1.2, 2.7 / 2.8: Queue Size is 1..32768; a power of 2 for split
 * rings. */
int be_h_vring_num(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_vring_state *s = &ctx->pl.state;
	int idx = ring_index(be, s->index, "SET_VRING_NUM");

	if (idx < 0)
		return idx;
	if (s->num == 0 || s->num > VHK_VQ_MAX_SIZE ||
	    (!packed(be) && (s->num & (s->num - 1)))) {
		ring_err(be, "SET_VRING_NUM vq%d: size %u invalid (1..%u%s)",
			 idx, s->num, VHK_VQ_MAX_SIZE,
			 packed(be) ? "" : ", power of two");
		return -EINVAL;
	}
	if (be->vr[idx].started) {
		ring_err(be, "SET_VRING_NUM vq%d while the ring runs", idx);
		return -EBUSY;
	}
	be->vr[idx].num = (uint16_t)s->num;
	return BE_OK;
}

/*
 * vhost-user spec, "Migration": with VHOST_VRING_F_LOG in a ring's
 * SET_VRING_ADDR flags the back-end logs its used-ring (device area)
 * writes at log_guest_addr + offset.  In gpa and platform-identity mode
 * that is a guest-physical address: the pages it names must be inside the
 * dirty log, or the ring's writes would go unlogged and the migrated
 * guest would see a stale used ring.  (In iotlb mode it is an IOVA, which
 * translates into the memory table like any ring address.)  Checked when
 * the ring starts and when a new log arrives.
 */
int be_vring_log_check(struct vhk_backend *be, uint16_t idx)
{
	const struct be_vring *r = &be->vr[idx];
	enum vhk_as_mode mode = be->as.mode;
	uint64_t size, last_page;

	if (!r->log_used || !be->as.log || r->num == 0)
		return 0;
	if (!mode_chosen(be)) {
		/* what the first ring's start will choose (negotiated
		 * state only); no mode: that start fails anyway */
		struct vhk_mode_input in = {
			.acked_features = be->acked_features,
			.protocol_features = be->acked_proto,
			.backend_channel = be->channel_fd >= 0,
			.policy = be->cfg.iommu,
		};
		const char *why = NULL;
		bool warn = false;

		if (vhk_as_choose_mode(&in, &mode, &warn, &why))
			return 0;
	}
	if (mode == VHK_AS_IOTLB)
		return 0;
	size = packed(be) ? sizeof(struct vhk_vring_packed_event) :
	       vhk_split_used_size(r->num);
	if (!vhk_has_feature(be->acked_features, VHK_F_EVENT_IDX) &&
	    !packed(be))
		size -= 2;	/* no avail_event word */
	last_page = (r->log_addr + size - 1) / VHK_LOG_PAGE;
	if (vhk_range_overflows(r->log_addr, size) ||
	    last_page / 8 >= be->as.log_size) {
		ring_err(be, "vq%u: log_guest_addr 0x%llx + 0x%llx bytes lies beyond the dirty log (%llu bytes: guest memory up to 0x%llx)",
			 idx, (unsigned long long)r->log_addr,
			 (unsigned long long)size,
			 (unsigned long long)be->as.log_size,
			 (unsigned long long)(be->as.log_size * 8 *
					      VHK_LOG_PAGE));
		return -EINVAL;
	}
	return 0;
}

int be_h_vring_addr(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_vring_addr *a = &ctx->pl.addr;
	int idx = ring_index(be, a->index, "SET_VRING_ADDR");
	struct be_vring *r;

	if (idx < 0)
		return idx;
	/* vhost-user: bit 0 (VHOST_VRING_F_LOG) is the only flag defined;
	 * a ring asking for anything else cannot be served as asked. */
	if (a->flags & ~VHK_VU_VRING_F_LOG) {
		ring_err(be, "SET_VRING_ADDR vq%d: unknown flags 0x%x",
			 idx, a->flags);
		return -EINVAL;
	}
	r = &be->vr[idx];
	r->addrs.desc = a->desc_user_addr;
	r->addrs.driver = a->avail_user_addr;
	r->addrs.device = a->used_user_addr;
	r->log_used = a->flags & VHK_VU_VRING_F_LOG;
	r->log_addr = a->log_guest_addr;
	r->addr_set = true;
	/* A bad log address is refused at once (a running ring: by its
	 * restart below). */
	if (!r->started && be_vring_log_check(be, (uint16_t)idx))
		return -EINVAL;
	if (r->started) {
		/* New addresses for a running ring: restart it there. */
		be_vring_stop(be, (uint16_t)idx, false);
		return be_vring_try_start(be, (uint16_t)idx);
	}
	return BE_OK;
}

int be_h_vring_base(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_vring_state *s = &ctx->pl.state;
	int idx = ring_index(be, s->index, "SET_VRING_BASE");
	struct be_vring *r;

	if (idx < 0)
		return idx;
	r = &be->vr[idx];
	if (r->started) {
		ring_err(be, "SET_VRING_BASE vq%d while the ring runs", idx);
		return -EBUSY;
	}
	if (!packed(be) && s->num > 0xffff) {
		ring_err(be, "SET_VRING_BASE vq%d: base %u exceeds 16 bits",
			 idx, s->num);
		return -EINVAL;
	}
	r->avail_base = (uint16_t)s->num;
	/* Packed (vhost-user spec): bits 0-14 last avail index, bit 15
	 * its wrap counter; the upper half, when given, the used side. */
	r->used_base = (uint16_t)(s->num >> 16);
	r->used_base_valid = packed(be) && (s->num >> 16) != 0;
	return BE_OK;
}

/*
 * GET_VRING_BASE stopped the last running ring: the device is stopped, and
 * a front-end stops forwarding the guest's IOMMU invalidations while its
 * device is stopped (QEMU's vhost_dev_stop() unregisters its IOMMU
 * notifier; it registers it again at the next start without replaying
 * what it missed).  A guest that resets its device frees the old rings
 * and buffers meanwhile and may map the new rings at the same IOVAs, so
 * every entry kept across the stop may be stale: drop them all (a miss is
 * always safe).  A front-end that acked IOTLB_PERSIST promises to keep
 * the entries true across stops and resets (docs/translation-model.md,
 * "Reset and persistence").
 */
static void flush_iotlb_if_stopped(struct vhk_backend *be)
{
	size_t n;

	if (be->as.mode != VHK_AS_IOTLB ||
	    vhk_has_feature(be->acked_proto, VHK_PROTO_F_IOTLB_PERSIST))
		return;
	for (uint16_t i = 0; i < be->nvrings; i++) {
		if (be->vr[i].started)
			return;
	}
	n = vhk_iotlb_count(be->iotlb);
	vhk_iotlb_flush(be->iotlb);
	for (uint16_t i = 0; i < be->nvrings; i++)
		vhk_iotlb_qmiss_clear(vhk_vq_iotlb_cache(be->vr[i].vq), 0, 0,
				      0);
	if (n)
		vhk_log(VHK_LOG_DEBUG, be->name,
			"every ring stopped: %zu IOTLB entries dropped (the front-end does not forward invalidations while the device is stopped)",
			n);
}

int be_h_get_vring_base(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	struct vhk_vu_vring_state *s = &ctx->pl.state;
	int idx = ring_index(be, s->index, "GET_VRING_BASE");

	if (idx < 0)
		return idx;
	be_vring_stop(be, (uint16_t)idx, true);
	s->num = saved_base(be, &be->vr[idx]);
	ctx->msg.hdr.size = sizeof(*s);
	flush_iotlb_if_stopped(be);
	return BE_REPLY;
}

int be_h_vring_fd(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	uint32_t req = ctx->msg.hdr.request;
	uint64_t v = ctx->pl.u64;
	int idx = ring_index(be, v & VHK_VU_VRING_IDX_MASK,
			     vhk_vu_request_name(req));
	struct be_vring *r;
	int fd = -1;

	if (idx < 0)
		return idx;
	r = &be->vr[idx];
	if (!(v & VHK_VU_VRING_NOFD)) {
		fd = ctx->fds[0];
		ctx->fds[0] = -1;
	}
	switch (req) {
	case VHK_VU_SET_VRING_KICK:
		if (r->kick_watched)
			be_ring_fd_del(be, (uint16_t)idx, r->kick_fd);
		r->kick_watched = false;
		be_close_fd(&r->kick_fd);
		r->kick_fd = fd;
		r->kick_nowait = 0;
		r->kick_set = true;
		r->kick_edge = fd >= 0 && be_fd_anon(fd);
		if (fd >= 0) {
			/* An eventfd is watched edge-triggered and never
			 * read: each kick is one wake-up, no read() per kick
			 * (server.c, be_kick_readable).  Anything else is
			 * read without blocking per call (fdio.c): the fd's
			 * flags are the front-end's and stay as they are.
			 * With queue workers the ring's worker polls it. */
			if (be_worker_ensure(be, (uint16_t)idx) == 0 &&
			    be_ring_fd_add(be, (uint16_t)idx, fd,
					   EPOLLIN | (r->kick_edge ? EPOLLET : 0),
					   BE_TAG_KICK, (uint32_t)idx) == 0)
				r->kick_watched = true;
			else
				ring_err(be, "vq%d: kick fd cannot be polled",
					 idx);
		} else {
			vhk_log(VHK_LOG_WARN, be->name,
				"vq%d: no kick fd (polling mode is not supported): the ring runs on enable only",
				idx);
		}
		return be_vring_try_start(be, (uint16_t)idx);
	case VHK_VU_SET_VRING_CALL:
		be_close_fd(&r->call_fd);
		r->call_fd = fd;
		r->call_nowait = 0;
		r->call_failed = false;
		break;
	default:
		be_close_fd(&r->err_fd);
		r->err_fd = fd;
		break;
	}
	return BE_OK;
}

int be_h_vring_enable(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_vring_state *s = &ctx->pl.state;
	int idx = ring_index(be, s->index, "SET_VRING_ENABLE");

	if (idx < 0)
		return idx;
	if (s->num > 1) {
		ring_err(be, "SET_VRING_ENABLE vq%d: value %u is not 0/1", idx,
			 s->num);
		return -EINVAL;
	}
	be->vr[idx].enabled = s->num == 1;
	if (s->num == 1)
		vhk_backend_kick_later(be, (uint16_t)idx);
	return BE_OK;
}

int be_h_vring_endian(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_vring_state *s = &ctx->pl.state;
	int idx = ring_index(be, s->index, "SET_VRING_ENDIAN");

	if (idx < 0)
		return idx;
	/* VHOST_VRING_LITTLE_ENDIAN is 0: the only layout we serve
	 * (CROSS_ENDIAN is not offered). */
	if (s->num != 0) {
		ring_err(be, "SET_VRING_ENDIAN vq%d: big-endian rings are not supported",
			 idx);
		return -EOPNOTSUPP;
	}
	return BE_OK;
}
