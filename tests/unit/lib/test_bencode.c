/*
 * Unit tests for lib/bencode.c.
 *
 * Every expected value here (error code, byte offset, message, integer,
 * encoded bytes) is written by hand from BEP 3 and bencode.h, never taken
 * from the code under test. Offsets name the byte at fault: the offending
 * digit or character, the start of an out-of-order key or of a value that
 * breaks a limit, or the end of input when it stops short.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "bencode.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static int parse(const void *p, size_t n, const struct bencode_limits *lim,
		 struct bencode_doc **doc, struct seed_err *err)
{
	seed_err_clear(err);
	return bencode_parse(p, (const uint8_t *)p + n, lim, doc, err);
}

/* ---- malformed input: one row per rule ---- */

/*
 * Inline arrays, not pointers: criterion runs each parameter in a fresh
 * process, where pointers into the parent's data would dangle.
 */
struct bad_case {
	char in[32];
	size_t len;
	int code;
	size_t off;
	char what[64]; /* the message is "bencode: <what> at byte <off>" */
};

#define BAD(lit, c, o, w)                     \
	{                                     \
		lit, sizeof(lit) - 1, c, o, w \
	}

ParameterizedTestParameters(bencode_bad, rejects)
{
	static struct bad_case cases[] = {
		BAD("i03e", -EINVAL, 1, "integer has a leading zero"),
		BAD("i00e", -EINVAL, 1, "integer has a leading zero"),
		BAD("i-0e", -EINVAL, 2, "integer is negative zero"),
		BAD("i-03e", -EINVAL, 2, "integer is negative zero"),
		BAD("i-e", -EINVAL, 2, "integer has no digits"),
		BAD("ie", -EINVAL, 1, "integer has no digits"),
		BAD("i+1e", -EINVAL, 1, "invalid byte 0x2b in integer"),
		BAD("i 1e", -EINVAL, 1, "invalid byte 0x20 in integer"),
		BAD("i--1e", -EINVAL, 2, "invalid byte 0x2d in integer"),
		BAD("i1-e", -EINVAL, 2, "invalid byte 0x2d in integer"),
		BAD("i1.5e", -EINVAL, 2, "invalid byte 0x2e in integer"),
		BAD("i1", -EINVAL, 2, "unexpected end of input"),
		BAD("i", -EINVAL, 1, "unexpected end of input"),
		BAD("i-", -EINVAL, 2, "unexpected end of input"),
		BAD("03:abc", -EINVAL, 0, "string length has a leading zero"),
		BAD("00:", -EINVAL, 0, "string length has a leading zero"),
		BAD("4:abc", -EINVAL, 0, "string length exceeds remaining input (3 bytes)"),
		BAD("99999999999999999999:", -EINVAL, 0,
		    "string length exceeds remaining input (0 bytes)"),
		BAD("184467440737095516160:x", -EINVAL, 0,
		    "string length exceeds remaining input (1 bytes)"),
		BAD("1x", -EINVAL, 1, "invalid byte 0x78 in string length"),
		BAD("12", -EINVAL, 2, "unexpected end of input"),
		BAD("-1:a", -EINVAL, 0, "unexpected byte '-'"),
		BAD("d1:b0:1:a0:e", -EINVAL, 6, "dictionary keys out of order"),
		/* "a" is a prefix of "ab", so it sorts first */
		BAD("d2:ab0:1:a0:e", -EINVAL, 7, "dictionary keys out of order"),
		BAD("d1:a0:1:a0:e", -EINVAL, 6, "duplicate dictionary key"),
		BAD("d0:i1e0:i2ee", -EINVAL, 6, "duplicate dictionary key"),
		BAD("di1e0:e", -EINVAL, 1, "dictionary key is not a string"),
		BAD("dle0:e", -EINVAL, 1, "dictionary key is not a string"),
		BAD("d1:ae", -EINVAL, 4, "dictionary key has no value"),
		BAD("d1:a", -EINVAL, 4, "unexpected end of input"),
		BAD("d", -EINVAL, 1, "unexpected end of input"),
		BAD("i1ei2e", -EINVAL, 3, "trailing data after value"),
		BAD("lee", -EINVAL, 2, "trailing data after value"),
		BAD("3:abcd", -EINVAL, 5, "trailing data after value"),
		BAD("0:\n", -EINVAL, 2, "trailing data after value"),
		BAD("", -EINVAL, 0, "empty input"),
		BAD("l", -EINVAL, 1, "unexpected end of input"),
		BAD("li1e", -EINVAL, 4, "unexpected end of input"),
		BAD("e", -EINVAL, 0, "unexpected byte 'e'"),
		BAD("x", -EINVAL, 0, "unexpected byte 'x'"),
		BAD("\0", -EINVAL, 0, "unexpected byte 0x00"),
		BAD("l\xff"
		    "e",
		    -EINVAL, 1, "unexpected byte 0xff"),
		BAD(" i1e", -EINVAL, 0, "unexpected byte 0x20"),
		BAD("i9223372036854775808e", -E2BIG, 0, "integer out of 64-bit range"),
		BAD("i-9223372036854775809e", -E2BIG, 0, "integer out of 64-bit range"),
		BAD("li18446744073709551616ee", -E2BIG, 1, "integer out of 64-bit range"),
	};

	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, bencode_bad, rejects)
{
	struct bencode_doc *doc = (struct bencode_doc *)1;
	struct seed_err err;
	char want[SEED_ERR_MSG_MAX];
	int rc;

	rc = parse(c->in, c->len, NULL, &doc, &err);
	cr_assert_eq(rc, c->code, "input \"%s\": rc %d, want %d", c->in, rc, c->code);
	cr_assert_null(doc, "input \"%s\": doc not NULL on failure", c->in);
	cr_assert_eq(err.code, c->code);
	cr_assert(err.has_offset, "input \"%s\": no offset", c->in);
	cr_assert_eq(err.offset, c->off, "input \"%s\": offset %llu, want %zu", c->in,
		     (unsigned long long)err.offset, c->off);
	snprintf(want, sizeof(want), "bencode: %s at byte %zu", c->what, c->off);
	cr_assert_str_eq(err.msg, want, "input \"%s\"", c->in);
}

/* ---- valid input ---- */

Test(bencode_parse, scalars)
{
	struct bencode_doc *doc;
	const struct bencode_node *n;
	struct seed_err err;

	cr_assert_eq(parse(S("i0e"), NULL, &doc, &err), 0);
	n = bencode_root(doc);
	cr_assert_eq(n->type, BENCODE_INT);
	cr_assert_eq(n->u.i, 0);
	cr_assert_eq(n->raw_len, 3);
	bencode_free(doc);

	cr_assert_eq(parse(S("i-17e"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->u.i, -17);
	bencode_free(doc);

	cr_assert_eq(parse(S("0:"), NULL, &doc, &err), 0);
	n = bencode_root(doc);
	cr_assert_eq(n->type, BENCODE_STR);
	cr_assert_eq(n->u.s.len, 0);
	cr_assert_eq(n->raw_len, 2);
	bencode_free(doc);

	/* binary bytes, including 'e' and NUL, are plain string content */
	cr_assert_eq(parse(S("10:ab\0de:i1e\xff"), NULL, &doc, &err), 0);
	n = bencode_root(doc);
	cr_assert_eq(n->u.s.len, 10);
	cr_assert_eq(memcmp(n->u.s.p, "ab\0de:i1e\xff", 10), 0);
	bencode_free(doc);

	cr_assert_eq(parse(S("le"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->type, BENCODE_LIST);
	cr_assert_eq(bencode_root(doc)->u.list.n, 0);
	bencode_free(doc);

	cr_assert_eq(parse(S("de"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->type, BENCODE_DICT);
	cr_assert_eq(bencode_root(doc)->u.dict.n, 0);
	bencode_free(doc);
}

Test(bencode_parse, int64_limits_exact)
{
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_eq(parse(S("i9223372036854775807e"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->u.i, INT64_MAX);
	cr_assert_eq(bencode_root(doc)->u.i, 9223372036854775807LL);
	bencode_free(doc);

	cr_assert_eq(parse(S("i-9223372036854775808e"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->u.i, INT64_MIN);
	bencode_free(doc);

	cr_assert_eq(parse(S("i9223372036854775806e"), NULL, &doc, &err), 0);
	cr_assert_eq(bencode_root(doc)->u.i, 9223372036854775806LL);
	bencode_free(doc);
}

Test(bencode_parse, int64_out_of_range)
{
	static const char *const bad[] = {
		"i9223372036854775808e",  /* 2^63 */
		"i-9223372036854775809e", /* -2^63 - 1 */
		"i9223372036854775810e",
		"i92233720368547758070e",
		"i99999999999999999999999999999999e",
	};
	struct bencode_doc *doc;
	struct seed_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(parse(bad[i], strlen(bad[i]), NULL, &doc, &err), -E2BIG, "%s", bad[i]);
		cr_assert_null(doc);
		cr_assert_eq(err.offset, 0);
	}
}

Test(bencode_parse, list_and_dict_shape)
{
	static const char in[] = "d1:ai1e2:ab3:xyz1:bli2el0:eee";
	const struct bencode_node *r, *l;
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_eq(parse(S(in), NULL, &doc, &err), 0, "%s", err.msg);
	r = bencode_root(doc);
	cr_assert_eq(r->type, BENCODE_DICT);
	cr_assert_eq(r->u.dict.n, 3);
	cr_assert_eq(r->u.dict.items[0].key_len, 1);
	cr_assert_eq(memcmp(r->u.dict.items[0].key, "a", 1), 0);
	cr_assert_eq(r->u.dict.items[0].val->u.i, 1);
	cr_assert_eq(r->u.dict.items[1].key_len, 2);
	cr_assert_eq(memcmp(r->u.dict.items[1].key, "ab", 2), 0);
	cr_assert_eq(r->u.dict.items[1].val->u.s.len, 3);
	cr_assert_eq(memcmp(r->u.dict.items[1].val->u.s.p, "xyz", 3), 0);
	l = r->u.dict.items[2].val;
	cr_assert_eq(l->type, BENCODE_LIST);
	cr_assert_eq(l->u.list.n, 2);
	cr_assert_eq(l->u.list.items[0]->u.i, 2);
	cr_assert_eq(l->u.list.items[1]->type, BENCODE_LIST);
	cr_assert_eq(l->u.list.items[1]->u.list.n, 1);
	cr_assert_eq(l->u.list.items[1]->u.list.items[0]->u.s.len, 0);
	/* strings borrow the input buffer */
	cr_assert_eq((const char *)r->u.dict.items[1].key, in + 9);
	cr_assert_eq(r->raw, (const uint8_t *)in);
	cr_assert_eq(r->raw_len, sizeof(in) - 1);
	bencode_free(doc);
}

/* How an info-hash is taken: the raw span of the info dict, exactly. */
Test(bencode_parse, raw_span_of_inner_dict)
{
	static const char in[] = "d8:announce3:url4:infod6:lengthi5e4:name1:xe3:zzzi0ee";
	static const char info[] = "d6:lengthi5e4:name1:xe";
	const struct bencode_node *n;
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_eq(parse(S(in), NULL, &doc, &err), 0, "%s", err.msg);
	n = bencode_dict_get(bencode_root(doc), "info");
	cr_assert_not_null(n);
	/* "d" + "8:announce" + "3:url" + "4:info" = 1 + 10 + 5 + 6 */
	cr_assert_eq(n->raw, (const uint8_t *)in + 22);
	cr_assert_eq(n->raw_len, sizeof(info) - 1);
	cr_assert_eq(memcmp(n->raw, info, sizeof(info) - 1), 0);

	n = bencode_dict_get(n, "length");
	cr_assert_eq(n->raw, (const uint8_t *)in + 22 + 9);
	cr_assert_eq(n->raw_len, 3);
	n = bencode_dict_get(bencode_root(doc), "zzz");
	cr_assert_eq(n->raw_len, 3);
	cr_assert_eq(memcmp(n->raw, "i0e", 3), 0);
	bencode_free(doc);
}

Test(bencode_parse, dict_get_hits_and_misses)
{
	static const char in[] = "d0:i0e1:ai1e2:aai2e2:abi3e1:bi4e2:bai5e1:ci6e3:x\0yi7ee";
	static const char *const miss[] = {
		"0", "A", "aaa", "ab0", "abc", "b\x01", "bb", "d", "x", "x\xff", "\xff",
	};
	static const struct {
		const char *k;
		size_t n;
		int64_t v;
	} hit[] = {
		{ "", 0, 0 },  { "a", 1, 1 },  { "aa", 2, 2 }, { "ab", 2, 3 },
		{ "b", 1, 4 }, { "ba", 2, 5 }, { "c", 1, 6 },  { "x\0y", 3, 7 },
	};
	const struct bencode_node *r, *n;
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_eq(parse(S(in), NULL, &doc, &err), 0, "%s", err.msg);
	r = bencode_root(doc);
	cr_assert_eq(r->u.dict.n, 8);
	for (size_t i = 0; i < sizeof(hit) / sizeof(hit[0]); i++) {
		n = bencode_dict_getn(r, hit[i].k, hit[i].n);
		cr_assert_not_null(n, "key %zu", i);
		cr_assert_eq(n->u.i, hit[i].v, "key %zu", i);
	}
	cr_assert_eq(bencode_dict_get(r, "ab")->u.i, 3);
	cr_assert_eq(bencode_dict_get(r, "")->u.i, 0);
	for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
		cr_assert_null(bencode_dict_get(r, miss[i]), "%s", miss[i]);
	/* "x" alone misses although "x\0y" is there */
	cr_assert_null(bencode_dict_getn(r, "x", 1));
	cr_assert_null(bencode_dict_get(NULL, "a"));
	cr_assert_null(bencode_dict_get(r, NULL));
	cr_assert_null(bencode_dict_get(bencode_dict_get(r, "a"), "a"));
	bencode_free(doc);

	cr_assert_eq(parse(S("de"), NULL, &doc, &err), 0);
	cr_assert_null(bencode_dict_get(bencode_root(doc), ""));
	bencode_free(doc);
	cr_assert_eq(parse(S("l1:ae"), NULL, &doc, &err), 0);
	cr_assert_null(bencode_dict_get(bencode_root(doc), "a"));
	bencode_free(doc);
}

/* ---- truncation ---- */

static const char torrent[] = "d8:announce20:http://t.example/ann7:comment2:hi"
			      "4:infod6:lengthi-42e4:name5:a.bin12:piece lengthi16384e"
			      "6:pieces20:AAAAAAAAAAAAAAAAAAAAe"
			      "4:listli1ei2eli3eedeleee";

Test(bencode_truncation, every_prefix_fails_cleanly)
{
	const size_t n = sizeof(torrent) - 1;
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_eq(parse(torrent, n, NULL, &doc, &err), 0, "%s", err.msg);
	cr_assert_eq(bencode_root(doc)->u.dict.n, 4);
	cr_assert_eq(
		bencode_dict_get(bencode_dict_get(bencode_root(doc), "info"), "piece length")->u.i,
		16384);
	bencode_free(doc);

	for (size_t len = 0; len < n; len++) {
		/* exact-size copy so ASan sees any read past the prefix */
		uint8_t *p = malloc(len ? len : 1);
		int rc;

		cr_assert_not_null(p);
		memcpy(p, torrent, len);
		doc = (struct bencode_doc *)1;
		rc = parse(p, len, NULL, &doc, &err);
		cr_assert_eq(rc, -EINVAL, "prefix %zu: rc %d", len, rc);
		cr_assert_null(doc, "prefix %zu", len);
		cr_assert(err.has_offset);
		cr_assert_leq(err.offset, len, "prefix %zu: offset %llu", len,
			      (unsigned long long)err.offset);
		cr_assert(strstr(err.msg, "unexpected end of input") ||
				  strstr(err.msg, "empty input") ||
				  strstr(err.msg, "exceeds remaining input"),
			  "prefix %zu: %s", len, err.msg);
		free(p);
	}
}

/* ---- limits ---- */

/* open x depth, then mid, then close x depth (mid may be "") */
static char *nest(const char *open, const char *mid, const char *close, size_t depth,
		  size_t *out_len)
{
	size_t ol = strlen(open), ml = strlen(mid), cl = strlen(close);
	size_t n = depth * (ol + cl) + ml;
	char *p = malloc(n), *q = p;

	cr_assert_not_null(p);
	for (size_t i = 0; i < depth; i++, q += ol)
		memcpy(q, open, ol);
	memcpy(q, mid, ml);
	q += ml;
	for (size_t i = 0; i < depth; i++, q += cl)
		memcpy(q, close, cl);
	*out_len = n;
	return p;
}

/* Parses nest(open, mid, close, depth) with the default limits: parse's
 * result, its error in *err; a refused document comes back as NULL. */
static int parse_nested(const char *open, const char *mid, const char *close, size_t depth,
			struct seed_err *err)
{
	struct bencode_doc *doc = NULL;
	size_t n;
	char *p = nest(open, mid, close, depth, &n);
	int rc = parse(p, n, NULL, &doc, err);

	if (rc == 0)
		bencode_free(doc);
	else
		cr_assert_null(doc);
	free(p);
	return rc;
}

Test(bencode_limits, deep_lists_rejected_without_recursion)
{
	struct seed_err err;

	cr_assert_eq(parse_nested("l", "", "e", 10000, &err), -E2BIG);
	/* the 65th 'l' is the first one too deep */
	cr_assert_eq(err.offset, 64);
	cr_assert_str_eq(err.msg, "bencode: nesting deeper than 64 at byte 64");
}

Test(bencode_limits, deep_dicts_rejected)
{
	struct seed_err err;

	cr_assert_eq(parse_nested("d1:a", "de", "e", 9999, &err), -E2BIG);
	cr_assert_eq(err.offset, 64 * 4);
}

Test(bencode_limits, depth_64_accepted_65_rejected)
{
	struct seed_err err;

	cr_assert_eq(parse_nested("l", "", "e", 64, &err), 0, "%s", err.msg);
	cr_assert_eq(parse_nested("l", "", "e", 65, &err), -E2BIG);
}

/* A raised limit parses 10000 levels: nesting is not C-stack recursion. */
Test(bencode_limits, raised_depth_parses_10000_levels)
{
	struct bencode_limits lim = { .max_depth = 20000 };
	const struct bencode_node *r;
	struct bencode_doc *doc;
	struct seed_err err;
	size_t n, levels = 1;
	char *p = nest("d1:a", "de", "e", 9999, &n);

	cr_assert_eq(parse(p, n, &lim, &doc, &err), 0, "%s", err.msg);
	for (r = bencode_root(doc); r->u.dict.n; r = r->u.dict.items[0].val)
		levels++;
	cr_assert_eq(levels, 10000);
	bencode_free(doc);
	free(p);
}

/* A document parsed under limits: accepted (rc 0), or refused with rc at
 * byte offset (and msg, when not NULL). */
struct limit_case {
	const char *doc;
	struct bencode_limits lim;
	int rc;
	size_t offset;
	const char *msg;
};

static void expect_limits(const struct limit_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bencode_doc *doc = NULL;
		struct seed_err err;
		int rc = parse(c[i].doc, strlen(c[i].doc), &c[i].lim, &doc, &err);

		cr_assert_eq(rc, c[i].rc, "%s: %d (%s)", c[i].doc, rc, err.msg);
		if (rc == 0) {
			bencode_free(doc);
			continue;
		}
		cr_assert_null(doc, "%s", c[i].doc);
		cr_assert_eq(err.offset, c[i].offset, "%s: offset %zu", c[i].doc, err.offset);
		if (c[i].msg)
			cr_assert_str_eq(err.msg, c[i].msg);
	}
}

Test(bencode_limits, small_max_depth)
{
	TU_TABLE(expect_limits, struct limit_case, { "llee", { .max_depth = 2 }, 0, 0, NULL },
		 { "ld0:lleee", { .max_depth = 2 }, -E2BIG, 4, NULL });
}

Test(bencode_limits, node_limit)
{
	TU_TABLE(expect_limits, struct limit_case,
		 /* the list and its three integers: four values */
		 { "li1ei2ei3ee", { .max_nodes = 4 }, 0, 0, NULL },
		 { "li1ei2ei3ee",
		   { .max_nodes = 3 },
		   -E2BIG,
		   7,
		   "bencode: more than 3 values at byte 7" },
		 /* dictionary keys are not values */
		 { "d1:ai1e1:bi2ee", { .max_nodes = 2 }, -E2BIG, 10, NULL },
		 { "d1:ai1e1:bi2ee", { .max_nodes = 3 }, 0, 0, NULL });
}

Test(bencode_limits, default_node_limit_is_4m)
{
	/* 2^22 values: the list plus 2^22 - 1 empty strings "0:" */
	const size_t items = ((size_t)1 << 22) - 1;
	size_t n = 2 + 2 * items;
	uint8_t *p = malloc(n + 2);
	struct bencode_doc *doc;
	struct seed_err err;

	cr_assert_not_null(p);
	p[0] = 'l';
	for (size_t i = 0; i < items; i++)
		memcpy(p + 1 + 2 * i, "0:", 2);
	p[n - 1] = 'e';
	cr_assert_eq(parse(p, n, NULL, &doc, &err), 0, "%s", err.msg);
	cr_assert_eq(bencode_root(doc)->u.list.n, items);
	bencode_free(doc);

	/* one more string is one value too many */
	memcpy(p + n - 1, "0:e", 3);
	cr_assert_eq(parse(p, n + 2, NULL, &doc, &err), -E2BIG);
	cr_assert_eq(err.offset, n - 1);
	free(p);
}

Test(bencode_parse, bad_arguments)
{
	struct bencode_doc *doc;
	struct seed_err err;
	static const uint8_t b[] = "i1e";

	seed_err_clear(&err);
	cr_assert_eq(bencode_parse(b, b + 3, NULL, NULL, &err), -EINVAL);
	cr_assert_eq(bencode_parse(b + 3, b, NULL, &doc, &err), -EINVAL);
	cr_assert_null(doc);
	cr_assert_eq(bencode_parse(NULL, NULL, NULL, &doc, NULL), -EINVAL);
	cr_assert_eq(bencode_parse(b, b + 3, NULL, &doc, NULL), 0);
	bencode_free(doc);
	bencode_free(NULL);
	cr_assert_null(bencode_root(NULL));
}

/* ---- emission ---- */

static void emit_node(struct bencode_buf *b, const struct bencode_node *n)
{
	switch (n->type) {
	case BENCODE_INT: bencode_put_int(b, n->u.i); break;
	case BENCODE_STR: bencode_put_str(b, n->u.s.p, n->u.s.len); break;
	case BENCODE_LIST:
		bencode_begin_list(b);
		for (size_t i = 0; i < n->u.list.n; i++)
			emit_node(b, n->u.list.items[i]);
		bencode_end(b);
		break;
	case BENCODE_DICT:
		bencode_begin_dict(b);
		for (size_t i = 0; i < n->u.dict.n; i++) {
			bencode_put_key(b, n->u.dict.items[i].key, n->u.dict.items[i].key_len);
			emit_node(b, n->u.dict.items[i].val);
		}
		bencode_end(b);
		break;
	}
}

static void assert_buf(struct bencode_buf *b, const char *want, size_t n)
{
	struct seed_err err;

	seed_err_clear(&err);
	cr_assert_eq(bencode_buf_finish(b, &err), 0, "%s", err.msg);
	cr_assert_eq(b->len, n, "len %zu want %zu: %.*s", b->len, n, (int)b->len, b->p);
	cr_assert_eq(memcmp(b->p, want, n), 0, "got %.*s", (int)b->len, b->p);
}

Test(bencode_emit, scalars)
{
	static const struct {
		int64_t v;
		const char *enc;
	} ints[] = {
		{ 0, "i0e" },
		{ 1, "i1e" },
		{ -1, "i-1e" },
		{ 10, "i10e" },
		{ INT64_MAX, "i9223372036854775807e" },
		{ INT64_MIN, "i-9223372036854775808e" },
	};
	struct bencode_buf b;

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		bencode_buf_init(&b);
		bencode_put_int(&b, ints[i].v);
		assert_buf(&b, ints[i].enc, strlen(ints[i].enc));
		bencode_buf_release(&b);
	}
	bencode_buf_init(&b);
	bencode_put_str(&b, NULL, 0);
	assert_buf(&b, "0:", 2);
	bencode_buf_release(&b);

	bencode_buf_init(&b);
	bencode_put_str(&b, "a\0b", 3);
	assert_buf(&b, "3:a\0b", 5);
	bencode_buf_release(&b);

	bencode_buf_init(&b);
	bencode_put_cstr(&b, "spam");
	assert_buf(&b, "4:spam", 6);
	bencode_buf_release(&b);
}

Test(bencode_emit, document)
{
	static const char want[] = "d8:announce3:url4:infod6:lengthi5e4:name1:x"
				   "5:piecel0:i-3edeee3:zzzi0ee";
	struct bencode_buf b;

	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	bencode_put_ckey(&b, "announce");
	bencode_put_cstr(&b, "url");
	bencode_put_ckey(&b, "info");
	bencode_begin_dict(&b);
	bencode_put_ckey(&b, "length");
	bencode_put_int(&b, 5);
	bencode_put_ckey(&b, "name");
	bencode_put_cstr(&b, "x");
	bencode_put_ckey(&b, "piece");
	bencode_begin_list(&b);
	bencode_put_str(&b, "", 0);
	bencode_put_int(&b, -3);
	bencode_begin_dict(&b);
	bencode_end(&b);
	bencode_end(&b);
	bencode_end(&b);
	bencode_put_key(&b, "zzz", 3);
	bencode_put_int(&b, 0);
	bencode_end(&b);
	assert_buf(&b, want, sizeof(want) - 1);
	bencode_buf_release(&b);
	cr_assert_null(b.p);
}

Test(bencode_emit, put_raw_embeds_verbatim)
{
	static const char info[] = "d6:lengthi5e4:name1:xe";
	static const char want[] =
		"d4:infod6:lengthi5e4:name1:xe4:listli1ed6:lengthi5e4:name1:xeee";
	struct bencode_buf b;

	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	bencode_put_ckey(&b, "info");
	bencode_put_raw(&b, info, sizeof(info) - 1);
	bencode_put_ckey(&b, "list");
	bencode_begin_list(&b);
	bencode_put_raw(&b, "i1e", 3);
	bencode_put_raw(&b, info, sizeof(info) - 1);
	bencode_end(&b);
	bencode_end(&b);
	assert_buf(&b, want, sizeof(want) - 1);
	bencode_buf_release(&b);

	bencode_buf_init(&b);
	bencode_put_raw(&b, info, sizeof(info) - 1);
	assert_buf(&b, info, sizeof(info) - 1);
	bencode_buf_release(&b);
}

/* The caller may take b->p after a successful finish. */
Test(bencode_emit, ownership_of_output)
{
	struct bencode_buf b;
	uint8_t *out;

	bencode_buf_init(&b);
	bencode_begin_list(&b);
	bencode_end(&b);
	cr_assert_eq(bencode_buf_finish(&b, NULL), 0);
	out = b.p;
	cr_assert_eq(memcmp(out, "le", 2), 0);
	free(out);
}

/* Big enough to force several reallocs, with keys checked across them. */
Test(bencode_emit, growth_keeps_key_order_check)
{
	struct bencode_buf b;
	char key[16];
	size_t expect_len = 2;

	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		bencode_put_ckey(&b, key);
		bencode_put_str(&b, "0123456789", 10);
		expect_len += 9 + 13;
	}
	/* "k019999" is the last key; "k019998" is below it */
	bencode_put_ckey(&b, "k019998");
	cr_assert_eq(b.err, -EINVAL);
	cr_assert_eq(bencode_buf_finish(&b, NULL), -EINVAL);
	cr_assert_eq(b.len, expect_len - 1);
	bencode_buf_release(&b);
}

static void round_trip(const char *in, size_t n)
{
	struct bencode_doc *doc;
	struct bencode_buf b;
	struct seed_err err;

	cr_assert_eq(parse(in, n, NULL, &doc, &err), 0, "%.*s: %s", (int)n, in, err.msg);
	bencode_buf_init(&b);
	emit_node(&b, bencode_root(doc));
	assert_buf(&b, in, n);
	bencode_buf_release(&b);
	bencode_free(doc);
}

Test(bencode_emit, round_trips)
{
	static const char *const docs[] = {
		"i0e",
		"i-9223372036854775808e",
		"0:",
		"le",
		"de",
		"d0:0:1:a0:2:aa0:1:b0:e",
		"l0:de1:xli1eleei-1ee",
		"d4:infod6:lengthi5e4:name1:xe3:zzzi0ee",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		round_trip(docs[i], strlen(docs[i]));
	round_trip(torrent, sizeof(torrent) - 1);
	round_trip("d3:a\0bi1e3:a\0ci2ee", 18);
}

Test(bencode_emit, round_trip_max_depth)
{
	size_t n;
	char *p = nest("d1:a", "de", "e", 63, &n);

	round_trip(p, n);
	free(p);
}

/* ---- emitter misuse ---- */

static void expect_misuse(struct bencode_buf *b, int code)
{
	struct seed_err err;
	size_t len = b->len;

	/* sticky: nothing after the first error changes the buffer */
	bencode_put_int(b, 1);
	bencode_put_cstr(b, "x");
	bencode_end(b);
	cr_assert_eq(b->len, len);
	seed_err_clear(&err);
	cr_assert_eq(bencode_buf_finish(b, &err), code);
	cr_assert_eq(err.code, code);
	cr_assert(strncmp(err.msg, "bencode: ", 9) == 0, "%s", err.msg);
	bencode_buf_release(b);
}

/*
 * The emitter driven by a script of space-separated calls: d (begin_dict),
 * l (begin_list), e (end), i1 / i2 (put_int), k:NAME (put_ckey), r:RAW
 * (put_raw), and the NULL arguments s:NULL (put_str), c:NULL (put_cstr),
 * k:NULL (put_ckey). b must be initialised.
 */
static void run_script(struct bencode_buf *b, const char *script)
{
	char ops[128];

	cr_assert_lt(strlen(script), sizeof(ops));
	memcpy(ops, script, strlen(script) + 1);
	for (char *save, *op = strtok_r(ops, " ", &save); op; op = strtok_r(NULL, " ", &save)) {
		const char *arg = op + 2;

		if (!strcmp(op, "d"))
			bencode_begin_dict(b);
		else if (!strcmp(op, "l"))
			bencode_begin_list(b);
		else if (!strcmp(op, "e"))
			bencode_end(b);
		else if (op[0] == 'i')
			bencode_put_int(b, atoi(op + 1));
		else if (!strcmp(op, "k:NULL"))
			bencode_put_ckey(b, NULL);
		else if (!strncmp(op, "k:", 2))
			bencode_put_ckey(b, arg);
		else if (!strncmp(op, "r:", 2))
			bencode_put_raw(b, arg, strlen(arg));
		else if (!strcmp(op, "s:NULL"))
			bencode_put_str(b, NULL, 1);
		else if (!strcmp(op, "c:NULL"))
			bencode_put_cstr(b, NULL);
		else
			cr_assert_fail("bad script op %s", op);
	}
}

/* A script that misuses the emitter: it fails with code at its last call,
 * having written len bytes (-1: not checked), and stays failed. */
struct misuse {
	const char *script;
	long len;
	int code;
};

static void expect_misuses(const struct misuse *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bencode_buf b;

		bencode_buf_init(&b);
		run_script(&b, m[i].script);
		cr_assert_eq(b.err, m[i].code, "%s: err %d", m[i].script, b.err);
		if (m[i].len >= 0)
			cr_assert_eq(b.len, (size_t)m[i].len, "%s: len %zu", m[i].script, b.len);
		expect_misuse(&b, m[i].code);
	}
}

/* A script after which finish fails with -EINVAL and exactly msg. */
static void expect_finish_error(const char *script, const char *msg)
{
	struct bencode_buf b;
	struct seed_err err;

	bencode_buf_init(&b);
	run_script(&b, script);
	seed_err_clear(&err);
	cr_assert_eq(bencode_buf_finish(&b, &err), -EINVAL, "%s", script);
	cr_assert_str_eq(err.msg, msg);
	bencode_buf_release(&b);
}

Test(bencode_misuse, keys_out_of_order)
{
	TU_TABLE(expect_misuses, struct misuse, { "d k:b i1 k:a", 7, -EINVAL }, /* "d1:bi1e" */
		 /* shorter first: "ab" then "a" is out of order */
		 { "d k:ab i1 k:a", -1, -EINVAL });
}

Test(bencode_misuse, duplicate_key)
{
	TU_TABLE(expect_misuses, struct misuse, { "d k:a i1 k:a", -1, -EINVAL });
}

/* Order is per dict: an inner dict's keys do not constrain the outer's. */
Test(bencode_misuse, key_order_is_per_dict)
{
	struct bencode_buf b;

	bencode_buf_init(&b);
	run_script(&b, "d k:m d k:z i1 e k:n d k:a i2 e e");
	assert_buf(&b, "d1:md1:zi1ee1:nd1:ai2eee", 24);
	bencode_buf_release(&b);
}

Test(bencode_misuse, unbalanced_end)
{
	TU_TABLE(expect_misuses, struct misuse, { "e", -1, -EINVAL }, { "l e e", -1, -EINVAL });
}

Test(bencode_misuse, unclosed_container)
{
	expect_finish_error("l d e", "bencode: 1 container(s) left open at output byte 3");
}

Test(bencode_misuse, value_without_key)
{
	TU_TABLE(expect_misuses, struct misuse, { "d i1", 1, -EINVAL },
		 /* after a key's value, the next value needs a new key */
		 { "d k:a l e l", -1, -EINVAL }, { "d r:i1e", -1, -EINVAL });
}

Test(bencode_misuse, key_without_value)
{
	TU_TABLE(expect_misuses, struct misuse, { "d k:a e", -1, -EINVAL },
		 { "d k:a k:b", -1, -EINVAL });
	/* finish names a pending key */
	expect_finish_error("d k:a", "bencode: dictionary key has no value at output byte 4");
}

Test(bencode_misuse, key_outside_dict)
{
	TU_TABLE(expect_misuses, struct misuse, { "k:a", -1, -EINVAL }, { "l k:a", -1, -EINVAL });
}

Test(bencode_misuse, one_top_level_value)
{
	TU_TABLE(expect_misuses, struct misuse, { "i1 i2", 3, -EINVAL });
	expect_finish_error("", "bencode: no value written");
}

Test(bencode_misuse, raw_must_be_one_canonical_value)
{
	static const char *const bad[] = {
		"", "i03e", "i1ei2e", "d1:b0:1:a0:e", "l", "3:ab",
	};
	struct bencode_buf b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bencode_buf_init(&b);
		bencode_begin_list(&b);
		bencode_put_raw(&b, bad[i], strlen(bad[i]));
		cr_assert_eq(b.err, -EINVAL, "%s", bad[i]);
		cr_assert_eq(b.len, 1);
		expect_misuse(&b, -EINVAL);
	}
}

Test(bencode_misuse, emit_depth_limit)
{
	struct bencode_buf b;

	bencode_buf_init(&b);
	for (int i = 0; i < BENCODE_MAX_EMIT_DEPTH; i++)
		bencode_begin_list(&b);
	cr_assert_eq(b.err, 0);
	bencode_begin_list(&b);
	cr_assert_eq(b.err, -E2BIG);
	cr_assert_eq(b.len, BENCODE_MAX_EMIT_DEPTH);
	expect_misuse(&b, -E2BIG);
}

Test(bencode_misuse, null_arguments)
{
	TU_TABLE(expect_misuses, struct misuse, { "s:NULL", -1, -EINVAL },
		 { "c:NULL", -1, -EINVAL }, { "d k:NULL", -1, -EINVAL });
}

/* The buffer can be reused after release + init. */
Test(bencode_emit, reuse_after_release)
{
	struct bencode_buf b;

	bencode_buf_init(&b);
	bencode_put_int(&b, 1);
	bencode_put_int(&b, 2);
	cr_assert_eq(bencode_buf_finish(&b, NULL), -EINVAL);
	bencode_buf_release(&b);
	bencode_buf_init(&b);
	bencode_put_int(&b, 2);
	assert_buf(&b, "i2e", 3);
	bencode_buf_release(&b);
}
