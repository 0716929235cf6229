/*
 * test_cache: dataplane/cache.c — fills, waiters, verification failures,
 * pins, S3-FIFO behaviour checked against hand-computed traces, a 100k-op
 * random run against a naive reference model, memory mapping and config
 * errors, and the contract violations that must stop a debug build.
 *
 * Most tests use the smallest cache, 64 slots: the small queue's share is
 * 64 / 10 = 6 slots and the ghost holds 64 - 6 = 58 keys, numbers the
 * hand-computed expectations below rely on.
 */
#include "cache.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SLOTS	    64u
#define SMALL_SHARE 6u	/* SLOTS / 10 */
#define GHOST_CAP   58u /* SLOTS - SMALL_SHARE */

/* ---- helpers ------------------------------------------------------------ */

static struct cache *new_cache(size_t slots, size_t max_waiters, int huge)
{
	struct cache_config cfg = {
		.bytes = slots * CACHE_BLOCK,
		.try_hugepages = huge,
		.max_waiters = max_waiters,
	};
	struct cache *c = NULL;
	struct seed_err err;

	seed_err_clear(&err);
	int rc = cache_create(&cfg, &c, &err);

	cr_assert_eq(rc, 0, "cache_create: %d %s", rc, err.msg);
	cr_assert_not_null(c);
	return c;
}

static struct cache_key K(uint32_t n) {
	return (struct cache_key){ .object = n / 1000 + 1, .block = n % 1000 };
}

/* Block length of key n: most are whole, some are an object's short tail. */
static uint32_t
blen(uint32_t n)
{
	return n % 7 == 3 ? 1 + (n * 2654435761u) % CACHE_BLOCK : CACHE_BLOCK;
}

/* The block's content: a header naming the key, then a key-derived byte. */
static void content(uint32_t n, uint8_t *dst, uint32_t len)
{
	uint8_t hdr[8];

	memcpy(hdr, &n, 4);
	memcpy(hdr + 4, &len, 4);
	memset(dst, (int)(n * 31 + 7), len);
	memcpy(dst, hdr, len < 8 ? len : 8);
}

static void expected(uint32_t n, uint8_t out[16])
{
	static uint8_t tmp[CACHE_BLOCK];

	content(n, tmp, blen(n));
	hash_xxh128(tmp, blen(n), out);
}

static enum cache_status get(struct cache *c, uint32_t n, uint64_t cookie, uint8_t **data,
			     uint32_t *slot)
{
	uint8_t x[16];

	expected(n, x);
	return cache_get(c, K(n), x, blen(n), cookie, data, slot);
}

/* n more gets of block key while its fill is out: each waits, with the
 * cookies first, first + 1, ... */
static void add_waiters(struct cache *c, uint32_t key, uint64_t first, int n)
{
	uint8_t *x;
	uint32_t sx;

	for (int k = 0; k < n; k++) {
		cr_assert_eq(get(c, key, first + (uint64_t)k, &x, &sx), CACHE_WAIT,
			     "waiter %d of block %u", k, key);
		cr_assert_null(x, "a waiter gets no data yet");
	}
}

/* Ends the fill of slot s with read result res: cache_fill_done() must
 * return want_rc and hand back want_nw waiters' cookies (cap of them fit). */
static void fill_done(struct cache *c, uint32_t s, int64_t res, uint64_t *cookies, size_t cap,
		      int want_rc, size_t want_nw)
{
	size_t nw = 99;

	cr_assert_eq(cache_fill_done(c, s, res, cookies, cap, &nw), want_rc, "fill of slot %u", s);
	cr_assert_eq(nw, want_nw);
}

/* A get of block key (cookie) that must fill it, into *out_d at slot
 * *out_s, then n waiters behind it (add_waiters). */
static void fill_with_waiters(struct cache *c, uint32_t key, uint64_t cookie, uint64_t first, int n,
			      uint8_t **out_d, uint32_t *out_s)
{
	cr_assert_eq(get(c, key, cookie, out_d, out_s), CACHE_FILL);
	add_waiters(c, key, first, n);
}

static void check_content(uint32_t n, const uint8_t *data)
{
	static uint8_t want[CACHE_BLOCK];

	content(n, want, blen(n));
	cr_assert(memcmp(data, want, blen(n)) == 0, "content of key %u", n);
}

/* A good read of key n into a slot the cache handed out. */
static int fill_ok(struct cache *c, uint32_t n, uint8_t *data, uint32_t slot)
{
	size_t nw = 0;

	content(n, data, blen(n));
	return cache_fill_done(c, slot, blen(n), NULL, 0, &nw);
}

/* A get of block key that must be refused for now (CACHE_BUSY), with no
 * data; why, when not NULL, says why it must. */
static void expect_busy(struct cache *c, uint32_t key, uint64_t cookie, const char *why)
{
	uint8_t *x;
	uint32_t sx;

	cr_assert_eq(get(c, key, cookie, &x, &sx), CACHE_BUSY, "block %u: %s", key,
		     why ? why : "busy expected");
	cr_assert_null(x, "a refused get gives no data");
}

/* Brings key n into the cache (or hits it) and lets go of it. */
static enum cache_status touch(struct cache *c, uint32_t n)
{
	uint8_t *d;
	uint32_t s;
	enum cache_status st = get(c, n, 0, &d, &s);

	if (st == CACHE_FILL)
		cr_assert_eq(fill_ok(c, n, d, s), 1, "fill of %u", n);
	if (st == CACHE_HIT)
		check_content(n, d);
	if (st == CACHE_HIT || st == CACHE_FILL)
		cache_unpin(c, d);
	return st;
}

/* ---- fills and hits --------------------------------------------------- */

Test(cache, hit_after_fill)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint32_t lens[] = { 1, 3, 10, 11 }; /* whole blocks and short tails */

	for (size_t k = 0; k < 4; k++) {
		uint32_t n = lens[k];
		uint8_t *d, *d2;
		uint32_t s, s2;

		cr_assert_eq(get(c, n, 0, &d, &s), CACHE_FILL);
		cr_assert_eq((uintptr_t)d % 4096, 0, "O_DIRECT alignment");
		cr_assert_eq(fill_ok(c, n, d, s), 1);
		cr_assert_eq(get(c, n, 0, &d2, &s2), CACHE_HIT);
		cr_assert_eq(d2, d);
		cr_assert_eq(s2, s);
		check_content(n, d2);
		cache_unpin(c, d);
		cache_unpin(c, d2 + 100); /* any byte of the block names it */
	}
	const struct cache_counters *ct = cache_counters(c);

	cr_assert_eq(ct->misses, 4);
	cr_assert_eq(ct->hits, 4);
	cr_assert_eq(ct->fills, 4);
	cr_assert_eq(ct->bytes_filled, (uint64_t)blen(1) + blen(3) + blen(10) + blen(11));
	cr_assert_lt(blen(3), CACHE_BLOCK);
	cr_assert_lt(blen(10), CACHE_BLOCK);
	cr_assert_eq(ct->evictions + ct->waits + ct->busy + ct->verify_failures, 0);
	cache_destroy(c);
}

/* Pins the first `count` keys from `first` up, each a fresh fill. */
/* A read-ahead's claim: it starts a fill only for a block that is neither
 * cached nor being read, queues nothing, pins nothing when it does not, and
 * a peer's get of a claimed block waits for the claimed read. */
Test(cache, claim_starts_a_fill_only_for_an_absent_block)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t x[16], *d, *dw;
	uint32_t s, sw;
	uint64_t cookies[4];

	expected(5, x);
	cr_assert_eq(cache_claim(c, K(5), x, blen(5), &d, &s), CACHE_FILL);
	cr_assert_not_null(d);
	cr_assert_eq(cache_claim(c, K(5), x, blen(5), &dw, &sw), CACHE_HIT, "being read");
	cr_assert_null(dw, "nothing handed out");
	add_waiters(c, 5, 40, 1);
	content(5, d, blen(5));
	fill_done(c, s, blen(5), cookies, 4, 1, 1);
	cr_assert_eq(cookies[0], 40, "the peer's get got the claimed read");
	cache_unpin(c, d); /* the waiter's pin; the claimer's goes too */
	cache_unpin(c, d);
	cr_assert_eq(cache_claim(c, K(5), x, blen(5), &dw, &sw), CACHE_HIT, "cached");
	cr_assert_eq(cache_counters(c)->claims, 1);
	cr_assert_eq(cache_counters(c)->misses, 0, "a claim is not a peer's miss");
	/* the claim left no pin behind: SLOTS fresh fills all get a slot
	 * (block 5's among them), and with every slot pinned a claim is
	 * refused, not queued */
	for (uint32_t n = 300; n < 300 + SLOTS; n++) {
		enum cache_status st = get(c, n, 0, &d, &s);
		cr_assert_eq(st, CACHE_FILL, "block %u: %d", n, st);
	}
	expected(999, x);
	cr_assert_eq(cache_claim(c, K(999), x, blen(999), &dw, &sw), CACHE_BUSY);
	cache_destroy(c);
}

static void pin_fresh(struct cache *c, uint32_t first, uint32_t count)
{
	for (uint32_t n = first; n < first + count; n++) {
		uint8_t *d;
		uint32_t s;

		cr_assert_eq(get(c, n, 0, &d, &s), CACHE_FILL, "key %u", n);
		cr_assert_eq(fill_ok(c, n, d, s), 1);
	}
}

/* A prefetch hint is only a hint: present or absent keys, nothing moves. */
Test(cache, prefetch_changes_nothing)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d, *d2;
	uint32_t s, s2;

	cache_prefetch(c, K(1)); /* absent */
	cr_assert_eq(cache_counters(c)->misses + cache_counters(c)->hits, 0);
	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_FILL);
	cr_assert_eq(fill_ok(c, 1, d, s), 1);
	cache_prefetch(c, K(1)); /* present */
	cache_prefetch(c, K(2));
	cr_assert_eq(get(c, 1, 0, &d2, &s2), CACHE_HIT);
	cr_assert_eq(d2, d);
	cr_assert_eq(cache_counters(c)->misses, 1);
	cr_assert_eq(cache_counters(c)->hits, 1);
	cache_unpin(c, d);
	cache_unpin(c, d2);
	cache_destroy(c);
}

Test(cache, one_fill_for_many_waiters)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d, *dw;
	uint32_t s, sw;

	fill_with_waiters(c, 1, 100, 1001, 10, &d, &s);
	cr_assert_eq(cache_counters(c)->waits, 10);
	cr_assert_eq(cache_counters(c)->misses, 1);

	uint64_t cookies[16];

	content(1, d, blen(1));
	fill_done(c, s, blen(1), cookies, 16, 1, 10);
	for (size_t k = 0; k < 10; k++)
		cr_assert_eq(cookies[k], 1001 + k, "cookies in arrival order");

	/* 11 pins now: filler + 10 waiters. With the other 63 slots pinned,
	 * the block stays until its last pin goes. */
	pin_fresh(c, 2, SLOTS - 1);
	for (int k = 0; k < 10; k++)
		cache_unpin(c, d);
	expect_busy(c, 500, 0, "one pin left");
	cache_unpin(c, d);
	cr_assert_eq(get(c, 500, 0, &dw, &sw), CACHE_FILL);
	cr_assert_eq(dw, d, "the unpinned block's slot was the victim");
	cache_destroy(c);
}

Test(cache, verify_failure_drops_block_and_tells_waiters)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d, *dw;
	uint32_t s, sw;
	uint64_t cookies[4];

	fill_with_waiters(c, 7, 1, 2, 2, &d, &s);
	content(7, d, blen(7));
	d[blen(7) - 1] ^= 1; /* one bit flipped on the medium */
	fill_done(c, s, blen(7), cookies, 4, 0, 2);
	cr_assert_eq(cookies[0], 2);
	cr_assert_eq(cookies[1], 3);
	cr_assert_eq(cache_counters(c)->verify_failures, 1);
	cr_assert_eq(cache_counters(c)->fills, 0);
	cr_assert_eq(cache_counters(c)->bytes_filled, 0);

	/* Never served: the next request reads the block again. */
	cr_assert_eq(get(c, 7, 4, &dw, &sw), CACHE_FILL);
	cr_assert_eq(fill_ok(c, 7, dw, sw), 1);
	cache_unpin(c, dw);
	cr_assert_eq(touch(c, 7), CACHE_HIT);
	cr_assert_eq(cache_counters(c)->misses, 2);
	cr_assert_eq(cache_counters(c)->verify_failures, 1);
	cache_destroy(c);
}

/* The repair path: a bad block is found by cache_fill_check, which leaves
 * the fill open and counts nothing; the bytes rewritten, checked again and
 * completed, the waiters get the good block. */
Test(cache, fill_check_leaves_the_fill_open_for_a_repair)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d;
	uint32_t s;
	uint64_t cookies[4];

	fill_with_waiters(c, 9, 1, 2, 2, &d, &s);
	content(9, d, blen(9));
	d[0] ^= 0x10;
	cr_assert_eq(cache_fill_check(c, s, blen(9)), 0, "a bad block checked whole");
	cr_assert_eq(cache_fill_check(c, s, blen(9) - 1), 0, "a short read checked whole");
	cr_assert_eq(cache_counters(c)->verify_failures, 0, "a check counts nothing");
	cr_assert_eq(touch(c, 9), CACHE_WAIT, "the fill is still open after the checks");
	content(9, d, blen(9)); /* the repair */
	cr_assert_eq(cache_fill_check(c, s, blen(9)), 1);
	fill_done(c, s, blen(9), cookies, 4, 1, 3);
	cr_assert_eq(cache_counters(c)->fills, 1);
	cr_assert_eq(cache_counters(c)->verify_failures, 0);
	cr_assert_eq(cache_fill_check(c, s, blen(9)), 0, "a valid slot is not filling");

	/* a check that failed does not spare cache_fill_done its own hash */
	uint8_t *d2;
	uint32_t s2;
	cr_assert_eq(get(c, 11, 20, &d2, &s2), CACHE_FILL);
	content(11, d2, blen(11));
	d2[1] ^= 1;
	cr_assert_eq(cache_fill_check(c, s2, blen(11)), 0);
	fill_done(c, s2, blen(11), cookies, 4, 0, 0);
	cr_assert_eq(cache_counters(c)->verify_failures, 1);
	cache_destroy(c);
}

Test(cache, short_long_and_failed_reads_drop_without_verify_count)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	int64_t bad[] = { CACHE_BLOCK - 1, 0, -EIO, -ECANCELED, 4096 };
	uint8_t *d, *dw;
	uint32_t s, sw;
	uint64_t cookie;
	size_t nw;

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_FILL);
		cr_assert_eq(get(c, 1, 42, &dw, &sw), CACHE_WAIT);
		content(1, d, blen(1)); /* the data is right, the length not */
		cr_assert_eq(cache_fill_done(c, s, bad[k], &cookie, 1, &nw), 0, "read_len %lld",
			     (long long)bad[k]);
		cr_assert_eq(nw, 1);
		cr_assert_eq(cookie, 42);
	}
	/* A tail block read longer than its length is also refused. */
	cr_assert_lt(blen(3), CACHE_BLOCK);
	cr_assert_eq(get(c, 3, 0, &d, &s), CACHE_FILL);
	content(3, d, blen(3));
	cr_assert_eq(cache_fill_done(c, s, blen(3) + 1, NULL, 0, &nw), 0);

	const struct cache_counters *ct = cache_counters(c);

	cr_assert_eq(ct->verify_failures, 0);
	cr_assert_eq(ct->fills, 0);
	cr_assert_eq(ct->misses, 6);
	cr_assert_eq(ct->waits, 5);
	/* Failed fills gave their slots back: 64 fresh fills fit, no eviction. */
	pin_fresh(c, 100, SLOTS);
	cr_assert_eq(ct->evictions, 0);
	cache_destroy(c);
}

/* ---- pins ------------------------------------------------------------- */

Test(cache, pins_prevent_eviction_and_all_pinned_is_busy)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d;
	uint32_t s;

	pin_fresh(c, 0, SLOTS);
	expect_busy(c, 1000, 0, NULL);
	expect_busy(c, 1001, 0, NULL);
	cr_assert_eq(cache_counters(c)->busy, 2);
	cr_assert_eq(cache_counters(c)->evictions, 0);
	/* Pinned blocks still hit. */
	for (uint32_t n = 0; n < SLOTS; n++) {
		cr_assert_eq(get(c, n, 0, &d, &s), CACHE_HIT);
		check_content(n, d);
	}
	cache_destroy(c);
}

Test(cache, filling_slots_count_as_pinned)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d[SLOTS], *x;
	uint32_t s[SLOTS], sx;

	for (uint32_t n = 0; n < SLOTS; n++)
		cr_assert_eq(get(c, n, 0, &d[n], &s[n]), CACHE_FILL);
	expect_busy(c, 999, 0, NULL);
	cr_assert_eq(fill_ok(c, 5, d[5], s[5]), 1);
	expect_busy(c, 999, 0, "5 is pinned");
	cache_unpin(c, d[5]);
	cr_assert_eq(get(c, 999, 0, &x, &sx), CACHE_FILL);
	cr_assert_eq(x, d[5]);
	cache_destroy(c);
}

Test(cache, unpin_makes_slots_evictable)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d[SLOTS], *x;
	uint32_t s[SLOTS], sx;

	for (uint32_t n = 0; n < SLOTS; n++) {
		cr_assert_eq(get(c, n, 0, &d[n], &s[n]), CACHE_FILL);
		cr_assert_eq(fill_ok(c, n, d[n], s[n]), 1);
	}
	expect_busy(c, 1000, 0, NULL);
	/* Unpin one in the middle of small, then one more: each frees exactly
	 * the slot that was let go. */
	cache_unpin(c, d[40]);
	cr_assert_eq(get(c, 1000, 0, &x, &sx), CACHE_FILL);
	cr_assert_eq(x, d[40]);
	cr_assert_eq(fill_ok(c, 1000, x, sx), 1);
	expect_busy(c, 1001, 0, NULL);
	cache_unpin(c, d[3]);
	cr_assert_eq(get(c, 1001, 0, &x, &sx), CACHE_FILL);
	cr_assert_eq(x, d[3]);
	cr_assert_eq(cache_counters(c)->evictions, 2);
	cache_destroy(c);
}

/* ---- the waiter pool ------------------------------------------------- */

/* A cache whose pool holds three waiters, shared by every key. */
static struct cache *c3;

static void waiters_init(void)
{
	c3 = new_cache(SLOTS, 3, 0);
}

static void waiters_fini(void)
{
	cache_destroy(c3);
}

TestSuite(cache_waiters, .init = waiters_init, .fini = waiters_fini);

Test(cache_waiters, pool_bound_gives_busy)
{
	uint8_t *d;
	uint32_t s;
	uint64_t cookies[3];

	fill_with_waiters(c3, 1, 0, 10, 3, &d, &s);
	expect_busy(c3, 1, 13, NULL);
	cr_assert_eq(cache_counters(c3)->busy, 1);
	content(1, d, blen(1));
	fill_done(c3, s, blen(1), cookies, 3, 1, 3);
	/* The pool is free again: another key can queue three. */
	fill_with_waiters(c3, 2, 0, 20, 3, &d, &s);
	cr_assert_eq(cache_counters(c3)->busy, 1);
}

Test(cache_waiters, pool_is_reused)
{
	uint8_t *d;
	uint32_t s;
	uint64_t cookies[3];

	for (uint32_t round = 0; round < 100; round++) {
		uint32_t n = round % 5;

		if (get(c3, n, 0, &d, &s) == CACHE_HIT) {
			cache_unpin(c3, d);
			continue;
		}
		add_waiters(c3, n, 0, 3);
		content(n, d, blen(n));
		int good = (int)(round % 2);
		fill_done(c3, s, good ? (int64_t)blen(n) : -EIO, cookies, 3, good, 3);
		for (int k = 0; k < (good ? 4 : 0); k++)
			cache_unpin(c3, d);
	}
	cr_assert_eq(cache_counters(c3)->busy, 0);
}

/* ---- S3-FIFO ----------------------------------------------------------- */

/* Hits a plain FIFO of `cap` entries would score on a trace. */
static unsigned fifo_hits(const uint32_t *trace, size_t len, size_t cap)
{
	uint32_t *q = calloc(cap, sizeof(*q));
	size_t head = 0, count = 0;
	unsigned hits = 0;

	for (size_t t = 0; t < len; t++) {
		bool found = false;

		for (size_t k = 0; k < count; k++)
			found |= q[(head + k) % cap] == trace[t];
		if (found) {
			hits++;
			continue;
		}
		if (count == cap) {
			head = (head + 1) % cap;
			count--;
		}
		q[(head + count++) % cap] = trace[t];
	}
	free(q);
	return hits;
}

/*
 * A hot set of 50 keys, each read twice, then a scan of 2000 cold keys read
 * once, then the hot set again. By hand: the hot keys sit in small with
 * frequency 1; 14 cold keys take the free slots; the 15th needs a victim and
 * small (64 >= 6) gives it: the 50 hot keys move to main, cold #0 goes to
 * the ghost. From then on every cold key evicts the oldest cold key from
 * small, main is never touched, and all 50 hot keys hit at the end. A plain
 * FIFO of 64 has pushed every hot key out after 64 cold ones: 0 hits.
 */
Test(cache_s3fifo, scan_does_not_flush_the_hot_set)
{
	enum { HOT = 50, COLD = 2000 };
	static uint32_t trace[3 * HOT + COLD];
	size_t t = 0;

	for (uint32_t n = 0; n < HOT; n++)
		trace[t++] = n;
	for (uint32_t n = 0; n < HOT; n++)
		trace[t++] = n;
	for (uint32_t n = 0; n < COLD; n++)
		trace[t++] = 10000 + n;
	size_t check = t;

	for (uint32_t n = 0; n < HOT; n++)
		trace[t++] = n;

	struct cache *c = new_cache(SLOTS, 0, 0);
	unsigned hits_at_end = 0;

	for (size_t k = 0; k < t; k++) {
		enum cache_status st = touch(c, trace[k]);

		cr_assert(st == CACHE_HIT || st == CACHE_FILL);
		if (k >= check)
			hits_at_end += st == CACHE_HIT;
	}
	cr_assert_eq(hits_at_end, HOT, "S3-FIFO kept the hot set");
	cr_assert_eq(fifo_hits(trace, t, SLOTS) - fifo_hits(trace, check, SLOTS), 0,
		     "a plain FIFO lost the hot set");

	const struct cache_counters *ct = cache_counters(c);

	cr_assert_eq(ct->hits, 2 * HOT);
	cr_assert_eq(ct->misses, HOT + COLD);
	cr_assert_eq(ct->evictions, COLD - (SLOTS - HOT));
	/* Small holds the last 14 cold keys; the one before them is gone. */
	cr_assert_eq(touch(c, 10000 + COLD - 1), CACHE_HIT);
	cr_assert_eq(touch(c, 10000 + COLD - (SLOTS - HOT)), CACHE_HIT);
	cr_assert_eq(touch(c, 10000 + COLD - (SLOTS - HOT) - 1), CACHE_FILL);
	cache_destroy(c);
}

/* Loads keys [first, first + count) once each. */
static void scan(struct cache *c, uint32_t first, uint32_t count)
{
	for (uint32_t n = first; n < first + count; n++)
		cr_assert_eq(touch(c, n), CACHE_FILL, "scan key %u", n);
}

/*
 * A (read once) fills small with 63 others; one more key evicts A to the
 * ghost. A asked again is a ghost hit and enters main; B, new at the same
 * moment, enters small. A scan of 500 keys only ever evicts from small
 * (it stays >= 6): A survives, B does not.
 */
Test(cache_s3fifo, ghost_hit_enters_main)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	const uint32_t A = 1, B = 2;

	cr_assert_eq(touch(c, A), CACHE_FILL);
	scan(c, 100, SLOTS - 1);
	scan(c, 200, 1); /* A, the oldest, is evicted */
	cr_assert_eq(cache_counters(c)->evictions, 1);
	cr_assert_eq(touch(c, A), CACHE_FILL, "A was evicted");
	cr_assert_eq(touch(c, B), CACHE_FILL);
	scan(c, 1000, 500);
	cr_assert_eq(touch(c, A), CACHE_HIT, "A came back through the ghost");
	cr_assert_eq(touch(c, B), CACHE_FILL, "B went through small");
	cache_destroy(c);
}

/*
 * The ghost remembers 58 keys. A evicted, then 60 more keys evicted from
 * small: A is no longer a ghost, so asked again it goes to small and the
 * next scan takes it.
 */
Test(cache_s3fifo, ghost_is_bounded)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	const uint32_t A = 1;

	cr_assert_eq(touch(c, A), CACHE_FILL);
	scan(c, 100, SLOTS - 1);
	scan(c, 200, 1 + GHOST_CAP + 2);
	cr_assert_eq(touch(c, A), CACHE_FILL);
	scan(c, 1000, 100);
	cr_assert_eq(touch(c, A), CACHE_FILL, "A was treated as new");
	cache_destroy(c);
}

/*
 * Main is a 2-bit CLOCK. K0..K63 fill small; K64..K127 evict them all to
 * the ghost (which keeps the last 58: K6..K63). Asking K6..K63 again puts
 * them in main (58), each evicting from small (K64..K121 to the ghost), so
 * small is down to K122..K127 = 6. K6..K10 are read twice more (count 2),
 * K11..K15 once (count 1).
 * K64 (a ghost) evicts K122 from small, leaving 5 < 6 there, so from now on
 * main gives the victims. K65: K6..K15 go round (counts 1 and 0), K16 is
 * evicted. K66..K113 (ghosts, into main) evict K17..K64 in order. K114
 * meets K6..K10 (count 1 -> 0, round again) and evicts K11. A main that
 * cleared counts at once would have evicted K6; a plain FIFO main, K6 at
 * the first main eviction.
 */
Test(cache_s3fifo, main_is_clock_with_frequency)
{
	struct cache *c = new_cache(SLOTS, 0, 0);

	scan(c, 0, 128);
	scan(c, 6, GHOST_CAP); /* ghost hits, into main */
	for (uint32_t n = 6; n < 16; n++)
		for (int k = 0; k < (n <= 10 ? 2 : 1); k++)
			cr_assert_eq(touch(c, n), CACHE_HIT);
	scan(c, 64, 2);
	scan(c, 66, 48);
	scan(c, 114, 1);
	cr_assert_eq(cache_counters(c)->evictions, 64 + 58 + 2 + 48 + 1);

	cr_assert_eq(touch(c, 6), CACHE_HIT, "count 2 survived two turns");
	cr_assert_eq(touch(c, 10), CACHE_HIT);
	cr_assert_eq(touch(c, 12), CACHE_HIT, "count 1 survived one turn");
	cr_assert_eq(touch(c, 113), CACHE_HIT);
	cr_assert_eq(touch(c, 16), CACHE_FILL, "main's first victim");
	cr_assert_eq(touch(c, 64), CACHE_FILL, "evicted by K113");
	cr_assert_eq(touch(c, 11), CACHE_FILL, "evicted by K114");
	cache_destroy(c);
}

/* ---- random operations against a reference model ---------------------- */

/*
 * The model keeps S3-FIFO in plain arrays with linear searches: no hash
 * table, no rings. The cache must agree on every status, on which slot a
 * key lives in (a fill reuses exactly the model's victim's slot), on every
 * cookie list and on the counters.
 */
enum { M_ABSENT, M_FILLING, M_VALID };
enum { QS, QM };

struct mkey {
	int state, freq, queue;
	uint32_t pins;
	uint8_t *data;
	uint64_t ghost_ticket; /* 0: not a ghost */
	uint64_t waiters[256];
	size_t n_waiters;
};

/* A FIFO as an array slice: pop at start, push at end, compact when full. */
struct mlist {
	uint32_t *v;
	size_t start, end, cap;
};

struct model {
	uint32_t n, small_share, g_cap;
	size_t max_waiters, waiters_out;
	struct mkey *keys;
	struct mlist small, main;
	uint32_t *g_key;
	uint64_t *g_ticket, next_ticket;
	size_t n_ghost;
	uint32_t used, pinned;
	struct cache_counters ctr;
};

static uint32_t list_pop(struct mlist *l)
{
	return l->v[l->start++];
}

static void list_push(struct mlist *l, uint32_t x)
{
	if (l->end == l->cap) {
		memmove(l->v, l->v + l->start, (l->end - l->start) * sizeof(*l->v));
		l->end -= l->start;
		l->start = 0;
	}
	l->v[l->end++] = x;
}

static size_t list_len(const struct mlist *l)
{
	return l->end - l->start;
}

static void m_ghost_add(struct model *m, uint32_t k)
{
	if (m->n_ghost == m->g_cap) {
		uint32_t old = m->g_key[0];
		uint64_t t = m->g_ticket[0];

		if (m->keys[old].ghost_ticket == t)
			m->keys[old].ghost_ticket = 0;
		memmove(m->g_key, m->g_key + 1, (m->n_ghost - 1) * sizeof(uint32_t));
		memmove(m->g_ticket, m->g_ticket + 1, (m->n_ghost - 1) * sizeof(uint64_t));
		m->n_ghost--;
	}
	m->g_key[m->n_ghost] = k;
	m->g_ticket[m->n_ghost++] = ++m->next_ticket;
	m->keys[k].ghost_ticket = m->next_ticket;
}

/*
 * One pass of the model over queue q, a key at a time from its head: a key
 * neither read nor pinned is the victim (from small, it becomes a ghost);
 * a read key in small moves to main with its count cleared; any other key
 * goes round, a read one in main losing one count. Small gets one turn,
 * main four (enough to take any unpinned key's count to zero).
 */
static int64_t m_pass(struct model *m, int q)
{
	struct mlist *l = q == QS ? &m->small : &m->main;

	for (size_t turns = (q == QS ? 1 : 4) * list_len(l); turns > 0; turns--) {
		uint32_t k = list_pop(l);
		struct mkey *e = &m->keys[k];

		if (e->freq == 0 && e->pins == 0) {
			if (q == QS)
				m_ghost_add(m, k);
			return k;
		}
		if (q == QS && e->freq > 0) {
			e->freq = 0;
			e->queue = QM;
			list_push(&m->main, k);
			continue;
		}
		if (e->freq > 0)
			e->freq--;
		list_push(l, k);
	}
	return -1;
}

/*
 * Small is tried first while it holds its share (or main is empty), then
 * main; otherwise main, small, and main again (a small pass that only
 * promoted leaves unread keys at main's tail).
 */
static int64_t m_evict(struct model *m)
{
	static const int small_first[] = { QS, QM, -1 }, main_first[] = { QM, QS, QM };
	int from_small = list_len(&m->small) >= m->small_share || list_len(&m->main) == 0;
	const int *order = from_small ? small_first : main_first;
	int64_t v = -1;

	for (size_t i = 0; i < 3 && order[i] >= 0 && v < 0; i++)
		v = m_pass(m, order[i]);
	return v;
}

static void m_pin(struct model *m, struct mkey *e, uint32_t k)
{
	if (e->pins == 0 && k > 0)
		m->pinned++;
	e->pins += k;
}

/* The model's get; *victim_data is the evicted key's slot (or NULL). */
static enum cache_status m_get(struct model *m, uint32_t k, uint64_t cookie, uint8_t **victim_data)
{
	struct mkey *e = &m->keys[k];
	int64_t victim;

	*victim_data = NULL;
	if (e->state == M_VALID) {
		e->freq += e->freq < 3;
		m_pin(m, e, 1);
		m->ctr.hits++;
		return CACHE_HIT;
	}
	if (e->state == M_FILLING) {
		if (m->waiters_out == m->max_waiters) {
			m->ctr.busy++;
			return CACHE_BUSY;
		}
		cr_assert_lt(e->n_waiters, 256);
		e->waiters[e->n_waiters++] = cookie;
		m->waiters_out++;
		e->freq += e->freq < 3;
		m->ctr.waits++;
		return CACHE_WAIT;
	}
	int to_main = e->ghost_ticket != 0;

	if (m->used == m->n) {
		if (m->pinned == m->n) {
			m->ctr.busy++;
			return CACHE_BUSY;
		}
		victim = m_evict(m);
		cr_assert_geq(victim, 0, "model found no victim");
		*victim_data = m->keys[victim].data;
		m->keys[victim].state = M_ABSENT;
		m->keys[victim].data = NULL;
		m->ctr.evictions++;
		m->used--;
	}
	e->ghost_ticket = 0;
	e->state = M_FILLING;
	e->freq = 0;
	e->queue = to_main ? QM : QS;
	e->pins = 0;
	m_pin(m, e, 1);
	m->used++;
	m->ctr.misses++;
	return CACHE_FILL;
}

struct pending {
	uint32_t key, slot;
	uint8_t *data;
};

struct held {
	uint32_t key;
	uint8_t *data;
};

static uint64_t rng = 0x1234567;

static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void model_run(uint32_t slots, uint32_t n_keys, uint32_t hot, size_t max_waiters,
		      unsigned ops)
{
	struct cache *c = new_cache(slots, max_waiters, 0);
	struct model m = {
		.n = slots,
		.small_share = slots / 10,
		.g_cap = slots - slots / 10,
		.max_waiters = max_waiters,
	};
	uint8_t(*xxh)[16] = malloc((size_t)n_keys * 16);
	struct pending *pend = calloc(slots, sizeof(*pend));
	size_t n_pend = 0, n_held = 0;
	size_t max_held = 4 * (size_t)slots + max_waiters + 1024;
	struct held *held = calloc(max_held, sizeof(*held));
	uint8_t *base = cache_memory(c, NULL);
	uint64_t cookie = 0, cookies[256];
	int64_t *owner = malloc(slots * sizeof(*owner)); /* slot -> key */

	m.keys = calloc(n_keys, sizeof(*m.keys));
	m.small.cap = m.main.cap = 8 * (size_t)slots;
	m.small.v = calloc(m.small.cap, sizeof(uint32_t));
	m.main.v = calloc(m.main.cap, sizeof(uint32_t));
	m.g_key = calloc(m.g_cap, sizeof(uint32_t));
	m.g_ticket = calloc(m.g_cap, sizeof(uint64_t));
	cr_assert(owner && xxh && pend && held && m.keys && m.small.v && m.main.v && m.g_key &&
		  m.g_ticket);
	for (uint32_t k = 0; k < n_keys; k++)
		expected(k, xxh[k]);
	for (uint32_t s = 0; s < slots; s++)
		owner[s] = -1;

	for (unsigned op = 0; op < ops; op++) {
		unsigned r = rnd() % 100;

		/* Pins bounded, loosely in odd phases: all-pinned happens. */
		size_t pin_bound = (op / 5000) % 2 ? 3 * (size_t)slots : slots / 2;

		if (n_held > pin_bound && r < 50)
			r = 99;
		if (r < 50 || (n_pend == 0 && n_held == 0)) {
			uint32_t k = rnd() % 2 ? rnd() % hot : rnd() % n_keys;
			uint8_t *d;
			uint32_t s;
			uint8_t *victim_data;
			enum cache_status want = m_get(&m, k, ++cookie, &victim_data);
			enum cache_status st = cache_get(c, K(k), xxh[k], blen(k), cookie, &d, &s);

			cr_assert_eq(st, want, "op %u key %u: %d, model %d", op, k, st, want);
			if (st == CACHE_HIT) {
				cr_assert_eq(d, m.keys[k].data, "op %u key %u", op, k);
				check_content(k, d);
			}
			if (st == CACHE_FILL) {
				cr_assert_eq(d, base + (size_t)s * CACHE_BLOCK);
				/* The slot is the victim's, or one nobody holds. */
				if (victim_data) {
					cr_assert_eq(d, victim_data, "op %u", op);
					owner[s] = -1;
				}
				cr_assert_eq(owner[s], -1, "op %u: slot of key %lld reused", op,
					     (long long)owner[s]);
				owner[s] = k;
				m.keys[k].data = d;
				pend[n_pend++] = (struct pending){ k, s, d };
			}
			if (st == CACHE_HIT || st == CACHE_FILL)
				held[n_held++] = (struct held){ k, d };
		} else if (r < 75 && n_pend > 0) {
			size_t i = rnd() % n_pend;
			struct pending p = pend[i];
			struct mkey *e = &m.keys[p.key];
			unsigned how = rnd() % 20;
			int64_t rl = blen(p.key);

			pend[i] = pend[--n_pend];
			content(p.key, p.data, blen(p.key));
			if (how == 0)
				p.data[rnd() % blen(p.key)] ^= 0x40;
			else if (how == 1)
				rl = -EIO;
			else if (how == 2)
				rl -= 1;
			size_t nw;
			int rc = cache_fill_done(c, p.slot, rl, cookies, 256, &nw);
			int good = how > 2;

			cr_assert_eq(rc, good, "op %u fill of %u", op, p.key);
			cr_assert_eq(nw, e->n_waiters);
			for (size_t w = 0; w < nw; w++)
				cr_assert_eq(cookies[w], e->waiters[w]);
			m.waiters_out -= e->n_waiters;
			if (good) {
				e->state = M_VALID;
				if (e->queue == QS)
					list_push(&m.small, p.key);
				else
					list_push(&m.main, p.key);
				m_pin(&m, e, (uint32_t)nw);
				for (size_t w = 0; w < nw; w++)
					held[n_held++] = (struct held){ p.key, p.data };
				m.ctr.fills++;
				m.ctr.bytes_filled += blen(p.key);
			} else {
				/* The filler's pin went with the slot. */
				for (size_t h = 0; h < n_held; h++) {
					if (held[h].data == p.data) {
						held[h] = held[--n_held];
						break;
					}
				}
				owner[p.slot] = -1;
				e->state = M_ABSENT;
				e->data = NULL;
				e->pins = 0;
				m.pinned--;
				m.used--;
				m.ctr.verify_failures += how == 0;
			}
			e->n_waiters = 0;
		} else if (n_held > 0) {
			size_t i = rnd() % n_held;
			struct held h = held[i];
			struct mkey *e = &m.keys[h.key];

			/* A filler's pin is released only after its fill. */
			if (e->state != M_VALID)
				continue;
			held[i] = held[--n_held];
			cache_unpin(c, h.data);
			cr_assert_gt(e->pins, 0);
			if (--e->pins == 0)
				m.pinned--;
		}
		cr_assert_leq(n_held, max_held);
	}

	const struct cache_counters *ct = cache_counters(c);

	cr_assert_eq(ct->hits, m.ctr.hits);
	cr_assert_eq(ct->misses, m.ctr.misses);
	cr_assert_eq(ct->waits, m.ctr.waits);
	cr_assert_eq(ct->busy, m.ctr.busy);
	cr_assert_eq(ct->fills, m.ctr.fills);
	cr_assert_eq(ct->evictions, m.ctr.evictions);
	cr_assert_eq(ct->verify_failures, m.ctr.verify_failures);
	cr_assert_eq(ct->bytes_filled, m.ctr.bytes_filled);
	cr_log_info("%u slots, %u ops: hits %llu misses %llu waits %llu busy %llu "
		    "evictions %llu verify_failures %llu",
		    slots, ops, (unsigned long long)ct->hits, (unsigned long long)ct->misses,
		    (unsigned long long)ct->waits, (unsigned long long)ct->busy,
		    (unsigned long long)ct->evictions, (unsigned long long)ct->verify_failures);
	/* Every op kind happened. */
	cr_assert_gt(ct->hits, ops / 20);
	cr_assert_gt(ct->evictions, ops / 20);
	cr_assert_gt(ct->waits, 0);
	cr_assert_gt(ct->busy, 0);
	cr_assert_gt(ct->verify_failures, 0);

	/* Nothing lost: every key the model holds is found where it was. */
	for (size_t i = 0; i < n_pend; i++) {
		size_t nw;

		content(pend[i].key, pend[i].data, blen(pend[i].key));
		cache_fill_done(c, pend[i].slot, blen(pend[i].key), cookies, 256, &nw);
		m.keys[pend[i].key].state = M_VALID;
	}
	for (uint32_t k = 0; k < n_keys; k++) {
		uint8_t *d;
		uint32_t s;

		if (m.keys[k].state != M_VALID)
			continue;
		cr_assert_eq(cache_get(c, K(k), xxh[k], blen(k), 0, &d, &s), CACHE_HIT,
			     "key %u lost", k);
		cr_assert_eq(d, m.keys[k].data);
		check_content(k, d);
	}
	cache_destroy(c);
	free(owner);
	free(xxh);
	free(pend);
	free(held);
	free(m.keys);
	free(m.small.v);
	free(m.main.v);
	free(m.g_key);
	free(m.g_ticket);
}

Test(cache_model, random_ops_small_cache, .timeout = 120)
{
	model_run(SLOTS, 400, 40, 16, 100000);
}

Test(cache_model, random_ops_larger_cache, .timeout = 120)
{
	model_run(1000, 6000, 600, 200, 100000);
}

/* ---- memory and configuration -------------------------------------------- */

static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void check_memory(struct cache *c, size_t slots)
{
	size_t len = 0;
	uint8_t *mem = cache_memory(c, &len);

	cr_assert_eq(len, slots * CACHE_BLOCK);
	cr_assert_eq((uintptr_t)mem % 4096, 0);
	memset(mem, 0xA5, len);
	for (size_t i = 0; i < len; i += 4096)
		cr_assert_eq(mem[i], 0xA5);
}

Test(cache_memory, hugepages_or_fallback)
{
	size_t slots = 200; /* 3.125 MiB: two 2 MiB pages */
	long before = hugepages_free();
	struct cache *c = new_cache(slots, 0, 1);

	check_memory(c, slots);
	if (cache_uses_hugepages(c))
		cr_assert_geq(before, 2, "hugepages used but %ld were free", before);
	if (before == 0)
		cr_assert_eq(cache_uses_hugepages(c), 0);
	cr_log_info("HugePages_Free %ld, cache uses hugepages: %d", before,
		    cache_uses_hugepages(c));
	cache_destroy(c);

	c = new_cache(slots, 0, 0);
	cr_assert_eq(cache_uses_hugepages(c), 0, "not asked for");
	check_memory(c, slots);
	cache_destroy(c);
}

Test(cache_memory, bytes_round_down_to_blocks)
{
	struct cache_config cfg = { .bytes = 70 * CACHE_BLOCK + 5000 };
	struct cache *c = NULL;

	cr_assert_eq(cache_create(&cfg, &c, NULL), 0);
	check_memory(c, 70);
	cache_destroy(c);
}

Test(cache_config, too_small_and_bad_values)
{
	struct {
		size_t bytes, max_waiters;
		const char *needle;
	} bad[] = {
		{ 0, 0, "at least 64" },
		{ 63 * CACHE_BLOCK + CACHE_BLOCK - 1, 0, "at least 64" },
		{ 64 * CACHE_BLOCK, (size_t)1 << 31, "max_waiters" },
		{ (size_t)1 << 50, 0, "more than" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cache_config cfg = { .bytes = bad[i].bytes,
					    .max_waiters = bad[i].max_waiters };
		struct cache *c = (struct cache *)(uintptr_t)1; /* must be cleared */
		struct seed_err err;

		seed_err_clear(&err);
		cr_assert_eq(cache_create(&cfg, &c, &err), -EINVAL, "case %zu", i);
		cr_assert_null(c);
		cr_assert_eq(err.code, -EINVAL);
		cr_assert_not_null(strstr(err.msg, bad[i].needle), "case %zu: %s", i, err.msg);
	}
	struct seed_err err;
	struct cache *c = NULL;

	seed_err_clear(&err);
	cr_assert_eq(cache_create(NULL, &c, &err), -EINVAL);
	cr_assert_neq(err.msg[0], 0);
	cr_assert_eq(cache_create(NULL, &c, NULL), -EINVAL); /* no report */
}

/* ---- contract violations ----------------------------------------------- */

#ifndef NDEBUG
/* Debug builds stop at a caller's bug. */
Test(cache_bugs, unpin_of_unpinned_block_aborts, .signal = SIGABRT)
{
	struct cache *c = new_cache(SLOTS, 0, 0);

	cr_assert_eq(touch(c, 1), CACHE_FILL);
	uint8_t *d;
	uint32_t s;

	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_HIT);
	cache_unpin(c, d);
	cache_unpin(c, d);
}

Test(cache_bugs, unpin_of_foreign_pointer_aborts, .signal = SIGABRT)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	size_t len;
	uint8_t *mem = cache_memory(c, &len);

	cache_unpin(c, mem + len);
}

Test(cache_bugs, unpin_while_filling_aborts, .signal = SIGABRT)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d;
	uint32_t s;

	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_FILL);
	cache_unpin(c, d);
}

Test(cache_bugs, fill_done_twice_aborts, .signal = SIGABRT)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d;
	uint32_t s;
	size_t nw;

	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_FILL);
	cr_assert_eq(fill_ok(c, 1, d, s), 1);
	cache_fill_done(c, s, blen(1), NULL, 0, &nw);
}

Test(cache_bugs, fill_done_with_too_small_cap_aborts, .signal = SIGABRT)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	uint8_t *d, *x;
	uint32_t s, sx;
	uint64_t one;
	size_t nw;

	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_FILL);
	cr_assert_eq(get(c, 1, 5, &x, &sx), CACHE_WAIT);
	cr_assert_eq(get(c, 1, 6, &x, &sx), CACHE_WAIT);
	content(1, d, blen(1));
	cache_fill_done(c, s, blen(1), &one, 1, &nw);
}
#else
/* Release builds ignore a caller's bug and keep their state intact. */
Test(cache_bugs, bad_unpins_and_fill_dones_change_nothing)
{
	struct cache *c = new_cache(SLOTS, 0, 0);
	size_t len, nw;
	uint8_t *mem = cache_memory(c, &len), *d;
	uint32_t s;

	cr_assert_eq(touch(c, 1), CACHE_FILL);
	cr_assert_eq(get(c, 1, 0, &d, &s), CACHE_HIT);
	cache_unpin(c, d);
	cache_unpin(c, d);	   /* one too many */
	cache_unpin(c, mem + len); /* outside */
	cache_unpin(c, mem - 1);
	cr_assert_eq(cache_fill_done(c, s, blen(1), NULL, 0, &nw), -EINVAL);
	cr_assert_eq(cache_fill_done(c, SLOTS, 0, NULL, 0, &nw), -EINVAL);
	cr_assert_eq(touch(c, 1), CACHE_HIT);
	/* All 64 slots can still be pinned and the 65th key is refused. */
	pin_fresh(c, 100, SLOTS);
	expect_busy(c, 999, 0, NULL);
	cache_destroy(c);
}
#endif
