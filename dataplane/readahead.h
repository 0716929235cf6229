/*
 * readahead: a worker's reads of several blocks at once (docs/dataplane.md,
 * "Read-ahead by piece").
 *
 * Peers ask for a piece block by block, and each block the cache lacks used
 * to cost one 16 KiB O_DIRECT read: a launch, where every block is cold,
 * paid one storage operation (a doorbell and an interrupt in a VM) per
 * 16 KiB. Now the first miss in a piece reads the rest of the piece, up to
 * RA_MAX_BLOCKS, in one readv into as many cache slots; the requests for
 * the piece's later blocks, which arrive a moment later, find their blocks
 * being read and wait for that one read (cache.h's CACHE_WAIT).
 *
 * The blocks beyond the one asked for are a guess, so they are bounded:
 *  - by the request: a BitTorrent miss reads to the end of its piece (every
 *    client asks for a piece whole), an HTTP miss to the end of the range
 *    asked (a range is all the client said it wants);
 *  - by the connection: at most as many blocks ahead as the connection has
 *    queued (a peer keeps as many requests open as it can take in its
 *    request queue time), and never fewer than RA_MIN_AHEAD;
 *  - by the worker: the bytes of read-ahead in flight stay under a budget
 *    (dpconf's readahead), so a crowd of peers each starting a piece
 *    cannot turn the storage queue into speculation;
 *  - by the object: never past its last block (the read of the last block
 *    is rounded up to 4 KiB, which the object's zero padding holds).
 *
 * A read-ahead that fails (EIO) or comes back short does not fail its
 * blocks: the blocks it covered whole are used, and each one it did not is
 * read again on its own (ra_complete says which), so one bad sector costs
 * the block that holds it, as it did before, and not its whole piece.
 *
 * This module does no I/O and keeps no pointer into the cache beyond the
 * buffers it is given; fetch.c submits the reads. One thread; nothing is
 * allocated after ra_create.
 *
 *   n = ra_window(ra, obj_len, first, want_end, queued)   blocks to read
 *   g = ra_begin(ra, off)                  -1: no group free (read one block)
 *   ra_add(ra, g, slot, buf, blen, rlen)   per block, in file order
 *   ra_iov(ra, g, &iov, &n, &len)          what storage_readv reads
 *   ra_complete(ra, g, res, out)           per block: its bytes or RA_REREAD
 */
#ifndef SEED_DP_READAHEAD_H
#define SEED_DP_READAHEAD_H

#include <stdint.h>
#include <sys/uio.h>

#include "seed_err.h"
#include "store.h"

#define RA_BLOCK      STORE_BLOCK /* the store's block, which the cache holds one of per slot */
#define RA_MAX_BLOCKS 64u	  /* 1 MiB per read: one 1 MiB piece, or a window of a larger one */
#define RA_MIN_AHEAD  4u	  /* blocks a connection may always have read ahead of it */
/* ra_complete: this block was not covered by the read; read it alone */
#define RA_REREAD INT64_MIN

struct ra;

struct ra_counters {
	uint64_t reads;	       /* reads of two or more blocks completed */
	uint64_t blocks;       /* blocks they carried beyond the one asked for */
	uint64_t splits;       /* of those reads, failed or short: blocks re-read alone */
	uint64_t budget_waits; /* misses read alone because the budget was spent */
};

/* groups: reads of several blocks in flight at most; budget: bytes read
 * ahead (beyond the block each read was made for) in flight at most, 0 to
 * read one block per miss. */
int ra_create(uint32_t groups, uint64_t budget, struct ra **out, struct seed_err *err);
void ra_destroy(struct ra *ra);

/*
 * How many blocks a miss of block `first` of an object of obj_len bytes
 * reads: at least 1 (the block itself), at most to want_end (exclusive:
 * the end of the piece or range asked for), RA_MAX_BLOCKS, the object's
 * last block, first + 1 + max(queued, RA_MIN_AHEAD), and what the budget
 * has left. 0 when first is past the object's end.
 */
uint32_t ra_window(struct ra *ra, uint64_t obj_len, uint32_t first, uint32_t want_end,
		   uint32_t queued);

/* The length an O_DIRECT read of a block of blen bytes takes: whole 4 KiB
 * sectors. */
static inline uint32_t ra_read_len(uint32_t blen)
{
	return (blen + 4095u) & ~4095u;
}

/* Starts a read at file offset off (of its first block); returns the
 * group, or -1 when every group is in flight. */
int32_t ra_begin(struct ra *ra, uint64_t off);
/* Adds the next block: its cache slot, where it lands, its length and its
 * read length (ra_read_len). At most RA_MAX_BLOCKS per group. */
void ra_add(struct ra *ra, int32_t g, uint32_t slot, void *buf, uint32_t blen, uint32_t rlen);
/* The blocks added so far (ra_abort them if the read cannot be made). */
uint32_t ra_count(const struct ra *ra, int32_t g);
uint32_t ra_slot(const struct ra *ra, int32_t g, uint32_t i);
/* The group's read: its iovecs (valid until ra_complete), their count, the
 * file offset and the total length; counts the blocks after the first
 * against the budget until the read completes. */
void ra_submit(struct ra *ra, int32_t g, const struct iovec **iov, uint32_t *n, uint64_t *off,
	       uint64_t *len);
/* A group that was never submitted goes back. */
void ra_abort(struct ra *ra, int32_t g);

struct ra_block {
	uint32_t slot;
	int64_t got; /* the block's length (read whole), or RA_REREAD */
};

/*
 * The read of group g returned res (bytes, or -errno): writes one entry
 * per block, in file order, to out (RA_MAX_BLOCKS entries) and returns how
 * many. A block is whole when the bytes before it and its own read length
 * all came back; every other block is RA_REREAD. The group is free again.
 */
uint32_t ra_complete(struct ra *ra, int32_t g, int32_t res, struct ra_block *out);

const struct ra_counters *ra_counters(const struct ra *ra);
/* Bytes read ahead in flight now. */
uint64_t ra_inflight(const struct ra *ra);

#endif
