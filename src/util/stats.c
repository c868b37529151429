/* SPDX-License-Identifier: MIT */
/*
 * stats.c - snapshots of the per-queue counters (vhostkit/stats.h).
 */
#include <stddef.h>

#include "vhostkit/stats.h"

void vhk_queue_stats_read(const struct vhk_queue_stats *live,
			  struct vhk_queue_stats *out)
{
	/* The struct is nothing but uint64_t counters: read each one
	 * atomically (a writer may be updating any of them). */
	const uint64_t *src = (const uint64_t *)live;
	uint64_t *dst = (uint64_t *)out;

	_Static_assert(sizeof(struct vhk_queue_stats) % sizeof(uint64_t) == 0,
		       "struct vhk_queue_stats is made of uint64_t counters");
	for (size_t i = 0; i < sizeof(*live) / sizeof(uint64_t); i++)
		dst[i] = vhk_stat_get(&src[i]);
}

const char *vhk_qerr_name(enum vhk_qerr e)
{
	static const char *const names[VHK_QERR__COUNT] = {
		[VHK_QERR_RING] = "ring",
		[VHK_QERR_SEGMENTS] = "segments",
		[VHK_QERR_DEVICE] = "device",
	};

	return (unsigned int)e < VHK_QERR__COUNT ? names[e] : "unknown";
}
