/*
 * gate: what may be served to whom, in front of every release lookup an
 * engine makes. The answer is the catalog's: only servable releases (live,
 * or embargoed past their time) pass, only to peers inside their tenant's
 * allow-list, and only while the tenant has room under max_peers. Without
 * a catalog (a data plane run by hand) every release in the store passes.
 *
 * A connection is counted against one tenant at a time: the one it is
 * fetching from now (an HTTP client may move between tenants). The peer's
 * state (address, the tenant it counts against) is passed in at every
 * call, never looked up from a "current connection".
 *
 * Call order, per worker thread: gate_peer_init at accept; gate_check for
 * each lookup an engine makes, with the catalog generation the worker is in
 * (g->now_s set by the loop); gate_peer_release when the connection closes.
 * Each refusal moves its dpstats counter.
 */
#ifndef SEED_DP_GATE_H
#define SEED_DP_GATE_H

#include <stdint.h>
#include <sys/socket.h>

#include "dpstats.h"
#include "proto_release.h"
#include "tenants.h"

struct catalog;

struct gate {
	struct tenants *tenants;    /* may be NULL: no per-tenant limits */
	struct dpstats_worker *ctr; /* the worker's counters */
	int64_t now_s;		    /* wall clock, for embargoes */
};

struct gate_peer {
	uint8_t fam;	  /* AF_INET or AF_INET6 (a v4-mapped peer is AF_INET) */
	uint8_t addr[16]; /* network order; 4 bytes for AF_INET */
	int tslot;	  /* tenant slot it counts against, -1 none */
};

/* Keeps the peer's address for allow-list checks; a v4-mapped IPv6 peer
 * (dual-stack listener) is matched as the IPv4 address it is. */
void gate_peer_init(struct gate_peer *p, const struct sockaddr_storage *ss);

/*
 * r as found by the served index (NULL: unknown) if peer p may fetch it
 * now under cat (NULL: no catalog, everything in the store is served),
 * else NULL with the refusal counted. May move p to r's tenant (counting
 * it there, uncounting it from the old one). cat is borrowed for the call.
 */
const struct proto_release *gate_check(const struct gate *g, const struct catalog *cat,
				       struct gate_peer *p, const struct proto_release *r);

/* The connection is gone: uncounts it from its tenant. */
void gate_peer_release(const struct gate *g, struct gate_peer *p);

#endif
