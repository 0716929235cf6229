/*
 * Unit tests for how TCP connections end, through stack_input() and
 * stack_poll() in virtual time with crafted segments (tcp_fixture.h): the
 * client's FIN first (PEER_FIN, CLOSE-WAIT, then our FIN and LAST-ACK), ours
 * first (FIN-WAIT-1/2, TIME-WAIT in its own table: the connection id is
 * freed, a retransmitted FIN is ACKed again, a new SYN above the old
 * sequence space reopens), both at once (CLOSING), the FIN riding on the
 * last data; resets (RFC 5961 §3.2: only the exact sequence number resets,
 * an in-window one is challenged, one outside the window is ignored; every
 * queued send reported ACKED before CLOSED), a SYN on an established
 * connection (RFC 5961 §4.2) and the challenge ACK rate limit (§7).
 */
#include "tcp_fixture.h"

TestSuite(tcp_close, .fini = tf_stop);

/* The client sends FIN; the server reports it and ACKs it. */
static void peer_fin(struct tf_conn *c, uint32_t srv_seq)
{
	tf_send(c, TCP_FIN | TCP_ACK, NULL, 0);
	const struct stack_ev *ev = tf_ev_find(STACK_EV_PEER_FIN);
	cr_assert_not_null(ev, "no PEER_FIN");
	cr_expect_eq(ev->conn, c->id);
	tf_expect_ack(tf_one("ACK of the FIN"), c, srv_seq, "ACK of the FIN");
}

/* We close c: the poll that follows sends our FIN (the step's output). */
static void close_ours(struct tf_conn *c)
{
	stack_close(F.s, c->id);
	tf_poll();
}

/* We close c, the client ACKs our FIN and sends its own: c is in
 * TIME-WAIT and CLOSED is reported. */
static void to_timewait(struct tf_conn *c)
{
	close_ours(c);
	tf_ack(c, tf_sseq(c, 1));
	tf_send(c, TCP_FIN | TCP_ACK, NULL, 0);
	cr_assert_eq(tf_ev_count(STACK_EV_CLOSED), 1, "no CLOSED for the client's FIN");
}

Test(tcp_close, client_fin_first_then_ours)
{
	struct tf_conn c;
	tf_start_plain(&c, 48000);
	peer_fin(&c, tf_sseq(&c, 0));
	cr_expect_eq(F.nev, 1);
	cr_expect_eq(tf_info(&c).state, TCP_S_CLOSE_WAIT);
	/* still open for sending */
	tf_queue_poll(&c, 100, 1);
	cr_assert_eq(tf_data_frames(), 1);
	tf_ack(&c, tf_sseq(&c, 100));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 1);
	/* a retransmitted FIN is ACKed again, not reported again */
	c.snd_nxt--;
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	cr_expect_eq(tf_ev_count(STACK_EV_PEER_FIN), 0);
	tf_expect_ack(tf_one("ACK of the FIN again"), &c, tf_sseq(&c, 100), "FIN again");
	stack_close(F.s, c.id);
	cr_expect_eq(tf_queue(&c, 10, 2), -ENOTCONN, "send after close in CLOSE-WAIT");
	tf_poll();
	const struct tf_frame *fr = tf_one("our FIN");
	cr_expect_eq(fr->flags, TCP_FIN | TCP_ACK);
	cr_expect_eq(fr->seq, tf_sseq(&c, 100));
	cr_expect_eq(fr->ack, c.snd_nxt);
	cr_expect_eq(tf_info(&c).state, TCP_S_LAST_ACK);
	tf_ack(&c, tf_sseq(&c, 101));
	cr_expect_eq(F.nfr, 0);
	cr_assert_eq(F.nev, 1);
	cr_expect_eq(F.ev[0].kind, STACK_EV_CLOSED);
	cr_expect_eq(F.ev[0].res, 0);
	struct tcp_conn_info i;
	cr_expect_eq(tcp_conn_info(stack_tcp(F.s), c.id, &i), -ENOENT);
}

Test(tcp_close, our_fin_first_then_timewait)
{
	struct tf_conn c;
	tf_start_plain(&c, 48100);
	close_ours(&c);
	const struct tf_frame *fr = tf_one("our FIN");
	cr_expect_eq(fr->flags, TCP_FIN | TCP_ACK);
	cr_expect_eq(fr->seq, tf_sseq(&c, 0));
	cr_expect_eq(tf_info(&c).state, TCP_S_FIN_WAIT_1);
	tf_ack(&c, tf_sseq(&c, 1));
	tf_expect_silence("the ACK of our FIN");
	cr_expect_eq(tf_info(&c).state, TCP_S_FIN_WAIT_2);
	/* the peer may still send: data in FIN-WAIT-2 is delivered */
	static const uint8_t tail[20] = { 1, 2, 3 };
	tf_send(&c, TCP_ACK | TCP_PSH, tail, sizeof(tail));
	cr_expect_eq(tf_ev_count(STACK_EV_DATA), 1);
	tf_expect_ack(tf_one("ACK of data"), &c, tf_sseq(&c, 1), "ACK of data");
	/* its FIN: ACKed at once, TIME-WAIT, the id is free */
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	tf_expect_ack(tf_one("the last ACK"), &c, tf_sseq(&c, 1), "the last ACK");
	cr_assert_eq(tf_ev_count(STACK_EV_CLOSED), 1);
	cr_expect_eq(tf_ev_find(STACK_EV_CLOSED)->res, 0);
	cr_expect_eq(tf_ev_find(STACK_EV_CLOSED)->conn, c.id);
	struct tcp_conn_info i;
	cr_expect_eq(tcp_conn_info(stack_tcp(F.s), c.id, &i), -ENOENT);
	cr_expect_eq(tf_st()->timewait_in, 1);
	cr_expect_eq(tf_live_conns(), 0);
	/* a retransmitted FIN in TIME-WAIT is ACKed again */
	c.snd_nxt--;
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	tf_expect_ack(tf_one("TIME-WAIT re-ACK"), &c, tf_sseq(&c, 1), "TIME-WAIT re-ACK");
	cr_expect_eq(F.nev, 0);
	/* a bare ACK is not answered (no ACK loops), nor a RST */
	tf_ack(&c, tf_sseq(&c, 1));
	tf_expect_silence("ACK in TIME-WAIT");
	tf_send(&c, TCP_RST, NULL, 0);
	tf_expect_silence("RST in TIME-WAIT");
	c.snd_nxt--;
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	cr_expect_eq(F.nfr, 1, "RFC 1337: a RST does not end TIME-WAIT");
}

Test(tcp_close, a_new_syn_above_timewait_reopens)
{
	struct tf_conn c;
	tf_start_plain(&c, 48200);
	uint32_t old_id = c.id;
	to_timewait(&c);
	/* a SYN at or below the old sequence space is old: ACKed */
	struct tf_pkt p = tf_pkt_raw(c.port, c.snd_nxt - 1000, 0, TCP_SYN);
	tf_input(&p);
	tf_expect_ack(tf_one("old SYN in TIME-WAIT"), &c, tf_sseq(&c, 1), "old SYN");
	cr_expect_eq(tf_st()->synack_out, 1);
	/* one above it starts a new connection on the same 4-tuple */
	struct tf_conn d;
	F.nconns = 0;
	tf_conn_init(&d, TF_CLI_IP, c.port, c.snd_nxt + 100000);
	struct tf_opts o = TF_NO_OPTS;
	o.mss = 1460;
	tf_syn(&d, &o);
	tf_final_ack(&d, NULL, 0);
	cr_expect_eq(d.id, old_id, "the freed id is reused");
	tf_queue_poll(&d, 10, 1);
	cr_expect_eq(tf_data_frames(), 1);
}

Test(tcp_close, timewait_ends_after_fin_timeout)
{
	struct tf_conn c;
	tf_start_plain(&c, 48250);
	to_timewait(&c);
	F.now += 61 * S_US;
	tf_poll();
	/* gone: a FIN now meets the listener, which resets it */
	c.snd_nxt--;
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	const struct tf_frame *fr = tf_one("FIN after TIME-WAIT");
	cr_expect_eq(fr->flags & TCP_RST, TCP_RST);
}

Test(tcp_close, both_fins_at_once_go_through_closing)
{
	struct tf_conn c;
	tf_start_plain(&c, 48300);
	close_ours(&c);
	cr_assert_eq(tf_one("our FIN")->flags, TCP_FIN | TCP_ACK);
	/* the client's FIN crosses ours: it does not ACK our FIN */
	tf_send(&c, TCP_FIN | TCP_ACK, NULL, 0);
	cr_expect_eq(tf_ev_count(STACK_EV_PEER_FIN), 1);
	cr_expect_eq(tf_info(&c).state, TCP_S_CLOSING);
	tf_ack(&c, tf_sseq(&c, 1));
	cr_assert_eq(tf_ev_count(STACK_EV_CLOSED), 1);
	cr_expect_eq(tf_ev_find(STACK_EV_CLOSED)->res, 0);
	cr_expect_eq(tf_st()->timewait_in, 1);
}

Test(tcp_close, the_fin_rides_on_the_last_data)
{
	struct tf_conn c;
	tf_start_plain(&c, 48400);
	cr_assert_eq(tf_queue(&c, 2000, 1), 0);
	cr_assert_eq(tf_queue(&c, 10, 2), 0);
	close_ours(&c);
	cr_assert_eq(F.nfr, 2, "%u segments", F.nfr);
	cr_expect_eq(F.fr[0].flags & TCP_FIN, 0);
	cr_expect_eq(F.fr[1].flags, TCP_ACK | TCP_PSH | TCP_FIN);
	cr_expect_eq(F.fr[1].seq, tf_sseq(&c, 1460));
	cr_expect_eq(F.fr[1].plen, 550);
	cr_expect_eq(tf_st()->tx_full, 0);
	/* the data ACKed but not the FIN: ACKED for both sends, not CLOSED */
	tf_ack(&c, tf_sseq(&c, 2010));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 2);
	cr_expect_eq(tf_ev_count(STACK_EV_CLOSED), 0);
	tf_ack(&c, tf_sseq(&c, 2011));
	cr_expect_eq(tf_info(&c).state, TCP_S_FIN_WAIT_2);
	tf_expect_silence("the ACK of the FIN");
}

Test(tcp_close, an_unanswered_fin_is_retransmitted)
{
	struct tf_conn c;
	tf_start_plain(&c, 48450);
	close_ours(&c);
	uint64_t t0 = F.now;
	cr_assert(tf_step(t0 + 10 * S_US));
	const struct tf_frame *fr = tf_one("FIN again");
	cr_expect_eq(fr->flags, TCP_FIN | TCP_ACK);
	cr_expect_eq(fr->seq, tf_sseq(&c, 0));
	cr_expect_eq(F.now - t0, S_US);
	/* after tcp_close the connection gives up after orphan_retries (6) */
	uint32_t n = 1;
	while (tf_step(F.now + 3600 * S_US) && !tf_ev_count(STACK_EV_CLOSED))
		n++;
	cr_expect_eq(n, 6, "%u FIN retransmissions", n);
	cr_expect_eq(tf_ev_find(STACK_EV_CLOSED)->res, -ETIMEDOUT);
}

/* ---- resets ---- */

Test(tcp_close, an_exact_rst_reports_every_send_then_closed)
{
	struct tf_conn c;
	tf_start_plain(&c, 48500);
	for (uint32_t k = 0; k < 4; k++)
		tf_queue_poll(&c, 3000, 10 + k);
	tf_ack(&c, tf_sseq(&c, 3000));
	cr_assert_eq(tf_ev_count(STACK_EV_ACKED), 1);
	tf_send(&c, TCP_RST, NULL, 0);
	cr_expect_eq(F.nfr, 0, "a RST was answered");
	cr_assert_eq(F.nev, 4, "%u events", F.nev);
	for (uint32_t k = 0; k < 3; k++) {
		cr_expect_eq(F.ev[k].kind, STACK_EV_ACKED);
		cr_expect_eq(F.ev[k].cookie, 11 + k);
	}
	cr_expect_eq(F.ev[3].kind, STACK_EV_CLOSED);
	cr_expect_eq(F.ev[3].res, -ECONNRESET);
	cr_expect_eq(tf_st()->rst_in, 1);
	struct tcp_conn_info i;
	cr_expect_eq(tcp_conn_info(stack_tcp(F.s), c.id, &i), -ENOENT);
}

struct rst_case {
	const char *name;
	int64_t off; /* from rcv_nxt */
	uint8_t flags;
	int challenged;
};

/* RFC 5961 §3.2: an in-window RST that is not exact gets a challenge
 * ACK; one outside the window is dropped silently. Neither resets. */
static void expect_rst_kept(const struct rst_case *cases, size_t n)
{
	static struct tf_conn c;
	F.nconns = 0;
	tf_connect_plain(&c, 48600, 0);
	tf_queue_poll(&c, 500, 1);
	for (size_t i = 0; i < n; i++) {
		const struct rst_case *k = &cases[i];
		uint64_t chal = tf_st()->challenge_acks;
		struct tf_pkt p = tf_pkt_for(&c);
		p.seq = c.snd_nxt + (uint32_t)k->off;
		p.flags = k->flags;
		tf_input(&p);
		cr_expect_eq(F.nev, 0, "%s: %u events", k->name, F.nev);
		if (k->challenged) {
			const struct tf_frame *fr = tf_one(k->name);
			tf_expect_ack(fr, &c, tf_sseq(&c, 500), k->name);
		} else {
			tf_expect_silence(k->name);
		}
		cr_expect_eq(tf_st()->challenge_acks, chal + k->challenged, "%s", k->name);
		cr_expect_eq(tf_info(&c).state, TCP_S_ESTABLISHED, "%s", k->name);
	}
	/* and the connection still works */
	tf_ack(&c, tf_sseq(&c, 500));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 1);
}

Test(tcp_close, inexact_rsts_are_challenged_or_ignored)
{
	tf_start(NULL);
	const uint8_t R = TCP_RST, RA = TCP_RST | TCP_ACK;
	TU_TABLE(expect_rst_kept, struct rst_case, { "RST at rcv_nxt + 1", 1, R, 1 },
		 { "RST+ACK at rcv_nxt + 1000", 1000, RA, 1 },
		 { "RST at the window's last byte", 65534, R, 1 },
		 { "RST just past the window", 65535, R, 0 },
		 { "RST far beyond the window", 0x40000000, R, 0 },
		 { "RST below rcv_nxt", -1, R, 0 }, { "RST far below", -100000, RA, 0 });
}

struct syn_case {
	const char *name;
	int64_t off;
};

/* RFC 5961 §4.2: a SYN on a synchronized connection, in the window or
 * not, gets a challenge ACK; the connection stays. */
static void expect_syn_challenged(const struct syn_case *cases, size_t n)
{
	static struct tf_conn c;
	F.nconns = 0;
	tf_connect_plain(&c, 48700, 0);
	for (size_t i = 0; i < n; i++) {
		struct tf_pkt p = tf_pkt_for(&c);
		p.seq = c.snd_nxt + (uint32_t)cases[i].off;
		p.flags = TCP_SYN;
		p.ack = 0;
		tf_input(&p);
		tf_expect_ack(tf_one(cases[i].name), &c, tf_sseq(&c, 0), cases[i].name);
		cr_expect_eq(F.nev, 0, "%s", cases[i].name);
		cr_expect_eq(tf_info(&c).state, TCP_S_ESTABLISHED, "%s", cases[i].name);
	}
	cr_expect_eq(tf_st()->challenge_acks, n);
	cr_expect_eq(tf_st()->synack_out, 1, "a SYN-ACK for a SYN on a connection");
}

Test(tcp_close, a_syn_on_an_established_connection_is_challenged)
{
	tf_start(NULL);
	TU_TABLE(expect_syn_challenged, struct syn_case, { "SYN at rcv_nxt", 0 },
		 { "SYN in the window", 100 }, { "SYN below", -5000 },
		 { "SYN beyond the window", 1000000 });
}

Test(tcp_close, challenge_acks_are_rate_limited)
{
	TF_START_WITH(tcp.challenge_acks_per_s, 5);
	struct tf_conn c;
	tf_connect_plain(&c, 48800, 0);
	uint32_t sent = 0;
	for (int k = 0; k < 12; k++) {
		struct tf_pkt p = tf_pkt_for(&c);
		p.seq = c.snd_nxt + 10 + (uint32_t)k;
		p.flags = TCP_RST;
		tf_input(&p);
		sent += F.nfr;
		F.now += 10 * MS_US;
	}
	cr_expect_eq(sent, 5, "%u challenge ACKs in a second, limit 5", sent);
	cr_expect_eq(tf_st()->challenge_acks, 5);
	cr_expect_eq(tf_st()->challenge_acks_limited, 7);
	/* the next second has a new budget, SYNs and old ACKs share it */
	F.now += S_US;
	struct tf_pkt p = tf_pkt_for(&c);
	p.flags = TCP_SYN;
	tf_input(&p);
	cr_expect_eq(F.nfr, 1, "a challenge ACK in the next second");
	cr_expect_eq(tf_st()->challenge_acks, 6);
	cr_expect_eq(tf_info(&c).state, TCP_S_ESTABLISHED);
}
