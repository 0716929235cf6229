/*
 * Unit tests for dataplane/stack/eth.c: frames written out by hand (IPv4,
 * ARP, truncated, 802.1Q and 802.1ad tags, 802.3 length fields at and
 * around the 0x0600 boundary), each parsed from a heap block of exactly
 * its length so a read past it is an AddressSanitizer error; the
 * broadcast and "for me" address tests; build against the bytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "exact_copy.h"
#include "eth.h"

static const uint8_t mine[ETH_ADDR_LEN] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

struct frame_case {
	const char *what;
	uint8_t b[20];
	size_t len;
	int rc;
	uint16_t type;
};

/* dst 02:00:00:00:00:01, src 52:54:00:12:34:56, then type and payload */
#define HDR(t0, t1) 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, t0, t1

static void check_frames(const struct frame_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *f = exact_copy(c[i].b, c[i].len);
		struct eth_view v;
		int rc;

		memset(&v, 0, sizeof(v));
		rc = eth_parse(f, c[i].len, &v);
		cr_expect_eq(rc, c[i].rc, "%s: rc %d, want %d", c[i].what, rc, c[i].rc);
		if (rc == 0) {
			cr_expect_eq(v.type, c[i].type, "%s: type %04x", c[i].what, v.type);
			cr_expect_eq(v.dst, f, "%s: dst", c[i].what);
			cr_expect_eq(v.src, f + 6, "%s: src", c[i].what);
			cr_expect_eq(v.payload, f + ETH_HDR_LEN, "%s: payload", c[i].what);
			cr_expect_eq(v.len, c[i].len - ETH_HDR_LEN, "%s: len %zu", c[i].what,
				     v.len);
		}
		free(f);
	}
}

Test(eth, parse_table)
{
	TU_TABLE(check_frames, struct frame_case,
		 { "ipv4", { HDR(0x08, 0x00), 0x45, 0x00, 0x00, 0x14 }, 18, 0, ETH_TYPE_IPV4 },
		 { "arp", { HDR(0x08, 0x06), 0x00, 0x01 }, 16, 0, ETH_TYPE_ARP },
		 { "ipv6", { HDR(0x86, 0xdd) }, 14, 0, ETH_TYPE_IPV6 },
		 { "header alone", { HDR(0x08, 0x00) }, 14, 0, ETH_TYPE_IPV4 },
		 { "lowest ethertype", { HDR(0x06, 0x00) }, 14, 0, 0x0600 },
		 { "13 bytes", { HDR(0x08, 0x00) }, 13, -EBADMSG, 0 },
		 { "6 bytes", { HDR(0x08, 0x00) }, 6, -EBADMSG, 0 },
		 { "empty", { 0 }, 0, -EBADMSG, 0 },
		 { "802.1Q tag",
		   { HDR(0x81, 0x00), 0x00, 0x05, 0x08, 0x00, 0x45, 0x00 },
		   20,
		   -EPROTONOSUPPORT,
		   0 },
		 { "802.1ad tag",
		   { HDR(0x88, 0xa8), 0x00, 0x05, 0x81, 0x00 },
		   18,
		   -EPROTONOSUPPORT,
		   0 },
		 { "old QinQ tag", { HDR(0x91, 0x00), 0x00, 0x05 }, 16, -EPROTONOSUPPORT, 0 },
		 { "802.3 length 46",
		   { HDR(0x00, 0x2e), 0xaa, 0xaa, 0x03 },
		   17,
		   -EPROTONOSUPPORT,
		   0 },
		 { "802.3 length 1500", { HDR(0x05, 0xdc) }, 14, -EPROTONOSUPPORT, 0 },
		 { "undefined 0x05ff", { HDR(0x05, 0xff) }, 14, -EPROTONOSUPPORT, 0 },
		 { "length 0", { HDR(0x00, 0x00) }, 14, -EPROTONOSUPPORT, 0 });
}

struct addr_case {
	uint8_t a[ETH_ADDR_LEN];
	int broadcast, for_me;
};

static void check_addrs(const struct addr_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(eth_is_broadcast(c[i].a), c[i].broadcast, "case %zu broadcast", i);
		cr_expect_eq(eth_is_for(c[i].a, mine), c[i].for_me, "case %zu for me", i);
	}
}

Test(eth, broadcast_and_for_me)
{
	TU_TABLE(check_addrs, struct addr_case, { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 1, 1 },
		 { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }, 0, 1 },
		 { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 }, 0, 0 },
		 { { 0x03, 0x00, 0x00, 0x00, 0x00, 0x01 }, 0, 0 },
		 { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe }, 0, 0 },
		 { { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff }, 0, 0 },
		 /* multicast is not joined */
		 { { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 }, 0, 0 },
		 { { 0x33, 0x33, 0x00, 0x00, 0x00, 0x01 }, 0, 0 },
		 { { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, 0, 0 });
}

Test(eth, build_writes_exactly_the_header)
{
	static const uint8_t src[ETH_ADDR_LEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t want[ETH_HDR_LEN] = { HDR(0x08, 0x06) };
	uint8_t buf[ETH_HDR_LEN + 2];
	struct eth_view v;

	memset(buf, 0xa5, sizeof(buf));
	eth_build(buf, mine, src, ETH_TYPE_ARP);
	cr_expect_arr_eq(buf, want, ETH_HDR_LEN);
	cr_expect_eq(buf[ETH_HDR_LEN], 0xa5, "wrote past the header");
	cr_expect_eq(buf[ETH_HDR_LEN + 1], 0xa5, "wrote past the header");
	cr_assert_eq(eth_parse(buf, sizeof(buf), &v), 0);
	cr_expect_eq(v.type, ETH_TYPE_ARP);
	cr_expect_eq(v.len, 2);
}
