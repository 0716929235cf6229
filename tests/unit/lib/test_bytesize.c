/*
 * Unit tests for lib/bytesize.c: every suffix in both cases, 0, the largest
 * value, overflow in the digits and through a suffix, every kind of garbage
 * (white space, signs, fractions, two suffixes, unknown suffixes, empty),
 * bounds, and format round trips. One table per behaviour.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bytesize.h"

static const struct {
	const char *s;
	uint64_t want;
} good[] = {
	{ "0", 0 },
	{ "00", 0 },
	{ "0K", 0 },
	{ "1", 1 },
	{ "4096", 4096 },
	{ "007", 7 },
	{ "1K", 1ull << 10 },
	{ "1k", 1ull << 10 },
	{ "1M", 1ull << 20 },
	{ "1m", 1ull << 20 },
	{ "1G", 1ull << 30 },
	{ "1g", 1ull << 30 },
	{ "1T", 1ull << 40 },
	{ "1t", 1ull << 40 },
	{ "256M", 256ull << 20 },
	{ "1536K", 1536ull << 10 },
	{ "4T", 4ull << 40 },
	{ "18446744073709551615", UINT64_MAX },
	{ "18014398509481983K", UINT64_MAX >> 10 << 10 },
	{ "17592186044415M", UINT64_MAX >> 20 << 20 },
	{ "17179869183G", UINT64_MAX >> 30 << 30 },
	{ "16777215T", UINT64_MAX >> 40 << 40 },
};

Test(bytesize, parses_digits_and_every_suffix)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 12345;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(bytesize_parse(good[i].s, &v, &e), 0, "\"%s\": %s", good[i].s, e.msg);
		cr_assert_eq(v, good[i].want, "\"%s\": %llu", good[i].s, (unsigned long long)v);
		cr_assert_eq(e.code, 0);
	}
}

static const struct {
	const char *s;
	int rc;
	int offset; /* -1: no offset in the report */
	const char *want;
} bad[] = {
	{ "", -EINVAL, 0, "\"\" is not a size" },
	{ NULL, -EINVAL, 0, "\"\" is not a size" },
	{ "K", -EINVAL, 0, "not a size" },
	{ " 1M", -EINVAL, 0, "not a size" },
	{ "\t1", -EINVAL, 0, "not a size" },
	{ "1M ", -EINVAL, 2, "' ' at offset 2" },
	{ "1 M", -EINVAL, 1, "' ' at offset 1" },
	{ "1M\n", -EINVAL, 2, "'?' at offset 2" },
	{ "-1", -EINVAL, 0, "not a size" },
	{ "+1", -EINVAL, 0, "not a size" },
	{ "1.5G", -EINVAL, 1, "'.' at offset 1" },
	{ "0x10", -EINVAL, 1, "'x' at offset 1" },
	{ "12X", -EINVAL, 2, "'X' at offset 2" },
	{ "1P", -EINVAL, 1, "'P' at offset 1" },
	{ "1E", -EINVAL, 1, "'E' at offset 1" },
	{ "1B", -EINVAL, 1, "'B' at offset 1" },
	{ "1KB", -EINVAL, 2, "'B' at offset 2" },
	{ "1KiB", -EINVAL, 2, "'i' at offset 2" },
	{ "1MK", -EINVAL, 2, "'K' at offset 2" },
	{ "lots", -EINVAL, 0, "\"lots\" is not a size (digits, then optionally K, M, G or T)" },
	{ "18446744073709551616", -ERANGE, -1, "too large" },
	{ "99999999999999999999999", -ERANGE, -1, "too large" },
	{ "18014398509481984K", -ERANGE, -1, "too large" },
	{ "17592186044416M", -ERANGE, -1, "too large" },
	{ "17179869184G", -ERANGE, -1, "too large" },
	{ "16777216T", -ERANGE, -1, "\"16777216T\" is too large a size (over 2^64)" },
	/* c540d53: a suffix must not wrap a value round into range */
	{ "16777217T", -ERANGE, -1, "too large" },
	{ "18446744073709551615K", -ERANGE, -1, "too large" },
};

Test(bytesize, refuses_garbage_and_overflow)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *s = bad[i].s;
		uint64_t v = 12345;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(bytesize_parse(s, &v, &e), bad[i].rc, "\"%s\" not refused as %d",
			     s ? s : "(null)", bad[i].rc);
		cr_assert_eq(v, 12345, "\"%s\": out written on failure", s ? s : "(null)");
		cr_assert_eq(e.code, bad[i].rc);
		cr_assert(strstr(e.msg, bad[i].want), "\"%s\": message \"%s\" lacks \"%s\"",
			  s ? s : "(null)", e.msg, bad[i].want);
		cr_assert_eq(e.has_offset, bad[i].offset >= 0, "\"%s\"", s ? s : "(null)");
		if (bad[i].offset >= 0)
			cr_assert_eq(e.offset, (uint64_t)bad[i].offset, "\"%s\": offset %llu", s,
				     (unsigned long long)e.offset);
	}
}

Test(bytesize, no_report_needed)
{
	uint64_t v = 1;
	cr_assert_eq(bytesize_parse("8G", &v, NULL), 0);
	cr_assert_eq(v, 8ull << 30);
	cr_assert_eq(bytesize_parse("8Q", &v, NULL), -EINVAL);
	cr_assert_eq(bytesize_parse_range("1", 2, 3, &v, NULL), -ERANGE);
	cr_assert_eq(v, 8ull << 30);
}

/* The first error set wins (seed_err.h): a caller's earlier report stays. */
Test(bytesize, keeps_an_earlier_report)
{
	uint64_t v;
	struct seed_err e;
	seed_err_clear(&e);
	seed_err_set(&e, -EIO, "earlier");
	cr_assert_eq(bytesize_parse_range("1K", 4096, 8192, &v, &e), -ERANGE);
	cr_assert_str_eq(e.msg, "earlier");
	cr_assert_eq(e.code, -EIO);
}

static const struct {
	const char *s;
	uint64_t min, max;
	int rc;		 /* 0: accepted */
	const char *msg; /* the whole message when refused */
} ranged[] = {
	{ "4M", 4ull << 20, 4ull << 40, 0, NULL },
	{ "4T", 4ull << 20, 4ull << 40, 0, NULL },
	{ "4194304", 4ull << 20, 4ull << 40, 0, NULL },
	{ "1K", 4ull << 20, 4ull << 40, -ERANGE,
	  "\"1K\" is not a size from 4M to 4T (digits, then optionally K, M, G or T)" },
	{ "4097G", 4ull << 20, 4ull << 40, -ERANGE,
	  "\"4097G\" is not a size from 4M to 4T (digits, then optionally K, M, G or T)" },
	{ "4398046511105", 4ull << 20, 4ull << 40, -ERANGE,
	  "\"4398046511105\" is not a size from 4M to 4T (digits, then optionally K, M, G or T)" },
	{ "12X", 4ull << 20, 4ull << 40, -EINVAL,
	  "\"12X\" is not a size from 4M to 4T (digits, then optionally K, M, G or T)" },
	{ "", 4096, 4095ull + (64ull << 20), -EINVAL,
	  "\"\" is not a size from 4K to 67112959 (digits, then optionally K, M, G or T)" },
	{ "99999999999999999999", 0, UINT64_MAX, -ERANGE,
	  "\"99999999999999999999\" is not a size from 0 to 18446744073709551615 (digits, then "
	  "optionally K, M, G or T)" },
	{ "0", 0, 0, 0, NULL },
	{ "16777215T", 0, UINT64_MAX, 0, NULL },
};

Test(bytesize, bounds)
{
	for (size_t i = 0; i < sizeof(ranged) / sizeof(ranged[0]); i++) {
		uint64_t v = 777, want = 0;
		struct seed_err e;
		seed_err_clear(&e);
		int rc = bytesize_parse_range(ranged[i].s, ranged[i].min, ranged[i].max, &v, &e);
		cr_assert_eq(rc, ranged[i].rc, "\"%s\": %d (%s)", ranged[i].s, rc, e.msg);
		if (rc == 0) {
			cr_assert_eq(bytesize_parse(ranged[i].s, &want, NULL), 0);
			cr_assert_eq(v, want, "\"%s\"", ranged[i].s);
		} else {
			cr_assert_eq(v, 777, "\"%s\": out written on failure", ranged[i].s);
			cr_assert_str_eq(e.msg, ranged[i].msg);
		}
	}
}

static const struct {
	uint64_t n;
	const char *want;
} formats[] = {
	{ 0, "0" },
	{ 1, "1" },
	{ 1023, "1023" },
	{ 1024, "1K" },
	{ 1536ull << 10, "1536K" },
	{ 4097, "4097" },
	{ 1ull << 20, "1M" },
	{ 256ull << 20, "256M" },
	{ 1ull << 30, "1G" },
	{ 3ull << 30, "3G" },
	{ 1ull << 40, "1T" },
	{ 4ull << 40, "4T" },
	{ 1ull << 50, "1024T" },
	{ UINT64_MAX >> 40 << 40, "16777215T" },
	{ UINT64_MAX, "18446744073709551615" },
};

Test(bytesize, format_and_round_trip)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char buf[BYTESIZE_FMT_MAX];
		uint64_t back;
		cr_assert_eq(bytesize_format(formats[i].n, buf), buf);
		cr_assert_str_eq(buf, formats[i].want);
		cr_assert_eq(bytesize_parse(buf, &back, NULL), 0, "%s", buf);
		cr_assert_eq(back, formats[i].n, "%s", buf);
	}
	/* every parseable table entry reads back the same way */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char buf[BYTESIZE_FMT_MAX];
		uint64_t back;
		bytesize_format(good[i].want, buf);
		cr_assert_eq(bytesize_parse(buf, &back, NULL), 0, "%s", buf);
		cr_assert_eq(back, good[i].want, "%s", buf);
	}
}
