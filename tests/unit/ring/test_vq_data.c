/* SPDX-License-Identifier: MIT */
/*
 * test_vq_data.c - device-side rings driven by the real driver-side rings
 * through mock guest memory: data round trips (EVENT_IDX on/off, indirect,
 * IN_ORDER), notification decisions across index wraparound, packed wrap
 * over several laps, byte-stream iterators, start validation.
 * Every test runs for split and packed, in gpa / identity / iotlb mode.
 */
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define MAXSEG 4

struct req {
	size_t out_off[MAXSEG], in_off[MAXSEG];
	uint32_t out_len[MAXSEG], in_len[MAXSEG];
	unsigned int nout, nin;
	uint32_t out_total, in_total;
	uint8_t seed;
	bool done;
};

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Fill @q with a request of random shape; data bytes derive from @seed. */
static void make_req(struct rt *t, struct req *q, uint32_t *rs,
		     unsigned int maxseg)
{
	memset(q, 0, sizeof(*q));
	q->nout = 1 + rnd(rs) % maxseg;
	q->nin = 1 + rnd(rs) % maxseg;
	if (q->nout + q->nin > maxseg + 1)
		q->nin = 1;
	q->seed = (uint8_t)rnd(rs);
	for (unsigned int i = 0; i < q->nout; i++) {
		uint8_t b[64];

		q->out_len[i] = 1 + rnd(rs) % 48;
		q->out_off[i] = rt_buf(t, q->out_len[i]);
		for (uint32_t k = 0; k < q->out_len[i]; k++)
			b[k] = (uint8_t)(q->seed + q->out_total + k);
		vhk_mockmem_write(&t->m, q->out_off[i], b, q->out_len[i]);
		q->out_total += q->out_len[i];
	}
	for (unsigned int i = 0; i < q->nin; i++) {
		q->in_len[i] = 1 + rnd(rs) % 48;
		q->in_off[i] = rt_buf(t, q->in_len[i]);
		q->in_total += q->in_len[i];
	}
}

static int add_req(struct rt *t, struct req *q, bool indirect)
{
	struct vhk_drv_seg s[2 * MAXSEG];
	unsigned int n = 0;

	for (unsigned int i = 0; i < q->nout; i++)
		s[n++] = (struct vhk_drv_seg){ rt_addr(t, q->out_off[i]),
					       q->out_len[i], false };
	for (unsigned int i = 0; i < q->nin; i++)
		s[n++] = (struct vhk_drv_seg){ rt_addr(t, q->in_off[i]),
					       q->in_len[i], true };
	if (indirect) {
		uint64_t ta;
		void *tab = rt_table(t, 16 * n, &ta);

		return vhk_drv_vq_add_indirect(t->dq, s, n, q, tab, ta);
	}
	return vhk_drv_vq_add(t->dq, s, n, q);
}

/*
 * The device: read the request through the byte stream, check it, write
 * back min(in, out) bytes of (byte ^ 0x5a).  Returns bytes written.
 */
static uint32_t serve(struct rt *t)
{
	struct vhk_iter r, w;
	uint8_t buf[4 * 48];
	size_t n, m;

	vhk_chain_reader(&t->c, &r);
	vhk_chain_writer(&t->c, &w);
	n = vhk_iter_read(&r, buf, sizeof(buf));
	assert_int_equal(n, t->c.read_bytes);
	assert_int_equal(r.left, 0);
	for (size_t k = 0; k < n; k++)
		buf[k] ^= 0x5a;
	m = vhk_iter_write(&w, buf, VHK_MIN(n, t->c.write_bytes));
	assert_int_equal(m, VHK_MIN(n, t->c.write_bytes));
	return (uint32_t)m;
}

static void check_reply(struct rt *t, struct req *q, uint32_t len)
{
	uint32_t want = VHK_MIN(q->out_total, q->in_total), pos = 0;

	assert_int_equal(len, want);
	for (unsigned int i = 0; i < q->nin && pos < len; i++) {
		uint8_t b[64];
		uint32_t l = VHK_MIN(q->in_len[i], len - pos);

		vhk_mockmem_read(&t->m, q->in_off[i], b, l);
		for (uint32_t k = 0; k < l; k++)
			assert_int_equal(b[k], (uint8_t)((q->seed + pos + k) ^
							 0x5a));
		pos += l;
	}
	q->done = true;
}

/* Batches of requests, completed out of order (unless IN_ORDER). */
static void roundtrip(enum vhk_as_mode mode, bool packed, uint64_t feat,
		      bool indirect, unsigned int rounds)
{
	struct rt t;
	struct req q[8];
	uint32_t rs = 7;
	bool in_order = vhk_has_feature(feat, VHK_F_IN_ORDER);

	rt_setup(&t, mode, packed, 16, feat);
	for (unsigned int round = 0; round < rounds; round++) {
		unsigned int k = 1 + rnd(&rs) % 4, i;
		struct vhk_chain chains[8];
		uint32_t lens[8];

		t.buf_next = 0;
		vhk_mockmem_guard(&t.m, 0, RT_BUF_SIZE);
		t.table_next = t.ring_bytes;
		for (i = 0; i < k; i++) {
			make_req(&t, &q[i], &rs, indirect ? MAXSEG : 2);
			assert_int_equal(add_req(&t, &q[i], indirect), 0);
		}
		vhk_drv_vq_publish(t.dq);
		for (i = 0; i < k; i++) {
			rt_pop_ok(&t);
			assert_int_equal(t.c.read_bytes, q[i].out_total);
			assert_int_equal(t.c.write_bytes, q[i].in_total);
			if (!vhk_test_fragmented() && t.mode != VHK_AS_IOTLB) {
				assert_int_equal(t.c.nread, q[i].nout);
				assert_int_equal(t.c.nwrite, q[i].nin);
			}
			lens[i] = serve(&t);
			chains[i] = t.c;
		}
		assert_int_equal(rt_pop(&t), 0);
		for (i = 0; i < k; i++) {
			unsigned int j = in_order ? i : k - 1 - i;

			assert_int_equal(vhk_vq_push(t.vq, &chains[j], lens[j]),
					 0);
		}
		vhk_vq_flush(t.vq);
		for (i = 0; i < k; i++) {
			void *tok;
			uint32_t len;

			assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len),
					 1);
			check_reply(&t, tok, len);
		}
		for (i = 0; i < k; i++)
			assert_true(q[i].done);
	}
	assert_false(vhk_vq_broken(t.vq));
	rt_fini(&t);
}

static void test_roundtrip(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		uint64_t f = 0;

		roundtrip(vhk_test_modes[mi], p, f, false, 20);
		vhk_set_feature(&f, VHK_F_EVENT_IDX);
		roundtrip(vhk_test_modes[mi], p, f, false, 20);
	}
}

static void test_roundtrip_indirect(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		uint64_t f = vhk_feature_bit(VHK_F_INDIRECT_DESC);

		roundtrip(vhk_test_modes[mi], p, f, true, 20);
		vhk_set_feature(&f, VHK_F_EVENT_IDX);
		roundtrip(vhk_test_modes[mi], p, f, true, 20);
	}
}

static void test_roundtrip_in_order(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		uint64_t f = vhk_feature_bit(VHK_F_IN_ORDER) |
			     vhk_feature_bit(VHK_F_EVENT_IDX);

		roundtrip(vhk_test_modes[mi], p, f, false, 20);
	}
}

/*
 * IN_ORDER: on a packed ring, buffers used in order and written
 * completely are reported by one used descriptor naming the last of the
 * run (VIRTIO 1.2, 2.8.8); a split ring writes one entry per buffer
 * (2.7.9 allows both).  The driver hands back each buffer with its
 * length.
 */
static void in_order_batch(struct rt *t, const uint32_t *wr, unsigned int n,
			   unsigned int entries)
{
	struct vhk_chain ch[4];
	uint16_t ids[4];
	int tok[4];
	size_t b = rt_buf(t, 8 * n);
	uint16_t used0 = 0, slot0 = 0;
	bool wrap0 = true;
	uint32_t base = vhk_vq_base(t->vq);

	if (t->packed) {
		slot0 = (base >> 16) & 0x7fff;
		wrap0 = base >> 31;
	} else {
		used0 = vhk_le16_get(((struct vhk_vring_used *)t->rdevice)->idx);
	}
	for (unsigned int i = 0; i < n; i++) {
		struct vhk_drv_seg s = { rt_addr(t, b + 8 * i), 8, true };

		tok[i] = (int)i;
		assert_int_equal(vhk_drv_vq_add(t->dq, &s, 1, &tok[i]), 0);
	}
	vhk_drv_vq_publish(t->dq);
	for (unsigned int i = 0; i < n; i++) {
		rt_pop_ok(t);
		ch[i] = t->c;
		ids[i] = t->c.id;
	}
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(vhk_vq_push(t->vq, &ch[i], wr[i]), 0);
	vhk_vq_flush(t->vq);
	if (!t->packed) {
		struct vhk_vring_used *u = t->rdevice;
		unsigned int mask = t->num - 1;

		assert_int_equal(vhk_le16_get(u->idx), (uint16_t)(used0 + n));
		/* a split ring: one entry per buffer, in pop order, with its
		 * own length (no batching: vq_priv.h, batch_used) */
		for (unsigned int i = 0; i < n; i++) {
			const struct vhk_vring_used_elem *e =
				&u->ring[(uint16_t)(used0 + i) & mask];

			assert_int_equal(vhk_le32_get(e->id), ids[i]);
			assert_int_equal(vhk_le32_get(e->len), wr[i]);
		}
	} else {
		struct vhk_vring_packed_desc *r = t->rdesc;
		unsigned int used = 0;
		uint16_t s = slot0;
		bool w = wrap0;

		/* count the used descriptors the device wrote */
		for (unsigned int i = 0; i < n; i++) {
			uint16_t f = vhk_le16_get(r[s].flags);
			bool av = f & (1u << 7), us = f & (1u << 15);

			if (av == w && us == w)
				used++;
			if (++s == t->num) {
				s = 0;
				w = !w;
			}
		}
		assert_int_equal(used, entries);
		if (entries == 1)
			assert_int_equal(vhk_le16_get(r[slot0].id), ids[n - 1]);
	}
	for (unsigned int i = 0; i < n; i++) {
		void *tk;
		uint32_t len;

		assert_int_equal(vhk_drv_vq_get_used(t->dq, &tk, &len), 1);
		assert_ptr_equal(tk, &tok[i]);
		assert_int_equal(len, wr[i]);
	}
}

static void test_in_order_batch(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		struct rt t;
		const uint32_t full[3] = { 8, 8, 5 };	/* one entry */
		const uint32_t part[3] = { 4, 8, 8 };	/* two entries */

		rt_setup(&t, vhk_test_modes[mi], p, 4,
			 vhk_feature_bit(VHK_F_IN_ORDER));
		for (int lap = 0; lap < 3; lap++) {
			in_order_batch(&t, full, 3, 1);
			in_order_batch(&t, part, 3, 2);
		}
		assert_false(vhk_vq_broken(t.vq));
		rt_fini(&t);
	}
}

/*
 * One buffer per iteration for more than 2^16 iterations: the split used
 * and avail indexes wrap around, the packed wrap counters flip thousands of
 * times.  The driver toggles used notifications and the device toggles
 * kicks; both decisions are checked every time.
 */
static void notify_wrap(bool packed, bool event_idx, unsigned int iters)
{
	struct rt t;
	uint64_t f = event_idx ? vhk_feature_bit(VHK_F_EVENT_IDX) : 0;
	size_t in, out;

	rt_setup(&t, VHK_AS_GPA, packed, packed ? 5 : 8, f);
	out = rt_buf(&t, 2);
	in = rt_buf(&t, 2);
	for (unsigned int i = 0; i < iters; i++) {
		struct vhk_drv_seg s[2] = {
			{ rt_addr(&t, out), 2, false },
			{ rt_addr(&t, in), 2, true },
		};
		bool want_kick = (i % 3) != 0, want_irq = (i % 2) == 0;
		bool kick, irq;
		void *tok;
		uint32_t len;

		/* Device side: ask for kicks or not. */
		assert_false(vhk_vq_enable_notify(t.vq, want_kick));
		/* Packed chains of one or two slots: laps shift. */
		assert_int_equal(vhk_drv_vq_add(t.dq, s + (i % 2 ? 0 : 1),
						i % 2 ? 2 : 1, &t), 0);
		kick = vhk_drv_vq_publish(t.dq);
		assert_int_equal(kick, want_kick);
		assert_true(vhk_vq_pending(t.vq));
		rt_pop_ok(&t);
		assert_int_equal(rt_pop(&t), 0);
		/* Driver side: ask for used notifications or not. */
		assert_false(vhk_drv_vq_enable_cb(t.dq, want_irq));
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 1), 0);
		irq = vhk_vq_flush(t.vq);
		assert_int_equal(irq, want_irq);
		assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len), 1);
		assert_ptr_equal(tok, &t);
		assert_int_equal(len, 1);
		/* Nothing new: no notification. */
		assert_false(vhk_vq_flush(t.vq));
	}
	if (!packed)
		assert_int_equal(vhk_vq_base(t.vq), (uint16_t)iters);
	rt_fini(&t);
}

static void test_notify_wraparound(void **state)
{
	unsigned int iters = vhk_test_fragmented() ? 66000 : 70000;

	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		notify_wrap(p, false, iters);
		notify_wrap(p, true, iters);
	}
}

/*
 * Packed wrap over several laps with a queue size that is not a power of
 * two and chains of 1..3 slots; GET_VRING_BASE encodes slot and wrap.
 */
static void test_packed_laps(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		uint16_t num = p ? 7 : 8;
		unsigned int slots = 0;
		size_t b[3];

		rt_setup(&t, vhk_test_modes[mi], p, num, 0);
		for (int k = 0; k < 3; k++)
			b[k] = rt_buf(&t, 3);
		for (unsigned int i = 0; i < 10u * num; i++) {
			unsigned int n = 1 + i % 3;
			struct vhk_drv_seg s[3];
			void *tok;
			uint32_t len, base;

			for (unsigned int k = 0; k < n; k++)
				s[k] = (struct vhk_drv_seg){ rt_addr(&t, b[k]),
							     3, k == n - 1 };
			assert_int_equal(vhk_drv_vq_add(t.dq, s, n, &t), 0);
			vhk_drv_vq_publish(t.dq);
			rt_pop_ok(&t);
			assert_int_equal(t.c.ndesc, p ? n : 1);
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 3), 0);
			vhk_vq_flush(t.vq);
			assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len),
					 1);
			assert_int_equal(len, 3);
			slots += p ? n : 1;
			base = vhk_vq_base(t.vq);
			if (p) {
				uint16_t a = base & 0xffff, u = base >> 16;
				uint16_t want = (uint16_t)((slots % num) |
					((slots / num) % 2 ? 0 : 0x8000));

				assert_int_equal(a, want);
				assert_int_equal(u, want);
			} else {
				assert_int_equal(base, (uint16_t)slots);
			}
		}
		rt_fini(&t);
	}
}

/* Resume a stopped queue from vhk_vq_base() on a fresh queue object. */
/* Start @t's stopped queue again where vhk_vq_base() said (@base). */
static void restart_at(struct rt *t, uint32_t base)
{
	struct vhk_vq_params prm;

	memset(&prm, 0, sizeof(prm));
	prm.num = t->num;
	prm.features = t->features;
	vhk_drv_vq_addrs(t->dq, &prm.addrs);
	prm.avail_base = (uint16_t)base;
	prm.used_base = (uint16_t)(base >> 16);
	prm.used_base_valid = t->packed;
	assert_int_equal(vhk_vq_start(t->vq, &t->m.as, &prm), 0);
}

/* Chains the latency histogram of @vq counted. */
static uint64_t lat_count(struct vhk_vq *vq)
{
	struct vhk_queue_stats q;
	uint64_t n = 0;

	vhk_queue_stats_read(vhk_vq_queue_stats(vq), &q);
	for (unsigned int b = 0; b < VHK_LAT_BUCKETS; b++)
		n += q.lat[b];
	return n;
}

/* One round trip of a 4-byte writable buffer, single and burst pop and
 * push alternating by @i. */
static void one_trip(struct rt *t, size_t b, int i)
{
	struct vhk_drv_seg s = { rt_addr(t, b), 4, true };
	void *tok;
	uint32_t len;

	assert_int_equal(vhk_drv_vq_add(t->dq, &s, 1, t), 0);
	vhk_drv_vq_publish(t->dq);
	if (i & 1) {
		t->c.iov = t->iov;
		t->c.iov_cap = t->iov_cap;
		assert_int_equal(vhk_vq_pop_burst(t->vq, &t->c, 1), 1);
		assert_int_equal(vhk_vq_push_burst(t->vq, &t->c, NULL, 1), 0);
	} else {
		rt_pop_ok(t);
		assert_int_equal(vhk_vq_push(t->vq, &t->c, 4), 0);
	}
	vhk_vq_flush(t->vq);
	assert_int_equal(vhk_drv_vq_get_used(t->dq, &tok, &len), 1);
}

/*
 * vhk_vq_untimed(): chains complete and are counted, the latency
 * histogram stays as it was; a restart times again; a stopped queue
 * ignores the call.
 */
static void test_untimed(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct vhk_queue_stats q;
		struct rt t;
		uint32_t base;
		size_t b;

		rt_setup(&t, VHK_AS_GPA, p, 4, 0);
		b = rt_buf(&t, 4);
		one_trip(&t, b, 0);
		assert_int_equal(lat_count(t.vq), 1);	/* timed by default */
		vhk_vq_untimed(t.vq);
		for (int i = 0; i < 6; i++)
			one_trip(&t, b, i);
		vhk_queue_stats_read(vhk_vq_queue_stats(t.vq), &q);
		assert_int_equal(q.completed, 7);
		assert_int_equal(lat_count(t.vq), 1);
		base = vhk_vq_base(t.vq);
		vhk_vq_stop(t.vq);
		vhk_vq_untimed(t.vq);	/* stopped: no-op */
		restart_at(&t, base);
		for (int i = 0; i < 2; i++)
			one_trip(&t, b, i);
		assert_int_equal(lat_count(t.vq), 3);
		rt_fini(&t);
	}
}

static void test_stop_resume(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct rt t;
		size_t b;
		void *tok;
		uint32_t len, base;

		rt_setup(&t, VHK_AS_GPA, p, 4, 0);
		b = rt_buf(&t, 4);
		for (int i = 0; i < 6; i++) {
			struct vhk_drv_seg s = { rt_addr(&t, b), 4, true };

			assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &t), 0);
			vhk_drv_vq_publish(t.dq);
			rt_pop_ok(&t);
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 4), 0);
			vhk_vq_flush(t.vq);
			assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len),
					 1);
		}
		base = vhk_vq_base(t.vq);
		vhk_vq_stop(t.vq);
		assert_false(vhk_vq_started(t.vq));
		restart_at(&t, base);
		for (int i = 0; i < 6; i++) {
			struct vhk_drv_seg s = { rt_addr(&t, b), 4, true };

			assert_int_equal(vhk_drv_vq_add(t.dq, &s, 1, &t), 0);
			vhk_drv_vq_publish(t.dq);
			rt_pop_ok(&t);
			assert_int_equal(vhk_vq_push(t.vq, &t.c, 2), 0);
			vhk_vq_flush(t.vq);
			assert_int_equal(vhk_drv_vq_get_used(t.dq, &tok, &len),
					 1);
			assert_int_equal(len, 2);
		}
		rt_fini(&t);
	}
}

/* Iterators over a chain whose segments are cut by the address space. */
static void test_iterators(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		struct rt t;
		size_t o1, o2, w1, w2;
		uint8_t hdr[16], data[40], st = 0, got[40];
		struct vhk_iter r, w, tail;
		struct iovec sl[64];
		int n;

		rt_setup(&t, vhk_test_modes[mi], p, 8, 0);
		o1 = rt_buf(&t, 10);
		o2 = rt_buf(&t, 46);
		w1 = rt_buf(&t, 7);
		w2 = rt_buf(&t, 1);
		for (int i = 0; i < 56; i++) {
			uint8_t v = (uint8_t)(i + 1);

			vhk_mockmem_write(&t.m, i < 10 ? o1 + i : o2 + i - 10,
					  &v, 1);
		}
		struct vhk_drv_seg s[4] = {
			{ rt_addr(&t, o1), 10, false },
			{ rt_addr(&t, o2), 46, false },
			{ rt_addr(&t, w1), 7, true },
			{ rt_addr(&t, w2), 1, true },
		};
		assert_int_equal(vhk_drv_vq_add(t.dq, s, 4, &t), 0);
		vhk_drv_vq_publish(t.dq);
		rt_pop_ok(&t);
		vhk_chain_reader(&t.c, &r);
		assert_int_equal(r.left, 56);
		assert_int_equal(vhk_iter_read(&r, hdr, 16), 16);
		for (int i = 0; i < 16; i++)
			assert_int_equal(hdr[i], i + 1);
		/* slice: too few segments leaves the iterator unchanged */
		if (vhk_test_fragmented())
			assert_int_equal(vhk_iter_slice(&r, 20, sl, 1), -ENOSPC);
		assert_int_equal(r.left, 40);
		assert_int_equal(vhk_iter_slice(&r, 41, sl, 64), -EINVAL);
		n = vhk_iter_slice(&r, 20, sl, 64);
		assert_true(n >= 1);
		size_t pos = 0;

		for (int k = 0; k < n; k++) {
			memcpy(data + pos, sl[k].iov_base, sl[k].iov_len);
			pos += sl[k].iov_len;
		}
		assert_int_equal(pos, 20);
		for (int i = 0; i < 20; i++)
			assert_int_equal(data[i], 17 + i);
		assert_int_equal(vhk_iter_skip(&r, 100), 20);
		assert_int_equal(vhk_iter_read(&r, got, 1), 0);

		/* writer: status byte split off the end with tail */
		vhk_chain_writer(&t.c, &w);
		assert_int_equal(w.left, 8);
		assert_int_equal(vhk_iter_tail(&w, 9, &tail), -EINVAL);
		assert_int_equal(vhk_iter_tail(&w, 1, &tail), 0);
		assert_int_equal(w.left, 7);
		assert_int_equal(tail.left, 1);
		memset(data, 0xab, sizeof(data));
		assert_int_equal(vhk_iter_write(&w, data, 40), 7);
		st = 0x42;
		assert_int_equal(vhk_iter_write(&tail, &st, 1), 1);
		assert_int_equal(vhk_vq_push(t.vq, &t.c, 8), 0);
		vhk_vq_flush(t.vq);
		vhk_mockmem_read(&t.m, w1, got, 7);
		for (int i = 0; i < 7; i++)
			assert_int_equal(got[i], 0xab);
		vhk_mockmem_read(&t.m, w2, got, 1);
		assert_int_equal(got[0], 0x42);
		rt_fini(&t);
	}
}

/* Ring parameters (VIRTIO 1.2, 2.7 / 2.8) and ring placement. */
static void test_start_validation(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) RT_FOR_EACH_MODE(mi) {
		struct rt t;
		struct vhk_vq_params prm;

		rt_init(&t, vhk_test_modes[mi], p, 8, 0);
		memset(&prm, 0, sizeof(prm));
		prm.features = t.features;
		vhk_drv_vq_addrs(t.dq, &prm.addrs);
		prm.avail_base = p ? 0x8000 : 0;
		prm.num = 0;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EINVAL);
		prm.num = 32769;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EINVAL);
		prm.num = 6;	/* packed: fine; split: not a power of two */
		if (!p)
			assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm),
					 -EINVAL);
		prm.num = 8;
		prm.addrs.desc += 8;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EINVAL);
		prm.addrs.desc -= 8;
		prm.addrs.device += 2;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EINVAL);
		prm.addrs.device -= 2;
		/* straddling the end of the ring area */
		prm.addrs.desc = t.m.ring_addr + t.m.ring_size - 64;
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), -EFAULT);
		/* unmapped (an address from another space) */
		prm.addrs.desc = 0x40000;
		assert_int_not_equal(vhk_vq_start(t.vq, &t.m.as, &prm), 0);
		assert_false(vhk_vq_started(t.vq) && t.mode != VHK_AS_IOTLB);
		vhk_drv_vq_addrs(t.dq, &prm.addrs);
		if (p) {
			prm.avail_base = 8 | 0x8000;	/* slot >= num */
			assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm),
					 -EINVAL);
			prm.avail_base = 0x8000;
		}
		assert_int_equal(vhk_vq_start(t.vq, &t.m.as, &prm), 0);
		assert_int_equal(vhk_vq_size(t.vq), 8);
		assert_string_equal(vhk_vq_name(t.vq), "vq");
		rt_fini(&t);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_indirect),
		cmocka_unit_test(test_roundtrip_in_order),
		cmocka_unit_test(test_in_order_batch),
		cmocka_unit_test(test_notify_wraparound),
		cmocka_unit_test(test_packed_laps),
		cmocka_unit_test(test_stop_resume),
		cmocka_unit_test(test_untimed),
		cmocka_unit_test(test_iterators),
		cmocka_unit_test(test_start_validation),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring data", tests);
}
