/* SPDX-License-Identifier: MIT */
/* test_features.c - the feature tables, lookups, explain and format. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vhostkit/features.h"
#include "vhostkit/features_text.h"

struct expect {
	enum vhk_device_type dev;
	unsigned int bit;
	const char *name;
	enum vhk_feature_owner owner;
};

/* Written out by hand: the table must contain at least these rows. */
static const struct expect expected[] = {
	{ VHK_DEV_ANY, 24, "VIRTIO_F_NOTIFY_ON_EMPTY", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 27, "VIRTIO_F_ANY_LAYOUT", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 28, "VIRTIO_F_INDIRECT_DESC", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 29, "VIRTIO_F_EVENT_IDX", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 30, "VHOST_USER_F_PROTOCOL_FEATURES",
	  VHK_OWNER_VHOST_USER },
	{ VHK_DEV_ANY, 32, "VIRTIO_F_VERSION_1", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 33, "VIRTIO_F_ACCESS_PLATFORM", VHK_OWNER_PLATFORM },
	{ VHK_DEV_ANY, 34, "VIRTIO_F_RING_PACKED", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 35, "VIRTIO_F_IN_ORDER", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 36, "VIRTIO_F_ORDER_PLATFORM", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 37, "VIRTIO_F_SR_IOV", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 38, "VIRTIO_F_NOTIFICATION_DATA", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 39, "VIRTIO_F_NOTIF_CONFIG_DATA", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 40, "VIRTIO_F_RING_RESET", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_ANY, 41, "VIRTIO_F_ADMIN_VQ", VHK_OWNER_TRANSPORT },
	{ VHK_DEV_BLK, 1, "VIRTIO_BLK_F_SIZE_MAX", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 2, "VIRTIO_BLK_F_SEG_MAX", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 4, "VIRTIO_BLK_F_GEOMETRY", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 5, "VIRTIO_BLK_F_RO", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 6, "VIRTIO_BLK_F_BLK_SIZE", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 9, "VIRTIO_BLK_F_FLUSH", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 10, "VIRTIO_BLK_F_TOPOLOGY", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 11, "VIRTIO_BLK_F_CONFIG_WCE", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 12, "VIRTIO_BLK_F_MQ", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 13, "VIRTIO_BLK_F_DISCARD", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 14, "VIRTIO_BLK_F_WRITE_ZEROES", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 15, "VIRTIO_BLK_F_LIFETIME", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 16, "VIRTIO_BLK_F_SECURE_ERASE", VHK_OWNER_DEVICE },
	{ VHK_DEV_BLK, 17, "VIRTIO_BLK_F_ZONED", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 0, "VIRTIO_NET_F_CSUM", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 1, "VIRTIO_NET_F_GUEST_CSUM", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 2, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS",
	  VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 3, "VIRTIO_NET_F_MTU", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 5, "VIRTIO_NET_F_MAC", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 7, "VIRTIO_NET_F_GUEST_TSO4", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 8, "VIRTIO_NET_F_GUEST_TSO6", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 9, "VIRTIO_NET_F_GUEST_ECN", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 10, "VIRTIO_NET_F_GUEST_UFO", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 11, "VIRTIO_NET_F_HOST_TSO4", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 12, "VIRTIO_NET_F_HOST_TSO6", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 13, "VIRTIO_NET_F_HOST_ECN", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 14, "VIRTIO_NET_F_HOST_UFO", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 15, "VIRTIO_NET_F_MRG_RXBUF", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 16, "VIRTIO_NET_F_STATUS", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 17, "VIRTIO_NET_F_CTRL_VQ", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 18, "VIRTIO_NET_F_CTRL_RX", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 19, "VIRTIO_NET_F_CTRL_VLAN", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 21, "VIRTIO_NET_F_GUEST_ANNOUNCE", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 22, "VIRTIO_NET_F_MQ", VHK_OWNER_DEVICE },
	{ VHK_DEV_NET, 23, "VIRTIO_NET_F_CTRL_MAC_ADDR", VHK_OWNER_DEVICE },
	{ VHK_DEV_VSOCK, 0, "VIRTIO_VSOCK_F_STREAM", VHK_OWNER_DEVICE },
	{ VHK_DEV_VSOCK, 1, "VIRTIO_VSOCK_F_SEQPACKET", VHK_OWNER_DEVICE },
};

static void test_table_complete(void **state)
{
	const enum vhk_device_type devs[] = { VHK_DEV_ANY, VHK_DEV_NET,
					      VHK_DEV_BLK, VHK_DEV_VSOCK };

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(expected); i++) {
		const struct expect *x = &expected[i];
		const struct vhk_feature_info *f =
			vhk_feature_lookup(x->dev, x->bit);

		if (!f)
			fail_msg("bit %u (%s) missing", x->bit, x->name);
		assert_string_equal(f->name, x->name);
		assert_int_equal(f->bit, x->bit);
		assert_int_equal(f->owner, x->owner);
		assert_non_null(f->meaning);
		assert_true(strlen(f->meaning) > 8);
		assert_non_null(f->spec);
		if (x->owner == VHK_OWNER_VHOST_USER)
			assert_non_null(strstr(f->spec, "vhost-user"));
		else
			assert_non_null(strstr(f->spec, "virtio 1."));
		/* Transport bits are the same for every device type. */
		if (x->owner != VHK_OWNER_DEVICE)
			for (size_t d = 0; d < VHK_ARRAY_SIZE(devs); d++)
				assert_ptr_equal(vhk_feature_lookup(devs[d],
								    x->bit), f);
		else
			assert_int_equal(f->device, x->dev);
	}
	/* Every bit from 24 to 41 that the spec defines has a row (26 is
	 * vhost's LOG_ALL, a vhost-user transport bit). */
	for (unsigned int bit = 24; bit <= 41; bit++) {
		const struct vhk_feature_info *f =
			vhk_feature_lookup(VHK_DEV_BLK, bit);

		if (bit == 25 || bit == 31) {
			assert_null(f);
			continue;
		}
		assert_non_null(f);
		assert_true(f->owner != VHK_OWNER_DEVICE);
	}
	/* The two special owners. */
	assert_int_equal(vhk_feature_lookup(VHK_DEV_ANY, 30)->owner,
			 VHK_OWNER_VHOST_USER);
	assert_non_null(strstr(vhk_feature_lookup(VHK_DEV_NET, 30)->meaning,
			       "never shown to a guest"));
	assert_int_equal(vhk_feature_lookup(VHK_DEV_ANY, 33)->owner,
			 VHK_OWNER_PLATFORM);
	/* ACCESS_PLATFORM documents both readings. */
	{
		const char *m = vhk_feature_lookup(VHK_DEV_ANY, 33)->meaning;

		assert_non_null(strstr(m, "DMA API"));
		assert_non_null(strstr(m, "IOTLB"));
	}
	/* Device bits are per device type. */
	assert_null(vhk_feature_lookup(VHK_DEV_ANY, 5));
	assert_string_equal(vhk_feature_lookup(VHK_DEV_BLK, 5)->name,
			    "VIRTIO_BLK_F_RO");
	assert_string_equal(vhk_feature_lookup(VHK_DEV_NET, 5)->name,
			    "VIRTIO_NET_F_MAC");
	assert_null(vhk_feature_lookup(VHK_DEV_VSOCK, 5));
	assert_null(vhk_feature_lookup(VHK_DEV_BLK, 64));
	assert_null(vhk_feature_lookup(VHK_DEV_BLK, 1000));
}

static void test_table_consistent(void **state)
{
	size_t n = 0;
	const struct vhk_feature_info *t = vhk_feature_table(&n);

	(void)state;
	assert_true(n >= VHK_ARRAY_SIZE(expected));
	for (size_t i = 0; i < n; i++) {
		assert_true(t[i].bit < 64);
		/* Owner DEVICE <=> a device type, never in 24..41. */
		if (t[i].owner == VHK_OWNER_DEVICE) {
			assert_true(t[i].device != VHK_DEV_ANY);
			assert_false(t[i].bit >= 24 && t[i].bit <= 41);
		} else {
			assert_int_equal(t[i].device, VHK_DEV_ANY);
			assert_true(t[i].bit >= 24 && t[i].bit <= 41);
		}
		/* One row per (device, bit). */
		for (size_t j = i + 1; j < n; j++)
			assert_false(t[i].bit == t[j].bit &&
				     t[i].device == t[j].device);
	}
}

static void test_protocol_table(void **state)
{
	(void)state;
	for (unsigned int bit = 0; bit <= 19; bit++) {
		const struct vhk_feature_info *f =
			vhk_protocol_feature_lookup(bit);

		assert_non_null(f);
		assert_int_equal(f->bit, bit);
		assert_int_equal(f->owner, VHK_OWNER_VHOST_USER);
		assert_non_null(strstr(f->name, "VHOST_USER_PROTOCOL_F_"));
	}
	assert_string_equal(vhk_protocol_feature_lookup(3)->name,
			    "VHOST_USER_PROTOCOL_F_REPLY_ACK");
	assert_string_equal(vhk_protocol_feature_lookup(5)->name,
			    "VHOST_USER_PROTOCOL_F_BACKEND_REQ");
	assert_string_equal(vhk_protocol_feature_lookup(63)->name,
			    "VHOST_USER_PROTOCOL_F_IOTLB_PERSIST");
	assert_non_null(strstr(vhk_protocol_feature_lookup(63)->meaning,
			       "experimental"));
	assert_null(vhk_protocol_feature_lookup(20));
	assert_null(vhk_protocol_feature_lookup(62));
	assert_null(vhk_protocol_feature_lookup(64));
}

static void test_names_parse(void **state)
{
	enum vhk_device_type d;

	(void)state;
	assert_string_equal(vhk_owner_name(VHK_OWNER_TRANSPORT), "transport");
	assert_string_equal(vhk_owner_name(VHK_OWNER_PLATFORM), "platform");
	assert_string_equal(vhk_owner_name(VHK_OWNER_VHOST_USER), "vhost-user");
	assert_string_equal(vhk_owner_name(VHK_OWNER_DEVICE), "device");
	assert_string_equal(vhk_device_type_name(VHK_DEV_BLK), "blk");
	assert_string_equal(vhk_device_type_name(VHK_DEV_NET), "net");
	assert_string_equal(vhk_device_type_name(VHK_DEV_VSOCK), "vsock");
	assert_string_equal(vhk_device_type_name((enum vhk_device_type)77),
			    "unknown");
	assert_int_equal(vhk_device_type_parse("blk", &d), 0);
	assert_int_equal(d, VHK_DEV_BLK);
	assert_int_equal(vhk_device_type_parse("vsock", &d), 0);
	assert_int_equal(d, VHK_DEV_VSOCK);
	assert_int_equal(vhk_device_type_parse("19", &d), 0);
	assert_int_equal(d, VHK_DEV_VSOCK);
	assert_int_equal(vhk_device_type_parse("1", &d), 0);
	assert_int_equal(d, VHK_DEV_NET);
	assert_int_equal(vhk_device_type_parse("3", &d), -EINVAL);
	assert_int_equal(vhk_device_type_parse("2x", &d), -EINVAL);
	assert_int_equal(vhk_device_type_parse("-2", &d), -EINVAL);
	assert_int_equal(vhk_device_type_parse("", &d), -EINVAL);
	assert_int_equal(vhk_device_type_parse("BLK", &d), -EINVAL);
	assert_int_equal(vhk_device_type_parse(NULL, &d), -EINVAL);
}

/* Run explain into a memory buffer. */
static char *explain(uint64_t features, enum vhk_device_type dev,
		     bool protocol, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*ret = vhk_features_explain(f, features, dev, protocol);
	fclose(f);
	return buf;
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_explain(void **state)
{
	uint64_t f = 0;
	char *out;
	int n;

	(void)state;
	vhk_set_feature(&f, VHK_F_ACCESS_PLATFORM);
	vhk_set_feature(&f, VHK_F_VERSION_1);
	vhk_set_feature(&f, VHK_F_PROTOCOL_FEATURES);
	vhk_set_feature(&f, VHK_BLK_F_FLUSH);
	vhk_set_feature(&f, 25);	/* reserved */
	vhk_set_feature(&f, 50);	/* not a blk bit */
	out = explain(f, VHK_DEV_BLK, false, &n);
	assert_int_equal(n, 6);
	assert_int_equal(count_lines(out), 6);
	assert_non_null(strstr(out, "VIRTIO_F_ACCESS_PLATFORM"));
	assert_non_null(strstr(out, "platform"));
	assert_non_null(strstr(out, "VHOST_USER_F_PROTOCOL_FEATURES"));
	assert_non_null(strstr(out, "vhost-user"));
	assert_non_null(strstr(out, "VIRTIO_BLK_F_FLUSH"));
	assert_non_null(strstr(out, "device"));
	assert_non_null(strstr(out, "transport"));
	assert_non_null(strstr(out, "virtio 1.2, 5.2.3"));
	/* Two unknown lines: the reserved bit and the stray one. */
	{
		unsigned int unknown = 0;

		for (const char *p = out; (p = strstr(p, "unknown")); p++)
			unknown++;
		assert_int_equal(unknown, 2);
		assert_non_null(strstr(out, "25  unknown"));
		assert_non_null(strstr(out, "50  unknown"));
	}
	free(out);

	/* Without a device type, device bits are unknown. */
	out = explain(vhk_feature_bit(VHK_BLK_F_FLUSH), VHK_DEV_ANY, false, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(out, "unknown"));
	assert_null(strstr(out, "FLUSH"));
	free(out);

	/* Protocol table. */
	out = explain(vhk_feature_bit(VHK_PROTO_F_REPLY_ACK) |
		      vhk_feature_bit(VHK_PROTO_F_IOTLB_PERSIST) |
		      vhk_feature_bit(40), VHK_DEV_ANY, true, &n);
	assert_int_equal(n, 3);
	assert_non_null(strstr(out, "VHOST_USER_PROTOCOL_F_REPLY_ACK"));
	assert_non_null(strstr(out, "VHOST_USER_PROTOCOL_F_IOTLB_PERSIST"));
	assert_non_null(strstr(out, "40  unknown"));
	free(out);

	out = explain(0, VHK_DEV_NET, false, &n);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(vhk_features_explain(NULL, 1, VHK_DEV_NET, false),
			 -EINVAL);
}

static void test_format(void **state)
{
	char buf[256];
	uint64_t f = vhk_feature_bit(VHK_NET_F_MAC) |
		     vhk_feature_bit(VHK_F_VERSION_1) | vhk_feature_bit(25) |
		     vhk_feature_bit(44);
	int n;

	(void)state;
	n = vhk_features_format(buf, sizeof(buf), f, VHK_DEV_NET, false);
	assert_string_equal(buf, "VIRTIO_NET_F_MAC|VIRTIO_F_VERSION_1|"
				 "0x100002000000");
	assert_int_equal(n, (int)strlen(buf));
	/* Truncation: NUL-terminated, returns the wanted length. */
	assert_int_equal(vhk_features_format(buf, 8, f, VHK_DEV_NET, false), n);
	assert_string_equal(buf, "VIRTIO_");
	assert_int_equal(vhk_features_format(NULL, 0, f, VHK_DEV_NET, false), n);
	n = vhk_features_format(buf, sizeof(buf), 0, VHK_DEV_NET, false);
	assert_string_equal(buf, "0x0");
	assert_int_equal(n, 3);
	vhk_features_format(buf, sizeof(buf),
			    vhk_feature_bit(VHK_PROTO_F_MQ) |
			    vhk_feature_bit(VHK_PROTO_F_CONFIG), VHK_DEV_ANY,
			    true);
	assert_string_equal(buf, "VHOST_USER_PROTOCOL_F_MQ|"
				 "VHOST_USER_PROTOCOL_F_CONFIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_protocol_table),
		cmocka_unit_test(test_names_parse),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
