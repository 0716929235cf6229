/*
 * store_int: what lib/store.c shows only to its own tests.
 *
 * A store writes new objects in STORE_OBJ_VERSION; a test that must hold
 * an object of an earlier version (a store upgraded in place keeps its old
 * objects, which every reader must still read, verify, scrub and serve)
 * makes one with the writer's code of today, not with a copy of the old
 * writer.
 */
#ifndef SEED_STORE_INT_H
#define SEED_STORE_INT_H

#include <stdint.h>

struct store;

/* New objects of this handle are written in header version `version` (3:
 * whole parity blocks and table sectors of their own; 4: today's). Version
 * 2 (no parity) is not offered: ingest always computes parity. 0, or
 * -EINVAL for another version. */
int store_set_obj_version(struct store *s, uint32_t version);

#endif
