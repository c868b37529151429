/* SPDX-License-Identifier: MIT */
/*
 * net_switch.c - learning L2 switch: MAC table (bounded, set-associative,
 * aged), flooding, per-port backlogs, ingress policing, software offloads
 * for ports that cannot take them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "dev/net/net_switch.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vhk_net_switch_init(struct vhk_net_switch *sw)
{
	memset(sw, 0, sizeof(*sw));
	sw->now_ns = mono_ns;
	return -pthread_mutex_init(&sw->lock, NULL);
}

void vhk_net_switch_fini(struct vhk_net_switch *sw)
{
	pthread_mutex_destroy(&sw->lock);
}

int vhk_net_port_init(struct vhk_net_switch *sw, struct vhk_net_port *p,
		      const char *name, enum vhk_net_port_kind kind,
		      unsigned int limit)
{
	int rc;

	if (sw->nports >= VHK_NET_MAX_PORTS)
		return -ENOSPC;
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->kind = kind;
	p->sw = sw;
	p->mtu = 1500;
	p->queues = 1;
	p->limit = limit ? limit : VHK_NET_BACKLOG_DEFAULT;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0)
		return -errno;
	rc = pthread_mutex_init(&p->lock, NULL);
	if (rc) {
		close(p->efd);
		return -rc;
	}
	p->idx = sw->nports;
	sw->ports[sw->nports++] = p;
	return 0;
}

void vhk_net_port_fini(struct vhk_net_port *p)
{
	vhk_net_backlog_flush(p);
	if (p->efd >= 0)
		close(p->efd);
	p->efd = -1;
	pthread_mutex_destroy(&p->lock);
}

void vhk_net_count_drop(struct vhk_net_port *p, enum vhk_net_drop reason)
{
	if ((unsigned int)reason < VHK_NET_DROP__COUNT)
		vhk_net_cnt_add(&p->c.drops[reason], 1);
}

/* ---- backlog */

/* Frames on their way to one output port during one input burst. */
struct stage {
	struct vhk_net_pkt *head, *tail;
	unsigned int n;
};

/* Frames bound for each output port of one input burst, appended to the
 * backlogs together at its end. */
struct staging {
	struct stage s[VHK_NET_MAX_PORTS];	/* valid for used[] only */
	uint8_t used[VHK_NET_MAX_PORTS];	/* port indexes with frames */
	unsigned int nused;
	/* The ports a frame of this burst floods to (every other port that
	 * is up), looked up at the burst's first flooded frame. */
	struct vhk_net_port *flood[VHK_NET_MAX_PORTS];
	int nflood;				/* -1: not yet */
	bool flood_hash;			/* one of them has > 1 queue */
};

static void stage_add(struct staging *st, struct vhk_net_port *out,
		      struct vhk_net_pkt *pkt)
{
	struct stage *g = &st->s[out->idx];
	bool seen = false;

	/* Only the used stages are initialised (no 1.5 KiB memset per
	 * burst): a burst touches one or two output ports. */
	for (unsigned int i = 0; i < st->nused && !seen; i++)
		seen = st->used[i] == out->idx;
	pkt->next = NULL;
	if (!seen) {
		g->head = pkt;
		g->n = 0;
		st->used[st->nused++] = (uint8_t)out->idx;
	} else {
		g->tail->next = pkt;
	}
	g->tail = pkt;
	g->n++;
}

/* Append @g to @out's backlog under one lock; what does not fit is
 * dropped (queue_full).  The owner is woken once, when the backlog was
 * empty (a busy-polled owner never: it looks on every pass). */
static void backlog_append(struct vhk_net_port *out, struct stage *g)
{
	struct vhk_net_pkt *keep_tail = NULL, *drop = NULL;
	unsigned int take = 0, room;
	bool wake = false;

	pthread_mutex_lock(&out->lock);
	room = out->count < out->limit ? out->limit - out->count : 0;
	take = g->n < room ? g->n : room;
	if (take) {
		keep_tail = g->head;
		for (unsigned int i = 1; i < take; i++)
			keep_tail = keep_tail->next;
		drop = keep_tail->next;
		keep_tail->next = NULL;
		if (out->tail)
			out->tail->next = g->head;
		else
			out->head = g->head;
		out->tail = keep_tail;
		wake = out->count == 0 && !out->polled;
		out->count += take;
		atomic_store_explicit(&out->nonempty, true,
				      memory_order_relaxed);
		if (wake)
			atomic_store_explicit(&out->efd_armed, true,
					      memory_order_relaxed);
	} else {
		drop = g->head;
	}
	pthread_mutex_unlock(&out->lock);
	if (wake) {
		uint64_t one = 1;
		ssize_t w = write(out->efd, &one, sizeof(one));

		(void)w;	/* only fails if the counter is saturated */
	}
	if (take < g->n)
		vhk_net_cnt_add(&out->c.drops[VHK_NET_DROP_QUEUE_FULL],
				g->n - take);
	while (drop) {
		struct vhk_net_pkt *n = drop->next;

		vhk_net_pkt_free(drop);
		drop = n;
	}
}

static void staging_flush(struct vhk_net_switch *sw, struct staging *st)
{
	for (unsigned int i = 0; i < st->nused; i++)
		backlog_append(sw->ports[st->used[i]], &st->s[st->used[i]]);
	st->nused = 0;
}

struct vhk_net_pkt *vhk_net_backlog_take(struct vhk_net_port *p,
					 unsigned int max)
{
	struct vhk_net_pkt *first, *last;
	unsigned int n = 1;

	/* Clear the eventfd before looking (a frame queued after the look
	 * keeps it set); only when a writer armed it, so a polling owner
	 * does not pay a read() per look at an empty backlog. */
	if (atomic_exchange_explicit(&p->efd_armed, false,
				     memory_order_relaxed)) {
		uint64_t v;
		ssize_t r = read(p->efd, &v, sizeof(v));

		(void)r;
	}
	/* A frame appended after this look armed the eventfd (or, polled,
	 * is seen on the next pass). */
	if (!atomic_load_explicit(&p->nonempty, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&p->lock);
	first = p->head;
	if (!first || !max) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	last = first;
	while (n < max && last->next) {
		last = last->next;
		n++;
	}
	p->head = last->next;
	if (!p->head)
		p->tail = NULL;
	p->count -= n;
	atomic_store_explicit(&p->nonempty, p->count != 0,
			      memory_order_relaxed);
	last->next = NULL;
	pthread_mutex_unlock(&p->lock);
	return first;
}

void vhk_net_backlog_putback(struct vhk_net_port *p, struct vhk_net_pkt *list)
{
	struct vhk_net_pkt *last = list;
	unsigned int n = 1;

	if (!list)
		return;
	while (last->next) {
		last = last->next;
		n++;
	}
	pthread_mutex_lock(&p->lock);
	last->next = p->head;
	p->head = list;
	if (!p->tail)
		p->tail = last;
	p->count += n;
	atomic_store_explicit(&p->nonempty, true, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
}

void vhk_net_backlog_flush(struct vhk_net_port *p)
{
	struct vhk_net_pkt *l, *n;

	pthread_mutex_lock(&p->lock);
	l = p->head;
	p->head = p->tail = NULL;
	p->count = 0;
	atomic_store_explicit(&p->nonempty, false, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	for (; l; l = n) {
		n = l->next;
		vhk_net_pkt_free(l);
	}
}

/* ---- MAC table */

static unsigned int mac_set(const uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return (h ^ (h >> 16)) % VHK_NET_MAC_SETS;
}

/* Learn @mac on @port; returns sw->gen after it (read under the lock). */
static uint64_t learn(struct vhk_net_switch *sw, const uint8_t mac[6],
		      unsigned int port, uint64_t now)
{
	struct vhk_net_mac_entry *set = sw->mac[mac_set(mac)], *victim = NULL;
	uint64_t gen;

	pthread_mutex_lock(&sw->lock);
	for (int w = 0; w < VHK_NET_MAC_WAYS; w++) {
		struct vhk_net_mac_entry *e = &set[w];

		if (e->used && !memcmp(e->mac, mac, 6)) {
			if (e->port != port) {
				vhk_net_cnt_add(&sw->moved, 1);
				atomic_fetch_add(&sw->gen, 1);
			} else if (now - e->seen_ns > VHK_NET_MAC_AGE_NS) {
				/* aged out, alive again: memos of "unknown"
				 * must go */
				atomic_fetch_add(&sw->gen, 1);
			}
			e->port = (uint16_t)port;
			e->seen_ns = now;
			gen = atomic_load(&sw->gen);
			pthread_mutex_unlock(&sw->lock);
			return gen;
		}
		if (!e->used) {
			if (!victim || victim->used)
				victim = e;
		} else if (!victim || (victim->used &&
				       e->seen_ns < victim->seen_ns)) {
			victim = e;
		}
	}
	if (victim->used)
		vhk_net_cnt_add(&sw->evicted, 1);
	else
		sw->nmacs++;
	memcpy(victim->mac, mac, 6);
	victim->port = (uint16_t)port;
	victim->used = true;
	victim->seen_ns = now;
	vhk_net_cnt_add(&sw->learned, 1);
	gen = atomic_fetch_add(&sw->gen, 1) + 1;
	pthread_mutex_unlock(&sw->lock);
	return gen;
}

/* Port learnt for @mac, or -1; *@until: when the answer may change
 * without sw->gen moving (the entry ages out).  *@gen: sw->gen read
 * under the lock. */
static int lookup_gen(struct vhk_net_switch *sw, const uint8_t mac[6],
		      uint64_t now, uint64_t *until, uint64_t *gen)
{
	struct vhk_net_mac_entry *set = sw->mac[mac_set(mac)];
	int port = -1;

	*until = UINT64_MAX;
	pthread_mutex_lock(&sw->lock);
	for (int w = 0; w < VHK_NET_MAC_WAYS; w++) {
		if (set[w].used && !memcmp(set[w].mac, mac, 6)) {
			if (now - set[w].seen_ns <= VHK_NET_MAC_AGE_NS) {
				port = set[w].port;
				*until = set[w].seen_ns + VHK_NET_MAC_AGE_NS;
			}
			break;
		}
	}
	*gen = atomic_load(&sw->gen);
	pthread_mutex_unlock(&sw->lock);
	return port;
}

static int lookup(struct vhk_net_switch *sw, const uint8_t mac[6],
		  uint64_t now)
{
	uint64_t until, gen;

	return lookup_gen(sw, mac, now, &until, &gen);
}

/* A learnt entry's age is refreshed at most this often from one port's
 * memo (the table's 300 s ageing does not need more). */
#define LEARN_REFRESH_NS	(1000ull * 1000000ull)

/* Two MAC addresses equal: one 4-byte and one 2-byte compare. */
static inline bool mac_eq(const uint8_t *a, const uint8_t *b)
{
	uint32_t a4, b4;
	uint16_t a2, b2;

	memcpy(&a4, a, 4);
	memcpy(&b4, b, 4);
	memcpy(&a2, a + 4, 2);
	memcpy(&b2, b + 4, 2);
	return a4 == b4 && a2 == b2;
}

static bool memo_hit(const struct vhk_net_mac_memo *m, const uint8_t mac[6],
		     uint64_t gen)
{
	return m->valid && m->gen == gen && mac_eq(m->mac, mac);
}

/* learn(), unless this port's memo says it learnt @mac lately and the
 * table has not changed since. */
static void learn_memo(struct vhk_net_switch *sw, struct vhk_net_port *in,
		       const uint8_t mac[6], uint64_t now)
{
	struct vhk_net_mac_memo *m = &in->src_memo;
	uint64_t gen = atomic_load_explicit(&sw->gen, memory_order_acquire);

	if (memo_hit(m, mac, gen) && now - m->ns < LEARN_REFRESH_NS)
		return;
	m->gen = learn(sw, mac, in->idx, now);
	memcpy(m->mac, mac, 6);
	m->ns = now;
	m->valid = true;
}

/* lookup(), answered from this port's memo while the table has not
 * changed and the answer has not aged out. */
static int lookup_memo(struct vhk_net_switch *sw, struct vhk_net_port *in,
		       const uint8_t mac[6], uint64_t now)
{
	struct vhk_net_mac_memo *m = &in->dst_memo;
	uint64_t gen = atomic_load_explicit(&sw->gen, memory_order_acquire);

	if (memo_hit(m, mac, gen) && now <= m->ns)
		return m->port;
	m->port = lookup_gen(sw, mac, now, &m->ns, &m->gen);
	memcpy(m->mac, mac, 6);
	m->valid = true;
	return m->port;
}

int vhk_net_mac_lookup(struct vhk_net_switch *sw, const uint8_t mac[6])
{
	return lookup(sw, mac, sw->now_ns());
}

/* ---- policing */

void vhk_net_rate_set(struct vhk_net_port *p, uint64_t bytes_per_s,
		      uint64_t pkts_per_s)
{
	p->rate.bytes_per_s = bytes_per_s;
	p->rate.pkts_per_s = pkts_per_s;
	p->rate.btok = (double)VHK_MAX(bytes_per_s / 10, 2ull * VHK_NET_MAX_FRAME);
	p->rate.ptok = (double)VHK_MAX(pkts_per_s / 10, 32ull);
	p->rate.last_ns = 0;
}

/* Token bucket; the burst is a tenth of a second (at least two full
 * frames / 32 packets).  Only the input port's thread touches it. */
static bool rate_ok(struct vhk_net_port *p, uint32_t len, uint64_t now)
{
	struct vhk_net_rate *r = &p->rate;
	double dt, bmax, pmax;

	if (!r->bytes_per_s && !r->pkts_per_s)
		return true;
	if (!r->last_ns)
		r->last_ns = now;
	dt = (double)(now - r->last_ns) / 1e9;
	r->last_ns = now;
	bmax = (double)VHK_MAX(r->bytes_per_s / 10, 2ull * VHK_NET_MAX_FRAME);
	pmax = (double)VHK_MAX(r->pkts_per_s / 10, 32ull);
	r->btok = VHK_MIN(r->btok + dt * (double)r->bytes_per_s, bmax);
	r->ptok = VHK_MIN(r->ptok + dt * (double)r->pkts_per_s, pmax);
	if ((r->bytes_per_s && r->btok < len) || (r->pkts_per_s && r->ptok < 1))
		return false;
	r->btok -= len;
	r->ptok -= 1;
	return true;
}

/* ---- forwarding */

uint32_t vhk_net_flow_hash(const uint8_t *f, size_t len)
{
	uint32_t h = 2166136261u;
	size_t n = VHK_MIN(len, (size_t)VHK_ETH_HLEN);

	for (size_t i = 0; i < n; i++)
		h = (h ^ f[i]) * 16777619u;
	/* IPv4 addresses and ports, when present */
	if (len >= 38 && f[12] == 0x08 && f[13] == 0x00)
		for (size_t i = 26; i < 38; i++)
			h = (h ^ f[i]) * 16777619u;
	return h ^ (h >> 15);
}

struct seg_ctx {
	struct vhk_net_port *out;
	struct staging *st;
	unsigned int n;
};

static int emit_segment(void *arg, const uint8_t *seg, size_t len)
{
	struct seg_ctx *s = arg;
	struct vhk_net_pkt *p = vhk_net_pkt_alloc(len);

	if (!p) {
		vhk_net_count_drop(s->out, VHK_NET_DROP_NOMEM);
		return -ENOMEM;
	}
	memcpy(p->data, seg, len);
	p->hash = vhk_net_flow_hash(seg, len);
	s->n++;
	stage_add(s->st, s->out, p);
	return 0;
}

static __thread uint8_t *seg_scratch;

static struct vhk_net_pkt *pkt_copy(const struct vhk_net_pkt *p)
{
	struct vhk_net_pkt *c = vhk_net_pkt_alloc(p->len);

	if (c) {
		c->meta = p->meta;
		c->hash = p->hash;
		memcpy(c->data, p->data, p->len);
	}
	return c;
}

/* Give @pkt (owned if @own, else copied) to @out, doing in software what
 * @out cannot take: never a silent drop. */
static void deliver(struct staging *st, struct vhk_net_port *out,
		    struct vhk_net_pkt *pkt, bool own)
{
	unsigned int caps = atomic_load_explicit(&out->caps,
						 memory_order_relaxed);
	unsigned int missing = vhk_net_offloads_needed(&pkt->meta) & ~caps;
	struct vhk_net_pkt *p;

	if (missing && pkt->meta.gso_type != VHK_NET_HDR_GSO_NONE) {
		struct seg_ctx s = { .out = out, .st = st };

		if (!seg_scratch)
			seg_scratch = malloc(VHK_NET_MAX_FRAME);
		if (!seg_scratch)
			vhk_net_count_drop(out, VHK_NET_DROP_NOMEM);
		else
			vhk_net_segment(pkt->data, pkt->len, &pkt->meta,
					seg_scratch, emit_segment, &s);
		vhk_net_cnt_add(&out->c.sw_segments, s.n);
		if (own)
			vhk_net_pkt_free(pkt);
		return;
	}
	p = own ? pkt : pkt_copy(pkt);
	if (!p) {
		vhk_net_count_drop(out, VHK_NET_DROP_NOMEM);
		return;
	}
	if (missing) {	/* NEEDS_CSUM towards a port without CSUM */
		vhk_net_csum_finish(p->data, p->len, &p->meta);
		p->meta.needs_csum = 0;
		vhk_net_cnt_add(&out->c.sw_csum, 1);
	}
	stage_add(st, out, p);
}

static bool port_up(const struct vhk_net_port *p)
{
	return atomic_load_explicit(&p->up, memory_order_acquire);
}

/*
 * The last learn/lookup of one input burst, for the run of frames after
 * it with the same destination and source addresses.  Taken only while
 * sw->gen is still what it was before that learn/lookup: then nothing in
 * the table changed since, the clock is the burst's, and both memos would
 * answer the next frame of the run without touching the table - the same
 * answer, one compare instead of two memo look-ups.
 */
struct mac_run {
	bool valid;
	int port;
	uint64_t gen;
	uint8_t macs[12];	/* destination, source */
};

/* The 12 address bytes of two frames equal. */
static inline bool macs_eq(const uint8_t *a, const uint8_t *b)
{
	return mac_eq(a, b) && mac_eq(a + 6, b + 6);
}

/* Police, learn, look up and stage one frame; returns 1 when flooded. */
static unsigned int input_one(struct vhk_net_switch *sw,
			      struct vhk_net_port *in, struct vhk_net_pkt *pkt,
			      uint64_t now, struct staging *st,
			      struct mac_run *run)
{
	struct vhk_net_port *one[1], **outs = one;
	const uint8_t *dst = pkt->data, *src = pkt->data + 6;
	unsigned int n = 0, flooded = 0;
	bool hash = false;
	uint64_t gen;
	int port;

	if (!rate_ok(in, pkt->len, now)) {
		vhk_net_count_drop(in, VHK_NET_DROP_RATE);
		vhk_net_pkt_free(pkt);
		return 0;
	}
	gen = atomic_load_explicit(&sw->gen, memory_order_acquire);
	if (run->valid && run->gen == gen && macs_eq(run->macs, dst)) {
		port = run->port;
	} else {
		if (!(src[0] & 1))
			learn_memo(sw, in, src, now);
		port = (dst[0] & 1) ? -1 : lookup_memo(sw, in, dst, now);
		run->valid = true;
		run->port = port;
		run->gen = gen;
		memcpy(run->macs, dst, 12);
	}
	if (port >= 0) {
		struct vhk_net_port *o = sw->ports[port];

		if (o == in) {
			vhk_net_count_drop(in, VHK_NET_DROP_NO_PORT);
			vhk_net_pkt_free(pkt);
			return 0;
		}
		if (!port_up(o)) {
			vhk_net_count_drop(o, VHK_NET_DROP_LINK_DOWN);
			vhk_net_pkt_free(pkt);
			return 0;
		}
		outs[n++] = o;
		/* The flow hash picks a receive queue: only a port with more
		 * than one needs it. */
		hash = o->queues > 1;
	} else {
		if (st->nflood < 0) {
			st->nflood = 0;
			st->flood_hash = false;
			for (unsigned int i = 0; i < sw->nports; i++) {
				struct vhk_net_port *o = sw->ports[i];

				if (o == in || !port_up(o))
					continue;
				st->flood[st->nflood++] = o;
				st->flood_hash = st->flood_hash ||
						 o->queues > 1;
			}
		}
		outs = st->flood;
		n = (unsigned int)st->nflood;
		hash = st->flood_hash;
		flooded = 1;
	}
	if (!n) {
		vhk_net_count_drop(in, VHK_NET_DROP_NO_PORT);
		vhk_net_pkt_free(pkt);
		return flooded;
	}
	pkt->hash = hash ? vhk_net_flow_hash(pkt->data, pkt->len) : 0;
	for (unsigned int i = 0; i < n; i++)
		deliver(st, outs[i], pkt, i == n - 1);
	return flooded;
}

void vhk_net_switch_input_burst(struct vhk_net_switch *sw,
				struct vhk_net_port *in,
				struct vhk_net_pkt **pkts, unsigned int n)
{
	struct staging st;
	struct mac_run run = { .valid = false };
	uint64_t now, bytes = 0;
	unsigned int flooded = 0;

	if (!n)
		return;
	st.nused = 0;
	st.nflood = -1;
	now = sw->now_ns();
	for (unsigned int i = 0; i < n; i++) {
		bytes += pkts[i]->len;
		flooded += input_one(sw, in, pkts[i], now, &st, &run);
	}
	vhk_net_cnt_add(&in->c.in_packets, n);
	vhk_net_cnt_add(&in->c.in_bytes, bytes);
	if (flooded)
		vhk_net_cnt_add(&sw->flooded, flooded);
	staging_flush(sw, &st);
}

void vhk_net_switch_input(struct vhk_net_switch *sw, struct vhk_net_port *in,
			  struct vhk_net_pkt *pkt)
{
	vhk_net_switch_input_burst(sw, in, &pkt, 1);
}

/* ---- stats and announcements */

static const char *kind_name(enum vhk_net_port_kind k)
{
	switch (k) {
	case VHK_NET_PORT_VHOST_USER:
		return "vhost-user";
	case VHK_NET_PORT_TAP:
		return "tap";
	case VHK_NET_PORT_XDP:
		return "xdp";
	default:
		return "test";
	}
}

void vhk_net_switch_stats(struct vhk_net_switch *sw, FILE *out)
{
	unsigned int nmacs;

	pthread_mutex_lock(&sw->lock);
	nmacs = sw->nmacs;
	pthread_mutex_unlock(&sw->lock);
	fprintf(out, "switch ports=%u macs=%u mac_capacity=%u learned=%llu evicted=%llu moved=%llu flooded=%llu\n",
		sw->nports, nmacs, VHK_NET_MAC_SETS * VHK_NET_MAC_WAYS,
		(unsigned long long)vhk_net_cnt_get(&sw->learned),
		(unsigned long long)vhk_net_cnt_get(&sw->evicted),
		(unsigned long long)vhk_net_cnt_get(&sw->moved),
		(unsigned long long)vhk_net_cnt_get(&sw->flooded));
	for (unsigned int i = 0; i < sw->nports; i++) {
		struct vhk_net_port *p = sw->ports[i];
		unsigned int backlog;

		pthread_mutex_lock(&p->lock);
		backlog = p->count;
		pthread_mutex_unlock(&p->lock);
		fprintf(out, "port %s kind=%s up=%d caps=0x%x backlog=%u in_packets=%llu in_bytes=%llu out_packets=%llu out_bytes=%llu sw_csum=%llu sw_segments=%llu",
			p->name, kind_name(p->kind),
			(int)atomic_load(&p->up), atomic_load(&p->caps),
			backlog,
			(unsigned long long)vhk_net_cnt_get(&p->c.in_packets),
			(unsigned long long)vhk_net_cnt_get(&p->c.in_bytes),
			(unsigned long long)vhk_net_cnt_get(&p->c.out_packets),
			(unsigned long long)vhk_net_cnt_get(&p->c.out_bytes),
			(unsigned long long)vhk_net_cnt_get(&p->c.sw_csum),
			(unsigned long long)vhk_net_cnt_get(&p->c.sw_segments));
		for (int d = 0; d < VHK_NET_DROP__COUNT; d++)
			fprintf(out, " drop_%s=%llu", vhk_net_drop_name(d),
				(unsigned long long)vhk_net_cnt_get(
					&p->c.drops[d]));
		fputc('\n', out);
		for (unsigned int q = 0; q < p->queues && q < VHK_NET_MAX_QUEUES;
		     q++)
			fprintf(out, "queue %s pair=%u rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu\n",
				p->name, q,
				(unsigned long long)vhk_net_cnt_get(&p->q[q].rx_packets),
				(unsigned long long)vhk_net_cnt_get(&p->q[q].rx_bytes),
				(unsigned long long)vhk_net_cnt_get(&p->q[q].tx_packets),
				(unsigned long long)vhk_net_cnt_get(&p->q[q].tx_bytes));
	}
}

size_t vhk_net_rarp_frame(const uint8_t mac[6], uint8_t *buf)
{
	static const uint8_t arp_hdr[8] = {
		0x00, 0x01,	/* Ethernet */
		0x08, 0x00,	/* IPv4 */
		6, 4,
		0x00, 0x03,	/* RARP request reverse (RFC 903) */
	};

	memset(buf, 0, 60);
	memset(buf, 0xff, 6);
	memcpy(buf + 6, mac, 6);
	buf[12] = 0x80;
	buf[13] = 0x35;
	memcpy(buf + 14, arp_hdr, sizeof(arp_hdr));
	memcpy(buf + 22, mac, 6);	/* sender hardware address */
	memcpy(buf + 32, mac, 6);	/* target hardware address */
	return 60;
}
