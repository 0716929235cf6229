/*
 * served: the releases a data plane serves, loaded from the store.
 *
 * It turns every release manifest into proto_release views for the engines
 * (one per published torrent: a hybrid release with --also-v1 answers under
 * both its hybrid and its v1 info-hash) and opens each distinct store object
 * once, with O_DIRECT, keeping its block table for verification. Lookups by
 * info-hash and by release id are hash-table probes. The set is immutable
 * once loaded and is shared read-only by all workers.
 */
#ifndef SEED_SERVED_H
#define SEED_SERVED_H

#include <stddef.h>
#include <stdint.h>

#include "proto_release.h"
#include "seed_err.h"

struct served_object {
	int fd;	    /* O_DIRECT when the file system allows it */
	int direct; /* fd is O_DIRECT */
	uint64_t length;
	uint64_t n_blocks;
	uint8_t root[32];
	uint8_t *block_xxh; /* n_blocks * 16 */
};

struct served;

/* Loads every release of the store at dir. */
int served_load(const char *dir, struct served **out_served, struct seed_err *err);
void served_free(struct served *s);

size_t served_count(const struct served *s); /* proto_release views */
const struct proto_release *served_release(const struct served *s, size_t i);
const struct served_object *served_object(const struct served *s, uint32_t handle);
size_t served_object_count(const struct served *s);

/* A catalog for the engines, backed by s (valid while s lives). */
struct proto_catalog served_catalog(const struct served *s);

#endif
