/* SPDX-License-Identifier: MIT */
/*
 * iter.c - the byte-stream view of a chain: devices read requests and write
 * replies as streams and never see how the driver (or a fragmented address
 * space) cut the bytes into segments.
 */
#include <errno.h>
#include <string.h>

#include "vhostkit/as.h"
#include "vhostkit/ring.h"

static void iter_init(struct vhk_iter *it, const struct vhk_chain *c,
		      const struct iovec *iov, unsigned int n, uint64_t bytes)
{
	it->iov = iov;
	it->as = c->as;
	it->n = n;
	it->i = 0;
	it->off = 0;
	it->left = (size_t)bytes;
}

void vhk_chain_reader(const struct vhk_chain *c, struct vhk_iter *it)
{
	iter_init(it, c, c->iov, c->nread, c->read_bytes);
}

void vhk_chain_writer(const struct vhk_chain *c, struct vhk_iter *it)
{
	iter_init(it, c, c->iov + c->nread, c->nwrite, c->write_bytes);
}

/* Bytes available in the current segment (skipping exhausted ones). */
static size_t seg_avail(struct vhk_iter *it)
{
	while (it->i < it->n && it->off >= it->iov[it->i].iov_len) {
		it->i++;
		it->off = 0;
	}
	if (it->i >= it->n)
		return 0;
	return VHK_MIN(it->iov[it->i].iov_len - it->off, it->left);
}

/* Walk up to @n bytes, calling @fn on each piece (fn may be NULL). */
static size_t iter_walk(struct vhk_iter *it, size_t n,
			void (*fn)(void *seg, size_t len, size_t done,
				   void *arg), void *arg)
{
	size_t done = 0;

	while (done < n && it->left) {
		size_t l = seg_avail(it);

		if (!l)
			break;
		l = VHK_MIN(l, n - done);
		if (fn)
			fn((char *)it->iov[it->i].iov_base + it->off, l, done,
			   arg);
		it->off += l;
		it->left -= l;
		done += l;
	}
	return done;
}

static void copy_out(void *seg, size_t len, size_t done, void *arg)
{
	memcpy((char *)arg + done, seg, len);
}

void vhk_guest_write(const struct vhk_as *as, void *dst, const void *src,
		     size_t n)
{
	memcpy(dst, src, n);
	vhk_as_dirty(as, dst, n);
}

struct copy_in_arg {
	const struct vhk_as *as;
	const char *src;
};

static void copy_in(void *seg, size_t len, size_t done, void *arg)
{
	const struct copy_in_arg *a = arg;

	vhk_guest_write(a->as, seg, a->src + done, len);
}

size_t vhk_iter_read(struct vhk_iter *it, void *dst, size_t n)
{
	return iter_walk(it, n, copy_out, dst);
}

size_t vhk_iter_write(struct vhk_iter *it, const void *src, size_t n)
{
	struct copy_in_arg a = { it->as, src };

	return iter_walk(it, n, copy_in, &a);
}

size_t vhk_iter_skip(struct vhk_iter *it, size_t n)
{
	return iter_walk(it, n, NULL, NULL);
}

int vhk_iter_slice(struct vhk_iter *it, size_t n, struct iovec *out,
		   unsigned int max)
{
	struct vhk_iter t = *it;
	unsigned int k = 0;
	size_t done = 0;

	if (n > it->left)
		return -EINVAL;
	while (done < n) {
		size_t l = seg_avail(&t);

		if (!l)
			return -EINVAL;	/* segments shorter than @left */
		if (k >= max)
			return -ENOSPC;
		l = VHK_MIN(l, n - done);
		out[k].iov_base = (char *)t.iov[t.i].iov_base + t.off;
		out[k].iov_len = l;
		k++;
		t.off += l;
		t.left -= l;
		done += l;
	}
	*it = t;
	return (int)k;
}

int vhk_iter_tail(struct vhk_iter *it, size_t n, struct vhk_iter *tail)
{
	size_t skip;

	if (n > it->left)
		return -EINVAL;
	/* The tail starts @left - n bytes from here. */
	*tail = *it;
	skip = it->left - n;
	vhk_iter_skip(tail, skip);
	if (tail->left != n)
		return -EINVAL;
	/* Drop the tail from @it: its stream simply ends earlier. */
	it->left -= n;
	return 0;
}
