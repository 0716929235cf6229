/*
 * http: the sans-I/O HTTP/1.1 engine that serves the files of releases to
 * BEP 19 web-seed clients (libtorrent, aria2) and to plain HTTP range clients
 * (curl, aria2c), over one connection per struct http_conn.
 *
 * The engine takes request bytes and time (ms, from the worker's clock) and
 * appends actions (proto_action.h): the response head as PROTO_ACT_SEND from
 * a per-connection buffer, the payload as PROTO_ACT_SEND_DATA segments
 * (release handle, file index, offset, len), then PROTO_ACT_CLOSE when the
 * connection ends. It never touches a socket, a file or a clock, has no
 * globals and allocates only in http_conn_init.
 *
 * URL layout (BEP 19). A release is announced with the web seed
 * `http://HOST:PORT/<release id>/` (trailing '/'), so clients ask for
 *   multi-file torrent:   /<release id>/<torrent name>/<file path>
 *   single-file torrent:  /<release id>/<torrent name>
 * where <file path> is proto_file.path ('/'-joined components). The target
 * may also come in absolute form (`http://host/...`, RFC 9112 §3.2.2); a
 * query (`?...`) is ignored. The path is percent-decoded, then must be
 * UTF-8; a bad escape, %00, an encoded '/' (%2F) inside a segment, a `.` or
 * `..` segment (raw or encoded) or an empty inner segment (`//`) is a bad
 * request: 400 and close (no torrent path can contain any of them, so such
 * a target is malformed or an attack, never a miss). An unknown release or
 * file, the release root (`/<id>`, `/<id>/`) and any directory
 * (`.../<dir>` or a trailing '/') answer 404: there are no listings.
 *
 * Responses (always `HTTP/1.1`, RFC 9110 §2.5):
 *   200 whole file, 206 one range (Content-Range) or several
 *   (multipart/byteranges), 400, 404, 405 (Allow: GET, HEAD), 408 (partial
 *   request head at the header timeout), 414 (request line over the head
 *   bound), 416 (Content-Range: `bytes *` then `/len`), 431 (header
 *   section over the head bound), 505 (a well-formed version other than
 *   HTTP/1.x).
 * Success heads carry Server, Accept-Ranges: bytes, ETag, Content-Type
 * (application/octet-stream) and Content-Length; error heads Server,
 * Content-Type: text/plain, Content-Length and a body "<code> <reason>\n".
 * No Date: the engine has no wall clock (RFC 9110 §6.6.1 allows that).
 * ETag is `"<hex of the file's v2 pieces root>"` (64 lowercase digits);
 * every empty file has the fixed tag HTTP_EMPTY_ETAG; a non-empty file
 * without a root (never built by served.c) gets no ETag.
 *
 * Ranges (RFC 9110 §14, GET only: HEAD ignores Range as §14.2 requires):
 *  - `bytes=a-b`, `bytes=a-`, `bytes=-n`; the unit is case-insensitive and
 *    empty list elements are skipped (§5.6.1). last-pos past the end is
 *    clamped; a suffix longer than the file selects the whole file (206).
 *  - A syntactically invalid Range (other unit, last < first, junk, no
 *    spec), or more than HTTP_MAX_RANGES specs, is ignored: 200, whole file.
 *  - No satisfiable spec (first >= length, `bytes=-0`, any range of an
 *    empty file) → 416 with Content-Range `bytes *` followed by
 *    `/<length>`. RFC 9110 counts a non-zero suffix as satisfiable on an
 *    empty representation, but no 206 can describe zero bytes, so 416.
 *  - One satisfiable spec (the unsatisfiable ones dropped) → 206.
 *  - Several → multipart/byteranges in request order (boundary
 *    "BitStream-" + 32 hex digits of the root); if any two overlap the Range
 *    is ignored (200), which bounds the response to one copy of the file
 *    (RFC 9110 §14.2 lets a server ignore such a set).
 *  - If-Range (§13.1.5) is evaluated only with a Range: a strong match of
 *    the ETag honours Range; a weak tag, a date (we send no Last-Modified)
 *    or any other value → Range ignored, 200 whole file.
 *  Other preconditions (If-Match, If-None-Match, If-Modified-Since...) are
 *  not implemented and are ignored.
 *
 * Requests. GET and HEAD; any other method token → 405 (the connection is
 * kept unless the request has a body, which we never read: then it closes
 * with PROTO_CLOSE_BAD_REQUEST). Malformed
 * request line or fields → 400 and close: bare LF or CR, control
 * characters, not exactly `METHOD SP target SP HTTP/d.d`, whitespace
 * before a field's colon, obs-fold, a missing (HTTP/1.1) or repeated Host,
 * a repeated or non-numeric Content-Length, and on GET/HEAD any
 * Transfer-Encoding or a non-zero Content-Length. Empty lines before the
 * request line are skipped (RFC 9112 §2.2). HTTP/1.1 keeps the connection
 * unless `Connection: close`; HTTP/1.0 closes unless `Connection:
 * keep-alive` (answered with `Connection: keep-alive`). A response that
 * ends the connection says `Connection: close`. Pipelined requests are
 * answered in order; input after a request that ends the connection is
 * discarded.
 *
 * Bounds. The request head (request line + fields + final CRLF, leading
 * empty lines included) is at most cfg.max_head bytes (16 KiB default): a
 * request line still unfinished at the bound → 414 (400 if it does not
 * start as `token SP`), a field section over it → 431 (RFC 6585 §5); both
 * close (PROTO_CLOSE_OVERSIZED). At most HTTP_MAX_RANGES ranges. Each
 * SEND_DATA is at most cfg.max_segment bytes (1 MiB default) and does not
 * cross a multiple of it in the file (segments align so the worker's reads
 * of a popular range line up across clients); its piece and begin fields
 * are 0 (they serve peer wire only).
 *
 * Timers (time is an argument; the worker asks http_next_deadline and calls
 * http_on_tick at or after it):
 *  - header timeout (10 s): a request head must be complete within it of
 *    its first byte (of the connection's start for the first request);
 *    otherwise 408 + close if any byte of it came, a silent close if none;
 *  - idle timeout (60 s): between requests, and while a response is in
 *    progress but makes none → silent close. Progress is the engine
 *    emitting an action, or the worker reporting bytes sent with
 *    http_on_sent; the idle wait after a response also restarts at each
 *    http_on_sent, so it counts from the last byte out, not from the last
 *    action emitted. A worker that never calls http_on_sent gets a client
 *    slower than one segment (plus its read-ahead) per idle timeout closed
 *    as stalled.
 *  All timeout closes use PROTO_CLOSE_TIMEOUT.
 *
 * Output and flow. An engine call appends at most out->cap - out->n
 * actions. A response is produced step by step (head, then for each part
 * its multipart header and data segments, then the multipart tail, then
 * CLOSE when the connection ends), so a 4 GiB file needs no 4096-slot
 * array: when out fills, the engine keeps its place and the worker calls
 * again (http_on_bytes with the input it still holds, or http_on_writable)
 * when it can take more; http_wants_write() says more is pending. The
 * engine takes a new request only when the previous response is fully
 * emitted; it buffers at most one partial request head; bytes it did not
 * consume stay with the worker (CONVENTIONS.md rule 7).
 *
 * Memory. PROTO_ACT_SEND points into the connection's send buffer
 * (HTTP_SEND_BUF bytes); per proto_action.h it is valid until the next
 * http_on_bytes / http_on_writable / http_on_tick call on the connection
 * (http_data_failed does not touch it).
 *
 * Verified data. The worker fetches each SEND_DATA through the verified
 * cache, block by block. When a block of the response in progress cannot be
 * verified, the worker must not send it nor anything after it on this
 * connection (drop this connection's queued actions that follow the failed
 * block), and calls http_data_failed: the engine answers with
 * CLOSE(PROTO_CLOSE_DATA_ERROR) and nothing else, ever. HTTP/1.1 has no way
 * to retract a promised body, so the client sees a body shorter than
 * Content-Length (curl: "transfer closed with N bytes remaining"; BEP 19
 * clients retry elsewhere): a short body, never a wrong byte.
 *
 * Call order: http_engine_init once; per connection http_conn_init, then
 * any sequence of http_on_bytes / http_on_writable / http_on_tick /
 * http_data_failed, then http_conn_free (also after CLOSE).
 */
#ifndef SEED_HTTP_H
#define SEED_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "proto_action.h"
#include "proto_release.h"

#define HTTP_DEFAULT_MAX_HEAD	       16384u
#define HTTP_DEFAULT_HEADER_TIMEOUT_MS 10000u
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS   60000u
#define HTTP_DEFAULT_MAX_SEGMENT       (1u << 20)

#define HTTP_MIN_HEAD	 1024u /* bounds on cfg.max_head */
#define HTTP_MAX_HEAD	 (1u << 20)
#define HTTP_MAX_RANGES	 8    /* range specs honoured per request */
#define HTTP_SEND_BUF	 4096 /* per-connection buffer of SEND bytes */
#define HTTP_PIECE_MAX	 768  /* most bytes one engine SEND can hold */
#define HTTP_NO_DEADLINE UINT64_MAX
#define HTTP_EMPTY_ETAG	 "\"empty\"" /* the ETag of every empty file */

struct http_config {
	uint32_t max_head;	    /* request head bound, HTTP_MIN_HEAD..HTTP_MAX_HEAD */
	uint32_t header_timeout_ms; /* > 0 */
	uint32_t idle_timeout_ms;   /* > 0 */
	uint32_t max_segment;	    /* SEND_DATA bound: a multiple of 16 KiB, <= 1 MiB */
};

/* Shared read-only by every connection of a worker. */
struct http_engine {
	struct http_config cfg;
	struct proto_catalog catalog; /* by_id is required */
};

/* Per-connection counters; the worker sums them (each named as its
 * Prometheus metric). */
struct http_stats {
	uint64_t http_requests_total;	   /* request heads taken (also bad/oversized) */
	uint64_t http_responses_2xx_total; /* response heads emitted, by class */
	uint64_t http_responses_4xx_total;
	uint64_t http_responses_5xx_total;
	uint64_t http_payload_bytes_total; /* bytes asked for by SEND_DATA */
	uint64_t http_head_bytes_total;	   /* bytes of engine SEND (heads, error bodies) */
};

struct http_range {
	uint64_t first, last; /* inclusive, inside the file */
};

/* The response in progress. Private to http.c. */
struct http_resp {
	uint16_t status;
	uint8_t error;	       /* error response: text body from the status table */
	uint8_t head_only;     /* HEAD: no body */
	uint8_t close;	       /* the connection ends after this response */
	uint8_t ka10;	       /* HTTP/1.0 keep-alive: say Connection: keep-alive */
	uint8_t step;	       /* what to emit next */
	uint8_t etag;	       /* none, root, empty */
	uint8_t n_parts, part; /* ranges to send (0: no payload), the current one */
	enum proto_close_reason close_reason;
	const char *close_detail;
	uint32_t release, file; /* proto_release.handle, index in files */
	uint64_t file_len;
	uint64_t content_length;
	uint64_t off; /* next payload offset of the current part */
	uint8_t root[32];
	struct http_range parts[HTTP_MAX_RANGES];
};

/*
 * One connection. The fields are private to http.c except stats, which the
 * worker reads. Not shared between threads.
 */
struct http_conn {
	const struct http_engine *e;
	uint8_t *mem;  /* owned: hbuf then sbuf, from http_conn_init */
	uint8_t *hbuf; /* partial request head, cfg.max_head bytes */
	uint8_t *sbuf; /* SEND bytes of the current call */
	size_t hlen, slen;
	/* head scanner, offsets from the head's first byte */
	size_t scan, line_start, req_start;
	uint8_t nonempty; /* the request line has ended */
	uint8_t state;
	enum proto_close_reason close_reason;
	const char *close_detail;
	uint64_t since;	     /* start of the current wait (idle / send progress) */
	uint64_t head_since; /* start of the partial head's timer */
	struct http_resp resp;
	struct http_stats stats;
	void *user; /* the worker's, untouched: passed back on catalog lookups */
};

/* Fills cfg with the defaults above. */
void http_config_default(struct http_config *cfg);

/*
 * Sets up an engine. cfg NULL means the defaults; catalog is copied (its
 * ctx is borrowed and must outlive every connection). 0 or -EINVAL (a
 * bound out of range, no by_id).
 */
int http_engine_init(struct http_engine *e, const struct http_config *cfg,
		     const struct proto_catalog *catalog);

/*
 * Sets up a connection accepted at now_ms; e is borrowed (outlives c). The
 * one allocation of the connection: cfg.max_head + HTTP_SEND_BUF bytes.
 * 0 or -ENOMEM (c is then safe to http_conn_free).
 */
int http_conn_init(struct http_conn *c, const struct http_engine *e, uint64_t now_ms);

/* Frees what http_conn_init allocated; c may be freed again. */
void http_conn_free(struct http_conn *c);

/*
 * Request bytes received at now_ms (burst call). First continues the
 * response in progress, then takes requests from buf and answers them in
 * order, appending to out; stops when out is full, when the send buffer
 * cannot hold another head, or when a response is still in progress.
 * Returns the bytes consumed: the worker keeps buf[ret..len) and offers it
 * again once it has carried out the actions. Once the connection is ending
 * (CLOSE emitted or decided) every byte is consumed and dropped. buf may be
 * NULL when len is 0.
 */
size_t http_on_bytes(struct http_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms,
		     struct proto_out *out);

/* The worker can take more actions: continues the response in progress
 * (and a pending CLOSE). Equivalent to http_on_bytes with no bytes. */
void http_on_writable(struct http_conn *c, uint64_t now_ms, struct proto_out *out);

/* 1 while the engine holds actions it has not emitted (a response in
 * progress, a CLOSE waiting for room). */
int http_wants_write(const struct http_conn *c);

/* 1 once PROTO_ACT_CLOSE has been emitted; the engine then emits nothing. */
int http_is_closed(const struct http_conn *c);

/* Requests served so far: 2xx response heads emitted (a partial head, or
 * one answered 4xx/5xx, does not count). The worker compares it between
 * calls to tell a client that uses its slot from one that only holds it. */
uint64_t http_requests_served(const struct http_conn *c);

/*
 * The time (ms) at or after which the worker calls http_on_tick;
 * HTTP_NO_DEADLINE once closed. May be in the past (a CLOSE waiting for
 * room is due at once).
 */
uint64_t http_next_deadline(const struct http_conn *c);

/*
 * The worker sent bytes of this connection at now_ms (a send completed):
 * restarts the idle timer of a response in progress or of the wait after
 * one (see Timers above). Never emits anything; no-op while a request head
 * is being received and once closed.
 */
void http_on_sent(struct http_conn *c, uint64_t now_ms);

/*
 * Fires the timers due at now_ms (see Timers above) and emits what that
 * starts (a 408, a CLOSE) as far as out allows; the rest, like any pending
 * output, comes from http_on_writable. Nothing when no timer is due.
 */
void http_on_tick(struct http_conn *c, uint64_t now_ms, struct proto_out *out);

/*
 * A block of the response in progress failed verification (see Verified
 * data above): appends CLOSE(PROTO_CLOSE_DATA_ERROR) (or emits it first
 * thing on the next call if out is full) and drops the rest of the
 * response and every later byte. No-op once closed.
 */
void http_data_failed(struct http_conn *c, struct proto_out *out);

#endif
