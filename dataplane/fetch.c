/* fetch: see fetch.h. */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "hex.h"
#include "log.h"
#include "ofd.h"
#include "parity.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("dataplane.fetch");

/* What becomes of a segment waiting for a block (resolve_cookie). */
enum { RESOLVE_FAILED = 0, RESOLVE_OK, RESOLVE_RETRY };

static uint64_t qkey(uint32_t object, uint32_t block)
{
	return ((uint64_t)object << 32) | ((uint64_t)block + 1);
}

/* The slot of (object, block) in the quarantine table, or -1. */
static int32_t q_find(const struct worker *w, uint64_t k)
{
	for (uint32_t i = (uint32_t)(k * 0x9e3779b97f4a7c15ull >> 52) & (QUARANTINE - 1), n = 0;
	     w->quarantine[i] && n < QUARANTINE; i = (i + 1) & (QUARANTINE - 1), n++)
		if (w->quarantine[i] == k)
			return (int32_t)i;
	return -1;
}

/* Refused unread until its time lapses; then it is read and checked
 * again (a scrub may have repaired it), and quarantined again if still bad. */
static int quarantined(const struct worker *w, uint32_t object, uint32_t block)
{
	int32_t i = q_find(w, qkey(object, block));
	return i >= 0 && w->now < w->quarantine_until[i];
}

static void quarantine(struct worker *w, uint32_t object, uint32_t block)
{
	uint64_t k = qkey(object, block), until = w->now + w->p.conf->quarantine_ms;
	int32_t at = q_find(w, k);
	if (at >= 0) {
		w->quarantine_until[at] = until;
		return;
	}
	if (w->n_quarantine >= QUARANTINE / 2) {
		/* full: start again once nothing in it is live (entries are never
		 * removed one by one: open addressing); until then the table stops
		 * growing and re-reading is still safe (never served) */
		for (uint32_t i = 0; i < QUARANTINE; i++)
			if (w->quarantine[i] && w->now < w->quarantine_until[i])
				return;
		memset(w->quarantine, 0, sizeof(w->quarantine));
		w->n_quarantine = 0;
	}
	uint32_t i = (uint32_t)(k * 0x9e3779b97f4a7c15ull >> 52) & (QUARANTINE - 1);
	while (w->quarantine[i])
		i = (i + 1) & (QUARANTINE - 1);
	w->quarantine[i] = k;
	w->quarantine_until[i] = until;
	w->n_quarantine++;
}

/* Puts fd in the storage ring's file slot k; a ring that refuses (it
 * should not) sends every later read through plain fds. */
static void fixed_file(struct worker *w, int32_t k, int fd)
{
	if (!w->ofd_fixed)
		return;
	int rc = storage_set_file(w->st, (unsigned)k, fd);
	if (rc < 0) {
		w->ofd_fixed = 0;
		log_warn(&lm,
			 "worker %u: registering an object file: %s; reading through plain fds",
			 w->p.index, strerror(-rc));
	}
}

/*
 * The descriptor slot (ofd.h) of object, opening its file now when it is
 * not open: the least recently used idle slot is reused. -EAGAIN when every
 * slot has reads in flight or the process is out of descriptors (the caller
 * waits for a completion, w->fetch_wait); another -errno when the file cannot
 * be opened.
 */
static int32_t object_slot(struct worker *w, uint32_t object)
{
	int32_t k = ofd_find(w->ofd, object);
	if (k >= 0)
		return k;
	if ((k = ofd_victim(w->ofd)) < 0) {
		w->fetch_wait = 1;
		dpstats_add(&w->ctr->object_fd_waits, 1);
		return -EAGAIN;
	}
	int fd = served_open_object(w->p.served, object);
	if (fd == -EMFILE || fd == -ENFILE) {
		/* sockets took the process's descriptors: give one back */
		int32_t d;
		int old = ofd_drop_idle(w->ofd, &d);
		if (old >= 0) {
			fixed_file(w, d, -1);
			close(old);
			dpstats_sub(&w->ctr->object_fds_open, 1);
			fd = served_open_object(w->p.served, object);
			k = ofd_victim(w->ofd);
		}
		if (fd < 0) {
			w->fetch_wait = 1;
			dpstats_add(&w->ctr->object_fd_waits, 1);
			return -EAGAIN;
		}
	}
	if (fd < 0) {
		dpstats_add(&w->ctr->object_open_errors, 1);
		return fd;
	}
	fixed_file(w, k, fd);
	int old = ofd_install(w->ofd, k, object, fd);
	if (old >= 0)
		close(old);
	else
		dpstats_add(&w->ctr->object_fds_open, 1);
	dpstats_add(&w->ctr->object_opens, 1);
	return k;
}

/* The file of an object that cannot be opened: said once per object and
 * worker while its blocks stay quarantined, not once per request. */
static void open_failed(struct worker *w, uint32_t object, uint32_t block, int rc)
{
	const struct served_object *o = served_object(w->p.served, object);
	char root[65];
	hex_encode(o->root, 32, root);
	if (!quarantined(w, object, UINT32_MAX - 1)) {
		log_warn(&lm, "object %s: cannot open its file: %s; its blocks are refused", root,
			 strerror(-rc));
		quarantine(w, object, UINT32_MAX - 1);
	}
	quarantine(w, object, block);
}

/* The length of block b of object o (the last one may be short). */
static uint32_t block_len(const struct served_object *o, uint32_t b)
{
	uint64_t at = (uint64_t)b * SCACHE_BLOCK;
	return (uint32_t)(o->length - at < SCACHE_BLOCK ? o->length - at : SCACHE_BLOCK);
}

/* Where block `block` of an object starts in its file. */
static uint64_t block_off(uint32_t block)
{
	return STORE_OBJ_HEADER + (uint64_t)block * SCACHE_BLOCK;
}

/* Records the read that fills cache slot `slot` (its completion finds the
 * rest here) and holds the object's descriptor slot k for it. */
static void fill_begin(struct worker *w, uint32_t slot, int32_t k, uint8_t *data, uint64_t owner,
		       uint32_t blen, uint32_t object, uint32_t block, uint64_t t0)
{
	ofd_hold(w->ofd, k);
	w->fill_ofd[slot] = k;
	w->fill_ptr[slot] = data;
	w->fill_owner[slot] = owner;
	w->fill_len[slot] = blen;
	w->fill_key[slot] = ((uint64_t)object << 32) | block;
	w->fill_t0[slot] = t0;
}

static void resolve_cookie(struct worker *w, uint64_t cookie, uint8_t *data, int how);

/* Ends a fill this worker began in the same call without a read: -EAGAIN,
 * which tells every waiter (only other workers' can be queued) to retry. */
static void give_back(struct worker *w, uint32_t slot)
{
	size_t nw = 0;
	scache_fill_done(w->cache, w->p.index, slot, -EAGAIN, w->cookies, WAITERS, &nw);
	for (size_t k = 0; k < nw; k++)
		resolve_cookie(w, w->cookies[k], NULL, RESOLVE_RETRY);
}

/* The cookie of a read of several blocks (readahead.h); below
 * REPAIR_COOKIE, above every cache slot number. */
#define RA_COOKIE (1ull << 62)
/* The owner of a block read ahead: no segment (resolve_cookie finds no
 * connection and lets the pin go). */
#define RA_OWNER UINT64_MAX

/*
 * Reads the block of segment s, which missed into cache slot `slot`, from
 * the object's file (descriptor slot k) and, when the read-ahead window
 * allows, the blocks after it in the same read, each claimed in the cache
 * first; the run stops at the first block already cached or being read.
 * 0, or -EAGAIN when the storage ring is full (nothing stays claimed).
 */
static int read_miss(struct worker *w, struct wconn *c, const struct seg *s, int32_t k,
		     uint32_t slot, uint8_t *data, uint64_t owner)
{
	const struct served_object *o = served_object(w->p.served, s->object);
	int fd = ofd_fd(w->ofd, k);
	int32_t fidx = w->ofd_fixed ? k : -1;
	/* O_DIRECT reads whole 4 KiB sectors; the object pads its data with
	 * zeros to 4 KiB, so the rounded read stays in the file. */
	uint32_t rlen = ra_read_len(s->blen);
	uint64_t t0 = worker_now_ns();
	uint32_t n = w->ra ? ra_window(w->ra, o->length, s->block, s->ra_end, c->qt - c->qs) : 1;
	int32_t g = n > 1 ? ra_begin(w->ra, block_off(s->block)) : -1;
	if (g < 0) {
		int rc = storage_read(w->st, fd, fidx, block_off(s->block), data, rlen, slot);
		if (rc == 0)
			fill_begin(w, slot, k, data, owner, s->blen, s->object, s->block, t0);
		return rc;
	}
	ra_add(w->ra, g, slot, data, s->blen, rlen);
	for (uint32_t j = 1; j < n; j++) {
		uint32_t b = s->block + j, blen = block_len(o, b);
		uint8_t *d;
		uint32_t sl;
		if (scache_claim(w->cache, w->p.index, (struct scache_key){ s->object, b },
				 o->block_xxh + (uint64_t)b * 16, blen, &d, &sl) != SCACHE_FILL)
			break;
		ra_add(w->ra, g, sl, d, blen, ra_read_len(blen));
	}
	const struct iovec *iov;
	uint32_t niov;
	uint64_t off, len;
	ra_submit(w->ra, g, &iov, &niov, &off, &len);
	int rc = niov > 1 ? storage_readv(w->st, fd, fidx, off, iov, niov, RA_COOKIE | (uint32_t)g)
			  : storage_read(w->st, fd, fidx, off, data, rlen, slot);
	if (rc < 0 || niov == 1) {
		/* the claimed blocks go back: another worker's peers may wait on
		 * them already, and retry (err -EAGAIN) */
		for (uint32_t j = 1; j < niov; j++)
			give_back(w, ra_slot(w->ra, g, j));
		ra_abort(w->ra, g);
		if (rc == 0)
			fill_begin(w, slot, k, data, owner, s->blen, s->object, s->block, t0);
		return rc;
	}
	fill_begin(w, slot, k, data, owner, s->blen, s->object, s->block, t0);
	for (uint32_t j = 1; j < niov; j++)
		fill_begin(w, ra_slot(w->ra, g, j), k, (uint8_t *)iov[j].iov_base, RA_OWNER,
			   block_len(o, s->block + j), s->object, s->block + j, t0);
	return 0;
}

void fetch_seg(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si)
{
	struct seg *s = qat(c, si);
	const struct served_object *o = served_object(w->p.served, s->object);
	uint8_t *data;
	uint32_t slot;
	if (!served_object_ready(w->p.served, w->p.index, s->object)) {
		/* its table is being read (served.h): the loader wakes us */
		s->state = S_FETCH;
		w->fetch_wait = 1;
		worker_mark_retry(w, c, ci);
		return;
	}
	if (o->unusable || quarantined(w, s->object, s->block)) {
		/* failed outside this call (the request may still be being queued),
		 * or its object could not be opened (served.h): refused unread */
		s->state = S_BAD;
		worker_mark_retry(w, c, ci);
		return;
	}
	if (c->parked) {
		/* its peer stopped reading while the cache was short: fetched
		 * again when its send completes (worker.c, park_stalled) */
		s->state = S_FETCH;
		return;
	}
	if (storage_inflight(w->st) >= STORAGE_DEPTH || w->cache_full_at) {
		/* a miss could not be read now, or could not have a slot: wait
		 * for reads to complete or slots to be let go rather than spin
		 * through the cache */
		s->state = S_FETCH;
		worker_mark_retry(w, c, ci);
		return;
	}
	enum scache_status cs =
		scache_get(w->cache, w->p.index, (struct scache_key){ s->object, s->block },
			   o->block_xxh + (uint64_t)s->block * 16, s->blen, seg_cookie(c, ci, si),
			   &data, &slot);
	switch (cs) {
	case SCACHE_HIT:
		s->pin = data;
		s->p = data + s->in_off;
		s->state = S_READY;
		dpstats_add(&w->ctr->cache_hits, 1);
		return;
	case SCACHE_FILL: {
		int32_t k = object_slot(w, s->object);
		int rc = k < 0 ? k : read_miss(w, c, s, k, slot, data, seg_cookie(c, ci, si));
		if (rc < 0) {
			/* No room in the storage ring or the descriptor table (or
			 * no file): give the slot back. The fill began in this
			 * call, so only other workers' peers can wait on it, and
			 * they retry. */
			give_back(w, slot);
			if (rc != -EAGAIN) {
				open_failed(w, s->object, s->block, rc);
				s->state = S_BAD;
			}
			worker_mark_retry(w, c, ci);
			return;
		}
		s->state = S_WAIT;
		dpstats_add(&w->ctr->cache_misses, 1);
		return;
	}
	case SCACHE_WAIT: s->state = S_WAIT; return;
	case SCACHE_BUSY:
		s->state = S_FETCH;
		if (!w->cache_full_at)
			w->cache_full_at = w->now;
		worker_mark_retry(w, c, ci);
		return;
	}
}

/* ---- rebuilding a bad block from its stripe ---- */

/* Storage cookies of repair reads: a cache slot's fills use the slot
 * number (below 2^32), these the top bit, the repair and the shard (or
 * LEAF_SHARD + copy - 1 for a read of the block's SHA-256 leaves). */
#define REPAIR_COOKIE (1ull << 63)
#define LEAF_SHARD    0xfeu
/* The leaf reads in a repair's want/issued/done bits, above every shard's
 * (PARITY_MAX_SHARDS of them): bit LEAF_BIT + copy - 1. */
#define LEAF_BIT 61u
_Static_assert(PARITY_MAX_SHARDS < LEAF_BIT, "shard bits below the leaves'");
/* Bytes of a repair's leaf buffer, after the shards' in repair_mem: a leaf
 * group (4 KiB) at any offset spans two sectors at most. */
#define LEAF_BUF 8192u

/* The SHA-256 of a rebuilt block, for its leaf check: one context per
 * worker thread, created at its first leaf check (as repair_mem at its
 * first rebuild), freed by fetch_teardown on the same thread. */
static _Thread_local struct hash_ctx *leaf_hash;

static uint64_t repair_cookie(uint32_t ri, uint32_t shard)
{
	return REPAIR_COOKIE | (uint64_t)ri << 8 | shard;
}

static uint8_t *leaf_buf(struct worker *w, uint32_t ri)
{
	return w->repair_mem + (size_t)REPAIRS * PARITY_MAX_SHARDS * STORE_BLOCK +
	       (size_t)ri * LEAF_BUF;
}

/* Where the O_DIRECT read of a leaf group copy starts and how long it is:
 * whole sectors around the group, which need not start on one. */
static uint32_t leaf_span(const struct store_geom *g, uint64_t block, int copy, uint64_t *aoff,
			  uint64_t *goff, uint64_t *entry)
{
	uint32_t len = store_leaf_group(g, block / STORE_LEAF_GROUP, copy, goff, entry);
	*aoff = *goff & ~(uint64_t)4095;
	return (uint32_t)(((*goff + len + 4095) & ~(uint64_t)4095) - *aoff);
}

/* Issues the repair's unissued reads while the storage ring has room;
 * completions bring the rest out (fetch_on_storage calls this again). */
static void repair_issue(struct worker *w, uint32_t ri)
{
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	int fd = ofd_fd(w->ofd, r->ofd);
	int32_t fidx = w->ofd_fixed ? r->ofd : -1;
	struct store_geom g;
	served_object_geom(o, &g);
	for (uint32_t i = 0; i < g.k + g.m; i++) {
		if (!(r->want >> i & 1) || (r->issued >> i & 1))
			continue;
		if (storage_inflight(w->st) >= STORAGE_DEPTH)
			return;
		uint64_t off, e;
		uint32_t len = store_shard(&g, r->stripe, i, &off, &e);
		uint32_t rlen = (len + 4095) & ~4095u;
		if (storage_read(w->st, fd, fidx, off, r->buf + (size_t)i * STORE_BLOCK, rlen,
				 repair_cookie(ri, i)) < 0)
			return;
		r->issued |= 1ull << i;
	}
	for (int copy = 1; copy <= 2; copy++) {
		uint64_t bit = 1ull << (LEAF_BIT + copy - 1), aoff, goff, e;
		if (!(r->want & bit) || (r->issued & bit))
			continue;
		if (storage_inflight(w->st) >= STORAGE_DEPTH)
			return;
		uint32_t alen = leaf_span(&g, r->block, copy, &aoff, &goff, &e);
		if (storage_read(w->st, fd, fidx, aoff, leaf_buf(w, ri), alen,
				 repair_cookie(ri, LEAF_SHARD + (uint32_t)copy - 1)) < 0)
			return;
		r->issued |= bit;
	}
}

/* A block of object/block failed on its way into cache slot: reads the
 * rest of its stripe to rebuild it, or queues it until a repair is free.
 * 0 when it did (the slot stays filling), -1 when it cannot be rebuilt (no
 * parity, memory, a full queue), -EAGAIN when its file cannot be had now
 * (no descriptor slot: not the block's fault). */
static int repair_start(struct worker *w, uint32_t slot, uint32_t object, uint32_t block)
{
	const struct served_object *o = served_object(w->p.served, object);
	if (!o->m || o->unusable)
		return -1;
	uint32_t ri = 0;
	while (ri < REPAIRS && w->repairs[ri].used)
		ri++;
	if (ri == REPAIRS) {
		if (w->rq_len == REPAIR_QUEUE)
			return -1;
		w->repair_queue[(w->rq_head + w->rq_len++) % REPAIR_QUEUE] =
			(struct repair_wait){ slot, object, block };
		return 0;
	}
	if (!w->repair_mem &&
	    posix_memalign((void **)&w->repair_mem, 4096,
			   (size_t)REPAIRS * (PARITY_MAX_SHARDS * STORE_BLOCK + LEAF_BUF)))
		return -1;
	/* the failed read's hold keeps the file's slot, except for a queued
	 * repair, which may have to open it again */
	int32_t k = object_slot(w, object);
	if (k < 0)
		return k == -EAGAIN ? -EAGAIN : -1;
	ofd_hold(w->ofd, k);
	struct repair *r = &w->repairs[ri];
	*r = (struct repair){ .used = 1, .slot = slot, .object = object, .block = block, .ofd = k };
	r->buf = w->repair_mem + (size_t)ri * PARITY_MAX_SHARDS * STORE_BLOCK;
	struct store_geom geom;
	served_object_geom(o, &geom);
	const struct store_geom *g = &geom;
	r->stripe = block / g->k;
	memset(r->buf, 0, (size_t)(g->k + g->m) * STORE_BLOCK);
	for (uint32_t i = 0; i < g->k + g->m; i++) {
		uint64_t off, e;
		if (store_shard(g, r->stripe, i, &off, &e) && e != block)
			r->want |= 1ull << i;
	}
	r->lost = 1ull << (block - r->stripe * g->k);
	repair_issue(w, ri);
	return 0;
}

static void fill_finish(struct worker *w, uint32_t slot, int64_t got);

static void repair_finish(struct worker *w, uint32_t ri, int rebuilt, const char *why);

/*
 * The block is rebuilt into its cache slot and matches its XXH3-128: its
 * SHA-256 leaf next (docs/store.md, "Repair on read"), read from the
 * object's first intact leaves copy, for an object that has leaves
 * (version 5). An older one is served on its XXH3-128 as before.
 */
static void repair_check_leaf(struct worker *w, uint32_t ri, int copy)
{
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	struct store_geom g;
	served_object_geom(o, &g);
	if (!g.n_leafgrp) {
		repair_finish(w, ri, 1, NULL);
		return;
	}
	r->want |= 1ull << (LEAF_BIT + copy - 1);
	repair_issue(w, ri); /* a full ring: fetch_on_storage issues it later */
}

/* A read of leaves copy `copy` came back: the group against its table
 * entry, then the rebuilt block against its leaf. */
static void repair_leaf_done(struct worker *w, uint32_t ri, int copy, int32_t res)
{
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	struct store_geom g;
	served_object_geom(o, &g);
	uint64_t aoff, goff, e;
	uint32_t alen = leaf_span(&g, r->block, copy, &aoff, &goff, &e);
	uint32_t len = store_leaf_group(&g, r->block / STORE_LEAF_GROUP, copy, &goff, &e);
	const uint8_t *grp = leaf_buf(w, ri) + (goff - aoff);
	uint8_t x[16], leaf[32];
	r->done |= 1ull << (LEAF_BIT + copy - 1);
	if (res >= (int32_t)alen)
		hash_xxh128(grp, len, x);
	if (res < (int32_t)alen || memcmp(x, o->block_xxh + e * 16, 16)) {
		if (copy == 1)
			repair_check_leaf(w, ri, 2);
		else
			repair_finish(w, ri, 0,
				      "its SHA-256 leaf cannot be read (both copies of its "
				      "leaves are bad)");
		return;
	}
	struct seed_err he;
	seed_err_clear(&he);
	if (!leaf_hash && hash_ctx_create(HASH_IMPL_MB, &leaf_hash, &he) < 0) {
		repair_finish(w, ri, 0, "no SHA-256 context for its leaf check");
		return;
	}
	if (hash_sha256(leaf_hash, w->fill_ptr[r->slot], w->fill_len[r->slot], leaf) < 0 ||
	    memcmp(leaf, grp + (r->block % STORE_LEAF_GROUP) * 32, 32)) {
		dpstats_add(&w->ctr->leaf_failures, 1);
		repair_finish(w, ri, 0, "it matches its XXH3-128 but not its SHA-256 leaf");
		return;
	}
	repair_finish(w, ri, 1, NULL);
}

/* One read of a repair came back; the last one rebuilds the block into
 * its cache slot (when at most m shards of the stripe are bad), which then
 * has its leaf checked (repair_check_leaf) before the fill completes. */
static void repair_read_done(struct worker *w, uint64_t cookie, int32_t res)
{
	uint32_t ri = (uint32_t)(cookie >> 8 & 0xff), i = (uint32_t)(cookie & 0xff);
	if (ri >= REPAIRS || !w->repairs[ri].used)
		return;
	struct repair *r = &w->repairs[ri];
	dpstats_add(&w->ctr->storage_reads, 1);
	if (res > 0)
		dpstats_add(&w->ctr->storage_read_bytes, (uint64_t)res);
	else
		dpstats_add(&w->ctr->storage_errors, 1);
	if (i >= LEAF_SHARD) {
		repair_leaf_done(w, ri, (int)(i - LEAF_SHARD) + 1, res);
		return;
	}
	const struct served_object *o = served_object(w->p.served, r->object);
	struct store_geom geom;
	served_object_geom(o, &geom);
	const struct store_geom *g = &geom;
	uint64_t off, e;
	uint32_t len = store_shard(g, r->stripe, i, &off, &e);
	uint8_t *p = r->buf + (size_t)i * STORE_BLOCK;
	uint8_t x[16];
	if (res < (int32_t)len) {
		r->lost |= 1ull << i;
	} else {
		memset(p + len, 0, STORE_BLOCK - len); /* the code counts past the end as zeros */
		hash_xxh128(p, len, x);
		if (memcmp(x, o->block_xxh + e * 16, 16))
			r->lost |= 1ull << i;
	}
	r->done |= 1ull << i;
	if (r->done != r->want)
		return;

	uint32_t t = r->block - (uint32_t)(r->stripe * g->k);
	uint32_t blen = w->fill_len[r->slot];
	int64_t got = -EIO;
	if ((unsigned)__builtin_popcountll(r->lost) <= g->m) {
		if (w->par.k != g->k || w->par.m != g->m)
			parity_init(&w->par, g->k, g->m, NULL);
		uint8_t *shards[PARITY_MAX_SHARDS];
		for (uint32_t k = 0; k < g->k + g->m; k++)
			shards[k] = r->buf + (size_t)k * STORE_BLOCK;
		/* the stripe is coded over its parity shards' length, which a
		 * short last stripe has shorter than a block (store_shard) */
		uint64_t poff, pe;
		uint32_t plen = store_shard(g, r->stripe, g->k, &poff, &pe);
		if (parity_rebuild(&w->par, plen, shards, r->lost) == 0) {
			memcpy(w->fill_ptr[r->slot], shards[t], blen);
			got = blen;
		}
	}
	if (got > 0 && scache_fill_check(w->cache, r->slot, got))
		repair_check_leaf(w, ri, 1);
	else
		repair_finish(w, ri, 0, NULL);
}

/*
 * The repair of w->repairs[ri] is over: the block in its cache slot is
 * served (rebuilt) or refused (why: the leaf check that failed, or NULL
 * when the stripe could not be rebuilt); reported, its fill completed, and
 * the repair given to the next waiting block.
 */
static void repair_finish(struct worker *w, uint32_t ri, int rebuilt, const char *why)
{
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	struct store_geom geom;
	served_object_geom(o, &geom);
	const struct store_geom *g = &geom;
	uint32_t slot = r->slot, object = r->object, block = r->block;
	int bad = __builtin_popcountll(r->lost);
	int64_t got = rebuilt ? (int64_t)w->fill_len[slot] : -EIO;
	r->used = 0;
	ofd_release(w->ofd, r->ofd);
	char root[65];
	hex_encode(o->root, 32, root);
	/* for seed-control's keeper, which writes the repair back */
	struct dpstats_repair rec = { .length = g->length, .block = block, .rebuilt = rebuilt };
	memcpy(rec.root, o->root, 32);
	dpstats_repair_note(w->p.stats, w->p.index, &rec);
	if (rebuilt) {
		dpstats_add(&w->ctr->blocks_repaired, 1);
		log_warn(&lm,
			 "object %s block %u: rebuilt from its stripe's parity (%d of %u + %u "
			 "blocks bad) and served; seed-control writes the repair back (its "
			 "repair record)",
			 root, block, bad, g->k, g->m);
	} else {
		dpstats_add(&w->ctr->repair_failures, 1);
		quarantine(w, object, block);
		if (why)
			log_warn(&lm,
				 "object %s block %u: rebuilt from its stripe's parity, but %s; "
				 "refused",
				 root, block, why);
		else
			log_warn(&lm,
				 "object %s block %u: cannot be rebuilt (%d of its stripe's %u + "
				 "%u blocks bad); refused",
				 root, block, bad, g->k, g->m);
	}
	fill_finish(w, slot, got);
	/* the repair is free: the next waiting block (one that cannot start
	 * now is refused, as it would have been without parity) */
	while (w->rq_len) {
		struct repair_wait q = w->repair_queue[w->rq_head];
		w->rq_head = (w->rq_head + 1) % REPAIR_QUEUE;
		w->rq_len--;
		int rs = repair_start(w, q.slot, q.object, q.block);
		if (rs == 0)
			break;
		dpstats_add(&w->ctr->repair_failures, 1);
		if (rs != -EAGAIN)
			quarantine(w, q.object, q.block);
		fill_finish(w, q.slot, -EIO);
	}
}

static void resolve_cookie(struct worker *w, uint64_t cookie, uint8_t *data, int how)
{
	int ok = how == RESOLVE_OK;
	uint32_t ci = (uint32_t)((cookie >> 16) & 0xffffffff);
	uint32_t si16 = (uint32_t)(cookie & 0xffff);
	struct wconn *c = ci < w->max_conns ? &w->conns[ci] : NULL;
	if (!c || !c->used || (c->gen & 0xffff) != (cookie >> 48)) {
		if (ok)
			scache_unpin(w->cache, data); /* its reader is gone */
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
			worker_pump(w, ci);
		} else if (how == RESOLVE_RETRY) {
			s->state = S_FETCH;
			worker_mark_retry(w, c, ci);
		} else {
			worker_seg_failed(w, c, ci, i);
		}
		return;
	}
	if (ok)
		scache_unpin(w->cache, data);
}

/* Blocks other workers' reads brought for this worker's peers (or failed
 * to: a fill given back without a read is retried, any other failure
 * fails the segment as a failed read of our own would). */
static void take_deliveries(struct worker *w)
{
	struct scache_delivery d[64];
	size_t n;
	do {
		n = scache_take(w->cache, w->p.index, d, 64);
		for (size_t i = 0; i < n; i++)
			resolve_cookie(w, d[i].cookie, d[i].data,
				       d[i].ok		     ? RESOLVE_OK
				       : d[i].err == -EAGAIN ? RESOLVE_RETRY
							     : RESOLVE_FAILED);
	} while (n == 64);
}

/* The read that fills slot came back with got bytes (clipped to the
 * block's length) or -errno: the block is verified and handed out, rebuilt
 * from parity, or refused. */
static void slot_done(struct worker *w, uint32_t slot, int64_t got)
{
	uint64_t key = w->fill_key[slot];
	uint32_t object = (uint32_t)(key >> 32), block = (uint32_t)key;
	int repairing = 0;
	if (!scache_fill_check(w->cache, slot, got)) {
		/* never served as read: rebuilt from parity, or refused */
		if (got == (int64_t)w->fill_len[slot])
			dpstats_add(&w->ctr->verify_failures, 1);
		/* before the read's hold goes: the repair keeps the slot */
		repairing = repair_start(w, slot, object, block) == 0;
		if (!repairing)
			quarantine(w, object, block);
	}
	ofd_release(w->ofd, w->fill_ofd[slot]);
	if (!repairing)
		fill_finish(w, slot, got);
}

/* Counts one completed storage read of res bytes, submitted at t0. */
static void count_read(struct worker *w, int32_t res, uint64_t t0, uint64_t t_reap)
{
	dpstats_add(&w->ctr->storage_reads, 1);
	if (res > 0)
		dpstats_add(&w->ctr->storage_read_bytes, (uint64_t)res);
	else
		dpstats_add(&w->ctr->storage_errors, 1);
	uint64_t us = t_reap > t0 ? (t_reap - t0) / 1000 : 0;
	dpstats_add(&w->ctr->storage_lat_bucket[dpstats_lat_bucket(us)], 1);
	dpstats_add(&w->ctr->storage_lat_sum_us, us);
}

/* A read of several blocks came back: those it brought whole are done;
 * the others are read again one by one (issue_rereads), so a bad sector
 * or a short read fails only the block it is in. */
static void ra_done(struct worker *w, uint32_t g, int32_t res, uint64_t t_reap)
{
	struct ra_block b[RA_MAX_BLOCKS];
	uint32_t n = ra_complete(w->ra, (int32_t)g, res, b);
	if (!n)
		return;
	count_read(w, res, w->fill_t0[b[0].slot], t_reap);
	const struct ra_counters *rc = ra_counters(w->ra);
	dpstats_set(&w->ctr->readahead_reads, rc->reads);
	dpstats_set(&w->ctr->readahead_blocks, rc->blocks);
	dpstats_set(&w->ctr->readahead_splits, rc->splits);
	dpstats_set(&w->ctr->readahead_budget_waits, rc->budget_waits);
	for (uint32_t i = 0; i < n; i++) {
		if (b[i].got != RA_REREAD)
			slot_done(w, b[i].slot, b[i].got);
		else if (w->rr_len < RA_GROUPS * RA_MAX_BLOCKS)
			w->reread[(w->rr_head + w->rr_len++) % (RA_GROUPS * RA_MAX_BLOCKS)] =
				b[i].slot;
		else
			slot_done(w, b[i].slot,
				  -EIO); /* cannot happen: the ring holds every group */
	}
}

/* Issues the queued single-block reads while the storage ring has room. */
static void issue_rereads(struct worker *w)
{
	while (w->rr_len && storage_inflight(w->st) < STORAGE_DEPTH) {
		uint32_t slot = w->reread[w->rr_head];
		uint32_t block = (uint32_t)w->fill_key[slot];
		int32_t k = w->fill_ofd[slot]; /* still held for this block */
		if (storage_read(w->st, ofd_fd(w->ofd, k), w->ofd_fixed ? k : -1, block_off(block),
				 w->fill_ptr[slot], ra_read_len(w->fill_len[slot]), slot) < 0)
			return;
		w->fill_t0[slot] = worker_now_ns();
		w->rr_head = (w->rr_head + 1) % (RA_GROUPS * RA_MAX_BLOCKS);
		w->rr_len--;
	}
}

void fetch_on_storage(struct worker *w)
{
	struct storage_done d[64];
	int n;
	w->fetch_wait = 0; /* completions free descriptor slots */
	do {
		n = storage_reap(w->st, d, 64);
		uint64_t t_reap = n > 0 ? worker_now_ns() : 0;
		for (int i = 0; i < n; i++) {
			if (d[i].cookie & REPAIR_COOKIE) {
				repair_read_done(w, d[i].cookie, d[i].res);
				continue;
			}
			if (d[i].cookie & RA_COOKIE) {
				ra_done(w, (uint32_t)d[i].cookie, d[i].res, t_reap);
				continue;
			}
			uint32_t slot = (uint32_t)d[i].cookie;
			count_read(w, d[i].res, w->fill_t0[slot], t_reap);
			/* the read is rounded up to 4 KiB: report the block's length */
			int64_t got = d[i].res;
			if (got >= (int64_t)w->fill_len[slot])
				got = w->fill_len[slot];
			slot_done(w, slot, got);
		}
	} while (n == 64);
	issue_rereads(w);
	for (uint32_t ri = 0; ri < REPAIRS; ri++)
		if (w->repairs[ri].used && w->repairs[ri].issued != w->repairs[ri].want)
			repair_issue(w, ri);
}

/* Completes the fill of slot with got bytes (negative: failed) and hands
 * the block, or the failure, to its filler and waiters. */
static void fill_finish(struct worker *w, uint32_t slot, int64_t got)
{
	size_t nw = 0;
	uint8_t *data = w->fill_ptr[slot];
	uint64_t owner = w->fill_owner[slot];
	uint64_t *cookies = w->cookies;
	int ok = scache_fill_done(w->cache, w->p.index, slot, got, cookies, WAITERS, &nw) == 1;
	int how = ok ? RESOLVE_OK : RESOLVE_FAILED;
	resolve_cookie(w, owner, data, how);
	for (size_t k = 0; k < nw; k++)
		resolve_cookie(w, cookies[k], data, how);
}

void fetch_on_wake(struct worker *w)
{
	uint64_t v;
	/* One read resets the eventfd (not a semaphore), and it comes before
	 * taking, so a fill racing with us wakes us again. The loader's wakes
	 * mean "look again": the tables it loaded are found by the retries. */
	if (w->wake_efd >= 0 && read(w->wake_efd, &v, sizeof(v)) > 0)
		w->fetch_wait = 0;
	take_deliveries(w);
}

void fetch_poll(struct worker *w)
{
	fetch_on_wake(w);
	if (storage_inflight(w->st))
		fetch_on_storage(w);
}

/* Sets up the worker's descriptor table (ofd.h) and the storage ring's
 * registered-file table of the same size. A kernel or limit that refuses
 * the latter leaves reads on plain fds, which only costs a little per read. */
int fetch_setup(struct worker *w, struct seed_err *err)
{
	unsigned workers = w->p.conf->workers ? w->p.conf->workers : 1;
	uint32_t cap = w->p.conf->object_fds / workers;
	if (cap < 1)
		cap = 1;
	int rc = ofd_create(cap, &w->ofd, err);
	if (rc < 0)
		return rc;
	if (w->p.conf->readahead) {
		if ((rc = ra_create(RA_GROUPS, w->p.conf->readahead, &w->ra, err)) < 0)
			return rc;
		w->reread = calloc(RA_GROUPS * RA_MAX_BLOCKS, sizeof(*w->reread));
		if (!w->reread)
			return seed_err_set(err, -ENOMEM, "out of memory for read-ahead");
	}
	struct seed_err e;
	seed_err_clear(&e);
	if (storage_register_files(w->st, cap, &e) < 0) {
		if (w->p.index == 0)
			log_warn(&lm, "%s; reading through plain fds", e.msg);
	} else {
		w->ofd_fixed = 1;
	}
	return 0;
}

/* Closes the worker's object files (its reads are done). */
void fetch_teardown(struct worker *w)
{
	hash_ctx_destroy(leaf_hash);
	leaf_hash = NULL;
	ra_destroy(w->ra);
	w->ra = NULL;
	free(w->reread);
	w->reread = NULL;
	if (!w->ofd)
		return;
	for (uint32_t k = 0; k < ofd_capacity(w->ofd); k++)
		if (ofd_fd(w->ofd, (int32_t)k) >= 0)
			close(ofd_fd(w->ofd, (int32_t)k));
	ofd_destroy(w->ofd);
	w->ofd = NULL;
}
