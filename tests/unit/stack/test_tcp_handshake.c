/*
 * Unit tests for the TCP passive open (tcp_in.c's SYN and final-ACK paths,
 * tcp_cookie.c) through stack_input() with crafted frames: a SYN with each
 * of the 16 combinations of MSS, window scale, SACK-permitted and
 * timestamps, against the SYN-ACK's options (RFC 7323 §2.2 and §3.2, RFC
 * 2018 §2: each only when offered) and the connection the final ACK makes
 * (tcp_conn_info); the SYN cookie's round trip, and final ACKs it must
 * refuse: a forged cookie, one older than its lifetime, one made for
 * another 4-tuple or another client ISN (RFC 4987 §3.6); a final ACK that
 * carries data.
 */
#include "tcp_fixture.h"

TestSuite(tcp_handshake, .fini = tf_stop);

#define CLIENT_MSS 1460
#define CLIENT_WS  7

/* The SYN of combination bits: 1 MSS, 2 window scale, 4 SACK-permitted,
 * 8 timestamps. */
static struct tf_opts syn_opts(unsigned bits)
{
	struct tf_opts o = TF_NO_OPTS;
	if (bits & 1)
		o.mss = CLIENT_MSS;
	if (bits & 2)
		o.ws = CLIENT_WS;
	o.sackp = !!(bits & 4);
	o.ts = !!(bits & 8);
	return o;
}

/* Registers c, from (TF_CLI_IP, port) with isn, and sends its SYN with
 * option combination bits; returns the SYN-ACK. */
static const struct tf_frame *syn_from(struct tf_conn *c, unsigned bits, uint16_t port,
				       uint32_t isn)
{
	struct tf_opts o = syn_opts(bits);
	tf_conn_init(c, TF_CLI_IP, port, isn);
	return tf_syn(c, &o);
}

Test(tcp_handshake, every_option_combination)
{
	tf_start(NULL);
	static struct tf_conn conns[16];
	for (unsigned bits = 0; bits < 16; bits++) {
		struct tf_conn *c = &conns[bits];
		struct tf_opts o = syn_opts(bits);
		F.nconns = 0; /* one registered connection at a time */
		tf_conn_init(c, TF_CLI_IP, (uint16_t)(50000 + bits), 0xabc00000u + bits);
		const struct tf_frame *sa = tf_syn(c, &o);
		cr_expect_eq(sa->o.mss, TF_MSS_SRV, "combination %u: MSS %d", bits, sa->o.mss);
		cr_expect_eq(sa->o.ws >= 0, o.ws >= 0, "combination %u: window scale", bits);
		if (sa->o.ws >= 0)
			cr_expect_eq(sa->o.ws, 0, "combination %u: our shift is 0", bits);
		cr_expect_eq(sa->o.sackp, o.sackp, "combination %u: SACK-permitted", bits);
		cr_expect_eq(sa->o.ts, o.ts, "combination %u: timestamps", bits);
		if (o.ts)
			cr_expect_eq(sa->o.tsecr, TF_TS_START, "combination %u: TSecr %u", bits,
				     sa->o.tsecr);
		cr_expect_eq(sa->o.nsack, 0);
		cr_expect_eq(sa->win, TF_WND, "combination %u: SYN-ACK window", bits);
		cr_expect_eq(sa->plen, 0);
		tf_final_ack(c, NULL, 0);
		cr_expect_eq(F.nfr, 0, "combination %u: the final ACK was answered", bits);
		struct tcp_conn_info i = tf_info(c);
		uint32_t mss = (bits & 1) ? CLIENT_MSS : 536; /* RFC 9293 §3.7.1 default */
		cr_expect_eq(i.state, TCP_S_ESTABLISHED);
		cr_expect_eq(i.smss, mss - (o.ts ? 12 : 0), "combination %u: smss %u", bits,
			     i.smss);
		cr_expect_eq(i.sack, o.sackp, "combination %u: sack", bits);
		cr_expect_eq(i.ts, o.ts, "combination %u: ts", bits);
		cr_expect_eq(i.wscale_peer, o.ws >= 0 ? CLIENT_WS : 0, "combination %u: wscale %u",
			     bits, i.wscale_peer);
		cr_expect_eq(i.snd_wnd, (uint32_t)TF_WND << (o.ws >= 0 ? CLIENT_WS : 0),
			     "combination %u: the final ACK's window, scaled", bits);
		cr_expect_eq(i.flight, 0);
		cr_expect_eq(i.rto_us, 1000000, "RFC 6298 §2.1: 1 s");
		/* the connection sends with what it agreed on (the fixture checks
		 * timestamps are on every segment or none) */
		tf_queue_poll(c, 3 * i.smss, bits);
		cr_expect_eq(tf_data_frames(), 3, "combination %u", bits);
		for (uint32_t k = 0; k < F.nfr; k++) {
			cr_expect_eq(F.fr[k].plen, i.smss, "combination %u: segment of %u", bits,
				     F.fr[k].plen);
			if (o.ts)
				cr_expect_eq(F.fr[k].o.tsecr, c->tsval, "combination %u: TSecr",
					     bits);
		}
	}
	cr_expect_eq(tf_st()->accepts, 16);
	cr_expect_eq(tf_st()->cookie_ok, 16);
	cr_expect_eq(tf_st()->synack_out, 16);
}

struct kept_case {
	int client_mss, client_ws; /* -1: no option */
	uint32_t smss;
	uint8_t wscale;
};

/* What the cookie keeps of the client's SYN: the MSS as the largest of
 * 536, 1220, 1440, 1460 that does not exceed the client's, capped by
 * ours; the window scale shift, one over 14 taken as 14 (RFC 7323 §2.3).
 * Each case is a connection of its own. */
static void expect_kept(const struct kept_case *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const struct kept_case *e = &cases[k];
		static struct tf_conn c;
		struct tf_opts o = TF_NO_OPTS;
		o.mss = e->client_mss;
		o.ws = e->client_ws;
		F.nconns = 0;
		tf_connect(&c, TF_CLI_IP, (uint16_t)(51000 + k), &o);
		struct tcp_conn_info i = tf_info(&c);
		cr_expect_eq(i.smss, e->smss, "client MSS %d shift %d: smss %u, want %u",
			     e->client_mss, e->client_ws, i.smss, e->smss);
		/* and never more than the client's own MSS */
		cr_expect(e->client_mss < 0 || i.smss <= (uint32_t)e->client_mss,
			  "client MSS %d: smss %u over it", e->client_mss, i.smss);
		cr_expect_eq(i.wscale_peer, e->wscale, "client MSS %d shift %d: shift %u, want %u",
			     e->client_mss, e->client_ws, i.wscale_peer, e->wscale);
	}
}

Test(tcp_handshake, the_cookie_keeps_a_safe_mss)
{
	tf_start(NULL);
	TU_TABLE(expect_kept, struct kept_case, { -1, -1, 536, 0 }, { 536, -1, 536, 0 },
		 { 1000, -1, 536, 0 }, { 1220, -1, 1220, 0 }, { 1400, -1, 1220, 0 },
		 { 1440, -1, 1440, 0 }, { 1459, -1, 1440, 0 }, { 1460, -1, 1460, 0 },
		 { 8960, -1, 1460, 0 }, { 65535, -1, 1460, 0 });
}

Test(tcp_handshake, window_scale_is_kept_and_capped_at_14)
{
	tf_start(NULL);
	TU_TABLE(expect_kept, struct kept_case, { -1, 0, 536, 0 }, { -1, 1, 536, 1 },
		 { -1, 9, 536, 9 }, { -1, 14, 536, 14 }, { -1, 15, 536, 14 }, { -1, 255, 536, 14 });
}

Test(tcp_handshake, config_turns_sack_and_timestamps_off)
{
	struct stack_config cfg;
	tf_default_cfg(&cfg);
	cfg.tcp.sack = -1;
	cfg.tcp.timestamps = -1;
	tf_start(&cfg);
	struct tf_conn c;
	const struct tf_frame *sa = syn_from(&c, 15, 51200, 777);
	cr_expect_eq(sa->o.sackp, 0);
	cr_expect_eq(sa->o.ts, 0);
	cr_expect_eq(sa->o.ws, 0);
	tf_final_ack(&c, NULL, 0);
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_eq(i.sack, 0);
	cr_expect_eq(i.ts, 0);
	cr_expect_eq(i.smss, CLIENT_MSS);
}

/* ---- SYN cookies ---- */

Test(tcp_handshake, cookie_round_trip_makes_the_connection)
{
	tf_start(NULL);
	struct tf_conn c;
	syn_from(&c, 15, 52000, 0xfffffff0u); /* the ISN wraps */
	/* a retransmitted SYN gets the same cookie: no state was kept */
	uint32_t iss = c.srv_iss;
	struct tf_opts o = syn_opts(15);
	tf_syn(&c, &o);
	cr_expect_eq(c.srv_iss, iss, "the second SYN-ACK's cookie differs");
	cr_expect_eq(tf_live_conns(), 0, "a SYN made a connection");
	tf_final_ack(&c, NULL, 0);
	cr_expect_eq(F.nev, 1);
	cr_expect_eq(tf_st()->cookie_ok, 1);
	cr_expect_eq(tf_st()->cookie_bad, 0);
	cr_expect_eq(tf_info(&c).state, TCP_S_ESTABLISHED);
	/* the connection works: data both ways */
	static const uint8_t req[] = "GET / HTTP/1.1\r\n\r\n";
	tf_send(&c, TCP_ACK | TCP_PSH, req, sizeof(req));
	const struct stack_ev *ev = tf_ev_find(STACK_EV_DATA);
	cr_assert_not_null(ev);
	cr_expect_eq(ev->len, sizeof(req));
	cr_expect_arr_eq(ev->data, req, sizeof(req));
	cr_expect_eq(ev->rx_handle, F.rx_handle);
	tf_expect_ack(tf_one("ACK of the request"), &c, tf_sseq(&c, 0), "ACK of the request");
}

Test(tcp_handshake, final_ack_with_data_delivers_it_after_accept)
{
	tf_start(NULL);
	struct tf_conn c;
	syn_from(&c, 1, 52100, 4242);
	static const uint8_t req[300] = { 'G', 'E', 'T' };
	tf_final_ack(&c, req, sizeof(req));
	cr_assert_eq(F.nev, 2);
	cr_expect_eq(F.ev[0].kind, STACK_EV_ACCEPT);
	cr_expect_eq(F.ev[1].kind, STACK_EV_DATA);
	cr_expect_eq(F.ev[1].conn, c.id);
	cr_expect_eq(F.ev[1].len, sizeof(req));
	tf_expect_ack(tf_one("ACK of the data"), &c, tf_sseq(&c, 0), "ACK of the data");
}

/* A final ACK the cookie check refuses: RST <SEQ=SEG.ACK>, no connection,
 * cookie_bad counted. */
static void expect_refused(const struct tf_pkt *p, const char *what)
{
	uint64_t bad = tf_st()->cookie_bad, accepts = tf_st()->accepts;
	uint32_t live = tf_live_conns();
	tf_input(p);
	cr_expect_eq(tf_st()->cookie_bad, bad + 1, "%s: cookie_bad", what);
	cr_expect_eq(tf_st()->accepts, accepts, "%s: accepted", what);
	cr_expect_eq(F.nev, 0, "%s: %u events", what, F.nev);
	const struct tf_frame *fr = tf_one(what);
	cr_expect_eq(fr->flags, TCP_RST, "%s: flags %02x", what, fr->flags);
	cr_expect_eq(fr->seq, p->ack, "%s: RST seq %u, want %u", what, fr->seq, p->ack);
	cr_expect_eq(fr->dport, p->sport, "%s", what);
	cr_expect_eq(fr->ip_dst, p->src_ip, "%s", what);
	cr_expect_eq(tf_live_conns(), live, "%s: a connection was made", what);
}

/* The final ACK c would send for its SYN-ACK. */
static struct tf_pkt final_ack_of(struct tf_conn *c)
{
	c->snd_nxt = c->isn + 1;
	c->rcv_nxt = c->srv_iss + 1;
	return tf_pkt_for(c);
}

Test(tcp_handshake, forged_cookies_are_refused)
{
	tf_start(NULL);
	struct tf_conn c;
	syn_from(&c, 15, 52200, 100000);
	static const uint32_t delta[] = { 1, 0xffffffffu, 0x200, 0x80000000u, 0x100 };
	for (size_t k = 0; k < TU_N(delta); k++) {
		struct tf_pkt p = final_ack_of(&c);
		p.ack += delta[k];
		char what[64];
		snprintf(what, sizeof(what), "cookie + %#x", delta[k]);
		expect_refused(&p, what);
	}
	/* a blind ACK with no SYN before it */
	struct tf_pkt p = tf_pkt_raw(52201, 99, 0x12345678u, TCP_ACK);
	expect_refused(&p, "an ACK out of nowhere");
	/* the right cookie still works */
	tf_final_ack(&c, NULL, 0);
}

Test(tcp_handshake, a_cookie_for_another_tuple_or_isn_is_refused)
{
	tf_start(NULL);
	struct tf_conn c;
	syn_from(&c, 5, 52300, 0x77777777u);
	struct tf_pkt p = final_ack_of(&c);
	p.sport++;
	expect_refused(&p, "another source port");
	p = final_ack_of(&c);
	p.src_ip = TF_CLI2_IP;
	expect_refused(&p, "another source address");
	p = final_ack_of(&c);
	p.seq++;
	expect_refused(&p, "another client ISN");
	/* a listener on another port sees another cookie */
	cr_assert_eq(stack_listen(F.s, 8080, 9), 0);
	p = final_ack_of(&c);
	p.dport = 8080;
	expect_refused(&p, "another listening port");
	tf_final_ack(&c, NULL, 0);
}

struct age_case {
	uint64_t after_us;
	int accepted;
};

/* A cookie lives two to three 64-second periods (tcp_cookie.c): the final
 * ACK sent after_us after the SYN. Each case starts from a fresh SYN. */
static void expect_age(const struct age_case *cases, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		static struct tf_conn c;
		F.nconns = 0;
		syn_from(&c, 1, (uint16_t)(52400 + k), 31337u * (uint32_t)k);
		F.now += cases[k].after_us;
		struct tf_pkt p = final_ack_of(&c);
		char what[64];
		snprintf(what, sizeof(what), "final ACK %lu s after the SYN",
			 (unsigned long)(cases[k].after_us / S_US));
		if (!cases[k].accepted) {
			expect_refused(&p, what);
			continue;
		}
		tf_input(&p);
		cr_expect_eq(tf_ev_count(STACK_EV_ACCEPT), 1, "%s: refused", what);
	}
}

Test(tcp_handshake, cookies_expire)
{
	tf_start(NULL);
	F.now = 64 * S_US * 100 + 30 * S_US; /* half-way through a period */
	TU_TABLE(expect_age, struct age_case, { 0, 1 }, { 1 * S_US, 1 }, { 60 * S_US, 1 },
		 { 97 * S_US, 1 }, { 181 * S_US, 0 }, { 200 * S_US, 0 }, { 256 * S_US, 0 },
		 { 3600 * S_US, 0 });
}

Test(tcp_handshake, an_old_cookie_is_refused_at_any_phase)
{
	/* whatever the SYN's place in its 60 s period, the cookie is gone
	 * 181 s later (three minutes and a second), and still works 120 s
	 * later (two periods) */
	tf_start(NULL);
	for (uint64_t phase = 0; phase < 60; phase += 7) {
		static struct tf_conn c;
		F.nconns = 0;
		F.now = 60 * S_US * 1000 + phase * S_US;
		syn_from(&c, 0, (uint16_t)(52500 + phase), 1000 + (uint32_t)phase);
		uint64_t syn_at = F.now;
		F.now = syn_at + 181 * S_US;
		struct tf_pkt p = final_ack_of(&c);
		expect_refused(&p, "181 s");
		F.now = syn_at + 120 * S_US;
		p = final_ack_of(&c);
		tf_input(&p);
		cr_expect_eq(tf_ev_count(STACK_EV_ACCEPT), 1, "phase %lu: 120 s refused",
			     (unsigned long)phase);
	}
}

Test(tcp_handshake, the_connection_cap_drops_the_final_ack)
{
	TF_START_WITH(tcp.max_conns, 2);
	struct tf_conn a, b, c;
	tf_connect_plain(&a, 52600, 0);
	tf_connect_plain(&b, 52601, 0);
	syn_from(&c, 0, 52602, 5);
	struct tf_pkt p = final_ack_of(&c);
	tf_input(&p);
	tf_expect_silence("a final ACK over the cap");
	cr_expect_eq(tf_st()->accept_overflow, 1);
	/* a slot frees: the client's retransmitted ACK gets in */
	tf_send(&a, TCP_RST, NULL, 0);
	cr_expect_eq(tf_ev_count(STACK_EV_CLOSED), 1);
	p = final_ack_of(&c);
	tf_input(&p);
	cr_expect_eq(tf_ev_count(STACK_EV_ACCEPT), 1);
}

/* RFC 7323 §3.2: a TSopt on a connection whose SYN did not offer it MUST
 * be ignored (it once turned timestamps on from the final ACK alone, and
 * the server then sent TSopt and took 12 bytes off smss). */
Test(tcp_handshake, timestamps_need_the_syn_to_offer_them)
{
	tf_start(NULL);
	struct tf_conn c;
	const struct tf_frame *sa = syn_from(&c, 1, 60003, 1234); /* MSS only */
	cr_expect_eq(sa->o.ts, 0);
	c.snd_nxt = c.isn + 1;
	c.rcv_nxt = c.srv_iss + 1;
	struct tf_pkt p = tf_pkt_for(&c);
	p.o.ts = 1;
	p.o.tsval = 5;
	tf_input(&p);
	cr_assert_eq(tf_ev_count(STACK_EV_ACCEPT), 1);
	c.id = F.ev[0].conn;
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_eq(i.ts, 0, "timestamps on without the SYN offering them");
	cr_expect_eq(i.smss, 1460);
}
