/*
 * bencode: strict BEP 3 parser and canonical emitter (API in bencode.h).
 *
 * Parsing is iterative: an explicit frame stack holds the open containers,
 * so input nesting never turns into C-stack recursion, and the depth limit
 * is checked before a frame is pushed. Children of open containers collect
 * on one shared "pending" vector; when a container closes, its slice of the
 * vector is copied into an exactly sized array and popped. Because keys are
 * checked against the previous key as they arrive, a closed dictionary is
 * already sorted and bencode_dict_getn() can binary-search it.
 *
 * Memory: nodes, child arrays and the struct bencode_doc itself live in one
 * arena of geometrically growing blocks (a few large allocations per
 * document). The frame stack and pending vector are scratch, freed before
 * bencode_parse() returns. Nothing in the tree is a copy: strings, keys and
 * raw spans point into the caller's buffer.
 *
 * Invariants while parsing: ps->pend holds, for each open frame in order, the
 * finished children of that frame from frame->pend_base up; a dict frame's
 * key/key_len is its last key, which any new key must exceed.
 *
 * Emission keeps the same rules on the way out: per open dict the offset and
 * length of the last key inside b->p (an offset, because p moves on realloc),
 * and whether a value is owed. The first misuse sets b->err and freezes the
 * buffer, so b->len then still says where it went wrong.
 */
#include "bencode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCODE_DEFAULT_MAX_DEPTH 64
#define BENCODE_DEFAULT_MAX_NODES ((size_t)1 << 22)

/* ---- arena ---- */

#define ARENA_FIRST_BLOCK ((size_t)4096)
#define ARENA_MAX_BLOCK	  ((size_t)16 << 20)
/* what the arena holds; max_align_t would waste 8 bytes per node */
union arena_item {
	struct bencode_node node;
	struct bencode_kv kv;
	void *ptr;
};
#define ARENA_ALIGN (_Alignof(union arena_item))

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	union arena_item data[];
};

struct arena {
	struct arena_blk *head; /* the block being bump-allocated from */
	size_t next_cap;	/* size of the next regular block */
};

static void arena_free_all(struct arena_blk *b)
{
	while (b) {
		struct arena_blk *next = b->next;

		free(b);
		b = next;
	}
}

static void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_blk *b;
	size_t cap;
	bool own;
	void *p;

	if (size > SIZE_MAX - (ARENA_ALIGN - 1))
		return NULL;
	size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

	b = a->head;
	if (b && b->cap - b->used >= size) {
		p = (unsigned char *)b->data + b->used;
		b->used += size;
		return p;
	}

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	/*
	 * An allocation bigger than a regular block (a huge list's item array)
	 * gets a block of its own, linked behind the head so the head's free
	 * space is not abandoned.
	 */
	own = size > a->next_cap;
	cap = own ? size : a->next_cap;
	b = malloc(sizeof(*b) + cap);
	if (!b)
		return NULL;
	b->cap = cap;
	b->used = size;
	if (own && a->head) {
		b->next = a->head->next;
		a->head->next = b;
	} else {
		b->next = a->head;
		a->head = b;
		if (a->next_cap < ARENA_MAX_BLOCK)
			a->next_cap *= 2;
	}
	return b->data;
}

/* ---- parser ---- */

struct bencode_doc {
	struct bencode_node *root;
	struct arena_blk *blocks; /* the doc itself lives in one of these */
};

struct frame {
	struct bencode_node *node;
	size_t pend_base;   /* this frame's first child in ps->pend */
	const uint8_t *key; /* dict: last key seen (valid if has_key) */
	size_t key_len;
	bool has_key;
	bool want_value; /* dict: key read, its value not yet */
};

struct parser {
	const uint8_t *buf, *end;
	size_t max_depth, max_nodes;
	size_t nodes;
	struct seed_err *err;
	struct arena arena;

	struct frame *frames;
	size_t depth, frames_cap;

	struct bencode_kv *pend; /* lists use only .val */
	size_t pend_len, pend_cap;
};

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* Three-way compare of raw byte strings: memcmp, then shorter first. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

__attribute__((format(printf, 4, 5))) static int fail(struct parser *ps, int code,
						      const uint8_t *at, const char *fmt, ...)
{
	char what[160];
	size_t off = (size_t)(at - ps->buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return seed_err_set_at(ps->err, code, off, "bencode: %s at byte %zu", what, off);
}

static int fail_nomem(struct parser *ps, const uint8_t *at)
{
	return fail(ps, -ENOMEM, at, "out of memory");
}

/* Doubles *cap until it holds need elements of size sz; 0 or -ENOMEM. */
static int grow(void **vec, size_t *cap, size_t need, size_t sz)
{
	size_t ncap = *cap ? *cap : 16;
	void *n;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / sz)
		return -ENOMEM;
	n = realloc(*vec, ncap * sz);
	if (!n)
		return -ENOMEM;
	*vec = n;
	*cap = ncap;
	return 0;
}

/* Counts and allocates one node starting at p; checks the node limit. */
static int new_node(struct parser *ps, const uint8_t *p, enum bencode_type t,
		    struct bencode_node **out)
{
	struct bencode_node *n;

	if (ps->nodes >= ps->max_nodes)
		return fail(ps, -E2BIG, p, "more than %zu values", ps->max_nodes);
	n = arena_alloc(&ps->arena, sizeof(*n));
	if (!n)
		return fail_nomem(ps, p);
	ps->nodes++;
	memset(n, 0, sizeof(*n));
	n->type = t;
	n->raw = p;
	*out = n;
	return 0;
}

/*
 * "i<int>e" at *pp: canonical decimal, no leading zero, no "-0", no "+",
 * within int64. The magnitude is built in uint64 with an overflow check
 * before every step, so no digit run can overflow or read past end.
 */
static int parse_int(struct parser *ps, const uint8_t **pp, int64_t *out)
{
	const uint8_t *s = *pp, *p = s + 1, *end = ps->end;
	uint64_t mag = 0, limit = INT64_MAX;
	bool neg = false;

	if (p < end && *p == '-') {
		neg = true;
		limit = (uint64_t)INT64_MAX + 1;
		p++;
	}
	if (p == end)
		return fail(ps, -EINVAL, p, "unexpected end of input");
	if (*p == 'e')
		return fail(ps, -EINVAL, p, "integer has no digits");
	if (!is_digit(*p))
		return fail(ps, -EINVAL, p, "invalid byte 0x%02x in integer", *p);
	if (*p == '0') {
		if (neg)
			return fail(ps, -EINVAL, p, "integer is negative zero");
		if (p + 1 < end && is_digit(p[1]))
			return fail(ps, -EINVAL, p, "integer has a leading zero");
	}
	for (; p < end && is_digit(*p); p++) {
		unsigned d = *p - '0';

		if (mag > (limit - d) / 10)
			return fail(ps, -E2BIG, s, "integer out of 64-bit range");
		mag = mag * 10 + d;
	}
	if (p == end)
		return fail(ps, -EINVAL, p, "unexpected end of input");
	if (*p != 'e')
		return fail(ps, -EINVAL, p, "invalid byte 0x%02x in integer", *p);
	if (!neg)
		*out = (int64_t)mag;
	else if (mag == (uint64_t)INT64_MAX + 1)
		*out = INT64_MIN;
	else
		*out = -(int64_t)mag;
	*pp = p + 1;
	return 0;
}

/*
 * "<len>:<bytes>" at *pp (first byte is a digit). The length saturates as
 * soon as it exceeds what is left of the input, so it cannot overflow and
 * is never trusted beyond the buffer.
 */
static int parse_str(struct parser *ps, const uint8_t **pp, const uint8_t **out_p, size_t *out_len)
{
	const uint8_t *s = *pp, *p = s, *end = ps->end;
	size_t avail = (size_t)(end - s), len = 0;
	bool too_long = false;

	if (*p == '0' && p + 1 < end && is_digit(p[1]))
		return fail(ps, -EINVAL, s, "string length has a leading zero");
	for (; p < end && is_digit(*p); p++) {
		unsigned d = *p - '0';

		if (too_long)
			continue;
		if (len > (SIZE_MAX - d) / 10) {
			too_long = true;
			continue;
		}
		len = len * 10 + d;
		if (len > avail)
			too_long = true;
	}
	if (p == end)
		return fail(ps, -EINVAL, p, "unexpected end of input");
	if (*p != ':')
		return fail(ps, -EINVAL, p, "invalid byte 0x%02x in string length", *p);
	p++;
	if (too_long || len > (size_t)(end - p))
		return fail(ps, -EINVAL, s, "string length exceeds remaining input (%zu bytes)",
			    (size_t)(end - p));
	*out_p = p;
	*out_len = len;
	*pp = p + len;
	return 0;
}

static int open_container(struct parser *ps, const uint8_t *p, enum bencode_type t)
{
	struct bencode_node *n;
	struct frame *f;
	int rc;

	if (ps->depth >= ps->max_depth)
		return fail(ps, -E2BIG, p, "nesting deeper than %zu", ps->max_depth);
	rc = new_node(ps, p, t, &n);
	if (rc)
		return rc;
	if (grow((void **)&ps->frames, &ps->frames_cap, ps->depth + 1, sizeof(*ps->frames)))
		return fail_nomem(ps, p);
	f = &ps->frames[ps->depth++];
	memset(f, 0, sizeof(*f));
	f->node = n;
	f->pend_base = ps->pend_len;
	return 0;
}

/* Closes the innermost frame at its 'e' (at p) and pops it. */
static int close_container(struct parser *ps, const uint8_t *p, struct bencode_node **out)
{
	struct frame *f = &ps->frames[ps->depth - 1];
	struct bencode_node *n = f->node;
	size_t cnt = ps->pend_len - f->pend_base, i;
	/* pend is still NULL when no container has had a child yet */
	struct bencode_kv *kids = cnt ? ps->pend + f->pend_base : NULL;

	if (n->type == BENCODE_LIST) {
		struct bencode_node **items = NULL;

		if (cnt) {
			/* cnt entries already fit in pend, so no overflow */
			items = arena_alloc(&ps->arena, cnt * sizeof(*items));
			if (!items)
				return fail_nomem(ps, p);
			for (i = 0; i < cnt; i++)
				items[i] = kids[i].val;
		}
		n->u.list.items = items;
		n->u.list.n = cnt;
	} else {
		struct bencode_kv *items = NULL;

		if (cnt) {
			items = arena_alloc(&ps->arena, cnt * sizeof(*items));
			if (!items)
				return fail_nomem(ps, p);
			memcpy(items, kids, cnt * sizeof(*items));
		}
		n->u.dict.items = items;
		n->u.dict.n = cnt;
	}
	n->raw_len = (size_t)(p + 1 - n->raw);
	ps->pend_len = f->pend_base;
	ps->depth--;
	*out = n;
	return 0;
}

/* A key in dict frame f at *pp: a string strictly above the previous key. */
static int parse_key(struct parser *ps, struct frame *f, const uint8_t **pp)
{
	const uint8_t *s = *pp, *k;
	size_t klen;
	int rc, c;

	if (!is_digit(*s))
		return fail(ps, -EINVAL, s, "dictionary key is not a string");
	rc = parse_str(ps, pp, &k, &klen);
	if (rc)
		return rc;
	if (f->has_key) {
		c = key_cmp(k, klen, f->key, f->key_len);
		if (c == 0)
			return fail(ps, -EINVAL, s, "duplicate dictionary key");
		if (c < 0)
			return fail(ps, -EINVAL, s, "dictionary keys out of order");
	}
	f->key = k;
	f->key_len = klen;
	f->has_key = true;
	f->want_value = true;
	return 0;
}

static int bad_value_byte(struct parser *ps, const uint8_t *p)
{
	if (ps->depth && ps->frames[ps->depth - 1].want_value && *p == 'e')
		return fail(ps, -EINVAL, p, "dictionary key has no value");
	if (*p >= 0x21 && *p <= 0x7e)
		return fail(ps, -EINVAL, p, "unexpected byte '%c'", *p);
	return fail(ps, -EINVAL, p, "unexpected byte 0x%02x", *p);
}

static int parse_doc(struct parser *ps, struct bencode_node **out_root)
{
	const uint8_t *p = ps->buf, *end = ps->end;
	struct bencode_node *v;
	struct frame *f;
	int rc;

	for (;;) {
		f = ps->depth ? &ps->frames[ps->depth - 1] : NULL;
		if (p == end)
			return fail(ps, -EINVAL, p,
				    p == ps->buf ? "empty input" : "unexpected end of input");

		if (f && *p == 'e' && !f->want_value) {
			rc = close_container(ps, p, &v);
			if (rc)
				return rc;
			p++;
		} else if (f && f->node->type == BENCODE_DICT && !f->want_value) {
			rc = parse_key(ps, f, &p);
			if (rc)
				return rc;
			continue;
		} else if (*p == 'l' || *p == 'd') {
			rc = open_container(ps, p, *p == 'l' ? BENCODE_LIST : BENCODE_DICT);
			if (rc)
				return rc;
			p++;
			continue;
		} else if (*p == 'i') {
			const uint8_t *s = p;

			rc = new_node(ps, s, BENCODE_INT, &v);
			if (rc)
				return rc;
			rc = parse_int(ps, &p, &v->u.i);
			if (rc)
				return rc;
			v->raw_len = (size_t)(p - s);
		} else if (is_digit(*p)) {
			const uint8_t *s = p;

			rc = new_node(ps, s, BENCODE_STR, &v);
			if (rc)
				return rc;
			rc = parse_str(ps, &p, &v->u.s.p, &v->u.s.len);
			if (rc)
				return rc;
			v->raw_len = (size_t)(p - s);
		} else {
			return bad_value_byte(ps, p);
		}

		/* v is complete: it is the root or a child of the top frame */
		if (!ps->depth) {
			if (p != end)
				return fail(ps, -EINVAL, p, "trailing data after value");
			*out_root = v;
			return 0;
		}
		f = &ps->frames[ps->depth - 1];
		if (grow((void **)&ps->pend, &ps->pend_cap, ps->pend_len + 1, sizeof(*ps->pend)))
			return fail_nomem(ps, p);
		ps->pend[ps->pend_len].key = NULL;
		ps->pend[ps->pend_len].key_len = 0;
		if (f->node->type == BENCODE_DICT) {
			ps->pend[ps->pend_len].key = f->key;
			ps->pend[ps->pend_len].key_len = f->key_len;
			f->want_value = false;
		}
		ps->pend[ps->pend_len++].val = v;
	}
}

int bencode_parse(const uint8_t *buf, const uint8_t *end, const struct bencode_limits *lim,
		  struct bencode_doc **out_doc, struct seed_err *err)
{
	struct parser ps;
	struct bencode_node *root = NULL;
	struct bencode_doc *doc = NULL;
	int rc;

	if (!out_doc)
		return seed_err_set(err, -EINVAL, "bencode: no output document");
	*out_doc = NULL;
	if ((!buf && end) || (buf && !end) || end < buf)
		return seed_err_set(err, -EINVAL, "bencode: invalid buffer");
	if (!buf) /* spares the parser NULL pointer arithmetic */
		return seed_err_set_at(err, -EINVAL, 0, "bencode: empty input at byte 0");

	memset(&ps, 0, sizeof(ps));
	ps.buf = buf;
	ps.end = end;
	ps.err = err;
	ps.max_depth = lim && lim->max_depth ? lim->max_depth : BENCODE_DEFAULT_MAX_DEPTH;
	ps.max_nodes = lim && lim->max_nodes ? lim->max_nodes : BENCODE_DEFAULT_MAX_NODES;
	ps.arena.next_cap = ARENA_FIRST_BLOCK;

	rc = parse_doc(&ps, &root);
	if (!rc) {
		doc = arena_alloc(&ps.arena, sizeof(*doc));
		if (!doc)
			rc = fail_nomem(&ps, end);
	}
	free(ps.frames);
	free(ps.pend);
	if (rc) {
		arena_free_all(ps.arena.head);
		return rc;
	}
	doc->root = root;
	doc->blocks = ps.arena.head;
	*out_doc = doc;
	return 0;
}

const struct bencode_node *bencode_root(const struct bencode_doc *doc)
{
	return doc ? doc->root : NULL;
}

void bencode_free(struct bencode_doc *doc)
{
	if (doc)
		arena_free_all(doc->blocks);
}

const struct bencode_node *bencode_dict_getn(const struct bencode_node *d, const void *key,
					     size_t key_len)
{
	size_t lo = 0, hi;

	if (!d || d->type != BENCODE_DICT || (!key && key_len))
		return NULL;
	hi = d->u.dict.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bencode_kv *kv = &d->u.dict.items[mid];
		int c = key_cmp(key, key_len, kv->key, kv->key_len);

		if (c == 0)
			return kv->val;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct bencode_node *bencode_dict_get(const struct bencode_node *d, const char *key)
{
	if (!key)
		return NULL;
	return bencode_dict_getn(d, key, strlen(key));
}

/* ---- emission ---- */

void bencode_buf_init(struct bencode_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void bencode_buf_release(struct bencode_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

static void set_err(struct bencode_buf *b, int code)
{
	if (!b->err)
		b->err = code;
}

/* Makes room for n more bytes; false (and sticky -ENOMEM) on failure. */
static bool reserve(struct bencode_buf *b, size_t n)
{
	size_t need, ncap;
	uint8_t *np;

	if (n > SIZE_MAX - b->len) {
		set_err(b, -ENOMEM);
		return false;
	}
	need = b->len + n;
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	np = realloc(b->p, ncap);
	if (!np) {
		set_err(b, -ENOMEM);
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

static void append(struct bencode_buf *b, const void *p, size_t n)
{
	if (n && reserve(b, n)) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
	}
}

/* Writes the decimal digits of v into the end of tmp; returns the start. */
static char *fmt_u64(char *tmp_end, uint64_t v)
{
	char *q = tmp_end;

	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return q;
}

/*
 * May a value go here? At top level only into an empty buffer (one value
 * per document); in a dict only after its key. On success the value is
 * counted as given: a dict's owed value is cleared.
 */
static bool take_value_slot(struct bencode_buf *b)
{
	if (b->err)
		return false;
	if (!b->depth) {
		if (b->len) {
			set_err(b, -EINVAL);
			return false;
		}
		return true;
	}
	if (b->stack[b->depth - 1].kind == 'd') {
		if (!b->stack[b->depth - 1].want_value) {
			set_err(b, -EINVAL);
			return false;
		}
		b->stack[b->depth - 1].want_value = 0;
	}
	return true;
}

static void put_strhdr(struct bencode_buf *b, size_t n)
{
	char tmp[24], *end = tmp + sizeof(tmp) - 1, *q;

	*end = ':';
	q = fmt_u64(end, n);
	append(b, q, (size_t)(end + 1 - q));
}

void bencode_put_int(struct bencode_buf *b, int64_t v)
{
	char tmp[24], *end = tmp + sizeof(tmp) - 1, *q;
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	if (!take_value_slot(b))
		return;
	*end = 'e';
	q = fmt_u64(end, mag);
	if (v < 0)
		*--q = '-';
	*--q = 'i';
	append(b, q, (size_t)(end + 1 - q));
}

void bencode_put_str(struct bencode_buf *b, const void *p, size_t n)
{
	if (!b->err && !p && n) {
		set_err(b, -EINVAL);
		return;
	}
	if (!take_value_slot(b))
		return;
	put_strhdr(b, n);
	append(b, p, n);
}

void bencode_put_cstr(struct bencode_buf *b, const char *s)
{
	if (!s) {
		set_err(b, -EINVAL);
		return;
	}
	bencode_put_str(b, s, strlen(s));
}

/*
 * The raw value must itself be exactly one canonical value, or the promise
 * that every emitted document is canonical (and hashes right) would be void.
 */
void bencode_put_raw(struct bencode_buf *b, const void *p, size_t n)
{
	const uint8_t *raw = p;
	struct bencode_doc *doc;
	int rc;

	if (!take_value_slot(b))
		return;
	rc = bencode_parse(raw, raw ? raw + n : NULL, NULL, &doc, NULL);
	if (rc) {
		set_err(b, rc == -ENOMEM ? -ENOMEM : -EINVAL);
		return;
	}
	bencode_free(doc);
	append(b, p, n);
}

static void begin(struct bencode_buf *b, char kind)
{
	if (b->err)
		return;
	if (b->depth >= BENCODE_MAX_EMIT_DEPTH) {
		set_err(b, -E2BIG);
		return;
	}
	if (!take_value_slot(b))
		return;
	append(b, &kind, 1);
	if (b->err)
		return;
	b->stack[b->depth].kind = kind;
	b->stack[b->depth].last_key_off = 0;
	b->stack[b->depth].last_key_len = SIZE_MAX;
	b->stack[b->depth].want_value = 0;
	b->depth++;
}

void bencode_begin_list(struct bencode_buf *b)
{
	begin(b, 'l');
}

void bencode_begin_dict(struct bencode_buf *b)
{
	begin(b, 'd');
}

void bencode_put_key(struct bencode_buf *b, const void *key, size_t n)
{
	size_t top = b->depth - 1;

	if (b->err)
		return;
	if (!b->depth || b->stack[top].kind != 'd' || b->stack[top].want_value || (!key && n)) {
		set_err(b, -EINVAL);
		return;
	}
	/* compare before appending: key may not survive a realloc of b->p */
	if (b->stack[top].last_key_len != SIZE_MAX &&
	    key_cmp(key, n, b->p + b->stack[top].last_key_off, b->stack[top].last_key_len) <= 0) {
		set_err(b, -EINVAL);
		return;
	}
	put_strhdr(b, n);
	if (b->err)
		return;
	b->stack[top].last_key_off = b->len;
	b->stack[top].last_key_len = n;
	append(b, key, n);
	b->stack[top].want_value = 1;
}

void bencode_put_ckey(struct bencode_buf *b, const char *key)
{
	if (!key) {
		set_err(b, -EINVAL);
		return;
	}
	bencode_put_key(b, key, strlen(key));
}

void bencode_end(struct bencode_buf *b)
{
	if (b->err)
		return;
	if (!b->depth || b->stack[b->depth - 1].want_value) {
		set_err(b, -EINVAL);
		return;
	}
	append(b, "e", 1);
	if (!b->err)
		b->depth--;
}

int bencode_buf_finish(struct bencode_buf *b, struct seed_err *err)
{
	if (b->err == -ENOMEM)
		return seed_err_set(err, b->err, "bencode: out of memory after %zu bytes", b->len);
	if (b->err == -E2BIG)
		return seed_err_set(err, b->err,
				    "bencode: nesting deeper than %d at output byte %zu",
				    BENCODE_MAX_EMIT_DEPTH, b->len);
	if (b->err)
		return seed_err_set(err, b->err,
				    "bencode: misuse at output byte %zu (key out of order or "
				    "duplicate, value without key, end without container, invalid "
				    "raw value, or second top-level value)",
				    b->len);
	if (b->depth && b->stack[b->depth - 1].want_value) {
		b->err = -EINVAL;
		return seed_err_set(err, b->err,
				    "bencode: dictionary key has no value at output byte %zu",
				    b->len);
	}
	if (b->depth) {
		b->err = -EINVAL;
		return seed_err_set(err, b->err,
				    "bencode: %zu container(s) left open at output byte %zu",
				    b->depth, b->len);
	}
	if (!b->len) {
		b->err = -EINVAL;
		return seed_err_set(err, b->err, "bencode: no value written");
	}
	return 0;
}
