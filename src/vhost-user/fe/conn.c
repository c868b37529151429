/* SPDX-License-Identifier: MIT */
/*
 * conn.c - the front-end's main socket: connect with retries, message
 * exchange with REPLY_ACK, protocol negotiation (vhost-user spec,
 * "Protocol features"), and the getters.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fe_priv.h"

static const char *fe_who(const struct vhk_fe *fe)
{
	return fe->name ? fe->name : "fe";
}

int fe_note_io_error(struct vhk_fe *fe, int err)
{
	/*
	 * Once a send or receive failed half-way the stream is out of sync
	 * (or gone): treat the connection as lost, vhk_fe_reconnect() heals.
	 */
	switch (err) {
	case -ECONNRESET:
	case -EPIPE:
	case -ENOTCONN:
	case -EAGAIN:
	case -EPROTO:
	case -EMSGSIZE:
	case -EBADF:
		if (fe->connected)
			vhk_log(VHK_LOG_WARN, fe_who(fe),
				"connection to back-end lost (%s)",
				strerror(-err));
		fe->connected = false;
		break;
	default:
		break;
	}
	return err;
}

/* Send @req with @size payload bytes and @nfds fds.  Lock held. */
static int send_locked(struct vhk_fe *fe, uint32_t req, uint32_t flags,
		       const void *payload, uint32_t size, const int *fds,
		       unsigned int nfds)
{
	struct vhk_vu_msg msg;
	int ret;

	if (!fe->connected)
		return -ECONNRESET;
	if (size > sizeof(msg.payload))
		return -EINVAL;
	memset(&msg, 0, sizeof(msg));
	msg.hdr.request = req;
	msg.hdr.flags = VHK_VU_VERSION | flags;
	msg.hdr.size = size;
	if (size)
		memcpy(&msg.payload, payload, size);
	ret = vhk_vu_send(fe->sock, &msg, fds, nfds);
	if (ret)
		return fe_note_io_error(fe, ret);
	return 0;
}

/*
 * Read the reply to @req.  Replies carry the request code and the REPLY
 * flag (vhost-user spec, "Message Specification"); anything else means the
 * stream is out of sync.  Up to @max_fds fds go to @fds.  Lock held.
 */
static int recv_reply_locked(struct vhk_fe *fe, uint32_t req,
			     struct vhk_vu_msg *reply, int *fds,
			     unsigned int *nfds, unsigned int max_fds)
{
	unsigned int dummy;
	int ret;

	ret = vhk_vu_recv(fe->sock, reply, fds, nfds ? nfds : &dummy, max_fds);
	if (ret)
		return fe_note_io_error(fe, ret);
	if (reply->hdr.request != req ||
	    !(reply->hdr.flags & VHK_VU_FLAG_REPLY)) {
		vhk_log(VHK_LOG_ERR, fe_who(fe),
			"reply to %s: got request %u flags 0x%x",
			vhk_vu_request_name(req), reply->hdr.request,
			reply->hdr.flags);
		if (nfds) {
			for (unsigned int i = 0; i < *nfds; i++)
				close(fds[i]);
			*nfds = 0;
		}
		return fe_note_io_error(fe, -EPROTO);
	}
	return 0;
}

int fe_send_ack_locked(struct vhk_fe *fe, uint32_t req, const void *payload,
		       uint32_t size, const int *fds, unsigned int nfds)
{
	bool need = vhk_has_feature(fe->proto_acked, VHK_PROTO_F_REPLY_ACK);
	struct vhk_vu_msg reply;
	int ret;

	ret = send_locked(fe, req, need ? VHK_VU_FLAG_NEED_REPLY : 0,
			  payload, size, fds, nfds);
	if (ret || !need)
		return ret;
	ret = recv_reply_locked(fe, req, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return fe_note_io_error(fe, -EPROTO);
	/* REPLY_ACK: zero is success, anything else failure. */
	if (reply.payload.u64 != 0) {
		vhk_log(VHK_LOG_ERR, fe_who(fe), "back-end refused %s (%llu)",
			vhk_vu_request_name(req),
			(unsigned long long)reply.payload.u64);
		return -EIO;
	}
	return 0;
}

/* A request with an explicit reply (GET_*): never NEED_REPLY.  Lock held. */
static int call_locked(struct vhk_fe *fe, uint32_t req, const void *payload,
		       uint32_t size, struct vhk_vu_msg *reply, int *fds,
		       unsigned int *nfds, unsigned int max_fds)
{
	int ret = send_locked(fe, req, 0, payload, size, NULL, 0);

	if (ret)
		return ret;
	return recv_reply_locked(fe, req, reply, fds, nfds, max_fds);
}

static int get_u64_locked(struct vhk_fe *fe, uint32_t req, uint64_t *val)
{
	struct vhk_vu_msg reply;
	int ret = call_locked(fe, req, NULL, 0, &reply, NULL, NULL, 0);

	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return fe_note_io_error(fe, -EPROTO);
	*val = reply.payload.u64;
	return 0;
}

/* Public wrappers used by the lifecycle code (lock taken here). */
int fe_ack(struct vhk_fe *fe, uint32_t req, const void *payload,
	   uint32_t size, const int *fds, unsigned int nfds)
{
	int ret;

	pthread_mutex_lock(&fe->lock);
	ret = fe_send_ack_locked(fe, req, payload, size, fds, nfds);
	pthread_mutex_unlock(&fe->lock);
	return ret;
}

int fe_ack_u64(struct vhk_fe *fe, uint32_t req, uint64_t val)
{
	return fe_ack(fe, req, &val, sizeof(val), NULL, 0);
}

int fe_call(struct vhk_fe *fe, uint32_t req, const void *payload,
	    uint32_t size, struct vhk_vu_msg *reply, int *fds,
	    unsigned int *nfds, unsigned int max_fds)
{
	int ret;

	pthread_mutex_lock(&fe->lock);
	ret = call_locked(fe, req, payload, size, reply, fds, nfds, max_fds);
	pthread_mutex_unlock(&fe->lock);
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
static uint64_t wanted_protocol(const struct vhk_fe *fe)
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
	if (fe->cfg.iotlb)
		vhk_set_feature(&want, VHK_PROTO_F_BACKEND_REQ);
	if (fe->cfg.want_persist)
		vhk_set_feature(&want, VHK_PROTO_F_IOTLB_PERSIST);
	return want;
}

/*
 * Connect and run the owner handshake: GET_FEATURES, GET/SET_PROTOCOL_
 * FEATURES, SET_OWNER, GET_QUEUE_NUM.  Used by connect and reconnect.
 */
int fe_handshake(struct vhk_fe *fe)
{
	uint64_t v;
	int ret;

	ret = connect_retry(fe->socket_path, fe->cfg.connect_timeout_ms,
			    fe->cfg.reply_timeout_ms, &fe->sock);
	if (ret) {
		vhk_log(VHK_LOG_ERR, fe_who(fe), "connect %s: %s",
			fe->socket_path, strerror(-ret));
		return ret;
	}
	fe->connected = true;
	fe->proto_acked = 0;
	fe->proto_offered = 0;
	pthread_mutex_lock(&fe->lock);
	ret = get_u64_locked(fe, VHK_VU_GET_FEATURES, &fe->backend_offered);
	if (ret)
		goto out;
	if (vhk_has_feature(fe->backend_offered, VHK_F_PROTOCOL_FEATURES)) {
		ret = get_u64_locked(fe, VHK_VU_GET_PROTOCOL_FEATURES,
				     &fe->proto_offered);
		if (ret)
			goto out;
		v = fe->proto_offered & wanted_protocol(fe);
		/*
		 * Not NEED_REPLY: REPLY_ACK is only in force once this
		 * message has been processed.
		 */
		ret = send_locked(fe, VHK_VU_SET_PROTOCOL_FEATURES, 0, &v,
				  sizeof(v), NULL, 0);
		if (ret)
			goto out;
		fe->proto_acked = v;
	}
	ret = fe_send_ack_locked(fe, VHK_VU_SET_OWNER, NULL, 0, NULL, 0);
	if (ret)
		goto out;
	fe->max_queues = 1;
	if (vhk_has_feature(fe->proto_acked, VHK_PROTO_F_MQ)) {
		ret = get_u64_locked(fe, VHK_VU_GET_QUEUE_NUM, &v);
		if (ret)
			goto out;
		if (v == 0 || v > 0xffff) {
			vhk_log(VHK_LOG_ERR, fe_who(fe),
				"GET_QUEUE_NUM returned %llu",
				(unsigned long long)v);
			ret = -EPROTO;
			goto out;
		}
		fe->max_queues = (uint16_t)v;
	}
out:
	pthread_mutex_unlock(&fe->lock);
	if (ret) {
		close(fe->sock);
		fe->sock = -1;
		fe->connected = false;
	}
	return ret;
}

void vhk_fe_config_init(struct vhk_fe_config *cfg, const char *socket_path)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->socket_path = socket_path;
	cfg->connect_timeout_ms = 5000;
	cfg->want_persist = true;
	cfg->flush = VHK_IOMMU_LAZY;
	cfg->num_queues = 1;
	cfg->queue_size = 128;
}

int vhk_fe_connect(struct vhk_fe **out, const struct vhk_fe_config *cfg)
{
	struct vhk_fe *fe;
	int ret;

	*out = NULL;
	if (!cfg || !cfg->socket_path)
		return -EINVAL;
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->cfg = *cfg;
	fe->socket_path = strdup(cfg->socket_path);
	fe->name = strdup(cfg->name ? cfg->name : "fe");
	fe->cfg.socket_path = fe->socket_path;
	fe->cfg.name = fe->name;
	if (!fe->cfg.connect_timeout_ms)
		fe->cfg.connect_timeout_ms = 5000;
	if (!fe->cfg.reply_timeout_ms)
		fe->cfg.reply_timeout_ms = FE_REPLY_TIMEOUT_MS;
	if (!fe->cfg.allowlist)
		fe->cfg.allowlist = vhk_fe_default_allowlist();
	if (!fe->cfg.num_queues)
		fe->cfg.num_queues = 1;
	if (!fe->cfg.queue_size)
		fe->cfg.queue_size = 128;
	if (!fe->cfg.mem_size)
		fe->cfg.mem_size = 16u << 20;
	if (!fe->cfg.bounce_pool_size)
		fe->cfg.bounce_pool_size = 2u << 20;
	fe->sock = fe->chan_fd = fe->mem_fd = fe->inflight_fd = -1;
	fe->stop_efd = -1;
	for (unsigned int i = 0; i < FE_MAX_QUEUES; i++) {
		fe->q[i].kick_fd = fe->q[i].call_fd = -1;
		fe->q[i].base = -1;
	}
	pthread_mutex_init(&fe->lock, NULL);
	pthread_mutex_init(&fe->chan_lock, NULL);
	if (!fe->socket_path || !fe->name) {
		vhk_fe_close(fe);
		return -ENOMEM;
	}
	ret = fe_handshake(fe);
	if (ret) {
		vhk_fe_close(fe);
		return ret;
	}
	*out = fe;
	return 0;
}

enum vhk_dma_mode vhk_fe_dma_mode(const struct vhk_fe *fe)
{
	return fe->mode;
}

uint64_t vhk_fe_features(const struct vhk_fe *fe)
{
	return fe->backend_features;
}

uint64_t vhk_fe_driver_features(const struct vhk_fe *fe)
{
	return fe->driver_features;
}

uint64_t vhk_fe_backend_offered(const struct vhk_fe *fe)
{
	return fe->backend_offered;
}

uint64_t vhk_fe_protocol_features(const struct vhk_fe *fe)
{
	return fe->proto_acked;
}

uint16_t vhk_fe_max_queues(const struct vhk_fe *fe)
{
	return fe->max_queues;
}

uint16_t vhk_fe_num_queues(const struct vhk_fe *fe)
{
	return fe->nqueues;
}

bool vhk_fe_connected(const struct vhk_fe *fe)
{
	return fe->connected;
}

void vhk_fe_stats(const struct vhk_fe *fe, struct vhk_fe_stats *st)
{
	pthread_mutex_lock((pthread_mutex_t *)&fe->lock);
	*st = fe->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&fe->lock);
}

static int config_check(struct vhk_fe *fe, uint32_t off, uint32_t len)
{
	if (!vhk_has_feature(fe->proto_acked, VHK_PROTO_F_CONFIG))
		return -ENOTSUP;
	if (len == 0 || off > VHK_VU_CONFIG_MAX ||
	    len > VHK_VU_CONFIG_MAX - off)
		return -EINVAL;
	return 0;
}

int vhk_fe_get_config(struct vhk_fe *fe, uint32_t off, void *buf,
		      uint32_t len)
{
	struct vhk_vu_config c;
	struct vhk_vu_msg reply;
	uint32_t size = (uint32_t)offsetof(struct vhk_vu_config, region) + len;
	int ret = config_check(fe, off, len);

	if (ret)
		return ret;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = len;
	ret = fe_call(fe, VHK_VU_GET_CONFIG, &c, size, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	/* A back-end that fails GET_CONFIG answers with size 0. */
	if (reply.hdr.size != size || reply.payload.config.size != len)
		return -EIO;
	memcpy(buf, reply.payload.config.region, len);
	return 0;
}

int vhk_fe_set_config(struct vhk_fe *fe, uint32_t off, const void *buf,
		      uint32_t len)
{
	struct vhk_vu_config c;
	uint32_t size = (uint32_t)offsetof(struct vhk_vu_config, region) + len;
	int ret = config_check(fe, off, len);

	if (ret)
		return ret;
	memset(&c, 0, sizeof(c));
	c.offset = off;
	c.size = len;
	memcpy(c.region, buf, len);
	return fe_ack(fe, VHK_VU_SET_CONFIG, &c, size, NULL, 0);
}

int fe_get_vring_base(struct vhk_fe *fe, uint16_t idx, uint32_t *base)
{
	struct vhk_vu_vring_state s = { .index = idx };
	struct vhk_vu_msg reply;
	int ret;

	ret = fe_call(fe, VHK_VU_GET_VRING_BASE, &s, sizeof(s), &reply, NULL,
		      NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(s) || reply.payload.state.index != idx)
		return fe_note_io_error(fe, -EPROTO);
	*base = reply.payload.state.num;
	return 0;
}

int fe_get_status(struct vhk_fe *fe, uint8_t *status)
{
	struct vhk_vu_msg reply;
	int ret;

	ret = fe_call(fe, VHK_VU_GET_STATUS, NULL, 0, &reply, NULL, NULL, 0);
	if (ret)
		return ret;
	if (reply.hdr.size != sizeof(uint64_t))
		return fe_note_io_error(fe, -EPROTO);
	*status = (uint8_t)reply.payload.u64;
	return 0;
}

/* Connection broken?  Polls the main socket for a hang-up, no data read. */
bool fe_peer_gone(struct vhk_fe *fe)
{
	struct pollfd p = { .fd = fe->sock, .events = POLLRDHUP };

	if (fe->sock < 0)
		return true;
	if (poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
		return true;
	return false;
}
