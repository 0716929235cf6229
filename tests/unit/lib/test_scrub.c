/*
 * Unit tests for lib/scrub.c: a release of two files is damaged in chosen
 * places (data blocks, parity blocks, one or both copies of a block table,
 * a manifest copy) and scrubbed; what the scrub reports is checked against
 * what was damaged, and lib/verify.c (which shares no code with the scrub's
 * repairs) must find the store whole afterwards. Damage beyond the parity is
 * reported as lost and left as it is.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../storeutil.h"
#include "parity.h"
#include "scrub.h"
#include "store_int.h"
#include "verify.h"

/* big.bin: 300000 bytes, 19 blocks, 2 stripes of 16+2 so 4 parity blocks
 * (the last stripe holds 3 blocks: whole ones); its table (23 entries, 368
 * bytes; version 5: one more for its leaf group, then 19 leaves of 32
 * bytes) fits in a header's sector: copy 1 at 128, parity at 307200,
 * header 2 at 372736 with table copy 2 at 372864; the leaves after each
 * table copy's 24 entries */
#define BIG_LEN	   300000
#define TABLE1	   128
#define TABLE2	   372864
#define LEAVES1	   (TABLE1 + 24 * 16)
#define LEAVES2	   (TABLE2 + 24 * 16)
#define PARITY	   307200
#define DATA(b, o) (4096 + (b)*16384 + (o))
/* small.bin: 1000 bytes, one block: header and table copy 1 in the first
 * 4 KiB, the data, two parity shards of 4 KiB (one block of 1000 bytes in
 * its stripe), header and table copy 2: 20 KiB in all */
#define SMALL_LEN     1000
#define SMALL_PARITY  8192
#define SMALL_HEADER2 16384
#define SMALL_SIZE    20480
/* the same objects in version 3: big.bin's tables at 307200 and 311296,
 * parity at 315392; small.bin's parity at 16384 (whole blocks), 52 KiB */
#define V3_TABLE1     307200
#define V3_TABLE2     311296
#define V3_PARITY     315392
#define V3_SMALL_SIZE 53248

static char base[TU_PATH_MAX], sp[TU_PATH_MAX + 8];
static struct store *s;
static int events;

static void build_version(uint32_t version);

static void build(void)
{
	build_version(STORE_OBJ_VERSION);
}

/* big.bin and small.bin ingested into a new store, their objects written
 * in header version `version` (3: as before format 4, through the tests'
 * hook). */
static void build_version(uint32_t version)
{
	char p[TU_PATH_MAX + 16];
	tu_tmpdir(base, "test_scrub");
	snprintf(p, sizeof(p), "%s/tree", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	char f[TU_PATH_MAX + 32];
	snprintf(f, sizeof(f), "%s/big.bin", p);
	su_write_pattern(f, BIG_LEN, 31, 1, 11);
	snprintf(f, sizeof(f), "%s/small.bin", p);
	su_write_pattern(f, 1000, 17, 2, 0);
	snprintf(sp, sizeof(sp), "%s/store", base);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(sp, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(store_set_obj_version(s, version), 0);
	struct ingest_opts o = su_opts("t", "n", "1", METAINFO_HYBRID, 65536);
	su_ingest_into(s, p, &o, NULL);
}

static void cleanup(void)
{
	store_close(s);
	tu_rmtree(base);
}

/* The object file of the release's file `name` (malloc'd). */
static char *obj_of(const char *name)
{
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	char *p = NULL;
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, name))
			p = store_obj_path(s, r->files[i].root);
	store_release_free(r);
	cr_assert_not_null(p);
	return p;
}

static char *big_obj(void)
{
	return obj_of("big.bin");
}

/* Inverts len bytes of path at off (len 0: one byte). */
static void damage(const char *path, off_t off, size_t len)
{
	uint8_t b[4096];
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0, "%s", path);
	if (!len)
		len = 1;
	cr_assert_leq(len, sizeof(b));
	cr_assert_eq(pread(fd, b, len, off), (ssize_t)len);
	for (size_t i = 0; i < len; i++)
		b[i] ^= 0xff;
	cr_assert_eq(pwrite(fd, b, len, off), (ssize_t)len);
	close(fd);
}

static void on_event(void *arg, const char *rel, const char *file, const char *what)
{
	(void)arg;
	cr_log_info("scrub: %s: %s: %s", rel, file, what);
	events++;
}

static int scrub(struct scrub_stats *st)
{
	struct seed_err e;
	seed_err_clear(&e);
	events = 0;
	int rc = scrub_store(s, NULL, HASH_IMPL_MB, on_event, NULL, st, &e);
	cr_assert_geq(rc, 0, "%s", e.msg);
	return rc;
}

/* What lib/verify finds bad in the release now. */
static int verify_bad(void)
{
	struct store_release *r;
	struct verify_stats vs;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_release_load(s, "t.n.1", &r, &e), 0, "%s", e.msg);
	int rc = verify_release(s, r, HASH_IMPL_MB, NULL, NULL, &vs, &e);
	store_release_free(r);
	cr_assert_geq(rc, 0, "%s", e.msg);
	return rc;
}

#define EXPECT(st, field, v)                                                \
	cr_assert_eq((st).field, (uint64_t)(v), #field ": %llu, want %llu", \
		     (unsigned long long)(st).field, (unsigned long long)(v))

/* A scrub that finds the store whole afterwards, having rebuilt `blocks`
 * data blocks and `parity` parity shards and rewritten `copies` metadata
 * copies, nothing lost. */
static void scrub_repairs(uint64_t blocks, uint64_t parity, uint64_t copies)
{
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, blocks_rebuilt, blocks);
	EXPECT(st, parity_rebuilt, parity);
	EXPECT(st, copies_rewritten, copies);
	EXPECT(st, blocks_lost + st.objects_lost, 0);
}

Test(scrub, a_whole_store_is_left_as_it_is)
{
	build();
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, releases, 1);
	EXPECT(st, objects, 2);
	EXPECT(st, bytes, BIG_LEN + 1000);
	EXPECT(st, copies_rewritten + st.tables_rebuilt + st.blocks_rebuilt + st.parity_rebuilt, 0);
	cr_assert_eq(events, 0);
	cleanup();
}

Test(scrub, repairs_blocks_parity_and_a_table_copy)
{
	build();
	char *obj = big_obj();
	damage(obj, DATA(5, 100), 0);	    /* stripe 0 */
	damage(obj, DATA(17, 3), 0);	    /* stripe 1 */
	damage(obj, DATA(18, 4000), 0);	    /* stripe 1 again: 2 of 3 + 2 */
	damage(obj, PARITY + 16384 + 9, 0); /* stripe 0, parity 2 */
	damage(obj, TABLE1 + 40, 16);	    /* table copy 1 */
	cr_assert_gt(verify_bad(), 0);
	scrub_repairs(3, 1, 1);
	cr_assert_eq(events, 5);
	cr_assert_eq(verify_bad(), 0, "lib/verify still finds damage after the scrub");
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	cr_assert_eq(events, 0, "a second scrub found something again");
	free(obj);
	cleanup();
}

Test(scrub, both_tables_lost_rebuilt_from_the_data)
{
	build();
	char *obj = big_obj();
	damage(obj, TABLE1, 23 * 16);
	damage(obj, TABLE2, 23 * 16);
	damage(obj, PARITY + 3 * 16384 + 1, 0); /* and a parity block */
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, tables_rebuilt, 1);
	EXPECT(st, parity_rebuilt, 1);
	EXPECT(st, blocks_lost + st.objects_lost, 0);
	cr_assert_eq(verify_bad(), 0);
	free(obj);
	cleanup();
}

Test(scrub, damage_beyond_repair_is_reported_and_left)
{
	build();
	char *obj = big_obj();
	damage(obj, DATA(1, 0), 0);
	damage(obj, DATA(2, 0), 0);
	damage(obj, DATA(3, 0), 0); /* 3 of stripe 0's 16 + 2 */
	struct stat before, after;
	cr_assert_eq(stat(obj, &before), 0);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 1);
	EXPECT(st, blocks_lost, 3);
	EXPECT(st, blocks_rebuilt, 0);
	cr_assert_eq(verify_bad(), 3 + 1, "three blocks and the stripe beyond repair");

	/* both tables gone and the data bad too: the table cannot be rebuilt */
	damage(obj, TABLE1, 16);
	damage(obj, TABLE2, 16);
	cr_assert_eq(scrub(&st), 1);
	EXPECT(st, objects_lost, 1);
	EXPECT(st, tables_rebuilt, 0);
	cr_assert_eq(stat(obj, &after), 0);
	cr_assert_eq(after.st_size, before.st_size);
	free(obj);
	cleanup();
}

Test(scrub, a_manifest_copy_is_rewritten)
{
	build();
	char p[TU_PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/releases/t.n.1.rel.2", sp);
	damage(p, 50, 0);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, copies_rewritten, 1);
	cr_assert_eq(events, 1);
	cr_assert_eq(scrub(&st), 0);
	cr_assert_eq(events, 0);
	cleanup();
}

static char last_event[400];

static void keep_event(void *arg, const char *rel, const char *file, const char *what)
{
	(void)arg;
	snprintf(last_event, sizeof(last_event), "%s: %s: %s", rel, file, what);
	events++;
}

Test(scrub, a_truncated_object_is_lost_never_misread)
{
	build();
	char *obj = big_obj();
	struct stat sb;
	cr_assert_eq(stat(obj, &sb), 0);
	cr_assert_eq(truncate(obj, sb.st_size - 20000), 0); /* header 2 and parity cut */
	struct scrub_stats st;
	struct seed_err e;
	seed_err_clear(&e);
	events = 0;
	cr_assert_eq(scrub_store(s, NULL, HASH_IMPL_MB, keep_event, NULL, &st, &e), 1, "%s", e.msg);
	EXPECT(st, objects_lost, 1);
	EXPECT(st, tables_rebuilt + st.blocks_rebuilt, 0);
	cr_assert_not_null(strstr(last_event, "big.bin"), "%s", last_event);
	cr_assert_not_null(strstr(last_event, "fits no layout"), "%s", last_event);
	cr_assert_eq(stat(obj, &sb), 0);
	free(obj);
	cleanup();
}

Test(scrub, one_release_or_an_unknown_one)
{
	build();
	struct scrub_stats st;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(scrub_store(s, "t.n.1", HASH_IMPL_MB, NULL, NULL, &st, &e), 0, "%s", e.msg);
	EXPECT(st, releases, 1);
	EXPECT(st, objects, 2);
	seed_err_clear(&e);
	cr_assert_eq(scrub_store(s, "t.n.9", HASH_IMPL_MB, NULL, NULL, &st, &e), -ENOENT);
	cr_assert_not_null(strstr(e.msg, "no release t.n.9"), "%s", e.msg);
	struct scrub_last last;
	cr_assert_eq(scrub_last(sp, &last, &e), 0, "%s", e.msg);
	cr_assert_str_eq(last.only, "t.n.1", "the record is of the last scrub that ran");
	cr_assert(last.whole);
	scrub_last_free(&last);
	cleanup();
}

/* ---- the background scrub (scrub_background) ---- */

static int bg(struct scrub_stats *st, const atomic_int *stop)
{
	struct seed_err e;
	seed_err_clear(&e);
	events = 0;
	struct scrub_opts o = {
		.impl = HASH_IMPL_MB, .rate = 0, .stop = stop, .on_event = on_event
	};
	int rc = scrub_background(sp, &o, st, &e);
	cr_assert(rc >= 0 || rc == -ECANCELED, "%d %s", rc, e.msg);
	return rc;
}

static void reopen(void)
{
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(sp, STORE_WRITE, &s, &e), 0, "%s", e.msg);
}

Test(scrub, background_repairs_what_it_finds_under_the_lock)
{
	build();
	char *obj = big_obj();
	damage(obj, DATA(5, 100), 0);
	damage(obj, PARITY + 16384 + 9, 0);
	damage(obj, TABLE2 + 40, 16);
	char p[TU_PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/releases/t.n.1.rel.2", sp);
	damage(p, 50, 0);
	store_close(s); /* the pass takes the writer lock itself, per repair */
	s = NULL;
	struct scrub_stats st;
	cr_assert_eq(bg(&st, NULL), 0);
	EXPECT(st, releases, 1);
	EXPECT(st, objects, 2);
	EXPECT(st, blocks_rebuilt, 1);
	EXPECT(st, parity_rebuilt, 1);
	EXPECT(st, copies_rewritten, 2); /* a table copy and a manifest copy */
	EXPECT(st, blocks_lost + st.objects_lost + st.repairs_failed, 0);
	struct scrub_last last;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(scrub_last(sp, &last, &e), 0, "%s", e.msg);
	cr_assert(last.whole);
	cr_assert_eq(last.st.blocks_rebuilt, 1);
	/* the tenant's record: the background pass counts per tenant too */
	cr_assert_eq(last.n_tenants, 1);
	cr_assert_str_eq(last.tenants[0].tenant, "t");
	cr_assert_eq(last.tenants[0].st.blocks_rebuilt, 1);
	cr_assert_eq(last.tenants[0].st.objects, 2);
	scrub_last_free(&last);
	cr_assert_eq(bg(&st, NULL), 0);
	cr_assert_eq(events, 0, "a second pass found something again");
	reopen();
	cr_assert_eq(verify_bad(), 0, "lib/verify still finds damage after the pass");
	free(obj);
	cleanup();
}

static atomic_int stop_flag;

static void *stop_later(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	atomic_store(&stop_flag, 1);
	return NULL;
}

Test(scrub, background_takes_no_lock_until_it_must_repair)
{
	build(); /* s holds the writer lock from here on */
	struct scrub_stats st;
	cr_assert_eq(bg(&st, NULL), 0, "a pass over a whole store waited for the lock");
	EXPECT(st, objects, 2);

	/* damage needs the lock: the pass waits for it, nothing written, until stopped */
	char *obj = big_obj();
	damage(obj, DATA(2, 7), 0);
	atomic_store(&stop_flag, 0);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, stop_later, NULL), 0);
	cr_assert_eq(bg(&st, &stop_flag), -ECANCELED);
	pthread_join(t, NULL);
	EXPECT(st, blocks_rebuilt, 0);
	cr_assert_gt(verify_bad(), 0, "the pass wrote without the lock");
	free(obj);
	cleanup();
}

/* Data and both table copies changed together: only the merkle root shows it. */
Test(scrub, a_table_that_matches_wrong_data_is_found_by_the_root)
{
	build();
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	const struct store_release_file *f = NULL;
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, "big.bin"))
			f = &r->files[i];
	cr_assert_not_null(f);
	struct store_obj o;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_obj_open(s, f->root, &o, &e), 0, "%s", e.msg);
	char *obj = big_obj();
	damage(obj, DATA(4, 10), 0);
	uint8_t blk[16384];
	int fd = open(obj, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, blk, sizeof(blk), DATA(4, 0)), (ssize_t)sizeof(blk));
	hash_xxh128(blk, sizeof(blk), o.block_xxh + 4 * 16);
	for (int copy = 1; copy <= 2; copy++)
		cr_assert_eq(store_obj_write_meta(s, fd, f->root, &o.g, o.block_xxh, copy, &e), 0,
			     "%s", e.msg);
	close(fd);
	store_obj_close(&o);

	struct scrub_stats st;
	events = 0;
	cr_assert_eq(scrub_store(s, NULL, HASH_IMPL_MB, keep_event, NULL, &st, &e), 1, "%s", e.msg);
	EXPECT(st, objects_lost, 1);
	cr_assert_not_null(strstr(last_event, "merkle root"), "%s", last_event);
	store_close(s);
	s = NULL;
	cr_assert_eq(bg(&st, NULL), 1);
	EXPECT(st, objects_lost, 1);
	store_release_free(r);
	free(obj);
	cleanup();
}

/* 9 MiB: three 4 MiB chunks, so the root is built from a per-chunk layer. */
Test(scrub, a_file_of_several_chunks)
{
	char p[TU_PATH_MAX + 16], f[TU_PATH_MAX + 32];
	tu_tmpdir(base, "test_scrub");
	snprintf(p, sizeof(p), "%s/tree", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(f, sizeof(f), "%s/large.bin", p);
	su_write_pattern(f, (9u << 20) + 777, 13, 5, 3);
	snprintf(sp, sizeof(sp), "%s/store", base);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(sp, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	struct ingest_opts o = su_opts("t", "n", "1", METAINFO_V2, 1 << 20);
	su_ingest_into(s, p, &o, NULL);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, objects, 1);
	EXPECT(st, objects_lost, 0);
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	char *obj = store_obj_path(s, r->files[0].root);
	store_release_free(r);
	damage(obj, DATA(530, 9), 0); /* in the third chunk */
	store_close(s);
	s = NULL;
	cr_assert_eq(bg(&st, NULL), 0);
	EXPECT(st, blocks_rebuilt, 1);
	free(obj);
	cleanup();
}

/* ---- one block the data plane found bad (scrub_block) ---- */

static int big_root(uint8_t root[32])
{
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	int found = 0;
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, "big.bin")) {
			memcpy(root, r->files[i].root, 32);
			found = 1;
		}
	store_release_free(r);
	return found;
}

Test(scrub, one_block_mends_its_stripe_only)
{
	build();
	uint8_t root[32];
	cr_assert(big_root(root));
	char *obj = big_obj();
	damage(obj, DATA(5, 100), 0);	    /* the block the data plane reports */
	damage(obj, PARITY + 16384 + 9, 0); /* stripe 0's parity 2 */
	damage(obj, DATA(17, 3), 0);	    /* stripe 1: not asked about */
	struct scrub_stats st;
	struct seed_err e;
	seed_err_clear(&e);
	events = 0;
	cr_assert_eq(scrub_block(s, root, BIG_LEN, 5, HASH_IMPL_MB, on_event, NULL, &st, &e), 0,
		     "%s", e.msg);
	EXPECT(st, blocks_rebuilt, 1);
	EXPECT(st, parity_rebuilt, 1);
	cr_assert_eq(events, 2);
	cr_assert_eq(verify_bad(), 1, "stripe 1 was left for the next scrub");
	cr_assert_eq(scrub_block(s, root, BIG_LEN, 17, HASH_IMPL_MB, NULL, NULL, &st, &e), 0);
	EXPECT(st, blocks_rebuilt, 1);
	cr_assert_eq(verify_bad(), 0);

	/* a bad table copy: the object is scrubbed whole */
	damage(obj, TABLE1 + 40, 16);
	damage(obj, DATA(1, 1), 0);
	cr_assert_eq(scrub_block(s, root, BIG_LEN, 18, HASH_IMPL_MB, NULL, NULL, &st, &e), 0);
	EXPECT(st, copies_rewritten, 1);
	EXPECT(st, blocks_rebuilt, 1);
	cr_assert_eq(verify_bad(), 0);

	/* beyond the parity: 1, nothing written; a removed object: 0 */
	damage(obj, DATA(1, 0), 0);
	damage(obj, DATA(2, 0), 0);
	damage(obj, DATA(3, 0), 0);
	cr_assert_eq(scrub_block(s, root, BIG_LEN, 2, HASH_IMPL_MB, NULL, NULL, &st, &e), 1);
	EXPECT(st, blocks_lost, 3);
	cr_assert_eq(unlink(obj), 0);
	cr_assert_eq(scrub_block(s, root, BIG_LEN, 2, HASH_IMPL_MB, NULL, NULL, &st, &e), 0);
	free(obj);
	cleanup();
}

/* ---- compact objects (version 4) and objects of version 3 ---- */

static off_t size_of(const char *path)
{
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	return sb.st_size;
}

static uint32_t version_of(const char *name, uint32_t *k)
{
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	struct store_obj o;
	uint32_t v = 0;
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, name)) {
			struct seed_err e;
			seed_err_clear(&e);
			cr_assert_eq(store_obj_open(s, r->files[i].root, &o, &e), 0, "%s", e.msg);
			cr_assert_eq(o.bad_copies, 0);
			v = o.g.version;
			if (k)
				*k = o.g.k;
			store_obj_close(&o);
		}
	store_release_free(r);
	return v;
}

Test(scrub, a_one_block_object_is_rebuilt_from_its_short_parity)
{
	build();
	char *obj = obj_of("small.bin");
	cr_assert_eq(size_of(obj), SMALL_SIZE);
	damage(obj, 4096 + 10, 0); /* its only data block */
	cr_assert_eq(verify_bad(), 1);
	scrub_repairs(1, 0, 0);
	cr_assert_eq(verify_bad(), 0, "the block rebuilt from 4 KiB parity shards is whole");

	/* two of its three shards: the data and a parity shard, m = 2 */
	damage(obj, 4096 + 999, 0);
	damage(obj, SMALL_PARITY + 4096 + 4095, 0); /* the last byte of parity 2 */
	scrub_repairs(1, 1, 0);
	cr_assert_eq(verify_bad(), 0);
	/* and the one the data plane reports */
	damage(obj, 4096 + 500, 0);
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	uint8_t root[32];
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, "small.bin"))
			memcpy(root, r->files[i].root, 32);
	store_release_free(r);
	struct scrub_stats st;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(scrub_block(s, root, SMALL_LEN, 0, HASH_IMPL_MB, NULL, NULL, &st, &e), 0, "%s",
		     e.msg);
	EXPECT(st, blocks_rebuilt, 1);
	cr_assert_eq(verify_bad(), 0);
	cr_assert_eq(size_of(obj), SMALL_SIZE);
	free(obj);
	cleanup();
}

/* Both header sectors of a compact object gone (each holds a header and
 * its table copy): many layouts fit its 20 KiB (16+2 and every other k with
 * m = 2, and a version 2 object of one block), and the store's parity is
 * no longer the object's; the one whose parity is on disk is taken. */
Test(scrub, both_metadata_sectors_of_a_compact_object_rebuilt)
{
	build();
	char *obj = obj_of("small.bin");
	damage(obj, 0, 4096);
	damage(obj, SMALL_HEADER2, 4096);
	damage(obj, SMALL_PARITY + 7, 0); /* and parity shard 1 */
	store_close(s);
	char fmt[TU_PATH_MAX + 16];
	snprintf(fmt, sizeof(fmt), "%s/FORMAT", sp);
	const char *f = "bitstream-store 4\nparity 4+2\n";
	cr_assert_eq(fsu_write_atomic(fmt, f, strlen(f), 0644, NULL), 0);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(sp, STORE_WRITE, &s, &e), 0, "%s", e.msg);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, tables_rebuilt, 1);
	EXPECT(st, parity_rebuilt, 1);
	EXPECT(st, blocks_lost + st.objects_lost, 0);
	uint32_t k = 0;
	cr_assert_eq(version_of("small.bin", &k), STORE_OBJ_VERSION);
	cr_assert_eq(k, 16, "the layout the disk holds, not the store's 4+2");
	cr_assert_eq(verify_bad(), 0);
	cr_assert_eq(size_of(obj), SMALL_SIZE);
	free(obj);
	cleanup();
}

/* A store upgraded to format 4 keeps its version 3 objects: the scrub
 * repairs them in their own layout and leaves them version 3. */
Test(scrub, a_version_3_object_is_scrubbed_in_its_own_layout)
{
	build_version(3);
	char *obj = big_obj(), *small = obj_of("small.bin");
	cr_assert_eq(size_of(obj), V3_PARITY + 4 * 16384 + 4096);
	cr_assert_eq(size_of(small), V3_SMALL_SIZE);
	cr_assert_eq(version_of("big.bin", NULL), 3);
	damage(obj, DATA(5, 100), 0);
	damage(obj, V3_PARITY + 3 * 16384 + 9, 0); /* stripe 1, parity 2 */
	damage(obj, V3_TABLE1 + 40, 16);
	damage(small, 4096 + 3, 0);
	damage(small, 16384 + 16383, 0); /* the end of its whole-block parity 1 */
	cr_assert_gt(verify_bad(), 0);
	scrub_repairs(2, 2, 1);
	cr_assert_eq(verify_bad(), 0);
	cr_assert_eq(version_of("big.bin", NULL), 3, "a rewritten copy keeps its version");

	/* both tables: rebuilt from the data, in the version 3 layout the
	 * size says */
	damage(obj, V3_TABLE1, 23 * 16);
	damage(obj, V3_TABLE2, 23 * 16);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	EXPECT(st, tables_rebuilt, 1);
	EXPECT(st, blocks_lost + st.objects_lost, 0);
	cr_assert_eq(version_of("big.bin", NULL), 3);
	cr_assert_eq(verify_bad(), 0);
	cr_assert_eq(size_of(obj), V3_PARITY + 4 * 16384 + 4096);
	free(small);
	free(obj);
	cleanup();
}

/* Reads n bytes of path at off (malloc'd). */
static uint8_t *read_back(const char *path, off_t off, size_t n)
{
	uint8_t *b = malloc(n);
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pread(fd, b, n, off), (ssize_t)n);
	close(fd);
	return b;
}

/*
 * Issue 14's leaf check: block 5 of big.bin is replaced by other bytes
 * whose XXH3-128 goes into both table copies and from which the stripe's
 * parity is recomputed, so that everything but its SHA-256 leaf agrees with
 * the wrong bytes (a table and parity written wrong). verify names the
 * block by its leaf; when the block then rots, the stripe rebuilds the
 * wrong bytes, which match their XXH3-128: the scrub refuses them on their
 * leaf (counted lost, the block left as it is, nothing written).
 */
Test(scrub, a_rebuilt_block_whose_leaf_does_not_match_is_refused)
{
	build();
	char *obj = big_obj();
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "t.n.1", &r, NULL), 0);
	const uint8_t *root = NULL;
	for (size_t i = 0; i < r->n_files; i++)
		if (!strcmp(r->files[i].path, "big.bin"))
			root = r->files[i].root;
	struct store_obj o;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_obj_open(s, root, &o, &e), 0, "%s", e.msg);
	const struct store_geom *g = &o.g;
	cr_assert_eq(g->n_leafgrp, 1);
	cr_assert_eq(g->leaves1, LEAVES1);
	cr_assert_eq(g->leaves2, LEAVES2);
	int fd = open(obj, O_RDWR);
	cr_assert_geq(fd, 0);
	/* stripe 0: blocks 0-15, whole; block 5 becomes other bytes */
	uint8_t *stripe = read_back(obj, DATA(0, 0), 16 * 16384);
	for (size_t i = 0; i < 16384; i += 64)
		stripe[5 * 16384 + i] ^= 0x5a;
	cr_assert_eq(pwrite(fd, stripe + 5 * 16384, 16384, DATA(5, 0)), 16384);
	hash_xxh128(stripe + 5 * 16384, 16384, o.block_xxh + 5 * 16);
	struct parity par;
	cr_assert_eq(parity_init(&par, g->k, g->m, &e), 0, "%s", e.msg);
	uint8_t *d[PARITY_MAX_K], *p[PARITY_MAX_M], *pb = malloc(2 * 16384);
	for (uint32_t i = 0; i < g->k; i++)
		d[i] = stripe + (size_t)i * 16384;
	for (uint32_t j = 0; j < g->m; j++)
		p[j] = pb + (size_t)j * 16384;
	parity_encode(&par, 16384, d, p);
	for (uint32_t j = 0; j < g->m; j++) {
		uint64_t off, ent;
		cr_assert_eq(store_shard(g, 0, g->k + j, &off, &ent), 16384);
		cr_assert_eq(pwrite(fd, p[j], 16384, (off_t)off), 16384);
		hash_xxh128(p[j], 16384, o.block_xxh + ent * 16);
	}
	for (int copy = 1; copy <= 2; copy++)
		cr_assert_eq(store_obj_write_meta(s, fd, root, g, o.block_xxh, copy, &e), 0, "%s",
			     e.msg);
	close(fd);
	store_obj_close(&o);
	store_release_free(r);
	cr_assert_gt(verify_bad(), 0, "verify finds the block by its leaf");

	damage(obj, DATA(5, 100), 0);
	uint8_t *rotten = read_back(obj, DATA(5, 0), 16384);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 1, "something is lost");
	EXPECT(st, blocks_lost, 1);
	EXPECT(st, blocks_rebuilt, 0);
	EXPECT(st, parity_rebuilt, 0);
	uint8_t *after = read_back(obj, DATA(5, 0), 16384);
	cr_assert_arr_eq(after, rotten, 16384, "the block is left as it is");
	free(after);
	free(rotten);
	free(pb);
	free(stripe);
	free(obj);
	cleanup();
}

/* A bad copy of an object's leaves is rewritten from the other one; both
 * copies bad: rebuilt from the data once its merkle root is checked, also
 * when a block of the data was bad in the same pass (rebuilt first). */
Test(scrub, leaves_rewritten_and_rebuilt)
{
	build();
	char *obj = big_obj();
	damage(obj, LEAVES1 + 40, 8);
	cr_assert_gt(verify_bad(), 0, "verify reports a bad copy of the leaves");
	scrub_repairs(0, 0, 1);
	cr_assert_eq(verify_bad(), 0);
	damage(obj, LEAVES2 + 19 * 32 - 1, 0); /* the last byte of copy 2 */
	scrub_repairs(0, 0, 1);
	cr_assert_eq(verify_bad(), 0);
	damage(obj, LEAVES1, 19 * 32);
	damage(obj, LEAVES2 + 100, 0);
	scrub_repairs(0, 0, 2);
	cr_assert_eq(verify_bad(), 0);
	damage(obj, LEAVES1 + 5, 0);
	damage(obj, LEAVES2 + 300, 0);
	damage(obj, DATA(17, 3), 0);
	scrub_repairs(1, 0, 2);
	cr_assert_eq(verify_bad(), 0);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 0);
	cr_assert_eq(events, 0, "a second scrub found something again");
	free(obj);
	cleanup();
}

/* The record of tenant in the store's scrub.last (the test fails without). */
static struct scrub_tenant tenant_record(const char *tenant)
{
	struct scrub_last last;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(scrub_last(sp, &last, &e), 0, "%s", e.msg);
	const struct scrub_tenant *t = scrub_last_tenant(&last, tenant);
	cr_assert_not_null(t, "scrub.last has no record of tenant %s", tenant);
	struct scrub_tenant copy = *t;
	scrub_last_free(&last);
	return copy;
}

/*
 * Issue 14's per-tenant counters: tenant t (big.bin, small.bin) and tenant
 * u (one file of 40 blocks, 3 stripes) damaged apart; scrub.last says, per
 * tenant, what was done in its releases, equal to the damage: t two blocks
 * rebuilt, u one rebuilt and three beyond its stripe's parity. A scrub of
 * one of t's releases then replaces t's record only.
 */
Test(scrub, counts_per_tenant)
{
	build();
	char p[TU_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/tree2", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/tree2/u.bin", base);
	su_write_pattern(p, 40 * 16384, 7, 3, 9);
	snprintf(p, sizeof(p), "%s/tree2", base);
	struct ingest_opts o = su_opts("u", "n", "1", METAINFO_HYBRID, 65536);
	su_ingest_into(s, p, &o, NULL);
	struct store_release *r;
	cr_assert_eq(store_release_load(s, "u.n.1", &r, NULL), 0);
	char *uobj = store_obj_path(s, r->files[0].root), *obj = big_obj();
	store_release_free(r);
	damage(obj, DATA(1, 10), 0);
	damage(obj, DATA(17, 10), 0);
	damage(uobj, DATA(3, 10), 0);
	for (int b = 20; b < 23; b++)
		damage(uobj, DATA(b, 10), 0);
	struct scrub_stats st;
	cr_assert_eq(scrub(&st), 1, "three blocks are lost");
	EXPECT(st, blocks_rebuilt, 3);
	EXPECT(st, blocks_lost, 3);
	struct scrub_tenant t = tenant_record("t"), u = tenant_record("u");
	EXPECT(t.st, releases, 1);
	EXPECT(t.st, objects, 2);
	EXPECT(t.st, bytes, BIG_LEN + 1000);
	EXPECT(t.st, blocks_rebuilt, 2);
	EXPECT(t.st, blocks_lost, 0);
	cr_assert(t.whole);
	EXPECT(u.st, releases, 1);
	EXPECT(u.st, objects, 1);
	EXPECT(u.st, bytes, 40 * 16384);
	EXPECT(u.st, blocks_rebuilt, 1);
	EXPECT(u.st, blocks_lost, 3);
	cr_assert(!u.whole);
	cr_assert_geq(t.finished, time(NULL) - 60);
	cr_assert_eq(t.finished, u.finished);

	struct seed_err e;
	seed_err_clear(&e);
	sleep(1);
	cr_assert_eq(scrub_store(s, "t.n.1", HASH_IMPL_MB, NULL, NULL, &st, &e), 0, "%s", e.msg);
	struct scrub_tenant t2 = tenant_record("t"), u2 = tenant_record("u");
	EXPECT(t2.st, blocks_rebuilt, 0);
	EXPECT(t2.st, objects, 2);
	cr_assert_gt(t2.finished, t.finished, "t's record is of the new scrub");
	cr_assert_eq(u2.finished, u.finished, "u's record is kept");
	EXPECT(u2.st, blocks_lost, 3);
	free(uobj);
	free(obj);
	cleanup();
}

/* A scrub.last that is not one a scrub wrote is refused whole, naming the
 * line: a tenant line with a name store_check_id refuses, a counter it does
 * not know, a number out of range or missing. */
Test(scrub, a_bad_tenant_record_is_refused)
{
	static const char *const bad[] = {
		"tenant a/b finished 1 whole 1 objects 2\n",
		"tenant a finished 1 whole 1 objectz 2\n",
		"tenant a finished 1 whole 2 objects 2\n",
		"tenant a finished 1 objects 2\n",
		"tenant a finished 1 whole 1 objects -2\n",
		"tenant a finished 1 whole 1 objects 99999999999999999999999\n",
		"tenant a finished 1 whole 1 objects\n",
		"tenant\n",
	};
	char base2[TU_PATH_MAX], path[TU_PATH_MAX + 32];
	tu_tmpdir(base2, "test_scrub_last");
	snprintf(path, sizeof(path), "%s/scrub.last", base2);
	for (size_t i = 0; i < TU_N(bad); i++) {
		char text[256];
		int n = snprintf(text, sizeof(text), "finished 5\nonly \nwhole 1\nobjects 3\n%s",
				 bad[i]);
		cr_assert_eq(fsu_write_atomic(path, text, (size_t)n, 0644, NULL), 0);
		struct scrub_last last;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(scrub_last(base2, &last, &e), -EBADMSG, "%s", bad[i]);
		cr_assert_not_null(strstr(e.msg, "line 5"), "%s: %s", bad[i], e.msg);
		cr_assert_eq(last.n_tenants, 0);
		scrub_last_free(&last);
	}
	const char *ok = "finished 5\nonly \nwhole 1\ntenant a-b_C finished 4 whole 0 objects 2 "
			 "blocks_lost 7\n";
	cr_assert_eq(fsu_write_atomic(path, ok, strlen(ok), 0644, NULL), 0);
	struct scrub_last last;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(scrub_last(base2, &last, &e), 0, "%s", e.msg);
	cr_assert_eq(last.n_tenants, 1);
	const struct scrub_tenant *t = scrub_last_tenant(&last, "a-b_C");
	cr_assert_not_null(t);
	cr_assert_eq(t->finished, 4);
	cr_assert_eq(t->whole, 0);
	cr_assert_eq(t->st.objects, 2);
	cr_assert_eq(t->st.blocks_lost, 7);
	scrub_last_free(&last);
	tu_rmtree(base2);
}
