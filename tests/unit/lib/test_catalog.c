/*
 * Unit tests for lib/catalog.c: building and its rules (ids, tenants,
 * allow-lists, limits), round trips through a file, servability at embargo
 * boundaries, allow-list matching, format 2's tenant fields and format 1
 * still read, one tenant record on its own. Corruption, files, generations
 * and a reader racing the writer are in test_catalog_file.c; the helpers of
 * both are in catalog_fixture.h.
 */
#include "catalog_fixture.h"

/* ---- states ---- */

Test(catalog, state_names_round_trip)
{
	static const char *names[] = { "staged", "embargoed", "live", "paused", "retired" };
	for (int s = 0; s < CATALOG_N_STATES; s++) {
		enum catalog_state back;
		cr_assert_str_eq(catalog_state_name((enum catalog_state)s), names[s]);
		cr_assert_eq(catalog_state_parse(names[s], &back), 0);
		cr_assert_eq((int)back, s);
	}
	cr_assert_str_eq(catalog_state_name((enum catalog_state)CATALOG_N_STATES), "?");
}

Test(catalog, state_parse_is_exact)
{
	enum catalog_state s = CATALOG_LIVE;
	cr_assert_eq(catalog_state_parse("LIVE", &s), -EINVAL);
	cr_assert_eq(catalog_state_parse("live ", &s), -EINVAL);
	cr_assert_eq(catalog_state_parse("liv", &s), -EINVAL);
	cr_assert_eq(catalog_state_parse("", &s), -EINVAL);
	cr_assert_eq(catalog_state_parse(NULL, &s), -EINVAL);
	cr_assert_eq(s, CATALOG_LIVE);
}

/* ---- building ---- */

Test(catalog, create_refuses_generation_zero_and_negative_time)
{
	struct catalog *c = (struct catalog *)1;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_create(0, 0, &c, &e), -ERANGE);
	cr_assert_null(c);
	cr_assert_not_null(strstr(e.msg, "generation"), "%s", e.msg);
	seed_err_clear(&e);
	cr_assert_eq(catalog_create(1, -1, &c, &e), -ERANGE);
	cr_assert_not_null(strstr(e.msg, "written_at"), "%s", e.msg);
}

Test(catalog, duplicate_tenant_is_refused)
{
	struct catalog *c = create(1, 0);
	add_tenant(c, "acme", 0, 0, NULL, 0);
	struct tenant d = { .id = "acme" };
	add_tenant_fails(c, &d, -EEXIST, "duplicate tenant id \"acme\"");
	cr_assert_eq(catalog_n_tenants(c), 1);
	catalog_free(c);
}

Test(catalog, duplicate_release_is_refused)
{
	struct catalog *c = create(1, 0);
	uint32_t t = add_tenant(c, "acme", 0, 0, NULL, 0);
	add_release(c, "acme.game.1", t, CATALOG_LIVE, 0);
	struct seed_err e = add_release_fails(c, "acme.game.1", t, CATALOG_PAUSED, 0, -EEXIST);
	cr_assert_not_null(strstr(e.msg, "duplicate release id \"acme.game.1\""), "%s", e.msg);
	cr_assert_eq(catalog_n_releases(c), 1);
	cr_assert_eq(catalog_release_find(c, "acme.game.1")->state, CATALOG_LIVE);
	catalog_free(c);

	/* the loader refuses the same thing in a file */
	TU_TABLE(expect_forged, struct forged,
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "0")
				   REL("0", "11", "acme.game.1", "6", "paused", "0"),
			   TENANT_ACME, "0"),
		   -EEXIST, "release #1 \"acme.game.1\": duplicate release id" },
		 { PAYLOAD("", TENANT_ACME TENANT_ACME, "0"), -EEXIST,
		   "tenant #1 \"acme\": duplicate tenant id" });
}

Test(catalog, release_with_unknown_tenant_is_refused)
{
	struct catalog *c = create(1, 0);
	struct seed_err e = add_release_fails(c, "acme.game.1", 0, CATALOG_LIVE, 0, -ENOENT);
	cr_assert_not_null(strstr(e.msg, "no tenant #0"), "%s", e.msg);
	add_tenant(c, "acme", 0, 0, NULL, 0);
	add_release_fails(c, "acme.game.1", 1, CATALOG_LIVE, 0, -ENOENT);
	catalog_free(c);

	/* in a file: an index past the tenants, or negative */
	TU_TABLE(expect_forged, struct forged,
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "1"), TENANT_ACME, "0"),
		   -ERANGE, "tenant index 1, but the catalog has 1 tenants" },
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "-1"), TENANT_ACME, "0"),
		   -ERANGE, "tenant index -1" },
		 { PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "0"), "", "0"), -ERANGE,
		   "the catalog has 0 tenants" });
}

Test(catalog, release_id_must_name_its_tenant)
{
	struct catalog *c = create(1, 0);
	uint32_t acme = add_tenant(c, "acme", 0, 0, NULL, 0);
	add_tenant(c, "beta", 0, 0, NULL, 0);
	static const char *bad[] = {
		"beta.game.1", /* another tenant's release */
		"acmex.game.1", "acme.game", "acme..1", "acme.game.", "acme", "acme.",
	};
	for (size_t i = 0; i < TU_N(bad); i++)
		add_release_fails(c, bad[i], acme, CATALOG_LIVE, 0, -EINVAL);
	struct seed_err e = add_release_fails(c, "beta.game.1", acme, CATALOG_LIVE, 0, -EINVAL);
	cr_assert_not_null(strstr(e.msg, "is not \"acme.<name>.<version>\""), "%s", e.msg);
	/* versions may hold dots and '+' */
	add_release(c, "acme.game.1.2.3+rc1", acme, CATALOG_LIVE, 0);
	cr_assert_eq(catalog_n_releases(c), 1);
	catalog_free(c);
}

Test(catalog, release_id_follows_store_rules)
{
	struct catalog *c = create(1, 0);
	uint32_t t = add_tenant(c, "acme", 0, 0, NULL, 0);
	static const char *bad[] = { "acme.ga me.1", "acme.g/x.1", "acme.g\"x.1", "acme.g\x1b.1" };
	for (size_t i = 0; i < TU_N(bad); i++)
		add_release_fails(c, bad[i], t, CATALOG_LIVE, 0, -EINVAL);
	/* 200 characters pass, 201 do not */
	char id[260];
	memset(id, 'v', sizeof(id));
	memcpy(id, "acme.g.", 7);
	id[200] = '\0';
	add_release(c, id, t, CATALOG_LIVE, 0);
	id[200] = 'v';
	id[201] = '\0';
	struct seed_err e = add_release_fails(c, id, t, CATALOG_LIVE, 0, -EINVAL);
	cr_assert_not_null(strstr(e.msg, "1 to 200 characters"), "%s", e.msg);
	/* a bad state and a negative embargo */
	add_release_fails(c, "acme.g.2", t, (enum catalog_state)9, 0, -EINVAL);
	add_release_fails(c, "acme.g.2", t, CATALOG_EMBARGOED, -5, -ERANGE);
	cr_assert_eq(catalog_n_releases(c), 1);
	catalog_free(c);
}

Test(catalog, hostile_bytes_are_escaped_in_messages)
{
	struct catalog *c = create(1, 0);
	uint32_t t = add_tenant(c, "acme", 0, 0, NULL, 0);
	struct seed_err e = add_release_fails(c, "acme.g\x1b[2J.1", t, CATALOG_LIVE, 0, -EINVAL);
	cr_assert_null(strchr(e.msg, 0x1b), "%s", e.msg);
	cr_assert_not_null(strstr(e.msg, "\\x1b"), "%s", e.msg);
	catalog_free(c);

	/* an unknown key and a tenant id in a file, both with control bytes */
	size_t len;
	uint8_t *f = seal("d2:\x07xi0ee", 1, &len);
	struct seed_err fe = parse_fails(f, len, -EBADMSG, "unknown key \"\\x07x\"");
	cr_assert_null(strchr(fe.msg, 0x07));
	free(f);
	f = seal(PAYLOAD("",
			 "d5:allowle9:bandwidthi0e2:id3:a\x1b"
			 "b9:max_peersi0ee",
			 "0"),
		 1, &len);
	fe = parse_fails(f, len, -EBADMSG, "tenant #0 \"a\\x1bb\"");
	cr_assert_null(strchr(fe.msg, 0x1b));
	free(f);
}

Test(catalog, tenant_id_rules)
{
	struct catalog *c = create(1, 0);
	static const char *bad[] = {
		"", "Acme", "ac_me", "ac.me", "-acme", "ac me", "123456789012345678901234567890123"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tenant d = { 0 };
		set_id(&d, bad[i]);
		add_tenant_fails(c, &d, -EINVAL, "tenant id");
	}
	cr_assert_eq(add_tenant(c, "12345678901234567890123456789012", 0, 0, NULL, 0), 0);
	cr_assert_eq(add_tenant(c, "a-b-0", 0, 0, NULL, 0), 1);
	cr_assert_str_eq(catalog_tenant_find(c, "a-b-0")->id, "a-b-0");
	cr_assert_null(catalog_tenant_find(c, "a-b"));
	/* bandwidth must fit the file's int64 */
	struct tenant d = { .id = "big", .bandwidth = (uint64_t)INT64_MAX + 1 };
	cr_assert_eq(catalog_add_tenant(c, &d, NULL, NULL), -ERANGE);
	catalog_free(c);
}

Test(catalog, allow_entries_are_validated)
{
	struct catalog *c = create(1, 0);
	struct cidr bad[5] = {
		v4(10, 0, 0, 1, 8),  /* host bits */
		v4(10, 0, 0, 0, 33), /* prefix too long */
		v6(db8, 129),	     /* prefix too long */
		v4(10, 0, 0, 0, 8),  /* IPv4 with bytes past the address */
		{ .family = 99 },    /* no such family */
	};
	bad[3].addr[7] = 1;
	for (size_t i = 0; i < 5; i++) {
		struct tenant d = { .id = "acme", .allow = { .n = 1, .v = { bad[i] } } };
		add_tenant_fails(c, &d, -EINVAL, "tenant acme: allow entry #0");
	}
	/* boundaries that are fine: /0, /32, /128, an odd prefix */
	uint8_t host[16] = { 0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	struct cidr ok[4] = { v4(0, 0, 0, 0, 0), v4(192, 168, 1, 1, 32), v6(host, 128),
			      v4(172, 16, 0, 0, 12) };
	add_tenant(c, "acme", 0, 0, ok, 4);
	cr_assert_eq(catalog_tenant_at(c, 0)->allow.n, 4);
	catalog_free(c);
}

Test(catalog, limits_on_tenants_and_allow_lists)
{
	struct catalog *c = create(1, 0);
	struct cidr allow[CATALOG_MAX_ALLOW + 1];
	for (unsigned i = 0; i <= CATALOG_MAX_ALLOW; i++)
		allow[i] = v4(10, (uint8_t)(i >> 8), (uint8_t)i, 0, 24);
	static struct tenant d = { .id = "wide" };
	memcpy(d.allow.v, allow, sizeof(d.allow.v));
	d.allow.n = CATALOG_MAX_ALLOW + 1; /* as a careless builder might say */
	add_tenant_fails(c, &d, -E2BIG, "257 allow entries");
	add_tenant(c, "wide", 0, 0, allow, CATALOG_MAX_ALLOW);
	for (unsigned i = 1; i < CATALOG_MAX_TENANTS; i++) {
		char id[16];
		snprintf(id, sizeof(id), "t%u", i);
		add_tenant(c, id, i, i, NULL, 0);
	}
	struct tenant one_more = { .id = "extra" };
	add_tenant_fails(c, &one_more, -E2BIG, "more than 1024 tenants");
	cr_assert_eq(catalog_n_tenants(c), CATALOG_MAX_TENANTS);
	catalog_free(c);
}

/* The largest legal catalog fits the file limit and the loader's bounds. */
Test(catalog, largest_catalog_round_trips, .timeout = 240)
{
	struct catalog *c = create(7, 1);
	struct cidr allow[CATALOG_MAX_ALLOW];
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	for (unsigned i = 0; i < CATALOG_MAX_ALLOW; i++) {
		a6[4] = (uint8_t)(i >> 8);
		a6[5] = (uint8_t)i;
		allow[i] = v6(a6, 48);
	}
	char id[TENANT_ID_MAX + 1];
	for (unsigned i = 0; i < CATALOG_MAX_TENANTS; i++) {
		snprintf(id, sizeof(id), "tenant-%025u", i);
		add_tenant(c, id, INT64_MAX, UINT32_MAX, allow, CATALOG_MAX_ALLOW);
	}
	char rid[201];
	for (unsigned i = 0; i < CATALOG_MAX_RELEASES; i++) {
		unsigned t = i % CATALOG_MAX_TENANTS;
		int n = snprintf(rid, sizeof(rid), "tenant-%025u.name.", t);
		memset(rid + n, 'v', sizeof(rid) - 1 - (size_t)n);
		snprintf(rid + 190, 11, "%010u", i);
		add_release(c, rid, t, CATALOG_EMBARGOED, INT64_MAX);
	}
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_add_release(c, "tenant-0000000000000000000000000.x.1", 0, CATALOG_LIVE,
					 0, &e),
		     -E2BIG);
	write_ok(c);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_lt(st.st_size, (off_t)CATALOG_MAX_FILE);
	struct catalog *l = load_ok();
	cr_assert_eq(catalog_n_tenants(l), CATALOG_MAX_TENANTS);
	cr_assert_eq(catalog_n_releases(l), CATALOG_MAX_RELEASES);
	const struct catalog_release *r = catalog_release_find(l, rid);
	cr_assert_not_null(r);
	cr_assert_eq(r->tenant, (CATALOG_MAX_RELEASES - 1) % CATALOG_MAX_TENANTS);
	cr_assert_eq(catalog_tenant_of(l, r)->max_peers, UINT32_MAX);
	catalog_free(l);
	catalog_free(c);
}

Test(catalog, loaded_catalog_is_immutable)
{
	struct catalog *c = small(1);
	write_ok(c);
	catalog_free(c);
	struct catalog *l = load_ok();
	struct tenant d = { .id = "new" };
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_add_tenant(l, &d, NULL, &e), -EPERM);
	cr_assert_not_null(strstr(e.msg, "immutable"), "%s", e.msg);
	cr_assert_eq(catalog_add_release(l, "acme.x.1", 0, CATALOG_LIVE, 0, NULL), -EPERM);
	cr_assert_eq(catalog_n_tenants(l), 2);
	cr_assert_eq(catalog_n_releases(l), 3);
	catalog_free(l);
}

/* ---- round trips ---- */

/* A loaded catalog's generation, write time and sizes. */
static void expect_counts(const struct catalog *l, uint64_t gen, int64_t at, uint32_t n_tenants,
			  uint32_t n_releases)
{
	cr_assert_eq(catalog_generation(l), gen);
	cr_assert_eq(catalog_written_at(l), at);
	cr_assert_eq(catalog_n_tenants(l), n_tenants);
	cr_assert_eq(catalog_n_releases(l), n_releases);
}

Test(catalog, empty_catalog_round_trips)
{
	struct catalog *c = create(1, 0);
	write_ok(c);
	catalog_free(c);
	struct catalog *l = load_ok();
	expect_counts(l, 1, 0, 0, 0);
	cr_assert_null(catalog_release_find(l, "acme.game.1"));
	cr_assert_null(catalog_tenant_at(l, 0));
	cr_assert_null(catalog_release_at(l, 0));
	catalog_free(l);
}

/* The layout documented in catalog.h, byte for byte, for an empty catalog. */
Test(catalog, file_layout_is_as_documented)
{
	struct catalog *c = create(0x0102030405060708ull, 42);
	size_t len;
	uint8_t *f = encode(c, &len);
	static const char payload[] = "d8:releasesle7:tenantsle10:written_ati42ee";
	cr_assert_eq(len, 48 + strlen(payload));
	cr_assert_eq(memcmp(f, "SEEDCAT1", 8), 0);
	static const uint8_t fields[24] = {
		2, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, sizeof(payload) - 1
	};
	cr_assert_eq(memcmp(f + 8, fields, 24), 0);
	cr_assert_eq(memcmp(f + 48, payload, strlen(payload)), 0);
	uint8_t copy[256];
	memcpy(copy, f, len);
	reseal(copy, len);
	cr_assert_eq(memcmp(copy, f, len), 0, "checksum differs from the documented one");
	free(f);
	catalog_free(c);
}

Test(catalog, thousand_releases_over_ten_tenants_round_trip)
{
	struct catalog *c = create(12345, 1700000000);
	for (unsigned t = 0; t < 10; t++) {
		char id[16];
		struct cidr allow[3] = { v4(10, (uint8_t)t, 0, 0, 16),
					 v4(192, 0, 2, (uint8_t)(t * 8), 29), v6(db8, 32) };
		snprintf(id, sizeof(id), "tenant%u", t);
		cr_assert_eq(add_tenant(c, id, t * 1000000ull, t * 10, allow, t % 4), t);
	}
	for (unsigned i = 0; i < 1000; i++) {
		char id[64];
		snprintf(id, sizeof(id), "tenant%u.game%u.%u.0", i % 10, i / 10, i);
		add_release(c, id, i % 10, (enum catalog_state)(i % CATALOG_N_STATES),
			    1700000000 + i);
	}
	write_ok(c);
	struct catalog *l = load_ok();
	expect_counts(l, 12345, 1700000000, 10, 1000);
	for (unsigned t = 0; t < 10; t++) {
		const struct tenant *a = catalog_tenant_at(c, t), *b = catalog_tenant_at(l, t);
		cr_assert_str_eq(a->id, b->id);
		cr_assert_eq(b->bandwidth, t * 1000000ull);
		cr_assert_eq(b->max_peers, t * 10);
		cr_assert_eq(b->allow.n, t % 4);
		for (unsigned k = 0; k < b->allow.n; k++)
			cr_assert_eq(memcmp(&a->allow.v[k], &b->allow.v[k], sizeof(a->allow.v[k])),
				     0);
	}
	for (unsigned i = 0; i < 1000; i++) {
		char id[64];
		snprintf(id, sizeof(id), "tenant%u.game%u.%u.0", i % 10, i / 10, i);
		const struct catalog_release *r = catalog_release_find(l, id);
		cr_assert_not_null(r, "%s", id);
		cr_assert_eq(r, catalog_release_at(l, i));
		cr_assert_str_eq(r->id, id);
		cr_assert_eq(r->id_len, strlen(id));
		cr_assert_eq(r->tenant, i % 10);
		cr_assert_eq((unsigned)r->state, i % CATALOG_N_STATES);
		cr_assert_eq(r->embargo_until, 1700000000 + (int64_t)i);
		cr_assert_str_eq(catalog_tenant_of(l, r)->id, catalog_tenant_at(c, i % 10)->id);
	}
	catalog_free(l);
	catalog_free(c);
}

Test(catalog, reencoding_a_loaded_catalog_gives_the_same_bytes)
{
	struct catalog *c = small(9);
	size_t len1, len2;
	uint8_t *f1 = encode(c, &len1);
	struct catalog *l = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_parse(f1, len1, &l, &e), 0, "%s", e.msg);
	uint8_t *f2 = encode(l, &len2);
	cr_assert_eq(len1, len2);
	cr_assert_eq(memcmp(f1, f2, len1), 0);
	free(f1);
	free(f2);
	catalog_free(l);
	catalog_free(c);
}

/* ---- lookups ---- */

Test(catalog, lookup_of_missing_ids)
{
	struct catalog *c = small(1);
	cr_assert_not_null(catalog_release_find(c, "acme.game.1.0"));
	cr_assert_null(catalog_release_find(c, "acme.game.1.2"));
	cr_assert_null(catalog_release_find(c, "acme.game.1"));	   /* a prefix */
	cr_assert_null(catalog_release_find(c, "acme.game.1.00")); /* longer */
	cr_assert_null(catalog_release_find(c, ""));
	cr_assert_null(catalog_release_find(c, NULL));
	cr_assert_null(catalog_release_find(NULL, "acme.game.1.0"));
	/* an id inside a longer buffer, e.g. a URL path */
	const char *url = "acme.game.1.1/data/file.pak";
	const struct catalog_release *r = catalog_release_findn(c, url, 13);
	cr_assert_not_null(r);
	cr_assert_str_eq(r->id, "acme.game.1.1");
	cr_assert_null(catalog_release_findn(c, url, 12));
	cr_assert_null(catalog_tenant_of(c, NULL));
	cr_assert_null(catalog_tenant_find(c, "gamma"));
	catalog_free(c);
}

Test(catalog, servable_at_embargo_boundaries)
{
	struct catalog_release r = { .state = CATALOG_EMBARGOED, .embargo_until = 1000 };
	cr_assert_not(catalog_release_servable(&r, 999));
	cr_assert(catalog_release_servable(&r, 1000));
	cr_assert(catalog_release_servable(&r, 1001));
	cr_assert_not(catalog_release_servable(&r, INT64_MIN));
	r.embargo_until = INT64_MAX;
	cr_assert_not(catalog_release_servable(&r, INT64_MAX - 1));
	cr_assert(catalog_release_servable(&r, INT64_MAX));
	r.embargo_until = 0;
	cr_assert(catalog_release_servable(&r, 0));
	cr_assert_not(catalog_release_servable(NULL, 0));
}

Test(catalog, servable_by_state)
{
	/* an embargo time in the past changes nothing for other states */
	for (int s = 0; s < CATALOG_N_STATES; s++) {
		struct catalog_release r = { .state = (enum catalog_state)s, .embargo_until = 10 };
		bool want = s == CATALOG_LIVE || s == CATALOG_EMBARGOED;
		cr_assert_eq(catalog_release_servable(&r, 20), want, "state %s",
			     catalog_state_name(r.state));
		r.embargo_until = 30;
		cr_assert_eq(catalog_release_servable(&r, 20), s == CATALOG_LIVE, "state %s",
			     catalog_state_name(r.state));
	}
	/* and through a loaded catalog */
	struct catalog *c = small(1);
	cr_assert(catalog_release_servable(catalog_release_find(c, "acme.game.1.0"), 0));
	cr_assert_not(
		catalog_release_servable(catalog_release_find(c, "acme.game.1.1"), 1700003599));
	cr_assert(catalog_release_servable(catalog_release_find(c, "acme.game.1.1"), 1700003600));
	cr_assert_not(catalog_release_servable(catalog_release_find(c, "beta-2.tool.2"), 0));
	catalog_free(c);
}

Test(catalog, tenant_allow_lists)
{
	struct catalog *c = small(1);
	const struct tenant *acme = catalog_tenant_find(c, "acme");
	const struct tenant *beta = catalog_tenant_find(c, "beta-2");
	uint8_t a4[4] = { 10, 200, 3, 4 }, b4[4] = { 11, 0, 0, 1 };
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 9, 9 }, b6[16] = { 0x20, 0x01, 0x0d, 0xb9 };
	uint8_t m4[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [13] = 1, [14] = 2, [15] = 3 };
	uint8_t m4b[16] = { [10] = 0xff, [11] = 0xff, [12] = 11 };
	cr_assert(catalog_tenant_allows(acme, AF_INET, a4));
	cr_assert_not(catalog_tenant_allows(acme, AF_INET, b4));
	cr_assert(catalog_tenant_allows(acme, AF_INET6, a6));
	cr_assert_not(catalog_tenant_allows(acme, AF_INET6, b6));
	cr_assert(catalog_tenant_allows(acme, AF_INET6, m4), "IPv4-mapped address");
	cr_assert_not(catalog_tenant_allows(acme, AF_INET6, m4b));
	cr_assert_not(catalog_tenant_allows(acme, AF_UNIX, a4));
	cr_assert_not(catalog_tenant_allows(acme, AF_INET, NULL));
	cr_assert(catalog_tenant_allows(beta, AF_INET, b4), "empty list allows all");
	cr_assert_not(catalog_tenant_allows(NULL, AF_INET, a4));
	catalog_free(c);

	/* prefixes that do not end on a byte, /0 and /32 */
	c = create(1, 0);
	struct cidr allow[1] = { v4(172, 16, 0, 0, 12) };
	add_tenant(c, "odd", 0, 0, allow, 1);
	const struct tenant *t = catalog_tenant_at(c, 0);
	cr_assert(catalog_tenant_allows(t, AF_INET, (uint8_t[]){ 172, 31, 255, 255 }));
	cr_assert_not(catalog_tenant_allows(t, AF_INET, (uint8_t[]){ 172, 32, 0, 0 }));
	cr_assert_not(catalog_tenant_allows(t, AF_INET, (uint8_t[]){ 172, 15, 255, 255 }));
	allow[0] = v4(0, 0, 0, 0, 0);
	add_tenant(c, "any", 0, 0, allow, 1);
	cr_assert(catalog_tenant_allows(catalog_tenant_at(c, 1), AF_INET, b4));
	cr_assert_not(catalog_tenant_allows(catalog_tenant_at(c, 1), AF_INET6, b6));
	allow[0] = v4(192, 0, 2, 7, 32);
	add_tenant(c, "one", 0, 0, allow, 1);
	cr_assert(catalog_tenant_allows(catalog_tenant_at(c, 2), AF_INET,
					(uint8_t[]){ 192, 0, 2, 7 }));
	cr_assert_not(catalog_tenant_allows(catalog_tenant_at(c, 2), AF_INET,
					    (uint8_t[]){ 192, 0, 2, 6 }));
	catalog_free(c);
}

/* ---- format 2: every field of struct tenant ---- */

/* Format 2 tenants: allow, bandwidth, embargo_s, id, max_peers, name, trackers. */
#define TENANT_V2(allow, name, trackers, embargo)                                   \
	"d5:allowl" allow "e9:bandwidthi0e9:embargo_si" embargo "e2:id4:acme9:max_" \
	"peersi0e4:name" name "8:trackersl" trackers "ee"

Test(catalog, every_tenant_field_round_trips)
{
	struct catalog *c = create(3, 5);
	static struct tenant t;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "acme");
	snprintf(t.name, sizeof(t.name), "Acme Gämes");
	t.bandwidth = 20000000;
	t.max_peers = 500;
	t.embargo_s = 172800;
	t.line = 12; /* provenance: not in the file */
	t.from_api = true;
	t.allow.v[0] = v4(10, 0, 0, 0, 8);
	t.allow.v[1] = v6(db8, 32);
	t.allow.n = 2;
	t.trackers[0] = "udp://t.example:6969/announce";
	t.trackers[1] = "http://t2.example/announce";
	t.n_trackers = 2;
	cr_assert_eq(catalog_add_tenant(c, &t, NULL, NULL), 0);
	cr_assert_neq(catalog_tenant_at(c, 0)->trackers[0], t.trackers[0], "a deep copy");
	write_ok(c);
	catalog_free(c);
	struct catalog *l = load_ok();
	const struct tenant *b = catalog_tenant_find(l, "acme");
	cr_assert_not_null(b);
	cr_expect_str_eq(b->name, t.name);
	cr_expect_eq(b->bandwidth, t.bandwidth);
	cr_expect_eq(b->max_peers, t.max_peers);
	cr_expect_eq(b->embargo_s, t.embargo_s);
	cr_assert_eq(b->allow.n, 2);
	cr_expect_eq(memcmp(b->allow.v, t.allow.v, 2 * sizeof(t.allow.v[0])), 0);
	cr_assert_eq(b->n_trackers, 2);
	cr_expect_str_eq(b->trackers[0], t.trackers[0]);
	cr_expect_str_eq(b->trackers[1], t.trackers[1]);
	cr_expect_eq(b->line, 0);
	cr_expect_not(b->from_api);
	catalog_free(l);
}

Test(catalog, an_empty_name_is_the_id)
{
	struct catalog *c = create(1, 0);
	add_tenant(c, "acme", 0, 0, NULL, 0);
	cr_expect_str_eq(catalog_tenant_at(c, 0)->name, "acme");
	catalog_free(c);
}

/* A file of format 1 loads (name = id, no trackers, no embargo) and is
 * written back as format 2. */
Test(catalog, format_1_is_still_read)
{
	static const char payload[] = PAYLOAD(REL("0", "11", "acme.game.1", "4", "live", "0"),
					      "d5:allowl5:\x08\x0a\x00\x00\x00"
					      "e9:bandwidthi7e2:"
					      "id4:acme9:max_peersi3ee",
					      "0");
	size_t len;
	uint8_t *f = seal_n(payload, sizeof(payload) - 1, 4, &len);
	struct catalog *l = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_parse(f, len, &l, &e), 0, "%s", e.msg);
	const struct tenant *t = catalog_tenant_at(l, 0);
	cr_expect_str_eq(t->name, "acme");
	cr_expect_eq(t->n_trackers, 0);
	cr_expect_eq(t->embargo_s, 0);
	cr_expect_eq(t->bandwidth, 7);
	cr_expect_eq(t->max_peers, 3);
	cr_expect_eq(t->allow.n, 1);
	size_t len2;
	uint8_t *f2 = encode(l, &len2);
	cr_expect_eq(f2[8], 2, "written back as format 2");
	free(f2);
	free(f);
	catalog_free(l);
}

/* A forged version-2 payload (it may hold NULs: its length is given) and
 * the refusal it must get. */
struct forged_v2 {
	const char *payload;
	size_t len;
	int code;
	const char *what;
};

#define V2(payload) payload, sizeof(payload) - 1

static void expect_forged_v2(const struct forged_v2 *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		forged_v2_fails(f[i].payload, f[i].len, f[i].code, f[i].what);
}

Test(catalog, corrupt_cidr_entries_in_a_format_2_file)
{
	TU_TABLE(expect_forged_v2, struct forged_v2,
		 { V2(PAYLOAD("", TENANT_V2("5:\x08\x0a\x00\x00\x01", "4:Acme", "", "0"), "0")),
		   -EBADMSG, "allow entry #0: address has bits set past /8" },
		 { V2(PAYLOAD("",
			      TENANT_V2("17:\x81\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0", "4:Acme",
					"", "0"),
			      "0")),
		   -EBADMSG, "allow entry #0: prefix /129 is longer than 128 bits" },
		 /* ::ffff:10.0.0.0/104 can never match (cidr.h): cidr_parse refuses
		  * it, so a file may not hold it either */
		 { V2(PAYLOAD("",
			      TENANT_V2("17:\x68\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\0\0\0", "4:Acme",
					"", "0"),
			      "0")),
		   -EBADMSG, "allow entry #0: an IPv4-mapped IPv6 range never matches" },
		 { V2(PAYLOAD("", TENANT_V2("4:\x08\x0a\x00\x00", "4:Acme", "", "0"), "0")),
		   -EBADMSG, "allow entry #0 is not a 5-byte (IPv4) or 17-byte (IPv6) string" });
	/* the builder refuses what the loader refuses */
	struct catalog *c = create(1, 0);
	struct tenant t = { .id = "acme" };
	t.allow.v[0] = v6((const uint8_t[16]){ [10] = 0xff, [11] = 0xff, [12] = 10 }, 104);
	t.allow.n = 1;
	add_tenant_fails(c, &t, -EINVAL, "IPv4-mapped");
	cr_assert_eq(catalog_n_tenants(c), 0);
	catalog_free(c);
}

Test(catalog, bad_tenant_text_in_a_format_2_file)
{
	TU_TABLE(expect_forged_v2, struct forged_v2,
		 { V2(PAYLOAD("", TENANT_V2("", "5:Ac\x1bme", "", "0"), "0")), -EBADMSG,
		   "name \"Ac\\x1bme\": must be 1 to 128 bytes of printable UTF-8" },
		 { V2(PAYLOAD("", TENANT_V2("", "4:Acme", "9:udp://a:19:udp://a:1", "0"), "0")),
		   -EBADMSG, "tracker #1 \"udp://a:1\" is also tracker #0" },
		 { V2(PAYLOAD("", TENANT_V2("", "4:Acme", "9:udp://a b", "0"), "0")), -EBADMSG,
		   "tracker #0 \"udp://a b\": byte 8 is not printable ASCII" },
		 { V2(PAYLOAD("", TENANT_V2("", "4:Acme", "i1e", "0"), "0")), -EBADMSG,
		   "tracker #0 is an integer, not a string" },
		 { V2(PAYLOAD("", TENANT_V2("", "4:Acme", "", "-1"), "0")), -ERANGE,
		   "embargo_s -1 is out of range" },
		 /* a format-1 record in a format-2 file misses keys */
		 { V2(PAYLOAD("", TENANT_ACME, "0")), -EBADMSG, "missing key \"embargo_s\"" });
}

/* ---- one tenant record on its own (seed-control's state file uses it) ---- */

/* Parses [p, p + n) and decodes its root as a tenant record of format fmt. */
static int decode_one(const void *p, size_t n, enum catalog_tenant_format fmt, struct tenant *out,
		      struct seed_err *e)
{
	struct bencode_doc *doc = NULL;
	cr_assert_eq(bencode_parse(p, (const uint8_t *)p + n, NULL, &doc, NULL), 0);
	int rc = catalog_decode_tenant(bencode_root(doc), p, fmt, "tenant entry 0", out, NULL, e);
	bencode_free(doc);
	return rc;
}

/* decode_one() must refuse the record [p, p + n) of format fmt with
 * -EBADMSG and a message that holds what. */
static void decode_fails(const void *p, size_t n, enum catalog_tenant_format fmt,
			 struct tenant *out, const char *what)
{
	struct seed_err e;

	seed_err_clear(&e);
	cr_assert_eq(decode_one(p, n, fmt, out, &e), -EBADMSG, "%s", e.msg);
	cr_assert_not_null(strstr(e.msg, what), "message \"%s\" lacks \"%s\"", e.msg, what);
}

Test(catalog, a_tenant_record_round_trips_alone)
{
	static struct tenant t, got;
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "acme");
	t.bandwidth = 20000000;
	t.max_peers = 500;
	t.embargo_s = 60;
	t.from_api = true;
	t.allow.v[0] = v4(10, 0, 0, 0, 8);
	t.allow.v[1] = v6(db8, 32);
	t.allow.n = 2;
	t.trackers[0] = "udp://t.example:6969/announce";
	t.n_trackers = 1;
	struct bencode_buf b;
	bencode_buf_init(&b);
	catalog_encode_tenant(&b, &t);
	cr_assert_eq(bencode_buf_finish(&b, NULL), 0);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(decode_one(b.p, b.len, CATALOG_TENANT_V2, &got, &e), 0, "%s", e.msg);
	cr_expect_str_eq(got.name, "acme", "an empty name is written as the id");
	cr_expect_eq(got.bandwidth, t.bandwidth);
	cr_expect_eq(got.max_peers, t.max_peers);
	cr_expect_eq(got.embargo_s, t.embargo_s);
	cr_assert_eq(got.allow.n, 2);
	cr_expect_eq(memcmp(got.allow.v, t.allow.v, 2 * sizeof(t.allow.v[0])), 0);
	cr_assert_eq(got.n_trackers, 1);
	cr_expect_str_eq(got.trackers[0], t.trackers[0]);
	cr_expect_not(got.from_api, "provenance is not in the record");
	tenant_clear(&got);
	/* the same bytes as inside a catalog file */
	struct catalog *c = create(1, 0);
	cr_assert_eq(catalog_add_tenant(c, &t, NULL, NULL), 0);
	size_t len;
	uint8_t *f = encode(c, &len);
	cr_expect_not_null(memmem(f, len, b.p, b.len));
	free(f);
	catalog_free(c);
	bencode_buf_release(&b);
}

Test(catalog, a_tenant_record_with_text_allow_entries)
{
	static const char rec[] = "d5:allowl10:10.0.0.0/813:2001:db8::/32e9:bandwidthi0e"
				  "9:embargo_si0e2:id4:acme9:max_peersi0e4:name4:Acme"
				  "8:trackerslee";
	static struct tenant got;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(decode_one(rec, sizeof(rec) - 1, CATALOG_TENANT_TEXT_ALLOW, &got, &e), 0, "%s",
		     e.msg);
	cr_assert_eq(got.allow.n, 2);
	struct cidr want[2] = { v4(10, 0, 0, 0, 8), v6(db8, 32) };
	cr_expect_eq(memcmp(got.allow.v, want, sizeof(want)), 0);
	tenant_clear(&got);
	/* text is not the V2 form, and V2 bytes are not text */
	decode_fails(rec, sizeof(rec) - 1, CATALOG_TENANT_V2, &got,
		     "tenant entry 0 \"acme\": allow entry #0");
	static const char host_bits[] = "d5:allowl10:10.0.0.1/8e9:bandwidthi0e9:embargo_si0e"
					"2:id4:acme9:max_peersi0e4:name4:Acme8:trackerslee";
	decode_fails(host_bits, sizeof(host_bits) - 1, CATALOG_TENANT_TEXT_ALLOW, &got,
		     "allow entry #0 is not an address prefix");
	/* the old API took a name that is not printable: the catalog's rules
	 * refuse it in a V2 record, a TEXT_ALLOW one (the old state file) is
	 * brought to them */
	static const char bad_name[] = "d5:allowle9:bandwidthi0e9:embargo_si0e2:id4:acme"
				       "9:max_peersi0e4:name5:Ac\x1bme8:trackersl1:x1:x3:a bee";
	decode_fails(bad_name, sizeof(bad_name) - 1, CATALOG_TENANT_V2, &got, "printable UTF-8");
	cr_expect_eq(got.n_trackers, 0, "owns nothing after a failure");
	unsigned repaired = 99;
	seed_err_clear(&e);
	const uint8_t *b = (const uint8_t *)bad_name;
	struct bencode_doc *doc = NULL;
	cr_assert_eq(bencode_parse(b, b + sizeof(bad_name) - 1, NULL, &doc, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_decode_tenant(bencode_root(doc), b, CATALOG_TENANT_TEXT_ALLOW,
					   "tenant entry 0", &got, &repaired, &e),
		     0, "%s", e.msg);
	cr_expect_str_eq(got.name, "Ac?me");
	cr_assert_eq(got.n_trackers, 1, "the repeated and the spaced tracker are dropped");
	cr_expect_str_eq(got.trackers[0], "x");
	cr_expect_eq(repaired, 3);
	tenant_clear(&got);
	bencode_free(doc);
}
