/* SPDX-License-Identifier: MIT */
/*
 * test_drv_threads.c - the driver-side ring and the device-side ring in two
 * threads over mock guest memory, with notifications modelled by
 * semaphores and both sides suppressing them (EVENT_IDX or flags).  A
 * missing fence or a wrong suppression decision shows up as a lost wakeup
 * (a wait that times out), as wrong data, or - under TSan - as a race.
 *
 * The driver writes a sequence number into each chain's readable buffer;
 * the device reads it through the popped iovecs and writes its complement
 * into the writable buffer; the driver checks both and the used length.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vhk_test.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "vhostkit/ring.h"
#include "vhostkit/ring_ctl.h"

#define QSIZE	64
#define CHAINS	20000
#define SLOT	32	/* buffer bytes per descriptor slot */
#define WAIT_S	5

struct pair {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq;
	struct vhk_vq *vq;
	sem_t kick;		/* driver -> device */
	sem_t irq;		/* device -> driver */
	atomic_bool stop;
	atomic_int dev_err;
	unsigned long kicks, irqs;
};

/* Wait on @s; false on timeout (a lost notification). */
static bool wait_sem(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	while (sem_timedwait(s, &ts) != 0) {
		if (errno != EINTR)
			return false;
	}
	return true;
}

/* The device thread gives up: record why and wake the driver to report. */
static void *dev_fail(struct pair *p, int err)
{
	atomic_store(&p->dev_err, err);
	sem_post(&p->irq);
	return NULL;
}

static void *device_thread(void *arg)
{
	struct pair *p = arg;
	/* Fragmented: one segment per byte (4 + 1 + 1 + 8 at most). */
	struct iovec iov[64];
	struct vhk_chain c = { .iov = iov, .iov_cap = 64 };

	while (!atomic_load(&p->stop)) {
		int ret;

		while ((ret = vhk_vq_pop(p->vq, &c)) == 1) {
			struct vhk_iter r, w;
			uint32_t seq, out;

			vhk_chain_reader(&c, &r);
			vhk_chain_writer(&c, &w);
			if (vhk_iter_read(&r, &seq, 4) != 4)
				return dev_fail(p, -EBADMSG);
			out = ~seq;
			if (vhk_iter_write(&w, &out, 4) != 4)
				return dev_fail(p, -EBADMSG);
			ret = vhk_vq_push(p->vq, &c, 4);
			if (ret)
				return dev_fail(p, ret);
		}
		if (ret < 0)
			return dev_fail(p, ret);
		if (vhk_vq_flush(p->vq)) {
			p->irqs++;
			sem_post(&p->irq);
		}
		/* Re-check after enabling: buffers may have raced in. */
		if (vhk_vq_enable_notify(p->vq, true))
			continue;
		if (!wait_sem(&p->kick) && !atomic_load(&p->stop))
			return dev_fail(p, -ETIMEDOUT);
		vhk_vq_enable_notify(p->vq, false);
	}
	return NULL;
}

static void run_pair(bool packed, bool event_idx, bool in_order,
		     unsigned int ndesc, enum vhk_as_mode mode)
{
	uint64_t features = 0;
	struct vhk_vq_params vp;
	struct pair *p = calloc(1, sizeof(*p));
	unsigned long sent = 0, done = 0;
	pthread_t th;

	assert_non_null(p);
	vhk_set_feature(&features, VHK_F_VERSION_1);
	if (packed)
		vhk_set_feature(&features, VHK_F_RING_PACKED);
	if (event_idx)
		vhk_set_feature(&features, VHK_F_EVENT_IDX);
	if (in_order)
		vhk_set_feature(&features, VHK_F_IN_ORDER);
	vhk_test_mockmem(&p->m, mode, vhk_drv_vq_mem_size(packed, QSIZE),
			 QSIZE * SLOT);
	assert_int_equal(vhk_drv_vq_new(&p->dq, QSIZE, features,
					p->m.ring_host, p->m.ring_addr), 0);
	assert_int_equal(vhk_vq_new(&p->vq), 0);
	memset(&vp, 0, sizeof(vp));
	vp.num = QSIZE;
	vp.features = features;
	vp.avail_base = vhk_drv_vq_base(p->dq);
	vhk_drv_vq_addrs(p->dq, &vp.addrs);
	vp.name = "threads vq0";
	assert_int_equal(vhk_vq_start(p->vq, &p->m.as, &vp), 0);
	sem_init(&p->kick, 0, 0);
	sem_init(&p->irq, 0, 0);
	assert_int_equal(pthread_create(&th, NULL, device_thread, p), 0);

	while (done < CHAINS && !atomic_load(&p->dev_err)) {
		bool progress = false;
		void *tok;
		uint32_t len;
		int ret;

		/*
		 * Each chain owns the buffer of the slot its sequence number
		 * maps to; at most QSIZE / ndesc chains are in flight, so
		 * slots are free again by the time they are reused.
		 */
		while (sent < CHAINS &&
		       vhk_drv_vq_num_free(p->dq) >= ndesc &&
		       sent - done < QSIZE / ndesc) {
			struct vhk_drv_seg s[4];
			size_t base = (sent % (QSIZE / ndesc)) * ndesc * SLOT;
			uint32_t seq = (uint32_t)sent, zero = 0;

			vhk_mockmem_write(&p->m, base, &seq, 4);
			vhk_mockmem_write(&p->m, base + (ndesc - 1) * SLOT,
					  &zero, 4);
			for (unsigned int k = 0; k < ndesc; k++) {
				s[k].addr = vhk_mockmem_buf_addr(&p->m,
								 base + k * SLOT);
				/* seq in the first, 1 byte in the middle
				 * readable ones, 8 writable in the last */
				s[k].len = k + 1 < ndesc ? (k == 0 ? 4 : 1) : 8;
				s[k].write = k + 1 == ndesc;
			}
			ret = vhk_drv_vq_add(p->dq, s, ndesc,
					     (void *)(uintptr_t)(sent + 1));
			assert_int_equal(ret, 0);
			sent++;
			progress = true;
		}
		if (progress && vhk_drv_vq_publish(p->dq)) {
			p->kicks++;
			sem_post(&p->kick);
		}
		while ((ret = vhk_drv_vq_get_used(p->dq, &tok, &len)) == 1) {
			unsigned long seq = (uintptr_t)tok - 1;
			size_t base = (seq % (QSIZE / ndesc)) * ndesc * SLOT;
			uint32_t out;

			assert_int_equal(seq, done);	/* device is in order */
			assert_int_equal(len, 4);
			vhk_mockmem_read(&p->m, base + (ndesc - 1) * SLOT,
					 &out, 4);
			assert_int_equal(out, ~(uint32_t)seq);
			done++;
			progress = true;
		}
		assert_int_equal(ret, 0);
		if (progress)
			continue;
		/* Nothing to do: sleep until the device signals. */
		if (vhk_drv_vq_enable_cb(p->dq, true))
			continue;
		if (!wait_sem(&p->irq))
			fail_msg("lost used-buffer notification (%lu/%lu done, "
				 "%lu sent, device error %d)", done,
				 (unsigned long)CHAINS, sent,
				 atomic_load(&p->dev_err));
		vhk_drv_vq_enable_cb(p->dq, false);
	}
	atomic_store(&p->stop, true);
	sem_post(&p->kick);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&p->dev_err), 0);
	assert_int_equal(done, CHAINS);
	assert_true(vhk_mockmem_canaries_intact(&p->m));
	/* Suppression worked: far fewer notifications than chains. */
	print_message("    %s%s%s %s: %lu kicks, %lu interrupts for %d chains\n",
		      packed ? "packed" : "split",
		      event_idx ? " event_idx" : "", in_order ? " in_order" : "",
		      vhk_as_mode_name(mode), p->kicks, p->irqs, CHAINS);
	sem_destroy(&p->kick);
	sem_destroy(&p->irq);
	vhk_vq_free(p->vq);
	vhk_drv_vq_free(p->dq);
	vhk_mockmem_fini(&p->m);
	free(p);
}

static void test_split_flags(void **state)
{
	(void)state;
	run_pair(false, false, false, 2, VHK_AS_GPA);
}

static void test_split_event_idx(void **state)
{
	(void)state;
	run_pair(false, true, false, 3, VHK_AS_IOTLB);
}

static void test_split_in_order(void **state)
{
	(void)state;
	run_pair(false, true, true, 2, VHK_AS_PLATFORM_IDENTITY);
}

static void test_packed_flags(void **state)
{
	(void)state;
	run_pair(true, false, false, 2, VHK_AS_IOTLB);
}

static void test_packed_event_idx(void **state)
{
	(void)state;
	run_pair(true, true, false, 3, VHK_AS_GPA);
}

static void test_packed_in_order(void **state)
{
	(void)state;
	run_pair(true, true, true, 2, VHK_AS_IOTLB);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_flags),
		cmocka_unit_test(test_split_event_idx),
		cmocka_unit_test(test_split_in_order),
		cmocka_unit_test(test_packed_flags),
		cmocka_unit_test(test_packed_event_idx),
		cmocka_unit_test(test_packed_in_order),
	};

	vhk_test_init(argc, argv);
	return VHK_TEST_RUN("drv-threads", tests);
}
