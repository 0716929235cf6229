/*
 * storeutil: scaffolding of the unit tests that put releases into a store
 * (lib: ingest, verify, store; dataplane: served; control: node), so each
 * test file holds only what it tests:
 *  - su_write_pattern/su_write_file: a file of generated or given bytes;
 *  - su_opts: the ingest options every such test starts from;
 *  - su_ingest/su_ingest_into: a directory tree ingested into a store
 *    (opened with STORE_CREATE and closed again, or one the caller holds).
 *
 * Header-only, every function static inline, on top of testutil.h; a test
 * that includes it links libseed. Failures stop the test (cr_assert).
 */
#ifndef SEED_STOREUTIL_H
#define SEED_STOREUTIL_H

#include <stdio.h>

#include "ingest.h"
#include "store.h"
#include "testutil.h"

/* Writes path: len bytes, byte i = ((i * mul + add) ^ (i >> shift)) & 0xff
 * (shift 0: no xor term). */
static inline void su_write_pattern(const char *path, size_t len, unsigned mul, unsigned add,
				    unsigned shift)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s", path);
	for (size_t i = 0; i < len; i++)
		fputc((int)(((i * mul + add) ^ (shift ? i >> shift : 0)) & 0xff), f);
	cr_assert_eq(fclose(f), 0, "%s", path);
}

/* Writes data[0..len) to path. */
static inline void su_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len, "%s", path);
	cr_assert_eq(fclose(f), 0, "%s", path);
}

/* Options for release tenant.name.version of kind, one thread, created at
 * time 1; the caller changes what its test needs (also_v1, threads, ...). */
static inline struct ingest_opts su_opts(const char *tenant, const char *name, const char *version,
					 enum metainfo_kind kind, uint64_t piece_length)
{
	return (struct ingest_opts){ .tenant = tenant,
				     .name = name,
				     .version = version,
				     .kind = kind,
				     .piece_length = piece_length,
				     .threads = 1,
				     .now = 1 };
}

/* Ingests the tree at dir into s. out_r may be NULL (the result is freed). */
static inline void su_ingest_into(struct store *s, const char *dir, const struct ingest_opts *o,
				  struct ingest_result *out_r)
{
	struct ingest_tree *t;
	struct ingest_result r;
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(ingest_scan(dir, &t, &e), 0, "%s: %s", dir, e.msg);
	cr_assert_eq(ingest_create(s, t, o, &r, &e), 0, "%s", e.msg);
	ingest_tree_free(t);
	if (out_r)
		*out_r = r;
	else
		ingest_result_free(&r);
}

/* su_ingest_into the store at store_dir, created if need be. */
static inline void su_ingest(const char *store_dir, const char *dir, const struct ingest_opts *o,
			     struct ingest_result *out_r)
{
	struct store *s;
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(store_open(store_dir, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	su_ingest_into(s, dir, o, out_r);
	store_close(s);
}

#endif
