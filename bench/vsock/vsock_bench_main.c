// SPDX-License-Identifier: MIT
/*
 * vhostkit-bench-vsock - start vhostkit-vsock on a scratch directory and
 * run the vsock benchmark (vsock_bench.c) against it: throughput host ->
 * guest and guest -> host at 64 B, 4 KiB and 64 KiB writes, 1-byte round
 * trip and connections per second, each next to a Unix socketpair.
 *
 *   vhostkit-bench-vsock --daemon PATH [--dma MODE] [--seconds S]
 *                        [--rx-buf BYTES] [--busy-poll | --poll US]
 *                        [--daemon-poll US] [--rounds N]
 *                        [--only h2g|g2h|rtt|conn[,...]] [--size BYTES]
 *                        [--buf-alloc BYTES] [--pin CPU,CPU]
 *
 * --busy-poll makes the driver (the guest's side) spin; --poll US makes
 * it spin up to US microseconds in each wait before it sleeps (the
 * driver's poll_us); --daemon-poll starts the daemon with --poll=US
 * (adaptive polling, 0 = off).  --rounds N (default 3, at most 15)
 * repeats each vsock / socketpair pair N times, alternating which goes
 * first, and prints medians.  --pin A,B runs this process (the driver,
 * the host threads and the socketpair's threads: the guest and the host
 * programs) on CPU A and the daemon on CPU B, as a deployment that gives
 * the daemon its own core would; unpinned, the scheduler places three
 * parties on the machine's cores as it likes, and where it puts them
 * changes the round trip by 3x on a 2-core machine.  --buf-alloc sets the
 * driver's buf_alloc and the daemon's tx-buffer-size.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vsock_bench.h"
#include "vhostkit/vsock.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vhostkit-bench-vsock --daemon PATH [--dma direct|"
		"iommu-lazy|iommu-strict|bounce] [--seconds S] [--rx-buf BYTES]"
		" [--busy-poll | --poll US] [--daemon-poll US] [--rounds N]"
		" [--only h2g|g2h|rtt|conn[,...]] [--size BYTES]"
		" [--buf-alloc BYTES] [--pin CPU,CPU]\n");
}

/* This thread, and the threads and processes it starts, on @cpu only. */
static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		fprintf(stderr, "vhostkit-bench-vsock: CPU %d: %s\n", cpu,
			strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vsb_opts o = { .dma = VSB_DIRECT };
	const char *daemon = NULL;
	char dir[] = "/tmp/vhk-vsock-bench-XXXXXX", sock[128], uds[128],
	     vm[400], poll[32];
	int pin[2] = { -1, -1 };
	struct stat st;
	pid_t pid;
	int ret, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--daemon") && i + 1 < argc) {
			daemon = argv[++i];
		} else if (!strcmp(argv[i], "--dma") && i + 1 < argc) {
			ret = vsb_parse_dma(argv[++i]);
			if (ret < 0) {
				usage(stderr);
				return 2;
			}
			o.dma = (enum vsb_dma)ret;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			o.seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--rx-buf") && i + 1 < argc) {
			o.rx_buf = (unsigned int)strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			o.size = (unsigned int)strtoul(argv[++i], NULL, 0);
			if (o.size == 0 || o.size > (1u << 20)) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			o.only = argv[++i];
			if (!vsb_only_valid(o.only)) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--daemon-poll") && i + 1 < argc) {
			o.daemon_poll_us = atoi(argv[++i]);
			if (o.daemon_poll_us < 0) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--poll") && i + 1 < argc) {
			ret = atoi(argv[++i]);
			if (ret < 0 || ret > 1000000) {
				usage(stderr);
				return 2;
			}
			o.poll_us = (unsigned int)ret;
		} else if (!strcmp(argv[i], "--buf-alloc") && i + 1 < argc) {
			unsigned long v = strtoul(argv[++i], NULL, 0);

			if (v < 4096 || v > VHK_VSOCK_MAX_BUF_SIZE) {
				usage(stderr);
				return 2;
			}
			o.buf_alloc = (unsigned int)v;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			ret = atoi(argv[++i]);
			if (ret < 1 || ret > VSB_MAX_ROUNDS) {
				usage(stderr);
				return 2;
			}
			o.rounds = (unsigned int)ret;
		} else if (!strcmp(argv[i], "--pin") && i + 1 < argc) {
			if (sscanf(argv[++i], "%d,%d", &pin[0], &pin[1]) != 2 ||
			    pin[0] < 0 || pin[1] < 0 || pin[0] >= CPU_SETSIZE ||
			    pin[1] >= CPU_SETSIZE) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--busy-poll")) {
			o.busy_poll = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!daemon) {
		usage(stderr);
		return 2;
	}
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/vsock.sock", dir);
	snprintf(uds, sizeof(uds), "%s/v.uds", dir);
	snprintf(vm, sizeof(vm), "guest-cid=3,socket=%s,uds-path=%s", sock,
		 uds);
	if (o.buf_alloc)
		snprintf(vm + strlen(vm), sizeof(vm) - strlen(vm),
			 ",tx-buffer-size=%u", o.buf_alloc);
	snprintf(poll, sizeof(poll), "--poll=%d", o.daemon_poll_us);
	pid = fork();
	if (pid == 0) {
		if (pin[1] >= 0 && pin_to(pin[1]) < 0)
			_exit(127);
		execl(daemon, daemon, "--vm", vm, "--iommu",
		      o.dma == VSB_IOMMU_LAZY || o.dma == VSB_IOMMU_STRICT ?
		      "on" : "auto", poll, (char *)NULL);
		perror(daemon);
		_exit(127);
	}
	for (i = 0; i < 500 && stat(sock, &st) < 0; i++)
		usleep(10000);
	if (pin[0] >= 0 && pin_to(pin[0]) < 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return 1;
	}
	if (pin[0] >= 0)
		printf("vsock bench: driver and host programs on CPU %d, the "
		       "daemon on CPU %d\n", pin[0], pin[1]);
	o.sock = sock;
	o.uds = uds;
	o.daemon_pid = pid;
	ret = vsb_run(&o);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	if (system("true") == 0) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return ret ? 1 : 0;
}
