/* SPDX-License-Identifier: MIT */
/*
 * vhostkit-net - vhost-user virtio-net back-end daemon: a learning L2
 * switch between vhost-user ports and tap interfaces.  See
 * docs/vhostkit-net.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "vhostkit/net.h"

#define EXIT_USAGE	2
#define MAX_PORTS	64

static struct vhk_net *g_net;

/* QEMU's vhost-user.json: type net (no feature list defined). */
static const char net_caps[] = "{\"type\": \"net\"}";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vhostkit-net --port SPEC [--port SPEC ...] [OPTIONS]\n"
"       vhostkit-net (--socket-path PATH | --fd FDNUM) [--port SPEC ...]\n"
"                    [OPTIONS]\n"
"\n"
"A virtio-net back-end (VIRTIO 1.2, 5.1) for vhost-user front-ends (QEMU\n"
"-netdev vhost-user, DPDK virtio-user) that is also a learning L2 switch:\n"
"every vhost-user socket is a port, and so is every tap interface given.\n"
"Frames go where their destination MAC was learnt, else to every other\n"
"port.  Offloads (checksum, TSO, ECN, USO) pass through where the\n"
"receiving port takes them and are done in software where it does not.\n"
"\n"
"Ports:\n"
"  --port socket=PATH[,client][,mac=MAC][,queues=N][,mtu=N][,rate=B]\n"
"         [,pps=N][,poll|,thread][,backlog=N][,iommu=auto|on|off]\n"
"      A vhost-user virtio-net device on Unix socket PATH.  The daemon\n"
"      listens on PATH (created, removed on exit) unless 'client' is\n"
"      given: then it connects to a listening front-end and reconnects\n"
"      whenever the front-end goes away.\n"
"        mac=XX:XX:XX:XX:XX:XX  MAC in the config space (VIRTIO_NET_F_MAC)\n"
"        queues=N     queue pairs offered, 1-16 (default 1; VIRTIO_NET_F_MQ)\n"
"        mtu=N        MTU offered and enforced on transmit (default 1500)\n"
"        rate=B       ingress limit in bytes/s (k, M, G = 10^3, 10^6, 10^9)\n"
"        pps=N        ingress limit in packets/s (token bucket, 0.1 s burst)\n"
"        poll         busy-poll the rings instead of waiting for kicks\n"
"        thread       run this port on a thread of its own; by default\n"
"                     every socket port (poll ones always) runs on one\n"
"                     shared thread, where frames cross ports without a\n"
"                     thread switch - one core for all of them\n"
"        backlog=N    frames that may wait for the guest (default 1024)\n"
"        iommu=...    device IOTLB policy, as vhostkit-blk --iommu:\n"
"                     on: VIRTIO_F_ACCESS_PLATFORM means IOTLB; off: never\n"
"                     offer it; auto (default): offer it, IOTLB if the\n"
"                     front-end gives a back-end channel\n"
"  --port tap=NAME[,queues=N][,mtu=N][,rate=B][,pps=N]\n"
"      Tap interface NAME (created if missing), opened with IFF_VNET_HDR\n"
"      and, for N > 1, IFF_MULTI_QUEUE.  Bring it up yourself\n"
"      (ip link set NAME up).\n"
"  --port xdp=IFACE[,mtu=N][,rate=B][,pps=N]\n"
"      An AF_XDP socket on queue 0 of the existing interface IFACE (copy\n"
"      mode, generic XDP: libxdp's default program redirects the queue's\n"
"      frames to the socket).  No offloads cross it: the switch\n"
"      completes checksums and segments GSO frames first.  Needs\n"
"      CAP_NET_ADMIN and CAP_BPF (root).\n"
"\n"
"Options:\n"
"  -p, --port SPEC         Add a port (above); at least one.\n"
"  -C, --control PATH      Control socket: 'vhostkit net stats --control\n"
"                          PATH' prints every counter.  Default: none.\n"
"                          The same socket as --stats-socket PATH (it\n"
"                          answers 'vhostkit stats PATH' too).\n"
"  -v, --verbose           Debug logging (same as VHOSTKIT_LOG=debug).\n"
"  -h, --help              Print this help and exit.\n"
"  -V, --version           Print the version and exit.\n"
"\n");
	fprintf(out,
"--socket-path, --fd and systemd socket activation (below) add one more\n"
"vhost-user port, port 0, with the default port options.\n"
"\n");
	vhk_daemon_usage(out);
	fprintf(out,
"\n"
"Counters per port: in/out packets and bytes, software checksums and\n"
"segments, drops by reason (hdr_short, runt, too_big, bad_gso, bad_csum,\n"
"bad_hdr_len, bad_l3l4, queue_full, rx_no_room, rx_bad_buf, rate_limit,\n"
"no_port, link_down, nomem, io_error); per queue pair: rx/tx packets and\n"
"bytes.\n"
"\n"
"SIGTERM and SIGINT stop the daemon; SIGHUP reopens --log-file.  Exit\n"
"status: 0 on a clean stop, 1 on a runtime error (socket, tap), 2 on a\n"
"usage error.\n"
"\n"
"Example (a QEMU guest and the host through tap0):\n"
"  vhostkit-net --port socket=/tmp/vm0.sock --port tap=tap0 &\n"
"  qemu-system-x86_64 -machine q35 -m 512 \\\n"
"    -object memory-backend-memfd,id=mem,size=512M,share=on \\\n"
"    -numa node,memdev=mem \\\n"
"    -chardev socket,id=c0,path=/tmp/vm0.sock \\\n"
"    -netdev vhost-user,id=n0,chardev=c0 \\\n"
"    -device virtio-net-pci,netdev=n0 ...\n");
}

/*
 * Beyond the shared allowlist (tools/daemon/sandbox.c): a port's server
 * removes its socket on exit.  Taps are opened and configured (ioctl)
 * before the sandbox; after it they are only read and written.
 */
static const char *const net_syscalls[] = { "unlink", NULL };
/* libxdp looks for bpffs to pin state (it copes without). */
static const char *const net_xdp_refused[] = { "mkdir", NULL };
/* With an AF_XDP port: libxdp closing the XDP socket and detaching its
 * program (bpf(), a netlink socket) when the daemon stops. */
static const char *const net_xdp_syscalls[] = {
	"unlink", "bpf", "bind", "getsockname", "statfs", "fstatfs",
	"uname", NULL,
};

static void net_stats_text(void *arg, FILE *out)
{
	vhk_net_stats_text(arg, out);
}

static void stop_net(void)
{
	if (g_net)
		vhk_net_stop(g_net);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VHK_DAEMON_LONGOPTS,
		{ "port", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vhk_net_port_opts ports[MAX_PORTS];
	struct vhk_backend_config cfg = { .socket_path = NULL };
	const char *control = NULL;
	unsigned int nports = 0;
	bool single;
	struct vhk_net *net = NULL;
	struct vhk_daemon d;
	bool usage_err;
	char err[160];
	int c, ret;

	vhk_daemon_init(&d, "vhostkit-net", net_caps);
	d.own_sockets = true;
	d.on_stop = stop_net;
	while ((c = getopt_long(argc, argv, VHK_DAEMON_SHORTOPTS "p:C:vhV",
				longopts, NULL)) != -1) {
		ret = vhk_daemon_option(&d, c, optarg);
		if (ret < 0)
			return EXIT_USAGE;
		if (ret > 0)
			continue;
		switch (c) {
		case 'p':
			if (nports == MAX_PORTS) {
				fprintf(stderr, "vhostkit-net: at most %d ports\n",
					MAX_PORTS);
				return EXIT_USAGE;
			}
			if (vhk_net_port_parse(optarg, &ports[nports], err,
					       sizeof(err))) {
				fprintf(stderr, "vhostkit-net: --port %s: %s\n",
					optarg, err);
				return EXIT_USAGE;
			}
			nports++;
			break;
		case 'C':
			control = optarg;
			break;
		case 'v':
			vhk_log_set_level(VHK_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vhostkit-net %s\n", VHK_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (d.print_caps)
		return vhk_daemon_print_capabilities(&d);
	/* The back-end program conventions: --socket-path, --fd or socket
	 * activation give one more vhost-user port, port 0. */
	single = d.socket_path || d.fd >= 0 || getenv("LISTEN_FDS");
	if (optind < argc || (!nports && !single)) {
		fprintf(stderr, "vhostkit-net: %s\n", optind < argc ?
			"unexpected argument" : "at least one --port (or --socket-path / --fd) is required (see --help)");
		return EXIT_USAGE;
	}
	if (single) {
		if (nports == MAX_PORTS) {
			fprintf(stderr, "vhostkit-net: at most %d ports\n",
				MAX_PORTS);
			return EXIT_USAGE;
		}
		memmove(&ports[1], &ports[0], nports * sizeof(ports[0]));
		nports++;
		d.own_sockets = false;
	}
	/* --control is the stats socket, which also answers "stats" with
	 * the switch's own counters (vhostkit net stats --control). */
	if (control && d.stats_path && strcmp(control, d.stats_path)) {
		fprintf(stderr, "vhostkit-net: --control and --stats-socket are one socket: give one path\n");
		return EXIT_USAGE;
	}
	if (control)
		d.stats_path = control;
	d.extra_syscalls = net_syscalls;
	for (unsigned int i = 0; i < nports; i++)
		if (ports[i].type == VHK_NET_PT_XDP) {
			d.extra_syscalls = net_xdp_syscalls;
			d.refused_syscalls = net_xdp_refused;
			d.netlink = true;
		}
	for (unsigned int i = single ? 1 : 0; i < nports; i++) {
		if (ports[i].type != VHK_NET_PT_SOCKET)
			continue;
		if (vhk_daemon_keep_dir(&d, ports[i].path) < 0)
			return 1;
		if (ports[i].client)
			d.unix_connect = true;
	}
	if (vhk_daemon_setup(&d, single ? &cfg : NULL, &usage_err) < 0) {
		vhk_daemon_fini(&d);
		return usage_err ? EXIT_USAGE : 1;
	}
	if (single) {
		/* Port 0 with the defaults, on the socket the conventions
		 * gave (created by the daemon layer, inherited or
		 * systemd's). */
		if (vhk_net_port_parse("socket=vhost-user", &ports[0], err,
				       sizeof(err))) {
			vhk_daemon_fini(&d);
			return 1;
		}
		snprintf(ports[0].path, sizeof(ports[0].path), "%s",
			 cfg.socket_path);
		ports[0].client = cfg.connect;
		ports[0].adopt_listen_fd = cfg.adopt_listen_fd;
		ports[0].listen_fd = cfg.listen_fd;
	}
	ret = vhk_net_new(&net);
	for (unsigned int i = 0; !ret && i < nports; i++) {
		ret = vhk_net_add_port(net, &ports[i]);
		if (ret)
			fprintf(stderr, "vhostkit-net: port %s: %s\n",
				ports[i].path, strerror(-ret));
	}
	for (unsigned int i = 0; !ret && i < nports; i++) {
		struct vhk_backend *be = vhk_net_port_backend(net, i);

		if (be)
			vhk_daemon_stats_add(&d, vhk_backend_name(be), be);
	}
	d.stats_text = net_stats_text;
	d.stats_text_arg = net;
	g_net = net;
	if (ret || vhk_daemon_start(&d, NULL) < 0) {
		g_net = NULL;
		vhk_net_free(net);
		vhk_daemon_fini(&d);
		return 1;
	}

	for (unsigned int i = 0; i < nports; i++)
		printf("vhostkit-net: port %u %s %s%s (%u queue pairs)\n", i,
		       ports[i].type == VHK_NET_PT_TAP ? "tap" :
		       ports[i].type == VHK_NET_PT_XDP ? "AF_XDP on" :
		       ports[i].client ? "connecting to" : "listening on",
		       ports[i].path, ports[i].poll ? ", busy-poll" :
		       ports[i].own_thread ? ", own thread" : "",
		       ports[i].queues);
	if (d.stats_path)
		printf("vhostkit-net: control socket %s\n", d.stats_path);
	fflush(stdout);
	ret = vhk_net_run(net, NULL);
	g_net = NULL;
	if (ret < 0)
		fprintf(stderr, "vhostkit-net: %s\n", strerror(-ret));
	vhk_net_free(net);
	vhk_daemon_fini(&d);
	return ret < 0 ? 1 : 0;
}
