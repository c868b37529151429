/* SPDX-License-Identifier: MIT */
/*
 * net.c - the vhostkit-net runtime: --port parsing, the ports' threads,
 * the control socket ("stats").
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vhostkit/net.h"
#include "dev/net/net_tap.h"
#include "dev/net/net_vu.h"
#include "dev/net/net_xdp.h"

struct net_port_slot {
	enum vhk_net_port_type type;
	struct vhk_net_vu *vu;
	struct vhk_net_tap *tap;
	struct vhk_net_xdp *xdp;
	bool own_thread;	/* socket: not on the shared thread */
};

struct vhk_net {
	struct vhk_net_switch sw;
	struct net_port_slot ports[VHK_NET_MAX_PORTS];
	unsigned int nports;
	struct vhk_net_vu_group shared;	/* every socket port but ",thread" */
	int stopfd;
};

/* ---- option parsing */

static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1000; end++; break;
	case 'm': case 'M': mul = 1000000; end++; break;
	case 'g': case 'G': mul = 1000000000; end++; break;
	default: break;
	}
	if (*end || v > max / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* a station address: not multicast */
	return (mac[0] & 1) ? -EINVAL : 0;
}

#define PERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

int vhk_net_port_parse(const char *spec, struct vhk_net_port_opts *o,
		       char *err, size_t errlen)
{
	char buf[512], *save = NULL, *tok;
	bool first = true;

	memset(o, 0, sizeof(*o));
	o->queues = 1;
	o->mtu = 1500;
	if (!spec || strlen(spec) >= sizeof(buf))
		return PERR("port spec missing or too long");
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), first = false) {
		char *val = strchr(tok, '=');
		uint64_t v;

		if (val)
			*val++ = '\0';
		if (first) {
			if (!val || !*val)
				return PERR("port must start with socket=PATH, tap=NAME or xdp=IFACE");
			if (!strcmp(tok, "socket"))
				o->type = VHK_NET_PT_SOCKET;
			else if (!strcmp(tok, "tap"))
				o->type = VHK_NET_PT_TAP;
			else if (!strcmp(tok, "xdp"))
				o->type = VHK_NET_PT_XDP;
			else
				return PERR("unknown port type '%s' (socket, tap, xdp)", tok);
			if (strlen(val) >= sizeof(o->path) ||
			    (o->type != VHK_NET_PT_SOCKET && strlen(val) >= 16))
				return PERR("'%s' is too long", val);
			strcpy(o->path, val);
			continue;
		}
		if (!strcmp(tok, "client") && !val) {
			o->client = true;
		} else if (!strcmp(tok, "poll") && !val) {
			o->poll = true;
		} else if (!strcmp(tok, "thread") && !val) {
			o->own_thread = true;
		} else if (!val) {
			return PERR("option '%s' needs a value", tok);
		} else if (!strcmp(tok, "mac")) {
			if (parse_mac(val, o->mac))
				return PERR("mac '%s' is not a unicast XX:XX:XX:XX:XX:XX", val);
			o->has_mac = true;
		} else if (!strcmp(tok, "queues")) {
			if (parse_num(val, VHK_NET_MAX_QUEUES, &v) || !v)
				return PERR("queues must be 1-%d", VHK_NET_MAX_QUEUES);
			o->queues = (uint16_t)v;
		} else if (!strcmp(tok, "mtu")) {
			if (parse_num(val, 65535, &v) || v < 68)
				return PERR("mtu must be 68-65535");
			o->mtu = (uint16_t)v;
		} else if (!strcmp(tok, "rate")) {
			if (parse_num(val, UINT64_MAX / 2, &o->rate_bytes))
				return PERR("rate '%s' is not a byte rate", val);
		} else if (!strcmp(tok, "pps")) {
			if (parse_num(val, UINT64_MAX / 2, &o->rate_pkts))
				return PERR("pps '%s' is not a packet rate", val);
		} else if (!strcmp(tok, "backlog")) {
			if (parse_num(val, 1u << 20, &v) || !v)
				return PERR("backlog must be 1-1048576");
			o->backlog = (unsigned int)v;
		} else if (!strcmp(tok, "iommu")) {
			if (vhk_iommu_policy_parse(val, &o->iommu))
				return PERR("iommu must be auto, on or off");
		} else {
			return PERR("unknown port option '%s'", tok);
		}
	}
	if (o->type != VHK_NET_PT_SOCKET &&
	    (o->client || o->poll || o->has_mac || o->own_thread))
		return PERR("client, poll, thread and mac are socket port options");
	if (o->poll && o->own_thread)
		return PERR("a poll port runs on the shared thread: poll and thread exclude each other");
	if (o->type == VHK_NET_PT_XDP && o->queues != 1)
		return PERR("an xdp port has one queue (queue 0 of the interface)");
	return 0;
}

/* ---- ports */

int vhk_net_new(struct vhk_net **out)
{
	struct vhk_net *n = calloc(1, sizeof(*n));
	int rc;

	if (!n)
		return -ENOMEM;
	rc = vhk_net_switch_init(&n->sw);
	n->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rc || n->stopfd < 0) {
		free(n);
		return rc ? rc : -ENOMEM;
	}
	*out = n;
	return 0;
}

int vhk_net_add_port(struct vhk_net *n, const struct vhk_net_port_opts *o)
{
	struct net_port_slot *s;
	char name[32];
	int rc;

	if (n->nports >= VHK_NET_MAX_PORTS)
		return -ENOSPC;
	s = &n->ports[n->nports];
	s->type = o->type;
	if (o->type == VHK_NET_PT_XDP) {
		s->xdp = calloc(1, sizeof(*s->xdp));
		if (!s->xdp)
			return -ENOMEM;
		rc = vhk_net_xdp_open(s->xdp, &n->sw, o->path, o->mtu);
		if (rc) {
			free(s->xdp);
			s->xdp = NULL;
			return rc;
		}
		vhk_net_rate_set(&s->xdp->port, o->rate_bytes, o->rate_pkts);
	} else if (o->type == VHK_NET_PT_TAP) {
		s->tap = calloc(1, sizeof(*s->tap));
		if (!s->tap)
			return -ENOMEM;
		rc = vhk_net_tap_open(s->tap, &n->sw, o->path, o->queues,
				      o->mtu);
		if (rc) {
			free(s->tap);
			s->tap = NULL;
			return rc;
		}
		vhk_net_rate_set(&s->tap->port, o->rate_bytes, o->rate_pkts);
	} else {
		const struct vhk_net_dev_opts dopts = {
			.queues = o->queues, .mtu = o->mtu,
			.mac = o->has_mac ? o->mac : NULL,
			.poll = o->poll, .backlog = o->backlog,
		};
		const struct vhk_backend_config cfg = {
			.socket_path = o->path, .connect = o->client,
			.iommu = o->iommu,
			.adopt_listen_fd = o->adopt_listen_fd,
			.listen_fd = o->listen_fd,
		};

		snprintf(name, sizeof(name), "vu%u", n->nports);
		s->vu = calloc(1, sizeof(*s->vu));
		if (!s->vu)
			return -ENOMEM;
		rc = vhk_net_vu_open(s->vu, &n->sw, name, &dopts, &cfg);
		if (rc) {
			free(s->vu);
			s->vu = NULL;
			return rc;
		}
		vhk_net_rate_set(&s->vu->dev.port, o->rate_bytes, o->rate_pkts);
		s->own_thread = o->own_thread;
	}
	n->nports++;
	return 0;
}

struct vhk_backend *vhk_net_port_backend(struct vhk_net *n, unsigned int i)
{
	if (i >= n->nports || !n->ports[i].vu)
		return NULL;
	return n->ports[i].vu->be;
}

void vhk_net_stats_text(struct vhk_net *n, FILE *out)
{
	vhk_net_switch_stats(&n->sw, out);
}

/* ---- control socket */

static int ctl_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 8) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* One request: a line, answered, connection closed.  A client never
 * makes the daemon wait more than a second. */
static void ctl_serve(struct vhk_net *n, int lfd)
{
	const struct timeval tv = { .tv_sec = 1 };
	char cmd[64] = "";
	char *text = NULL;
	size_t len = 0, off = 0;
	ssize_t r;
	FILE *f;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (off < sizeof(cmd) - 1 && !memchr(cmd, '\n', off)) {
		r = recv(fd, cmd + off, sizeof(cmd) - 1 - off, 0);
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	cmd[off] = '\0';
	cmd[strcspn(cmd, "\r\n")] = '\0';
	off = 0;
	f = open_memstream(&text, &len);
	if (f) {
		if (!strcmp(cmd, "stats"))
			vhk_net_switch_stats(&n->sw, f);
		else
			fprintf(f, "error unknown command '%s' (stats)\n", cmd);
		fclose(f);
		while (off < len) {
			r = send(fd, text + off, len - off, MSG_NOSIGNAL);
			if (r <= 0)
				break;
			off += (size_t)r;
		}
		free(text);
	}
	close(fd);
}

int vhk_net_ctl_query(const char *path, const char *cmd, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t r;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || strlen(cmd) > 62)
		return -ENAMETOOLONG;
	snprintf(buf, sizeof(buf), "%s\n", cmd);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, buf, strlen(buf), MSG_NOSIGNAL) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	while ((r = recv(fd, buf, sizeof(buf), 0)) > 0)
		fwrite(buf, 1, (size_t)r, out);
	close(fd);
	return r < 0 ? -errno : 0;
}

/* ---- run */

static void stop_ports(struct vhk_net *n)
{
	vhk_net_vu_group_stop(&n->shared);
	for (unsigned int i = 0; i < n->nports; i++) {
		if (n->ports[i].vu)
			vhk_net_vu_stop(n->ports[i].vu);
		if (n->ports[i].tap)
			vhk_net_tap_stop(n->ports[i].tap);
		if (n->ports[i].xdp)
			vhk_net_xdp_stop(n->ports[i].xdp);
	}
}

int vhk_net_run(struct vhk_net *n, const char *control_path)
{
	struct pollfd pfd[2];
	int lfd = -1, rc = 0;

	if (control_path) {
		lfd = ctl_listen(control_path);
		if (lfd < 0)
			return lfd;
	}
	for (unsigned int i = 0; i < n->nports && !rc; i++) {
		struct net_port_slot *s = &n->ports[i];

		if (s->vu && !s->own_thread)
			rc = vhk_net_vu_group_add(&n->shared, s->vu);
		else if (s->vu)
			rc = vhk_net_vu_start(s->vu);
		else if (s->xdp)
			rc = vhk_net_xdp_start(s->xdp);
		else
			rc = vhk_net_tap_start(s->tap);
	}
	if (!rc)
		rc = vhk_net_vu_group_start(&n->shared);
	pfd[0] = (struct pollfd){ .fd = n->stopfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	while (!rc) {
		int k = poll(pfd, lfd >= 0 ? 2 : 1, -1);

		if (k < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (k > 0 && pfd[0].revents)
			break;
		if (k > 0 && lfd >= 0 && pfd[1].revents)
			ctl_serve(n, lfd);
	}
	stop_ports(n);
	if (lfd >= 0) {
		close(lfd);
		unlink(control_path);
	}
	return rc;
}

void vhk_net_stop(struct vhk_net *n)
{
	uint64_t one = 1;
	ssize_t w = write(n->stopfd, &one, sizeof(one));

	(void)w;
}

void vhk_net_free(struct vhk_net *n)
{
	if (!n)
		return;
	stop_ports(n);
	for (unsigned int i = 0; i < n->nports; i++) {
		if (n->ports[i].vu) {
			vhk_net_vu_close(n->ports[i].vu);
			free(n->ports[i].vu);
		}
		if (n->ports[i].tap) {
			vhk_net_tap_close(n->ports[i].tap);
			free(n->ports[i].tap);
		}
		if (n->ports[i].xdp) {
			vhk_net_xdp_close(n->ports[i].xdp);
			free(n->ports[i].xdp);
		}
	}
	vhk_net_switch_fini(&n->sw);
	close(n->stopfd);
	free(n);
}
