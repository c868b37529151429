/* SPDX-License-Identifier: MIT */
/*
 * drv_ring.c - driver-side virtqueues: the entry points common to the split
 * and packed layouts, argument checks, and in-order completion tracking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring/drv/drv_priv.h"

static struct vhk_ratelimit drv_rl = VHK_RATELIMIT_INIT;

int drv_fail(struct vhk_drv_vq *dq, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dq->broken = true;
	vhk_log_ratelimited(&drv_rl, VHK_LOG_ERR, "drv vq", "device error: %s",
			    msg);
	return -EPROTO;
}

static bool num_ok(bool packed, uint16_t num)
{
	if (num == 0 || num > VHK_VQ_MAX_SIZE)
		return false;
	/* VIRTIO 1.2, 2.7: split Queue Size is a power of 2; packed need not. */
	return packed || (num & (num - 1)) == 0;
}

size_t vhk_drv_vq_mem_size(bool packed, uint16_t num)
{
	if (!num_ok(packed, num))
		return 0;
	return packed ? drv_packed_mem_size(num) : drv_split_mem_size(num);
}

int vhk_drv_vq_new(struct vhk_drv_vq **out, uint16_t num, uint64_t features,
		   void *mem, uint64_t mem_addr)
{
	bool packed = vhk_has_feature(features, VHK_F_RING_PACKED);
	struct vhk_drv_vq *dq;
	int ret;

	*out = NULL;
	if (!num_ok(packed, num) || !mem)
		return -EINVAL;
	/* The device-visible address must keep each part aligned (2.7/2.8). */
	if (((uintptr_t)mem | mem_addr) % VHK_SPLIT_DESC_ALIGN)
		return -EINVAL;
	dq = calloc(1, sizeof(*dq));
	if (!dq)
		return -ENOMEM;
	dq->packed = packed;
	dq->num = num;
	dq->features = features;
	dq->event_idx = vhk_has_feature(features, VHK_F_EVENT_IDX);
	dq->indirect = vhk_has_feature(features, VHK_F_INDIRECT_DESC);
	dq->in_order = vhk_has_feature(features, VHK_F_IN_ORDER);
	dq->hw_barriers = vhk_has_feature(features, VHK_F_ORDER_PLATFORM);
	dq->mem = mem;
	dq->mem_addr = mem_addr;
	dq->num_free = num;
	dq->cb_enabled = true;
	dq->st = calloc(num, sizeof(*dq->st));
	dq->order = calloc(num, sizeof(*dq->order));
	if (!dq->st || !dq->order) {
		vhk_drv_vq_free(dq);
		return -ENOMEM;
	}
	memset(mem, 0, vhk_drv_vq_mem_size(packed, num));
	ret = packed ? drv_packed_init(dq) : drv_split_init(dq);
	if (ret) {
		vhk_drv_vq_free(dq);
		return ret;
	}
	*out = dq;
	return 0;
}

void vhk_drv_vq_free(struct vhk_drv_vq *dq)
{
	if (!dq)
		return;
	free(dq->st);
	free(dq->order);
	free(dq->next);
	free(dq->id_next);
	free(dq);
}

void vhk_drv_vq_addrs(const struct vhk_drv_vq *dq, struct vhk_vq_addrs *a)
{
	*a = dq->addrs;
}

unsigned int vhk_drv_vq_num_free(const struct vhk_drv_vq *dq)
{
	return dq->num_free;
}

uint16_t vhk_drv_vq_size(const struct vhk_drv_vq *dq)
{
	return dq->num;
}

uint16_t vhk_drv_vq_base(const struct vhk_drv_vq *dq)
{
	if (dq->packed)
		return (uint16_t)(dq->pub_slot | (dq->pub_wrap ? 0x8000 : 0));
	return dq->avail_pub;
}

bool vhk_drv_vq_broken(const struct vhk_drv_vq *dq)
{
	return dq->broken;
}

/*
 * Check a segment list against what VIRTIO 1.2 asks of drivers and return
 * the writable byte count in *@wlen.
 */
static int check_segs(const struct vhk_drv_vq *dq,
		      const struct vhk_drv_seg *segs, unsigned int n,
		      uint64_t *wlen)
{
	uint64_t total = 0, w = 0;
	bool seen_write = false;

	/* VIRTIO 1.2, 2.7.5.2: no chain longer than the queue size. */
	if (n == 0 || n > dq->num || !segs)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		/*
		 * VIRTIO 1.2, 2.7.4.2 / 2.8.17: device-writable elements
		 * after every device-readable one.
		 */
		if (seen_write && !segs[i].write)
			return -EINVAL;
		seen_write |= segs[i].write;
		if (vhk_range_overflows(segs[i].addr, segs[i].len))
			return -EINVAL;
		total += segs[i].len;
		if (segs[i].write)
			w += segs[i].len;
	}
	/* VIRTIO 1.2, 2.7.5.2: no chain longer than 2^32 bytes in total. */
	if (total > (1ull << 32))
		return -EINVAL;
	*wlen = w;
	return 0;
}

int vhk_drv_vq_add(struct vhk_drv_vq *dq, const struct vhk_drv_seg *segs,
		   unsigned int n, void *token)
{
	uint64_t wlen;
	int ret;

	if (dq->broken)
		return -EIO;
	if (!token)
		return -EINVAL;
	ret = check_segs(dq, segs, n, &wlen);
	if (ret)
		return ret;
	if (n > dq->num_free)
		return -ENOSPC;
	if (dq->packed)
		return drv_packed_add(dq, segs, n, token, NULL, 0, wlen);
	return drv_split_add(dq, segs, n, token, NULL, 0, wlen);
}

int vhk_drv_vq_add_indirect(struct vhk_drv_vq *dq,
			    const struct vhk_drv_seg *segs, unsigned int n,
			    void *token, void *table, uint64_t table_addr)
{
	uint64_t wlen;
	int ret;

	if (dq->broken)
		return -EIO;
	/* VIRTIO 1.2, 2.7.5.3.1 / 2.8.19: only with INDIRECT_DESC. */
	if (!dq->indirect || !token || !table)
		return -EINVAL;
	ret = check_segs(dq, segs, n, &wlen);
	if (ret)
		return ret;
	if (vhk_range_overflows(table_addr, 16ull * n))
		return -EINVAL;
	if (dq->num_free < 1)
		return -ENOSPC;
	if (dq->packed)
		return drv_packed_add(dq, segs, n, token, table, table_addr,
				      wlen);
	return drv_split_add(dq, segs, n, token, table, table_addr, wlen);
}

bool vhk_drv_vq_publish(struct vhk_drv_vq *dq)
{
	return dq->packed ? drv_packed_publish(dq) : drv_split_publish(dq);
}

int vhk_drv_vq_get_used(struct vhk_drv_vq *dq, void **token, uint32_t *len)
{
	if (dq->broken)
		return -EPROTO;
	if (dq->packed)
		return drv_packed_get_used(dq, token, len);
	return drv_split_get_used(dq, token, len);
}

bool vhk_drv_vq_enable_cb(struct vhk_drv_vq *dq, bool enable)
{
	dq->cb_enabled = enable;
	if (dq->packed)
		return drv_packed_enable_cb(dq, enable);
	return drv_split_enable_cb(dq, enable);
}

void vhk_drv_vq_raw(struct vhk_drv_vq *dq, void **desc, void **driver,
		    void **device)
{
	if (dq->packed) {
		*desc = dq->pdesc;
		*driver = dq->drv_evt;
		*device = dq->dev_evt;
	} else {
		*desc = dq->desc;
		*driver = dq->avail;
		*device = dq->used;
	}
}

/* ---- in-order completion (VIRTIO 1.2, 2.7.9 / 2.8.8) ---- */

void drv_order_push(struct vhk_drv_vq *dq, uint16_t id)
{
	dq->order[(dq->order_head + dq->order_count) % dq->num] = id;
	dq->order_count++;
}

/*
 * The device used @id.  Without IN_ORDER any id in flight is fine.  With
 * it, @id names the last buffer of a batch that starts at the oldest buffer
 * in flight; a split device also advanced the used index by the batch size
 * (@avail used entries are visible).  Sets up the batch and returns the id
 * to complete now, or -EPROTO.
 */
int drv_order_check(struct vhk_drv_vq *dq, uint16_t id, unsigned int avail,
		    bool packed)
{
	unsigned int k;

	if (id >= dq->num || !dq->st[id].token)
		return drv_fail(dq, "used id %u is not in flight", id);
	if (!dq->in_order)
		return id;
	for (k = 0; k < dq->order_count; k++) {
		if (dq->order[(dq->order_head + k) % dq->num] == id)
			break;
	}
	if (k == dq->order_count)
		return drv_fail(dq, "used id %u not in the in-order list", id);
	if (!packed && k + 1 > avail)
		return drv_fail(dq, "in-order batch of %u but used idx moved %u",
				k + 1, avail);
	dq->batch = true;
	dq->batch_last = id;
	return dq->order[dq->order_head];
}
