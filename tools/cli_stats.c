/* SPDX-License-Identifier: MIT */
/*
 * cli_stats.c - `vhostkit stats SOCKET`: read a running daemon's counters
 * from its --stats-socket (docs/daemons.md, "Observability").
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define STATS_TIMEOUT_MS	5000

static const char stats_help[] =
"Usage: vhostkit stats SOCKET [--prometheus] [--watch] [--count N]\n"
"\n"
"Print the counters of the vhostkit daemon whose --stats-socket is SOCKET\n"
"(vhostkit-blk, vhostkit-vsock, vhostkit-net): per device (connections,\n"
"DEVICE_NEEDS_RESET, IOTLB evictions) and per queue (requests, bytes,\n"
"in flight, errors by reason, IOTLB hits / misses / miss wait time, a\n"
"log2 latency histogram and the device's own counters).\n"
"\n"
"  -p, --prometheus   Prometheus text format instead of JSON.\n"
"  -w, --watch        Redraw once a second until interrupted.\n"
"  -n, --count N      With --watch: stop after N screens.\n"
"  -h, --help         Print this help.\n"
"\n"
"Exit status: 0, 2 on a usage error, 3 if the socket does not answer.\n";

/* One request; the answer goes to @out.  0 or -errno. */
static int query(const char *path, const char *cmd, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[8192];
	struct pollfd pfd;
	ssize_t r;
	int fd, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(buf, sizeof(buf), "%s\n", cmd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, buf, strlen(buf), MSG_NOSIGNAL) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		int k = poll(&pfd, 1, STATS_TIMEOUT_MS);

		if (k == 0) {
			err = -ETIMEDOUT;
			break;
		}
		if (k < 0) {
			err = -errno;
			break;
		}
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0) {
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		fwrite(buf, 1, (size_t)r, out);
	}
	close(fd);
	return err;
}

int cli_stats_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "prometheus", no_argument, NULL, 'p' },
		{ "watch", no_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = "json", *path;
	uint64_t count = 0, i;
	bool watch = false;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "pwn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			cmd = "prometheus";
			break;
		case 'w':
			watch = true;
			break;
		case 'n':
			if (cli_parse_u64(optarg, &count) || !count)
				return cli_usage_error("stats",
						       "--count must be a positive number, not '%s'",
						       optarg);
			break;
		case 'h':
			fputs(stats_help, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(stats_help, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(stats_help, stderr);
		return CLI_EXIT_USAGE;
	}
	path = argv[optind];
	if (count && !watch)
		return cli_usage_error("stats", "--count goes with --watch");
	for (i = 0; !watch || !count || i < count; i++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		if (!f)
			return CLI_EXIT_FAIL;
		rc = query(path, cmd, f);
		fclose(f);
		if (rc) {
			free(text);
			fprintf(stderr, "vhostkit stats: %s: %s\n", path,
				strerror(-rc));
			return CLI_EXIT_CONNECT;
		}
		if (watch) {
			time_t now = time(NULL);
			char ts[32];

			strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
			/* Home, clear the screen, then the new screen. */
			printf("\033[H\033[2J%s  %s (every 1 s)\n", path, ts);
		}
		fwrite(text, 1, len, stdout);
		free(text);
		fflush(stdout);
		if (!watch)
			break;
		if (!count || i + 1 < count)
			sleep(1);
	}
	return CLI_EXIT_OK;
}
