/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/features_text.h - what each feature bit means, in words
 * (internal: src/include, not installed).  The bits themselves are numbers
 * in vhostkit/features.h; this table gives each one an owner, a meaning
 * and a spec section, for the CLI ("vhostkit features explain", probe) and
 * for back-end logs.  Implemented in src/vhost-user/features_text.c.
 */
#ifndef VHOSTKIT_FEATURES_TEXT_H
#define VHOSTKIT_FEATURES_TEXT_H

#include <stdio.h>
#include "vhostkit/features.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vhk_feature_owner {
	VHK_OWNER_TRANSPORT,	/* ring layout, notifications, versions */
	VHK_OWNER_PLATFORM,	/* how the device reaches memory (bit 33) */
	VHK_OWNER_VHOST_USER,	/* plumbing between front-end and back-end */
	VHK_OWNER_DEVICE,	/* device-type specific, bits 0-23 */
};

/* One row of the feature table. */
struct vhk_feature_info {
	unsigned int bit;
	const char *name;		/* e.g. "VIRTIO_F_ACCESS_PLATFORM" */
	enum vhk_feature_owner owner;
	enum vhk_device_type device;	/* VHK_DEV_ANY unless owner DEVICE */
	const char *meaning;		/* one line */
	const char *spec;		/* e.g. "virtio 1.2 s6" */
};

/**
 * vhk_feature_lookup - the table row for virtio feature @bit of @dev.
 * Device bits (0-23) are looked up for @dev only; transport, platform and
 * vhost-user bits for any @dev.  Returns NULL for an unknown bit.
 */
const struct vhk_feature_info *vhk_feature_lookup(enum vhk_device_type dev,
						  unsigned int bit);

/**
 * vhk_protocol_feature_lookup - the table row for vhost-user protocol
 * feature @bit (owner VHK_OWNER_VHOST_USER), or NULL if unknown.
 */
const struct vhk_feature_info *vhk_protocol_feature_lookup(unsigned int bit);

/**
 * vhk_feature_table - the whole virtio feature table (*@count rows), for
 * documentation generators and completeness tests.  Every row has one
 * owner; device rows name their device type.
 */
const struct vhk_feature_info *vhk_feature_table(size_t *count);

/** vhk_protocol_feature_table - the whole vhost-user protocol table. */
const struct vhk_feature_info *vhk_protocol_feature_table(size_t *count);

/** vhk_owner_name - "transport", "platform", "vhost-user" or "device". */
const char *vhk_owner_name(enum vhk_feature_owner owner);

/** vhk_device_type_name - "net", "blk", "vsock", or "unknown". */
const char *vhk_device_type_name(enum vhk_device_type dev);

/**
 * vhk_device_type_parse - parse "blk"/"net"/"vsock" or a decimal id.
 * Returns 0 and sets *@dev, or -EINVAL.
 */
int vhk_device_type_parse(const char *s, enum vhk_device_type *dev);

/**
 * vhk_features_explain - write @features bit by bit to @out, one line per
 * set bit: number, name, owner, meaning, spec section; unknown bits are
 * printed as "unknown".  @protocol selects the vhost-user protocol table.
 * Returns the number of set bits, or a negative errno on write failure.
 */
int vhk_features_explain(FILE *out, uint64_t features, enum vhk_device_type dev,
			 bool protocol);

/**
 * vhk_features_format - "NAME|NAME|0x..." short form of @features into @buf
 * (always NUL-terminated when @len > 0).  Returns the length it wanted,
 * like snprintf.
 */
int vhk_features_format(char *buf, size_t len, uint64_t features,
			enum vhk_device_type dev, bool protocol);

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_FEATURES_TEXT_H */
