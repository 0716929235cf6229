/*
 * Unit tests for control/httpd.c, driven with byte strings and virtual time
 * (ms). Expected responses are written by hand from RFC 9110/9112 and
 * docs/api.md; one test per behaviour.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "httpd.h"

#define T0 1000u /* connection start, ms */

static struct httpd_conn C;

static void up(const struct httpd_config *cfg)
{
	cr_assert_eq(httpd_conn_init(&C, cfg, T0), 0);
}

static void down(void)
{
	httpd_conn_free(&C);
}

TestSuite(httpd, .fini = down);

/* Feeds all of s[0..n) at now; every byte must be taken. */
static void feed_n(const void *s, size_t n, uint64_t now)
{
	ssize_t r = httpd_conn_feed(&C, s, n, now);

	cr_assert_eq(r, (ssize_t)n, "feed took %zd of %zu", r, n);
}

static void feed(const char *s, uint64_t now)
{
	feed_n(s, strlen(s), now);
}

/* The unsent output as a string (NUL-terminated copy), reported sent. */
static char *take(uint64_t now)
{
	const uint8_t *p;
	size_t n;
	char *s;

	httpd_conn_output(&C, &p, &n);
	s = malloc(n + 1);
	cr_assert_not_null(s);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	cr_assert_eq(httpd_conn_sent(&C, n, now), 0);
	return s;
}

static void expect_output(const char *want)
{
	char *got = take(T0);

	cr_assert_str_eq(got, want);
	free(got);
}

static size_t pending(void)
{
	const uint8_t *p;
	size_t n;

	httpd_conn_output(&C, &p, &n);
	return n;
}

/* A fresh default connection fed in; the next outcome. */
static int one(const char *in, struct httpd_request *req)
{
	up(NULL);
	feed(in, T0);
	return httpd_conn_next(&C, req);
}

/* in is one request, read as HTTP/1.minor, kept alive or not. */
static void one_version(const char *in, int minor, bool keep_alive)
{
	struct httpd_request req;

	cr_assert_eq(one(in, &req), 1);
	cr_assert_eq(req.version_minor, minor);
	cr_assert_eq(req.keep_alive, keep_alive);
}

/* in must be refused with status and errno err. */
static void refused(const char *in, unsigned status, int err)
{
	struct httpd_request req;
	const char *msg = NULL;
	int r = one(in, &req);

	cr_assert_eq(r, err, "request %s: got %d, want %d", in, r, err);
	cr_assert_eq(httpd_conn_error(&C, &msg), status);
	cr_assert(msg && *msg);
	cr_assert(httpd_conn_wants_close(&C));
}

/* Each request (a table of char *) is refused with 400 and -EBADMSG, on a
 * connection of its own. */
static void refused_400(const char *const *bad, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		refused(bad[i], 400, -EBADMSG);
		httpd_conn_free(&C);
	}
	up(NULL);
}

#define GET(path) "GET " path " HTTP/1.1\r\nHost: h\r\n\r\n"

#define JSON_HEAD(code, len)                 \
	"HTTP/1.1 " code "\r\n"              \
	"Content-Type: application/json\r\n" \
	"Content-Length: " len "\r\n"        \
	"Cache-Control: no-store\r\n"

/* ---- request line and target ---- */

Test(httpd, simple_get)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/api/v1/status"), &req), 1);
	cr_assert_eq(req.method, HTTPD_GET);
	cr_assert_str_eq(req.path, "/api/v1/status");
	cr_assert_eq(req.path_len, strlen("/api/v1/status"));
	cr_assert_null(req.query);
	cr_assert_eq(req.version_minor, 1);
	cr_assert(req.keep_alive);
	cr_assert_eq(req.n_headers, 1);
	cr_assert_eq(req.body_len, 0);
	cr_assert_not_null(req.body);
	cr_assert_eq(httpd_conn_next(&C, &req), -EBUSY);
}

Test(httpd, query_split)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/api/v1/releases?state=live&x=%20"), &req), 1);
	cr_assert_str_eq(req.path, "/api/v1/releases");
	cr_assert_str_eq(req.query, "state=live&x=%20");
	cr_assert_eq(req.query_len, strlen("state=live&x=%20"));
}

Test(httpd, empty_query_is_not_absent)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/metrics?"), &req), 1);
	cr_assert_str_eq(req.path, "/metrics");
	cr_assert_not_null(req.query);
	cr_assert_eq(req.query_len, 0);
	cr_assert_str_eq(req.query, "");
}

Test(httpd, every_method)
{
	static const char *names[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };
	static const enum httpd_method ms[] = { HTTPD_GET, HTTPD_HEAD,	HTTPD_POST,
						HTTPD_PUT, HTTPD_PATCH, HTTPD_DELETE };

	for (size_t i = 0; i < 6; i++) {
		struct httpd_request req;
		char in[64];

		snprintf(in, sizeof(in), "%s /x HTTP/1.1\r\nHost: h\r\n\r\n", names[i]);
		cr_assert_eq(one(in, &req), 1, "%s", names[i]);
		cr_assert_eq(req.method, ms[i]);
		cr_assert_str_eq(httpd_method_name(req.method), names[i]);
		httpd_conn_free(&C);
	}
	cr_assert_str_eq(httpd_method_name((enum httpd_method)99), "?");
	up(NULL);
}

Test(httpd, unknown_method_501)
{
	refused("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 501, -ENOSYS);
}

Test(httpd, methods_are_case_sensitive)
{
	refused("get / HTTP/1.1\r\nHost: h\r\n\r\n", 501, -ENOSYS);
}

Test(httpd, long_method_refused_before_line_ends)
{
	struct httpd_request req;

	up(NULL);
	feed("ABCDEFGHIJKLMNOPQRSTUVWXYZ", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -ENOSYS);
	cr_assert_eq(httpd_conn_error(&C, NULL), 501);
}

Test(httpd, bad_method_byte_400)
{
	refused("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, -EBADMSG);
}

Test(httpd, malformed_request_lines_400)
{
	TU_TABLE(refused_400, char *,
		 "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",	      /* two SPs: empty target */
		 "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",	      /* trailing SP */
		 "GET /\r\nHost: h\r\n\r\n",		      /* no version (HTTP/0.9) */
		 "GET / http/1.1\r\nHost: h\r\n\r\n",	      /* version is case-sensitive */
		 "GET / HTTP/1.10\r\nHost: h\r\n\r\n",	      /* one digit each */
		 "GET / HTTP/1\r\nHost: h\r\n\r\n",	      /* no minor */
		 "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",	      /* HTAB is not SP */
		 "GET / x HTTP/1.1\r\nHost: h\r\n\r\n",	      /* SP in target */
		 "GET * HTTP/1.1\r\nHost: h\r\n\r\n",	      /* asterisk-form */
		 "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n",      /* authority-form */
		 "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", /* no host */
		 "GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",   /* fragment */
		 /* raw non-ASCII */
		 "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n");
}

Test(httpd, http2_version_505)
{
	refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, -EPROTONOSUPPORT);
}

Test(httpd, http_1_9_served_as_1_1)
{
	one_version("GET / HTTP/1.9\r\nHost: h\r\n\r\n", 1, true);
}

Test(httpd, absolute_form)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("HTTP://seed.example:9180/api/v1/peers?a=b"), &req), 1);
	cr_assert_str_eq(req.path, "/api/v1/peers");
	cr_assert_str_eq(req.query, "a=b");
	httpd_conn_free(&C);
	cr_assert_eq(one(GET("http://seed.example"), &req), 1);
	cr_assert_str_eq(req.path, "/");
	cr_assert_eq(req.path_len, 1);
	cr_assert_null(req.query);
	httpd_conn_free(&C);
	cr_assert_eq(one(GET("https://h?q"), &req), 1);
	cr_assert_str_eq(req.path, "/");
	cr_assert_str_eq(req.query, "q");
}

Test(httpd, leading_empty_lines_skipped)
{
	struct httpd_request req;

	cr_assert_eq(one("\r\n\r\n" GET("/x"), &req), 1);
	cr_assert_str_eq(req.path, "/x");
}

#define TAIL " HTTP/1.1\r\nHost: h\r\n\r\n"

/* "GET /aaa..." with a target of n bytes, then tail (malloc'd). */
static char *target_request(size_t n, const char *tail)
{
	char *in = malloc(4 + n + strlen(tail) + 1);

	cr_assert_not_null(in);
	memcpy(in, "GET /", 5);
	memset(in + 5, 'a', n - 1);
	memcpy(in + 4 + n, tail, strlen(tail) + 1);
	return in;
}

Test(httpd, target_at_limit_accepted)
{
	struct httpd_request req;
	char *in = target_request(HTTPD_MAX_TARGET, TAIL);

	cr_assert_eq(one(in, &req), 1);
	cr_assert_eq(req.path_len, HTTPD_MAX_TARGET);
	free(in);
}

Test(httpd, long_target_414_before_line_ends)
{
	struct httpd_request req;
	char *in = target_request(HTTPD_MAX_TARGET + 2, ""); /* no end of line yet */

	up(NULL);
	feed_n(in, strlen(in), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -ENAMETOOLONG);
	cr_assert_eq(httpd_conn_error(&C, NULL), 414);
	free(in);
}

Test(httpd, long_target_414_in_one_line)
{
	struct httpd_request req;
	char *in = target_request(HTTPD_MAX_TARGET + 1, TAIL);

	cr_assert_eq(one(in, &req), -ENAMETOOLONG);
	free(in);
}

/* ---- fields ---- */

Test(httpd, header_lookup)
{
	struct httpd_request req;
	size_t n = 0;

	cr_assert_eq(one("GET / HTTP/1.1\r\nHost: seed\r\nContent-Type:  application/json \t\r\n"
			 "X-Empty:\r\nAccept: a\r\naccept: b\r\n\r\n",
			 &req),
		     1);
	cr_assert_eq(req.n_headers, 5);
	cr_assert_str_eq(httpd_request_header(&req, "host", NULL), "seed");
	cr_assert_str_eq(httpd_request_header(&req, "CONTENT-TYPE", &n), "application/json");
	cr_assert_eq(n, strlen("application/json"));
	cr_assert_str_eq(httpd_request_header(&req, "x-empty", &n), "");
	cr_assert_eq(n, 0);
	cr_assert_str_eq(httpd_request_header(&req, "Accept", NULL), "a"); /* the first */
	cr_assert_null(httpd_request_header(&req, "Range", NULL));
	cr_assert_null(httpd_request_header(&req, "Hos", NULL));
	cr_assert_str_eq(req.headers[1].name, "Content-Type"); /* case as sent */
	cr_assert_eq(req.headers[1].name_len, 12);
}

Test(httpd, obs_text_in_value_kept)
{
	struct httpd_request req;

	cr_assert_eq(one("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n", &req), 1);
	cr_assert_str_eq(httpd_request_header(&req, "x-name", NULL), "caf\xc3\xa9");
}

Test(httpd, obs_fold_400)
{
	refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n", 400, -EBADMSG);
}

Test(httpd, space_before_colon_400)
{
	refused("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, -EBADMSG);
}

Test(httpd, malformed_fields_400)
{
	TU_TABLE(refused_400, char *, "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
		 "GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n",
		 "GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n");
}

Test(httpd, bare_lf_cr_and_controls_400)
{
	TU_TABLE(refused_400, char *, "GET / HTTP/1.1\nHost: h\r\n\r\n",
		 "GET / HTTP/1.1\r\nHost: h\n\n", "GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n",
		 "GET / HTTP/1.1\r\nHost: h\x01\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\x7f\r\n\r\n");
}

Test(httpd, nul_byte_400)
{
	static const char in[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct httpd_request req;

	up(NULL);
	feed_n(in, sizeof(in) - 1, T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -EBADMSG);
}

Test(httpd, bare_lf_refused_as_it_arrives)
{
	struct httpd_request req;

	up(NULL);
	feed("GET / HTTP/1.1\n", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -EBADMSG);
}

Test(httpd, host_rules)
{
	struct httpd_request req;

	refused("GET / HTTP/1.1\r\n\r\n", 400, -EBADMSG);
	httpd_conn_free(&C);
	refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, -EBADMSG);
	httpd_conn_free(&C);
	cr_assert_eq(one("GET / HTTP/1.0\r\n\r\n", &req), 1); /* optional in 1.0 */
}

static char *many_fields(unsigned n)
{
	size_t cap = 64 + (size_t)n * 16;
	char *in = malloc(cap);
	size_t o;

	o = (size_t)snprintf(in, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (unsigned i = 1; i < n; i++)
		o += (size_t)snprintf(in + o, cap - o, "X-%u: v\r\n", i);
	snprintf(in + o, cap - o, "\r\n");
	return in;
}

Test(httpd, max_fields_accepted)
{
	struct httpd_request req;
	char *in = many_fields(HTTPD_MAX_HEADERS);

	cr_assert_eq(one(in, &req), 1);
	cr_assert_eq(req.n_headers, HTTPD_MAX_HEADERS);
	cr_assert_str_eq(httpd_request_header(&req, "x-63", NULL), "v");
	free(in);
}

Test(httpd, too_many_fields_431)
{
	char *in = many_fields(HTTPD_MAX_HEADERS + 1);

	refused(in, 431, -E2BIG);
	free(in);
}

/* A request whose head is exactly len bytes (len >= 64). */
static char *head_of(size_t len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	char *in = malloc(len + 1);
	size_t np = sizeof(pre) - 1;

	memcpy(in, pre, np);
	memset(in + np, 'p', len - np - 4);
	memcpy(in + len - 4, "\r\n\r\n", 5);
	return in;
}

Test(httpd, head_at_bound_accepted)
{
	struct httpd_request req;
	char *in = head_of(HTTPD_DEFAULT_MAX_HEAD);

	cr_assert_eq(one(in, &req), 1);
	free(in);
}

Test(httpd, head_over_bound_431)
{
	char *in = head_of(HTTPD_DEFAULT_MAX_HEAD + 1);

	refused(in, 431, -E2BIG);
	free(in);
}

Test(httpd, head_bound_configurable)
{
	struct httpd_config cfg;
	struct httpd_request req;
	char *in = head_of(HTTPD_MIN_HEAD + 1);

	httpd_config_default(&cfg);
	cfg.max_head = HTTPD_MIN_HEAD;
	up(&cfg);
	feed(in, T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -E2BIG);
	free(in);
}

/* ---- bodies and framing ---- */

Test(httpd, post_body)
{
	struct httpd_request req;

	cr_assert_eq(one("POST /api/v1/tenants HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\n"
			 "Content-Type: application/json\r\n\r\n{\"id\":\"acme\"}",
			 &req),
		     1);
	cr_assert_eq(req.method, HTTPD_POST);
	cr_assert_eq(req.body_len, 13);
	cr_assert_eq(memcmp(req.body, "{\"id\":\"acme\"}", 13), 0);
}

Test(httpd, body_byte_by_byte)
{
	static const char in[] = "PATCH /api/v1/tenants/acme HTTP/1.1\r\nHost: h\r\n"
				 "Content-Length: 5\r\n\r\nhello";
	struct httpd_request req;

	up(NULL);
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		cr_assert_eq(httpd_conn_next(&C, &req), 0, "byte %zu", i);
		feed_n(in + i, 1, T0 + i);
	}
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(req.method, HTTPD_PATCH);
	cr_assert_str_eq(req.path, "/api/v1/tenants/acme");
	cr_assert_eq(req.body_len, 5);
	cr_assert_eq(memcmp(req.body, "hello", 5), 0);
}

Test(httpd, max_body_in_one_feed)
{
	struct httpd_request req;
	char head[128];
	size_t hn = (size_t)snprintf(head, sizeof(head),
				     "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: %u\r\n\r\n",
				     HTTPD_DEFAULT_MAX_BODY);
	uint8_t *in = malloc(hn + HTTPD_DEFAULT_MAX_BODY);

	memcpy(in, head, hn);
	for (size_t i = 0; i < HTTPD_DEFAULT_MAX_BODY; i++)
		in[hn + i] = (uint8_t)i;
	up(NULL);
	feed_n(in, hn + HTTPD_DEFAULT_MAX_BODY, T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(req.body_len, HTTPD_DEFAULT_MAX_BODY);
	cr_assert_eq(memcmp(req.body, in + hn, HTTPD_DEFAULT_MAX_BODY), 0);
	free(in);
}

Test(httpd, body_over_max_413)
{
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n", 413, -EMSGSIZE);
	httpd_conn_free(&C);
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
		413, -EMSGSIZE);
}

Test(httpd, max_body_configurable)
{
	struct httpd_config cfg;
	struct httpd_request req;

	httpd_config_default(&cfg);
	cfg.max_body = 4;
	up(&cfg);
	feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), -EMSGSIZE);
}

Test(httpd, bad_content_length_400)
{
	static const char *vals[] = { "+5", "-1", "5,5", "", "1 2", "0x10", "5a" };

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char in[128];

		snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n\r\n",
			 vals[i]);
		refused(in, 400, -EBADMSG);
		httpd_conn_free(&C);
	}
	refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		400, -EBADMSG);
}

Test(httpd, transfer_encoding_refused)
{
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 411,
		-EOPNOTSUPP);
	httpd_conn_free(&C);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
		-ENOSYS);
	httpd_conn_free(&C);
	refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 3\r\n\r\nabc",
		400, -EBADMSG);
	httpd_conn_free(&C);
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, -EBADMSG);
}

/* ---- connection management ---- */

Test(httpd, http10_closes)
{
	struct httpd_request req;

	one_version("GET /metrics HTTP/1.0\r\n\r\n", 0, false);
	cr_assert_eq(httpd_respond(&C, 200, "text/plain; version=0.0.4", "m 1\n", 4, NULL), 0);
	expect_output("HTTP/1.1 200 OK\r\n"
		      "Content-Type: text/plain; version=0.0.4\r\n"
		      "Content-Length: 4\r\n"
		      "Connection: close\r\n"
		      "\r\n"
		      "m 1\n");
	cr_assert(httpd_conn_wants_close(&C));
	cr_assert_eq(httpd_conn_next(&C, &req), -EPIPE);
}

Test(httpd, http10_keep_alive)
{
	struct httpd_request req;

	cr_assert_eq(one("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &req), 1);
	cr_assert(req.keep_alive);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "x", 1, NULL), 0);
	expect_output("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
	cr_assert_not(httpd_conn_wants_close(&C));
}

Test(httpd, connection_close_list)
{
	struct httpd_request req;

	cr_assert_eq(
		one("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo , CLOSE\r\n\r\n" GET("/2"), &req),
		1);
	cr_assert_not(req.keep_alive);
	cr_assert_eq(httpd_respond(&C, 204, NULL, NULL, 0, NULL), 0);
	expect_output("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
	cr_assert(httpd_conn_wants_close(&C));
	/* the pipelined request behind it is dropped */
	cr_assert_eq(httpd_conn_next(&C, &req), -EPIPE);
	cr_assert_eq(httpd_conn_feed(&C, "junk", 4, T0), 4);
}

Test(httpd, set_close_marks_answer)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/"), &req), 1);
	httpd_conn_set_close(&C);
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
	expect_output("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	cr_assert(httpd_conn_wants_close(&C));
}

Test(httpd, pipelined_in_order)
{
	struct httpd_request req;
	char *out;

	cr_assert_eq(one(GET("/a") GET("/b") "HEAD /c HTTP/1.1\r\nHost: h\r\n\r\n", &req), 1);
	cr_assert_str_eq(req.path, "/a");
	cr_assert_eq(httpd_conn_next(&C, &req), -EBUSY);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "A", 1, NULL), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_str_eq(req.path, "/b");
	cr_assert_eq(httpd_respond(&C, 200, NULL, "BB", 2, NULL), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_str_eq(req.path, "/c");
	cr_assert_eq(req.method, HTTPD_HEAD);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "CCC", 3, NULL), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	out = take(T0);
	cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
			      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nBB"
			      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
	free(out);
	cr_assert_eq(C.stats.http_requests_total, 3);
	cr_assert_eq(C.stats.http_responses_total, 3);
}

Test(httpd, pipelined_byte_by_byte)
{
	static const char in[] = GET("/one") "POST /two HTTP/1.1\r\nHost: h\r\n"
					     "Content-Length: 2\r\n\r\nhi" GET("/three");
	static const char *paths[] = { "/one", "/two", "/three" };
	struct httpd_request req;
	size_t got = 0;

	up(NULL);
	for (size_t i = 0; i < sizeof(in) - 1; i++) {
		feed_n(in + i, 1, T0);
		while (httpd_conn_next(&C, &req) == 1) {
			cr_assert_lt(got, 3);
			cr_assert_str_eq(req.path, paths[got]);
			got++;
			cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
		}
	}
	cr_assert_eq(got, 3);
}

Test(httpd, feed_waits_while_request_in_hand)
{
	const size_t one_len = strlen(GET("/p"));
	size_t count = 3 * HTTPD_IN_INITIAL / one_len, total = count * one_len;
	size_t done = 0, served = 1;
	struct httpd_request req;
	char *in = malloc(total);
	ssize_t r;

	for (size_t i = 0; i < count; i++)
		memcpy(in + i * one_len, GET("/p"), one_len);
	up(NULL);
	feed(GET("/first"), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	/* with a request in hand the buffer does not grow: only its free room */
	r = httpd_conn_feed(&C, in, total, T0);
	cr_assert_eq(r, (ssize_t)(HTTPD_IN_INITIAL - strlen(GET("/first"))));
	cr_assert_str_eq(req.path, "/first"); /* still valid */
	done = (size_t)r;
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
	for (int rounds = 0; served < count + 1; rounds++) {
		int n;

		cr_assert_lt(rounds, 100000);
		if (done < total) {
			r = httpd_conn_feed(&C, in + done, total - done, T0);
			cr_assert_geq(r, 0);
			done += (size_t)r;
		}
		n = httpd_conn_next(&C, &req);
		if (n == 1) {
			cr_assert_str_eq(req.path, "/p");
			served++;
			cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
			free(take(T0));
		} else {
			cr_assert_eq(n, 0);
		}
	}
	cr_assert_eq(done, total);
	free(in);
}

Test(httpd, input_after_error_dropped)
{
	struct httpd_request req;

	refused("BREW / HTTP/1.1\r\nHost: h\r\n\r\n" GET("/next"), 501, -ENOSYS);
	cr_assert_eq(httpd_conn_feed(&C, GET("/more"), strlen(GET("/more")), T0),
		     (ssize_t)strlen(GET("/more")));
	/* the outcome repeats until answered */
	cr_assert_eq(httpd_conn_next(&C, &req), -ENOSYS);
	cr_assert_eq(httpd_respond_error(&C, 501, "method not implemented", NULL), 0);
	expect_output(
		JSON_HEAD("501 Not Implemented", "34") "Connection: close\r\n\r\n"
						       "{\"error\":\"method not implemented\"}");
	cr_assert_eq(httpd_conn_next(&C, &req), -EPIPE);
	cr_assert_eq(C.stats.http_request_errors_total, 1);
}

/* ---- responses ---- */

Test(httpd, json_response)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/api/v1/status"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 201, "application/json", "{\"ok\":true}", 11,
				   "Location: /api/v1/tenants/acme\r\n"),
		     0);
	expect_output(JSON_HEAD("201 Created", "11") "Location: /api/v1/tenants/acme\r\n"
						     "\r\n{\"ok\":true}");
	cr_assert_not(httpd_conn_wants_close(&C));
}

Test(httpd, json_with_charset_no_store)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, "application/json; charset=utf-8", "{}", 2, NULL), 0);
	expect_output("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
		      "Content-Length: 2\r\nCache-Control: no-store\r\n\r\n{}");
}

Test(httpd, head_gets_headers_only)
{
	struct httpd_request req;

	cr_assert_eq(one("HEAD /api/v1/status HTTP/1.1\r\nHost: h\r\n\r\n", &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, "application/json", NULL, 1234, NULL), 0);
	expect_output(JSON_HEAD("200 OK", "1234") "\r\n");
}

Test(httpd, reason_phrases)
{
	static const struct {
		unsigned code;
		const char *line;
	} rs[] = {
		{ 405, "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ 409, "HTTP/1.1 409 Conflict\r\n" },
		{ 503, "HTTP/1.1 503 Service Unavailable\r\n" },
		{ 299, "HTTP/1.1 299 Success\r\n" },
		{ 599, "HTTP/1.1 599 Server Error\r\n" },
	};

	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		struct httpd_request req;
		char *out;

		cr_assert_eq(one(GET("/"), &req), 1);
		cr_assert_eq(httpd_respond(&C, rs[i].code, NULL, NULL, 0, NULL), 0);
		out = take(T0);
		cr_assert_eq(strncmp(out, rs[i].line, strlen(rs[i].line)), 0, "%s", out);
		free(out);
		httpd_conn_free(&C);
	}
	up(NULL);
}

Test(httpd, no_content_statuses)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 204, NULL, "x", 1, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 304, NULL, NULL, 0, NULL), 0);
	expect_output("HTTP/1.1 304 Not Modified\r\n\r\n");
}

Test(httpd, respond_argument_checks)
{
	struct httpd_request req;

	up(NULL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), -EINVAL); /* no request */
	feed(GET("/"), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(httpd_respond(&C, 100, NULL, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 600, NULL, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 3, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, "text/plain\r\nX: y", "", 0, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, "", "", 0, NULL), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "", 0, "X-A: 1"), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "", 0, "X-A: 1\nX-B: 2\r\n"), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "", 0, "Content-Length: 9\r\n"), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "", 0, "connection: close\r\n"), -EINVAL);
	cr_assert_eq(httpd_respond(&C, 200, NULL, "", 0, "Bad Name: 1\r\n"), -EINVAL);
	cr_assert_eq(httpd_respond_error(&C, 200, "x", NULL), -EINVAL);
	cr_assert_eq(pending(), 0);
	/* the request is still in hand */
	cr_assert_eq(httpd_respond(&C, 405, NULL, "", 0, "Allow: GET, HEAD\r\n"), 0);
	expect_output("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
		      "Allow: GET, HEAD\r\n\r\n");
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), -EINVAL); /* answered */
}

Test(httpd, error_json_escaping)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/"), &req), 1);
	cr_assert_eq(httpd_respond_error(
			     &C, 400,
			     "bad \"name\" \\ in\nline \x01 caf\xc3\xa9 \xff\xc3 \xed\xa0\x80",
			     NULL),
		     0);
	expect_output(JSON_HEAD(
		"400 Bad Request",
		"85") "\r\n"
		      "{\"error\":\"bad \\\"name\\\" \\\\ in\\u000aline \\u0001 caf\xc3\xa9 "
		      "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"}");
	/* a caller's 4xx does not end the connection */
	cr_assert_not(httpd_conn_wants_close(&C));
}

Test(httpd, error_default_message)
{
	struct httpd_request req;

	cr_assert_eq(one(GET("/nope"), &req), 1);
	cr_assert_eq(httpd_respond_error(&C, 404, NULL, NULL), 0);
	expect_output(JSON_HEAD("404 Not Found", "21") "\r\n{\"error\":\"Not Found\"}");
}

Test(httpd, error_message_cut_at_char_boundary)
{
	struct httpd_request req;
	char msg[HTTPD_ERROR_MSG_MAX + 8];
	char *out, *body;

	/* 'a' then 2-byte characters: the bound falls inside one */
	msg[0] = 'a';
	for (size_t i = 1; i + 1 < sizeof(msg) - 1; i += 2) {
		msg[i] = '\xc3';
		msg[i + 1] = '\xa9';
	}
	msg[sizeof(msg) - 1] = '\0';
	cr_assert_eq(one(GET("/"), &req), 1);
	cr_assert_eq(httpd_respond_error(&C, 400, msg, NULL), 0);
	out = take(T0);
	body = strstr(out, "\r\n\r\n") + 4;
	/* 1 + 255 whole characters, no U+FFFD from a cut one */
	cr_assert_eq(strlen(body), strlen("{\"error\":\"\"}") + 1 + 255 * 2);
	cr_assert_null(strstr(body, "\\ufffd"));
	free(out);
}

Test(httpd, output_cap_enospc_all_or_nothing)
{
	struct httpd_config cfg;
	struct httpd_request req;
	char *big = calloc(1, 8192);

	httpd_config_default(&cfg);
	cfg.max_output = HTTPD_MIN_OUTPUT;
	up(&cfg);
	feed(GET("/metrics"), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, "text/plain", big, 8192, NULL), -ENOSPC);
	cr_assert_eq(pending(), 0);
	cr_assert_eq(httpd_respond_error(&C, 500, "response too large", NULL), 0);
	cr_assert_gt(pending(), 0);
	free(big);
}

Test(httpd, metrics_sized_response_partial_sends)
{
	struct httpd_request req;
	size_t n = 300 * 1024, got = 0;
	char *body = malloc(n), *all = malloc(n + 256);
	const uint8_t *p;
	size_t len;

	for (size_t i = 0; i < n; i++)
		body[i] = (char)('a' + i % 26);
	cr_assert_eq(one(GET("/metrics"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, "text/plain; version=0.0.4", body, n, NULL), 0);
	for (httpd_conn_output(&C, &p, &len); len; httpd_conn_output(&C, &p, &len)) {
		size_t k = len < 7777 ? len : 7777;

		cr_assert_leq(got + k, n + 256);
		memcpy(all + got, p, k);
		got += k;
		cr_assert_eq(httpd_conn_sent(&C, k, T0), 0);
	}
	cr_assert_eq(memcmp(all + got - n, body, n), 0);
	cr_assert_eq(C.stats.http_sent_bytes_total, got);
	cr_assert_eq(httpd_conn_sent(&C, 1, T0), -EINVAL);
	free(body);
	free(all);
}

Test(httpd, backpressure_holds_pipelined_request)
{
	struct httpd_request req;
	size_t n = 2 * HTTPD_PIPELINE_OUT_MAX;
	char *body = calloc(1, n);

	cr_assert_eq(one(GET("/metrics") GET("/two"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, "text/plain", body, n, NULL), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0); /* output first */
	cr_assert_eq(httpd_conn_sent(&C, n / 2, T0 + 5), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	cr_assert_eq(httpd_conn_sent(&C, HTTPD_PIPELINE_OUT_MAX, T0 + 6), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_str_eq(req.path, "/two");
	free(body);
}

/* ---- Expect: 100-continue ---- */

#define POST_EXPECT(ver)                                                     \
	"POST /api/v1/reload " ver "\r\nHost: h\r\nExpect: 100-continue\r\n" \
	"Content-Length: 2\r\n\r\n"

Test(httpd, expect_100_continue)
{
	struct httpd_request req;

	up(NULL);
	feed(POST_EXPECT("HTTP/1.1"), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0); /* once */
	expect_output("HTTP/1.1 100 Continue\r\n\r\n");
	feed("{}", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(req.body_len, 2);
	cr_assert_eq(httpd_respond(&C, 200, "application/json", "{\"generation\":3}", 16, NULL), 0);
	expect_output(JSON_HEAD("200 OK", "16") "\r\n{\"generation\":3}");
}

Test(httpd, expect_100_not_sent)
{
	struct httpd_request req;
	struct httpd_config cfg;

	/* the body is already here */
	cr_assert_eq(one(POST_EXPECT("HTTP/1.1") "{}", &req), 1);
	cr_assert_eq(pending(), 0);
	httpd_conn_free(&C);
	/* HTTP/1.0 must ignore Expect (RFC 9110 §10.1.1) */
	cr_assert_eq(one(POST_EXPECT("HTTP/1.0"), &req), 0);
	cr_assert_eq(pending(), 0);
	httpd_conn_free(&C);
	/* switched off */
	httpd_config_default(&cfg);
	cfg.send_continue = 0;
	up(&cfg);
	feed(POST_EXPECT("HTTP/1.1"), T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	cr_assert_eq(pending(), 0);
}

Test(httpd, expect_with_oversized_body_413)
{
	refused("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
		"Content-Length: 1000000\r\n\r\n",
		413, -EMSGSIZE);
	cr_assert_eq(pending(), 0);
}

/* ---- timeouts ---- */

Test(httpd, slowloris_cut_at_header_timeout)
{
	static const char in[] = "GET /api/v1/status HTTP/1.1\r\nHost: h\r\nX-Slow: ";
	struct httpd_request req;
	uint64_t now = T0 + 500, first = now;

	up(NULL);
	for (size_t i = 0;; i++) {
		feed_n(in + i % (sizeof(in) - 1), 1, now); /* one byte a second */
		cr_assert_eq(httpd_conn_next(&C, &req), 0);
		now += 1000;
		if (httpd_conn_timed_out(&C, now))
			break;
		cr_assert_lt(now, first + HTTPD_DEFAULT_HEADER_TIMEOUT_MS);
	}
	cr_assert_eq(now, first + HTTPD_DEFAULT_HEADER_TIMEOUT_MS);
	cr_assert_eq(httpd_conn_deadline(&C), first + HTTPD_DEFAULT_HEADER_TIMEOUT_MS);
}

Test(httpd, slow_body_cut_too)
{
	struct httpd_request req;

	up(NULL);
	feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	feed("abc", T0 + 9000);
	cr_assert_not(httpd_conn_timed_out(&C, T0 + 9999));
	cr_assert(httpd_conn_timed_out(&C, T0 + 10000));
}

Test(httpd, idle_timeout)
{
	struct httpd_request req;

	up(NULL);
	cr_assert_eq(httpd_conn_deadline(&C), T0 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS);
	cr_assert_not(httpd_conn_timed_out(&C, T0 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS - 1));
	cr_assert(httpd_conn_timed_out(&C, T0 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS));
	/* a request answered and sent restarts the idle wait */
	feed(GET("/"), T0 + 100);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(httpd_conn_deadline(&C), HTTPD_NO_DEADLINE); /* caller's turn */
	cr_assert_not(httpd_conn_timed_out(&C, T0 + 1000000));
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
	cr_assert_eq(httpd_conn_sent(&C, pending(), T0 + 200), 0);
	cr_assert_eq(httpd_conn_deadline(&C), T0 + 200 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS);
}

/* Idle is between requests only: a request under way, one in hand or
 * output unsent is not idle (a full server closes the idlest first). */
Test(httpd, idle_since_is_between_requests_only)
{
	struct httpd_request req;

	up(NULL);
	cr_assert_eq(httpd_conn_idle_since(&C), T0);
	feed("GET / HT", T0 + 10);
	cr_assert_eq(httpd_conn_idle_since(&C), HTTPD_NO_DEADLINE, "a request under way");
	feed("TP/1.1\r\nHost: x\r\n\r\n", T0 + 20);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(httpd_conn_idle_since(&C), HTTPD_NO_DEADLINE, "a request in hand");
	cr_assert_eq(httpd_respond(&C, 200, NULL, "ok", 2, NULL), 0);
	cr_assert_eq(httpd_conn_idle_since(&C), HTTPD_NO_DEADLINE, "output unsent");
	cr_assert_eq(httpd_conn_sent(&C, pending(), T0 + 300), 0);
	cr_assert_eq(httpd_conn_idle_since(&C), T0 + 300, "idle from the last byte out");
}

Test(httpd, stalled_output_timeout)
{
	struct httpd_request req;
	char body[1000] = { 0 };

	cr_assert_eq(one(GET("/"), &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, NULL, body, sizeof(body), NULL), 0);
	cr_assert_eq(httpd_conn_deadline(&C), T0 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS);
	cr_assert_eq(httpd_conn_sent(&C, 10, T0 + 30000), 0); /* progress */
	cr_assert_not(httpd_conn_timed_out(&C, T0 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS));
	cr_assert(httpd_conn_timed_out(&C, T0 + 30000 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS));
	cr_assert_eq(httpd_conn_sent(&C, 0, T0 + 50000), 0); /* no progress */
	cr_assert(httpd_conn_timed_out(&C, T0 + 30000 + HTTPD_DEFAULT_IDLE_TIMEOUT_MS));
}

Test(httpd, pipelined_partial_request_timer)
{
	struct httpd_request req;

	up(NULL);
	feed(GET("/a") "GET /b HT", T0);
	cr_assert_eq(httpd_conn_next(&C, &req), 1);
	cr_assert_eq(httpd_respond(&C, 200, NULL, NULL, 0, NULL), 0);
	cr_assert_eq(httpd_conn_sent(&C, pending(), T0 + 50), 0);
	cr_assert_eq(httpd_conn_next(&C, &req), 0);
	/* the second request's bytes came with the first */
	cr_assert_eq(httpd_conn_deadline(&C), T0 + HTTPD_DEFAULT_HEADER_TIMEOUT_MS);
}

/* ---- helpers ---- */

Test(httpd, pct_decode)
{
	char out[32];
	char inplace[] = "a%2fb%41";

	cr_assert_eq(httpd_pct_decode("acme.game.1", 11, out, sizeof(out)), 11);
	cr_assert_eq(httpd_pct_decode("a%20b%2Fc%7e", 12, out, sizeof(out)), 6);
	cr_assert_eq(memcmp(out, "a b/c~", 6), 0);
	cr_assert_eq(httpd_pct_decode("a+b", 3, out, sizeof(out)), 3);
	cr_assert_eq(memcmp(out, "a+b", 3), 0);
	cr_assert_eq(httpd_pct_decode("%00", 3, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("a\0b", 3, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("%zz", 3, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("%4", 2, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("%", 1, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("%4g", 3, out, sizeof(out)), -EINVAL);
	cr_assert_eq(httpd_pct_decode("abcd", 4, out, 3), -ENOBUFS);
	cr_assert_eq(httpd_pct_decode("", 0, NULL, 0), 0);
	cr_assert_eq(httpd_pct_decode(inplace, 8, inplace, 8), 4);
	cr_assert_eq(memcmp(inplace, "a/bA", 4), 0);
}

Test(httpd, path_segments)
{
	static const char *path = "/api/v1/releases/acme.game.1/publish";
	static const char *want[] = { "api", "v1", "releases", "acme.game.1", "publish" };
	const char *seg;
	size_t pos = 0, len, i = 0;

	while (httpd_path_segment(path, strlen(path), &pos, &seg, &len)) {
		cr_assert_lt(i, 5);
		cr_assert_eq(len, strlen(want[i]));
		cr_assert_eq(memcmp(seg, want[i], len), 0);
		i++;
	}
	cr_assert_eq(i, 5);
	pos = 0;
	cr_assert_eq(httpd_path_segment("/a/", 3, &pos, &seg, &len), 1);
	cr_assert_eq(len, 1);
	cr_assert_eq(httpd_path_segment("/a/", 3, &pos, &seg, &len), 1);
	cr_assert_eq(len, 0);
	cr_assert_eq(httpd_path_segment("/a/", 3, &pos, &seg, &len), 0);
	pos = 0;
	cr_assert_eq(httpd_path_segment("/", 1, &pos, &seg, &len), 1);
	cr_assert_eq(len, 0);
	cr_assert_eq(httpd_path_segment("/", 1, &pos, &seg, &len), 0);
	pos = 0;
	cr_assert_eq(httpd_path_segment("", 0, &pos, &seg, &len), 0);
}

#define HTTPD_FIELD(f, v) TU_U32_FIELD(struct httpd_config, f, v)

Test(httpd, config_bounds)
{
	static const struct tu_u32_field bad[] = {
		HTTPD_FIELD(max_head, HTTPD_MIN_HEAD - 1),
		HTTPD_FIELD(max_body, HTTPD_MAX_BODY_LIMIT + 1),
		HTTPD_FIELD(max_output, HTTPD_MIN_OUTPUT - 1),
		HTTPD_FIELD(header_timeout_ms, 0),
		HTTPD_FIELD(idle_timeout_ms, 0),
	};
	struct httpd_config cfg;
	struct httpd_conn c;

	for (size_t i = 0; i < TU_N(bad); i++) {
		httpd_config_default(&cfg);
		tu_set_u32(&cfg, &bad[i]);
		cr_assert_eq(httpd_conn_init(&c, &cfg, 0), -EINVAL, "%s = %u", bad[i].name,
			     bad[i].value);
		httpd_conn_free(&c);
	}
	httpd_conn_free(&c); /* twice is fine */
	up(NULL);
}

Test(httpd, no_error_when_none)
{
	const char *msg = NULL;

	up(NULL);
	cr_assert_eq(httpd_conn_error(&C, &msg), 0);
	cr_assert_str_eq(msg, "");
	cr_assert_eq(httpd_conn_feed(&C, NULL, 1, T0), -EINVAL);
	cr_assert_eq(httpd_conn_feed(&C, NULL, 0, T0), 0);
	cr_assert_not(httpd_conn_wants_close(&C));
}

Test(httpd, strings_are_nul_terminated)
{
	struct httpd_request req;

	cr_assert_eq(one("DELETE /api/v1/x?y=1 HTTP/1.1\r\nHost: h  \r\nA:b\r\n\r\n", &req), 1);
	cr_assert_eq(strlen(req.path), req.path_len);
	cr_assert_eq(strlen(req.query), req.query_len);
	for (size_t i = 0; i < req.n_headers; i++) {
		cr_assert_eq(strlen(req.headers[i].name), req.headers[i].name_len);
		cr_assert_eq(strlen(req.headers[i].value), req.headers[i].value_len);
	}
	cr_assert_str_eq(httpd_request_header(&req, "a", NULL), "b");
	cr_assert_str_eq(httpd_request_header(&req, "host", NULL), "h");
}
