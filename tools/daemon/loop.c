/* SPDX-License-Identifier: MIT */
/*
 * loop.c - a daemon's server loop with adaptive polling (--poll).
 *
 * vhk_backend_run() sleeps in epoll_wait() whenever nothing is ready, so
 * each kick and each host-socket event costs the daemon a wake-up: the
 * scheduler's latency plus a context switch, several microseconds here,
 * paid on every step of a request / reply exchange.  With a polling
 * budget the loop keeps looking (vhk_backend_poll() with timeout 0) for
 * that long after the last pass that had work, then sleeps as before:
 * a busy connection never waits for a wake-up, an idle daemon costs
 * nothing once the budget has run out (the same trade as QEMU's adaptive
 * iothread polling, poll-max-ns).  Empty passes after the first few yield
 * the CPU, so that a peer sharing the core (the host program, a vCPU)
 * gets to run.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>

#include "daemon.h"
#include "vhostkit/util.h"

/* Empty passes in a row after which each one yields the CPU. */
#define LOOP_YIELD_AFTER	16

int vhk_daemon_run_loop(struct vhk_backend *be, unsigned int poll_us)
{
	uint64_t budget = (uint64_t)poll_us * 1000, last = 0;
	unsigned int idle = 0;
	int rc;

	if (!poll_us)
		return vhk_backend_run(be);
	for (;;) {
		bool polling = last && vhk_now_ns() - last < budget;

		rc = vhk_backend_poll(be, polling ? 0 : -1);
		if (rc < 0)
			break;
		if (rc > 0) {
			last = vhk_now_ns();
			idle = 0;
		} else if (polling && ++idle > LOOP_YIELD_AFTER) {
			sched_yield();
		}
	}
	vhk_backend_poll_end(be);
	return rc == -ESHUTDOWN ? 0 : rc;
}
