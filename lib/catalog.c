/*
 * catalog: see catalog.h for the file format, the invariants and the call
 * order.
 *
 * One struct serves both sides: a builder fills it through catalog_add_*(),
 * and the loader fills it through the very same calls and then freezes it,
 * so every rule is written once and a file can never hold what a builder
 * would refuse. The loader trusts nothing before the header, the length and
 * the checksum check out, and even then decodes against a fixed schema:
 * every key required, no other key accepted, every number range-checked.
 * Errors name the record ("tenant #3", "release #17 \"acme.game.1\""), the
 * key, and the byte offset in the file; untrusted bytes are escaped before
 * they reach a message.
 *
 * Release lookup is an open-addressing table of release indexes, at most
 * half full, keyed by XXH3-64 seeded per catalog from getrandom(), so a
 * crafted file cannot pile every id into one probe chain.
 */
#include "catalog.h"

#include "mem.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

#include "bencode.h"
#include "byteio.h"
#include "fsutil.h"
#include "hex.h"
#include "store.h"
#include "utf8.h"

#define OFF_VERSION 8u
#define OFF_FLAGS   12u
#define OFF_GEN	    16u
#define OFF_LEN	    24u
#define OFF_SUM	    32u
#define SUM_LEN	    16u

/* Nesting of the payload: root dict > list > record dict > allow list. */
#define PAYLOAD_MAX_DEPTH 4
/* A full catalog has about 600k values (1024 tenants of 256 allow entries,
 * 65536 releases of 4 fields); anything far past that is not ours. */
#define PAYLOAD_MAX_NODES (1u << 20)

#define SHOW_MAX 256 /* room for a whole release id, escaped */

struct catalog {
	uint64_t generation;
	int64_t written_at;
	bool frozen; /* loaded: immutable, add_*() refuse */

	struct tenant *tenants;
	uint32_t n_tenants;
	size_t cap_tenants;

	struct catalog_release *releases;
	uint64_t *rel_hash; /* parallel to releases: id hash, checked before memcmp */
	uint32_t n_releases;
	size_t cap_releases, cap_rel_hash;

	uint32_t *slots;    /* release index + 1; 0 = empty */
	size_t slot_mask;   /* slots has slot_mask + 1 entries, a power of two */
	uint64_t hash_seed; /* per catalog, so collisions cannot be precomputed */
};

static const char *const state_names[CATALOG_N_STATES] = {
	[CATALOG_STAGED] = "staged", [CATALOG_EMBARGOED] = "embargoed", [CATALOG_LIVE] = "live",
	[CATALOG_PAUSED] = "paused", [CATALOG_RETIRED] = "retired",
};

/* ---- small helpers ---- */

/*
 * Renders n untrusted bytes for a message: printable ASCII as is, anything
 * else (and '"', '\\') as \xNN, so a hostile id cannot inject terminal
 * escapes or fake quoting into the operator's log. Cut with "..." when out
 * (SHOW_MAX bytes) is full.
 */
static const char *show(char *out, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];
		int plain = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\';
		if (o + (plain ? 1 : 4) + 4 > SHOW_MAX) {
			memcpy(out + o, "...", 4);
			return out;
		}
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			hex_encode(&ch, 1, out + o);
			o += 2;
		}
	}
	out[o] = '\0';
	return out;
}

static const char *show_cstr(char *out, const char *s)
{
	return show(out, s, strlen(s)); /* show() cuts what does not fit */
}

/* ---- states ---- */

const char *catalog_state_name(enum catalog_state s)
{
	if ((unsigned)s >= CATALOG_N_STATES)
		return "?";
	return state_names[s];
}

static int state_parse_n(const void *p, size_t n, enum catalog_state *out)
{
	for (unsigned i = 0; i < CATALOG_N_STATES; i++) {
		if (strlen(state_names[i]) == n && !memcmp(state_names[i], p, n)) {
			*out = (enum catalog_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int catalog_state_parse(const char *name, enum catalog_state *out_state)
{
	if (!name || !out_state)
		return -EINVAL;
	return state_parse_n(name, strlen(name), out_state);
}

/* ---- validation shared by builder and loader ---- */

static int check_tenant_id(const char *id, struct seed_err *err)
{
	char sh[SHOW_MAX];
	size_t n = strnlen(id, TENANT_ID_MAX + 1);

	if (tenant_id_valid(id))
		return 0;
	if (n == 0 || n > TENANT_ID_MAX)
		return seed_err_set(err, -EINVAL, "tenant id \"%s\": must be 1 to %u characters",
				    show(sh, id, n), TENANT_ID_MAX);
	/* A release id may not start with '-', and release ids start with the
	 * tenant id: such a tenant could never own a release. */
	if (id[0] == '-')
		return seed_err_set(err, -EINVAL, "tenant id \"%s\": must not start with '-'",
				    show(sh, id, n));
	size_t i = strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-");
	return seed_err_set(err, -EINVAL, "tenant id \"%s\": character %zu is not one of a-z 0-9 -",
			    show(sh, id, n), i + 1);
}

/* Everything of a tenant but its id, allow-list and limits (checked by the
 * caller): name, trackers, embargo. */
static int check_tenant_text(const struct tenant *t, struct seed_err *err)
{
	char sh[SHOW_MAX];
	size_t n = strnlen(t->name, TENANT_NAME_MAX + 1);

	if (n > TENANT_NAME_MAX || !utf8_printable(t->name))
		return seed_err_set(err, -EINVAL,
				    "name \"%s\": must be 1 to %u bytes of printable UTF-8",
				    show(sh, t->name, n), TENANT_NAME_MAX);
	if (t->embargo_s < 0)
		return seed_err_set(err, -ERANGE, "embargo_s %lld is negative",
				    (long long)t->embargo_s);
	if (t->n_trackers > TENANT_MAX_TRACKERS)
		return seed_err_set(err, -E2BIG, "%u trackers, more than %u", t->n_trackers,
				    TENANT_MAX_TRACKERS);
	for (unsigned i = 0; i < t->n_trackers; i++) {
		const char *u = t->trackers[i];
		size_t len = u ? strnlen(u, TENANT_URL_MAX + 1) : 0;
		if (len == 0 || len > TENANT_URL_MAX)
			return seed_err_set(err, -EINVAL, "tracker #%u: must be 1 to %u bytes", i,
					    TENANT_URL_MAX);
		for (size_t k = 0; k < len; k++)
			if ((uint8_t)u[k] < 0x21 || (uint8_t)u[k] > 0x7e)
				return seed_err_set(err, -EINVAL,
						    "tracker #%u \"%s\": byte %zu is not "
						    "printable ASCII",
						    i, show(sh, u, len), k + 1);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(t->trackers[j], u))
				return seed_err_set(err, -EINVAL,
						    "tracker #%u \"%s\" is also tracker #%u", i,
						    show(sh, u, len), j);
	}
	return 0;
}

/*
 * Release ids are "tenant.name.version" (ingest_make_id): the store's id
 * rules, plus the tenant part must be the tenant the catalog files the
 * release under, so a catalog cannot hand one tenant's release to another
 * tenant's caps and allow-list.
 */
static int check_release_id(const char *id, size_t n, const struct tenant *t, struct seed_err *err)
{
	char sh[SHOW_MAX];

	for (size_t i = 0; i < n; i++) {
		/* store_check_id() quotes the id verbatim; keep control bytes out. */
		if ((uint8_t)id[i] < 0x21 || (uint8_t)id[i] > 0x7e)
			return seed_err_set(err, -EINVAL,
					    "release id \"%s\": byte %zu (0x%02x) is not printable",
					    show(sh, id, n), i + 1, (uint8_t)id[i]);
	}
	int rc = store_check_id(id, err);
	if (rc < 0)
		return rc;
	size_t tl = strlen(t->id);
	const char *dot2 = n > tl + 1 ? memchr(id + tl + 1, '.', n - tl - 1) : NULL;
	if (n <= tl + 1 || memcmp(id, t->id, tl) || id[tl] != '.' || !dot2 || dot2 == id + tl + 1 ||
	    dot2 == id + n - 1)
		return seed_err_set(err, -EINVAL,
				    "release id \"%s\" is not \"%s.<name>.<version>\" for its "
				    "tenant \"%s\"",
				    id, t->id, t->id);
	return 0;
}

/* ---- building ---- */

static uint64_t pick_seed(const struct catalog *c)
{
	uint64_t s = 0;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	/* No entropy yet (early boot): still differs per process and catalog. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)(uintptr_t)c ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
}

int catalog_create(uint64_t generation, int64_t written_at, struct catalog **out_cat,
		   struct seed_err *err)
{
	if (!out_cat)
		return seed_err_set(err, -EINVAL, "catalog: no output");
	*out_cat = NULL;
	if (generation == 0)
		return seed_err_set(err, -ERANGE, "catalog generation must be at least 1");
	if (written_at < 0)
		return seed_err_set(err, -ERANGE, "catalog written_at %lld is negative",
				    (long long)written_at);
	struct catalog *c = calloc(1, sizeof(*c));
	if (!c)
		return seed_err_set(err, -ENOMEM, "out of memory");
	c->generation = generation;
	c->written_at = written_at;
	c->hash_seed = pick_seed(c);
	*out_cat = c;
	return 0;
}

int catalog_check_tenant(const struct tenant *t, struct seed_err *err)
{
	struct seed_err local;
	int rc;

	if (!t)
		return seed_err_set(err, -EINVAL, "catalog_check_tenant: no tenant");
	if ((rc = check_tenant_id(t->id, err)) < 0)
		return rc;
	if (t->bandwidth > (uint64_t)INT64_MAX)
		return seed_err_set(err, -ERANGE, "tenant %s: bandwidth %llu B/s is out of range",
				    t->id, (unsigned long long)t->bandwidth);
	if (t->seeding > TENANT_SEEDING_MAX)
		return seed_err_set(err, -ERANGE, "tenant %s: seeding %u is out of range", t->id,
				    t->seeding);
	if (t->allow.n > CATALOG_MAX_ALLOW)
		return seed_err_set(err, -E2BIG, "tenant %s: %u allow entries, more than %u", t->id,
				    t->allow.n, CATALOG_MAX_ALLOW);
	seed_err_clear(&local);
	for (uint32_t i = 0; i < t->allow.n; i++) {
		if ((rc = cidr_check(&t->allow.v[i], &local)) < 0)
			return seed_err_set(err, rc, "tenant %s: allow entry #%u: %s", t->id, i,
					    local.msg);
	}
	if ((rc = check_tenant_text(t, &local)) < 0)
		return seed_err_set(err, rc, "tenant %s: %s", t->id, local.msg);
	return 0;
}

/* Whether c may take one more record of a kind it holds n of (at most max):
 * -EPERM when loaded (immutable), -E2BIG at the limit. */
static int room_for(const struct catalog *c, uint32_t n, uint32_t max, const char *what,
		    struct seed_err *err)
{
	if (c->frozen)
		return seed_err_set(err, -EPERM,
				    "catalog generation %llu is loaded, hence immutable",
				    (unsigned long long)c->generation);
	if (n >= max)
		return seed_err_set(err, -E2BIG, "more than %u %s", max, what);
	return 0;
}

int catalog_add_tenant(struct catalog *c, const struct tenant *t, uint32_t *out_index,
		       struct seed_err *err)
{
	int rc;

	if (!c || !t)
		return seed_err_set(err, -EINVAL, "catalog_add_tenant: missing argument");
	if ((rc = room_for(c, c->n_tenants, CATALOG_MAX_TENANTS, "tenants", err)) < 0)
		return rc;
	if ((rc = catalog_check_tenant(t, err)) < 0)
		return rc;
	for (uint32_t i = 0; i < c->n_tenants; i++) {
		if (!strcmp(c->tenants[i].id, t->id))
			return seed_err_set(err, -EEXIST, "duplicate tenant id \"%s\" (tenant #%u)",
					    t->id, i);
	}

	if (mem_grow((void **)&c->tenants, &c->cap_tenants, (size_t)c->n_tenants + 1,
		     sizeof(*c->tenants), 8) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	struct tenant *nt = &c->tenants[c->n_tenants];
	if (tenant_copy(nt, t) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	if (!nt->name[0])
		memcpy(nt->name, nt->id, sizeof(nt->id));
	nt->line = 0;
	nt->from_api = false;
	if (out_index)
		*out_index = c->n_tenants;
	c->n_tenants++;
	return 0;
}

static uint64_t id_hash(const struct catalog *c, const void *id, size_t n)
{
	return XXH3_64bits_withSeed(id, n, c->hash_seed);
}

static void slot_put(uint32_t *slots, size_t mask, uint64_t h, uint32_t idx)
{
	size_t i = (size_t)h & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = idx + 1;
}

/* Makes room for `need` releases at a load factor of at most 1/2. */
static int index_reserve(struct catalog *c, size_t need)
{
	size_t cap = c->slots ? c->slot_mask + 1 : 0;
	if (need * 2 <= cap)
		return 0;
	size_t ncap = cap ? cap : 16;
	while (ncap < need * 2)
		ncap *= 2;
	uint32_t *s = calloc(ncap, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n_releases; i++)
		slot_put(s, ncap - 1, c->rel_hash[i], i);
	free(c->slots);
	c->slots = s;
	c->slot_mask = ncap - 1;
	return 0;
}

int catalog_add_release(struct catalog *c, const char *id, uint32_t tenant,
			enum catalog_state state, int64_t embargo_until, struct seed_err *err)
{
	char sh[SHOW_MAX];
	int rc;

	if (!c || !id)
		return seed_err_set(err, -EINVAL, "catalog_add_release: missing argument");
	if ((rc = room_for(c, c->n_releases, CATALOG_MAX_RELEASES, "releases", err)) < 0)
		return rc;
	if (tenant >= c->n_tenants)
		return seed_err_set(err, -ENOENT, "release %s: no tenant #%u (the catalog has %u)",
				    show_cstr(sh, id), tenant, c->n_tenants);
	if ((unsigned)state >= CATALOG_N_STATES)
		return seed_err_set(err, -EINVAL, "release %s: state %d is not a catalog state",
				    show_cstr(sh, id), (int)state);
	if (embargo_until < 0)
		return seed_err_set(err, -ERANGE, "release %s: embargo_until %lld is negative",
				    show_cstr(sh, id), (long long)embargo_until);
	size_t n = strnlen(id, STORE_MAX_ID + 1);
	if (n > STORE_MAX_ID)
		return seed_err_set(err, -EINVAL, "release id \"%s\": must be 1 to %d characters",
				    show_cstr(sh, id), STORE_MAX_ID);
	if ((rc = check_release_id(id, n, &c->tenants[tenant], err)) < 0)
		return rc;
	if (catalog_release_findn(c, id, n))
		return seed_err_set(err, -EEXIST, "duplicate release id \"%s\"", id);

	size_t need = (size_t)c->n_releases + 1;
	if (mem_grow((void **)&c->releases, &c->cap_releases, need, sizeof(*c->releases), 16) < 0 ||
	    mem_grow((void **)&c->rel_hash, &c->cap_rel_hash, need, sizeof(*c->rel_hash), 16) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	if (index_reserve(c, (size_t)c->n_releases + 1) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	char *copy = strndup(id, n);
	if (!copy)
		return seed_err_set(err, -ENOMEM, "out of memory");

	uint32_t i = c->n_releases;
	c->releases[i] = (struct catalog_release){
		.id = copy,
		.id_len = n,
		.tenant = tenant,
		.state = state,
		.embargo_until = embargo_until,
	};
	c->rel_hash[i] = id_hash(c, copy, n);
	slot_put(c->slots, c->slot_mask, c->rel_hash[i], i);
	c->n_releases++;
	return 0;
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n_tenants; i++)
		tenant_clear(&c->tenants[i]);
	for (uint32_t i = 0; i < c->n_releases; i++)
		free((void *)c->releases[i].id);
	free(c->tenants);
	free(c->releases);
	free(c->rel_hash);
	free(c->slots);
	free(c);
}

/* ---- encoding and writing ---- */

/* XXH3-128 over header bytes [0, 32) then the payload, canonical form. */
static int checksum(const uint8_t *hdr, const uint8_t *payload, size_t len, uint8_t out[SUM_LEN])
{
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, hdr, OFF_SUM);
	XXH3_128bits_update(st, payload, len);
	XXH128_hash_t h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	XXH128_canonical_t cn;
	XXH128_canonicalFromHash(&cn, h);
	memcpy(out, cn.digest, SUM_LEN);
	return 0;
}

static void put_kv_int(struct bencode_buf *b, const char *k, int64_t v)
{
	bencode_put_ckey(b, k);
	bencode_put_int(b, v);
}

void catalog_encode_tenant(struct bencode_buf *b, const struct tenant *t)
{
	/* Keys in byte order, as canonical bencode requires. */
	bencode_begin_dict(b);
	bencode_put_ckey(b, "allow");
	bencode_begin_list(b);
	for (uint32_t k = 0; k < t->allow.n; k++) {
		const struct cidr *a = &t->allow.v[k];
		uint8_t e[17];
		size_t alen = a->family == AF_INET ? 4 : 16;
		e[0] = a->prefix;
		memcpy(e + 1, a->addr, alen);
		bencode_put_str(b, e, 1 + alen);
	}
	bencode_end(b);
	put_kv_int(b, "bandwidth", (int64_t)t->bandwidth);
	put_kv_int(b, "embargo_s", t->embargo_s);
	bencode_put_ckey(b, "id");
	bencode_put_cstr(b, t->id);
	put_kv_int(b, "max_peers", t->max_peers);
	bencode_put_ckey(b, "name");
	bencode_put_cstr(b, t->name[0] ? t->name : t->id);
	if (t->seeding)
		put_kv_int(b, "seeding", t->seeding);
	bencode_put_ckey(b, "trackers");
	bencode_begin_list(b);
	for (unsigned k = 0; k < t->n_trackers; k++)
		bencode_put_cstr(b, t->trackers[k]);
	bencode_end(b);
	bencode_end(b);
}

void catalog_encode_tenants(struct bencode_buf *b, const struct tenant *v, size_t n)
{
	bencode_begin_list(b);
	for (size_t i = 0; i < n; i++)
		catalog_encode_tenant(b, &v[i]);
	bencode_end(b);
}

int catalog_encode(const struct catalog *c, uint8_t **out_buf, size_t *out_len,
		   struct seed_err *err)
{
	struct bencode_buf b;
	int rc;

	if (!c || !out_buf || !out_len)
		return seed_err_set(err, -EINVAL, "catalog_encode: missing argument");
	*out_buf = NULL;
	*out_len = 0;

	/* Keys in byte order, as canonical bencode requires. */
	bencode_buf_init(&b);
	bencode_begin_dict(&b);
	bencode_put_ckey(&b, "releases");
	bencode_begin_list(&b);
	for (uint32_t i = 0; i < c->n_releases; i++) {
		const struct catalog_release *r = &c->releases[i];
		bencode_begin_dict(&b);
		put_kv_int(&b, "embargo_until", r->embargo_until);
		bencode_put_ckey(&b, "id");
		bencode_put_str(&b, r->id, r->id_len);
		bencode_put_ckey(&b, "state");
		bencode_put_cstr(&b, catalog_state_name(r->state));
		put_kv_int(&b, "tenant", r->tenant);
		bencode_end(&b);
	}
	bencode_end(&b);
	bencode_put_ckey(&b, "tenants");
	catalog_encode_tenants(&b, c->tenants, c->n_tenants);
	put_kv_int(&b, "written_at", c->written_at);
	bencode_end(&b);
	if ((rc = bencode_buf_finish(&b, err)) < 0)
		goto out;
	if (b.len > CATALOG_MAX_FILE - CATALOG_HEADER_LEN) {
		rc = seed_err_set(err, -EFBIG,
				  "catalog payload of %zu bytes exceeds the %u allowed", b.len,
				  CATALOG_MAX_FILE - CATALOG_HEADER_LEN);
		goto out;
	}

	size_t total = CATALOG_HEADER_LEN + b.len;
	uint8_t *file = fsu_image_new(CATALOG_MAGIC, CATALOG_FORMAT_VERSION, CATALOG_HEADER_LEN,
				      b.len, 0, err);
	if (!file) {
		rc = -ENOMEM;
		goto out;
	}
	byteio_put_le64(file + OFF_GEN, c->generation);
	byteio_put_le64(file + OFF_LEN, b.len);
	memcpy(file + CATALOG_HEADER_LEN, b.p, b.len);
	if (checksum(file, file + CATALOG_HEADER_LEN, b.len, file + OFF_SUM) < 0) {
		free(file);
		rc = seed_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*out_buf = file;
	*out_len = total;
out:
	bencode_buf_release(&b);
	return rc;
}

int catalog_write(const char *path, const struct catalog *c, struct seed_err *err)
{
	struct seed_err peek;
	uint64_t on_disk = 0;
	uint8_t *file;
	size_t len;
	int rc;

	if (!path || !c)
		return seed_err_set(err, -EINVAL, "catalog_write: missing argument");
	seed_err_clear(&peek);
	rc = catalog_peek_generation(path, &on_disk, &peek);
	if (rc == 0 && on_disk >= c->generation)
		return seed_err_set(
			err, -ESTALE,
			"%s: holds catalog generation %llu; refusing to write generation "
			"%llu (generations only go up)",
			path, (unsigned long long)on_disk, (unsigned long long)c->generation);
	if (rc == -ENOMEM)
		return seed_err_set(err, rc, "out of memory");
	/* Missing or not a valid catalog: replace it (see catalog.h). */
	if ((rc = catalog_encode(c, &file, &len, err)) < 0)
		return rc;
	rc = fsu_write_twice(path, file, len, 0644, err);
	free(file);
	return rc;
}

/* ---- parsing ---- */

/*
 * Checks everything the header promises before the payload is looked at:
 * size, magic, version, flags, length, checksum, generation. On success
 * *out_gen is the generation, *out_version (may be NULL) the format version
 * and the payload is [48, len).
 */
static int check_header(const uint8_t *buf, size_t len, uint64_t *out_gen, uint32_t *out_version,
			struct seed_err *err)
{
	uint8_t sum[SUM_LEN];

	if (len > CATALOG_MAX_FILE)
		return seed_err_set(err, -EFBIG, "catalog of %zu bytes exceeds the %u allowed", len,
				    CATALOG_MAX_FILE);
	if (len < CATALOG_HEADER_LEN)
		return seed_err_set_at(
			err, -EBADMSG, len,
			"catalog truncated: %zu bytes, shorter than the %u-byte header", len,
			CATALOG_HEADER_LEN);
	if (memcmp(buf, CATALOG_MAGIC, 8))
		return seed_err_set_at(err, -EBADMSG, 0, "not a catalog: bad magic (want \"%s\")",
				       CATALOG_MAGIC);
	/* Before the checksum: a later version may checksum differently. */
	uint32_t version = byteio_le32(buf + OFF_VERSION);
	if (version != CATALOG_FORMAT_VERSION && version != CATALOG_FORMAT_VERSION_V1)
		return seed_err_set_at(
			err, -EPROTO, OFF_VERSION,
			"unsupported catalog format version %u (this build reads %u and %u)",
			version, CATALOG_FORMAT_VERSION_V1, CATALOG_FORMAT_VERSION);
	uint32_t flags = byteio_le32(buf + OFF_FLAGS);
	if (flags)
		return seed_err_set_at(err, -EBADMSG, OFF_FLAGS, "unknown catalog flags 0x%x",
				       flags);
	uint64_t plen = byteio_le64(buf + OFF_LEN);
	size_t have = len - CATALOG_HEADER_LEN;
	if (plen > have)
		return seed_err_set_at(
			err, -EBADMSG, len,
			"catalog truncated: header says %llu payload bytes, %zu follow",
			(unsigned long long)plen, have);
	if (plen < have)
		return seed_err_set_at(err, -EBADMSG, CATALOG_HEADER_LEN + plen,
				       "catalog payload length mismatch: header says %llu bytes, "
				       "%zu follow",
				       (unsigned long long)plen, have);
	if (checksum(buf, buf + CATALOG_HEADER_LEN, have, sum) < 0)
		return seed_err_set(err, -ENOMEM, "out of memory");
	if (memcmp(sum, buf + OFF_SUM, SUM_LEN))
		return seed_err_set_at(err, -EBADMSG, OFF_SUM,
				       "catalog checksum mismatch: the file is corrupt");
	uint64_t gen = byteio_le64(buf + OFF_GEN);
	if (gen == 0)
		return seed_err_set_at(err, -ERANGE, OFF_GEN,
				       "catalog generation 0 (generations start at 1)");
	*out_gen = gen;
	if (out_version)
		*out_version = version;
	return 0;
}

/* Decoding state: the file, for offsets in messages, and its version. */
struct pctx {
	const uint8_t *file;
	uint32_t version;
	struct seed_err *err;
};

static uint64_t off_of(const struct pctx *px, const void *p)
{
	return (uint64_t)((const uint8_t *)p - px->file);
}

struct field {
	const char *key;
	enum bencode_type type;
	bool optional; /* may be absent (written only when not its default) */
};

static const char *type_name(enum bencode_type t)
{
	switch (t) {
	case BENCODE_INT: return "an integer";
	case BENCODE_STR: return "a string";
	case BENCODE_LIST: return "a list";
	case BENCODE_DICT: return "a dictionary";
	}
	return "?";
}

/*
 * Matches dictionary d against schema: every key must be one of schema's
 * (unknown keys are errors: the format version, not silence, carries
 * extensions), of its type, and none may be missing. out[i] receives the
 * value for schema[i]. `where` names the record in messages.
 */
static int take_fields(const struct pctx *px, const struct bencode_node *d, const char *where,
		       const struct field *schema, size_t n_schema, const struct bencode_node **out)
{
	char sh[SHOW_MAX];

	if (d->type != BENCODE_DICT)
		return seed_err_set_at(px->err, -EBADMSG, off_of(px, d->raw),
				       "%s: is %s, not a dictionary", where, type_name(d->type));
	for (size_t k = 0; k < n_schema; k++)
		out[k] = NULL;
	for (size_t i = 0; i < d->u.dict.n; i++) {
		const struct bencode_kv *kv = &d->u.dict.items[i];
		size_t k;
		for (k = 0; k < n_schema; k++) {
			if (strlen(schema[k].key) == kv->key_len &&
			    !memcmp(schema[k].key, kv->key, kv->key_len))
				break;
		}
		if (k == n_schema)
			return seed_err_set_at(px->err, -EBADMSG, off_of(px, kv->key),
					       "%s: unknown key \"%s\"", where,
					       show(sh, kv->key, kv->key_len));
		if (kv->val->type != schema[k].type)
			return seed_err_set_at(px->err, -EBADMSG, off_of(px, kv->val->raw),
					       "%s: \"%s\" is %s, not %s", where, schema[k].key,
					       type_name(kv->val->type), type_name(schema[k].type));
		out[k] = kv->val;
	}
	for (size_t k = 0; k < n_schema; k++) {
		if (!out[k] && !schema[k].optional)
			return seed_err_set_at(px->err, -EBADMSG, off_of(px, d->raw),
					       "%s: missing key \"%s\"", where, schema[k].key);
	}
	return 0;
}

static int take_int(const struct pctx *px, const struct bencode_node *n, const char *where,
		    const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	if (n->u.i < lo || n->u.i > hi)
		return seed_err_set_at(px->err, -ERANGE, off_of(px, n->raw),
				       "%s: %s %lld is out of range [%lld, %lld]", where, key,
				       (long long)n->u.i, (long long)lo, (long long)hi);
	*out = n->u.i;
	return 0;
}

/*
 * Copies a string value into out (cap bytes incl. NUL) for the C-string
 * builder calls: 1 to cap - 1 bytes, no NUL inside.
 */
static int take_cstr(const struct pctx *px, const struct bencode_node *n, const char *where,
		     const char *key, char *out, size_t cap)
{
	if (n->u.s.len == 0 || n->u.s.len >= cap)
		return seed_err_set_at(px->err, -EBADMSG, off_of(px, n->raw),
				       "%s: %s is %zu bytes, want 1 to %zu", where, key, n->u.s.len,
				       cap - 1);
	if (memchr(n->u.s.p, 0, n->u.s.len))
		return seed_err_set_at(px->err, -EBADMSG, off_of(px, n->raw),
				       "%s: %s contains a NUL byte", where, key);
	memcpy(out, n->u.s.p, n->u.s.len);
	out[n->u.s.len] = '\0';
	return 0;
}

/*
 * Forwards a builder's refusal (from a local report) with record and offset.
 * What is an invalid argument to a builder is a malformed file to a loader.
 */
static int forward(const struct pctx *px, int rc, const struct seed_err *local,
		   const struct bencode_node *at, const char *where)
{
	if (rc == -EINVAL)
		rc = -EBADMSG;
	return seed_err_set_at(px->err, rc, off_of(px, at->raw), "%s: %s", where, local->msg);
}

/*
 * The allow list: entries of a prefix-length byte and 4 or 16 address bytes,
 * or (text) cidr_format()'s text. What cidr_check() refuses is left to the
 * builder's checks.
 */
static int take_allow(const struct pctx *px, const struct bencode_node *al, const char *where,
		      bool text, struct cidr_set *out)
{
	if (al->u.list.n > CATALOG_MAX_ALLOW)
		return seed_err_set_at(px->err, -E2BIG, off_of(px, al->raw),
				       "%s: %zu allow entries, more than %u", where, al->u.list.n,
				       CATALOG_MAX_ALLOW);
	cidr_set_init(out);
	for (size_t k = 0; k < al->u.list.n; k++) {
		const struct bencode_node *e = al->u.list.items[k];
		struct cidr *a = &out->v[out->n++];
		memset(a, 0, sizeof(*a));
		if (text) {
			char s[CIDR_INPUT_MAX + 1];
			struct seed_err local;
			seed_err_clear(&local);
			if (e->type != BENCODE_STR ||
			    take_cstr(px, e, where, "allow entry", s, sizeof(s)) < 0 ||
			    cidr_parse(s, a, &local) < 0)
				return seed_err_set_at(px->err, -EBADMSG, off_of(px, e->raw),
						       "%s: allow entry #%zu is not an address "
						       "prefix%s%s",
						       where, k, local.msg[0] ? ": " : "",
						       local.msg);
			continue;
		}
		if (e->type != BENCODE_STR || (e->u.s.len != 5 && e->u.s.len != 17))
			return seed_err_set_at(px->err, -EBADMSG, off_of(px, e->raw),
					       "%s: allow entry #%zu is not a 5-byte (IPv4) or "
					       "17-byte (IPv6) string",
					       where, k);
		a->family = e->u.s.len == 5 ? AF_INET : AF_INET6;
		a->prefix = e->u.s.p[0];
		memcpy(a->addr, e->u.s.p + 1, e->u.s.len - 1);
	}
	return 0;
}

/* Tracker URLs into t (which then owns them); the builder checks them. */
static int take_trackers(const struct pctx *px, const struct bencode_node *tl, const char *where,
			 struct tenant *t)
{
	if (tl->u.list.n > TENANT_MAX_TRACKERS)
		return seed_err_set_at(px->err, -E2BIG, off_of(px, tl->raw),
				       "%s: %zu trackers, more than %u", where, tl->u.list.n,
				       TENANT_MAX_TRACKERS);
	for (size_t k = 0; k < tl->u.list.n; k++) {
		const struct bencode_node *e = tl->u.list.items[k];
		char *u;
		int rc;
		if (e->type != BENCODE_STR)
			return seed_err_set_at(px->err, -EBADMSG, off_of(px, e->raw),
					       "%s: tracker #%zu is %s, not a string", where, k,
					       type_name(e->type));
		if (!(u = malloc(TENANT_URL_MAX + 1)))
			return seed_err_set(px->err, -ENOMEM, "out of memory");
		t->trackers[t->n_trackers++] = u;
		if ((rc = take_cstr(px, e, where, "tracker", u, TENANT_URL_MAX + 1)) < 0)
			return rc;
	}
	return 0;
}

#define WHERE_MAX (SHOW_MAX + 32)

/*
 * One tenant record into *t (zeroed by the caller, which clears it after a
 * failure too), its structure and ranges: the builder's checks do the rest.
 * V2 and TEXT_ALLOW carry every field of struct tenant but its provenance;
 * V1 only allow, bandwidth, id and max_peers. where (WHERE_MAX bytes)
 * receives what the record is called in messages, `what` and its id.
 */
static int take_tenant(const struct pctx *px, const struct bencode_node *tn,
		       enum catalog_tenant_format fmt, const char *what, char *where,
		       struct tenant *t)
{
	enum { ALLOW, BANDWIDTH, EMBARGO, ID, MAX_PEERS, NAME, SEEDING, TRACKERS, N_KEYS };
	static const struct field schema[N_KEYS] = {
		[ALLOW] = { "allow", BENCODE_LIST },
		[BANDWIDTH] = { "bandwidth", BENCODE_INT },
		[EMBARGO] = { "embargo_s", BENCODE_INT },
		[ID] = { "id", BENCODE_STR },
		[MAX_PEERS] = { "max_peers", BENCODE_INT },
		[NAME] = { "name", BENCODE_STR },
		/* absent: the data plane's --seeding (so records written
		 * before it existed read as they did); 0 is written as absent,
		 * so a present 0 is refused (one encoding per record) */
		[SEEDING] = { "seeding", BENCODE_INT, true },
		[TRACKERS] = { "trackers", BENCODE_LIST },
	};
	static const struct field schema_v1[] = {
		{ "allow", BENCODE_LIST },
		{ "bandwidth", BENCODE_INT },
		{ "id", BENCODE_STR },
		{ "max_peers", BENCODE_INT },
	};
	const struct bencode_node *v[N_KEYS] = { NULL };
	char sh[SHOW_MAX];
	int64_t bw = 0, mp = 0, em = 0, sd = 0;
	int rc;

	snprintf(where, WHERE_MAX, "%s", what);
	if (fmt == CATALOG_TENANT_V1) {
		const struct bencode_node *v1[4];
		if ((rc = take_fields(px, tn, where, schema_v1, 4, v1)) < 0)
			return rc;
		v[ALLOW] = v1[0];
		v[BANDWIDTH] = v1[1];
		v[ID] = v1[2];
		v[MAX_PEERS] = v1[3];
	} else if ((rc = take_fields(px, tn, where, schema, N_KEYS, v)) < 0) {
		return rc;
	}
	if ((rc = take_cstr(px, v[ID], where, "id", t->id, sizeof(t->id))) < 0)
		return rc;
	snprintf(where, WHERE_MAX, "%s \"%s\"", what, show(sh, t->id, strlen(t->id)));
	if ((rc = take_int(px, v[BANDWIDTH], where, "bandwidth", 0, INT64_MAX, &bw)) < 0 ||
	    (rc = take_int(px, v[MAX_PEERS], where, "max_peers", 0, UINT32_MAX, &mp)) < 0 ||
	    (rc = take_allow(px, v[ALLOW], where, fmt == CATALOG_TENANT_TEXT_ALLOW, &t->allow)) < 0)
		return rc;
	if (v[NAME] &&
	    ((rc = take_int(px, v[EMBARGO], where, "embargo_s", 0, INT64_MAX, &em)) < 0 ||
	     (rc = take_cstr(px, v[NAME], where, "name", t->name, sizeof(t->name))) < 0 ||
	     (rc = take_trackers(px, v[TRACKERS], where, t)) < 0))
		return rc;
	if (v[SEEDING] &&
	    (rc = take_int(px, v[SEEDING], where, "seeding", 1, TENANT_SEEDING_MAX, &sd)) < 0)
		return rc;
	t->seeding = (uint8_t)sd;
	t->bandwidth = (uint64_t)bw;
	t->max_peers = (uint32_t)mp;
	t->embargo_s = em;
	return 0;
}

static int decode_tenant(const struct pctx *px, struct catalog *c, const struct bencode_node *tn,
			 uint32_t i)
{
	char what[32], where[WHERE_MAX];
	enum catalog_tenant_format fmt =
		px->version == CATALOG_FORMAT_VERSION_V1 ? CATALOG_TENANT_V1 : CATALOG_TENANT_V2;
	int rc;

	struct tenant *t = calloc(1, sizeof(*t));
	if (!t)
		return seed_err_set(px->err, -ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "tenant #%u", i);
	if ((rc = take_tenant(px, tn, fmt, what, where, t)) == 0) {
		struct seed_err local;
		seed_err_clear(&local);
		if ((rc = catalog_add_tenant(c, t, NULL, &local)) < 0)
			rc = forward(px, rc, &local, tn, where);
	}
	tenant_clear(t);
	free(t);
	return rc;
}

/*
 * A TEXT_ALLOW record (seed-control's state file version 1) was written
 * under older rules: its API accepted a name with control characters and
 * trackers with spaces, non-ASCII bytes or twice the same URL. Rather than
 * refuse to start on an operator's state file, bring it to today's rules:
 * control characters in the name become '?' (a name that is still not
 * UTF-8 becomes the id), trackers that break the rules are dropped.
 * Returns how many fields changed.
 */
static unsigned repair_old_text(struct tenant *t)
{
	unsigned changed = 0, kept = 0;

	if (!utf8_printable(t->name)) {
		for (char *p = t->name; *p; p++)
			if ((uint8_t)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (!utf8_printable(t->name))
			snprintf(t->name, sizeof(t->name), "%s", t->id);
		changed++;
	}
	for (unsigned i = 0; i < t->n_trackers; i++) {
		char *u = t->trackers[i];
		size_t len = strnlen(u, TENANT_URL_MAX + 1);
		bool ok = len > 0 && len <= TENANT_URL_MAX;
		for (size_t k = 0; ok && k < len; k++)
			ok = (uint8_t)u[k] >= 0x21 && (uint8_t)u[k] <= 0x7e;
		for (unsigned j = 0; ok && j < kept; j++)
			ok = strcmp(t->trackers[j], u) != 0;
		if (ok) {
			t->trackers[kept++] = u;
		} else {
			free(u);
			changed++;
		}
	}
	for (unsigned i = kept; i < t->n_trackers; i++)
		t->trackers[i] = NULL;
	t->n_trackers = kept;
	return changed;
}

int catalog_decode_tenant(const struct bencode_node *rec, const uint8_t *base,
			  enum catalog_tenant_format format, const char *what, struct tenant *out_t,
			  unsigned *out_repaired, struct seed_err *err)
{
	struct pctx px = { .file = base, .err = err };
	char where[WHERE_MAX];
	int rc;

	if (!rec || !base || !what || !out_t)
		return seed_err_set(err, -EINVAL, "catalog_decode_tenant: missing argument");
	if (format != CATALOG_TENANT_V1 && format != CATALOG_TENANT_V2 &&
	    format != CATALOG_TENANT_TEXT_ALLOW)
		return seed_err_set(err, -EINVAL, "catalog_decode_tenant: unknown format %d",
				    (int)format);
	memset(out_t, 0, sizeof(*out_t));
	if (out_repaired)
		*out_repaired = 0;
	if ((rc = take_tenant(&px, rec, format, what, where, out_t)) == 0) {
		struct seed_err local;
		if (format == CATALOG_TENANT_TEXT_ALLOW) {
			unsigned n = repair_old_text(out_t);
			if (out_repaired)
				*out_repaired = n;
		}
		seed_err_clear(&local);
		if ((rc = catalog_check_tenant(out_t, &local)) < 0)
			rc = forward(&px, rc, &local, rec, where);
	}
	if (rc < 0)
		tenant_clear(out_t);
	return rc;
}

static int decode_release(const struct pctx *px, struct catalog *c, const struct bencode_node *rn,
			  uint32_t i)
{
	static const struct field schema[] = {
		{ "embargo_until", BENCODE_INT },
		{ "id", BENCODE_STR },
		{ "state", BENCODE_STR },
		{ "tenant", BENCODE_INT },
	};
	const struct bencode_node *v[4];
	char where[SHOW_MAX + 32], id[STORE_MAX_ID + 1], sh[SHOW_MAX];
	enum catalog_state state;
	int64_t until = 0, tenant = 0;
	int rc;

	snprintf(where, sizeof(where), "release #%u", i);
	if ((rc = take_fields(px, rn, where, schema, 4, v)) < 0 ||
	    (rc = take_cstr(px, v[1], where, "id", id, sizeof(id))) < 0)
		return rc;
	snprintf(where, sizeof(where), "release #%u \"%s\"", i, show(sh, id, strlen(id)));
	if (state_parse_n(v[2]->u.s.p, v[2]->u.s.len, &state) < 0)
		return seed_err_set_at(px->err, -EBADMSG, off_of(px, v[2]->raw),
				       "%s: unknown state \"%s\" (want staged, embargoed, live, "
				       "paused or retired)",
				       where, show(sh, v[2]->u.s.p, v[2]->u.s.len));
	if ((rc = take_int(px, v[0], where, "embargo_until", 0, INT64_MAX, &until)) < 0)
		return rc;
	if (v[3]->u.i < 0 || v[3]->u.i >= (int64_t)c->n_tenants)
		return seed_err_set_at(px->err, -ERANGE, off_of(px, v[3]->raw),
				       "%s: tenant index %lld, but the catalog has %u tenants",
				       where, (long long)v[3]->u.i, c->n_tenants);
	tenant = v[3]->u.i;

	struct seed_err local;
	seed_err_clear(&local);
	if ((rc = catalog_add_release(c, id, (uint32_t)tenant, state, until, &local)) < 0)
		return forward(px, rc, &local, rn, where);
	return 0;
}

static int decode_payload(const struct pctx *px, const struct bencode_node *root, uint64_t gen,
			  struct catalog **out)
{
	static const struct field schema[] = {
		{ "releases", BENCODE_LIST },
		{ "tenants", BENCODE_LIST },
		{ "written_at", BENCODE_INT },
	};
	const struct bencode_node *v[3];
	struct catalog *c = NULL;
	int64_t written_at = 0;
	int rc;

	if ((rc = take_fields(px, root, "catalog", schema, 3, v)) < 0 ||
	    (rc = take_int(px, v[2], "catalog", "written_at", 0, INT64_MAX, &written_at)) < 0)
		return rc;
	if (v[1]->u.list.n > CATALOG_MAX_TENANTS)
		return seed_err_set_at(px->err, -E2BIG, off_of(px, v[1]->raw),
				       "catalog: %zu tenants, more than %u", v[1]->u.list.n,
				       CATALOG_MAX_TENANTS);
	if (v[0]->u.list.n > CATALOG_MAX_RELEASES)
		return seed_err_set_at(px->err, -E2BIG, off_of(px, v[0]->raw),
				       "catalog: %zu releases, more than %u", v[0]->u.list.n,
				       CATALOG_MAX_RELEASES);
	if ((rc = catalog_create(gen, written_at, &c, px->err)) < 0)
		return rc;
	for (size_t i = 0; i < v[1]->u.list.n && rc == 0; i++)
		rc = decode_tenant(px, c, v[1]->u.list.items[i], (uint32_t)i);
	for (size_t i = 0; i < v[0]->u.list.n && rc == 0; i++)
		rc = decode_release(px, c, v[0]->u.list.items[i], (uint32_t)i);
	if (rc < 0) {
		catalog_free(c);
		return rc;
	}
	c->frozen = true;
	*out = c;
	return 0;
}

int catalog_parse(const uint8_t *buf, size_t len, struct catalog **out_cat, struct seed_err *err)
{
	const struct bencode_limits lim = {
		.max_depth = PAYLOAD_MAX_DEPTH,
		.max_nodes = PAYLOAD_MAX_NODES,
	};
	struct bencode_doc *doc = NULL;
	struct seed_err local;
	uint64_t gen;
	uint32_t version;
	int rc;

	if (!out_cat)
		return seed_err_set(err, -EINVAL, "catalog_parse: no output");
	*out_cat = NULL;
	if (!buf && len)
		return seed_err_set(err, -EINVAL, "catalog_parse: no input");
	if (!buf)
		return seed_err_set_at(err, -EBADMSG, 0, "catalog truncated: empty file");
	if ((rc = check_header(buf, len, &gen, &version, err)) < 0)
		return rc;

	/* The bencode parser counts offsets from the payload; report file
	 * offsets. Its -EINVAL (malformed) is this file's -EBADMSG. */
	seed_err_clear(&local);
	rc = bencode_parse(buf + CATALOG_HEADER_LEN, buf + len, &lim, &doc, &local);
	if (rc == -EINVAL)
		rc = -EBADMSG;
	if (rc < 0)
		return seed_err_set_at(err, rc, CATALOG_HEADER_LEN + local.offset,
				       "catalog payload (from file byte %u): %s",
				       CATALOG_HEADER_LEN, local.msg);
	struct pctx px = { .file = buf, .version = version, .err = err };
	rc = decode_payload(&px, bencode_root(doc), gen, out_cat);
	bencode_free(doc);
	return rc;
}

/* One copy's frame (fsu_check_fn): catalog_parse checks the rest. */
static int frame_check(const uint8_t *buf, size_t len, void *ctx, struct seed_err *err)
{
	uint64_t gen;
	(void)ctx;
	return check_header(buf, len, &gen, NULL, err);
}

/* Reads path (its first good copy) and checks all of it (out_cat) or only
 * its header (*out_gen); an error message starts with path. */
static int load_file(const char *path, struct catalog **out_cat, uint64_t *out_gen,
		     struct seed_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct fsu_copies rep;
	/* The first good copy; seed-control's next write rewrites both. */
	int rc = fsu_read_twice(path, CATALOG_MAX_FILE, frame_check, NULL, FSU_FIRST_GOOD, &buf,
				&len, &rep, err);
	if (rc < 0)
		return rc;
	rc = out_cat ? catalog_parse(buf, len, out_cat, err)
		     : check_header(buf, len, out_gen, NULL, err);
	if (rc < 0)
		seed_err_prefix(err, "%s: ", path);
	free(buf);
	return rc;
}

int catalog_load(const char *path, struct catalog **out_cat, struct seed_err *err)
{
	if (!path || !out_cat)
		return seed_err_set(err, -EINVAL, "catalog_load: missing argument");
	*out_cat = NULL;
	return load_file(path, out_cat, NULL, err);
}

int catalog_peek_generation(const char *path, uint64_t *out_generation, struct seed_err *err)
{
	if (!path || !out_generation)
		return seed_err_set(err, -EINVAL, "catalog_peek_generation: missing argument");
	return load_file(path, NULL, out_generation, err);
}

/* ---- polling ---- */

int catalog_stat_changed(const char *path, struct catalog_stamp *stamp)
{
	struct stat st;

	if (!path || !stamp)
		return -EINVAL;
	if (stat(path, &st) < 0)
		return -errno;
	struct catalog_stamp now = {
		.dev = (uint64_t)st.st_dev,
		.ino = (uint64_t)st.st_ino,
		.size = (uint64_t)st.st_size,
		.mtime_sec = (int64_t)st.st_mtim.tv_sec,
		.mtime_nsec = (int64_t)st.st_mtim.tv_nsec,
		.ctime_sec = (int64_t)st.st_ctim.tv_sec,
		.ctime_nsec = (int64_t)st.st_ctim.tv_nsec,
		.seen = 1,
	};
	if (stamp->seen && stamp->dev == now.dev && stamp->ino == now.ino &&
	    stamp->size == now.size && stamp->mtime_sec == now.mtime_sec &&
	    stamp->mtime_nsec == now.mtime_nsec && stamp->ctime_sec == now.ctime_sec &&
	    stamp->ctime_nsec == now.ctime_nsec)
		return 0;
	*stamp = now;
	return 1;
}

int catalog_reload(const char *path, struct catalog_stamp *stamp, uint64_t current_generation,
		   struct catalog **out_cat, struct seed_err *err)
{
	struct catalog *c = NULL;
	int rc;

	if (!path || !stamp || !out_cat)
		return seed_err_set(err, -EINVAL, "catalog_reload: missing argument");
	*out_cat = NULL;
	rc = catalog_stat_changed(path, stamp);
	if (rc < 0)
		return seed_err_set(err, rc, "%s: %s", path, strerror(-rc));
	if (rc == 0)
		return 0;
	if ((rc = catalog_load(path, &c, err)) < 0)
		return rc;
	if (c->generation == current_generation) {
		catalog_free(c);
		return 0;
	}
	if (c->generation < current_generation) {
		uint64_t g = c->generation;
		catalog_free(c);
		return seed_err_set(err, -ESTALE,
				    "%s: catalog went back to generation %llu from %llu; keeping "
				    "%llu",
				    path, (unsigned long long)g,
				    (unsigned long long)current_generation,
				    (unsigned long long)current_generation);
	}
	*out_cat = c;
	return 1;
}

/* ---- lookups ---- */

uint64_t catalog_generation(const struct catalog *c)
{
	return c ? c->generation : 0;
}

int64_t catalog_written_at(const struct catalog *c)
{
	return c ? c->written_at : 0;
}

uint32_t catalog_n_tenants(const struct catalog *c)
{
	return c ? c->n_tenants : 0;
}

uint32_t catalog_n_releases(const struct catalog *c)
{
	return c ? c->n_releases : 0;
}

const struct tenant *catalog_tenant_at(const struct catalog *c, uint32_t i)
{
	return c && i < c->n_tenants ? &c->tenants[i] : NULL;
}

const struct catalog_release *catalog_release_at(const struct catalog *c, uint32_t i)
{
	return c && i < c->n_releases ? &c->releases[i] : NULL;
}

const struct tenant *catalog_tenant_find(const struct catalog *c, const char *id)
{
	if (!c || !id)
		return NULL;
	for (uint32_t i = 0; i < c->n_tenants; i++) {
		if (!strcmp(c->tenants[i].id, id))
			return &c->tenants[i];
	}
	return NULL;
}

const struct catalog_release *catalog_release_findn(const struct catalog *c, const char *id,
						    size_t len)
{
	if (!c || !c->slots || (!id && len))
		return NULL;
	uint64_t h = id_hash(c, id, len);
	/* Terminates: the table is never more than half full. */
	for (size_t i = (size_t)h & c->slot_mask;; i = (i + 1) & c->slot_mask) {
		uint32_t s = c->slots[i];
		if (!s)
			return NULL;
		const struct catalog_release *r = &c->releases[s - 1];
		if (c->rel_hash[s - 1] == h && r->id_len == len && !memcmp(r->id, id, len))
			return r;
	}
}

const struct catalog_release *catalog_release_find(const struct catalog *c, const char *id)
{
	if (!id)
		return NULL;
	return catalog_release_findn(c, id, strlen(id));
}

const struct tenant *catalog_tenant_of(const struct catalog *c, const struct catalog_release *r)
{
	if (!c || !r || r->tenant >= c->n_tenants)
		return NULL;
	return &c->tenants[r->tenant];
}

bool catalog_release_servable(const struct catalog_release *r, int64_t now_s)
{
	if (!r)
		return false;
	switch (r->state) {
	case CATALOG_LIVE: return true;
	case CATALOG_EMBARGOED: return now_s >= r->embargo_until;
	case CATALOG_STAGED:
	case CATALOG_PAUSED:
	case CATALOG_RETIRED: break;
	}
	return false;
}

bool catalog_tenant_allows(const struct tenant *t, int family, const uint8_t *addr)
{
	return t && cidr_set_match_raw(&t->allow, family, addr);
}
