/* SPDX-License-Identifier: MIT */
/*
 * lifecycle.c - start, stop, reset, reconnect and close of a front-end:
 * the message sequence a VMM sends to bring a vhost-user device up
 * (vhost-user spec, "Starting and stopping rings", "Inflight I/O
 * tracking") and the shared memory it owns.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fe_priv.h"

enum bring_kind { BRING_START, BRING_RESET, BRING_RECONNECT };

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static const char *fe_who(const struct vhk_fe *fe)
{
	return fe->name;
}

static bool fe_packed(const struct vhk_fe *fe)
{
	return vhk_has_feature(fe->driver_features, VHK_F_RING_PACKED);
}

/*
 * The two words: what the driver ("guest") acked, and what goes to the
 * back-end.  The guest is offered the back-end's bits within the
 * allowlist, plus ACCESS_PLATFORM whenever this VMM wants its guest to use
 * the DMA API - whether or not the back-end offers it (bounce mode needs
 * no back-end support).
 */
static int negotiate(struct vhk_fe *fe)
{
	uint64_t offer_guest, want, acked, to_be;
	bool iotlb_ok;

	offer_guest = fe->backend_offered & fe->cfg.allowlist;
	vhk_clear_feature(&offer_guest, VHK_F_PROTOCOL_FEATURES);
	vhk_clear_feature(&offer_guest, VHK_F_ACCESS_PLATFORM);
	if (fe->cfg.access_platform ||
	    vhk_has_feature(fe->cfg.driver_features, VHK_F_ACCESS_PLATFORM))
		vhk_set_feature(&offer_guest, VHK_F_ACCESS_PLATFORM);

	want = fe->cfg.driver_features;
	if (fe->cfg.access_platform)
		vhk_set_feature(&want, VHK_F_ACCESS_PLATFORM);
	if (fe->cfg.packed)
		vhk_set_feature(&want, VHK_F_RING_PACKED);
	acked = want & offer_guest;
	if (vhk_has_feature(want, VHK_F_VERSION_1) &&
	    !vhk_has_feature(acked, VHK_F_VERSION_1)) {
		vhk_log(VHK_LOG_ERR, fe_who(fe),
			"back-end does not offer VERSION_1");
		return -ENOTSUP;
	}

	/*
	 * An IOTLB is provided only when this VMM can really fill it: the
	 * back-end offers ACCESS_PLATFORM and we have the back-end channel
	 * for misses and REPLY_ACK to know an UPDATE landed.
	 */
	iotlb_ok = fe->cfg.iotlb &&
		   vhk_has_feature(acked, VHK_F_ACCESS_PLATFORM) &&
		   vhk_has_feature(fe->backend_offered, VHK_F_ACCESS_PLATFORM) &&
		   vhk_has_feature(fe->proto_acked, VHK_PROTO_F_BACKEND_REQ) &&
		   vhk_has_feature(fe->proto_acked, VHK_PROTO_F_REPLY_ACK);
	if (fe->cfg.iotlb && !iotlb_ok)
		vhk_log(VHK_LOG_WARN, fe_who(fe),
			"IOTLB requested but not possible (needs ACCESS_PLATFORM offered, BACKEND_REQ and REPLY_ACK): %s",
			vhk_has_feature(acked, VHK_F_ACCESS_PLATFORM) ?
			"using bounce buffers" : "using direct GPAs");

	to_be = (fe->cfg.negotiate ? fe->cfg.negotiate :
		 vhk_fe_backend_features)(acked, fe->backend_offered,
					  fe->cfg.allowlist, iotlb_ok);
	if (vhk_has_feature(to_be, VHK_F_ACCESS_PLATFORM) && !iotlb_ok)
		vhk_log(VHK_LOG_WARN, fe_who(fe),
			"negotiation policy sends ACCESS_PLATFORM without an IOTLB: the back-end may fault on every access");
	if (vhk_has_feature(fe->backend_offered, VHK_F_PROTOCOL_FEATURES))
		vhk_set_feature(&to_be, VHK_F_PROTOCOL_FEATURES);
	fe->driver_features = acked;
	fe->backend_features = to_be;
	fe->mode = vhk_fe_dma_mode_from(acked, to_be, fe->proto_acked);
	vhk_log(VHK_LOG_INFO, fe_who(fe),
		"driver 0x%llx, back-end 0x%llx, protocol 0x%llx: dma mode %s",
		(unsigned long long)acked, (unsigned long long)to_be,
		(unsigned long long)fe->proto_acked,
		vhk_fe_dma_mode_name(fe->mode));
	return 0;
}

/*
 * Shared memory: one memfd.  Direct/iommu: the whole "guest RAM", rings
 * first, then the heap vhk_fe_alloc() carves.  Bounce: only the pool,
 * rings first, then the bounce slots; nothing else is ever shared.
 */
static int setup_memory(struct vhk_fe *fe)
{
	size_t ring = vhk_drv_vq_mem_size(fe_packed(fe), fe->qsize);
	uint64_t slot, size;
	int ret;

	if (ring == 0)
		return -EINVAL;
	slot = round_up(ring, FE_PAGE);
	fe->ring_area = slot * fe->nqueues;
	if (fe->mode == VHK_DMA_BOUNCE) {
		size = fe->ring_area + round_up(fe->cfg.bounce_pool_size,
						FE_PAGE);
	} else {
		size = round_up(fe->cfg.mem_size, FE_PAGE);
		if (size < fe->ring_area + FE_PAGE)
			return -EINVAL;
	}
	fe->mem_fd = memfd_create("vhostkit-fe", MFD_CLOEXEC);
	if (fe->mem_fd < 0)
		return -errno;
	if (ftruncate(fe->mem_fd, (off_t)size) < 0)
		return -errno;
	fe->mem_host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fe->mem_fd, 0);
	if (fe->mem_host == MAP_FAILED) {
		fe->mem_host = NULL;
		return -errno;
	}
	fe->mem_size = size;
	for (unsigned int i = 0; i < fe->nqueues; i++) {
		fe->q[i].ring_host = fe->mem_host + i * slot;
		fe->q[i].ring_gpa = FE_GPA_BASE + i * slot;
		fe->q[i].ring_size = slot;
	}
	if (fe->mode == VHK_DMA_BOUNCE) {
		ret = fe_ralloc_init(&fe->pool, FE_GPA_BASE + fe->ring_area,
				     size - fe->ring_area, FE_ALLOC_ALIGN);
	} else {
		/*
		 * iommu: page-granular allocations so that a buffer's
		 * mapping exposes that buffer only.
		 */
		ret = fe_ralloc_init(&fe->heap, fe->ring_area,
				     size - fe->ring_area,
				     fe->mode == VHK_DMA_IOMMU ? FE_PAGE :
				     FE_ALLOC_ALIGN);
	}
	if (!ret && fe->mode == VHK_DMA_IOMMU)
		ret = fe_ralloc_init(&fe->iova, FE_IOVA_BASE, FE_IOVA_SIZE,
				     FE_PAGE);
	return ret;
}

static int send_mem_table(struct vhk_fe *fe)
{
	struct vhk_vu_memory m;

	memset(&m, 0, sizeof(m));
	m.nregions = 1;
	m.regions[0].guest_phys_addr = FE_GPA_BASE;
	m.regions[0].memory_size = fe->mem_size;
	m.regions[0].userspace_addr = (uintptr_t)fe->mem_host;
	m.regions[0].mmap_offset = 0;
	return fe_ack(fe, VHK_VU_SET_MEM_TABLE, &m,
		      (uint32_t)(offsetof(struct vhk_vu_memory, regions) +
				 sizeof(m.regions[0])),
		      &fe->mem_fd, 1);
}

/* A fresh back-end channel: keep one end, give the other away. */
static int open_channel(struct vhk_fe *fe)
{
	struct timeval tv = {
		.tv_sec = fe->cfg.reply_timeout_ms / 1000,
		.tv_usec = (fe->cfg.reply_timeout_ms % 1000) * 1000,
	};
	int sv[2], ret;

	if (fe->chan_fd >= 0) {
		close(fe->chan_fd);
		fe->chan_fd = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* A back-end that sends half a message must not wedge a reader. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = fe_ack(fe, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (ret) {
		close(sv[0]);
		return ret;
	}
	fe->chan_fd = sv[0];
	return 0;
}

static int get_inflight(struct vhk_fe *fe)
{
	struct vhk_vu_inflight in = {
		.num_queues = fe->nqueues,
		.queue_size = fe->qsize,
	};
	struct vhk_vu_msg reply;
	unsigned int nfds = 0;
	int fd = -1, ret;

	if (fe->inflight_fd >= 0) {
		close(fe->inflight_fd);
		fe->inflight_fd = -1;
	}
	ret = fe_call(fe, VHK_VU_GET_INFLIGHT_FD, &in, sizeof(in), &reply,
		      &fd, &nfds, 1);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(in) || nfds != 1 ||
	    reply.payload.inflight.mmap_size == 0) {
		if (nfds)
			close(fd);
		vhk_log(VHK_LOG_WARN, fe_who(fe),
			"GET_INFLIGHT_FD gave no region: no inflight tracking");
		return 0;
	}
	fe->inflight = reply.payload.inflight;
	fe->inflight_fd = fd;
	return 0;
}

static int set_inflight(struct vhk_fe *fe)
{
	if (fe->inflight_fd < 0)
		return 0;
	return fe_ack(fe, VHK_VU_SET_INFLIGHT_FD, &fe->inflight,
		      sizeof(fe->inflight), &fe->inflight_fd, 1);
}

/* Device-visible address of queue @i's ring memory. */
static uint64_t ring_dev_addr(const struct vhk_fe *fe, unsigned int i)
{
	uint64_t off = fe->q[i].ring_gpa - FE_GPA_BASE;

	return fe->mode == VHK_DMA_IOMMU ? fe->ring_iova + off :
		fe->q[i].ring_gpa;
}

/*
 * Ring addresses in SET_VRING_ADDR are front-end virtual addresses unless
 * an IOMMU is in use, then IOVAs (vhost-user spec, "IOMMU support").
 */
static uint64_t ring_msg_addr(const struct vhk_fe *fe, uint64_t dev_addr)
{
	if (fe->mode == VHK_DMA_IOMMU)
		return dev_addr;
	return dev_addr - FE_GPA_BASE + (uintptr_t)fe->mem_host;
}

/* Split: the used index the device last published (for reconnect). */
static uint16_t split_used_idx(struct vhk_drv_vq *dq)
{
	void *desc, *drv, *dev;
	vhk_le16 v;

	vhk_drv_vq_raw(dq, &desc, &drv, &dev);
	/* used ring: le16 flags, le16 idx (VIRTIO 1.2, 2.7.8). */
	v.v = __atomic_load_n((uint16_t *)dev + 1, __ATOMIC_ACQUIRE);
	return vhk_le16_get(v);
}

static int setup_queue(struct vhk_fe *fe, unsigned int i, bool fresh,
		       uint32_t base)
{
	struct fe_queue *q = &fe->q[i];
	struct vhk_vu_vring_state st = { .index = i };
	struct vhk_vu_vring_addr va;
	struct vhk_vq_addrs a;
	uint64_t idx = i;
	int ret;

	if (fresh) {
		vhk_drv_vq_free(q->dq);
		q->dq = NULL;
		ret = vhk_drv_vq_new(&q->dq, fe->qsize, fe->driver_features,
				     q->ring_host, ring_dev_addr(fe, i));
		if (ret)
			return ret;
	}
	if (q->kick_fd < 0)
		q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->call_fd < 0)
		q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -errno;
	q->base = -1;

	st.num = fe->qsize;
	ret = fe_ack(fe, VHK_VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	if (ret)
		return ret;
	st.num = base;
	ret = fe_ack(fe, VHK_VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
	if (ret)
		return ret;
	vhk_drv_vq_addrs(q->dq, &a);
	memset(&va, 0, sizeof(va));
	va.index = i;
	va.desc_user_addr = ring_msg_addr(fe, a.desc);
	va.avail_user_addr = ring_msg_addr(fe, a.driver);
	va.used_user_addr = ring_msg_addr(fe, a.device);
	ret = fe_ack(fe, VHK_VU_SET_VRING_ADDR, &va, sizeof(va), NULL, 0);
	if (ret)
		return ret;
	ret = fe_ack(fe, VHK_VU_SET_VRING_CALL, &idx, sizeof(idx), &q->call_fd,
		     1);
	if (ret)
		return ret;
	ret = fe_ack(fe, VHK_VU_SET_VRING_KICK, &idx, sizeof(idx), &q->kick_fd,
		     1);
	if (ret)
		return ret;
	/*
	 * With PROTOCOL_FEATURES negotiated rings start disabled (vhost-user
	 * spec, "Ring states").
	 */
	if (vhk_has_feature(fe->backend_features, VHK_F_PROTOCOL_FEATURES)) {
		st.num = 1;
		ret = fe_ack(fe, VHK_VU_SET_VRING_ENABLE, &st, sizeof(st),
			     NULL, 0);
	}
	return ret;
}

static int set_status(struct vhk_fe *fe, uint8_t status)
{
	int ret;

	if (!vhk_has_feature(fe->proto_acked, VHK_PROTO_F_STATUS))
		return 0;
	ret = fe_ack_u64(fe, VHK_VU_SET_STATUS, status);
	if (!ret)
		fe->status = status;
	return ret;
}

/* SET_FEATURES, then FEATURES_OK, re-read (VIRTIO 1.2, 3.1.1 step 6). */
static int set_features(struct vhk_fe *fe)
{
	uint8_t st = 0;
	int ret;

	ret = fe_ack_u64(fe, VHK_VU_SET_FEATURES, fe->backend_features);
	if (ret)
		return ret;
	if (!vhk_has_feature(fe->proto_acked, VHK_PROTO_F_STATUS))
		return 0;
	ret = set_status(fe, VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER |
			 VHK_STATUS_FEATURES_OK);
	if (ret)
		return ret;
	ret = fe_get_status(fe, &st);
	if (ret)
		return ret;
	if (!(st & VHK_STATUS_FEATURES_OK)) {
		vhk_log(VHK_LOG_ERR, fe_who(fe),
			"device did not accept features 0x%llx (status 0x%x)",
			(unsigned long long)fe->backend_features, st);
		return -ENOTSUP;
	}
	return 0;
}

static bool persist_acked(const struct vhk_fe *fe)
{
	return vhk_has_feature(fe->proto_acked, VHK_PROTO_F_IOTLB_PERSIST);
}

static int bring_up(struct vhk_fe *fe, enum bring_kind kind)
{
	bool fresh = kind != BRING_RECONNECT;
	int ret;

	if (kind != BRING_RESET &&
	    vhk_has_feature(fe->proto_acked, VHK_PROTO_F_BACKEND_REQ)) {
		ret = open_channel(fe);
		if (ret)
			return ret;
	}
	ret = set_features(fe);
	if (ret)
		return ret;
	/*
	 * The memory table is platform state: a device reset keeps it (as
	 * libvhost-user does), a new back-end process needs it again.
	 */
	if (kind != BRING_RESET) {
		ret = send_mem_table(fe);
		if (ret)
			return ret;
	}
	if (fe->mode == VHK_DMA_IOMMU) {
		if (kind == BRING_START)
			ret = fe_map_ring_area(fe);
		else if (kind == BRING_RECONNECT || !persist_acked(fe))
			ret = fe_resend_mappings(fe);
		if (ret)
			return ret;
	}
	if (vhk_has_feature(fe->proto_acked, VHK_PROTO_F_INFLIGHT_SHMFD)) {
		/* Reconnect keeps the region: it holds the requests to redo. */
		if (kind != BRING_RECONNECT || fe->inflight_fd < 0) {
			ret = get_inflight(fe);
			if (ret)
				return ret;
		}
		ret = set_inflight(fe);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < fe->nqueues; i++) {
		uint32_t base;

		if (fresh)
			/* Packed: avail wrap counter starts at 1 (bit 15). */
			base = fe_packed(fe) ? 0x8000 : 0;
		else
			/* QEMU's rule: resume at the used index; in-flight
			 * requests come back from the inflight region. */
			base = split_used_idx(fe->q[i].dq);
		ret = setup_queue(fe, i, fresh, base);
		if (ret)
			return ret;
	}
	ret = set_status(fe, VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER |
			 VHK_STATUS_FEATURES_OK | VHK_STATUS_DRIVER_OK);
	if (ret)
		return ret;
	if (kind == BRING_RECONNECT) {
		for (unsigned int i = 0; i < fe->nqueues; i++)
			vhk_fe_kick(fe, (uint16_t)i);
	}
	return 0;
}

int vhk_fe_start(struct vhk_fe *fe)
{
	int ret;

	if (!fe->connected)
		return -ENOTCONN;
	if (fe->started)
		return -EALREADY;
	fe->nqueues = VHK_MIN(fe->cfg.num_queues, fe->max_queues);
	fe->nqueues = VHK_MIN(fe->nqueues, FE_MAX_QUEUES);
	fe->qsize = fe->cfg.queue_size;
	ret = negotiate(fe);
	if (ret)
		return ret;
	ret = setup_memory(fe);
	if (ret)
		return ret;
	ret = bring_up(fe, BRING_START);
	if (ret)
		return ret;
	fe->started = true;
	if (fe->cfg.miss_thread && fe->chan_fd >= 0)
		ret = fe_start_miss_thread(fe);
	return ret;
}

int vhk_fe_stop(struct vhk_fe *fe)
{
	int first = 0;

	if (!fe->started)
		return -EINVAL;
	for (unsigned int i = 0; i < fe->nqueues; i++) {
		uint32_t base;
		int ret = fe_get_vring_base(fe, (uint16_t)i, &base);

		if (ret) {
			if (!first)
				first = ret;
			if (!fe->connected)
				break;
			continue;
		}
		fe->q[i].base = (int)(base & 0xffff);
	}
	return first;
}

int vhk_fe_vring_base(const struct vhk_fe *fe, uint16_t idx)
{
	if (idx >= fe->nqueues)
		return -EINVAL;
	return fe->q[idx].base;
}

int vhk_fe_reset(struct vhk_fe *fe)
{
	int ret;

	if (!fe->started)
		return -EINVAL;
	if (!fe->connected)
		return -ECONNRESET;
	/* Stop the rings first so the back-end drains them. */
	ret = vhk_fe_stop(fe);
	if (ret)
		return ret;
	if (vhk_has_feature(fe->proto_acked, VHK_PROTO_F_RESET_DEVICE))
		ret = fe_ack(fe, VHK_VU_RESET_DEVICE, NULL, 0, NULL, 0);
	else if (vhk_has_feature(fe->proto_acked, VHK_PROTO_F_STATUS))
		ret = set_status(fe, 0);
	else
		ret = fe_ack(fe, VHK_VU_RESET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		return ret;
	fe->status = 0;
	ret = bring_up(fe, BRING_RESET);
	if (ret)
		return ret;
	pthread_mutex_lock(&fe->lock);
	fe->stats.resets++;
	pthread_mutex_unlock(&fe->lock);
	return 0;
}

int vhk_fe_reconnect(struct vhk_fe *fe)
{
	uint64_t need;
	int ret;

	if (!fe->started)
		return -EINVAL;
	if (fe_packed(fe))
		return -ENOTSUP;
	fe_stop_miss_thread(fe);
	if (fe->chan_fd >= 0) {
		close(fe->chan_fd);
		fe->chan_fd = -1;
	}
	if (fe->sock >= 0) {
		close(fe->sock);
		fe->sock = -1;
	}
	fe->connected = false;
	ret = fe_handshake(fe);
	if (ret)
		return ret;
	/* The new back-end must accept the features the driver runs with. */
	need = fe->backend_features;
	if ((need & fe->backend_offered) != need) {
		vhk_log(VHK_LOG_ERR, fe_who(fe),
			"restarted back-end lacks features 0x%llx",
			(unsigned long long)(need & ~fe->backend_offered));
		return -ENOTSUP;
	}
	if (fe->mode == VHK_DMA_IOMMU &&
	    (!vhk_has_feature(fe->proto_acked, VHK_PROTO_F_BACKEND_REQ) ||
	     !vhk_has_feature(fe->proto_acked, VHK_PROTO_F_REPLY_ACK)))
		return -ENOTSUP;
	if (fe->nqueues > fe->max_queues)
		return -ENOTSUP;
	ret = bring_up(fe, BRING_RECONNECT);
	if (ret)
		return ret;
	pthread_mutex_lock(&fe->lock);
	fe->stats.reconnects++;
	pthread_mutex_unlock(&fe->lock);
	if (fe->cfg.miss_thread && fe->chan_fd >= 0)
		ret = fe_start_miss_thread(fe);
	return ret;
}

struct vhk_drv_vq *vhk_fe_queue(struct vhk_fe *fe, uint16_t idx)
{
	if (!fe->started || idx >= fe->nqueues)
		return NULL;
	return fe->q[idx].dq;
}

int vhk_fe_kick(struct vhk_fe *fe, uint16_t idx)
{
	uint64_t one = 1;

	if (idx >= fe->nqueues || fe->q[idx].kick_fd < 0)
		return -EINVAL;
	if (write(fe->q[idx].kick_fd, &one, sizeof(one)) != sizeof(one))
		return errno == EAGAIN ? 0 : -errno;
	return 0;
}

int vhk_fe_call_fd(struct vhk_fe *fe, uint16_t idx)
{
	if (idx >= fe->nqueues || fe->q[idx].call_fd < 0)
		return -EINVAL;
	return fe->q[idx].call_fd;
}

int vhk_fe_backend_channel_fd(const struct vhk_fe *fe)
{
	return fe->chan_fd;
}

int vhk_fe_wait(struct vhk_fe *fe, uint16_t idx, int timeout_ms)
{
	uint64_t deadline = 0;

	if (idx >= fe->nqueues || fe->q[idx].call_fd < 0)
		return -EINVAL;
	if (timeout_ms > 0)
		deadline = vhk_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = fe->q[idx].call_fd, .events = POLLIN },
			/* Hang-up only: replies are read by their callers. */
			{ .fd = fe->sock, .events = POLLRDHUP },
			{ .fd = fe->miss_thread_on ? -1 : fe->chan_fd,
			  .events = POLLIN },
		};
		int left = timeout_ms, n;
		uint64_t v;

		if (timeout_ms > 0) {
			uint64_t now = vhk_now_ns();

			left = now >= deadline ? 0 :
				(int)((deadline - now + 999999) / 1000000);
		}
		n = poll(p, 3, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents & POLLIN) {
			if (read(fe->q[idx].call_fd, &v, sizeof(v)) < 0 &&
			    errno != EAGAIN)
				return -errno;
			return 1;
		}
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			fe_note_io_error(fe, -ECONNRESET);
			return -ECONNRESET;
		}
		if (p[2].revents) {
			int ret = fe_serve_channel_msg(fe);

			if (ret < 0)
				return ret;
			continue;
		}
		if (n == 0 && timeout_ms >= 0)
			return 0;
	}
}

void vhk_fe_close(struct vhk_fe *fe)
{
	if (!fe)
		return;
	/* Queues first: a draining back-end may still need misses served. */
	if (fe->connected && fe->started)
		vhk_fe_stop(fe);
	fe_stop_miss_thread(fe);
	if (fe->sock >= 0)
		close(fe->sock);
	if (fe->chan_fd >= 0)
		close(fe->chan_fd);
	for (unsigned int i = 0; i < FE_MAX_QUEUES; i++) {
		vhk_drv_vq_free(fe->q[i].dq);
		if (fe->q[i].kick_fd >= 0)
			close(fe->q[i].kick_fd);
		if (fe->q[i].call_fd >= 0)
			close(fe->q[i].call_fd);
	}
	fe_dma_free_all(fe);
	if (fe->mem_host)
		munmap(fe->mem_host, fe->mem_size);
	if (fe->mem_fd >= 0)
		close(fe->mem_fd);
	if (fe->inflight_fd >= 0)
		close(fe->inflight_fd);
	pthread_mutex_destroy(&fe->lock);
	pthread_mutex_destroy(&fe->chan_lock);
	free(fe->socket_path);
	free(fe->name);
	free(fe);
}
