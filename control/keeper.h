/*
 * keeper: seed-control's store keeper, one thread that does the store's
 * slow work so that the control loop never waits on the disk:
 *
 *  - the background scrub (scrub_background, lib/scrub.h): a pass over
 *    every object at scrub_rate, started every scrub_interval; it reads
 *    without the store's lock and takes the writer lock per repair only,
 *    so a `release create` never waits for a pass;
 *  - write-back: each block the data plane found bad on its way into the
 *    cache (its repair records, dpstats.h) has its stripe checked and
 *    rebuilt on disk under the writer lock within seconds (scrub_block), so
 *    the data plane does not rebuild the same block again on every read
 *    until the next pass; records are taken in batches, one lock each;
 *  - reclaim: the releases the control loop says are due (retired longer
 *    than reclaim_retired) are removed with everything no other release
 *    holds (store_release_remove), one at a time under the writer lock,
 *    also in the middle of a pass (between two objects).
 *
 * The writer lock is taken without blocking and tried again every 200 ms,
 * so stopping the keeper never waits for another writer. The first pass
 * starts scrub_interval after the last whole-store scrub recorded in
 * STORE/scrub.last (at once when there is none, or when it is older), so
 * restarting seed-control does not start the store over.
 *
 * Thread safety: every function may be called from the control loop while
 * the thread runs; they share one mutex, held for a copy.
 */
#ifndef SEED_CTL_KEEPER_H
#define SEED_CTL_KEEPER_H

#include <stdbool.h>
#include <stdint.h>

#include "dpstats.h"
#include "scrub.h"
#include "seed_err.h"

/* Releases waiting for reclaim at once; more wait for the next tick. */
#define KEEPER_QUEUE 64
/* Repair records waiting at once; more are dropped (counted): the next
 * pass finds those blocks. */
#define KEEPER_REPAIRS 256

struct keeper_settings {
	int64_t scrub_interval_s; /* 0: no background scrub */
	uint64_t scrub_rate;	  /* bytes a second, 0: as fast as it goes */
};

struct keeper_status {
	bool scrubbing;		  /* a pass is running */
	int64_t pass_started;	  /* of the running or last pass, Unix seconds; 0: none */
	int64_t next_pass;	  /* when the next one starts; 0: none planned */
	uint64_t passes;	  /* passes finished since seed-control started */
	uint64_t passes_failed;	  /* passes ended by an error (said in the log) */
	struct scrub_stats cur;	  /* the running pass's counters so far */
	uint64_t reclaimed;	  /* releases removed */
	uint64_t reclaim_failed;  /* removals that failed (each retried after 10 minutes) */
	uint64_t reclaim_waiting; /* releases queued for removal */
	/* the data plane's repair records: taken, and what checking their
	 * stripes on disk found */
	uint64_t records;	  /* records handed over (keeper_repair) */
	uint64_t records_dropped; /* not checked: the queue or the data plane's ring was full */
	uint64_t written_back;	  /* blocks (data and parity) rebuilt on disk from them */
	uint64_t found_whole;	  /* records whose stripe was whole on disk already */
	uint64_t found_lost;	  /* data blocks beyond their stripe's parity */
	uint64_t check_failed;	  /* checks that failed (I/O; said in the log) */
};

struct keeper;

/* Starts the thread for the store at store_dir. */
int keeper_start(const char *store_dir, const struct keeper_settings *s, struct keeper **out,
		 struct seed_err *err);
/* New settings (a config reload); the running pass keeps its rate. */
void keeper_set(struct keeper *k, const struct keeper_settings *s);
/* Asks for release id to be removed; nothing when it is queued already,
 * failed less than 10 minutes ago, or the queue is full. */
void keeper_reclaim(struct keeper *k, const char *id);
/* Hands over a repair record of the data plane; dropped (counted) when
 * the queue is full. */
void keeper_repair(struct keeper *k, const struct dpstats_repair *r);
/* Records the data plane's ring overwrote before seed-control read them. */
void keeper_records_missed(struct keeper *k, uint64_t n);
void keeper_status(struct keeper *k, struct keeper_status *out);
/* Stops the thread (a running pass ends at its next read) and frees k.
 * NULL is fine. */
void keeper_stop(struct keeper *k);

#endif
