/*
 * posidx: an index from keys to positions in an array the caller owns —
 * open addressing with linear probing over a power-of-two table of
 * position + 1 (0: empty), at most half full. The caller hashes its keys
 * and compares them; the index only stores positions, so the array's
 * entries can be anything (ids, pieces roots).
 *
 *   posidx_reserve(x, n, want, hash_at, arr)  room for want, rebuilt from
 *                                             arr[0..n) when it grows
 *                                             (posidx_rebuild: always)
 *   for (size_t j = posidx_first(x, h); x->slot[j]; j = posidx_next(x, j))
 *           if (key of arr[x->slot[j] - 1] is the one) ...
 *   posidx_put(x, h, pos)                     after a reserve that has room
 */
#ifndef SEED_POSIDX_H
#define SEED_POSIDX_H

#include <stddef.h>
#include <stdint.h>

struct posidx {
	uint32_t *slot;
	size_t size; /* a power of two; 0: nothing yet (posidx_first needs a reserve) */
};

/* A new table with room for want entries (at least twice as many slots)
 * holding arr[0..n), hashed through hash_at. 0, or -ENOMEM with x as it
 * was. */
int posidx_rebuild(struct posidx *x, size_t n, size_t want,
		   uint64_t (*hash_at)(const void *arr, size_t i), const void *arr);
/* posidx_rebuild only when x has no room for want entries yet. */
int posidx_reserve(struct posidx *x, size_t n, size_t want,
		   uint64_t (*hash_at)(const void *arr, size_t i), const void *arr);
/* Records position pos under hash h (a reserve gave it room). */
void posidx_put(struct posidx *x, uint64_t h, size_t pos);
void posidx_free(struct posidx *x);

static inline size_t posidx_first(const struct posidx *x, uint64_t h)
{
	return (size_t)h & (x->size - 1);
}

static inline size_t posidx_next(const struct posidx *x, size_t j)
{
	return (j + 1) & (x->size - 1);
}

#endif
