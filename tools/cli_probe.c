// SPDX-License-Identifier: MIT
/*
 * cli_probe.c - `vhostkit probe SOCKET`: ask any vhost-user back-end what
 * it is and what it can do, without changing its state.
 *
 * The probe talks the wire protocol directly (vhostkit/vhost_user.h) and
 * sends only the queries QEMU sends when it first meets a back-end, in
 * QEMU's order: GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES
 * (only bits it needs to ask questions: MQ, CONFIG), GET_QUEUE_NUM,
 * GET_MAX_MEM_SLOTS, SET_OWNER, GET_CONFIG.  No memory table, no rings: the
 * back-end sees an ordinary front-end that connected and left.  It talks
 * the wire directly rather than through the front-end library because it
 * must report what the back-end *offers*, not what a driver negotiated.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhostkit/blk_driver.h"
#include "vhostkit/features.h"
#include "vhostkit/vhost_user.h"
#include "vhostkit/features_text.h"
#include "cli.h"

static const char probe_help[] =
"NAME\n"
"    vhostkit probe - describe a vhost-user back-end\n"
"\n"
"SYNOPSIS\n"
"    vhostkit probe SOCKET [--type blk|net|vsock] [--timeout MS]\n"
"\n"
"DESCRIPTION\n"
"    Connects to the vhost-user back-end listening on the Unix socket\n"
"    SOCKET (vhostkit-blk, qemu-storage-daemon, DPDK, ...) and prints:\n"
"\n"
"    - the device type.  vhost-user has no message that names it, so it\n"
"      is inferred from the features and the configuration space and the\n"
"      reason is printed; --type overrides the guess;\n"
"    - the virtio features offered, one line per bit with owner\n"
"      (transport, platform, vhost-user, device) and meaning;\n"
"    - the protocol features offered, decoded the same way;\n"
"    - the number of queues (GET_QUEUE_NUM) and memory slots;\n"
"    - the configuration space (blk: capacity, seg_max, size_max,\n"
"      blk_size, num_queues, discard and write-zeroes limits ...);\n"
"    - the translation modes the back-end can run:\n"
"        gpa                always (ACCESS_PLATFORM not negotiated);\n"
"        platform-identity  it offers ACCESS_PLATFORM (bit 33);\n"
"        iotlb              it also offers BACKEND_REQ and REPLY_ACK, so a\n"
"                           front-end can provide a device IOTLB;\n"
"        persist            it offers protocol bit 63 (IOTLB_PERSIST):\n"
"                           IOTLB entries survive a device reset.\n"
"\n"
"    The probe sends only queries and SET_OWNER, the messages QEMU sends\n"
"    when it first connects; it sets up no memory and no queue.\n"
"    A back-end that serves one front-end at a time must be idle.\n"
"\n"
"OPTIONS\n"
"    -t, --type TYPE     blk, net or vsock: do not guess the device type.\n"
"    -T, --timeout MS    give up on a back-end that does not answer\n"
"                        (default 3000).\n"
"    -h, --help          this text.\n"
"\n"
"EXIT STATUS\n"
"    0 success, 1 malformed answer, 2 bad command line, 3 could not\n"
"    connect or the back-end hung up.\n"
"\n"
"EXAMPLES\n"
"    vhostkit probe /tmp/vhost-blk.sock\n"
"    vhostkit probe /var/run/vsock.sock --type vsock\n";

struct probe {
	int sock;
	const char *path;
	uint64_t features;
	uint64_t protocol;		/* offered */
	uint64_t acked_protocol;
	bool has_protocol;
	uint64_t queues;
	bool queues_known;
	uint64_t mem_slots;
	bool mem_slots_known;
	uint8_t config[VHK_VU_CONFIG_MAX];
	uint32_t config_len;
};

static int probe_connect(struct probe *p, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = {
		.tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000,
	};

	if (strlen(p->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, p->path);
	p->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (p->sock < 0)
		return -errno;
	/* A back-end that stops answering must not hang the probe. */
	setsockopt(p->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(p->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(p->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(p->sock);
		p->sock = -1;
		return e;
	}
	return 0;
}

/* Send @req with @size payload bytes from @m; no reply expected. */
static int send_msg(struct probe *p, struct vhk_vu_msg *m, uint32_t req,
		    uint32_t size)
{
	m->hdr.request = req;
	m->hdr.flags = VHK_VU_VERSION;
	m->hdr.size = size;
	return vhk_vu_send(p->sock, m, NULL, 0);
}

/* Send and read the reply into @m; checks request, flags and size. */
static int call(struct probe *p, struct vhk_vu_msg *m, uint32_t req,
		uint32_t size, uint32_t reply_min)
{
	unsigned int nfds = 0;
	int fds[VHK_VU_MAX_FDS];
	int ret;

	ret = send_msg(p, m, req, size);
	if (ret < 0)
		return ret;
	ret = vhk_vu_recv(p->sock, m, fds, &nfds, VHK_VU_MAX_FDS);
	while (nfds)
		close(fds[--nfds]);
	if (ret < 0)
		return ret;
	if (m->hdr.request != req || !(m->hdr.flags & VHK_VU_FLAG_REPLY)) {
		fprintf(stderr, "vhostkit probe: %s answered with request %u "
			"flags 0x%x\n", vhk_vu_request_name(req),
			m->hdr.request, m->hdr.flags);
		return -EPROTO;
	}
	if (m->hdr.size < reply_min) {
		fprintf(stderr, "vhostkit probe: %s reply of %u bytes, "
			"expected %u\n", vhk_vu_request_name(req),
			m->hdr.size, reply_min);
		return -EPROTO;
	}
	return 0;
}

static int get_u64(struct probe *p, uint32_t req, uint64_t *out)
{
	struct vhk_vu_msg m;
	int ret;

	memset(&m, 0, sizeof(m));
	ret = call(p, &m, req, 0, sizeof(uint64_t));
	if (ret == 0)
		*out = m.payload.u64;
	return ret;
}

static int get_config(struct probe *p, uint32_t len)
{
	struct vhk_vu_msg m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.payload.config.offset = 0;
	m.payload.config.size = len;
	m.payload.config.flags = 0;
	ret = call(p, &m, VHK_VU_GET_CONFIG, 12 + len, 12);
	if (ret < 0)
		return ret;
	/* An empty or short answer means the back-end refused. */
	if (m.hdr.size != 12 + len || m.payload.config.size != len)
		return -EIO;
	memcpy(p->config, m.payload.config.region, len);
	p->config_len = len;
	return 0;
}

static int run_queries(struct probe *p)
{
	struct vhk_vu_msg m;
	int ret;

	ret = get_u64(p, VHK_VU_GET_FEATURES, &p->features);
	if (ret < 0)
		return ret;
	p->has_protocol = vhk_has_feature(p->features,
					  VHK_F_PROTOCOL_FEATURES);
	if (!p->has_protocol)
		goto owner;
	ret = get_u64(p, VHK_VU_GET_PROTOCOL_FEATURES, &p->protocol);
	if (ret < 0)
		return ret;
	/*
	 * Ack only what the questions need; REPLY_ACK deliberately not,
	 * so that no message below expects an extra reply.
	 */
	p->acked_protocol = 0;
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_MQ))
		vhk_set_feature(&p->acked_protocol, VHK_PROTO_F_MQ);
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_CONFIG))
		vhk_set_feature(&p->acked_protocol, VHK_PROTO_F_CONFIG);
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_CONFIGURE_MEM_SLOTS))
		vhk_set_feature(&p->acked_protocol,
				VHK_PROTO_F_CONFIGURE_MEM_SLOTS);
	memset(&m, 0, sizeof(m));
	m.payload.u64 = p->acked_protocol;
	ret = send_msg(p, &m, VHK_VU_SET_PROTOCOL_FEATURES, sizeof(uint64_t));
	if (ret < 0)
		return ret;
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_MQ)) {
		ret = get_u64(p, VHK_VU_GET_QUEUE_NUM, &p->queues);
		if (ret < 0)
			return ret;
		p->queues_known = true;
	}
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_CONFIGURE_MEM_SLOTS)) {
		ret = get_u64(p, VHK_VU_GET_MAX_MEM_SLOTS, &p->mem_slots);
		if (ret < 0)
			return ret;
		p->mem_slots_known = true;
	}
owner:
	memset(&m, 0, sizeof(m));
	return send_msg(p, &m, VHK_VU_SET_OWNER, 0);
}

/*
 * vhost-user has no "device type" message: guess from the device feature
 * bits only one device type offers.  Protocol bits are no evidence: DPDK's
 * vhost library offers the net-only RARP / NET_MTU for every device type,
 * so they are only the last, stated-as-weak hint.  Returns the type and
 * sets *@why.
 */
static enum vhk_device_type infer_type(const struct probe *p,
				       const char **why)
{
	uint64_t f = p->features;
	unsigned int blk_marks = 0;

	if (vhk_has_feature(f, VHK_NET_F_MRG_RXBUF) &&
	    (vhk_has_feature(f, VHK_NET_F_CTRL_VQ) ||
	     vhk_has_feature(f, VHK_NET_F_MAC) ||
	     vhk_has_feature(f, VHK_NET_F_GUEST_TSO4))) {
		*why = "offers MRG_RXBUF with CTRL_VQ/MAC/GUEST_TSO4 (net bits)";
		return VHK_DEV_NET;
	}
	blk_marks += vhk_has_feature(f, VHK_BLK_F_SEG_MAX);
	blk_marks += vhk_has_feature(f, VHK_BLK_F_BLK_SIZE);
	blk_marks += vhk_has_feature(f, VHK_BLK_F_FLUSH);
	blk_marks += vhk_has_feature(f, VHK_BLK_F_DISCARD);
	blk_marks += vhk_has_feature(f, VHK_BLK_F_WRITE_ZEROES);
	blk_marks += vhk_has_feature(f, VHK_BLK_F_CONFIG_WCE);
	if (blk_marks >= 2) {
		*why = "offers several of SEG_MAX, BLK_SIZE, FLUSH, DISCARD, "
		       "WRITE_ZEROES, CONFIG_WCE (blk bits)";
		return VHK_DEV_BLK;
	}
	if ((f & 0xffffffull) == (f & 0x3ull) && p->queues_known &&
	    p->queues == 3 && p->config_len <= 8) {
		*why = "no device bits beyond STREAM/SEQPACKET and 3 queues "
		       "(rx, tx, event)";
		return VHK_DEV_VSOCK;
	}
	if ((f & 0xffffffull) == (f & 0x3ull) && !p->queues_known &&
	    p->config_len == 8) {
		vhk_le64 raw;
		uint64_t cid;

		memcpy(&raw, p->config, 8);
		cid = vhk_le64_get(raw);
		/* VIRTIO 1.2, 5.10.4: a guest CID, 3 .. 2^32 - 2 */
		if (cid > 2 && cid < 0xffffffffull) {
			*why = "no device bits beyond STREAM/SEQPACKET and an "
			       "8-byte config holding a valid guest_cid";
			return VHK_DEV_VSOCK;
		}
	}
	if (vhk_has_feature(p->protocol, VHK_PROTO_F_RARP) ||
	    vhk_has_feature(p->protocol, VHK_PROTO_F_NET_MTU)) {
		*why = "weak: no device bits decide; offers the protocol "
		       "features RARP/NET_MTU, which some back-ends offer "
		       "for every type: use --type";
		return VHK_DEV_NET;
	}
	*why = "nothing conclusive: use --type";
	return VHK_DEV_ANY;
}

static void print_blk_config(const struct probe *p)
{
	struct vhk_blk_info bi;
	char sz[32];

	if (vhk_blk_config_parse(p->config, p->config_len, p->features,
				 &bi) < 0) {
		printf("  (configuration space breaks VIRTIO 1.2 5.2.4: "
		       "seg_max 0, blk_size not a power of two, or "
		       "num_queues 0)\n");
		return;
	}
	printf("  capacity            %llu sectors (%s)\n",
	       (unsigned long long)bi.capacity,
	       cli_fmt_size(sz, sizeof(sz), bi.capacity * 512));
	printf("  blk_size            %u%s\n", bi.blk_size,
	       vhk_has_feature(p->features, VHK_BLK_F_BLK_SIZE) ? "" :
	       " (default: BLK_SIZE not offered)");
	if (vhk_has_feature(p->features, VHK_BLK_F_SIZE_MAX))
		printf("  size_max            %u%s\n", bi.size_max,
		       bi.size_max ? "" : " (no limit)");
	if (vhk_has_feature(p->features, VHK_BLK_F_SEG_MAX))
		printf("  seg_max             %u\n", bi.seg_max);
	if (vhk_has_feature(p->features, VHK_BLK_F_GEOMETRY))
		printf("  geometry            %u/%u/%u (c/h/s)\n",
		       bi.cylinders, bi.heads, bi.sectors);
	if (vhk_has_feature(p->features, VHK_BLK_F_TOPOLOGY))
		printf("  topology            physical_block_exp %u, "
		       "alignment_offset %u, min_io %u, opt_io %u\n",
		       bi.physical_block_exp, bi.alignment_offset,
		       bi.min_io_size, bi.opt_io_size);
	if (vhk_has_feature(p->features, VHK_BLK_F_CONFIG_WCE))
		printf("  writeback           %u\n", bi.writeback);
	printf("  num_queues          %u%s\n", bi.num_queues,
	       vhk_has_feature(p->features, VHK_BLK_F_MQ) ? "" :
	       " (MQ not offered)");
	if (bi.discard)
		printf("  discard             max %u sectors, %u segs, "
		       "alignment %u\n", bi.max_discard_sectors,
		       bi.max_discard_seg, bi.discard_sector_alignment);
	if (bi.write_zeroes)
		printf("  write_zeroes        max %u sectors, %u segs, "
		       "may_unmap %u\n", bi.max_write_zeroes_sectors,
		       bi.max_write_zeroes_seg, bi.write_zeroes_may_unmap);
	printf("  read-only           %s\n", bi.ro ? "yes" : "no");
	printf("  flush               %s\n", bi.flush ? "yes" : "no");
}

static void print_net_config(const struct probe *p)
{
	const uint8_t *c = p->config;

	if (p->config_len >= 6 && vhk_has_feature(p->features, VHK_NET_F_MAC))
		printf("  mac                 %02x:%02x:%02x:%02x:%02x:%02x\n",
		       c[0], c[1], c[2], c[3], c[4], c[5]);
	if (p->config_len >= 8 &&
	    vhk_has_feature(p->features, VHK_NET_F_STATUS))
		printf("  status              0x%04x\n", c[6] | c[7] << 8);
	if (p->config_len >= 10 && vhk_has_feature(p->features, VHK_NET_F_MQ))
		printf("  max_virtqueue_pairs %u\n", c[8] | c[9] << 8);
	if (p->config_len >= 12 &&
	    vhk_has_feature(p->features, VHK_NET_F_MTU))
		printf("  mtu                 %u\n", c[10] | c[11] << 8);
}

static void print_vsock_config(const struct probe *p)
{
	vhk_le64 cid;

	memcpy(&cid, p->config, sizeof(cid));
	printf("  guest_cid           %llu\n",
	       (unsigned long long)vhk_le64_get(cid));
}

static void print_hex(const struct probe *p)
{
	uint32_t i;

	for (i = 0; i < p->config_len; i++)
		printf("%s%02x%s", i % 16 ? "" : "  ", p->config[i],
		       i % 16 == 15 || i + 1 == p->config_len ? "\n" : " ");
}

static void print_modes(const struct probe *p)
{
	bool ap = vhk_has_feature(p->features, VHK_F_ACCESS_PLATFORM);
	bool req = vhk_has_feature(p->protocol, VHK_PROTO_F_BACKEND_REQ);
	bool ack = vhk_has_feature(p->protocol, VHK_PROTO_F_REPLY_ACK);
	bool persist = vhk_has_feature(p->protocol,
				       VHK_PROTO_F_IOTLB_PERSIST);

	printf("\nTranslation modes\n");
	printf("  gpa                 yes (ACCESS_PLATFORM not negotiated)\n");
	printf("  platform-identity   %s\n", ap ?
	       "yes (offers ACCESS_PLATFORM; a front-end without an IOTLB "
	       "masks it or bounces)" : "no (ACCESS_PLATFORM not offered)");
	if (ap && req && ack)
		printf("  iotlb               yes (ACCESS_PLATFORM + BACKEND_REQ"
		       " + REPLY_ACK)\n");
	else
		printf("  iotlb               no (needs ACCESS_PLATFORM%s%s%s)\n",
		       ap ? " [ok]" : " [missing]",
		       req ? ", BACKEND_REQ [ok]" : ", BACKEND_REQ [missing]",
		       ack ? ", REPLY_ACK [ok]" : ", REPLY_ACK [missing]");
	printf("  persist             %s\n", persist ?
	       (ap && req && ack ?
		"yes (IOTLB_PERSIST, bit 63: IOTLB entries survive reset)" :
		"offered, but useless without iotlb") :
	       "no (a reset flushes the IOTLB; mappings must be re-sent)");

	printf("\nResilience\n");
	printf("  reconnect           %s\n",
	       vhk_has_feature(p->protocol, VHK_PROTO_F_INFLIGHT_SHMFD) ?
	       "yes (INFLIGHT_SHMFD: in-flight requests survive a restart)" :
	       "no inflight tracking (in-flight requests lost on restart)");
	printf("  device reset        %s\n",
	       vhk_has_feature(p->protocol, VHK_PROTO_F_RESET_DEVICE) ?
	       "RESET_DEVICE" :
	       vhk_has_feature(p->protocol, VHK_PROTO_F_STATUS) ?
	       "SET_STATUS 0" : "RESET_OWNER only (deprecated)");
}

int cli_probe_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe p = { .sock = -1 };
	enum vhk_device_type type = VHK_DEV_ANY;
	bool type_given = false;
	const char *why = "given with --type";
	uint64_t timeout = 3000;
	uint32_t cfglen;
	char shortform[1024];
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:T:h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (vhk_device_type_parse(optarg, &type))
				return cli_usage_error("probe",
						       "unknown type '%s'",
						       optarg);
			type_given = true;
			break;
		case 'T':
			if (cli_parse_u64(optarg, &timeout) || !timeout ||
			    timeout > 600000)
				return cli_usage_error("probe",
						       "bad timeout '%s'",
						       optarg);
			break;
		case 'h':
			fputs(probe_help, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("probe", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("probe", "expected one SOCKET");
	p.path = argv[optind];

	ret = probe_connect(&p, (int)timeout);
	if (ret < 0) {
		fprintf(stderr, "vhostkit probe: cannot connect to %s: %s\n",
			p.path, strerror(-ret));
		return CLI_EXIT_CONNECT;
	}
	ret = run_queries(&p);
	if (ret == 0 && vhk_has_feature(p.acked_protocol,
					VHK_PROTO_F_CONFIG)) {
		/*
		 * Ask for no more than the device type's structure: some
		 * back-ends abort on a longer GET_CONFIG.  8 bytes is in
		 * every type (blk capacity, vsock guest_cid, net mac+status).
		 */
		if (!type_given)
			type = infer_type(&p, &why);
		cfglen = type == VHK_DEV_BLK ? VHK_BLK_CONFIG_READ_LEN :
			 type == VHK_DEV_NET ? 12 : 8;
		if (get_config(&p, cfglen) < 0 && cfglen > 8)
			(void)get_config(&p, 8);
		/* the config may decide what the bits did not (vsock
		 * without MQ: its guest_cid) */
		if (!type_given && type == VHK_DEV_ANY)
			type = infer_type(&p, &why);
	}
	if (ret < 0) {
		fprintf(stderr, "vhostkit probe: %s: %s\n", p.path,
			ret == -EAGAIN ? "no answer (timeout)" :
			strerror(-ret));
		close(p.sock);
		return ret == -EPROTO ? CLI_EXIT_FAIL : CLI_EXIT_CONNECT;
	}
	close(p.sock);
	if (!type_given && !vhk_has_feature(p.acked_protocol,
					    VHK_PROTO_F_CONFIG))
		type = infer_type(&p, &why);

	printf("Back-end %s\n", p.path);
	printf("  device type         %s (%s)\n",
	       type == VHK_DEV_ANY ? "unknown" : vhk_device_type_name(type),
	       why);
	if (p.queues_known)
		printf("  queues              %llu (GET_QUEUE_NUM)\n",
		       (unsigned long long)p.queues);
	else
		printf("  queues              not announced (no MQ protocol "
		       "feature)\n");
	if (p.mem_slots_known)
		printf("  memory slots        %llu\n",
		       (unsigned long long)p.mem_slots);

	vhk_features_format(shortform, sizeof(shortform), p.features, type,
			    false);
	printf("\nVirtio features 0x%016llx\n  %s\n",
	       (unsigned long long)p.features, shortform);
	vhk_features_explain(stdout, p.features, type, false);

	if (p.has_protocol) {
		vhk_features_format(shortform, sizeof(shortform), p.protocol,
				    type, true);
		printf("\nProtocol features 0x%016llx\n  %s\n",
		       (unsigned long long)p.protocol, shortform);
		vhk_features_explain(stdout, p.protocol, type, true);
	} else {
		printf("\nProtocol features: none (PROTOCOL_FEATURES not "
		       "offered)\n");
	}

	printf("\nConfiguration space");
	if (!p.config_len) {
		printf(": %s\n", vhk_has_feature(p.protocol,
						 VHK_PROTO_F_CONFIG) ?
		       "GET_CONFIG refused" :
		       "not readable (CONFIG protocol feature not offered)");
	} else {
		printf(" (%u bytes)\n", p.config_len);
		if (type == VHK_DEV_BLK)
			print_blk_config(&p);
		else if (type == VHK_DEV_NET)
			print_net_config(&p);
		else if (type == VHK_DEV_VSOCK && p.config_len >= 8)
			print_vsock_config(&p);
		else
			print_hex(&p);
	}
	print_modes(&p);
	return CLI_EXIT_OK;
}
