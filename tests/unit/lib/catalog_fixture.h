/*
 * The fixture of lib/catalog.c's unit tests (test_catalog.c,
 * test_catalog_file.c): each includes it first, so each test program gets
 * its own scratch directory suite and helpers. Not a test program itself.
 *
 * Forged files are sealed here with this file's own implementation of the
 * header (seal()), so the format in catalog.h is checked from outside too.
 */
#ifndef SEED_TEST_CATALOG_FIXTURE_H
#define SEED_TEST_CATALOG_FIXTURE_H

/* Each test file uses some of the helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

#include "../testutil.h"
#include "bencode.h"
#include "catalog.h"
#include "fsutil.h"

TU_SCRATCH_SUITE(catalog, dir, path, "catalog");

/* ---- helpers ---- */

static struct catalog *create(uint64_t gen, int64_t written_at)
{
	struct catalog *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_create(gen, written_at, &c, &e), 0, "%s", e.msg);
	return c;
}

/* Sets t's id as the bytes of id, cut to the array (so without a NUL when
 * id is longer than TENANT_ID_MAX: what the catalog must refuse). */
static void set_id(struct tenant *t, const char *id)
{
	size_t n = strlen(id);
	memset(t->id, 0, sizeof(t->id));
	memcpy(t->id, id, n < sizeof(t->id) ? n : sizeof(t->id));
}

static uint32_t add_tenant(struct catalog *c, const char *id, uint64_t bw, uint32_t peers,
			   const struct cidr *allow, size_t n_allow)
{
	static struct tenant d; /* 5 KiB: not on the test's stack */
	memset(&d, 0, sizeof(d));
	set_id(&d, id);
	d.bandwidth = bw;
	d.max_peers = peers;
	for (size_t i = 0; i < n_allow; i++)
		d.allow.v[i] = allow[i];
	d.allow.n = (uint32_t)n_allow;
	struct seed_err e;
	uint32_t idx = UINT32_MAX;
	seed_err_clear(&e);
	cr_assert_eq(catalog_add_tenant(c, &d, &idx, &e), 0, "%s", e.msg);
	return idx;
}

/* catalog_add_tenant(c, t) must fail with code and a message that holds
 * what, and add nothing. */
static void add_tenant_fails(struct catalog *c, const struct tenant *t, int code, const char *what)
{
	size_t n = catalog_n_tenants(c);
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(catalog_add_tenant(c, t, NULL, &e), code, "tenant \"%.*s\": %s",
		     (int)sizeof(t->id), t->id, e.msg);
	cr_assert_not_null(strstr(e.msg, what), "message \"%s\" lacks \"%s\"", e.msg, what);
	cr_assert_eq(catalog_n_tenants(c), n, "a refused tenant was added");
}

/* catalog_add_release(c, id, t, st, until) must fail with code and add
 * nothing; returns its error. */
static struct seed_err add_release_fails(struct catalog *c, const char *id, uint32_t t,
					 enum catalog_state st, int64_t until, int code)
{
	size_t n = catalog_n_releases(c);
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(catalog_add_release(c, id, t, st, until, &e), code, "%s: %s", id, e.msg);
	cr_assert_eq(catalog_n_releases(c), n, "a refused release was added");
	return e;
}

static void add_release(struct catalog *c, const char *id, uint32_t t, enum catalog_state s,
			int64_t until)
{
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_add_release(c, id, t, s, until, &e), 0, "%s", e.msg);
}

static struct cidr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t prefix)
{
	struct cidr r = { .family = AF_INET, .prefix = prefix, .addr = { a, b, c, d } };
	return r;
}

static struct cidr v6(const uint8_t addr[16], uint8_t prefix)
{
	struct cidr r = { .family = AF_INET6, .prefix = prefix };
	memcpy(r.addr, addr, 16);
	return r;
}

static const uint8_t db8[16] = { 0x20, 0x01, 0x0d, 0xb8 };

/* Two tenants, three releases: the small file the corruption tests use. */
static struct catalog *small(uint64_t gen)
{
	struct catalog *c = create(gen, 1700000000);
	struct cidr allow[2] = { v4(10, 0, 0, 0, 8), v6(db8, 32) };
	uint32_t acme = add_tenant(c, "acme", 125000000, 500, allow, 2);
	uint32_t beta = add_tenant(c, "beta-2", 0, 0, NULL, 0);
	add_release(c, "acme.game.1.0", acme, CATALOG_LIVE, 0);
	add_release(c, "acme.game.1.1", acme, CATALOG_EMBARGOED, 1700003600);
	add_release(c, "beta-2.tool.2", beta, CATALOG_STAGED, 0);
	return c;
}

static uint8_t *encode(const struct catalog *c, size_t *len)
{
	uint8_t *buf = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_encode(c, &buf, len, &e), 0, "%s", e.msg);
	return buf;
}

/* The file image of small(1); the caller frees it. */
static uint8_t *small_image(size_t *len)
{
	struct catalog *c = small(1);
	uint8_t *f = encode(c, len);

	catalog_free(c);
	return f;
}

static void write_ok(const struct catalog *c)
{
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_write(path, c, &e), 0, "%s", e.msg);
}

static struct catalog *load_ok(void)
{
	struct catalog *c = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(path, &c, &e), 0, "%s", e.msg);
	cr_assert_not_null(c);
	return c;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the header checksum of a file image in place. */
static void reseal(uint8_t *f, size_t len)
{
	XXH3_state_t *st = XXH3_createState();
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, f, 32);
	XXH3_128bits_update(st, f + 48, len - 48);
	XXH128_canonical_t cn;
	XXH128_canonicalFromHash(&cn, XXH3_128bits_digest(st));
	XXH3_freeState(st);
	memcpy(f + 32, cn.digest, 16);
}

/* A file image of format version `version` around a hand-written payload,
 * with a valid checksum. */
static uint8_t *seal_v(const char *payload, size_t pl, uint64_t gen, uint32_t version, size_t *len)
{
	uint8_t *f = calloc(1, 48 + pl);
	cr_assert_not_null(f);
	memcpy(f, "SEEDCAT1", 8);
	put_le(f + 8, version, 4);
	put_le(f + 16, gen, 8);
	put_le(f + 24, pl, 8);
	memcpy(f + 48, payload, pl);
	reseal(f, 48 + pl);
	*len = 48 + pl;
	return f;
}

/* Version 1 (tenants of allow, bandwidth, id, max_peers): most forged
 * payloads below are written in it, so it stays read. */
static uint8_t *seal_n(const char *payload, size_t pl, uint64_t gen, size_t *len)
{
	return seal_v(payload, pl, gen, 1, len);
}

static uint8_t *seal(const char *payload, uint64_t gen, size_t *len)
{
	return seal_n(payload, strlen(payload), gen, len);
}

/* Parses buf expecting failure with code and a message containing what. */
static struct seed_err parse_fails(const uint8_t *buf, size_t len, int code, const char *what)
{
	struct catalog *c = (struct catalog *)1;
	struct seed_err e;
	seed_err_clear(&e);
	int rc = catalog_parse(buf, len, &c, &e);
	cr_assert_eq(rc, code, "rc %d (%s), want %d", rc, e.msg, code);
	cr_assert_null(c);
	cr_assert_eq(e.code, code);
	if (what)
		cr_assert_not_null(strstr(e.msg, what), "message \"%s\" lacks \"%s\"", e.msg, what);
	return e;
}

static void forged_fails(const char *payload, int code, const char *what)
{
	size_t len;
	uint8_t *f = seal(payload, 1, &len);
	parse_fails(f, len, code, what);
	free(f);
}

/* A hand-written payload sealed as a file image, and the refusal it must
 * get: code, and a message that contains what. */
struct forged {
	const char *payload;
	int code;
	const char *what;
};

static void expect_forged(const struct forged *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		forged_fails(f[i].payload, f[i].code, f[i].what);
}

/* A forged version-2 payload (tenants with every field) must fail so. */
static void forged_v2_fails(const char *payload, size_t pl, int code, const char *what)
{
	size_t len;
	uint8_t *f = seal_v(payload, pl, 1, 2, &len);
	parse_fails(f, len, code, what);
	free(f);
}

/* Payload pieces: keys in byte order, as the canonical form requires. */
#define TENANT_ACME "d5:allowle9:bandwidthi0e2:id4:acme9:max_peersi0ee"
#define REL(until, idlen, id, slen, state, tenant)                               \
	"d13:embargo_untili" until "e2:id" idlen ":" id "5:state" slen ":" state \
	"6:tenanti" tenant "ee"
#define PAYLOAD(rels, tenants, at) \
	"d8:releasesl" rels "e7:tenantsl" tenants "e10:written_ati" at "ee"

#endif
