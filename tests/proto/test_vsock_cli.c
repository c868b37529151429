/* SPDX-License-Identifier: MIT */
/*
 * test_vsock_cli.c - the vhostkit-vsock daemon's command line: --help,
 * reserved CIDs refused at start with a message that says why, --vm and
 * YAML --config parsing (errors name the line), several VMs in one
 * process with their sockets up, and a clean SIGTERM.
 * argv[1] is the daemon's path.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static const char *daemon_path;
static char dir[40];

/* Run the daemon with @args (NULL-terminated), capture stdout+stderr
 * into @out; returns the exit status, or -1 if it still runs after
 * @ms (then *@pid keeps it, if @pid). */
static int run(char *out, size_t cap, int ms, pid_t *keep, ...)
{
	const char *argv[32];
	int pfd[2], status, n = 0;
	size_t got = 0;
	bool eof = false;
	va_list ap;
	pid_t pid;

	argv[n++] = daemon_path;
	va_start(ap, keep);
	while ((argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(daemon_path, (char **)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, ms) <= 0)
			break;		/* still running, quiet */
		r = read(pfd[0], out + got, cap - 1 - got);
		if (r <= 0) {
			eof = true;	/* it exited (or closed its output) */
			break;
		}
		got += (size_t)r;
	}
	out[got] = '\0';
	close(pfd[0]);
	if (waitpid(pid, &status, eof ? 0 : WNOHANG) == pid)
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	if (keep) {
		*keep = pid;
		return -1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void test_help(void **state)
{
	static char out[16384];

	(void)state;
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--help", NULL), 0);
	assert_non_null(strstr(out, "--vm guest-cid=N,socket=PATH,uds-path=PATH"));
	assert_non_null(strstr(out, "--config FILE"));
	assert_non_null(strstr(out, "--iommu auto|on|off"));
	assert_non_null(strstr(out, "CONNECT <port>"));
}

static void test_reserved_cids(void **state)
{
	static const char *const cids[] = { "0", "1", "2", "0xffffffff",
					    "4294967299", "-3", "x" };
	char out[1024], arg[256];
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(cids) / sizeof(cids[0]); i++) {
		snprintf(arg, sizeof(arg),
			 "guest-cid=%s,socket=%s/s,uds-path=%s/u", cids[i],
			 dir, dir);
		assert_int_equal(run(out, sizeof(out), 2000, NULL, "--vm", arg,
				     NULL), 2);
		assert_non_null(strstr(out, "guest-cid"));
		assert_int_equal(access(arg, F_OK), -1);
	}
	/* a message that says why */
	snprintf(arg, sizeof(arg), "guest-cid=2,socket=%s/s,uds-path=%s/u",
		 dir, dir);
	run(out, sizeof(out), 2000, NULL, "--vm", arg, NULL);
	assert_non_null(strstr(out, "host"));
	snprintf(arg, sizeof(arg),
		 "guest-cid=0x100000003,socket=%s/s,uds-path=%s/u", dir, dir);
	run(out, sizeof(out), 2000, NULL, "--vm", arg, NULL);
	assert_non_null(strstr(out, "32 bits"));
}

static void test_bad_vm_args(void **state)
{
	static const char *const polls[] = { "--poll=abc", "--poll=",
					     "--poll=-1", "--poll=1000001",
					     "--poll=5x" };
	char out[1024], a[256];

	(void)state;
	assert_int_equal(run(out, sizeof(out), 2000, NULL, NULL), 2);
	assert_non_null(strstr(out, "no VM"));
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--vm",
			     "guest-cid=3,socket=/x", NULL), 2);
	assert_non_null(strstr(out, "required"));
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--vm",
			     "guest-cid=3,bogus=1", NULL), 2);
	assert_non_null(strstr(out, "unknown key"));
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--vm",
			     "guest-cid=3,socket=/a,uds-path=/b,tx-buffer-size=12",
			     NULL), 2);
	assert_non_null(strstr(out, "tx-buffer-size"));
	snprintf(a, sizeof(a), "guest-cid=3,socket=%s/a,uds-path=%s/b", dir,
		 dir);
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--vm", a, "--vm",
			     a, NULL), 2);
	assert_non_null(strstr(out, "guest-cid 3"));
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--iommu", "maybe",
			     "--vm", a, NULL), 2);
	/* --poll: a number of microseconds, at most one second */
	for (unsigned int i = 0; i < sizeof(polls) / sizeof(polls[0]); i++) {
		assert_int_equal(run(out, sizeof(out), 2000, NULL, polls[i],
				     "--vm", a, NULL), 2);
		assert_non_null(strstr(out, "--poll must be 0-1000000"));
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_yaml(void **state)
{
	char out[2048], cfg[128], yaml[1024], p[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid = 0;
	int status, fd;

	(void)state;
	snprintf(cfg, sizeof(cfg), "%s/bad.yaml", dir);
	write_file(cfg, "vms:\n  - guest_cid: 3\n    socket: /a\n    color: red\n");
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--config", cfg,
			     NULL), 2);
	assert_non_null(strstr(out, "line 4"));
	assert_non_null(strstr(out, "unknown key"));
	write_file(cfg, "vms: [ { guest_cid: 3 \n");
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--config", cfg,
			     NULL), 2);
	write_file(cfg, "machines:\n  - guest_cid: 3\n");
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--config", cfg,
			     NULL), 2);
	assert_int_equal(run(out, sizeof(out), 2000, NULL, "--config",
			     "/nonexistent.yaml", NULL), 2);

	/* two sibling VMs from one file: both sockets come up */
	snprintf(cfg, sizeof(cfg), "%s/ok.yaml", dir);
	snprintf(yaml, sizeof(yaml),
		 "vms:\n"
		 "  - guest_cid: 3\n    socket: %s/vm3.sock\n    uds_path: %s/vm3.uds\n"
		 "    tx_buffer_size: 65536\n    groups: a+b\n"
		 "  - guest_cid: 4\n    socket: %s/vm4.sock\n    uds_path: %s/vm4.uds\n"
		 "    queue_size: 256\n",
		 dir, dir, dir, dir);
	write_file(cfg, yaml);
	assert_int_equal(run(out, sizeof(out), 1500, &pid, "--config", cfg,
			     NULL), -1);
	assert_non_null(strstr(out, "VM cid 3"));
	assert_non_null(strstr(out, "VM cid 4"));
	snprintf(p, sizeof(p), "%s/vm4.sock", dir);
	assert_int_equal(access(p, F_OK), 0);
	/* the host side answers: a CONNECT to a guest nobody runs yet waits */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vm3.uds", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* every socket file removed */
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(sa.sun_path, F_OK), -1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_reserved_cids),
		cmocka_unit_test(test_bad_vm_args),
		cmocka_unit_test(test_yaml),
	};
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-vhostkit-vsock\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	snprintf(dir, sizeof(dir), "/tmp/vhk-vcli-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests_name("vsock_cli", tests, NULL, NULL);
	{
		char cmd[80];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			ret = ret ? ret : 1;
	}
	return ret;
}
