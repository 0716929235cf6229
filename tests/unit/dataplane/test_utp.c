/*
 * Unit tests for dataplane/proto/utp.c, the uTP engine, in virtual time,
 * against a scripted peer (utp_fixture.h): the header (parse, build,
 * hostile forms), the handshake (cookies, ids, admission), data both ways
 * across the 16-bit wrap, loss (duplicate ACKs, selective ACKs, RTO),
 * reordering, duplicates, FIN and RESET both ways, timeouts, LEDBAT's
 * window against the measured delay and its base across clock skew, drift,
 * jumps and the 32-bit wrap, the window bounds, hostile input. Long runs of
 * two engines over a simulated link are in test_utp_sim.c.
 */
#include "utp_fixture.h"

/* ---- header ---- */

Test(utp_hdr, build_parse_round_trip_with_sack)
{
	uint8_t b[UTP_HDR_MAX + 8], mask[8] = { 0x81, 0, 0, 0x40, 1, 2, 3, 4 };
	struct utp_hdr h = { 0 }, g;
	size_t n, fault;

	h.type = UTP_ST_STATE;
	h.conn_id = 0xbeef;
	h.ts_us = 0xfffffff0u;
	h.ts_diff_us = 123456;
	h.wnd = 1u << 20;
	h.seq = 65535;
	h.ack = 7;
	h.sack = mask;
	h.sack_len = 8;
	n = utp_build(b, &h);
	cr_assert_eq(n, 20 + 2 + 8);
	/* BEP 29 bytes: type 2 version 1, extension 1 (SACK) */
	cr_assert_eq(b[0], 0x21);
	cr_assert_eq(b[1], 1);
	cr_assert_eq(byteio_be16(b + 2), 0xbeef);
	cr_assert_eq(byteio_be32(b + 4), 0xfffffff0u);
	cr_assert_eq(b[20], 0, "last extension");
	cr_assert_eq(b[21], 8);
	cr_assert_eq(utp_parse(b, n, &g, &fault), 0);
	cr_assert_eq(g.type, UTP_ST_STATE);
	cr_assert_eq(g.ver, 1);
	cr_assert_eq(g.conn_id, 0xbeef);
	cr_assert_eq(g.ts_us, 0xfffffff0u);
	cr_assert_eq(g.ts_diff_us, 123456);
	cr_assert_eq(g.wnd, 1u << 20);
	cr_assert_eq(g.seq, 65535);
	cr_assert_eq(g.ack, 7);
	cr_assert_eq(g.sack_len, 8);
	cr_assert_eq(memcmp(g.sack, mask, 8), 0);
	cr_assert_eq(g.data_off, n);
}

Test(utp_hdr, unknown_extensions_are_skipped)
{
	uint8_t b[64] = { 0x01, 2 }; /* DATA v1, first extension type 2 */
	struct utp_hdr g;
	size_t fault;

	/* ext 2 (8 bytes), then SACK (4 bytes), then payload "xy" */
	b[20] = 1;
	b[21] = 8;
	b[30] = 0;
	b[31] = 4;
	b[32] = 0x05;
	memcpy(b + 36, "xy", 2);
	cr_assert_eq(utp_parse(b, 38, &g, &fault), 0);
	cr_assert_eq(g.sack_len, 4);
	cr_assert_eq(g.sack, b + 32);
	cr_assert_eq(g.data_off, 36);
}

Test(utp_hdr, hostile_headers_refused)
{
	uint8_t b[64];
	struct utp_hdr g;
	size_t fault;

	memset(b, 0, sizeof(b));
	b[0] = 0x01;
	cr_assert_eq(utp_parse(b, 20, &g, &fault), 0);
	cr_assert_eq(utp_parse(b, 19, &g, &fault), -EBADMSG, "short");
	b[0] = 0x02; /* version 2 */
	cr_assert_eq(utp_parse(b, 20, &g, &fault), -EBADMSG, "version");
	b[0] = 0x00; /* version 0 */
	cr_assert_eq(utp_parse(b, 20, &g, &fault), -EBADMSG, "version 0");
	b[0] = 0x51; /* type 5 */
	cr_assert_eq(utp_parse(b, 20, &g, &fault), -EBADMSG, "type");
	b[0] = 0xf1;
	cr_assert_eq(utp_parse(b, 20, &g, &fault), -EBADMSG, "type 15");
	b[0] = 0x01;
	b[1] = 1; /* a SACK announced, no room for its header */
	cr_assert_eq(utp_parse(b, 21, &g, &fault), -EBADMSG, "chain past the end");
	cr_assert_eq(fault, 20);
	b[20] = 0;
	b[21] = 8; /* 8 bytes of mask, 4 there */
	cr_assert_eq(utp_parse(b, 26, &g, &fault), -EBADMSG, "extension length past the end");
	cr_assert_eq(fault, 21);
	b[21] = 0;
	cr_assert_eq(utp_parse(b, 30, &g, &fault), -EBADMSG, "empty SACK");
	b[21] = 3;
	cr_assert_eq(utp_parse(b, 30, &g, &fault), 0, "a SACK of 3 bytes is taken (libutp does)");
	cr_assert_eq(g.sack_len, 3);
	cr_assert_eq(g.data_off, 25);
	b[20] = 1; /* a second SACK after the first */
	b[21] = 4;
	b[26] = 0;
	b[27] = 4;
	cr_assert_eq(utp_parse(b, 32, &g, &fault), -EBADMSG, "two SACKs");
	b[20] = 0;
	cr_assert_eq(utp_parse(b, 32, &g, &fault), 0);
	/* 17 links of an unknown type, each empty: refused (chain bound) */
	memset(b, 0, sizeof(b));
	b[0] = 0x01;
	b[1] = 9;
	for (int i = 0; i < 17; i++) {
		b[20 + 2 * i] = i < 16 ? 9 : 0;
		b[21 + 2 * i] = 0;
	}
	cr_assert_eq(utp_parse(b, 20 + 34, &g, &fault), -EBADMSG, "chain bound");
	{
		uint8_t big[300] = { 0x01, 1 };

		big[20] = 0;
		big[21] = 132; /* over 128 bytes of mask */
		cr_assert_eq(utp_parse(big, 22 + 132, &g, &fault), -EBADMSG, "SACK over 128");
	}
}

/* Hostile datagrams change nothing: no slot, no output, counters only. */
Test(utp_hdr, hostile_datagrams_change_nothing)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct io o;
	uint8_t b[64];
	struct sc s;
	struct utp_conn_info before, after;

	sc_open(&s, u, 100, 10);
	cr_assert_eq(utp_conn_info(u, s.conn, &before), 0);
	memset(b, 0, sizeof(b));
	for (int k = 0; k < 6; k++) {
		size_t n = mkpkt(b, UTP_ST_DATA, 101, 1, 0, 65536, s.seq, s.ack, NULL, 0, "x", 1);

		switch (k) {
		case 0: b[0] = 0x02; break; /* version */
		case 1: b[0] = 0x61; break; /* type 6 */
		case 2: n = 19; break;	    /* short */
		case 3:
			b[1] = 1;
			n = 21;
			break; /* chain past the end */
		case 4:
			b[1] = 1;
			b[20] = 0;
			b[21] = 200;
			break; /* length past the end */
		case 5:
			b[1] = 1;
			b[20] = 0;
			b[21] = 0;
			break; /* empty SACK */
		}
		in(u, &o, b, n, T0 + 1000);
		cr_assert_eq(o.out.ntx, 0, "answered a hostile datagram (%d)", k);
		cr_assert_eq(o.out.nev, 0);
	}
	cr_assert_eq(utp_stats(u)->malformed, 6);
	cr_assert_eq(utp_conn_info(u, s.conn, &after), 0);
	cr_assert_eq(after.pkts_in, before.pkts_in);
	cr_assert_eq(utp_conns(u), 1);
	/* an ack of a packet never sent: dropped before it changes anything */
	sc_send(&s, UTP_ST_STATE, s.seq, (uint16_t)(s.srv_seq + 5), NULL, 0, NULL, 0, 0);
	cr_assert_eq(s.o.out.ntx, 0);
	cr_assert_eq(utp_stats(u)->bad_ack, 1);
	cr_assert_eq(utp_conn_info(u, s.conn, &after), 0);
	cr_assert_eq(after.pkts_in, before.pkts_in);
	utp_destroy(u);
}

/* ---- handshake ---- */

Test(utp_handshake, scripted_initiator)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct sc s;
	struct utp_conn_info ci;

	sc_open(&s, u, 0x1234, 500);
	cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
	cr_assert_eq(ci.state, UTP_CONNECTED);
	cr_assert_eq(ci.recv_id, 0x1235, "recv_id = SYN's id + 1");
	cr_assert_eq(ci.send_id, 0x1234, "send_id = SYN's id");
	cr_assert_eq(utp_stats(u)->syn_in, 1);
	cr_assert_eq(utp_stats(u)->accepts, 1);
	utp_destroy(u);
}

/* The cookie is the same for a resent SYN; a DATA that names another
 * cookie, another id or another SYN sequence is dropped silently. */
Test(utp_handshake, cookie_checked)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct io o;
	uint16_t s1;

	s1 = syn_cookie(u, &o, 77, 9, T0);
	cr_assert_eq(syn_cookie(u, &o, 77, 9, T0 + 500000), s1,
		     "a resent SYN gets the same cookie");
	raw(u, &o, UTP_ST_DATA, 78, 10, (uint16_t)(s1 + 7), "x", 1, T0 + 600000);
	cr_assert_eq(o.out.ntx + o.out.nev, 0);
	raw(u, &o, UTP_ST_DATA, 79, 10, (uint16_t)(s1 - 1), "x", 1, T0 + 600000);
	cr_assert_eq(o.out.ntx + o.out.nev, 0, "another id");
	raw(u, &o, UTP_ST_DATA, 78, 11, (uint16_t)(s1 - 1), "x", 1, T0 + 600000);
	cr_assert_eq(o.out.ntx + o.out.nev, 0, "a later packet first");
	raw(u, &o, UTP_ST_STATE, 78, 10, (uint16_t)(s1 - 1), NULL, 0, T0 + 600000);
	cr_assert_eq(o.out.ntx + o.out.nev, 0, "a STATE makes nothing");
	cr_assert_eq(utp_conns(u), 0);
	cr_assert_eq(utp_stats(u)->cookie_bad, 3);
	/* another address, same everything: another cookie */
	{
		struct utp_addr other = CLI;
		uint8_t b[64];
		size_t n;

		other.ip[3] = 9;
		io_reset(&o);
		n = mkpkt(b, UTP_ST_SYN, 77, 1, 0, 65536, 9, 0, NULL, 0, NULL, 0);
		utp_input(u, &other, b, n, T0, &o.out);
		cr_assert_neq(hdr_of(&o.tx[0]).seq, s1);
	}
	/* the right one, in the next minute: still valid; the ack may also
	 * name the cookie itself */
	raw(u, &o, UTP_ST_DATA, 78, 10, s1, "x", 1, T0 + 61000000);
	cr_assert_eq(n_ev(&o, UTP_EV_ACCEPT), 1);
	/* three minutes later the same cookie is dead */
	s1 = syn_cookie(u, &o, 90, 9, T0);
	raw(u, &o, UTP_ST_DATA, 91, 10, (uint16_t)(s1 - 1), "x", 1, T0 + 180000000);
	cr_assert_eq(n_ev(&o, UTP_EV_ACCEPT), 0);
	utp_destroy(u);
}

/* The SYN resent after the connection exists (our answer lost, the DATA
 * went through) is answered, with the connection's state; a SYN that
 * collides with the id from another sequence number is ignored. */
Test(utp_handshake, resent_syn_and_collision)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct sc s;

	sc_open(&s, u, 300, 40);
	raw(u, &s.o, UTP_ST_SYN, 300, 40, 0, NULL, 0, T0 + 1000);
	cr_assert_eq(s.o.out.ntx, 1);
	cr_assert_eq(hdr_of(&s.o.tx[0]).ack, 41);
	raw(u, &s.o, UTP_ST_SYN, 300, 999, 0, NULL, 0, T0 + 1000);
	cr_assert_eq(s.o.out.ntx, 0);
	cr_assert_eq(utp_conns(u), 1);
	utp_destroy(u);
}

/* An initiator that acknowledges the cookie itself rather than the
 * cookie - 1 (as libutp does) expects our first packet one later: it gets
 * it there. */
Test(utp_handshake, ack_of_the_cookie_itself)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct io o;
	uint8_t b[64];
	size_t n;
	uint16_t ck;
	uint32_t conn;
	struct utp_hdr h;

	fill_pattern();
	ck = syn_cookie(u, &o, 400, 7, T0);
	n = mkpkt(b, UTP_ST_DATA, 401, 2, 0, 65536, 8, ck, NULL, 0, "hi", 2);
	in(u, &o, b, n, T0 + 1000);
	cr_assert_eq(n_ev(&o, UTP_EV_ACCEPT), 1);
	conn = find_ev(&o, UTP_EV_ACCEPT)->conn;
	h = hdr_of(&o.tx[0]);
	cr_assert_eq(h.seq, (uint16_t)(ck + 1), "our next packet");
	cr_assert_eq(utp_send(u, conn, &(struct iovec){ pattern, 10 }, 1, 1), 0);
	poll_at(u, &o, T0 + 2000);
	h = hdr_of(&o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_DATA);
	cr_assert_eq(h.seq, (uint16_t)(ck + 1));
	utp_destroy(u);
}

static int admit_calls;
static int admit_no(void *ctx, const struct utp_addr *peer, uint64_t now, void **out_user)
{
	(void)now;
	(void)out_user;
	admit_calls++;
	cr_assert_eq(memcmp(peer, &CLI, sizeof(CLI)), 0);
	cr_assert_eq(ctx, &admit_calls);
	return -EACCES;
}

static int admit_yes(void *ctx, const struct utp_addr *peer, uint64_t now, void **out_user)
{
	(void)peer;
	(void)now;
	admit_calls++;
	*out_user = ctx;
	return 0;
}

/* Admission is asked once the handshake completes, not on a SYN; a
 * refusal is a RESET and no slot. */
Test(utp_handshake, admission_refused_is_reset)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct io o;
	uint16_t s1;

	c.admit = admit_no;
	c.admit_ctx = &admit_calls;
	u = mk(&c);
	admit_calls = 0;
	s1 = syn_cookie(u, &o, 5, 1, T0);
	cr_assert_eq(admit_calls, 0, "asked on a SYN");
	raw(u, &o, UTP_ST_DATA, 6, 2, (uint16_t)(s1 - 1), "x", 1, T0);
	cr_assert_eq(admit_calls, 1);
	cr_assert_eq(o.out.nev, 0);
	cr_assert_eq(o.out.ntx, 1);
	cr_assert_eq(hdr_of(&o.tx[0]).type, UTP_ST_RESET);
	cr_assert_eq(hdr_of(&o.tx[0]).conn_id, 5, "to the initiator's recv_id");
	cr_assert_eq(utp_conns(u), 0);
	cr_assert_eq(utp_stats(u)->refused, 1);
	utp_destroy(u);
}

Test(utp_handshake, admission_sets_user_and_table_full_resets)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s[3];
	int tag;
	struct io o;
	uint16_t s1;

	c.max_conns = 2;
	c.admit = admit_yes;
	c.admit_ctx = &tag;
	u = mk(&c);
	sc_open(&s[0], u, 10, 1);
	cr_assert_eq(find_ev(&s[0].o, UTP_EV_ACCEPT)->user, &tag);
	cr_assert_eq(find_ev(&s[0].o, UTP_EV_DATA)->user, &tag);
	sc_open(&s[1], u, 20, 1);
	s1 = syn_cookie(u, &o, 30, 1, T0); /* answered even when full: it costs nothing */
	raw(u, &o, UTP_ST_DATA, 31, 2, (uint16_t)(s1 - 1), "x", 1, T0);
	cr_assert_eq(hdr_of(&o.tx[0]).type, UTP_ST_RESET);
	cr_assert_eq(utp_stats(u)->table_full, 1);
	cr_assert_eq(utp_conns(u), 2);
	utp_destroy(u);
}

/* ---- data, wrap-around ---- */

/* A server whose first sequence number is within 40 of 65535 (the cookie
 * decides it: ids are tried until one lands there), a client whose SYN is
 * at 65530: 300 packets each way cross the wrap on both sides. */
Test(utp_data, both_ways_across_the_wrap)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s;
	uint16_t id = 0;
	uint8_t b[64];
	size_t sent = 0, got = 0, up = 0;
	uint8_t rx[300 * 100];

	fill_pattern();
	c.max_packets = 512;
	c.max_sends = 512;
	c.packet_size = 150; /* 130 bytes a packet: many packets */
	u = mk(&c);
	for (uint32_t i = 1; i < 200000; i++) {
		struct io o;
		size_t n =
			mkpkt(b, UTP_ST_SYN, (uint16_t)i, 1, 0, 65536, 65530, 0, NULL, 0, NULL, 0);

		in(u, &o, b, n, T0);
		if (hdr_of(&o.tx[0]).seq > 65535 - 40) {
			id = (uint16_t)i;
			break;
		}
	}
	cr_assert_neq(id, 0, "no cookie near the wrap");
	sc_open(&s, u, id, 65530);
	cr_assert_gt(s.srv_seq, 65495);
	/* client → server: 300 packets of 100 bytes, client seq wraps */
	for (int i = 0; i < 300; i++) {
		sc_data(&s, pattern + 100 * i, 100);
		cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 1);
		const struct utp_ev *e = find_ev(&s.o, UTP_EV_DATA);
		cr_assert_eq(memcmp(e->data, pattern + up, e->len), 0);
		up += e->len;
		cr_assert_eq(hdr_of(&s.o.tx[s.o.out.ntx - 1]).ack, (uint16_t)(s.seq - 1));
	}
	cr_assert_eq(up, 30000);
	/* server → client: 30000 bytes, acked as they come */
	sc_queue(&s, 0, 30000, 1);
	poll_at(u, &s.o, s.now);
	while (got < 30000) {
		int acked = 0;

		for (uint32_t i = 0; i < s.o.out.ntx; i++) {
			struct utp_hdr h = hdr_of(&s.o.tx[i]);
			uint8_t d[2048];
			size_t n = flat(&s.o.tx[i], d);

			if (h.type != UTP_ST_DATA)
				continue;
			cr_assert_eq(h.seq, (uint16_t)(s.ack + 1), "in order on a clean link");
			memcpy(rx + got, d + h.data_off, n - h.data_off);
			got += n - h.data_off;
			s.ack = h.seq;
		}
		acked = n_ev(&s.o, UTP_EV_ACKED);
		cr_assert_lt(++sent, 1000);
		s.now += 10000;
		sc_ack(&s, s.ack);
		if (got == 30000)
			cr_assert_eq(acked + n_ev(&s.o, UTP_EV_ACKED), 1);
	}
	cr_assert_eq(memcmp(rx, pattern, 30000), 0);
	cr_assert_lt(s.ack, 1000, "the server's sequence wrapped");
	utp_destroy(u);
}

/* ---- loss ---- */

/* Sends 10 packets' worth, returns their sequence numbers (first call). */
static int burst(struct sc *s, uint16_t *seqs, size_t bytes)
{
	sc_queue(s, 0, bytes, 1);
	poll_at(s->u, &s->o, s->now);
	return data_seqs(&s->o, seqs, 64);
}

Test(utp_loss, three_duplicate_acks_resend_the_oldest)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	int n;
	struct utp_conn_info ci;

	n = burst(&s, seqs, 4 * 1380);
	cr_assert_eq(n, 4, "initial window of 4 packets");
	/* the first is lost: three STATEs ack nothing new (no SACK) */
	s.now += 50000;
	sc_ack(&s, s.ack);
	cr_assert_eq(s.o.out.ntx, 0);
	sc_ack(&s, s.ack);
	cr_assert_eq(s.o.out.ntx, 0);
	sc_ack(&s, s.ack);
	n = data_seqs(&s.o, seqs, 64);
	cr_assert_eq(n, 1, "fast retransmit");
	cr_assert_eq(seqs[0], s.srv_seq);
	cr_assert_eq(utp_stats(u)->fast_retransmits, 1);
	cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
	cr_assert_eq(ci.cwnd, 2 * 1380, "window halved");
	cr_assert_eq(ci.retransmits, 1);
	/* a fourth duplicate does not resend again */
	sc_ack(&s, s.ack);
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 0);
	/* everything acked: the send is done */
	sc_ack(&s, (uint16_t)(s.srv_seq + 3));
	cr_assert_eq(n_ev(&s.o, UTP_EV_ACKED), 1);
	utp_destroy(u);
}

Test(utp_loss, selective_ack_resends_the_hole)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	uint8_t mask[4] = { 0 };
	int n;

	n = burst(&s, seqs, 4 * 1380);
	cr_assert_eq(n, 4);
	/* packet 0 arrived, 1 lost, 2 and 3 arrived: ack 0, SACK bits for
	 * 2, 3 (bit 0 = ack + 2): not enough (needs 3 after the hole) */
	mask[0] = 0x03;
	s.now += 50000;
	sc_send(&s, UTP_ST_STATE, s.seq, s.srv_seq, mask, 4, NULL, 0, 0);
	n = data_seqs(&s.o, seqs, 64);
	for (int i = 0; i < n; i++)
		cr_assert_neq(seqs[i], (uint16_t)(s.srv_seq + 1), "resent before 3 SACKs");
	/* more data goes out (the window opened); SACK three after the hole */
	sc_queue(&s, 4 * 1380, 4 * 1380, 2);
	poll_at(u, &s.o, s.now);
	mask[0] = 0x07; /* seq +2, +3, +4 */
	sc_send(&s, UTP_ST_STATE, s.seq, s.srv_seq, mask, 4, NULL, 0, 0);
	n = data_seqs(&s.o, seqs, 64);
	cr_assert_geq(n, 1);
	cr_assert_eq(seqs[0], (uint16_t)(s.srv_seq + 1), "the hole is resent first");
	cr_assert_eq(utp_stats(u)->fast_retransmits, 1);
	/* SACK bits beyond anything we sent are ignored, not trusted */
	memset(mask, 0xff, 4);
	sc_send(&s, UTP_ST_STATE, s.seq, (uint16_t)(s.srv_seq + 1), mask, 4, NULL, 0, 0);
	{
		struct utp_conn_info ci;

		cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
		cr_assert_leq(ci.sacks, 8);
	}
	utp_destroy(u);
}

Test(utp_loss, rto_resends_with_backoff_then_gives_up)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	uint64_t t, prev_gap = 0, last = 0;
	uint32_t resends = 0;
	struct utp_conn_info ci;

	cr_assert_eq(burst(&s, seqs, 3 * 1380), 3);
	last = s.now;
	for (t = s.now; t < s.now + 600000000ull && resends < 20; t += 10000) {
		poll_at(u, &s.o, t);
		if (find_ev(&s.o, UTP_EV_CLOSED))
			break;
		if (data_seqs(&s.o, seqs, 64)) {
			uint64_t gap = t - last;

			cr_assert_eq(data_seqs(&s.o, seqs, 64), 1, "one packet after a timeout");
			cr_assert_eq(seqs[0], s.srv_seq, "the oldest");
			if (prev_gap)
				cr_assert_geq(gap, prev_gap * 2 - 20000, "back-off doubles");
			prev_gap = gap;
			last = t;
			resends++;
			if (resends == 1) {
				cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
				cr_assert_eq(ci.cwnd, 1380, "one packet after a timeout");
			}
		}
	}
	cr_assert_eq(resends, base_cfg().max_timeouts);
	{
		const struct utp_ev *e = find_ev(&s.o, UTP_EV_CLOSED);

		cr_assert(e);
		cr_assert_eq(e->res, -ETIMEDOUT);
		cr_assert_str_eq(e->detail, "too many resends");
		cr_assert_eq(n_ev(&s.o, UTP_EV_ACKED), 1, "the queued send is given back first");
		cr_assert_lt(s.o.ev[0].kind == UTP_EV_ACKED ? 0 : 1, 1);
	}
	cr_assert_eq(utp_conns(u), 0);
	utp_destroy(u);
}

/* A peer that drops what it selectively acknowledged (reneging) does not
 * stall us: after a timeout the SACKed packets count as lost again and
 * go out once the window lets them. */
Test(utp_loss, sack_reneging_after_timeout)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	uint8_t mask[4] = { 0x07, 0, 0, 0 };
	int again = 0;

	cr_assert_eq(burst(&s, seqs, 4 * 1380), 4);
	s.now += 50000;
	/* +1, +2, +3 SACKed: the first is resent at once */
	sc_send(&s, UTP_ST_STATE, s.seq, (uint16_t)(s.srv_seq - 1), mask, 4, NULL, 0, 0);
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 1);
	cr_assert_eq(seqs[0], s.srv_seq);
	/* it arrives; the rest was dropped by the peer: only the first is
	 * acknowledged, no SACK */
	sc_ack(&s, s.srv_seq);
	for (uint64_t t = s.now; t < s.now + 10000000 && !again; t += 100000) {
		poll_at(u, &s.o, t);
		for (int i = 0, n = data_seqs(&s.o, seqs, 64); i < n; i++)
			again |= seqs[i] == (uint16_t)(s.srv_seq + 1);
	}
	cr_assert(again, "a packet SACKed and dropped was never resent");
	utp_destroy(u);
}

/* An ACK after an RTO resumes: the window grows again from one packet. */
Test(utp_loss, rto_then_ack_recovers)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	int n;

	cr_assert_eq(burst(&s, seqs, 20 * 1380), 4);
	poll_at(u, &s.o, s.now + 1100000);
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 1);
	s.now += 1200000;
	sc_ack(&s, (uint16_t)(s.srv_seq + 3));
	n = data_seqs(&s.o, seqs, 64);
	cr_assert_geq(n, 1);
	cr_assert_eq(seqs[0], (uint16_t)(s.srv_seq + 4), "new data after the ack");
	utp_destroy(u);
}

/* ---- receive: reordering, duplicates, stale ---- */

Test(utp_recv, reordered_duplicate_and_stale)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct sc s;
	uint16_t base;
	const struct utp_ev *e;
	struct utp_hdr h;

	sc_open(&s, u, 1, 100);
	base = s.seq; /* next client seq */
	/* +2 and +1 arrive before +0 */
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 2), s.ack, NULL, 0, "CC", 2, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	h = hdr_of(&s.o.tx[0]);
	cr_assert_eq(h.ack, (uint16_t)(base - 1));
	cr_assert_eq(h.sack_len, 4, "a SACK for what is held");
	cr_assert_eq(h.sack[0], 0x02, "bit 1: base + 2 (bit 0 is ack + 2 = base + 1)");
	cr_assert_eq(h.wnd, 16384 - 2, "held bytes shrink the window");
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 1), s.ack, NULL, 0, "BBB", 3, 0);
	h = hdr_of(&s.o.tx[0]);
	cr_assert_eq(h.sack[0], 0x03);
	/* a duplicate of a held packet */
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 1), s.ack, NULL, 0, "BBB", 3, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	sc_send(&s, UTP_ST_DATA, base, s.ack, NULL, 0, "A", 1, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 3);
	e = &s.o.ev[0];
	cr_assert(e->len == 1 && e->data[0] == 'A');
	cr_assert(s.o.ev[1].len == 3 && !memcmp(s.o.ev[1].data, "BBB", 3));
	cr_assert(s.o.ev[2].len == 2 && !memcmp(s.o.ev[2].data, "CC", 2));
	h = hdr_of(&s.o.tx[0]);
	cr_assert_eq(h.ack, (uint16_t)(base + 2));
	cr_assert_eq(h.sack_len, 0);
	cr_assert_eq(h.wnd, 16384);
	/* stale (long delivered) and duplicate: acknowledged, not delivered */
	sc_send(&s, UTP_ST_DATA, base, s.ack, NULL, 0, "A", 1, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	cr_assert_eq(s.o.out.ntx, 1, "a duplicate is acknowledged again");
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base - 5000), s.ack, NULL, 0, "Z", 1, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	/* too far ahead (over max_reorder): dropped */
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 3 + 16), s.ack, NULL, 0, "F", 1, 0);
	cr_assert_eq(hdr_of(&s.o.tx[0]).sack_len, 0);
	cr_assert_geq(utp_stats(u)->dup_packets, 3);
	cr_assert_eq(utp_stats(u)->out_of_window, 1);
	utp_destroy(u);
}

/* Out-of-order bytes are bounded by rcv_buf: what does not fit is dropped
 * (and comes again), and the advertised window says so. */
Test(utp_recv, reorder_memory_bounded)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s;
	static uint8_t big[1380];
	uint16_t base;

	c.rcv_buf = 4000;
	u = mk(&c);
	sc_open(&s, u, 1, 100);
	base = s.seq;
	memset(big, 'q', sizeof(big));
	for (int i = 1; i <= 3; i++)
		sc_send(&s, UTP_ST_DATA, (uint16_t)(base + i), s.ack, NULL, 0, big, 1380, 0);
	cr_assert_eq(utp_stats(u)->out_of_window, 1, "the third does not fit");
	cr_assert_eq(hdr_of(&s.o.tx[0]).wnd, 4000 - 2 * 1380);
	sc_send(&s, UTP_ST_DATA, base, s.ack, NULL, 0, "a", 1, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 3);
	cr_assert_eq(hdr_of(&s.o.tx[0]).ack, (uint16_t)(base + 2));
	/* and the arena is reused */
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 4), s.ack, NULL, 0, big, 1380, 0);
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 5), s.ack, NULL, 0, big, 1380, 0);
	sc_send(&s, UTP_ST_DATA, (uint16_t)(base + 3), s.ack, NULL, 0, big, 1380, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 3);
	utp_destroy(u);
}

/* ---- FIN, RESET ---- */

Test(utp_close, peer_fin_then_ours)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	struct utp_hdr h;
	uint16_t fin;

	/* FIN before the last data: the data still comes first */
	fin = (uint16_t)(s.seq + 1);
	sc_send(&s, UTP_ST_FIN, fin, s.ack, NULL, 0, NULL, 0, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_PEER_FIN), 0);
	sc_data(&s, "last", 4);
	cr_assert_eq(s.o.ev[0].kind, UTP_EV_DATA);
	cr_assert_eq(s.o.ev[1].kind, UTP_EV_PEER_FIN);
	cr_assert_eq(hdr_of(&s.o.tx[0]).ack, fin);
	/* data past the FIN is ignored */
	sc_send(&s, UTP_ST_DATA, (uint16_t)(fin + 1), s.ack, NULL, 0, "x", 1, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	/* we close: our FIN goes out, CLOSED once it is acknowledged */
	utp_close(u, s.conn);
	cr_assert_eq(utp_send(u, s.conn, &(struct iovec){ "x", 1 }, 1, 9), -ENOTCONN);
	poll_at(u, &s.o, s.now);
	h = hdr_of(&s.o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_FIN);
	cr_assert_eq(h.seq, s.srv_seq);
	sc_ack(&s, s.srv_seq);
	cr_assert(find_ev(&s.o, UTP_EV_CLOSED));
	cr_assert_eq(find_ev(&s.o, UTP_EV_CLOSED)->res, 0);
	cr_assert_eq(utp_conns(u), 0);
	utp_destroy(u);
}

Test(utp_close, our_fin_after_queued_data_and_timeout)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	struct utp_hdr h;

	sc_queue(&s, 0, 100, 7);
	utp_close(u, s.conn);
	utp_close(u, s.conn); /* idempotent */
	poll_at(u, &s.o, s.now);
	cr_assert_eq(s.o.out.ntx, 2);
	cr_assert_eq(hdr_of(&s.o.tx[0]).type, UTP_ST_DATA);
	h = hdr_of(&s.o.tx[1]);
	cr_assert_eq(h.type, UTP_ST_FIN);
	cr_assert_eq(h.seq, (uint16_t)(s.srv_seq + 1));
	/* a half close: the peer's data still comes */
	sc_data(&s, "zz", 2);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 1);
	sc_ack(&s, (uint16_t)(s.srv_seq + 1));
	cr_assert_eq(n_ev(&s.o, UTP_EV_ACKED), 1);
	cr_assert_eq(n_ev(&s.o, UTP_EV_CLOSED), 0, "the peer's FIN is still due");
	poll_at(u, &s.o, s.now + 11000000);
	cr_assert(find_ev(&s.o, UTP_EV_CLOSED));
	cr_assert_eq(find_ev(&s.o, UTP_EV_CLOSED)->res, 0, "our FIN was acknowledged");
	utp_destroy(u);
}

Test(utp_close, reset_both_ways)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct sc s;
	struct utp_hdr h;
	uint8_t b[64];
	size_t n;

	fill_pattern();
	/* theirs: by our send_id (the SYN's id) */
	sc_open(&s, u, 50, 1);
	sc_queue(&s, 0, 3000, 11);
	n = mkpkt(b, UTP_ST_RESET, 50, 1, 0, 0, 1, 0, NULL, 0, NULL, 0);
	in(u, &s.o, b, n, s.now);
	cr_assert_eq(s.o.ev[0].kind, UTP_EV_ACKED);
	cr_assert_eq(s.o.ev[0].cookie, 11);
	cr_assert_eq(s.o.ev[1].kind, UTP_EV_CLOSED);
	cr_assert_eq(s.o.ev[1].res, -ECONNRESET);
	cr_assert_eq(utp_conns(u), 0);
	/* ... or by our recv_id */
	sc_open(&s, u, 60, 1);
	n = mkpkt(b, UTP_ST_RESET, 61, 1, 0, 0, 1, 0, NULL, 0, NULL, 0);
	in(u, &s.o, b, n, s.now);
	cr_assert_eq(n_ev(&s.o, UTP_EV_CLOSED), 1);
	/* a RESET for another connection changes nothing */
	sc_open(&s, u, 70, 1);
	n = mkpkt(b, UTP_ST_RESET, 99, 1, 0, 0, 1, 0, NULL, 0, NULL, 0);
	in(u, &s.o, b, n, s.now);
	cr_assert_eq(s.o.out.nev, 0);
	cr_assert_eq(utp_conns(u), 1);
	/* ours */
	utp_abort(u, s.conn);
	poll_at(u, &s.o, s.now);
	h = hdr_of(&s.o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_RESET);
	cr_assert_eq(h.conn_id, 70);
	cr_assert_eq(find_ev(&s.o, UTP_EV_CLOSED)->res, -ECONNABORTED);
	cr_assert_eq(utp_conns(u), 0);
	/* the slot is free: the id can be used again */
	sc_open(&s, u, 70, 1);
	utp_destroy(u);
}

Test(utp_close, idle_timeout_and_keepalive)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	int keepalives = 0;

	for (uint64_t t = s.now; t < s.now + 200000000ull; t += 1000000) {
		poll_at(u, &s.o, t);
		for (uint32_t i = 0; i < s.o.out.ntx; i++)
			keepalives += hdr_of(&s.o.tx[i]).type == UTP_ST_STATE;
		if (find_ev(&s.o, UTP_EV_CLOSED)) {
			cr_assert_eq(find_ev(&s.o, UTP_EV_CLOSED)->res, -ETIMEDOUT);
			cr_assert_str_eq(find_ev(&s.o, UTP_EV_CLOSED)->detail, "idle timeout");
			cr_assert_geq(t - s.now, 120000000ull);
			cr_assert_eq(keepalives, 4, "every 29 s");
			utp_destroy(u);
			return;
		}
	}
	cr_assert_fail("no idle timeout");
}

/* ---- initiator ---- */

Test(utp_connect, syn_answer_and_connect_timeout)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct io o;
	uint32_t id;
	struct utp_hdr h;
	int syns = 0;
	uint8_t b[64];
	size_t n;

	cr_assert_eq(utp_connect(u, &CLI, NULL, T0, &id), 0);
	poll_at(u, &o, T0);
	h = hdr_of(&o.tx[0]);
	cr_assert_eq(h.type, UTP_ST_SYN);
	cr_assert_eq(h.seq, 1);
	{
		struct utp_conn_info ci;

		cr_assert_eq(utp_conn_info(u, id, &ci), 0);
		cr_assert_eq(h.conn_id, ci.recv_id, "the SYN carries our recv_id");
		cr_assert_eq(ci.send_id, (uint16_t)(ci.recv_id + 1));
		/* the answer: STATE to our recv_id, acking the SYN */
		n = mkpkt(b, UTP_ST_STATE, ci.recv_id, 1, 0, 65536, 4000, 1, NULL, 0, NULL, 0);
		in(u, &o, b, n, T0 + 30000);
		cr_assert_eq(n_ev(&o, UTP_EV_CONNECTED), 1);
		cr_assert_eq(utp_conn_info(u, id, &ci), 0);
		cr_assert_eq(ci.state, UTP_CONNECTED);
		cr_assert_gt(ci.srtt_us, 0);
	}
	/* a second one that is never answered: 1 + syn_resends SYNs, then
	 * a connect timeout */
	cr_assert_eq(utp_connect(u, &SRV, NULL, T0, &id), 0);
	for (uint64_t t = T0; t < T0 + 60000000; t += 100000) {
		poll_at(u, &o, t);
		for (uint32_t i = 0; i < o.out.ntx; i++)
			syns += hdr_of(&o.tx[i]).type == UTP_ST_SYN;
		if (find_ev(&o, UTP_EV_CLOSED))
			break;
	}
	cr_assert_eq(syns, 1 + 2);
	cr_assert_eq(find_ev(&o, UTP_EV_CLOSED)->res, -ETIMEDOUT);
	cr_assert_str_eq(find_ev(&o, UTP_EV_CLOSED)->detail, "connect timeout");
	/* refused */
	cr_assert_eq(utp_connect(u, &SRV, NULL, T0, &id), 0);
	poll_at(u, &o, T0);
	h = hdr_of(&o.tx[0]);
	n = mkpkt(b, UTP_ST_RESET, (uint16_t)(h.conn_id + 1), 1, 0, 0, 1, 1, NULL, 0, NULL, 0);
	io_reset(&o);
	utp_input(u, &SRV, b, n, T0 + 1000, &o.out);
	cr_assert_eq(find_ev(&o, UTP_EV_CLOSED)->res, -ECONNREFUSED);
	utp_destroy(u);
}

/* ---- LEDBAT ---- */

/*
 * A scripted receiver behind a queue: the server always has data; each
 * round the client acknowledges everything sent, reporting
 * timestamp_difference = (its clock at arrival) - (our timestamp), where
 * its clock is ours + skew(t) and arrival = sent + 20 ms + queue(t).
 * Returns the window after the last round.
 */
struct ledbat_run {
	uint32_t (*queue_us)(uint64_t t); /* t: µs since the start */
	int64_t (*skew_us)(uint64_t t);
	uint64_t dur_us;
	uint64_t start; /* engine clock at t = 0 */
	uint32_t min_cwnd, max_cwnd, last_cwnd, last_delay;
	uint32_t max_delay_late; /* largest our_delay in the last 20 % */
	uint64_t stale_at;	 /* from then on, each ack is followed by a copy sent
			    * 2 s earlier (reordered, stale): 0 none */
};

/* The newest DATA of the last call: its seq and timestamp; 0 if none. */
static int newest_data(const struct io *o, uint16_t *seq, uint32_t *ts)
{
	int any = 0;

	for (uint32_t i = 0; i < o->out.ntx; i++) {
		struct utp_hdr h = hdr_of(&o->tx[i]);

		if (h.type != UTP_ST_DATA)
			continue;
		*seq = h.seq;
		*ts = h.ts_us;
		any = 1;
	}
	return any;
}

static void ledbat(struct ledbat_run *r)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s;
	static uint8_t src[64 * 1380];
	uint64_t t;
	uint16_t last = 0;
	uint32_t ts = 0;
	int any = 0;

	c.max_packets = 512;
	/* the window is what is measured here, not the flight cap of a
	 * short path (this one's round trip is a few ms) */
	c.near_packets = 0;
	c.max_sends = 256;
	u = mk(&c);
	sc_t0 = r->start;
	sc_open(&s, u, 1, 1);
	sc_t0 = 0;
	r->min_cwnd = UINT32_MAX;
	r->max_cwnd = 0;
	r->max_delay_late = 0;
	for (t = 0; t < r->dur_us; t += 10000) {
		struct utp_conn_info ci;
		struct iovec v = { src, sizeof(src) };

		s.now = r->start + t;
		utp_send(u, s.conn, &v, 1, t); /* keep it busy; -EAGAIN is fine */
		poll_at(u, &s.o, s.now);
		any |= newest_data(&s.o, &last, &ts);
		if (!any)
			continue;
		/* everything sent so far arrives; one STATE acknowledges it */
		{
			uint64_t arrive = s.now + 20000 + r->queue_us(t);
			uint32_t their = (uint32_t)(arrive + (uint64_t)r->skew_us(t));
			uint8_t b[64];
			size_t n = mkpkt(b, UTP_ST_STATE, (uint16_t)(s.id + 1), their, their - ts,
					 1 << 24, s.seq, last, NULL, 0, NULL, 0);

			s.now = arrive;
			in(u, &s.o, b, n, s.now);
			t = arrive - r->start; /* the next round starts at the ack */
			if (r->stale_at && t >= r->stale_at) {
				uint32_t old = (uint32_t)(arrive - 2000000 +
							  (uint64_t)r->skew_us(t - 2000000));

				n = mkpkt(b, UTP_ST_STATE, (uint16_t)(s.id + 1), old, old - ts,
					  1 << 24, s.seq, last, NULL, 0, NULL, 0);
				in(u, &s.o, b, n, s.now);
			}
			any = newest_data(&s.o, &last, &ts);
		}
		cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
		if (ci.cwnd < r->min_cwnd)
			r->min_cwnd = ci.cwnd;
		if (ci.cwnd > r->max_cwnd)
			r->max_cwnd = ci.cwnd;
		r->last_cwnd = ci.cwnd;
		r->last_delay = ci.our_delay_us;
		if (t > r->dur_us * 4 / 5 && ci.our_delay_us > r->max_delay_late)
			r->max_delay_late = ci.our_delay_us;
		cr_assert_eq(find_ev(&s.o, UTP_EV_CLOSED), NULL);
		cr_assert_eq(ci.timeouts, 0);
		if (getenv("UTP_TRACE"))
			fprintf(stderr, "t %llu cwnd %u delay %u base %u ss %u srtt %u\n",
				(unsigned long long)t, ci.cwnd, ci.our_delay_us, ci.base_delay_us,
				ci.slow_start, ci.srtt_us);
	}
	utp_destroy(u);
}

static uint32_t q_none(uint64_t t)
{
	(void)t;
	return 0;
}

static uint32_t q_low(uint64_t t)
{
	return t < 1000000 ? 0 : 30000;
}

static uint32_t q_high(uint64_t t)
{
	return t < 2000000 ? 0 : 250000;
}

Test(utp_ledbat, grows_under_target)
{
	struct ledbat_run r = { q_low, skew_fixed, 4000000, T0, 0, 0, 0, 0, 0 };

	ledbat(&r);
	cr_assert_gt(r.last_cwnd, 30 * 1380, "the window grew: %u", r.last_cwnd);
	cr_assert_lt(r.last_delay, 40000, "delay measured %u", r.last_delay);
	cr_assert_gt(r.last_delay, 20000, "delay measured %u", r.last_delay);
}

Test(utp_ledbat, shrinks_over_target)
{
	struct ledbat_run r = { q_high, skew_zero, 5000000, T0, 0, 0, 0, 0, 0 };
	struct ledbat_run g = { q_none, skew_zero, 5000000, T0, 0, 0, 0, 0, 0 };

	ledbat(&r);
	ledbat(&g);
	cr_assert_gt(r.max_cwnd, r.last_cwnd * 2, "no shrink: max %u last %u", r.max_cwnd,
		     r.last_cwnd);
	cr_assert_lt(r.last_cwnd, g.last_cwnd / 4);
	cr_assert_geq(r.last_delay, 200000);
}

/* 32-bit timestamps wrap (every 71.6 minutes) during the run: the delay
 * stays the queue's. */
Test(utp_ledbat, timestamp_wrap)
{
	uint64_t wrap = (T0 | 0xffffffffull) + 1;
	struct ledbat_run r = { q_low, skew_zero, 4000000, wrap - 2000000, 0, 0, 0, 0, 0 };

	ledbat(&r);
	cr_assert_gt(r.last_cwnd, 30 * 1380);
	cr_assert_lt(r.last_delay, 40000, "delay measured %u", r.last_delay);
}

/*
 * A peer whose clock runs 1 % fast: its timestamp_difference grows 10 ms
 * a second; without following the drift the base would be up to two
 * minutes old (1.2 s of error) and the window would collapse. Five
 * minutes of it, with the queue at 30 ms.
 */
Test(utp_ledbat, clock_drift_fast)
{
	struct ledbat_run r = { q_low, skew_fast, 300000000, T0, 0, 0, 0, 0, 0 };

	ledbat(&r);
	cr_assert_lt(r.max_delay_late, 60000, "delay %u over the last minute", r.max_delay_late);
	cr_assert_gt(r.last_cwnd, 30 * 1380);
}

Test(utp_ledbat, clock_drift_slow)
{
	struct ledbat_run r = { q_low, skew_slow, 300000000, T0, 0, 0, 0, 0, 0 };

	ledbat(&r);
	cr_assert_lt(r.max_delay_late, 60000, "delay %u over the last minute", r.max_delay_late);
	cr_assert_gt(r.last_cwnd, 30 * 1380);
}

/* The peer's clock jumps 45 s forward: the delay is the queue's again at
 * once, not 45 s for two minutes. */
Test(utp_ledbat, clock_jump)
{
	struct ledbat_run r = { q_low, skew_jump, 40000000, T0, 0, 0, 0, 0, 0, 0 };

	ledbat(&r);
	cr_assert_lt(r.max_delay_late, 60000, "delay %u after the jump", r.max_delay_late);
	cr_assert_gt(r.last_cwnd, 30 * 1380);
}

/* ... and packets stamped before the jump that arrive after it (a link
 * that reorders by seconds) do not pull the base back under it. */
Test(utp_ledbat, clock_jump_with_stale_packets)
{
	struct ledbat_run r = { q_low, skew_jump, 40000000, T0, 0, 0, 0, 0, 0, 30500000 };

	ledbat(&r);
	cr_assert_lt(r.max_delay_late, 60000, "delay %u after the jump", r.max_delay_late);
	cr_assert_gt(r.last_cwnd, 30 * 1380);
}

/* ---- window bounds ---- */

Test(utp_window, peer_window_and_max_packets_bound_flight)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s;
	struct utp_conn_info ci;
	uint16_t seqs[64];
	int n;

	fill_pattern();
	c.max_packets = 16;
	u = mk(&c);
	sc_open(&s, u, 1, 1);
	/* a peer window of 3000 bytes: two packets at a time */
	sc_queue(&s, 0, 40000, 1);
	s.now += 1000;
	{
		uint8_t b[64];
		size_t l = mkpkt(b, UTP_ST_STATE, 2, 1, 0, 3000, s.seq, s.ack, NULL, 0, NULL, 0);

		in(u, &s.o, b, l, s.now);
	}
	n = data_seqs(&s.o, seqs, 64);
	cr_assert_eq(n, 2, "%d packets in a 3000-byte window", n);
	cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
	cr_assert_leq(ci.flight, 3000);
	/* a zero window: nothing, then one probe at the RTO */
	{
		uint8_t b[64];
		size_t l = mkpkt(b, UTP_ST_STATE, 2, 1, 0, 0, s.seq, (uint16_t)(s.srv_seq + 1),
				 NULL, 0, NULL, 0);

		in(u, &s.o, b, l, s.now + 1000);
	}
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 0);
	poll_at(u, &s.o, s.now + 500000);
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 0);
	poll_at(u, &s.o, s.now + 5000000);
	cr_assert_eq(data_seqs(&s.o, seqs, 64), 1, "a zero-window probe");
	/* a huge window: max_packets - 1 in flight at most */
	for (int k = 0; k < 40; k++) {
		uint8_t b[64];
		size_t l = mkpkt(b, UTP_ST_STATE, 2, 1, 0, 1 << 24, s.seq, s.ack, NULL, 0, NULL, 0);

		s.now += 100000;
		in(u, &s.o, b, l, s.now);
		cr_assert_eq(utp_conn_info(u, s.conn, &ci), 0);
		cr_assert_leq(ci.flight, 15 * 1380);
	}
	utp_destroy(u);
}

Test(utp_window, send_bounds)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct sc s;
	struct iovec v[3] = { { pattern, 10 }, { pattern, 0 }, { pattern, 10 } };

	c.max_sends = 4;
	c.sndbuf = 100;
	u = mk(&c);
	sc_open(&s, u, 1, 1);
	cr_assert_eq(utp_send(u, s.conn, v, 3, 1), 0, "empty slices are skipped");
	cr_assert_eq(utp_send(u, s.conn, v, 3, 2), 0);
	cr_assert_eq(utp_send(u, s.conn, v, 1, 3), -EAGAIN, "slices");
	cr_assert_eq(utp_send(u, s.conn, v + 1, 1, 3), -EINVAL);
	cr_assert_eq(utp_send(u, s.conn, v, 0, 3), -EINVAL);
	cr_assert_eq(utp_send(u, 7, v, 1, 3), -ENOTCONN);
	poll_at(u, &s.o, s.now);
	cr_assert_eq(s.o.out.ntx, 1, "40 bytes in one packet, four slices");
	cr_assert_eq(s.o.tx[0].n_pay, 4);
	sc_ack(&s, s.srv_seq);
	cr_assert_eq(n_ev(&s.o, UTP_EV_ACKED), 2);
	cr_assert_eq(s.o.ev[0].cookie, 1);
	cr_assert_eq(s.o.ev[1].cookie, 2);
	{
		struct iovec w = { pattern, 101 };

		cr_assert_eq(utp_send(u, s.conn, &w, 1, 4), -EAGAIN, "bytes");
	}
	utp_destroy(u);
}

Test(utp_config, bounds_refused)
{
	struct utp_config c = base_cfg();
	struct utp *u;
	struct seed_err err = { 0 };

	c.max_packets = 100;
	cr_assert_eq(utp_create(&c, &u, &err), -EINVAL);
	cr_assert(strstr(err.msg, "power"));
	c = base_cfg();
	c.packet_size = 100;
	seed_err_clear(&err);
	cr_assert_eq(utp_create(&c, &u, &err), -EINVAL);
	cr_assert(strstr(err.msg, "packet_size"));
	cr_assert_eq(utp_create(NULL, &u, &err), 0);
	utp_destroy(u);
}

/* ---- more hostile input ---- */

/* utp_input without UTP_EV_MIN free events drops the datagram whole. */
Test(utp_hostile, no_event_room_drops_the_datagram)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	struct utp_conn_info a, b;
	uint8_t d[64];
	size_t n = mkpkt(d, UTP_ST_DATA, 2, 1, 0, 65536, s.seq, s.ack, NULL, 0, "x", 1);

	cr_assert_eq(utp_conn_info(u, s.conn, &a), 0);
	io_reset(&s.o);
	s.o.out.nev = s.o.out.evcap - (UTP_EV_MIN - 1);
	utp_input(u, &CLI, d, n, s.now, &s.o.out);
	cr_assert_eq(s.o.out.ntx, 0);
	cr_assert_eq(utp_stats(u)->ev_short, 1);
	cr_assert_eq(utp_conn_info(u, s.conn, &b), 0);
	cr_assert_eq(a.pkts_in, b.pkts_in);
	sc_data(&s, "x", 1); /* the same packet again, with room */
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 1);
	utp_destroy(u);
}

/* A RESET or data with the right ids from another address is someone
 * else's: it changes nothing. */
Test(utp_hostile, other_address_same_ids)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	struct utp_addr other = CLI;
	uint8_t d[64];
	size_t n;

	other.port++;
	n = mkpkt(d, UTP_ST_RESET, 1, 1, 0, 0, 1, 0, NULL, 0, NULL, 0);
	io_reset(&s.o);
	utp_input(u, &other, d, n, s.now, &s.o.out);
	n = mkpkt(d, UTP_ST_DATA, 2, 1, 0, 65536, s.seq, s.ack, NULL, 0, "evil", 4);
	utp_input(u, &other, d, n, s.now, &s.o.out);
	cr_assert_eq(s.o.out.nev, 0);
	cr_assert_eq(utp_conns(u), 1);
	sc_data(&s, "good", 4);
	cr_assert_eq(find_ev(&s.o, UTP_EV_DATA)->len, 4);
	cr_assert_eq(memcmp(find_ev(&s.o, UTP_EV_DATA)->data, "good", 4), 0);
	utp_destroy(u);
}

/* A SYN flood from many addresses takes no slot and no memory: each SYN
 * is one answer of the same size. */
Test(utp_hostile, syn_flood_keeps_nothing)
{
	struct utp_config c = base_cfg();
	struct utp *u = mk(&c);
	struct io o;
	uint8_t d[64];

	for (uint32_t i = 0; i < 20000; i++) {
		struct utp_addr a = CLI;
		size_t n = mkpkt(d, UTP_ST_SYN, (uint16_t)i, i, 0, 65536, (uint16_t)(i * 7), 0,
				 NULL, 0, NULL, 0);

		byteio_put_be32(a.ip, 0x0a000000u + i);
		io_reset(&o);
		utp_input(u, &a, d, n, T0 + i, &o.out);
		cr_assert_eq(o.out.ntx, 1);
		cr_assert_eq(o.tx[0].hdr_len + o.tx[0].pay_len, n, "no amplification");
	}
	cr_assert_eq(utp_conns(u), 0);
	cr_assert_eq(utp_next_deadline(u), UTP_NO_DEADLINE, "nothing scheduled");
	cr_assert_eq(utp_stats(u)->syn_in, 20000);
	utp_destroy(u);
}

/* Acknowledgements far in the past, or of what we never sent, are
 * dropped; selective ACKs past the window are ignored. */
Test(utp_hostile, acks_out_of_range)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t seqs[64];
	uint8_t mask[128];
	struct utp_conn_info a, b;

	cr_assert_eq(burst(&s, seqs, 3 * 1380), 3);
	cr_assert_eq(utp_conn_info(u, s.conn, &a), 0);
	sc_ack(&s, (uint16_t)(s.srv_seq + 3)); /* one past the last sent */
	sc_ack(&s, (uint16_t)(s.srv_seq - 1000));
	sc_ack(&s, (uint16_t)(s.srv_seq + 32768));
	cr_assert_eq(utp_stats(u)->bad_ack, 3);
	cr_assert_eq(utp_conn_info(u, s.conn, &b), 0);
	cr_assert_eq(a.pkts_in, b.pkts_in, "they changed something");
	cr_assert_eq(a.flight, b.flight);
	/* a 128-byte mask of ones: only the two packets in flight count */
	memset(mask, 0xff, sizeof(mask));
	sc_send(&s, UTP_ST_STATE, s.seq, (uint16_t)(s.srv_seq - 1), mask, 128, NULL, 0, 0);
	cr_assert_eq(utp_conn_info(u, s.conn, &b), 0);
	cr_assert_eq(b.sacks, 2);
	cr_assert_eq(b.flight, 1380, "the first is still in flight");
	utp_destroy(u);
}

/* A datagram larger than our packet size (libtorrent probes the path MTU
 * with big DATA packets) is taken in order, held out of order when it
 * fits rcv_buf. */
Test(utp_hostile, large_datagrams)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	static uint8_t big[9000];

	memset(big, 'b', sizeof(big));
	sc_send(&s, UTP_ST_DATA, (uint16_t)(s.seq + 1), s.ack, NULL, 0, big, sizeof(big), 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	sc_data(&s, big, 1500);
	cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 2);
	cr_assert_eq(s.o.ev[0].len, 1500);
	cr_assert_eq(s.o.ev[1].len, 9000);
	s.seq++;
	utp_destroy(u);
}

/* Deferred events: six sends acknowledged by one STATE that finds four
 * event slots: four ACKED now, two at the next poll, in order. */
Test(utp_events, deferred_in_order)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint8_t d[64];
	size_t n;

	for (int i = 0; i < 6; i++)
		sc_queue(&s, (size_t)i * 100, 100, (uint64_t)i);
	poll_at(u, &s.o, s.now);
	cr_assert_eq(s.o.out.ntx, 1, "six slices in one packet");
	n = mkpkt(d, UTP_ST_STATE, 2, 1, 0, 65536, s.seq, s.srv_seq, NULL, 0, NULL, 0);
	io_reset(&s.o);
	s.o.out.evcap = UTP_EV_MIN;
	utp_input(u, &CLI, d, n, s.now, &s.o.out);
	cr_assert_eq(s.o.out.nev, 4);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(s.o.ev[i].cookie, i);
	cr_assert_eq(utp_next_deadline(u), 0, "events wait");
	poll_at(u, &s.o, s.now);
	cr_assert_eq(s.o.out.nev, 2);
	cr_assert_eq(s.o.ev[0].cookie, 4);
	cr_assert_eq(s.o.ev[1].cookie, 5);
	cr_assert_neq(utp_next_deadline(u), 0);
	utp_destroy(u);
}

Test(utp_events, one_slot_at_a_time)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint64_t next = 0;

	for (int i = 0; i < 5; i++)
		sc_queue(&s, (size_t)i * 100, 100, (uint64_t)i);
	utp_abort(u, s.conn);
	while (next < 6) {
		io_reset(&s.o);
		s.o.out.evcap = 1;
		utp_poll(u, s.now, &s.o.out);
		cr_assert_leq(s.o.out.nev, 1);
		if (!s.o.out.nev)
			continue;
		if (next < 5) {
			cr_assert_eq(s.o.ev[0].kind, UTP_EV_ACKED);
			cr_assert_eq(s.o.ev[0].cookie, next);
		} else {
			cr_assert_eq(s.o.ev[0].kind, UTP_EV_CLOSED);
		}
		next++;
		cr_assert_eq(utp_next_deadline(u), next < 6 ? 0 : UTP_NO_DEADLINE);
	}
	cr_assert_eq(utp_conns(u), 0);
	utp_destroy(u);
}

/* Our FIN never acknowledged: an orderly end when the peer's FIN is in and
 * every byte of ours was acknowledged (the peer did not linger), a
 * timeout when data of ours is still unacknowledged. */
static const struct utp_ev *until_closed(struct sc *s, uint64_t limit)
{
	for (uint64_t t = s->now; t < s->now + limit; t += 500000) {
		poll_at(s->u, &s->o, t);
		if (find_ev(&s->o, UTP_EV_CLOSED))
			return find_ev(&s->o, UTP_EV_CLOSED);
	}
	return NULL;
}

Test(utp_close, fin_unacknowledged)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	const struct utp_ev *e;

	sc_queue(&s, 0, 50, 1);
	poll_at(u, &s.o, s.now);
	sc_ack(&s, s.srv_seq);
	sc_send(&s, UTP_ST_FIN, s.seq, s.srv_seq, NULL, 0, NULL, 0, 0);
	cr_assert_eq(n_ev(&s.o, UTP_EV_PEER_FIN), 1);
	utp_close(u, s.conn);
	e = until_closed(&s, 120000000);
	cr_assert(e);
	cr_assert_eq(e->res, 0);
	cr_assert_str_eq(e->detail, "fin not acknowledged");
	/* again with our data unacknowledged */
	sc_open(&s, u, 9, 1);
	sc_queue(&s, 0, 50, 1);
	sc_send(&s, UTP_ST_FIN, s.seq, s.ack, NULL, 0, NULL, 0, 0);
	utp_close(u, s.conn);
	e = until_closed(&s, 120000000);
	cr_assert(e);
	cr_assert_eq(e->res, -ETIMEDOUT);
	cr_assert_str_eq(e->detail, "too many resends");
	utp_destroy(u);
}

/* Every packet type, truncated at every length under the header, and with
 * an extension chain cut short at every point, to a live connection and to
 * the listener: dropped, counted, nothing else. */
Test(utp_hostile, every_type_truncated)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	struct utp_conn_info a, b;
	uint64_t bad = utp_stats(u)->malformed;
	uint64_t want = 0;

	cr_assert_eq(utp_conn_info(u, s.conn, &a), 0);
	for (int type = UTP_ST_DATA; type <= UTP_ST_SYN; type++) {
		uint8_t d[64];
		uint8_t mask[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
		size_t full = mkpkt(d, type, 2, 1, 0, 65536, s.seq, s.ack, mask, 8, NULL, 0);

		for (size_t cut = 0; cut < full; cut++) {
			for (int who = 0; who < 2; who++) {
				struct utp_addr other = CLI;

				other.port = (uint16_t)(CLI.port + who);
				io_reset(&s.o);
				utp_input(u, &other, d, cut, s.now, &s.o.out);
				cr_assert_eq(s.o.out.ntx + s.o.out.nev, 0,
					     "type %d cut at %zu answered", type, cut);
				want++;
			}
		}
	}
	cr_assert_eq(utp_stats(u)->malformed - bad, want);
	cr_assert_eq(utp_conn_info(u, s.conn, &b), 0);
	cr_assert_eq(b.pkts_in, a.pkts_in);
	cr_assert_eq(utp_conns(u), 1);
	utp_destroy(u);
}

/* One-byte packets out of order up to the reorder bound, then beyond it:
 * what is held stays within max_reorder packets and rcv_buf bytes, and
 * the stream comes out whole once the hole is filled. */
Test(utp_hostile, reorder_flood)
{
	struct sc s;
	struct utp *u = opened(&s, NULL);
	uint16_t base = s.seq;
	uint8_t ch;
	int got = 0;

	for (int i = 200; i >= 1; i--) {
		ch = (uint8_t)i;
		sc_send(&s, UTP_ST_DATA, (uint16_t)(base + i), s.ack, NULL, 0, &ch, 1, 0);
		cr_assert_eq(n_ev(&s.o, UTP_EV_DATA), 0);
	}
	/* max_reorder is 16: 1..15 held (16 slots past the last delivered,
	 * one of them the hole), the rest dropped */
	cr_assert_eq(hdr_of(&s.o.tx[0]).wnd, 16384 - 15);
	ch = 0;
	sc_send(&s, UTP_ST_DATA, base, s.ack, NULL, 0, &ch, 1, 0);
	for (uint32_t i = 0; i < s.o.out.nev; i++) {
		cr_assert_eq(s.o.ev[i].kind, UTP_EV_DATA);
		cr_assert_eq(s.o.ev[i].data[0], (uint8_t)got);
		got++;
	}
	cr_assert_eq(got, 16);
	cr_assert_eq(hdr_of(&s.o.tx[0]).ack, (uint16_t)(base + 15));
	utp_destroy(u);
}
