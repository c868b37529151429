/* SPDX-License-Identifier: MIT */
/*
 * iotlb.c - the device IOTLB: non-overlapping IOVA intervals in a B+tree.
 *
 * Why a B+tree and not a red-black tree: a lookup at a million entries must
 * not cost much more than at two thousand.  A binary tree is ~20 dependent
 * cache misses deep there.  Here every node is 576 bytes (9 cache lines):
 * inner nodes hold 31 keys, leaves 15 entries stored as arrays (keys, last
 * bytes, UVAs, metadata).  When a descent learns the next node's address
 * it prefetches all of its lines at once, so each level costs about one
 * memory round trip instead of one per line.  The key searches are
 * branch-free over key arrays padded with UINT64_MAX and take two
 * dependent steps per node: the last key of each cache line of keys picks
 * the line, then the line's 8 keys are compared independently and summed
 * (a binary search was 5 dependent loads per inner node, and its loops
 * were not unrolled: 377 instructions per lookup at 65 536 entries, now
 * 215).  The node size was chosen by measurement
 * (bench/core/iotlb_bench.c): early-exit linear scans and 8-entry
 * malloc()ed leaves were slower at every size, 31-entry leaves no better.  Nodes come from an arena of
 * 2 MiB chunks with transparent huge pages requested, which keeps page
 * walks (TLB misses) off the lookup path of a large table.
 *
 * Insert, remove and lookup are O(log n) worst case whatever order a
 * hostile front-end uses: nodes split when full and are merged or
 * rebalanced with a sibling when they fall below half full.
 *
 * Tree invariant: in an inner node, every key in child[i] lies in
 * [key[i-1], key[i]).  Separators may be stale lower bounds after removals,
 * so a descent can land in a leaf whose first key is above the one looked
 * for; the predecessor is then the last entry of the previous leaf.
 * Unused key slots hold UINT64_MAX so that scans need not look at n.
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
#include <sys/mman.h>

#include "vhostkit/iotlb.h"

#define NODE_BYTES	576u	/* 9 cache lines */
#define LEAF_KEYS	16	/* key slots: a power of two for the search */
#define LEAF_N		(LEAF_KEYS - 1)	/* entries; the last slot stays MAX */
#define LEAF_MIN	(LEAF_N / 2)
#define INNER_KEYS	32
#define INNER_N		(INNER_KEYS - 1)
#define INNER_MIN	(INNER_N / 2)

/* Arena chunks grow from 16 KiB to 2 MiB (one huge page each). */
#define CHUNK_MIN	(16u * 1024)
#define CHUNK_MAX	(2u * 1024 * 1024)

#define MAX_MISSES	VHK_IOTLB_MAX_MISSES

struct ent {
	uint64_t first;		/* first IOVA byte */
	uint64_t last;		/* last IOVA byte, inclusive */
	uint64_t uva;		/* UVA of @first */
	uint64_t meta;		/* seq << 8 | perm */
};

struct leaf {
	uint64_t key[LEAF_KEYS];	/* first byte of each entry */
	uint64_t last[LEAF_N];
	uint64_t uva[LEAF_N];
	uint64_t meta[LEAF_N];
	struct leaf *prev, *next;
	unsigned int n;
};

struct inner {
	uint64_t key[INNER_KEYS];
	void *child[INNER_N + 1];
	unsigned int n;		/* keys; children = n + 1 */
};

_Static_assert(sizeof(struct leaf) <= NODE_BYTES, "leaf fits a node");
_Static_assert(sizeof(struct inner) <= NODE_BYTES, "inner fits a node");

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

struct chunk {
	struct chunk *next;
	void *mem;
	size_t bytes;
	bool mapped;		/* mmap()ed (else malloc) */
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
	uint64_t evictions;	/* atomic stores: read by any thread */

	/* Node arena. */
	struct chunk *chunks;
	void *free_nodes;	/* linked through the first word */
	size_t free_n;
	size_t next_chunk;
};

static inline uint8_t ent_perm(const struct ent *e)
{
	return (uint8_t)(e->meta & 0xff);
}

static inline uint64_t ent_seq(const struct ent *e)
{
	return e->meta >> 8;
}

/* ---- node arena ---------------------------------------------------------- */

static int chunk_add(struct vhk_iotlb *t)
{
	size_t bytes = t->next_chunk ? t->next_chunk : CHUNK_MIN;
	struct chunk *c = malloc(sizeof(*c));
	uint8_t *mem = NULL;

	if (!c)
		return -ENOMEM;
	c->mapped = false;
	if (bytes >= CHUNK_MAX) {
		/* 2 MiB aligned, so that one huge page can back it. */
		size_t span = 2 * CHUNK_MAX;
		uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		bytes = CHUNK_MAX;
		if (p != MAP_FAILED) {
			uintptr_t a = ((uintptr_t)p + CHUNK_MAX - 1) &
				      ~((uintptr_t)CHUNK_MAX - 1);
			size_t head = a - (uintptr_t)p;

			if (head)
				munmap(p, head);
			munmap((uint8_t *)a + CHUNK_MAX, span - head - CHUNK_MAX);
			mem = (uint8_t *)a;
			c->mapped = true;
#ifdef MADV_HUGEPAGE
			madvise(mem, CHUNK_MAX, MADV_HUGEPAGE); /* a hint only */
#endif
		}
	} else {
		mem = aligned_alloc(64, bytes);
	}
	if (!mem) {
		free(c);
		return -ENOMEM;
	}
	c->mem = mem;
	c->bytes = bytes;
	c->next = t->chunks;
	t->chunks = c;
	/* Free list in address order, so early nodes sit close together. */
	for (size_t off = bytes; off >= NODE_BYTES; off -= NODE_BYTES) {
		void **node = (void **)(mem + off - NODE_BYTES);

		*node = t->free_nodes;
		t->free_nodes = node;
		t->free_n++;
	}
	t->next_chunk = bytes * 2 > CHUNK_MAX ? CHUNK_MAX : bytes * 2;
	return 0;
}

/* A zeroed node; reserve() guarantees the free list is not empty. */
static void *node_get(struct vhk_iotlb *t)
{
	void **node = t->free_nodes;

	t->free_nodes = *node;
	t->free_n--;
	memset(node, 0, NODE_BYTES);
	return node;
}

static void node_put(struct vhk_iotlb *t, void *p)
{
	void **node = p;

	*node = t->free_nodes;
	t->free_nodes = node;
	t->free_n++;
}

/*
 * An insertion may split one leaf and every inner node on its path, plus
 * grow a new root: make sure that many nodes are free so that tree_ins()
 * never fails half-way through a split.
 */
static int reserve(struct vhk_iotlb *t)
{
	while (t->free_n < (size_t)t->height + 2) {
		int ret = chunk_add(t);

		if (ret)
			return ret;
	}
	return 0;
}

static void arena_free(struct vhk_iotlb *t)
{
	while (t->chunks) {
		struct chunk *c = t->chunks;

		t->chunks = c->next;
		if (c->mapped)
			munmap(c->mem, c->bytes);
		else
			free(c->mem);
		free(c);
	}
	t->free_nodes = NULL;
	t->free_n = 0;
}

static struct leaf *leaf_new(struct vhk_iotlb *t)
{
	struct leaf *l = node_get(t);

	for (unsigned int i = 0; i < LEAF_KEYS; i++)
		l->key[i] = UINT64_MAX;
	return l;
}

static struct inner *inner_new(struct vhk_iotlb *t)
{
	struct inner *in = node_get(t);

	for (unsigned int i = 0; i < INNER_KEYS; i++)
		in->key[i] = UINT64_MAX;
	return in;
}

/* ---- nodes ----------------------------------------------------------------- */

static inline void prefetch_node(const void *p)
{
	const char *c = p;

	/* Unrolled: a counted loop cost ~20 instructions per level. */
#pragma GCC unroll 16
	for (unsigned int off = 0; off < NODE_BYTES; off += 64)
		__builtin_prefetch(c + off);
}

/*
 * Number of keys <= @x in one cache line of 8 sorted keys: eight
 * independent compares summed, no load depends on another.
 */
static inline unsigned int line_count_le(const uint64_t *key, uint64_t x)
{
	unsigned int c = 0;

#pragma GCC unroll 8
	for (unsigned int i = 0; i < 8; i++)
		c += key[i] <= x;
	return c;
}

/*
 * Number of keys <= @x in the 32 sorted keys of an inner node (padded with
 * UINT64_MAX): the last key of the first three lines picks the line
 * (three independent loads), then that line is counted.  Two dependent
 * steps instead of a binary search's five; the lines are all prefetched.
 */
static inline unsigned int count_le32(const uint64_t *key, uint64_t x)
{
	unsigned int b = (key[7] <= x) + (key[15] <= x) + (key[23] <= x);

	return 8 * b + line_count_le(key + 8 * b, x);
}

/* The same over a leaf's 16 keys: one compare picks the line. */
static inline unsigned int count_le16(const uint64_t *key, uint64_t x)
{
	unsigned int b = key[7] <= x;

	return 8 * b + line_count_le(key + 8 * b, x);
}

_Static_assert(INNER_KEYS == 32 && LEAF_KEYS == 16,
	       "count_le32 / count_le16 match the node key arrays");

/*
 * Child index for @x: the number of keys <= @x.  Padding (UINT64_MAX) only
 * counts when x is UINT64_MAX, so n (on another cache line) is read only
 * then.
 */
static inline unsigned int inner_slot(const struct inner *in, uint64_t x)
{
	unsigned int c = count_le32(in->key, x);

	if (__builtin_expect(x == UINT64_MAX, 0))
		return c < in->n ? c : in->n;
	return c;
}

/* Entries of @l whose first <= @x. */
static inline unsigned int leaf_slot(const struct leaf *l, uint64_t x)
{
	unsigned int c = count_le16(l->key, x);

	if (__builtin_expect(x == UINT64_MAX, 0))
		return c < l->n ? c : l->n;
	return c;
}

static inline void leaf_get(const struct leaf *l, unsigned int i,
			    struct ent *e)
{
	e->first = l->key[i];
	e->last = l->last[i];
	e->uva = l->uva[i];
	e->meta = l->meta[i];
}

static inline void leaf_put(struct leaf *l, unsigned int i,
			    const struct ent *e)
{
	l->key[i] = e->first;
	l->last[i] = e->last;
	l->uva[i] = e->uva;
	l->meta[i] = e->meta;
}

/* Copy @cnt entries from @s[@si] to @d[@di] (may overlap within a leaf). */
static void leaf_move(struct leaf *d, unsigned int di, const struct leaf *s,
		      unsigned int si, unsigned int cnt)
{
	memmove(&d->key[di], &s->key[si], cnt * sizeof(d->key[0]));
	memmove(&d->last[di], &s->last[si], cnt * sizeof(d->last[0]));
	memmove(&d->uva[di], &s->uva[si], cnt * sizeof(d->uva[0]));
	memmove(&d->meta[di], &s->meta[si], cnt * sizeof(d->meta[0]));
}

/* Restore the UINT64_MAX sentinels above n. */
static inline void leaf_seal(struct leaf *l)
{
	for (unsigned int i = l->n; i < LEAF_N; i++)
		l->key[i] = UINT64_MAX;
}

static inline void inner_seal(struct inner *in)
{
	for (unsigned int i = in->n; i < INNER_N; i++)
		in->key[i] = UINT64_MAX;
}

static struct leaf *descend(const struct vhk_iotlb *t, uint64_t x)
{
	void *node = t->root;

	for (unsigned int h = t->height; h > 0; h--) {
		const struct inner *in = node;

		node = in->child[inner_slot(in, x)];
		prefetch_node(node);
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
		if (l->last[i] >= a) {
			leaf_get(l, i, out);
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
	if (!l || i >= l->n || l->key[i] > b)
		return false;
	leaf_get(l, i, out);
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
		unsigned int pos = leaf_slot(l, e->first), keep;

		if (l->n < LEAF_N) {
			leaf_move(l, pos + 1, l, pos, l->n - pos);
			leaf_put(l, pos, e);
			l->n++;
			return false;
		}
		r = leaf_new(t);
		/*
		 * Appending past the rightmost leaf (ascending UPDATEs, the
		 * common pattern) keeps the left leaf full instead of leaving
		 * a trail of half-empty leaves.
		 */
		keep = (pos == LEAF_N && !l->next) ? LEAF_N : (LEAF_N + 1) / 2;
		if (pos < keep) {
			/* New entry goes left: move keep-1.. to the right. */
			leaf_move(r, 0, l, keep - 1, LEAF_N - keep + 1);
			leaf_move(l, pos + 1, l, pos, keep - 1 - pos);
			leaf_put(l, pos, e);
		} else {
			leaf_move(r, 0, l, keep, pos - keep);
			leaf_put(r, pos - keep, e);
			leaf_move(r, pos - keep + 1, l, pos, LEAF_N - pos);
		}
		l->n = keep;
		r->n = LEAF_N + 1 - keep;
		leaf_seal(l);
		leaf_seal(r);
		r->next = l->next;
		r->prev = l;
		if (l->next)
			l->next->prev = r;
		l->next = r;
		*up_key = r->key[0];
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
		r = inner_new(t);
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
		inner_seal(in);
		r->n = INNER_N - m;
		memcpy(r->key, &keys[m + 1], r->n * sizeof(keys[0]));
		memcpy(r->child, &kids[m + 1], (r->n + 1) * sizeof(kids[0]));
		inner_seal(r);
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
		struct inner *nr = inner_new(t);

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
static void fix_child(struct vhk_iotlb *t, struct inner *p, unsigned int i,
		      unsigned int ch)
{
	unsigned int j = i > 0 ? i - 1 : 0;	/* merge/borrow pair j, j+1 */

	if (ch == 0) {
		struct leaf *L = p->child[j], *R = p->child[j + 1];

		if (L->n + R->n <= LEAF_N) {
			leaf_move(L, L->n, R, 0, R->n);
			L->n += R->n;
			L->next = R->next;
			if (R->next)
				R->next->prev = L;
			node_put(t, R);
			goto drop_sep;
		}
		if (L->n > R->n) {
			leaf_move(R, 1, R, 0, R->n);
			leaf_move(R, 0, L, L->n - 1, 1);
			R->n++;
			L->n--;
		} else {
			leaf_move(L, L->n, R, 0, 1);
			L->n++;
			leaf_move(R, 0, R, 1, R->n - 1);
			R->n--;
		}
		leaf_seal(L);
		leaf_seal(R);
		p->key[j] = R->key[0];
		return;
	} else {
		struct inner *L = p->child[j], *R = p->child[j + 1];

		if (L->n + R->n + 1 <= INNER_N) {
			L->key[L->n] = p->key[j];
			memcpy(&L->key[L->n + 1], R->key, R->n * sizeof(R->key[0]));
			memcpy(&L->child[L->n + 1], R->child,
			       (R->n + 1) * sizeof(R->child[0]));
			L->n += R->n + 1;
			inner_seal(L);
			node_put(t, R);
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
		inner_seal(L);
		inner_seal(R);
		return;
	}

drop_sep:
	memmove(&p->key[j], &p->key[j + 1], (p->n - j - 1) * sizeof(p->key[0]));
	memmove(&p->child[j + 1], &p->child[j + 2],
		(p->n - j - 1) * sizeof(p->child[0]));
	p->n--;
	inner_seal(p);
}

/* Remove the entry whose first is @k below @node; true if @node underflows. */
static bool tree_del(struct vhk_iotlb *t, void *node, unsigned int h,
		     uint64_t k, bool *found)
{
	if (h == 0) {
		struct leaf *l = node;
		unsigned int i = leaf_slot(l, k);

		if (i == 0 || l->key[i - 1] != k)
			return false;
		i--;
		leaf_move(l, i, l, i + 1, l->n - i - 1);
		l->n--;
		leaf_seal(l);
		*found = true;
		return l->n < LEAF_MIN;
	} else {
		struct inner *in = node;
		unsigned int s = inner_slot(in, k);

		if (tree_del(t, in->child[s], h - 1, k, found))
			fix_child(t, in, s, h - 1);
		return in->n < INNER_MIN;
	}
}

static bool ent_remove(struct vhk_iotlb *t, uint64_t first)
{
	bool found = false;

	tree_del(t, t->root, t->height, first, &found);
	if (t->height > 0) {
		struct inner *r = t->root;

		if (r->n == 0) {
			t->root = r->child[0];
			t->height--;
			node_put(t, r);
		}
	}
	if (found)
		t->count--;
	return found;
}

static void tree_free(struct vhk_iotlb *t, void *node, unsigned int h)
{
	if (h > 0) {
		struct inner *in = node;

		for (unsigned int i = 0; i <= in->n; i++)
			tree_free(t, in->child[i], h - 1);
	}
	node_put(t, node);
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

	return find_le(t, r->first, &l, &i) && l->key[i] == r->first &&
	       (l->meta[i] >> 8) == r->seq;
}

/* Rebuild the heap from the live entries (drops every stale record). */
static void heap_rebuild(struct vhk_iotlb *t)
{
	struct leaf *l = descend(t, 0);
	size_t n = 0;

	for (; l; l = l->next)
		for (unsigned int i = 0; i < l->n; i++) {
			t->heap[n].seq = l->meta[i] >> 8;
			t->heap[n].first = l->key[i];
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
		vhk_stat_add(&t->evictions, 1);
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
	t->miss = calloc(MAX_MISSES, sizeof(t->miss[0]));
	if (!t->miss || reserve(t)) {
		arena_free(t);
		free(t->miss);
		free(t);
		return -ENOMEM;
	}
	t->root = leaf_new(t);
	t->max = max_entries ? max_entries : VHK_IOTLB_DEFAULT_MAX_ENTRIES;
	t->gen = 1;
	*out = t;
	return 0;
}

void vhk_iotlb_free(struct vhk_iotlb *tlb)
{
	if (!tlb)
		return;
	arena_free(tlb);
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
	if (!tlb)
		return;
	/* Nodes go back to the arena; a fresh root cannot fail then. */
	tree_free(tlb, tlb->root, tlb->height);
	tlb->root = leaf_new(tlb);
	tlb->height = 0;
	tlb->count = 0;
	tlb->heap_n = 0;
	miss_clear_all(tlb);
	tlb->gen++;
}

/*
 * Remove every mapping of [a, b]: entries inside go, entries that stick
 * out are trimmed, an entry covering both sides is split.
 * Returns 0 or -ENOMEM: then a fragment outside [a, b] that had to be
 * re-inserted is lost (a later miss), but nothing inside stays mapped.
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
			l->last[i] = a - 1;
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
	struct ent ent, *e = &ent;
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
	leaf_get(l, i, e);
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

uint64_t vhk_iotlb_evictions(const struct vhk_iotlb *tlb)
{
	return tlb ? vhk_stat_get(&tlb->evictions) : 0;
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

/* ---- per-queue misses: written by the queue's owner only */

int vhk_iotlb_qmiss_note(struct vhk_iotlb_cache *cache, uint64_t iova,
			 uint8_t perm, uint64_t now_ns)
{
	uint64_t page = iova & ~((uint64_t)VHK_IOTLB_MISS_PAGE - 1);
	struct vhk_iotlb_qmiss *m;

	if (!cache)
		return -EINVAL;
	for (uint32_t i = 0; i < cache->miss_n; i++) {
		m = &cache->miss[i];
		if ((m->iova & ~((uint64_t)VHK_IOTLB_MISS_PAGE - 1)) == page &&
		    m->perm == perm)
			return 0;
	}
	if (cache->miss_n >= VHK_IOTLB_QUEUE_MISSES)
		return -ENOSPC;
	m = &cache->miss[cache->miss_n++];
	m->iova = iova;
	m->perm = perm;
	m->stamp = now_ns ? now_ns : 1;
	if (cache->miss_n == 1)
		__atomic_store_n(&cache->miss_oldest, m->stamp,
				 __ATOMIC_RELAXED);
	return 1;
}

void vhk_iotlb_qmiss_clear(struct vhk_iotlb_cache *cache, uint64_t iova,
			   uint64_t size, uint8_t perm)
{
	uint64_t last = size ? iova + (size - 1) : UINT64_MAX;
	uint64_t now = 0;
	uint32_t j = 0;

	if (!cache)
		return;
	if (size == 0)
		iova = 0;
	for (uint32_t i = 0; i < cache->miss_n; i++) {
		const struct vhk_iotlb_qmiss *m = &cache->miss[i];

		if (m->iova >= iova && m->iova <= last &&
		    (size == 0 || (perm & m->perm) == m->perm)) {
			if (size && cache->ctr) {
				if (!now)
					now = vhk_now_ns();
				vhk_stat_add(&cache->ctr->answered, 1);
				vhk_stat_add(&cache->ctr->wait_ns,
					     now > m->stamp ? now - m->stamp : 0);
			}
			continue;
		}
		cache->miss[j++] = *m;		/* keeps age order */
	}
	cache->miss_n = j;
	__atomic_store_n(&cache->miss_oldest, j ? cache->miss[0].stamp : 0,
			 __ATOMIC_RELAXED);
}

uint64_t vhk_iotlb_qmiss_oldest(const struct vhk_iotlb_cache *cache,
				uint64_t *iova, uint8_t *perm)
{
	if (!cache)
		return 0;
	if (!iova && !perm)
		return __atomic_load_n(&cache->miss_oldest, __ATOMIC_RELAXED);
	if (cache->miss_n == 0)
		return 0;
	if (iova)
		*iova = cache->miss[0].iova;
	if (perm)
		*perm = cache->miss[0].perm;
	return cache->miss[0].stamp;
}

void vhk_iotlb_cache_invalidate(struct vhk_iotlb_cache *cache)
{
	if (!cache)
		return;
	cache->gen = 0;
	cache->win_tlb_gen = 0;
}
