/*
 * fuzz_utp: libFuzzer target for dataplane/proto/utp.c, the uTP input path.
 *
 * Input: byte 0 flags, bytes 1-2 a PRNG seed, then records, each a 2-byte
 * big-endian length L and L bytes: one datagram to the engine. Flags:
 *   bit 0  start with a completed handshake from the fuzzer's address (a
 *          SYN, then the first DATA with the cookie the engine answered),
 *          so later records reach a live connection
 *   bit 1  rewrite each record's connection id, seq and ack to fit that
 *          connection (ack within what the engine sent), so the fuzzer
 *          explores the state machine rather than the lookup
 *   bit 2  the engine also sends (queued data), so acks and SACKs matter
 *   bit 3  the engine opened a connection of its own to the second peer,
 *          answered (records come from that peer unless bit 0 is set)
 *   bit 4  a record's address alternates between the two peers
 *   bit 5  the engine closes live connections now and then (utp_close)
 *   bit 6  ... or aborts them (utp_abort)
 * Between records virtual time moves on by a PRNG amount and the engine
 * is polled when due; out arrays are small and of PRNG size, so "no room"
 * paths run.
 *
 * Checked on every call (a violation aborts):
 *  - every datagram out parses, is version 1, at most packet_size plus a
 *    SACK, and its payload slices lie inside the memory we queued;
 *  - DATA events carry bytes of the connection's stream in order: the
 *    harness knows nothing of the content but checks that the count only
 *    grows and that no event names a free slot;
 *  - ACKED cookies arrive in send order, once, and all before CLOSED;
 *  - nothing is reported for a connection after its CLOSED;
 *  - every connection's bytes in flight, window, queue and RTO stay within
 *    their configured bounds;
 *  - at the end, after quiet time, every connection is closed (idle
 *    timeout) and every slot is free.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteio.h"
#include "utp.h"
#include "xorshift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_utp: %s\n", what);
		abort();
	}
}

#define CONNS 4

static uint8_t src[1 << 16];
static uint32_t rng_state;

static uint32_t rnd(void)
{
	return xorshift32(&rng_state);
}

static const struct utp_addr PEER[2] = {
	{ UTP_AF_INET, 0, 4000, { 192, 0, 2, 1 } },
	{ UTP_AF_INET6, 0, 4001, { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 } },
};

struct track {
	int live, closed;
	uint64_t cookie_next, cookie_acked;
	uint64_t data_bytes;
	uint16_t last_seq_out; /* the engine's last DATA seq to the fuzzer */
	uint16_t peer_seq;     /* the fuzzer's next seq */
	uint16_t id;	       /* connection id the fuzzer sends with */
	int have_seq;
};

static struct track tr[CONNS];
static struct utp_config cfg;

static void run(struct utp_out *o)
{
	check(o->ntx <= o->txcap && o->nev <= o->evcap, "out overflow");
	for (uint32_t i = 0; i < o->ntx; i++) {
		const struct utp_tx *t = &o->tx[i];
		struct utp_hdr h;
		size_t fault;

		check(utp_parse(t->hdr, t->hdr_len, &h, &fault) == 0, "we sent a bad header");
		check(h.data_off == t->hdr_len, "header length");
		check(t->hdr_len + t->pay_len <= cfg.packet_size + 34, "datagram over packet_size");
		{
			uint32_t sum = 0;

			for (uint32_t k = 0; k < t->n_pay; k++) {
				check(t->pay[k].p >= src &&
					      t->pay[k].p + t->pay[k].len <= src + sizeof(src),
				      "payload outside what was queued");
				sum += t->pay[k].len;
			}
			check(sum == t->pay_len, "slice sum");
		}
		if (t->conn < CONNS && h.type == UTP_ST_DATA) {
			tr[t->conn].last_seq_out = h.seq;
			tr[t->conn].have_seq = 1;
		}
	}
	for (uint32_t i = 0; i < o->nev; i++) {
		const struct utp_ev *e = &o->ev[i];
		struct track *t;

		check(e->conn < CONNS, "event for a slot that does not exist");
		t = &tr[e->conn];
		switch (e->kind) {
		case UTP_EV_ACCEPT:
		case UTP_EV_CONNECTED:
			if (e->kind == UTP_EV_ACCEPT) {
				check(!t->live, "ACCEPT on a live slot");
				memset(t, 0, sizeof(*t));
				t->live = 1;
			}
			check(t->live, "CONNECTED on a free slot");
			break;
		case UTP_EV_DATA:
			check(t->live && !t->closed, "DATA on a closed slot");
			check(e->len > 0 && e->data, "empty DATA");
			t->data_bytes += e->len;
			break;
		case UTP_EV_PEER_FIN: check(t->live && !t->closed, "FIN on a closed slot"); break;
		case UTP_EV_ACKED:
			check(t->live && !t->closed, "ACKED after CLOSED");
			check(e->cookie == t->cookie_acked, "ACKED out of order");
			t->cookie_acked++;
			break;
		case UTP_EV_CLOSED:
			check(t->live && !t->closed, "CLOSED twice");
			check(t->cookie_acked == t->cookie_next, "CLOSED before every ACKED");
			t->live = 0;
			t->closed = 0;
			break;
		default: check(0, "unknown event");
		}
	}
}

/* The engine's accounting stays within its bounds whatever came in. */
static void invariants(const struct utp *u)
{
	uint32_t payload = cfg.packet_size - UTP_HDR_LEN, live = 0;

	for (uint32_t c = 0; c < CONNS; c++) {
		struct utp_conn_info ci;

		if (utp_conn_info(u, c, &ci))
			continue;
		live++;
		check(ci.flight <= (cfg.max_packets - 1) * payload,
		      "bytes in flight over the ring");
		check(ci.cwnd >= payload && ci.cwnd <= (cfg.max_packets - 1) * payload,
		      "window out of bounds");
		check(ci.queued <= cfg.sndbuf, "queued over sndbuf");
		check(ci.rto_us >= cfg.rto_min_ms * 1000 || ci.rto_us == cfg.rto_init_ms * 1000,
		      "RTO under its floor");
		check(ci.rto_us <= cfg.rto_max_ms * 1000, "RTO over its ceiling");
	}
	check(live == utp_conns(u), "live slots and the count disagree");
}

static void feed(struct utp *u, int who, const uint8_t *p, size_t n, uint64_t now)
{
	struct utp_tx tx[8];
	struct utp_ev ev[16];
	struct utp_out o = { tx, 0, 1 + rnd() % 8, ev, 0, 16 };

	utp_input(u, &PEER[who], p, n, now, &o);
	run(&o);
	invariants(u);
}

static void poll(struct utp *u, uint64_t now)
{
	struct utp_tx tx[8];
	struct utp_ev ev[16];
	struct utp_out o = { tx, 0, 1 + rnd() % 8, ev, 0, 1 + rnd() % 16 };

	if (utp_next_deadline(u) > now)
		return;
	utp_poll(u, now, &o);
	run(&o);
	invariants(u);
}

/*
 * Sends *h (with "hi" when it is DATA) from PEER[who], or polls when h is
 * NULL, with room for everything; returns the header of the first
 * datagram out (type 0xff when there is none).
 */
static struct utp_hdr exchange(struct utp *u, int who, const struct utp_hdr *h, uint64_t now)
{
	struct utp_tx tx[4];
	struct utp_ev ev[8];
	struct utp_out o = { tx, 0, 4, ev, 0, 8 };
	struct utp_hdr a = { .type = 0xff };
	uint8_t b[64];
	size_t n, fault;

	if (h) {
		n = utp_build(b, h);
		if (h->type == UTP_ST_DATA) {
			memcpy(b + n, "hi", 2);
			n += 2;
		}
		utp_input(u, &PEER[who], b, n, now, &o);
	} else {
		utp_poll(u, now, &o);
	}
	run(&o);
	if (o.ntx)
		check(utp_parse(tx[0].hdr, tx[0].hdr_len, &a, &fault) == 0, "answer");
	return a;
}

static void queue_data(struct utp *u)
{
	for (uint32_t c = 0; c < CONNS; c++) {
		struct iovec v[2];
		uint32_t off = rnd() % (sizeof(src) - 3000);

		if (!tr[c].live)
			continue;
		v[0].iov_base = src + off;
		v[0].iov_len = 13;
		v[1].iov_base = src + off + 13;
		v[1].iov_len = 1 + rnd() % 2900;
		if (utp_send(u, c, v, 2, tr[c].cookie_next) == 0)
			tr[c].cookie_next++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct utp *u;
	uint64_t now = 0xfffffff0ull * 1000; /* 32-bit timestamps wrap during a run */
	uint8_t flags, b[2048];
	struct seed_err err;

	if (size < 3)
		return 0;
	flags = data[0];
	rng_state = byteio_be16(data + 1) * 2654435761u + 1;
	data += 3;
	size -= 3;
	utp_config_default(&cfg);
	cfg.max_conns = CONNS;
	cfg.max_packets = 32;
	cfg.max_sends = 16;
	cfg.rcv_buf = 4096;
	cfg.max_reorder = 8;
	cfg.packet_size = 600;
	for (int i = 0; i < 16; i++)
		cfg.secret[i] = (uint8_t)i;
	memset(tr, 0, sizeof(tr));
	check(utp_create(&cfg, &u, &err) == 0, "create");

	if (flags & 1) {
		/* a SYN and the first DATA with the answer's cookie */
		struct utp_hdr h = { UTP_ST_SYN, 1, 1000, 1, 0, 65536, 65534, 0, NULL, 0, 0 };

		h = exchange(u, 0, &h, now);
		check(h.type == UTP_ST_STATE, "SYN unanswered");
		h.type = UTP_ST_DATA;
		h.conn_id = 1001;
		h.ack = (uint16_t)(h.seq - 1);
		h.seq = 65535;
		exchange(u, 0, &h, now);
		check(tr[0].live || tr[1].live || tr[2].live || tr[3].live, "handshake");
		for (int c = 0; c < CONNS; c++)
			if (tr[c].live)
				tr[c].id = 1001;
	}
	if (flags & 8) {
		/* our own connection to peer 1, answered: its SYN's id is
		 * where the fuzzer's datagrams go */
		struct utp_hdr h;
		uint32_t id;

		check(utp_connect(u, &PEER[1], NULL, now, &id) == 0, "connect");
		tr[id].live = 1;
		h = exchange(u, 1, NULL, now);
		check(h.type == UTP_ST_SYN, "SYN");
		tr[id].id = h.conn_id;
		tr[id].peer_seq = 20001;
		h.type = UTP_ST_STATE;
		h.ack = h.seq;
		h.seq = 20000;
		h.ts_us = 5;
		h.wnd = 65536;
		exchange(u, 1, &h, now);
	}
	while (size >= 2) {
		size_t n = byteio_be16(data);
		int who = (flags & 16) ? (int)(rnd() & 1) : (flags & 8) && !(flags & 1);

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		if (n > sizeof(b))
			n = sizeof(b);
		memcpy(b, data, n);
		data += n;
		size -= n;
		if ((flags & 2) && n >= 20) {
			for (int c = 0; c < CONNS; c++) {
				if (!tr[c].live || !tr[c].id)
					continue;
				byteio_put_be16(b + 2, tr[c].id);
				byteio_put_be16(b + 16, (uint16_t)(tr[c].peer_seq + (b[16] & 7)));
				if (tr[c].have_seq)
					byteio_put_be16(b + 18, (uint16_t)(tr[c].last_seq_out -
									   (b[18] & 15)));
				if ((b[0] >> 4) == UTP_ST_DATA && !(b[16] & 7))
					tr[c].peer_seq++;
				break;
			}
		}
		if (flags & 4)
			queue_data(u);
		for (uint32_t c = 0; c < CONNS; c++) {
			if (!tr[c].live)
				continue;
			if ((flags & 32) && rnd() % 16 == 0)
				utp_close(u, c);
			if ((flags & 64) && rnd() % 64 == 0)
				utp_abort(u, c);
		}
		feed(u, who, b, n, now);
		now += rnd() % 16 ? rnd() % 50000 : rnd() % 5000000;
		poll(u, now);
	}
	/* quiet: every connection ends (idle timeout, FIN timeout, resends) */
	for (int k = 0; k < 400 && utp_conns(u); k++) {
		now += 1000000;
		poll(u, now);
		poll(u, now);
	}
	check(utp_conns(u) == 0, "a connection outlived its timeouts");
	utp_destroy(u);
	return 0;
}
