// SPDX-License-Identifier: MIT
/*
 * cli_vsock.c - `vhostkit vsock`: talk to a VM's vsock from the host
 * through a hybrid vsock daemon (vhostkit-vsock; Firecracker and
 * cloud-hypervisor use the same Unix-socket convention), and benchmark a
 * vhostkit-vsock with the userspace vsock driver playing the guest.
 *
 *   vsock connect UDS PORT   host -> guest: "CONNECT PORT\n", then relay
 *   vsock listen UDS PORT    guest -> host: serve UDS_PORT, relay
 *   vsock bench SOCKET UDS   the userspace driver against the daemon
 * The relay copies stdin to the connection and the connection to stdout;
 * stdin's EOF half-closes (shutdown(SHUT_WR)), the peer's EOF ends it.
 * AF_VSOCK is never used: the host side of a hybrid vsock is Unix sockets.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "vhostkit/vsock.h"
#include "vhostkit/vsock_driver.h"
#include "../bench/vsock/vsock_bench.h"

static const char vsock_help[] =
"NAME\n"
"    vhostkit vsock - a VM's vsock from the host, through a hybrid vsock\n"
"    daemon's Unix sockets; a vsock benchmark\n"
"\n"
"SYNOPSIS\n"
"    vhostkit vsock connect UDS PORT [--timeout MS]\n"
"    vhostkit vsock listen UDS PORT [--once]\n"
"    vhostkit vsock bench SOCKET UDS [--dma MODE] [--seconds S]\n"
"                         [--rx-buf BYTES] [--busy-poll | --poll US]\n"
"                         [--rounds N] [--buf-alloc BYTES] [--pid PID]\n"
"\n"
"DESCRIPTION\n"
"    connect  Connect to the guest's vsock port PORT: write\n"
"             \"CONNECT PORT\\n\" to the daemon's socket UDS (its\n"
"             uds-path), wait for \"OK <host port>\\n\", then copy stdin to\n"
"             the guest and the guest's data to stdout.  EOF on stdin\n"
"             half-closes (the guest reads EOF, its answer still arrives);\n"
"             the guest closing ends the command.  Exit 1 if the guest\n"
"             refused (nobody listens: the daemon closes the socket).\n"
"    listen   Serve guest connections to CID 2 port PORT: listen on\n"
"             \"UDS_PORT\", where the daemon connects, and relay each\n"
"             connection with stdin/stdout, one at a time; --once: exit\n"
"             after the first.\n"
"    bench    A userspace vsock driver plays the guest on the daemon's\n"
"             vhost-user SOCKET (so no VM may be attached to it) and\n"
"             measures host -> guest and guest -> host throughput at 64 B,\n"
"             4 KiB and 64 KiB writes, a 1-byte round trip and\n"
"             connections per second, each next to a Unix socketpair in\n"
"             the same run, with ratios and CPU per GiB (the daemon's too\n"
"             with --pid).  --dma: direct (default), iommu-lazy,\n"
"             iommu-strict (the daemon must run --iommu on), bounce.\n"
"             --rx-buf: the driver's rx buffer bytes, header included\n"
"             (default 65580: 64 KiB of payload; Linux posts 4096).\n"
"             --busy-poll: the driver spins instead of sleeping; --poll\n"
"             US: it spins up to US microseconds in each wait, then\n"
"             sleeps.  --rounds N (1-15, default 3): each figure is the\n"
"             median of N vsock / socketpair pairs, alternating which\n"
"             runs first.  --buf-alloc: the driver's receive buffer per\n"
"             connection (default 256 KiB); the socketpair gets the\n"
"             same SO_SNDBUF.\n"
"\n"
"EXAMPLES\n"
"    echo hello | vhostkit vsock connect /run/vm1.vsock 1234\n"
"    vhostkit vsock listen /run/vm1.vsock 5000 --once > from-guest.bin\n"
"    vhostkit vsock bench /run/bench.sock /run/bench.vsock --pid $PID\n"
"\n"
"EXIT STATUS\n"
"    0 done, 1 refused / I/O error, 2 bad command line, 3 cannot connect\n";

/* Copy stdin -> @fd and @fd -> stdout until @fd's EOF. */
static int relay(int fd)
{
	char buf[65536];
	bool in_open = true;

	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 },
				       { STDIN_FILENO, POLLIN, 0 } };
		ssize_t r;

		if (poll(p, in_open ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents) {
			r = recv(fd, buf, sizeof(buf), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return r < 0 ? -errno : 0;
			for (ssize_t off = 0; off < r;) {
				ssize_t w = write(STDOUT_FILENO, buf + off,
						  (size_t)(r - off));

				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0)
					return -errno;
				off += w;
			}
		}
		if (in_open && p[1].revents) {
			r = read(STDIN_FILENO, buf, sizeof(buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				in_open = false;
				shutdown(fd, SHUT_WR);	/* half-close */
				continue;
			}
			if (send(fd, buf, (size_t)r, MSG_NOSIGNAL) != r)
				return -EPIPE;
		}
	}
}

static int parse_port(const char *cmd, const char *s, uint32_t *port)
{
	uint64_t v;

	if (cli_parse_u64(s, &v) || v >= 0xffffffffu)
		return cli_usage_error(cmd, "bad port '%s'", s);
	*port = (uint32_t)v;
	return 0;
}

static int cmd_connect(int argc, char **argv)
{
	uint64_t timeout = 10000;
	uint32_t port = 0, hp = 0;
	int fd, ret, i;

	if (argc < 4)
		return cli_usage_error("vsock connect", "UDS and PORT needed");
	if (parse_port("vsock connect", argv[3], &port))
		return CLI_EXIT_USAGE;
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc &&
		    !cli_parse_u64(argv[i + 1], &timeout) && timeout < 1u << 30)
			i++;
		else
			return cli_usage_error("vsock connect",
					       "unknown option '%s'", argv[i]);
	}
	fd = vhk_vsock_hybrid_connect(argv[2], port, (int)timeout, &hp);
	if (fd == -ECONNREFUSED) {
		fprintf(stderr, "vhostkit vsock connect: the guest refused port "
			"%u (nobody listens)\n", port);
		return CLI_EXIT_FAIL;
	}
	if (fd < 0) {
		fprintf(stderr, "vhostkit vsock connect: %s: %s\n", argv[2],
			strerror(-fd));
		return CLI_EXIT_CONNECT;
	}
	fprintf(stderr, "vhostkit vsock connect: connected to guest port %u "
		"(host port %u)\n", port, hp);
	ret = relay(fd);
	close(fd);
	if (ret < 0) {
		fprintf(stderr, "vhostkit vsock connect: %s\n", strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int cmd_listen(int argc, char **argv)
{
	bool once = false;
	uint32_t port = 0;
	int lfd, i, ret = 0;

	if (argc < 4)
		return cli_usage_error("vsock listen", "UDS and PORT needed");
	if (parse_port("vsock listen", argv[3], &port))
		return CLI_EXIT_USAGE;
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			once = true;
		else
			return cli_usage_error("vsock listen",
					       "unknown option '%s'", argv[i]);
	}
	lfd = vhk_vsock_hybrid_listen(argv[2], port, false);
	if (lfd < 0) {
		fprintf(stderr, "vhostkit vsock listen: %s_%u: %s\n", argv[2],
			port, strerror(-lfd));
		return CLI_EXIT_CONNECT;
	}
	fprintf(stderr, "vhostkit vsock listen: waiting on %s_%u (guest "
		"connects to CID 2 port %u)\n", argv[2], port, port);
	do {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			ret = -errno;
			break;
		}
		ret = relay(fd);
		close(fd);
	} while (!once && ret == 0);
	close(lfd);
	{
		char path[300];

		snprintf(path, sizeof(path), "%s_%u", argv[2], port);
		unlink(path);
	}
	if (ret < 0) {
		fprintf(stderr, "vhostkit vsock listen: %s\n", strerror(-ret));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int cmd_bench(int argc, char **argv)
{
	struct vsb_opts o = { .dma = VSB_DIRECT, .out = stdout,
			       .daemon_poll_us = -1 };
	uint64_t v;
	int i, m;

	if (argc < 4)
		return cli_usage_error("vsock bench", "SOCKET and UDS needed");
	o.sock = argv[2];
	o.uds = argv[3];
	for (i = 4; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--dma") && val &&
		    (m = vsb_parse_dma(val)) >= 0) {
			o.dma = (enum vsb_dma)m;
		} else if (!strcmp(argv[i], "--seconds") && val &&
			   atof(val) > 0 && atof(val) <= 60) {
			o.seconds = atof(val);
		} else if (!strcmp(argv[i], "--rx-buf") && val &&
			   !cli_parse_size(val, &v) && v > 44 && v <= 65536) {
			o.rx_buf = (unsigned int)v;
		} else if (!strcmp(argv[i], "--pid") && val &&
			   !cli_parse_u64(val, &v) && v > 0 && v < 1u << 22) {
			o.daemon_pid = (pid_t)v;
		} else if (!strcmp(argv[i], "--poll") && val &&
			   !cli_parse_u64(val, &v) && v <= 1000000) {
			o.poll_us = (unsigned int)v;
		} else if (!strcmp(argv[i], "--rounds") && val &&
			   !cli_parse_u64(val, &v) && v >= 1 &&
			   v <= VSB_MAX_ROUNDS) {
			o.rounds = (unsigned int)v;
		} else if (!strcmp(argv[i], "--buf-alloc") && val &&
			   !cli_parse_size(val, &v) && v >= 4096 &&
			   v <= VHK_VSOCK_MAX_BUF_SIZE) {
			o.buf_alloc = (unsigned int)v;
		} else if (!strcmp(argv[i], "--busy-poll")) {
			o.busy_poll = true;
			continue;
		} else {
			return cli_usage_error("vsock bench", "bad option '%s'",
					       argv[i]);
		}
		i++;
	}
	return vsb_run(&o) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_vsock_main(int argc, char **argv)
{
	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(vsock_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (argc > 2 && cli_is_help(argv[2])) {
		fputs(vsock_help, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "connect"))
		return cmd_connect(argc, argv);
	if (!strcmp(argv[1], "listen"))
		return cmd_listen(argc, argv);
	if (!strcmp(argv[1], "bench"))
		return cmd_bench(argc, argv);
	return cli_usage_error("vsock", "unknown subcommand '%s'", argv[1]);
}
