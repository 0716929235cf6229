/*
 * hash: SHA-1 / SHA-256 over many buffers (libipsec-mb job API or libcrypto),
 * and XXH3-128. See hash.h for the API.
 *
 * HASH_IMPL_MB keeps every message of a batch in flight in an IMB_MGR so the
 * SIMD lanes fill; HASH_IMPL_OPENSSL hashes one message at a time through a
 * reused EVP_MD_CTX and is the reference the tests compare against.
 *
 * What libipsec-mb 1.3 can and cannot do (measured on the build machine,
 * AMD EPYC with AVX2 + SHA-NI, and read from the library's job checks):
 *
 *  - The job API hashes every length from 0 to 65534 bytes correctly, but a
 *    plain IMB_AUTH_SHA_1 / IMB_AUTH_SHA_256 job longer than MB_MAX_LEN16
 *    (65534 bytes) completes with IMB_STATUS_INVALID_ARGS and errno
 *    IMB_ERR_JOB_AUTH_LEN: the lane managers keep lengths in 16 bits. There
 *    is no streaming (init/update/final) job for plain SHA, so a long message
 *    cannot be split across jobs. Long SHA-1 messages (v1 pieces are
 *    usually 256 KiB or more) go to sha1mb.c instead, our own multi-message
 *    SHA-1 for any length: four interleaved SHA-NI streams on this CPU
 *    (3.3-3.5 GB/s per core over 256 KiB pieces, where libcrypto's SHA-NI
 *    one message at a time gets 1.5-1.6), eight AVX2 lanes on CPUs without
 *    SHA-NI. Without either, for fewer long messages than
 *    sha1mb_min_batch(), and for every long SHA-256 message, libcrypto
 *    hashes them one at a time: it uses SHA-NI and is about twice as fast as
 *    libipsec-mb's own single-buffer IMB_SHA1 / IMB_SHA256 on this CPU (1.6
 *    vs 0.75 GB/s for SHA-1).
 *  - Nor can a message be fed in parts (hash_sha1_feed): no job or call
 *    takes a chaining value in. IMB_SHA1_ONE_BLOCK hashes one block from
 *    the initial value and pads it; IMB_SHA1 hashes a whole message; an
 *    HMAC job does start from a given state (the hashed key ^ ipad), but it
 *    pads the inner message and hashes it again with the outer key, and its
 *    lengths are 16-bit too. sha1mb keeps each message's chaining value in
 *    a sha1mb_ctx between calls instead, so hash_sha1_feed goes there.
 *  - A job's src must not be NULL even when its length is 0.
 *  - init_mb_mgr_auto() picks AVX2 on CPUs without AVX-512, and in 1.3 only
 *    the SSE manager uses the SHA extensions. On a CPU with SHA-NI the SSE
 *    manager runs multi-buffer SHA-256 about 1.9x faster than the AVX2 one
 *    (3.0 vs 1.6 GB/s per core, 16 KiB jobs) while AVX2 stays ahead for SHA-1
 *    (3.5 vs 3.0 GB/s). So when the auto manager is AVX or AVX2 and the CPU
 *    has SHA-NI, SHA-256 jobs go to a second, SSE manager; describe() says so.
 *
 * Invariants: between calls every IMB_MGR is empty (each batch is flushed to
 * the end, also when a job fails), so a failed batch leaves no job behind to
 * write into a caller's buffer later.
 */
#include "hash.h"
#include "sha1mb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep the 0.5.3 compatibility names (SHA1, SHA_256, ...) out: they collide
 * with libcrypto's SHA1(). */
#define NO_COMPAT_IMB_API_053
#include <intel-ipsec-mb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <xxhash.h>

/* Longest message a plain SHA job may carry (MB_MAX_LEN16 in the library's
 * job checks, which is not exported by the public header). */
#define HASH_MB_MAX_LEN 65534u

struct hash_ctx {
	enum hash_impl impl;
	IMB_MGR *mgr;	     /* init_mb_mgr_auto(); SHA-1 jobs. NULL for OpenSSL */
	IMB_MGR *mgr_sha256; /* mgr, or an SSE manager using SHA-NI */
	EVP_MD *md_sha1;     /* single-buffer path: OpenSSL impl and long jobs */
	EVP_MD *md_sha256;
	EVP_MD_CTX *mdctx;
	int sha1_long; /* MB: long SHA-1 jobs may go to sha1mb */
	char desc[128];
	/* hash_sha1_feed's messages: through sha1mb when sha1_long, else each
	 * in its libcrypto context (allocated on its first start) */
	uint32_t started; /* bit i: stream i holds a message */
	struct sha1mb_ctx mb_stream[HASH_SHA1_STREAMS];
	EVP_MD_CTX *evp_stream[HASH_SHA1_STREAMS];
};

_Static_assert(HASH_SHA1_STREAMS <= 32, "one bit per stream in hash_ctx.started");

/* A valid address for empty messages: neither library wants NULL. */
static const uint8_t empty_msg[1];

static const char *arch_name(IMB_ARCH arch)
{
	switch (arch) {
	case IMB_ARCH_NOAESNI: return "sse-noaesni";
	case IMB_ARCH_SSE: return "sse";
	case IMB_ARCH_AVX: return "avx";
	case IMB_ARCH_AVX2: return "avx2";
	case IMB_ARCH_AVX512: return "avx512";
	default: return "none";
	}
}

/* An initialised manager, or -errno with err set. */
static int mgr_check(IMB_MGR *m, const char *what, struct seed_err *err)
{
	int e = imb_get_errno(m);

	if (e)
		return seed_err_set(err, -ENOTSUP,
				    "ipsec-mb: %s manager init failed: %s "
				    "(the CPU lacks an instruction set the "
				    "library needs, e.g. SSE4.2)",
				    what, imb_get_strerror(e));
	if ((m->features & IMB_FEATURE_SELF_TEST) && !(m->features & IMB_FEATURE_SELF_TEST_PASS))
		return seed_err_set(err, -EIO, "ipsec-mb: %s manager failed its self-test", what);
	return 0;
}

static int create_mb(struct hash_ctx *h, struct seed_err *err)
{
	IMB_ARCH arch = IMB_ARCH_NONE;
	const char *long_sha1;
	int rc;

	h->mgr = alloc_mb_mgr(0);
	if (!h->mgr)
		return seed_err_set(err, -ENOMEM, "ipsec-mb: cannot allocate a manager");
	init_mb_mgr_auto(h->mgr, &arch);
	rc = mgr_check(h->mgr, "auto", err);
	if (rc)
		return rc;
	if (arch <= IMB_ARCH_NONE || arch >= IMB_ARCH_NUM)
		return seed_err_set(err, -ENOTSUP,
				    "ipsec-mb: no usable architecture (the CPU "
				    "lacks SSE4.2)");
	h->mgr_sha256 = h->mgr;
	h->sha1_long = sha1mb_available();
	long_sha1 = h->sha1_long ? sha1mb_path() : "openssl";

	/* See the file header: 1.3 uses SHA-NI only in its SSE manager. */
	if ((arch == IMB_ARCH_AVX || arch == IMB_ARCH_AVX2) &&
	    (h->mgr->features & IMB_FEATURE_SHANI)) {
		h->mgr_sha256 = alloc_mb_mgr(0);
		if (!h->mgr_sha256)
			return seed_err_set(err, -ENOMEM, "ipsec-mb: cannot allocate a manager");
		init_mb_mgr_sse(h->mgr_sha256);
		rc = mgr_check(h->mgr_sha256, "sse", err);
		if (rc)
			return rc;
		snprintf(h->desc, sizeof(h->desc),
			 "ipsec-mb %s (%s; sha256 sse+shani; sha1 >64K %s)", imb_get_version_str(),
			 arch_name(arch), long_sha1);
	} else {
		snprintf(h->desc, sizeof(h->desc), "ipsec-mb %s (%s; sha1 >64K %s)",
			 imb_get_version_str(), arch_name(arch), long_sha1);
	}
	return 0;
}

int hash_ctx_create(enum hash_impl impl, struct hash_ctx **out_ctx, struct seed_err *err)
{
	struct hash_ctx *h;
	int rc = 0;

	if (!out_ctx)
		return seed_err_set(err, -EINVAL, "hash: no out_ctx");
	*out_ctx = NULL;
	if (impl != HASH_IMPL_MB && impl != HASH_IMPL_OPENSSL)
		return seed_err_set(err, -EINVAL, "hash: unknown implementation %d", (int)impl);
	h = calloc(1, sizeof(*h));
	if (!h)
		return seed_err_set(err, -ENOMEM, "hash: out of memory");
	h->impl = impl;

	/* Both implementations need libcrypto: the MB one for long messages. */
	h->md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	h->md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->mdctx = EVP_MD_CTX_new();
	if (!h->md_sha1 || !h->md_sha256) {
		rc = seed_err_set(err, -ENOTSUP,
				  "openssl: SHA1/SHA256 not available from "
				  "the default provider");
		goto fail;
	}
	if (!h->mdctx) {
		rc = seed_err_set(err, -ENOMEM, "openssl: out of memory");
		goto fail;
	}

	if (impl == HASH_IMPL_MB) {
		rc = create_mb(h, err);
		if (rc)
			goto fail;
	} else {
		snprintf(h->desc, sizeof(h->desc), "openssl %u.%u.%u", OPENSSL_version_major(),
			 OPENSSL_version_minor(), OPENSSL_version_patch());
	}
	*out_ctx = h;
	return 0;
fail:
	hash_ctx_destroy(h);
	return rc;
}

void hash_ctx_destroy(struct hash_ctx *h)
{
	if (!h)
		return;
	if (h->mgr_sha256 && h->mgr_sha256 != h->mgr)
		free_mb_mgr(h->mgr_sha256);
	if (h->mgr)
		free_mb_mgr(h->mgr);
	EVP_MD_CTX_free(h->mdctx);
	for (size_t i = 0; i < HASH_SHA1_STREAMS; i++)
		EVP_MD_CTX_free(h->evp_stream[i]);
	EVP_MD_free(h->md_sha1);
	EVP_MD_free(h->md_sha256);
	free(h);
}

const char *hash_ctx_describe(const struct hash_ctx *h)
{
	return h ? h->desc : "";
}

/* One message through libcrypto. */
static int evp_one(struct hash_ctx *h, const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
	if (!EVP_DigestInit_ex2(h->mdctx, md, NULL) || !EVP_DigestUpdate(h->mdctx, data, len) ||
	    !EVP_DigestFinal_ex(h->mdctx, out, NULL))
		return -EIO;
	return 0;
}

static int check_jobs(const struct hash_job *jobs, size_t n)
{
	if (n && !jobs)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!jobs[i].out || (jobs[i].len && !jobs[i].data))
			return -EINVAL;
	return 0;
}

/* A job the manager handed back: did it produce its digest? */
static int job_result(const IMB_JOB *j)
{
	if (j->status == IMB_STATUS_COMPLETED)
		return 0;
	/* Only reachable through a library defect or a length check we do
	 * not know about: the inputs were validated before submission. */
	return j->status == IMB_STATUS_INVALID_ARGS ? -EINVAL : -EIO;
}

/* Jobs libipsec-mb cannot take (see the file header). */
static size_t count_long(const struct hash_job *jobs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += jobs[i].len > HASH_MB_MAX_LEN;
	return k;
}

/* The long jobs of a batch, through sha1mb in slices copied to the stack:
 * no allocation on the hot path, and a slice of 64 refills sha1mb's message
 * slots many times before its last few messages run with fewer beside them. */
#define LONG_SLICE 64

static int sha1_long_batch(const struct hash_job *jobs, size_t n)
{
	struct hash_job slice[LONG_SLICE];
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (jobs[i].len <= HASH_MB_MAX_LEN)
			continue;
		slice[k++] = jobs[i];
		if (k == LONG_SLICE) {
			rc = sha1mb_batch(slice, k);
			if (rc)
				return rc;
			k = 0;
		}
	}
	return k ? sha1mb_batch(slice, k) : 0;
}

/* skip_long: jobs over HASH_MB_MAX_LEN are left to the caller; otherwise
 * libcrypto hashes them here. */
static int mb_batch(struct hash_ctx *h, IMB_MGR *m, IMB_HASH_ALG alg, const EVP_MD *md,
		    uint64_t tag_len, const struct hash_job *jobs, size_t n, int skip_long)
{
	int rc = 0;
	IMB_JOB *j;

	for (size_t i = 0; i < n; i++) {
		const void *src = jobs[i].len ? jobs[i].data : empty_msg;

		if (jobs[i].len > HASH_MB_MAX_LEN) {
			int r;

			if (skip_long)
				continue;
			/* Too long for a job (file header); the others keep
			 * their lanes meanwhile. */
			r = evp_one(h, md, src, jobs[i].len, jobs[i].out);
			if (r && !rc)
				rc = r;
			continue;
		}
		j = IMB_GET_NEXT_JOB(m);
		/* The slot holds a previous job's fields: start clean. */
		memset(j, 0, sizeof(*j));
		j->src = src;
		j->hash_start_src_offset_in_bytes = 0;
		j->msg_len_to_hash_in_bytes = jobs[i].len;
		j->auth_tag_output = jobs[i].out;
		j->auth_tag_output_len_in_bytes = tag_len;
		j->hash_alg = alg;
		j->cipher_mode = IMB_CIPHER_NULL;
		j->cipher_direction = IMB_DIR_ENCRYPT;
		j->chain_order = IMB_ORDER_HASH_CIPHER;
		j = IMB_SUBMIT_JOB(m);
		if (!j && imb_get_errno(m) && !rc)
			rc = -EIO;
		/* Drain whatever finished so its slot can be reused; lanes
		 * that are still filling stay in flight. */
		while (j) {
			int r = job_result(j);

			if (r && !rc)
				rc = r;
			j = IMB_GET_COMPLETED_JOB(m);
		}
	}
	/* Always flush to the end, also after an error: see invariants. */
	while ((j = IMB_FLUSH_JOB(m))) {
		int r = job_result(j);

		if (r && !rc)
			rc = r;
	}
	return rc;
}

static int evp_batch(struct hash_ctx *h, const EVP_MD *md, const struct hash_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const void *src = jobs[i].len ? jobs[i].data : empty_msg;
		int rc = evp_one(h, md, src, jobs[i].len, jobs[i].out);

		if (rc)
			return rc;
	}
	return 0;
}

/* 1 when a batch has work to do, else 0 or -errno to return at once. */
static int batch_begin(const struct hash_ctx *h, const struct hash_job *jobs, size_t n)
{
	if (!h)
		return -EINVAL;
	int rc = check_jobs(jobs, n);
	return rc ? rc : n != 0;
}

int hash_sha1_batch(struct hash_ctx *h, const struct hash_job *jobs, size_t n)
{
	int rc = batch_begin(h, jobs, n);

	if (rc <= 0)
		return rc;
	if (h->impl == HASH_IMPL_MB) {
		/* Long jobs to sha1mb when there are enough of them to beat
		 * libcrypto (sha1mb.h); a failure of either half fails the
		 * whole batch, as hash.h promises. */
		size_t n_long = h->sha1_long ? count_long(jobs, n) : 0;
		int to_mb = n_long && n_long >= sha1mb_min_batch();

		rc = mb_batch(h, h->mgr, IMB_AUTH_SHA_1, h->md_sha1, HASH_SHA1_LEN, jobs, n, to_mb);
		if (!rc && to_mb)
			rc = sha1_long_batch(jobs, n);
		return rc;
	}
	return evp_batch(h, h->md_sha1, jobs, n);
}

int hash_sha256_batch(struct hash_ctx *h, const struct hash_job *jobs, size_t n)
{
	int rc = batch_begin(h, jobs, n);

	if (rc <= 0)
		return rc;
	if (h->impl == HASH_IMPL_MB)
		return mb_batch(h, h->mgr_sha256, IMB_AUTH_SHA_256, h->md_sha256, HASH_SHA256_LEN,
				jobs, n, 0);
	return evp_batch(h, h->md_sha256, jobs, n);
}

int hash_sha1_start(struct hash_ctx *h, unsigned stream)
{
	if (!h || stream >= HASH_SHA1_STREAMS)
		return -EINVAL;
	h->started &= ~(UINT32_C(1) << stream);
	if (h->sha1_long) {
		sha1mb_init(&h->mb_stream[stream]);
	} else {
		if (!h->evp_stream[stream] && !(h->evp_stream[stream] = EVP_MD_CTX_new()))
			return -ENOMEM;
		if (!EVP_DigestInit_ex2(h->evp_stream[stream], h->md_sha1, NULL))
			return -EIO;
	}
	h->started |= UINT32_C(1) << stream;
	return 0;
}

/* The parts of a feed, checked; the streams they end no longer started. */
static int feed_check(struct hash_ctx *h, const struct hash_sha1_part *parts, size_t n)
{
	uint32_t seen = 0;

	if (!h || (n && !parts))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct hash_sha1_part *pt = &parts[i];
		uint32_t bit;

		if (pt->stream >= HASH_SHA1_STREAMS || (pt->len && !pt->data))
			return -EINVAL;
		bit = UINT32_C(1) << pt->stream;
		if (!(h->started & bit) || (seen & bit))
			return -EINVAL;
		seen |= bit;
	}
	return 0;
}

static int feed_mb(struct hash_ctx *h, const struct hash_sha1_part *parts, size_t n)
{
	struct sha1mb_part mp[HASH_SHA1_STREAMS];

	/* feed_check: n distinct streams, so n <= HASH_SHA1_STREAMS */
	for (size_t i = 0; i < n; i++)
		mp[i] = (struct sha1mb_part){ &h->mb_stream[parts[i].stream], parts[i].data,
					      parts[i].len, parts[i].out };
	return sha1mb_feed(mp, n);
}

static int feed_evp(struct hash_ctx *h, const struct hash_sha1_part *parts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_MD_CTX *c = h->evp_stream[parts[i].stream];

		if (parts[i].len && !EVP_DigestUpdate(c, parts[i].data, parts[i].len))
			return -EIO;
		if (parts[i].out && !EVP_DigestFinal_ex(c, parts[i].out, NULL))
			return -EIO;
	}
	return 0;
}

int hash_sha1_feed(struct hash_ctx *h, const struct hash_sha1_part *parts, size_t n)
{
	int rc = feed_check(h, parts, n);

	if (rc < 0)
		return rc;
	rc = h->sha1_long ? feed_mb(h, parts, n) : feed_evp(h, parts, n);
	for (size_t i = 0; i < n; i++)
		if (rc == -EIO || parts[i].out)
			h->started &= ~(UINT32_C(1) << parts[i].stream);
	return rc;
}

int hash_sha1(struct hash_ctx *h, const void *data, size_t len, uint8_t out[HASH_SHA1_LEN])
{
	struct hash_job job = { .data = data, .len = len, .out = out };

	return hash_sha1_batch(h, &job, 1);
}

int hash_sha256(struct hash_ctx *h, const void *data, size_t len, uint8_t out[HASH_SHA256_LEN])
{
	struct hash_job job = { .data = data, .len = len, .out = out };

	return hash_sha256_batch(h, &job, 1);
}

void hash_xxh128(const void *data, size_t len, uint8_t out[HASH_XXH128_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(data, len));
	memcpy(out, c.digest, HASH_XXH128_LEN);
}
