/*
 * Unit tests for control/announce.c.
 *
 * Expected bytes are written by hand from the specs (BEP 3, 7, 15, 23;
 * RFC 3986 for percent-encoding; RFC 9112 for HTTP framing) and from
 * announce.h, never taken from the code under test. Offsets are counted by
 * hand; each test that uses one says how. The scheduler's tests are in
 * test_announce_sched.c.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"
#include "announce.h"

#define S(lit) (lit), (lit) + sizeof(lit) - 1

/* ---- helpers ---- */

static int url(const char *s, struct announce_url *u, struct seed_err *err)
{
	seed_err_clear(err);
	return announce_url_parse(s, s + strlen(s), u, err);
}

/* The info-hash of the request tests: each tricky byte once. */
static const uint8_t tricky_ih[20] = { 0x20, 0xff, '+', '~', 'A', 'z', '0',  '9',  '-',	 '.',
				       '_',  '%',  '/', '&', '=', '?', 0x00, 0x7f, 0x80, 0x12 };
/* By hand: unreserved bytes stay, all others become %XX (uppercase). */
#define TRICKY_IH_ENC "%20%FF%2B~Az09-._%25%2F%26%3D%3F%00%7F%80%12"
#define PEER_ID	      "-BS0010-abcdefghijkl"

static void base_req(struct announce_req *r)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->info_hash, tricky_ih, 20);
	memcpy(r->peer_id, PEER_ID, 20);
	r->port = 6881;
	r->uploaded = 1234;
	r->event = ANNOUNCE_EVENT_STARTED;
	r->numwant = 50;
	r->key = 0xDEADBEEF;
}

static char reqbuf[ANNOUNCE_HTTP_REQ_MAX];

static int build(const char *u, const struct announce_req *r, const char *ua, struct seed_err *err)
{
	struct announce_url pu;
	int rc;

	seed_err_clear(err);
	cr_assert_eq(url(u, &pu, err), 0, "url %s: %s", u, err->msg);
	rc = announce_http_build(&pu, r, ua, reqbuf, sizeof(reqbuf), err);
	if (rc >= 0 && rc < (int)sizeof(reqbuf))
		reqbuf[rc] = '\0';
	return rc;
}

/* A 200 response with Content-Length around body[0..n). Returns the head length. */
static size_t mk200(uint8_t *out, size_t cap, const void *body, size_t n, size_t *total)
{
	int h = snprintf((char *)out, cap, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);

	cr_assert(h > 0 && (size_t)h + n <= cap);
	memcpy(out + h, body, n);
	*total = (size_t)h + n;
	return (size_t)h;
}

/* What a parse test works on: the response in rbuf, the result res with
 * its peers, the error, and where the body starts in rbuf (each test runs
 * in a fresh process, so each starts from zero). */
static uint8_t rbuf[1 << 16];
static struct announce_peer peers[16];
static struct announce_resp res;
static struct seed_err perr;
static size_t body_off;

static int parse_body(const void *body, size_t n, struct announce_resp *r, size_t *head,
		      struct seed_err *err)
{
	size_t total;

	*head = mk200(rbuf, sizeof(rbuf), body, n, &total);
	announce_resp_init(r, peers, 16);
	seed_err_clear(err);
	return announce_http_parse(rbuf, rbuf + total, 0, r, err);
}

static int parse_raw(const char *s, size_t n, int eof, struct announce_resp *r,
		     struct seed_err *err)
{
	announce_resp_init(r, peers, 16);
	seed_err_clear(err);
	return announce_http_parse((const uint8_t *)s, (const uint8_t *)s + n, eof, r, err);
}

/*
 * Peer k is family fam at addr[0..len) with the rest of its address zero
 * (an IPv4 address takes 4 bytes), and port.
 */
static void expect_peer(size_t k, enum announce_family fam, const char *addr, size_t len,
			uint16_t port)
{
	static const uint8_t zero[16];

	cr_assert_eq(peers[k].family, fam, "peer %zu", k);
	cr_assert_eq(memcmp(peers[k].addr, addr, len), 0, "peer %zu", k);
	cr_assert_eq(memcmp(peers[k].addr + len, zero, sizeof(peers[k].addr) - len), 0, "peer %zu",
		     k);
	cr_assert_eq(peers[k].port, port, "peer %zu", k);
}

#define PEER(k, fam, lit, port) \
	expect_peer((k), ANNOUNCE_FAMILY_##fam, (lit), sizeof(lit) - 1, (port))

/* Parses body[0..n) in a 200 response, which must succeed; the count of
 * peers it gave. */
static size_t body_peers(const char *body, size_t n)
{
	cr_assert_eq(parse_body(body, n, &res, &body_off, &perr), 0, "%s", perr.msg);
	return res.n_peers;
}

#define PARSE_RAW(lit, eof) parse_raw((lit), sizeof(lit) - 1, (eof), &res, &perr)
#define BODY(lit)	    parse_body((lit), sizeof(lit) - 1, &res, &body_off, &perr)

/* ---- URLs ---- */

Test(announce_url, http_name_port_path)
{
	struct announce_url u;
	struct seed_err err;

	cr_assert_eq(url("http://tracker.example.org:6969/announce", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.scheme, ANNOUNCE_SCHEME_HTTP);
	cr_assert_eq(u.host_kind, ANNOUNCE_HOST_NAME);
	cr_assert_str_eq(u.host, "tracker.example.org");
	cr_assert_eq(u.port, 6969);
	cr_assert_str_eq(u.target, "/announce");
}

Test(announce_url, http_defaults)
{
	struct announce_url u;
	struct seed_err err;

	cr_assert_eq(url("http://example.com", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.port, 80);
	cr_assert_str_eq(u.target, "/");
	cr_assert_eq(url("http://example.com?passkey=abc", &u, &err), 0, "%s", err.msg);
	cr_assert_str_eq(u.target, "/?passkey=abc");
	cr_assert_eq(url("HTTP://Example.COM/a/b?x=1&y=%20", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.scheme, ANNOUNCE_SCHEME_HTTP);
	cr_assert_str_eq(u.host, "Example.COM");
	cr_assert_str_eq(u.target, "/a/b?x=1&y=%20");
}

Test(announce_url, ipv4_literal)
{
	struct announce_url u;
	struct seed_err err;
	static const uint8_t want[4] = { 192, 0, 2, 7 };

	cr_assert_eq(url("http://192.0.2.7:8080/ann", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.host_kind, ANNOUNCE_HOST_IPV4);
	cr_assert_eq(memcmp(u.addr, want, 4), 0);
	cr_assert_str_eq(u.host, "192.0.2.7");
	cr_assert_eq(u.port, 8080);
}

Test(announce_url, ipv6_literal_udp)
{
	struct announce_url u;
	struct seed_err err;
	static const uint8_t want[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};

	cr_assert_eq(url("udp://[2001:db8::1]:6969/announce", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.scheme, ANNOUNCE_SCHEME_UDP);
	cr_assert_eq(u.host_kind, ANNOUNCE_HOST_IPV6);
	cr_assert_str_eq(u.host, "2001:db8::1");
	cr_assert_eq(memcmp(u.addr, want, 16), 0);
	cr_assert_eq(u.port, 6969);
	cr_assert_str_eq(u.target, "/announce");
	cr_assert_eq(url("udp://tracker.example.org:1337", &u, &err), 0, "%s", err.msg);
	cr_assert_str_eq(u.target, "");
	cr_assert_eq(url("http://[::1]/a", &u, &err), 0, "%s", err.msg);
	cr_assert_eq(u.port, 80);
}

Test(announce_url, udp_needs_port)
{
	struct announce_url u;
	struct seed_err err;

	/* "udp://tracker.example.org" is 25 bytes: the fault is where the port should be */
	cr_assert_eq(url("udp://tracker.example.org/announce", &u, &err), -EINVAL);
	cr_assert(err.has_offset);
	cr_assert_eq(err.offset, 25);
	cr_assert(strstr(err.msg, "udp needs a port"), "%s", err.msg);
}

Test(announce_url, https_refused)
{
	struct announce_url u;
	struct seed_err err;

	cr_assert_eq(url("https://tracker.example.org/announce", &u, &err), -EPROTONOSUPPORT);
	cr_assert(strstr(err.msg, "https trackers are not supported"), "%s", err.msg);
	cr_assert_eq(url("wss://tracker.example.org/", &u, &err), -EPROTONOSUPPORT);
	cr_assert(strstr(err.msg, "'wss'"), "%s", err.msg);
}

Test(announce_url, length_bound)
{
	static char s[ANNOUNCE_URL_MAX + 2];
	struct announce_url u;
	struct seed_err err;

	/* "http://h/" + 'a' * (1024 - 9) is exactly the limit */
	memcpy(s, "http://h/", 9);
	memset(s + 9, 'a', ANNOUNCE_URL_MAX - 9);
	seed_err_clear(&err);
	cr_assert_eq(announce_url_parse(s, s + ANNOUNCE_URL_MAX, &u, &err), 0, "%s", err.msg);
	cr_assert_eq(strlen(u.target), ANNOUNCE_URL_MAX - 8);
	s[ANNOUNCE_URL_MAX] = 'a';
	cr_assert_eq(announce_url_parse(s, s + ANNOUNCE_URL_MAX + 1, &u, &err), -ENAMETOOLONG);
}

Test(announce_url, host_bounds)
{
	static char s[400];
	struct announce_url u;
	struct seed_err err;

	/* a 64-byte label */
	strcpy(s, "http://");
	memset(s + 7, 'a', 64);
	strcpy(s + 71, ".org/");
	cr_assert_eq(url(s, &u, &err), -EINVAL);
	cr_assert(strstr(err.msg, "label over 63"), "%s", err.msg);
	/* 4 labels of 63 plus 3 dots = 255 bytes > 253 */
	strcpy(s, "http://");
	for (int i = 0; i < 4; i++) {
		memset(s + 7 + i * 64, 'b', 63);
		s[7 + i * 64 + 63] = '.';
	}
	strcpy(s + 7 + 255, "/");
	cr_assert_eq(url(s, &u, &err), -ENAMETOOLONG, "%s", err.msg);
}

struct bad_url {
	char in[64];
	size_t off;
	char what[48];
};

ParameterizedTestParameters(announce_url, rejects)
{
	static struct bad_url cases[] = {
		{ "tracker.example.org/announce", 19, "no scheme" },
		{ "http:/host/", 4, "no scheme" },
		{ "http://", 7, "empty host" },
		{ "http://:80/", 7, "empty host" },
		{ "http://host:0/", 12, "port 0 out of range" },
		{ "http://host:65536/", 12, "port 65536 out of range" },
		{ "http://host:123456/", 12, "port out of range" },
		{ "http://host:/", 12, "empty port" },
		{ "http://host:12a/", 14, "invalid byte 'a' in port" },
		{ "http://user@host/", 11, "user information" },
		{ "http://host/a#frag", 13, "fragments" },
		{ "http://ho st/", 9, "invalid byte 0x20" },
		{ "http://host/\x7f", 12, "invalid byte 0x7f" },
		{ "http://h\xc3\xa9/", 8, "invalid byte 0xc3" },
		{ "http://[::1/", 7, "'[' without ']'" },
		{ "http://[::1]x/", 12, "junk after IPv6" },
		{ "http://[fe80::1%25eth0]/", 15, "zone identifiers" },
		{ "http://[::g]/", 8, "bad IPv6 address" },
		{ "http://1.2.3.256/", 7, "bad IPv4 address" },
		{ "http://01.2.3.4/", 7, "bad IPv4 address" },
		{ "http://1.2.3/", 7, "bad IPv4 address" },
		{ "http://a..b/", 9, "empty label" },
		{ "http://.a/", 7, "empty label" },
		{ "http://a!b/", 8, "invalid byte '!' in host" },
	};

	return cr_make_param_array(struct bad_url, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_url *c, announce_url, rejects)
{
	struct announce_url u;
	struct seed_err err;

	cr_assert_eq(url(c->in, &u, &err), -EINVAL, "%s: %s", c->in, err.msg);
	cr_assert(err.has_offset, "%s", c->in);
	cr_assert_eq(err.offset, c->off, "%s: offset %llu, want %zu (%s)", c->in,
		     (unsigned long long)err.offset, c->off, err.msg);
	cr_assert(strstr(err.msg, c->what), "%s: message '%s' lacks '%s'", c->in, err.msg, c->what);
}

/* ---- HTTP requests ---- */

Test(announce_http_build, started_exact)
{
	struct announce_req r;
	struct seed_err err;
	int n;
	static const char want[] =
		"GET /announce?info_hash=" TRICKY_IH_ENC "&peer_id=" PEER_ID
		"&port=6881&uploaded=1234&downloaded=0&left=0&event=started&compact=1"
		"&numwant=50&key=DEADBEEF HTTP/1.1\r\n"
		"Host: tracker.example.org:6969\r\n"
		"User-Agent: " ANNOUNCE_DEFAULT_UA "\r\n"
		"Accept-Encoding: identity\r\n"
		"Connection: close\r\n"
		"\r\n";

	base_req(&r);
	n = build("http://tracker.example.org:6969/announce", &r, NULL, &err);
	cr_assert_eq(n, (int)sizeof(want) - 1, "%d: %s", n, err.msg);
	cr_assert_str_eq(reqbuf, want);
}

Test(announce_http_build, percent_encoding_rules)
{
	struct announce_req r;
	struct seed_err err;

	base_req(&r);
	/* a space must be %20, never '+' (opentracker does not decode '+') */
	memset(r.info_hash, ' ', 20);
	r.peer_id[0] = 0xff;
	r.peer_id[1] = '+';
	r.peer_id[2] = '~';
	cr_assert_gt(build("http://t.example/announce", &r, NULL, &err), 0);
	cr_assert(strstr(reqbuf,
			 "?info_hash=%20%20%20%20%20%20%20%20%20%20"
			 "%20%20%20%20%20%20%20%20%20%20&peer_id=%FF%2B~0010-abcdefghijkl&"),
		  "%s", reqbuf);
	cr_assert_null(strchr(reqbuf, '+'));
}

Test(announce_http_build, appends_to_query_no_event_no_numwant)
{
	struct announce_req r;
	struct seed_err err;
	static const char want[] =
		"GET /ann?passkey=xyz&info_hash=" TRICKY_IH_ENC "&peer_id=" PEER_ID
		"&port=6881&uploaded=0&downloaded=7&left=0&compact=1"
		"&key=00000001 HTTP/1.1\r\n"
		"Host: t.example\r\n"
		"User-Agent: test/1\r\n"
		"Accept-Encoding: identity\r\n"
		"Connection: close\r\n\r\n";

	base_req(&r);
	r.event = ANNOUNCE_EVENT_NONE;
	r.numwant = -1;
	r.uploaded = 0;
	r.downloaded = 7;
	r.key = 1;
	cr_assert_gt(build("http://t.example/ann?passkey=xyz", &r, "test/1", &err), 0, "%s",
		     err.msg);
	cr_assert_str_eq(reqbuf, want);
}

Test(announce_http_build, query_ending_in_separator)
{
	struct announce_req r;
	struct seed_err err;

	base_req(&r);
	cr_assert_gt(build("http://t.example/ann?a=1&", &r, NULL, &err), 0);
	cr_assert_eq(strncmp(reqbuf, "GET /ann?a=1&info_hash=", 23), 0, "%s", reqbuf);
	cr_assert_gt(build("http://t.example/ann?", &r, NULL, &err), 0);
	cr_assert_eq(strncmp(reqbuf, "GET /ann?info_hash=", 19), 0, "%s", reqbuf);
	cr_assert_gt(build("http://t.example", &r, NULL, &err), 0);
	cr_assert_eq(strncmp(reqbuf, "GET /?info_hash=", 16), 0, "%s", reqbuf);
}

Test(announce_http_build, events_and_large_counters)
{
	struct announce_req r;
	struct seed_err err;

	base_req(&r);
	r.event = ANNOUNCE_EVENT_STOPPED;
	r.uploaded = UINT64_MAX;
	r.numwant = 0;
	cr_assert_gt(build("http://t.example/a", &r, NULL, &err), 0);
	cr_assert(strstr(reqbuf, "&uploaded=18446744073709551615&"), "%s", reqbuf);
	cr_assert(strstr(reqbuf, "&event=stopped&compact=1&numwant=0&"), "%s", reqbuf);
	r.event = ANNOUNCE_EVENT_COMPLETED;
	cr_assert_gt(build("http://t.example/a", &r, NULL, &err), 0);
	cr_assert(strstr(reqbuf, "&event=completed&"), "%s", reqbuf);
	cr_assert_str_eq(announce_event_name(ANNOUNCE_EVENT_NONE), "none");
	cr_assert_str_eq(announce_event_name((enum announce_event)9), "?");
}

Test(announce_http_build, bep7_addresses_and_ipv6_host)
{
	struct announce_req r;
	struct seed_err err;
	static const uint8_t v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
	};

	base_req(&r);
	r.has_ip4 = 1;
	memcpy(r.ip4, (uint8_t[4]){ 198, 51, 100, 9 }, 4);
	r.has_ip6 = 1;
	memcpy(r.ip6, v6, 16);
	cr_assert_gt(build("http://[2001:db8::2]:8080/a", &r, NULL, &err), 0, "%s", err.msg);
	/* ':' is not unreserved: %3A */
	cr_assert(
		strstr(reqbuf, "&key=DEADBEEF&ip=198.51.100.9&ipv6=2001%3Adb8%3A%3A1 HTTP/1.1\r\n"),
		"%s", reqbuf);
	cr_assert(strstr(reqbuf, "\r\nHost: [2001:db8::2]:8080\r\n"), "%s", reqbuf);
}

Test(announce_http_build, buffer_bounds)
{
	struct announce_url u;
	struct announce_req r;
	struct seed_err err;
	static char small[512];
	int n;

	base_req(&r);
	cr_assert_eq(url("http://t.example/announce", &u, &err), 0);
	n = announce_http_build(&u, &r, NULL, reqbuf, sizeof(reqbuf), &err);
	cr_assert_gt(n, 0);
	cr_assert_lt((size_t)n, sizeof(small));
	cr_assert_eq(announce_http_build(&u, &r, NULL, small, (size_t)n, &err), n);
	cr_assert_eq(memcmp(small, reqbuf, (size_t)n), 0);
	seed_err_clear(&err);
	cr_assert_eq(announce_http_build(&u, &r, NULL, small, (size_t)n - 1, &err), -ENOBUFS);
	cr_assert_eq(err.code, -ENOBUFS);
}

Test(announce_http_build, rejects_bad_input)
{
	struct announce_url u;
	struct announce_req r;
	struct seed_err err;

	base_req(&r);
	cr_assert_eq(url("udp://t.example:80", &u, &err), 0);
	cr_assert_eq(announce_http_build(&u, &r, NULL, reqbuf, sizeof(reqbuf), &err), -EINVAL);
	cr_assert_eq(url("http://t.example/", &u, &err), 0);
	r.port = 0;
	cr_assert_eq(announce_http_build(&u, &r, NULL, reqbuf, sizeof(reqbuf), &err), -EINVAL);
	base_req(&r);
	r.event = (enum announce_event)4;
	cr_assert_eq(announce_http_build(&u, &r, NULL, reqbuf, sizeof(reqbuf), &err), -EINVAL);
	base_req(&r);
	cr_assert_eq(announce_http_build(&u, &r, "x\r\nEvil: 1", reqbuf, sizeof(reqbuf), &err),
		     -EINVAL);
	cr_assert_eq(announce_http_build(&u, &r, "", reqbuf, sizeof(reqbuf), &err), -EINVAL);
}

/* ---- HTTP responses ---- */

/*
 * Compact body, keys in bencode order. 192.0.2.1:6881 is c0 00 02 01 1a e1,
 * 10.0.0.2:80 is 0a 00 00 02 00 50.
 */
static const char compact_body[] = "d8:completei5e10:incompletei3e8:intervali1800e"
				   "12:min intervali900e5:peers12:"
				   "\xc0\x00\x02\x01\x1a\xe1\x0a\x00\x00\x02\x00\x50"
				   "e";

Test(announce_http_parse, compact_peers)
{
	cr_assert_eq(BODY(compact_body), 0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_OK);
	cr_assert_eq(res.http_status, 200);
	cr_assert_eq(res.interval_s, 1800);
	cr_assert_eq(res.min_interval_s, 900);
	cr_assert_eq(res.complete, 5);
	cr_assert_eq(res.incomplete, 3);
	cr_assert_eq(res.n_peers, 2);
	cr_assert_eq(res.peers_dropped, 0);
	PEER(0, V4, "\xc0\x00\x02\x01", 6881);
	PEER(1, V4, "\x0a\x00\x00\x02", 80);
	cr_assert_eq(res.has_warning, 0);
}

/* An answer the parser takes whole, and what it must find in it; ANY
 * leaves a number unchecked. Every peer is 127.0.0.1. */
#define ANY INT64_MIN

struct accepted {
	const char *what, *resp;
	size_t len;
	int64_t interval, min_interval, complete;
	size_t n_peers;
	uint16_t ports[4];
};

#define LIT(s) s, sizeof(s) - 1

static void expect_accepted(const struct accepted *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *w = c[i].what;

		cr_assert_eq(parse_raw(c[i].resp, c[i].len, 0, &res, &perr), 0, "%s: %s", w,
			     perr.msg);
		cr_assert_eq(res.status, ANNOUNCE_RESP_OK, "%s", w);
		cr_assert_eq(res.interval_s, c[i].interval, "%s", w);
		if (c[i].min_interval != ANY)
			cr_assert_eq(res.min_interval_s, c[i].min_interval, "%s", w);
		if (c[i].complete != ANY)
			cr_assert_eq(res.complete, c[i].complete, "%s", w);
		cr_assert_eq(res.n_peers, c[i].n_peers, "%s", w);
		for (size_t k = 0; k < c[i].n_peers; k++)
			expect_peer(k, ANNOUNCE_FAMILY_V4, "\x7f\0\0\x01", 4, c[i].ports[k]);
	}
}

/* As opentracker answers: HTTP/1.0, Content-Type, and its `downloaded`
 * key. The body: 62 + 20 + 15 ("5:peers6:" and 6 bytes) + 1 = 98 bytes. */
#define OT_SHAPE                                                         \
	"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"                \
	"Content-Length: 98\r\n\r\n"                                     \
	"d8:completei1e10:downloadedi0e10:incompletei0e8:intervali1762e" \
	"12:min intervali881e5:peers6:\x7f\x00\x00\x01\x1a\xe1"          \
	"e"

/* Captured from opentracker (Debian 12): four local peers,
 * 0x1b61 = 7009, 0x1b5c = 7004, 0x1b5b = 7003, 0x1b59 = 7001. */
#define OT_CAPTURE                                                                      \
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 117\r\n\r\n"    \
	"d8:completei4e10:downloadedi0e10:incompletei0e8:intervali1978e12:min interval" \
	"i989e5:peers24:\x7f\x00\x00\x01\x1b\x61\x7f\x00\x00\x01\x1b\x5c\x7f\x00\x00"   \
	"\x01\x1b\x5b\x7f\x00\x00\x01\x1b\x59"                                          \
	"e"

/* "d8:intervali60e" (15) + "5:peers6:" (9) + 6 bytes + "e": 31 = 0x1f,
 * sent as 0x10 + 0xf, with a chunk extension and a trailer */
#define CHUNKED_RESP                                            \
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n" \
	"10;name=val\r\nd8:intervali60e5\r\n"                   \
	"F\r\n:peers6:\x7f\x00\x00\x01\x00\x50"                 \
	"e\r\n"                                                 \
	"0\r\nX-Trailer: 1\r\n\r\n"

Test(announce_http_parse, accepted_answers)
{
	TU_TABLE(expect_accepted, struct accepted,
		 { "opentracker shape", LIT(OT_SHAPE), 1762, 881, 1, 1, { 6881 } },
		 { "captured", LIT(OT_CAPTURE), 1978, 989, 4, 4, { 7009, 7004, 7003, 7001 } },
		 { "chunked", LIT(CHUNKED_RESP), 60, ANY, ANY, 1, { 80 } });
}

/* keys sorted: "ip" < "peer id" < "port"; a host name (needs a resolver)
 * and port 0 are skipped, not fatal */
#define DICT_PEERS                                                          \
	"d8:intervali60e5:peersl"                                           \
	"d2:ip9:192.0.2.14:porti6881ee"                                     \
	"d2:ip11:2001:db8::17:peer id20:xxxxxxxxxxxxxxxxxxxx4:porti51413ee" \
	"d2:ip11:example.org4:porti1ee"                                     \
	"d2:ip8:10.0.0.14:porti0ee"                                         \
	"ee"

/* [2001:db8::1]:6881 then [::1]:443 */
#define PEERS6                                               \
	"d8:intervali1800e5:peers0:6:peers636:"              \
	"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe1" \
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x01\xbb"         \
	"e"

#define V6_DOC "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" /* 2001:db8::1 */

/* A body that gives two peers, and how many it skipped as invalid. */
struct two_peers {
	const char *what, *body;
	size_t len, invalid;
	enum announce_family fam[2];
	const char *addr[2];
	uint16_t port[2];
};

static void expect_two_peers(const struct two_peers *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(body_peers(c[i].body, c[i].len), 2, "%s", c[i].what);
		for (size_t k = 0; k < 2; k++)
			expect_peer(k, c[i].fam[k], c[i].addr[k],
				    c[i].fam[k] == ANNOUNCE_FAMILY_V4 ? 4 : 16, c[i].port[k]);
		cr_assert_eq(res.peers_invalid, c[i].invalid, "%s", c[i].what);
	}
}

Test(announce_http_parse, peer_lists)
{
	TU_TABLE(expect_two_peers, struct two_peers,
		 { "dict peers",
		   LIT(DICT_PEERS),
		   2,
		   { ANNOUNCE_FAMILY_V4, ANNOUNCE_FAMILY_V6 },
		   { "\xc0\x00\x02\x01", V6_DOC },
		   { 6881, 51413 } },
		 { "peers6",
		   LIT(PEERS6),
		   0,
		   { ANNOUNCE_FAMILY_V6, ANNOUNCE_FAMILY_V6 },
		   { V6_DOC, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" },
		   { 6881, 443 } });
}

Test(announce_http_parse, dict_peer_malformed)
{
	/* the entry at body byte 23 lacks a port */
	static const char body[] = "d8:intervali60e5:peersld2:ip9:192.0.2.1eee";

	cr_assert_eq(BODY(body), -EINVAL);
	cr_assert_eq(perr.offset, body_off + 23, "%llu", (unsigned long long)perr.offset);
	cr_assert(strstr(perr.msg, "peers[0] has no 'port'"), "%s", perr.msg);
	cr_assert_eq(BODY("d5:peersli1eee"), -EINVAL);
	cr_assert(strstr(perr.msg, "not a dictionary"), "%s", perr.msg);
}

Test(announce_http_parse, peers6_partial_entry)
{
	/* "d6:peers6" is 9 bytes: the value starts at body byte 9 */
	static const char body[] = "d6:peers617:xxxxxxxxxxxxxxxxxe";

	cr_assert_eq(BODY(body), -EINVAL);
	cr_assert_eq(perr.offset, body_off + 9);
	cr_assert(strstr(perr.msg, "17 bytes, not a multiple of 18"), "%s", perr.msg);
}

Test(announce_http_parse, failure_reason)
{
	static const char body[] = "d14:failure reason63:Requested download is not authorized for "
				   "use with this tracker.e";

	cr_assert_eq(BODY(body), 0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_FAILURE);
	cr_assert_str_eq(res.message, "Requested download is not authorized for use with this "
				      "tracker.");
	cr_assert_eq(res.message_cut, 0);
	cr_assert_eq(res.interval_s, -1);
	cr_assert_eq(res.n_peers, 0);
}

Test(announce_http_parse, failure_reason_sanitized_and_bounded)
{
	static char body[600];
	int n;

	cr_assert_eq(BODY("d14:failure reason7:a\nb\x1b[\xffze"), 0);
	cr_assert_str_eq(res.message, "a?b?[?z");
	/* trailing whitespace and NULs are dropped, leading ones kept */
	cr_assert_eq(BODY("d14:failure reason6: ok\r\n\0e"), 0);
	cr_assert_str_eq(res.message, " ok");
	/* 300 bytes of text: kept 256 */
	n = snprintf(body, sizeof(body), "d14:failure reason300:");
	memset(body + n, 'q', 300);
	body[n + 300] = 'e';
	cr_assert_eq(parse_body(body, (size_t)n + 301, &res, &body_off, &perr), 0, "%s", perr.msg);
	cr_assert_eq(strlen(res.message), ANNOUNCE_MSG_MAX);
	cr_assert_eq(res.message_cut, 1);
	/* a failure reason that is not a string is malformed */
	cr_assert_eq(BODY("d14:failure reasoni1ee"), -EINVAL);
}

Test(announce_http_parse, warning_message)
{
	/* "hello" and a BEL: 6 bytes; the BEL is shown as '?' */
	cr_assert_eq(BODY("d8:intervali900e5:peers0:15:warning message6:hello\x07"
			  "e"),
		     0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_OK);
	cr_assert_eq(res.has_warning, 1);
	cr_assert_str_eq(res.warning, "hello?");
}

Test(announce_http_parse, malformed_bencode)
{
	/* ends after 17 bytes, where a key or 'e' is due */
	cr_assert_eq(BODY("d8:intervali1800e"), -EINVAL);
	cr_assert(perr.has_offset);
	cr_assert_eq(perr.offset, body_off + 17, "%llu", (unsigned long long)perr.offset);
	cr_assert(strstr(perr.msg, "unexpected end of input"), "%s", perr.msg);
	/* unsorted keys: the strict parser refuses them, at "8:complete" (byte 26) */
	cr_assert_eq(BODY("d8:intervali1800e5:peers0:8:completei1ee"), -EINVAL);
	cr_assert_eq(perr.offset, body_off + 26, "%llu", (unsigned long long)perr.offset);
}

Test(announce_http_parse, truncated_compact_peers)
{
	/* "5:peers" ends at body byte 24, where the 7-byte value starts */

	cr_assert_eq(BODY("d8:intervali1800e5:peers7:ABCDEFGe"), -EINVAL);
	cr_assert_eq(perr.offset, body_off + 24, "%llu", (unsigned long long)perr.offset);
	cr_assert(strstr(perr.msg, "7 bytes, not a multiple of 6"), "%s", perr.msg);
}

Test(announce_http_parse, missing_interval)
{
	cr_assert_eq(BODY("d5:peers0:e"), 0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_OK);
	cr_assert_eq(res.interval_s, -1);
	cr_assert_eq(res.min_interval_s, -1);
	cr_assert_eq(res.complete, -1);
	/* no peers key at all is a valid (empty) answer for a seed */
	cr_assert_eq(BODY("de"), 0, "%s", perr.msg);
	cr_assert_eq(res.n_peers, 0);
}

Test(announce_http_parse, negative_or_mistyped_fields)
{
	/* the value starts at body byte 11 */
	cr_assert_eq(BODY("d8:intervali-5e5:peers0:e"), -EINVAL);
	cr_assert_eq(perr.offset, body_off + 11);
	cr_assert(strstr(perr.msg, "'interval' is negative"), "%s", perr.msg);
	cr_assert_eq(BODY("d8:interval4:1800e"), -EINVAL);
	cr_assert(strstr(perr.msg, "'interval' is not an integer"), "%s", perr.msg);
	cr_assert_eq(BODY("d10:incompletei-1ee"), -EINVAL);
	cr_assert_eq(BODY("d5:peersi3ee"), -EINVAL);
	cr_assert_eq(BODY("d6:peers6le"), -EINVAL);
	cr_assert_eq(BODY("li1ee"), -EINVAL);
	cr_assert(strstr(perr.msg, "not a dictionary"), "%s", perr.msg);
}

Test(announce_http_parse, empty_body)
{
	cr_assert_eq(parse_body("", 0, &res, &body_off, &perr), -EINVAL);
	cr_assert(strstr(perr.msg, "empty body"), "%s", perr.msg);
}

Test(announce_http_parse, huge_content_length)
{
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Length: 524289\r\n\r\nd", 0), -E2BIG);
	cr_assert_eq(
		PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0),
		-E2BIG);
	cr_assert(strstr(perr.msg, "Content-Length"), "%s", perr.msg);
}

Test(announce_http_parse, body_shorter_than_content_length)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nd5:peers0:e";

	cr_assert_eq(PARSE_RAW(resp, 0), -EAGAIN);
	cr_assert_eq(perr.code, 0, "-EAGAIN is no error");
	cr_assert_eq(PARSE_RAW(resp, 1), -EINVAL);
	cr_assert_eq(perr.offset, sizeof(resp) - 1);
	cr_assert(strstr(perr.msg, "body ends after 11 of 20 bytes"), "%s", perr.msg);
}

Test(announce_http_parse, non_200_status)
{
	cr_assert_eq(PARSE_RAW("HTTP/1.1 404 Not Found\r\n", 0), -EPROTO);
	cr_assert_eq(res.http_status, 404);
	cr_assert_str_eq(perr.msg, "tracker answered HTTP 404 Not Found");
	cr_assert_eq(PARSE_RAW("HTTP/1.0 503 \r\nContent-Length: 0\r\n\r\n", 1), -EPROTO);
	cr_assert_eq(res.http_status, 503);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 301\r\n", 0), -EPROTO);
}

Test(announce_http_parse, bad_status_lines)
{
	cr_assert_eq(PARSE_RAW("HTTP/2 200 OK\r\n\r\n", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 2000 OK\r\n\r\n", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 20x OK\r\n\r\n", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("d8:intervali1e\r\n", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("", 0), -EAGAIN);
}

Test(announce_http_parse, every_prefix_waits)
{
	uint8_t full[256];
	size_t total;

	mk200(full, sizeof(full), compact_body, sizeof(compact_body) - 1, &total);
	for (size_t n = 0; n < total; n++) {
		announce_resp_init(&res, peers, 16);
		seed_err_clear(&perr);
		cr_assert_eq(announce_http_parse(full, full + n, 0, &res, &perr), -EAGAIN,
			     "prefix %zu: %s", n, perr.msg);
	}
	cr_assert_eq(announce_http_parse(full, full + total, 0, &res, &perr), 0);
	cr_assert_eq(res.n_peers, 2);
	/* the parser keeps nothing between calls: the same struct parses again */
	cr_assert_eq(announce_http_parse(full, full + total, 1, &res, &perr), 0);
	cr_assert_eq(res.n_peers, 2);
}

Test(announce_http_parse, read_to_close_and_bare_lf)
{
	static const char resp[] = "HTTP/1.0 200 OK\nServer: x\n\nd8:intervali120ee";

	cr_assert_eq(PARSE_RAW(resp, 0), -EAGAIN);
	cr_assert_eq(PARSE_RAW(resp, 1), 0, "%s", perr.msg);
	cr_assert_eq(res.interval_s, 120);
}

Test(announce_http_parse, chunked_cut_short)
{
	static const char resp[] = CHUNKED_RESP;

	/* without the final empty line the body is not over yet */
	cr_assert_eq(parse_raw(resp, sizeof(resp) - 3, 0, &res, &perr), -EAGAIN);
	cr_assert_eq(parse_raw(resp, sizeof(resp) - 3, 1, &res, &perr), -EINVAL);
	cr_assert(strstr(perr.msg, "chunked body cut short"), "%s", perr.msg);
}

Test(announce_http_parse, chunked_malformed)
{
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0),
		     -EINVAL);
	cr_assert_eq(perr.offset, 47);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\ndeXX", 0),
		     -EINVAL);
	cr_assert(strstr(perr.msg, "not followed by CRLF"), "%s", perr.msg);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "FFFFFFFFFFFF\r\n",
			       0),
		     -E2BIG);
}

Test(announce_http_parse, unsupported_codings)
{
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", 1), -ENOTSUP);
	cr_assert(strstr(perr.msg, "'gzip'"), "%s", perr.msg);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 1),
		     -ENOTSUP);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n"
			       "Content-Length: 2\r\n\r\nde",
			       1),
		     0, "%s", perr.msg);
}

Test(announce_http_parse, framing_conflicts)
{
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			       "Content-Length: 2\r\n\r\nde",
			       1),
		     -EINVAL);
	cr_assert_eq(
		PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nde", 1),
		-EINVAL);
	cr_assert(strstr(perr.msg, "conflicting Content-Length"), "%s", perr.msg);
	/* the same value twice is one length (RFC 9110 §8.6) */
	cr_assert_eq(
		PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nde", 1),
		0, "%s", perr.msg);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nde", 1), -EINVAL);
}

Test(announce_http_parse, malformed_heads)
{
	/* obsolete folding: the continuation line starts at byte 28 */
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nServer: a\r\n b\r\n\r\nde", 1), -EINVAL);
	cr_assert_eq(perr.offset, 28);
	cr_assert(strstr(perr.msg, "folding"), "%s", perr.msg);
	/* a CR not followed by LF, at byte 25 */
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nServer: \rx\r\n\r\nde", 1), -EINVAL);
	cr_assert_eq(perr.offset, 25);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nNo colon\r\n\r\nde", 1), -EINVAL);
	cr_assert_eq(PARSE_RAW("HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\nde", 1), -EINVAL);
	cr_assert_eq(perr.offset, 21);
}

Test(announce_http_parse, head_too_large)
{
	static char big[ANNOUNCE_HTTP_HEAD_MAX + 64];
	size_t n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Pad: ");

	memset(big + n, 'a', sizeof(big) - n);
	cr_assert_eq(parse_raw(big, sizeof(big), 0, &res, &perr), -E2BIG);
	cr_assert(strstr(perr.msg, "head over"), "%s", perr.msg);
}

Test(announce_http_parse, peer_array_bounds)
{
	/* three peers, one with port 0; room for one */
	static const char body[] = "d5:peers18:"
				   "\x01\x02\x03\x04\x00\x01"
				   "\x05\x06\x07\x08\x00\x00"
				   "\x09\x0a\x0b\x0c\x00\x02"
				   "e";
	struct announce_peer one[1];
	size_t total;

	mk200(rbuf, sizeof(rbuf), body, sizeof(body) - 1, &total);
	announce_resp_init(&res, one, 1);
	cr_assert_eq(announce_http_parse(rbuf, rbuf + total, 0, &res, &perr), 0);
	cr_assert_eq(res.n_peers, 1);
	cr_assert_eq(one[0].port, 1);
	cr_assert_eq(res.peers_invalid, 1);
	cr_assert_eq(res.peers_dropped, 1);
	/* no array at all: everything counted as dropped */
	announce_resp_init(&res, NULL, 8);
	cr_assert_eq(announce_http_parse(rbuf, rbuf + total, 0, &res, &perr), 0);
	cr_assert_eq(res.n_peers, 0);
	cr_assert_eq(res.peers_dropped, 2);
}

/* ---- UDP ---- */

static const uint8_t connect_req_want[16] = { 0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80,
					      0x00, 0x00, 0x00, 0x00, 0xca, 0xfe, 0xba, 0xbe };

Test(announce_udp, connect_build)
{
	uint8_t out[16];

	cr_assert_eq(announce_udp_connect_build(0xcafebabe, out, sizeof(out)), 16);
	cr_assert_eq(memcmp(out, connect_req_want, 16), 0);
	cr_assert_eq(announce_udp_connect_build(1, out, 15), -ENOBUFS);
}

static int udp_conn(const uint8_t *p, size_t n, uint32_t tid, struct announce_resp *r,
		    struct seed_err *err)
{
	announce_resp_init(r, peers, 16);
	seed_err_clear(err);
	return announce_udp_connect_parse(p, p + n, tid, r, err);
}

static int udp_ann(const uint8_t *p, size_t n, uint32_t tid, enum announce_family fam,
		   struct announce_resp *r, struct seed_err *err)
{
	announce_resp_init(r, peers, 16);
	seed_err_clear(err);
	return announce_udp_announce_parse(p, p + n, tid, fam, r, err);
}

Test(announce_udp, connect_ok)
{
	static const uint8_t reply[] = {
		0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3, 4, 5, 6, 7, 8
	};

	cr_assert_eq(udp_conn(reply, sizeof(reply), 0xcafebabe, &res, &perr), 0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_OK);
	cr_assert_eq(res.conn_id, 0x0102030405060708ULL);
}

Test(announce_udp, connect_tid_mismatch)
{
	static const uint8_t reply[] = {
		0, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8
	};

	cr_assert_eq(udp_conn(reply, sizeof(reply), 0xcafebabe, &res, &perr), -ENOMSG);
	cr_assert_eq(perr.offset, 4);
	cr_assert(strstr(perr.msg, "0xcafebabf, expected 0xcafebabe"), "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_NONE);
}

Test(announce_udp, connect_short_and_wrong_action)
{
	static const uint8_t reply[] = { 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t wrong[] = { 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8 };

	cr_assert_eq(udp_conn(reply, 15, 9, &res, &perr), -EINVAL);
	cr_assert_eq(perr.offset, 15);
	cr_assert_eq(udp_conn(reply, 7, 9, &res, &perr), -EINVAL);
	cr_assert(strstr(perr.msg, "7 bytes, shorter than 8"), "%s", perr.msg);
	cr_assert_eq(udp_conn(reply, 0, 9, &res, &perr), -EINVAL);
	cr_assert_eq(udp_conn(wrong, sizeof(wrong), 9, &res, &perr), -EINVAL);
	cr_assert(strstr(perr.msg, "action 1, expected 0"), "%s", perr.msg);
	/* trailing bytes after the 16 are ignored */
	cr_assert_eq(udp_conn(reply, 16, 9, &res, &perr), 0);
}

Test(announce_udp, error_action)
{
	static const uint8_t reply[] = { 0, 0, 0, 3, 0, 0, 0, 9, 'b', 'a', 'd', '\n', 'x', '\n' };

	cr_assert_eq(udp_conn(reply, sizeof(reply), 9, &res, &perr), 0);
	cr_assert_eq(res.status, ANNOUNCE_RESP_FAILURE);
	cr_assert_str_eq(res.message, "bad?x");
	cr_assert_eq(udp_ann(reply, sizeof(reply), 9, ANNOUNCE_FAMILY_V4, &res, &perr), 0);
	cr_assert_eq(res.status, ANNOUNCE_RESP_FAILURE);
	cr_assert_str_eq(res.message, "bad?x");
	/* an error with no text at all */
	cr_assert_eq(udp_ann(reply, 8, 9, ANNOUNCE_FAMILY_V4, &res, &perr), 0);
	cr_assert_str_eq(res.message, "");
	cr_assert_eq(udp_ann(reply, 8, 10, ANNOUNCE_FAMILY_V4, &res, &perr), -ENOMSG);
}

/* Captured from opentracker (Debian 12) answering an unknown connection id. */
Test(announce_udp, opentracker_error_text)
{
	static const uint8_t reply[] = "\0\0\0\x03\0\0\0\x99"
				       "Connection ID missmatch.";

	/* sizeof counts the literal's NUL, which opentracker sends too */
	cr_assert_eq(udp_ann(reply, sizeof(reply), 0x99, ANNOUNCE_FAMILY_V4, &res, &perr), 0);
	cr_assert_eq(res.status, ANNOUNCE_RESP_FAILURE);
	cr_assert_str_eq(res.message, "Connection ID missmatch.");
	cr_assert_eq(res.message_cut, 0);
}

Test(announce_udp, conn_id_lifetime)
{
	cr_assert_eq(announce_udp_conn_valid(1000, 1000), 1);
	cr_assert_eq(announce_udp_conn_valid(1000, 60999), 1);
	cr_assert_eq(announce_udp_conn_valid(1000, 61000), 0);
	cr_assert_eq(announce_udp_conn_valid(1000, 999), 0);
	cr_assert_eq(announce_udp_conn_valid(UINT64_MAX - 5, UINT64_MAX), 1);
}

Test(announce_udp, announce_build_exact)
{
	struct announce_req r;
	struct seed_err err;
	uint8_t out[ANNOUNCE_UDP_ANNOUNCE_LEN];
	uint8_t want[98] = {
		/* connection id */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		/* action 1, tid */
		0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe,
		/* 16: info_hash, 36: peer_id (filled below) */
	};

	memcpy(want + 16, tricky_ih, 20);
	memcpy(want + 36, PEER_ID, 20);
	/* 56 downloaded = 0x0102, 64 left = 0, 72 uploaded = 1234 = 0x04d2 */
	want[62] = 0x01;
	want[63] = 0x02;
	want[78] = 0x04;
	want[79] = 0xd2;
	/* 80 event started = 2, 84 ip 0, 88 key, 92 num_want 50, 96 port 6881 */
	want[83] = 2;
	memcpy(want + 88, "\xde\xad\xbe\xef", 4);
	want[95] = 50;
	want[96] = 0x1a;
	want[97] = 0xe1;

	base_req(&r);
	r.downloaded = 0x0102;
	cr_assert_eq(announce_udp_announce_build(0x1122334455667788ULL, 0xcafebabe, &r, out,
						 sizeof(out), &err),
		     98);
	cr_assert_eq(memcmp(out, want, 98), 0);
}

Test(announce_udp, announce_build_defaults_and_errors)
{
	struct announce_req r;
	struct seed_err err;
	uint8_t out[ANNOUNCE_UDP_ANNOUNCE_LEN];

	base_req(&r);
	r.numwant = -1;
	r.event = ANNOUNCE_EVENT_STOPPED;
	cr_assert_eq(announce_udp_announce_build(1, 2, &r, out, sizeof(out), &err), 98);
	cr_assert_eq(memcmp(out + 92, "\xff\xff\xff\xff", 4), 0);
	cr_assert_eq(memcmp(out + 80, "\0\0\0\x03", 4), 0);
	cr_assert_eq(announce_udp_announce_build(1, 2, &r, out, 97, &err), -ENOBUFS);
	r.event = (enum announce_event)4;
	cr_assert_eq(announce_udp_announce_build(1, 2, &r, out, sizeof(out), &err), -EINVAL);
	base_req(&r);
	r.port = 0;
	cr_assert_eq(announce_udp_announce_build(1, 2, &r, out, sizeof(out), &err), -EINVAL);
}

/* action 1, tid 7, interval 1800 (0x708), leechers 2, seeders 5 */
#define ANN_HEAD "\0\0\0\x01\0\0\0\x07\0\0\x07\x08\0\0\0\x02\0\0\0\x05"

Test(announce_udp, announce_zero_peers)
{
	static const uint8_t reply[] = ANN_HEAD;

	cr_assert_eq(udp_ann(reply, 20, 7, ANNOUNCE_FAMILY_V4, &res, &perr), 0, "%s", perr.msg);
	cr_assert_eq(res.status, ANNOUNCE_RESP_OK);
	cr_assert_eq(res.interval_s, 1800);
	cr_assert_eq(res.min_interval_s, -1);
	cr_assert_eq(res.incomplete, 2);
	cr_assert_eq(res.complete, 5);
	cr_assert_eq(res.n_peers, 0);
}

Test(announce_udp, announce_one_peer_v4)
{
	static const uint8_t reply[] = ANN_HEAD "\xc0\x00\x02\x01\x1a\xe1";

	cr_assert_eq(udp_ann(reply, 26, 7, ANNOUNCE_FAMILY_V4, &res, &perr), 0, "%s", perr.msg);
	cr_assert_eq(res.n_peers, 1);
	PEER(0, V4, "\xc0\x00\x02\x01", 6881);
}

Test(announce_udp, announce_n_peers_v4_and_v6)
{
	/* 36 bytes of peers: six IPv4 entries, or two IPv6 entries */
	static const uint8_t reply[] = ANN_HEAD "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01\x1a\xe1"
						"\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x02\x00\x50";

	cr_assert_eq(udp_ann(reply, 56, 7, ANNOUNCE_FAMILY_V6, &res, &perr), 0, "%s", perr.msg);
	cr_assert_eq(res.n_peers, 2);
	PEER(0, V6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 6881);
	PEER(1, V6, "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x02", 80);
	cr_assert_eq(udp_ann(reply, 56, 7, ANNOUNCE_FAMILY_V4, &res, &perr), 0, "%s", perr.msg);
	/*
	 * As six 6-byte entries: 32.1.13.184:0, 0.0.0.0:0, 0.0.0.1:6881,
	 * 254.128.0.0:0, 0.0.0.0:0, 0.0.0.2:80. Port 0 is skipped.
	 */
	cr_assert_eq(res.n_peers, 2);
	cr_assert_eq(res.peers_invalid, 4);
	PEER(0, V4, "\0\0\0\x01", 6881);
	PEER(1, V4, "\0\0\0\x02", 80);
	cr_assert_eq(udp_ann(reply, 56, 7, (enum announce_family)5, &res, &perr), -EINVAL);
}

Test(announce_udp, announce_trailing_partial_entry)
{
	static const uint8_t reply[] = ANN_HEAD "\xc0\x00\x02\x01\x1a\xe1\x01\x02\x03\x04\x05\x06"
						"\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12";

	/* v4: 7 bytes of peers = one entry + 1; the partial entry starts at 26 */
	cr_assert_eq(udp_ann(reply, 27, 7, ANNOUNCE_FAMILY_V4, &res, &perr), -EINVAL);
	cr_assert_eq(perr.offset, 26);
	cr_assert(strstr(perr.msg, "partial peer entry (1 of 6 bytes)"), "%s", perr.msg);
	/* v6: 24 bytes = one entry + 6; the partial one starts at 38 */
	cr_assert_eq(udp_ann(reply, 44, 7, ANNOUNCE_FAMILY_V6, &res, &perr), -EINVAL);
	cr_assert_eq(perr.offset, 38);
	cr_assert_eq(res.n_peers, 0, "no peers from a rejected reply");
}

Test(announce_udp, announce_malformed)
{
	static const uint8_t reply[] = ANN_HEAD;
	static const uint8_t conn[] = "\0\0\0\0\0\0\0\x07\0\0\x07\x08\0\0\0\x02\0\0\0\x05";
	static const uint8_t neg[] = "\0\0\0\x01\0\0\0\x07\xff\xff\xff\xff\0\0\0\x02\0\0\0\x05";

	cr_assert_eq(udp_ann(reply, 19, 7, ANNOUNCE_FAMILY_V4, &res, &perr), -EINVAL);
	cr_assert_eq(perr.offset, 19);
	cr_assert_eq(udp_ann(reply, 20, 8, ANNOUNCE_FAMILY_V4, &res, &perr), -ENOMSG);
	cr_assert_eq(udp_ann(conn, 20, 7, ANNOUNCE_FAMILY_V4, &res, &perr), -EINVAL);
	cr_assert(strstr(perr.msg, "action 0, expected 1"), "%s", perr.msg);
	cr_assert_eq(udp_ann(neg, 20, 7, ANNOUNCE_FAMILY_V4, &res, &perr), -EINVAL);
	cr_assert_eq(perr.offset, 8);
}

Test(announce_udp, retransmit_timeouts)
{
	cr_assert_eq(announce_udp_rto_ms(0), 15000);
	cr_assert_eq(announce_udp_rto_ms(1), 30000);
	cr_assert_eq(announce_udp_rto_ms(2), 60000);
	cr_assert_eq(announce_udp_rto_ms(3), 60000);
	cr_assert_eq(announce_udp_rto_ms(4000000000u), 60000);
}
