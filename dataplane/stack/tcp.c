/*
 * tcp: the connection table, the timer wheel, TIME-WAIT, the API and the
 * per-pass flush (see tcp.h for the contract, tcp_int.h for the state).
 *
 * Memory: every table is allocated in tcp_create() and sized from the
 * config; nothing is allocated after. A connection is a slot in a fixed
 * array, found by 4-tuple through a chained hash; its id (the slot index)
 * is what events carry. Send references come from one pool of chunks.
 *
 * Work that touches the wire happens in tcp_poll(): input and the API only
 * change state and put the connection on the dirty list, so one pass over
 * a burst of ACKs sends once, with the cwnd all of them opened, and
 * reports ACKED events in one place (where a full event array can defer
 * them without losing any).
 */
#include "tcp.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "siphash.h"
#include "tcp_int.h"

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;
	while (p < n && p < (1u << 30))
		p <<= 1;
	return p;
}

/* Fills c's zero fields with their defaults and checks the result, before
 * anything is allocated for it. */
static int config_finish(struct tcp_config *c, struct seed_err *err)
{
	if (!c->max_conns)
		c->max_conns = 4096;
	if (!c->max_timewait)
		c->max_timewait = c->max_conns;
	/* the plain defaults: a zero field takes the value beside it */
	static const struct {
		size_t off;
		uint32_t def;
	} defaults[] = {
		{ offsetof(struct tcp_config, conn_chunks), 1024 },
		{ offsetof(struct tcp_config, conn_sndbuf), 4u << 20 },
		{ offsetof(struct tcp_config, rto_min_us), 200000 },
		{ offsetof(struct tcp_config, rto_init_us), 1000000 },
		{ offsetof(struct tcp_config, rto_max_us), 60000000 },
		{ offsetof(struct tcp_config, max_retries), 10 },
		{ offsetof(struct tcp_config, orphan_retries), 6 },
		{ offsetof(struct tcp_config, fin_timeout_us), 60000000 },
		{ offsetof(struct tcp_config, challenge_acks_per_s), 1000 },
	};
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		uint32_t *f = (uint32_t *)(void *)((char *)c + defaults[i].off);
		if (!*f)
			*f = defaults[i].def;
	}
	if (!c->chunk_pool)
		c->chunk_pool = c->max_conns > UINT32_MAX / 64 ? UINT32_MAX - 1 : 64 * c->max_conns;
	if (!c->mtu)
		c->mtu = 1500;
	if (!c->hdr_off)
		c->hdr_off = 14 + 20;
	if (!c->rcv_wnd || c->rcv_wnd > 65535)
		c->rcv_wnd = 65535;
	if (!c->cc)
		c->cc = &tcp_cc_reno;
	if (c->max_conns > (1u << 24) || c->max_timewait > (1u << 24) || c->chunk_pool > (1u << 28))
		return seed_err_set(err, -EINVAL, "tcp: table sizes too large (max_conns %u)",
				    c->max_conns);
	if (c->mtu < 576 || c->mtu > 9000 || c->hdr_off + 60 > STACK_HDR_MAX)
		return seed_err_set(err, -EINVAL, "tcp: mtu %u outside 576..9000", c->mtu);
	if (c->rto_min_us > c->rto_max_us || c->rto_init_us < c->rto_min_us)
		return seed_err_set(err, -EINVAL, "tcp: rto_min > rto_init or rto_max");
	return 0;
}

int tcp_create(const struct tcp_config *cfg, struct tcp **out, struct seed_err *err)
{
	struct tcp_config conf = *cfg;
	int rc = config_finish(&conf, err);
	if (rc < 0)
		return rc;
	struct tcp *t = calloc(1, sizeof(*t));
	if (!t)
		return seed_err_set(err, -ENOMEM, "tcp: out of memory");
	t->cfg = conf;
	const struct tcp_config *c = &t->cfg;
	t->hmask = pow2_at_least(c->max_conns * 2) - 1;
	t->tw_hmask = pow2_at_least(c->max_timewait * 2) - 1;
	t->conns = calloc(c->max_conns, sizeof(*t->conns));
	t->hash = malloc(((size_t)t->hmask + 1) * sizeof(*t->hash));
	t->chunks = calloc(c->chunk_pool, sizeof(*t->chunks));
	t->tw = calloc(c->max_timewait, sizeof(*t->tw));
	t->tw_hash = malloc(((size_t)t->tw_hmask + 1) * sizeof(*t->tw_hash));
	if (!t->conns || !t->hash || !t->chunks || !t->tw || !t->tw_hash) {
		tcp_destroy(t);
		return seed_err_set(err, -ENOMEM, "tcp: out of memory for %u connections",
				    c->max_conns);
	}
	memset(t->hash, 0xff, ((size_t)t->hmask + 1) * sizeof(*t->hash));
	memset(t->tw_hash, 0xff, ((size_t)t->tw_hmask + 1) * sizeof(*t->tw_hash));
	for (uint32_t i = 0; i < c->max_conns; i++)
		t->conns[i].hnext = i + 1 < c->max_conns ? i + 1 : TCP_NIL;
	t->free_head = 0;
	for (uint32_t i = 0; i < c->chunk_pool; i++)
		t->chunks[i].next = i + 1 < c->chunk_pool ? i + 1 : TCP_NIL;
	t->chunk_free = 0;
	for (uint32_t i = 0; i < TCP_WHEEL_SLOTS; i++)
		t->wheel[i] = TCP_NIL;
	t->dirty_head = t->dirty_tail = TCP_NIL;
	t->wheel_tick = UINT64_MAX; /* set by the first tcp_poll() */
	*out = t;
	return 0;
}

void tcp_destroy(struct tcp *t)
{
	if (!t)
		return;
	MEM_FREE_ALL(t->conns, t->hash, t->chunks, t->tw, t->tw_hash, t);
}

const struct tcp_stats *tcp_stats(const struct tcp *t)
{
	return &t->st;
}

int tcp_listen(struct tcp *t, uint16_t port, uint32_t tag)
{
	for (uint32_t i = 0; i < t->n_listen; i++)
		if (t->listen[i].port == port)
			return -EADDRINUSE;
	if (t->n_listen == TCP_MAX_LISTEN)
		return -ENOSPC;
	t->listen[t->n_listen].port = port;
	t->listen[t->n_listen].tag = tag;
	t->n_listen++;
	t->listening = 1;
	return 0;
}

void tcp_stop_listening(struct tcp *t)
{
	t->listening = 0;
}

/* ---- the connection table ---- */

static size_t addr_len(const struct stack_addr *a)
{
	return a->af == STACK_AF_INET6 ? 16 : 4;
}

uint64_t tcp_tuple_mac(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		       uint8_t use, const uint8_t *extra, size_t n)
{
	uint8_t buf[40 + TCP_MAC_EXTRA_MAX + 1];
	size_t k = 0;
	if (n > TCP_MAC_EXTRA_MAX)
		n = TCP_MAC_EXTRA_MAX;
	memcpy(buf + k, l->ip, addr_len(l));
	k += addr_len(l);
	memcpy(buf + k, r->ip, addr_len(r));
	k += addr_len(r);
	buf[k++] = (uint8_t)(l->port >> 8);
	buf[k++] = (uint8_t)l->port;
	buf[k++] = (uint8_t)(r->port >> 8);
	buf[k++] = (uint8_t)r->port;
	buf[k++] = use;
	if (n)
		memcpy(buf + k, extra, n);
	return siphash24(t->cfg.secret, buf, k + n);
}

uint32_t tcp_hash_tuple(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r)
{
	/* A keyed hash: a peer choosing its ports must not be able to put
	 * every connection on one chain. */
	return (uint32_t)tcp_tuple_mac(t, l, r, 'h', NULL, 0);
}

static int same_ends(const struct stack_addr *l1, const struct stack_addr *r1,
		     const struct stack_addr *l2, const struct stack_addr *r2)
{
	return l1->af == l2->af && r1->af == r2->af && l1->port == l2->port &&
	       r1->port == r2->port && !memcmp(l1->ip, l2->ip, addr_len(l1)) &&
	       !memcmp(r1->ip, r2->ip, addr_len(r1));
}

uint32_t tcp_conn_id(const struct tcp *t, const struct tcp_conn *c)
{
	return (uint32_t)(c - t->conns);
}

struct tcp_conn *tcp_lookup(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
			    uint32_t *out_id)
{
	uint32_t h = tcp_hash_tuple(t, l, r) & t->hmask;
	for (uint32_t i = t->hash[h]; i != TCP_NIL; i = t->conns[i].hnext) {
		struct tcp_conn *c = &t->conns[i];
		if (same_ends(&c->local, &c->remote, l, r)) {
			if (out_id)
				*out_id = i;
			return c;
		}
	}
	return NULL;
}

struct tcp_conn *tcp_conn_new(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r)
{
	uint32_t i = t->free_head;
	if (i == TCP_NIL)
		return NULL;
	struct tcp_conn *c = &t->conns[i];
	t->free_head = c->hnext;
	memset(c, 0, sizeof(*c));
	c->local = *l;
	c->remote = *r;
	c->q_head = c->q_tail = TCP_NIL;
	c->cur_new.chunk = c->cur_rxt.chunk = TCP_NIL;
	c->t_prev = c->t_next = c->dnext = TCP_NIL;
	uint32_t h = tcp_hash_tuple(t, l, r) & t->hmask;
	c->hnext = t->hash[h];
	t->hash[h] = i;
	t->n_conns++;
	return c;
}

static void conn_free(struct tcp *t, struct tcp_conn *c)
{
	uint32_t id = tcp_conn_id(t, c);
	uint32_t h = tcp_hash_tuple(t, &c->local, &c->remote) & t->hmask;
	for (uint32_t *pp = &t->hash[h]; *pp != TCP_NIL; pp = &t->conns[*pp].hnext) {
		if (*pp == id) {
			*pp = c->hnext;
			break;
		}
	}
	tcp_timer_clear(t, c);
	c->state = TCP_S_FREE;
	c->hnext = t->free_head;
	t->free_head = id;
	t->n_conns--;
}

void tcp_mark_dirty(struct tcp *t, struct tcp_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->dnext = TCP_NIL;
	uint32_t id = tcp_conn_id(t, c);
	if (t->dirty_tail == TCP_NIL)
		t->dirty_head = id;
	else
		t->conns[t->dirty_tail].dnext = id;
	t->dirty_tail = id;
}

/* ---- the timer wheel: one timer per connection ---- */

static uint64_t tick_of(uint64_t us)
{
	return us / TCP_WHEEL_TICK_US;
}

void tcp_timer_clear(struct tcp *t, struct tcp_conn *c)
{
	if (c->timer_kind == TCP_T_NONE)
		return;
	if (c->t_prev == TCP_NIL)
		t->wheel[c->t_slot] = c->t_next;
	else
		t->conns[c->t_prev].t_next = c->t_next;
	if (c->t_next != TCP_NIL)
		t->conns[c->t_next].t_prev = c->t_prev;
	c->t_prev = c->t_next = TCP_NIL;
	c->timer_kind = TCP_T_NONE;
	t->n_timers--;
}

void tcp_timer_set(struct tcp *t, struct tcp_conn *c, int kind, uint64_t at)
{
	tcp_timer_clear(t, c);
	/* a deadline in a tick already processed goes in the last one
	 * processed, which every run_timers() looks at again: in the next
	 * one it would wait for the clock to reach that tick, while
	 * tcp_next_deadline() says it is due (a caller that sleeps until the
	 * deadline would spin) */
	uint64_t tk = tick_of(at);
	if (t->wheel_tick != UINT64_MAX && tk < t->wheel_tick)
		tk = t->wheel_tick ? t->wheel_tick - 1 : 0;
	uint32_t slot = (uint32_t)(tk % TCP_WHEEL_SLOTS), id = tcp_conn_id(t, c);
	c->timer_kind = (uint8_t)kind;
	c->timer_at = at;
	c->t_slot = slot;
	c->t_prev = TCP_NIL;
	c->t_next = t->wheel[slot];
	if (c->t_next != TCP_NIL)
		t->conns[c->t_next].t_prev = id;
	t->wheel[slot] = id;
	t->n_timers++;
}

static void timer_fire(struct tcp *t, struct tcp_conn *c)
{
	int kind = c->timer_kind;
	tcp_timer_clear(t, c);
	switch (kind) {
	case TCP_T_RTO: tcp_rto_fire(t, c); break;
	case TCP_T_PERSIST:
		/* the probe goes out in tcp_output(); the interval backs off
		 * like an RTO, but a peer that answers is never given up on
		 * (RFC 9293 §3.8.6.1): probes_out resets with each ACK */
		if (c->probes_out >= (c->orphan ? t->cfg.orphan_retries : t->cfg.max_retries)) {
			t->st.timeouts++;
			tcp_set_closed(t, c, -ETIMEDOUT);
			break;
		}
		c->probing = 1;
		if (c->backoff < 16)
			c->backoff++;
		tcp_mark_dirty(t, c);
		break;
	case TCP_T_FINWAIT:
		t->st.timeouts++;
		tcp_set_closed(t, c, -ETIMEDOUT);
		break;
	}
}

static void run_timers(struct tcp *t, uint64_t now_us)
{
	uint64_t now_tk = tick_of(now_us);
	if (t->wheel_tick == UINT64_MAX)
		t->wheel_tick = now_tk;
	/* The last tick processed again (timers set late in it, see
	 * tcp_timer_set); after a long gap, one revolution visits every
	 * slot. */
	uint64_t start = t->wheel_tick ? t->wheel_tick - 1 : 0;
	if (now_tk >= start + TCP_WHEEL_SLOTS)
		start = now_tk + 1 - TCP_WHEEL_SLOTS;
	for (uint64_t tk = start; tk <= now_tk && t->n_timers; tk++) {
		uint32_t slot = (uint32_t)(tk % TCP_WHEEL_SLOTS);
		uint32_t i = t->wheel[slot];
		while (i != TCP_NIL) {
			struct tcp_conn *c = &t->conns[i];
			uint32_t next = c->t_next;
			if (c->timer_at <= now_us)
				timer_fire(t, c);
			i = next;
		}
	}
	t->wheel_tick = now_tk + 1;
}

uint64_t tcp_next_deadline(const struct tcp *t)
{
	uint64_t best = UINT64_MAX;
	if (t->dirty_head != TCP_NIL)
		return 0;
	if (!t->n_timers)
		return best;
	for (uint32_t s = 0; s < TCP_WHEEL_SLOTS; s++)
		for (uint32_t i = t->wheel[s]; i != TCP_NIL; i = t->conns[i].t_next)
			if (t->conns[i].timer_at < best)
				best = t->conns[i].timer_at;
	return best;
}

/* ---- TIME-WAIT: a ring in arrival order (one lifetime for all) ---- */

struct tcp_tw *tcp_tw_lookup(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r)
{
	uint32_t h = tcp_hash_tuple(t, l, r) & t->tw_hmask;
	for (uint32_t i = t->tw_hash[h]; i != TCP_NIL; i = t->tw[i].hnext)
		if (t->tw[i].used && same_ends(&t->tw[i].local, &t->tw[i].remote, l, r))
			return &t->tw[i];
	return NULL;
}

void tcp_tw_drop(struct tcp *t, struct tcp_tw *w)
{
	uint32_t id = (uint32_t)(w - t->tw);
	uint32_t h = tcp_hash_tuple(t, &w->local, &w->remote) & t->tw_hmask;
	for (uint32_t *pp = &t->tw_hash[h]; *pp != TCP_NIL; pp = &t->tw[*pp].hnext) {
		if (*pp == id) {
			*pp = w->hnext;
			break;
		}
	}
	w->used = 0;
}

static void tw_expire(struct tcp *t, uint64_t now_us)
{
	while (t->tw_count) {
		struct tcp_tw *w = &t->tw[t->tw_head];
		if (w->used && w->expires > now_us)
			break;
		if (w->used)
			tcp_tw_drop(t, w);
		t->tw_head = (t->tw_head + 1) % t->cfg.max_timewait;
		t->tw_count--;
	}
}

void tcp_enter_timewait(struct tcp *t, struct tcp_conn *c)
{
	/* a full ring ends the oldest TIME-WAIT early: it only guards
	 * against old duplicates, and the cap bounds what a peer can pin */
	if (t->tw_count == t->cfg.max_timewait) {
		struct tcp_tw *old = &t->tw[t->tw_head];
		if (old->used)
			tcp_tw_drop(t, old);
		t->tw_head = (t->tw_head + 1) % t->cfg.max_timewait;
		t->tw_count--;
	}
	uint32_t id = (t->tw_head + t->tw_count) % t->cfg.max_timewait;
	struct tcp_tw *w = &t->tw[id];
	w->local = c->local;
	w->remote = c->remote;
	w->snd_nxt = c->snd_max;
	w->rcv_nxt = c->rcv_nxt;
	w->ts_recent = c->ts_recent;
	w->ts_off = c->ts_off;
	w->ts_ok = c->ts_ok;
	w->expires = t->now + t->cfg.fin_timeout_us;
	w->used = 1;
	uint32_t h = tcp_hash_tuple(t, &w->local, &w->remote) & t->tw_hmask;
	w->hnext = t->tw_hash[h];
	t->tw_hash[h] = id;
	t->tw_count++;
	t->st.timewait_in++;
	tcp_set_closed(t, c, 0);
}

/* ---- RFC 5961 §7: a budget of challenge ACKs per second ---- */

int tcp_challenge_allowed(struct tcp *t)
{
	if (t->now - t->chal_window_start >= 1000000) {
		t->chal_window_start = t->now;
		t->chal_count = 0;
	}
	if (t->chal_count >= t->cfg.challenge_acks_per_s) {
		t->st.challenge_acks_limited++;
		return 0;
	}
	t->chal_count++;
	t->st.challenge_acks++;
	return 1;
}

/* ---- the send queue ---- */

uint32_t tcp_sacked_below(const struct tcp_conn *c, uint32_t seq)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < c->nsack; k++) {
		if (SEQ_GEQ(c->sack_s[k], seq))
			break;
		n += SEQ_MIN(c->sack_e[k], seq) - c->sack_s[k];
	}
	return n;
}

/* Appends one reference to c's queue; the caller checked the room. */
static uint32_t queue_chunk(struct tcp *t, struct tcp_conn *c, const void *p, uint32_t len,
			    uint64_t cookie)
{
	uint32_t k = t->chunk_free;
	struct tcp_chunk *ch = &t->chunks[k];
	t->chunk_free = ch->next;
	t->chunks_used++;
	ch->p = p;
	ch->len = len;
	ch->next = TCP_NIL;
	ch->cookie = cookie;
	ch->last = 0;
	if (c->q_tail == TCP_NIL) {
		c->q_head = k;
		c->q_head_seq = c->buf_end;
	} else {
		t->chunks[c->q_tail].next = k;
	}
	c->q_tail = k;
	c->q_chunks++;
	c->buf_end += len;
	return k;
}

int tcp_send(struct tcp *t, uint32_t conn, const struct iovec *iov, int n, uint64_t cookie)
{
	if (conn >= t->cfg.max_conns)
		return -ENOTCONN;
	struct tcp_conn *c = &t->conns[conn];
	if (c->state != TCP_S_ESTABLISHED && c->state != TCP_S_CLOSE_WAIT)
		return -ENOTCONN;
	if (c->fin_queued)
		return -ENOTCONN;
	if (n <= 0)
		return -EINVAL;
	uint64_t bytes = 0;
	uint32_t need = 0;
	for (int i = 0; i < n; i++) {
		bytes += iov[i].iov_len;
		need += iov[i].iov_len != 0;
	}
	if (!need)
		need = 1; /* an empty send still gets its ACKED */
	uint32_t queued = c->buf_end - c->snd_una;
	if (bytes > t->cfg.conn_sndbuf || queued + bytes > t->cfg.conn_sndbuf ||
	    c->q_chunks + need > t->cfg.conn_chunks || t->chunks_used + need > t->cfg.chunk_pool) {
		t->st.sndbuf_full++;
		return -EAGAIN;
	}
	uint32_t last = TCP_NIL;
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len)
			last = queue_chunk(t, c, iov[i].iov_base, (uint32_t)iov[i].iov_len, cookie);
	if (last == TCP_NIL)
		last = queue_chunk(t, c, NULL, 0, cookie);
	t->chunks[last].last = 1;
	tcp_mark_dirty(t, c);
	return 0;
}

/* Pops chunks wholly acknowledged, reporting ACKED for each finished
 * send. Stops (leaving the connection dirty) when out has no room. */
static int reap_acked(struct tcp *t, struct tcp_conn *c, uint32_t upto, struct stack_out *out)
{
	uint32_t id = tcp_conn_id(t, c);
	while (c->q_head != TCP_NIL) {
		struct tcp_chunk *ch = &t->chunks[c->q_head];
		if (SEQ_GT(c->q_head_seq + ch->len, upto))
			break;
		if (ch->last) {
			struct stack_ev *ev = stack_out_ev(out);
			if (!ev)
				return -ENOBUFS;
			memset(ev, 0, sizeof(*ev));
			ev->kind = STACK_EV_ACKED;
			ev->conn = id;
			ev->cookie = ch->cookie;
		}
		uint32_t k = c->q_head;
		c->q_head = ch->next;
		c->q_head_seq += ch->len;
		if (c->q_head == TCP_NIL)
			c->q_tail = TCP_NIL;
		c->q_chunks--;
		if (c->cur_new.chunk == k)
			c->cur_new.chunk = TCP_NIL;
		if (c->cur_rxt.chunk == k)
			c->cur_rxt.chunk = TCP_NIL;
		ch->next = t->chunk_free;
		t->chunk_free = k;
		t->chunks_used--;
	}
	return 0;
}

void tcp_set_closed(struct tcp *t, struct tcp_conn *c, int32_t res)
{
	tcp_timer_clear(t, c);
	c->state = TCP_S_CLOSED;
	c->close_res = res;
	tcp_mark_dirty(t, c);
}

/* A closed connection: every queued send reported, then CLOSED. */
static int finish_closed(struct tcp *t, struct tcp_conn *c, struct stack_out *out)
{
	if (reap_acked(t, c, c->buf_end, out) < 0)
		return -ENOBUFS;
	struct stack_ev *ev = stack_out_ev(out);
	if (!ev)
		return -ENOBUFS;
	memset(ev, 0, sizeof(*ev));
	ev->kind = STACK_EV_CLOSED;
	ev->conn = tcp_conn_id(t, c);
	ev->res = c->close_res;
	conn_free(t, c);
	return 0;
}

void tcp_close(struct tcp *t, uint32_t conn)
{
	if (conn >= t->cfg.max_conns)
		return;
	struct tcp_conn *c = &t->conns[conn];
	if (c->state != TCP_S_ESTABLISHED && c->state != TCP_S_CLOSE_WAIT)
		return;
	if (c->fin_queued)
		return;
	c->fin_queued = 1;
	c->orphan = 1;
	c->state = c->state == TCP_S_ESTABLISHED ? TCP_S_FIN_WAIT_1 : TCP_S_LAST_ACK;
	tcp_mark_dirty(t, c);
}

void tcp_abort(struct tcp *t, uint32_t conn)
{
	if (conn >= t->cfg.max_conns)
		return;
	struct tcp_conn *c = &t->conns[conn];
	if (c->state == TCP_S_FREE || c->state == TCP_S_CLOSED)
		return;
	/* the RST goes out at the next poll, with the state it closes */
	c->ack_now = 2;
	tcp_set_closed(t, c, -ECONNABORTED);
}

int tcp_conn_info(const struct tcp *t, uint32_t conn, struct tcp_conn_info *out)
{
	if (conn >= t->cfg.max_conns || t->conns[conn].state == TCP_S_FREE)
		return -ENOENT;
	const struct tcp_conn *c = &t->conns[conn];
	memset(out, 0, sizeof(*out));
	out->state = c->state;
	out->cwnd = c->cwnd;
	out->ssthresh = c->ssthresh;
	out->srtt_us = c->srtt_us;
	out->rto_us = c->rto_us;
	out->smss = c->smss;
	out->snd_wnd = c->snd_wnd;
	out->flight = tcp_flight(c);
	out->sack = c->sack_ok;
	out->ts = c->ts_ok;
	out->wscale_peer = c->snd_wscale;
	out->queued_bytes = c->buf_end - c->snd_una;
	out->nxt = c->snd_nxt - c->snd_una;
	out->max = c->snd_max - c->snd_una;
	out->end = c->buf_end - c->snd_una;
	out->in_recovery = c->in_recovery;
	out->rto_recovery = c->rto_recovery;
	out->nsack = c->nsack;
	out->backoff = c->backoff;
	out->timer = c->timer_kind;
	return 0;
}

void tcp_poll(struct tcp *t, uint64_t now_us, struct stack_out *out)
{
	t->now = now_us;
	run_timers(t, now_us);
	tw_expire(t, now_us);
	/* Each dirty connection once; one that cannot finish for lack of
	 * room stays on the list, at its head, for the next pass. */
	uint32_t i = t->dirty_head;
	t->dirty_head = t->dirty_tail = TCP_NIL;
	while (i != TCP_NIL) {
		struct tcp_conn *c = &t->conns[i];
		uint32_t next = c->dnext;
		c->dirty = 0;
		int rc;
		if (c->state == TCP_S_CLOSED) {
			if (c->ack_now == 2) {
				/* tcp_abort(): RST from the state it had */
				if (tcp_send_ctl(t, c, TCP_RST | TCP_ACK, c->snd_max, out) < 0) {
					rc = -ENOBUFS;
					goto keep;
				}
				t->st.rst_out++;
				c->ack_now = 0;
			}
			rc = finish_closed(t, c, out);
		} else {
			rc = reap_acked(t, c, c->snd_una, out);
			if (rc == 0)
				rc = tcp_output(t, c, out);
		}
	keep:
		if (rc < 0) {
			/* out of room: this and every later one wait */
			t->st.tx_full++;
			tcp_mark_dirty(t, c);
			for (uint32_t j = next; j != TCP_NIL;) {
				uint32_t nn = t->conns[j].dnext;
				t->conns[j].dirty = 0;
				tcp_mark_dirty(t, &t->conns[j]);
				j = nn;
			}
			return;
		}
		i = next;
	}
}

void tcp_icmp_mtu(struct tcp *t, const struct stack_addr *local, const struct stack_addr *remote,
		  uint32_t quoted_seq, uint16_t mtu)
{
	struct tcp_conn *c = tcp_lookup(t, local, remote, NULL);
	/* RFC 5927 §4.1: only a sequence number we have in flight; RFC 1191:
	 * never below 576 nor above our own MTU */
	if (!c || c->state == TCP_S_CLOSED || SEQ_LT(quoted_seq, c->snd_una) ||
	    SEQ_GEQ(quoted_seq, c->snd_max) || mtu < 576 || mtu >= t->cfg.mtu)
		return;
	uint32_t smss = mtu - 40u - (c->ts_ok ? TCP_TS_OPT_LEN : 0);
	if (smss < c->smss) {
		c->smss = smss;
		tcp_mark_dirty(t, c);
	}
}
