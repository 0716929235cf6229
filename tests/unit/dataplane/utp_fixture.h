/*
 * utp_fixture: what both uTP engine test files use (test_utp.c, the
 * scripted peer; test_utp_sim.c, two engines over a simulated link): the
 * engine's output arrays, a scripted initiator that writes its datagrams
 * from BEP 29 byte by byte, a payload pattern, and the peer clocks' skews.
 */
#ifndef SEED_TEST_UTP_FIXTURE_H
#define SEED_TEST_UTP_FIXTURE_H

#define MAYBE_UNUSED __attribute__((unused))

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "utp.h"

MAYBE_UNUSED static const struct utp_addr SRV = { UTP_AF_INET, 0, 6881, { 10, 0, 0, 1 } };
MAYBE_UNUSED static const struct utp_addr CLI = { UTP_AF_INET, 0, 51413, { 10, 0, 0, 2 } };

#define T0 5000000000ull /* engines' clocks start here (µs): 32-bit timestamps wrap soon */

/* ---- engine, outputs ---- */

struct io {
	struct utp_tx tx[128];
	struct utp_ev ev[128];
	struct utp_out out;
};

MAYBE_UNUSED static void io_reset(struct io *o)
{
	o->out = (struct utp_out){ o->tx, 0, 128, o->ev, 0, 128 };
}

MAYBE_UNUSED static struct utp_config base_cfg(void)
{
	struct utp_config c;

	utp_config_default(&c);
	c.max_conns = 8;
	c.max_packets = 64;
	c.max_sends = 64;
	c.rcv_buf = 16384;
	c.max_reorder = 16;
	for (int i = 0; i < 16; i++)
		c.secret[i] = (uint8_t)(0x5a + i * 7);
	return c;
}

MAYBE_UNUSED static struct utp *mk(const struct utp_config *c)
{
	struct utp *u;
	struct seed_err err = { 0 };

	cr_assert_eq(utp_create(c, &u, &err), 0, "%s", err.msg);
	return u;
}

/* A datagram: the header of tx and its payload slices, in one buffer. */
MAYBE_UNUSED static size_t flat(const struct utp_tx *t, uint8_t *b)
{
	size_t n = t->hdr_len;

	memcpy(b, t->hdr, t->hdr_len);
	for (unsigned i = 0; i < t->n_pay; i++) {
		memcpy(b + n, t->pay[i].p, t->pay[i].len);
		n += t->pay[i].len;
	}
	cr_assert_eq(n, t->hdr_len + t->pay_len);
	return n;
}

MAYBE_UNUSED static struct utp_hdr hdr_of(const struct utp_tx *t)
{
	struct utp_hdr h;
	size_t fault;

	cr_assert_eq(utp_parse(t->hdr, t->hdr_len, &h, &fault), 0, "we sent a bad header");
	return h;
}

MAYBE_UNUSED static int n_ev(const struct io *o, enum utp_ev_kind k)
{
	int n = 0;

	for (uint32_t i = 0; i < o->out.nev; i++)
		n += o->ev[i].kind == k;
	return n;
}

MAYBE_UNUSED static const struct utp_ev *find_ev(const struct io *o, enum utp_ev_kind k)
{
	for (uint32_t i = 0; i < o->out.nev; i++)
		if (o->ev[i].kind == k)
			return &o->ev[i];
	return NULL;
}

/* ---- the scripted initiator ---- */

MAYBE_UNUSED static size_t mkpkt(uint8_t *b, int type, uint16_t id, uint32_t ts, uint32_t tsd,
				 uint32_t wnd, uint16_t seq, uint16_t ack, const uint8_t *sack,
				 uint8_t sack_len, const void *pay, size_t plen)
{
	struct utp_hdr h = { 0 };
	size_t n;

	h.type = (uint8_t)type;
	h.conn_id = id;
	h.ts_us = ts;
	h.ts_diff_us = tsd;
	h.wnd = wnd;
	h.seq = seq;
	h.ack = ack;
	h.sack = sack;
	h.sack_len = sack_len;
	n = utp_build(b, &h);
	if (plen)
		memcpy(b + n, pay, plen);
	return n + plen;
}

MAYBE_UNUSED static void in(struct utp *u, struct io *o, const uint8_t *b, size_t n, uint64_t now)
{
	io_reset(o);
	utp_input(u, &CLI, b, n, now, &o->out);
}

/* A datagram of the scripted client (timestamp 1, no timestamp
 * difference, a 64 KiB window, no SACK) into u at now. */
MAYBE_UNUSED static void raw(struct utp *u, struct io *o, int type, uint16_t id, uint16_t seq,
			     uint16_t ack, const void *pay, size_t plen, uint64_t now)
{
	uint8_t b[2048];
	size_t n = mkpkt(b, type, id, 1, 0, 65536, seq, ack, NULL, 0, pay, plen);

	in(u, o, b, n, now);
}

/* A SYN (id, seq) at now: the cookie it is answered with. */
MAYBE_UNUSED static uint16_t syn_cookie(struct utp *u, struct io *o, uint16_t id, uint16_t seq,
					uint64_t now)
{
	raw(u, o, UTP_ST_SYN, id, seq, 0, NULL, 0, now);
	cr_assert_eq(o->out.ntx, 1, "SYN unanswered");
	return hdr_of(&o->tx[0]).seq;
}

MAYBE_UNUSED static void poll_at(struct utp *u, struct io *o, uint64_t now)
{
	io_reset(o);
	utp_poll(u, now, &o->out);
}

/* A scripted client's view of one connection. */
struct sc {
	struct utp *u;
	struct io o;
	uint32_t conn;
	uint16_t id;	  /* the client's recv_id (the SYN's connection id) */
	uint16_t seq;	  /* the client's next sequence number */
	uint16_t srv_seq; /* the server's first sequence number */
	uint16_t ack;	  /* last server packet the client has in order */
	uint64_t now;
};

/* When sc_open runs (0: T0). */
MAYBE_UNUSED static uint64_t sc_t0;

/* SYN(id, syn_seq), then DATA "hello": the server accepts. */
MAYBE_UNUSED static void sc_open(struct sc *s, struct utp *u, uint16_t id, uint16_t syn_seq)
{
	uint8_t b[256];
	size_t n;
	struct utp_hdr h;
	const struct utp_ev *e;

	uint32_t conns = utp_conns(u);

	memset(s, 0, sizeof(*s));
	s->u = u;
	s->id = id;
	s->now = sc_t0 ? sc_t0 : T0;
	n = mkpkt(b, UTP_ST_SYN, id, 1000, 0, 65536, syn_seq, 0, NULL, 0, NULL, 0);
	in(u, &s->o, b, n, s->now);
	cr_assert_eq(s->o.out.ntx, 1);
	cr_assert_eq(s->o.out.nev, 0);
	cr_assert_eq(utp_conns(u), conns, "a SYN took a slot");
	h = hdr_of(&s->o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_STATE);
	cr_assert_eq(h.conn_id, id, "the answer goes to the SYN's id (our send_id)");
	cr_assert_eq(h.ack, syn_seq);
	cr_assert_eq(s->o.tx[0].pay_len, 0);
	s->srv_seq = h.seq;
	s->ack = (uint16_t)(h.seq - 1);
	s->seq = (uint16_t)(syn_seq + 1);
	n = mkpkt(b, UTP_ST_DATA, (uint16_t)(id + 1), 2000, 0, 65536, s->seq, s->ack, NULL, 0,
		  "hello", 5);
	in(u, &s->o, b, n, s->now);
	s->seq++;
	e = find_ev(&s->o, UTP_EV_ACCEPT);
	cr_assert(e, "no ACCEPT");
	cr_assert_eq(memcmp(&e->peer, &CLI, sizeof(CLI)), 0);
	s->conn = e->conn;
	e = find_ev(&s->o, UTP_EV_DATA);
	cr_assert(e && e->len == 5 && !memcmp(e->data, "hello", 5));
	cr_assert_eq(utp_conns(u), conns + 1);
	cr_assert_eq(s->o.out.ntx, 1, "the DATA is acknowledged");
	h = hdr_of(&s->o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_STATE);
	cr_assert_eq(h.conn_id, id);
	cr_assert_eq(h.ack, (uint16_t)(syn_seq + 1));
	cr_assert_eq(h.seq, s->srv_seq);
}

/* A packet of the client to the server (conn id = server's recv_id). */
MAYBE_UNUSED static void sc_send(struct sc *s, int type, uint16_t seq, uint16_t ack,
				 const uint8_t *sack, uint8_t sack_len, const void *pay,
				 size_t plen, uint32_t tsd)
{
	static uint8_t b[16384]; /* DATA events point into it until the next call */
	size_t n = mkpkt(b, type, (uint16_t)(s->id + 1), (uint32_t)s->now, tsd, 1 << 20, seq, ack,
			 sack, sack_len, pay, plen);

	in(s->u, &s->o, b, n, s->now);
}

MAYBE_UNUSED static void sc_data(struct sc *s, const void *pay, size_t plen)
{
	sc_send(s, UTP_ST_DATA, s->seq++, s->ack, NULL, 0, pay, plen, 0);
}

MAYBE_UNUSED static void sc_ack(struct sc *s, uint16_t ack)
{
	sc_send(s, UTP_ST_STATE, s->seq, ack, NULL, 0, NULL, 0, 0);
}

/* The DATA packets of the last call, in order: their sequence numbers. */
MAYBE_UNUSED static int data_seqs(const struct io *o, uint16_t *seqs, int cap)
{
	int n = 0;

	for (uint32_t i = 0; i < o->out.ntx && n < cap; i++) {
		struct utp_hdr h = hdr_of(&o->tx[i]);

		if (h.type == UTP_ST_DATA)
			seqs[n++] = h.seq;
	}
	return n;
}

MAYBE_UNUSED static uint8_t pattern[1 << 21];

/* Pseudo-random bytes with a period of half the buffer: a slice may start
 * anywhere in the first half and run on linearly. */
MAYBE_UNUSED static void fill_pattern(void)
{
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(pattern) / 2; i++) {
		x = x * 1103515245u + 12345u;
		pattern[i] = (uint8_t)(x >> 16);
	}
	memcpy(pattern + sizeof(pattern) / 2, pattern, sizeof(pattern) / 2);
}

MAYBE_UNUSED static void sc_queue(struct sc *s, size_t off, size_t len, uint64_t cookie)
{
	struct iovec v = { pattern + off, len };

	cr_assert_eq(utp_send(s->u, s->conn, &v, 1, cookie), 0);
}

/* An engine with cfg (NULL: base_cfg()) and one connection from a scripted
 * client (SYN id 1, sequence 1) on it. */
MAYBE_UNUSED static struct utp *opened(struct sc *s, const struct utp_config *cfg)
{
	struct utp_config c = cfg ? *cfg : base_cfg();
	struct utp *u = mk(&c);

	fill_pattern();
	sc_open(s, u, 1, 1);
	return u;
}

MAYBE_UNUSED static int64_t skew_zero(uint64_t t)
{
	(void)t;
	return 0;
}

MAYBE_UNUSED static int64_t skew_fixed(uint64_t t)
{
	(void)t;
	return -1234567890; /* the peer's clock is far behind ours */
}

MAYBE_UNUSED static int64_t skew_fast(uint64_t t)
{
	return 777000000 + (int64_t)(t / 100); /* 1 % fast */
}

MAYBE_UNUSED static int64_t skew_slow(uint64_t t)
{
	return 777000000 - (int64_t)(t / 100); /* 1 % slow */
}

MAYBE_UNUSED static int64_t skew_jump(uint64_t t)
{
	return t < 30000000 ? 5000 : 5000 + 45000000; /* 45 s forward at 30 s */
}

#endif
