/* SPDX-License-Identifier: MIT */
/*
 * test_vq_dirty.c - dirty logging (vhost-user "Migration"): after any
 * interleaving of driver buffers, device writes (pushes), flushes and log
 * harvests (read-and-clear, as the VMM does), every guest page written
 * since the last harvest is marked - the device-writable buffers and the
 * used ring - in all three translation modes (an IOVA write is marked at
 * the guest-physical page it lands on) and both ring layouts.
 */
#include <stdlib.h>

#include "ringtest.h"

#define NUM	32
#define BUFLEN	(60 * 1024)
#define PG	4096u

static uint64_t rng_s;

static unsigned int rnd(unsigned int n)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return (unsigned int)(rng_s % n);
}

struct chain_rec {
	uint64_t gpa[3];
	uint32_t len[3];
	unsigned int n;
};

static bool marked(const uint8_t *log, uint64_t gpa)
{
	uint64_t pg = gpa / PG;

	return log[pg / 8] & (1u << (pg % 8));
}

static void run(enum vhk_as_mode mode, bool packed)
{
	struct rt t;
	uint64_t logsz = (VHK_MOCK_GPA_BUF + (1u << 20)) / PG / 8;
	uint8_t *log = calloc(1, logsz);
	struct chain_rec recs[NUM];
	struct vhk_chain held[NUM];
	struct iovec iovs[NUM][8];
	unsigned int nheld = 0, harvests = 0, checked = 0;
	bool want[BUFLEN / PG + 2], flushed = false;
	uint8_t *host0;
	size_t b;

	assert_non_null(log);
	rt_init(&t, mode, packed, NUM, 0);
	rt_start(&t);
	b = rt_buf(&t, BUFLEN);
	host0 = vhk_mockmem_buf_host_contig(&t.m, 0);
	assert_non_null(host0);
	memset(want, 0, sizeof(want));
	t.as->log = log;
	t.as->log_size = logsz;
	t.as->log_on = true;
	for (int step = 0; step < 4000; step++) {
		switch (rnd(6)) {
		case 0: case 1: {	/* the driver posts a buffer */
			struct vhk_drv_seg s[3];
			unsigned int slot = rnd(NUM), n = 1 + rnd(3);

			if (vhk_drv_vq_num_free(t.dq) < n + 1 || recs[slot].n)
				break;
			for (unsigned int i = 0; i < n; i++) {
				uint32_t len = 1 + rnd(9000);
				size_t off = rnd(BUFLEN - len);

				s[i] = (struct vhk_drv_seg){
					rt_addr(&t, b + off), len, true };
				recs[slot].gpa[i] = VHK_MOCK_GPA_BUF + b + off;
				recs[slot].len[i] = len;
			}
			recs[slot].n = n;
			assert_int_equal(vhk_drv_vq_add(t.dq, s, n,
							&recs[slot]), 0);
			vhk_drv_vq_publish(t.dq);
			break;
		}
		case 2: {		/* the device takes one */
			struct vhk_chain *c = &held[nheld];

			if (nheld == NUM)
				break;
			c->iov = iovs[nheld];
			c->iov_cap = 8;
			if (vhk_vq_pop(t.vq, c) == 1)
				nheld++;
			break;
		}
		case 3: {		/* ... writes it, pushes it */
			unsigned int k;

			if (!nheld)
				break;
			k = rnd(nheld);
			for (unsigned int i = 0; i < held[k].nwrite; i++) {
				struct iovec *v = &held[k].iov[held[k].nread + i];
				uint64_t off = (uint64_t)((uint8_t *)v->iov_base - host0);

				memset(v->iov_base, 0x5a, v->iov_len);
				/* Written: in the log until the next harvest. */
				for (uint64_t a = off & ~(PG - 1ull);
				     a < off + v->iov_len; a += PG)
					want[a / PG] = true;
			}
			assert_int_equal(vhk_vq_push(t.vq, &held[k],
				(uint32_t)held[k].write_bytes), 0);
			held[k] = held[--nheld];
			memcpy(iovs[k], iovs[nheld], sizeof(iovs[k]));
			held[k].iov = iovs[k];
			break;
		}
		case 4: {		/* flush; the driver collects */
			void *tk;
			uint32_t len;

			vhk_vq_flush(t.vq);
			while (vhk_drv_vq_get_used(t.dq, &tk, &len) == 1) {
				struct chain_rec *r = tk;

				r->n = 0;
				flushed = true;	/* the used ring was written */
			}
			break;
		}
		default: {		/* the VMM harvests */
			bool ring_marked = false;

			for (unsigned int p = 0; p < VHK_ARRAY_SIZE(want); p++) {
				if (!want[p])
					continue;
				checked++;
				if (!marked(log, VHK_MOCK_GPA_BUF + (uint64_t)p * PG))
					fail_msg("mode %d %s: page %u written, not in the log",
						 mode, packed ? "packed" : "split", p);
			}
			for (uint64_t a = VHK_MOCK_GPA_RING;
			     a < VHK_MOCK_GPA_RING + t.ring_bytes; a += PG)
				ring_marked |= marked(log, a);
			if (flushed)
				assert_true(ring_marked);
			/* read-and-clear, byte by byte, as a VMM does */
			for (uint64_t i = 0; i < logsz; i++)
				__atomic_exchange_n(&log[i], 0,
						    __ATOMIC_RELAXED);
			memset(want, 0, sizeof(want));
			flushed = false;
			harvests++;
			break;
		}
		}
	}
	assert_true(harvests > 100);
	assert_true(checked > 100);
	/* Off: nothing more is marked. */
	t.as->log_on = false;
	memset(log, 0, logsz);
	for (unsigned int k = 0; k < nheld; k++)
		assert_int_equal(vhk_vq_push(t.vq, &held[k], 1), 0);
	vhk_vq_flush(t.vq);
	for (uint64_t i = 0; i < logsz; i++)
		assert_int_equal(log[i], 0);
	t.as->log = NULL;
	rt_fini(&t);
	free(log);
}

static void test_dirty_random(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) {
		RT_FOR_EACH_LAYOUT(p) {
			rng_s = 0x1234567 + mi * 7 + p;
			run(vhk_test_modes[mi], p);
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_random),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring dirty log", tests);
}
