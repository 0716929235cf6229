/*
 * tbucket: see tbucket.h. Credit is counted in "byte-nanoseconds per
 * second" units: rate * elapsed_ns is 1e9 units per byte, so whole bytes go
 * to tokens and the remainder (< 1e9) waits in frac. The product needs up
 * to 128 bits, which GCC and clang provide on every 64-bit target we build.
 */
#include "tbucket.h"

#include <errno.h>

__extension__ typedef unsigned __int128 u128;

#define NS_PER_S 1000000000ull

/*
 * The bucket as it would be at now_ns (tokens and frac), without storing
 * it, so read-only queries and tbucket_take() share one computation.
 */
static void refill_view(const struct tbucket *tb, uint64_t now_ns, uint64_t *out_tokens,
			uint64_t *out_frac)
{
	uint64_t tokens = tb->tokens, frac = tb->frac;
	if (tb->rate != 0 && now_ns > tb->last_ns && tokens < tb->burst) {
		u128 credit = (u128)tb->rate * (now_ns - tb->last_ns) + frac;
		u128 add = credit / NS_PER_S;
		uint64_t room = tb->burst - tokens;
		if (add >= room) {
			/* A full bucket holds no fraction: idle time beyond a
			 * full burst is not saved up. */
			tokens = tb->burst;
			frac = 0;
		} else {
			tokens += (uint64_t)add;
			frac = (uint64_t)(credit % NS_PER_S);
		}
	}
	*out_tokens = tokens;
	*out_frac = frac;
}

static void refill(struct tbucket *tb, uint64_t now_ns)
{
	refill_view(tb, now_ns, &tb->tokens, &tb->frac);
	if (now_ns > tb->last_ns)
		tb->last_ns = now_ns;
}

int tbucket_init(struct tbucket *tb, uint64_t rate_bytes_per_s, uint64_t burst_bytes,
		 uint64_t now_ns)
{
	if (rate_bytes_per_s != 0 && burst_bytes == 0)
		return -EINVAL;
	tb->rate = rate_bytes_per_s;
	tb->burst = burst_bytes;
	tb->tokens = burst_bytes;
	tb->frac = 0;
	tb->last_ns = now_ns;
	return 0;
}

uint64_t tbucket_take(struct tbucket *tb, uint64_t want, uint64_t now_ns)
{
	if (tb->rate == 0) {
		if (now_ns > tb->last_ns)
			tb->last_ns = now_ns;
		return want;
	}
	refill(tb, now_ns);
	uint64_t grant = want < tb->tokens ? want : tb->tokens;
	tb->tokens -= grant;
	return grant;
}

void tbucket_refund(struct tbucket *tb, uint64_t n)
{
	if (tb->rate == 0)
		return;
	uint64_t room = tb->burst - tb->tokens;
	if (n >= room) {
		tb->tokens = tb->burst;
		tb->frac = 0;
	} else {
		tb->tokens += n;
	}
}

uint64_t tbucket_available(const struct tbucket *tb, uint64_t now_ns)
{
	uint64_t tokens, frac;
	if (tb->rate == 0)
		return UINT64_MAX;
	refill_view(tb, now_ns, &tokens, &frac);
	return tokens;
}

uint64_t tbucket_wait_ns(const struct tbucket *tb, uint64_t want, uint64_t now_ns)
{
	uint64_t tokens, frac;
	if (tb->rate == 0 || want == 0)
		return 0;
	uint64_t need = want < tb->burst ? want : tb->burst;
	refill_view(tb, now_ns, &tokens, &frac);
	if (tokens >= need)
		return 0;
	/* Units still missing: a whole number of bytes less the fraction
	 * already accrued (frac < 1e9 <= the first missing byte). */
	u128 missing = (u128)(need - tokens) * NS_PER_S - frac;
	u128 wait = (missing + tb->rate - 1) / tb->rate;
	/* The bucket accrues from last_ns, not from an earlier now_ns. */
	if (now_ns < tb->last_ns)
		wait += tb->last_ns - now_ns;
	return wait > UINT64_MAX ? UINT64_MAX : (uint64_t)wait;
}

int tbucket_set_rate(struct tbucket *tb, uint64_t rate_bytes_per_s, uint64_t burst_bytes,
		     uint64_t now_ns)
{
	if (rate_bytes_per_s != 0 && burst_bytes == 0)
		return -EINVAL;
	int was_unlimited = tb->rate == 0;
	/* Settle what accrued at the old rate before the new one applies. */
	refill(tb, now_ns);
	tb->rate = rate_bytes_per_s;
	tb->burst = burst_bytes;
	if (was_unlimited || tb->tokens >= burst_bytes) {
		tb->tokens = burst_bytes;
		tb->frac = 0;
	}
	return 0;
}

uint64_t tbucket_burst_for(uint64_t rate_bytes_per_s)
{
	uint64_t b = rate_bytes_per_s / 50;
	return b < 65536 ? 65536 : b;
}
