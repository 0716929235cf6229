/*
 * Unit tests for lib/utf8.c: utf8_valid, utf8_valid_str and utf8_printable
 * against hand-written byte strings (every boundary code point, overlongs,
 * surrogates, past U+10FFFF, truncated and stray bytes, controls), then
 * exhaustively against a reference written from Table 3-7 of the Unicode
 * Standard ("Well-Formed UTF-8 Byte Sequences"), which lists byte ranges
 * and never decodes a code point, unlike utf8.c.
 *
 * Every utf8_valid call gets a heap copy of exactly its length, so a read
 * one byte past the end is an AddressSanitizer error, not a silent pass.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* utf8_valid on an exact-size heap copy of p[0..n-1]. */
static bool valid_exact(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	bool r;

	cr_assert_not_null(c);
	memcpy(c, p, n);
	r = utf8_valid(c, n);
	free(c);
	return r;
}

struct ucase {
	const char *name;
	const char *s;
	size_t len;
	bool valid;	/* strict UTF-8 */
	bool printable; /* and no C0, DEL or C1 */
};

#define U(name, lit, v, p)                       \
	{                                        \
		name, lit, sizeof(lit) - 1, v, p \
	}

static const struct ucase cases[] = {
	/* ASCII */
	U("empty", "", true, true),
	U("ascii word", "hello", true, true),
	U("ascii punctuation", " !\"#~{|}", true, true),
	U("space U+0020", " ", true, true),
	U("tilde U+007E", "~", true, true),
	U("tab", "a\tb", true, false),
	U("newline", "a\n", true, false),
	U("carriage return", "\r", true, false),
	U("U+0001", "\x01", true, false),
	U("U+001B escape", "\x1b[31m", true, false),
	U("U+001F", "\x1f", true, false),
	U("DEL U+007F", "\x7f", true, false),
	/* two bytes */
	U("U+0080 first C1", "\xc2\x80", true, false),
	U("U+0085 NEL", "\xc2\x85", true, false),
	U("U+009B CSI", "\xc2\x9b", true, false),
	U("U+009F last C1", "\xc2\x9f", true, false),
	U("U+00A0 after C1", "\xc2\xa0", true, true),
	U("U+00E9 e acute", "caf\xc3\xa9", true, true),
	U("U+07FF last two-byte", "\xdf\xbf", true, true),
	/* three bytes */
	U("U+0800 first three-byte", "\xe0\xa0\x80", true, true),
	U("U+20AC euro", "\xe2\x82\xac", true, true),
	U("U+D7FF before surrogates", "\xed\x9f\xbf", true, true),
	U("U+E000 after surrogates", "\xee\x80\x80", true, true),
	U("U+FFFD replacement", "\xef\xbf\xbd", true, true),
	U("U+FFFF last three-byte", "\xef\xbf\xbf", true, true),
	U("japanese", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", true, true),
	/* four bytes */
	U("U+10000 first four-byte", "\xf0\x90\x80\x80", true, true),
	U("U+1F600 emoji", "\xf0\x9f\x98\x80", true, true),
	U("U+FFFFF", "\xf3\xbf\xbf\xbf", true, true),
	U("U+100000", "\xf4\x80\x80\x80", true, true),
	U("U+10FFFF last code point", "\xf4\x8f\xbf\xbf", true, true),
	U("mixed widths", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", true, true),
	/* overlong forms */
	U("overlong NUL c0 80", "\xc0\x80", false, false),
	U("overlong / c0 af", "\xc0\xaf", false, false),
	U("overlong U+007F c1 bf", "\xc1\xbf", false, false),
	U("overlong NUL e0 80 80", "\xe0\x80\x80", false, false),
	U("overlong U+07FF e0 9f bf", "\xe0\x9f\xbf", false, false),
	U("overlong NUL f0 80 80 80", "\xf0\x80\x80\x80", false, false),
	U("overlong U+FFFF f0 8f bf bf", "\xf0\x8f\xbf\xbf", false, false),
	U("overlong five-byte", "\xf8\x80\x80\x80\xaf", false, false),
	/* surrogates */
	U("U+D800 first surrogate", "\xed\xa0\x80", false, false),
	U("U+DBFF", "\xed\xaf\xbf", false, false),
	U("U+DC00", "\xed\xb0\x80", false, false),
	U("U+DFFF last surrogate", "\xed\xbf\xbf", false, false),
	U("surrogate pair CESU-8", "\xed\xa0\xbd\xed\xb8\x80", false, false),
	/* past U+10FFFF */
	U("U+110000 f4 90 80 80", "\xf4\x90\x80\x80", false, false),
	U("U+13FFFF f4 bf bf bf", "\xf4\xbf\xbf\xbf", false, false),
	U("lead f5", "\xf5\x80\x80\x80", false, false),
	U("lead f7", "\xf7\xbf\xbf\xbf", false, false),
	U("lead f8 five-byte", "\xf8\x88\x80\x80\x80", false, false),
	U("lead fc six-byte", "\xfc\x84\x80\x80\x80\x80", false, false),
	U("byte fe", "\xfe", false, false),
	U("byte ff", "a\xff", false, false),
	/* truncated at the end */
	U("lone lead c3", "\xc3", false, false),
	U("ascii then lone lead c3", "abc\xc3", false, false),
	U("three-byte missing one", "\xe2\x82", false, false),
	U("three-byte missing two", "a\xe2", false, false),
	U("four-byte missing one", "\xf0\x9f\x98", false, false),
	U("four-byte missing two", "\xf0\x9f", false, false),
	U("four-byte missing three", "\xf4", false, false),
	/* stray or missing continuation bytes */
	U("lone 80", "\x80", false, false),
	U("lone bf", "\xbf", false, false),
	U("continuation inside ascii", "a\x80z", false, false),
	U("one continuation too many", "\xc3\xa9\xa9", false, false),
	U("two continuations after euro", "\xe2\x82\xac\x82\xac", false, false),
	U("lead then ascii",
	  "\xc3"
	  "A",
	  false, false),
	U("lead then lead", "\xc3\xc3\xa9", false, false),
	U("three-byte broken second", "\xe2\x28\xa1", false, false),
	U("three-byte broken third", "\xe2\x82\x28", false, false),
	U("four-byte broken third", "\xf0\x90\x28\xbc", false, false),
	U("four-byte broken fourth", "\xf0\x90\x8c\x28", false, false),
	U("latin-1 e acute", "caf\xe9", false, false),
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

Test(utf8, hand_written_cases)
{
	for (size_t k = 0; k < N_CASES; k++) {
		const struct ucase *c = &cases[k];
		char *z = strndup(c->s, c->len);

		cr_assert_not_null(z);
		cr_assert_eq(strlen(z), c->len, "%s: table entry holds a NUL", c->name);
		cr_assert_eq(valid_exact(c->s, c->len), c->valid, "utf8_valid: %s: expected %s",
			     c->name, c->valid ? "valid" : "invalid");
		cr_assert_eq(utf8_valid_str(z), c->valid, "utf8_valid_str: %s: expected %s",
			     c->name, c->valid ? "valid" : "invalid");
		cr_assert_eq(utf8_printable(z), c->printable, "utf8_printable: %s: expected %s",
			     c->name, c->printable ? "printable" : "refused");
		free(z);
	}
}

/* With an explicit length, a sequence cut by the length is truncated even
 * when the bytes after it in memory would complete it; the bytes before the
 * cut alone are judged. */
Test(utf8, explicit_length_cuts_a_sequence)
{
	static const char s[] = "ab\xf0\x9f\x98\x80";

	cr_assert(valid_exact(s, 6));
	cr_assert(!valid_exact(s, 5));
	cr_assert(!valid_exact(s, 4));
	cr_assert(!valid_exact(s, 3));
	cr_assert(valid_exact(s, 2));
	cr_assert(valid_exact(s, 0));
	/* The same on the caller's own buffer, bytes still there in memory. */
	cr_assert(!utf8_valid(s, 5));
	cr_assert(utf8_valid(s, 2));
}

/* NUL is an ordinary character for utf8_valid; the _str forms stop there. */
Test(utf8, embedded_nul)
{
	static const char nul_mid[] = "a\0b";
	static const char nul_then_bad[] = "a\0\xff";
	static const char bad_then_nul[] = "\xff\0a";

	cr_assert(valid_exact(nul_mid, 3));
	cr_assert(valid_exact("\0", 1));
	cr_assert(valid_exact("\0\0\0", 3));
	cr_assert(!valid_exact(nul_then_bad, 3));
	cr_assert(valid_exact(nul_then_bad, 2));
	cr_assert(!valid_exact(bad_then_nul, 3));
	cr_assert(utf8_valid_str(nul_then_bad));
	cr_assert(utf8_printable(nul_then_bad));
	cr_assert(!utf8_valid_str(bad_then_nul));
	cr_assert(!utf8_printable(bad_then_nul));
	/* A truncated sequence right before a NUL is truncated for _str. */
	cr_assert(!utf8_valid_str("\xe2\x82"));
	cr_assert(!utf8_valid("\xe2\x82\0", 3));
}

/* --- exhaustive, against Table 3-7 --- */

/* Ranges of the bytes after a lead byte, from Table 3-7. */
struct row {
	uint8_t lo, hi;	  /* lead byte range */
	uint8_t n;	  /* bytes after the lead */
	uint8_t lo2, hi2; /* second byte range (later ones are 80..BF) */
};

static const struct row table_3_7[] = {
	{ 0xc2, 0xdf, 1, 0x80, 0xbf }, { 0xe0, 0xe0, 2, 0xa0, 0xbf }, { 0xe1, 0xec, 2, 0x80, 0xbf },
	{ 0xed, 0xed, 2, 0x80, 0x9f }, { 0xee, 0xef, 2, 0x80, 0xbf }, { 0xf0, 0xf0, 3, 0x90, 0xbf },
	{ 0xf1, 0xf3, 3, 0x80, 0xbf }, { 0xf4, 0xf4, 3, 0x80, 0x8f },
};

/* Well-formed per Table 3-7; printable also refuses 00..1F, 7F and the C1
 * controls, which are exactly the sequences C2 80..C2 9F. */
static bool ref_valid(const uint8_t *p, size_t n, bool printable)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = p[i];
		const struct row *r = NULL;

		if (b <= 0x7f) {
			if (printable && (b <= 0x1f || b == 0x7f))
				return false;
			i++;
			continue;
		}
		for (size_t k = 0; k < sizeof(table_3_7) / sizeof(table_3_7[0]); k++)
			if (b >= table_3_7[k].lo && b <= table_3_7[k].hi)
				r = &table_3_7[k];
		if (!r || n - i - 1 < r->n)
			return false;
		if (p[i + 1] < r->lo2 || p[i + 1] > r->hi2)
			return false;
		for (unsigned j = 2; j <= r->n; j++)
			if (p[i + j] < 0x80 || p[i + j] > 0xbf)
				return false;
		if (printable && b == 0xc2 && p[i + 1] <= 0x9f)
			return false;
		i += 1 + r->n;
	}
	return true;
}

static void check_both(const uint8_t *p, size_t n)
{
	char z[8];

	cr_assert_eq(utf8_valid(p, n), ref_valid(p, n, false),
		     "utf8_valid(%02x %02x %02x %02x, %zu)", n > 0 ? p[0] : 0, n > 1 ? p[1] : 0,
		     n > 2 ? p[2] : 0, n > 3 ? p[3] : 0, n);
	if (memchr(p, 0, n))
		return;
	memcpy(z, p, n);
	z[n] = '\0';
	cr_assert_eq(utf8_valid_str(z), ref_valid(p, n, false),
		     "utf8_valid_str(%02x %02x %02x, %zu)", n > 0 ? p[0] : 0, n > 1 ? p[1] : 0,
		     n > 2 ? p[2] : 0, n);
	cr_assert_eq(utf8_printable(z), ref_valid(p, n, true),
		     "utf8_printable(%02x %02x %02x, %zu)", n > 0 ? p[0] : 0, n > 1 ? p[1] : 0,
		     n > 2 ? p[2] : 0, n);
}

/* Every string of one, two and three bytes. */
Test(utf8, every_string_up_to_three_bytes, .timeout = 120)
{
	uint8_t p[3];

	for (unsigned a = 0; a < 256; a++) {
		p[0] = (uint8_t)a;
		check_both(p, 1);
		for (unsigned b = 0; b < 256; b++) {
			p[1] = (uint8_t)b;
			check_both(p, 2);
			for (unsigned c = 0; c < 256; c++) {
				p[2] = (uint8_t)c;
				check_both(p, 3);
			}
		}
	}
}

/* Four bytes: every first and second byte, with third and fourth bytes
 * at the edges of the continuation range and just outside it. */
Test(utf8, four_byte_strings_at_the_edges)
{
	static const uint8_t edge[] = { 0x00, 0x41, 0x7f, 0x80, 0x81, 0xa0,
					0xbe, 0xbf, 0xc0, 0xf4, 0xff };
	uint8_t p[4];

	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++)
			for (size_t c = 0; c < sizeof(edge); c++)
				for (size_t d = 0; d < sizeof(edge); d++) {
					p[0] = (uint8_t)a;
					p[1] = (uint8_t)b;
					p[2] = edge[c];
					p[3] = edge[d];
					check_both(p, 4);
				}
}

/* Every code point, encoded here from the bit layout of Table 3-6: valid
 * unless a surrogate; printable unless a control. */
Test(utf8, every_code_point)
{
	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		uint8_t b[4];
		size_t n;

		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
		bool control = cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f);

		cr_assert_eq(utf8_valid(b, n), !surrogate, "U+%04X", (unsigned)cp);
		if (cp == 0)
			continue;
		char z[5];

		memcpy(z, b, n);
		z[n] = '\0';
		cr_assert_eq(utf8_valid_str(z), !surrogate, "U+%04X", (unsigned)cp);
		cr_assert_eq(utf8_printable(z), !surrogate && !control, "U+%04X", (unsigned)cp);
	}
}
