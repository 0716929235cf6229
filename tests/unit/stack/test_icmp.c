/*
 * Unit tests for dataplane/stack/icmp.c: a captured echo request and its
 * reply header against bytes computed apart from this code; echo replies
 * to requests of every payload length (odd ones too) and to requests whose
 * checksum sits at the values where RFC 1624's adjustment can go wrong,
 * each checked by summing reply header and payload to 0; "fragmentation
 * needed" with its quoted header, short or wrong quotes; truncated
 * messages and bad checksums. Messages are parsed from heap blocks of
 * exactly their length (a read past one is an AddressSanitizer error).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "exact_copy.h"
#include "csum.h"
#include "icmp.h"

/* Windows' ping: echo request, id 1, sequence 0x21, 32 bytes of
 * "abcdefghijklmnopqrstuvwabcdefghi"; checksum 0x4d3a as captured. */
static const uint8_t echo_req[40] = {
	0x08, 0x00, 0x4d, 0x3a, 0x00, 0x01, 0x00, 0x21, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
	0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74,
	0x75, 0x76, 0x77, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
};

static int parse_exact(const uint8_t *p, size_t len, int verify, struct icmp_view *v,
		       const uint8_t **out_blk)
{
	memset(v, 0xa5, sizeof(*v));
	*out_blk = exact_copy(p, len);
	return icmp_parse(*out_blk, len, verify, v);
}

/* The reply header h and the request's payload sum to 0: a valid reply. */
static void expect_valid_reply(const uint8_t *h, const uint8_t *req, size_t len)
{
	struct csum c;

	csum_init(&c);
	csum_feed(&c, h, ICMP_HDR_LEN);
	csum_feed(&c, req + ICMP_HDR_LEN, len - ICMP_HDR_LEN);
	cr_expect_eq(csum_final(&c), 0, "reply to a %zu-byte request: checksum %02x%02x", len, h[2],
		     h[3]);
	cr_expect_eq(h[0], ICMP_ECHO_REPLY);
	cr_expect_eq(h[1], req[1]);
	cr_expect_arr_eq(h + 4, req + 4, 4, "identifier and sequence");
}

Test(icmp, captured_echo_request_and_its_reply)
{
	static const uint8_t want[8] = { 0x00, 0x00, 0x55, 0x3a, 0x00, 0x01, 0x00, 0x21 };
	const uint8_t *blk;
	struct icmp_view v;
	uint8_t h[10];

	cr_assert_eq(parse_exact(echo_req, sizeof(echo_req), 1, &v, &blk), 0);
	cr_expect_eq(v.type, ICMP_ECHO_REQUEST);
	cr_expect_eq(v.code, 0);
	cr_expect_eq(v.body, blk + 8);
	cr_expect_eq(v.len, 32);
	cr_expect_eq(v.next_mtu, 0);
	cr_expect_null(v.quoted);
	cr_expect_eq(v.quoted_len, 0);
	memset(h, 0xa5, sizeof(h));
	cr_assert_eq(icmp_echo_reply_hdr(h, blk, sizeof(echo_req)), 8);
	cr_expect_arr_eq(h, want, 8);
	cr_expect_eq(h[8], 0xa5, "wrote past the header");
	expect_valid_reply(h, blk, sizeof(echo_req));
	free((void *)blk);
}

/* A request of len bytes (payload from tu_rnd) with a correct checksum. */
static uint8_t *make_request(size_t len)
{
	uint8_t *r = tu_random_buf(len);

	r[0] = ICMP_ECHO_REQUEST;
	r[1] = 0;
	r[2] = r[3] = 0;
	uint16_t ck = csum_buf(r, len);

	r[2] = (uint8_t)(ck >> 8);
	r[3] = (uint8_t)ck;
	return r;
}

Test(icmp, echo_reply_for_every_length)
{
	tu_seed(792);
	for (size_t len = 8; len < 1600; len += len < 80 ? 1 : 37) {
		uint8_t *r = make_request(len), h[8];

		cr_assert_eq(csum_buf(r, len), 0);
		cr_assert_eq(icmp_echo_reply_hdr(h, r, len), 8);
		expect_valid_reply(h, r, len);
		/* in place, as a transmitter that reuses the frame would */
		uint8_t *copy = exact_copy(r, len);

		cr_assert_eq(icmp_echo_reply_hdr(copy, copy, len), 8);
		cr_expect_arr_eq(copy, h, 8, "in place, len %zu", len);
		free(copy);
		free(r);
	}
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Requests carrying checksum ck: an echo request id 0x1234 seq 1 whose
 * 2-byte payload is chosen to make the checksum come out at ck. */
static void check_request_checksums(const uint16_t *ck, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t r[10] = { 0x08, 0x00, (uint8_t)(ck[i] >> 8), (uint8_t)ck[i], 0x12, 0x34,
				  0x00, 0x01 };
		uint16_t s0 = fold(0x0800u + 0x1234u + 0x0001u);
		uint16_t w = fold((uint32_t)(uint16_t)~ck[i] + (uint16_t)~s0);
		uint8_t hb[8];

		r[8] = (uint8_t)(w >> 8);
		r[9] = (uint8_t)w;
		cr_assert_eq(csum_buf(r, sizeof(r)), 0, "request with checksum %04x", ck[i]);
		cr_assert_eq(icmp_echo_reply_hdr(hb, r, sizeof(r)), 8);
		expect_valid_reply(hb, r, sizeof(r));
	}
}

Test(icmp, echo_reply_at_checksum_edges)
{
	TU_TABLE(check_request_checksums, uint16_t, 0x0000, 0xffff, 0xf7ff, 0xf800, 0x0800, 0x07ff,
		 0xfffe, 0x0001, 0x7fff, 0x8000);
}

Test(icmp, echo_reply_of_a_short_message_writes_nothing)
{
	uint8_t h[8];

	memset(h, 0xa5, sizeof(h));
	for (size_t len = 0; len < 8; len++) {
		cr_expect_eq(icmp_echo_reply_hdr(h, echo_req, len), 0, "len %zu", len);
		cr_expect_eq(h[0], 0xa5);
	}
}

struct bad {
	const char *what;
	size_t len;
	size_t flip; /* a byte to change, or SIZE_MAX */
	int verify, rc;
};

static void check_bad(const struct bad *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t p[40];
		const uint8_t *blk;
		struct icmp_view v;
		int rc;

		memcpy(p, echo_req, sizeof(p));
		if (c[i].flip != SIZE_MAX)
			p[c[i].flip] ^= 0x01;
		rc = parse_exact(p, c[i].len, c[i].verify, &v, &blk);
		cr_expect_eq(rc, c[i].rc, "%s: rc %d, want %d", c[i].what, rc, c[i].rc);
		free((void *)blk);
	}
}

Test(icmp, truncated_and_bad_checksums)
{
	TU_TABLE(check_bad, struct bad, { "empty", 0, SIZE_MAX, 1, -EBADMSG },
		 { "4 bytes", 4, SIZE_MAX, 1, -EBADMSG }, { "7 bytes", 7, SIZE_MAX, 0, -EBADMSG },
		 { "cut short", 39, SIZE_MAX, 1, -EILSEQ },
		 { "cut short, unchecked", 39, SIZE_MAX, 0, 0 },
		 { "payload bit", 40, 20, 1, -EILSEQ }, { "last (odd) byte", 39, 38, 0, 0 },
		 { "checksum bit", 40, 3, 1, -EILSEQ }, { "payload bit, unchecked", 40, 20, 0, 0 },
		 { "type bit", 40, 0, 1, -EILSEQ });
}

/* Destination unreachable with code, next-hop MTU 1400, quoting qlen
 * bytes of an IPv4 header (its first byte q0) and TCP. */
struct unreach {
	const char *what;
	uint8_t code, q0;
	size_t qlen;
	size_t want_qlen;
	uint16_t want_mtu;
};

static const uint8_t quote[40] = {
	/* IPv4 192.168.1.10 -> 192.168.1.20, TCP, 1500 bytes, DF */
	0x45, 0x00, 0x05, 0xdc, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0xa8, 0x01,
	0x0a, 0xc0, 0xa8, 0x01, 0x14,
	/* TCP: ports 6881 -> 51000, sequence number */
	0x1a, 0xe1, 0xc7, 0x38, 0x12, 0x34, 0x56, 0x78,
	/* what follows when a router quotes more */
	0x00, 0x00, 0x00, 0x00, 0x50, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00
};

static void check_unreach(const struct unreach *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t m[8 + sizeof(quote)] = {
			ICMP_DEST_UNREACH, c[i].code, 0, 0, 0, 0, 0x05, 0x78
		};
		size_t len = 8 + c[i].qlen;
		const uint8_t *blk;
		struct icmp_view v;
		uint16_t ck;

		memcpy(m + 8, quote, c[i].qlen);
		if (c[i].qlen)
			m[8] = c[i].q0;
		ck = csum_buf(m, len);
		m[2] = (uint8_t)(ck >> 8);
		m[3] = (uint8_t)ck;
		cr_assert_eq(parse_exact(m, len, 1, &v, &blk), 0, "%s", c[i].what);
		cr_expect_eq(v.type, ICMP_DEST_UNREACH, "%s", c[i].what);
		cr_expect_eq(v.code, c[i].code, "%s", c[i].what);
		cr_expect_eq(v.len, c[i].qlen, "%s", c[i].what);
		cr_expect_eq(v.next_mtu, c[i].want_mtu, "%s: mtu %u", c[i].what, v.next_mtu);
		cr_expect_eq(v.quoted_len, c[i].want_qlen, "%s: quoted %zu", c[i].what,
			     v.quoted_len);
		if (c[i].want_qlen)
			cr_expect_eq(v.quoted, blk + 8, "%s", c[i].what);
		else
			cr_expect_null(v.quoted, "%s", c[i].what);
		free((void *)blk);
	}
}

Test(icmp, frag_needed_and_its_quote)
{
	TU_TABLE(check_unreach, struct unreach,
		 { "header and 8 bytes", ICMP_FRAG_NEEDED, 0x45, 28, 28, 1400 },
		 { "more quoted", ICMP_FRAG_NEEDED, 0x45, 40, 40, 1400 },
		 { "7 bytes after the header", ICMP_FRAG_NEEDED, 0x45, 27, 0, 1400 },
		 { "header alone", ICMP_FRAG_NEEDED, 0x45, 20, 0, 1400 },
		 { "19 bytes", ICMP_FRAG_NEEDED, 0x45, 19, 0, 1400 },
		 { "nothing quoted", ICMP_FRAG_NEEDED, 0x45, 0, 0, 1400 },
		 { "quoted IPv6", ICMP_FRAG_NEEDED, 0x65, 40, 0, 1400 },
		 { "quoted IHL 4", ICMP_FRAG_NEEDED, 0x44, 40, 0, 1400 },
		 { "quoted IHL 6, 28 bytes", ICMP_FRAG_NEEDED, 0x46, 28, 0, 1400 },
		 { "quoted IHL 6, 32 bytes", ICMP_FRAG_NEEDED, 0x46, 32, 32, 1400 },
		 { "quoted IHL 15", ICMP_FRAG_NEEDED, 0x4f, 40, 0, 1400 },
		 { "port unreachable", 3, 0x45, 28, 0, 0 },
		 { "host unreachable", 1, 0x45, 28, 0, 0 });
}
