// SPDX-License-Identifier: MIT
/*
 * vhostkit-bench-vsock - start vhostkit-vsock on a scratch directory and
 * run the vsock benchmark (vsock_bench.c) against it: throughput host ->
 * guest and guest -> host at 64 B, 4 KiB and 64 KiB writes, 1-byte round
 * trip and connections per second, each next to a Unix socketpair.
 *
 *   vhostkit-bench-vsock --daemon PATH [--dma MODE] [--seconds S]
 *                        [--rx-buf BYTES] [--busy-poll]
 *                        [--daemon-poll US]
 *                        [--only h2g|g2h|rtt|conn] [--size BYTES]
 *
 * --busy-poll makes the driver (the guest's side) spin; --daemon-poll
 * starts the daemon with --poll=US (adaptive polling, 0 = off).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vsock_bench.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: vhostkit-bench-vsock --daemon PATH [--dma direct|"
		"iommu-lazy|iommu-strict|bounce] [--seconds S] [--rx-buf BYTES]"
		" [--busy-poll] [--daemon-poll US] [--only h2g|g2h|rtt|conn]"
		" [--size BYTES]\n");
}

int main(int argc, char **argv)
{
	struct vsb_opts o = { .dma = VSB_DIRECT };
	const char *daemon = NULL;
	char dir[] = "/tmp/vhk-vsock-bench-XXXXXX", sock[128], uds[128],
	     vm[400], poll[32];
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
			if (strcmp(o.only, "h2g") && strcmp(o.only, "g2h") &&
			    strcmp(o.only, "rtt") && strcmp(o.only, "conn")) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--daemon-poll") && i + 1 < argc) {
			o.daemon_poll_us = atoi(argv[++i]);
			if (o.daemon_poll_us < 0) {
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
	snprintf(poll, sizeof(poll), "--poll=%d", o.daemon_poll_us);
	pid = fork();
	if (pid == 0) {
		execl(daemon, daemon, "--vm", vm, "--iommu",
		      o.dma == VSB_IOMMU_LAZY || o.dma == VSB_IOMMU_STRICT ?
		      "on" : "auto", poll, (char *)NULL);
		perror(daemon);
		_exit(127);
	}
	for (i = 0; i < 500 && stat(sock, &st) < 0; i++)
		usleep(10000);
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
