/*
 * store: the on-disk release store.
 *
 *   DIR/FORMAT                 "bitstream-store 5\nparity K+M\n" (2, 3 and 4
 *                              are upgraded by the first writer; others refused)
 *   DIR/lock                   flock: exclusive for writers, shared for readers
 *   DIR/tmp/, DIR/tmp/0..f/    writes in progress; emptied by the next writer
 *   DIR/objects/xx/<root>.obj  one per distinct file, keyed by its v2 pieces root
 *   DIR/releases/<id>.rel      one manifest per release
 *   DIR/torrents/<id>.torrent  exported torrent files
 *
 * An object (.obj) is a 4 KiB header, the file's data at offset 4096 padded
 * with zeros to a 4 KiB multiple (so every block can be read with O_DIRECT),
 * its parity, and a second copy of the header, the last 4 KiB of the file;
 * each header has its copy of the block table (one XXH3-128 per 16 KiB
 * block and per parity shard) in its own sector when it fits, else in
 * sectors of its own after the data (struct store_geom); from version 5 each
 * table copy is followed by a copy of the SHA-256 leaves of the data
 * blocks, checked through table entries of their own (store_leaf_group).
 * Each header carries the XXH3-128 of its table and of itself; a reader
 * uses the first intact copy, so one bad sector costs no object (both
 * copies lie in 4 KiB sectors of their own; docs/store.md says why there).
 * A manifest (.rel) is a small
 * header, a bencoded body and an XXH3-128 over both. Nothing is trusted
 * without its checksum.
 *
 * Durability: objects and manifests are written under tmp/, made durable
 * (an fsync each, or one syncfs for a batch: store_obj_commit_later) and
 * renamed into place; a release exists once its manifest does. An object no
 * manifest names is garbage and is collected by the next writer, so a crash
 * at any point leaves either the old store or the old store plus the new
 * release, never half a release.
 */
#ifndef SEED_STORE_H
#define SEED_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fsutil.h"
#include "seed_err.h"

#define STORE_OBJ_HEADER   4096u
#define STORE_BLOCK	   16384u
#define STORE_MAX_ID	   200
#define STORE_MAX_MANIFEST (256u << 20)

enum store_mode {
	STORE_READ = 0,	 /* shared lock; the store must exist */
	STORE_WRITE,	 /* exclusive lock; the store must exist */
	STORE_CREATE,	 /* exclusive lock; created when missing */
	STORE_WRITE_TRY, /* STORE_WRITE, or -EWOULDBLOCK at once when it is held */
	/* Reads without any lock, so that a reader that takes hours (the
	 * background scrub) never holds a writer up. What it reads may change
	 * under it (a release removed, an object collected or repaired in
	 * place): it must check anything it found wrong again under the
	 * writer lock before acting on it or reporting it. */
	STORE_SCAN,
};

struct store;

int store_open(const char *dir, enum store_mode mode, struct store **out_store,
	       struct seed_err *err);
void store_close(struct store *s);
const char *store_dir(const struct store *s);

/* ---- objects ---- */

/* The parity a new store gets (docs/store.md, "Parity"): 2 parity blocks
 * per stripe of 16 data blocks, 12.5 % more space for large files. */
#define STORE_PARITY_K 16u
#define STORE_PARITY_M 2u

/*
 * Where everything of an object lives (docs/store.md, "Objects"), for the
 * format version in its header:
 *  - 2 and 3: header copy 1 at 0, the file's data at STORE_OBJ_HEADER,
 *    block table copy 1 and copy 2 (each in 4 KiB sectors of its own), the
 *    parity blocks, header copy 2 in the last STORE_OBJ_HEADER bytes;
 *  - 4: the same, except that a table copy that fits in its header's sector
 *    after the header's fields (at most 248 entries) sits there (table1 and
 *    table2 inside the first and the last 4 KiB), and a stripe's parity
 *    shards are as long as its longest data shard rounded up to 4 KiB (only
 *    the last stripe, holding one block, is shorter: last_plen).
 *  - 5: as 4, and each table copy is followed by a copy of the data
 *    blocks' SHA-256 leaves (BEP 52's merkle leaves, 32 bytes a block), in
 *    groups of STORE_LEAF_GROUP; the whole (entries, then leaves) sits in
 *    its header's sector when it fits, else in sectors of its own.
 * A table holds the XXH3-128 of every data block, then of every parity
 * shard (of the bytes stored): parity shard j of stripe s is entry
 * n_blocks + s * m + j; then (version 5) of every leaf group: group j is
 * entry n_blocks + n_parity + j. k = m = 0: no parity (version 2).
 * store_shard is the one place that says where a shard is and how long,
 * store_leaf_group where a leaf group is: everything that reads, writes or
 * rebuilds one goes through them.
 */
struct store_geom {
	uint64_t length, n_blocks;
	uint32_t version; /* the object header's format version (STORE_OBJ_VERSION) */
	uint32_t k, m;
	uint32_t last_plen; /* bytes of each parity shard of the last stripe */
	uint64_t n_stripes, n_parity;
	uint64_t table_len; /* bytes of one table copy's entries */
	uint64_t table1, table2, parity, header2, size;
	/* version 5: leaf groups, and where each copy of the leaves starts
	 * (right after its table copy's entries); 0 before version 5 */
	uint64_t n_leafgrp, leaves1, leaves2;
};

/* The version new objects are written in; readers take an object's own from
 * its header (2 to 5 are read). */
#define STORE_OBJ_VERSION 5u

/* Leaves per leaf group: one group is 4 KiB of leaves, checked by one table
 * entry, so checking the leaf of one block reads at most two sectors. */
#define STORE_LEAF_GROUP 128u

/* The largest file an object holds (1 EiB): with k = 1 and m = 4 its object
 * is about five times its length, which must stay below 2^63 (an off_t) so
 * that no layout's arithmetic wraps. Writers refuse more (-EFBIG), readers
 * take a header that says more for a bad copy. */
#define STORE_MAX_LENGTH (UINT64_C(1) << 60)

/* The layout of an object of length bytes (at most STORE_MAX_LENGTH) with
 * parity k+m (0+0: none; else k at most PARITY_MAX_K, m at most
 * PARITY_MAX_M) and header version `version`. Pure arithmetic. */
void store_geom(uint64_t length, uint32_t k, uint32_t m, uint32_t version, struct store_geom *g);

/* The layout a new object of length bytes gets in s (its parity and the
 * current version): what store_obj_begin writes. */
void store_new_geom(const struct store *s, uint64_t length, struct store_geom *g);

/*
 * Shard i of stripe st (data shards 0..k-1, then parity): its place in the
 * object file, its entry in the block table, and its length in bytes (0: a
 * data block past the end of the file, which counts as zeros). A parity
 * shard's length is also the length the stripe is coded over (the data
 * shards count as zeros past their own length): encode and rebuild with it.
 */
uint32_t store_shard(const struct store_geom *g, uint64_t st, uint32_t i, uint64_t *off,
		     uint64_t *entry);

/*
 * Leaf group j (the SHA-256 leaves of data blocks j * STORE_LEAF_GROUP on)
 * of copy `copy` (1 or 2) of a version 5 object: its place in the file and
 * its table entry; returns its length in bytes (32 a block; 0 when the
 * object has no leaves, before version 5, or past the last group).
 */
uint32_t store_leaf_group(const struct store_geom *g, uint64_t j, int copy, uint64_t *off,
			  uint64_t *entry);

/*
 * Reads the leaf group j of the object open as fd into out (at least
 * 4096 bytes), from copy 1 when it matches its entry in table (the
 * object's checked table), else from copy 2. Returns the group's length,
 * -EBADMSG when neither copy matches, -ENODATA when the object has no
 * leaves (before version 5), or another -errno. *out_bad (may be NULL)
 * gets the copies found bad (bit 0: copy 1, bit 1: copy 2; copy 2 is read
 * only when copy 1 is bad).
 */
int store_read_leaf_group(int fd, const struct store_geom *g, const uint8_t *table, uint64_t j,
			  uint8_t *out, unsigned *out_bad);

/* The XXH3-128 table entry of each leaf group of leaves[0..n) (n leaves
 * from the start of a group): ceil(n / STORE_LEAF_GROUP) entries into out. */
void store_leaf_entries(const uint8_t *leaves, uint64_t n, uint8_t *out);

/* The parity new objects of this store get (from its FORMAT file). */
void store_parity(const struct store *s, uint32_t *k, uint32_t *m);

/*
 * A new object being written under tmp/. The writer pwrites the file's data
 * into fd at STORE_OBJ_HEADER + offset (concurrently from many threads, at
 * disjoint offsets), then commits it with its root and block table.
 */
struct store_obj_writer {
	struct store *s;
	int fd;
	uint64_t length;
	struct store_geom g; /* with the store's parity */
	char tmp_path[4096];
	/* store_obj_table_fold of every entry store_obj_write_table wrote:
	 * what the commit checks the table it reads back against */
	_Atomic uint64_t fold[2];
};

/* Creates the temporary object and reserves its space (ENOSPC shows here). */
int store_obj_begin(struct store *s, uint64_t length, struct store_obj_writer *w,
		    struct seed_err *err);

/*
 * Writes n entries of the block table, entry `first` on (data blocks are
 * entries 0..n_blocks-1, parity block j of stripe s is n_blocks + s*m + j),
 * into table copy 1 in place, for a writer that streams the table as it
 * hashes instead of holding all of it (ingest of a large file): commit then
 * with block_xxh NULL. Thread-safe for disjoint ranges. 0, -EINVAL (past
 * the table) or a write error.
 */
int store_obj_write_table(struct store_obj_writer *w, uint64_t first, const uint8_t *entries,
			  size_t n, struct seed_err *err);
/*
 * Writes the SHA-256 leaves of data blocks first .. first + n - 1 into the
 * leaves' copy 1 (version 5; the commit reads them back, checks them
 * against their entries and writes copy 2), and their leaf groups' table
 * entries into out_entries (ceil(n / STORE_LEAF_GROUP) of 16 bytes), which
 * the caller puts in the table (in memory, or with store_obj_write_table
 * at entry n_blocks + n_parity + first / STORE_LEAF_GROUP). first must
 * start a group and n end one (or the file). Thread-safe for disjoint
 * ranges. 0, -EINVAL (not whole groups, past the end, no leaves in this
 * version) or a write error.
 */
int store_obj_write_leaves(struct store_obj_writer *w, uint64_t first, const uint8_t *leaves,
			   uint64_t n, uint8_t *out_entries, struct seed_err *err);
/*
 * XORs into acc a digest of entries[0..n) at table positions first.. (the
 * XXH3-128 of each entry seeded with its position, so the result does not
 * depend on how the table was split into writes but does on where each
 * entry went).
 */
void store_obj_table_fold(uint64_t first, const uint8_t *entries, size_t n, uint64_t acc[2]);

/*
 * Writes both copies of the block table (block_xxh: g.table_len bytes,
 * data then parity then leaf groups) and header, fsyncs and renames the
 * object into place; the writer has written the data, the parity blocks
 * and (version 5) the leaves (store_obj_write_leaves): the commit reads
 * the leaves back, checks each group against its entry (-EIO when one
 * differs: leaves lost or never written) and writes their copy 2. When an
 * object with this root already exists (a file shared with another
 * release) the new copy is dropped and *out_created is 0.
 *
 * block_xxh NULL: the whole table was written into copy 1 with
 * store_obj_write_table; the commit reads it back (from the page cache:
 * it was just written), a bounded piece at a time, checks it against the
 * writes' fold (-EIO when it differs: a table that is not what was
 * computed is never published), checksums it and writes copy 2 from it.
 * The durability is the same as with the table in memory: both copies are
 * in the file before the object is made durable and renamed.
 */
int store_obj_commit(struct store_obj_writer *w, const uint8_t root[32], const uint8_t *block_xxh,
		     int *out_created, struct seed_err *err);
/*
 * store_obj_commit for a writer of many objects at once (ingest): the
 * tables and headers are written and the descriptor closed, but the fsync
 * and the rename wait for store_obj_flush, which pays one file-system sync
 * for all of them. *out_created is set there. Thread-safe (ingest workers
 * commit concurrently). An object never flushed stays in tmp/, which the
 * next writer clears.
 */
int store_obj_commit_later(struct store_obj_writer *w, const uint8_t root[32],
			   const uint8_t *block_xxh, int *out_created, struct seed_err *err);
/*
 * Makes every object committed later durable (one syncfs), renames each
 * into place (an object whose root exists by then is dropped: the same
 * file twice) and fsyncs their directories, so a manifest written after
 * names only durable objects. On failure the objects not yet renamed are
 * dropped and those renamed have *out_created 1: the caller removes them
 * as after any failed create.
 */
int store_obj_flush(struct store *s, struct seed_err *err);

/* Drops an uncommitted object. Safe to call twice. */
void store_obj_abort(struct store_obj_writer *w);

/* 1 when the store holds an object named root. */
int store_obj_exists(const struct store *s, const uint8_t root[32]);

/* Removes a committed object (rolling back a failed create). */
int store_obj_remove(struct store *s, const uint8_t root[32], struct seed_err *err);

/* An object opened for reading; header and block table verified. */
struct store_obj {
	int fd;
	struct store_geom g; /* from the header in use: length, n_blocks, parity */
	uint8_t root[32];
	uint8_t *block_xxh; /* g.table_len bytes: data blocks, then parity; malloc'd */
	int copy;	    /* the copy of header and table in use: 1 or 2 */
	/* copies found bad on the way (bit 0: copy 1, bit 1: copy 2) and why;
	 * copy 2 is only read when copy 1 is bad (store_obj_check_copy) */
	unsigned bad_copies;
	char bad_why[2][96];
};

/*
 * Opens an object through the first intact copy of its header and block
 * table. -EBADMSG (both copies bad, the message says why for each),
 * -ENOENT, or another -errno. On failure nothing is held.
 */
int store_obj_open(struct store *s, const uint8_t root[32], struct store_obj *out,
		   struct seed_err *err);
/*
 * Checks the other copy of an open object (verify): 0 when it is intact
 * and equal to the one in use, -EBADMSG with why (may be NULL when why_len
 * is 0) saying what is wrong, or another -errno.
 */
int store_obj_check_copy(const struct store_obj *o, int copy, char *why, size_t why_len);
void store_obj_close(struct store_obj *o);

/*
 * Writes copy `copy` (1 or 2) of an object's header and block table into fd
 * (the object opened for writing) from table (g->table_len bytes), in place,
 * and fsyncs. For the store's writer (the lock held) repairing a copy found
 * bad: the write lands only on bytes already wrong, so a crash in the middle
 * leaves that copy as bad as it was and the other one whole.
 */
int store_obj_write_meta(struct store *s, int fd, const uint8_t root[32],
			 const struct store_geom *g, const uint8_t *table, int copy,
			 struct seed_err *err);

/* ---- releases ---- */

struct store_release_file {
	char *path; /* components joined by '/' */
	uint64_t length;
	int has_root; /* 0 for empty files */
	uint8_t root[32];
};

struct store_release {
	char *id, *tenant, *name, *version;
	char *torrent_name; /* the torrent's top-level name */
	int single_file;
	int64_t created;
	int kind; /* enum metainfo_kind */
	uint64_t piece_length;
	uint64_t total_length;
	int has_v1, has_v2;
	uint8_t ih_v1[20], ih_v2[32];
	struct store_release_file *files;
	size_t n_files;
	uint8_t *torrent; /* the torrent as published */
	size_t torrent_len;
	uint8_t *torrent_v1; /* the --also-v1 torrent, or NULL */
	size_t torrent_v1_len;
	/* What loading found of the manifest's two copies (releases/ID.rel
	 * and ID.rel.2): a bad one is rewritten from the good one when the
	 * store is open for writing. */
	struct fsu_copies manifest;
};

/* Checks an id is usable as a file name and URL path segment. */
int store_check_id(const char *id, struct seed_err *err);

/* Writes the manifest's two copies, each atomically; -EEXIST when the id
 * is taken. */
int store_release_write(struct store *s, const struct store_release *r, struct seed_err *err);
int store_release_exists(struct store *s, const char *id);
/* Loads and verifies a manifest from the first good copy (r->manifest
 * says what was found). A reader looks at copy 2 only when copy 1 is bad,
 * unless it asked for both (store_check_copies); a writer reads both and
 * repairs a bad one. -ENOENT names the id when absent. */
int store_release_load(struct store *s, const char *id, struct store_release **out_rel,
		       struct seed_err *err);
void store_release_free(struct store_release *r);
/* Manifest copies this handle has rewritten from their good copy since the
 * store was opened or the last call (a writer's open loads every manifest
 * to collect garbage, so that is where most are found); the count starts
 * again from 0. */
uint64_t store_take_manifest_repairs(struct store *s);
/* This reader (release verify) reads both copies of every manifest it
 * loads, so that a bad copy 2 is found. */
void store_check_copies(struct store *s);
/* Sorted ids of every release; free with store_free_list. */
int store_release_list(struct store *s, char ***out_ids, size_t *out_n, struct seed_err *err);
void store_free_list(char **ids, size_t n);
/*
 * store_open(dir, STORE_READ) then store_release_list(): how every rescan
 * of the store starts. On success the caller owns *out_store (store_close)
 * and *out_ids (store_free_list); on failure both are NULL, nothing held.
 */
int store_open_list(const char *dir, struct store **out_store, char ***out_ids, size_t *out_n,
		    struct seed_err *err);
/* Removes a release, then every object no remaining release uses. */
int store_release_remove(struct store *s, const char *id, struct seed_err *err);

/*
 * Deletes tmp/ leftovers and objects no manifest references. Runs when a
 * writer opens the store. Reports how many objects it removed. While a
 * manifest cannot be read (both copies bad) nothing is deleted: -EBADMSG
 * or -EPROTO naming it; store_open and store_release_remove go on without
 * collecting and store_gc_refusal says why.
 */
int store_gc(struct store *s, size_t *out_removed, struct seed_err *err);
/* Why the writer's last collection did not run (a damaged manifest), or
 * NULL when it ran. */
const char *store_gc_refusal(const struct store *s);

/* Path of an object (for reports): DIR/objects/xx/<hex>.obj, malloc'd. */
char *store_obj_path(const struct store *s, const uint8_t root[32]);

#endif
