/* SPDX-License-Identifier: MIT */
/*
 * client_iotlb.c - the protocol client as IOTLB provider (vhost-user spec,
 * "IOMMU support"): UPDATE / INVALIDATE on the main socket, the mappings
 * remembered, MISS messages on the back-end channel answered from them,
 * and the thread that may serve the channel.
 *
 * Locking: c->lock covers the main socket, the mapping table and stats;
 * c->chan_lock the channel writes.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_priv.h"

static struct vhk_ratelimit miss_rl = VHK_RATELIMIT_INIT;

int vuc_iotlb_send_locked(struct vhk_vuc *c, uint8_t type, uint64_t iova,
			  uint64_t size, uint64_t uva, uint8_t perm)
{
	struct vhk_vu_iotlb m;
	int ret;

	memset(&m, 0, sizeof(m));
	m.iova = iova;
	m.size = size;
	m.uaddr = uva;
	m.perm = perm;
	m.type = type;
	/* NEED_REPLY: the back-end has the entry once we return. */
	ret = vuc_send_ack_locked(c, VHK_VU_IOTLB_MSG, &m, sizeof(m), NULL, 0);
	if (ret)
		return ret;
	if (type == VHK_VU_IOTLB_UPDATE)
		c->stats.iotlb_updates_sent++;
	else if (type == VHK_VU_IOTLB_INVALIDATE)
		c->stats.iotlb_invalidates_sent++;
	return 0;
}

/* Index of the first mapping with iova >= @iova. */
static size_t maps_lower(const struct vhk_vuc *c, uint64_t iova)
{
	size_t lo = 0, hi = c->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->maps[mid].iova < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct vuc_map *vuc_maps_find_locked(struct vhk_vuc *c, uint64_t iova,
					   uint8_t perm)
{
	size_t i = iova == UINT64_MAX ? c->nmaps : maps_lower(c, iova + 1);
	const struct vuc_map *m;

	/* maps[i - 1] is the last mapping starting at or below @iova. */
	if (i == 0)
		return NULL;
	m = &c->maps[i - 1];
	if (iova - m->iova >= m->len || (m->perm & perm) != perm)
		return NULL;
	return m;
}

int vuc_map_tagged(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		   uint64_t uva, uint8_t perm, uint8_t tag)
{
	struct vuc_map m = { .iova = iova, .len = size, .uva = uva,
			     .perm = perm, .tag = tag };
	size_t i;
	int ret;

	if (size == 0 || (perm & VHK_PERM_RW) == 0 || (perm & ~VHK_PERM_RW) ||
	    vhk_range_overflows(iova, size) || vhk_range_overflows(uva, size))
		return -EINVAL;
	if (!vhk_has_feature(c->proto_acked, VHK_PROTO_F_REPLY_ACK) ||
	    !vhk_has_feature(c->proto_acked, VHK_PROTO_F_BACKEND_REQ))
		return -ENOTSUP;
	pthread_mutex_lock(&c->lock);
	i = maps_lower(c, iova);
	if ((i < c->nmaps && c->maps[i].iova < iova + size) ||
	    (i > 0 && c->maps[i - 1].iova + c->maps[i - 1].len > iova)) {
		ret = -EINVAL;
		goto out;
	}
	if (c->nmaps == c->maps_cap) {
		size_t ncap = c->maps_cap ? 2 * c->maps_cap : 16;
		struct vuc_map *p = realloc(c->maps, ncap * sizeof(*p));

		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		c->maps = p;
		c->maps_cap = ncap;
	}
	ret = vuc_iotlb_send_locked(c, VHK_VU_IOTLB_UPDATE, iova, size, uva,
				    perm);
	if (ret)
		goto out;
	memmove(&c->maps[i + 1], &c->maps[i], (c->nmaps - i) * sizeof(m));
	c->maps[i] = m;
	c->nmaps++;
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int vuc_unmap_tagged(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		     uint8_t tag)
{
	size_t i;
	int ret;

	pthread_mutex_lock(&c->lock);
	i = maps_lower(c, iova);
	if (i >= c->nmaps || c->maps[i].iova != iova ||
	    c->maps[i].len != size || c->maps[i].tag != tag) {
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	memmove(&c->maps[i], &c->maps[i + 1],
		(c->nmaps - i - 1) * sizeof(*c->maps));
	c->nmaps--;
	/*
	 * Even if the message fails (connection lost), the mapping is gone
	 * on our side: a reconnect re-sends only live mappings.
	 */
	ret = vuc_iotlb_send_locked(c, VHK_VU_IOTLB_INVALIDATE, iova, size, 0,
				    VHK_PERM_NONE);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int vhk_vuc_iotlb_map(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		      void *host, uint8_t perm)
{
	if (!host)
		return -EINVAL;
	return vuc_map_tagged(c, iova, size, (uintptr_t)host, perm,
			      VUC_TAG_CALLER);
}

int vhk_vuc_iotlb_unmap(struct vhk_vuc *c, uint64_t iova, uint64_t size)
{
	return vuc_unmap_tagged(c, iova, size, VUC_TAG_CALLER);
}

int vuc_resend_mappings(struct vhk_vuc *c)
{
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nmaps && !ret; i++) {
		const struct vuc_map *m = &c->maps[i];

		ret = vuc_iotlb_send_locked(c, VHK_VU_IOTLB_UPDATE, m->iova,
					    m->len, m->uva, m->perm);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void vuc_iotlb_free(struct vhk_vuc *c)
{
	free(c->maps);
	c->maps = NULL;
	c->nmaps = c->maps_cap = 0;
}

/* Reply on the back-end channel (REPLY_ACK semantics: 0 = success). */
static int chan_reply(struct vhk_vuc *c, const struct vhk_vu_msg *req,
		      uint64_t val)
{
	struct vhk_vu_msg r;
	int ret;

	memset(&r, 0, sizeof(r));
	r.hdr.request = req->hdr.request;
	r.hdr.flags = VHK_VU_VERSION | VHK_VU_FLAG_REPLY;
	r.hdr.size = sizeof(uint64_t);
	r.payload.u64 = val;
	pthread_mutex_lock(&c->chan_lock);
	ret = vhk_vu_send(c->chan_fd, &r, NULL, 0);
	pthread_mutex_unlock(&c->chan_lock);
	return ret;
}

static void serve_miss(struct vhk_vuc *c, const struct vhk_vu_iotlb *in)
{
	const struct vuc_map *m;
	uint8_t perm = in->perm & VHK_PERM_RW;

	pthread_mutex_lock(&c->lock);
	m = perm ? vuc_maps_find_locked(c, in->iova, perm) : NULL;
	if (m && vuc_iotlb_send_locked(c, VHK_VU_IOTLB_UPDATE, m->iova,
				       m->len, m->uva, m->perm) == 0) {
		c->stats.misses_served++;
	} else if (!m) {
		c->stats.misses_unmapped++;
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, vuc_who(c),
				    "IOTLB miss for unmapped iova 0x%llx perm %u",
				    (unsigned long long)in->iova, in->perm);
	}
	pthread_mutex_unlock(&c->lock);
}

int vuc_serve_channel_msg(struct vhk_vuc *c)
{
	struct vhk_vu_msg msg;
	int fds[VHK_VU_MAX_FDS];
	unsigned int nfds = 0;
	bool need;
	int ret;

	if (c->chan_fd < 0)
		return -EBADF;
	ret = vhk_vu_recv(c->chan_fd, &msg, fds, &nfds, VHK_VU_MAX_FDS);
	if (ret)
		return ret;
	/* We use none of the fds a back-end may send (host notifiers). */
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	need = msg.hdr.flags & VHK_VU_FLAG_NEED_REPLY;
	if (msg.hdr.request == VHK_VU_BACKEND_IOTLB_MSG &&
	    msg.hdr.size >= VHK_VU_IOTLB_MIN_SIZE &&	/* 26 or 32 */
	    msg.hdr.size <= sizeof(struct vhk_vu_iotlb) &&
	    msg.payload.iotlb.type == VHK_VU_IOTLB_MISS) {
		/*
		 * Ack on the channel first, then UPDATE on the main socket:
		 * a back-end that waits for the ack must not wait on us
		 * while we wait for its reply to the UPDATE.
		 */
		struct vhk_vu_iotlb miss;

		memset(&miss, 0, sizeof(miss));
		memcpy(&miss, &msg.payload.iotlb, msg.hdr.size);
		if (need)
			chan_reply(c, &msg, 0);
		serve_miss(c, &miss);
		return 1;
	}
	switch (msg.hdr.request) {
	case VHK_VU_BACKEND_IOTLB_MSG:
		/* Not a well-formed MISS: nothing else is ours to serve. */
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, vuc_who(c),
				    "malformed back-end IOTLB message (size %u)",
				    msg.hdr.size);
		if (need)
			chan_reply(c, &msg, 1);
		break;
	case VHK_VU_BACKEND_CONFIG_CHANGE_MSG:
	case VHK_VU_BACKEND_VRING_CALL:
	case VHK_VU_BACKEND_VRING_ERR:
		if (need)
			chan_reply(c, &msg, 0);
		break;
	default:
		vhk_log_ratelimited(&miss_rl, VHK_LOG_WARN, vuc_who(c),
				    "back-end request %s (%u) not supported",
				    vhk_vu_backend_request_name(msg.hdr.request),
				    msg.hdr.request);
		if (need)
			chan_reply(c, &msg, 1);
		break;
	}
	return 1;
}

int vhk_vuc_poll(struct vhk_vuc *c, int timeout_ms)
{
	int served = 0;

	if (c->chan_fd < 0)
		return 0;
	for (;;) {
		struct pollfd p = { .fd = c->chan_fd, .events = POLLIN };
		int n = poll(&p, 1, served ? 0 : timeout_ms), ret;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return served;
		ret = vuc_serve_channel_msg(c);
		if (ret < 0)
			return served ? served : ret;
		served++;
	}
}

static void *miss_thread_main(void *arg)
{
	struct vhk_vuc *c = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->stop_efd, .events = POLLIN },
			{ .fd = c->chan_fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents && vuc_serve_channel_msg(c) < 0)
			break;	/* channel closed: the back-end went away */
	}
	return NULL;
}

int vhk_vuc_start_miss_thread(struct vhk_vuc *c)
{
	int ret;

	c->miss_thread_wanted = true;
	if (c->miss_thread_on || c->chan_fd < 0)
		return 0;
	if (c->stop_efd < 0) {
		c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->stop_efd < 0)
			return -errno;
	}
	ret = pthread_create(&c->miss_thread, NULL, miss_thread_main, c);
	if (ret)
		return -ret;
	c->miss_thread_on = true;
	return 0;
}

void vhk_vuc_stop_miss_thread(struct vhk_vuc *c)
{
	uint64_t one = 1;

	c->miss_thread_wanted = false;
	if (c->miss_thread_on) {
		/* Wake it, also out of a blocked read of the channel. */
		if (c->chan_fd >= 0)
			shutdown(c->chan_fd, SHUT_RDWR);
		if (write(c->stop_efd, &one, sizeof(one)) < 0)
			vhk_log(VHK_LOG_WARN, vuc_who(c),
				"miss thread wake-up");
		pthread_join(c->miss_thread, NULL);
		c->miss_thread_on = false;
		if (read(c->stop_efd, &one, sizeof(one)) < 0)
			one = 0;
	}
	if (c->stop_efd >= 0) {
		close(c->stop_efd);
		c->stop_efd = -1;
	}
}
