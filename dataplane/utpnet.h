/*
 * utpnet: uTP (BEP 29) connections as netio connections. A netio backend
 * that wraps another one: TCP goes through unchanged, and every listener
 * of the wrapped tag also gets a UDP socket on the same address and port
 * (the backend's udp_bind), whose datagrams drive the sans-I/O uTP engine
 * (proto/utp.h). A uTP connection the engine accepts is reported as an
 * ordinary NETIO_EV_ACCEPT on that listener's tag, its in-order bytes as
 * NETIO_EV_RECV, so the worker and the peer-wire engine above cannot tell
 * the transports apart (docs/utp.md).
 *
 * Connection ids: the wrapped backend gets the first cfg.max_conns -
 * n_utp slots, uTP connections the last n_utp; the worker's table covers
 * both.
 *
 * Sends: a send is queued in the engine by reference (no copy) and
 * reported SENT at once (the next send may go) but FREED only when the
 * peer acknowledged every byte, since uTP retransmits from the caller's
 * memory: the worker's sendq already holds pins until FREED (netio.h).
 * Bytes received are copied out of the datagram once (peers send requests,
 * not bulk), valid until the next poll like any RECV.
 *
 * The datagrams a worker's socket gets are the ones the kernel's
 * SO_REUSEPORT hash of their addresses sends it: the same socket for every
 * datagram of one peer's flow, so the worker whose engine holds a
 * connection sees all of its packets. The set of sockets must not change
 * while connections live (workers bind theirs at start and keep them).
 */
#ifndef SEED_UTPNET_H
#define SEED_UTPNET_H

#include <stdint.h>

#include "netio.h"
#include "utp.h"

extern const struct netio_ops utpnet_ops;

/*
 * Creates the wrapper around backend `inner` (which must have udp_bind and
 * udp_send) for one worker: the inner netio gets cfg with max_conns -
 * n_utp slots, the engine utp (copied; its max_conns is set to n_utp).
 * Listeners whose tag is utp_tag also take uTP. 0, or -errno with err set.
 */
int utpnet_create(const struct netio_ops *inner, const struct netio_config *cfg,
		  const struct utp_config *utp, uint32_t n_utp, uint32_t utp_tag,
		  struct netio **out, struct seed_err *err);

/* The engine's counters, for the worker's (n made by utpnet_create). */
const struct utp_stats *utpnet_utp_stats(const struct netio *n);
/* 1 when conn is a uTP connection of n. */
int utpnet_is_utp(const struct netio *n, uint32_t conn);

#endif
