/*
 * scrub: see scrub.h. An object is read in chunks of whole stripes, once
 * to find what is bad (every data and parity block against its XXH3-128),
 * then each stripe with bad blocks is read again on its own and rebuilt.
 * Reads go with O_DIRECT where the file system takes it, the data chunks
 * through io_uring with the next one in flight while one is hashed.
 */
#include "scrub.h"
#include "scrub_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "hex.h"
#include "merkle.h"
#include "parity.h"

#define CHUNK (4u << 20) /* whole stripes for every k (at most 32 blocks) */

/* scrub_object's answer in a lockless pass: something is wrong (or was
 * changing as it was read); look again under the writer lock. */
#define SUSPECT 2

struct sctx {
	struct store *s;
	struct hash_ctx *h;
	scrub_event_fn on_event;
	void *arg;
	struct scrub_stats *st;
	const char *rel, *file;
	uint8_t *buf;	       /* CHUNK, 4 KiB aligned */
	uint8_t *shard;	       /* PARITY_MAX_SHARDS blocks, 4 KiB aligned */
	struct hash_job *jobs; /* CHUNK / STORE_BLOCK */
	struct parity par;
	uint64_t rate;		/* bytes a second, 0: unpaced */
	const atomic_int *stop; /* set: end at the next chunk, -ECANCELED */
	/* A lockless pass (STORE_SCAN): anything found wrong makes
	 * scrub_object return SUSPECT, counting and writing nothing, and the
	 * caller checks it again under the writer lock. */
	int check_only;
	void (*on_progress)(void *arg, const struct scrub_stats *st);
	uint8_t *leaves; /* CHUNK / STORE_BLOCK SHA-256 leaves */
	/* the leaf group leaf_check read last (lgroup: its index + 1, 0: none) */
	uint8_t lgbuf[STORE_LEAF_GROUP * 32];
	uint64_t lgroup;
	/* Reads: the object being scrubbed opened with O_DIRECT (-1: the file
	 * system refuses it, or a caller's own descriptor: buffered reads,
	 * dropped from the page cache after), and a ring that reads the next
	 * chunk into buf2 while buf is hashed (have_ring 0: synchronous). */
	int dfd;
	uint8_t *buf2; /* CHUNK, 4 KiB aligned */
	struct io_uring ring;
	int have_ring;
	struct ahead {
		int fd, busy, issued;
		uint8_t *buf;
		uint64_t len, off;
	} ahead;
	uint64_t read_bytes; /* read so far, for the pace */
	struct timespec t0;  /* when the scrub started */
	/* objects scrubbed: open addressing on the root (a SHA-256 root is
	 * its own hash); an all-zero slot is empty, which no root is */
	uint8_t (*done)[32];
	size_t n_done, cap_done; /* cap_done: a power of two */
	/* per tenant, what was counted while its releases were scrubbed (run;
	 * ids are sorted, so a tenant's releases come one after another) */
	struct scrub_tenants tn;
};

static void event(struct sctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(struct sctx *c, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->on_event)
		c->on_event(c->arg, c->rel, c->file, msg);
}

static int io_fail(struct sctx *c, int rc, const char *what, struct seed_err *err)
{
	if (rc == -ECANCELED)
		return seed_err_set(err, rc, "the scrub was stopped");
	if (rc == -ENODATA)
		rc = -EIO;
	return seed_err_set(err, rc, "release %s: %s: %s failed: %s", c->rel, c->file, what,
			    strerror(-rc));
}

static int stopped(const struct sctx *c)
{
	return c->stop && atomic_load_explicit(c->stop, memory_order_relaxed);
}

/* Counts len bytes read and sleeps as long as the scrub is ahead of its
 * rate: in slices, so that a stop is seen within 100 ms at any rate. */
static int pace(struct sctx *c, uint64_t len)
{
	c->read_bytes += len;
	if (!c->rate)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double due = (double)c->read_bytes / (double)c->rate;
	double spent = (double)(now.tv_sec - c->t0.tv_sec) + (now.tv_nsec - c->t0.tv_nsec) / 1e9;
	for (double d = due - spent; d > 0; d -= 0.1) {
		if (stopped(c))
			return -ECANCELED;
		double slice = d < 0.1 ? d : 0.1;
		struct timespec ts = { 0, (long)(slice * 1e9) };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

/* The descriptor and length a read of len bytes at off goes with: the
 * O_DIRECT one rounded up to whole 4 KiB sectors (every part of an object
 * starts on one, and its data is padded with zeros to one), else fd. */
static int read_fd(const struct sctx *c, int fd, uint64_t *len)
{
	if (c->dfd < 0)
		return fd;
	*len = (*len + 4095) & ~(uint64_t)4095;
	return c->dfd;
}

/* What a read leaves behind: nothing with O_DIRECT; buffered pages are
 * dropped (the data plane reads with O_DIRECT and gains nothing from them). */
static void drop_pages(const struct sctx *c, int fd, uint64_t len, uint64_t off)
{
	if (fd != c->dfd)
		posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

/* Reads len bytes of fd at off into buf (4 KiB aligned, room for len
 * rounded up to 4 KiB) at the scrub's pace. */
static int pread_paced(struct sctx *c, int fd, void *buf, uint64_t len, uint64_t off)
{
	if (stopped(c))
		return -ECANCELED;
	uint64_t rlen = len;
	int rfd = read_fd(c, fd, &rlen);
	int rc = fsu_pread_full(rfd, buf, rlen, off);
	drop_pages(c, rfd, rlen, off);
	if (rc < 0)
		return rc;
	return pace(c, len);
}

/* Starts reading len bytes at off into buf on the ring (a read ahead);
 * without a ring the read happens in read_wait. One at a time. */
static void read_start(struct sctx *c, int fd, uint8_t *buf, uint64_t len, uint64_t off)
{
	struct ahead *a = &c->ahead;
	*a = (struct ahead){ .fd = fd, .busy = 1, .buf = buf, .len = len, .off = off };
	uint64_t rlen = len;
	int rfd = read_fd(c, fd, &rlen);
	struct io_uring_sqe *sqe = c->have_ring ? io_uring_get_sqe(&c->ring) : NULL;
	if (!sqe || rlen > UINT32_MAX)
		return;
	io_uring_prep_read(sqe, rfd, buf, (unsigned)rlen, off);
	a->issued = io_uring_submit(&c->ring) == 1;
}

/* The read read_start began, complete (a short one finished with pread),
 * at the scrub's pace. */
static int read_wait(struct sctx *c)
{
	struct ahead *a = &c->ahead;
	if (!a->busy)
		return -EINVAL;
	a->busy = 0;
	if (!a->issued)
		return pread_paced(c, a->fd, a->buf, a->len, a->off);
	struct io_uring_cqe *cqe;
	int rc;
	while ((rc = io_uring_wait_cqe(&c->ring, &cqe)) == -EINTR)
		;
	if (rc < 0)
		return rc;
	int res = cqe->res;
	io_uring_cqe_seen(&c->ring, cqe);
	uint64_t rlen = a->len;
	int rfd = read_fd(c, a->fd, &rlen);
	if (res < 0)
		return res;
	if ((uint64_t)res < rlen && (rc = fsu_pread_full(rfd, a->buf + res, rlen - (uint64_t)res,
							 a->off + (uint64_t)res)) < 0)
		return rc;
	drop_pages(c, rfd, rlen, a->off);
	if (stopped(c))
		return -ECANCELED;
	return pace(c, a->len);
}

/* A read ahead left in flight by an error: waited for, so the ring holds
 * nothing that writes into a buffer after its owner moved on. */
static void read_settle(struct sctx *c)
{
	if (c->ahead.busy && c->ahead.issued) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&c->ring, &cqe) == 0)
			io_uring_cqe_seen(&c->ring, cqe);
	}
	c->ahead.busy = 0;
}

static int use_parity(struct sctx *c, uint32_t k, uint32_t m)
{
	if (c->par.k == k && c->par.m == m)
		return 0;
	return parity_init(&c->par, k, m, NULL);
}

static uint64_t round4k(uint64_t n)
{
	return (n + 4095) & ~(uint64_t)4095;
}

/* Marks in bad[] (one byte per table entry) every data and parity block of
 * the object in fd that does not match its XXH3-128 in table, and returns
 * the number marked. When none is, *root_ok says whether the data's SHA-256
 * merkle root is still root: a table that matches data which is not the
 * file any more (both written wrong) shows only there. The root comes from
 * one subtree hash per chunk (a chunk is a power of two of blocks), so
 * memory stays at 32 bytes per chunk, not per block. */
static int find_bad(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *table,
		    const uint8_t root[32], uint8_t *bad, int *root_ok, struct seed_err *err)
{
	const uint64_t per = CHUNK / STORE_BLOCK;
	const uint64_t n_chunks = (g->length + CHUNK - 1) / CHUNK;
	uint8_t x[16], mroot[32];
	uint8_t *layer = n_chunks > 1 ? malloc(n_chunks * 32) : NULL;
	int rc = 0, n_bad = 0;
	if (n_chunks > 1 && !layer)
		return seed_err_set(err, -ENOMEM, "out of memory");
	uint8_t *cur = c->buf, *next = c->buf2;
	read_start(c, fd, cur, g->length < CHUNK ? g->length : CHUNK, STORE_OBJ_HEADER);
	for (uint64_t off = 0; off < g->length; off += CHUNK) {
		uint64_t len = g->length - off < CHUNK ? g->length - off : CHUNK;
		if ((rc = read_wait(c)) < 0) {
			rc = io_fail(c, rc, "read", err);
			goto out;
		}
		uint64_t noff = off + CHUNK;
		if (noff < g->length)
			read_start(c, fd, next, g->length - noff < CHUNK ? g->length - noff : CHUNK,
				   STORE_OBJ_HEADER + noff);
		size_t nj = 0;
		for (uint64_t b = off / STORE_BLOCK; b * STORE_BLOCK < off + len; b++, nj++) {
			uint64_t at = b * STORE_BLOCK - off;
			uint64_t bl = len - at < STORE_BLOCK ? len - at : STORE_BLOCK;
			hash_xxh128(cur + at, bl, x);
			bad[b] = memcmp(x, table + b * 16, 16) != 0;
			n_bad += bad[b];
			c->jobs[nj] = (struct hash_job){ cur + at, bl, c->leaves + nj * 32 };
		}
		uint8_t *t = cur;
		cur = next;
		next = t;
		if (n_bad)
			continue; /* the root cannot match; the stripes are what matter */
		if ((rc = hash_sha256_batch(c->h, c->jobs, nj)) < 0 ||
		    (rc = n_chunks > 1
				  ? merkle_layer(c->h, c->leaves, nj, per, layer + off / CHUNK * 32)
				  : merkle_root(c->h, c->leaves, nj, mroot)) < 0) {
			rc = seed_err_set(err, rc, "SHA-256 failed");
			goto out;
		}
	}
	if (!n_bad && n_chunks > 1 &&
	    (rc = merkle_root_from_layer(c->h, layer, n_chunks, per, mroot)) < 0) {
		rc = seed_err_set(err, rc, "merkle tree failed");
		goto out;
	}
	*root_ok = !n_bad && !memcmp(mroot, root, 32);
	/* the parity shards, whole stripes a read (at most CHUNK: m shards of
	 * at most a block each), each shard where and as long as store_shard
	 * says */
	const uint64_t spr = per / (g->m ? g->m : 1);
	for (uint64_t s0 = 0; g->m && s0 < g->n_stripes; s0 += spr) {
		uint64_t ns = g->n_stripes - s0 < spr ? g->n_stripes - s0 : spr, first, e, last;
		store_shard(g, s0, g->k, &first, &e);
		uint32_t ll = store_shard(g, s0 + ns - 1, g->k + g->m - 1, &last, &e);
		rc = pread_paced(c, fd, c->buf, last + ll - first, first);
		if (rc < 0) {
			rc = io_fail(c, rc, "parity read", err);
			goto out;
		}
		for (uint64_t st = s0; st < s0 + ns; st++)
			for (uint32_t j = 0; j < g->m; j++) {
				uint64_t at;
				uint32_t len = store_shard(g, st, g->k + j, &at, &e);
				hash_xxh128(c->buf + (at - first), len, x);
				bad[e] = memcmp(x, table + e * 16, 16) != 0;
				n_bad += bad[e];
			}
	}
out:
	read_settle(c);
	free(layer);
	return rc < 0 ? rc : n_bad;
}

/*
 * The SHA-256 leaf check of data block b rebuilt into data[0..len), for an
 * object with leaves (version 5): 0 when its leaf matches (or the object
 * has none: older versions are checked against their XXH3-128 only), 1
 * when it does not, -EBADMSG when neither copy of its leaf group matches
 * its entry (the leaves are rebuilt from the data once its merkle root is
 * checked: scrub_object), or -errno. The leaf group read is kept for the
 * next block of the same group (a stripe lies in one group).
 */
static int leaf_check(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *table,
		      uint64_t b, const uint8_t *data, uint32_t len)
{
	if (!g->n_leafgrp)
		return 0;
	uint64_t j = b / STORE_LEAF_GROUP;
	if (c->lgroup != j + 1) {
		c->lgroup = 0;
		int rc = store_read_leaf_group(fd, g, table, j, c->lgbuf, NULL);
		if (rc < 0)
			return rc;
		c->lgroup = j + 1;
	}
	uint8_t leaf[32];
	if (hash_sha256(c->h, data, len, leaf) < 0)
		return -EIO;
	return memcmp(leaf, c->lgbuf + (b % STORE_LEAF_GROUP) * 32, 32) != 0;
}

/* Rebuilds each stripe with bad blocks (at most m) and writes the rebuilt
 * blocks back; *wrote is set when anything was written. */
static int mend_stripes(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *table,
			const uint8_t *bad, int *wrote, struct seed_err *err)
{
	const uint32_t n = g->k + g->m;
	c->lgroup = 0; /* another object, or the same one repaired since */
	for (uint64_t st = 0; st < g->n_stripes; st++) {
		uint64_t lost = 0, off[PARITY_MAX_SHARDS], e[PARITY_MAX_SHARDS];
		uint32_t len[PARITY_MAX_SHARDS], n_data = 0;
		for (uint32_t i = 0; i < n; i++) {
			len[i] = store_shard(g, st, i, &off[i], &e[i]);
			if (len[i] && bad[e[i]]) {
				lost |= 1ull << i;
				n_data += i < g->k;
			}
		}
		if (!lost)
			continue;
		int n_lost = __builtin_popcountll(lost);
		if ((uint32_t)n_lost > g->m) {
			c->st->blocks_lost += n_data;
			event(c,
			      "stripe %llu: %d of its %u + %u blocks bad, more than its parity "
			      "rebuilds: %u data blocks lost",
			      (unsigned long long)st, n_lost, g->k, g->m, n_data);
			continue;
		}
		if (use_parity(c, g->k, g->m) < 0)
			return seed_err_set(err, -EINVAL, "parity %u+%u: not a valid code", g->k,
					    g->m);
		uint8_t *sh[PARITY_MAX_SHARDS];
		memset(c->shard, 0, (size_t)n * STORE_BLOCK);
		for (uint32_t i = 0; i < n; i++) {
			sh[i] = c->shard + (size_t)i * STORE_BLOCK;
			if (!len[i] || (lost >> i & 1))
				continue;
			int rc = pread_paced(c, fd, sh[i], len[i], off[i]);
			if (rc < 0)
				return io_fail(c, rc, "stripe read", err);
			/* an O_DIRECT read brings the sector's padding, which no
			 * checksum covers: the code counts zeros there */
			memset(sh[i] + len[i], 0, STORE_BLOCK - len[i]);
		}
		/* coded over the parity shards' length (store_shard) */
		parity_rebuild(&c->par, len[g->k], sh, lost);
		for (uint32_t i = 0; i < n; i++) {
			if (!(lost >> i & 1))
				continue;
			uint8_t x[16];
			hash_xxh128(sh[i], len[i], x);
			if (memcmp(x, table + e[i] * 16, 16)) {
				/* cannot happen when the other blocks matched theirs */
				c->st->blocks_lost += i < g->k;
				event(c,
				      "stripe %llu: block %u rebuilt from parity does not match "
				      "its checksum; left as it is",
				      (unsigned long long)st, i);
				continue;
			}
			int lrc = i < g->k ? leaf_check(c, fd, g, table, e[i], sh[i], len[i]) : 0;
			if (lrc < 0 && lrc != -EBADMSG)
				return io_fail(c, lrc, "leaf read", err);
			if (lrc == 1) {
				c->st->blocks_lost++;
				event(c,
				      "block %llu rebuilt from its stripe's parity matches its "
				      "XXH3-128 but not its SHA-256 leaf; left as it is",
				      (unsigned long long)e[i]);
				continue;
			}
			/* a data block goes back with the zeros that pad it to 4 KiB */
			int rc = fsu_pwrite_full(fd, sh[i], i < g->k ? round4k(len[i]) : len[i],
						 off[i]);
			if (rc < 0)
				return io_fail(c, rc, "write", err);
			*wrote = 1;
			if (i < g->k) {
				c->st->blocks_rebuilt++;
				event(c,
				      "block %llu (bytes %llu-%llu) rebuilt from its stripe's "
				      "parity "
				      "and written back",
				      (unsigned long long)e[i],
				      (unsigned long long)(e[i] * STORE_BLOCK),
				      (unsigned long long)(e[i] * STORE_BLOCK + len[i] - 1));
			} else {
				c->st->parity_rebuilt++;
				event(c,
				      "parity block %u of stripe %llu recomputed and written back",
				      i - g->k + 1, (unsigned long long)st);
			}
		}
	}
	return 0;
}

/*
 * The parity of an object of layout g computed from its data: each parity
 * shard's entry goes into table, *matched counts the shards the disk holds
 * as computed, and with fix a shard that differs is written back.
 */
static int parity_pass(struct sctx *c, int fd, const struct store_geom *g, uint8_t *table, int fix,
		       uint64_t *matched, int *wrote, struct seed_err *err)
{
	if (!g->m)
		return 0;
	if (use_parity(c, g->k, g->m) < 0)
		return seed_err_set(err, -EINVAL, "parity %u+%u: not a valid code", g->k, g->m);
	const uint64_t sb = (uint64_t)g->k * STORE_BLOCK;
	for (uint64_t off = 0; off < g->length; off += CHUNK) {
		uint64_t len = g->length - off < CHUNK ? g->length - off : CHUNK;
		uint64_t ns = (len + sb - 1) / sb, s0 = off / sb;
		int rc = pread_paced(c, fd, c->buf, len, STORE_OBJ_HEADER + off);
		if (rc < 0)
			return io_fail(c, rc, "read", err);
		memset(c->buf + len, 0, (size_t)(ns * sb - len));
		for (uint64_t st = 0; st < ns; st++) {
			uint8_t *d[PARITY_MAX_K], *p[PARITY_MAX_M];
			uint8_t *disk = c->shard + (size_t)g->m * STORE_BLOCK;
			uint64_t at[PARITY_MAX_M], e[PARITY_MAX_M];
			uint32_t plen = 0;
			for (uint32_t i = 0; i < g->k; i++)
				d[i] = c->buf + (st * g->k + i) * STORE_BLOCK;
			for (uint32_t j = 0; j < g->m; j++) {
				p[j] = c->shard + (size_t)j * STORE_BLOCK;
				plen = store_shard(g, s0 + st, g->k + j, &at[j], &e[j]);
			}
			parity_encode(&c->par, plen, d, p);
			for (uint32_t j = 0; j < g->m; j++) {
				hash_xxh128(p[j], plen, table + e[j] * 16);
				rc = pread_paced(c, fd, disk, plen, at[j]);
				if (rc == 0 && !memcmp(disk, p[j], plen)) {
					++*matched;
					continue;
				}
				if (rc == 0 && !fix)
					continue;
				if (rc == 0)
					rc = fsu_pwrite_full(fd, p[j], plen, at[j]);
				if (rc < 0)
					return io_fail(c, rc,
						       fix ? "parity rewrite" : "parity read", err);
				*wrote = 1;
				c->st->parity_rebuilt++;
				event(c,
				      "parity block %u of stripe %llu recomputed and written back",
				      j + 1, (unsigned long long)(s0 + st));
			}
		}
	}
	return 0;
}

/*
 * The leaves of an object of layout g with leaves (version 5) against
 * leaves (its n_blocks leaves, computed from data whose merkle root is its
 * name): *matched counts the leaf group copies the disk holds as computed,
 * and with fix a copy that differs is written.
 */
static int leaves_on_disk(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *leaves,
			  int fix, uint64_t *matched, int *wrote, struct seed_err *err)
{
	for (uint64_t j = 0; j < g->n_leafgrp; j++)
		for (int copy = 1; copy <= 2; copy++) {
			uint64_t off, e;
			uint32_t len = store_leaf_group(g, j, copy, &off, &e);
			const uint8_t *want = leaves + j * STORE_LEAF_GROUP * 32;
			int rc = fsu_pread_full(fd, c->lgbuf, len, off);
			if (rc == 0 && !memcmp(c->lgbuf, want, len)) {
				++*matched;
				continue;
			}
			if (!fix)
				continue;
			if ((rc = fsu_pwrite_full(fd, want, len, off)) < 0)
				return io_fail(c, rc, "leaves write", err);
			*wrote = 1;
		}
	c->lgroup = 0;
	return 0;
}

/*
 * The leaves of leaf group j recomputed from the object's data (whose
 * merkle root the caller has checked) and written to both copies, once
 * they match the group's table entry. 0, 1 when they do not match (the
 * table entry is wrong: left as it is), -errno.
 */
static int rebuild_leaf_group(struct sctx *c, int fd, const struct store_geom *g,
			      const uint8_t *table, uint64_t j, int *wrote, struct seed_err *err)
{
	uint64_t b0 = j * STORE_LEAF_GROUP, off, e;
	uint64_t end = b0 + STORE_LEAF_GROUP < g->n_blocks ? b0 + STORE_LEAF_GROUP : g->n_blocks;
	uint64_t bytes = (end < g->n_blocks ? end * STORE_BLOCK : g->length) - b0 * STORE_BLOCK;
	_Static_assert(STORE_LEAF_GROUP * STORE_BLOCK <= CHUNK, "a leaf group's data in buf");
	int rc = pread_paced(c, fd, c->buf, bytes, STORE_OBJ_HEADER + b0 * STORE_BLOCK);
	if (rc < 0)
		return io_fail(c, rc, "read", err);
	size_t nj = 0;
	for (uint64_t b = b0; b < end; b++, nj++) {
		uint64_t at = (b - b0) * STORE_BLOCK;
		c->jobs[nj] =
			(struct hash_job){ c->buf + at,
					   bytes - at < STORE_BLOCK ? bytes - at : STORE_BLOCK,
					   c->leaves + nj * 32 };
	}
	if ((rc = hash_sha256_batch(c->h, c->jobs, nj)) < 0)
		return seed_err_set(err, rc, "SHA-256 failed");
	uint8_t x[16];
	uint32_t len = store_leaf_group(g, j, 1, &off, &e);
	hash_xxh128(c->leaves, len, x);
	if (memcmp(x, table + e * 16, 16))
		return 1;
	for (int copy = 1; copy <= 2; copy++) {
		store_leaf_group(g, j, copy, &off, &e);
		if ((rc = fsu_pwrite_full(fd, c->leaves, len, off)) < 0)
			return io_fail(c, rc, "leaves write", err);
	}
	*wrote = 1;
	c->lgroup = 0;
	return 0;
}

/*
 * Both copies of every leaf group of an object with leaves against their
 * table entries: a bad copy is rewritten from the good one; a group whose
 * two copies are bad is rebuilt from the data when root_ok (the data's
 * merkle root is the object's name), else counted in *out_left for the
 * caller to check the root first. In a lockless pass (check_only) any bad
 * copy is SUSPECT, nothing written.
 */
static int mend_leaves(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *table,
		       int root_ok, int *wrote, uint64_t *out_left, struct seed_err *err)
{
	*out_left = 0;
	for (uint64_t j = 0; j < g->n_leafgrp; j++) {
		unsigned bad = 0;
		int rc = store_read_leaf_group(fd, g, table, j, c->lgbuf, &bad);
		if (rc >= 0 && !(bad & 1)) {
			/* copy 1 is good: copy 2 was not read */
			uint64_t off, e;
			uint32_t len = store_leaf_group(g, j, 2, &off, &e);
			uint8_t two[STORE_LEAF_GROUP * 32];
			int r2 = fsu_pread_full(fd, two, len, off);
			if (r2 < 0 && r2 != -ENODATA)
				return io_fail(c, r2, "leaves read", err);
			if (r2 < 0 || memcmp(two, c->lgbuf, len))
				bad |= 2;
		}
		if (rc < 0 && rc != -EBADMSG)
			return io_fail(c, rc, "leaves read", err);
		if (!bad)
			continue;
		if (c->check_only)
			return SUSPECT;
		uint64_t first = j * STORE_LEAF_GROUP, last = first + STORE_LEAF_GROUP - 1;
		if (last >= g->n_blocks)
			last = g->n_blocks - 1;
		if (rc >= 0) {
			int copy = bad & 1 ? 1 : 2;
			uint64_t off, e;
			store_leaf_group(g, j, copy, &off, &e);
			if ((rc = fsu_pwrite_full(fd, c->lgbuf, (size_t)rc, off)) < 0)
				return io_fail(c, rc, "leaves write", err);
			*wrote = 1;
			c->st->copies_rewritten++;
			event(c,
			      "copy %d of 2 of the SHA-256 leaves of blocks %llu-%llu was bad; "
			      "rewritten from copy %d",
			      copy, (unsigned long long)first, (unsigned long long)last, 3 - copy);
			continue;
		}
		if (!root_ok) {
			++*out_left;
			continue;
		}
		if ((rc = rebuild_leaf_group(c, fd, g, table, j, wrote, err)) < 0)
			return rc;
		if (rc == 1) {
			c->st->repairs_failed++;
			event(c,
			      "both copies of the SHA-256 leaves of blocks %llu-%llu are bad, and "
			      "the leaves of the data (whose merkle root is right) do not match "
			      "their table entry; left as they are",
			      (unsigned long long)first, (unsigned long long)last);
			continue;
		}
		c->st->copies_rewritten += 2;
		event(c,
		      "both copies of the SHA-256 leaves of blocks %llu-%llu were bad; rebuilt "
		      "from the data, which matches its pieces root",
		      (unsigned long long)first, (unsigned long long)last);
	}
	return 0;
}

/* How many of g's two table copies the disk holds as table has them. */
static int tables_matched(struct sctx *c, int fd, const struct store_geom *g, const uint8_t *table,
			  uint8_t *tmp, uint64_t *matched, struct seed_err *err)
{
	for (int copy = 1; copy <= 2; copy++) {
		int rc = fsu_pread_full(fd, tmp, g->table_len, copy == 1 ? g->table1 : g->table2);
		if (rc < 0)
			return io_fail(c, rc, "block table read", err);
		*matched += !memcmp(tmp, table, g->table_len);
	}
	return 0;
}

/* Adds the layout (v, k, m) to out when an object of length bytes has a file
 * of size bytes in it. */
static void add_layout(struct store_geom *out, size_t *n, size_t cap, uint64_t size,
		       uint64_t length, uint32_t v, uint32_t k, uint32_t m)
{
	struct store_geom g;
	store_geom(length, k, m, v, &g);
	if (g.size == size && *n < cap)
		out[(*n)++] = g;
}

/* The layouts (version, parity) an object of length bytes whose file is
 * size bytes can have, most likely first: the current version with the
 * store's parity, then with every other, then version 3 the same way, then
 * version 2 (no parity). Returns how many went into out (at most cap). */
static size_t layouts_of(struct sctx *c, uint64_t size, uint64_t length, struct store_geom *out,
			 size_t cap)
{
	uint32_t sk, sm;
	size_t n = 0;
	store_parity(c->s, &sk, &sm);
	for (uint32_t v = STORE_OBJ_VERSION; v >= 3; v--) {
		add_layout(out, &n, cap, size, length, v, sk, sm);
		for (uint32_t k = 1; k <= PARITY_MAX_K; k *= 2)
			for (uint32_t m = 1; m <= PARITY_MAX_M; m++)
				if (k != sk || m != sm)
					add_layout(out, &n, cap, size, length, v, k, m);
	}
	add_layout(out, &n, cap, size, length, 2, 0, 0);
	return n;
}

/*
 * Both copies of the object's header and table are bad: which layout the
 * file has follows from its size (layouts_of). The table is rebuilt from
 * the data once the data's merkle root is the object's name, and the parity
 * is recomputed from the data (with fix_parity, written where it differs on
 * disk). When several layouts fit the size, each is scored by how many of
 * its parity shards and table copies the disk holds exactly as computed
 * (the data is at the same place in all of them, so its root decides
 * nothing), and the best one is taken, the first in layouts_of's order on a
 * tie (nothing but the data left intact, or layouts that coincide byte for
 * byte). -EBADMSG (err says why) when that cannot be done.
 */
static int rebuild_table(struct sctx *c, int fd, uint64_t size, uint64_t length,
			 const uint8_t root[32], int fix_parity, struct store_geom *g,
			 uint8_t **out_table, int *wrote, struct seed_err *err)
{
	/* versions 5, 4 and 3 with k = 1, 2, 4 .. 32 and m = 1 .. 4, and version 2 */
	_Static_assert(PARITY_MAX_K == 32, "layouts: six values of k");
	struct store_geom cand[(STORE_OBJ_VERSION - 2) * 6 * PARITY_MAX_M + 1];
	size_t n_cand = length <= STORE_MAX_LENGTH
				? layouts_of(c, size, length, cand, sizeof(cand) / sizeof(cand[0]))
				: 0;
	if (!n_cand)
		return seed_err_set(err, -EBADMSG,
				    "the object's size (%llu bytes) fits no layout of a file of "
				    "%llu bytes",
				    (unsigned long long)size, (unsigned long long)length);
	uint64_t max_len = 0;
	for (size_t i = 0; i < n_cand; i++)
		max_len = cand[i].table_len > max_len ? cand[i].table_len : max_len;
	*g = cand[0];

	uint8_t *table = calloc(1, max_len + 1), *leaves = malloc(g->n_blocks * 32 + 1);
	uint8_t *tmp = n_cand > 1 ? malloc(max_len + 1) : NULL;
	int rc = 0;
	if (!table || !leaves || (n_cand > 1 && !tmp)) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t off = 0; off < g->length; off += CHUNK) {
		uint64_t len = g->length - off < CHUNK ? g->length - off : CHUNK;
		rc = pread_paced(c, fd, c->buf, len, STORE_OBJ_HEADER + off);
		if (rc < 0) {
			rc = io_fail(c, rc, "read", err);
			goto out;
		}
		size_t nj = 0;
		for (uint64_t b = off / STORE_BLOCK; b * STORE_BLOCK < off + len; b++, nj++) {
			uint64_t at = b * STORE_BLOCK - off;
			uint64_t bl = len - at < STORE_BLOCK ? len - at : STORE_BLOCK;
			hash_xxh128(c->buf + at, bl, table + b * 16);
			c->jobs[nj] = (struct hash_job){ c->buf + at, bl, leaves + b * 32 };
		}
		if ((rc = hash_sha256_batch(c->h, c->jobs, nj)) < 0) {
			rc = seed_err_set(err, rc, "SHA-256 failed");
			goto out;
		}
	}
	uint8_t mroot[32];
	if ((rc = merkle_root(c->h, leaves, g->n_blocks, mroot)) < 0) {
		rc = seed_err_set(err, rc, "merkle tree failed");
		goto out;
	}
	if (memcmp(mroot, root, 32)) {
		rc = seed_err_set(err, -EBADMSG,
				  "both copies of the header and block table are bad and the data "
				  "no longer matches its pieces root, so the table cannot be "
				  "rebuilt");
		goto out;
	}
	/* the data is whole (its entries are the same in every layout): which
	 * layout's parity and tables the disk holds */
	size_t best = 0;
	uint64_t best_score = 0;
	for (size_t i = 0; n_cand > 1 && i < n_cand; i++) {
		uint64_t score = 0;
		int ignored = 0;
		if ((rc = parity_pass(c, fd, &cand[i], table, 0, &score, &ignored, err)) < 0)
			goto out;
		if (cand[i].n_leafgrp)
			store_leaf_entries(leaves, g->n_blocks,
					   table + (g->n_blocks + cand[i].n_parity) * 16);
		if ((rc = tables_matched(c, fd, &cand[i], table, tmp, &score, err)) < 0 ||
		    (rc = leaves_on_disk(c, fd, &cand[i], leaves, 0, &score, &ignored, err)) < 0)
			goto out;
		if (score > best_score) {
			best = i;
			best_score = score;
		}
	}
	*g = cand[best];
	uint64_t matched = 0;
	rc = parity_pass(c, fd, g, table, fix_parity, &matched, wrote, err);
	if (rc < 0)
		goto out;
	/* version 5: the leaves' entries, and with fix_parity their two copies
	 * where they differ from the data's */
	if (g->n_leafgrp) {
		store_leaf_entries(leaves, g->n_blocks, table + (g->n_blocks + g->n_parity) * 16);
		if (fix_parity &&
		    (rc = leaves_on_disk(c, fd, g, leaves, 1, &matched, wrote, err)) < 0)
			goto out;
	}
	*out_table = table;
	table = NULL;
out:
	free(tmp);
	free(table);
	free(leaves);
	return rc;
}

static size_t slot_of(const uint8_t root[32], size_t cap)
{
	uint64_t h;
	memcpy(&h, root, sizeof(h));
	return (size_t)h & (cap - 1);
}

static int is_empty(const uint8_t r[32])
{
	static const uint8_t zero[32];
	return !memcmp(r, zero, 32);
}

/* 1 when root was scrubbed before, else 0 and it is remembered (-ENOMEM). */
static int seen(struct sctx *c, const uint8_t root[32])
{
	if (2 * (c->n_done + 1) > c->cap_done) {
		size_t cap = c->cap_done ? 2 * c->cap_done : 1024;
		uint8_t(*t)[32] = calloc(cap, 32);
		if (!t)
			return -ENOMEM;
		for (size_t i = 0; i < c->cap_done; i++) {
			if (is_empty(c->done[i]))
				continue;
			size_t j = slot_of(c->done[i], cap);
			while (!is_empty(t[j]))
				j = (j + 1) & (cap - 1);
			memcpy(t[j], c->done[i], 32);
		}
		free(c->done);
		c->done = t;
		c->cap_done = cap;
	}
	size_t j = slot_of(root, c->cap_done);
	for (; !is_empty(c->done[j]); j = (j + 1) & (c->cap_done - 1))
		if (!memcmp(c->done[j], root, 32))
			return 1;
	memcpy(c->done[j], root, 32);
	c->n_done++;
	return 0;
}

static int scrub_object(struct sctx *c, const struct store_release_file *f, struct seed_err *err)
{
	char *path = store_obj_path(c->s, f->root);
	if (!path)
		return seed_err_set(err, -ENOMEM, "out of memory");
	int fd = open(path, (c->check_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		free(path);
		if (e == ENOENT && c->check_only)
			return SUSPECT;
		if (e != ENOENT)
			return seed_err_set(err, -e, "release %s: %s: %s", c->rel, c->file,
					    strerror(e));
		c->st->objects_lost++;
		event(c, "its object is missing: the file is lost until the release is created "
			 "again");
		return 0;
	}
	struct store_obj o;
	struct store_geom g;
	struct seed_err oe;
	struct stat sb;
	uint8_t *table = NULL, *bad = NULL;
	int wrote = 0, rc;
	int outer_dfd = c->dfd; /* scrub_block's, when it hands the object over */
	c->dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	seed_err_clear(&oe);
	if (fstat(fd, &sb) < 0) {
		rc = seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	rc = store_obj_open(c->s, f->root, &o, &oe);
	if (rc == -EBADMSG && c->check_only) {
		rc = SUSPECT;
		goto out;
	}
	if (rc == 0) {
		g = o.g;
		unsigned badc = o.bad_copies;
		int used = o.copy, other = 3 - o.copy;
		if (!(badc & (1u << (other - 1)))) {
			rc = store_obj_check_copy(&o, other, NULL, 0);
			if (rc == -EBADMSG)
				badc |= 1u << (other - 1);
			else if (rc < 0) {
				store_obj_close(&o);
				rc = io_fail(c, rc, "metadata read", err);
				goto out;
			}
		}
		table = o.block_xxh;
		o.block_xxh = NULL;
		store_obj_close(&o);
		if (badc && c->check_only) {
			rc = SUSPECT;
			goto out;
		}
		for (int copy = 1; copy <= 2; copy++) {
			if (!(badc & (1u << (copy - 1))))
				continue;
			rc = store_obj_write_meta(c->s, fd, f->root, &g, table, copy, err);
			if (rc < 0)
				goto out;
			c->st->copies_rewritten++;
			event(c,
			      "copy %d of 2 of the object's header and block table was bad; "
			      "rewritten from copy %d",
			      copy, used);
		}
	} else if (rc == -EBADMSG) {
		seed_err_clear(&oe);
		rc = rebuild_table(c, fd, (uint64_t)sb.st_size, f->length, f->root, 1, &g, &table,
				   &wrote, &oe);
		if (rc == -EBADMSG) {
			c->st->objects_lost++;
			event(c, "%s", oe.msg);
			rc = 0;
			goto out;
		}
		if (rc < 0) {
			*err = oe;
			goto out;
		}
		for (int copy = 1; copy <= 2 && rc == 0; copy++)
			rc = store_obj_write_meta(c->s, fd, f->root, &g, table, copy, err);
		if (rc < 0)
			goto out;
		c->st->tables_rebuilt++;
		event(c, "both copies of the object's header and block table were bad; rebuilt "
			 "from the data, which matches its pieces root");
	} else {
		*err = oe;
		goto out;
	}
	bad = calloc(1, g.n_blocks + g.n_parity + 1);
	if (!bad) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	int root_ok = 0;
	rc = find_bad(c, fd, &g, table, f->root, bad, &root_ok, err);
	if (rc >= 0 && (rc > 0 || !root_ok) && c->check_only) {
		rc = SUSPECT;
		goto out;
	}
	if (rc == 0 && !root_ok) {
		c->st->objects_lost++;
		event(c, "every block matches the block table, but the data's SHA-256 merkle root "
			 "is not the object's name: table and data were both written wrong, and "
			 "the file is lost until the release is created again");
		goto out;
	}
	if (rc > 0)
		rc = 0;
	if (rc == 0 && g.m)
		rc = mend_stripes(c, fd, &g, table, bad, &wrote, err);
	if (rc == 0 && !g.m) {
		for (uint64_t b = 0; b < g.n_blocks; b++)
			c->st->blocks_lost += bad[b];
		for (uint64_t b = 0; b < g.n_blocks; b++)
			if (bad[b])
				event(c, "block %llu is bad and its object has no parity",
				      (unsigned long long)b);
	}
	if (rc == 0 && g.n_leafgrp) {
		uint64_t left = 0;
		rc = mend_leaves(c, fd, &g, table, root_ok, &wrote, &left, err);
		if (rc == 0 && left && wrote) {
			/* leaves to rebuild from data just repaired: its root
			 * first (find_bad checks it when every block matches) */
			memset(bad, 0, g.n_blocks + g.n_parity + 1);
			rc = find_bad(c, fd, &g, table, f->root, bad, &root_ok, err);
			if (rc >= 0)
				rc = root_ok ? mend_leaves(c, fd, &g, table, 1, &wrote, &left, err)
					     : 0;
		}
		if (rc == 0 && left) {
			c->st->repairs_failed += left;
			event(c,
			      "both copies of %llu group%s of SHA-256 leaves are bad and the data "
			      "is not whole: rebuilt once it is",
			      (unsigned long long)left, left == 1 ? "" : "s");
		}
	}
	if (rc == 0 && wrote && fsync(fd) < 0)
		rc = io_fail(c, -errno, "fsync", err);
	if (rc == 0) {
		c->st->objects++;
		c->st->bytes += f->length;
	}
out:
	if (c->dfd >= 0)
		close(c->dfd);
	c->dfd = outer_dfd;
	free(bad);
	free(table);
	free(path);
	close(fd);
	return rc;
}

/* Manifest copies a writer's open rewrote (store_open collects garbage, which
 * loads, and so repairs, every manifest). */
static void count_open_repairs(struct sctx *c)
{
	uint64_t n = store_take_manifest_repairs(c->s);
	if (!n)
		return;
	c->st->copies_rewritten += n;
	c->rel = "(store)";
	c->file = "(manifests)";
	event(c, "%llu manifest cop%s bad; rewritten from the good cop%s as the store was opened",
	      (unsigned long long)n, n == 1 ? "y was" : "ies were", n == 1 ? "y" : "ies");
}

static int escalate(struct sctx *c, const char *id, const struct store_release_file *f,
		    struct seed_err *err);

/*
 * Scrubs release id: its manifest, then every file not scrubbed before, or
 * (only, under the writer lock after a lockless pass found it suspect) the
 * one file whose root is only, or none (only_manifest).
 */
static int scrub_release(struct sctx *c, const char *id, const uint8_t *only, int only_manifest,
			 struct seed_err *err)
{
	struct store_release *r = NULL;
	struct seed_err le;
	seed_err_clear(&le);
	c->rel = id;
	c->file = "(manifest)";
	int rc = store_release_load(c->s, id, &r, &le);
	if (rc == -ENOENT && (c->check_only || only || only_manifest))
		return 0; /* removed since the list was read */
	if ((rc == -EBADMSG || rc == -EPROTO) && c->check_only)
		return escalate(c, id, NULL, err);
	if (rc == -EBADMSG || rc == -EPROTO) {
		c->st->objects_lost++;
		event(c, "%s", le.msg);
		return 0;
	}
	if (rc < 0) {
		*err = le;
		return rc;
	}
	if (r->manifest.bad && c->check_only)
		rc = escalate(c, id, NULL, err);
	/* rewritten copies are counted from the store's tally at the end */
	for (int k = 0; k < 2 && !c->check_only; k++) {
		if ((r->manifest.bad & (1u << k)) && !(r->manifest.repaired & (1u << k))) {
			c->st->repairs_failed++;
			event(c,
			      "copy %d of 2 of the release's manifest is bad and could not be "
			      "rewritten: %s",
			      k + 1, r->manifest.why[k].msg);
		}
		if (r->manifest.repaired & (1u << k))
			event(c,
			      "copy %d of 2 of the release's manifest was bad; rewritten from "
			      "copy %d",
			      k + 1, 2 - k);
	}
	if (!only && !only_manifest)
		c->st->releases++;
	for (size_t i = 0; rc == 0 && !only_manifest && i < r->n_files; i++) {
		const struct store_release_file *f = &r->files[i];
		if (!f->has_root || (only && memcmp(f->root, only, 32)))
			continue;
		int s = only ? 0 : seen(c, f->root);
		if (s < 0)
			rc = seed_err_set(err, -ENOMEM, "out of memory");
		else if (!s) {
			c->rel = id;
			c->file = f->path;
			rc = scrub_object(c, f, err);
			if (rc == SUSPECT)
				rc = escalate(c, id, f, err);
			if (rc == 0 && c->on_progress)
				c->on_progress(c->arg, c->st);
		}
	}
	store_release_free(r);
	return rc;
}

/*
 * A lockless pass found something wrong in release id (its manifest when f
 * is NULL, else file f): takes the writer lock (waiting while another writer
 * holds it, until told to stop), looks again, repairs and counts what it
 * finds, and lets the lock go. The look is unpaced: the lock is held for
 * one object's read, not at the background rate.
 */
static int escalate(struct sctx *c, const char *id, const struct store_release_file *f,
		    struct seed_err *err)
{
	struct store *scan = c->s, *w = NULL;
	int rc;
	for (;;) {
		rc = store_open(store_dir(scan), STORE_WRITE_TRY, &w, err);
		if (rc != -EWOULDBLOCK)
			break;
		if (c->stop && atomic_load_explicit(c->stop, memory_order_relaxed))
			return seed_err_set(err, -ECANCELED, "the scrub was stopped");
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (rc < 0)
		return rc;
	uint64_t rate = c->rate;
	uint8_t root[32];
	if (f)
		memcpy(root, f->root, 32);
	c->s = w;
	c->check_only = 0;
	c->rate = 0;
	count_open_repairs(c);
	rc = scrub_release(c, id, f ? root : NULL, !f, err);
	c->s = scan;
	c->check_only = 1;
	c->rate = rate;
	store_close(w);
	return rc;
}

static int ctx_init(struct sctx *c, enum hash_impl impl, struct seed_err *err)
{
	c->dfd = -1;
	int rc = hash_ctx_create(impl, &c->h, err);
	if (rc < 0)
		return rc;
	c->have_ring = io_uring_queue_init(2, &c->ring, 0) == 0;
	if (posix_memalign((void **)&c->buf, 4096, CHUNK) ||
	    posix_memalign((void **)&c->buf2, 4096, CHUNK) ||
	    !(c->leaves = malloc(CHUNK / STORE_BLOCK * 32)) ||
	    posix_memalign((void **)&c->shard, 4096, (size_t)PARITY_MAX_SHARDS * STORE_BLOCK) ||
	    !(c->jobs = calloc(CHUNK / STORE_BLOCK, sizeof(*c->jobs))))
		return seed_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static void ctx_free(struct sctx *c)
{
	free(c->tn.v);
	free(c->done);
	free(c->leaves);
	free(c->jobs);
	free(c->buf);
	free(c->buf2);
	free(c->shard);
	if (c->have_ring)
		io_uring_queue_exit(&c->ring);
	hash_ctx_destroy(c->h);
}

/* scrub_block's work once ctx and the object's fd are set up. */
static int mend_block(struct sctx *c, int fd, const struct store_release_file *f, uint64_t block,
		      struct seed_err *err)
{
	struct store_obj o;
	struct seed_err oe;
	seed_err_clear(&oe);
	int rc = store_obj_open(c->s, f->root, &o, &oe);
	if (rc == -EBADMSG || (rc == 0 && o.bad_copies)) {
		if (rc == 0)
			store_obj_close(&o);
		return scrub_object(c, f, err); /* the metadata first: all of it */
	}
	if (rc < 0) {
		*err = oe;
		return rc;
	}
	if (block >= o.g.n_blocks || !o.g.m) {
		store_obj_close(&o);
		return scrub_object(c, f, err);
	}
	const struct store_geom *g = &o.g;
	uint8_t *bad = calloc(1, g->n_blocks + g->n_parity + 1);
	if (!bad) {
		store_obj_close(&o);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	const uint64_t st = block / g->k;
	int wrote = 0;
	for (uint32_t i = 0; rc == 0 && i < g->k + g->m; i++) {
		uint64_t off, e;
		uint32_t len = store_shard(g, st, i, &off, &e);
		if (!len)
			continue;
		uint8_t x[16];
		if ((rc = pread_paced(c, fd, c->shard, len, off)) < 0) {
			rc = io_fail(c, rc, "stripe read", err);
			break;
		}
		hash_xxh128(c->shard, len, x);
		bad[e] = memcmp(x, o.block_xxh + e * 16, 16) != 0;
	}
	if (rc == 0)
		rc = mend_stripes(c, fd, g, o.block_xxh, bad, &wrote, err);
	if (rc == 0 && wrote && fsync(fd) < 0)
		rc = io_fail(c, -errno, "fsync", err);
	free(bad);
	store_obj_close(&o);
	return rc;
}

int scrub_block(struct store *s, const uint8_t root[32], uint64_t length, uint64_t block,
		enum hash_impl impl, scrub_event_fn on_event, void *arg, struct scrub_stats *st,
		struct seed_err *err)
{
	char name[80] = "object ";
	hex_encode(root, 32, name + strlen(name));
	struct sctx c = { .s = s,
			  .on_event = on_event,
			  .arg = arg,
			  .st = st,
			  .rel = "(data plane)",
			  .file = name };
	struct store_release_file f = { .path = name, .length = length, .has_root = 1 };
	memcpy(f.root, root, 32);
	memset(st, 0, sizeof(*st));
	int rc = ctx_init(&c, impl, err);
	char *path = rc == 0 ? store_obj_path(s, root) : NULL;
	int fd = path ? open(path, O_RDWR | O_CLOEXEC) : -1;
	if (rc == 0 && !path)
		rc = seed_err_set(err, -ENOMEM, "out of memory");
	else if (rc == 0 && fd < 0 && errno != ENOENT)
		rc = seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
	else if (rc == 0 && fd >= 0) {
		c.dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
		rc = mend_block(&c, fd, &f, block, err); /* missing: removed since */
	}
	if (c.dfd >= 0)
		close(c.dfd);
	if (fd >= 0)
		close(fd);
	free(path);
	ctx_free(&c);
	if (rc == 0)
		rc = st->blocks_lost || st->objects_lost || st->repairs_failed ? 1 : 0;
	return rc;
}

int scrub_rebuild_table(struct store *s, int fd, uint64_t length, const uint8_t root[32],
			struct store_geom *g, uint8_t **out_table, struct seed_err *err)
{
	struct scrub_stats st;
	struct sctx c = { .s = s, .st = &st, .rel = "", .file = "" };
	struct stat sb;
	int wrote = 0;
	*out_table = NULL;
	int rc = ctx_init(&c, HASH_IMPL_MB, err);
	if (rc == 0 && fstat(fd, &sb) < 0)
		rc = seed_err_set(err, -errno, "fstat: %s", strerror(errno));
	if (rc == 0)
		rc = rebuild_table(&c, fd, (uint64_t)sb.st_size, length, root, 0, g, out_table,
				   &wrote, err);
	ctx_free(&c);
	return rc;
}

int scrub_store(struct store *s, const char *only, enum hash_impl impl, scrub_event_fn on_event,
		void *arg, struct scrub_stats *st, struct seed_err *err)
{
	return scrub_store_paced(s, only, impl, 0, on_event, arg, st, err);
}

/* Every release of c->s (or only), then the verdict and scrub.last. */
static int run(struct sctx *c, const char *only, struct seed_err *err)
{
	char **ids = NULL;
	size_t n = 0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	if ((rc = store_release_list(c->s, &ids, &n, err)) < 0)
		return rc;
	int found = !only;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (only && strcmp(only, ids[i]))
			continue;
		found = 1;
		struct scrub_stats before = *c->st;
		rc = scrub_release(c, ids[i], NULL, 0, err);
		if (rc == 0 && scrub_tenant_add(&c->tn, ids[i], c->st, &before) < 0)
			rc = seed_err_set(err, -ENOMEM, "out of memory");
	}
	store_free_list(ids, n);
	if (rc == 0 && !found)
		rc = seed_err_set(err, -ENOENT, "no release %s in store %s", only, store_dir(c->s));
	c->st->copies_rewritten += store_take_manifest_repairs(c->s);
	if (rc == 0)
		rc = c->st->blocks_lost || c->st->objects_lost || c->st->repairs_failed ? 1 : 0;
	if (rc >= 0) {
		/* the record is for `store status`: the scrub's result stands without it */
		struct seed_err we;
		seed_err_clear(&we);
		if (scrub_write_last(c->s, only, rc == 0, c->st, &c->tn, &we) < 0) {
			c->rel = "(store)";
			c->file = "scrub.last";
			event(c, "this scrub's record could not be written: %s", we.msg);
		}
	}
	return rc;
}

int scrub_store_paced(struct store *s, const char *only, enum hash_impl impl, uint64_t rate,
		      scrub_event_fn on_event, void *arg, struct scrub_stats *st,
		      struct seed_err *err)
{
	struct sctx c = { .s = s, .on_event = on_event, .arg = arg, .st = st, .rate = rate };
	memset(st, 0, sizeof(*st));
	int rc = ctx_init(&c, impl, err);
	if (rc == 0) {
		count_open_repairs(&c);
		rc = run(&c, only, err);
	}
	ctx_free(&c);
	return rc;
}

int scrub_background(const char *dir, const struct scrub_opts *o, struct scrub_stats *st,
		     struct seed_err *err)
{
	struct sctx c = { .on_event = o->on_event,
			  .on_progress = o->on_progress,
			  .arg = o->arg,
			  .st = st,
			  .rate = o->rate,
			  .stop = o->stop,
			  .check_only = 1 };
	memset(st, 0, sizeof(*st));
	int rc = ctx_init(&c, o->impl, err);
	if (rc == 0)
		rc = store_open(dir, STORE_SCAN, &c.s, err);
	if (rc == 0) {
		store_check_copies(c.s);
		rc = run(&c, NULL, err);
	}
	store_close(c.s);
	ctx_free(&c);
	return rc;
}
