/*
 * Unit tests for lib/hex.c: encoding against hand-written strings and
 * snprintf("%02x"), decoding in both cases, every refusal leaving the output
 * untouched, and hex_digit over every byte value against strtol().
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

#define CANARY 0xA5

static const struct {
	size_t n;
	uint8_t bytes[20];
	const char *hex;
} encodings[] = {
	{ 0, { 0 }, "" },
	{ 1, { 0x00 }, "00" },
	{ 1, { 0x0f }, "0f" },
	{ 1, { 0xf0 }, "f0" },
	{ 1, { 0xff }, "ff" },
	{ 4, { 0xde, 0xad, 0xbe, 0xef }, "deadbeef" },
	{ 8, { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef }, "0123456789abcdef" },
	/* SHA-1("abc"), FIPS 180: a v1 info-hash's length. */
	{ 20,
	  { 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
	    0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d },
	  "a9993e364706816aba3e25717850c26c9cd0d89d" },
};
#define N_ENC (sizeof(encodings) / sizeof(encodings[0]))

Test(hex, encode_is_lowercase_and_nul_terminated)
{
	for (size_t k = 0; k < N_ENC; k++) {
		size_t n = encodings[k].n;
		char out[48];

		memset(out, CANARY, sizeof(out));
		hex_encode(encodings[k].bytes, n, out);
		cr_assert_str_eq(out, encodings[k].hex);
		cr_assert_eq(strlen(out), 2 * n);
		for (size_t i = 2 * n + 1; i < sizeof(out); i++)
			cr_assert_eq((uint8_t)out[i], CANARY,
				     "case %zu: wrote byte %zu past the NUL", k, i);
	}
}

Test(hex, encode_every_byte_value)
{
	uint8_t all[256];
	char out[513], want[513];

	for (int i = 0; i < 256; i++) {
		all[i] = (uint8_t)i;
		snprintf(want + 2 * i, 3, "%02x", i);
	}
	hex_encode(all, 256, out);
	cr_assert_str_eq(out, want);
}

Test(hex, decode_known_strings)
{
	for (size_t k = 0; k < N_ENC; k++) {
		size_t n = encodings[k].n;
		uint8_t out[24];

		memset(out, CANARY, sizeof(out));
		cr_assert_eq(hex_decode(encodings[k].hex, 2 * n, out, n), 0, "case %zu", k);
		cr_assert(memcmp(out, encodings[k].bytes, n) == 0, "case %zu", k);
		for (size_t i = n; i < sizeof(out); i++)
			cr_assert_eq(out[i], CANARY, "case %zu: wrote byte %zu past n", k, i);
	}
}

Test(hex, decode_accepts_either_case)
{
	static const uint8_t want[8] = { 0xab, 0xcd, 0xef, 0xab, 0xcd, 0xef, 0x0a, 0xf0 };
	static const char *const forms[] = { "abcdefabcdef0af0", "ABCDEFABCDEF0AF0",
					     "AbCdEfaBcDeF0aF0" };

	for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		uint8_t out[8];

		memset(out, 0, sizeof(out));
		cr_assert_eq(hex_decode(forms[k], 16, out, 8), 0, "%s", forms[k]);
		cr_assert(memcmp(out, want, 8) == 0, "%s", forms[k]);
	}
}

/* slen only counts: a string longer than slen decodes its first slen. */
Test(hex, decode_reads_only_slen)
{
	uint8_t out[2];

	cr_assert_eq(hex_decode("1234zz", 4, out, 2), 0);
	cr_assert_eq(out[0], 0x12);
	cr_assert_eq(out[1], 0x34);
}

static void decode_refused(const char *s, size_t slen, size_t n, const char *what)
{
	uint8_t out[32];

	memset(out, CANARY, sizeof(out));
	cr_assert_leq(n, sizeof(out));
	cr_assert_eq(hex_decode(s, slen, out, n), -EINVAL, "%s: accepted", what);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], CANARY, "%s: byte %zu of out written", what, i);
}

Test(hex, decode_refuses_wrong_length)
{
	decode_refused("abc", 3, 1, "3 digits for 1 byte");
	decode_refused("abc", 3, 2, "3 digits for 2 bytes");
	decode_refused("a", 1, 0, "1 digit for 0 bytes");
	decode_refused("a", 1, 1, "1 digit for 1 byte");
	decode_refused("", 0, 1, "empty for 1 byte");
	decode_refused("abcd", 4, 1, "4 digits for 1 byte");
	decode_refused("abcd", 4, 3, "4 digits for 3 bytes");
	decode_refused("a9993e364706816aba3e25717850c26c9cd0d89d", 40, 32, "v1 hash as v2");
	decode_refused("a9993e364706816aba3e25717850c26c9cd0d89", 39, 20, "39 digits");
}

/* A bad digit anywhere (first, middle, last; high or low nibble) leaves
 * every byte of out as it was, not just the bytes after it. */
Test(hex, decode_bad_digit_leaves_output_untouched)
{
	static const char bad[] = { 'g', 'G', 'z', ' ',	 '/',  ':',	   '@',	       '`',
				    '-', '+', 'x', '\0', '\n', (char)0x80, (char)0xc3, (char)0xff };

	for (size_t b = 0; b < sizeof(bad); b++) {
		for (size_t pos = 0; pos < 16; pos++) {
			char s[17] = "0123456789abcdef";
			char what[64];

			s[pos] = bad[b];
			snprintf(what, sizeof(what), "0x%02x at %zu", (uint8_t)bad[b], pos);
			decode_refused(s, 16, 8, what);
		}
	}
}

/* hex_digit for every byte value, against strtol() on the one-character
 * string (which takes no sign, space or prefix without a digit after it). */
Test(hex, hex_digit_every_byte_value)
{
	int digits = 0;

	for (int c = 0; c < 256; c++) {
		char s[2] = { (char)c, '\0' }, *end = NULL;
		long v = strtol(s, &end, 16);
		int want = (c != 0 && end == s + 1) ? (int)v : -1;

		cr_assert_eq(hex_digit(c), want, "hex_digit(0x%02x): got %d, want %d", c,
			     hex_digit(c), want);
		cr_assert_eq(hex_digit(c) >= 0, isxdigit(c) != 0, "0x%02x", c);
		digits += want >= 0;
	}
	cr_assert_eq(digits, 22); /* 0-9, a-f, A-F */
}

/* EOF and values outside a byte are not digits, even when their low byte is. */
Test(hex, hex_digit_outside_byte_range)
{
	cr_assert_eq(hex_digit(-1), -1);
	cr_assert_eq(hex_digit(256 + '0'), -1);
	cr_assert_eq(hex_digit(256 + 'a'), -1);
	cr_assert_eq(hex_digit(-256 + 'a'), -1);
}

Test(hex, round_trip_every_byte_value)
{
	uint8_t all[256], back[256];
	char s[513];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)(255 - i);
	hex_encode(all, 256, s);
	memset(back, 0, sizeof(back));
	cr_assert_eq(hex_decode(s, 512, back, 256), 0);
	cr_assert(memcmp(all, back, 256) == 0);
}
