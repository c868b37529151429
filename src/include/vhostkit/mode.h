/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/mode.h - the back-end's choice of translation mode (internal:
 * src/include, not installed).  The --iommu policy is a back-end option
 * (vhostkit/backend.h); the mem layer only runs the mode chosen here
 * (vhostkit/as.h).  docs/translation-model.md, "Who decides".
 */
#ifndef VHOSTKIT_MODE_H
#define VHOSTKIT_MODE_H

#include <stdbool.h>
#include <stdint.h>
#include "vhostkit/backend.h"
#include "vhostkit/translation.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything the mode depends on: negotiated state only. */
struct vhk_mode_input {
	uint64_t acked_features;	/* SET_FEATURES */
	uint64_t protocol_features;	/* SET_PROTOCOL_FEATURES */
	bool backend_channel;		/* SET_BACKEND_REQ_FD received */
	enum vhk_iommu_policy policy;
};

/**
 * vhk_as_choose_mode - the translation mode for @in.
 *  - ACCESS_PLATFORM not acked: gpa.
 *  - acked with policy off: -EINVAL (the bit was never offered).
 *  - acked, and BACKEND_REQ + REPLY_ACK acked and a channel present: iotlb.
 *  - acked without them: policy on -> -EPROTO; auto -> platform-identity
 *    and *@warn set (the front-end cannot answer IOTLB misses).
 * *@why (may be NULL) receives a static one-line explanation either way.
 * Returns 0 and *@mode, or the negative errno above.
 */
int vhk_as_choose_mode(const struct vhk_mode_input *in, enum vhk_as_mode *mode,
		       bool *warn, const char **why);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_MODE_H */
