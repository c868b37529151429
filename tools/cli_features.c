// SPDX-License-Identifier: MIT
/*
 * cli_features.c - `vhostkit features explain`: decode a feature word bit
 * by bit with the owner and meaning of every bit (features.h, docs/architecture.md).
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "vhostkit/features.h"
#include "vhostkit/features_text.h"
#include "cli.h"

static const char features_help[] =
"NAME\n"
"    vhostkit features explain - decode a virtio or vhost-user feature word\n"
"\n"
"SYNOPSIS\n"
"    vhostkit features explain WORD [--type blk|net|vsock] [--protocol]\n"
"\n"
"DESCRIPTION\n"
"    Prints every set bit of WORD on its own line: bit number, name,\n"
"    owner, one-line meaning and the spec section that defines it.\n"
"    Owners are 'transport' (ring layout and notification bits),\n"
"    'platform' (bit 33 ACCESS_PLATFORM: how the device reaches memory),\n"
"    'vhost-user' (bit 30 PROTOCOL_FEATURES: plumbing, never shown to a\n"
"    guest) and 'device' (bits 0-23, meaning depends on the device type).\n"
"    Bits nobody defined are printed as 'unknown'.\n"
"\n"
"    WORD is a 64-bit number: 0x hex, 0 octal or decimal, as printed by\n"
"    QEMU traces, `vhostkit probe` or /sys/bus/virtio/devices/*/features\n"
"    (that file is a bit string; convert it first).\n"
"\n"
"OPTIONS\n"
"    -t, --type TYPE   device type for bits 0-23: blk, net, vsock or a\n"
"                      virtio device id.  Without it, device bits are\n"
"                      printed as unknown.\n"
"    -p, --protocol    WORD is a vhost-user protocol feature word\n"
"                      (GET_PROTOCOL_FEATURES), not a virtio one.\n"
"                      Bit 63 is vhostkit's IOTLB_PERSIST.\n"
"    -h, --help        this text.\n"
"\n"
"EXIT STATUS\n"
"    0 on success, 2 on a bad command line.\n"
"\n"
"EXAMPLES\n"
"    vhostkit features explain 0x140000000 --type blk\n"
"    vhostkit features explain 0x8000000000000229 --protocol\n";

int cli_features_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "protocol", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum vhk_device_type dev = VHK_DEV_ANY;
	bool protocol = false;
	char shortform[1024];
	uint64_t word;
	int c, n;

	if (argc < 2) {
		fputs(features_help, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		fputs(features_help, stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "explain"))
		return cli_usage_error("features", "unknown subcommand '%s'",
				       argv[1]);
	argc--;
	argv++;
	optind = 0;
	while ((c = getopt_long(argc, argv, "t:ph", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (vhk_device_type_parse(optarg, &dev))
				return cli_usage_error("features",
						       "unknown device type '%s'",
						       optarg);
			break;
		case 'p':
			protocol = true;
			break;
		case 'h':
			fputs(features_help, stdout);
			return CLI_EXIT_OK;
		default:
			return cli_usage_error("features", "bad option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error("features",
				       "expected exactly one feature WORD");
	if (cli_parse_u64(argv[optind], &word))
		return cli_usage_error("features", "'%s' is not a number",
				       argv[optind]);
	if (protocol && dev != VHK_DEV_ANY)
		fprintf(stderr, "vhostkit features: --type is ignored with "
			"--protocol (protocol bits do not depend on it)\n");

	vhk_features_format(shortform, sizeof(shortform), word, dev, protocol);
	if (protocol)
		printf("vhost-user protocol features 0x%016llx\n",
		       (unsigned long long)word);
	else if (dev == VHK_DEV_ANY)
		printf("virtio features 0x%016llx (no --type: device bits "
		       "0-23 not decoded)\n", (unsigned long long)word);
	else
		printf("virtio features 0x%016llx (device type %s)\n",
		       (unsigned long long)word, vhk_device_type_name(dev));
	printf("  %s\n", shortform);
	n = vhk_features_explain(stdout, word, dev, protocol);
	if (n < 0) {
		fprintf(stderr, "vhostkit features: write failed: %s\n",
			strerror(-n));
		return CLI_EXIT_FAIL;
	}
	if (n == 0)
		printf("  (no bits set)\n");
	return CLI_EXIT_OK;
}
