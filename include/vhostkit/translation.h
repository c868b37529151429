/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/translation.h - the names of the three translation modes a
 * device runs in (docs/translation-model.md):
 *
 *   gpa                descriptor addresses are guest-physical
 *   platform-identity  ACCESS_PLATFORM acked, IOVA = GPA (no device IOTLB)
 *   iotlb              addresses are IOVAs, served by the device IOTLB
 *
 * The mode is chosen by the back-end at ring start (vhk_backend_mode());
 * the address space that runs it is internal to the library.  The IOTLB
 * access permissions below are what a front-end maps with
 * (vhk_vuc_iotlb_map()) and what a device asks for on a miss.
 */
#ifndef VHOSTKIT_TRANSLATION_H
#define VHOSTKIT_TRANSLATION_H

#include "vhostkit/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Access permissions, as the vhost IOTLB message encodes them. */
#define VHK_PERM_NONE	0x0
#define VHK_PERM_RO	0x1	/* the device may read guest memory */
#define VHK_PERM_WO	0x2	/* the device may write guest memory */
#define VHK_PERM_RW	0x3

enum vhk_as_mode {
	VHK_AS_GPA = 0,
	VHK_AS_PLATFORM_IDENTITY = 1,
	VHK_AS_IOTLB = 2,
};

/** vhk_as_mode_name - "gpa", "platform-identity" or "iotlb". */
VHK_API
const char *vhk_as_mode_name(enum vhk_as_mode mode);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_TRANSLATION_H */
