/*
 * benchopt: the command lines of memcpy_bw and odirect_read, each a table of
 * flags (struct benchopt) that benchopt_parse() walks: values parsed and
 * refused alike ("PROG: bad --FLAG VALUE" on stderr), --help/-h and unknown
 * options answered the same way. Header-only: the two are single-file
 * programs.
 */
#ifndef SEED_BENCHOPT_H
#define SEED_BENCHOPT_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum benchopt_kind {
	BENCHOPT_FLAG,	  /* no value: out is an int set to 1 */
	BENCHOPT_INT,	  /* benchopt_int in [lo, hi]: out is a long */
	BENCHOPT_SIZE,	  /* benchopt_size in [lo, hi], a multiple of align: out is a uint64_t */
	BENCHOPT_SECONDS, /* benchopt_seconds: out is a double */
	BENCHOPT_CHOICE,  /* one of choices (NULL-terminated): out is an int, its index */
};

struct benchopt {
	const char *name; /* without the leading "--" */
	enum benchopt_kind kind;
	void *out;
	uint64_t lo, hi, align;
	const char *const *choices;
};

/* What benchopt_parse returns instead of an index: main returns 0 or 2. */
#define BENCHOPT_HELP (-1)
#define BENCHOPT_BAD  (-2)

/*
 * Parses argv[1..] against the n flags of opts, writing each value through
 * its out. --help and -h print usage on stdout (BENCHOPT_HELP). An unknown
 * option, a flag without its value or a bad value is said on stderr, with
 * usage for the first two (BENCHOPT_BAD). With operands, the first argument
 * not starting with "--" ends the flags and its index is returned; without,
 * every argument must be a flag and argc is returned.
 */
static inline int benchopt_parse(const char *prog, int argc, char **argv,
				 const struct benchopt *opts, size_t n, int operands,
				 void (*usage)(FILE *f))
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return BENCHOPT_HELP;
		}
		if (operands && (a[0] != '-' || a[1] != '-'))
			break;
		const struct benchopt *o = NULL;
		for (size_t k = 0; k < n && !o; k++)
			if (a[0] == '-' && a[1] == '-' && !strcmp(a + 2, opts[k].name) &&
			    (opts[k].kind == BENCHOPT_FLAG || v))
				o = &opts[k];
		if (!o) {
			fprintf(stderr, "%s: unknown option %s\n", prog, a);
			usage(stderr);
			return BENCHOPT_BAD;
		}
		int rc = 0;
		switch (o->kind) {
		case BENCHOPT_FLAG: *(int *)o->out = 1; continue;
		case BENCHOPT_INT:
			rc = benchopt_int(prog, o->name, v, (long)o->lo, (long)o->hi, o->out);
			break;
		case BENCHOPT_SIZE:
			rc = benchopt_size(prog, o->name, v, o->lo, o->hi, o->align, o->out);
			break;
		case BENCHOPT_SECONDS: rc = benchopt_seconds(prog, v, o->out); break;
		case BENCHOPT_CHOICE:
			rc = -1;
			for (int c = 0; o->choices[c] && rc; c++)
				if (!strcmp(v, o->choices[c])) {
					*(int *)o->out = c;
					rc = 0;
				}
			if (rc)
				fprintf(stderr, "%s: bad --%s %s\n", prog, o->name, v);
			break;
		}
		if (rc < 0)
			return BENCHOPT_BAD;
		i++;
	}
	return i;
}

#endif
