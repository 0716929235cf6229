/*
 * fuzz_bencode: libFuzzer target for lib/bencode.c.
 *
 * Properties checked on every input:
 *  - a failed parse reports -EINVAL or -E2BIG with an offset inside the
 *    input (or -ENOMEM), and leaves no document;
 *  - a successful parse is canonical, and canonical form is unique, so
 *    re-emitting the tree with the emitter gives back the input byte for
 *    byte; so does put_raw of the whole input;
 *  - every node's raw span lies inside its parent's and re-parses alone.
 * A violation aborts, which libFuzzer and replay.c both report.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_bencode: %s\n", what);
		abort();
	}
}

/* Depth is bounded by the parser's max_depth (64), so recursion is fine. */
static void emit(struct bencode_buf *b, const struct bencode_node *n, const uint8_t *lo,
		 const uint8_t *hi)
{
	check(n->raw >= lo && n->raw_len <= (size_t)(hi - n->raw), "raw span outside parent");
	switch (n->type) {
	case BENCODE_INT: bencode_put_int(b, n->u.i); break;
	case BENCODE_STR:
		check(n->u.s.p >= n->raw && n->u.s.p + n->u.s.len == n->raw + n->raw_len,
		      "string bytes not at the end of its raw span");
		bencode_put_str(b, n->u.s.p, n->u.s.len);
		break;
	case BENCODE_LIST:
		bencode_begin_list(b);
		for (size_t i = 0; i < n->u.list.n; i++)
			emit(b, n->u.list.items[i], n->raw, n->raw + n->raw_len);
		bencode_end(b);
		break;
	case BENCODE_DICT:
		bencode_begin_dict(b);
		for (size_t i = 0; i < n->u.dict.n; i++) {
			const struct bencode_kv *kv = &n->u.dict.items[i];

			check(bencode_dict_getn(n, kv->key, kv->key_len) == kv->val,
			      "dict_getn misses a present key");
			bencode_put_key(b, kv->key, kv->key_len);
			emit(b, kv->val, n->raw, n->raw + n->raw_len);
		}
		bencode_end(b);
		break;
	default: check(0, "bad node type");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bencode_doc *doc = NULL;
	const struct bencode_node *root;
	struct bencode_buf b;
	struct seed_err err;
	int rc;

	seed_err_clear(&err);
	rc = bencode_parse(data, data + size, NULL, &doc, &err);
	if (rc) {
		check(doc == NULL, "document left on failure");
		check(rc == err.code, "return code differs from err.code");
		check(rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM, "unexpected error code");
		if (rc != -ENOMEM)
			check(err.has_offset && err.offset <= size,
			      "error offset missing or past the input");
		check(strncmp(err.msg, "bencode: ", 9) == 0, "error message lacks prefix");
		return 0;
	}

	root = bencode_root(doc);
	check(root->raw == data && root->raw_len == size, "root raw span is not the whole input");

	bencode_buf_init(&b);
	emit(&b, root, data, data + size);
	check(bencode_buf_finish(&b, NULL) == 0, "emitter rejected a tree");
	check(b.len == size && memcmp(b.p, data, size) == 0,
	      "re-emitted bytes differ from the input");
	bencode_buf_release(&b);

	bencode_buf_init(&b);
	bencode_put_raw(&b, data, size);
	check(bencode_buf_finish(&b, NULL) == 0, "put_raw rejected the input");
	check(b.len == size && memcmp(b.p, data, size) == 0, "put_raw bytes differ from the input");
	bencode_buf_release(&b);

	bencode_free(doc);
	return 0;
}
