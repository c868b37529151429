/* SPDX-License-Identifier: MIT */
/*
 * ralloc.c - a small first-fit range allocator (sorted free list with
 * coalescing), used for the shared-memory heap, bounce slots and IOVAs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fe_priv.h"

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int fe_ralloc_init(struct fe_ralloc *ra, uint64_t base, uint64_t size,
		   uint64_t align)
{
	memset(ra, 0, sizeof(*ra));
	if (align == 0 || (align & (align - 1)) || base % align ||
	    vhk_range_overflows(base, size))
		return -EINVAL;
	ra->base = base;
	ra->size = size - size % align;
	ra->align = align;
	ra->cap = 16;
	ra->free = calloc(ra->cap, sizeof(*ra->free));
	if (!ra->free)
		return -ENOMEM;
	if (ra->size) {
		ra->free[0].start = base;
		ra->free[0].len = ra->size;
		ra->nfree = 1;
	}
	return 0;
}

void fe_ralloc_destroy(struct fe_ralloc *ra)
{
	free(ra->free);
	memset(ra, 0, sizeof(*ra));
}

int fe_ralloc_get(struct fe_ralloc *ra, uint64_t len, uint64_t *out)
{
	if (len == 0)
		return -EINVAL;
	if (len > ra->size)
		return -ENOMEM;
	len = round_up(len, ra->align);
	for (size_t i = 0; i < ra->nfree; i++) {
		struct fe_range *r = &ra->free[i];

		if (r->len < len)
			continue;
		*out = r->start;
		r->start += len;
		r->len -= len;
		if (r->len == 0) {
			memmove(r, r + 1, (ra->nfree - i - 1) * sizeof(*r));
			ra->nfree--;
		}
		return 0;
	}
	return -ENOMEM;
}

int fe_ralloc_put(struct fe_ralloc *ra, uint64_t start, uint64_t len)
{
	size_t i;

	if (len == 0 || !ra->free)
		return -EINVAL;
	len = round_up(len, ra->align);
	if (start < ra->base || start % ra->align ||
	    start - ra->base > ra->size || len > ra->size - (start - ra->base))
		return -EINVAL;
	/* First free range after @start. */
	for (i = 0; i < ra->nfree && ra->free[i].start < start; i++)
		;
	/* Refuse a double free (overlap with a neighbour). */
	if (i > 0 && ra->free[i - 1].start + ra->free[i - 1].len > start)
		return -EINVAL;
	if (i < ra->nfree && start + len > ra->free[i].start)
		return -EINVAL;
	if (i > 0 && ra->free[i - 1].start + ra->free[i - 1].len == start) {
		ra->free[i - 1].len += len;
		if (i < ra->nfree && start + len == ra->free[i].start) {
			ra->free[i - 1].len += ra->free[i].len;
			memmove(&ra->free[i], &ra->free[i + 1],
				(ra->nfree - i - 1) * sizeof(*ra->free));
			ra->nfree--;
		}
		return 0;
	}
	if (i < ra->nfree && start + len == ra->free[i].start) {
		ra->free[i].start = start;
		ra->free[i].len += len;
		return 0;
	}
	if (ra->nfree == ra->cap) {
		struct fe_range *n = realloc(ra->free,
					     2 * ra->cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ra->free = n;
		ra->cap *= 2;
	}
	memmove(&ra->free[i + 1], &ra->free[i],
		(ra->nfree - i) * sizeof(*ra->free));
	ra->free[i].start = start;
	ra->free[i].len = len;
	ra->nfree++;
	return 0;
}

uint64_t fe_ralloc_free_bytes(const struct fe_ralloc *ra)
{
	uint64_t n = 0;

	for (size_t i = 0; i < ra->nfree; i++)
		n += ra->free[i].len;
	return n;
}
