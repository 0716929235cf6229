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

/* Table rows, one macro per kind (out is the variable's address). */
#define BENCHOPT_FLAG_ROW(name, out)                        \
	{                                                   \
		(name), BENCHOPT_FLAG, (out), 0, 0, 0, NULL \
	}
#define BENCHOPT_INT_ROW(name, out, lo, hi)                      \
	{                                                        \
		(name), BENCHOPT_INT, (out), (lo), (hi), 0, NULL \
	}
#define BENCHOPT_SECONDS_ROW(out)                                 \
	{                                                         \
		"seconds", BENCHOPT_SECONDS, (out), 0, 0, 0, NULL \
	}
#define BENCHOPT_SIZE_ROW(name, out, lo, hi, align)                     \
	{                                                               \
		(name), BENCHOPT_SIZE, (out), (lo), (hi), (align), NULL \
	}
#define BENCHOPT_CHOICE_ROW(name, out, choices)                    \
	{                                                          \
		(name), BENCHOPT_CHOICE, (out), 0, 0, 0, (choices) \
	}

/*
 * Parses argv[1..] against the n flags of opts, writing each value through
 * its out. Returns -1 to go on, else main's exit code: 0 after --help or -h
 * (usage on stdout), 2 after an unknown option, a flag without its value
 * (both said on stderr with usage) or a bad value (said). With out_first,
 * the first argument not starting with "--" ends the flags and *out_first
 * is its index (argc when none); without, every argument must be a flag.
 */
static inline int benchopt_parse(const char *prog, int argc, char **argv,
				 const struct benchopt *opts, size_t n, int *out_first,
				 void (*usage)(FILE *f))
{
	const int operands = out_first != NULL;
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
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
			return 2;
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
			return 2;
		i++;
	}
	if (out_first)
		*out_first = i;
	return -1;
}

#endif
