/*
 * Unit tests for the TCP engine's checks on arriving segments and its loss
 * recovery, through stack_input()/stack_poll() in virtual time with
 * crafted segments (tcp_fixture.h): segments outside the receive window
 * and old duplicates (answered with an ACK, never delivered: RFC 9293
 * §3.10.7.4); duplicate ACKs and fast retransmit (RFC 5681 §3.2, RFC 6582),
 * reordered older ACKs; ACKs beyond what was sent and ACKs too old (RFC
 * 5961 §5.2); SACK blocks the scoreboard must ignore and SACK-driven
 * retransmission of the holes (RFC 2018, RFC 6675); the retransmission
 * timer with back-off, giving up, go-back-N and Karn's rule (RFC 6298);
 * zero-window probing (RFC 9293 §3.8.6.1).
 *
 * Connections here are plain (MSS 1460, no timestamps) so that a segment is
 * 1460 bytes and SEG(k) is the server sequence number of segment k.
 */
#include "tcp_fixture.h"

TestSuite(tcp_recovery, .fini = tf_stop);

#define SMSS 1460u

/* The server sequence number of the start of segment k on c. */
#define SEG(c, k) tf_sseq((c), (uint32_t)(k)*SMSS)

/* A plain connection (SACK or not) with n full segments sent and none
 * acknowledged. */
static void flight_of(struct tf_conn *c, uint16_t port, int sack, uint32_t n)
{
	tf_connect_plain(c, port, sack);
	tf_queue_poll(c, n * SMSS, 1);
	cr_assert_eq(tf_data_frames(), n, "IW10 sends %u segments", n);
	for (uint32_t k = 0; k < n; k++) {
		cr_assert_eq(F.fr[k].seq, SEG(c, k));
		cr_assert_eq(F.fr[k].plen, SMSS);
	}
}

/* A pure ACK from c of ack with the given SACK blocks (as sequence
 * numbers), its window unchanged. */
static void ack_sack(struct tf_conn *c, uint32_t ack, int nsack, const uint32_t (*blk)[2])
{
	c->rcv_nxt = ack;
	struct tf_pkt p = tf_pkt_for(c);
	p.o.nsack = nsack;
	for (int k = 0; k < nsack; k++) {
		p.o.sack[k][0] = blk[k][0];
		p.o.sack[k][1] = blk[k][1];
	}
	tf_input(&p);
}

/* ---- the receive window ---- */

struct rx_case {
	const char *name;
	int32_t off; /* from rcv_nxt */
	uint32_t len;
	uint8_t flags;
	uint32_t delivered; /* bytes of a DATA event (the tail of the payload) */
	int ooo;	    /* counted in ooo_dropped rather than out_of_window */
};

/* Each segment is answered by one ACK of rcv_nxt (after what it
 * delivered) and delivers only its new, in-order bytes. */
static void expect_rx(const struct rx_case *cases, size_t n)
{
	static struct tf_conn c;
	static uint8_t pay[2000];
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 7 + 1);
	F.nconns = 0;
	tf_connect_plain(&c, 46000, 0);
	static const uint8_t first[500];
	tf_send(&c, TCP_ACK | TCP_PSH, first, sizeof(first)); /* some history */
	for (size_t i = 0; i < n; i++) {
		const struct rx_case *k = &cases[i];
		uint64_t oow = tf_st()->out_of_window, ooo = tf_st()->ooo_dropped;
		struct tf_pkt p = tf_pkt_for(&c);
		p.seq = c.snd_nxt + (uint32_t)k->off;
		p.flags = k->flags;
		p.pay = pay;
		p.plen = k->len;
		tf_input(&p);
		c.snd_nxt += k->delivered;
		const struct stack_ev *ev = tf_ev_find(STACK_EV_DATA);
		if (k->delivered) {
			cr_assert_not_null(ev, "%s: nothing delivered", k->name);
			cr_expect_eq(ev->len, k->delivered, "%s: %u bytes", k->name, ev->len);
			cr_expect_arr_eq(ev->data, pay + (k->len - k->delivered), k->delivered,
					 "%s: the wrong bytes", k->name);
		} else {
			cr_expect_null(ev, "%s: delivered %u bytes", k->name, ev ? ev->len : 0);
		}
		cr_expect_eq(F.nev, k->delivered ? 1 : 0, "%s: %u events", k->name, F.nev);
		tf_expect_ack(tf_one(k->name), &c, tf_sseq(&c, 0), k->name);
		cr_expect_eq(tf_st()->out_of_window, oow + (!k->delivered && !k->ooo),
			     "%s: out_of_window", k->name);
		cr_expect_eq(tf_st()->ooo_dropped, ooo + k->ooo, "%s: ooo_dropped", k->name);
	}
}

Test(tcp_recovery, out_of_window_and_old_segments_are_acked_not_delivered)
{
	tf_start(NULL);
	const uint8_t AP = TCP_ACK | TCP_PSH;
	TU_TABLE(expect_rx, struct rx_case, { "far beyond the window", 70000, 100, AP, 0, 0 },
		 { "just past the window", 65535, 10, AP, 0, 0 },
		 { "beyond the window, wrapped", (int32_t)0x7fff0000, 10, AP, 0, 0 },
		 { "an old duplicate", -400, 100, AP, 0, 0 },
		 { "an old duplicate ending at rcv_nxt", -100, 100, AP, 0, 0 },
		 { "an old pure ACK", -300, 0, TCP_ACK, 0, 0 },
		 { "in the window, not in order", 1000, 100, AP, 0, 1 },
		 { "overlapping rcv_nxt", -5, 10, AP, 5, 0 }, { "in order", 0, 100, AP, 100, 0 },
		 { "the last byte of the window", 65534, 1, AP, 0, 1 });
}

/* ---- ACKs ---- */

Test(tcp_recovery, three_dup_acks_retransmit_the_head_once)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46100, 0, 10);
	for (int d = 1; d <= 2; d++) {
		tf_ack(&c, SEG(&c, 0));
		tf_expect_silence("dup ACK before the third");
	}
	cr_expect_eq(tf_st()->dup_acks, 2);
	tf_ack(&c, SEG(&c, 0));
	const struct tf_frame *fr = tf_one("third dup ACK");
	cr_expect_eq(fr->seq, SEG(&c, 0), "retransmitted %u, want the head", fr->seq);
	cr_expect_eq(fr->plen, SMSS);
	cr_expect_eq(tf_st()->fast_recovery, 1);
	cr_expect_eq(tf_st()->retransmits, 1);
	/* more dup ACKs inflate the window: nothing new to send, no second copy */
	for (int d = 0; d < 5; d++) {
		tf_ack(&c, SEG(&c, 0));
		cr_expect_eq(tf_data_frames(), 0, "dup ACK %d in recovery sent data", d + 4);
	}
	cr_expect_eq(tf_st()->retransmits, 1);
	/* the retransmission fills the hole: all acknowledged */
	tf_ack(&c, SEG(&c, 10));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 1);
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_eq(i.flight, 0);
	cr_expect_eq(i.cwnd, i.ssthresh, "RFC 6582 §3.2 step 6: cwnd %u, ssthresh %u", i.cwnd,
		     i.ssthresh);
	cr_expect_eq(i.ssthresh, 5 * SMSS, "half of the 10 segments in flight");
}

Test(tcp_recovery, dup_acks_that_change_the_window_or_carry_data_are_not_counted)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46150, 0, 10);
	static const uint8_t req[10];
	for (int d = 0; d < 4; d++) {
		c.win = (uint16_t)(60000 + d); /* a window update each time */
		tf_ack(&c, SEG(&c, 0));
	}
	c.win = 60003;
	for (int d = 0; d < 3; d++) {
		tf_send(&c, TCP_ACK | TCP_PSH, req, sizeof(req)); /* data */
		cr_expect_eq(tf_data_frames(), 0);
	}
	cr_expect_eq(tf_st()->retransmits, 0);
	cr_expect_eq(tf_st()->fast_recovery, 0);
}

Test(tcp_recovery, a_reordered_older_ack_changes_nothing)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46200, 0, 10);
	tf_ack(&c, SEG(&c, 5));
	cr_expect_eq(tf_data_frames(), 0, "nothing queued beyond the 10 segments");
	struct tcp_conn_info before = tf_info(&c);
	uint64_t dups = tf_st()->dup_acks;
	c.win = 1000; /* an older ACK's window must not be taken either */
	for (int k = 0; k < 4; k++) {
		tf_ack(&c, SEG(&c, 2));
		tf_expect_silence("an older ACK");
	}
	struct tcp_conn_info after = tf_info(&c);
	cr_expect_eq(after.flight, before.flight);
	cr_expect_eq(after.snd_wnd, before.snd_wnd, "window %u -> %u", before.snd_wnd,
		     after.snd_wnd);
	cr_expect_eq(after.cwnd, before.cwnd);
	cr_expect_eq(tf_st()->dup_acks, dups);
	cr_expect_eq(tf_st()->retransmits, 0);
}

Test(tcp_recovery, an_ack_beyond_snd_max_is_dropped_and_acked)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46300, 0, 4);
	static const uint8_t req[50];
	uint32_t rcv = c.snd_nxt;
	c.rcv_nxt = SEG(&c, 4) + 1000;
	struct tf_pkt p = tf_pkt_for(&c);
	p.pay = req;
	p.plen = sizeof(req);
	tf_input(&p);
	cr_expect_eq(tf_ev_count(STACK_EV_DATA), 0, "its data was delivered");
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 0);
	const struct tf_frame *fr = tf_one("ACK beyond snd_max");
	cr_expect_eq(fr->flags, TCP_ACK);
	cr_expect_eq(fr->seq, SEG(&c, 4));
	cr_expect_eq(fr->ack, rcv, "acks %u, want %u (the data was dropped)", fr->ack, rcv);
	cr_expect_eq(tf_st()->bad_ack, 1);
	cr_expect_eq(tf_info(&c).flight, 4 * SMSS);
}

Test(tcp_recovery, a_too_old_ack_gets_a_challenge_ack)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46400, 0, 4);
	static const uint8_t req[50];
	/* older than snd_una - max_snd_wnd (65535): RFC 5961 §5.2 */
	c.rcv_nxt = SEG(&c, 0) - 70000;
	struct tf_pkt p = tf_pkt_for(&c);
	p.pay = req;
	p.plen = sizeof(req);
	tf_input(&p);
	cr_expect_eq(F.nev, 0, "the segment was processed");
	const struct tf_frame *fr = tf_one("challenge ACK");
	cr_expect_eq(fr->flags, TCP_ACK);
	cr_expect_eq(fr->seq, SEG(&c, 4));
	cr_expect_eq(fr->ack, c.snd_nxt);
	cr_expect_eq(tf_st()->challenge_acks, 1);
	cr_expect_eq(tf_st()->bad_ack, 1);
	/* an old ACK inside max_snd_wnd is only a duplicate: its data counts */
	c.rcv_nxt = SEG(&c, 0) - 60000;
	tf_send(&c, TCP_ACK | TCP_PSH, req, sizeof(req));
	cr_expect_eq(tf_ev_count(STACK_EV_DATA), 1, "data with an old, acceptable ACK");
	tf_expect_ack(tf_one("ACK of the data"), &c, SEG(&c, 4), "ACK of the data");
	cr_expect_eq(tf_st()->challenge_acks, 1);
}

/* ---- SACK ---- */

struct sack_case {
	const char *name;
	uint32_t pre_ack; /* segments acknowledged first */
	int64_t s, e;	  /* the block, in bytes from SEG(0) */
};

/* Blocks the scoreboard must ignore: beyond what was sent, below snd_una,
 * empty or reversed. Each is big enough that, taken, it would mark the
 * head lost and retransmit it at once; ignored, it is one dup ACK. */
static void expect_sack_ignored(const struct sack_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct sack_case *k = &cases[i];
		static struct tf_conn c;
		F.nconns = 0;
		flight_of(&c, (uint16_t)(46500 + i), 1, 10);
		if (k->pre_ack) {
			tf_ack(&c, SEG(&c, k->pre_ack));
			cr_assert_eq(tf_data_frames(), 0);
		}
		uint32_t flight = tf_info(&c).flight;
		uint32_t blk[1][2] = { { SEG(&c, 0) + (uint32_t)k->s,
					 SEG(&c, 0) + (uint32_t)k->e } };
		uint64_t rtx = tf_st()->retransmits;
		ack_sack(&c, SEG(&c, k->pre_ack), 1, blk);
		tf_expect_silence(k->name);
		cr_expect_eq(tf_info(&c).flight, flight, "%s: flight %u -> %u", k->name, flight,
			     tf_info(&c).flight);
		cr_expect_eq(tf_st()->retransmits, rtx, "%s", k->name);
		cr_expect_eq(tf_st()->sack_recovery, 0, "%s", k->name);
		stack_abort(F.s, c.id);
		tf_poll();
	}
}

Test(tcp_recovery, sack_blocks_outside_the_flight_are_ignored)
{
	tf_start(NULL);
	const int64_t M = 10 * SMSS; /* snd_max */
	TU_TABLE(expect_sack_ignored, struct sack_case,
		 { "ending past snd_max", 0, 5 * SMSS, M + 1 },
		 { "wholly past snd_max", 0, M + 100, M + 5 * SMSS },
		 { "far past snd_max", 0, 0x40000000, 0x40000000 + 5 * SMSS },
		 { "below snd_una", 6, 1 * SMSS, 5 * SMSS },
		 { "ending at snd_una", 6, 2 * SMSS, 6 * SMSS }, { "empty", 0, 5 * SMSS, 5 * SMSS },
		 { "reversed", 0, 9 * SMSS, 2 * SMSS });
}

Test(tcp_recovery, sack_retransmits_the_holes_and_nothing_sacked)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46600, 1, 10);
	/* segments 0 and 4 lost: one ACK SACKing 1-3 and 5-9 */
	const uint32_t blk[2][2] = { { SEG(&c, 5), SEG(&c, 10) }, { SEG(&c, 1), SEG(&c, 4) } };
	ack_sack(&c, SEG(&c, 0), 2, blk);
	cr_assert_eq(tf_data_frames(), 2, "%u segments, want the 2 holes", tf_data_frames());
	cr_expect_eq(F.fr[0].seq, SEG(&c, 0), "first the head: %u", F.fr[0].seq - SEG(&c, 0));
	cr_expect_eq(F.fr[0].plen, SMSS);
	cr_expect_eq(F.fr[1].seq, SEG(&c, 4), "then the second hole: %u", F.fr[1].seq - SEG(&c, 0));
	cr_expect_eq(F.fr[1].plen, SMSS);
	cr_expect_eq(tf_st()->sack_recovery, 1);
	cr_expect_eq(tf_st()->fast_recovery, 0);
	cr_expect_eq(tf_st()->retransmits, 2);
	/* the head arrives: a partial ACK, nothing more to resend */
	const uint32_t rest[1][2] = { { SEG(&c, 5), SEG(&c, 10) } };
	ack_sack(&c, SEG(&c, 4), 1, rest);
	cr_expect_eq(tf_data_frames(), 0, "resent after a partial ACK");
	/* the second hole arrives: all acknowledged, recovery over */
	tf_ack(&c, SEG(&c, 10));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 1);
	cr_expect_eq(tf_info(&c).flight, 0);
	cr_expect_eq(tf_st()->retransmits, 2);
}

Test(tcp_recovery, sack_recovery_sends_new_data_once_the_holes_are_resent)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46700, 1, 10);
	tf_queue_poll(&c, 10 * SMSS, 2);
	cr_expect_eq(tf_data_frames(), 0, "cwnd is full");
	/* only segment 0 lost: everything else SACKed */
	const uint32_t blk[1][2] = { { SEG(&c, 1), SEG(&c, 10) } };
	ack_sack(&c, SEG(&c, 0), 1, blk);
	cr_assert_geq(tf_data_frames(), 2);
	cr_expect_eq(F.fr[0].seq, SEG(&c, 0), "the hole first");
	for (uint32_t k = 1; k < F.nfr; k++)
		cr_expect_eq(F.fr[k].seq, SEG(&c, 9 + k), "then new data, in order");
	/* pipe (the resent head) plus new data stays within cwnd */
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_leq(i.flight, i.cwnd, "pipe %u over cwnd %u", i.flight, i.cwnd);
}

/* ---- the retransmission timer ---- */

Test(tcp_recovery, rto_backs_off_then_gives_up)
{
	struct tf_conn c;
	tf_start_plain(&c, 46800);
	tf_queue_poll(&c, 1000, 77);
	cr_assert_eq(tf_data_frames(), 1);
	uint64_t last = F.now;
	uint32_t n = 0;
	const uint64_t max_us = 60 * S_US; /* rto_max */
	while (tf_step(F.now + 3600 * S_US) && !tf_ev_count(STACK_EV_CLOSED)) {
		const struct tf_frame *fr = tf_one("RTO");
		uint64_t want = (S_US << n) < max_us ? S_US << n : max_us;
		cr_expect_eq(F.now - last, want, "retransmission %u after %lu ms, want %lu", n + 1,
			     (unsigned long)((F.now - last) / 1000), (unsigned long)(want / 1000));
		cr_expect_eq(fr->seq, tf_sseq(&c, 0));
		cr_expect_eq(fr->plen, 1000);
		last = F.now;
		n++;
		cr_assert(n <= 10, "more than max_retries retransmissions");
	}
	cr_expect_eq(n, 10, "max_retries (10) retransmissions, got %u", n);
	cr_expect_eq(F.now - last, max_us, "gave up %lu ms after the last",
		     (unsigned long)((F.now - last) / 1000));
	cr_assert_eq(F.nev, 2);
	cr_expect_eq(F.ev[0].kind, STACK_EV_ACKED);
	cr_expect_eq(F.ev[0].cookie, 77);
	cr_expect_eq(F.ev[1].kind, STACK_EV_CLOSED);
	cr_expect_eq(F.ev[1].res, -ETIMEDOUT);
	cr_expect_eq(F.nfr, 0);
	cr_expect_eq(tf_st()->rto, 10);
	cr_expect_eq(tf_st()->timeouts, 1);
}

Test(tcp_recovery, an_ack_resets_the_backoff)
{
	struct tf_conn c;
	tf_start_plain(&c, 46850);
	tf_queue_poll(&c, 1000, 1);
	uint64_t t0 = F.now;
	cr_assert(tf_step(t0 + 10 * S_US));
	cr_assert(tf_step(t0 + 10 * S_US));
	cr_expect_eq(F.now - t0, 3 * S_US, "second retransmission at +3 s");
	tf_ack(&c, tf_sseq(&c, 1000));
	tf_queue_poll(&c, 1000, 2);
	uint64_t t1 = F.now;
	cr_assert(tf_step(t1 + 10 * S_US));
	cr_expect_eq(F.now - t1, 1 * S_US, "the next RTO is not backed off");
}

Test(tcp_recovery, rto_goes_back_n_in_slow_start)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 46900, 0, 10);
	uint64_t t0 = F.now;
	cr_assert(tf_step(t0 + 5 * S_US));
	cr_expect_eq(F.now - t0, S_US);
	const struct tf_frame *fr = tf_one("RTO");
	cr_expect_eq(fr->seq, SEG(&c, 0), "one segment (cwnd = 1 SMSS), the head");
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_eq(i.cwnd, SMSS);
	cr_expect_eq(i.ssthresh, 5 * SMSS);
	tf_ack(&c, SEG(&c, 1));
	cr_assert_eq(tf_data_frames(), 2, "slow start: 2 after the first ACK");
	cr_expect_eq(F.fr[0].seq, SEG(&c, 1));
	cr_expect_eq(F.fr[1].seq, SEG(&c, 2));
	cr_expect_eq(tf_st()->retransmits, 3);
}

Test(tcp_recovery, karn_takes_no_rtt_sample_from_a_retransmission)
{
	struct tf_conn c;
	tf_start_plain(&c, 47000);
	tf_queue_poll(&c, 1000, 1);
	cr_assert(tf_step(F.now + 5 * S_US));
	cr_expect_eq(tf_data_frames(), 1, "the retransmission");
	F.now += 50 * MS_US;
	tf_ack(&c, tf_sseq(&c, 1000));
	struct tcp_conn_info i = tf_info(&c);
	cr_expect_eq(i.srtt_us, 0, "a sample (%u us) from a retransmitted segment", i.srtt_us);
	cr_expect_eq(i.rto_us, S_US);
	/* new data, acknowledged 80 ms later: a sample */
	tf_queue_poll(&c, 1000, 2);
	F.now += 80 * MS_US;
	tf_ack(&c, tf_sseq(&c, 2000));
	i = tf_info(&c);
	cr_expect_eq(i.srtt_us, 80000, "srtt %u", i.srtt_us);
	cr_expect_eq(i.rto_us, 240000, "RFC 6298 §2.2: srtt + 4 rttvar = %u", i.rto_us);
}

Test(tcp_recovery, karn_takes_no_sample_across_fast_retransmit)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 47050, 0, 4);
	F.now += 10 * MS_US;
	for (int d = 0; d < 3; d++)
		tf_ack(&c, SEG(&c, 0));
	cr_assert_eq(tf_st()->retransmits, 1);
	F.now += 300 * MS_US;
	tf_ack(&c, SEG(&c, 4));
	cr_expect_eq(tf_info(&c).srtt_us, 0, "sampled %u us", tf_info(&c).srtt_us);
}

/* ---- zero window ---- */

/* c closes its window, then the server has n bytes to send. */
static void zero_window(struct tf_conn *c, uint16_t port, uint32_t n)
{
	tf_connect_plain(c, port, 0);
	c->win = 0;
	tf_ack(c, tf_sseq(c, 0));
	tf_expect_silence("a window update");
	cr_assert_eq(tf_info(c).snd_wnd, 0);
	tf_queue_poll(c, n, 5);
	tf_expect_silence("data for a zero window");
}

/* A window probe: an ACK one below snd_una, no data. */
static void expect_probe(const struct tf_frame *fr, const struct tf_conn *c)
{
	cr_expect_eq(fr->flags, TCP_ACK, "probe flags %02x", fr->flags);
	cr_expect_eq(fr->seq, tf_sseq(c, 0) - 1, "probe seq");
	cr_expect_eq(fr->plen, 0);
	cr_expect_eq(fr->ack, c->snd_nxt);
}

Test(tcp_recovery, zero_window_probes_back_off_and_never_give_up_on_an_answering_peer)
{
	tf_start(NULL);
	struct tf_conn c;
	zero_window(&c, 47100, 5000);
	uint64_t t0 = F.now, last = F.now;
	uint32_t n = 0;
	const uint64_t max_us = 60 * S_US;
	while (tf_step(t0 + 30 * 60 * S_US)) {
		expect_probe(tf_one("probe"), &c);
		uint64_t want = (S_US << n) < max_us ? S_US << n : max_us;
		cr_expect_eq(F.now - last, want, "probe %u after %lu ms, want %lu", n + 1,
			     (unsigned long)((F.now - last) / 1000), (unsigned long)(want / 1000));
		last = F.now;
		n++;
		if (F.now - t0 <= 60 * S_US)
			cr_expect_geq(n, 1);
		tf_ack(&c, tf_sseq(&c, 0)); /* still zero */
		tf_expect_silence("the answer to a probe");
	}
	cr_expect_geq(n, 30, "%u probes in 30 minutes", n);
	cr_expect_eq(tf_st()->timeouts, 0);
	cr_expect_eq(tf_st()->zero_window_probes, n);
	/* the window opens: the data goes at once */
	c.win = TF_WND;
	tf_ack(&c, tf_sseq(&c, 0));
	cr_assert_eq(tf_data_frames(), 4, "5000 bytes in %u segments", tf_data_frames());
	cr_expect_eq(F.fr[0].seq, tf_sseq(&c, 0));
	cr_expect_eq(F.fr[3].seq, tf_sseq(&c, 3 * SMSS));
	cr_expect_eq(F.fr[3].plen, 5000 - 3 * SMSS);
	tf_ack(&c, tf_sseq(&c, 5000));
	cr_expect_eq(tf_ev_count(STACK_EV_ACKED), 1);
}

Test(tcp_recovery, zero_window_probing_gives_up_on_a_silent_peer)
{
	tf_start(NULL);
	struct tf_conn c;
	zero_window(&c, 47200, 5000);
	uint32_t probes = 0;
	while (tf_step(F.now + 3600 * S_US) && !tf_ev_count(STACK_EV_CLOSED)) {
		expect_probe(tf_one("probe"), &c);
		probes++;
		cr_assert(probes <= 10);
	}
	cr_expect_eq(probes, 10, "max_retries (10) probes, got %u", probes);
	cr_assert_eq(F.nev, 2);
	cr_expect_eq(F.ev[0].kind, STACK_EV_ACKED);
	cr_expect_eq(F.ev[1].kind, STACK_EV_CLOSED);
	cr_expect_eq(F.ev[1].res, -ETIMEDOUT);
	cr_expect_eq(tf_st()->timeouts, 1);
}

Test(tcp_recovery, a_window_too_small_for_a_segment_waits_for_more)
{
	/* sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): with data
	 * in flight, a window that fits less than a segment and less than
	 * half the largest seen is not used */
	struct tf_conn c;
	tf_start_plain(&c, 47300);
	c.win = (uint16_t)(2 * SMSS + 100);
	tf_ack(&c, tf_sseq(&c, 0));
	tf_queue_poll(&c, 4 * SMSS, 1);
	cr_assert_eq(tf_data_frames(), 2, "two full segments fit");
	cr_expect_eq(tf_st()->retransmits, 0);
	for (uint32_t k = 0; k < F.nfr; k++)
		cr_expect_eq(F.fr[k].plen, SMSS);
}

/* RFC 6675 §5 step (4.1)-(4.2): on entering loss recovery the sender MUST
 * retransmit the first segment presumed dropped, whatever pipe is; only
 * what follows is bounded by cwnd - pipe. (It once ran only the bounded
 * loop: with three dup ACKs SACKing one more segment each, pipe, 6
 * segments still out, was over cwnd, 5, and nothing went until two more
 * dup ACKs came.) */
Test(tcp_recovery, sack_recovery_resends_the_head_at_once)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 60100, 1, 10);
	for (uint32_t d = 1; d <= 3; d++) {
		c.rcv_nxt = SEG(&c, 0);
		struct tf_pkt p = tf_pkt_for(&c);
		p.o.nsack = 1;
		p.o.sack[0][0] = SEG(&c, 1);
		p.o.sack[0][1] = SEG(&c, 1 + d);
		tf_input(&p);
		if (d < 3)
			cr_expect_eq(tf_data_frames(), 0, "dup ACK %u", d);
	}
	cr_expect_eq(tf_st()->sack_recovery, 1);
	cr_assert_eq(tf_data_frames(), 1, "third dup ACK: %u segments", tf_data_frames());
	cr_expect_eq(F.fr[0].seq, SEG(&c, 0));
}

/* RFC 9293 §3.8.6.1: "the sending TCP MUST regularly retransmit to the
 * receiving TCP even when the window is zero". When the window closes with
 * data in flight (the client ACKs part of it with window 0), the RTO once
 * sent nothing (no room in the window) and no probe (only with nothing in
 * flight), and the connection died with ETIMEDOUT although the client
 * answered. */
Test(tcp_recovery, a_zero_window_with_data_in_flight_is_still_probed)
{
	tf_start(NULL);
	struct tf_conn c;
	flight_of(&c, 60101, 0, 3);
	c.win = 0;
	tf_ack(&c, SEG(&c, 1));
	uint64_t t0 = F.now;
	cr_expect(tf_step(t0 + 10 * S_US), "nothing sent in 10 s to a zero window");
	cr_expect_geq(F.nfr, 1);
	/* the probe is answered with the window open: what was in flight
	 * beyond snd_una goes again at once */
	c.win = 65535;
	tf_ack(&c, SEG(&c, 1));
	cr_assert_eq(tf_data_frames(), 2, "window opened: %u segments", tf_data_frames());
	cr_expect_eq(F.fr[0].seq, SEG(&c, 1));
	cr_expect_eq(tf_st()->rto, 0, "a closed window is not a loss");
}
