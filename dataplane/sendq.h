/*
 * sendq: a connection's queue of segments — engine bytes (copied into the
 * connection's tx buffer), cache blocks (pinned, sent by reference) and
 * zeros (BEP 47 pads) — and the sends made from its ready prefix.
 *
 * A send gathers up to NETIO_MAX_IOV ready segments; a peer-wire request
 * (its group) goes whole or not yet; a capped tenant's payload only against
 * tokens. An RC4 peer's send is encrypted into the connection's stage
 * first (the keystream cannot be rewound, so a send that could not be
 * submitted keeps its ciphertext for the retry). Block payloads are offered
 * to the backend for zero-copy; whether that pays off for a given socket
 * is the backend's decision (netio.h).
 *
 * Call order: sendq_push_* while running an engine's actions; sendq_flush
 * after; sendq_on_sent for each SENT/FREED event; sendq_unpin when a
 * segment is dropped. Part of the worker (worker_int.h); one thread.
 */
#ifndef SEED_DP_SENDQ_H
#define SEED_DP_SENDQ_H

#include <stddef.h>
#include <stdint.h>

#include "worker_int.h"

/* Copies len engine bytes into the connection's tx buffer as one segment.
 * -ENOSPC when the queue or the buffer is full. */
int sendq_push_bytes(struct wconn *c, const uint8_t *p, size_t len, uint32_t group);
/* Queues a data action's blocks and starts fetching them. -EINVAL for an
 * action naming no object of the served set, -ENOSPC when the queue is full. */
int sendq_push_data(struct worker *w, struct wconn *c, uint32_t ci, const struct proto_action *a,
		    uint32_t group);
/* Queues len zero bytes (shared memory, no copy). */
int sendq_push_zero(struct worker *w, struct wconn *c, uint32_t len, uint32_t group);
/* Sends what is ready, if no send is in flight; releases what is done. */
void sendq_flush(struct worker *w, struct wconn *c, uint32_t ci);
/* A SENT or FREED event of this connection. */
void sendq_on_sent(struct worker *w, struct wconn *c, uint32_t ci, const struct netio_event *ev);
/* The engine selected RC4 (MSE): set up the stage; what it did not
 * consume yet is ciphertext. -ENOMEM closes the connection. */
int sendq_rc4_start(struct worker *w, struct wconn *c, uint32_t ci);
/* Drops the segment's cache pin, if any. */
void sendq_unpin(struct worker *w, struct seg *s);

#endif
