/*
 * admit: per-source limits at accept, shared by every worker, so that one
 * address (or one /24, /56) cannot take the data plane away from everyone
 * else. Checked before any engine runs or any memory is given to the
 * connection; a refusal is a close and a counter (lib/dpstats.h,
 * enum dpstats_admit).
 *
 * What is limited, per source address (an IPv4-mapped IPv6 peer counts as
 * its IPv4 address):
 *  - concurrent connections per address and per prefix (/24 for IPv4, /56
 *    for IPv6);
 *  - new connections per second per address (a token bucket with a burst);
 *  - MSE handshakes per second per address (a token bucket, charged when a
 *    peer's first bytes turn out to be an MSE key, before the key exchange);
 *  - a deny list (CIDR) refuses outright; an exempt list (default loopback)
 *    skips the limits (not the deny list).
 * A limit of 0 is off.
 *
 * Why one table for all workers: the kernel (SO_REUSEPORT) and the NIC
 * (RSS) spread one address's connections over the workers by a hash of the
 * 4-tuple, so per-worker limits (each the limit divided by the worker count)
 * would refuse a client whose few connections happen to land on one worker.
 * The table is plain atomics: workers share no lock.
 *
 * How it stays bounded: the counters are a count-min sketch, not a keyed
 * table. Each kind keeps two rows of ADMIT_CELLS cells; an address (keyed
 * SipHash, a random key per process so that nobody can aim at a cell) names
 * one cell per row. A count is the smaller of its two cells, which is never
 * below the address's own count: a flood is always seen. A legitimate
 * address reads high only when both its cells are shared with heavy ones;
 * as the total of connections is bounded by the slots, at most
 * slots / limit cells per row can reach a limit, a small fraction of the
 * row. There is no insertion, eviction or growth, so a flood of many
 * addresses cannot fill the table: it degrades to a few more shared cells.
 * Rate buckets work the same way: an accept is refused only when both of
 * the address's cells are empty.
 *
 * Two workers checking one address at the same moment may both pass at
 * limit - 1: the overshoot is at most the worker count.
 *
 * Call order: admit_create (start-up, one per process) -> admit_conn at
 * each accept (any worker) -> admit_release when an admitted connection
 * closes -> admit_mse when a peer starts an MSE handshake -> admit_free.
 */
#ifndef SEED_DP_ADMIT_H
#define SEED_DP_ADMIT_H

#include <stdint.h>

#include "cidr.h"
#include "dpstats.h"
#include "seed_err.h"

#define ADMIT_CELLS 16384u /* cells per sketch row (a power of two) */

struct admit_config {
	unsigned addr_conns;   /* concurrent connections per address (0: no limit) */
	unsigned prefix_conns; /* ... per /24 or /56 */
	unsigned addr_rate;    /* new connections per second per address */
	unsigned addr_burst;   /* ... bucket size */
	unsigned mse_rate;     /* MSE handshakes per second per address */
	unsigned mse_burst;
	struct cidr_set deny;	/* refused (empty: nobody) */
	struct cidr_set exempt; /* no limits (empty: nobody) */
};

/* What an admitted connection holds: released by admit_release. */
struct admit_ticket {
	uint16_t cell[4]; /* address row 0, row 1, prefix row 0, row 1 */
	uint8_t held;	  /* 1: the counts above were taken */
};

struct admit;

/* Builds the shared table (768 KiB). cfg is copied. 0, -ENOMEM, or the
 * error of getrandom (its key). */
int admit_create(const struct admit_config *cfg, struct admit **out, struct seed_err *err);
void admit_free(struct admit *a);

/*
 * A new connection from fam/addr (AF_INET: 4 bytes, AF_INET6: 16, network
 * order) at now_ms (any monotonic clock in ms, the same for every caller).
 * 0: admitted, *out filled (release it at close). -EACCES: refused,
 * *out_why says why and *out holds nothing. Safe from any thread.
 */
int admit_conn(struct admit *a, int fam, const uint8_t *addr, uint64_t now_ms,
	       struct admit_ticket *out, enum dpstats_admit *out_why);

/* The connection is gone: gives back what admit_conn counted (a ticket
 * that holds nothing is ignored, so calling it twice is harmless). */
void admit_release(struct admit *a, struct admit_ticket *t);

/* A peer from fam/addr starts an MSE handshake: 1 allowed (a token taken),
 * 0 over the rate. */
int admit_mse(struct admit *a, int fam, const uint8_t *addr, uint64_t now_ms);

#endif
