/*
 * tenants: the data plane's per-tenant limits at run time — peer count
 * against max_peers and a token bucket against the bandwidth cap, shared by
 * every worker.
 *
 * Why shared and not per worker: a cap is a promise about the whole box,
 * and the kernel puts peers on workers as it likes; splitting a 20 MB/s cap
 * into per-worker shares would serve a lone peer at a fraction of it. The
 * cost is one atomic per send batch, paid only by capped tenants (and one per
 * connection bind for peer counts); uncapped tenants touch nothing.
 *
 * A slot is a tenant's run-time state only: its id (what the slot is
 * found by), the two limits workers enforce (the cap and max_peers, copied
 * from the catalog's struct tenant at each sync), and the counters that
 * live across catalog generations (tokens, peers). The rest of the tenant
 * (allow-list, name, trackers) is read from the catalog generation a
 * worker is in. The slot copies the two numbers rather than pointing into
 * a catalog so that it never outlives the memory it reads: catalogs come
 * and go with served's generations, and a failed publication frees one at
 * once, while workers may read a slot at any time.
 *
 * Slots are append-only and never reused: the main thread assigns a tenant
 * its slot (tenants_sync) before any worker can see a catalog naming it, and
 * publishes the slot's id before its index entry, so readers never see a
 * half-written slot. The main thread refills the buckets (tenants_refill,
 * every few milliseconds); workers take and give back tokens.
 *
 */
#ifndef SEED_DP_TENANTS_H
#define SEED_DP_TENANTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANTS_MAX 1024

struct catalog;
struct tenants;

int tenants_create(struct tenants **out);
void tenants_free(struct tenants *t);

/* Main thread: slots for every tenant of cat (NULL: none) with its limits
 * (cat is borrowed for the call). A tenant that left the catalog keeps its
 * slot, without limits; a changed cap starts from an empty bucket. Returns 0 or -ENOSPC when TENANTS_MAX distinct ids
 * were seen (the tenants past it are not limited). */
int tenants_sync(struct tenants *t, const struct catalog *cat);

/* Main thread: adds the tokens earned since the last call (now in ns).
 * Returns whether any tenant is capped (else nothing needs refilling). */
bool tenants_refill(struct tenants *t, uint64_t now_ns);

/* Any thread: the slot of a tenant id (len bytes), -1 when unknown. */
int tenants_find(const struct tenants *t, const char *id, size_t len);

/* 1 when the tenant's bandwidth is capped (its sends take tokens). */
bool tenants_capped(const struct tenants *t, int slot);

/* Takes up to want bytes of tokens; returns how many were granted. */
uint64_t tenants_take(struct tenants *t, int slot, uint64_t want);
/* Returns tokens taken but not used. */
void tenants_give_back(struct tenants *t, int slot, uint64_t n);

/* A connection binds to the tenant: false (nothing counted) when the tenant
 * is at max_peers. */
bool tenants_peer_add(struct tenants *t, int slot);
void tenants_peer_del(struct tenants *t, int slot);
int64_t tenants_peers(const struct tenants *t, int slot);

/* Any thread: the limits a slot enforces now (bytes/s and max_peers, 0 =
 * unlimited; both 0 once the tenant left the catalog). */
void tenants_limits(const struct tenants *t, int slot, uint64_t *out_rate, uint32_t *out_max_peers);

/* Main thread: slots assigned so far, and a slot's tenant id. */
unsigned tenants_count(const struct tenants *t);
const char *tenants_id(const struct tenants *t, int slot);

#endif
