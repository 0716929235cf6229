/*
 * scrub: the store's writer finds and repairs what has gone bad in it.
 *
 * For every object of the releases it is given (each object once, however
 * many releases share it):
 *  - a bad copy of the header and block table is rewritten from the good
 *    one; both bad: the table is rebuilt from the data, once the data's
 *    SHA-256 merkle root equals the object's name (the v2 pieces root), and
 *    the parity recomputed from it;
 *  - every data block and parity block is checked against its XXH3-128,
 *    and the data's SHA-256 merkle root against the object's name; a
 *    stripe with at most m bad blocks is rebuilt with its parity and the bad
 *    blocks written back; a stripe with more is counted as lost and left as
 *    it is;
 *  - manifests with a bad copy are rewritten by loading them (store.h).
 *
 * Writes go in place, and only over bytes already found wrong (a block, a
 * table copy): a crash in the middle leaves them as wrong as they were,
 * never damages what was whole, and the next scrub finds them again. So no
 * journal and no temporary copy of a multi-gigabyte object are needed. The
 * caller holds the store open for writing (STORE_WRITE: the writer lock).
 */
#ifndef SEED_SCRUB_H
#define SEED_SCRUB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "seed_err.h"
#include "store.h"

struct scrub_stats {
	uint64_t releases, objects, bytes;
	uint64_t copies_rewritten; /* header/table or manifest copies rewritten */
	uint64_t tables_rebuilt;   /* both copies bad: rebuilt from the data */
	uint64_t blocks_rebuilt;   /* data blocks rebuilt from parity, written back */
	uint64_t parity_rebuilt;   /* parity blocks recomputed, written back */
	uint64_t blocks_lost;	   /* bad data blocks beyond their stripe's parity */
	uint64_t objects_lost;	   /* objects missing, or whose table cannot be rebuilt */
	uint64_t repairs_failed;   /* bad copies that could not be rewritten (disk full) */
};

/* The counters of struct scrub_stats by name (as scrub.last and --json
 * name them), k from 0 to SCRUB_NSTATS - 1. */
#define SCRUB_NSTATS 10
const char *scrub_stat_name(size_t k);
uint64_t scrub_stat(const struct scrub_stats *st, size_t k);

/* One thing found (and repaired, or not): release id, file path, what. */
typedef void (*scrub_event_fn)(void *arg, const char *release, const char *file, const char *what);

/*
 * Scrubs every release of s, or only the one named only (NULL: all).
 * Returns 0 when everything is whole afterwards, 1 when something is lost or
 * a bad copy could not be rewritten (stats say what), or -errno when the scrub itself could not run (I/O
 * error, memory, a release that cannot be loaded).
 */
int scrub_store(struct store *s, const char *only, enum hash_impl impl, scrub_event_fn on_event,
		void *arg, struct scrub_stats *st, struct seed_err *err);

/*
 * scrub_store reading at most rate bytes a second (0: as fast as it can),
 * the pages it read dropped from the page cache again, so that a scrub of a
 * store that is being served leaves the disk's bandwidth and the memory to
 * the peers.
 */
int scrub_store_paced(struct store *s, const char *only, enum hash_impl impl, uint64_t rate,
		      scrub_event_fn on_event, void *arg, struct scrub_stats *st,
		      struct seed_err *err);

/*
 * The background scrub (seed-control's): one pass over every object of the
 * store at dir, read without the store's lock (STORE_SCAN) at rate, so that
 * a pass of hours never holds up a `release create`. Whatever looks wrong
 * -- a bad block, a bad copy, a missing object, data whose SHA-256 merkle
 * root is not its name -- is looked at again and repaired under the writer
 * lock, taken for that one object (or manifest) and let go at once: what a
 * concurrent writer was changing under the lockless read is found whole the
 * second time and counted as nothing. Counts, events and scrub.last as
 * scrub_store. stop, when set, ends the pass at the next chunk read with
 * -ECANCELED; on_progress (may be NULL) gets the running counters after each
 * object.
 */
struct scrub_opts {
	enum hash_impl impl;
	uint64_t rate; /* bytes a second, 0: as fast as it can */
	const atomic_int *stop;
	scrub_event_fn on_event;
	void (*on_progress)(void *arg, const struct scrub_stats *st);
	void *arg;
};
int scrub_background(const char *dir, const struct scrub_opts *o, struct scrub_stats *st,
		     struct seed_err *err);

/*
 * The stripe of one block the data plane found bad (its repair record,
 * dpstats.h): block `block` of the object root, a file of length bytes.
 * Every block of the stripe is checked against its XXH3-128 and the stripe
 * rebuilt and written back as a scrub does; an object whose metadata
 * copies are not both intact (or that has no parity) is scrubbed whole.
 * Events name the object ("(data plane)", "object HEX"). s open for
 * writing. 0 when what it checked is whole afterwards, 1 when something is
 * lost, -errno. A missing object (removed since) is 0.
 */
int scrub_block(struct store *s, const uint8_t root[32], uint64_t length, uint64_t block,
		enum hash_impl impl, scrub_event_fn on_event, void *arg, struct scrub_stats *st,
		struct seed_err *err);

/*
 * What a scrub found in one tenant's releases: the counters of what was
 * found while its releases were scrubbed (an object two tenants share is
 * scrubbed once, for the first tenant in id order, and counted there;
 * manifest copies rewritten as the store was opened count for the store
 * only), when that scrub finished and whether that tenant's releases were
 * whole afterwards.
 */
struct scrub_tenant {
	char tenant[STORE_MAX_ID + 1];
	int64_t finished;
	int whole;
	struct scrub_stats st;
};

/*
 * What the last scrub of a store found: scrub_store writes it to
 * STORE/scrub.last (a line per counter, then a line per tenant, written
 * atomically) after every run; scrub_last reads it back. only is the
 * release the run was limited to ("" for all), finished its end (Unix
 * seconds), whole its verdict. tenants: one record per tenant, sorted,
 * each from the last scrub that covered any of its releases (a scrub of
 * one release replaces only its tenant's record).
 */
struct scrub_last {
	int64_t finished;
	char only[201];
	int whole;
	struct scrub_stats st;
	struct scrub_tenant *tenants; /* malloc'd; scrub_last_free */
	size_t n_tenants;
};

/* 0, -ENOENT when the store was never scrubbed, -EBADMSG (err says which
 * line) when the file is not one scrub_store wrote, or -ENOMEM. out is
 * always set (empty on failure) and freed with scrub_last_free. */
int scrub_last(const char *store_dir, struct scrub_last *out, struct seed_err *err);
void scrub_last_free(struct scrub_last *l);
/* The record of tenant in l, or NULL. */
const struct scrub_tenant *scrub_last_tenant(const struct scrub_last *l, const char *tenant);

/*
 * The block table of an object (open as fd) whose two header/table copies
 * are both bad, rebuilt in memory from its data: the layout follows from the
 * file's size (the store's parity first), the data must hash to the merkle
 * root root, and the parity entries are those of parity recomputed from the
 * data. Writes nothing (the data plane serves from it; a scrub writes it
 * back). 0 with *out_table (g->table_len bytes, malloc'd) and *g, -EBADMSG
 * (err says why) when the data does not match, or another -errno.
 */
int scrub_rebuild_table(struct store *s, int fd, uint64_t length, const uint8_t root[32],
			struct store_geom *g, uint8_t **out_table, struct seed_err *err);

#endif
