/*
 * test_hash: lib/hash.c against libcrypto's one-shot SHA1()/SHA256() and
 * against xxHash's published XXH3-128 vectors.
 *
 * Every SHA test runs for both implementations. Lengths cover SHA padding
 * edges (55/56/63/64/65), the 16 KiB leaf, the libipsec-mb job limit
 * (65534/65535, where hash.c switches to libcrypto) and large pieces, with
 * unaligned sources, mixed batches and canaries behind every digest.
 */
#include "hash.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../testutil.h"

static int one(struct hash_ctx *h, int sha256, const void *d, size_t len, uint8_t *out)
{
	return sha256 ? hash_sha256(h, d, len, out) : hash_sha1(h, d, len, out);
}

static int batch(struct hash_ctx *h, int sha256, const struct hash_job *j, size_t n)
{
	return sha256 ? hash_sha256_batch(h, j, n) : hash_sha1_batch(h, j, n);
}

Test(hash, describe_names_the_implementation)
{
	for (size_t k = 0; k < TU_N_IMPLS; k++) {
		struct hash_ctx *h = tu_hash_ctx(tu_impl(k));
		const char *d = hash_ctx_describe(h);

		cr_assert_not_null(d);
		cr_assert_gt(strlen(d), 0);
		if (tu_impl(k) == HASH_IMPL_MB)
			cr_assert(strncmp(d, "ipsec-mb ", 9) == 0, "%s", d);
		else
			cr_assert(strncmp(d, "openssl ", 8) == 0, "%s", d);
		cr_log_info("impl %d: %s", (int)tu_impl(k), d);
		hash_ctx_destroy(h);
	}
}

Test(hash, create_rejects_unknown_impl)
{
	struct hash_ctx *h = (struct hash_ctx *)&h;
	struct seed_err err;

	seed_err_clear(&err);
	cr_assert_eq(hash_ctx_create((enum hash_impl)42, &h, &err), -EINVAL);
	cr_assert_null(h);
	cr_assert_eq(err.code, -EINVAL);
	cr_assert_gt(strlen(err.msg), 0);
	hash_ctx_destroy(NULL);
}

/* Lengths where SHA padding, the 16 KiB leaf or the ipsec-mb job limit
 * change the code path; odd sizes in between. */
static const size_t edge_lens[] = {
	0,     1,     2,     3,	    55,	    56,	    57,	    63,	     64,      65,	119,
	120,   127,   128,   129,   1000,   4095,   16383,  16384,   16385,   32768,	65533,
	65534, 65535, 65536, 65537, 100003, 262144, 262145, 1048576, 1048575, 16777216, 16777215,
};
#define N_EDGE (sizeof(edge_lens) / sizeof(edge_lens[0]))

Test(hash, every_edge_length_single_message)
{
	size_t max = 16777216 + 8;

	tu_seed(1);
	uint8_t *buf = tu_random_buf(max);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int sha256 = 0; sha256 < 2; sha256++) {
			for (size_t i = 0; i < N_EDGE; i++) {
				/* Aligned, then deliberately misaligned. */
				for (size_t off = 0; off < 8; off += 3) {
					uint8_t slot[TU_OUT_SLOT];

					memset(slot, TU_CANARY, sizeof(slot));
					cr_assert_eq(one(h, sha256, buf + off, edge_lens[i], slot),
						     0);
					tu_check_slot(sha256, slot, buf + off, edge_lens[i],
						      hash_ctx_describe(h));
				}
			}
		}
	}
	free(buf);
}

Test(hash, empty_message_with_null_data)
{
	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int sha256 = 0; sha256 < 2; sha256++) {
			uint8_t slot[TU_OUT_SLOT];
			struct hash_job j = { .data = NULL, .len = 0, .out = slot };

			memset(slot, TU_CANARY, sizeof(slot));
			cr_assert_eq(batch(h, sha256, &j, 1), 0);
			tu_check_slot(sha256, slot, (const uint8_t *)"", 0, "empty");
		}
	}
}

/* A length drawn from the classes a seed box sees: empty, tiny, around a
 * SHA block, a 16 KiB leaf or a short last leaf, below and above the
 * ipsec-mb job limit. */
static size_t random_len(void)
{
	switch (tu_rnd() % 8) {
	case 0: return 0;
	case 1: return tu_rnd() % 130;
	case 2: return 16384;
	case 3: return 1 + tu_rnd() % 16384;
	case 4: return 16384 + tu_rnd() % 49151; /* up to 65534 */
	case 5: return 65534 + tu_rnd() % 3;
	case 6: return 65537 + tu_rnd() % 300000;
	default: return tu_rnd() % 2048;
	}
}

static void run_mixed_batch(struct hash_ctx *h, int sha256, size_t n, const uint8_t *pool,
			    size_t pool_len)
{
	uint8_t *slots;
	struct hash_job *jobs = tu_jobs_new(n, &slots);

	for (size_t i = 0; i < n; i++) {
		size_t len = random_len();

		jobs[i].data = pool + tu_rnd() % (pool_len - len + 1);
		jobs[i].len = len;
	}
	cr_assert_eq(batch(h, sha256, jobs, n), 0);
	tu_check_jobs(sha256, jobs, n, hash_ctx_describe(h));
	tu_jobs_free(jobs, slots);
}

Test(hash, mixed_batches_match_openssl_on_a_reused_context)
{
	static const size_t sizes[] = { 1, 7, 8, 9, 16, 100 };
	size_t pool_len = 1u << 20;

	tu_seed(2);
	uint8_t *pool = tu_random_buf(pool_len);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int sha256 = 0; sha256 < 2; sha256++)
			for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++)
				for (int rep = 0; rep < 4; rep++)
					run_mixed_batch(h, sha256, sizes[s], pool, pool_len);
		/* Many more on the same context: the manager must be empty between
		 * calls, and SHA-1 and SHA-256 batches must not disturb each other. */
		for (int rep = 0; rep < 60; rep++)
			run_mixed_batch(h, rep & 1, 1 + tu_rnd() % 40, pool, pool_len);
	}
	free(pool);
}

/* The ingest shapes: a chunk of 16 KiB leaves, and whole v1 pieces. */
Test(hash, uniform_batches_of_blocks_and_pieces)
{
	static const struct {
		size_t len, n;
	} shapes[] = { { 16384, 256 }, { 16384, 3 }, { 262144, 16 }, { 64, 1000 }, { 65534, 17 } };
	size_t pool_len = 4u << 20;

	tu_seed(3);
	uint8_t *pool = tu_random_buf(pool_len);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int sha256 = 0; sha256 < 2; sha256++) {
			for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
				size_t n = shapes[s].n, len = shapes[s].len;
				uint8_t *slots;
				struct hash_job *jobs = tu_jobs_new(n, &slots);

				cr_assert_leq(n * len, pool_len);
				for (size_t i = 0; i < n; i++) {
					jobs[i].data = pool + i * len;
					jobs[i].len = len;
				}
				cr_assert_eq(batch(h, sha256, jobs, n), 0);
				tu_check_jobs(sha256, jobs, n, hash_ctx_describe(h));
				tu_jobs_free(jobs, slots);
			}
		}
	}
	free(pool);
}

Test(hash, invalid_arguments)
{
	uint8_t out[32], data[4] = { 1, 2, 3, 4 };

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int sha256 = 0; sha256 < 2; sha256++) {
			struct hash_job ok = { .data = data, .len = 4, .out = out };
			struct hash_job no_out = { .data = data, .len = 4 };
			struct hash_job no_data = { .len = 4, .out = out };
			struct hash_job mix[3] = { ok, no_out, ok };

			cr_assert_eq(batch(h, sha256, NULL, 0), 0);
			cr_assert_eq(batch(h, sha256, &ok, 0), 0);
			cr_assert_eq(batch(h, sha256, NULL, 1), -EINVAL);
			cr_assert_eq(batch(h, sha256, &no_out, 1), -EINVAL);
			cr_assert_eq(batch(h, sha256, &no_data, 1), -EINVAL);
			cr_assert_eq(batch(h, sha256, mix, 3), -EINVAL);
			cr_assert_eq(batch(NULL, sha256, &ok, 1), -EINVAL);
			/* The context still works after refusals. */
			uint8_t slot[TU_OUT_SLOT];

			memset(slot, TU_CANARY, sizeof(slot));
			cr_assert_eq(one(h, sha256, data, 4, slot), 0);
			tu_check_slot(sha256, slot, data, 4, "after -EINVAL");
		}
	}
}

/* Both implementations agree with each other, not only with the
 * reference (guards against the test's own reference being misused). */
Test(hash, implementations_agree)
{
	struct hash_ctx *mb = tu_hash_ctx(HASH_IMPL_MB);
	struct hash_ctx *os = tu_hash_ctx(HASH_IMPL_OPENSSL);

	tu_seed(5);
	uint8_t *buf = tu_random_buf(200000);

	for (int i = 0; i < 200; i++) {
		size_t len = tu_rnd() % 200000;
		uint8_t a[32], b[32];

		cr_assert_eq(hash_sha256(mb, buf, len, a), 0);
		cr_assert_eq(hash_sha256(os, buf, len, b), 0);
		cr_assert(memcmp(a, b, 32) == 0, "sha256 len %zu", len);
		cr_assert_eq(hash_sha1(mb, buf, len, a), 0);
		cr_assert_eq(hash_sha1(os, buf, len, b), 0);
		cr_assert(memcmp(a, b, 20) == 0, "sha1 len %zu", len);
	}
	free(buf);
	hash_ctx_destroy(mb);
	hash_ctx_destroy(os);
}

/* Known SHA answers, independent of libcrypto (FIPS 180 examples). */
Test(hash, fips_180_known_answers)
{
	static const uint8_t abc_sha1[20] = {
		0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
		0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
	};
	static const uint8_t abc_sha256[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t empty_sha256[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		uint8_t out[32];

		cr_assert_eq(hash_sha1(h, "abc", 3, out), 0);
		cr_assert(memcmp(out, abc_sha1, 20) == 0);
		cr_assert_eq(hash_sha256(h, "abc", 3, out), 0);
		cr_assert(memcmp(out, abc_sha256, 32) == 0);
		cr_assert_eq(hash_sha256(h, NULL, 0, out), 0);
		cr_assert(memcmp(out, empty_sha256, 32) == 0);
	}
}

/* --- XXH3-128 --- */

static void canonical_be(uint64_t low, uint64_t high, uint8_t out[16])
{
	/* Canonical XXH128 is high64 then low64, each big-endian. */
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(high >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(low >> (56 - 8 * i));
	}
}

Test(xxh128, empty_input_known_vector)
{
	static const uint8_t want[16] = {
		0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8,
		0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f,
	};
	uint8_t out[16];

	hash_xxh128(NULL, 0, out);
	cr_assert(memcmp(out, want, 16) == 0);
	hash_xxh128("", 0, out);
	cr_assert(memcmp(out, want, 16) == 0);
}

/* xxHash's own sanity vectors (cli/xsum_sanity_check.c, seed 0) over its
 * generated test buffer. */
Test(xxh128, xxhsum_sanity_vectors)
{
	static const struct {
		size_t len;
		uint64_t low, high;
	} v[] = {
		{ 0, 0x6001C324468D497Full, 0x99AA06D3014798D8ull },
		{ 1, 0xC44BDFF4074EECDBull, 0xA6CD5E9392000F6Aull },
		{ 6, 0x3E7039BDDA43CFC6ull, 0x082AFE0B8162D12Aull },
		{ 12, 0x061A192713F69AD9ull, 0x6E3EFD8FC7802B18ull },
		{ 24, 0x1E7044D28B1B901Dull, 0x0CE966E4678D3761ull },
		{ 48, 0xF942219AED80F67Bull, 0xA002AC4E5478227Eull },
		{ 81, 0x5E8BAFB9F95FB803ull, 0x4952F58181AB0042ull },
		{ 222, 0xF1AEBD597CEC6B3Aull, 0x337E09641B948717ull },
		{ 403, 0xCDEB804D65C6DEA4ull, 0x1B6DE21E332DD73Dull },
		{ 512, 0x617E49599013CB6Bull, 0x18D2D110DCC9BCA1ull },
		{ 2048, 0xDD59E2C3A5F038E0ull, 0xF736557FD47073A5ull },
		{ 2240, 0x6E73A90539CF2948ull, 0xCCB134FBFA7CE49Dull },
		{ 2367, 0xCB37AEB9E5D361EDull, 0xE89C0F6FF369B427ull },
	};
	uint8_t buf[2367];
	uint64_t gen = 2654435761u; /* PRIME32 */

	for (size_t i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(gen >> 56);
		gen *= 11400714785074694797ull; /* PRIME64 */
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t want[16], out[16];

		canonical_be(v[i].low, v[i].high, want);
		hash_xxh128(buf, v[i].len, out);
		cr_assert(memcmp(out, want, 16) == 0, "len %zu", v[i].len);
	}
}

/* Any length: equals XXH3_128bits with the byte order spelled out. */
Test(xxh128, matches_xxh3_128bits_big_endian)
{
	size_t max = (1u << 20) + 7;

	tu_seed(6);
	uint8_t *buf = tu_random_buf(max);

	for (size_t len = 0; len < 300; len++) {
		uint8_t want[16], out[16];
		XXH128_hash_t r = XXH3_128bits(buf + 1, len);

		canonical_be(r.low64, r.high64, want);
		hash_xxh128(buf + 1, len, out);
		cr_assert(memcmp(out, want, 16) == 0, "len %zu", len);
	}
	static const size_t fixed[] = { 16384, 16383, 1u << 20, (1u << 20) + 7 };

	for (size_t i = 0; i < 40; i++) {
		size_t len = i < 4 ? fixed[i] : tu_rnd() % max;
		uint8_t want[16], out[16];
		XXH128_hash_t r = XXH3_128bits(buf, len);

		canonical_be(r.low64, r.high64, want);
		hash_xxh128(buf, len, out);
		cr_assert(memcmp(out, want, 16) == 0, "len %zu", len);
	}
	free(buf);
}

/* --- hash_sha1_feed: messages in parts, both implementations --- */

/* Three 300 KiB messages side by side in slices that do not fall on 64-byte
 * boundaries (and a 0-byte one), the streams reused for a second round. */
Test(hash, sha1_feed_in_slices_matches_openssl)
{
	static const size_t slices[] = { 1, 63, 0, 65, 4096, 16384, 100001, 131072 };
	size_t mlen = 300 * 1024;

	tu_seed(31);
	uint8_t *pool = tu_random_buf(3 * mlen);

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		for (int round = 0; round < 2; round++) {
			uint8_t slots[3][TU_OUT_SLOT];
			size_t off = 0;

			memset(slots, TU_CANARY, sizeof(slots));
			for (unsigned i = 0; i < 3; i++)
				cr_assert_eq(hash_sha1_start(h, 7 * i + (unsigned)round), 0);
			for (size_t s = 0; off < mlen; s++) {
				struct hash_sha1_part parts[3];
				size_t sl = slices[(s + (size_t)round) % TU_N(slices)];

				if (sl > mlen - off)
					sl = mlen - off;
				for (unsigned i = 0; i < 3; i++)
					parts[i] = (struct hash_sha1_part){
						7 * i + (unsigned)round, pool + i * mlen + off, sl,
						off + sl == mlen ? slots[i] : NULL
					};
				cr_assert_eq(hash_sha1_feed(h, parts, 3), 0);
				off += sl;
			}
			for (unsigned i = 0; i < 3; i++)
				tu_check_slot(0, slots[i], pool + i * mlen, mlen,
					      hash_ctx_describe(h));
		}
	}
	free(pool);
}

Test(hash, sha1_feed_invalid_arguments)
{
	uint8_t d[4] = { 1, 2, 3, 4 }, out[TU_OUT_SLOT];

	for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
		struct hash_ctx *h = it.h;

		memset(out, TU_CANARY, sizeof(out));
		struct hash_sha1_part twice[2] = { { 0, d, 4, NULL }, { 0, d, 4, NULL } };
		struct hash_sha1_part idle = { 1, d, 4, NULL };
		struct hash_sha1_part far = { HASH_SHA1_STREAMS, d, 4, NULL };
		struct hash_sha1_part no_data = { 0, NULL, 4, NULL };
		struct hash_sha1_part end = { 0, d, 4, out };

		cr_assert_eq(hash_sha1_start(NULL, 0), -EINVAL);
		cr_assert_eq(hash_sha1_start(h, HASH_SHA1_STREAMS), -EINVAL);
		cr_assert_eq(hash_sha1_start(h, 0), 0);
		cr_assert_eq(hash_sha1_feed(NULL, &end, 1), -EINVAL);
		cr_assert_eq(hash_sha1_feed(h, NULL, 1), -EINVAL);
		cr_assert_eq(hash_sha1_feed(h, twice, 2), -EINVAL);
		cr_assert_eq(hash_sha1_feed(h, &idle, 1), -EINVAL);
		cr_assert_eq(hash_sha1_feed(h, &far, 1), -EINVAL);
		cr_assert_eq(hash_sha1_feed(h, &no_data, 1), -EINVAL);
		/* refusals left stream 0 as it was: d alone is its message */
		cr_assert_eq(hash_sha1_feed(h, &end, 1), 0);
		tu_check_slot(0, out, d, 4, "after refusals");
		/* an ended stream takes nothing until started again */
		cr_assert_eq(hash_sha1_feed(h, &end, 1), -EINVAL);
	}
}
