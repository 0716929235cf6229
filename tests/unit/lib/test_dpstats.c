/*
 * dpstats: the shared counters file written by the data plane and read by
 * seed-control. A reader in the same process maps the file a second time, as
 * another process would.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../testutil.h"
#include "dpstats.h"

TU_SCRATCH_SUITE(dpstats, dir, path, "dataplane.stats");

/* A writer of n workers at path, a reader of the same file, and room for
 * the reader's sums; pair_close() closes and frees them. */
struct pair {
	struct dpstats *w, *r;
	struct dpstats_worker *t;
};

static struct pair pair_open(unsigned n)
{
	struct seed_err e = { 0 };
	struct pair p = { .t = malloc(sizeof(*p.t)) };

	cr_assert_not_null(p.t);
	cr_assert_eq(dpstats_create(path, n, &p.w, &e), 0, "%s", e.msg);
	cr_assert_eq(dpstats_open(path, &p.r, &e), 0, "%s", e.msg);
	return p;
}

/* The reader's sum over all workers, now (valid until pair_close). */
static const struct dpstats_worker *pair_sum(struct pair *p)
{
	dpstats_sum(p->r, p->t);
	return p->t;
}

static void pair_close(struct pair *p)
{
	dpstats_close(p->r);
	dpstats_close(p->w);
	free(p->t);
}

Test(dpstats, reader_sees_each_workers_counts_summed)
{
	struct pair p = pair_open(3);
	for (unsigned i = 0; i < 3; i++) {
		struct dpstats_worker *b = dpstats_worker(p.w, i);
		cr_assert_not_null(b);
		dpstats_add(&b->payload_bytes[DPSTATS_BT], 1000 * (i + 1));
		dpstats_add(&b->verify_failures, 1);
		dpstats_add(&b->storage_lat_bucket[dpstats_lat_bucket(30)], 1);
	}
	cr_assert_null(dpstats_worker(p.w, 3), "a worker index past n_workers must give NULL");
	const struct dpstats_worker *t = pair_sum(&p);
	cr_expect_eq(t->payload_bytes[DPSTATS_BT], 6000);
	cr_expect_eq(t->payload_bytes[DPSTATS_HTTP], 0);
	cr_expect_eq(t->verify_failures, 3);
	cr_expect_eq(t->storage_lat_bucket[1], 3, "30 us falls in the (25, 50] bucket");
	cr_expect_eq(dpstats_n_workers(p.r), 3);
	cr_expect_eq(dpstats_pid(p.r), getpid());
	cr_expect_gt(dpstats_start_ns(p.r), 0);
	cr_expect_null(dpstats_worker(p.r, 0), "a reader's mapping is read-only: no writer block");
	/* A later write shows through the shared mapping. */
	dpstats_add(&dpstats_worker(p.w, 1)->verify_failures, 5);
	pair_sum(&p);
	cr_expect_eq(t->verify_failures, 8);
	pair_close(&p);
}

Test(dpstats, release_slots_are_stable_and_published_with_their_ids)
{
	struct pair p = pair_open(1);

	cr_expect_eq(dpstats_n_releases(p.r), 0);
	cr_expect_eq(dpstats_release_slot(p.w, "acme.game.1"), 0);
	cr_expect_eq(dpstats_release_slot(p.w, "acme.game.2"), 1);
	cr_expect_eq(dpstats_release_slot(p.w, "acme.game.1"), 0, "the same id keeps its slot");
	cr_expect_eq(dpstats_n_releases(p.r), 2);
	cr_expect_str_eq(dpstats_release_id(p.r, 0), "acme.game.1");
	cr_expect_str_eq(dpstats_release_id(p.r, 1), "acme.game.2");
	dpstats_add(&dpstats_worker(p.w, 0)->rel[1].bytes[DPSTATS_HTTP], 77);
	const struct dpstats_worker *t = pair_sum(&p);
	cr_expect_eq(t->rel[1].bytes[DPSTATS_HTTP], 77);
	cr_expect_eq(t->rel[0].bytes[DPSTATS_HTTP], 0);
	cr_expect_eq(dpstats_release_slot(p.r, "x.y.z"), -EPERM, "readers cannot assign slots");
	pair_close(&p);
}

Test(dpstats, slot_table_full_and_bad_ids_are_refused)
{
	struct dpstats *w;
	struct seed_err e = { 0 };
	cr_assert_eq(dpstats_create(NULL, 1, &w, &e), 0, "%s", e.msg);
	char id[64];
	for (int i = 0; i < DPSTATS_MAX_RELEASES; i++) {
		snprintf(id, sizeof(id), "t.r.%d", i);
		cr_assert_eq(dpstats_release_slot(w, id), i);
	}
	cr_expect_eq(dpstats_release_slot(w, "t.r.overflow"), -ENOSPC);
	cr_expect_eq(dpstats_release_slot(w, "t.r.17"), 17, "existing ids still resolve when full");
	char longid[DPSTATS_ID_MAX + 8];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;
	cr_expect_eq(dpstats_release_slot(w, longid), -EINVAL);
	cr_expect_eq(dpstats_release_slot(w, ""), -EINVAL);
	dpstats_close(w);
}

Test(dpstats, worker_count_bounds)
{
	struct dpstats *w;
	struct seed_err e = { 0 };
	cr_expect_eq(dpstats_create(NULL, 0, &w, &e), -EINVAL);
	cr_expect(strstr(e.msg, "0 workers") != NULL, "%s", e.msg);
	memset(&e, 0, sizeof(e));
	cr_expect_eq(dpstats_create(NULL, DPSTATS_MAX_WORKERS + 1, &w, &e), -EINVAL);
}

static void write_file(const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fclose(f);
}

static uint8_t *read_file(size_t *n)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(*n);
	cr_assert_eq(fread(p, 1, *n, f), *n);
	fclose(f);
	return p;
}

static void expect_refused(const char *what, const char *needle)
{
	struct dpstats *r = NULL;
	struct seed_err e = { 0 };
	cr_expect_lt(dpstats_open(path, &r, &e), 0, "%s: expected the open to fail", what);
	cr_expect_null(r);
	cr_expect(strstr(e.msg, needle) != NULL, "%s: expected \"%s\" in \"%s\"", what, needle,
		  e.msg);
	cr_expect(strstr(e.msg, path) != NULL, "%s: the message must name the file: %s", what,
		  e.msg);
}

Test(dpstats, hostile_files_are_refused_with_a_reason)
{
	struct dpstats *w;
	struct seed_err e = { 0 };
	cr_assert_eq(dpstats_create(path, 2, &w, &e), 0, "%s", e.msg);
	dpstats_close(w);
	size_t n;
	uint8_t *good = read_file(&n);

	write_file(good, 100);
	expect_refused("shorter than a header", "not a data plane counters file");
	write_file(good, n - 64);
	expect_refused("truncated", "size does not match");
	uint8_t *bad = malloc(n);
	memcpy(bad, good, n);
	bad[0] ^= 0xff;
	write_file(bad, n);
	expect_refused("bad magic", "bad magic");
	memcpy(bad, good, n);
	bad[8] = 99; /* version */
	write_file(bad, n);
	expect_refused("other version", "unknown version");
	memcpy(bad, good, n);
	bad[20] = 0xff; /* n_workers, low byte */
	bad[21] = 0xff;
	write_file(bad, n);
	expect_refused("worker count", "worker count");
	free(bad);
	write_file(good, n);
	struct dpstats *r;
	cr_expect_eq(dpstats_open(path, &r, &e), 0, "the untouched file must load: %s", e.msg);
	dpstats_close(r);
	free(good);

	char missing[600];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	memset(&e, 0, sizeof(e));
	cr_expect_eq(dpstats_open(missing, &r, &e), -ENOENT);
	cr_expect(strstr(e.msg, missing) != NULL, "%s", e.msg);
}

Test(dpstats, a_new_run_replaces_the_file_and_resets_counters)
{
	struct dpstats *w1, *w2, *r;
	struct seed_err e = { 0 };
	cr_assert_eq(dpstats_create(path, 1, &w1, &e), 0, "%s", e.msg);
	dpstats_add(&dpstats_worker(w1, 0)->cache_hits, 9);
	uint64_t t1 = 0;
	cr_assert_eq(dpstats_open(path, &r, &e), 0);
	t1 = dpstats_start_ns(r);
	dpstats_close(r);
	dpstats_close(w1);
	usleep(2000);
	cr_assert_eq(dpstats_create(path, 4, &w2, &e), 0, "%s", e.msg);
	cr_assert_eq(dpstats_open(path, &r, &e), 0);
	struct dpstats_worker *t = malloc(sizeof(*t));
	dpstats_sum(r, t);
	cr_expect_eq(t->cache_hits, 0);
	cr_expect_eq(dpstats_n_workers(r), 4);
	cr_expect_gt(dpstats_start_ns(r), t1, "the start time tells readers counters restarted");
	free(t);
	dpstats_close(r);
	dpstats_close(w2);
	/* no temporary file left beside it */
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) -eq 1", dir);
	cr_expect_eq(system(cmd), 0, "only the counters file may remain in %s", dir);
}

Test(dpstats, latency_buckets)
{
	cr_expect_eq(dpstats_lat_bucket(0), 0);
	cr_expect_eq(dpstats_lat_bucket(25), 0);
	cr_expect_eq(dpstats_lat_bucket(26), 1);
	cr_expect_eq(dpstats_lat_bucket(1000), 5);
	cr_expect_eq(dpstats_lat_bucket(1000000), DPSTATS_LAT_BUCKETS - 2);
	cr_expect_eq(dpstats_lat_bucket(1000001), DPSTATS_LAT_BUCKETS - 1);
	cr_expect_eq(dpstats_lat_bucket(UINT64_MAX), DPSTATS_LAT_BUCKETS - 1);
}

struct spin {
	struct dpstats_worker *b;
	int n;
};

static void *writer(void *arg)
{
	struct spin *s = arg;
	for (int i = 0; i < s->n; i++)
		dpstats_add(&s->b->requests[DPSTATS_BT], 1);
	return NULL;
}

Test(dpstats, sums_never_go_backwards_while_workers_write)
{
	struct pair p = pair_open(2);

	struct spin s0 = { dpstats_worker(p.w, 0), 2000000 },
		    s1 = { dpstats_worker(p.w, 1), 2000000 };
	pthread_t a, b;
	pthread_create(&a, NULL, writer, &s0);
	pthread_create(&b, NULL, writer, &s1);
	const struct dpstats_worker *t = p.t;
	uint64_t last = 0;
	for (int i = 0; i < 200; i++) {
		pair_sum(&p);
		cr_assert_geq(t->requests[DPSTATS_BT], last);
		last = t->requests[DPSTATS_BT];
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pair_sum(&p);
	cr_expect_eq(t->requests[DPSTATS_BT], 4000000);
	pair_close(&p);
}

Test(dpstats, tenant_peer_gauges_are_appended_in_order)
{
	struct pair p = pair_open(1);

	cr_expect_eq(dpstats_n_tenants(p.r), 0);
	cr_expect_eq(dpstats_tenant_set(p.w, 1, "late", 1), -EINVAL, "slots come in order");
	cr_expect_eq(dpstats_tenant_set(p.w, 0, "acme", 3), 0);
	cr_expect_eq(dpstats_tenant_set(p.w, 1, "free", 0), 0);
	cr_expect_eq(dpstats_tenant_set(p.w, 0, "acme", 7), 0, "a later set updates the gauge");
	cr_expect_eq(dpstats_n_tenants(p.r), 2);
	cr_expect_str_eq(dpstats_tenant_id(p.r, 0), "acme");
	cr_expect_eq(dpstats_tenant_peers(p.r, 0), 7);
	cr_expect_str_eq(dpstats_tenant_id(p.r, 1), "free");
	cr_expect_eq(dpstats_tenant_set(p.r, 2, "x", 0), -EINVAL, "readers cannot write");
	char longid[64];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[63] = 0;
	cr_expect_eq(dpstats_tenant_set(p.w, 2, longid, 0), -EINVAL);
	pair_close(&p);
}

/* The per-release swarm rows: written by the writer for assigned slots
 * only, read back whole by a reader of the file; a slot out of range reads
 * as zeros; the last tenant slot and the first swarm row do not overlap. */
Test(dpstats, release_swarm_rows)
{
	struct pair p = pair_open(1);
	uint64_t v[DPSTATS_NRSWARM], out[DPSTATS_NRSWARM];

	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		v[k] = 10 + k;
	cr_expect_eq(dpstats_set_release_swarm(p.w, 0, v), -EINVAL, "no slot assigned yet");
	cr_assert_eq(dpstats_release_slot(p.w, "acme-game-v1"), 0);
	cr_assert_eq(dpstats_release_slot(p.w, "acme-game-v2"), 1);
	for (unsigned t = 0; t < DPSTATS_MAX_TENANTS; t++) {
		char id[16];
		snprintf(id, sizeof(id), "t%u", t);
		cr_assert_eq(dpstats_tenant_set(p.w, t, id, -1), 0);
	}
	cr_expect_eq(dpstats_set_release_swarm(p.w, 1, v), 0);
	cr_expect_eq(dpstats_set_release_swarm(p.r, 0, v), -EINVAL, "readers cannot write");
	dpstats_release_swarm(p.r, 1, out);
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		cr_expect_eq(out[k], 10 + k, "value %u (%s)", k, dpstats_rswarm_names[k]);
	dpstats_release_swarm(p.r, 0, out);
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		cr_expect_eq(out[k], 0, "slot 0 never set");
	dpstats_release_swarm(p.r, 2, out);
	cr_expect_eq(out[DPSTATS_RSWARM_PEERS], 0, "slot 2 is not assigned");
	cr_expect_eq(dpstats_tenant_peers(p.r, DPSTATS_MAX_TENANTS - 1), -1,
		     "the last tenant slot is intact");
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		cr_expect(dpstats_rswarm_names[k] && *dpstats_rswarm_names[k]);
	pair_close(&p);
}

/* Every counter slot is exported as seed_engine_closes_total{reason=...}:
 * each label non-empty and told apart from the others. */
Test(dpstats, close_reason_labels_are_distinct_and_non_empty)
{
	for (int i = 0; i < DPSTATS_CLOSE_REASONS; i++) {
		cr_assert_not_null(dpstats_close_names[i], "slot %d has no label", i);
		cr_assert_gt(strlen(dpstats_close_names[i]), 0, "slot %d", i);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(dpstats_close_names[i], dpstats_close_names[j],
					  "slots %d and %d share a label", j, i);
	}
#define CHECK_REASON_(name, value, label)                                              \
	cr_assert_str_eq(dpstats_close_names[value], label, "%s at %d", #name, value); \
	cr_assert_str_neq(label, "", "%s", #name);
	SEED_CLOSE_REASONS(CHECK_REASON_)
#undef CHECK_REASON_
}

/* The labels are an interface (dashboards and alerts name them): pinned
 * here as they were exported before the list was shared; slot 14 was the
 * unused placeholder "other14" until the worker's reclaim took it. */
Test(dpstats, close_reason_labels_are_unchanged)
{
	static const char *const want[DPSTATS_CLOSE_REASONS] = {
		"none",	       "done",	   "malformed", "oversized",  "unknown_torrent",
		"bad_request", "too_many", "timeout",	"data_error", "peer_closed",
		"io_error",    "shutdown", "refused",	"encryption", "reclaimed",
		"other15",
	};

	for (int i = 0; i < DPSTATS_CLOSE_REASONS; i++)
		cr_assert_str_eq(dpstats_close_names[i], want[i], "slot %d", i);
}

/* The admission refusal labels are the reason="..." of
 * seed_admit_refusals_total and the keys of `seedctl stats --json`. */
Test(dpstats, admit_labels_are_pinned)
{
	static const char *const want[DPSTATS_NADMIT] = {
		"denied", "addr_conns", "prefix_conns", "addr_rate", "mse_rate",
	};

	for (int i = 0; i < DPSTATS_NADMIT; i++)
		cr_assert_str_eq(dpstats_admit_names[i], want[i], "slot %d", i);
}

/* A refusal counted by two workers reaches the sum, like any counter. */
Test(dpstats, admit_refusals_are_summed)
{
	struct dpstats *s;
	struct seed_err err = { 0 };

	cr_assert_eq(dpstats_create(NULL, 2, &s, &err), 0, "%s", err.msg);
	dpstats_add(&dpstats_worker(s, 0)->admit_refusals[DPSTATS_ADMIT_ADDR_RATE], 3);
	dpstats_add(&dpstats_worker(s, 1)->admit_refusals[DPSTATS_ADMIT_ADDR_RATE], 4);
	dpstats_add(&dpstats_worker(s, 1)->admit_refusals[DPSTATS_ADMIT_DENIED], 1);
	struct dpstats_worker *t = malloc(sizeof(*t));
	cr_assert_not_null(t);
	dpstats_sum(s, t);
	cr_assert_eq(t->admit_refusals[DPSTATS_ADMIT_ADDR_RATE], 7);
	cr_assert_eq(t->admit_refusals[DPSTATS_ADMIT_DENIED], 1);
	cr_assert_eq(t->admit_refusals[DPSTATS_ADMIT_MSE_RATE], 0);
	free(t);
	dpstats_close(s);
}

static struct dpstats_repair rec(uint64_t k)
{
	struct dpstats_repair r = { .length = 1000000 + k, .block = k, .rebuilt = (int)(k & 1) };
	for (int i = 0; i < 32; i++)
		r.root[i] = (uint8_t)(k * 7 + (uint64_t)i);
	return r;
}

static void expect_rec(const struct dpstats_repair *got, uint64_t k)
{
	struct dpstats_repair want = rec(k);
	cr_expect_eq(memcmp(got->root, want.root, 32), 0, "record %llu: root",
		     (unsigned long long)k);
	cr_expect_eq(got->length, want.length);
	cr_expect_eq(got->block, k);
	cr_expect_eq(got->rebuilt, want.rebuilt);
}

Test(dpstats, repair_records_reach_the_reader_in_order_and_a_lapped_ring_says_so)
{
	struct pair p = pair_open(2);
	struct dpstats_repair out[64];
	uint64_t seen = 0, missed = 9;
	cr_assert_eq(dpstats_repairs_read(p.r, 0, &seen, out, 64, &missed), 0);
	cr_assert_eq(missed, 0);
	for (uint64_t k = 0; k < 5; k++) {
		struct dpstats_repair r = rec(k);
		dpstats_repair_note(p.w, 1, &r);
	}
	cr_assert_eq(dpstats_repairs_read(p.r, 0, &seen, out, 64, &missed), 0,
		     "worker 0 wrote nothing: another worker's ring is its own");
	cr_assert_eq(dpstats_repairs_read(p.r, 1, &seen, out, 3, &missed), 3, "at most cap");
	for (uint64_t k = 0; k < 3; k++)
		expect_rec(&out[k], k);
	cr_assert_eq(dpstats_repairs_read(p.r, 1, &seen, out, 64, &missed), 2);
	expect_rec(&out[0], 3);
	expect_rec(&out[1], 4);
	cr_assert_eq(seen, 5);

	/* 100 more than the reader took: the newest RING - 1 arrive, the rest counted */
	for (uint64_t k = 5; k < 105; k++) {
		struct dpstats_repair r = rec(k);
		dpstats_repair_note(p.w, 1, &r);
	}
	size_t n = dpstats_repairs_read(p.r, 1, &seen, out, 64, &missed);
	cr_assert_eq(n, DPSTATS_REPAIR_RING - 1);
	cr_assert_eq(missed, 100 - (DPSTATS_REPAIR_RING - 1));
	for (size_t i = 0; i < n; i++)
		expect_rec(&out[i], 105 - n + i);
	cr_assert_eq(seen, 105);
	pair_close(&p);
}
