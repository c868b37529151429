/* SPDX-License-Identifier: MIT */
/*
 * fdio.c - notifications through fds a front-end handed us, without ever
 * blocking (docs/interop.md, "File descriptors from the front-end").
 *
 * A call fd may be a blocking eventfd whose counter sits at its limit
 * (0xfffffffffffffffe), or a pipe that nobody reads; a kick fd may be a
 * blocking eventfd with nothing to read.  A plain write()/read() would
 * then block the device thread, and with it the control channel and every
 * later front-end.
 *
 * Setting O_NONBLOCK with fcntl() is not used: file status flags belong to
 * the open file description, which the front-end shares (SCM_RIGHTS passes
 * the description, not a copy), so it would change the front-end's own
 * reads and writes - and a front-end could clear it again at any moment.
 * Instead every access is non-blocking per call:
 *
 *  - RWF_NOWAIT (preadv2/pwritev2) where the kernel honours it for the
 *    fd's type (pipes both ways; eventfd reads);
 *  - otherwise poll(..., 0) right before the one read or write, as the
 *    protocol's sole reader of a kick fd and sole writer of a call fd.
 *
 * An fd found unwritable counts as "notification already pending": an
 * eventfd at its limit is non-zero, a full pipe has unread bytes, so the
 * front-end is signalled anyway.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server_int.h"

/* One poll(..., 0): 1 if @ev is ready, 0 if not, -errno if the fd is
 * closed, hung up or in error. */
static int ready_now(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do {
		n = poll(&p, 1, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (p.revents & POLLNVAL)
		return -EBADF;
	if (p.revents & ev)
		return 1;
	if (p.revents & (POLLERR | POLLHUP))
		return -EPIPE;
	return 0;
}

int be_fd_signal(int fd, int8_t *nowait)
{
	uint64_t one = 1;
	struct iovec iov = { .iov_base = &one, .iov_len = sizeof(one) };
	ssize_t w;
	int r;

	/*
	 * Poll first even where RWF_NOWAIT works: a pipe whose reader is
	 * gone reports POLLERR here instead of raising SIGPIPE below.
	 */
	r = ready_now(fd, POLLOUT);
	if (r <= 0)
		return r < 0 ? r : 1;
	for (;;) {
		if (*nowait >= 0) {
			w = pwritev2(fd, &iov, 1, -1, RWF_NOWAIT);
			if (w < 0 && errno == EOPNOTSUPP) {
				*nowait = -1;	/* eventfd: poll is the guard */
				continue;
			}
			if (w >= 0)
				*nowait = 1;
		} else {
			w = write(fd, &one, sizeof(one));
		}
		if (w == (ssize_t)sizeof(one))
			return 0;
		if (w >= 0)
			return -EIO;	/* a short write: not an eventfd/pipe */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 1;
		return -errno;
	}
}

int be_fd_drain(int fd, int8_t *nowait)
{
	uint64_t v;
	struct iovec iov = { .iov_base = &v, .iov_len = sizeof(v) };
	ssize_t n;
	int r;

	for (;;) {
		if (*nowait >= 0) {
			n = preadv2(fd, &iov, 1, -1, RWF_NOWAIT);
			if (n < 0 && errno == EOPNOTSUPP) {
				*nowait = -1;
				continue;
			}
			if (n >= 0)
				*nowait = 1;
		} else {
			r = ready_now(fd, POLLIN);
			if (r <= 0)
				return r < 0 ? r : 0;
			n = read(fd, &v, sizeof(v));
		}
		if (n > 0)
			return 1;
		if (n == 0)
			return -EPIPE;		/* a pipe without writers */
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

/*
 * Anonymous-inode files (eventfd, and timerfd, signalfd, epoll...) share
 * one inode: an fd that fstat()s like our own eventfd is one of them,
 * never a pipe, socket or regular file.
 */
static dev_t anon_dev;
static ino_t anon_ino;
static bool anon_known;
static pthread_once_t anon_once = PTHREAD_ONCE_INIT;

static void anon_probe(void)
{
	struct stat st;
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		anon_dev = st.st_dev;
		anon_ino = st.st_ino;
		anon_known = true;
	}
	close(fd);
}

bool be_fd_anon(int fd)
{
	struct stat st;

	pthread_once(&anon_once, anon_probe);
	return anon_known && fstat(fd, &st) == 0 && st.st_dev == anon_dev &&
	       st.st_ino == anon_ino;
}
