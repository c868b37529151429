// SPDX-License-Identifier: MIT
/*
 * drv_net.c - the userspace virtio-net driver (vhostkit/net_driver.h)
 * against vhostkit-net: two drivers on two ports of one daemon exchange
 * frames through its switch, every byte and the order checked, in every
 * DMA mode, split and packed rings, with and without MRG_RXBUF, and with
 * 9000-byte frames that span several receive buffers.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "drv_util.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/net.h"
#include "vhostkit/net_driver.h"

static const char *net_bin;

struct nd {
	struct vhk_fe *fe;
	struct vhk_net_drv *d;
	uint8_t mac[6];
};

struct daemon {
	struct drv_proc proc;
	char a[200], b[200], ctl[200];
};

/* @popt: more options for both socket ports ("" for none). */
static void daemon_start(struct daemon *dm, const char *tag, unsigned int mtu,
			 const char *popt)
{
	char pa[300], pb[300];
	char *argv[] = { (char *)net_bin, "--port", pa, "--port", pb,
			 "--control", dm->ctl, NULL };

	memset(dm, 0, sizeof(*dm));
	snprintf(dm->ctl, sizeof(dm->ctl), "%s/%s.ctl", drv_tmpdir(), tag);
	snprintf(dm->a, sizeof(dm->a), "%s/%s-a.sock", drv_tmpdir(), tag);
	snprintf(dm->b, sizeof(dm->b), "%s/%s-b.sock", drv_tmpdir(), tag);
	snprintf(pa, sizeof(pa), "socket=%s,mac=02:00:00:00:0a:01,mtu=%u%s",
		 dm->a, mtu, popt);
	snprintf(pb, sizeof(pb), "socket=%s,mac=02:00:00:00:0b:01,mtu=%u%s",
		 dm->b, mtu, popt);
	assert_int_equal(drv_spawn(&dm->proc, argv), 0);
	assert_int_equal(drv_wait_path(dm->a, 10000), 0);
	assert_int_equal(drv_wait_path(dm->b, 10000), 0);
	assert_int_equal(drv_wait_path(dm->ctl, 10000), 0);
}

/* Counter @key of port @port from the daemon's control socket. */
static long long port_counter(struct daemon *dm, const char *port,
			      const char *key)
{
	char *text = NULL, *line, *save = NULL, want[64];
	size_t len = 0;
	long long v = -1;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(vhk_net_ctl_query(dm->ctl, "stats", f), 0);
	fclose(f);
	snprintf(want, sizeof(want), "port %s ", port);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *k;

		if (strncmp(line, want, strlen(want)))
			continue;
		k = strstr(line, key);
		if (k && k[strlen(key)] == '=')
			v = atoll(k + strlen(key) + 1);
	}
	free(text);
	return v;
}

static void daemon_stop(struct daemon *dm)
{
	drv_kill(&dm->proc, SIGTERM);
}

struct open_opts {
	enum drv_dma dma;
	bool packed, mrg;
	uint32_t tx_max;
	const char *popt;	/* more port options, e.g. ",thread" */
};

static void nd_open(struct nd *n, const char *sock, const struct open_opts *o)
{
	struct vhk_net_drv_params dp = { .tx_max = o->tx_max };
	struct vhk_fe_config cfg;
	int ret;

	vhk_fe_config_init(&cfg, sock);
	cfg.name = "nettest";
	cfg.driver_features = vhk_net_drv_features(o->packed, o->mrg);
	cfg.packed = o->packed;
	cfg.num_queues = 2;
	cfg.type_queues = 2;
	cfg.queue_num_pairs = true;
	cfg.queue_size = 128;
	cfg.mem_size = 32u << 20;
	cfg.bounce_pool_size = 8u << 20;
	drv_dma_config(&cfg, o->dma);
	ret = vhk_fe_connect(&n->fe, &cfg);
	assert_int_equal(ret, 0);
	assert_int_equal(vhk_fe_start(n->fe), 0);
	assert_int_equal(vhk_fe_dma_mode(n->fe), drv_expected_mode(o->dma));
	assert_int_equal(vhk_fe_num_queues(n->fe), 2);
	assert_int_equal(!!(vhk_fe_features(n->fe) &
			    (1ull << VHK_F_RING_PACKED)), o->packed);
	assert_int_equal(!!(vhk_fe_driver_features(n->fe) &
			    (1ull << VHK_NET_F_MRG_RXBUF)), o->mrg);
	ret = vhk_net_drv_new(&n->d, n->fe, &dp);
	assert_int_equal(ret, 0);
	assert_int_equal(vhk_net_drv_mac(n->d, n->mac), 0);
	assert_true(vhk_net_drv_link_up(n->d));
}

static void nd_close(struct nd *n)
{
	vhk_fe_stop(n->fe);
	vhk_net_drv_free(n->d);
	vhk_fe_close(n->fe);
}

static uint8_t pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 29 + i * 13 + (i >> 7));
}

static size_t frame(uint8_t *f, size_t len, const uint8_t *dst,
		    const uint8_t *src, uint32_t seq)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	memcpy(f + 14, &seq, 4);
	for (size_t i = 18; i < len; i++)
		f[i] = pat(seq, i);
	return len;
}

static void send_all(struct nd *n, const uint8_t *f, size_t len)
{
	int ret;

	for (int k = 0; k < 10000; k++) {
		ret = vhk_net_drv_send(n->d, NULL, f, len);
		if (ret != -EAGAIN)
			break;
		assert_int_equal(vhk_net_drv_flush(n->d), 0);
		usleep(100);
	}
	assert_int_equal(ret, 0);
}

/* @cnt frames from @s to @r (sizes cycling through @sizes), each received
 * intact and in order. */
static void exchange(struct nd *s, struct nd *r, unsigned int cnt,
		     const size_t *sizes, size_t nsizes)
{
	static uint8_t f[9100], g[9100];
	struct vhk_net_hdr h;
	unsigned int sent = 0, got = 0;

	while (got < cnt) {
		/* keep at most 32 frames in flight: the switch's backlog
		 * drops beyond its bound, which this test is not about */
		while (sent < cnt && sent - got < 32) {
			size_t len = sizes[sent % nsizes];

			frame(f, len, r->mac, s->mac, sent);
			send_all(s, f, len);
			sent++;
		}
		assert_int_equal(vhk_net_drv_flush(s->d), 0);
		int ret = vhk_net_drv_recv(r->d, &h, g, sizeof(g), 5000);

		if (ret < 0)
			fprintf(stderr, "recv after %u of %u: %s\n", got, cnt,
				strerror(-ret));
		assert_true(ret > 0);
		uint32_t seq;

		memcpy(&seq, g + 14, 4);
		assert_int_equal(seq, got);
		assert_int_equal((size_t)ret, sizes[got % nsizes]);
		assert_memory_equal(g, r->mac, 6);
		assert_memory_equal(g + 6, s->mac, 6);
		for (size_t i = 18; i < (size_t)ret; i++)
			if (g[i] != pat(seq, i))
				fail_msg("frame %u byte %zu corrupt", seq, i);
		assert_int_equal(vhk_le16_get(h.num_buffers) == 0, false);
		got++;
	}
}

static const size_t std_sizes[] = { 60, 64, 100, 511, 1000, 1514, 1518 };

static void run_pair(const char *tag, const struct open_opts *o)
{
	struct daemon dm;
	struct nd a, b;
	struct vhk_net_drv_stats st;

	daemon_start(&dm, tag, 1500, o->popt ? o->popt : "");
	nd_open(&a, dm.a, o);
	nd_open(&b, dm.b, o);
	/* B speaks first so that the switch knows where B is */
	exchange(&b, &a, 20, std_sizes, 7);
	exchange(&a, &b, o->dma == DRV_STRICT ? 200 : 1000, std_sizes, 7);
	exchange(&b, &a, 100, std_sizes, 7);
	vhk_net_drv_stats(b.d, &st);
	assert_int_equal(st.rx_dropped, 0);
	assert_true(st.rx_frames >= 200);
	nd_close(&a);
	nd_close(&b);
	daemon_stop(&dm);
}

#define PAIR(name, dma_, packed_, mrg_)					\
	static void name(void **state)					\
	{								\
		const struct open_opts o = { .dma = dma_,		\
			.packed = packed_, .mrg = mrg_ };		\
		(void)state;						\
		run_pair(#name, &o);					\
	}

PAIR(direct_split_mrg, DRV_DIRECT, false, true)
PAIR(direct_packed_mrg, DRV_DIRECT, true, true)
PAIR(direct_split_nomrg, DRV_DIRECT, false, false)
PAIR(direct_packed_nomrg, DRV_DIRECT, true, false)
PAIR(lazy_split_mrg, DRV_LAZY, false, true)
PAIR(lazy_packed_mrg, DRV_LAZY, true, true)
PAIR(strict_split_mrg, DRV_STRICT, false, true)
PAIR(bounce_split_mrg, DRV_BOUNCE, false, true)
PAIR(bounce_packed_nomrg, DRV_BOUNCE, true, false)

/* The ports' threads: by default both ports share one thread; ",thread"
 * gives each its own (frames cross through the backlog and a wake-up),
 * ",poll" busy-polls them on the shared thread. */
static void own_threads(void **state)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true,
				     .popt = ",thread" };

	(void)state;
	run_pair("own-threads", &o);
}

/* Threads of the daemon @dm (/proc/PID/task). */
static int daemon_threads(const struct daemon *dm)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)dm->proc.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Threads of a daemon with two socket ports (@popt) serving a front-end
 * each: one more with ",thread" than by default (the shared thread
 * replaced by one per port). */
static int threads_serving(const char *tag, const char *popt)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true };
	struct daemon dm;
	struct nd a, b;
	int n;

	daemon_start(&dm, tag, 1500, popt);
	/* both ports answered a front-end: their servers run */
	nd_open(&a, dm.a, &o);
	nd_open(&b, dm.b, &o);
	n = daemon_threads(&dm);
	nd_close(&a);
	nd_close(&b);
	daemon_stop(&dm);
	return n;
}

static void port_threads(void **state)
{
	int shared, own;

	(void)state;
	shared = threads_serving("threads-shared", "");
	own = threads_serving("threads-own", ",thread");
	assert_int_equal(own, shared + 1);
}

static void busy_poll(void **state)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true,
				     .popt = ",poll" };

	(void)state;
	run_pair("busy-poll", &o);
}

/* 9000-byte MTU: with MRG_RXBUF a frame spans five 2 KiB buffers
 * (num_buffers), without it each buffer is sized from the MTU. */
static void jumbo(bool mrg, bool packed)
{
	static const size_t sizes[] = { 9014, 60, 4000, 2037, 2048, 8191 };
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = mrg,
				     .packed = packed, .tx_max = 9014 };
	struct vhk_net_drv_stats st;
	struct daemon dm;
	struct nd a, b;

	daemon_start(&dm, mrg ? "jumbo-mrg" : "jumbo", 9000, "");
	nd_open(&a, dm.a, &o);
	nd_open(&b, dm.b, &o);
	exchange(&b, &a, 6, sizes, 6);
	exchange(&a, &b, 300, sizes, 6);
	vhk_net_drv_stats(b.d, &st);
	if (mrg)	/* 9014 + 12 bytes take five 2 KiB buffers */
		assert_true(st.rx_buffers >= st.rx_frames + 50 * 4);
	else
		assert_int_equal(st.rx_buffers, st.rx_frames);
	assert_int_equal(st.rx_dropped, 0);
	nd_close(&a);
	nd_close(&b);
	daemon_stop(&dm);
}

static void jumbo_mrg_split(void **state)
{
	(void)state;
	jumbo(true, false);
}

static void jumbo_mrg_packed(void **state)
{
	(void)state;
	jumbo(true, true);
}

static void jumbo_nomrg(void **state)
{
	(void)state;
	jumbo(false, false);
}

/* The driver's own limits: a frame over tx_max is refused; a frame larger
 * than the caller's buffer is dropped, counted, and the next delivered. */
static void limits(void **state)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true };
	static uint8_t f[2000], g[2000];
	struct vhk_net_drv_stats st;
	struct daemon dm;
	struct nd a, b;
	int ret;

	(void)state;
	daemon_start(&dm, "limits", 1500, "");
	nd_open(&a, dm.a, &o);
	nd_open(&b, dm.b, &o);
	exchange(&b, &a, 1, std_sizes, 1);
	assert_int_equal(vhk_net_drv_send(a.d, NULL, f, 1519), -EMSGSIZE);
	assert_int_equal(vhk_net_drv_send(a.d, NULL, f, 0), -EMSGSIZE);
	send_all(&a, f, frame(f, 1000, b.mac, a.mac, 7));
	send_all(&a, f, frame(f, 100, b.mac, a.mac, 8));
	assert_int_equal(vhk_net_drv_flush(a.d), 0);
	ret = vhk_net_drv_recv(b.d, NULL, g, 500, 5000);
	assert_int_equal(ret, 100);		/* the 1000-byte one dropped */
	assert_int_equal(g[14], 8);
	vhk_net_drv_stats(b.d, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(vhk_net_drv_recv(b.d, NULL, g, sizeof(g), 0),
			 -ETIMEDOUT);
	nd_close(&a);
	nd_close(&b);
	daemon_stop(&dm);
}

/* A front-end without the driver on @sock (the driver's features,
 * MRG_RXBUF, queue pair 0), for tests that post hand-made buffers. */
static struct vhk_fe *raw_fe(const char *sock)
{
	struct vhk_fe_config cfg;
	struct vhk_fe *fe;

	vhk_fe_config_init(&cfg, sock);
	cfg.driver_features = vhk_net_drv_features(false, true);
	cfg.num_queues = 2;
	cfg.type_queues = 2;
	cfg.queue_num_pairs = true;
	assert_int_equal(vhk_fe_connect(&fe, &cfg), 0);
	assert_int_equal(vhk_fe_start(fe), 0);
	return fe;
}

/* Post four hand-made receive buffers (4 KiB, filled with 0xee) on @rxq:
 * @lens bytes each, device-writable where @wr, tokens 1..4; kick. */
static void post_rx4(struct vhk_fe *fe, struct vhk_drv_vq *rxq,
		     const uint32_t *lens, const bool *wr, uint8_t **buf)
{
	for (int k = 0; k < 4; k++) {
		struct vhk_drv_seg seg;
		uint64_t addr;

		buf[k] = vhk_fe_alloc(fe, 4096);
		assert_non_null(buf[k]);
		memset(buf[k], 0xee, 4096);
		assert_int_equal(vhk_fe_dma_map(fe, buf[k], 4096, wr[k] ?
						VHK_DMA_FROM_DEVICE :
						VHK_DMA_TO_DEVICE, &addr), 0);
		seg = (struct vhk_drv_seg){ addr, lens[k], wr[k] };
		assert_int_equal(vhk_drv_vq_add(rxq, &seg, 1,
						(void *)(uintptr_t)(k + 1)), 0);
	}
	vhk_drv_vq_publish(rxq);
	assert_int_equal(vhk_fe_kick(fe, 0), 0);
}

/*
 * Hostile receive buffers from the guest's side (VIRTIO 1.2, 5.1.6.3.1:
 * every receive buffer holds at least a header): a 4-byte and a
 * device-readable buffer ahead of a good one.  The device gives each bad
 * one back empty with a counter and delivers the frame into the good one;
 * nothing is written outside the good buffer.  With @zero_len, the first
 * buffer is a zero-length descriptor instead: the ring layer refuses such
 * a chain as a protocol violation, the device is marked broken (nothing
 * is used), and the next front-end on the same port works.
 */
static void hostile_rx(bool zero_len)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true };
	const uint32_t lens[4] = { zero_len ? 0 : 4, 4, 2048, 2048 };
	static const bool wr[4] = { true, true, false, true };
	static uint8_t f[200];
	struct vhk_drv_vq *rxq;
	struct daemon dm;
	struct nd a;
	struct vhk_fe *fe;
	uint8_t *buf[4];
	bool seen[4] = { false };
	struct vhk_net_hdr h;
	int k, got = 0;

	daemon_start(&dm, zero_len ? "zero-rx" : "hostile-rx", 1500, "");
	nd_open(&a, dm.a, &o);
	fe = raw_fe(dm.b);
	rxq = vhk_fe_queue(fe, 0);
	post_rx4(fe, rxq, lens, wr, buf);
	/* a broadcast from A reaches B's port */
	send_all(&a, f, frame(f, 100, (const uint8_t *)"\xff\xff\xff\xff"
			      "\xff\xff", a.mac, 1));
	assert_int_equal(vhk_net_drv_flush(a.d), 0);
	for (int t = 0; t < (zero_len ? 50 : 500) && got < 4; t++) {
		void *tok;
		uint32_t len;
		int r = vhk_drv_vq_get_used(rxq, &tok, &len);

		assert_true(r >= 0);
		if (r == 0) {
			usleep(10000);
			continue;
		}
		k = (int)(uintptr_t)tok - 1;
		assert_true(k >= 0 && k < 4 && !seen[k]);
		seen[k] = true;
		got++;
		if (k < 3) {
			assert_int_equal(len, 0);
		} else {
			assert_int_equal(len, sizeof(h) + 100);
			memcpy(&h, buf[3], sizeof(h));
			assert_int_equal(vhk_le16_get(h.num_buffers), 1);
			assert_memory_equal(buf[3] + sizeof(h), f, 100);
			assert_int_equal(buf[3][sizeof(h) + 100], 0xee);
		}
	}
	if (zero_len) {
		struct nd b;

		assert_int_equal(got, 0);	/* broken: nothing used */
		vhk_fe_close(fe);
		nd_open(&b, dm.b, &o);		/* a new front-end: served */
		exchange(&a, &b, 20, std_sizes, 7);
		nd_close(&b);
		nd_close(&a);
		daemon_stop(&dm);
		return;
	}
	assert_int_equal(got, 4);
	/* nothing written into the bad buffers */
	for (k = 0; k < 3; k++)
		for (int i = 0; i < 4096; i++)
			if (buf[k][i] != 0xee)
				fail_msg("bad buffer %d written at %d", k, i);
	assert_int_equal(port_counter(&dm, "vu1", "drop_rx_bad_buf"), 3);
	vhk_fe_stop(fe);
	vhk_fe_close(fe);
	nd_close(&a);
	daemon_stop(&dm);
}

/*
 * MRG_RXBUF with a 4-byte and a device-readable buffer between two good
 * ones: the frame spans all four (num_buffers = 4, the used entries in a
 * row, 0 bytes in the readable one); nothing breaks the driver's count.
 */
static void mrg_small_middle_buffers(void **state)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true };
	static const uint32_t lens[4] = { 40, 4, 64, 2048 };
	static const bool wr[4] = { true, true, false, true };
	static uint8_t f[200], got_data[400];
	struct vhk_drv_vq *rxq;
	struct vhk_net_hdr h;
	struct daemon dm;
	struct nd a;
	struct vhk_fe *fe;
	uint8_t *buf[4];
	uint32_t used[4];
	size_t off = 0;
	int k;

	(void)state;
	daemon_start(&dm, "mrg-mid", 1500, "");
	nd_open(&a, dm.a, &o);
	fe = raw_fe(dm.b);
	rxq = vhk_fe_queue(fe, 0);
	post_rx4(fe, rxq, lens, wr, buf);
	send_all(&a, f, frame(f, 120, (const uint8_t *)"\xff\xff\xff\xff"
			      "\xff\xff", a.mac, 3));
	assert_int_equal(vhk_net_drv_flush(a.d), 0);
	for (k = 0; k < 4; k++) {
		void *tok;
		uint32_t len;
		int r = 0;

		for (int t = 0; t < 500 && r == 0; t++) {
			r = vhk_drv_vq_get_used(rxq, &tok, &len);
			if (r == 0)
				usleep(10000);
		}
		assert_int_equal(r, 1);
		assert_int_equal((int)(uintptr_t)tok, k + 1);	/* in order */
		used[k] = len;
	}
	/* 12 + 120 bytes: 40 + 4 + 0 + 88 */
	assert_int_equal(used[0], 40);
	assert_int_equal(used[1], 4);
	assert_int_equal(used[2], 0);
	assert_int_equal(used[3], 132 - 44);
	memcpy(&h, buf[0], sizeof(h));
	assert_int_equal(vhk_le16_get(h.num_buffers), 4);
	memcpy(got_data, buf[0] + sizeof(h), 40 - sizeof(h));
	off = 40 - sizeof(h);
	memcpy(got_data + off, buf[1], 4);
	off += 4;
	memcpy(got_data + off, buf[3], used[3]);
	off += used[3];
	assert_int_equal(off, 120);
	assert_memory_equal(got_data, f, 120);
	vhk_fe_stop(fe);
	vhk_fe_close(fe);
	nd_close(&a);
	daemon_stop(&dm);
}

static void hostile_rx_buffers(void **state)
{
	(void)state;
	hostile_rx(false);
}

static void zero_length_rx_buffer(void **state)
{
	(void)state;
	hostile_rx(true);
}

/*
 * Hostile transmit chains through the daemon (VIRTIO 1.2, 5.1.6.2), posted
 * by hand on port A's transmit queue: a chain shorter than the header, a
 * header whose num_buffers lies (ignored on transmit: the frame is
 * delivered), GSO with gso_size 0 (and not negotiated), a checksum start
 * past the frame, a frame over the MTU.  Each bad one is dropped with its
 * counter, the good one reaches B once, and the port keeps working.
 */
static void hostile_tx(void **state)
{
	const struct open_opts o = { .dma = DRV_DIRECT, .mrg = true };
	static uint8_t g[2048];
	struct vhk_drv_vq *txq;
	struct vhk_net_hdr h;
	struct daemon dm;
	struct nd b;
	struct vhk_fe *fe;
	uint8_t *buf;
	uint64_t addr;
	uint8_t src[6] = { 0x02, 0, 0, 0, 0x0a, 0x99 };
	int k, ret;
	struct { uint32_t len; uint8_t flags, gso; uint16_t gso_size,
		 csum_start, nb; } c[5] = {
		{ 6, 0, 0, 0, 0, 0 },				/* short */
		{ 100, 0, 0, 0, 0, 0xffff },			/* good */
		{ 100, 0, VHK_NET_HDR_GSO_TCPV4, 0, 0, 0 },	/* bad gso */
		{ 100, VHK_NET_HDR_F_NEEDS_CSUM, 0, 0, 99, 0 },	/* bad csum */
		{ 1600, 0, 0, 0, 0, 0 },			/* too big */
	};

	(void)state;
	daemon_start(&dm, "hostile-tx", 1500, "");
	nd_open(&b, dm.b, &o);
	fe = raw_fe(dm.a);
	txq = vhk_fe_queue(fe, 1);
	buf = vhk_fe_alloc(fe, 5 * 2048);
	assert_non_null(buf);
	for (k = 0; k < 5; k++) {
		uint8_t *p = buf + k * 2048;
		struct vhk_drv_seg seg;

		memset(&h, 0, sizeof(h));
		h.flags = c[k].flags;
		h.gso_type = c[k].gso;
		h.gso_size = vhk_le16_make(c[k].gso_size);
		h.csum_start = vhk_le16_make(c[k].csum_start);
		h.csum_offset = vhk_le16_make(16);
		h.num_buffers = vhk_le16_make(c[k].nb);
		memcpy(p, &h, sizeof(h));
		if (c[k].len > sizeof(h))
			frame(p + sizeof(h), c[k].len - sizeof(h), b.mac, src,
			      (uint32_t)k);
		assert_int_equal(vhk_fe_dma_map(fe, p, 2048, VHK_DMA_TO_DEVICE,
						&addr), 0);
		seg = (struct vhk_drv_seg){ addr, c[k].len, false };
		assert_int_equal(vhk_drv_vq_add(txq, &seg, 1,
						(void *)(uintptr_t)(k + 1)), 0);
	}
	vhk_drv_vq_publish(txq);
	assert_int_equal(vhk_fe_kick(fe, 1), 0);
	ret = vhk_net_drv_recv(b.d, &h, g, sizeof(g), 5000);
	assert_int_equal(ret, 100 - (int)sizeof(h));
	assert_int_equal(g[14], 1);			/* the good one */
	assert_int_equal(vhk_le16_get(h.num_buffers), 1);
	assert_int_equal(vhk_net_drv_recv(b.d, NULL, g, sizeof(g), 300),
			 -ETIMEDOUT);
	/* every chain completed, drops counted on A's port */
	for (k = 0; k < 5; k++) {
		void *tok;
		uint32_t len;
		int r = 0;

		for (int t = 0; t < 200 && r == 0; t++) {
			r = vhk_drv_vq_get_used(txq, &tok, &len);
			if (r == 0)
				usleep(5000);
		}
		assert_int_equal(r, 1);
	}
	assert_int_equal(port_counter(&dm, "vu0", "drop_hdr_short"), 1);
	assert_int_equal(port_counter(&dm, "vu0", "drop_bad_gso"), 1);
	assert_int_equal(port_counter(&dm, "vu0", "drop_bad_csum"), 1);
	assert_int_equal(port_counter(&dm, "vu0", "drop_too_big"), 1);
	assert_int_equal(port_counter(&dm, "vu0", "in_packets"), 1);
	vhk_fe_stop(fe);
	vhk_fe_close(fe);
	nd_close(&b);
	daemon_stop(&dm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(direct_split_mrg),
		cmocka_unit_test(own_threads),
		cmocka_unit_test(busy_poll),
		cmocka_unit_test(port_threads),
		cmocka_unit_test(direct_packed_mrg),
		cmocka_unit_test(direct_split_nomrg),
		cmocka_unit_test(direct_packed_nomrg),
		cmocka_unit_test(lazy_split_mrg),
		cmocka_unit_test(lazy_packed_mrg),
		cmocka_unit_test(strict_split_mrg),
		cmocka_unit_test(bounce_split_mrg),
		cmocka_unit_test(bounce_packed_nomrg),
		cmocka_unit_test(jumbo_mrg_split),
		cmocka_unit_test(jumbo_mrg_packed),
		cmocka_unit_test(jumbo_nomrg),
		cmocka_unit_test(limits),
		cmocka_unit_test(hostile_rx_buffers),
		cmocka_unit_test(mrg_small_middle_buffers),
		cmocka_unit_test(zero_length_rx_buffer),
		cmocka_unit_test(hostile_tx),
	};

	signal(SIGPIPE, SIG_IGN);
	net_bin = drv_require("VHK_NET_BIN", "vhostkit-net");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
