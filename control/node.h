/*
 * node: seed-control's model of the appliance — the config (node + tenants),
 * tenants added or changed through the API, every release in the store with
 * its catalog state — and the two things made from it: the catalog
 * generation the data plane reads, and the state file that keeps API
 * decisions across restarts.
 *
 * Invariants: a release's tenant is the first dot-separated part of its id;
 * a release is served only when its tenant exists and its state allows it; a
 * retired release stays retired; every change bumps `dirty`, and
 * node_commit writes the state file, then the catalog (each temp + fsync +
 * rename), so a crash between the two leaves a state the next start
 * rebuilds the same catalog from.
 *
 * Call order: node_open -> (node_rescan | node_reload_config | node_release_*
 * | node_tenant_*) -> node_commit when node_dirty -> node_close. Single
 * threaded (seed-control's loop).
 */
#ifndef SEED_CTL_NODE_H
#define SEED_CTL_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "seed_err.h"
#include "seedconf.h"
#include "tenant.h"

#define NODE_ID_MAX 200

struct node_release {
	char id[NODE_ID_MAX + 1];
	char tenant[TENANT_ID_MAX + 1];
	enum catalog_state state;
	int64_t embargo_until;
	int64_t retired_at; /* retired: when (Unix seconds), for reclaim_retired */
	int in_store;	    /* found by the last rescan */
	int listed;	    /* its manifest is in the store, loadable or not */
	int has_v1, has_v2, has_companion;
	uint8_t ih_v1[20], ih_v2[32], ih_companion[20];
	uint64_t bytes_total;
	uint32_t files;
};

struct node;

/* Loads the config at path, the state file and the store's releases. */
int node_open(const char *config_path, struct node **out, struct seed_err *err);
void node_close(struct node *n);

/* Rereads the config; on error the running config stays. */
int node_reload_config(struct node *n, struct seed_err *err);
/* Picks up releases created or removed since (new ones are staged). */
int node_rescan(struct node *n, struct seed_err *err);

const struct seedconf_node *node_conf(const struct node *n);
const char *node_config_path(const struct node *n);
size_t node_n_tenants(const struct node *n);
const struct tenant *node_tenant_at(const struct node *n, size_t i);
const struct tenant *node_tenant_find(const struct node *n, const char *id);
size_t node_n_releases(const struct node *n);
const struct node_release *node_release_at(const struct node *n, size_t i);
const struct node_release *node_release_find(const struct node *n, const char *id);
/* Served at now: live, or embargoed and past its time, with its tenant. */
bool node_release_servable(const struct node *n, const struct node_release *r, int64_t now);

/*
 * State changes. Each returns 0, -ENOENT (unknown release), -EPERM (not
 * allowed from the current state: the message says why) or -EINVAL.
 * publish: live at once, or embargoed for the tenant's default embargo
 * unless skip_default_embargo.
 */
int node_release_publish(struct node *n, const char *id, int64_t now, bool skip_default_embargo,
			 struct seed_err *err);
int node_release_embargo(struct node *n, const char *id, int64_t until, struct seed_err *err);
int node_release_pause(struct node *n, const char *id, struct seed_err *err);
int node_release_retire(struct node *n, const char *id, int64_t now, struct seed_err *err);

/*
 * Tenants through the API: add (-EEXIST when the id exists) or replace. t is
 * borrowed (the node keeps a deep copy, marked from_api); the node checks
 * it with the catalog's rules (catalog_add_tenant()) before taking it.
 */
int node_tenant_put(struct node *n, const struct tenant *t, bool must_be_new, struct seed_err *err);

bool node_dirty(const struct node *n);
/* Writes the state file and a new catalog generation; clears dirty. */
int node_commit(struct node *n, int64_t now, struct seed_err *err);
uint64_t node_generation(const struct node *n);
/* Path of the catalog the data plane reads (run_dir/catalog). */
const char *node_catalog_path(const struct node *n);

#endif
