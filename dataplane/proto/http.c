/*
 * http: see http.h for the contract (URL layout, responses, ranges, bounds,
 * timers, output flow).
 *
 * Structure. A connection is in one of four states:
 *   READ     waiting for / collecting a request head;
 *   SEND     emitting a response, step by step (resp.step);
 *   CLOSING  a CLOSE is decided but out had no room for it;
 *   CLOSED   CLOSE emitted: nothing more, ever.
 * The head scanner finds the end of a head incrementally (so a head that
 * arrives a byte at a time costs O(n)), rejecting bare LF and control bytes
 * as they arrive. A head found whole in the caller's buffer is parsed in
 * place; only a head split across calls is copied into hbuf. Parsing
 * reduces a head to a response description (struct http_resp: status,
 * release handle, file index, ranges, ETag root); nothing points into the
 * input or the catalog afterwards, so a catalog switch between calls is
 * harmless. Response bytes are formatted lazily, at the step that emits
 * them, into sbuf, which is reset at the start of every call: what an
 * action points to lives exactly until the next call, as proto_action.h
 * promises.
 *
 * Invariants: no action after CLOSE; the bytes after a head (SENDs of part
 * headers and tail, SEND_DATA) add up to its Content-Length unless the
 * response is cut by a CLOSE (timeout or data error); every SEND_DATA lies
 * inside its file, is non-empty and at most cfg.max_segment bytes.
 */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { ST_READ, ST_SEND, ST_CLOSING, ST_CLOSED };
enum { RS_HEAD, RS_PART_HEAD, RS_DATA, RS_TAIL, RS_END };
enum { ETAG_NONE, ETAG_ROOT, ETAG_EMPTY };
enum { M_GET, M_HEAD, M_OTHER };

struct status_info {
	uint16_t code;
	const char *reason;
};

/* The statuses the engine sends; error bodies are "<code> <reason>\n". */
static const struct status_info statuses[] = {
	{ 200, "OK" },
	{ 206, "Partial Content" },
	{ 400, "Bad Request" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 414, "URI Too Long" },
	{ 416, "Range Not Satisfiable" },
	{ 431, "Request Header Fields Too Large" },
	{ 505, "HTTP Version Not Supported" },
};

static const char *status_reason(unsigned code)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].code == code)
			return statuses[i].reason;
	return "Error";
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- small byte helpers ---- */

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

/* Decimal digits at s[*i..n), saturating at UINT64_MAX; 0 when none. */
static int parse_u64(const uint8_t *s, size_t n, size_t *i, uint64_t *out_v)
{
	uint64_t v = 0;
	size_t start = *i;

	while (*i < n && is_digit(s[*i])) {
		unsigned d = (unsigned)(s[*i] - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		(*i)++;
	}
	*out_v = v;
	return *i > start;
}

/* ---- output formatting: bounded appenders, no sprintf ---- */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	int bad; /* an append did not fit (cannot happen: see HTTP_PIECE_MAX) */
};

static void w_mem(struct wbuf *w, const void *s, size_t len)
{
	if (w->bad || len > w->cap - w->n) {
		w->bad = 1;
		return;
	}
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

static void w_hex(struct wbuf *w, const uint8_t *b, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		char two[2] = { hx[b[i] >> 4], hx[b[i] & 15] };

		w_mem(w, two, 2);
	}
}

/* The multipart boundary: "BitStream-" and 32 hex digits of the root (a
 * file cannot contain a hash of itself, so the boundary never occurs in
 * the payload). */
static void w_boundary(struct wbuf *w, const struct http_resp *rp)
{
	w_str(w, "BitStream-");
	w_hex(w, rp->root, 16);
}

static void w_etag(struct wbuf *w, const struct http_resp *rp)
{
	if (rp->etag == ETAG_ROOT) {
		w_str(w, "\"");
		w_hex(w, rp->root, 32);
		w_str(w, "\"");
	} else if (rp->etag == ETAG_EMPTY) {
		w_str(w, HTTP_EMPTY_ETAG);
	}
}

static size_t error_body_len(unsigned status)
{
	return 4 + strlen(status_reason(status)) + 1; /* "NNN " reason "\n" */
}

/*
 * The head of rp (and an error's body). Worst case, a multipart 206:
 * status 27 + Server 19 + Accept-Ranges 22 + ETag 74 + Content-Type 78 +
 * Content-Length 38 + Connection 24 + CRLF 2 = 284; a 416 with body: 75 +
 * 19 + 46 + 26 + 38 + 24 + 2 + 26 < 300; both under HTTP_PIECE_MAX.
 */
static size_t format_head(const struct http_resp *rp, uint8_t *dst, size_t cap)
{
	struct wbuf w = { dst, 0, cap, 0 };
	const char *reason = status_reason(rp->status);
	int multipart = rp->status == 206 && rp->n_parts > 1;

	w_str(&w, "HTTP/1.1 ");
	w_u64(&w, rp->status);
	w_str(&w, " ");
	w_str(&w, reason);
	w_str(&w, "\r\nServer: BitStream\r\n");
	if (rp->error) {
		if (rp->status == 416) {
			w_str(&w, "Content-Range: bytes */");
			w_u64(&w, rp->file_len);
			w_str(&w, "\r\n");
		}
		if (rp->status == 405)
			w_str(&w, "Allow: GET, HEAD\r\n");
		w_str(&w, "Content-Type: text/plain\r\nContent-Length: ");
		w_u64(&w, error_body_len(rp->status));
		w_str(&w, "\r\n");
	} else {
		w_str(&w, "Accept-Ranges: bytes\r\n");
		if (rp->etag != ETAG_NONE) {
			w_str(&w, "ETag: ");
			w_etag(&w, rp);
			w_str(&w, "\r\n");
		}
		if (multipart) {
			w_str(&w, "Content-Type: multipart/byteranges; boundary=");
			w_boundary(&w, rp);
			w_str(&w, "\r\n");
		} else {
			w_str(&w, "Content-Type: application/octet-stream\r\n");
		}
		w_str(&w, "Content-Length: ");
		w_u64(&w, rp->content_length);
		w_str(&w, "\r\n");
		if (rp->status == 206 && !multipart) {
			w_str(&w, "Content-Range: bytes ");
			w_u64(&w, rp->parts[0].first);
			w_str(&w, "-");
			w_u64(&w, rp->parts[0].last);
			w_str(&w, "/");
			w_u64(&w, rp->file_len);
			w_str(&w, "\r\n");
		}
	}
	if (rp->close)
		w_str(&w, "Connection: close\r\n");
	else if (rp->ka10)
		w_str(&w, "Connection: keep-alive\r\n");
	w_str(&w, "\r\n");
	if (rp->error && !rp->head_only) {
		w_u64(&w, rp->status);
		w_str(&w, " ");
		w_str(&w, reason);
		w_str(&w, "\n");
	}
	return w.bad ? 0 : w.n;
}

/* The delimiter and header of part i of a multipart body (the first has no
 * leading CRLF: RFC 2046 lets it belong to the empty preamble). */
static size_t format_part_head(const struct http_resp *rp, unsigned i, uint8_t *dst, size_t cap)
{
	struct wbuf w = { dst, 0, cap, 0 };

	w_str(&w, i ? "\r\n--" : "--");
	w_boundary(&w, rp);
	w_str(&w, "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ");
	w_u64(&w, rp->parts[i].first);
	w_str(&w, "-");
	w_u64(&w, rp->parts[i].last);
	w_str(&w, "/");
	w_u64(&w, rp->file_len);
	w_str(&w, "\r\n\r\n");
	return w.bad ? 0 : w.n;
}

static size_t format_tail(const struct http_resp *rp, uint8_t *dst, size_t cap)
{
	struct wbuf w = { dst, 0, cap, 0 };

	w_str(&w, "\r\n--");
	w_boundary(&w, rp);
	w_str(&w, "--\r\n");
	return w.bad ? 0 : w.n;
}

/* ---- actions ---- */

static void push_send(struct http_conn *c, struct proto_out *out, size_t len)
{
	struct proto_action *a = &out->a[out->n++];

	memset(a, 0, sizeof(*a));
	a->kind = PROTO_ACT_SEND;
	a->u.send.p = c->sbuf + c->slen;
	a->u.send.len = len;
	c->slen += len;
	c->stats.http_head_bytes_total += len;
}

static void push_close(struct http_conn *c, struct proto_out *out)
{
	struct proto_action *a = &out->a[out->n++];

	memset(a, 0, sizeof(*a));
	a->kind = PROTO_ACT_CLOSE;
	a->u.close.reason = c->close_reason;
	a->u.close.detail = c->close_detail;
	c->state = ST_CLOSED;
}

static void close_now(struct http_conn *c, enum proto_close_reason why, const char *detail)
{
	c->state = ST_CLOSING;
	c->close_reason = why;
	c->close_detail = detail;
}

/* ---- response emission ---- */

static void end_response(struct http_conn *c, uint64_t now)
{
	if (c->resp.close) {
		close_now(c, c->resp.close_reason, c->resp.close_detail);
		return;
	}
	c->state = ST_READ;
	c->since = now;
}

/* One step of the response; 0 when it cannot be taken in this call (the
 * send buffer is used up), 1 otherwise. out has room for one action. */
static int step(struct http_conn *c, struct proto_out *out)
{
	struct http_resp *rp = &c->resp;
	const uint32_t seg_max = c->e->cfg.max_segment;
	size_t len;

	if (rp->step != RS_DATA && HTTP_SEND_BUF - c->slen < HTTP_PIECE_MAX)
		return 0;
	switch (rp->step) {
	case RS_HEAD:
		len = format_head(rp, c->sbuf + c->slen, HTTP_PIECE_MAX);
		if (!len) {
			close_now(c, PROTO_CLOSE_MALFORMED, "response head over its bound");
			return 1;
		}
		push_send(c, out, len);
		if (rp->status < 300)
			c->stats.http_responses_2xx_total++;
		else if (rp->status < 500)
			c->stats.http_responses_4xx_total++;
		else
			c->stats.http_responses_5xx_total++;
		if (rp->error || rp->head_only || !rp->n_parts) {
			rp->step = RS_END;
		} else {
			rp->part = 0;
			rp->off = rp->parts[0].first;
			rp->step = rp->n_parts > 1 ? RS_PART_HEAD : RS_DATA;
		}
		return 1;
	case RS_PART_HEAD:
		len = format_part_head(rp, rp->part, c->sbuf + c->slen, HTTP_PIECE_MAX);
		if (!len) {
			close_now(c, PROTO_CLOSE_MALFORMED, "part head over its bound");
			return 1;
		}
		push_send(c, out, len);
		rp->off = rp->parts[rp->part].first;
		rp->step = RS_DATA;
		return 1;
	case RS_DATA: {
		const struct http_range *r = &rp->parts[rp->part];
		uint64_t left = r->last - rp->off + 1;
		uint64_t seg = seg_max - rp->off % seg_max;
		struct proto_action *a = &out->a[out->n++];

		if (seg > left)
			seg = left;
		memset(a, 0, sizeof(*a));
		a->kind = PROTO_ACT_SEND_DATA;
		a->u.data.release = rp->release;
		a->u.data.file = rp->file;
		a->u.data.offset = rp->off;
		a->u.data.len = (uint32_t)seg;
		c->stats.http_payload_bytes_total += seg;
		rp->off += seg;
		if (rp->off > r->last) {
			if (rp->n_parts == 1)
				rp->step = RS_END;
			else if (++rp->part < rp->n_parts)
				rp->step = RS_PART_HEAD;
			else
				rp->step = RS_TAIL;
		}
		return 1;
	}
	case RS_TAIL:
		len = format_tail(rp, c->sbuf + c->slen, HTTP_PIECE_MAX);
		if (!len) {
			close_now(c, PROTO_CLOSE_MALFORMED, "tail over its bound");
			return 1;
		}
		push_send(c, out, len);
		rp->step = RS_END;
		return 1;
	}
	return 0;
}

/* Emits what is pending, as far as out and the send buffer allow. */
static void progress(struct http_conn *c, uint64_t now, struct proto_out *out)
{
	int moved = 0;

	for (;;) {
		if (c->state == ST_SEND && c->resp.step == RS_END) {
			end_response(c, now);
			continue;
		}
		if (out->n >= out->cap)
			break;
		if (c->state == ST_CLOSING) {
			push_close(c, out);
			break;
		}
		if (c->state != ST_SEND || !step(c, out))
			break;
		moved = 1;
	}
	if (moved && c->state == ST_SEND)
		c->since = now;
}

/* ---- setting up responses ---- */

static void begin(struct http_conn *c, unsigned status, int head_only, int close, int ka10)
{
	struct http_resp *rp = &c->resp;

	memset(rp, 0, sizeof(*rp));
	rp->status = (uint16_t)status;
	rp->head_only = (uint8_t)head_only;
	rp->close = (uint8_t)close;
	rp->ka10 = (uint8_t)(ka10 && !close);
	rp->close_reason = PROTO_CLOSE_DONE;
	rp->close_detail = "Connection: close";
	rp->step = RS_HEAD;
	c->state = ST_SEND;
}

/* An error response. why/detail apply when it closes. */
static void begin_error(struct http_conn *c, unsigned status, int head_only, int close, int ka10,
			enum proto_close_reason why, const char *detail)
{
	begin(c, status, head_only, close, ka10);
	c->resp.error = 1;
	if (why != PROTO_CLOSE_DONE || detail) {
		c->resp.close_reason = why;
		c->resp.close_detail = detail ? detail : "Connection: close";
	}
}

/* A malformed request: 400 and close. */
static void bad_request(struct http_conn *c, const char *detail)
{
	begin_error(c, 400, 0, 1, 0, PROTO_CLOSE_MALFORMED, detail);
}

/* ---- request head scanner ---- */

enum { SCAN_MORE, SCAN_DONE, SCAN_BAD };

static void head_reset(struct http_conn *c)
{
	c->hlen = 0;
	c->scan = 0;
	c->line_start = 0;
	c->req_start = 0;
	c->nonempty = 0;
}

/*
 * Scans p[c->scan..n) of a head (offsets from its first byte). SCAN_DONE
 * sets *out_end past the final CRLF; SCAN_BAD is a bare LF or a control
 * byte other than HTAB and CR (CR alone inside a line fails in the parser).
 */
static int scan_head(struct http_conn *c, const uint8_t *p, size_t n, size_t *out_end)
{
	for (size_t i = c->scan; i < n; i++) {
		uint8_t b = p[i];

		if (b == '\n') {
			if (i == c->line_start || p[i - 1] != '\r')
				return SCAN_BAD;
			if (i - 1 == c->line_start) {
				if (c->nonempty) {
					*out_end = i + 1;
					return SCAN_DONE;
				}
				c->req_start = i + 1; /* empty line before the request */
			} else {
				c->nonempty = 1;
			}
			c->line_start = i + 1;
		} else if ((b < 0x20 && b != '\t' && b != '\r') || b == 0x7f) {
			return SCAN_BAD;
		}
	}
	c->scan = n;
	return SCAN_MORE;
}

/* ---- request parsing ---- */

struct req {
	int method;
	int minor; /* HTTP/1.minor */
	const uint8_t *target;
	size_t target_len;
	unsigned hosts, cls, tes, ranges, if_ranges;
	int host_bad, conn_close, conn_ka;
	uint64_t cl;
	const uint8_t *range, *if_range;
	size_t range_len, if_range_len;
};

static int host_char(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || is_digit(b) ||
	       (b && strchr("-._~!$&'()*+,;=:[]%", b) != NULL);
}

/* Connection: a list of tokens; we look for close and keep-alive. */
static void parse_connection(struct req *r, const uint8_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && is_ows(v[e - 1]))
			e--;
		if (ci_eq(v + s, e - s, "close"))
			r->conn_close = 1;
		else if (ci_eq(v + s, e - s, "keep-alive"))
			r->conn_ka = 1;
	}
}

/* One field line (no CRLF). 0 or -1 (400). */
static int parse_field(struct req *r, const uint8_t *l, size_t n)
{
	const uint8_t *colon = memchr(l, ':', n);
	size_t nl, vs, ve;

	if (!colon || colon == l)
		return -1;
	nl = (size_t)(colon - l);
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar(l[i]))
			return -1; /* also whitespace before the colon */
	vs = nl + 1;
	ve = n;
	while (vs < ve && is_ows(l[vs]))
		vs++;
	while (ve > vs && is_ows(l[ve - 1]))
		ve--;
	for (size_t i = vs; i < ve; i++)
		if (l[i] < 0x20 && l[i] != '\t')
			return -1; /* CR (DEL and other CTLs never reach here) */
	const uint8_t *v = l + vs;
	size_t vn = ve - vs;

	if (ci_eq(l, nl, "host")) {
		r->hosts++;
		for (size_t i = 0; i < vn; i++)
			if (!host_char(v[i]))
				r->host_bad = 1;
	} else if (ci_eq(l, nl, "content-length")) {
		size_t i = 0;

		if (r->cls++ || !parse_u64(v, vn, &i, &r->cl) || i != vn || r->cl == UINT64_MAX)
			return -1;
	} else if (ci_eq(l, nl, "transfer-encoding")) {
		r->tes++;
	} else if (ci_eq(l, nl, "connection")) {
		parse_connection(r, v, vn);
	} else if (ci_eq(l, nl, "range")) {
		r->ranges++;
		r->range = v;
		r->range_len = vn;
	} else if (ci_eq(l, nl, "if-range")) {
		r->if_ranges++;
		r->if_range = v;
		r->if_range_len = vn;
	}
	return 0;
}

/*
 * Parses a head p[0..n): request line, fields, final empty line (the scanner
 * guarantees every LF ends a CRLF and that the head ends in CRLF CRLF).
 * 0, or the status to answer (400, 505) with *out_detail.
 */
static unsigned parse_head(const uint8_t *p, size_t n, struct req *r, const char **out_detail)
{
	const uint8_t *end = p + n - 2; /* the final empty line */
	const uint8_t *eol = (const uint8_t *)memchr(p, '\n', n) - 1;
	const uint8_t *sp1, *sp2, *ver;
	size_t ll = (size_t)(eol - p);

	memset(r, 0, sizeof(*r));
	sp1 = memchr(p, ' ', ll);
	if (!sp1 || sp1 == p) {
		*out_detail = "bad request line";
		return 400;
	}
	for (const uint8_t *q = p; q < sp1; q++)
		if (!is_tchar(*q)) {
			*out_detail = "bad method";
			return 400;
		}
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1) {
		*out_detail = "bad request line";
		return 400;
	}
	for (const uint8_t *q = sp1 + 1; q < sp2; q++)
		if (*q <= 0x20 || *q == 0x7f) {
			*out_detail = "bad request target";
			return 400;
		}
	ver = sp2 + 1;
	if (eol - ver != 8 || memcmp(ver, "HTTP/", 5) || !is_digit(ver[5]) || ver[6] != '.' ||
	    !is_digit(ver[7])) {
		*out_detail = "bad HTTP version";
		return 400;
	}
	if (ver[5] != '1') {
		*out_detail = "HTTP version not supported";
		return 505;
	}
	r->minor = ver[7] - '0';
	if (sp1 - p == 3 && !memcmp(p, "GET", 3))
		r->method = M_GET;
	else if (sp1 - p == 4 && !memcmp(p, "HEAD", 4))
		r->method = M_HEAD;
	else
		r->method = M_OTHER;
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);

	for (const uint8_t *l = eol + 2; l < end;) {
		const uint8_t *le = (const uint8_t *)memchr(l, '\n', (size_t)(end - l)) - 1;

		if (is_ows(*l)) {
			*out_detail = "obs-fold or whitespace before a field";
			return 400;
		}
		if (parse_field(r, l, (size_t)(le - l))) {
			*out_detail = "bad header field";
			return 400;
		}
		l = le + 2;
	}
	return 0;
}

/* ---- target → file ---- */

/* The path of a request target: origin form, or absolute form with its
 * authority dropped; the query is cut. 0, or -1 when neither form. */
static int target_path(const uint8_t *t, size_t n, const uint8_t **out_p, size_t *out_n)
{
	size_t i = 0, j;

	if (t[0] != '/') {
		size_t s;

		if (ci_prefix(t, n, "http://"))
			s = 7;
		else if (ci_prefix(t, n, "https://"))
			s = 8;
		else
			return -1;
		for (i = s; i < n && t[i] != '/' && t[i] != '?'; i++)
			;
		if (i == s)
			return -1;
	}
	for (j = i; j < n && t[j] != '?'; j++)
		;
	*out_p = t + i;
	*out_n = j - i;
	return 0;
}

/* Percent-decodes s[0..n) into d, which may be s itself (writes never pass
 * reads). Decoded length, or -1: bad escape, %00, %2F. */
static long pct_decode(const uint8_t *s, size_t n, uint8_t *d)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t b = s[i];

		if (b == '%') {
			int h, l;

			if (n - i < 3)
				return -1;
			h = hexval(s[i + 1]);
			l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			b = (uint8_t)(h << 4 | l);
			if (b == 0 || b == '/')
				return -1;
			i += 2;
		}
		d[o++] = b;
	}
	return (long)o;
}

static int utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		size_t k;
		uint32_t cp, min;

		if (b < 0x80) {
			i++;
			continue;
		}
		if ((b & 0xe0) == 0xc0) {
			k = 1;
			cp = b & 0x1f;
			min = 0x80;
		} else if ((b & 0xf0) == 0xe0) {
			k = 2;
			cp = b & 0x0f;
			min = 0x800;
		} else if ((b & 0xf8) == 0xf0) {
			k = 3;
			cp = b & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (n - i <= k)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k + 1;
	}
	return 1;
}

/* A decoded path p[0..n) (p[0] == '/'): no `.` or `..` segment, no empty
 * segment but a trailing one. */
static int segments_ok(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i <= n;) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if (j == i && j < n)
			return 0;
		if (j - i == 1 && p[i] == '.')
			return 0;
		if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
			return 0;
		i = j + 1;
	}
	return 1;
}

/* The release and file a valid decoded path names, or NULL (404). */
static const struct proto_release *lookup(const struct http_engine *e, const uint8_t *p, size_t n,
					  size_t *out_file)
{
	const uint8_t *slash = n > 1 ? memchr(p + 1, '/', n - 1) : NULL;
	const struct proto_release *r;
	const uint8_t *rest, *fp;
	size_t rn, nl, fn;

	if (!slash || slash == p + 1)
		return NULL; /* "/", "/<id>" */
	r = e->catalog.by_id(e->catalog.ctx, (const char *)p + 1, (size_t)(slash - p - 1));
	if (!r || !r->n_files || !r->files || !r->torrent_name)
		return NULL;
	rest = slash + 1;
	rn = (size_t)(p + n - rest);
	nl = strlen(r->torrent_name);
	if (rn < nl || memcmp(rest, r->torrent_name, nl))
		return NULL;
	if (r->single_file) {
		if (rn != nl)
			return NULL;
		*out_file = 0;
		return r;
	}
	if (rn <= nl + 1 || rest[nl] != '/')
		return NULL; /* the torrent's top directory */
	fp = rest + nl + 1;
	fn = rn - nl - 1;
	/* Linear: proto_catalog has no path index (see the report). A decoded
	 * path holds no NUL, so strncmp stops at a shorter path's end. */
	for (size_t i = 0; i < r->n_files; i++) {
		const char *q = r->files[i].path;

		if (q && !strncmp(q, (const char *)fp, fn) && q[fn] == '\0') {
			*out_file = i;
			return r;
		}
	}
	return NULL;
}

/* ---- ranges ---- */

struct spec {
	uint64_t a, b;
	uint8_t suffix, has_b;
};

/* Parses a Range value into sp; the number of specs, or 0 when the field
 * must be ignored (invalid, or over HTTP_MAX_RANGES specs). */
static size_t parse_range(const uint8_t *v, size_t n, struct spec *sp)
{
	size_t i = 6, k = 0;

	if (!ci_prefix(v, n, "bytes="))
		return 0;
	for (;;) {
		while (i < n && is_ows(v[i]))
			i++;
		if (i < n && v[i] != ',') {
			struct spec *s;

			if (k == HTTP_MAX_RANGES)
				return 0;
			s = &sp[k++];
			memset(s, 0, sizeof(*s));
			if (v[i] == '-') {
				i++;
				s->suffix = 1;
				if (!parse_u64(v, n, &i, &s->a))
					return 0;
			} else {
				if (!parse_u64(v, n, &i, &s->a) || i == n || v[i] != '-')
					return 0;
				i++;
				s->has_b = (uint8_t)parse_u64(v, n, &i, &s->b);
				if (s->has_b && s->b < s->a)
					return 0;
			}
			while (i < n && is_ows(v[i]))
				i++;
		}
		if (i == n)
			break;
		if (v[i] != ',')
			return 0;
		i++;
	}
	return k;
}

/* If-Range: a strong match with the ETag (a date never matches: we send no
 * Last-Modified). */
static int if_range_matches(const struct http_resp *rp, const uint8_t *v, size_t n)
{
	uint8_t tag[80];
	struct wbuf w = { tag, 0, sizeof(tag), 0 };

	if (rp->etag == ETAG_NONE)
		return 0;
	w_etag(&w, rp);
	return !w.bad && n == w.n && !memcmp(v, tag, n);
}

/* Sets the parts of a GET with a usable Range; the status (200, 206, 416). */
static unsigned select_ranges(struct http_resp *rp, const struct req *r)
{
	struct spec sp[HTTP_MAX_RANGES];
	const uint64_t len = rp->file_len;
	size_t ns, k = 0;

	if (r->ranges != 1)
		return 200; /* none, or repeated: invalid, ignored */
	if (r->if_ranges > 1 ||
	    (r->if_ranges && !if_range_matches(rp, r->if_range, r->if_range_len)))
		return 200;
	ns = parse_range(r->range, r->range_len, sp);
	if (!ns)
		return 200;
	for (size_t i = 0; i < ns; i++) {
		uint64_t first, last;

		if (sp[i].suffix) {
			if (!sp[i].a || !len)
				continue;
			first = sp[i].a >= len ? 0 : len - sp[i].a;
			last = len - 1;
		} else {
			if (sp[i].a >= len)
				continue;
			first = sp[i].a;
			last = sp[i].has_b && sp[i].b < len - 1 ? sp[i].b : len - 1;
		}
		rp->parts[k].first = first;
		rp->parts[k].last = last;
		k++;
	}
	if (!k)
		return 416;
	if (k > 1) {
		if (rp->etag != ETAG_ROOT)
			return 200; /* no boundary to offer */
		for (size_t i = 0; i < k; i++)
			for (size_t j = i + 1; j < k; j++)
				if (rp->parts[i].first <= rp->parts[j].last &&
				    rp->parts[j].first <= rp->parts[i].last)
					return 200;
	}
	rp->n_parts = (uint8_t)k;
	return 206;
}

/* Content-Length of a 206 multipart body: part heads, payload, tail. */
static uint64_t multipart_length(const struct http_resp *rp)
{
	uint8_t tmp[HTTP_PIECE_MAX];
	uint64_t total = format_tail(rp, tmp, sizeof(tmp));

	for (unsigned i = 0; i < rp->n_parts; i++)
		total += format_part_head(rp, i, tmp, sizeof(tmp)) + rp->parts[i].last -
			 rp->parts[i].first + 1;
	return total;
}

/*
 * Answers one complete head p[0..n). When the head lies in hbuf (in_hbuf),
 * the target is decoded in place; otherwise into hbuf, which is free then.
 */
static void process(struct http_conn *c, const uint8_t *p, size_t n, int in_hbuf)
{
	const struct http_engine *e = c->e;
	struct http_resp *rp = &c->resp;
	struct req r;
	const char *detail = NULL;
	const struct proto_release *rel;
	const struct proto_file *f;
	const uint8_t *path;
	size_t path_len, fi = 0;
	unsigned st;
	int close, ka10, head;
	long dn;
	uint8_t *d;

	c->stats.http_requests_total++;
	st = parse_head(p, n, &r, &detail);
	if (st) {
		begin_error(c, st, 0, 1, 0, PROTO_CLOSE_MALFORMED, detail);
		return;
	}
	head = r.method == M_HEAD;
	if (r.minor == 0)
		close = r.conn_close || !r.conn_ka;
	else
		close = r.conn_close;
	ka10 = r.minor == 0;
	if (r.hosts > 1 || r.host_bad || (r.minor >= 1 && !r.hosts)) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED,
			    "missing, repeated or bad Host");
		return;
	}
	if (r.method == M_OTHER) {
		int body = r.tes || r.cl;

		begin_error(c, 405, 0, close || body, ka10,
			    body ? PROTO_CLOSE_BAD_REQUEST : PROTO_CLOSE_DONE,
			    body ? "request body not read" : NULL);
		return;
	}
	if (r.tes || r.cl) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED, "body on GET/HEAD");
		return;
	}
	if (target_path(r.target, r.target_len, &path, &path_len)) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED, "bad request target");
		return;
	}
	if (!path_len) { /* absolute form without a path: the root */
		begin_error(c, 404, head, close, ka10, PROTO_CLOSE_DONE, NULL);
		return;
	}
	d = in_hbuf ? c->hbuf + (path - c->hbuf) : c->hbuf;
	dn = pct_decode(path, path_len, d);
	if (dn < 0 || !utf8_ok(d, (size_t)dn) || !segments_ok(d, (size_t)dn)) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED, "bad request path");
		return;
	}
	rel = lookup(e, d, (size_t)dn, &fi);
	if (!rel) {
		begin_error(c, 404, head, close, ka10, PROTO_CLOSE_DONE, NULL);
		return;
	}
	f = &rel->files[fi];
	begin(c, 200, head, close, ka10);
	rp->release = rel->handle;
	rp->file = (uint32_t)fi;
	rp->file_len = f->length;
	if (!f->length) {
		rp->etag = ETAG_EMPTY;
	} else if (f->root) {
		rp->etag = ETAG_ROOT;
		memcpy(rp->root, f->root, 32);
	}
	st = r.method == M_GET ? select_ranges(rp, &r) : 200;
	if (st == 416) {
		begin_error(c, 416, head, close, ka10, PROTO_CLOSE_DONE, NULL);
		rp->file_len = f->length;
		return;
	}
	rp->status = (uint16_t)st;
	if (st == 200) {
		rp->n_parts = f->length ? 1 : 0;
		rp->parts[0].first = 0;
		rp->parts[0].last = f->length ? f->length - 1 : 0;
		rp->content_length = f->length;
	} else if (rp->n_parts == 1) {
		rp->content_length = rp->parts[0].last - rp->parts[0].first + 1;
	} else {
		rp->content_length = multipart_length(rp);
	}
}

/* The request line is unfinished at the bound: 414 when it starts like one
 * (a method token and a space), else 400. */
static int looks_like_request_line(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar(p[i]))
		i++;
	return i > 0 && i < n && p[i] == ' ';
}

static void oversized(struct http_conn *c, const uint8_t *p, size_t n)
{
	unsigned st = 431;

	if (!c->nonempty)
		st = looks_like_request_line(p + c->req_start, n - c->req_start) ? 414 : 400;

	c->stats.http_requests_total++;
	head_reset(c);
	begin_error(c, st, 0, 1, 0, st == 400 ? PROTO_CLOSE_MALFORMED : PROTO_CLOSE_OVERSIZED,
		    st == 431 ? "request head over its bound" : "request line over the head bound");
}

static void scan_bad(struct http_conn *c)
{
	c->stats.http_requests_total++;
	head_reset(c);
	bad_request(c, "bare LF or control byte in the request head");
}

/* Takes head bytes from buf; when a head is complete (or broken, or over
 * the bound) sets up its response. The bytes taken. */
static size_t feed(struct http_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	const size_t max = c->e->cfg.max_head;
	size_t end = 0, old = c->hlen, n;
	int rc;

	if (!old) {
		n = len < max ? len : max;
		rc = scan_head(c, buf, n, &end);
		if (rc == SCAN_DONE) {
			size_t rs = c->req_start;

			head_reset(c);
			process(c, buf + rs, end - rs, 0);
			return end;
		}
		if (rc == SCAN_BAD) {
			scan_bad(c);
			return len;
		}
		if (n == max) {
			oversized(c, buf, n);
			return len;
		}
		memcpy(c->hbuf, buf, n);
		c->hlen = n;
		c->head_since = c->stats.http_requests_total ? now : c->since;
		return n;
	}
	n = len < max - old ? len : max - old;
	memcpy(c->hbuf + old, buf, n);
	rc = scan_head(c, c->hbuf, old + n, &end);
	if (rc == SCAN_DONE) {
		size_t rs = c->req_start;

		head_reset(c);
		process(c, c->hbuf + rs, end - rs, 1);
		return end - old;
	}
	if (rc == SCAN_BAD) {
		scan_bad(c);
		return len;
	}
	c->hlen = old + n;
	if (c->hlen == max) {
		oversized(c, c->hbuf, max);
		return len;
	}
	return n;
}

/* ---- API ---- */

void http_config_default(struct http_config *cfg)
{
	cfg->max_head = HTTP_DEFAULT_MAX_HEAD;
	cfg->header_timeout_ms = HTTP_DEFAULT_HEADER_TIMEOUT_MS;
	cfg->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
	cfg->max_segment = HTTP_DEFAULT_MAX_SEGMENT;
}

int http_engine_init(struct http_engine *e, const struct http_config *cfg,
		     const struct proto_catalog *catalog)
{
	struct http_config d;

	if (!e || !catalog || !catalog->by_id)
		return -EINVAL;
	if (!cfg) {
		http_config_default(&d);
		cfg = &d;
	}
	if (cfg->max_head < HTTP_MIN_HEAD || cfg->max_head > HTTP_MAX_HEAD ||
	    !cfg->header_timeout_ms || !cfg->idle_timeout_ms || cfg->max_segment < 16384 ||
	    cfg->max_segment > HTTP_DEFAULT_MAX_SEGMENT || cfg->max_segment % 16384)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	e->catalog = *catalog;
	return 0;
}

int http_conn_init(struct http_conn *c, const struct http_engine *e, uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->e = e;
	c->since = now_ms;
	c->state = ST_READ;
	c->mem = malloc((size_t)e->cfg.max_head + HTTP_SEND_BUF);
	if (!c->mem)
		return -ENOMEM;
	c->hbuf = c->mem;
	c->sbuf = c->mem + e->cfg.max_head;
	return 0;
}

void http_conn_free(struct http_conn *c)
{
	free(c->mem);
	c->mem = c->hbuf = c->sbuf = NULL;
	c->state = ST_CLOSED;
}

size_t http_on_bytes(struct http_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms,
		     struct proto_out *out)
{
	size_t used = 0;

	c->slen = 0;
	if (c->state == ST_CLOSED)
		return len;
	progress(c, now_ms, out);
	for (;;) {
		if (c->state == ST_CLOSED || c->state == ST_CLOSING)
			return len;
		if (c->state == ST_SEND) {
			if (c->resp.close)
				return len; /* nothing after this response */
			break;
		}
		if (used == len || out->n >= out->cap || HTTP_SEND_BUF - c->slen < HTTP_PIECE_MAX)
			break;
		used += feed(c, buf + used, len - used, now_ms);
		progress(c, now_ms, out);
	}
	return used;
}

void http_on_writable(struct http_conn *c, uint64_t now_ms, struct proto_out *out)
{
	c->slen = 0;
	progress(c, now_ms, out);
}

int http_wants_write(const struct http_conn *c)
{
	return c->state == ST_SEND || c->state == ST_CLOSING;
}

int http_is_closed(const struct http_conn *c)
{
	return c->state == ST_CLOSED;
}

uint64_t http_next_deadline(const struct http_conn *c)
{
	const struct http_config *cfg = &c->e->cfg;

	switch (c->state) {
	case ST_CLOSED: return HTTP_NO_DEADLINE;
	case ST_CLOSING: return 0;
	case ST_SEND: return add_sat(c->since, cfg->idle_timeout_ms);
	default:
		if (c->hlen)
			return add_sat(c->head_since, cfg->header_timeout_ms);
		if (c->stats.http_requests_total)
			return add_sat(c->since, cfg->idle_timeout_ms);
		return add_sat(c->since, cfg->header_timeout_ms);
	}
}

void http_on_sent(struct http_conn *c, uint64_t now_ms)
{
	int waiting = c->state == ST_READ && !c->hlen && c->stats.http_requests_total;

	if ((c->state == ST_SEND || waiting) && now_ms > c->since)
		c->since = now_ms;
}

void http_on_tick(struct http_conn *c, uint64_t now_ms, struct proto_out *out)
{
	c->slen = 0;
	if (c->state == ST_CLOSED)
		return;
	if (c->state != ST_CLOSING) {
		if (now_ms < http_next_deadline(c))
			return; /* pending output is for http_on_writable */
		if (c->state == ST_READ && c->hlen) {
			head_reset(c);
			begin_error(c, 408, 0, 1, 0, PROTO_CLOSE_TIMEOUT, "request head timeout");
		} else {
			close_now(c, PROTO_CLOSE_TIMEOUT,
				  c->state == ST_SEND ? "response stalled" : "idle timeout");
		}
	}
	progress(c, now_ms, out);
}

void http_data_failed(struct http_conn *c, struct proto_out *out)
{
	if (c->state == ST_CLOSED)
		return;
	close_now(c, PROTO_CLOSE_DATA_ERROR, "payload failed verification");
	if (out->n < out->cap)
		push_close(c, out);
}
