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
 * found by), a pointer to the tenant itself -- the struct tenant of the
 * catalog last synced, from which the cap and max_peers are read -- and the
 * counters that live across catalog generations (tokens, peers).
 *
 * Slots are append-only and never reused: the main thread assigns a tenant
 * its slot (tenants_sync) before any worker can see a catalog naming it, and
 * publishes the slot's id before its index entry, so readers never see a
 * half-written slot. The main thread refills the buckets (tenants_refill,
 * every few milliseconds); workers take and give back tokens.
 *
 * Lifetime: the slots point into the catalog of the last tenants_sync, so
 * that catalog must outlive every use of the slots until the next sync. The
 * data plane gets this from served: sync with the catalog it is about to
 * publish (served frees a generation only once every worker entered a newer
 * one); when the publication fails, sync back to the published catalog
 * before freeing the one that failed.
 */
#ifndef SEED_DP_TENANTS_H
#define SEED_DP_TENANTS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANTS_MAX 1024

struct catalog;
struct tenant;
struct tenants;

int tenants_create(struct tenants **out);
void tenants_free(struct tenants *t);

/* Main thread: slots for every tenant of cat (NULL: none), each pointing
 * at its struct tenant in cat (borrowed, see Lifetime above). A tenant that
 * left the catalog keeps its slot, without limits; a changed cap starts
 * from an empty bucket. Returns 0 or -ENOSPC when TENANTS_MAX distinct ids
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

/* Any thread: the tenant a slot points at (in the catalog last synced), NULL
 * when it left the catalog. Valid as the Lifetime rule above says. */
const struct tenant *tenants_tenant(const struct tenants *t, int slot);

/* Main thread: slots assigned so far, and a slot's tenant id. */
unsigned tenants_count(const struct tenants *t);
const char *tenants_id(const struct tenants *t, int slot);

#endif
