/* SPDX-License-Identifier: MIT */
/*
 * netpkt.h - test frame builders and a reference checksum, written
 * independently of src/dev/net (byte-wise big-endian sums, headers built
 * field by field) so that the offload code is checked against something
 * else than itself.
 */
#ifndef VHK_TEST_NETPKT_H
#define VHK_TEST_NETPKT_H

#include <stdint.h>
#include <string.h>

/* RFC 1071 the slow way: big-endian 16-bit words. */
static inline uint32_t ref_sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)(p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static inline uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct tframe {
	int v6;			/* IPv6 instead of IPv4 */
	int udp;		/* UDP instead of TCP */
	uint32_t seq;
	uint16_t ipid;
	uint8_t tcp_flags;
	uint8_t tcp_opts;	/* bytes of TCP options (multiple of 4) */
	const uint8_t *payload;
	size_t plen;
};

/* Pseudo-header sum (RFC 793 / RFC 2460 / RFC 768). */
static inline uint32_t ref_pseudo(const uint8_t *ip, int v6, uint8_t proto,
				  size_t l4len)
{
	uint32_t s = v6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);

	return s + proto + (uint32_t)(l4len & 0xffff) + (uint32_t)(l4len >> 16);
}

/*
 * Build an Ethernet + IP + TCP/UDP frame into @f.  @full_csum: complete
 * L4 checksum; else the field holds the pseudo-header sum (NEEDS_CSUM).
 * Returns the frame length; *@l4 gets the L4 offset.
 */
static inline size_t build_frame(uint8_t *f, const struct tframe *t,
				 int full_csum, size_t *l4out)
{
	static const uint8_t dst[6] = { 0x52, 0x54, 0, 0, 0, 2 };
	static const uint8_t src[6] = { 0x52, 0x54, 0, 0, 0, 1 };
	size_t l3 = 14, l4, hl, len;
	uint8_t *ip = f + l3, *th;
	uint8_t proto = t->udp ? 17 : 6;
	size_t l4h = t->udp ? 8 : 20u + t->tcp_opts;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	wr16(f + 12, t->v6 ? 0x86dd : 0x0800);
	l4 = l3 + (t->v6 ? 40 : 20);
	hl = l4 + l4h;
	len = hl + t->plen;
	if (t->v6) {
		memset(ip, 0, 40);
		ip[0] = 0x60;
		wr16(ip + 4, (uint16_t)(len - l4));
		ip[6] = proto;
		ip[7] = 64;
		for (int i = 0; i < 16; i++) {
			ip[8 + i] = (uint8_t)(0x20 + i);
			ip[24 + i] = (uint8_t)(0x40 + i);
		}
	} else {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		wr16(ip + 2, (uint16_t)(len - l3));
		wr16(ip + 4, t->ipid);
		wr16(ip + 6, 0x4000);	/* DF */
		ip[8] = 64;
		ip[9] = proto;
		wr32(ip + 12, 0x0a000001);
		wr32(ip + 16, 0x0a000002);
		wr16(ip + 10, (uint16_t)~ref_fold(ref_sum(ip, 20, 0)));
	}
	th = f + l4;
	memset(th, 0, l4h);
	wr16(th, 40000);
	wr16(th + 2, 5201);
	if (t->udp) {
		wr16(th + 4, (uint16_t)(len - l4));
	} else {
		wr32(th + 4, t->seq);
		wr32(th + 8, 12345);
		th[12] = (uint8_t)((l4h / 4) << 4);
		th[13] = t->tcp_flags;
		wr16(th + 14, 65535);
		for (size_t i = 20; i < l4h; i++)
			th[i] = 1;	/* NOP options */
	}
	memcpy(f + hl, t->payload, t->plen);
	{
		uint32_t ps = ref_pseudo(ip, t->v6, proto, len - l4);
		uint8_t *cf = th + (t->udp ? 6 : 16);

		if (full_csum) {
			uint16_t c = (uint16_t)~ref_fold(ref_sum(th, len - l4, ps));

			if (t->udp && c == 0)
				c = 0xffff;
			wr16(cf, c);
		} else {
			wr16(cf, ref_fold(ps));
		}
	}
	*l4out = l4;
	return len;
}

/* True if the L4 checksum of a complete frame verifies. */
static inline int l4_csum_ok(const uint8_t *f, size_t len, int v6, int udp,
			     size_t l4)
{
	uint32_t ps = ref_pseudo(f + 14, v6, udp ? 17 : 6, len - l4);

	return ref_fold(ref_sum(f + l4, len - l4, ps)) == 0xffff;
}

#endif /* VHK_TEST_NETPKT_H */
