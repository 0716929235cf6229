/*
 * scache: one block cache for all data-plane workers — 16 KiB blocks of
 * store objects, verified on the way in, pinned while a NIC reads them,
 * evicted with S3-FIFO. The shared successor of cache.h: a block is read
 * from the store once per box, whichever worker's peer asks first.
 *
 * Its memory is one region mapped at start (2 MiB hugepages when the
 * machine has them, plain pages otherwise), every slot 4 KiB-aligned, so
 * each worker registers the whole region with its own io_uring, reads
 * blocks into it with O_DIRECT and sends from it with SEND_ZC. Nothing is
 * allocated after scache_create.
 *
 * Every call names its worker (0 .. n_workers - 1), and each worker calls
 * from its own thread: per-worker state (counters, inbox) is written by
 * that worker and by fill completions under the lock, never by two workers
 * at once without it.
 *
 * Which calls lock, and why:
 *   lock-free   scache_get on a hit, scache_unpin, scache_prefetch,
 *               scache_fill_check, scache_take with an empty inbox: the hit
 *               path is what every send costs, so it is atomics only (an
 *               index read, one CAS on the slot's word; see scache.c).
 *   one mutex   scache_get on a miss (starting a fill, evicting, queueing a
 *               waiter), scache_fill_done, scache_take with entries: a miss
 *               costs a disk read anyway (tens of microseconds), and the
 *               eviction queues, the waiter lists and the inboxes stay
 *               simple under one lock. Hashing a filled block happens before
 *               the lock is taken, never under it.
 *
 * Call order for a block:
 *   scache_get(worker, key)
 *     -> SCACHE_HIT:  *out_data is the block; pinned for the caller.
 *     -> SCACHE_FILL: the caller reads the block from the store into
 *                     *out_data and then calls scache_fill_done (after
 *                     scache_fill_check and a repair, if it has one);
 *                     pinned for the caller.
 *     -> SCACHE_WAIT: a read of the block is in flight, maybe by another
 *                     worker; the caller's cookie is queued on it and comes
 *                     back once: from scache_fill_done when the caller's
 *                     own worker filled it, from scache_take otherwise.
 *     -> SCACHE_BUSY: every slot is pinned or filling, or the waiter pool
 *                     is full; nothing was queued: retry later.
 *   scache_unpin(data) once per pin, from any thread, when the send that
 *   used the block completed.
 *
 * Object handles in keys must name the same object in every worker (the
 * served set's handles are process-wide).
 */
#ifndef SEED_SCACHE_H
#define SEED_SCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

#define SCACHE_BLOCK	   16384u
#define SCACHE_MAX_WORKERS 1024u

struct scache_key {
	uint32_t object; /* a process-wide object handle */
	uint32_t block;	 /* 16 KiB block index within the object's data */
};

/*
 * Called by scache_fill_done (on the filling worker's thread, with no lock
 * held) when it put entries in another worker's inbox: at most once per
 * fill_done per worker. It must be cheap and must not call back into the
 * cache: write an eventfd, set a flag.
 */
typedef void (*scache_wake_fn)(void *arg, unsigned worker);

struct scache_config {
	size_t bytes;	     /* total block memory; rounded down to whole blocks, >= 64 blocks */
	int try_hugepages;   /* MAP_HUGETLB first, plain pages on failure */
	size_t max_waiters;  /* bound on queued SCACHE_WAIT cookies and undrained inbox
			       entries together (default 4 per slot) */
	unsigned n_workers;  /* 1 .. SCACHE_MAX_WORKERS */
	scache_wake_fn wake; /* may be NULL: workers then poll scache_take */
	void *wake_arg;	     /* borrowed; passed to wake */
};

/* One worker's share; each worker's on its own cache lines. */
struct scache_counters {
	uint64_t hits, misses, waits, busy;
	uint64_t claims; /* fills started by scache_claim (read-ahead) */
	uint64_t fills, evictions;
	uint64_t verify_failures;
	uint64_t bytes_filled;
};

enum scache_status {
	SCACHE_HIT = 0,
	SCACHE_FILL,
	SCACHE_WAIT,
	SCACHE_BUSY,
};

/*
 * A waiter's outcome, handed to its worker by scache_take. err says why a
 * fill failed, so a worker can retry what was transient (the filler could
 * not submit its read: -EAGAIN) and refuse what was not: the read's own
 * -errno, -EIO for a short read, -EBADMSG for a checksum mismatch.
 */
struct scache_delivery {
	uint64_t cookie; /* what the waiting scache_get was given */
	uint8_t *data;	 /* the block when ok (pinned: scache_unpin it), else NULL */
	int ok;		 /* 1: the block is valid; 0: its fill failed */
	int err;	 /* 0 when ok, else the failure's -errno (above) */
};

struct scache;

/*
 * Maps the region and sizes every table. Returns 0, or -EINVAL (a config
 * out of bounds) / -ENOMEM with err saying which value and why.
 */
int scache_create(const struct scache_config *cfg, struct scache **out_cache, struct seed_err *err);
/* No call may be running and no read in flight. */
void scache_destroy(struct scache *sc);

/* The block memory, for io_uring buffer registration (every worker's). */
void *scache_memory(const struct scache *sc, size_t *out_len);
int scache_uses_hugepages(const struct scache *sc);
/* Misses (any worker's) that found every slot pinned or filling, so far:
 * when it moves, the cache is short of slots and workers let go of the
 * blocks queued for peers that stopped reading (worker.c). Any thread. */
uint64_t scache_pressure(const struct scache *sc);

/* worker's counters; read them on worker's thread (only it and calls made
 * for it write them). Valid while sc lives. */
const struct scache_counters *scache_counters(const struct scache *sc, unsigned worker);

/*
 * Looks a block up for worker. expected_xxh (16 bytes, borrowed for the
 * call) is the block's XXH3-128 from the store's block table; len its
 * length (16 KiB, or less for the last block of an object). cookie
 * identifies the caller for SCACHE_WAIT. On HIT and FILL, *out_data points
 * at the slot memory and the block is pinned once for the caller;
 * *out_slot names it for fill_check and fill_done (slot numbers are
 * 0 .. bytes / SCACHE_BLOCK - 1, the same for every worker).
 */
enum scache_status scache_get(struct scache *sc, unsigned worker, struct scache_key key,
			      const uint8_t expected_xxh[16], uint32_t len, uint64_t cookie,
			      uint8_t **out_data, uint32_t *out_slot);

/*
 * Starts the fill of a block nobody asked for yet (a read-ahead,
 * readahead.h): SCACHE_FILL, pinned for the caller, only when the block is
 * neither cached nor being read by any worker; otherwise SCACHE_HIT
 * (nothing pinned, nothing queued) or SCACHE_BUSY (no slot). Locks, as a
 * miss does. Counted in claims, not misses; completed with
 * scache_fill_done as any fill.
 */
enum scache_status scache_claim(struct scache *sc, unsigned worker, struct scache_key key,
				const uint8_t expected_xxh[16], uint32_t len, uint8_t **out_data,
				uint32_t *out_slot);

/* A hint that key will be looked up soon: loads its index entry into the
 * CPU cache. Changes nothing. */
void scache_prefetch(const struct scache *sc, struct scache_key key);

/*
 * Whether a filling slot now holds its block whole: read_len (what the read
 * returned) is the block's length and the bytes match its XXH3-128. Only
 * its filler may ask. Leaves the fill open: a caller that can repair a bad
 * block rewrites the slot's memory, checks again and then calls
 * scache_fill_done, every worker's waiters still queued. A block found
 * whole here is not hashed again by scache_fill_done.
 */
int scache_fill_check(struct scache *sc, uint32_t slot, int64_t read_len);

/*
 * Completes a fill; worker is the filler's. read_len is what the read
 * returned (negative errno on failure). Returns 1 when the block is now
 * valid (verified), 0 when it was dropped (short read, I/O error or
 * checksum mismatch: verify_failures counts mismatches only; the filler's
 * pin is consumed, do not unpin), -EINVAL when slot is not filling.
 * The filler's own worker's waiters are written to out_cookies (up to cap;
 * the count through out_n); those past cap, and every other worker's, go
 * to that worker's inbox (scache_take), and each such worker's wake is
 * called once. When the block is valid every waiter holds a pin.
 * Nothing is lost: the inboxes share the waiter pool's bound.
 */
int scache_fill_done(struct scache *sc, unsigned worker, uint32_t slot, int64_t read_len,
		     uint64_t *out_cookies, size_t cap, size_t *out_n);

/*
 * Moves up to cap of worker's inbox entries (oldest first) to out; returns
 * how many. An entry with ok holds a pin. Lock-free when the inbox is
 * empty, so a worker may call it on every loop pass.
 */
size_t scache_take(struct scache *sc, unsigned worker, struct scache_delivery *out, size_t cap);

/* Releases one pin taken by scache_get or handed out by scache_fill_done or
 * scache_take. Any thread. */
void scache_unpin(struct scache *sc, const uint8_t *data);

#endif
