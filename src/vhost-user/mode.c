/* SPDX-License-Identifier: MIT */
/*
 * mode.c - the back-end's --iommu policy and the translation mode it
 * chooses from negotiated state (docs/translation-model.md, "Who decides").
 * The mem layer only runs the mode it is given (src/mem/as.c).
 */
#include <errno.h>
#include <string.h>

#include "vhostkit/backend.h"
#include "vhostkit/features.h"
#include "vhostkit/mode.h"

int vhk_as_choose_mode(const struct vhk_mode_input *in, enum vhk_as_mode *mode,
		       bool *warn, const char **why)
{
	const char *w;
	bool chan;

	if (warn)
		*warn = false;
	if (!in || !mode) {
		w = "no negotiation state given";
		goto err_inval;
	}
	if (in->policy != VHK_IOMMU_AUTO && in->policy != VHK_IOMMU_ON &&
	    in->policy != VHK_IOMMU_OFF) {
		w = "unknown --iommu policy";
		goto err_inval;
	}

	if (!vhk_has_feature(in->acked_features, VHK_F_ACCESS_PLATFORM)) {
		*mode = VHK_AS_GPA;
		if (why)
			*why = "VIRTIO_F_ACCESS_PLATFORM not negotiated: "
			       "descriptor addresses are guest-physical";
		return 0;
	}

	if (in->policy == VHK_IOMMU_OFF) {
		/*
		 * With --iommu=off the bit is never offered, so a front-end
		 * that acks it acks a feature it was not offered (VIRTIO 1.2,
		 * 2.2.1: the driver MUST NOT accept a feature the device did
		 * not offer).
		 */
		w = "VIRTIO_F_ACCESS_PLATFORM acked but never offered "
		    "(--iommu=off)";
		goto err_inval;
	}

	/*
	 * An IOTLB needs a way to ask for missing translations (IOTLB_MSG
	 * over the back-end channel) and a synchronous answer to UPDATEs
	 * (REPLY_ACK): QEMU's own precondition for device IOTLB support.
	 */
	chan = vhk_has_feature(in->protocol_features, VHK_PROTO_F_BACKEND_REQ) &&
	       vhk_has_feature(in->protocol_features, VHK_PROTO_F_REPLY_ACK) &&
	       in->backend_channel;
	if (chan) {
		*mode = VHK_AS_IOTLB;
		if (why)
			*why = "VIRTIO_F_ACCESS_PLATFORM with BACKEND_REQ, "
			       "REPLY_ACK and a back-end channel: addresses "
			       "are IOVAs translated by the device IOTLB";
		return 0;
	}

	if (in->policy == VHK_IOMMU_ON) {
		if (why)
			*why = "VIRTIO_F_ACCESS_PLATFORM acked but the front-end "
			       "cannot drive a device IOTLB (needs protocol "
			       "features BACKEND_REQ and REPLY_ACK and a back-end "
			       "channel); use --iommu=auto or off for a front-end "
			       "that only forwards the guest's bit";
		return -EPROTO;
	}

	*mode = VHK_AS_PLATFORM_IDENTITY;
	if (warn)
		*warn = true;
	if (why)
		*why = "VIRTIO_F_ACCESS_PLATFORM acked without BACKEND_REQ + "
		       "REPLY_ACK + back-end channel: nobody could answer IOTLB "
		       "misses, so addresses are taken as guest-physical "
		       "(platform-identity); the front-end probably forwards "
		       "the guest's bit (use --iommu=off to stop offering it)";
	return 0;

err_inval:
	if (why)
		*why = w;
	return -EINVAL;
}

static const char *const policy_names[] = {
	[VHK_IOMMU_AUTO] = "auto",
	[VHK_IOMMU_ON] = "on",
	[VHK_IOMMU_OFF] = "off",
};

int vhk_iommu_policy_parse(const char *s, enum vhk_iommu_policy *policy)
{
	if (!s || !policy)
		return -EINVAL;
	for (unsigned int i = 0; i < VHK_ARRAY_SIZE(policy_names); i++) {
		if (strcmp(s, policy_names[i]) == 0) {
			*policy = (enum vhk_iommu_policy)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vhk_iommu_policy_name(enum vhk_iommu_policy policy)
{
	if ((unsigned int)policy >= VHK_ARRAY_SIZE(policy_names))
		return "unknown";
	return policy_names[policy];
}
