// SPDX-License-Identifier: MIT
/*
 * soak - a vhostkit-blk daemon against front-ends that come and go, die, and
 * kill it (issue 10, "a daemon that outlives its front-ends").
 *
 *   soak [--cycles N] [--kills N] [--hostile N] [--seed S]
 *
 * Three phases, each bounded by its count:
 *  1. cycles: N connect / negotiate / start / disconnect cycles of the
 *     front-end library against one daemon (verified I/O every 50th).  The
 *     daemon's open fds (/proc/PID/fd) and RSS (VmRSS) are taken after a
 *     warm-up of N/10 cycles and at the end: the fds must be equal and the
 *     RSS may not grow by more than max(1 MiB, 10 %) - a leak per cycle
 *     would show as thousands of fds or pages.
 *  2. kills: the daemon is SIGKILLed N times while 4 KiB writes run (16
 *     in flight, one per block, every write a new generation); each time it
 *     is restarted on the same socket and disk and the front-end reconnects
 *     (vhk_fe_reconnect: memory table and inflight region again, in-flight
 *     requests resubmitted by the new daemon).  After each reconnect the
 *     image file must hold, for every block with no write in flight, the
 *     newest completed generation (a lost write or a replayed older one
 *     shows here); no request may complete twice or not at all.
 *  3. hostile: N times each, a front-end process is SIGKILLed in the middle
 *     of a message (half a header; a header whose payload never comes) and
 *     in the middle of an IOTLB miss (a raw device-IOTLB front-end whose
 *     ring IOVAs are unmapped receives the daemon's MISS, then dies
 *     without answering).  The
 *     daemon must stay up and serve the next front-end with verified I/O.
 *
 * Prints the figures (cycles, fds/RSS before and after, kills, writes) and
 * "soak: PASS" or "soak: FAIL <why>".  Exit 0 / 1; 77 when vhostkit-blk
 * (VHK_BLK_BIN) is not built.  Full run: scripts/soak.sh.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vhostkit/util.h"
#include "vhostkit/vhost_user.h"
#include "drv_util.h"

#define BS		4096u
#define DISK_BYTES	(16u << 20)
#define NBLK		512u
#define DEPTH		16u

static const char *bin;
static char sock[100], disk[256];
static struct drv_proc blk;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
	va_list ap;

	printf("soak: FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	drv_dump_log(&blk);
	if (blk.pid > 0)
		drv_kill(&blk, SIGKILL);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static bool daemon_alive(void)
{
	int st;

	return blk.pid > 0 && waitpid(blk.pid, &st, WNOHANG) == 0;
}

static void spawn_daemon(void)
{
	if (drv_spawn_blk(&blk, bin, sock, disk, 1, "auto") < 0)
		die("cannot start %s", bin);
}

static void open_conn(struct drv_conn *c, enum drv_dma dma, unsigned int depth)
{
	struct drv_open_opts o = { .sock = sock, .dma = dma, .queues = 1,
				   .depth = depth, .use_call_fd = true,
				   .mem_size = 4u << 20 };

	if (drv_open(c, &o) < 0)
		die("front-end cannot open the device");
}

/* A new front-end does verified I/O: the daemon still serves. */
static void serve_check(uint64_t seed)
{
	struct drv_conn c;

	if (!daemon_alive())
		die("the daemon died");
	open_conn(&c, DRV_DIRECT, 16);
	if (drv_pattern_io(&c, 8, BS, seed) < 0)
		die("verified I/O after a dead front-end failed");
	drv_close(&c);
}

/* ---- 1. connect / negotiate / disconnect cycles ------------------------ */

static void phase_cycles(unsigned long n)
{
	unsigned long warm = n / 10 ? n / 10 : 1, i;
	long fds0 = 0, rss0 = 0, fds1, rss1;
	double t0 = now();
	struct drv_conn c;

	for (i = 0; i < n; i++) {
		open_conn(&c, DRV_DIRECT, 16);
		if (i % 50 == 0 && drv_pattern_io(&c, 4, BS, 0xc0de + i) < 0)
			die("cycle %lu: verified I/O failed", i);
		drv_close(&c);
		if (i + 1 == warm) {
			usleep(100 * 1000);	/* the daemon saw the close */
			fds0 = proc_fds(blk.pid);
			rss0 = proc_rss_kb(blk.pid);
		}
	}
	/* the daemon notices the last disconnect asynchronously */
	for (int k = 0; k < 50 && proc_fds(blk.pid) != fds0; k++)
		usleep(20 * 1000);
	fds1 = proc_fds(blk.pid);
	rss1 = proc_rss_kb(blk.pid);
	printf("soak: cycles %lu in %.1f s; daemon fds %ld -> %ld, RSS %ld -> %ld kB (after %lu warm-up cycles -> after the last)\n",
	       n, now() - t0, fds0, fds1, rss0, rss1, warm);
	fflush(stdout);
	if (fds0 <= 0 || rss0 <= 0)
		die("cannot read /proc/%d", (int)blk.pid);
	if (fds1 != fds0)
		die("daemon fds %ld after warm-up, %ld after %lu cycles", fds0,
		    fds1, n);
	if (rss1 - rss0 > (rss0 / 10 > 1024 ? rss0 / 10 : 1024))
		die("daemon RSS grew %ld -> %ld kB over %lu cycles", rss0, rss1,
		    n - warm);
}

/* ---- 2. SIGKILLs under I/O, reconnecting front-end ---------------------- */

struct kio {
	struct vhk_blk_req reqs[DEPTH];
	uint8_t *bufs[DEPTH];
	bool busy[DEPTH];
	uint32_t blk_of[DEPTH];
	uint64_t gen_of[DEPTH];
	uint64_t want[NBLK];		/* newest completed generation */
	bool pending[NBLK];
	uint64_t gen, completed;
	unsigned int inflight;
};

static void k_submit(struct drv_conn *c, struct kio *k, unsigned int *rnd)
{
	for (unsigned int s = 0; s < DEPTH; s++) {
		uint32_t b;
		int tries = 0;

		if (k->busy[s])
			continue;
		do
			b = (uint32_t)rand_r(rnd) % NBLK;
		while (k->pending[b] && ++tries < 64);
		if (k->pending[b])
			return;
		k->gen++;
		memset(&k->reqs[s], 0, sizeof(k->reqs[s]));
		k->reqs[s].op = VHK_BLK_OP_WRITE;
		k->reqs[s].sector = (uint64_t)b * (BS / 512);
		k->reqs[s].buf = k->bufs[s];
		k->reqs[s].len = BS;
		k->reqs[s].priv = (void *)(uintptr_t)s;
		drv_fill(k->bufs[s], BS, k->gen, (uint64_t)b * BS);
		if (vhk_blk_drv_submit(c->drv, 0, &k->reqs[s]) < 0)
			die("submit failed");
		k->busy[s] = true;
		k->pending[b] = true;
		k->blk_of[s] = b;
		k->gen_of[s] = k->gen;
		k->inflight++;
	}
}

static unsigned int k_reap(struct drv_conn *c, struct kio *k)
{
	struct vhk_blk_req *done[DEPTH];
	int n = vhk_blk_drv_reap(c->drv, 0, done, DEPTH);

	if (n < 0)
		die("reap: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		unsigned int s = (unsigned int)(uintptr_t)done[i]->priv;

		if (s >= DEPTH || !k->busy[s])
			die("request slot %u completed twice", s);
		if (done[i]->result != 0)
			die("write of block %u failed: %d", k->blk_of[s],
			    done[i]->result);
		k->busy[s] = false;
		k->pending[k->blk_of[s]] = false;
		k->want[k->blk_of[s]] = k->gen_of[s];
		k->inflight--;
		k->completed++;
	}
	return (unsigned int)n;
}

/* Every block with no write in flight holds its newest completed write. */
static void k_check_file(struct kio *k, unsigned int kill_no)
{
	for (uint32_t b = 0; b < NBLK; b++) {
		if (k->pending[b] || !k->want[b])
			continue;
		if (drv_check_file(disk, (uint64_t)b * BS, BS, k->want[b]) < 0)
			die("after kill %u: block %u does not hold its newest completed write (generation %llu): lost or replayed",
			    kill_no, b, (unsigned long long)k->want[b]);
	}
}

static void phase_kills(unsigned long n, unsigned int seed)
{
	struct kio *k = calloc(1, sizeof(*k));
	unsigned int rnd = seed, at_kill_total = 0;
	double t0 = now();
	struct drv_conn c;

	if (!k)
		die("out of memory");
	open_conn(&c, DRV_DIRECT, DEPTH);
	if (!vhk_has_feature(vhk_fe_protocol_features(c.fe),
			     VHK_PROTO_F_INFLIGHT_SHMFD))
		die("no INFLIGHT_SHMFD: reconnect cannot resubmit");
	for (unsigned int s = 0; s < DEPTH; s++) {
		k->bufs[s] = vhk_fe_alloc(c.fe, BS);
		if (!k->bufs[s])
			die("vhk_fe_alloc");
	}
	for (unsigned long kill_no = 1; kill_no <= n; kill_no++) {
		unsigned int run = 8 + (unsigned int)rand_r(&rnd) % 64, got = 0;

		/* I/O for a random number of completions, then kill. */
		while (got < run) {
			unsigned int r;

			k_submit(&c, k, &rnd);
			if (vhk_blk_drv_kick(c.drv, 0) < 0)
				die("kick failed");
			r = k_reap(&c, k);
			got += r;
			if (!r && vhk_blk_drv_wait(c.drv, 0, 5000) <= 0)
				die("kill %lu: %u writes stuck before the kill",
				    kill_no, k->inflight);
		}
		k_submit(&c, k, &rnd);
		if (vhk_blk_drv_kick(c.drv, 0) < 0)
			die("kick failed");
		drv_kill(&blk, SIGKILL);
		k_reap(&c, k);
		at_kill_total += k->inflight;
		spawn_daemon();
		if (vhk_fe_reconnect(c.fe) < 0)
			die("kill %lu: vhk_fe_reconnect failed", kill_no);
		if (vhk_blk_drv_resync(c.drv) < 0)
			die("kill %lu: vhk_blk_drv_resync failed", kill_no);
		/* Everything in flight completes on the new daemon. */
		while (k->inflight) {
			if (k_reap(&c, k))
				continue;
			if (vhk_blk_drv_wait(c.drv, 0, 5000) <= 0)
				die("kill %lu: %u write(s) lost (never completed after the restart)",
				    kill_no, k->inflight);
		}
		k_check_file(k, (unsigned int)kill_no);
	}
	/* and through the driver once more, every block */
	for (uint32_t b = 0; b < NBLK; b++) {
		uint8_t *buf = k->bufs[0];
		struct vhk_blk_req r = { .op = VHK_BLK_OP_READ,
					 .sector = (uint64_t)b * (BS / 512),
					 .buf = buf, .len = BS };

		if (!k->want[b])
			continue;
		if (vhk_blk_drv_run(c.drv, 0, &r, 5000) < 0 || r.result ||
		    drv_check(buf, BS, k->want[b], (uint64_t)b * BS) >= 0)
			die("block %u reads back wrong through the driver", b);
	}
	printf("soak: kills %lu in %.1f s; %llu writes completed, %u in flight at the kills (all completed after the restarts), 0 lost, 0 repeated\n",
	       n, now() - t0, (unsigned long long)k->completed,
	       at_kill_total);
	fflush(stdout);
	drv_close(&c);
	free(k);
}

/* ---- 3. front-ends killed mid-message and mid-IOTLB-miss ----------------- */

static int raw_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		_exit(3);
	return fd;
}

static void reap_child(pid_t pid, const char *what)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFSIGNALED(st) ||
	    WTERMSIG(st) != SIGKILL)
		die("%s: the front-end child did not die by SIGKILL", what);
}

static void kill_mid_message(bool header_only)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		struct vhk_vu_hdr h = { .request = VHK_VU_SET_MEM_TABLE,
					.flags = 1, .size = 8 + 32 };
		int fd = raw_connect();

		/* half a header, or a header and a few payload bytes */
		if (write(fd, &h, header_only ? 6 : sizeof(h)) < 0 ||
		    (!header_only && write(fd, "\1\0\0\0", 4) < 0))
			_exit(4);
		usleep(50 * 1000);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	reap_child(pid, header_only ? "mid-header" : "mid-payload");
}

/* One request, no fds; @reply: read the answer's u64 into *@out. */
static int raw_msg(int fd, uint32_t req, const void *pl, uint32_t size,
		   const int *fds, unsigned int nfds, uint64_t *out)
{
	struct vhk_vu_msg m = { .hdr = { .request = req,
					 .flags = VHK_VU_VERSION,
					 .size = size } };
	unsigned int nr = 0;
	int rfds[VHK_VU_MAX_FDS];

	if (pl)
		memcpy(&m.payload, pl, size);
	if (vhk_vu_send(fd, &m, fds, nfds) < 0)
		return -1;
	if (!out)
		return 0;
	if (vhk_vu_recv(fd, &m, rfds, &nr, VHK_VU_MAX_FDS) < 0 ||
	    m.hdr.request != req)
		return -1;
	*out = m.payload.u64;
	return 0;
}

/*
 * The child: a raw front-end in device-IOTLB mode whose ring addresses
 * are IOVAs it never maps.  It waits for the daemon's IOTLB MISS on the
 * back-end channel, tells the parent (@ready) and waits to be killed.
 */
static void mid_miss_child(int ready)
{
	uint64_t feat, proto, v;
	struct vhk_vu_memory mem = { .nregions = 1 };
	struct vhk_vu_vring_state st = { .index = 0, .num = 128 };
	struct vhk_vu_vring_addr va = { .index = 0,
					.desc_user_addr = 0x10000000,
					.avail_user_addr = 0x10001000,
					.used_user_addr = 0x10002000 };
	int fd = raw_connect(), ch[2], memfd, kick, call;
	struct vhk_vu_msg m;
	unsigned int nr;
	int rfds[VHK_VU_MAX_FDS];

	memfd = memfd_create("soak-guest", MFD_CLOEXEC);
	kick = eventfd(0, EFD_CLOEXEC);
	call = eventfd(0, EFD_CLOEXEC);
	if (memfd < 0 || kick < 0 || call < 0 || ftruncate(memfd, 1 << 20) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0)
		_exit(10);
	mem.regions[0].memory_size = 1 << 20;
	mem.regions[0].userspace_addr = 0x7f0000000000ull;
	alarm(20);	/* never outlive a broken run */
	/* the IOTLB channel needs BACKEND_REQ and REPLY_ACK (no message
	 * below asks for an ack) */
	proto = vhk_feature_bit(VHK_PROTO_F_BACKEND_REQ) |
		vhk_feature_bit(VHK_PROTO_F_REPLY_ACK);
	if (raw_msg(fd, VHK_VU_GET_FEATURES, NULL, 0, NULL, 0, &feat) ||
	    raw_msg(fd, VHK_VU_SET_OWNER, NULL, 0, NULL, 0, NULL) ||
	    raw_msg(fd, VHK_VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, &v) ||
	    (v & proto) != proto ||
	    raw_msg(fd, VHK_VU_SET_PROTOCOL_FEATURES, &proto, 8, NULL, 0,
		    NULL) ||
	    raw_msg(fd, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, &ch[1], 1, NULL))
		_exit(11);
	feat &= vhk_feature_bit(VHK_F_VERSION_1) |
		vhk_feature_bit(VHK_F_ACCESS_PLATFORM) |
		vhk_feature_bit(VHK_F_PROTOCOL_FEATURES);
	if (!vhk_has_feature(feat, VHK_F_ACCESS_PLATFORM) ||
	    raw_msg(fd, VHK_VU_SET_FEATURES, &feat, 8, NULL, 0, NULL) ||
	    raw_msg(fd, VHK_VU_SET_MEM_TABLE, &mem, 8 + 32, &memfd, 1, NULL) ||
	    raw_msg(fd, VHK_VU_SET_VRING_NUM, &st, 8, NULL, 0, NULL))
		_exit(12);
	st.num = 0;
	v = 0;
	if (raw_msg(fd, VHK_VU_SET_VRING_BASE, &st, 8, NULL, 0, NULL) ||
	    raw_msg(fd, VHK_VU_SET_VRING_ADDR, &va, sizeof(va), NULL, 0,
		    NULL) ||
	    raw_msg(fd, VHK_VU_SET_VRING_CALL, &v, 8, &call, 1, NULL) ||
	    raw_msg(fd, VHK_VU_SET_VRING_KICK, &v, 8, &kick, 1, NULL))
		_exit(13);
	st.num = 1;
	if (raw_msg(fd, VHK_VU_SET_VRING_ENABLE, &st, 8, NULL, 0, NULL) ||
	    eventfd_write(kick, 1) < 0)
		_exit(14);
	/* the daemon translates the ring's IOVAs: a MISS must come */
	do {
		if (vhk_vu_recv(ch[0], &m, rfds, &nr, VHK_VU_MAX_FDS) < 0)
			_exit(15);
	} while (m.hdr.request != VHK_VU_BACKEND_IOTLB_MSG ||
		 m.payload.iotlb.type != VHK_VU_IOTLB_MISS);
	if (write(ready, "m", 1) != 1)
		_exit(16);
	pause();
	_exit(17);
}

static void kill_mid_miss(void)
{
	int ready[2];
	pid_t pid;
	char ch;

	if (pipe(ready) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(ready[0]);
		mid_miss_child(ready[1]);	/* never returns; _exit only */
	}
	close(ready[1]);
	if (read(ready[0], &ch, 1) != 1) {
		int st = 0;

		waitpid(pid, &st, 0);
		die("mid-miss: the raw front-end got no IOTLB miss (child exit %d)",
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	close(ready[0]);
	kill(pid, SIGKILL);
	reap_child(pid, "mid-miss");
}

static void phase_hostile(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		kill_mid_message(true);
		serve_check(0x4e00 + i);
		kill_mid_message(false);
		serve_check(0x4f00 + i);
		kill_mid_miss();
		serve_check(0x5000 + i);
	}
	printf("soak: hostile %lu x (killed mid-header, mid-payload, mid-IOTLB-miss): the daemon served the next front-end each time\n",
	       n);
	fflush(stdout);
}

/* No sanitizer report in any daemon's log (killed ones included). */
static void check_logs(void)
{
	static const char *const bad[] = { "ERROR: AddressSanitizer",
		"ERROR: LeakSanitizer", "runtime error: " };
	DIR *d = opendir(drv_tmpdir());
	struct dirent *e;
	char path[512], line[1024];

	if (!d)
		die("cannot list %s", drv_tmpdir());
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		FILE *f;

		if (n < 4 || strcmp(e->d_name + n - 4, ".log"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", drv_tmpdir(), e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			for (unsigned int i = 0; i < 3; i++)
				if (strstr(line, bad[i])) {
					printf("---- %s\n", path);
					die("sanitizer report in a daemon log: %s",
					    line);
				}
		if (f)
			fclose(f);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	unsigned long cycles = 500, kills = 5, hostile = 1;
	unsigned int seed = (unsigned int)time(NULL);

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--cycles"))
			cycles = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--kills"))
			kills = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--hostile"))
			hostile = strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--seed"))
			seed = (unsigned int)strtoul(argv[i + 1], NULL, 0);
		else {
			fprintf(stderr, "usage: soak [--cycles N] [--kills N] [--hostile N] [--seed S]\n");
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	/* the front-end's per-connection info lines would be 10 000 lines */
	vhk_log_set_level(VHK_LOG_WARN);
	bin = drv_require("VHK_BLK_BIN", "vhostkit-blk");
	{
		/* An ASan daemon keeps freed memory in quarantine (256 MiB by
		 * default), which would read as RSS growth: none for the
		 * daemons spawned here (ignored by a build without ASan). */
		const char *o = getenv("ASAN_OPTIONS");
		char opts[512];

		snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
			 o ? o : "", o && *o ? ":" : "");
		setenv("ASAN_OPTIONS", opts, 1);
	}
	snprintf(sock, sizeof(sock), "%s/soak.sock", drv_tmpdir());
	snprintf(disk, sizeof(disk), "%s/soak.img", drv_tmpdir());
	if (drv_make_disk(disk, DISK_BYTES) < 0)
		die("cannot make %s", disk);
	printf("soak: seed %u\n", seed);
	spawn_daemon();
	if (cycles)
		phase_cycles(cycles);
	if (hostile)
		phase_hostile(hostile);
	if (kills)
		phase_kills(kills, seed);
	if (!daemon_alive())
		die("the daemon died");
	drv_kill(&blk, SIGTERM);
	check_logs();
	printf("soak: PASS\n");
	return 0;
}
