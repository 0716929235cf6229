/*
 * parity: Reed–Solomon erasure coding over the store's 16 KiB blocks, with
 * ISA-L (docs/store.md, "Parity").
 *
 * A stripe is k data blocks of one object and m parity blocks computed
 * from them; any k of the k + m are enough to rebuild the others, so a
 * stripe survives up to m bad blocks. Blocks past the end of an object
 * (the last stripe's missing ones, the last block's tail) count as zeros.
 * The code works byte by byte, so a stripe whose data shards are all zeros
 * past len bytes is coded over len bytes alone: its parity past len would
 * be zeros (the store's short last stripes, store_shard in store.h).
 *
 * The code is systematic (data blocks are stored as they are) with a
 * Cauchy generator matrix, so every k x k submatrix is invertible: no
 * choice of surviving blocks is unlucky. Encoding and rebuilding are pure
 * functions of the buffers they are given; nothing here does I/O.
 */
#ifndef SEED_PARITY_H
#define SEED_PARITY_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

#define PARITY_MAX_K 32u
#define PARITY_MAX_M 4u
/* Shards of a stripe: data 0..k-1, then parity k..k+m-1. */
#define PARITY_MAX_SHARDS (PARITY_MAX_K + PARITY_MAX_M)

struct parity {
	unsigned k, m;
	/* the (k + m) x k generator: identity, then m Cauchy rows */
	uint8_t gen[PARITY_MAX_SHARDS * PARITY_MAX_K];
	uint8_t enc_tables[32 * PARITY_MAX_K * PARITY_MAX_M];
};

/* k from 1 to PARITY_MAX_K, m from 1 to PARITY_MAX_M; -EINVAL names the
 * one out of range. */
int parity_init(struct parity *p, unsigned k, unsigned m, struct seed_err *err);

/* Computes the m parity blocks out[0..m) of len bytes from data[0..k). */
void parity_encode(const struct parity *p, size_t len, uint8_t *const *data, uint8_t *const *out);

/*
 * Rebuilds the shards of one stripe whose bit is set in lost (bit i: shard
 * i, data first), in place, from the others: shards[0..k+m) all point at
 * len-byte buffers, those of lost shards are overwritten. 0, or -EINVAL
 * when lost names more than m shards, none, or one past k + m.
 */
int parity_rebuild(const struct parity *p, size_t len, uint8_t *const *shards, uint64_t lost);

#endif
