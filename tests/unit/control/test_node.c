/*
 * control/node: the release state machine, the catalog generations it
 * writes, the state file that survives restarts, API tenants across config
 * reloads, and refusal of a bad state file.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../storeutil.h"
#include "bencode.h"
#include "catalog.h"
#include "node.h"

static char base[TU_PATH_MAX], conf[400], sdir[400], run_dir[400];

static void write_conf(const char *tenants)
{
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"node = { name = \"n1\"; store = \"%s\"; run_dir = \"%s\"; api_socket = "
		"\"%s/c.sock\"; status_listen = \"\"; announce_port = 6881; };\n"
		"tenants = ( %s );\n",
		sdir, run_dir, run_dir, tenants);
	fclose(f);
}

/* Ingests release tenant.g.version (hybrid, with its v1 companion) of one
 * 40000-byte file into the node's store. */
static void create(const char *tenant, const char *version)
{
	char src[400], p[500];
	struct ingest_opts o = su_opts(tenant, "g", version, METAINFO_HYBRID, 16384);

	snprintf(src, sizeof(src), "%s/src-%s-%s", base, tenant, version);
	cr_assert_eq(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/f.bin", src);
	su_write_pattern(p, 40000, 7, (unsigned char)version[0], 0);
	o.also_v1 = 1;
	su_ingest(sdir, src, &o, NULL);
}

static void setup(void)
{
	tu_tmpdir(base, "test_node");
	snprintf(conf, sizeof(conf), "%s/seed.conf", base);
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	snprintf(run_dir, sizeof(run_dir), "%s/run", base);
	write_conf("{ id = \"acme\"; name = \"Acme\"; embargo = \"1h\"; }, { id = \"b\"; }");
	create("acme", "1");
	create("acme", "2");
	create("ghost", "1"); /* a tenant nobody configured */
}

static void teardown(void)
{
	tu_rmtree(base);
}

TestSuite(node, .init = setup, .fini = teardown);

/* Opens the node of conf; *e (NULL: none) is cleared for the test's use. */
static struct node *open_node(struct seed_err *e)
{
	struct node *n;
	struct seed_err own;

	if (!e)
		e = &own;
	seed_err_clear(e);
	cr_assert_eq(node_open(conf, &n, e), 0, "%s", e->msg);
	seed_err_clear(e);
	return n;
}

static struct catalog *load_cat(struct node *n)
{
	struct catalog *c;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(catalog_load(node_catalog_path(n), &c, &e), 0, "%s", e.msg);
	return c;
}

Test(node, new_releases_are_staged_and_publish_follows_the_default_embargo)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	cr_expect_eq(node_n_releases(n), 3);
	const struct node_release *r = node_release_find(n, "acme.g.1");
	cr_assert_not_null(r);
	cr_expect_eq(r->state, CATALOG_STAGED);
	cr_expect(r->has_v1 && r->has_v2 && r->has_companion);
	cr_expect(memcmp(r->ih_v1, r->ih_companion, 20) != 0,
		  "the v1 companion has its own info-hash");
	/* acme has a 1 h default embargo: publish embargoes, unless told now */
	cr_assert_eq(node_release_publish(n, "acme.g.1", 1000, false, &e), 0, "%s", e.msg);
	cr_expect_eq(r->state, CATALOG_EMBARGOED);
	cr_expect_eq(r->embargo_until, 1000 + 3600);
	cr_expect_not(node_release_servable(n, r, 1000 + 3599));
	cr_expect(node_release_servable(n, r, 1000 + 3600));
	cr_assert_eq(node_release_publish(n, "acme.g.2", 1000, true, &e), 0, "%s", e.msg);
	cr_expect_eq(node_release_find(n, "acme.g.2")->state, CATALOG_LIVE);
	node_close(n);
}

Test(node, state_machine_refusals)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	cr_expect_eq(node_release_pause(n, "acme.g.1", &e), -EPERM,
		     "a staged release cannot pause");
	cr_expect(strstr(e.msg, "never published") != NULL, "%s", e.msg);
	seed_err_clear(&e);
	cr_expect_eq(node_release_publish(n, "nope.g.1", 1, true, &e), -ENOENT);
	cr_expect(strstr(e.msg, "nope.g.1") != NULL, "%s", e.msg);
	seed_err_clear(&e);
	cr_expect_eq(node_release_publish(n, "ghost.g.1", 1, true, &e), -EPERM,
		     "a release whose tenant is not configured cannot go live");
	cr_expect(strstr(e.msg, "ghost") != NULL, "%s", e.msg);
	seed_err_clear(&e);
	cr_assert_eq(node_release_retire(n, "acme.g.2", 1234, &e), 0, "%s", e.msg);
	cr_expect_eq(node_release_find(n, "acme.g.2")->retired_at, 1234);
	cr_expect_eq(node_release_publish(n, "acme.g.2", 1, true, &e), -EPERM, "retiring is final");
	seed_err_clear(&e);
	cr_expect_eq(node_release_embargo(n, "acme.g.1", 0, &e), -EINVAL);
	/* without a report the codes are the same (they were all -EINVAL) */
	cr_expect_eq(node_release_pause(n, "acme.g.1", NULL), -EPERM);
	cr_expect_eq(node_release_retire(n, "nope.g.1", 1, NULL), -ENOENT);
	cr_expect_eq(node_release_embargo(n, "acme.g.2", 5, NULL), -EPERM);
	cr_expect_eq(node_release_publish(n, "nope.g.1", 1, true, NULL), -ENOENT);
	node_close(n);
}

Test(node, commit_writes_increasing_generations_and_the_state_survives)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	cr_assert_eq(node_commit(n, 50, &e), 0, "%s", e.msg);
	uint64_t g1 = node_generation(n);
	struct catalog *c = load_cat(n);
	cr_expect_eq(catalog_generation(c), g1);
	cr_expect_eq(catalog_n_tenants(c), 2);
	cr_expect_eq(catalog_n_releases(c), 2, "ghost.g.1 has no tenant: not in the catalog");
	cr_expect_eq(catalog_release_find(c, "acme.g.1")->state, CATALOG_STAGED);
	catalog_free(c);

	cr_assert_eq(node_release_publish(n, "acme.g.1", 60, true, &e), 0, "%s", e.msg);
	cr_assert_eq(node_release_embargo(n, "acme.g.2", 5000, &e), 0, "%s", e.msg);
	cr_expect(node_dirty(n));
	cr_assert_eq(node_commit(n, 61, &e), 0, "%s", e.msg);
	cr_expect_not(node_dirty(n));
	cr_expect_eq(node_generation(n), g1 + 1);
	c = load_cat(n);
	cr_expect_eq(catalog_release_find(c, "acme.g.1")->state, CATALOG_LIVE);
	cr_expect_eq(catalog_release_find(c, "acme.g.2")->embargo_until, 5000);
	catalog_free(c);
	node_close(n);

	/* a restart: states from the state file, generations go on */
	n = open_node(NULL);
	cr_expect_eq(node_release_find(n, "acme.g.1")->state, CATALOG_LIVE);
	cr_expect_eq(node_release_find(n, "acme.g.2")->state, CATALOG_EMBARGOED);
	cr_expect_eq(node_release_find(n, "acme.g.2")->embargo_until, 5000);
	cr_assert_eq(node_commit(n, 70, &e), 0, "%s", e.msg);
	cr_expect_eq(node_generation(n), g1 + 2, "the data plane ignores older generations");
	/* when a release was retired survives a restart: reclaim counts from it */
	cr_assert_eq(node_release_retire(n, "acme.g.1", 777, &e), 0, "%s", e.msg);
	cr_assert_eq(node_commit(n, 71, &e), 0, "%s", e.msg);
	node_close(n);
	n = open_node(NULL);
	cr_expect_eq(node_release_find(n, "acme.g.1")->state, CATALOG_RETIRED);
	cr_expect_eq(node_release_find(n, "acme.g.1")->retired_at, 777);
	cr_expect_eq(node_release_find(n, "acme.g.2")->retired_at, 0);
	node_close(n);
}

Test(node, api_tenants_survive_reloads_and_restarts)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	struct tenant t = { .id = "ghost", .name = "Ghost Studio", .bandwidth = 1000 };
	cr_assert_eq(node_tenant_put(n, &t, true, &e), 0, "%s", e.msg);
	cr_expect_eq(node_tenant_put(n, &t, true, &e), -EEXIST);
	cr_assert_eq(node_release_publish(n, "ghost.g.1", 1, true, &e), 0,
		     "its releases can be published now: %s", e.msg);
	/* the config changes: the API tenant stays */
	write_conf("{ id = \"acme\"; name = \"Acme Renamed\"; }");
	seed_err_clear(&e);
	cr_assert_eq(node_reload_config(n, &e), 0, "%s", e.msg);
	cr_expect_str_eq(node_tenant_find(n, "acme")->name, "Acme Renamed");
	cr_expect_null(node_tenant_find(n, "b"), "b left the config");
	const struct tenant *g = node_tenant_find(n, "ghost");
	cr_assert_not_null(g);
	cr_expect(g->from_api);
	cr_expect_eq(g->bandwidth, 1000);
	cr_assert_eq(node_commit(n, 5, &e), 0, "%s", e.msg);
	node_close(n);
	n = open_node(NULL);
	cr_expect_not_null(node_tenant_find(n, "ghost"), "API tenants are in the state file");
	cr_expect_eq(node_release_find(n, "ghost.g.1")->state, CATALOG_LIVE);
	node_close(n);
}

Test(node, a_bad_reload_keeps_the_running_config)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	write_conf("{ id = \"acme\"; name = \"Acme\"; max_peers = \"lots\"; }");
	cr_expect_lt(node_reload_config(n, &e), 0);
	cr_expect(strstr(e.msg, "max_peers") != NULL, "the error names the key: %s", e.msg);
	cr_expect(strstr(e.msg, conf) != NULL, "and the file: %s", e.msg);
	cr_expect_not_null(node_tenant_find(n, "b"), "the running config stays");
	node_close(n);
}

Test(node, a_damaged_state_file_is_refused_with_its_path)
{
	char p[500];
	snprintf(p, sizeof(p), "%s/control.state", sdir);
	FILE *f = fopen(p, "w");
	fputs("d7:versioni9ee", f);
	fclose(f);
	struct node *n = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_expect_lt(node_open(conf, &n, &e), 0);
	cr_expect_null(n);
	cr_expect(strstr(e.msg, "control.state") != NULL, "%s", e.msg);
	f = fopen(p, "w");
	fputs("not bencode", f);
	fclose(f);
	seed_err_clear(&e);
	cr_expect_lt(node_open(conf, &n, &e), 0);
	cr_expect(strstr(e.msg, "control.state") != NULL, "%s", e.msg);
}

/* Every field of a tenant against want; the catalog file holds no
 * trackers (the data plane never announces, passkeys stay with
 * seed-control). */
static void expect_tenant(const struct tenant *got, const struct tenant *want, bool trackers)
{
	cr_assert_not_null(got, "tenant %s", want->id);
	cr_expect_str_eq(got->id, want->id);
	cr_expect_str_eq(got->name, want->name);
	cr_expect_eq(got->bandwidth, want->bandwidth);
	cr_expect_eq(got->max_peers, want->max_peers);
	cr_expect_eq(got->embargo_s, want->embargo_s);
	cr_assert_eq(got->allow.n, want->allow.n);
	cr_expect_eq(memcmp(got->allow.v, want->allow.v, want->allow.n * sizeof(want->allow.v[0])),
		     0);
	if (!trackers) {
		cr_expect_eq(got->n_trackers, 0, "tenant %s: trackers in the catalog", want->id);
		return;
	}
	cr_assert_eq(got->n_trackers, want->n_trackers);
	for (unsigned i = 0; i < want->n_trackers; i++)
		cr_expect_str_eq(got->trackers[i], want->trackers[i]);
}

static void expect_same_tenant(const struct tenant *got, const struct tenant *want)
{
	expect_tenant(got, want, true);
}

static void expect_catalog_tenant(const struct tenant *got, const struct tenant *want)
{
	expect_tenant(got, want, false);
}

/* One shape from the config file through the node into the catalog the data
 * plane loads: every field arrives as written (test_tenants.c takes it on
 * from the catalog to the data plane's slots). */
Test(node, a_tenant_reaches_the_catalog_with_every_field)
{
	write_conf(
		"{ id = \"acme\"; name = \"Acme Gämes\"; bandwidth = \"20MB/s\"; max_peers = 500;"
		" allow = [ \"10.0.0.0/8\", \"2001:db8::/32\" ];"
		" trackers = [ \"udp://t.example:6969/announce\", \"http://t2.example/a\" ];"
		" embargo = \"48h\"; }");
	struct seedconf *conf_read = NULL;
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(seedconf_load_file(conf, &conf_read, &e), 0, "%s", e.msg);
	const struct tenant *want = seedconf_tenant_find(conf_read, "acme");
	cr_assert_not_null(want);
	cr_assert_eq(want->allow.n, 2);
	cr_assert_eq(want->n_trackers, 2);
	cr_assert_eq(want->bandwidth, 20000000);

	struct node *n = open_node(NULL);
	expect_same_tenant(node_tenant_find(n, "acme"), want);
	cr_expect_eq(node_tenant_find(n, "acme")->line, want->line);
	cr_assert_eq(node_commit(n, 9, &e), 0, "%s", e.msg);
	struct catalog *c = NULL;
	cr_assert_eq(catalog_load(node_catalog_path(n), &c, &e), 0, "%s", e.msg);
	expect_catalog_tenant(catalog_tenant_find(c, "acme"), want);
	catalog_free(c);

	/* an API tenant: through the state file and a restart, then the catalog */
	struct tenant api = {
		.id = "ghost", .name = "Ghost", .bandwidth = 1000, .max_peers = 3, .embargo_s = 60
	};
	cr_assert_eq(cidr_set_add_str(&api.allow, "192.0.2.0/24", NULL), 0);
	api.trackers[0] = "udp://g.example:1/announce";
	api.n_trackers = 1;
	cr_assert_eq(node_tenant_put(n, &api, true, &e), 0, "%s", e.msg);
	cr_assert_eq(node_commit(n, 10, &e), 0, "%s", e.msg);
	node_close(n);
	n = open_node(NULL);
	expect_same_tenant(node_tenant_find(n, "ghost"), &api);
	cr_assert_eq(node_commit(n, 11, &e), 0, "%s", e.msg);
	cr_assert_eq(catalog_load(node_catalog_path(n), &c, &e), 0, "%s", e.msg);
	expect_catalog_tenant(catalog_tenant_find(c, "ghost"), &api);
	expect_catalog_tenant(catalog_tenant_find(c, "acme"), want);
	catalog_free(c);
	node_close(n);
	seedconf_free(conf_read);
}

/* A tenant the catalog would refuse is refused when it is put, not at the
 * next commit (which would then fail for every tenant). */
Test(node, an_api_tenant_is_checked_by_the_catalogs_rules)
{
	struct seed_err e;
	struct node *n = open_node(&e);
	struct tenant t = { .id = "bad", .name = "Bad\x1b[2J" };
	cr_expect_eq(node_tenant_put(n, &t, true, &e), -EINVAL);
	cr_expect_not_null(strstr(e.msg, "printable UTF-8"), "%s", e.msg);
	struct tenant u = { .id = "Upper", .name = "U" };
	cr_expect_eq(node_tenant_put(n, &u, true, &e), -EINVAL);
	cr_expect_null(node_tenant_find(n, "bad"));
	cr_assert_eq(node_commit(n, 1, &e), 0, "%s", e.msg);
	node_close(n);
}

/* The v1 companion torrent's info-hash goes through lib/hash (it was
 * OpenSSL's SHA1 called directly): it must equal SHA-1 of its info dict. */
Test(node, the_companion_info_hash_is_sha1_of_its_info)
{
	struct node *n = open_node(NULL);
	const struct node_release *r = node_release_find(n, "acme.g.1");
	cr_assert_not_null(r);
	cr_assert(r->has_companion);
	struct store *s = NULL;
	struct store_release *sr = NULL;
	cr_assert_eq(store_open(sdir, STORE_READ, &s, NULL), 0);
	cr_assert_eq(store_release_load(s, "acme.g.1", &sr, NULL), 0);
	struct bencode_doc *doc = NULL;
	cr_assert_eq(bencode_parse(sr->torrent_v1, sr->torrent_v1 + sr->torrent_v1_len, NULL, &doc,
				   NULL),
		     0);
	const struct bencode_node *info = bencode_dict_get(bencode_root(doc), "info");
	uint8_t want[20];
	tu_ref_sha1(info->raw, info->raw_len, want);
	cr_expect_eq(memcmp(r->ih_companion, want, 20), 0);
	bencode_free(doc);
	store_release_free(sr);
	store_close(s);
	node_close(n);
}

static void write_state(const char *bytes)
{
	char p[500];
	snprintf(p, sizeof(p), "%s/control.state", sdir);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(bytes, f);
	fclose(f);
}

/* Version 1 of the state file wrote allow entries as text; version 2 writes
 * the catalog's tenant record. An operator's version 1 file loads with every
 * field, and the next commit writes it back as version 2, which loads the
 * same. */
Test(node, a_version_1_state_file_loads_with_every_field)
{
	write_state("d8:releasesld13:embargo_untili0e2:id8:acme.g.15:state4:liveee"
		    "7:tenantsld5:allowl10:10.0.0.0/813:2001:db8::/32e9:bandwidthi1000e"
		    "9:embargo_si60e2:id5:ghost9:max_peersi3e4:name9:Ghost G\xc3\xa4"
		    "8:trackersl26:udp://g.example:1/announce18:http://t.example/aee"
		    "e7:versioni1ee");
	struct tenant want = { .id = "ghost",
			       .name = "Ghost G\xc3\xa4",
			       .bandwidth = 1000,
			       .max_peers = 3,
			       .embargo_s = 60 };
	cr_assert_eq(cidr_set_add_str(&want.allow, "10.0.0.0/8", NULL), 0);
	cr_assert_eq(cidr_set_add_str(&want.allow, "2001:db8::/32", NULL), 0);
	want.trackers[0] = "udp://g.example:1/announce";
	want.trackers[1] = "http://t.example/a";
	want.n_trackers = 2;

	struct node *n = open_node(NULL);
	const struct tenant *g = node_tenant_find(n, "ghost");
	expect_same_tenant(g, &want);
	cr_expect(g->from_api);
	cr_expect_eq(node_release_find(n, "acme.g.1")->state, CATALOG_LIVE);
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(node_commit(n, 7, &e), 0, "%s", e.msg);
	node_close(n);

	char p[500], buf[4096];
	snprintf(p, sizeof(p), "%s/control.state", sdir);
	FILE *f = fopen(p, "r");
	cr_assert_not_null(f);
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	cr_expect_not_null(memmem(buf, len, "7:versioni2ee", 13), "written back as version 2");
	cr_expect_null(memmem(buf, len, "10.0.0.0/8", 10), "allow entries are the catalog's bytes");
	n = open_node(NULL);
	g = node_tenant_find(n, "ghost");
	expect_same_tenant(g, &want);
	cr_expect(g->from_api);
	cr_expect_eq(node_release_find(n, "acme.g.1")->state, CATALOG_LIVE);
	struct catalog *c = load_cat(n);
	expect_catalog_tenant(catalog_tenant_find(c, "ghost"), &want);
	catalog_free(c);
	node_close(n);
	/* the trackers may hold passkeys: only seed-control reads the file */
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0600, "control.state mode %o", st.st_mode & 0777);
}

/* The API of version 1 took what today's rules refuse: a name with a
 * control character, a tracker with a space, one with a non-ASCII byte,
 * the same tracker twice. Such a state file still loads (seed-control must
 * start after an upgrade): the name's control character becomes '?', those
 * trackers are dropped, the good one stays, and the catalog takes the
 * tenant (without trackers: the data plane never announces). */
Test(node, a_version_1_tenant_the_old_api_took_is_brought_to_todays_rules)
{
	write_state("d8:releasesle7:tenantsld5:allowle9:bandwidthi0e9:embargo_si0e2:id3:old"
		    "9:max_peersi0e4:name7:Old\tCo.8:trackersl18:http://t.example/a"
		    "18:http://t.example/a12:http://x y/a13:http://\xc3\xa9.x/aee"
		    "e7:versioni1ee");
	struct node *n = open_node(NULL);
	const struct tenant *t = node_tenant_find(n, "old");
	cr_assert_not_null(t);
	cr_expect_str_eq(t->name, "Old?Co.");
	cr_assert_eq(t->n_trackers, 1);
	cr_expect_str_eq(t->trackers[0], "http://t.example/a");
	struct seed_err e;
	seed_err_clear(&e);
	cr_assert_eq(node_commit(n, 8, &e), 0, "%s", e.msg);
	struct catalog *c = load_cat(n);
	cr_assert_not_null(catalog_tenant_find(c, "old"));
	cr_expect_eq(catalog_tenant_find(c, "old")->n_trackers, 0, "no trackers in the catalog");
	catalog_free(c);
	node_close(n);
}

/* A tenant entry of either version that the catalog would refuse, or that
 * breaks the API's max_peers bound, is refused with the file's path. */
Test(node, a_bad_tenant_entry_is_refused_with_the_path)
{
	static const struct {
		const char *file, *msg;
	} bad[] = {
		/* version 1: an allow entry that is not a prefix */
		{ "d8:releasesle7:tenantsld5:allowl9:10.0.0.1xe9:bandwidthi0e9:embargo_si0e"
		  "2:id1:g9:max_peersi0e4:name1:G8:trackersleee7:versioni1ee",
		  "allow entry #0 is not an address prefix" },
		/* version 2: max_peers past TENANT_MAX_PEERS */
		{ "d8:releasesle7:tenantsld5:allowle9:bandwidthi0e9:embargo_si0e2:id1:g"
		  "9:max_peersi1000001e4:name1:G8:trackersleee7:versioni2ee",
		  "max_peers 1000001" },
		/* version 2: a text allow entry */
		{ "d8:releasesle7:tenantsld5:allowl10:10.0.0.0/8e9:bandwidthi0e9:embargo_si0e"
		  "2:id1:g9:max_peersi0e4:name1:G8:trackersleee7:versioni2ee",
		  "allow entry #0 is not a 5-byte" },
		/* version 3 */
		{ "d8:releasesle7:tenantsle7:versioni3ee", "not a version 1 or 2" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_state(bad[i].file);
		struct node *n = NULL;
		struct seed_err e;
		seed_err_clear(&e);
		cr_expect_lt(node_open(conf, &n, &e), 0, "case %zu", i);
		cr_expect_null(n);
		cr_expect(strstr(e.msg, "control.state") != NULL, "case %zu: %s", i, e.msg);
		cr_expect(strstr(e.msg, bad[i].msg) != NULL, "case %zu: %s", i, e.msg);
	}
}

/* Releases and tenants are found by id through an index that grows with
 * them: 3,000 releases from a state file, each found, a missing one not. */
Test(node, thousands_of_releases_are_found_by_id)
{
	struct seed_err e;
	char path[500];
	snprintf(path, sizeof(path), "%s/control.state", sdir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "d8:releasesl");
	for (int i = 0; i < 3000; i++) {
		char id[64];
		int len = snprintf(id, sizeof(id), "acme.g%d.%d", i % 97, i);
		fprintf(f, "d13:embargo_untili0e2:id%d:%s5:state4:livee", len, id);
	}
	fprintf(f, "e7:tenantsle7:versioni2ee");
	fclose(f);
	struct node *n = open_node(&e);
	for (int i = 0; i < 3000; i++) {
		char id[64];
		snprintf(id, sizeof(id), "acme.g%d.%d", i % 97, i);
		const struct node_release *r = node_release_find(n, id);
		cr_assert_not_null(r, "%s", id);
		cr_assert_str_eq(r->id, id);
		cr_assert_eq(r->state, CATALOG_LIVE);
	}
	cr_assert_null(node_release_find(n, "acme.g1.3000"));
	cr_assert_not_null(node_tenant_find(n, "acme"));
	cr_assert_null(node_tenant_find(n, "acm"));
	node_close(n);
}
