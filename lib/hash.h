/*
 * hash: SHA-1 and SHA-256 for many buffers at once, and XXH3-128.
 *
 * The fast implementation is Intel's multi-buffer library (libipsec-mb): it
 * hashes independent messages in SIMD lanes, so callers should hand it many
 * messages per call (every 16 KiB block of a chunk, every piece of a chunk).
 * OpenSSL libcrypto is the single-buffer reference: tests compare the two and
 * bench/ingest reports both.
 *
 * A hash_ctx is per thread and not thread-safe. Create it once at start-up.
 */
#ifndef SEED_HASH_H
#define SEED_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

#define HASH_SHA1_LEN	20
#define HASH_SHA256_LEN 32
#define HASH_XXH128_LEN 16

enum hash_impl {
	HASH_IMPL_MB = 0,  /* libipsec-mb multi-buffer (default) */
	HASH_IMPL_OPENSSL, /* libcrypto, one message at a time */
};

struct hash_ctx;

int hash_ctx_create(enum hash_impl impl, struct hash_ctx **out_ctx, struct seed_err *err);
void hash_ctx_destroy(struct hash_ctx *h);
/* Names the implementation and SIMD level, e.g. "ipsec-mb 1.3.0 (avx512)".
 * Valid while h lives. */
const char *hash_ctx_describe(const struct hash_ctx *h);

/* One message: data[0..len) hashed into out (20 or 32 bytes). Borrows both. */
struct hash_job {
	const void *data;
	size_t len;
	uint8_t *out;
};

/*
 * Hashes every job (messages are independent and may have any length,
 * including 0). All-or-nothing: returns 0, or -errno with no digest
 * guaranteed. Larger n fills more SIMD lanes; there is no upper bound on n.
 * libipsec-mb 1.3 takes messages of at most 65534 bytes in its lanes; longer
 * SHA-1 messages (v1 pieces) go to sha1mb (SHA-NI four at a time, or AVX2
 * eight lanes), or to OpenSSL one at a time without either (see hash.c).
 */
int hash_sha1_batch(struct hash_ctx *h, const struct hash_job *jobs, size_t n);
int hash_sha256_batch(struct hash_ctx *h, const struct hash_job *jobs, size_t n);

/*
 * SHA-1 of messages fed in parts: up to HASH_SHA1_STREAMS messages per
 * hash_ctx at once, for a caller that hashes a slice of several long
 * messages while the slice is in the core's cache (ingest: XXH3, SHA-256,
 * SHA-1 and the parity of each slice in one pass over it). HASH_IMPL_MB
 * feeds the messages side by side through sha1mb (without it, and with
 * HASH_IMPL_OPENSSL, one at a time through libcrypto); the digests are the
 * same as hash_sha1_batch()'s.
 */
#define HASH_SHA1_STREAMS 32u

/* data[0..len) appended to message `stream`; with an out (20 bytes), the
 * message ends there and its digest goes to out. Borrows data and out. */
struct hash_sha1_part {
	unsigned stream;
	const void *data;
	size_t len;
	uint8_t *out;
};

/* Starts message `stream` (< HASH_SHA1_STREAMS), dropping whatever it
 * held. 0, -EINVAL (no h, stream out of range) or -ENOMEM (libcrypto's
 * context, allocated on the stream's first use). */
int hash_sha1_start(struct hash_ctx *h, unsigned stream);

/*
 * Feeds parts[0..n), a stream at most once per call; a part with an out
 * ends its stream, which needs hash_sha1_start() again. 0, or -EINVAL (a
 * stream out of range, not started or named twice, NULL data with a
 * non-zero len, NULL parts) / -EOVERFLOW (a message past SHA-1's limit)
 * with no stream changed, or -EIO from libcrypto with the streams of the
 * call left undefined (start them again).
 */
int hash_sha1_feed(struct hash_ctx *h, const struct hash_sha1_part *parts, size_t n);

/* Single messages, for slow paths. */
int hash_sha1(struct hash_ctx *h, const void *data, size_t len, uint8_t out[HASH_SHA1_LEN]);
int hash_sha256(struct hash_ctx *h, const void *data, size_t len, uint8_t out[HASH_SHA256_LEN]);

/* XXH3-128 in its canonical (big-endian) byte form. Thread-safe. */
void hash_xxh128(const void *data, size_t len, uint8_t out[HASH_XXH128_LEN]);

#endif
