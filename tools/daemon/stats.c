/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the stats socket every daemon may serve (--stats-socket PATH):
 * the framework's per-device and per-queue counters (vhostkit/stats.h) as
 * JSON or in Prometheus' text format.  docs/daemons.md, "Observability".
 *
 * Protocol: a client connects, sends one line - "json", "prometheus" or
 * "help" (at most STATS_REQ_MAX bytes, newline-terminated), or "stats" for
 * a daemon's own text counters (vhostkit-net: `vhostkit net stats`) - and
 * reads the answer until the daemon closes the connection.
 *
 * The socket is served by a thread of its own, never by a device loop: it
 * only reads the counters (atomic loads), so a slow or hostile client
 * costs the devices nothing.  That thread never blocks either: every fd is
 * non-blocking, a request is bounded, at most STATS_CLIENTS clients are
 * served at once (a new one replaces the oldest), and a client that has not
 * sent its request or read its answer within STATS_CLIENT_MS is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "vhostkit/features_text.h"

#define STATS_REQ_MAX		64
#define STATS_CLIENTS		8
#define STATS_CLIENT_MS		2000
#define STATS_BACKLOG		64	/* connects waiting for accept */

struct stats_client {
	int fd;
	char req[STATS_REQ_MAX];
	size_t req_len;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline_ns;
};

/* ---- snapshot and formats */

struct dev_snap {
	const char *name;
	struct vhk_backend_stats bs;
	struct vhk_queue_stats *qs;	/* bs.nqueues */
};

static const char *type_name(enum vhk_device_type t)
{
	return vhk_device_type_name(t);
}

static void snap_free(struct dev_snap *s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		free(s[i].qs);
	free(s);
}

static struct dev_snap *snap_take(const struct vhk_daemon *d)
{
	struct dev_snap *s = calloc(d->nstats ? d->nstats : 1, sizeof(*s));

	if (!s)
		return NULL;
	for (unsigned int i = 0; i < d->nstats; i++) {
		s[i].name = d->stats_src[i].name;
		vhk_backend_get_stats(d->stats_src[i].be, &s[i].bs);
		s[i].qs = calloc(s[i].bs.nqueues ? s[i].bs.nqueues : 1,
				 sizeof(*s[i].qs));
		if (!s[i].qs) {
			snap_free(s, i);
			return NULL;
		}
		for (uint16_t q = 0; q < s[i].bs.nqueues; q++)
			vhk_backend_queue_stats(d->stats_src[i].be, q,
						&s[i].qs[q]);
	}
	return s;
}

static unsigned int ndev_names(const struct vhk_backend_stats *bs)
{
	unsigned int n = 0;

	while (bs->stat_names && n < VHK_DEV_STATS_MAX && bs->stat_names[n])
		n++;
	return n;
}

static void json(FILE *f, const struct vhk_daemon *d, const struct dev_snap *s)
{
	fprintf(f, "{\"daemon\": \"%s\", \"pid\": %ld, \"devices\": [",
		d->prog, (long)getpid());
	for (unsigned int i = 0; i < d->nstats; i++) {
		const struct vhk_backend_stats *b = &s[i].bs;

		fprintf(f, "%s\n {\"name\": \"%s\", \"type\": \"%s\", "
			"\"connections\": %llu, \"connected\": %llu, "
			"\"device_broken\": %llu, \"iotlb_evictions\": %llu, "
			"\"queues\": [", i ? "," : "", s[i].name,
			type_name(b->type),
			(unsigned long long)b->connections,
			(unsigned long long)b->connected,
			(unsigned long long)b->device_broken,
			(unsigned long long)b->iotlb_evictions);
		for (uint16_t q = 0; q < b->nqueues; q++) {
			const struct vhk_queue_stats *x = &s[i].qs[q];
			unsigned int nb = VHK_LAT_BUCKETS, nd = ndev_names(b);

			while (nb > 1 && !x->lat[nb - 1])
				nb--;
			fprintf(f, "%s\n  {\"index\": %u, \"requests\": %llu, "
				"\"bytes_read\": %llu, \"bytes_written\": %llu, "
				"\"in_flight\": %llu, \"popped\": %llu, "
				"\"given_back\": %llu, \"forgotten\": %llu, "
				"\"kicks\": %llu, \"notifies\": %llu, "
				"\"busy\": %llu, \"iotlb_parks\": %llu,\n"
				"   \"errors\": {",
				q ? "," : "", q,
				(unsigned long long)x->completed,
				(unsigned long long)x->bytes_read,
				(unsigned long long)x->bytes_written,
				(unsigned long long)vhk_queue_stats_inflight(x),
				(unsigned long long)x->popped,
				(unsigned long long)x->unpopped,
				(unsigned long long)x->forgotten,
				(unsigned long long)x->kicks,
				(unsigned long long)x->notifies,
				(unsigned long long)x->busy,
				(unsigned long long)x->parked);
			for (unsigned int e = 0; e < VHK_QERR__COUNT; e++)
				fprintf(f, "%s\"%s\": %llu", e ? ", " : "",
					vhk_qerr_name((enum vhk_qerr)e),
					(unsigned long long)x->errors[e]);
			fprintf(f, "},\n   \"iotlb\": {\"hits\": %llu, "
				"\"misses\": %llu, \"answered\": %llu, "
				"\"miss_wait_ns\": %llu, \"denied\": %llu},\n"
				"   \"latency_ns\": {\"count\": %llu, "
				"\"sum\": %llu, \"log2_buckets\": [",
				(unsigned long long)x->iotlb.hits,
				(unsigned long long)x->iotlb.misses,
				(unsigned long long)x->iotlb.answered,
				(unsigned long long)x->iotlb.wait_ns,
				(unsigned long long)x->iotlb.denied,
				(unsigned long long)x->completed,
				(unsigned long long)x->lat_sum_ns);
			for (unsigned int k = 0; k < nb; k++)
				fprintf(f, "%s%llu", k ? ", " : "",
					(unsigned long long)x->lat[k]);
			fprintf(f, "]},\n   \"device\": {");
			for (unsigned int k = 0; k < nd; k++)
				fprintf(f, "%s\"%s\": %llu", k ? ", " : "",
					b->stat_names[k],
					(unsigned long long)x->dev[k]);
			fprintf(f, "}}");
		}
		fprintf(f, "]}");
	}
	fprintf(f, "\n]}\n");
}

/* Prometheus text format 0.0.4: every family once, HELP + TYPE first. */
struct qmetric {
	const char *name, *help;
	size_t off;			/* into struct vhk_queue_stats */
};

#define QM(n, f, h) { "vhostkit_queue_" n, h, \
		      offsetof(struct vhk_queue_stats, f) }

static const struct qmetric qmetrics[] = {
	QM("requests_total", completed, "Chains completed (pushed to the used ring)."),
	QM("read_bytes_total", bytes_read, "Driver-to-device bytes of completed chains."),
	QM("written_bytes_total", bytes_written, "Device-to-driver bytes (used lengths) of completed chains."),
	QM("popped_total", popped, "Chains taken from the available ring."),
	QM("given_back_total", unpopped, "Chains given back to the ring unprocessed."),
	QM("kicks_total", kicks, "Times the framework processed the queue."),
	QM("notifies_total", notifies, "Used-ring flushes that notified the driver."),
	QM("busy_total", busy, "Chains given back because the device had no room."),
	QM("iotlb_parks_total", parked, "Processing stops on an IOTLB miss."),
	QM("iotlb_hits_total", iotlb.hits, "Translations the device IOTLB served."),
	QM("iotlb_misses_total", iotlb.misses, "Translations that missed the device IOTLB."),
	QM("iotlb_misses_answered_total", iotlb.answered, "IOTLB misses an UPDATE answered."),
	QM("iotlb_miss_wait_seconds_total", iotlb.wait_ns, "Summed miss-to-UPDATE time of answered misses."),
	QM("iotlb_denied_total", iotlb.denied, "Translations refused: the IOTLB entry lacked the permission."),
};

static void labels(FILE *f, const struct vhk_daemon *d, const char *dev,
		   int q)
{
	fprintf(f, "{daemon=\"%s\",device=\"%s\"", d->prog, dev);
	if (q >= 0)
		fprintf(f, ",queue=\"%d\"", q);
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prometheus(FILE *f, const struct vhk_daemon *d,
		       const struct dev_snap *s)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} dm[] = {
		{ "vhostkit_device_connections_total", "counter",
		  "Front-ends served.", offsetof(struct vhk_backend_stats, connections) },
		{ "vhostkit_device_connected", "gauge",
		  "1 while a front-end is connected.", offsetof(struct vhk_backend_stats, connected) },
		{ "vhostkit_device_broken_total", "counter",
		  "Times the device set DEVICE_NEEDS_RESET.", offsetof(struct vhk_backend_stats, device_broken) },
		{ "vhostkit_iotlb_evictions_total", "counter",
		  "Device IOTLB entries evicted to keep the bound.", offsetof(struct vhk_backend_stats, iotlb_evictions) },
	};
	unsigned int i, m;
	uint16_t q;

	for (m = 0; m < sizeof(dm) / sizeof(dm[0]); m++) {
		family(f, dm[m].name, dm[m].type, dm[m].help);
		for (i = 0; i < d->nstats; i++) {
			uint64_t v = *(const uint64_t *)((const char *)&s[i].bs +
							 dm[m].off);

			fputs(dm[m].name, f);
			labels(f, d, s[i].name, -1);
			fprintf(f, ",type=\"%s\"} %llu\n",
				type_name(s[i].bs.type), (unsigned long long)v);
		}
	}
	for (m = 0; m < sizeof(qmetrics) / sizeof(qmetrics[0]); m++) {
		bool secs = strstr(qmetrics[m].name, "_seconds") != NULL;

		family(f, qmetrics[m].name, "counter", qmetrics[m].help);
		for (i = 0; i < d->nstats; i++)
			for (q = 0; q < s[i].bs.nqueues; q++) {
				uint64_t v = *(const uint64_t *)
					((const char *)&s[i].qs[q] +
					 qmetrics[m].off);

				fputs(qmetrics[m].name, f);
				labels(f, d, s[i].name, q);
				if (secs)
					fprintf(f, "} %.9f\n", (double)v / 1e9);
				else
					fprintf(f, "} %llu\n",
						(unsigned long long)v);
			}
	}
	family(f, "vhostkit_queue_in_flight", "gauge",
	       "Chains popped and not yet completed.");
	for (i = 0; i < d->nstats; i++)
		for (q = 0; q < s[i].bs.nqueues; q++) {
			fputs("vhostkit_queue_in_flight", f);
			labels(f, d, s[i].name, q);
			fprintf(f, "} %llu\n", (unsigned long long)
				vhk_queue_stats_inflight(&s[i].qs[q]));
		}
	family(f, "vhostkit_queue_errors_total", "counter",
	       "Queue errors by reason (ring: the driver broke the ring; segments: a chain too long; device: the device failed a request).");
	for (i = 0; i < d->nstats; i++)
		for (q = 0; q < s[i].bs.nqueues; q++)
			for (unsigned int e = 0; e < VHK_QERR__COUNT; e++) {
				fputs("vhostkit_queue_errors_total", f);
				labels(f, d, s[i].name, q);
				fprintf(f, ",reason=\"%s\"} %llu\n",
					vhk_qerr_name((enum vhk_qerr)e),
					(unsigned long long)s[i].qs[q].errors[e]);
			}
	family(f, "vhostkit_queue_device_total", "counter",
	       "The device's own per-queue counters, by name.");
	for (i = 0; i < d->nstats; i++)
		for (q = 0; q < s[i].bs.nqueues; q++)
			for (unsigned int k = 0; k < ndev_names(&s[i].bs); k++) {
				fputs("vhostkit_queue_device_total", f);
				labels(f, d, s[i].name, q);
				fprintf(f, ",counter=\"%s\"} %llu\n",
					s[i].bs.stat_names[k],
					(unsigned long long)s[i].qs[q].dev[k]);
			}
	family(f, "vhostkit_queue_latency_seconds", "histogram",
	       "Time from taking a chain off the ring to completing it.");
	for (i = 0; i < d->nstats; i++)
		for (q = 0; q < s[i].bs.nqueues; q++) {
			const struct vhk_queue_stats *x = &s[i].qs[q];
			uint64_t cum = 0;

			for (unsigned int k = 0; k + 1 < VHK_LAT_BUCKETS; k++) {
				if (k < 9) {
					cum += x->lat[k];
					continue;	/* below 1 us: in the first bucket */
				}
				cum += x->lat[k];
				fputs("vhostkit_queue_latency_seconds_bucket", f);
				labels(f, d, s[i].name, q);
				fprintf(f, ",le=\"%.9g\"} %llu\n",
					(double)(2ull << k) / 1e9,
					(unsigned long long)cum);
			}
			cum += x->lat[VHK_LAT_BUCKETS - 1];
			fputs("vhostkit_queue_latency_seconds_bucket", f);
			labels(f, d, s[i].name, q);
			fprintf(f, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
			fputs("vhostkit_queue_latency_seconds_sum", f);
			labels(f, d, s[i].name, q);
			fprintf(f, "} %.9f\n", (double)x->lat_sum_ns / 1e9);
			fputs("vhostkit_queue_latency_seconds_count", f);
			labels(f, d, s[i].name, q);
			fprintf(f, "} %llu\n", (unsigned long long)cum);
		}
}

/* The answer to @req, in a malloc'ed buffer. */
static void answer(const struct vhk_daemon *d, struct stats_client *c)
{
	struct dev_snap *s = NULL;
	FILE *f;

	f = open_memstream(&c->out, &c->out_len);
	if (!f)
		return;
	if (!strcmp(c->req, "json") || !strcmp(c->req, "prometheus")) {
		s = snap_take(d);
		if (!s)
			fputs("error: out of memory\n", f);
		else if (c->req[0] == 'j')
			json(f, d, s);
		else
			prometheus(f, d, s);
		snap_free(s, d->nstats);
	} else if (!strcmp(c->req, "stats") && d->stats_text) {
		d->stats_text(d->stats_text_arg, f);
	} else if (!strcmp(c->req, "(too long)")) {
		fprintf(f, "error: request too long (at most %d bytes)\n",
			STATS_REQ_MAX - 1);
	} else if (!strcmp(c->req, "help")) {
		fputs("commands: json, prometheus, help (one per connection)\n", f);
	} else {
		fputs("error: unknown command (json, prometheus, help)\n", f);
	}
	if (fclose(f) != 0) {
		free(c->out);
		c->out = NULL;
		c->out_len = 0;
	}
}

/* ---- the socket */

int vhk_daemon_stats_listen(struct vhk_daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->stats_path;
	const char *slash = strrchr(path, '/');
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path) || (slash && !slash[1]))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	{
		char *dir = slash ? (slash == path ? strdup("/") :
				     strndup(path, (size_t)(slash - path))) :
			    strdup(".");

		if (!dir)
			return -ENOMEM;
		d->stats_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		free(dir);
		if (d->stats_dirfd < 0)
			return -errno;
		d->stats_base = strdup(slash ? slash + 1 : path);
		if (!d->stats_base)
			return -ENOMEM;
	}
	/* Never remove anything that is not a socket. */
	if (fstatat(d->stats_dirfd, d->stats_base, &st,
		    AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		unlinkat(d->stats_dirfd, d->stats_base, 0);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, STATS_BACKLOG) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	d->stats_fd = fd;
	d->stats_placed = true;
	d->stats_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->stats_stop < 0 ? -errno : 0;
}

int vhk_daemon_stats_add(struct vhk_daemon *d, const char *name,
			 struct vhk_backend *be)
{
	if (d->nstats >= VHK_DAEMON_STATS_MAX)
		return -ENOSPC;
	d->stats_src[d->nstats].name = name;
	d->stats_src[d->nstats].be = be;
	d->nstats++;
	return 0;
}

static void client_close(struct stats_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Read what the client sent; answer once a line is complete. */
static void client_read(const struct vhk_daemon *d, struct stats_client *c)
{
	ssize_t r;
	char *nl;

	r = recv(c->fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len,
		 MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0 && c->req_len == 0) {
		client_close(c);
		return;
	}
	if (r > 0)
		c->req_len += (size_t)r;
	c->req[c->req_len] = '\0';
	nl = memchr(c->req, '\n', c->req_len);
	if (!nl && r > 0 && c->req_len < sizeof(c->req) - 1)
		return;			/* more to come */
	if (!nl && r > 0)
		/* STATS_REQ_MAX bytes and no newline: not a request. */
		strcpy(c->req, "(too long)");
	else if (nl)
		*nl = '\0';		/* an embedded NUL ends it earlier */
	c->req[strcspn(c->req, "\r")] = '\0';
	shutdown(c->fd, SHUT_RD);
	answer(d, c);
	if (!c->out)
		client_close(c);
}

static void client_write(struct stats_client *c)
{
	ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		client_close(c);
		return;
	}
	c->out_off += (size_t)r;
	if (c->out_off == c->out_len)
		client_close(c);
}

static void *stats_thread(void *arg)
{
	struct vhk_daemon *d = arg;
	struct stats_client cl[STATS_CLIENTS];
	struct pollfd pfd[2 + STATS_CLIENTS];
	unsigned int i, n;

	for (i = 0; i < STATS_CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].fd = -1;
	}
	for (;;) {
		uint64_t now = vhk_now_ns();
		int timeout = -1;

		pfd[0] = (struct pollfd){ .fd = d->stats_stop, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->stats_fd, .events = POLLIN };
		for (i = 0, n = 2; i < STATS_CLIENTS; i++) {
			struct stats_client *c = &cl[i];
			int ms;

			pfd[n + i].fd = -1;
			pfd[n + i].revents = 0;
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ns) {
				client_close(c);	/* too slow */
				continue;
			}
			pfd[n + i].fd = c->fd;
			pfd[n + i].events = c->out ? POLLOUT : POLLIN;
			ms = (int)((c->deadline_ns - now) / 1000000u) + 1;
			if (timeout < 0 || ms < timeout)
				timeout = ms;
		}
		if (poll(pfd, n + STATS_CLIENTS, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (i = 0; i < STATS_CLIENTS; i++) {
			struct stats_client *c = &cl[i];

			if (c->fd < 0 || pfd[n + i].fd < 0 || !pfd[n + i].revents)
				continue;
			if (c->out)
				client_write(c);
			else
				client_read(d, c);
			if (c->fd >= 0 && c->out && !c->out_off)
				client_write(c);	/* usually all at once */
		}
		/* Drain the backlog (bounded): idle connects must not fill it
		 * while a real request waits behind them. */
		for (unsigned int k = 0; pfd[1].revents && k < STATS_BACKLOG; k++) {
			int fd = accept4(d->stats_fd, NULL, NULL,
					 SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (fd < 0)
				break;
			{
				/* A free slot, else the oldest client makes
				 * room: idle clients cannot lock others out. */
				unsigned int old = 0;

				for (i = 0; i < STATS_CLIENTS && cl[i].fd >= 0; i++)
					if (cl[i].deadline_ns < cl[old].deadline_ns)
						old = i;
				if (i == STATS_CLIENTS) {
					client_close(&cl[old]);
					i = old;
				}
				cl[i].fd = fd;
				cl[i].deadline_ns = vhk_now_ns() +
					STATS_CLIENT_MS * 1000000ull;
			}
		}
	}
	for (i = 0; i < STATS_CLIENTS; i++)
		client_close(&cl[i]);
	return NULL;
}

int vhk_daemon_stats_start(struct vhk_daemon *d)
{
	int err;

	if (d->stats_fd < 0)
		return 0;
	err = pthread_create(&d->stats_th, NULL, stats_thread, d);
	if (err)
		return -err;
	d->stats_running = true;
	return 0;
}

void vhk_daemon_stats_stop(struct vhk_daemon *d)
{
	uint64_t one = 1;

	if (d->stats_running) {
		ssize_t r = write(d->stats_stop, &one, sizeof(one));

		(void)r;
		pthread_join(d->stats_th, NULL);
		d->stats_running = false;
	}
	if (d->stats_fd >= 0)
		close(d->stats_fd);
	d->stats_fd = -1;
	if (d->stats_stop >= 0)
		close(d->stats_stop);
	d->stats_stop = -1;
	if (d->stats_placed)
		unlinkat(d->stats_dirfd, d->stats_base, 0);
	d->stats_placed = false;
	if (d->stats_dirfd >= 0)
		close(d->stats_dirfd);
	d->stats_dirfd = -1;
	free(d->stats_base);
	d->stats_base = NULL;
}
