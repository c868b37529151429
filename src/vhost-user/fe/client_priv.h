/* SPDX-License-Identifier: MIT */
/*
 * client_priv.h - internals of the vhost-user protocol client
 * (vhostkit/vu_client.h), shared with the driver runtime in this folder.
 */
#ifndef VHK_CLIENT_PRIV_H
#define VHK_CLIENT_PRIV_H

#include <pthread.h>
#include "vhostkit/vu_client.h"
#include "vhostkit/features.h"
#include "vhostkit/iotlb.h"
#include "vhostkit/vhost_user.h"

#define VUC_REPLY_TIMEOUT_MS	10000
#define VUC_MAX_QUEUES		64
#define VUC_TABLE_REGIONS	8	/* one SET_MEM_TABLE message */

/* Who made a mapping: 0 = a caller of vhk_vuc_iotlb_map(). */
enum vuc_map_tag {
	VUC_TAG_CALLER = 0,
	VUC_TAG_RING,		/* runtime: the ring area */
	VUC_TAG_LAZY,		/* runtime: one allocation, long-lived */
	VUC_TAG_STRICT,		/* runtime: one dma_map call */
};

/* One IOTLB mapping sent to the back-end (sorted by iova). */
struct vuc_map {
	uint64_t iova;
	uint64_t len;
	uint64_t uva;
	uint8_t perm;
	uint8_t tag;
};

struct vuc_vring {
	bool started;
	bool disabled;		/* SET_VRING_ENABLE 0 in force */
	struct vhk_vuc_vring v;
};

struct vhk_vuc {
	struct vhk_vuc_config cfg;
	char *socket_path;
	char *name;

	int sock;
	bool connected;
	pthread_mutex_t lock;		/* main socket, maps, stats */
	pthread_mutex_t chan_lock;	/* back-end channel writes */

	uint64_t backend_offered;
	uint64_t proto_offered;
	uint64_t proto_acked;
	uint64_t features;		/* last SET_FEATURES word */
	bool features_set;
	uint16_t max_queues;
	unsigned int max_regions;
	uint8_t status;			/* last SET_STATUS */
	bool iotlb_resend;		/* after a reset without PERSIST */

	int chan_fd;
	pthread_t miss_thread;
	bool miss_thread_on;
	bool miss_thread_wanted;
	int stop_efd;

	struct vhk_vuc_region *regions;	/* sorted by gpa */
	unsigned int nregions, regions_cap;
	bool regions_sent_one_by_one;	/* back-end got ADD_MEM_REGs */

	struct vuc_map *maps;
	size_t nmaps, maps_cap;

	int inflight_fd;
	struct vhk_vu_inflight inflight;

	struct vuc_vring vr[VUC_MAX_QUEUES];
	struct vhk_vuc_stats stats;
};

static inline void vuc_set_connected(struct vhk_vuc *c, bool v)
{
	__atomic_store_n(&c->connected, v, __ATOMIC_RELEASE);
}

/* client.c */
int vuc_note_io_error(struct vhk_vuc *c, int err);
int vuc_send_ack_locked(struct vhk_vuc *c, uint32_t req, const void *payload,
			uint32_t size, const int *fds, unsigned int nfds);
int vuc_ack(struct vhk_vuc *c, uint32_t req, const void *payload,
	    uint32_t size, const int *fds, unsigned int nfds);
int vuc_ack_u64(struct vhk_vuc *c, uint32_t req, uint64_t val);
int vuc_call(struct vhk_vuc *c, uint32_t req, const void *payload,
	     uint32_t size, struct vhk_vu_msg *reply, int *fds,
	     unsigned int *nfds, unsigned int max_fds);
int vuc_handshake(struct vhk_vuc *c);
bool vuc_peer_gone(struct vhk_vuc *c);
int vuc_open_channel(struct vhk_vuc *c);
const char *vuc_who(const struct vhk_vuc *c);

/* client_mem.c */
int vuc_send_regions(struct vhk_vuc *c);
int vuc_vring_send(struct vhk_vuc *c, uint16_t idx,
		   const struct vhk_vuc_vring *v, bool enable);
void *vuc_dev_to_host(struct vhk_vuc *c, uint64_t addr, uint64_t len);

/* client_iotlb.c */
int vuc_iotlb_send_locked(struct vhk_vuc *c, uint8_t type, uint64_t iova,
			  uint64_t size, uint64_t uva, uint8_t perm);
int vuc_map_tagged(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		   uint64_t uva, uint8_t perm, uint8_t tag);
int vuc_unmap_tagged(struct vhk_vuc *c, uint64_t iova, uint64_t size,
		     uint8_t tag);
int vuc_resend_mappings(struct vhk_vuc *c);
const struct vuc_map *vuc_maps_find_locked(struct vhk_vuc *c, uint64_t iova,
					   uint8_t perm);
int vuc_serve_channel_msg(struct vhk_vuc *c);
void vuc_iotlb_free(struct vhk_vuc *c);

#endif /* VHK_CLIENT_PRIV_H */
