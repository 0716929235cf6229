/*
 * hashbench: per-core hashing throughput for the ingest path.
 *
 * One thread, so every figure is what one core can do. Measures:
 *   SHA-1 over v1 pieces (16 x 256 KiB per batch) and over 16 KiB blocks,
 *   SHA-256 over 16 KiB blocks (BEP 52 leaves), XXH3-128 over 16 KiB blocks,
 * for the multi-buffer and the OpenSSL implementations of lib/hash.h, and
 * the combined per-core ingest limit 1 / (1/sha1 + 1/sha256 + 1/xxh3), where
 * sha1 is the piece figure (v1 hashes pieces) and sha256/xxh3 the block ones.
 * GB/s are 1e9 bytes per second. Each measurement repeats whole batches over
 * the same 4 MiB buffer (cache-warm: this is the hashing limit, not I/O) until
 * --seconds have passed, bounded by a batch count so it always ends.
 *
 * The mb piece figure is hash_sha1_batch() exactly as ingest calls it, so it
 * follows hash.c's routing of pieces (over 64 KiB, too long for libipsec-mb):
 * "sha1_mb_piece_path" names the path that took them: "shani-x4" or
 * "avx2x8" (lib/sha1mb.c's engines) or "openssl" (one piece at a time).
 * The same pieces through each sha1mb engine forced follow ("sha1mb_*_gbps",
 * 0 where the CPU lacks the engine).
 */
#include "hash.h"
#include "sha1mb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF_BYTES   (4u << 20)
#define PIECE_LEN   (256u << 10)
#define BLOCK_LEN   16384u
#define MAX_JOBS    (BUF_BYTES / BLOCK_LEN)
#define MAX_BATCHES 100000000ull

/* K_SHA1_AVX2 / K_SHA1_SHANI: lib/sha1mb.c with its engine forced, so
 * both engines' piece figures can be compared on one CPU. */
enum kind { K_SHA1, K_SHA256, K_XXH3, K_SHA1_AVX2, K_SHA1_SHANI };

struct opts {
	double seconds;
	int json;
};

static const char *const usage = "usage: hashbench [--seconds S] [--json] [--help]\n"
				 "  --seconds S  time per measurement (default 1.0)\n"
				 "  --json       print one JSON object instead of a table\n"
				 "Per-core hashing throughput in GB/s (1e9 bytes/s), one thread.\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GB/s of `kind` over n messages of msg_len bytes each per batch, or a
 * negative -errno. */
static double measure(struct hash_ctx *h, enum kind kind, const uint8_t *buf, size_t msg_len,
		      size_t n, double seconds)
{
	static struct hash_job jobs[MAX_JOBS];
	static uint8_t out[MAX_JOBS][HASH_SHA256_LEN];
	unsigned long long batches = 0;
	double t0, el;

	for (size_t i = 0; i < n; i++) {
		jobs[i].data = buf + i * msg_len;
		jobs[i].len = msg_len;
		jobs[i].out = out[i];
	}
	t0 = now_s();
	do {
		int rc = 0;

		switch (kind) {
		case K_SHA1: rc = hash_sha1_batch(h, jobs, n); break;
		case K_SHA256: rc = hash_sha256_batch(h, jobs, n); break;
		case K_XXH3:
			for (size_t i = 0; i < n; i++)
				hash_xxh128(jobs[i].data, msg_len, out[i]);
			break;
		case K_SHA1_AVX2: rc = sha1mb_batch_on(SHA1MB_AVX2X8, jobs, n); break;
		case K_SHA1_SHANI: rc = sha1mb_batch_on(SHA1MB_SHANI, jobs, n); break;
		}
		if (rc)
			return rc;
		batches++;
		el = now_s() - t0;
	} while (el < seconds && batches < MAX_BATCHES);
	return (double)batches * (double)n * (double)msg_len / el / 1e9;
}

/* Mirrors hash_sha1_batch(): which path hashes n pieces of PIECE_LEN. */
static const char *piece_path(size_t n)
{
	if (!sha1mb_available() || n < sha1mb_min_batch())
		return "openssl";
	return sha1mb_path();
}

static double combined(double sha1, double sha256, double xxh3)
{
	if (sha1 <= 0 || sha256 <= 0 || xxh3 <= 0)
		return 0;
	return 1.0 / (1.0 / sha1 + 1.0 / sha256 + 1.0 / xxh3);
}

struct results {
	double sha1_piece, sha1_block, sha256_block;
};

static int run_impl(enum hash_impl impl, const uint8_t *buf, double seconds, struct results *r,
		    char *desc, size_t desc_len)
{
	struct hash_ctx *h = NULL;
	struct seed_err err;
	int rc;

	seed_err_clear(&err);
	rc = hash_ctx_create(impl, &h, &err);
	if (rc) {
		fprintf(stderr, "hashbench: %s\n", err.msg);
		return rc;
	}
	snprintf(desc, desc_len, "%s", hash_ctx_describe(h));
	r->sha1_piece = measure(h, K_SHA1, buf, PIECE_LEN, BUF_BYTES / PIECE_LEN, seconds);
	r->sha1_block = measure(h, K_SHA1, buf, BLOCK_LEN, MAX_JOBS, seconds);
	r->sha256_block = measure(h, K_SHA256, buf, BLOCK_LEN, MAX_JOBS, seconds);
	hash_ctx_destroy(h);
	if (r->sha1_piece < 0 || r->sha1_block < 0 || r->sha256_block < 0) {
		fprintf(stderr, "hashbench: a %s batch failed\n", desc);
		return -EIO;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	o->seconds = 1.0;
	o->json = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			exit(0);
		} else if (!strcmp(argv[i], "--json")) {
			o->json = 1;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			char *end;

			o->seconds = strtod(argv[++i], &end);
			if (*end || !(o->seconds > 0 && o->seconds <= 3600)) {
				fprintf(stderr,
					"hashbench: --seconds wants a number "
					"in (0, 3600], got '%s'\n",
					argv[i]);
				return -EINVAL;
			}
		} else {
			fprintf(stderr, "hashbench: unknown argument '%s'\n%s", argv[i], usage);
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct results mb, os;
	char mb_desc[128], os_desc[128];
	uint8_t *buf;
	double xxh3, eng_avx2 = 0, eng_shani = 0;
	const char *piece = piece_path(BUF_BYTES / PIECE_LEN);

	if (parse_args(argc, argv, &o))
		return 2;
	buf = malloc(BUF_BYTES);
	if (!buf) {
		fprintf(stderr, "hashbench: out of memory\n");
		return 1;
	}
	/* Arbitrary, non-zero content; hashing speed does not depend on it. */
	for (size_t i = 0; i < BUF_BYTES; i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);

	if (run_impl(HASH_IMPL_MB, buf, o.seconds, &mb, mb_desc, sizeof(mb_desc)) ||
	    run_impl(HASH_IMPL_OPENSSL, buf, o.seconds, &os, os_desc, sizeof(os_desc))) {
		free(buf);
		return 1;
	}
	xxh3 = measure(NULL, K_XXH3, buf, BLOCK_LEN, MAX_JOBS, o.seconds);
	if (sha1mb_has_engine(SHA1MB_AVX2X8))
		eng_avx2 = measure(NULL, K_SHA1_AVX2, buf, PIECE_LEN, BUF_BYTES / PIECE_LEN,
				   o.seconds);
	if (sha1mb_has_engine(SHA1MB_SHANI))
		eng_shani = measure(NULL, K_SHA1_SHANI, buf, PIECE_LEN, BUF_BYTES / PIECE_LEN,
				    o.seconds);
	free(buf);
	if (eng_avx2 < 0 || eng_shani < 0) {
		fprintf(stderr, "hashbench: a sha1mb batch failed\n");
		return 1;
	}

	double comb_mb = combined(mb.sha1_piece, mb.sha256_block, xxh3);
	double comb_os = combined(os.sha1_piece, os.sha256_block, xxh3);

	if (o.json) {
		printf("{\"impl\": \"%s\", \"openssl_impl\": \"%s\", "
		       "\"sha1_mb_gbps\": %.3f, \"sha1_mb_block_gbps\": %.3f, "
		       "\"sha256_mb_gbps\": %.3f, \"xxh3_gbps\": %.3f, "
		       "\"sha1_openssl_gbps\": %.3f, "
		       "\"sha1_openssl_block_gbps\": %.3f, "
		       "\"sha256_openssl_gbps\": %.3f, "
		       "\"combined_mb_gbps\": %.3f, "
		       "\"combined_openssl_gbps\": %.3f, "
		       "\"sha1_mb_piece_path\": \"%s\", "
		       "\"sha1mb_avx2x8_gbps\": %.3f, "
		       "\"sha1mb_shani_x4_gbps\": %.3f, "
		       "\"seconds\": %.3f}\n",
		       mb_desc, os_desc, mb.sha1_piece, mb.sha1_block, mb.sha256_block, xxh3,
		       os.sha1_piece, os.sha1_block, os.sha256_block, comb_mb, comb_os, piece,
		       eng_avx2, eng_shani, o.seconds);
		return 0;
	}
	printf("per-core hashing, GB/s (1e9 B/s), %.2f s per figure\n", o.seconds);
	printf("%-34s %10s %10s\n", "", "mb", "openssl");
	printf("%-34s %10.2f %10.2f\n", "SHA-1, 16 x 256 KiB pieces", mb.sha1_piece, os.sha1_piece);
	printf("%-34s %10.2f %10.2f\n", "SHA-1, 256 x 16 KiB blocks", mb.sha1_block, os.sha1_block);
	printf("%-34s %10.2f %10.2f\n", "SHA-256, 256 x 16 KiB blocks", mb.sha256_block,
	       os.sha256_block);
	printf("%-34s %10.2f %10.2f\n", "XXH3-128, 16 KiB blocks", xxh3, xxh3);
	printf("%-34s %10.2f %10.2f\n", "combined ingest limit per core", comb_mb, comb_os);
	printf("mb:      %s\nopenssl: %s\n", mb_desc, os_desc);
	printf("mb SHA-1 piece path: %s (sha1mb engines on the same pieces: "
	       "avx2x8 %.2f, shani-x4 %.2f)\n",
	       piece, eng_avx2, eng_shani);
	return 0;
}
