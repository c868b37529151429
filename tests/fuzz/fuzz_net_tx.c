/* SPDX-License-Identifier: MIT */
/*
 * fuzz_net_tx.c - libFuzzer target for virtio-net TX header parsing and
 * the software offloads that follow it (src/dev/net/net_offload.c).
 *
 * Input layout (missing bytes read as zero):
 *   [0]      offloads the source negotiated (VHK_NET_OFF_* bits)
 *   [1..2]   MTU, little-endian (values below 68 read as 1500)
 *   [3..14]  struct virtio_net_hdr as the guest wrote it
 *   rest     the frame (at most VHK_NET_MAX_FRAME bytes are used)
 *
 * The frame sits in an allocation of exactly its length, so any read
 * past it is an ASan report.  An accepted header must keep its offsets
 * inside the frame; checksum completion runs on a copy; GSO frames are
 * segmented into a scratch buffer of exactly hlen + gso_size bytes and
 * every segment must fit it; the header rebuilt from the parsed meta
 * must parse again to the same meta (the RX side writes that header).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/net/net_offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

struct seg_ctx {
	size_t max;
	unsigned int n;
};

static int on_seg(void *arg, const uint8_t *seg, size_t len)
{
	struct seg_ctx *s = arg;
	volatile uint8_t sink = 0;

	if (len > s->max || len == 0)
		abort();
	for (size_t i = 0; i < len; i += 64)
		sink ^= seg[i];
	(void)sink;
	s->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t head[15] = { 0 };
	struct vhk_net_hdr h, h2;
	struct vhk_net_meta m, m2;
	unsigned int allowed;
	uint16_t mtu;
	size_t len = size > 15 ? size - 15 : 0;
	uint8_t *frame;
	int rc;

	memcpy(head, data, size < 15 ? size : 15);
	if (len > VHK_NET_MAX_FRAME + 1)
		len = VHK_NET_MAX_FRAME + 1;
	allowed = head[0] & 0x1f;
	mtu = (uint16_t)(head[1] | head[2] << 8);
	if (mtu < 68)
		mtu = 1500;
	memcpy(&h, head + 3, sizeof(h));
	frame = malloc(len ? len : 1);
	if (!frame)
		return 0;
	if (len)
		memcpy(frame, data + 15, len);
	rc = vhk_net_meta_parse(&h, frame, len, allowed, mtu, &m);
	if (rc < 0) {
		if (vhk_net_drop_of(rc) >= VHK_NET_DROP__COUNT)
			abort();
		free(frame);
		return 0;
	}
	if (len < VHK_ETH_HLEN || len > VHK_NET_MAX_FRAME)
		abort();
	if (m.needs_csum && (size_t)m.csum_start + m.csum_offset + 2 > len)
		abort();
	if (vhk_net_offloads_needed(&m) & ~allowed & ~VHK_NET_OFF_CSUM)
		abort();
	vhk_net_meta_to_hdr(&m, &h2);
	if (vhk_net_meta_parse(&h2, frame, len, allowed | VHK_NET_OFF_CSUM,
			       mtu, &m2) != 0 ||
	    m2.gso_type != m.gso_type || m2.gso_size != m.gso_size ||
	    m2.csum_start != m.csum_start || m2.needs_csum != m.needs_csum)
		abort();
	if (m.gso_type != VHK_NET_HDR_GSO_NONE) {
		struct seg_ctx s = { .max = (size_t)m.hlen + m.gso_size };
		uint8_t *scratch = malloc(s.max);

		if (!scratch || m.hlen > len ||
		    vhk_net_segment(frame, len, &m, scratch, on_seg, &s) != 0 ||
		    s.n == 0)
			abort();
		free(scratch);
	} else if (m.needs_csum) {
		uint8_t *copy = malloc(len);

		if (!copy)
			abort();
		memcpy(copy, frame, len);
		vhk_net_csum_finish(copy, len, &m);
		free(copy);
	}
	free(frame);
	return 0;
}
