/* SPDX-License-Identifier: MIT */
/*
 * test_vq_dirty_flag.c - the per-ring log address of vhost-user
 * SET_VRING_ADDR (flags bit VHOST_VRING_F_LOG, log_guest_addr).  After any
 * interleaving of driver buffers, pushes, flushes, notification toggles
 * and log harvests, every byte of the device area (split: used ring;
 * packed: device event suppression) that changed since the last harvest
 * is marked:
 *   - with the flag, at log address + offset (a GPA in gpa and
 *     platform-identity mode; in iotlb mode an IOVA of its own, mapped to
 *     a third place whose GPA differs from the IOVA and from the ring's
 *     own GPA) - and, split, nothing at the ring's own pages;
 *   - without it, at the guest page the store lands on, the log address
 *     never.
 * The log address straddles a page so that the offset arithmetic shows.
 * Packed used descriptors are always marked where they land.  Hostile: a
 * wrapping log address is refused; one beyond the log marks nothing and
 * touches nothing outside it (the log is allocated to its exact size).
 */
#include <stdlib.h>

#include "ringtest.h"
#include "vhostkit/ring_ctl.h"

#define NUM	32
#define BUFLEN	(16 * 1024)
#define PG	4096u
#define LOG_IOVA	0xc0000000ull	/* iotlb mode: the log address's IOVA */

static uint64_t rng_s;

static unsigned int rnd(unsigned int n)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return (unsigned int)(rng_s % n);
}

static bool marked(const uint8_t *log, uint64_t gpa)
{
	uint64_t pg = gpa / PG;

	return log[pg / 8] & (1u << (pg % 8));
}

struct flagrun {
	struct rt t;
	uint8_t *log;
	uint64_t logsz;
	uint64_t dev_off;	/* device area: offset in the ring area */
	uint64_t dev_size;
	uint64_t desc_off;	/* descriptor ring / table: offset */
	uint64_t log_gpa;	/* where the flag sends the device area */
};

/* Start the queue with the flag (or not) and log address @log_addr. */
static int start(struct flagrun *f, bool flag, uint64_t log_addr)
{
	struct vhk_vq_params p;

	memset(&p, 0, sizeof(p));
	p.num = f->t.num;
	p.features = f->t.features;
	vhk_drv_vq_addrs(f->t.dq, &p.addrs);
	p.avail_base = f->t.packed ? 0x8000 : 0;
	p.max_iov = f->t.iov_cap;
	p.name = "test log flag";
	p.log_used = flag;
	p.log_addr = log_addr;
	f->dev_off = p.addrs.device - f->t.m.ring_addr;
	f->desc_off = p.addrs.desc - f->t.m.ring_addr;
	f->dev_size = f->t.packed ? 4 : 4 + 8ull * NUM + 2;
	return vhk_vq_start(f->t.vq, f->t.as, &p);
}

static void setup(struct flagrun *f, enum vhk_as_mode mode, bool packed,
		  bool flag)
{
	uint64_t lo, log_addr;

	rt_init(&f->t, mode, packed, NUM, vhk_feature_bit(VHK_F_EVENT_IDX));
	/* the log target: two ring-area pages past the ring, the address
	 * 64 bytes before the first one ends */
	lo = f->t.ring_bytes + 2 * PG;
	f->log_gpa = VHK_MOCK_GPA_RING + lo + PG - 64;
	if (mode == VHK_AS_IOTLB) {
		assert_int_equal(vhk_as_iotlb_update(f->t.as, LOG_IOVA, 2 * PG,
						     VHK_MOCK_UVA_RING + lo,
						     VHK_PERM_RW), 0);
		log_addr = LOG_IOVA + PG - 64;
	} else {
		log_addr = f->log_gpa;
	}
	assert_int_equal(start(f, flag, log_addr), 0);
	f->logsz = (VHK_MOCK_GPA_BUF + (1u << 20)) / PG / 8;
	f->log = calloc(1, f->logsz);
	assert_non_null(f->log);
	f->t.as->log = f->log;
	f->t.as->log_size = f->logsz;
	f->t.as->log_on = true;
}

static void teardown(struct flagrun *f)
{
	f->t.as->log_on = false;
	f->t.as->log = NULL;
	rt_fini(&f->t);
	free(f->log);
}

static void run(enum vhk_as_mode mode, bool packed, bool flag)
{
	struct flagrun f;
	struct vhk_chain held[NUM];
	struct iovec iovs[NUM][4];
	uint8_t snap[4 + 8 * NUM + 2];
	unsigned int nheld = 0, harvests = 0, changed = 0, inflight = 0;
	unsigned int unflushed = 0;
	bool wrote_desc = false;	/* packed: used descriptors written */
	const uint8_t *dev;
	size_t b;

	setup(&f, mode, packed, flag);
	dev = f.t.m.ring_host + f.dev_off;
	memcpy(snap, dev, f.dev_size);
	b = rt_buf(&f.t, BUFLEN);
	for (int step = 0; step < 3000; step++) {
		switch (rnd(7)) {
		case 0: case 1: {	/* the driver posts a buffer */
			struct vhk_drv_seg s;
			uint32_t len = 1 + rnd(4000);

			if (vhk_drv_vq_num_free(f.t.dq) < 2 || inflight >= NUM)
				break;
			s = (struct vhk_drv_seg){
				rt_addr(&f.t, b + rnd(BUFLEN - len)), len, true };
			assert_int_equal(vhk_drv_vq_add(f.t.dq, &s, 1, &f), 0);
			vhk_drv_vq_publish(f.t.dq);
			inflight++;
			break;
		}
		case 2: {		/* the device takes one */
			struct vhk_chain *c = &held[nheld];

			if (nheld == NUM)
				break;
			c->iov = iovs[nheld];
			c->iov_cap = 4;
			if (vhk_vq_pop(f.t.vq, c) == 1)
				nheld++;
			break;
		}
		case 3: {		/* ... and pushes it */
			unsigned int k;

			if (!nheld)
				break;
			k = rnd(nheld);
			assert_int_equal(vhk_vq_push(f.t.vq, &held[k], 1), 0);
			unflushed++;
			held[k] = held[--nheld];
			memcpy(iovs[k], iovs[nheld], sizeof(iovs[k]));
			held[k].iov = iovs[k];
			break;
		}
		case 4: {		/* flush; the driver collects */
			void *tk;
			uint32_t len;

			vhk_vq_flush(f.t.vq);
			wrote_desc |= unflushed > 0;
			unflushed = 0;
			while (vhk_drv_vq_get_used(f.t.dq, &tk, &len) == 1)
				inflight--;
			break;
		}
		case 5:			/* notifications on / off */
			vhk_vq_enable_notify(f.t.vq, rnd(2));
			break;
		default: {		/* the VMM harvests */
			for (uint64_t o = 0; o < f.dev_size; o++) {
				uint64_t at = flag ? f.log_gpa + o :
					      VHK_MOCK_GPA_RING + f.dev_off + o;

				if (dev[o] == snap[o])
					continue;
				changed++;
				if (!marked(f.log, at))
					fail_msg("mode %d %s flag %d: device-area byte %llu changed, GPA 0x%llx not marked",
						 mode, packed ? "packed" : "split",
						 flag, (unsigned long long)o,
						 (unsigned long long)at);
			}
			if (flag && !packed) {
				/* split: the device writes nothing else in
				 * the ring area */
				for (uint64_t a = 0; a < f.t.ring_bytes; a += PG)
					assert_false(marked(f.log,
						VHK_MOCK_GPA_RING + a));
			}
			if (!flag) {
				assert_false(marked(f.log, f.log_gpa));
				assert_false(marked(f.log, f.log_gpa + 64));
			}
			/* packed: used descriptors where they land (the
			 * 512-byte ring is on one page) */
			if (packed && wrote_desc)
				assert_true(marked(f.log, VHK_MOCK_GPA_RING +
						   f.desc_off));
			for (uint64_t i = 0; i < f.logsz; i++)
				__atomic_exchange_n(&f.log[i], 0,
						    __ATOMIC_RELAXED);
			memcpy(snap, dev, f.dev_size);
			wrote_desc = false;
			harvests++;
			break;
		}
		}
	}
	assert_true(harvests > 100);
	assert_true(changed > 50);
	teardown(&f);
}

static void test_flag_random(void **state)
{
	(void)state;
	RT_FOR_EACH_MODE(mi) {
		RT_FOR_EACH_LAYOUT(p) {
			for (int flag = 0; flag < 2; flag++) {
				rng_s = 0x9e3779b9 + mi * 7 + p * 3 + flag;
				run(vhk_test_modes[mi], p, flag);
			}
		}
	}
}

static void test_flag_hostile(void **state)
{
	(void)state;
	RT_FOR_EACH_LAYOUT(p) {
		struct flagrun f;
		uint8_t *small;
		void *tk;
		uint32_t len;
		struct vhk_drv_seg s;
		size_t b;

		/* a log address whose device area wraps is refused */
		rt_init(&f.t, VHK_AS_GPA, p, NUM, 0);
		assert_int_equal(start(&f, true, ~0ull - 1), -EINVAL);
		rt_fini(&f.t);

		/* beyond the log: nothing marked, nothing outside it touched
		 * (ASan catches an overrun of the exact-size allocation) */
		setup(&f, VHK_AS_GPA, p, true);
		vhk_vq_stop(f.t.vq);
		small = calloc(1, 64);	/* covers 2 MiB of guest memory */
		assert_non_null(small);
		f.t.as->log = small;
		f.t.as->log_size = 64;
		assert_int_equal(start(&f, true, 64ull * 8 * PG + 0x1000), 0);
		b = rt_buf(&f.t, 512);
		s = (struct vhk_drv_seg){ rt_addr(&f.t, b), 512, true };
		assert_int_equal(vhk_drv_vq_add(f.t.dq, &s, 1, &f), 0);
		vhk_drv_vq_publish(f.t.dq);
		rt_pop_ok(&f.t);
		assert_int_equal(vhk_vq_push(f.t.vq, &f.t.c, 1), 0);
		vhk_vq_flush(f.t.vq);
		vhk_vq_enable_notify(f.t.vq, false);
		assert_int_equal(vhk_drv_vq_get_used(f.t.dq, &tk, &len), 1);
		for (unsigned int i = 0; i < 64; i++)
			assert_int_equal(small[i], 0);
		f.t.as->log = f.log;
		free(small);
		teardown(&f);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_random),
		cmocka_unit_test(test_flag_hostile),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("ring dirty log: per-ring log address", tests);
}
