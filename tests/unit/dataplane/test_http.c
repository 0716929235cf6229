/*
 * Unit tests for dataplane/proto/http.c, driven with byte strings and
 * virtual time against the fake catalog of http_fixture.h (shared with
 * fuzz_http.c): a multi-file release (acme.game.1, torrent "Game") and a
 * single-file one (acme.patch.2, torrent "patch.bin").
 *
 * The engine's actions are rendered into one transcript string: SEND bytes
 * as they are, SEND_DATA as "[data R/F OFF+LEN]", CLOSE as "[close REASON]".
 * Expected transcripts are written by hand from RFC 9110/9112.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_fixture.h"
#include "../testutil.h"

#define MiB (1024u * 1024u)

static struct http_engine eng;

static void setup(void)
{
	struct proto_catalog cat = httpfx_catalog();

	httpfx_init();
	cr_assert_eq(http_engine_init(&eng, NULL, &cat), 0);
}

TestSuite(http, .init = setup);

/* ---- transcripts ---- */

struct rec {
	char *s;
	size_t n, cap;
	struct proto_action *d; /* SEND_DATA actions, in order */
	size_t nd, capd;
	int closed;
	enum proto_close_reason reason;
};

static void rec_bytes(struct rec *r, const void *p, size_t n)
{
	if (r->n + n + 1 > r->cap) {
		r->cap = (r->n + n + 1) * 2;
		r->s = realloc(r->s, r->cap);
		cr_assert_not_null(r->s);
	}
	memcpy(r->s + r->n, p, n);
	r->n += n;
	r->s[r->n] = '\0';
}

static const char *reason_name(enum proto_close_reason why)
{
	switch (why) {
	case PROTO_CLOSE_DONE: return "done";
	case PROTO_CLOSE_MALFORMED: return "malformed";
	case PROTO_CLOSE_OVERSIZED: return "oversized";
	case PROTO_CLOSE_TIMEOUT: return "timeout";
	case PROTO_CLOSE_DATA_ERROR: return "data_error";
	case PROTO_CLOSE_BAD_REQUEST: return "bad_request";
	default: return "other";
	}
}

static void rec_out(struct rec *r, const struct proto_out *o)
{
	char t[96];

	for (size_t i = 0; i < o->n; i++) {
		const struct proto_action *a = &o->a[i];

		cr_assert(!r->closed, "an action after CLOSE");
		switch (a->kind) {
		case PROTO_ACT_SEND:
			cr_assert_gt(a->u.send.len, 0);
			rec_bytes(r, a->u.send.p, a->u.send.len);
			break;
		case PROTO_ACT_SEND_DATA:
			snprintf(t, sizeof(t), "[data %u/%u %llu+%u]", a->u.data.release,
				 a->u.data.file, (unsigned long long)a->u.data.offset,
				 a->u.data.len);
			rec_bytes(r, t, strlen(t));
			if (r->nd == r->capd) {
				r->capd = r->capd ? r->capd * 2 : 16;
				r->d = realloc(r->d, r->capd * sizeof(*r->d));
				cr_assert_not_null(r->d);
			}
			r->d[r->nd++] = *a;
			break;
		case PROTO_ACT_CLOSE:
			snprintf(t, sizeof(t), "[close %s]", reason_name(a->u.close.reason));
			rec_bytes(r, t, strlen(t));
			cr_assert_not_null(a->u.close.detail);
			r->closed = 1;
			r->reason = a->u.close.reason;
			break;
		default: cr_assert_fail("unexpected action kind %d", (int)a->kind);
		}
	}
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	rec_bytes(r, "", 0);
}

static void rec_free(struct rec *r)
{
	free(r->s);
	free(r->d);
}

/* A fresh connection of eng at now, and an empty record of its actions. */
static void conn_open(struct http_conn *c, struct rec *r, uint64_t now)
{
	rec_init(r);
	cr_assert_eq(http_conn_init(c, &eng, now), 0);
}

static void conn_close(struct http_conn *c, struct rec *r)
{
	http_conn_free(c);
	rec_free(r);
}

/* A connection fed by hand, its actions through an out array of two
 * slots and recorded. */
struct hand {
	struct http_conn c;
	struct rec r;
	struct proto_action a[2];
	struct proto_out o;
};

static void hand_open(struct hand *t)
{
	conn_open(&t->c, &t->r, 0);
	t->o = (struct proto_out){ t->a, 0, 2 };
}

/* Offers the string in at now, the out array emptied first, and records
 * what came out; returns how many bytes the connection took. */
static size_t offer(struct hand *t, const char *in, uint64_t now)
{
	t->o.n = 0;
	size_t n = http_on_bytes(&t->c, (const uint8_t *)in, strlen(in), now, &t->o);

	rec_out(&t->r, &t->o);
	return n;
}

/* Lets the connection write at now, the out array emptied first, and
 * records what came out. */
static void writable(struct hand *t, uint64_t now)
{
	t->o.n = 0;
	http_on_writable(&t->c, now, &t->o);
	rec_out(&t->r, &t->o);
}

/*
 * Offers in[0..len) to c at now with out arrays of cap slots, carrying out
 * the actions (recording them) and offering the unconsumed rest again,
 * until all is consumed and nothing is pending.
 */
static void drive(struct http_conn *c, const void *in, size_t len, uint64_t now, size_t cap,
		  struct rec *r)
{
	struct proto_action a[64];
	size_t off = 0;

	cr_assert_leq(cap, 64);
	for (int it = 0; it < 1000000; it++) {
		struct proto_out o = { a, 0, cap };
		size_t n = http_on_bytes(c, (const uint8_t *)in + off, len - off, now, &o);

		cr_assert_leq(n, len - off);
		cr_assert_leq(o.n, cap);
		rec_out(r, &o);
		off += n;
		if (off == len && !http_wants_write(c))
			return;
		cr_assert(n || o.n, "no progress");
	}
	cr_assert_fail("no end");
}

/* The transcript of a fresh connection given in (with out arrays of cap). */
static char *serve_n(const void *in, size_t len, size_t cap)
{
	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 0);
	drive(&c, in, len, 0, cap, &r);
	http_conn_free(&c);
	free(r.d);
	return r.s;
}

static char *serve(const char *in)
{
	return serve_n(in, strlen(in), 64);
}

static void expect(const char *in, const char *want)
{
	char *got = serve(in);

	cr_assert_str_eq(got, want, "request:\n%s", in);
	free(got);
}

/* The transcript of a GET of path (a format argument, so '%' is safe). */
static char *serve_path(const char *path)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: seed.example\r\n\r\n", path);
	return serve(req);
}

static void expect_path(const char *path, const char *want)
{
	char *got = serve_path(path);

	cr_assert_str_eq(got, want, "path %s", path);
	free(got);
}

#define H8(x)	  x x x x x x x x
#define HEX11	  H8("11111111")
#define HEX22	  H8("22222222")
#define HEX44	  H8("44444444")
#define TAG11	  "\"" HEX11 "\""
#define TAG22	  "\"" HEX22 "\""
#define TAG44	  "\"" HEX44 "\""
#define REQ(path) "GET " path " HTTP/1.1\r\nHost: seed.example\r\n\r\n"
#define LEVEL1	  "/acme.game.1/Game/data/level1.pak"

/* The head of a 200 for a file with this ETag and length; extra: more
 * fields ("" or "Connection: ...\r\n"). */
#define R200(etag, len, extra)                       \
	"HTTP/1.1 200 OK\r\n"                        \
	"Server: BitStream\r\n"                      \
	"Accept-Ranges: bytes\r\n"                   \
	"ETag: " etag "\r\n"                         \
	"Content-Type: application/octet-stream\r\n" \
	"Content-Length: " len "\r\n" extra "\r\n"

#define HEAD_200_LEVEL1 R200(TAG11, "1000", "")
#define CONN_CLOSE	"Connection: close\r\n"

#define GET_RANGE(r) "GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: " r "\r\n\r\n"

/* The head of a single-part 206 of a file with this ETag and size. */
#define R206_OF(etag, range, len, size)               \
	"HTTP/1.1 206 Partial Content\r\n"            \
	"Server: BitStream\r\n"                       \
	"Accept-Ranges: bytes\r\n"                    \
	"ETag: " etag "\r\n"                          \
	"Content-Type: application/octet-stream\r\n"  \
	"Content-Length: " len "\r\n"                 \
	"Content-Range: bytes " range "/" size "\r\n" \
	"\r\n"

#define R206(range, len) R206_OF(TAG11, range, len, "1000")

/* A 404's head (extra: more fields); R404 is the whole answer to a GET. */
#define R404_HEAD(extra)               \
	"HTTP/1.1 404 Not Found\r\n"   \
	"Server: BitStream\r\n"        \
	"Content-Type: text/plain\r\n" \
	"Content-Length: 14\r\n" extra "\r\n"

#define R404 R404_HEAD("") "404 Not Found\n"

#define R400                           \
	"HTTP/1.1 400 Bad Request\r\n" \
	"Server: BitStream\r\n"        \
	"Content-Type: text/plain\r\n" \
	"Content-Length: 16\r\n"       \
	"Connection: close\r\n"        \
	"\r\n"                         \
	"400 Bad Request\n"            \
	"[close malformed]"

#define R416(len)                                \
	"HTTP/1.1 416 Range Not Satisfiable\r\n" \
	"Server: BitStream\r\n"                  \
	"Content-Range: bytes */" len "\r\n"     \
	"Content-Type: text/plain\r\n"           \
	"Content-Length: 26\r\n"                 \
	"\r\n"                                   \
	"416 Range Not Satisfiable\n"

/* ---- 200 / 206 / HEAD ---- */

Test(http, get_full_200)
{
	expect(REQ(LEVEL1), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
}

/* The worker gives slots to clients it serves: a head that never ends
 * (header lines sent one at a time, as a slot holder does) is not served,
 * nor is a request answered 404; each 2xx answer is one. */
Test(http, requests_served_counts_2xx_answers_only)
{
	struct http_conn c;
	struct rec r;
	const char *part = "GET " LEVEL1 " HTTP/1.1\r\nHost: x\r\n";

	cr_assert_eq(http_conn_init(&c, &eng, 0), 0);
	rec_init(&r);
	drive(&c, part, strlen(part), 0, 64, &r);
	for (int i = 0; i < 20; i++)
		drive(&c, "X-Wait: 1\r\n", 11, (uint64_t)i * 100, 64, &r);
	cr_assert_eq(http_requests_served(&c), 0);
	cr_assert_eq(r.n, 0, "an unfinished head was answered: %s", r.s);
	drive(&c, "\r\n", 2, 3000, 64, &r);
	cr_assert_eq(http_requests_served(&c), 1);
	drive(&c, REQ("/acme.game.1/Game/nothing-here"),
	      strlen(REQ("/acme.game.1/Game/nothing-here")), 3000, 64, &r);
	cr_assert_eq(http_requests_served(&c), 1, "a 404 is not a request served");
	drive(&c, REQ(LEVEL1), strlen(REQ(LEVEL1)), 3000, 64, &r);
	cr_assert_eq(http_requests_served(&c), 2);
	http_conn_free(&c);
	rec_free(&r);
}

/* Each lookup names the connection it is made for: the worker's gate
 * checks that peer, never the one it happened to feed last. */
Test(http, lookups_pass_back_the_asking_connection)
{
	struct http_conn a, b;
	struct rec r;
	int ta, tb;

	cr_assert_eq(http_conn_init(&a, &eng, 0), 0);
	cr_assert_eq(http_conn_init(&b, &eng, 0), 0);
	a.user = &ta;
	b.user = &tb;
	rec_init(&r);
	last_peer = NULL;
	drive(&b, REQ(LEVEL1), strlen(REQ(LEVEL1)), 0, 64, &r);
	cr_assert_eq(last_peer, &tb);
	drive(&a, REQ(LEVEL1), strlen(REQ(LEVEL1)), 0, 64, &r);
	cr_assert_eq(last_peer, &ta);
	http_conn_free(&a);
	http_conn_free(&b);
	free(r.d);
	free(r.s);
}

Test(http, get_range_forms_206)
{
	expect(GET_RANGE("bytes=0-99"), R206("0-99", "100") "[data 7/0 0+100]");
	expect(GET_RANGE("bytes=900-"), R206("900-999", "100") "[data 7/0 900+100]");
	expect(GET_RANGE("bytes=-100"), R206("900-999", "100") "[data 7/0 900+100]");
	/* last-pos past the end is clamped (RFC 9110 §14.1.2) */
	expect(GET_RANGE("bytes=100-5000"), R206("100-999", "900") "[data 7/0 100+900]");
	expect(GET_RANGE("bytes=999-999"), R206("999-999", "1") "[data 7/0 999+1]");
	expect(GET_RANGE("bytes=0-0"), R206("0-0", "1") "[data 7/0 0+1]");
	/* the unit is case-insensitive; OWS around the field value */
	expect(GET_RANGE("  BYTES=5-9  "), R206("5-9", "5") "[data 7/0 5+5]");
	/* empty list elements are skipped (RFC 9110 §5.6.1.2) */
	expect(GET_RANGE("bytes=,5-9,"), R206("5-9", "5") "[data 7/0 5+5]");
}

Test(http, suffix_larger_than_file_is_whole_file_206)
{
	expect(GET_RANGE("bytes=-5000"), R206("0-999", "1000") "[data 7/0 0+1000]");
	expect(GET_RANGE("bytes=-1000"), R206("0-999", "1000") "[data 7/0 0+1000]");
}

Test(http, head_same_headers_no_body)
{
	expect("HEAD " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n", HEAD_200_LEVEL1);
	/* HEAD ignores Range: range handling is defined for GET only (§14.2) */
	expect("HEAD " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n", HEAD_200_LEVEL1);
	/* errors to HEAD: same head, no body */
	expect("HEAD /acme.game.1/Game/nope HTTP/1.1\r\nHost: h\r\n\r\n", R404_HEAD(""));
}

Test(http, unsatisfiable_416)
{
	expect(GET_RANGE("bytes=-0"), R416("1000"));
	expect(GET_RANGE("bytes=1000-"), R416("1000"));
	expect(GET_RANGE("bytes=1000-1000"), R416("1000"));
	expect(GET_RANGE("bytes=5000-6000"), R416("1000"));
	expect(GET_RANGE("bytes=99999999999999999999999-"), R416("1000"));
	expect(GET_RANGE("bytes=2000-2999, -0"), R416("1000"));
}

Test(http, empty_file_200_and_416)
{
	const char *empty = "/acme.game.1/Game/data/empty.txt";
	char req[256];

	snprintf(req, sizeof(req), REQ("%s"), empty);
	expect(req, R200(HTTP_EMPTY_ETAG, "0", ""));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\nRange: bytes=0-\r\n\r\n", empty);
	expect(req, R416("0"));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\nRange: bytes=-5\r\n\r\n", empty);
	expect(req, R416("0"));
}

Test(http, invalid_range_syntax_is_ignored_200)
{
	static const char *bad[] = {
		"bytes=abc",  "bytes=5-1",   "items=0-1",   "bytes 0-1",   "bytes=",	  "bytes=,",
		"bytes=0-1;", "bytes=--5",   "bytes=1-2-3", "bytes=0 -1",  "bytes = 0-1", "bytes=-",
		"bytes=+1-2", "bytes=0-1,x", "bytes=0x10-", "bytes=0-1 x",
	};
	char req[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(req, sizeof(req), GET_RANGE("%s"), bad[i]);
		expect(req, HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	}
	/* a repeated Range field is invalid too */
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* over HTTP_MAX_RANGES specs */
	expect(GET_RANGE("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16"),
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
}

Test(http, if_range)
{
	/* strong match: Range honoured */
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nIf-Range: " TAG11
	       "\r\nRange: bytes=0-9\r\n\r\n",
	       R206("0-9", "10") "[data 7/0 0+10]");
	/* other tag, weak tag, a date, a repeated field: whole file */
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\nIf-Range: \"" HEX22
	       "\"\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\nIf-Range: W/" TAG11
	       "\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n"
	       "If-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\nIf-Range: " TAG11
	       "\r\nIf-Range: " TAG11 "\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* a mismatch turns even an unsatisfiable Range into a 200 */
	expect("GET " LEVEL1
	       " HTTP/1.1\r\nHost: h\r\nRange: bytes=5000-\r\nIf-Range: \"x\"\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* If-Range without Range is ignored */
	expect("GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nIf-Range: \"x\"\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
}

#define BOUNDARY     \
	"BitStream-" \
	"11111111111111111111111111111111"

Test(http, multipart_byteranges)
{
	/*
	 * part 1: "--" B CRLF (46) + Content-Type line (40) + "Content-Range:
	 * bytes 0-9/1000" CRLF (31) + CRLF (2) = 119, payload 10; part 2:
	 * CRLF "--" B CRLF (48) + 40 + 33 + 2 = 123, payload 10; tail CRLF "--"
	 * B "--" CRLF (50): 119 + 10 + 123 + 10 + 50 = 312.
	 */
	expect(GET_RANGE("bytes=0-9, 20-29"),
	       "HTTP/1.1 206 Partial Content\r\n"
	       "Server: BitStream\r\n"
	       "Accept-Ranges: bytes\r\n"
	       "ETag: " TAG11 "\r\n"
	       "Content-Type: multipart/byteranges; boundary=" BOUNDARY "\r\n"
	       "Content-Length: 312\r\n"
	       "\r\n"
	       "--" BOUNDARY "\r\n"
	       "Content-Type: application/octet-stream\r\n"
	       "Content-Range: bytes 0-9/1000\r\n"
	       "\r\n"
	       "[data 7/0 0+10]"
	       "\r\n--" BOUNDARY "\r\n"
	       "Content-Type: application/octet-stream\r\n"
	       "Content-Range: bytes 20-29/1000\r\n"
	       "\r\n"
	       "[data 7/0 20+10]"
	       "\r\n--" BOUNDARY "--\r\n");
	/* request order is kept; a suffix counts from the end */
	char *got = serve(GET_RANGE("bytes=-10,0-0"));

	cr_assert_not_null(strstr(got, "Content-Range: bytes 990-999/1000\r\n\r\n[data 7/0 990+10]"
				       "\r\n--"));
	cr_assert_not_null(strstr(got, "Content-Range: bytes 0-0/1000\r\n\r\n[data 7/0 0+1]"
				       "\r\n--" BOUNDARY "--\r\n"));
	cr_assert_lt(strstr(got, "990+10"), strstr(got, "0+1]"));
	free(got);
}

Test(http, range_sets)
{
	/* overlapping ranges: the Range is ignored (bounded amplification) */
	expect(GET_RANGE("bytes=0-99,50-149"), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect(GET_RANGE("bytes=0-,0-"), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* OWS around commas; adjacent ranges do not overlap */
	char *got = serve(GET_RANGE("bytes=0-9 ,\t10-19"));

	cr_assert_not_null(strstr(got, "Content-Length: 312\r\n"), "%s", got);
	cr_assert_not_null(strstr(got, "[data 7/0 0+10]"));
	cr_assert_not_null(strstr(got, "[data 7/0 10+10]"));
	free(got);
	/* unsatisfiable specs are dropped: one left → single-part 206 */
	expect(GET_RANGE("bytes=5000-6000,10-19"), R206("10-19", "10") "[data 7/0 10+10]");
	expect(GET_RANGE("bytes=-0,0-4"), R206("0-4", "5") "[data 7/0 0+5]");
}

/* ---- paths ---- */

Test(http, not_found_404)
{
	expect(REQ("/nope.release.1/Game/data/level1.pak"), R404);
	expect(REQ("/acme.game.1/Game/data/level2.pak"), R404);
	expect(REQ("/acme.game.1/game/data/level1.pak"), R404); /* case matters */
	expect(REQ("/acme.game.1/Other/data/level1.pak"), R404);
	expect(REQ("/"), R404);
	expect(REQ("/acme.game.1"), R404); /* release root */
	expect(REQ("/acme.game.1/"), R404);
	expect(REQ("/acme.game.1/Game"), R404); /* directories */
	expect(REQ("/acme.game.1/Game/"), R404);
	expect(REQ("/acme.game.1/Game/data"), R404);
	expect(REQ("/acme.game.1/Game/data/"), R404);
	expect(REQ(LEVEL1 "/"), R404);
	expect(REQ("/acme.game.1/Game/data/level1.pa"), R404);
	expect(REQ("/acme.game.1/Game/data/level1.pakk"), R404);
	expect(REQ("/acme.patch.2/patch.bin/x"), R404);
	expect(REQ("/acme.patch.2/patch.bi"), R404);
	expect(REQ("/acme.patch.2/"), R404);
}

Test(http, traversal_and_bad_paths_400)
{
	static const char *bad[] = {
		"/acme.game.1/Game/../Game/data/level1.pak",
		"/../acme.game.1/Game/data/level1.pak",
		"/acme.game.1/Game/data/..",
		"/acme.game.1/Game/%2e%2e/Game/data/level1.pak",
		"/acme.game.1/Game/%2E./etc/passwd",
		"/acme.game.1/Game/./data/level1.pak",
		"/acme.game.1/Game/%2e/data/level1.pak",
		"/acme.game.1/Game/data%2Flevel1.pak",
		"/acme.game.1/Game/data%2flevel1.pak",
		"/acme.game.1%2FGame/data/level1.pak",
		"/acme.game.1/Game/data/level1.pak%00",
		"/acme.game.1/Game/data/%zzlevel1.pak",
		"/acme.game.1/Game/data/level1.pak%4",
		"/acme.game.1/Game/data/level1.pak%",
		"/acme.game.1/Game/data/%ff.pak",	  /* not UTF-8 */
		"/acme.game.1/Game/data/%c0%af.pak",	  /* overlong '/' */
		"/acme.game.1/Game/data/%ed%a0%80.pak",	  /* surrogate */
		"/acme.game.1/Game/data/%c3%28.pak",	  /* bad continuation */
		"/acme.game.1/Game/data/x%c3",		  /* truncated */
		"/acme.game.1/Game/data/%f4%90%80%80",	  /* over U+10FFFF */
		"/acme.game.1/Game/data/%f8%88%80%80%80", /* 5-byte form */
		"/acme.game.1/Game/data/\xff.pak",	  /* raw, not UTF-8 */
		"/acme.game.1/Game//data/level1.pak",
		"//acme.game.1/Game/data/level1.pak",
		"acme.game.1/Game/data/level1.pak",
		"*",
		"ftp://h/acme.game.1/Game/data/level1.pak",
		"http:///acme.game.1/Game/data/level1.pak",
	};
	for (size_t i = 0; i < TU_N(bad); i++)
		expect_path(bad[i], R400);
}

Test(http, decoded_paths_found)
{
	/* "docs/read me ü.txt", percent-encoded as libtorrent does, and raw */
	static const char *ok[] = {
		"/acme.game.1/Game/docs/read%20me%20%C3%BC.txt",
		"/acme.game.1/Game/docs/read%20me%20%c3%bc.txt",
		"/acme.game.1/Game/docs/read%20me%20\xc3\xbc.txt",
		"/acme%2egame%2e1/%47ame/docs/read%20me%20%c3%bc.txt",
	};
	for (size_t i = 0; i < TU_N(ok); i++) {
		char *got = serve_path(ok[i]);

		cr_assert_not_null(strstr(got, "HTTP/1.1 200 OK\r\n"), "%s", ok[i]);
		cr_assert_not_null(strstr(got, "\r\n\r\n[data 7/3 0+10]"), "%s", ok[i]);
		free(got);
	}
	/* a query is ignored; absolute form is accepted (RFC 9112 §3.2.2) */
	expect(REQ(LEVEL1 "?x=1"), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect(REQ("http://seed.example:8080" LEVEL1), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect(REQ("HTTP://seed.example" LEVEL1 "?q"), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	expect(REQ("https://seed.example" LEVEL1), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* valid 4-byte UTF-8, no such file */
	expect(REQ("/acme.game.1/Game/%F0%9F%98%80"), R404);
	expect(REQ("http://seed.example"), R404);
	expect(REQ("http://seed.example?x"), R404);
}

/* acme.game.1 finds its files through its path index (a binary search),
 * acme.flat.1 the same files one by one: both agree on every file and on
 * every near miss. */
Test(http, path_index_and_linear_lookup_agree)
{
	static const char *const paths[] = { "data/level1.pak", "data/empty.txt", "big/video.bin",
					     "docs/read%20me%20%C3%BC.txt", "noroot.bin" };
	for (size_t i = 0; i < TU_N(paths); i++) {
		char url[128], want[32];
		for (int k = 0; k < 2; k++) {
			snprintf(url, sizeof(url), "/acme.%s.1/Game/%s", k ? "flat" : "game",
				 paths[i]);
			char *got = serve_path(url);
			cr_assert_not_null(strstr(got, "HTTP/1.1 200 OK\r\n"), "%s: %s", url, got);
			snprintf(want, sizeof(want), "[data %d/%zu ", k ? 11 : 7, i);
			if (game_files[i].length)
				cr_expect_not_null(strstr(got, want), "%s: expected %s in %s", url,
						   want, got);
			free(got);
		}
	}
	static const char *const misses[] = { "a",
					      "big",
					      "big/",
					      "big/video.bi",
					      "big/video.binx",
					      "data/level1",
					      "datb",
					      "docs/read%20me",
					      "noroot.bin/",
					      "zzz",
					      "data/empty.tx",
					      "Data/level1.pak" };
	for (size_t i = 0; i < TU_N(misses); i++)
		for (int k = 0; k < 2; k++) {
			char url[128];
			snprintf(url, sizeof(url), "/acme.%s.1/Game/%s", k ? "flat" : "game",
				 misses[i]);
			expect_path(url, R404);
		}
}

Test(http, single_file_release)
{
	expect(REQ("/acme.patch.2/patch.bin"), R200(TAG44, "500", "") "[data 9/0 0+500]");
	expect("GET /acme.patch.2/patch.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=-1\r\n\r\n",
	       R206_OF(TAG44, "499-499", "1", "500") "[data 9/0 499+1]");
}

/* ---- methods and malformed requests ---- */

#define R405(conn)                            \
	"HTTP/1.1 405 Method Not Allowed\r\n" \
	"Server: BitStream\r\n"               \
	"Allow: GET, HEAD\r\n"                \
	"Content-Type: text/plain\r\n"        \
	"Content-Length: 23\r\n" conn "\r\n"  \
	"405 Method Not Allowed\n"

Test(http, other_methods_405)
{
	expect("POST " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	       R405("Connection: close\r\n") "[close bad_request]");
	expect("PUT " LEVEL1 " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	       R405("Connection: close\r\n") "[close bad_request]");
	/* no body: the connection stays */
	expect("DELETE " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n", R405(""));
	expect("POST " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", R405(""));
	expect("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", R405(""));
	expect("get " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n",
	       R405("")); /* methods are case-sensitive */
	expect("PUT " LEVEL1 " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
	       R405("Connection: close\r\n") "[close done]");
}

Test(http, malformed_400_and_close)
{
	static const char *bad[] = {
		"GET " LEVEL1 " HTTP/1.1\nHost: h\r\n\r\n", /* bare LF */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\n",
		"\nGET " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", /* bare CR */
		"GET " LEVEL1 "\r HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1\r\nHost: h\r\n\r\n", /* bad versions */
		"GET " LEVEL1 " HTTP/1.1x\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " http/1.1\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/11\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.a\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 "\r\nHost: h\r\n\r\n",	       /* HTTP/0.9 form */
		"GET  " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n", /* two spaces */
		"GET " LEVEL1 "  HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1 \r\nHost: h\r\n\r\n",
		" GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET\t" LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
		"G(T " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n", /* obs-fold */
		"GET " LEVEL1 " HTTP/1.1\r\n Host: h\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nX-A\x01: 1\r\n\r\n", /* control chars */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nX-A: 1\x7f\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nX-A: \x1b[1m\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\n\r\n",			 /* no Host in 1.1 */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* repeated Host */
		"GET " LEVEL1 " HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: a/b\r\n\r\n", /* bad Host */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost : h\r\n\r\n", /* space before colon */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nRange : bytes=0-1\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", /* empty name */
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n",
		"GET " LEVEL1
		" HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: 0, 0\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		"GET " LEVEL1
		" HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"HEAD " LEVEL1 " HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *got = serve(bad[i]);
		const char *want = R400;

		/* HEAD gets no body */
		if (!strncmp(bad[i], "HEAD", 4))
			want = "HTTP/1.1 400 Bad Request\r\nServer: BitStream\r\n"
			       "Content-Type: text/plain\r\nContent-Length: 16\r\n"
			       "Connection: close\r\n\r\n[close malformed]";
		cr_assert_str_eq(got, want, "case %zu: %s", i, bad[i]);
		free(got);
	}
	/* NUL inside a line (strlen-free input) */
	static const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
	char *got = serve_n(nul, sizeof(nul) - 1, 64);

	cr_assert_str_eq(got, R400);
	free(got);
}

Test(http, version_505_and_http10_and_minor)
{
	expect("GET " LEVEL1 " HTTP/2.0\r\nHost: h\r\n\r\n",
	       "HTTP/1.1 505 HTTP Version Not Supported\r\n"
	       "Server: BitStream\r\n"
	       "Content-Type: text/plain\r\n"
	       "Content-Length: 31\r\n"
	       "Connection: close\r\n"
	       "\r\n"
	       "505 HTTP Version Not Supported\n"
	       "[close malformed]");
	/* HTTP/1.x with x > 1 is answered as 1.1 (RFC 9110 §2.5) */
	expect("GET " LEVEL1 " HTTP/1.7\r\nHost: h\r\n\r\n", HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* leading empty lines before the request line are skipped (RFC 9112 §2.2) */
	expect("\r\n\r\n" REQ(LEVEL1), HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* other fields, odd spacing and obs-text in values are fine */
	expect("GET " LEVEL1 " HTTP/1.1\r\nhOsT:seed.example  \r\nUser-Agent: x\xc3\xa9\t y\r\n"
	       "Accept: */*\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n",
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]");
}

/* ---- bounds ---- */

static void check_oversized(size_t total, const char *prefix, const char *want)
{
	char *in = malloc(total);
	size_t pl = strlen(prefix);

	memcpy(in, prefix, pl);
	memset(in + pl, 'a', total - pl);
	/* one buffer, and a conn fed 1000 bytes at a time */
	char *got = serve_n(in, total, 64);

	cr_assert_str_eq(got, want);
	free(got);

	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 0);
	for (size_t off = 0; off < total; off += 1000)
		drive(&c, in + off, total - off < 1000 ? total - off : 1000, 0, 64, &r);
	cr_assert_str_eq(r.s, want);
	cr_assert(http_is_closed(&c));
	conn_close(&c, &r);
	free(in);
}

Test(http, long_request_line_414)
{
	check_oversized(64 * 1024, "GET /",
			"HTTP/1.1 414 URI Too Long\r\n"
			"Server: BitStream\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: 17\r\n"
			"Connection: close\r\n"
			"\r\n"
			"414 URI Too Long\n"
			"[close oversized]");
	/* garbage without "token SP" */
	check_oversized(64 * 1024, "", R400);
}

Test(http, long_header_section_431)
{
	check_oversized(64 * 1024, "GET / HTTP/1.1\r\nX-Big: ",
			"HTTP/1.1 431 Request Header Fields Too Large\r\n"
			"Server: BitStream\r\n"
			"Content-Type: text/plain\r\n"
			"Content-Length: 36\r\n"
			"Connection: close\r\n"
			"\r\n"
			"431 Request Header Fields Too Large\n"
			"[close oversized]");
}

/* A head of exactly n bytes: request line, Host, one X-Pad field, CRLF. */
static char *head_of(size_t n)
{
	const char *pre = "GET " LEVEL1 " HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t pl = strlen(pre);
	char *s = malloc(n + 1);

	memcpy(s, pre, pl);
	memset(s + pl, 'p', n - pl - 4);
	memcpy(s + n - 4, "\r\n\r\n", 5);
	return s;
}

Test(http, head_bound_is_exact)
{
	char *in = head_of(HTTP_DEFAULT_MAX_HEAD);
	char *got = serve(in);

	cr_assert_str_eq(got, HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	free(got);
	free(in);
	in = head_of(HTTP_DEFAULT_MAX_HEAD + 1);
	got = serve(in);
	cr_assert(!strncmp(got, "HTTP/1.1 431 ", 13), "%s", got);
	free(got);
	free(in);
}

/* ---- connections ---- */

Test(http, pipelined_in_order)
{
	char *got =
		serve(REQ(LEVEL1) "HEAD /acme.patch.2/patch.bin HTTP/1.1\r\nHost: h\r\n\r\n" REQ(
			"/nope/x") GET_RANGE("bytes=0-9"));

	cr_assert_str_eq(got, HEAD_200_LEVEL1 "[data 7/0 0+1000]" R200(TAG44, "500", "")
				      R404 R206("0-9", "10") "[data 7/0 0+10]");
	free(got);
}

Test(http, many_pipelined_need_several_calls)
{
	/* 40 HEADs: more heads than one call's send buffer holds */
	char in[40 * 80];
	size_t n = 0;

	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n,
				      "HEAD " LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n");
	char *got = serve_n(in, n, 64);
	size_t count = 0;

	for (const char *p = got; (p = strstr(p, "HTTP/1.1 200 OK\r\n")); p++)
		count++;
	cr_assert_eq(count, 40);
	cr_assert_eq(strlen(got), 40 * strlen(HEAD_200_LEVEL1));
	free(got);
}

Test(http, keep_alive_and_close)
{
	/* 1.1 keeps by default: both answered, no CLOSE */
	expect(REQ(LEVEL1) REQ(LEVEL1),
	       HEAD_200_LEVEL1 "[data 7/0 0+1000]" HEAD_200_LEVEL1 "[data 7/0 0+1000]");
	/* Connection: close: answered, then close; what follows is dropped */
	expect("GET " LEVEL1
	       " HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE  ,x\r\n\r\n" REQ(LEVEL1),
	       R200(TAG11, "1000", CONN_CLOSE) "[data 7/0 0+1000][close done]");
	/* HTTP/1.0 closes by default (Host optional) */
	expect("GET " LEVEL1 " HTTP/1.0\r\n\r\n" REQ(LEVEL1),
	       R200(TAG11, "1000", CONN_CLOSE) "[data 7/0 0+1000][close done]");
	/* HTTP/1.0 keep-alive: said back, connection kept */
	expect("GET " LEVEL1 " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	       "HEAD " LEVEL1 " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	       R200(TAG11, "1000", "Connection: keep-alive\r\n") "[data 7/0 0+1000]" R200(
		       TAG11, "1000", "Connection: keep-alive\r\n"));
	/* 404 on 1.0 closes; on 1.1 with close too */
	expect("GET /x HTTP/1.0\r\n\r\n", R404_HEAD(CONN_CLOSE) "404 Not Found\n[close done]");
	/* a 400 drops what follows it */
	expect("GET / HTTP/1.1\r\n\r\n" REQ(LEVEL1), R400);
}

/* Every two-way split, and byte by byte, gives the one-buffer transcript. */
static void check_splits(const char *in, size_t len)
{
	char *whole = serve_n(in, len, 64);

	for (size_t k = 0; k <= len; k++) {
		struct http_conn c;
		struct rec r;

		conn_open(&c, &r, 0);
		drive(&c, in, k, 0, 64, &r);
		drive(&c, in + k, len - k, 0, 64, &r);
		cr_assert_str_eq(r.s, whole, "split at %zu", k);
		conn_close(&c, &r);
	}
	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 0);
	for (size_t i = 0; i < len; i++)
		drive(&c, in + i, 1, 0, 64, &r);
	drive(&c, NULL, 0, 0, 64, &r);
	cr_assert_str_eq(r.s, whole, "byte by byte");
	conn_close(&c, &r);
	/* and with out arrays of one and two slots */
	for (size_t cap = 1; cap <= 2; cap++) {
		char *small = serve_n(in, len, cap);

		cr_assert_str_eq(small, whole, "cap %zu", cap);
		free(small);
	}
	free(whole);
}

Test(http, split_input_same_actions)
{
	static const char pipeline[] = "\r\n" REQ(
		LEVEL1) "HEAD /acme.patch.2/patch.bin HTTP/1.1\r\nHost: h\r\nX-Long: "
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"
			"GET /acme.game.1/Game/docs/read%20me%20%C3%BC.txt HTTP/1.1\r\nHost: "
			"h\r\n\r\n" GET_RANGE(
				"bytes=0-9,20-29") "GET /acme.game.1/Game/big/video.bin "
						   "HTTP/1.1\r\nHost: h\r\nRange: "
						   "bytes=1048000-\r\n\r\n" REQ("/nope") GET_RANGE(
							   "bytes=-0") "DELETE /x "
								       "HTTP/1.1\r\nHost: "
								       "h\r\n\r\n"
								       "GET " LEVEL1
								       " HTTP/1.1\r\nHost: "
								       "h\r\nConnection: "
								       "close\r\n\r\n"
								       "GET / "
								       "HTTP/1.1\r\nHost: "
								       "h\r\n\r\n";

	check_splits(pipeline, sizeof(pipeline) - 1);

	static const char ctl[] = REQ(LEVEL1) "GET /x HTTP/1.1\r\nHost: h\x01\r\n\r\n" REQ(LEVEL1);

	check_splits(ctl, sizeof(ctl) - 1);

	static const char broken[] =
		REQ(LEVEL1) "GET /x HTTP/1.1\r\nHost: h\r\nBad\r\n\r\n" REQ(LEVEL1);

	check_splits(broken, sizeof(broken) - 1);
}

/* ---- payload segments ---- */

static void check_segments(const char *in, uint64_t first, uint64_t last)
{
	struct http_conn c;
	struct rec r;
	uint64_t next = first;

	conn_open(&c, &r, 0);
	drive(&c, in, strlen(in), 0, 3, &r);
	cr_assert_gt(r.nd, 0);
	for (size_t i = 0; i < r.nd; i++) {
		const struct proto_action *a = &r.d[i];

		cr_assert_eq(a->u.data.release, 7);
		cr_assert_eq(a->u.data.file, 2);
		cr_assert_eq(a->u.data.offset, next, "segment %zu", i);
		cr_assert_gt(a->u.data.len, 0);
		cr_assert_leq(a->u.data.len, MiB);
		/* segments never cross a 1 MiB boundary of the file */
		cr_assert_eq(a->u.data.offset / MiB, (a->u.data.offset + a->u.data.len - 1) / MiB);
		next += a->u.data.len;
	}
	cr_assert_eq(next, last + 1);
	conn_close(&c, &r);
}

Test(http, data_segments_cover_the_range)
{
	const uint64_t len = 3 * MiB + 5;

	check_segments(REQ("/acme.game.1/Game/big/video.bin"), 0, len - 1);
	check_segments("GET /acme.game.1/Game/big/video.bin HTTP/1.1\r\nHost: h\r\n"
		       "Range: bytes=1000-2097152\r\n\r\n",
		       1000, 2097152);
	check_segments("GET /acme.game.1/Game/big/video.bin HTTP/1.1\r\nHost: h\r\n"
		       "Range: bytes=-7\r\n\r\n",
		       len - 7, len - 1);
	expect(REQ("/acme.game.1/Game/big/video.bin"),
	       R200(TAG22, "3145733",
		    "") "[data 7/2 0+1048576][data 7/2 1048576+1048576][data 7/2 2097152+1048576]"
			"[data 7/2 3145728+5]");
	expect("GET /acme.game.1/Game/big/video.bin HTTP/1.1\r\nHost: h\r\n"
	       "Range: bytes=1048575-2097152\r\n\r\n",
	       R206_OF(TAG22, "1048575-2097152", "1048578",
		       "3145733") "[data 7/2 1048575+1][data 7/2 1048576+1048576][data 7/2 "
				  "2097152+1]");
}

/* ---- timers ---- */

static void tick(struct http_conn *c, uint64_t now, struct rec *r)
{
	struct proto_action a[8];
	struct proto_out o = { a, 0, 8 };

	http_on_tick(c, now, &o);
	rec_out(r, &o);
}

Test(http, header_timeout_408)
{
	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 1000);
	cr_assert_eq(http_next_deadline(&c), 11000);
	drive(&c, "GET / HT", 8, 2000, 64, &r);
	/* the first request's head is timed from the connection's start */
	cr_assert_eq(http_next_deadline(&c), 11000);
	tick(&c, 10999, &r);
	cr_assert_str_eq(r.s, "");
	tick(&c, 11000, &r);
	cr_assert_str_eq(r.s, "HTTP/1.1 408 Request Timeout\r\n"
			      "Server: BitStream\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: 20\r\n"
			      "Connection: close\r\n"
			      "\r\n"
			      "408 Request Timeout\n"
			      "[close timeout]");
	cr_assert(http_is_closed(&c));
	cr_assert_eq(http_next_deadline(&c), HTTP_NO_DEADLINE);
	tick(&c, 99999, &r);
	conn_close(&c, &r);
}

Test(http, idle_and_later_head_timeouts)
{
	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 0);
	drive(&c, REQ(LEVEL1), strlen(REQ(LEVEL1)), 5000, 64, &r);
	/* idle between requests: 60 s from the end of the response... */
	cr_assert_eq(http_next_deadline(&c), 65000);
	/* ...or from its last byte out */
	http_on_sent(&c, 5500);
	cr_assert_eq(http_next_deadline(&c), 65500);
	/* a second head started at 6000 has until 16000 */
	drive(&c, "GET ", 4, 6000, 64, &r);
	cr_assert_eq(http_next_deadline(&c), 16000);
	http_on_sent(&c, 7000); /* no effect on a head's timer */
	cr_assert_eq(http_next_deadline(&c), 16000);
	const char *rest = LEVEL1 " HTTP/1.1\r\nHost: h\r\n\r\n";

	drive(&c, rest, strlen(rest), 15999, 64, &r);
	cr_assert_eq(http_next_deadline(&c), 75999);
	r.n = 0;
	r.s[0] = '\0';
	tick(&c, 75998, &r);
	cr_assert_str_eq(r.s, "");
	tick(&c, 75999, &r);
	cr_assert_str_eq(r.s, "[close timeout]"); /* idle: silent close */
	conn_close(&c, &r);
}

Test(http, silent_close_when_nothing_came)
{
	struct http_conn c;
	struct rec r;

	conn_open(&c, &r, 0);
	http_on_sent(&c, 5000); /* nothing was sent: no effect */
	tick(&c, 9999, &r);
	cr_assert_str_eq(r.s, "");
	tick(&c, 10000, &r);
	cr_assert_str_eq(r.s, "[close timeout]");
	conn_close(&c, &r);
}

Test(http, stalled_response_times_out)
{
	struct hand t;
	const char *in = REQ("/acme.game.1/Game/big/video.bin");

	hand_open(&t);
	cr_assert_eq(offer(&t, in, 100), strlen(in));
	cr_assert(http_wants_write(&t.c));
	cr_assert_eq(http_next_deadline(&t.c), 60100);
	/* progress pushes the deadline */
	writable(&t, 30000);
	cr_assert_eq(http_next_deadline(&t.c), 90000);
	/* so do sends the worker reports, and only forward */
	http_on_sent(&t.c, 40000);
	cr_assert_eq(http_next_deadline(&t.c), 100000);
	http_on_sent(&t.c, 35000);
	cr_assert_eq(http_next_deadline(&t.c), 100000);
	size_t before = t.r.n;

	tick(&t.c, 99999, &t.r); /* not due: emits nothing, not even pending output */
	cr_assert_eq(t.r.n, before);
	cr_assert(!http_is_closed(&t.c));
	t.r.n = 0;
	t.r.s[0] = '\0';
	tick(&t.c, 100000, &t.r);
	cr_assert_str_eq(t.r.s, "[close timeout]");
	cr_assert(!http_wants_write(&t.c));
	conn_close(&t.c, &t.r);
}

/* ---- data failures ---- */

Test(http, data_failed_closes)
{
	struct hand t;
	const char *in = REQ("/acme.game.1/Game/big/video.bin") REQ(LEVEL1);

	hand_open(&t);
	cr_assert_lt(offer(&t, in, 0), strlen(in));
	cr_assert_eq(t.r.nd, 1);
	t.o.n = 0;
	http_data_failed(&t.c, &t.o);
	rec_out(&t.r, &t.o);
	cr_assert_eq(t.r.closed, 1);
	cr_assert_eq(t.r.reason, PROTO_CLOSE_DATA_ERROR);
	cr_assert(!http_wants_write(&t.c));
	/* nothing more, whatever comes */
	t.o.n = 0;
	cr_assert_eq(http_on_bytes(&t.c, (const uint8_t *)in, strlen(in), 0, &t.o), strlen(in));
	http_on_writable(&t.c, 0, &t.o);
	http_on_tick(&t.c, 1000000, &t.o);
	http_data_failed(&t.c, &t.o);
	cr_assert_eq(t.o.n, 0);
	conn_close(&t.c, &t.r);

	/* with no room, the CLOSE comes first on the next call */
	hand_open(&t);
	offer(&t, in, 0);
	t.o.n = 2;
	http_data_failed(&t.c, &t.o);
	cr_assert(http_wants_write(&t.c));
	cr_assert_eq(http_next_deadline(&t.c), 0);
	writable(&t, 0);
	cr_assert_eq(t.o.n, 1);
	cr_assert_eq(t.r.reason, PROTO_CLOSE_DATA_ERROR);
	conn_close(&t.c, &t.r);
}

/* ---- counters, config ---- */

Test(http, counters)
{
	struct http_conn c;
	struct rec r;
	const char *in = REQ(LEVEL1) REQ("/nope") GET_RANGE("bytes=0-9") "GET / HTTP/1.1\r\n\r\n";

	conn_open(&c, &r, 0);
	drive(&c, in, strlen(in), 0, 64, &r);
	cr_assert_eq(c.stats.http_requests_total, 4);
	cr_assert_eq(c.stats.http_responses_2xx_total, 2);
	cr_assert_eq(c.stats.http_responses_4xx_total, 2);
	cr_assert_eq(c.stats.http_responses_5xx_total, 0);
	cr_assert_eq(c.stats.http_payload_bytes_total, 1010);
	cr_assert_eq(c.stats.http_head_bytes_total, r.n - strlen("[data 7/0 0+1000]") -
							    strlen("[data 7/0 0+10]") -
							    strlen("[close malformed]"));
	conn_close(&c, &r);
}

static void expect_http_defaults(const struct tu_u32_field *f, size_t n)
{
	struct http_config cfg;

	http_config_default(&cfg);
	tu_check_u32(&cfg, f, n);
}

Test(http, engine_config_bounds)
{
	struct proto_catalog cat = { NULL, by_ih, by_ih, by_id };
	struct proto_catalog nocat = { NULL, by_ih, by_ih, NULL };
	static const struct tu_u32_field bad[] = {
		TU_U32_FIELD(struct http_config, max_segment, 1000),
		TU_U32_FIELD(struct http_config, max_segment, 2 * MiB),
		TU_U32_FIELD(struct http_config, max_head, 100),
		TU_U32_FIELD(struct http_config, idle_timeout_ms, 0),
	};
	struct http_engine e;
	struct http_config cfg;

	http_config_default(&cfg);
	TU_TABLE(expect_http_defaults, struct tu_u32_field,
		 TU_U32_FIELD(struct http_config, max_head, 16384),
		 TU_U32_FIELD(struct http_config, header_timeout_ms, 10000),
		 TU_U32_FIELD(struct http_config, idle_timeout_ms, 60000),
		 TU_U32_FIELD(struct http_config, max_segment, MiB));
	cr_assert_eq(http_engine_init(&e, &cfg, &cat), 0);
	cr_assert_eq(http_engine_init(&e, &cfg, &nocat), -EINVAL);
	for (size_t i = 0; i < TU_N(bad); i++) {
		http_config_default(&cfg);
		tu_set_u32(&cfg, &bad[i]);
		cr_assert_eq(http_engine_init(&e, &cfg, &cat), -EINVAL, "%s = %u", bad[i].name,
			     bad[i].value);
	}

	/* a smaller segment bound is honoured */
	http_config_default(&cfg);
	cfg.max_segment = 16384;
	cr_assert_eq(http_engine_init(&e, &cfg, &cat), 0);
	struct http_conn c;
	struct rec r;
	const char *in = "GET /acme.game.1/Game/big/video.bin HTTP/1.1\r\nHost: h\r\n"
			 "Range: bytes=16000-33000\r\n\r\n";

	rec_init(&r);
	cr_assert_eq(http_conn_init(&c, &e, 0), 0);
	drive(&c, in, strlen(in), 0, 64, &r);
	cr_assert_not_null(strstr(r.s, "\r\n\r\n[data 7/2 16000+384][data 7/2 16384+16384]"
				       "[data 7/2 32768+233]"),
			   "%s", r.s);
	conn_close(&c, &r);
}

Test(http, input_after_a_closing_request_is_dropped)
{
	struct hand t;
	const char *in = "GET /acme.game.1/Game/big/video.bin HTTP/1.1\r\nHost: h\r\n"
			 "Connection: close\r\n\r\n" REQ(LEVEL1);

	hand_open(&t);
	/* the response is still in progress, yet every byte is taken */
	cr_assert_eq(offer(&t, in, 0), strlen(in));
	cr_assert(http_wants_write(&t.c));
	while (http_wants_write(&t.c)) {
		writable(&t, 0);
	}
	cr_assert_eq(t.r.nd, 4);
	cr_assert_eq(t.r.reason, PROTO_CLOSE_DONE);
	cr_assert(http_is_closed(&t.c));
	conn_close(&t.c, &t.r);
}

Test(http, send_buffer_full_resumes)
{
	/* three 8-part responses in one call overflow the 4 KiB send buffer:
	 * the engine stops at a part head and goes on in the next call */
	static const char in[] = GET_RANGE("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14")
		GET_RANGE("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14")
			GET_RANGE("bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14");
	char *got = serve_n(in, sizeof(in) - 1, 64);
	size_t parts = 0;

	for (const char *p = got; (p = strstr(p, "Content-Range: bytes ")); p++)
		parts++;
	cr_assert_eq(parts, 24);
	check_splits(in, sizeof(in) - 1);
	free(got);
}
