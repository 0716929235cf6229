/*
 * Unit tests for lib/http1.c: the byte classes over every byte value, case
 * folding, comma lists, decimal and chunk-size numbers at and past their
 * limits, lines, field lines and their faults with offsets, versions,
 * request targets, percent-decoding, reason phrases and the bounded
 * writer (exact fit, overflow, count-only). Every input is copied into a
 * heap block of exactly its size, so a read past [p, end) trips the
 * address sanitizer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define CANARY 0xA5

/* In holds n bytes (n 0: strlen) of s, in a block of exactly that size. */
struct in {
	uint8_t *p, *end;
};

static struct in in_n(const char *s, size_t n)
{
	struct in r;

	r.p = malloc(n ? n : 1);
	cr_assert_not_null(r.p);
	memcpy(r.p, s, n);
	r.end = r.p + n;
	return r;
}

static struct in in_s(const char *s)
{
	return in_n(s, strlen(s));
}

static void in_free(struct in *r)
{
	free(r->p);
}

/* ---- bytes ---- */

Test(http1, byte_classes_over_every_byte)
{
	for (unsigned b = 0; b < 256; b++) {
		int alpha = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
		int digit = b >= '0' && b <= '9';
		int tchar = alpha || digit || (b && strchr("!#$%&'*+-.^_`|~", (int)b));

		cr_assert_eq(http1_is_tchar((uint8_t)b), tchar, "tchar 0x%02x", b);
		cr_assert_eq(http1_is_digit((uint8_t)b), digit, "digit 0x%02x", b);
		cr_assert_eq(http1_is_ows((uint8_t)b), b == ' ' || b == '\t', "ows 0x%02x", b);
		cr_assert_eq(http1_is_field_byte((uint8_t)b),
			     b == '\t' || (b >= 0x20 && b <= 0x7e) || b >= 0x80, "field 0x%02x", b);
		cr_assert_eq(http1_lower((uint8_t)b), b >= 'A' && b <= 'Z' ? b + 32 : b,
			     "lower 0x%02x", b);
	}
}

/* ---- comparison and lists ---- */

static const struct {
	const char *s, *lit;
	bool eq, prefix;
} compares[] = {
	{ "Content-Length", "content-length", true, true },
	{ "CONTENT-LENGTH", "Content-Length", true, true },
	{ "content-length", "content-lengt", false, true },
	{ "content-lengt", "content-length", false, false },
	{ "", "", true, true },
	{ "a", "", false, true },
	{ "", "a", false, false },
	{ "@", "`", false, false },		  /* 0x40/0x60: only A-Z fold */
	{ "[", "{", false, false },		  /* 0x5b/0x7b */
	{ "\xc3\xa9", "\xc3\x89", false, false }, /* no folding past ASCII */
	{ "HTTPS://h", "https://", false, true },
};

Test(http1, ieq_and_iprefix)
{
	for (size_t k = 0; k < sizeof(compares) / sizeof(compares[0]); k++) {
		struct in i = in_s(compares[k].s);

		cr_assert_eq(http1_ieq(i.p, i.end, compares[k].lit), compares[k].eq, "ieq %zu", k);
		cr_assert_eq(http1_iprefix(i.p, i.end, compares[k].lit), compares[k].prefix,
			     "iprefix %zu", k);
		in_free(&i);
	}
}

static const struct {
	const char *v;
	const char *elems[4]; /* NULL-ended */
} lists[] = {
	{ "", { NULL } },
	{ " , ,\t,", { NULL } },
	{ "close", { "close", NULL } },
	{ "  keep-alive , Upgrade\t", { "keep-alive", "Upgrade", NULL } },
	{ ",,a,,b,,", { "a", "b", NULL } },
	{ "a b , c", { "a b", "c", NULL } }, /* OWS inside an element is kept */
	{ "x,\ty ,z", { "x", "y", "z", NULL } },
};

Test(http1, list_next_trims_and_skips_empty_elements)
{
	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		struct in i = in_s(lists[k].v);
		const uint8_t *cur = i.p, *e;
		size_t n, j = 0;

		while (http1_list_next(&cur, i.end, &e, &n)) {
			cr_assert_not_null(lists[k].elems[j], "list %zu: extra element", k);
			cr_assert_eq(n, strlen(lists[k].elems[j]), "list %zu elem %zu", k, j);
			cr_assert_eq(memcmp(e, lists[k].elems[j], n), 0, "list %zu elem %zu", k, j);
			cr_assert(n > 0);
			j++;
		}
		cr_assert_null(lists[k].elems[j], "list %zu: element %zu missing", k, j);
		cr_assert_eq(cur, i.end);
		in_free(&i);
	}
}

static const struct {
	const char *v, *tok;
	bool has;
} list_has[] = {
	{ "close", "close", true },
	{ "Keep-Alive, CLOSE", "close", true },
	{ "keep-alive", "close", false },
	{ "closed", "close", false },
	{ "clo se", "close", false },
	{ "", "close", false },
	{ " ,100-continue", "100-continue", true },
};

Test(http1, list_has)
{
	for (size_t k = 0; k < sizeof(list_has) / sizeof(list_has[0]); k++) {
		struct in i = in_s(list_has[k].v);

		cr_assert_eq(http1_list_has(i.p, i.end, list_has[k].tok), list_has[k].has, "%zu",
			     k);
		in_free(&i);
	}
}

/* ---- numbers ---- */

static const struct {
	const char *s;
	int rc;
	uint64_t v; /* rc 0 or -ERANGE */
	size_t off; /* rc -EINVAL */
} decimals[] = {
	{ "0", 0, 0, 0 },
	{ "007", 0, 7, 0 },
	{ "65536", 0, 65536, 0 },
	{ "18446744073709551615", 0, UINT64_MAX, 0 },
	{ "018446744073709551615", 0, UINT64_MAX, 0 },
	{ "18446744073709551616", -ERANGE, UINT64_MAX, 0 },
	{ "99999999999999999999999", -ERANGE, UINT64_MAX, 0 },
	{ "", -EINVAL, 0, 0 },
	{ "-1", -EINVAL, 0, 0 },
	{ "+1", -EINVAL, 0, 0 },
	{ " 1", -EINVAL, 0, 0 },
	{ "1 ", -EINVAL, 0, 1 },
	{ "12a", -EINVAL, 0, 2 },
	{ "1,1", -EINVAL, 0, 1 },
	{ "99999999999999999999999x", -EINVAL, 0, 23 }, /* a bad byte wins over overflow */
};

Test(http1, parse_u64)
{
	for (size_t k = 0; k < sizeof(decimals) / sizeof(decimals[0]); k++) {
		struct in i = in_s(decimals[k].s);
		uint64_t v = 42;
		size_t off = 4242;
		int rc = http1_parse_u64(i.p, i.end, &v, &off);

		cr_assert_eq(rc, decimals[k].rc, "\"%s\": %d", decimals[k].s, rc);
		if (rc == -EINVAL) {
			cr_assert_eq(off, decimals[k].off, "\"%s\": off %zu", decimals[k].s, off);
			cr_assert_eq(v, 42, "\"%s\": value written on -EINVAL", decimals[k].s);
		} else {
			cr_assert_eq(v, decimals[k].v, "\"%s\"", decimals[k].s);
		}
		cr_assert_eq(http1_parse_u64(i.p, i.end, &v, NULL), decimals[k].rc);
		in_free(&i);
	}
}

static const struct {
	const char *s;
	size_t n;
	uint64_t v;
} scans[] = {
	{ "", 0, 0 },
	{ "-5", 0, 0 },
	{ "123-456", 3, 123 },
	{ "0", 1, 0 },
	{ "18446744073709551614,", 20, UINT64_MAX - 1 },
	{ "18446744073709551615", 20, UINT64_MAX },
	{ "18446744073709551616", 20, UINT64_MAX }, /* saturates */
	{ "999999999999999999999999999", 27, UINT64_MAX },
};

Test(http1, scan_u64_saturates)
{
	for (size_t k = 0; k < sizeof(scans) / sizeof(scans[0]); k++) {
		struct in i = in_s(scans[k].s);
		uint64_t v = 42;

		cr_assert_eq(http1_scan_u64(i.p, i.end, &v), scans[k].n, "\"%s\"", scans[k].s);
		cr_assert_eq(v, scans[k].v, "\"%s\"", scans[k].s);
		in_free(&i);
	}
}

static const struct {
	const char *s;
	uint64_t max;
	int rc;
	uint64_t v;
	size_t off;
} chunks[] = {
	{ "0", 100, 0, 0, 0 },
	{ "1a", 100, 0, 0x1a, 0 },
	{ "1A", 100, 0, 0x1a, 0 },
	{ "FF;name=value", 0xff, 0, 0xff, 0 },
	{ "10 ;x", 100, 0, 16, 0 },
	{ "10\t", 100, 0, 16, 0 },
	{ "10 junk", 100, 0, 16, 0 }, /* an extension is not looked into */
	{ "0000000000000000000000001", 100, 0, 1, 0 },
	{ "80000", 0x80000, 0, 0x80000, 0 },
	{ "80001", 0x80000, -E2BIG, 0, 0 },
	{ "100000zz", 0xfffff, -E2BIG, 0, 0 }, /* decided before the bad byte */
	{ "ffffffffffffffff", UINT64_MAX, 0, UINT64_MAX, 0 },
	{ "10000000000000000", UINT64_MAX, -E2BIG, 0, 0 }, /* would wrap */
	{ "", 100, -EINVAL, 0, 0 },
	{ ";ext", 100, -EINVAL, 0, 0 },
	{ " 1", 100, -EINVAL, 0, 0 },
	{ "1g", 100, -EINVAL, 0, 1 },
	{ "-1", 100, -EINVAL, 0, 0 },
	{ "0x10", 100, -EINVAL, 0, 1 },
};

Test(http1, chunk_size)
{
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct in i = in_s(chunks[k].s);
		uint64_t v = 42;
		size_t off = 4242;
		int rc = http1_chunk_size(i.p, i.end, chunks[k].max, &v, &off);

		cr_assert_eq(rc, chunks[k].rc, "\"%s\": %d", chunks[k].s, rc);
		if (rc == 0)
			cr_assert_eq(v, chunks[k].v, "\"%s\"", chunks[k].s);
		else
			cr_assert_eq(off, chunks[k].off, "\"%s\": off %zu", chunks[k].s, off);
		cr_assert_eq(http1_chunk_size(i.p, i.end, chunks[k].max, &v, NULL), chunks[k].rc);
		in_free(&i);
	}
}

/* ---- lines ---- */

static const struct {
	const char *s;
	int rc;
	size_t eol, next;
} lines[] = {
	{ "abc\r\nx", 1, 3, 5 },
	{ "abc\nx", 1, 3, 4 }, /* bare LF accepted */
	{ "\r\n", 1, 0, 2 },
	{ "\n", 1, 0, 1 },
	{ "a\tb \r\n", 1, 4, 6 },
	{ "", 0, 0, 0 },
	{ "abc", 0, 0, 0 },
	{ "abc\r", 0, 0, 0 }, /* the LF may follow */
	{ "a\rb\r\n", -EBADMSG, 1, 0 },
	{ "a\rb", -EBADMSG, 1, 0 },
	{ "a\r\r\n", -EBADMSG, 1, 0 },
	{ "\r\r", -EBADMSG, 0, 0 },
};

Test(http1, line)
{
	for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
		struct in i = in_s(lines[k].s);
		const uint8_t *eol = NULL, *next = NULL;
		int rc = http1_line(i.p, i.end, &eol, &next);

		cr_assert_eq(rc, lines[k].rc, "line %zu: %d", k, rc);
		if (rc != 0)
			cr_assert_eq(eol, i.p + lines[k].eol, "line %zu: eol", k);
		if (rc == 1)
			cr_assert_eq(next, i.p + lines[k].next, "line %zu: next", k);
		in_free(&i);
	}
}

/* ---- fields ---- */

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	const char *name, *value;
} fields_ok[] = {
	{ "Host: seed", 0, "Host", "seed" },
	{ "X-Empty:", 0, "X-Empty", "" },
	{ "X-Blank: \t ", 0, "X-Blank", "" },
	{ "A:  v \t", 0, "A", "v" },
	{ "A:v", 0, "A", "v" },
	{ "X: a  b", 0, "X", "a  b" },
	{ "X-Name: caf\xc3\xa9\xff", 0, "X-Name", "caf\xc3\xa9\xff" }, /* obs-text */
	{ "!#$%&'*+-.^_`|~09az: x", 0, "!#$%&'*+-.^_`|~09az", "x" },
	{ "Key: a:b", 0, "Key", "a:b" },
};

Test(http1, field_parse_splits)
{
	for (size_t k = 0; k < sizeof(fields_ok) / sizeof(fields_ok[0]); k++) {
		size_t n = fields_ok[k].len ? fields_ok[k].len : strlen(fields_ok[k].s);
		struct in i = in_n(fields_ok[k].s, n);
		struct http1_field f;

		cr_assert_eq(http1_field_parse(i.p, i.end, &f, NULL), 0, "\"%s\"", fields_ok[k].s);
		cr_assert_eq(f.name, i.p);
		cr_assert_eq(f.name_len, strlen(fields_ok[k].name), "\"%s\"", fields_ok[k].s);
		cr_assert_eq(memcmp(f.name, fields_ok[k].name, f.name_len), 0);
		cr_assert_eq(f.value_len, strlen(fields_ok[k].value), "\"%s\"", fields_ok[k].s);
		cr_assert_eq(memcmp(f.value, fields_ok[k].value, f.value_len), 0);
		cr_assert(f.value >= i.p && f.value + f.value_len <= i.end);
		in_free(&i);
	}
}

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	enum http1_fault_kind kind;
	size_t off;
} fields_bad[] = {
	{ " X: 1", 0, HTTP1_FAULT_FOLD, 0 },
	{ "\tX: 1", 0, HTTP1_FAULT_FOLD, 0 },
	{ " ", 0, HTTP1_FAULT_FOLD, 0 },
	{ "Host : h", 0, HTTP1_FAULT_NAME, 4 }, /* whitespace before the colon */
	{ "X(y): 1", 0, HTTP1_FAULT_NAME, 1 },
	{ "(: 1", 0, HTTP1_FAULT_NAME, 0 },
	{ "X\xc3\xa9: 1", 0, HTTP1_FAULT_NAME, 1 },
	{ "NoColon", 0, HTTP1_FAULT_COLON, 7 },
	{ ": v", 0, HTTP1_FAULT_COLON, 0 },
	{ "", 0, HTTP1_FAULT_COLON, 0 },
	{ "X: a\rb", 0, HTTP1_FAULT_VALUE, 4 },
	{ "X: a\x7f", 0, HTTP1_FAULT_VALUE, 4 },
	{ "X: \x01", 0, HTTP1_FAULT_VALUE, 3 },
	{ "X: a\nb", 0, HTTP1_FAULT_VALUE, 4 },
	{ "X: a\0b", 6, HTTP1_FAULT_VALUE, 4 },
	{ "X:\0", 3, HTTP1_FAULT_VALUE, 2 },
};

Test(http1, field_parse_faults)
{
	for (size_t k = 0; k < sizeof(fields_bad) / sizeof(fields_bad[0]); k++) {
		size_t n = fields_bad[k].len ? fields_bad[k].len : strlen(fields_bad[k].s);
		struct in i = in_n(fields_bad[k].s, n);
		struct http1_field f, before;
		struct http1_fault ft = { 0, 4242 };

		memset(&f, CANARY, sizeof(f));
		before = f;
		cr_assert_eq(http1_field_parse(i.p, i.end, &f, &ft), -EBADMSG, "case %zu", k);
		cr_assert_eq(ft.kind, fields_bad[k].kind, "case %zu: kind %d", k, ft.kind);
		cr_assert_eq(ft.off, fields_bad[k].off, "case %zu: off %zu", k, ft.off);
		cr_assert_eq(memcmp(&f, &before, sizeof(f)), 0, "case %zu: out written", k);
		cr_assert_eq(http1_field_parse(i.p, i.end, &f, NULL), -EBADMSG);
		in_free(&i);
	}
}

/* ---- versions ---- */

static const struct {
	const char *s;
	int rc;
	unsigned major, minor;
} versions[] = {
	{ "HTTP/1.1", 0, 1, 1 },  { "HTTP/1.0", 0, 1, 0 },	   { "HTTP/2.0", 0, 2, 0 },
	{ "HTTP/0.9", 0, 0, 9 },  { "HTTP/1.10", -EBADMSG, 0, 0 }, { "HTTP/1", -EBADMSG, 0, 0 },
	{ "http/1.1", -EBADMSG }, { "HTTP/a.1", -EBADMSG },	   { "HTTP/1,1", -EBADMSG },
	{ "HTTP/1.x", -EBADMSG }, { " HTTP/1.1", -EBADMSG },	   { "HTTP/1.1 ", -EBADMSG },
	{ "", -EBADMSG },	  { "HTTP-1.1", -EBADMSG },
};

Test(http1, version)
{
	for (size_t k = 0; k < sizeof(versions) / sizeof(versions[0]); k++) {
		struct in i = in_s(versions[k].s);
		unsigned major = 77, minor = 77;
		int rc = http1_version(i.p, i.end, &major, &minor);

		cr_assert_eq(rc, versions[k].rc, "\"%s\"", versions[k].s);
		if (!rc) {
			cr_assert_eq(major, versions[k].major);
			cr_assert_eq(minor, versions[k].minor);
		} else {
			cr_assert(major == 77 && minor == 77, "\"%s\": out written", versions[k].s);
		}
		in_free(&i);
	}
}

/* ---- targets ---- */

static const struct {
	const char *s;
	int rc;
	const char *path, *query; /* NULL: none */
	enum http1_fault_kind kind;
	size_t off;
} targets[] = {
	{ "/", 0, "/", NULL },
	{ "/a/b?x=1&y", 0, "/a/b", "x=1&y" },
	{ "/a?", 0, "/a", "" },
	{ "/a?b?c", 0, "/a", "b?c" },
	{ "/a#b", 0, "/a#b", NULL }, /* bytes are the caller's to check */
	{ "http://h", 0, NULL, NULL },
	{ "HTTPS://h?q", 0, NULL, "q" },
	{ "http://h:80/x?y", 0, "/x", "y" },
	{ "hTTp://[::1]:9180/api/v1", 0, "/api/v1", NULL },
	{ "http:///x", -EBADMSG, NULL, NULL, HTTP1_FAULT_HOST, 7 },
	{ "https://", -EBADMSG, NULL, NULL, HTTP1_FAULT_HOST, 8 },
	{ "http://?q", -EBADMSG, NULL, NULL, HTTP1_FAULT_HOST, 7 },
	{ "*", -EBADMSG, NULL, NULL, HTTP1_FAULT_FORM, 0 },
	{ "h:80", -EBADMSG, NULL, NULL, HTTP1_FAULT_FORM, 0 },
	{ "ftp://h/x", -EBADMSG, NULL, NULL, HTTP1_FAULT_FORM, 0 },
	{ "http:/h/x", -EBADMSG, NULL, NULL, HTTP1_FAULT_FORM, 0 },
	{ "", -EBADMSG, NULL, NULL, HTTP1_FAULT_FORM, 0 },
};

Test(http1, target_parse)
{
	for (size_t k = 0; k < sizeof(targets) / sizeof(targets[0]); k++) {
		struct in i = in_s(targets[k].s);
		struct http1_target t;
		struct http1_fault f = { 0, 4242 };
		int rc = http1_target_parse(i.p, i.end, &t, &f);

		cr_assert_eq(rc, targets[k].rc, "\"%s\"", targets[k].s);
		if (rc) {
			cr_assert_eq(f.kind, targets[k].kind, "\"%s\"", targets[k].s);
			cr_assert_eq(f.off, targets[k].off, "\"%s\"", targets[k].s);
			in_free(&i);
			continue;
		}
		if (targets[k].path) {
			cr_assert_eq(t.path_len, strlen(targets[k].path), "\"%s\"", targets[k].s);
			cr_assert_eq(memcmp(t.path, targets[k].path, t.path_len), 0);
		} else {
			cr_assert_null(t.path, "\"%s\"", targets[k].s);
			cr_assert_eq(t.path_len, 0);
		}
		if (targets[k].query) {
			cr_assert_not_null(t.query, "\"%s\"", targets[k].s);
			cr_assert_eq(t.query_len, strlen(targets[k].query), "\"%s\"", targets[k].s);
			cr_assert_eq(memcmp(t.query, targets[k].query, t.query_len), 0);
		} else {
			cr_assert_null(t.query, "\"%s\"", targets[k].s);
			cr_assert_eq(t.query_len, 0);
		}
		in_free(&i);
	}
}

/* ---- percent-decoding ---- */

static const struct {
	const char *s;
	size_t len; /* 0: strlen */
	size_t cap;
	unsigned flags;
	ssize_t rc;
	const char *out;
} pcts[] = {
	{ "abc", 0, 16, 0, 3, "abc" },
	{ "", 0, 0, 0, 0, "" },
	{ "%41%62", 0, 16, 0, 2, "Ab" },
	{ "%e2%82%AC", 0, 16, 0, 3, "\xe2\x82\xac" },
	{ "a+b", 0, 16, 0, 3, "a+b" }, /* '+' is not a space */
	{ "%2F", 0, 16, 0, 1, "/" },
	{ "%2f", 0, 16, HTTP1_PCT_NO_SLASH, -EINVAL, NULL },
	{ "/a/b", 0, 16, HTTP1_PCT_NO_SLASH, 4, "/a/b" }, /* a raw '/' stays */
	{ "%", 0, 16, 0, -EINVAL, NULL },
	{ "a%4", 0, 16, 0, -EINVAL, NULL },
	{ "%4g", 0, 16, 0, -EINVAL, NULL },
	{ "%g4", 0, 16, 0, -EINVAL, NULL },
	{ "%00", 0, 16, 0, -EINVAL, NULL },
	{ "a\0b", 3, 16, 0, -EINVAL, NULL },
	{ "abcd", 0, 3, 0, -ENOBUFS, NULL },
	{ "abc", 0, 3, 0, 3, "abc" },
	{ "%41", 0, 1, 0, 1, "A" },
	{ "%41", 0, 0, 0, -ENOBUFS, NULL },
	{ "%zz", 0, 0, 0, -EINVAL, NULL },   /* faults in input order: the escape first */
	{ "a%zz", 0, 0, 0, -ENOBUFS, NULL }, /* ... the room for 'a' first */
};

Test(http1, pct_decode)
{
	for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
		size_t n = pcts[k].len ? pcts[k].len : strlen(pcts[k].s);
		struct in i = in_n(pcts[k].s, n);
		uint8_t *dst = malloc(pcts[k].cap ? pcts[k].cap : 1);
		ssize_t rc;

		cr_assert_not_null(dst);
		rc = http1_pct_decode(i.p, i.end, dst, pcts[k].cap, pcts[k].flags);
		cr_assert_eq(rc, pcts[k].rc, "case %zu: %zd", k, rc);
		if (rc >= 0)
			cr_assert_eq(memcmp(dst, pcts[k].out, (size_t)rc), 0, "case %zu", k);
		free(dst);
		in_free(&i);
	}
}

Test(http1, pct_decode_in_place)
{
	char buf[] = "/a%20b/%C3%A9";
	uint8_t *p = (uint8_t *)buf;

	cr_assert_eq(http1_pct_decode(p, p + strlen(buf), p, strlen(buf), 0), 7);
	cr_assert_eq(memcmp(buf, "/a b/\xc3\xa9", 7), 0);
}

/* ---- reason phrases ---- */

Test(http1, reason)
{
	static const struct {
		unsigned code;
		const char *text;
	} cases[] = {
		{ 100, "Continue" },
		{ 200, "OK" },
		{ 206, "Partial Content" },
		{ 404, "Not Found" },
		{ 413, "Content Too Large" },
		{ 416, "Range Not Satisfiable" },
		{ 431, "Request Header Fields Too Large" },
		{ 505, "HTTP Version Not Supported" },
		{ 0, NULL },
		{ 299, NULL },
		{ 600, NULL },
		{ 65536 + 200, NULL },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *r = http1_reason(cases[k].code);

		if (cases[k].text)
			cr_assert_str_eq(r, cases[k].text, "%u", cases[k].code);
		else
			cr_assert_null(r, "%u", cases[k].code);
	}
}

/* ---- the bounded writer ---- */

Test(http1, writer_exact_fit_then_full)
{
	uint8_t buf[8 + 4];
	struct http1_wbuf w;

	memset(buf, CANARY, sizeof(buf));
	http1_wbuf_init(&w, buf, 8);
	http1_put_str(&w, "GET ");
	http1_put(&w, "/abc", 4);
	cr_assert_eq(w.len, 8);
	cr_assert_not(w.full);
	http1_put(&w, "", 0); /* nothing fits in nothing */
	cr_assert_not(w.full);
	http1_put_str(&w, "x");
	cr_assert(w.full);
	cr_assert_eq(w.len, 8);
	cr_assert_eq(memcmp(buf, "GET /abc", 8), 0);
	for (size_t i = 8; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], CANARY, "wrote past the capacity at %zu", i);
}

Test(http1, writer_drops_everything_after_an_overflow)
{
	uint8_t buf[6];
	struct http1_wbuf w;

	memset(buf, CANARY, sizeof(buf));
	http1_wbuf_init(&w, buf, sizeof(buf));
	http1_put_str(&w, "abcd");
	http1_put_str(&w, "efg"); /* one byte too many: all of it dropped */
	http1_put_str(&w, "e");	  /* would fit, but the result is already wrong */
	http1_put_u64(&w, 1);
	cr_assert(w.full);
	cr_assert_eq(w.len, 4);
	cr_assert_eq(memcmp(buf, "abcd", 4), 0);
	cr_assert_eq(buf[4], CANARY);
}

Test(http1, writer_zero_capacity)
{
	uint8_t b = CANARY;
	struct http1_wbuf w;

	http1_wbuf_init(&w, &b, 0);
	http1_put(&w, "", 0);
	cr_assert_not(w.full);
	http1_put_u64(&w, 0);
	cr_assert(w.full);
	cr_assert_eq(w.len, 0);
	cr_assert_eq(b, CANARY);
}

Test(http1, writer_counts_without_a_buffer)
{
	struct http1_wbuf w;

	http1_wbuf_init(&w, NULL, 0);
	http1_put_str(&w, "HTTP/1.1 ");
	http1_put_u64(&w, 200);
	http1_put_hex(&w, (const uint8_t *)"\x01\x02", 2, false);
	http1_put_pct(&w, (const uint8_t *)"a b", 3);
	cr_assert_not(w.full);
	cr_assert_eq(w.len, 9 + 3 + 4 + 5);
	w.len = SIZE_MAX - 1; /* a count that would wrap is full, not small */
	http1_put(&w, "ab", 2);
	cr_assert(w.full);
}

Test(http1, put_u64)
{
	static const struct {
		uint64_t v;
		const char *s;
	} cases[] = {
		{ 0, "0" },
		{ 9, "9" },
		{ 10, "10" },
		{ 4294967296ULL, "4294967296" },
		{ UINT64_MAX, "18446744073709551615" },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char buf[32];
		struct http1_wbuf w;

		http1_wbuf_init(&w, buf, sizeof(buf));
		http1_put_u64(&w, cases[k].v);
		cr_assert_eq(w.len, strlen(cases[k].s));
		cr_assert_eq(memcmp(buf, cases[k].s, w.len), 0, "%s", cases[k].s);
		/* all or nothing: one byte short writes none of it */
		http1_wbuf_init(&w, buf, strlen(cases[k].s) - 1);
		http1_put_u64(&w, cases[k].v);
		cr_assert(w.full);
		cr_assert_eq(w.len, 0);
	}
}

Test(http1, put_hex_both_cases_across_chunks)
{
	uint8_t src[40];
	char buf[2 * sizeof(src)], want[2 * sizeof(src) + 1];
	struct http1_wbuf w;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 37 + 0xa0);
	for (int upper = 0; upper <= 1; upper++) {
		for (size_t i = 0; i < sizeof(src); i++)
			snprintf(want + 2 * i, 3, upper ? "%02X" : "%02x", src[i]);
		http1_wbuf_init(&w, buf, sizeof(buf));
		http1_put_hex(&w, src, sizeof(src), upper);
		cr_assert_not(w.full);
		cr_assert_eq(w.len, sizeof(buf));
		cr_assert_eq(memcmp(buf, want, sizeof(buf)), 0, "upper %d", upper);
	}
}

Test(http1, put_pct_escapes_all_but_unreserved)
{
	static const char unreserved[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789-._~";
	char buf[3 * 256];
	struct http1_wbuf w;
	size_t o = 0;
	uint8_t all[256];

	for (unsigned b = 0; b < 256; b++)
		all[b] = (uint8_t)b;
	http1_wbuf_init(&w, buf, sizeof(buf));
	http1_put_pct(&w, all, sizeof(all));
	cr_assert_not(w.full);
	for (unsigned b = 0; b < 256; b++) {
		if (b && strchr(unreserved, (int)b)) {
			cr_assert_eq((uint8_t)buf[o], b, "0x%02x", b);
			o++;
		} else {
			char e[4];

			snprintf(e, sizeof(e), "%%%02X", b);
			cr_assert_eq(memcmp(buf + o, e, 3), 0, "0x%02x", b);
			o += 3;
		}
	}
	cr_assert_eq(w.len, o);
}
