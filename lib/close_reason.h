/*
 * close_reason: why a data-plane connection closed, as one list.
 *
 * The protocol engines name the reason in their CLOSE action
 * (dataplane/proto/proto_action.h builds enum proto_close_reason from this
 * list), the worker counts closes per reason in an array indexed by the
 * value, and lib/dpstats.c labels each slot for Prometheus
 * (seed_engine_closes_total{reason="..."}). It lives in lib/ because dpstats
 * is lib code and lib may not include proto headers; proto may include lib.
 *
 * SEED_CLOSE_REASONS(X) expands X(NAME, value, "label") once per reason:
 *  - NAME becomes PROTO_CLOSE_NAME in proto_action.h;
 *  - value is fixed: it indexes the counters in the shared-memory stats file
 *    (lib/dpstats.h), so a reason keeps its value for good and a new one
 *    takes a free value below CLOSE_REASON_SLOTS (0 means "none");
 *  - label is the metric label, an interface: it never changes.
 * Values 1-8, 12 and 13 are the engines' (12: peerwire refuses an MSE
 * handshake its catalog's admit_mse callback turned down); 14 is the
 * worker's (a slot reclaimed from the connection that went longest without
 * a request, when slots run short). 9-11 were set aside for the worker and
 * nothing counts them yet; their labels are exported all the same, so they
 * stay.
 */
#ifndef SEED_CLOSE_REASON_H
#define SEED_CLOSE_REASON_H

/* Counter slots per reason, value 0 ("none") included. */
#define CLOSE_REASON_SLOTS 16

/* clang-format off */
#define SEED_CLOSE_REASONS(X)                                                                      \
	X(DONE,            1, "done")            /* orderly (peer finished, HTTP Connection: close) */ \
	X(MALFORMED,       2, "malformed")       /* a message that breaks the protocol */              \
	X(OVERSIZED,       3, "oversized")       /* a message or header over its bound */              \
	X(UNKNOWN_TORRENT, 4, "unknown_torrent") /* info-hash the catalog does not serve */            \
	X(BAD_REQUEST,     5, "bad_request")     /* block beyond a piece, over 16 KiB, bad index */    \
	X(TOO_MANY,        6, "too_many")        /* outstanding requests over the bound */             \
	X(TIMEOUT,         7, "timeout")         /* handshake or idle timeout */                       \
	X(DATA_ERROR,      8, "data_error")      /* payload could not be verified (HTTP cannot retract) */ \
	X(PEER_CLOSED,     9, "peer_closed")     /* worker (unused so far) */                          \
	X(IO_ERROR,       10, "io_error")        /* worker (unused so far) */                          \
	X(SHUTDOWN,       11, "shutdown")        /* worker (unused so far) */                          \
	X(REFUSED,        12, "refused")         /* an MSE handshake over its address's rate (admit.h) */ \
	X(ENCRYPTION,     13, "encryption")      /* MSE handshake failed, or the peer wants RC4 */     \
	X(RECLAIMED,      14, "reclaimed")       /* worker: slots short, longest without a request */
/* clang-format on */

#endif
