/*
 * Unit tests for dataplane/stack/csum.c: the RFC 1071 example and real
 * headers written out by hand, then random data cut into random slices
 * (odd lengths, empty slices, every misalignment) against a naive
 * byte-pair reference, and long runs of 0xff that carry on every add.
 * Each slice is copied to a heap block of exactly its size, so a read past
 * a slice is an AddressSanitizer error.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "csum.h"

/* RFC 1071 §1 by the book: big-endian 16-bit words, an odd last byte
 * padded with zero, carries folded at the end. */
static uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;

	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

struct known {
	const char *what;
	uint8_t b[24];
	size_t len;
	uint16_t sum; /* csum_sum(), not inverted */
};

static void check_known(const struct known *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t *b = malloc(c[i].len ? c[i].len : 1);
		struct csum s;

		cr_assert_not_null(b);
		memcpy(b, c[i].b, c[i].len);
		csum_init(&s);
		csum_feed(&s, b, c[i].len);
		cr_expect_eq(csum_sum(&s), c[i].sum, "%s: sum %04x, want %04x", c[i].what,
			     csum_sum(&s), c[i].sum);
		cr_expect_eq(csum_buf(b, c[i].len), (uint16_t)~c[i].sum, "%s: csum_buf", c[i].what);
		cr_expect_eq(ref_sum(b, c[i].len), c[i].sum, "%s: the reference disagrees",
			     c[i].what);
		free(b);
	}
}

Test(csum, known_vectors)
{
	TU_TABLE(check_known, struct known,
		 /* RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2 */
		 { "rfc1071", { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 }, 8, 0xddf2 },
		 { "empty", { 0 }, 0, 0x0000 },
		 { "one byte is the high half", { 0x01 }, 1, 0x0100 },
		 { "three bytes", { 0x01, 0x02, 0x03 }, 3, 0x0402 },
		 { "ffff", { 0xff, 0xff }, 2, 0xffff },
		 { "carry wraps", { 0xff, 0xff, 0x00, 0x01 }, 4, 0x0001 },
		 { "nine bytes", { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 9, 0x1914 },
		 /* an IPv4 header with its checksum b861 in place: sum ffff */
		 { "ipv4 header",
		   { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		     0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 },
		   20,
		   0xffff },
		 /* the same with the field zeroed: ~b861 */
		 { "ipv4 header, field 0",
		   { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 },
		   20,
		   0x479e });
}

/* Feeds p[0..len) as slices of the given lengths (the last takes the
 * rest), each copied to its own exact heap block at a random misalignment. */
static uint16_t sum_sliced(const uint8_t *p, size_t len, const size_t *cuts, size_t ncuts)
{
	struct csum s;
	size_t off = 0;

	csum_init(&s);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t n = k < ncuts ? cuts[k] : len - off;
		size_t mis = (size_t)(tu_rnd() % 8);
		uint8_t *blk = malloc(n + mis ? n + mis : 1);

		cr_assert_not_null(blk);
		memcpy(blk + mis, p + off, n);
		csum_feed(&s, blk + mis, n);
		free(blk);
		off += n;
	}
	return csum_sum(&s);
}

Test(csum, random_scattered_slices_match_the_reference)
{
	tu_seed(1071);
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = iter < 600 ? (size_t)iter : (size_t)(tu_rnd() % 9100);
		uint8_t *p = tu_random_buf(len);
		size_t cuts[12], ncuts = (size_t)(tu_rnd() % TU_N(cuts)), off = 0;

		for (size_t k = 0; k < ncuts; k++) {
			/* short slices (odd and empty ones) most of the time */
			size_t room = len - off, n = tu_rnd() % 4 ? tu_rnd() % 8 : tu_rnd() % 200;

			cuts[k] = n < room ? n : room;
			off += cuts[k];
		}
		uint16_t want = ref_sum(p, len), got = sum_sliced(p, len, cuts, ncuts);

		cr_assert_eq(got, want, "len %zu in %zu slices: %04x, want %04x", len, ncuts + 1,
			     got, want);
		free(p);
	}
}

/* Long runs of ff and a varying last byte: every 64-bit add carries. */
Test(csum, all_ones_carry_at_every_length)
{
	enum { MAX = 70000 };
	uint8_t *p = malloc(MAX);

	cr_assert_not_null(p);
	memset(p, 0xff, MAX);
	for (size_t len = 1; len < MAX; len = len * 3 + 1) {
		for (int last = 0; last < 256; last += 85) {
			p[len - 1] = (uint8_t)last;
			cr_assert_eq(csum_buf(p, len), (uint16_t)~ref_sum(p, len),
				     "len %zu last %d", len, last);
			p[len - 1] = 0xff;
		}
	}
	free(p);
}

/* A pseudo-header given as words through csum_add16 sums as its bytes
 * would, before and after data of odd and even length. */
Test(csum, add16_is_a_big_endian_word)
{
	static const uint8_t pseudo[12] = { 0xc0, 0xa8, 0x01, 0x0a, 0xc0, 0xa8,
					    0x01, 0x14, 0x00, 0x06, 0x05, 0xdc };
	uint8_t data[7] = { 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde };

	for (size_t dlen = 6; dlen <= 7; dlen++) {
		uint8_t all[19];
		struct csum s;

		memcpy(all, pseudo, sizeof(pseudo));
		memcpy(all + sizeof(pseudo), data, dlen);
		csum_init(&s);
		for (size_t i = 0; i < sizeof(pseudo); i += 2)
			csum_add16(&s, (uint16_t)(pseudo[i] << 8 | pseudo[i + 1]));
		csum_feed(&s, data, dlen);
		cr_expect_eq(csum_sum(&s), ref_sum(all, sizeof(pseudo) + dlen), "dlen %zu", dlen);
		cr_expect_eq(csum_final(&s), (uint16_t)~csum_sum(&s));
	}
}
