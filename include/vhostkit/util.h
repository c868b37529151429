/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/util.h - little-endian wire types, feature-bit helpers, logging.
 *
 * The bottom layer: everything else includes this, it includes nothing of
 * vhostkit.  Errors across the whole library are negative errno values.
 */
#ifndef VHOSTKIT_UTIL_H
#define VHOSTKIT_UTIL_H

#include "vhostkit/api.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Little-endian types for guest-shared and wire structures.  The one-member
 * struct makes "desc.len + 1" a compile error: every access goes through
 * vhk_leNN_get()/vhk_leNN_set(), which swap on big-endian hosts.
 */
typedef struct { uint16_t v; } vhk_le16;
typedef struct { uint32_t v; } vhk_le32;
typedef struct { uint64_t v; } vhk_le64;

/** vhk_le16_get - host value of a little-endian 16-bit field. */
static inline uint16_t vhk_le16_get(vhk_le16 x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap16(x.v);
#else
	return x.v;
#endif
}

/** vhk_le32_get - host value of a little-endian 32-bit field. */
static inline uint32_t vhk_le32_get(vhk_le32 x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap32(x.v);
#else
	return x.v;
#endif
}

/** vhk_le64_get - host value of a little-endian 64-bit field. */
static inline uint64_t vhk_le64_get(vhk_le64 x)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(x.v);
#else
	return x.v;
#endif
}

/** vhk_le16_make - little-endian encoding of @v. */
static inline vhk_le16 vhk_le16_make(uint16_t v)
{
	vhk_le16 r;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	r.v = __builtin_bswap16(v);
#else
	r.v = v;
#endif
	return r;
}

/** vhk_le32_make - little-endian encoding of @v. */
static inline vhk_le32 vhk_le32_make(uint32_t v)
{
	vhk_le32 r;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	r.v = __builtin_bswap32(v);
#else
	r.v = v;
#endif
	return r;
}

/** vhk_le64_make - little-endian encoding of @v. */
static inline vhk_le64 vhk_le64_make(uint64_t v)
{
	vhk_le64 r;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	r.v = __builtin_bswap64(v);
#else
	r.v = v;
#endif
	return r;
}

/*
 * Feature bits are bit *numbers* (VHK_F_*, VHK_BLK_F_*, VHK_PROTO_F_*).
 * Never "&" a bit number: test and set them only through these helpers.
 */

/** vhk_has_feature - true if bit number @bit is set in @features (@bit < 64). */
static inline bool vhk_has_feature(uint64_t features, unsigned int bit)
{
	return bit < 64 && ((features >> bit) & 1u);
}

/** vhk_feature_bit - the mask of bit number @bit (0 if @bit >= 64). */
static inline uint64_t vhk_feature_bit(unsigned int bit)
{
	return bit < 64 ? (uint64_t)1 << bit : 0;
}

/** vhk_set_feature - set bit number @bit in *@features. */
static inline void vhk_set_feature(uint64_t *features, unsigned int bit)
{
	*features |= vhk_feature_bit(bit);
}

/** vhk_clear_feature - clear bit number @bit in *@features. */
static inline void vhk_clear_feature(uint64_t *features, unsigned int bit)
{
	*features &= ~vhk_feature_bit(bit);
}

/** vhk_add_overflows - true if @a + @b wraps around 64 bits. */
static inline bool vhk_add_overflows(uint64_t a, uint64_t b)
{
	return a + b < a;
}

/** vhk_range_end_overflows - true if [@a, @a+@len) wraps (len 0 never wraps). */
static inline bool vhk_range_overflows(uint64_t a, uint64_t len)
{
	return len != 0 && a + (len - 1) < a;
}

enum vhk_log_level {
	VHK_LOG_ERR = 0,
	VHK_LOG_WARN = 1,
	VHK_LOG_INFO = 2,
	VHK_LOG_DEBUG = 3,
};

/**
 * vhk_log_set_level - messages above @level are dropped (default INFO;
 * the environment variable VHOSTKIT_LOG=err|warn|info|debug overrides it
 * at the first log call).
 */
VHK_API
void vhk_log_set_level(enum vhk_log_level level);

/** vhk_log_get_level - the level in force. */
VHK_API
enum vhk_log_level vhk_log_get_level(void);

/**
 * vhk_log - print one line to stderr: "vhostkit[<who>]: <level>: <message>".
 * @who names the device and queue (e.g. "blk0 vq1"); may be NULL.
 */
VHK_API
void vhk_log(enum vhk_log_level level, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** vhk_vlog - va_list form of vhk_log(). */
VHK_API
void vhk_vlog(enum vhk_log_level level, const char *who, const char *fmt,
	      va_list ap) __attribute__((format(printf, 3, 0)));

/*
 * Guest- or peer-triggered errors go through a rate limit so that a hostile
 * guest cannot flood the log: at most @burst lines per @interval_ms per
 * limiter, then one "N messages suppressed" line when the window reopens.
 */
struct vhk_ratelimit {
	uint64_t window_start_ms;
	uint32_t interval_ms;
	uint32_t burst;
	uint32_t printed;
	uint32_t suppressed;
};

#define VHK_RATELIMIT_INIT { 0, 5000, 10, 0, 0 }

/**
 * vhk_log_ratelimited - vhk_log() through limiter @rl.
 * Returns true if the line was printed.
 */
VHK_API
bool vhk_log_ratelimited(struct vhk_ratelimit *rl, enum vhk_log_level level,
			 const char *who, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/** vhk_now_ns - CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t vhk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define VHK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VHK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VHK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VHK_UNUSED __attribute__((unused))
#define vhk_likely(x) __builtin_expect(!!(x), 1)
#define vhk_unlikely(x) __builtin_expect(!!(x), 0)

#ifdef __cplusplus
}
#endif
#endif /* VHOSTKIT_UTIL_H */
