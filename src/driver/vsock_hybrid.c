// SPDX-License-Identifier: MIT
/*
 * vsock_hybrid.c - the host side of a hybrid vsock daemon's Unix-socket
 * protocol: "CONNECT <port>\n" / "OK <host port>\n" on the daemon's
 * socket (host -> guest), and listeners at "<uds_path>_<port>" (guest ->
 * host).  See vhostkit/vsock_driver.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhostkit/util.h"
#include "vhostkit/vsock_driver.h"

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int vhk_vsock_hybrid_connect(const char *uds_path, uint32_t port,
			     int timeout_ms, uint32_t *host_port)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    vhk_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct sockaddr_un sa;
	char req[32], line[40];
	unsigned long v;
	size_t n = 0;
	char *end;
	int fd, ret;

	ret = make_addr(uds_path, &sa);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto err;
	snprintf(req, sizeof(req), "CONNECT %u\n", port);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		goto err;
	/* Byte by byte: nothing after the newline belongs to us. */
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		uint64_t now = vhk_now_ns();
		ssize_t r;

		if (now >= deadline) {
			close(fd);
			return -ETIMEDOUT;
		}
		r = poll(&p, 1, deadline == UINT64_MAX ? -1 :
			 (int)((deadline - now) / 1000000u) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto err;
		if (r == 0)
			continue;
		r = recv(fd, line + n, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != ECONNRESET)
			goto err;
		if (r <= 0) {
			close(fd);
			return -ECONNREFUSED;	/* the guest refused */
		}
		if (line[n] == '\n')
			break;
		if (++n == sizeof(line) - 1) {
			close(fd);
			return -EPROTO;
		}
	}
	line[n] = 0;
	if (strncmp(line, "OK ", 3)) {
		close(fd);
		return -EPROTO;
	}
	errno = 0;
	v = strtoul(line + 3, &end, 10);
	if (errno || *end || end == line + 3 || v > UINT32_MAX) {
		close(fd);
		return -EPROTO;
	}
	if (host_port)
		*host_port = (uint32_t)v;
	return fd;
err:
	ret = -errno;
	close(fd);
	return ret;
}

int vhk_vsock_hybrid_listen(const char *uds_path, uint32_t port,
			    bool seqpacket)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	struct sockaddr_un sa;
	int fd, ret;

	snprintf(path, sizeof(path), "%s_%u", uds_path, port);
	ret = make_addr(path, &sa);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) |
		    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 128) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}
