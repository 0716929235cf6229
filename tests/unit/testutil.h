/*
 * testutil: scaffolding the unit tests share, so that each test file holds
 * only what it tests.
 *
 *  - TU_N/TU_TABLE: the size of an array, and a table of cases run by one
 *    check function (the form repeated cases take here); TU_U32_FIELD: a
 *    row that sets one uint32_t field of a config;
 *  - tu_seed/tu_rnd/tu_random_buf: deterministic content (splitmix64), so
 *    a failure reproduces from the seed a test sets;
 *  - tu_ref_sha1/tu_ref_sha256/tu_ref_digest: reference digests from
 *    libcrypto's one-shot SHA1()/SHA256(), never from lib/hash.c;
 *  - tu_hex: a digest as lowercase hex for failure messages, written here
 *    rather than taken from lib/hex.c (which has its own tests);
 *  - tu_jobs_new/tu_check_slot/tu_check_jobs: hash jobs whose digests land
 *    in TU_OUT_SLOT-byte slots filled with TU_CANARY, and the check that a
 *    slot holds the reference digest with its canaries untouched behind it;
 *  - tu_impl/tu_hash_ctx/tu_next_impl: both hash.h implementations, each
 *    test run on both;
 *  - tu_tmpdir/tu_tmpdir_file/tu_rmtree: a fresh directory under /tmp (and
 *    the path of a file in it), removed again; TU_SCRATCH_SUITE: a suite
 *    whose every test gets one.
 *
 * Header-only, every function static inline: a test includes it with
 * `#include "../testutil.h"` and pays only for what it calls. Failures go
 * through criterion's cr_assert (the test stops there), so the helpers
 * return only what succeeded. A test that uses the digests links libcrypto.
 */
#ifndef SEED_TESTUTIL_H
#define SEED_TESTUTIL_H

#include <criterion/criterion.h>
#include <ftw.h>
#include <stddef.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* --- tables of cases --- */

/* The number of elements of array a. */
#define TU_N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Runs check(cases, n) over a table of cases of type, written in place:
 *   TU_TABLE(expect_matches, struct match, { "10.0.0.0/8", "10.1.2.3", 1 },
 *            { "10.0.0.0/8", "11.0.0.0", 0 });
 * so a test that differs from the next only in data is one line per case.
 */
#define TU_TABLE(check, type, ...)                               \
	do {                                                     \
		static const type tu_cases_[] = { __VA_ARGS__ }; \
		check(tu_cases_, TU_N(tu_cases_));               \
	} while (0)

/*
 * One uint32_t field of a config struct and a value for it: a row of a
 * table of settings a check refuses, each applied to fresh defaults, or of
 * the defaults themselves (tu_check_u32):
 *   static const struct tu_u32_field bad[] = {
 *           TU_U32_FIELD(struct httpd_config, idle_timeout_ms, 0), ...
 */
struct tu_u32_field {
	const char *name;
	size_t off;
	uint32_t value;
};

/* offsetof(type, field), for a field four bytes wide (uint32_t, unsigned or
 * int): a wider or narrower one is a compile error (a negative array
 * size), not a check that reads the wrong bytes. */
#define TU_U32_OFF(type, field) \
	(offsetof(type, field) + 0 * sizeof(char[sizeof(((type *)0)->field) == 4 ? 1 : -1]))

#define TU_U32_FIELD(type, field, v)                 \
	{                                            \
#field, TU_U32_OFF(type, field), (v) \
	}

static inline void tu_set_u32(void *cfg, const struct tu_u32_field *f)
{
	memcpy((char *)cfg + f->off, &f->value, sizeof(f->value));
}

/* Each field of cfg holds its row's value (a table of defaults). */
static inline void tu_check_u32(const void *cfg, const struct tu_u32_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t v;

		memcpy(&v, (const char *)cfg + f[i].off, sizeof(v));
		cr_assert_eq(v, f[i].value, "%s is %u, want %u", f[i].name, v, f[i].value);
	}
}

/* --- deterministic content --- */

static inline uint64_t *tu_rng_state(void)
{
	static uint64_t state;

	return &state;
}

/* Restarts the sequence: the same seed gives the same bytes and lengths. */
static inline void tu_seed(uint64_t seed)
{
	*tu_rng_state() = seed;
}

/* splitmix64 (Steele, Lea, Flood 2014). */
static inline uint64_t tu_rnd(void)
{
	uint64_t z = (*tu_rng_state() += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* len bytes from tu_rnd(); the caller frees. Never NULL (len 0 gives 1 byte). */
static inline uint8_t *tu_random_buf(size_t len)
{
	uint8_t *b = malloc(len ? len : 1);

	cr_assert_not_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)tu_rnd();
	return b;
}

/* --- reference digests (libcrypto) --- */

/* d may be NULL when len is 0. */
static inline void tu_ref_sha1(const void *d, size_t len, uint8_t out[HASH_SHA1_LEN])
{
	SHA1(len ? d : (const void *)"", len, out);
}

static inline void tu_ref_sha256(const void *d, size_t len, uint8_t out[HASH_SHA256_LEN])
{
	SHA256(len ? d : (const void *)"", len, out);
}

static inline size_t tu_digest_len(int sha256)
{
	return sha256 ? HASH_SHA256_LEN : HASH_SHA1_LEN;
}

static inline void tu_ref_digest(int sha256, const void *d, size_t len, uint8_t *out)
{
	if (sha256)
		tu_ref_sha256(d, len, out);
	else
		tu_ref_sha1(d, len, out);
}

/* p[0..n-1] as 2n lowercase hex digits and a NUL in out (2n + 1 bytes). */
static inline char *tu_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
	return out;
}

/* --- hash jobs into canary slots --- */

#define TU_CANARY   0xA5
#define TU_OUT_SLOT 48 /* a SHA-256 digest plus 16 canary bytes */

/* The slot holds the reference digest of d[0..len-1], and every byte after
 * the digest is still TU_CANARY. what names the case in the message. */
static inline void tu_check_slot(int sha256, const uint8_t *slot, const void *d, size_t len,
				 const char *what)
{
	uint8_t ref[HASH_SHA256_LEN];
	size_t dl = tu_digest_len(sha256);

	tu_ref_digest(sha256, d, len, ref);
	if (memcmp(slot, ref, dl) != 0) {
		char got[2 * HASH_SHA256_LEN + 1], want[2 * HASH_SHA256_LEN + 1];

		cr_assert_fail("%s: %s of %zu bytes: got %s, want %s", what,
			       sha256 ? "SHA-256" : "SHA-1", len, tu_hex(slot, dl, got),
			       tu_hex(ref, dl, want));
	}
	for (size_t i = dl; i < TU_OUT_SLOT; i++)
		cr_assert_eq(slot[i], TU_CANARY, "%s: wrote byte %zu past the digest (len %zu)",
			     what, i, len);
}

/* n jobs (at least one allocated), each .out a canary-filled slot of
 * *out_slots; .data and .len are the caller's to fill. Free both with
 * tu_jobs_free(). */
static inline struct hash_job *tu_jobs_new(size_t n, uint8_t **out_slots)
{
	size_t m = n ? n : 1;
	struct hash_job *jobs = calloc(m, sizeof(*jobs));
	uint8_t *slots = malloc(m * TU_OUT_SLOT);

	cr_assert_not_null(jobs);
	cr_assert_not_null(slots);
	memset(slots, TU_CANARY, m * TU_OUT_SLOT);
	for (size_t i = 0; i < n; i++)
		jobs[i].out = slots + i * TU_OUT_SLOT;
	*out_slots = slots;
	return jobs;
}

static inline void tu_jobs_free(struct hash_job *jobs, uint8_t *slots)
{
	free(jobs);
	free(slots);
}

static inline void tu_check_jobs(int sha256, const struct hash_job *jobs, size_t n,
				 const char *what)
{
	for (size_t i = 0; i < n; i++)
		tu_check_slot(sha256, jobs[i].out, jobs[i].data, jobs[i].len, what);
}

/* --- both implementations of hash.h --- */

#define TU_N_IMPLS 2

/* The k-th implementation, k < TU_N_IMPLS: multi-buffer first, then libcrypto. */
static inline enum hash_impl tu_impl(size_t k)
{
	return k == 0 ? HASH_IMPL_MB : HASH_IMPL_OPENSSL;
}

/* A context of implementation impl; the caller destroys it. */
static inline struct hash_ctx *tu_hash_ctx(enum hash_impl impl)
{
	struct hash_ctx *h = NULL;
	struct seed_err err;
	int rc;

	seed_err_clear(&err);
	rc = hash_ctx_create(impl, &h, &err);
	cr_assert_eq(rc, 0, "hash_ctx_create(%d): %d %s", (int)impl, rc, err.msg);
	cr_assert_not_null(h);
	return h;
}

/*
 * Walks both implementations, each a fresh context in it->h:
 *   for (struct tu_impls it = { 0 }; tu_next_impl(&it);) {
 *           struct hash_ctx *h = it.h;
 *           ...
 *   }
 * Each call destroys the previous context; the loop must run to its end
 * (no break or return) so that the last one is destroyed too.
 */
struct tu_impls {
	size_t next;
	struct hash_ctx *h;
};

static inline int tu_next_impl(struct tu_impls *it)
{
	hash_ctx_destroy(it->h);
	it->h = NULL;
	if (it->next == TU_N_IMPLS)
		return 0;
	it->h = tu_hash_ctx(tu_impl(it->next++));
	return 1;
}

/* --- temporary directories --- */

#define TU_PATH_MAX 256

/* Makes a fresh /tmp/NAME.XXXXXX and writes its path to out. */
static inline void tu_tmpdir(char out[TU_PATH_MAX], const char *name)
{
	int n = snprintf(out, TU_PATH_MAX, "/tmp/%s.XXXXXX", name);

	cr_assert(n > 0 && n < TU_PATH_MAX, "tu_tmpdir: name too long: %s", name);
	cr_assert_not_null(mkdtemp(out), "mkdtemp(%s)", out);
}

static inline int tu_rmtree_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* Removes dir and everything below it (links are removed, not followed). */
static inline void tu_rmtree(const char *dir)
{
	cr_assert_eq(nftw(dir, tu_rmtree_one, 16, FTW_DEPTH | FTW_PHYS), 0, "removing %s", dir);
}

/* tu_tmpdir(dir, name), and the path of a file named file inside it in
 * path (cap bytes): the set-up of a suite that works on one file. */
static inline void tu_tmpdir_file(char dir[TU_PATH_MAX], const char *name, char *path, size_t cap,
				  const char *file)
{
	tu_tmpdir(dir, name);
	int n = snprintf(path, cap, "%s/%s", dir, file);

	cr_assert(n > 0 && (size_t)n < cap, "tu_tmpdir_file: %s/%s too long", dir, file);
}

/*
 * A criterion suite whose every test runs in a fresh scratch directory:
 * defines char dir[] (the directory) and char path[] (a file named file in
 * it) and the suite's init and fini that make and remove them.
 *   TU_SCRATCH_SUITE(catalog, dir, path, "catalog");
 */
#define TU_SCRATCH_SUITE(suite, dir, path, file)                               \
	static char dir[TU_PATH_MAX];                                          \
	static char path[TU_PATH_MAX];                                         \
	static void suite##_scratch_init(void)                                 \
	{                                                                      \
		tu_tmpdir_file(dir, "test_" #suite, path, sizeof(path), file); \
	}                                                                      \
	static void suite##_scratch_fini(void)                                 \
	{                                                                      \
		tu_rmtree(dir);                                                \
	}                                                                      \
	TestSuite(suite, .init = suite##_scratch_init, .fini = suite##_scratch_fini)

#endif
