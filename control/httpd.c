/*
 * httpd: see httpd.h for the contract (requests accepted, error outcomes,
 * responses, timeouts, memory).
 *
 * Structure. A connection is in one of four states:
 *   READ   collecting the next request (head, then body);
 *   REQ    a request is handed out and waits for its answer;
 *   ERROR  an error outcome is handed out and waits for its answer;
 *   CLOSE  no request will follow: input is dropped, the caller flushes
 *          the output and closes.
 * The current request always starts at in[0]: answering it drops its bytes
 * and moves what was pipelined behind it to the front. The head scanner
 * works incrementally (c->scan remembers how far it got), so a head that
 * arrives a byte at a time costs O(n), and it refuses bare CR/LF, control
 * bytes, an over-long method or target and an over-long head as soon as
 * they arrive rather than at the head's end. Once the head is whole it is
 * parsed in place: NULs are written over the SP after the target, the '?',
 * each ':' and the byte after each value, so every string handed out is
 * NUL-terminated without a copy.
 *
 * Invariants:
 *  - borrowed pointers exist only in state REQ, and the input buffer never
 *    moves in REQ (feed copies into free space only), so they stay valid
 *    until the answer; in READ the head is kept as offsets and the buffer
 *    may grow;
 *  - in_len <= cfg.max_head + cfg.max_body, which holds any one request;
 *  - out_len - out_off (unsent) <= cfg.max_output; a response is appended
 *    whole or not at all;
 *  - responses leave in request order, one per request (plus at most one
 *    interim 100 before it).
 */
#include "httpd.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { ST_READ, ST_REQ, ST_ERROR, ST_CLOSE };

#define METHOD_MAX 16 /* a longer method token cannot be one we serve */

struct status_info {
	uint16_t code;
	const char *reason;
};

static const struct status_info statuses[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
};

/* RFC 9110 §15 lets a client ignore the phrase; an unlisted code gets its
 * class name. */
static const char *status_reason(unsigned code)
{
	static const char *const cls[] = { "Informational", "Success", "Redirection",
					   "Client Error", "Server Error" };

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].code == code)
			return statuses[i].reason;
	return code >= 100 && code <= 599 ? cls[code / 100 - 1] : "Unknown";
}

struct method_info {
	const char *name;
	enum httpd_method m;
};

static const struct method_info methods[] = {
	{ "GET", HTTPD_GET }, { "HEAD", HTTPD_HEAD },	{ "POST", HTTPD_POST },
	{ "PUT", HTTPD_PUT }, { "PATCH", HTTPD_PATCH }, { "DELETE", HTTPD_DELETE },
};

const char *httpd_method_name(enum httpd_method m)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (methods[i].m == m)
			return methods[i].name;
	return "?";
}

/* ---- byte helpers ---- */

static int is_tchar(uint8_t b)
{
	if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9'))
		return 1;
	return b && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

static int is_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

static int is_ows(uint8_t b)
{
	return b == ' ' || b == '\t';
}

/* A byte allowed in a field value: HTAB, SP, VCHAR, obs-text. */
static int is_vbyte(uint8_t b)
{
	return b == '\t' || (b >= 0x20 && b != 0x7f);
}

static uint8_t lower(uint8_t b)
{
	return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
}

/* s[0..n) equals the lower-case literal lit, ignoring ASCII case. */
static int ci_eq(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	if (n != l)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != (uint8_t)lit[i])
			return 0;
	return 1;
}

static int ci_prefix(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && ci_eq(s, l, lit);
}

static int hexval(uint8_t b)
{
	if (is_digit(b))
		return b - '0';
	b = lower(b);
	if (b >= 'a' && b <= 'f')
		return b - 'a' + 10;
	return -1;
}

/* The comma-separated list v[0..n) has an element equal to tok (any
 * case), OWS around elements ignored (RFC 9110 §5.6.1). */
static int list_has(const uint8_t *v, size_t n, const char *tok)
{
	size_t i = 0;

	while (i < n) {
		size_t a, b;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		a = i;
		while (i < n && v[i] != ',')
			i++;
		b = i;
		while (b > a && is_ows(v[b - 1]))
			b--;
		if (b > a && ci_eq(v + a, b - a, tok))
			return 1;
	}
	return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static size_t unsent(const struct httpd_conn *c)
{
	return c->out_len - c->out_off;
}

static void touch(struct httpd_conn *c, uint64_t now)
{
	/* A clock that steps back must not stretch a timeout. */
	if (now > c->now)
		c->now = now;
}

/* ---- buffers ---- */

static size_t in_limit(const struct httpd_conn *c)
{
	return (size_t)c->cfg.max_head + c->cfg.max_body;
}

/* Grows the input buffer to hold need bytes (need <= in_limit). */
static int in_grow(struct httpd_conn *c, size_t need)
{
	size_t cap = c->in_cap ? c->in_cap : HTTPD_IN_INITIAL;
	uint8_t *p;

	if (need <= c->in_cap)
		return 0;
	while (cap < need)
		cap *= 2; /* need <= 65 MiB: no overflow */
	if (cap > in_limit(c))
		cap = in_limit(c);
	p = realloc(c->in, cap);
	if (!p)
		return -ENOMEM;
	c->in = p;
	c->in_cap = cap;
	return 0;
}

/* A connection that once took a large body need not keep its buffer. */
static void in_shrink(struct httpd_conn *c)
{
	uint8_t *p;

	if (c->in_cap <= HTTPD_IN_INITIAL || c->in_len > HTTPD_IN_INITIAL)
		return;
	p = realloc(c->in, HTTPD_IN_INITIAL);
	if (p) {
		c->in = p;
		c->in_cap = HTTPD_IN_INITIAL;
	}
}

/* Room for n more output bytes, all-or-nothing. */
static int out_reserve(struct httpd_conn *c, size_t n)
{
	size_t pend = unsent(c), cap;
	uint8_t *p;

	if (n > c->cfg.max_output - pend)
		return -ENOSPC;
	if (c->out_cap - c->out_len >= n)
		return 0;
	if (c->out_off) {
		memmove(c->out, c->out + c->out_off, pend);
		c->out_off = 0;
		c->out_len = pend;
		if (c->out_cap - c->out_len >= n)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap < pend + n)
		cap = cap > c->cfg.max_output / 2 ? c->cfg.max_output : cap * 2;
	if (cap > c->cfg.max_output)
		cap = c->cfg.max_output;
	p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/* Bytes were appended: output that was empty starts its progress timer. */
static void out_appended(struct httpd_conn *c, size_t pend_before)
{
	if (!pend_before)
		c->out_since = c->now;
}

/* ---- output formatting: bounded appenders, no sprintf ---- */

/* With p NULL the writer only counts, so a response is sized first and
 * then written into exactly the room reserved for it. */
struct wbuf {
	uint8_t *p;
	size_t n;
};

static void w_mem(struct wbuf *w, const void *s, size_t len)
{
	if (w->p)
		memcpy(w->p + w->n, s, len);
	w->n += len;
}

static void w_str(struct wbuf *w, const char *s)
{
	w_mem(w, s, strlen(s));
}

static void w_u64(struct wbuf *w, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	w_mem(w, d + sizeof(d) - n, n);
}

/* ---- error outcomes ---- */

static int status_errno(unsigned status)
{
	switch (status) {
	case 411: return -EOPNOTSUPP;
	case 413: return -EMSGSIZE;
	case 414: return -ENAMETOOLONG;
	case 431: return -E2BIG;
	case 501: return -ENOSYS;
	case 505: return -EPROTONOSUPPORT;
	default: return -EBADMSG;
	}
}

/* The request is refused: nothing more is parsed and the input is dropped
 * (its framing can no longer be trusted). */
static int fail(struct httpd_conn *c, unsigned status, const char *msg)
{
	c->state = ST_ERROR;
	c->err = status_errno(status);
	c->err_status = (uint16_t)status;
	c->err_msg = msg;
	c->in_len = 0;
	c->head_done = 0;
	c->stats.http_request_errors_total++;
	return c->err;
}

/* ---- the head scanner ---- */

/*
 * Looks for the end of the head in in[scan..), checking bytes as they
 * arrive. 1: head_end is set; 0: need more; <0: error outcome.
 */
static int scan_head(struct httpd_conn *c)
{
	const uint8_t *p = c->in;
	size_t lim = c->in_len < c->cfg.max_head ? c->in_len : c->cfg.max_head;
	size_t i;

	for (i = c->scan; i < lim; i++) {
		uint8_t b = p[i];

		if (b == '\r') {
			if (i + 1 >= lim)
				break; /* decide when the next byte is here */
			if (p[i + 1] != '\n')
				return fail(c, 400, "bare CR in the request head");
			continue;
		}
		if (b == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				return fail(c, 400, "bare LF in the request head");
			if (i - 1 == c->line_start) {
				if (!c->rl_end) {
					/* empty line before the request line (RFC 9112 §2.2) */
					c->head_start = c->line_start = i + 1;
					continue;
				}
				c->head_end = i + 1;
				c->scan = i + 1;
				return 1;
			}
			if (!c->rl_end)
				c->rl_end = i - 1;
			else if (++c->n_lines > HTTPD_MAX_HEADERS)
				return fail(c, 431, "too many header fields");
			c->line_start = i + 1;
			continue;
		}
		if ((b < 0x20 && b != '\t') || b == 0x7f)
			return fail(c, 400, "control byte in the request head");
		if (c->rl_end)
			continue;
		if (b == ' ') {
			if (!c->sp1)
				c->sp1 = i + 1;
			else if (!c->sp2)
				c->sp2 = i + 1;
		} else if (!c->sp1 && !is_tchar(b)) {
			return fail(c, 400, "malformed method");
		}
	}
	c->scan = i;
	if (!c->rl_end) {
		/* Refuse an oversized request line early: no need to buffer the
		 * rest of it to know the answer. */
		if (!c->sp1 && i - c->head_start > METHOD_MAX)
			return fail(c, 501, "method not implemented");
		if (c->sp1 && !c->sp2 && i - c->sp1 > HTTPD_MAX_TARGET)
			return fail(c, 414, "request target too long");
		if (c->sp2 && i - c->sp2 > 8)
			return fail(c, 400, "malformed HTTP version");
	}
	if (c->in_len >= c->cfg.max_head) {
		if (c->rl_end)
			return fail(c, 431, "request head too large");
		return c->sp1 ? fail(c, 414, "request line too long")
			      : fail(c, 400, "malformed request line");
	}
	return 0;
}

/* ---- the head parser ---- */

static int parse_request_line(struct httpd_conn *c)
{
	uint8_t *p = c->in;
	size_t ls = c->head_start, le = c->rl_end, i = ls, t0, t1, v0, path0, q;
	unsigned major, minor;
	int known = 0;

	while (i < le && p[i] != ' ') {
		if (!is_tchar(p[i]))
			return fail(c, 400, "malformed method");
		i++;
	}
	if (i == ls || i == le)
		return fail(c, 400, "malformed request line");
	t0 = i + 1;
	t1 = t0;
	while (t1 < le && p[t1] != ' ')
		t1++;
	if (t1 == le)
		return fail(c, 400, "malformed request line");
	v0 = t1 + 1;
	if (le - v0 != 8 || memcmp(p + v0, "HTTP/", 5) || !is_digit(p[v0 + 5]) ||
	    p[v0 + 6] != '.' || !is_digit(p[v0 + 7]))
		return fail(c, 400, "malformed HTTP version");
	major = (unsigned)(p[v0 + 5] - '0');
	minor = (unsigned)(p[v0 + 7] - '0');
	if (major != 1)
		return fail(c, 505, "HTTP version not supported");
	if (t1 - t0 > HTTPD_MAX_TARGET)
		return fail(c, 414, "request target too long");
	if (t1 == t0)
		return fail(c, 400, "empty request target");
	for (size_t k = t0; k < t1; k++)
		if (p[k] < 0x21 || p[k] > 0x7e || p[k] == '#')
			return fail(c, 400, "bad byte in the request target");
	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
		if (strlen(methods[k].name) == i - ls && !memcmp(p + ls, methods[k].name, i - ls)) {
			c->req.method = methods[k].m;
			known = 1;
			break;
		}
	}
	if (!known)
		return fail(c, 501, "method not implemented");

	path0 = t0;
	c->path_root = 0;
	if (p[t0] != '/') {
		size_t a0;

		if (ci_prefix(p + t0, t1 - t0, "http://"))
			a0 = t0 + 7;
		else if (ci_prefix(p + t0, t1 - t0, "https://"))
			a0 = t0 + 8;
		else
			return fail(c, 400, "request target is not a path");
		path0 = a0;
		while (path0 < t1 && p[path0] != '/' && p[path0] != '?')
			path0++;
		if (path0 == a0)
			return fail(c, 400, "request target has no host");
		c->path_root = path0 == t1 || p[path0] == '?';
	}
	q = path0;
	while (q < t1 && p[q] != '?')
		q++;
	p[t1] = '\0';
	c->path_off = path0;
	c->req.path_len = c->path_root ? 1 : q - path0;
	c->query_off = 0;
	c->req.query_len = 0;
	if (q < t1) {
		p[q] = '\0';
		c->query_off = q + 1;
		c->req.query_len = t1 - q - 1;
	}
	c->req.version_minor = minor ? 1 : 0;
	return 0;
}

struct head_info {
	unsigned hosts, cls, tes;
	int te_chunked, conn_close, conn_keep, expect_100, too_big;
	uint64_t cl;
};

/* Content-Length: 1*DIGIT, nothing else (RFC 9110 §8.6; a list, even of
 * equal values, is refused: it only ever comes from a smuggling attempt or
 * a broken proxy). */
static int parse_content_length(struct httpd_conn *c, const uint8_t *v, size_t n,
				struct head_info *h)
{
	uint64_t cl = 0;

	if (++h->cls > 1)
		return fail(c, 400, "repeated Content-Length");
	if (!n)
		return fail(c, 400, "malformed Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return fail(c, 400, "malformed Content-Length");
		if (cl <= c->cfg.max_body)
			cl = cl * 10 + (uint64_t)(v[i] - '0'); /* <= 10 * 64 MiB + 9 */
	}
	h->cl = cl;
	h->too_big = cl > c->cfg.max_body;
	return 0;
}

static int parse_fields(struct httpd_conn *c, struct head_info *h)
{
	uint8_t *p = c->in;
	size_t ls = c->rl_end + 2, end = c->head_end - 2, n = 0;

	while (ls < end) {
		size_t e = ls, colon = ls, v0, v1;
		const uint8_t *name, *val;
		int r = 0;

		while (p[e] != '\r') /* the scanner saw CRLF ending every line */
			e++;
		if (is_ows(p[ls]))
			return fail(c, 400, "obsolete line folding");
		while (colon < e && p[colon] != ':') {
			if (!is_tchar(p[colon]))
				return fail(c, 400, "malformed header field name");
			colon++;
		}
		if (colon == e || colon == ls)
			return fail(c, 400, "malformed header field");
		v0 = colon + 1;
		while (v0 < e && is_ows(p[v0]))
			v0++;
		v1 = e;
		while (v1 > v0 && is_ows(p[v1 - 1]))
			v1--;
		for (size_t k = v0; k < v1; k++)
			if (!is_vbyte(p[k]))
				return fail(c, 400, "bad byte in a header field value");
		if (n == HTTPD_MAX_HEADERS)
			return fail(c, 431, "too many header fields");
		name = p + ls;
		val = p + v0;
		if (ci_eq(name, colon - ls, "content-length"))
			r = parse_content_length(c, val, v1 - v0, h);
		else if (ci_eq(name, colon - ls, "transfer-encoding")) {
			h->tes++;
			h->te_chunked = ci_eq(val, v1 - v0, "chunked");
		} else if (ci_eq(name, colon - ls, "host"))
			h->hosts++;
		else if (ci_eq(name, colon - ls, "connection")) {
			h->conn_close |= list_has(val, v1 - v0, "close");
			h->conn_keep |= list_has(val, v1 - v0, "keep-alive");
		} else if (ci_eq(name, colon - ls, "expect"))
			h->expect_100 |= list_has(val, v1 - v0, "100-continue");
		if (r < 0)
			return r;
		c->name_off[n] = (uint32_t)ls;
		c->value_off[n] = (uint32_t)v0;
		c->hdrs[n].name_len = colon - ls;
		c->hdrs[n].value_len = v1 - v0;
		p[colon] = '\0';
		p[v1] = '\0';
		n++;
		ls = e + 2;
	}
	c->req.n_headers = n;
	return 0;
}

/* The head in[0..head_end) is whole: parses it into c->req (as offsets). */
static int parse_head(struct httpd_conn *c)
{
	struct head_info h;
	int r;

	memset(&h, 0, sizeof(h));
	r = parse_request_line(c);
	if (r < 0)
		return r;
	r = parse_fields(c, &h);
	if (r < 0)
		return r;
	if (c->req.version_minor ? h.hosts != 1 : h.hosts > 1)
		return fail(c, 400, h.hosts ? "repeated Host" : "missing Host");
	if (h.tes) {
		/* No body framing we could trust (RFC 9112 §6.1, §6.3). */
		if (h.cls || !c->req.version_minor)
			return fail(c, 400, "Transfer-Encoding with Content-Length or HTTP/1.0");
		if (h.tes == 1 && h.te_chunked)
			return fail(c, 411, "chunked request body: send Content-Length");
		return fail(c, 501, "transfer coding not implemented");
	}
	if (h.too_big)
		return fail(c, 413, "request body too large");
	c->req.body_len = (size_t)h.cl;
	c->req.keep_alive =
		!h.conn_close && (c->req.version_minor || h.conn_keep) && !c->force_close;
	c->expect_100 = h.expect_100 && c->req.version_minor;
	return 0;
}

/* The request is whole: turns its offsets into the borrowed pointers. */
static void hand_out(struct httpd_conn *c)
{
	char *b = (char *)c->in;

	c->req.path = c->path_root ? "/" : b + c->path_off;
	c->req.query = c->query_off ? b + c->query_off : NULL;
	for (size_t i = 0; i < c->req.n_headers; i++) {
		c->hdrs[i].name = b + c->name_off[i];
		c->hdrs[i].value = b + c->value_off[i];
	}
	c->req.headers = c->hdrs;
	c->req.body = c->req.body_len ? c->in + c->head_end : (const uint8_t *)"";
	c->state = ST_REQ;
	c->stats.http_requests_total++;
	if (c->in_len > c->head_end + c->req.body_len)
		c->next_since = c->now;
}

static void reset_request(struct httpd_conn *c)
{
	c->head_done = 0;
	c->continue_sent = 0;
	c->expect_100 = 0;
	c->scan = c->line_start = c->head_start = c->rl_end = 0;
	c->sp1 = c->sp2 = c->head_end = 0;
	c->n_lines = 0;
	memset(&c->req, 0, sizeof(c->req));
}

/* ---- the public API ---- */

void httpd_config_default(struct httpd_config *cfg)
{
	cfg->max_head = HTTPD_DEFAULT_MAX_HEAD;
	cfg->max_body = HTTPD_DEFAULT_MAX_BODY;
	cfg->max_output = HTTPD_DEFAULT_MAX_OUTPUT;
	cfg->header_timeout_ms = HTTPD_DEFAULT_HEADER_TIMEOUT_MS;
	cfg->idle_timeout_ms = HTTPD_DEFAULT_IDLE_TIMEOUT_MS;
	cfg->send_continue = 1;
}

int httpd_conn_init(struct httpd_conn *c, const struct httpd_config *cfg, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	if (cfg)
		c->cfg = *cfg;
	else
		httpd_config_default(&c->cfg);
	if (c->cfg.max_head < HTTPD_MIN_HEAD || c->cfg.max_head > HTTPD_MAX_HEAD_LIMIT ||
	    c->cfg.max_body > HTTPD_MAX_BODY_LIMIT || c->cfg.max_output < HTTPD_MIN_OUTPUT ||
	    c->cfg.max_output > HTTPD_MAX_OUTPUT_LIMIT || !c->cfg.header_timeout_ms ||
	    !c->cfg.idle_timeout_ms)
		return -EINVAL;
	c->now = c->idle_since = c->req_since = c->out_since = now_ms;
	c->state = ST_READ;
	return in_grow(c, HTTPD_IN_INITIAL < in_limit(c) ? HTTPD_IN_INITIAL : in_limit(c));
}

void httpd_conn_free(struct httpd_conn *c)
{
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->in_cap = 0;
	c->out_off = c->out_len = c->out_cap = 0;
	c->state = ST_CLOSE;
}

ssize_t httpd_conn_feed(struct httpd_conn *c, const void *buf, size_t len, uint64_t now_ms)
{
	size_t room, n;

	if (len && !buf)
		return -EINVAL;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	touch(c, now_ms);
	if (c->state == ST_ERROR || c->state == ST_CLOSE) {
		c->stats.http_received_bytes_total += len;
		return (ssize_t)len;
	}
	if (!len)
		return 0;
	room = c->in_cap - c->in_len;
	if (room < len && c->state == ST_READ) {
		/* No pointer borrows the buffer in READ: it may move. */
		size_t want = in_limit(c) - c->in_len;
		int r;

		want = c->in_len + (len < want ? len : want);
		r = in_grow(c, want);
		if (r < 0)
			return r;
		room = c->in_cap - c->in_len;
	}
	n = len < room ? len : room;
	if (!n)
		return 0;
	if (!c->in_len)
		c->req_since = now_ms;
	else if (c->state == ST_REQ && c->in_len == c->head_end + c->req.body_len)
		c->next_since = now_ms;
	memcpy(c->in + c->in_len, buf, n);
	c->in_len += n;
	c->stats.http_received_bytes_total += n;
	return (ssize_t)n;
}

int httpd_conn_next(struct httpd_conn *c, struct httpd_request *out_req)
{
	int r;

	switch (c->state) {
	case ST_REQ: return -EBUSY;
	case ST_ERROR: return c->err;
	case ST_CLOSE: return -EPIPE;
	default: break;
	}
	if (unsent(c) > HTTPD_PIPELINE_OUT_MAX)
		return 0;
	if (!c->head_done) {
		r = scan_head(c);
		if (r <= 0)
			return r;
		r = parse_head(c);
		if (r < 0)
			return r;
		c->head_done = 1;
	}
	if (c->in_len - c->head_end < c->req.body_len) {
		if (c->expect_100 && !c->continue_sent && c->cfg.send_continue) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			size_t pend = unsent(c);

			/* Without room the client sends the body after its own
			 * wait anyway (RFC 9110 §10.1.1). */
			if (!out_reserve(c, sizeof(cont) - 1)) {
				memcpy(c->out + c->out_len, cont, sizeof(cont) - 1);
				c->out_len += sizeof(cont) - 1;
				out_appended(c, pend);
			}
			c->continue_sent = 1;
		}
		return 0;
	}
	hand_out(c);
	*out_req = c->req;
	return 1;
}

unsigned httpd_conn_error(const struct httpd_conn *c, const char **out_msg)
{
	int has = c->state == ST_ERROR;

	if (out_msg)
		*out_msg = has ? c->err_msg : "";
	return has ? c->err_status : 0;
}

/* A caller string fit for a field value (no CR, LF or other control). */
static int valid_value(const char *s)
{
	for (; *s; s++)
		if (!is_vbyte((uint8_t)*s))
			return 0;
	return 1;
}

/* extra_headers: lines "Name: value\r\n", none that frames the message. */
static int valid_extra(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		const uint8_t *n0 = p;

		while (is_tchar(*p))
			p++;
		if (p == n0 || *p != ':')
			return 0;
		if (ci_eq(n0, (size_t)(p - n0), "content-length") ||
		    ci_eq(n0, (size_t)(p - n0), "transfer-encoding") ||
		    ci_eq(n0, (size_t)(p - n0), "connection"))
			return 0;
		p++;
		while (*p && *p != '\r' && is_vbyte(*p))
			p++;
		if (p[0] != '\r' || p[1] != '\n')
			return 0;
		p += 2;
	}
	return 1;
}

static int is_json(const char *ct)
{
	const uint8_t *p = (const uint8_t *)ct;
	size_t l = strlen("application/json");

	return ci_prefix(p, strlen(ct), "application/json") &&
	       (p[l] == '\0' || p[l] == ';' || is_ows(p[l]));
}

struct resp_head {
	unsigned status;
	const char *ctype, *extra;
	size_t body_len;
	int no_body, closing, ka10;
};

static void write_head(struct wbuf *w, const struct resp_head *h)
{
	w_str(w, "HTTP/1.1 ");
	w_u64(w, h->status);
	w_str(w, " ");
	w_str(w, status_reason(h->status));
	w_str(w, "\r\n");
	if (h->ctype) {
		w_str(w, "Content-Type: ");
		w_str(w, h->ctype);
		w_str(w, "\r\n");
	}
	if (!h->no_body) {
		w_str(w, "Content-Length: ");
		w_u64(w, h->body_len);
		w_str(w, "\r\n");
	}
	if (h->ctype && is_json(h->ctype))
		w_str(w, "Cache-Control: no-store\r\n");
	if (h->closing)
		w_str(w, "Connection: close\r\n");
	else if (h->ka10)
		w_str(w, "Connection: keep-alive\r\n");
	if (h->extra)
		w_str(w, h->extra);
	w_str(w, "\r\n");
}

/* The answer is out: drop the request's bytes and move on (or stop). */
static void finish(struct httpd_conn *c, int closing)
{
	c->stats.http_responses_total++;
	if (closing) {
		c->state = ST_CLOSE;
		c->in_len = 0;
		reset_request(c);
		return;
	}
	{
		size_t drop = c->head_end + c->req.body_len;

		memmove(c->in, c->in + drop, c->in_len - drop);
		c->in_len -= drop;
	}
	reset_request(c);
	c->state = ST_READ;
	c->idle_since = c->now;
	if (c->in_len)
		c->req_since = c->next_since;
	in_shrink(c);
}

int httpd_respond(struct httpd_conn *c, unsigned status, const char *content_type, const void *body,
		  size_t body_len, const char *extra_headers)
{
	struct resp_head h;
	struct wbuf w = { NULL, 0 };
	int head_only, r;
	size_t total, pend;

	if (c->state != ST_REQ && c->state != ST_ERROR)
		return -EINVAL;
	if (status < 200 || status > 599)
		return -EINVAL;
	head_only = c->state == ST_REQ && c->req.method == HTTPD_HEAD;
	memset(&h, 0, sizeof(h));
	h.status = status;
	h.ctype = content_type;
	h.extra = extra_headers;
	h.body_len = body_len;
	h.no_body = status == 204 || status == 304;
	if (h.no_body && body_len)
		return -EINVAL;
	if (body_len && !body && !head_only)
		return -EINVAL;
	if (content_type && (!*content_type || !valid_value(content_type)))
		return -EINVAL;
	if (extra_headers && !valid_extra(extra_headers))
		return -EINVAL;
	h.closing = c->state == ST_ERROR || c->force_close || !c->req.keep_alive;
	h.ka10 = !h.closing && c->req.version_minor == 0;

	write_head(&w, &h);
	total = w.n;
	if (!head_only && !h.no_body) {
		if (body_len > SIZE_MAX - total)
			return -ENOSPC;
		total += body_len;
	}
	pend = unsent(c);
	r = out_reserve(c, total);
	if (r < 0)
		return r;
	w.p = c->out + c->out_len;
	w.n = 0;
	write_head(&w, &h);
	if (!head_only && !h.no_body && body_len)
		memcpy(c->out + c->out_len + w.n, body, body_len);
	c->out_len += total;
	out_appended(c, pend);
	finish(c, h.closing);
	return 0;
}

/* Length 1..4 of the valid UTF-8 sequence at s[0..n), 0 if invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		need = 1;
	else if (b >= 0xe0 && b <= 0xef)
		need = 2;
	else if (b >= 0xf0 && b <= 0xf4)
		need = 3;
	else
		return 0;
	if (b == 0xe0)
		lo = 0xa0;
	else if (b == 0xed)
		hi = 0x9f;
	else if (b == 0xf0)
		lo = 0x90;
	else if (b == 0xf4)
		hi = 0x8f;
	if (n < need + 1 || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

/* {"error":"<msg escaped>"} into dst, which holds 6 bytes per msg byte
 * plus 16; returns the length. */
static size_t json_error(char *dst, const uint8_t *m, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	struct wbuf w = { (uint8_t *)dst, 0 };

	w_str(&w, "{\"error\":\"");
	for (size_t i = 0; i < n;) {
		uint8_t b = m[i];
		size_t l;

		if (b == '"' || b == '\\') {
			char e[2] = { '\\', (char)b };

			w_mem(&w, e, 2);
			i++;
			continue;
		}
		if (b < 0x20 || b == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hx[b >> 4], hx[b & 15] };

			w_mem(&w, e, 6);
			i++;
			continue;
		}
		l = utf8_len(m + i, n - i);
		if (!l) {
			w_str(&w, "\\ufffd");
			i++;
			continue;
		}
		w_mem(&w, m + i, l);
		i += l;
	}
	w_str(&w, "\"}");
	return w.n;
}

int httpd_respond_error(struct httpd_conn *c, unsigned status, const char *msg,
			const char *extra_headers)
{
	char body[HTTPD_ERROR_MSG_MAX * 6 + 16];
	size_t n;

	if (status < 400 || status > 599)
		return -EINVAL;
	if (!msg)
		msg = status_reason(status);
	n = strnlen(msg, HTTPD_ERROR_MSG_MAX);
	if (n == HTTPD_ERROR_MSG_MAX) /* cut at a character boundary */
		while (n > 0 && ((uint8_t)msg[n] & 0xc0) == 0x80)
			n--;
	n = json_error(body, (const uint8_t *)msg, n);
	return httpd_respond(c, status, "application/json", body, n, extra_headers);
}

void httpd_conn_set_close(struct httpd_conn *c)
{
	c->force_close = 1;
}

void httpd_conn_output(const struct httpd_conn *c, const uint8_t **out_buf, size_t *out_len)
{
	*out_len = unsent(c);
	*out_buf = *out_len ? c->out + c->out_off : NULL;
}

int httpd_conn_sent(struct httpd_conn *c, size_t n, uint64_t now_ms)
{
	size_t before = unsent(c);

	if (n > before)
		return -EINVAL;
	touch(c, now_ms);
	if (!n)
		return 0;
	c->out_off += n;
	c->out_since = now_ms;
	c->stats.http_sent_bytes_total += n;
	/* Parsing was held for this output: the buffered request's timer
	 * starts over now that it will be looked at. */
	if (c->state == ST_READ && c->in_len && before > HTTPD_PIPELINE_OUT_MAX &&
	    unsent(c) <= HTTPD_PIPELINE_OUT_MAX)
		c->req_since = now_ms;
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		c->idle_since = now_ms;
		/* An idle keep-alive connection does not hold a /metrics-sized
		 * buffer. */
		if (c->out_cap > HTTPD_PIPELINE_OUT_MAX) {
			free(c->out);
			c->out = NULL;
			c->out_cap = 0;
		}
	}
	return 0;
}

int httpd_conn_wants_close(const struct httpd_conn *c)
{
	return c->state == ST_ERROR || c->state == ST_CLOSE;
}

uint64_t httpd_conn_deadline(const struct httpd_conn *c)
{
	uint64_t d = HTTPD_NO_DEADLINE, t;
	size_t pend = unsent(c);

	if (pend)
		d = add_sat(c->out_since, c->cfg.idle_timeout_ms);
	if (c->state != ST_READ || pend > HTTPD_PIPELINE_OUT_MAX)
		return d;
	if (c->in_len)
		t = add_sat(c->req_since, c->cfg.header_timeout_ms);
	else if (!pend)
		t = add_sat(c->idle_since, c->cfg.idle_timeout_ms);
	else
		return d;
	return t < d ? t : d;
}

int httpd_conn_timed_out(const struct httpd_conn *c, uint64_t now_ms)
{
	uint64_t d = httpd_conn_deadline(c);

	return d != HTTPD_NO_DEADLINE && now_ms >= d;
}

const char *httpd_request_header(const struct httpd_request *req, const char *name, size_t *out_len)
{
	size_t l = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct httpd_header *h = &req->headers[i];

		if (h->name_len != l)
			continue;
		size_t k = 0;

		while (k < l && lower((uint8_t)h->name[k]) == lower((uint8_t)name[k]))
			k++;
		if (k == l) {
			if (out_len)
				*out_len = h->value_len;
			return h->value;
		}
	}
	return NULL;
}

int httpd_path_segment(const char *path, size_t len, size_t *pos, const char **out_seg,
		       size_t *out_len)
{
	size_t start = *pos, end;

	if (!len || start > len)
		return 0;
	if (start == 0 && path[0] == '/')
		start = 1;
	end = start;
	while (end < len && path[end] != '/')
		end++;
	*out_seg = path + start;
	*out_len = end - start;
	*pos = end + 1; /* past len once the last segment is out */
	return 1;
}

ssize_t httpd_pct_decode(const char *src, size_t len, char *dst, size_t cap)
{
	size_t o = 0;

	if ((len && !src) || (cap && !dst) || len > SSIZE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len;) {
		uint8_t b = (uint8_t)src[i];

		if (b == '%') {
			int h, l;

			if (len - i < 3)
				return -EINVAL;
			h = hexval((uint8_t)src[i + 1]);
			l = hexval((uint8_t)src[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			b = (uint8_t)(h * 16 + l);
			i += 3;
		} else {
			i++;
		}
		/* A NUL would cut the name short in every C string after us. */
		if (!b)
			return -EINVAL;
		if (o == cap)
			return -ENOBUFS;
		dst[o++] = (char)b;
	}
	return (ssize_t)o;
}
