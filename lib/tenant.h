/*
 * tenant: the one shape of a tenant (a studio whose releases this appliance
 * serves), from the config file to the data plane.
 *
 *   seedconf (config file) --fills--> struct tenant
 *   node (seed-control)     keeps config tenants merged with API ones
 *   catalog (file)          serializes every field below but the two
 *                           provenance fields, and loads them back
 *   dataplane               reads the catalog's struct tenant (the gate:
 *                           allow-list); a tenants slot holds only the two
 *                           limits it enforces and its run-time counters
 *
 * So a field added here is added once: the config table, the state file,
 * the catalog and the API each read or write it, nothing converts it.
 *
 * Invariants of a tenant any of those hands out: id is [a-z0-9-]{1,32}, not
 * starting with '-' (tenant_id_valid); name is 1 to TENANT_NAME_MAX bytes of
 * printable UTF-8; allow holds prefixes cidr_parse() accepts (no host bits);
 * trackers[0..n_trackers) are distinct NUL-terminated URLs owned by the
 * struct; embargo_s >= 0; seeding <= TENANT_SEEDING_MAX.
 *
 * Ownership: a struct tenant owns its tracker strings and nothing else, so a
 * copy is tenant_copy() and a disposal tenant_clear(); a zeroed struct is a
 * valid empty tenant to fill. Everything else is plain data.
 *
 * Header-only: these helpers are a few lines each and every user already
 * links libseed's catalog and cidr.
 */
#ifndef SEED_TENANT_H
#define SEED_TENANT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

#define TENANT_ID_MAX	    32	 /* bytes in an id, NUL excluded */
#define TENANT_NAME_MAX	    128	 /* bytes in a display name, NUL excluded */
#define TENANT_MAX_TRACKERS 32	 /* announce URLs per tenant */
#define TENANT_URL_MAX	    1024 /* bytes in a tracker URL */
#define TENANT_MAX_ALLOW    CIDR_SET_MAX
#define TENANT_MAX_PEERS    1000000 /* largest max_peers the config and API take */
/* 1e12 bytes/s (8 Tbit/s): far above any NIC, so a larger value is a typo. */
#define TENANT_RATE_MAX 1000000000000ull

/*
 * How the data plane seeds a tenant's releases (docs/swarm.md): the values
 * of dataplane/proto/swarm.h's enum swarm_policy, which takes its names
 * from here. 0 = the data plane's own --seeding.
 */
enum tenant_seeding {
	TENANT_SEEDING_DEFAULT = 0,
	TENANT_SEEDING_PLAIN = 1,
	TENANT_SEEDING_SUPER = 2,
	TENANT_SEEDING_RAREST = 3,
};
#define TENANT_SEEDING_MAX 3u

/* "default", "plain", "super", "rarest"; "?" when out of range. */
static inline const char *tenant_seeding_name(unsigned s)
{
	static const char *const names[] = { "default", "plain", "super", "rarest" };
	return s <= TENANT_SEEDING_MAX ? names[s] : "?";
}

/* The seeding named by s[0..len) (exact): 0, or -EINVAL. */
static inline int tenant_seeding_parse(const char *s, size_t len, uint8_t *out)
{
	for (unsigned i = 0; s && i <= TENANT_SEEDING_MAX; i++) {
		const char *n = tenant_seeding_name(i);
		if (strlen(n) == len && !memcmp(n, s, len)) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

struct tenant {
	char id[TENANT_ID_MAX + 1];
	char name[TENANT_NAME_MAX + 1];	     /* printable UTF-8; the config defaults it to id */
	uint64_t bandwidth;		     /* bytes per second, 0 = unlimited */
	uint32_t max_peers;		     /* peers served at once, 0 = unlimited */
	struct cidr_set allow;		     /* empty = every peer */
	char *trackers[TENANT_MAX_TRACKERS]; /* owned, distinct */
	unsigned n_trackers;
	int64_t embargo_s; /* default embargo of a publish, 0 = none */
	uint8_t seeding;   /* enum tenant_seeding */

	/* Where the tenant came from, for the control plane's messages and
	 * API; not part of the catalog (the data plane has no use for it). */
	unsigned line; /* its group in the config file, 0 when not from it */
	bool from_api; /* added or changed through the API (kept in the state file) */
};

/* Whether id is a tenant id: 1 to TENANT_ID_MAX of a-z 0-9 '-', not
 * starting with '-' (release ids start with it, and may not). */
static inline bool tenant_id_valid(const char *id)
{
	size_t n = id ? strnlen(id, TENANT_ID_MAX + 1) : 0;
	if (n == 0 || n > TENANT_ID_MAX || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '-'))
			return false;
	return true;
}

/* Frees what t owns (its tracker strings) and leaves it with none. */
static inline void tenant_clear(struct tenant *t)
{
	for (unsigned i = 0; i < t->n_trackers && i < TENANT_MAX_TRACKERS; i++) {
		free(t->trackers[i]);
		t->trackers[i] = NULL;
	}
	t->n_trackers = 0;
}

/*
 * *dst becomes a deep copy of *src (dst's previous content is overwritten,
 * not freed: clear it first if it owned anything). 0, or -ENOMEM with dst
 * owning nothing.
 */
static inline int tenant_copy(struct tenant *dst, const struct tenant *src)
{
	*dst = *src;
	for (unsigned i = 0; i < src->n_trackers; i++) {
		if (!(dst->trackers[i] = strdup(src->trackers[i]))) {
			dst->n_trackers = i;
			tenant_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

#endif
