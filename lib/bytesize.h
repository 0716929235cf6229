/*
 * bytesize: byte counts as operators type them, "512M", "8G", "4096", for
 * flags and config values (seed-dataplane's --cache-size, the bench tools'
 * --size and --block).
 *
 * Grammar: one or more ASCII digits, then at most one suffix K, M, G or T in
 * either case, meaning 2^10, 2^20, 2^30, 2^40 (binary multiples: memory and
 * block sizes are powers of two), then the end of the string. Nothing else
 * is accepted: no whitespace on either side (a config reader trims its
 * values before it gets here), no sign (strtoull would read "-1" as
 * 2^64 - 1), no fraction, no "B" or "iB" tail, no hex. A value that does not
 * fit in 64 bits, in its digits or once the suffix multiplies it, is refused,
 * never wrapped round into range.
 *
 * Errors are 0 or -errno: -EINVAL for what is not a size (with the byte
 * offset of the first bad character in the report), -ERANGE for a size
 * that does not fit or lies outside the caller's bounds. The message quotes
 * the value; the caller prefixes what it was (the flag, file:line).
 */
#ifndef SEED_BYTESIZE_H
#define SEED_BYTESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

/* Parses s (NULL reads as ""); *out is written only on success. */
int bytesize_parse(const char *s, uint64_t *out, struct seed_err *err);

/*
 * As bytesize_parse(), and refuses with -ERANGE a value below min or above
 * max; the message names the bounds as bytesize_format() writes them
 * ("\"1K\" is not a size from 4M to 4T").
 */
int bytesize_parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *out,
			 struct seed_err *err);

/* Room for any bytesize_format() result: 20 digits, a suffix, a NUL. */
#define BYTESIZE_FMT_MAX 24

/*
 * Writes n with the largest suffix that divides it exactly ("256M", "4T",
 * "1536K", "4097", "0"), a string bytesize_parse() reads back to n. out
 * holds BYTESIZE_FMT_MAX bytes. Returns out.
 */
char *bytesize_format(uint64_t n, char *out);

#endif
