/* SPDX-License-Identifier: MIT */
/*
 * vhostkit-vsock - vhost-user virtio-vsock back-end daemon with the hybrid
 * Unix-socket host side; one process serves one or more VMs (siblings).
 * See docs/vhostkit-vsock.md.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "vhostkit/vsock.h"
#include "vsock_opts.h"

#define EXIT_USAGE	2
#define OPT_POLL	0x2000
#define POLL_US_DEFAULT	50	/* --poll without a value */

struct vm_run {
	struct vhk_vsock *vs;
	struct vhk_backend *be;
	pthread_t thread;
	bool started;
	int ret;
};

static struct vm_run g_vms[VSOCK_OPTS_MAX_VMS];
static unsigned int g_nvms;
static unsigned int g_poll_us;

/* QEMU's vhost-user.json: type vsock (no feature list defined). */
static const char vsock_caps[] = "{\"type\": \"vsock\"}";

static void usage(FILE *out)
{
	fprintf(out,
"Usage: vhostkit-vsock --vm guest-cid=N,socket=PATH,uds-path=PATH[,...] [...]\n"
"       vhostkit-vsock (--socket-path PATH | --fd FDNUM)\n"
"                      --vm guest-cid=N,uds-path=PATH[,...] [OPTIONS]\n"
"       vhostkit-vsock --config FILE [OPTIONS]\n"
"\n"
"Serve virtio-vsock devices (VIRTIO 1.2, 5.10) to vhost-user front-ends\n"
"such as QEMU's vhost-user-vsock-pci, bridging the guests' AF_VSOCK\n"
"STREAM and SEQPACKET sockets to Unix sockets on the host:\n"
"  host -> guest: connect to uds-path, write \"CONNECT <port>\\n\", read\n"
"                 \"OK <hostport>\\n\" once the guest accepted (the socket is\n"
"                 closed if it refused); then the socket is the stream.\n"
"  guest -> host: a guest connecting to CID 2 port P reaches the Unix\n"
"                 socket \"<uds-path>_<P>\" (listen there first).\n"
"  guest -> guest: VMs of one daemon that share a group reach each other\n"
"                 by CID.\n"
"\n"
"Options:\n"
"  --vm guest-cid=N,socket=PATH,uds-path=PATH[,tx-buffer-size=BYTES]\n"
"       [,queue-size=N][,groups=NAME+NAME...]\n"
"                          One VM (repeat for siblings); the same syntax as\n"
"                          vhost-device-vsock:\n"
"                          guest-cid  the guest's CID; 0, 1, 2, 0xffffffff\n"
"                                     and values above 32 bits are refused\n"
"                          socket     vhost-user socket (created and\n"
"                                     listened on, unless --connect)\n"
"                          uds-path   the host side's Unix socket\n"
"                          tx-buffer-size  bytes per connection the guest\n"
"                                     may send before the host reads them\n"
"                                     (the credit we give, 4096-67108864,\n"
"                                     default 262144)\n"
"                          queue-size largest virtqueue accepted (default\n"
"                                     32768)\n"
"                          groups     sibling groups (default \"default\")\n"
"  --config FILE           VMs from a YAML file:\n"
"                            vms:\n"
"                              - guest_cid: 3\n"
"                                socket: /tmp/vm3.vhost\n"
"                                uds_path: /tmp/vm3.vsock\n"
"                                tx_buffer_size: 262144   # optional\n"
"                                queue_size: 1024         # optional\n"
"                                groups: default          # optional\n"
"  -i, --iommu auto|on|off Device IOTLB policy (default auto):\n"
"                          on:   VIRTIO_F_ACCESS_PLATFORM means IOTLB; refused\n"
"                                unless the back-end channel and REPLY_ACK exist.\n"
"                          off:  never offer ACCESS_PLATFORM (pKVM, swiotlb).\n"
"                          auto: offer it; IOTLB if a channel, else identity.\n"
"  -1, --once              Exit when every VM's first front-end has left\n"
"                          (default: wait for the next one).\n"
"  --poll[=US]             Adaptive polling: after handling work, each VM's\n"
"                          thread looks again without sleeping for US\n"
"                          microseconds (default 50) before it sleeps until\n"
"                          the next event; saves a wake-up per step of a\n"
"                          request / reply exchange, costs up to US of CPU\n"
"                          after each burst.  0: sleep at once (default).\n"
"  -v, --verbose           Debug logging (same as VHOSTKIT_LOG=debug).\n"
"  -h, --help              Print this help and exit.\n"
"  -V, --version           Print the version and exit.\n"
"\n");
	fprintf(out,
"With --socket-path, --fd or systemd socket activation (below) the daemon\n"
"serves one VM, given without socket= (--vm guest-cid=N,uds-path=PATH).\n"
"-c, --connect connects to each VM's socket instead of listening.\n"
"\n");
	vhk_daemon_usage(out);
	fprintf(out,
"\n"
"The device offers VERSION_1, INDIRECT_DESC, EVENT_IDX, RING_PACKED,\n"
"VIRTIO_VSOCK_F_SEQPACKET and (unless --iommu=off) ACCESS_PLATFORM, and the\n"
"CONFIG protocol feature (QEMU reads guest_cid with GET_CONFIG).  Each VM\n"
"runs on its own thread.  A device reset or a front-end that leaves closes\n"
"the VM's connections; the guest learns it by TRANSPORT_RESET when the\n"
"front-end gives the event queue, else by RST on its next packet.\n"
"SIGTERM and SIGINT stop the daemon; SIGHUP reopens --log-file.\n"
"\n"
"Exit status: 0 on a clean stop, 1 on a runtime error (socket), 2 on a\n"
"usage error (including a refused CID).\n"
"\n"
"Example:\n"
"  vhostkit-vsock --vm guest-cid=3,socket=/tmp/vm3.vhost,uds-path=/tmp/vm3.vsock &\n"
"  qemu-system-x86_64 -machine q35 -m 512 \\\n"
"    -object memory-backend-memfd,id=mem,size=512M,share=on \\\n"
"    -numa node,memdev=mem \\\n"
"    -chardev socket,id=c0,path=/tmp/vm3.vhost \\\n"
"    -device vhost-user-vsock-pci,chardev=c0 ...\n");
}

/*
 * Beyond the shared allowlist (tools/daemon/sandbox.c): the per-VM tick
 * timer, and removing uds-path / the vhost-user socket on exit.
 */
static const char *const vsock_syscalls[] = {
	"timerfd_settime", "timerfd_gettime", "unlink", NULL,
};

static void stop_all(void)
{
	unsigned int i;

	for (i = 0; i < g_nvms; i++)
		if (g_vms[i].be)
			vhk_backend_stop(g_vms[i].be);
}

static void *vm_thread(void *arg)
{
	struct vm_run *r = arg;

	r->ret = vhk_daemon_run_loop(r->be, g_poll_us);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		VHK_DAEMON_LONGOPTS,
		{ "vm", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'f' },
		{ "iommu", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, '1' },
		{ "poll", optional_argument, NULL, OPT_POLL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vsock_vm_list vms;
	struct vhk_backend_config base = { .name = NULL };
	struct vhk_backend_config one = { .name = NULL };
	bool single;
	struct vhk_vsock_hub *hub = NULL;
	struct vhk_daemon d;
	bool usage_err;
	char err[512];
	unsigned int i;
	int c, ret, status = 0;

	vhk_daemon_init(&d, "vhostkit-vsock", vsock_caps);
	d.on_stop = stop_all;
	while ((c = getopt_long(argc, argv, VHK_DAEMON_SHORTOPTS "i:1vhV",
				longopts, NULL)) != -1) {
		ret = vhk_daemon_option(&d, c, optarg);
		if (ret < 0)
			return EXIT_USAGE;
		if (ret > 0)
			continue;
		switch (c) {
		case 'm':
			if (vsock_parse_vm(&vms, optarg, err, sizeof(err))) {
				fprintf(stderr, "vhostkit-vsock: --vm %s: %s\n",
					optarg, err);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			if (vsock_parse_config(&vms, optarg, err,
					       sizeof(err))) {
				fprintf(stderr, "vhostkit-vsock: --config %s\n",
					err);
				return EXIT_USAGE;
			}
			break;
		case 'i':
			if (vhk_iommu_policy_parse(optarg, &base.iommu)) {
				fprintf(stderr, "vhostkit-vsock: --iommu must be auto, on or off, not '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case '1':
			base.once = true;
			break;
		case OPT_POLL: {
			char *end;
			unsigned long v = POLL_US_DEFAULT;

			if (optarg) {
				errno = 0;
				v = strtoul(optarg, &end, 0);
				if (errno || end == optarg || *end ||
				    v > 1000000) {
					fprintf(stderr, "vhostkit-vsock: --poll must be 0-1000000 microseconds, not '%s'\n",
						optarg);
					return EXIT_USAGE;
				}
			}
			g_poll_us = (unsigned int)v;
			break;
		}
		case 'v':
			vhk_log_set_level(VHK_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("vhostkit-vsock %s\n", VHK_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (d.print_caps)
		return vhk_daemon_print_capabilities(&d);
	if (optind < argc) {
		fprintf(stderr, "vhostkit-vsock: unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	/* The back-end program conventions: one VM without socket= takes
	 * its vhost-user socket from --socket-path, --fd or systemd. */
	single = d.socket_path || d.fd >= 0 || getenv("LISTEN_FDS");
	d.own_sockets = !single;
	if (single && (vms.n != 1 || vms.vm[0].socket)) {
		fprintf(stderr, "vhostkit-vsock: --socket-path / --fd / socket activation serve one VM given without socket= (--vm guest-cid=N,uds-path=PATH)\n");
		vsock_free_vms(&vms);
		return EXIT_USAGE;
	}
	if (single) {
		if (vhk_daemon_setup(&d, &one, &usage_err) < 0) {
			vsock_free_vms(&vms);
			vhk_daemon_fini(&d);
			return usage_err ? EXIT_USAGE : 1;
		}
		vms.vm[0].socket = strdup(one.socket_path);
		if (!vms.vm[0].socket)
			return 1;
	}
	if (vsock_check_vms(&vms, err, sizeof(err))) {
		fprintf(stderr, "vhostkit-vsock: %s\n", err);
		vsock_free_vms(&vms);
		return EXIT_USAGE;
	}

	/* The steady state reaches each VM's sockets by path: connects to
	 * "<uds-path>_<port>", removes uds-path and the vhost-user socket
	 * on exit, reconnects with --connect. */
	d.unix_connect = true;
	d.extra_syscalls = vsock_syscalls;
	for (i = 0; i < vms.n; i++)
		if (vhk_daemon_keep_dir(&d, vms.vm[i].uds_path) < 0 ||
		    (!single &&
		     vhk_daemon_keep_dir(&d, vms.vm[i].socket) < 0)) {
			vsock_free_vms(&vms);
			vhk_daemon_fini(&d);
			return 1;
		}
	if (!single && vhk_daemon_setup(&d, NULL, &usage_err) < 0) {
		vsock_free_vms(&vms);
		vhk_daemon_fini(&d);
		return 1;
	}
	if (single) {
		base.connect = one.connect;
		base.adopt_listen_fd = one.adopt_listen_fd;
		base.listen_fd = one.listen_fd;
	} else {
		base.connect = d.connect;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = vhk_vsock_hub_new(&hub);
	if (ret)
		return 1;
	for (i = 0; i < vms.n && !status; i++) {
		const struct vsock_vm_opts *v = &vms.vm[i];
		struct vhk_vsock_opts o = {
			.guest_cid = v->guest_cid,
			.uds_path = v->uds_path,
			.tx_buffer_size = v->tx_buffer_size,
			.queue_size = v->queue_size,
			.groups = v->groups,
		};
		struct vhk_backend_config cfg = base;
		struct vm_run *r = &g_vms[i];
		char name[32];

		snprintf(name, sizeof(name), "vsock%llu",
			 (unsigned long long)v->guest_cid);
		o.name = name;
		cfg.name = name;
		cfg.socket_path = v->socket;
		ret = vhk_vsock_new(&r->vs, hub, &o);
		if (ret) {
			fprintf(stderr, "vhostkit-vsock: VM %llu: %s: %s\n",
				(unsigned long long)v->guest_cid, v->uds_path,
				strerror(-ret));
			status = 1;
			break;
		}
		g_nvms = i + 1;
		ret = vhk_backend_new(&r->be, &cfg, &vhk_vsock_ops, r->vs);
		if (!ret)
			ret = vhk_daemon_stats_add(&d, vhk_backend_name(r->be),
						   r->be);
		if (ret) {
			fprintf(stderr, "vhostkit-vsock: VM %llu: %s: %s\n",
				(unsigned long long)v->guest_cid, v->socket,
				strerror(-ret));
			status = 1;
			break;
		}
		printf("vhostkit-vsock: VM cid %llu: %s %s, host side %s (groups %s, iommu %s, poll %u us)\n",
		       (unsigned long long)v->guest_cid,
		       cfg.connect ? "connecting to" : "listening on",
		       v->socket, v->uds_path,
		       v->groups ? v->groups : "default",
		       vhk_iommu_policy_name(cfg.iommu), g_poll_us);
	}
	fflush(stdout);

	if (!status && vhk_daemon_start(&d, NULL) < 0)
		status = 1;

	for (i = 0; i < g_nvms && !status; i++) {
		struct vm_run *r = &g_vms[i];

		if (pthread_create(&r->thread, NULL, vm_thread, r)) {
			fprintf(stderr, "vhostkit-vsock: cannot start a thread\n");
			status = 1;
			stop_all();
			break;
		}
		r->started = true;
	}
	for (i = 0; i < g_nvms; i++) {
		struct vm_run *r = &g_vms[i];

		if (r->started) {
			pthread_join(r->thread, NULL);
			if (r->ret < 0) {
				fprintf(stderr, "vhostkit-vsock: VM %u: %s\n",
					vhk_vsock_guest_cid(r->vs),
					strerror(-r->ret));
				status = 1;
			}
		}
	}
	for (i = 0; i < g_nvms; i++) {
		struct vhk_backend *be = g_vms[i].be;

		g_vms[i].be = NULL;
		vhk_backend_free(be);
		vhk_vsock_free(g_vms[i].vs);
	}
	vhk_vsock_hub_free(hub);
	vsock_free_vms(&vms);
	vhk_daemon_fini(&d);
	return status;
}
