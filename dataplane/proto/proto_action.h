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

#include "close_reason.h"

enum proto_act_kind {
	PROTO_ACT_SEND = 1,  /* u.send: engine-made bytes (headers, messages) */
	PROTO_ACT_SEND_DATA, /* u.data: file payload from the store */
	PROTO_ACT_SEND_ZERO, /* u.zero: zero bytes (BEP 47 pad inside a v1 piece) */
	PROTO_ACT_CLOSE,     /* u.close: close the connection after what precedes */
};

/*
 * Why a connection closes; the worker counts these per reason. The names,
 * values and metric labels come from one list, SEED_CLOSE_REASONS in
 * lib/close_reason.h, which lib/dpstats.c reads too: PROTO_CLOSE_DONE,
 * _MALFORMED, _OVERSIZED, _UNKNOWN_TORRENT, _BAD_REQUEST, _TOO_MANY,
 * _TIMEOUT, _DATA_ERROR and _ENCRYPTION are the engines'; _PEER_CLOSED,
 * _IO_ERROR, _SHUTDOWN and _REFUSED are the worker's, never in an engine's
 * CLOSE action.
 */
enum proto_close_reason {
#define PROTO_CLOSE_ENUM_(name, value, label) PROTO_CLOSE_##name = (value),
	SEED_CLOSE_REASONS(PROTO_CLOSE_ENUM_)
#undef PROTO_CLOSE_ENUM_
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
