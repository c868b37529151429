/* SPDX-License-Identifier: MIT */
/*
 * hub.c - sibling VMs of one daemon.  Devices on a hub that share a group
 * reach each other by CID: a packet for a sibling is copied into the
 * sibling's mailbox (under the hub's lock, bounded in bytes and packets)
 * and the sibling's thread is woken through its eventfd; it delivers the
 * packet from its own rx run.  Credit stays end-to-end between the two
 * guests (their headers travel unchanged).  A packet that finds the
 * mailbox full is dropped and counted, and a connect is reset so that
 * the sender learns at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/vsock/vsock_int.h"

int vhk_vsock_hub_new(struct vhk_vsock_hub **out)
{
	struct vhk_vsock_hub *hub = calloc(1, sizeof(*hub));

	if (!hub)
		return -ENOMEM;
	pthread_mutex_init(&hub->lock, NULL);
	*out = hub;
	return 0;
}

void vhk_vsock_hub_free(struct vhk_vsock_hub *hub)
{
	if (!hub)
		return;
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

int vsock_hub_add(struct vhk_vsock_hub *hub, struct vhk_vsock *vs)
{
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&hub->lock);
	for (i = 0; i < hub->n; i++)
		if (hub->vms[i]->guest_cid == vs->guest_cid)
			ret = -EEXIST;
	if (!ret && hub->n >= VHK_VSOCK_MAX_VMS)
		ret = -ENOSPC;
	if (!ret)
		hub->vms[hub->n++] = vs;
	pthread_mutex_unlock(&hub->lock);
	return ret;
}

static void inbox_drop_locked(struct vhk_vsock *vs)
{
	while (vs->inbox_head) {
		struct vsock_fwd *f = vs->inbox_head;

		vs->inbox_head = f->next;
		free(f);
	}
	vs->inbox_tail = NULL;
	vs->inbox_bytes = vs->inbox_pkts = 0;
}

void vsock_hub_remove(struct vhk_vsock_hub *hub, struct vhk_vsock *vs)
{
	unsigned int i;

	pthread_mutex_lock(&hub->lock);
	for (i = 0; i < hub->n; i++)
		if (hub->vms[i] == vs) {
			hub->vms[i] = hub->vms[--hub->n];
			break;
		}
	inbox_drop_locked(vs);
	pthread_mutex_unlock(&hub->lock);
	vsock_hub_drop_all(vs);
}

static bool share_group(const struct vhk_vsock *a, const struct vhk_vsock *b)
{
	unsigned int i, j;

	for (i = 0; i < a->ngroups; i++)
		for (j = 0; j < b->ngroups; j++)
			if (!strcmp(a->groups[i], b->groups[j]))
				return true;
	return false;
}

/*
 * vsock_hub_forward - deliver guest packet @p (payload @payload) to the
 * sibling with CID p->dst_cid.  Returns 0 (queued, or dropped and counted
 * when the mailbox is full), -EHOSTUNREACH (no sibling with that CID in a
 * common group, or its rx queue is not running).
 */
int vsock_hub_forward(struct vhk_vsock *vs, const struct vsock_pkt *p,
		      struct vhk_iter *payload)
{
	struct vhk_vsock_hub *hub = vs->hub;
	struct vhk_vsock *dst = NULL;
	struct vsock_fwd *f;
	unsigned int i;
	int ret = 0;

	if (!hub)
		return -EHOSTUNREACH;
	/* Copied before taking the lock: guest memory is not touched under
	 * it.  p->len was checked against the chain by the parser. */
	f = malloc(sizeof(*f) + p->len);
	if (!f) {
		vs->st.sibling_drop++;
		return 0;
	}
	f->next = NULL;
	f->hdr = *p;
	f->off = 0;
	(void)vhk_iter_read(payload, f->data, p->len);

	pthread_mutex_lock(&hub->lock);
	for (i = 0; i < hub->n; i++)
		if (hub->vms[i]->guest_cid == p->dst_cid)
			dst = hub->vms[i];
	if (!dst || !dst->reachable || !share_group(vs, dst)) {
		ret = -EHOSTUNREACH;
	} else if (dst->inbox_pkts >= VSOCK_INBOX_PKTS ||
		   dst->inbox_bytes + p->len > VSOCK_INBOX_BYTES) {
		ret = -ENOBUFS;
	} else {
		if (dst->inbox_tail)
			dst->inbox_tail->next = f;
		else
			dst->inbox_head = f;
		dst->inbox_tail = f;
		dst->inbox_pkts++;
		dst->inbox_bytes += p->len;
		if (write(dst->inbox_fd, &(uint64_t){ 1 }, 8) < 0)
			(void)0;	/* counter full: already woken */
		f = NULL;
	}
	pthread_mutex_unlock(&hub->lock);
	if (!f) {
		vs->st.sibling_fwd++;
		return 0;
	}
	free(f);
	if (ret == -ENOBUFS) {
		vs->st.sibling_drop++;
		vs_warn(vs, "sibling CID %llu is not reading: dropped %s",
			(unsigned long long)p->dst_cid, vsock_op_name(p->op));
		if (p->op != VHK_VSOCK_OP_RST)
			vsock_queue_rst(vs, (uint32_t)p->dst_cid, p->dst_port,
					p->src_port, p->type);
		return 0;
	}
	return ret;
}

/* Move the mailbox to this thread's delivery list. */
void vsock_hub_take(struct vhk_vsock *vs)
{
	struct vsock_fwd *head;

	if (!vs->hub)
		return;
	pthread_mutex_lock(&vs->hub->lock);
	head = vs->inbox_head;
	vs->inbox_head = vs->inbox_tail = NULL;
	vs->inbox_bytes = vs->inbox_pkts = 0;
	pthread_mutex_unlock(&vs->hub->lock);
	while (head) {
		struct vsock_fwd *f = head;

		head = f->next;
		f->next = NULL;
		if (vs->fwd_tail)
			vs->fwd_tail->next = f;
		else
			vs->fwd_head = f;
		vs->fwd_tail = f;
	}
}

/* Siblings may (not) send to us: our rx queue runs (or stopped). */
void vsock_hub_set_reachable(struct vhk_vsock *vs, bool on)
{
	if (!vs->hub) {
		vs->reachable = on;
		return;
	}
	pthread_mutex_lock(&vs->hub->lock);
	vs->reachable = on;
	if (!on)
		inbox_drop_locked(vs);
	pthread_mutex_unlock(&vs->hub->lock);
}

/* Forget sibling packets not delivered yet (reset). */
void vsock_hub_drop_all(struct vhk_vsock *vs)
{
	while (vs->fwd_head) {
		struct vsock_fwd *f = vs->fwd_head;

		vs->fwd_head = f->next;
		free(f);
	}
	vs->fwd_tail = NULL;
}
