/*
 * test_scache: dataplane/scache.c, the cache shared by all workers — fills,
 * hits and waits from several workers, a waiter's answer through its
 * worker's inbox and wake, failed fills answered to every worker, repair
 * between fill_check and fill_done, eviction that never takes a pinned or
 * filling slot, the waiter pool's bound (BUSY, never a lost answer), the
 * index against a model over a long single-threaded run, config errors,
 * contract violations that stop a debug build, and the multi-threaded stress
 * run of scache_stress.h (the same run tsan_scache.sh makes under
 * ThreadSanitizer).
 *
 * Most tests use the smallest cache, 64 slots.
 */
#include "scache.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "scache_stress.h"

#define SLOTS 64u
#define NW    3u /* workers in most tests */

/* ---- helpers ------------------------------------------------------------ */

static unsigned wakes[NW + 1];

static void on_wake(void *arg, unsigned worker)
{
	cr_assert_eq(arg, (void *)wakes, "the wake gets its arg back");
	cr_assert_lt(worker, NW + 1);
	wakes[worker]++;
}

static struct scache *new_cache(size_t slots, size_t max_waiters, unsigned workers)
{
	struct scache_config cfg = {
		.bytes = slots * SCACHE_BLOCK,
		.max_waiters = max_waiters,
		.n_workers = workers,
		.wake = on_wake,
		.wake_arg = wakes,
	};
	struct scache *sc = NULL;
	struct seed_err err;

	memset(wakes, 0, sizeof(wakes));
	seed_err_clear(&err);
	int rc = scache_create(&cfg, &sc, &err);

	cr_assert_eq(rc, 0, "scache_create: %d %s", rc, err.msg);
	cr_assert_not_null(sc);
	return sc;
}

static struct scache_key K(uint32_t n) {
	return (struct scache_key){ .object = n / 1000 + 1, .block = n % 1000 };
}

/* Block length of key n: most are whole, some an object's short tail. */
static uint32_t
blen(uint32_t n)
{
	return n % 7 == 3 ? 1 + (n * 2654435761u) % SCACHE_BLOCK : SCACHE_BLOCK;
}

static void content(uint32_t n, uint8_t *dst)
{
	uint32_t len = blen(n);

	memset(dst, (int)(n * 31 + 7), len);
	memcpy(dst, &n, len < 4 ? len : 4);
}

static void expected(uint32_t n, uint8_t out[16])
{
	static uint8_t tmp[SCACHE_BLOCK];

	content(n, tmp);
	hash_xxh128(tmp, blen(n), out);
}

static void check_content(uint32_t n, const uint8_t *data)
{
	static uint8_t want[SCACHE_BLOCK];

	content(n, want);
	cr_assert(memcmp(data, want, blen(n)) == 0, "content of key %u", n);
}

static enum scache_status get(struct scache *sc, unsigned w, uint32_t n, uint64_t cookie,
			      uint8_t **data, uint32_t *slot)
{
	uint8_t x[16];

	expected(n, x);
	return scache_get(sc, w, K(n), x, blen(n), cookie, data, slot);
}

static void expect_wait(struct scache *sc, unsigned w, uint32_t n, uint64_t cookie)
{
	uint8_t *d;
	uint32_t s;

	cr_assert_eq(get(sc, w, n, cookie, &d, &s), SCACHE_WAIT, "worker %u key %u", w, n);
	cr_assert_null(d, "a waiter gets no data yet");
}

static void expect_busy(struct scache *sc, unsigned w, uint32_t n, const char *why)
{
	uint8_t *d;
	uint32_t s;

	cr_assert_eq(get(sc, w, n, 0, &d, &s), SCACHE_BUSY, "key %u: %s", n, why);
	cr_assert_null(d);
}

/* A get of key n by worker w that must start its fill. */
static uint8_t *start_fill(struct scache *sc, unsigned w, uint32_t n, uint32_t *out_slot)
{
	uint8_t *d;

	cr_assert_eq(get(sc, w, n, 0, &d, out_slot), SCACHE_FILL, "worker %u key %u", w, n);
	cr_assert_eq((uintptr_t)d % 4096, 0, "O_DIRECT alignment");
	return d;
}

/* A good read of key n into slot, completed by worker w with no waiters
 * expected back. */
static void fill_ok(struct scache *sc, unsigned w, uint32_t n, uint8_t *d, uint32_t slot)
{
	size_t nw = 99;

	content(n, d);
	cr_assert_eq(scache_fill_done(sc, w, slot, blen(n), NULL, 0, &nw), 1, "fill of %u", n);
	cr_assert_eq(nw, 0);
}

/* Brings key n in (or hits it) on worker 0 and lets go of it; its slot. */
static uint32_t touch(struct scache *sc, uint32_t n)
{
	uint8_t *d;
	uint32_t s;
	enum scache_status st = get(sc, 0, n, 0, &d, &s);

	cr_assert(st == SCACHE_FILL || st == SCACHE_HIT, "key %u: status %d", n, st);
	if (st == SCACHE_FILL)
		fill_ok(sc, 0, n, d, s);
	else
		check_content(n, d);
	scache_unpin(sc, d);
	return s;
}

/* ---- create ------------------------------------------------------------- */

static void expect_refused(struct scache_config cfg, const char *words)
{
	struct scache *sc = (struct scache *)1;
	struct seed_err err;

	seed_err_clear(&err);
	cr_assert_eq(scache_create(&cfg, &sc, &err), -EINVAL, "%s", words);
	cr_assert_null(sc);
	cr_assert(strstr(err.msg, words), "message '%s' names '%s'", err.msg, words);
}

Test(scache, config_errors_are_named)
{
	struct scache_config ok = { .bytes = SLOTS * SCACHE_BLOCK, .n_workers = 2 };
	struct scache_config c;

	c = ok;
	c.bytes = 63 * SCACHE_BLOCK + SCACHE_BLOCK - 1;
	expect_refused(c, "at least 64");
	c = ok;
	c.n_workers = 0;
	expect_refused(c, "0 workers");
	c = ok;
	c.n_workers = SCACHE_MAX_WORKERS + 1;
	expect_refused(c, "between 1 and");
	c = ok;
	c.max_waiters = (size_t)1 << 40;
	expect_refused(c, "max_waiters");
	c = ok;
	c.bytes = SIZE_MAX;
	expect_refused(c, "more than");

	struct seed_err err;
	struct scache *sc;

	seed_err_clear(&err);
	cr_assert_eq(scache_create(NULL, &sc, &err), -EINVAL);
}

Test(scache, memory_is_one_aligned_region)
{
	struct scache *sc = new_cache(SLOTS + 1, 0, 1);
	size_t len = 0;
	uint8_t *m = scache_memory(sc, &len);

	cr_assert_eq(len, (size_t)(SLOTS + 1) * SCACHE_BLOCK);
	cr_assert_eq((uintptr_t)m % 4096, 0);
	cr_assert_eq(scache_uses_hugepages(sc), 0, "not asked for");
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	cr_assert_eq(d, m + (size_t)s * SCACHE_BLOCK);
	scache_destroy(sc);
}

/* ---- fills, hits, waits ------------------------------------------------- */

Test(scache, fill_then_hit_from_every_worker)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 1, 3, &s); /* a short tail block */

	cr_assert_lt(blen(3), SCACHE_BLOCK);
	fill_ok(sc, 1, 3, d, s);
	for (unsigned w = 0; w < NW; w++) {
		uint8_t *d2;
		uint32_t s2;

		cr_assert_eq(get(sc, w, 3, 0, &d2, &s2), SCACHE_HIT, "worker %u", w);
		cr_assert_eq(d2, d, "one copy for all workers");
		cr_assert_eq(s2, s);
		check_content(3, d2);
		scache_unpin(sc, d2 + 100); /* any byte of the block names it */
		cr_assert_eq(scache_counters(sc, w)->hits, 1);
	}
	scache_unpin(sc, d);

	const struct scache_counters *c1 = scache_counters(sc, 1);

	cr_assert_eq(c1->misses, 1);
	cr_assert_eq(c1->fills, 1);
	cr_assert_eq(c1->bytes_filled, blen(3));
	cr_assert_eq(scache_counters(sc, 0)->misses + scache_counters(sc, 2)->misses, 0,
		     "one read per box");
	cr_assert_neq((const void *)scache_counters(sc, 0), (const void *)c1);
	cr_assert_geq((uintptr_t)c1 - (uintptr_t)scache_counters(sc, 0), 64,
		      "counters on separate lines");
	scache_prefetch(sc, K(3));
	scache_prefetch(sc, K(4));
	scache_destroy(sc);
}

/* The filler's own waiters come back from fill_done; another worker's go to
 * its inbox, with one wake per fill, and every answer holds a pin. */
Test(scache, waiters_of_other_workers_go_to_their_inbox)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	expect_wait(sc, 1, 1, 101);
	expect_wait(sc, 0, 1, 1);
	expect_wait(sc, 1, 1, 102);
	expect_wait(sc, 2, 1, 201);
	cr_assert_eq(scache_counters(sc, 1)->waits, 2);

	struct scache_delivery dv[8];

	cr_assert_eq(scache_take(sc, 1, dv, 8), 0, "nothing yet");
	content(1, d);

	uint64_t ck[8];
	size_t n = 99;

	cr_assert_eq(scache_fill_done(sc, 0, s, blen(1), ck, 8, &n), 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(ck[0], 1);
	cr_assert_eq(wakes[0], 0, "the filler is not woken for its own");
	cr_assert_eq(wakes[1], 1, "once per fill, however many entries");
	cr_assert_eq(wakes[2], 1);

	cr_assert_eq(scache_take(sc, 1, dv, 1), 1, "up to cap");
	cr_assert_eq(dv[0].cookie, 101, "oldest first");
	cr_assert_eq(scache_take(sc, 1, dv + 1, 8), 1);
	cr_assert_eq(dv[1].cookie, 102);
	cr_assert_eq(scache_take(sc, 2, dv + 2, 8), 1);
	cr_assert_eq(dv[2].cookie, 201);
	cr_assert_eq(scache_take(sc, 1, dv, 8), 0);
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(dv[k].ok, 1);
		cr_assert_eq(dv[k].err, 0);
		cr_assert_eq(dv[k].data, d);
	}

	/* 5 pins: the filler, its own waiter, three in inboxes. With every
	 * other slot pinned the block stays until the last one goes. */
	for (uint32_t k = 2; k < 2 + SLOTS - 1; k++) {
		uint32_t sk;
		uint8_t *dk = start_fill(sc, 2, k, &sk);

		fill_ok(sc, 2, k, dk, sk);
	}
	for (int k = 0; k < 4; k++) {
		scache_unpin(sc, d);
		expect_busy(sc, 0, 500, "a pin is left");
		check_content(1, d);
	}
	scache_unpin(sc, d);

	uint32_t s5;

	cr_assert_eq(start_fill(sc, 0, 500, &s5), d, "the unpinned slot was the victim");
	cr_assert_eq(s5, s);
	cr_assert_eq(scache_counters(sc, 0)->evictions, 1);
	scache_destroy(sc);
}

/* A read-ahead's claim (scache_claim): a fill only for a block no worker
 * has cached or is reading; nothing pinned or queued otherwise; another
 * worker's get of a claimed block waits for the claimed read, and a claim
 * given back unread (-EAGAIN) tells that worker to retry. */
Test(scache, claim_starts_a_fill_only_for_an_absent_block)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint8_t x[16], *d, *dn;
	uint32_t s, sn;
	struct scache_delivery dv[4];
	uint64_t ck[4];
	size_t n;

	expected(5, x);
	cr_assert_eq(scache_claim(sc, 0, K(5), x, blen(5), &d, &s), SCACHE_FILL);
	cr_assert_eq((uintptr_t)d % 4096, 0);
	cr_assert_eq(scache_claim(sc, 1, K(5), x, blen(5), &dn, &sn), SCACHE_HIT,
		     "being read by worker 0");
	cr_assert_null(dn, "nothing handed out");
	expect_wait(sc, 1, 5, 77);
	content(5, d);
	cr_assert_eq(scache_fill_done(sc, 0, s, blen(5), ck, 4, &n), 1);
	cr_assert_eq(n, 0, "worker 0's claim has no waiter of its own");
	cr_assert_eq(scache_take(sc, 1, dv, 4), 1);
	cr_assert_eq(dv[0].cookie, 77);
	cr_assert_eq(dv[0].ok, 1);
	scache_unpin(sc, dv[0].data);
	scache_unpin(sc, d); /* the claimer's pin */
	cr_assert_eq(scache_claim(sc, 2, K(5), x, blen(5), &dn, &sn), SCACHE_HIT, "cached");
	cr_assert_eq(scache_counters(sc, 0)->claims, 1);
	cr_assert_eq(scache_counters(sc, 0)->misses, 0, "a claim is not a peer's miss");

	/* given back unread: the other worker's waiter is told to retry */
	expected(6, x);
	cr_assert_eq(scache_claim(sc, 0, K(6), x, blen(6), &d, &s), SCACHE_FILL);
	expect_wait(sc, 2, 6, 88);
	cr_assert_eq(scache_fill_done(sc, 0, s, -EAGAIN, ck, 4, &n), 0);
	cr_assert_eq(scache_take(sc, 2, dv, 4), 1);
	cr_assert_eq(dv[0].cookie, 88);
	cr_assert_eq(dv[0].ok, 0);
	cr_assert_eq(dv[0].err, -EAGAIN);

	/* no pin left behind: every slot can be taken by pinned fills, and
	 * then a claim is refused, not queued */
	for (uint32_t k = 100; k < 100 + SLOTS; k++)
		start_fill(sc, 1, k, &sn);
	expected(999, x);
	cr_assert_eq(scache_claim(sc, 0, K(999), x, blen(999), &dn, &sn), SCACHE_BUSY);
	cr_assert_null(dn);
	scache_destroy(sc);
}

/* A fill whose own waiters do not fit in cap: the rest go to the filler's
 * own inbox, never lost. */
Test(scache, own_waiters_past_cap_go_to_own_inbox)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	for (uint64_t k = 0; k < 5; k++)
		expect_wait(sc, 0, 1, 10 + k);
	content(1, d);

	uint64_t ck[2];
	size_t n;

	cr_assert_eq(scache_fill_done(sc, 0, s, blen(1), ck, 2, &n), 1);
	cr_assert_eq(n, 2);
	cr_assert_eq(ck[0], 10);
	cr_assert_eq(ck[1], 11);
	cr_assert_eq(wakes[0], 1);

	struct scache_delivery dv[8];

	cr_assert_eq(scache_take(sc, 0, dv, 8), 3);
	for (int k = 0; k < 3; k++) {
		cr_assert_eq(dv[k].cookie, 12u + (unsigned)k);
		cr_assert_eq(dv[k].ok, 1);
		scache_unpin(sc, dv[k].data);
	}
	scache_destroy(sc);
}

/* ---- failed fills and repair ------------------------------------------- */

Test(scache, failed_verification_answers_every_worker)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 2, 1, &s);

	expect_wait(sc, 2, 1, 21);
	expect_wait(sc, 0, 1, 1);
	expect_wait(sc, 1, 1, 11);
	content(1, d);
	d[77] ^= 0x10; /* one bit rotted on the drive */

	uint64_t ck[4];
	size_t n;

	cr_assert_eq(scache_fill_done(sc, 2, s, blen(1), ck, 4, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(ck[0], 21);
	cr_assert_eq(scache_counters(sc, 2)->verify_failures, 1);
	cr_assert_eq(scache_counters(sc, 2)->fills, 0);
	cr_assert_eq(wakes[0] + wakes[1], 2);

	struct scache_delivery dv[4];

	for (unsigned w = 0; w < 2; w++) {
		cr_assert_eq(scache_take(sc, w, dv, 4), 1, "worker %u", w);
		cr_assert_eq(dv[0].ok, 0);
		cr_assert_eq(dv[0].err, -EBADMSG, "a checksum mismatch");
		cr_assert_null(dv[0].data);
		cr_assert_eq(dv[0].cookie, w == 0 ? 1u : 11u);
	}
	/* never served; the next get reads again, into the slot just freed */
	uint32_t s2;
	uint8_t *d2 = start_fill(sc, 1, 1, &s2);

	cr_assert_eq(s2, s);
	fill_ok(sc, 1, 1, d2, s2);
	scache_unpin(sc, d2);

	/* a short read and an I/O error fail the same way, without counting
	 * a verification failure */
	d = start_fill(sc, 0, 2, &s);
	expect_wait(sc, 1, 2, 5);
	cr_assert_eq(scache_fill_done(sc, 0, s, blen(2) - 1, ck, 4, &n), 0);
	cr_assert_eq(scache_take(sc, 1, dv, 4), 1);
	cr_assert_eq(dv[0].ok, 0);
	cr_assert_eq(dv[0].err, -EIO, "a short read");
	d = start_fill(sc, 0, 2, &s);
	expect_wait(sc, 2, 2, 6);
	cr_assert_eq(scache_fill_done(sc, 0, s, -EAGAIN, ck, 4, &n), 0);
	cr_assert_eq(scache_take(sc, 2, dv, 4), 1);
	cr_assert_eq(dv[0].err, -EAGAIN, "the filler could not submit: worth a retry");
	d = start_fill(sc, 0, 2, &s);
	cr_assert_eq(scache_fill_done(sc, 0, s, -EIO, ck, 4, &n), 0);
	cr_assert_eq(scache_counters(sc, 0)->verify_failures, 0);
	(void)d;
	scache_destroy(sc);
}

/* fetch.c's parity repair: fill_check finds the block bad, the worker
 * rewrites the slot, checks again, and completes: every waiter, of every
 * worker, still queued, gets the good block. */
Test(scache, fill_check_then_repair_then_fill_done)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	expect_wait(sc, 1, 1, 11);
	expect_wait(sc, 0, 1, 1);
	content(1, d);
	d[5] ^= 1;
	cr_assert_eq(scache_fill_check(sc, s, blen(1)), 0, "rotten");
	cr_assert_eq(scache_fill_check(sc, s, blen(1) - 1), 0, "short");
	cr_assert_eq(scache_fill_check(sc, SLOTS + 5, blen(1)), 0, "no such slot");
	expect_wait(sc, 2, 1, 21); /* still filling */
	content(1, d);		   /* rebuilt from parity */
	cr_assert_eq(scache_fill_check(sc, s, blen(1)), 1);

	uint64_t ck[4];
	size_t n;

	cr_assert_eq(scache_fill_done(sc, 0, s, blen(1), ck, 4, &n), 1);
	cr_assert_eq(n, 1);
	cr_assert_eq(scache_counters(sc, 0)->verify_failures, 0, "the caller counts its own");

	struct scache_delivery dv[2];

	cr_assert_eq(scache_take(sc, 1, dv, 2), 1);
	cr_assert_eq(dv[0].ok, 1);
	check_content(1, dv[0].data);
	cr_assert_eq(scache_take(sc, 2, dv + 1, 1), 1);
	cr_assert_eq(dv[1].ok, 1);
	cr_assert_eq(scache_fill_check(sc, s, blen(1)), 0, "no longer filling");
	scache_destroy(sc);
}

/* ---- eviction ----------------------------------------------------------- */

/* With one slot pinned and one filling among 64, hundreds of misses churn
 * the other 62 and never hand out either of them. */
Test(scache, eviction_never_takes_a_pinned_or_filling_slot)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint32_t sp, sf;
	uint8_t *dp = start_fill(sc, 0, 1, &sp);

	fill_ok(sc, 0, 1, dp, sp); /* pinned: the filler's pin kept */
	for (uint32_t k = 2; k < SLOTS; k++)
		touch(sc, k);
	uint8_t *df = start_fill(sc, 1, 5000, &sf); /* evicts one; stays filling */

	expect_wait(sc, 2, 5000, 9);
	for (uint32_t k = 100; k < 600; k++) {
		uint32_t s = touch(sc, k);

		cr_assert_neq(s, sp, "pinned slot taken by key %u", k);
		cr_assert_neq(s, sf, "filling slot taken by key %u", k);
		if (k % 7 == 0)
			touch(sc, k - 3); /* a few hits: blocks move to main */
	}
	check_content(1, dp);
	cr_assert_geq(scache_counters(sc, 0)->evictions, 500);

	uint8_t *dh;
	uint32_t sh;

	cr_assert_eq(get(sc, 2, 1, 0, &dh, &sh), SCACHE_HIT, "the pinned block is still there");
	scache_unpin(sc, dh);
	content(5000, df);

	uint64_t ck[2];
	size_t n;

	cr_assert_eq(scache_fill_done(sc, 1, sf, blen(5000), ck, 2, &n), 1);
	struct scache_delivery dv;

	cr_assert_eq(scache_take(sc, 2, &dv, 1), 1);
	check_content(5000, dv.data);
	scache_unpin(sc, dv.data);
	scache_unpin(sc, df);
	scache_unpin(sc, dp);
	scache_destroy(sc);
}

Test(scache, busy_when_every_slot_is_pinned_or_filling)
{
	struct scache *sc = new_cache(SLOTS, 0, NW);
	uint8_t *d[SLOTS];
	uint32_t s[SLOTS];

	for (uint32_t k = 0; k < SLOTS; k++) {
		d[k] = start_fill(sc, k % NW, k, &s[k]);
		if (k % 2)
			fill_ok(sc, k % NW, k, d[k], s[k]);
	}
	expect_busy(sc, 1, 1000, "half pinned, half filling");
	cr_assert_eq(scache_counters(sc, 1)->busy, 1);
	cr_assert_eq(scache_counters(sc, 1)->evictions, 0);
	scache_unpin(sc, d[7]);

	uint32_t s2;

	cr_assert_eq(start_fill(sc, 1, 1000, &s2), d[7], "the one unpinned slot");
	scache_destroy(sc);
}

/* S3-FIFO kept under the lock: a hot set hit while in small moves to main,
 * and a scan of 1000 blocks read once churns small only. */
Test(scache, scan_does_not_flush_the_hot_set)
{
	struct scache *sc = new_cache(SLOTS, 0, 2);

	for (uint32_t k = 0; k < 20; k++) {
		touch(sc, k);
		touch(sc, k);
	}
	for (uint32_t k = 1000; k < 2000; k++)
		touch(sc, k);
	cr_assert_eq(scache_counters(sc, 0)->misses, 20 + 1000, "every scan block was read");

	uint64_t hits = scache_counters(sc, 0)->hits;

	for (uint32_t k = 0; k < 20; k++) {
		uint8_t *d;
		uint32_t s;

		cr_assert_eq(get(sc, 1, k, 0, &d, &s), SCACHE_HIT, "hot key %u survived", k);
		scache_unpin(sc, d);
	}
	cr_assert_eq(scache_counters(sc, 0)->hits, hits);
	cr_assert_eq(scache_counters(sc, 1)->hits, 20);
	scache_destroy(sc);
}

/* ---- the waiter pool's bound -------------------------------------------- */

/* Waits past max_waiters are refused (BUSY), never dropped; entries waiting
 * in an inbox count against the same pool, so an inbox cannot overflow. */
Test(scache, waiter_pool_bound_gives_busy_not_loss)
{
	struct scache *sc = new_cache(SLOTS, 4, NW);
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	for (uint64_t k = 0; k < 4; k++)
		expect_wait(sc, 1, 1, 100 + k);
	expect_busy(sc, 2, 1, "the pool is full");
	cr_assert_eq(scache_counters(sc, 2)->busy, 1);
	content(1, d);

	size_t n;

	cr_assert_eq(scache_fill_done(sc, 0, s, blen(1), NULL, 0, &n), 1);

	/* the four answers sit in worker 1's inbox: still no room to wait */
	uint32_t s2;
	uint8_t *d2 = start_fill(sc, 0, 2, &s2);

	expect_busy(sc, 2, 2, "the inbox holds the pool");

	struct scache_delivery dv[4];

	cr_assert_eq(scache_take(sc, 1, dv, 4), 4);
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(dv[k].cookie, 100u + (unsigned)k);
		scache_unpin(sc, dv[k].data);
	}
	expect_wait(sc, 2, 2, 7);
	fill_ok(sc, 0, 2, d2, s2);
	(void)d2;
	cr_assert_eq(scache_take(sc, 2, dv, 4), 1);
	scache_destroy(sc);
}

/* ---- the index over a long run ------------------------------------------ */

/* 30k gets over 400 keys, single-threaded, against a model of which key
 * each slot holds (learnt from where fills land): a resident key must hit
 * its slot, an absent one must fill. Exercises ghost entries and
 * backward-shift deletion in the index the lock-free path reads. */
Test(scache, index_agrees_with_a_model)
{
	struct scache *sc = new_cache(SLOTS, 0, 2);
	int32_t slot_key[SLOTS];
	int32_t key_slot[400];
	uint64_t r = 88172645463325252ull;

	memset(slot_key, 0xff, sizeof(slot_key));
	memset(key_slot, 0xff, sizeof(key_slot));
	for (int op = 0; op < 30000; op++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		uint32_t k = (uint32_t)(r % ((r >> 40) % 4 == 0 ? 400 : 40));
		uint8_t *d;
		uint32_t s;
		enum scache_status st = get(sc, (unsigned)(op & 1), k, 0, &d, &s);

		if (key_slot[k] >= 0) {
			cr_assert_eq(st, SCACHE_HIT, "op %d: key %u is resident", op, k);
			cr_assert_eq(s, (uint32_t)key_slot[k]);
			check_content(k, d);
		} else {
			cr_assert_eq(st, SCACHE_FILL, "op %d: key %u is absent", op, k);
			if (slot_key[s] >= 0)
				key_slot[slot_key[s]] = -1;
			slot_key[s] = (int32_t)k;
			key_slot[k] = (int32_t)s;
			fill_ok(sc, (unsigned)(op & 1), k, d, s);
		}
		scache_unpin(sc, d);
	}
	scache_destroy(sc);
}

/* ---- contract violations ------------------------------------------------ */

Test(scache_bugs, unpin_of_unpinned_block_aborts, .signal = SIGABRT)
{
	struct scache *sc = new_cache(SLOTS, 0, 1);
	uint32_t s;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	fill_ok(sc, 0, 1, d, s);
	scache_unpin(sc, d);
	scache_unpin(sc, d);
}

Test(scache_bugs, unpin_of_foreign_pointer_aborts, .signal = SIGABRT)
{
	struct scache *sc = new_cache(SLOTS, 0, 1);
	static uint8_t other[16];

	scache_unpin(sc, other);
}

Test(scache_bugs, fill_done_twice_aborts, .signal = SIGABRT)
{
	struct scache *sc = new_cache(SLOTS, 0, 1);
	uint32_t s;
	size_t n;
	uint8_t *d = start_fill(sc, 0, 1, &s);

	fill_ok(sc, 0, 1, d, s);
	scache_fill_done(sc, 0, s, blen(1), NULL, 0, &n);
}

Test(scache_bugs, worker_out_of_range_aborts, .signal = SIGABRT)
{
	struct scache *sc = new_cache(SLOTS, 0, 2);
	uint8_t *d;
	uint32_t s;

	get(sc, 2, 1, 0, &d, &s);
}

/* ---- all workers at once ------------------------------------------------- */

/* Four workers, a key space four times the cache, pins held across other
 * workers' operations; every pinned block's bytes checked against its key
 * (scache_stress.h). Bounded: 1.5 s or 400k operations a thread. */
Test(scache, stress_four_workers, .timeout = 60)
{
	struct st_opts o = {
		.threads = 4, .slots = 64, .keys = 256, .max_ops = 400000, .seconds = 1.5, .seed = 7
	};
	char msg[256];
	uint64_t ops = 0;
	int rc = scache_stress(&o, msg, sizeof(msg), &ops);

	cr_assert_eq(rc, 0, "%s", msg);
	cr_log_info("scache stress: %llu operations: %s", (unsigned long long)ops, msg);
}

/* The same under pressure: every slot can be pinned or filling and the
 * waiter pool holds 8, so gets meet both kinds of BUSY while evictions scan
 * past pinned slots. */
Test(scache, stress_four_workers_under_pressure, .timeout = 60)
{
	struct st_opts o = { .threads = 4,
			     .slots = 64,
			     .keys = 256,
			     .max_ops = 400000,
			     .seconds = 1.0,
			     .seed = 8,
			     .held = 16,
			     .max_waiters = 8 };
	char msg[256];
	uint64_t ops = 0;
	int rc = scache_stress(&o, msg, sizeof(msg), &ops);

	cr_assert_eq(rc, 0, "%s", msg);
	cr_assert(strstr(msg, "busy 0 ") == NULL, "no BUSY under pressure: %s", msg);
	cr_log_info("scache stress under pressure: %llu operations: %s", (unsigned long long)ops,
		    msg);
}
