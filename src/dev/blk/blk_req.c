/* SPDX-License-Identifier: MIT */
/*
 * blk_req.c - virtio-blk request engine: parse a chain as a byte stream,
 * validate, and carry it out through the queue's io_uring.
 *
 * Every request slot has at most one SQE outstanding at a time (short
 * transfers, multi-range discards and zero-writes go step by step), so an
 * io_uring of nreqs entries never runs out of SQEs or overflows its CQ.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dev/blk/blk_internal.h"

#define blk_warn(q, ...) \
	vhk_log_ratelimited(&(q)->rl, VHK_LOG_WARN, (q)->name, __VA_ARGS__)

static void host_complete(struct blk_queue *q)
{
	if (!q->pushed)
		return;
	q->pushed = 0;
	vhk_dq_complete(q->dq);
}

static void req_free(struct blk_queue *q, struct blk_req *r)
{
	r->op = BLK_OP_NONE;
	r->next_free = q->free;
	q->free = r;
}

/* Record @r as used; @written counts every byte put in writable buffers. */
static void req_push(struct blk_queue *q, struct blk_req *r, uint32_t written)
{
	/* The slot is free either way; a failed push is a request the
	 * driver never sees finish: the device needs a reset. */
	if (vhk_vq_push(q->vq, &r->chain, written) < 0)
		vhk_dq_broken(q->dq, "virtio-blk completion lost: queue broken");
	q->pushed++;
	req_free(q, r);
}

/*
 * Finish @r with @status.  The used length is the data written to the
 * driver (IN) plus the status byte (VIRTIO 1.2, 2.7.8.1: len is the number
 * of bytes written into the buffer).
 */
static void req_finish(struct blk_queue *q, struct blk_req *r, uint8_t status)
{
	uint32_t written = 1;

	if (q->dq)
		vhk_dq_stat_add(q->dq, status == VHK_BLK_S_IOERR ? BLK_STAT_IOERR :
				status == VHK_BLK_S_UNSUPP ? BLK_STAT_UNSUPP :
				r->op == BLK_OP_NONE ? BLK_STAT_OTHER :
				(unsigned int)r->op - BLK_OP_READ, 1);
	if (vhk_iter_write(&r->status, &status, 1) != 1)
		written = 0;	/* cannot happen: tail checked at parse */
	else if (status == VHK_BLK_S_OK && r->op == BLK_OP_READ)
		written += r->total;
	req_push(q, r, written);
}

static struct io_uring_sqe *get_sqe(struct blk_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	if (!sqe) {
		/* One SQE per slot at most: only unsubmitted ones fill it. */
		io_uring_submit(&q->ring);
		q->unsubmitted = 0;
		sqe = io_uring_get_sqe(&q->ring);
	}
	return sqe;
}

/* The fd of @r's next step: its index in the registered files (0: the
 * O_DIRECT fd, 1: the buffered one) when the ring has them. */
static int req_fd(const struct blk_queue *q, const struct blk_req *r)
{
	if (q->fixed_files)
		return r->buffered ? 1 : 0;
	return r->buffered ? q->blk->fd_buf : q->blk->fd;
}

/* Prepare the next step of @r; false if no SQE could be had. */
static bool req_submit(struct blk_queue *q, struct blk_req *r)
{
	struct vhk_blk *blk = q->blk;
	struct io_uring_sqe *sqe = get_sqe(q);
	int fd = req_fd(q, r);
	unsigned int n;
	int mode;

	if (!sqe)
		return false;
	switch (r->op) {
	case BLK_OP_READ:
		/* More than IOV_MAX segments go in several steps. */
		n = VHK_MIN(r->ndata - r->idata, (unsigned int)IOV_MAX);
		/* One segment (the common 4k case): no iovec to import. */
		if (n == 1)
			io_uring_prep_read(sqe, fd, r->data[r->idata].iov_base,
					   (unsigned int)r->data[r->idata].iov_len,
					   r->off);
		else
			io_uring_prep_readv(sqe, fd, r->data + r->idata, n,
					    r->off);
		break;
	case BLK_OP_WRITE:
		n = VHK_MIN(r->ndata - r->idata, (unsigned int)IOV_MAX);
		if (n == 1)
			io_uring_prep_write(sqe, fd,
					    r->data[r->idata].iov_base,
					    (unsigned int)r->data[r->idata].iov_len,
					    r->off);
		else
			io_uring_prep_writev(sqe, fd, r->data + r->idata, n,
					     r->off);
		/* Writethrough (CONFIG_WCE): stable before completion. */
		sqe->rw_flags = blk->writethrough ? RWF_DSYNC : 0;
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		if (blk->map)
			atomic_fetch_add(&blk->map_syncs, 1);
		break;
	case BLK_OP_MSYNC:
		/* The range a memory-mapped writethrough write dirtied
		 * (blk_mmap.c: what msync(MS_SYNC) of it would do). */
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		sqe->off = r->off;
		sqe->len = r->total;
		atomic_fetch_add(&blk->map_syncs, 1);
		break;
	case BLK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, fd,
					FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE, r->off, r->left);
		break;
	case BLK_OP_WZ:
		if (r->wz_mode == BLK_WZ_WRITE) {
			n = (unsigned int)((VHK_MIN(r->left,
				(uint64_t)BLK_ZERO_CHUNK * BLK_ZERO_IOV) +
				BLK_ZERO_CHUNK - 1) / BLK_ZERO_CHUNK);
			/* the last iovec may be longer than needed: trim */
			memcpy(r->data, blk->zero_iov, n * sizeof(*r->data));
			if (r->left < (uint64_t)n * BLK_ZERO_CHUNK)
				r->data[n - 1].iov_len = BLK_ZERO_CHUNK -
					((uint64_t)n * BLK_ZERO_CHUNK - r->left);
			io_uring_prep_writev2(sqe, fd, r->data, n, r->off,
					      blk->writethrough ?
					      RWF_DSYNC : 0);
			break;
		}
		mode = FALLOC_FL_KEEP_SIZE |
		       (r->wz_mode == BLK_WZ_PUNCH ? FALLOC_FL_PUNCH_HOLE :
						     FALLOC_FL_ZERO_RANGE);
		io_uring_prep_fallocate(sqe, fd, mode, r->off, r->left);
		break;
	default:
		return false;
	}
	if (q->fixed_files)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, r);
	q->inflight++;
	q->unsubmitted++;
	return true;
}

/* Start @r, or fail it with IOERR if no SQE is left (cannot happen). */
static void req_start(struct blk_queue *q, struct blk_req *r)
{
	if (!req_submit(q, r)) {
		blk_warn(q, "no submission entry for a request");
		req_finish(q, r, VHK_BLK_S_IOERR);
	}
}

/* Move the DISCARD / WZ cursor to range @i; false when all are done. */
static bool dwz_range(struct vhk_blk *blk, struct blk_req *r, unsigned int i)
{
	r->iseg = i;
	if (i >= r->nseg)
		return false;
	r->off = r->seg[i].off;
	r->left = r->seg[i].len;
	if (r->op == BLK_OP_WZ) {
		r->wz_mode = BLK_WZ_WRITE;
		if (!blk->no_zero_range)
			r->wz_mode = BLK_WZ_ZERO_RANGE;
		if (r->seg[i].unmap && !blk->no_punch)
			r->wz_mode = BLK_WZ_PUNCH;
	}
	return true;
}

/* Step past @n bytes of @r's data segments after a short transfer. */
static void data_advance(struct blk_req *r, uint64_t n)
{
	while (n && r->idata < r->ndata) {
		struct iovec *v = &r->data[r->idata];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		r->idata++;
	}
}

static const char *op_name(enum blk_op op)
{
	switch (op) {
	case BLK_OP_READ:	return "read";
	case BLK_OP_WRITE:	return "write";
	case BLK_OP_FLUSH:	return "flush";
	case BLK_OP_DISCARD:	return "discard";
	case BLK_OP_WZ:		return "write-zeroes";
	case BLK_OP_MSYNC:	return "write (writeback)";
	default:		return "request";
	}
}

static void req_ioerr(struct blk_queue *q, struct blk_req *r, int res)
{
	blk_warn(q, "%s at byte %llu failed: %s", op_name(r->op),
		 (unsigned long long)r->off,
		 res ? strerror(-res) : "unexpected end of file");
	req_finish(q, r, VHK_BLK_S_IOERR);
}

/* Retry @r's current step, or fail it. */
static void req_again(struct blk_queue *q, struct blk_req *r)
{
	if (!req_submit(q, r))
		req_ioerr(q, r, -EBUSY);
}

/* A DISCARD / WZ range finished: start the next one or finish. */
static void dwz_next(struct blk_queue *q, struct blk_req *r)
{
	if (dwz_range(q->blk, r, r->iseg + 1))
		req_again(q, r);
	else
		req_finish(q, r, VHK_BLK_S_OK);
}

static bool unsupported(int res)
{
	return res == -EOPNOTSUPP || res == -EINVAL || res == -ENOTTY ||
	       res == -ENOSYS;
}

/*
 * O_DIRECT refuses buffers it cannot pin or align: -EINVAL for misaligned
 * segments, -EFAULT for some tiny or unpinnable ones.  The buffered fd
 * takes them (a real bad address fails there too).
 */
static bool direct_refused(const struct vhk_blk *blk, const struct blk_req *r,
			   int res)
{
	return (res == -EINVAL || res == -EFAULT) && !r->buffered &&
	       blk->direct;
}

static void wz_complete(struct blk_queue *q, struct blk_req *r, int res)
{
	struct vhk_blk *blk = q->blk;

	if (r->wz_mode != BLK_WZ_WRITE) {
		if (res == 0) {
			dwz_next(q, r);
		} else if (res == -EINTR || res == -EAGAIN) {
			req_again(q, r);
		} else if (unsupported(res)) {
			/* Fall back to the next mode for this and later ones. */
			if (r->wz_mode == BLK_WZ_PUNCH) {
				blk->no_punch = true;
				r->wz_mode = blk->no_zero_range ?
					BLK_WZ_WRITE : BLK_WZ_ZERO_RANGE;
			} else {
				blk->no_zero_range = true;
				r->wz_mode = BLK_WZ_WRITE;
			}
			req_again(q, r);
		} else {
			req_ioerr(q, r, res);
		}
		return;
	}
	if (res > 0) {
		r->off += (uint64_t)res;
		r->left -= VHK_MIN((uint64_t)res, r->left);
		if (r->left)
			req_again(q, r);
		else
			dwz_next(q, r);
	} else if (res == -EINTR || res == -EAGAIN) {
		req_again(q, r);
	} else if (direct_refused(blk, r, res)) {
		r->buffered = true;
		req_again(q, r);
	} else {
		req_ioerr(q, r, res);
	}
}

/* io_uring finished the current step of @r with result @res. */
static void req_complete(struct blk_queue *q, struct blk_req *r, int res)
{
	struct vhk_blk *blk = q->blk;

	q->inflight--;
	switch (r->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (res > 0) {
			uint64_t n = VHK_MIN((uint64_t)res, r->left);

			data_advance(r, n);
			r->off += n;
			r->left -= n;
			if (!r->left)
				req_finish(q, r, VHK_BLK_S_OK);
			else
				req_again(q, r);	/* short: the rest */
		} else if (res == -EINTR || res == -EAGAIN) {
			req_again(q, r);
		} else if (direct_refused(blk, r, res)) {
			/* Misaligned for O_DIRECT: go through the cache. */
			r->buffered = true;
			req_again(q, r);
		} else {
			req_ioerr(q, r, res);
		}
		break;
	case BLK_OP_FLUSH:
	case BLK_OP_MSYNC:
		if (res < 0)
			req_ioerr(q, r, res);
		else
			req_finish(q, r, VHK_BLK_S_OK);
		break;
	case BLK_OP_DISCARD:
		if (res == -EINTR || res == -EAGAIN) {
			req_again(q, r);
		} else if (res == 0 || unsupported(res)) {
			/* A discard is a hint (VIRTIO 1.2, 5.2.6.2: "MAY
			 * deallocate"): not supported means done. */
			if (res)
				blk->no_punch = true;
			dwz_next(q, r);
		} else {
			req_ioerr(q, r, res);
		}
		break;
	case BLK_OP_WZ:
		wz_complete(q, r, res);
		break;
	default:
		blk_warn(q, "completion for an idle request slot");
		break;
	}
}

/* ---- parsing */

static void parse_rw(struct blk_queue *q, struct blk_req *r, bool in,
		     uint64_t sector, struct vhk_iter *rd, struct vhk_iter *wr)
{
	struct vhk_blk *blk = q->blk;
	struct vhk_iter *data = in ? wr : rd;
	uint64_t len;
	int n;

	r->op = in ? BLK_OP_READ : BLK_OP_WRITE;
	r->off = 0;
	/* VIRTIO 1.2, 5.2.6: IN data is device-writable, OUT device-readable */
	if (data->left == 0 || (in ? rd->left : wr->left) != 0) {
		blk_warn(q, "%s request with %zu readable and %zu writable data bytes",
			 in ? "IN" : "OUT", rd->left, wr->left);
		goto ioerr;
	}
	/* VIRTIO 1.2, 5.2.6.2: a write to a read-only device fails, unwritten */
	if (!in && blk->read_only)
		goto ioerr;
	len = data->left;
	/* VIRTIO 1.2, 5.2.6.1: data is a multiple of 512 bytes */
	if (len % VHK_BLK_SECTOR_SIZE || len > UINT32_MAX - 1) {
		blk_warn(q, "data length %llu is not a multiple of 512",
			 (unsigned long long)len);
		goto ioerr;
	}
	if (sector > blk->capacity ||
	    len / VHK_BLK_SECTOR_SIZE > blk->capacity - sector) {
		blk_warn(q, "sector %llu + %llu bytes beyond capacity %llu",
			 (unsigned long long)sector, (unsigned long long)len,
			 (unsigned long long)blk->capacity);
		goto ioerr;
	}
	n = vhk_iter_slice(data, len, r->data, r->cap);
	if (n < 0) {
		blk_warn(q, "cannot map %llu data bytes: %s",
			 (unsigned long long)len, strerror(-n));
		goto ioerr;
	}
	r->ndata = (unsigned int)n;
	r->idata = 0;
	r->off = sector * VHK_BLK_SECTOR_SIZE;
	r->left = len;
	r->total = (uint32_t)len;
	if (blk->map && !atomic_load_explicit(&blk->map_lost,
					      memory_order_relaxed)) {
		/* Memory-mapped mode (blk_mmap.c): bounds checked above. */
		if (!vhk_blk_mmap_rw(blk, r->data, r->ndata, r->off, !in)) {
			blk_warn(q, "disk file shrank under its mapping: "
				 "memory-mapped mode off");
			goto ioerr;
		}
		if (in || !blk->writethrough || !blk->map_sync) {
			req_finish(q, r, VHK_BLK_S_OK);
			return;
		}
		r->op = BLK_OP_MSYNC;	/* writethrough: stable first */
	}
	req_start(q, r);
	return;
ioerr:
	req_finish(q, r, VHK_BLK_S_IOERR);
}

static void parse_dwz(struct blk_queue *q, struct blk_req *r, bool discard,
		      struct vhk_iter *rd)
{
	struct vhk_blk *blk = q->blk;
	struct vhk_blk_dwz_seg segs[VHK_BLK_MAX_DWZ_SEG];
	size_t bytes = rd->left;
	unsigned int i, n;
	uint8_t status = VHK_BLK_S_IOERR;

	r->op = discard ? BLK_OP_DISCARD : BLK_OP_WZ;
	r->nseg = 0;
	r->off = 0;
	if (blk->read_only)	/* VIRTIO 1.2, 5.2.6.2 (as for OUT) */
		goto fail;
	if (bytes == 0 || bytes % sizeof(segs[0])) {
		blk_warn(q, "%s payload of %zu bytes",
			 discard ? "discard" : "write-zeroes", bytes);
		goto fail;
	}
	n = (unsigned int)VHK_MIN(bytes / sizeof(segs[0]),
				  (size_t)VHK_BLK_MAX_DWZ_SEG + 1);
	/* VIRTIO 1.2, 5.2.6.1: at most max_discard_seg / max_write_zeroes_seg */
	if (n > VHK_BLK_MAX_DWZ_SEG) {
		status = VHK_BLK_S_UNSUPP;
		goto fail;
	}
	/* Single fetch: validate the copy only. */
	if (vhk_iter_read(rd, segs, n * sizeof(segs[0])) != n * sizeof(segs[0]))
		goto fail;
	for (i = 0; i < n; i++) {
		uint64_t sector = vhk_le64_get(segs[i].sector);
		uint32_t num = vhk_le32_get(segs[i].num_sectors);
		uint32_t flags = vhk_le32_get(segs[i].flags);

		/* VIRTIO 1.2, 5.2.6.2: unknown flags, or unmap on a
		 * discard, MUST be answered with UNSUPP. */
		if ((flags & ~VHK_BLK_WZ_FLAG_UNMAP) ||
		    (discard && (flags & VHK_BLK_WZ_FLAG_UNMAP))) {
			status = VHK_BLK_S_UNSUPP;
			goto fail;
		}
		if (num > VHK_BLK_MAX_DWZ_SECTORS || sector > blk->capacity ||
		    num > blk->capacity - sector) {
			blk_warn(q, "range %llu+%u beyond capacity %llu or limit",
				 (unsigned long long)sector, num,
				 (unsigned long long)blk->capacity);
			goto fail;
		}
		if (!num)
			continue;
		r->seg[r->nseg].off = sector * VHK_BLK_SECTOR_SIZE;
		r->seg[r->nseg].len = (uint64_t)num * VHK_BLK_SECTOR_SIZE;
		r->seg[r->nseg].unmap = flags & VHK_BLK_WZ_FLAG_UNMAP;
		r->nseg++;
	}
	if ((discard && blk->no_punch) || !dwz_range(blk, r, 0)) {
		req_finish(q, r, VHK_BLK_S_OK);
		return;
	}
	req_start(q, r);
	return;
fail:
	req_finish(q, r, status);
}

static void parse_get_id(struct blk_queue *q, struct blk_req *r,
			 struct vhk_iter *wr)
{
	uint8_t id[VHK_BLK_ID_BYTES] = { 0 };
	uint8_t status = VHK_BLK_S_OK;
	size_t n;

	/* VIRTIO 1.2, 5.2.6: up to 20 bytes, NUL-padded when shorter. */
	memcpy(id, q->blk->serial, q->blk->serial_len);
	n = vhk_iter_write(wr, id, VHK_MIN(wr->left, sizeof(id)));
	vhk_iter_write(&r->status, &status, 1);
	req_push(q, r, (uint32_t)n + 1);
}

static void req_parse(struct blk_queue *q, struct blk_req *r)
{
	struct vhk_blk *blk = q->blk;
	struct vhk_blk_req_hdr hdr;
	struct vhk_iter rd, wr;
	uint32_t type;
	uint64_t sector;

	r->op = BLK_OP_NONE;
	r->buffered = false;
	vhk_chain_reader(&r->chain, &rd);
	vhk_chain_writer(&r->chain, &wr);
	/* VIRTIO 1.2, 5.2.6: the status byte is the last writable byte. */
	if (vhk_iter_tail(&wr, 1, &r->status) < 0) {
		blk_warn(q, "chain %u has no writable status byte: used with 0 bytes",
			 r->chain.id);
		req_push(q, r, 0);
		return;
	}
	/* VIRTIO 1.2, 5.2.6: the 16-byte header comes first.  One copy. */
	if (vhk_iter_read(&rd, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		blk_warn(q, "chain %u is shorter than the request header",
			 r->chain.id);
		req_finish(q, r, VHK_BLK_S_IOERR);
		return;
	}
	type = vhk_le32_get(hdr.type);
	sector = vhk_le64_get(hdr.sector);
	switch (type) {
	case VHK_BLK_T_IN:
	case VHK_BLK_T_OUT:
		parse_rw(q, r, type == VHK_BLK_T_IN, sector, &rd, &wr);
		break;
	case VHK_BLK_T_FLUSH:
		r->op = BLK_OP_FLUSH;
		r->off = 0;
		/* Nothing can be dirty on a read-only disk; nothing can be
		 * written back from a memory-mapped tmpfs file. */
		if (blk->read_only || (vhk_blk_mmapped(blk) && !blk->map_sync))
			req_finish(q, r, VHK_BLK_S_OK);
		else
			req_start(q, r);
		break;
	case VHK_BLK_T_GET_ID:
		parse_get_id(q, r, &wr);
		break;
	case VHK_BLK_T_DISCARD:
	case VHK_BLK_T_WRITE_ZEROES:
		/*
		 * Only with the feature negotiated (VIRTIO 1.2, 5.2.6): a
		 * driver that did not ack DISCARD / WRITE_ZEROES gets
		 * UNSUPP, not an operation it never agreed to.
		 */
		if (!vhk_has_feature(blk->acked, type == VHK_BLK_T_DISCARD ?
				     VHK_BLK_F_DISCARD :
				     VHK_BLK_F_WRITE_ZEROES)) {
			req_finish(q, r, VHK_BLK_S_UNSUPP);
			break;
		}
		parse_dwz(q, r, type == VHK_BLK_T_DISCARD, &rd);
		break;
	default:
		/* VIRTIO 1.2, 5.2.6: unknown types get VIRTIO_BLK_S_UNSUPP */
		req_finish(q, r, VHK_BLK_S_UNSUPP);
		break;
	}
}

/* ---- queue engine */

/* Take over popped chain @c (the framework's scratch vector) into @r. */
static int req_adopt(struct blk_req *r, const struct vhk_chain *c)
{
	unsigned int n = c->nread + c->nwrite;

	if (n > r->cap || !r->iov) {
		unsigned int cap = VHK_MAX(n, (unsigned int)BLK_ZERO_IOV);
		struct iovec *iov = realloc(r->iov, cap * sizeof(*iov));

		if (!iov)
			return -ENOMEM;
		r->iov = iov;
		iov = realloc(r->data, cap * sizeof(*iov));
		if (!iov)
			return -ENOMEM;
		r->data = iov;
		r->cap = cap;
	}
	memcpy(r->iov, c->iov, n * sizeof(*r->iov));
	r->chain = *c;
	r->chain.iov = r->iov;
	r->chain.iov_cap = r->cap;
	return 0;
}

static void submit(struct blk_queue *q)
{
	int ret;

	if (!q->unsubmitted)
		return;
	ret = io_uring_submit(&q->ring);
	if (ret < 0)
		blk_warn(q, "io_uring_submit: %s", strerror(-ret));
	q->unsubmitted = 0;
}

int vhk_blk_queue_chain(struct blk_queue *q, struct vhk_chain *c)
{
	struct blk_req *r = q->free;

	if (!q->started || !r) {
		/* Completions kick_later() when slots free. */
		q->starved = true;
		return VHK_CHAIN_BUSY;
	}
	q->free = r->next_free;
	if (req_adopt(r, c) < 0) {
		/* Out of memory: give the chain back unprocessed. */
		blk_warn(q, "no memory for chain %u", c->id);
		if (vhk_vq_push(q->vq, c, 0) < 0)
			vhk_dq_broken(q->dq, "virtio-blk completion lost: queue broken");
		q->pushed++;
		req_free(q, r);
		return VHK_CHAIN_TAKEN;
	}
	req_parse(q, r);
	return VHK_CHAIN_TAKEN;
}

static void reap_cqes(struct blk_queue *q);

/*
 * End of a batch: one io_uring_enter for every SQE the batch prepared.
 * Reads and writes io_uring can issue nowait and that do not have to
 * wait (a RAM-backed file: blk_nowait.c) are done inside that call, so
 * their completions are reaped right away and go
 * out with this batch's one flush + call, instead of a second wake-up
 * through the eventfd (epoll, eventfd read, second call).  The eventfd is
 * off during the submit, so those completions do not signal it; after it
 * is on again the CQ is looked at once more (a CQE posted between the
 * first look and turning it on signalled nobody).
 */
void vhk_blk_queue_batch_end(struct blk_queue *q)
{
	if (q->unsubmitted) {
		bool toggled = io_uring_cq_eventfd_toggle(&q->ring,
							  false) == 0;

		submit(q);
		reap_cqes(q);
		if (toggled)
			io_uring_cq_eventfd_toggle(&q->ring, true);
		reap_cqes(q);
		submit(q);	/* the rest of short transfers */
	}
	if (q->starved && q->free) {
		q->starved = false;
		vhk_dq_kick_later(q->dq);
	}
	q->pushed = 0;	/* the framework completes the batch */
}

static void reap_cqes(struct blk_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n;

	do {
		n = 0;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			struct blk_req *r = io_uring_cqe_get_data(cqe);

			n++;
			if (r)
				req_complete(q, r, cqe->res);
		}
		io_uring_cq_advance(&q->ring, n);
	} while (n);
}

static unsigned int reap(struct blk_queue *q, bool wait, bool efd)
{
	struct io_uring_cqe *cqe;
	unsigned int pushed;
	uint64_t v;
	int ret;

	if (!q->started)
		return 0;
	for (;;) {
		/* Reset the counter first: a CQE posted after this read
		 * signals the eventfd again. */
		if (efd && read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			blk_warn(q, "eventfd read: %s", strerror(errno));
		reap_cqes(q);
		submit(q);
		if (!wait || !q->inflight)
			break;
		ret = io_uring_wait_cqe(&q->ring, &cqe);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN) {
			vhk_log(VHK_LOG_ERR, q->name,
				"waiting for %u requests: %s", q->inflight,
				strerror(-ret));
			break;
		}
	}
	pushed = q->pushed;
	host_complete(q);
	if (q->starved && q->free) {
		q->starved = false;
		vhk_dq_kick_later(q->dq);
	}
	return pushed;
}

unsigned int vhk_blk_queue_reap(struct blk_queue *q, bool wait)
{
	return reap(q, wait, true);
}

int vhk_blk_queue_poll(struct blk_queue *q)
{
	/* A look at the CQ ring in shared memory: no system call when
	 * nothing is ready.  The eventfd stays signalled; its watch reaps
	 * nothing the next time round. */
	if (!q->started || !io_uring_cq_ready(&q->ring))
		return 0;
	return (int)reap(q, false, false);
}

static void on_event(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	vhk_blk_queue_reap(opaque, false);
}

static void queue_free_mem(struct blk_queue *q)
{
	unsigned int i;

	for (i = 0; q->reqs && i < q->nreqs; i++) {
		free(q->reqs[i].iov);
		free(q->reqs[i].data);
	}
	free(q->reqs);
	q->reqs = NULL;
	q->nreqs = 0;
	q->free = NULL;
}

int vhk_blk_queue_init(struct vhk_blk *blk, struct blk_queue *q,
		       struct vhk_dev_queue *dq)
{
	struct vhk_vq *vq = vhk_dq_vq(dq);
	uint16_t idx = vhk_dq_index(dq);
	unsigned int i, nreqs = vhk_vq_size(vq);
	int ret;

	if (q->started)
		return -EBUSY;
	/* Bounded so that a front-end asking for 256 queues of 32768 cannot
	 * make us allocate gigabytes; more in flight would not help. */
	if (!blk->queue_depth && nreqs > BLK_DEFAULT_MAX_DEPTH)
		nreqs = BLK_DEFAULT_MAX_DEPTH;
	if (blk->queue_depth && blk->queue_depth < nreqs)
		nreqs = blk->queue_depth;
	if (!nreqs)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->blk = blk;
	q->idx = idx;
	q->dq = dq;
	q->vq = vq;
	q->efd = -1;
	q->rl = (struct vhk_ratelimit)VHK_RATELIMIT_INIT;
	snprintf(q->name, sizeof(q->name), "%s", vhk_dq_name(dq));
	q->reqs = calloc(nreqs, sizeof(*q->reqs));
	if (!q->reqs) {
		queue_free_mem(q);
		return -ENOMEM;
	}
	q->nreqs = nreqs;
	for (i = nreqs; i-- > 0;)
		req_free(q, &q->reqs[i]);
	ret = -1;
	if (blk->sqpoll_idle_ms) {
		/* A kernel thread takes the SQEs: io_uring_submit() enters
		 * the kernel only to wake it after sq_thread_idle. */
		struct io_uring_params p = {
			.flags = IORING_SETUP_SQPOLL,
			.sq_thread_idle = blk->sqpoll_idle_ms,
		};

		ret = io_uring_queue_init_params(nreqs, &q->ring, &p);
		if (ret < 0)
			vhk_log(VHK_LOG_WARN, q->name,
				"io_uring SQPOLL refused (%s): plain submission",
				strerror(-ret));
	}
	if (ret < 0)
		ret = io_uring_queue_init(nreqs, &q->ring, 0);
	if (ret < 0) {
		vhk_log(VHK_LOG_ERR, q->name, "io_uring_queue_init(%u): %s",
			nreqs, strerror(-ret));
		queue_free_mem(q);
		return ret;
	}
	/* Registered files: no file lookup and reference per request. */
	{
		int fds[2] = { blk->fd, blk->fd_buf };

		q->fixed_files = io_uring_register_files(&q->ring, fds, 2) == 0;
	}
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	if (ret < 0)
		goto fail;
	ret = vhk_dq_watch(dq, q->efd, EPOLLIN, on_event, q);
	if (ret < 0)
		goto fail;
	vhk_dq_set_priv(dq, q);
	q->started = true;
	return 0;
fail:
	vhk_log(VHK_LOG_ERR, q->name, "queue setup: %s", strerror(-ret));
	if (q->efd >= 0)
		close(q->efd);
	q->efd = -1;
	io_uring_queue_exit(&q->ring);
	queue_free_mem(q);
	return ret;
}

void vhk_blk_queue_fini(struct blk_queue *q)
{
	if (!q->started)
		return;
	vhk_blk_queue_reap(q, true);
	q->started = false;
	vhk_dq_unwatch(q->dq, q->efd);
	io_uring_queue_exit(&q->ring);
	close(q->efd);
	q->efd = -1;
	queue_free_mem(q);
	q->vq = NULL;
	q->dq = NULL;
}
