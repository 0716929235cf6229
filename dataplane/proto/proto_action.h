/*
 * proto_action: what a sans-I/O engine asks its worker to do. An engine call
 * appends actions to a caller-provided array, in order; the worker carries
 * them out in that order (bytes of consecutive sends go out back to back on
 * the connection).
 *
 * Ownership: PROTO_ACT_SEND points into memory the engine owns for that
 * connection (allocated when the connection was set up, never per request);
 * it stays valid until the next call into the engine for that connection.
 * PROTO_ACT_SEND_DATA names payload by (release, file, offset): the worker
 * fetches it through the verified cache and hands the NIC the cache memory;
 * payload bytes never pass through an engine.
 */
#ifndef SEED_PROTO_ACTION_H
#define SEED_PROTO_ACTION_H

#include <stddef.h>
#include <stdint.h>

enum proto_act_kind {
	PROTO_ACT_SEND = 1,  /* u.send: engine-made bytes (headers, messages) */
	PROTO_ACT_SEND_DATA, /* u.data: file payload from the store */
	PROTO_ACT_SEND_ZERO, /* u.zero: zero bytes (BEP 47 pad inside a v1 piece) */
	PROTO_ACT_CLOSE,     /* u.close: close the connection after what precedes */
};

/* Why an engine closes a connection; the worker counts these per reason. */
enum proto_close_reason {
	PROTO_CLOSE_DONE = 1,	     /* orderly (peer finished, HTTP Connection: close) */
	PROTO_CLOSE_MALFORMED,	     /* a message that breaks the protocol */
	PROTO_CLOSE_OVERSIZED,	     /* a message or header over its bound */
	PROTO_CLOSE_UNKNOWN_TORRENT, /* info-hash the catalog does not serve */
	PROTO_CLOSE_BAD_REQUEST,     /* block beyond a piece, over 16 KiB, bad index */
	PROTO_CLOSE_TOO_MANY,	     /* outstanding requests over the bound */
	PROTO_CLOSE_TIMEOUT,	     /* handshake or idle timeout */
	PROTO_CLOSE_DATA_ERROR,	     /* payload could not be verified (HTTP cannot retract) */
	/* 9-12 are the worker's (dpstats_close_names) */
	PROTO_CLOSE_ENCRYPTION = 13, /* MSE handshake failed, or the peer wants RC4 */
};

struct proto_action {
	enum proto_act_kind kind;
	union {
		struct {
			const uint8_t *p;
			size_t len;
		} send;
		struct {
			uint32_t release; /* proto_release.handle */
			uint32_t file;	  /* index into proto_release.files */
			uint64_t offset;  /* byte offset in the file */
			uint32_t len;
			uint32_t piece; /* the request it answers (peer wire), for */
			uint32_t begin; /* cancel and verify-failure matching */
		} data;
		struct {
			uint32_t len;
		} zero;
		struct {
			enum proto_close_reason reason;
			const char *detail; /* static string, for logs */
		} close;
	} u;
};

/* Actions out of one engine call. Bounded: an engine that would exceed cap
 * stops consuming input and resumes on its next call (input it did not
 * consume is reported by its return value). */
struct proto_out {
	struct proto_action *a;
	size_t n, cap;
};

#endif
