// SPDX-License-Identifier: MIT
/*
 * vsockt - the guest side of the vsock peer tests (AF_VSOCK, inside the
 * QEMU guest only; busybox has no vsock).  Built with `gcc -static` by
 * tests/peers/guestkit.py when the guest kit is made.
 *
 * Servers (fork one child per connection, exit after COUNT connections):
 *   vsockt serve PORT echo|sink|seq COUNT
 *     echo  stream: write back what was read, until EOF
 *     sink  stream: read to EOF, then answer "<bytes> <crc32>\n" (half-close)
 *     seq   SEQPACKET: send every message back as one message
 * Clients (CID 2 = the host):
 *   vsockt send CID PORT BYTES SEED   write BYTES (xorshift SEED), shutdown
 *                                     (SHUT_WR), read "<bytes> <crc32>\n"
 *                                     and compare with what was sent
 *   vsockt recv CID PORT              read to EOF, print "<bytes> <crc32>"
 *   vsockt getline CID PORT           read one line, print it
 *   vsockt cid                        print the guest's own CID (/dev/vsock)
 *   vsockt echo CID PORT ROUNDS       messages of 1 B .. 64 KiB, read back
 *   vsockt multi CID PORT N BYTES     N connections at once (all connected
 *                                     before data), each a `send`
 *   vsockt seq CID PORT               SEQPACKET: sizes 1 B .. 64 KiB one by
 *                                     one and in bursts; each comes back as
 *                                     one message of the same size and bytes
 *   vsockt refused CID PORT           connect must fail with ECONNRESET in
 *                                     under 1 s (not a timeout)
 *   vsockt hold CID PORT SECONDS      connect, echo one byte, print "held",
 *                                     then wait for the socket to fail;
 *                                     print "failed errno=E after MS ms"
 * Every line it prints to stdout is a result the scenario scripts parse;
 * exit 0 = success.  The checksum is zlib's crc32 (the host side is Python).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define MAX_MSG		65536
#define IO_TIMEOUT_MS	60000
#define MAX_CONNS	256

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* zlib-compatible running crc32: start with 0. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

struct gen {
	uint64_t s;
};

static void gen_fill(struct gen *g, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if ((i & 7) == 0) {
			g->s ^= g->s << 13;
			g->s ^= g->s >> 7;
			g->s ^= g->s << 17;
		}
		buf[i] = (uint8_t)(g->s >> ((i & 7) * 8));
	}
}

static void gen_seed(struct gen *g, uint64_t seed)
{
	g->s = seed * 0x9e3779b97f4a7c15ull + 1;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void die(const char *what)
{
	printf("error %s errno=%d (%s)\n", what, errno, strerror(errno));
	fflush(stdout);
	exit(1);
}

/* Wait until @fd is ready for @ev; -1 (errno ETIMEDOUT) after @ms. */
static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int r;

	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			return -1;
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r;

		if (wait_fd(fd, POLLOUT, IO_TIMEOUT_MS) < 0)
			return -1;
		r = write(fd, (const char *)buf + done, n - done);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Read one line (up to 63 bytes) ending in '\n'. */
static int read_line(int fd, char *line, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		if (read_full(fd, line + n, 1) < 0)
			return -1;
		if (line[n] == '\n') {
			line[n] = 0;
			return 0;
		}
		n++;
	}
	errno = E2BIG;
	return -1;
}

static int vsock_connect(unsigned int cid, unsigned int port, int type)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port,
	};
	int fd = socket(AF_VSOCK, type, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- servers ----------------------------------------------------------- */

static int serve_echo(int fd)
{
	static uint8_t buf[MAX_MSG];

	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			return 1;
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 1;
		if (r == 0)
			return 0;
		if (write_full(fd, buf, (size_t)r) < 0)
			return 1;
	}
}

static int serve_sink(int fd)
{
	static uint8_t buf[MAX_MSG];
	unsigned long long total = 0;
	uint32_t crc = 0;
	char line[64];

	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			return 1;
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 1;
		if (r == 0)
			break;
		crc = crc32_update(crc, buf, (size_t)r);
		total += (unsigned long long)r;
	}
	/* The peer shut down its write side: our direction still works. */
	snprintf(line, sizeof(line), "%llu %u\n", total, crc);
	if (write_full(fd, line, strlen(line)) < 0)
		return 1;
	printf("sink %llu %u\n", total, crc);
	return 0;
}

static int serve_seq(int fd)
{
	static uint8_t buf[MAX_MSG + 64];

	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			return 1;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 1;
		if (r == 0)
			return 0;
		if (send(fd, buf, (size_t)r, 0) != r)
			return 1;
	}
}

static int cmd_serve(unsigned int port, const char *mode, int count)
{
	struct sockaddr_vm a = {
		.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
		.svm_port = port,
	};
	int seq = !strcmp(mode, "seq");
	int lfd = socket(AF_VSOCK, seq ? SOCK_SEQPACKET : SOCK_STREAM, 0);
	int failed = 0, live = 0, status;

	if (lfd < 0)
		die("socket");
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(lfd, 128) < 0)
		die("listen");
	printf("listening %u %s\n", port, mode);
	fflush(stdout);
	for (int i = 0; i < count; i++) {
		int fd, rc;
		pid_t pid;

		if (wait_fd(lfd, POLLIN, IO_TIMEOUT_MS) < 0)
			die("accept-wait");
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			die("accept");
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(lfd);
			if (!strcmp(mode, "echo"))
				rc = serve_echo(fd);
			else if (!strcmp(mode, "sink"))
				rc = serve_sink(fd);
			else
				rc = serve_seq(fd);
			if (rc)
				printf("conn-error errno=%d (%s)\n", errno,
				       strerror(errno));
			fflush(stdout);
			_exit(rc);
		}
		printf("accepted %d\n", i + 1);
		fflush(stdout);
		close(fd);
		live++;
		/* Reap finished children as we go. */
		while (waitpid(-1, &status, WNOHANG) > 0) {
			live--;
			failed |= !WIFEXITED(status) || WEXITSTATUS(status);
		}
	}
	close(lfd);
	while (live > 0 && wait(&status) > 0) {
		live--;
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	}
	printf("served %d %s\n", count, failed ? "FAIL" : "ok");
	return failed;
}

/* ---- clients ----------------------------------------------------------- */

static int cmd_send(unsigned int cid, unsigned int port,
		    unsigned long long bytes, uint64_t seed)
{
	static uint8_t buf[MAX_MSG];
	unsigned long long left = bytes, got_len;
	uint32_t crc = 0, got_crc;
	struct gen g;
	char line[64];
	long t0 = now_ms(), t1;
	int fd = vsock_connect(cid, port, SOCK_STREAM);

	if (fd < 0)
		die("connect");
	gen_seed(&g, seed);
	while (left) {
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

		gen_fill(&g, buf, n);
		crc = crc32_update(crc, buf, n);
		if (write_full(fd, buf, n) < 0)
			die("write");
		left -= n;
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown");
	if (read_line(fd, line, sizeof(line)) < 0)
		die("reply");
	t1 = now_ms();
	close(fd);
	if (sscanf(line, "%llu %u", &got_len, &got_crc) != 2) {
		printf("bad-reply '%s'\n", line);
		return 1;
	}
	printf("send %llu %u peer %llu %u %s %ld ms\n", bytes, crc, got_len,
	       got_crc, got_len == bytes && got_crc == crc ? "ok" : "MISMATCH",
	       t1 - t0);
	return !(got_len == bytes && got_crc == crc);
}

static int cmd_recv(unsigned int cid, unsigned int port)
{
	static uint8_t buf[MAX_MSG];
	unsigned long long total = 0;
	uint32_t crc = 0;
	int fd = vsock_connect(cid, port, SOCK_STREAM);

	if (fd < 0)
		die("connect");
	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			die("read-wait");
		r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read");
		if (r == 0)
			break;
		crc = crc32_update(crc, buf, (size_t)r);
		total += (unsigned long long)r;
	}
	close(fd);
	printf("recv %llu %u\n", total, crc);
	return 0;
}

static int cmd_getline(unsigned int cid, unsigned int port)
{
	char line[512];
	int fd = vsock_connect(cid, port, SOCK_STREAM);

	if (fd < 0)
		die("connect");
	if (read_line(fd, line, sizeof(line)) < 0)
		die("getline");
	close(fd);
	printf("%s\n", line);
	return 0;
}

static int cmd_cid(void)
{
	unsigned int cid = 0;
	int fd = open("/dev/vsock", O_RDONLY);

	if (fd < 0)
		die("open /dev/vsock");
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		die("IOCTL_VM_SOCKETS_GET_LOCAL_CID");
	close(fd);
	printf("%u\n", cid);
	return 0;
}

static const size_t msg_sizes[] = {
	1, 2, 3, 7, 8, 63, 64, 65, 511, 512, 1000, 3776, 3777, 4095, 4096,
	4097, 8191, 12345, 32768, 65535, 65536,
};
#define NSIZES (sizeof(msg_sizes) / sizeof(msg_sizes[0]))

static int cmd_echo(unsigned int cid, unsigned int port, int rounds)
{
	static uint8_t out[MAX_MSG], in[MAX_MSG];
	struct gen g;
	int fd = vsock_connect(cid, port, SOCK_STREAM);

	if (fd < 0)
		die("connect");
	gen_seed(&g, 42);
	for (int r = 0; r < rounds; r++) {
		size_t n = msg_sizes[r % NSIZES];

		gen_fill(&g, out, n);
		if (write_full(fd, out, n) < 0)
			die("write");
		if (read_full(fd, in, n) < 0)
			die("read");
		if (memcmp(in, out, n)) {
			printf("echo MISMATCH round %d size %zu\n", r, n);
			return 1;
		}
	}
	shutdown(fd, SHUT_WR);
	/* The echo peer closes after our EOF: read must then return 0. */
	if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0 || read(fd, in, 1) != 0)
		die("eof-after-shutdown");
	close(fd);
	printf("echo %d rounds ok\n", rounds);
	return 0;
}

struct mconn {
	int fd;
	unsigned long long left;
	uint32_t crc;
	struct gen g;
	char line[64];
	size_t nline;
	int done;
};

static int cmd_multi(unsigned int cid, unsigned int port, int n,
		     unsigned long long bytes)
{
	static uint8_t buf[MAX_MSG];
	static struct mconn c[MAX_CONNS];
	struct pollfd p[MAX_CONNS];
	int left = n, bad = 0;
	long t0 = now_ms();

	if (n < 1 || n > MAX_CONNS) {
		printf("bad N\n");
		return 1;
	}
	/* Every connection is established before any data flows. */
	for (int i = 0; i < n; i++) {
		c[i].fd = vsock_connect(cid, port, SOCK_STREAM);
		if (c[i].fd < 0) {
			printf("connect %d failed errno=%d\n", i, errno);
			return 1;
		}
		fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
		c[i].left = bytes;
		gen_seed(&c[i].g, 1000 + (uint64_t)i);
	}
	printf("multi %d connected in %ld ms\n", n, now_ms() - t0);
	while (left > 0) {
		int r;

		for (int i = 0; i < n; i++) {
			p[i].fd = c[i].done ? -1 : c[i].fd;
			p[i].events = c[i].left ? POLLOUT : POLLIN;
		}
		r = poll(p, (nfds_t)n, IO_TIMEOUT_MS);
		if (r == 0) {
			printf("multi timeout, %d left\n", left);
			return 1;
		}
		if (r < 0 && errno != EINTR)
			die("poll");
		for (int i = 0; i < n; i++) {
			struct mconn *m = &c[i];
			ssize_t w;

			if (m->done || !p[i].revents)
				continue;
			if (m->left) {
				/* Regenerate the chunk: the stream is a pure
				 * function of the seed, so save state first. */
				struct gen save = m->g;
				size_t k = m->left < 4096 ? (size_t)m->left
							   : 4096;

				gen_fill(&m->g, buf, k);
				w = write(m->fd, buf, k);
				if (w < 0 && errno == EAGAIN) {
					m->g = save;
					continue;
				}
				if (w < 0)
					die("multi-write");
				if ((size_t)w < k) {
					/* keep the generator aligned */
					m->g = save;
					gen_fill(&m->g, buf, (size_t)w);
				}
				m->crc = crc32_update(m->crc, buf, (size_t)w);
				m->left -= (unsigned long long)w;
				if (!m->left && shutdown(m->fd, SHUT_WR) < 0)
					die("multi-shutdown");
				continue;
			}
			w = read(m->fd, m->line + m->nline, 1);
			if (w < 0 && errno == EAGAIN)
				continue;
			if (w <= 0) {
				printf("multi %d reply read failed\n", i);
				return 1;
			}
			if (m->line[m->nline] == '\n' ||
			    ++m->nline == sizeof(m->line) - 1) {
				unsigned long long gl;
				unsigned int gc;

				m->line[m->nline] = 0;
				if (sscanf(m->line, "%llu %u", &gl, &gc) != 2 ||
				    gl != bytes || gc != m->crc) {
					printf("multi %d MISMATCH '%s' want %llu %u\n",
					       i, m->line, bytes, m->crc);
					bad++;
				}
				m->done = 1;
				close(m->fd);
				left--;
			}
		}
	}
	printf("multi %d x %llu %s in %ld ms\n", n, bytes,
	       bad ? "FAIL" : "ok", now_ms() - t0);
	return bad != 0;
}

static int seq_roundtrip(int fd, const size_t *sizes, int k, struct gen *g)
{
	static uint8_t out[16][MAX_MSG], in[MAX_MSG + 64];

	for (int i = 0; i < k; i++) {
		gen_fill(g, out[i], sizes[i]);
		if (wait_fd(fd, POLLOUT, IO_TIMEOUT_MS) < 0 ||
		    send(fd, out[i], sizes[i], 0) != (ssize_t)sizes[i])
			die("seq-send");
	}
	for (int i = 0; i < k; i++) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, IO_TIMEOUT_MS) < 0)
			die("seq-recv-wait");
		r = recv(fd, in, sizeof(in), MSG_TRUNC);
		if (r != (ssize_t)sizes[i] || memcmp(in, out[i], sizes[i])) {
			printf("seq boundary MISMATCH: sent %zu got %zd\n",
			       sizes[i], r);
			return 1;
		}
	}
	return 0;
}

static int cmd_seq(unsigned int cid, unsigned int port)
{
	struct gen g;
	size_t burst[16];
	int fd = vsock_connect(cid, port, SOCK_SEQPACKET);

	if (fd < 0)
		die("connect");
	gen_seed(&g, 7);
	/* One at a time, every size. */
	for (size_t i = 0; i < NSIZES; i++)
		if (seq_roundtrip(fd, &msg_sizes[i], 1, &g))
			return 1;
	/* Bursts: messages back to back must not merge or split. */
	for (int b = 0; b < 4; b++) {
		for (int i = 0; i < 16; i++)
			burst[i] = msg_sizes[(size_t)(b * 5 + i * 3) % NSIZES];
		if (seq_roundtrip(fd, burst, 16, &g))
			return 1;
	}
	close(fd);
	printf("seq %zu sizes + 4 bursts of 16 ok\n", NSIZES);
	return 0;
}

static int cmd_refused(unsigned int cid, unsigned int port)
{
	long t0 = now_ms(), ms;
	int fd = vsock_connect(cid, port, SOCK_STREAM);
	int e = errno;

	ms = now_ms() - t0;
	if (fd >= 0) {
		printf("refused: connect SUCCEEDED\n");
		return 1;
	}
	printf("refused errno=%d (%s) after %ld ms\n", e, strerror(e), ms);
	return !(e == ECONNRESET && ms < 1000);
}

static int cmd_hold(unsigned int cid, unsigned int port, int seconds)
{
	uint8_t b = 0x5a, r;
	long t0;
	struct pollfd p;
	int fd = vsock_connect(cid, port, SOCK_STREAM);
	ssize_t n;

	if (fd < 0)
		die("connect");
	if (write_full(fd, &b, 1) < 0 || read_full(fd, &r, 1) < 0 || r != b)
		die("hold-echo");
	printf("held\n");
	fflush(stdout);
	t0 = now_ms();
	p.fd = fd;
	p.events = POLLIN;
	if (poll(&p, 1, seconds * 1000) <= 0) {
		printf("hold: socket still open after %d s\n", seconds);
		return 1;
	}
	n = read(fd, &r, 1);
	printf("failed read=%zd errno=%d (%s) after %ld ms\n", n,
	       n < 0 ? errno : 0, n < 0 ? strerror(errno) : "EOF",
	       now_ms() - t0);
	/* A write on the dead socket must fail too, not block. */
	signal(SIGPIPE, SIG_IGN);
	n = write(fd, &b, 1);
	printf("write-after %zd errno=%d\n", n, n < 0 ? errno : 0);
	return n >= 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: vsockt serve PORT echo|sink|seq COUNT | "
		"send CID PORT BYTES SEED | recv CID PORT | getline CID PORT | cid | "
		"echo CID PORT ROUNDS | multi CID PORT N BYTES | "
		"seq CID PORT | refused CID PORT | hold CID PORT SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int cid, port;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	crc_init();
	if (argc == 2 && !strcmp(argv[1], "cid"))
		return cmd_cid();
	if (argc < 3)
		usage();
	if (!strcmp(argv[1], "serve")) {
		if (argc != 5)
			usage();
		return cmd_serve((unsigned int)strtoul(argv[2], NULL, 0),
				 argv[3], atoi(argv[4]));
	}
	if (argc < 4)
		usage();
	cid = (unsigned int)strtoul(argv[2], NULL, 0);
	port = (unsigned int)strtoul(argv[3], NULL, 0);
	if (!strcmp(argv[1], "send") && argc == 6)
		rc = cmd_send(cid, port, strtoull(argv[4], NULL, 0),
			      strtoull(argv[5], NULL, 0));
	else if (!strcmp(argv[1], "recv") && argc == 4)
		rc = cmd_recv(cid, port);
	else if (!strcmp(argv[1], "getline") && argc == 4)
		rc = cmd_getline(cid, port);
	else if (!strcmp(argv[1], "echo") && argc == 5)
		rc = cmd_echo(cid, port, atoi(argv[4]));
	else if (!strcmp(argv[1], "multi") && argc == 6)
		rc = cmd_multi(cid, port, atoi(argv[4]),
			       strtoull(argv[5], NULL, 0));
	else if (!strcmp(argv[1], "seq") && argc == 4)
		rc = cmd_seq(cid, port);
	else if (!strcmp(argv[1], "refused") && argc == 4)
		rc = cmd_refused(cid, port);
	else if (!strcmp(argv[1], "hold") && argc == 5)
		rc = cmd_hold(cid, port, atoi(argv[4]));
	else
		usage();
	return rc;
}
