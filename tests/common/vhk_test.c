/* SPDX-License-Identifier: MIT */
/* vhk_test.c - shared cmocka glue (see vhk_test.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhk_test.h"

static bool frag;

const enum vhk_as_mode vhk_test_modes[3] = {
	VHK_AS_GPA, VHK_AS_PLATFORM_IDENTITY, VHK_AS_IOTLB,
};

void vhk_test_init(int argc, char **argv)
{
	const char *env = getenv("VHK_TEST_FRAGMENTED");

	frag = env && env[0] && strcmp(env, "0") != 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fragmented") == 0)
			frag = true;
	}
}

bool vhk_test_fragmented(void)
{
	return frag;
}

void vhk_test_mockmem(struct vhk_mockmem *m, enum vhk_as_mode mode,
		      size_t ring_size, size_t buf_size)
{
	int ret = vhk_mockmem_init(m, mode, frag, ring_size, buf_size);

	if (ret)
		fail_msg("vhk_mockmem_init(mode %d, frag %d, %zu, %zu): %d",
			 (int)mode, (int)frag, ring_size, buf_size, ret);
}

int vhk_test_run(const char *name, const struct CMUnitTest *tests, size_t n,
		 CMFixtureFunction setup, CMFixtureFunction teardown)
{
	char full[256];

	snprintf(full, sizeof(full), "%s%s", name,
		 frag ? " [fragmented]" : "");
	return _cmocka_run_group_tests(full, tests, n, setup, teardown);
}
