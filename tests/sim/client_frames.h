/*
 * client_frames: the headers a test client of the stack writes, byte by
 * byte from the RFCs (RFC 826 ARP, RFC 791 IPv4, RFC 1071 checksum), for
 * the simulator's receiver (receiver.c), the unit tests' fixture
 * (tests/unit/stack/tcp_fixture.h and test_tcp.c) and the stack's fuzz
 * harness (tests/fuzz/fuzz_stack.c), which include it by a relative path.
 * It shares no code with dataplane/stack/, so that a client and the stack
 * cannot agree on a mistake.
 *
 * Header-only, libc only. Addresses are in host order; multi-byte fields
 * are written in network order.
 */
#ifndef SEED_SIM_CLIENT_FRAMES_H
#define SEED_SIM_CLIENT_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CF_ETH_LEN  14
#define CF_IPV4_LEN 20
#define CF_ARP_LEN  42 /* the Ethernet header and the 28-byte ARP packet */

static inline void cf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void cf_put32(uint8_t *p, uint32_t v)
{
	cf_put16(p, (uint16_t)(v >> 16));
	cf_put16(p + 2, (uint16_t)v);
}

/* The Internet checksum (RFC 1071) of p[0..n), ready to store with
 * cf_put16: p with it in place sums to 0xffff. */
static inline uint16_t cf_csum(const uint8_t *p, size_t n)
{
	uint32_t acc = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

/*
 * Writes f[0..CF_ARP_LEN): operation op (1 request, 2 reply) from (sha,
 * spa) for tpa. A request goes to the broadcast address with the target
 * hardware address zero; a reply goes to tha and names it as the target.
 * Bytes of f past the frame (padding to the Ethernet minimum) are the
 * caller's.
 */
static inline void cf_arp(uint8_t *f, uint16_t op, const uint8_t sha[6], uint32_t spa,
			  const uint8_t *tha, uint32_t tpa)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *a = f + CF_ETH_LEN;

	memcpy(f, op == 1 ? bcast : tha, 6);
	memcpy(f + 6, sha, 6);
	cf_put16(f + 12, 0x0806);
	cf_put16(a, 1);		 /* hardware: Ethernet */
	cf_put16(a + 2, 0x0800); /* protocol: IPv4 */
	a[4] = 6;
	a[5] = 4;
	cf_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	cf_put32(a + 14, spa);
	if (op == 1)
		memset(a + 18, 0, 6);
	else
		memcpy(a + 18, tha, 6);
	cf_put32(a + 24, tpa);
}

/* The Ethernet and IPv4 headers of a frame from a client. */
struct cf_ipv4 {
	const uint8_t *dst_mac, *src_mac;
	uint32_t src, dst;
	uint16_t id;
	uint16_t frag; /* flags and fragment offset: 0x4000 is DF */
	uint8_t proto;
};

/*
 * Writes the Ethernet header and a 20-byte IPv4 header (no options, TOS 0,
 * TTL 64, total length 20 + l4_len, a valid header checksum) at f; returns
 * f + CF_ETH_LEN + CF_IPV4_LEN, where the l4_len bytes of h->proto go.
 */
static inline uint8_t *cf_ipv4(uint8_t *f, const struct cf_ipv4 *h, size_t l4_len)
{
	uint8_t *ip = f + CF_ETH_LEN;

	memcpy(f, h->dst_mac, 6);
	memcpy(f + 6, h->src_mac, 6);
	cf_put16(f + 12, 0x0800);
	memset(ip, 0, CF_IPV4_LEN);
	ip[0] = 0x45;
	cf_put16(ip + 2, (uint16_t)(CF_IPV4_LEN + l4_len));
	cf_put16(ip + 4, h->id);
	cf_put16(ip + 6, h->frag);
	ip[8] = 64;
	ip[9] = h->proto;
	cf_put32(ip + 12, h->src);
	cf_put32(ip + 16, h->dst);
	cf_put16(ip + 10, cf_csum(ip, CF_IPV4_LEN));
	return ip + CF_IPV4_LEN;
}

#endif
