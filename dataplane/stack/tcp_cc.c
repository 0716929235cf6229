/*
 * tcp_cc: NewReno congestion control (RFC 5681) with IW10 (RFC 6928) and
 * appropriate byte counting (RFC 3465, L = 2 SMSS: a Linux receiver ACKs
 * every other segment, and slow start must still double per round trip).
 */
#include "tcp_int.h"

static uint32_t initial_window(const struct tcp_conn *c)
{
	/* RFC 6928: min(10*MSS, max(2*MSS, 14600)) */
	uint32_t a = 10 * c->smss, b = 2 * c->smss > 14600 ? 2 * c->smss : 14600;
	return a < b ? a : b;
}

static void reno_init(struct tcp_conn *c)
{
	c->cwnd = initial_window(c);
	c->ssthresh = UINT32_MAX;
	c->cc_acc = 0;
}

static void reno_on_ack(struct tcp_conn *c, uint32_t acked, uint64_t now_us)
{
	(void)now_us;
	if (c->cwnd < c->ssthresh) {
		uint32_t inc = acked < 2 * c->smss ? acked : 2 * c->smss;
		c->cwnd = c->cwnd + inc < c->cwnd ? UINT32_MAX : c->cwnd + inc;
		return;
	}
	/* one SMSS per cwnd of bytes acknowledged (RFC 5681 eq. 3, by bytes) */
	c->cc_acc += acked;
	if (c->cc_acc >= c->cwnd) {
		c->cc_acc -= c->cwnd;
		if (c->cwnd <= UINT32_MAX - c->smss)
			c->cwnd += c->smss;
	}
}

static uint32_t half_flight(const struct tcp_conn *c, uint32_t flight)
{
	uint32_t h = flight / 2;
	return h > 2 * c->smss ? h : 2 * c->smss;
}

static void reno_on_loss(struct tcp_conn *c, uint32_t flight)
{
	c->ssthresh = half_flight(c, flight);
	c->cwnd = c->ssthresh;
	c->cc_acc = 0;
}

static void reno_on_recovered(struct tcp_conn *c)
{
	c->cwnd = c->ssthresh;
}

static void reno_on_rto(struct tcp_conn *c, uint32_t flight)
{
	c->ssthresh = half_flight(c, flight);
	c->cwnd = c->smss;
	c->cc_acc = 0;
}

static void reno_on_idle_restart(struct tcp_conn *c)
{
	uint32_t iw = initial_window(c);
	if (c->cwnd > iw)
		c->cwnd = iw;
}

const struct tcp_cc_ops tcp_cc_reno = {
	.name = "reno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.on_loss = reno_on_loss,
	.on_recovered = reno_on_recovered,
	.on_rto = reno_on_rto,
	.on_idle_restart = reno_on_idle_restart,
};
