// SPDX-License-Identifier: MIT
/*
 * drv_cli.c - the `vhostkit` command without a back-end: every manual
 * page, `features explain`, exit codes for bad command lines (2) and
 * unreachable sockets (3).  Skips (77) when the CLI is not built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "drv_util.h"

static const char *cli;
static char out[65536];

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	size_t n = 0;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (n + 1 < sizeof(out) && fgets(out + n, (int)(sizeof(out) - n), f))
		n += strlen(out + n);
	out[n] = 0;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_manuals(void **state)
{
	static const char *const cmds[] = {
		"--help", "help", "probe --help", "features --help",
		"features explain --help", "blk --help", "blk io --help",
		"blk bench --help",
	};

	(void)state;
	for (size_t i = 0; i < VHK_ARRAY_SIZE(cmds); i++) {
		assert_int_equal(run("%s %s", cli, cmds[i]), 0);
		assert_non_null(strstr(out, "NAME"));
		assert_non_null(strstr(out, "SYNOPSIS"));
		assert_non_null(strstr(out, "EXIT STATUS"));
	}
	assert_int_equal(run("%s --version", cli), 0);
	assert_non_null(strstr(out, "vhostkit "));
}

static void test_features_explain(void **state)
{
	(void)state;
	/* VERSION_1 | ACCESS_PLATFORM | FLUSH(blk) */
	assert_int_equal(run("%s features explain 0x300000200 --type blk",
			     cli), 0);
	assert_non_null(strstr(out, "VIRTIO_F_ACCESS_PLATFORM"));
	assert_non_null(strstr(out, "platform"));
	assert_non_null(strstr(out, "VIRTIO_BLK_F_FLUSH"));
	assert_non_null(strstr(out, "VIRTIO_F_VERSION_1"));
	/* Bit 9 means something else for net. */
	assert_int_equal(run("%s features explain 0x200 --type net", cli), 0);
	assert_non_null(strstr(out, "VIRTIO_NET_F_GUEST_ECN"));
	assert_null(strstr(out, "FLUSH"));
	assert_int_equal(run("%s features explain 0x8000000000000020 "
			     "--protocol", cli), 0);
	assert_non_null(strstr(out, "BACKEND_REQ"));
	assert_non_null(strstr(out, "IOTLB_PERSIST"));
	/* Decimal works too; no bits set is said so. */
	assert_int_equal(run("%s features explain 0", cli), 0);
	assert_non_null(strstr(out, "no bits set"));
}

static void test_usage_errors(void **state)
{
	(void)state;
	assert_int_equal(run("%s 2>&1", cli), 2);
	assert_int_equal(run("%s frobnicate 2>&1", cli), 2);
	assert_int_equal(run("%s features explain 2>&1", cli), 2);
	assert_int_equal(run("%s features explain xyz 2>&1", cli), 2);
	assert_int_equal(run("%s features explain 1 --type toaster 2>&1",
			     cli), 2);
	assert_int_equal(run("%s probe 2>&1", cli), 2);
	assert_int_equal(run("%s blk io s --bs 1000 2>&1", cli), 2);
	assert_int_equal(run("%s blk io s --dma magic 2>&1", cli), 2);
	assert_int_equal(run("%s blk bench a b c 2>&1", cli), 2);
	assert_int_equal(run("%s blk bench a --pid-b 1 2>&1", cli), 2);
	assert_int_equal(run("%s blk bench a --rw sideways 2>&1", cli), 2);
}

static void test_no_backend(void **state)
{
	(void)state;
	assert_int_equal(run("%s probe %s/none.sock 2>&1", cli,
			     drv_tmpdir()), 3);
	assert_non_null(strstr(out, "cannot connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manuals),
		cmocka_unit_test(test_features_explain),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_no_backend),
	};

	cli = drv_require("VHK_CLI", "the vhostkit CLI");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
