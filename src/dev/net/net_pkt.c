/* SPDX-License-Identifier: MIT */
/*
 * net_pkt.c - the frame allocator of the switch (net_pkt.h): fixed-size
 * slots recycled through per-thread caches and a shared depot, malloc()
 * for larger frames.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dev/net/net_pkt.h"

#if defined(__SANITIZE_ADDRESS__)
#define NET_PKT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NET_PKT_ASAN 1
#endif
#endif
#ifdef NET_PKT_ASAN
#include <sanitizer/asan_interface.h>
/* A slot in a cache or the depot: its data is off limits (a use after
 * free of a pooled frame is still reported). */
#define slot_poison(p) \
	ASAN_POISON_MEMORY_REGION((p)->data, VHK_NET_PKT_POOL_DATA)
#define slot_unpoison(p) \
	ASAN_UNPOISON_MEMORY_REGION((p)->data, VHK_NET_PKT_POOL_DATA)
#else
#define slot_poison(p) ((void)(p))
#define slot_unpoison(p) ((void)(p))
#endif

struct slot_list {
	struct vhk_net_pkt *head;
	unsigned int n;
};

static struct {
	pthread_mutex_t lock;
	struct slot_list l;
} depot = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Atomic uint64_t n_slot_mallocs, n_slot_frees, n_big_mallocs;

static __thread struct slot_list cache;
static __thread bool cache_registered;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void cnt(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Move up to @n slots from the head of @from to @to. */
static void move_slots(struct slot_list *from, struct slot_list *to,
		       unsigned int n)
{
	while (n-- && from->head) {
		struct vhk_net_pkt *p = from->head;

		from->head = p->next;
		from->n--;
		p->next = to->head;
		to->head = p;
		to->n++;
	}
}

/* Hand @n of the cache's slots to the depot; free those it cannot keep. */
static void cache_spill(unsigned int n)
{
	struct slot_list extra = { NULL, 0 };

	pthread_mutex_lock(&depot.lock);
	if (depot.l.n < VHK_NET_PKT_DEPOT_MAX) {
		unsigned int room = VHK_NET_PKT_DEPOT_MAX - depot.l.n;

		move_slots(&cache, &depot.l, n < room ? n : room);
		n = n < room ? 0 : n - room;
	}
	pthread_mutex_unlock(&depot.lock);
	move_slots(&cache, &extra, n);
	while (extra.head) {
		struct vhk_net_pkt *p = extra.head;

		extra.head = p->next;
		cnt(&n_slot_frees);
		free(p);
	}
}

/* Thread exit: the cache's slots go to the depot. */
static void cache_exit(void *unused)
{
	(void)unused;
	cache_spill(cache.n);
}

static void exit_key_create(void)
{
	(void)pthread_key_create(&exit_key, cache_exit);
}

static void cache_register(void)
{
	/* The destructor only runs for a thread whose value is set. */
	(void)pthread_once(&exit_once, exit_key_create);
	(void)pthread_setspecific(exit_key, &cache);
	cache_registered = true;
}

static struct vhk_net_pkt *slot_get(void)
{
	struct vhk_net_pkt *p;

	if (!cache.head) {
		pthread_mutex_lock(&depot.lock);
		move_slots(&depot.l, &cache, VHK_NET_PKT_CACHE / 2);
		pthread_mutex_unlock(&depot.lock);
	}
	p = cache.head;
	if (p) {
		cache.head = p->next;
		cache.n--;
		slot_unpoison(p);
		return p;
	}
	p = malloc(VHK_NET_PKT_SLOT);
	if (p) {
		cnt(&n_slot_mallocs);
		p->pooled = 1;
	}
	return p;
}

struct vhk_net_pkt *vhk_net_pkt_alloc(size_t len)
{
	struct vhk_net_pkt *p;

	if (len <= VHK_NET_PKT_POOL_DATA) {
		p = slot_get();
	} else {
		p = malloc(sizeof(*p) + len);
		if (p) {
			cnt(&n_big_mallocs);
			p->pooled = 0;
		}
	}
	if (!p)
		return NULL;
	p->next = NULL;
	memset(&p->meta, 0, sizeof(p->meta));
	p->len = (uint32_t)len;
	p->hash = 0;
	return p;
}

void vhk_net_pkt_free(struct vhk_net_pkt *p)
{
	if (!p)
		return;
	if (!p->pooled) {
		free(p);
		return;
	}
	if (!cache_registered)
		cache_register();
	slot_poison(p);
	p->next = cache.head;
	cache.head = p;
	cache.n++;
	if (cache.n >= 2 * VHK_NET_PKT_CACHE)
		cache_spill(VHK_NET_PKT_CACHE);
}

void vhk_net_pkt_stats(struct vhk_net_pkt_stats *out)
{
	out->slot_mallocs = atomic_load_explicit(&n_slot_mallocs,
						 memory_order_relaxed);
	out->slot_frees = atomic_load_explicit(&n_slot_frees,
					       memory_order_relaxed);
	out->big_mallocs = atomic_load_explicit(&n_big_mallocs,
						memory_order_relaxed);
}
