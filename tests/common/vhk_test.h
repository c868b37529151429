/* SPDX-License-Identifier: MIT */
/*
 * vhk_test.h - shared cmocka glue: run a group normally or in the
 * fragmented (one-byte-per-mapping) address space.
 *
 * A test binary calls vhk_test_init(argc, argv) first; "--fragmented" on
 * the command line or VHK_TEST_FRAGMENTED=1 in the environment selects the
 * fragmented run, which tests pass to vhk_mockmem_init().  meson registers
 * each ring test twice, once with args : ['--fragmented'].
 */
#ifndef VHK_TESTS_VHK_TEST_H
#define VHK_TESTS_VHK_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mockmem.h"

/** vhk_test_init - read --fragmented / VHK_TEST_FRAGMENTED. */
void vhk_test_init(int argc, char **argv);

/** vhk_test_fragmented - true in the fragmented run. */
bool vhk_test_fragmented(void);

/* The three translation modes, for tests that loop over all of them. */
extern const enum vhk_as_mode vhk_test_modes[3];

/**
 * vhk_test_mockmem - vhk_mockmem_init() in @mode with the run's
 * fragmentation; fails the current test on error.
 */
void vhk_test_mockmem(struct vhk_mockmem *m, enum vhk_as_mode mode,
		      size_t ring_size, size_t buf_size);

/**
 * vhk_test_run - cmocka group @name (suffixed " [fragmented]" in that run).
 * Returns the number of failed tests (the process exit status).
 */
int vhk_test_run(const char *name, const struct CMUnitTest *tests, size_t n,
		 CMFixtureFunction setup, CMFixtureFunction teardown);

#define VHK_TEST_RUN(name, tests) \
	vhk_test_run((name), (tests), sizeof(tests) / sizeof((tests)[0]), \
		     NULL, NULL)

#endif /* VHK_TESTS_VHK_TEST_H */
