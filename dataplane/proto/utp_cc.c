/*
 * utp_cc: the uTP engine's congestion control (utp_int.h): one-way delay
 * from the packets' timestamps with a base delay that follows the peer's
 * clock, LEDBAT around the target delay after slow start, halving on loss,
 * and the retransmission timer (RFC 6298). The why of each rule is in
 * utp.c's header and docs/utp.md.
 */
#include <stdint.h>

#include "utp_int.h"

/* ---- congestion control ---- */

static int ts_less(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static void hist_add(struct hist *h, uint32_t s, uint64_t now, uint64_t bucket_us, uint32_t nb)
{
	if (h->has && now - h->start >= nb * bucket_us)
		h->has = 0; /* silent longer than the history: start over */
	if (!h->has) {
		for (uint32_t i = 0; i < nb; i++)
			h->b[i] = s;
		h->base = s;
		h->start = now;
		h->cur = 0;
		h->has = 1;
		return;
	}
	if (now - h->start >= bucket_us) {
		while (now - h->start >= bucket_us) {
			h->cur = (uint8_t)((h->cur + 1) % nb);
			h->b[h->cur] = s;
			h->start += bucket_us;
		}
		h->base = h->b[0];
		for (uint32_t i = 1; i < nb; i++)
			if (ts_less(h->b[i], h->base))
				h->base = h->b[i];
	}
	if (ts_less(s, h->b[h->cur]))
		h->b[h->cur] = s;
	if (ts_less(s, h->base))
		h->base = s;
}

static void hist_shift(struct hist *h, uint32_t d, uint32_t nb)
{
	for (uint32_t i = 0; i < nb; i++)
		h->b[i] += d;
	h->base += d;
}

/*
 * Timestamps of a packet from the peer. Their timestamp against our clock
 * is the delay of the path towards us plus the clocks' offset (reply_micro,
 * echoed to the peer); their timestamp_difference is the same for the
 * path from us (our LEDBAT sample). A peer clock that runs fast moves the
 * first down and the second up by the same amount: when the base of the
 * first drops, ours is moved up as much (drift, a few ms at a time, or a
 * jump of the peer's clock, a second and more; a drop in between is more
 * likely a queue that drained than a clock, and is left alone).
 */
void utp_cc_timestamps(struct utp *u, struct conn *c, const struct utp_hdr *h, uint64_t now)
{
	uint64_t bucket = (uint64_t)u->cfg.base_bucket_ms * 1000;
	uint32_t nb = u->cfg.base_buckets;

	/* a packet sent before the peer's clock jumped forward, arriving
	 * late, would pull our base back under the jump: its samples are
	 * left out */
	if (c->jumped && ts_less(h->ts_us, c->jump_ts))
		return;
	if (h->ts_us) {
		uint32_t prev = c->rxh.base, had = c->rxh.has;

		c->reply_micro = (uint32_t)now - h->ts_us;
		hist_add(&c->rxh, c->reply_micro, now, bucket, nb);
		if (had && c->rxh.has && ts_less(c->rxh.base, prev) && c->txh.has) {
			uint32_t d = prev - c->rxh.base;

			if (d <= SHIFT_SMALL || d >= SHIFT_JUMP)
				hist_shift(&c->txh, d, nb);
			if (d >= SHIFT_JUMP) {
				c->jumped = 1;
				c->jump_ts = h->ts_us;
			}
		}
	}
	if (h->ts_diff_us && c->state != UTP_SYN_SENT) {
		uint32_t m;

		hist_add(&c->txh, h->ts_diff_us, now, bucket, nb);
		c->cur[c->icur] = h->ts_diff_us;
		c->icur = (uint8_t)((c->icur + 1) % DELAY_FILTER);
		if (c->ncur < DELAY_FILTER)
			c->ncur++;
		m = c->cur[0];
		for (uint32_t i = 1; i < c->ncur; i++)
			if (ts_less(c->cur[i], m))
				m = c->cur[i];
		c->our_delay = ts_less(m, c->txh.base) ? 0 : m - c->txh.base;
	}
}

uint32_t utp_cc_min_cwnd(const struct utp *u)
{
	return u->max_payload;
}

static uint32_t max_cwnd(const struct utp *u)
{
	return (u->cfg.max_packets - 1) * u->max_payload;
}

/* LEDBAT (RFC 6817 §2.4.2), after slow start: the window moves by
 * gain_bytes per RTT scaled by how far the delay is off target. */
void utp_cc_ack(struct utp *u, struct conn *c, uint32_t acked)
{
	int64_t target = u->cfg.target_delay_us, delay = c->our_delay, cw = c->cwnd;

	if (!acked)
		return;
	if (c->ss && (delay > target / 2 || c->cwnd >= c->ssthresh))
		c->ss = 0;
	if (c->ss) {
		if (c->cwnd_limited)
			cw += acked;
	} else if (delay <= target) {
		int64_t delta =
			(int64_t)u->cfg.gain_bytes * (target - delay) * acked / (target * cw);

		if (c->cwnd_limited) /* not using the window: no reason to grow it */
			cw += delta;
	} else {
		/* over target the window shrinks in proportion to the excess,
		 * at most by half per window of acknowledgements (LEDBAT++,
		 * draft-irtf-iccrg-ledbat-plus-plus §4.2): RFC 6817's linear
		 * decrease of gain_bytes per RTT would take a large window
		 * minutes to yield a shared uplink */
		int64_t delta = (delay - target) * (int64_t)acked / target;

		if (delta > (int64_t)acked / 2)
			delta = (int64_t)acked / 2;
		cw -= delta;
	}
	if (cw < utp_cc_min_cwnd(u))
		cw = utp_cc_min_cwnd(u);
	if (cw > max_cwnd(u))
		cw = max_cwnd(u);
	c->cwnd = (uint32_t)cw;
}

/* A packet at seq was lost: half the window, once per window of data. */
void utp_cc_loss(struct utp *u, struct conn *c, uint16_t seq)
{
	/* loss_seq lies in [una, seq_nr]: packets before it were sent before
	 * the last reduction */
	if ((uint16_t)(seq - c->una) < (uint16_t)(c->loss_seq - c->una))
		return;
	c->cwnd /= 2;
	if (c->cwnd < utp_cc_min_cwnd(u))
		c->cwnd = utp_cc_min_cwnd(u);
	c->ss = 0;
	c->ssthresh = c->cwnd;
	c->loss_seq = c->seq_nr;
}

/* RTO from the estimates (RFC 6298 §2), within the configured bounds. */
void utp_cc_rto_set(struct utp *u, struct conn *c)
{
	uint32_t v = c->srtt + (4 * c->rttvar > 1000 ? 4 * c->rttvar : 1000);

	if (v < u->cfg.rto_min_ms * 1000)
		v = u->cfg.rto_min_ms * 1000;
	if (v > u->cfg.rto_max_ms * 1000)
		v = u->cfg.rto_max_ms * 1000;
	c->rto = v;
}

void utp_cc_rtt_sample(struct utp *u, struct conn *c, uint64_t now, uint64_t sent)
{
	uint32_t s = (uint32_t)(now - sent > 60000000 ? 60000000 : now - sent);

	if (!c->srtt) {
		c->srtt = s ? s : 1;
		c->rttvar = s / 2;
	} else {
		uint32_t err = c->srtt > s ? c->srtt - s : s - c->srtt;

		c->rttvar = (3 * c->rttvar + err) / 4;
		c->srtt = (7 * c->srtt + s) / 8;
		if (!c->srtt)
			c->srtt = 1;
	}
	utp_cc_rto_set(u, c);
}
