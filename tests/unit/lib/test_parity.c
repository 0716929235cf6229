/*
 * Unit tests for lib/parity.c: parity blocks against GF(2^8) arithmetic
 * written here (polynomial 0x11d, the field ISA-L uses) applied to the
 * generator's rows, and every way of losing up to m shards of a stripe
 * rebuilt byte for byte, for several k + m; more than m lost is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"
#include "../testutil.h"

#define LEN 1000 /* not a multiple of any vector width */

/* Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x^2 + 1, bit by bit. */
static uint8_t gf_mul_ref(uint8_t a, uint8_t b)
{
	uint8_t r = 0;
	while (b) {
		if (b & 1)
			r ^= a;
		a = (uint8_t)(a << 1 ^ (a & 0x80 ? 0x1d : 0));
		b >>= 1;
	}
	return r;
}

struct stripe {
	struct parity p;
	uint8_t *buf;  /* (k + m) * LEN */
	uint8_t *orig; /* the same, as encoded */
	uint8_t *sh[PARITY_MAX_SHARDS];
};

static void stripe_new(struct stripe *s, unsigned k, unsigned m, uint64_t seed)
{
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(parity_init(&s->p, k, m, &e), 0, "%s", e.msg);
	tu_seed(seed);
	s->buf = tu_random_buf((size_t)(k + m) * LEN);
	s->orig = malloc((size_t)(k + m) * LEN);
	cr_assert_not_null(s->orig);
	for (unsigned i = 0; i < k + m; i++)
		s->sh[i] = s->buf + (size_t)i * LEN;
	parity_encode(&s->p, LEN, s->sh, s->sh + k);
	memcpy(s->orig, s->buf, (size_t)(k + m) * LEN);
}

static void stripe_free(struct stripe *s)
{
	free(s->buf);
	free(s->orig);
}

/* The parity blocks are the generator's Cauchy rows times the data. */
static void expect_parity_is_the_math(const struct stripe *s)
{
	unsigned k = s->p.k, m = s->p.m;
	for (unsigned j = 0; j < m; j++) {
		const uint8_t *row = s->p.gen + (k + j) * k;
		for (unsigned i = 0; i < k; i++) /* Cauchy: no zero coefficient */
			cr_assert_neq(row[i], 0, "k=%u m=%u: coefficient %u of parity row %u", k, m,
				      i, j);
		for (size_t b = 0; b < LEN; b++) {
			uint8_t want = 0;
			for (unsigned i = 0; i < k; i++)
				want ^= gf_mul_ref(row[i], s->orig[(size_t)i * LEN + b]);
			cr_assert_eq(s->orig[(size_t)(k + j) * LEN + b], want,
				     "k=%u m=%u: parity %u byte %zu", k, m, j, b);
		}
	}
}

/* Loses the shards in mask (overwritten with garbage), rebuilds them and
 * expects the stripe as it was. */
static void expect_rebuilt(struct stripe *s, uint64_t mask)
{
	unsigned n = s->p.k + s->p.m;
	for (unsigned i = 0; i < n; i++)
		if (mask >> i & 1)
			memset(s->sh[i], 0x5a ^ (int)i, LEN);
	cr_assert_eq(parity_rebuild(&s->p, LEN, s->sh, mask), 0, "k=%u m=%u lost 0x%llx", s->p.k,
		     s->p.m, (unsigned long long)mask);
	for (unsigned i = 0; i < n; i++)
		cr_assert_arr_eq(s->sh[i], s->orig + (size_t)i * LEN, LEN,
				 "k=%u m=%u lost 0x%llx: shard %u differs", s->p.k, s->p.m,
				 (unsigned long long)mask, i);
}

Test(parity, every_loss_of_up_to_m_shards_is_rebuilt)
{
	static const unsigned km[][2] = { { 1, 1 }, { 2, 2 },  { 4, 2 },
					  { 8, 2 }, { 16, 2 }, { 6, 3 } };
	for (size_t t = 0; t < TU_N(km); t++) {
		struct stripe s;
		stripe_new(&s, km[t][0], km[t][1], 100 + t);
		expect_parity_is_the_math(&s);
		unsigned n = s.p.k + s.p.m;
		/* every mask of 1..m bits over n shards */
		for (uint64_t mask = 1; mask < (1ull << n); mask++)
			if ((unsigned)__builtin_popcountll(mask) <= s.p.m)
				expect_rebuilt(&s, mask);
		stripe_free(&s);
	}
}

Test(parity, wide_stripes_random_losses)
{
	static const unsigned km[][2] = { { 16, 4 }, { 32, 4 }, { 32, 2 } };
	for (size_t t = 0; t < TU_N(km); t++) {
		struct stripe s;
		stripe_new(&s, km[t][0], km[t][1], 200 + t);
		expect_parity_is_the_math(&s);
		unsigned n = s.p.k + s.p.m;
		for (int r = 0; r < 200; r++) {
			uint64_t mask = 0;
			unsigned want = 1 + (unsigned)(tu_rnd() % s.p.m);
			while ((unsigned)__builtin_popcountll(mask) < want)
				mask |= 1ull << (tu_rnd() % n);
			expect_rebuilt(&s, mask);
		}
		stripe_free(&s);
	}
}

Test(parity, refuses_what_it_cannot_rebuild)
{
	struct stripe s;
	stripe_new(&s, 4, 2, 7);
	cr_assert_eq(parity_rebuild(&s.p, LEN, s.sh, 0), -EINVAL, "nothing lost");
	cr_assert_eq(parity_rebuild(&s.p, LEN, s.sh, 0x7), -EINVAL, "three lost, m = 2");
	cr_assert_eq(parity_rebuild(&s.p, LEN, s.sh, 1u << 6), -EINVAL, "shard 6 of 6");
	cr_assert_arr_eq(s.buf, s.orig, (size_t)6 * LEN, "a refused rebuild wrote");
	stripe_free(&s);

	struct parity p;
	struct seed_err e;
	static const unsigned bad[][2] = { { 0, 2 }, { 33, 2 }, { 8, 0 }, { 8, 5 } };
	for (size_t t = 0; t < TU_N(bad); t++) {
		seed_err_clear(&e);
		cr_assert_eq(parity_init(&p, bad[t][0], bad[t][1], &e), -EINVAL, "k=%u m=%u",
			     bad[t][0], bad[t][1]);
		cr_assert_not_null(strstr(e.msg, bad[t][0] < 1 || bad[t][0] > 32 ? "(k)" : "(m)"),
				   "%s", e.msg);
	}
}

/*
 * What the store's short stripes rest on (docs/store.md, "Parity", version
 * 4): with every data shard zero past `plen` bytes, the parity of the whole
 * 16 KiB is the parity of the first plen bytes followed by zeros, so only
 * plen bytes are stored; and a stripe coded over plen bytes rebuilds any
 * m lost shards over plen bytes alone. One block of 3,500 bytes alone in
 * its stripe (plen 4 KiB), for several k + m.
 */
Test(parity, a_short_stripe_is_coded_over_its_longest_shard)
{
	enum { BLK = 16384, PLEN = 4096 };
	static const unsigned km[][2] = { { 16, 2 }, { 4, 2 }, { 8, 3 }, { 1, 1 } };
	for (size_t t = 0; t < TU_N(km); t++) {
		unsigned k = km[t][0], m = km[t][1];
		struct parity p;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(parity_init(&p, k, m, &e), 0, "%s", e.msg);
		uint8_t *full = calloc(k + m, BLK), *part = calloc(k + m, BLK);
		uint8_t *fs[PARITY_MAX_SHARDS], *ps[PARITY_MAX_SHARDS];
		tu_seed(300 + t);
		for (unsigned i = 0; i < k + m; i++) {
			fs[i] = full + (size_t)i * BLK;
			ps[i] = part + (size_t)i * BLK;
		}
		/* the stripe's one block: 3,500 bytes, then zeros */
		uint8_t *d = tu_random_buf(3500);
		memcpy(fs[0], d, 3500);
		memcpy(ps[0], d, 3500);
		free(d);
		parity_encode(&p, BLK, fs, fs + k);
		parity_encode(&p, PLEN, ps, ps + k);
		static const uint8_t zero[BLK];
		for (unsigned j = 0; j < m; j++) {
			cr_assert_arr_eq(ps[k + j], fs[k + j], PLEN, "k=%u m=%u parity %u", k, m,
					 j);
			cr_assert_arr_eq(fs[k + j] + PLEN, zero, BLK - PLEN,
					 "k=%u m=%u: parity %u is zeros past the data", k, m, j);
		}
		/* lose the data block and m - 1 parity shards: rebuilt over PLEN */
		uint64_t lost = 1;
		for (unsigned j = 1; j < m; j++)
			lost |= 1ull << (k + j);
		uint8_t *keep = malloc((size_t)(k + m) * BLK);
		memcpy(keep, part, (size_t)(k + m) * BLK);
		for (unsigned i = 0; i < k + m; i++)
			if (lost >> i & 1)
				memset(ps[i], 0xa5, PLEN);
		cr_assert_eq(parity_rebuild(&p, PLEN, ps, lost), 0);
		for (unsigned i = 0; i < k + m; i++)
			cr_assert_arr_eq(ps[i], keep + (size_t)i * BLK, PLEN, "k=%u m=%u shard %u",
					 k, m, i);
		free(keep);
		free(full);
		free(part);
	}
}
