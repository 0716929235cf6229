/*
 * Unit tests for dataplane/stack/ipv4.c: a captured ping's IPv4 packet
 * (checksum as sent) made wrong one field at a time (version, IHL, total
 * length, checksum, fragment bits), cut short and padded; a header with
 * options; ipv4_build against bytes written out by hand and through
 * ipv4_parse again; the subnet and martian tables. Packets are parsed
 * from heap blocks of exactly their length (a read past one is an
 * AddressSanitizer error).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "exact_copy.h"
#include "csum.h"
#include "ipv4.h"

/* Windows' ping 192.168.1.20 -> 192.168.1.10: TTL 128, id 0x1c46, no DF,
 * an ICMP echo request of 40 bytes. */
static const uint8_t ping[60] = {
	0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x00, 0x00, 0x80, 0x01, 0x9b, 0x0c, 0xc0, 0xa8, 0x01,
	0x14, 0xc0, 0xa8, 0x01, 0x0a, 0x08, 0x00, 0x4d, 0x3a, 0x00, 0x01, 0x00, 0x21, 0x61, 0x62,
	0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71,
	0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
};

static int parse_exact(const uint8_t *p, size_t len, int verify, struct ipv4_view *v,
		       const uint8_t **out_blk)
{
	memset(v, 0, sizeof(*v));
	*out_blk = exact_copy(p, len);
	return ipv4_parse(*out_blk, len, verify, v);
}

Test(ipv4, captured_ping)
{
	const uint8_t *blk;
	struct ipv4_view v;

	cr_assert_eq(parse_exact(ping, sizeof(ping), 1, &v, &blk), 0);
	cr_expect_eq(v.src, 0xc0a80114u);
	cr_expect_eq(v.dst, 0xc0a8010au);
	cr_expect_eq(v.proto, IPV4_PROTO_ICMP);
	cr_expect_eq(v.ttl, 128);
	cr_expect_eq(v.tos, 0);
	cr_expect_eq(v.id, 0x1c46);
	cr_expect_eq(v.hlen, 20);
	cr_expect_eq(v.payload, blk + 20);
	cr_expect_eq(v.len, 40);
	free((void *)blk);
}

/* The ping with bytes v[0..n) written at off, the header checksum made
 * right again when fix, handed over as len bytes (0: 60, EMPTY: none) of a
 * buffer that is zero past the packet. */
#define EMPTY SIZE_MAX
struct variant {
	const char *what;
	size_t off;
	uint8_t v[4];
	size_t n;
	int fix;
	size_t len;
	int verify;
	int rc;
	size_t hlen, plen; /* when rc is 0 */
};

static void check_variants(const struct variant *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t p[80] = { 0 };
		size_t len = c[i].len == EMPTY ? 0 : c[i].len ? c[i].len : sizeof(ping), hl;
		const uint8_t *blk;
		struct ipv4_view v;
		int rc;

		memcpy(p, ping, sizeof(ping));
		memcpy(p + c[i].off, c[i].v, c[i].n);
		hl = (size_t)(p[0] & 15) * 4;
		if (c[i].fix && hl >= 20) {
			p[10] = p[11] = 0;
			uint16_t ck = csum_buf(p, hl);

			p[10] = (uint8_t)(ck >> 8);
			p[11] = (uint8_t)ck;
		}
		rc = parse_exact(p, len, c[i].verify, &v, &blk);
		cr_expect_eq(rc, c[i].rc, "%s: rc %d, want %d", c[i].what, rc, c[i].rc);
		if (rc == 0) {
			cr_expect_eq(v.hlen, c[i].hlen, "%s: hlen %zu", c[i].what, v.hlen);
			cr_expect_eq(v.len, c[i].plen, "%s: len %zu", c[i].what, v.len);
			cr_expect_eq(v.payload, blk + c[i].hlen, "%s: payload", c[i].what);
		}
		free((void *)blk);
	}
}

Test(ipv4, each_check)
{
	TU_TABLE(
		check_variants, struct variant, { "as captured", 0, { 0 }, 0, 0, 0, 1, 0, 20, 40 },
		{ "19 bytes", 0, { 0 }, 0, 0, 19, 1, -EBADMSG },
		{ "1 byte", 0, { 0 }, 0, 0, 1, 1, -EBADMSG },
		{ "0 bytes", 0, { 0 }, 0, 0, EMPTY, 1, -EBADMSG },
		{ "version 6", 0, { 0x65 }, 1, 1, 0, 1, -EBADMSG },
		{ "version 0", 0, { 0x05 }, 1, 1, 0, 1, -EBADMSG },
		{ "version 15", 0, { 0xf5 }, 1, 1, 0, 0, -EBADMSG },
		{ "IHL 4", 0, { 0x44 }, 1, 1, 0, 1, -EBADMSG },
		{ "IHL 0", 0, { 0x40 }, 1, 1, 0, 0, -EBADMSG },
		{ "IHL 15 past a 40-byte packet", 0, { 0x4f }, 1, 1, 40, 1, -EBADMSG },
		{ "IHL 6 past a 23-byte packet", 0, { 0x46 }, 1, 1, 23, 1, -EBADMSG },
		{ "IHL 15, all header", 0, { 0x4f }, 1, 1, 0, 1, 0, 60, 0 },
		{ "total length 19", 2, { 0x00, 0x13 }, 2, 1, 0, 1, -EBADMSG },
		{ "total length 0", 2, { 0x00, 0x00 }, 2, 1, 0, 0, -EBADMSG },
		{ "total length below IHL*4", 0, { 0x46, 0x00, 0x00, 0x16 }, 4, 1, 0, 1, -EBADMSG },
		{ "total length 20", 2, { 0x00, 0x14 }, 2, 1, 0, 1, 0, 20, 0 },
		{ "total length past the frame", 2, { 0x00, 0x3d }, 2, 1, 0, 1, -EBADMSG },
		{ "total length 65535", 2, { 0xff, 0xff }, 2, 1, 0, 1, -EBADMSG },
		{ "frame cut short", 0, { 0 }, 0, 0, 59, 1, -EBADMSG },
		{ "padding cut", 0, { 0 }, 0, 0, 66, 1, 0, 20, 40 },
		{ "padding after a short packet", 2, { 0x00, 0x1c }, 2, 1, 60, 1, 0, 20, 8 },
		{ "bad checksum", 10, { 0x9b, 0x0d }, 2, 0, 0, 1, -EILSEQ },
		{ "bad checksum, NIC checked", 10, { 0x9b, 0x0d }, 2, 0, 0, 0, 0, 20, 40 },
		{ "a flipped address bit", 19, { 0x0b }, 1, 0, 0, 1, -EILSEQ },
		{ "checksum before fragment", 6, { 0x20, 0x00 }, 2, 0, 0, 1, -EILSEQ },
		{ "MF", 6, { 0x20, 0x00 }, 2, 1, 0, 1, -EMSGSIZE },
		{ "MF and DF", 6, { 0x60, 0x00 }, 2, 1, 0, 1, -EMSGSIZE },
		{ "offset 1", 6, { 0x00, 0x01 }, 2, 1, 0, 1, -EMSGSIZE },
		{ "last fragment", 6, { 0x1f, 0xff }, 2, 1, 0, 0, -EMSGSIZE },
		{ "DF", 6, { 0x40, 0x00 }, 2, 1, 0, 1, 0, 20, 40 },
		{ "reserved flag", 6, { 0x80, 0x00 }, 2, 1, 0, 1, 0, 20, 40 });
}

/* IHL 6: NOP NOP NOP EOL, skipped; the payload is the 4 bytes after. */
Test(ipv4, options_are_skipped)
{
	static const uint8_t pkt[28] = {
		0x46, 0x10, 0x00, 0x1c, 0xab, 0xcd, 0x40, 0x00, 0x40, 0x06, 0x77, 0xfb, 0x0a, 0x00,
		0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef,
	};
	const uint8_t *blk;
	struct ipv4_view v;

	cr_assert_eq(parse_exact(pkt, sizeof(pkt), 1, &v, &blk), 0);
	cr_expect_eq(v.hlen, 24);
	cr_expect_eq(v.len, 4);
	cr_expect_eq(v.payload, blk + 24);
	cr_expect_eq(v.payload[0], 0xde);
	cr_expect_eq(v.tos, 0x10);
	cr_expect_eq(v.proto, IPV4_PROTO_TCP);
	cr_expect_eq(v.src, 0x0a000001u);
	free((void *)blk);
}

Test(ipv4, build_against_bytes)
{
	static const uint8_t want[20] = {
		0x45, 0x00, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06,
		0xa5, 0x2d, 0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8, 0x01, 0x14,
	};
	uint8_t h[22];

	memset(h, 0xa5, sizeof(h));
	ipv4_build(h, 0xc0a8010au, 0xc0a80114u, IPV4_PROTO_TCP, 40, 0x1234, 1);
	cr_expect_arr_eq(h, want, 20);
	cr_expect_eq(h[20], 0xa5, "wrote past the header");
	ipv4_build(h, 0xc0a8010au, 0xc0a80114u, IPV4_PROTO_TCP, 40, 0x1234, 0);
	cr_expect_eq(h[10], 0, "the NIC's checksum field");
	cr_expect_eq(h[11], 0);
	cr_expect_arr_eq(h + 12, want + 12, 8);
}

struct built {
	uint32_t src, dst;
	uint8_t proto;
	uint16_t total, id;
};

static void check_round_trip(const struct built *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = calloc(1, c[i].total);
		struct ipv4_view v;

		cr_assert_not_null(p);
		ipv4_build(p, c[i].src, c[i].dst, c[i].proto, c[i].total, c[i].id, 1);
		cr_expect_eq(csum_buf(p, IPV4_HDR_LEN), 0, "case %zu: header sum", i);
		cr_assert_eq(ipv4_parse(p, c[i].total, 1, &v), 0, "case %zu", i);
		cr_expect_eq(v.src, c[i].src, "case %zu", i);
		cr_expect_eq(v.dst, c[i].dst, "case %zu", i);
		cr_expect_eq(v.proto, c[i].proto, "case %zu", i);
		cr_expect_eq(v.id, c[i].id, "case %zu", i);
		cr_expect_eq(v.ttl, IPV4_DEFAULT_TTL, "case %zu", i);
		cr_expect_eq(v.hlen, IPV4_HDR_LEN, "case %zu", i);
		cr_expect_eq(v.len, c[i].total - IPV4_HDR_LEN, "case %zu", i);
		free(p);
	}
}

Test(ipv4, build_then_parse)
{
	TU_TABLE(check_round_trip, struct built, { 0xc0a8010a, 0xc0a80114, 6, 40, 0x1234 },
		 { 0x0a000001, 0x0a000002, 1, 20, 0 }, { 0xffffffff, 0xffffffff, 17, 1500, 0xffff },
		 { 0, 0, 6, 65535, 0x8000 }, { 0x01020304, 0xfedcba98, 255, 21, 1 });
}

struct subnet {
	uint32_t a, b;
	uint8_t prefix;
	int same;
};

static void check_subnets(const struct subnet *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(ipv4_same_subnet(c[i].a, c[i].b, c[i].prefix), c[i].same,
			     "%08x %08x /%u", c[i].a, c[i].b, c[i].prefix);
}

Test(ipv4, same_subnet)
{
	TU_TABLE(check_subnets, struct subnet, { 0xc0a8010a, 0xc0a80114, 24, 1 },
		 { 0xc0a8010a, 0xc0a80214, 24, 0 }, { 0xc0a8010a, 0xc0a80214, 16, 1 },
		 { 0xc0a8010a, 0x0a000001, 0, 1 }, { 0xc0a8010a, 0xc0a8010a, 32, 1 },
		 { 0xc0a8010a, 0xc0a8010b, 32, 0 }, { 0xc0a8010a, 0xc0a8010b, 31, 1 },
		 { 0xc0a8010a, 0xc0a8010c, 30, 0 }, { 0xc0a8010a, 0xc0a8010b, 30, 1 },
		 { 0x80000000, 0x00000000, 1, 0 }, { 0x7fffffff, 0x00000000, 1, 1 },
		 { 0xc0a8010a, 0xc0a8010b, 40, 0 });
}

struct martian {
	uint32_t a;
	int martian;
};

static void check_martians(const struct martian *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(ipv4_is_martian(c[i].a), c[i].martian, "%08x", c[i].a);
}

Test(ipv4, martians)
{
	TU_TABLE(check_martians, struct martian, { 0x00000000, 1 }, { 0x00ffffff, 1 },
		 { 0x01000000, 0 }, { 0x7f000001, 1 }, { 0x7fffffff, 1 }, { 0x80000000, 0 },
		 { 0x7e000001, 0 }, { 0xdfffffff, 0 }, { 0xe0000001, 1 }, { 0xefffffff, 1 },
		 { 0xf0000000, 1 }, { 0xffffffff, 1 }, { 0xc0a8010a, 0 }, { 0x0a000001, 0 });
}
