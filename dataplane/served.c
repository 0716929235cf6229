/*
 * served: see served.h. Loading is the slow path (start-up, catalog
 * switch); lookups are the hot path and only probe open-addressed tables.
 */
#include "served.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "bencode.h"
#include "catalog.h"
#include "dpstats.h"
#include "fnv.h"
#include "hash.h"
#include "hex.h"
#include "log.h"
#include "mem.h"
#include "metainfo.h"
#include "posidx.h"
#include "scrub.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("dataplane.served");

/* Small objects' block tables, packed (keep_table). */
#define TABLE_SLAB   (64u << 10)
#define TABLE_PACKED 256u
struct table_slab {
	struct table_slab *next;
	size_t used;
	uint8_t mem[];
};

/* The header in front of every info dict read (entry.info points past
 * it): its record once evicted, while it waits for the workers. */
struct info_retired {
	struct info_retired *next;
	uint64_t ep;
};

static struct info_retired *info_hdr(uint8_t *info)
{
	return (struct info_retired *)(void *)info - 1;
}

struct entry {
	struct proto_release r;
	struct proto_file *files;
	char *path_mem;	   /* every file's path, NUL-terminated, one after the other */
	uint32_t *by_path; /* r.by_path */
	uint8_t *layers;   /* every file's piece layer, one after the other */
	char *id, *name;
	/* The info dict is not part of the view (about 200 bytes a file of a
	 * hybrid torrent, asked for by magnet-link peers only): the loader
	 * reads it from the manifest when a worker asks (served_release_info)
	 * and keeps it while the budget allows (info_budget). info_lock
	 * guards info against entry_free_memory; workers read it lock-free. */
	uint8_t *_Atomic info;
	_Atomic int info_queued;    /* asked for, not read yet */
	_Atomic uint64_t info_used; /* CLOCK_MONOTONIC_COARSE ms it was last handed out */
	uint8_t v1_view;	    /* the view of the release's --also-v1 torrent */
	int32_t stats_slot;	    /* the release's counter slot, -1 none */
	int in_store;		    /* seen by the latest refresh */
	/* Removed from the store: served_release no longer hands it out from
	 * the generation dead_gen on, and its memory goes once every worker
	 * entered that generation (served_reclaim); the slot stays, so
	 * handles are never reused. */
	_Atomic int dead;
	uint64_t dead_gen;
	int freed;
	/* the seeding policy's view of its swarm (swarm.h), made by the first
	 * worker whose peer needs it; kept until served_free (a removed
	 * release's too: a worker may still have a peer joined to it) */
	struct swarm_view *_Atomic swarm;
};

/* Resets a slot for a new view (a failed load's, or the store's end). */
static void entry_clear(struct entry *e)
{
	MEM_FREE_ALL(e->files, e->path_mem, e->by_path, e->layers, e->id, e->name);
	free(atomic_load(&e->swarm));
	uint8_t *info = atomic_load(&e->info);
	if (info)
		free(info_hdr(info));
	memset(e, 0, sizeof(*e));
	e->stats_slot = -1;
}

/* Views and objects live in fixed chunks, so a pointer handed to a worker
 * stays valid while the writer appends (no realloc under readers). */
#define CHUNK	   1024u
#define MAX_CHUNKS 4096u

/* One published generation of lookup tables. Immutable once published. */
struct served_index {
	uint64_t gen;
	size_t tsize;
	/* open addressing: slot holds view index + 1, 0 = empty */
	uint32_t *by_v1, *by_v2, *by_id;
	/* MSE: SHA1("req2" ih) of both info-hashes, so twice the keys */
	uint32_t *by_req2;
	size_t r2size;
	size_t n_live;		    /* views in this generation */
	struct catalog *cat;	    /* owned; NULL = serve every release */
	struct served_index *older; /* retired, waiting for the workers */
};

/* Objects a worker asks the loader thread for (single producer: the
 * worker; single consumer: the loader). */
#define LOADQ	   4096u
#define LOADQ_INFO (1u << 31) /* an info dict, of view handle & ~LOADQ_INFO */
struct loadq {
	_Atomic uint32_t head, tail;
	uint32_t h[LOADQ];
} __attribute__((aligned(64)));

struct served {
	char *dir;
	int dirfd; /* the store's folder, for opening objects (O_PATH) */
	/* the file system refused O_DIRECT once: open objects buffered */
	_Atomic int no_direct;
	struct entry *e[MAX_CHUNKS];
	size_t n; /* views, writer's count */
	_Atomic size_t n_pub;
	struct served_object *obj[MAX_CHUNKS];
	size_t n_obj;
	_Atomic size_t n_obj_pub;
	/* objects by root, so loading a release of many files is linear, not
	 * quadratic; writer only */
	struct posidx obj_idx;
	struct served_index *_Atomic cur;
	struct served_index *retired; /* newest first */
	uint64_t gen;
	/* per worker: the generation it last entered (epoch reclamation) */
	_Atomic uint64_t seen[SERVED_MAX_WORKERS];
	unsigned n_workers;
	struct dpstats *stats;
	/* tables loaded on first use (served_object_ready) */
	struct store *lst; /* STORE_SCAN: the loader's (or the caller's) */
	struct loadq *lq;  /* per worker */
	int *wake;	   /* per worker: written after loads, -1 none */
	int lfd;	   /* the loader sleeps on it */
	int loader_on;
	_Atomic int loader_stop;
	pthread_t loader;
	/* info dicts read on demand (entry.info): their bytes against the
	 * budget, and the ones evicted while a worker may still hold them,
	 * freed two epochs later (an epoch ends when every worker has begun a
	 * loop pass since it began: pass[], ep_snap[]) */
	pthread_mutex_t info_lock;
	size_t info_budget, info_bytes;
	struct info_retired *info_retired;
	uint64_t ep, *ep_snap;
	_Atomic uint64_t pass[SERVED_MAX_WORKERS];
	struct hash_ctx *lhash;	   /* loader's, for checking info dicts */
	pthread_mutex_t slab_lock; /* keep_table: the loader, or a tool's thread */
	struct table_slab *slabs;
	time_t info_warned;
	size_t n_dead, views_freed;	 /* views of removed releases: waiting, freed */
	size_t prefetched;		 /* loader: objects up to here were visited */
	size_t n_prefetched, n_unusable; /* loader: for its log line */
	time_t res_warned;		 /* loader: last resource-error line */
};

static struct entry *ent(const struct served *s, size_t i)
{
	return &s->e[i / CHUNK][i % CHUNK];
}

/* Frees what a view holds, keeping its counter slot (counters are kept
 * for a run) and its place. */
static void entry_free_memory(struct served *s, struct entry *e)
{
	pthread_mutex_lock(&s->info_lock);
	uint8_t *info = atomic_exchange(&e->info, NULL);
	if (info)
		s->info_bytes -= e->r.info_len;
	/* no worker uses the view any more, so neither its info dict */
	if (info)
		free(info_hdr(info));
	MEM_FREE_ALL(e->files, e->path_mem, e->by_path, e->layers, e->id, e->name);
	e->files = NULL;
	e->path_mem = NULL;
	e->by_path = NULL;
	e->layers = NULL;
	e->id = e->name = NULL;
	memset(&e->r, 0, sizeof(e->r));
	pthread_mutex_unlock(&s->info_lock);
}

static struct served_object *objp(const struct served *s, size_t i)
{
	return &s->obj[i / CHUNK][i % CHUNK];
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static const struct served_index *cur_index(const struct served *s)
{
	return atomic_load_explicit(&((struct served *)s)->cur, memory_order_acquire);
}

/* The view whose v1 (or first 20 bytes of v2) info-hash is ih, in table. */
static const struct proto_release *by_ih(const struct served *s, const uint32_t *table,
					 size_t tsize, const uint8_t ih[20], bool v2)
{
	for (size_t i = load64(ih) & (tsize - 1); table[i]; i = (i + 1) & (tsize - 1)) {
		const struct proto_release *r = &ent(s, table[i] - 1)->r;
		if (!memcmp(v2 ? r->ih_v2 : r->ih_v1, ih, 20))
			return r;
	}
	return NULL;
}

const struct proto_release *served_by_v1(const struct served *s, const uint8_t ih[20])
{
	const struct served_index *x = cur_index(s);
	return by_ih(s, x->by_v1, x->tsize, ih, false);
}

const struct proto_release *served_by_v2_20(const struct served *s, const uint8_t ih[20])
{
	const struct served_index *x = cur_index(s);
	return by_ih(s, x->by_v2, x->tsize, ih, true);
}

const struct proto_release *served_by_mse_req2(const struct served *s, const uint8_t h[20])
{
	const struct served_index *x = cur_index(s);
	for (size_t i = load64(h) & (x->r2size - 1); x->by_req2[i]; i = (i + 1) & (x->r2size - 1)) {
		const struct proto_release *r = &ent(s, x->by_req2[i] - 1)->r;
		if ((r->has_v1 && !memcmp(r->mse_req2_v1, h, 20)) ||
		    (r->has_v2 && !memcmp(r->mse_req2_v2, h, 20)))
			return r;
	}
	return NULL;
}

static const struct proto_release *id_in(const struct served *s, const struct served_index *x,
					 const char *id, size_t len)
{
	for (size_t i = fnv1a64(id, len) & (x->tsize - 1); x->by_id[i];
	     i = (i + 1) & (x->tsize - 1)) {
		const struct proto_release *r = &ent(s, x->by_id[i] - 1)->r;
		if (strlen(r->id) == len && !memcmp(r->id, id, len))
			return r;
	}
	return NULL;
}

const struct proto_release *served_by_id(const struct served *s, const char *id, size_t len)
{
	return id_in(s, cur_index(s), id, len);
}

static const struct proto_release *cb_v1(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	return served_by_v1(ctx, ih);
}

static const struct proto_release *cb_v2(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	return served_by_v2_20(ctx, ih);
}

static const struct proto_release *cb_id(void *ctx, void *peer, const char *id, size_t len)
{
	(void)peer;
	return served_by_id(ctx, id, len);
}

static const struct proto_release *cb_mse(void *ctx, void *peer, const uint8_t h[20])
{
	(void)peer;
	return served_by_mse_req2(ctx, h);
}

static const uint8_t *cb_info(void *ctx, void *peer, const struct proto_release *r)
{
	(void)peer;
	return served_release_info(ctx, 0, r->handle);
}

struct proto_catalog served_catalog(const struct served *s)
{
	return (struct proto_catalog){ (void *)s, cb_v1, cb_v2, cb_id, cb_mse, NULL, cb_info };
}

const struct catalog *served_current_catalog(const struct served *s)
{
	return cur_index(s)->cat;
}

uint64_t served_generation(const struct served *s)
{
	return cur_index(s)->gen;
}

void served_enter(struct served *s, unsigned worker)
{
	if (worker < SERVED_MAX_WORKERS) {
		atomic_store_explicit(&s->seen[worker], cur_index(s)->gen, memory_order_release);
		/* single writer: a plain increment, published for the loader */
		atomic_store_explicit(&s->pass[worker],
				      atomic_load_explicit(&s->pass[worker], memory_order_relaxed) +
					      1,
				      memory_order_release);
	}
}

size_t served_count(const struct served *s)
{
	return atomic_load_explicit(&((struct served *)s)->n_pub, memory_order_acquire);
}

size_t served_live_count(const struct served *s)
{
	return cur_index(s)->n_live;
}

const struct proto_release *served_release(const struct served *s, size_t i)
{
	if (i >= served_count(s))
		return NULL;
	const struct entry *e = ent(s, i);
	return atomic_load_explicit(&((struct entry *)e)->dead, memory_order_acquire) ? NULL
										      : &e->r;
}

struct swarm_view *served_swarm_view(struct served *s, uint32_t handle)
{
	if (handle >= served_count(s))
		return NULL;
	struct entry *e = ent(s, handle);
	struct swarm_view *v = atomic_load_explicit(&e->swarm, memory_order_acquire);
	if (v)
		return v;
	/* the piece count and length are final once the view is published */
	size_t sz = swarm_view_size(e->r.n_pieces);
	if (!sz || !(v = calloc(1, sz)))
		return NULL;
	swarm_view_init(v, e->r.n_pieces, e->r.piece_length);
	struct swarm_view *none = NULL;
	if (!atomic_compare_exchange_strong_explicit(&e->swarm, &none, v, memory_order_acq_rel,
						     memory_order_acquire)) {
		free(v); /* another worker made it first */
		v = none;
	}
	return v;
}

const struct swarm_view *served_swarm_peek(const struct served *s, uint32_t handle)
{
	if (handle >= served_count(s))
		return NULL;
	return atomic_load_explicit(&ent(s, handle)->swarm, memory_order_acquire);
}

size_t served_views_freed(const struct served *s)
{
	return s->views_freed;
}

int32_t served_stats_slot(const struct served *s, uint32_t handle)
{
	return handle < served_count(s) ? ent(s, handle)->stats_slot : -1;
}

int served_open_object(const struct served *s, uint32_t handle)
{
	if (handle >= atomic_load_explicit(&((struct served *)s)->n_obj_pub, memory_order_acquire))
		return -EINVAL;
	/* objects/xx/<64 hex>.obj, as store_obj_path names it */
	char rel[8 + 3 + 64 + 5 + 1];
	const uint8_t *root = objp(s, handle)->root;
	memcpy(rel, "objects/", 8);
	hex_encode(root, 1, rel + 8);
	rel[10] = '/';
	hex_encode(root, 32, rel + 11);
	memcpy(rel + 75, ".obj", 5);
	struct served *m = (struct served *)s;
	if (!atomic_load_explicit(&m->no_direct, memory_order_relaxed)) {
		int fd = openat(s->dirfd, rel, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (fd >= 0 || errno != EINVAL)
			return fd >= 0 ? fd : -errno;
		/* tmpfs before 6.6 and some others: buffered reads still work */
		atomic_store_explicit(&m->no_direct, 1, memory_order_relaxed);
	}
	int fd = openat(s->dirfd, rel, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

const struct served_object *served_object(const struct served *s, uint32_t handle)
{
	return handle < served_object_count(s) ? objp(s, handle) : NULL;
}

size_t served_object_count(const struct served *s)
{
	return atomic_load_explicit(&((struct served *)s)->n_obj_pub, memory_order_acquire);
}

static uint64_t obj_hash_at(const void *arr, size_t i)
{
	return load64(objp(arr, i)->root);
}

/*
 * Keeps so's block table t (len bytes, malloc'd; taken): one of a small
 * object (most of a store of many files: 48 bytes for a file of one
 * block) is packed into a slab, where malloc would spend 64 bytes on it.
 * Packed tables are never freed on their own: an object lives as long as
 * the data plane. 0, or -ENOMEM with t freed.
 */
static int keep_table(struct served *s, struct served_object *so, uint8_t *t, size_t len)
{
	if (len > TABLE_PACKED) {
		so->block_xxh = t;
		return 0;
	}
	pthread_mutex_lock(&s->slab_lock);
	struct table_slab *sl = s->slabs;
	if (!sl || sl->used + len > TABLE_SLAB) {
		sl = malloc(sizeof(*sl) + TABLE_SLAB);
		if (!sl) {
			pthread_mutex_unlock(&s->slab_lock);
			free(t);
			return -ENOMEM;
		}
		sl->used = 0;
		sl->next = s->slabs;
		s->slabs = sl;
	}
	so->block_xxh = sl->mem + sl->used;
	sl->used += len;
	memcpy(so->block_xxh, t, len);
	pthread_mutex_unlock(&s->slab_lock);
	free(t);
	return 0;
}

/* An object whose two header/table copies are both bad: its table rebuilt
 * from the data (scrub.h), so that the file is still served. 0 with so
 * filled, or -errno with why in err (the file is then unusable). */
static int rebuild_in_memory(struct served *s, struct store *st, const char *path,
			     struct served_object *so, struct seed_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return seed_err_set(err, -errno, "%s: %s", path, strerror(errno));
	struct seed_err re;
	seed_err_clear(&re);
	struct store_geom g;
	uint8_t *t = NULL;
	int rc = scrub_rebuild_table(st, fd, so->length, so->root, &g, &t, &re);
	close(fd);
	if (rc == 0)
		rc = keep_table(s, so, t, g.table_len);
	if (rc < 0) {
		seed_err_prefix(&re, "%s: ", err->msg);
		*err = re;
		return rc;
	}
	so->k = (uint8_t)g.k;
	so->m = (uint8_t)g.m;
	so->version = (uint8_t)g.version;
	return 0;
}

/*
 * Reads and checks object so's header and block table (either copy; both
 * bad: rebuilt from the data when it matches its pieces root) and
 * publishes them, or marks it unusable when it is damaged beyond that.
 * Returns -errno, leaving it unloaded, only for a resource error (memory,
 * descriptors): it is tried again at its next read.
 */
static int load_object(struct served *s, struct served_object *so)
{
	if (atomic_load_explicit(&so->state, memory_order_acquire) == SERVED_OBJ_LOADED)
		return 0;
	struct seed_err oe;
	seed_err_clear(&oe);
	if (!s->lst) {
		/* no lock: a writer may change the store under it; a copy it
		 * finds bad is skipped for the other, as with rot */
		int rc = store_open(s->dir, STORE_SCAN, &s->lst, &oe);
		if (rc < 0) {
			log_warn(&lm, "loading object tables: %s", oe.msg);
			return rc;
		}
	}
	struct store *st = s->lst;
	char *path = store_obj_path(st, so->root);
	if (!path)
		return -ENOMEM;
	struct store_obj o;
	int rc = store_obj_open(st, so->root, &o, &oe);
	if (rc == 0 && o.g.length != so->length) {
		rc = seed_err_set(&oe, -EBADMSG,
				  "%s: object holds %llu bytes, the manifest says %llu", path,
				  (unsigned long long)o.g.length, (unsigned long long)so->length);
		store_obj_close(&o);
	}
	if (rc == -EBADMSG && o.bad_copies == 3 && rebuild_in_memory(s, st, path, so, &oe) == 0) {
		log_warn(&lm,
			 "%s: both copies of its header and block table are bad; the table was "
			 "rebuilt in memory from the data, which matches its pieces root, and "
			 "the file is served (seedctl store scrub --now writes it back)",
			 path);
	} else if (rc == -EBADMSG || rc == -EPROTO || rc == -ENOENT || rc == -EIO) {
		/* The object's own damage: its blocks are refused, every other
		 * file of its releases is served. */
		log_warn(&lm, "%s; its blocks are refused, the other files served", oe.msg);
		so->unusable = 1;
	} else if (rc < 0) {
		/* at most one line a second: a read retries every tick */
		time_t now = time(NULL);
		if (now != s->res_warned) {
			s->res_warned = now;
			log_warn(&lm, "%s; tried again at its next read", oe.msg);
		}
		free(path);
		return rc;
	} else {
		if (keep_table(s, so, o.block_xxh, o.g.table_len) < 0) {
			o.block_xxh = NULL;
			store_obj_close(&o);
			free(path);
			return -ENOMEM;
		}
		o.block_xxh = NULL;
		so->k = (uint8_t)o.g.k;
		so->m = (uint8_t)o.g.m;
		so->version = (uint8_t)o.g.version;
		if (o.bad_copies)
			log_warn(&lm,
				 "%s: copy %d of its header and block table is bad (%s); serving "
				 "through copy %d",
				 path, 3 - o.copy, o.bad_why[2 - o.copy], o.copy);
		/* not kept open: workers open it when a read needs it (ofd.h) */
		store_obj_close(&o);
	}
	free(path);
	/* the fields above before the state, for workers that read it */
	atomic_store_explicit(&so->state, SERVED_OBJ_LOADED, memory_order_release);
	return 0;
}

/* ---- info dicts on demand ---- */

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Ends the epoch when every worker has begun a loop pass since it began. */
static void epoch_advance(struct served *s)
{
	for (unsigned w = 0; w < s->n_workers; w++)
		if (atomic_load_explicit(&s->pass[w], memory_order_acquire) == s->ep_snap[w])
			return;
	s->ep++;
	for (unsigned w = 0; w < s->n_workers; w++)
		s->ep_snap[w] = atomic_load_explicit(&s->pass[w], memory_order_acquire);
}

/* Frees the evicted info dicts no worker can hold any more: a worker holds
 * one only within an engine call, so once every worker has begun a pass
 * after the eviction (an epoch that began after it ended). */
static void info_reap(struct served *s)
{
	epoch_advance(s);
	struct info_retired **pp = &s->info_retired;
	while (*pp) {
		struct info_retired *r = *pp;
		if (s->ep >= r->ep + 2) {
			*pp = r->next;
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

/* Makes room for need more bytes of info dicts by evicting the least
 * recently handed out ones other than keep's; info_lock held. */
static void info_evict(struct served *s, size_t need, const struct entry *keep)
{
	size_t n = atomic_load_explicit(&s->n_pub, memory_order_acquire);
	while (s->info_bytes && s->info_bytes + need > s->info_budget) {
		struct entry *lru = NULL;
		uint64_t oldest = UINT64_MAX;
		for (size_t i = 0; i < n; i++) {
			struct entry *e = ent(s, i);
			uint64_t u = atomic_load_explicit(&e->info_used, memory_order_relaxed);
			if (e != keep && atomic_load_explicit(&e->info, memory_order_relaxed) &&
			    u < oldest) {
				oldest = u;
				lru = e;
			}
		}
		if (!lru)
			return;
		struct info_retired *r = info_hdr(atomic_exchange(&lru->info, NULL));
		s->info_bytes -= lru->r.info_len;
		r->ep = s->ep;
		r->next = s->info_retired;
		s->info_retired = r;
	}
}

/* Tells the loader's log what went wrong at most once a second. */
static void info_warn(struct served *s, const char *id, const char *why)
{
	time_t now = time(NULL);
	if (now != s->info_warned) {
		s->info_warned = now;
		log_warn(&lm, "release %s: reading its info dict for a peer: %s", id, why);
	}
}

/*
 * Reads view e's info dict from its release's manifest, checks it hashes
 * to the view's info-hash (a manifest that changed under the view is never
 * half-served) and publishes it. Loader thread (or the only thread, without
 * one). Failures leave it unread: a later request asks again.
 */
static void load_info(struct served *s, struct entry *e)
{
	char id[STORE_MAX_ID + 1];
	struct proto_release want; /* what the view says, copied under the lock */
	struct seed_err le;
	seed_err_clear(&le);
	pthread_mutex_lock(&s->info_lock);
	int gone = !e->id || atomic_load_explicit(&e->info, memory_order_relaxed);
	if (!gone) {
		snprintf(id, sizeof(id), "%s", e->id);
		want = e->r;
	}
	pthread_mutex_unlock(&s->info_lock);
	if (gone)
		goto out;
	struct store_release *rel = NULL;
	struct bencode_doc *doc = NULL;
	uint8_t *copy = NULL;
	int rc = s->lst ? 0 : store_open(s->dir, STORE_SCAN, &s->lst, &le);
	if (rc == 0)
		rc = store_release_load(s->lst, id, &rel, &le);
	if (rc < 0) {
		info_warn(s, id, le.msg);
		goto out;
	}
	const uint8_t *t = e->v1_view ? rel->torrent_v1 : rel->torrent;
	size_t tlen = e->v1_view ? rel->torrent_v1_len : rel->torrent_len;
	const struct bencode_node *info = NULL;
	if (t && bencode_parse(t, t + tlen, NULL, &doc, &le) == 0)
		info = bencode_dict_get(bencode_root(doc), "info");
	uint8_t d1[20], d2[32];
	const struct proto_release *r = &want;
	if (!info || info->raw_len != r->info_len ||
	    (!s->lhash && hash_ctx_create(HASH_IMPL_OPENSSL, &s->lhash, &le) < 0) ||
	    metainfo_info_hash(s->lhash, info->raw, info->raw_len, d1, d2) < 0 ||
	    (r->has_v1 && memcmp(d1, r->ih_v1, 20)) || (r->has_v2 && memcmp(d2, r->ih_v2, 32))) {
		info_warn(s, id,
			  "the manifest's torrent is not the one served (changed or damaged)");
		goto done;
	}
	struct info_retired *hdr = malloc(sizeof(*hdr) + info->raw_len);
	if (!hdr) {
		info_warn(s, id, "out of memory");
		goto done;
	}
	copy = (uint8_t *)(hdr + 1);
	memcpy(copy, info->raw, info->raw_len);
	pthread_mutex_lock(&s->info_lock);
	if (e->id && !atomic_load_explicit(&e->info, memory_order_relaxed)) {
		info_evict(s, r->info_len, e);
		atomic_store_explicit(&e->info_used, mono_ms(), memory_order_relaxed);
		atomic_store_explicit(&e->info, copy, memory_order_release);
		s->info_bytes += r->info_len;
		copy = NULL;
	}
	pthread_mutex_unlock(&s->info_lock);
	if (copy)
		free(info_hdr(copy));
done:
	bencode_free(doc);
	store_release_free(rel);
out:
	atomic_store_explicit(&e->info_queued, 0, memory_order_release);
}

/* Loads what the workers queued and wakes them when any loaded; 1 then. */
static int drain_queues(struct served *s)
{
	int any = 0;
	for (unsigned w = 0; w < s->n_workers; w++) {
		struct loadq *q = &s->lq[w];
		uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
		uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
		for (; h != t; h++) {
			uint32_t x = q->h[h % LOADQ];
			if (x & LOADQ_INFO) {
				load_info(s, ent(s, x & ~LOADQ_INFO));
				any = 1;
				continue;
			}
			struct served_object *so = objp(s, x);
			if (load_object(s, so) == 0)
				any = 1;
			else /* tried again at the worker's next tick, no sooner */
				atomic_store_explicit(&so->state, SERVED_OBJ_UNLOADED,
						      memory_order_release);
		}
		atomic_store_explicit(&q->head, h, memory_order_release);
	}
	if (any)
		for (unsigned w = 0; w < s->n_workers; w++)
			if (s->wake[w] >= 0) {
				uint64_t one = 1;
				ssize_t rc = write(s->wake[w], &one, sizeof(one));
				(void)rc; /* a full counter is readable anyway */
			}
	return any;
}

/* Loads up to n objects no worker asked for yet, in handle order; returns
 * how many it looked at (0: it is done with every object so far). */
static size_t prefetch(struct served *s, size_t n)
{
	size_t have = served_object_count(s), k = 0;
	for (; k < n && s->prefetched < have; k++, s->prefetched++) {
		struct served_object *so = objp(s, s->prefetched);
		int want = SERVED_OBJ_UNLOADED;
		/* one a worker queued is loaded from its queue */
		if (atomic_compare_exchange_strong_explicit(&so->state, &want, SERVED_OBJ_QUEUED,
							    memory_order_acq_rel,
							    memory_order_acquire) &&
		    load_object(s, so) < 0)
			atomic_store_explicit(&so->state, SERVED_OBJ_UNLOADED,
					      memory_order_release);
		s->n_prefetched++;
		if (so->unusable)
			s->n_unusable++;
	}
	return k;
}

/*
 * The loader thread: loads the tables workers ask for first (they wait for
 * them), and in between every other object's, so that the store is read
 * once soon after start as it was when start-up loaded everything, without
 * holding start-up up. Sleeps on lfd once every object is loaded; a
 * refresh that adds objects (served_refresh) wakes it.
 */
static void *loader_main(void *arg)
{
	struct served *s = arg;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t reported = 0;
	for (;;) {
		if (atomic_load_explicit(&s->loader_stop, memory_order_acquire))
			break;
		drain_queues(s);
		/* small batches: a worker's request waits for at most one */
		if (prefetch(s, 8))
			continue;
		if (s->n_prefetched > reported) {
			struct timespec t1;
			clock_gettime(CLOCK_MONOTONIC, &t1);
			log_info(
				&lm,
				"object tables: %zu loaded in %.2f s (%zu unusable); later ones as "
				"releases are added",
				s->n_prefetched,
				(double)(t1.tv_sec - t0.tv_sec) +
					(double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
				s->n_unusable);
			reported = s->n_prefetched;
		}
		pthread_mutex_lock(&s->info_lock);
		info_reap(s);
		int reaping = s->info_retired != NULL;
		pthread_mutex_unlock(&s->info_lock);
		struct pollfd pf = { .fd = s->lfd, .events = POLLIN };
		/* evicted info dicts wait for the workers' next passes */
		if (poll(&pf, 1, reaping ? 50 : -1) < 0 && errno != EINTR)
			break;
		uint64_t v;
		if (read(s->lfd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
			log_warn(&lm, "served: loader eventfd: %s", strerror(errno));
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
	}
	return NULL;
}

int served_start_loader(struct served *s, const int *wake, struct seed_err *err)
{
	if (s->loader_on || !s->n_workers)
		return seed_err_set(err, -EINVAL, "served: loader already running or no workers");
	s->wake = malloc(sizeof(*s->wake) * s->n_workers);
	if (!s->wake)
		return seed_err_set(err, -ENOMEM, "out of memory");
	/* copies: a worker that stops closes its own while the loader may
	 * still write to it */
	for (unsigned i = 0; i < s->n_workers; i++)
		s->wake[i] = wake[i] >= 0 ? fcntl(wake[i], F_DUPFD_CLOEXEC, 0) : -1;
	s->lq = aligned_alloc(64, sizeof(*s->lq) * s->n_workers);
	s->ep_snap = calloc(s->n_workers, sizeof(*s->ep_snap));
	if (!s->lq || !s->ep_snap)
		return seed_err_set(err, -ENOMEM, "out of memory");
	memset(s->lq, 0, sizeof(*s->lq) * s->n_workers);
	if (!s->lst) {
		/* now, while the store is what the refresh just read */
		int rc = store_open(s->dir, STORE_SCAN, &s->lst, err);
		if (rc < 0)
			return rc;
	}
	s->lfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->lfd < 0)
		return seed_err_set(err, -errno, "served: loader eventfd: %s", strerror(errno));
	int rc = pthread_create(&s->loader, NULL, loader_main, s);
	if (rc)
		return seed_err_set(err, -rc, "served: loader thread: %s", strerror(rc));
	pthread_setname_np(s->loader, "seed-dp-tables");
	s->loader_on = 1;
	return 0;
}

static void stop_loader(struct served *s)
{
	if (s->loader_on) {
		atomic_store_explicit(&s->loader_stop, 1, memory_order_release);
		uint64_t one = 1;
		if (write(s->lfd, &one, sizeof(one)) == sizeof(one))
			pthread_join(s->loader, NULL);
		s->loader_on = 0;
	}
	if (s->lfd >= 0)
		close(s->lfd);
	s->lfd = -1;
}

const uint8_t *served_release_info(struct served *s, unsigned worker, uint32_t handle)
{
	if (handle >= served_count(s))
		return NULL;
	struct entry *e = ent(s, handle);
	uint8_t *info = atomic_load_explicit(&e->info, memory_order_acquire);
	if (!info && !s->loader_on) {
		load_info(s, e);
		info = atomic_load_explicit(&e->info, memory_order_acquire);
	}
	if (info) {
		atomic_store_explicit(&e->info_used, mono_ms(), memory_order_relaxed);
		return info;
	}
	int idle = 0;
	if (!atomic_compare_exchange_strong_explicit(&e->info_queued, &idle, 1,
						     memory_order_acq_rel, memory_order_acquire))
		return NULL; /* asked for already */
	struct loadq *q = &s->lq[worker];
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	if (t - atomic_load_explicit(&q->head, memory_order_acquire) == LOADQ) {
		atomic_store_explicit(&e->info_queued, 0, memory_order_release);
		return NULL; /* the loader is behind: asked again at the next poll */
	}
	q->h[t % LOADQ] = handle | LOADQ_INFO;
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	uint64_t one = 1;
	if (write(s->lfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(&lm, "served: waking the table loader: %s", strerror(errno));
	return NULL;
}

int served_object_ready(struct served *s, unsigned worker, uint32_t handle)
{
	struct served_object *so = objp(s, handle);
	int st = atomic_load_explicit(&so->state, memory_order_acquire);
	if (st == SERVED_OBJ_LOADED)
		return 1;
	if (!s->loader_on)
		return load_object(s, so) == 0;
	if (st == SERVED_OBJ_QUEUED)
		return 0;
	int want = SERVED_OBJ_UNLOADED;
	if (!atomic_compare_exchange_strong_explicit(&so->state, &want, SERVED_OBJ_QUEUED,
						     memory_order_acq_rel, memory_order_acquire))
		return want == SERVED_OBJ_LOADED;
	struct loadq *q = &s->lq[worker];
	uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
	if (t - atomic_load_explicit(&q->head, memory_order_acquire) == LOADQ) {
		/* the loader is behind: queue it again at a later read */
		atomic_store_explicit(&so->state, SERVED_OBJ_UNLOADED, memory_order_release);
		return 0;
	}
	q->h[t % LOADQ] = handle;
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	uint64_t one = 1;
	if (write(s->lfd, &one, sizeof(one)) < 0)
		log_warn(&lm, "served: waking the table loader: %s", strerror(errno));
	return 0;
}

const struct served_object *served_object_load(struct served *s, uint32_t handle)
{
	if (handle >= served_object_count(s))
		return NULL;
	struct served_object *so = objp(s, handle);
	if (atomic_load_explicit(&so->state, memory_order_acquire) != SERVED_OBJ_LOADED)
		load_object(s, so);
	return so;
}

/* Finds or adds the object for root, a file of length bytes; returns its
 * handle or -errno. Its table is loaded when a read first needs it. */
static int64_t object_handle(struct served *s, const uint8_t root[32], uint64_t length,
			     struct seed_err *err)
{
	struct posidx *x = &s->obj_idx;
	if (posidx_reserve(x, s->n_obj, s->n_obj + 1, obj_hash_at, s) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t j = posidx_first(x, load64(root)); x->slot[j]; j = posidx_next(x, j))
		if (!memcmp(objp(s, x->slot[j] - 1)->root, root, 32))
			return (int64_t)x->slot[j] - 1;
	if (s->n_obj >= (size_t)CHUNK * MAX_CHUNKS)
		return seed_err_set(err, -ENOSPC, "more than %u store objects", CHUNK * MAX_CHUNKS);
	if (!s->obj[s->n_obj / CHUNK] &&
	    !(s->obj[s->n_obj / CHUNK] = calloc(CHUNK, sizeof(struct served_object))))
		return seed_err_set(err, -ENOMEM, "out of memory");
	struct served_object *so = objp(s, s->n_obj);
	memset(so, 0, sizeof(*so));
	memcpy(so->root, root, 32);
	so->length = length;
	posidx_put(x, load64(root), s->n_obj);
	s->n_obj++;
	/* visible to workers before any view naming it is published */
	atomic_store_explicit(&s->n_obj_pub, s->n_obj, memory_order_release);
	return (int64_t)s->n_obj - 1;
}

/* qsort_r: file indexes by path, byte order (the HTTP engine's search) */
static int by_path_cmp(const void *a, const void *b, void *files)
{
	const struct proto_file *f = files;
	return strcmp(f[*(const uint32_t *)a].path, f[*(const uint32_t *)b].path);
}

/* The layer of file root in a torrent's "piece layers" when it is one of n
 * pieces (BEP 52: files of one piece have none), else NULL. */
static const struct bencode_node *layer_of(const struct bencode_node *layers,
					   const struct store_release_file *rf, uint64_t n,
					   uint64_t piece_length)
{
	if (!rf->has_root || rf->length <= piece_length)
		return NULL;
	const struct bencode_node *l = bencode_dict_getn(layers, rf->root, 32);
	return l && l->type == BENCODE_STR && l->u.s.len == n * 32 ? l : NULL;
}

/* v1_view: the view of the --also-v1 torrent, whose v1 info-hash is
 * computed here from its info dict (through *h, made on first use). */
static int add_view(struct served *s, const struct store_release *rel, const uint8_t *torrent,
		    size_t torrent_len, int v1_view, struct hash_ctx **hc, struct seed_err *err)
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
	if (s->n >= (size_t)CHUNK * MAX_CHUNKS ||
	    (!s->e[s->n / CHUNK] && !(s->e[s->n / CHUNK] = calloc(CHUNK, sizeof(struct entry))))) {
		bencode_free(doc);
		return seed_err_set(err, -ENOMEM, "release %s: no room for another torrent view",
				    rel->id);
	}
	/* The entry is not published (n_pub) until the whole release is in:
	 * a failure leaves it to be overwritten by the next attempt. */
	struct entry *e = ent(s, s->n);
	entry_clear(e);
	s->n++;
	size_t nf = rel->n_files, path_bytes = 0, layer_bytes = 0;
	for (size_t i = 0; i < nf; i++) {
		const struct store_release_file *rf = &rel->files[i];
		path_bytes += strlen(rf->path) + 1;
		uint64_t np = metainfo_piece_count(rf->length, rel->piece_length);
		if (layer_of(layers, rf, np, rel->piece_length))
			layer_bytes += np * 32;
	}
	/* one block each for the paths and the layers and no copy of the
	 * roots (a file's is its object's) nor of the info dict: a release may
	 * have hundreds of thousands of files */
	e->files = calloc(nf, sizeof(*e->files));
	e->path_mem = malloc(path_bytes ? path_bytes : 1);
	e->layers = malloc(layer_bytes ? layer_bytes : 1);
	e->id = strdup(rel->id);
	e->name = strdup(rel->torrent_name);
	e->v1_view = (uint8_t)v1_view;
	if (!e->files || !e->path_mem || !e->layers || !e->id || !e->name) {
		bencode_free(doc);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	if (v1_view) {
		int hrc = *hc ? 0 : hash_ctx_create(HASH_IMPL_OPENSSL, hc, err);
		if (hrc == 0)
			hrc = metainfo_info_hash(*hc, info->raw, info->raw_len, e->r.ih_v1, NULL);
		if (hrc < 0) {
			bencode_free(doc);
			return seed_err_set(err, hrc, "release %s: hashing its v1 info dict",
					    rel->id);
		}
		e->r.has_v1 = 1;
	}
	size_t info_len = info->raw_len;
	uint64_t piece = 0;
	char *pm = e->path_mem;
	uint8_t *lm_at = e->layers;
	for (size_t i = 0; i < nf; i++) {
		const struct store_release_file *rf = &rel->files[i];
		struct proto_file *pf = &e->files[i];
		size_t plen = strlen(rf->path) + 1;
		memcpy(pm, rf->path, plen);
		pf->path = pm;
		pm += plen;
		pf->length = rf->length;
		pf->first_piece = (uint32_t)piece;
		uint64_t np = metainfo_piece_count(rf->length, rel->piece_length);
		piece += np;
		if (piece > UINT32_MAX) {
			bencode_free(doc);
			return seed_err_set(err, -EFBIG, "release %s: more than 2^32 pieces",
					    rel->id);
		}
		if (!rf->has_root)
			continue;
		const struct bencode_node *l = layer_of(layers, rf, np, rel->piece_length);
		if (l) {
			memcpy(lm_at, l->u.s.p, l->u.s.len);
			pf->layer = lm_at;
			lm_at += l->u.s.len;
		}
		int64_t h = object_handle(s, rf->root, rf->length, err);
		if (h < 0) {
			bencode_free(doc);
			seed_err_prefix(err, "release %s: %s: ", rel->id, rf->path);
			return (int)h;
		}
		pf->object = (uint32_t)h;
		pf->root = objp(s, (size_t)h)->root;
	}
	bencode_free(doc);
	if (!(e->by_path = malloc((nf ? nf : 1) * sizeof(*e->by_path))))
		return seed_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nf; i++)
		e->by_path[i] = (uint32_t)i;
	qsort_r(e->by_path, nf, sizeof(*e->by_path), by_path_cmp, e->files);

	struct proto_release *r = &e->r;
	r->handle = (uint32_t)(s->n - 1);
	r->id = e->id;
	r->torrent_name = e->name;
	r->single_file = rel->single_file;
	r->piece_length = rel->piece_length;
	r->n_pieces = piece;
	r->info = NULL; /* served_release_info */
	r->info_len = info_len;
	r->files = e->files;
	r->n_files = nf;
	r->by_path = e->by_path;
	return 0;
}

static void index_free(struct served_index *x)
{
	if (!x)
		return;
	catalog_free(x->cat);
	MEM_FREE_ALL(x->by_v1, x->by_v2, x->by_id, x->by_req2, x);
}

static void t_put(uint32_t *t, size_t size, uint64_t h, uint32_t val)
{
	size_t i = h & (size - 1);
	while (t[i])
		i = (i + 1) & (size - 1);
	t[i] = val;
}

/* A new index over the views the latest refresh found in the store. */
static int build_index(struct served *s, struct catalog *cat, struct served_index **out,
		       struct seed_err *err)
{
	struct served_index *x = calloc(1, sizeof(*x));
	if (!x)
		return seed_err_set(err, -ENOMEM, "out of memory");
	size_t live = 0;
	for (size_t i = 0; i < s->n; i++)
		live += ent(s, i)->in_store;
	x->tsize = 16;
	while (x->tsize < 2 * live + 2)
		x->tsize *= 2;
	x->by_v1 = calloc(x->tsize, sizeof(uint32_t));
	x->by_v2 = calloc(x->tsize, sizeof(uint32_t));
	x->by_id = calloc(x->tsize, sizeof(uint32_t));
	x->r2size = 2 * x->tsize;
	x->by_req2 = calloc(x->r2size, sizeof(uint32_t));
	if (!x->by_v1 || !x->by_v2 || !x->by_id || !x->by_req2) {
		index_free(x);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct entry *e = ent(s, i);
		if (!e->in_store)
			continue;
		const struct proto_release *r = &e->r;
		if (r->has_v1)
			t_put(x->by_v1, x->tsize, load64(r->ih_v1), (uint32_t)i + 1);
		if (r->has_v2)
			t_put(x->by_v2, x->tsize, load64(r->ih_v2), (uint32_t)i + 1);
		if (r->has_v1)
			t_put(x->by_req2, x->r2size, load64(r->mse_req2_v1), (uint32_t)i + 1);
		if (r->has_v2)
			t_put(x->by_req2, x->r2size, load64(r->mse_req2_v2), (uint32_t)i + 1);
		/* by id: the release's main torrent (the first view of an id) */
		if (!id_in(s, x, r->id, strlen(r->id)))
			t_put(x->by_id, x->tsize, fnv1a64(r->id, strlen(r->id)), (uint32_t)i + 1);
	}
	x->n_live = live;
	x->cat = cat;
	*out = x;
	return 0;
}

/* The view of a release already loaded, when its manifest did not change.
 * Looked up in the published index (a hash probe, so a refresh stays linear
 * in the number of releases); a release that left the store and came back
 * gets fresh views, which costs memory only. */
static struct entry *known(struct served *s, const struct store_release *rel)
{
	const struct served_index *x = atomic_load_explicit(&s->cur, memory_order_relaxed);
	if (!x)
		return NULL;
	const struct proto_release *r = id_in(s, x, rel->id, strlen(rel->id));
	if (!r || r->has_v2 != rel->has_v2 || r->has_v1 != rel->has_v1 ||
	    memcmp(r->ih_v1, rel->ih_v1, 20) || memcmp(r->ih_v2, rel->ih_v2, 32))
		return NULL;
	return ent(s, r->handle);
}

/* *h: a SHA-1 context for the refresh, made on first use (a refresh that
 * finds nothing new makes none). */
static int add_release(struct served *s, const struct store_release *rel, struct hash_ctx **h,
		       struct seed_err *err)
{
	size_t first = s->n;
	int rc = add_view(s, rel, rel->torrent, rel->torrent_len, 0, h, err);
	if (rc == 0 && rel->torrent_v1)
		rc = add_view(s, rel, rel->torrent_v1, rel->torrent_v1_len, 1, h, err);
	if (rc < 0) {
		/* unpublished entries are reused by the next add */
		s->n = first;
		return rc;
	}
	/* info-hashes come from the manifest for the main view and from the v1
	 * torrent's own info dict for the second */
	struct proto_release *m = &ent(s, first)->r;
	m->has_v1 = rel->has_v1;
	m->has_v2 = rel->has_v2;
	memcpy(m->ih_v1, rel->ih_v1, 20);
	memcpy(m->ih_v2, rel->ih_v2, 32);
	if (!*h)
		rc = hash_ctx_create(HASH_IMPL_OPENSSL, h, err);
	/* what an MSE handshake names a release by (mse.h) */
	for (size_t i = first; rc == 0 && i < s->n; i++) {
		struct proto_release *r = &ent(s, i)->r;
		uint8_t msg[24];
		memcpy(msg, "req2", 4);
		memcpy(msg + 4, r->ih_v1, 20);
		rc = hash_sha1(*h, msg, sizeof(msg), r->mse_req2_v1);
		memcpy(msg + 4, r->ih_v2, 20);
		if (rc == 0)
			rc = hash_sha1(*h, msg, sizeof(msg), r->mse_req2_v2);
	}
	if (rc < 0) {
		s->n = first;
		return rc;
	}
	for (size_t i = first; i < s->n; i++) {
		struct entry *e = ent(s, i);
		e->in_store = 1;
		int sl = s->stats ? dpstats_release_slot(s->stats, e->id) : -1;
		e->stats_slot = sl < 0 ? -1 : sl;
	}
	atomic_store_explicit(&s->n_pub, s->n, memory_order_release);
	return 0;
}

int served_create(const char *dir, unsigned n_workers, struct dpstats *stats,
		  struct served **out_served, struct seed_err *err)
{
	*out_served = NULL;
	if (n_workers > SERVED_MAX_WORKERS)
		return seed_err_set(err, -EINVAL, "more than %d workers", SERVED_MAX_WORKERS);
	struct served *s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	s->dirfd = -1;
	s->lfd = -1;
	s->n_workers = n_workers;
	pthread_mutex_init(&s->info_lock, NULL);
	pthread_mutex_init(&s->slab_lock, NULL);
	s->info_budget = SERVED_INFO_BUDGET;
	s->stats = stats;
	s->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		int rc = seed_err_set(err, -errno, "store %s: %s", dir, strerror(errno));
		served_free(s);
		return rc;
	}
	int rc = served_refresh(s, NULL, err);
	if (rc < 0) {
		served_free(s);
		return rc;
	}
	*out_served = s;
	return 0;
}

int served_load(const char *dir, struct served **out_served, struct seed_err *err)
{
	return served_create(dir, 0, NULL, out_served, err);
}

int served_refresh(struct served *s, struct catalog *cat, struct seed_err *err)
{
	struct store *st = NULL;
	char **ids = NULL;
	size_t n = 0;
	int rc = store_open_list(s->dir, &st, &ids, &n, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < s->n; i++)
		ent(s, i)->in_store = 0;
	struct hash_ctx *h = NULL;
	size_t unloadable = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct store_release *rel = NULL;
		struct seed_err le;
		seed_err_clear(&le);
		rc = store_release_load(st, ids[i], &rel, &le);
		if (rc == -ENOENT) { /* removed since the listing */
			rc = 0;
			continue;
		}
		if (rc < 0) {
			/* damage, memory, descriptors: whatever it is, it costs
			 * this release alone (tried again at the next refresh) */
			log_warn(&lm,
				 "release %s: cannot be loaded (%s); not served, every other "
				 "release is",
				 ids[i], le.msg);
			unloadable++;
			rc = 0;
			continue;
		}
		for (int k = 0; k < 2; k++)
			if (rel->manifest.bad & (1u << k))
				log_warn(&lm,
					 "release %s: manifest copy %d of 2 is bad (%s); serving "
					 "from copy %d",
					 rel->id, k + 1, rel->manifest.why[k].msg, 2 - k);
		struct entry *e = known(s, rel);
		if (e) {
			/* unchanged: keep the views (and every pointer to them); a
			 * release's views are added together, main one first */
			size_t k = e->r.handle;
			for (; k < s->n && !strcmp(ent(s, k)->id, rel->id); k++)
				ent(s, k)->in_store = 1;
		} else {
			struct seed_err ae;
			seed_err_clear(&ae);
			if (add_release(s, rel, &h, &ae) < 0) {
				log_warn(&lm,
					 "%s; release %s is not served, every other release is",
					 ae.msg, rel->id);
				unloadable++;
			}
		}
		store_release_free(rel);
	}
	hash_ctx_destroy(h);
	store_free_list(ids, n);
	store_close(st);
	struct served_index *x = NULL;
	if (rc == 0)
		rc = build_index(s, cat, &x, err);
	if (rc < 0) {
		/* the published index stays as it was */
		for (size_t i = 0; i < s->n; i++)
			ent(s, i)->in_store = 0;
		return rc;
	}
	x->gen = ++s->gen;
	/* views of releases gone from the store: handed out no more from this
	 * generation on (before it is published), freed once every worker
	 * entered it */
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = ent(s, i);
		if (!e->in_store && !e->freed &&
		    !atomic_load_explicit(&e->dead, memory_order_relaxed)) {
			e->dead_gen = x->gen;
			atomic_store_explicit(&e->dead, 1, memory_order_release);
			s->n_dead++;
		}
	}
	if (s->stats)
		dpstats_set_unloadable(s->stats, unloadable);
	struct served_index *old = atomic_load_explicit(&s->cur, memory_order_relaxed);
	atomic_store_explicit(&s->cur, x, memory_order_release);
	if (s->loader_on) {
		/* new objects, if any: the loader reads their tables too */
		uint64_t one = 1;
		if (write(s->lfd, &one, sizeof(one)) < 0)
			log_warn(&lm, "served: waking the table loader: %s", strerror(errno));
	}
	if (old) {
		old->older = s->retired;
		s->retired = old;
	}
	served_reclaim(s);
	/* A load parses every torrent into a tree and frees it; glibc keeps
	 * that peak as resident memory unless asked to give it back, which
	 * for a store of many files is most of what the load touched. */
	malloc_trim(0);
	return 0;
}

void served_reclaim(struct served *s)
{
	/* An index may go once every worker entered a newer generation: a
	 * worker only uses index pointers within the loop pass it entered. */
	uint64_t min = s->gen;
	for (unsigned i = 0; i < s->n_workers; i++) {
		uint64_t g = atomic_load_explicit(&s->seen[i], memory_order_acquire);
		if (g < min)
			min = g;
	}
	if (s->n_dead) {
		size_t freed = 0;
		for (size_t i = 0; i < s->n; i++) {
			struct entry *e = ent(s, i);
			if (atomic_load_explicit(&e->dead, memory_order_relaxed) && !e->freed &&
			    e->dead_gen <= min) {
				entry_free_memory(s, e);
				e->freed = 1;
				freed++;
			}
		}
		if (freed) {
			s->n_dead -= freed;
			s->views_freed += freed;
			log_info(&lm, "freed %zu views of releases removed from the store", freed);
		}
	}
	struct served_index **pp = &s->retired;
	while (*pp) {
		struct served_index *x = *pp;
		if (x->gen < min) {
			*pp = x->older;
			index_free(x);
		} else {
			pp = &x->older;
		}
	}
}

void served_free(struct served *s)
{
	if (!s)
		return;
	stop_loader(s);
	for (unsigned i = 0; s->wake && i < s->n_workers; i++)
		if (s->wake[i] >= 0)
			close(s->wake[i]);
	free(s->lq);
	free(s->wake);
	free(s->ep_snap);
	while (s->info_retired) {
		struct info_retired *r = s->info_retired;
		s->info_retired = r->next;
		free(r);
	}
	hash_ctx_destroy(s->lhash);
	pthread_mutex_destroy(&s->info_lock);
	if (s->lst)
		store_close(s->lst);
	for (size_t i = 0; i < s->n; i++)
		entry_clear(ent(s, i));
	for (size_t i = 0; i < s->n_obj; i++) {
		struct served_object *so = objp(s, i);
		struct store_geom g;
		served_object_geom(so, &g);
		if (g.table_len > TABLE_PACKED)
			free(so->block_xxh);
	}
	while (s->slabs) {
		struct table_slab *sl = s->slabs;
		s->slabs = sl->next;
		free(sl);
	}
	pthread_mutex_destroy(&s->slab_lock);
	if (s->dirfd >= 0)
		close(s->dirfd);
	for (size_t c = 0; c < MAX_CHUNKS; c++) {
		free(s->e[c]);
		free(s->obj[c]);
	}
	index_free(atomic_load(&s->cur));
	while (s->retired) {
		struct served_index *x = s->retired;
		s->retired = x->older;
		index_free(x);
	}
	posidx_free(&s->obj_idx);
	free(s->dir);
	free(s);
}

void served_set_info_budget(struct served *s, size_t bytes)
{
	s->info_budget = bytes;
}

size_t served_info_bytes(struct served *s)
{
	pthread_mutex_lock(&s->info_lock);
	size_t n = s->info_bytes;
	pthread_mutex_unlock(&s->info_lock);
	return n;
}
