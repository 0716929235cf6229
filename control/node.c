/*
 * node: see node.h. The state file (<store>/control.state) is a canonical
 * bencoded dictionary: "version" 2, "releases" (id, state, embargo_until,
 * and retired_at for a retired one)
 * and "tenants" (the ones added or changed through the API), each tenant the
 * catalog's own record (catalog_encode_tenant()), so a tenant has one
 * serialized shape. Version 1, still read, wrote a tenant's allow entries as
 * text ("10.0.0.0/8") and is written back as version 2 at the next commit.
 * It lives beside the releases it describes, so a store moved to another box
 * keeps its publishing decisions.
 */
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bencode.h"
#include "fnv.h"
#include "fsutil.h"
#include "hash.h"
#include "log.h"
#include "mem.h"
#include "metainfo.h"
#include "posidx.h"
#include "store.h"

static const struct log_module lm = LOG_MODULE("control.node");

#define STATE_MAX     (64u << 20)
#define STATE_VERSION 2 /* what save_state() writes; 1 is still read */

struct node {
	char *config_path;
	struct seedconf *conf;
	struct tenant *t; /* config tenants merged with API ones */
	size_t n_t;
	struct tenant *api; /* API tenants (kept across config reloads) */
	size_t n_api;
	struct node_release *r;
	size_t n_r, cap_r;
	/* releases and (merged) tenants by id, so a rescan of R releases, a
	 * request and a metrics scrape look ids up in constant time, not in R */
	struct posidx r_idx, t_idx;
	char *state_path, *catalog_path;
	uint64_t generation;
	bool dirty;
};

static uint64_t id_hash(const char *id)
{
	return fnv1a64(id, strlen(id));
}

/* Position of id in an array indexed by x (its ids read through id_at), or
 * SIZE_MAX. */
static size_t idx_find(const struct posidx *x, const char *id,
		       const char *(*id_at)(const void *arr, size_t i), const void *arr)
{
	if (!x->size)
		return SIZE_MAX;
	for (size_t j = posidx_first(x, id_hash(id)); x->slot[j]; j = posidx_next(x, j))
		if (!strcmp(id_at(arr, x->slot[j] - 1), id))
			return x->slot[j] - 1;
	return SIZE_MAX;
}

static const char *rel_id_at(const void *arr, size_t i)
{
	return ((const struct node_release *)arr)[i].id;
}

static const char *tenant_id_at(const void *arr, size_t i)
{
	return ((const struct tenant *)arr)[i].id;
}

static uint64_t rel_hash_at(const void *arr, size_t i)
{
	return id_hash(rel_id_at(arr, i));
}

static uint64_t tenant_hash_at(const void *arr, size_t i)
{
	return id_hash(tenant_id_at(arr, i));
}

static void tenant_array_free(struct tenant *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tenant_clear(&t[i]);
	free(t);
}

/* Config tenants, then API tenants replacing or extending them. */
static int merge_tenants(struct node *n, const struct seedconf *c)
{
	struct tenant *t = calloc(c->n_tenants + n->n_api + 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	size_t k = 0;
	for (; k < c->n_tenants; k++) {
		if (tenant_copy(&t[k], &c->tenants[k]) < 0) {
			tenant_array_free(t, k);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n->n_api; i++) {
		size_t j = 0;
		while (j < k && strcmp(t[j].id, n->api[i].id))
			j++;
		if (j < k)
			tenant_clear(&t[j]);
		if (tenant_copy(&t[j], &n->api[i]) < 0) {
			tenant_array_free(t, k);
			return -ENOMEM;
		}
		if (j == k)
			k++;
	}
	if (posidx_rebuild(&n->t_idx, k, k, tenant_hash_at, t) < 0) {
		tenant_array_free(t, k);
		return -ENOMEM;
	}
	tenant_array_free(n->t, n->n_t);
	n->t = t;
	n->n_t = k;
	return 0;
}

/* ---- state file ---- */

static const struct bencode_node *get_typed(const struct bencode_node *d, const char *k,
					    enum bencode_type type)
{
	const struct bencode_node *v = d && d->type == BENCODE_DICT ? bencode_dict_get(d, k) : NULL;
	return v && v->type == type ? v : NULL;
}

static int str_field(const struct bencode_node *d, const char *k, char *out, size_t cap)
{
	const struct bencode_node *v = get_typed(d, k, BENCODE_STR);
	if (!v || v->u.s.len >= cap || memchr(v->u.s.p, 0, v->u.s.len))
		return -EBADMSG;
	memcpy(out, v->u.s.p, v->u.s.len);
	out[v->u.s.len] = 0;
	return 0;
}

static struct node_release *find_rel(struct node *n, const char *id)
{
	size_t i = idx_find(&n->r_idx, id, rel_id_at, n->r);
	return i == SIZE_MAX ? NULL : &n->r[i];
}

static struct node_release *add_rel(struct node *n, const char *id)
{
	if (n->n_r == n->cap_r) {
		size_t cap = n->cap_r ? n->cap_r * 2 : 64;
		void *p = realloc(n->r, cap * sizeof(*n->r));
		if (!p)
			return NULL;
		n->r = p;
		/* cap_r grows with the index only: a full index would probe forever */
		if (posidx_rebuild(&n->r_idx, n->n_r, cap, rel_hash_at, p) < 0)
			return NULL;
		n->cap_r = cap;
	}
	struct node_release *r = &n->r[n->n_r];
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	posidx_put(&n->r_idx, id_hash(r->id), n->n_r);
	n->n_r++;
	const char *dot = strchr(id, '.');
	size_t tl = dot ? (size_t)(dot - id) : 0;
	if (tl < sizeof(r->tenant)) {
		memcpy(r->tenant, id, tl);
		r->tenant[tl] = 0;
	}
	r->state = CATALOG_STAGED;
	return r;
}

static int load_state(struct node *n, struct seed_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct seed_err e;
	seed_err_clear(&e);
	int rc = fsu_read_file(n->state_path, STATE_MAX, &buf, &len, &e);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return seed_err_set(err, rc, "%s", e.msg);
	struct bencode_doc *doc = NULL;
	rc = bencode_parse(buf, buf + len, NULL, &doc, err);
	if (rc < 0) {
		free(buf);
		seed_err_prefix(err, "%s: ", n->state_path);
		return rc;
	}
	const struct bencode_node *root = bencode_root(doc);
	const struct bencode_node *ver = get_typed(root, "version", BENCODE_INT);
	const struct bencode_node *rels = get_typed(root, "releases", BENCODE_LIST);
	const struct bencode_node *tens = get_typed(root, "tenants", BENCODE_LIST);
	/* Version 1 differs only in how a tenant's allow entries are written. */
	enum catalog_tenant_format fmt =
		ver && ver->u.i == 1 ? CATALOG_TENANT_TEXT_ALLOW : CATALOG_TENANT_V2;
	rc = 0;
	if (!ver || ver->u.i < 1 || ver->u.i > STATE_VERSION || !rels || !tens)
		rc = seed_err_set(err, -EBADMSG,
				  "%s: not a version 1 or %d control state (version, releases, "
				  "tenants)",
				  n->state_path, STATE_VERSION);
	for (size_t i = 0; rc == 0 && i < rels->u.list.n; i++) {
		const struct bencode_node *x = rels->u.list.items[i];
		char id[NODE_ID_MAX + 1], st[16];
		const struct bencode_node *until = get_typed(x, "embargo_until", BENCODE_INT);
		enum catalog_state s;
		if (str_field(x, "id", id, sizeof(id)) < 0 ||
		    str_field(x, "state", st, sizeof(st)) < 0 || !until ||
		    catalog_state_parse(st, &s) < 0 || store_check_id(id, NULL) < 0) {
			rc = seed_err_set(err, -EBADMSG, "%s: release entry %zu is malformed",
					  n->state_path, i);
			break;
		}
		struct node_release *r = find_rel(n, id);
		if (!r && !(r = add_rel(n, id))) {
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		r->state = s;
		r->embargo_until = until->u.i;
		/* A release retired by a build that did not record when counts its
		 * retention from this start (written back at the next commit). */
		const struct bencode_node *ret = get_typed(x, "retired_at", BENCODE_INT);
		r->retired_at = s != CATALOG_RETIRED ? 0 : ret ? ret->u.i : (int64_t)time(NULL);
	}
	for (size_t i = 0; rc == 0 && i < tens->u.list.n; i++) {
		char what[48];
		struct tenant t;
		snprintf(what, sizeof(what), "tenant entry %zu", i);
		unsigned repaired = 0;
		rc = catalog_decode_tenant(tens->u.list.items[i], buf, fmt, what, &t, &repaired,
					   err);
		if (rc == 0 && repaired)
			log_warn(&lm,
				 "%s: %s \"%s\": %u field(s) brought to today's rules (control "
				 "characters in the name made '?', trackers that are not printable "
				 "ASCII or repeat dropped); written back at the next change",
				 n->state_path, what, t.id, repaired);
		if (rc == 0 && t.max_peers > TENANT_MAX_PEERS) {
			/* the API's bound, tighter than the catalog's */
			rc = seed_err_set(err, -ERANGE, "%s \"%s\": max_peers %u, more than %u",
					  what, t.id, t.max_peers, TENANT_MAX_PEERS);
			tenant_clear(&t);
		}
		if (rc < 0) {
			seed_err_prefix(err, "%s: ", n->state_path);
			break;
		}
		t.from_api = true;
		void *p = realloc(n->api, (n->n_api + 1) * sizeof(*n->api));
		if (!p) {
			tenant_clear(&t);
			rc = seed_err_set(err, -ENOMEM, "out of memory");
			break;
		}
		n->api = p;
		n->api[n->n_api++] = t;
	}
	bencode_free(doc);
	free(buf);
	return rc;
}

/* The releases whose state is worth keeping: every one that has left
 * staged, and staged ones still in the store. */
static void put_releases(struct bencode_buf *b, const struct node *n)
{
	bencode_begin_list(b);
	for (size_t i = 0; i < n->n_r; i++) {
		const struct node_release *r = &n->r[i];
		if (!r->in_store && r->state == CATALOG_STAGED)
			continue;
		bencode_begin_dict(b);
		bencode_put_ckey(b, "embargo_until");
		bencode_put_int(b, r->embargo_until);
		bencode_put_ckey(b, "id");
		bencode_put_cstr(b, r->id);
		if (r->state == CATALOG_RETIRED) {
			bencode_put_ckey(b, "retired_at");
			bencode_put_int(b, r->retired_at);
		}
		bencode_put_ckey(b, "state");
		bencode_put_cstr(b, catalog_state_name(r->state));
		bencode_end(b);
	}
	bencode_end(b);
}

static int save_state(struct node *n, struct seed_err *err)
{
	struct bencode_buf b;
	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	bencode_put_ckey(&b, "releases");
	put_releases(&b, n);
	bencode_put_ckey(&b, "tenants");
	catalog_encode_tenants(&b, n->api, n->n_api);
	bencode_put_ckey(&b, "version");
	bencode_put_int(&b, STATE_VERSION);
	bencode_end(&b);
	int rc = bencode_buf_finish(&b, err);
	/* 0600: an API tenant's tracker URLs may hold passkeys, and the data
	 * plane may read the store this file sits in */
	if (rc == 0)
		rc = fsu_write_atomic(n->state_path, b.p, b.len, 0600, err);
	bencode_buf_release(&b);
	return rc;
}

/* ---- store ---- */

/*
 * The info-hash of a hybrid release's v1 companion torrent (--also-v1),
 * which the manifest does not hold. *h: a hash context for the rescan, made
 * on first use.
 */
static void companion_hash(struct node_release *r, const struct store_release *sr,
			   struct hash_ctx **h)
{
	if (!sr->torrent_v1)
		return;
	struct bencode_doc *doc = NULL;
	if (bencode_parse(sr->torrent_v1, sr->torrent_v1 + sr->torrent_v1_len, NULL, &doc, NULL) <
	    0)
		return;
	const struct bencode_node *info = get_typed(bencode_root(doc), "info", BENCODE_DICT);
	if (info && (*h || hash_ctx_create(HASH_IMPL_OPENSSL, h, NULL) == 0) &&
	    metainfo_info_hash(*h, info->raw, info->raw_len, r->ih_companion, NULL) == 0)
		r->has_companion = 1;
	bencode_free(doc);
}

int node_rescan(struct node *n, struct seed_err *err)
{
	struct store *st = NULL;
	struct hash_ctx *h = NULL;
	char **ids = NULL;
	size_t k = 0;
	int rc = store_open_list(n->conf->node.store, &st, &ids, &k, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->n_r; i++) {
		n->r[i].in_store = 0;
		n->r[i].listed = -n->r[i].listed; /* -1: listed before, not yet again */
	}
	for (size_t i = 0; i < k; i++) {
		struct node_release *r = find_rel(n, ids[i]);
		if (!r) {
			if (!(r = add_rel(n, ids[i]))) {
				rc = seed_err_set(err, -ENOMEM, "out of memory");
				break;
			}
			n->dirty = true;
		}
		r->listed = 1;
		struct store_release *sr = NULL;
		struct seed_err e;
		seed_err_clear(&e);
		if (store_release_load(st, ids[i], &sr, &e) < 0) {
			/* a damaged manifest is not served; the rest of the store is */
			log_warn(&lm, "release %s: %s; not served", ids[i], e.msg);
			continue;
		}
		r->in_store = 1;
		r->has_v1 = sr->has_v1;
		r->has_v2 = sr->has_v2;
		memcpy(r->ih_v1, sr->ih_v1, 20);
		memcpy(r->ih_v2, sr->ih_v2, 32);
		r->bytes_total = sr->total_length;
		r->files = (uint32_t)sr->n_files;
		if (sr->tenant && strlen(sr->tenant) < sizeof(r->tenant))
			snprintf(r->tenant, sizeof(r->tenant), "%s", sr->tenant);
		companion_hash(r, sr, &h);
		store_release_free(sr);
	}
	/* A release that left the store, loadable or not, is a new generation:
	 * the data plane rescans the store at each one, so what it reports as
	 * unloadable goes with the release. */
	for (size_t i = 0; i < n->n_r; i++)
		if (n->r[i].listed < 0) {
			n->r[i].listed = 0;
			n->dirty = true;
		}
	hash_ctx_destroy(h);
	store_free_list(ids, k);
	store_close(st);
	return rc;
}

/* ---- open / close ---- */

int node_open(const char *config_path, struct node **out, struct seed_err *err)
{
	*out = NULL;
	struct node *n = calloc(1, sizeof(*n));
	if (!n || !(n->config_path = strdup(config_path))) {
		free(n);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	int rc = seedconf_load_file(config_path, &n->conf, err);
	if (rc == 0) {
		n->state_path = fsu_join(n->conf->node.store, "control.state");
		n->catalog_path = fsu_join(n->conf->node.run_dir, "catalog");
		if (!n->state_path || !n->catalog_path)
			rc = seed_err_set(err, -ENOMEM, "out of memory");
	}
	if (rc == 0)
		rc = load_state(n, err);
	if (rc == 0 && merge_tenants(n, n->conf) < 0)
		rc = seed_err_set(err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = node_rescan(n, err);
	if (rc == 0)
		rc = fsu_mkdir_p(n->conf->node.run_dir, 0755, err);
	if (rc == 0) {
		/* generations continue where the last run stopped: the data plane
		 * ignores a catalog older than the one it serves */
		uint64_t g = 0;
		if (catalog_peek_generation(n->catalog_path, &g, NULL) == 0)
			n->generation = g;
	}
	if (rc < 0) {
		node_close(n);
		return rc;
	}
	n->dirty = true;
	*out = n;
	return 0;
}

void node_close(struct node *n)
{
	if (!n)
		return;
	tenant_array_free(n->t, n->n_t);
	tenant_array_free(n->api, n->n_api);
	seedconf_free(n->conf);
	MEM_FREE_ALL(n->r, n->r_idx.slot, n->t_idx.slot, n->state_path, n->catalog_path,
		     n->config_path, n);
}

int node_reload_config(struct node *n, struct seed_err *err)
{
	struct seedconf *c = NULL;
	int rc = seedconf_load_file(n->config_path, &c, err);
	if (rc < 0)
		return rc;
	if (strcmp(c->node.store, n->conf->node.store) ||
	    strcmp(c->node.run_dir, n->conf->node.run_dir) ||
	    strcmp(c->node.api_socket, n->conf->node.api_socket) ||
	    strcmp(c->node.status_listen, n->conf->node.status_listen)) {
		seedconf_free(c);
		return seed_err_set(err, -EINVAL,
				    "%s: node.store, node.run_dir, node.api_socket and "
				    "node.status_listen need a restart; the running config stays",
				    n->config_path);
	}
	if (merge_tenants(n, c) < 0) {
		seedconf_free(c);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	seedconf_free(n->conf);
	n->conf = c;
	n->dirty = true;
	return 0;
}

/* ---- accessors ---- */

const struct seedconf_node *node_conf(const struct node *n)
{
	return &n->conf->node;
}

const char *node_config_path(const struct node *n)
{
	return n->config_path;
}

size_t node_n_tenants(const struct node *n)
{
	return n->n_t;
}

const struct tenant *node_tenant_at(const struct node *n, size_t i)
{
	return i < n->n_t ? &n->t[i] : NULL;
}

const struct tenant *node_tenant_find(const struct node *n, const char *id)
{
	size_t i = idx_find(&n->t_idx, id, tenant_id_at, n->t);
	return i == SIZE_MAX ? NULL : &n->t[i];
}

size_t node_n_releases(const struct node *n)
{
	return n->n_r;
}

const struct node_release *node_release_at(const struct node *n, size_t i)
{
	return i < n->n_r ? &n->r[i] : NULL;
}

const struct node_release *node_release_find(const struct node *n, const char *id)
{
	return find_rel((struct node *)n, id);
}

bool node_release_servable(const struct node *n, const struct node_release *r, int64_t now)
{
	if (!r->in_store || !node_tenant_find(n, r->tenant))
		return false;
	return r->state == CATALOG_LIVE ||
	       (r->state == CATALOG_EMBARGOED && now >= r->embargo_until);
}

bool node_dirty(const struct node *n)
{
	return n->dirty;
}

uint64_t node_generation(const struct node *n)
{
	return n->generation;
}

const char *node_catalog_path(const struct node *n)
{
	return n->catalog_path;
}

/* ---- changes ---- */

/* The release id may change state: in the store (-ENOENT), not retired,
 * retiring being final (-EPERM). */
static int changeable(struct node *n, const char *id, struct node_release **out_r,
		      struct seed_err *err)
{
	struct node_release *r = find_rel(n, id);
	if (!r || !r->in_store)
		return seed_err_set(err, -ENOENT, "release %s is not in the store", id);
	if (r->state == CATALOG_RETIRED)
		return seed_err_set(err, -EPERM, "release %s is retired: retiring is final", id);
	*out_r = r;
	return 0;
}

int node_release_publish(struct node *n, const char *id, int64_t now, bool skip_default_embargo,
			 struct seed_err *err)
{
	struct node_release *r = NULL;
	int rc = changeable(n, id, &r, err);
	if (rc < 0)
		return rc;
	const struct tenant *t = node_tenant_find(n, r->tenant);
	if (!t)
		return seed_err_set(err, -EPERM,
				    "release %s belongs to tenant '%s', which is not configured",
				    id, r->tenant);
	if (r->state == CATALOG_EMBARGOED && !skip_default_embargo && now < r->embargo_until)
		return 0; /* already waiting for its time: publish does not shorten it */
	if (t->embargo_s > 0 && !skip_default_embargo && r->state == CATALOG_STAGED) {
		r->state = CATALOG_EMBARGOED;
		r->embargo_until = now + t->embargo_s;
	} else {
		r->state = CATALOG_LIVE;
		r->embargo_until = 0;
	}
	n->dirty = true;
	return 0;
}

/*
 * Embargo (until, > 0), pause and retire: the moves that take no more than
 * changeable() and, for pause, a release once published. A pause or a
 * retirement keeps embargo_until.
 */
static int move(struct node *n, const char *id, enum catalog_state to, int64_t until,
		struct seed_err *err)
{
	struct node_release *r = NULL;
	int rc = changeable(n, id, &r, err);
	if (rc < 0)
		return rc;
	if (to == CATALOG_EMBARGOED && until <= 0)
		return seed_err_set(err, -EINVAL, "embargo time must be after 1970");
	if (to == CATALOG_PAUSED && r->state == CATALOG_STAGED)
		return seed_err_set(err, -EPERM, "release %s was never published: nothing to pause",
				    id);
	if (to == CATALOG_EMBARGOED)
		r->embargo_until = until;
	r->state = to;
	n->dirty = true;
	return 0;
}

int node_release_embargo(struct node *n, const char *id, int64_t until, struct seed_err *err)
{
	return move(n, id, CATALOG_EMBARGOED, until, err);
}

int node_release_pause(struct node *n, const char *id, struct seed_err *err)
{
	return move(n, id, CATALOG_PAUSED, 0, err);
}

int node_release_retire(struct node *n, const char *id, int64_t now, struct seed_err *err)
{
	int rc = move(n, id, CATALOG_RETIRED, 0, err);
	if (rc == 0)
		find_rel(n, id)->retired_at = now;
	return rc;
}

int node_tenant_put(struct node *n, const struct tenant *t, bool must_be_new, struct seed_err *err)
{
	if (must_be_new && node_tenant_find(n, t->id))
		return seed_err_set(err, -EEXIST, "tenant %s exists", t->id);
	size_t i = 0;
	while (i < n->n_api && strcmp(n->api[i].id, t->id))
		i++;
	int rc = catalog_check_tenant(t, err);
	if (rc < 0)
		return rc;
	struct tenant copy;
	if (tenant_copy(&copy, t) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	copy.from_api = true;
	copy.line = 0;
	if (i == n->n_api) {
		void *p = realloc(n->api, (n->n_api + 1) * sizeof(*n->api));
		if (!p) {
			tenant_clear(&copy);
			return seed_err_set(err, -ENOMEM, "out of memory");
		}
		n->api = p;
		n->n_api++;
	} else {
		tenant_clear(&n->api[i]);
	}
	n->api[i] = copy;
	if (merge_tenants(n, n->conf) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	n->dirty = true;
	return 0;
}

/* ---- commit ---- */

int node_commit(struct node *n, int64_t now, struct seed_err *err)
{
	int rc = save_state(n, err);
	if (rc < 0)
		return rc;
	struct catalog *c = NULL;
	rc = catalog_create(n->generation + 1, now, &c, err);
	for (size_t i = 0; rc == 0 && i < n->n_t; i++) {
		/* The data plane never announces: it gets no tracker URLs, so
		 * passkeys stay in this process (and control.state, 0600). */
		struct tenant t = n->t[i];
		t.n_trackers = 0;
		rc = catalog_add_tenant(c, &t, NULL, err);
	}
	for (size_t i = 0; rc == 0 && i < n->n_r; i++) {
		const struct node_release *r = &n->r[i];
		if (!r->in_store)
			continue;
		/* a release whose tenant is not configured is not in the catalog:
		 * the data plane then refuses it as not live */
		const struct tenant *t = node_tenant_find(n, r->tenant);
		if (!t)
			continue;
		rc = catalog_add_release(c, r->id, (uint32_t)(t - n->t), r->state, r->embargo_until,
					 err);
	}
	if (rc == 0)
		rc = catalog_write(n->catalog_path, c, err);
	catalog_free(c);
	if (rc < 0)
		return rc;
	n->generation++;
	n->dirty = false;
	return 0;
}
