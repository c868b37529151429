/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - the shared daemon conventions: options, the listening socket
 * (created, inherited with --fd, or from systemd socket activation),
 * readiness notification, the log file and the signals.  See daemon.h and
 * docs/daemons.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"

/* First fd passed by socket activation (sd_listen_fds(3)). */
#define LISTEN_FDS_START 3

static struct vhk_daemon *g_daemon;	/* for the signal handlers */

void vhk_daemon_init(struct vhk_daemon *d, const char *prog,
		     const char *caps_json)
{
	memset(d, 0, sizeof(*d));
	d->prog = prog;
	d->caps_json = caps_json;
	d->fd = -1;
	d->sandbox = VHK_SANDBOX_NAMESPACE;
	d->sandbox_dir = "/var/empty";
	d->seccomp = true;
	d->sock_dirfd = d->log_dirfd = d->notify_fd = -1;
	d->stats_fd = d->stats_stop = d->stats_dirfd = -1;
}

void vhk_daemon_usage(FILE *out)
{
	fprintf(out,
"Socket (the vhost-user back-end program conventions; exactly one):\n"
"  -s, --socket-path PATH  Create a Unix socket at PATH and listen on it\n"
"                          (a stale socket there is replaced; removed on\n"
"                          exit).  With --connect: the front-end's socket.\n"
"      --fd FDNUM          Accept on FDNUM, an inherited listening Unix\n"
"                          stream socket.\n"
"  (systemd socket activation: LISTEN_FDS=1 and LISTEN_PID set; then give\n"
"   neither option)\n"
"  -c, --connect           Connect to PATH (a listening front-end) instead\n"
"                          of listening; retries until it appears.\n"
"      --print-capabilities  Print the JSON capabilities of the device type\n"
"                          and exit.\n"
"Daemon:\n"
"      --log-file FILE     Log to FILE (appended) instead of stderr;\n"
"                          SIGHUP reopens it (log rotation).\n"
"      --sandbox MODE      namespace (default): a private mount namespace\n"
"                          whose root is an empty read-only tmpfs (plus a\n"
"                          user namespace when not root); chroot: chroot to\n"
"                          --sandbox-dir (root only); none: keep the file\n"
"                          system view.  Every mode drops all capabilities\n"
"                          and sets no_new_privs.\n"
"      --sandbox-dir DIR   Empty directory for --sandbox chroot (default\n"
"                          /var/empty, created if missing).\n"
"      --seccomp on|off|log  System call allowlist after setup (default\n"
"                          on): any other call kills the daemon (SIGSYS).\n"
"                          log: allow it but have the kernel log it (to\n"
"                          find what a setup needs; see dmesg).\n"
"      --stats-socket PATH  Serve counters per device and per queue\n"
"                          (requests, bytes, errors, IOTLB, in flight,\n"
"                          latency) on a Unix socket at PATH, as JSON or\n"
"                          Prometheus text: 'vhostkit stats PATH'.\n"
"Systemd: with NOTIFY_SOCKET set the daemon sends READY=1 once it accepts\n"
"connections and STOPPING=1 on the way out (Type=notify).\n");
}

void vhk_daemon_usage_basic(FILE *out)
{
	fprintf(out,
"Daemon (shared by every vhostkit daemon, docs/daemons.md):\n"
"      --print-capabilities  Print the JSON capabilities of the device type\n"
"                          and exit.\n"
"      --log-file FILE     Log to FILE (appended) instead of stderr;\n"
"                          SIGHUP reopens it (log rotation).\n"
"      --sandbox MODE      namespace (default): a private mount namespace\n"
"                          whose root is an empty read-only tmpfs (plus a\n"
"                          user namespace when not root) where only the\n"
"                          directories of the daemon's sockets are visible;\n"
"                          chroot: chroot to --sandbox-dir (root only; not\n"
"                          when sockets are reached by path after setup);\n"
"                          none: keep the file system view.  Every mode\n"
"                          drops all capabilities and sets no_new_privs.\n"
"      --sandbox-dir DIR   Empty directory for --sandbox chroot (default\n"
"                          /var/empty, created if missing).\n"
"      --seccomp on|off|log  System call allowlist after setup (default\n"
"                          on): any other call kills the daemon (SIGSYS).\n"
"                          log: allow it but have the kernel log it.\n"
"      --stats-socket PATH  Serve counters per device and per queue\n"
"                          (requests, bytes, errors, IOTLB, in flight,\n"
"                          latency) on a Unix socket at PATH, as JSON or\n"
"                          Prometheus text: 'vhostkit stats PATH'.\n"
"Systemd: with NOTIFY_SOCKET set the daemon sends READY=1 once it accepts\n"
"connections and STOPPING=1 on the way out (Type=notify).\n");
}

int vhk_daemon_keep_dir(struct vhk_daemon *d, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *abs;

	if (d->nkeep >= VHK_DAEMON_KEEP_DIRS)
		return -ENOSPC;
	dir = !slash ? strdup(".") : slash == path ? strdup("/") :
	      strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	abs = realpath(dir, NULL);
	if (!abs) {
		int err = -errno;

		fprintf(stderr, "%s: %s: %s\n", d->prog, dir, strerror(errno));
		free(dir);
		return err;
	}
	free(dir);
	for (unsigned int i = 0; i < d->nkeep; i++)
		if (!strcmp(d->keep_dirs[i], abs)) {
			free(abs);
			return 0;
		}
	d->keep_dirs[d->nkeep++] = abs;
	return 0;
}

static int parse_fd(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int vhk_daemon_option(struct vhk_daemon *d, int c, const char *arg)
{
	switch (c) {
	case 's':
		d->socket_path = arg;
		return 1;
	case 'c':
		d->connect = true;
		return 1;
	case VHK_DOPT_FD:
		if (parse_fd(arg, &d->fd) < 0) {
			fprintf(stderr, "%s: --fd must be a file descriptor number, not '%s'\n",
				d->prog, arg);
			return -1;
		}
		return 1;
	case VHK_DOPT_PRINT_CAPS:
		d->print_caps = true;
		return 1;
	case VHK_DOPT_LOG_FILE:
		d->log_file = arg;
		return 1;
	case VHK_DOPT_SANDBOX:
		if (vhk_sandbox_mode_parse(arg, &d->sandbox) < 0) {
			fprintf(stderr, "%s: --sandbox must be namespace, chroot or none, not '%s'\n",
				d->prog, arg);
			return -1;
		}
		return 1;
	case VHK_DOPT_STATS_SOCKET:
		d->stats_path = arg;
		return 1;
	case VHK_DOPT_SANDBOX_DIR:
		d->sandbox_dir = arg;
		return 1;
	case VHK_DOPT_SECCOMP:
		if (strcmp(arg, "on") && strcmp(arg, "off") &&
		    strcmp(arg, "log")) {
			fprintf(stderr, "%s: --seccomp must be on, off or log, not '%s'\n",
				d->prog, arg);
			return -1;
		}
		d->seccomp = strcmp(arg, "off") != 0;
		d->seccomp_log = strcmp(arg, "log") == 0;
		return 1;
	}
	return 0;
}

int vhk_daemon_print_capabilities(const struct vhk_daemon *d)
{
	printf("%s\n", d->caps_json);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * Split @path into an O_PATH descriptor of its directory and a copy of its
 * last component, so that the file can be reached again after the
 * sandbox hid the file system (log reopen, socket removal).
 */
static int open_parent(const char *path, int *dirfd, char **base)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash && slash[1] == '\0')
		return -EISDIR;
	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	*base = strdup(slash ? slash + 1 : path);
	if (!dir || !*base) {
		free(dir);
		free(*base);
		*base = NULL;
		return -ENOMEM;
	}
	*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (*dirfd < 0) {
		free(*base);
		*base = NULL;
		return -errno;
	}
	return 0;
}

static int open_log(struct vhk_daemon *d)
{
	int fd;

	fd = openat(d->log_dirfd, d->log_base,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		close(fd);
	}
	return 0;
}

/* The path of a Unix socket address; abstract names start with '@'. */
static int unix_addr(const char *path, struct sockaddr_un *sa,
		     socklen_t *len)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			   (path[0] == '@' ? 0 : 1));
	return 0;
}

/* sd_notify(3) protocol: one datagram to $NOTIFY_SOCKET. */
static void notify_open(struct vhk_daemon *d)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (!path || !*path)
		return;
	if (unix_addr(path, &sa, &len) < 0) {
		fprintf(stderr, "%s: NOTIFY_SOCKET too long: not notifying\n",
			d->prog);
		return;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0) {
		fprintf(stderr, "%s: NOTIFY_SOCKET %s: %s\n", d->prog, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	d->notify_fd = fd;
	unsetenv("NOTIFY_SOCKET");
}

static void notify(struct vhk_daemon *d, const char *msg)
{
	if (d->notify_fd >= 0 &&
	    send(d->notify_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		fprintf(stderr, "%s: notify: %s\n", d->prog, strerror(errno));
}

/*
 * Socket activation (sd_listen_fds(3)): fds from 3 on, for this pid only.
 * Returns the number of sockets passed (0: not activated).
 */
static int listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	char *end;
	long p, n;

	if (!pid || !fds)
		return 0;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno || *end || p != (long)getpid())
		return 0;
	n = strtol(fds, &end, 10);
	if (errno || *end || n < 0 || n > 64)
		return -EINVAL;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}

/*
 * Create and listen on a socket for @path.  It is bound under a temporary
 * name in the same directory and renamed into place by vhk_daemon_start(),
 * so that PATH appears only once the daemon is ready (a stale socket
 * there is replaced then; anything else at PATH is refused now).
 */
static int create_socket(struct vhk_daemon *d, int *out)
{
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int fd, err;

	if (d->socket_path[0] == '@' ||
	    unix_addr(d->socket_path, &sa, &len) < 0)
		return -ENAMETOOLONG;
	err = open_parent(d->socket_path, &d->sock_dirfd, &d->sock_base);
	if (err)
		return err;
	/* Never remove anything that is not a socket. */
	if (fstatat(d->sock_dirfd, d->sock_base, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && !S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* The temporary name: ".BASE.PID" next to PATH, same length limit. */
	snprintf(d->sock_tmp, sizeof(d->sock_tmp), ".%s.%ld", d->sock_base,
		 (long)getpid());
	{
		const char *slash = strrchr(d->socket_path, '/');
		size_t dirlen = slash ? (size_t)(slash - d->socket_path) + 1 : 0;

		if (dirlen + strlen(d->sock_tmp) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, d->socket_path, dirlen);
		strcpy(sa.sun_path + dirlen, d->sock_tmp);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				  dirlen + strlen(d->sock_tmp) + 1);
	}
	unlinkat(d->sock_dirfd, d->sock_tmp, 0);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 1) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	d->sock_tmp_bound = true;
	*out = fd;
	return 0;
}

static int usage_error(bool *usage, const char *prog, const char *msg)
{
	fprintf(stderr, "%s: %s (see --help)\n", prog, msg);
	*usage = true;
	return -1;
}

int vhk_daemon_setup(struct vhk_daemon *d, struct vhk_backend_config *cfg,
		     bool *usage)
{
	int n, fd, err;

	*usage = false;
	if (d->log_file) {
		err = open_parent(d->log_file, &d->log_dirfd, &d->log_base);
		if (!err)
			err = open_log(d);
		if (err) {
			fprintf(stderr, "%s: --log-file %s: %s\n", d->prog,
				d->log_file, strerror(-err));
			return -1;
		}
	}
	if (d->stats_path) {
		err = vhk_daemon_stats_listen(d);
		if (err) {
			fprintf(stderr, "%s: --stats-socket %s: %s\n", d->prog,
				d->stats_path, strerror(-err));
			return -1;
		}
	}
	if (d->own_sockets) {
		notify_open(d);
		return 0;
	}
	n = listen_fds();
	if (n < 0 || n > 1) {
		fprintf(stderr, "%s: socket activation passed %s sockets; expected exactly one\n",
			d->prog, n < 0 ? "a bad number of" : "several");
		return -1;
	}
	if (n == 1 && (d->socket_path || d->fd >= 0 || d->connect))
		return usage_error(usage, d->prog,
				   "systemd passed a socket (LISTEN_FDS): give no --socket-path, --fd or --connect");
	if (d->fd >= 0 && (d->socket_path || d->connect))
		return usage_error(usage, d->prog,
				   "--fd excludes --socket-path and --connect");
	if (n == 0 && d->fd < 0 && !d->socket_path)
		return usage_error(usage, d->prog,
				   "--socket-path or --fd is required");
	notify_open(d);

	cfg->socket_path = d->socket_path;
	cfg->connect = d->connect;
	if (n == 1 || d->fd >= 0) {
		d->activated = n == 1;
		cfg->adopt_listen_fd = true;
		cfg->listen_fd = n == 1 ? LISTEN_FDS_START : d->fd;
		cfg->socket_path = d->activated ? "(systemd socket)" :
				   "(--fd socket)";
	} else if (!d->connect) {
		err = create_socket(d, &fd);
		if (err) {
			fprintf(stderr, "%s: cannot listen on %s: %s\n",
				d->prog, d->socket_path, strerror(-err));
			return -1;
		}
		cfg->adopt_listen_fd = true;
		cfg->listen_fd = fd;
	}
	return 0;
}

static void on_stop(int sig)
{
	(void)sig;
	if (g_daemon && g_daemon->on_stop)
		g_daemon->on_stop();
	else if (g_daemon && g_daemon->be)
		vhk_backend_stop(g_daemon->be);
}

/* Async-signal-safe: openat, dup2, close, write. */
static void on_hup(int sig)
{
	int saved = errno;

	(void)sig;
	if (g_daemon && g_daemon->log_dirfd >= 0 && open_log(g_daemon) == 0) {
		static const char msg[] = "vhostkit: log reopened (SIGHUP)\n";
		ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);

		(void)r;
	}
	errno = saved;
}

int vhk_daemon_start(struct vhk_daemon *d, struct vhk_backend *be)
{
	struct sigaction sa;
	char msg[160];

	d->be = be;
	g_daemon = d;
	if (d->sock_tmp_bound) {
		if (renameat(d->sock_dirfd, d->sock_tmp, d->sock_dirfd,
			     d->sock_base) < 0) {
			fprintf(stderr, "%s: cannot create %s: %s\n", d->prog,
				d->socket_path, strerror(errno));
			return -1;
		}
		d->sock_tmp_bound = false;
		d->sock_placed = true;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (vhk_sandbox_enter(d) < 0)
		return -1;
	vhk_sandbox_debug_hook(d);
	/* The stats thread starts after the sandbox: a namespace is
	 * entered by the only thread there is. */
	if (be && d->nstats == 0)
		vhk_daemon_stats_add(d, vhk_backend_name(be), be);
	if (vhk_daemon_stats_start(d) < 0) {
		fprintf(stderr, "%s: cannot start the stats thread\n", d->prog);
		return -1;
	}
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s %s\nMAINPID=%ld",
		 d->connect ? "connecting to" : "listening on",
		 d->own_sockets ? "its sockets" :
		 d->activated ? "the systemd socket" :
		 d->fd >= 0 ? "--fd" : d->socket_path, (long)getpid());
	notify(d, msg);
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vhk_daemon_fini(struct vhk_daemon *d)
{
	notify(d, "STOPPING=1");
	vhk_daemon_stats_stop(d);
	if (d->sock_tmp_bound)
		unlinkat(d->sock_dirfd, d->sock_tmp, 0);
	if (d->sock_placed)
		unlinkat(d->sock_dirfd, d->sock_base, 0);
	d->sock_tmp_bound = d->sock_placed = false;
	if (g_daemon == d)
		g_daemon = NULL;
	d->be = NULL;
	close_fd(&d->sock_dirfd);
	close_fd(&d->log_dirfd);
	close_fd(&d->notify_fd);
	free(d->sock_base);
	free(d->log_base);
	for (unsigned int i = 0; i < d->nkeep; i++)
		free(d->keep_dirs[i]);
	d->nkeep = 0;
	d->sock_base = d->log_base = NULL;
}
