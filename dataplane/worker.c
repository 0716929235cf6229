/*
 * worker: see worker.h for the loop. Invariants:
 *  - a connection's segments leave in queue order; a peer-wire request
 *    (PIECE header + its data) is sent only once all of it is verified and
 *    in memory, so a verification failure can still withdraw it whole;
 *  - a cache block is pinned from cache_get (or the fill that brings it)
 *    until the send that carried it completed, or the segment is dropped;
 *  - engine SEND bytes are copied into the connection's tx buffer before
 *    the next engine call (engines reuse their buffers); payload bytes are
 *    never copied.
 */
#include "worker.h"

#include <errno.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "http.h"
#include "netio.h"
#include "peerwire.h"
#include "storage.h"
#include "store.h"
#include "catalog.h"
#include "tenants.h"

enum { TAG_BT = 1, TAG_HTTP = 2, TAG_STORAGE = 3 };
enum seg_kind { SEG_BYTES = 1, SEG_BLOCK, SEG_ZERO };
enum seg_state { S_READY = 1, S_FETCH, S_WAIT, S_FAILED, S_SKIP, S_BAD };

#define QCAP		1024u	     /* segments per connection */
#define TXCAP		(128u << 10) /* engine bytes per connection */
#define RXCAP		(64u << 10)  /* unconsumed input per connection */
#define OUTCAP		16	     /* actions per engine call */
#define SEGS_PER_ACTION 70	     /* 1 MiB data action: 64 blocks + slack */
#define TICK_MS		50
#define THROTTLE_MS	2	     /* bandwidth wait: bucket refill period */
#define BATCH_TOKENS	(256u << 10) /* tokens one send may take */
#define FILE_TABLE	65536u	     /* registered object files per worker */
#define READAHEAD_SEGS	256u
#define RECS		64u
#define STORAGE_DEPTH	256u /* block reads in flight per worker */
#define QUARANTINE \
	4096u /* bad blocks remembered per worker (power of two) */ /* sends in flight or awaiting FREED, per connection */
#define WAITERS	  4096	       /* cache waiter pool: every waiter of a fill fits */
#define STAGE_CAP (256u << 10) /* RC4 peers: ciphertext of one send */

struct seg {
	uint8_t kind, state, last; /* last: ends its data action */
	uint32_t len;
	const uint8_t *p;      /* bytes to send (valid when S_READY) */
	uint8_t *pin;	       /* cache block to unpin after the send */
	uint32_t group;	       /* peer wire: the request it belongs to (0: none) */
	uint32_t piece, begin; /* the data action, for data_done/failed */
	int32_t rslot;	       /* the release's counter slot (-1: none) */
	/* block fetch */
	uint32_t object, block, in_off, blen;
};

struct wconn {
	int used, kind;	   /* TAG_BT or TAG_HTTP */
	uint8_t fam;	   /* peer address: AF_INET or AF_INET6 (v4-mapped made v4) */
	uint8_t throttled; /* on the bandwidth wait list */
	uint8_t loopback;  /* peer on this host: plain sends (see flush) */
	int tslot;	   /* tenant the connection counts against (-1 none) */
	uint8_t addr[16];
	int eng_ok; /* the engine connection was set up */
	uint32_t gen;
	union {
		struct peerwire_conn pw;
		struct http_conn http;
	} e;
	struct seg *q;	     /* ring of QCAP */
	uint32_t qh, qs, qt; /* oldest unreleased, next to send, tail */
	int sending;	     /* a send is in flight (no SENT yet) */
	struct {
		uint32_t start, count;
		int freed;
	} rec[RECS];	 /* sends whose memory is not free yet */
	uint32_t rh, rt; /* record ring head, tail */
	uint8_t *tx;
	uint32_t tx_used;
	uint8_t *rx;
	uint32_t rx_len;
	uint32_t next_group;
	int close_after; /* engine closed: close when the queue drains */
	int closing;	 /* netio close issued */
	int in_retry;
	uint32_t open_at; /* index in worker.open while used */
	/* An MSE peer that insisted on RC4 (peerwire_rc4_rx): its stream
	 * ciphers, and the ciphertext of the send being made. A send that
	 * could not be submitted keeps its ciphertext (stage_segs) for the
	 * retry, as the keystream cannot be rewound. */
	struct mse_rc4 *rc4_rx, *rc4_tx;
	uint32_t rc4_from; /* queue index of the first segment to encrypt */
	uint8_t mse_counted;
	uint8_t *stage;
	uint32_t stage_len, stage_segs;
};

struct worker {
	struct worker_params p;
	pthread_t tid;
	sem_t started;
	int start_rc;
	struct seed_err start_err;
	const struct netio_ops *nio;
	struct netio *net;
	struct cache *cache;
	struct storage *st;
	struct peerwire_engine pwe;
	struct http_engine hte;
	struct proto_catalog cat;
	struct wconn *conns;
	uint32_t max_conns;
	/* fills in flight: by cache slot, the block pointer and the filler */
	uint8_t **fill_ptr;
	uint64_t *fill_owner;
	uint32_t *fill_len; /* the block's length (the read is rounded up) */
	uint64_t *fill_key; /* object << 32 | block */
	uint32_t n_slots;
	uint64_t cookies[4096]; /* waiters handed back by one fill */
	uint32_t *retry;	/* connections with segments to (re)fetch */
	uint32_t *retry_snap;
	uint32_t *throttled; /* connections waiting for their tenant's tokens */
	uint32_t n_throttled;
	uint32_t n_retry;
	uint8_t *zero; /* 16 KiB of zeros (BEP 47 pads) */
	uint16_t bt_port[DPCONF_MAX_LISTEN], http_port[DPCONF_MAX_LISTEN];
	struct dpstats_worker *ctr; /* in the shared counters file; this thread writes it */
	uint64_t *fill_t0;	    /* by cache slot: when its read was submitted (ns) */
	/* Blocks that failed verification: refused at once afterwards, so a
	 * corrupt block is read (and counted) once, not once per request.
	 * Open addressing on (object, block + 1); 0 = empty. */
	uint64_t quarantine[QUARANTINE];
	uint32_t n_quarantine;
	uint64_t now;
	uint32_t n_open; /* used connection slots */
	/* The used slots, dense: periodic work visits these, not every slot
	 * (a full scan of max_conns slots each tick costs an idle worker CPU
	 * and evicts the cache under load). */
	uint32_t *open;
	uint32_t cur_ci; /* the connection an engine call is for (lookups), or ~0 */
	int64_t now_s;	 /* wall clock, for embargoes */
	int dumped;
};

static int register_objects(struct worker *w, struct seed_err *err);
static void register_new_objects(struct worker *w);

static uint64_t now_ns(void)
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

/* cookie of a waiting segment: connection, its generation, segment index */
static uint64_t seg_cookie(const struct wconn *c, uint32_t ci, uint32_t si)
{
	return ((uint64_t)(c->gen & 0xffff) << 48) | ((uint64_t)ci << 16) | (si & 0xffff);
}

static unsigned proto_of(const struct wconn *c)
{
	return c->kind == TAG_BT ? DPSTATS_BT : DPSTATS_HTTP;
}

static uint32_t qlen(const struct wconn *c)
{
	return c->qt - c->qh;
}

static struct seg *qat(struct wconn *c, uint32_t i)
{
	return &c->q[i % QCAP];
}

/* ---- engine adapters ---- */

static size_t eng_bytes(struct worker *w, struct wconn *c, const uint8_t *b, size_t n,
			struct proto_out *out)
{
	size_t r;
	w->cur_ci = (uint32_t)(c - w->conns);
	if (c->kind == TAG_BT)
		r = peerwire_on_bytes(&c->e.pw, b, n, w->now, out);
	else
		r = http_on_bytes(&c->e.http, b, n, w->now, out);
	w->cur_ci = UINT32_MAX;
	return r;
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
	w->cur_ci = (uint32_t)(c - w->conns);
	if (c->kind == TAG_BT)
		peerwire_on_tick(&c->e.pw, w->now, out);
	else
		http_on_tick(&c->e.http, w->now, out);
	w->cur_ci = UINT32_MAX;
}

/* ---- what may be served: the catalog's gate in front of every lookup ---- */

static void refuse(struct worker *w, enum dpstats_refusal why)
{
	dpstats_add(&w->ctr->refusals[why], 1);
}

/*
 * The engines look a release up at each call; the answer is the catalog's:
 * only servable releases (live, or embargoed past their time) are found,
 * and only for peers inside their tenant's allow-list. Without a catalog
 * (a data plane run by hand) every release in the store is served.
 */
static const struct proto_release *gate(struct worker *w, const struct proto_release *r)
{
	if (!r) {
		refuse(w, DPSTATS_REFUSE_UNKNOWN);
		return NULL;
	}
	const struct catalog *cat = served_current_catalog(w->p.served);
	if (!cat)
		return r;
	const struct catalog_release *cr = catalog_release_find(cat, r->id);
	if (!cr || !catalog_release_servable(cr, w->now_s)) {
		refuse(w, cr && cr->state == CATALOG_EMBARGOED ? DPSTATS_REFUSE_EMBARGOED
							       : DPSTATS_REFUSE_NOT_LIVE);
		return NULL;
	}
	if (w->cur_ci < w->max_conns) {
		const struct wconn *c = &w->conns[w->cur_ci];
		const struct catalog_tenant *t = catalog_tenant_of(cat, cr);
		if (t && !catalog_tenant_allows(t, c->fam, c->addr)) {
			refuse(w, DPSTATS_REFUSE_CIDR);
			return NULL;
		}
		int slot =
			t && w->p.tenants ? tenants_find(w->p.tenants, t->id, strlen(t->id)) : -1;
		if (slot != c->tslot) {
			/* a connection counts once, against the tenant it is fetching
			 * from now (an HTTP client may move between tenants) */
			if (slot >= 0 && !tenants_peer_add(w->p.tenants, slot)) {
				refuse(w, DPSTATS_REFUSE_MAX_PEERS);
				return NULL;
			}
			if (c->tslot >= 0)
				tenants_peer_del(w->p.tenants, c->tslot);
			w->conns[w->cur_ci].tslot = slot;
		}
	}
	return r;
}

static const struct proto_release *gate_v1(void *ctx, const uint8_t ih[20])
{
	struct worker *w = ctx;
	return gate(w, served_by_v1(w->p.served, ih));
}

static const struct proto_release *gate_v2(void *ctx, const uint8_t ih[20])
{
	struct worker *w = ctx;
	return gate(w, served_by_v2_20(w->p.served, ih));
}

static const struct proto_release *gate_mse(void *ctx, const uint8_t h[20])
{
	struct worker *w = ctx;
	return gate(w, served_by_mse_req2(w->p.served, h));
}

static const struct proto_release *gate_id(void *ctx, const char *id, size_t len)
{
	struct worker *w = ctx;
	return gate(w, served_by_id(w->p.served, id, len));
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

static void unpin_seg(struct worker *w, struct seg *s)
{
	if (s->pin) {
		cache_unpin(w->cache, s->pin);
		s->pin = NULL;
	}
}

/* Waits for the tenant's bucket to refill: retried every few ms. */
static void throttle(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (!c->throttled) {
		c->throttled = 1;
		w->throttled[w->n_throttled++] = ci;
	}
}

static void mark_retry(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (!c->in_retry) {
		c->in_retry = 1;
		w->retry[w->n_retry++] = ci;
	}
}

static uint64_t qkey(uint32_t object, uint32_t block)
{
	return ((uint64_t)object << 32) | ((uint64_t)block + 1);
}

static int quarantined(const struct worker *w, uint32_t object, uint32_t block)
{
	uint64_t k = qkey(object, block);
	for (uint32_t i = (uint32_t)(k * 0x9e3779b97f4a7c15ull >> 52) & (QUARANTINE - 1), n = 0;
	     w->quarantine[i] && n < QUARANTINE; i = (i + 1) & (QUARANTINE - 1), n++)
		if (w->quarantine[i] == k)
			return 1;
	return 0;
}

static void quarantine(struct worker *w, uint32_t object, uint32_t block)
{
	uint64_t k = qkey(object, block);
	/* beyond half full the table stops growing: such a store needs scrub
	 * and repair, and re-reading is still safe (never served) */
	if (quarantined(w, object, block) || w->n_quarantine >= QUARANTINE / 2)
		return;
	uint32_t i = (uint32_t)(k * 0x9e3779b97f4a7c15ull >> 52) & (QUARANTINE - 1);
	while (w->quarantine[i])
		i = (i + 1) & (QUARANTINE - 1);
	w->quarantine[i] = k;
	w->n_quarantine++;
}

/* Tries to bring segment si's block into memory. */
static void fetch(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si)
{
	struct seg *s = qat(c, si);
	const struct served_object *o = served_object(w->p.served, s->object);
	uint8_t *data;
	uint32_t slot;
	if (quarantined(w, s->object, s->block)) {
		/* failed outside this call (the request may still be being queued) */
		s->state = S_BAD;
		mark_retry(w, c, ci);
		return;
	}
	if (storage_inflight(w->st) >= STORAGE_DEPTH) {
		/* a miss could not be read now: wait for reads to complete
		 * rather than spin through the cache */
		s->state = S_FETCH;
		mark_retry(w, c, ci);
		return;
	}
	enum cache_status cs = cache_get(w->cache, (struct cache_key){ s->object, s->block },
					 o->block_xxh + (uint64_t)s->block * 16, s->blen,
					 seg_cookie(c, ci, si), &data, &slot);
	switch (cs) {
	case CACHE_HIT:
		s->pin = data;
		s->p = data + s->in_off;
		s->state = S_READY;
		dpstats_add(&w->ctr->cache_hits, 1);
		return;
	case CACHE_FILL: {
		/* O_DIRECT reads whole 4 KiB sectors; the object pads its data
		 * with zeros to 4 KiB, so the rounded read stays in the file. */
		uint32_t rlen = (s->blen + 4095) & ~4095u;
		int32_t fidx =
			s->object < storage_registered_files(w->st) ? (int32_t)s->object : -1;
		int rc = storage_read(w->st, o->fd, fidx,
				      STORE_OBJ_HEADER + (uint64_t)s->block * CACHE_BLOCK, data,
				      rlen, slot);
		if (rc < 0) {
			/* No room in the storage ring: give the slot back and retry.
			 * The fill began in this call, so nobody waits on it yet. */
			uint64_t none[1];
			size_t nw = 0;
			cache_fill_done(w->cache, slot, -EAGAIN, none, 1, &nw);
			mark_retry(w, c, ci);
			return;
		}
		w->fill_ptr[slot] = data;
		w->fill_owner[slot] = seg_cookie(c, ci, si);
		w->fill_len[slot] = s->blen;
		w->fill_key[slot] = ((uint64_t)s->object << 32) | s->block;
		w->fill_t0[slot] = now_ns();
		s->state = S_WAIT;
		dpstats_add(&w->ctr->cache_misses, 1);
		return;
	}
	case CACHE_WAIT: s->state = S_WAIT; return;
	case CACHE_BUSY:
		s->state = S_FETCH;
		mark_retry(w, c, ci);
		return;
	}
}

static int push_seg(struct wconn *c, const struct seg *s)
{
	if (qlen(c) >= QCAP)
		return -ENOSPC;
	*qat(c, c->qt) = *s;
	c->qt++;
	return 0;
}

static int push_bytes(struct wconn *c, const uint8_t *p, size_t len, uint32_t group)
{
	if (c->tx_used + len > TXCAP)
		return -ENOSPC;
	memcpy(c->tx + c->tx_used, p, len);
	struct seg s = { .kind = SEG_BYTES,
			 .state = S_READY,
			 .len = (uint32_t)len,
			 .p = c->tx + c->tx_used,
			 .group = group };
	c->tx_used += (uint32_t)len;
	return push_seg(c, &s);
}

static int push_data(struct worker *w, struct wconn *c, uint32_t ci, const struct proto_action *a,
		     uint32_t group)
{
	const struct proto_release *r = served_release(w->p.served, a->u.data.release);
	if (!r || a->u.data.file >= r->n_files)
		return -EINVAL;
	const struct proto_file *f = &r->files[a->u.data.file];
	const struct served_object *o = served_object(w->p.served, f->object);
	uint64_t off = a->u.data.offset, end = off + a->u.data.len;
	if (!o || end > o->length || end < off)
		return -EINVAL;
	int32_t rslot = served_stats_slot(w->p.served, a->u.data.release);
	dpstats_add(&w->ctr->requests[proto_of(c)], 1);
	if (rslot >= 0)
		dpstats_add(&w->ctr->rel[rslot].requests[proto_of(c)], 1);
	while (off < end) {
		uint32_t b = (uint32_t)(off / CACHE_BLOCK);
		uint32_t in = (uint32_t)(off % CACHE_BLOCK);
		uint64_t bstart = (uint64_t)b * CACHE_BLOCK;
		uint32_t blen = (uint32_t)(o->length - bstart < CACHE_BLOCK ? o->length - bstart
									    : CACHE_BLOCK);
		uint32_t take = (uint32_t)(end - off < blen - in ? end - off : blen - in);
		struct seg s = { .kind = SEG_BLOCK,
				 .state = S_FETCH,
				 .len = take,
				 .group = group,
				 .piece = a->u.data.piece,
				 .begin = a->u.data.begin,
				 .rslot = rslot,
				 .object = f->object,
				 .block = b,
				 .in_off = in,
				 .blen = blen,
				 .last = off + take == end };
		uint32_t si = c->qt;
		if (push_seg(c, &s) < 0)
			return -ENOSPC;
		fetch(w, c, ci, si);
		off += take;
	}
	return 0;
}

static int push_zero(struct worker *w, struct wconn *c, uint32_t len, uint32_t group)
{
	while (len) {
		uint32_t take = len < CACHE_BLOCK ? len : CACHE_BLOCK;
		struct seg s = { .kind = SEG_ZERO,
				 .state = S_READY,
				 .len = take,
				 .p = w->zero,
				 .group = group };
		if (push_seg(c, &s) < 0)
			return -ENOSPC;
		len -= take;
	}
	return 0;
}

static void conn_close(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (c->closing)
		return;
	c->closing = 1;
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
			cache_prefetch(
				w->cache,
				(struct cache_key){ r->files[a->u.data.file].object,
						    (uint32_t)(a->u.data.offset / CACHE_BLOCK) });
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
			rc = push_bytes(c, a->u.send.p, a->u.send.len, group);
			/* the data of this request joins the group */
			while (group && rc == 0 && i + 1 < out->n &&
			       (out->a[i + 1].kind == PROTO_ACT_SEND_DATA ||
				out->a[i + 1].kind == PROTO_ACT_SEND_ZERO)) {
				i++;
				if (out->a[i].kind == PROTO_ACT_SEND_DATA)
					rc = push_data(w, c, ci, &out->a[i], group);
				else
					rc = push_zero(w, c, out->a[i].u.zero.len, group);
			}
			break;
		case PROTO_ACT_SEND_DATA: rc = push_data(w, c, ci, a, 0); break;
		case PROTO_ACT_SEND_ZERO: rc = push_zero(w, c, a->u.zero.len, 0); break;
		case PROTO_ACT_CLOSE:
			if (a->u.close.reason < DPSTATS_CLOSE_REASONS)
				dpstats_add(&w->ctr->closes[a->u.close.reason], 1);
			c->close_after = 1;
			break;
		}
		if (rc < 0) {
			/* The room checks before each engine call make this a bug
			 * or a bad action: drop the connection rather than desync. */
			conn_close(w, c, ci);
			return;
		}
	}
	out->n = 0;
}

/* ---- sending ---- */

static void release(struct worker *w, struct wconn *c);

/* An RC4 peer's send: the gathered segments (iov[k] is queue entry
 * qs + k) are copied into the stage, those from rc4_from on encrypted in
 * send order (the step-4 answer queued before goes out as the engine made
 * it), and go out as one segment. end: the queue index past the last. */
static void stage_encrypt(struct wconn *c, struct iovec *iov, int *n, uint32_t end)
{
	uint32_t off = 0, plain = 0;
	for (int k = 0; k < *n; k++) {
		memcpy(c->stage + off, iov[k].iov_base, iov[k].iov_len);
		/* queue indices only grow (mod 2^32): before rc4_from is behind */
		if ((int32_t)(c->qs + (uint32_t)k - c->rc4_from) < 0)
			plain = off + (uint32_t)iov[k].iov_len;
		off += (uint32_t)iov[k].iov_len;
	}
	mse_rc4_crypt(c->rc4_tx, c->stage + plain, off - plain);
	c->stage_len = off;
	c->stage_segs = end - c->qs;
	iov[0].iov_base = c->stage;
	iov[0].iov_len = off;
	*n = 1;
}

static void flush(struct worker *w, struct wconn *c, uint32_t ci)
{
	if (c->sending || c->closing || c->rt - c->rh >= RECS)
		return;
	struct iovec iov[NETIO_MAX_IOV];
	int n = 0, zc = 0, starved = 0;
	uint32_t i = c->qs, staged = 0;
	if (c->stage_segs) {
		/* ciphertext made for a send that did not go: send it as is */
		iov[0].iov_base = c->stage;
		iov[0].iov_len = c->stage_len;
		n = 1;
		i = c->qs + c->stage_segs;
		goto submit;
	}
	/* A capped tenant's payload goes out only against tokens; headers and
	 * protocol messages are free (they are not what a cap is about). */
	int capped = c->tslot >= 0 && tenants_capped(w->p.tenants, c->tslot);
	uint64_t budget = capped ? tenants_take(w->p.tenants, c->tslot, BATCH_TOKENS) : UINT64_MAX;
	uint64_t spent = 0;
	while (i != c->qt && n < NETIO_MAX_IOV) {
		struct seg *s = qat(c, i);
		if (s->state == S_SKIP) {
			/* a withdrawn request: send up to it first, then step over */
			if (n)
				break;
			c->qs = ++i;
			continue;
		}
		if (s->group) {
			/* a request goes out whole or not yet */
			uint32_t j = i, k = 0, bytes = 0;
			int ok = 1;
			uint64_t pay = 0;
			while (j != c->qt && qat(c, j)->group == s->group) {
				ok &= qat(c, j)->state == S_READY;
				if (qat(c, j)->kind == SEG_BLOCK)
					pay += qat(c, j)->len;
				bytes += qat(c, j)->len;
				j++;
				k++;
			}
			if (!ok || n + (int)k > NETIO_MAX_IOV)
				break;
			if (c->rc4_tx && staged + bytes > STAGE_CAP)
				break;
			staged += bytes;
			if (spent + pay > budget) {
				starved = 1;
				break;
			}
			spent += pay;
			for (uint32_t m = i; m != j; m++) {
				struct seg *g = qat(c, m);
				iov[n].iov_base = (void *)g->p;
				iov[n++].iov_len = g->len;
				zc |= g->kind == SEG_BLOCK;
			}
			i = j;
			continue;
		}
		if (s->state != S_READY)
			break;
		if (c->rc4_tx && staged + s->len > STAGE_CAP)
			break;
		staged += s->len;
		if (s->kind == SEG_BLOCK) {
			if (spent + s->len > budget) {
				starved = 1;
				break;
			}
			spent += s->len;
		}
		iov[n].iov_base = (void *)s->p;
		iov[n++].iov_len = s->len;
		zc |= s->kind == SEG_BLOCK;
		i++;
	}
	if (capped)
		tenants_give_back(w->p.tenants, c->tslot, budget - spent);
	if (starved && !n)
		throttle(w, c, ci);
	if (!n) {
		release(w, c);
		if (c->close_after && c->qh == c->qt)
			conn_close(w, c, ci);
		return;
	}
	if (c->rc4_tx)
		stage_encrypt(c, iov, &n, i);
submit:;
	/* Only block payloads are worth SEND_ZC (it pays off above ~3 KB),
	 * and only towards a NIC: a loopback peer gets its data through
	 * skb_orphan_frags_rx, which copies pinned pages anyway, so zero-copy
	 * there only adds the notification (measured: half the throughput). */
	uint32_t r = c->rt % RECS;
	int rc = w->nio->send(w->net, ci, iov, n,
			      zc && w->p.conf->zerocopy && !c->loopback && !c->rc4_tx, c->rt);
	if (rc == 0) {
		c->stage_segs = 0;
		c->rec[r].start = c->qs;
		c->rec[r].count = i - c->qs;
		c->rec[r].freed = 0;
		c->rt++;
		c->qs = i;
		c->sending = 1;
	} else if (rc == -EAGAIN) {
		mark_retry(w, c, ci);
	} else {
		conn_close(w, c, ci);
	}
}

/* Gives back what sends whose memory is free held: pins, engine requests. */
static void release(struct worker *w, struct wconn *c)
{
	for (;;) {
		uint32_t limit = c->rh != c->rt ? c->rec[c->rh % RECS].start : c->qs;
		/* withdrawn segments before the oldest send */
		while (c->qh != limit) {
			unpin_seg(w, qat(c, c->qh));
			c->qh++;
		}
		if (c->rh == c->rt || !c->rec[c->rh % RECS].freed)
			break;
		uint32_t end = c->rec[c->rh % RECS].start + c->rec[c->rh % RECS].count;
		for (; c->qh != end; c->qh++) {
			struct seg *s = qat(c, c->qh);
			if (s->kind == SEG_BLOCK && c->kind == TAG_BT && s->last)
				peerwire_data_done(&c->e.pw, s->piece, s->begin);
			unpin_seg(w, s);
		}
		c->rh++;
	}
	if (c->qh == c->qt)
		c->tx_used = 0; /* every SEND byte is out and free: reuse the buffer */
}

static void on_sent(struct worker *w, struct wconn *c, uint32_t ci, const struct netio_event *ev)
{
	if (ev->kind == NETIO_EV_SENT) {
		c->sending = 0;
		uint32_t r = (uint32_t)ev->cookie;
		if (ev->res < 0) {
			conn_close(w, c, ci);
		} else if (r - c->rh < c->rt - c->rh) {
			/* payload counts when the kernel took it, whatever comes after */
			uint64_t bytes = 0;
			unsigned pr = proto_of(c);
			for (uint32_t k = 0; k < c->rec[r % RECS].count; k++) {
				const struct seg *g = qat(c, c->rec[r % RECS].start + k);
				if (g->kind != SEG_BLOCK)
					continue;
				bytes += g->len;
				if (g->rslot >= 0)
					dpstats_add(&w->ctr->rel[g->rslot].bytes[pr], g->len);
				else
					dpstats_add(&w->ctr->unrouted_bytes[pr], g->len);
			}
			dpstats_add(&w->ctr->payload_bytes[pr], bytes);
			if (c->kind == TAG_HTTP)
				http_on_sent(&c->e.http, w->now);
		}
	}
	if (ev->kind == NETIO_EV_FREED || ev->freed) {
		uint32_t r = (uint32_t)ev->cookie;
		if (r - c->rh < c->rt - c->rh)
			c->rec[r % RECS].freed = 1;
		release(w, c);
	}
}

/* ---- feeding the engines ---- */

/* Read-ahead per connection: about 4 MiB of queued blocks, enough to keep
 * a fast peer's socket full for a round trip, bounded so NVMe queue depth
 * follows what the network takes. */
static int room(const struct wconn *c)
{
	return qlen(c) < READAHEAD_SEGS && TXCAP - c->tx_used >= 48u << 10;
}

/* The engine just selected RC4 for this peer (MSE): what it did not
 * consume is ciphertext, and so is all later input and output. */
static int rc4_start(struct worker *w, struct wconn *c, uint32_t ci)
{
	c->stage = malloc(STAGE_CAP);
	if (!c->stage) {
		conn_close(w, c, ci);
		return -ENOMEM;
	}
	c->rc4_rx = peerwire_rc4_rx(&c->e.pw);
	c->rc4_tx = peerwire_rc4_tx(&c->e.pw);
	c->rc4_from = c->qt; /* everything queued from now on */
	mse_rc4_crypt(c->rc4_rx, c->rx, c->rx_len);
	return 0;
}

static void pump(struct worker *w, uint32_t ci)
{
	struct wconn *c = &w->conns[ci];
	struct proto_action acts[OUTCAP];
	for (int rounds = 0; rounds < 64 && !c->closing; rounds++) {
		flush(w, c, ci);
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
		struct proto_out out = { acts, 0, cap };
		size_t used = eng_bytes(w, c, c->rx, c->rx_len, &out);
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
			if (rc4 && rc4_start(w, c, ci) < 0)
				return;
		}
		if (!acted && !used)
			break;
	}
	flush(w, c, ci);
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
	pump(w, ci);
}

/* ---- verification failures ---- */

/* Segment si of connection ci could not be verified. */
static void seg_failed(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si)
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
				unpin_seg(w, x);
				x->state = S_SKIP;
			}
		}
		struct proto_action acts[OUTCAP];
		struct proto_out out = { acts, 0, OUTCAP };
		int rc = peerwire_data_failed(&c->e.pw, piece, begin, &out);
		if (rc == -ENOSPC)
			conn_close(w, c, ci);
		else
			run_actions(w, c, ci, &out);
	} else {
		/* HTTP cannot take back a promised body: stop before this block */
		for (uint32_t i = si; i != c->qt; i++) {
			unpin_seg(w, qat(c, i));
			qat(c, i)->state = S_SKIP;
		}
		c->qt = si;
		struct proto_action acts[OUTCAP];
		struct proto_out out = { acts, 0, OUTCAP };
		http_data_failed(&c->e.http, &out);
		run_actions(w, c, ci, &out);
	}
	pump(w, ci);
}

static void resolve_cookie(struct worker *w, uint64_t cookie, uint8_t *data, int ok)
{
	uint32_t ci = (uint32_t)((cookie >> 16) & 0xffffffff);
	uint32_t si16 = (uint32_t)(cookie & 0xffff);
	struct wconn *c = ci < w->max_conns ? &w->conns[ci] : NULL;
	if (!c || !c->used || (c->gen & 0xffff) != (cookie >> 48)) {
		if (ok)
			cache_unpin(w->cache, data); /* its reader is gone */
		return;
	}
	/* the segment index was truncated to 16 bits: find it in the queue */
	for (uint32_t i = c->qh; i != c->qt; i++) {
		struct seg *s = qat(c, i);
		if ((i & 0xffff) != si16 || s->state != S_WAIT)
			continue;
		if (ok) {
			s->pin = data;
			s->p = data + s->in_off;
			s->state = S_READY;
			pump(w, ci);
		} else {
			seg_failed(w, c, ci, i);
		}
		return;
	}
	if (ok)
		cache_unpin(w->cache, data);
}

static void on_storage(struct worker *w)
{
	struct storage_done d[64];
	uint64_t *cookies = w->cookies;
	int n;
	do {
		n = storage_reap(w->st, d, 64);
		uint64_t t_reap = n > 0 ? now_ns() : 0;
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)d[i].cookie;
			size_t nw = 0;
			uint8_t *data = w->fill_ptr[slot];
			uint64_t owner = w->fill_owner[slot];
			dpstats_add(&w->ctr->storage_reads, 1);
			if (d[i].res > 0)
				dpstats_add(&w->ctr->storage_read_bytes, (uint64_t)d[i].res);
			else
				dpstats_add(&w->ctr->storage_errors, 1);
			uint64_t us =
				t_reap > w->fill_t0[slot] ? (t_reap - w->fill_t0[slot]) / 1000 : 0;
			dpstats_add(&w->ctr->storage_lat_bucket[dpstats_lat_bucket(us)], 1);
			dpstats_add(&w->ctr->storage_lat_sum_us, us);
			uint64_t before = cache_counters(w->cache)->verify_failures;
			uint64_t key = w->fill_key[slot];
			/* the read is rounded up to 4 KiB: report the block's length */
			int64_t got = d[i].res;
			if (got >= (int64_t)w->fill_len[slot])
				got = w->fill_len[slot];
			int ok = cache_fill_done(w->cache, slot, got, cookies, WAITERS, &nw);
			if (cache_counters(w->cache)->verify_failures != before) {
				dpstats_add(&w->ctr->verify_failures, 1);
				quarantine(w, (uint32_t)(key >> 32), (uint32_t)key);
			}
			resolve_cookie(w, owner, data, ok);
			for (size_t k = 0; k < nw; k++)
				resolve_cookie(w, cookies[k], data, ok);
		}
	} while (n == 64);
}

/* ---- connections ---- */

/* Keeps the peer's address for allow-list checks; a v4-mapped IPv6 peer
 * (dual-stack listener) is matched as the IPv4 address it is. */
static void set_peer(struct wconn *c, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		c->fam = AF_INET;
		memcpy(c->addr, &a->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			c->fam = AF_INET;
			memcpy(c->addr, a->sin6_addr.s6_addr + 12, 4);
		} else {
			c->fam = AF_INET6;
			memcpy(c->addr, a->sin6_addr.s6_addr, 16);
		}
	}
	c->loopback = c->fam == AF_INET
			      ? c->addr[0] == 127
			      : !memcmp(c->addr, &in6addr_loopback, sizeof(in6addr_loopback));
}

static void on_accept(struct worker *w, const struct netio_event *ev)
{
	uint32_t ci = ev->conn;
	if (ci >= w->max_conns) {
		w->nio->close(w->net, ci);
		return;
	}
	struct wconn *c = &w->conns[ci];
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->kind = (int)ev->tag;
	c->tslot = -1;
	set_peer(c, &ev->peer);
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
		conn_close(w, c, ci);
		return;
	}
	c->eng_ok = 1;
	if (c->kind == TAG_BT)
		c->e.pw.user = (void *)(uintptr_t)ci;
}

static void on_closed(struct worker *w, uint32_t ci)
{
	if (ci >= w->max_conns || !w->conns[ci].used)
		return;
	struct wconn *c = &w->conns[ci];
	for (uint32_t i = c->qh; i != c->qt; i++) {
		struct seg *s = qat(c, i);
		unpin_seg(w, s);
		if (c->kind == TAG_BT && s->kind == SEG_BLOCK && s->last && s->state != S_SKIP)
			peerwire_data_done(&c->e.pw, s->piece, s->begin);
	}
	eng_free(c);
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
	if (c->tslot >= 0)
		tenants_peer_del(w->p.tenants, c->tslot);
	c->tslot = -1;
	dpstats_add(&w->ctr->conns_closed[proto_of(c)], 1);
	dpstats_sub(&w->ctr->conns_open[proto_of(c)], 1);
}

static void on_recv(struct worker *w, const struct netio_event *ev)
{
	struct wconn *c = ev->conn < w->max_conns ? &w->conns[ev->conn] : NULL;
	if (!c || !c->used || c->closing) {
		w->nio->recv_release(w->net, ev->bid);
		return;
	}
	if (c->rx_len + ev->len > RXCAP) {
		/* a peer that keeps talking without reading what we send */
		w->nio->recv_release(w->net, ev->bid);
		conn_close(w, c, ev->conn);
		return;
	}
	memcpy(c->rx + c->rx_len, ev->data, ev->len);
	if (c->rc4_rx)
		mse_rc4_crypt(c->rc4_rx, c->rx + c->rx_len, ev->len);
	c->rx_len += ev->len;
	w->nio->recv_release(w->net, ev->bid);
	pump(w, ev->conn);
}

static void run_throttled(struct worker *w)
{
	uint32_t n = w->n_throttled;
	if (!n)
		return;
	memcpy(w->retry_snap, w->throttled, n * sizeof(*w->throttled));
	w->n_throttled = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t ci = w->retry_snap[k];
		struct wconn *c = &w->conns[ci];
		c->throttled = 0;
		if (c->used && !c->closing)
			pump(w, ci);
	}
}

static void run_retries(struct worker *w)
{
	/* Work on a snapshot: retries that fail again re-enter w->retry. */
	uint32_t n = w->n_retry;
	memcpy(w->retry_snap, w->retry, n * sizeof(*w->retry));
	w->n_retry = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t ci = w->retry_snap[k];
		struct wconn *c = &w->conns[ci];
		c->in_retry = 0;
		if (!c->used || c->closing)
			continue;
		for (uint32_t i = c->qh; i != c->qt; i++)
			if (qat(c, i)->state == S_FETCH)
				fetch(w, c, ci, i);
		/* one quarantined block per round: failing it may rewrite the queue */
		for (uint32_t i = c->qh; i != c->qt; i++) {
			if (qat(c, i)->state == S_BAD) {
				seg_failed(w, c, ci, i);
				if (c->used && !c->closing)
					mark_retry(w, c, ci);
				break;
			}
		}
		pump(w, ci);
	}
}

/* SIGUSR1: one line per connection with its queue state, for operators
 * chasing a stuck peer. */
static void dump(struct worker *w)
{
	for (uint32_t i = 0; i < w->max_conns; i++) {
		struct wconn *c = &w->conns[i];
		if (!c->used)
			continue;
		unsigned st[6] = { 0 };
		for (uint32_t k = c->qs; k != c->qt; k++)
			st[qat(c, k)->state < 6 ? qat(c, k)->state : 0]++;
		fprintf(stderr,
			"worker %u conn %u kind=%s q=%u unsent=%u ready=%u fetch=%u wait=%u "
			"skip=%u sending=%d recs=%u rx=%u tx=%u closing=%d close_after=%d",
			w->p.index, i, c->kind == TAG_BT ? "bt" : "http", qlen(c), c->qt - c->qs,
			st[S_READY], st[S_FETCH], st[S_WAIT], st[S_SKIP], c->sending, c->rt - c->rh,
			c->rx_len, c->tx_used, c->closing, c->close_after);
		if (c->kind == TAG_BT && c->eng_ok)
			fprintf(stderr, " outstanding=%u choking=%d",
				peerwire_outstanding(&c->e.pw), peerwire_choking(&c->e.pw));
		fputc('\n', stderr);
	}
	const struct cache_counters *cc = cache_counters(w->cache);
	fprintf(stderr,
		"worker %u storage_inflight=%u retry=%u cache hits=%llu misses=%llu waits=%llu "
		"busy=%llu\n",
		w->p.index, storage_inflight(w->st), w->n_retry, (unsigned long long)cc->hits,
		(unsigned long long)cc->misses, (unsigned long long)cc->waits,
		(unsigned long long)cc->busy);
}

static void loop(struct worker *w)
{
	struct netio_event ev[64];
	uint64_t last_tick = 0;
	int draining = 0;
	uint64_t drain_deadline = 0;

	while (1) {
		w->now = now_ms();
		w->now_s = (int64_t)time(NULL);
		/* from here to the next pass this worker may hold index pointers
		 * of the current generation */
		served_enter(w->p.served, w->p.index);
		register_new_objects(w);
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
					conn_close(w, c, i);
			}
			if (!busy && !w->n_open)
				break;
		}
		/* Retries wait for a storage completion (which wakes the poll) when
		 * the ring is full; otherwise they run at once. */
		int timeout = w->n_retry && storage_inflight(w->st) < STORAGE_DEPTH ? 0
			      : w->n_throttled					    ? THROTTLE_MS
										    : TICK_MS;
		int n = w->nio->poll(w->net, ev, 64, timeout);
		w->now = now_ms();
		run_throttled(w);
		for (int i = 0; i < n; i++) {
			switch (ev[i].kind) {
			case NETIO_EV_ACCEPT: on_accept(w, &ev[i]); break;
			case NETIO_EV_RECV: on_recv(w, &ev[i]); break;
			case NETIO_EV_SENT:
			case NETIO_EV_FREED:
				if (ev[i].conn < w->max_conns && w->conns[ev[i].conn].used) {
					on_sent(w, &w->conns[ev[i].conn], ev[i].conn, &ev[i]);
					pump(w, ev[i].conn);
				}
				break;
			case NETIO_EV_CLOSED: on_closed(w, ev[i].conn); break;
			case NETIO_EV_WAKE: on_storage(w); break;
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
			/* the cache keeps its own plain counters: publish them */
			dpstats_set(&w->ctr->cache_evictions, cache_counters(w->cache)->evictions);
			struct peerwire_conn *dirty[64];
			size_t nd;
			if (peerwire_engine_next_deadline(&w->pwe) <= w->now) {
				nd = peerwire_engine_tick(&w->pwe, w->now, dirty, 64);
				for (size_t k = 0; k < nd; k++)
					tick_conn(w, (uint32_t)(uintptr_t)dirty[k]->user);
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
	w->nio = &netio_uring_ops;
	w->max_conns = cf->max_conns;
	struct netio_config ncfg = { .max_conns = cf->max_conns, .zerocopy = cf->zerocopy };
	rc = w->nio->create(&ncfg, &w->net, err);
	if (rc < 0)
		return rc;
	unsigned workers = cf->workers ? cf->workers : 1;
	struct cache_config ccfg = { .bytes = (size_t)(cf->cache_size / workers),
				     .try_hugepages = cf->hugepages,
				     .max_waiters = WAITERS };
	rc = cache_create(&ccfg, &w->cache, err);
	if (rc < 0)
		return rc;
	size_t mlen;
	void *mem = cache_memory(w->cache, &mlen);
	w->n_slots = (uint32_t)(mlen / CACHE_BLOCK);
	dpstats_set(&w->ctr->cache_capacity_bytes, mlen);
	rc = storage_create(STORAGE_DEPTH, mem, mlen, &w->st, err);
	if (rc < 0)
		return rc;
	rc = w->nio->watch(w->net, storage_eventfd(w->st), TAG_STORAGE, err);
	if (rc < 0)
		return rc;
	rc = register_objects(w, err);
	if (rc < 0)
		return rc;
	w->fill_ptr = calloc(w->n_slots, sizeof(*w->fill_ptr));
	w->fill_owner = calloc(w->n_slots, sizeof(*w->fill_owner));
	w->fill_len = calloc(w->n_slots, sizeof(*w->fill_len));
	w->fill_key = calloc(w->n_slots, sizeof(*w->fill_key));
	w->fill_t0 = calloc(w->n_slots, sizeof(*w->fill_t0));
	w->conns = calloc(w->max_conns, sizeof(*w->conns));
	w->retry = calloc(w->max_conns, sizeof(*w->retry));
	w->retry_snap = calloc(w->max_conns, sizeof(*w->retry));
	w->throttled = calloc(w->max_conns, sizeof(*w->throttled));
	w->open = calloc(w->max_conns, sizeof(*w->open));
	w->zero = calloc(1, CACHE_BLOCK);
	if (!w->fill_ptr || !w->fill_owner || !w->fill_len || !w->fill_key || !w->fill_t0 ||
	    !w->conns || !w->retry || !w->retry_snap || !w->throttled || !w->open || !w->zero)
		return seed_err_set(err, -ENOMEM, "worker %u: out of memory", w->p.index);

	w->cat = (struct proto_catalog){ w, gate_v1, gate_v2, gate_id, gate_mse };
	w->cur_ci = UINT32_MAX;
	struct peerwire_config pc;
	peerwire_config_default(&pc);
	pc.upload_slots = cf->upload_slots;
	pc.max_requests = cf->max_requests;
	pc.handshake_timeout_ms = cf->handshake_timeout_ms;
	pc.idle_timeout_ms = cf->idle_timeout_ms;
	pc.mse = cf->mse;
	/* "-BS0100-" then 12 random characters per worker */
	for (int i = 8; i < 20; i++)
		pc.peer_id[i] = (uint8_t) "0123456789abcdefghijklmnopqrstuvwxyz"[rand() % 36];
	rc = peerwire_engine_init(&w->pwe, &pc, &w->cat, NULL, err);
	if (rc < 0)
		return rc;
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
			unpin_seg(w, qat(c, k));
		eng_free(c);
		free(c->q);
		free(c->tx);
		free(c->rx);
		free(c->stage);
	}
	peerwire_engine_free(&w->pwe);
	if (w->net)
		w->nio->destroy(w->net);
	storage_destroy(w->st);
	cache_destroy(w->cache);
	free(w->fill_ptr);
	free(w->fill_owner);
	free(w->fill_len);
	free(w->fill_key);
	free(w->fill_t0);
	free(w->conns);
	free(w->open);
	free(w->retry);
	free(w->retry_snap);
	free(w->throttled);
	free(w->zero);
}

static void *thread_main(void *arg)
{
	struct worker *w = arg;
	seed_err_clear(&w->start_err);
	w->start_rc = setup(w, &w->start_err);
	sem_post(&w->started);
	if (w->start_rc == 0) {
		if (w->p.ready)
			atomic_fetch_add(w->p.ready, 1);
		loop(w);
	}
	teardown(w);
	return NULL;
}

/* Registers the object files with the storage ring, in handle order, so a
 * read names its file by index; objects a catalog switch adds later are
 * appended at the next loop pass. A kernel or limit that refuses it leaves
 * reads on plain fds, which only costs a little per read. */
static int register_objects(struct worker *w, struct seed_err *err)
{
	size_t n = served_object_count(w->p.served);
	/* the table counts against RLIMIT_NOFILE (main raises it to the hard
	 * limit); leave room for sockets */
	struct rlimit rl;
	unsigned cap = FILE_TABLE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 2 < cap)
		cap = (unsigned)(rl.rlim_cur / 2);
	if (n > cap)
		n = cap;
	int *fds = malloc((n ? n : 1) * sizeof(*fds));
	if (!fds)
		return seed_err_set(err, -ENOMEM, "worker %u: out of memory", w->p.index);
	for (size_t i = 0; i < n; i++)
		fds[i] = served_object(w->p.served, (uint32_t)i)->fd;
	struct seed_err e;
	seed_err_clear(&e);
	if (storage_register_files(w->st, fds, (unsigned)n, cap, &e) < 0 && w->p.index == 0)
		fprintf(stderr, "seed-dataplane: %s; reading through plain fds\n", e.msg);
	free(fds);
	return 0;
}

/* New objects since the last pass (a catalog switch): into the file table. */
static void register_new_objects(struct worker *w)
{
	unsigned have = storage_registered_files(w->st), cap = storage_file_capacity(w->st);
	size_t n = served_object_count(w->p.served);
	if (n <= have || have >= cap)
		return;
	int fds[256];
	unsigned k = 0;
	for (size_t i = have; i < n && have + k < cap && k < 256; i++)
		fds[k++] = served_object(w->p.served, (uint32_t)i)->fd;
	struct seed_err e;
	seed_err_clear(&e);
	if (storage_add_files(w->st, fds, k, &e) < 0 && w->p.index == 0)
		fprintf(stderr, "seed-dataplane: %s; new objects read through plain fds\n", e.msg);
}

int worker_start(const struct worker_params *p, struct worker **out, struct seed_err *err)
{
	struct worker *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w)
		return seed_err_set(err, -ENOMEM, "out of memory");
	w->p = *p;
	w->ctr = p->ctr;
	sem_init(&w->started, 0, 0);
	if (pthread_create(&w->tid, NULL, thread_main, w)) {
		free(w);
		return seed_err_set(err, -EAGAIN, "cannot start worker thread");
	}
	sem_wait(&w->started);
	if (w->start_rc < 0) {
		pthread_join(w->tid, NULL);
		*err = w->start_err;
		int rc = w->start_rc;
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void worker_join(struct worker *w)
{
	if (w)
		pthread_join(w->tid, NULL);
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	sem_destroy(&w->started);
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

int worker_cache_hugepages(const struct worker *w)
{
	return w->cache ? cache_uses_hugepages(w->cache) : 0;
}
