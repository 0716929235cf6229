/*
 * http1: see http1.h for the contract.
 *
 * Every parser walks its range once, front to back, and decides at the
 * first byte that breaks the grammar, so a fault's offset is the byte an
 * operator should look at. Hex digits come from lib/hex (hex_digit,
 * hex_encode): one home for what a hex digit is.
 */
#include "http1.h"

#include <errno.h>
#include <string.h>

#include "hex.h"

bool http1_is_tchar(uint8_t b)
{
	if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || http1_is_digit(b))
		return true;
	return b && strchr("!#$%&'*+-.^_`|~", b) != NULL;
}

/* ---- comparison and lists ---- */

bool http1_ieq(const uint8_t *p, const uint8_t *end, const char *lit)
{
	size_t n = (size_t)(end - p);

	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (http1_lower(p[i]) != http1_lower((uint8_t)lit[i]))
			return false;
	return true;
}

bool http1_iprefix(const uint8_t *p, const uint8_t *end, const char *lit)
{
	size_t l = strlen(lit);

	return (size_t)(end - p) >= l && http1_ieq(p, p + l, lit);
}

bool http1_list_next(const uint8_t **cur, const uint8_t *end, const uint8_t **out_elem,
		     size_t *out_len)
{
	const uint8_t *i = *cur, *a, *b;

	while (i < end && (http1_is_ows(*i) || *i == ','))
		i++;
	*cur = i;
	if (i == end)
		return false;
	a = i;
	while (i < end && *i != ',')
		i++;
	b = i;
	while (b > a && http1_is_ows(b[-1]))
		b--;
	*cur = i;
	*out_elem = a;
	*out_len = (size_t)(b - a);
	return true;
}

bool http1_list_has(const uint8_t *p, const uint8_t *end, const char *tok)
{
	const uint8_t *e;
	size_t n;

	while (http1_list_next(&p, end, &e, &n))
		if (http1_ieq(e, e + n, tok))
			return true;
	return false;
}

/* ---- numbers ---- */

int http1_parse_u64(const uint8_t *p, const uint8_t *end, uint64_t *out_v, size_t *out_off)
{
	uint64_t v = 0;
	bool over = false;

	if (p == end) {
		if (out_off)
			*out_off = 0;
		return -EINVAL;
	}
	for (const uint8_t *q = p; q < end; q++) {
		unsigned d;

		if (!http1_is_digit(*q)) {
			if (out_off)
				*out_off = (size_t)(q - p);
			return -EINVAL;
		}
		d = (unsigned)(*q - '0');
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (over) {
		*out_v = UINT64_MAX;
		return -ERANGE;
	}
	*out_v = v;
	return 0;
}

size_t http1_scan_u64(const uint8_t *p, const uint8_t *end, uint64_t *out_v)
{
	const uint8_t *q = p;
	uint64_t v = 0;

	for (; q < end && http1_is_digit(*q); q++) {
		unsigned d = (unsigned)(*q - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*out_v = v;
	return (size_t)(q - p);
}

int http1_chunk_size(const uint8_t *p, const uint8_t *end, uint64_t max, uint64_t *out_size,
		     size_t *out_off)
{
	const uint8_t *q = p;
	uint64_t v = 0;
	int d;

	for (; q < end && (d = hex_digit(*q)) >= 0; q++) {
		if (v > (UINT64_MAX - (unsigned)d) / 16 || v * 16 + (unsigned)d > max) {
			if (out_off)
				*out_off = 0;
			return -E2BIG;
		}
		v = v * 16 + (unsigned)d;
	}
	if (q == p || (q < end && *q != ';' && !http1_is_ows(*q))) {
		if (out_off)
			*out_off = (size_t)(q - p);
		return -EINVAL;
	}
	*out_size = v;
	return 0;
}

/* ---- lines, fields, versions, targets ---- */

int http1_line(const uint8_t *p, const uint8_t *end, const uint8_t **out_eol,
	       const uint8_t **out_next)
{
	const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
	const uint8_t *cr = memchr(p, '\r', (size_t)((nl ? nl : end) - p));

	if (cr && cr + 1 != nl) {
		if (!nl && cr + 1 == end)
			return 0; /* its LF may be on the way */
		*out_eol = cr;
		return -EBADMSG;
	}
	if (!nl)
		return 0;
	*out_eol = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	*out_next = nl + 1;
	return 1;
}

static int fault(struct http1_fault *f, enum http1_fault_kind kind, const uint8_t *at,
		 const uint8_t *start)
{
	if (f) {
		f->kind = kind;
		f->off = (size_t)(at - start);
	}
	return -EBADMSG;
}

int http1_field_parse(const uint8_t *p, const uint8_t *end, struct http1_field *out,
		      struct http1_fault *out_fault)
{
	const uint8_t *c = p, *v0, *v1;

	if (p < end && http1_is_ows(*p))
		return fault(out_fault, HTTP1_FAULT_FOLD, p, p);
	while (c < end && http1_is_tchar(*c))
		c++;
	if (c < end && *c != ':')
		return fault(out_fault, HTTP1_FAULT_NAME, c, p);
	if (c == end || c == p)
		return fault(out_fault, HTTP1_FAULT_COLON, c, p);
	for (v0 = c + 1; v0 < end && http1_is_ows(*v0); v0++)
		;
	for (v1 = end; v1 > v0 && http1_is_ows(v1[-1]); v1--)
		;
	for (const uint8_t *q = v0; q < v1; q++)
		if (!http1_is_field_byte(*q))
			return fault(out_fault, HTTP1_FAULT_VALUE, q, p);
	out->name = p;
	out->name_len = (size_t)(c - p);
	out->value = v0;
	out->value_len = (size_t)(v1 - v0);
	return 0;
}

int http1_version(const uint8_t *p, const uint8_t *end, unsigned *out_major, unsigned *out_minor)
{
	if (end - p != 8 || memcmp(p, "HTTP/", 5) || !http1_is_digit(p[5]) || p[6] != '.' ||
	    !http1_is_digit(p[7]))
		return -EBADMSG;
	*out_major = (unsigned)(p[5] - '0');
	*out_minor = (unsigned)(p[7] - '0');
	return 0;
}

int http1_target_parse(const uint8_t *p, const uint8_t *end, struct http1_target *out,
		       struct http1_fault *out_fault)
{
	const uint8_t *path = p, *q;

	if (p == end || *p != '/') {
		const uint8_t *a;

		if (http1_iprefix(p, end, "http://"))
			a = p + 7;
		else if (http1_iprefix(p, end, "https://"))
			a = p + 8;
		else
			return fault(out_fault, HTTP1_FAULT_FORM, p, p);
		for (path = a; path < end && *path != '/' && *path != '?'; path++)
			;
		if (path == a)
			return fault(out_fault, HTTP1_FAULT_HOST, a, p);
	}
	q = memchr(path, '?', (size_t)(end - path));
	out->path_len = (size_t)((q ? q : end) - path);
	out->path = out->path_len ? path : NULL;
	out->query = q ? q + 1 : NULL;
	out->query_len = q ? (size_t)(end - q - 1) : 0;
	return 0;
}

ssize_t http1_pct_decode(const uint8_t *p, const uint8_t *end, uint8_t *dst, size_t cap,
			 unsigned flags)
{
	size_t o = 0;

	while (p < end) {
		uint8_t b = *p;

		if (b == '%') {
			int h, l;

			if (end - p < 3)
				return -EINVAL;
			h = hex_digit(p[1]);
			l = hex_digit(p[2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			b = (uint8_t)(h << 4 | l);
			if (b == '/' && (flags & HTTP1_PCT_NO_SLASH))
				return -EINVAL;
			p += 3;
		} else {
			p++;
		}
		if (!b)
			return -EINVAL;
		if (o == cap)
			return -ENOBUFS;
		dst[o++] = b;
	}
	return (ssize_t)o;
}

struct reason {
	uint16_t code;
	const char *text;
};

static const struct reason reasons[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 204, "No Content" },
	{ 206, "Partial Content" },
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
	{ 416, "Range Not Satisfiable" },
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

const char *http1_reason(unsigned status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == status)
			return reasons[i].text;
	return NULL;
}

/* ---- the bounded writer ---- */

void http1_wbuf_init(struct http1_wbuf *w, void *buf, size_t cap)
{
	w->p = buf;
	w->cap = buf ? cap : SIZE_MAX;
	w->len = 0;
	w->full = false;
}

void http1_put(struct http1_wbuf *w, const void *p, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (w->p && n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void http1_put_str(struct http1_wbuf *w, const char *s)
{
	http1_put(w, s, strlen(s));
}

void http1_put_u64(struct http1_wbuf *w, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	http1_put(w, d + sizeof(d) - n, n);
}

void http1_put_hex(struct http1_wbuf *w, const uint8_t *p, size_t n, bool upper)
{
	char d[2 * 32 + 1];

	while (n) {
		size_t k = n < 32 ? n : 32;

		hex_encode(p, k, d);
		if (upper)
			for (size_t i = 0; i < 2 * k; i++)
				if (d[i] >= 'a')
					d[i] = (char)(d[i] - 32);
		http1_put(w, d, 2 * k);
		p += k;
		n -= k;
	}
}

static bool is_unreserved(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || http1_is_digit(b) || b == '-' ||
	       b == '.' || b == '_' || b == '~';
}

void http1_put_pct(struct http1_wbuf *w, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (is_unreserved(p[i])) {
			http1_put(w, &p[i], 1);
		} else {
			http1_put(w, "%", 1);
			http1_put_hex(w, &p[i], 1, true);
		}
	}
}
