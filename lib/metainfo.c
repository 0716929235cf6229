/*
 * metainfo: see metainfo.h. The info dictionary is emitted with the canonical
 * emitter (keys checked in order), and the info-hashes are taken over exactly
 * the emitted bytes, so what we print is what every client computes.
 */
#include "metainfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "hex.h"

uint64_t metainfo_piece_count(uint64_t len, uint64_t piece_length)
{
	return len / piece_length + (len % piece_length != 0);
}

uint64_t metainfo_pick_piece_length(uint64_t total)
{
	uint64_t pl = METAINFO_MIN_PIECE;
	while (total / pl > 1500 && pl < 16u * 1024 * 1024)
		pl *= 2;
	return pl;
}

int metainfo_check_piece_length(uint64_t n, struct seed_err *err)
{
	if (n < METAINFO_MIN_PIECE || n > METAINFO_MAX_PIECE || (n & (n - 1)))
		return seed_err_set(err, -EINVAL,
				    "piece length %llu: must be a power of two from %u to %u",
				    (unsigned long long)n, METAINFO_MIN_PIECE, METAINFO_MAX_PIECE);
	return 0;
}

static int bytes_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);
	if (c)
		return c;
	return (la > lb) - (la < lb);
}

int metainfo_path_cmp(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++) {
		int c = bytes_cmp(a[i], strlen(a[i]), b[i], strlen(b[i]));
		if (c)
			return c;
	}
	return (na > nb) - (na < nb);
}

int metainfo_info_hash(struct hash_ctx *h, const void *info, size_t len,
		       uint8_t out_v1[HASH_SHA1_LEN], uint8_t out_v2[HASH_SHA256_LEN])
{
	int rc = 0;
	if (out_v1)
		rc = hash_sha1(h, info, len, out_v1);
	if (rc == 0 && out_v2)
		rc = hash_sha256(h, info, len, out_v2);
	return rc;
}

/* ---- v2 file tree ---- */

static void put_file_leaf(struct bencode_buf *b, const struct metainfo_file *f)
{
	bencode_begin_dict(b);
	bencode_put_ckey(b, "");
	bencode_begin_dict(b);
	bencode_put_ckey(b, "length");
	bencode_put_int(b, (int64_t)f->length);
	if (f->length > 0) {
		bencode_put_ckey(b, "pieces root");
		bencode_put_str(b, f->root, 32);
	}
	bencode_end(b);
	bencode_end(b);
}

/*
 * Emits the subtree of files [lo, hi), which share their first depth
 * components. Files are sorted, so entries with the same component at
 * `depth` are adjacent and groups come out in key order.
 */
static int put_tree(struct bencode_buf *b, const struct metainfo_file *f, size_t lo, size_t hi,
		    size_t depth, struct seed_err *err)
{
	if (depth >= METAINFO_MAX_PATH_DEPTH)
		return seed_err_set(err, -EINVAL, "path deeper than %d levels",
				    METAINFO_MAX_PATH_DEPTH);
	bencode_begin_dict(b);
	size_t i = lo;
	while (i < hi) {
		const char *name = f[i].path[depth];
		size_t j = i + 1;
		while (j < hi && f[j].n_path > depth && !strcmp(f[j].path[depth], name))
			j++;
		bencode_put_ckey(b, name);
		if (f[i].n_path == depth + 1) {
			if (j != i + 1)
				return seed_err_set(err, -EINVAL,
						    "\"%s\" is both a file and a directory", name);
			put_file_leaf(b, &f[i]);
		} else {
			int rc = put_tree(b, f, i, j, depth + 1, err);
			if (rc < 0)
				return rc;
		}
		i = j;
	}
	bencode_end(b);
	return 0;
}

/* ---- v1 file list ---- */

static void put_path(struct bencode_buf *b, const struct metainfo_file *f)
{
	bencode_begin_list(b);
	for (size_t k = 0; k < f->n_path; k++)
		bencode_put_cstr(b, f->path[k]);
	bencode_end(b);
}

static void put_v1_files(struct bencode_buf *b, const struct metainfo_params *p)
{
	bencode_begin_list(b);
	for (size_t i = 0; i < p->n_files; i++) {
		const struct metainfo_file *f = &p->files[i];
		bencode_begin_dict(b);
		bencode_put_ckey(b, "length");
		bencode_put_int(b, (int64_t)f->length);
		bencode_put_ckey(b, "path");
		put_path(b, f);
		bencode_end(b);

		uint64_t tail = f->length % p->piece_length;
		if (i + 1 < p->n_files && tail) {
			char len[24];
			uint64_t pad = p->piece_length - tail;
			snprintf(len, sizeof(len), "%llu", (unsigned long long)pad);
			bencode_begin_dict(b);
			bencode_put_ckey(b, "attr");
			bencode_put_cstr(b, "p");
			bencode_put_ckey(b, "length");
			bencode_put_int(b, (int64_t)pad);
			bencode_put_ckey(b, "path");
			bencode_begin_list(b);
			bencode_put_cstr(b, ".pad");
			bencode_put_cstr(b, len);
			bencode_end(b);
			bencode_end(b);
		}
	}
	bencode_end(b);
}

static int put_v1_pieces(struct bencode_buf *b, const struct metainfo_params *p,
			 struct seed_err *err)
{
	uint64_t n = 0;
	for (size_t i = 0; i < p->n_files; i++)
		n += metainfo_piece_count(p->files[i].length, p->piece_length);
	if (n > SIZE_MAX / 20)
		return seed_err_set(err, -E2BIG, "too many pieces");
	uint8_t *all = malloc(n ? n * 20 : 1);
	if (!all)
		return seed_err_set(err, -ENOMEM, "out of memory");
	size_t off = 0;
	for (size_t i = 0; i < p->n_files; i++) {
		uint64_t k = metainfo_piece_count(p->files[i].length, p->piece_length);
		if (k) {
			memcpy(all + off, p->files[i].sha1, k * 20);
			off += k * 20;
		}
	}
	bencode_put_str(b, all, off);
	free(all);
	return 0;
}

static int check_files(const struct metainfo_params *p, uint64_t *out_total, struct seed_err *err)
{
	uint64_t total = 0;
	if (p->n_files == 0)
		return seed_err_set(err, -EINVAL, "a torrent needs at least one file");
	if (p->single_file && (p->n_files != 1 || p->files[0].n_path != 0))
		return seed_err_set(err, -EINVAL, "single-file torrent with a path");
	for (size_t i = 0; i < p->n_files; i++) {
		const struct metainfo_file *f = &p->files[i];
		if (!p->single_file && f->n_path == 0)
			return seed_err_set(err, -EINVAL, "file %zu has an empty path", i);
		if (i && metainfo_path_cmp(p->files[i - 1].path, p->files[i - 1].n_path, f->path,
					   f->n_path) >= 0)
			return seed_err_set(err, -EINVAL,
					    "files out of canonical order or duplicated at %zu", i);
		if (f->length > INT64_MAX || total + f->length < total)
			return seed_err_set(err, -EOVERFLOW, "total size overflows");
		total += f->length;
	}
	if (total == 0)
		return seed_err_set(err, -EINVAL, "every file is empty: nothing to share");
	*out_total = total;
	return 0;
}

static int build_info(const struct metainfo_params *p, int v1, int v2, struct bencode_buf *b,
		      struct seed_err *err)
{
	bencode_begin_dict(b);
	if (v2) {
		bencode_put_ckey(b, "file tree");
		if (p->single_file) {
			bencode_begin_dict(b);
			bencode_put_ckey(b, p->name);
			put_file_leaf(b, &p->files[0]);
			bencode_end(b);
		} else {
			int rc = put_tree(b, p->files, 0, p->n_files, 0, err);
			if (rc < 0)
				return rc;
		}
	}
	if (v1 && !p->single_file) {
		bencode_put_ckey(b, "files");
		put_v1_files(b, p);
	}
	if (v1 && p->single_file) {
		bencode_put_ckey(b, "length");
		bencode_put_int(b, (int64_t)p->files[0].length);
	}
	if (v2) {
		bencode_put_ckey(b, "meta version");
		bencode_put_int(b, 2);
	}
	bencode_put_ckey(b, "name");
	bencode_put_cstr(b, p->name);
	bencode_put_ckey(b, "piece length");
	bencode_put_int(b, (int64_t)p->piece_length);
	if (v1) {
		bencode_put_ckey(b, "pieces");
		int rc = put_v1_pieces(b, p, err);
		if (rc < 0)
			return rc;
	}
	if (p->private_flag) {
		bencode_put_ckey(b, "private");
		bencode_put_int(b, 1);
	}
	bencode_end(b);
	return 0;
}

/* Piece-layer keys are the binary roots: emit in byte order, one per
 * distinct root (two identical files share a layer). */
static int root_cmp(const void *a, const void *b)
{
	const struct metainfo_file *const *fa = a, *const *fb = b;
	return memcmp((*fa)->root, (*fb)->root, 32);
}

static int put_piece_layers(struct bencode_buf *b, const struct metainfo_params *p,
			    struct seed_err *err)
{
	const struct metainfo_file **v = calloc(p->n_files, sizeof(*v));
	size_t n = 0;
	if (!v)
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < p->n_files; i++)
		if (p->files[i].length > p->piece_length)
			v[n++] = &p->files[i];
	qsort(v, n, sizeof(*v), root_cmp);
	bencode_begin_dict(b);
	for (size_t i = 0; i < n; i++) {
		if (i && !memcmp(v[i - 1]->root, v[i]->root, 32))
			continue;
		bencode_put_key(b, v[i]->root, 32);
		bencode_put_str(b, v[i]->layer,
				metainfo_piece_count(v[i]->length, p->piece_length) * 32);
	}
	bencode_end(b);
	free(v);
	return 0;
}

int metainfo_build(struct hash_ctx *h, const struct metainfo_params *p, struct metainfo_out *out,
		   struct seed_err *err)
{
	uint64_t total;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = metainfo_check_piece_length(p->piece_length, err);
	if (rc < 0)
		return rc;
	rc = check_files(p, &total, err);
	if (rc < 0)
		return rc;
	if (!p->name || !*p->name)
		return seed_err_set(err, -EINVAL, "the torrent needs a name");

	int v1 = p->kind != METAINFO_V2, v2 = p->kind != METAINFO_V1;
	struct bencode_buf info, t;
	bencode_buf_init(&info);
	bencode_buf_init(&t);

	rc = build_info(p, v1, v2, &info, err);
	if (rc == 0)
		rc = bencode_buf_finish(&info, err);
	if (rc < 0)
		goto out;
	rc = metainfo_info_hash(h, info.p, info.len, v1 ? out->ih_v1 : NULL,
				v2 ? out->ih_v2 : NULL);
	if (rc < 0)
		goto out;
	out->has_v1 = v1;
	out->has_v2 = v2;

	bencode_begin_dict(&t);
	if (p->n_trackers) {
		bencode_put_ckey(&t, "announce");
		bencode_put_cstr(&t, p->trackers[0]);
		bencode_put_ckey(&t, "announce-list");
		bencode_begin_list(&t);
		for (size_t i = 0; i < p->n_trackers; i++) {
			bencode_begin_list(&t);
			bencode_put_cstr(&t, p->trackers[i]);
			bencode_end(&t);
		}
		bencode_end(&t);
	}
	if (p->created_by) {
		bencode_put_ckey(&t, "created by");
		bencode_put_cstr(&t, p->created_by);
	}
	bencode_put_ckey(&t, "creation date");
	bencode_put_int(&t, p->creation_date);
	bencode_put_ckey(&t, "info");
	bencode_put_raw(&t, info.p, info.len);
	if (v2) {
		bencode_put_ckey(&t, "piece layers");
		rc = put_piece_layers(&t, p, err);
		if (rc < 0)
			goto out;
	}
	if (p->n_web_seeds) {
		bencode_put_ckey(&t, "url-list");
		bencode_begin_list(&t);
		for (size_t i = 0; i < p->n_web_seeds; i++)
			bencode_put_cstr(&t, p->web_seeds[i]);
		bencode_end(&t);
	}
	bencode_end(&t);
	rc = bencode_buf_finish(&t, err);
	if (rc < 0)
		goto out;
	out->torrent = t.p;
	out->torrent_len = t.len;
	t.p = NULL;
out:
	bencode_buf_release(&info);
	bencode_buf_release(&t);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- magnet ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_put(struct sbuf *s, const char *x, size_t n)
{
	if (s->oom)
		return;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *q = realloc(s->p, cap);
		if (!q) {
			s->oom = 1;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->len, x, n);
	s->len += n;
	s->p[s->len] = 0;
}

static void sb_puts(struct sbuf *s, const char *x)
{
	sb_put(s, x, strlen(x));
}

/* RFC 3986 unreserved characters pass; every other byte is %XX. */
static void sb_put_escaped(struct sbuf *s, const char *x)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *c = (const unsigned char *)x; *c; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
			sb_put(s, (const char *)c, 1);
		} else {
			char e[3] = { '%', hex[*c >> 4], hex[*c & 15] };
			sb_put(s, e, 3);
		}
	}
}

char *metainfo_magnet(const struct metainfo_out *m, const char *name, const char *const *trackers,
		      size_t n_trackers, const char *const *web_seeds, size_t n_web_seeds)
{
	struct sbuf s = { 0 };
	char hex[65];
	const char *sep = "?";

	sb_puts(&s, "magnet:");
	if (m->has_v1) {
		hex_encode(m->ih_v1, 20, hex);
		sb_puts(&s, "?xt=urn:btih:");
		sb_puts(&s, hex);
		sep = "&";
	}
	if (m->has_v2) {
		hex_encode(m->ih_v2, 32, hex);
		sb_puts(&s, sep);
		/* multihash: 0x12 = sha2-256, 0x20 = 32 bytes */
		sb_puts(&s, "xt=urn:btmh:1220");
		sb_puts(&s, hex);
	}
	sb_puts(&s, "&dn=");
	sb_put_escaped(&s, name);
	for (size_t i = 0; i < n_trackers; i++) {
		sb_puts(&s, "&tr=");
		sb_put_escaped(&s, trackers[i]);
	}
	for (size_t i = 0; i < n_web_seeds; i++) {
		sb_puts(&s, "&ws=");
		sb_put_escaped(&s, web_seeds[i]);
	}
	if (s.oom) {
		free(s.p);
		return NULL;
	}
	return s.p;
}
