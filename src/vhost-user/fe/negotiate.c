/* SPDX-License-Identifier: MIT */
/*
 * negotiate.c - the VMM negotiation helper and the DMA mode rule: pure
 * functions of feature words (docs/frontend.md).
 */
#include "fe_priv.h"

uint64_t vhk_fe_default_allowlist(void)
{
	static const unsigned int transport[] = {
		VHK_F_INDIRECT_DESC, VHK_F_EVENT_IDX, VHK_F_VERSION_1,
		VHK_F_ACCESS_PLATFORM, VHK_F_RING_PACKED, VHK_F_IN_ORDER,
		VHK_F_ORDER_PLATFORM,
	};
	uint64_t allow = 0;

	/* Device-type bits 0-23 belong to the device (VIRTIO 1.2, 6). */
	for (unsigned int bit = 0; bit < 24; bit++)
		vhk_set_feature(&allow, bit);
	for (size_t i = 0; i < VHK_ARRAY_SIZE(transport); i++)
		vhk_set_feature(&allow, transport[i]);
	return allow;
}

uint64_t vhk_fe_backend_features(uint64_t guest_acked, uint64_t backend_offered,
				 uint64_t allowlist, bool iotlb_provided)
{
	uint64_t f = guest_acked & backend_offered & allowlist;

	/*
	 * PROTOCOL_FEATURES is vhost-user plumbing, never a guest bit: the
	 * caller adds it when the back-end offered it.
	 */
	vhk_clear_feature(&f, VHK_F_PROTOCOL_FEATURES);
	/*
	 * ACCESS_PLATFORM in SET_FEATURES is the back-end's IOTLB switch
	 * (vhost-user spec, "IOMMU support"): send it only when this VMM
	 * fills that IOTLB.  The guest's ack alone means "use the DMA API"
	 * and must not turn an empty IOTLB on (crosvm 4e7d00be2e13).
	 */
	if (!iotlb_provided)
		vhk_clear_feature(&f, VHK_F_ACCESS_PLATFORM);
	return f;
}

enum vhk_dma_mode vhk_fe_dma_mode_from(uint64_t driver_features,
				       uint64_t backend_features,
				       uint64_t protocol_features)
{
	if (!vhk_has_feature(driver_features, VHK_F_ACCESS_PLATFORM))
		return VHK_DMA_DIRECT;
	/* An IOTLB exists only if we fill it: the back-end got the bit
	 * and we hold the channel its misses arrive on. */
	if (vhk_has_feature(backend_features, VHK_F_ACCESS_PLATFORM) &&
	    vhk_has_feature(protocol_features, VHK_PROTO_F_BACKEND_REQ))
		return VHK_DMA_IOMMU;
	return VHK_DMA_BOUNCE;
}

const char *vhk_fe_dma_mode_name(enum vhk_dma_mode mode)
{
	switch (mode) {
	case VHK_DMA_DIRECT:
		return "direct";
	case VHK_DMA_IOMMU:
		return "iommu";
	case VHK_DMA_BOUNCE:
		return "bounce";
	}
	return "unknown";
}
