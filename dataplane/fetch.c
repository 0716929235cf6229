/* fetch: see fetch.h. */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "hash.h"
#include "hex.h"
#include "log.h"
#include "parity.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("dataplane.fetch");

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

void fetch_seg(struct worker *w, struct wconn *c, uint32_t ci, uint32_t si)
{
	struct seg *s = qat(c, si);
	const struct served_object *o = served_object(w->p.served, s->object);
	uint8_t *data;
	uint32_t slot;
	if (o->unusable || quarantined(w, s->object, s->block)) {
		/* failed outside this call (the request may still be being queued),
		 * or its object could not be opened (served.h): refused unread */
		s->state = S_BAD;
		worker_mark_retry(w, c, ci);
		return;
	}
	if (storage_inflight(w->st) >= STORAGE_DEPTH) {
		/* a miss could not be read now: wait for reads to complete
		 * rather than spin through the cache */
		s->state = S_FETCH;
		worker_mark_retry(w, c, ci);
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
			worker_mark_retry(w, c, ci);
			return;
		}
		w->fill_ptr[slot] = data;
		w->fill_owner[slot] = seg_cookie(c, ci, si);
		w->fill_len[slot] = s->blen;
		w->fill_key[slot] = ((uint64_t)s->object << 32) | s->block;
		w->fill_t0[slot] = worker_now_ns();
		s->state = S_WAIT;
		dpstats_add(&w->ctr->cache_misses, 1);
		return;
	}
	case CACHE_WAIT: s->state = S_WAIT; return;
	case CACHE_BUSY:
		s->state = S_FETCH;
		worker_mark_retry(w, c, ci);
		return;
	}
}

/* ---- rebuilding a bad block from its stripe ---- */

/* Storage cookies of repair reads: a cache slot's fills use the slot
 * number (below 2^32), these the top bit, the repair and the shard. */
#define REPAIR_COOKIE (1ull << 63)

static uint64_t repair_cookie(uint32_t ri, uint32_t shard)
{
	return REPAIR_COOKIE | (uint64_t)ri << 8 | shard;
}

/* Issues the repair's unissued reads while the storage ring has room;
 * completions bring the rest out (fetch_on_storage calls this again). */
static void repair_issue(struct worker *w, uint32_t ri)
{
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	int32_t fidx = r->object < storage_registered_files(w->st) ? (int32_t)r->object : -1;
	for (uint32_t i = 0; i < o->g.k + o->g.m; i++) {
		if (!(r->want >> i & 1) || (r->issued >> i & 1))
			continue;
		if (storage_inflight(w->st) >= STORAGE_DEPTH)
			return;
		uint64_t off, e;
		uint32_t len = store_shard(&o->g, r->stripe, i, &off, &e);
		uint32_t rlen = (len + 4095) & ~4095u;
		if (storage_read(w->st, o->fd, fidx, off, r->buf + (size_t)i * STORE_BLOCK, rlen,
				 repair_cookie(ri, i)) < 0)
			return;
		r->issued |= 1ull << i;
	}
}

/* A block of object/block failed on its way into cache slot: reads the
 * rest of its stripe to rebuild it, or queues it until a repair is free.
 * 0 when it did (the slot stays filling), -1 when it cannot be rebuilt (no
 * parity, memory, a full queue). */
static int repair_start(struct worker *w, uint32_t slot, uint32_t object, uint32_t block)
{
	const struct served_object *o = served_object(w->p.served, object);
	if (!o->g.m || o->unusable)
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
	if (!w->repair_mem && posix_memalign((void **)&w->repair_mem, 4096,
					     (size_t)REPAIRS * PARITY_MAX_SHARDS * STORE_BLOCK))
		return -1;
	struct repair *r = &w->repairs[ri];
	*r = (struct repair){ .used = 1, .slot = slot, .object = object, .block = block };
	r->buf = w->repair_mem + (size_t)ri * PARITY_MAX_SHARDS * STORE_BLOCK;
	const struct store_geom *g = &o->g;
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

/* One read of a repair came back; the last one rebuilds the block into
 * its cache slot (when at most m shards of the stripe are bad) and
 * completes the fill. */
static void repair_read_done(struct worker *w, uint64_t cookie, int32_t res)
{
	uint32_t ri = (uint32_t)(cookie >> 8 & 0xff), i = (uint32_t)(cookie & 0xff);
	if (ri >= REPAIRS || !w->repairs[ri].used)
		return;
	struct repair *r = &w->repairs[ri];
	const struct served_object *o = served_object(w->p.served, r->object);
	const struct store_geom *g = &o->g;
	uint64_t off, e;
	uint32_t len = store_shard(g, r->stripe, i, &off, &e);
	uint8_t *p = r->buf + (size_t)i * STORE_BLOCK;
	uint8_t x[16];
	dpstats_add(&w->ctr->storage_reads, 1);
	if (res > 0)
		dpstats_add(&w->ctr->storage_read_bytes, (uint64_t)res);
	else
		dpstats_add(&w->ctr->storage_errors, 1);
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
		if (parity_rebuild(&w->par, STORE_BLOCK, shards, r->lost) == 0) {
			memcpy(w->fill_ptr[r->slot], shards[t], blen);
			got = blen;
		}
	}
	uint32_t slot = r->slot, object = r->object, block = r->block;
	int bad = __builtin_popcountll(r->lost);
	r->used = 0;
	char root[65];
	hex_encode(o->root, 32, root);
	int rebuilt = got > 0 && cache_fill_check(w->cache, slot, got);
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
		log_warn(&lm,
			 "object %s block %u: cannot be rebuilt (%d of its stripe's %u + %u "
			 "blocks bad); refused",
			 root, block, bad, g->k, g->m);
		got = -EIO;
	}
	fill_finish(w, slot, got);
	/* the repair is free: the next waiting block (one that cannot start
	 * now is refused, as it would have been without parity) */
	while (w->rq_len) {
		struct repair_wait q = w->repair_queue[w->rq_head];
		w->rq_head = (w->rq_head + 1) % REPAIR_QUEUE;
		w->rq_len--;
		if (repair_start(w, q.slot, q.object, q.block) == 0)
			break;
		dpstats_add(&w->ctr->repair_failures, 1);
		quarantine(w, q.object, q.block);
		fill_finish(w, q.slot, -EIO);
	}
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
			worker_pump(w, ci);
		} else {
			worker_seg_failed(w, c, ci, i);
		}
		return;
	}
	if (ok)
		cache_unpin(w->cache, data);
}

void fetch_on_storage(struct worker *w)
{
	struct storage_done d[64];
	int n;
	do {
		n = storage_reap(w->st, d, 64);
		uint64_t t_reap = n > 0 ? worker_now_ns() : 0;
		for (int i = 0; i < n; i++) {
			if (d[i].cookie & REPAIR_COOKIE) {
				repair_read_done(w, d[i].cookie, d[i].res);
				continue;
			}
			uint32_t slot = (uint32_t)d[i].cookie;
			dpstats_add(&w->ctr->storage_reads, 1);
			if (d[i].res > 0)
				dpstats_add(&w->ctr->storage_read_bytes, (uint64_t)d[i].res);
			else
				dpstats_add(&w->ctr->storage_errors, 1);
			uint64_t us =
				t_reap > w->fill_t0[slot] ? (t_reap - w->fill_t0[slot]) / 1000 : 0;
			dpstats_add(&w->ctr->storage_lat_bucket[dpstats_lat_bucket(us)], 1);
			dpstats_add(&w->ctr->storage_lat_sum_us, us);
			uint64_t key = w->fill_key[slot];
			uint32_t object = (uint32_t)(key >> 32), block = (uint32_t)key;
			/* the read is rounded up to 4 KiB: report the block's length */
			int64_t got = d[i].res;
			if (got >= (int64_t)w->fill_len[slot])
				got = w->fill_len[slot];
			if (!cache_fill_check(w->cache, slot, got)) {
				/* never served as read: rebuilt from parity, or refused */
				if (got == (int64_t)w->fill_len[slot])
					dpstats_add(&w->ctr->verify_failures, 1);
				if (repair_start(w, slot, object, block) == 0)
					continue;
				quarantine(w, object, block);
			}
			fill_finish(w, slot, got);
		}
	} while (n == 64);
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
	int ok = cache_fill_done(w->cache, slot, got, cookies, WAITERS, &nw);
	resolve_cookie(w, owner, data, ok);
	for (size_t k = 0; k < nw; k++)
		resolve_cookie(w, cookies[k], data, ok);
}

/* Registers the object files with the storage ring, in handle order, so a
 * read names its file by index; objects a catalog switch adds later are
 * appended at the next loop pass. A kernel or limit that refuses it leaves
 * reads on plain fds, which only costs a little per read. */
int fetch_register_objects(struct worker *w, struct seed_err *err)
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
		log_warn(&lm, "%s; reading through plain fds", e.msg);
	free(fds);
	return 0;
}

/* New objects since the last pass (a catalog switch): into the file table. */
void fetch_register_new(struct worker *w)
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
		log_warn(&lm, "%s; new objects read through plain fds", e.msg);
}
