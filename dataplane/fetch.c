/* fetch: see fetch.h. */
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "log.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("dataplane.fetch");

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
	uint64_t *cookies = w->cookies;
	int n;
	do {
		n = storage_reap(w->st, d, 64);
		uint64_t t_reap = n > 0 ? worker_now_ns() : 0;
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
