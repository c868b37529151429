// SPDX-License-Identifier: MIT
/*
 * vhostkit.c - the `vhostkit` command: inspect vhost-user back-ends,
 * decode feature words, and drive a virtio-blk back-end from user space
 * (verified I/O and an fio-style benchmark).
 *
 * Each subcommand lives in its own cli_*.c file; this one dispatches and
 * holds the top-level manual.
 */
#include <string.h>

#include "vhostkit/util.h"
#include "cli.h"

static const char main_help[] =
"NAME\n"
"    vhostkit - inspect and exercise vhost-user back-ends from user space\n"
"\n"
"SYNOPSIS\n"
"    vhostkit [--verbose] COMMAND [ARGS...]\n"
"    vhostkit COMMAND --help\n"
"\n"
"DESCRIPTION\n"
"    vhostkit speaks the front-end side of vhost-user (the role QEMU plays)\n"
"    and contains a userspace virtio-blk driver, so a back-end can be\n"
"    probed, verified and benchmarked without a virtual machine.  It\n"
"    works against any vhost-user back-end: vhostkit's own daemons,\n"
"    qemu-storage-daemon, DPDK, ...\n"
"\n"
"COMMANDS\n"
"    probe SOCKET\n"
"        Connect, and print the device type, virtio and protocol features\n"
"        (decoded: owner and meaning), queue count, configuration space\n"
"        and the translation modes the back-end can run (gpa,\n"
"        platform-identity, iotlb, IOTLB persistence).  Changes nothing.\n"
"\n"
"    features explain WORD [--type T] [--protocol]\n"
"        Decode a feature word bit by bit.  Needs no back-end.\n"
"\n"
"    blk io SOCKET [--size N] [--bs N] [--dma MODE] [--packed] [--queues N]\n"
"        Verified I/O: write a pattern, read it back, compare.  Exits 1 on\n"
"        the first mismatch or device error.\n"
"\n"
"    blk bench SOCKET [SOCKET2] [--rw RW] [--bs N] [--iodepth N]\n"
"              [--runtime S] [--dma MODE] [--pid-a PID --pid-b PID]\n"
"        fio-style benchmark: IOPS, MB/s, latency percentiles; with two\n"
"        sockets both back-ends are measured in one run and compared,\n"
"        with their CPU time per I/O when their PIDs are given.\n"
"\n"
"    stats SOCKET [--prometheus] [--watch [--count N]]\n"
"        Counters of a running vhostkit daemon (blk, vsock, net) from its\n"
"        --stats-socket, per device and per queue, as JSON or Prometheus\n"
"        text; --watch redraws once a second.\n"
"\n"
"    net stats --control PATH\n"
"        Counters of a running vhostkit-net (per switch, port, queue\n"
"        pair; drops by reason) from its control socket.\n"
"\n"
"    vsock connect UDS PORT | vsock listen UDS PORT [--once]\n"
"        Talk to a VM's vsock from the host through a hybrid vsock\n"
"        daemon's Unix socket (vhostkit-vsock uds-path): CONNECT to a guest\n"
"        port, or serve the guest's connections to CID 2 port PORT;\n"
"        stdin/stdout are relayed.\n"
"\n"
"    vsock bench SOCKET UDS [--dma MODE] [--seconds S] [--poll US]\n"
"                [--rounds N] [--pid PID]\n"
"        A userspace vsock driver plays the guest on vhostkit-vsock and\n"
"        measures throughput both ways, round trip and connections/s,\n"
"        each next to a Unix socketpair (ratios printed).\n"
"\n"
"    Every command has its own manual: vhostkit COMMAND --help.\n"
"\n"
"DMA MODES (blk io, blk bench)\n"
"    direct        ACCESS_PLATFORM not negotiated: buffers are addressed\n"
"                  by guest-physical address in shared memory.\n"
"    iommu-strict  ACCESS_PLATFORM with a device IOTLB: every buffer gets\n"
"                  an IOVA mapping that is invalidated when the request\n"
"                  completes (the back-end must run in iotlb mode).\n"
"    iommu-lazy    as iommu-strict, but invalidations are batched.\n"
"    bounce        ACCESS_PLATFORM without an IOMMU (restricted DMA, as\n"
"                  confidential guests do): only a small pool is shared\n"
"                  and every buffer is copied through it.\n"
"\n"
"GLOBAL OPTIONS\n"
"    -v, --verbose   log the vhost-user conversation (VHOSTKIT_LOG=debug).\n"
"    -h, --help      this text.\n"
"    -V, --version   print the version.\n"
"\n"
"ENVIRONMENT\n"
"    VHOSTKIT_LOG    err, warn (default), info or debug: the library's\n"
"                    log on stderr.\n"
"\n"
"EXIT STATUS\n"
"    0  success\n"
"    1  I/O error, data mismatch, or a device answer that breaks the spec\n"
"    2  bad command line\n"
"    3  could not connect to or negotiate with the back-end\n"
"\n"
"EXAMPLES\n"
"    vhostkit probe /run/vhost-blk.sock\n"
"    vhostkit blk io /run/vhost-blk.sock --size 64M --dma iommu-lazy\n"
"    vhostkit blk bench a.sock b.sock --rw randread --bs 4k --iodepth 32\n"
"    echo hi | vhostkit vsock connect /run/vm1.vsock 1234\n"
"\n"
"SEE ALSO\n"
"    vhostkit-blk(1), qemu-storage-daemon(1), docs/cli.md,\n"
"    docs/translation-model.md\n";

int main(int argc, char **argv)
{
	int i = 1;

	/* Quiet by default: the commands print what matters themselves. */
	vhk_log_set_level(VHK_LOG_WARN);
	while (i < argc && argv[i][0] == '-') {
		if (cli_is_help(argv[i])) {
			fputs(main_help, stdout);
			return CLI_EXIT_OK;
		} else if (!strcmp(argv[i], "-V") ||
			   !strcmp(argv[i], "--version")) {
			printf("vhostkit %s\n", VHK_VERSION);
			return CLI_EXIT_OK;
		} else if (!strcmp(argv[i], "-v") ||
			   !strcmp(argv[i], "--verbose")) {
			vhk_log_set_level(VHK_LOG_DEBUG);
		} else {
			fprintf(stderr, "vhostkit: unknown option '%s'\n"
				"Try 'vhostkit --help'.\n", argv[i]);
			return CLI_EXIT_USAGE;
		}
		i++;
	}
	if (i >= argc) {
		fputs(main_help, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		fputs(main_help, stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[i], "probe"))
		return cli_probe_main(argc - i, argv + i);
	if (!strcmp(argv[i], "features"))
		return cli_features_main(argc - i, argv + i);
	if (!strcmp(argv[i], "blk"))
		return cli_blk_main(argc - i, argv + i);
	if (!strcmp(argv[i], "stats"))
		return cli_stats_main(argc - i, argv + i);
	if (!strcmp(argv[i], "net"))
		return cli_net_main(argc - i, argv + i);
	if (!strcmp(argv[i], "vsock"))
		return cli_vsock_main(argc - i, argv + i);
	fprintf(stderr, "vhostkit: unknown command '%s'\n"
		"Try 'vhostkit --help'.\n", argv[i]);
	return CLI_EXIT_USAGE;
}
