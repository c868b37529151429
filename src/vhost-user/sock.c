/* SPDX-License-Identifier: MIT */
/*
 * sock.c - vhost-user message I/O on a Unix stream socket: one header with
 * its SCM_RIGHTS fds, then the payload (vhost-user spec, "Message
 * Specification").  Shared by the back-end server and the front-end.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhostkit/vhost_user.h"

static const char *const request_names[VHK_VU_REQUEST_MAX] = {
	[VHK_VU_NONE] = "NONE",
	[VHK_VU_GET_FEATURES] = "GET_FEATURES",
	[VHK_VU_SET_FEATURES] = "SET_FEATURES",
	[VHK_VU_SET_OWNER] = "SET_OWNER",
	[VHK_VU_RESET_OWNER] = "RESET_OWNER",
	[VHK_VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHK_VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHK_VU_SET_LOG_FD] = "SET_LOG_FD",
	[VHK_VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHK_VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHK_VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHK_VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHK_VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHK_VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHK_VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHK_VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHK_VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHK_VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHK_VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHK_VU_SEND_RARP] = "SEND_RARP",
	[VHK_VU_NET_SET_MTU] = "NET_SET_MTU",
	[VHK_VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHK_VU_IOTLB_MSG] = "IOTLB_MSG",
	[VHK_VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHK_VU_GET_CONFIG] = "GET_CONFIG",
	[VHK_VU_SET_CONFIG] = "SET_CONFIG",
	[VHK_VU_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VHK_VU_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VHK_VU_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VHK_VU_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VHK_VU_POSTCOPY_END] = "POSTCOPY_END",
	[VHK_VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHK_VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHK_VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VHK_VU_RESET_DEVICE] = "RESET_DEVICE",
	[VHK_VU_VRING_KICK] = "VRING_KICK",
	[VHK_VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHK_VU_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHK_VU_REM_MEM_REG] = "REM_MEM_REG",
	[VHK_VU_SET_STATUS] = "SET_STATUS",
	[VHK_VU_GET_STATUS] = "GET_STATUS",
};

static const char *const backend_names[VHK_VU_BACKEND_REQUEST_MAX] = {
	[VHK_VU_BACKEND_NONE] = "NONE",
	[VHK_VU_BACKEND_IOTLB_MSG] = "IOTLB_MSG",
	[VHK_VU_BACKEND_CONFIG_CHANGE_MSG] = "CONFIG_CHANGE_MSG",
	[VHK_VU_BACKEND_VRING_HOST_NOTIFIER_MSG] = "VRING_HOST_NOTIFIER_MSG",
	[VHK_VU_BACKEND_VRING_CALL] = "VRING_CALL",
	[VHK_VU_BACKEND_VRING_ERR] = "VRING_ERR",
};

const char *vhk_vu_request_name(uint32_t request)
{
	if (request < VHK_VU_REQUEST_MAX && request_names[request])
		return request_names[request];
	return "UNKNOWN";
}

const char *vhk_vu_backend_request_name(uint32_t request)
{
	if (request < VHK_VU_BACKEND_REQUEST_MAX && backend_names[request])
		return backend_names[request];
	return "UNKNOWN";
}

static void close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Read exactly @len bytes (no fds expected); 0, -ECONNRESET or -errno. */
static int read_full(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = recv(sock, p, len, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Pull every SCM_RIGHTS fd out of @mh: the first @max go to @fds, the rest
 * are closed here (the one place extra fds of a header are dropped).
 */
static unsigned int collect_fds(struct msghdr *mh, int *fds, unsigned int max)
{
	unsigned int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t cnt;
		int tmp;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		if (c->cmsg_len < CMSG_LEN(0))
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			/* CMSG_DATA may be unaligned for int: memcpy it. */
			memcpy(&tmp, CMSG_DATA(c) + i * sizeof(int),
			       sizeof(int));
			if (n < max && fds)
				fds[n++] = tmp;
			else
				close(tmp);
		}
	}
	return n;
}

int vhk_vu_recv(int sock, struct vhk_vu_msg *msg, int *fds, unsigned int *nfds,
		unsigned int max_fds)
{
	/* Room for far more fds than allowed, so that extras are received
	 * (and closed) rather than silently truncated by the kernel and
	 * leaked via MSG_CTRUNC semantics. */
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHK_VU_MAX_FDS * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &msg->hdr, .iov_len = sizeof(msg->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	unsigned int got = 0;
	size_t have = 0;
	ssize_t r;
	int err;

	*nfds = 0;
	memset(&msg->hdr, 0, sizeof(msg->hdr));
	/* The header (and its fds) may arrive in pieces: ancillary data
	 * comes with the first byte. */
	while (have < sizeof(msg->hdr)) {
		iov.iov_base = (uint8_t *)&msg->hdr + have;
		iov.iov_len = sizeof(msg->hdr) - have;
		mh.msg_control = have ? NULL : ctl.buf;
		mh.msg_controllen = have ? 0 : sizeof(ctl.buf);
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto fail;
		}
		if (r == 0) {
			err = -ECONNRESET;
			goto fail;
		}
		if (have == 0)
			got = collect_fds(&mh, fds, max_fds);
		have += (size_t)r;
	}
	*nfds = got;
	if ((msg->hdr.flags & VHK_VU_VERSION_MASK) != VHK_VU_VERSION) {
		err = -EPROTO;
		goto fail;
	}
	if (msg->hdr.size > sizeof(msg->payload)) {
		err = -EMSGSIZE;
		goto fail;
	}
	if (msg->hdr.size) {
		err = read_full(sock, &msg->payload, msg->hdr.size);
		if (err)
			goto fail;
	}
	return 0;
fail:
	if (fds)
		close_fds(fds, got);
	*nfds = 0;
	return err;
}

int vhk_vu_send(int sock, const struct vhk_vu_msg *msg, const int *fds,
		unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHK_VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t total, done = 0;
	const uint8_t *p = (const uint8_t *)msg;

	if (nfds > VHK_VU_MAX_FDS || msg->hdr.size > sizeof(msg->payload))
		return -EINVAL;
	total = sizeof(msg->hdr) + msg->hdr.size;
	while (done < total) {
		struct iovec iov = {
			.iov_base = (void *)(p + done),
			.iov_len = total - done,
		};
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r;

		if (done == 0 && nfds > 0) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}
