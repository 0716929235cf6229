/*
 * Unit tests for lib/byteio.h: every width in both byte orders against
 * byte strings written out by hand, at every misalignment inside a buffer
 * whose other bytes are canaries, and again at the very end of a heap block
 * (a byte read or written past the width is an AddressSanitizer error), so
 * a load that reads the wrong byte or a store that writes one byte too many
 * both fail.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"

#define CANARY 0xA5
#define SLOT   32 /* room for a 64-bit value at offsets 0..15 with canaries around */

/* One value and its big-endian bytes, written by hand; the little-endian
 * bytes are the same string reversed. */
struct vec {
	uint64_t v;
	unsigned width; /* bytes: 2, 4 or 8 */
	uint8_t be[8];
};

static const struct vec vecs[] = {
	{ 0x0000, 2, { 0x00, 0x00 } },
	{ 0x0102, 2, { 0x01, 0x02 } },
	{ 0x00ff, 2, { 0x00, 0xff } },
	{ 0xff00, 2, { 0xff, 0x00 } },
	{ 0x8001, 2, { 0x80, 0x01 } },
	{ 0xffff, 2, { 0xff, 0xff } },
	{ 0x1ae1, 2, { 0x1a, 0xe1 } }, /* 6881 */
	{ 0x00000000, 4, { 0x00, 0x00, 0x00, 0x00 } },
	{ 0x01020304, 4, { 0x01, 0x02, 0x03, 0x04 } },
	{ 0x80000000, 4, { 0x80, 0x00, 0x00, 0x00 } },
	{ 0x000000ff, 4, { 0x00, 0x00, 0x00, 0xff } },
	{ 0xdeadbeef, 4, { 0xde, 0xad, 0xbe, 0xef } },
	{ 0xffffffff, 4, { 0xff, 0xff, 0xff, 0xff } },
	{ 0x00004000, 4, { 0x00, 0x00, 0x40, 0x00 } }, /* 16 KiB */
	{ 0x0000000000000000ull, 8, { 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ 0x0102030405060708ull, 8, { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 } },
	{ 0x8000000000000000ull, 8, { 0x80, 0, 0, 0, 0, 0, 0, 0 } },
	{ 0x00000000000000ffull, 8, { 0, 0, 0, 0, 0, 0, 0, 0xff } },
	{ 0x00000001ffffffffull, 8, { 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff } },
	{ 0xffffffff00000000ull, 8, { 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00 } },
	{ 0xfedcba9876543210ull, 8, { 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10 } },
	{ 0xffffffffffffffffull, 8, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
};
#define N_VECS (sizeof(vecs) / sizeof(vecs[0]))

static void le_of(const struct vec *t, uint8_t *out)
{
	for (unsigned i = 0; i < t->width; i++)
		out[i] = t->be[t->width - 1 - i];
}

static uint64_t load(int be, unsigned width, const uint8_t *p)
{
	switch (width) {
	case 2: return be ? byteio_be16(p) : byteio_le16(p);
	case 4: return be ? byteio_be32(p) : byteio_le32(p);
	default: return be ? byteio_be64(p) : byteio_le64(p);
	}
}

static void store(int be, unsigned width, uint8_t *p, uint64_t v)
{
	switch (width) {
	case 2: be ? byteio_put_be16(p, (uint16_t)v) : byteio_put_le16(p, (uint16_t)v); break;
	case 4: be ? byteio_put_be32(p, (uint32_t)v) : byteio_put_le32(p, (uint32_t)v); break;
	default: be ? byteio_put_be64(p, v) : byteio_put_le64(p, v);
	}
}

/* Every vector, both orders, at every misalignment: a load reads exactly
 * its width (the bytes around hold canaries, which a load reading one byte
 * too many would mix in), and a store writes exactly its width. */
Test(byteio, every_width_and_order_at_every_offset)
{
	for (size_t k = 0; k < N_VECS; k++) {
		const struct vec *t = &vecs[k];

		for (int be = 0; be < 2; be++) {
			const char *o = be ? "be" : "le";
			uint8_t want[8];

			if (be)
				memcpy(want, t->be, t->width);
			else
				le_of(t, want);
			for (size_t off = 0; off < 16; off++) {
				uint8_t buf[SLOT];
				uint64_t got;

				memset(buf, CANARY, sizeof(buf));
				memcpy(buf + off, want, t->width);
				got = load(be, t->width, buf + off);
				cr_assert_eq(got, t->v,
					     "%s%u of vector %zu at offset %zu: got 0x%llx", o,
					     8 * t->width, k, off, (unsigned long long)got);

				memset(buf, CANARY, sizeof(buf));
				store(be, t->width, buf + off, t->v);
				cr_assert(memcmp(buf + off, want, t->width) == 0,
					  "put_%s%u of vector %zu at offset %zu: wrong bytes", o,
					  8 * t->width, k, off);
				for (size_t i = 0; i < sizeof(buf); i++)
					if (i < off || i >= off + t->width)
						cr_assert_eq(
							buf[i], CANARY,
							"put_%s%u at offset %zu wrote byte %zu", o,
							8 * t->width, off, i);

				/* Again with the value ending a heap block: a read or a
				 * write past it, even of an unchanged byte, is an
				 * AddressSanitizer error. */
				uint8_t *h = malloc(off + t->width);

				cr_assert_not_null(h);
				memcpy(h + off, want, t->width);
				got = load(be, t->width, h + off);
				store(be, t->width, h + off, t->v);
				free(h);
				cr_assert_eq(got, t->v);
			}
		}
	}
}

/* A store narrower than its argument keeps only the low bits: the upper
 * ones must neither land in the buffer nor past it. */
Test(byteio, narrow_stores_truncate)
{
	uint8_t buf[12];

	memset(buf, CANARY, sizeof(buf));
	byteio_put_be16(buf + 1, (uint16_t)0x12345678u);
	cr_assert_eq(buf[1], 0x56);
	cr_assert_eq(buf[2], 0x78);
	byteio_put_le32(buf + 5, (uint32_t)0x1122334455667788ull);
	cr_assert_eq(buf[5], 0x88);
	cr_assert_eq(buf[6], 0x77);
	cr_assert_eq(buf[7], 0x66);
	cr_assert_eq(buf[8], 0x55);
	cr_assert_eq(buf[0], CANARY);
	cr_assert_eq(buf[3], CANARY);
	cr_assert_eq(buf[4], CANARY);
	cr_assert_eq(buf[9], CANARY);
}

/* A load neither writes its source nor depends on bytes past its width:
 * the same leading bytes followed by different garbage give one value. */
Test(byteio, loads_ignore_what_follows)
{
	static const uint8_t a[10] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00 };
	static const uint8_t b[10] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xff, 0xff };

	cr_assert_eq(byteio_be16(a), byteio_be16(b));
	cr_assert_eq(byteio_le16(a), 0x0201);
	cr_assert_eq(byteio_be32(a + 4), 0x05060708u);
	cr_assert_eq(byteio_le32(b + 4), 0x08070605u);
	cr_assert_eq(byteio_be64(a), byteio_be64(b));
	cr_assert_eq(byteio_le64(b), 0x0807060504030201ull);
}

/* The wire formats that use it: a BitTorrent "request" (length, id, index,
 * begin, length) built and parsed, byte for byte as BEP 3 spells it. */
Test(byteio, bittorrent_request_message)
{
	static const uint8_t want[17] = {
		0x00, 0x00, 0x00, 0x0d, 0x06, 0x00, 0x00, 0x00, 0x2a,
		0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00,
	};
	uint8_t msg[18];

	memset(msg, CANARY, sizeof(msg));
	byteio_put_be32(msg, 13);
	msg[4] = 6;
	byteio_put_be32(msg + 5, 42);
	byteio_put_be32(msg + 9, 65536);
	byteio_put_be32(msg + 13, 16384);
	cr_assert(memcmp(msg, want, sizeof(want)) == 0);
	cr_assert_eq(msg[17], CANARY);
	cr_assert_eq(byteio_be32(want), 13);
	cr_assert_eq(byteio_be32(want + 5), 42);
	cr_assert_eq(byteio_be32(want + 9), 65536);
	cr_assert_eq(byteio_be32(want + 13), 16384);
}
