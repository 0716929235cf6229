/*
 * verify: re-hashes a release from the store and names every bad block.
 *
 * For each file: both copies of the object's header and block table (a bad
 * copy is reported even though the other one serves), the XXH3-128
 * of every 16 KiB block, the SHA-256 merkle root (the v2 pieces root the
 * object is keyed by) and, for torrents with a v1 view, the SHA-1 of every
 * piece against the published torrent; each parity block against its
 * XXH3-128, and each stripe's count of bad blocks against what its parity
 * can rebuild. A corrupt block is reported once, with its file and byte
 * offset; the first failing check names the cause.
 */
#ifndef SEED_VERIFY_H
#define SEED_VERIFY_H

#include <stdint.h>

#include "hash.h"
#include "seed_err.h"
#include "store.h"

struct verify_bad {
	const char *file; /* path inside the release */
	uint64_t offset;  /* byte offset in the file */
	uint64_t length;  /* bytes covered (a block, a piece or the file) */
	const char *what; /* the failed check */
};

struct verify_stats {
	uint64_t files, bytes, bad;
	uint64_t parity_bad;	    /* parity blocks failing their checksum */
	uint64_t blocks_repairable; /* bad data blocks in stripes parity can rebuild */
	uint64_t stripes_lost;	    /* stripes with more than m bad blocks */
};

/*
 * Returns the number of bad regions found (0 = intact), calling on_bad for
 * each, or -errno when the check itself could not run (I/O error, memory).
 */
int verify_release(struct store *s, const struct store_release *r, enum hash_impl impl,
		   void (*on_bad)(void *arg, const struct verify_bad *b), void *arg,
		   struct verify_stats *out_stats, struct seed_err *err);

#endif
