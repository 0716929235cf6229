/*
 * served: see served.h. Loading is the slow path (start-up, catalog
 * switch); lookups are the hot path and only probe open-addressed tables.
 */
#include "served.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bencode.h"
#include "metainfo.h"
#include "store.h"

struct entry {
	struct proto_release r;
	struct proto_file *files;
	char **paths;
	uint8_t *info;	  /* copy of the info dict */
	uint8_t *roots;	  /* n_files * 32 */
	uint8_t **layers; /* per file, or NULL */
	char *id, *name;
	size_t nf; /* entries allocated in paths and layers */
};

struct served {
	struct entry *e;
	size_t n, cap;
	struct served_object *obj;
	size_t n_obj, cap_obj;
	/* objects by root (slot holds handle + 1), so loading a release of
	 * many files is linear, not quadratic */
	uint32_t *obj_idx;
	size_t obj_tsize;
	/* open addressing: slot holds entry index + 1, 0 = empty */
	uint32_t *by_v1, *by_v2, *by_id;
	size_t tsize;
};

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static void t_put(uint32_t *t, size_t size, uint64_t h, uint32_t val)
{
	size_t i = h & (size - 1);
	while (t[i])
		i = (i + 1) & (size - 1);
	t[i] = val;
}

static const struct proto_release *by_v1(void *ctx, const uint8_t ih[20])
{
	const struct served *s = ctx;
	for (size_t i = load64(ih) & (s->tsize - 1); s->by_v1[i]; i = (i + 1) & (s->tsize - 1)) {
		const struct proto_release *r = &s->e[s->by_v1[i] - 1].r;
		if (!memcmp(r->ih_v1, ih, 20))
			return r;
	}
	return NULL;
}

static const struct proto_release *by_v2_20(void *ctx, const uint8_t ih[20])
{
	const struct served *s = ctx;
	for (size_t i = load64(ih) & (s->tsize - 1); s->by_v2[i]; i = (i + 1) & (s->tsize - 1)) {
		const struct proto_release *r = &s->e[s->by_v2[i] - 1].r;
		if (!memcmp(r->ih_v2, ih, 20))
			return r;
	}
	return NULL;
}

static const struct proto_release *by_id(void *ctx, const char *id, size_t len)
{
	const struct served *s = ctx;
	for (size_t i = hash_str(id, len) & (s->tsize - 1); s->by_id[i];
	     i = (i + 1) & (s->tsize - 1)) {
		const struct proto_release *r = &s->e[s->by_id[i] - 1].r;
		if (strlen(r->id) == len && !memcmp(r->id, id, len))
			return r;
	}
	return NULL;
}

struct proto_catalog served_catalog(const struct served *s)
{
	return (struct proto_catalog){ (void *)s, by_v1, by_v2_20, by_id };
}

size_t served_count(const struct served *s)
{
	return s->n;
}

const struct proto_release *served_release(const struct served *s, size_t i)
{
	return i < s->n ? &s->e[i].r : NULL;
}

const struct served_object *served_object(const struct served *s, uint32_t handle)
{
	return handle < s->n_obj ? &s->obj[handle] : NULL;
}

size_t served_object_count(const struct served *s)
{
	return s->n_obj;
}

/* Finds or opens the object for root; returns its handle or -errno. */
/* Finds root in obj_idx; returns the slot holding it or the empty slot
 * where it belongs. */
static size_t obj_slot(const struct served *s, const uint8_t root[32])
{
	size_t i = load64(root) & (s->obj_tsize - 1);
	while (s->obj_idx[i] && memcmp(s->obj[s->obj_idx[i] - 1].root, root, 32))
		i = (i + 1) & (s->obj_tsize - 1);
	return i;
}

static int obj_index_grow(struct served *s)
{
	size_t size = s->obj_tsize ? s->obj_tsize * 2 : 256;
	uint32_t *t = calloc(size, sizeof(*t));
	if (!t)
		return -ENOMEM;
	free(s->obj_idx);
	s->obj_idx = t;
	s->obj_tsize = size;
	for (size_t k = 0; k < s->n_obj; k++)
		t[obj_slot(s, s->obj[k].root)] = (uint32_t)k + 1;
	return 0;
}

static int64_t object_handle(struct served *s, struct store *st, const uint8_t root[32],
			     struct seed_err *err)
{
	if (2 * (s->n_obj + 1) > s->obj_tsize && obj_index_grow(s) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	size_t slot = obj_slot(s, root);
	if (s->obj_idx[slot])
		return (int64_t)s->obj_idx[slot] - 1;
	if (s->n_obj == s->cap_obj) {
		size_t cap = s->cap_obj ? s->cap_obj * 2 : 64;
		void *p = realloc(s->obj, cap * sizeof(*s->obj));
		if (!p)
			return seed_err_set(err, -ENOMEM, "out of memory");
		s->obj = p;
		s->cap_obj = cap;
	}
	struct store_obj o;
	int rc = store_obj_open(st, root, &o, err);
	if (rc < 0)
		return rc;
	struct served_object *so = &s->obj[s->n_obj];
	memset(so, 0, sizeof(*so));
	memcpy(so->root, root, 32);
	so->length = o.length;
	so->n_blocks = o.n_blocks;
	so->block_xxh = o.block_xxh;
	o.block_xxh = NULL;
	char *path = store_obj_path(st, root);
	so->fd = path ? open(path, O_RDONLY | O_DIRECT | O_CLOEXEC) : -1;
	so->direct = so->fd >= 0;
	free(path);
	if (so->fd < 0) {
		/* File systems without O_DIRECT (tmpfs before 6.6) still work. */
		so->fd = o.fd;
		o.fd = -1;
	}
	store_obj_close(&o);
	s->obj_idx[slot] = (uint32_t)s->n_obj + 1;
	return (int64_t)s->n_obj++;
}

static int add_view(struct served *s, struct store *st, const struct store_release *rel,
		    const uint8_t *torrent, size_t torrent_len, struct seed_err *err)
{
	struct bencode_doc *doc = NULL;
	int rc = bencode_parse(torrent, torrent + torrent_len, NULL, &doc, err);
	if (rc < 0) {
		seed_err_prefix(err, "release %s: stored torrent: ", rel->id);
		return rc;
	}
	const struct bencode_node *t = bencode_root(doc);
	const struct bencode_node *info = bencode_dict_get(t, "info");
	const struct bencode_node *layers = bencode_dict_get(t, "piece layers");
	if (!info || info->type != BENCODE_DICT) {
		bencode_free(doc);
		return seed_err_set(err, -EBADMSG, "release %s: stored torrent has no info",
				    rel->id);
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->e, cap * sizeof(*s->e));
		if (!p) {
			bencode_free(doc);
			return seed_err_set(err, -ENOMEM, "out of memory");
		}
		s->e = p;
		s->cap = cap;
	}
	struct entry *e = &s->e[s->n];
	memset(e, 0, sizeof(*e));
	s->n++;
	size_t nf = rel->n_files;
	e->files = calloc(nf, sizeof(*e->files));
	e->paths = calloc(nf, sizeof(*e->paths));
	e->layers = calloc(nf, sizeof(*e->layers));
	e->roots = calloc(nf, 32);
	e->info = malloc(info->raw_len);
	e->id = strdup(rel->id);
	e->name = strdup(rel->torrent_name);
	e->nf = e->paths && e->layers ? nf : 0;
	if (!e->files || !e->paths || !e->layers || !e->roots || !e->info || !e->id || !e->name) {
		bencode_free(doc);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(e->info, info->raw, info->raw_len);
	size_t info_len = info->raw_len;
	uint64_t piece = 0;
	for (size_t i = 0; i < nf; i++) {
		const struct store_release_file *rf = &rel->files[i];
		struct proto_file *pf = &e->files[i];
		if (!(e->paths[i] = strdup(rf->path))) {
			bencode_free(doc);
			return seed_err_set(err, -ENOMEM, "out of memory");
		}
		pf->path = e->paths[i];
		pf->length = rf->length;
		pf->first_piece = piece;
		pf->n_pieces = metainfo_piece_count(rf->length, rel->piece_length);
		piece += pf->n_pieces;
		if (!rf->has_root)
			continue;
		memcpy(e->roots + i * 32, rf->root, 32);
		pf->root = e->roots + i * 32;
		const struct bencode_node *l = bencode_dict_getn(layers, rf->root, 32);
		if (rf->length > rel->piece_length && l && l->type == BENCODE_STR &&
		    l->u.s.len == pf->n_pieces * 32) {
			if (!(e->layers[i] = malloc(l->u.s.len))) {
				bencode_free(doc);
				return seed_err_set(err, -ENOMEM, "out of memory");
			}
			memcpy(e->layers[i], l->u.s.p, l->u.s.len);
			pf->layer = e->layers[i];
		}
		int64_t h = object_handle(s, st, rf->root, err);
		if (h < 0) {
			bencode_free(doc);
			seed_err_prefix(err, "release %s: %s: ", rel->id, rf->path);
			return (int)h;
		}
		pf->object = (uint32_t)h;
	}
	bencode_free(doc);

	struct proto_release *r = &e->r;
	r->handle = (uint32_t)(s->n - 1);
	r->id = e->id;
	r->torrent_name = e->name;
	r->single_file = rel->single_file;
	r->piece_length = rel->piece_length;
	r->n_pieces = piece;
	r->info = e->info;
	r->info_len = info_len;
	r->files = e->files;
	r->n_files = nf;
	return 0;
}

static int build_tables(struct served *s, struct seed_err *err)
{
	s->tsize = 16;
	while (s->tsize < 2 * s->n + 2)
		s->tsize *= 2;
	s->by_v1 = calloc(s->tsize, sizeof(uint32_t));
	s->by_v2 = calloc(s->tsize, sizeof(uint32_t));
	s->by_id = calloc(s->tsize, sizeof(uint32_t));
	if (!s->by_v1 || !s->by_v2 || !s->by_id)
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->n; i++) {
		const struct proto_release *r = &s->e[i].r;
		if (r->has_v1)
			t_put(s->by_v1, s->tsize, load64(r->ih_v1), (uint32_t)i + 1);
		if (r->has_v2)
			t_put(s->by_v2, s->tsize, load64(r->ih_v2), (uint32_t)i + 1);
		/* by id: the release's main torrent (the first view of an id) */
		if (!by_id(s, r->id, strlen(r->id)))
			t_put(s->by_id, s->tsize, hash_str(r->id, strlen(r->id)), (uint32_t)i + 1);
	}
	return 0;
}

int served_load(const char *dir, struct served **out_served, struct seed_err *err)
{
	struct store *st = NULL;
	char **ids = NULL;
	size_t n = 0;
	int rc;

	*out_served = NULL;
	struct served *s = calloc(1, sizeof(*s));
	if (!s)
		return seed_err_set(err, -ENOMEM, "out of memory");
	rc = store_open(dir, STORE_READ, &st, err);
	if (rc == 0)
		rc = store_release_list(st, &ids, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct store_release *rel = NULL;
		rc = store_release_load(st, ids[i], &rel, err);
		if (rc < 0)
			break;
		size_t first = s->n;
		rc = add_view(s, st, rel, rel->torrent, rel->torrent_len, err);
		if (rc == 0 && rel->torrent_v1)
			rc = add_view(s, st, rel, rel->torrent_v1, rel->torrent_v1_len, err);
		if (rc == 0) {
			/* info-hashes come from the manifest for the main view and
			 * from the v1 torrent's own info dict for the second */
			struct proto_release *m = &s->e[first].r;
			m->has_v1 = rel->has_v1;
			m->has_v2 = rel->has_v2;
			memcpy(m->ih_v1, rel->ih_v1, 20);
			memcpy(m->ih_v2, rel->ih_v2, 32);
			if (s->n > first + 1) {
				struct proto_release *v = &s->e[first + 1].r;
				struct hash_ctx *h = NULL;
				rc = hash_ctx_create(HASH_IMPL_OPENSSL, &h, err);
				if (rc == 0)
					rc = hash_sha1(h, v->info, v->info_len, v->ih_v1);
				hash_ctx_destroy(h);
				v->has_v1 = 1;
			}
		}
		store_release_free(rel);
	}
	store_free_list(ids, n);
	store_close(st);
	if (rc == 0)
		rc = build_tables(s, err);
	if (rc < 0) {
		served_free(s);
		return rc;
	}
	*out_served = s;
	return 0;
}

void served_free(struct served *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];
		for (size_t k = 0; k < e->nf; k++) {
			free(e->paths[k]);
			free(e->layers[k]);
		}
		free(e->files);
		free(e->paths);
		free(e->layers);
		free(e->roots);
		free(e->info);
		free(e->id);
		free(e->name);
	}
	for (size_t i = 0; i < s->n_obj; i++) {
		if (s->obj[i].fd >= 0)
			close(s->obj[i].fd);
		free(s->obj[i].block_xxh);
	}
	free(s->e);
	free(s->obj);
	free(s->obj_idx);
	free(s->by_v1);
	free(s->by_v2);
	free(s->by_id);
	free(s);
}
