/* SPDX-License-Identifier: MIT */
/*
 * iotlb.c - the device IOTLB: non-overlapping IOVA intervals in a B+tree.
 *
 * Why a B+tree and not a red-black tree: a lookup at a million entries must
 * not cost much more than at two thousand.  A binary tree is ~20 dependent
 * cache misses deep there; this tree keeps wide inner nodes (their key
 * arrays stay in cache) and leaves whose entries are scanned with
 * independent loads, so a lookup pays roughly one memory round trip for
 * its leaf.  Insert, remove and lookup are O(log n) worst case whatever
 * order a hostile front-end uses; nodes are rebalanced on removal.
 *
 * Tree invariant: in an inner node, every key in child[i] lies in
 * [key[i-1], key[i]).  Separators may be stale lower bounds after removals,
 * so a descent can land in a leaf whose first key is above the one looked
 * for; the predecessor is then the last entry of the previous leaf.
 *
 * FIFO eviction: each entry carries the sequence number of the UPDATE that
 * created it (fragments left by a split keep it).  A min-heap of
 * (seq, first) records with lazy deletion yields the oldest entry; a record
 * is live only if an entry with that first byte and seq still exists.  The
 * heap is rebuilt from the tree when stale records outnumber live ones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vhostkit/iotlb.h"

#define LEAF_N		8	/* entries per leaf: 8 x 32 B = 4 cache lines */
#define LEAF_MIN	(LEAF_N / 2)
#define INNER_N		15	/* keys per inner node */
#define INNER_MIN	(INNER_N / 2)

/* Outstanding misses a front-end may leave unanswered at once. */
#define MAX_MISSES	1024

struct ent {
	uint64_t first;		/* first IOVA byte */
	uint64_t last;		/* last IOVA byte, inclusive */
	uint64_t uva;		/* UVA of @first */
	uint64_t meta;		/* seq << 8 | perm */
};

struct leaf {
	struct ent e[LEAF_N];
	struct leaf *prev, *next;
	unsigned int n;
};

struct inner {
	uint64_t key[INNER_N];
	void *child[INNER_N + 1];
	unsigned int n;		/* keys; children = n + 1 */
};

struct rec {
	uint64_t seq;
	uint64_t first;
};

struct miss {
	uint64_t iova;
	uint64_t page;
	uint64_t stamp;
	uint8_t perm;
};

struct vhk_iotlb {
	void *root;
	unsigned int height;	/* 0: root is a leaf */
	size_t count;
	size_t max;
	uint64_t gen;
	uint64_t seq;

	struct rec *heap;
	size_t heap_n, heap_cap;

	struct miss *miss;
	size_t miss_n;

	struct leaf *spare_leaf;
	struct inner *spare_inner;	/* linked through child[0] */
	unsigned int spare_inner_n;
};

static inline uint8_t ent_perm(const struct ent *e)
{
	return (uint8_t)(e->meta & 0xff);
}

static inline uint64_t ent_seq(const struct ent *e)
{
	return e->meta >> 8;
}

/* ---- tree ---------------------------------------------------------------- */

/*
 * Node reserve: an insertion may split one leaf and every inner node on
 * its path, plus grow a new root.  reserve() allocates that many nodes up
 * front so that tree_ins() never fails half-way through a split.
 */
static int reserve(struct vhk_iotlb *t)
{
	if (!t->spare_leaf) {
		t->spare_leaf = calloc(1, sizeof(struct leaf));
		if (!t->spare_leaf)
			return -ENOMEM;
	}
	while (t->spare_inner_n < t->height + 1) {
		struct inner *in = calloc(1, sizeof(*in));

		if (!in)
			return -ENOMEM;
		in->child[0] = t->spare_inner;
		t->spare_inner = in;
		t->spare_inner_n++;
	}
	return 0;
}

static struct leaf *take_leaf(struct vhk_iotlb *t)
{
	struct leaf *l = t->spare_leaf;

	t->spare_leaf = NULL;
	return l;
}

static struct inner *take_inner(struct vhk_iotlb *t)
{
	struct inner *in = t->spare_inner;

	t->spare_inner = in->child[0];
	t->spare_inner_n--;
	in->child[0] = NULL;
	return in;
}

/* Child index for @x: the number of keys <= @x (independent loads). */
static inline unsigned int inner_slot(const struct inner *in, uint64_t x)
{
	unsigned int c = 0;

	for (unsigned int i = 0; i < in->n; i++)
		c += in->key[i] <= x;
	return c;
}

/* Entries of @l whose first <= @x. */
static inline unsigned int leaf_slot(const struct leaf *l, uint64_t x)
{
	unsigned int c = 0;

	for (unsigned int i = 0; i < l->n; i++)
		c += l->e[i].first <= x;
	return c;
}

static struct leaf *descend(const struct vhk_iotlb *t, uint64_t x)
{
	void *node = t->root;

	for (unsigned int h = t->height; h > 0; h--) {
		const struct inner *in = node;

		node = in->child[inner_slot(in, x)];
	}
	return node;
}

/*
 * The entry with the greatest first <= @x: *@lp and *@ip receive its leaf
 * and index.  Returns false if there is none.
 */
static bool find_le(const struct vhk_iotlb *t, uint64_t x, struct leaf **lp,
		    unsigned int *ip)
{
	struct leaf *l = descend(t, x);
	unsigned int i = leaf_slot(l, x);

	if (i == 0) {
		/* Stale separator: the predecessor ends the previous leaf. */
		l = l->prev;
		if (!l)
			return false;
		i = l->n;
	}
	*lp = l;
	*ip = i - 1;
	return true;
}

/* The first entry overlapping [a, b], copied to *@out; false if none. */
static bool first_overlap(const struct vhk_iotlb *t, uint64_t a, uint64_t b,
			  struct ent *out)
{
	struct leaf *l;
	unsigned int i;

	if (find_le(t, a, &l, &i)) {
		if (l->e[i].last >= a) {
			*out = l->e[i];
			return true;
		}
		i++;
	} else {
		/* Nothing starts at or below a: the leftmost leaf. */
		l = descend(t, 0);
		i = 0;
	}
	if (i >= l->n) {
		l = l->next;
		i = 0;
	}
	if (!l || i >= l->n || l->e[i].first > b)
		return false;
	*out = l->e[i];
	return true;
}

/*
 * Insert @e below @node (height @h); reserve() must have run.  Returns true
 * if @node split (*@up_key, *@up_node: the new right sibling).
 */
static bool tree_ins(struct vhk_iotlb *t, void *node, unsigned int h,
		     const struct ent *e, uint64_t *up_key, void **up_node)
{
	if (h == 0) {
		struct leaf *l = node, *r;
		struct ent tmp[LEAF_N + 1];
		unsigned int pos = leaf_slot(l, e->first), keep;

		if (l->n < LEAF_N) {
			memmove(&l->e[pos + 1], &l->e[pos],
				(l->n - pos) * sizeof(l->e[0]));
			l->e[pos] = *e;
			l->n++;
			return false;
		}
		r = take_leaf(t);
		memcpy(tmp, l->e, pos * sizeof(tmp[0]));
		tmp[pos] = *e;
		memcpy(&tmp[pos + 1], &l->e[pos], (LEAF_N - pos) * sizeof(tmp[0]));
		/*
		 * Appending past the rightmost leaf (ascending UPDATEs, the
		 * common pattern) keeps the left leaf full instead of leaving
		 * a trail of half-empty leaves.
		 */
		keep = (pos == LEAF_N && !l->next) ? LEAF_N : (LEAF_N + 1) / 2;
		memcpy(l->e, tmp, keep * sizeof(tmp[0]));
		l->n = keep;
		memcpy(r->e, &tmp[keep], (LEAF_N + 1 - keep) * sizeof(tmp[0]));
		r->n = LEAF_N + 1 - keep;
		r->next = l->next;
		r->prev = l;
		if (l->next)
			l->next->prev = r;
		l->next = r;
		*up_key = r->e[0].first;
		*up_node = r;
		return true;
	} else {
		struct inner *in = node, *r;
		unsigned int s = inner_slot(in, e->first), m;
		uint64_t k, keys[INNER_N + 1];
		void *c, *kids[INNER_N + 2];

		if (!tree_ins(t, in->child[s], h - 1, e, &k, &c))
			return false;
		if (in->n < INNER_N) {
			memmove(&in->key[s + 1], &in->key[s],
				(in->n - s) * sizeof(in->key[0]));
			memmove(&in->child[s + 2], &in->child[s + 1],
				(in->n - s) * sizeof(in->child[0]));
			in->key[s] = k;
			in->child[s + 1] = c;
			in->n++;
			return false;
		}
		r = take_inner(t);
		memcpy(keys, in->key, s * sizeof(keys[0]));
		keys[s] = k;
		memcpy(&keys[s + 1], &in->key[s], (INNER_N - s) * sizeof(keys[0]));
		memcpy(kids, in->child, (s + 1) * sizeof(kids[0]));
		kids[s + 1] = c;
		memcpy(&kids[s + 2], &in->child[s + 1],
		       (INNER_N - s) * sizeof(kids[0]));
		m = (INNER_N + 1) / 2;
		/* left: keys[0..m-1], kids[0..m]; up: keys[m]; right: rest */
		memcpy(in->key, keys, m * sizeof(keys[0]));
		memcpy(in->child, kids, (m + 1) * sizeof(kids[0]));
		in->n = m;
		r->n = INNER_N - m;
		memcpy(r->key, &keys[m + 1], r->n * sizeof(keys[0]));
		memcpy(r->child, &kids[m + 1], (r->n + 1) * sizeof(kids[0]));
		*up_key = keys[m];
		*up_node = r;
		return true;
	}
}

static int ent_insert(struct vhk_iotlb *t, const struct ent *e)
{
	uint64_t k;
	void *r;
	int ret = reserve(t);

	if (ret)
		return ret;
	if (tree_ins(t, t->root, t->height, e, &k, &r)) {
		struct inner *nr = take_inner(t);

		nr->n = 1;
		nr->key[0] = k;
		nr->child[0] = t->root;
		nr->child[1] = r;
		t->root = nr;
		t->height++;
	}
	t->count++;
	return 0;
}

/* Rebalance child @i of @p (height @ch), which fell below its minimum. */
static void fix_child(struct inner *p, unsigned int i, unsigned int ch)
{
	unsigned int j = i > 0 ? i - 1 : 0;	/* merge/borrow pair j, j+1 */

	if (ch == 0) {
		struct leaf *L = p->child[j], *R = p->child[j + 1];

		if (L->n + R->n <= LEAF_N) {
			memcpy(&L->e[L->n], R->e, R->n * sizeof(R->e[0]));
			L->n += R->n;
			L->next = R->next;
			if (R->next)
				R->next->prev = L;
			free(R);
			goto drop_sep;
		}
		if (L->n > R->n) {
			memmove(&R->e[1], R->e, R->n * sizeof(R->e[0]));
			R->e[0] = L->e[--L->n];
			R->n++;
		} else {
			L->e[L->n++] = R->e[0];
			memmove(R->e, &R->e[1], (--R->n) * sizeof(R->e[0]));
		}
		p->key[j] = R->e[0].first;
		return;
	} else {
		struct inner *L = p->child[j], *R = p->child[j + 1];

		if (L->n + R->n + 1 <= INNER_N) {
			L->key[L->n] = p->key[j];
			memcpy(&L->key[L->n + 1], R->key, R->n * sizeof(R->key[0]));
			memcpy(&L->child[L->n + 1], R->child,
			       (R->n + 1) * sizeof(R->child[0]));
			L->n += R->n + 1;
			free(R);
			goto drop_sep;
		}
		if (L->n > R->n) {
			/* Rotate right through the parent. */
			memmove(&R->key[1], R->key, R->n * sizeof(R->key[0]));
			memmove(&R->child[1], R->child,
				(R->n + 1) * sizeof(R->child[0]));
			R->key[0] = p->key[j];
			R->child[0] = L->child[L->n];
			R->n++;
			p->key[j] = L->key[--L->n];
		} else {
			/* Rotate left through the parent. */
			L->key[L->n] = p->key[j];
			L->child[L->n + 1] = R->child[0];
			L->n++;
			p->key[j] = R->key[0];
			memmove(R->key, &R->key[1], (R->n - 1) * sizeof(R->key[0]));
			memmove(R->child, &R->child[1], R->n * sizeof(R->child[0]));
			R->n--;
		}
		return;
	}

drop_sep:
	memmove(&p->key[j], &p->key[j + 1], (p->n - j - 1) * sizeof(p->key[0]));
	memmove(&p->child[j + 1], &p->child[j + 2],
		(p->n - j - 1) * sizeof(p->child[0]));
	p->n--;
}

/* Remove the entry whose first is @k below @node; true if @node underflows. */
static bool tree_del(void *node, unsigned int h, uint64_t k, bool *found)
{
	if (h == 0) {
		struct leaf *l = node;
		unsigned int i = leaf_slot(l, k);

		if (i == 0 || l->e[i - 1].first != k)
			return false;
		i--;
		memmove(&l->e[i], &l->e[i + 1], (l->n - i - 1) * sizeof(l->e[0]));
		l->n--;
		*found = true;
		return l->n < LEAF_MIN;
	} else {
		struct inner *in = node;
		unsigned int s = inner_slot(in, k);

		if (tree_del(in->child[s], h - 1, k, found))
			fix_child(in, s, h - 1);
		return in->n < INNER_MIN;
	}
}

static bool ent_remove(struct vhk_iotlb *t, uint64_t first)
{
	bool found = false;

	tree_del(t->root, t->height, first, &found);
	if (t->height > 0) {
		struct inner *r = t->root;

		if (r->n == 0) {
			t->root = r->child[0];
			t->height--;
			free(r);
		}
	}
	if (found)
		t->count--;
	return found;
}

static void tree_free(void *node, unsigned int h)
{
	if (h > 0) {
		struct inner *in = node;

		for (unsigned int i = 0; i <= in->n; i++)
			tree_free(in->child[i], h - 1);
	}
	free(node);
}

/* ---- FIFO heap --------------------------------------------------------- */

static inline bool rec_less(const struct rec *a, const struct rec *b)
{
	return a->seq < b->seq || (a->seq == b->seq && a->first < b->first);
}

static void heap_down(struct rec *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct rec tmp;

		if (l < n && rec_less(&h[l], &h[m]))
			m = l;
		if (l + 1 < n && rec_less(&h[l + 1], &h[m]))
			m = l + 1;
		if (m == i)
			return;
		tmp = h[i];
		h[i] = h[m];
		h[m] = tmp;
		i = m;
	}
}

static bool rec_live(const struct vhk_iotlb *t, const struct rec *r)
{
	struct leaf *l;
	unsigned int i;

	return find_le(t, r->first, &l, &i) && l->e[i].first == r->first &&
	       ent_seq(&l->e[i]) == r->seq;
}

/* Rebuild the heap from the live entries (drops every stale record). */
static void heap_rebuild(struct vhk_iotlb *t)
{
	struct leaf *l = descend(t, 0);
	size_t n = 0;

	for (; l; l = l->next)
		for (unsigned int i = 0; i < l->n; i++) {
			t->heap[n].seq = ent_seq(&l->e[i]);
			t->heap[n].first = l->e[i].first;
			n++;
		}
	t->heap_n = n;
	for (size_t i = n / 2; i-- > 0;)
		heap_down(t->heap, n, i);
}

static int heap_push(struct vhk_iotlb *t, uint64_t seq, uint64_t first)
{
	size_t i;

	if (t->heap_n == t->heap_cap) {
		size_t ncap;
		struct rec *h;

		/* Mostly stale: compact instead of growing. */
		if (t->heap_n > 2 * t->count + 64) {
			heap_rebuild(t);
			if (t->heap_n < t->heap_cap)
				goto push;
		}
		ncap = t->heap_cap ? t->heap_cap * 2 : 64;
		h = realloc(t->heap, ncap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->heap_cap = ncap;
	}
push:
	i = t->heap_n++;
	t->heap[i].seq = seq;
	t->heap[i].first = first;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		struct rec tmp;

		if (!rec_less(&t->heap[i], &t->heap[p]))
			break;
		tmp = t->heap[i];
		t->heap[i] = t->heap[p];
		t->heap[p] = tmp;
		i = p;
	}
	return 0;
}

/* Evict oldest entries until the bound holds. */
static void evict(struct vhk_iotlb *t)
{
	while (t->count > t->max && t->heap_n > 0) {
		struct rec r = t->heap[0];

		t->heap[0] = t->heap[--t->heap_n];
		heap_down(t->heap, t->heap_n, 0);
		if (!rec_live(t, &r))
			continue;
		ent_remove(t, r.first);
		t->gen++;
	}
}

/* ---- public -------------------------------------------------------------- */

int vhk_iotlb_new(struct vhk_iotlb **out, size_t max_entries)
{
	struct vhk_iotlb *t;

	if (!out)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->root = calloc(1, sizeof(struct leaf));
	t->miss = calloc(MAX_MISSES, sizeof(t->miss[0]));
	if (!t->root || !t->miss) {
		free(t->root);
		free(t->miss);
		free(t);
		return -ENOMEM;
	}
	t->max = max_entries ? max_entries : VHK_IOTLB_DEFAULT_MAX_ENTRIES;
	t->gen = 1;
	*out = t;
	return 0;
}

void vhk_iotlb_free(struct vhk_iotlb *tlb)
{
	if (!tlb)
		return;
	tree_free(tlb->root, tlb->height);
	free(tlb->spare_leaf);
	while (tlb->spare_inner) {
		struct inner *in = tlb->spare_inner;

		tlb->spare_inner = in->child[0];
		free(in);
	}
	free(tlb->heap);
	free(tlb->miss);
	free(tlb);
}

size_t vhk_iotlb_count(const struct vhk_iotlb *tlb)
{
	return tlb ? tlb->count : 0;
}

uint64_t vhk_iotlb_generation(const struct vhk_iotlb *tlb)
{
	return tlb ? tlb->gen : 0;
}

static void miss_clear_all(struct vhk_iotlb *t)
{
	t->miss_n = 0;
}

void vhk_iotlb_flush(struct vhk_iotlb *tlb)
{
	struct leaf *empty;

	if (!tlb)
		return;
	empty = calloc(1, sizeof(*empty));
	if (empty) {
		tree_free(tlb->root, tlb->height);
		tlb->root = empty;
		tlb->height = 0;
		tlb->count = 0;
	} else {
		/* No memory for a fresh root: empty the tree one by one. */
		while (tlb->count > 0) {
			struct leaf *l = descend(tlb, 0);

			ent_remove(tlb, l->e[0].first);
		}
	}
	tlb->heap_n = 0;
	miss_clear_all(tlb);
	tlb->gen++;
}

/*
 * Remove every mapping of [a, b]: entries inside go, entries that stick
 * out are trimmed, an entry covering both sides is split.
 * Returns 0 or -ENOMEM (then part of the range may be left mapped).
 */
static int carve(struct vhk_iotlb *t, uint64_t a, uint64_t b)
{
	struct ent e;
	bool changed = false;
	int ret = 0;

	while (first_overlap(t, a, b, &e)) {
		struct leaf *l;
		unsigned int i;

		changed = true;
		if (e.first < a) {
			/* Trim the tail in place: the key does not change. */
			if (!find_le(t, e.first, &l, &i))
				break;	/* cannot happen: e is in the tree */
			l->e[i].last = a - 1;
			if (e.last > b) {
				struct ent f = e;

				f.first = b + 1;
				f.uva = e.uva + (b + 1 - e.first);
				ret = ent_insert(t, &f);
				if (!ret) {
					ret = heap_push(t, ent_seq(&e), f.first);
					if (ret)	/* never evictable: drop */
						ent_remove(t, f.first);
				}
				break;
			}
			continue;
		}
		ent_remove(t, e.first);
		if (e.last > b) {
			/* Head cut: the rest moves to a new key b + 1. */
			e.uva += b + 1 - e.first;
			e.first = b + 1;
			ret = ent_insert(t, &e);
			if (!ret) {
				ret = heap_push(t, ent_seq(&e), e.first);
				if (ret)	/* never evictable: drop */
					ent_remove(t, e.first);
			}
			break;
		}
	}
	if (changed)
		t->gen++;
	return ret;
}

static bool perm_valid(uint8_t perm)
{
	return perm == VHK_PERM_RO || perm == VHK_PERM_WO ||
	       perm == VHK_PERM_RW;
}

/* Drop outstanding misses that [first, last] with @perm answers. */
static void miss_clear_range(struct vhk_iotlb *t, uint64_t first,
			     uint64_t last, uint8_t perm)
{
	size_t j = 0;

	for (size_t i = 0; i < t->miss_n; i++) {
		const struct miss *m = &t->miss[i];

		if (m->iova >= first && m->iova <= last &&
		    (perm & m->perm) == m->perm)
			continue;
		t->miss[j++] = *m;	/* keeps age order */
	}
	t->miss_n = j;
}

int vhk_iotlb_update(struct vhk_iotlb *tlb, uint64_t iova, uint64_t size,
		     uint64_t uva, uint8_t perm)
{
	struct ent e;
	int ret;

	if (!tlb)
		return -EINVAL;
	/* vhost-user: an IOTLB UPDATE of size 0 is invalid. */
	if (size == 0 || vhk_range_overflows(iova, size) ||
	    vhk_range_overflows(uva, size) || !perm_valid(perm))
		return -EINVAL;
	e.first = iova;
	e.last = iova + (size - 1);
	e.uva = uva;
	e.meta = (++tlb->seq << 8) | perm;

	ret = carve(tlb, e.first, e.last);
	if (ret)
		return ret;
	ret = ent_insert(tlb, &e);
	if (ret)
		return ret;
	ret = heap_push(tlb, ent_seq(&e), e.first);
	if (ret) {
		/* An entry without a FIFO record could never be evicted. */
		ent_remove(tlb, e.first);
		tlb->gen++;
		return ret;
	}
	evict(tlb);
	miss_clear_range(tlb, e.first, e.last, perm);
	return 0;
}

int vhk_iotlb_invalidate(struct vhk_iotlb *tlb, uint64_t iova, uint64_t size)
{
	int ret;

	if (!tlb)
		return -EINVAL;
	/* vhost-user IOTLB INVALIDATE with size 0: drop everything. */
	if (size == 0) {
		vhk_iotlb_flush(tlb);
		return 0;
	}
	if (vhk_range_overflows(iova, size))
		return -EINVAL;
	ret = carve(tlb, iova, iova + (size - 1));
	/* Splitting an entry in two can push the count over the bound. */
	evict(tlb);
	return ret;
}

int vhk_iotlb_lookup(const struct vhk_iotlb *tlb, uint64_t iova, uint8_t perm,
		     uint64_t *uva, uint64_t *len, struct vhk_iotlb_cache *cache)
{
	const struct ent *e;
	struct leaf *l;
	unsigned int i;
	uint64_t avail;

	if (!tlb || !uva || !len || *len == 0)
		return -EINVAL;
	if (cache && cache->gen == tlb->gen && iova >= cache->iova &&
	    iova <= cache->last) {
		if ((cache->perm & perm) != perm)
			return -EACCES;
		avail = cache->last - iova + 1;	/* cannot wrap: see below */
		if (avail != 0 && *len > avail)
			*len = avail;
		*uva = cache->uva + (iova - cache->iova);
		return 0;
	}
	if (!find_le(tlb, iova, &l, &i))
		return -ENOENT;
	e = &l->e[i];
	if (e->last < iova)
		return -ENOENT;
	if ((ent_perm(e) & perm) != perm)
		return -EACCES;
	/*
	 * avail is 0 only for [0, 2^64-1] minus nothing, i.e. an entry of
	 * 2^64 bytes, which size (a uint64_t) cannot express: never 0.
	 */
	avail = e->last - iova + 1;
	if (avail != 0 && *len > avail)
		*len = avail;
	*uva = e->uva + (iova - e->first);
	if (cache) {
		cache->iova = e->first;
		cache->last = e->last;
		cache->uva = e->uva;
		cache->perm = ent_perm(e);
		cache->gen = tlb->gen;
	}
	return 0;
}

int vhk_iotlb_miss_note(struct vhk_iotlb *tlb, uint64_t iova, uint8_t perm,
			uint64_t now_ns)
{
	uint64_t page = iova & ~((uint64_t)VHK_IOTLB_MISS_PAGE - 1);
	struct miss *m;

	if (!tlb)
		return -EINVAL;
	for (size_t i = 0; i < tlb->miss_n; i++)
		if (tlb->miss[i].page == page && tlb->miss[i].perm == perm)
			return 0;
	if (tlb->miss_n >= MAX_MISSES)
		return -ENOSPC;
	m = &tlb->miss[tlb->miss_n++];
	m->iova = iova;
	m->page = page;
	m->perm = perm;
	/* 0 means "none" to vhk_iotlb_miss_oldest(). */
	m->stamp = now_ns ? now_ns : 1;
	return 1;
}

uint64_t vhk_iotlb_miss_oldest(const struct vhk_iotlb *tlb, uint64_t *iova,
			       uint8_t *perm)
{
	const struct miss *best = NULL;

	if (!tlb)
		return 0;
	for (size_t i = 0; i < tlb->miss_n; i++)
		if (!best || tlb->miss[i].stamp < best->stamp)
			best = &tlb->miss[i];
	if (!best)
		return 0;
	if (iova)
		*iova = best->iova;
	if (perm)
		*perm = best->perm;
	return best->stamp;
}

size_t vhk_iotlb_miss_count(const struct vhk_iotlb *tlb)
{
	return tlb ? tlb->miss_n : 0;
}
