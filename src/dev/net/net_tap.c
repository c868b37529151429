/* SPDX-License-Identifier: MIT */
/*
 * net_tap.c - tap ports: frames with a virtio_net_hdr in front (the
 * kernel's IFF_VNET_HDR format is the virtio one), one thread per port.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dev/net/net_tap.h"

#define TAP_BURST	64

static int tap_fd(const char *ifname, bool mq, unsigned int *allowed)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int hsz = (int)sizeof(struct vhk_net_hdr);
	unsigned int off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 |
			   TUN_F_TSO_ECN;

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
			(mq ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hsz) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	/* What the kernel may give us: checksum and TSO if it agrees. */
	if (ioctl(fd, TUNSETOFFLOAD, off) == 0) {
		*allowed = VHK_NET_OFF_CSUM | VHK_NET_OFF_TSO4 |
			   VHK_NET_OFF_TSO6 | VHK_NET_OFF_ECN;
	} else if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM) == 0) {
		*allowed = VHK_NET_OFF_CSUM;
	} else {
		*allowed = 0;
	}
	return fd;
}

int vhk_net_tap_open(struct vhk_net_tap *t, struct vhk_net_switch *sw,
		     const char *ifname, uint16_t queues, uint16_t mtu)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->stopfd = -1;
	if (!queues || queues > VHK_NET_MAX_QUEUES || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	rc = vhk_net_port_init(sw, &t->port, ifname, VHK_NET_PORT_TAP, 0);
	if (rc)
		return rc;
	t->port.priv = t;
	t->port.queues = queues;
	t->port.mtu = mtu ? mtu : 1500;
	for (unsigned int i = 0; i < queues; i++) {
		int fd = tap_fd(ifname, queues > 1, &t->allowed);

		if (fd < 0) {
			vhk_net_tap_close(t);
			return fd;
		}
		t->fds[t->nfds++] = fd;
	}
	t->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t->buf = malloc(sizeof(struct vhk_net_hdr) + VHK_NET_MAX_FRAME);
	if (t->stopfd < 0 || !t->buf) {
		vhk_net_tap_close(t);
		return -ENOMEM;
	}
	/* Writes into a tap take every offload the virtio header can
	 * describe except USO (kernel-version dependent): segmented here. */
	atomic_store(&t->port.caps, VHK_NET_OFF_CSUM | VHK_NET_OFF_TSO4 |
				    VHK_NET_OFF_TSO6 | VHK_NET_OFF_ECN);
	atomic_store(&t->port.up, true);
	return 0;
}

/* Frames from the kernel into the switch. */
static void tap_read(struct vhk_net_tap *t, unsigned int qi)
{
	const size_t hsz = sizeof(struct vhk_net_hdr);

	for (int n = 0; n < TAP_BURST; n++) {
		ssize_t r = read(t->fds[qi], t->buf, hsz + VHK_NET_MAX_FRAME);
		struct vhk_net_hdr h;
		struct vhk_net_pkt *pkt;
		int rc;

		if (r < 0)
			return;
		if ((size_t)r < hsz + VHK_ETH_HLEN) {
			vhk_net_count_drop(&t->port, VHK_NET_DROP_RUNT);
			continue;
		}
		memcpy(&h, t->buf, hsz);
		pkt = vhk_net_pkt_alloc((size_t)r - hsz);
		if (!pkt) {
			vhk_net_count_drop(&t->port, VHK_NET_DROP_NOMEM);
			continue;
		}
		memcpy(pkt->data, t->buf + hsz, pkt->len);
		/* The kernel's MTU governs what it hands us. */
		rc = vhk_net_meta_parse(&h, pkt->data, pkt->len, t->allowed,
					65535, &pkt->meta);
		if (rc < 0) {
			vhk_net_count_drop(&t->port, vhk_net_drop_of(rc));
			vhk_net_pkt_free(pkt);
			continue;
		}
		vhk_net_cnt_add(&t->port.q[qi].tx_packets, 1);
		vhk_net_cnt_add(&t->port.q[qi].tx_bytes, pkt->len);
		vhk_net_switch_input(t->port.sw, &t->port, pkt);
	}
}

/* Frames from the switch into the kernel. */
static void tap_write(struct vhk_net_tap *t)
{
	struct vhk_net_pkt *l = vhk_net_backlog_take(&t->port, TAP_BURST), *n;

	for (; l; l = n) {
		unsigned int qi = l->hash % t->nfds;
		struct vhk_net_hdr h;
		struct iovec iov[2] = {
			{ &h, sizeof(h) }, { l->data, l->len },
		};

		n = l->next;
		vhk_net_meta_to_hdr(&l->meta, &h);
		if (writev(t->fds[qi], iov, 2) < 0) {
			vhk_net_count_drop(&t->port, VHK_NET_DROP_IO);
		} else {
			vhk_net_cnt_add(&t->port.c.out_packets, 1);
			vhk_net_cnt_add(&t->port.c.out_bytes, l->len);
			vhk_net_cnt_add(&t->port.q[qi].rx_packets, 1);
			vhk_net_cnt_add(&t->port.q[qi].rx_bytes, l->len);
		}
		vhk_net_pkt_free(l);
	}
}

static void *tap_thread(void *arg)
{
	struct vhk_net_tap *t = arg;
	struct pollfd pfd[VHK_NET_MAX_QUEUES + 2];

	for (unsigned int i = 0; i < t->nfds; i++)
		pfd[i] = (struct pollfd){ .fd = t->fds[i], .events = POLLIN };
	pfd[t->nfds] = (struct pollfd){ .fd = t->port.efd, .events = POLLIN };
	pfd[t->nfds + 1] = (struct pollfd){ .fd = t->stopfd, .events = POLLIN };
	for (int timeout = -1;;) {
		int n = poll(pfd, t->nfds + 2, timeout);

		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && pfd[t->nfds + 1].revents)
			break;
		for (unsigned int i = 0; n > 0 && i < t->nfds; i++)
			if (pfd[i].revents & POLLIN)
				tap_read(t, i);
		/* The eventfd fires only when the backlog turns non-empty:
		 * poll again at once while frames remain. */
		tap_write(t);
		pthread_mutex_lock(&t->port.lock);
		timeout = t->port.count > 0 ? 0 : -1;
		pthread_mutex_unlock(&t->port.lock);
	}
	return NULL;
}

int vhk_net_tap_start(struct vhk_net_tap *t)
{
	int rc = pthread_create(&t->th, NULL, tap_thread, t);

	t->running = rc == 0;
	return -rc;
}

void vhk_net_tap_stop(struct vhk_net_tap *t)
{
	uint64_t one = 1;
	ssize_t w;

	if (!t->running)
		return;
	w = write(t->stopfd, &one, sizeof(one));
	(void)w;
	pthread_join(t->th, NULL);
	t->running = false;
}

void vhk_net_tap_close(struct vhk_net_tap *t)
{
	vhk_net_tap_stop(t);
	atomic_store(&t->port.up, false);
	for (unsigned int i = 0; i < t->nfds; i++)
		close(t->fds[i]);
	t->nfds = 0;
	if (t->stopfd >= 0)
		close(t->stopfd);
	t->stopfd = -1;
	free(t->buf);
	t->buf = NULL;
	if (t->port.sw)
		vhk_net_port_fini(&t->port);
}
