/* SPDX-License-Identifier: MIT */
/*
 * mockmem.h - fake guest memory for ring tests, the fuzzer and benchmarks.
 *
 * One ring area (always contiguous, in host memory and in every address
 * space) and one buffer area, reachable through a real memory table, IOTLB
 * and struct vhk_as in any of the three modes.  The address spaces are kept
 * apart numerically so that a GPA used as an IOVA (or a UVA as a GPA, or a
 * host pointer as anything) faults instead of passing by luck:
 *
 *   area     GPA            UVA               IOVA
 *   ring     0x100000000    0x3f0000000000    0xa0000000
 *   buffers  0x200000000    0x3f0100000000    0xb0000000
 *
 * Device-visible addresses: rings are UVAs in gpa/identity mode and IOVAs
 * in iotlb mode; descriptors carry GPAs (gpa/identity) or IOVAs (iotlb).
 *
 * Fragmented mode is the adversarial address space of Linux vringh's
 * getrange_slow test: every buffer byte is mapped separately - one memory
 * table region per byte in gpa/identity mode, one IOTLB entry per byte in
 * iotlb mode - and the host bytes are scattered (stored reversed within
 * each 64-byte block, two host bytes apart), so a translator that assumes
 * a range is contiguous after its first byte reads or writes wrong bytes.
 * The host byte between two mapped bytes is a canary: overrunning a
 * translated prefix by even one byte is caught by
 * vhk_mockmem_canaries_intact().  The ring area is one region / entry.
 *
 * Canaries also fill guard pages before and after both areas, and any
 * buffer bytes a test declares with vhk_mockmem_guard() (the gaps between
 * the buffers it hands to a device).
 */
#ifndef VHK_TESTS_MOCKMEM_H
#define VHK_TESTS_MOCKMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhostkit/as.h"

#define VHK_MOCK_GPA_RING	0x100000000ull
#define VHK_MOCK_GPA_BUF	0x200000000ull
#define VHK_MOCK_UVA_RING	0x3f0000000000ull
#define VHK_MOCK_UVA_BUF	0x3f0100000000ull
#define VHK_MOCK_IOVA_RING	0xa0000000ull
#define VHK_MOCK_IOVA_BUF	0xb0000000ull
#define VHK_MOCK_MAX_RING	0x10000000ull	/* 256 MiB */
#define VHK_MOCK_MAX_BUF	0x40000000ull	/* 1 GiB (4 MiB fragmented) */
#define VHK_MOCK_MAX_BUF_FRAG	0x400000ull

struct vhk_mockmem {
	enum vhk_as_mode mode;
	bool fragmented;
	struct vhk_memtable *mt;
	struct vhk_iotlb *iotlb;	/* iotlb mode only, else NULL */
	struct vhk_as as;
	/*
	 * Device-visible ring address: UVA in gpa/identity mode, IOVA in
	 * iotlb mode; always contiguous.
	 */
	uint8_t *ring_host;
	size_t ring_size;
	uint64_t ring_addr;
	/* Buffer area; device-visible addresses via vhk_mockmem_buf_addr(). */
	size_t buf_size;

	/* private bookkeeping */
	uint8_t *base;		/* the whole host mapping */
	size_t base_len;
	uint8_t *buf_host;	/* host bytes of the buffer area */
	size_t buf_host_len;
	uint8_t *canary;	/* bitmap over base: 1 = must keep its pattern */
};

/**
 * vhk_mockmem_init - map @ring_size bytes of ring area (rounded up to a
 * page) and @buf_size bytes of buffer area in @mode, fragmented or not.
 * Ring and buffer bytes start zeroed; guards hold canaries.
 * Returns 0 or a negative errno (-EINVAL for sizes beyond the limits).
 */
int vhk_mockmem_init(struct vhk_mockmem *m, enum vhk_as_mode mode,
		     bool fragmented, size_t ring_size, size_t buf_size);

/** vhk_mockmem_fini - free everything; safe on a zeroed or failed @m. */
void vhk_mockmem_fini(struct vhk_mockmem *m);

/**
 * vhk_mockmem_buf_addr - device-visible address of buffer byte @off (GPA in
 * gpa/identity mode, IOVA in iotlb mode).  @off may equal buf_size (end).
 */
uint64_t vhk_mockmem_buf_addr(const struct vhk_mockmem *m, size_t off);

/**
 * vhk_mockmem_ring_buf_addr - device-visible *descriptor* address (GPA or
 * IOVA) of ring-area byte @off: for indirect tables that must be
 * contiguous in host memory (host pointer ring_host + @off).
 */
uint64_t vhk_mockmem_ring_buf_addr(const struct vhk_mockmem *m, size_t off);

/** vhk_mockmem_write - store @n bytes of guest buffer at @off (test side). */
void vhk_mockmem_write(struct vhk_mockmem *m, size_t off, const void *src,
		       size_t n);

/** vhk_mockmem_read - load @n bytes of guest buffer at @off (test side). */
void vhk_mockmem_read(const struct vhk_mockmem *m, size_t off, void *dst,
		      size_t n);

/** vhk_mockmem_fill - set @n buffer bytes at @off to @byte. */
void vhk_mockmem_fill(struct vhk_mockmem *m, size_t off, uint8_t byte,
		      size_t n);

/**
 * vhk_mockmem_guard - declare buffer bytes [@off, @off+@n) off limits: they
 * get canary values that vhk_mockmem_canaries_intact() checks.
 */
void vhk_mockmem_guard(struct vhk_mockmem *m, size_t off, size_t n);

/** vhk_mockmem_unguard - give guarded bytes back to the test (zeroed). */
void vhk_mockmem_unguard(struct vhk_mockmem *m, size_t off, size_t n);

/**
 * vhk_mockmem_guard_check - NULL if every canary holds its value, else the
 * host address of the first damaged one.
 */
void *vhk_mockmem_guard_check(const struct vhk_mockmem *m);

/**
 * vhk_mockmem_canaries_intact - true if every byte outside the ring area
 * and the buffers tests declared is untouched; prints the first damaged
 * byte to stderr otherwise.
 */
bool vhk_mockmem_canaries_intact(const struct vhk_mockmem *m);

/**
 * vhk_mockmem_buf_host_contig - host pointer of buffer byte @off if the
 * buffer area is contiguous in host memory (not fragmented), else NULL.
 * For benchmarks and quick checks only; tests use read/write.
 */
void *vhk_mockmem_buf_host_contig(const struct vhk_mockmem *m, size_t off);

#endif /* VHK_TESTS_MOCKMEM_H */
