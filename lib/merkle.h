/*
 * merkle: the BEP 52 per-file SHA-256 merkle tree.
 *
 * Leaves are the SHA-256 of each 16 KiB block of a file (the last block may be
 * short and is hashed as it is). The tree is built over the leaves padded with
 * all-zero 32-byte hashes up to the next power of two; its root is the file's
 * "pieces root". The piece layer is the tree level whose nodes each cover one
 * piece (piece_blocks = piece_length / 16 KiB leaves, a power of two); BEP 52
 * stores it only for files longer than one piece. Empty files have no tree.
 */
#ifndef SEED_MERKLE_H
#define SEED_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define MERKLE_BLOCK_SIZE 16384u
#define MERKLE_HASH_LEN	  32u

/* Leaves of a file of file_len bytes: ceil(file_len / 16 KiB). */
uint64_t merkle_leaf_count(uint64_t file_len);

/*
 * Root of the tree over n >= 1 leaves (n * 32 bytes, borrowed).
 * Returns 0, -EINVAL (n == 0) or -ENOMEM.
 */
int merkle_root(struct hash_ctx *h, const uint8_t *leaves, size_t n,
		uint8_t out_root[MERKLE_HASH_LEN]);

/*
 * The piece layer: ceil(n / piece_blocks) hashes written to out_layer, each
 * the root of piece_blocks leaves (the last piece padded with zero leaves).
 * piece_blocks must be a power of two >= 1. Returns 0, -EINVAL or -ENOMEM.
 */
int merkle_layer(struct hash_ctx *h, const uint8_t *leaves, size_t n, size_t piece_blocks,
		 uint8_t *out_layer);

/*
 * The root from a piece layer of n_layer >= 1 hashes: the layer padded up to
 * a power of two with the root of a piece of piece_blocks zero leaves.
 * Equals merkle_root() over the leaves the layer came from when the file has
 * more than piece_blocks / 2 leaves (always true where BEP 52 stores a
 * layer: files longer than one piece).
 */
int merkle_root_from_layer(struct hash_ctx *h, const uint8_t *layer, size_t n_layer,
			   size_t piece_blocks, uint8_t out_root[MERKLE_HASH_LEN]);

#endif
