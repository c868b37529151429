/* SPDX-License-Identifier: MIT */
/*
 * client.c - the protocol client's main socket: connect with retries,
 * message exchange with REPLY_ACK, the owner handshake and protocol
 * negotiation (vhost-user spec, "Protocol features"), features, status,
 * config space, the back-end channel set-up, the getters and close.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_priv.h"

const char *vuc_who(const struct vhk_vuc *c)
{
	return c->name ? c->name : "vuc";
}

int vuc_note_io_error(struct vhk_vuc *c, int err)
{
	/*
	 * Once a send or receive failed half-way the stream is out of sync
	 * (or gone): treat the connection as lost, vhk_vuc_reconnect() heals.
	 */
	switch (err) {
	case -ECONNRESET:
	case -EPIPE:
	case -ENOTCONN:
	case -EAGAIN:
	case -EPROTO:
	case -EMSGSIZE:
	case -EBADF:
		if (vhk_vuc_connected(c))
			vhk_log(VHK_LOG_WARN, vuc_who(c),
				"connection to back-end lost (%s)",
				strerror(-err));
		vuc_set_connected(c, false);
		break;
	default:
		break;
	}
	return err;
}

/* Send @req with @size payload bytes and @nfds fds.  Lock held. */
static int send_locked(struct vhk_vuc *c, uint32_t req, uint32_t flags,
		       const void *payload, uint32_t size, const int *fds,
		       unsigned int nfds)
{
	struct vhk_vu_msg msg;
	int ret;

	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	if (size > sizeof(msg.payload))
		return -EINVAL;
	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHK_VU_VERSION | flags;
	msg.hdr.size = size;
	if (size)
		memcpy(&msg.payload, payload, size);
	ret = vhk_vu_send(c->sock, &msg, fds, nfds);
	if (ret)
		return vuc_note_io_error(c, ret);
	return 0;
}

/*
 * Read the reply to @req.  Replies carry the request code and the REPLY
 * flag (vhost-user spec, "Message Specification"); anything else means the
 * stream is out of sync.  Up to @max_fds fds go to @fds.  Lock held.
 */
static int recv_reply_locked(struct vhk_vuc *c, uint32_t req,
			     struct vhk_vu_msg *reply, int *fds,
			     unsigned int *nfds, unsigned int max_fds)
{
	unsigned int dummy;
	int ret;

	ret = vhk_vu_recv(c->sock, reply, fds, nfds ? nfds : &dummy, max_fds);
	if (ret)
		return vuc_note_io_error(c, ret);
	if (reply->hdr.request != req ||
	    !(reply->hdr.flags & VHK_VU_FLAG_REPLY)) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"reply to %s: got request %u flags 0x%x",
			vhk_vu_request_name(req), reply->hdr.request,
			reply->hdr.flags);
		if (nfds) {
			for (unsigned int i = 0; i < *nfds; i++)
				close(fds[i]);
			*nfds = 0;
		}
		return vuc_note_io_error(c, -EPROTO);
	}
	return 0;
}

int vuc_send_ack_locked(struct vhk_vuc *c, uint32_t req, const void *payload,
		       uint32_t size, const int *fds, unsigned int nfds)
{
	bool need = vhk_has_feature(c->proto_acked, VHK_PROTO_F_REPLY_ACK);
	struct vhk_vu_msg reply;
	int ret;

	ret = send_locked(c, req, need ? VHK_VU_FLAG_NEED_REPLY : 0,
			  payload, size, fds, nfds);
	if (ret || !need)
		return ret;
	ret = recv_reply_locked(c, req, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return vuc_note_io_error(c, -EPROTO);
	/* REPLY_ACK: zero is success, anything else failure. */
	if (reply.payload.u64 != 0) {
		vhk_log(VHK_LOG_ERR, vuc_who(c), "back-end refused %s (%llu)",
			vhk_vu_request_name(req),
			(unsigned long long)reply.payload.u64);
		return -EIO;
	}
	return 0;
}

/* A request with an explicit reply (GET_*): never NEED_REPLY.  Lock held. */
static int call_locked(struct vhk_vuc *c, uint32_t req, const void *payload,
		       uint32_t size, struct vhk_vu_msg *reply, int *fds,
		       unsigned int *nfds, unsigned int max_fds)
{
	int ret = send_locked(c, req, 0, payload, size, NULL, 0);

	if (ret)
		return ret;
	return recv_reply_locked(c, req, reply, fds, nfds, max_fds);
}

static int get_u64_locked(struct vhk_vuc *c, uint32_t req, uint64_t *val)
{
	struct vhk_vu_msg reply;
	int ret = call_locked(c, req, NULL, 0, &reply, NULL, NULL, 0);

	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return vuc_note_io_error(c, -EPROTO);
	*val = reply.payload.u64;
	return 0;
}

/* Public wrappers used by the lifecycle code (lock taken here). */
int vuc_ack(struct vhk_vuc *c, uint32_t req, const void *payload,
	   uint32_t size, const int *fds, unsigned int nfds)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = vuc_send_ack_locked(c, req, payload, size, fds, nfds);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int vuc_ack_u64(struct vhk_vuc *c, uint32_t req, uint64_t val)
{
	return vuc_ack(c, req, &val, sizeof(val), NULL, 0);
}

int vuc_call(struct vhk_vuc *c, uint32_t req, const void *payload,
	    uint32_t size, struct vhk_vu_msg *reply, int *fds,
	    unsigned int *nfds, unsigned int max_fds)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = call_locked(c, req, payload, size, reply, fds, nfds, max_fds);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Connect to @path, retrying while nobody listens, up to @timeout_ms. */
static int connect_retry(const char *path, unsigned int timeout_ms,
			 unsigned int reply_ms, int *out)
{
	uint64_t deadline = vhk_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = {
		.tv_sec = reply_ms / 1000,
		.tv_usec = (reply_ms % 1000) * 1000,
	};

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, path);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int err;

		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			/* A back-end that never answers must not hang us. */
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				   sizeof(tv));
			*out = fd;
			return 0;
		}
		err = errno;
		close(fd);
		if (err != ENOENT && err != ECONNREFUSED && err != EINTR &&
		    err != EAGAIN)
			return -err;
		if (vhk_now_ns() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
}

/* Protocol features this front-end acks when offered. */
static uint64_t wanted_protocol(const struct vhk_vuc *c)
{
	static const unsigned int bits[] = {
		VHK_PROTO_F_MQ, VHK_PROTO_F_REPLY_ACK, VHK_PROTO_F_CONFIG,
		VHK_PROTO_F_RESET_DEVICE, VHK_PROTO_F_STATUS,
		VHK_PROTO_F_INFLIGHT_SHMFD,
	};
	uint64_t want = 0;

	for (size_t i = 0; i < VHK_ARRAY_SIZE(bits); i++)
		vhk_set_feature(&want, bits[i]);
	/* The back-end channel only carries IOTLB misses for us. */
	if (c->cfg.iotlb)
		vhk_set_feature(&want, VHK_PROTO_F_BACKEND_REQ);
	if (c->cfg.want_persist)
		vhk_set_feature(&want, VHK_PROTO_F_IOTLB_PERSIST);
	if (!c->cfg.no_mem_slots)
		vhk_set_feature(&want, VHK_PROTO_F_CONFIGURE_MEM_SLOTS);
	return want;
}

/*
 * Connect and run the owner handshake: GET_FEATURES, GET/SET_PROTOCOL_
 * FEATURES, SET_OWNER, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS.  Used by connect
 * and reconnect.
 */
int vuc_handshake(struct vhk_vuc *c)
{
	uint64_t v;
	int ret;

	ret = connect_retry(c->socket_path, c->cfg.connect_timeout_ms,
			    c->cfg.reply_timeout_ms, &c->sock);
	if (ret) {
		vhk_log(VHK_LOG_ERR, vuc_who(c), "connect %s: %s",
			c->socket_path, strerror(-ret));
		return ret;
	}
	vuc_set_connected(c, true);
	c->proto_acked = 0;
	c->proto_offered = 0;
	pthread_mutex_lock(&c->lock);
	ret = get_u64_locked(c, VHK_VU_GET_FEATURES, &c->backend_offered);
	if (ret)
		goto out;
	if (vhk_has_feature(c->backend_offered, VHK_F_PROTOCOL_FEATURES)) {
		ret = get_u64_locked(c, VHK_VU_GET_PROTOCOL_FEATURES,
				     &c->proto_offered);
		if (ret)
			goto out;
		v = c->proto_offered & wanted_protocol(c);
		/*
		 * Not NEED_REPLY: REPLY_ACK is only in force once this
		 * message has been processed.
		 */
		ret = send_locked(c, VHK_VU_SET_PROTOCOL_FEATURES, 0, &v,
				  sizeof(v), NULL, 0);
		if (ret)
			goto out;
		c->proto_acked = v;
	}
	ret = vuc_send_ack_locked(c, VHK_VU_SET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		goto out;
	/* Without MQ the device type fixes the count (vsock: 3). */
	c->max_queues = c->cfg.type_queues ? c->cfg.type_queues : 1;
	if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_MQ)) {
		ret = get_u64_locked(c, VHK_VU_GET_QUEUE_NUM, &v);
		if (ret)
			goto out;
		if (v == 0 || v > 0xffff) {
			vhk_log(VHK_LOG_ERR, vuc_who(c),
				"GET_QUEUE_NUM returned %llu",
				(unsigned long long)v);
			ret = -EPROTO;
			goto out;
		}
		if (c->cfg.queue_num_pairs)
			v = VHK_MIN(v * 2, 0xffffu);
		c->max_queues = (uint16_t)v;
	}
	c->max_regions = VUC_TABLE_REGIONS;
	if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_CONFIGURE_MEM_SLOTS)) {
		ret = get_u64_locked(c, VHK_VU_GET_MAX_MEM_SLOTS, &v);
		if (ret)
			goto out;
		/* The spec gives no bound; 0 would make the feature useless
		 * and a huge value is not a real back-end. */
		if (v == 0 || v > 4096) {
			vhk_log(VHK_LOG_ERR, vuc_who(c),
				"GET_MAX_MEM_SLOTS returned %llu",
				(unsigned long long)v);
			ret = -EPROTO;
			goto out;
		}
		c->max_regions = (unsigned int)v;
	}
out:
	pthread_mutex_unlock(&c->lock);
	if (ret) {
		close(c->sock);
		c->sock = -1;
		vuc_set_connected(c, false);
	}
	return ret;
}


void vhk_vuc_config_init(struct vhk_vuc_config *cfg, const char *socket_path)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = socket_path;
	cfg->want_persist = true;
}

int vhk_vuc_connect(struct vhk_vuc **out, const struct vhk_vuc_config *cfg)
{
	struct vhk_vuc *c;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg || !cfg->socket_path)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->socket_path = strdup(cfg->socket_path);
	c->name = strdup(cfg->name ? cfg->name : "vuc");
	c->cfg.socket_path = c->socket_path;
	c->cfg.name = c->name;
	if (!c->cfg.connect_timeout_ms)
		c->cfg.connect_timeout_ms = 5000;
	if (!c->cfg.reply_timeout_ms)
		c->cfg.reply_timeout_ms = VUC_REPLY_TIMEOUT_MS;
	c->sock = c->chan_fd = c->inflight_fd = c->stop_efd = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->chan_lock, NULL);
	if (!c->socket_path || !c->name) {
		vhk_vuc_close(c);
		return -ENOMEM;
	}
	ret = vuc_handshake(c);
	if (ret) {
		vhk_vuc_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

void vhk_vuc_close(struct vhk_vuc *c)
{
	if (!c)
		return;
	/* Rings first: a draining back-end may still need misses served. */
	for (unsigned int i = 0; i < VUC_MAX_QUEUES && vhk_vuc_connected(c); i++) {
		uint32_t base;

		if (c->vr[i].started)
			vhk_vuc_vring_stop(c, (uint16_t)i, &base);
	}
	vhk_vuc_stop_miss_thread(c);
	if (c->sock >= 0)
		close(c->sock);
	if (c->chan_fd >= 0)
		close(c->chan_fd);
	if (c->inflight_fd >= 0)
		close(c->inflight_fd);
	vuc_iotlb_free(c);
	free(c->regions);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->chan_lock);
	free(c->socket_path);
	free(c->name);
	free(c);
}

uint64_t vhk_vuc_backend_offered(const struct vhk_vuc *c)
{
	return c->backend_offered;
}

uint64_t vhk_vuc_protocol_features(const struct vhk_vuc *c)
{
	return c->proto_acked;
}

uint16_t vhk_vuc_max_queues(const struct vhk_vuc *c)
{
	return c->max_queues;
}

unsigned int vhk_vuc_max_regions(const struct vhk_vuc *c)
{
	return c->max_regions;
}

uint64_t vhk_vuc_features(const struct vhk_vuc *c)
{
	return c->features;
}

bool vhk_vuc_connected(const struct vhk_vuc *c)
{
	/* Written by whichever thread saw the break (miss thread too). */
	return __atomic_load_n(&c->connected, __ATOMIC_ACQUIRE);
}

void vhk_vuc_stats(const struct vhk_vuc *c, struct vhk_vuc_stats *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	*st = c->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
}

/* A fresh back-end channel: keep one end, give the other away. */
int vuc_open_channel(struct vhk_vuc *c)
{
	struct timeval tv = {
		.tv_sec = c->cfg.reply_timeout_ms / 1000,
		.tv_usec = (c->cfg.reply_timeout_ms % 1000) * 1000,
	};
	int sv[2], ret;

	if (c->chan_fd >= 0) {
		close(c->chan_fd);
		c->chan_fd = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* A back-end that sends half a message must not wedge a reader. */
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ret = vuc_ack(c, VHK_VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (ret) {
		close(sv[0]);
		return ret;
	}
	c->chan_fd = sv[0];
	return 0;
}

int vhk_vuc_channel_fd(const struct vhk_vuc *c)
{
	return c->chan_fd;
}

int vhk_vuc_set_status(struct vhk_vuc *c, uint8_t status)
{
	int ret;

	if (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_STATUS))
		return -ENOTSUP;
	ret = vuc_ack_u64(c, VHK_VU_SET_STATUS, status);
	if (!ret)
		c->status = status;
	return ret;
}

int vhk_vuc_get_status(struct vhk_vuc *c, uint8_t *status)
{
	struct vhk_vu_msg reply;
	int ret;

	if (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_STATUS))
		return -ENOTSUP;
	ret = vuc_call(c, VHK_VU_GET_STATUS, NULL, 0, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return vuc_note_io_error(c, -EPROTO);
	*status = (uint8_t)reply.payload.u64;
	return 0;
}

int vhk_vuc_set_features(struct vhk_vuc *c, uint64_t features)
{
	uint8_t st = 0;
	int ret;

	if (!vhk_vuc_connected(c))
		return -ECONNRESET;
	if (vhk_has_feature(c->backend_offered, VHK_F_PROTOCOL_FEATURES))
		vhk_set_feature(&features, VHK_F_PROTOCOL_FEATURES);
	if (features & ~c->backend_offered) {
		vhk_log(VHK_LOG_ERR, vuc_who(c),
			"SET_FEATURES 0x%llx: bits 0x%llx not offered",
			(unsigned long long)features,
			(unsigned long long)(features & ~c->backend_offered));
		return -ENOTSUP;
	}
	if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_BACKEND_REQ) &&
	    c->chan_fd < 0) {
		ret = vuc_open_channel(c);
		if (ret)
			return ret;
	}
	ret = vuc_ack_u64(c, VHK_VU_SET_FEATURES, features);
	if (ret)
		return ret;
	c->features = features;
	c->features_set = true;
	if (vhk_has_feature(c->proto_acked, VHK_PROTO_F_STATUS)) {
		/* VIRTIO 1.2, 3.1.1 step 5-6: set FEATURES_OK, re-read it. */
		ret = vhk_vuc_set_status(c, VHK_STATUS_ACKNOWLEDGE |
					 VHK_STATUS_DRIVER |
					 VHK_STATUS_FEATURES_OK);
		if (ret)
			return ret;
		ret = vhk_vuc_get_status(c, &st);
		if (ret)
			return ret;
		if (!(st & VHK_STATUS_FEATURES_OK)) {
			vhk_log(VHK_LOG_ERR, vuc_who(c),
				"device did not accept features 0x%llx (status 0x%x)",
				(unsigned long long)features, st);
			return -ENOTSUP;
		}
	}
	if (c->iotlb_resend) {
		ret = vuc_resend_mappings(c);
		if (ret)
			return ret;
		c->iotlb_resend = false;
	}
	return 0;
}

static int config_check(struct vhk_vuc *c, uint32_t off, uint32_t len)
{
	if (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_CONFIG))
		return -ENOTSUP;
	if (len == 0 || off > VHK_VU_CONFIG_MAX ||
	    len > VHK_VU_CONFIG_MAX - off)
		return -EINVAL;
	return 0;
}

int vhk_vuc_get_config(struct vhk_vuc *c, uint32_t off, void *buf,
		       uint32_t len)
{
	struct vhk_vu_config cf;
	struct vhk_vu_msg reply;
	uint32_t size = (uint32_t)offsetof(struct vhk_vu_config, region) + len;
	int ret = config_check(c, off, len);

	if (ret)
		return ret;
	memset(&cf, 0, sizeof(cf));
	cf.offset = off;
	cf.size = len;
	ret = vuc_call(c, VHK_VU_GET_CONFIG, &cf, size, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	/* A back-end that fails GET_CONFIG answers with size 0. */
	if (reply.hdr.size != size || reply.payload.config.size != len)
		return -EIO;
	memcpy(buf, reply.payload.config.region, len);
	return 0;
}

int vhk_vuc_set_config(struct vhk_vuc *c, uint32_t off, const void *buf,
		       uint32_t len)
{
	struct vhk_vu_config cf;
	uint32_t size = (uint32_t)offsetof(struct vhk_vu_config, region) + len;
	int ret = config_check(c, off, len);

	if (ret)
		return ret;
	memset(&cf, 0, sizeof(cf));
	cf.offset = off;
	cf.size = len;
	memcpy(cf.region, buf, len);
	return vuc_ack(c, VHK_VU_SET_CONFIG, &cf, size, NULL, 0);
}

int vhk_vuc_vring_stop(struct vhk_vuc *c, uint16_t idx, uint32_t *base)
{
	struct vhk_vu_vring_state s = { .index = idx };
	struct vhk_vu_msg reply;
	int ret;

	if (idx >= VUC_MAX_QUEUES)
		return -EINVAL;
	ret = vuc_call(c, VHK_VU_GET_VRING_BASE, &s, sizeof(s), &reply, NULL,
		       NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(s) || reply.payload.state.index != idx)
		return vuc_note_io_error(c, -EPROTO);
	*base = reply.payload.state.num;
	c->vr[idx].started = false;
	return 0;
}

/* Connection broken?  Polls the main socket for a hang-up, no data read. */
bool vuc_peer_gone(struct vhk_vuc *c)
{
	struct pollfd p = { .fd = c->sock, .events = POLLRDHUP };

	if (c->sock < 0)
		return true;
	if (poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
		return true;
	return false;
}
