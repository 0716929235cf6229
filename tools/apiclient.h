/*
 * apiclient: seedctl's side of the seed-control API (docs/api.md): one
 * blocking HTTP/1.1 request and its JSON answer over the Unix API socket,
 * plus the encoding of command-line arguments the API takes (path segments,
 * times).
 *
 * Every exchange uses a fresh connection ("Connection: close") and a
 * deadline that covers connect, send and receive together. The response is
 * bounded: the head to APIC_MAX_HEAD bytes, the body to max_body. Nothing
 * here prints or exits; failures fill a struct seed_err with one line for
 * the caller to print, naming the socket path where that helps. Strings
 * that come from the server are copied into those lines with control bytes
 * replaced, so a hostile answer cannot drive the operator's terminal.
 *
 * Call order: apic_socket_path() for the path, then apic_call() as often as
 * needed; each call is independent (no state is kept).
 */
#ifndef SEED_APICLIENT_H
#define SEED_APICLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "seed_err.h"

#define APIC_DEFAULT_SOCKET "/run/seed/control.sock"
#define APIC_SOCKET_ENV	    "SEED_API_SOCKET"
#define APIC_TIMEOUT_MS	    10000
#define APIC_MAX_BODY	    (16u << 20) /* 16 MiB */
#define APIC_MAX_HEAD	    (64u << 10) /* status line and headers */

/* Where and how to call. Zero fields take the defaults above. */
struct apic_opts {
	const char *socket_path; /* borrowed; NULL: apic_socket_path(NULL) */
	int timeout_ms;		 /* whole exchange; <= 0: APIC_TIMEOUT_MS */
	size_t max_body;	 /* 0: APIC_MAX_BODY */
	/* Optional, borrowed: when a signal interrupts a wait and *cancel is
	 * non-zero, the call gives up with -EINTR (seedctl top's Ctrl-C). */
	const _Atomic int *cancel;
};

/*
 * The socket path to use: `opt` (--socket) when non-NULL, else
 * $SEED_API_SOCKET when set and non-empty, else APIC_DEFAULT_SOCKET.
 * Returns a borrowed string (opt, the environment, or a literal).
 */
const char *apic_socket_path(const char *opt);

/*
 * One request: `method` ("GET", "POST", "PATCH") on `path` (absolute,
 * already escaped, e.g. "/api/v1/tenants/acme"), with `body` (borrowed; may
 * be NULL) sent as application/json with its Content-Length.
 *
 * Returns 0 for a 2xx answer, with *out_json the parsed body (the caller
 * owns it: json_decref; NULL when the body was empty) and *out_status (may
 * be NULL) the status. Otherwise returns -errno with err set to one line:
 *   -ENOENT        "seed-control is not running (no socket at PATH)"
 *                  (also for ECONNREFUSED: a stale socket file)
 *   -EACCES        "permission denied on PATH (seedctl needs membership of ...)"
 *   -ETIMEDOUT     no complete answer within the deadline
 *   -EREMOTEIO     the server answered 3xx/4xx/5xx: err holds its
 *                  {"error": "..."} message (or "HTTP 500 Internal Server
 *                  Error" when it sent none); *out_status is set
 *   -EFBIG         the answer exceeds max_body (or the head APIC_MAX_HEAD)
 *   -EPROTO        not a well-formed HTTP/1.x answer, truncated, or a body
 *                  that is not JSON
 *   -EINVAL        method, path or socket path unusable
 *   -EINTR         cancelled (see apic_opts.cancel)
 *   other          the failing system call's errno, named in err
 * *out_json is NULL whenever the return is not 0.
 */
int apic_call(const struct apic_opts *o, const char *method, const char *path, const json_t *body,
	      json_t **out_json, int *out_status, struct seed_err *err);

/*
 * Percent-encodes `seg` for use as one path segment (every byte outside
 * A-Z a-z 0-9 - . _ ~ becomes %XX) into out[0..outlen). Returns the length
 * written, or -ENAMETOOLONG when it does not fit, -EINVAL for an empty
 * segment, "." or "..".
 */
int apic_path_escape(const char *seg, char *out, size_t outlen);

/*
 * Turns a TIME argument into an RFC 3339 UTC string "YYYY-MM-DDTHH:MM:SSZ"
 * in out[0..outlen) (outlen >= 21). TIME is either
 *   - RFC 3339: "2026-12-01T18:00:00Z", optional fraction (dropped), "Z" or
 *     a "+HH:MM"/"-HH:MM" offset (converted to UTC), or
 *   - "+DURATION" from `now` (Unix seconds): groups of NUMBER and a unit
 *     d, h, m or s, e.g. "+2h", "+1h30m", "+45s"; at most ten years.
 * Returns 0, or -EINVAL with err naming what was wrong.
 */
int apic_time_arg(const char *s, int64_t now, char *out, size_t outlen, struct seed_err *err);

#endif
