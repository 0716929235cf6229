/*
 * bencode: strict BEP 3 parsing and canonical emission.
 *
 * Parsing accepts only the canonical form: integers without leading zeros,
 * no "-0", no "+"; string lengths without leading zeros; dictionary keys
 * strictly increasing as raw byte strings (so also unique); nothing after the
 * top-level value. Depth, node count and integer range are bounded, and every
 * error names the byte offset of the fault. The parsed tree points into the
 * caller's buffer: the buffer must outlive the document.
 *
 * Emission appends to a growable buffer and checks, as it goes, that the
 * caller writes dictionary keys in strictly increasing order, so every emitted
 * document is canonical (and therefore hashes to the right info-hash).
 */
#ifndef SEED_BENCODE_H
#define SEED_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

enum bencode_type {
	BENCODE_INT = 1,
	BENCODE_STR,
	BENCODE_LIST,
	BENCODE_DICT,
};

struct bencode_node;

struct bencode_kv {
	const uint8_t *key; /* borrows the input buffer */
	size_t key_len;
	struct bencode_node *val;
};

struct bencode_node {
	enum bencode_type type;
	const uint8_t *raw; /* the whole encoded value in the input */
	size_t raw_len;
	union {
		int64_t i;
		struct {
			const uint8_t *p; /* borrows the input buffer */
			size_t len;
		} s;
		struct {
			struct bencode_node **items;
			size_t n;
		} list;
		struct {
			struct bencode_kv *items; /* sorted by key */
			size_t n;
		} dict;
	} u;
};

struct bencode_limits {
	size_t max_depth; /* nesting of lists and dicts; 0 = default (64) */
	size_t max_nodes; /* total values; 0 = default (1 << 22) */
};

struct bencode_doc;

/*
 * Parses [buf, end). On success *out_doc owns the node tree (free with
 * bencode_free); the tree borrows buf, which must outlive it. On failure
 * returns -EINVAL (malformed, with err->offset set), -E2BIG (a limit was hit)
 * or -ENOMEM, and *out_doc is NULL. lim may be NULL for defaults.
 */
int bencode_parse(const uint8_t *buf, const uint8_t *end, const struct bencode_limits *lim,
		  struct bencode_doc **out_doc, struct seed_err *err);

const struct bencode_node *bencode_root(const struct bencode_doc *doc);
void bencode_free(struct bencode_doc *doc);

/* Dictionary lookup by key (binary search); NULL when absent or d is not a dict. */
const struct bencode_node *bencode_dict_get(const struct bencode_node *d, const char *key);
const struct bencode_node *bencode_dict_getn(const struct bencode_node *d, const void *key,
					     size_t key_len);

/* ---- emission ---- */

#define BENCODE_MAX_EMIT_DEPTH 64

/*
 * Growable output. Errors are sticky: after the first failure (out of memory,
 * keys out of order, unbalanced end, depth) every call is a no-op and
 * bencode_buf_finish() reports it, so builders check once at the end.
 */
struct bencode_buf {
	uint8_t *p;
	size_t len, cap;
	int err; /* 0 or -errno, sticky */
	size_t depth;
	/* per open container: 'l' or 'd'; for dicts, where the last key starts
	 * in p and its length (SIZE_MAX when none yet), and whether a value is due */
	struct {
		char kind;
		size_t last_key_off, last_key_len;
		int want_value;
	} stack[BENCODE_MAX_EMIT_DEPTH];
};

void bencode_buf_init(struct bencode_buf *b);
/* Frees the buffer's memory; the struct may be reused after bencode_buf_init. */
void bencode_buf_release(struct bencode_buf *b);

void bencode_put_int(struct bencode_buf *b, int64_t v);
void bencode_put_str(struct bencode_buf *b, const void *p, size_t n);
void bencode_put_cstr(struct bencode_buf *b, const char *s);
/* Appends an already-encoded value verbatim (e.g. a parsed info dict). */
void bencode_put_raw(struct bencode_buf *b, const void *p, size_t n);
void bencode_begin_list(struct bencode_buf *b);
void bencode_begin_dict(struct bencode_buf *b);
/* In a dict: the key of the next value. Keys must strictly increase. */
void bencode_put_key(struct bencode_buf *b, const void *key, size_t n);
void bencode_put_ckey(struct bencode_buf *b, const char *key);
void bencode_end(struct bencode_buf *b);

/*
 * Returns 0 when the buffer holds exactly one complete, canonical value, or
 * the sticky error (-EINVAL for misuse such as unsorted keys or an unclosed
 * container, -ENOMEM), filling err. On success the caller may take b->p
 * (ownership passes; b->p then must be freed with free()).
 */
int bencode_buf_finish(struct bencode_buf *b, struct seed_err *err);

#endif
