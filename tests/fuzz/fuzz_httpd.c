/*
 * fuzz_httpd: libFuzzer target for control/httpd.c, driven as seed-control
 * drives it: feed, take requests, answer each, drain the output.
 *
 * Input: three control bytes, then the request stream of one connection.
 *   byte 0: bit 0 small config (1 KiB head, 64-byte bodies, 4 KiB output);
 *           bit 1 no 100-continue; bits 2-3 time mode (0 frozen, 1 +0..255
 *           ms per chunk, 2 +0..4 s, 3 +0..65 s); bit 4 drain the output
 *           only now and then (exercises the pipelining backpressure)
 *   byte 1: seed of the chunk sizes (1..64 bytes, or all the rest)
 *   byte 2: seed of the answers (echo, 204, error, 405 with Allow, close)
 *
 * Properties checked (a violation aborts):
 *  - feed takes at most what it is offered and, while no request is in
 *    hand and the connection is open, all of it or up to the buffer bound;
 *  - a request has a method of the enum, a path starting with '/', NUL-
 *    terminated strings of the stated lengths, header names that are
 *    tokens and that the lookup finds, a body within cfg.max_body; a second
 *    next() before the answer is -EBUSY;
 *  - an error outcome has a status of the table with its errno, sets
 *    wants_close, and nothing is parsed after it;
 *  - the output is a sequence of responses matching the answers given, in
 *    order: status line, Content-Length equal to the body (absent for 204),
 *    Connection: close exactly on closing answers, then exactly the body
 *    (none for HEAD), with at most one "100 Continue" before a response;
 *  - httpd_conn_timed_out agrees with httpd_conn_deadline.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_httpd: %s\n", what);
		abort();
	}
}

static const uint8_t *find(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s));
}

/* ---- the output checker ---- */

#define QMAX 4096 /* answers awaiting their bytes */

struct answer {
	unsigned status;
	uint8_t head_only, no_body, closing;
	uint8_t any_len; /* Content-Length not known to the harness */
	size_t body_len;
};

struct chk {
	struct answer q[QMAX];
	size_t qh, qn;
	uint8_t head[2048];
	size_t hn;
	uint64_t body_left; /* body bytes of the response in progress */
	int in_body, saw_continue;
};

static void push(struct chk *k, const struct answer *a)
{
	check(k->qn < QMAX, "answer queue full");
	k->q[(k->qh + k->qn) % QMAX] = *a;
	k->qn++;
}

/* The decimal at *p, which moves past it (lib/http1 has its own tests). */
static uint64_t num(const uint8_t **p, const uint8_t *end)
{
	uint64_t v;
	size_t n = http1_scan_u64(*p, end, &v);

	check(n && v != UINT64_MAX, "no number, or an overflowing one, in a head");
	*p += n;
	return v;
}

static void on_head(struct chk *k)
{
	const uint8_t *p = k->head, *end = k->head + k->hn, *q;
	struct answer a;
	unsigned st;

	check(k->hn > 13 && !memcmp(p, "HTTP/1.1 ", 9), "head without a status line");
	q = p + 9;
	st = (unsigned)num(&q, end);
	if (st == 100) {
		check(k->hn == strlen("HTTP/1.1 100 Continue\r\n\r\n"), "100 with fields");
		check(!k->saw_continue, "two 100 Continue");
		k->saw_continue = 1;
		return;
	}
	check(k->qn > 0, "a response nobody asked for");
	a = k->q[k->qh];
	k->qh = (k->qh + 1) % QMAX;
	k->qn--;
	k->saw_continue = 0;
	check(st == a.status, "status differs from the answer");
	q = find(p, k->hn, "\r\nContent-Length: ");
	if (a.no_body) {
		check(q == NULL, "Content-Length on a 204");
		k->body_left = 0;
	} else {
		check(q != NULL, "no Content-Length");
		check(!find(q + 2, (size_t)(end - q - 2), "\r\nContent-Length: "),
		      "two Content-Length");
		q += 18;
		check(num(&q, end) == a.body_len || a.any_len,
		      "Content-Length differs from the body");
		k->body_left = a.head_only ? 0 : a.body_len;
	}
	check(!find(p, k->hn, "\r\nConnection: close\r\n") == !a.closing,
	      "Connection: close disagrees with the answer");
	k->in_body = k->body_left > 0;
}

/* Output bytes as they go out. */
static void on_out(struct chk *k, const uint8_t *p, size_t n)
{
	while (n) {
		if (k->in_body) {
			size_t t = n < k->body_left ? n : (size_t)k->body_left;

			k->body_left -= t;
			p += t;
			n -= t;
			k->in_body = k->body_left > 0;
			continue;
		}
		check(k->hn < sizeof(k->head), "response head too long");
		k->head[k->hn++] = *p++;
		n--;
		if (k->hn >= 4 && !memcmp(k->head + k->hn - 4, "\r\n\r\n", 4)) {
			on_head(k);
			k->hn = 0;
		}
	}
}

/* ---- the driver ---- */

struct run {
	struct httpd_conn c;
	struct httpd_config cfg;
	struct chk k;
	uint32_t cx, ax; /* chunk and answer seeds */
	uint64_t now;
	int ended;
};

static uint32_t xs(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Writes up to max bytes of output (all with max SIZE_MAX). */
static void drain(struct run *r, size_t max)
{
	const uint8_t *p;
	size_t n;

	httpd_conn_output(&r->c, &p, &n);
	if (n > max)
		n = max;
	if (!n)
		return;
	on_out(&r->k, p, n);
	check(httpd_conn_sent(&r->c, n, r->now) == 0, "sent refused");
}

static void check_request(const struct run *r, const struct httpd_request *q)
{
	check(q->method <= HTTPD_DELETE, "method outside the enum");
	check(q->version_minor <= 1, "version");
	check(q->path && q->path[0] == '/' && strlen(q->path) == q->path_len, "path");
	check(q->path_len <= HTTPD_MAX_TARGET, "path too long");
	check(!q->query || strlen(q->query) == q->query_len, "query");
	check(q->body != NULL && q->body_len <= r->cfg.max_body, "body");
	check(q->n_headers <= HTTPD_MAX_HEADERS, "header count");
	for (size_t i = 0; i < q->n_headers; i++) {
		const struct httpd_header *h = &q->headers[i];

		check(h->name_len > 0 && strlen(h->name) == h->name_len, "header name");
		check(strlen(h->value) == h->value_len, "header value");
		for (size_t j = 0; j < h->name_len; j++)
			check(http1_is_tchar((uint8_t)h->name[j]), "header name byte");
		check(httpd_request_header(q, h->name, NULL) != NULL, "lookup misses a header");
	}
}

/* The error outcomes as httpd.h's table lists them: status and errno. */
static const struct {
	unsigned status;
	int err;
} outcomes[] = {
	{ 400, -EBADMSG }, { 411, -EOPNOTSUPP }, { 413, -EMSGSIZE },	    { 414, -ENAMETOOLONG },
	{ 431, -E2BIG },   { 501, -ENOSYS },	 { 505, -EPROTONOSUPPORT },
};

static int errno_of(unsigned st)
{
	for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (outcomes[i].status == st)
			return outcomes[i].err;
	return 1;
}

/* One answer of kind pick to q; fills a with what the output must hold. */
static int respond_kind(struct run *r, const struct httpd_request *q, uint32_t pick,
			struct answer *a)
{
	const uint8_t *p, *eoh;
	size_t before, after;
	int res;

	memset(a, 0, sizeof(*a));
	a->head_only = q->method == HTTPD_HEAD;
	switch (pick) {
	case 1:
		a->status = 204;
		a->no_body = 1;
		return httpd_respond(&r->c, 204, NULL, NULL, 0, NULL);
	case 2:
		/* the request's path comes back JSON-escaped, sized by the
		 * engine: read its length off the output */
		a->status = 404;
		httpd_conn_output(&r->c, &p, &before);
		res = httpd_respond_error(&r->c, 404, q->path, NULL);
		if (res)
			return res;
		httpd_conn_output(&r->c, &p, &after);
		eoh = find(p + before, after - before, "\r\n\r\n");
		check(eoh != NULL, "error head");
		a->body_len = after - (size_t)(eoh + 4 - p);
		a->any_len = a->head_only;
		return 0;
	case 3:
		a->status = 405;
		a->body_len = 2;
		return httpd_respond(&r->c, 405, "application/json", "{}", 2,
				     "Allow: GET, HEAD\r\n");
	default:
		a->status = 200;
		a->body_len = q->body_len ? q->body_len : q->path_len;
		return httpd_respond(&r->c, 200, "application/json",
				     q->body_len ? (const void *)q->body : (const void *)q->path,
				     a->body_len, NULL);
	}
}

/* Answers like a route handler would; records what the output must hold. */
static void answer(struct run *r, const struct httpd_request *q)
{
	struct answer a;
	uint32_t pick = xs(&r->ax) % 8;
	int closing = !q->keep_alive, res;

	if (pick == 4) {
		httpd_conn_set_close(&r->c);
		closing = 1;
	}
	res = respond_kind(r, q, pick, &a);
	if (res == -ENOSPC) {
		/* the caller writes what is pending and tries again */
		drain(r, SIZE_MAX);
		res = respond_kind(r, q, pick, &a);
	}
	if (res == -ENOSPC) {
		memset(&a, 0, sizeof(a));
		a.status = 500;
		a.head_only = q->method == HTTPD_HEAD;
		a.body_len = strlen("{\"error\":\"too large\"}");
		res = httpd_respond_error(&r->c, 500, "too large", NULL);
	}
	check(res == 0, "an answer was refused");
	a.closing = (uint8_t)closing;
	push(&r->k, &a);
}

static void serve(struct run *r)
{
	for (int spins = 0;; spins++) {
		struct httpd_request q;
		int n;

		check(spins < 100000, "no end to the requests");
		n = httpd_conn_next(&r->c, &q);
		if (n == 0)
			return;
		if (n == 1) {
			check_request(r, &q);
			check(httpd_conn_next(&r->c, &q) == -EBUSY, "next before the answer");
			answer(r, &q);
			continue;
		}
		if (n == -EPIPE) {
			check(httpd_conn_wants_close(&r->c), "EPIPE without close");
			return;
		}
		{
			const char *msg;
			unsigned st = httpd_conn_error(&r->c, &msg);
			struct answer a;
			int res;

			check(errno_of(st) == n, "error outcome and status disagree");
			check(msg && *msg, "error without a message");
			check(httpd_conn_wants_close(&r->c), "error outcome without close");
			check(httpd_conn_next(&r->c, &q) == n, "error outcome not repeated");
			memset(&a, 0, sizeof(a));
			a.status = st;
			a.closing = 1;
			a.body_len = strlen("{\"error\":\"\"}") + strlen(msg);
			res = httpd_respond_error(&r->c, st, msg, NULL);
			if (res == -ENOSPC) {
				/* as for any answer: write what is pending, retry;
				 * an error answer fits in an empty buffer */
				drain(r, SIZE_MAX);
				res = httpd_respond_error(&r->c, st, msg, NULL);
			}
			check(res == 0, "error answer refused");
			push(&r->k, &a);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run r; /* large: the answer queue */
	size_t off = 3;
	unsigned tmode;
	int lazy;

	if (size < 3)
		return 0;
	memset(&r, 0, sizeof(r));
	httpd_config_default(&r.cfg);
	if (data[0] & 1) {
		r.cfg.max_head = HTTPD_MIN_HEAD;
		r.cfg.max_body = 64;
		r.cfg.max_output = HTTPD_MIN_OUTPUT;
	}
	r.cfg.send_continue = !(data[0] & 2);
	tmode = (data[0] >> 2) & 3;
	lazy = (data[0] >> 4) & 1;
	r.cx = 0x9e3779b9u ^ data[1];
	r.ax = 0x85ebca6bu ^ data[2];
	r.now = 1000;
	check(httpd_conn_init(&r.c, &r.cfg, r.now) == 0, "conn init");

	while (off < size && !r.ended) {
		uint32_t x = xs(&r.cx);
		size_t chunk = (x & 7) == 0 ? size - off : 1 + (x >> 8) % 64, end;

		end = size - off < chunk ? size : off + chunk;
		for (int spins = 0; off < end; spins++) {
			ssize_t n = httpd_conn_feed(&r.c, data + off, end - off, r.now);

			check(n >= 0 && (size_t)n <= end - off, "feed count");
			check(spins < 100000, "no end to a chunk");
			off += (size_t)n;
			serve(&r);
			if (!lazy || (x & 0x100))
				drain(&r, 1 + (x >> 12) % 100000);
			if (n == 0) {
				/* a request is held by backpressure or in hand: the
				 * caller writes and answers, then offers the rest */
				drain(&r, SIZE_MAX);
				serve(&r);
			}
		}
		switch (tmode) {
		case 1: r.now += (x >> 3) & 255; break;
		case 2: r.now += (x >> 3) % 4096; break;
		case 3: r.now += (x >> 3) % 65536; break;
		}
		{
			uint64_t d = httpd_conn_deadline(&r.c);
			int t = httpd_conn_timed_out(&r.c, r.now);

			check(t == (d != HTTPD_NO_DEADLINE && r.now >= d), "timed_out vs deadline");
			if (t)
				r.ended = 1; /* the caller closes */
		}
		if (httpd_conn_wants_close(&r.c)) {
			drain(&r, SIZE_MAX);
			r.ended = 1;
		}
	}
	if (!r.ended) {
		for (int spins = 0; spins < 100000; spins++) {
			const uint8_t *p;
			size_t n;

			drain(&r, SIZE_MAX);
			serve(&r);
			httpd_conn_output(&r.c, &p, &n);
			if (!n)
				break;
		}
		check(r.k.qn == 0, "answers never written");
		check(!r.k.in_body && r.k.hn == 0, "output ends inside a response");
		/* nothing pending: an hour of silence times out unless an
		 * answer is owed (never here) */
		check(httpd_conn_wants_close(&r.c) ||
			      httpd_conn_timed_out(&r.c, r.now + 3600u * 1000u),
		      "an idle hour did not time out");
	}
	httpd_conn_free(&r.c);
	return 0;
}
