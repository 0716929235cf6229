/*
 * peerwire: the peer-wire engine of a pure seed. The protocol, the bounds
 * and the contract with the worker are in peerwire.h; this file header says
 * how it is built.
 *
 * The module is three files along its sub-protocols, sharing
 * peerwire_int.h: this one is the engine (state machine, handshake, MSE
 * glue, framing, requests, choking, timers) and owns every connection
 * field; peerwire_ext.c answers BEP 10 / BEP 9 extended messages and
 * peerwire_hash.c BEP 52 hash requests. They are called from handle() with
 * a complete message and append through the same pw_room / pw_emit /
 * pw_close as this file, so the invariants below hold for all three.
 *
 * Input is framed by a small state machine that never needs a message to
 * be contiguous in the worker's buffer: the handshake goes byte by byte
 * into c->hs, then each message's 4-byte length and id into c->hdr /
 * c->msg_id, and its body either into c->rbuf (messages we must read:
 * request, cancel, extended up to cfg.ext_buf, hash request) or is skipped
 * keeping only its last byte (bitfield spare bits, messages we ignore).
 * A complete message is handled by one function that first checks that out
 * and the send buffer have room for everything it may append; when they do
 * not, the message's final byte is handed back unconsumed (the worker
 * offers it again), so the engine never holds a decided-but-unsent answer
 * and a short return always means "call again".
 *
 * Invariants:
 *  - after CLOSE nothing is appended, ever (state CLOSED);
 *  - a call appends a CLOSE only as its last action;
 *  - every SEND_DATA lies inside its file: [offset, offset + len) within
 *    proto_file.length, len <= 16 KiB;
 *  - n_active <= cfg.max_requests and n_live <= 2 * cfg.max_requests;
 *  - waiting peers exist only while every slot is taken;
 *  - a connection is on the dirty list only while want_choke != wire_choke.
 * The per-call send buffer (sbuf) restarts at 0 on every on_bytes/on_tick,
 * which is what makes SEND memory valid "until the next call".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "peerwire_int.h"

enum {
	PW_HS = 1,  /* reading the handshake */
	PW_OPEN,    /* messages */
	PW_CLOSING, /* CLOSE decided, waiting for room */
	PW_CLOSED,
	PW_MSE, /* answering an MSE handshake (c->mse) */
};

enum { MODE_SKIP = 0, MODE_BUFFER = 1 };
enum { SLOT_NONE = 0, SLOT_WAITING, SLOT_UNCHOKED };
enum { REQ_FREE = 0, REQ_LIVE, REQ_CANCELLED, REQ_REJECTED };

#define PW_HS_LEN    68u
#define PW_PSTR	     "BitTorrent protocol"
#define PW_REQ_NONE  0xffffu
#define PW_ONES_LEN  65536u /* bitfield bytes one SEND can carry */
#define PW_BF_INLINE 64u    /* bitfields up to this go in sbuf */

/* ---- the option table ---- */

#define PW_OPT(field, lo, hi, dflt, text)                                                       \
	{                                                                                       \
		.name = #field, .offset = offsetof(struct peerwire_config, field), .min = (lo), \
		.max = (hi), .def = (dflt), .help = (text)                                      \
	}

static const struct peerwire_option pw_options[] = {
	PW_OPT(upload_slots, 1, 65535, 32, "peers unchoked at once per worker"),
	PW_OPT(max_requests, 1, 4096, 1000, "outstanding block requests per peer (reqq)"),
	PW_OPT(max_message, 16397, 64u << 20, 1u << 20, "largest message length accepted"),
	PW_OPT(max_extended, 1024, 16u << 20, 65536, "largest extended (BEP 10) message"),
	PW_OPT(ext_buf, 256, 1u << 20, 8192, "largest extended message parsed; larger are skipped"),
	PW_OPT(max_glitches, 0, 1000000, 16, "ignored protocol oddities before a peer is dropped"),
	PW_OPT(rotate_interval_ms, 100, 3600000, 10000, "upload slot rotation period"),
	PW_OPT(rotate_count, 1, 65535, 1, "peers rotated out per period"),
	PW_OPT(handshake_timeout_ms, 100, 600000, 10000, "handshake must complete within"),
	PW_OPT(idle_timeout_ms, 1000, 3600000, 120000, "close after this long without input"),
	PW_OPT(keepalive_ms, 1000, 3600000, 90000, "send a keep-alive after this long silent"),
	PW_OPT(max_hash_work, 0, 1u << 24, 65536, "SHA-256 node hashes one hash request may cost"),
	PW_OPT(mse, 0, 2, 2,
	       "MSE/PE handshakes: 0 refused, 1 plaintext only, 2 RC4 too for peers that insist"),
	PW_OPT(swarm_window_kib, 16, 1u << 20, 1024,
	       "seeding rarest: bytes of pieces advertised ahead of a peer (KiB)"),
	PW_OPT(swarm_small, 0, 65535, 2,
	       "seeding rarest: fewer peers than this get any piece (too few to trade)"),
	PW_OPT(swarm_boot_pct, 0, 100, 15,
	       "seeding rarest: a latecomer's part of the top-up pool for slow peers (%)"),
	PW_OPT(swarm_starve_ms, 100, 600000, 2000,
	       "seeding rarest/super: a peer without a new piece this long gets one anyway"),
	PW_OPT(swarm_floor_kib, 0, 1u << 24, 8192,
	       "seeding rarest: a peer taking less than this from everyone is slow (KiB/s)"),
};

const struct peerwire_option *peerwire_options(size_t *out_n)
{
	if (out_n)
		*out_n = sizeof(pw_options) / sizeof(pw_options[0]);
	return pw_options;
}

static uint32_t *opt_field(struct peerwire_config *cfg, const struct peerwire_option *o)
{
	return (uint32_t *)(void *)((char *)cfg + o->offset);
}

void peerwire_config_default(struct peerwire_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	memcpy(cfg->peer_id, "-BS0100-000000000000", 20);
	for (size_t i = 0; i < sizeof(pw_options) / sizeof(pw_options[0]); i++)
		*opt_field(cfg, &pw_options[i]) = pw_options[i].def;
}

static int config_check(struct peerwire_config *cfg, struct seed_err *err)
{
	for (size_t i = 0; i < sizeof(pw_options) / sizeof(pw_options[0]); i++) {
		const struct peerwire_option *o = &pw_options[i];
		uint32_t v = *opt_field(cfg, o);

		if (v < o->min || v > o->max)
			return seed_err_set(err, -EINVAL, "peerwire: %s = %u is outside [%u, %u]",
					    o->name, v, o->min, o->max);
	}
	if (cfg->max_extended > cfg->max_message)
		return seed_err_set(err, -EINVAL,
				    "peerwire: max_extended = %u exceeds max_message = %u",
				    cfg->max_extended, cfg->max_message);
	if (cfg->ext_buf > cfg->max_extended)
		return seed_err_set(err, -EINVAL,
				    "peerwire: ext_buf = %u exceeds max_extended = %u",
				    cfg->ext_buf, cfg->max_extended);
	return 0;
}

static struct peerwire_conn *slot_conn(struct dlist *l)
{
	return DLIST_ENTRY(l, struct peerwire_conn, slot_link);
}

static struct peerwire_conn *dirty_conn(struct dlist *l)
{
	return DLIST_ENTRY(l, struct peerwire_conn, dirty_link);
}

/* ---- engine ---- */

/* getrandom() does not fail for short reads on the kernels we run on (the
 * pool is up long before a seed starts). Should it, MSE still works with
 * weaker keys: they only obfuscate the handshake, nothing relies on their
 * secrecy, so a failure is filled from a generator rather than stopping
 * the worker. */
static void default_random(void *ctx, uint8_t *p, size_t n)
{
	size_t got = 0;
	uint64_t x = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull;

	(void)ctx;
	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	for (; got < n; got++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[got] = (uint8_t)(x >> 32);
	}
}

void peerwire_engine_set_random(struct peerwire_engine *e,
				void (*random)(void *ctx, uint8_t *p, size_t n), void *ctx)
{
	e->random = random ? random : default_random;
	e->random_ctx = random ? ctx : NULL;
}

int peerwire_engine_init(struct peerwire_engine *e, const struct peerwire_config *cfg,
			 const struct proto_catalog *catalog, struct hash_ctx *hash,
			 struct seed_err *err)
{
	int rc;

	memset(e, 0, sizeof(*e));
	dlist_init(&e->unchoked);
	dlist_init(&e->waiting);
	dlist_init(&e->dirty);
	if (cfg)
		e->cfg = *cfg;
	else
		peerwire_config_default(&e->cfg);
	rc = config_check(&e->cfg, err);
	if (rc)
		return rc;
	if (!catalog)
		return seed_err_set(err, -EINVAL, "peerwire: no catalog");
	e->catalog = *catalog;
	swarm_config_default(&e->swarm_cfg);
	e->swarm_cfg.window_kib = e->cfg.swarm_window_kib;
	e->swarm_cfg.small_swarm = e->cfg.swarm_small;
	e->swarm_cfg.starve_ms = e->cfg.swarm_starve_ms;
	e->swarm_cfg.boot_pct = e->cfg.swarm_boot_pct;
	e->swarm_cfg.floor_kib = e->cfg.swarm_floor_kib;

	if (hash) {
		e->hash = hash;
	} else {
		rc = hash_ctx_create(HASH_IMPL_MB, &e->hash, NULL);
		if (rc)
			rc = hash_ctx_create(HASH_IMPL_OPENSSL, &e->hash, err);
		if (rc)
			return rc;
		e->own_hash = 1;
	}

	e->ones = malloc(PW_ONES_LEN);
	e->scratch = malloc((size_t)PW_SCRATCH_NODES * 32 + (size_t)PW_SCRATCH_NODES / 2 * 32);
	e->jobs = calloc(PW_SCRATCH_NODES / 2, sizeof(*e->jobs));
	if (!e->ones || !e->scratch || !e->jobs) {
		peerwire_engine_free(e);
		return seed_err_set(err, -ENOMEM, "peerwire: out of memory");
	}
	memset(e->ones, 0xff, PW_ONES_LEN);
	e->random = default_random;
	if (e->cfg.mse && mse_dh_create(&e->dh) < 0) {
		peerwire_engine_free(e);
		return seed_err_set(err, -ENOMEM, "peerwire: out of memory (MSE group)");
	}

	rc = pw_hash_init_zero(e);
	if (rc) {
		peerwire_engine_free(e);
		return seed_err_set(err, rc, "peerwire: SHA-256 failed");
	}
	return 0;
}

void peerwire_engine_free(struct peerwire_engine *e)
{
	if (e->own_hash)
		hash_ctx_destroy(e->hash);
	e->hash = NULL;
	e->own_hash = 0;
	free(e->ones);
	free(e->scratch);
	free(e->jobs);
	e->ones = e->scratch = NULL;
	e->jobs = NULL;
	mse_dh_free(e->dh);
	e->dh = NULL;
}

void peerwire_engine_set_catalog(struct peerwire_engine *e, const struct proto_catalog *catalog)
{
	e->catalog = *catalog;
}

/* ---- closing ---- */

static void slot_leave(struct peerwire_conn *c);
static void dirty_update(struct peerwire_conn *c);

void pw_close(struct peerwire_conn *c, struct proto_out *out, enum proto_close_reason why,
	      const char *detail)
{
	c->close_reason = why;
	c->close_detail = detail;
	slot_leave(c);
	pw_swarm_leave(c, 0);
	if (pw_out_free(out) < 1) {
		c->state = PW_CLOSING;
		dirty_update(c);
		return;
	}
	out->a[out->n].kind = PROTO_ACT_CLOSE;
	out->a[out->n].u.close.reason = why;
	out->a[out->n].u.close.detail = detail;
	out->n++;
	c->state = PW_CLOSED;
	dirty_update(c);
}

int pw_glitch(struct peerwire_conn *c, struct proto_out *out)
{
	c->stats.peerwire_glitches_total++;
	if (c->stats.peerwire_glitches_total > c->e->cfg.max_glitches) {
		pw_close(c, out, PROTO_CLOSE_MALFORMED, "too many glitches");
		return PW_DEAD;
	}
	return PW_OK;
}

/* ---- upload slots ---- */

static void dirty_update(struct peerwire_conn *c)
{
	int need = c->state == PW_OPEN && c->greeted && c->want_choke != c->wire_choke;

	if (need && !c->in_dirty) {
		dlist_append(&c->e->dirty, &c->dirty_link);
		c->in_dirty = 1;
	} else if (!need && c->in_dirty) {
		dlist_remove(&c->dirty_link);
		c->in_dirty = 0;
	}
}

static void grant(struct peerwire_conn *c, uint64_t now)
{
	struct peerwire_engine *e = c->e;

	c->slot = SLOT_UNCHOKED;
	c->slot_since = now;
	dlist_append(&e->unchoked, &c->slot_link);
	e->slots_used++;
	c->want_choke = 0;
	dirty_update(c);
}

static void promote(struct peerwire_engine *e, uint64_t now)
{
	while (e->slots_used < e->cfg.upload_slots && !dlist_empty(&e->waiting)) {
		struct peerwire_conn *w = slot_conn(e->waiting.next);

		dlist_remove(&w->slot_link);
		e->n_waiting--;
		grant(w, now);
	}
}

/* At the tail of the queue for a slot (the caller took c off any list). */
static void queue_for_slot(struct peerwire_conn *c, uint64_t now)
{
	c->slot = SLOT_WAITING;
	c->slot_since = now;
	dlist_append(&c->e->waiting, &c->slot_link);
	c->e->n_waiting++;
}

static void slot_interested(struct peerwire_conn *c, uint64_t now)
{
	struct peerwire_engine *e = c->e;

	if (c->slot != SLOT_NONE)
		return;
	if (e->slots_used < e->cfg.upload_slots) {
		grant(c, now);
		return;
	}
	queue_for_slot(c, now);
	if (!e->next_rotation)
		e->next_rotation = now + e->cfg.rotate_interval_ms;
}

/* Gives up the slot (or the place in the queue); the peer is to be choked. */
static void slot_leave(struct peerwire_conn *c)
{
	struct peerwire_engine *e = c->e;

	if (c->slot == SLOT_UNCHOKED) {
		dlist_remove(&c->slot_link);
		e->slots_used--;
		c->slot = SLOT_NONE;
		promote(e, e->last_now);
	} else if (c->slot == SLOT_WAITING) {
		dlist_remove(&c->slot_link);
		e->n_waiting--;
		c->slot = SLOT_NONE;
	}
	c->want_choke = 1;
	dirty_update(c);
}

/* Tells the peer the slot decision if it changed: PW_OK or PW_BLOCKED. */
static int sync_choke(struct peerwire_conn *c, struct proto_out *out)
{
	uint8_t *p;

	if (c->state != PW_OPEN || !c->greeted || c->want_choke == c->wire_choke)
		return PW_OK;
	if (!pw_room(c, out, 5, 1))
		return PW_BLOCKED;
	p = pw_emit(c, out, 5);
	byteio_put_be32(p, 1);
	p[4] = c->want_choke ? PW_MSG_CHOKE : PW_MSG_UNCHOKE;
	c->wire_choke = c->want_choke;
	dirty_update(c);
	return PW_OK;
}

static void rotate(struct peerwire_engine *e, uint64_t now)
{
	uint32_t k = e->cfg.rotate_count;

	if (k > e->n_waiting)
		k = e->n_waiting;
	while (k-- && !dlist_empty(&e->unchoked) && !dlist_empty(&e->waiting)) {
		struct peerwire_conn *v = slot_conn(e->unchoked.next);
		struct peerwire_conn *w = slot_conn(e->waiting.next);

		dlist_remove(&v->slot_link);
		e->slots_used--;
		queue_for_slot(v, now);
		v->want_choke = 1;
		dirty_update(v);

		dlist_remove(&w->slot_link);
		e->n_waiting--;
		grant(w, now);
	}
	e->next_rotation = e->n_waiting ? now + e->cfg.rotate_interval_ms : 0;
}

size_t peerwire_engine_tick(struct peerwire_engine *e, uint64_t now_ms,
			    struct peerwire_conn **out_conns, size_t cap)
{
	size_t n = 0;

	if (now_ms > e->last_now)
		e->last_now = now_ms;
	if (e->next_rotation && now_ms >= e->next_rotation)
		rotate(e, now_ms);
	while (n < cap && !dlist_empty(&e->dirty)) {
		struct peerwire_conn *c = dirty_conn(e->dirty.next);

		dlist_remove(&c->dirty_link);
		c->in_dirty = 0;
		out_conns[n++] = c;
	}
	return n;
}

uint64_t peerwire_engine_next_deadline(const struct peerwire_engine *e)
{
	if (!dlist_empty(&e->dirty))
		return 0;
	return e->next_rotation ? e->next_rotation : PEERWIRE_NO_DEADLINE;
}

/* ---- connections ---- */

int peerwire_conn_init(struct peerwire_conn *c, struct peerwire_engine *e, uint64_t now_ms)
{
	uint32_t cap = 2 * e->cfg.max_requests;
	size_t rb = e->cfg.ext_buf > 64 ? e->cfg.ext_buf : 64;
	size_t reqs_off = (rb + PEERWIRE_SEND_BUF + 15) & ~(size_t)15;
	size_t mse_off = (reqs_off + (size_t)cap * sizeof(struct peerwire_req) + 15) & ~(size_t)15;
	size_t total = mse_off + (e->cfg.mse ? sizeof(struct mse_resp) : 0);

	memset(c, 0, sizeof(*c));
	c->e = e;
	c->state = PW_HS;
	c->want_choke = c->wire_choke = 1;
	c->peer_choking = 1;
	c->t_init = c->t_rx = c->t_tx = now_ms;
	dlist_init(&c->slot_link);
	dlist_init(&c->dirty_link);
	c->req_head = c->req_tail = c->req_rejected = PW_REQ_NONE;
	if (now_ms > e->last_now)
		e->last_now = now_ms;

	c->mem = malloc(total);
	if (!c->mem) {
		c->state = PW_CLOSED;
		return -ENOMEM;
	}
	c->rbuf = c->mem;
	c->rbuf_cap = (uint32_t)rb;
	c->sbuf = c->mem + rb;
	c->reqs = (struct peerwire_req *)(void *)(c->mem + reqs_off);
	c->req_cap = cap;
	c->mse = e->cfg.mse ? (struct mse_resp *)(void *)(c->mem + mse_off) : NULL;
	/* Entries are handed out from req_fresh up as needed, not threaded
	 * on the free list here: writing all 2 * max_requests of them made
	 * every connection resident for about 70 KiB before its first request
	 * (8,192 idle peers held 600 MB). */
	c->req_free = PW_REQ_NONE;
	c->req_fresh = 0;
	e->n_conns++;
	return 0;
}

void peerwire_conn_free(struct peerwire_conn *c)
{
	if (!c->e)
		return;
	pw_swarm_leave(c, 1);
	if (c->mem) {
		slot_leave(c);
		c->state = PW_CLOSED;
		dirty_update(c);
		c->e->n_conns--;
	}
	free(c->mem);
	c->mem = NULL;
	c->e = NULL;
}

struct mse_rc4 *peerwire_rc4_rx(struct peerwire_conn *c)
{
	return c->rc4 && c->mse ? &c->mse->dec : NULL;
}

struct mse_rc4 *peerwire_rc4_tx(struct peerwire_conn *c)
{
	return c->rc4 && c->mse ? &c->mse->enc : NULL;
}

int peerwire_is_closed(const struct peerwire_conn *c)
{
	return c->state == PW_CLOSED || c->state == PW_CLOSING;
}

uint32_t peerwire_outstanding(const struct peerwire_conn *c)
{
	return c->n_live;
}

uint64_t peerwire_requests_served(const struct peerwire_conn *c)
{
	const struct peerwire_stats *s = &c->stats;

	return s->peerwire_blocks_total +
	       (s->peerwire_metadata_requests_total - s->peerwire_metadata_rejects_total) +
	       (s->peerwire_hash_requests_total - s->peerwire_hash_rejects_total);
}

int peerwire_choking(const struct peerwire_conn *c)
{
	return c->wire_choke;
}

/* ---- outstanding requests ---- */

static struct peerwire_req *req_alloc(struct peerwire_conn *c)
{
	uint16_t i = c->req_free;
	struct peerwire_req *r;

	if (i != PW_REQ_NONE) {
		r = &c->reqs[i];
		c->req_free = r->next;
	} else if (c->req_fresh < c->req_cap) {
		i = (uint16_t)c->req_fresh++;
		r = &c->reqs[i];
	} else {
		return NULL;
	}
	r->next = PW_REQ_NONE;
	r->prev = c->req_tail;
	if (c->req_tail != PW_REQ_NONE)
		c->reqs[c->req_tail].next = i;
	else
		c->req_head = i;
	c->req_tail = i;
	r->state = REQ_LIVE;
	c->n_live++;
	c->n_active++;
	return r;
}

/* Takes r out of the arrival order and the counts. */
static void req_unlink(struct peerwire_conn *c, struct peerwire_req *r)
{
	if (r->prev != PW_REQ_NONE)
		c->reqs[r->prev].next = r->next;
	else
		c->req_head = r->next;
	if (r->next != PW_REQ_NONE)
		c->reqs[r->next].prev = r->prev;
	else
		c->req_tail = r->prev;
	if (r->state == REQ_LIVE)
		c->n_active--;
	c->n_live--;
	r->prev = r->next = PW_REQ_NONE;
}

static void req_put_free(struct peerwire_conn *c, struct peerwire_req *r)
{
	r->state = REQ_FREE;
	r->next = c->req_free;
	c->req_free = (uint16_t)(r - c->reqs);
}

static void req_release(struct peerwire_conn *c, struct peerwire_req *r)
{
	req_unlink(c, r);
	req_put_free(c, r);
}

/* Entries whose hdr holds a REJECT from peerwire_data_failed: theirs until
 * the send buffer restarts, then free. */
static void req_free_rejected(struct peerwire_conn *c)
{
	while (c->req_rejected != PW_REQ_NONE) {
		struct peerwire_req *r = &c->reqs[c->req_rejected];

		c->req_rejected = r->next;
		req_put_free(c, r);
	}
}

/* The oldest entry with piece and begin (and len unless len is 0, and
 * not cancelled when live_only). */
static struct peerwire_req *req_find(struct peerwire_conn *c, uint32_t piece, uint32_t begin,
				     uint32_t len, int live_only)
{
	for (uint16_t i = c->req_head; i != PW_REQ_NONE; i = c->reqs[i].next) {
		struct peerwire_req *r = &c->reqs[i];

		if (r->piece == piece && r->begin == begin && (!len || r->len == len) &&
		    (!live_only || r->state == REQ_LIVE))
			return r;
	}
	return NULL;
}

int peerwire_data_done(struct peerwire_conn *c, uint32_t piece, uint32_t begin)
{
	struct peerwire_req *r;

	if (!c->mem)
		return -ENOENT;
	r = req_find(c, piece, begin, 0, 0);
	if (!r)
		return -ENOENT;
	req_release(c, r);
	return 0;
}

/* ---- releases ---- */

static const struct proto_release *lookup(const struct peerwire_conn *c, int kind,
					  const uint8_t ih[20])
{
	const struct proto_catalog *cat = &c->e->catalog;

	if (kind == 1)
		return cat->by_ih_v1 ? cat->by_ih_v1(cat->ctx, c->user, ih) : NULL;
	return cat->by_ih_v2_20 ? cat->by_ih_v2_20(cat->ctx, c->user, ih) : NULL;
}

/* The worker's views are trusted, but a view the arithmetic below cannot
 * handle is refused rather than served wrongly. */
static int release_usable(const struct proto_release *r)
{
	return r->piece_length >= PEERWIRE_BLOCK && r->piece_length <= (1ull << 31) &&
	       pw_is_pow2(r->piece_length) && r->n_pieces >= 1 && r->n_pieces <= UINT32_MAX &&
	       r->files && r->n_files >= 1;
}

/* The file holding piece p, or NULL. Files are in torrent order with
 * non-decreasing first_piece; empty files hold no piece. */
static const struct proto_file *piece_file(struct peerwire_conn *c, uint64_t p, size_t *out_i)
{
	const struct proto_release *r = c->rel;
	size_t lo = 0, hi = r->n_files, i;

	i = c->file_hint < r->n_files ? c->file_hint : 0;
	if (r->files[i].length && p >= r->files[i].first_piece &&
	    p - r->files[i].first_piece < proto_file_pieces(r, &r->files[i])) {
		*out_i = i;
		return &r->files[i];
	}
	/* the last file with first_piece <= p */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->files[mid].first_piece <= p)
			lo = mid;
		else
			hi = mid;
	}
	for (i = lo + 1; i-- > 0;) {
		const struct proto_file *f = &r->files[i];

		if (f->first_piece > p)
			continue;
		if (f->length && p - f->first_piece < proto_file_pieces(r, f)) {
			c->file_hint = i;
			*out_i = i;
			return f;
		}
		if (f->length)
			break; /* a non-empty file ends before p: no file has p */
	}
	return NULL;
}

/* ---- the handshake ---- */

/* Our handshake, HAVE_ALL or BITFIELD, extension handshake. */
static int greet(struct peerwire_conn *c, struct proto_out *out)
{
	const struct proto_release *r = c->rel;
	uint64_t nbytes = (r->n_pieces + 7) / 8;
	int big = !c->peer_fast && nbytes > PW_BF_INLINE;
	uint64_t chunks = big ? (nbytes - 1 + PW_ONES_LEN - 1) / PW_ONES_LEN : 0;
	size_t actions = 1 + (big ? (size_t)chunks + 1 : 0) + 1; /* + a CLOSE */
	size_t bytes = PW_HS_LEN + 5 + (big ? 1 : (size_t)nbytes) + PW_EXT_HS_MAX;
	uint8_t *p;

	if (actions > out->cap) {
		pw_close(c, out, PROTO_CLOSE_OVERSIZED,
			 "bitfield needs more actions than out holds");
		return PW_DEAD;
	}
	if (!pw_room(c, out, bytes, actions))
		return PW_BLOCKED;

	p = c->sbuf + c->sbuf_used;
	p[0] = 19;
	memcpy(p + 1, PW_PSTR, 19);
	memset(p + 20, 0, 8);
	p[25] = 0x10;			       /* BEP 10 */
	p[27] = 0x04 | (r->has_v2 ? 0x10 : 0); /* BEP 6, BEP 52 */
	memcpy(p + 28, c->hs + 28, 20);
	memcpy(p + 48, c->e->cfg.peer_id, 20);
	pw_emit(c, out, PW_HS_LEN);

	if (pw_swarm_on(c)) {
		/* the policy advertises piece by piece (HAVEs); BEP 3 lets
		 * a peer with no piece send no bitfield */
		if (c->peer_fast) {
			p = pw_emit(c, out, 5);
			byteio_put_be32(p, 1);
			p[4] = PW_MSG_HAVE_NONE;
		}
	} else if (c->peer_fast) {
		p = pw_emit(c, out, 5);
		byteio_put_be32(p, 1);
		p[4] = PW_MSG_HAVE_ALL;
	} else {
		uint8_t last = (uint8_t)(0xff00u >> (r->n_pieces % 8 ? r->n_pieces % 8 : 8));

		p = pw_emit(c, out, 5);
		byteio_put_be32(p, (uint32_t)(1 + nbytes));
		p[4] = PW_MSG_BITFIELD;
		if (big) {
			uint64_t left = nbytes - 1;

			while (left) {
				size_t n = (size_t)pw_min64(left, PW_ONES_LEN);

				pw_push_send(c, out, c->e->ones, n);
				left -= n;
			}
		} else if (nbytes > 1) {
			memset(pw_emit(c, out, (size_t)nbytes - 1), 0xff, (size_t)nbytes - 1);
		}
		*pw_emit(c, out, 1) = last;
	}
	if (c->peer_ext) {
		uint8_t tmp[PW_EXT_HS_MAX];
		size_t n = pw_ext_handshake(c, tmp);

		memcpy(pw_emit(c, out, n), tmp, n);
	}
	c->greeted = 1;
	c->t_greet = c->e->last_now;
	return PW_OK;
}

/* Handshake bytes; returns the bytes consumed. Sets *stop when the call
 * must end (blocked or closed). */
static size_t hs_feed(struct peerwire_conn *c, const uint8_t *buf, size_t len,
		      struct proto_out *out, int *stop)
{
	size_t i = 0;

	while (i < len && c->hs_have < PW_HS_LEN) {
		uint8_t b = buf[i];
		uint32_t pos = c->hs_have;

		if ((pos == 0 && b != 19) ||
		    (pos >= 1 && pos <= 19 && b != (uint8_t)PW_PSTR[pos - 1])) {
			if (c->mse && !c->via_mse) {
				const struct proto_catalog *cat = &c->e->catalog;
				if (cat->admit_mse && !cat->admit_mse(cat->ctx, c->user)) {
					pw_close(c, out, PROTO_CLOSE_REFUSED,
						 "MSE handshake refused (address over its rate)");
					*stop = 1;
					return len;
				}
				/* the bytes so far are the start of an MSE key */
				mse_resp_init(c->mse, c->hs, pos);
				c->hs_have = 0;
				c->state = PW_MSE;
				return i;
			}
			pw_close(c, out, PROTO_CLOSE_MALFORMED, "not a BitTorrent handshake");
			*stop = 1;
			return len;
		}
		c->hs[pos] = b;
		c->hs_have++;
		i++;
		if (c->hs_have == 48) {
			const uint8_t *ih = c->hs + 28;
			const struct proto_release *r = lookup(c, 1, ih);
			int rc;

			c->ih_kind = 1;
			if (!r) {
				r = lookup(c, 2, ih);
				c->ih_kind = 2;
			}
			if (!r || !release_usable(r)) {
				pw_close(c, out, PROTO_CLOSE_UNKNOWN_TORRENT, "unknown info-hash");
				*stop = 1;
				return len;
			}
			if (c->via_mse && memcmp(ih, c->mse->skey, 20)) {
				pw_close(c, out, PROTO_CLOSE_ENCRYPTION,
					 "handshake info-hash differs from the MSE one");
				*stop = 1;
				return len;
			}
			c->rel = r;
			c->n_pieces = r->n_pieces;
			c->peer_fast = (c->hs[27] & 0x04) != 0;
			c->peer_ext = (c->hs[25] & 0x10) != 0;
			pw_swarm_attach(c, r, c->e->last_now);
			rc = greet(c, out);
			if (rc != PW_OK) {
				if (rc == PW_BLOCKED) {
					c->hs_have--;
					i--;
				}
				*stop = 1;
				return rc == PW_DEAD ? len : i;
			}
		}
	}
	if (c->hs_have == PW_HS_LEN)
		c->state = PW_OPEN;
	return i;
}

/* ---- message handlers ---- */

/*
 * The last piece of a release is short, except for v2-only torrents:
 * libtorrent 2.0 lays out a v2 torrent with a pad after the last file too
 * (every file, the last included, ends on a piece boundary) and requests
 * the last piece as full; the tail past the file reads as zeros.
 */
static uint64_t piece_size(const struct proto_release *r, const struct proto_file *f, uint64_t p)
{
	if (p + 1 < r->n_pieces || (r->has_v2 && !r->has_v1))
		return r->piece_length;
	return f->length - (p - f->first_piece) * r->piece_length;
}

static int on_request(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	const struct proto_release *r = c->rel;
	uint32_t index = byteio_be32(c->rbuf), begin = byteio_be32(c->rbuf + 4),
		 length = byteio_be32(c->rbuf + 8);
	const struct proto_file *f;
	uint64_t off, data_len, zero_len;
	size_t fi;
	uint8_t *p;

	(void)now;
	if (index >= r->n_pieces || length == 0 || length > PEERWIRE_BLOCK) {
		pw_close(c, out, PROTO_CLOSE_BAD_REQUEST, "request index or length");
		return PW_DEAD;
	}
	f = piece_file(c, index, &fi);
	if (!f || (uint64_t)begin + length > piece_size(r, f, index)) {
		pw_close(c, out, PROTO_CLOSE_BAD_REQUEST, "request beyond the piece");
		return PW_DEAD;
	}
	if (pw_swarm_on(c) && !swarm_advertised(&c->sw, index))
		c->stats.peerwire_swarm_unadvertised_total++;
	if (c->wire_choke) {
		if (!c->peer_fast) {
			c->stats.peerwire_requests_total++;
			c->stats.peerwire_request_bytes_total += length;
			return PW_OK; /* BEP 3: a choked peer's requests are dropped */
		}
		if (!pw_room(c, out, 17, 1))
			return PW_BLOCKED;
		p = pw_emit(c, out, 17);
		byteio_put_be32(p, 13);
		p[4] = PW_MSG_REJECT;
		memcpy(p + 5, c->rbuf, 12);
		c->stats.peerwire_requests_total++;
		c->stats.peerwire_request_bytes_total += length;
		c->stats.peerwire_rejects_total++;
		return PW_OK;
	}

	if (pw_swarm_on(c))
		swarm_peer_requested(&c->sw, index);
	off = (uint64_t)(index - f->first_piece) * r->piece_length + begin;
	data_len = off < f->length ? pw_min64(length, f->length - off) : 0;
	zero_len = length - data_len;

	if (data_len) {
		struct peerwire_req *q;
		struct proto_action *a;

		if (c->n_active >= c->e->cfg.max_requests ||
		    (c->req_free == PW_REQ_NONE && c->req_fresh >= c->req_cap)) {
			pw_close(c, out, PROTO_CLOSE_TOO_MANY, "too many outstanding requests");
			return PW_DEAD;
		}
		if (!pw_room(c, out, 0, 2 + (zero_len ? 1 : 0)))
			return PW_BLOCKED;
		q = req_alloc(c);
		q->piece = index;
		q->begin = begin;
		q->len = length;
		byteio_put_be32(q->hdr, 9 + length);
		q->hdr[4] = PW_MSG_PIECE;
		memcpy(q->hdr + 5, c->rbuf, 8);
		pw_push_send(c, out, q->hdr, 13);
		a = &out->a[out->n++];
		a->kind = PROTO_ACT_SEND_DATA;
		a->u.data.release = r->handle;
		a->u.data.file = (uint32_t)fi;
		a->u.data.offset = off;
		a->u.data.len = (uint32_t)data_len;
		a->u.data.piece = index;
		a->u.data.begin = begin;
	} else {
		if (!pw_room(c, out, 13, 2))
			return PW_BLOCKED;
		p = pw_emit(c, out, 13);
		byteio_put_be32(p, 9 + length);
		p[4] = PW_MSG_PIECE;
		memcpy(p + 5, c->rbuf, 8);
	}
	if (zero_len) {
		struct proto_action *a = &out->a[out->n++];

		a->kind = PROTO_ACT_SEND_ZERO;
		a->u.zero.len = (uint32_t)zero_len;
	}
	c->stats.peerwire_requests_total++;
	c->stats.peerwire_request_bytes_total += length;
	c->stats.peerwire_blocks_total++;
	return PW_OK;
}

static int on_cancel(struct peerwire_conn *c)
{
	struct peerwire_req *q = req_find(c, byteio_be32(c->rbuf), byteio_be32(c->rbuf + 4),
					  byteio_be32(c->rbuf + 8), 1);

	if (q && q->len) {
		q->state = REQ_CANCELLED;
		c->n_active--;
		c->stats.peerwire_cancels_total++;
	}
	return PW_OK;
}

/* A complete message (length c->msg_len, id c->msg_id, body in rbuf when
 * buffered, last byte in c->last_byte when skipped). */
static int handle(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	const struct proto_release *r = c->rel;
	int fast_only = 0;

	pw_swarm_on_message(c, now);
	switch (c->msg_id) {
	case PW_MSG_CHOKE:
	case PW_MSG_UNCHOKE: c->peer_choking = c->msg_id == PW_MSG_CHOKE; return PW_OK;
	case PW_MSG_INTERESTED:
	case PW_MSG_NOT_INTERESTED:
		/* room for the choke message first, so state never runs
		 * ahead of what the peer is told */
		if (!pw_room(c, out, 5, 1))
			return PW_BLOCKED;
		c->peer_interested = c->msg_id == PW_MSG_INTERESTED;
		if (c->peer_interested)
			slot_interested(c, now);
		else
			slot_leave(c);
		return sync_choke(c, out);
	case PW_MSG_HAVE:
		return c->msg_len == 5 && byteio_be32(c->rbuf) < r->n_pieces ? PW_OK
									     : pw_glitch(c, out);
	case PW_MSG_BITFIELD:
		if (r->n_pieces % 8 && (c->last_byte & (0xffu >> (r->n_pieces % 8)))) {
			pw_close(c, out, PROTO_CLOSE_MALFORMED, "bitfield spare bits set");
			return PW_DEAD;
		}
		return PW_OK;
	case PW_MSG_REQUEST: return on_request(c, out, now);
	case PW_MSG_CANCEL: return on_cancel(c);
	case PW_MSG_PORT:
	case PW_MSG_HASH_REJECT: return PW_OK;
	case PW_MSG_SUGGEST:
	case PW_MSG_HAVE_ALL:
	case PW_MSG_HAVE_NONE:
	case PW_MSG_REJECT:
	case PW_MSG_ALLOWED_FAST: fast_only = 1; break;
	case PW_MSG_EXTENDED:
		if (c->mode != MODE_BUFFER)
			return pw_glitch(c, out);
		return pw_ext_on_message(c, out);
	case PW_MSG_HASH_REQUEST: return pw_hash_on_request(c, out);
	default: /* piece, hashes (never asked for), unknown ids */ return pw_glitch(c, out);
	}
	if (fast_only && !c->peer_fast)
		return pw_glitch(c, out);
	return PW_OK;
}

/*
 * The id byte is in: checks the length against the id's bound and picks
 * how the body is read. PW_OK or PW_DEAD.
 */
static int begin_message(struct peerwire_conn *c, struct proto_out *out)
{
	const struct peerwire_config *cfg = &c->e->cfg;
	uint32_t len = c->msg_len, exact = 0;
	uint64_t bf = 1 + (c->rel->n_pieces + 7) / 8;

	c->mode = MODE_SKIP;
	switch (c->msg_id) {
	case PW_MSG_CHOKE:
	case PW_MSG_UNCHOKE:
	case PW_MSG_INTERESTED:
	case PW_MSG_NOT_INTERESTED:
	case PW_MSG_HAVE_ALL:
	case PW_MSG_HAVE_NONE: exact = 1; break;
	case PW_MSG_HAVE:
		exact = 5;
		c->mode = MODE_BUFFER;
		break;
	case PW_MSG_SUGGEST:
	case PW_MSG_ALLOWED_FAST: exact = 5; break;
	case PW_MSG_PORT: exact = 3; break;
	case PW_MSG_BITFIELD:
		if (len > bf)
			goto oversized;
		exact = (uint32_t)bf;
		break;
	case PW_MSG_REQUEST:
	case PW_MSG_CANCEL:
	case PW_MSG_REJECT:
		if (len > PEERWIRE_BLOCK + 13)
			goto oversized;
		exact = 13;
		c->mode = MODE_BUFFER;
		break;
	case PW_MSG_PIECE:
		if (len > PEERWIRE_BLOCK + 13)
			goto oversized;
		if (len < 9)
			goto malformed;
		break;
	case PW_MSG_EXTENDED:
		if (len > cfg->max_extended)
			goto oversized;
		if (len < 2)
			goto malformed;
		if (len - 1 <= c->rbuf_cap)
			c->mode = MODE_BUFFER;
		break;
	case PW_MSG_HASH_REQUEST:
	case PW_MSG_HASH_REJECT:
		exact = 49;
		c->mode = MODE_BUFFER;
		break;
	case PW_MSG_HASHES:
		if (len < 49)
			goto malformed;
		break;
	default: break;
	}
	if (exact && len != exact)
		goto malformed;
	return PW_OK;
oversized:
	pw_close(c, out, PROTO_CLOSE_OVERSIZED, "message over its bound");
	return PW_DEAD;
malformed:
	pw_close(c, out, PROTO_CLOSE_MALFORMED, "message length wrong for its id");
	return PW_DEAD;
}

/* ---- entry points ---- */

/* Start of a call that may write sbuf from scratch. PW_OK, or PW_DEAD when
 * the connection is (now) closed, PW_BLOCKED when out has no room at all. */
static int enter(struct peerwire_conn *c, struct proto_out *out, uint64_t now, int reset)
{
	if (now > c->e->last_now)
		c->e->last_now = now;
	if (c->state == PW_CLOSED || !c->mem)
		return PW_DEAD;
	c->call_base = out->n;
	if (out->cap < PEERWIRE_MIN_OUT || pw_out_free(out) < 1)
		return PW_BLOCKED;
	if (reset) {
		c->sbuf_used = 0;
		req_free_rejected(c);
	}
	if (c->state == PW_CLOSING) {
		pw_close(c, out, c->close_reason, c->close_detail);
		return PW_DEAD;
	}
	if (c->rel) {
		const struct proto_release *r = lookup(c, c->ih_kind, c->hs + 28);

		if (!r || !release_usable(r) || r->n_pieces != c->n_pieces) {
			pw_close(c, out, PROTO_CLOSE_UNKNOWN_TORRENT, "release no longer served");
			return PW_DEAD;
		}
		c->rel = r;
	}
	return PW_OK;
}

static void leave(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	for (size_t i = c->call_base; i < out->n; i++) {
		if (out->a[i].kind != PROTO_ACT_CLOSE) {
			c->t_tx = now;
			break;
		}
	}
}

/* Plaintext peer wire: the handshake, then messages. Returns the bytes
 * consumed (len once closed); stops early when blocked or when the first
 * bytes turn out to be an MSE key (state MSE). */
static size_t wire(struct peerwire_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms,
		   struct proto_out *out)
{
	size_t i = 0;
	int rc;

	if (c->state == PW_HS) {
		int stop = 0;

		i = hs_feed(c, buf, len, out, &stop);
		if (c->state == PW_CLOSED || c->state == PW_CLOSING)
			return len;
		if (stop || c->state == PW_MSE)
			return i;
	}
	if (sync_choke(c, out) == PW_BLOCKED)
		return i;

	while (i < len && c->state == PW_OPEN) {
		if (pw_out_free(out) < 1)
			break;
		if (c->hdr_have < 4) {
			size_t n = pw_min64(4 - c->hdr_have, len - i);

			memcpy(c->hdr + c->hdr_have, buf + i, n);
			c->hdr_have = (uint8_t)(c->hdr_have + n);
			i += n;
			if (c->hdr_have < 4)
				break;
			c->msg_len = byteio_be32(c->hdr);
			c->id_have = 0;
			if (c->msg_len == 0) {
				c->hdr_have = 0; /* keep-alive */
				continue;
			}
			if (c->msg_len > c->e->cfg.max_message) {
				pw_close(c, out, PROTO_CLOSE_OVERSIZED, "message over max_message");
				return len;
			}
			continue;
		}
		if (!c->id_have) {
			c->msg_id = buf[i++];
			c->id_have = 1;
			c->body_have = 0;
			if (begin_message(c, out) == PW_DEAD)
				return len;
		} else {
			size_t n = pw_min64(c->msg_len - 1 - c->body_have, len - i);

			if (c->mode == MODE_BUFFER)
				memcpy(c->rbuf + c->body_have, buf + i, n);
			else if (n)
				c->last_byte = buf[i + n - 1];
			if (n && c->msg_id == PW_MSG_BITFIELD)
				pw_swarm_bits(c, c->body_have, buf + i, n, now_ms);
			c->body_have += (uint32_t)n;
			i += n;
		}
		if (c->body_have == c->msg_len - 1) {
			rc = handle(c, out, now_ms);
			if (rc == PW_DEAD)
				return len;
			if (rc == PW_BLOCKED) {
				/* hand the final byte back: offered again */
				if (c->body_have)
					c->body_have--;
				else
					c->id_have = 0;
				i--;
				break;
			}
			c->hdr_have = 0;
			c->id_have = 0;
		}
	}
	return i;
}

static int mse_skey(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	const struct peerwire_conn *c = ctx;
	const struct proto_catalog *cat = &c->e->catalog;
	const struct proto_release *r =
		cat->by_mse_req2 ? cat->by_mse_req2(cat->ctx, c->user, req2) : NULL;

	if (r && r->has_v1 && !memcmp(r->mse_req2_v1, req2, 20))
		memcpy(skey, r->ih_v1, 20);
	else if (r && r->has_v2 && !memcmp(r->mse_req2_v2, req2, 20))
		memcpy(skey, r->ih_v2, 20);
	else
		return -1;
	return 0;
}

/* MSE input. Returns the bytes consumed (len once closed); sets *stop when
 * out or the send buffer is full. */
static size_t mse_step(struct peerwire_conn *c, const uint8_t *buf, size_t len,
		       struct proto_out *out, int *stop)
{
	struct peerwire_engine *e = c->e;
	const struct mse_env env = { .dh = e->dh,
				     .hash = e->hash,
				     .random = e->random,
				     .random_ctx = e->random_ctx,
				     .skey = mse_skey,
				     .skey_ctx = c,
				     .allow_rc4 = e->cfg.mse >= 2 };
	size_t i = 0;

	while (c->state == PW_MSE) {
		size_t used, olen;
		int rc;

		/* a step's answer and a CLOSE */
		if (!pw_room(c, out, MSE_OUT_MAX, 2)) {
			*stop = 1;
			return i;
		}
		rc = mse_resp_feed(c->mse, &env, buf + i, len - i, &used, c->sbuf + c->sbuf_used,
				   &olen);
		i += used;
		if (olen)
			pw_emit(c, out, olen);
		if (rc == MSE_DONE) {
			c->state = PW_HS;
			c->via_mse = 1;
			c->ia_off = 0;
			c->stats.peerwire_mse_handshakes_total++;
			if (c->mse->select == MSE_PROVIDE_RC4) {
				/* what follows is ciphertext for the worker to
				 * decrypt: this call ends here */
				c->rc4 = 1;
				*stop = 1;
				return i;
			}
		} else if (rc != MSE_MORE) {
			pw_close(c, out,
				 rc == MSE_ERR_UNKNOWN ? PROTO_CLOSE_UNKNOWN_TORRENT
						       : PROTO_CLOSE_ENCRYPTION,
				 c->mse->why);
			*stop = 1;
			return len;
		} else if (!olen) {
			break; /* all input taken */
		}
	}
	return i;
}

/* The peer's MSE initial payload (IA), decrypted, goes through the wire
 * parser before any later input. PW_OK when it is all taken, PW_BLOCKED,
 * PW_DEAD. */
static int drain_ia(struct peerwire_conn *c, uint64_t now_ms, struct proto_out *out)
{
	size_t n, used;

	if (!c->via_mse || c->ia_off >= c->mse->ia_len)
		return PW_OK;
	n = c->mse->ia_len - c->ia_off;
	used = wire(c, c->mse->ia + c->ia_off, n, now_ms, out);
	if (peerwire_is_closed(c))
		return PW_DEAD;
	c->ia_off = (uint16_t)(c->ia_off + used);
	return used < n ? PW_BLOCKED : PW_OK;
}

size_t peerwire_on_bytes(struct peerwire_conn *c, const uint8_t *buf, size_t len, uint64_t now_ms,
			 struct proto_out *out)
{
	size_t i = 0;
	int rc = enter(c, out, now_ms, 1);

	if (rc == PW_DEAD)
		return len;
	if (rc == PW_BLOCKED)
		return 0;
	if (len)
		c->t_rx = now_ms;

	/* at most: plaintext start, MSE, IA, plaintext after it */
	for (int round = 0; round < 2; round++) {
		if (c->state == PW_MSE) {
			int stop = 0;

			i += mse_step(c, buf + i, len - i, out, &stop);
			if (peerwire_is_closed(c))
				return len;
			if (stop || c->state == PW_MSE)
				break;
		}
		rc = drain_ia(c, now_ms, out);
		if (rc == PW_DEAD)
			return len;
		if (rc == PW_BLOCKED)
			break;
		i += wire(c, buf + i, len - i, now_ms, out);
		if (peerwire_is_closed(c))
			return len;
		if (c->state != PW_MSE)
			break;
	}
	if (c->state == PW_OPEN)
		pw_swarm_flush(c, out, now_ms);
	leave(c, out, now_ms);
	return i;
}

void peerwire_on_tick(struct peerwire_conn *c, uint64_t now_ms, struct proto_out *out)
{
	const struct peerwire_config *cfg;
	int rc;

	if (enter(c, out, now_ms, 1) != PW_OK)
		return;
	cfg = &c->e->cfg;
	if (c->hs_have < PW_HS_LEN && now_ms >= c->t_init + cfg->handshake_timeout_ms) {
		pw_close(c, out, PROTO_CLOSE_TIMEOUT, "handshake timeout");
		return;
	}
	if (now_ms >= c->t_rx + cfg->idle_timeout_ms) {
		pw_close(c, out, PROTO_CLOSE_TIMEOUT, "idle timeout");
		return;
	}
	rc = drain_ia(c, now_ms, out);
	if (rc == PW_DEAD)
		return;
	if (rc == PW_OK && c->utm_n && c->state == PW_OPEN)
		rc = pw_ext_flush(c, out, now_ms);
	if (c->greeted && !c->nudged && c->peer_interested)
		c->nudged = 1;
	if (rc == PW_OK && c->state == PW_OPEN)
		pw_swarm_flush(c, out, now_ms);
	if (rc == PW_OK && sync_choke(c, out) == PW_OK && c->greeted &&
	    (now_ms >= c->t_tx + cfg->keepalive_ms ||
	     (!c->nudged && now_ms >= c->t_greet + PEERWIRE_NUDGE_MS)) &&
	    pw_room(c, out, 4, 1)) {
		memset(pw_emit(c, out, 4), 0, 4);
		c->stats.peerwire_keepalives_sent_total++;
		c->nudged = 1;
	}
	leave(c, out, now_ms);
}

uint64_t peerwire_next_deadline(const struct peerwire_conn *c)
{
	const struct peerwire_config *cfg;
	uint64_t d;

	if (!c->mem || c->state == PW_CLOSED)
		return PEERWIRE_NO_DEADLINE;
	if (c->state == PW_CLOSING || (c->greeted && c->want_choke != c->wire_choke) ||
	    (c->via_mse && c->ia_off < c->mse->ia_len))
		return 0;
	cfg = &c->e->cfg;
	d = c->t_rx + cfg->idle_timeout_ms;
	if (c->hs_have < PW_HS_LEN)
		d = pw_min64(d, c->t_init + cfg->handshake_timeout_ms);
	if (c->greeted)
		d = pw_min64(d, c->t_tx + cfg->keepalive_ms);
	if (c->greeted && !c->nudged && !c->peer_interested)
		d = pw_min64(d, c->t_greet + PEERWIRE_NUDGE_MS);
	if (c->utm_n)
		d = pw_min64(d, c->utm_next);
	return pw_min64(d, pw_swarm_deadline(c));
}

int peerwire_data_failed(struct peerwire_conn *c, uint32_t piece, uint32_t begin,
			 struct proto_out *out)
{
	struct peerwire_req *q;
	uint8_t *p;

	if (!c->mem || c->state != PW_OPEN)
		return -ENOENT;
	q = req_find(c, piece, begin, 0, 0);
	if (!q)
		return -ENOENT;
	c->call_base = out->n; /* sbuf is not reset: earlier SENDs stay */
	if (!c->peer_fast) {
		req_release(c, q);
		pw_close(c, out, PROTO_CLOSE_DATA_ERROR, "block failed verification");
		return 0;
	}
	if (out->cap < PEERWIRE_MIN_OUT || pw_out_free(out) < 1)
		return -ENOSPC;
	/* The REJECT goes in the entry itself (its PIECE header is dropped
	 * with the block), so it never waits for send-buffer room; the entry
	 * stays reserved until the next on_bytes / on_tick. */
	req_unlink(c, q);
	q->state = REQ_REJECTED;
	q->next = c->req_rejected;
	c->req_rejected = (uint16_t)(q - c->reqs);
	p = q->hdr;
	byteio_put_be32(p, 13);
	p[4] = PW_MSG_REJECT;
	byteio_put_be32(p + 5, q->piece);
	byteio_put_be32(p + 9, q->begin);
	byteio_put_be32(p + 13, q->len);
	pw_push_send(c, out, p, 17);
	c->stats.peerwire_rejects_total++;
	return 0;
}
