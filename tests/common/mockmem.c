/* SPDX-License-Identifier: MIT */
/*
 * mockmem.c - fake guest memory: normal and one-byte-per-mapping address
 * spaces with canaries (see mockmem.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mockmem.h"

#define PAGE		4096ull
#define BLOCK		64u	/* fragmented: bytes reversed per block */

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static uint8_t canary_byte(size_t pos)
{
	return (uint8_t)(0xa5u ^ (pos * 31u) ^ (pos >> 7));
}

static void canary_set(struct vhk_mockmem *m, size_t pos, bool on)
{
	if (on)
		m->canary[pos / 8] |= (uint8_t)(1u << (pos % 8));
	else
		m->canary[pos / 8] &= (uint8_t)~(1u << (pos % 8));
}

static bool canary_is(const struct vhk_mockmem *m, size_t pos)
{
	return m->canary[pos / 8] & (1u << (pos % 8));
}

/* Clear canary bits for [@pos, @pos+@len), whole bitmap bytes at once. */
static void canary_clear_range(struct vhk_mockmem *m, size_t pos, size_t len)
{
	size_t end = pos + len;

	while (pos < end && pos % 8)
		canary_set(m, pos++, false);
	if (end - pos >= 8) {
		memset(m->canary + pos / 8, 0, (end - pos) / 8);
		pos += (end - pos) / 8 * 8;
	}
	while (pos < end)
		canary_set(m, pos++, false);
}

/* Offset in buf_host of buffer byte @off. */
static size_t host_off(const struct vhk_mockmem *m, size_t off)
{
	if (!m->fragmented)
		return off;
	return (off / BLOCK) * (2 * BLOCK) + (BLOCK - 1 - off % BLOCK) * 2;
}

/* Position of buffer byte @off in the whole mapping (canary bitmap index). */
static size_t base_pos(const struct vhk_mockmem *m, size_t off)
{
	return (size_t)(m->buf_host - m->base) + host_off(m, off);
}

static int map_ring(struct vhk_mockmem *m)
{
	int ret;

	ret = vhk_memtable_add_host(m->mt, VHK_MOCK_GPA_RING, m->ring_size,
				    VHK_MOCK_UVA_RING, m->ring_host);
	if (ret || m->mode != VHK_AS_IOTLB)
		return ret;
	return vhk_as_iotlb_update(&m->as, VHK_MOCK_IOVA_RING, m->ring_size,
				   VHK_MOCK_UVA_RING, VHK_PERM_RW);
}

static int map_bufs(struct vhk_mockmem *m)
{
	uint64_t half;
	int ret;

	if (m->buf_size == 0)
		return 0;
	if (m->mode != VHK_AS_IOTLB && m->fragmented) {
		/* One region per byte, ascending GPA (cheap to insert). */
		for (size_t off = 0; off < m->buf_size; off++) {
			size_t h = host_off(m, off);

			ret = vhk_memtable_add_host(m->mt, VHK_MOCK_GPA_BUF + off,
						    1, VHK_MOCK_UVA_BUF + h,
						    m->buf_host + h);
			if (ret)
				return ret;
		}
		return 0;
	}
	/*
	 * One region for the buffer area (fragmented iotlb mode: the whole
	 * host area with its interleaved canaries; the IOTLB scatters).
	 */
	ret = vhk_memtable_add_host(m->mt, VHK_MOCK_GPA_BUF,
				    m->fragmented ? m->buf_host_len : m->buf_size,
				    VHK_MOCK_UVA_BUF, m->buf_host);
	if (ret || m->mode != VHK_AS_IOTLB)
		return ret;
	if (m->fragmented) {
		for (size_t off = 0; off < m->buf_size; off++) {
			ret = vhk_as_iotlb_update(&m->as, VHK_MOCK_IOVA_BUF + off,
						  1, VHK_MOCK_UVA_BUF +
						  host_off(m, off),
						  VHK_PERM_RW);
			if (ret)
				return ret;
		}
		return 0;
	}
	/* A few large entries: two halves split at a page boundary. */
	half = m->buf_size >= 2 * PAGE ? round_up(m->buf_size / 2, PAGE) : 0;
	if (half) {
		ret = vhk_as_iotlb_update(&m->as, VHK_MOCK_IOVA_BUF, half,
					  VHK_MOCK_UVA_BUF, VHK_PERM_RW);
		if (ret)
			return ret;
	}
	return vhk_as_iotlb_update(&m->as, VHK_MOCK_IOVA_BUF + half,
				   m->buf_size - half, VHK_MOCK_UVA_BUF + half,
				   VHK_PERM_RW);
}

int vhk_mockmem_init(struct vhk_mockmem *m, enum vhk_as_mode mode,
		     bool fragmented, size_t ring_size, size_t buf_size)
{
	size_t ring_len, buf_len, pos;
	unsigned int max_regions;
	void *p;
	int ret;

	memset(m, 0, sizeof(*m));
	if (ring_size == 0 || ring_size > VHK_MOCK_MAX_RING ||
	    buf_size > (fragmented ? VHK_MOCK_MAX_BUF_FRAG : VHK_MOCK_MAX_BUF) ||
	    (mode != VHK_AS_GPA && mode != VHK_AS_PLATFORM_IDENTITY &&
	     mode != VHK_AS_IOTLB))
		return -EINVAL;
	m->mode = mode;
	m->fragmented = fragmented;
	ring_len = round_up(ring_size, PAGE);
	buf_len = fragmented ? round_up(buf_size, BLOCK) * 2 : buf_size;
	buf_len = round_up(buf_len ? buf_len : 1, PAGE);
	m->ring_size = ring_len;
	m->buf_size = buf_size;
	m->buf_host_len = buf_len;
	/* guard | ring | guard | buffers | guard */
	m->base_len = PAGE + ring_len + PAGE + buf_len + PAGE;
	p = mmap(NULL, m->base_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	m->base = p;
	m->ring_host = m->base + PAGE;
	m->buf_host = m->ring_host + ring_len + PAGE;
	m->canary = calloc(m->base_len / 8 + 1, 1);
	if (!m->canary) {
		ret = -ENOMEM;
		goto err;
	}
	/*
	 * Everything is a canary except the ring and the mapped buffer bytes.
	 * The mapping starts zeroed, so only canary bytes need writing.
	 */
	memset(m->canary, 0xff, m->base_len / 8 + 1);
	canary_clear_range(m, PAGE, ring_len);
	if (!fragmented)
		canary_clear_range(m, (size_t)(m->buf_host - m->base), buf_size);
	else
		for (size_t off = 0; off < buf_size; off++)
			canary_set(m, base_pos(m, off), false);
	for (pos = 0; pos < m->base_len; pos++) {
		if ((pos % 8) == 0 && m->canary[pos / 8] == 0) {
			pos += 7;
			continue;
		}
		if (canary_is(m, pos))
			m->base[pos] = canary_byte(pos);
	}

	max_regions = 2;
	if (fragmented && mode != VHK_AS_IOTLB)
		max_regions += (unsigned int)buf_size;
	ret = vhk_memtable_new(&m->mt, max_regions);
	if (ret)
		goto err;
	if (mode == VHK_AS_IOTLB) {
		/* Room for one entry per fragmented byte: no eviction. */
		ret = vhk_iotlb_new(&m->iotlb,
				    (size_t)buf_size + VHK_IOTLB_DEFAULT_MAX_ENTRIES);
		if (ret)
			goto err;
	}
	m->as.mode = mode;
	m->as.mt = m->mt;
	m->as.iotlb = m->iotlb;
	m->ring_addr = mode == VHK_AS_IOTLB ? VHK_MOCK_IOVA_RING :
		       VHK_MOCK_UVA_RING;
	ret = map_ring(m);
	if (!ret)
		ret = map_bufs(m);
	if (ret)
		goto err;
	return 0;
err:
	vhk_mockmem_fini(m);
	return ret;
}

void vhk_mockmem_fini(struct vhk_mockmem *m)
{
	vhk_iotlb_free(m->iotlb);
	vhk_memtable_free(m->mt);
	free(m->canary);
	if (m->base)
		munmap(m->base, m->base_len);
	memset(m, 0, sizeof(*m));
}

uint64_t vhk_mockmem_buf_addr(const struct vhk_mockmem *m, size_t off)
{
	return (m->mode == VHK_AS_IOTLB ? VHK_MOCK_IOVA_BUF : VHK_MOCK_GPA_BUF) +
	       off;
}

uint64_t vhk_mockmem_ring_buf_addr(const struct vhk_mockmem *m, size_t off)
{
	return (m->mode == VHK_AS_IOTLB ? VHK_MOCK_IOVA_RING :
		VHK_MOCK_GPA_RING) + off;
}

static void check_range(const struct vhk_mockmem *m, size_t off, size_t n)
{
	if (off > m->buf_size || n > m->buf_size - off) {
		fprintf(stderr, "mockmem: test bug: [%zu, +%zu) outside %zu\n",
			off, n, m->buf_size);
		abort();
	}
}

void vhk_mockmem_write(struct vhk_mockmem *m, size_t off, const void *src,
		       size_t n)
{
	const uint8_t *s = src;

	check_range(m, off, n);
	if (!m->fragmented) {
		memcpy(m->buf_host + off, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		m->buf_host[host_off(m, off + i)] = s[i];
}

void vhk_mockmem_read(const struct vhk_mockmem *m, size_t off, void *dst,
		      size_t n)
{
	uint8_t *d = dst;

	check_range(m, off, n);
	if (!m->fragmented) {
		memcpy(d, m->buf_host + off, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		d[i] = m->buf_host[host_off(m, off + i)];
}

void vhk_mockmem_fill(struct vhk_mockmem *m, size_t off, uint8_t byte,
		      size_t n)
{
	check_range(m, off, n);
	for (size_t i = 0; i < n; i++)
		m->buf_host[host_off(m, off + i)] = byte;
}

void vhk_mockmem_guard(struct vhk_mockmem *m, size_t off, size_t n)
{
	check_range(m, off, n);
	for (size_t i = 0; i < n; i++) {
		size_t pos = base_pos(m, off + i);

		canary_set(m, pos, true);
		m->base[pos] = canary_byte(pos);
	}
}

void vhk_mockmem_unguard(struct vhk_mockmem *m, size_t off, size_t n)
{
	check_range(m, off, n);
	for (size_t i = 0; i < n; i++) {
		size_t pos = base_pos(m, off + i);

		canary_set(m, pos, false);
		m->base[pos] = 0;
	}
}

void *vhk_mockmem_guard_check(const struct vhk_mockmem *m)
{
	for (size_t pos = 0; pos < m->base_len; pos++) {
		if (canary_is(m, pos) && m->base[pos] != canary_byte(pos))
			return m->base + pos;
	}
	return NULL;
}

bool vhk_mockmem_canaries_intact(const struct vhk_mockmem *m)
{
	uint8_t *bad = vhk_mockmem_guard_check(m);
	size_t pos;

	if (!bad)
		return true;
	pos = (size_t)(bad - m->base);
	fprintf(stderr, "mockmem: canary at mapping offset %zu (%s) is 0x%02x, "
		"expected 0x%02x\n", pos,
		bad < m->ring_host ? "before ring" :
		bad < m->buf_host ? "after ring" :
		bad < m->buf_host + m->buf_host_len ? "buffer area" :
		"after buffers", *bad, canary_byte(pos));
	return false;
}

void *vhk_mockmem_buf_host_contig(const struct vhk_mockmem *m, size_t off)
{
	if (m->fragmented || off > m->buf_size)
		return NULL;
	return m->buf_host + off;
}
