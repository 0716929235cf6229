/*
 * keeper: see keeper.h. The thread sleeps on a condition variable until the
 * next pass is due, a reclaim is queued or it is told to stop; reclaims are
 * also taken between two objects of a pass (on_progress), so a pass of
 * hours does not hold a removal up.
 */
#include "keeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("control.keeper");

#define RETRY_S	    600 /* a failed removal, or a pass that failed, waits this long */
#define LOCK_TRY_NS (200 * 1000 * 1000)

struct failed {
	char id[STORE_MAX_ID + 1];
	int64_t until;
};

struct keeper {
	char *dir;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int stop;
	/* under mu */
	struct keeper_settings set;
	struct keeper_status st;
	char queue[KEEPER_QUEUE][STORE_MAX_ID + 1];
	size_t n_queue;
	char busy[STORE_MAX_ID + 1]; /* being removed */
	struct failed failed[KEEPER_QUEUE];
	size_t n_failed;
	struct dpstats_repair rq[KEEPER_REPAIRS];
	size_t n_rq;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static bool queued(const struct keeper *k, const char *id)
{
	if (!strcmp(k->busy, id))
		return true;
	for (size_t i = 0; i < k->n_queue; i++)
		if (!strcmp(k->queue[i], id))
			return true;
	return false;
}

/* Failed removals wait RETRY_S; forgets those whose wait is over. */
static bool backing_off(struct keeper *k, const char *id, int64_t now)
{
	bool hit = false;
	for (size_t i = 0; i < k->n_failed;) {
		if (k->failed[i].until <= now) {
			k->failed[i] = k->failed[--k->n_failed];
			continue;
		}
		hit |= !strcmp(k->failed[i].id, id);
		i++;
	}
	return hit;
}

/* The writer lock, tried until it is free or the keeper stops. */
static int open_writer(struct keeper *k, struct store **w, struct seed_err *err)
{
	for (;;) {
		int rc = store_open(k->dir, STORE_WRITE_TRY, w, err);
		if (rc != -EWOULDBLOCK)
			return rc;
		if (atomic_load(&k->stop))
			return seed_err_set(err, -ECANCELED, "seed-control is stopping");
		struct timespec ts = { 0, LOCK_TRY_NS };
		nanosleep(&ts, NULL);
	}
}

static void reclaim_one(struct keeper *k, const char *id)
{
	struct store *w = NULL;
	struct seed_err err;
	seed_err_clear(&err);
	int rc = open_writer(k, &w, &err);
	if (rc == 0)
		rc = store_release_remove(w, id, &err);
	store_close(w);
	pthread_mutex_lock(&k->mu);
	k->busy[0] = 0;
	if (rc == 0) {
		k->st.reclaimed++;
	} else if (rc != -ENOENT && rc != -ECANCELED) {
		k->st.reclaim_failed++;
		if (k->n_failed < KEEPER_QUEUE) {
			struct failed *f = &k->failed[k->n_failed++];
			snprintf(f->id, sizeof(f->id), "%s", id);
			f->until = now_s() + RETRY_S;
		}
	}
	pthread_mutex_unlock(&k->mu);
	if (rc == 0)
		log_info(&lm,
			 "reclaimed retired release %s: removed with every file no other "
			 "release holds",
			 id);
	else if (rc != -ENOENT && rc != -ECANCELED)
		log_warn(&lm, "reclaiming retired release %s: %s (retry in %ds)", id, err.msg,
			 RETRY_S);
}

/* Removes everything queued, one release at a time. */
static void reclaim_all(struct keeper *k)
{
	char id[STORE_MAX_ID + 1];
	for (;;) {
		pthread_mutex_lock(&k->mu);
		bool any = k->n_queue > 0 && !atomic_load(&k->stop);
		if (any) {
			memcpy(id, k->queue[0], sizeof(id));
			memmove(k->queue[0], k->queue[1], (k->n_queue - 1) * sizeof(k->queue[0]));
			k->n_queue--;
			k->st.reclaim_waiting = k->n_queue;
			memcpy(k->busy, id, sizeof(id));
		}
		pthread_mutex_unlock(&k->mu);
		if (!any)
			return;
		reclaim_one(k, id);
	}
}

static void on_event(void *arg, const char *rel, const char *file, const char *what);

/* Checks the stripes of every queued repair record on disk, under one
 * hold of the writer lock. */
static void write_back_all(struct keeper *k)
{
	static struct dpstats_repair batch[KEEPER_REPAIRS]; /* the keeper's thread only */
	pthread_mutex_lock(&k->mu);
	size_t n = k->n_rq;
	memcpy(batch, k->rq, n * sizeof(batch[0]));
	k->n_rq = 0;
	pthread_mutex_unlock(&k->mu);
	if (!n)
		return;
	struct store *w = NULL;
	struct seed_err err;
	seed_err_clear(&err);
	int rc = open_writer(k, &w, &err);
	if (rc < 0) {
		if (rc != -ECANCELED)
			log_warn(&lm,
				 "writing back %zu repaired blocks: %s (the next pass finds them)",
				 n, err.msg);
		pthread_mutex_lock(&k->mu);
		k->st.check_failed += rc != -ECANCELED ? n : 0;
		pthread_mutex_unlock(&k->mu);
		return;
	}
	uint64_t back = 0, whole = 0, lost = 0, failed = 0;
	for (size_t i = 0; i < n && !atomic_load(&k->stop); i++) {
		struct scrub_stats st;
		seed_err_clear(&err);
		rc = scrub_block(w, batch[i].root, batch[i].length, batch[i].block, HASH_IMPL_MB,
				 on_event, k, &st, &err);
		if (rc < 0) {
			failed++;
			log_warn(&lm, "checking a block the data plane found bad: %s", err.msg);
			continue;
		}
		uint64_t b = st.blocks_rebuilt + st.parity_rebuilt + st.copies_rewritten +
			     st.tables_rebuilt;
		back += st.blocks_rebuilt + st.parity_rebuilt;
		lost += st.blocks_lost;
		whole += !b && !st.blocks_lost && !st.objects_lost;
	}
	store_close(w);
	pthread_mutex_lock(&k->mu);
	k->st.written_back += back;
	k->st.found_whole += whole;
	k->st.found_lost += lost;
	k->st.check_failed += failed;
	pthread_mutex_unlock(&k->mu);
}

static void on_event(void *arg, const char *rel, const char *file, const char *what)
{
	(void)arg;
	log_warn(&lm, "scrub: release %s: %s: %s", rel, file, what);
}

static void on_progress(void *arg, const struct scrub_stats *st)
{
	struct keeper *k = arg;
	pthread_mutex_lock(&k->mu);
	k->st.cur = *st;
	pthread_mutex_unlock(&k->mu);
	reclaim_all(k);
	write_back_all(k);
}

/* One background pass; its scrub_background result. */
static int pass(struct keeper *k, uint64_t rate)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct scrub_opts o = { .impl = HASH_IMPL_MB,
				.rate = rate,
				.stop = &k->stop,
				.on_event = on_event,
				.on_progress = on_progress,
				.arg = k };
	struct scrub_stats st;
	struct seed_err err;
	seed_err_clear(&err);
	int rc = scrub_background(k->dir, &o, &st, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	pthread_mutex_lock(&k->mu);
	k->st.scrubbing = false;
	k->st.cur = st;
	if (rc >= 0)
		k->st.passes++;
	else if (rc != -ECANCELED)
		k->st.passes_failed++;
	pthread_mutex_unlock(&k->mu);
	if (rc == 0)
		log_info(&lm,
			 "background scrub: %llu releases, %llu objects, %llu bytes in %.0f s; "
			 "the store is whole (%llu blocks rebuilt, %llu copies rewritten)",
			 (unsigned long long)st.releases, (unsigned long long)st.objects,
			 (unsigned long long)st.bytes, secs, (unsigned long long)st.blocks_rebuilt,
			 (unsigned long long)st.copies_rewritten);
	else if (rc == 1)
		log_warn(&lm,
			 "background scrub: %llu objects in %.0f s; NOT whole: %llu data blocks "
			 "lost, %llu objects lost, %llu bad copies not rewritten (each named "
			 "above; seedctl store status)",
			 (unsigned long long)st.objects, secs, (unsigned long long)st.blocks_lost,
			 (unsigned long long)st.objects_lost,
			 (unsigned long long)st.repairs_failed);
	else if (rc != -ECANCELED)
		log_warn(&lm, "background scrub stopped: %s (next pass in %ds at the most)",
			 err.msg, RETRY_S);
	return rc;
}

/* When the first pass is due: interval after the last whole-store scrub. */
static int64_t first_pass(struct keeper *k, int64_t interval)
{
	struct scrub_last last;
	struct seed_err err;
	seed_err_clear(&err);
	int64_t now = now_s();
	int rc = scrub_last(k->dir, &last, &err);
	scrub_last_free(&last); /* only the store-wide fields are used */
	if (rc < 0 || last.only[0] || last.finished + interval < now)
		return now;
	return last.finished + interval;
}

static void *keeper_main(void *arg)
{
	struct keeper *k = arg;
	pthread_mutex_lock(&k->mu);
	int64_t interval = k->set.scrub_interval_s;
	pthread_mutex_unlock(&k->mu);
	int64_t next = interval ? first_pass(k, interval) : 0;
	for (;;) {
		reclaim_all(k);
		write_back_all(k);
		pthread_mutex_lock(&k->mu);
		if (k->set.scrub_interval_s != interval) {
			/* a reload: the next pass counts from the last start */
			int64_t started = k->st.pass_started ? k->st.pass_started : now_s();
			interval = k->set.scrub_interval_s;
			next = interval ? started + interval : 0;
		}
		k->st.next_pass = next;
		int64_t now = now_s();
		bool due = next && now >= next;
		uint64_t rate = k->set.scrub_rate;
		if (due) {
			k->st.scrubbing = true;
			k->st.pass_started = now;
			memset(&k->st.cur, 0, sizeof(k->st.cur));
		} else if (!atomic_load(&k->stop) && !k->n_queue && !k->n_rq) {
			/* woken early by a reclaim, a reload or stop */
			int64_t wait = !next ? 3600 : next - now < 1 ? 1 : next - now;
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += wait;
			pthread_cond_timedwait(&k->cv, &k->mu, &until);
		}
		pthread_mutex_unlock(&k->mu);
		if (atomic_load(&k->stop))
			break;
		if (!due)
			continue;
		int rc = pass(k, rate);
		next = interval ? now + interval : 0;
		if (rc < 0 && rc != -ECANCELED && interval > RETRY_S)
			next = now_s() + RETRY_S;
	}
	return NULL;
}

/* What keeper_start made, once no thread runs (keeper_stop after the join;
 * keeper_start when the thread did not start). */
static void keeper_free(struct keeper *k)
{
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
	free(k->dir);
	free(k);
}

int keeper_start(const char *store_dir, const struct keeper_settings *s, struct keeper **out,
		 struct seed_err *err)
{
	struct keeper *k = calloc(1, sizeof(*k));
	if (!k || !(k->dir = strdup(store_dir))) {
		free(k);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	k->set = *s;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	int rc = pthread_create(&k->thr, NULL, keeper_main, k);
	if (rc) {
		keeper_free(k);
		return seed_err_set(err, -rc, "cannot start the store keeper's thread: %s",
				    strerror(rc));
	}
	*out = k;
	return 0;
}

void keeper_set(struct keeper *k, const struct keeper_settings *s)
{
	pthread_mutex_lock(&k->mu);
	k->set = *s;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

void keeper_reclaim(struct keeper *k, const char *id)
{
	if (strlen(id) > STORE_MAX_ID)
		return;
	pthread_mutex_lock(&k->mu);
	if (!queued(k, id) && !backing_off(k, id, now_s()) && k->n_queue < KEEPER_QUEUE) {
		snprintf(k->queue[k->n_queue++], sizeof(k->queue[0]), "%s", id);
		k->st.reclaim_waiting = k->n_queue;
		pthread_cond_signal(&k->cv);
	}
	pthread_mutex_unlock(&k->mu);
}

void keeper_repair(struct keeper *k, const struct dpstats_repair *r)
{
	pthread_mutex_lock(&k->mu);
	k->st.records++;
	size_t i = 0;
	while (i < k->n_rq && (k->rq[i].block != r->block || memcmp(k->rq[i].root, r->root, 32)))
		i++;
	if (i == k->n_rq && k->n_rq < KEEPER_REPAIRS) {
		k->rq[k->n_rq++] = *r;
		pthread_cond_signal(&k->cv);
	} else if (i == k->n_rq) {
		k->st.records_dropped++;
	}
	pthread_mutex_unlock(&k->mu);
}

void keeper_records_missed(struct keeper *k, uint64_t n)
{
	pthread_mutex_lock(&k->mu);
	k->st.records += n;
	k->st.records_dropped += n;
	pthread_mutex_unlock(&k->mu);
}

void keeper_status(struct keeper *k, struct keeper_status *out)
{
	pthread_mutex_lock(&k->mu);
	*out = k->st;
	pthread_mutex_unlock(&k->mu);
}

void keeper_stop(struct keeper *k)
{
	if (!k)
		return;
	atomic_store(&k->stop, 1);
	pthread_mutex_lock(&k->mu);
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->thr, NULL);
	keeper_free(k);
}
