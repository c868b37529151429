/* SPDX-License-Identifier: MIT */
/*
 * fuzz_iotlb.c - libFuzzer target for the device IOTLB (src/mem/iotlb.c),
 * its per-queue cache and the host-window cache of vhk_as_translate()
 * (src/mem/as.c), checked against a reference model: a sorted list of
 * intervals plus a list of outstanding misses.  Any divergence traps.
 *
 * Input layout (missing bytes read as zero):
 *   [0]     bits 0-1: address base (0, 2^32 - 32 KiB, 2^64 - 32 KiB,
 *           2^64 - 64 KiB: the last two make ranges wrap)
 *   then    operations, 1 opcode byte + fixed arguments each:
 *     0 UPDATE      iova16 size16 uva16 perm8       (size 0 / bad perm
 *                                                     must be refused)
 *     1 INVALIDATE  iova16 size16                   (size 0 = flush)
 *     2 LOOKUP      iova16 len16 perm8 cache8
 *     3 MISS_NOTE   iova16 perm8 stamp8
 *     4 TRANSLATE   iova16 len16 perm8 cache8        (vhk_as_translate)
 *     5 FLUSH
 *     6 MEMTABLE    slot8                            (add / remove a region)
 *     7 MISS_CHECK                                   (oldest, count)
 *   (opcode % 8; cache8 % 3: none, cache A, cache B)
 * IOVAs are base + iova16; UVAs are UVA_BASE + uva16, so they fall in,
 * across and out of the small memory table (4 fixed slots of host memory).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vhostkit/as.h"
#include "vhostkit/iotlb.h"
#include "vhostkit/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define check(cond)	do { if (!(cond)) __builtin_trap(); } while (0)

#define UVA_BASE	0x100000ull
#define MAX_OPS		256
#define MAX_FRAGS	(4 * MAX_OPS + 8)
#define MAX_MISS	(MAX_OPS + 8)
#define NSLOTS		4
/* Model stamp of a miss noted by vhk_as_translate() (a clock reading,
 * later than any stamp the input gives, which are < 256). */
#define CLOCK_STAMP	UINT64_MAX

/* Memory table slots: uva offset, size (host memory is one buffer). */
static const struct { uint64_t off, size; } slots[NSLOTS] = {
	{ 0x0000, 0x3000 },
	{ 0x3000, 0x1000 },	/* adjacent to slot 0 in UVA and host */
	{ 0x6000, 0x2000 },
	{ 0xc000, 0x4000 },
};
static uint8_t host_mem[0x10000];

struct frag {
	uint64_t first, last, uva;
	uint8_t perm;
};

struct mmiss {
	uint64_t iova, page, stamp;
	uint8_t perm;
};

struct model {
	struct frag f[MAX_FRAGS];
	unsigned int nf;
	struct mmiss m[MAX_MISS];
	unsigned int nm;
	bool slot_on[NSLOTS];
};

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (in->n) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static bool wraps(uint64_t a, uint64_t len)
{
	return len != 0 && a + (len - 1) < a;
}

/* Remove [first, last] from the model, splitting fragments. */
static void model_carve(struct model *md, uint64_t first, uint64_t last)
{
	struct frag out[MAX_FRAGS];
	unsigned int n = 0;

	for (unsigned int i = 0; i < md->nf; i++) {
		struct frag f = md->f[i];

		if (f.last < first || f.first > last) {
			out[n++] = f;
			continue;
		}
		if (f.first < first) {
			struct frag l = f;

			l.last = first - 1;
			out[n++] = l;
		}
		if (f.last > last) {
			struct frag r = f;

			r.first = last + 1;
			r.uva = f.uva + (last + 1 - f.first);
			out[n++] = r;
		}
	}
	check(n <= MAX_FRAGS);
	memcpy(md->f, out, n * sizeof(out[0]));
	md->nf = n;
}

static void model_insert(struct model *md, const struct frag *nf)
{
	unsigned int i = 0;

	check(md->nf < MAX_FRAGS);
	while (i < md->nf && md->f[i].first < nf->first)
		i++;
	memmove(&md->f[i + 1], &md->f[i], (md->nf - i) * sizeof(md->f[0]));
	md->f[i] = *nf;
	md->nf++;
}

static const struct frag *model_find(const struct model *md, uint64_t iova)
{
	for (unsigned int i = 0; i < md->nf; i++)
		if (md->f[i].first <= iova && iova <= md->f[i].last)
			return &md->f[i];
	return NULL;
}

/* Expected vhk_iotlb_lookup(): 0 / -ENOENT / -EACCES, uva, len. */
static int model_lookup(const struct model *md, uint64_t iova, uint8_t perm,
			uint64_t want, uint64_t *uva, uint64_t *len)
{
	const struct frag *f = model_find(md, iova);
	uint64_t avail;

	if (!f)
		return -ENOENT;
	if ((f->perm & perm) != perm)
		return -EACCES;
	avail = f->last - iova + 1;
	*len = (avail != 0 && want > avail) ? avail : want;
	*uva = f->uva + (iova - f->first);
	return 0;
}

/* Host pointer of @uva in the model's memory table, and bytes left in
 * its slot; NULL if unmapped. */
static uint8_t *model_host(const struct model *md, uint64_t uva,
			   uint64_t *left)
{
	for (unsigned int s = 0; s < NSLOTS; s++) {
		uint64_t a = UVA_BASE + slots[s].off;

		if (!md->slot_on[s] || uva < a || uva - a >= slots[s].size)
			continue;
		*left = slots[s].size - (uva - a);
		return host_mem + slots[s].off + (uva - a);
	}
	return NULL;
}

static void model_miss_clear(struct model *md, uint64_t first, uint64_t last,
			     uint8_t perm)
{
	unsigned int j = 0;

	for (unsigned int i = 0; i < md->nm; i++) {
		const struct mmiss *m = &md->m[i];

		if (m->iova >= first && m->iova <= last &&
		    (perm & m->perm) == m->perm)
			continue;
		md->m[j++] = *m;
	}
	md->nm = j;
}

static int model_miss_note(struct model *md, uint64_t iova, uint8_t perm,
			   uint64_t stamp)
{
	uint64_t page = iova & ~((uint64_t)VHK_IOTLB_MISS_PAGE - 1);

	for (unsigned int i = 0; i < md->nm; i++)
		if (md->m[i].page == page && md->m[i].perm == perm)
			return 0;
	if (md->nm >= VHK_IOTLB_MAX_MISSES)
		return -ENOSPC;
	check(md->nm < MAX_MISS);
	md->m[md->nm].iova = iova;
	md->m[md->nm].page = page;
	md->m[md->nm].perm = perm;
	md->m[md->nm].stamp = stamp ? stamp : 1;
	md->nm++;
	return 1;
}

static void check_misses(const struct model *md, const struct vhk_iotlb *tlb)
{
	const struct mmiss *best = NULL;
	uint64_t iova = 0, st;
	uint8_t perm = 0;
	bool clock = false;

	check(vhk_iotlb_miss_count(tlb) == md->nm);
	for (unsigned int i = 0; i < md->nm; i++)
		if (!best || md->m[i].stamp < best->stamp)
			best = &md->m[i];
	st = vhk_iotlb_miss_oldest(tlb, &iova, &perm);
	if (!best) {
		check(st == 0);
		return;
	}
	if (best->stamp == CLOCK_STAMP) {
		check(st > 255);
		clock = true;
	} else {
		check(st == best->stamp);
	}
	/* Equal stamps: any of them is the oldest. */
	for (unsigned int i = 0; i < md->nm; i++)
		if (md->m[i].stamp == (clock ? CLOCK_STAMP : st) &&
		    md->m[i].iova == iova && md->m[i].perm == perm)
			return;
	check(0);
}

static void set_slot(struct vhk_memtable *mt, struct model *md,
		     unsigned int s, bool on)
{
	uint64_t uva = UVA_BASE + slots[s].off;
	/* GPA space is unused in IOTLB mode; keep it disjoint. */
	uint64_t gpa = 0x1000000ull * (s + 1);
	int r;

	if (on)
		r = vhk_memtable_add_host(mt, gpa, slots[s].size, uva,
					  host_mem + slots[s].off);
	else
		r = vhk_memtable_remove(mt, gpa, slots[s].size, uva);
	check(r == 0);
	md->slot_on[s] = on;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	vhk_log_set_level(VHK_LOG_ERR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bases[4] = {
		0, (1ull << 32) - 0x8000, 0 - 0x8000ull, 0 - 0x10000ull,
	};
	static struct model md;
	struct in in = { data, size };
	struct vhk_iotlb *tlb = NULL;
	struct vhk_memtable *mt = NULL;
	struct vhk_iotlb_cache caches[4];	/* lookups: A, B; translates: C, D */
	struct vhk_as as;
	uint64_t base;

	memset(&md, 0, sizeof(md));
	memset(caches, 0, sizeof(caches));
	base = bases[take(&in, 1) & 3];
	check(vhk_iotlb_new(&tlb, 0) == 0);
	check(vhk_memtable_new(&mt, NSLOTS) == 0);
	for (unsigned int s = 0; s < NSLOTS; s++)
		if (s != 2)
			set_slot(mt, &md, s, true);
	memset(&as, 0, sizeof(as));
	as.mode = VHK_AS_IOTLB;
	as.mt = mt;
	as.iotlb = tlb;

	for (unsigned int op = 0; op < MAX_OPS && in.n; op++) {
		uint8_t code = (uint8_t)take(&in, 1) % 8;

		switch (code) {
		case 0: {	/* UPDATE */
			uint64_t iova = base + take(&in, 2);
			uint64_t sz = take(&in, 2);
			uint64_t uva = UVA_BASE + take(&in, 2);
			uint8_t perm = (uint8_t)take(&in, 1) & 7;
			bool bad = sz == 0 || wraps(iova, sz) ||
				   (perm != VHK_PERM_RO &&
				    perm != VHK_PERM_WO &&
				    perm != VHK_PERM_RW);
			int r = vhk_iotlb_update(tlb, iova, sz, uva, perm);

			if (bad) {
				check(r == -EINVAL);
				break;
			}
			check(r == 0);
			struct frag f = {
				iova, iova + (sz - 1), uva, perm,
			};
			model_carve(&md, f.first, f.last);
			model_insert(&md, &f);
			model_miss_clear(&md, f.first, f.last, perm);
			break;
		}
		case 1: {	/* INVALIDATE */
			uint64_t iova = base + take(&in, 2);
			uint64_t sz = take(&in, 2);
			int r = vhk_iotlb_invalidate(tlb, iova, sz);

			if (sz == 0) {
				check(r == 0);
				md.nf = 0;
				md.nm = 0;
			} else if (wraps(iova, sz)) {
				check(r == -EINVAL);
			} else {
				check(r == 0);
				model_carve(&md, iova, iova + (sz - 1));
			}
			break;
		}
		case 2: {	/* LOOKUP */
			uint64_t iova = base + take(&in, 2);
			uint64_t want = take(&in, 2) + 1;
			uint8_t perm = (uint8_t)(1 + take(&in, 1) % 3);
			unsigned int ci = (unsigned int)take(&in, 1) % 3;
			uint64_t uva = 0, len = want, euva = 0, elen = 0;
			int r, er;

			r = vhk_iotlb_lookup(tlb, iova, perm, &uva, &len,
					     ci ? &caches[ci - 1] : NULL);
			er = model_lookup(&md, iova, perm, want, &euva, &elen);
			check(r == er);
			if (r == 0)
				check(uva == euva && len == elen);
			break;
		}
		case 3: {	/* MISS_NOTE */
			uint64_t iova = base + take(&in, 2);
			uint8_t perm = (uint8_t)(1 + take(&in, 1) % 3);
			uint64_t stamp = take(&in, 1);
			int r = vhk_iotlb_miss_note(tlb, iova, perm, stamp);

			check(r == model_miss_note(&md, iova, perm, stamp));
			break;
		}
		case 4: {	/* TRANSLATE through the address space */
			uint64_t iova = base + take(&in, 2);
			uint64_t want = take(&in, 2) + 1;
			uint8_t perm = (uint8_t)(1 + take(&in, 1) % 3);
			unsigned int ci = (unsigned int)take(&in, 1) % 3;
			uint64_t len = want, euva = 0, elen = 0, left = 0;
			void *host = NULL;
			uint8_t *eh;
			int r, er;

			r = vhk_as_translate(&as, iova, &len, perm, &host,
					     ci ? &caches[ci + 1] : NULL);
			if (wraps(iova, want)) {
				check(r == -EFAULT);
				break;
			}
			er = model_lookup(&md, iova, perm, want, &euva, &elen);
			if (er == -ENOENT) {
				check(r == -EAGAIN);
				/* The miss was noted, stamped with the
				 * clock (check_misses() knows) - in the
				 * shared record without a queue cache, in
				 * the queue's own record with one. */
				if (!ci)
					(void)model_miss_note(&md, iova, perm,
							      CLOCK_STAMP);
				else
					check(vhk_iotlb_qmiss_oldest(
						&caches[ci + 1], NULL, NULL));
				break;
			}
			if (er) {
				check(r == er);
				break;
			}
			eh = model_host(&md, euva, &left);
			if (!eh) {
				check(r == -EFAULT);
				break;
			}
			check(r == 0);
			if (elen > left)
				elen = left;
			check(host == eh && len == elen);
			break;
		}
		case 5:		/* FLUSH */
			vhk_iotlb_flush(tlb);
			md.nf = 0;
			md.nm = 0;
			break;
		case 6: {	/* MEMTABLE add / remove */
			unsigned int s = (unsigned int)take(&in, 1) % NSLOTS;

			set_slot(mt, &md, s, !md.slot_on[s]);
			break;
		}
		case 7:
			break;
		}
		check(vhk_iotlb_count(tlb) == md.nf);
		check_misses(&md, tlb);
	}
	/* Every translation, uncached, once more at the end. */
	for (unsigned int i = 0; i < md.nf; i++) {
		uint64_t uva = 0, len = 1;

		check(vhk_iotlb_lookup(tlb, md.f[i].first, md.f[i].perm, &uva,
				       &len, NULL) == 0);
		check(uva == md.f[i].uva && len == 1);
	}
	vhk_memtable_free(mt);
	vhk_iotlb_free(tlb);
	return 0;
}
