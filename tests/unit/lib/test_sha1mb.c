/*
 * test_sha1mb: lib/sha1mb.c against libcrypto's one-shot SHA1() and FIPS 180
 * known answers, alone and behind hash_sha1_batch().
 *
 * Each engine the CPU has (AVX2 lanes, SHA-extension streams) is forced in
 * turn with sha1mb_batch_on(), then the automatic choice, so both are
 * checked on a CPU that would only ever use one. Lengths cover the SHA
 * padding edges (55/56/63/64/65, 119/120/127/128), the ipsec-mb job limit and
 * long pieces; sources are unaligned; batches mix lengths so slots end at
 * different blocks and get refilled; every digest has canaries behind it.
 * Exits 77 (skipped) on a CPU with neither engine.
 */
#include "hash.h"
#include "sha1mb.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../testutil.h"

#define MIB (1u << 20)

static const size_t edge_lens[] = {
	0,   1,	  2,	55,    56,    57,    63,    64,	   65,	  119,	  120,	  121, 127,
	128, 129, 1000, 16383, 16384, 65534, 65535, 65536, 65537, 262144, 262145, MIB, MIB + 13,
};
#define N_EDGE	 (sizeof(edge_lens) / sizeof(edge_lens[0]))
#define EDGE_MAX (MIB + 13)

/* A length from the classes a seed box sees, weighted to padding edges. */
static size_t random_len(void)
{
	switch (tu_rnd() % 6) {
	case 0: return tu_rnd() % 200;
	case 1: return 64 * (1 + tu_rnd() % 40) + 55 + tu_rnd() % 10;
	case 2: return 1 + tu_rnd() % 65536;
	case 3: return 65535 + tu_rnd() % 300000;
	case 4: return 262144;
	default: return tu_rnd() % 2048;
	}
}

/* Up to n jobs over pool, each in its own canary-filled slot. */
static struct hash_job *make_jobs(size_t n, const uint8_t *pool, size_t pool_len,
				  uint8_t **out_slots)
{
	struct hash_job *jobs = tu_jobs_new(n, out_slots);

	for (size_t i = 0; i < n; i++) {
		size_t len = random_len();

		cr_assert_leq(len, pool_len);
		jobs[i].data = pool + tu_rnd() % (pool_len - len + 1);
		jobs[i].len = len;
	}
	return jobs;
}

/* Both engines wherever the CPU has them, and the automatic choice. */
static const enum sha1mb_engine engines[] = { SHA1MB_AVX2X8, SHA1MB_SHANI, SHA1MB_AUTO };
#define N_ENGINES (sizeof(engines) / sizeof(engines[0]))

static const char *engine_name(enum sha1mb_engine e)
{
	return e == SHA1MB_AVX2X8 ? "avx2x8" : e == SHA1MB_SHANI ? "shani-x4" : "auto";
}

/* Runs the batch on engine e; 0 when e is missing here (nothing to check),
 * else 1 after asserting success. */
static int run_on(enum sha1mb_engine e, const struct hash_job *jobs, size_t n)
{
	int rc;

	if (!sha1mb_has_engine(e))
		return 0;
	rc = sha1mb_batch_on(e, jobs, n);
	cr_assert_eq(rc, 0, "%s: %d", engine_name(e), rc);
	return 1;
}

/* run_on, then every digest checked against SHA1(). */
static int check_on(enum sha1mb_engine e, const struct hash_job *jobs, size_t n)
{
	if (!run_on(e, jobs, n))
		return 0;
	tu_check_jobs(0, jobs, n, engine_name(e));
	return 1;
}

/* One message, canary slot, checked against SHA1(). */
static void one_on(enum sha1mb_engine e, const uint8_t *d, size_t len)
{
	uint8_t slot[TU_OUT_SLOT];
	struct hash_job j = { d, len, slot };

	memset(slot, TU_CANARY, sizeof(slot));
	check_on(e, &j, 1);
}

Test(sha1mb, path_is_named)
{
	const char *p = sha1mb_path();

	cr_assert(sha1mb_available());
	cr_assert(sha1mb_has_engine(SHA1MB_AUTO));
	if (sha1mb_has_engine(SHA1MB_SHANI))
		cr_assert_str_eq(p, "shani-x4");
	else
		cr_assert_str_eq(p, "avx2x8");
	cr_assert_geq(sha1mb_min_batch(), 1);
	cr_assert_leq(sha1mb_min_batch(), SHA1MB_LANES);
	cr_log_info("sha1mb path: %s (avx2 %d, shani %d)", p, sha1mb_has_engine(SHA1MB_AVX2X8),
		    sha1mb_has_engine(SHA1MB_SHANI));
}

/* FIPS 180 examples: independent of libcrypto. */
Test(sha1mb, fips_180_known_answers)
{
	static const char two_block[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const uint8_t want[4][20] = {
		{ 0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55,
		  0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf, 0xd8, 0x07, 0x09 },
		{ 0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
		  0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d },
		{ 0x84, 0x98, 0x3e, 0x44, 0x1c, 0x3b, 0xd2, 0x6e, 0xba, 0xae,
		  0x4a, 0xa1, 0xf9, 0x51, 0x29, 0xe5, 0xe5, 0x46, 0x70, 0xf1 },
		{ 0x34, 0xaa, 0x97, 0x3c, 0xd4, 0xc4, 0xda, 0xa4, 0xf6, 0x1e,
		  0xeb, 0x2b, 0xdb, 0xad, 0x27, 0x31, 0x65, 0x34, 0x01, 0x6f },
	};
	uint8_t *million = malloc(1000000);
	uint8_t out[4][20];

	cr_assert_not_null(million);
	memset(million, 'a', 1000000);
	const struct hash_job all[4] = {
		{ NULL, 0, out[0] },
		{ "abc", 3, out[1] },
		{ two_block, 56, out[2] },
		{ million, 1000000, out[3] },
	};

	for (size_t k = 0; k < N_ENGINES; k++) {
		const char *en = engine_name(engines[k]);

		/* All four in flight together, then each alone. */
		memset(out, 0, sizeof(out));
		if (!run_on(engines[k], all, 4))
			continue;
		for (int i = 0; i < 4; i++)
			cr_assert(memcmp(out[i], want[i], 20) == 0, "%s: vector %d in a batch", en,
				  i);
		for (int i = 0; i < 4; i++) {
			memset(out[i], 0, 20);
			run_on(engines[k], &all[i], 1);
			cr_assert(memcmp(out[i], want[i], 20) == 0, "%s: vector %d alone", en, i);
		}
	}
	free(million);
}

/* Every edge length alone (one AVX2 lane busy, seven idle; one SHA stream),
 * aligned and misaligned. */
Test(sha1mb, every_edge_length_single_message)
{
	tu_seed(1);
	uint8_t *buf = tu_random_buf(EDGE_MAX + 8);

	for (size_t k = 0; k < N_ENGINES; k++)
		for (size_t i = 0; i < N_EDGE; i++)
			for (size_t off = 0; off < 8; off += 3)
				one_on(engines[k], buf + off, edge_lens[i]);
	free(buf);
}

/* n different edge lengths at once (n = 8 fills the AVX2 lanes, 12 also
 * refills them; the SHA engine runs four and refills): messages reach their
 * padding at different blocks while the others keep hashing, and every slot
 * sees every length. */
Test(sha1mb, unequal_lengths_every_slot)
{
	tu_seed(2);
	uint8_t *buf = tu_random_buf(EDGE_MAX + 12 * 8);

	for (size_t k = 0; k < N_ENGINES; k++) {
		for (size_t n = 8; n <= 12; n += 4) {
			for (size_t rot = 0; rot < N_EDGE; rot++) {
				struct hash_job jobs[12];
				uint8_t slots[12][TU_OUT_SLOT];

				memset(slots, TU_CANARY, sizeof(slots));
				for (size_t i = 0; i < n; i++)
					jobs[i] = (struct hash_job){
						buf + 1 + 7 * i, edge_lens[(rot + 3 * i) % N_EDGE],
						slots[i]
					};
				if (!check_on(engines[k], jobs, n))
					break;
			}
		}
	}
	free(buf);
}

/* 0..9 messages: slots beyond n are never written. */
Test(sha1mb, partial_counts_write_only_their_digests)
{
	tu_seed(3);
	uint8_t *buf = tu_random_buf(300000);

	for (size_t k = 0; k < N_ENGINES; k++) {
		for (size_t n = 0; n <= SHA1MB_LANES + 1; n++) {
			struct hash_job jobs[SHA1MB_LANES + 2];
			uint8_t slots[SHA1MB_LANES + 2][TU_OUT_SLOT];

			memset(slots, TU_CANARY, sizeof(slots));
			for (size_t i = 0; i < SHA1MB_LANES + 2; i++)
				jobs[i] = (struct hash_job){ buf + 1 + i, 1 + tu_rnd() % 299990,
							     slots[i] };
			if (!check_on(engines[k], jobs, n))
				break;
			for (size_t i = n; i < SHA1MB_LANES + 2; i++)
				for (size_t b = 0; b < TU_OUT_SLOT; b++)
					cr_assert_eq(slots[i][b], TU_CANARY,
						     "%s: slot %zu of %zu "
						     "written",
						     engine_name(engines[k]), i, n);
		}
	}
	free(buf);
}

/* The same message in every slot gives the same digest in every slot. */
Test(sha1mb, slots_are_independent)
{
	tu_seed(4);
	uint8_t *buf = tu_random_buf(70000);

	for (size_t k = 0; k < N_ENGINES; k++) {
		struct hash_job jobs[SHA1MB_LANES];
		uint8_t slots[SHA1MB_LANES][TU_OUT_SLOT];

		memset(slots, TU_CANARY, sizeof(slots));
		for (size_t i = 0; i < SHA1MB_LANES; i++)
			jobs[i] = (struct hash_job){ buf + 3, 65537, slots[i] };
		if (!check_on(engines[k], jobs, SHA1MB_LANES))
			continue;
		for (size_t i = 1; i < SHA1MB_LANES; i++)
			cr_assert(memcmp(slots[i], slots[0], HASH_SHA1_LEN) == 0);
	}
	free(buf);
}

Test(sha1mb, random_lengths)
{
	size_t pool_len = 400000;

	tu_seed(5);
	uint8_t *pool = tu_random_buf(pool_len);

	for (int rep = 0; rep < 300; rep++) {
		size_t len = tu_rnd() % 200000;
		size_t off = tu_rnd() % 64;

		for (size_t k = 0; k < N_ENGINES; k++)
			one_on(engines[k], pool + off, len);
	}
	free(pool);
}

/* Batches of 1..20 mixed lengths at unaligned addresses: slots end at
 * different blocks and are refilled; fewer busy slots than the engine has
 * toward the end. */
Test(sha1mb, mixed_batches_1_to_20)
{
	size_t pool_len = 2 * MIB;

	tu_seed(6);
	uint8_t *pool = tu_random_buf(pool_len);

	for (size_t k = 0; k < N_ENGINES; k++) {
		for (size_t n = 1; n <= 20; n++) {
			for (int rep = 0; rep < 4; rep++) {
				uint8_t *slots;
				struct hash_job *jobs = make_jobs(n, pool, pool_len, &slots);

				check_on(engines[k], jobs, n);
				tu_jobs_free(jobs, slots);
			}
		}
	}
	free(pool);
}

/*
 * Shapes that end segments at chosen moments: one long message behind short
 * ones (it runs on alone through its body); lanes that enter two-block
 * padding while a neighbour ends after one; twelve equal pieces (8 + 4 for
 * AVX2, 3 x 4 for the SHA engine); nine at the ipsec-mb limit + 1 and three
 * one-byte messages waiting behind them.
 */
Test(sha1mb, segment_end_shapes)
{
	static const size_t shapes[][12] = {
		{ 1000, 1000, 1000, 1000, 1000, 1000, 1000, MIB + 13 },
		{ 640, 700, 700, 700, 700 },
		{ 640, 640, 640, 640, 700 },
		{ 262144, 262144, 262144, 262144, 262144, 262144, 262144, 262144, 262144, 262144,
		  262144, 262144 },
		{ 65535, 65535, 65535, 65535, 65535, 65535, 65535, 65535, 65535, 1, 1, 1 },
	};
	static const size_t counts[] = { 8, 5, 5, 12, 12 };
	size_t pool_len = 4 * MIB;

	tu_seed(7);
	uint8_t *pool = tu_random_buf(pool_len);

	for (size_t k = 0; k < N_ENGINES; k++) {
		for (size_t s = 0; s < sizeof(counts) / sizeof(counts[0]); s++) {
			size_t n = counts[s], at = 1;
			struct hash_job jobs[12];
			uint8_t slots[12][TU_OUT_SLOT];

			memset(slots, TU_CANARY, sizeof(slots));
			for (size_t i = 0; i < n; i++) {
				jobs[i] = (struct hash_job){ pool + at, shapes[s][i], slots[i] };
				at += shapes[s][i] + 5;
				cr_assert_leq(at, pool_len);
			}
			check_on(engines[k], jobs, n);
		}
	}
	free(pool);
}

/* Many messages per call: every slot is refilled many times. */
Test(sha1mb, large_batch)
{
	size_t pool_len = 2 * MIB, n = 150;

	tu_seed(8);
	uint8_t *pool = tu_random_buf(pool_len);
	uint8_t *slots;
	struct hash_job *jobs = make_jobs(n, pool, pool_len, &slots);

	for (size_t k = 0; k < N_ENGINES; k++) {
		memset(slots, TU_CANARY, n * TU_OUT_SLOT);
		check_on(engines[k], jobs, n);
	}
	tu_jobs_free(jobs, slots);
	free(pool);
}

Test(sha1mb, empty_messages_with_null_data)
{
	for (size_t k = 0; k < N_ENGINES; k++) {
		uint8_t slots[3][TU_OUT_SLOT];
		struct hash_job jobs[3] = {
			{ NULL, 0, slots[0] },
			{ "x", 0, slots[1] },
			{ NULL, 0, slots[2] },
		};

		memset(slots, TU_CANARY, sizeof(slots));
		if (!run_on(engines[k], jobs, 3))
			continue;
		for (int i = 0; i < 3; i++)
			tu_check_slot(0, slots[i], NULL, 0, engine_name(engines[k]));
	}
}

/* Refusals write nothing, not even the valid jobs' digests. */
Test(sha1mb, invalid_arguments_write_nothing)
{
	uint8_t d[100] = { 1 };
	uint8_t slots[3][TU_OUT_SLOT];
	struct hash_job ok = { d, 100, slots[0] };
	struct hash_job no_out = { d, 100, NULL };
	struct hash_job no_data = { NULL, 5, slots[1] };
	struct hash_job mix[3] = { ok, no_data, { d, 1, slots[2] } };

	memset(slots, TU_CANARY, sizeof(slots));
	cr_assert_eq(sha1mb_batch(NULL, 0), 0);
	cr_assert_eq(sha1mb_batch(NULL, 1), -EINVAL);
	cr_assert_eq(sha1mb_batch(&no_out, 1), -EINVAL);
	cr_assert_eq(sha1mb_batch(&no_data, 1), -EINVAL);
	cr_assert_eq(sha1mb_batch(mix, 3), -EINVAL);
	for (size_t k = 0; k < N_ENGINES; k++) {
		int want = sha1mb_has_engine(engines[k]) ? -EINVAL : -ENOTSUP;

		cr_assert_eq(sha1mb_batch_on(engines[k], mix, 3), want);
	}
	cr_assert_eq(sha1mb_batch_on((enum sha1mb_engine)42, &ok, 1), -EINVAL);
	cr_assert_eq(sha1mb_has_engine((enum sha1mb_engine)42), 0);
	for (int i = 0; i < 3; i++)
		for (size_t k = 0; k < TU_OUT_SLOT; k++)
			cr_assert_eq(slots[i][k], TU_CANARY, "slot %d written", i);
}

/* --- behind hash_sha1_batch(HASH_IMPL_MB), as ingest calls it --- */

Test(sha1mb, hash_describe_names_the_long_path)
{
	struct hash_ctx *h = tu_hash_ctx(HASH_IMPL_MB);
	const char *d = hash_ctx_describe(h);

	cr_assert(strncmp(d, "ipsec-mb ", 9) == 0, "%s", d);
	cr_assert_not_null(strstr(d, "sha1 >64K "), "%s", d);
	cr_assert_not_null(strstr(d, sha1mb_path()), "%s", d);
	cr_log_info("%s", d);
	hash_ctx_destroy(h);
}

/* Short (libipsec-mb) and long (sha1mb) jobs interleaved in one batch, in
 * counts below and above sha1mb_min_batch() and above hash.c's slice of
 * 64 long jobs. */
Test(sha1mb, hash_mb_mixed_batches)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 8, 9, 17, 20, 70, 140 };
	size_t pool_len = 2 * MIB;
	struct hash_ctx *h = tu_hash_ctx(HASH_IMPL_MB);

	tu_seed(9);
	uint8_t *pool = tu_random_buf(pool_len);

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int rep = 0; rep < 3; rep++) {
			uint8_t *slots;
			size_t n = sizes[s];
			struct hash_job *jobs = make_jobs(n, pool, pool_len, &slots);

			cr_assert_eq(hash_sha1_batch(h, jobs, n), 0);
			tu_check_jobs(0, jobs, n, hash_ctx_describe(h));
			tu_jobs_free(jobs, slots);
		}
	}
	free(pool);
	hash_ctx_destroy(h);
}

/* The ingest shapes: 16 x 256 KiB pieces (bench/hashbench), 4 x 1 MiB, one
 * 4 MiB piece, and a chunk whose last piece is short. */
Test(sha1mb, hash_mb_piece_batches)
{
	static const struct {
		size_t len, n, last;
	} shapes[] = {
		{ 262144, 16, 262144 }, { MIB, 4, MIB },	{ 4 * MIB, 1, 4 * MIB },
		{ 524288, 8, 100003 },	{ 262144, 70, 262144 },
	};
	size_t pool_len = 4 * MIB + 64;
	struct hash_ctx *h = tu_hash_ctx(HASH_IMPL_MB);

	tu_seed(10);
	uint8_t *pool = tu_random_buf(pool_len);

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		size_t n = shapes[s].n;
		uint8_t *slots;
		struct hash_job *jobs = tu_jobs_new(n, &slots);

		for (size_t i = 0; i < n; i++) {
			size_t len = i + 1 == n ? shapes[s].last : shapes[s].len;
			/* Pieces wrap around the pool; start 1 byte in. */
			size_t off = 1 + (i * shapes[s].len) % (pool_len - 1 - len + 1);

			jobs[i].data = pool + off;
			jobs[i].len = len;
		}
		cr_assert_eq(hash_sha1_batch(h, jobs, n), 0);
		tu_check_jobs(0, jobs, n, "piece batch");
		tu_jobs_free(jobs, slots);
	}
	free(pool);
	hash_ctx_destroy(h);
}

/* On a CPU with neither engine there is nothing to test: report a skip
 * (77), never a pass. */
int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int rc = 0;

	if (!sha1mb_available()) {
		criterion_finalize(tests);
		return 77;
	}
	if (criterion_handle_args(argc, argv, true))
		rc = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return rc;
}

/* --- a message fed in parts (sha1mb_feed), as ingest hashes a piece a
 * slice at a time --- */

/* Slice lengths around the block edges and long ones, 0 included. */
static size_t random_slice(void)
{
	static const size_t edge[] = { 0, 1, 2, 55, 56, 63, 64, 65, 127, 128, 129, 16384 };

	switch (tu_rnd() % 3) {
	case 0: return edge[tu_rnd() % TU_N(edge)];
	case 1: return tu_rnd() % 5000;
	default: return 64 * (tu_rnd() % 4096) + tu_rnd() % 3;
	}
}

/*
 * n messages of random lengths (unaligned sources) fed side by side in
 * uneven slices on engine e, each call carrying one slice of every message
 * not yet ended, the last slice with its out; every digest against SHA1().
 */
static void feed_messages_on(enum sha1mb_engine e, size_t n, const uint8_t *pool, size_t pool_len)
{
	struct sha1mb_ctx c[12];
	struct sha1mb_part parts[12];
	const uint8_t *msg[12];
	size_t len[12], done[12];
	uint8_t slots[12][TU_OUT_SLOT];

	cr_assert_leq(n, 12);
	memset(slots, TU_CANARY, sizeof(slots));
	for (size_t i = 0; i < n; i++) {
		len[i] = random_len();
		msg[i] = pool + tu_rnd() % (pool_len - len[i] + 1);
		done[i] = 0;
		sha1mb_init(&c[i]);
	}
	for (size_t left = n; left;) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			size_t sl;

			if (done[i] > len[i])
				continue; /* ended */
			sl = random_slice();
			if (sl > len[i] - done[i])
				sl = len[i] - done[i];
			parts[k++] =
				(struct sha1mb_part){ &c[i], msg[i] + done[i], sl,
						      done[i] + sl == len[i] ? slots[i] : NULL };
			done[i] += sl;
			if (done[i] == len[i]) {
				done[i] = len[i] + 1;
				left--;
			}
		}
		cr_assert_eq(sha1mb_feed_on(e, parts, k), 0, "%s", engine_name(e));
	}
	for (size_t i = 0; i < n; i++)
		tu_check_slot(0, slots[i], msg[i], len[i], engine_name(e));
}

Test(sha1mb, feed_in_uneven_slices_matches_openssl)
{
	size_t pool_len = 2 * MIB;

	tu_seed(21);
	uint8_t *pool = tu_random_buf(pool_len);

	for (size_t k = 0; k < N_ENGINES; k++) {
		if (!sha1mb_has_engine(engines[k]))
			continue;
		for (size_t n = 1; n <= 12; n++)
			for (int rep = 0; rep < 4; rep++)
				feed_messages_on(engines[k], n, pool, pool_len);
	}
	free(pool);
}

/* Every split of each edge length into two parts, and into parts of one
 * byte: the block completed from the context, the padding edges. */
Test(sha1mb, feed_every_split_point)
{
	static const size_t lens[] = { 0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 200 };

	tu_seed(22);
	uint8_t *d = tu_random_buf(200);

	for (size_t k = 0; k < N_ENGINES; k++) {
		enum sha1mb_engine e = engines[k];

		if (!sha1mb_has_engine(e))
			continue;
		for (size_t l = 0; l < TU_N(lens); l++) {
			for (size_t cut = 0; cut <= lens[l]; cut++) {
				struct sha1mb_ctx c;
				uint8_t slot[TU_OUT_SLOT];
				struct sha1mb_part a = { &c, d, cut, NULL };
				struct sha1mb_part b = { &c, d + cut, lens[l] - cut, slot };

				memset(slot, TU_CANARY, sizeof(slot));
				sha1mb_init(&c);
				cr_assert_eq(sha1mb_feed_on(e, &a, 1), 0);
				cr_assert_eq(sha1mb_feed_on(e, &b, 1), 0);
				tu_check_slot(0, slot, d, lens[l], engine_name(e));
			}
			struct sha1mb_ctx c;
			uint8_t slot[TU_OUT_SLOT];

			memset(slot, TU_CANARY, sizeof(slot));
			sha1mb_init(&c);
			for (size_t i = 0; i < lens[l]; i++) {
				struct sha1mb_part one = { &c, d + i, 1, NULL };

				cr_assert_eq(sha1mb_feed_on(e, &one, 1), 0);
			}
			struct sha1mb_part end = { &c, NULL, 0, slot };

			cr_assert_eq(sha1mb_feed_on(e, &end, 1), 0);
			tu_check_slot(0, slot, d, lens[l], "byte by byte");
		}
	}
	free(d);
}

/* A piece as ingest feeds it: 2 MiB in 128 KiB slices, four side by side,
 * on one engine and then another (the state does not depend on it). */
Test(sha1mb, feed_pieces_across_engines)
{
	size_t plen = 2 * MIB, sl = 128 * 1024;
	struct sha1mb_ctx c[4];
	uint8_t slots[4][TU_OUT_SLOT];

	tu_seed(23);
	uint8_t *pool = tu_random_buf(4 * plen);

	memset(slots, TU_CANARY, sizeof(slots));
	for (int i = 0; i < 4; i++)
		sha1mb_init(&c[i]);
	for (size_t off = 0, s = 0; off < plen; off += sl, s++) {
		struct sha1mb_part parts[4];
		enum sha1mb_engine e = engines[s % N_ENGINES];

		for (int i = 0; i < 4; i++)
			parts[i] = (struct sha1mb_part){ &c[i], pool + (size_t)i * plen + off, sl,
							 off + sl == plen ? slots[i] : NULL };
		if (!sha1mb_has_engine(e))
			e = SHA1MB_AUTO;
		cr_assert_eq(sha1mb_feed_on(e, parts, 4), 0);
	}
	for (int i = 0; i < 4; i++)
		tu_check_slot(0, slots[i], pool + (size_t)i * plen, plen, "2 MiB pieces");
	free(pool);
}

Test(sha1mb, feed_invalid_arguments_change_nothing)
{
	uint8_t d[100] = { 1 }, slot[TU_OUT_SLOT];
	struct sha1mb_ctx c[2], before[2];
	struct sha1mb_part dup[2] = { { &c[0], d, 10, NULL }, { &c[0], d, 10, NULL } };
	struct sha1mb_part no_c = { NULL, d, 10, NULL };
	struct sha1mb_part no_data = { &c[1], NULL, 5, NULL };
	struct sha1mb_part over[2] = { { &c[0], d, 10, NULL }, { &c[1], d, 2, slot } };

	memset(slot, TU_CANARY, sizeof(slot));
	memset(c, 0x5a, sizeof(c));
	sha1mb_init(&c[0]);
	sha1mb_init(&c[1]);
	c[1].len = ((uint64_t)1 << 61) - 2; /* one byte short of SHA-1's limit */
	memcpy(before, c, sizeof(c));
	cr_assert_eq(sha1mb_feed(NULL, 0), 0);
	cr_assert_eq(sha1mb_feed(NULL, 1), -EINVAL);
	cr_assert_eq(sha1mb_feed(dup, 2), -EINVAL);
	cr_assert_eq(sha1mb_feed(&no_c, 1), -EINVAL);
	cr_assert_eq(sha1mb_feed(&no_data, 1), -EINVAL);
	cr_assert_eq(sha1mb_feed(over, 2), -EOVERFLOW);
	cr_assert_eq(sha1mb_feed_on((enum sha1mb_engine)42, over, 1), -EINVAL);
	cr_assert(memcmp(c, before, sizeof(c)) == 0, "a refused feed changed a context");
	for (size_t k = 0; k < TU_OUT_SLOT; k++)
		cr_assert_eq(slot[k], TU_CANARY);
}
