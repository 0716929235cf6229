/*
 * tcp_out: what a connection sends and the segments themselves.
 *
 * Which bytes go next:
 * - in SACK recovery, RFC 6675's NextSeg: the first lost hole above
 *   HighRxt, else new data, while cwnd - pipe allows a segment;
 * - in NewReno recovery (no SACK), the segment at snd_una once per partial
 *   ACK (RFC 6582), then new data within the inflated cwnd;
 * - otherwise from snd_nxt, which an RTO sets back to snd_una (go-back-N
 *   in slow start, skipping what the peer SACKed), then new data; bounded
 *   by cwnd and the peer's window, full-sized segments only unless the
 *   queue holds less (sender-side silly window avoidance).
 * The FIN rides on the last segment or goes alone; a zero window with
 * nothing in flight starts the persist timer; an owed ACK goes bare when
 * no segment carried it.
 *
 * A segment's payload is up to STACK_TX_SLICES references into the queued
 * chunks, found through a cursor so that sending in order costs O(1).
 */
#include <errno.h>
#include <string.h>

#include "byteio.h"
#include "tcp_int.h"

/* ---- building segments ---- */

static uint8_t *tcp_hdr_of(const struct tcp *t, struct stack_tx *tx)
{
	return tx->hdr + t->cfg.hdr_off;
}

/* The timestamp option, aligned to 4 bytes behind two NOPs, or behind
 * SACK-permitted when sack_ok: a SYN-ACK's two options in 12 bytes, laid
 * out as Linux sends them. */
static size_t put_ts(uint8_t *o, int sack_ok, uint32_t tsval, uint32_t tsecr)
{
	o[0] = sack_ok ? 4 : 1;
	o[1] = sack_ok ? 2 : 1;
	o[2] = 8;
	o[3] = 10;
	byteio_put_be32(o + 4, tsval);
	byteio_put_be32(o + 8, tsecr);
	return TCP_TS_OPT_LEN;
}

/* Writes the fixed header and options; returns the header length. */
static size_t put_hdr(uint8_t *h, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		      uint8_t flags, uint16_t win, const uint8_t *opts, size_t olen)
{
	byteio_put_be16(h, sport);
	byteio_put_be16(h + 2, dport);
	byteio_put_be32(h + 4, seq);
	byteio_put_be32(h + 8, ack);
	size_t hl = TCP_HDR_LEN + olen;
	h[12] = (uint8_t)((hl / 4) << 4);
	h[13] = flags;
	byteio_put_be16(h + 14, win);
	byteio_put_be16(h + 16, 0);
	byteio_put_be16(h + 18, 0);
	memcpy(h + TCP_HDR_LEN, opts, olen);
	return hl;
}

static struct stack_tx *tx_start(struct tcp *t, struct stack_out *out, const struct stack_addr *l,
				 const struct stack_addr *r)
{
	struct stack_tx *tx = stack_out_tx(out);
	if (!tx)
		return NULL;
	tx->n_pay = 0;
	tx->pay_len = 0;
	tx->hold_rx = 0;
	tx->ol_flags = 0;
	tx->src = *l;
	tx->dst = *r;
	tx->l4_proto = 6;
	(void)t;
	return tx;
}

static void tx_commit(struct tcp *t, struct stack_out *out, struct stack_tx *tx, size_t hl)
{
	tx->l4_len = (uint8_t)hl;
	tx->hdr_len = (uint16_t)(t->cfg.hdr_off + hl);
	out->ntx++;
	t->st.segs_out++;
}

static uint16_t adv_window(const struct tcp *t)
{
	return (uint16_t)(t->cfg.rcv_wnd > 65535 ? 65535 : t->cfg.rcv_wnd);
}

int tcp_send_raw(struct tcp *t, const struct tcp_raw *r, struct stack_out *out)
{
	struct stack_tx *tx = tx_start(t, out, r->local, r->remote);
	if (!tx)
		return -ENOBUFS;
	uint8_t o[40];
	size_t n = 0;
	if (r->mss) {
		o[n++] = 2;
		o[n++] = 4;
		byteio_put_be16(o + n, r->mss);
		n += 2;
	}
	if (r->ts) {
		n += put_ts(o + n, r->sack_ok, r->tsval, r->tsecr);
	} else if (r->sack_ok) {
		o[n++] = 1;
		o[n++] = 1;
		o[n++] = 4;
		o[n++] = 2;
	}
	if (r->ws >= 0) {
		o[n++] = 1;
		o[n++] = 3;
		o[n++] = 3;
		o[n++] = (uint8_t)r->ws;
	}
	size_t hl = put_hdr(tcp_hdr_of(t, tx), r->local->port, r->remote->port, r->seq, r->ack,
			    r->flags, r->win, o, n);
	tx_commit(t, out, tx, hl);
	return 0;
}

static size_t conn_opts(const struct tcp *t, const struct tcp_conn *c, uint8_t *o)
{
	if (!c->ts_ok)
		return 0;
	return put_ts(o, 0, tcp_now_ms(t->now) + c->ts_off, c->ts_recent);
}

int tcp_send_ctl(struct tcp *t, struct tcp_conn *c, uint8_t flags, uint32_t seq,
		 struct stack_out *out)
{
	struct stack_tx *tx = tx_start(t, out, &c->local, &c->remote);
	if (!tx)
		return -ENOBUFS;
	uint8_t o[40];
	size_t n = (flags & TCP_RST) ? 0 : conn_opts(t, c, o);
	size_t hl = put_hdr(tcp_hdr_of(t, tx), c->local.port, c->remote.port, seq, c->rcv_nxt,
			    flags, adv_window(t), o, n);
	tx_commit(t, out, tx, hl);
	c->ack_now = 0;
	return 0;
}

/* The chunk holding seq (seq < buf_end), starting from cur when it is at
 * or before seq; cur is left there for the next call. */
static uint32_t find_chunk(const struct tcp *t, const struct tcp_conn *c, struct tcp_cursor *cur,
			   uint32_t seq)
{
	if (cur->chunk == TCP_NIL || SEQ_LT(seq, cur->cseq)) {
		cur->chunk = c->q_head;
		cur->cseq = c->q_head_seq;
	}
	while (cur->chunk != TCP_NIL && SEQ_GEQ(seq, cur->cseq + t->chunks[cur->chunk].len)) {
		cur->cseq += t->chunks[cur->chunk].len;
		cur->chunk = t->chunks[cur->chunk].next;
	}
	return cur->chunk;
}

/* One segment of [seq, seq + len) of the stream, plus FIN when fin. The
 * payload may come out shorter (slices run out); returns the bytes sent,
 * or -ENOBUFS. */
static int send_seg(struct tcp *t, struct tcp_conn *c, struct tcp_cursor *cur, uint32_t seq,
		    uint32_t len, int fin, struct stack_out *out)
{
	struct stack_tx *tx = tx_start(t, out, &c->local, &c->remote);
	if (!tx)
		return -ENOBUFS;
	uint32_t got = 0;
	if (len) {
		uint32_t k = find_chunk(t, c, cur, seq);
		uint32_t off = seq - cur->cseq;
		while (k != TCP_NIL && got < len && tx->n_pay < STACK_TX_SLICES) {
			const struct tcp_chunk *ch = &t->chunks[k];
			uint32_t take = ch->len - off;
			if (take > len - got)
				take = len - got;
			if (take) {
				tx->pay[tx->n_pay].p = ch->p + off;
				tx->pay[tx->n_pay].len = take;
				tx->n_pay++;
				got += take;
			}
			off = 0;
			k = ch->next;
		}
		if (got < len)
			fin = 0;
	}
	tx->pay_len = got;
	uint8_t o[40];
	size_t n = conn_opts(t, c, o);
	uint8_t flags = TCP_ACK | (fin ? TCP_FIN : 0) | (got ? TCP_PSH : 0);
	size_t hl = put_hdr(tcp_hdr_of(t, tx), c->local.port, c->remote.port, seq, c->rcv_nxt,
			    flags, adv_window(t), o, n);
	tx_commit(t, out, tx, hl);
	t->st.bytes_out += got;
	c->ack_now = 0;
	c->last_send_us = t->now;
	if (c->timer_kind != TCP_T_RTO)
		tcp_timer_set(t, c, TCP_T_RTO, t->now + c->rto_us);
	return (int)got;
}

/* ---- how much is in flight ---- */

/*
 * The holes between the SACKed ranges, lowest first, each with RFC 6675's
 * IsLost for it: more than (DupThresh - 1) * SMSS bytes, or DupThresh
 * ranges, SACKed above (or the scoreboard overflowed: everything below
 * sack_high is there or lost). After the last hole, h.a is the end of the
 * highest range.
 */
struct holes {
	uint32_t k, a, above;
	int overflow;
};

static void holes_init(const struct tcp_conn *c, struct holes *h)
{
	h->k = 0;
	h->a = c->snd_una;
	h->above = 0;
	h->overflow = SEQ_GT(c->sack_high, tcp_sack_top(c));
	for (uint32_t k = 0; k < c->nsack; k++)
		h->above += c->sack_e[k] - c->sack_s[k];
}

static int holes_next(const struct tcp_conn *c, struct holes *h, uint32_t *a, uint32_t *b,
		      int *lost)
{
	if (h->k >= c->nsack)
		return 0;
	uint32_t k = h->k++;
	*a = h->a;
	*b = c->sack_s[k];
	*lost = h->overflow || c->nsack - k >= TCP_DUPTHRESH ||
		h->above > (TCP_DUPTHRESH - 1) * c->smss;
	h->above -= c->sack_e[k] - c->sack_s[k];
	h->a = c->sack_e[k];
	return 1;
}

/* RFC 6675 SetPipe. */
static uint32_t sack_pipe(const struct tcp_conn *c)
{
	struct holes h;
	uint32_t pipe = 0, a, b;
	int lost;
	holes_init(c, &h);
	while (holes_next(c, &h, &a, &b, &lost)) {
		if (!SEQ_LT(a, b))
			continue;
		if (!lost)
			pipe += b - a;
		if (SEQ_GT(c->high_rxt, a))
			pipe += SEQ_MIN(c->high_rxt, b) - a;
	}
	a = h.a;
	if (SEQ_LT(a, c->sack_high)) {
		/* beyond the scoreboard: only what we sent again is out */
		if (SEQ_GT(c->high_rxt, a))
			pipe += SEQ_MIN(c->high_rxt, c->sack_high) - a;
		a = c->sack_high;
	}
	if (SEQ_LT(a, c->snd_max))
		pipe += c->snd_max - a;
	return pipe;
}

uint32_t tcp_flight(const struct tcp_conn *c)
{
	if (c->in_recovery && c->sack_ok)
		return sack_pipe(c);
	return (c->snd_nxt - c->snd_una) - tcp_sacked_below(c, c->snd_nxt);
}

/* RFC 6675 NextSeg rule 1: the first lost, not yet retransmitted byte,
 * and how far its hole goes. */
static int next_lost(const struct tcp_conn *c, uint32_t *out_seq, uint32_t *out_end)
{
	struct holes h;
	uint32_t a, b;
	int lost;
	holes_init(c, &h);
	while (holes_next(c, &h, &a, &b, &lost)) {
		if (!lost)
			return 0; /* holes further up have less above them */
		uint32_t s = SEQ_MAX(a, c->high_rxt);
		if (SEQ_LT(s, b)) {
			*out_seq = s;
			*out_end = b;
			return 1;
		}
	}
	/* the region the scoreboard had no room for, holes and forgotten
	 * ranges alike: everything below sack_high is either there or lost */
	uint32_t s = SEQ_MAX(h.a, c->high_rxt);
	if (SEQ_LT(s, c->sack_high)) {
		*out_seq = s;
		*out_end = c->sack_high;
		return 1;
	}
	return 0;
}

/* RFC 6675 NextSeg rule 3: with no loss known and nothing new to send,
 * the first byte above HighRxt the peer has not SACKed (a tail whose
 * holes have too little SACKed above them to count as lost), and how far
 * its hole goes (to snd_max for the last: the FIN too, when sent). */
static int next_unsacked(const struct tcp_conn *c, uint32_t *out_seq, uint32_t *out_end)
{
	uint32_t a = c->snd_una;
	for (uint32_t k = 0; k <= c->nsack; k++) {
		uint32_t b = k < c->nsack ? c->sack_s[k] : c->snd_max;
		uint32_t s = SEQ_MAX(a, c->high_rxt);
		if (SEQ_LT(s, b)) {
			*out_seq = s;
			*out_end = b;
			return 1;
		}
		if (k < c->nsack)
			a = c->sack_e[k];
	}
	return 0;
}

/* Bytes of new data that may go at snd_nxt now (0: none), by the peer's
 * window and silly window avoidance (RFC 9293 §3.8.6.2.1). */
static uint32_t new_data_len(const struct tcp_conn *c)
{
	/* once the FIN is out snd_nxt is buf_end + 1: nothing is new */
	if (!SEQ_LT(c->snd_nxt, c->buf_end))
		return 0;
	uint32_t avail = c->buf_end - c->snd_nxt;
	uint32_t wnd_end = c->snd_una + c->snd_wnd;
	if (!SEQ_LT(c->snd_nxt, wnd_end))
		return 0;
	uint32_t room = wnd_end - c->snd_nxt;
	uint32_t len = avail < c->smss ? avail : c->smss;
	if (len <= room)
		return len;
	/* the window cuts the segment: send only a worthwhile piece */
	if (room >= c->max_snd_wnd / 2 || c->snd_una == c->snd_max)
		return room;
	return 0;
}

static void karn_start(struct tcp *t, struct tcp_conn *c, uint32_t seq_end)
{
	if (!c->rtt_timing) {
		c->rtt_timing = 1;
		c->rtt_seq = seq_end;
		c->rtt_start_us = t->now;
	}
}

static void count_rxt(struct tcp *t, struct tcp_conn *c, uint32_t len)
{
	t->st.retransmits++;
	t->st.retransmit_bytes += len;
	c->rtt_timing = 0; /* Karn */
}

/* A fast retransmission of the head restarts the RTO: its ACK cannot come
 * before a round trip from now, and the timer, last restarted by the
 * ACK before the losses showed, would otherwise often fire first (at a
 * 100 ms RTT with a 200 ms RTO, that is one round of duplicate ACKs
 * later) and throw away the recovery. Linux does the same. */
static void rxt_head_sent(struct tcp *t, struct tcp_conn *c, uint32_t seq)
{
	if (seq != c->snd_una)
		return;
	tcp_timer_set(t, c, TCP_T_RTO, t->now + c->rto_us);
	c->head_rxt_out = 1;
	c->head_rxt_mark = c->snd_max;
}

static int fin_pending(const struct tcp_conn *c)
{
	/* queued, everything before it sent, and not yet sent (or sent
	 * again after an RTO took snd_nxt back) */
	return c->fin_queued && c->snd_nxt == c->buf_end;
}

/* New data (or go-back-N retransmission) from snd_nxt while cwnd allows. */
/* One segment of len bytes at snd_nxt, with the FIN when it ends the
 * queue; snd_nxt and snd_max move on. Returns the bytes sent or -ENOBUFS. */
static int send_at_nxt(struct tcp *t, struct tcp_conn *c, uint32_t len, struct stack_out *out)
{
	int fin = c->fin_queued && c->snd_nxt + len == c->buf_end;
	uint32_t seq = c->snd_nxt;
	int rc = send_seg(t, c, &c->cur_new, seq, len, fin, out);
	if (rc < 0)
		return rc;
	c->snd_nxt = seq + (uint32_t)rc + (fin && (uint32_t)rc == len);
	if (SEQ_GT(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	return rc;
}

static int send_from_nxt(struct tcp *t, struct tcp_conn *c, struct stack_out *out, int *sent)
{
	for (;;) {
		/* skip what the peer has (after an RTO took snd_nxt back) */
		for (uint32_t k = 0; k < c->nsack; k++)
			if (SEQ_GEQ(c->snd_nxt, c->sack_s[k]) && SEQ_LT(c->snd_nxt, c->sack_e[k]))
				c->snd_nxt = c->sack_e[k];
		uint32_t flight = tcp_flight(c);
		if (fin_pending(c)) {
			if (flight >= c->cwnd && flight)
				return 0;
			if (c->snd_max == c->buf_end + 1)
				count_rxt(t, c, 0);
			int rc = send_seg(t, c, &c->cur_new, c->snd_nxt, 0, 1, out);
			if (rc < 0)
				return rc;
			c->snd_nxt = c->buf_end + 1;
			c->snd_max = c->snd_nxt;
			*sent = 1;
			return 0;
		}
		uint32_t len = new_data_len(c);
		if (!len)
			return 0;
		if (c->snd_nxt != c->snd_max) {
			/* go-back-N: stop at the next SACKed range */
			for (uint32_t k = 0; k < c->nsack; k++)
				if (SEQ_GT(c->sack_s[k], c->snd_nxt) &&
				    SEQ_LT(c->sack_s[k], c->snd_nxt + len))
					len = c->sack_s[k] - c->snd_nxt;
		}
		if (flight + len > c->cwnd)
			return 0;
		uint32_t seq = c->snd_nxt;
		int again = SEQ_LT(seq, c->snd_max);
		int rc = send_at_nxt(t, c, len, out);
		if (rc < 0)
			return rc;
		if (again)
			count_rxt(t, c, (uint32_t)rc);
		else
			karn_start(t, c, seq + (uint32_t)rc);
		*sent = 1;
	}
}

/* One retransmission from s (a hole, or the tail, up to e): the FIN goes
 * with it when the segment reaches the FIN and e covers it. */
static int rxt_seg(struct tcp *t, struct tcp_conn *c, uint32_t s, uint32_t e, struct stack_out *out)
{
	uint32_t data_end = SEQ_MIN(e, c->buf_end);
	uint32_t len = SEQ_LT(s, data_end) ? data_end - s : 0;
	if (len > c->smss)
		len = c->smss;
	int fin = c->fin_queued && c->snd_max == c->buf_end + 1 && s + len == c->buf_end &&
		  SEQ_GT(e, c->buf_end);
	int rc = send_seg(t, c, &c->cur_rxt, s, len, fin, out);
	if (rc < 0)
		return rc;
	count_rxt(t, c, (uint32_t)rc);
	rxt_head_sent(t, c, s);
	c->high_rxt = s + (uint32_t)rc + (fin && (uint32_t)rc == len);
	return rc;
}

static int sack_recovery_send(struct tcp *t, struct tcp_conn *c, struct stack_out *out, int *sent)
{
	for (;;) {
		uint32_t pipe = sack_pipe(c);
		if (pipe + c->smss > c->cwnd && pipe)
			return 0;
		uint32_t s, e;
		uint32_t len = 0;
		if (next_lost(c, &s, &e) ||
		    (!(len = new_data_len(c)) && !fin_pending(c) && next_unsacked(c, &s, &e))) {
			int rc = rxt_seg(t, c, s, e, out);
			if (rc < 0)
				return rc;
			*sent = 1;
			if (SEQ_LEQ(c->high_rxt, s))
				return 0; /* nothing went (cannot happen: s < e) */
			continue;
		}
		if (!len && !fin_pending(c))
			return 0;
		int rc = send_at_nxt(t, c, len, out);
		if (rc < 0)
			return rc;
		*sent = 1;
		if (!rc)
			return 0; /* a lone FIN */
	}
}

int tcp_output(struct tcp *t, struct tcp_conn *c, struct stack_out *out)
{
	int sent = 0, rc = 0;
	if (c->snd_una == c->snd_max && t->now - c->last_send_us > c->rto_us &&
	    c->buf_end != c->snd_max)
		t->cfg.cc->on_idle_restart(c);
	if (c->rxt_head && c->snd_una != c->snd_max) {
		/* entering recovery, or NewReno's partial ACK: the first
		 * unacknowledged segment again (or the FIN, when only it is
		 * outstanding) */
		uint32_t len = c->buf_end - c->snd_una;
		if (len > c->smss)
			len = c->smss;
		int fin = c->fin_queued && c->snd_max == c->buf_end + 1 &&
			  c->snd_una + len == c->buf_end;
		rc = send_seg(t, c, &c->cur_rxt, c->snd_una, len, fin, out);
		if (rc < 0)
			return rc;
		count_rxt(t, c, (uint32_t)rc);
		rxt_head_sent(t, c, c->snd_una);
		if (c->in_recovery && c->sack_ok && SEQ_LT(c->high_rxt, c->snd_una + (uint32_t)rc))
			c->high_rxt = c->snd_una + (uint32_t)rc;
		c->rxt_head = 0;
		sent = 1;
	}
	if (c->in_recovery && c->sack_ok)
		rc = sack_recovery_send(t, c, out, &sent);
	else
		rc = send_from_nxt(t, c, out, &sent);
	if (rc < 0)
		return rc;

	/* a zero window: probe it (RFC 9293 §3.8.6.1) */
	if (!c->snd_wnd && c->buf_end != c->snd_una) {
		if (c->probing) {
			/* an old sequence number: the peer must answer with
			 * an ACK carrying its window */
			if (tcp_send_ctl(t, c, TCP_ACK, c->snd_una - 1, out) < 0)
				return -ENOBUFS;
			t->st.zero_window_probes++;
			c->probing = 0;
			c->probes_out++;
			sent = 1;
		}
		if (c->timer_kind == TCP_T_NONE) {
			uint64_t iv = (uint64_t)c->rto_us << (c->backoff < 16 ? c->backoff : 16);
			if (iv > t->cfg.rto_max_us)
				iv = t->cfg.rto_max_us;
			tcp_timer_set(t, c, TCP_T_PERSIST, t->now + iv);
		}
	}
	if (c->ack_now && !sent) {
		if (tcp_send_ctl(t, c, TCP_ACK, c->snd_max, out) < 0)
			return -ENOBUFS;
	}
	return 0;
}

void tcp_rto_fire(struct tcp *t, struct tcp_conn *c)
{
	if (c->snd_una == c->snd_max)
		return;
	uint32_t limit = c->orphan ? t->cfg.orphan_retries : t->cfg.max_retries;
	if (c->backoff >= limit) {
		t->st.timeouts++;
		tcp_set_closed(t, c, -ETIMEDOUT);
		return;
	}
	if (!c->snd_wnd) {
		/* The peer closed its window with our data in flight: what
		 * it did not take is gone, and sending it again would be
		 * refused. Probe instead (RFC 9293 §3.8.6.1), which it must
		 * answer; its window opening sends it all again
		 * (tcp_in.c). Not a congestion signal. */
		c->probing = 1;
		if (c->backoff < 16)
			c->backoff++;
		uint64_t iv = (uint64_t)c->rto_us << c->backoff;
		if (iv > t->cfg.rto_max_us)
			iv = t->cfg.rto_max_us;
		tcp_timer_set(t, c, TCP_T_PERSIST, t->now + iv);
		tcp_mark_dirty(t, c);
		return;
	}
	t->st.rto++;
	t->cfg.cc->on_rto(c, c->snd_max - c->snd_una);
	c->backoff++;
	c->in_recovery = 0;
	c->rxt_head = 0;
	c->rto_recovery = 1;
	c->recover = c->snd_max;
	c->dupacks = 0;
	c->snd_nxt = c->snd_una;
	c->high_rxt = c->snd_una;
	c->rtt_timing = 0;
	/* A second timeout in a row may mean the peer dropped what it
	 * SACKed (RFC 2018 §8): send it all again. */
	if (c->backoff >= 2) {
		c->nsack = 0;
		c->sack_high = c->snd_una;
	}
	uint64_t iv = (uint64_t)c->rto_us << (c->backoff < 16 ? c->backoff : 16);
	if (iv > t->cfg.rto_max_us)
		iv = t->cfg.rto_max_us;
	tcp_timer_set(t, c, TCP_T_RTO, t->now + iv);
	tcp_mark_dirty(t, c);
}
