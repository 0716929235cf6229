/*
 * seed_err: the error report that library code fills and the edge renders.
 *
 * lib/ and dataplane/proto/ never print or exit on bad input. A failing call
 * returns -errno and, when given a struct seed_err, writes one human line
 * into it naming what was wrong (file, key, byte offset). The CLI or daemon
 * prints that line. The first error set wins: later seed_err_set() calls on an
 * already-set report are ignored, so the innermost, most precise cause is what
 * the operator sees.
 */
#ifndef SEED_ERR_H
#define SEED_ERR_H

#include <stddef.h>
#include <stdint.h>

#define SEED_ERR_MSG_MAX 512

struct seed_err {
	int code;	 /* -errno of the failure, 0 when unset */
	int has_offset;	 /* offset is meaningful */
	uint64_t offset; /* byte offset of the fault in the input */
	char msg[SEED_ERR_MSG_MAX];
};

/* Clears a report. */
void seed_err_clear(struct seed_err *e);

/*
 * Sets the report (when e is non-NULL and not yet set) and returns code,
 * which must be negative, so callers can write `return seed_err_set(...)`.
 */
int seed_err_set(struct seed_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As seed_err_set(), also recording the byte offset of the fault. */
int seed_err_set_at(struct seed_err *e, int code, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Prefixes an already-set message with context ("path/to/file: "), so a
 * low-level cause gains the name of what was being processed.
 */
void seed_err_prefix(struct seed_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
