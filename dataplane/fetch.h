/*
 * fetch: brings a queued block segment into memory — a cache hit pins it
 * at once; a miss starts one O_DIRECT read into the cache slot (verified
 * against the block's XXH3 when it lands); a fill already in flight queues
 * the segment as a waiter; a block that failed verification before
 * (quarantined) is refused without another read. Also the storage side of
 * the worker: reaping reads, resolving their waiters, and the object files
 * it has open (ofd.h: opened when a read needs one, the least recently used
 * closed when the table is full; the storage ring's registered files
 * follow the table slot for slot).
 *
 * Call order: fetch_setup at start-up; fetch_seg for each new or retried
 * segment; fetch_on_storage when the storage ring signals; fetch_teardown
 * when no read is in flight any more. Part of the worker (worker_int.h);
 * one thread.
 */
#ifndef SEED_DP_FETCH_H
#define SEED_DP_FETCH_H

#include <stdint.h>

#include "worker_int.h"

/* Tries to bring segment si's block into memory; a segment that cannot
 * make progress now is marked for retry. */
void fetch_seg(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si);
/* Reaps completed reads: counts them, verifies through the cache, hands
 * each waiter its block (or its failure). */
void fetch_on_storage(struct worker *w);
/* The worker's wake fd fired (the loader, or another worker's fill): takes
 * the blocks other workers' reads brought for its peers (scache.h's
 * inbox) and lets waiting retries run. */
void fetch_on_wake(struct worker *w);
/* A worker that polls instead of sleeping, on every pass: both of the
 * above. */
void fetch_poll(struct worker *w);
/* The object descriptor table, conf->object_fds / workers slots, and the
 * storage ring's file table (a kernel or limit that refuses it leaves
 * reads on plain fds: logged once, worker 0). */
int fetch_setup(struct worker *w, struct seed_err *err);
void fetch_teardown(struct worker *w);

#endif
