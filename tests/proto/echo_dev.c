// SPDX-License-Identifier: MIT
/* echo_dev.c - the test device (echo_dev.h). */
#include <errno.h>
#include <string.h>

#include "echo_dev.h"

static uint64_t echo_features(void *dev)
{
	return ((struct echo_dev *)dev)->features;
}

static uint64_t echo_proto(void *dev)
{
	(void)dev;
	return vhk_feature_bit(VHK_PROTO_F_MQ) |
	       vhk_feature_bit(VHK_PROTO_F_CONFIG) |
	       vhk_feature_bit(VHK_PROTO_F_INFLIGHT_SHMFD) |
	       vhk_feature_bit(VHK_PROTO_F_NET_MTU) |
	       vhk_feature_bit(VHK_PROTO_F_RARP);
}

static uint16_t echo_nq(void *dev)
{
	(void)dev;
	return ECHO_NQUEUES;
}

static int echo_get_config(void *dev, uint32_t off, void *buf, uint32_t len)
{
	struct echo_dev *e = dev;

	if ((uint64_t)off + len > ECHO_CONFIG_LEN)
		return -EINVAL;
	memcpy(buf, e->config + off, len);
	return 0;
}

static int echo_set_config(void *dev, uint32_t off, const void *buf,
			   uint32_t len)
{
	struct echo_dev *e = dev;

	if ((uint64_t)off + len > ECHO_CONFIG_LEN)
		return -EINVAL;
	memcpy(e->config + off, buf, len);
	return 0;
}

static int echo_chain(void *dev, struct vhk_dev_queue *q, struct vhk_chain *c)
{
	struct vhk_iter rd, wr;
	uint8_t buf[4096];
	size_t n, total = 0;

	(void)dev;
	vhk_chain_reader(c, &rd);
	vhk_chain_writer(c, &wr);
	while ((n = vhk_iter_read(&rd, buf, sizeof(buf))) > 0)
		total += vhk_iter_write(&wr, buf, n);
	/* A failed push (broken queue) is a lost completion: the framework
	 * reports the device broken on a negative return. */
	return vhk_vq_push(vhk_dq_vq(q), c, (uint32_t)total) < 0 ?
	       -EIO : VHK_CHAIN_TAKEN;
}

const struct vhk_device_ops echo_dev_ops = {
	.type = VHK_DEV_BLK,
	.get_features = echo_features,
	.get_protocol_features = echo_proto,
	.num_queues = echo_nq,
	.get_config = echo_get_config,
	.set_config = echo_set_config,
	.handle_chain = echo_chain,
};

void echo_dev_init(struct echo_dev *e)
{
	memset(e, 0, sizeof(*e));
	e->features = vhk_feature_bit(VHK_F_VERSION_1) |
		      vhk_feature_bit(VHK_F_RING_PACKED) |
		      vhk_feature_bit(VHK_F_EVENT_IDX);
	for (int i = 0; i < ECHO_CONFIG_LEN; i++)
		e->config[i] = (uint8_t)(0xa0 + i);
}
