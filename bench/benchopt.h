/*
 * benchopt: the flag values memcpy_bw and odirect_read both take, parsed
 * and refused alike ("PROG: bad --FLAG VALUE" on stderr). Header-only: the
 * two are single-file programs.
 */
#ifndef SEED_BENCHOPT_H
#define SEED_BENCHOPT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bytesize.h"

/* --seconds: more than 0 and less than an hour. Returns 0 or -1 (said). */
static inline int benchopt_seconds(const char *prog, const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d > 0 && d < 3600)) {
		fprintf(stderr, "%s: bad --seconds %s\n", prog, v);
		return -1;
	}
	*out = d;
	return 0;
}

/* A whole number in [lo, hi] for --FLAG. Returns 0 or -1 (said). */
static inline int benchopt_int(const char *prog, const char *flag, const char *v, long lo, long hi,
			       long *out)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi) {
		fprintf(stderr, "%s: bad --%s %s\n", prog, flag, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* A byte size (K/M/G/T suffixes) in [lo, hi] and a multiple of align for
 * --FLAG. Returns 0 or -1 (said). */
static inline int benchopt_size(const char *prog, const char *flag, const char *v, uint64_t lo,
				uint64_t hi, uint64_t align, uint64_t *out)
{
	struct seed_err e;
	uint64_t n;
	seed_err_clear(&e);
	if (bytesize_parse_range(v, lo, hi, &n, &e) < 0) {
		fprintf(stderr, "%s: bad --%s: %s\n", prog, flag, e.msg);
		return -1;
	}
	if (n % align) {
		fprintf(stderr, "%s: bad --%s: %s is not a multiple of %llu\n", prog, flag, v,
			(unsigned long long)align);
		return -1;
	}
	*out = n;
	return 0;
}

#endif
