/*
 * verify: see verify.h. Reads each object sequentially in 4 MiB chunks and
 * hashes blocks and pieces in multi-buffer batches, as ingest does.
 */
#include "verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "fsutil.h"
#include "merkle.h"
#include "metainfo.h"

#define CHUNK (4u << 20)

struct vctx {
	struct hash_ctx *h;
	void (*on_bad)(void *, const struct verify_bad *);
	void *arg;
	uint64_t bad;
	struct verify_stats *st;
	uint8_t *buf;
	uint64_t chunk; /* whole pieces, at least CHUNK */
	struct hash_job *jobs;
};

static void bad(struct vctx *v, const char *file, uint64_t off, uint64_t len, const char *what)
{
	struct verify_bad b = { file, off, len, what };
	v->bad++;
	if (v->on_bad)
		v->on_bad(v->arg, &b);
}

/* The v1 "pieces" string of whichever stored torrent has one. */
static int v1_pieces(const struct store_release *r, struct bencode_doc **out_doc,
		     const uint8_t **out_p, size_t *out_len, struct seed_err *err)
{
	const uint8_t *t = r->torrent_v1 ? r->torrent_v1 : r->torrent;
	size_t tl = r->torrent_v1 ? r->torrent_v1_len : r->torrent_len;
	int rc;

	*out_doc = NULL;
	*out_p = NULL;
	*out_len = 0;
	if (!r->has_v1 && !r->torrent_v1)
		return 0;
	rc = bencode_parse(t, t + tl, NULL, out_doc, err);
	if (rc < 0) {
		seed_err_prefix(err, "release %s: stored torrent: ", r->id);
		return rc;
	}
	const struct bencode_node *info = bencode_dict_get(bencode_root(*out_doc), "info");
	const struct bencode_node *p = bencode_dict_get(info, "pieces");
	if (!p || p->type != BENCODE_STR || p->u.s.len % 20)
		return seed_err_set(err, -EBADMSG, "release %s: stored torrent has no valid pieces",
				    r->id);
	*out_p = p->u.s.p;
	*out_len = p->u.s.len;
	return 0;
}

/*
 * The object's parity blocks against their XXH3, read a chunk at a time,
 * and each stripe's bad blocks (flagged data blocks and bad parity blocks)
 * against m: up to m can be rebuilt, more cannot.
 */
static int verify_parity(struct vctx *v, const struct store_release *r,
			 const struct store_release_file *f, const struct store_obj *o,
			 const uint8_t *flagged, struct seed_err *err)
{
	const struct store_geom *g = &o->g;
	char msg[160];
	if (!g->n_parity)
		return 0;
	uint64_t per = v->chunk / STORE_BLOCK / g->m; /* stripes per read */
	for (uint64_t s0 = 0; s0 < g->n_stripes; s0 += per) {
		uint64_t ns = g->n_stripes - s0 < per ? g->n_stripes - s0 : per;
		/* the shards of stripes s0.. lie end to end, each where and as
		 * long as store_shard says (a short last stripe, short ones) */
		uint64_t p0, pn, e;
		store_shard(g, s0, g->k, &p0, &e);
		uint32_t ln = store_shard(g, s0 + ns - 1, g->k + g->m - 1, &pn, &e);
		int rc = fsu_pread_full(o->fd, v->buf, pn + ln - p0, p0);
		if (rc < 0)
			return seed_err_set(err, rc == -ENODATA ? -EIO : rc,
					    "release %s: %s: parity read failed: %s", r->id,
					    f->path, strerror(rc == -ENODATA ? EIO : -rc));
		for (uint64_t st = s0; st < s0 + ns; st++) {
			uint64_t first = st * g->k, nbad = 0, ndata = 0;
			uint64_t last = first + g->k < g->n_blocks ? first + g->k : g->n_blocks;
			uint64_t off = first * STORE_BLOCK;
			uint64_t span = (last < g->n_blocks ? last * STORE_BLOCK : f->length) - off;
			for (uint64_t b = first; b < last; b++)
				ndata += flagged[b];
			nbad = ndata;
			for (uint32_t j = 0; j < g->m; j++) {
				uint64_t at, idx;
				uint8_t x[16];
				uint32_t len = store_shard(g, st, g->k + j, &at, &idx);
				hash_xxh128(v->buf + (at - p0), len, x);
				if (!memcmp(x, o->block_xxh + idx * 16, 16))
					continue;
				nbad++;
				v->st->parity_bad++;
				snprintf(msg, sizeof(msg),
					 "parity block %llu of %u of stripe %llu: checksum "
					 "(XXH3-128) "
					 "mismatch",
					 (unsigned long long)j + 1, g->m, (unsigned long long)st);
				bad(v, f->path, off, span, msg);
			}
			if (nbad > g->m) {
				v->st->stripes_lost++;
				snprintf(msg, sizeof(msg),
					 "stripe %llu: %llu of its %u + %u blocks bad, more than "
					 "its "
					 "parity rebuilds",
					 (unsigned long long)st, (unsigned long long)nbad, g->k,
					 g->m);
				bad(v, f->path, off, span, msg);
			} else {
				v->st->blocks_repairable += ndata;
			}
		}
	}
	return 0;
}

/*
 * Version 5: both copies of every group of the object's SHA-256 leaves
 * against their table entries (a bad copy is damage, like a bad table
 * copy: the repair of a block rebuilt from parity checks its leaf), and
 * the leaves held against those of the data (leaves: computed from it), for
 * the blocks not already flagged.
 */
static int verify_leaves(struct vctx *v, const struct store_release *r,
			 const struct store_release_file *f, const struct store_obj *o,
			 const uint8_t *leaves, const uint8_t *flagged, struct seed_err *err)
{
	const struct store_geom *g = &o->g;
	uint8_t buf[2][STORE_LEAF_GROUP * 32], x[16];
	char msg[200];
	for (uint64_t j = 0; j < g->n_leafgrp; j++) {
		uint64_t b0 = j * STORE_LEAF_GROUP, off, e;
		int good = 0;
		for (int copy = 1; copy <= 2; copy++) {
			uint32_t len = store_leaf_group(g, j, copy, &off, &e);
			int rc = fsu_pread_full(o->fd, buf[copy - 1], len, off);
			if (rc < 0 && rc != -ENODATA)
				return seed_err_set(err, rc,
						    "release %s: %s: leaves read failed: %s", r->id,
						    f->path, strerror(-rc));
			if (rc == 0)
				hash_xxh128(buf[copy - 1], len, x);
			if (rc == 0 && !memcmp(x, o->block_xxh + e * 16, 16)) {
				good |= copy;
				continue;
			}
			snprintf(msg, sizeof(msg),
				 "SHA-256 leaves of blocks %llu-%llu, copy %d of 2: checksum "
				 "(XXH3-128) mismatch",
				 (unsigned long long)b0, (unsigned long long)(b0 + len / 32 - 1),
				 copy);
			bad(v, f->path, 0, f->length, msg);
		}
		if (!good)
			continue;
		const uint8_t *held = buf[good & 1 ? 0 : 1];
		for (uint64_t b = b0; b < g->n_blocks && b < b0 + STORE_LEAF_GROUP; b++) {
			if (flagged[b] || !memcmp(held + (b - b0) * 32, leaves + b * 32, 32))
				continue;
			uint64_t bl =
				b + 1 < g->n_blocks ? STORE_BLOCK : f->length - b * STORE_BLOCK;
			bad(v, f->path, b * STORE_BLOCK, bl,
			    "block SHA-256 leaf mismatch (its XXH3-128 matches)");
		}
	}
	return 0;
}

static int verify_file(struct vctx *v, struct store *s, const struct store_release *r, size_t idx,
		       const uint8_t *sha1, uint64_t n_sha1, struct seed_err *err)
{
	const struct store_release_file *f = &r->files[idx];
	struct store_obj o;
	struct seed_err oe;
	uint64_t pl = r->piece_length;
	int is_last = idx + 1 == r->n_files;
	uint8_t *leaves = NULL, *flagged = NULL;
	int rc = 0;

	seed_err_clear(&oe);
	rc = store_obj_open(s, f->root, &o, &oe);
	if (rc == -EBADMSG || rc == -EPROTO || rc == -ENOENT) {
		bad(v, f->path, 0, f->length, oe.msg);
		return 0;
	}
	if (rc < 0) {
		*err = oe;
		return rc;
	}
	if (o.g.length != f->length) {
		bad(v, f->path, 0, f->length, "stored object has another length");
		goto out;
	}
	/* A bad copy of the metadata loses no data yet, but the next bad
	 * sector would: it is reported like any damage. */
	int other = o.copy == 1 ? 2 : 1;
	char why[96], msg[200];
	why[0] = 0;
	if (o.bad_copies & (1u << (other - 1))) {
		snprintf(why, sizeof(why), "%s", o.bad_why[other - 1]);
	} else {
		rc = store_obj_check_copy(&o, other, why, sizeof(why));
		if (rc < 0 && rc != -EBADMSG) {
			rc = seed_err_set(err, rc, "release %s: %s: cannot read copy %d: %s", r->id,
					  f->path, other, strerror(-rc));
			goto out;
		}
		if (rc == 0)
			why[0] = 0;
		rc = 0;
	}
	if (why[0]) {
		snprintf(msg, sizeof(msg),
			 "object header and block table, copy %d of 2: %s (copy %d is intact)",
			 other, why, o.copy);
		bad(v, f->path, 0, f->length, msg);
	}
	leaves = malloc(o.g.n_blocks * 32);
	flagged = calloc(o.g.n_blocks, 1);
	if (!leaves || !flagged) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; off < f->length; off += v->chunk) {
		uint64_t len = f->length - off < v->chunk ? f->length - off : v->chunk;
		rc = fsu_pread_full(o.fd, v->buf, len, STORE_OBJ_HEADER + off);
		if (rc < 0) {
			rc = seed_err_set(err, rc == -ENODATA ? -EIO : rc,
					  "release %s: %s: read failed: %s", r->id, f->path,
					  strerror(rc == -ENODATA ? EIO : -rc));
			goto out;
		}
		uint64_t b0 = off / STORE_BLOCK;
		size_t nb = (size_t)((len + STORE_BLOCK - 1) / STORE_BLOCK);
		for (size_t i = 0; i < nb; i++) {
			size_t bl = (uint64_t)(i + 1) * STORE_BLOCK > len
					    ? (size_t)(len - (uint64_t)i * STORE_BLOCK)
					    : STORE_BLOCK;
			uint8_t x[16];
			hash_xxh128(v->buf + i * STORE_BLOCK, bl, x);
			if (memcmp(x, o.block_xxh + (b0 + i) * 16, 16)) {
				flagged[b0 + i] = 1;
				bad(v, f->path, (b0 + i) * STORE_BLOCK, bl,
				    "block checksum (XXH3-128) mismatch");
			}
			v->jobs[i] = (struct hash_job){ v->buf + i * STORE_BLOCK, bl,
							leaves + (b0 + i) * 32 };
		}
		rc = hash_sha256_batch(v->h, v->jobs, nb);
		if (rc < 0)
			goto out;
		if (sha1) {
			uint64_t p0 = off / pl;
			size_t np = (size_t)((len + pl - 1) / pl);
			uint64_t tail = len % pl, last_len = tail ? tail : pl;
			if (tail && !is_last && off + len == f->length) {
				memset(v->buf + len, 0, pl - tail);
				last_len = pl;
			}
			uint8_t *dig = malloc(np * 20);
			if (!dig) {
				rc = seed_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			for (size_t i = 0; i < np; i++)
				v->jobs[i] = (struct hash_job){ v->buf + i * pl,
								i + 1 == np ? last_len : pl,
								dig + i * 20 };
			rc = hash_sha1_batch(v->h, v->jobs, np);
			for (size_t i = 0; rc == 0 && i < np; i++) {
				if (p0 + i >= n_sha1 ||
				    memcmp(dig + i * 20, sha1 + (p0 + i) * 20, 20)) {
					uint64_t pb = pl / STORE_BLOCK, any = 0;
					for (uint64_t k = (p0 + i) * pb;
					     k < (p0 + i + 1) * pb && k < o.g.n_blocks; k++)
						any |= flagged[k];
					if (!any)
						bad(v, f->path, (p0 + i) * pl,
						    i + 1 == np ? len - i * pl : pl,
						    "v1 piece hash (SHA-1) mismatch");
				}
			}
			free(dig);
			if (rc < 0)
				goto out;
		}
	}
	rc = verify_parity(v, r, f, &o, flagged, err);
	if (rc == 0)
		rc = verify_leaves(v, r, f, &o, leaves, flagged, err);
	if (rc < 0)
		goto out;
	uint8_t root[32];
	rc = merkle_root(v->h, leaves, o.g.n_blocks, root);
	if (rc < 0)
		goto out;
	if (memcmp(root, f->root, 32)) {
		int any = 0;
		for (uint64_t k = 0; k < o.g.n_blocks; k++)
			any |= flagged[k];
		if (!any)
			bad(v, f->path, 0, f->length, "v2 pieces root (SHA-256) mismatch");
	}
out:
	free(leaves);
	free(flagged);
	store_obj_close(&o);
	return rc;
}

int verify_release(struct store *s, const struct store_release *r, enum hash_impl impl,
		   void (*on_bad)(void *arg, const struct verify_bad *b), void *arg,
		   struct verify_stats *out_stats, struct seed_err *err)
{
	struct vctx v = { .on_bad = on_bad, .arg = arg };
	struct bencode_doc *doc = NULL;
	const uint8_t *sha1 = NULL;
	size_t sha1_len = 0;
	uint64_t piece_idx = 0;
	int rc;

	memset(out_stats, 0, sizeof(*out_stats));
	v.st = out_stats;
	rc = hash_ctx_create(impl, &v.h, err);
	if (rc < 0)
		return rc;
	rc = v1_pieces(r, &doc, &sha1, &sha1_len, err);
	if (rc < 0)
		goto out;
	/* Like an object's metadata: a bad copy of the manifest loses nothing
	 * yet, but the redundancy is gone until a writer rewrites it. */
	for (int k = 0; k < 2; k++) {
		if (!(r->manifest.bad & (1u << k)) || (r->manifest.repaired & (1u << k)))
			continue;
		char msg[SEED_ERR_MSG_MAX + 64];
		snprintf(msg, sizeof(msg), "release manifest, copy %d of 2: %s (copy %d is intact)",
			 k + 1, r->manifest.why[k].msg, 2 - k);
		bad(&v, "(manifest)", 0, 0, msg);
	}
	v.chunk = r->piece_length > CHUNK ? r->piece_length : CHUNK;
	size_t maxjobs = (size_t)(v.chunk / STORE_BLOCK);
	if (posix_memalign((void **)&v.buf, 4096, (size_t)(v.chunk + r->piece_length)) ||
	    !(v.jobs = calloc(maxjobs, sizeof(*v.jobs)))) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_files; i++) {
		const struct store_release_file *f = &r->files[i];
		uint64_t np = metainfo_piece_count(f->length, r->piece_length);
		if (!f->has_root)
			continue;
		const uint8_t *fs = NULL;
		uint64_t avail = 0;
		if (sha1) {
			uint64_t total = sha1_len / 20;
			fs = sha1 + (piece_idx < total ? piece_idx : total) * 20;
			avail = piece_idx < total ? total - piece_idx : 0;
		}
		rc = verify_file(&v, s, r, i, fs, avail, err);
		if (rc < 0)
			goto out;
		piece_idx += np;
		out_stats->files++;
		out_stats->bytes += f->length;
	}
	out_stats->bad = v.bad;
	rc = v.bad > INT32_MAX ? INT32_MAX : (int)v.bad;
out:
	bencode_free(doc);
	free(v.buf);
	free(v.jobs);
	hash_ctx_destroy(v.h);
	return rc;
}
