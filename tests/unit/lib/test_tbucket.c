/*
 * Unit tests for lib/tbucket.c, all in simulated time: long-run accuracy,
 * burst cap, idle time, partial grants, wait times (and that waiting that
 * long is enough), rate changes, refunds, unlimited buckets, time going
 * backwards, and arithmetic at extreme rates and times.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tbucket.h"

#define US 1000ull
#define MS 1000000ull
#define S  1000000000ull

static struct tbucket mk(uint64_t rate, uint64_t burst, uint64_t now)
{
	struct tbucket tb;
	memset(&tb, 0xee, sizeof(tb));
	cr_assert_eq(tbucket_init(&tb, rate, burst, now), 0);
	return tb;
}

static void check_invariants(const struct tbucket *tb)
{
	cr_assert_leq(tb->tokens, tb->burst);
	cr_assert_lt(tb->frac, S);
}

Test(tbucket, ten_seconds_at_20MBps_within_one_percent)
{
	/* 16 KiB asks every 100 us: far more demand than 20 MB/s supplies. */
	struct tbucket tb = mk(20000000, 64 * 1024, 0);
	uint64_t sent = 0;
	tb.tokens = 0; /* measure the rate, not the initial burst */
	for (uint64_t t = 100 * US; t <= 10 * S; t += 100 * US) {
		uint64_t g = tbucket_take(&tb, 16384, t);
		cr_assert_leq(g, 16384);
		sent += g;
		check_invariants(&tb);
	}
	cr_assert_geq(sent, 198000000, "sent %llu", (unsigned long long)sent);
	cr_assert_leq(sent, 202000000, "sent %llu", (unsigned long long)sent);
	/* In fact exact: 20 MB/s for 10 s. */
	cr_assert_eq(sent, 200000000);
}

Test(tbucket, ten_seconds_including_initial_burst)
{
	struct tbucket tb = mk(20000000, 64 * 1024, 0);
	uint64_t sent = 0;
	for (uint64_t t = 0; t <= 10 * S; t += 100 * US)
		sent += tbucket_take(&tb, 16384, t);
	cr_assert_eq(sent, 200000000 + 64 * 1024);
}

Test(tbucket, starts_full_and_caps_at_burst)
{
	struct tbucket tb = mk(1000, 5000, 0);
	cr_assert_eq(tbucket_available(&tb, 0), 5000);
	cr_assert_eq(tbucket_take(&tb, 100000, 0), 5000);
	cr_assert_eq(tbucket_take(&tb, 1, 0), 0);
}

Test(tbucket, idle_time_does_not_accumulate_beyond_burst)
{
	struct tbucket tb = mk(1000000, 10000, 0);
	cr_assert_eq(tbucket_take(&tb, 10000, 0), 10000);
	/* An hour idle: still only one burst. */
	cr_assert_eq(tbucket_available(&tb, 3600 * S), 10000);
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 3600 * S), 10000);
	cr_assert_eq(tb.frac, 0);
	/* And the rate resumes from there. */
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 3600 * S + MS), 1000);
}

Test(tbucket, partial_grants_for_requests_larger_than_burst)
{
	struct tbucket tb = mk(1000000, 16384, 0);
	uint64_t want = 100000, got = 0, t = 0;
	got += tbucket_take(&tb, want - got, t);
	cr_assert_eq(got, 16384);
	while (got < want) {
		uint64_t w = tbucket_wait_ns(&tb, want - got, t);
		cr_assert_gt(w, 0);
		t += w;
		uint64_t g = tbucket_take(&tb, want - got, t);
		cr_assert_gt(g, 0);
		cr_assert_leq(g, 16384);
		got += g;
	}
	/* 100000 bytes at 1 MB/s with a 16384 head start. */
	cr_assert_leq(t, (100000 - 16384) * 1000ull + 1000);
	cr_assert_geq(t, (100000 - 16384) * 1000ull - 1000);
}

Test(tbucket, rate_zero_is_unlimited)
{
	struct tbucket tb = mk(0, 0, 0);
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 0), UINT64_MAX);
	cr_assert_eq(tbucket_take(&tb, 123, 1), 123);
	cr_assert_eq(tbucket_wait_ns(&tb, UINT64_MAX, 1), 0);
	cr_assert_eq(tbucket_available(&tb, 1), UINT64_MAX);
	tbucket_refund(&tb, 5);
	cr_assert_eq(tbucket_take(&tb, 7, 2), 7);
}

Test(tbucket, zero_burst_with_a_rate_is_refused)
{
	struct tbucket tb = mk(100, 100, 0), before;
	before = tb;
	cr_assert_eq(tbucket_init(&tb, 100, 0, 0), -EINVAL);
	cr_assert_eq(memcmp(&tb, &before, sizeof(tb)), 0);
	cr_assert_eq(tbucket_set_rate(&tb, 100, 0, 0), -EINVAL);
	cr_assert_eq(memcmp(&tb, &before, sizeof(tb)), 0);
}

Test(tbucket, time_going_backwards_is_harmless)
{
	struct tbucket tb = mk(1000, 1000, 10 * S);
	cr_assert_eq(tbucket_take(&tb, 1000, 10 * S), 1000);
	/* Jumps back: no tokens minted, no underflow. */
	cr_assert_eq(tbucket_take(&tb, 1000, 5 * S), 0);
	cr_assert_eq(tbucket_take(&tb, 1000, 0), 0);
	check_invariants(&tb);
	cr_assert_eq(tb.last_ns, 10 * S);
	/* Jitter back and forth never credits twice. */
	uint64_t got = 0;
	for (int i = 1; i <= 100; i++) {
		got += tbucket_take(&tb, 1000, 10 * S + (uint64_t)i * MS);
		got += tbucket_take(&tb, 1000, 10 * S + (uint64_t)i * MS - 5 * MS);
	}
	cr_assert_eq(got, 100, "got %llu over 100 ms at 1000 B/s", (unsigned long long)got);
}

Test(tbucket, wait_accounts_for_time_behind_latest)
{
	struct tbucket tb = mk(1000, 1000, 10 * S);
	cr_assert_eq(tbucket_take(&tb, 1000, 10 * S), 1000);
	/* From 9 s, 500 bytes are 1 s (catch up) + 0.5 s away. */
	cr_assert_eq(tbucket_wait_ns(&tb, 500, 9 * S), 1500 * MS);
	cr_assert_eq(tbucket_wait_ns(&tb, 500, 10 * S), 500 * MS);
}

Test(tbucket, wait_ns_is_exact_and_sufficient)
{
	struct tbucket tb = mk(3000, 9000, 0);
	cr_assert_eq(tbucket_wait_ns(&tb, 9000, 0), 0);
	cr_assert_eq(tbucket_take(&tb, 9000, 0), 9000);
	uint64_t w = tbucket_wait_ns(&tb, 1, 0);
	/* 1 byte at 3000 B/s: ceil(1e9 / 3000) ns. */
	cr_assert_eq(w, 333334);
	cr_assert_eq(tbucket_available(&tb, w - 1), 0);
	cr_assert_eq(tbucket_take(&tb, 1, w), 1);
	/* A fraction already accrued shortens the next wait. */
	uint64_t w2 = tbucket_wait_ns(&tb, 1, w);
	cr_assert_lt(w2, 333334);
	cr_assert_eq(tbucket_take(&tb, 1, w + w2), 1);
}

Test(tbucket, wait_is_capped_at_one_full_burst)
{
	struct tbucket tb = mk(1000, 2000, 0);
	cr_assert_eq(tbucket_take(&tb, 2000, 0), 2000);
	cr_assert_eq(tbucket_wait_ns(&tb, 1000000, 0), 2 * S);
	cr_assert_eq(tbucket_wait_ns(&tb, UINT64_MAX, 0), 2 * S);
	cr_assert_eq(tbucket_wait_ns(&tb, 0, 0), 0);
}

Test(tbucket, slow_rates_accrue_fractions_exactly)
{
	/* 1 byte/s polled every millisecond must still give 1 byte a second. */
	struct tbucket tb = mk(1, 10, 0);
	uint64_t got = tbucket_take(&tb, 10, 0);
	cr_assert_eq(got, 10);
	got = 0;
	for (uint64_t t = MS; t <= 60 * S; t += MS)
		got += tbucket_take(&tb, 10, t);
	cr_assert_eq(got, 60);
}

Test(tbucket, set_rate_keeps_tokens_capped_at_new_burst)
{
	struct tbucket tb = mk(1000, 10000, 0);
	cr_assert_eq(tbucket_take(&tb, 10000, 0), 10000);
	/* 2 s at the old rate accrue before the change. */
	cr_assert_eq(tbucket_set_rate(&tb, 100000, 50000, 2 * S), 0);
	cr_assert_eq(tbucket_available(&tb, 2 * S), 2000);
	cr_assert_eq(tbucket_available(&tb, 2 * S + 100 * MS), 12000);
	/* Shrinking the burst drops the excess. */
	cr_assert_eq(tbucket_set_rate(&tb, 100000, 5000, 3 * S), 0);
	cr_assert_eq(tbucket_available(&tb, 3 * S), 5000);
	check_invariants(&tb);
}

Test(tbucket, set_rate_from_and_to_unlimited)
{
	struct tbucket tb = mk(0, 0, 0);
	cr_assert_eq(tbucket_take(&tb, 1000000, 5 * S), 1000000);
	cr_assert_eq(tbucket_set_rate(&tb, 1000, 4000, 6 * S), 0);
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 6 * S), 4000,
		     "a newly limited bucket starts full");
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 7 * S), 1000);
	cr_assert_eq(tbucket_set_rate(&tb, 0, 0, 8 * S), 0);
	cr_assert_eq(tbucket_take(&tb, 77777777, 8 * S), 77777777);
}

Test(tbucket, refund_returns_unsent_tokens_up_to_burst)
{
	struct tbucket tb = mk(1000, 3000, 0);
	cr_assert_eq(tbucket_take(&tb, 3000, 0), 3000);
	tbucket_refund(&tb, 1200);
	cr_assert_eq(tbucket_available(&tb, 0), 1200);
	tbucket_refund(&tb, UINT64_MAX);
	cr_assert_eq(tbucket_available(&tb, 0), 3000);
	check_invariants(&tb);
}

Test(tbucket, no_overflow_at_400_gbit_over_years)
{
	const uint64_t rate = 50000000000ull; /* 400 Gbit/s */
	const uint64_t year = 365ull * 86400 * S;
	struct tbucket tb = mk(rate, UINT64_MAX, 0);
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 0), UINT64_MAX);
	/* rate * 5 years of ns overflows 64 bits; the bucket must not. */
	uint64_t avail = tbucket_available(&tb, 5 * year);
	cr_assert_eq(avail, rate * (5 * 365ull * 86400));
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 5 * year), avail);
	/* A realistic burst at that rate, after the clock ran for decades. */
	struct tbucket b = mk(rate, tbucket_burst_for(rate), 30 * year);
	cr_assert_eq(tbucket_take(&b, UINT64_MAX, 30 * year), rate / 50);
	cr_assert_eq(tbucket_take(&b, UINT64_MAX, 30 * year + MS), rate / 1000);
	cr_assert_eq(tbucket_wait_ns(&b, UINT64_MAX, 30 * year + MS), 20 * MS);
}

Test(tbucket, extreme_values_saturate)
{
	struct tbucket tb = mk(1, UINT64_MAX, 0);
	cr_assert_eq(tbucket_take(&tb, UINT64_MAX, 0), UINT64_MAX);
	/* 2^64 bytes at 1 B/s is ~2^94 ns: the wait saturates. */
	cr_assert_eq(tbucket_wait_ns(&tb, UINT64_MAX, 0), UINT64_MAX);
	struct tbucket fast = mk(UINT64_MAX, UINT64_MAX, 0);
	cr_assert_eq(tbucket_take(&fast, UINT64_MAX, 0), UINT64_MAX);
	cr_assert_eq(tbucket_available(&fast, UINT64_MAX), UINT64_MAX);
	check_invariants(&fast);
}

Test(tbucket, burst_for_has_a_floor)
{
	cr_assert_eq(tbucket_burst_for(0), 65536);
	cr_assert_eq(tbucket_burst_for(1000), 65536);
	cr_assert_eq(tbucket_burst_for(20000000), 400000);
}

Test(tbucket, take_zero_is_a_no_op)
{
	struct tbucket tb = mk(1000, 1000, 0);
	cr_assert_eq(tbucket_take(&tb, 0, 0), 0);
	cr_assert_eq(tbucket_available(&tb, 0), 1000);
}
