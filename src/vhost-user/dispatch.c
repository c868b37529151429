/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - the back-end's one message table and the connection-wide
 * handlers (features, owner, memory, log, config, inflight, IOTLB, status).
 *
 * Every request is checked against its table row - payload size range,
 * fd count, SET_OWNER first - before any handler runs (STYLE R5).  Fds a
 * handler does not keep are closed in exactly one place, after it returns.
 * Handlers return a negative errno, BE_OK or BE_REPLY.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server_int.h"
#include "vhostkit/ring_ctl.h"
#include "vhostkit/mode.h"
#include "vhostkit/backend.h"

/* Table flags. */
#define RQ_OWNER	(1u << 0)	/* needs SET_OWNER first */
#define RQ_REPLY	(1u << 1)	/* always answered with a payload */
#define RQ_FD_VRING	(1u << 2)	/* fds: 0 with NOFD bit, else 1 */
#define RQ_FD_REGIONS	(1u << 3)	/* fds == nregions, size by nregions */
#define RQ_SIZE_CONFIG	(1u << 4)	/* size == 12 + config.size */

struct be_req {
	int (*fn)(struct vhk_backend *be, struct be_msg_ctx *ctx);
	uint16_t min_size;
	uint16_t max_size;
	uint8_t min_fds;
	uint8_t max_fds;
	uint8_t flags;
};

static struct vhk_ratelimit proto_rl = VHK_RATELIMIT_INIT;

const char *be_who(const struct vhk_backend *be)
{
	return be->name;
}

#define proto_err(be, ...) \
	vhk_log_ratelimited(&proto_rl, VHK_LOG_ERR, (be)->name, __VA_ARGS__)

/* ---- features and owner */

static uint64_t offered_features(struct vhk_backend *be)
{
	uint64_t f = be->ops->get_features(be->dev);

	vhk_set_feature(&f, VHK_F_PROTOCOL_FEATURES);
	/* Dirty logging lives in the ring layer: every device (vhost-user
	 * spec, "Migration"). */
	vhk_set_feature(&f, VHK_F_LOG_ALL);
	if (be->cfg.iommu == VHK_IOMMU_OFF)
		vhk_clear_feature(&f, VHK_F_ACCESS_PLATFORM);
	else
		vhk_set_feature(&f, VHK_F_ACCESS_PLATFORM);
	return f;
}

static uint64_t offered_protocol(struct vhk_backend *be)
{
	static const unsigned int core[] = {
		VHK_PROTO_F_REPLY_ACK, VHK_PROTO_F_BACKEND_REQ,
		VHK_PROTO_F_RESET_DEVICE, VHK_PROTO_F_STATUS,
		VHK_PROTO_F_CONFIGURE_MEM_SLOTS, VHK_PROTO_F_IOTLB_PERSIST,
		VHK_PROTO_F_LOG_SHMFD,
	};
	/* Offered only when the device asks for them. */
	static const unsigned int optional[] = {
		VHK_PROTO_F_MQ, VHK_PROTO_F_CONFIG, VHK_PROTO_F_INFLIGHT_SHMFD,
		VHK_PROTO_F_NET_MTU, VHK_PROTO_F_RARP,
	};
	uint64_t want, f = 0;

	want = be->ops->get_protocol_features ?
		be->ops->get_protocol_features(be->dev) :
		vhk_feature_bit(VHK_PROTO_F_MQ) |
		vhk_feature_bit(VHK_PROTO_F_CONFIG);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(core); i++)
		vhk_set_feature(&f, core[i]);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(optional); i++)
		if (vhk_has_feature(want, optional[i]))
			vhk_set_feature(&f, optional[i]);
	return f;
}

static int h_get_features(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	be->offered_features = offered_features(be);
	ctx->pl.u64 = be->offered_features;
	ctx->msg.hdr.size = sizeof(uint64_t);
	return BE_REPLY;
}

static int set_features(struct vhk_backend *be, uint64_t f);

static int h_set_features(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	int err = set_features(be, ctx->pl.u64);

	/* A refused feature set is one FEATURES_OK must not confirm. */
	be->features_refused = err < 0;
	return err;
}

static int set_features(struct vhk_backend *be, uint64_t f)
{
	int err;

	be->offered_features = offered_features(be);
	/* VIRTIO 1.2, 3.1.1: the driver MUST NOT accept a feature the
	 * device did not offer. */
	if (f & ~be->offered_features) {
		proto_err(be, "SET_FEATURES 0x%llx acks bits 0x%llx that were not offered",
			  (unsigned long long)f,
			  (unsigned long long)(f & ~be->offered_features));
		return -EINVAL;
	}
	/* VIRTIO 1.2, 3.1.1: features are fixed once FEATURES_OK/DRIVER_OK
	 * is set; a change needs a reset first. */
	/* LOG_ALL is transport state, toggled while the device runs (the
	 * VMM switches logging on and off around a migration). */
	if (be->features_set && (be->status & VHK_STATUS_DRIVER_OK) &&
	    (f & ~vhk_feature_bit(VHK_F_LOG_ALL)) !=
	    (be->acked_features & ~vhk_feature_bit(VHK_F_LOG_ALL))) {
		proto_err(be, "SET_FEATURES 0x%llx after DRIVER_OK changes the acked features 0x%llx: reset the device first",
			  (unsigned long long)f,
			  (unsigned long long)be->acked_features);
		return -EBUSY;
	}
	if (vhk_has_feature(f, VHK_F_ACCESS_PLATFORM)) {
		struct vhk_mode_input in = {
			.acked_features = f,
			.protocol_features = be->acked_proto,
			.backend_channel = be->channel_fd >= 0,
			.policy = be->cfg.iommu,
		};
		enum vhk_as_mode mode;
		const char *why = NULL;
		bool warn = false;

		err = vhk_as_choose_mode(&in, &mode, &warn, &why);
		if (err) {
			vhk_log(VHK_LOG_ERR, be->name,
				"refusing ACCESS_PLATFORM: %s (--iommu=%s needs the front-end to negotiate BACKEND_REQ and REPLY_ACK and send SET_BACKEND_REQ_FD; with a VMM that has no vIOMMU for this device run with --iommu=off)",
				why ? why : "no IOTLB channel",
				vhk_iommu_policy_name(be->cfg.iommu));
			return err;
		}
		if (warn)
			vhk_log(VHK_LOG_WARN, be->name,
				"ACCESS_PLATFORM acked without an IOTLB channel: using mode %s (%s)",
				vhk_as_mode_name(mode), why ? why : "");
	}
	if (be->ops->set_features) {
		uint64_t dev_f = f;

		/* Not a device feature: the device never sees it. */
		vhk_clear_feature(&dev_f, VHK_F_LOG_ALL);
		err = be->ops->set_features(be->dev, dev_f);
		if (err) {
			proto_err(be, "device refused features 0x%llx: %s",
				  (unsigned long long)f, strerror(-err));
			return err;
		}
	}
	be->acked_features = f;
	be->features_set = true;
	if (__atomic_load_n(&be->as.log_on, __ATOMIC_RELAXED) !=
	    (vhk_has_feature(f, VHK_F_LOG_ALL) && be->as.log &&
	     !be->log_dropped)) {
		be_workers_pause(be);
		__atomic_store_n(&be->as.log_on,
				 vhk_has_feature(f, VHK_F_LOG_ALL) &&
				 be->as.log && !be->log_dropped,
				 __ATOMIC_RELAXED);
		be_workers_resume(be);
		vhk_log(VHK_LOG_INFO, be->name, "dirty logging %s",
			be->as.log_on ? "on" : "off");
	}
	if (be->log_dropped && vhk_has_feature(f, VHK_F_LOG_ALL))
		vhk_log(VHK_LOG_WARN, be->name,
			"dirty logging DROPPED (VHOSTKIT_TEST_NO_DIRTY_LOG is set): migration will corrupt guest memory");
	/* vhost-user spec, "Ring states": without PROTOCOL_FEATURES the
	 * ring starts directly in the enabled state.  With it, SET_FEATURES
	 * never disables a ring (e.g. toggling LOG_ALL). */
	if (!vhk_has_feature(f, VHK_F_PROTOCOL_FEATURES)) {
		for (uint16_t i = 0; i < be->nvrings; i++) {
			if (!be->vr[i].enabled) {
				be->vr[i].enabled = true;
				vhk_backend_kick_later(be, i);
			}
		}
	}
	return BE_OK;
}

static int h_get_protocol_features(struct vhk_backend *be,
				   struct be_msg_ctx *ctx)
{
	be->offered_proto = offered_protocol(be);
	ctx->pl.u64 = be->offered_proto;
	ctx->msg.hdr.size = sizeof(uint64_t);
	return BE_REPLY;
}

static int h_set_protocol_features(struct vhk_backend *be,
				   struct be_msg_ctx *ctx)
{
	uint64_t f = ctx->pl.u64;

	be->offered_proto = offered_protocol(be);
	if (f & ~be->offered_proto) {
		proto_err(be, "SET_PROTOCOL_FEATURES 0x%llx acks unoffered bits 0x%llx",
			  (unsigned long long)f,
			  (unsigned long long)(f & ~be->offered_proto));
		return -EINVAL;
	}
	be->acked_proto = f;
	return BE_OK;
}

static int h_set_owner(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	(void)ctx;
	be->owner = true;
	return BE_OK;
}

static int h_reset_owner(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	(void)ctx;
	/* Deprecated full reset: rings, device, features, memory, IOTLB.
	 * The connection-level state (owner, protocol features, channel)
	 * stays: QEMU sends none of it again afterwards. */
	be_device_reset(be, true);
	return BE_OK;
}

static int h_reset_device(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	(void)ctx;
	be_device_reset(be, false);
	return BE_OK;
}

static int h_get_queue_num(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	ctx->pl.u64 = be->ops->num_queues(be->dev);
	ctx->msg.hdr.size = sizeof(uint64_t);
	return BE_REPLY;
}

static int h_set_status(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	uint64_t v = ctx->pl.u64;

	if (v > 0xff) {
		proto_err(be, "SET_STATUS 0x%llx is not an 8-bit status",
			  (unsigned long long)v);
		return -EINVAL;
	}
	if (v == 0) {
		/* VIRTIO 1.2, 2.1: writing 0 resets the device. */
		be_device_reset(be, false);
		return BE_OK;
	}
	/*
	 * VIRTIO 1.2, 3.1.1 (steps 5-6) and 2.1.2: the device does not keep
	 * FEATURES_OK for feature bits it does not accept; the driver
	 * re-reads the status (GET_STATUS) and sees the bit cleared.  Not
	 * accepted: no SET_FEATURES since the reset, the last one refused,
	 * or VERSION_1 missing (VIRTIO 1.2, 6.1: a driver that sets
	 * FEATURES_OK is a modern one and MUST accept VERSION_1).
	 */
	if ((v & VHK_STATUS_FEATURES_OK) &&
	    !(be->status & VHK_STATUS_FEATURES_OK) &&
	    (!be->features_set || be->features_refused ||
	     !vhk_has_feature(be->acked_features, VHK_F_VERSION_1))) {
		proto_err(be, "SET_STATUS 0x%llx: FEATURES_OK not kept: %s",
			  (unsigned long long)v,
			  !be->features_set ? "no SET_FEATURES since reset" :
			  be->features_refused ?
			  "the last SET_FEATURES was refused" :
			  "VIRTIO_F_VERSION_1 not accepted");
		v &= ~(uint64_t)VHK_STATUS_FEATURES_OK;
	}
	be->status = (uint8_t)v;
	if (be->broken)
		be->status |= VHK_STATUS_NEEDS_RESET;
	return BE_OK;
}

static int h_get_status(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	uint8_t s = be->status;

	if (be->broken)
		s |= VHK_STATUS_NEEDS_RESET;
	ctx->pl.u64 = s;
	ctx->msg.hdr.size = sizeof(uint64_t);
	return BE_REPLY;
}

/* ---- memory */

static int check_region(struct vhk_backend *be,
			const struct vhk_vu_mem_region *r, unsigned int i)
{
	if (r->memory_size == 0 ||
	    vhk_range_overflows(r->guest_phys_addr, r->memory_size) ||
	    vhk_range_overflows(r->userspace_addr, r->memory_size) ||
	    vhk_range_overflows(r->mmap_offset, r->memory_size)) {
		proto_err(be, "memory region %u: size 0x%llx at gpa 0x%llx uva 0x%llx offset 0x%llx is empty or wraps",
			  i, (unsigned long long)r->memory_size,
			  (unsigned long long)r->guest_phys_addr,
			  (unsigned long long)r->userspace_addr,
			  (unsigned long long)r->mmap_offset);
		return -EINVAL;
	}
	return 0;
}


/*
 * A mapping beyond the end of a file faults (SIGBUS) on first touch, long
 * after the message that set it up: refuse such ranges when they arrive.
 * Only regular files (memfd, hugetlbfs, tmpfs) have a size to check.
 */
static bool fd_range_ok(int fd, uint64_t off, uint64_t size, uint64_t *fsize)
{
	struct stat st;

	*fsize = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return true;
	*fsize = (uint64_t)st.st_size;
	return !vhk_add_overflows(off, size) && off + size <= *fsize;
}

static int add_region(struct vhk_backend *be, struct vhk_memtable *mt,
		      const struct vhk_vu_mem_region *r, int *fd,
		      unsigned int i)
{
	struct vhk_mem_region_desc d = {
		.gpa = r->guest_phys_addr,
		.size = r->memory_size,
		.uva = r->userspace_addr,
		.mmap_offset = r->mmap_offset,
		.fd = *fd,
	};
	int err = check_region(be, r, i);
	uint64_t fsize;

	if (err)
		return err;
	if (!fd_range_ok(*fd, r->mmap_offset, r->memory_size, &fsize)) {
		proto_err(be, "memory region %u: offset 0x%llx + size 0x%llx beyond the end of its file (0x%llx bytes)",
			  i, (unsigned long long)r->mmap_offset,
			  (unsigned long long)r->memory_size,
			  (unsigned long long)fsize);
		return -EINVAL;
	}
	err = vhk_memtable_add(mt, &d);
	if (err) {
		proto_err(be, "memory region %u (gpa 0x%llx size 0x%llx uva 0x%llx): %s",
			  i, (unsigned long long)d.gpa,
			  (unsigned long long)d.size,
			  (unsigned long long)d.uva, strerror(-err));
		return err;
	}
	*fd = -1;	/* the table owns it now */
	vhk_log(VHK_LOG_INFO, be->name,
		"memory region %u: gpa 0x%llx size 0x%llx uva 0x%llx offset 0x%llx",
		i, (unsigned long long)d.gpa, (unsigned long long)d.size,
		(unsigned long long)d.uva, (unsigned long long)d.mmap_offset);
	return 0;
}

static int h_set_mem_table(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_memory *m = &ctx->pl.memory;
	struct vhk_memtable *mt, *old;
	int err;

	err = vhk_memtable_new(&mt, VHK_MEM_MAX_SLOTS);
	if (err)
		return err;
	for (unsigned int i = 0; i < m->nregions; i++) {
		err = add_region(be, mt, &m->regions[i], &ctx->fds[i], i);
		if (err) {
			vhk_memtable_free(mt);
			return err;
		}
	}
	/* No host pointer may outlive the old table: drain the device,
	 * point the rings at the new table, then free the old one. */
	if (be->ops->drain)
		be->ops->drain(be->dev);
	old = be->mt;
	be->mt = mt;
	be->as.mt = mt;
	be_remap_all(be);
	vhk_memtable_free(old);
	return BE_OK;
}

static int h_get_max_mem_slots(struct vhk_backend *be,
			       struct be_msg_ctx *ctx)
{
	(void)be;
	ctx->pl.u64 = VHK_MEM_MAX_SLOTS;
	ctx->msg.hdr.size = sizeof(uint64_t);
	return BE_REPLY;
}

static int h_add_mem_reg(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_mem_region *r = &ctx->pl.mem_single.region;
	int err;

	if (!be->mt) {
		err = vhk_memtable_new(&be->mt, VHK_MEM_MAX_SLOTS);
		if (err)
			return err;
		be->as.mt = be->mt;
	}
	err = add_region(be, be->mt, r, &ctx->fds[0],
			 vhk_memtable_count(be->mt));
	if (err)
		return err;
	/* Rings waiting for this memory may start now. */
	be_remap_all(be);
	return BE_OK;
}

static int h_rem_mem_reg(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_mem_region *r = &ctx->pl.mem_single.region;
	int err;

	if (!be->mt)
		return -ENOENT;
	if (be->ops->drain)
		be->ops->drain(be->dev);
	err = vhk_memtable_remove(be->mt, r->guest_phys_addr, r->memory_size,
				  r->userspace_addr);
	if (err) {
		proto_err(be, "REM_MEM_REG gpa 0x%llx size 0x%llx: no such region",
			  (unsigned long long)r->guest_phys_addr,
			  (unsigned long long)r->memory_size);
		return err;
	}
	be_remap_all(be);
	return BE_OK;
}

/*
 * vhost-user spec, "Migration": with LOG_SHMFD the log is a shared memory
 * area given by fd, size and offset; one bit per 4 KiB guest page.  The
 * back-end replies (zero-sized payload) once the new log is in use.
 */
static int h_set_log_base(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_log *l = &ctx->pl.log;
	uint64_t fsize;
	void *base;
	int err;

	if (l->mmap_size == 0 || vhk_add_overflows(l->mmap_offset,
						   l->mmap_size) ||
	    l->mmap_size > SIZE_MAX) {
		proto_err(be, "SET_LOG_BASE size 0x%llx offset 0x%llx is empty or wraps",
			  (unsigned long long)l->mmap_size,
			  (unsigned long long)l->mmap_offset);
		return -EINVAL;
	}
	if (!vhk_has_feature(be->acked_proto, VHK_PROTO_F_LOG_SHMFD)) {
		proto_err(be, "SET_LOG_BASE without LOG_SHMFD negotiated");
		return -EOPNOTSUPP;
	}
	if (!fd_range_ok(ctx->fds[0], l->mmap_offset, l->mmap_size, &fsize)) {
		proto_err(be, "SET_LOG_BASE: offset 0x%llx + size 0x%llx beyond the end of its file (0x%llx bytes)",
			  (unsigned long long)l->mmap_offset,
			  (unsigned long long)l->mmap_size,
			  (unsigned long long)fsize);
		return -EINVAL;
	}
	/* mmap offsets are page aligned; map from the page, point inside. */
	{
		uint64_t poff = l->mmap_offset & ~4095ull;
		uint64_t delta = l->mmap_offset - poff;
		size_t len = (size_t)(l->mmap_size + delta);

		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			    ctx->fds[0], (off_t)poff);
		if (base == MAP_FAILED) {
			err = -errno;
			proto_err(be, "SET_LOG_BASE: mmap: %s", strerror(-err));
			return err;
		}
		be_log_unmap(be);
		be->log_base = base;
		be->log_len = len;
		vhk_mem_guard_add(base, len, &be->log_fault, 0);
		/* Swap with the queues quiescent; LOG_ALL may already be on
		 * (QEMU resizes the log while migrating). */
		be_workers_pause(be);
		be->as.log = (uint8_t *)base + delta;
		be->as.log_size = l->mmap_size;
		__atomic_store_n(&be->as.log_on,
				 vhk_has_feature(be->acked_features,
						 VHK_F_LOG_ALL) &&
				 !be->log_dropped, __ATOMIC_RELAXED);
		be_workers_resume(be);
	}
	/* A running ring whose log address the new log does not cover
	 * would write unlogged: it stops, named (be_vring_log_check()). */
	for (uint16_t i = 0; i < be->nvrings; i++) {
		if (be->vr[i].started && be_vring_log_check(be, i))
			be_vring_stop(be, i, false);
	}
	vhk_log(VHK_LOG_INFO, be->name,
		"dirty log: %llu bytes (guest memory up to 0x%llx)",
		(unsigned long long)l->mmap_size,
		(unsigned long long)(l->mmap_size * 8 * VHK_LOG_PAGE));
	ctx->msg.hdr.size = 0;
	return BE_REPLY;
}

static int h_set_log_fd(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	(void)ctx;
	proto_err(be, "SET_LOG_FD: dirty logging is not supported");
	return -EOPNOTSUPP;
}

/* ---- back-end channel, config, net */

static int h_set_backend_req_fd(struct vhk_backend *be,
				struct be_msg_ctx *ctx)
{
	if (!vhk_has_feature(be->acked_proto, VHK_PROTO_F_BACKEND_REQ)) {
		proto_err(be, "SET_BACKEND_REQ_FD without BACKEND_REQ negotiated");
		return -EPROTO;
	}
	if (be->channel_watched)
		be_epoll_del(be, be->channel_fd);
	be->channel_watched = false;
	be_close_fd(&be->channel_fd);
	be->outq_len = 0;
	be->channel_fd = ctx->fds[0];
	ctx->fds[0] = -1;
	return BE_OK;
}

static int config_range(struct vhk_backend *be, const struct vhk_vu_config *c)
{
	if ((uint64_t)c->offset + c->size > VHK_VU_CONFIG_MAX) {
		proto_err(be, "config access offset %u size %u is out of range",
			  c->offset, c->size);
		return -EINVAL;
	}
	return 0;
}

static int h_get_config(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	struct vhk_vu_config *c = &ctx->pl.config;
	int err = config_range(be, c);

	if (err)
		return err;
	if (!be->ops->get_config)
		return -EOPNOTSUPP;
	memset(c->region, 0, c->size);
	err = be->ops->get_config(be->dev, c->offset, c->region, c->size);
	if (err) {
		proto_err(be, "GET_CONFIG offset %u size %u: %s", c->offset,
			  c->size, strerror(-err));
		return err;
	}
	return BE_REPLY;
}

static int h_set_config(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	struct vhk_vu_config *c = &ctx->pl.config;
	int err = config_range(be, c);

	if (err)
		return err;
	if (!be->ops->set_config)
		return -EOPNOTSUPP;
	err = be->ops->set_config(be->dev, c->offset, c->region, c->size);
	if (err)
		proto_err(be, "SET_CONFIG offset %u size %u: %s", c->offset,
			  c->size, strerror(-err));
	return err ? err : BE_OK;
}

static int h_net_only(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	if (be->ops->type != VHK_DEV_NET) {
		proto_err(be, "%s is for net devices only",
			  vhk_vu_request_name(ctx->msg.hdr.request));
		return -EOPNOTSUPP;
	}
	return BE_OK;
}

/* vhost-user SEND_RARP: the payload's first 6 bytes are the MAC. */
static int h_send_rarp(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	uint8_t mac[6];
	int rc = h_net_only(be, ctx);

	if (rc != BE_OK)
		return rc;
	memcpy(mac, &ctx->pl.u64, sizeof(mac));
	if (be->ops->send_rarp)
		be->ops->send_rarp(be->dev, mac);
	return BE_OK;
}

/* ---- inflight region (vhost-user spec, "Inflight I/O tracking") */

static int inflight_install(struct vhk_backend *be, void *base, size_t len,
			    uint16_t nq, uint16_t qsize, size_t per)
{
	if (be->inflight_base) {
		vhk_mem_guard_del(be->inflight_base);
		munmap(be->inflight_base, be->inflight_len);
	}
	memset(&be->inflight_fault, 0, sizeof(be->inflight_fault));
	/* Front-end memory: survive it shrinking (see vhk_mem_guard_add). */
	vhk_mem_guard_add(base, len, &be->inflight_fault, 0);
	be->inflight_base = base;
	be->inflight_len = len;
	be->inflight_nq = nq;
	be->inflight_qsize = qsize;
	for (uint16_t i = 0; i < be->nvrings; i++) {
		be->vr[i].inflight = i < nq ? (uint8_t *)base + i * per : NULL;
		be->vr[i].inflight_size = i < nq ? per : 0;
	}
	return 0;
}

static int inflight_geometry(struct vhk_backend *be,
			     const struct vhk_vu_inflight *in, size_t *per)
{
	bool packed = vhk_has_feature(be->acked_features, VHK_F_RING_PACKED);

	/* Running rings write into the current region: it may only be
	 * replaced while every ring is stopped. */
	for (uint16_t i = 0; i < be->nvrings; i++) {
		if (be->vr[i].started) {
			proto_err(be, "inflight region change while vq%u runs",
				  i);
			return -EBUSY;
		}
	}

	if (in->num_queues == 0 || in->num_queues > be->nvrings ||
	    in->queue_size == 0 || in->queue_size > VHK_VQ_MAX_SIZE) {
		proto_err(be, "inflight: %u queues of size %u out of range (max %u queues of %u)",
			  in->num_queues, in->queue_size, be->nvrings,
			  VHK_VQ_MAX_SIZE);
		return -EINVAL;
	}
	*per = vhk_vq_inflight_size(in->queue_size, packed);
	if (*per == 0)
		return -EOPNOTSUPP;
	return 0;
}

static int h_get_inflight_fd(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	struct vhk_vu_inflight *in = &ctx->pl.inflight;
	size_t per, len;
	void *base;
	int fd, err;

	err = inflight_geometry(be, in, &per);
	if (err)
		return err;
	len = per * in->num_queues;
	fd = memfd_create("vhostkit-inflight", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	/* A repeated GET replaces (and unmaps) the previous region. */
	inflight_install(be, base, len, in->num_queues, in->queue_size, per);
	in->mmap_size = len;
	in->mmap_offset = 0;
	ctx->msg.hdr.size = sizeof(*in);
	ctx->reply_fds[0] = fd;		/* closed after the reply is sent */
	ctx->reply_nfds = 1;
	return BE_REPLY;
}

static int h_set_inflight_fd(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_inflight *in = &ctx->pl.inflight;
	uint64_t fsize;
	size_t per;
	void *base;
	int err;

	err = inflight_geometry(be, in, &per);
	if (err)
		return err;
	if (in->mmap_size < per * in->num_queues ||
	    in->mmap_size > SIZE_MAX ||
	    vhk_add_overflows(in->mmap_offset, in->mmap_size) ||
	    (in->mmap_offset & 4095)) {
		proto_err(be, "SET_INFLIGHT_FD size 0x%llx offset 0x%llx invalid (need 0x%zx)",
			  (unsigned long long)in->mmap_size,
			  (unsigned long long)in->mmap_offset,
			  per * in->num_queues);
		return -EINVAL;
	}
	if (!fd_range_ok(ctx->fds[0], in->mmap_offset, in->mmap_size,
			 &fsize)) {
		proto_err(be, "SET_INFLIGHT_FD: offset 0x%llx + size 0x%llx beyond the end of its file (0x%llx bytes)",
			  (unsigned long long)in->mmap_offset,
			  (unsigned long long)in->mmap_size,
			  (unsigned long long)fsize);
		return -EINVAL;
	}
	base = mmap(NULL, (size_t)in->mmap_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, ctx->fds[0], (off_t)in->mmap_offset);
	if (base == MAP_FAILED) {
		err = -errno;
		proto_err(be, "SET_INFLIGHT_FD: mmap: %s", strerror(-err));
		return err;
	}
	inflight_install(be, base, (size_t)in->mmap_size, in->num_queues,
			 in->queue_size, per);
	return BE_OK;
}

/* ---- device IOTLB (vhost-user spec, "IOMMU support") */

static int h_iotlb_msg(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	const struct vhk_vu_iotlb *m = &ctx->pl.iotlb;
	int err;

	switch (m->type) {
	case VHK_VU_IOTLB_UPDATE:
		if (!be->mt) {
			proto_err(be, "IOTLB UPDATE before any memory table");
			return -EFAULT;
		}
		err = vhk_as_iotlb_update(&be->as, m->iova, m->size, m->uaddr,
					  m->perm);
		if (err) {
			proto_err(be, "IOTLB UPDATE iova 0x%llx size 0x%llx uaddr 0x%llx perm %u: %s",
				  (unsigned long long)m->iova,
				  (unsigned long long)m->size,
				  (unsigned long long)m->uaddr, m->perm,
				  err == -EFAULT ?
				  "outside the memory table" :
				  "size 0, wrap or bad permission");
			return err;
		}
		/* Queues record their own misses: drop the answered ones
		 * (the workers are quiesced during every handler). */
		for (uint16_t i = 0; i < be->nvrings; i++)
			vhk_iotlb_qmiss_clear(vhk_vq_iotlb_cache(be->vr[i].vq),
					      m->iova, m->size, m->perm);
		be->miss_reported = false;
		be_resume_parked(be);
		return BE_OK;
	case VHK_VU_IOTLB_INVALIDATE:
		if (vhk_range_overflows(m->iova, m->size)) {
			proto_err(be, "IOTLB INVALIDATE iova 0x%llx size 0x%llx wraps",
				  (unsigned long long)m->iova,
				  (unsigned long long)m->size);
			return -EINVAL;
		}
		/* Complete in-flight I/O first: after the reply no access
		 * may use the invalidated mapping. */
		if (be->ops->drain)
			be->ops->drain(be->dev);
		err = vhk_iotlb_invalidate(be->iotlb, m->iova, m->size);
		if (err)
			return err;
		/* Size 0 flushes everything, outstanding misses included. */
		for (uint16_t i = 0; m->size == 0 && i < be->nvrings; i++)
			vhk_iotlb_qmiss_clear(vhk_vq_iotlb_cache(be->vr[i].vq),
					      0, 0, 0);
		be_remap_all(be);
		return BE_OK;
	case VHK_VU_IOTLB_BATCH_BEGIN:
	case VHK_VU_IOTLB_BATCH_END:
		return BE_OK;	/* hints only */
	default:
		proto_err(be, "IOTLB message type %u is not valid from the front-end",
			  m->type);
		return -EINVAL;
	}
}

/* ---- the table */

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhk_vu_vring_state)

static const struct be_req req_table[VHK_VU_REQUEST_MAX] = {
	[VHK_VU_GET_FEATURES] = { h_get_features, 0, 0, 0, 0, RQ_REPLY },
	[VHK_VU_SET_FEATURES] = { h_set_features, U64, U64, 0, 0, RQ_OWNER },
	[VHK_VU_SET_OWNER] = { h_set_owner, 0, 0, 0, 0, 0 },
	[VHK_VU_RESET_OWNER] = { h_reset_owner, 0, 0, 0, 0, 0 },
	[VHK_VU_SET_MEM_TABLE] = { h_set_mem_table, 8,
		sizeof(struct vhk_vu_memory), 1, VHK_VU_MAX_FDS,
		RQ_OWNER | RQ_FD_REGIONS },
	[VHK_VU_SET_LOG_BASE] = { h_set_log_base, sizeof(struct vhk_vu_log),
		sizeof(struct vhk_vu_log), 1, 1, RQ_OWNER },
	[VHK_VU_SET_LOG_FD] = { h_set_log_fd, 0, U64, 1, 1, RQ_OWNER },
	[VHK_VU_SET_VRING_NUM] = { be_h_vring_num, STATE, STATE, 0, 0,
		RQ_OWNER },
	[VHK_VU_SET_VRING_ADDR] = { be_h_vring_addr,
		sizeof(struct vhk_vu_vring_addr),
		sizeof(struct vhk_vu_vring_addr), 0, 0, RQ_OWNER },
	[VHK_VU_SET_VRING_BASE] = { be_h_vring_base, STATE, STATE, 0, 0,
		RQ_OWNER },
	[VHK_VU_GET_VRING_BASE] = { be_h_get_vring_base, STATE, STATE, 0, 0,
		RQ_OWNER | RQ_REPLY },
	[VHK_VU_SET_VRING_KICK] = { be_h_vring_fd, U64, U64, 0, 1,
		RQ_OWNER | RQ_FD_VRING },
	[VHK_VU_SET_VRING_CALL] = { be_h_vring_fd, U64, U64, 0, 1,
		RQ_OWNER | RQ_FD_VRING },
	[VHK_VU_SET_VRING_ERR] = { be_h_vring_fd, U64, U64, 0, 1,
		RQ_OWNER | RQ_FD_VRING },
	[VHK_VU_GET_PROTOCOL_FEATURES] = { h_get_protocol_features, 0, 0,
		0, 0, RQ_REPLY },
	[VHK_VU_SET_PROTOCOL_FEATURES] = { h_set_protocol_features, U64, U64,
		0, 0, 0 },
	[VHK_VU_GET_QUEUE_NUM] = { h_get_queue_num, 0, 0, 0, 0, RQ_REPLY },
	[VHK_VU_SET_VRING_ENABLE] = { be_h_vring_enable, STATE, STATE, 0, 0,
		RQ_OWNER },
	[VHK_VU_SEND_RARP] = { h_send_rarp, U64, U64, 0, 0, RQ_OWNER },
	[VHK_VU_NET_SET_MTU] = { h_net_only, U64, U64, 0, 0, RQ_OWNER },
	[VHK_VU_SET_BACKEND_REQ_FD] = { h_set_backend_req_fd, 0, 0, 1, 1, 0 },
	/* 26 (the spec's field list) or 32 bytes (struct vhost_iotlb_msg). */
	[VHK_VU_IOTLB_MSG] = { h_iotlb_msg, VHK_VU_IOTLB_MIN_SIZE,
		sizeof(struct vhk_vu_iotlb), 0, 0, RQ_OWNER },
	[VHK_VU_SET_VRING_ENDIAN] = { be_h_vring_endian, STATE, STATE, 0, 0,
		RQ_OWNER },
	[VHK_VU_GET_CONFIG] = { h_get_config, 12, sizeof(struct vhk_vu_config),
		0, 0, RQ_REPLY | RQ_SIZE_CONFIG },
	[VHK_VU_SET_CONFIG] = { h_set_config, 12, sizeof(struct vhk_vu_config),
		0, 0, RQ_SIZE_CONFIG },
	[VHK_VU_GET_INFLIGHT_FD] = { h_get_inflight_fd,
		sizeof(struct vhk_vu_inflight), sizeof(struct vhk_vu_inflight),
		0, 0, RQ_OWNER | RQ_REPLY },
	[VHK_VU_SET_INFLIGHT_FD] = { h_set_inflight_fd,
		sizeof(struct vhk_vu_inflight), sizeof(struct vhk_vu_inflight),
		1, 1, RQ_OWNER },
	[VHK_VU_RESET_DEVICE] = { h_reset_device, 0, 0, 0, 0, 0 },
	[VHK_VU_GET_MAX_MEM_SLOTS] = { h_get_max_mem_slots, 0, 0, 0, 0,
		RQ_REPLY },
	[VHK_VU_ADD_MEM_REG] = { h_add_mem_reg,
		sizeof(struct vhk_vu_mem_single),
		sizeof(struct vhk_vu_mem_single), 1, 1, RQ_OWNER },
	/* Some QEMU versions send the region's fd along: accept, close. */
	[VHK_VU_REM_MEM_REG] = { h_rem_mem_reg,
		sizeof(struct vhk_vu_mem_single),
		sizeof(struct vhk_vu_mem_single), 0, 1, RQ_OWNER },
	[VHK_VU_SET_STATUS] = { h_set_status, U64, U64, 0, 0, 0 },
	[VHK_VU_GET_STATUS] = { h_get_status, 0, 0, 0, 0, RQ_REPLY },
};

/* Requests that only read connection state: no need to pause workers. */
static bool read_only(uint32_t req)
{
	switch (req) {
	case VHK_VU_GET_FEATURES:
	case VHK_VU_GET_PROTOCOL_FEATURES:
	case VHK_VU_GET_QUEUE_NUM:
	case VHK_VU_GET_STATUS:
	case VHK_VU_GET_MAX_MEM_SLOTS:
		return true;
	default:
		return false;
	}
}

/*
 * Check @ctx against @rq before the handler: size range and the size the
 * payload itself implies, fd count, ownership.  Returns 0 or -errno.
 */
static int validate(struct vhk_backend *be, const struct be_req *rq,
		    struct be_msg_ctx *ctx)
{
	const struct vhk_vu_msg *m = &ctx->msg;
	const union vhk_vu_payload *pl = &ctx->pl;
	const char *name = vhk_vu_request_name(m->hdr.request);
	unsigned int want_min = rq->min_fds, want_max = rq->max_fds;

	if (m->hdr.size < rq->min_size || m->hdr.size > rq->max_size) {
		proto_err(be, "%s: payload size %u, expected %u..%u", name,
			  m->hdr.size, rq->min_size, rq->max_size);
		return -EINVAL;
	}
	if (rq->flags & RQ_FD_REGIONS) {
		uint32_t n = pl->memory.nregions;

		/* vhost-user spec: at most 8 regions per SET_MEM_TABLE,
		 * one fd each. */
		if (n == 0 || n > VHK_VU_MAX_FDS) {
			proto_err(be, "%s: %u regions (1..%u allowed)", name,
				  n, VHK_VU_MAX_FDS);
			return -EINVAL;
		}
		if (m->hdr.size != 8 + n * sizeof(struct vhk_vu_mem_region) &&
		    m->hdr.size != sizeof(struct vhk_vu_memory)) {
			proto_err(be, "%s: payload size %u does not match %u regions",
				  name, m->hdr.size, n);
			return -EINVAL;
		}
		want_min = want_max = n;
	}
	if (rq->flags & RQ_SIZE_CONFIG) {
		const struct vhk_vu_config *c = &pl->config;

		if (c->size > VHK_VU_CONFIG_MAX || m->hdr.size != 12 + c->size) {
			proto_err(be, "%s: config size %u does not match payload size %u",
				  name, c->size, m->hdr.size);
			return -EINVAL;
		}
	}
	if (rq->flags & RQ_FD_VRING) {
		uint64_t v = pl->u64;

		if (v & ~(VHK_VU_VRING_IDX_MASK | VHK_VU_VRING_NOFD)) {
			proto_err(be, "%s: reserved bits set in 0x%llx", name,
				  (unsigned long long)v);
			return -EINVAL;
		}
		want_min = want_max = (v & VHK_VU_VRING_NOFD) ? 0 : 1;
	}
	if (ctx->nfds < want_min) {
		proto_err(be, "%s: %u fds received, %u needed", name,
			  ctx->nfds, want_min);
		return -EBADF;
	}
	if (ctx->nfds > want_max) {
		proto_err(be, "%s: %u fds received, at most %u allowed", name,
			  ctx->nfds, want_max);
		return -EINVAL;
	}
	if ((rq->flags & RQ_OWNER) && !be->owner) {
		proto_err(be, "%s before SET_OWNER", name);
		return -EPERM;
	}
	return 0;
}

/* Send the reply for @ctx; 0 or -errno (the connection is then closed). */
static int send_reply(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	int err;

	ctx->msg.hdr.flags = VHK_VU_VERSION | VHK_VU_FLAG_REPLY;
	memcpy(&ctx->msg.payload, &ctx->pl, sizeof(ctx->pl));
	err = vhk_vu_send(be->conn_fd, &ctx->msg, ctx->reply_fds,
			  ctx->reply_nfds);
	for (unsigned int i = 0; i < ctx->reply_nfds; i++)
		close(ctx->reply_fds[i]);
	ctx->reply_nfds = 0;
	if (err)
		vhk_log(VHK_LOG_ERR, be->name, "reply to %s failed: %s",
			vhk_vu_request_name(ctx->msg.hdr.request),
			strerror(-err));
	return err;
}

/**
 * be_dispatch - validate and handle one received message, send its reply.
 * Every fd in @ctx is either kept by a handler or closed here.
 * Returns 0 to keep the connection, a negative errno to close it.
 */
int be_dispatch(struct vhk_backend *be, struct be_msg_ctx *ctx)
{
	struct vhk_vu_hdr *h = &ctx->msg.hdr;
	const struct be_req *rq = NULL;
	uint32_t req = h->request;
	bool need_reply, has_reply = false;
	int r;

	need_reply = h->flags & VHK_VU_FLAG_NEED_REPLY;
	/* Handlers work on an aligned copy of the (packed) payload. */
	memcpy(&ctx->pl, &ctx->msg.payload, sizeof(ctx->pl));
	/* vhost-user spec, "Header": only the version and NEED_REPLY bits
	 * are valid in a request; anything else means we are not talking
	 * vhost-user (or are out of sync). */
	if (h->flags & ~(VHK_VU_VERSION_MASK | VHK_VU_FLAG_NEED_REPLY)) {
		vhk_log(VHK_LOG_ERR, be->name,
			"%s: invalid header flags 0x%x: closing connection",
			vhk_vu_request_name(req), h->flags);
		r = -EPROTO;
		goto close_fds;
	}
	if (req < VHK_VU_REQUEST_MAX && req_table[req].fn)
		rq = &req_table[req];
	if (!rq) {
		proto_err(be, "unsupported request %u (%s)", req,
			  vhk_vu_request_name(req));
		r = -EOPNOTSUPP;
	} else {
		has_reply = rq->flags & RQ_REPLY;
		vhk_log(VHK_LOG_DEBUG, be->name, "%s size %u fds %u",
			vhk_vu_request_name(req), h->size, ctx->nfds);
		/* Quiesce: the queue workers are parked outside any
		 * device callback while a handler changes rings,
		 * translation or device state (worker.c). */
		bool quiesce = !read_only(req);

		if (quiesce)
			be_workers_pause(be);
		r = validate(be, rq, ctx);
		if (r == 0)
			r = rq->fn(be, ctx);
		if (quiesce)
			be_workers_resume(be);
	}
	/* The one place unused fds are closed (extra, or left by a failed
	 * handler). */
	for (unsigned int i = 0; i < ctx->nfds; i++) {
		if (ctx->fds[i] >= 0)
			close(ctx->fds[i]);
		ctx->fds[i] = -1;
	}
	if (be->conn_fd < 0)
		return -ECONNRESET;
	h->request = req;
	if (r == BE_REPLY)
		return send_reply(be, ctx);
	if (has_reply) {
		/* The front-end waits for a payload: an empty one is an
		 * error it can see (and does not hang on). */
		for (unsigned int i = 0; i < ctx->reply_nfds; i++)
			close(ctx->reply_fds[i]);
		ctx->reply_nfds = 0;
		h->size = 0;
		return send_reply(be, ctx);
	}
	if (need_reply) {
		/* vhost-user spec, REPLY_ACK: zero for success, non-zero
		 * for failure. */
		ctx->pl.u64 = r < 0 ? (uint64_t)-r : 0;
		h->size = sizeof(uint64_t);
		return send_reply(be, ctx);
	}
	return 0;
close_fds:
	for (unsigned int i = 0; i < ctx->nfds; i++) {
		if (ctx->fds[i] >= 0)
			close(ctx->fds[i]);
		ctx->fds[i] = -1;
	}
	return r;
}
