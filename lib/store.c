/*
 * store: see store.h for the layout and the durability rule.
 *
 * Integers in headers are little-endian. Every reader checks magic, version,
 * sizes against the file's real size and the XXH3-128 checksums before it
 * believes a single field, so a truncated, bit-flipped or foreign file gives
 * an error naming it, never a crash or a wrong answer.
 */
#include "store.h"
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "bencode.h"
#include "byteio.h"
#include "fsutil.h"
#include "hash.h"
#include "hex.h"
#include "mem.h"
#include "metainfo.h"
#include "parity.h"

#define FORMAT_HEAD  "bitstream-store 5\n" /* then "parity K+M\n" */
#define FORMAT_V4    "bitstream-store 4\n" /* the same line, objects without leaves: upgraded */
#define FORMAT_V3    "bitstream-store 3\n" /* the same line, larger objects: upgraded */
#define FORMAT_V2    "bitstream-store 2\n" /* objects without parity: upgraded */
#define FORMAT_OLD   "bitstream-store 1\n" /* one copy of each object's metadata */
#define OBJ_MAGIC    "SEEDOBJ"		   /* 7 chars + NUL = 8 bytes */
#define OBJ_HDR_USED 128u		   /* bytes of the header covered by fields */
#define OBJ_HDR_SUM  112u		   /* the header's XXH3-128 covers the bytes before it */
#define TMP_SUBDIRS  16			   /* tmp/0 .. tmp/f: objects being written, by thread */

const char *store_dir(const struct store *s)
{
	return s->dir;
}

/* ---- open / close ---- */

/* Writes FORMAT for parity k+m (a new store, or a format 2, 3 or 4 one
 * upgraded). */
static int write_format(const char *fmt, uint32_t k, uint32_t m, struct seed_err *err)
{
	char line[64];
	int n = snprintf(line, sizeof(line), FORMAT_HEAD "parity %u+%u\n", k, m);
	return fsu_write_atomic(fmt, line, (size_t)n, 0644, err);
}

/* The FORMAT of formats 3 to 5: the head line (head), then "parity K+M"
 * within limits. */
static int parse_format(const char *fmt, const char *head, const uint8_t *buf, size_t len,
			uint32_t *k, uint32_t *m, struct seed_err *err)
{
	size_t hl = strlen(head);
	unsigned pk, pm;
	char tail;
	if (len < hl || len > 200 || memchr(buf, 0, len) ||
	    sscanf((const char *)buf + hl, "parity %u+%u%c", &pk, &pm, &tail) != 3 ||
	    tail != '\n' || (size_t)snprintf(NULL, 0, "%sparity %u+%u\n", head, pk, pm) != len)
		return seed_err_set(err, -EPROTO,
				    "%s: store format %c without a valid \"parity K+M\" line", fmt,
				    head[hl - 2]);
	if (pk < 1 || pk > PARITY_MAX_K || (pk & (pk - 1)) || pm < 1 || pm > PARITY_MAX_M)
		return seed_err_set(err, -EPROTO,
				    "%s: parity %u+%u: K must be a power of two from 1 to %u and "
				    "M from 1 to %u",
				    fmt, pk, pm, PARITY_MAX_K, PARITY_MAX_M);
	*k = pk;
	*m = pm;
	return 0;
}

static int check_format(struct store *s, int may_create, struct seed_err *err)
{
	const char *dir = s->dir;
	char *fmt = fsu_join(dir, "FORMAT");
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!fmt)
		return seed_err_set(err, -ENOMEM, "out of memory");
	s->k = STORE_PARITY_K;
	s->m = STORE_PARITY_M;
	if (access(fmt, F_OK) < 0 && errno == ENOENT) {
		if (!may_create) {
			rc = seed_err_set(err, -ENOENT, "%s: not a release store (no FORMAT file)",
					  dir);
			goto out;
		}
		DIR *d = opendir(dir);
		int nonempty = 0;
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
				    strcmp(de->d_name, "lock"))
					nonempty = 1;
			closedir(d);
		}
		if (nonempty) {
			rc = seed_err_set(err, -ENOTEMPTY,
					  "%s: directory is not empty and is not a release store; "
					  "refusing to use it",
					  dir);
			goto out;
		}
		rc = write_format(fmt, s->k, s->m, err);
		goto out;
	}
	rc = fsu_read_file(fmt, 4096, &buf, &len, err);
	if (rc < 0)
		goto out;
#define IS(line) (len == strlen(line) && !memcmp(buf, line, len))
	if (IS(FORMAT_OLD)) {
		rc = seed_err_set(
			err, -EPROTO,
			"%s: store format 1, which this build no longer reads (format 2 "
			"keeps two copies of every object's header and block table); "
			"create its releases again in a new store (seedctl release create "
			"--store NEWDIR ...) and remove this one",
			dir);
	} else if (IS(FORMAT_V2)) {
		/* Format 2 objects are format 3 objects without parity: readers
		 * read them as they are, a writer moves the store to format 4 so
		 * that new objects get parity (the default). */
		if (store_is_writer(s->mode))
			rc = write_format(fmt, s->k, s->m, err);
	} else if (len >= strlen(FORMAT_V3) && (!memcmp(buf, FORMAT_V3, strlen(FORMAT_V3)) ||
						!memcmp(buf, FORMAT_V4, strlen(FORMAT_V4)))) {
		/* Format 3 and 4 objects keep their own header version, which
		 * every reader reads; a writer moves the store to format 5, with
		 * the parity it had, so that new objects are compact (3) and
		 * carry their leaves (4). The format moves so that a build that
		 * does not read version 5 objects refuses the store in one line
		 * instead of finding every new object's copies bad. */
		rc = parse_format(fmt, buf[16] == '3' ? FORMAT_V3 : FORMAT_V4, buf, len, &s->k,
				  &s->m, err);
		if (rc == 0 && store_is_writer(s->mode))
			rc = write_format(fmt, s->k, s->m, err);
	} else if (len >= strlen(FORMAT_HEAD) && !memcmp(buf, FORMAT_HEAD, strlen(FORMAT_HEAD))) {
		rc = parse_format(fmt, FORMAT_HEAD, buf, len, &s->k, &s->m, err);
	} else {
		size_t shown = len;
		const uint8_t *nl = memchr(buf, '\n', len);
		if (nl)
			shown = (size_t)(nl - buf);
		rc = seed_err_set(err, -EPROTO,
				  "%s: unsupported store format \"%.*s\" (this build reads formats "
				  "2 to 5)",
				  fmt, (int)(shown > 40 ? 40 : shown), (const char *)buf);
	}
#undef IS
out:
	free(buf);
	free(fmt);
	return rc;
}

/* DIR/parent/NAME for NAME = 0 .. n - 1 in hex, width digits. */
static int make_subdirs(const char *dir, const char *parent, int width, int n, struct seed_err *err)
{
	for (int i = 0; i < n; i++) {
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/%s/%0*x", dir, parent, width, i);
		if (mkdir(sub, 0755) < 0 && errno != EEXIST)
			return seed_err_set(err, -errno, "%s: cannot create directory: %s", sub,
					    strerror(errno));
	}
	return 0;
}

int store_open(const char *dir, enum store_mode mode, struct store **out_store,
	       struct seed_err *err)
{
	static const char *const subdirs[] = { "tmp", "objects", "releases", "torrents" };
	struct store *s;
	int rc;

	*out_store = NULL;
	if (mode == STORE_CREATE) {
		rc = fsu_mkdir_p(dir, 0755, err);
		if (rc < 0)
			return rc;
	} else {
		struct stat st;
		if (stat(dir, &st) < 0)
			return seed_err_set(err, -errno, "store %s: %s", dir, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return seed_err_set(err, -ENOTDIR, "store %s: not a directory", dir);
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	s->mode = mode;
	s->lock_fd = -1;
	s->version = STORE_OBJ_VERSION;
	pthread_mutex_init(&s->later_mu, NULL);

	char *lock = fsu_join(dir, "lock");
	if (!lock) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	s->lock_fd =
		open(lock, (store_is_writer(mode) ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
	if (s->lock_fd < 0 && !store_is_writer(mode) && errno == ENOENT) {
		free(lock);
		rc = seed_err_set(err, -ENOENT, "%s: not a release store (no lock file)", dir);
		goto fail;
	}
	if (s->lock_fd < 0) {
		rc = seed_err_set(err, -errno, "%s: %s", lock, strerror(errno));
		free(lock);
		goto fail;
	}
	free(lock);
	/* Writers wait for each other; a second create of another release
	 * simply runs after the first. */
	int how = mode == STORE_READ	    ? LOCK_SH
		  : mode == STORE_WRITE_TRY ? LOCK_EX | LOCK_NB
		  : mode == STORE_SCAN	    ? 0
					    : LOCK_EX;
	if (how && flock(s->lock_fd, how) < 0) {
		rc = errno == EWOULDBLOCK
			     ? seed_err_set(err, -EWOULDBLOCK,
					    "%s: another writer holds the store's lock", dir)
			     : seed_err_set(err, -errno, "%s: cannot lock the store: %s", dir,
					    strerror(errno));
		goto fail;
	}
	rc = check_format(s, mode == STORE_CREATE, err);
	if (rc < 0)
		goto fail;
	if (store_is_writer(mode)) {
		for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
			char *p = fsu_join(dir, subdirs[i]);
			if (!p) {
				rc = seed_err_set(err, -ENOMEM, "out of memory");
				goto fail;
			}
			rc = fsu_mkdir_p(p, 0755, err);
			free(p);
			if (rc < 0)
				goto fail;
		}
		/* All 256 fan-out directories exist up front, so a create that
		 * fails (even for lack of inodes) leaves no new directory behind. */
		if ((rc = make_subdirs(dir, "tmp", 1, TMP_SUBDIRS, err)) < 0 ||
		    (rc = make_subdirs(dir, "objects", 2, 256, err)) < 0)
			goto fail;
		/* A manifest whose both copies are bad stops the collection (it
		 * may name any object), not the writer: one rotted release must
		 * not block every create, rm and repair of the store. */
		struct seed_err ge;
		seed_err_clear(&ge);
		rc = store_gc(s, NULL, &ge);
		if (rc == -EBADMSG || rc == -EPROTO) {
			s->gc_refused = ge;
			rc = 0;
		}
		if (rc < 0) {
			*err = ge;
			goto fail;
		}
	}
	*out_store = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	/* committed later and never flushed: still in tmp/, the next writer
	 * clears them */
	for (size_t i = 0; i < s->n_later; i++)
		free(s->later[i].tmp);
	free(s->later);
	pthread_mutex_destroy(&s->later_mu);
	free(s->dir);
	free(s);
}

/* ---- objects ---- */

static uint64_t round4k(uint64_t n)
{
	return (n + 4095) & ~(uint64_t)4095;
}

static uint64_t n_blocks_of(uint64_t length)
{
	return length / STORE_BLOCK + (length % STORE_BLOCK != 0);
}

/* Bytes of a header sector after its fields: where a version 4 object keeps
 * a table that fits. */
#define SECTOR_TABLE_MAX (STORE_OBJ_HEADER - OBJ_HDR_USED)

void store_geom(uint64_t length, uint32_t k, uint32_t m, uint32_t version, struct store_geom *g)
{
	memset(g, 0, sizeof(*g));
	g->length = length;
	g->version = version;
	g->n_blocks = n_blocks_of(length);
	if (k && m) {
		g->k = k;
		g->m = m;
		g->n_stripes = (g->n_blocks + k - 1) / k;
		g->n_parity = g->n_stripes * m;
	}
	if (version >= 5)
		g->n_leafgrp = (g->n_blocks + STORE_LEAF_GROUP - 1) / STORE_LEAF_GROUP;
	g->table_len = (g->n_blocks + g->n_parity + g->n_leafgrp) * 16;
	/* a table copy's entries and, from version 5, its leaves, together */
	uint64_t meta = g->table_len + (g->n_leafgrp ? g->n_blocks * 32 : 0);
	/* Version 4: a parity shard is as long as its stripe's longest data
	 * shard in whole sectors, which only the last stripe of one block can
	 * make shorter than a block (the code counts what is past the data as
	 * zeros, so the parity past it is zeros too and is not stored).
	 * Versions 2 and 3 store whole blocks. */
	g->last_plen = STORE_BLOCK;
	if (version >= 4 && g->n_stripes && g->n_blocks - (g->n_stripes - 1) * k == 1)
		g->last_plen = (uint32_t)round4k(length - (g->n_blocks - 1) * STORE_BLOCK);
	uint64_t parity_bytes =
		g->n_stripes ? (g->n_parity - m) * STORE_BLOCK + (uint64_t)m * g->last_plen : 0;
	if (version >= 4 && meta <= SECTOR_TABLE_MAX) {
		/* each table copy in its header's sector, at the two ends of the
		 * file: one read gets a header and its table, and no sector holds
		 * both copies */
		g->parity = STORE_OBJ_HEADER + round4k(length);
		g->header2 = g->parity + parity_bytes;
		g->table1 = OBJ_HDR_USED;
		g->table2 = g->header2 + OBJ_HDR_USED;
	} else {
		/* each table copy fills whole 4 KiB sectors of its own */
		g->table1 = STORE_OBJ_HEADER + round4k(length);
		g->table2 = g->table1 + round4k(meta);
		g->parity = g->table2 + round4k(meta);
		g->header2 = g->parity + parity_bytes;
	}
	if (g->n_leafgrp) {
		/* right after the entries: a small object's leaves share its
		 * header's sector, a large one's the table's own sectors */
		g->leaves1 = g->table1 + g->table_len;
		g->leaves2 = g->table2 + g->table_len;
	}
	g->size = g->header2 + STORE_OBJ_HEADER;
}

uint32_t store_leaf_group(const struct store_geom *g, uint64_t j, int copy, uint64_t *off,
			  uint64_t *entry)
{
	if (j >= g->n_leafgrp)
		return 0;
	uint64_t first = j * STORE_LEAF_GROUP, n = g->n_blocks - first;
	*off = (copy == 1 ? g->leaves1 : g->leaves2) + first * 32;
	*entry = g->n_blocks + g->n_parity + j;
	return (uint32_t)((n < STORE_LEAF_GROUP ? n : STORE_LEAF_GROUP) * 32);
}

void store_leaf_entries(const uint8_t *leaves, uint64_t n, uint8_t *out)
{
	for (uint64_t j = 0; j * STORE_LEAF_GROUP < n; j++) {
		uint64_t c = n - j * STORE_LEAF_GROUP;
		hash_xxh128(leaves + j * STORE_LEAF_GROUP * 32,
			    (c < STORE_LEAF_GROUP ? c : STORE_LEAF_GROUP) * 32, out + j * 16);
	}
}

int store_read_leaf_group(int fd, const struct store_geom *g, const uint8_t *table, uint64_t j,
			  uint8_t *out, unsigned *out_bad)
{
	unsigned bad = 0;
	int rc = -EBADMSG;
	if (out_bad)
		*out_bad = 0;
	if (j >= g->n_leafgrp)
		return -ENODATA;
	for (int copy = 1; copy <= 2; copy++) {
		uint64_t off, e;
		uint32_t len = store_leaf_group(g, j, copy, &off, &e);
		uint8_t x[16];
		int r = fsu_pread_full(fd, out, len, off);
		if (r < 0 && r != -ENODATA)
			return r;
		if (r == 0) {
			hash_xxh128(out, len, x);
			if (!memcmp(x, table + e * 16, 16)) {
				rc = (int)len;
				break;
			}
		}
		bad |= 1u << (copy - 1);
	}
	if (out_bad)
		*out_bad = bad;
	return rc;
}

uint32_t store_shard(const struct store_geom *g, uint64_t st, uint32_t i, uint64_t *off,
		     uint64_t *entry)
{
	if (i >= g->k) {
		/* every stripe before the last has shards of a whole block */
		uint32_t len = st + 1 == g->n_stripes ? g->last_plen : STORE_BLOCK;
		*off = g->parity + st * g->m * STORE_BLOCK + (uint64_t)(i - g->k) * len;
		*entry = g->n_blocks + st * g->m + (i - g->k);
		return len;
	}
	uint64_t b = st * g->k + i;
	*off = STORE_OBJ_HEADER + b * STORE_BLOCK;
	*entry = b;
	if (b >= g->n_blocks)
		return 0;
	return b + 1 < g->n_blocks || g->length % STORE_BLOCK == 0
		       ? STORE_BLOCK
		       : (uint32_t)(g->length % STORE_BLOCK);
}

void store_check_copies(struct store *s)
{
	s->check_copies = 1;
}

uint64_t store_take_manifest_repairs(struct store *s)
{
	uint64_t n = s->manifest_repairs;
	s->manifest_repairs = 0;
	return n;
}

void store_parity(const struct store *s, uint32_t *k, uint32_t *m)
{
	*k = s->k;
	*m = s->m;
}

void store_new_geom(const struct store *s, uint64_t length, struct store_geom *g)
{
	store_geom(length, s->k, s->m, s->version, g);
}

int store_set_obj_version(struct store *s, uint32_t version)
{
	if (version < 3 || version > STORE_OBJ_VERSION)
		return -EINVAL;
	s->version = version;
	return 0;
}

char *store_obj_path(const struct store *s, const uint8_t root[32])
{
	char hex[65], *p = NULL;
	hex_encode(root, 32, hex);
	if (asprintf(&p, "%s/objects/%.2s/%s.obj", s->dir, hex, hex) < 0)
		return NULL;
	return p;
}

int store_obj_begin(struct store *s, uint64_t length, struct store_obj_writer *w,
		    struct seed_err *err)
{
	static unsigned counter, threads_seen;
	int n;

	memset(w, 0, sizeof(*w));
	atomic_init(&w->fold[0], 0);
	atomic_init(&w->fold[1], 0);
	w->fd = -1;
	w->s = s;
	w->length = length;
	store_new_geom(s, length, &w->g);
	/* each thread creates its objects in a directory of its own: ext4
	 * creates a file under its directory's lock, and two ingest workers
	 * creating small files in one tmp/ spent a fifth of their time waiting
	 * for each other there */
	static _Thread_local int sub = -1;
	if (sub < 0)
		sub = (int)(__atomic_fetch_add(&threads_seen, 1, __ATOMIC_RELAXED) % TMP_SUBDIRS);
	n = snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%x/obj.%ld.%u", s->dir, sub,
		     (long)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (n < 0 || (size_t)n >= sizeof(w->tmp_path))
		return seed_err_set(err, -ENAMETOOLONG, "store path too long");
	w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		w->tmp_path[0] = 0;
		return seed_err_set(err, -errno, "%s: cannot create: %s", s->dir, strerror(errno));
	}
	uint64_t size = w->g.size;
	if (length > STORE_MAX_LENGTH || size > (uint64_t)INT64_MAX) {
		store_obj_abort(w);
		return seed_err_set(err, -EFBIG, "file too large for the store");
	}
	/* Reserve the space now: a full disk fails here, before hours of
	 * hashing, and never halfway through the data. */
	int rc = posix_fallocate(w->fd, 0, (off_t)size);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(w->fd, (off_t)size) < 0 ? errno : 0;
	if (rc) {
		store_obj_abort(w);
		if (rc == ENOSPC || rc == EDQUOT)
			return seed_err_set(
				err, -rc, "store %s: no space left for %llu more bytes (disk full)",
				s->dir, (unsigned long long)size);
		return seed_err_set(err, -rc, "store %s: cannot reserve space: %s", s->dir,
				    strerror(rc));
	}
	return 0;
}

void store_obj_abort(struct store_obj_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_path[0])
		unlink(w->tmp_path);
	w->tmp_path[0] = 0;
}

static uint64_t table_offset_of(int copy, const struct store_geom *g)
{
	return copy == 1 ? g->table1 : g->table2;
}

static uint64_t header_offset_of(int copy, const struct store_geom *g)
{
	return copy == 1 ? 0 : g->header2;
}

static void obj_header(uint8_t *h, int copy, const struct store_geom *g, const uint8_t root[32],
		       const uint8_t table_xxh[16])
{
	memset(h, 0, STORE_OBJ_HEADER);
	memcpy(h, OBJ_MAGIC, 8);
	byteio_put_le32(h + 8, g->version);
	byteio_put_le32(h + 12, STORE_OBJ_HEADER);
	byteio_put_le64(h + 16, g->length);
	byteio_put_le64(h + 24, STORE_OBJ_HEADER);
	byteio_put_le64(h + 32, g->n_blocks);
	byteio_put_le64(h + 40, table_offset_of(copy, g));
	memcpy(h + 48, root, 32);
	memcpy(h + 80, table_xxh, 16);
	byteio_put_le32(h + 96, (uint32_t)copy);
	byteio_put_le32(h + 100, g->k);
	byteio_put_le32(h + 104, g->m);
	hash_xxh128(h, OBJ_HDR_SUM, h + OBJ_HDR_SUM);
}

static int write_err(struct seed_err *err, const char *dir, int rc)
{
	if (rc == -ENOSPC || rc == -EDQUOT)
		return seed_err_set(err, rc, "store %s: no space left (disk full)", dir);
	return seed_err_set(err, rc, "store %s: write failed: %s", dir, strerror(-rc));
}

void store_obj_table_fold(uint64_t first, const uint8_t *entries, size_t n, uint64_t acc[2])
{
	for (size_t i = 0; i < n; i++) {
		XXH128_hash_t h = XXH3_128bits_withSeed(entries + i * 16, 16, first + i);
		acc[0] ^= h.low64;
		acc[1] ^= h.high64;
	}
}

int store_obj_write_leaves(struct store_obj_writer *w, uint64_t first, const uint8_t *leaves,
			   uint64_t n, uint8_t *out_entries, struct seed_err *err)
{
	const struct store_geom *g = &w->g;
	if (!g->n_leafgrp || first % STORE_LEAF_GROUP || first > g->n_blocks ||
	    n > g->n_blocks - first || (n % STORE_LEAF_GROUP && first + n != g->n_blocks))
		return seed_err_set(err, -EINVAL,
				    "leaves %llu+%llu: not whole leaf groups of the object's %llu "
				    "blocks (version %u)",
				    (unsigned long long)first, (unsigned long long)n,
				    (unsigned long long)g->n_blocks, g->version);
	int rc = fsu_pwrite_full(w->fd, leaves, n * 32, g->leaves1 + first * 32);
	if (rc < 0)
		return write_err(err, w->s->dir, rc);
	store_leaf_entries(leaves, n, out_entries);
	return 0;
}

int store_obj_write_table(struct store_obj_writer *w, uint64_t first, const uint8_t *entries,
			  size_t n, struct seed_err *err)
{
	uint64_t total = w->g.table_len / 16, acc[2] = { 0, 0 };
	if (first > total || n > total - first)
		return seed_err_set(err, -EINVAL, "block table entries %llu+%zu past its %llu",
				    (unsigned long long)first, n, (unsigned long long)total);
	int rc = fsu_pwrite_full(w->fd, entries, n * 16, w->g.table1 + first * 16);
	if (rc < 0)
		return write_err(err, w->s->dir, rc);
	store_obj_table_fold(first, entries, n, acc);
	atomic_fetch_xor_explicit(&w->fold[0], acc[0], memory_order_relaxed);
	atomic_fetch_xor_explicit(&w->fold[1], acc[1], memory_order_relaxed);
	return 0;
}

/* What one read of a streamed table's copy 1 covers at most: 4 Ki entries,
 * so committing the table of a 200 GB file holds 64 KiB, not 220 MB. */
#define TABLE_PIECE (64u << 10)

/*
 * The streamed table: reads copy 1 back piece by piece, writes each piece
 * to copy 2, and gives the table's checksum; -EIO when what was read is
 * not what store_obj_write_table wrote.
 */
static int copy_streamed_table(struct store_obj_writer *w, uint8_t out_xxh[16],
			       struct seed_err *err)
{
	const struct store_geom *g = &w->g;
	size_t cap = g->table_len < TABLE_PIECE ? (size_t)g->table_len : TABLE_PIECE;
	uint8_t *buf = malloc(cap ? cap : 1);
	XXH3_state_t *st = XXH3_createState();
	uint64_t acc[2] = { 0, 0 };
	int rc = 0;

	if (!buf || !st) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	XXH3_128bits_reset(st);
	for (uint64_t off = 0; off < g->table_len; off += cap) {
		size_t n = g->table_len - off < cap ? (size_t)(g->table_len - off) : cap;
		rc = fsu_pread_full(w->fd, buf, n, g->table1 + off);
		if (rc < 0) {
			rc = seed_err_set(err, rc == -ENODATA ? -EIO : rc,
					  "%s: cannot read the block table back: %s", w->tmp_path,
					  strerror(rc == -ENODATA ? EIO : -rc));
			goto out;
		}
		store_obj_table_fold(off / 16, buf, n / 16, acc);
		XXH3_128bits_update(st, buf, n);
		rc = fsu_pwrite_full(w->fd, buf, n, g->table2 + off);
		if (rc < 0) {
			write_err(err, w->s->dir, rc);
			goto out;
		}
	}
	if (acc[0] != atomic_load(&w->fold[0]) || acc[1] != atomic_load(&w->fold[1])) {
		rc = seed_err_set(err, -EIO,
				  "%s: the block table read back is not the one written (lost "
				  "or misplaced write)",
				  w->tmp_path);
		goto out;
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(st));
	memcpy(out_xxh, c.digest, 16);
out:
	XXH3_freeState(st);
	free(buf);
	return rc;
}

/*
 * Version 5: reads the leaves back from copy 1 a group at a time, checks
 * each group against its table entry (table, or table copy 1 on disk for a
 * streamed table, checked by then) and writes it to copy 2. -EIO when a
 * group differs: leaves lost, misplaced or never written are never
 * published under a good entry.
 */
static int copy_leaves(struct store_obj_writer *w, const uint8_t *table, struct seed_err *err)
{
	const struct store_geom *g = &w->g;
	uint8_t buf[STORE_LEAF_GROUP * 32], ent[16], x[16];
	for (uint64_t j = 0; j < g->n_leafgrp; j++) {
		uint64_t off, off2, e;
		uint32_t len = store_leaf_group(g, j, 2, &off2, &e);
		store_leaf_group(g, j, 1, &off, &e);
		int rc = fsu_pread_full(w->fd, buf, len, off);
		if (rc == 0 && !table)
			rc = fsu_pread_full(w->fd, ent, 16, g->table1 + e * 16);
		if (rc < 0)
			return seed_err_set(err, rc == -ENODATA ? -EIO : rc,
					    "%s: cannot read the leaves back: %s", w->tmp_path,
					    strerror(rc == -ENODATA ? EIO : -rc));
		hash_xxh128(buf, len, x);
		if (memcmp(x, table ? table + e * 16 : ent, 16))
			return seed_err_set(
				err, -EIO,
				"%s: leaf group %llu read back does not match its table "
				"entry (leaves lost, misplaced or not written)",
				w->tmp_path, (unsigned long long)j);
		if ((rc = fsu_pwrite_full(w->fd, buf, len, off2)) < 0)
			return write_err(err, w->s->dir, rc);
	}
	return 0;
}

static int commit(struct store_obj_writer *w, const uint8_t root[32], const uint8_t *block_xxh,
		  int *out_created, int later, struct seed_err *err)
{
	struct store *s = w->s;
	const struct store_geom *g = &w->g;
	uint8_t table_xxh[16], hdr[STORE_OBJ_HEADER];
	char *final = NULL, *dir = NULL;
	int rc;

	*out_created = 0;
	final = store_obj_path(s, root);
	if (!final) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (access(final, F_OK) == 0) {
		/* Same pieces root: same bytes (SHA-256 merkle); keep the
		 * existing copy, which verify and scrub look after. */
		store_obj_abort(w);
		free(final);
		return 0;
	}
	if (block_xxh) {
		hash_xxh128(block_xxh, g->table_len, table_xxh);
	} else {
		rc = copy_streamed_table(w, table_xxh, err);
		if (rc < 0)
			goto fail;
	}
	if ((rc = copy_leaves(w, block_xxh, err)) < 0)
		goto fail;
	/* Both copies, each a header and a table; the space between was
	 * zeroed by the reservation. The rename below publishes them at once.
	 * Only the header's fields are written: a table in the header's sector
	 * (version 4) is already there, and the rest of the sector is zeros. */
	for (int copy = 1; copy <= 2; copy++) {
		rc = block_xxh ? fsu_pwrite_full(w->fd, block_xxh, g->table_len,
						 table_offset_of(copy, g))
			       : 0;
		if (rc == 0) {
			obj_header(hdr, copy, g, root, table_xxh);
			rc = fsu_pwrite_full(w->fd, hdr, OBJ_HDR_USED, header_offset_of(copy, g));
		}
		if (rc < 0) {
			write_err(err, s->dir, rc);
			goto fail;
		}
	}
	if (later) {
		/* durable and in place at store_obj_flush; the descriptor goes
		 * now, so a release of a million files holds none of them */
		pthread_mutex_lock(&s->later_mu);
		if (s->n_later == s->cap_later) {
			size_t cap = s->cap_later ? 2 * s->cap_later : 256;
			void *p = realloc(s->later, cap * sizeof(*s->later));
			if (p) {
				s->later = p;
				s->cap_later = cap;
			}
		}
		struct later *l = s->n_later < s->cap_later ? &s->later[s->n_later] : NULL;
		if (l && (l->tmp = strdup(w->tmp_path))) {
			memcpy(l->root, root, 32);
			l->created = out_created;
			s->n_later++;
		} else {
			l = NULL;
		}
		pthread_mutex_unlock(&s->later_mu);
		if (!l) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		w->tmp_path[0] = 0;
		close(w->fd);
		w->fd = -1;
		free(final);
		return 0;
	}
	if (fsync(w->fd) < 0) {
		rc = write_err(err, s->dir, -errno);
		goto fail;
	}
	dir = strdup(final);
	if (!dir) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	*strrchr(dir, '/') = 0;
	rc = fsu_mkdir_p(dir, 0755, err);
	if (rc < 0)
		goto fail;
	if (rename(w->tmp_path, final) < 0) {
		rc = seed_err_set(err, -errno, "%s: rename failed: %s", final, strerror(errno));
		goto fail;
	}
	w->tmp_path[0] = 0;
	close(w->fd);
	w->fd = -1;
	rc = fsu_fsync_dir(dir, err);
	if (rc < 0) {
		unlink(final);
		goto fail;
	}
	*out_created = 1;
	free(dir);
	free(final);
	return 0;
fail:
	store_obj_abort(w);
	free(dir);
	free(final);
	return rc;
}

int store_obj_commit(struct store_obj_writer *w, const uint8_t root[32], const uint8_t *block_xxh,
		     int *out_created, struct seed_err *err)
{
	return commit(w, root, block_xxh, out_created, 0, err);
}

int store_obj_commit_later(struct store_obj_writer *w, const uint8_t root[32],
			   const uint8_t *block_xxh, int *out_created, struct seed_err *err)
{
	return commit(w, root, block_xxh, out_created, 1, err);
}

int store_obj_flush(struct store *s, struct seed_err *err)
{
	int rc = 0;
	if (!s->n_later)
		return 0;
	/* one sync makes every object's bytes and tables durable, where an
	 * fsync each cost a journal commit each (1 ms a small file here) */
	if (syncfs(s->lock_fd) < 0)
		rc = write_err(err, s->dir, -errno);
	uint8_t dirty[256] = { 0 };
	size_t i = 0;
	for (; rc == 0 && i < s->n_later; i++) {
		struct later *l = &s->later[i];
		char *final = store_obj_path(s, l->root);
		if (!final) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (access(final, F_OK) == 0) {
			/* the same file twice in one batch: the first one stays */
			unlink(l->tmp);
		} else if (rename(l->tmp, final) < 0) {
			rc = seed_err_set(err, -errno, "%s: rename failed: %s", final,
					  strerror(errno));
		} else {
			*l->created = 1;
			dirty[l->root[0]] = 1;
		}
		free(final);
		free(l->tmp);
	}
	for (size_t k = i; k < s->n_later; k++) {
		unlink(s->later[k].tmp); /* also the next writer's to clear */
		free(s->later[k].tmp);
	}
	s->n_later = 0;
	/* the renames durable before anything (the manifest) names them */
	for (int d = 0; d < 256; d++) {
		if (!dirty[d])
			continue;
		char sub[4096];
		snprintf(sub, sizeof(sub), "%s/objects/%02x", s->dir, d);
		struct seed_err de;
		seed_err_clear(&de);
		if (fsu_fsync_dir(sub, &de) < 0 && rc == 0) {
			*err = de;
			rc = de.code;
		}
	}
	return rc;
}

int store_obj_exists(const struct store *s, const uint8_t root[32])
{
	char *p = store_obj_path(s, root);
	int yes = p && access(p, F_OK) == 0;
	free(p);
	return yes;
}

int store_obj_remove(struct store *s, const uint8_t root[32], struct seed_err *err)
{
	char *p = store_obj_path(s, root);
	if (!p)
		return seed_err_set(err, -ENOMEM, "out of memory");
	int rc = 0;
	if (unlink(p) < 0 && errno != ENOENT)
		rc = seed_err_set(err, -errno, "%s: cannot remove: %s", p, strerror(errno));
	free(p);
	return rc;
}

/*
 * Checks copy (1 or 2) of the object's header and block table against the
 * file's size and root; on success *out_table (malloc'd, n_blocks * 16)
 * holds the table and o's length and n_blocks are set. why (may be NULL)
 * gets the reason a copy is bad, without the path.
 */
static int read_copy(int fd, uint64_t size, const uint8_t root[32], int copy, struct store_obj *o,
		     uint8_t **out_table, char *why, size_t why_len)
{
	uint8_t hdr[OBJ_HDR_USED], x[16];
	const char *bad = NULL;
	char vbuf[64];
	uint64_t at = copy == 1 ? 0 : size - STORE_OBJ_HEADER;

	*out_table = NULL;
	if (size < 2 * (uint64_t)STORE_OBJ_HEADER) {
		bad = "object header is corrupt (file truncated)";
		goto bad;
	}
	int rc = fsu_pread_full(fd, hdr, sizeof(hdr), at);
	if (rc < 0) {
		bad = rc == -ENODATA ? "object header is corrupt (file truncated)" : strerror(-rc);
		goto bad;
	}
	if (memcmp(hdr, OBJ_MAGIC, 8)) {
		bad = "object header is corrupt (no object magic)";
		goto bad;
	}
	uint32_t version = byteio_le32(hdr + 8);
	if (version < 2 || version > STORE_OBJ_VERSION) {
		/* read before the checksum, whose place the version decides; a
		 * flipped version is still a bad copy, never a misread one */
		snprintf(vbuf, sizeof(vbuf),
			 "unsupported object version %u (this build reads 2 to %u)", version,
			 STORE_OBJ_VERSION);
		bad = vbuf;
		goto bad;
	}
	hash_xxh128(hdr, OBJ_HDR_SUM, x);
	if (memcmp(x, hdr + OBJ_HDR_SUM, 16)) {
		bad = "object header is corrupt (checksum mismatch)";
		goto bad;
	}
	uint64_t length = byteio_le64(hdr + 16), nb = byteio_le64(hdr + 32);
	uint32_t k = version == 2 ? 0 : byteio_le32(hdr + 100);
	uint32_t m = version == 2 ? 0 : byteio_le32(hdr + 104);
	/* the layout is computed only from values within their limits */
	int par_ok = version == 2 || (k >= 1 && k <= PARITY_MAX_K && m >= 1 && m <= PARITY_MAX_M);
	int len_ok = length <= STORE_MAX_LENGTH;
	struct store_geom g;
	store_geom(len_ok ? length : 0, par_ok ? k : 0, par_ok ? m : 0, version, &g);
	if (byteio_le32(hdr + 12) != STORE_OBJ_HEADER ||
	    byteio_le64(hdr + 24) != STORE_OBJ_HEADER || byteio_le32(hdr + 96) != (uint32_t)copy ||
	    !len_ok || !par_ok || nb != g.n_blocks ||
	    byteio_le64(hdr + 40) != table_offset_of(copy, &g) || size != g.size ||
	    memcmp(hdr + 48, root, 32)) {
		bad = "object header does not match the file (size, place, parity or root)";
		goto bad;
	}
	uint8_t *t = malloc(g.table_len + 1);
	if (!t)
		return -ENOMEM;
	rc = fsu_pread_full(fd, t, g.table_len, table_offset_of(copy, &g));
	if (rc == 0)
		hash_xxh128(t, g.table_len, x);
	if (rc < 0 || memcmp(x, hdr + 80, 16)) {
		free(t);
		bad = rc < 0 ? "cannot read block table"
			     : "block table is corrupt (checksum mismatch)";
		goto bad;
	}
	o->g = g;
	memcpy(o->root, root, 32);
	*out_table = t;
	return 0;
bad:
	if (why)
		snprintf(why, why_len, "%s", bad);
	return -EBADMSG;
}

int store_obj_open(struct store *s, const uint8_t root[32], struct store_obj *o,
		   struct seed_err *err)
{
	struct stat st;
	int rc;
	char *path = store_obj_path(s, root);

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!path)
		return seed_err_set(err, -ENOMEM, "out of memory");
	o->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0) {
		rc = seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(o->fd, &st) < 0) {
		rc = seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	for (int copy = 1; copy <= 2; copy++) {
		rc = read_copy(o->fd, (uint64_t)st.st_size, root, copy, o, &o->block_xxh,
			       o->bad_why[copy - 1], sizeof(o->bad_why[0]));
		if (rc == -ENOMEM) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		if (rc == 0) {
			o->copy = copy;
			break;
		}
		o->bad_copies |= 1u << (copy - 1);
	}
	if (!o->copy) {
		rc = seed_err_set(err, -EBADMSG,
				  "%s: both copies of the header and block table are bad: copy 1: "
				  "%s; copy 2: %s",
				  path, o->bad_why[0], o->bad_why[1]);
		goto fail;
	}
	free(path);
	return 0;
fail:
	free(path);
	store_obj_close(o);
	return rc;
}

int store_obj_write_meta(struct store *s, int fd, const uint8_t root[32],
			 const struct store_geom *g, const uint8_t *table, int copy,
			 struct seed_err *err)
{
	uint8_t table_xxh[16], hdr[STORE_OBJ_HEADER];
	if (copy < 1 || copy > 2)
		return seed_err_set(err, -EINVAL, "store_obj_write_meta: no copy %d", copy);
	hash_xxh128(table, g->table_len, table_xxh);
	obj_header(hdr, copy, g, root, table_xxh);
	uint64_t at = header_offset_of(copy, g), tat = table_offset_of(copy, g);
	int rc = 0;
	size_t hlen = sizeof(hdr);
	if (tat >= at && tat - at < sizeof(hdr)) {
		/* the table is in the header's sector: the copy is one write,
		 * which stops at the table's end so that the leaves after it
		 * (version 5, repaired on their own) stay as they are */
		memcpy(hdr + (tat - at), table, g->table_len);
		hlen = (size_t)(tat - at + g->table_len);
	} else {
		rc = fsu_pwrite_full(fd, table, g->table_len, tat);
	}
	if (rc == 0)
		rc = fsu_pwrite_full(fd, hdr, hlen, at);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	return rc < 0 ? write_err(err, s->dir, rc) : 0;
}

int store_obj_check_copy(const struct store_obj *o, int copy, char *why, size_t why_len)
{
	struct store_obj c;
	uint8_t *t = NULL;
	struct stat st;

	if (copy < 1 || copy > 2 || o->fd < 0)
		return -EINVAL;
	if (fstat(o->fd, &st) < 0)
		return -errno;
	memset(&c, 0, sizeof(c));
	int rc = read_copy(o->fd, (uint64_t)st.st_size, o->root, copy, &c, &t, why, why_len);
	if (rc == 0 && (c.g.length != o->g.length || c.g.table_len != o->g.table_len ||
			memcmp(t, o->block_xxh, o->g.table_len))) {
		/* each intact on its own, yet different: a writer's bug, and
		 * which one holds is unknowable here */
		snprintf(why, why_len, "intact but differs from copy %d", o->copy);
		rc = -EBADMSG;
	}
	free(t);
	return rc;
}

void store_obj_close(struct store_obj *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->block_xxh);
	o->block_xxh = NULL;
}

/* ---- garbage collection ---- */

struct rootset {
	uint8_t (*v)[32];
	size_t n, cap;
};

static int root_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int collect_roots(struct store *s, struct rootset *rs, struct seed_err *err)
{
	char **ids;
	size_t n;
	int rc = store_release_list(s, &ids, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct store_release *r;
		rc = store_release_load(s, ids[i], &r, err);
		if (rc < 0)
			break;
		for (size_t k = 0; k < r->n_files && rc == 0; k++) {
			if (!r->files[k].has_root)
				continue;
			if (rs->n == rs->cap) {
				size_t cap = rs->cap ? rs->cap * 2 : 64;
				void *t = realloc(rs->v, cap * 32);
				if (!t) {
					rc = seed_err_set(err, -ENOMEM, "out of memory");
					break;
				}
				rs->v = t;
				rs->cap = cap;
			}
			memcpy(rs->v[rs->n++], r->files[k].root, 32);
		}
		store_release_free(r);
	}
	store_free_list(ids, n);
	if (rc == 0 && rs->n > 1)
		qsort(rs->v, rs->n, 32, root_cmp);
	return rc;
}

/* The root an object file is named after ("<64 hex digits>.obj"). */
static int hex_to_root(const char *name, uint8_t out[32])
{
	if (strlen(name) != 68 || strcmp(name + 64, ".obj"))
		return -1;
	return hex_decode(name, 64, out, 32);
}

/* name under at (a directory's fd, or AT_FDCWD and a path) opened for
 * readdir; NULL when it cannot be. */
static DIR *opendir_at(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* d's next entry whose name does not start with '.', or NULL at the end. */
static struct dirent *next_visible(DIR *d)
{
	struct dirent *de;
	while ((de = readdir(d)) && de->d_name[0] == '.')
		;
	return de;
}

/* Every file of directory name under at, or only those whose name has
 * ".tmp." (tmp_only); at depth 0 in its subdirectories too (tmp/0 ..
 * tmp/f), which stay. */
static void clean_dir(int at, const char *name, int tmp_only, int depth)
{
	DIR *d = opendir_at(at, name);
	if (!d)
		return;
	struct dirent *de;
	while ((de = next_visible(d))) {
		int is_dir = de->d_type == DT_DIR;
		struct stat st;
		if (de->d_type == DT_UNKNOWN &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			is_dir = S_ISDIR(st.st_mode);
		if (is_dir && depth == 0)
			clean_dir(dirfd(d), de->d_name, tmp_only, 1);
		else if (!tmp_only || strstr(de->d_name, ".tmp."))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* What a killed writer left: everything in tmp/, and the temporary files of
 * fsu_write_atomic (".tmp." infix) beside the manifests and torrents, which
 * only writers write, under the lock. Not in the root: seed-control writes
 * its state file there without the store's lock. */
static void clean_tmp(struct store *s)
{
	static const char *const dirs[] = { "tmp", "releases", "torrents" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *dir = fsu_join(s->dir, dirs[i]);
		if (dir)
			clean_dir(AT_FDCWD, dir, i != 0, i != 0); /* only tmp/ has subdirectories */
		free(dir);
	}
}

int store_gc(struct store *s, size_t *out_removed, struct seed_err *err)
{
	struct rootset rs = { 0 };
	size_t removed = 0;
	int rc;

	if (out_removed)
		*out_removed = 0;
	if (!store_is_writer(s->mode))
		return seed_err_set(err, -EPERM, "store opened read-only");
	clean_tmp(s);
	rc = collect_roots(s, &rs, err);
	if (rc < 0) {
		/* Never delete objects while any manifest is unreadable: the
		 * unreadable one may name them. */
		seed_err_prefix(err, "not collecting garbage: ");
		free(rs.v);
		return rc;
	}
	char *objdir = fsu_join(s->dir, "objects");
	DIR *top = objdir ? opendir(objdir) : NULL;
	struct dirent *de;
	while (top && (de = next_visible(top))) {
		DIR *sub = opendir_at(dirfd(top), de->d_name);
		if (!sub)
			continue;
		struct dirent *e;
		while ((e = readdir(sub))) {
			uint8_t root[32];
			if (hex_to_root(e->d_name, root) < 0)
				continue;
			if ((!rs.n || !bsearch(root, rs.v, rs.n, 32, root_cmp)) &&
			    unlinkat(dirfd(sub), e->d_name, 0) == 0)
				removed++;
		}
		if (removed)
			fsync(dirfd(sub));
		closedir(sub);
	}
	if (top)
		closedir(top);
	free(objdir);
	free(rs.v);
	if (out_removed)
		*out_removed = removed;
	return 0;
}
