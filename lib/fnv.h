/*
 * fnv: 64-bit FNV-1a, for the data plane's small open-addressed tables keyed
 * by names (release ids, tenant names).
 *
 * Not a defence against chosen collisions: every table that uses it is
 * filled from the operator's catalog, not from peers. Tables keyed by
 * anything a peer picks use a keyed hash instead (see catalog.c).
 */
#ifndef SEED_FNV_H
#define SEED_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT 14695981039346656037ull

static inline uint64_t fnv1a64(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = FNV1A64_INIT;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

#endif
