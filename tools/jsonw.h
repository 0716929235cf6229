/*
 * jsonw: a minimal streaming JSON writer for seedctl's --json output.
 * It tracks commas itself; strings are escaped per RFC 8259 (bytes that are
 * not valid UTF-8 are written as \u00XX of each byte so output stays valid).
 */
#ifndef SEED_JSONW_H
#define SEED_JSONW_H

#include <stdint.h>
#include <stdio.h>

struct jsonw {
	FILE *f;
	int depth;
	int first[32]; /* per level: nothing written yet */
	int after_key;
};

void jsonw_init(struct jsonw *w, FILE *f);
void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *k);
void jsonw_str(struct jsonw *w, const char *s);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_i64(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, int v);
/* Fixed-point with `decimals` digits (finite values only). */
void jsonw_fixed(struct jsonw *w, double v, int decimals);
void jsonw_null(struct jsonw *w);
/* Ends the document with a newline. */
void jsonw_finish(struct jsonw *w);

/* Shorthands: "key": value */
void jsonw_kstr(struct jsonw *w, const char *k, const char *v); /* NULL -> null */
void jsonw_ku64(struct jsonw *w, const char *k, uint64_t v);

#endif
