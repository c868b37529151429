/* SPDX-License-Identifier: MIT */
/*
 * tools/daemon/daemon.h - what every vhostkit daemon shares, written once:
 *
 *  - the vhost-user "Backend program conventions" (QEMU's vhost-user spec):
 *    --socket-path PATH, --fd FDNUM (an inherited listening socket),
 *    --print-capabilities (the JSON capabilities object of the device type);
 *  - systemd: socket activation (LISTEN_FDS / LISTEN_PID) and readiness
 *    notification (NOTIFY_SOCKET: READY=1, STOPPING=1, STATUS=...);
 *  - SIGTERM / SIGINT stop the back-end (in-flight I/O is completed by
 *    vhk_backend_run()), SIGHUP reopens --log-file;
 *  - the sandbox entered once setup is done (sandbox.c): a private mount
 *    namespace or a chroot, no capabilities, no_new_privs and a seccomp
 *    allowlist the device can extend.
 *
 * A daemon opts in like tools/vhostkit-blk.c does (docs/daemons.md):
 *
 *	struct vhk_daemon d;
 *	vhk_daemon_init(&d, "vhostkit-blk", "{\"type\":\"block\",...}");
 *	getopt_long(... VHK_DAEMON_SHORTOPTS "...", { VHK_DAEMON_LONGOPTS, ...})
 *		-> vhk_daemon_option(&d, c, optarg) first;
 *	if (d.print_caps) return vhk_daemon_print_capabilities(&d);
 *	vhk_daemon_setup(&d, &cfg);		log file, socket, notify socket
 *	... open the device, vhk_backend_new(&be, &cfg, ...) ...
 *	vhk_daemon_start(&d, be);		signals, sandbox, READY=1
 *	vhk_backend_run(be);
 *	vhk_daemon_fini(&d);			STOPPING=1, socket removed
 */
#ifndef VHOSTKIT_TOOLS_DAEMON_H
#define VHOSTKIT_TOOLS_DAEMON_H

#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "vhostkit/backend.h"

/* Exit status of a usage error (every daemon). */
#define VHK_DAEMON_EXIT_USAGE	2

enum vhk_sandbox_mode {
	VHK_SANDBOX_NAMESPACE = 0,	/* default */
	VHK_SANDBOX_CHROOT,
	VHK_SANDBOX_NONE,
};

/* getopt values of the shared long options (above any short option). */
enum {
	VHK_DOPT_FD = 0x1000,
	VHK_DOPT_PRINT_CAPS,
	VHK_DOPT_LOG_FILE,
	VHK_DOPT_SANDBOX,
	VHK_DOPT_SANDBOX_DIR,
	VHK_DOPT_SECCOMP,
	VHK_DOPT_STATS_SOCKET,
};

/* Short options the shared layer owns: -s PATH, -c. */
#define VHK_DAEMON_SHORTOPTS "s:c"

/*
 * The options of a daemon that manages several sockets itself (one per VM
 * or port: vhostkit-vsock, vhostkit-net): capabilities and the log file.
 */
#define VHK_DAEMON_LONGOPTS_BASIC \
	{ "print-capabilities", no_argument, NULL, VHK_DOPT_PRINT_CAPS }, \
	{ "log-file", required_argument, NULL, VHK_DOPT_LOG_FILE }, \
	{ "stats-socket", required_argument, NULL, VHK_DOPT_STATS_SOCKET }, \
	{ "sandbox", required_argument, NULL, VHK_DOPT_SANDBOX }, \
	{ "sandbox-dir", required_argument, NULL, VHK_DOPT_SANDBOX_DIR }, \
	{ "seccomp", required_argument, NULL, VHK_DOPT_SECCOMP }

/* The shared entries of a daemon's struct option array. */
#define VHK_DAEMON_LONGOPTS \
	{ "socket-path", required_argument, NULL, 's' }, \
	{ "connect", no_argument, NULL, 'c' }, \
	{ "fd", required_argument, NULL, VHK_DOPT_FD }, \
	{ "print-capabilities", no_argument, NULL, VHK_DOPT_PRINT_CAPS }, \
	{ "log-file", required_argument, NULL, VHK_DOPT_LOG_FILE }, \
	{ "sandbox", required_argument, NULL, VHK_DOPT_SANDBOX }, \
	{ "sandbox-dir", required_argument, NULL, VHK_DOPT_SANDBOX_DIR }, \
	{ "seccomp", required_argument, NULL, VHK_DOPT_SECCOMP }, \
	{ "stats-socket", required_argument, NULL, VHK_DOPT_STATS_SOCKET }

/* Directories a daemon keeps visible in its sandbox at most. */
#define VHK_DAEMON_KEEP_DIRS	32

/* Back-ends one daemon exports on its stats socket at most. */
#define VHK_DAEMON_STATS_MAX	64

struct vhk_daemon {
	/* Set by vhk_daemon_init(); a daemon may set the rest before setup. */
	const char *prog;		/* "vhostkit-blk": messages, notify */
	const char *caps_json;		/* --print-capabilities object */
	/* Extra system calls the device's steady state needs (by name,
	 * NULL-terminated), added to the shared seccomp allowlist. */
	const char *const *extra_syscalls;
	/* System calls refused with EACCES instead of killing (a library's
	 * optional step the daemon can do without). */
	const char *const *refused_syscalls;
	/* Multi-socket daemons: stop everything (async-signal-safe), and
	 * no sandbox yet (their steady state still creates sockets by
	 * path: docs/daemons.md). */
	void (*on_stop)(void);
	bool own_sockets;
	/* The steady state creates Unix sockets and connects them by path
	 * (vsock's "<uds-path>_<port>", client-mode reconnects). */
	bool unix_connect;
	/* The steady state opens netlink sockets (libxdp detaching an XDP
	 * program when an AF_XDP port closes). */
	bool netlink;
	/* Directories the steady state reaches by path, kept visible
	 * (read-write, bind mounts) in --sandbox namespace:
	 * vhk_daemon_keep_dir(). */
	char *keep_dirs[VHK_DAEMON_KEEP_DIRS];
	unsigned int nkeep;
	/* Optional: the answer to "stats" on the stats socket (a daemon's
	 * own text counters: vhostkit-net --control). */
	void (*stats_text)(void *arg, FILE *out);
	void *stats_text_arg;

	/* Options. */
	const char *socket_path;
	int fd;				/* --fd; -1 = none */
	bool connect;
	bool print_caps;
	const char *log_file;
	enum vhk_sandbox_mode sandbox;
	const char *sandbox_dir;	/* chroot mode */
	bool seccomp;			/* default true */
	bool seccomp_log;		/* --seccomp log: log, do not kill */

	/* State. */
	int sock_dirfd;			/* to unlink the socket we created */
	char *sock_base;
	char sock_tmp[128];		/* bound here until ready */
	bool sock_tmp_bound, sock_placed;
	int log_dirfd;			/* to reopen the log on SIGHUP */
	char *log_base;
	int notify_fd;			/* connected NOTIFY_SOCKET or -1 */
	bool activated;			/* the socket came from systemd */
	struct vhk_backend *be;

	/* The stats socket (stats.c). */
	const char *stats_path;		/* --stats-socket */
	struct {
		const char *name;
		struct vhk_backend *be;
	} stats_src[VHK_DAEMON_STATS_MAX];
	unsigned int nstats;
	int stats_fd, stats_stop, stats_dirfd;
	char *stats_base;
	bool stats_placed, stats_running;
	pthread_t stats_th;
};

/** vhk_daemon_init - defaults for @prog; @caps_json is its capabilities. */
void vhk_daemon_init(struct vhk_daemon *d, const char *prog,
		     const char *caps_json);

/**
 * vhk_daemon_option - handle getopt result @c (with @arg) if it is a shared
 * option.  Returns 1 if handled, 0 if @c is not shared, -1 on a bad value
 * (the message is printed: exit with VHK_DAEMON_EXIT_USAGE).
 */
int vhk_daemon_option(struct vhk_daemon *d, int c, const char *arg);

/** vhk_daemon_usage - the shared options' --help text. */
void vhk_daemon_usage(FILE *out);

/**
 * vhk_daemon_keep_dir - keep the directory that holds @path (a socket the
 * steady state connects to, creates or removes by path) visible inside
 * --sandbox namespace.  Before vhk_daemon_start().  0 or -errno (the
 * directory must exist; printed).
 */
int vhk_daemon_keep_dir(struct vhk_daemon *d, const char *path);

/** vhk_daemon_usage_basic - --help text of VHK_DAEMON_LONGOPTS_BASIC. */
void vhk_daemon_usage_basic(FILE *out);

/** vhk_daemon_print_capabilities - print caps_json + newline; returns 0. */
int vhk_daemon_print_capabilities(const struct vhk_daemon *d);

/**
 * vhk_daemon_setup - open --log-file (stderr goes there), connect the
 * NOTIFY_SOCKET, and choose the vhost-user socket: systemd's (LISTEN_FDS),
 * --fd, a socket the daemon creates at --socket-path, or --connect.
 * Fills @cfg (socket_path / adopt_listen_fd / connect).  Returns 0, or -1
 * after printing why (a usage error when @usage is set, else runtime).
 * With d->own_sockets, @cfg may be NULL: only the log and the notify
 * socket are set up.
 */
int vhk_daemon_setup(struct vhk_daemon *d, struct vhk_backend_config *cfg,
		     bool *usage);

/**
 * vhk_daemon_start - install the signal handlers for @be, enter the
 * sandbox and tell systemd READY=1.  Call after vhk_backend_new() and
 * after the device opened everything it needs.  Returns 0 or -1 (printed).
 */
int vhk_daemon_start(struct vhk_daemon *d, struct vhk_backend *be);

/**
 * vhk_daemon_fini - STOPPING=1, remove the socket the daemon created,
 * close what setup opened.  Safe after a failed setup.
 */
void vhk_daemon_fini(struct vhk_daemon *d);

/* loop.c */

/**
 * vhk_daemon_run_loop - vhk_backend_run() with adaptive polling: after a
 * pass that had work, look again without sleeping (epoll timeout 0) until
 * @poll_us microseconds pass without work, then sleep until the next
 * event.  @poll_us 0 is vhk_backend_run() itself.  Returns what
 * vhk_backend_run() returns.
 */
int vhk_daemon_run_loop(struct vhk_backend *be, unsigned int poll_us);

/* stats.c: the stats socket (docs/daemons.md, "Observability") */

/**
 * vhk_daemon_stats_add - export back-end @be as device @name on the stats
 * socket (before vhk_daemon_start(); a daemon with one back-end passed to
 * vhk_daemon_start() needs no call).  0 or -ENOSPC.
 */
int vhk_daemon_stats_add(struct vhk_daemon *d, const char *name,
			 struct vhk_backend *be);

/* Internal to daemon.c: listen at --stats-socket (setup), serve it from
 * a thread of its own (start, after the sandbox), stop (fini). */
int vhk_daemon_stats_listen(struct vhk_daemon *d);
int vhk_daemon_stats_start(struct vhk_daemon *d);
void vhk_daemon_stats_stop(struct vhk_daemon *d);

/* sandbox.c */

/** vhk_sandbox_mode_parse - "namespace", "chroot", "none". 0 or -EINVAL. */
int vhk_sandbox_mode_parse(const char *s, enum vhk_sandbox_mode *out);

/** vhk_sandbox_mode_name - the option value of @m. */
const char *vhk_sandbox_mode_name(enum vhk_sandbox_mode m);

/**
 * vhk_sandbox_enter - isolate the file system view (d->sandbox), drop every
 * capability, set no_new_privs and load the seccomp allowlist (unless
 * d->seccomp is false).  Single-threaded callers only (before any queue
 * starts).  Returns 0 or -errno after logging what failed.
 */
int vhk_sandbox_enter(struct vhk_daemon *d);

/**
 * vhk_sandbox_filter_thread - the seccomp allowlist vhk_sandbox_enter()
 * loads (with @d's extra syscalls), on the calling thread and the threads
 * it starts afterwards only, plus no_new_privs; no namespace, no
 * capability change.  For tests that run the server in a thread of their
 * own process (the proto suites): the server code then runs under the
 * daemons' filter while the test's own thread does not.  0 or -errno.
 */
int vhk_sandbox_filter_thread(const struct vhk_daemon *d);

/**
 * vhk_sandbox_debug_hook - if VHOSTKIT_SANDBOX_TEST=open is set, try to
 * create a file (forbidden after setup) and report what happened: with the
 * filter live the process is killed by SIGSYS.  For tests; documented in
 * docs/daemons.md.
 */
void vhk_sandbox_debug_hook(const struct vhk_daemon *d);

#endif /* VHOSTKIT_TOOLS_DAEMON_H */
