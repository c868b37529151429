/* SPDX-License-Identifier: MIT */
/*
 * vring_access.h - the one set of accessors for ring memory shared with
 * the other side (VIRTIO 1.2, 2.7 split / 2.8 packed), used by the device
 * rings (src/ring/vq_*.c, through vq_priv.h) and the driver rings
 * (src/ring/drv/, through drv_priv.h).  Private to src/ring.
 *
 * Rules (docs/architecture.md, "Threading model"):
 *  - indices and flags are 16-bit words accessed only with C11 atomics,
 *    the ordering named at each call (acquire / release / relaxed);
 *  - a descriptor or a used element is fetched once, as whole 64-bit
 *    atomic loads into a private copy, and only the copy is validated and
 *    used: the other side cannot change a field between the check and the
 *    use (no double fetch);
 *  - store->load ordering for notification decisions takes a full fence
 *    (vring_fence(memory_order_seq_cst)).
 */
#ifndef VHK_RING_VRING_ACCESS_H
#define VHK_RING_VRING_ACCESS_H

#include <stdatomic.h>
#include <string.h>

#include "ring/vring_defs.h"

#if defined(__SANITIZE_THREAD__)
#define VRING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VRING_TSAN 1
#endif
#endif

/*
 * vring_fence - a fence of order @mo.  ThreadSanitizer does not model
 * fences (GCC warns with -Wtsan), so a TSan build uses a read-modify-write
 * of order @mo on a thread-local word instead: a locked instruction, i.e.
 * still a full hardware barrier on x86.  TSan checks the release/acquire
 * pairs on the ring words either way.
 */
static inline void vring_fence(memory_order mo)
{
#ifdef VRING_TSAN
	static _Thread_local atomic_int dummy;

	atomic_fetch_add_explicit(&dummy, 0, mo);
#else
	atomic_thread_fence(mo);
#endif
}

static inline _Atomic uint16_t *vring_a16(const vhk_le16 *p)
{
	return (_Atomic uint16_t *)(void *)(uintptr_t)&p->v;
}

/* Load a shared 16-bit word (index, flags, event) with order @mo. */
static inline uint16_t vring_load16(const vhk_le16 *p, memory_order mo)
{
	vhk_le16 v;

	v.v = atomic_load_explicit(vring_a16(p), mo);
	return vhk_le16_get(v);
}

/* Store a shared 16-bit word with order @mo. */
static inline void vring_store16(vhk_le16 *p, uint16_t val, memory_order mo)
{
	atomic_store_explicit(vring_a16(p), vhk_le16_make(val).v, mo);
}

/* Store a shared 32-bit word (a used element's id or len), relaxed: the
 * index / flags release store that publishes it orders it. */
static inline void vring_store32(vhk_le32 *p, uint32_t val)
{
	atomic_store_explicit((_Atomic uint32_t *)(void *)&p->v,
			      vhk_le32_make(val).v, memory_order_relaxed);
}

/*
 * vring_copy16 - single fetch of a 16-byte descriptor (split or packed,
 * 16-byte aligned) into @dst with two relaxed 64-bit loads.  The caller
 * validates and uses only the copy.
 */
static inline void vring_copy16(void *dst, const void *src)
{
	uint64_t w[2];

	w[0] = atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)src,
				    memory_order_relaxed);
	w[1] = atomic_load_explicit((_Atomic uint64_t *)(uintptr_t)src + 1,
				    memory_order_relaxed);
	memcpy(dst, w, sizeof(w));
}

/*
 * vring_load_used_elem - single fetch of a split used element: id and len
 * each loaded once (relaxed; the ring is only 4-byte aligned), ordered by
 * the caller's acquire load of used->idx.  Validate and use the copy.
 */
static inline struct vhk_vring_used_elem
vring_load_used_elem(const struct vhk_vring_used_elem *src)
{
	struct vhk_vring_used_elem e;

	e.id.v = atomic_load_explicit(
		(_Atomic uint32_t *)(uintptr_t)&src->id.v, memory_order_relaxed);
	e.len.v = atomic_load_explicit(
		(_Atomic uint32_t *)(uintptr_t)&src->len.v, memory_order_relaxed);
	return e;
}

#endif /* VHK_RING_VRING_ACCESS_H */
