/*
 * Unit tests for lib/store.c: object round trip, every corruption the
 * readers must catch (header, table, truncation, wrong root), manifests
 * (round trip, duplicate, corrupt), garbage collection and format checks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../testutil.h"
#include "byteio.h"
#include "fsutil.h"
#include "hash.h"
#include "parity.h"
#include "store.h"
#include "store_int.h"

/* dir: the store, not yet made, inside a fresh scratch directory */
TU_SCRATCH_SUITE(store, scratch, dir, "s");

static struct store *open_store(enum store_mode m)
{
	struct store *s = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir, m, &s, &e), 0, "%s", e.msg);
	return s;
}

/* The m parity shards of plen bytes (out: m * STORE_BLOCK apart) of stripe
 * st of len bytes of data, blocks past the end counted as zeros. */
static void stripe_parity(const struct parity *par, const uint8_t *data, uint64_t len, uint64_t st,
			  uint32_t plen, uint8_t *out)
{
	uint64_t sb = (uint64_t)par->k * STORE_BLOCK;
	uint8_t *z = calloc(1, sb), *d[PARITY_MAX_K], *o[PARITY_MAX_M];
	cr_assert_not_null(z);
	if (st * sb < len)
		memcpy(z, data + st * sb, len - st * sb < sb ? len - st * sb : sb);
	for (unsigned i = 0; i < par->k; i++)
		d[i] = z + (size_t)i * STORE_BLOCK;
	for (unsigned i = 0; i < par->m; i++)
		o[i] = out + (size_t)i * STORE_BLOCK;
	parity_encode(par, plen, d, o);
	free(z);
}

/* The SHA-256 leaves of data[0..len) (malloc'd), through OpenSSL's
 * single-buffer implementation: not the code the store is written with. */
static uint8_t *test_leaves(const uint8_t *data, uint64_t len)
{
	struct hash_ctx *h;
	struct seed_err e;
	uint64_t nb = (len + STORE_BLOCK - 1) / STORE_BLOCK;
	uint8_t *leaves = malloc(nb * 32 + 1);
	cr_assert_not_null(leaves);
	cr_assert_eq(hash_ctx_create(HASH_IMPL_OPENSSL, &h, &e), 0, "%s", e.msg);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t bl =
			len - i * STORE_BLOCK < STORE_BLOCK ? len - i * STORE_BLOCK : STORE_BLOCK;
		cr_assert_eq(hash_sha256(h, data + i * STORE_BLOCK, bl, leaves + i * 32), 0);
	}
	hash_ctx_destroy(h);
	return leaves;
}

/* Writes an object holding len bytes of pattern p, with its parity, keyed
 * by root r, in the object version s writes; *created (when not NULL)
 * says whether it was new. Each parity shard goes where store_shard says,
 * as long as it says (the exact sizes are checked against numbers worked
 * out from docs/store.md in object_sizes_small_and_large). */
static void put_object(struct store *s, uint64_t len, uint8_t p, const uint8_t r[32], int *created)
{
	struct store_obj_writer w;
	struct seed_err e;
	struct parity par;
	seed_err_clear(&e);
	cr_assert_eq(store_obj_begin(s, len, &w, &e), 0, "%s", e.msg);
	cr_assert_eq(parity_init(&par, w.g.k, w.g.m, &e), 0, "%s", e.msg);
	uint64_t nb = w.g.n_blocks, m = w.g.m;
	uint8_t *data = malloc(len), *xxh = malloc(w.g.table_len + 1);
	uint8_t *pb = malloc(m * STORE_BLOCK);
	memset(data, p, len);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t bl =
			len - i * STORE_BLOCK < STORE_BLOCK ? len - i * STORE_BLOCK : STORE_BLOCK;
		hash_xxh128(data + i * STORE_BLOCK, bl, xxh + i * 16);
	}
	for (uint64_t st = 0; st < w.g.n_stripes; st++) {
		uint64_t off, ent;
		uint32_t plen = store_shard(&w.g, st, w.g.k, &off, &ent);
		stripe_parity(&par, data, len, st, plen, pb);
		for (uint32_t j = 0; j < m; j++) {
			cr_assert_eq(store_shard(&w.g, st, w.g.k + j, &off, &ent), plen);
			hash_xxh128(pb + j * STORE_BLOCK, plen, xxh + ent * 16);
			cr_assert_eq(fsu_pwrite_full(w.fd, pb + j * STORE_BLOCK, plen, off), 0);
		}
	}
	free(pb);
	cr_assert_eq(fsu_pwrite_full(w.fd, data, len, STORE_OBJ_HEADER), 0);
	if (w.g.n_leafgrp) {
		/* version 5: the leaves, their groups' entries after the parity's */
		uint8_t *leaves = test_leaves(data, len);
		cr_assert_eq(store_obj_write_leaves(&w, 0, leaves, nb,
						    xxh + (nb + w.g.n_parity) * 16, &e),
			     0, "%s", e.msg);
		free(leaves);
	}
	int was_new;
	cr_assert_eq(store_obj_commit(&w, r, xxh, &was_new, &e), 0, "%s", e.msg);
	if (created)
		*created = was_new;
	free(data);
	free(xxh);
}

/* 1 when the file at path holds exactly text[0..n). */
static int file_is(const char *path, const char *text, size_t n)
{
	uint8_t *f = NULL;
	size_t got = 0;
	int same =
		fsu_read_file(path, 4096, &f, &got, NULL) == 0 && got == n && !memcmp(f, text, n);
	free(f);
	return same;
}

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

Test(store, object_round_trip_and_layout)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t r[32] = { 1, 2, 3 };
	int created = 0;
	put_object(s, 40000, 0x5a, r, &created);
	cr_assert_eq(created, 1);

	char *path = store_obj_path(s, r);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	/* 4 KiB header with the table (3 data and 2 parity blocks * 16 bytes)
	 * in its sector + 40000 rounded up to 40960 + one stripe's 2 parity
	 * blocks (16+2: a short stripe of 3 blocks, whole-block parity) + the
	 * second header with the table's second copy */
	cr_assert_eq(st.st_size, 4096 + 40960 + 2 * 16384 + 4096);
	struct store_geom g;
	store_geom(40000, STORE_PARITY_K, STORE_PARITY_M, STORE_OBJ_VERSION, &g);
	cr_assert_eq(g.n_blocks, 3);
	cr_assert_eq(g.n_stripes, 1);
	cr_assert_eq(g.n_parity, 2);
	cr_assert_eq(g.n_leafgrp, 1);
	cr_assert_eq(g.table_len, 6 * 16);
	cr_assert_eq(g.table1, 128);
	cr_assert_eq(g.parity, 4096 + 40960);
	cr_assert_eq(g.header2, (uint64_t)st.st_size - 4096);
	cr_assert_eq(g.table2, g.header2 + 128);
	cr_assert_eq(g.size, (uint64_t)st.st_size);
	/* version 3: each table copy in a sector of its own after the data */
	store_geom(40000, STORE_PARITY_K, STORE_PARITY_M, 3, &g);
	cr_assert_eq(g.table1, 4096 + 40960);
	cr_assert_eq(g.table2, 4096 + 40960 + 4096);
	cr_assert_eq(g.parity, 4096 + 40960 + 8192);
	cr_assert_eq(g.size, 4096 + 40960 + 4096 + 4096 + 2 * 16384 + 4096);

	struct store_obj o;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_obj_open(s, r, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(o.g.length, 40000);
	cr_assert_eq(o.g.n_blocks, 3);
	cr_assert_eq(o.g.k, STORE_PARITY_K);
	cr_assert_eq(o.g.m, STORE_PARITY_M);
	cr_assert_eq(o.copy, 1);
	cr_assert_eq(o.bad_copies, 0);
	cr_assert_eq(store_obj_check_copy(&o, 2, NULL, 0), 0, "the second copy is intact");
	/* both copies carry the same table, each checksummed by its header */
	uint8_t t2[80];
	cr_assert_eq(pread(o.fd, t2, 80, 4096 + 40960 + 2 * 16384 + 128), 80);
	cr_assert_arr_eq(t2, o.block_xxh, 80);
	/* the parity on disk is the parity of the data, its XXH3 in the table */
	struct parity par;
	cr_assert_eq(parity_init(&par, STORE_PARITY_K, STORE_PARITY_M, &e), 0);
	uint8_t *data = malloc(40000), *want = malloc(2 * 16384), *got = malloc(2 * 16384);
	memset(data, 0x5a, 40000);
	stripe_parity(&par, data, 40000, 0, 16384, want);
	cr_assert_eq(pread(o.fd, got, 2 * 16384, 4096 + 40960), 2 * 16384);
	cr_assert_arr_eq(got, want, 2 * 16384);
	uint8_t x[16];
	hash_xxh128(got + 16384, 16384, x);
	cr_assert_arr_eq(x, o.block_xxh + 4 * 16, 16);
	free(data);
	free(want);
	free(got);
	uint8_t buf[100];
	cr_assert_eq(pread(o.fd, buf, 100, 4096 + 16384), 100);
	cr_assert_eq(buf[0], 0x5a);
	store_obj_close(&o);

	/* the same root again is not stored twice */
	put_object(s, 40000, 0x5a, r, &created);
	cr_assert_eq(created, 0);
	free(path);
	store_close(s);
}

/*
 * The exact size of an object, worked out by hand from docs/store.md
 * ("Objects", "Parity"), for 16+2: version 4 (today) and version 3 (before
 * format 4). Version 4: a table of at most 248 entries in each header's
 * sector, parity shards of a one-block last stripe as long as that block
 * in whole 4 KiB.
 *   1 and 3,500 bytes: 4K header+table, 4K data, 2 x 4K parity, 4K header+table
 *     (version 3: + two 4K tables, parity 2 x 16K: 52K);
 *   16,384: 4K + 16K + 2 x 16K + 4K (v3: + 8K of tables);
 *   16,385: 2 blocks, whole-block parity: 4K + 20K + 32K + 4K;
 *   262,145: 17 blocks in 2 stripes, the second of 1 byte: 4K + 260K + 32K
 *     + 2 x 4K + 4K;
 *   300,000: 19 blocks, the last stripe of 3: 4K + 296K + 4 x 16K + 4K;
 *   4 MiB: 256 blocks + 32 parity = 4,608 bytes of table, which does not
 *     fit a header's sector: 4K + 4M + 2 x 8K + 32 x 16K + 4K in both.
 * Version 5 (today) adds one entry per leaf group of 128 blocks and 32
 * bytes of leaves per block to each copy: the same sizes while entries and
 * leaves fit the header's 3,968 bytes after its fields (19 blocks: 24
 * entries + 19 leaves = 992 bytes), and then
 *   1,638,400 (100 blocks, 7 stripes): v4 114 entries (1,824 bytes) fit,
 *     4K + 1,600K + 14 x 16K + 4K; v5 115 entries + 100 leaves = 5,040
 *     bytes do not: + 2 x 8K;
 *   4 MiB: 290 entries + 256 leaves = 12,832 bytes: 2 x 16K of metadata.
 */
Test(store, object_sizes_small_and_large)
{
	static const struct {
		uint64_t len, v5, v4, v3;
	} sz[] = {
		{ 1, 20480, 20480, 53248 },
		{ 3500, 20480, 20480, 53248 },
		{ 16384, 57344, 57344, 65536 },
		{ 16385, 61440, 61440, 69632 },
		{ 262145, 315392, 315392, 348160 },
		{ 300000, 376832, 376832, 385024 },
		{ 1638400, 1892352, 1875968, 1884160 },
		{ 4194304, 4759552, 4743168, 4743168 },
	};
	struct store *s = open_store(STORE_CREATE);
	for (size_t i = 0; i < TU_N(sz); i++)
		for (uint32_t v = 3; v <= 5; v++) {
			uint8_t r[32] = { 0x40, (uint8_t)i, (uint8_t)v };
			cr_assert_eq(store_set_obj_version(s, v), 0);
			put_object(s, sz[i].len, (uint8_t)(i + 1), r, NULL);
			char *path = store_obj_path(s, r);
			struct stat st;
			cr_assert_eq(stat(path, &st), 0);
			uint64_t want = v == 5 ? sz[i].v5 : v == 4 ? sz[i].v4 : sz[i].v3;
			cr_assert_eq((uint64_t)st.st_size, want,
				     "%llu bytes, version %u: object of %lld bytes, want %llu",
				     (unsigned long long)sz[i].len, v, (long long)st.st_size,
				     (unsigned long long)want);
			struct store_obj o;
			struct seed_err e;
			seed_err_clear(&e);
			cr_assert_eq(store_obj_open(s, r, &o, &e), 0, "%s", e.msg);
			cr_assert_eq(o.g.version, v);
			cr_assert_eq(o.g.size, want);
			cr_assert_eq(store_obj_check_copy(&o, 2, NULL, 0), 0);
			uint64_t meta = o.g.table_len + (v == 5 ? o.g.n_blocks * 32 : 0);
			uint8_t *leaves = test_leaves(NULL, 0), lg[4096];
			if (v >= 4 && meta <= 4096 - 128) {
				/* the two copies at the two ends, in the header sectors */
				uint8_t t[2][4096];
				cr_assert_eq(pread(o.fd, t[0], 4096, 0), 4096);
				cr_assert_eq(pread(o.fd, t[1], 4096, (off_t)want - 4096), 4096);
				cr_assert_arr_eq(t[0] + 128, o.block_xxh, o.g.table_len);
				cr_assert_arr_eq(t[1] + 128, o.block_xxh, o.g.table_len);
			}
			if (v == 5) {
				/* both copies of the leaves, right after each table,
				 * are the data's, and each group matches its entry */
				uint8_t *data = malloc(sz[i].len);
				memset(data, (int)(i + 1), sz[i].len);
				free(leaves);
				leaves = test_leaves(data, sz[i].len);
				free(data);
				cr_assert_eq(o.g.n_leafgrp, (o.g.n_blocks + 127) / 128);
				cr_assert_eq(o.g.leaves1, o.g.table1 + o.g.table_len);
				cr_assert_eq(o.g.leaves2, o.g.table2 + o.g.table_len);
				for (uint64_t j = 0; j < o.g.n_leafgrp; j++) {
					uint64_t n = o.g.n_blocks - j * 128 < 128
							     ? o.g.n_blocks - j * 128
							     : 128;
					unsigned badc = 9;
					cr_assert_eq(store_read_leaf_group(o.fd, &o.g, o.block_xxh,
									   j, lg, &badc),
						     (int)(n * 32));
					cr_assert_eq(badc, 0);
					cr_assert_arr_eq(lg, leaves + j * 128 * 32, n * 32);
					for (int c = 1; c <= 2; c++) {
						uint64_t off, ent;
						cr_assert_eq(
							store_leaf_group(&o.g, j, c, &off, &ent),
							n * 32);
						cr_assert_eq(ent, o.g.n_blocks + o.g.n_parity + j);
						cr_assert_eq(pread(o.fd, lg, n * 32, (off_t)off),
							     (ssize_t)(n * 32));
						cr_assert_arr_eq(lg, leaves + j * 128 * 32, n * 32);
					}
				}
			} else {
				cr_assert_eq(o.g.n_leafgrp, 0);
				cr_assert_eq(
					store_read_leaf_group(o.fd, &o.g, o.block_xxh, 0, lg, NULL),
					-ENODATA);
			}
			free(leaves);
			/* every parity shard on disk matches its entry, over the
			 * bytes stored */
			uint8_t *buf = malloc(STORE_BLOCK), x[16];
			for (uint64_t stp = 0; stp < o.g.n_stripes; stp++)
				for (uint32_t j = 0; j < o.g.m; j++) {
					uint64_t off, ent;
					uint32_t len =
						store_shard(&o.g, stp, o.g.k + j, &off, &ent);
					cr_assert_eq(off % 4096, 0);
					cr_assert_eq(len % 4096, 0);
					cr_assert_eq(pread(o.fd, buf, len, (off_t)off),
						     (ssize_t)len);
					hash_xxh128(buf, len, x);
					cr_assert_arr_eq(x, o.block_xxh + ent * 16, 16);
				}
			free(buf);
			store_obj_close(&o);
			free(path);
		}
	/* the largest file, with the parity that costs the most: no wrap */
	struct store_geom g;
	store_geom(STORE_MAX_LENGTH, 1, PARITY_MAX_M, STORE_OBJ_VERSION, &g);
	cr_assert_gt(g.size, 5 * STORE_MAX_LENGTH);
	cr_assert_lt(g.size, (uint64_t)INT64_MAX);
	cr_assert_eq(g.header2 + 4096, g.size);
	/* only the tests' hook makes an older version, and only 3 and 4 */
	cr_assert_eq(store_set_obj_version(s, 2), -EINVAL);
	cr_assert_eq(store_set_obj_version(s, 6), -EINVAL);
	store_close(s);
}

/* Opens root and expects it to come through copy `copy` (0: to fail with
 * -EBADMSG) with a reason holding `what` for each bad copy. */
static void expect_open(struct store *s, const uint8_t *r, int copy, const char *what)
{
	struct store_obj o;
	struct seed_err e;
	seed_err_clear(&e);
	int rc = store_obj_open(s, r, &o, &e);
	if (!copy) {
		cr_assert_eq(rc, -EBADMSG, "both copies bad: %d %s", rc, e.msg);
		cr_assert_not_null(strstr(e.msg, "both copies"), "%s", e.msg);
		cr_assert_not_null(strstr(e.msg, what), "%s", e.msg);
		return;
	}
	cr_assert_eq(rc, 0, "%s", e.msg);
	cr_assert_eq(o.copy, copy);
	if (copy == 2) {
		cr_assert_eq(o.bad_copies, 1);
		cr_assert_not_null(strstr(o.bad_why[0], what), "%s", o.bad_why[0]);
	} else {
		char why[96] = "";
		cr_assert_eq(store_obj_check_copy(&o, 2, why, sizeof(why)), -EBADMSG);
		cr_assert_not_null(strstr(why, what), "%s", why);
	}
	store_obj_close(&o);
}

Test(store, object_corruption_is_caught)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t r[32] = { 9 };
	struct store_obj o;
	struct seed_err e;
	char *path = store_obj_path(s, r);
	/* 20000 bytes: 2 blocks, one stripe with 2 whole parity blocks.
	 * Version 4: each table copy (4 entries) in its header's sector, the
	 * parity at 4096 + round4k(20000) = 24576, the second header at
	 * 24576 + 32768 = 57344 with its table at 57472. Version 3 (an object
	 * of a store upgraded to format 4): tables at 24576 and 28672, the
	 * parity at 32768, the second header at 32768 + 32768. */
	static const struct {
		uint32_t version;
		uint64_t t1, t2, h2;
	} lay[] = { { 4, 128, 57472, 57344 }, { 3, 24576, 28672, 65536 } };
	for (size_t v = 0; v < TU_N(lay); v++) {
		cr_assert_eq(store_set_obj_version(s, lay[v].version), 0);
		unlink(path);
		put_object(s, 20000, 1, r, NULL);
		struct stat st;
		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq((uint64_t)st.st_size, lay[v].h2 + 4096, "version %u", lay[v].version);
		uint64_t t1 = lay[v].t1, t2 = lay[v].t2, h2 = lay[v].h2;

		flip(path, 20); /* a field of the first header: the second serves */
		expect_open(s, r, 2, "header");
		flip(path, h2 + 20); /* and of the second: nothing left */
		expect_open(s, r, 0, "header");
		flip(path, 20);
		expect_open(s, r, 1, "header"); /* copy 2 alone is bad */
		flip(path, h2 + 20);

		flip(path, t1 + 3); /* the first block table */
		expect_open(s, r, 2, "block table");
		flip(path, t2 + 17);
		expect_open(s, r, 0, "block table");
		flip(path, t1 + 3);
		expect_open(s, r, 1, "block table");
		flip(path, t2 + 17);

		cr_assert_eq(store_obj_open(s, r, &o, NULL), 0);
		cr_assert_eq(o.bad_copies, 0);
		cr_assert_eq(o.g.version, lay[v].version);
		store_obj_close(&o);
	}

	cr_assert_eq(truncate(path, 4096 + 100), 0);
	cr_assert_eq(store_obj_open(s, r, &o, NULL), -EBADMSG);
	cr_assert_eq(truncate(path, 50), 0);
	cr_assert_eq(store_obj_open(s, r, &o, NULL), -EBADMSG);

	/* an object renamed to another root's name is refused */
	uint8_t r2[32] = { 7 };
	put_object(s, 100, 2, r2, NULL);
	char *p2 = store_obj_path(s, r2);
	cr_assert_eq(rename(p2, path), 0);
	seed_err_clear(&e);
	cr_assert_eq(store_obj_open(s, r, &o, &e), -EBADMSG);
	free(p2);
	free(path);
	store_close(s);
}

static struct store_release *sample_release(const char *id, const uint8_t root[32])
{
	static struct store_release_file files[2];
	static struct store_release r;
	static uint8_t torrent[] = "d4:infod4:name1:xee";
	files[0] = (struct store_release_file){ "dir/a.bin", 100, 1, { 0 } };
	memcpy(files[0].root, root, 32);
	files[1] = (struct store_release_file){ "empty", 0, 0, { 0 } };
	r = (struct store_release){
		.id = (char *)id,
		.tenant = "acme",
		.name = "game",
		.version = "1.0",
		.torrent_name = "game",
		.created = 1700000000,
		.kind = 0,
		.piece_length = 16384,
		.has_v1 = 1,
		.has_v2 = 1,
		.files = files,
		.n_files = 2,
		.torrent = torrent,
		.torrent_len = sizeof(torrent) - 1,
	};
	memset(r.ih_v1, 0x11, 20);
	memset(r.ih_v2, 0x22, 32);
	return &r;
}

Test(store, manifest_round_trip_duplicate_and_corruption)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t root[32] = { 0xab };
	struct seed_err e;
	struct store_release *in = sample_release("acme.game.1.0", root), *out = NULL;

	seed_err_clear(&e);
	cr_assert_eq(store_release_write(s, in, &e), 0, "%s", e.msg);
	cr_assert_eq(store_release_write(s, in, NULL), -EEXIST);
	cr_assert_eq(store_release_load(s, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_str_eq(out->tenant, "acme");
	cr_assert_str_eq(out->version, "1.0");
	cr_assert_eq(out->n_files, 2);
	cr_assert_str_eq(out->files[0].path, "dir/a.bin");
	cr_assert_arr_eq(out->files[0].root, root, 32);
	cr_assert_eq(out->files[1].has_root, 0);
	cr_assert_eq(out->total_length, 100);
	cr_assert_eq(out->torrent_len, in->torrent_len);
	cr_assert_arr_eq(out->ih_v2, in->ih_v2, 32);
	store_release_free(out);

	seed_err_clear(&e);
	cr_assert_eq(store_release_load(s, "acme.game.2", &out, &e), -ENOENT);
	cr_assert_not_null(strstr(e.msg, "acme.game.2"), "%s", e.msg);
	cr_assert_eq(store_release_load(s, "../etc", &out, NULL), -EINVAL);

	/* copy 1 damaged: loaded from copy 2, and the writer rewrites copy 1 */
	char path[512], path2[520];
	snprintf(path, sizeof(path), "%s/releases/acme.game.1.0.rel", dir);
	snprintf(path2, sizeof(path2), "%s.2", path);
	flip(path, 40);
	seed_err_clear(&e);
	cr_assert_eq(store_release_load(s, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 1u);
	cr_assert_eq(out->manifest.repaired, 1u);
	cr_assert_not_null(strstr(out->manifest.why[0].msg, "corrupt"), "%s",
			   out->manifest.why[0].msg);
	cr_assert_eq(out->torrent_len, in->torrent_len);
	store_release_free(out);
	cr_assert_eq(store_release_load(s, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 0u, "copy 1 was not rewritten");
	store_release_free(out);
	store_close(s);

	/* a reader serving it reads copy 1 alone; one that checks (verify)
	 * finds copy 2 bad; neither writes */
	struct store *r = open_store(STORE_READ);
	flip(path2, 40);
	cr_assert_eq(store_release_load(r, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 0u, "a serving reader read copy 2 though copy 1 is good");
	store_release_free(out);
	store_check_copies(r);
	cr_assert_eq(store_release_load(r, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 2u);
	cr_assert_eq(out->manifest.repaired, 0u);
	store_release_free(out);
	cr_assert_eq(store_release_load(r, "acme.game.1.0", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 2u, "a reader rewrote copy 2");
	store_release_free(out);

	/* both damaged: refused, naming the damage */
	flip(path, 40);
	seed_err_clear(&e);
	cr_assert_eq(store_release_load(r, "acme.game.1.0", &out, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, "corrupt"), "%s", e.msg);
	store_close(r);
}

/* A writable store holding release a.b.c of one object keyed by root;
 * path: its manifest's copy 1. */
static struct store *store_with_release(const uint8_t root[32], char *path, size_t cap)
{
	struct store *s = open_store(STORE_CREATE);
	put_object(s, 100, 1, root, NULL);
	cr_assert_eq(store_release_write(s, sample_release("a.b.c", root), NULL), 0);
	snprintf(path, cap, "%s/releases/a.b.c.rel", dir);
	return s;
}

Test(store, a_release_whose_copy_1_is_gone_is_listed_loaded_and_removed)
{
	char path[512];
	uint8_t used[32] = { 3 };
	struct store *s = store_with_release(used, path, sizeof(path));
	cr_assert_eq(unlink(path), 0);
	char **ids;
	size_t n;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_release_list(s, &ids, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ids[0], "a.b.c");
	store_free_list(ids, n);
	cr_assert(store_release_exists(s, "a.b.c"));
	cr_assert_eq(store_release_write(s, sample_release("a.b.c", used), NULL), -EEXIST);
	struct store_release *out;
	cr_assert_eq(store_release_load(s, "a.b.c", &out, &e), 0, "%s", e.msg);
	cr_assert_eq(out->manifest.bad, 1u);
	cr_assert_eq(out->manifest.repaired, 1u);
	store_release_free(out);
	cr_assert_eq(access(path, F_OK), 0, "copy 1 was not rewritten");
	cr_assert_eq(store_release_remove(s, "a.b.c", &e), 0, "%s", e.msg);
	cr_assert(!store_release_exists(s, "a.b.c"));
	cr_assert_eq(store_release_list(s, &ids, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(n, 0);
	store_free_list(ids, n);
	store_close(s);
}

Test(store, gc_keeps_referenced_objects_only)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t used[32] = { 1 }, orphan[32] = { 2 };
	size_t removed = 99;
	put_object(s, 100, 1, used, NULL);
	put_object(s, 100, 2, orphan, NULL);
	cr_assert_eq(store_release_write(s, sample_release("a.b.c", used), NULL), 0);
	cr_assert_eq(store_gc(s, &removed, NULL), 0);
	cr_assert_eq(removed, 1);
	char *pu = store_obj_path(s, used), *po = store_obj_path(s, orphan);
	cr_assert_eq(access(pu, F_OK), 0);
	cr_assert_neq(access(po, F_OK), 0);

	/* removing the release frees its object */
	cr_assert_eq(store_release_remove(s, "a.b.c", NULL), 0);
	cr_assert_neq(access(pu, F_OK), 0);
	free(pu);
	free(po);
	store_close(s);
}

Test(store, gc_refuses_while_a_manifest_is_unreadable)
{
	char path[512];
	uint8_t used[32] = { 1 };
	struct store *s = store_with_release(used, path, sizeof(path));
	flip(path, 30);
	strcat(path, ".2");
	flip(path, 30);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_lt(store_gc(s, NULL, &e), 0);
	char *pu = store_obj_path(s, used);
	cr_assert_eq(access(pu, F_OK), 0, "an object of an unreadable manifest was deleted");
	store_close(s);

	/* a writer still opens (one rotted release must not block the store),
	 * collects nothing and says why */
	uint8_t orphan[32] = { 2 };
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir, STORE_WRITE, &s, &e), 0, "%s", e.msg);
	cr_assert_not_null(store_gc_refusal(s));
	cr_assert_not_null(strstr(store_gc_refusal(s), "not collecting garbage"), "%s",
			   store_gc_refusal(s));
	put_object(s, 100, 2, orphan, NULL);
	char *po = store_obj_path(s, orphan);
	store_close(s);
	cr_assert_eq(store_open(dir, STORE_WRITE, &s, &e), 0, "%s", e.msg);
	cr_assert_eq(access(po, F_OK), 0, "an object was collected while a manifest is unreadable");
	/* removing the rotted release lets the collection run again */
	cr_assert_eq(store_release_remove(s, "a.b.c", &e), 0, "%s", e.msg);
	cr_assert_null(store_gc_refusal(s));
	cr_assert_neq(access(po, F_OK), 0);
	cr_assert_neq(access(pu, F_OK), 0);
	free(pu);
	free(po);
	store_close(s);
}

Test(store, format_checks)
{
	struct store *s = open_store(STORE_CREATE);
	store_close(s);
	char path[512];
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	cr_assert_eq(fsu_write_atomic(path, "bitstream-store 9\n", 18, 0644, NULL), 0);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir, STORE_READ, &s, &e), -EPROTO);
	cr_assert_not_null(strstr(e.msg, "unsupported store format"), "%s", e.msg);

	/* the previous format: refused with what to do about it */
	cr_assert_eq(fsu_write_atomic(path, "bitstream-store 1\n", 18, 0644, NULL), 0);
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir, STORE_READ, &s, &e), -EPROTO);
	cr_assert_not_null(strstr(e.msg, "store format 1"), "%s", e.msg);
	cr_assert_not_null(strstr(e.msg, "release create"), "%s", e.msg);
	cr_assert_null(strchr(e.msg, '\n'), "one line: %s", e.msg);
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir, STORE_WRITE, &s, &e), -EPROTO, "writers too");

	/* formats 3 and 4 name their parity; anything else in FORMAT is
	 * refused, by readers and writers (which would upgrade a format 3) */
	static const struct {
		const char *tail, *want;
	} f3[] = {
		{ "", "parity K+M" },
		{ "parity 3+2\n", "power of two" },
		{ "parity 64+2\n", "power of two" },
		{ "parity 16+0\n", "M from 1" },
		{ "parity 16+5\n", "M from 1" },
		{ "parity 16+2\nmore\n", "parity K+M" },
		{ "parity 16+2", "parity K+M" },
		{ "parity 016+2\n", "parity K+M" },
	};
	for (int v = 3; v <= 5; v++)
		for (size_t i = 0; i < TU_N(f3); i++) {
			char text[100];
			int n = snprintf(text, sizeof(text), "bitstream-store %d\n%s", v,
					 f3[i].tail);
			cr_assert_eq(fsu_write_atomic(path, text, (size_t)n, 0644, NULL), 0);
			for (int w = 0; w < 2; w++) {
				seed_err_clear(&e);
				cr_assert_eq(store_open(dir, w ? STORE_WRITE : STORE_READ, &s, &e),
					     -EPROTO, "%s", text);
				cr_assert_not_null(strstr(e.msg, f3[i].want), "%s: %s", text,
						   e.msg);
				cr_assert(file_is(path, text, (size_t)n),
					  "a refused FORMAT is left as it is");
			}
		}
	for (int v = 3; v <= 5; v++) {
		char ok[64];
		int n = snprintf(ok, sizeof(ok), "bitstream-store %d\nparity 8+3\n", v);
		cr_assert_eq(fsu_write_atomic(path, ok, (size_t)n, 0644, NULL), 0);
		seed_err_clear(&e);
		cr_assert_eq(store_open(dir, STORE_READ, &s, &e), 0, "%s", e.msg);
		uint32_t k, m;
		store_parity(s, &k, &m);
		cr_assert_eq(k, 8);
		cr_assert_eq(m, 3);
		store_close(s);
	}

	/* a directory with other content is not adopted as a store */
	char other[300];
	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert_eq(mkdir(other, 0755), 0);
	snprintf(path, sizeof(path), "%s/file", other);
	cr_assert_eq(fsu_write_atomic(path, "x", 1, 0644, NULL), 0);
	seed_err_clear(&e);
	cr_assert_eq(store_open(other, STORE_CREATE, &s, &e), -ENOTEMPTY);

	/* a missing store is not created by readers */
	snprintf(path, sizeof(path), "%s/none", dir);
	cr_assert_eq(store_open(path, STORE_READ, &s, NULL), -ENOENT);
	cr_assert_neq(access(path, F_OK), 0);
}

Test(store, id_rules)
{
	cr_assert_eq(store_check_id("acme.game.1.0+rc1", NULL), 0);
	cr_assert_eq(store_check_id("", NULL), -EINVAL);
	cr_assert_eq(store_check_id("a/b", NULL), -EINVAL);
	cr_assert_eq(store_check_id("..", NULL), -EINVAL);
	cr_assert_eq(store_check_id(".hidden", NULL), -EINVAL);
	cr_assert_eq(store_check_id("sp ace", NULL), -EINVAL);
}

/* A rescan's start: the store opened read-only with its sorted ids, or
 * nothing held when the store cannot be opened. */
Test(store, open_list_gives_the_store_and_its_ids)
{
	struct store *s = open_store(STORE_CREATE), *r = NULL;
	uint8_t root[32] = { 0xab };
	char **ids = NULL;
	size_t n = 0;
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(store_release_write(s, sample_release("beta.game.1", root), &e), 0, "%s",
		     e.msg);
	cr_assert_eq(store_release_write(s, sample_release("acme.game.1", root), &e), 0, "%s",
		     e.msg);
	store_close(s);
	cr_assert_eq(store_open_list(dir, &r, &ids, &n, &e), 0, "%s", e.msg);
	cr_assert_not_null(r);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(ids[0], "acme.game.1");
	cr_expect_str_eq(ids[1], "beta.game.1");
	store_free_list(ids, n);
	store_close(r);

	char missing[300];
	snprintf(missing, sizeof(missing), "%s-none", dir);
	seed_err_clear(&e);
	cr_expect_lt(store_open_list(missing, &r, &ids, &n, &e), 0);
	cr_expect_null(r);
	cr_expect_null(ids);
	cr_expect_eq(n, 0);
	cr_expect_not_null(strstr(e.msg, "-none"), "%s", e.msg);
}

/* An object of the previous format (one copy, header checksum at byte 96)
 * inside a current store is never read as valid: both copies are bad. */
Test(store, previous_object_version_is_never_misread)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t r[32] = { 4 };
	put_object(s, 5000, 3, r, NULL);
	char *path = store_obj_path(s, r);
	/* rewrite header 1 as version 1 wrote it: version 1, table offset,
	 * XXH3-128 of bytes 0-95 at 96, zeros after */
	uint8_t h[128];
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	h[8] = 1;
	memset(h + 96, 0, 32);
	hash_xxh128(h, 96, h + 96);
	cr_assert_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	/* and cut the file where a version 1 object ends */
	cr_assert_eq(ftruncate(fd, 4096 + 8192 + 16), 0);
	close(fd);
	struct store_obj o;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_obj_open(s, r, &o, &e), -EBADMSG);
	cr_assert_not_null(strstr(e.msg, "version 1"), "%s", e.msg);
	free(path);
	store_close(s);
}

/* An object of format 2, written here from docs/store.md ("Format
 * versions"): header, data, two tables of data blocks only, header; the
 * header's version is 2 and it has no parity fields. */
static void put_v2_object(struct store *s, const uint8_t root[32], const uint8_t *data,
			  uint64_t len)
{
	uint64_t nb = (len + STORE_BLOCK - 1) / STORE_BLOCK;
	uint64_t dl = (len + 4095) & ~4095ull, tl = (nb * 16 + 4095) & ~4095ull;
	uint64_t t1 = 4096 + dl, t2 = t1 + tl, h2 = t2 + tl;
	uint8_t *table = calloc(1, tl), hdr[4096], tx[16];
	for (uint64_t i = 0; i < nb; i++)
		hash_xxh128(data + i * STORE_BLOCK,
			    len - i * STORE_BLOCK < STORE_BLOCK ? len - i * STORE_BLOCK
								: STORE_BLOCK,
			    table + i * 16);
	hash_xxh128(table, nb * 16, tx);
	char *path = store_obj_path(s, root);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(ftruncate(fd, (off_t)(h2 + 4096)), 0);
	cr_assert_eq(fsu_pwrite_full(fd, data, len, 4096), 0);
	for (int copy = 1; copy <= 2; copy++) {
		uint64_t t = copy == 1 ? t1 : t2;
		memset(hdr, 0, sizeof(hdr));
		memcpy(hdr, "SEEDOBJ", 8);
		byteio_put_le32(hdr + 8, 2);
		byteio_put_le32(hdr + 12, 4096);
		byteio_put_le64(hdr + 16, len);
		byteio_put_le64(hdr + 24, 4096);
		byteio_put_le64(hdr + 32, nb);
		byteio_put_le64(hdr + 40, t);
		memcpy(hdr + 48, root, 32);
		memcpy(hdr + 80, tx, 16);
		byteio_put_le32(hdr + 96, (uint32_t)copy);
		hash_xxh128(hdr, 112, hdr + 112);
		cr_assert_eq(fsu_pwrite_full(fd, table, nb * 16, t), 0);
		cr_assert_eq(fsu_pwrite_full(fd, hdr, sizeof(hdr), copy == 1 ? 0 : h2), 0);
	}
	close(fd);
	free(path);
	free(table);
}

/*
 * A store of an older format, FORMAT `before`, holding object root (a file
 * of len bytes 0x3c) in release a.b.c: a reader leaves FORMAT as it is, a
 * writer rewrites it to `after`; both times the object opens in its own
 * layout (header version, parity k, object size) with both copies intact,
 * its bytes and its release readable. Then a new object of len bytes gets
 * today's version, with parity k_new and an object of new_size bytes.
 */
static void expect_upgrade(const char *before, const char *after, const uint8_t root[32],
			   uint64_t len, uint32_t version, uint32_t k, uint64_t size,
			   uint32_t k_new, uint64_t new_size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	cr_assert_eq(fsu_write_atomic(path, before, strlen(before), 0644, NULL), 0);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: a reader, which changes nothing; pass 1: a writer */
		struct store *s = open_store(pass ? STORE_WRITE : STORE_READ);
		struct store_obj o;
		struct seed_err e;
		seed_err_clear(&e);
		cr_assert_eq(store_obj_open(s, root, &o, &e), 0, "pass %d: %s", pass, e.msg);
		cr_assert_eq(o.g.length, len);
		cr_assert_eq(o.g.version, version);
		cr_assert_eq(o.g.k, k, "its own parity");
		cr_assert_eq(o.g.size, size, "the layout of its version");
		cr_assert_eq(store_obj_check_copy(&o, 2, NULL, 0), 0);
		uint8_t b;
		cr_assert_eq(pread(o.fd, &b, 1, (off_t)(4096 + len - 1)), 1);
		cr_assert_eq(b, 0x3c);
		store_obj_close(&o);
		struct store_release *r;
		cr_assert_eq(store_release_load(s, "a.b.c", &r, &e), 0, "%s", e.msg);
		store_release_free(r);
		store_close(s);
		const char *want = pass ? after : before;
		cr_assert(file_is(path, want, strlen(want)), "pass %d: FORMAT is not \"%s\"", pass,
			  want);
	}
	struct store *s = open_store(STORE_WRITE);
	uint8_t r2[32] = { 0x23 };
	put_object(s, len, 4, r2, NULL);
	struct store_obj o;
	cr_assert_eq(store_obj_open(s, r2, &o, NULL), 0);
	cr_assert_eq(o.g.version, STORE_OBJ_VERSION);
	cr_assert_eq(o.g.k, k_new);
	cr_assert_eq(o.g.size, new_size);
	store_obj_close(&o);
	store_close(s);
}

/* Format 2: its objects have no parity, and keep none; new ones get the
 * default parity (4K + 52K of data + 2 x 16K parity + 4K). */
Test(store, a_format_2_store_is_read_as_it_is_and_upgraded_by_a_writer)
{
	struct store *s = open_store(STORE_CREATE);
	uint8_t root[32] = { 0x22 }, *data = malloc(50000);
	memset(data, 0x3c, 50000);
	put_v2_object(s, root, data, 50000);
	cr_assert_eq(store_release_write(s, sample_release("a.b.c", root), NULL), 0);
	store_close(s);
	free(data);
	/* header, data, two 4K tables of 4 entries, header */
	expect_upgrade("bitstream-store 2\n", "bitstream-store 5\nparity 16+2\n", root, 50000, 2, 0,
		       4096 + 53248 + 8192 + 4096, 16, 4096 + 53248 + 2 * 16384 + 4096);
}

/* A new store holding release a.b.c of one object of 3,500 bytes 0x3c
 * written in object version `version`, keyed root. */
static void put_old_release(uint32_t version, const uint8_t root[32])
{
	struct store *s = open_store(STORE_CREATE);
	cr_assert_eq(store_set_obj_version(s, version), 0);
	put_object(s, 3500, 0x3c, root, NULL);
	cr_assert_eq(store_release_write(s, sample_release("a.b.c", root), NULL), 0);
	store_close(s);
}

/* Format 3: the writer keeps the store's parity (8+3 here, although its
 * object was written with 16+2: objects record their own); the old object
 * keeps its version 3 layout, a new one is today's with 8+3 (4K + 4K data
 * + 3 x 4K parity + 4K). */
Test(store, a_format_3_store_is_read_as_it_is_and_upgraded_by_a_writer)
{
	uint8_t root[32] = { 0x33 };
	put_old_release(3, root);
	expect_upgrade("bitstream-store 3\nparity 8+3\n", "bitstream-store 5\nparity 8+3\n", root,
		       3500, 3, 16, 53248, 8, 4096 + 4096 + 3 * 4096 + 4096);
}

/* Format 4: its objects have no leaves and keep none (read, checked and
 * rebuilt as before, without the leaf check); a writer moves the store to
 * format 5 with its parity, and a new object carries its leaves (in its
 * header sectors here: the same 20 KiB as version 4). */
Test(store, a_format_4_store_is_read_as_it_is_and_upgraded_by_a_writer)
{
	uint8_t root[32] = { 0x44 };
	put_old_release(4, root);
	expect_upgrade("bitstream-store 4\nparity 16+2\n", "bitstream-store 5\nparity 16+2\n", root,
		       3500, 4, 16, 20480, 16, 20480);
	struct store *s = open_store(STORE_READ);
	uint8_t r2[32] = { 0x23 };
	struct store_obj o;
	cr_assert_eq(store_obj_open(s, r2, &o, NULL), 0);
	cr_assert_eq(o.g.n_leafgrp, 1, "the new object has its leaves");
	store_obj_close(&o);
	cr_assert_eq(store_obj_open(s, root, &o, NULL), 0);
	cr_assert_eq(o.g.n_leafgrp, 0, "the old one has none");
	store_obj_close(&o);
	store_close(s);
}

Test(store, a_writer_clears_what_a_killed_writer_left)
{
	store_close(open_store(STORE_CREATE));
	static const char *const left[] = { "tmp/obj.123.0", "tmp/3/obj.123.9",
					    "releases/a.b.c.rel.tmp.123.0",
					    "releases/a.b.c.rel.2.tmp.123.1",
					    "torrents/a.b.c.torrent.tmp.123.2" };
	static const char *const kept[] = { "control.state.tmp.99.0", "releases/README" };
	char p[TU_PATH_MAX + 64];
	for (size_t i = 0; i < TU_N(left); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, left[i]);
		cr_assert_eq(fsu_write_atomic(p, "x", 1, 0644, NULL), 0, "%s", p);
	}
	for (size_t i = 0; i < TU_N(kept); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		cr_assert_eq(fsu_write_atomic(p, "x", 1, 0644, NULL), 0, "%s", p);
	}
	store_close(open_store(STORE_READ)); /* a reader clears nothing */
	snprintf(p, sizeof(p), "%s/%s", dir, left[1]);
	cr_assert_eq(access(p, F_OK), 0, "a reader removed %s", p);
	store_close(open_store(STORE_WRITE));
	for (size_t i = 0; i < TU_N(left); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, left[i]);
		cr_assert_neq(access(p, F_OK), 0, "%s was left", left[i]);
	}
	for (size_t i = 0; i < TU_N(kept); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, kept[i]);
		cr_assert_eq(access(p, F_OK), 0, "%s was removed", kept[i]);
	}
}

/* Reads len bytes at off of path, malloc'd. */
static uint8_t *read_at(const char *path, uint64_t off, size_t len)
{
	int fd = open(path, O_RDONLY);
	uint8_t *b = malloc(len);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_not_null(b);
	cr_assert_eq(fsu_pread_full(fd, b, len, off), 0);
	close(fd);
	return b;
}

/*
 * A table streamed in with store_obj_write_table (out of order, in uneven
 * ranges, as ingest workers write it) and committed with no table in
 * memory gives an object byte for byte the one a table in memory gives.
 * The table is longer than one piece of the commit's read-back (64 KiB),
 * and its last piece is short. The data is left as the reservation made
 * it (zeros): only the metadata is compared.
 */
Test(store, a_streamed_table_commits_the_same_object)
{
	const uint64_t len = (100ull << 20) + 12345;
	char dir2[TU_PATH_MAX + 8];
	snprintf(dir2, sizeof(dir2), "%s/s2", scratch);
	struct store *s1 = open_store(STORE_CREATE), *s2 = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(store_open(dir2, STORE_CREATE, &s2, &e), 0, "%s", e.msg);
	struct store_obj_writer w1, w2;
	cr_assert_eq(store_obj_begin(s1, len, &w1, &e), 0, "%s", e.msg);
	cr_assert_eq(store_obj_begin(s2, len, &w2, &e), 0, "%s", e.msg);
	uint64_t n = w1.g.n_blocks + w1.g.n_parity + w1.g.n_leafgrp;
	cr_assert_eq(n, 6401 + 401 * 2 + 51);
	cr_assert_eq(w1.g.table_len, n * 16);
	cr_assert_gt(w1.g.table_len, 65536);
	tu_seed(31);
	uint8_t *table = tu_random_buf((size_t)w1.g.table_len);
	/* the leaves (random: the store does not hash them), whole, and in
	 * pieces of three groups; their entries go into the table */
	uint64_t nb = w1.g.n_blocks;
	uint8_t *leaves = tu_random_buf((size_t)nb * 32);
	uint8_t *lent = table + (nb + w1.g.n_parity) * 16;
	cr_assert_eq(store_obj_write_leaves(&w1, 0, leaves, nb, lent, &e), 0, "%s", e.msg);
	for (uint64_t b = 0; b < nb; b += 3 * 128)
		cr_assert_eq(store_obj_write_leaves(&w2, b, leaves + b * 32,
						    nb - b < 3 * 128 ? nb - b : 3 * 128,
						    lent + b / 128 * 16, &e),
			     0, "%s", e.msg);
	/* not whole groups */
	cr_assert_eq(store_obj_write_leaves(&w2, 1, leaves, 128, lent, &e), -EINVAL);
	cr_assert_eq(store_obj_write_leaves(&w2, 0, leaves, 100, lent, &e), -EINVAL);
	cr_assert_eq(store_obj_write_leaves(&w2, 128, leaves, nb, lent, &e), -EINVAL);
	free(leaves);
	/* from the end, 1000 entries at a time, then the rest */
	uint64_t end = n;
	while (end > 0) {
		uint64_t first = end > 1000 ? end - 1000 : 0;
		if (first == 0 && end > 1)
			first = 1;
		cr_assert_eq(store_obj_write_table(&w2, first, table + first * 16,
						   (size_t)(end - first), &e),
			     0, "%s", e.msg);
		end = first;
	}
	cr_assert_eq(store_obj_write_table(&w2, n, table, 1, &e), -EINVAL);
	cr_assert_eq(store_obj_write_table(&w2, UINT64_MAX, table, 2, &e), -EINVAL);
	uint8_t r[32] = { 0x42, 7 };
	int c1 = 0, c2 = 0;
	cr_assert_eq(store_obj_commit(&w1, r, table, &c1, &e), 0, "%s", e.msg);
	cr_assert_eq(store_obj_commit(&w2, r, NULL, &c2, &e), 0, "%s", e.msg);
	cr_assert(c1 && c2);

	char *p1 = store_obj_path(s1, r), *p2 = store_obj_path(s2, r);
	const struct store_geom *g = &w1.g;
	const uint64_t parts[][2] = { { 0, STORE_OBJ_HEADER },
				      { g->table1, g->parity - g->table1 },
				      { g->header2, STORE_OBJ_HEADER } };
	for (size_t i = 0; i < TU_N(parts); i++) {
		uint8_t *a = read_at(p1, parts[i][0], (size_t)parts[i][1]);
		uint8_t *b = read_at(p2, parts[i][0], (size_t)parts[i][1]);
		cr_assert(memcmp(a, b, (size_t)parts[i][1]) == 0, "part %zu differs", i);
		free(a);
		free(b);
	}
	struct store_obj o;
	cr_assert_eq(store_obj_open(s2, r, &o, &e), 0, "%s", e.msg);
	cr_assert_eq(o.copy, 1);
	cr_assert_eq(store_obj_check_copy(&o, 2, NULL, 0), 0);
	cr_assert_arr_eq(o.block_xxh, table, (size_t)g->table_len);
	store_obj_close(&o);
	free(p1);
	free(p2);
	free(table);
	store_close(s1);
	store_close(s2);
}

/* A streamed table whose copy 1 is not what was written (a write lost or
 * misplaced) is never published: the commit fails and leaves nothing. */
Test(store, a_streamed_table_that_reads_back_wrong_is_refused)
{
	struct store *s = open_store(STORE_CREATE);
	struct seed_err e;
	seed_err_clear(&e);
	const uint64_t len = 300000;
	for (int how = 0; how < 4; how++) {
		struct store_obj_writer w;
		cr_assert_eq(store_obj_begin(s, len, &w, &e), 0, "%s", e.msg);
		uint64_t n = w.g.table_len / 16;
		uint8_t *table = tu_random_buf((size_t)w.g.table_len);
		char tmp[sizeof(w.tmp_path)];
		memcpy(tmp, w.tmp_path, sizeof(tmp));
		if (how == 0) { /* the last range never written */
			cr_assert_eq(store_obj_write_table(&w, 0, table, (size_t)n - 3, &e), 0);
		} else {
			cr_assert_eq(store_obj_write_table(&w, 0, table, (size_t)n, &e), 0);
			if (how == 1) /* a byte changed under it */
				flip(w.tmp_path, (off_t)(w.g.table1 + 5 * 16 + 3));
			else if (how == 2) /* entries 0 and 1 again over 2 and 3: misplaced */
				cr_assert_eq(fsu_pwrite_full(w.fd, table, 32, w.g.table1 + 2 * 16),
					     0);
			/* how 3: the table whole, the leaves never written (its
			 * leaf group's entry is random) */
		}
		uint8_t r[32] = { 0x43, (uint8_t)how };
		int created = 1;
		seed_err_clear(&e);
		cr_assert_eq(store_obj_commit_later(&w, r, NULL, &created, &e), -EIO, "how %d",
			     how);
		cr_assert_not_null(strstr(e.msg, "read back"), "%s", e.msg);
		cr_assert_eq(created, 0);
		cr_assert_neq(access(tmp, F_OK), 0, "%s was left", tmp);
		cr_assert_eq(store_obj_flush(s, &e), 0, "%s", e.msg);
		cr_assert_eq(store_obj_exists(s, r), 0);
		free(table);
	}
	store_close(s);
}
