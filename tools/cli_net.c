/* SPDX-License-Identifier: MIT */
/*
 * cli_net.c - `vhostkit net stats`: read a running vhostkit-net's
 * counters from its control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vhostkit/net.h"

static const char net_help[] =
"Usage: vhostkit net stats --control PATH\n"
"       vhostkit net send | recv | bench ...  (vhostkit net send --help)\n"
"\n"
"Print the counters of the vhostkit-net daemon whose control socket is\n"
"PATH (vhostkit-net --control PATH): one 'switch' line (MAC table size,\n"
"learnt / evicted / moved entries, flooded frames), one 'port' line per\n"
"port (in/out packets and bytes, software checksums and segments, drops\n"
"by reason) and one 'queue' line per queue pair (rx/tx packets, bytes),\n"
"as key=value pairs.\n";

int cli_net_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "control", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *control = NULL;
	int c, rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(net_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "send") || !strcmp(argv[1], "recv") ||
	    !strcmp(argv[1], "bench"))
		return cli_net_io_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "stats")) {
		fprintf(stderr, "vhostkit net: unknown command '%s'\n%s",
			argv[1], net_help);
		return CLI_EXIT_USAGE;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "C:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'C':
			control = optarg;
			break;
		case 'h':
			fputs(net_help, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(net_help, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (!control) {
		fprintf(stderr, "vhostkit net stats: --control PATH is required\n");
		return CLI_EXIT_USAGE;
	}
	rc = vhk_net_ctl_query(control, "stats", stdout);
	if (rc) {
		fprintf(stderr, "vhostkit net stats: %s: %s\n", control,
			strerror(-rc));
		return CLI_EXIT_CONNECT;
	}
	return CLI_EXIT_OK;
}
