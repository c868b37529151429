/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/net_driver.h - a userspace virtio-net driver (the guest's role,
 * VIRTIO 1.2 5.1) over the front-end library.
 *
 * It lets tests, the `vhostkit net` CLI and benchmarks move Ethernet
 * frames through a virtio-net device (vhostkit-net, DPDK's vhost PMD)
 * without a VM.  It drives queue pair 0 of a started struct vhk_fe:
 * receiveq1 (0) and transmitq1 (1).  Every buffer the device sees goes
 * through the front-end's DMA API, so the direct, iommu and bounce modes
 * are the front-end's business.
 *
 * rx: each buffer is one device-writable descriptor of rx_buf_size bytes.
 * With MRG_RXBUF a frame may span several buffers: the first starts with
 * the 12-byte virtio_net_hdr whose num_buffers says how many (VIRTIO 1.2,
 * 5.1.6.4); without it a buffer holds the header and a whole frame.
 * tx: a frame is one readable descriptor, header then frame, in a tx slot
 * mapped TO_DEVICE while in flight.
 *
 * Nothing the device writes is trusted: a used length shorter than the
 * header, num_buffers of 0 or more than the buffers posted, or a frame
 * larger than the caller's buffer is dropped and counted; it never reads
 * outside its own buffers.  A corrupt used ring breaks the driver (-EPROTO
 * from then on).
 *
 * Progress: one thread drives one driver; it sleeps on the rx call
 * eventfd (or spins with busy_poll) and serves the front-end's back-end
 * channel (IOTLB misses) while it waits.  Errors are negative errno.
 */
#ifndef VHOSTKIT_NET_DRIVER_H
#define VHOSTKIT_NET_DRIVER_H

#include "vhostkit/api.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhostkit/virtio_net.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vhk_fe;
struct vhk_net_drv;

struct vhk_net_drv_params {
	uint32_t rx_buf_size;	/* bytes per rx buffer, header included;
				 * 0 = 2048 (MRG_RXBUF) or header + MTU +
				 * 18, at least 2048, without it */
	unsigned int rx_bufs;	/* rx buffers posted; 0 = the ring size */
	uint32_t tx_max;	/* largest frame sent, header excluded;
				 * 0 = 1518 */
	unsigned int tx_slots;	/* frames in flight; 0 = the ring size */
	bool busy_poll;		/* spin on the used rings instead of
				 * sleeping on the call eventfd */
};

/**
 * vhk_net_drv_features - the virtio feature bits this driver asks for:
 * VERSION_1, EVENT_IDX, MAC, STATUS, MTU, CSUM, GUEST_CSUM (it passes
 * checksum requests through in the header), MRG_RXBUF when @mrg, and
 * RING_PACKED when @packed.
 */
VHK_API
uint64_t vhk_net_drv_features(bool packed, bool mrg);

/**
 * vhk_net_drv_new - a net driver on queue pair 0 of @fe, started
 * (vhk_fe_start()) with at least 2 queues and VERSION_1.  Reads the
 * config space (MAC, status, MTU) when the CONFIG protocol feature is
 * there, posts the rx buffers and kicks.  Returns 0 and *@out; -ENODEV
 * (no VERSION_1, fewer than 2 queues), -EINVAL (@p out of range), -ENOMEM
 * or the front-end's error.  The driver does not own @fe.
 */
VHK_API
int vhk_net_drv_new(struct vhk_net_drv **out, struct vhk_fe *fe,
		    const struct vhk_net_drv_params *p);

/**
 * vhk_net_drv_free - unmap and free the driver's buffers.  Call it when
 * the device can no longer use them: after vhk_fe_stop() / vhk_fe_reset(),
 * or right before vhk_fe_close().  NULL is a no-op.
 */
VHK_API
void vhk_net_drv_free(struct vhk_net_drv *d);

/**
 * vhk_net_drv_mac - the device's MAC (VIRTIO_NET_F_MAC negotiated and the
 * config readable) into @mac.  Returns 0 or -ENOENT.
 */
VHK_API
int vhk_net_drv_mac(const struct vhk_net_drv *d, uint8_t mac[6]);

/** vhk_net_drv_link_up - STATUS not negotiated, or LINK_UP set. */
VHK_API
bool vhk_net_drv_link_up(struct vhk_net_drv *d);

/**
 * vhk_net_drv_send - queue one frame of @len bytes (destination MAC
 * first) with header @hdr (NULL: no offload; num_buffers is ignored).
 * Not visible to the device until vhk_net_drv_flush().  Collects tx
 * completions first when every slot is in flight.  Returns 0, -EAGAIN (every
 * tx slot still in flight: flush, then try again), -EMSGSIZE (@len 0 or
 * over tx_max), -EPROTO (broken), or a DMA -errno.
 */
VHK_API
int vhk_net_drv_send(struct vhk_net_drv *d, const struct vhk_net_hdr *hdr,
		     const void *frame, size_t len);

/**
 * vhk_net_drv_flush - publish queued frames and posted rx buffers, kick
 * where the device asks for it.  Returns 0 or -errno.
 */
VHK_API
int vhk_net_drv_flush(struct vhk_net_drv *d);

/**
 * vhk_net_drv_recv - the next received frame into @buf (up to @cap bytes)
 * and its header into *@hdr (may be NULL), waiting up to @timeout_ms (0 =
 * no wait, -1 = forever).  The buffers are reposted at once.  Returns the
 * frame length, -ETIMEDOUT, -EPROTO (the device broke the ring rules), or
 * -ECONNRESET (the back-end went away).  A frame longer than @cap, or one
 * the device described wrongly, is dropped and counted and the next one
 * waited for.
 */
VHK_API
int vhk_net_drv_recv(struct vhk_net_drv *d, struct vhk_net_hdr *hdr,
		     void *buf, size_t cap, int timeout_ms);

/**
 * vhk_net_drv_reclaim - collect finished tx frames.  Returns how many, or
 * -EPROTO.
 */
VHK_API
int vhk_net_drv_reclaim(struct vhk_net_drv *d);

struct vhk_net_drv_stats {
	uint64_t tx_frames, tx_bytes;	/* handed to the device */
	uint64_t rx_frames, rx_bytes;	/* delivered to the caller */
	uint64_t rx_buffers;		/* used rx buffers collected */
	uint64_t rx_dropped;		/* too short, bad num_buffers, too big */
	uint64_t tx_full;		/* sends refused with -EAGAIN */
	uint64_t kicks;			/* kick eventfd writes */
};

/** vhk_net_drv_stats - counters since vhk_net_drv_new(). */
VHK_API
void vhk_net_drv_stats(const struct vhk_net_drv *d,
		       struct vhk_net_drv_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_NET_DRIVER_H */
