/*
 * fsutil: the few file-system idioms every writer of the store shares.
 *
 * The store's durability rule is write to a temporary name, fsync, rename
 * over the final name, fsync the directory: a reader (or a crash) sees the
 * old file or the new one, never a torn one. These helpers implement it once.
 */
#ifndef SEED_FSUTIL_H
#define SEED_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "seed_err.h"

/* Creates dir and missing parents (mode for new ones). 0 or -errno. */
int fsu_mkdir_p(const char *dir, mode_t mode, struct seed_err *err);

/* fsyncs a directory so a rename or unlink in it is durable. */
int fsu_fsync_dir(const char *dir, struct seed_err *err);

/*
 * Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. On failure nothing is left behind
 * and the old file (if any) is untouched.
 */
int fsu_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		     struct seed_err *err);

/*
 * Reads a whole regular file of at most max bytes. *out_buf is malloc'd
 * (caller frees), with one NUL byte after the data for convenience.
 * -EFBIG when larger than max.
 */
int fsu_read_file(const char *path, size_t max, uint8_t **out_buf, size_t *out_len,
		  struct seed_err *err);

/* pwrite/pread of exactly len bytes, retrying on EINTR and short counts.
 * Return 0, or -errno; a read past EOF returns -ENODATA. */
int fsu_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
int fsu_pread_full(int fd, void *buf, size_t len, uint64_t off);

/*
 * Files kept twice (the store's manifests, the catalog): copy 1 at path,
 * copy 2 at path + FSU_COPY2_SUFFIX, a second file so that one bad sector
 * cannot hit both. Each copy carries its own checksum, which the caller's
 * check function verifies.
 *
 * fsu_write_twice writes copy 1, then copy 2, each atomically: a crash
 * between the two leaves copy 1 new and copy 2 old, and readers take copy 1
 * when it is good, so a reader never goes back in time unless copy 1 is
 * also damaged afterwards.
 */
#define FSU_COPY2_SUFFIX ".2"

int fsu_write_twice(const char *path, const void *data, size_t len, mode_t mode,
		    struct seed_err *err);

/* Checks one copy; 0 when it is whole, else -errno with err naming why
 * (without the path: the caller's report adds it). */
typedef int (*fsu_check_fn)(const uint8_t *buf, size_t len, void *ctx, struct seed_err *err);

/* What fsu_read_twice found: which copies were bad (missing counts as bad)
 * and why, and which it rewrote. */
struct fsu_copies {
	unsigned bad;	   /* bit 0: copy 1, bit 1: copy 2 */
	unsigned repaired; /* the same bits: rewritten from the good one */
	struct seed_err why[2];
};

/* How much of a file kept twice a read looks at. */
enum fsu_twice {
	FSU_FIRST_GOOD, /* copy 2 only when copy 1 is bad: readers serving it */
	FSU_BOTH,	/* both, reporting a bad one: verify */
	FSU_REPAIR,	/* both, rewriting a bad one from the good: the file's writer */
};

/*
 * Returns the first good copy of path (copy 1 first) in out_buf and
 * out_len (malloc'd, NUL after the data), reading copy 2 too as `how` says.
 * FSU_REPAIR (the caller holds the file's writer lock) rewrites a bad copy
 * from the good one; a failed rewrite is reported in why[] and leaves the
 * bit out of repaired, and the read still succeeds. Both bad: the error of
 * copy 1 (of copy 2 when copy 1 is missing), both in rep->why[]; -ENOENT
 * when neither exists.
 */
int fsu_read_twice(const char *path, size_t max, fsu_check_fn check, void *ctx, enum fsu_twice how,
		   uint8_t **out_buf, size_t *out_len, struct fsu_copies *rep,
		   struct seed_err *err);

/* Removes both copies; a missing one is not an error. */
int fsu_unlink_twice(const char *path, struct seed_err *err);

/*
 * The image of one of our small files (a manifest, the catalog) built in
 * memory before it is written: hdr_len + body_len + tail_len bytes, the
 * header zeroed but for its 8-byte magic and, after it, the format version
 * (32-bit little-endian), both first in all our headers (hdr_len >= 12).
 * NULL (and err set) when out of memory.
 */
uint8_t *fsu_image_new(const char magic[8], uint32_t version, size_t hdr_len, size_t body_len,
		       size_t tail_len, struct seed_err *err);

/* Joins a and b with one '/' into a malloc'd string; NULL on ENOMEM. */
char *fsu_join(const char *a, const char *b);

#endif
