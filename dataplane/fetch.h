/*
 * fetch: brings a queued block segment into memory — a cache hit pins it
 * at once; a miss starts one O_DIRECT read into the cache slot (verified
 * against the block's XXH3 when it lands); a fill already in flight queues
 * the segment as a waiter; a block that failed verification before
 * (quarantined) is refused without another read. Also the storage side of
 * the worker: reaping reads, resolving their waiters, and the registered
 * file table of the served objects.
 *
 * Call order: fetch_register_objects at start-up; fetch_register_new at
 * each loop pass (objects a catalog switch added); fetch_seg for each new
 * or retried segment; fetch_on_storage when the storage ring signals.
 * Part of the worker (worker_int.h); one thread.
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
/* Registers the served objects' files with the storage ring. A kernel or
 * limit that refuses leaves reads on plain fds (logged once, worker 0). */
int fetch_register_objects(struct worker *w, struct seed_err *err);
void fetch_register_new(struct worker *w);

#endif
