/*
 * tbucket: a token bucket, the per-tenant bandwidth cap.
 *
 * Tokens are bytes. They accrue at `rate` bytes per second up to `burst`;
 * sending takes them. Time is an argument (now_ns, any monotonic clock in
 * nanoseconds, CLOCK_MONOTONIC in practice): the bucket never reads a
 * clock, so a worker can pass the time it read once per batch and tests
 * can run years of simulated time in microseconds.
 *
 * Invariants: tokens <= burst; frac < 1e9 (fractions of a byte, so a slow
 * rate polled often still accrues exactly: 1 byte/s polled every
 * millisecond yields one byte per second, not zero); last_ns never moves
 * backwards. Over any interval the bucket grants at most
 * burst + rate * (latest now_ns - init now_ns) / 1e9 bytes: never debt,
 * never more.
 *
 * Policies:
 *  - rate 0 means unlimited: tbucket_take() grants all it is asked.
 *  - A new (or newly limited) bucket starts full, so a tenant's first
 *    burst leaves at line rate.
 *  - tbucket_take() grants partial amounts: min(want, tokens). A request
 *    larger than burst can therefore never be granted whole; the caller
 *    sends what was granted and asks again for the rest (a TCP stream does
 *    not care where the cuts are). Callers that want whole units ask
 *    tbucket_wait_ns() first.
 *  - Time going backwards (now_ns below the latest time seen) is harmless:
 *    no tokens accrue until now_ns passes the latest time again, so clock
 *    jitter between callers never mints tokens.
 *
 * Arithmetic is 128-bit for rate * elapsed time, so any rate (400 Gbit/s
 * is 5e10 bytes/s) over any interval a uint64_t of nanoseconds can hold
 * (584 years) is exact and cannot overflow.
 *
 * Call order: tbucket_init(), then tbucket_take() / tbucket_wait_ns() /
 * tbucket_refund() / tbucket_set_rate() in any order. Not thread-safe: a
 * bucket belongs to one worker (or is guarded by its owner).
 */
#ifndef SEED_TBUCKET_H
#define SEED_TBUCKET_H

#include <stdint.h>

struct tbucket {
	uint64_t rate;	  /* bytes per second; 0 = unlimited */
	uint64_t burst;	  /* most tokens held at once, bytes */
	uint64_t tokens;  /* whole bytes available, <= burst */
	uint64_t frac;	  /* part of a byte accrued, in 1e-9 byte, < 1e9 */
	uint64_t last_ns; /* latest time seen */
};

/*
 * Sets up a full bucket. -EINVAL (bucket untouched) when rate > 0 and
 * burst is 0, a bucket that could never grant a byte.
 */
int tbucket_init(struct tbucket *tb, uint64_t rate_bytes_per_s, uint64_t burst_bytes,
		 uint64_t now_ns);

/*
 * Grants up to want bytes now and consumes them: returns 0..want, never
 * more than the tokens available (see the partial-grant policy above).
 */
uint64_t tbucket_take(struct tbucket *tb, uint64_t want, uint64_t now_ns);

/*
 * Gives back n granted bytes that were not sent after all (the socket
 * took fewer), capped at burst. What a callee did not accept stays with
 * the caller; this keeps the cap from undercounting.
 */
void tbucket_refund(struct tbucket *tb, uint64_t n);

/*
 * Nanoseconds from now_ns until min(want, burst) bytes are available: 0
 * when they are (or the bucket is unlimited). Capping at burst keeps the
 * answer finite (at most the time to fill a full bucket, plus any time
 * now_ns lags the latest time seen); it saturates at UINT64_MAX. Reads
 * the bucket only.
 */
uint64_t tbucket_wait_ns(const struct tbucket *tb, uint64_t want, uint64_t now_ns);

/* Bytes available now (UINT64_MAX when unlimited). Reads the bucket only. */
uint64_t tbucket_available(const struct tbucket *tb, uint64_t now_ns);

/*
 * Changes rate and burst (a config reload). Tokens accrued so far at the
 * old rate are kept, capped at the new burst; a bucket that was unlimited
 * starts full. -EINVAL (bucket untouched) as for tbucket_init().
 */
int tbucket_set_rate(struct tbucket *tb, uint64_t rate_bytes_per_s, uint64_t burst_bytes,
		     uint64_t now_ns);

/*
 * A sensible burst for a rate when the operator gave none: 20 ms of rate,
 * at least 64 KiB (four 16 KiB blocks, so one peer-wire piece message
 * never has to be cut at low rates).
 */
uint64_t tbucket_burst_for(uint64_t rate_bytes_per_s);

#endif
