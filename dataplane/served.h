/*
 * served: the releases a data plane serves, loaded from the store.
 *
 * It turns every release manifest into proto_release views for the engines
 * (one per published torrent: a hybrid release with --also-v1 answers under
 * both its hybrid and its v1 info-hash) and opens each distinct store object
 * once, keeping its block table for verification. Object files are not
 * kept open: a worker opens one when a read needs it (served_open_object,
 * through its descriptor table, ofd.h), so a store may hold more objects
 * than the process may have descriptors.
 *
 * Views and objects are append-only and never move: a worker may keep a
 * pointer to a view or an object handle for as long as the served set lives,
 * across refreshes. What changes is the index: served_refresh (main thread
 * only) rescans the store, adds views for new or changed releases, and
 * publishes a new immutable generation of lookup tables together with the
 * catalog that decides what may be served. A release removed from the store
 * drops out of the index and served_release stops handing out its view
 * from that generation on; the view's memory is freed once every worker
 * entered it (a worker keeps no view pointer across loop passes without
 * looking it up again: the peer-wire engine looks its release up at every
 * call, the HTTP engine names it by handle). Its handle is never reused.
 *
 * Workers call served_enter once per loop pass; an index generation is
 * freed (served_reclaim) only when every worker entered a newer one, so a
 * lookup never reads freed tables.
 */
#ifndef SEED_SERVED_H
#define SEED_SERVED_H

#include <stddef.h>
#include <stdint.h>

#include "proto_release.h"
#include "seed_err.h"
#include "store.h"
#include "swarm.h"

/*
 * An object's header and block table are read when a read first needs
 * them (served_object_ready), not at start: start-up reads the release
 * manifests and torrents only, whatever the number of objects. Until its
 * state is SERVED_OBJ_LOADED only root and length (the manifest's) may be
 * read. Kept small (56 bytes): a store may hold millions of objects.
 *
 * An object the store could not open (missing, header or block table
 * corrupt, another version) is still loaded, marked unusable: its blocks
 * are refused (counted as corrupt blocks) and every other file of its
 * releases is served. One damaged table must not take a release off the
 * air. An unusable object has no block table.
 */
enum { SERVED_OBJ_UNLOADED = 0, SERVED_OBJ_QUEUED, SERVED_OBJ_LOADED };

struct served_object {
	_Atomic int state; /* SERVED_OBJ_*: the fields below are final once LOADED */
	uint8_t unusable;  /* never read: every block is refused */
	uint8_t k, m;	   /* its parity (store.h); 0 when unusable */
	uint8_t version;   /* its header's format version: the layout (store.h) */
	uint64_t length;
	uint8_t root[32];
	/* the object's table: its data blocks' entries, then its parity's (16
	 * bytes each; served_object_geom); NULL when unusable */
	uint8_t *block_xxh;
};

/* Where a loaded object's parts are (store.h), from its length and parity. */
static inline void served_object_geom(const struct served_object *o, struct store_geom *g)
{
	store_geom(o->length, o->k, o->m, o->version, g);
}

#define SERVED_MAX_WORKERS 1024

struct served;
struct catalog;
struct dpstats;

/*
 * Loads every release of the store at dir, for n_workers workers (each
 * calls served_enter with its index). stats (may be NULL) gets a counter
 * slot per release id. The first generation has no catalog: every release
 * in the store is served.
 */
int served_create(const char *dir, unsigned n_workers, struct dpstats *stats,
		  struct served **out_served, struct seed_err *err);
/* served_create for tools and tests that run no workers. */
int served_load(const char *dir, struct served **out_served, struct seed_err *err);
void served_free(struct served *s);

/*
 * Main thread: rescans the store and publishes a new generation whose
 * catalog is cat (ownership taken on success; NULL: serve everything). On
 * failure the published generation stays and cat still belongs to the
 * caller. A release that cannot be loaded (its manifest, its torrent, its
 * objects: damage, memory or descriptors) is not served, logged and
 * counted (the counters file's gauge, dpstats_unloadable); it is tried
 * again at the next refresh. Only the store itself failing (its listing)
 * fails the refresh.
 */
int served_refresh(struct served *s, struct catalog *cat, struct seed_err *err);
/* Main thread: frees the generations no worker can still be using. */
void served_reclaim(struct served *s);
/* Worker: announces it uses the current generation for this loop pass. */
void served_enter(struct served *s, unsigned worker);

size_t served_count(const struct served *s);	   /* proto_release views, all time */
size_t served_views_freed(const struct served *s); /* of removed releases, so far */
size_t served_live_count(const struct served *s);  /* views in the current index */
/* View handle i; NULL when it does not exist or its release was removed. */
const struct proto_release *served_release(const struct served *s, size_t i);
/*
 * The seeding policy's shared view of view handle's swarm (swarm.h),
 * created on first use by any worker (two at once: one wins, the other's
 * is freed), then the same for every worker; valid until served_free.
 * NULL when there is no such view, it has over SWARM_MAX_PIECES pieces or
 * memory is short (the caller seeds plain). Not on the hot path: once per
 * peer, at its handshake.
 */
struct swarm_view *served_swarm_view(struct served *s, uint32_t handle);
/* The view of handle if one was made (counters, SIGUSR1), else NULL. */
const struct swarm_view *served_swarm_peek(const struct served *s, uint32_t handle);
/* The counter slot of view handle (-1: none). */
int32_t served_stats_slot(const struct served *s, uint32_t handle);
const struct served_object *served_object(const struct served *s, uint32_t handle);
size_t served_object_count(const struct served *s);
/*
 * Opens object handle's file for reading, with O_DIRECT where the file
 * system allows it: the caller's descriptor, or -errno (-ENOENT: the file
 * is gone, e.g. its release was removed). Any thread; no allocation.
 */
int served_open_object(const struct served *s, uint32_t handle);

/*
 * Worker: 1 when object handle's table is loaded (served_object's fields
 * are final), else 0, having asked the loader thread for it: the worker's
 * wake fd is written when it is done (served_start_loader). Without a
 * loader (tools, tests) the table is loaded in the call.
 */
int served_object_ready(struct served *s, unsigned worker, uint32_t handle);
/*
 * Worker: view handle's info dict (r->info_len bytes, for BEP 9), or NULL
 * after asking the loader thread to read it from the release's manifest
 * (ask again later: the engine polls). The bytes stay valid until the
 * worker's next served_enter. Resident info dicts are kept within the
 * budget (served_set_info_budget), least recently asked for evicted first.
 * Without a loader (tools, tests) the dict is read in the call.
 */
const uint8_t *served_release_info(struct served *s, unsigned worker, uint32_t handle);

/* Bytes of info dicts kept in memory, by default and at most: one above
 * the budget is still read (and everything else evicted). */
#define SERVED_INFO_BUDGET (64u << 20)
/* Before served_start_loader. */
void served_set_info_budget(struct served *s, size_t bytes);
/* Resident info dicts' bytes now (for the counters). */
size_t served_info_bytes(struct served *s);

/* Main thread, before the workers run: starts the thread that loads tables,
 * waking worker i through wake[i] (-1: a worker that polls). */
int served_start_loader(struct served *s, const int *wake, struct seed_err *err);
/* Tools and tests (no loader running): the object with its table loaded
 * now; NULL for a handle that does not exist. */
const struct served_object *served_object_load(struct served *s, uint32_t handle);

/* Lookups in the current generation (NULL: not in the store). */
const struct proto_release *served_by_v1(const struct served *s, const uint8_t ih[20]);
const struct proto_release *served_by_v2_20(const struct served *s, const uint8_t ih[20]);
/* The release whose SHA1("req2" ih) is h, for either of its info-hashes
 * (MSE handshakes name a release this way; mse.h). */
const struct proto_release *served_by_mse_req2(const struct served *s, const uint8_t h[20]);
const struct proto_release *served_by_id(const struct served *s, const char *id, size_t len);
/* The current generation's catalog (NULL: serve every release) and number. */
const struct catalog *served_current_catalog(const struct served *s);
uint64_t served_generation(const struct served *s);

/* A catalog for the engines over the lookups above, ignoring the catalog
 * (tests, tools). */
struct proto_catalog served_catalog(const struct served *s);

#endif
