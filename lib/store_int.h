/*
 * store_int: what lib/store.c shows only to its own tests and to the
 * store's other file (store_release.c: the releases' manifests).
 *
 * A store writes new objects in STORE_OBJ_VERSION; a test that must hold
 * an object of an earlier version (a store upgraded in place keeps its old
 * objects, which every reader must still read, verify, scrub and serve)
 * makes one with the writer's code of today, not with a copy of the old
 * writer.
 */
#ifndef SEED_STORE_INT_H
#define SEED_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "seed_err.h"
#include "store.h"

struct store {
	char *dir;
	int lock_fd;
	enum store_mode mode;
	struct seed_err gc_refused; /* code 0: the last collection ran */
	uint32_t k, m;		    /* parity of new objects */
	uint32_t version;	    /* their header version: STORE_OBJ_VERSION but in tests */
	uint64_t manifest_repairs;  /* manifest copies rewritten since open */
	int check_copies;	    /* a reader that reads both manifest copies */
	/* objects committed later (store_obj_commit_later), renamed into
	 * place by store_obj_flush; ingest workers add to it concurrently */
	pthread_mutex_t later_mu;
	struct later {
		char *tmp;
		uint8_t root[32];
		int *created;
	} * later;
	size_t n_later, cap_later;
};

static inline bool store_is_writer(enum store_mode m)
{
	return m == STORE_WRITE || m == STORE_CREATE || m == STORE_WRITE_TRY;
}

/* New objects of this handle are written in header version `version` (3:
 * whole parity blocks and table sectors of their own; 4: no leaves; 5:
 * today's). Version
 * 2 (no parity) is not offered: ingest always computes parity. 0, or
 * -EINVAL for another version. */
int store_set_obj_version(struct store *s, uint32_t version);

#endif
