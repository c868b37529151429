/* SPDX-License-Identifier: MIT */
/* log.c - leveled, rate-limited logging to stderr. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vhostkit/util.h"

/* -1: not yet read from the environment.  Any thread may log (workers,
 * a vsock daemon's VM threads) and the first to do so reads the
 * environment: relaxed atomics, every thread computes the same value. */
static atomic_int log_level = -1;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static int log_init(void)
{
	const char *env = getenv("VHOSTKIT_LOG");
	int level = VHK_LOG_INFO;

	for (int i = 0; env && i < (int)VHK_ARRAY_SIZE(level_names); i++) {
		if (strncmp(env, level_names[i], 3) == 0)
			level = i;
	}
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
	return level;
}

void vhk_log_set_level(enum vhk_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum vhk_log_level vhk_log_get_level(void)
{
	int level = atomic_load_explicit(&log_level, memory_order_relaxed);

	if (level < 0)
		level = log_init();
	return (enum vhk_log_level)level;
}

void vhk_vlog(enum vhk_log_level level, const char *who, const char *fmt,
	      va_list ap)
{
	char line[512];
	int n;

	if ((int)level > (int)vhk_log_get_level())
		return;
	n = snprintf(line, sizeof(line), "vhostkit%s%s%s: %s: ", who ? "[" : "",
		     who ? who : "", who ? "]" : "", level_names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so that concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
}

void vhk_log(enum vhk_log_level level, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vhk_vlog(level, who, fmt, ap);
	va_end(ap);
}

bool vhk_log_ratelimited(struct vhk_ratelimit *rl, enum vhk_log_level level,
			 const char *who, const char *fmt, ...)
{
	uint64_t now = vhk_now_ns() / 1000000ull;
	va_list ap;

	if ((int)level > (int)vhk_log_get_level())
		return false;
	if (rl->window_start_ms == 0 ||
	    now - rl->window_start_ms >= rl->interval_ms) {
		if (rl->suppressed)
			vhk_log(level, who, "%u similar messages suppressed",
				rl->suppressed);
		rl->window_start_ms = now ? now : 1;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->printed++;
	va_start(ap, fmt);
	vhk_vlog(level, who, fmt, ap);
	va_end(ap);
	return true;
}
