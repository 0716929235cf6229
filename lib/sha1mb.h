/*
 * sha1mb: SHA-1 (FIPS 180-4) over many messages of any length at once, for
 * the long ones libipsec-mb cannot take.
 *
 * libipsec-mb 1.3 multi-buffers only messages of at most 65534 bytes;
 * BitTorrent v1 pieces are longer, and one message at a time cannot use a
 * core's SIMD or SHA units fully. This module keeps several messages in
 * flight, refilling a slot with the next message as soon as its own is done,
 * on one of two engines:
 *
 *  - "shani-x4": the SHA extensions, four messages interleaved (one stream
 *    alone waits on each instruction's latency). Chosen whenever the CPU has
 *    them: on the build machine (AMD EPYC, Zen 3) it is the faster engine,
 *    3.3-3.5 GB/s per core against 3.0-3.1 for eight full AVX2 lanes, and
 *    it stays fast for two to seven messages, where AVX2 lanes would idle.
 *  - "avx2x8": eight 32-bit AVX2 lanes, for CPUs with AVX2 and no SHA
 *    extensions (e.g. Intel Haswell to Cascade Lake).
 *
 * A message may also be fed in parts (sha1mb_feed): its state lives in a
 * caller's struct sha1mb_ctx between calls, so a caller can hash a slice
 * of several long messages while the slice is in the core's cache (ingest
 * hashes, checks and codes each slice once). libipsec-mb has no such job
 * for plain SHA-1 (hash.c), which is why it lives here.
 *
 * Written for hash.c, which routes its long SHA-1 jobs here; callable alone
 * (tests, benches). No state between calls but the caller's sha1mb_ctx:
 * every function is thread-safe for distinct contexts.
 */
#ifndef SEED_SHA1MB_H
#define SEED_SHA1MB_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define SHA1MB_LANES 8 /* AVX2 lanes; also messages in flight at most */

enum sha1mb_engine {
	SHA1MB_AUTO = 0, /* the faster engine this CPU has (see above) */
	SHA1MB_AVX2X8,	 /* forced, for tests and benches */
	SHA1MB_SHANI,	 /* forced, for tests and benches */
};

/* 1 when this CPU (and OS) runs either engine, else 0 (then every batch
 * call returns -ENOTSUP). Cheap after the first call. */
int sha1mb_available(void);

/* 1 when this CPU runs engine e (SHA1MB_AUTO: sha1mb_available()). */
int sha1mb_has_engine(enum sha1mb_engine e);

/* Names the engine SHA1MB_AUTO uses here: "shani-x4", "avx2x8" or "none".
 * Static storage. */
const char *sha1mb_path(void);

/*
 * Fewest messages per call for which sha1mb_batch() beats hashing them one
 * at a time with libcrypto: 1 on "shani-x4" (a lone message runs as fast as
 * libcrypto's own SHA-NI code), SHA1MB_LANES / 2 on "avx2x8" (fewer would
 * leave most lanes empty, below libcrypto's single-stream AVX2 code).
 */
size_t sha1mb_min_batch(void);

/*
 * Hashes jobs[0..n) (any lengths, including 0; data may be NULL when len is
 * 0; out receives 20 bytes) on the SHA1MB_AUTO engine. Borrows jobs and
 * every buffer they name for the duration of the call; no out may overlap
 * any job's data. All-or-nothing: 0, or -EINVAL (a NULL out, or NULL data
 * with a non-zero len) / -ENOTSUP (!sha1mb_available()) with nothing
 * written.
 */
int sha1mb_batch(const struct hash_job *jobs, size_t n);

/* As sha1mb_batch() on engine e; -ENOTSUP where this CPU lacks it, -EINVAL
 * for a value outside enum sha1mb_engine. */
int sha1mb_batch_on(enum sha1mb_engine e, const struct hash_job *jobs, size_t n);

/*
 * One message hashed in parts. Plain data (no resources): set up with
 * sha1mb_init(), then only sha1mb_feed() touches it. The state does not
 * depend on the engine, so parts may go through different engines.
 */
struct sha1mb_ctx {
	uint32_t h[5];	     /* the chaining value after every whole block fed */
	uint64_t len;	     /* bytes fed so far */
	uint8_t buf[2 * 64]; /* the len % 64 bytes after them; room for padding */
};

/* Starts a message: the empty one. */
void sha1mb_init(struct sha1mb_ctx *c);

/*
 * One part of a message: data[0..len) appended to c's message (data may be
 * NULL when len is 0); when out is not NULL this is the message's last part
 * and out receives its 20-byte digest, after which c must be set up with
 * sha1mb_init() again before further use.
 */
struct sha1mb_part {
	struct sha1mb_ctx *c;
	const void *data;
	size_t len;
	uint8_t *out;
};

/*
 * Feeds parts[0..n) on the SHA1MB_AUTO engine, the messages side by side as
 * in sha1mb_batch(). A part may have any length and end anywhere (a message
 * fed as 1 + 63 + 100 + ... bytes gives the same digest as in one piece);
 * whole 64-byte blocks are hashed in place, only the few bytes of a part
 * that straddle a block boundary are copied into the context.
 * Borrows parts, contexts and buffers for the call; no out may overlap any
 * data or context. All-or-nothing: 0, or -EINVAL (NULL parts, a NULL c, NULL
 * data with a non-zero len, one context named twice) / -EOVERFLOW (a message
 * past 2^61 - 1 bytes, SHA-1's limit) / -ENOTSUP (!sha1mb_available()) with
 * no context or out changed.
 */
int sha1mb_feed(const struct sha1mb_part *parts, size_t n);

/* As sha1mb_feed() on engine e; -ENOTSUP where this CPU lacks it, -EINVAL
 * for a value outside enum sha1mb_engine. */
int sha1mb_feed_on(enum sha1mb_engine e, const struct sha1mb_part *parts, size_t n);

#endif
