/*
 * store_release: the releases of a store (store.h, "releases"): manifests
 * written as two copies, each atomically, read through the first intact
 * one and the other rewritten from it by a writer; listing and removal.
 * The objects and the store itself are store.c's (store_int.h).
 */
#include "store.h"
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bencode.h"
#include "byteio.h"
#include "fsutil.h"
#include "hash.h"
#include "hex.h"
#include "mem.h"
#include "metainfo.h"

#define REL_MAGIC   "SEEDREL"
#define REL_VERSION 1u
#define REL_HDR	    24u /* magic 8, version 4, reserved 4, body_len 8 */

int store_check_id(const char *id, struct seed_err *err)
{
	size_t n = strlen(id);
	if (n == 0 || n > STORE_MAX_ID)
		return seed_err_set(err, -EINVAL, "release id \"%s\": must be 1 to %d characters",
				    id, STORE_MAX_ID);
	if (id[0] == '.' || id[0] == '-')
		return seed_err_set(err, -EINVAL,
				    "release id \"%s\": must not start with '.' or '-'", id);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == '+'))
			return seed_err_set(err, -EINVAL,
					    "release id \"%s\": character %zu is not one of A-Z "
					    "a-z 0-9 . - _ +",
					    id, i + 1);
	}
	return 0;
}

static char *rel_path(const struct store *s, const char *id)
{
	char *p = NULL;
	if (asprintf(&p, "%s/releases/%s.rel", s->dir, id) < 0)
		return NULL;
	return p;
}

/* Either copy of the manifest is there. */
int store_release_exists(struct store *s, const char *id)
{
	char *p = rel_path(s, id);
	char *p2 = NULL;
	int r = p && (access(p, F_OK) == 0 ||
		      (asprintf(&p2, "%s%s", p, FSU_COPY2_SUFFIX) >= 0 && access(p2, F_OK) == 0));
	free(p);
	free(p2);
	return r;
}

static void put_kv_str(struct bencode_buf *b, const char *k, const char *v)
{
	bencode_put_ckey(b, k);
	bencode_put_cstr(b, v);
}

static void put_kv_int(struct bencode_buf *b, const char *k, int64_t v)
{
	bencode_put_ckey(b, k);
	bencode_put_int(b, v);
}

int store_release_write(struct store *s, const struct store_release *r, struct seed_err *err)
{
	struct bencode_buf b;
	int rc = store_check_id(r->id, err);
	if (rc < 0)
		return rc;
	if (store_release_exists(s, r->id))
		return seed_err_set(err, -EEXIST, "release %s already exists", r->id);

	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	put_kv_int(&b, "created", r->created);
	bencode_put_ckey(&b, "files");
	bencode_begin_list(&b);
	for (size_t i = 0; i < r->n_files; i++) {
		const struct store_release_file *f = &r->files[i];
		bencode_begin_dict(&b);
		put_kv_int(&b, "length", (int64_t)f->length);
		put_kv_str(&b, "path", f->path);
		if (f->has_root) {
			bencode_put_ckey(&b, "root");
			bencode_put_str(&b, f->root, 32);
		}
		bencode_end(&b);
	}
	bencode_end(&b);
	put_kv_str(&b, "id", r->id);
	if (r->has_v1) {
		bencode_put_ckey(&b, "infohash v1");
		bencode_put_str(&b, r->ih_v1, 20);
	}
	if (r->has_v2) {
		bencode_put_ckey(&b, "infohash v2");
		bencode_put_str(&b, r->ih_v2, 32);
	}
	put_kv_int(&b, "kind", r->kind);
	put_kv_str(&b, "name", r->name);
	put_kv_int(&b, "piece length", (int64_t)r->piece_length);
	put_kv_int(&b, "single file", r->single_file);
	put_kv_str(&b, "tenant", r->tenant);
	bencode_put_ckey(&b, "torrent");
	bencode_put_str(&b, r->torrent, r->torrent_len);
	put_kv_str(&b, "torrent name", r->torrent_name);
	if (r->torrent_v1) {
		bencode_put_ckey(&b, "torrent v1");
		bencode_put_str(&b, r->torrent_v1, r->torrent_v1_len);
	}
	put_kv_str(&b, "version", r->version);
	bencode_end(&b);
	rc = bencode_buf_finish(&b, err);
	if (rc < 0)
		goto out;

	size_t total = REL_HDR + b.len + 16;
	uint8_t *file = fsu_image_new(REL_MAGIC, REL_VERSION, REL_HDR, b.len, 16, err);
	if (!file) {
		rc = -ENOMEM;
		goto out;
	}
	byteio_put_le64(file + 16, b.len);
	memcpy(file + REL_HDR, b.p, b.len);
	hash_xxh128(file, REL_HDR + b.len, file + REL_HDR + b.len);

	char *path = rel_path(s, r->id);
	if (!path) {
		free(file);
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = fsu_write_twice(path, file, total, 0644, err);
	if (rc == -ENOSPC || rc == -EDQUOT) {
		seed_err_clear(err);
		rc = seed_err_set(err, rc, "store %s: no space left (disk full)", s->dir);
	}
	free(path);
	free(file);
out:
	bencode_buf_release(&b);
	return rc;
}

static char *dup_str(const struct bencode_node *n)
{
	if (!n || n->type != BENCODE_STR || memchr(n->u.s.p, 0, n->u.s.len))
		return NULL;
	return strndup((const char *)n->u.s.p, n->u.s.len);
}

static uint8_t *dup_bytes(const struct bencode_node *n, size_t *out_len)
{
	uint8_t *p = malloc(n->u.s.len ? n->u.s.len : 1);
	if (p) {
		memcpy(p, n->u.s.p, n->u.s.len);
		*out_len = n->u.s.len;
	}
	return p;
}

static int get_int(const struct bencode_node *d, const char *k, int64_t lo, int64_t hi,
		   int64_t *out)
{
	const struct bencode_node *n = bencode_dict_get(d, k);
	if (!n || n->type != BENCODE_INT || n->u.i < lo || n->u.i > hi)
		return -1;
	*out = n->u.i;
	return 0;
}

/* One copy's frame: magic, checksum, version, length (fsu_check_fn). */
static int manifest_check(const uint8_t *buf, size_t len, void *ctx, struct seed_err *err)
{
	(void)ctx;
	if (len < REL_HDR + 16 || memcmp(buf, REL_MAGIC, 8))
		return seed_err_set(err, -EBADMSG, "not a release manifest");
	uint8_t x[16];
	hash_xxh128(buf, len - 16, x);
	if (memcmp(x, buf + len - 16, 16))
		return seed_err_set(err, -EBADMSG, "manifest is corrupt (checksum mismatch)");
	if (byteio_le32(buf + 8) != REL_VERSION)
		return seed_err_set(err, -EPROTO, "unsupported manifest version %u",
				    byteio_le32(buf + 8));
	if (byteio_le64(buf + 16) != len - REL_HDR - 16)
		return seed_err_set(err, -EBADMSG, "manifest length mismatch");
	return 0;
}

/* The body of a copy that manifest_check passed. */
static int parse_manifest(const char *path, const uint8_t *buf, size_t len, struct store_release *r,
			  struct seed_err *err)
{
	struct bencode_doc *doc = NULL;
	const struct bencode_node *d, *n;
	int64_t v;
	const char *bad = NULL;

	int rc = bencode_parse(buf + REL_HDR, buf + len - 16, NULL, &doc, err);
	if (rc < 0) {
		seed_err_prefix(err, "%s: ", path);
		return rc;
	}
	d = bencode_root(doc);
#define NEED(cond, what)            \
	do {                        \
		if (!(cond)) {      \
			bad = what; \
			goto bad;   \
		}                   \
	} while (0)
	NEED(d->type == BENCODE_DICT, "body");
	NEED((r->id = dup_str(bencode_dict_get(d, "id"))), "id");
	NEED((r->tenant = dup_str(bencode_dict_get(d, "tenant"))), "tenant");
	NEED((r->name = dup_str(bencode_dict_get(d, "name"))), "name");
	NEED((r->version = dup_str(bencode_dict_get(d, "version"))), "version");
	NEED((r->torrent_name = dup_str(bencode_dict_get(d, "torrent name"))), "torrent name");
	NEED(!get_int(d, "created", INT64_MIN, INT64_MAX, &r->created), "created");
	NEED(!get_int(d, "kind", 0, 2, &v), "kind");
	r->kind = (int)v;
	NEED(!get_int(d, "single file", 0, 1, &v), "single file");
	r->single_file = (int)v;
	NEED(!get_int(d, "piece length", METAINFO_MIN_PIECE, METAINFO_MAX_PIECE, &v),
	     "piece length");
	r->piece_length = (uint64_t)v;
	n = bencode_dict_get(d, "infohash v1");
	if (n) {
		NEED(n->type == BENCODE_STR && n->u.s.len == 20, "infohash v1");
		memcpy(r->ih_v1, n->u.s.p, 20);
		r->has_v1 = 1;
	}
	n = bencode_dict_get(d, "infohash v2");
	if (n) {
		NEED(n->type == BENCODE_STR && n->u.s.len == 32, "infohash v2");
		memcpy(r->ih_v2, n->u.s.p, 32);
		r->has_v2 = 1;
	}
	n = bencode_dict_get(d, "torrent");
	NEED(n && n->type == BENCODE_STR && (r->torrent = dup_bytes(n, &r->torrent_len)),
	     "torrent");
	n = bencode_dict_get(d, "torrent v1");
	if (n)
		NEED(n->type == BENCODE_STR && (r->torrent_v1 = dup_bytes(n, &r->torrent_v1_len)),
		     "torrent v1");
	n = bencode_dict_get(d, "files");
	NEED(n && n->type == BENCODE_LIST && n->u.list.n > 0, "files");
	r->files = calloc(n->u.list.n, sizeof(*r->files));
	NEED(r->files, "files (out of memory)");
	r->n_files = n->u.list.n;
	for (size_t i = 0; i < r->n_files; i++) {
		const struct bencode_node *f = n->u.list.items[i], *root;
		struct store_release_file *rf = &r->files[i];
		NEED(f->type == BENCODE_DICT, "files entry");
		NEED(!get_int(f, "length", 0, INT64_MAX, &v), "files length");
		rf->length = (uint64_t)v;
		NEED(r->total_length + rf->length >= r->total_length, "files length");
		r->total_length += rf->length;
		NEED((rf->path = dup_str(bencode_dict_get(f, "path"))), "files path");
		root = bencode_dict_get(f, "root");
		NEED((root != NULL) == (rf->length > 0), "files root");
		if (root) {
			NEED(root->type == BENCODE_STR && root->u.s.len == 32, "files root");
			memcpy(rf->root, root->u.s.p, 32);
			rf->has_root = 1;
		}
	}
#undef NEED
	bencode_free(doc);
	return 0;
bad:
	bencode_free(doc);
	return seed_err_set(err, -EBADMSG, "%s: manifest field \"%s\" is missing or invalid", path,
			    bad);
}

int store_release_load(struct store *s, const char *id, struct store_release **out_rel,
		       struct seed_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	*out_rel = NULL;
	rc = store_check_id(id, err);
	if (rc < 0)
		return rc;
	char *path = rel_path(s, id);
	if (!path)
		return seed_err_set(err, -ENOMEM, "out of memory");
	struct fsu_copies rep;
	enum fsu_twice how = store_is_writer(s->mode) ? FSU_REPAIR
			     : s->check_copies	      ? FSU_BOTH
						      : FSU_FIRST_GOOD;
	rc = fsu_read_twice(path, STORE_MAX_MANIFEST, manifest_check, NULL, how, &buf, &len, &rep,
			    err);
	if (rc == -ENOENT) {
		seed_err_clear(err);
		rc = seed_err_set(err, -ENOENT, "no release %s in store %s", id, s->dir);
	}
	if (rc == 0) {
		struct store_release *r = calloc(1, sizeof(*r));
		if (!r) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
		} else {
			r->manifest = rep;
			s->manifest_repairs += (uint64_t)__builtin_popcount(rep.repaired);
			rc = parse_manifest(path, buf, len, r, err);
			if (rc == 0 && strcmp(r->id, id))
				rc = seed_err_set(err, -EBADMSG, "%s: manifest names release %s",
						  path, r->id);
			if (rc < 0)
				store_release_free(r);
			else
				*out_rel = r;
		}
	}
	free(buf);
	free(path);
	return rc;
}

void store_release_free(struct store_release *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_files; i++)
		free(r->files[i].path);
	MEM_FREE_ALL(r->files, r->id, r->tenant, r->name, r->version, r->torrent_name, r->torrent,
		     r->torrent_v1, r);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_free_list(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int store_open_list(const char *dir, struct store **out_store, char ***out_ids, size_t *out_n,
		    struct seed_err *err)
{
	struct store *st = NULL;
	int rc;

	*out_store = NULL;
	*out_ids = NULL;
	*out_n = 0;
	if ((rc = store_open(dir, STORE_READ, &st, err)) < 0)
		return rc;
	if ((rc = store_release_list(st, out_ids, out_n, err)) < 0) {
		store_close(st);
		return rc;
	}
	*out_store = st;
	return 0;
}

int store_release_list(struct store *s, char ***out_ids, size_t *out_n, struct seed_err *err)
{
	char **ids = NULL;
	size_t n = 0, cap = 0;
	char *dir = fsu_join(s->dir, "releases");
	DIR *d;
	struct dirent *de;

	*out_ids = NULL;
	*out_n = 0;
	if (!dir)
		return seed_err_set(err, -ENOMEM, "out of memory");
	d = opendir(dir);
	if (!d) {
		int rc = errno == ENOENT
				 ? 0
				 : seed_err_set(err, -errno, "%s: %s", dir, strerror(errno));
		free(dir);
		return rc;
	}
	while ((de = readdir(d))) {
		/* ID.rel or ID.rel.2: a release whose copy 1 is lost is still listed */
		size_t l = strlen(de->d_name);
		if (l > 6 && !strcmp(de->d_name + l - 2, FSU_COPY2_SUFFIX))
			l -= 2;
		if (l <= 4 || strncmp(de->d_name + l - 4, ".rel", 4) || de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **t = realloc(ids, cap * sizeof(*ids));
			if (!t)
				goto oom;
			ids = t;
		}
		if (!(ids[n] = strndup(de->d_name, l - 4)))
			goto oom;
		n++;
	}
	closedir(d);
	free(dir);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), str_cmp);
	size_t u = 0; /* both copies listed the id: once */
	for (size_t i = 0; i < n; i++) {
		if (u && !strcmp(ids[u - 1], ids[i]))
			free(ids[i]);
		else
			ids[u++] = ids[i];
	}
	n = u;
	*out_ids = ids;
	*out_n = n;
	return 0;
oom:
	closedir(d);
	free(dir);
	store_free_list(ids, n);
	return seed_err_set(err, -ENOMEM, "out of memory");
}

int store_release_remove(struct store *s, const char *id, struct seed_err *err)
{
	struct store_release *r = NULL;
	int rc = store_release_load(s, id, &r, err);
	if (rc < 0 && rc != -EBADMSG && rc != -EPROTO)
		return rc;
	/* A corrupt manifest can still be removed: the operator is deleting it. */
	seed_err_clear(err);
	store_release_free(r);
	char *path = rel_path(s, id);
	if (!path)
		return seed_err_set(err, -ENOMEM, "out of memory");
	rc = fsu_unlink_twice(path, err);
	free(path);
	if (rc < 0)
		return rc;
	const char *suffix[] = { ".torrent", ".v1.torrent" };
	for (int i = 0; i < 2; i++) {
		char *t = NULL;
		if (asprintf(&t, "%s/torrents/%s%s", s->dir, id, suffix[i]) >= 0) {
			unlink(t);
			free(t);
		}
	}
	/* the release is gone; with another manifest unreadable its objects
	 * stay until that one is dealt with (store_gc_refusal says why) */
	struct seed_err ge;
	seed_err_clear(&ge);
	s->gc_refused.code = 0;
	rc = store_gc(s, NULL, &ge);
	if (rc == -EBADMSG || rc == -EPROTO) {
		s->gc_refused = ge;
		return 0;
	}
	if (rc < 0)
		*err = ge;
	return rc;
}

const char *store_gc_refusal(const struct store *s)
{
	return s->gc_refused.code ? s->gc_refused.msg : NULL;
}
