/* SPDX-License-Identifier: MIT */
/*
 * ringtest.h - fixture for device-side ring tests: mock guest memory, the
 * real driver-side ring writing real ring bytes into it, and the device
 * queue under test reading them.  Hostile tests bypass the driver and
 * write raw descriptors (rt_raw_*).
 */
#ifndef VHK_TESTS_RINGTEST_H
#define VHK_TESTS_RINGTEST_H

#include <errno.h>
#include <string.h>

#include "vhk_test.h"
#include "vhostkit/drv_ring.h"
#include "vhostkit/features.h"
#include "vhostkit/iotlb.h"
#include "vhostkit/mem.h"
#include "ring/vring_defs.h"

#define RT_RING_EXTRA	(64 * 1024)	/* ring-area bytes for tables */
#define RT_BUF_SIZE	(64 * 1024)
#define RT_GAP		8		/* guarded bytes between buffers */

struct rt {
	struct vhk_mockmem m;
	struct vhk_drv_vq *dq;
	struct vhk_vq *vq;
	struct vhk_as *as;	/* the device's view: &m.as unless replaced */
	enum vhk_as_mode mode;
	bool packed;
	uint16_t num;
	uint64_t features;
	size_t ring_bytes;	/* used by the driver ring */
	size_t table_next;	/* bump allocator in the ring area */
	size_t buf_next;	/* bump allocator in the buffer area */
	struct iovec *iov;
	unsigned int iov_cap;
	struct vhk_chain c;
	/* raw writer state */
	void *rdesc, *rdriver, *rdevice;
	uint16_t raw_idx;	/* split: next avail idx; packed: next slot */
	bool raw_wrap;		/* packed: driver wrap counter */
};

/* A raw descriptor; for packed rings @next is written as the buffer id. */
struct rd {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Combinations every test runs over. */
#define RT_FOR_EACH_LAYOUT(p) for (int p = 0; p < 2; p++)
#define RT_FOR_EACH_MODE(mi) for (int mi = 0; mi < 3; mi++)

void rt_init(struct rt *t, enum vhk_as_mode mode, bool packed, uint16_t num,
	     uint64_t features);
/* Start the device queue (asserts success). */
void rt_start(struct rt *t);
/* rt_init + rt_start. */
void rt_setup(struct rt *t, enum vhk_as_mode mode, bool packed, uint16_t num,
	      uint64_t features);
/* Tear down; asserts the canaries are intact. */
void rt_fini(struct rt *t);

/* A buffer of @len bytes in the buffer area, followed by a guarded gap. */
size_t rt_buf(struct rt *t, size_t len);
uint64_t rt_addr(const struct rt *t, size_t off);
/* Ring-area bytes for a driver-API indirect table: host and device view. */
void *rt_table(struct rt *t, size_t len, uint64_t *addr);

int rt_pop(struct rt *t);
/* Pop and assert one chain came out. */
void rt_pop_ok(struct rt *t);

/*
 * Raw (hostile) writers.  Split: d[i] goes to descriptor table entry i and
 * head 0 is published (avail->idx + 1).  Packed: d[i] goes to consecutive
 * slots with the available bits for the current wrap, first flags last.
 */
void rt_raw_chain(struct rt *t, const struct rd *d, unsigned int n);
/* Split only: publish @head as the next avail entry. */
void rt_raw_publish_head(struct rt *t, uint16_t head);
/* Split only: set avail->idx. */
void rt_raw_set_avail_idx(struct rt *t, uint16_t idx);
/* Write a table of @n raw descriptors into the buffer area (split or
 * packed format by layout); returns its device address. */
uint64_t rt_raw_table(struct rt *t, const struct rd *d, unsigned int n);

/* Assert the queue is broken and later calls fail with -EIO. */
void rt_assert_broken(struct rt *t);

/* IOTLB helpers (iotlb mode): save/restore the entries of a range. */
struct rt_tlb_save {
	unsigned int n;
	struct { uint64_t iova, len, uva; uint8_t perm; } e[4096];
};
void rt_tlb_save(struct rt *t, uint64_t iova, uint64_t len,
		 struct rt_tlb_save *s);
void rt_tlb_restore(struct rt *t, const struct rt_tlb_save *s,
		    uint8_t perm_mask);

#endif /* VHK_TESTS_RINGTEST_H */
