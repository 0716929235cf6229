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
 * promises. The lexing (field lines, version, target forms, Range numbers,
 * percent-decoding) and the bounded writer are lib/http1's, the only
 * library proto links; UTF-8 is lib/utf8's.
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

#include "http1.h"
#include "utf8.h"

enum { ST_READ, ST_SEND, ST_CLOSING, ST_CLOSED };
enum { RS_HEAD, RS_PART_HEAD, RS_DATA, RS_TAIL, RS_END };
enum { ETAG_NONE, ETAG_ROOT, ETAG_EMPTY };
enum { M_GET, M_HEAD, M_OTHER };

/* The engine sends 200, 206, 400, 404, 405, 408, 414, 416, 431 and 505;
 * error bodies are "<code> <reason>\n". */
static const char *status_reason(unsigned code)
{
	const char *r = http1_reason(code);

	return r ? r : "Error";
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- output formatting: bounded appenders (lib/http1), no sprintf ---- */

/* The multipart boundary: "BitStream-" and 32 hex digits of the root (a
 * file cannot contain a hash of itself, so the boundary never occurs in
 * the payload). */
static void w_boundary(struct http1_wbuf *w, const struct http_resp *rp)
{
	http1_put_str(w, "BitStream-");
	http1_put_hex(w, rp->root, 16, false);
}

static void w_etag(struct http1_wbuf *w, const struct http_resp *rp)
{
	if (rp->etag == ETAG_ROOT) {
		http1_put_str(w, "\"");
		http1_put_hex(w, rp->root, 32, false);
		http1_put_str(w, "\"");
	} else if (rp->etag == ETAG_EMPTY) {
		http1_put_str(w, HTTP_EMPTY_ETAG);
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
	struct http1_wbuf w;
	const char *reason = status_reason(rp->status);
	int multipart = rp->status == 206 && rp->n_parts > 1;

	http1_wbuf_init(&w, dst, cap);
	http1_put_str(&w, "HTTP/1.1 ");
	http1_put_u64(&w, rp->status);
	http1_put_str(&w, " ");
	http1_put_str(&w, reason);
	http1_put_str(&w, "\r\nServer: BitStream\r\n");
	if (rp->error) {
		if (rp->status == 416) {
			http1_put_str(&w, "Content-Range: bytes */");
			http1_put_u64(&w, rp->file_len);
			http1_put_str(&w, "\r\n");
		}
		if (rp->status == 405)
			http1_put_str(&w, "Allow: GET, HEAD\r\n");
		http1_put_str(&w, "Content-Type: text/plain\r\nContent-Length: ");
		http1_put_u64(&w, error_body_len(rp->status));
		http1_put_str(&w, "\r\n");
	} else {
		http1_put_str(&w, "Accept-Ranges: bytes\r\n");
		if (rp->etag != ETAG_NONE) {
			http1_put_str(&w, "ETag: ");
			w_etag(&w, rp);
			http1_put_str(&w, "\r\n");
		}
		if (multipart) {
			http1_put_str(&w, "Content-Type: multipart/byteranges; boundary=");
			w_boundary(&w, rp);
			http1_put_str(&w, "\r\n");
		} else {
			http1_put_str(&w, "Content-Type: application/octet-stream\r\n");
		}
		http1_put_str(&w, "Content-Length: ");
		http1_put_u64(&w, rp->content_length);
		http1_put_str(&w, "\r\n");
		if (rp->status == 206 && !multipart) {
			http1_put_str(&w, "Content-Range: bytes ");
			http1_put_u64(&w, rp->parts[0].first);
			http1_put_str(&w, "-");
			http1_put_u64(&w, rp->parts[0].last);
			http1_put_str(&w, "/");
			http1_put_u64(&w, rp->file_len);
			http1_put_str(&w, "\r\n");
		}
	}
	if (rp->close)
		http1_put_str(&w, "Connection: close\r\n");
	else if (rp->ka10)
		http1_put_str(&w, "Connection: keep-alive\r\n");
	http1_put_str(&w, "\r\n");
	if (rp->error && !rp->head_only) {
		http1_put_u64(&w, rp->status);
		http1_put_str(&w, " ");
		http1_put_str(&w, reason);
		http1_put_str(&w, "\n");
	}
	return w.full ? 0 : w.len;
}

/* The delimiter and header of part i of a multipart body (the first has no
 * leading CRLF: RFC 2046 lets it belong to the empty preamble). */
static size_t format_part_head(const struct http_resp *rp, unsigned i, uint8_t *dst, size_t cap)
{
	struct http1_wbuf w;

	http1_wbuf_init(&w, dst, cap);
	http1_put_str(&w, i ? "\r\n--" : "--");
	w_boundary(&w, rp);
	http1_put_str(&w, "\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ");
	http1_put_u64(&w, rp->parts[i].first);
	http1_put_str(&w, "-");
	http1_put_u64(&w, rp->parts[i].last);
	http1_put_str(&w, "/");
	http1_put_u64(&w, rp->file_len);
	http1_put_str(&w, "\r\n\r\n");
	return w.full ? 0 : w.len;
}

static size_t format_tail(const struct http_resp *rp, uint8_t *dst, size_t cap)
{
	struct http1_wbuf w;

	http1_wbuf_init(&w, dst, cap);
	http1_put_str(&w, "\r\n--");
	w_boundary(&w, rp);
	http1_put_str(&w, "--\r\n");
	return w.full ? 0 : w.len;
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

/* Sends the len bytes a format_* call just wrote at the end of sbuf; len 0
 * (they did not fit in their bound) closes the connection instead, naming
 * what. Returns whether they were sent. */
static bool push_piece(struct http_conn *c, struct proto_out *out, size_t len, const char *what)
{
	if (!len) {
		close_now(c, PROTO_CLOSE_MALFORMED, what);
		return false;
	}
	push_send(c, out, len);
	return true;
}

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
		if (!push_piece(c, out, len, "response head over its bound"))
			return 1;
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
		if (push_piece(c, out, len, "part head over its bound")) {
			rp->off = rp->parts[rp->part].first;
			rp->step = RS_DATA;
		}
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
		if (push_piece(c, out, len, "tail over its bound"))
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
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || http1_is_digit(b) ||
	       (b && strchr("-._~!$&'()*+,;=:[]%", b) != NULL);
}

/* One field line (no CRLF). 0, or -1 (400) with *out_detail. */
static int parse_field(struct req *r, const uint8_t *l, size_t n, const char **out_detail)
{
	struct http1_field f;
	struct http1_fault ft;
	const uint8_t *name, *nend, *v;
	size_t vn;

	if (http1_field_parse(l, l + n, &f, &ft)) {
		/* a CR alone inside the line lands in VALUE or NAME */
		*out_detail = ft.kind == HTTP1_FAULT_FOLD ? "obs-fold or whitespace before a field"
							  : "bad header field";
		return -1;
	}
	name = f.name;
	nend = name + f.name_len;
	v = f.value;
	vn = f.value_len;
	if (http1_ieq(name, nend, "host")) {
		r->hosts++;
		for (size_t i = 0; i < vn; i++)
			if (!host_char(v[i]))
				r->host_bad = 1;
	} else if (http1_ieq(name, nend, "content-length")) {
		if (r->cls++ || http1_parse_u64(v, v + vn, &r->cl, NULL) || r->cl == UINT64_MAX) {
			*out_detail = "bad header field";
			return -1;
		}
	} else if (http1_ieq(name, nend, "transfer-encoding")) {
		r->tes++;
	} else if (http1_ieq(name, nend, "connection")) {
		r->conn_close |= http1_list_has(v, v + vn, "close");
		r->conn_ka |= http1_list_has(v, v + vn, "keep-alive");
	} else if (http1_ieq(name, nend, "range")) {
		r->ranges++;
		r->range = v;
		r->range_len = vn;
	} else if (http1_ieq(name, nend, "if-range")) {
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
	unsigned major, minor;

	memset(r, 0, sizeof(*r));
	sp1 = memchr(p, ' ', ll);
	if (!sp1 || sp1 == p) {
		*out_detail = "bad request line";
		return 400;
	}
	for (const uint8_t *q = p; q < sp1; q++)
		if (!http1_is_tchar(*q)) {
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
	if (http1_version(ver, eol, &major, &minor)) {
		*out_detail = "bad HTTP version";
		return 400;
	}
	if (major != 1) {
		*out_detail = "HTTP version not supported";
		return 505;
	}
	r->minor = (int)minor;
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

		if (parse_field(r, l, (size_t)(le - l), out_detail))
			return 400;
		l = le + 2;
	}
	return 0;
}

/* ---- target → file ---- */

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
static const struct proto_release *lookup(const struct http_conn *c, const uint8_t *p, size_t n,
					  size_t *out_file)
{
	const uint8_t *slash = n > 1 ? memchr(p + 1, '/', n - 1) : NULL;
	const struct proto_release *r;
	const uint8_t *rest, *fp;
	size_t rn, nl, fn;

	if (!slash || slash == p + 1)
		return NULL; /* "/", "/<id>" */
	r = c->e->catalog.by_id(c->e->catalog.ctx, c->user, (const char *)p + 1,
				(size_t)(slash - p - 1));
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
	if (r->by_path) {
		/* binary search; a decoded path holds no NUL, so fp[0..fn)
		 * against a path compares as strcmp would */
		size_t lo = 0, hi = r->n_files;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2, i = r->by_path[mid];
			const char *q = i < r->n_files ? r->files[i].path : NULL;
			if (!q)
				return NULL; /* a view without paths: never served */
			int d = strncmp(q, (const char *)fp, fn);
			if (!d)
				d = q[fn] != '\0';
			if (!d) {
				*out_file = i;
				return r;
			}
			if (d < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return NULL;
	}
	/* Linear, for a view without the index (tests, tools). A decoded
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

/* One range spec, the whole of e[0..n): `a-b`, `a-` or `-n`. 0 or -1. */
static int parse_spec(const uint8_t *e, size_t n, struct spec *s)
{
	const uint8_t *end = e + n;
	size_t i, d;

	memset(s, 0, sizeof(*s));
	if (e[0] == '-') {
		s->suffix = 1;
		d = http1_scan_u64(e + 1, end, &s->a);
		return d && 1 + d == n ? 0 : -1;
	}
	i = http1_scan_u64(e, end, &s->a);
	if (!i || i == n || e[i] != '-')
		return -1;
	i++;
	d = http1_scan_u64(e + i, end, &s->b);
	s->has_b = d > 0;
	if (s->has_b && s->b < s->a)
		return -1;
	return i + d == n ? 0 : -1;
}

/* Parses a Range value into sp; the number of specs, or 0 when the field
 * must be ignored (invalid, or over HTTP_MAX_RANGES specs). Empty list
 * elements are skipped (RFC 9110 §5.6.1). */
static size_t parse_range(const uint8_t *v, size_t n, struct spec *sp)
{
	const uint8_t *cur, *e;
	size_t en, k = 0;

	if (!http1_iprefix(v, v + n, "bytes="))
		return 0;
	cur = v + 6;
	while (http1_list_next(&cur, v + n, &e, &en)) {
		if (k == HTTP_MAX_RANGES || parse_spec(e, en, &sp[k]))
			return 0;
		k++;
	}
	return k;
}

/* If-Range: a strong match with the ETag (a date never matches: we send no
 * Last-Modified). */
static int if_range_matches(const struct http_resp *rp, const uint8_t *v, size_t n)
{
	uint8_t tag[80];
	struct http1_wbuf w;

	if (rp->etag == ETAG_NONE)
		return 0;
	http1_wbuf_init(&w, tag, sizeof(tag));
	w_etag(&w, rp);
	return !w.full && n == w.len && !memcmp(v, tag, n);
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
	struct http_resp *rp = &c->resp;
	struct req r;
	const char *detail = NULL;
	const struct proto_release *rel;
	const struct proto_file *f;
	struct http1_target t;
	size_t fi = 0;
	unsigned st;
	int close, ka10, head;
	ssize_t dn;
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
	if (http1_target_parse(r.target, r.target + r.target_len, &t, NULL)) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED, "bad request target");
		return;
	}
	if (!t.path) { /* absolute form without a path: the root */
		begin_error(c, 404, head, close, ka10, PROTO_CLOSE_DONE, NULL);
		return;
	}
	/* the query is ignored; a '/' may only be raw */
	d = in_hbuf ? c->hbuf + (t.path - c->hbuf) : c->hbuf;
	dn = http1_pct_decode(t.path, t.path + t.path_len, d, t.path_len, HTTP1_PCT_NO_SLASH);
	if (dn < 0 || !utf8_valid(d, (size_t)dn) || !segments_ok(d, (size_t)dn)) {
		begin_error(c, 400, head, 1, 0, PROTO_CLOSE_MALFORMED, "bad request path");
		return;
	}
	rel = lookup(c, d, (size_t)dn, &fi);
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

	while (i < n && http1_is_tchar(p[i]))
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

uint64_t http_requests_served(const struct http_conn *c)
{
	return c->stats.http_responses_2xx_total;
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
