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
 * NUL-terminated without a copy. The lexing (byte classes, field lines,
 * version, target forms, numbers) and the bounded writer that sizes a
 * response before reserving room for it are lib/http1's.
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

#include "http1.h"
#include "utf8.h"

enum { ST_READ, ST_REQ, ST_ERROR, ST_CLOSE };

#define METHOD_MAX 16 /* a longer method token cannot be one we serve */

/* RFC 9110 §15 lets a client ignore the phrase; a code lib/http1 does not
 * name gets its class name. */
static const char *status_reason(unsigned code)
{
	static const char *const cls[] = { "Informational", "Success", "Redirection",
					   "Client Error", "Server Error" };
	const char *r = http1_reason(code);

	if (r)
		return r;
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

/* *buf (of *cap bytes) reallocated to cap_new bytes: 0, or -ENOMEM with
 * both unchanged. */
static int buf_resize(uint8_t **buf, size_t *cap, size_t cap_new)
{
	uint8_t *p = realloc(*buf, cap_new);

	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = cap_new;
	return 0;
}

/* Grows the input buffer to hold need bytes (need <= in_limit). */
static int in_grow(struct httpd_conn *c, size_t need)
{
	size_t cap = c->in_cap ? c->in_cap : HTTPD_IN_INITIAL;

	if (need <= c->in_cap)
		return 0;
	while (cap < need)
		cap *= 2; /* need <= 65 MiB: no overflow */
	if (cap > in_limit(c))
		cap = in_limit(c);
	return buf_resize(&c->in, &c->in_cap, cap);
}

/* A connection that once took a large body need not keep its buffer (when
 * the smaller one cannot be had, the larger one stays). */
static void in_shrink(struct httpd_conn *c)
{
	if (c->in_cap <= HTTPD_IN_INITIAL || c->in_len > HTTPD_IN_INITIAL)
		return;
	(void)buf_resize(&c->in, &c->in_cap, HTTPD_IN_INITIAL);
}

/* Room for n more output bytes, all-or-nothing. */
static int out_reserve(struct httpd_conn *c, size_t n)
{
	size_t pend = unsent(c), cap;

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
	return buf_resize(&c->out, &c->out_cap, cap);
}

/* Bytes were appended: output that was empty starts its progress timer. */
static void out_appended(struct httpd_conn *c, size_t pend_before)
{
	if (!pend_before)
		c->out_since = c->now;
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
		} else if (!c->sp1 && !http1_is_tchar(b)) {
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
	size_t ls = c->head_start, le = c->rl_end, i = ls, t0, t1, v0;
	struct http1_target t;
	struct http1_fault f;
	unsigned major, minor;
	int known = 0;

	while (i < le && p[i] != ' ') {
		if (!http1_is_tchar(p[i]))
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
	if (http1_version(p + v0, p + le, &major, &minor))
		return fail(c, 400, "malformed HTTP version");
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

	if (http1_target_parse(p + t0, p + t1, &t, &f))
		return fail(c, 400,
			    f.kind == HTTP1_FAULT_HOST ? "request target has no host"
						       : "request target is not a path");
	c->path_root = !t.path; /* absolute-form with no path: "/" */
	c->path_off = t.path ? (size_t)(t.path - p) : 0;
	c->req.path_len = t.path ? t.path_len : 1;
	c->query_off = t.query ? (size_t)(t.query - p) : 0;
	c->req.query_len = t.query_len;
	p[t1] = '\0';
	if (t.query)
		p[c->query_off - 1] = '\0';
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
	uint64_t cl;
	int r;

	if (++h->cls > 1)
		return fail(c, 400, "repeated Content-Length");
	r = http1_parse_u64(v, v + n, &cl, NULL);
	if (r == -EINVAL)
		return fail(c, 400, "malformed Content-Length");
	h->cl = cl;
	h->too_big = r == -ERANGE || cl > c->cfg.max_body;
	return 0;
}

static int parse_fields(struct httpd_conn *c, struct head_info *h)
{
	uint8_t *p = c->in;
	size_t ls = c->rl_end + 2, end = c->head_end - 2, n = 0;

	while (ls < end) {
		/* the scanner saw CRLF ending every line */
		uint8_t *e = memchr(p + ls, '\r', end - ls);
		const uint8_t *name, *nend, *val, *vend;
		struct http1_field fl;
		struct http1_fault f;
		int r = 0;

		if (http1_field_parse(p + ls, e, &fl, &f)) {
			switch (f.kind) {
			case HTTP1_FAULT_FOLD: return fail(c, 400, "obsolete line folding");
			case HTTP1_FAULT_NAME: return fail(c, 400, "malformed header field name");
			case HTTP1_FAULT_VALUE:
				return fail(c, 400, "bad byte in a header field value");
			default: return fail(c, 400, "malformed header field");
			}
		}
		if (n == HTTPD_MAX_HEADERS)
			return fail(c, 431, "too many header fields");
		name = fl.name;
		nend = name + fl.name_len;
		val = fl.value;
		vend = val + fl.value_len;
		if (http1_ieq(name, nend, "content-length"))
			r = parse_content_length(c, val, fl.value_len, h);
		else if (http1_ieq(name, nend, "transfer-encoding")) {
			h->tes++;
			h->te_chunked = http1_ieq(val, vend, "chunked");
		} else if (http1_ieq(name, nend, "host"))
			h->hosts++;
		else if (http1_ieq(name, nend, "connection")) {
			h->conn_close |= http1_list_has(val, vend, "close");
			h->conn_keep |= http1_list_has(val, vend, "keep-alive");
		} else if (http1_ieq(name, nend, "expect"))
			h->expect_100 |= http1_list_has(val, vend, "100-continue");
		if (r < 0)
			return r;
		c->name_off[n] = (uint32_t)ls;
		c->value_off[n] = (uint32_t)(val - p);
		c->hdrs[n].name_len = fl.name_len;
		c->hdrs[n].value_len = fl.value_len;
		p[ls + fl.name_len] = '\0'; /* the ':' */
		p[(size_t)(vend - p)] = '\0';
		n++;
		ls = (size_t)(e - p) + 2;
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
		if (!http1_is_field_byte((uint8_t)*s))
			return 0;
	return 1;
}

/* extra_headers: lines "Name: value\r\n", none that frames the message. */
static int valid_extra(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		const uint8_t *n0 = p;

		while (http1_is_tchar(*p))
			p++;
		if (p == n0 || *p != ':')
			return 0;
		if (http1_ieq(n0, p, "content-length") || http1_ieq(n0, p, "transfer-encoding") ||
		    http1_ieq(n0, p, "connection"))
			return 0;
		p++;
		while (*p && *p != '\r' && http1_is_field_byte(*p))
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

	return http1_iprefix(p, p + strlen(ct), "application/json") &&
	       (p[l] == '\0' || p[l] == ';' || http1_is_ows(p[l]));
}

struct resp_head {
	unsigned status;
	const char *ctype, *extra;
	size_t body_len;
	int no_body, closing, ka10;
};

static void write_head(struct http1_wbuf *w, const struct resp_head *h)
{
	http1_put_str(w, "HTTP/1.1 ");
	http1_put_u64(w, h->status);
	http1_put_str(w, " ");
	http1_put_str(w, status_reason(h->status));
	http1_put_str(w, "\r\n");
	if (h->ctype) {
		http1_put_str(w, "Content-Type: ");
		http1_put_str(w, h->ctype);
		http1_put_str(w, "\r\n");
	}
	if (!h->no_body) {
		http1_put_str(w, "Content-Length: ");
		http1_put_u64(w, h->body_len);
		http1_put_str(w, "\r\n");
	}
	if (h->ctype && is_json(h->ctype))
		http1_put_str(w, "Cache-Control: no-store\r\n");
	if (h->closing)
		http1_put_str(w, "Connection: close\r\n");
	else if (h->ka10)
		http1_put_str(w, "Connection: keep-alive\r\n");
	if (h->extra)
		http1_put_str(w, h->extra);
	http1_put_str(w, "\r\n");
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
	struct http1_wbuf w;
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

	http1_wbuf_init(&w, NULL, 0); /* size first: the response goes in whole or not at all */
	write_head(&w, &h);
	total = w.len;
	if (!head_only && !h.no_body) {
		if (body_len > SIZE_MAX - total)
			return -ENOSPC;
		total += body_len;
	}
	pend = unsent(c);
	r = out_reserve(c, total);
	if (r < 0)
		return r;
	http1_wbuf_init(&w, c->out + c->out_len, total);
	write_head(&w, &h);
	if (!head_only && !h.no_body && body_len)
		memcpy(c->out + c->out_len + w.len, body, body_len);
	c->out_len += total;
	out_appended(c, pend);
	finish(c, h.closing);
	return 0;
}

/* Length 1..4 of the valid UTF-8 sequence at s[0..n), 0 if invalid: the
 * shortest prefix lib/utf8 accepts (it refuses a sequence cut short). */
static size_t utf8_len(const uint8_t *s, size_t n)
{
	for (size_t l = 1; l <= 4 && l <= n; l++)
		if (utf8_valid(s, l))
			return l;
	return 0;
}

/* {"error":"<msg escaped>"} into dst[0..cap), which holds 6 bytes per msg
 * byte plus 16; returns the length. */
static size_t json_error(char *dst, size_t cap, const uint8_t *m, size_t n)
{
	struct http1_wbuf w;

	http1_wbuf_init(&w, dst, cap);
	http1_put_str(&w, "{\"error\":\"");
	for (size_t i = 0; i < n;) {
		uint8_t b = m[i];
		size_t l;

		if (b == '"' || b == '\\') {
			char e[2] = { '\\', (char)b };

			http1_put(&w, e, 2);
			i++;
			continue;
		}
		if (b < 0x20 || b == 0x7f) {
			http1_put_str(&w, "\\u00");
			http1_put_hex(&w, &b, 1, false);
			i++;
			continue;
		}
		l = utf8_len(m + i, n - i);
		if (!l) {
			http1_put_str(&w, "\\ufffd");
			i++;
			continue;
		}
		http1_put(&w, m + i, l);
		i += l;
	}
	http1_put_str(&w, "\"}");
	return w.len;
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
	n = json_error(body, sizeof(body), (const uint8_t *)msg, n);
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

uint64_t httpd_conn_idle_since(const struct httpd_conn *c)
{
	if (c->state != ST_READ || c->in_len || unsent(c))
		return HTTPD_NO_DEADLINE;
	return c->idle_since;
}

const char *httpd_request_header(const struct httpd_request *req, const char *name, size_t *out_len)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct httpd_header *h = &req->headers[i];
		const uint8_t *n0 = (const uint8_t *)h->name;

		if (http1_ieq(n0, n0 + h->name_len, name)) {
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
	const uint8_t *p = (const uint8_t *)src;

	if ((len && !src) || (cap && !dst) || len > SSIZE_MAX)
		return -EINVAL;
	if (!len)
		return 0;
	return http1_pct_decode(p, p + len, (uint8_t *)dst, cap, 0);
}
