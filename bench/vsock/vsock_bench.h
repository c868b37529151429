/* SPDX-License-Identifier: MIT */
/*
 * vsock_bench.h - the vsock benchmark: the userspace vsock driver (the
 * guest's role) against a running vhostkit-vsock, next to the same
 * transfer over a plain Unix socketpair in the same run.  Used by the
 * bench program (bench/vsock/vsock_bench_main.c) and `vhostkit vsock bench`.
 */
#ifndef VHK_BENCH_VSOCK_BENCH_H
#define VHK_BENCH_VSOCK_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* The driver's rx buffers unless told: a 64 KiB write fits one. */
#define VSB_RX_BUF	(44u + 65536u)

#define VSB_MAX_ROUNDS	15

enum vsb_dma { VSB_DIRECT, VSB_IOMMU_LAZY, VSB_IOMMU_STRICT, VSB_BOUNCE };

struct vsb_opts {
	const char *sock;	/* the daemon's vhost-user socket */
	const char *uds;	/* its uds-path (hybrid host side) */
	pid_t daemon_pid;	/* for its CPU time; 0 = not counted */
	enum vsb_dma dma;
	double seconds;		/* per throughput run; 0 = 1.0 */
	unsigned int rtt_count;	/* ping-pongs; 0 = 2000 */
	unsigned int conns;	/* connections for conn/s; 0 = 500 */
	unsigned int rx_buf;	/* rx buffer bytes, header included; 0 =
				 * VSB_RX_BUF (64 KiB of payload; Linux
				 * posts 4096) */
	unsigned int size;	/* only this write size; 0 = 64, 4096, 65536 */
	bool busy_poll;		/* the driver spins (vhk_vsock_drv_params) */
	unsigned int buf_alloc;	/* the driver's buf_alloc (its receive
				 * buffer per connection); 0 = the driver's
				 * default, 256 KiB */
	unsigned int poll_us;	/* the driver's poll_us: spin, then sleep */
	unsigned int rounds;	/* vsock / socketpair pairs per figure,
				 * alternating which goes first; medians
				 * are printed; 0 = 3, at most
				 * VSB_MAX_ROUNDS */
	/* the daemon's --poll (adaptive polling), for the report; -1 = not
	 * known (the CLI's bench against a daemon it did not start) */
	int daemon_poll_us;
	const char *only;	/* comma-separated h2g, g2h, rtt, conn
				 * (vsb_only_valid()); NULL = all */
	FILE *out;
};

/*
 * vsb_run - connect a driver, run every measurement, print a table with
 * ratios to @o->out.  Returns 0, or -errno (printed) when the device could
 * not be driven or a transfer did not verify.
 */
int vsb_run(const struct vsb_opts *o);

/* @s is a comma-separated list of h2g, g2h, rtt, conn (vsb_opts.only). */
bool vsb_only_valid(const char *s);

/* "direct", "iommu-lazy", "iommu-strict", "bounce"; -1 if unknown. */
int vsb_parse_dma(const char *s);

#endif
