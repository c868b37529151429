/* SPDX-License-Identifier: MIT */
/*
 * rt_life.c - the userspace-driver runtime's life cycle: the driver's
 * negotiation, its own shared memory (one memfd), its rings and eventfds,
 * handed to the protocol client (client*.c) that speaks vhost-user;
 * start, stop, reset, reconnect, wait and close.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fe_priv.h"

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
	uint64_t offered = vhk_vuc_backend_offered(fe->c);
	uint64_t proto = vhk_vuc_protocol_features(fe->c);
	uint64_t offer_guest, want, acked, to_be;
	bool iotlb_ok;

	offer_guest = offered & fe->cfg.allowlist;
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
		   vhk_has_feature(offered, VHK_F_ACCESS_PLATFORM) &&
		   vhk_has_feature(proto, VHK_PROTO_F_BACKEND_REQ) &&
		   vhk_has_feature(proto, VHK_PROTO_F_REPLY_ACK);
	if (fe->cfg.iotlb && !iotlb_ok)
		vhk_log(VHK_LOG_WARN, fe_who(fe),
			"IOTLB requested but not possible (needs ACCESS_PLATFORM offered, BACKEND_REQ and REPLY_ACK): %s",
			vhk_has_feature(acked, VHK_F_ACCESS_PLATFORM) ?
			"using bounce buffers" : "using direct GPAs");

	to_be = (fe->cfg.negotiate ? fe->cfg.negotiate :
		 vhk_fe_backend_features)(acked, offered,
					  fe->cfg.allowlist, iotlb_ok);
	if (vhk_has_feature(to_be, VHK_F_ACCESS_PLATFORM) && !iotlb_ok)
		vhk_log(VHK_LOG_WARN, fe_who(fe),
			"negotiation policy sends ACCESS_PLATFORM without an IOTLB: the back-end may fault on every access");
	if (vhk_has_feature(offered, VHK_F_PROTOCOL_FEATURES))
		vhk_set_feature(&to_be, VHK_F_PROTOCOL_FEATURES);
	fe->driver_features = acked;
	fe->backend_features = to_be;
	fe->mode = vhk_fe_dma_mode_from(acked, to_be, proto);
	vhk_log(VHK_LOG_INFO, fe_who(fe),
		"driver 0x%llx, back-end 0x%llx, protocol 0x%llx: dma mode %s",
		(unsigned long long)acked, (unsigned long long)to_be,
		(unsigned long long)proto,
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
	struct vhk_vuc_region r = {
		.gpa = FE_GPA_BASE,
		.size = fe->mem_size,
		.host = fe->mem_host,
		.fd = fe->mem_fd,
		.fd_offset = 0,
	};

	return vhk_vuc_set_mem_table(fe->c, &r, 1);
}

/* Device-visible address of queue @i's ring memory. */
static uint64_t ring_dev_addr(const struct vhk_fe *fe, unsigned int i)
{
	uint64_t off = fe->q[i].ring_gpa - FE_GPA_BASE;

	return fe->mode == VHK_DMA_IOMMU ? fe->ring_iova + off :
		fe->q[i].ring_gpa;
}

static int setup_queue(struct vhk_fe *fe, unsigned int i)
{
	struct fe_queue *q = &fe->q[i];
	struct vhk_vuc_vring v = { .num = fe->qsize };
	struct vhk_vq_addrs a;
	int ret;

	vhk_drv_vq_free(q->dq);
	q->dq = NULL;
	ret = vhk_drv_vq_new(&q->dq, fe->qsize, fe->driver_features,
			     q->ring_host, ring_dev_addr(fe, i));
	if (ret)
		return ret;
	if (q->kick_fd < 0)
		q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->call_fd < 0)
		q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kick_fd < 0 || q->call_fd < 0)
		return -errno;
	q->base = -1;
	vhk_drv_vq_addrs(q->dq, &a);
	/* Packed: avail wrap counter starts at 1 (bit 15). */
	v.base = vhk_drv_vq_base(q->dq);
	v.desc = a.desc;
	v.driver = a.driver;
	v.device = a.device;
	v.kick_fd = q->kick_fd;
	v.call_fd = q->call_fd;
	return vhk_vuc_vring_start(fe->c, (uint16_t)i, &v);
}

static int set_status(struct vhk_fe *fe, uint8_t status)
{
	if (!vhk_has_feature(vhk_vuc_protocol_features(fe->c),
			     VHK_PROTO_F_STATUS))
		return 0;
	return vhk_vuc_set_status(fe->c, status);
}

/* Start or reset: features, (memory,) IOTLB, inflight, fresh rings. */
static int bring_up(struct vhk_fe *fe, bool reset)
{
	int ret;

	ret = vhk_vuc_set_features(fe->c, fe->backend_features);
	if (ret)
		return ret;
	/*
	 * The memory table is platform state: a device reset keeps it (as
	 * libvhost-user does).  So are IOTLB entries: the client re-sends
	 * them in set_features when the back-end did not keep them.
	 */
	if (!reset) {
		ret = send_mem_table(fe);
		if (ret)
			return ret;
		if (fe->mode == VHK_DMA_IOMMU) {
			ret = fe_map_ring_area(fe);
			if (ret)
				return ret;
		}
	}
	ret = vhk_vuc_setup_inflight(fe->c, fe->nqueues, fe->qsize);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < fe->nqueues; i++) {
		ret = setup_queue(fe, i);
		if (ret)
			return ret;
	}
	return set_status(fe, VHK_STATUS_ACKNOWLEDGE | VHK_STATUS_DRIVER |
			  VHK_STATUS_FEATURES_OK | VHK_STATUS_DRIVER_OK);
}

void vhk_fe_config_init(struct vhk_fe_config *cfg, const char *socket_path)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = socket_path;
	cfg->connect_timeout_ms = 5000;
	cfg->want_persist = true;
	cfg->flush = VHK_IOMMU_LAZY;
	cfg->num_queues = 1;
	cfg->queue_size = 128;
}

void vhk_fe_config_set_dma(struct vhk_fe_config *cfg, enum vhk_dma_mode mode,
			   enum vhk_iommu_flush flush)
{
	cfg->access_platform = mode != VHK_DMA_DIRECT;
	cfg->iotlb = mode == VHK_DMA_IOMMU;
	if (mode == VHK_DMA_IOMMU)
		cfg->flush = flush;
}

int vhk_fe_connect(struct vhk_fe **out, const struct vhk_fe_config *cfg)
{
	struct vhk_vuc_config cc;
	struct vhk_fe *fe;
	int ret;

	*out = NULL;
	if (!cfg || !cfg->socket_path)
		return -EINVAL;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->cfg = *cfg;
	fe->socket_path = strdup(cfg->socket_path);
	fe->name = strdup(cfg->name ? cfg->name : "fe");
	fe->cfg.socket_path = fe->socket_path;
	fe->cfg.name = fe->name;
	if (!fe->cfg.connect_timeout_ms)
		fe->cfg.connect_timeout_ms = 5000;
	if (!fe->cfg.reply_timeout_ms)
		fe->cfg.reply_timeout_ms = FE_REPLY_TIMEOUT_MS;
	if (!fe->cfg.allowlist)
		fe->cfg.allowlist = vhk_fe_default_allowlist();
	if (!fe->cfg.num_queues)
		fe->cfg.num_queues = 1;
	if (!fe->cfg.queue_size)
		fe->cfg.queue_size = 128;
	if (!fe->cfg.mem_size)
		fe->cfg.mem_size = 16u << 20;
	if (!fe->cfg.bounce_pool_size)
		fe->cfg.bounce_pool_size = 2u << 20;
	fe->mem_fd = -1;
	for (unsigned int i = 0; i < FE_MAX_QUEUES; i++) {
		fe->q[i].kick_fd = fe->q[i].call_fd = -1;
		fe->q[i].base = -1;
	}
	pthread_mutex_init(&fe->lock, NULL);
	if (!fe->socket_path || !fe->name) {
		vhk_fe_close(fe);
		return -ENOMEM;
	}
	vhk_vuc_config_init(&cc, fe->socket_path);
	cc.name = fe->name;
	cc.connect_timeout_ms = fe->cfg.connect_timeout_ms;
	cc.reply_timeout_ms = fe->cfg.reply_timeout_ms;
	cc.iotlb = fe->cfg.iotlb;
	cc.want_persist = fe->cfg.want_persist;
	cc.type_queues = fe->cfg.type_queues;
	cc.queue_num_pairs = fe->cfg.queue_num_pairs;
	/* One region for life: no need for memory slots. */
	cc.no_mem_slots = true;
	ret = vhk_vuc_connect(&fe->c, &cc);
	if (ret) {
		vhk_fe_close(fe);
		return ret;
	}
	*out = fe;
	return 0;
}

int vhk_fe_start(struct vhk_fe *fe)
{
	int ret;

	if (!vhk_vuc_connected(fe->c))
		return -ENOTCONN;
	if (fe->started)
		return -EALREADY;
	fe->nqueues = VHK_MIN(fe->cfg.num_queues, vhk_vuc_max_queues(fe->c));
	fe->nqueues = VHK_MIN(fe->nqueues, FE_MAX_QUEUES);
	fe->qsize = fe->cfg.queue_size;
	ret = negotiate(fe);
	if (ret)
		return ret;
	ret = setup_memory(fe);
	if (ret)
		return ret;
	ret = bring_up(fe, false);
	if (ret)
		return ret;
	fe->started = true;
	if (fe->cfg.miss_thread && vhk_vuc_channel_fd(fe->c) >= 0)
		ret = vhk_vuc_start_miss_thread(fe->c);
	return ret;
}

int vhk_fe_stop(struct vhk_fe *fe)
{
	int first = 0;

	if (!fe->started)
		return -EINVAL;
	for (unsigned int i = 0; i < fe->nqueues; i++) {
		uint32_t base;
		int ret = vhk_vuc_vring_stop(fe->c, (uint16_t)i, &base);

		if (ret) {
			if (!first)
				first = ret;
			if (!vhk_vuc_connected(fe->c))
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
	if (!vhk_vuc_connected(fe->c))
		return -ECONNRESET;
	/* The client stops the rings (GET_VRING_BASE), then resets. */
	ret = vhk_vuc_reset(fe->c);
	if (ret)
		return ret;
	ret = bring_up(fe, true);
	if (ret)
		return ret;
	pthread_mutex_lock(&fe->lock);
	fe->resets++;
	pthread_mutex_unlock(&fe->lock);
	return 0;
}

int vhk_fe_reconnect(struct vhk_fe *fe)
{
	int ret;

	if (!fe->started)
		return -EINVAL;
	/* The client replays features, memory, IOTLB, inflight, rings. */
	ret = vhk_vuc_reconnect(fe->c);
	if (ret)
		return ret;
	pthread_mutex_lock(&fe->lock);
	fe->reconnects++;
	pthread_mutex_unlock(&fe->lock);
	return 0;
}

bool vhk_fe_connected(const struct vhk_fe *fe)
{
	return vhk_vuc_connected(fe->c);
}

enum vhk_dma_mode vhk_fe_dma_mode(const struct vhk_fe *fe)
{
	return fe->mode;
}

uint64_t vhk_fe_features(const struct vhk_fe *fe)
{
	return vhk_vuc_features(fe->c);
}

uint64_t vhk_fe_driver_features(const struct vhk_fe *fe)
{
	return fe->driver_features;
}

uint64_t vhk_fe_backend_offered(const struct vhk_fe *fe)
{
	return vhk_vuc_backend_offered(fe->c);
}

uint64_t vhk_fe_protocol_features(const struct vhk_fe *fe)
{
	return vhk_vuc_protocol_features(fe->c);
}

uint16_t vhk_fe_max_queues(const struct vhk_fe *fe)
{
	return vhk_vuc_max_queues(fe->c);
}

uint16_t vhk_fe_num_queues(const struct vhk_fe *fe)
{
	return fe->nqueues;
}

int vhk_fe_get_config(struct vhk_fe *fe, uint32_t off, void *buf,
		      uint32_t len)
{
	return vhk_vuc_get_config(fe->c, off, buf, len);
}

int vhk_fe_set_config(struct vhk_fe *fe, uint32_t off, const void *buf,
		      uint32_t len)
{
	return vhk_vuc_set_config(fe->c, off, buf, len);
}

struct vhk_vuc *vhk_fe_client(struct vhk_fe *fe)
{
	return fe->c;
}

void vhk_fe_stats(const struct vhk_fe *fe, struct vhk_fe_stats *st)
{
	struct vhk_vuc_stats cs;

	vhk_vuc_stats(fe->c, &cs);
	memset(st, 0, sizeof(*st));
	st->iotlb_updates_sent = cs.iotlb_updates_sent;
	st->iotlb_invalidates_sent = cs.iotlb_invalidates_sent;
	st->misses_served = cs.misses_served;
	st->misses_unmapped = cs.misses_unmapped;
	pthread_mutex_lock((pthread_mutex_t *)&fe->lock);
	st->bounce_bytes_in = fe->bounce_bytes_in;
	st->bounce_bytes_out = fe->bounce_bytes_out;
	st->resets = fe->resets;
	st->reconnects = fe->reconnects;
	pthread_mutex_unlock((pthread_mutex_t *)&fe->lock);
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
	return vhk_vuc_channel_fd(fe->c);
}

int vhk_fe_wait(struct vhk_fe *fe, uint16_t idx, int timeout_ms)
{
	struct vhk_vuc *c = fe->c;
	uint64_t deadline = 0;

	if (idx >= fe->nqueues || fe->q[idx].call_fd < 0)
		return -EINVAL;
	if (timeout_ms > 0)
		deadline = vhk_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = fe->q[idx].call_fd, .events = POLLIN },
			/* Hang-up only: replies are read by their callers. */
			{ .fd = c->sock, .events = POLLRDHUP },
			{ .fd = c->miss_thread_on ? -1 : c->chan_fd,
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
			vuc_note_io_error(c, -ECONNRESET);
			return -ECONNRESET;
		}
		if (p[2].revents) {
			int ret = vuc_serve_channel_msg(c);

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
	/* Rings stopped (GET_VRING_BASE) and the miss thread joined by the
	 * client, before the memory it points at goes away. */
	vhk_vuc_close(fe->c);
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
	pthread_mutex_destroy(&fe->lock);
	free(fe->socket_path);
	free(fe->name);
	free(fe);
}
