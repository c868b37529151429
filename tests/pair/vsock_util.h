/* SPDX-License-Identifier: MIT */
/*
 * vsock_util.h - helpers for the vsock driver pair tests and benchmark
 * harnesses: a vhostkit-vsock process, the host side of its hybrid Unix
 * sockets (listeners at <uds>_<port>, CONNECT on <uds>), and a userspace
 * vsock driver on the daemon's vhost-user socket in a given DMA mode.
 * AF_VSOCK is never used: the host side is Unix sockets only.
 */
#ifndef VHK_TESTS_VSOCK_UTIL_H
#define VHK_TESTS_VSOCK_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "drv_util.h"
#include "vhostkit/vsock_driver.h"

#define VT_CID		3u	/* the guest CID every test uses */

struct vt_daemon {
	struct drv_proc proc;
	char sock[200], uds[200];
	const char *iommu;
	const char *extra;	/* one more daemon argument, or NULL */
};

/* vhostkit-vsock --vm guest-cid=3,socket=..,uds-path=.. --iommu @iommu,
 * in the test tmpdir, name @tag; waits for the socket.  0 or -errno. */
int vt_daemon_start(struct vt_daemon *dm, const char *bin, const char *tag,
		    const char *iommu);
/* The same with one more argument for the daemon (@extra, e.g. --poll). */
int vt_daemon_start_arg(struct vt_daemon *dm, const char *bin,
			const char *tag, const char *iommu, const char *extra);
/* SIGKILL and start again on the same paths (a back-end restart). */
int vt_daemon_restart(struct vt_daemon *dm, const char *bin);
void vt_daemon_stop(struct vt_daemon *dm);

struct vt_drv {
	struct vhk_fe *fe;
	struct vhk_vsock_drv *d;
};

struct vt_open_opts {
	enum drv_dma dma;
	bool packed;
	bool busy_poll;
	unsigned int poll_us;	/* the driver's poll_us */
	uint32_t rx_buf_size;	/* 0: driver default */
	uint64_t (*negotiate)(uint64_t, uint64_t, uint64_t, bool);
	bool no_iotlb;		/* with negotiate: the crosvm front-end */
};

/* Connect, start, driver (3 queues).  0 or -errno, printed. */
int vt_open(struct vt_drv *v, const char *sock, const struct vt_open_opts *o);
void vt_close(struct vt_drv *v);

/* ---- host side (Unix sockets) ---- */

enum vt_mode { VT_ECHO, VT_SINK, VT_SEQ_ECHO };

/* A listener at <uds>_<port> served by threads until vt_host_stop(). */
struct vt_host;
struct vt_host *vt_host_start(const char *uds);
int vt_host_listen(struct vt_host *h, uint32_t port, enum vt_mode mode);
void vt_host_stop(struct vt_host *h);

/* CONNECT @port on @uds: the fd after "OK <n>\n", or -errno (-ECONNREFUSED:
 * the daemon closed the socket without OK). */
int vt_host_connect(const char *uds, uint32_t port, int timeout_ms);

/* 64-bit FNV-1a, running (start with VT_HASH0). */
#define VT_HASH0	0xcbf29ce484222325ull
uint64_t vt_hash(uint64_t h, const void *buf, size_t n);
/* Deterministic bytes: @n bytes of stream @seed at offset @off. */
void vt_fill(uint8_t *buf, size_t n, uint64_t seed, uint64_t off);

/* Driver-side helpers: whole-buffer send / recv with a timeout. */
int vt_send_all(struct vhk_vsock_conn *c, const void *buf, size_t n,
		int timeout_ms);
int vt_recv_all(struct vhk_vsock_conn *c, void *buf, size_t n,
		int timeout_ms);
/* Read one "\n"-terminated line (< @cap). 0 or -errno. */
int vt_recv_line(struct vhk_vsock_conn *c, char *line, size_t cap,
		 int timeout_ms);

#endif
