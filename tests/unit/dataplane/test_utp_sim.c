/*
 * Unit tests for dataplane/proto/utp.c: two engines (one as the client)
 * over a simulated link in virtual time — seeded loss, duplication,
 * reordering, delay, a bottleneck queue, a loss-based flow sharing it,
 * clocks that skew, drift and jump, output arrays too small — checking
 * that every byte arrives once and in order, and what LEDBAT does to the
 * queue. UTP_SIM_SEEDS / UTP_SIM_FROM run a longer matrix or replay one.
 */
#include "utp_fixture.h"

/* ---- two engines over a simulated link ---- */

struct dg {
	uint64_t at;
	int to;	  /* 0: server, 1: client (2: the competing flow's ACK) */
	int from; /* many_peers: the client that sent it, -1 the server */
	uint32_t len;
	uint8_t b[1500];
};

#define SIM_MAX 8192

struct end {
	struct utp *u;
	struct utp_addr addr;
	uint64_t off; /* engine clock = T + off */
	uint32_t conn;
	int have, closed, closing, peer_fin, connected;
	int32_t res;
	const char *detail;
	/* what it sends */
	uint64_t total, queued, acked, cookies_sent, cookies_acked;
	/* what it receives */
	uint64_t got, expect;
	size_t src_off; /* its data is pattern[src_off + i % ...] */
	size_t peer_src_off;
};

struct sim {
	struct end e[2];
	struct dg *q[SIM_MAX];
	uint32_t nq;
	uint64_t T;
	uint32_t rng;
	double loss, dup, reorder;
	uint64_t delay_us, rate_Bps, qmax_us;
	uint64_t link_free[2];
	int64_t (*skew)(uint64_t T); /* the client's timestamp clock */
	uint64_t max_in_flight;
	uint64_t dropped;
	/* queueing delay at the bottleneck, server → client, once half the
	 * download is in: sum, count, largest */
	uint64_t q_sum, q_n, q_max;
	uint64_t half;
	/* a loss-based (Reno-like) flow through the same bottleneck, server →
	 * client, from tcp_from to tcp_until (0: none); what each flow got in
	 * its second half (after both settled) */
	uint64_t tcp_from, tcp_until, tcp_cut_at, tcp_bytes;
	double tcp_cwnd, tcp_ssthresh;
	uint32_t tcp_inflight;
	uint64_t mark_at, utp_mark, tcp_mark, utp_share, tcp_share;
};

static uint32_t xrnd(uint32_t *st)
{
	uint32_t x = *st;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*st = x;
	return x;
}

static double xfrac(uint32_t *st)
{
	return (xrnd(st) & 0xffffff) / (double)0x1000000;
}

static uint32_t srnd(struct sim *s)
{
	return xrnd(&s->rng);
}

static double sfrac(struct sim *s)
{
	return xfrac(&s->rng);
}

/* The datagrams in flight: a binary heap by arrival time. */
static void q_push(struct dg **q, uint32_t *nq, struct dg *d)
{
	uint32_t i = (*nq)++;

	q[i] = d;
	while (i && q[(i - 1) / 2]->at > q[i]->at) {
		struct dg *t = q[i];

		q[i] = q[(i - 1) / 2];
		q[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct dg *q_pop(struct dg **q, uint32_t *nq)
{
	struct dg *top = q[0];
	uint32_t i = 0;

	q[0] = q[--*nq];
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;

		if (l < *nq && q[l]->at < q[m]->at)
			m = l;
		if (l + 1 < *nq && q[l + 1]->at < q[m]->at)
			m = l + 1;
		if (m == i)
			break;
		struct dg *t = q[i];
		q[i] = q[m];
		q[m] = t;
		i = m;
	}
	return top;
}

/* A datagram from side `from` enters the link. */
static void link_send(struct sim *s, int from, const struct utp_tx *t)
{
	struct dg *d;
	uint64_t at, ser;
	int copies = sfrac(s) < s->dup ? 2 : 1;

	if (sfrac(s) < s->loss || s->nq + 2 > SIM_MAX) {
		s->dropped++;
		return;
	}
	ser = s->rate_Bps ? (t->hdr_len + t->pay_len + 28) * 1000000ull / s->rate_Bps : 0;
	at = s->link_free[from] > s->T ? s->link_free[from] : s->T;
	if (at - s->T > s->qmax_us) {
		s->dropped++; /* tail drop */
		return;
	}
	s->link_free[from] = at + ser;
	if (from == 0 && s->e[1].got >= s->half) {
		s->q_sum += at - s->T;
		s->q_n++;
		if (at - s->T > s->q_max)
			s->q_max = at - s->T;
	}
	at += ser + s->delay_us;
	for (int k = 0; k < copies; k++) {
		d = malloc(sizeof(*d));
		cr_assert(d);
		d->len = (uint32_t)flat(t, d->b);
		d->to = !from;
		d->at = at + (sfrac(s) < s->reorder ? srnd(s) % 30000 : 0) + k * 1000;
		if (from == 1 && s->skew) {
			/* the client's timestamps come from a skewed clock */
			uint32_t sk = (uint32_t)s->skew(s->T);
			uint32_t ts = byteio_be32(d->b + 4), tsd = byteio_be32(d->b + 8);

			byteio_put_be32(d->b + 4, ts + sk);
			if (tsd)
				byteio_put_be32(d->b + 8, tsd + sk);
		}
		q_push(s->q, &s->nq, d);
	}
}

/* The competing flow sends what its window allows: 1500-byte packets into
 * the bottleneck; a tail drop halves its window (once per round trip),
 * each delivery comes back as an ACK one round trip later (a dg to 2). */
static void tcp_send(struct sim *s)
{
	while (s->T >= s->tcp_from && s->T < s->tcp_until && s->tcp_inflight < s->tcp_cwnd) {
		uint64_t at = s->link_free[0] > s->T ? s->link_free[0] : s->T;
		uint64_t ser = 1528 * 1000000ull / s->rate_Bps;
		struct dg *d;

		if (at - s->T > s->qmax_us) {
			if (s->T >= s->tcp_cut_at) {
				s->tcp_cwnd = s->tcp_cwnd / 2 > 2 ? s->tcp_cwnd / 2 : 2;
				s->tcp_ssthresh = s->tcp_cwnd;
				s->tcp_cut_at = at + 2 * s->delay_us;
			}
			return;
		}
		s->link_free[0] = at + ser;
		d = malloc(sizeof(*d));
		cr_assert(d);
		d->to = 2;
		d->len = 0;
		d->at = at + ser + 2 * s->delay_us;
		q_push(s->q, &s->nq, d);
		s->tcp_inflight++;
	}
}

static void tcp_ack(struct sim *s)
{
	s->tcp_inflight--;
	s->tcp_bytes += 1500;
	s->tcp_cwnd += s->tcp_cwnd < s->tcp_ssthresh ? 1 : 1 / s->tcp_cwnd;
	tcp_send(s);
}

static void end_refill(struct sim *s, struct end *e)
{
	while (e->have && !e->closed && e->queued < e->total) {
		uint64_t len = e->total - e->queued;
		struct iovec v[2];
		int n = 1;

		if (len > 16384 + 13)
			len = 16384 + 13;
		/* like peer wire: a 13-byte header slice and a block slice */
		v[0].iov_base = pattern + (e->src_off + e->queued) % (sizeof(pattern) / 2);
		v[0].iov_len = len < 13 ? len : 13;
		if (len > 13) {
			v[1].iov_base = (uint8_t *)v[0].iov_base + 13;
			v[1].iov_len = len - 13;
			n = 2;
		}
		if (utp_send(e->u, e->conn, v, n, e->cookies_sent) != 0)
			break;
		e->cookies_sent++;
		e->queued += len;
	}
	/* the application closes once it sent everything and got everything */
	if (e->have && !e->closed && !e->closing && e->queued == e->total && e->got == e->expect) {
		e->closing = 1;
		utp_close(e->u, e->conn);
	}
	(void)s;
}

static void sim_out(struct sim *s, int side, struct io *o)
{
	struct end *e = &s->e[side];

	for (uint32_t i = 0; i < o->out.ntx; i++)
		link_send(s, side, &o->tx[i]);
	for (uint32_t i = 0; i < o->out.nev; i++) {
		const struct utp_ev *v = &o->ev[i];

		switch (v->kind) {
		case UTP_EV_ACCEPT:
			cr_assert_eq(side, 0);
			cr_assert_eq(e->have, 0, "a second ACCEPT");
			e->have = 1;
			e->conn = v->conn;
			break;
		case UTP_EV_CONNECTED:
			cr_assert_eq(side, 1);
			e->connected = 1;
			break;
		case UTP_EV_DATA: {
			struct end *p = &s->e[!side];

			cr_assert_eq(v->conn, e->conn);
			cr_assert_leq(e->got + v->len, e->expect, "more bytes than sent");
			for (uint32_t k = 0; k < v->len; k++) {
				uint64_t at = (p->src_off + e->got + k) % (sizeof(pattern) / 2);

				if (v->data[k] != pattern[at])
					cr_assert_fail("side %d byte %llu wrong", side,
						       (unsigned long long)(e->got + k));
			}
			e->got += v->len;
			break;
		}
		case UTP_EV_PEER_FIN:
			cr_assert_eq(e->got, e->expect, "FIN before every byte");
			e->peer_fin = 1;
			break;
		case UTP_EV_ACKED:
			cr_assert_eq(v->cookie, e->cookies_acked, "ACKED out of order");
			e->cookies_acked++;
			break;
		case UTP_EV_CLOSED:
			if (getenv("UTP_TRACE"))
				fprintf(stderr,
					"T %llu side %d closed %d %s got %llu/%llu fin %d acked "
					"%llu/%llu\n",
					(unsigned long long)s->T, side, v->res, v->detail,
					(unsigned long long)e->got, (unsigned long long)e->expect,
					e->peer_fin, (unsigned long long)e->cookies_acked,
					(unsigned long long)e->cookies_sent);
			e->closed = 1;
			e->res = v->res;
			e->detail = v->detail;
			break;
		}
	}
	end_refill(s, e);
}

struct sim_params {
	uint32_t seed;
	double loss, dup, reorder;
	uint64_t delay_us, rate_Bps;
	uint64_t down, up; /* bytes server → client, client → server */
	int64_t (*skew)(uint64_t T);
	uint64_t limit_us;
	int tight; /* out arrays of 1-4 datagrams and 4-7 events: output waits */
	/* with a bottleneck: the mean queueing delay over the second half of
	 * the download must lie in [q_lo, q_hi] µs (0: not checked) */
	uint64_t q_lo, q_hi;
	uint64_t tcp_from, tcp_until; /* a competing loss-based flow (0: none) */
	/* the server's max_packets and near_packets (0, 0: 256 and the
	 * default) and the most packets it may have in flight (0: 255) */
	uint32_t srv_packets, srv_near, max_flight;
};

/* Runs a transfer to its end; returns the simulated µs it took. */
static uint64_t sim_run(const struct sim_params *p)
{
	static struct sim s;
	struct utp_config c;
	struct io o;
	uint64_t now, last_tr = 0;

	fill_pattern();
	memset(&s, 0, sizeof(s));
	if (getenv("UTP_TRACE"))
		fprintf(stderr,
			"seed %u loss %.2f dup %.2f reorder %.2f delay %llu rate %llu down %llu up "
			"%llu tight %d\n",
			p->seed, p->loss, p->dup, p->reorder, (unsigned long long)p->delay_us,
			(unsigned long long)p->rate_Bps, (unsigned long long)p->down,
			(unsigned long long)p->up, p->tight);
	s.rng = p->seed * 2654435761u + 1;
	s.loss = p->loss;
	s.dup = p->dup;
	s.reorder = p->reorder;
	s.delay_us = p->delay_us;
	s.rate_Bps = p->rate_Bps;
	s.qmax_us = 500000;
	s.skew = p->skew;
	for (int i = 0; i < 2; i++) {
		c = base_cfg();
		c.max_packets = 256;
		c.max_sends = 256;
		/* our window is what we can hold out of order: large enough
		 * for the link to be the limit */
		c.rcv_buf = 1u << 20;
		c.max_reorder = 256;
		/* at 10 % loss each way, three SYN round trips all fail once
		 * in 140: the client keeps trying (a real one falls back to
		 * TCP) */
		c.syn_resends = 12;
		/* the peer's FIN may come after several timeouts: the test
		 * waits for it rather than closing at 10 s without it */
		c.fin_timeout_ms = 120000;
		/* at 10 % loss each way a retransmission and its ACK both get
		 * through 4 times in 5: over a 16 MiB transfer, five timeouts
		 * in a row (the default's end) come now and then; a real
		 * client would redial, the test keeps the one connection. The
		 * server's only: a client that retries its last FIN longer
		 * than its idle timer (the server, done, has forgotten the
		 * connection: uTP has no TIME-WAIT) ends on that timer. */
		c.max_timeouts = i ? 5 : 8;
		c.secret[0] = (uint8_t)i;
		if (!i && p->srv_packets) {
			c.max_packets = p->srv_packets;
			c.near_packets = p->srv_near;
		}
		s.e[i].u = mk(&c);
		s.e[i].addr = i ? CLI : SRV;
		s.e[i].off = i ? 3 * T0 : (0xffffffffull - 3000000); /* both wrap, differently */
		s.e[i].src_off = i ? 777777 : 0;
	}
	s.half = p->down / 2;
	s.tcp_from = p->tcp_from;
	s.tcp_until = p->tcp_until;
	s.tcp_cwnd = 2;
	s.tcp_ssthresh = 1e9;
	s.mark_at = (p->tcp_from + p->tcp_until) / 2;
	s.e[0].total = p->down;
	s.e[1].total = p->up;
	s.e[0].expect = p->up;
	s.e[1].expect = p->down;
	cr_assert_eq(utp_connect(s.e[1].u, &SRV, NULL, s.e[1].off, &s.e[1].conn), 0);
	s.e[1].have = 1;
	end_refill(&s, &s.e[1]);
	while (!(s.e[0].closed && s.e[1].closed)) {
		uint64_t next = s.nq ? s.q[0]->at : UINT64_MAX;

		for (int i = 0; i < 2; i++) {
			uint64_t d = utp_next_deadline(s.e[i].u);

			if (d != UTP_NO_DEADLINE) {
				d = d > s.e[i].off ? d - s.e[i].off : 0;
				if (d < next)
					next = d;
			}
		}
		if (next == UINT64_MAX)
			fprintf(stderr, "T %llu e0 have %d closed %d e1 closed %d conns %u %u\n",
				(unsigned long long)s.T, s.e[0].have, s.e[0].closed, s.e[1].closed,
				utp_conns(s.e[0].u), utp_conns(s.e[1].u));
		cr_assert_neq(next, UINT64_MAX, "nothing left to happen, not closed");
		if (next > s.T)
			s.T = next;
		cr_assert_lt(s.T, p->limit_us,
			     "transfer not done at %llu us: down %llu/%llu up %llu/%llu",
			     (unsigned long long)s.T, (unsigned long long)s.e[1].got,
			     (unsigned long long)p->down, (unsigned long long)s.e[0].got,
			     (unsigned long long)p->up);
		if (s.tcp_until && s.T < s.tcp_from && s.tcp_from < next)
			next = s.tcp_from;
		if (s.tcp_until && s.T < s.tcp_until && s.tcp_until < next)
			next = s.tcp_until;
		if (s.T < s.tcp_until) {
			if (s.T >= s.tcp_from && !s.tcp_inflight)
				tcp_send(&s);
			if (s.T >= s.mark_at && !s.utp_mark) {
				s.utp_mark = s.e[1].got + 1;
				s.tcp_mark = s.tcp_bytes;
			}
		} else if (s.tcp_until && !s.utp_share && s.utp_mark) {
			/* per mille of the link each flow had in the second half */
			uint64_t cap = s.rate_Bps * (s.tcp_until - s.mark_at) / 1000000;

			s.utp_share = 1 + (s.e[1].got + 1 - s.utp_mark) * 1000 / cap;
			s.tcp_share = (s.tcp_bytes - s.tcp_mark) * 1000 / cap;
		}
		while (s.nq && s.q[0]->at <= s.T) {
			struct dg *d = q_pop(s.q, &s.nq);
			struct end *e = &s.e[d->to & 1];
			struct utp_addr from = d->to ? SRV : CLI;

			if (d->to == 2) {
				tcp_ack(&s);
				free(d);
				continue;
			}
			io_reset(&o);
			if (p->tight) {
				o.out.txcap = 1 + srnd(&s) % 4;
				o.out.evcap = UTP_EV_MIN + srnd(&s) % 4;
			}
			utp_input(e->u, &from, d->b, d->len, s.T + e->off, &o.out);
			sim_out(&s, d->to, &o);
			free(d);
		}
		for (int i = 0; i < 2; i++) {
			now = s.T + s.e[i].off;
			if (utp_next_deadline(s.e[i].u) <= now) {
				io_reset(&o);
				if (p->tight) {
					o.out.txcap = 1 + srnd(&s) % 4;
					o.out.evcap = 1 + srnd(&s) % 4;
				}
				utp_poll(s.e[i].u, now, &o.out);
				sim_out(&s, i, &o);
			}
		}
		if (getenv("UTP_TRACE") && s.e[0].have && !s.e[0].closed &&
		    s.T / 1000000 != last_tr) {
			struct utp_conn_info a, b;

			last_tr = s.T / 1000000;
			utp_conn_info(s.e[0].u, s.e[0].conn, &a);
			utp_conn_info(s.e[1].u, s.e[1].conn, &b);
			fprintf(stderr,
				"T %llu srv st %d cwnd %u flight %u pwnd %u rto %u rtx %llu to "
				"%llu q %u | "
				"cli st %d got %llu wnd-ish %u pkts_in %llu\n",
				(unsigned long long)s.T, a.state, a.cwnd, a.flight, a.peer_wnd,
				a.rto_us, (unsigned long long)a.retransmits,
				(unsigned long long)a.timeouts, a.queued, b.state,
				(unsigned long long)s.e[1].got, b.peer_wnd,
				(unsigned long long)b.pkts_in);
		}
		if (s.e[0].have && !s.e[0].closed) {
			struct utp_conn_info ci;

			uint32_t most = p->max_flight ? p->max_flight : 255;

			cr_assert_eq(utp_conn_info(s.e[0].u, s.e[0].conn, &ci), 0);
			cr_assert_leq(ci.flight, most * 1380, "flight %u over %u packets",
				      ci.flight, most);
			cr_assert_leq(ci.cwnd, (p->srv_packets ? p->srv_packets : 256) * 1380);
		}
	}
	for (int i = 0; getenv("UTP_TRACE") && i < 2; i++) {
		const struct utp_stats *st = utp_stats(s.e[i].u);

		fprintf(stderr,
			"side %d: in %llu out %llu bad_ack %llu dup %llu oow %llu ev_short %llu "
			"tx_full %llu rtx %llu fast %llu to %llu cookie_bad %llu no_conn %llu\n",
			i, (unsigned long long)st->datagrams_in,
			(unsigned long long)st->datagrams_out, (unsigned long long)st->bad_ack,
			(unsigned long long)st->dup_packets, (unsigned long long)st->out_of_window,
			(unsigned long long)st->ev_short, (unsigned long long)st->tx_full,
			(unsigned long long)st->retransmits,
			(unsigned long long)st->fast_retransmits, (unsigned long long)st->timeouts,
			(unsigned long long)st->cookie_bad, (unsigned long long)st->no_conn);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(s.e[i].got, s.e[i].expect, "seed %u: side %d got %llu of %llu",
			     p->seed, i, (unsigned long long)s.e[i].got,
			     (unsigned long long)s.e[i].expect);
		cr_assert(s.e[i].peer_fin, "seed %u: side %d saw no FIN (closed %d, %s)", p->seed,
			  i, s.e[i].res, s.e[i].detail);
		cr_assert_eq(s.e[i].cookies_acked, s.e[i].cookies_sent);
		cr_assert_eq(utp_conns(s.e[i].u), 0);
	}
	cr_assert_eq(s.e[1].res, 0, "seed %u: client closed with %d (%s), server %d (%s)", p->seed,
		     s.e[1].res, s.e[1].detail, s.e[0].res, s.e[0].detail);
	if (getenv("UTP_TRACE"))
		fprintf(stderr, "queue mean %llu max %llu us over %llu packets, dropped %llu\n",
			(unsigned long long)(s.q_n ? s.q_sum / s.q_n : 0),
			(unsigned long long)s.q_max, (unsigned long long)s.q_n,
			(unsigned long long)s.dropped);
	if (p->tcp_until) {
		if (getenv("UTP_TRACE"))
			fprintf(stderr, "shares: utp %llu tcp %llu per mille\n",
				(unsigned long long)s.utp_share - 1,
				(unsigned long long)s.tcp_share);
		cr_assert_gt(s.utp_share, 0, "the competing flow ended after the transfer");
		cr_assert_lt(s.utp_share - 1, 100, "uTP kept %llu per mille of a shared link",
			     (unsigned long long)s.utp_share - 1);
		cr_assert_gt(s.tcp_share, 800, "the loss-based flow got only %llu per mille",
			     (unsigned long long)s.tcp_share);
	}
	if (p->q_hi) {
		cr_assert_gt(s.q_n, 100);
		cr_assert_geq(s.q_sum / s.q_n, p->q_lo, "queue %llu us: the link is not used",
			      (unsigned long long)(s.q_sum / s.q_n));
		cr_assert_leq(s.q_sum / s.q_n, p->q_hi, "queue %llu us: LEDBAT does not hold it",
			      (unsigned long long)(s.q_sum / s.q_n));
	}
	while (s.nq)
		free(q_pop(s.q, &s.nq));
	for (int i = 0; i < 2; i++)
		utp_destroy(s.e[i].u);
	return s.T;
}

Test(utp_sim, clean_link)
{
	struct sim_params p = { 1, 0, 0, 0, 20000, 0, 4u << 20, 300000, NULL, 600000000 };

	sim_run(&p);
}

/* A 16 Mbit/s bottleneck with a 500 ms buffer: LEDBAT keeps about 100 ms
 * of it filled (a loss-based sender would fill all 500 ms), also when the
 * client's clock runs 1 % fast. */
Test(utp_sim, bottleneck_queue_near_target)
{
	struct sim_params p = { 2,	0,	   0,	      0, 30000, 2000000, 8u << 20,
				200000, skew_fast, 600000000, 0, 60000, 160000 };
	struct sim_params q = p;

	sim_run(&p);
	q.seed = 3;
	q.skew = skew_fixed;
	sim_run(&q);
}

/* 0-10 % loss, duplication, reordering, one to a few MiB each way. */
Test(utp_sim, lossy_reordering_duplicating)
{
	for (uint32_t seed = 1; seed <= 8; seed++) {
		struct sim_params p = { seed,
					(seed % 6) * 0.02,
					0.01 * (seed % 3),
					0.05 * (seed % 4),
					5000 + 10000 * (seed % 5),
					seed % 2 ? 4000000 : 0,
					(1u << 20) + seed * 262144,
					65536 * seed,
					seed % 3 ? skew_fixed : skew_fast,
					3600000000ull };

		sim_run(&p);
	}
}

/* Output arrays too small for what is due: datagrams and events wait on
 * the dirty list and come out in order on later calls. */
Test(utp_sim, tight_output_arrays)
{
	for (uint32_t seed = 20; seed < 24; seed++) {
		struct sim_params p = { seed,	    0.03,	   0.01,     0.05,
					15000,	    3000000,	   1u << 20, 128u << 10,
					skew_fixed, 3600000000ull, 1 };

		sim_run(&p);
	}
}

/* Timestamps that mean nothing (a broken or lying peer): LEDBAT is fed
 * garbage, the transfer still completes byte-exact (loss and RTO do not
 * depend on them). */
static int64_t skew_garbage(uint64_t t)
{
	return (int64_t)((t / 1000) * 2654435761u);
}

Test(utp_sim, garbage_timestamps)
{
	struct sim_params p = { 30,	0.02,	      0.01,	     0.05, 20000, 3000000, 2u << 20,
				100000, skew_garbage, 3600000000ull, 0,	   0,	  0 };

	sim_run(&p);
}

/* A seeded matrix of 500 transfers (issue 18): 0-10 % loss, up to 3 %
 * duplication, up to 20 % reordering, 1-60 ms one way, 1-8 MB/s or no
 * bottleneck, 1-16 MiB down and up to 256 KiB up, tight output arrays in a
 * third of the runs. */
Test(utp_sim, matrix)
{
	int64_t (*skews[])(uint64_t) = { skew_zero, skew_fixed, skew_fast, skew_slow, skew_jump };

	/* UTP_SIM_SEEDS=n runs n instead (a soak, by hand), from
	 * UTP_SIM_FROM (to replay one) */
	uint32_t n = getenv("UTP_SIM_SEEDS") ? (uint32_t)atoi(getenv("UTP_SIM_SEEDS")) : 500;
	uint32_t from = getenv("UTP_SIM_FROM") ? (uint32_t)atoi(getenv("UTP_SIM_FROM")) : 100;

	for (uint32_t seed = from; seed < from + n; seed++) {
		uint32_t r = seed * 2654435761u;
		struct sim_params p = { 0 };

		r ^= r >> 13;
		p.seed = seed;
		p.loss = (r % 11) / 100.0;
		p.dup = ((r >> 4) % 4) / 100.0;
		p.reorder = ((r >> 6) % 5) / 25.0;
		p.delay_us = 1000 + ((r >> 9) % 60) * 1000;
		p.rate_Bps = (r >> 15) % 3 ? (1 + (r >> 17) % 8) * 1000000ull : 0;
		p.down = (1 + (uint64_t)(r >> 12) % 16) << 20; /* 1-16 MiB (issue 18) */
		p.up = (r >> 20) % 256 * 1024 + 1;
		p.skew = skews[(r >> 24) % 5];
		p.limit_us = 7200000000ull;
		p.tight = (r >> 27) % 3 == 0;
		sim_run(&p);
	}
}

/* A loss-based flow joins the bottleneck after 3 s and leaves at 40 s: uTP
 * yields it nearly all the link (LEDBAT sees the queue it builds as delay
 * over target), then takes the link back and completes. */
Test(utp_sim, yields_to_a_loss_based_flow)
{
	struct sim_params p = { .seed = 40,
				.delay_us = 20000,
				.rate_Bps = 2000000,
				.down = 16u << 20,
				.up = 1000,
				.skew = skew_fixed,
				.limit_us = 600000000,
				.tcp_from = 3000000,
				.tcp_until = 40000000 };

	sim_run(&p);
}

/* A long path (100 ms round trip, a 50 Mbit/s bottleneck): 128 packets in
 * flight at most (the data plane's cap before near_packets) carry 1.8 MB/s,
 * so 16 MiB take over 9 s; with the cap growing with the RTT up to 512,
 * the link is the limit (6.25 MB/s: about 3 s). On a short path the cap
 * stays 128 packets, checked at every step. */
Test(utp_sim, long_path_window_grows_with_rtt)
{
	struct sim_params p = { .seed = 50,
				.delay_us = 50000,
				.rate_Bps = 6250000,
				.down = 16u << 20,
				.up = 1000,
				.skew = skew_fixed,
				.limit_us = 600000000,
				.srv_packets = 128,
				.srv_near = 0,
				.max_flight = 127 };
	uint64_t capped = sim_run(&p);
	p.srv_packets = 512;
	p.srv_near = 128;
	p.max_flight = 511;
	uint64_t grown = sim_run(&p);
	cr_log_info("16 MiB over 100 ms: %.2f s capped at 128 packets, %.2f s growing",
		    capped / 1e6, grown / 1e6);
	cr_assert_gt(capped, 9000000, "128 packets per 100 ms cannot carry 16 MiB in 9 s");
	cr_assert_lt(grown, capped / 2, "the window did not grow with the round trip");
	p.delay_us = 200;
	p.rate_Bps = 0;
	p.max_flight = 128;
	sim_run(&p);
}

/* 128 MiB down (about 97,000 packets: the server's sequence numbers wrap)
 * and 8 MiB up over a mildly lossy, reordering link. */
Test(utp_sim, long_transfer_wraps)
{
	struct sim_params p = { .seed = 77,
				.loss = 0.005,
				.reorder = 0.01,
				.dup = 0.002,
				.delay_us = 5000,
				.down = 128u << 20,
				.up = 8u << 20,
				.skew = skew_fast,
				.limit_us = 3600000000ull };

	sim_run(&p);
}

/* ---- many peers on one engine ---- */

#define MANY 12

struct peer_end {
	struct utp *u; /* the client's engine */
	struct utp_addr addr;
	uint32_t cli_conn, srv_conn;
	int srv_have, srv_closed, cli_closed, cli_closing, srv_closing;
	uint64_t got, queued, sent_cookies, acked_cookies;
};

struct many {
	struct utp *srv;
	struct peer_end p[MANY];
	struct dg *q[SIM_MAX];
	uint32_t nq;
	uint64_t T;
	uint32_t rng;
	double loss;
	uint64_t total;
};

static int many_by_addr(const struct many *m, const struct utp_addr *a)
{
	for (int i = 0; i < MANY; i++)
		if (!memcmp(&m->p[i].addr, a, sizeof(*a)))
			return i;
	cr_assert_fail("a datagram to an address nobody has");
	return -1;
}

static void many_link(struct many *m, int from, int to, const struct utp_tx *t)
{
	struct dg *d;

	if (xfrac(&m->rng) < m->loss || m->nq + 1 > SIM_MAX)
		return;
	d = malloc(sizeof(*d));
	cr_assert(d);
	d->len = (uint32_t)flat(t, d->b);
	d->to = to;
	d->from = from;
	d->at = m->T + 10000 + xrnd(&m->rng) % 20000; /* 10-30 ms: reorders */
	q_push(m->q, &m->nq, d);
}

static void many_refill(struct many *m, int i)
{
	struct peer_end *p = &m->p[i];

	while (p->srv_have && !p->srv_closed && p->queued < m->total) {
		uint64_t len = m->total - p->queued < 5000 ? m->total - p->queued : 5000;
		struct iovec v = { pattern + (i * 4099 + p->queued) % (sizeof(pattern) / 2), len };

		if (utp_send(m->srv, p->srv_conn, &v, 1, p->sent_cookies))
			break;
		p->sent_cookies++;
		p->queued += len;
	}
	if (p->srv_have && !p->srv_closing && p->queued == m->total) {
		p->srv_closing = 1;
		utp_close(m->srv, p->srv_conn);
	}
}

/* Output of the server (side -1) or of client i. */
static void many_out(struct many *m, int side, struct io *o)
{
	for (uint32_t k = 0; k < o->out.ntx; k++)
		many_link(m, side, side < 0 ? many_by_addr(m, &o->tx[k].to) : -1, &o->tx[k]);
	for (uint32_t k = 0; k < o->out.nev; k++) {
		const struct utp_ev *v = &o->ev[k];
		int i = side;

		if (side < 0) {
			for (i = 0; i < MANY; i++)
				if (m->p[i].srv_have && m->p[i].srv_conn == v->conn &&
				    !m->p[i].srv_closed)
					break;
			if (v->kind == UTP_EV_ACCEPT) {
				i = many_by_addr(m, &v->peer);
				cr_assert(!m->p[i].srv_have, "a second ACCEPT for peer %d", i);
				m->p[i].srv_have = 1;
				m->p[i].srv_conn = v->conn;
			}
			cr_assert_lt(i, MANY, "server event %d for no peer", v->kind);
			if (v->kind == UTP_EV_ACKED) {
				cr_assert_eq(v->cookie, m->p[i].acked_cookies);
				m->p[i].acked_cookies++;
			}
			if (v->kind == UTP_EV_CLOSED) {
				cr_assert_eq(v->res, 0, "peer %d closed on the server with %d", i,
					     v->res);
				m->p[i].srv_closed = 1;
			}
			many_refill(m, i);
			continue;
		}
		if (v->kind == UTP_EV_DATA) {
			struct peer_end *p = &m->p[i];

			for (uint32_t b = 0; b < v->len; b++)
				if (v->data[b] !=
				    pattern[(i * 4099 + p->got + b) % (sizeof(pattern) / 2)])
					cr_assert_fail("peer %d byte %llu wrong", i,
						       (unsigned long long)(p->got + b));
			p->got += v->len;
			if (p->got == m->total && !p->cli_closing) {
				p->cli_closing = 1;
				utp_close(p->u, p->cli_conn);
			}
		}
		if (v->kind == UTP_EV_CLOSED) {
			cr_assert_eq(v->res, 0, "peer %d closed with %d (%s)", i, v->res,
				     v->detail);
			m->p[i].cli_closed = 1;
		}
	}
}

/* Twelve peers at once on one engine of 16 slots (its timer heap, lookup
 * table and dirty list with many connections), each downloading 1 MiB
 * over a lossy, reordering link; each sends a 30-byte hello first. */
Test(utp_sim, many_peers_one_engine)
{
	static struct many m;
	struct utp_config c = base_cfg();
	struct io o;
	int done = 0;

	fill_pattern();
	memset(&m, 0, sizeof(m));
	m.rng = 4242;
	m.loss = 0.03;
	m.total = 1u << 20;
	c.max_conns = 16;
	c.max_packets = 128;
	c.max_sends = 128;
	m.srv = mk(&c);
	for (int i = 0; i < MANY; i++) {
		struct utp_config cc = base_cfg();
		struct iovec hello = { pattern, 30 };

		cc.rcv_buf = 1u << 20;
		cc.max_reorder = 256;
		cc.max_conns = 1;
		cc.secret[0] = (uint8_t)(i + 1);
		cc.syn_resends = 12;
		cc.fin_timeout_ms = 120000;
		m.p[i].u = mk(&cc);
		m.p[i].addr = CLI;
		m.p[i].addr.port = (uint16_t)(20000 + i);
		m.p[i].addr.ip[3] = (uint8_t)(i % 3); /* some share an address */
		cr_assert_eq(utp_connect(m.p[i].u, &SRV, NULL, T0, &m.p[i].cli_conn), 0);
		cr_assert_eq(utp_send(m.p[i].u, m.p[i].cli_conn, &hello, 1, 0), 0);
	}
	while (done < MANY) {
		uint64_t next = m.nq ? m.q[0]->at : UINT64_MAX, d;

		for (int i = -1; i < MANY; i++) {
			d = utp_next_deadline(i < 0 ? m.srv : m.p[i].u);
			if (d != UTP_NO_DEADLINE && (d > T0 ? d - T0 : 0) < next)
				next = d > T0 ? d - T0 : 0;
		}
		cr_assert_neq(next, UINT64_MAX, "stalled with %d of %d done", done, MANY);
		if (next > m.T)
			m.T = next;
		cr_assert_lt(m.T, 600000000ull, "not done after 600 s: %d of %d", done, MANY);
		while (m.nq && m.q[0]->at <= m.T) {
			struct dg *dd = q_pop(m.q, &m.nq);

			io_reset(&o);
			if (dd->to < 0) {
				utp_input(m.srv, &m.p[dd->from].addr, dd->b, dd->len, T0 + m.T,
					  &o.out);
				many_out(&m, -1, &o);
			} else {
				utp_input(m.p[dd->to].u, &SRV, dd->b, dd->len, T0 + m.T, &o.out);
				many_out(&m, dd->to, &o);
			}
			free(dd);
		}
		io_reset(&o);
		utp_poll(m.srv, T0 + m.T, &o.out);
		many_out(&m, -1, &o);
		for (int i = 0; i < MANY; i++) {
			io_reset(&o);
			utp_poll(m.p[i].u, T0 + m.T, &o.out);
			many_out(&m, i, &o);
		}
		done = 0;
		for (int i = 0; i < MANY; i++)
			done += m.p[i].srv_closed && m.p[i].cli_closed;
	}
	for (int i = 0; i < MANY; i++) {
		cr_assert_eq(m.p[i].got, m.total);
		cr_assert_eq(m.p[i].acked_cookies, m.p[i].sent_cookies);
		utp_destroy(m.p[i].u);
	}
	cr_assert_eq(utp_conns(m.srv), 0);
	while (m.nq)
		free(q_pop(m.q, &m.nq));
	utp_destroy(m.srv);
}
