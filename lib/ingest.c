/*
 * ingest: see ingest.h.
 *
 * Work is split into chunks of one file (a multiple of the piece length,
 * at least 4 MiB, a whole number of parity stripes), so pieces and stripes
 * are independent. Each worker keeps to one file at a time and holds
 * several chunks (slots): it reads a chunk with one pread (the one copy of
 * its bytes), gathers chunks into a group of at least 4 pieces, hashes the
 * group in one call per hash (SHA-256 and XXH3 per 16 KiB block, SHA-1 per
 * piece), computes the parity of its stripes, and queues data and parity
 * as O_DIRECT writes on its io_uring (ingest_io), then reads the next group
 * while those run. Results land in per-file arrays at fixed slots, so
 * workers share only atomic counters; the worker that reaps the last write
 * of a file builds its merkle tree and commits its object (fsync, rename).
 *
 * Memory does not grow with the release: block hashes (SHA-256 leaves,
 * XXH3 table entries) live in the chunk's slot only. The leaves are folded
 * into the file's piece layer as soon as the chunk is hashed, and the root
 * of a file of several chunks comes from its layer; its table entries go
 * to its object as the chunk's writes are queued, and the commit reads the
 * table back. What a file keeps to the end (SHA-1 pieces and layer, 52
 * bytes a piece: what the torrent carries) is allocated when its first
 * chunk is read, and its object writer only while the object is open.
 *
 * Why this shape (docs/performance.md, "Ingest"): buffered writes copied
 * every byte into the store's page cache (31-52 % of a tmpfs ingest) and
 * two workers on one object queued on its inode lock; a synchronous
 * O_DIRECT pwrite per chunk avoided the copy but left the core idle for
 * each write. Asynchronous writes keep the core hashing.
 */
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "hotmem.h"
#include "ingest_io.h"
#include "mem.h"
#include "merkle.h"
#include "parity.h"
#include "utf8.h"

#define CHUNK_MIN (4u << 20)
/* Blocks hashed with XXH3 and SHA-256 together (hash_group): 512 KiB, in
 * a core's L2 here, and a multiple of the 16 SHA-256 lanes of AVX-512. */
#define HASH_SLICE 32u

/* ---- scanning ---- */

struct scan {
	struct ingest_tree *t;
	size_t cap;
	char *root_real;
	size_t root_real_len;
	struct seed_err *err;
};

static int check_name(const char *rel, const char *name, struct seed_err *err)
{
	size_t n = strlen(name);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return seed_err_set(err, -EINVAL, "%s: the name \"%s\" is not allowed", rel, name);
	if (n > INGEST_MAX_NAME)
		return seed_err_set(err, -ENAMETOOLONG, "%s: name longer than %u bytes", rel,
				    INGEST_MAX_NAME);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return seed_err_set(err, -EINVAL,
					    "%s: name contains control character 0x%02x", rel, c);
		if (c == '\\')
			return seed_err_set(err, -EINVAL,
					    "%s: name contains a backslash (a path separator for "
					    "Windows clients)",
					    rel);
	}
	if (!utf8_valid_str(name))
		return seed_err_set(err, -EILSEQ, "%s: name is not valid UTF-8", rel);
	return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") && strcmp(d->d_name, "..");
}

static int split_rel(struct ingest_entry *e)
{
	size_t n = 1;
	for (const char *p = e->rel; *p; p++)
		n += *p == '/';
	e->comp = calloc(n, sizeof(char *));
	if (!e->comp)
		return -ENOMEM;
	char *copy = strdup(e->rel);
	if (!copy)
		return -ENOMEM;
	size_t i = 0;
	for (char *save = NULL, *tok = strtok_r(copy, "/", &save); tok;
	     tok = strtok_r(NULL, "/", &save)) {
		if (!(e->comp[i++] = strdup(tok))) {
			free(copy);
			return -ENOMEM;
		}
	}
	e->n_comp = i;
	free(copy);
	return 0;
}

static int add_entry(struct scan *sc, const char *rel, const char *src, const struct stat *st)
{
	struct ingest_tree *t = sc->t;
	if (t->n >= INGEST_MAX_FILES)
		return seed_err_set(sc->err, -E2BIG, "more than %u files in the tree",
				    INGEST_MAX_FILES);
	if (t->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 64;
		void *p = realloc(t->e, cap * sizeof(*t->e));
		if (!p)
			return seed_err_set(sc->err, -ENOMEM, "out of memory");
		t->e = p;
		sc->cap = cap;
	}
	struct ingest_entry *e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->rel = strdup(rel);
	e->src = strdup(src);
	t->n++;
	if (!e->rel || !e->src || split_rel(e) < 0)
		return seed_err_set(sc->err, -ENOMEM, "out of memory");
	e->length = (uint64_t)st->st_size;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->mtime = st->st_mtim;
	if (t->total + e->length < t->total)
		return seed_err_set(sc->err, -EOVERFLOW, "total size overflows");
	t->total += e->length;
	return 0;
}

/*
 * A symlink in the tree is followed only to a file inside the tree (a
 * directory could loop); *st becomes what it points to.
 */
static int follow_link(struct scan *sc, const char *src, struct stat *st)
{
	char *real = realpath(src, NULL);
	if (!real)
		return seed_err_set(sc->err, -errno, "%s: broken symlink: %s", src,
				    strerror(errno));
	int inside =
		!strncmp(real, sc->root_real, sc->root_real_len) && real[sc->root_real_len] == '/';
	free(real);
	if (!inside)
		return seed_err_set(sc->err, -EXDEV, "%s: symlink points outside the tree", src);
	if (stat(src, st) < 0)
		return seed_err_set(sc->err, -errno, "%s: %s", src, strerror(errno));
	if (S_ISDIR(st->st_mode))
		return seed_err_set(sc->err, -EINVAL,
				    "%s: symlink to a directory is not supported (it could loop); "
				    "replace it with the directory",
				    src);
	return 0;
}

static int walk(struct scan *sc, const char *dir, const char *rel, size_t depth)
{
	struct dirent **list = NULL;
	int n, rc = 0;

	if (depth >= METAINFO_MAX_PATH_DEPTH)
		return seed_err_set(sc->err, -ELOOP, "%s: directories nested deeper than %d", rel,
				    METAINFO_MAX_PATH_DEPTH);
	n = scandir(dir, &list, skip_dots, name_cmp);
	if (n < 0)
		return seed_err_set(sc->err, -errno, "%s: cannot read directory: %s", dir,
				    strerror(errno));
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = list[i]->d_name;
		char *src = fsu_join(dir, name);
		char *r = *rel ? fsu_join(rel, name) : strdup(name);
		struct stat st;

		if (!src || !r) {
			rc = seed_err_set(sc->err, -ENOMEM, "out of memory");
			goto next;
		}
		rc = check_name(r, name, sc->err);
		if (rc < 0)
			goto next;
		if (depth == 0 && !strcmp(name, ".pad")) {
			rc = seed_err_set(sc->err, -EINVAL,
					  "%s: reserved for BEP 47 pad files; rename it", r);
			goto next;
		}
		if (lstat(src, &st) < 0) {
			rc = seed_err_set(sc->err, -errno, "%s: %s", src, strerror(errno));
			goto next;
		}
		if (S_ISLNK(st.st_mode) && (rc = follow_link(sc, src, &st)) < 0)
			goto next;
		if (S_ISDIR(st.st_mode)) {
			rc = walk(sc, src, r, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			if (access(src, R_OK) < 0) {
				rc = seed_err_set(sc->err, -errno, "%s: cannot read: %s", src,
						  strerror(errno));
				goto next;
			}
			rc = add_entry(sc, r, src, &st);
		} else {
			rc = seed_err_set(
				sc->err, -EINVAL,
				"%s: not a regular file or directory (device, FIFO or socket)",
				src);
		}
	next:
		free(src);
		free(r);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

void ingest_tree_free(struct ingest_tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		for (size_t k = 0; k < t->e[i].n_comp; k++)
			free(t->e[i].comp[k]);
		free(t->e[i].comp);
		free(t->e[i].rel);
		free(t->e[i].src);
	}
	free(t->e);
	free(t->name);
	free(t);
}

int ingest_scan(const char *path, struct ingest_tree **out_tree, struct seed_err *err)
{
	struct scan sc = { .err = err };
	struct stat st;
	int rc;

	*out_tree = NULL;
	if (stat(path, &st) < 0)
		return seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
	sc.t = calloc(1, sizeof(*sc.t));
	sc.root_real = realpath(path, NULL);
	if (!sc.t || !sc.root_real) {
		rc = seed_err_set(err, sc.t ? -errno : -ENOMEM, "%s: %s", path, strerror(errno));
		goto fail;
	}
	sc.root_real_len = strlen(sc.root_real);
	const char *base = strrchr(sc.root_real, '/');
	base = base ? base + 1 : sc.root_real;
	if (!*base) {
		rc = seed_err_set(err, -EINVAL, "%s: cannot share the root directory", path);
		goto fail;
	}
	sc.t->name = strdup(base);
	if (!sc.t->name) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = check_name(path, base, err);
	if (rc < 0)
		goto fail;
	if (S_ISREG(st.st_mode)) {
		sc.t->single_file = 1;
		rc = add_entry(&sc, base, path, &st);
		if (rc == 0) {
			/* The single-file form has no path below the name. */
			free(sc.t->e[0].comp[0]);
			free(sc.t->e[0].comp);
			sc.t->e[0].comp = NULL;
			sc.t->e[0].n_comp = 0;
		}
	} else if (S_ISDIR(st.st_mode)) {
		rc = walk(&sc, path, "", 0);
	} else {
		rc = seed_err_set(err, -EINVAL, "%s: not a directory or regular file", path);
	}
	if (rc < 0)
		goto fail;
	if (sc.t->n == 0) {
		rc = seed_err_set(err, -ENODATA, "%s: empty directory, nothing to share", path);
		goto fail;
	}
	if (sc.t->total == 0) {
		rc = seed_err_set(err, -ENODATA, "%s: every file is empty, nothing to share", path);
		goto fail;
	}
	free(sc.root_real);
	*out_tree = sc.t;
	return 0;
fail:
	free(sc.root_real);
	ingest_tree_free(sc.t);
	return rc;
}

/* ---- ids ---- */

static int check_part(const char *what, const char *v, int allow_dot, struct seed_err *err)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > 64)
		return seed_err_set(err, -EINVAL, "%s must be 1 to 64 characters", what);
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			 (allow_dot && (c == '.' || c == '+'));
		if (!ok)
			return seed_err_set(
				err, -EINVAL,
				"%s \"%s\": character '%c' not allowed (use A-Z a-z 0-9 - _%s)",
				what, v, c, allow_dot ? " . +" : "");
	}
	if (v[0] == '-' || v[0] == '.')
		return seed_err_set(err, -EINVAL, "%s \"%s\" must not start with '-' or '.'", what,
				    v);
	return 0;
}

int ingest_make_id(const char *tenant, const char *name, const char *version, char **out_id,
		   struct seed_err *err)
{
	int rc;
	*out_id = NULL;
	/* No dots in tenant and name, so "tenant.name.version" splits one way. */
	if ((rc = check_part("tenant", tenant, 0, err)) < 0 ||
	    (rc = check_part("name", name, 0, err)) < 0 ||
	    (rc = check_part("version", version, 1, err)) < 0)
		return rc;
	if (asprintf(out_id, "%s.%s.%s", tenant, name, version) < 0) {
		*out_id = NULL;
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- hashing pipeline ---- */

/*
 * Chunks a worker holds at once (read, being hashed, being written): a
 * group of GROUP_PIECES pieces is hashed while the writes of the groups
 * before it run. At most SLOT_BYTES_MAX of chunk buffers per worker, but
 * never fewer than SLOTS_MIN: with pieces of 4 MiB or more (one a chunk)
 * four slots make one group and a fifth keeps a write overlapping it.
 */
#define SLOTS_MAX      8u
#define SLOTS_MIN      5u
#define SLOT_BYTES_MAX (128ull << 20)
/* A group is hashed in one call per hash: sha1mb keeps four pieces in
 * flight (fewer leave SHA-NI streams idle), and the SHA-256 manager has up
 * to 16 lanes (AVX-512), so small files are gathered up to these. */
#define GROUP_PIECES 4u
#define GROUP_BLOCKS 16u

struct file_state {
	const struct ingest_entry *e;
	int is_last; /* last file of the list: no pad after it */
	uint64_t n_blocks, n_pieces;
	size_t n_units;
	struct store_geom g;
	/* What the torrent needs of the file, allocated when its first chunk
	 * is read (start_file) and kept to the end: SHA-1 per piece, and the
	 * piece layer, into which each chunk's leaves are folded as soon as
	 * they are hashed. Leaves and block table entries live only in the
	 * chunk's slot: a file's table goes to its object chunk by chunk
	 * (store_obj_write_table), a file of one chunk's at its commit. */
	uint8_t *sha1;	/* n_pieces * 20 */
	uint8_t *layer; /* n_pieces * 32 */
	uint8_t root[32];
	pthread_mutex_t lock; /* guards starting the file and opening the object */
	int obj_open;
	/* the object being written: allocated when it is opened, freed once
	 * committed (4 KiB of path each: not for every file of the release) */
	struct store_obj_writer *w;
	/* O_DIRECT descriptor on w->tmp_path, or -1: the store's file system
	 * refused it and writes go buffered through w->fd */
	int dfd;
	atomic_size_t next_unit;  /* chunks claimed */
	atomic_size_t units_done; /* chunks whose data and parity are written */
	int created;
	/* a file of one chunk whose object the store holds already (another
	 * release has it): hashed, never written */
	int known;
};

struct job {
	struct store *s;
	const struct ingest_opts *o;
	uint64_t piece_length, chunk;
	unsigned n_slots; /* per worker */
	int want_v1;
	struct parity par; /* the store's k + m (read-only, shared) */
	struct file_state *f;
	size_t n_files, n_units;
	atomic_size_t next_file;
	atomic_size_t *cur; /* per worker: the file it takes chunks of (SIZE_MAX: none) */
	unsigned threads;
	atomic_uint_fast64_t bytes_done;
	atomic_int stop;
	atomic_uint threads_running;
	atomic_int direct_refused, sync_writes;
	pthread_mutex_t err_lock;
	struct seed_err err;
	int rc;
};

enum slot_state { SLOT_FREE, SLOT_READ, SLOT_WRITING };

/* One chunk in a worker's hands. The buffers live as long as the worker. */
struct slot {
	enum slot_state state;
	struct file_state *f;
	uint64_t off, len;
	uint8_t *buf;	 /* j->chunk bytes, 4 KiB-aligned (O_DIRECT) */
	uint8_t *pbuf;	 /* the parity of the chunk's stripes */
	uint8_t *leaves; /* the SHA-256 of the chunk's blocks */
	/* the chunk's block table entries: its data blocks, then its parity
	 * blocks (for a file of one chunk, the object's whole table) */
	uint8_t *xxh;
	uint64_t dirty;	 /* buf may hold non-zero bytes below this */
	unsigned writes; /* in flight: data, parity */
};

struct wk {
	struct job *j;
	unsigned id;
	struct hash_ctx *h;
	struct ingest_io *io;
	struct slot slot[SLOTS_MAX];
	unsigned group[SLOTS_MAX], n_group; /* slots read and not yet hashed */
	uint64_t group_pieces, group_blocks;
	struct hash_job *hj; /* n_slots chunks' blocks */
	uint8_t **xo;	     /* where each of hj's blocks' XXH3 goes (hash_group) */
	size_t src_file;     /* the source open in src_fd, kept for its next chunk */
	int src_fd;
	int exhausted; /* no chunk left to claim */
	/* every slot's buf, then every slot's pbuf: one hotmem mapping */
	uint8_t *arena;
	size_t arena_len;
	struct seed_err err;
};

static void job_fail(struct job *j, const struct seed_err *e)
{
	pthread_mutex_lock(&j->err_lock);
	if (j->rc == 0) {
		j->rc = e->code ? e->code : -EIO;
		j->err = *e;
	}
	pthread_mutex_unlock(&j->err_lock);
	atomic_store(&j->stop, 1);
}

static uint64_t round_up(uint64_t v, uint64_t unit)
{
	return (v + unit - 1) / unit * unit;
}

/*
 * Called before any chunk of f is hashed, by every worker that reads one:
 * the first allocates what the file keeps (SHA-1 pieces, piece layer), so
 * a file not yet started holds nothing; with open_obj, it also opens the
 * file's object. Under f->lock, which also publishes the buffers to the
 * other workers on the file.
 */
static int start_file(struct wk *w, struct file_state *f, int open_obj)
{
	struct job *j = w->j;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (!f->layer) {
		f->sha1 = calloc(f->n_pieces, 20);
		f->layer = calloc(f->n_pieces, 32);
		if (!f->sha1 || !f->layer) {
			free(f->sha1);
			free(f->layer);
			f->sha1 = f->layer = NULL;
			rc = seed_err_set(&w->err, -ENOMEM, "%s: out of memory for its hashes",
					  f->e->rel);
		}
	}
	if (rc == 0 && open_obj && !f->obj_open) {
		f->w = malloc(sizeof(*f->w));
		rc = f->w ? store_obj_begin(j->s, f->e->length, f->w, &w->err)
			  : seed_err_set(&w->err, -ENOMEM, "out of memory");
		if (rc < 0) {
			free(f->w);
			f->w = NULL;
		}
		if (rc == 0) {
			f->obj_open = 1;
			rc = ingest_io_open(w->io, f->w->tmp_path, &f->dfd);
			if (rc == -EINVAL) {
				/* Some file systems have no O_DIRECT: buffered
				 * writes, and the result says so. */
				atomic_store(&j->direct_refused, 1);
				rc = 0;
			} else if (rc < 0) {
				rc = seed_err_set(&w->err, rc, "store %s: cannot open %s: %s",
						  store_dir(j->s), f->w->tmp_path, strerror(-rc));
			}
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

/*
 * Every chunk of f is hashed and written: names and commits its object.
 * table: a file of one chunk's block table (its slot's), or NULL for a file
 * of several, whose table is in its object already (hash_group).
 */
static int finish_file(struct job *j, struct hash_ctx *h, struct file_state *f,
		       const uint8_t *table, struct seed_err *err)
{
	size_t pb = (size_t)(j->piece_length / MERKLE_BLOCK_SIZE);
	int rc = 0;
	/* A file of one chunk was named as it was hashed (hash_group). One of
	 * several has more than one piece (a chunk is whole pieces), where the
	 * root over its piece layer, padded with zero pieces, is the root over
	 * its leaves (merkle.h): the leaves are never all held. */
	if (f->n_units > 1)
		rc = merkle_root_from_layer(h, f->layer, (size_t)f->n_pieces, pb, f->root);
	if (rc < 0)
		return seed_err_set(err, rc, "%s: merkle tree failed: %s", f->e->rel,
				    strerror(-rc));
	if (f->dfd >= 0)
		close(f->dfd);
	f->dfd = -1;
	if (!f->known)
		rc = store_obj_commit_later(f->w, f->root, table, &f->created, err);
	f->obj_open = 0;
	free(f->w);
	f->w = NULL;
	if (rc < 0)
		return rc;
	if (j->o->file_done)
		j->o->file_done(j->o->file_done_arg, (size_t)(f - j->f));
	return 0;
}

static int check_unchanged(int fd, const struct ingest_entry *e, struct seed_err *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return seed_err_set(err, -errno, "%s: %s", e->src, strerror(errno));
	if ((uint64_t)st.st_size != e->length || st.st_ino != e->ino || st.st_dev != e->dev)
		return seed_err_set(err, -ESTALE,
				    "%s: file changed size while being hashed (was %llu bytes, now "
				    "%lld); stop writing to the tree and retry",
				    e->src, (unsigned long long)e->length, (long long)st.st_size);
	if (st.st_mtim.tv_sec != e->mtime.tv_sec || st.st_mtim.tv_nsec != e->mtime.tv_nsec)
		return seed_err_set(err, -ESTALE,
				    "%s: file was modified while being hashed; stop writing to the "
				    "tree and retry",
				    e->src);
	return 0;
}

static int write_err(struct job *j, int rc, struct seed_err *err)
{
	if (rc == -ENOSPC || rc == -EDQUOT)
		return seed_err_set(err, rc, "store %s: no space left (disk full)",
				    store_dir(j->s));
	return seed_err_set(err, rc, "store %s: write failed: %s", store_dir(j->s), strerror(-rc));
}

/* The file a stealing worker helps: the one, among those other workers
 * are on, with the most chunks left; SIZE_MAX when none has any. */
static size_t steal_target(struct job *j, unsigned self)
{
	size_t best = SIZE_MAX, best_left = 0;

	for (unsigned i = 0; i < j->threads; i++) {
		size_t c = atomic_load(&j->cur[i]);
		if (i == self || c >= j->n_files)
			continue;
		size_t claimed = atomic_load(&j->f[c].next_unit), n = j->f[c].n_units;
		if (claimed < n && n - claimed > best_left) {
			best = c;
			best_left = n - claimed;
		}
	}
	return best;
}

/*
 * The next chunk for w. A worker keeps to one file until its chunks are
 * all claimed, then takes the next file of the list: two workers writing
 * one object queue on its inode lock (8 % of a tmpfs ingest in spinning on
 * it when chunks were dealt round-robin). Past the end of the list it helps
 * whichever file has most left. 1 with *out_f and *out_off, or 0: no chunk
 * left.
 */
static int claim(struct wk *w, struct file_state **out_f, uint64_t *out_off)
{
	struct job *j = w->j;

	for (;;) {
		size_t cur = atomic_load(&j->cur[w->id]);
		if (cur < j->n_files) {
			struct file_state *f = &j->f[cur];
			size_t c = atomic_fetch_add(&f->next_unit, 1);
			if (c < f->n_units) {
				*out_f = f;
				*out_off = c * j->chunk;
				return 1;
			}
		}
		size_t next = atomic_fetch_add(&j->next_file, 1);
		if (next >= j->n_files)
			next = steal_target(j, w->id);
		atomic_store(&j->cur[w->id], next);
		if (next == SIZE_MAX)
			return 0;
	}
}

/*
 * Reads the chunk at off of f into s (the one copy of its bytes), and
 * zeroes what follows it up to where the hashes, the parity and the
 * O_DIRECT write read: v1's pad after the file's tail, the rest of the
 * last stripe, the 4 KiB tail. Only bytes a bigger chunk left non-zero are
 * cleared again (s->dirty), so a small file does not clear a whole piece.
 */
static int read_slot(struct wk *w, struct slot *s, struct file_state *f, uint64_t off)
{
	struct job *j = w->j;
	const struct ingest_entry *e = f->e;
	size_t idx = (size_t)(f - j->f);
	uint64_t len = e->length - off;
	int rc;

	if (len > j->chunk)
		len = j->chunk;
	/* a file of one chunk opens its object once hashed, and only if the
	 * store does not hold it already (hash_group) */
	if ((rc = start_file(w, f, f->n_units > 1)) < 0)
		return rc;
	if (w->src_file != idx) {
		if (w->src_fd >= 0)
			close(w->src_fd);
		w->src_file = SIZE_MAX;
		w->src_fd = open(e->src, O_RDONLY | O_CLOEXEC);
		if (w->src_fd < 0)
			return seed_err_set(&w->err, -errno, "%s: cannot open: %s", e->src,
					    strerror(errno));
		w->src_file = idx;
		posix_fadvise(w->src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	rc = fsu_pread_full(w->src_fd, s->buf, len, off);
	if (rc == -ENODATA)
		return seed_err_set(
			&w->err, -ESTALE,
			"%s: file shrank while being hashed; stop writing to the tree and retry",
			e->src);
	if (rc < 0)
		return seed_err_set(&w->err, rc, "%s: read failed: %s", e->src, strerror(-rc));
	rc = check_unchanged(w->src_fd, e, &w->err);
	if (rc < 0)
		return rc;

	uint64_t zero_end = round_up(len, (uint64_t)j->par.k * STORE_BLOCK);
	if (j->want_v1 && !f->is_last && off + len == e->length &&
	    round_up(len, j->piece_length) > zero_end)
		zero_end = round_up(len, j->piece_length);
	if (s->dirty > len)
		memset(s->buf + len, 0,
		       (size_t)((s->dirty < zero_end ? s->dirty : zero_end) - len));
	s->dirty = s->dirty > zero_end ? s->dirty : len;
	s->f = f;
	s->off = off;
	s->len = len;
	s->state = SLOT_READ;
	return 0;
}

/* The parity of s's stripes into s->pbuf, laid out as in the object (a
 * short last stripe has short shards: store_shard says where and how long),
 * and their XXH3 into s->xxh, after its data blocks'. */
static void slot_parity(struct job *j, struct slot *s, uint64_t *out_pbytes, uint64_t *out_poff)
{
	const uint32_t k = j->par.k, m = j->par.m;
	const uint64_t sb = (uint64_t)k * STORE_BLOCK;
	struct file_state *f = s->f;
	uint64_t s0 = s->off / sb, ns = (s->len + sb - 1) / sb;
	uint64_t nb = (s->len + STORE_BLOCK - 1) / STORE_BLOCK, poff = 0, e, end = 0;

	for (uint64_t st = 0; st < ns; st++) {
		uint8_t *data[PARITY_MAX_K], *out[PARITY_MAX_M];
		uint32_t plen = 0;
		for (uint32_t i = 0; i < m; i++) {
			uint64_t off;
			plen = store_shard(&f->g, s0 + st, k + i, &off, &e);
			if (st == 0 && i == 0)
				poff = off;
			out[i] = s->pbuf + (off - poff);
			end = off - poff + plen;
		}
		for (uint32_t i = 0; i < k; i++)
			data[i] = s->buf + (st * k + i) * STORE_BLOCK;
		/* the data past the file is zeros (read_slot), and so is the
		 * parity past plen: it is neither computed nor stored */
		parity_encode(&j->par, plen, data, out);
		for (uint32_t i = 0; i < m; i++)
			hash_xxh128(out[i], plen, s->xxh + (nb + st * m + i) * 16);
	}
	*out_pbytes = end;
	*out_poff = poff;
}

/*
 * The block table entries of s, a chunk of a file of several, into its
 * object's table (copy 1), n_parity of them parity: the table is never held
 * whole, and the commit reads it back (store_obj_write_table).
 */
static int write_table(struct job *j, struct slot *s, uint64_t n_parity, struct seed_err *err)
{
	struct file_state *f = s->f;
	uint64_t nb = (s->len + STORE_BLOCK - 1) / STORE_BLOCK;
	uint64_t s0 = s->off / ((uint64_t)j->par.k * STORE_BLOCK);
	int rc = store_obj_write_table(f->w, s->off / STORE_BLOCK, s->xxh, (size_t)nb, err);
	if (rc == 0)
		rc = store_obj_write_table(f->w, f->n_blocks + s0 * j->par.m, s->xxh + nb * 16,
					   (size_t)n_parity, err);
	if (rc == 0 && f->w->g.n_leafgrp)
		rc = store_obj_write_table(
			f->w,
			f->n_blocks + f->w->g.n_parity + s->off / STORE_BLOCK / STORE_LEAF_GROUP,
			s->xxh + (nb + n_parity) * 16,
			(size_t)((nb + STORE_LEAF_GROUP - 1) / STORE_LEAF_GROUP), err);
	return rc;
}

/*
 * The chunk's SHA-256 leaves into its object (version 5: what a rebuilt
 * block is checked against, docs/store.md) and their groups' table entries
 * into s->xxh after its data and n_parity parity entries: for a file of
 * one chunk that is where the object's table has them, one of several
 * writes them with the rest of the chunk's entries (write_table). A chunk
 * is whole leaf groups (at least 4 MiB, a power of two of blocks), but for
 * the file's last.
 */
static int write_leaves(struct slot *s, uint64_t n_parity, struct seed_err *err)
{
	struct store_obj_writer *ow = s->f->w;
	uint64_t nb = (s->len + STORE_BLOCK - 1) / STORE_BLOCK;
	if (!ow->g.n_leafgrp)
		return 0;
	return store_obj_write_leaves(ow, s->off / STORE_BLOCK, s->leaves, nb,
				      s->xxh + (nb + n_parity) * 16, err);
}

/*
 * Hashes every chunk of the group in one call per hash (SHA-256 and XXH3
 * per 16 KiB block, SHA-1 per piece, pieces of several chunks together),
 * computes their parity and queues their data and parity writes.
 */
static int hash_group(struct wk *w)
{
	struct job *j = w->j;
	size_t nb = 0, np = 0, pb = (size_t)(j->piece_length / MERKLE_BLOCK_SIZE);
	int rc;

	for (unsigned g = 0; g < w->n_group; g++) {
		struct slot *s = &w->slot[w->group[g]];
		size_t n = (size_t)((s->len + MERKLE_BLOCK_SIZE - 1) / MERKLE_BLOCK_SIZE);
		for (size_t i = 0; i < n; i++) {
			size_t bl = MERKLE_BLOCK_SIZE;
			if ((uint64_t)(i + 1) * MERKLE_BLOCK_SIZE > s->len)
				bl = (size_t)(s->len - (uint64_t)i * MERKLE_BLOCK_SIZE);
			w->xo[nb] = s->xxh + i * 16;
			w->hj[nb++] = (struct hash_job){ s->buf + i * MERKLE_BLOCK_SIZE, bl,
							 s->leaves + i * 32 };
		}
	}
	/* XXH3 and SHA-256 a slice at a time, the second while the first has
	 * the slice in the core's cache: a group is several MiB, and a pass of
	 * each over all of it read every byte from memory twice */
	for (size_t b0 = 0; b0 < nb; b0 += HASH_SLICE) {
		size_t n = nb - b0 < HASH_SLICE ? nb - b0 : HASH_SLICE;
		for (size_t i = b0; i < b0 + n; i++)
			hash_xxh128(w->hj[i].data, w->hj[i].len, w->xo[i]);
		rc = hash_sha256_batch(w->h, w->hj + b0, n);
		if (rc < 0)
			return seed_err_set(&w->err, rc, "SHA-256 failed: %s", strerror(-rc));
	}
	/* Each chunk's leaves folded into its pieces' layer hashes at once: a
	 * chunk is whole pieces (j->chunk is a multiple of the piece length),
	 * the file's last piece padded with zero leaves as BEP 52 has it. */
	for (unsigned g = 0; g < w->n_group; g++) {
		struct slot *s = &w->slot[w->group[g]];
		size_t n = (size_t)((s->len + MERKLE_BLOCK_SIZE - 1) / MERKLE_BLOCK_SIZE);
		rc = merkle_layer(w->h, s->leaves, n, pb,
				  s->f->layer + s->off / j->piece_length * 32);
		if (rc < 0)
			return seed_err_set(&w->err, rc, "%s: merkle tree failed: %s", s->f->e->rel,
					    strerror(-rc));
	}

	if (j->want_v1) {
		for (unsigned g = 0; g < w->n_group; g++) {
			struct slot *s = &w->slot[w->group[g]];
			struct file_state *f = s->f;
			uint64_t p0 = s->off / j->piece_length;
			size_t n = (size_t)((s->len + j->piece_length - 1) / j->piece_length);
			uint64_t tail = s->len % j->piece_length;
			uint64_t last_len = tail ? tail : j->piece_length;
			/* v1 sees a file's tail followed by its pad file's zeros. */
			if (tail && !f->is_last && s->off + s->len == f->e->length)
				last_len = j->piece_length;
			for (size_t i = 0; i < n; i++)
				w->hj[np++] =
					(struct hash_job){ s->buf + i * j->piece_length,
							   i + 1 == n ? last_len : j->piece_length,
							   f->sha1 + (p0 + i) * 20 };
		}
		rc = hash_sha1_batch(w->h, w->hj, np);
		if (rc < 0)
			return seed_err_set(&w->err, rc, "SHA-1 failed: %s", strerror(-rc));
	}

	for (unsigned g = 0; g < w->n_group; g++) {
		unsigned si = w->group[g];
		struct slot *s = &w->slot[si];
		struct file_state *f = s->f;
		uint64_t pbytes, poff;
		if (f->n_units == 1) {
			/* all of the file is hashed: its name is known before a
			 * byte is written, and a file another release holds (most
			 * of a new version of a game) costs no write at all */
			rc = merkle_root(w->h, s->leaves, (size_t)f->n_blocks, f->root);
			if (rc < 0)
				return seed_err_set(&w->err, rc, "%s: merkle tree failed: %s",
						    f->e->rel, strerror(-rc));
			if (store_obj_exists(j->s, f->root)) {
				f->known = 1;
				s->state = SLOT_FREE;
				atomic_fetch_add(&j->bytes_done, s->len);
				atomic_fetch_add(&f->units_done, 1);
				if ((rc = finish_file(j, w->h, f, s->xxh, &w->err)) < 0)
					return rc;
				continue;
			}
			if ((rc = start_file(w, f, 1)) < 0)
				return rc;
		}
		slot_parity(j, s, &pbytes, &poff);
		uint64_t ns = (s->len + (uint64_t)j->par.k * STORE_BLOCK - 1) /
			      ((uint64_t)j->par.k * STORE_BLOCK);
		if ((rc = write_leaves(s, ns * j->par.m, &w->err)) < 0 ||
		    (f->n_units > 1 && (rc = write_table(j, s, ns * j->par.m, &w->err)) < 0))
			return rc;
		int fd = f->dfd >= 0 ? f->dfd : f->w->fd, bfd = f->dfd >= 0 ? f->w->fd : -1;
		/* The 4 KiB tail past the data is zeros (read_slot): O_DIRECT
		 * writes whole sectors, and the object pads data to 4 KiB. */
		rc = ingest_io_write(w->io, fd, bfd, s->buf, (size_t)round_up(s->len, 4096),
				     STORE_OBJ_HEADER + s->off, (uint64_t)si);
		if (rc == 0)
			rc = ingest_io_write(w->io, fd, bfd, s->pbuf, (size_t)pbytes, poff,
					     (uint64_t)si);
		if (rc < 0) /* -EBUSY: two writes per slot never exceed the depth */
			return seed_err_set(&w->err, rc, "write queue: %s", strerror(-rc));
		s->writes = 2;
		s->state = SLOT_WRITING;
	}
	w->n_group = 0;
	w->group_pieces = w->group_blocks = 0;
	return 0;
}

static int on_write_done(struct wk *w, const struct ingest_io_done *d)
{
	struct job *j = w->j;
	struct slot *s = &w->slot[d->tag];

	if (d->res < 0)
		return write_err(j, d->res, &w->err);
	if (d->buffered)
		atomic_store(&j->direct_refused, 1);
	if (--s->writes)
		return 0;
	s->state = SLOT_FREE;
	atomic_fetch_add(&j->bytes_done, s->len);
	/* s->xxh stays as it is until the slot is read into again */
	if (atomic_fetch_add(&s->f->units_done, 1) + 1 == s->f->n_units)
		return finish_file(j, w->h, s->f, s->f->n_units == 1 ? s->xxh : NULL, &w->err);
	return 0;
}

static struct slot *free_slot(struct wk *w)
{
	for (unsigned i = 0; i < w->j->n_slots; i++)
		if (w->slot[i].state == SLOT_FREE)
			return &w->slot[i];
	return NULL;
}

/*
 * The worker's loop: read chunks into free slots until the group is worth
 * a hashing call (or no slot or chunk is left), hash it and queue its
 * writes, reap the writes done (waiting only when no slot is free or no
 * chunk is left). So hashing overlaps the writes of up to n_slots - 1
 * chunks, and the CPU never waits for the disk while a slot is free.
 */
static int worker_run(struct wk *w)
{
	struct job *j = w->j;
	struct ingest_io_done done[2 * SLOTS_MAX];
	int rc;

	while (!atomic_load(&j->stop)) {
		while (!w->exhausted && ((j->want_v1 && w->group_pieces < GROUP_PIECES) ||
					 w->group_blocks < GROUP_BLOCKS)) {
			struct slot *s = free_slot(w);
			struct file_state *f;
			uint64_t off;
			if (!s)
				break;
			if (!claim(w, &f, &off)) {
				w->exhausted = 1;
				break;
			}
			rc = read_slot(w, s, f, off);
			if (rc < 0)
				return rc;
			w->group[w->n_group++] = (unsigned)(s - w->slot);
			w->group_pieces += (s->len + j->piece_length - 1) / j->piece_length;
			w->group_blocks += (s->len + MERKLE_BLOCK_SIZE - 1) / MERKLE_BLOCK_SIZE;
		}
		if (w->n_group && (rc = hash_group(w)) < 0)
			return rc;
		unsigned busy = ingest_io_inflight(w->io);
		if (!busy && w->exhausted)
			return 0;
		unsigned min = busy && (w->exhausted || !free_slot(w)) ? 1 : 0;
		int n = ingest_io_reap(w->io, min, done, 2 * SLOTS_MAX);
		if (n < 0)
			return seed_err_set(&w->err, n, "store %s: write queue failed: %s",
					    store_dir(j->s), strerror(-n));
		for (int i = 0; i < n; i++)
			if ((rc = on_write_done(w, &done[i])) < 0)
				return rc;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct wk *w = arg;
	struct job *j = w->j;
	size_t max_blocks = (size_t)(j->n_slots * (j->chunk / MERKLE_BLOCK_SIZE));
	size_t chunk_blocks = (size_t)(j->chunk / MERKLE_BLOCK_SIZE);
	/* data, parity and leaf group entries (write_leaves) */
	size_t chunk_entries = chunk_blocks + chunk_blocks / j->par.k * j->par.m +
			       (chunk_blocks + STORE_LEAF_GROUP - 1) / STORE_LEAF_GROUP;

	seed_err_clear(&w->err);
	w->src_fd = -1;
	w->src_file = SIZE_MAX;
	if (hash_ctx_create(j->o->impl, &w->h, &w->err) < 0 ||
	    ingest_io_create(2 * j->n_slots, j->o->fault, &w->io, &w->err) < 0)
		goto out;
	if (!ingest_io_async(w->io))
		atomic_store(&j->sync_writes, 1);
	/* The slots' data and parity are read, hashed and pinned for O_DIRECT
	 * over and over: huge pages, faulted in now (hotmem.h). A chunk is at
	 * least 4 MiB and k a power of two of at most PARITY_MAX_K blocks, so
	 * a chunk's parity is whole 16 KiB blocks too and every buffer stays
	 * 4 KiB aligned, as O_DIRECT needs. */
	size_t pbytes = (size_t)(j->chunk / j->par.k * j->par.m);
	w->arena_len = j->n_slots * ((size_t)j->chunk + pbytes);
	if (!(w->arena = hotmem_alloc(w->arena_len))) {
		seed_err_set(&w->err, -ENOMEM, "out of memory for hashing buffers");
		goto out;
	}
	for (unsigned i = 0; i < j->n_slots; i++) {
		struct slot *s = &w->slot[i];
		s->dirty = j->chunk;
		s->buf = w->arena + i * (size_t)j->chunk;
		s->pbuf = w->arena + j->n_slots * (size_t)j->chunk + i * pbytes;
		if (!(s->leaves = malloc(chunk_blocks * 32)) ||
		    !(s->xxh = malloc(chunk_entries * 16))) {
			seed_err_set(&w->err, -ENOMEM, "out of memory for hashing buffers");
			goto out;
		}
	}
	if (!(w->hj = calloc(max_blocks, sizeof(*w->hj))) ||
	    !(w->xo = calloc(max_blocks, sizeof(*w->xo)))) {
		seed_err_set(&w->err, -ENOMEM, "out of memory for hashing buffers");
		goto out;
	}
	worker_run(w);
out:
	if (w->err.code)
		job_fail(j, &w->err);
	/* Before the buffers go: the kernel may still be writing from them. */
	ingest_io_destroy(w->io);
	if (w->src_fd >= 0)
		close(w->src_fd);
	hotmem_free(w->arena, w->arena_len);
	for (unsigned i = 0; i < j->n_slots; i++) {
		free(w->slot[i].leaves);
		free(w->slot[i].xxh);
	}
	free(w->hj);
	free(w->xo);
	hash_ctx_destroy(w->h);
	atomic_fetch_sub(&j->threads_running, 1);
	return NULL;
}

static void free_files(struct job *j)
{
	for (size_t i = 0; j->f && i < j->n_files; i++) {
		struct file_state *f = &j->f[i];
		if (f->dfd >= 0)
			close(f->dfd);
		if (f->obj_open)
			store_obj_abort(f->w);
		free(f->w);
		free(f->sha1);
		free(f->layer);
		pthread_mutex_destroy(&f->lock);
	}
	free(j->f);
	free(j->cur);
}

static int plan(struct job *j, const struct ingest_tree *t, struct seed_err *err)
{
	j->n_files = t->n;
	j->f = calloc(t->n, sizeof(*j->f));
	if (!j->f)
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		struct file_state *f = &j->f[i];
		uint64_t len = t->e[i].length;
		pthread_mutex_init(&f->lock, NULL);
		f->dfd = -1;
		atomic_init(&f->next_unit, 0);
		atomic_init(&f->units_done, 0);
		f->e = &t->e[i];
		f->is_last = i + 1 == t->n;
		f->n_blocks = merkle_leaf_count(len);
		store_new_geom(j->s, len, &f->g);
		f->n_pieces = metainfo_piece_count(len, j->piece_length);
		f->n_units = (size_t)((len + j->chunk - 1) / j->chunk);
		j->n_units += f->n_units;
		/* its hashes come when its first chunk is read (start_file) */
	}
	return 0;
}

static int run_workers(struct job *j, unsigned threads, struct seed_err *err)
{
	pthread_t *tid = calloc(threads, sizeof(*tid));
	struct wk *w = calloc(threads, sizeof(*w));
	unsigned started = 0;

	j->cur = calloc(threads, sizeof(*j->cur));
	if (!tid || !w || !j->cur) {
		free(tid);
		free(w);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	j->threads = threads;
	for (unsigned i = 0; i < threads; i++)
		atomic_init(&j->cur[i], SIZE_MAX);
	atomic_store(&j->threads_running, threads);
	for (; started < threads; started++) {
		w[started].j = j;
		w[started].id = started;
		if (pthread_create(&tid[started], NULL, worker, &w[started])) {
			atomic_fetch_sub(&j->threads_running, threads - started);
			struct seed_err e;
			seed_err_clear(&e);
			seed_err_set(&e, -EAGAIN, "cannot start hashing threads");
			job_fail(j, &e);
			break;
		}
	}
	while (atomic_load(&j->threads_running) > 0) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		if (j->o->progress)
			j->o->progress(j->o->progress_arg, atomic_load(&j->bytes_done), 0);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	free(tid);
	free(w);
	if (j->rc < 0) {
		*err = j->err;
		return j->rc;
	}
	return 0;
}

/* ---- torrents and manifest ---- */

static int build_torrent(struct hash_ctx *h, const struct ingest_tree *t,
			 const struct ingest_opts *o, struct job *j, enum metainfo_kind kind,
			 struct metainfo_out *out, struct seed_err *err)
{
	struct metainfo_file *mf = calloc(t->n, sizeof(*mf));
	if (!mf)
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++) {
		mf[i].path = (const char *const *)t->e[i].comp;
		mf[i].n_path = t->e[i].n_comp;
		mf[i].length = t->e[i].length;
		memcpy(mf[i].root, j->f[i].root, 32);
		mf[i].layer = j->f[i].layer;
		mf[i].sha1 = j->f[i].sha1;
	}
	struct metainfo_params p = {
		.kind = kind,
		.name = t->name,
		.single_file = t->single_file,
		.piece_length = j->piece_length,
		.files = mf,
		.n_files = t->n,
		.trackers = o->trackers,
		.n_trackers = o->n_trackers,
		.web_seeds = o->web_seeds,
		.n_web_seeds = o->n_web_seeds,
		.private_flag = o->private_flag,
		.creation_date = o->now,
		.created_by = "BitStream seedctl " SEED_VERSION,
	};
	int rc = metainfo_build(h, &p, out, err);
	free(mf);
	return rc;
}

static int fill_manifest(struct store_release *r, const struct ingest_tree *t,
			 const struct ingest_opts *o, const struct job *j,
			 const struct ingest_result *res)
{
	r->id = res->id;
	r->tenant = (char *)o->tenant;
	r->name = (char *)o->name;
	r->version = (char *)o->version;
	r->torrent_name = t->name;
	r->single_file = t->single_file;
	r->created = o->now;
	r->kind = o->kind;
	r->piece_length = j->piece_length;
	r->total_length = t->total;
	r->has_v1 = res->main.has_v1;
	r->has_v2 = res->main.has_v2;
	memcpy(r->ih_v1, res->main.ih_v1, 20);
	memcpy(r->ih_v2, res->main.ih_v2, 32);
	r->torrent = res->main.torrent;
	r->torrent_len = res->main.torrent_len;
	r->torrent_v1 = res->v1.torrent;
	r->torrent_v1_len = res->v1.torrent_len;
	r->n_files = t->n;
	r->files = calloc(t->n, sizeof(*r->files));
	if (!r->files)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		r->files[i].path = t->e[i].rel;
		r->files[i].length = t->e[i].length;
		r->files[i].has_root = t->e[i].length > 0;
		memcpy(r->files[i].root, j->f[i].root, 32);
	}
	return 0;
}

static char *v1_path_of(const char *path)
{
	size_t n = strlen(path);
	char *p = NULL;
	if (n > 8 && !strcmp(path + n - 8, ".torrent")) {
		if (asprintf(&p, "%.*s.v1.torrent", (int)(n - 8), path) < 0)
			return NULL;
	} else if (asprintf(&p, "%s.v1.torrent", path) < 0) {
		return NULL;
	}
	return p;
}

static const char *write_path(int sync_writes, int direct_refused)
{
	static const char *const path[2][2] = {
		{ "io_uring, O_DIRECT",
		  "io_uring, buffered (the store's file system refused O_DIRECT)" },
		{ "pwrite, O_DIRECT (io_uring unavailable)",
		  "pwrite, buffered (io_uring unavailable; the store's file system refused "
		  "O_DIRECT)" },
	};
	return path[!!sync_writes][!!direct_refused];
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ingest_create(struct store *s, const struct ingest_tree *t, const struct ingest_opts *o,
		  struct ingest_result *out, struct seed_err *err)
{
	struct job j;
	struct hash_ctx *h = NULL;
	struct store_release rel;
	int rc, wrote_main = 0, wrote_v1 = 0;
	double t0 = now_s();

	memset(out, 0, sizeof(*out));
	memset(&j, 0, sizeof(j));
	memset(&rel, 0, sizeof(rel));
	pthread_mutex_init(&j.err_lock, NULL);
	seed_err_clear(&j.err);

	rc = ingest_make_id(o->tenant, o->name, o->version, &out->id, err);
	if (rc < 0)
		goto out;
	if (store_release_exists(s, out->id)) {
		rc = seed_err_set(
			err, -EEXIST,
			"release %s already exists; pick another --version or remove it first",
			out->id);
		goto out;
	}
	if (o->also_v1 && o->kind != METAINFO_HYBRID) {
		rc = seed_err_set(err, -EINVAL, "--also-v1 applies to hybrid torrents only");
		goto out;
	}
	j.piece_length = o->piece_length ? o->piece_length : metainfo_pick_piece_length(t->total);
	rc = metainfo_check_piece_length(j.piece_length, err);
	if (rc < 0)
		goto out;
	j.chunk = j.piece_length > CHUNK_MIN ? j.piece_length : CHUNK_MIN;
	j.n_slots = (unsigned)(SLOT_BYTES_MAX / j.chunk);
	j.n_slots = j.n_slots > SLOTS_MAX   ? SLOTS_MAX
		    : j.n_slots < SLOTS_MIN ? SLOTS_MIN
					    : j.n_slots;
	j.s = s;
	j.o = o;
	j.want_v1 = o->kind != METAINFO_V2;
	uint32_t pk, pm;
	store_parity(s, &pk, &pm);
	rc = parity_init(&j.par, pk, pm, err);
	if (rc < 0)
		goto out;
	rc = plan(&j, t, err);
	if (rc < 0)
		goto out;

	unsigned threads = o->threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (threads > 256)
		threads = 256;
	if (threads > j.n_units && j.n_units > 0)
		threads = (unsigned)j.n_units;
	out->threads = threads;
	rc = run_workers(&j, threads, err);
	/* every object durable and in place before anything names it */
	struct seed_err fe;
	seed_err_clear(&fe);
	int frc = store_obj_flush(s, &fe);
	if (rc == 0 && frc < 0) {
		*err = fe;
		rc = frc;
	}
	if (rc < 0)
		goto out;
	out->write_path = write_path(atomic_load(&j.sync_writes), atomic_load(&j.direct_refused));
	/* A file that changed after its last chunk was read would publish a
	 * release that no longer matches its source: check them all once more. */
	for (size_t i = 0; i < t->n; i++) {
		int fd = open(t->e[i].src, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			rc = seed_err_set(err, -errno,
					  "%s: vanished while the release was created: %s",
					  t->e[i].src, strerror(errno));
			goto out;
		}
		rc = check_unchanged(fd, &t->e[i], err);
		close(fd);
		if (rc < 0)
			goto out;
	}
	/* Files of length 0 have no units; nothing to commit for them. */
	for (size_t i = 0; i < j.n_files; i++) {
		if (t->e[i].length == 0)
			continue;
		if (j.f[i].created) {
			out->objects_new++;
			out->bytes_new += t->e[i].length;
		} else {
			out->objects_shared++;
		}
	}

	rc = hash_ctx_create(o->impl, &h, err);
	if (rc < 0)
		goto out;
	rc = build_torrent(h, t, o, &j, o->kind, &out->main, err);
	if (rc == 0 && o->also_v1)
		rc = build_torrent(h, t, o, &j, METAINFO_V1, &out->v1, err);
	if (rc < 0)
		goto out;
	out->magnet = metainfo_magnet(&out->main, t->name, o->trackers, o->n_trackers, o->web_seeds,
				      o->n_web_seeds);
	if (o->torrent_out)
		out->torrent_path = strdup(o->torrent_out);
	else if (asprintf(&out->torrent_path, "%s/torrents/%s.torrent", store_dir(s), out->id) < 0)
		out->torrent_path = NULL;
	if (!out->magnet || !out->torrent_path ||
	    (o->also_v1 && !(out->torrent_v1_path = v1_path_of(out->torrent_path)))) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = fsu_write_atomic(out->torrent_path, out->main.torrent, out->main.torrent_len, 0644,
			      err);
	if (rc < 0)
		goto out;
	wrote_main = 1;
	if (o->also_v1) {
		rc = fsu_write_atomic(out->torrent_v1_path, out->v1.torrent, out->v1.torrent_len,
				      0644, err);
		if (rc < 0)
			goto out;
		wrote_v1 = 1;
	}
	rc = fill_manifest(&rel, t, o, &j, out);
	if (rc < 0) {
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* The commit point: the release exists from here on. */
	rc = store_release_write(s, &rel, err);
	if (rc < 0)
		goto out;
	out->piece_length = j.piece_length;
	out->bytes = t->total;
	out->seconds = now_s() - t0;
	if (o->progress)
		o->progress(o->progress_arg, t->total, t->total);
out:
	if (rc < 0) {
		for (size_t i = 0; j.f && i < j.n_files; i++)
			if (j.f[i].created) {
				struct seed_err ignore;
				seed_err_clear(&ignore);
				store_obj_remove(s, j.f[i].root, &ignore);
			}
		if (wrote_main)
			unlink(out->torrent_path);
		if (wrote_v1)
			unlink(out->torrent_v1_path);
		ingest_result_free(out);
	}
	free(rel.files);
	free_files(&j);
	hash_ctx_destroy(h);
	pthread_mutex_destroy(&j.err_lock);
	return rc;
}

void ingest_result_free(struct ingest_result *r)
{
	MEM_FREE_ALL(r->id, r->main.torrent, r->v1.torrent, r->magnet, r->torrent_path,
		     r->torrent_v1_path);
	memset(r, 0, sizeof(*r));
}
