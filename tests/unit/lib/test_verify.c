/*
 * Unit tests for lib/verify.c: a release ingested from a generated tree
 * verifies clean; then single-byte corruptions in the data, the block table,
 * the parity and a missing object are each reported once, at the right file
 * and offset, and each stripe's damage is counted as rebuildable or not.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../storeutil.h"
#include "verify.h"

static char base[TU_PATH_MAX];
static struct store *s;
static struct store_release *rel;

#define NBAD 8
static struct {
	char file[64];
	uint64_t offset, length;
	char what[128];
} bad[NBAD];
static int nbad;

static void on_bad(void *arg, const struct verify_bad *b)
{
	(void)arg;
	if (nbad < NBAD) {
		snprintf(bad[nbad].file, sizeof(bad[nbad].file), "%s", b->file);
		bad[nbad].offset = b->offset;
		bad[nbad].length = b->length;
		snprintf(bad[nbad].what, sizeof(bad[nbad].what), "%s", b->what);
	}
	nbad++;
}

static void make(const char *name, size_t len, unsigned seed)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/tree/%s", base, name);
	su_write_pattern(p, len, 31, seed, 11);
}

/* kind: enum metainfo_kind of the release */
static void build(int kind)
{
	char p[400];
	tu_tmpdir(base, "test_verify");
	snprintf(p, sizeof(p), "%s/tree", base);
	cr_assert_eq(mkdir(p, 0755), 0);
	make("big.bin", 300000, 1); /* 5 pieces of 64 KiB, 19 blocks */
	make("small.bin", 1000, 2);
	char sp[400];
	struct seed_err e;
	seed_err_clear(&e);
	snprintf(sp, sizeof(sp), "%s/store", base);
	cr_assert_eq(store_open(sp, STORE_CREATE, &s, &e), 0, "%s", e.msg);
	struct ingest_opts o = su_opts("t", "n", "1", kind, 65536);
	o.threads = 2;
	su_ingest_into(s, p, &o, NULL);
	cr_assert_eq(store_release_load(s, "t.n.1", &rel, &e), 0, "%s", e.msg);
	nbad = 0;
}

static void cleanup(void)
{
	store_release_free(rel);
	store_close(s);
	tu_rmtree(base);
}

static struct verify_stats vs;

static int run(void)
{
	struct seed_err e;
	seed_err_clear(&e);
	nbad = 0;
	int rc = verify_release(s, rel, HASH_IMPL_MB, on_bad, NULL, &vs, &e);
	cr_assert_geq(rc, 0, "%s", e.msg);
	cr_assert_eq(rc, nbad);
	cr_assert_eq(vs.files, 2);
	cr_assert_eq(vs.bytes, 301000);
	return rc;
}

static void flip_obj(const char *file, off_t off)
{
	const struct store_release_file *f = NULL;
	for (size_t i = 0; i < rel->n_files; i++)
		if (!strcmp(rel->files[i].path, file))
			f = &rel->files[i];
	cr_assert_not_null(f);
	char *p = store_obj_path(s, f->root);
	int fd = open(p, O_RDWR);
	uint8_t b;
	cr_assert_eq(pread(fd, &b, 1, off), 1);
	b ^= 1;
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
	free(p);
}

Test(verify, hybrid_clean_then_one_flipped_byte)
{
	build(METAINFO_HYBRID);
	cr_assert_eq(run(), 0);
	flip_obj("big.bin", 4096 + 200000);
	cr_assert_eq(run(), 1);
	cr_assert_str_eq(bad[0].file, "big.bin");
	cr_assert_eq(bad[0].offset, 196608, "block 12 starts at 196608, got %llu",
		     (unsigned long long)bad[0].offset);
	cr_assert_eq(bad[0].length, 16384);
	cr_assert_not_null(strstr(bad[0].what, "XXH3"));
	cleanup();
}

Test(verify, short_last_block)
{
	build(METAINFO_V1);
	flip_obj("big.bin", 4096 + 299999);
	cr_assert_eq(run(), 1);
	cr_assert_eq(bad[0].offset, 294912);
	cr_assert_eq(bad[0].length, 300000 - 294912);
	cleanup();
}

/* big.bin: 300000 bytes, 19 blocks in 2 stripes of 16+2, so 4 parity
 * blocks (its last stripe holds 3 blocks: whole-block parity); its table,
 * 23 entries (368 bytes), fits in a header's sector (object version 4):
 * the first copy at 128, the parity at 4096 + round4k(300000) = 307200, the
 * second header at 307200 + 4 * 16384 = 372736 with its table at 372864. */
Test(verify, corrupt_block_table_copy_is_reported)
{
	build(METAINFO_V2);
	flip_obj("big.bin", 128 + 5);
	cr_assert_eq(run(), 1, "one bad copy, the data checked through the other");
	cr_assert_str_eq(bad[0].file, "big.bin");
	cr_assert_not_null(strstr(bad[0].what, "block table"), "%s", bad[0].what);
	cr_assert_not_null(strstr(bad[0].what, "copy 1 of 2"), "%s", bad[0].what);
	/* a data block is still checked through copy 2 */
	flip_obj("big.bin", 4096 + 100000);
	cr_assert_eq(run(), 2);
	cr_assert_eq(bad[1].offset, 98304);
	cleanup();
}

Test(verify, second_copy_damage_is_reported)
{
	build(METAINFO_V2);
	flip_obj("big.bin", 372736 + 40); /* the second header's fields */
	cr_assert_eq(run(), 1);
	cr_assert_str_eq(bad[0].file, "big.bin");
	cr_assert_not_null(strstr(bad[0].what, "copy 2 of 2"), "%s", bad[0].what);
	cr_assert_not_null(strstr(bad[0].what, "header"), "%s", bad[0].what);
	cleanup();
}

Test(verify, both_table_copies_bad_other_files_still_checked)
{
	build(METAINFO_V2);
	flip_obj("big.bin", 128 + 5);
	flip_obj("big.bin", 372864 + 300);
	flip_obj("small.bin", 4096 + 10);
	cr_assert_eq(run(), 2);
	cr_assert_str_eq(bad[0].file, "big.bin");
	cr_assert_not_null(strstr(bad[0].what, "both copies"), "%s", bad[0].what);
	cr_assert_str_eq(bad[1].file, "small.bin");
	cr_assert_not_null(strstr(bad[1].what, "XXH3"), "%s", bad[1].what);
	cleanup();
}

Test(verify, missing_object)
{
	build(METAINFO_HYBRID);
	char *p = store_obj_path(s, rel->files[1].root);
	cr_assert_eq(unlink(p), 0);
	free(p);
	cr_assert_eq(run(), 1);
	cr_assert_str_eq(bad[0].file, rel->files[1].path);
	cleanup();
}

Test(verify, stored_torrent_piece_hash_mismatch)
{
	/* Data intact, but the v1 piece list in the manifest's torrent differs:
	 * the SHA-1 check must catch what XXH3 and the merkle root cannot. */
	build(METAINFO_V1);
	uint8_t *t = rel->torrent;
	size_t n = rel->torrent_len;
	uint8_t *pos = memmem(t, n, "6:pieces", 8);
	cr_assert_not_null(pos);
	char *colon = memchr(pos + 8, ':', 12);
	cr_assert_not_null(colon);
	colon[1 + 20 * 2] ^= 0xff; /* third piece of big.bin */
	cr_assert_eq(run(), 1);
	cr_assert_eq(bad[0].offset, 131072);
	cr_assert_not_null(strstr(bad[0].what, "SHA-1"));
	cleanup();
}

/* big.bin's parity (16+2): stripe 0 is blocks 0-15, stripe 1 blocks 16-18;
 * parity block j of stripe t at 315392 + (t * 2 + j) * 16384. */
Test(verify, parity_damage_and_what_it_can_rebuild)
{
	build(METAINFO_V2);
	cr_assert_eq(run(), 0);
	cr_assert_eq(vs.parity_bad + vs.blocks_repairable + vs.stripes_lost, 0);

	flip_obj("big.bin", 307200 + 3 * 16384 + 77); /* stripe 1, parity 2 */
	cr_assert_eq(run(), 1);
	cr_assert_not_null(strstr(bad[0].what, "parity block 2 of 2 of stripe 1"), "%s",
			   bad[0].what);
	cr_assert_eq(bad[0].offset, 16 * 16384);
	cr_assert_eq(bad[0].length, 300000 - 16 * 16384);
	cr_assert_eq(vs.parity_bad, 1);
	cr_assert_eq(vs.stripes_lost, 0);

	flip_obj("big.bin", 4096 + 17 * 16384 + 5); /* a data block of stripe 1 */
	cr_assert_eq(run(), 2);
	cr_assert_eq(vs.blocks_repairable, 1, "2 bad of 3 + 2: the parity still rebuilds");
	cr_assert_eq(vs.stripes_lost, 0);

	flip_obj("big.bin", 4096 + 18 * 16384 + 5); /* a third bad block */
	cr_assert_eq(run(), 4, "two blocks, one parity block, and the stripe");
	cr_assert_eq(vs.blocks_repairable, 0);
	cr_assert_eq(vs.stripes_lost, 1);
	cr_assert_not_null(strstr(bad[3].what, "stripe 1: 3 of its 16 + 2 blocks bad"), "%s",
			   bad[3].what);

	/* stripe 0 is on its own */
	flip_obj("big.bin", 4096 + 2 * 16384);
	cr_assert_eq(run(), 5);
	cr_assert_eq(vs.blocks_repairable, 1);
	cr_assert_eq(vs.stripes_lost, 1);
	cleanup();
}
