/*
 * test_merkle: lib/merkle.c against a naive recursive reference written from
 * the BEP 52 text, with libcrypto's SHA256() (testutil.h's tu_ref_sha256) and nothing from lib/.
 *
 * BEP 52, "pieces root": a binary merkle tree over the SHA-256 of each 16 KiB
 * block of the file (the last block may be short); the leaf hashes beyond the
 * end of the file needed to build the upper layers are zero. "piece layers":
 * the layer whose hashes each cover one piece; the last piece is completed
 * with zero leaves; the layer's own padding up to a power of two uses the
 * root of a piece of zero leaves. Both implementations of hash.h are used.
 */
#include "merkle.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"

/* --- reference: the tree as BEP 52 describes it, recursively --- */

static void ref_pair(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t m[64];

	memcpy(m, l, 32);
	memcpy(m + 32, r, 32);
	tu_ref_sha256(m, 64, out);
}

/* Node covering leaves [lo, lo + width) of a row of n leaves; leaves at or
 * past n are 32 zero bytes. */
static void ref_node(const uint8_t *leaves, size_t n, size_t lo, size_t width, uint8_t out[32])
{
	uint8_t l[32], r[32];

	if (width == 1) {
		if (lo < n)
			memcpy(out, leaves + lo * 32, 32);
		else
			memset(out, 0, 32);
		return;
	}
	ref_node(leaves, n, lo, width / 2, l);
	ref_node(leaves, n, lo + width / 2, width / 2, r);
	ref_pair(l, r, out);
}

static size_t next_pow2(size_t n)
{
	size_t w = 1;

	while (w < n)
		w *= 2;
	return w;
}

static void ref_root(const uint8_t *leaves, size_t n, uint8_t out[32])
{
	ref_node(leaves, n, 0, next_pow2(n), out);
}

static void ref_layer(const uint8_t *leaves, size_t n, size_t pb, uint8_t *out)
{
	for (size_t i = 0; i * pb < n; i++)
		ref_node(leaves, n, i * pb, pb, out + i * 32);
}

/* Root over the layer, padded with the root of a piece of zero leaves. */
static void ref_root_layer(const uint8_t *layer, size_t n_layer, size_t pb, size_t lo, size_t width,
			   uint8_t out[32])
{
	uint8_t l[32], r[32];

	if (width == 1) {
		if (lo < n_layer) {
			memcpy(out, layer + lo * 32, 32);
		} else {
			uint8_t zero[32] = { 0 };

			ref_node(zero, 0, 0, pb, out);
		}
		return;
	}
	ref_root_layer(layer, n_layer, pb, lo, width / 2, l);
	ref_root_layer(layer, n_layer, pb, lo + width / 2, width / 2, r);
	ref_pair(l, r, out);
}

/* --- tests --- */

Test(merkle, leaf_count)
{
	cr_assert_eq(merkle_leaf_count(0), 0);
	cr_assert_eq(merkle_leaf_count(1), 1);
	cr_assert_eq(merkle_leaf_count(16383), 1);
	cr_assert_eq(merkle_leaf_count(16384), 1);
	cr_assert_eq(merkle_leaf_count(16385), 2);
	cr_assert_eq(merkle_leaf_count(32768), 2);
	cr_assert_eq(merkle_leaf_count(UINT64_MAX), UINT64_MAX / 16384 + 1);
	cr_assert_eq(merkle_leaf_count(UINT64_MAX - 16383), (UINT64_MAX - 16383) / 16384);
}

static const size_t leaf_counts[] = { 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 1000, 1024, 1025 };
#define N_COUNTS (sizeof(leaf_counts) / sizeof(leaf_counts[0]))

Test(merkle, root_matches_reference)
{
	tu_seed(10);
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (size_t c = 0; c < N_COUNTS; c++) {
			size_t n = leaf_counts[c];
			uint8_t *leaves = tu_random_buf(n * 32);
			uint8_t want[32], got[32];

			ref_root(leaves, n, want);
			cr_assert_eq(merkle_root(h, leaves, n, got), 0);
			cr_assert(memcmp(got, want, 32) == 0, "n=%zu (%s)", n,
				  hash_ctx_describe(h));
			free(leaves);
		}
	}
}

Test(merkle, single_leaf_root_is_the_leaf)
{
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		uint8_t leaf[32], root[32], byte = 0x61;

		/* A 1-byte file: one leaf, SHA-256 of that byte, which is
		 * also the root (no padding: next_pow2(1) == 1). */
		cr_assert_eq(merkle_leaf_count(1), 1);
		tu_ref_sha256(&byte, 1, leaf);
		cr_assert_eq(merkle_root(h, leaf, 1, root), 0);
		cr_assert(memcmp(root, leaf, 32) == 0);
	}
}

Test(merkle, known_answer_two_zero_blocks)
{
	static uint8_t file[32768]; /* zeros */
	uint8_t blk[32], pair[64], want[32];

	/* Computed here without merkle.c or hash.c. */
	tu_ref_sha256(file, 16384, blk);
	memcpy(pair, blk, 32);
	memcpy(pair + 32, blk, 32);
	tu_ref_sha256(pair, 64, want);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		uint8_t leaves[64], root[32];
		uint64_t n = merkle_leaf_count(sizeof(file));

		cr_assert_eq(n, 2);
		for (uint64_t i = 0; i < n; i++)
			cr_assert_eq(hash_sha256(h, file + i * 16384, 16384, leaves + i * 32), 0);
		cr_assert_eq(merkle_root(h, leaves, n, root), 0);
		cr_assert(memcmp(root, want, 32) == 0);
	}
}

/* A whole file through the pipeline: leaves of 16 KiB blocks, the last one
 * short, then root and layer; reference built with libcrypto only. */
Test(merkle, file_pipeline_with_short_last_block)
{
	size_t len = 5 * 16384 + 1234; /* 6 leaves */
	uint8_t *file;

	tu_seed(11);
	file = tu_random_buf(len);

	size_t n = merkle_leaf_count(len);
	uint8_t ref_leaves[6 * 32], want[32], want_layer[2 * 32];

	cr_assert_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		size_t bl = i + 1 < n ? 16384 : len - i * 16384;

		tu_ref_sha256(file + i * 16384, bl, ref_leaves + i * 32);
	}
	ref_root(ref_leaves, n, want);
	ref_layer(ref_leaves, n, 4, want_layer);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		struct hash_job jobs[6];
		uint8_t leaves[6 * 32], root[32], layer[2 * 32];

		for (size_t i = 0; i < n; i++) {
			jobs[i].data = file + i * 16384;
			jobs[i].len = i + 1 < n ? 16384 : len - i * 16384;
			jobs[i].out = leaves + i * 32;
		}
		cr_assert_eq(hash_sha256_batch(h, jobs, n), 0);
		cr_assert(memcmp(leaves, ref_leaves, sizeof(leaves)) == 0);
		cr_assert_eq(merkle_root(h, leaves, n, root), 0);
		cr_assert(memcmp(root, want, 32) == 0);
		cr_assert_eq(merkle_layer(h, leaves, n, 4, layer), 0);
		cr_assert(memcmp(layer, want_layer, sizeof(layer)) == 0);
	}
	free(file);
}

/*
 * Runs check over every implementation, every piece size in pbs and every
 * leaf count counts(pb) lists, each with fresh random leaves (from seed)
 * that check may read but not keep.
 */
typedef void layer_check(struct hash_ctx *h, uint8_t *leaves, size_t n, size_t pb);

static void each_layer_case(uint64_t seed, size_t (*counts)(size_t pb, size_t *out_ns),
			    layer_check *check)
{
	static const size_t pbs[] = { 1, 2, 4, 64 };

	tu_seed(seed);
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (size_t p = 0; p < TU_N(pbs); p++) {
			size_t ns[N_COUNTS + 8];
			size_t nn = counts(pbs[p], ns);

			for (size_t i = 0; i < nn; i++) {
				uint8_t *leaves = tu_random_buf(ns[i] * 32);

				check(h, leaves, ns[i], pbs[p]);
				free(leaves);
			}
		}
	}
}

/* n < pb, n == pb, k*pb + 1, and the fixed counts. */
static size_t layer_counts(size_t pb, size_t *ns)
{
	size_t nn = 0;

	if (pb > 1)
		ns[nn++] = pb - 1;
	ns[nn++] = pb;
	ns[nn++] = pb + 1;
	ns[nn++] = 3 * pb + 1;
	ns[nn++] = 4 * pb;
	for (size_t c = 0; c < N_COUNTS; c++)
		ns[nn++] = leaf_counts[c];
	return nn;
}

static void check_layer(struct hash_ctx *h, uint8_t *leaves, size_t n, size_t pb)
{
	size_t nl = (n + pb - 1) / pb;
	uint8_t *want = malloc(nl * 32);
	/* One spare hash to catch writes past the layer. */
	uint8_t *got = malloc((nl + 1) * 32);
	uint8_t *copy = malloc(n * 32);

	cr_assert_not_null(want);
	cr_assert_not_null(got);
	cr_assert_not_null(copy);
	memcpy(copy, leaves, n * 32);
	memset(got, 0xA5, (nl + 1) * 32);
	ref_layer(leaves, n, pb, want);
	cr_assert_eq(merkle_layer(h, leaves, n, pb, got), 0);
	/* Leaves are borrowed, never written. */
	cr_assert(memcmp(copy, leaves, n * 32) == 0);
	cr_assert(memcmp(got, want, nl * 32) == 0, "n=%zu pb=%zu (%s)", n, pb,
		  hash_ctx_describe(h));
	for (size_t b = 0; b < 32; b++)
		cr_assert_eq(got[nl * 32 + b], 0xA5);
	free(copy);
	free(want);
	free(got);
}

Test(merkle, layer_matches_reference)
{
	each_layer_case(12, layer_counts, check_layer);
}

/* Counts of more than one piece (n <= pb has no layer in BEP 52). */
static size_t layered_counts(size_t pb, size_t *ns)
{
	const size_t all[] = { pb + 1, 2 * pb, 3 * pb + 1, 5 * pb - 1, 8 * pb + 1, 1000, 1025 };
	size_t nn = 0;

	for (size_t i = 0; i < TU_N(all); i++)
		if (all[i] > pb)
			ns[nn++] = all[i];
	return nn;
}

static void check_root_from_layer(struct hash_ctx *h, uint8_t *leaves, size_t n, size_t pb)
{
	size_t nl = (n + pb - 1) / pb;
	uint8_t *layer = malloc(nl * 32);
	uint8_t root[32], from_layer[32], ref[32];

	cr_assert_not_null(layer);
	cr_assert_eq(merkle_root(h, leaves, n, root), 0);
	cr_assert_eq(merkle_layer(h, leaves, n, pb, layer), 0);
	cr_assert_eq(merkle_root_from_layer(h, layer, nl, pb, from_layer), 0);
	cr_assert(memcmp(from_layer, root, 32) == 0, "n=%zu pb=%zu", n, pb);
	ref_root_layer(layer, nl, pb, 0, next_pow2(nl), ref);
	cr_assert(memcmp(from_layer, ref, 32) == 0, "n=%zu pb=%zu", n, pb);
	free(layer);
}

Test(merkle, root_from_layer_equals_root)
{
	each_layer_case(13, layered_counts, check_root_from_layer);
}

/* A layer of one piece is that piece's root: BEP 52 files of exactly one
 * piece, or of more than half a piece, have root == layer[0]. */
Test(merkle, single_piece_layer)
{
	tu_seed(14);
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		size_t pb = 8;

		for (size_t n = 5; n <= 8; n++) {
			uint8_t *leaves = tu_random_buf(n * 32);
			uint8_t layer[32], root[32], from_layer[32];

			cr_assert_eq(merkle_layer(h, leaves, n, pb, layer), 0);
			cr_assert_eq(merkle_root(h, leaves, n, root), 0);
			cr_assert_eq(merkle_root_from_layer(h, layer, 1, pb, from_layer), 0);
			cr_assert(memcmp(layer, root, 32) == 0, "n=%zu", n);
			cr_assert(memcmp(from_layer, root, 32) == 0);
			free(leaves);
		}
	}
}

/*
 * The root as ingest computes it for a file of several chunks, where the
 * leaves are never all held: each chunk (`per` whole pieces of pb leaves;
 * the file's last chunk short) folded into its pieces' layer hashes with
 * merkle_layer as soon as it is hashed, then merkle_root_from_layer over
 * the whole layer. Compared with merkle_root over all the leaves and the
 * reference, for file lengths in bytes around piece and chunk boundaries:
 * a multiple of the piece length, one byte more or less, a short last
 * block, exactly one piece.
 */
static void check_chunked(struct hash_ctx *h, uint64_t len, size_t pb, size_t per)
{
	size_t n = (size_t)merkle_leaf_count(len), nl = (n + pb - 1) / pb;
	uint8_t *leaves = tu_random_buf(n * 32);
	uint8_t *layer = malloc(nl * 32), *whole = malloc(nl * 32);
	uint8_t root[32], want[32];

	cr_assert_not_null(layer);
	cr_assert_not_null(whole);
	memset(layer, 0xA5, nl * 32);
	/* chunks in reverse order, as workers may finish them */
	size_t chunk = pb * per, n_chunks = (n + chunk - 1) / chunk;
	for (size_t c = n_chunks; c-- > 0;) {
		size_t lo = c * chunk, cnt = n - lo < chunk ? n - lo : chunk;
		cr_assert_eq(merkle_layer(h, leaves + lo * 32, cnt, pb, layer + lo / pb * 32), 0);
	}
	cr_assert_eq(merkle_layer(h, leaves, n, pb, whole), 0);
	cr_assert(memcmp(layer, whole, nl * 32) == 0, "layer: len=%llu pb=%zu per=%zu",
		  (unsigned long long)len, pb, per);
	ref_root(leaves, n, want);
	cr_assert_eq(merkle_root_from_layer(h, layer, nl, pb, root), 0);
	cr_assert(memcmp(root, want, 32) == 0, "root: len=%llu pb=%zu per=%zu (%s)",
		  (unsigned long long)len, pb, per, hash_ctx_describe(h));
	free(leaves);
	free(layer);
	free(whole);
}

Test(merkle, root_from_layer_folded_chunk_by_chunk)
{
	static const size_t pbs[] = { 1, 2, 4, 16, 64 };
	static const size_t pers[] = { 1, 3, 4 };

	tu_seed(16);
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		for (size_t p = 0; p < TU_N(pbs); p++) {
			uint64_t piece = (uint64_t)pbs[p] * MERKLE_BLOCK_SIZE;
			for (size_t q = 0; q < TU_N(pers); q++) {
				uint64_t chunk = piece * pers[q];
				/* more than one chunk, as ingest has it, and exactly
				 * one piece (where the layer is the root) */
				const uint64_t lens[] = {
					piece,
					chunk + 1,
					chunk + piece - 1,
					chunk + piece,
					chunk + piece + 1,
					2 * chunk - 1,
					2 * chunk,
					2 * chunk + 1,
					3 * chunk + 5000,
					7 * chunk + piece,
					9 * chunk - 16383,
				};
				for (size_t l = 0; l < TU_N(lens); l++)
					check_chunked(it.h, lens[l], pbs[p], pers[q]);
			}
		}
	}
}

/* Larger than one hash batch chunk inside merkle.c (4096 pairs), with an
 * odd count so the padded tail falls in the last chunk. */
Test(merkle, many_leaves_cross_batch_chunks)
{
	size_t n = 3 * 4096 * 2 + 3;

	tu_seed(15);
	uint8_t *leaves = tu_random_buf(n * 32);
	uint8_t want[32], got[32];

	ref_root(leaves, n, want);
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		cr_assert_eq(merkle_root(h, leaves, n, got), 0);
		cr_assert(memcmp(got, want, 32) == 0);
	}
	free(leaves);
}

Test(merkle, invalid_arguments)
{
	struct hash_ctx *h = tu_hash_ctx(HASH_IMPL_MB);
	uint8_t leaves[3 * 32] = { 0 }, out[3 * 32];

	cr_assert_eq(merkle_root(h, leaves, 0, out), -EINVAL);
	cr_assert_eq(merkle_root(h, NULL, 1, out), -EINVAL);
	cr_assert_eq(merkle_root(NULL, leaves, 1, out), -EINVAL);
	cr_assert_eq(merkle_root(h, leaves, SIZE_MAX / 16, out), -EINVAL);
	cr_assert_eq(merkle_layer(h, leaves, 0, 1, out), -EINVAL);
	cr_assert_eq(merkle_layer(h, leaves, 3, 0, out), -EINVAL);
	cr_assert_eq(merkle_layer(h, leaves, 3, 3, out), -EINVAL);
	cr_assert_eq(merkle_layer(h, leaves, 3, 6, out), -EINVAL);
	cr_assert_eq(merkle_layer(h, leaves, SIZE_MAX / 16, 2, out), -EINVAL);
	cr_assert_eq(merkle_root_from_layer(h, leaves, 0, 2, out), -EINVAL);
	cr_assert_eq(merkle_root_from_layer(h, leaves, 2, 0, out), -EINVAL);
	cr_assert_eq(merkle_root_from_layer(h, leaves, 2, 5, out), -EINVAL);
	hash_ctx_destroy(h);
}
