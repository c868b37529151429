/* SPDX-License-Identifier: MIT */
/*
 * host.c - the hybrid host side: the listening Unix socket at uds_path and
 * its "CONNECT <port>\n" clients, connections to "<uds_path>_<port>", the
 * bytes the guest sent that the host has not read yet, and the timers.
 *
 * Every fd is non-blocking and lives in the device's own epoll set (one
 * fd the server watches).  A host client is untrusted: a CONNECT line
 * without newline, longer than VSOCK_LINE_MAX, not a number, or not
 * complete within VSOCK_LINE_MS closes that client and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "dev/vsock/vsock_int.h"

static int make_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

static int ep_add(struct vhk_vsock *vs, int fd, uint32_t events, void *ptr)
{
	struct epoll_event e = { .events = events, .data.ptr = ptr };

	return epoll_ctl(vs->ep, EPOLL_CTL_ADD, fd, &e) ? -errno : 0;
}

int vsock_host_init(struct vhk_vsock *vs)
{
	struct sockaddr_un sa;
	struct stat st;
	int ret;

	vs->listen_fd = vs->timer_fd = vs->inbox_fd = -1;
	vs->listen_ev.kind = VSOCK_EV_LISTEN;
	vs->timer_ev.kind = VSOCK_EV_TIMER;
	vs->inbox_ev.kind = VSOCK_EV_INBOX;
	ret = make_addr(vs->uds_path, &sa);
	if (ret)
		return ret;
	vs->ep = epoll_create1(EPOLL_CLOEXEC);
	if (vs->ep < 0)
		return -errno;
	vs->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				      TFD_NONBLOCK | TFD_CLOEXEC);
	vs->inbox_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
			       SOCK_CLOEXEC, 0);
	if (vs->timer_fd < 0 || vs->inbox_fd < 0 || vs->listen_fd < 0)
		return -errno;
	/* A stale socket from a previous run is replaced; anything else at
	 * that path is not ours to remove. */
	if (lstat(vs->uds_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlink(vs->uds_path);
	}
	if (bind(vs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(vs->listen_fd, 128))
		return -errno;
	vs->unlink_uds = true;
	ret = ep_add(vs, vs->listen_fd, EPOLLIN, &vs->listen_ev);
	if (!ret)
		ret = ep_add(vs, vs->timer_fd, EPOLLIN, &vs->timer_ev);
	if (!ret)
		ret = ep_add(vs, vs->inbox_fd, EPOLLIN, &vs->inbox_ev);
	return ret;
}

static void client_free(struct vhk_vsock *vs, struct vsock_client *cl,
			bool close_fd)
{
	struct vsock_client **pp = &vs->clients;

	while (*pp && *pp != cl)
		pp = &(*pp)->next;
	if (*pp)
		*pp = cl->next;
	epoll_ctl(vs->ep, EPOLL_CTL_DEL, cl->fd, NULL);
	if (close_fd)
		close(cl->fd);
	vs->nclients--;
	if (vs->in_poll) {
		cl->dead = true;	/* the batch may still name it */
		cl->next = vs->zombie_clients;
		vs->zombie_clients = cl;
		return;
	}
	free(cl);
}

static void reap(struct vhk_vsock *vs)
{
	while (vs->zombie_clients) {
		struct vsock_client *cl = vs->zombie_clients;

		vs->zombie_clients = cl->next;
		free(cl);
	}
	vsock_conn_reap(vs);
}

void vsock_host_drop_clients(struct vhk_vsock *vs)
{
	while (vs->clients)
		client_free(vs, vs->clients, true);
}

void vsock_host_fini(struct vhk_vsock *vs)
{
	vsock_host_drop_clients(vs);
	if (vs->listen_fd >= 0)
		close(vs->listen_fd);
	if (vs->unlink_uds)
		unlink(vs->uds_path);
	if (vs->timer_fd >= 0)
		close(vs->timer_fd);
	if (vs->inbox_fd >= 0)
		close(vs->inbox_fd);
	if (vs->ep >= 0)
		close(vs->ep);
	vs->listen_fd = vs->timer_fd = vs->inbox_fd = vs->ep = -1;
}

void vsock_host_arm_timer(struct vhk_vsock *vs)
{
	struct itimerspec its = {
		.it_interval = { 0, VSOCK_TICK_MS * 1000000l },
		.it_value = { 0, VSOCK_TICK_MS * 1000000l },
	};

	if (vs->timer_armed || vs->timer_fd < 0)
		return;
	if (timerfd_settime(vs->timer_fd, 0, &its, NULL) == 0)
		vs->timer_armed = true;
}

/* Connect to "<uds_path>_<port>"; the fd or -errno (nobody listening). */
int vsock_host_connect(struct vhk_vsock *vs, uint32_t port, uint16_t type)
{
	struct sockaddr_un sa;
	char path[sizeof(sa.sun_path) + 16];
	int fd, st = type == VHK_VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET :
						     SOCK_STREAM;

	snprintf(path, sizeof(path), "%s_%u", vs->uds_path, port);
	if (make_addr(path, &sa))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, st | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX connects at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void vsock_host_close_fd(struct vhk_vsock *vs, struct vsock_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->fd_in_ep)
		epoll_ctl(vs->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->fd_in_ep = false;
	c->fd_events = 0;
}

/*
 * Poll the host socket: input edge-triggered, always (a connection that
 * cannot take input now - no credit, no rx buffers - is simply not read;
 * host_drained remembers whether bytes may be waiting, so changing what
 * the connection can use costs no epoll_ctl), output while guest bytes
 * are queued for it.  A connection that can read again with bytes
 * possibly waiting (no edge will come for them) goes on the rx list.
 */
void vsock_host_update_events(struct vhk_vsock *vs, struct vsock_conn *c)
{
	struct epoll_event e = { .data.ptr = c };
	uint32_t want = EPOLLIN | EPOLLRDHUP | EPOLLET;

	if (c->fd < 0 || c->host_hup)
		return;
	if (c->buf_len || c->msg_count)
		want |= EPOLLOUT;
	if (!c->fd_in_ep || want != c->fd_events) {
		e.events = want;
		if (epoll_ctl(vs->ep, c->fd_in_ep ? EPOLL_CTL_MOD :
			      EPOLL_CTL_ADD, c->fd, &e) == 0) {
			/* Added: bytes already there are reported now. */
			if (!c->fd_in_ep)
				c->host_drained = true;
			c->fd_in_ep = true;
			c->fd_events = want;
		}
	}
	if (!c->on_rx && !c->host_drained && c->state == CONN_OPEN &&
	    !c->host_eof && !c->stage &&
	    !(c->guest_shut & VHK_VSOCK_SHUTDOWN_RCV) &&
	    vsock_conn_credit(c) >= VHK_MAX(c->seq_need, 1u))
		vsock_rx_add(vs, c);
}

/* Append @n payload bytes to the ring (the credit check made room). */
static void ring_append(struct vsock_conn *c, struct vhk_iter *it,
			uint32_t n)
{
	uint32_t tail = (c->buf_head + c->buf_len) % c->buf_alloc;
	uint32_t first = VHK_MIN(n, c->buf_alloc - tail);

	(void)vhk_iter_read(it, c->buf + tail, first);
	if (n > first)
		(void)vhk_iter_read(it, c->buf, n - first);
	c->buf_len += n;
}

/* The ring's first @n bytes as at most two iovecs. */
static int ring_iov(const struct vsock_conn *c, uint32_t n,
		    struct iovec *iov)
{
	uint32_t first = VHK_MIN(n, c->buf_alloc - c->buf_head);

	iov[0].iov_base = c->buf + c->buf_head;
	iov[0].iov_len = first;
	if (n == first)
		return 1;
	iov[1].iov_base = c->buf;
	iov[1].iov_len = n - first;
	return 2;
}

static void ring_consume(struct vsock_conn *c, uint32_t n)
{
	c->buf_head = (c->buf_head + n) % c->buf_alloc;
	c->buf_len -= n;
	if (!c->buf_len)
		c->buf_head = 0;
	c->fwd_cnt += n;
}

static int ensure_buf(struct vsock_conn *c)
{
	if (!c->buf)
		c->buf = malloc(c->buf_alloc);
	return c->buf ? 0 : -ENOMEM;
}

static bool hard_error(int err)
{
	return err != EAGAIN && err != EWOULDBLOCK && err != EINTR;
}

/*
 * Send up to @len bytes of @it to @fd without moving @it: one sendmsg
 * over the chain's segments, or through the scratch buffer when the chain
 * is too fragmented for one call.  Bytes sent (0 if the socket is full),
 * or -errno.
 */
static ssize_t send_iter(struct vhk_vsock *vs, int fd,
			 const struct vhk_iter *it, uint32_t len)
{
	struct vhk_iter tmp = *it;
	struct msghdr mh = { .msg_iov = vs->io_iov };
	ssize_t w, total = 0;
	int nseg;

	nseg = vhk_iter_slice(&tmp, len, vs->io_iov, VSOCK_MAX_IOV);
	if (nseg >= 0) {
		mh.msg_iovlen = (size_t)nseg;
		w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0)
			return hard_error(errno) ? -errno : 0;
		return w;
	}
	tmp = *it;
	while ((uint32_t)total < len) {
		size_t n = vhk_iter_read(&tmp, vs->scratch,
					 VHK_MIN(len - (uint32_t)total,
						 VSOCK_PKT_MAX));

		w = send(fd, vs->scratch, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (hard_error(errno) && !total)
				return -errno;
			break;
		}
		total += w;
		if ((size_t)w < n)
			break;
	}
	return total;
}

/*
 * vsock_host_write - the guest's RW payload (@len bytes of @payload,
 * within our credit) toward the host socket: written at once when
 * nothing is queued, the rest queued (at most buf_alloc bytes, which the
 * credit guarantees).  Seqpacket messages are gathered until EOM and sent
 * whole.  Returns 0 or a negative errno (host gone: reset the flow).
 */
int vsock_host_write(struct vhk_vsock *vs, struct vsock_conn *c,
		     struct vhk_iter *payload, uint32_t len, uint32_t flags)
{
	c->recv_cnt += len;
	if (c->type == VHK_VSOCK_TYPE_SEQPACKET) {
		if (ensure_buf(c))
			return -ENOMEM;
		ring_append(c, payload, len);
		c->msg_open += len;
		if (flags & VHK_VSOCK_SEQ_EOM) {
			if (c->msg_count == c->msg_cap) {
				uint32_t cap = c->msg_cap ? c->msg_cap * 2 : 16;
				uint32_t *m, i;

				if (cap > VSOCK_SEQ_MAX_MSGS)
					return -ENOBUFS;
				m = malloc(cap * sizeof(*m));
				if (!m)
					return -ENOMEM;
				for (i = 0; i < c->msg_count; i++)
					m[i] = c->msg_len[(c->msg_head + i) %
							  c->msg_cap];
				free(c->msg_len);
				c->msg_len = m;
				c->msg_head = 0;
				c->msg_cap = cap;
			}
			c->msg_len[(c->msg_head + c->msg_count) % c->msg_cap] =
				c->msg_open;
			c->msg_count++;
			c->msg_open = 0;
		}
		return vsock_host_flush(vs, c);
	}
	if (!c->buf_len && len) {
		ssize_t w;

		if (vsock_gather_add(vs, c, payload, len))
			return 0;	/* sent by vsock_gather_flush() */
		w = send_iter(vs, c->fd, payload, len);

		if (w < 0)
			return (int)w;
		vhk_iter_skip(payload, (size_t)w);
		c->fwd_cnt += (uint32_t)w;
		vs->st.tx_bytes += (uint64_t)w;
		len -= (uint32_t)w;
	}
	if (len) {
		if (ensure_buf(c))
			return -ENOMEM;
		ring_append(c, payload, len);
		vsock_host_update_events(vs, c);
	}
	return 0;
}

/* vsock_host_buffer - @n bytes of @it into @c's buffer (the credit made
 * room for them); 0 or -ENOMEM. */
int vsock_host_buffer(struct vsock_conn *c, struct vhk_iter *it, uint32_t n)
{
	if (ensure_buf(c))
		return -ENOMEM;
	ring_append(c, it, n);
	return 0;
}

/*
 * vsock_host_flush - queued guest bytes toward the host; then finish a
 * flow the guest shut down.  Returns 0, or -EPIPE when the host side
 * failed (the caller resets the flow); a closing flow that is done is
 * reset here (the clean disconnect's RST) and 1 returned: @c is gone.
 */
int vsock_host_flush(struct vhk_vsock *vs, struct vsock_conn *c)
{
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov };
	ssize_t w;

	while (c->fd >= 0 && !c->host_hup) {
		uint32_t n;

		if (c->type == VHK_VSOCK_TYPE_SEQPACKET) {
			if (!c->msg_count)
				break;
			n = c->msg_len[c->msg_head];
		} else {
			if (!c->buf_len)
				break;
			n = c->buf_len;
		}
		mh.msg_iovlen = n ? (size_t)ring_iov(c, n, iov) : 0;
		w = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (hard_error(errno))
				return -EPIPE;
			break;
		}
		if (c->type == VHK_VSOCK_TYPE_SEQPACKET) {
			ring_consume(c, n);
			c->msg_head = (c->msg_head + 1) % c->msg_cap;
			c->msg_count--;
			vs->st.tx_bytes += n;
		} else {
			ring_consume(c, (uint32_t)w);
			vs->st.tx_bytes += (uint64_t)w;
		}
	}
	if (!c->buf_len && !c->msg_count) {
		if (c->state == CONN_CLOSING) {
			vsock_conn_reset(vs, c);	/* the clean end's RST */
			return 1;
		}
		if (c->guest_shut & VHK_VSOCK_SHUTDOWN_SEND)
			vsock_host_shut_wr(vs, c);
	}
	if (vsock_conn_update_due(c))
		vsock_conn_want(vs, c, P_CREDIT_UPDATE);
	vsock_host_update_events(vs, c);
	return 0;
}

/* The guest sends no more: EOF for the host once its bytes are out. */
void vsock_host_shut_wr(struct vhk_vsock *vs, struct vsock_conn *c)
{
	(void)vs;
	if (c->fd < 0 || c->host_wr_shut || c->buf_len || c->msg_count)
		return;
	shutdown(c->fd, SHUT_WR);
	c->host_wr_shut = true;
}

/* The guest accepted a host client's connect: "OK <host port>\n". */
void vsock_host_send_ok(struct vhk_vsock *vs, struct vsock_conn *c)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "OK %u\n", c->peer_port);

	if (c->fd < 0 ||
	    send(c->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
		vs->st.rst_other++;
		vsock_conn_reset(vs, c);
		return;
	}
	vsock_host_update_events(vs, c);
}

/* ---- host clients and their CONNECT line */

static void client_reject(struct vhk_vsock *vs, struct vsock_client *cl,
			  const char *why)
{
	vs->st.host_bad_connect++;
	vs_warn(vs, "host client on %s: %s: closed", vs->uds_path, why);
	client_free(vs, cl, true);
}

/* "CONNECT <port>" (the newline already cut); the port or -EINVAL. */
static int64_t parse_connect(const char *line, uint32_t len)
{
	uint64_t v = 0;
	uint32_t i = 8;

	if (len && line[len - 1] == '\r')
		len--;
	if (len <= 8 || memcmp(line, "CONNECT ", 8))
		return -EINVAL;
	if (len - i > 10)
		return -EINVAL;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	return v > 0xffffffffull ? -EINVAL : (int64_t)v;
}

static void client_connect(struct vhk_vsock *vs, struct vsock_client *cl,
			   uint32_t port)
{
	struct vsock_conn *c;
	uint32_t hport = vsock_conn_alloc_port(vs, port);
	int fd = cl->fd;

	client_free(vs, cl, false);
	c = vsock_conn_new(vs, port, VHK_VSOCK_CID_HOST, hport,
			   VHK_VSOCK_TYPE_STREAM, fd);
	if (!c) {
		vs->st.rst_other++;	/* fd closed by conn_new */
		return;
	}
	c->state = CONN_REQUEST;
	c->deadline_ns = vhk_now_ns() + vs->connect_ms * 1000000ull;
	vsock_host_arm_timer(vs);
	vsock_host_update_events(vs, c);
	vsock_conn_want(vs, c, P_REQUEST);
}

static void client_readable(struct vhk_vsock *vs, struct vsock_client *cl)
{
	char buf[VSOCK_LINE_MAX];
	uint32_t room = VSOCK_LINE_MAX - cl->len;
	ssize_t r;
	char *nl;
	int64_t port;

	/* Peek, then take the line only: bytes after the newline belong to
	 * the stream and stay in the socket. */
	r = recv(cl->fd, buf, room, MSG_PEEK | MSG_DONTWAIT);
	if (r < 0 && !hard_error(errno))
		return;
	if (r <= 0) {
		client_reject(vs, cl, r ? "read error" :
			      "closed before the end of its CONNECT line");
		return;
	}
	nl = memchr(buf, '\n', (size_t)r);
	if (nl)
		r = nl - buf + 1;
	if (recv(cl->fd, cl->line + cl->len, (size_t)r, MSG_DONTWAIT) != r) {
		client_reject(vs, cl, "read error");
		return;
	}
	cl->len += (uint32_t)r;
	if (!nl) {
		if (cl->len >= VSOCK_LINE_MAX)
			client_reject(vs, cl, "CONNECT line too long");
		return;
	}
	port = parse_connect(cl->line, cl->len - 1);
	if (port < 0) {
		client_reject(vs, cl, "not a \"CONNECT <port>\" line");
		return;
	}
	client_connect(vs, cl, (uint32_t)port);
}

static void accept_clients(struct vhk_vsock *vs)
{
	unsigned int i;

	for (i = 0; i < 64; i++) {
		struct vsock_client *cl;
		int fd = accept4(vs->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		vs->st.host_clients++;
		if (vs->nclients >= VSOCK_MAX_CLIENTS ||
		    !(cl = calloc(1, sizeof(*cl)))) {
			vs->st.host_bad_connect++;
			vs_warn(vs, "too many host clients waiting for their CONNECT line: closed one");
			close(fd);
			continue;
		}
		cl->ev.kind = VSOCK_EV_CLIENT;
		cl->fd = fd;
		cl->deadline_ns = vhk_now_ns() + vs->line_ms * 1000000ull;
		if (ep_add(vs, fd, EPOLLIN, cl)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = vs->clients;
		vs->clients = cl;
		vs->nclients++;
		vsock_host_arm_timer(vs);
	}
}

/* ---- connection events and timers */

static void conn_event(struct vhk_vsock *vs, struct vsock_conn *c,
		       uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		c->host_drained = false;	/* something to read again */
	/* The host shut its side: its EOF came with this edge, and no
	 * other edge follows a read that leaves only the EOF behind. */
	if (events & EPOLLRDHUP)
		c->host_rdhup = true;
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* Closed both ways (or failed): read what is left, then
		 * SHUTDOWN(RCV|SEND) to the guest; queued guest bytes have
		 * no reader any more. */
		if (c->fd_in_ep)
			epoll_ctl(vs->ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->fd_in_ep = false;
		c->host_hup = true;
		c->fwd_cnt += c->buf_len;	/* dropped: credit flows */
		c->buf_len = c->buf_head = 0;
		c->msg_count = 0;
		if (c->state != CONN_OPEN) {
			vs->st.rst_other++;
			vsock_conn_reset(vs, c);
			return;
		}
		/* Already read to EOF: the guest still has to hear that
		 * the host receives no more either. */
		if (c->host_eof && !(c->shut_sent & VHK_VSOCK_SHUTDOWN_RCV))
			c->pending |= P_SHUTDOWN;
		vsock_rx_add(vs, c);
		return;
	}
	if (events & EPOLLOUT) {
		int r = vsock_host_flush(vs, c);

		if (r < 0) {
			vs->st.rst_other++;
			vsock_conn_reset(vs, c);
		}
		if (r)
			return;		/* @c is gone */
	}
	/* Edge-triggered: this input is reported once, whether or not the
	 * connection can read it now (rx.c reads when it can). */
	if (events & EPOLLIN)
		vsock_rx_add(vs, c);
}

static void expire_conn(struct vhk_vsock *vs, struct vsock_conn *c)
{
	if (!c->deadline_ns || vhk_now_ns() < c->deadline_ns)
		return;
	if (c->state == CONN_REQUEST) {
		vs_warn(vs, "guest did not answer a connect to port %u: reset",
			c->guest_port);
		vs->st.host_refused++;
	} else {
		vs_warn(vs, "host did not read the last bytes of %u->%u in time: reset",
			c->guest_port, c->peer_port);
	}
	vs->st.rst_other++;
	vsock_conn_reset(vs, c);
}

/* Still stalled on the guest's credit (nothing else to send)? */
static bool credit_stalled(const struct vsock_conn *c)
{
	return c->credit_asked && c->state == CONN_OPEN &&
	       (c->fd >= 0 || c->stage) &&
	       vsock_conn_credit(c) < VHK_MAX(c->seq_need, 1u);
}

/*
 * A CREDIT_REQUEST the guest did not answer (VIRTIO 1.2, 5.10.6.3): it
 * may have been lost to a driver that missed it, and without an update we
 * would never send again.  Ask again after credit_retry_ms, doubling, at
 * most credit_retries times per stall (any credit the guest gives ends
 * the stall and resets the count, conn.c).
 */
static void retry_credit(struct vhk_vsock *vs, struct vsock_conn *c)
{
	uint64_t wait_ms;

	if (!credit_stalled(c) || c->credit_retries >= vs->credit_retries)
		return;
	wait_ms = (uint64_t)vs->credit_retry_ms << c->credit_retries;
	if (vhk_now_ns() < c->credit_asked_ns + wait_ms * 1000000ull)
		return;
	c->credit_retries++;
	c->credit_asked = false;
	vhk_log(VHK_LOG_DEBUG, vs->name,
		"%u->%u: no CREDIT_UPDATE for %llu ms: CREDIT_REQUEST again (%u/%u)",
		c->peer_port, c->guest_port, (unsigned long long)wait_ms,
		c->credit_retries, vs->credit_retries);
	vsock_conn_want(vs, c, P_CREDIT_REQ);
}

static bool deadline_left;

static void note_deadline(struct vhk_vsock *vs, struct vsock_conn *c)
{
	if (c->deadline_ns ||
	    (credit_stalled(c) && c->credit_retries < vs->credit_retries))
		deadline_left = true;
}

static void timer_tick(struct vhk_vsock *vs)
{
	struct vsock_client *cl, *next;
	uint64_t now = vhk_now_ns(), v;
	struct itimerspec off;

	if (read(vs->timer_fd, &v, sizeof(v)) < 0 && hard_error(errno))
		return;
	for (cl = vs->clients; cl; cl = next) {
		next = cl->next;
		if (now >= cl->deadline_ns)
			client_reject(vs, cl, "no CONNECT line in time");
	}
	vsock_conn_foreach(vs, expire_conn);
	vsock_conn_foreach(vs, retry_credit);
	deadline_left = false;
	vsock_conn_foreach(vs, note_deadline);
	if (!deadline_left && !vs->clients) {
		memset(&off, 0, sizeof(off));
		timerfd_settime(vs->timer_fd, 0, &off, NULL);
		vs->timer_armed = false;
	}
}

/*
 * vsock_host_poll - handle what the host side's epoll set reports (a
 * bounded number of rounds), then send what is owed to the guest.
 */
void vsock_host_poll(struct vhk_vsock *vs)
{
	struct epoll_event evs[64];
	int round, n, i;

	for (round = 0; round < 8; round++) {
		n = epoll_wait(vs->ep, evs, 64, 0);
		if (n <= 0)
			break;
		vs->in_poll = true;
		for (i = 0; i < n; i++) {
			struct vsock_ev *ev = evs[i].data.ptr;
			uint64_t v;

			switch (ev->kind) {
			case VSOCK_EV_LISTEN:
				accept_clients(vs);
				break;
			case VSOCK_EV_TIMER:
				timer_tick(vs);
				break;
			case VSOCK_EV_INBOX:
				if (read(vs->inbox_fd, &v, sizeof(v)) < 0)
					(void)0;
				break;
			case VSOCK_EV_CLIENT:
				if (!((struct vsock_client *)ev)->dead)
					client_readable(vs,
						(struct vsock_client *)ev);
				break;
			case VSOCK_EV_CONN:
				if (!((struct vsock_conn *)ev)->dead)
					conn_event(vs, (struct vsock_conn *)ev,
						   evs[i].events);
				break;
			}
		}
		vsock_rx_run(vs);
		vs->in_poll = false;
		reap(vs);
		if (n < 64)
			break;
	}
	vsock_rx_run(vs);
}

void vsock_host_watch_cb(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	vsock_host_poll(opaque);
}
