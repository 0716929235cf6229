/*
 * scrub_int: what the scrub's two files (scrub.c: scrubbing; scrub_last.c:
 * its record, STORE/scrub.last) share and show no one else.
 */
#ifndef SEED_SCRUB_INT_H
#define SEED_SCRUB_INT_H

#include <stddef.h>

#include "scrub.h"
#include "seed_err.h"
#include "store.h"

/* Per-tenant records being gathered by a scrub (malloc'd; v freed by its
 * owner). */
struct scrub_tenants {
	struct scrub_tenant *v;
	size_t n, cap;
};

/*
 * Adds what was counted while release id was scrubbed (now - before) to
 * its tenant's record (the id up to its first dot), appending a record
 * when the last one is another tenant's (ids come sorted). 0 or -ENOMEM.
 */
int scrub_tenant_add(struct scrub_tenants *tn, const char *id, const struct scrub_stats *now,
		     const struct scrub_stats *before);

/*
 * Writes STORE/scrub.last for a scrub that ended now: its counters st, its
 * verdict, and tn's records (dated now; a scrub of only one release keeps
 * the other tenants' records of the previous file). tn is sorted and may
 * grow. 0 or -errno with err set.
 */
int scrub_write_last(struct store *s, const char *only, int whole, const struct scrub_stats *st,
		     struct scrub_tenants *tn, struct seed_err *err);

#endif
