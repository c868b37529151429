// SPDX-License-Identifier: MIT
/*
 * cli_net_io.c - `vhostkit net send | recv | bench`: the userspace
 * virtio-net driver (vhostkit/net_driver.h) plays a VM's NIC on a
 * vhost-user net socket (vhostkit-net, DPDK's vhost PMD).
 *
 * Frames sent carry EtherType 0x88b5 (IEEE local experimental) and a
 * payload of a 64-bit sequence number followed by a pattern derived from
 * it, so that the receiving side checks every byte and the order.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/frontend.h"
#include "vhostkit/net_driver.h"
#include "vhostkit/util.h"

#define ETH_HLEN	14
#define SEQ_OFF		ETH_HLEN
#define MIN_FRAME	(ETH_HLEN + 8)
#define ETHERTYPE	0x88b5

struct cli_net {
	struct vhk_fe *fe;
	struct vhk_net_drv *drv;
	uint8_t mac[6];
};

struct net_opts {
	enum cli_dma dma;
	bool packed, no_mrg, busy_poll;
	uint64_t count, size, seconds, timeout_ms, pid;
	uint8_t dst[6];
	bool have_dst, quiet;
};

static int net_open(struct cli_net *n, const char *sock,
		    const struct net_opts *o, uint8_t fallback_mac_tail,
		    const char *cmd)
{
	struct vhk_net_drv_params dp = { .busy_poll = o->busy_poll };
	struct vhk_fe_config cfg;
	int ret;

	n->fe = NULL;
	n->drv = NULL;
	vhk_fe_config_init(&cfg, sock);
	cfg.name = "vhostkit";
	cfg.driver_features = vhk_net_drv_features(o->packed, !o->no_mrg);
	cfg.packed = o->packed;
	cfg.num_queues = 2;
	cfg.type_queues = 2;
	cfg.queue_num_pairs = true;
	cfg.queue_size = 256;
	cfg.mem_size = 16u << 20;
	cfg.bounce_pool_size = 4u << 20;
	cli_dma_config(&cfg, o->dma);
	ret = vhk_fe_connect(&n->fe, &cfg);
	if (ret < 0) {
		fprintf(stderr, "vhostkit %s: cannot connect to %s: %s\n",
			cmd, sock, strerror(-ret));
		return CLI_EXIT_CONNECT;
	}
	ret = vhk_fe_start(n->fe);
	if (ret == 0)
		ret = vhk_net_drv_new(&n->drv, n->fe, &dp);
	if (ret < 0) {
		fprintf(stderr, "vhostkit %s: %s: device setup failed: %s\n",
			cmd, sock, strerror(-ret));
		vhk_fe_close(n->fe);
		n->fe = NULL;
		return CLI_EXIT_CONNECT;
	}
	if (vhk_net_drv_mac(n->drv, n->mac) < 0) {
		/* no MAC from the device: a locally administered one */
		static const uint8_t base[6] = { 0x02, 0x76, 0x68, 0x6b, 0, 0 };

		memcpy(n->mac, base, 6);
		n->mac[5] = fallback_mac_tail;
	}
	return CLI_EXIT_OK;
}

static void net_close(struct cli_net *n)
{
	if (n->fe && n->drv)
		vhk_fe_stop(n->fe);
	vhk_net_drv_free(n->drv);
	if (n->fe)
		vhk_fe_close(n->fe);
	n->fe = NULL;
	n->drv = NULL;
}

static uint8_t pat(uint64_t seq, size_t i)
{
	return (uint8_t)(seq * 131 + i * 7 + (i >> 8));
}

static void build_frame(uint8_t *f, size_t len, const uint8_t dst[6],
			const uint8_t src[6], uint64_t seq)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETHERTYPE >> 8;
	f[13] = ETHERTYPE & 0xff;
	memcpy(f + SEQ_OFF, &seq, 8);
	for (size_t i = MIN_FRAME; i < len; i++)
		f[i] = pat(seq, i);
}

/* 1 if @f is one of ours and intact (seq in *@seq), 0 if not ours, -1 if
 * ours and corrupt. */
static int check_frame(const uint8_t *f, size_t len, uint64_t *seq)
{
	if (len < MIN_FRAME || f[12] != (ETHERTYPE >> 8) ||
	    f[13] != (ETHERTYPE & 0xff))
		return 0;
	memcpy(seq, f + SEQ_OFF, 8);
	for (size_t i = MIN_FRAME; i < len; i++)
		if (f[i] != pat(*seq, i))
			return -1;
	return 1;
}

/* Send one frame, reclaiming / flushing while the ring is full. */
static int send_one(struct cli_net *n, const uint8_t *f, size_t len,
		    const atomic_bool *stop)
{
	for (;;) {
		int ret = vhk_net_drv_send(n->drv, NULL, f, len);

		if (ret != -EAGAIN)
			return ret;
		ret = vhk_net_drv_flush(n->drv);
		if (ret < 0)
			return ret;
		if (stop && atomic_load(stop))
			return -EINTR;
		if (!vhk_fe_connected(n->fe))
			return -ECONNRESET;
		sched_yield();
	}
}

static const char net_io_help[] =
"Usage: vhostkit net send SOCKET [--count N] [--size BYTES] [--dst MAC]\n"
"       vhostkit net recv SOCKET [--count N] [--timeout MS] [--quiet]\n"
"       vhostkit net bench SOCKET_A SOCKET_B [--size BYTES] [--seconds S]\n"
"                          [--pid PID]\n"
"  common: [--dma direct|iommu-strict|iommu-lazy|bounce] [--packed]\n"
"          [--no-mrg] [--busy-poll]\n"
"\n"
"A userspace virtio-net driver plays a VM's NIC on the vhost-user net\n"
"SOCKET (so no VM may be attached to it).  Frames carry EtherType 0x88b5\n"
"and a sequence number with a pattern derived from it.\n"
"  send   N frames (default 1) of BYTES (default 64, 22..1518) from the\n"
"         device's MAC (or 02:76:68:6b:00:01) to MAC (default broadcast).\n"
"  recv   wait for N frames (default 1), up to MS per frame (default\n"
"         5000); one line per frame unless --quiet; frames of ours are\n"
"         checked byte for byte.  Exit 1 if fewer arrived or one was\n"
"         corrupt.\n"
"  bench  one driver sends on SOCKET_A as fast as the ring takes frames,\n"
"         another receives on SOCKET_B (two threads; e.g. two ports of\n"
"         one vhostkit-net), for S seconds (default 5): frames and bytes\n"
"         per second received, frames lost on the way, corrupt or\n"
"         reordered frames (exit 1 if any), and with --pid the daemon's\n"
"         CPU time per frame.\n";

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4],
		   &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct net_opts *o,
		      const char *cmd)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "dst", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "pid", required_argument, NULL, 'p' },
		{ "dma", required_argument, NULL, 'D' },
		{ "packed", no_argument, NULL, 'P' },
		{ "no-mrg", no_argument, NULL, 'M' },
		{ "busy-poll", no_argument, NULL, 'B' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct net_opts){ .count = 1, .size = 64, .seconds = 5,
				.timeout_ms = 5000 };
	memset(o->dst, 0xff, 6);
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:s:d:t:S:p:D:PMBqh", longopts,
				NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case 'n': bad = cli_parse_u64(optarg, &o->count); break;
		case 's': bad = cli_parse_size(optarg, &o->size); break;
		case 't': bad = cli_parse_u64(optarg, &o->timeout_ms); break;
		case 'S': bad = cli_parse_u64(optarg, &o->seconds); break;
		case 'p': bad = cli_parse_u64(optarg, &o->pid); break;
		case 'D': bad = cli_parse_dma(optarg, &o->dma); break;
		case 'd':
			bad = parse_mac(optarg, o->dst);
			o->have_dst = true;
			break;
		case 'P': o->packed = true; break;
		case 'M': o->no_mrg = true; break;
		case 'B': o->busy_poll = true; break;
		case 'q': o->quiet = true; break;
		case 'h':
			fputs(net_io_help, stdout);
			return -1;
		default:
			return cli_usage_error(cmd, "see --help");
		}
		if (bad)
			return cli_usage_error(cmd, "bad option value '%s'",
					       optarg);
	}
	if (o->size < MIN_FRAME || o->size > 1518)
		return cli_usage_error(cmd, "--size must be %d..1518",
				       MIN_FRAME);
	if (o->timeout_ms > 3600000 || o->seconds == 0 || o->seconds > 3600)
		return cli_usage_error(cmd, "--timeout up to 3600000 ms, "
				       "--seconds 1..3600");
	return 0;
}

static int do_send(const char *sock, const struct net_opts *o)
{
	struct cli_net n;
	uint8_t f[1518];
	int ret = net_open(&n, sock, o, 1, "net send"), rc = CLI_EXIT_OK;

	if (ret)
		return ret;
	for (uint64_t i = 0; i < o->count; i++) {
		build_frame(f, o->size, o->dst, n.mac, i);
		ret = send_one(&n, f, o->size, NULL);
		if (ret < 0) {
			fprintf(stderr, "vhostkit net send: frame %" PRIu64
				": %s\n", i, strerror(-ret));
			rc = CLI_EXIT_FAIL;
			break;
		}
	}
	if (rc == CLI_EXIT_OK && (ret = vhk_net_drv_flush(n.drv)) < 0)
		rc = CLI_EXIT_FAIL;
	/* wait (bounded) until the device has taken every frame */
	for (int k = 0; rc == CLI_EXIT_OK && k < 5000; k++) {
		vhk_net_drv_reclaim(n.drv);
		if (vhk_drv_vq_num_free(vhk_fe_queue(n.fe, 1)) ==
		    vhk_drv_vq_size(vhk_fe_queue(n.fe, 1)))
			break;
		usleep(1000);
	}
	if (rc == CLI_EXIT_OK)
		printf("sent %" PRIu64 " frames of %" PRIu64 " bytes\n",
		       o->count, o->size);
	net_close(&n);
	return rc;
}

static int do_recv(const char *sock, const struct net_opts *o)
{
	struct cli_net n;
	uint8_t f[65536 + 14];
	struct vhk_net_hdr h;
	uint64_t got = 0, bad = 0, seq;
	int ret = net_open(&n, sock, o, 2, "net recv");

	if (ret)
		return ret;
	while (got < o->count) {
		ret = vhk_net_drv_recv(n.drv, &h, f, sizeof(f),
				       (int)o->timeout_ms);
		if (ret < 0)
			break;
		got++;
		int k = check_frame(f, (size_t)ret, &seq);

		if (k < 0)
			bad++;
		if (!o->quiet)
			printf("%02x:%02x:%02x:%02x:%02x:%02x > "
			       "%02x:%02x:%02x:%02x:%02x:%02x type 0x%02x%02x "
			       "len %d%s\n", f[6], f[7], f[8], f[9], f[10],
			       f[11], f[0], f[1], f[2], f[3], f[4], f[5],
			       ret >= 14 ? f[12] : 0, ret >= 14 ? f[13] : 0,
			       ret, k > 0 ? " ok" : k < 0 ? " CORRUPT" : "");
	}
	if (ret < 0 && got < o->count)
		fprintf(stderr, "vhostkit net recv: %s after %" PRIu64
			" frames\n", strerror(-ret), got);
	printf("received %" PRIu64 " frames, %" PRIu64 " corrupt\n", got,
	       bad);
	net_close(&n);
	return got == o->count && !bad ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

/* ---- bench ------------------------------------------------------------- */

struct bench_tx {
	struct cli_net *n;
	const struct net_opts *o;
	const uint8_t *dst;
	atomic_bool stop;
	uint64_t sent;
	int err;
};

static void *bench_sender(void *arg)
{
	struct bench_tx *t = arg;
	uint8_t f[1518];
	uint64_t seq = 0;

	while (!atomic_load(&t->stop)) {
		for (int b = 0; b < 32; b++) {
			build_frame(f, t->o->size, t->dst, t->n->mac, seq);
			int ret = send_one(t->n, f, t->o->size, &t->stop);

			if (ret == -EINTR)
				break;
			if (ret < 0) {
				t->err = ret;
				return NULL;
			}
			seq++;
		}
		if (vhk_net_drv_flush(t->n->drv) < 0) {
			t->err = -EIO;
			return NULL;
		}
	}
	t->sent = seq;
	return NULL;
}

static uint64_t proc_cpu_ns(uint64_t pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			 "%lu %lu", &ut, &st) != 2)
		return 0;
	return (uint64_t)(ut + st) * (1000000000ull /
				     (uint64_t)sysconf(_SC_CLK_TCK));
}

static int do_bench(const char *sa, const char *sb, const struct net_opts *o)
{
	struct cli_net a, b;
	struct bench_tx t = { .o = o };
	uint8_t f[65536 + 14], hello[64];
	uint64_t got = 0, bad = 0, reorder = 0, last = 0, seq, t0, t1, c0, c1;
	uint64_t drained, lost;
	pthread_t th;
	int ret, rc = CLI_EXIT_OK;

	ret = net_open(&a, sa, o, 1, "net bench");
	if (ret)
		return ret;
	ret = net_open(&b, sb, o, 2, "net bench");
	if (ret) {
		net_close(&a);
		return ret;
	}
	/* B speaks first, so that a learning switch knows where B is and
	 * A's frames go to B alone (not flooded). */
	build_frame(hello, sizeof(hello), (const uint8_t[6]){ 0xff, 0xff,
			0xff, 0xff, 0xff, 0xff }, b.mac, UINT64_MAX);
	if (send_one(&b, hello, sizeof(hello), NULL) < 0 ||
	    vhk_net_drv_flush(b.drv) < 0) {
		fprintf(stderr, "vhostkit net bench: B cannot send\n");
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	usleep(100000);
	while (vhk_net_drv_recv(a.drv, NULL, f, sizeof(f), 0) >= 0)
		;	/* A sees B's hello (flooded) */
	t.n = &a;
	t.dst = b.mac;
	c0 = o->pid ? proc_cpu_ns(o->pid) : 0;
	t0 = vhk_now_ns();
	if (pthread_create(&th, NULL, bench_sender, &t)) {
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	while (vhk_now_ns() - t0 < o->seconds * 1000000000ull) {
		ret = vhk_net_drv_recv(b.drv, NULL, f, sizeof(f), 200);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret < 0)
			break;
		int k = check_frame(f, (size_t)ret, &seq);

		if (k == 0)
			continue;
		if (k < 0 || (size_t)ret != o->size) {
			bad++;
			continue;
		}
		if (got && seq <= last)
			reorder++;
		last = seq;
		got++;
	}
	t1 = vhk_now_ns();
	c1 = o->pid ? proc_cpu_ns(o->pid) : 0;
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);
	/* what was in flight at the stop is not lost: drain it (uncounted
	 * in the rate, counted against the loss) */
	drained = 0;
	while (vhk_net_drv_recv(b.drv, NULL, f, sizeof(f), 300) > 0)
		drained++;
	if (t.err) {
		fprintf(stderr, "vhostkit net bench: sender: %s\n",
			strerror(-t.err));
		rc = CLI_EXIT_FAIL;
	}
	{
		double s = (double)(t1 - t0) / 1e9;
		double pps = (double)got / s;

		lost = t.sent > got + drained ? t.sent - got - drained : 0;
		printf("net bench: %" PRIu64 " B frames, %.1f s, dma %s, %s "
		       "ring%s\n", o->size, s, cli_dma_name(o->dma),
		       o->packed ? "packed" : "split",
		       o->no_mrg ? ", no MRG_RXBUF" : "");
		printf("  sent %" PRIu64 ", received %" PRIu64 " (%.3f Mpps, "
		       "%.2f Gbit/s), lost %" PRIu64 " (%.2f%%)\n", t.sent, got,
		       pps / 1e6, pps * (double)o->size * 8 / 1e9, lost,
		       t.sent ? 100.0 * (double)lost / (double)t.sent : 0.0);
		if (o->pid && got)
			printf("  daemon CPU: %.0f ns per frame received\n",
			       (double)(c1 - c0) / (double)got);
		printf("  corrupt %" PRIu64 ", out of order %" PRIu64 "\n", bad,
		       reorder);
	}
	if (bad || reorder || !got)
		rc = CLI_EXIT_FAIL;
out:
	net_close(&a);
	net_close(&b);
	return rc;
}

int cli_net_io_main(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct net_opts o;
	char name[32];
	int need = !strcmp(cmd, "bench") ? 2 : 1, ret;

	snprintf(name, sizeof(name), "net %s", cmd);
	if (argc >= 2 && cli_is_help(argv[1])) {
		fputs(net_io_help, stdout);
		return CLI_EXIT_OK;
	}
	if (argc < 1 + need || argv[1][0] == '-' ||
	    (need == 2 && argv[2][0] == '-'))
		return cli_usage_error(name, "%s", need == 2 ?
				       "SOCKET_A SOCKET_B required" :
				       "SOCKET required");
	ret = parse_opts(argc - need, argv + need, &o, name);
	if (ret)
		return ret < 0 ? CLI_EXIT_OK : ret;
	if (!strcmp(cmd, "send"))
		return do_send(argv[1], &o);
	if (!strcmp(cmd, "recv"))
		return do_recv(argv[1], &o);
	return do_bench(argv[1], argv[2], &o);
}
