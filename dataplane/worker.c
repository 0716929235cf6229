/*
 * worker: see worker.h for the loop, worker_int.h for the invariants the
 * worker's files keep together. This file is the loop and the connections:
 * events in, engines fed, their actions turned into queued segments
 * (sendq.c), blocks brought in (fetch.c), every release lookup through the
 * gate (gate.c), timers, drain, start-up.
 */
#include "worker_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>
#include <time.h>

#include "catalog.h"
#include "fetch.h"
#include "log.h"
#include "mse.h"
#include "sendq.h"
#include "utpnet.h"

static const struct log_module lm = LOG_MODULE("dataplane.worker");

uint64_t worker_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- engine adapters ---- */

static size_t eng_bytes(struct worker *w, struct wconn *c, const uint8_t *b, size_t n,
			struct proto_out *out)
{
	if (c->kind == TAG_BT)
		return peerwire_on_bytes(&c->e.pw, b, n, w->now, out);
	return http_on_bytes(&c->e.http, b, n, w->now, out);
}

static int eng_closed(struct wconn *c)
{
	return c->kind == TAG_BT ? peerwire_is_closed(&c->e.pw) : http_is_closed(&c->e.http);
}

static uint64_t eng_deadline(struct wconn *c)
{
	return c->kind == TAG_BT ? peerwire_next_deadline(&c->e.pw)
				 : http_next_deadline(&c->e.http);
}

static void eng_tick(struct worker *w, struct wconn *c, struct proto_out *out)
{
	if (c->kind == TAG_BT)
		peerwire_on_tick(&c->e.pw, w->now, out);
	else
		http_on_tick(&c->e.http, w->now, out);
}

/* ---- the engines' release lookups, through the gate ---- */

/* An engine connection's user pointer: its slot index + 1, so that a
 * connection whose pointer was never set (NULL) names no connection. */
static void *conn_user(uint32_t ci)
{
	return (void *)((uintptr_t)ci + 1);
}

static uint32_t user_conn(const void *user)
{
	return (uint32_t)((uintptr_t)user - 1);
}

/* Every lookup names the connection it is made for (the engine passes back
 * its conn's user pointer, set at accept). */
static struct wconn *peer_conn(struct worker *w, void *peer)
{
	uint32_t ci = user_conn(peer);
	return peer && ci < w->max_conns ? &w->conns[ci] : NULL;
}

static const struct proto_release *gated(struct worker *w, void *peer,
					 const struct proto_release *r)
{
	struct wconn *c = peer_conn(w, peer);
	/* a lookup outside any connection's call is a bug: serve nothing */
	return c ? gate_check(&w->gate, served_current_catalog(w->p.served), &c->peer, r) : NULL;
}

static const struct proto_release *gate_v1(void *ctx, void *peer, const uint8_t ih[20])
{
	struct worker *w = ctx;
	return gated(w, peer, served_by_v1(w->p.served, ih));
}

static const struct proto_release *gate_v2(void *ctx, void *peer, const uint8_t ih[20])
{
	struct worker *w = ctx;
	return gated(w, peer, served_by_v2_20(w->p.served, ih));
}

static const struct proto_release *gate_mse(void *ctx, void *peer, const uint8_t h[20])
{
	struct worker *w = ctx;
	return gated(w, peer, served_by_mse_req2(w->p.served, h));
}

static const struct proto_release *gate_id(void *ctx, void *peer, const char *id, size_t len)
{
	struct worker *w = ctx;
	return gated(w, peer, served_by_id(w->p.served, id, len));
}

/* A release's info dict for a ut_metadata request (BEP 9): the view does
 * not hold it (served_release_info). */
static const uint8_t *gate_info(void *ctx, void *peer, const struct proto_release *r)
{
	struct worker *w = ctx;
	(void)peer; /* the engine asks only for the release its peer was gated to */
	return served_release_info(w->p.served, w->p.index, r->handle);
}

/* The seeding policy for a peer of release r (its tenant's, else
 * --seeding) and, unless plain, the release's view shared by every worker:
 * the pieces a swarm lacks are the same whichever worker a peer landed on
 * (docs/swarm.md). Once per peer, at its handshake. */
static struct swarm_view *gate_swarm(void *ctx, void *peer, const struct proto_release *r,
				     enum swarm_policy *out_policy)
{
	struct worker *w = ctx;
	const struct catalog *cat = served_current_catalog(w->p.served);
	const struct catalog_release *cr = cat ? catalog_release_find(cat, r->id) : NULL;
	const struct tenant *t = cr ? catalog_tenant_of(cat, cr) : NULL;
	enum swarm_policy pol = (enum swarm_policy)(t && t->seeding ? t->seeding : w->p.seeding);

	(void)peer; /* the gate admitted it to r already */
	*out_policy = pol;
	return pol == SWARM_SUPER || pol == SWARM_RAREST ? served_swarm_view(w->p.served, r->handle)
							 : NULL;
}

/* A peer starts an MSE handshake: charged to its address's bucket before
 * the engine spends a key exchange on it. */
static int gate_admit_mse(void *ctx, void *peer)
{
	struct worker *w = ctx;
	struct wconn *c = peer_conn(w, peer);
	if (!c)
		return 0;
	if (admit_mse(w->p.admit, c->peer.fam, c->peer.addr, w->now))
		return 1;
	dpstats_add(&w->ctr->admit_refusals[DPSTATS_ADMIT_MSE_RATE], 1);
	return 0;
}

/* Requests of the connection's peer served so far (keep-alives, and
 * requests refused, excluded). */
static uint64_t eng_requests(struct wconn *c)
{
	return c->kind == TAG_BT ? peerwire_requests_served(&c->e.pw)
				 : http_requests_served(&c->e.http);
}

/* ---- the reclaim order: open connections, longest without a request first ---- */

static void lru_remove(struct worker *w, struct wconn *c)
{
	if (!dlist_linked(&c->lru))
		return;
	dlist_remove(&c->lru);
	w->n_lru[c->utp]--;
}

static void lru_push(struct worker *w, struct wconn *c)
{
	dlist_append(&w->lru[c->utp], &c->lru);
	w->n_lru[c->utp]++;
}

/* A request came in: the connection goes to the end of the order. */
static void lru_touch(struct worker *w, struct wconn *c)
{
	uint64_t seen = eng_requests(c);
	if (seen == c->seen_reqs || !dlist_linked(&c->lru))
		return;
	c->seen_reqs = seen;
	lru_remove(w, c);
	lru_push(w, c);
}

/* Slots are short: closes the connection that went longest without a
 * request. One answering a request (data queued or in flight) is in use
 * however long ago it asked: it goes to the end instead (a few at most per
 * accept, so a worker full of busy peers costs a bounded walk). */
static void reclaim(struct worker *w, int utp)
{
	for (int steps = 0;
	     steps < 16 && w->n_lru[utp] >= w->reclaim_at[utp] && !dlist_empty(&w->lru[utp]);
	     steps++) {
		struct wconn *c = DLIST_ENTRY(dlist_first(&w->lru[utp]), struct wconn, lru);
		if (qlen(c) || c->sending ||
		    (c->kind == TAG_HTTP && c->eng_ok && http_wants_write(&c->e.http))) {
			lru_remove(w, c);
			lru_push(w, c);
			continue;
		}
		dpstats_add(&w->ctr->closes[PROTO_CLOSE_RECLAIMED], 1);
		worker_conn_close(w, c, (uint32_t)(c - w->conns));
		return;
	}
}

static void eng_free(struct wconn *c)
{
	if (!c->eng_ok)
		return;
	c->eng_ok = 0;
	if (c->kind == TAG_BT)
		peerwire_conn_free(&c->e.pw);
	else
		http_conn_free(&c->e.http);
}

/* ---- segments ---- */

/* Waits for the tenant's bucket to refill: retried every few ms. */
void worker_throttle(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (!c->throttled) {
		c->throttled = 1;
		w->throttled[w->n_throttled++] = ci;
	}
}

void worker_mark_retry(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (!c->in_retry) {
		c->in_retry = 1;
		w->retry[w->n_retry++] = ci;
	}
}

void worker_conn_close(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (c->closing)
		return;
	c->closing = 1;
	lru_remove(w, c);
	w->nio->close(w->net, ci);
}

/* Carries out one call's actions. A peer-wire SEND directly followed by
 * data of the same request forms one group. */
static void run_actions(struct worker *w, struct wconn *c, uint32_t ci, struct proto_out *out)
{
	/* Start loading the cache index entries of this call's blocks: the
	 * lookups below then find them in the CPU cache instead of waiting on
	 * memory one by one. */
	for (size_t i = 0; i < out->n; i++) {
		const struct proto_action *a = &out->a[i];
		if (a->kind != PROTO_ACT_SEND_DATA)
			continue;
		const struct proto_release *r = served_release(w->p.served, a->u.data.release);
		if (r && a->u.data.file < r->n_files)
			scache_prefetch(
				w->cache,
				(struct scache_key){ r->files[a->u.data.file].object,
						     (uint32_t)(a->u.data.offset / SCACHE_BLOCK) });
	}
	for (size_t i = 0; i < out->n; i++) {
		const struct proto_action *a = &out->a[i];
		int rc = 0;
		uint32_t group = 0;
		if (c->kind == TAG_BT && a->kind == PROTO_ACT_SEND && i + 1 < out->n &&
		    (out->a[i + 1].kind == PROTO_ACT_SEND_DATA ||
		     out->a[i + 1].kind == PROTO_ACT_SEND_ZERO))
			group = ++c->next_group ? c->next_group : ++c->next_group;
		switch (a->kind) {
		case PROTO_ACT_SEND:
			rc = sendq_push_bytes(c, a->u.send.p, a->u.send.len, group);
			/* the data of this request joins the group */
			while (group && rc == 0 && i + 1 < out->n &&
			       (out->a[i + 1].kind == PROTO_ACT_SEND_DATA ||
				out->a[i + 1].kind == PROTO_ACT_SEND_ZERO)) {
				i++;
				if (out->a[i].kind == PROTO_ACT_SEND_DATA)
					rc = sendq_push_data(w, c, ci, &out->a[i], group);
				else
					rc = sendq_push_zero(w, c, out->a[i].u.zero.len, group);
			}
			break;
		case PROTO_ACT_SEND_DATA: rc = sendq_push_data(w, c, ci, a, 0); break;
		case PROTO_ACT_SEND_ZERO: rc = sendq_push_zero(w, c, a->u.zero.len, 0); break;
		case PROTO_ACT_CLOSE:
			if (a->u.close.reason < DPSTATS_CLOSE_REASONS)
				dpstats_add(&w->ctr->closes[a->u.close.reason], 1);
			c->close_after = 1;
			break;
		}
		if (rc < 0) {
			/* The room checks before each engine call make this a bug,
			 * a bad action, or data of a release removed from the store
			 * since (served.h): drop the connection rather than desync. */
			worker_conn_close(w, c, ci);
			return;
		}
	}
	out->n = 0;
}

/* ---- feeding the engines ---- */

/* Read-ahead per connection: about 4 MiB of queued blocks, enough to keep
 * a fast peer's socket full for a round trip, bounded so NVMe queue depth
 * follows what the network takes. */
static int room(const struct wconn *c)
{
	return qlen(c) < READAHEAD_SEGS && TXCAP - c->tx_used >= 48u << 10;
}

void worker_pump(struct worker *w, uint32_t ci)
{
	struct wconn *c = &w->conns[ci];
	struct proto_action acts[OUTCAP];
	for (int rounds = 0; rounds < 64 && !c->closing; rounds++) {
		sendq_flush(w, c, ci);
		if (c->close_after || eng_closed(c) || !room(c))
			break;
		/* a response in progress continues without new input */
		int more = c->kind == TAG_HTTP ? http_wants_write(&c->e.http)
					       : peerwire_next_deadline(&c->e.pw) == 0;
		if (!c->rx_len && !more)
			break;
		uint32_t qfree = QCAP - qlen(c);
		size_t cap = qfree / SEGS_PER_ACTION;
		if (cap > OUTCAP)
			cap = OUTCAP;
		if (cap < PEERWIRE_MIN_OUT)
			cap = PEERWIRE_MIN_OUT;
		if (c->kind == TAG_HTTP) {
			/* an HTTP data action is up to 1 MiB: take only what fills
			 * the queue to READAHEAD_SEGS, or one range could queue (and
			 * pin in the cache) four times what room() allows */
			size_t fill =
				(READAHEAD_SEGS - qlen(c) + SEGS_PER_ACTION - 1) / SEGS_PER_ACTION;
			if (fill < cap)
				cap = fill ? fill : 1;
		}
		struct proto_out out = { acts, 0, cap };
		size_t used = eng_bytes(w, c, c->rx, c->rx_len, &out);
		lru_touch(w, c);
		if (used) {
			memmove(c->rx, c->rx + used, c->rx_len - used);
			c->rx_len -= (uint32_t)used;
		}
		int acted = out.n > 0;
		run_actions(w, c, ci, &out);
		if (c->kind == TAG_BT && !c->mse_counted &&
		    c->e.pw.stats.peerwire_mse_handshakes_total) {
			c->mse_counted = 1;
			int rc4 = peerwire_rc4_tx(&c->e.pw) != NULL;
			dpstats_add(&w->ctr->mse_handshakes[rc4 ? DPSTATS_MSE_RC4
								: DPSTATS_MSE_PLAINTEXT],
				    1);
			if (rc4 && sendq_rc4_start(w, c, ci) < 0)
				return;
		}
		if (!acted && !used)
			break;
	}
	sendq_flush(w, c, ci);
}

static void tick_conn(struct worker *w, uint32_t ci)
{
	struct wconn *c = &w->conns[ci];
	if (c->closing || eng_deadline(c) > w->now || !room(c))
		return;
	struct proto_action acts[OUTCAP];
	struct proto_out out = { acts, 0, OUTCAP };
	eng_tick(w, c, &out);
	run_actions(w, c, ci, &out);
	worker_pump(w, ci);
}

/* ---- verification failures ---- */

void worker_seg_failed(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si)
{
	struct seg *s = qat(c, si);
	s->state = S_FAILED;
	dpstats_add(&w->ctr->refusals[DPSTATS_REFUSE_CORRUPT], 1);
	if (c->kind == TAG_BT) {
		/* withdraw the whole request (never sent: groups go out whole) */
		uint32_t g = s->group, piece = s->piece, begin = s->begin;
		for (uint32_t i = c->qh; i != c->qt; i++) {
			struct seg *x = qat(c, i);
			if (g && x->group == g) {
				sendq_unpin(w, x);
				x->state = S_SKIP;
			}
		}
		struct proto_action acts[OUTCAP];
		struct proto_out out = { acts, 0, OUTCAP };
		int rc = peerwire_data_failed(&c->e.pw, piece, begin, &out);
		if (rc == -ENOSPC)
			worker_conn_close(w, c, ci);
		else
			run_actions(w, c, ci, &out);
	} else {
		/* HTTP cannot take back a promised body: stop before this block */
		for (uint32_t i = si; i != c->qt; i++) {
			sendq_unpin(w, qat(c, i));
			qat(c, i)->state = S_SKIP;
		}
		c->qt = si;
		struct proto_action acts[OUTCAP];
		struct proto_out out = { acts, 0, OUTCAP };
		http_data_failed(&c->e.http, &out);
		run_actions(w, c, ci, &out);
	}
	worker_pump(w, ci);
}

/* ---- connections ---- */

static void on_accept(struct worker *w, const struct netio_event *ev)
{
	uint32_t ci = ev->conn;
	if (ci >= w->max_conns) {
		w->nio->close(w->net, ci);
		return;
	}
	/* Per-source limits first: a refused connection gets no engine and
	 * no memory, only a close. */
	struct gate_peer peer;
	struct admit_ticket ticket;
	enum dpstats_admit why;
	gate_peer_init(&peer, &ev->peer);
	if (admit_conn(w->p.admit, peer.fam, peer.addr, w->now, &ticket, &why) < 0) {
		dpstats_add(&w->ctr->admit_refusals[why], 1);
		w->nio->close(w->net, ci);
		return;
	}
	/* each transport has its own slots in the backend: a flood holding
	 * every TCP slot is relieved by closing idle TCP peers, not uTP ones */
	uint8_t utp = w->nio == &utpnet_ops && utpnet_is_utp(w->net, ci);
	reclaim(w, utp);
	struct wconn *c = &w->conns[ci];
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->send_cap = SEND_MIN;
	c->kind = (int)ev->tag;
	c->utp = utp;
	if (c->utp)
		dpstats_add(&w->ctr->utp_conns_accepted, 1);
	c->peer = peer;
	c->ticket = ticket;
	lru_push(w, c);
	c->q = malloc(QCAP * sizeof(*c->q));
	c->tx = malloc(TXCAP);
	c->rx = malloc(RXCAP);
	int rc = -ENOMEM;
	if (c->q && c->tx && c->rx)
		rc = c->kind == TAG_BT ? peerwire_conn_init(&c->e.pw, &w->pwe, w->now)
				       : http_conn_init(&c->e.http, &w->hte, w->now);
	c->used = 1;
	/* Counted as open from here: on_closed undoes it for any used slot. */
	c->open_at = w->n_open;
	w->open[w->n_open++] = ci;
	dpstats_add(&w->ctr->conns_accepted[proto_of(c)], 1);
	dpstats_add(&w->ctr->conns_open[proto_of(c)], 1);
	if (rc < 0) {
		worker_conn_close(w, c, ci);
		return;
	}
	c->eng_ok = 1;
	/* what every catalog lookup of this connection passes back */
	if (c->kind == TAG_BT)
		c->e.pw.user = conn_user(ci);
	else
		c->e.http.user = conn_user(ci);
}

static void on_closed(struct worker *w, uint32_t ci)
{
	if (ci >= w->max_conns || !w->conns[ci].used)
		return;
	struct wconn *c = &w->conns[ci];
	for (uint32_t i = c->qh; i != c->qt; i++) {
		struct seg *s = qat(c, i);
		sendq_unpin(w, s);
		if (c->kind == TAG_BT && s->kind == SEG_BLOCK && s->last && s->state != S_SKIP)
			peerwire_data_done(&c->e.pw, s->piece, s->begin);
	}
	eng_free(c);
	lru_remove(w, c);
	admit_release(w->p.admit, &c->ticket);
	free(c->q);
	free(c->tx);
	free(c->rx);
	free(c->stage);
	c->q = NULL;
	c->tx = c->rx = c->stage = NULL;
	c->rc4_rx = c->rc4_tx = NULL;
	c->used = 0;
	c->gen++;
	/* swap-remove: whoever was last takes this place */
	uint32_t last = w->open[--w->n_open];
	w->open[c->open_at] = last;
	w->conns[last].open_at = c->open_at;
	gate_peer_release(&w->gate, &c->peer);
	dpstats_add(&w->ctr->conns_closed[proto_of(c)], 1);
	dpstats_sub(&w->ctr->conns_open[proto_of(c)], 1);
}

static void on_recv(struct worker *w, const struct netio_event *ev)
{
	struct wconn *c = ev->conn < w->max_conns ? &w->conns[ev->conn] : NULL;
	if (!c || !c->used || c->closing) {
		w->nio->recv_release(w->net, ev->rxh);
		return;
	}
	if (c->rx_len + ev->len > RXCAP) {
		/* a peer that keeps talking without reading what we send */
		w->nio->recv_release(w->net, ev->rxh);
		worker_conn_close(w, c, ev->conn);
		return;
	}
	memcpy(c->rx + c->rx_len, ev->data, ev->len);
	if (c->rc4_rx)
		mse_rc4_crypt(c->rc4_rx, c->rx + c->rx_len, ev->len);
	c->rx_len += ev->len;
	w->nio->recv_release(w->net, ev->rxh);
	worker_pump(w, ev->conn);
}

/* Moves a wait list into w->retry_snap and empties it, so connections
 * that must wait again re-enter the list for the next round. */
static uint32_t snapshot(struct worker *w, const uint32_t *list, uint32_t *n)
{
	uint32_t k = *n;
	memcpy(w->retry_snap, list, k * sizeof(*list));
	*n = 0;
	return k;
}

static void run_throttled(struct worker *w)
{
	uint32_t n = snapshot(w, w->throttled, &w->n_throttled);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t ci = w->retry_snap[k];
		w->conns[ci].throttled = 0;
		if (w->conns[ci].used && !w->conns[ci].closing)
			worker_pump(w, ci);
	}
}

static void run_retries(struct worker *w)
{
	uint32_t n = snapshot(w, w->retry, &w->n_retry);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t ci = w->retry_snap[k];
		struct wconn *c = &w->conns[ci];
		c->in_retry = 0;
		if (!c->used || c->closing)
			continue;
		for (uint32_t i = c->qh; i != c->qt; i++)
			if (qat(c, i)->state == S_FETCH)
				fetch_seg(w, c, ci, i);
		/* one quarantined block per round: failing it may rewrite the queue */
		for (uint32_t i = c->qh; i != c->qt; i++) {
			if (qat(c, i)->state == S_BAD) {
				worker_seg_failed(w, c, ci, i);
				if (c->used && !c->closing)
					worker_mark_retry(w, c, ci);
				break;
			}
		}
		worker_pump(w, ci);
	}
}

/* SIGUSR1: one line per connection with its queue state, for operators
 * chasing a stuck peer. */
static void dump(struct worker *w)
{
	for (uint32_t k = 0; k < w->n_open; k++) {
		uint32_t i = w->open[k];
		struct wconn *c = &w->conns[i];
		unsigned st[6] = { 0 };
		for (uint32_t q = c->qs; q != c->qt; q++)
			st[qat(c, q)->state < 6 ? qat(c, q)->state : 0]++;
		char bt[64] = "";
		if (c->kind == TAG_BT && c->eng_ok)
			snprintf(bt, sizeof(bt), " outstanding=%u choking=%d ",
				 peerwire_outstanding(&c->e.pw), peerwire_choking(&c->e.pw));
		char tp[320] = ""; /* the backend's transport state, when it has one */
		if (w->nio->describe)
			w->nio->describe(w->net, i, tp, sizeof(tp));
		log_info(&lm,
			 "worker=%u conn=%u kind=%s q=%u unsent=%u ready=%u fetch=%u wait=%u "
			 "skip=%u sending=%d recs=%u rx=%u tx=%u closing=%d close_after=%d%s%s",
			 w->p.index, i, c->kind == TAG_BT ? "bt" : "http", qlen(c), c->qt - c->qs,
			 st[S_READY], st[S_FETCH], st[S_WAIT], st[S_SKIP], c->sending,
			 c->rt - c->rh, c->rx_len, c->tx_used, c->closing, c->close_after, bt, tp);
	}
	const struct scache_counters *cc = scache_counters(w->cache, w->p.index);
	log_info(&lm,
		 "worker=%u storage_inflight=%u retry=%u cache_hits=%llu cache_misses=%llu "
		 "cache_waits=%llu cache_busy=%llu",
		 w->p.index, storage_inflight(w->st), w->n_retry, (unsigned long long)cc->hits,
		 (unsigned long long)cc->misses, (unsigned long long)cc->waits,
		 (unsigned long long)cc->busy);
	if (w->nio == &utpnet_ops) {
		const struct utp_stats *u = utpnet_utp_stats(w->net);
		log_info(
			&lm,
			"worker=%u utp datagrams_in=%llu datagrams_out=%llu syn_in=%llu "
			"accepts=%llu "
			"retransmits=%llu fast_retransmits=%llu timeouts=%llu dup_packets=%llu "
			"out_of_window=%llu bad_ack=%llu tx_full=%llu ev_short=%llu malformed=%llu "
			"cookie_bad=%llu no_conn=%llu",
			w->p.index, (unsigned long long)u->datagrams_in,
			(unsigned long long)u->datagrams_out, (unsigned long long)u->syn_in,
			(unsigned long long)u->accepts, (unsigned long long)u->retransmits,
			(unsigned long long)u->fast_retransmits, (unsigned long long)u->timeouts,
			(unsigned long long)u->dup_packets, (unsigned long long)u->out_of_window,
			(unsigned long long)u->bad_ack, (unsigned long long)u->tx_full,
			(unsigned long long)u->ev_short, (unsigned long long)u->malformed,
			(unsigned long long)u->cookie_bad, (unsigned long long)u->no_conn);
	}
}

/* The backend's own totals, as this worker's counters: each row a field of
 * struct netio_stats and the dpstats field (named as its metric) it feeds. */
#define NET_ROW(ns, ds)                                                               \
	{                                                                             \
		offsetof(struct netio_stats, ns), offsetof(struct dpstats_worker, ds) \
	}
static const struct {
	size_t from, to;
} net_rows[] = {
	NET_ROW(links_up, net_links_up),       NET_ROW(rx_packets, net_rx_packets),
	NET_ROW(tx_packets, net_tx_packets),   NET_ROW(rx_dropped, net_rx_dropped),
	NET_ROW(tx_dropped, net_tx_dropped),   NET_ROW(tcp_retransmits, tcp_retransmits),
	NET_ROW(tcp_timeouts, tcp_timeouts),   NET_ROW(syn_cookies, tcp_syn_cookies),
	NET_ROW(bad_cookies, tcp_bad_cookies), NET_ROW(input_errors, net_input_errors),
	NET_ROW(busy_cycles, busy_cycles),
};
#undef NET_ROW

static void publish_net(struct worker *w)
{
	const struct netio_stats *s = w->nio->stats(w->net);
	for (size_t i = 0; i < sizeof(net_rows) / sizeof(net_rows[0]); i++)
		dpstats_set((_Atomic uint64_t *)(void *)((char *)w->ctr + net_rows[i].to),
			    *(const uint64_t *)(const void *)((const char *)s + net_rows[i].from));
	if (w->nio == &utpnet_ops) {
		const struct utp_stats *u = utpnet_utp_stats(w->net);
		dpstats_set(&w->ctr->utp_datagrams_in, u->datagrams_in);
		dpstats_set(&w->ctr->utp_datagrams_out, u->datagrams_out);
		dpstats_set(&w->ctr->utp_retransmits, u->retransmits + u->fast_retransmits);
		dpstats_set(&w->ctr->utp_timeouts, u->timeouts);
		dpstats_set(&w->ctr->utp_malformed, u->malformed);
	}
}

/* The cache's own plain counters, into the shared file. */
static void publish_fetch(struct worker *w)
{
	dpstats_set(&w->ctr->cache_evictions, scache_counters(w->cache, w->p.index)->evictions);
}

/*
 * The cache has run short of slots (some worker's miss found every one
 * pinned or filling): the blocks queued for this worker's connections that
 * have not moved for PARK_MS are let go. One address may hold
 * --addr-conns connections, each with up to READAHEAD_SEGS blocks pinned
 * behind a send it never lets complete; without this, a few such peers
 * asking for different files pin the whole cache and nobody else is
 * served. The same goes for a connection whose next block waits for a
 * slot while the blocks after it hold theirs. A connection whose peer
 * stopped reading is parked: it fetches again when its send completes; one
 * waiting for a slot stays in the retry list and fetches in order. Either
 * loses nothing but the reads, which happen only while the cache is short.
 */
static void park_stalled(struct worker *w)
{
	uint64_t parked = 0;
	for (uint32_t k = 0; k < w->n_open; k++) {
		uint32_t ci = w->open[k];
		struct wconn *c = &w->conns[ci];
		/* RC4 peers keep their blocks: ciphertext may be staged ahead */
		if (!c->used || c->closing || c->parked || c->rc4_tx ||
		    w->now - c->progress_at < PARK_MS)
			continue;
		uint64_t n = 0;
		for (uint32_t i = c->qs; i != c->qt; i++) {
			struct seg *s = qat(c, i);
			if (s->state != S_READY || s->kind != SEG_BLOCK || !s->pin)
				continue;
			sendq_unpin(w, s);
			s->p = NULL;
			s->state = S_FETCH;
			n++;
		}
		if (!n)
			continue;
		parked += n;
		c->send_cap = SEND_MIN;
		if (c->sending)
			c->parked = 1;
		else
			worker_mark_retry(w, c, ci);
	}
	if (parked)
		dpstats_add(&w->ctr->blocks_parked, parked);
}

static void loop(struct worker *w)
{
	struct netio_event ev[64];
	uint64_t last_tick = 0;
	int draining = 0;
	uint64_t drain_deadline = 0;

	while (1) {
		w->now = now_ms();
		w->gate.now_s = (int64_t)time(NULL);
		/* from here to the next pass this worker may hold index pointers
		 * of the current generation */
		served_enter(w->p.served, w->p.index);
		if (!draining && atomic_load(w->p.stop)) {
			/* SIGTERM: stop accepting, finish what is queued, then close */
			draining = 1;
			drain_deadline = w->now + 5000;
			w->nio->stop_listening(w->net);
		}
		if (draining) {
			int busy = 0;
			/* backwards: a close that frees a slot at once moves
			 * only an already visited one */
			for (uint32_t k = w->n_open; k-- > 0;) {
				uint32_t i = w->open[k];
				struct wconn *c = &w->conns[i];
				if ((qlen(c) || c->sending) && w->now < drain_deadline)
					busy = 1;
				else
					worker_conn_close(w, c, i);
			}
			if (!busy && !w->n_open) {
				publish_fetch(w); /* for the stopped line */
				break;
			}
		}
		/* Retries wait for a storage completion (which wakes the poll) when
		 * the ring is full; otherwise they run at once. */
		int polled = w->nio->busy_poll || storage_is_iopoll(w->st);
		int timeout = w->n_retry && !w->fetch_wait && !w->cache_full_at &&
					      storage_inflight(w->st) < STORAGE_DEPTH
				      ? 0
			      : polled && storage_inflight(w->st) ? 0
			      : w->n_throttled			  ? THROTTLE_MS
								  : TICK_MS;
		int n = w->nio->poll(w->net, ev, 64, timeout);
		w->now = now_ms();
		/* something happened, or a tick went by: a slot may be free */
		if (n > 0 || w->now - w->cache_full_at >= TICK_MS)
			w->cache_full_at = 0;
		if (polled)
			fetch_poll(w);
		run_throttled(w);
		for (int i = 0; i < n; i++) {
			switch (ev[i].kind) {
			case NETIO_EV_ACCEPT: on_accept(w, &ev[i]); break;
			case NETIO_EV_RECV: on_recv(w, &ev[i]); break;
			case NETIO_EV_SENT:
			case NETIO_EV_FREED:
				if (ev[i].conn < w->max_conns && w->conns[ev[i].conn].used) {
					sendq_on_sent(w, &w->conns[ev[i].conn], ev[i].conn, &ev[i]);
					worker_pump(w, ev[i].conn);
				}
				break;
			case NETIO_EV_CLOSED: on_closed(w, ev[i].conn); break;
			case NETIO_EV_WAKE:
				if (ev[i].tag == TAG_WAKE)
					fetch_on_wake(w);
				else
					fetch_on_storage(w);
				break;
			case NETIO_EV_DGRAM: break; /* utpnet's own, never here */
			}
		}
		if (w->n_retry)
			run_retries(w);
		if (w->p.dump && atomic_load(w->p.dump) != w->dumped) {
			w->dumped = atomic_load(w->p.dump);
			dump(w);
		}
		if (w->now - last_tick >= TICK_MS) {
			last_tick = w->now;
			uint64_t pressure = scache_pressure(w->cache);
			if (pressure != w->pressure_seen) {
				w->pressure_seen = pressure;
				park_stalled(w);
			}
			publish_fetch(w);
			publish_net(w);
			struct peerwire_conn *dirty[64];
			size_t nd;
			if (peerwire_engine_next_deadline(&w->pwe) <= w->now) {
				nd = peerwire_engine_tick(&w->pwe, w->now, dirty, 64);
				for (size_t k = 0; k < nd; k++)
					if (user_conn(dirty[k]->user) < w->max_conns)
						tick_conn(w, user_conn(dirty[k]->user));
			}
			for (uint32_t k = w->n_open; k-- > 0;) {
				uint32_t i = w->open[k];
				if (w->conns[i].used && !w->conns[i].closing)
					tick_conn(w, i);
			}
		}
		storage_submit(w->st);
	}
}

/* ---- start-up ---- */

static int setup(struct worker *w, struct seed_err *err)
{
	const struct dpconf *cf = w->p.conf;
	int rc;
	w->nio = w->p.backend->ops;
	w->max_conns = cf->max_conns;
	struct netio_config ncfg = { .max_conns = cf->max_conns,
				     .zerocopy = cf->zerocopy,
				     .worker = w->p.index };
	/* uTP beside TCP on the peer-wire port, in the last slots, where the
	 * backend has datagrams (utpnet.h) */
	uint32_t n_utp = cf->utp_conns < cf->max_conns / 2 ? cf->utp_conns : cf->max_conns / 2;
	if (n_utp && cf->n_bt && w->nio->udp_bind) {
		struct utp_config uc;
		utp_config_default(&uc);
		if (getrandom(uc.secret, sizeof(uc.secret), 0) != (ssize_t)sizeof(uc.secret))
			return seed_err_set(err, -EIO, "uTP: no random secret: %s",
					    strerror(errno));
		rc = utpnet_create(w->nio, &ncfg, &uc, n_utp, TAG_BT, &w->net, err);
		w->nio = &utpnet_ops;
		w->n_utp = n_utp;
	} else {
		rc = w->nio->create(&ncfg, &w->net, err);
	}
	if (rc < 0)
		return rc;
	/* One cache for every worker (scache.h): each registers all of it
	 * with its rings, and fills are tracked per slot, so the fill tables
	 * cover every slot. The gauge is worker 0's, so the sum is the cache. */
	w->cache = w->p.cache;
	size_t mlen;
	void *mem = scache_memory(w->cache, &mlen);
	w->n_slots = (uint32_t)(mlen / SCACHE_BLOCK);
	dpstats_set(&w->ctr->cache_capacity_bytes, w->p.index == 0 ? mlen : 0);
	w->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->wake_efd < 0)
		return seed_err_set(err, -errno, "worker %u: eventfd: %s", w->p.index,
				    strerror(errno));
	if (w->nio->watch) {
		rc = w->nio->watch(w->net, w->wake_efd, TAG_WAKE, err);
		if (rc < 0)
			return rc;
	}
	rc = -1;
	if (cf->storage_poll == 1) {
		struct seed_err pe;
		seed_err_clear(&pe);
		rc = storage_create_iopoll(STORAGE_DEPTH, mem, mlen, &w->st, &pe);
		if (rc < 0 && w->p.index == 0)
			log_warn(&lm, "%s; reads complete by interrupt instead", pe.msg);
	}
	if (rc < 0)
		rc = storage_create(STORAGE_DEPTH, mem, mlen, &w->st, err);
	if (rc < 0)
		return rc;
	/* a busy-polling backend has no sleep to wake, and a polled ring
	 * nothing to wake it with: the loop reaps on every pass instead */
	if (w->nio->watch && !storage_is_iopoll(w->st)) {
		rc = w->nio->watch(w->net, storage_eventfd(w->st), TAG_STORAGE, err);
		if (rc < 0)
			return rc;
	} else {
		storage_set_polled(w->st);
	}
	if (w->nio->register_mem) {
		rc = w->nio->register_mem(w->net, mem, mlen, err);
		if (rc < 0)
			return rc;
	}
	rc = fetch_setup(w, err);
	if (rc < 0)
		return rc;
	w->fill_ptr = calloc(w->n_slots, sizeof(*w->fill_ptr));
	w->fill_owner = calloc(w->n_slots, sizeof(*w->fill_owner));
	w->fill_len = calloc(w->n_slots, sizeof(*w->fill_len));
	w->fill_key = calloc(w->n_slots, sizeof(*w->fill_key));
	w->fill_t0 = calloc(w->n_slots, sizeof(*w->fill_t0));
	w->fill_ofd = calloc(w->n_slots, sizeof(*w->fill_ofd));
	w->conns = calloc(w->max_conns, sizeof(*w->conns));
	w->retry = calloc(w->max_conns, sizeof(*w->retry));
	w->retry_snap = calloc(w->max_conns, sizeof(*w->retry));
	w->throttled = calloc(w->max_conns, sizeof(*w->throttled));
	w->open = calloc(w->max_conns, sizeof(*w->open));
	w->zero = calloc(1, SCACHE_BLOCK);
	if (!w->fill_ptr || !w->fill_owner || !w->fill_len || !w->fill_key || !w->fill_t0 ||
	    !w->fill_ofd || !w->conns || !w->retry || !w->retry_snap || !w->throttled || !w->open ||
	    !w->zero)
		return seed_err_set(err, -ENOMEM, "worker %u: out of memory", w->p.index);

	w->cat = (struct proto_catalog){ w,	   gate_v1,	   gate_v2,  gate_id,
					 gate_mse, gate_admit_mse, gate_info };
	for (uint32_t i = 0; i < w->max_conns; i++)
		dlist_init(&w->conns[i].lru);
	/* per transport, from its slots: headroom for connections closing
	 * (their slot is free only once the backend reports CLOSED) and for
	 * the accepts of one poll */
	uint32_t slots[2] = { w->max_conns - w->n_utp, w->n_utp };
	for (int t = 0; t < 2; t++) {
		uint32_t headroom = slots[t] / 32 > 64 ? slots[t] / 32 : 64;
		dlist_init(&w->lru[t]);
		w->reclaim_at[t] = slots[t] > 2 * headroom ? slots[t] - headroom : slots[t] / 2;
	}
	w->gate = (struct gate){ .tenants = w->p.tenants,
				 .ctr = w->ctr,
				 .now_s = (int64_t)time(NULL) };
	struct peerwire_config pc;
	peerwire_config_default(&pc);
	pc.upload_slots = cf->upload_slots;
	pc.max_requests = cf->max_requests;
	pc.handshake_timeout_ms = cf->handshake_timeout_ms;
	pc.idle_timeout_ms = cf->idle_timeout_ms;
	pc.mse = cf->mse;
	pc.swarm_window_kib = cf->swarm_window_kib;
	pc.swarm_small = cf->swarm_small;
	pc.swarm_starve_ms = cf->swarm_starve_ms;
	pc.swarm_boot_pct = cf->swarm_boot_pct;
	pc.swarm_floor_kib = cf->swarm_floor_kib;
	/* "-BS0100-" then 12 random characters per worker */
	for (int i = 8; i < 20; i++)
		pc.peer_id[i] = (uint8_t) "0123456789abcdefghijklmnopqrstuvwxyz"[rand() % 36];
	rc = peerwire_engine_init(&w->pwe, &pc, &w->cat, NULL, err);
	if (rc < 0)
		return rc;
	peerwire_engine_set_swarm(&w->pwe, gate_swarm, w);
	w->pwe.swarm_seed = w->p.index * 40503u; /* workers' cursors start apart */
	struct http_config hc;
	http_config_default(&hc);
	rc = http_engine_init(&w->hte, &hc, &w->cat);
	if (rc < 0)
		return seed_err_set(err, rc, "http engine: bad configuration");
	for (unsigned i = 0; i < cf->n_bt; i++) {
		rc = w->nio->listen(w->net, (const struct sockaddr *)&cf->bt[i].ss, cf->bt[i].len,
				    TAG_BT, &w->bt_port[i], err);
		if (rc < 0) {
			seed_err_prefix(err, "--bt-listen %s: ", cf->bt[i].text);
			return rc;
		}
	}
	for (unsigned i = 0; i < cf->n_http; i++) {
		rc = w->nio->listen(w->net, (const struct sockaddr *)&cf->http[i].ss,
				    cf->http[i].len, TAG_HTTP, &w->http_port[i], err);
		if (rc < 0) {
			seed_err_prefix(err, "--http-listen %s: ", cf->http[i].text);
			return rc;
		}
	}
	return 0;
}

static void teardown(struct worker *w)
{
	for (uint32_t i = 0; w->conns && i < w->max_conns; i++) {
		struct wconn *c = &w->conns[i];
		if (!c->used)
			continue;
		for (uint32_t k = c->qh; k != c->qt; k++)
			sendq_unpin(w, qat(c, k));
		eng_free(c);
		admit_release(w->p.admit, &c->ticket);
		free(c->q);
		free(c->tx);
		free(c->rx);
		free(c->stage);
	}
	peerwire_engine_free(&w->pwe);
	if (w->net)
		w->nio->destroy(w->net);
	storage_destroy(w->st);
	fetch_teardown(w); /* the ring is gone: no read names a file any more */
	free(w->fill_ptr);
	free(w->fill_owner);
	free(w->fill_len);
	free(w->fill_key);
	free(w->fill_t0);
	free(w->fill_ofd);
	free(w->conns);
	free(w->open);
	free(w->retry);
	free(w->retry_snap);
	free(w->throttled);
	free(w->zero);
	free(w->repair_mem);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	seed_err_clear(&w->start_err);
	w->start_rc = setup(w, &w->start_err);
	sem_post(&w->started);
	if (w->start_rc == 0) {
		/* privs_drop may signal this thread meanwhile */
		while (sem_wait(&w->go) < 0 && errno == EINTR)
			;
		if (w->p.ready)
			atomic_fetch_add(w->p.ready, 1);
		loop(w);
	}
	teardown(w);
	return NULL;
}

int worker_start(const struct worker_params *p, struct worker **out, struct seed_err *err)
{
	struct worker *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w)
		return seed_err_set(err, -ENOMEM, "out of memory");
	w->p = *p;
	w->ctr = p->ctr;
	w->wake_efd = -1;
	sem_init(&w->started, 0, 0);
	sem_init(&w->go, 0, 0);
	if (p->backend->launch) {
		int rc = p->backend->launch(p->index, thread_main, w, err);
		if (rc < 0) {
			free(w);
			return rc;
		}
	} else if (pthread_create(&w->tid, NULL, thread_main, w)) {
		free(w);
		return seed_err_set(err, -EAGAIN, "cannot start worker thread");
	}
	sem_wait(&w->started);
	if (w->start_rc < 0) {
		worker_join(w);
		*err = w->start_err;
		int rc = w->start_rc;
		worker_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void worker_go(struct worker *w)
{
	if (w)
		sem_post(&w->go);
}

void worker_join(struct worker *w)
{
	if (!w)
		return;
	if (w->p.backend->join)
		w->p.backend->join(w->p.index);
	else
		pthread_join(w->tid, NULL);
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	/* Closed only now, every worker joined: until the last one stops, its
	 * fills may still wake this one (scache's wake), and a number closed
	 * earlier could have been reused by another descriptor. */
	if (w->wake_efd >= 0)
		close(w->wake_efd);
	sem_destroy(&w->started);
	sem_destroy(&w->go);
	free(w);
}

uint32_t worker_conns_open(const struct worker *w)
{
	return w->n_open;
}

uint16_t worker_bt_port(const struct worker *w, unsigned i)
{
	return i < DPCONF_MAX_LISTEN ? w->bt_port[i] : 0;
}

uint16_t worker_http_port(const struct worker *w, unsigned i)
{
	return i < DPCONF_MAX_LISTEN ? w->http_port[i] : 0;
}

int worker_wake_fd(const struct worker *w)
{
	return w->wake_efd;
}

int worker_storage_polled(const struct worker *w)
{
	return w->st ? storage_is_iopoll(w->st) : 0;
}

uint32_t worker_utp_slots(const struct worker *w)
{
	return w->n_utp;
}
