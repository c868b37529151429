/* SPDX-License-Identifier: MIT */
/*
 * vhostkit-blk - vhost-user virtio-blk back-end daemon over a file or a
 * block device (io_uring).  See docs/vhostkit-blk.md.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "vhostkit/blk.h"

#define EXIT_USAGE	VHK_DAEMON_EXIT_USAGE

enum { OPT_MMAP = 0x100, OPT_POLL, OPT_SQPOLL, OPT_NOWAIT };	/* long-only options */

/* QEMU's vhost-user.json, VHostUserBackendCapabilitiesBlock. */
static const char blk_caps[] =
	"{\"type\": \"block\", \"features\": [\"read-only\", \"blk-file\"]}";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vhostkit-blk (--socket-path PATH | --fd FDNUM) --disk FILE [OPTIONS]\n"
"       vhostkit-blk --print-capabilities\n"
"\n"
"Serve FILE (a regular file or a block device) as a virtio-blk device to a\n"
"vhost-user front-end such as QEMU's vhost-user-blk-pci.  Requests run\n"
"through io_uring, one ring per virtqueue: read, write, flush, discard,\n"
"write-zeroes and get-id (VIRTIO 1.2, 5.2).\n"
"\n"
"Device:\n"
"  -d, --disk, --blk-file FILE\n"
"                          Image file or block device to serve.  Opened with\n"
"                          O_DIRECT when the file system allows it (else\n"
"                          through the page cache).  The capacity is its size\n"
"                          rounded down to 512 bytes.  Required.\n"
"  -r, --read-only         Open FILE read-only and offer VIRTIO_BLK_F_RO:\n"
"                          writes, discards and write-zeroes fail with IOERR.\n"
"  -q, --num-queues N      Request queues offered (1-256, default 4).  The\n"
"                          front-end may use fewer; QEMU refuses to start if\n"
"                          its num-queues is larger than N.\n"
"  -Q, --queue-size N      Requests in flight per queue (io_uring depth);\n"
"                          default 0 = the virtqueue size the front-end set\n"
"                          (at most 1024).\n"
"  -i, --iommu auto|on|off Device IOTLB policy (default auto):\n"
"                          on:   VIRTIO_F_ACCESS_PLATFORM means IOTLB; refused\n"
"                                unless the back-end channel and REPLY_ACK exist.\n"
"                          off:  never offer ACCESS_PLATFORM (pKVM, swiotlb).\n"
"                          auto: offer it; IOTLB if a channel, else identity.\n"
"  -S, --serial ID         Serial returned by GET_ID (up to 20 bytes; longer\n"
"                          IDs are cut).  Default: empty.\n"
"  -1, --once              Exit when the first front-end disconnects\n"
"                          (default: wait for the next one).\n"
"  -E, --iotlb-entries N   Device IOTLB capacity (default 65536, or 4116 per\n"
"                          queue if more; at most 16777216, at least 4116\n"
"                          per queue so that the largest request always\n"
"                          fits).  When full, the oldest entries are\n"
"                          evicted; an access to them misses and the\n"
"                          front-end answers again.  Bounds the memory a\n"
"                          front-end can make the daemon spend (~75 B each).\n"
"      --mmap[=on|auto|off]\n"
"                          Memory-mapped disk mode: map FILE (MAP_SHARED) and\n"
"                          serve reads and writes with memcpy between guest\n"
"                          memory and the mapping, no I/O system call on the\n"
"                          data path.  For files in memory (tmpfs, hugetlbfs,\n"
"                          DAX).  FLUSH and writethrough writes wait for the\n"
"                          writeback of a file that has a backing store.\n"
"                          on (the default of --mmap): map or fail; auto: map\n"
"                          files in tmpfs / hugetlbfs / ramfs only; off (the\n"
"                          default without --mmap): io_uring.\n"
"      --poll[=USECS]      Polling mode: after a queue had work, its thread\n"
"                          busy-polls the ring and the I/O completions, the\n"
"                          driver's kicks off, until USECS microseconds\n"
"                          (default 1000, 1-1000000) pass without work; then\n"
"                          it sleeps until the next kick: an idle queue costs\n"
"                          no CPU.  Implies --queue-workers.\n"
"      --sqpoll[=MS]       io_uring SQPOLL: a kernel thread per queue polls\n"
"                          the submission ring (no io_uring_enter per batch)\n"
"                          and sleeps after MS milliseconds idle (default 1,\n"
"                          1-10000).  It costs a core while busy; falls back\n"
"                          to plain submission (with a warning) if refused.\n"
"      --nowait[=on|auto|off]\n"
"                          How io_uring issues reads and writes.  on (the\n"
"                          default of --nowait): FILE's fds are O_NONBLOCK,\n"
"                          so io_uring tries each read and O_DIRECT write in\n"
"                          the queue thread and completes it inside the\n"
"                          batch's submit unless it would block (then it\n"
"                          goes to io_uring's worker threads).  off: io_uring\n"
"                          decides - on tmpfs, ramfs and hugetlbfs, which do\n"
"                          not declare nowait support, every read and write\n"
"                          goes to a worker thread.  auto (the default): on\n"
"                          for a file in tmpfs / ramfs / hugetlbfs (memory:\n"
"                          nothing to wait for), off for anything else.\n"
"  -W, --queue-workers     One thread per queue (own epoll, own io_uring\n"
"                          completions); default: one thread per device.\n"
"  -v, --verbose           Debug logging (same as VHOSTKIT_LOG=debug).\n"
"  -h, --help              Print this help and exit.\n"
"  -V, --version           Print the version and exit.\n"
"\n");
	vhk_daemon_usage(out);
	fprintf(out,
"\n"
"The socket is printed when the daemon is ready; the translation mode\n"
"(gpa, platform-identity or iotlb) is logged when the rings start.\n"
"SIGTERM and SIGINT stop the daemon after in-flight I/O completes; SIGHUP\n"
"reopens --log-file.\n"
"\n"
"Exit status: 0 on a clean stop, 1 on a runtime error (disk, socket),\n"
"2 on a usage error.\n"
"\n"
"Example:\n"
"  vhostkit-blk --socket-path /tmp/vhk-blk.sock --disk disk.img &\n"
"  qemu-system-x86_64 -machine q35 -m 512 \\\n"
"    -object memory-backend-memfd,id=mem,size=512M,share=on \\\n"
"    -numa node,memdev=mem \\\n"
"    -chardev socket,id=c0,path=/tmp/vhk-blk.sock \\\n"
"    -device vhost-user-blk-pci,chardev=c0,num-queues=1 ...\n");
}

static int parse_u16(const char *s, const char *what, unsigned int min,
		     unsigned int max, uint16_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "vhostkit-blk: %s must be %u-%u, not '%s'\n",
			what, min, max, s);
		return -EINVAL;
	}
	*out = (uint16_t)v;
	return 0;
}

/* --OPT[=on|auto|off] (no value: on): 0 on, 1 auto, 2 off, -1 (said). */
static int on_auto_off(const char *opt, const char *arg)
{
	static const char *const word[] = { "on", "auto", "off" };

	if (!arg)
		return 0;
	for (int i = 0; i < 3; i++)
		if (!strcmp(arg, word[i]))
			return i;
	fprintf(stderr, "vhostkit-blk: --%s must be on, auto or off, not '%s'\n",
		opt, arg);
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VHK_DAEMON_LONGOPTS,
		{ "disk", required_argument, NULL, 'd' },
		{ "blk-file", required_argument, NULL, 'd' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "num-queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, 'Q' },
		{ "iommu", required_argument, NULL, 'i' },
		{ "serial", required_argument, NULL, 'S' },
		{ "once", no_argument, NULL, '1' },
		{ "iotlb-entries", required_argument, NULL, 'E' },
		{ "queue-workers", no_argument, NULL, 'W' },
		{ "mmap", optional_argument, NULL, OPT_MMAP },
		{ "poll", optional_argument, NULL, OPT_POLL },
		{ "sqpoll", optional_argument, NULL, OPT_SQPOLL },
		{ "nowait", optional_argument, NULL, OPT_NOWAIT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vhk_blk_opts o = { .num_queues = 4 };
	struct vhk_backend_config cfg = { .name = "blk0" };
	struct vhk_backend *be = NULL;
	struct vhk_blk *blk = NULL;
	struct vhk_daemon d;
	bool usage_err;
	int c, ret;

	vhk_daemon_init(&d, "vhostkit-blk", blk_caps);
	while ((c = getopt_long(argc, argv,
				VHK_DAEMON_SHORTOPTS "d:rq:Q:i:S:1E:WvhV",
				longopts, NULL)) != -1) {
		ret = vhk_daemon_option(&d, c, optarg);
		if (ret < 0)
			return EXIT_USAGE;
		if (ret > 0)
			continue;
		switch (c) {
		case 'd':
			o.disk = optarg;
			break;
		case 'r':
			o.read_only = true;
			break;
		case 'q':
			if (parse_u16(optarg, "--num-queues", 1, 256,
				      &o.num_queues))
				return EXIT_USAGE;
			break;
		case 'Q':
			if (parse_u16(optarg, "--queue-size", 0, 32768,
				      &o.queue_depth))
				return EXIT_USAGE;
			break;
		case 'i':
			if (vhk_iommu_policy_parse(optarg, &cfg.iommu)) {
				fprintf(stderr, "vhostkit-blk: --iommu must be auto, on or off, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			o.serial = optarg;
			break;
		case '1':
			cfg.once = true;
			break;
		case 'E': {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || end == optarg || *end || v < 1 ||
			    v > (1ul << 24)) {
				fprintf(stderr, "vhostkit-blk: --iotlb-entries must be 1-16777216, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			cfg.iotlb_max_entries = (unsigned int)v;
			break;
		}
		case 'W':
			cfg.queue_workers = true;
			break;
		case OPT_POLL: {
			char *end;
			unsigned long v = 1000;

			if (optarg) {
				errno = 0;
				v = strtoul(optarg, &end, 0);
				if (errno || end == optarg || *end || v < 1 ||
				    v > 1000000) {
					fprintf(stderr, "vhostkit-blk: --poll must be 1-1000000 microseconds, not '%s'\n",
						optarg);
					return EXIT_USAGE;
				}
			}
			cfg.poll_us = (unsigned int)v;
			break;
		}
		case OPT_SQPOLL: {
			char *end;
			unsigned long v = 1;

			if (optarg) {
				errno = 0;
				v = strtoul(optarg, &end, 0);
				if (errno || end == optarg || *end || v < 1 ||
				    v > 10000) {
					fprintf(stderr, "vhostkit-blk: --sqpoll must be 1-10000 milliseconds, not '%s'\n",
						optarg);
					return EXIT_USAGE;
				}
			}
			o.sqpoll_idle_ms = (unsigned int)v;
			break;
		}
		case OPT_MMAP: {
			static const enum vhk_blk_mmap m[] = {
				VHK_BLK_MMAP_ON, VHK_BLK_MMAP_AUTO,
				VHK_BLK_MMAP_OFF };
			int i = on_auto_off("mmap", optarg);

			if (i < 0)
				return EXIT_USAGE;
			o.mmap = m[i];
			break;
		}
		case OPT_NOWAIT: {
			static const enum vhk_blk_nowait m[] = {
				VHK_BLK_NOWAIT_ON, VHK_BLK_NOWAIT_AUTO,
				VHK_BLK_NOWAIT_OFF };
			int i = on_auto_off("nowait", optarg);

			if (i < 0)
				return EXIT_USAGE;
			o.nowait = m[i];
			break;
		}
		case 'v':
			vhk_log_set_level(VHK_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vhostkit-blk %s\n", VHK_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (d.print_caps)
		return vhk_daemon_print_capabilities(&d);
	if (optind < argc || !o.disk) {
		fprintf(stderr, "vhostkit-blk: %s\n", optind < argc ?
			"unexpected argument" :
			"--disk is required (see --help)");
		return EXIT_USAGE;
	}
	if (cfg.iotlb_max_entries &&
	    cfg.iotlb_max_entries <
	    vhk_iotlb_min_entries(o.num_queues, o.max_iov ? o.max_iov :
				  VHK_BLK_DEFAULT_MAX_IOV)) {
		fprintf(stderr, "vhostkit-blk: --iotlb-entries %u is too small: %u queue(s) need at least %lu (per queue: 3 ring areas, %u segments of the largest request, the pages of its indirect table), or a request that needs more mappings than the table holds evicts its own and never completes\n",
			cfg.iotlb_max_entries, o.num_queues,
			vhk_iotlb_min_entries(o.num_queues, o.max_iov ?
					      o.max_iov :
					      VHK_BLK_DEFAULT_MAX_IOV),
			o.max_iov ? o.max_iov : VHK_BLK_DEFAULT_MAX_IOV);
		return EXIT_USAGE;
	}
	if (vhk_daemon_setup(&d, &cfg, &usage_err) < 0) {
		vhk_daemon_fini(&d);
		return usage_err ? EXIT_USAGE : 1;
	}

	ret = vhk_blk_open(&blk, &o);
	if (ret < 0) {
		fprintf(stderr, "vhostkit-blk: cannot open %s: %s\n", o.disk,
			strerror(-ret));
		if (cfg.adopt_listen_fd)
			close(cfg.listen_fd);
		vhk_daemon_fini(&d);
		return 1;
	}
	ret = vhk_backend_new(&be, &cfg, &vhk_blk_ops, blk);
	if (ret < 0) {
		fprintf(stderr, "vhostkit-blk: %s: %s\n", cfg.socket_path,
			strerror(-ret));
		vhk_blk_close(blk);
		vhk_daemon_fini(&d);
		return 1;
	}
	if (vhk_daemon_start(&d, be) < 0) {
		vhk_backend_free(be);
		vhk_blk_close(blk);
		vhk_daemon_fini(&d);
		return 1;
	}

	printf("vhostkit-blk: %s %s (disk %s, %llu sectors, %s%s%s, %u queues, iommu %s%s)\n",
	       cfg.connect ? "connecting to" : "listening on",
	       cfg.socket_path, o.disk,
	       (unsigned long long)vhk_blk_capacity(blk),
	       vhk_blk_mmapped(blk) ? "memory-mapped" :
	       vhk_blk_direct(blk) ? "O_DIRECT" : "buffered",
	       vhk_blk_nowait_on(blk) ? " nowait" : "",
	       o.read_only ? ", read-only" : "", o.num_queues,
	       vhk_iommu_policy_name(cfg.iommu),
	       cfg.poll_us ? ", polling" : "");
	fflush(stdout);

	ret = vhk_backend_run(be);
	if (ret < 0)
		fprintf(stderr, "vhostkit-blk: %s\n", strerror(-ret));
	vhk_daemon_fini(&d);
	vhk_backend_free(be);
	vhk_blk_close(blk);
	return ret < 0 ? 1 : 0;
}
