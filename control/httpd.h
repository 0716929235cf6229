/*
 * httpd: the sans-I/O HTTP/1.1 server connection engine of seed-control. It
 * carries the API (Unix socket) and the status listener (TCP) of
 * docs/api.md: small requests with JSON bodies, small-to-medium responses
 * (a /metrics page of a few hundred KiB), pipelining, keep-alive.
 *
 * The engine never touches a socket or a clock and has no globals. The
 * caller owns the I/O: it feeds the bytes it received, takes parsed requests
 * one at a time, answers each with httpd_respond*() (which appends the
 * response to an output buffer the connection owns), writes the output to
 * the socket and reports how many bytes went out. Time (ms, the caller's
 * monotonic clock) is an argument.
 *
 * Call order, per connection:
 *
 *   httpd_conn_init(c, cfg, now)
 *   loop:
 *     n = httpd_conn_feed(c, buf, len, now)     keep buf[n..len) for later
 *     while ((r = httpd_conn_next(c, &req)) != 0):
 *       r == 1:  route req, then httpd_respond(c, ...) or
 *                httpd_respond_error(c, ...)    (exactly one answer)
 *       r < 0:   st = httpd_conn_error(c, &msg);
 *                httpd_respond_error(c, st, msg, NULL); break
 *     httpd_conn_output(c, &p, &len); write; httpd_conn_sent(c, written, now)
 *     close when httpd_conn_wants_close(c) and the output is empty, or when
 *     httpd_conn_timed_out(c, now) (arm a timer at httpd_conn_deadline(c))
 *   httpd_conn_free(c)
 *
 * httpd_conn_next() returns 0 when it needs more input, and also while more
 * than HTTPD_PIPELINE_OUT_MAX bytes of earlier responses are unsent: call it
 * again after httpd_conn_sent() as well as after httpd_conn_feed(). That is
 * the backpressure that stops a pipelining client that never reads from
 * growing the output without bound.
 *
 * Requests (RFC 9112):
 *  - Request line `METHOD SP request-target SP HTTP/1.x CRLF`. Methods GET,
 *    HEAD, POST, PUT, PATCH, DELETE (case-sensitive); any other token is
 *    501. The target is origin-form (`/path[?query]`) or absolute-form
 *    (`http://host/path[?query]`, scheme case-insensitive, authority
 *    dropped, RFC 9112 §3.2.2); visible ASCII only, no '#'. A target over
 *    HTTPD_MAX_TARGET bytes is 414, detected as soon as the line grows past
 *    it. HTTP/1.1 and HTTP/1.0 (HTTP/1.2..1.9 are served as 1.1); a
 *    well-formed other major version is 505. Empty lines before the request
 *    line are skipped (§2.2).
 *  - Lines end in CRLF; a bare CR or LF, a control byte (other than HTAB in
 *    a field value) or DEL anywhere in the head is 400. Fields: a token name
 *    (case-insensitive), ':' with no whitespace before it, a value with
 *    surrounding OWS trimmed (obs-text bytes 0x80-0xff are kept). obs-fold
 *    (a line starting with SP or HTAB) is 400. At most HTTPD_MAX_HEADERS
 *    fields and cfg.max_head bytes of head (leading empty lines included):
 *    over either is 431.
 *  - Host: HTTP/1.1 requires exactly one (400 otherwise); HTTP/1.0 at most
 *    one.
 *  - Content-Length: one field, 1*DIGIT; a repeated field, a list, a sign or
 *    an empty value is 400; over cfg.max_body is 413 (the body is not read).
 *  - Transfer-Encoding on a request is refused: `chunked` alone is 411
 *    (Length Required: the client can resend with Content-Length), any other
 *    coding 501, Transfer-Encoding with Content-Length or in HTTP/1.0 400
 *    (RFC 9112 §6.1, §6.3: the framing is ambiguous). Our clients (seedctl,
 *    curl -d) always send Content-Length.
 *  - Connection: a comma list; `close` ends the connection after the
 *    response; HTTP/1.0 keeps it only with `keep-alive` (the response then
 *    says `Connection: keep-alive`).
 *  - Expect: 100-continue on an HTTP/1.1 request whose body has not fully
 *    arrived makes the engine append `HTTP/1.1 100 Continue` to the output
 *    (once) when cfg.send_continue is set (default), so curl does not wait a
 *    second; other expectations are ignored (RFC 9110 §10.1.1 allows it).
 *  - A request is handed out only once its whole body has arrived.
 *
 * Errors in a request are an error outcome: httpd_conn_next() returns
 * -errno (table below), httpd_conn_error() gives the status and a short
 * message, nothing more is parsed, the rest of the input is dropped and
 * the connection closes after the answer (httpd_respond_error() then says
 * `Connection: close`):
 *   400 -EBADMSG          malformed line, field or framing
 *   411 -EOPNOTSUPP       chunked request body
 *   413 -EMSGSIZE         Content-Length over cfg.max_body
 *   414 -ENAMETOOLONG     target over HTTPD_MAX_TARGET
 *   431 -E2BIG            head over cfg.max_head or too many fields
 *   501 -ENOSYS           unknown method or transfer coding
 *   505 -EPROTONOSUPPORT  HTTP major version other than 1
 * 405 (a known method a route does not allow) is the caller's to send, with
 * an `Allow` extra header; it does not close the connection.
 *
 * Responses: `HTTP/1.1 <status> <reason>`, then Content-Type (when given),
 * Content-Length (not for 204 and 304), `Cache-Control: no-store` when the
 * type is application/json, Connection (close / keep-alive, as above), the
 * caller's extra headers, CRLF, the body. A HEAD request gets the head of
 * the same response (Content-Length of the body it would have had) and no
 * body. No Date: the engine has no wall clock (RFC 9110 §6.6.1).
 *
 * Timeouts (time is an argument; see httpd_conn_deadline()):
 *  - request: the head and body of a request must arrive within
 *    cfg.header_timeout_ms of its first byte (for bytes that were already
 *    buffered behind the previous request, of the latest time the engine was
 *    given when that request was answered). A slowloris client sending a
 *    byte a second is cut when that runs out, however steady it is.
 *  - idle: with nothing of a request received and nothing to send,
 *    cfg.idle_timeout_ms after the connection started or the last output
 *    went out; with output unsent, cfg.idle_timeout_ms after the last
 *    progress (httpd_conn_sent() of at least one byte, or the output
 *    becoming non-empty), so a client that stops reading is cut.
 *  - none while a request or an error outcome waits for the caller's
 *    answer (the caller's work is not the peer's fault).
 *
 * Memory: one input buffer (grown from HTTPD_IN_INITIAL up to cfg.max_head
 * + cfg.max_body) and one output buffer (grown up to cfg.max_output), both
 * owned by the connection and shrunk back when empty. Every pointer in a
 * struct httpd_request borrows the input buffer and is valid until the
 * request is answered (httpd_respond*() returning 0) or httpd_conn_free().
 *
 * Bulk and burst: httpd_conn_feed() is a burst call (it takes what fits and
 * returns the count); httpd_respond*() is all-or-nothing (-ENOSPC or
 * -ENOMEM leave the output and the request as they were, so the caller may
 * answer again with something smaller).
 *
 * Not thread-safe: one connection belongs to one thread.
 */
#ifndef SEED_HTTPD_H
#define SEED_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTPD_DEFAULT_MAX_HEAD		16384u	   /* request line + fields */
#define HTTPD_DEFAULT_MAX_BODY		65536u	   /* docs/api.md: bodies <= 64 KiB */
#define HTTPD_DEFAULT_MAX_OUTPUT	(8u << 20) /* unsent response bytes */
#define HTTPD_DEFAULT_HEADER_TIMEOUT_MS 10000u	   /* a whole request */
#define HTTPD_DEFAULT_IDLE_TIMEOUT_MS	60000u	   /* keep-alive wait, stalled output */
#define HTTPD_MIN_HEAD			1024u	   /* bounds on cfg.max_head */
#define HTTPD_MAX_HEAD_LIMIT		(1u << 20)
#define HTTPD_MAX_BODY_LIMIT		(64u << 20) /* bound on cfg.max_body */
#define HTTPD_MIN_OUTPUT		4096u	    /* bounds on cfg.max_output */
#define HTTPD_MAX_OUTPUT_LIMIT		(1u << 30)
#define HTTPD_MAX_TARGET		8192u  /* request-target bytes; longer is 414 */
#define HTTPD_MAX_HEADERS		64     /* fields per request; more is 431 */
#define HTTPD_PIPELINE_OUT_MAX		65536u /* unsent bytes that pause parsing */
#define HTTPD_IN_INITIAL		4096u  /* first input buffer size */
#define HTTPD_ERROR_MSG_MAX		512u   /* bytes of a message in an error body */
#define HTTPD_NO_DEADLINE		UINT64_MAX

struct httpd_config {
	uint32_t max_head;	    /* HTTPD_MIN_HEAD..HTTPD_MAX_HEAD_LIMIT */
	uint32_t max_body;	    /* 0..HTTPD_MAX_BODY_LIMIT */
	uint32_t max_output;	    /* HTTPD_MIN_OUTPUT..HTTPD_MAX_OUTPUT_LIMIT */
	uint32_t header_timeout_ms; /* > 0; covers the body too (see above) */
	uint32_t idle_timeout_ms;   /* > 0 */
	uint8_t send_continue;	    /* answer Expect: 100-continue */
};

enum httpd_method {
	HTTPD_GET,
	HTTPD_HEAD,
	HTTPD_POST,
	HTTPD_PUT,
	HTTPD_PATCH,
	HTTPD_DELETE,
};

struct httpd_header {
	const char *name; /* NUL-terminated, case as sent */
	size_t name_len;
	const char *value; /* NUL-terminated, OWS trimmed; may hold bytes >= 0x80 */
	size_t value_len;
};

/*
 * A parsed request. Everything borrows the connection's input buffer (see
 * Memory above). Strings are NUL-terminated and contain no NUL.
 */
struct httpd_request {
	enum httpd_method method;
	uint8_t version_minor; /* 0 or 1 (HTTP/1.x) */
	uint8_t keep_alive;    /* the connection stays open after the answer */
	const char *path;      /* raw (percent-encoded), starts with '/' */
	size_t path_len;
	const char *query; /* after '?', raw; NULL when the target had no '?' */
	size_t query_len;
	const struct httpd_header *headers; /* in arrival order */
	size_t n_headers;
	const uint8_t *body; /* Content-Length bytes; never NULL (empty: "") */
	size_t body_len;
};

/* Per-connection counters, named as the Prometheus metrics they feed. */
struct httpd_stats {
	uint64_t http_requests_total;	    /* requests handed out */
	uint64_t http_request_errors_total; /* error outcomes */
	uint64_t http_responses_total;	    /* answers appended (not 100) */
	uint64_t http_received_bytes_total; /* bytes taken by feed */
	uint64_t http_sent_bytes_total;	    /* bytes reported by sent */
};

/*
 * One connection. Fields are private to httpd.c except stats, which the
 * caller reads. The caller allocates it (on its own pool or the stack).
 */
struct httpd_conn {
	struct httpd_config cfg;
	uint8_t state;
	uint8_t head_done;     /* the head of the buffered request is parsed */
	uint8_t force_close;   /* httpd_conn_set_close() */
	uint8_t continue_sent; /* 100 Continue appended for this request */
	uint8_t expect_100;
	/* input: in[0..in_len) of in_cap; the current request starts at 0 */
	uint8_t *in;
	size_t in_len, in_cap;
	/* head scanner, offsets from in; sp1/sp2 are one past the request
	 * line's first/second SP (0: not seen) */
	size_t scan, line_start, head_start, rl_end, sp1, sp2, head_end;
	uint32_t n_lines;
	/* the parsed head, as offsets: the buffer may move until the request
	 * is handed out, when c->req gets its pointers */
	size_t path_off, query_off; /* query_off 0: no query */
	uint32_t name_off[HTTPD_MAX_HEADERS], value_off[HTTPD_MAX_HEADERS];
	uint8_t path_root; /* absolute-form with no path: path is "/" */
	/* output: out[out_off..out_len) unsent, of out_cap */
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	/* time */
	uint64_t now;	     /* latest time the engine was given */
	uint64_t idle_since; /* start of the idle wait */
	uint64_t req_since;  /* first byte of the buffered request */
	uint64_t next_since; /* first byte buffered behind the request in hand */
	uint64_t out_since;  /* last output progress */
	/* error outcome */
	int err;
	uint16_t err_status;
	const char *err_msg;
	/* the request being parsed / handed out */
	struct httpd_request req;
	struct httpd_header hdrs[HTTPD_MAX_HEADERS];
	struct httpd_stats stats;
};

/* Fills cfg with the defaults above (send_continue on). */
void httpd_config_default(struct httpd_config *cfg);

/*
 * Sets up a connection accepted at now_ms. cfg (NULL: the defaults) is
 * copied. 0, -EINVAL (a bound out of range) or -ENOMEM; on failure c is
 * safe to httpd_conn_free().
 */
int httpd_conn_init(struct httpd_conn *c, const struct httpd_config *cfg, uint64_t now_ms);

/* Frees what the connection owns; c may be freed again. */
void httpd_conn_free(struct httpd_conn *c);

/*
 * Bytes received at now_ms (burst call). Copies what fits into the input
 * buffer and returns that count; the caller keeps buf[ret..len) and offers
 * it again after answering the request in hand (the buffer only grows while
 * no request is handed out, so a pipelining client waits for its turn).
 * Once the connection is closing (error outcome or a response that ends it)
 * every byte is taken and dropped. -EINVAL when buf is NULL with len > 0,
 * -ENOMEM when the buffer could not grow (nothing was taken).
 */
ssize_t httpd_conn_feed(struct httpd_conn *c, const void *buf, size_t len, uint64_t now_ms);

/*
 * Takes the next request. 1: *out_req is filled (see struct httpd_request
 * for how long it lives); answer it before calling again. 0: nothing to do
 * now (more input needed, or unsent output over HTTPD_PIPELINE_OUT_MAX).
 * <0: an error outcome (see the table above; repeated on each call until
 * answered), -EBUSY when the request handed out is not answered yet,
 * -EPIPE when the connection is closing and no request will follow.
 */
int httpd_conn_next(struct httpd_conn *c, struct httpd_request *out_req);

/*
 * The status (400..505) and message (static, one line) of the error
 * outcome; 0 and "" when there is none. out_msg may be NULL.
 */
unsigned httpd_conn_error(const struct httpd_conn *c, const char **out_msg);

/*
 * Answers the request in hand (or the error outcome) with status
 * (200..599) and body[0..body_len) (body may be NULL when body_len is 0 or
 * the request is HEAD). content_type may be NULL (no Content-Type);
 * extra_headers is NULL or complete lines "Name: value\r\n" (not
 * Content-Length, Transfer-Encoding or Connection, which the engine
 * writes). 204 and 304 take no body and get no Content-Length. Bulk call:
 * 0, -EINVAL (no request to answer, a bad argument), -ENOSPC (the unsent
 * output would pass cfg.max_output) or -ENOMEM, and then nothing changed.
 */
int httpd_respond(struct httpd_conn *c, unsigned status, const char *content_type, const void *body,
		  size_t body_len, const char *extra_headers);

/*
 * httpd_respond() with status 400..599 and the JSON body
 * {"error":"<msg>"}: msg (NULL: the reason phrase) is cut at
 * HTTPD_ERROR_MSG_MAX bytes and JSON-escaped (invalid UTF-8 becomes
 * U+FFFD). Same returns.
 */
int httpd_respond_error(struct httpd_conn *c, unsigned status, const char *msg,
			const char *extra_headers);

/* The connection ends after the next answer (say on drain or shutdown). */
void httpd_conn_set_close(struct httpd_conn *c);

/*
 * The unsent output: *out_buf (valid until the next call that changes the
 * connection) and *out_len (0: nothing to send).
 */
void httpd_conn_output(const struct httpd_conn *c, const uint8_t **out_buf, size_t *out_len);

/* n bytes of the output were written at now_ms. 0, or -EINVAL when n is
 * more than the unsent output (nothing changes then). */
int httpd_conn_sent(struct httpd_conn *c, size_t n, uint64_t now_ms);

/*
 * 1 when no further request will be served: close once the output is sent
 * (after answering an error outcome, which also sets this).
 */
int httpd_conn_wants_close(const struct httpd_conn *c);

/* The time (ms) at which the connection times out (see Timeouts above);
 * HTTPD_NO_DEADLINE when no timer runs. */
uint64_t httpd_conn_deadline(const struct httpd_conn *c);

/* 1 when now_ms is at or past httpd_conn_deadline(): close without an
 * answer. */
int httpd_conn_timed_out(const struct httpd_conn *c, uint64_t now_ms);

/*
 * When the connection became idle (between requests: nothing of a request
 * received, nothing to send, no request in hand), HTTPD_NO_DEADLINE while
 * it is not idle. A server short of slots closes the idlest first.
 */
uint64_t httpd_conn_idle_since(const struct httpd_conn *c);

/* "GET", "HEAD", ...; "?" for a value outside the enum. */
const char *httpd_method_name(enum httpd_method m);

/* The value of the first field called name (any case), NUL-terminated,
 * with its length in *out_len (may be NULL); NULL when absent. */
const char *httpd_request_header(const struct httpd_request *req, const char *name,
				 size_t *out_len);

/*
 * Walks the '/'-separated segments of path[0..len): *pos starts at 0; each
 * call returns 1 and the next segment (raw, possibly empty: "/a/" gives "a"
 * then "") or 0 at the end. A path not starting with '/' gives its first
 * segment from offset 0.
 */
int httpd_path_segment(const char *path, size_t len, size_t *pos, const char **out_seg,
		       size_t *out_len);

/*
 * Percent-decodes src[0..len) (a path segment: split first, decode after,
 * so an encoded '/' stays inside its segment) into dst[0..cap); '+' is not
 * special. dst may be src (decoding only shrinks). Returns the decoded
 * length, -EINVAL for a bad escape (not '%' and two hex digits) or %00,
 * -ENOBUFS when cap is too small. dst is not NUL-terminated.
 */
ssize_t httpd_pct_decode(const char *src, size_t len, char *dst, size_t cap);

#endif
