// SPDX-License-Identifier: MIT
/*
 * blk.c - the userspace virtio-blk driver (VIRTIO 1.2, 5.2) over the
 * front-end library.
 *
 * A request is one descriptor chain: the 16-byte header (device-readable),
 * then either the data (readable for WRITE, writable for READ/GET_ID) or
 * one discard/write-zeroes range (readable), then the status byte
 * (writable).  Header, range and status live in a per-slot block of
 * memory from vhk_fe_alloc(); the data is the caller's, also from
 * vhk_fe_alloc().  All of it is handed to the device through
 * vhk_fe_dma_map() and taken back with vhk_fe_dma_unmap(), so the DMA mode
 * (direct, iommu strict/lazy, bounce) is the front-end's business alone.
 *
 * With INDIRECT_DESC the chain goes into a per-slot indirect table (one
 * ring slot per request, so a queue can be as deep as its ring), except
 * in bounce mode: there the device would read a copy of the table made
 * when it was mapped, before the ring layer wrote it.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drv_post.h"
#include "vhostkit/blk_driver.h"
#include "vhostkit/frontend.h"

#define BLK_WHO		"blkdrv"
#define SLOT_BYTES	64	/* header 16 + range 16 + status 1, padded */
#define SLOT_HDR	0
#define SLOT_RANGE	16
#define SLOT_STATUS	32
#define MAX_DATA_SEGS	64	/* data segments one request may use */
#define STATUS_UNSET	0xff	/* not a status value (VIRTIO 1.2, 5.2.6) */
/* Indirect table of one request: header, data segments, status. */
#define TABLE_BYTES	(16u * (MAX_DATA_SEGS + 2))

struct data_map {
	uint8_t *host;
	uint32_t len;
	uint64_t addr;
};

struct slot {
	struct vhk_blk_req *req;	/* NULL when free */
	uint8_t *dma;			/* SLOT_BYTES inside drv->dma_area */
	uint8_t *table;			/* TABLE_BYTES, indirect only */
	uint64_t hdr_addr, range_addr, status_addr, table_addr;
	uint32_t table_len;		/* mapped bytes, 0: none */
	bool range_mapped;
	enum vhk_dma_dir data_dir;
	unsigned int ndata;
	struct data_map data[MAX_DATA_SEGS];
};

struct drv_queue {
	uint16_t idx;
	struct vhk_drv_vq *vq;
	struct slot *slots;
	unsigned int *free_stack;	/* indexes of free slots */
	unsigned int nfree;
	unsigned int inflight;		/* submitted, not reaped */
	unsigned int unpublished;	/* submitted, not yet kicked */
	bool force_kick;		/* next kick always notifies */
	/* Completions found while waiting (poll mode), not yet reaped. */
	struct vhk_blk_req **ready;
	unsigned int nready;
	bool broken;
};

struct vhk_blk_drv {
	struct vhk_fe *fe;
	struct vhk_blk_info info;
	uint64_t features;		/* negotiated with the driver */
	uint16_t nq;
	unsigned int depth;
	unsigned int max_data_segs;
	bool use_call_fd;
	bool indirect;			/* chains through indirect tables */
	uint8_t *dma_area;
	uint8_t *table_area;
	struct drv_queue *q;
	struct pollfd *pfd;		/* nq call fds + back-end channel */
	struct vhk_ratelimit rl;
};

/* ---- setup ------------------------------------------------------------- */

static int read_config(struct vhk_blk_drv *d)
{
	uint8_t cfg[VHK_BLK_CONFIG_READ_LEN];
	int ret;

	if (!vhk_has_feature(vhk_fe_protocol_features(d->fe),
			     VHK_PROTO_F_CONFIG)) {
		vhk_log(VHK_LOG_ERR, BLK_WHO,
			"back-end lacks the CONFIG protocol feature: "
			"cannot read the capacity");
		return -ENODEV;
	}
	memset(cfg, 0, sizeof(cfg));
	ret = vhk_fe_get_config(d->fe, 0, cfg, sizeof(cfg));
	if (ret < 0) {
		vhk_log(VHK_LOG_ERR, BLK_WHO, "GET_CONFIG failed: %s",
			strerror(-ret));
		return ret;
	}
	ret = vhk_blk_config_parse(cfg, sizeof(cfg), d->features, &d->info);
	if (ret < 0)
		vhk_log(VHK_LOG_ERR, BLK_WHO,
			"configuration space breaks VIRTIO 1.2 5.2.4 "
			"(seg_max 0, bad blk_size or num_queues 0)");
	return ret;
}

static void free_queues(struct vhk_blk_drv *d)
{
	uint16_t i;

	if (!d->q)
		return;
	for (i = 0; i < d->nq; i++) {
		free(d->q[i].slots);
		free(d->q[i].free_stack);
		free(d->q[i].ready);
	}
	free(d->q);
	d->q = NULL;
}

static int setup_queue(struct vhk_blk_drv *d, uint16_t i, uint8_t *dma,
		       uint8_t *tables)
{
	struct drv_queue *q = &d->q[i];
	unsigned int s;

	q->idx = i;
	q->vq = vhk_fe_queue(d->fe, i);
	if (!q->vq)
		return -ENODEV;
	q->slots = calloc(d->depth, sizeof(*q->slots));
	q->free_stack = calloc(d->depth, sizeof(*q->free_stack));
	q->ready = calloc(d->depth, sizeof(*q->ready));
	if (!q->slots || !q->free_stack || !q->ready)
		return -ENOMEM;
	for (s = 0; s < d->depth; s++) {
		q->slots[s].dma = dma + (size_t)s * SLOT_BYTES;
		if (tables)
			q->slots[s].table = tables + (size_t)s * TABLE_BYTES;
		q->free_stack[s] = d->depth - 1 - s;
	}
	q->nfree = d->depth;
	/* Completion notifications only while someone waits for them. */
	vhk_drv_vq_enable_cb(q->vq, false);
	return 0;
}

int vhk_blk_drv_new(struct vhk_blk_drv **out, struct vhk_fe *fe,
		    const struct vhk_blk_drv_params *p)
{
	struct vhk_blk_drv_params defp = { 0 };
	struct vhk_blk_drv *d;
	unsigned int ring_free;
	uint16_t nq, i;
	int ret;

	*out = NULL;
	if (!fe)
		return -EINVAL;
	if (!p)
		p = &defp;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fe = fe;
	d->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	d->use_call_fd = p->use_call_fd;
	d->features = vhk_fe_driver_features(fe);
	if (!vhk_has_feature(d->features, VHK_F_VERSION_1)) {
		/* Legacy devices are out of scope: no LE config, no 1.x rules. */
		vhk_log(VHK_LOG_ERR, BLK_WHO, "VERSION_1 not negotiated");
		ret = -ENODEV;
		goto fail;
	}
	ret = read_config(d);
	if (ret < 0)
		goto fail;

	nq = vhk_fe_num_queues(fe);
	if (nq > d->info.num_queues)
		nq = d->info.num_queues;
	if (p->num_queues) {
		if (p->num_queues > nq) {
			vhk_log(VHK_LOG_ERR, BLK_WHO,
				"%u queues asked, device and front-end give %u",
				p->num_queues, nq);
			ret = -EINVAL;
			goto fail;
		}
		nq = p->num_queues;
	}
	if (nq == 0) {
		ret = -ENODEV;
		goto fail;
	}
	d->nq = nq;

	/* Data segments: seg_max counts data only (VIRTIO 1.2, 5.2.4). */
	d->max_data_segs = MAX_DATA_SEGS;
	if (d->info.seg_max && d->info.seg_max < d->max_data_segs)
		d->max_data_segs = d->info.seg_max;

	d->indirect = vhk_has_feature(d->features, VHK_F_INDIRECT_DESC) &&
		      vhk_fe_dma_mode(fe) != VHK_DMA_BOUNCE;
	/*
	 * Default depth: one ring slot per request with indirect tables,
	 * else every request of one data segment fits (three descriptors).
	 */
	if (!vhk_fe_queue(fe, 0)) {
		ret = -ENODEV;	/* vhk_fe_start() not called */
		goto fail;
	}
	ring_free = vhk_drv_vq_num_free(vhk_fe_queue(fe, 0));
	d->depth = p->queue_depth ? p->queue_depth :
		   d->indirect ? ring_free : ring_free / 3;
	if (d->depth == 0 || d->depth > ring_free) {
		vhk_log(VHK_LOG_ERR, BLK_WHO,
			"queue depth %u does not fit a ring of %u descriptors",
			d->depth, ring_free);
		ret = -EINVAL;
		goto fail;
	}

	d->dma_area = vhk_fe_alloc(fe, (size_t)d->nq * d->depth * SLOT_BYTES);
	if (!d->dma_area) {
		ret = -ENOMEM;
		goto fail;
	}
	memset(d->dma_area, 0, (size_t)d->nq * d->depth * SLOT_BYTES);
	if (d->indirect) {
		d->table_area = vhk_fe_alloc(fe, (size_t)d->nq * d->depth *
					     TABLE_BYTES);
		if (!d->table_area) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	d->q = calloc(d->nq, sizeof(*d->q));
	d->pfd = calloc(d->nq + 1u, sizeof(*d->pfd));
	if (!d->q || !d->pfd) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < d->nq; i++) {
		ret = setup_queue(d, i, d->dma_area +
				  (size_t)i * d->depth * SLOT_BYTES,
				  d->table_area ? d->table_area +
				  (size_t)i * d->depth * TABLE_BYTES : NULL);
		if (ret < 0)
			goto fail;
	}
	vhk_log(VHK_LOG_DEBUG, BLK_WHO,
		"%llu sectors, %u queue(s) of depth %u, dma %s, %s ring%s",
		(unsigned long long)d->info.capacity, d->nq, d->depth,
		vhk_fe_dma_mode_name(vhk_fe_dma_mode(fe)),
		vhk_has_feature(d->features, VHK_F_RING_PACKED) ?
		"packed" : "split", d->indirect ? ", indirect" : "");
	*out = d;
	return 0;
fail:
	vhk_blk_drv_free(d);
	return ret;
}

void vhk_blk_drv_free(struct vhk_blk_drv *d)
{
	uint16_t i;
	bool busy = false;

	if (!d)
		return;
	for (i = 0; d->q && i < d->nq; i++)
		busy |= d->q[i].inflight != 0;
	/*
	 * With requests in flight the device may still write the slots:
	 * leave that memory to the front-end (freed at vhk_fe_close()).
	 */
	if (d->dma_area && !busy)
		vhk_fe_free(d->fe, d->dma_area);
	if (d->table_area && !busy)
		vhk_fe_free(d->fe, d->table_area);
	free_queues(d);
	free(d->pfd);
	free(d);
}

const struct vhk_blk_info *vhk_blk_drv_info(const struct vhk_blk_drv *d)
{
	return &d->info;
}

uint16_t vhk_blk_drv_num_queues(const struct vhk_blk_drv *d)
{
	return d->nq;
}

unsigned int vhk_blk_drv_queue_depth(const struct vhk_blk_drv *d)
{
	return d->depth;
}

unsigned int vhk_blk_drv_inflight(const struct vhk_blk_drv *d, uint16_t q)
{
	return q < d->nq ? d->q[q].inflight : 0;
}

/* ---- submission -------------------------------------------------------- */

/* Bytes of device-writable buffer a request carries (data + status). */
static uint32_t writable_bytes(const struct vhk_blk_req *req)
{
	switch (req->op) {
	case VHK_BLK_OP_READ:
		return req->len + 1;
	case VHK_BLK_OP_GET_ID:
		return VHK_BLK_ID_BYTES + 1;
	default:
		return 1;
	}
}

static bool range_ok(const struct vhk_blk_drv *d, uint64_t sector,
		     uint64_t nsect)
{
	return !vhk_add_overflows(sector, nsect) &&
	       sector + nsect <= d->info.capacity;
}

static int check_req(struct vhk_blk_drv *d, const struct vhk_blk_req *req)
{
	uint32_t max;

	switch (req->op) {
	case VHK_BLK_OP_WRITE:
		if (d->info.ro)
			return -EROFS;
		__attribute__((fallthrough));
	case VHK_BLK_OP_READ:
		if (!req->buf || req->len == 0 ||
		    req->len % VHK_BLK_SECTOR_SIZE)
			return -EINVAL;
		if (!range_ok(d, req->sector, req->len / VHK_BLK_SECTOR_SIZE))
			return -EINVAL;
		return 0;
	case VHK_BLK_OP_FLUSH:
		/* VIRTIO 1.2, 5.2.6: FLUSH exists only with VIRTIO_BLK_F_FLUSH. */
		return d->info.flush ? 0 : -EOPNOTSUPP;
	case VHK_BLK_OP_GET_ID:
		return req->buf && req->len >= VHK_BLK_ID_BYTES ? 0 : -EINVAL;
	case VHK_BLK_OP_DISCARD:
	case VHK_BLK_OP_WRITE_ZEROES:
		if (req->op == VHK_BLK_OP_DISCARD) {
			if (!d->info.discard)
				return -EOPNOTSUPP;
			/* VIRTIO 1.2, 5.2.6.1: unmap MUST be 0 for discard. */
			if (req->flags)
				return -EINVAL;
			max = d->info.max_discard_sectors;
		} else {
			if (!d->info.write_zeroes)
				return -EOPNOTSUPP;
			if (req->flags & ~VHK_BLK_WZ_FLAG_UNMAP)
				return -EINVAL;
			max = d->info.max_write_zeroes_sectors;
		}
		if (d->info.ro)
			return -EROFS;
		if (req->num_sectors == 0 || (max && req->num_sectors > max))
			return -EINVAL;
		if (!range_ok(d, req->sector, req->num_sectors))
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

/* Undo the DMA mappings of a slot; returns the first error. */
static int unmap_slot(struct vhk_blk_drv *d, struct slot *s, bool hdr,
		      bool status)
{
	int ret = 0, r;
	unsigned int i;

	for (i = 0; i < s->ndata; i++) {
		r = vhk_fe_dma_unmap(d->fe, s->data[i].host, s->data[i].len,
				     s->data_dir, s->data[i].addr);
		if (r < 0 && !ret)
			ret = r;
	}
	s->ndata = 0;
	if (s->table_len) {
		r = vhk_fe_dma_unmap(d->fe, s->table, s->table_len,
				     VHK_DMA_TO_DEVICE, s->table_addr);
		if (r < 0 && !ret)
			ret = r;
		s->table_len = 0;
	}
	if (s->range_mapped) {
		r = vhk_fe_dma_unmap(d->fe, s->dma + SLOT_RANGE,
				     sizeof(struct vhk_blk_dwz_seg),
				     VHK_DMA_TO_DEVICE, s->range_addr);
		if (r < 0 && !ret)
			ret = r;
		s->range_mapped = false;
	}
	if (hdr) {
		r = vhk_fe_dma_unmap(d->fe, s->dma + SLOT_HDR,
				     sizeof(struct vhk_blk_req_hdr),
				     VHK_DMA_TO_DEVICE, s->hdr_addr);
		if (r < 0 && !ret)
			ret = r;
	}
	if (status) {
		r = vhk_fe_dma_unmap(d->fe, s->dma + SLOT_STATUS, 1,
				     VHK_DMA_FROM_DEVICE, s->status_addr);
		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

/* Map the data buffer in pieces of at most size_max bytes. */
static int map_data(struct vhk_blk_drv *d, struct slot *s, uint8_t *buf,
		    uint32_t len, enum vhk_dma_dir dir)
{
	uint32_t piece = d->info.size_max ? d->info.size_max : len;
	uint32_t off = 0;
	int ret;

	s->data_dir = dir;
	while (off < len) {
		uint32_t n = VHK_MIN(piece, len - off);
		struct data_map *m;

		if (s->ndata >= d->max_data_segs)
			return -EINVAL;	/* more than seg_max segments */
		m = &s->data[s->ndata];
		m->host = buf + off;
		m->len = n;
		ret = vhk_fe_dma_map(d->fe, m->host, n, dir, &m->addr);
		if (ret < 0)
			return ret;
		s->ndata++;
		off += n;
	}
	return 0;
}

int vhk_blk_drv_submit(struct vhk_blk_drv *d, uint16_t qi,
		       struct vhk_blk_req *req)
{
	struct vhk_drv_seg segs[MAX_DATA_SEGS + 2];
	struct vhk_blk_req_hdr hdr;
	struct drv_queue *q;
	struct slot *s;
	unsigned int n = 0, i, si;
	int ret;

	if (qi >= d->nq || !req)
		return -EINVAL;
	q = &d->q[qi];
	if (q->broken)
		return -EIO;
	ret = check_req(d, req);
	if (ret < 0)
		return ret;
	if (q->nfree == 0)
		return -EBUSY;
	si = q->free_stack[q->nfree - 1];
	s = &q->slots[si];
	s->ndata = 0;
	s->range_mapped = false;
	s->table_len = 0;

	/* Header: device-readable, first (VIRTIO 1.2, 5.2.6). */
	hdr.type = vhk_le32_make(req->op);
	hdr.reserved = vhk_le32_make(0);
	hdr.sector = vhk_le64_make(req->op == VHK_BLK_OP_READ ||
				   req->op == VHK_BLK_OP_WRITE ?
				   req->sector : 0);
	memcpy(s->dma + SLOT_HDR, &hdr, sizeof(hdr));
	/* An unwritten status byte must not read as OK. */
	s->dma[SLOT_STATUS] = STATUS_UNSET;

	ret = vhk_fe_dma_map(d->fe, s->dma + SLOT_HDR, sizeof(hdr),
			     VHK_DMA_TO_DEVICE, &s->hdr_addr);
	if (ret < 0)
		return ret;
	ret = vhk_fe_dma_map(d->fe, s->dma + SLOT_STATUS, 1,
			     VHK_DMA_FROM_DEVICE, &s->status_addr);
	if (ret < 0) {
		unmap_slot(d, s, true, false);
		return ret;
	}
	segs[n++] = (struct vhk_drv_seg){ s->hdr_addr, sizeof(hdr), false };

	switch (req->op) {
	case VHK_BLK_OP_READ:
	case VHK_BLK_OP_WRITE:
		ret = map_data(d, s, req->buf, req->len,
			       req->op == VHK_BLK_OP_READ ?
			       VHK_DMA_FROM_DEVICE : VHK_DMA_TO_DEVICE);
		break;
	case VHK_BLK_OP_GET_ID:
		ret = map_data(d, s, req->buf, VHK_BLK_ID_BYTES,
			       VHK_DMA_FROM_DEVICE);
		break;
	case VHK_BLK_OP_DISCARD:
	case VHK_BLK_OP_WRITE_ZEROES: {
		struct vhk_blk_dwz_seg r = {
			.sector = vhk_le64_make(req->sector),
			.num_sectors = vhk_le32_make(req->num_sectors),
			.flags = vhk_le32_make(req->flags),
		};

		memcpy(s->dma + SLOT_RANGE, &r, sizeof(r));
		ret = vhk_fe_dma_map(d->fe, s->dma + SLOT_RANGE, sizeof(r),
				     VHK_DMA_TO_DEVICE, &s->range_addr);
		if (ret == 0) {
			s->range_mapped = true;
			segs[n++] = (struct vhk_drv_seg){ s->range_addr,
							  sizeof(r), false };
		}
		break;
	}
	case VHK_BLK_OP_FLUSH:
		break;
	}
	if (ret < 0) {
		unmap_slot(d, s, true, true);
		return ret;
	}
	for (i = 0; i < s->ndata; i++)
		segs[n++] = (struct vhk_drv_seg){
			s->data[i].addr, s->data[i].len,
			s->data_dir == VHK_DMA_FROM_DEVICE };
	/* Status: the last device-writable byte (VIRTIO 1.2, 5.2.6). */
	segs[n++] = (struct vhk_drv_seg){ s->status_addr, 1, true };

	if (d->indirect) {
		/*
		 * Map the table first: its device address goes into the ring
		 * descriptor; the ring layer then writes the table itself,
		 * in memory the device reads directly (not bounce).
		 */
		ret = vhk_fe_dma_map(d->fe, s->table, 16u * n,
				     VHK_DMA_TO_DEVICE, &s->table_addr);
		if (ret < 0) {
			unmap_slot(d, s, true, true);
			return ret;
		}
		s->table_len = 16u * n;
		ret = vhk_drv_vq_add_indirect(q->vq, segs, n, s, s->table,
					      s->table_addr);
	} else {
		ret = vhk_drv_vq_add(q->vq, segs, n, s);
	}
	if (ret < 0) {
		unmap_slot(d, s, true, true);
		return ret == -ENOSPC ? -EBUSY : ret;
	}
	q->nfree--;
	q->inflight++;
	q->unpublished++;
	s->req = req;
	req->queue = qi;
	req->result = -EINPROGRESS;
	req->status = STATUS_UNSET;
	req->used_len = 0;
	req->submit_ns = vhk_now_ns();
	req->complete_ns = 0;
	return 0;
}

int vhk_blk_drv_kick(struct vhk_blk_drv *d, uint16_t qi)
{
	struct drv_queue *q;
	bool notify;

	if (qi >= d->nq)
		return -EINVAL;
	q = &d->q[qi];
	if (!q->unpublished && !q->force_kick)
		return 0;
	notify = vhk_drv_vq_publish(q->vq);
	q->unpublished = 0;
	if (!notify && !q->force_kick)
		return 0;
	q->force_kick = false;
	return vhk_fe_kick(d->fe, qi);
}

/* ---- completion -------------------------------------------------------- */

static int complete_one(struct vhk_blk_drv *d, struct drv_queue *q,
			struct slot *s, uint32_t used_len)
{
	struct vhk_blk_req *req = s->req;
	uint32_t want = writable_bytes(req);
	int ret;

	ret = unmap_slot(d, s, true, true);
	req->used_len = used_len;
	req->status = s->dma[SLOT_STATUS];
	req->complete_ns = vhk_now_ns();
	if (ret < 0) {
		/* Bounce data not copied back, or a mapping still live. */
		req->result = ret;
	} else if (used_len != want) {
		/*
		 * VIRTIO 1.2, 2.7.8.2: the driver MUST NOT rely on bytes
		 * beyond the used length; the status byte is the last
		 * writable byte, so a shorter length leaves it unreported.
		 */
		vhk_log_ratelimited(&d->rl, VHK_LOG_ERR, BLK_WHO,
				    "vq%u: %s used length %u, expected %u",
				    q->idx, vhk_blk_op_name(req->op),
				    used_len, want);
		req->result = -EPROTO;
	} else {
		switch (req->status) {
		case VHK_BLK_S_OK:
			req->result = 0;
			break;
		case VHK_BLK_S_IOERR:
			req->result = -EIO;
			break;
		case VHK_BLK_S_UNSUPP:
			req->result = -EOPNOTSUPP;
			break;
		default:
			vhk_log_ratelimited(&d->rl, VHK_LOG_ERR, BLK_WHO,
					    "vq%u: %s status 0x%02x is not a "
					    "virtio-blk status (VIRTIO 1.2, "
					    "5.2.6)", q->idx,
					    vhk_blk_op_name(req->op),
					    req->status);
			req->result = -EPROTO;
		}
	}
	s->req = NULL;
	q->free_stack[q->nfree++] = (unsigned int)(s - q->slots);
	q->inflight--;
	q->ready[q->nready++] = req;
	return 0;
}

/* Move every used buffer of @q to q->ready; returns how many or -EPROTO. */
static int collect(struct vhk_blk_drv *d, struct drv_queue *q)
{
	int got = 0, ret;

	if (q->broken)
		return -EPROTO;
	while (q->inflight) {
		void *token;
		uint32_t len;

		ret = vhk_drv_vq_get_used(q->vq, &token, &len);
		if (ret == 0)
			break;
		if (ret < 0) {
			vhk_log(VHK_LOG_ERR, BLK_WHO,
				"vq%u: device wrote a corrupt used ring (%s)",
				q->idx, strerror(-ret));
			q->broken = true;
			return ret;
		}
		complete_one(d, q, token, len);
		got++;
	}
	return got;
}

int vhk_blk_drv_reap(struct vhk_blk_drv *d, uint16_t qi,
		     struct vhk_blk_req **done, unsigned int max)
{
	struct drv_queue *q;
	unsigned int n;
	int ret;

	if (qi >= d->nq)
		return -EINVAL;
	q = &d->q[qi];
	if (q->nready < max) {
		ret = collect(d, q);
		if (ret < 0 && q->nready == 0)
			return ret;
	}
	n = VHK_MIN(max, q->nready);
	memcpy(done, q->ready, n * sizeof(*done));
	memmove(q->ready, q->ready + n, (q->nready - n) * sizeof(*q->ready));
	q->nready -= n;
	return (int)n;
}

int vhk_blk_drv_wait(struct vhk_blk_drv *d, uint16_t qi, int timeout_ms)
{
	uint64_t deadline;
	struct drv_queue *q;
	unsigned int spins = 0;
	int ret;

	if (qi >= d->nq)
		return -EINVAL;
	q = &d->q[qi];
	if (q->nready)
		return 1;
	if (!q->inflight)
		return 0;	/* nothing could complete: do not sleep */
	if (!vhk_fe_connected(d->fe))
		return -ECONNRESET;

	if (d->use_call_fd) {
		/*
		 * Enable notifications, then look again: a buffer used
		 * before the device saw the enable gets no call.
		 */
		if (vhk_drv_vq_enable_cb(q->vq, true)) {
			vhk_drv_vq_enable_cb(q->vq, false);
			return 1;
		}
		ret = vhk_fe_wait(d->fe, qi, timeout_ms);
		vhk_drv_vq_enable_cb(q->vq, false);
		return ret;
	}

	deadline = timeout_ms < 0 ? UINT64_MAX :
		   vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		ret = collect(d, q);
		if (ret != 0)
			return ret < 0 ? ret : 1;
		if ((++spins & 63) == 0) {
			ret = drv_poll_chores(d->fe, deadline);
			if (ret <= 0)
				return ret;
		}
		/* Two cores are shared: leave them to the device. */
		sched_yield();
	}
}

/* Read and discard an eventfd's counter. */
static void drain_eventfd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) == sizeof(v))
		;
}

int vhk_blk_drv_wait_any(struct vhk_blk_drv *d, int timeout_ms)
{
	struct pollfd *pfd = d->pfd;
	unsigned int n = 0, i;
	uint64_t deadline;
	int ret, chan;
	uint16_t qi;

	if (!vhk_fe_connected(d->fe))
		return -ECONNRESET;
	for (qi = 0; qi < d->nq; qi++)
		if (d->q[qi].nready)
			return 1;

	if (!d->use_call_fd) {
		deadline = timeout_ms < 0 ? UINT64_MAX :
			   vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
		for (i = 0;; i++) {
			bool busy = false;

			for (qi = 0; qi < d->nq; qi++) {
				if (!d->q[qi].inflight)
					continue;
				busy = true;
				ret = collect(d, &d->q[qi]);
				if (ret != 0)
					return ret < 0 ? ret : 1;
			}
			if (!busy)
				return 0;
			if ((i & 63) == 63) {
				ret = drv_poll_chores(d->fe, deadline);
				if (ret <= 0)
					return ret;
			}
			sched_yield();
		}
	}

	for (qi = 0; qi < d->nq; qi++) {
		if (!d->q[qi].inflight)
			continue;
		/* Enable, then look again (see vhk_blk_drv_wait()). */
		if (vhk_drv_vq_enable_cb(d->q[qi].vq, true)) {
			ret = 1;
			goto out;
		}
		pfd[n].fd = vhk_fe_call_fd(d->fe, qi);
		pfd[n].events = POLLIN;
		n++;
	}
	if (n == 0)
		return 0;
	chan = vhk_fe_backend_channel_fd(d->fe);
	if (chan >= 0) {
		pfd[n].fd = chan;
		pfd[n].events = POLLIN;
	}
	ret = poll(pfd, n + (chan >= 0), timeout_ms);
	if (ret < 0) {
		ret = errno == EINTR ? 1 : -errno;
		goto out;
	}
	if (ret == 0)
		goto out;
	for (i = 0; i < n; i++)
		if (pfd[i].revents)
			drain_eventfd(pfd[i].fd);
	if (chan >= 0 && pfd[n].revents) {
		/* IOTLB misses; a hang-up is seen here too. */
		int r = vhk_fe_poll(d->fe, 0);

		if (r < 0 && r != -EAGAIN) {
			ret = r;
			goto out;
		}
	}
	ret = 1;
out:
	for (qi = 0; qi < d->nq; qi++)
		if (d->q[qi].inflight)
			vhk_drv_vq_enable_cb(d->q[qi].vq, false);
	return ret;
}

int vhk_blk_drv_run(struct vhk_blk_drv *d, uint16_t qi,
		    struct vhk_blk_req *req, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct vhk_blk_req *done[16];
	int ret, n, i;

	ret = vhk_blk_drv_submit(d, qi, req);
	if (ret < 0)
		return ret;
	ret = vhk_blk_drv_kick(d, qi);
	if (ret < 0)
		return ret;
	for (;;) {
		n = vhk_blk_drv_reap(d, qi, done, VHK_ARRAY_SIZE(done));
		if (n < 0)
			return n;
		for (i = 0; i < n; i++)
			if (done[i] == req)
				return req->result;
		if (n)
			continue;
		if (vhk_now_ns() >= deadline)
			return -ETIMEDOUT;
		ret = vhk_blk_drv_wait(d, qi, timeout_ms < 0 ? -1 :
				       (int)VHK_MAX(1, (deadline -
						vhk_now_ns()) / 1000000));
		if (ret < 0)
			return ret;
	}
}

int vhk_blk_drv_resync(struct vhk_blk_drv *d)
{
	uint16_t i;

	for (i = 0; i < d->nq; i++)
		d->q[i].force_kick = true;
	return 0;
}
