/*
 * cache: a worker's block cache — 16 KiB blocks of store objects, verified
 * on the way in, pinned while the NIC reads them, evicted with S3-FIFO.
 *
 * One cache per worker, used from that worker's thread only: no locks. Its
 * memory is one region allocated at start (2 MiB hugepages when the machine
 * has them, plain pages otherwise) so the worker can register it with
 * io_uring once, read blocks into it with O_DIRECT and send from it with
 * SEND_ZC. Nothing is allocated after cache_create.
 *
 * Call order for a block:
 *   cache_get(key) -> CACHE_HIT:   *out_data is the block; pinned.
 *                  -> CACHE_FILL:  the caller reads the block from the store
 *                                  into *out_data and then calls cache_fill_done;
 *                                  pinned for the caller.
 *                  -> CACHE_WAIT:  a read of that block is in flight; the
 *                                  caller's cookie is queued and comes back
 *                                  from cache_fill_done (one read per block,
 *                                  however many peers want it).
 *                  -> CACHE_BUSY:  every slot is pinned or filling; retry later.
 *   cache_fill_done(slot, bytes read) verifies the block's XXH3-128 against
 *   the expected value given to cache_get; a block that fails is never
 *   served: the slot is dropped, waiters are told, a counter moves.
 *   cache_unpin(data) when the send that used the block completed.
 */
#ifndef SEED_CACHE_H
#define SEED_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

#define CACHE_BLOCK 16384u

struct cache_key {
	uint32_t object; /* the worker's object handle */
	uint32_t block;	 /* 16 KiB block index within the object's data */
};

struct cache_config {
	size_t bytes;	    /* total block memory; rounded down to whole blocks, >= 64 blocks */
	int try_hugepages;  /* MAP_HUGETLB first, plain pages on failure */
	size_t max_waiters; /* bound on queued CACHE_WAIT cookies (default 4 per slot) */
};

struct cache_counters {
	uint64_t hits, misses, waits, busy;
	uint64_t claims; /* fills started by cache_claim (read-ahead) */
	uint64_t fills, evictions;
	uint64_t verify_failures;
	uint64_t bytes_filled;
};

enum cache_status {
	CACHE_HIT = 0,
	CACHE_FILL,
	CACHE_WAIT,
	CACHE_BUSY,
};

struct cache;

int cache_create(const struct cache_config *cfg, struct cache **out_cache, struct seed_err *err);
void cache_destroy(struct cache *c);

/* The block memory, for io_uring buffer registration. */
void *cache_memory(const struct cache *c, size_t *out_len);
int cache_uses_hugepages(const struct cache *c);
const struct cache_counters *cache_counters(const struct cache *c);

/*
 * Looks a block up. expected_xxh (16 bytes, borrowed for the call) is the
 * block's XXH3-128 from the store's block table; len its length (16 KiB, or
 * less for the last block of an object). cookie identifies the caller for
 * CACHE_WAIT. On HIT and FILL, *out_data points at the slot memory and the
 * block is pinned once for the caller; *out_slot names it for fill_done.
 */
enum cache_status cache_get(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
			    uint32_t len, uint64_t cookie, uint8_t **out_data, uint32_t *out_slot);

/*
 * Starts the fill of a block nobody asked for yet (a read-ahead,
 * readahead.h): CACHE_FILL, pinned for the caller, only when the block is
 * neither cached nor being read; otherwise CACHE_HIT (nothing pinned,
 * nothing queued) or CACHE_BUSY (no slot). Counted in claims, not misses.
 * The caller completes it with cache_fill_done as any fill.
 */
enum cache_status cache_claim(struct cache *c, struct cache_key key, const uint8_t expected_xxh[16],
			      uint32_t len, uint8_t **out_data, uint32_t *out_slot);

/*
 * A hint that key will be looked up soon: starts loading its index entry
 * into the CPU cache (the lookup's first miss in a large cache). Changes
 * nothing.
 */
void cache_prefetch(const struct cache *c, struct cache_key key);

/*
 * Completes a fill. read_len is what the read returned (negative errno on
 * failure). Returns 1 when the block is now valid (verified), 0 when it was
 * dropped (short read, I/O error or checksum mismatch: verify_failures
 * counts mismatches only). Waiters queued on the slot are written to
 * out_cookies (up to cap; the count is returned through out_n); each of
 * them now holds a pin when the block is valid and must cache_unpin it.
 */
int cache_fill_done(struct cache *c, uint32_t slot, int64_t read_len, uint64_t *out_cookies,
		    size_t cap, size_t *out_n);

/*
 * Whether a filling slot now holds its block whole: read_len (what the read
 * returned) is the block's length and the bytes match its XXH3-128. Leaves
 * the fill open: a caller that can repair a bad block rewrites the slot's
 * memory, checks again and then calls cache_fill_done, its waiters still
 * queued. A block found whole here is not hashed again by cache_fill_done
 * (the slot's bytes do not change between the two calls).
 */
int cache_fill_check(struct cache *c, uint32_t slot, int64_t read_len);

/* Releases one pin taken by cache_get or handed out by cache_fill_done. */
void cache_unpin(struct cache *c, const uint8_t *data);

#endif
