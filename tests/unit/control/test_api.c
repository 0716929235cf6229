/*
 * control/api: what callers of each role may do (a reader reads and is
 * refused changes with the message it was given, a caller with no role gets
 * nothing), that tenants are shown with their tracker URLs redacted, and
 * that a tenant sent back as shown keeps its real URLs, a tenant's seeding
 * policy shown and set, the swarm counters in /metrics. Requests are byte
 * strings through the httpd engine; the node is a real one over a store.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../storeutil.h"
#include "api.h"
#include "dpstats.h"
#include "node.h"

#define URL1 "http://t.example/announce?passkey=SECRET1"
#define URL2 "udp://t.example:6969/announce?token=SECRET2"

static char base[TU_PATH_MAX], conf[400], sdir[400], run_dir[400];
static struct node *N;
static struct api A;

static void setup(void)
{
	char src[400], p[500], stats[500];
	struct ingest_opts o = su_opts("acme", "g", "1", METAINFO_HYBRID, 16384);
	struct seed_err e;

	tu_tmpdir(base, "test_api");
	snprintf(conf, sizeof(conf), "%s/seed.conf", base);
	snprintf(sdir, sizeof(sdir), "%s/store", base);
	snprintf(run_dir, sizeof(run_dir), "%s/run", base);
	FILE *f = fopen(conf, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"node = { name = \"n1\"; store = \"%s\"; run_dir = \"%s\"; api_socket = "
		"\"%s/c.sock\"; status_listen = \"\"; };\n"
		"tenants = ( { id = \"acme\"; trackers = [ \"" URL1 "\", \"" URL2 "\" ]; } );\n",
		sdir, run_dir, run_dir);
	fclose(f);
	snprintf(src, sizeof(src), "%s/src", base);
	cr_assert_eq(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/f.bin", src);
	su_write_pattern(p, 40000, 7, 1, 0);
	su_ingest(sdir, src, &o, NULL);
	seed_err_clear(&e);
	cr_assert_eq(node_open(conf, &N, &e), 0, "%s", e.msg);
	snprintf(stats, sizeof(stats), "%s/none.stats", run_dir);
	cr_assert_eq(api_init(&A, N, stats, 1000), 0);
}

static void teardown(void)
{
	api_fini(&A);
	node_close(N);
	tu_rmtree(base);
}

TestSuite(api, .init = setup, .fini = teardown);

static const struct api_caller admin = { true, true, "unused" };
static const struct api_caller reader = { true, false, "READER-REFUSAL: needs group seed" };
static const struct api_caller nobody = { false, false, "NOBODY-REFUSAL" };

/* One request (METHOD PATH, optional JSON body) from who; the status and
 * the body (malloc'd, NUL-terminated) of the answer. */
static unsigned call(const struct api_caller *who, const char *method, const char *path,
		     const char *body, char **out_body)
{
	struct httpd_conn c;
	struct httpd_request req;
	char head[600];
	const uint8_t *o;
	size_t n;
	unsigned status = 0;
	size_t bl = body ? strlen(body) : 0;

	cr_assert_eq(httpd_conn_init(&c, NULL, 0), 0);
	snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
		 method, path, bl);
	cr_assert_eq(httpd_conn_feed(&c, head, strlen(head), 0), (ssize_t)strlen(head));
	if (bl)
		cr_assert_eq(httpd_conn_feed(&c, body, bl, 0), (ssize_t)bl);
	cr_assert_eq(httpd_conn_next(&c, &req), 1);
	cr_assert_eq(api_handle(&A, &c, &req, who, 2000), 0);
	httpd_conn_output(&c, &o, &n);
	cr_assert(n > 12 && sscanf((const char *)o, "HTTP/1.1 %u", &status) == 1);
	const uint8_t *b = memmem(o, n, "\r\n\r\n", 4);
	cr_assert_not_null(b);
	b += 4;
	*out_body = strndup((const char *)b, n - (size_t)(b - o));
	cr_assert_not_null(*out_body);
	httpd_conn_free(&c);
	return status;
}

Test(api, tenants_are_shown_with_their_tracker_urls_redacted)
{
	char *b;

	cr_assert_eq(call(&reader, "GET", "/api/v1/tenants", NULL, &b), 200);
	cr_expect(strstr(b, "http://t.example/announce?passkey=REDACTED"), "%s", b);
	cr_expect(strstr(b, "udp://t.example:6969/announce?token=REDACTED"), "%s", b);
	cr_expect_null(strstr(b, "SECRET"), "%s", b);
	free(b);
	cr_assert_eq(call(&reader, "GET", "/api/v1/status", NULL, &b), 200);
	cr_expect_null(strstr(b, "SECRET"), "%s", b);
	free(b);
}

Test(api, a_reader_reads_and_is_refused_changes_with_its_message)
{
	char *b;

	cr_assert_eq(call(&reader, "GET", "/api/v1/releases", NULL, &b), 200);
	cr_expect(strstr(b, "acme.g.1"), "%s", b);
	free(b);
	cr_assert_eq(call(&reader, "HEAD", "/api/v1/peers", NULL, &b), 200);
	free(b);
	static const char *const changes[][3] = {
		{ "PATCH", "/api/v1/tenants/acme", "{\"max_peers\": 5}" },
		{ "POST", "/api/v1/tenants", "{\"id\": \"x\", \"name\": \"X\"}" },
		{ "POST", "/api/v1/releases/acme.g.1/publish", NULL },
		{ "POST", "/api/v1/reload", NULL },
		{ "POST", "/api/v1/drain", NULL },
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		cr_expect_eq(call(&reader, changes[i][0], changes[i][1], changes[i][2], &b), 403,
			     "%s %s", changes[i][0], changes[i][1]);
		cr_expect_str_eq(b, "{\"error\":\"READER-REFUSAL: needs group seed\"}");
		free(b);
	}
	cr_expect_eq(node_tenant_find(N, "acme")->max_peers, 0, "the refused PATCH changed it");
	cr_expect_null(node_tenant_find(N, "x"));
	cr_expect_eq(node_release_find(N, "acme.g.1")->state, CATALOG_STAGED);
}

Test(api, a_caller_with_no_role_gets_nothing)
{
	static const char *const paths[] = { "/", "/metrics", "/api/v1/status", "/api/v1/tenants",
					     "/api/v1/nonexistent" };
	char *b;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		cr_expect_eq(call(&nobody, "GET", paths[i], NULL, &b), 403, "%s", paths[i]);
		cr_expect_str_eq(b, "{\"error\":\"NOBODY-REFUSAL\"}");
		free(b);
	}
}

Test(api, a_tenant_sent_back_as_shown_keeps_its_real_urls)
{
	char *b;
	const struct tenant *t;

	cr_assert_eq(
		call(&admin, "PATCH", "/api/v1/tenants/acme",
		     "{\"name\": \"Acme 2\", \"trackers\": [\"udp://t.example:6969/"
		     "announce?token=REDACTED\", \"http://t.example/announce?passkey=REDACTED\"]}",
		     &b),
		200, "%s", b);
	cr_expect_null(strstr(b, "SECRET"), "%s", b);
	free(b);
	t = node_tenant_find(N, "acme");
	cr_assert_eq(t->n_trackers, 2);
	cr_expect_str_eq(t->trackers[0], URL2, "reordered, each kept whole");
	cr_expect_str_eq(t->trackers[1], URL1);
	cr_expect_str_eq(t->name, "Acme 2");
	/* a redacted URL the tenant never had: refused, nothing changes */
	cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme",
			  "{\"trackers\": [\"http://t.example/announce?passkey=SECRET1\", "
			  "\"http://other.example/a?passkey=REDACTED\"]}",
			  &b),
		     400);
	cr_expect(strstr(b, "matches none of the tenant's trackers"), "%s", b);
	free(b);
	t = node_tenant_find(N, "acme");
	cr_expect_eq(t->n_trackers, 2);
	cr_expect_str_eq(t->trackers[0], URL2);
	/* a new full URL replaces, as before */
	cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme",
			  "{\"trackers\": [\"http://n.example/a?passkey=NEW\"]}", &b),
		     200, "%s", b);
	cr_expect(strstr(b, "http://n.example/a?passkey=REDACTED"), "%s", b);
	free(b);
	t = node_tenant_find(N, "acme");
	cr_assert_eq(t->n_trackers, 1);
	cr_expect_str_eq(t->trackers[0], "http://n.example/a?passkey=NEW");
}

/* Error answers quote what was refused (a URL the catalog's rules refuse,
 * the JSON parser's view of the body): redacted too. */
Test(api, refusals_quote_nothing_secret)
{
	char *b;

	cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme",
			  "{\"trackers\": [\"http://t.example/a b?passkey=SECRET3\"]}", &b),
		     400);
	cr_expect(strstr(b, "tracker"), "%s", b);
	cr_expect_null(strstr(b, "SECRET3"), "%s", b);
	free(b);
	cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme",
			  "{\"trackers\": [passkey=SECRET4]}", &b),
		     400);
	cr_expect_null(strstr(b, "SECRET4"), "%s", b);
	free(b);
	cr_expect_str_eq(node_tenant_find(N, "acme")->trackers[0], URL1, "nothing changed");
}

/* /metrics counts each release once, into its tenant's row and state. */
Test(api, metrics_count_releases_by_tenant_and_state)
{
	char *b;
	cr_assert_eq(call(&reader, "GET", "/metrics", NULL, &b), 200);
	cr_expect_not_null(strstr(b, "\nseed_releases{tenant=\"acme\",state=\"staged\"} 1\n"), "%s",
			   b);
	cr_expect_not_null(strstr(b, "\nseed_releases{tenant=\"acme\",state=\"live\"} 0\n"));
	cr_expect_not_null(strstr(b, "\nseed_store_release_bytes{tenant=\"acme\"} 40000\n"));
	cr_expect_not_null(strstr(b, "\nseed_store_release_files{tenant=\"acme\"} 1\n"));
	cr_expect_null(strstr(b, "(unconfigured)"), "no release of an unknown tenant");
	free(b);
	cr_assert_eq(call(&admin, "POST", "/api/v1/releases/acme.g.1/publish", "{}", &b), 200, "%s",
		     b);
	free(b);
	cr_assert_eq(call(&reader, "GET", "/metrics", NULL, &b), 200);
	cr_expect_not_null(strstr(b, "\nseed_releases{tenant=\"acme\",state=\"staged\"} 0\n"));
	cr_expect_not_null(strstr(b, "\nseed_releases{tenant=\"acme\",state=\"live\"} 1\n"), "%s",
			   b);
	free(b);
}

/* A tenant's seeding policy (docs/swarm.md): shown by GET ("default" when
 * the config sets none), set by PATCH and POST, a name it does not know
 * refused naming the field, nothing changed. */
Test(api, a_tenants_seeding_is_shown_and_set)
{
	char *b;

	cr_assert_eq(call(&reader, "GET", "/api/v1/tenants", NULL, &b), 200);
	cr_expect(strstr(b, "\"seeding\": \"default\"") || strstr(b, "\"seeding\":\"default\""),
		  "%s", b);
	free(b);
	cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme", "{\"seeding\": \"rarest\"}", &b),
		     200, "%s", b);
	cr_expect(strstr(b, "\"seeding\": \"rarest\"") || strstr(b, "\"seeding\":\"rarest\""), "%s",
		  b);
	free(b);
	cr_expect_eq(node_tenant_find(N, "acme")->seeding, TENANT_SEEDING_RAREST);
	static const char *const bad[] = { "{\"seeding\": \"fastest\"}", "{\"seeding\": 3}",
					   "{\"seeding\": \"Rarest\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(call(&admin, "PATCH", "/api/v1/tenants/acme", bad[i], &b), 400, "%s",
			     bad[i]);
		cr_expect(strstr(b, "tenant field \\\"seeding\\\""), "%s", b);
		free(b);
	}
	cr_expect_eq(node_tenant_find(N, "acme")->seeding, TENANT_SEEDING_RAREST, "unchanged");
	cr_assert_eq(call(&admin, "POST", "/api/v1/tenants",
			  "{\"id\": \"beta\", \"name\": \"Beta\", \"seeding\": \"super\"}", &b),
		     201, "%s", b);
	free(b);
	cr_expect_eq(node_tenant_find(N, "beta")->seeding, TENANT_SEEDING_SUPER);
	cr_assert_eq(
		call(&admin, "PATCH", "/api/v1/tenants/acme", "{\"seeding\": \"default\"}", &b),
		200, "%s", b);
	free(b);
	cr_expect_eq(node_tenant_find(N, "acme")->seeding, TENANT_SEEDING_DEFAULT);
}

/* A data plane's counters file of n_workers where seed-control's API looks
 * for it (run_dir/none.stats), for a test to write into. */
static struct dpstats *dp_stats(unsigned n_workers)
{
	char path[500];
	struct dpstats *s;
	struct seed_err e;

	mkdir(run_dir, 0755);
	snprintf(path, sizeof(path), "%s/none.stats", run_dir);
	seed_err_clear(&e);
	cr_assert_eq(dpstats_create(path, n_workers, &s, &e), 0, "%s", e.msg);
	return s;
}

/* The data plane's swarm counters (its main thread's sums in the counters
 * file) are seed_dataplane_swarm_*_total counters in /metrics. */
Test(api, metrics_show_the_swarm_counters)
{
	char want[120], *b;
	struct dpstats *s;
	uint64_t v[DPSTATS_NSWARM];

	s = dp_stats(1);
	for (unsigned k = 0; k < DPSTATS_NSWARM; k++)
		v[k] = 100 + k;
	dpstats_set_swarm(s, v);
	api_sample(&A, 1000);
	cr_assert_eq(call(&reader, "GET", "/metrics", NULL, &b), 200);
	for (unsigned k = 0; k < DPSTATS_NSWARM; k++) {
		snprintf(want, sizeof(want), "\n# TYPE seed_dataplane_swarm_%s_total counter\n",
			 dpstats_swarm_names[k]);
		cr_expect(strstr(b, want), "%s in %s", want, b);
		snprintf(want, sizeof(want), "\nseed_dataplane_swarm_%s_total %u\n",
			 dpstats_swarm_names[k], 100 + k);
		cr_expect(strstr(b, want), "%s", want);
	}
	cr_expect(strstr(b, "\nseed_dataplane_swarm_injected_total 100\n"));
	cr_expect(strstr(b, "\nseed_dataplane_swarm_boot_total 106\n"));
	cr_expect(strstr(b, "\nseed_dataplane_swarm_refunded_total 107\n"));
	cr_expect(strstr(b, "\nseed_dataplane_swarm_late_total 108\n"));
	free(b);
	dpstats_close(s);
}

/* Per release: a series for each release that had a swarm view, gauges
 * for its peers, counters for the rest; none for a release seeded plain
 * (all zeros). */
Test(api, metrics_show_each_releases_swarm)
{
	char want[200], *b;
	struct dpstats *s;
	uint64_t v[DPSTATS_NRSWARM];

	s = dp_stats(1);
	cr_assert_eq(dpstats_release_slot(s, "plainrel"), 0);
	cr_assert_eq(dpstats_release_slot(s, "crowdrel"), 1);
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++)
		v[k] = 20 + k;
	cr_assert_eq(dpstats_set_release_swarm(s, 1, v), 0);
	api_sample(&A, 1000);
	cr_assert_eq(call(&reader, "GET", "/metrics", NULL, &b), 200);
	cr_expect(strstr(b, "\n# TYPE seed_swarm_peers gauge\n"), "%s", b);
	cr_expect(strstr(b, "\n# TYPE seed_swarm_leechers gauge\n"));
	cr_expect(strstr(b, "\n# TYPE seed_swarm_injected_total counter\n"));
	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++) {
		snprintf(want, sizeof(want),
			 "\nseed_swarm_%s%s{tenant=\"\",release=\"crowdrel\"} %u\n",
			 dpstats_rswarm_names[k], k < DPSTATS_RSWARM_GAUGES ? "" : "_total",
			 20 + k);
		cr_expect(strstr(b, want), "%s", want);
	}
	cr_expect(!strstr(b, "release=\"plainrel\"} "), "no swarm series for a plain release");
	cr_expect(strstr(b, "seed_bytes_served_total{tenant=\"\",release=\"plainrel\""),
		  "its byte counters are there");
	free(b);
	dpstats_close(s);
}

/* Which worker served what: each worker's own payload and store reads, as
 * that worker wrote them into the counters file. */
Test(api, metrics_show_each_workers_payload_and_store_reads)
{
	char *b;
	struct dpstats *s;

	s = dp_stats(2);
	dpstats_add(&dpstats_worker(s, 0)->payload_bytes[DPSTATS_BT], 7000);
	dpstats_add(&dpstats_worker(s, 1)->payload_bytes[DPSTATS_HTTP], 1234);
	dpstats_add(&dpstats_worker(s, 1)->storage_read_bytes, 16384);
	api_sample(&A, 1000);
	cr_assert_eq(call(&reader, "GET", "/metrics", NULL, &b), 200);
	cr_expect(strstr(b, "\n# TYPE seed_worker_payload_bytes_total counter\n"), "%s", b);
	cr_expect(strstr(b, "\nseed_worker_payload_bytes_total{worker=\"0\",protocol="
			    "\"bt\"} 7000\n"));
	cr_expect(
		strstr(b, "\nseed_worker_payload_bytes_total{worker=\"0\",protocol=\"http\"} 0\n"));
	cr_expect(strstr(b, "\nseed_worker_payload_bytes_total{worker=\"1\",protocol="
			    "\"http\"} 1234\n"));
	cr_expect(strstr(b, "\nseed_worker_storage_read_bytes_total{worker=\"0\"} 0\n"));
	cr_expect(strstr(b, "\nseed_worker_storage_read_bytes_total{worker=\"1\"} 16384\n"));
	/* the sums are the workers' together */
	cr_expect(strstr(b, "\nseed_storage_read_bytes_total 16384\n"), "%s", b);
	free(b);
	dpstats_close(s);
}

/* totals.rate_bps.http from GET /api/v1/status, -1 when not found. */
static long long status_http_rate(void)
{
	char *b;
	long long r = -1;

	cr_assert_eq(call(&reader, "GET", "/api/v1/status", NULL, &b), 200);
	const char *t = strstr(b, "\"totals\"");
	const char *k = t ? strstr(t, "\"rate_bps\"") : NULL;
	const char *h = k ? strstr(k, "\"http\"") : NULL;
	if (h)
		cr_assert_eq(sscanf(h, "\"http\": %lld", &r), 1, "%s", b);
	free(b);
	return r;
}

/* A client that reads its socket in bursts (curl --limit-rate) has the
 * kernel take our bytes in bursts: 10 MiB at once, then nothing for two
 * seconds. The rate stays that of the download, not 0 between bursts, and
 * falls to 0 only once the window holds no burst. */
Test(api, a_bursty_download_shows_its_rate_between_bursts)
{
	struct dpstats *s;
	uint64_t ms = 1000;

	s = dp_stats(1);
	_Atomic uint64_t *http = &dpstats_worker(s, 0)->payload_bytes[DPSTATS_HTTP];
	api_sample(&A, ms);
	cr_expect_eq(status_http_rate(), 0, "one sample: no rate yet");
	dpstats_add(http, 10 << 20);
	api_sample(&A, ms += 1000);
	cr_expect_eq(status_http_rate(), 10 << 20);
	api_sample(&A, ms += 1000);
	cr_expect_eq(status_http_rate(), (10 << 20) / 2, "a second with nothing");
	api_sample(&A, ms += 1000);
	cr_expect_eq(status_http_rate(), (10 << 20) / 3, "two seconds with nothing");
	for (unsigned i = 0; i < API_RATE_WINDOW - 4; i++)
		api_sample(&A, ms += 1000);
	cr_expect_eq(status_http_rate(), (10LL << 20) / (API_RATE_WINDOW - 1),
		     "the burst is the window's oldest step");
	api_sample(&A, ms += 1000);
	cr_expect_eq(status_http_rate(), 0, "the burst has left the window");
	dpstats_close(s);
}
