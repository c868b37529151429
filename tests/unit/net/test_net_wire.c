/* SPDX-License-Identifier: MIT */
/*
 * test_net_wire.c - vhostkit/virtio_net.h against the kernel's own UAPI
 * definitions (<linux/virtio_net.h>): sizes, offsets and constant values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <linux/virtio_net.h>

#include "vhostkit/virtio_net.h"

static void test_hdr_matches_uapi(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vhk_net_hdr),
			 sizeof(struct virtio_net_hdr_mrg_rxbuf));
	assert_int_equal(VHK_NET_HDR_LEGACY_SIZE, sizeof(struct virtio_net_hdr));
	assert_int_equal(offsetof(struct vhk_net_hdr, hdr_len),
			 offsetof(struct virtio_net_hdr, hdr_len));
	assert_int_equal(offsetof(struct vhk_net_hdr, gso_size),
			 offsetof(struct virtio_net_hdr, gso_size));
	assert_int_equal(offsetof(struct vhk_net_hdr, csum_start),
			 offsetof(struct virtio_net_hdr, csum_start));
	assert_int_equal(offsetof(struct vhk_net_hdr, csum_offset),
			 offsetof(struct virtio_net_hdr, csum_offset));
	assert_int_equal(offsetof(struct vhk_net_hdr, num_buffers),
			 offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers));
	assert_int_equal(VHK_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(VHK_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_DATA_VALID);
	assert_int_equal(VHK_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(VHK_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(VHK_NET_HDR_GSO_UDP, VIRTIO_NET_HDR_GSO_UDP);
	assert_int_equal(VHK_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(VHK_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_ECN);
}

static void test_config_matches_uapi(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct vhk_net_config, status),
			 offsetof(struct virtio_net_config, status));
	assert_int_equal(offsetof(struct vhk_net_config, max_virtqueue_pairs),
			 offsetof(struct virtio_net_config, max_virtqueue_pairs));
	assert_int_equal(offsetof(struct vhk_net_config, mtu),
			 offsetof(struct virtio_net_config, mtu));
	assert_int_equal(offsetof(struct vhk_net_config, speed),
			 offsetof(struct virtio_net_config, speed));
	assert_int_equal(offsetof(struct vhk_net_config, duplex),
			 offsetof(struct virtio_net_config, duplex));
	assert_int_equal(VHK_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(VHK_NET_S_ANNOUNCE, VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(VHK_NET_MQ_PAIRS_MAX, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX);
}

static void test_feature_bits_match_uapi(void **state)
{
	(void)state;
	assert_int_equal(VHK_NET_F_CSUM, VIRTIO_NET_F_CSUM);
	assert_int_equal(VHK_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_CSUM);
	assert_int_equal(VHK_NET_F_MTU, VIRTIO_NET_F_MTU);
	assert_int_equal(VHK_NET_F_MAC, VIRTIO_NET_F_MAC);
	assert_int_equal(VHK_NET_F_GSO, VIRTIO_NET_F_GSO);
	assert_int_equal(VHK_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO4);
	assert_int_equal(VHK_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_TSO6);
	assert_int_equal(VHK_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_ECN);
	assert_int_equal(VHK_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO4);
	assert_int_equal(VHK_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_TSO6);
	assert_int_equal(VHK_NET_F_HOST_ECN, VIRTIO_NET_F_HOST_ECN);
	assert_int_equal(VHK_NET_F_MRG_RXBUF, VIRTIO_NET_F_MRG_RXBUF);
	assert_int_equal(VHK_NET_F_STATUS, VIRTIO_NET_F_STATUS);
	assert_int_equal(VHK_NET_F_CTRL_VQ, VIRTIO_NET_F_CTRL_VQ);
	assert_int_equal(VHK_NET_F_GUEST_ANNOUNCE, VIRTIO_NET_F_GUEST_ANNOUNCE);
	assert_int_equal(VHK_NET_F_MQ, VIRTIO_NET_F_MQ);
	assert_int_equal(VHK_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_CTRL_MAC_ADDR);
	assert_int_equal(VHK_NET_F_SPEED_DUPLEX, VIRTIO_NET_F_SPEED_DUPLEX);
	assert_int_equal(VHK_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ);
	assert_int_equal(VHK_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE);
	assert_int_equal(VHK_NET_CTRL_GUEST_OFFLOADS,
			 VIRTIO_NET_CTRL_GUEST_OFFLOADS);
}

static void test_queue_layout(void **state)
{
	(void)state;
	assert_true(vhk_net_queue_is_rx(0));
	assert_false(vhk_net_queue_is_rx(1));
	assert_int_equal(vhk_net_queue_pair(5), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_matches_uapi),
		cmocka_unit_test(test_config_matches_uapi),
		cmocka_unit_test(test_feature_bits_match_uapi),
		cmocka_unit_test(test_queue_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
