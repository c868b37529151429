/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - what a vhostkit daemon gives up once setup is done: the file
 * system (a private mount namespace with an empty root, or a chroot), every
 * capability, the right to gain privileges (no_new_privs), and every
 * system call its steady state does not need (a seccomp allowlist,
 * libseccomp).  docs/daemons.md lists what is allowed and why.
 *
 * The daemon parses memory a guest controls; if that code is ever
 * subverted, this is what the attacker is left with: the fds the daemon
 * already holds and the calls below.
 */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "daemon.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VHK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VHK_SANITIZED 1
#endif
#endif
#ifndef VHK_SANITIZED
#define VHK_SANITIZED 0
#endif

/*
 * The steady state of every daemon: the event loop (epoll, eventfd), the
 * vhost-user socket (accept4, recvmsg/sendmsg with SCM_RIGHTS), mapping
 * the memory fds a front-end sends (mmap, fstat), io_uring, worker threads
 * (clone with CLONE_THREAD only, below), signals, the inflight region
 * (memfd_create, ftruncate) and the disk / device fds already open.
 */
static const char *const base_syscalls[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"preadv", "pwritev", "preadv2", "pwritev2", "close", "fstat",
	"newfstatat", "statx", "lseek", "fcntl", "dup", "dup2", "dup3",
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk",
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "eventfd2", "poll", "ppoll",
	"accept4", "recvmsg", "sendmsg", "recvfrom", "sendto", "shutdown",
	"getsockopt", "setsockopt",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"fallocate", "fdatasync", "fsync", "memfd_create", "ftruncate",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettid", "getpid", "tgkill", "sched_yield", "sched_getaffinity",
	"getrandom", "exit", "exit_group",
	NULL,
};

/*
 * What the sanitizer runtimes do after setup, in ASan/UBSan and TSan
 * builds only: LeakSanitizer stops the process at exit with a ptrace
 * helper (clone, ptrace, wait4, prctl) and reads /proc/self/{maps,task}
 * (read-only opens; namespace mode keeps /proc for it); ThreadSanitizer's
 * report symbolizer reads the same files.
 */
static const char *const sanitizer_syscalls[] = {
	"clone", "ptrace", "wait4", "prctl", "getdents", "getdents64",
	"readlink",
	"readlinkat", "kill", "getppid", "mincore", "pipe2", "uname",
	"sched_setaffinity", "prlimit64", "getrlimit", "setrlimit",
	"open", "access", "faccessat", "getcwd", "gettimeofday",
	NULL,
};

int vhk_sandbox_mode_parse(const char *s, enum vhk_sandbox_mode *out)
{
	static const char *const names[] = { "namespace", "chroot", "none" };

	for (unsigned int i = 0; i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum vhk_sandbox_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *vhk_sandbox_mode_name(enum vhk_sandbox_mode m)
{
	return m == VHK_SANDBOX_NAMESPACE ? "namespace" :
	       m == VHK_SANDBOX_CHROOT ? "chroot" : "none";
}

static int fail(const struct vhk_daemon *d, const char *what, int err)
{
	fprintf(stderr, "%s: sandbox: %s: %s\n", d->prog, what, strerror(err));
	return -err;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return errno;
	n = write(fd, text, strlen(text));
	err = n < 0 ? errno : 0;
	close(fd);
	return err;
}

/* mkdir -p @path (absolute) in the new root. */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Bind /old@dir (the real one) to @dir inside the new root. */
static int keep_dir(const struct vhk_daemon *d, const char *dir)
{
	char old[4096 + 8];
	int err;

	if (!dir || !strcmp(dir, "/"))
		return fail(d, "cannot keep / visible (put the sockets in a directory; or --sandbox none)",
			    EINVAL);
	snprintf(old, sizeof(old), "/old%s", dir);
	err = mkdir_p(dir);
	if (err)
		return fail(d, dir, err);
	if (mount(old, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail(d, dir, errno);
	return 0;
}

/*
 * A private mount namespace (and a user namespace when not root, so that
 * an unprivileged daemon can do the same) whose root is an empty tmpfs,
 * remounted read-only.  Every fd the daemon holds stays valid.
 */
static int enter_namespace(const struct vhk_daemon *d)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int err;

	if (unshare(CLONE_NEWNS | (uid ? CLONE_NEWUSER : 0)) < 0)
		return fail(d, "unshare (use --sandbox chroot or none where namespaces are not allowed)",
			    errno);
	if (uid) {
		snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
		err = write_file("/proc/self/setgroups", "deny");
		if (!err)
			err = write_file("/proc/self/uid_map", map);
		snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
		if (!err)
			err = write_file("/proc/self/gid_map", map);
		if (err)
			return fail(d, "user namespace id map", err);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(d, "make mounts private", errno);
	/* The new root: a tiny tmpfs over /tmp, in this namespace only. */
	if (mount("vhostkit-sandbox", "/tmp", "tmpfs",
		  MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0)
		return fail(d, "mount the empty root", errno);
	if (mkdir("/tmp/old", 0700) < 0)
		return fail(d, "mkdir", errno);
	if (VHK_SANITIZED) {
		/* LeakSanitizer reads /proc/self at exit. */
		if (mkdir("/tmp/proc", 0555) < 0 ||
		    mount("/proc", "/tmp/proc", NULL, MS_BIND | MS_REC,
			  NULL) < 0)
			return fail(d, "bind /proc (sanitizer build)", errno);
	}
	if (syscall(SYS_pivot_root, "/tmp", "/tmp/old") < 0)
		return fail(d, "pivot_root", errno);
	if (chdir("/") < 0)
		return fail(d, "chdir", errno);
	/* The directories the steady state reaches by path, at the same
	 * place, and nothing else (bind mounts keep their own flags when
	 * the root turns read-only below). */
	for (unsigned int i = 0; i < d->nkeep; i++) {
		err = keep_dir(d, d->keep_dirs[i]);
		if (err)
			return err;
	}
	if (umount2("/old", MNT_DETACH) < 0)
		return fail(d, "detach the old root", errno);
	if (rmdir("/old") < 0)
		return fail(d, "rmdir", errno);
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID |
		  MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(d, "remount the root read-only", errno);
	return 0;
}

static int enter_chroot(const struct vhk_daemon *d)
{
	if (d->nkeep)
		return fail(d, "--sandbox chroot would hide the sockets this daemon reaches by path after setup (use namespace or none)",
			    EINVAL);
	if (mkdir(d->sandbox_dir, 0555) < 0 && errno != EEXIST)
		return fail(d, d->sandbox_dir, errno);
	if (chdir(d->sandbox_dir) < 0)
		return fail(d, d->sandbox_dir, errno);
	if (chroot(".") < 0)
		return fail(d, "chroot (needs root; use --sandbox namespace)",
			    errno);
	if (chdir("/") < 0)
		return fail(d, "chdir", errno);
	return 0;
}

static int drop_caps(const struct vhk_daemon *d)
{
	if (capng_have_capabilities(CAPNG_SELECT_BOTH) == CAPNG_NONE)
		return 0;
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_apply(CAPNG_SELECT_ALL) < 0)
		return fail(d, "drop capabilities", EPERM);
	return 0;
}

/* SIGSYS from the filter: name the call, then die of SIGSYS. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[96] = "vhostkit: seccomp: forbidden system call ";
	size_t n = strlen(msg);
	char num[16];
	int len = 0, nr = si->si_syscall;
	ssize_t r;

	(void)uc;
	do {
		num[len++] = (char)('0' + nr % 10);
		nr /= 10;
	} while (nr && len < (int)sizeof(num));
	while (len > 0 && n < sizeof(msg) - 40)
		msg[n++] = num[--len];
	memcpy(msg + n, " (docs/daemons.md)\n", 20);
	r = write(STDERR_FILENO, msg, strlen(msg));
	(void)r;
	signal(sig, SIG_DFL);
	raise(sig);
}

static int add_names(scmp_filter_ctx ctx, const char *const *names)
{
	for (; names && *names; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		int err;

		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (err)
			return err;
	}
	return 0;
}

static int refuse_names(scmp_filter_ctx ctx, const char *const *names)
{
	for (; names && *names; names++) {
		int nr = seccomp_syscall_resolve_name(*names);
		int err;

		if (nr == __NR_SCMP_ERROR)
			continue;
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 0);
		if (err)
			return err;
	}
	return 0;
}

static int load_filter(const struct vhk_daemon *d, bool every_thread)
{
	scmp_filter_ctx ctx;
	struct sigaction sa;
	int err;

	ctx = seccomp_init(d->seccomp_log ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx)
		return fail(d, "seccomp_init", ENOMEM);
	/* Every thread (none yet, but the runtime may have some), or the
	 * calling thread and those it starts (tests). */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, every_thread);
	if (!err)
		err = add_names(ctx, base_syscalls);
	if (!err)
		err = add_names(ctx, d->extra_syscalls);
	if (!err && VHK_SANITIZED)
		err = add_names(ctx, sanitizer_syscalls);
	/* Threads only: fork/exec stay out.  clone3 says ENOSYS so that
	 * glibc falls back to clone, whose flags a filter can see. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ,
					       CLONE_THREAD, CLONE_THREAD));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
				       SCMP_SYS(clone3), 0);
	/* stdio asks whether stdout is a terminal on its first write. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, TCGETS));
	/* Worker threads name themselves. */
	if (!err && !VHK_SANITIZED)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				       SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	/* SIGHUP reopens the log in its directory, and nowhere else. */
	if (!err && d->log_dirfd >= 0)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat),
				       1, SCMP_A0(SCMP_CMP_EQ,
						  (scmp_datum_t)d->log_dirfd));
	/*
	 * Reading a file is refused (EACCES), not fatal: glibc's malloc
	 * reads /proc/sys/vm/overcommit_memory the first time a thread's
	 * arena shrinks (found by the net peer test), and treats a failure
	 * as "do not shrink".  Creating or writing a file stays fatal.
	 */
	if (!err && !VHK_SANITIZED)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES),
				       SCMP_SYS(openat), 1,
				       SCMP_A2(SCMP_CMP_MASKED_EQ,
					       O_ACCMODE | O_CREAT | O_TRUNC,
					       O_RDONLY));
	if (!err && VHK_SANITIZED)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat),
				       1, SCMP_A2(SCMP_CMP_MASKED_EQ,
						  O_ACCMODE | O_CREAT | O_TRUNC,
						  O_RDONLY));
	/* The socket the daemon created is removed on exit. */
	if (!err && d->sock_dirfd >= 0)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlinkat),
				       1, SCMP_A0(SCMP_CMP_EQ,
						  (scmp_datum_t)d->sock_dirfd));
	/* The stats socket is removed on exit. */
	if (!err && d->stats_dirfd >= 0)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlinkat),
				       1, SCMP_A0(SCMP_CMP_EQ,
						  (scmp_datum_t)d->stats_dirfd));
	/* --connect: a new Unix stream socket to the front-end each time;
	 * unix_connect: the device connects Unix sockets by path. */
	if (!err && (d->connect || d->unix_connect))
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
				       1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (!err && (d->connect || d->unix_connect))
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect),
				       0);
	if (!err)
		err = refuse_names(ctx, d->refused_syscalls);
	if (!err && d->netlink)
		err = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket),
				       1, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK));
	if (err) {
		seccomp_release(ctx);
		return fail(d, "build the seccomp filter", -err);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSYS, &sa, NULL);
	err = seccomp_load(ctx);	/* sets no_new_privs first */
	seccomp_release(ctx);
	if (err)
		return fail(d, "load the seccomp filter", -err);
	return 0;
}

int vhk_sandbox_enter(struct vhk_daemon *d)
{
	enum vhk_sandbox_mode mode = d->sandbox;
	int err = 0;

	/* (A daemon with its own sockets keeps their directories visible
	 * instead: vhk_daemon_keep_dir().) */
	if (d->connect && !d->own_sockets && mode != VHK_SANDBOX_NONE) {
		/* connect() looks PATH up again after every disconnect. */
		fprintf(stderr, "%s: sandbox: --connect needs %s after setup: file system view kept (capabilities, no_new_privs and seccomp still apply)\n",
			d->prog, d->socket_path);
		mode = VHK_SANDBOX_NONE;
	}
	if (mode == VHK_SANDBOX_NAMESPACE)
		err = enter_namespace(d);
	else if (mode == VHK_SANDBOX_CHROOT)
		err = enter_chroot(d);
	if (!err)
		err = drop_caps(d);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		err = fail(d, "no_new_privs", errno);
	if (!err && d->seccomp)
		err = load_filter(d, true);
	if (err)
		return err;
	vhk_log(VHK_LOG_INFO, d->prog, "sandbox: %s, no capabilities, seccomp %s",
		vhk_sandbox_mode_name(mode),
		!d->seccomp ? "off" : d->seccomp_log ? "log" : "on");
	return 0;
}

int vhk_sandbox_filter_thread(const struct vhk_daemon *d)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(d, "no_new_privs", errno);
	return load_filter(d, false);
}

void vhk_sandbox_debug_hook(const struct vhk_daemon *d)
{
	const char *t = getenv("VHOSTKIT_SANDBOX_TEST");
	int fd;

	if (!t || strncmp(t, "open:", 5) != 0)
		return;
	/* Raw syscall: an ASan interceptor must not be what gets caught. */
	fd = (int)syscall(SYS_openat, AT_FDCWD, t + 5,
			  O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	fprintf(stderr, "%s: sandbox test: creating %s %s%s\n", d->prog, t + 5,
		fd >= 0 ? "SUCCEEDED" : "failed: ",
		fd >= 0 ? "" : strerror(errno));
	if (fd >= 0)
		close(fd);
}
