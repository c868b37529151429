/* SPDX-License-Identifier: MIT */
/*
 * worker.c - optional per-queue worker threads of the back-end server
 * (cfg.queue_workers).
 *
 * A worker owns one vring: its kick eventfd and the device's queue-affine
 * watches (vhk_dq_watch) sit in the worker's own epoll, and the worker
 * processes that ring (vhk_dq_process) and runs its watch callbacks only.
 * The main thread keeps the socket, the back-end channel and every control
 * message.
 *
 * Quiesce: before the main thread touches rings, translation or device
 * state it pauses every worker (request, wake through the worker's
 * eventfd, wait on the condvar until the worker is parked at the top of
 * its loop, outside any device callback), applies the change, resumes.
 * The mutex hand-off orders everything the main thread wrote while the
 * workers were parked before what they do next, so the lookup path needs
 * no lock.  Pauses nest (be->pause_depth).
 *
 * Workers never write main-thread state: an IOTLB miss or a device error
 * seen by a worker is queued (be->xq_lock) and the main loop is woken
 * through be->notify_fd.  In IOTLB mode too the workers run in parallel:
 * a lookup only reads the shared IOTLB, and each queue records its misses
 * in its own struct vhk_iotlb_cache (vhk_iotlb_qmiss_note); the main loop
 * reads only their atomic oldest-miss stamps until it pauses the workers.
 *
 * Polling mode (cfg.poll_us): a kick or a device event starts a polling
 * period.  The worker turns the driver's kicks off (dq.polling keeps
 * vhk_dq_process() from turning them on) and busy-polls the avail ring
 * and the device's completions (queue_poll()) with no system call; every
 * BE_POLL_SLICE_NS it goes through epoll_wait(0) for its other fds (wake,
 * watches).  A device with queue_poll() polls its watched completion
 * source itself, so only the wake fd (stop) is left for epoll: it looks
 * every BE_POLL_SLICE_LONG_NS (at 250k requests/s a 50 us slice was one
 * epoll_wait per batch, a quarter of the system calls in polling mode).  After BE_POLL_YIELD_AFTER empty passes in a row each pass
 * yields the CPU (sched_yield), so that a driver sharing the core runs.
 * After poll_us without work it turns kicks on, looks at the
 * ring once more (VIRTIO 1.2, 2.7.10: buffers made available before the
 * driver saw the flag) and sleeps in epoll_wait(-1): an idle ring costs
 * nothing after poll_us.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

/* Longest busy-poll stretch between two looks at the worker's fds. */
#define BE_POLL_SLICE_NS	(50 * 1000)
/* The same for a device whose queue_poll() covers its watches. */
#define BE_POLL_SLICE_LONG_NS	(1000 * 1000)
/* Empty polling passes in a row after which each one yields the CPU. */
#define BE_POLL_YIELD_AFTER	32

struct be_worker {
	struct vhk_backend *be;
	uint16_t idx;
	pthread_t th;
	int epfd;
	int wake_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool pause_req;		/* also read lock-free between events */
	bool parked;			/* under lock */
	bool quit;			/* under lock */
};

static __thread struct be_worker *cur_worker;

bool be_on_worker(void)
{
	return cur_worker != NULL;
}

int be_workers_init(struct vhk_backend *be)
{
	be->notify_fd = -1;
	pthread_mutex_init(&be->xq_lock, NULL);
	be->locks_init = true;
	if (!be->cfg.queue_workers)
		return 0;
	be->workers = calloc(be->nvrings, sizeof(*be->workers));
	if (!be->workers)
		return -ENOMEM;
	be->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (be->notify_fd < 0)
		return -errno;
	return be_epoll_add(be, be->notify_fd, EPOLLIN, BE_TAG_NOTIFY, 0);
}

void be_workers_fini(struct vhk_backend *be)
{
	be_workers_stop_all(be);
	free(be->workers);
	be->workers = NULL;
	be_close_fd(&be->notify_fd);
	if (be->locks_init) {
		pthread_mutex_destroy(&be->xq_lock);
	}
	be->locks_init = false;
}

static struct be_worker *worker_of(struct vhk_backend *be, uint16_t idx)
{
	if (!be->workers || idx >= be->nvrings)
		return NULL;
	return be->workers[idx];
}

bool be_ring_has_worker(struct vhk_backend *be, uint16_t idx)
{
	return worker_of(be, idx) != NULL;
}

static void wake(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));

	(void)r;
}

static void worker_pause(struct be_worker *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->pause_req, true);
	wake(w->wake_fd);
	while (!w->parked && !w->quit)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void worker_resume(struct be_worker *w)
{
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->pause_req, false);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void be_workers_pause(struct vhk_backend *be)
{
	if (!be->workers)
		return;
	if (be->pause_depth++ > 0)
		return;
	for (uint16_t i = 0; i < be->nvrings; i++)
		if (be->workers[i])
			worker_pause(be->workers[i]);
}

void be_workers_resume(struct vhk_backend *be)
{
	if (!be->workers || be->pause_depth == 0)
		return;
	if (--be->pause_depth > 0)
		return;
	for (uint16_t i = 0; i < be->nvrings; i++)
		if (be->workers[i])
			worker_resume(be->workers[i]);
}

/* Run a device callback of the worker's ring (IOTLB mode: serialised). */
static void worker_call(struct be_worker *w, void (*fn)(struct vhk_backend *,
			struct be_worker *, void *), void *arg)
{
	fn(w->be, w, arg);
}

static void do_process(struct vhk_backend *be, struct be_worker *w, void *arg)
{
	(void)arg;
	be_vring_process(be, w->idx);
}

static void do_kick(struct vhk_backend *be, struct be_worker *w, void *arg)
{
	be_kick_readable(be, w->idx, *(uint32_t *)arg);
}

struct watch_ev {
	uint32_t slot;
	uint32_t events;
};

static void do_watch(struct vhk_backend *be, struct be_worker *w, void *arg)
{
	const struct watch_ev *e = arg;
	struct be_watch *wa;

	if (e->slot >= BE_MAX_WATCHES)
		return;
	wa = &be->watches[e->slot];
	/* The slot is only changed while this worker is parked. */
	if (wa->used && wa->queue == (int)w->idx)
		wa->fn(wa->opaque, wa->fd, e->events);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* One polling pass over the worker's ring: true if there was work. */
static bool poll_pass(struct vhk_backend *be, struct be_vring *r,
		      uint16_t idx)
{
	bool work = false;

	if (!r->dev_started || !r->enabled || r->parked || be->broken ||
	    !r->mapped)
		return false;
	if (be->ops->queue_poll && be->ops->queue_poll(be->dev, &r->dq) > 0)
		work = true;
	if (r->again || vhk_vq_pending(r->vq)) {
		r->again = false;
		be_vring_process(be, idx);
		work = true;
	}
	return work;
}

/*
 * Busy-poll ring @r for at most BE_POLL_SLICE_NS.  Ends the polling
 * period (kicks on, one more look) after poll_us without work.  Returns
 * the epoll timeout to use next: 0 while polling, -1 when asleep.
 */
static int poll_slice(struct be_worker *w, struct be_vring *r,
		      uint64_t *last_work)
{
	struct vhk_backend *be = w->be;
	uint64_t limit = (uint64_t)be->cfg.poll_us * 1000;
	uint64_t now = mono_ns();
	uint64_t end = now + (be->ops->queue_poll ? BE_POLL_SLICE_LONG_NS :
						   BE_POLL_SLICE_NS);
	unsigned int empty = 0;

	while (!atomic_load_explicit(&w->pause_req, memory_order_relaxed)) {
		if (poll_pass(be, r, w->idx)) {
			now = mono_ns();
			*last_work = now;
			empty = 0;
		} else {
			now = mono_ns();
			if (now - *last_work >= limit) {
				r->dq.polling = false;
				/* Kicks on, then look again. */
				if (r->vq && vhk_vq_started(r->vq) &&
				    vhk_vq_enable_notify(r->vq, true))
					r->again = true;
				return r->again ? 0 : -1;
			}
			/* A while without work: let a driver that shares
			 * this core run (it is what we wait for). */
			if (++empty >= BE_POLL_YIELD_AFTER)
				sched_yield();
			else
				cpu_relax();
		}
		if (now >= end)
			break;
	}
	return 0;
}

/* A kick or a device event: (re)start the polling period. */
static void poll_start(struct vhk_backend *be, struct be_vring *r,
		       uint64_t *last_work)
{
	if (!be->cfg.poll_us)
		return;
	*last_work = mono_ns();
	r->dq.polling = true;
}

/* Park while a pause is requested; false when the worker must exit. */
static bool worker_gate(struct be_worker *w)
{
	bool quit;

	pthread_mutex_lock(&w->lock);
	while (atomic_load(&w->pause_req) && !w->quit) {
		if (!w->parked) {
			w->parked = true;
			pthread_cond_broadcast(&w->cond);
		}
		pthread_cond_wait(&w->cond, &w->lock);
	}
	w->parked = false;
	quit = w->quit;
	pthread_mutex_unlock(&w->lock);
	return !quit;
}

static void *worker_main(void *arg)
{
	struct be_worker *w = arg;
	struct vhk_backend *be = w->be;
	struct epoll_event evs[16];
	uint64_t last_work = 0;
	char name[16];

	/* Named from inside: prctl(PR_SET_NAME) rather than a write to
	 * /proc/self/task/N/comm, which a sandboxed daemon cannot open. */
	snprintf(name, sizeof(name), "vhk-q%u", w->idx);
	pthread_setname_np(pthread_self(), name);
	cur_worker = w;
	while (worker_gate(w)) {
		struct be_vring *r = &be->vr[w->idx];
		int n, timeout = -1;

		if (r->again) {
			r->again = false;
			worker_call(w, do_process, NULL);
		}
		if (r->dq.polling)
			timeout = poll_slice(w, r, &last_work);
		if (r->again)
			timeout = 0;
		n = epoll_wait(w->epfd, evs, VHK_ARRAY_SIZE(evs), timeout);
		if (n < 0 && errno != EINTR) {
			vhk_log(VHK_LOG_ERR, be->name,
				"vq%u worker: epoll_wait: %s; worker exits",
				w->idx, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t idx = (uint32_t)evs[i].data.u64;
			uint32_t ev = evs[i].events;
			uint64_t v;
			ssize_t rd;

			/* Level-triggered: a skipped event comes back; an
			 * edge-triggered kick does not: the ring runs after
			 * the pause instead. */
			if (atomic_load(&w->pause_req)) {
				for (int j = i; j < n; j++)
					if ((uint32_t)(evs[j].data.u64 >> 32) ==
					    BE_TAG_KICK)
						r->again = true;
				break;
			}
			switch (tag) {
			case BE_TAG_STOP:	/* the wake eventfd */
				rd = read(w->wake_fd, &v, sizeof(v));
				(void)rd;
				break;
			case BE_TAG_KICK:
				poll_start(be, r, &last_work);
				worker_call(w, do_kick, &ev);
				break;
			case BE_TAG_WATCH: {
				struct watch_ev e = { idx, ev };

				poll_start(be, r, &last_work);
				worker_call(w, do_watch, &e);
				break;
			}
			default:
				break;
			}
		}
		be_check_mem_fault(be);
	}
	/* Leave with the parked handshake answered (quit). */
	pthread_mutex_lock(&w->lock);
	w->parked = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	cur_worker = NULL;
	return NULL;
}

static void worker_free(struct be_worker *w)
{
	be_close_fd(&w->wake_fd);
	be_close_fd(&w->epfd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

int be_worker_ensure(struct vhk_backend *be, uint16_t idx)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct be_worker *w;
	sigset_t all, old;
	int err;

	if (!be->workers || idx >= be->nvrings)
		return 0;
	if (be->workers[idx])
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->be = be;
	w->idx = idx;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	atomic_init(&w->pause_req, be->pause_depth > 0);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0) {
		err = -errno;
		worker_free(w);
		return err;
	}
	ev.data.u64 = (uint64_t)BE_TAG_STOP << 32;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
		err = -errno;
		worker_free(w);
		return err;
	}
	/* Signals (SIGTERM -> vhk_backend_stop) go to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = -pthread_create(&w->th, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		vhk_log(VHK_LOG_ERR, be->name, "vq%u: no worker thread: %s",
			idx, strerror(-err));
		worker_free(w);
		return err;
	}
	/* A worker started during a pause parks before touching anything. */
	if (be->pause_depth > 0)
		worker_pause(w);
	be->workers[idx] = w;
	vhk_log(VHK_LOG_DEBUG, be->name, "vq%u: worker thread started", idx);
	return 0;
}

void be_workers_stop_all(struct vhk_backend *be)
{
	if (!be->workers)
		return;
	for (uint16_t i = 0; i < be->nvrings; i++) {
		struct be_worker *w = be->workers[i];

		if (!w)
			continue;
		pthread_mutex_lock(&w->lock);
		w->quit = true;
		pthread_cond_broadcast(&w->cond);
		wake(w->wake_fd);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->th, NULL);
		be->workers[i] = NULL;
		worker_free(w);
	}
}

int be_ring_fd_add(struct vhk_backend *be, uint16_t ring, int fd,
		   uint32_t events, enum be_tag tag, uint32_t idx)
{
	struct be_worker *w = worker_of(be, ring);
	struct epoll_event ev = {
		.events = events,
		.data.u64 = ((uint64_t)tag << 32) | idx,
	};

	if (!w)
		return be_epoll_add(be, fd, events, tag, idx);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void be_ring_fd_del(struct vhk_backend *be, uint16_t ring, int fd)
{
	struct be_worker *w = worker_of(be, ring);

	if (fd < 0)
		return;
	if (!w)
		be_epoll_del(be, fd);
	else
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- worker -> main hand-over */

void be_xq_miss(struct vhk_backend *be, uint64_t iova, uint8_t perm)
{
	bool queued = false;

	pthread_mutex_lock(&be->xq_lock);
	if (be->xq_nmiss < BE_XQ_MISSES) {
		be->xq_miss[be->xq_nmiss].iova = iova;
		be->xq_miss[be->xq_nmiss].perm = perm;
		be->xq_nmiss++;
		queued = true;
	}
	pthread_mutex_unlock(&be->xq_lock);
	/* Dropped: the oldest-miss timeout still reports a silent
	 * front-end, and the next miss of that page is sent again. */
	if (!queued)
		vhk_log(VHK_LOG_WARN, be->name,
			"IOTLB miss at 0x%llx: hand-over queue full",
			(unsigned long long)iova);
	wake(be->notify_fd);
}

void be_xq_broken(struct vhk_backend *be, const char *why)
{
	pthread_mutex_lock(&be->xq_lock);
	if (!be->xq_broken) {
		be->xq_broken = true;
		snprintf(be->xq_why, sizeof(be->xq_why), "%s",
			 why ? why : "device error");
	}
	pthread_mutex_unlock(&be->xq_lock);
	wake(be->notify_fd);
}

void be_xq_handle(struct vhk_backend *be)
{
	struct { uint64_t iova; uint8_t perm; } miss[BE_XQ_MISSES];
	char why[sizeof(be->xq_why)];
	unsigned int n;
	bool broken;
	uint64_t v;
	ssize_t rd = read(be->notify_fd, &v, sizeof(v));

	(void)rd;
	pthread_mutex_lock(&be->xq_lock);
	n = be->xq_nmiss;
	for (unsigned int i = 0; i < n; i++) {
		miss[i].iova = be->xq_miss[i].iova;
		miss[i].perm = be->xq_miss[i].perm;
	}
	be->xq_nmiss = 0;
	broken = be->xq_broken;
	be->xq_broken = false;
	memcpy(why, be->xq_why, sizeof(why));
	pthread_mutex_unlock(&be->xq_lock);
	for (unsigned int i = 0; i < n; i++)
		be_miss_cb(be, miss[i].iova, miss[i].perm);
	if (broken)
		vhk_backend_device_broken(be, why);
}
