/*
 * Unit tests for dataplane/served.c: releases ingested into a store are
 * found by v1 info-hash, by truncated v2 info-hash and by id, with the
 * piece numbering, piece layers and objects the engines rely on.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../storeutil.h"
#include "catalog.h"
#include "served.h"

static char base[TU_PATH_MAX];

static void make(const char *name, size_t len)
{
	char p[TU_PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/game/%s", base, name);
	su_write_pattern(p, len, 13, (unsigned)len, 0);
}

#define DIR_CAP (TU_PATH_MAX + 16)

/* The source folder base/game and the store base/store. */
static void dirs(char p[DIR_CAP], char sp[DIR_CAP])
{
	snprintf(p, DIR_CAP, "%s/game", base);
	snprintf(sp, DIR_CAP, "%s/store", base);
}

/* A fresh base (removed by the test's tu_rmtree(base)) with an empty
 * source folder: dirs() of it. */
static void fresh_dirs(char p[DIR_CAP], char sp[DIR_CAP])
{
	tu_tmpdir(base, "test_served");
	dirs(p, sp);
	cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

/* served_load of the store at sp, which must succeed; e is reset first. */
static struct served *load(const char *sp, struct seed_err *e)
{
	struct served *sv;

	seed_err_clear(e);
	cr_assert_eq(served_load(sp, &sv, e), 0, "%s", e->msg);
	return sv;
}

/* served_create of the store at sp for n_workers workers, without
 * counters, which must succeed; e is reset first. */
static struct served *create_served(const char *sp, unsigned n_workers, struct seed_err *e)
{
	struct served *sv;

	seed_err_clear(e);
	cr_assert_eq(served_create(sp, n_workers, NULL, &sv, e), 0, "%s", e->msg);
	return sv;
}

/* Ingests base/game into base/store as t.g.VERSION. */
static void create(const char *version, int kind, int also_v1)
{
	char p[DIR_CAP], sp[DIR_CAP];
	struct ingest_opts o = su_opts("t", "g", version, kind, 32768);

	dirs(p, sp);
	o.also_v1 = also_v1;
	su_ingest(sp, p, &o, NULL);
}

Test(served, views_lookups_and_layout)
{
	char p[DIR_CAP], sp[DIR_CAP];
	fresh_dirs(p, sp);
	make("a.bin", 40000); /* 2 pieces of 32 KiB, has a piece layer */
	make("b.bin", 5);     /* 1 piece */
	make("c.bin", 70000); /* 3 pieces */
	create("1", METAINFO_HYBRID, 1);
	create("2", METAINFO_V2, 0);

	struct seed_err e;
	struct served *sv = load(sp, &e);
	/* t.g.1 hybrid + its v1 torrent, t.g.2 v2: three views, three objects */
	cr_assert_eq(served_count(sv), 3);
	cr_assert_eq(served_object_count(sv), 3, "identical files are one object");

	struct proto_catalog cat = served_catalog(sv);
	const struct proto_release *h = cat.by_id(cat.ctx, NULL, "t.g.1", 5);
	cr_assert_not_null(h);
	cr_assert(h->has_v1 && h->has_v2);
	cr_assert_eq(cat.by_ih_v1(cat.ctx, NULL, h->ih_v1), h);
	cr_assert_eq(cat.by_ih_v2_20(cat.ctx, NULL, h->ih_v2), h);
	cr_assert_eq(h->n_pieces, 6);
	cr_assert_eq(h->files[0].first_piece, 0);
	cr_assert_eq(h->files[1].first_piece, 2);
	cr_assert_eq(h->files[2].first_piece, 3);
	cr_assert_not_null(h->files[0].layer);
	cr_assert_null(h->files[1].layer);

	/* the info dict we hand out for ut_metadata hashes to the info-hashes;
	 * the view does not hold it, the catalog reads it from the manifest */
	cr_assert_null(h->info);
	const uint8_t *hi = cat.info(cat.ctx, NULL, h);
	cr_assert_not_null(hi);
	cr_assert_eq(cat.info(cat.ctx, NULL, h), hi, "read once, then kept");
	cr_assert_eq(served_info_bytes(sv), h->info_len);
	uint8_t d1[20], d2[32];
	tu_ref_sha1(hi, h->info_len, d1);
	tu_ref_sha256(hi, h->info_len, d2);
	cr_assert_arr_eq(d1, h->ih_v1, 20);
	cr_assert_arr_eq(d2, h->ih_v2, 32);

	/* the --also-v1 view: its own v1 info-hash, no v2, same objects */
	const struct proto_release *v = NULL;
	for (size_t i = 0; i < served_count(sv); i++) {
		const struct proto_release *x = served_release(sv, i);
		if (x != h && !strcmp(x->id, "t.g.1"))
			v = x;
	}
	cr_assert_not_null(v);
	cr_assert(v->has_v1 && !v->has_v2);
	const uint8_t *vi = cat.info(cat.ctx, NULL, v);
	cr_assert_not_null(vi);
	tu_ref_sha1(vi, v->info_len, d1);
	cr_assert_arr_eq(d1, v->ih_v1, 20);
	cr_assert_eq(cat.by_ih_v1(cat.ctx, NULL, v->ih_v1), v);
	cr_assert_eq(v->files[2].object, h->files[2].object);

	const struct proto_release *v2 = cat.by_id(cat.ctx, NULL, "t.g.2", 5);
	cr_assert(v2 && !v2->has_v1 && v2->has_v2);
	cr_assert_eq(v2->files[0].object, h->files[0].object);
	uint8_t zero[20] = { 0 };
	cr_assert_null(cat.by_ih_v1(cat.ctx, NULL, zero));
	cr_assert_null(cat.by_ih_v2_20(cat.ctx, NULL, zero));
	cr_assert_null(cat.by_id(cat.ctx, NULL, "t.g.3", 5));

	/* MSE names a release by SHA1("req2" info-hash): each of the hybrid's
	 * two hashes, the companion's v1 hash and the v2 release's truncated
	 * hash find their view (hashes made here with OpenSSL) */
	struct {
		const struct proto_release *r;
		const uint8_t *ih;
	} want[] = { { h, h->ih_v1 }, { h, h->ih_v2 }, { v, v->ih_v1 }, { v2, v2->ih_v2 } };
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		uint8_t msg[24], req2[20];
		memcpy(msg, "req2", 4);
		memcpy(msg + 4, want[k].ih, 20);
		tu_ref_sha1(msg, sizeof(msg), req2);
		cr_assert_eq(cat.by_mse_req2(cat.ctx, NULL, req2), want[k].r, "MSE lookup %zu", k);
	}
	cr_assert_null(cat.by_mse_req2(cat.ctx, NULL, zero));
	cr_assert_null(cat.by_mse_req2(cat.ctx, NULL, h->ih_v1),
		       "a bare info-hash is not a req2 hash");

	const struct served_object *o = served_object_load(sv, h->files[2].object);
	cr_assert_eq(o->length, 70000);
	cr_assert_eq(o->length / STORE_BLOCK + 1, 5);
	served_free(sv);
	tu_rmtree(base);
}

static int fds_open(void)
{
	int n = 0;
	char p[64];
	for (int fd = 0; fd < 4096; fd++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n += access(p, F_OK) == 0;
	}
	return n;
}

/* Loading reads the manifests and torrents, no object: a release of more
 * files than the process may have descriptors loads, served keeps one
 * descriptor (the store's folder) however many objects it holds, and an
 * object's table is read when asked for. A file is opened on demand, by
 * handle. */
Test(served, loading_keeps_no_object_file_open)
{
	char p[DIR_CAP], sp[DIR_CAP];
	fresh_dirs(p, sp);
	char name[32];
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "f%03d.bin", i);
		make(name, 100 + (size_t)i * 37);
	}
	create("1", METAINFO_V2, 0);
	int before = fds_open();
	struct seed_err e;
	struct served *sv = load(sp, &e);
	cr_assert_eq(served_object_count(sv), 300);
	cr_expect_eq(fds_open(), before + 1, "only the store's folder stays open");
	for (uint32_t i = 0; i < 300; i++)
		cr_assert_eq(served_object(sv, i)->state, SERVED_OBJ_UNLOADED,
			     "object %u: no table is read at start", i);
	const struct served_object *o7 = served_object_load(sv, 7);
	cr_assert_eq(o7->state, SERVED_OBJ_LOADED);
	cr_assert_eq(o7->unusable, 0);
	cr_assert_not_null(o7->block_xxh);
	struct store_geom g7;
	served_object_geom(o7, &g7);
	cr_expect_eq(g7.n_blocks, 1, "a file of %llu bytes", (unsigned long long)o7->length);
	cr_expect_eq(o7->k, STORE_PARITY_K);
	cr_expect_eq(sizeof(struct served_object), 56, "memory per object (docs/dataplane.md)");
	cr_expect_eq(sizeof(struct proto_file), 40, "memory per file (docs/dataplane.md)");
	cr_expect_eq(served_object(sv, 8)->state, SERVED_OBJ_UNLOADED, "only what was asked for");
	cr_expect_null(served_object_load(sv, 300));
	const struct proto_release *r = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r);
	for (uint32_t i = 0; i < r->n_files; i += 50) {
		int fd = served_open_object(sv, r->files[i].object);
		cr_assert_geq(fd, 0, "file %u: %d", i, fd);
		/* the object: a header, then the file's bytes */
		struct stat stt;
		cr_assert_eq(fstat(fd, &stt), 0);
		cr_expect_geq((uint64_t)stt.st_size, STORE_OBJ_HEADER + 100 + (uint64_t)i * 37);
		close(fd);
	}
	cr_expect_eq(served_open_object(sv, 300), -EINVAL, "no such handle");
	served_free(sv);
	cr_expect_eq(fds_open(), before);
	tu_rmtree(base);
}

/* A refresh adds the releases created since, keeps every view and object
 * handle a worker may hold, drops removed releases from lookups and frees
 * their views once every worker moved on (not before: a worker that never
 * entered the new generation keeps them alive), and publishes the catalog
 * it is given. */
Test(served, refresh_adds_releases_and_frees_removed_views)
{
	char p[DIR_CAP], sp[DIR_CAP];
	fresh_dirs(p, sp);
	make("a.bin", 40000);
	create("1", METAINFO_V2, 0);

	struct seed_err e;
	struct served *sv = create_served(sp, 2, &e);
	cr_assert_eq(served_count(sv), 1);
	cr_assert_null(served_current_catalog(sv));
	const struct proto_release *r1 = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r1);
	uint32_t obj_a = r1->files[0].object;
	uint64_t g1 = served_generation(sv);
	cr_assert_null(served_by_id(sv, "t.g.2", 5));

	make("b.bin", 9000);
	create("2", METAINFO_V2, 0);
	struct catalog *cat;
	cr_assert_eq(catalog_create(7, 1, &cat, &e), 0, "%s", e.msg);
	served_enter(sv, 0);
	cr_assert_eq(served_refresh(sv, cat, &e), 0, "%s", e.msg);
	cr_expect_gt(served_generation(sv), g1);
	cr_expect_eq(served_current_catalog(sv), cat, "the catalog is published with the index");
	cr_expect_eq(served_count(sv), 2, "t.g.1 is unchanged: one new view only");
	cr_expect_eq(served_by_id(sv, "t.g.1", 5), r1, "an unchanged release keeps its view");
	const struct proto_release *r2 = served_by_id(sv, "t.g.2", 5);
	cr_assert_not_null(r2, "the new release is found after the refresh");
	cr_expect_eq(r2->files[0].object, obj_a, "a.bin is the same object in both releases");
	cr_expect_eq(served_object_count(sv), 2);
	cr_expect_not_null(served_object_load(sv, r2->files[1].object));

	/* remove t.g.1 from the store: lookups forget it and its view is no
	 * longer handed out; its memory goes once both workers entered the
	 * generation that dropped it */
	struct store *st;
	cr_assert_eq(store_open(sp, STORE_WRITE, &st, &e), 0, "%s", e.msg);
	cr_assert_eq(store_release_remove(st, "t.g.1", &e), 0, "%s", e.msg);
	store_close(st);
	served_enter(sv, 0);
	served_enter(sv, 1);
	uint32_t h1 = r1->handle, h2 = r2->handle;
	cr_assert_eq(served_refresh(sv, NULL, &e), 0, "%s", e.msg);
	cr_expect_null(served_by_id(sv, "t.g.1", 5), "a removed release is not found");
	cr_expect_not_null(served_by_id(sv, "t.g.2", 5));
	cr_expect_null(served_release(sv, h1), "a removed release's view is not handed out");
	cr_expect_eq(served_release(sv, h2), r2);
	cr_expect_eq(served_live_count(sv), 1);
	cr_expect_null(served_current_catalog(sv));
	cr_expect_eq(served_views_freed(sv), 0, "worker 0 and 1 may still use it this pass");
	served_enter(sv, 0);
	served_reclaim(sv);
	cr_expect_eq(served_views_freed(sv), 0, "worker 1 has not entered the new generation");
	served_enter(sv, 1);
	served_reclaim(sv);
	cr_expect_eq(served_views_freed(sv), 1, "both workers moved on: its memory is freed");
	cr_expect_eq(served_count(sv), 2, "its handle is not reused");
	cr_expect_eq(served_by_id(sv, "t.g.2", 5), r2, "the other release is untouched");
	cr_expect_str_eq(r2->files[0].path, "a.bin");

	/* created again: a new view, a new handle */
	create("1", METAINFO_V2, 0);
	cr_assert_eq(served_refresh(sv, NULL, &e), 0, "%s", e.msg);
	const struct proto_release *r1b = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r1b);
	cr_expect_neq(r1b->handle, h1);
	cr_expect_eq(r1b->files[0].object, obj_a, "its object is found again");
	served_free(sv);
	tu_rmtree(base);
}

/* Overwrites n bytes at off of path with zeros. */
static void zero_at(const char *path, uint64_t off, size_t n)
{
	uint8_t z[4096] = { 0 };
	int fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_leq(n, sizeof(z));
	cr_assert_eq(pwrite(fd, z, n, (off_t)off), (ssize_t)n, "%s", path);
	close(fd);
}

/* A damaged copy of an object's block table costs nothing: the other copy
 * serves. Both copies damaged: the table is rebuilt from the data when the
 * data still matches its pieces root. When it does not, that file alone is
 * lost: the release loads, that file's object is unusable (no descriptor,
 * no table, the manifest's length so requests still resolve and are
 * refused), and every other file keeps its verified table. A missing
 * object file is the same. */
Test(served, damaged_object_leaves_the_rest_served)
{
	char p[DIR_CAP], sp[DIR_CAP];
	fresh_dirs(p, sp);
	make("a.bin", 40000);
	make("b.bin", 70000);
	make("c.bin", 9000);
	create("1", METAINFO_V2, 0);

	struct seed_err e;
	struct served *sv = load(sp, &e);
	const struct proto_release *r = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r);
	cr_assert_eq(r->n_files, 3);
	static const char *const names[] = { "a.bin", "b.bin", "c.bin" };
	uint8_t roots[3][32], table_b[5 * 16];
	memcpy(table_b, served_object_load(sv, r->files[1].object)->block_xxh, sizeof(table_b));
	for (size_t i = 0; i < 3; i++) {
		cr_assert_str_eq(r->files[i].path, names[i]);
		memcpy(roots[i], r->files[i].root, 32);
		cr_assert_eq(served_object_load(sv, r->files[i].object)->unusable, 0);
	}
	served_free(sv);

	struct store *st;
	cr_assert_eq(store_open(sp, STORE_READ, &st, &e), 0, "%s", e.msg);
	char *pb = store_obj_path(st, roots[1]), *pc = store_obj_path(st, roots[2]);
	store_close(st);
	/* b.bin's block table: 5 blocks, 80 bytes, where store.h puts it */
	struct store_geom g;
	store_geom(70000, STORE_PARITY_K, STORE_PARITY_M, STORE_OBJ_VERSION, &g);
	zero_at(pb, g.table1, 5 * 16);
	cr_assert_eq(unlink(pc), 0, "%s", pc);
	cr_assert_eq(served_load(sp, &sv, &e), 0, "%s", e.msg);
	r = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r);
	const struct served_object *o2 = served_object_load(sv, r->files[1].object);
	cr_assert_eq(o2->unusable, 0, "b.bin's second table copy serves");
	cr_assert_arr_eq(o2->block_xxh, table_b, sizeof(table_b));
	cr_expect_eq(served_object_load(sv, r->files[2].object)->unusable, 1,
		     "a missing object is unusable");
	served_free(sv);

	zero_at(pb, g.table2, 5 * 16);

	cr_assert_eq(served_load(sp, &sv, &e), 0, "a damaged object fails the load: %s", e.msg);
	r = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r, "the release is still served");
	const struct served_object *oa = served_object_load(sv, r->files[0].object);
	const struct served_object *ob = served_object_load(sv, r->files[1].object);
	const struct served_object *oc = served_object_load(sv, r->files[2].object);
	cr_assert(oa && ob && oc);
	cr_expect_eq(oa->unusable, 0);
	int fd = served_open_object(sv, r->files[0].object);
	cr_expect_geq(fd, 0, "a.bin's file opens: %d", fd);
	close(fd);
	cr_expect_not_null(oa->block_xxh);
	cr_expect_eq(oa->length, 40000);
	/* both tables zeroed, the data whole: the table is rebuilt from it */
	cr_expect_eq(ob->unusable, 0, "b.bin's table is rebuilt from its data");
	fd = served_open_object(sv, r->files[1].object);
	cr_expect_geq(fd, 0, "b.bin's file opens: %d", fd);
	close(fd);
	cr_assert_not_null(ob->block_xxh);
	cr_expect_arr_eq(ob->block_xxh, table_b, sizeof(table_b));
	cr_expect_eq(ob->length, 70000);
	cr_expect_eq(ob->k, STORE_PARITY_K);
	cr_expect_eq(ob->m, STORE_PARITY_M);
	cr_expect_eq(oc->unusable, 1, "a missing object is unusable");
	cr_expect_eq(served_open_object(sv, r->files[2].object), -ENOENT);
	cr_expect_eq(oc->length, 9000);
	served_free(sv);

	/* and a data byte too: nothing to rebuild from, the file alone is refused */
	zero_at(pb, 4096 + 100, 64);
	cr_assert_eq(served_load(sp, &sv, &e), 0, "a damaged object fails the load: %s", e.msg);
	r = served_by_id(sv, "t.g.1", 5);
	cr_assert_not_null(r, "the release is still served");
	ob = served_object_load(sv, r->files[1].object);
	cr_expect_eq(served_object_load(sv, r->files[0].object)->unusable, 0);
	cr_expect_eq(ob->unusable, 1, "tables and data bad: b.bin's object is unusable");
	cr_expect_null(ob->block_xxh);
	cr_expect_eq(ob->length, 70000);
	cr_expect_eq(ob->k, 0, "no parity: unusable");
	served_free(sv);
	free(pb);
	free(pc);
	tu_rmtree(base);
}

/* served_release_info with the loader running, until it answers (the
 * worker's side: ask, enter the next pass, ask again); bounded. */
static const uint8_t *info_wait(struct served *sv, uint32_t handle, int ms)
{
	for (int i = 0; i < ms; i++) {
		served_enter(sv, 0);
		const uint8_t *p = served_release_info(sv, 0, handle);
		if (p)
			return p;
		usleep(1000);
	}
	return NULL;
}

/* Info dicts are read by the loader when a worker asks, kept within the
 * budget (least recently asked for evicted first), and an evicted one stays
 * readable until the worker has gone round its loop: ASan would catch a
 * read of freed memory below. A manifest that no longer matches the view
 * is never served from. */
Test(served, info_dicts_read_on_demand_within_a_budget)
{
	char p[DIR_CAP], sp[DIR_CAP];
	fresh_dirs(p, sp);
	make("a.bin", 40000);
	create("1", METAINFO_HYBRID, 0);
	make("b.bin", 9000);
	create("2", METAINFO_HYBRID, 0);

	struct seed_err e;
	struct served *sv = create_served(sp, 1, &e);
	served_set_info_budget(sv, 1); /* one at a time */
	int wake = -1;
	cr_assert_eq(served_start_loader(sv, &wake, &e), 0, "%s", e.msg);
	const struct proto_release *r1 = served_by_id(sv, "t.g.1", 5);
	const struct proto_release *r2 = served_by_id(sv, "t.g.2", 5);
	cr_assert(r1 && r2);
	cr_assert_null(r1->info);

	const uint8_t *i1 = info_wait(sv, r1->handle, 5000);
	cr_assert_not_null(i1, "the loader read t.g.1's info dict");
	uint8_t d[20];
	tu_ref_sha1(i1, r1->info_len, d);
	cr_assert_arr_eq(d, r1->ih_v1, 20);
	cr_assert_eq(served_info_bytes(sv), r1->info_len);

	/* asking for t.g.2 evicts t.g.1's; this pass may still read it */
	const uint8_t *i2 = NULL;
	for (int i = 0; i < 5000 && !i2; i++) {
		i2 = served_release_info(sv, 0, r2->handle);
		if (!i2)
			usleep(1000);
	}
	cr_assert_not_null(i2);
	tu_ref_sha1(i1, r1->info_len, d);
	cr_assert_arr_eq(d, r1->ih_v1, 20, "an evicted dict outlives the pass that held it");
	tu_ref_sha1(i2, r2->info_len, d);
	cr_assert_arr_eq(d, r2->ih_v1, 20);
	cr_assert_eq(served_info_bytes(sv), r2->info_len, "within the budget: one kept");

	/* and t.g.1 comes back when asked for again */
	const uint8_t *i1b = info_wait(sv, r1->handle, 5000);
	cr_assert_not_null(i1b);
	tu_ref_sha1(i1b, r1->info_len, d);
	cr_assert_arr_eq(d, r1->ih_v1, 20);

	/* t.g.2 replaced in the store by different files under the same id
	 * while the view of the old one is served: its dict is not read */
	struct store *st;
	cr_assert_eq(store_open(sp, STORE_WRITE, &st, &e), 0, "%s", e.msg);
	cr_assert_eq(store_release_remove(st, "t.g.2", &e), 0, "%s", e.msg);
	store_close(st);
	make("c.bin", 7000);
	create("2", METAINFO_HYBRID, 0);
	cr_assert_null(info_wait(sv, r2->handle, 500),
		       "a manifest that is not the view's is not served from");
	served_free(sv);
	tu_rmtree(base);
}
