/* SPDX-License-Identifier: MIT */
/*
 * vq_walk.c - the checks and translation every descriptor goes through,
 * whatever the ring layout: one buffer becomes one or more host iovecs.
 */
#include <stdlib.h>

#include "ring/vq_priv.h"

/* VIRTIO 1.2, 2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than
 * 2^32 bytes in total". */
#define VQ_CHAIN_MAX_BYTES	(1ull << 32)

int vq_translate(struct vhk_vq *vq, uint64_t addr, uint64_t *len,
		 uint8_t perm, void **host)
{
	struct vq_region_cache *rc = &vq->rcache;
	const struct vhk_mem_region *r;
	struct vhk_as *as = vq->as;
	uint64_t avail;

	if (as->mode != VHK_AS_GPA && as->mode != VHK_AS_PLATFORM_IDENTITY)
		return vhk_as_translate(as, addr, len, perm, host,
					&vq->tlb_cache);
	if (!as->mt)
		return -EFAULT;
	if (!vq_rcache_current(vq) || addr < rc->gpa || addr > rc->last) {
		r = vhk_memtable_find_gpa(as->mt, addr);
		if (!r)
			return -EFAULT;
		rc->mt = as->mt;
		rc->gen = vhk_memtable_generation(as->mt);
		rc->gpa = r->gpa;
		rc->last = r->gpa + (r->size - 1);
		rc->host = r->host;
	}
	avail = rc->last - addr + 1;	/* 0: the region ends at 2^64 */
	if (avail && *len > avail)
		*len = avail;
	*host = rc->host + (addr - rc->gpa);
	return 0;
}

void vq_walk_init(struct vq_walk *w, struct vhk_vq *vq, struct vhk_chain *c)
{
	memset(w, 0, sizeof(*w));
	w->vq = vq;
	w->c = c;
	w->cap = c->iov_cap;
	if (vq->max_iov && vq->max_iov < w->cap)
		w->cap = vq->max_iov;
	c->nread = 0;
	c->nwrite = 0;
	c->read_bytes = 0;
	c->write_bytes = 0;
	c->ndesc = 0;
}

/*
 * vq_walk_buffer - validate one buffer descriptor (already copied out of
 * guest memory) and append its host segments to the chain.
 * Returns 0 or a negative errno: -EPROTO / -EFAULT / -EACCES are driver
 * errors, -EAGAIN (IOTLB miss) and -ENOBUFS (iov_cap) are transient.
 */
int vq_walk_buffer(struct vq_walk *w, uint64_t addr, uint32_t len, bool write)
{
	struct vhk_vq *vq = w->vq;
	struct vhk_chain *c = w->c;
	uint8_t perm = write ? VHK_PERM_WO : VHK_PERM_RO;

	/*
	 * Zero-length descriptors are rejected.  The spec does not give them
	 * a meaning (a buffer element has a length), no known driver makes
	 * them, and QEMU refuses them too ("zero sized buffers are not
	 * allowed"); accepting them would let a chain of num empty
	 * descriptors cost a full walk while describing nothing, and would
	 * hand devices empty segments they do not expect.
	 */
	if (len == 0)
		return -EPROTO;
	if (vhk_range_overflows(addr, len))
		return -EFAULT;
	/* VIRTIO 1.2, 2.7.4.2: the driver MUST place any device-writable
	 * descriptor elements after any device-readable ones (2.8 for
	 * packed). */
	if (!write && w->seen_write)
		return -EPROTO;
	if (write)
		w->seen_write = true;
	w->total += len;
	if (w->total > VQ_CHAIN_MAX_BYTES)
		return -EPROTO;

	while (len) {
		uint64_t l = len;
		void *host;
		int r;

		r = vq_translate(vq, addr, &l, perm, &host);
		if (r < 0)
			return r;
		if (l == 0 || l > len)	/* translate broke its contract */
			return -EFAULT;
		if (w->nseg >= w->cap)
			return -ENOBUFS;
		c->iov[w->nseg].iov_base = host;
		c->iov[w->nseg].iov_len = (size_t)l;
		w->nseg++;
		if (write) {
			c->nwrite++;
			c->write_bytes += l;
		} else {
			c->nread++;
			c->read_bytes += l;
		}
		addr += l;
		len -= (uint32_t)l;
	}
	return 0;
}

/*
 * vq_walk_indirect - copy the indirect table at @addr (@len bytes) into the
 * queue's bounce buffer.  Tables may span regions and IOTLB entries, so
 * they are copied, never mapped; the copy is also the single fetch (R1).
 * Returns 0 with *@table / *@ntable, or a negative errno.
 */
int vq_walk_indirect(struct vq_walk *w, uint64_t addr, uint32_t len,
		     void **table, uint32_t *ntable)
{
	struct vhk_vq *vq = w->vq;
	int r;

	/* VIRTIO 1.2, 2.7.5.3.1 (split) / 2.8.7 (packed): the driver MUST NOT
	 * set INDIRECT unless VIRTIO_F_INDIRECT_DESC was negotiated. */
	if (!vq->indirect)
		return -EPROTO;
	/* The table is len / 16 descriptors (VIRTIO 1.2, 2.7.5.3): an empty
	 * table or a partial descriptor is a driver error. */
	if (len == 0 || len % sizeof(struct vhk_vring_desc))
		return -EPROTO;
	/* Bound the copy: a table never needs more entries than the largest
	 * queue (VIRTIO 1.2, 2.7.5.3.1: a chain no longer than allowed). */
	if (len / sizeof(struct vhk_vring_desc) > VHK_VQ_MAX_SIZE)
		return -EPROTO;
	/* Every descriptor yields at least one host segment: a table longer
	 * than the chain's segment limit cannot be served, so it is refused
	 * before it is copied (which also bounds the IOTLB entries a request
	 * can need: vhk_iotlb_min_entries()). */
	if (len / sizeof(struct vhk_vring_desc) > w->cap)
		return -ENOBUFS;
	if (vhk_range_overflows(addr, len))
		return -EFAULT;
	if (vq->ind_cap < len) {
		void *p = realloc(vq->ind_buf, len);

		if (!p)
			return -ENOMEM;
		vq->ind_buf = p;
		vq->ind_cap = len;
	}
	r = vhk_as_copy_from(vq->as, vq->ind_buf, addr, len, &vq->tlb_cache);
	if (r < 0)
		return r;
	*table = vq->ind_buf;
	*ntable = len / sizeof(struct vhk_vring_desc);
	return 0;
}

void vq_walk_finish(struct vq_walk *w)
{
	w->vq->stats.last_pop_descs = w->walked;
	w->vq->stats.descs_walked += w->walked;
}
