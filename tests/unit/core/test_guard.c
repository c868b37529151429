/* SPDX-License-Identifier: MIT */
/*
 * test_guard.c - guest memory whose file shrinks under a mapping: the
 * access past the new end completes (zeros), the fault is recorded with
 * its tag and offset, faults outside guarded mappings are not swallowed,
 * and F_SEAL_SHRINK is recognised.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "vhostkit/mem.h"

#define SZ (64 * 4096)

static void test_shrunk_file(void **state)
{
	struct vhk_mem_fault f;
	volatile uint8_t *p;
	int fd = memfd_create("guard", MFD_CLOEXEC);
	uint8_t v;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SZ), 0);
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	p[5 * 4096] = 7;
	assert_false(vhk_fd_shrink_sealed(fd));
	assert_int_equal(vhk_mem_guard_add((void *)p, SZ, &f, 0xabc), 0);
	assert_int_equal(ftruncate(fd, 4 * 4096), 0);
	p[1] = 3;				/* still backed */
	assert_int_equal(__atomic_load_n(&f.hit, __ATOMIC_ACQUIRE), 0);
	v = p[10 * 4096 + 17];			/* past the end: SIGBUS */
	assert_int_equal(v, 0);
	assert_int_equal(__atomic_load_n(&f.hit, __ATOMIC_ACQUIRE), 1);
	assert_int_equal(f.tag, 0xabc);
	assert_int_equal(f.offset, 10 * 4096 + 17);
	/* The whole mapping is private zero pages now: writes go nowhere. */
	p[20 * 4096] = 9;
	assert_int_equal(p[20 * 4096], 9);
	vhk_mem_guard_del((void *)p);
	munmap((void *)p, SZ);
	close(fd);
}

static void test_sealed(void **state)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SZ), 0);
	assert_false(vhk_fd_shrink_sealed(fd));
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_true(vhk_fd_shrink_sealed(fd));
	assert_int_equal(ftruncate(fd, 4096), -1);	/* it cannot shrink */
	close(fd);
	/* Not a memfd: no seals, guarded like any other. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_false(vhk_fd_shrink_sealed(fd));
	close(fd);
}

/* A SIGBUS outside guarded mappings still kills (as without the guard).
 * Runs first: the child must install the handler over SIG_DFL. */
static void test_unguarded_fault_kills(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vhk_mem_fault f;
		int fd = memfd_create("other", MFD_CLOEXEC);
		volatile uint8_t *p, *q;

		/* No test-framework handler: what a daemon has. */
		signal(SIGBUS, SIG_DFL);
		if (fd < 0 || ftruncate(fd, SZ) < 0)
			_exit(2);
		p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		q = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		memset(&f, 0, sizeof(f));
		vhk_mem_guard_add((void *)p, SZ, &f, 1);
		if (ftruncate(fd, 4096) < 0)
			_exit(2);
		(void)q[8 * 4096];	/* q is not guarded */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGBUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unguarded_fault_kills),
		cmocka_unit_test(test_shrunk_file),
		cmocka_unit_test(test_sealed),
	};

	return cmocka_run_group_tests_name("mem guard", tests, NULL, NULL);
}
