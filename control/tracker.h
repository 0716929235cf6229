/*
 * tracker: seed-control's tracker client — the I/O around the sans-I/O
 * announce engine (announce.h). It runs in its own thread with its own
 * poll loop, so a slow DNS lookup or an unreachable tracker never stalls
 * the API or the catalog.
 *
 * The loop hands it the desired set of registrations (tracker URL x 20-byte
 * info-hash, for every servable release: the v1 info-hash, the v2 one
 * truncated, and the --also-v1 companion's). A registration that appears is
 * announced `started`, then regularly (honouring interval / min interval,
 * with exponential backoff on failure); one that disappears is announced
 * `stopped` once. tracker_stop_all announces `stopped` for everything (drain,
 * shutdown) and waits a bounded time.
 *
 * Thread safety: every function may be called from any thread; the set and
 * the status are guarded by one mutex that the tracker thread holds only
 * briefly (never across I/O).
 */
#ifndef SEED_CTL_TRACKER_H
#define SEED_CTL_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

#define TRACKER_URL_MAX 1024
#define TRACKER_REL_MAX 200

struct tracker_config {
	uint8_t peer_id[20];
	uint16_t port;	     /* the BitTorrent port peers should connect to */
	int announce_family; /* 0, AF_INET or AF_INET6: explicit address to announce */
	uint8_t announce_addr[16];
	uint32_t numwant; /* peers asked for (a seed needs none: 0) */
	/* bind outgoing announces to this source address (tests: the address
	 * peers must see; opentracker takes the peer address from the source);
	 * family 0 = any */
	int source_family;
	uint8_t source_addr[16];
};

struct tracker_reg {
	char url[TRACKER_URL_MAX + 1];
	uint8_t info_hash[20];
	char release[TRACKER_REL_MAX + 1]; /* for status and logs */
};

enum tracker_result {
	TRACKER_NONE = 0, /* not announced yet */
	TRACKER_OK,
	TRACKER_FAILURE, /* the tracker answered with a failure reason */
	TRACKER_ERROR,	 /* no answer, bad answer, network or DNS error */
};

struct tracker_status {
	struct tracker_reg reg;
	enum tracker_result last_result;
	char last_message[256]; /* failure reason or error, "" when ok */
	int64_t last_announce;	/* unix seconds, 0 never */
	int64_t next_announce;	/* unix seconds */
	uint32_t peers_seen;	/* peers in the last answer */
	uint32_t seeders, leechers;
	int stopping; /* removed: a `stopped` is pending */
};

struct tracker;

int tracker_create(const struct tracker_config *cfg, struct tracker **out, struct seed_err *err);
/* Stops the thread (without announcing: call tracker_stop_all first). */
void tracker_destroy(struct tracker *t);

/* Replaces the desired set (copied). 0 or -ENOMEM. */
int tracker_set(struct tracker *t, const struct tracker_reg *regs, size_t n);

/* Announces `stopped` for every registration and waits at most timeout_ms
 * for the answers; later tracker_set calls are ignored. */
void tracker_stop_all(struct tracker *t, unsigned timeout_ms);

/* Copies up to cap registrations' status; returns how many there are. */
size_t tracker_status(struct tracker *t, struct tracker_status *out, size_t cap);

/* Announces sent so far by result: [0] ok, [1] failure, [2] error. */
void tracker_totals(struct tracker *t, uint64_t out[3]);

#endif
