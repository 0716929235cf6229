/*
 * http1: the HTTP/1.1 lexing and bounded output writing that the
 * appliance's three HTTP engines share: seed-control's API server
 * (control/httpd.c), its tracker client (control/announce.c) and the data
 * plane's range server (dataplane/proto/http.c).
 *
 * Lexing (RFC 9110, RFC 9112): byte classes (tchar, OWS, field-value
 * bytes), ASCII case-insensitive comparison, comma-separated lists, one
 * field line split into name and value, the HTTP-version, the request
 * target's origin and absolute forms, percent-decoding, decimal and
 * hexadecimal numbers, and the lines of a response head or chunked body.
 * These functions say what the bytes are and where they break; policy
 * stays with the engines: what a refusal answers (status, message,
 * close), which fields matter, how large a head or body may be.
 *
 * Writing: struct http1_wbuf appends bytes, strings, decimals, hex and
 * percent-encoded bytes to a caller buffer without ever passing its
 * capacity. An append that does not fit sets `full` and is dropped, and
 * so is every later one, so a head is written one field a line and
 * checked once at the end. A writer with no buffer only counts, so a
 * response can be sized before room is reserved for it.
 *
 * Invariants: nothing here allocates, prints, reads a clock or keeps
 * state between calls (safe from any thread). Inputs are byte ranges
 * [p, end) and no function reads outside them; the only C strings read
 * are literals the caller wrote (lit, tok). No write passes a capacity
 * given. Numbers are parsed with checked arithmetic: they saturate or are
 * refused as each function says, never wrap. Out-parameters are written
 * only on success unless a function says otherwise.
 *
 * Call order: none; every function stands alone.
 */
#ifndef SEED_HTTP1_H
#define SEED_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- bytes ---- */

/* RFC 9110 tchar: the bytes of a token (method, field name). */
bool http1_is_tchar(uint8_t b);

static inline bool http1_is_digit(uint8_t b)
{
	return b >= '0' && b <= '9';
}

/* OWS: SP or HTAB. */
static inline bool http1_is_ows(uint8_t b)
{
	return b == ' ' || b == '\t';
}

/* A byte of a field value or reason phrase: HTAB, SP, VCHAR, obs-text
 * (0x80-0xff). Not CR, LF, NUL, other controls or DEL. */
static inline bool http1_is_field_byte(uint8_t b)
{
	return b == '\t' || (b >= 0x20 && b != 0x7f);
}

/* ASCII lower case; other bytes unchanged. */
static inline uint8_t http1_lower(uint8_t b)
{
	return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b;
}

/* ---- comparison and lists ---- */

/* [p, end) equals lit, ASCII case ignored on both sides. */
bool http1_ieq(const uint8_t *p, const uint8_t *end, const char *lit);

/* [p, end) starts with lit, ASCII case ignored. */
bool http1_iprefix(const uint8_t *p, const uint8_t *end, const char *lit);

/*
 * Walks a comma-separated list (RFC 9110 §5.6.1) in [*cur, end): skips
 * OWS and empty elements, then gives the next element [*out_elem,
 * *out_elem + *out_len) with the OWS around it trimmed (never empty) and
 * moves *cur past it. false at the end of the list (*cur == end then).
 */
bool http1_list_next(const uint8_t **cur, const uint8_t *end, const uint8_t **out_elem,
		     size_t *out_len);

/* The list [p, end) has an element equal to tok, case ignored. */
bool http1_list_has(const uint8_t *p, const uint8_t *end, const char *tok);

/* ---- numbers ---- */

/*
 * The whole of [p, end) as 1*DIGIT (no sign, no space; leading zeros
 * allowed). 0 with *out_v; -EINVAL when empty or a byte is not a digit
 * (*out_off, if not NULL, is the offset of that byte, 0 when empty);
 * -ERANGE when every byte is a digit but the value passes UINT64_MAX
 * (*out_v is then UINT64_MAX). A non-digit anywhere wins over an overflow
 * before it.
 */
int http1_parse_u64(const uint8_t *p, const uint8_t *end, uint64_t *out_v, size_t *out_off);

/*
 * The digits at the start of [p, end), for numbers inside a value (a
 * Range spec). Returns how many there were (0: none) and their value in
 * *out_v, saturating at UINT64_MAX (always written; 0 when none).
 */
size_t http1_scan_u64(const uint8_t *p, const uint8_t *end, uint64_t *out_v);

/*
 * A chunk-size line [p, end) without its line end (RFC 9112 §7.1):
 * 1*HEXDIG, then nothing or a chunk extension starting with ';' or BWS
 * (SP, HTAB), not looked into. 0 with *out_size; -E2BIG as soon as the
 * digits read pass max (before any later byte is looked at;
 * *out_off = 0); -EINVAL when there is no digit or the first byte after
 * the digits is not ';', SP or HTAB (*out_off at that byte). out_off may
 * be NULL.
 */
int http1_chunk_size(const uint8_t *p, const uint8_t *end, uint64_t max, uint64_t *out_size,
		     size_t *out_off);

/* ---- lines, fields, versions, targets ---- */

/*
 * The line that starts at p: 1 with [p, *out_eol) its bytes without the
 * CRLF (or bare LF, which RFC 9112 §2.2 lets a recipient accept) and
 * *out_next the start of the next line. 0 when no LF has arrived in
 * [p, end) (a CR as the very last byte may still get its LF). -EBADMSG
 * for a CR not followed by LF, with *out_eol at that CR.
 */
int http1_line(const uint8_t *p, const uint8_t *end, const uint8_t **out_eol,
	       const uint8_t **out_next);

/* What a lexer refused; off is the byte offset from the input's start. */
enum http1_fault_kind {
	HTTP1_FAULT_FOLD = 1, /* field line starting with SP/HTAB (obs-fold) */
	HTTP1_FAULT_NAME,     /* a byte that is not a tchar before the ':' */
	HTTP1_FAULT_COLON,    /* field line with an empty name or no ':' */
	HTTP1_FAULT_VALUE,    /* a value byte that is not http1_is_field_byte() */
	HTTP1_FAULT_FORM,     /* target neither origin- nor absolute-form */
	HTTP1_FAULT_HOST,     /* absolute-form target with an empty authority */
};

struct http1_fault {
	enum http1_fault_kind kind;
	size_t off;
};

/* A field line split; the pointers borrow the line. */
struct http1_field {
	const uint8_t *name; /* 1*tchar, case as sent */
	size_t name_len;
	const uint8_t *value; /* OWS around it trimmed; may be empty */
	size_t value_len;
};

/*
 * Splits the field line [p, end) (no line end) as `name ":" OWS value
 * OWS` (RFC 9112 §5). 0, or -EBADMSG with *out_fault (may be NULL) saying
 * what and where, checked in this order: FOLD (the line starts with OWS),
 * NAME (a non-tchar other than ':' ends the name: whitespace before the
 * colon lands here), COLON (no ':' at all, or an empty name), VALUE.
 */
int http1_field_parse(const uint8_t *p, const uint8_t *end, struct http1_field *out,
		      struct http1_fault *out_fault);

/*
 * [p, end) is exactly an HTTP-version, "HTTP/" DIGIT "." DIGIT
 * (case-sensitive, RFC 9112 §2.3). 0 with the digits, or -EBADMSG.
 */
int http1_version(const uint8_t *p, const uint8_t *end, unsigned *out_major, unsigned *out_minor);

/* A request target split; the pointers borrow it. */
struct http1_target {
	const uint8_t *path;  /* starts with '/'; NULL for absolute-form with no path */
	size_t path_len;      /* 0 exactly when path is NULL */
	const uint8_t *query; /* after '?' (possibly empty); NULL when there is no '?' */
	size_t query_len;
};

/*
 * Splits a request target [p, end) in origin-form (`/path[?query]`) or
 * absolute-form (`http://authority[/path][?query]`, `https://` too,
 * scheme case-insensitive, RFC 9112 §3.2.2), dropping the authority. The
 * bytes themselves are not checked. 0, or -EBADMSG with *out_fault (may
 * be NULL): FORM (neither form, or empty), HOST (empty authority).
 */
int http1_target_parse(const uint8_t *p, const uint8_t *end, struct http1_target *out,
		       struct http1_fault *out_fault);

#define HTTP1_PCT_NO_SLASH 1u /* http1_pct_decode: refuse %2F */

/*
 * Percent-decodes [p, end) into dst[0..cap) ('+' is not special); dst may
 * be p (decoding only shrinks). Returns the decoded length; -EINVAL for a
 * bad escape (not '%' and two hex digits), a NUL (raw or %00: it would cut
 * every C string after us) or, with HTTP1_PCT_NO_SLASH, an encoded '/';
 * -ENOBUFS when cap is too small. Faults are reported in input order.
 * dst is not NUL-terminated.
 */
ssize_t http1_pct_decode(const uint8_t *p, const uint8_t *end, uint8_t *dst, size_t cap,
			 unsigned flags);

/* The RFC 9110 reason phrase of a status we send or meet ("Not Found"),
 * or NULL for one this table does not hold. */
const char *http1_reason(unsigned status);

/* ---- the bounded writer ---- */

struct http1_wbuf {
	uint8_t *p; /* NULL: count only */
	size_t cap;
	size_t len; /* bytes written (or counted) */
	bool full;  /* an append did not fit: it and every later one dropped */
};

/* Writes into buf[0..cap); buf NULL makes a writer that only counts (it
 * is full only if the count would pass SIZE_MAX). */
void http1_wbuf_init(struct http1_wbuf *w, void *buf, size_t cap);

/* Appends p[0..n), all or nothing. */
void http1_put(struct http1_wbuf *w, const void *p, size_t n);

/* Appends the NUL-terminated s (not its NUL). */
void http1_put_str(struct http1_wbuf *w, const char *s);

/* Appends v in decimal. */
void http1_put_u64(struct http1_wbuf *w, uint64_t v);

/* Appends p[0..n) as 2*n hex digits (lowercase, or uppercase with upper). */
void http1_put_hex(struct http1_wbuf *w, const uint8_t *p, size_t n, bool upper);

/* Appends p[0..n) with every byte that is not RFC 3986 unreserved (ALPHA
 * DIGIT - . _ ~) as %XX, uppercase hex (RFC 3986 §2.1). */
void http1_put_pct(struct http1_wbuf *w, const uint8_t *p, size_t n);

#endif
