/*
 * scache_stress: dataplane/scache.c under several worker threads at once —
 * the run that test_scache.c does in the ASan+UBSan build and tsan_scache.c
 * does under ThreadSanitizer (tsan_scache.sh), one source for both.
 *
 * Each thread is a worker. It looks up keys from a key space several times
 * the cache, holds up to HELD pins across its later operations (a send in
 * flight), leaves some fills open for a while so other workers' gets wait on
 * them, completes them good, corrupt (verification fails), failed (-EIO) or
 * corrupt-then-repaired (fill_check), and drains its inbox. Every block's
 * bytes are a pattern of its key; whenever a thread holds a pin it checks the
 * bytes still match (on the hit, while holding, and just before unpinning):
 * eviction while a send is in flight must never reuse pinned memory.
 * At the end every waiter must have had exactly one answer, and with no pin
 * left every slot must be evictable again.
 */
#ifndef TEST_SCACHE_STRESS_H
#define TEST_SCACHE_STRESS_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "scache.h"

#define ST_MAX_THREADS 8u
#define ST_HELD	       16u  /* pins a thread can hold (opts.held, default 8) */
#define ST_OPEN	       2u   /* fills a thread leaves open at most */
#define ST_WAITS       256u /* a thread's outstanding waits at most */

struct st_opts {
	unsigned threads; /* workers, <= ST_MAX_THREADS */
	unsigned slots;
	unsigned keys;	  /* key space */
	uint64_t max_ops; /* per thread */
	double seconds;	  /* and no longer than this */
	uint64_t seed;
	unsigned held;	    /* pins a thread holds at most: 1 .. ST_HELD (0: 8) */
	size_t max_waiters; /* the cache's (0: its default) */
};

struct st_shared {
	struct scache *sc;
	const struct st_opts *o;
	uint8_t (*xxh)[16];		  /* per key */
	uint8_t (*content)[SCACHE_BLOCK]; /* per key, read-only */
	struct timespec t0;
	atomic_int failed;
	char msg[256];
	pthread_mutex_t msg_lock;
	_Atomic unsigned done_filling; /* threads past their open fills */
	_Atomic uint64_t wakes[ST_MAX_THREADS];
	_Atomic uint64_t ops;
};

struct st_held {
	uint32_t key;
	uint8_t *data;
};

struct st_open {
	uint32_t key, slot;
	uint8_t *data;
	unsigned age;
};

struct st_thread {
	struct st_shared *sh;
	unsigned id;
	uint64_t rng;
	struct st_held held[ST_HELD];
	unsigned n_held;
	struct st_open open[ST_OPEN];
	unsigned n_open;
	int32_t wait_key[ST_WAITS]; /* -1: free */
	unsigned n_waits;
	uint64_t answers, answers_ok, taken;
	pthread_t tid;
};

static inline uint32_t st_len(uint32_t k)
{
	return k % 5 == 4 ? 1 + (k * 2654435761u) % SCACHE_BLOCK : SCACHE_BLOCK;
}

static inline uint8_t st_byte(uint32_t k, uint32_t at)
{
	return (uint8_t)((k * 131u) ^ (at * 7u) ^ (at >> 8));
}

static void st_content(uint32_t k, uint8_t *dst)
{
	uint32_t len = st_len(k);

	for (uint32_t at = 0; at < len; at++)
		dst[at] = st_byte(k, at);
	if (len >= 4)
		memcpy(dst, &k, 4);
}

static inline struct scache_key st_skey(uint32_t k)
{
	return (struct scache_key){ .object = k / 100 + 1, .block = k % 100 };
}

__attribute__((format(printf, 2, 3))) static void st_fail(struct st_shared *sh, const char *fmt,
							  ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->msg_lock);
	if (!atomic_load(&sh->failed)) {
		va_start(ap, fmt);
		vsnprintf(sh->msg, sizeof(sh->msg), fmt, ap);
		va_end(ap);
	}
	atomic_store(&sh->failed, 1);
	pthread_mutex_unlock(&sh->msg_lock);
}

/* The bytes of a pinned block are still key k's. */
static void st_check(struct st_thread *t, uint32_t k, const uint8_t *data)
{
	if (memcmp(data, t->sh->content[k], st_len(k)) != 0)
		st_fail(t->sh, "worker %u: a pinned block of key %u changed under its pin", t->id,
			k);
}

static uint64_t st_rand(struct st_thread *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static void st_unpin_one(struct st_thread *t, unsigned at)
{
	struct st_held h = t->held[at];

	st_check(t, h.key, h.data);
	scache_unpin(t->sh->sc, h.data);
	t->held[at] = t->held[--t->n_held];
}

/* A pin the thread now holds (from a hit, a fill or a wait's answer). */
static void st_hold(struct st_thread *t, uint32_t k, uint8_t *data)
{
	st_check(t, k, data);
	unsigned cap = t->sh->o->held ? t->sh->o->held : 8;

	if (t->n_held >= cap)
		st_unpin_one(t, (unsigned)(st_rand(t) % t->n_held));
	t->held[t->n_held++] = (struct st_held){ k, data };
}

static void st_answer(struct st_thread *t, uint64_t cookie, uint8_t *data, int ok)
{
	uint32_t at = (uint32_t)cookie;

	if (cookie >> 32 != t->id || at >= ST_WAITS || t->wait_key[at] < 0) {
		st_fail(t->sh, "worker %u: an answer to cookie %u it is not waiting for", t->id,
			(unsigned)cookie);
		return;
	}
	uint32_t k = (uint32_t)t->wait_key[at];

	t->wait_key[at] = -1;
	t->n_waits--;
	t->answers++;
	if (ok) {
		t->answers_ok++;
		if (!data)
			st_fail(t->sh, "worker %u: key %u answered ok without data", t->id, k);
		else
			st_hold(t, k, data);
	} else if (data) {
		st_fail(t->sh, "worker %u: key %u answered failed with data", t->id, k);
	}
}

static void st_drain(struct st_thread *t)
{
	struct scache_delivery d[8];
	size_t n;

	while ((n = scache_take(t->sh->sc, t->id, d, 1 + st_rand(t) % 8)) > 0)
		for (size_t i = 0; i < n; i++) {
			t->taken++;
			if (d[i].ok != (d[i].err == 0))
				st_fail(t->sh, "worker %u: delivery ok %d with err %d", t->id,
					d[i].ok, d[i].err);
			st_answer(t, d[i].cookie, d[i].data, d[i].ok);
		}
}

/* Completes open fill at, in one of the ways a worker's read can end. */
static void st_complete(struct st_thread *t, unsigned at)
{
	struct scache *sc = t->sh->sc;
	struct st_open f = t->open[at];
	uint32_t len = st_len(f.key);
	unsigned how = (unsigned)(st_rand(t) % 32);
	int64_t res = len;
	int want_ok = 1;

	t->open[at] = t->open[--t->n_open];
	memcpy(f.data, t->sh->content[f.key], len);
	if (how == 0) {
		f.data[len / 2] ^= 0x40; /* bit rot: refused */
		want_ok = 0;
	} else if (how == 1) {
		res = -EIO;
		want_ok = 0;
	} else if (how == 2) {
		/* rot found by the check, rebuilt from parity, checked again */
		f.data[0] ^= 1;
		if (scache_fill_check(sc, f.slot, res))
			st_fail(t->sh, "worker %u: fill_check passed rotten key %u", t->id, f.key);
		memcpy(f.data, t->sh->content[f.key], len);
		if (!scache_fill_check(sc, f.slot, res))
			st_fail(t->sh, "worker %u: fill_check refused repaired key %u", t->id,
				f.key);
	}

	uint64_t cookies[4];
	size_t cap = 1 + st_rand(t) % 4, n = 99;
	int rc = scache_fill_done(sc, t->id, f.slot, res, cookies, cap, &n);

	if (rc != want_ok)
		st_fail(t->sh, "worker %u: fill of key %u ended wrong", t->id, f.key);
	if (n > cap)
		st_fail(t->sh, "worker %u: fill_done gave %u cookies", t->id, (unsigned)n);
	if (rc == 1)
		st_hold(t, f.key, f.data);
	for (size_t i = 0; i < n && i < cap; i++)
		st_answer(t, cookies[i], rc == 1 ? f.data : NULL, rc == 1);
}

static double st_elapsed(const struct st_shared *sh)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - sh->t0.tv_sec) + (double)(t.tv_nsec - sh->t0.tv_nsec) / 1e9;
}

static void st_one(struct st_thread *t)
{
	struct st_shared *sh = t->sh;
	uint64_t r = st_rand(t);
	unsigned what = (unsigned)(r % 16);

	if (what < 2 && t->n_held > 0) {
		st_unpin_one(t, (unsigned)((r >> 8) % t->n_held));
		return;
	}
	if (what < 4 && t->n_open > 0) {
		st_complete(t, (unsigned)((r >> 8) % t->n_open));
		return;
	}
	if (what < 5) {
		st_drain(t);
		return;
	}
	/* age open fills: none stays open for long, so waiters progress */
	for (unsigned i = 0; i < t->n_open; i++)
		if (++t->open[i].age > 16) {
			st_complete(t, i);
			break;
		}
	if (t->n_waits >= ST_WAITS - 1)
		return;

	/* a quarter of the lookups in a hot set of a tenth of the keys */
	uint32_t k = (uint32_t)((r >> 8) % ((r & 0x30) == 0 ? sh->o->keys / 10 : sh->o->keys));
	unsigned at = 0;

	while (t->wait_key[at] >= 0)
		at++;

	uint64_t cookie = (uint64_t)t->id << 32 | at;
	uint8_t *data;
	uint32_t slot;
	if (what == 5) {
		/* a read-ahead's claim: a fill of ours, or nothing held at all */
		enum scache_status c = scache_claim(sh->sc, t->id, st_skey(k), sh->xxh[k],
						    st_len(k), &data, &slot);
		if (c == SCACHE_FILL) {
			if (t->n_open == ST_OPEN)
				st_complete(t, 0);
			t->open[t->n_open++] = (struct st_open){ k, slot, data, 0 };
		} else if (data) {
			st_fail(sh, "worker %u: a claim of key %u that is no fill gave data", t->id,
				k);
		}
		return;
	}
	enum scache_status s =
		scache_get(sh->sc, t->id, st_skey(k), sh->xxh[k], st_len(k), cookie, &data, &slot);

	switch (s) {
	case SCACHE_HIT:
		if (!data || slot >= sh->o->slots)
			st_fail(sh, "worker %u: hit on key %u without a block", t->id, k);
		else
			st_hold(t, k, data);
		break;
	case SCACHE_FILL:
		if (t->n_open == ST_OPEN)
			st_complete(t, 0);
		t->open[t->n_open++] = (struct st_open){ k, slot, data, 0 };
		break;
	case SCACHE_WAIT:
		t->wait_key[at] = (int32_t)k;
		t->n_waits++;
		break;
	case SCACHE_BUSY: break;
	}
}

static void *st_main(void *arg)
{
	struct st_thread *t = arg;
	struct st_shared *sh = t->sh;
	uint64_t ops = 0;

	while (ops < sh->o->max_ops && !atomic_load(&sh->failed)) {
		st_one(t);
		if ((++ops & 255) == 0 && st_elapsed(sh) > sh->o->seconds)
			break;
	}
	atomic_fetch_add(&sh->ops, ops);
	while (t->n_open > 0)
		st_complete(t, 0);
	atomic_fetch_add(&sh->done_filling, 1);
	/* every fill is complete once all threads got here: every wait has its
	 * answer in an inbox or was given back by fill_done already */
	while (atomic_load(&sh->done_filling) < sh->o->threads)
		st_drain(t);
	st_drain(t);
	if (t->n_waits != 0)
		st_fail(sh, "worker %u: %u waits never answered", t->id, t->n_waits);
	while (t->n_held > 0)
		st_unpin_one(t, 0);
	return NULL;
}

static void st_wake(void *arg, unsigned worker)
{
	struct st_shared *sh = arg;

	if (worker < ST_MAX_THREADS)
		atomic_fetch_add(&sh->wakes[worker], 1);
}

/* 0 when the run found nothing wrong, -1 with msg saying what. *out_ops is
 * the operations done over all threads. */
static int scache_stress(const struct st_opts *o, char *msg, size_t msglen, uint64_t *out_ops)
{
	struct st_shared sh;
	struct st_thread th[ST_MAX_THREADS];
	struct seed_err err;
	int rc = -1;

	memset(&sh, 0, sizeof(sh));
	memset(th, 0, sizeof(th));
	pthread_mutex_init(&sh.msg_lock, NULL);
	sh.o = o;
	snprintf(msg, msglen, "ok");
	if (o->threads < 1 || o->threads > ST_MAX_THREADS || o->held > ST_HELD) {
		snprintf(msg, msglen, "%u threads", o->threads);
		return -1;
	}
	/* fresh keys past the key space for the final check */
	uint32_t all = o->keys + o->slots + 8;

	sh.xxh = calloc(all, 16);
	sh.content = calloc(all, SCACHE_BLOCK);
	if (!sh.xxh || !sh.content) {
		free(sh.xxh);
		free(sh.content);
		snprintf(msg, msglen, "out of memory");
		return -1;
	}
	for (uint32_t k = 0; k < all; k++) {
		st_content(k, sh.content[k]);
		hash_xxh128(sh.content[k], st_len(k), sh.xxh[k]);
	}

	struct scache_config cfg = { .bytes = (size_t)o->slots * SCACHE_BLOCK,
				     .n_workers = o->threads,
				     .max_waiters = o->max_waiters,
				     .wake = st_wake,
				     .wake_arg = &sh };

	seed_err_clear(&err);
	if (scache_create(&cfg, &sh.sc, &err) < 0) {
		snprintf(msg, msglen, "scache_create: %.200s", err.msg);
		free(sh.xxh);
		free(sh.content);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &sh.t0);
	unsigned started = 0;

	for (unsigned i = 0; i < o->threads; i++) {
		th[i].sh = &sh;
		th[i].id = i;
		th[i].rng = o->seed * 0x9e3779b97f4a7c15ull + i * 0x632be59bd9b4e019ull + 1;
		memset(th[i].wait_key, 0xff, sizeof(th[i].wait_key));
		if (pthread_create(&th[i].tid, NULL, st_main, &th[i]) != 0) {
			st_fail(&sh, "cannot start thread %u of %u", i, o->threads);
			atomic_store(&sh.done_filling, o->threads); /* release the others */
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i].tid, NULL);

	/* nothing pinned any more: a miss on each of slots fresh keys must fill */
	if (!atomic_load(&sh.failed) && started == o->threads) {
		uint64_t hits = 0, waits = 0, answers = 0, wakes = 0, taken = 0;

		for (unsigned i = 0; i < o->threads; i++) {
			const struct scache_counters *c = scache_counters(sh.sc, i);

			hits += c->hits;
			waits += c->waits;
			answers += th[i].answers;
			wakes += atomic_load(&sh.wakes[i]);
			taken += th[i].taken;
			if (th[i].taken > 0 && atomic_load(&sh.wakes[i]) == 0)
				st_fail(&sh, "worker %u took %u answers but was never woken", i,
					(unsigned)th[i].taken);
		}
		if (answers != waits)
			st_fail(&sh, "%u waits but %u answers", (unsigned)waits, (unsigned)answers);
		for (uint32_t j = 0; j < o->slots + 8 && !atomic_load(&sh.failed); j++) {
			uint32_t k = o->keys + j; /* never seen */
			uint8_t *data;
			uint32_t slot;
			size_t n;

			if (scache_get(sh.sc, 0, st_skey(k), sh.xxh[k], st_len(k), 0, &data,
				       &slot) != SCACHE_FILL) {
				st_fail(&sh,
					"after the run, fresh key %u of %u did not fill: a pin "
					"leaked",
					j, o->slots);
				break;
			}
			memcpy(data, sh.content[k], st_len(k));
			if (scache_fill_done(sh.sc, 0, slot, st_len(k), NULL, 0, &n) != 1)
				st_fail(&sh, "after the run, fresh key %u did not verify", j);
			scache_unpin(sh.sc, data);
		}
		if (!atomic_load(&sh.failed) && (hits == 0 || waits == 0 || taken == 0))
			st_fail(&sh,
				"the run had %u hits, %u waits, %u answers through inboxes: not a "
				"stress",
				(unsigned)hits, (unsigned)waits, (unsigned)taken);
		(void)wakes;
	}
	if (out_ops)
		*out_ops = atomic_load(&sh.ops);
	if (atomic_load(&sh.failed)) {
		snprintf(msg, msglen, "%.250s", sh.msg);
	} else {
		struct scache_counters t = { 0 };

		for (unsigned i = 0; i < o->threads; i++) {
			const struct scache_counters *c = scache_counters(sh.sc, i);

			t.hits += c->hits;
			t.misses += c->misses;
			t.waits += c->waits;
			t.busy += c->busy;
			t.evictions += c->evictions;
			t.verify_failures += c->verify_failures;
		}
		snprintf(msg, msglen,
			 "hits %llu misses %llu waits %llu busy %llu evictions %llu "
			 "verify_failures %llu",
			 (unsigned long long)t.hits, (unsigned long long)t.misses,
			 (unsigned long long)t.waits, (unsigned long long)t.busy,
			 (unsigned long long)t.evictions, (unsigned long long)t.verify_failures);
		rc = 0;
	}
	scache_destroy(sh.sc);
	free(sh.xxh);
	free(sh.content);
	pthread_mutex_destroy(&sh.msg_lock);
	return rc;
}

#endif
