/*
 * merkle: BEP 52 merkle trees over 16 KiB block hashes. See merkle.h.
 *
 * All three entry points are one operation, reduce(): lift a row of nodes up
 * a given number of levels, each parent = SHA-256(left || right), where a
 * missing right child at the end of a row is the row's padding hash. The
 * padding of the leaf row is 32 zero bytes and each level's padding is
 * SHA-256(pad || pad), i.e. the root of an all-zero subtree of that height.
 * So:
 *   merkle_root            = reduce(leaves, log2(next_pow2(n)), pad 0)
 *   merkle_layer           = reduce(leaves, log2(piece_blocks), pad 0)
 *   merkle_root_from_layer = reduce(layer, log2(next_pow2(n_layer)),
 *                                   pad = root of piece_blocks zero leaves)
 *
 * Each level is hashed with hash_sha256_batch() in chunks of 64-byte
 * messages so the multi-buffer lanes stay full. A parent never overwrites a
 * row that is still being read: rows alternate between two scratch buffers,
 * because a multi-buffer job may read its input after a later job in the
 * same batch has written its digest.
 */
#include "merkle.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Pairs per hash_sha256_batch() call: enough to fill every lane many times
 * over, small enough that the job array is a fixed 96 KiB. */
#define MERKLE_CHUNK 4096u

uint64_t merkle_leaf_count(uint64_t file_len)
{
	return file_len / MERKLE_BLOCK_SIZE + (file_len % MERKLE_BLOCK_SIZE != 0);
}

static bool is_pow2(size_t x)
{
	return x && !(x & (x - 1));
}

/* Levels above a row of n >= 1 nodes up to a single root:
 * log2(next_pow2(n)). */
static unsigned levels_for(size_t n)
{
	unsigned k = 0;

	while (k < sizeof(size_t) * 8 && ((size_t)1 << k) < n)
		k++;
	return k;
}

static unsigned log2_pow2(size_t x)
{
	unsigned k = 0;

	while (x > 1) {
		x >>= 1;
		k++;
	}
	return k;
}

/* pad <- SHA-256(pad || pad), `times` times. */
static int pad_up(struct hash_ctx *h, uint8_t pad[MERKLE_HASH_LEN], unsigned times)
{
	uint8_t msg[2 * MERKLE_HASH_LEN];

	for (unsigned i = 0; i < times; i++) {
		int rc;

		memcpy(msg, pad, MERKLE_HASH_LEN);
		memcpy(msg + MERKLE_HASH_LEN, pad, MERKLE_HASH_LEN);
		rc = hash_sha256(h, msg, sizeof(msg), pad);
		if (rc)
			return rc;
	}
	return 0;
}

/* One level: out[i] = H(in[2i] || in[2i+1]), the missing last right child
 * being pad. in and out must not overlap. */
static int reduce_level(struct hash_ctx *h, struct hash_job *jobs, const uint8_t *in, size_t n,
			const uint8_t *pad, uint8_t *out)
{
	size_t parents = n / 2 + (n & 1);
	uint8_t tail[2 * MERKLE_HASH_LEN];

	for (size_t base = 0; base < parents; base += MERKLE_CHUNK) {
		size_t cnt = parents - base;
		int rc;

		if (cnt > MERKLE_CHUNK)
			cnt = MERKLE_CHUNK;
		for (size_t k = 0; k < cnt; k++) {
			size_t i = base + k;

			/* A full pair is 64 contiguous bytes of the row. */
			jobs[k].data = in + 2 * i * MERKLE_HASH_LEN;
			jobs[k].len = 2 * MERKLE_HASH_LEN;
			jobs[k].out = out + i * MERKLE_HASH_LEN;
			if (2 * i + 1 == n) {
				memcpy(tail, in + 2 * i * MERKLE_HASH_LEN, MERKLE_HASH_LEN);
				memcpy(tail + MERKLE_HASH_LEN, pad, MERKLE_HASH_LEN);
				jobs[k].data = tail;
			}
		}
		rc = hash_sha256_batch(h, jobs, cnt);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Lifts the row in[0..n) (n >= 1) by `levels` levels, starting with padding
 * hash pad (updated to the padding of the final level), and writes the
 * ceil(n / 2^levels) resulting nodes to out. in is borrowed and not written.
 */
static int reduce(struct hash_ctx *h, const uint8_t *in, size_t n, unsigned levels,
		  uint8_t pad[MERKLE_HASH_LEN], uint8_t *out)
{
	struct hash_job *jobs = NULL;
	uint8_t *buf[2] = { NULL, NULL };
	const uint8_t *row = in;
	size_t rows_n = n;
	int rc = 0;

	if (levels == 0) {
		memmove(out, in, n * MERKLE_HASH_LEN);
		return 0;
	}

	/* Row 1 needs ceil(n/2) nodes, row 2 ceil(n/4); later rows reuse the
	 * two buffers alternately and are never larger. n <= SIZE_MAX / 32
	 * was checked by the caller, so these products cannot overflow. */
	size_t n1 = n / 2 + (n & 1);
	size_t n2 = n1 / 2 + (n1 & 1);
	size_t jobs_n = n1 < MERKLE_CHUNK ? n1 : MERKLE_CHUNK;

	jobs = malloc(jobs_n * sizeof(*jobs));
	buf[0] = malloc(n1 * MERKLE_HASH_LEN);
	buf[1] = malloc(n2 * MERKLE_HASH_LEN);
	if (!jobs || !buf[0] || !buf[1]) {
		rc = -ENOMEM;
		goto out;
	}

	for (unsigned lv = 0; lv < levels; lv++) {
		uint8_t *dst = buf[lv & 1];

		rc = reduce_level(h, jobs, row, rows_n, pad, dst);
		if (rc)
			goto out;
		rc = pad_up(h, pad, 1);
		if (rc)
			goto out;
		row = dst;
		rows_n = rows_n / 2 + (rows_n & 1);
	}
	memcpy(out, row, rows_n * MERKLE_HASH_LEN);
out:
	free(jobs);
	free(buf[0]);
	free(buf[1]);
	return rc;
}

int merkle_root(struct hash_ctx *h, const uint8_t *leaves, size_t n,
		uint8_t out_root[MERKLE_HASH_LEN])
{
	uint8_t pad[MERKLE_HASH_LEN] = { 0 };

	if (!h || !leaves || !out_root || n == 0 || n > SIZE_MAX / MERKLE_HASH_LEN)
		return -EINVAL;
	return reduce(h, leaves, n, levels_for(n), pad, out_root);
}

int merkle_layer(struct hash_ctx *h, const uint8_t *leaves, size_t n, size_t piece_blocks,
		 uint8_t *out_layer)
{
	uint8_t pad[MERKLE_HASH_LEN] = { 0 };

	if (!h || !leaves || !out_layer || n == 0 || n > SIZE_MAX / MERKLE_HASH_LEN ||
	    !is_pow2(piece_blocks))
		return -EINVAL;
	return reduce(h, leaves, n, log2_pow2(piece_blocks), pad, out_layer);
}

int merkle_root_from_layer(struct hash_ctx *h, const uint8_t *layer, size_t n_layer,
			   size_t piece_blocks, uint8_t out_root[MERKLE_HASH_LEN])
{
	uint8_t pad[MERKLE_HASH_LEN] = { 0 };
	int rc;

	if (!h || !layer || !out_root || n_layer == 0 || n_layer > SIZE_MAX / MERKLE_HASH_LEN ||
	    !is_pow2(piece_blocks))
		return -EINVAL;
	/* The layer is padded with whole pieces of zero leaves. */
	rc = pad_up(h, pad, log2_pow2(piece_blocks));
	if (rc)
		return rc;
	return reduce(h, layer, n_layer, levels_for(n_layer), pad, out_root);
}
