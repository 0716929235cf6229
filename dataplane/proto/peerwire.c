/*
 * peerwire: the peer-wire engine of a pure seed. The protocol, the bounds
 * and the contract with the worker are in peerwire.h; this file header says
 * how it is built.
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

#include "peerwire.h"

enum {
	PW_HS = 1,  /* reading the handshake */
	PW_OPEN,    /* messages */
	PW_CLOSING, /* CLOSE decided, waiting for room */
	PW_CLOSED,
	PW_MSE, /* answering an MSE handshake (c->mse) */
};

enum {
	MSG_CHOKE = 0,
	MSG_UNCHOKE = 1,
	MSG_INTERESTED = 2,
	MSG_NOT_INTERESTED = 3,
	MSG_HAVE = 4,
	MSG_BITFIELD = 5,
	MSG_REQUEST = 6,
	MSG_PIECE = 7,
	MSG_CANCEL = 8,
	MSG_PORT = 9,
	MSG_SUGGEST = 0x0d,
	MSG_HAVE_ALL = 0x0e,
	MSG_HAVE_NONE = 0x0f,
	MSG_REJECT = 0x10,
	MSG_ALLOWED_FAST = 0x11,
	MSG_EXTENDED = 20,
	MSG_HASH_REQUEST = 21,
	MSG_HASHES = 22,
	MSG_HASH_REJECT = 23,
};

enum { MODE_SKIP = 0, MODE_BUFFER = 1 };
enum { SLOT_NONE = 0, SLOT_WAITING, SLOT_UNCHOKED };
enum { REQ_FREE = 0, REQ_LIVE, REQ_CANCELLED, REQ_REJECTED };
/* Outcome of handling a message. */
enum { PW_OK = 0, PW_BLOCKED, PW_DEAD };

#define PW_HS_LEN	 68u
#define PW_PSTR		 "BitTorrent protocol"
#define PW_REQ_NONE	 0xffffu
#define PW_ONES_LEN	 65536u /* bitfield bytes one SEND can carry */
#define PW_BF_INLINE	 64u	/* bitfields up to this go in sbuf */
#define PW_EXT_HS_MAX	 160u	/* our extension handshake, bound */
#define PW_SCRATCH_NODES 1024u	/* uncle subtree hashed in one go */
#define PW_HASH_MSG_HDR	 53u	/* 4 + 1 + 48 */
#define PW_UTM_HDR_MAX	 96u	/* ut_metadata reply before the slice */
#define PW_BDEC_DEPTH	 32

/* ---- small helpers ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Appends the decimal form of v; returns the end. */
static uint8_t *put_dec(uint8_t *p, uint64_t v)
{
	uint8_t tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static uint8_t *put_lit(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned log2u(uint64_t v)
{
	unsigned r = 0;

	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

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

/* ---- intrusive lists ---- */

static void list_init(struct peerwire_link *h)
{
	h->prev = h->next = h;
}

static int list_empty(const struct peerwire_link *h)
{
	return h->next == h;
}

static void list_append(struct peerwire_link *h, struct peerwire_link *l)
{
	l->prev = h->prev;
	l->next = h;
	h->prev->next = l;
	h->prev = l;
}

static void list_remove(struct peerwire_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = l;
}

static struct peerwire_conn *slot_conn(struct peerwire_link *l)
{
	return (struct peerwire_conn *)(void *)((char *)l -
						offsetof(struct peerwire_conn, slot_link));
}

static struct peerwire_conn *dirty_conn(struct peerwire_link *l)
{
	return (struct peerwire_conn *)(void *)((char *)l -
						offsetof(struct peerwire_conn, dirty_link));
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
	list_init(&e->unchoked);
	list_init(&e->waiting);
	list_init(&e->dirty);
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

	/* BEP 52 pads leaves with zero hashes; a pad node at height k is the
	 * root of 2^k zero leaves. */
	memset(e->zero[0], 0, 32);
	for (unsigned k = 1; k < 64; k++) {
		uint8_t pair[64];

		memcpy(pair, e->zero[k - 1], 32);
		memcpy(pair + 32, e->zero[k - 1], 32);
		rc = hash_sha256(e->hash, pair, 64, e->zero[k]);
		if (rc) {
			peerwire_engine_free(e);
			return seed_err_set(err, rc, "peerwire: SHA-256 failed");
		}
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

/* ---- output ---- */

static size_t out_free(const struct proto_out *o)
{
	return o->cap > o->n ? o->cap - o->n : 0;
}

static int room(const struct peerwire_conn *c, const struct proto_out *out, size_t bytes,
		size_t actions)
{
	return out_free(out) >= actions && PEERWIRE_SEND_BUF - c->sbuf_used >= bytes;
}

/* Appends a SEND, merging it into the previous one of this call when the
 * bytes follow on in memory (consecutive messages in sbuf). */
static void push_send(struct peerwire_conn *c, struct proto_out *out, const uint8_t *p, size_t n)
{
	if (out->n > c->call_base) {
		struct proto_action *l = &out->a[out->n - 1];

		if (l->kind == PROTO_ACT_SEND &&
		    (uintptr_t)l->u.send.p + l->u.send.len == (uintptr_t)p) {
			l->u.send.len += n;
			return;
		}
	}
	out->a[out->n].kind = PROTO_ACT_SEND;
	out->a[out->n].u.send.p = p;
	out->a[out->n].u.send.len = n;
	out->n++;
}

/* n bytes of sbuf for one message, already queued as a SEND; the caller
 * checked room() and fills them. */
static uint8_t *emit(struct peerwire_conn *c, struct proto_out *out, size_t n)
{
	uint8_t *p = c->sbuf + c->sbuf_used;

	c->sbuf_used += (uint32_t)n;
	push_send(c, out, p, n);
	return p;
}

static void slot_leave(struct peerwire_conn *c);
static void dirty_update(struct peerwire_conn *c);

static void close_conn(struct peerwire_conn *c, struct proto_out *out, enum proto_close_reason why,
		       const char *detail)
{
	c->close_reason = why;
	c->close_detail = detail;
	slot_leave(c);
	if (out_free(out) < 1) {
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

static int glitch(struct peerwire_conn *c, struct proto_out *out)
{
	c->stats.peerwire_glitches_total++;
	if (c->stats.peerwire_glitches_total > c->e->cfg.max_glitches) {
		close_conn(c, out, PROTO_CLOSE_MALFORMED, "too many glitches");
		return PW_DEAD;
	}
	return PW_OK;
}

/* ---- upload slots ---- */

static void dirty_update(struct peerwire_conn *c)
{
	int need = c->state == PW_OPEN && c->greeted && c->want_choke != c->wire_choke;

	if (need && !c->in_dirty) {
		list_append(&c->e->dirty, &c->dirty_link);
		c->in_dirty = 1;
	} else if (!need && c->in_dirty) {
		list_remove(&c->dirty_link);
		c->in_dirty = 0;
	}
}

static void grant(struct peerwire_conn *c, uint64_t now)
{
	struct peerwire_engine *e = c->e;

	c->slot = SLOT_UNCHOKED;
	c->slot_since = now;
	list_append(&e->unchoked, &c->slot_link);
	e->slots_used++;
	c->want_choke = 0;
	dirty_update(c);
}

static void promote(struct peerwire_engine *e, uint64_t now)
{
	while (e->slots_used < e->cfg.upload_slots && !list_empty(&e->waiting)) {
		struct peerwire_conn *w = slot_conn(e->waiting.next);

		list_remove(&w->slot_link);
		e->n_waiting--;
		grant(w, now);
	}
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
	c->slot = SLOT_WAITING;
	c->slot_since = now;
	list_append(&e->waiting, &c->slot_link);
	e->n_waiting++;
	if (!e->next_rotation)
		e->next_rotation = now + e->cfg.rotate_interval_ms;
}

/* Gives up the slot (or the place in the queue); the peer is to be choked. */
static void slot_leave(struct peerwire_conn *c)
{
	struct peerwire_engine *e = c->e;

	if (c->slot == SLOT_UNCHOKED) {
		list_remove(&c->slot_link);
		e->slots_used--;
		c->slot = SLOT_NONE;
		promote(e, e->last_now);
	} else if (c->slot == SLOT_WAITING) {
		list_remove(&c->slot_link);
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
	if (!room(c, out, 5, 1))
		return PW_BLOCKED;
	p = emit(c, out, 5);
	put_be32(p, 1);
	p[4] = c->want_choke ? MSG_CHOKE : MSG_UNCHOKE;
	c->wire_choke = c->want_choke;
	dirty_update(c);
	return PW_OK;
}

static void rotate(struct peerwire_engine *e, uint64_t now)
{
	uint32_t k = e->cfg.rotate_count;

	if (k > e->n_waiting)
		k = e->n_waiting;
	while (k-- && !list_empty(&e->unchoked) && !list_empty(&e->waiting)) {
		struct peerwire_conn *v = slot_conn(e->unchoked.next);
		struct peerwire_conn *w = slot_conn(e->waiting.next);

		list_remove(&v->slot_link);
		e->slots_used--;
		v->slot = SLOT_WAITING;
		v->slot_since = now;
		list_append(&e->waiting, &v->slot_link);
		e->n_waiting++;
		v->want_choke = 1;
		dirty_update(v);

		list_remove(&w->slot_link);
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
	while (n < cap && !list_empty(&e->dirty)) {
		struct peerwire_conn *c = dirty_conn(e->dirty.next);

		list_remove(&c->dirty_link);
		c->in_dirty = 0;
		out_conns[n++] = c;
	}
	return n;
}

uint64_t peerwire_engine_next_deadline(const struct peerwire_engine *e)
{
	if (!list_empty(&e->dirty))
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
	c->slot_link.prev = c->slot_link.next = &c->slot_link;
	c->dirty_link.prev = c->dirty_link.next = &c->dirty_link;
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
	for (uint32_t i = 0; i < cap; i++) {
		c->reqs[i].state = REQ_FREE;
		c->reqs[i].next = (uint16_t)(i + 1 < cap ? i + 1 : PW_REQ_NONE);
	}
	c->req_free = 0;
	e->n_conns++;
	return 0;
}

void peerwire_conn_free(struct peerwire_conn *c)
{
	if (!c->e)
		return;
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

int peerwire_choking(const struct peerwire_conn *c)
{
	return c->wire_choke;
}

/* ---- outstanding requests ---- */

static struct peerwire_req *req_alloc(struct peerwire_conn *c)
{
	uint16_t i = c->req_free;
	struct peerwire_req *r;

	if (i == PW_REQ_NONE)
		return NULL;
	r = &c->reqs[i];
	c->req_free = r->next;
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

static const struct proto_release *lookup(const struct peerwire_engine *e, int kind,
					  const uint8_t ih[20])
{
	const struct proto_catalog *cat = &e->catalog;

	if (kind == 1)
		return cat->by_ih_v1 ? cat->by_ih_v1(cat->ctx, ih) : NULL;
	return cat->by_ih_v2_20 ? cat->by_ih_v2_20(cat->ctx, ih) : NULL;
}

/* The worker's views are trusted, but a view the arithmetic below cannot
 * handle is refused rather than served wrongly. */
static int release_usable(const struct proto_release *r)
{
	return r->piece_length >= PEERWIRE_BLOCK && r->piece_length <= (1ull << 31) &&
	       is_pow2(r->piece_length) && r->n_pieces >= 1 && r->n_pieces <= UINT32_MAX &&
	       r->files && r->n_files >= 1;
}

/* The file holding piece p, or NULL. Files are in torrent order with
 * non-decreasing first_piece; empty files hold no piece. */
static const struct proto_file *piece_file(struct peerwire_conn *c, uint64_t p, size_t *out_i)
{
	const struct proto_release *r = c->rel;
	size_t lo = 0, hi = r->n_files, i;

	i = c->file_hint < r->n_files ? c->file_hint : 0;
	if (r->files[i].n_pieces && p >= r->files[i].first_piece &&
	    p - r->files[i].first_piece < r->files[i].n_pieces) {
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
		if (f->n_pieces && p - f->first_piece < f->n_pieces) {
			c->file_hint = i;
			*out_i = i;
			return f;
		}
		if (f->n_pieces)
			break; /* a non-empty file ends before p: no file has p */
	}
	return NULL;
}

/* ---- the handshake ---- */

static size_t ext_handshake(const struct peerwire_conn *c, uint8_t *p)
{
	uint8_t *q = p + 6;

	q = put_lit(q, "d1:md");
	if (c->rel->info_len)
		q = put_lit(q, "11:ut_metadatai1e");
	q = put_lit(q, "e");
	if (c->rel->info_len) {
		q = put_lit(q, "13:metadata_sizei");
		q = put_dec(q, c->rel->info_len);
		q = put_lit(q, "e");
	}
	q = put_lit(q, "4:reqqi");
	q = put_dec(q, c->e->cfg.max_requests);
	q = put_lit(q, "e1:v14:BitStream seede");
	put_be32(p, (uint32_t)(q - p - 4));
	p[4] = MSG_EXTENDED;
	p[5] = 0;
	return (size_t)(q - p);
}

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
		close_conn(c, out, PROTO_CLOSE_OVERSIZED,
			   "bitfield needs more actions than out holds");
		return PW_DEAD;
	}
	if (!room(c, out, bytes, actions))
		return PW_BLOCKED;

	p = c->sbuf + c->sbuf_used;
	p[0] = 19;
	memcpy(p + 1, PW_PSTR, 19);
	memset(p + 20, 0, 8);
	p[25] = 0x10;			       /* BEP 10 */
	p[27] = 0x04 | (r->has_v2 ? 0x10 : 0); /* BEP 6, BEP 52 */
	memcpy(p + 28, c->hs + 28, 20);
	memcpy(p + 48, c->e->cfg.peer_id, 20);
	emit(c, out, PW_HS_LEN);

	if (c->peer_fast) {
		p = emit(c, out, 5);
		put_be32(p, 1);
		p[4] = MSG_HAVE_ALL;
	} else {
		uint8_t last = (uint8_t)(0xff00u >> (r->n_pieces % 8 ? r->n_pieces % 8 : 8));

		p = emit(c, out, 5);
		put_be32(p, (uint32_t)(1 + nbytes));
		p[4] = MSG_BITFIELD;
		if (big) {
			uint64_t left = nbytes - 1;

			while (left) {
				size_t n = (size_t)min64(left, PW_ONES_LEN);

				push_send(c, out, c->e->ones, n);
				left -= n;
			}
		} else if (nbytes > 1) {
			memset(emit(c, out, (size_t)nbytes - 1), 0xff, (size_t)nbytes - 1);
		}
		*emit(c, out, 1) = last;
	}
	if (c->peer_ext) {
		uint8_t tmp[PW_EXT_HS_MAX];
		size_t n = ext_handshake(c, tmp);

		memcpy(emit(c, out, n), tmp, n);
	}
	c->greeted = 1;
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
				/* the bytes so far are the start of an MSE key */
				mse_resp_init(c->mse, c->hs, pos);
				c->hs_have = 0;
				c->state = PW_MSE;
				return i;
			}
			close_conn(c, out, PROTO_CLOSE_MALFORMED, "not a BitTorrent handshake");
			*stop = 1;
			return len;
		}
		c->hs[pos] = b;
		c->hs_have++;
		i++;
		if (c->hs_have == 48) {
			const uint8_t *ih = c->hs + 28;
			const struct proto_release *r = lookup(c->e, 1, ih);
			int rc;

			c->ih_kind = 1;
			if (!r) {
				r = lookup(c->e, 2, ih);
				c->ih_kind = 2;
			}
			if (!r || !release_usable(r)) {
				close_conn(c, out, PROTO_CLOSE_UNKNOWN_TORRENT,
					   "unknown info-hash");
				*stop = 1;
				return len;
			}
			if (c->via_mse && memcmp(ih, c->mse->skey, 20)) {
				close_conn(c, out, PROTO_CLOSE_ENCRYPTION,
					   "handshake info-hash differs from the MSE one");
				*stop = 1;
				return len;
			}
			c->rel = r;
			c->n_pieces = r->n_pieces;
			c->peer_fast = (c->hs[27] & 0x04) != 0;
			c->peer_ext = (c->hs[25] & 0x10) != 0;
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

/* ---- a minimal bencode reader (no allocation, key order not checked) ---- */

static const uint8_t *bd_str(const uint8_t *p, const uint8_t *end, const uint8_t **s, size_t *n)
{
	size_t len = 0;

	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	while (p < end && *p >= '0' && *p <= '9') {
		if (len > (size_t)(end - p))
			return NULL;
		len = len * 10 + (size_t)(*p - '0');
		p++;
	}
	if (p >= end || *p != ':')
		return NULL;
	p++;
	if (len > (size_t)(end - p))
		return NULL;
	*s = p;
	*n = len;
	return p + len;
}

static const uint8_t *bd_int(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	int neg = 0, digits = 0;
	uint64_t x = 0;

	if (p >= end || *p != 'i')
		return NULL;
	p++;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
		digits++;
		p++;
	}
	if (!digits || p >= end || *p != 'e' || x > (uint64_t)INT64_MAX)
		return NULL;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return p + 1;
}

static const uint8_t *bd_skip(const uint8_t *p, const uint8_t *end, int depth)
{
	const uint8_t *s;
	size_t n;
	int64_t v;

	if (p >= end || depth > PW_BDEC_DEPTH)
		return NULL;
	if (*p == 'i')
		return bd_int(p, end, &v);
	if (*p >= '0' && *p <= '9')
		return bd_str(p, end, &s, &n);
	if (*p != 'l' && *p != 'd')
		return NULL;
	{
		int dict = *p == 'd';

		p++;
		while (p && p < end && *p != 'e') {
			if (dict)
				p = bd_str(p, end, &s, &n);
			if (p)
				p = bd_skip(p, end, depth + 1);
		}
	}
	if (!p || p >= end)
		return NULL;
	return p + 1;
}

/*
 * Looks up integer values by key in the dict at p. want[i] names a key,
 * got[i] its value (set only when found with an integer). Returns the end
 * of the dict, or NULL when it is not one well-formed dict. When sub_key is
 * not NULL, the dict value under it is searched (one level) instead.
 */
static const uint8_t *bd_dict_ints(const uint8_t *p, const uint8_t *end, const char *sub_key,
				   const char *const *want, int64_t *got, int *found, size_t n_want)
{
	const uint8_t *k;
	size_t kn;

	if (p >= end || *p != 'd')
		return NULL;
	p++;
	while (p < end && *p != 'e') {
		p = bd_str(p, end, &k, &kn);
		if (!p || p >= end)
			return NULL;
		if (sub_key && kn == strlen(sub_key) && !memcmp(k, sub_key, kn) && *p == 'd') {
			p = bd_dict_ints(p, end, NULL, want, got, found, n_want);
			if (!p)
				return NULL;
			continue;
		}
		if (!sub_key && *p == 'i') {
			for (size_t i = 0; i < n_want; i++) {
				if (kn == strlen(want[i]) && !memcmp(k, want[i], kn)) {
					const uint8_t *q = bd_int(p, end, &got[i]);

					if (q)
						found[i] = 1;
					break;
				}
			}
		}
		p = bd_skip(p, end, 1);
		if (!p)
			return NULL;
	}
	if (p >= end)
		return NULL;
	return p + 1;
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
	uint32_t index = be32(c->rbuf), begin = be32(c->rbuf + 4), length = be32(c->rbuf + 8);
	const struct proto_file *f;
	uint64_t off, data_len, zero_len;
	size_t fi;
	uint8_t *p;

	(void)now;
	if (index >= r->n_pieces || length == 0 || length > PEERWIRE_BLOCK) {
		close_conn(c, out, PROTO_CLOSE_BAD_REQUEST, "request index or length");
		return PW_DEAD;
	}
	f = piece_file(c, index, &fi);
	if (!f || (uint64_t)begin + length > piece_size(r, f, index)) {
		close_conn(c, out, PROTO_CLOSE_BAD_REQUEST, "request beyond the piece");
		return PW_DEAD;
	}
	if (c->wire_choke) {
		if (!c->peer_fast) {
			c->stats.peerwire_requests_total++;
			c->stats.peerwire_request_bytes_total += length;
			return PW_OK; /* BEP 3: a choked peer's requests are dropped */
		}
		if (!room(c, out, 17, 1))
			return PW_BLOCKED;
		p = emit(c, out, 17);
		put_be32(p, 13);
		p[4] = MSG_REJECT;
		memcpy(p + 5, c->rbuf, 12);
		c->stats.peerwire_requests_total++;
		c->stats.peerwire_request_bytes_total += length;
		c->stats.peerwire_rejects_total++;
		return PW_OK;
	}

	off = (uint64_t)(index - f->first_piece) * r->piece_length + begin;
	data_len = off < f->length ? min64(length, f->length - off) : 0;
	zero_len = length - data_len;

	if (data_len) {
		struct peerwire_req *q;
		struct proto_action *a;

		if (c->n_active >= c->e->cfg.max_requests || c->req_free == PW_REQ_NONE) {
			close_conn(c, out, PROTO_CLOSE_TOO_MANY, "too many outstanding requests");
			return PW_DEAD;
		}
		if (!room(c, out, 0, 2 + (zero_len ? 1 : 0)))
			return PW_BLOCKED;
		q = req_alloc(c);
		q->piece = index;
		q->begin = begin;
		q->len = length;
		put_be32(q->hdr, 9 + length);
		q->hdr[4] = MSG_PIECE;
		memcpy(q->hdr + 5, c->rbuf, 8);
		push_send(c, out, q->hdr, 13);
		a = &out->a[out->n++];
		a->kind = PROTO_ACT_SEND_DATA;
		a->u.data.release = r->handle;
		a->u.data.file = (uint32_t)fi;
		a->u.data.offset = off;
		a->u.data.len = (uint32_t)data_len;
		a->u.data.piece = index;
		a->u.data.begin = begin;
	} else {
		if (!room(c, out, 13, 2))
			return PW_BLOCKED;
		p = emit(c, out, 13);
		put_be32(p, 9 + length);
		p[4] = MSG_PIECE;
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
	struct peerwire_req *q =
		req_find(c, be32(c->rbuf), be32(c->rbuf + 4), be32(c->rbuf + 8), 1);

	if (q && q->len) {
		q->state = REQ_CANCELLED;
		c->n_active--;
		c->stats.peerwire_cancels_total++;
	}
	return PW_OK;
}

/* ut_metadata (BEP 9) request to us. */
static int on_ut_metadata(struct peerwire_conn *c, struct proto_out *out, const uint8_t *d,
			  const uint8_t *end)
{
	static const char *const keys[2] = { "msg_type", "piece" };
	const struct proto_release *r = c->rel;
	int64_t v[2] = { -1, -1 };
	int found[2] = { 0, 0 };
	uint64_t n_meta = (r->info_len + PEERWIRE_BLOCK - 1) / PEERWIRE_BLOCK;
	uint8_t *p, *q;

	if (!r->info_len || !bd_dict_ints(d, end, NULL, keys, v, found, 2) || !found[0])
		return glitch(c, out);
	if (v[0] != 0)
		return PW_OK; /* data or reject to a seed: nothing to do */
	if (!c->peer_ut_metadata || !found[1])
		return glitch(c, out);
	c->stats.peerwire_metadata_requests_total++;
	if (v[1] < 0 || (uint64_t)v[1] >= n_meta) {
		if (!room(c, out, PW_UTM_HDR_MAX, 1))
			return PW_BLOCKED;
		p = c->sbuf + c->sbuf_used;
		q = put_lit(p + 6, "d8:msg_typei2e5:piecei");
		if (v[1] < 0) {
			*q++ = '-';
			q = put_dec(q, (uint64_t)(-(v[1] + 1)) + 1);
		} else {
			q = put_dec(q, (uint64_t)v[1]);
		}
		q = put_lit(q, "ee");
		put_be32(p, (uint32_t)(q - p - 4));
		p[4] = MSG_EXTENDED;
		p[5] = c->peer_ut_metadata;
		emit(c, out, (size_t)(q - p));
		c->stats.peerwire_metadata_rejects_total++;
		return PW_OK;
	}
	{
		uint64_t at = (uint64_t)v[1] * PEERWIRE_BLOCK;
		size_t n = (size_t)min64(PEERWIRE_BLOCK, r->info_len - at);

		if (!room(c, out, PW_UTM_HDR_MAX + n, 1))
			return PW_BLOCKED;
		p = c->sbuf + c->sbuf_used;
		q = put_lit(p + 6, "d8:msg_typei1e5:piecei");
		q = put_dec(q, (uint64_t)v[1]);
		q = put_lit(q, "e10:total_sizei");
		q = put_dec(q, r->info_len);
		q = put_lit(q, "ee");
		memcpy(q, r->info + at, n);
		q += n;
		put_be32(p, (uint32_t)(q - p - 4));
		p[4] = MSG_EXTENDED;
		p[5] = c->peer_ut_metadata;
		emit(c, out, (size_t)(q - p));
	}
	return PW_OK;
}

static int on_extended(struct peerwire_conn *c, struct proto_out *out)
{
	const uint8_t *d = c->rbuf + 1, *end = c->rbuf + c->msg_len - 1;

	if (!c->peer_ext)
		return glitch(c, out);
	if (c->rbuf[0] == 0) {
		static const char *const keys[1] = { "ut_metadata" };
		int64_t v[1] = { 0 };
		int found[1] = { 0 };
		const uint8_t *e = bd_dict_ints(d, end, "m", keys, v, found, 1);

		if (!e || e != end)
			return glitch(c, out);
		if (found[0] && (v[0] < 0 || v[0] > 255)) {
			c->peer_ut_metadata = 0;
			return glitch(c, out);
		}
		c->peer_ut_metadata = found[0] ? (uint8_t)v[0] : 0;
		return PW_OK;
	}
	if (c->rbuf[0] == PEERWIRE_UT_METADATA)
		return on_ut_metadata(c, out, d, end);
	return glitch(c, out);
}

/*
 * Root of the subtree of height h (above the piece layer) whose leftmost
 * piece-layer node is a, over the n hashes of layer padded with zero
 * subtrees. Recursion is at most 64 deep; subtrees of up to
 * PW_SCRATCH_NODES nodes are reduced level by level in batches.
 */
static int subtree_root(struct peerwire_engine *e, const uint8_t *layer, uint64_t n, unsigned pbase,
			unsigned h, uint64_t a, uint8_t out32[32])
{
	uint64_t size = 1ull << h;

	if (a >= n) {
		memcpy(out32, e->zero[pbase + h], 32);
		return 0;
	}
	if (h == 0) {
		memcpy(out32, layer + a * 32, 32);
		return 0;
	}
	if (size > PW_SCRATCH_NODES) {
		uint8_t pair[64];
		int rc = subtree_root(e, layer, n, pbase, h - 1, a, pair);

		if (!rc)
			rc = subtree_root(e, layer, n, pbase, h - 1, a + size / 2, pair + 32);
		return rc ? rc : hash_sha256(e->hash, pair, 64, out32);
	}
	{
		uint8_t *src = e->scratch, *dst = e->scratch + (size_t)PW_SCRATCH_NODES * 32;
		uint64_t real = min64(size, n - a);

		memcpy(src, layer + a * 32, (size_t)real * 32);
		for (uint64_t j = real; j < size; j++)
			memcpy(src + j * 32, e->zero[pbase], 32);
		for (uint64_t m = size; m > 1; m /= 2) {
			uint8_t *t;
			int rc;

			for (uint64_t i = 0; i < m / 2; i++) {
				e->jobs[i].data = src + i * 64;
				e->jobs[i].len = 64;
				e->jobs[i].out = dst + i * 32;
			}
			rc = hash_sha256_batch(e->hash, e->jobs, (size_t)(m / 2));
			if (rc)
				return rc;
			t = src;
			src = dst;
			dst = t;
		}
		memcpy(out32, src, 32);
	}
	return 0;
}

static int hash_reject(struct peerwire_conn *c, struct proto_out *out)
{
	uint8_t *p;

	if (!room(c, out, PW_HASH_MSG_HDR, 1))
		return PW_BLOCKED;
	p = emit(c, out, PW_HASH_MSG_HDR);
	put_be32(p, 49);
	p[4] = MSG_HASH_REJECT;
	memcpy(p + 5, c->rbuf, 48);
	c->stats.peerwire_hash_rejects_total++;
	return PW_OK;
}

static int on_hash_request(struct peerwire_conn *c, struct proto_out *out)
{
	struct peerwire_engine *e = c->e;
	const struct proto_release *r = c->rel;
	const uint8_t *root = c->rbuf;
	uint32_t base = be32(c->rbuf + 32), index = be32(c->rbuf + 36);
	uint32_t count = be32(c->rbuf + 40), proof = be32(c->rbuf + 44);
	const struct proto_file *f = NULL;
	unsigned pbase = log2u(r->piece_length / PEERWIRE_BLOCK), height, lc;
	uint64_t level, n, work = 0, n_unc;
	size_t need;
	uint8_t *p, *q;

	c->stats.peerwire_hash_requests_total++;
	if (!r->has_v2)
		return hash_reject(c, out);
	for (size_t i = 0; i < r->n_files; i++) {
		if (r->files[i].root && r->files[i].layer && r->files[i].n_pieces &&
		    !memcmp(r->files[i].root, root, 32)) {
			f = &r->files[i];
			break;
		}
	}
	if (!f || base != pbase || count > PEERWIRE_MAX_HASHES || !is_pow2(count) || index % count)
		return hash_reject(c, out);
	n = f->n_pieces;
	level = next_pow2(n);
	height = log2u(level);
	lc = log2u(count);
	if ((uint64_t)index + count > level || proof >= height || pbase + height >= 64)
		return hash_reject(c, out);
	n_unc = proof >= lc ? proof - lc + 1 : 0;
	for (unsigned hh = lc; hh <= proof; hh++) {
		uint64_t a = (((uint64_t)index >> hh) ^ 1) << hh;

		if (a < n)
			work += min64(1ull << hh, n - a);
	}
	if (work > e->cfg.max_hash_work)
		return hash_reject(c, out);

	need = PW_HASH_MSG_HDR + 32 * (size_t)(count + n_unc);
	if (!room(c, out, need, 1))
		return PW_BLOCKED;
	p = c->sbuf + c->sbuf_used;
	put_be32(p, (uint32_t)(need - 4));
	p[4] = MSG_HASHES;
	memcpy(p + 5, c->rbuf, 48);
	q = p + PW_HASH_MSG_HDR;
	for (uint64_t j = 0; j < count; j++, q += 32)
		memcpy(q, index + j < n ? f->layer + (index + j) * 32 : e->zero[pbase], 32);
	for (unsigned hh = lc; hh <= proof; hh++, q += 32) {
		uint64_t a = (((uint64_t)index >> hh) ^ 1) << hh;

		if (subtree_root(e, f->layer, n, pbase, hh, a, q))
			return hash_reject(c, out);
	}
	emit(c, out, need);
	return PW_OK;
}

/* A complete message (length c->msg_len, id c->msg_id, body in rbuf when
 * buffered, last byte in c->last_byte when skipped). */
static int handle(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	const struct proto_release *r = c->rel;
	int fast_only = 0;

	switch (c->msg_id) {
	case MSG_CHOKE:
	case MSG_UNCHOKE: c->peer_choking = c->msg_id == MSG_CHOKE; return PW_OK;
	case MSG_INTERESTED:
	case MSG_NOT_INTERESTED:
		/* room for the choke message first, so state never runs
		 * ahead of what the peer is told */
		if (!room(c, out, 5, 1))
			return PW_BLOCKED;
		c->peer_interested = c->msg_id == MSG_INTERESTED;
		if (c->peer_interested)
			slot_interested(c, now);
		else
			slot_leave(c);
		return sync_choke(c, out);
	case MSG_HAVE:
		return c->msg_len == 5 && be32(c->rbuf) < r->n_pieces ? PW_OK : glitch(c, out);
	case MSG_BITFIELD:
		if (r->n_pieces % 8 && (c->last_byte & (0xffu >> (r->n_pieces % 8)))) {
			close_conn(c, out, PROTO_CLOSE_MALFORMED, "bitfield spare bits set");
			return PW_DEAD;
		}
		return PW_OK;
	case MSG_REQUEST: return on_request(c, out, now);
	case MSG_CANCEL: return on_cancel(c);
	case MSG_PORT:
	case MSG_HASH_REJECT: return PW_OK;
	case MSG_SUGGEST:
	case MSG_HAVE_ALL:
	case MSG_HAVE_NONE:
	case MSG_REJECT:
	case MSG_ALLOWED_FAST: fast_only = 1; break;
	case MSG_EXTENDED:
		if (c->mode != MODE_BUFFER)
			return glitch(c, out);
		return on_extended(c, out);
	case MSG_HASH_REQUEST: return on_hash_request(c, out);
	default: /* piece, hashes (never asked for), unknown ids */ return glitch(c, out);
	}
	if (fast_only && !c->peer_fast)
		return glitch(c, out);
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
	case MSG_CHOKE:
	case MSG_UNCHOKE:
	case MSG_INTERESTED:
	case MSG_NOT_INTERESTED:
	case MSG_HAVE_ALL:
	case MSG_HAVE_NONE: exact = 1; break;
	case MSG_HAVE:
		exact = 5;
		c->mode = MODE_BUFFER;
		break;
	case MSG_SUGGEST:
	case MSG_ALLOWED_FAST: exact = 5; break;
	case MSG_PORT: exact = 3; break;
	case MSG_BITFIELD:
		if (len > bf)
			goto oversized;
		exact = (uint32_t)bf;
		break;
	case MSG_REQUEST:
	case MSG_CANCEL:
	case MSG_REJECT:
		if (len > PEERWIRE_BLOCK + 13)
			goto oversized;
		exact = 13;
		c->mode = MODE_BUFFER;
		break;
	case MSG_PIECE:
		if (len > PEERWIRE_BLOCK + 13)
			goto oversized;
		if (len < 9)
			goto malformed;
		break;
	case MSG_EXTENDED:
		if (len > cfg->max_extended)
			goto oversized;
		if (len < 2)
			goto malformed;
		if (len - 1 <= c->rbuf_cap)
			c->mode = MODE_BUFFER;
		break;
	case MSG_HASH_REQUEST:
	case MSG_HASH_REJECT:
		exact = 49;
		c->mode = MODE_BUFFER;
		break;
	case MSG_HASHES:
		if (len < 49)
			goto malformed;
		break;
	default: break;
	}
	if (exact && len != exact)
		goto malformed;
	return PW_OK;
oversized:
	close_conn(c, out, PROTO_CLOSE_OVERSIZED, "message over its bound");
	return PW_DEAD;
malformed:
	close_conn(c, out, PROTO_CLOSE_MALFORMED, "message length wrong for its id");
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
	if (out->cap < PEERWIRE_MIN_OUT || out_free(out) < 1)
		return PW_BLOCKED;
	if (reset) {
		c->sbuf_used = 0;
		req_free_rejected(c);
	}
	if (c->state == PW_CLOSING) {
		close_conn(c, out, c->close_reason, c->close_detail);
		return PW_DEAD;
	}
	if (c->rel) {
		const struct proto_release *r = lookup(c->e, c->ih_kind, c->hs + 28);

		if (!r || !release_usable(r) || r->n_pieces != c->n_pieces) {
			close_conn(c, out, PROTO_CLOSE_UNKNOWN_TORRENT, "release no longer served");
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
		if (out_free(out) < 1)
			break;
		if (c->hdr_have < 4) {
			size_t n = min64(4 - c->hdr_have, len - i);

			memcpy(c->hdr + c->hdr_have, buf + i, n);
			c->hdr_have = (uint8_t)(c->hdr_have + n);
			i += n;
			if (c->hdr_have < 4)
				break;
			c->msg_len = be32(c->hdr);
			c->id_have = 0;
			if (c->msg_len == 0) {
				c->hdr_have = 0; /* keep-alive */
				continue;
			}
			if (c->msg_len > c->e->cfg.max_message) {
				close_conn(c, out, PROTO_CLOSE_OVERSIZED,
					   "message over max_message");
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
			size_t n = min64(c->msg_len - 1 - c->body_have, len - i);

			if (c->mode == MODE_BUFFER)
				memcpy(c->rbuf + c->body_have, buf + i, n);
			else if (n)
				c->last_byte = buf[i + n - 1];
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
	const struct proto_release *r = cat->by_mse_req2 ? cat->by_mse_req2(cat->ctx, req2) : NULL;

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
		if (!room(c, out, MSE_OUT_MAX, 2)) {
			*stop = 1;
			return i;
		}
		rc = mse_resp_feed(c->mse, &env, buf + i, len - i, &used, c->sbuf + c->sbuf_used,
				   &olen);
		i += used;
		if (olen)
			emit(c, out, olen);
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
			close_conn(c, out,
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
		close_conn(c, out, PROTO_CLOSE_TIMEOUT, "handshake timeout");
		return;
	}
	if (now_ms >= c->t_rx + cfg->idle_timeout_ms) {
		close_conn(c, out, PROTO_CLOSE_TIMEOUT, "idle timeout");
		return;
	}
	rc = drain_ia(c, now_ms, out);
	if (rc == PW_DEAD)
		return;
	if (rc == PW_OK && sync_choke(c, out) == PW_OK && c->greeted &&
	    now_ms >= c->t_tx + cfg->keepalive_ms && room(c, out, 4, 1)) {
		memset(emit(c, out, 4), 0, 4);
		c->stats.peerwire_keepalives_sent_total++;
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
		d = min64(d, c->t_init + cfg->handshake_timeout_ms);
	if (c->greeted)
		d = min64(d, c->t_tx + cfg->keepalive_ms);
	return d;
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
		close_conn(c, out, PROTO_CLOSE_DATA_ERROR, "block failed verification");
		return 0;
	}
	if (out->cap < PEERWIRE_MIN_OUT || out_free(out) < 1)
		return -ENOSPC;
	/* The REJECT goes in the entry itself (its PIECE header is dropped
	 * with the block), so it never waits for send-buffer room; the entry
	 * stays reserved until the next on_bytes / on_tick. */
	req_unlink(c, q);
	q->state = REQ_REJECTED;
	q->next = c->req_rejected;
	c->req_rejected = (uint16_t)(q - c->reqs);
	p = q->hdr;
	put_be32(p, 13);
	p[4] = MSG_REJECT;
	put_be32(p + 5, q->piece);
	put_be32(p + 9, q->begin);
	put_be32(p + 13, q->len);
	push_send(c, out, p, 17);
	c->stats.peerwire_rejects_total++;
	return 0;
}
