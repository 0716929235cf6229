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

/* Joins a and b with one '/' into a malloc'd string; NULL on ENOMEM. */
char *fsu_join(const char *a, const char *b);

#endif
