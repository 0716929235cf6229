/*
 * tcp_in: what an arriving segment does (RFC 9293 §3.10.7, in its order),
 * with RFC 5961's checks against blind injection, RFC 7323's PAWS, the SACK
 * scoreboard (RFC 2018) and loss detection (RFC 6675 §5, RFC 6582 §3.2).
 *
 * Input changes state and owes output; the owed data and ACKs go out at
 * the next tcp_poll() (tcp_output). Replies that belong to no connection
 * (SYN-ACK, RST, TIME-WAIT ACKs) and challenge ACKs go out at once.
 */
#include <errno.h>
#include <string.h>

#include "byteio.h"
#include "tcp_int.h"

int tcp_opt_next(const uint8_t *p, size_t len, size_t *at, struct tcp_opt *out)
{
	size_t i = *at;
	while (i < len && p[i] == 1) /* NOP */
		i++;
	if (i >= len || p[i] == 0) { /* the end, or EOL */
		*at = len;
		return 0;
	}
	if (i + 1 >= len || p[i + 1] < 2 || i + p[i + 1] > len)
		return -EBADMSG;
	out->kind = p[i];
	out->len = p[i + 1];
	out->val = p + i + 2;
	*at = i + out->len;
	return 1;
}

int tcp_parse_opts(const uint8_t *p, size_t len, int syn, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	struct tcp_opt opt;
	size_t at = 0;
	int rc;
	while ((rc = tcp_opt_next(p, len, &at, &opt)) > 0) {
		const uint8_t olen = opt.len, *v = opt.val;
		switch (opt.kind) {
		case 2:
			if (olen == 4 && syn) {
				o->has_mss = 1;
				o->mss = byteio_be16(v);
			}
			break;
		case 3:
			if (olen == 3 && syn) {
				o->has_ws = 1;
				o->wscale = v[0];
			}
			break;
		case 4:
			if (olen == 2 && syn)
				o->sack_ok = 1;
			break;
		case 5:
			if (olen >= 10 && (olen - 2) % 8 == 0 && !syn) {
				uint32_t n = (olen - 2u) / 8u;
				for (uint32_t k = 0; k < n && k < 4; k++) {
					o->sack[k][0] = byteio_be32(v + 8 * k);
					o->sack[k][1] = byteio_be32(v + 8 * k + 4);
				}
				o->nsack = (uint8_t)(n < 4 ? n : 4);
			}
			break;
		case 8:
			if (olen == 10) {
				o->has_ts = 1;
				o->tsval = byteio_be32(v);
				o->tsecr = byteio_be32(v + 4);
			}
			break;
		default: break;
		}
	}
	return rc; /* on -EBADMSG, what was parsed before stands */
}

struct seg {
	uint32_t seq, ack, len; /* len: payload bytes */
	uint16_t win;
	uint8_t flags;
	const uint8_t *data;
	struct tcp_opts o;
	uint64_t rx_handle;
};

/* RST for a segment that has no connection (RFC 9293 §3.10.7.1). */
static void reply_rst(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		      const struct seg *s, struct stack_out *out)
{
	if (s->flags & TCP_RST)
		return;
	struct tcp_raw raw = { .local = l, .remote = r, .ws = -1 };
	if (s->flags & TCP_ACK) {
		raw.seq = s->ack;
		raw.flags = TCP_RST;
	} else {
		raw.seq = 0;
		raw.ack = s->seq + s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
		raw.flags = TCP_RST | TCP_ACK;
	}
	if (tcp_send_raw(t, &raw, out) == 0)
		t->st.rst_out++;
}

static int listener_tag(const struct tcp *t, uint16_t port, uint32_t *tag)
{
	if (!t->listening)
		return 0;
	for (uint32_t i = 0; i < t->n_listen; i++) {
		if (t->listen[i].port == port) {
			*tag = t->listen[i].tag;
			return 1;
		}
	}
	return 0;
}

static void syn_ack(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		    const struct seg *s, struct stack_out *out)
{
	struct tcp_opts o = s->o;
	if (t->cfg.sack < 0)
		o.sack_ok = 0;
	uint16_t mss;
	uint32_t cookie = tcp_cookie_make(t, l, r, s->seq, t->now, &o, &mss);
	uint16_t mine = (uint16_t)(t->cfg.mtu - 40);
	struct tcp_raw raw = {
		.local = l,
		.remote = r,
		.seq = cookie,
		.ack = s->seq + 1,
		.flags = TCP_SYN | TCP_ACK,
		.win = (uint16_t)(t->cfg.rcv_wnd > 65535 ? 65535 : t->cfg.rcv_wnd),
		.mss = mine,
		/* our shift is 0 (we offer at most 64 KiB), but the option
		 * must be there for the client's own shift to apply */
		.ws = o.has_ws ? 0 : -1,
		.sack_ok = o.sack_ok,
		.ts = o.has_ts && t->cfg.timestamps >= 0,
		.tsval = tcp_now_ms(t->now) + tcp_ts_offset(t, l, r),
		.tsecr = o.tsval,
	};
	if (tcp_send_raw(t, &raw, out) == 0)
		t->st.synack_out++;
}

/* The final ACK of a cookie handshake: the connection, or NULL. */
static struct tcp_conn *cookie_accept(struct tcp *t, const struct stack_addr *l,
				      const struct stack_addr *r, const struct seg *s, uint32_t tag,
				      struct stack_out *out)
{
	uint16_t mss;
	int ws, sack;
	if (tcp_cookie_check(t, l, r, s->seq - 1, s->ack - 1, t->now, &mss, &ws, &sack) < 0) {
		t->st.cookie_bad++;
		reply_rst(t, l, r, s, out);
		return NULL;
	}
	t->st.cookie_ok++;
	if (out->nev + 1 > out->evcap) {
		/* no room to report it: the client's retransmission will */
		t->st.accept_overflow++;
		return NULL;
	}
	struct tcp_conn *c = tcp_conn_new(t, l, r);
	if (!c) {
		t->st.accept_overflow++;
		return NULL;
	}
	c->state = TCP_S_ESTABLISHED;
	c->tag = tag;
	c->iss = s->ack - 1;
	c->snd_una = c->snd_nxt = c->snd_max = c->buf_end = c->sack_high = s->ack;
	c->recover = c->snd_una;
	c->irs = s->seq - 1;
	c->rcv_nxt = s->seq;
	c->sack_ok = (uint8_t)(sack && t->cfg.sack >= 0);
	/* timestamps only if our SYN-ACK had them: then the echo is a TSval
	 * we sent within the cookie's life (RFC 7323 §3.2: a TSopt not
	 * negotiated is ignored) */
	uint32_t echo_age = tcp_now_ms(t->now) + tcp_ts_offset(t, l, r) - s->o.tsecr;
	c->ts_ok = (uint8_t)(s->o.has_ts && t->cfg.timestamps >= 0 && echo_age <= 200000);
	c->snd_wscale = (uint8_t)(ws < 0 ? 0 : ws);
	uint32_t mine = t->cfg.mtu - 40u;
	c->smss = (mss < mine ? mss : mine) - (c->ts_ok ? TCP_TS_OPT_LEN : 0);
	c->snd_wnd = (uint32_t)s->win << c->snd_wscale;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	c->ts_recent = s->o.tsval;
	c->ts_off = tcp_ts_offset(t, l, r);
	c->rto_us = t->cfg.rto_init_us;
	c->rcv_adv = c->rcv_nxt + t->cfg.rcv_wnd;
	c->last_send_us = t->now;
	t->cfg.cc->init(c);
	t->st.accepts++;
	/* room was checked above, before the slot was taken */
	struct stack_ev *ev = stack_out_ev(out);
	if (ev) {
		memset(ev, 0, sizeof(*ev));
		ev->kind = STACK_EV_ACCEPT;
		ev->conn = tcp_conn_id(t, c);
		ev->tag = tag;
		ev->peer = *r;
	}
	return c;
}

static void challenge_ack(struct tcp *t, struct tcp_conn *c, struct stack_out *out)
{
	if (tcp_challenge_allowed(t))
		tcp_send_ctl(t, c, TCP_ACK, c->snd_max, out);
}

/* ---- the SACK scoreboard ---- */

static void sack_prune(struct tcp_conn *c)
{
	uint32_t k = 0, j = 0;
	for (; k < c->nsack; k++) {
		if (SEQ_LEQ(c->sack_e[k], c->snd_una))
			continue;
		c->sack_s[j] = SEQ_MAX(c->sack_s[k], c->snd_una);
		c->sack_e[j] = c->sack_e[k];
		j++;
	}
	c->nsack = (uint8_t)j;
}

/* Merges [s, e) into the sorted, disjoint ranges. When all slots are
 * taken, the highest range is forgotten: data it covered is sent again if
 * needed, which costs bytes, never correctness. Returns 1 when the
 * scoreboard changed. */
static int sack_add(struct tcp_conn *c, uint32_t s, uint32_t e)
{
	uint32_t k = 0;
	while (k < c->nsack && SEQ_LT(c->sack_e[k], s))
		k++;
	/* ranges k.. that touch [s, e) merge into it */
	uint32_t j = k;
	uint32_t ns = s, ne = e;
	while (j < c->nsack && SEQ_LEQ(c->sack_s[j], e)) {
		ns = SEQ_MIN(ns, c->sack_s[j]);
		ne = SEQ_MAX(ne, c->sack_e[j]);
		j++;
	}
	if (j == k + 1 && c->sack_s[k] == ns && c->sack_e[k] == ne)
		return 0; /* nothing new */
	uint32_t removed = j - k;
	if (removed == 0) {
		if (c->nsack == TCP_SACK_MAX) {
			if (k == TCP_SACK_MAX)
				return 0; /* above everything kept: forget it */
			c->nsack--;
		}
		memmove(&c->sack_s[k + 1], &c->sack_s[k], (c->nsack - k) * sizeof(uint32_t));
		memmove(&c->sack_e[k + 1], &c->sack_e[k], (c->nsack - k) * sizeof(uint32_t));
		c->nsack++;
	} else if (removed > 1) {
		memmove(&c->sack_s[k + 1], &c->sack_s[j], (c->nsack - j) * sizeof(uint32_t));
		memmove(&c->sack_e[k + 1], &c->sack_e[j], (c->nsack - j) * sizeof(uint32_t));
		c->nsack = (uint8_t)(c->nsack - (removed - 1));
	}
	c->sack_s[k] = ns;
	c->sack_e[k] = ne;
	return 1;
}

/* RFC 6675 IsLost(snd_una): more than (DupThresh - 1) * SMSS bytes, or
 * DupThresh ranges, SACKed above it. */
static int head_lost(const struct tcp_conn *c)
{
	if (SEQ_GT(c->sack_high, tcp_sack_top(c)))
		return 1; /* the scoreboard overflowed: many ranges above */
	if (!c->nsack)
		return 0;
	uint32_t bytes = 0;
	for (uint32_t k = 0; k < c->nsack; k++)
		bytes += c->sack_e[k] - c->sack_s[k];
	return c->nsack >= TCP_DUPTHRESH || bytes > (TCP_DUPTHRESH - 1) * c->smss;
}

/* ---- RTT (RFC 6298 §2) ---- */

static void rtt_sample(struct tcp *t, struct tcp_conn *c, uint32_t r)
{
	if (!r)
		r = 1;
	if (!c->srtt_us) {
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		uint32_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
		c->rttvar_us = c->rttvar_us - c->rttvar_us / 4 + d / 4;
		c->srtt_us = c->srtt_us - c->srtt_us / 8 + r / 8;
	}
	uint64_t rto = (uint64_t)c->srtt_us + 4ull * c->rttvar_us;
	if (rto < t->cfg.rto_min_us)
		rto = t->cfg.rto_min_us;
	if (rto > t->cfg.rto_max_us)
		rto = t->cfg.rto_max_us;
	c->rto_us = (uint32_t)rto;
}

static int fin_sent(const struct tcp_conn *c)
{
	return c->fin_queued && c->snd_max == c->buf_end + 1;
}

/* Our FIN is acknowledged: where that leads. */
static void our_fin_acked(struct tcp *t, struct tcp_conn *c, struct stack_out *out)
{
	switch (c->state) {
	case TCP_S_FIN_WAIT_1:
		c->state = TCP_S_FIN_WAIT_2;
		tcp_timer_set(t, c, TCP_T_FINWAIT, t->now + t->cfg.fin_timeout_us);
		break;
	case TCP_S_CLOSING: tcp_enter_timewait(t, c); break;
	case TCP_S_LAST_ACK: tcp_set_closed(t, c, 0); break;
	default: break;
	}
	(void)out;
}

static void on_ack(struct tcp *t, struct tcp_conn *c, const struct seg *s, struct stack_out *out)
{
	uint32_t ack = s->ack;
	uint32_t wnd = (uint32_t)s->win << c->snd_wscale;
	int dup_candidate = ack == c->snd_una && s->len == 0 && !(s->flags & (TCP_SYN | TCP_FIN)) &&
			    wnd == c->snd_wnd && c->snd_una != c->snd_max;
	int sack_changed = 0;
	if (c->sack_ok) {
		for (uint32_t k = 0; k < s->o.nsack; k++) {
			uint32_t bs = s->o.sack[k][0], be = s->o.sack[k][1];
			/* empty, D-SACK below snd_una, or beyond what we sent:
			 * not a range we can use */
			if (!SEQ_LT(bs, be) || SEQ_LEQ(be, SEQ_MAX(ack, c->snd_una)) ||
			    SEQ_GT(be, c->snd_max) || SEQ_LT(bs, c->snd_una) ||
			    be - bs > c->snd_max - c->snd_una)
				continue;
			sack_changed |= sack_add(c, bs, be);
			if (SEQ_GT(be, c->sack_high)) {
				c->sack_high = be; /* news even when not kept */
				sack_changed = 1;
			}
		}
	}

	if (SEQ_GT(ack, c->snd_una)) {
		uint32_t acked = ack - c->snd_una;
		if (c->rtt_timing && SEQ_GEQ(ack, c->rtt_seq)) {
			c->rtt_timing = 0;
			rtt_sample(t, c, (uint32_t)(t->now - c->rtt_start_us));
		}
		c->snd_una = ack;
		if (SEQ_LT(c->snd_nxt, ack))
			c->snd_nxt = ack;
		if (SEQ_LT(c->sack_high, ack))
			c->sack_high = ack;
		c->head_rxt_out = 0;
		c->backoff = 0;
		sack_prune(c);
		if (c->in_recovery) {
			if (SEQ_GEQ(ack, c->recover)) {
				c->in_recovery = 0;
				c->dupacks = 0;
				t->cfg.cc->on_recovered(c);
			} else if (!c->sack_ok) {
				/* RFC 6582 §3.2 step 5: partial ACK: the next
				 * hole is lost too; deflate by what was acked */
				c->rxt_head = 1;
				c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
				if (acked >= c->smss)
					c->cwnd += c->smss;
				if (c->cwnd < c->smss)
					c->cwnd = c->smss;
			}
		} else {
			c->dupacks = 0;
			t->cfg.cc->on_ack(c, acked, t->now);
		}
		if (c->rto_recovery && SEQ_GEQ(c->snd_una, c->recover))
			c->rto_recovery = 0;
		if (fin_sent(c) && ack == c->snd_max)
			our_fin_acked(t, c, out);
		if (c->state != TCP_S_CLOSED && c->timer_kind == TCP_T_RTO) {
			if (c->snd_una == c->snd_max)
				tcp_timer_clear(t, c);
			else
				tcp_timer_set(t, c, TCP_T_RTO, t->now + c->rto_us);
		}
		tcp_mark_dirty(t, c);
	} else if (dup_candidate || (sack_changed && ack == c->snd_una)) {
		c->dupacks++;
		t->st.dup_acks++;
		if (c->in_recovery && !c->sack_ok)
			c->cwnd += c->smss; /* RFC 6582 step 4: inflate */
		/* a lost retransmission of the head: DupThresh segments sent
		 * after it are SACKed and it is not (as Linux's lost-retransmit
		 * detection): send it again now, not after an RTO */
		if (c->in_recovery && c->sack_ok && c->head_rxt_out &&
		    SEQ_GT(c->sack_high, c->head_rxt_mark + (TCP_DUPTHRESH - 1) * c->smss)) {
			c->head_rxt_out = 0;
			c->rxt_head = 1;
			t->st.lost_retransmits++;
		}
		tcp_mark_dirty(t, c);
	}

	/* the send window (RFC 9293 §3.10.7.4, SND.WL1/WL2) */
	if (SEQ_LT(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && SEQ_LEQ(c->snd_wl2, ack))) {
		if (wnd != c->snd_wnd)
			tcp_mark_dirty(t, c);
		c->snd_wnd = wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = ack;
		if (wnd > c->max_snd_wnd)
			c->max_snd_wnd = wnd;
		if (wnd && c->timer_kind == TCP_T_PERSIST) {
			/* the window opened: sending resumes at once, from
			 * snd_una, for a closed window dropped what was in
			 * flight beyond it */
			tcp_timer_clear(t, c);
			c->probing = 0;
			c->backoff = 0;
			if (SEQ_LT(c->snd_una, c->snd_max))
				c->snd_nxt = c->snd_una;
		}
	}
	c->probes_out = 0; /* the peer is there: a zero window may last */

	/* loss: enter recovery once per window (RFC 6582 §3.2 step 2) */
	if (!c->in_recovery && c->state != TCP_S_CLOSED && c->snd_una != c->snd_max &&
	    SEQ_GEQ(c->snd_una, c->recover) &&
	    (c->dupacks >= TCP_DUPTHRESH || (c->sack_ok && head_lost(c)))) {
		uint32_t flight = c->snd_max - c->snd_una;
		c->in_recovery = 1;
		c->rto_recovery = 0;
		c->recover = c->snd_max;
		c->high_rxt = c->snd_una;
		c->rtt_timing = 0; /* Karn: retransmissions come */
		t->cfg.cc->on_loss(c, flight);
		/* RFC 6675 §5 (4.2) and RFC 6582 §3.2 (2A): the first
		 * segment presumed lost goes at once, whatever pipe says */
		c->rxt_head = 1;
		if (c->sack_ok) {
			t->st.sack_recovery++;
		} else {
			t->st.fast_recovery++;
			c->cwnd += TCP_DUPTHRESH * c->smss;
			c->rxt_head = 1;
		}
		tcp_mark_dirty(t, c);
	}
}

/* In-order payload and FIN. */
static void on_data(struct tcp *t, struct tcp_conn *c, const struct seg *s, struct stack_out *out)
{
	uint32_t seq = s->seq, len = s->len;
	const uint8_t *data = s->data;
	int fin = !!(s->flags & TCP_FIN);
	if (len || fin)
		c->ack_now = 1;
	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;
		if (skip > len)
			return; /* all old (a retransmitted FIN at most): ACK only */
		data += skip;
		len -= skip;
		seq = c->rcv_nxt;
	}
	if (seq != c->rcv_nxt) {
		t->st.ooo_dropped++;
		return;
	}
	uint32_t room = t->cfg.rcv_wnd;
	if (len > room) {
		len = room;
		fin = 0;
	}
	int can_receive = c->state == TCP_S_ESTABLISHED || c->state == TCP_S_FIN_WAIT_1 ||
			  c->state == TCP_S_FIN_WAIT_2;
	if (len && can_receive) {
		struct stack_ev *ev = stack_out_ev(out);
		if (!ev)
			return; /* not taken: the peer sends it again */
		memset(ev, 0, sizeof(*ev));
		ev->kind = STACK_EV_DATA;
		ev->conn = tcp_conn_id(t, c);
		ev->data = data;
		ev->len = len;
		ev->rx_handle = s->rx_handle;
		t->st.bytes_in += len;
	}
	if (can_receive)
		c->rcv_nxt += len;
	if (!fin || !can_receive)
		return;
	struct stack_ev *ev = stack_out_ev(out);
	if (!ev)
		return;
	memset(ev, 0, sizeof(*ev));
	ev->kind = STACK_EV_PEER_FIN;
	ev->conn = tcp_conn_id(t, c);
	c->rcv_nxt++;
	c->peer_fin = 1;
	switch (c->state) {
	case TCP_S_ESTABLISHED: c->state = TCP_S_CLOSE_WAIT; break;
	case TCP_S_FIN_WAIT_1: c->state = TCP_S_CLOSING; break;
	case TCP_S_FIN_WAIT_2:
		/* the last ACK goes now: the slot is gone after this */
		tcp_send_ctl(t, c, TCP_ACK, c->snd_max, out);
		c->ack_now = 0;
		tcp_enter_timewait(t, c);
		break;
	default: break;
	}
}

static int seq_acceptable(const struct tcp_conn *c, uint32_t seq, uint32_t seglen, uint32_t wnd)
{
	if (!seglen)
		return wnd ? SEQ_GEQ(seq, c->rcv_nxt) && SEQ_LT(seq, c->rcv_nxt + wnd)
			   : seq == c->rcv_nxt;
	if (!wnd)
		return 0;
	uint32_t last = seq + seglen - 1;
	return (SEQ_GEQ(seq, c->rcv_nxt) && SEQ_LT(seq, c->rcv_nxt + wnd)) ||
	       (SEQ_GEQ(last, c->rcv_nxt) && SEQ_LT(last, c->rcv_nxt + wnd));
}

static void on_segment(struct tcp *t, struct tcp_conn *c, const struct seg *s,
		       struct stack_out *out)
{
	if (c->state == TCP_S_CLOSED)
		return; /* being reported: nothing more happens to it */
	uint32_t seglen = s->len + !!(s->flags & TCP_SYN) + !!(s->flags & TCP_FIN);
	/* PAWS (RFC 7323 §5.3) */
	if (c->ts_ok && s->o.has_ts && !(s->flags & TCP_RST) && SEQ_LT(s->o.tsval, c->ts_recent)) {
		t->st.paws_dropped++;
		c->ack_now = 1;
		tcp_mark_dirty(t, c);
		return;
	}
	if (!seq_acceptable(c, s->seq, seglen, t->cfg.rcv_wnd)) {
		t->st.out_of_window++;
		if (!(s->flags & TCP_RST)) {
			/* a duplicate: ACK so the peer learns where we are;
			 * SYNs are answered below as challenges */
			if (!(s->flags & TCP_SYN)) {
				c->ack_now = 1;
				tcp_mark_dirty(t, c);
				return;
			}
		} else {
			return;
		}
	}
	if (s->flags & TCP_RST) {
		t->st.rst_in++;
		/* RFC 5961 §3.2: only the exact sequence number resets */
		if (s->seq == c->rcv_nxt)
			tcp_set_closed(t, c, -ECONNRESET);
		else
			challenge_ack(t, c, out);
		return;
	}
	if (s->flags & TCP_SYN) {
		/* RFC 5961 §4.2: a SYN on a synchronized connection */
		challenge_ack(t, c, out);
		return;
	}
	if (!(s->flags & TCP_ACK))
		return;
	/* RFC 5961 §5.2: the ACK must be within what we sent, and not older
	 * than the largest window the peer has offered */
	if (SEQ_GT(s->ack, c->snd_max)) {
		t->st.bad_ack++;
		c->ack_now = 1;
		tcp_mark_dirty(t, c);
		return;
	}
	if (SEQ_LT(s->ack, c->snd_una - c->max_snd_wnd)) {
		t->st.bad_ack++;
		challenge_ack(t, c, out);
		return;
	}
	if (c->ts_ok && s->o.has_ts && SEQ_LEQ(s->seq, c->rcv_nxt) &&
	    SEQ_GEQ(s->o.tsval, c->ts_recent))
		c->ts_recent = s->o.tsval;
	on_ack(t, c, s, out);
	if (c->state == TCP_S_CLOSED)
		return;
	if (s->len || (s->flags & TCP_FIN)) {
		on_data(t, c, s, out);
		if (c->ack_now)
			tcp_mark_dirty(t, c);
	}
}

static void on_timewait(struct tcp *t, struct tcp_tw *w, const struct seg *s, struct stack_out *out)
{
	if (s->flags & TCP_RST)
		return; /* RFC 1337: a RST does not end TIME-WAIT early */
	if (!(s->flags & (TCP_FIN | TCP_SYN)) && !s->len)
		return; /* a bare ACK needs no answer: no ACK loops */
	struct tcp_raw raw = {
		.local = &w->local,
		.remote = &w->remote,
		.seq = w->snd_nxt,
		.ack = w->rcv_nxt,
		.flags = TCP_ACK,
		.win = (uint16_t)t->cfg.rcv_wnd,
		.ws = -1,
		.ts = w->ts_ok,
		.tsval = tcp_now_ms(t->now) + w->ts_off,
		.tsecr = w->ts_recent,
	};
	tcp_send_raw(t, &raw, out);
}

void tcp_input(struct tcp *t, const struct tcp_seg_in *in, uint64_t now_us, struct stack_out *out)
{
	t->now = now_us;
	t->st.segs_in++;
	if (in->len < TCP_HDR_LEN) {
		t->st.malformed++;
		return;
	}
	const uint8_t *p = in->p;
	uint32_t doff = (uint32_t)(p[12] >> 4) * 4u;
	if (doff < TCP_HDR_LEN || doff > in->len) {
		t->st.malformed++;
		return;
	}
	struct seg s = {
		.seq = byteio_be32(p + 4),
		.ack = byteio_be32(p + 8),
		.flags = p[13] & 0x3f,
		.win = byteio_be16(p + 14),
		.data = p + doff,
		.len = (uint32_t)(in->len - doff),
		.rx_handle = in->rx_handle,
	};
	int syn = !!(s.flags & TCP_SYN);
	if (tcp_parse_opts(p + TCP_HDR_LEN, doff - TCP_HDR_LEN, syn, &s.o) < 0)
		t->st.malformed++;
	if ((s.flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN) ||
	    (s.flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST)) {
		t->st.malformed++;
		return;
	}
	struct stack_addr l = in->dst, r = in->src;
	l.port = byteio_be16(p + 2);
	r.port = byteio_be16(p + 0);
	if (!l.port || !r.port) {
		t->st.malformed++;
		return;
	}
	struct tcp_conn *c = tcp_lookup(t, &l, &r, NULL);
	if (c) {
		on_segment(t, c, &s, out);
		return;
	}
	struct tcp_tw *w = tcp_tw_lookup(t, &l, &r);
	if (w) {
		/* a new SYN above the old connection's sequence space may
		 * start again (RFC 9293 §3.10.7.4 note, as BSD does) */
		if (syn && !(s.flags & TCP_ACK) && SEQ_GT(s.seq, w->rcv_nxt))
			tcp_tw_drop(t, w);
		else {
			on_timewait(t, w, &s, out);
			return;
		}
	}
	uint32_t tag;
	if (!listener_tag(t, l.port, &tag)) {
		reply_rst(t, &l, &r, &s, out);
		return;
	}
	if (s.flags & TCP_RST)
		return;
	if (syn) {
		if (s.flags & TCP_ACK) {
			reply_rst(t, &l, &r, &s, out);
			return;
		}
		t->st.syn_in++;
		syn_ack(t, &l, &r, &s, out);
		return;
	}
	if (!(s.flags & TCP_ACK))
		return;
	c = cookie_accept(t, &l, &r, &s, tag, out);
	if (c)
		on_segment(t, c, &s, out);
}
