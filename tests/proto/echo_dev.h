/* SPDX-License-Identifier: MIT */
/*
 * echo_dev.h - the test device: the smallest device the framework
 * (vhostkit/device.h) can run.  Each chain's readable bytes are copied to
 * its writable bytes; the used length is what was copied.  It has a
 * 16-byte config space anyone may write, no queue state and no I/O of its
 * own: a device is "handlers + config".  The proto flow / hostile suites
 * run against it and again against virtio-blk (proto_util.h).
 */
#ifndef VHK_TESTS_ECHO_DEV_H
#define VHK_TESTS_ECHO_DEV_H

#include "vhostkit/device.h"

#define ECHO_NQUEUES	2
#define ECHO_CONFIG_LEN	16

struct echo_dev {
	uint64_t features;		/* offered */
	uint8_t config[ECHO_CONFIG_LEN];
};

/** The echo device's operations (type: VHK_DEV_BLK; copy to change). */
extern const struct vhk_device_ops echo_dev_ops;

/** echo_dev_init - VERSION_1 | RING_PACKED | EVENT_IDX, config 0xa0.. */
void echo_dev_init(struct echo_dev *e);

#endif /* VHK_TESTS_ECHO_DEV_H */
