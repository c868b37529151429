/* SPDX-License-Identifier: MIT */
/*
 * client_mem.c - the protocol client's device state: the memory table
 * (SET_MEM_TABLE, or ADD_MEM_REG / REM_MEM_REG with CONFIGURE_MEM_SLOTS),
 * rings (vhost-user spec, "Starting and stopping rings"), the inflight
 * region ("Inflight I/O tracking"), device reset and reconnect replay.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_priv.h"

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Validate @r against itself and against the table minus @skip. */
static int region_check(const struct vhk_vuc *c, const struct vhk_vuc_region *r,
			const struct vhk_vuc_region *tab, unsigned int n)
{
	uint64_t host = (uintptr_t)r->host;

	if (r->size == 0 || !r->host || r->fd < 0 ||
	    vhk_range_overflows(r->gpa, r->size) ||
	    vhk_range_overflows(host, r->size) ||
	    vhk_range_overflows(r->fd_offset, r->size)) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"region gpa 0x%llx size 0x%llx: empty, wraps, no host address or no fd",
			(unsigned long long)r->gpa,
			(unsigned long long)r->size);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (ranges_overlap(r->gpa, r->size, tab[i].gpa, tab[i].size) ||
		    ranges_overlap(host, r->size, (uintptr_t)tab[i].host,
				   tab[i].size)) {
			vhk_log(VHK_LOG_ERR, vuc_who(c),
				"region gpa 0x%llx size 0x%llx overlaps region gpa 0x%llx size 0x%llx (guest or host addresses)",
				(unsigned long long)r->gpa,
				(unsigned long long)r->size,
				(unsigned long long)tab[i].gpa,
				(unsigned long long)tab[i].size);
			return -EINVAL;
		}
	}
	return 0;
}

static void region_msg(struct vhk_vu_mem_region *m,
		       const struct vhk_vuc_region *r)
{
	m->guest_phys_addr = r->gpa;
	m->memory_size = r->size;
	m->userspace_addr = (uintptr_t)r->host;
	m->mmap_offset = r->fd_offset;
}

static bool slots_acked(const struct vhk_vuc *c)
{
	return vhk_has_feature(c->proto_acked,
			       VHK_PROTO_F_CONFIGURE_MEM_SLOTS);
}

static int send_table(struct vhk_vuc *c)
{
	struct vhk_vu_memory m;
	int fds[VUC_TABLE_REGIONS];
	int ret;

	if (c->nregions > VUC_TABLE_REGIONS)
		return -ENOSPC;
	memset(&m, 0, sizeof(m));
	m.nregions = c->nregions;
	for (unsigned int i = 0; i < c->nregions; i++) {
		region_msg(&m.regions[i], &c->regions[i]);
		fds[i] = c->regions[i].fd;
	}
	ret = vuc_ack(c, VHK_VU_SET_MEM_TABLE, &m,
		      (uint32_t)(offsetof(struct vhk_vu_memory, regions) +
				 c->nregions * sizeof(m.regions[0])),
		      fds, c->nregions);
	if (!ret) {
		c->regions_sent_one_by_one = false;
		c->stats.mem_tables_sent++;
	}
	return ret;
}

static int send_one(struct vhk_vuc *c, uint32_t req,
		    const struct vhk_vuc_region *r)
{
	struct vhk_vu_mem_single m;
	int ret;

	memset(&m, 0, sizeof(m));
	region_msg(&m.region, r);
	/*
	 * REM_MEM_REG goes with the region's fd too: QEMU 7.2's
	 * libvhost-user refuses it without one (later versions and the
	 * spec do not need it; vhostkit accepts both).
	 */
	ret = vuc_ack(c, req, &m, sizeof(m), &r->fd, 1);
	if (!ret) {
		if (req == VHK_VU_ADD_MEM_REG)
			c->stats.regions_added++;
		else
			c->stats.regions_removed++;
	}
	return ret;
}

/* (Re)send the whole table: reconnect, or a table replaced at once. */
int vuc_send_regions(struct vhk_vuc *c)
{
	int ret = 0;

	if (c->nregions == 0)
		return 0;
	if (!slots_acked(c))
		return send_table(c);
	for (unsigned int i = 0; i < c->nregions && !ret; i++)
		ret = send_one(c, VHK_VU_ADD_MEM_REG, &c->regions[i]);
	if (!ret)
		c->regions_sent_one_by_one = true;
	return ret;
}

static int regions_reserve(struct vhk_vuc *c, unsigned int n)
{
	struct vhk_vuc_region *p;

	if (n <= c->regions_cap)
		return 0;
	p = realloc(c->regions, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	c->regions = p;
	c->regions_cap = n;
	return 0;
}

static int region_cmp(const void *a, const void *b)
{
	const struct vhk_vuc_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static bool region_same(const struct vhk_vuc_region *a,
			const struct vhk_vuc_region *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->host == b->host &&
	       a->fd == b->fd && a->fd_offset == b->fd_offset;
}

static bool region_in(const struct vhk_vuc_region *r,
		      const struct vhk_vuc_region *tab, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (region_same(r, &tab[i]))
			return true;
	return false;
}

/*
 * One by one (CONFIGURE_MEM_SLOTS): remove what leaves, then add what
 * comes; a region in both tables stays mapped in the back-end (rings in
 * it keep working).  c->regions tracks the back-end's view as it goes.
 */
static int table_diff(struct vhk_vuc *c, const struct vhk_vuc_region *r,
		      unsigned int n)
{
	int ret = 0;

	for (unsigned int i = 0; i < c->nregions && !ret;) {
		if (region_in(&c->regions[i], r, n)) {
			i++;
			continue;
		}
		ret = send_one(c, VHK_VU_REM_MEM_REG, &c->regions[i]);
		if (!ret) {
			memmove(&c->regions[i], &c->regions[i + 1],
				(c->nregions - i - 1) * sizeof(*r));
			c->nregions--;
		}
	}
	for (unsigned int i = 0; i < n && !ret; i++) {
		if (region_in(&r[i], c->regions, c->nregions))
			continue;
		ret = send_one(c, VHK_VU_ADD_MEM_REG, &r[i]);
		if (!ret)
			c->regions[c->nregions++] = r[i];
	}
	qsort(c->regions, c->nregions, sizeof(*r), region_cmp);
	return ret;
}

int vhk_vuc_set_mem_table(struct vhk_vuc *c, const struct vhk_vuc_region *r,
			  unsigned int n)
{
	int ret;

	if (!r && n)
		return -EINVAL;
	if (n > c->max_regions || (!slots_acked(c) && n > VUC_TABLE_REGIONS)) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"%u memory regions: the back-end takes %u", n,
			c->max_regions);
		return -ENOSPC;
	}
	for (unsigned int i = 0; i < n; i++) {
		ret = region_check(c, &r[i], r, i);
		if (ret)
			return ret;
	}
	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	/* Room for the old and the new while a diff is under way. */
	ret = regions_reserve(c, c->nregions + n + 1);
	if (ret)
		return ret;
	if (slots_acked(c) && (c->regions_sent_one_by_one ||
			       c->nregions == 0)) {
		ret = table_diff(c, r, n);
		if (!ret)
			c->regions_sent_one_by_one = true;
	} else {
		unsigned int nold = c->nregions;

		/* The old table after the new, until the back-end took it. */
		memmove(&c->regions[n], c->regions, nold * sizeof(*r));
		memcpy(c->regions, r, n * sizeof(*r));
		c->nregions = n;
		qsort(c->regions, n, sizeof(*r), region_cmp);
		ret = send_table(c);
		if (ret == -EIO) {
			memmove(c->regions, &c->regions[n],
				nold * sizeof(*r));
			c->nregions = nold;
		}
	}
	if (ret)
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"memory table not accepted: %s", strerror(-ret));
	return ret;
}

int vhk_vuc_add_region(struct vhk_vuc *c, const struct vhk_vuc_region *r)
{
	unsigned int i;
	int ret;

	if (!r)
		return -EINVAL;
	ret = region_check(c, r, c->regions, c->nregions);
	if (ret)
		return ret;
	if (c->nregions + 1 > c->max_regions) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"region gpa 0x%llx: all %u memory slots in use",
			(unsigned long long)r->gpa, c->max_regions);
		return -ENOSPC;
	}
	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	ret = regions_reserve(c, c->nregions + 1);
	if (ret)
		return ret;
	for (i = 0; i < c->nregions && c->regions[i].gpa < r->gpa; i++)
		;
	memmove(&c->regions[i + 1], &c->regions[i],
		(c->nregions - i) * sizeof(*r));
	c->regions[i] = *r;
	c->nregions++;
	if (slots_acked(c)) {
		ret = send_one(c, VHK_VU_ADD_MEM_REG, r);
		if (!ret)
			c->regions_sent_one_by_one = true;
	} else {
		ret = send_table(c);
	}
	if (ret) {
		/* The back-end refused it: not part of the table. */
		memmove(&c->regions[i], &c->regions[i + 1],
			(c->nregions - i - 1) * sizeof(*r));
		c->nregions--;
	}
	return ret;
}

int vhk_vuc_remove_region(struct vhk_vuc *c, uint64_t gpa, uint64_t size)
{
	struct vhk_vuc_region gone;
	unsigned int i;
	int ret;

	for (i = 0; i < c->nregions; i++)
		if (c->regions[i].gpa == gpa && c->regions[i].size == size)
			break;
	if (i == c->nregions)
		return -ENOENT;
	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	gone = c->regions[i];
	memmove(&c->regions[i], &c->regions[i + 1],
		(c->nregions - i - 1) * sizeof(gone));
	c->nregions--;
	if (slots_acked(c) && c->regions_sent_one_by_one)
		ret = send_one(c, VHK_VU_REM_MEM_REG, &gone);
	else
		ret = send_table(c);
	if (ret == -EIO) {
		/* Refused: the back-end still has it, so do we. */
		memmove(&c->regions[i + 1], &c->regions[i],
			(c->nregions - i) * sizeof(gone));
		c->regions[i] = gone;
		c->nregions++;
	}
	return ret;
}

unsigned int vhk_vuc_num_regions(const struct vhk_vuc *c)
{
	return c->nregions;
}

void *vhk_vuc_gpa_to_host(const struct vhk_vuc *c, uint64_t gpa,
			  uint64_t len)
{
	for (unsigned int i = 0; i < c->nregions; i++) {
		const struct vhk_vuc_region *r = &c->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size &&
		    len <= r->size - (gpa - r->gpa))
			return (uint8_t *)r->host + (gpa - r->gpa);
	}
	return NULL;
}

/* Host address of a device address: an IOVA with ACCESS_PLATFORM. */
void *vuc_dev_to_host(struct vhk_vuc *c, uint64_t addr, uint64_t len)
{
	const struct vuc_map *m;
	void *p = NULL;

	if (!vhk_has_feature(c->features, VHK_F_ACCESS_PLATFORM))
		return vhk_vuc_gpa_to_host(c, addr, len);
	pthread_mutex_lock(&c->lock);
	m = vuc_maps_find_locked(c, addr, VHK_PERM_RO);
	if (m && len <= m->len - (addr - m->iova))
		p = (void *)(uintptr_t)(m->uva + (addr - m->iova));
	pthread_mutex_unlock(&c->lock);
	return p;
}

int vhk_vuc_setup_inflight(struct vhk_vuc *c, uint16_t num_queues,
			   uint16_t queue_size)
{
	struct vhk_vu_inflight in = {
		.num_queues = num_queues,
		.queue_size = queue_size,
	};
	struct vhk_vu_msg reply;
	unsigned int nfds = 0;
	int fd = -1, ret;

	if (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_INFLIGHT_SHMFD))
		return 0;
	if (c->inflight_fd >= 0) {
		close(c->inflight_fd);
		c->inflight_fd = -1;
	}
	ret = vuc_call(c, VHK_VU_GET_INFLIGHT_FD, &in, sizeof(in), &reply,
		       &fd, &nfds, 1);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(in) || nfds != 1 ||
	    reply.payload.inflight.mmap_size == 0) {
		if (nfds)
			close(fd);
		vhk_log(VHK_LOG_WARN, vuc_who(c),
			"GET_INFLIGHT_FD gave no region: no inflight tracking");
		return 0;
	}
	c->inflight = reply.payload.inflight;
	c->inflight_fd = fd;
	return vuc_ack(c, VHK_VU_SET_INFLIGHT_FD, &c->inflight,
		       sizeof(c->inflight), &c->inflight_fd, 1);
}

/*
 * Ring addresses in SET_VRING_ADDR are front-end virtual addresses, or
 * IOVAs once ACCESS_PLATFORM is negotiated with an IOTLB behind it
 * (vhost-user spec, "IOMMU support").  A front-end that forwards
 * ACCESS_PLATFORM without an IOTLB (the crosvm case, a naive policy)
 * still sends its virtual addresses, which is what a back-end in
 * platform-identity mode expects.  0 if @gpa is outside the table.
 */
static uint64_t ring_msg_addr(const struct vhk_vuc *c, uint64_t addr,
			      uint64_t len)
{
	void *h;

	if (vhk_has_feature(c->features, VHK_F_ACCESS_PLATFORM) &&
	    c->cfg.iotlb)
		return addr;
	h = vhk_vuc_gpa_to_host(c, addr, len);
	return (uintptr_t)h;
}

int vuc_vring_send(struct vhk_vuc *c, uint16_t idx,
		   const struct vhk_vuc_vring *v, bool enable)
{
	struct vhk_vu_vring_state st = { .index = idx };
	struct vhk_vu_vring_addr va;
	uint64_t u = idx;
	int ret;

	memset(&va, 0, sizeof(va));
	va.index = idx;
	/* Sizes from VIRTIO 1.2, 2.7 / 2.8: only the start must be in. */
	va.desc_user_addr = ring_msg_addr(c, v->desc, 16);
	va.avail_user_addr = ring_msg_addr(c, v->driver, 4);
	va.used_user_addr = ring_msg_addr(c, v->device, 4);
	if (!va.desc_user_addr || !va.avail_user_addr ||
	    !va.used_user_addr) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"ring %u: an address is outside the memory table",
			idx);
		return -EINVAL;
	}
	st.num = v->num;
	ret = vuc_ack(c, VHK_VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0);
	if (ret)
		return ret;
	st.num = v->base;
	ret = vuc_ack(c, VHK_VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0);
	if (ret)
		return ret;
	ret = vuc_ack(c, VHK_VU_SET_VRING_ADDR, &va, sizeof(va), NULL, 0);
	if (ret)
		return ret;
	ret = vuc_ack(c, VHK_VU_SET_VRING_CALL, &u, sizeof(u), &v->call_fd, 1);
	if (ret)
		return ret;
	ret = vuc_ack(c, VHK_VU_SET_VRING_KICK, &u, sizeof(u), &v->kick_fd, 1);
	if (ret)
		return ret;
	/*
	 * With PROTOCOL_FEATURES negotiated rings start disabled (vhost-user
	 * spec, "Ring states").
	 */
	if (vhk_has_feature(c->features, VHK_F_PROTOCOL_FEATURES)) {
		st.num = enable;
		ret = vuc_ack(c, VHK_VU_SET_VRING_ENABLE, &st, sizeof(st),
			      NULL, 0);
	}
	return ret;
}

int vhk_vuc_vring_enable(struct vhk_vuc *c, uint16_t idx, bool enable)
{
	struct vhk_vu_vring_state st = { .index = idx, .num = enable };
	int ret;

	if (idx >= VUC_MAX_QUEUES || !c->vr[idx].started)
		return -EINVAL;
	if (!vhk_has_feature(c->features, VHK_F_PROTOCOL_FEATURES))
		return -ENOTSUP;
	ret = vuc_ack(c, VHK_VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0);
	if (!ret)
		c->vr[idx].disabled = !enable;
	return ret;
}

int vhk_vuc_vring_start(struct vhk_vuc *c, uint16_t idx,
			const struct vhk_vuc_vring *v)
{
	int ret;

	if (!v || idx >= c->max_queues || idx >= VUC_MAX_QUEUES ||
	    v->num == 0 || v->kick_fd < 0 || v->call_fd < 0)
		return -EINVAL;
	/* Alignment of the three areas (VIRTIO 1.2, 2.7 and 2.8). */
	if (v->desc % 16 || v->driver % (vhk_has_feature(c->features,
				VHK_F_RING_PACKED) ? 4 : 2) ||
	    v->device % 4) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"ring %u: misaligned address (desc 0x%llx driver 0x%llx device 0x%llx)",
			idx, (unsigned long long)v->desc,
			(unsigned long long)v->driver,
			(unsigned long long)v->device);
		return -EINVAL;
	}
	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	ret = vuc_vring_send(c, idx, v, true);
	if (ret)
		return ret;
	c->vr[idx].v = *v;
	c->vr[idx].started = true;
	c->vr[idx].disabled = false;
	return 0;
}

int vhk_vuc_reset(struct vhk_vuc *c)
{
	int ret;

	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	/* Stop the rings first so the back-end drains them. */
	for (unsigned int i = 0; i < VUC_MAX_QUEUES; i++) {
		uint32_t base;

		if (!c->vr[i].started)
			continue;
		ret = vhk_vuc_vring_stop(c, (uint16_t)i, &base);
		if (ret)
			return ret;
	}
	if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_RESET_DEVICE))
		ret = vuc_ack(c, VHK_VU_RESET_DEVICE, NULL, 0, NULL, 0);
	else if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_STATUS))
		ret = vhk_vuc_set_status(c, 0);
	else
		ret = vuc_ack(c, VHK_VU_RESET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		return ret;
	c->status = 0;
	c->features_set = false;
	/*
	 * IOTLB entries are platform state: kept by a back-end that acked
	 * IOTLB_PERSIST, flushed by one that did not (send them again).
	 */
	c->iotlb_resend = c->nmaps &&
		!vhk_has_feature(c->proto_acked, VHK_PROTO_F_IOTLB_PERSIST);
	return 0;
}

/* Split: the used index the device last published (QEMU's rule). */
static int used_index(struct vhk_vuc *c, const struct vhk_vuc_vring *v,
		      uint16_t *out)
{
	uint16_t *used = vuc_dev_to_host(c, v->device, 4);
	vhk_le16 idx;

	if (!used)
		return -EINVAL;
	/* used ring: le16 flags, le16 idx (VIRTIO 1.2, 2.7.8). */
	idx.v = __atomic_load_n(used + 1, __ATOMIC_ACQUIRE);
	*out = vhk_le16_get(idx);
	return 0;
}

int vhk_vuc_reconnect(struct vhk_vuc *c)
{
	uint64_t need = c->features;
	bool thread = c->miss_thread_wanted;
	uint8_t status = c->status;
	int ret;

	bool packed = vhk_has_feature(need, VHK_F_RING_PACKED);

	/* Nothing in guest memory says where a packed device stood: only
	 * an inflight region lets the new back-end resume (it takes both
	 * ring positions from there). */
	if (packed && c->inflight_fd < 0) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"packed ring without an inflight region: cannot reconnect");
		return -ENOTSUP;
	}
	vhk_vuc_stop_miss_thread(c);
	c->miss_thread_wanted = thread;
	if (c->chan_fd >= 0) {
		close(c->chan_fd);
		c->chan_fd = -1;
	}
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
	vuc_set_connected(c, false);
	ret = vuc_handshake(c);
	if (ret)
		return ret;
	/* The new back-end must accept the features in force. */
	if (c->features_set && (need & c->backend_offered) != need) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"restarted back-end lacks features 0x%llx",
			(unsigned long long)(need & ~c->backend_offered));
		return -ENOTSUP;
	}
	if (c->nmaps &&
	    (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_BACKEND_REQ) ||
	     !vhk_has_feature(c->proto_acked, VHK_PROTO_F_REPLY_ACK)))
		return -ENOTSUP;
	for (unsigned int i = 0; i < VUC_MAX_QUEUES; i++)
		if (c->vr[i].started && i >= c->max_queues)
			return -ENOTSUP;
	if (c->nregions > c->max_regions ||
	    (!slots_acked(c) && c->nregions > VUC_TABLE_REGIONS)) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"restarted back-end takes %u memory regions, %u in use",
			c->max_regions, c->nregions);
		return -ENOTSUP;
	}
	if (c->features_set) {
		c->iotlb_resend = false;
		ret = vhk_vuc_set_features(c, need);
		if (ret)
			return ret;
	}
	ret = vuc_send_regions(c);
	if (!ret)
		ret = vuc_resend_mappings(c);
	if (ret)
		return ret;
	/* The same region: it holds the requests to redo. */
	if (c->inflight_fd >= 0 &&
	    vhk_has_feature(c->proto_acked, VHK_PROTO_F_INFLIGHT_SHMFD)) {
		ret = vuc_ack(c, VHK_VU_SET_INFLIGHT_FD, &c->inflight,
			      sizeof(c->inflight), &c->inflight_fd, 1);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < VUC_MAX_QUEUES; i++) {
		struct vhk_vuc_vring v = c->vr[i].v;

		if (!c->vr[i].started)
			continue;
		/* Split: QEMU's rule, resume at the used index.  Packed: the
		 * base given at start is only a hint (see above). */
		ret = packed ? 0 : used_index(c, &v, &v.base);
		if (!ret)
			ret = vuc_vring_send(c, (uint16_t)i, &v,
					     !c->vr[i].disabled);
		if (ret)
			return ret;
	}
	if (status && vhk_has_feature(c->proto_acked, VHK_PROTO_F_STATUS)) {
		ret = vhk_vuc_set_status(c, status);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < VUC_MAX_QUEUES; i++) {
		uint64_t one = 1;

		if (c->vr[i].started &&
		    write(c->vr[i].v.kick_fd, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			vhk_log(VHK_LOG_WARN, vuc_who(c),
				"kick of ring %u after reconnect: %s", i,
				strerror(errno));
	}
	if (thread)
		ret = vhk_vuc_start_miss_thread(c);
	return ret;
}
