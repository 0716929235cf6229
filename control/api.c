/*
 * api: see api.h and docs/api.md. Routes are a table (method, path pattern,
 * write or read, handler); handlers build a jansson object and answer it.
 */
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "redact.h"
#include "tracker.h"

#define MAX_TRACKER_ROWS 4096

/* ---- small helpers ---- */

static json_t *time_or_null(int64_t t)
{
	if (t <= 0)
		return json_null();
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* RFC 3339 UTC ("2026-12-01T18:00:00Z") or a number of unix seconds. */
static int parse_time(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return *out > 0 ? 0 : -EINVAL;
	}
	if (!json_is_string(v))
		return -EINVAL;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *s = json_string_value(v);
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || strcmp(end, "Z"))
		return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return *out > 0 ? 0 : -EINVAL;
}

static int answer(struct httpd_conn *c, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return httpd_respond_error(c, 500, "out of memory", NULL);
	int rc = httpd_respond(c, status, "application/json", s, strlen(s), NULL);
	free(s);
	return rc;
}

/* An error answer whose message quotes what a caller or a file said (a
 * tracker URL, a JSON parser's excerpt of the body): redacted first. */
static int refuse(struct httpd_conn *c, unsigned status, const char *msg)
{
	char safe[HTTPD_ERROR_MSG_MAX + 1];

	redact_text(msg, strlen(msg), safe, sizeof(safe));
	return httpd_respond_error(c, status, safe, NULL);
}

static int fail(struct httpd_conn *c, int code, const char *msg)
{
	unsigned st = code == -ENOENT	? 404
		      : code == -EEXIST ? 409
		      : code == -EPERM	? 409
		      : code == -ENOMEM ? 500
					: 400;
	return refuse(c, st, msg);
}

static json_t *proto_pair(uint64_t bt, uint64_t http)
{
	return json_pack("{s:I,s:I}", "bt", (json_int_t)bt, "http", (json_int_t)http);
}

/* ---- sampling ---- */

int api_init(struct api *a, struct node *node, const char *stats_path, int64_t now)
{
	memset(a, 0, sizeof(*a));
	a->node = node;
	a->started = now;
	snprintf(a->stats_path, sizeof(a->stats_path), "%s", stats_path);
	for (unsigned i = 0; i < API_RATE_WINDOW; i++) {
		a->ring[i] = calloc(1, sizeof(*a->ring[i]));
		if (!a->ring[i]) {
			api_fini(a);
			return -ENOMEM;
		}
	}
	a->cur = a->prev = a->ring[0];
	return 0;
}

void api_fini(struct api *a)
{
	dpstats_close(a->dp);
	for (unsigned i = 0; i < API_RATE_WINDOW; i++)
		free(a->ring[i]);
	memset(a, 0, sizeof(*a));
}

void api_sample(struct api *a, uint64_t now_ms)
{
	struct dpstats *d = NULL;
	/* A restarted data plane replaces the file: map the new one. */
	if (dpstats_open(a->stats_path, &d, NULL) == 0) {
		if (!a->dp || dpstats_pid(d) != a->dp_pid || dpstats_start_ns(d) != a->dp_start) {
			dpstats_close(a->dp);
			a->dp = d;
			a->dp_pid = dpstats_pid(d);
			a->dp_start = dpstats_start_ns(d);
			a->ring_n = 0; /* counters restarted: no rate across */
		} else {
			dpstats_close(d);
		}
	} else if (a->dp) {
		dpstats_close(a->dp);
		a->dp = NULL;
	}
	if (!a->dp)
		return;
	a->ring_head = (a->ring_head + 1) % API_RATE_WINDOW;
	a->cur = a->ring[a->ring_head];
	dpstats_sum(a->dp, a->cur);
	a->cur_ms = a->ring_ms[a->ring_head] = now_ms;
	if (a->ring_n < API_RATE_WINDOW)
		a->ring_n++;
	unsigned oldest = (a->ring_head + API_RATE_WINDOW - (a->ring_n - 1)) % API_RATE_WINDOW;
	a->prev = a->ring[oldest];
	a->prev_ms = a->ring_n > 1 ? a->ring_ms[oldest] : 0;
}

static uint64_t rate(const struct api *a, uint64_t cur, uint64_t prev)
{
	if (!a->prev_ms || a->cur_ms <= a->prev_ms || cur < prev)
		return 0;
	return (cur - prev) * 1000 / (a->cur_ms - a->prev_ms);
}

/* Peers the data plane counts against a tenant (0 when it has none). */
static int64_t tenant_peers(const struct api *a, const char *id)
{
	if (!a->dp)
		return 0;
	for (unsigned i = 0; i < dpstats_n_tenants(a->dp); i++)
		if (!strcmp(dpstats_tenant_id(a->dp, i), id))
			return dpstats_tenant_peers(a->dp, i);
	return 0;
}

/* A release's slot in the counters file, -1 when it has none. */
static int rel_slot(const struct api *a, const char *id)
{
	if (!a->dp)
		return -1;
	unsigned n = dpstats_n_releases(a->dp);
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(dpstats_release_id(a->dp, i), id))
			return (int)i;
	return -1;
}

void api_announce_totals(const struct api *a, uint64_t out[METRICS_NANNOUNCE])
{
	uint64_t t[3] = { 0, 0, 0 };
	if (a->tracker)
		tracker_totals(a->tracker, t);
	for (int i = 0; i < METRICS_NANNOUNCE; i++)
		out[i] = t[i];
}

/* ---- JSON views ---- */

/* s as a JSON string with its secrets redacted (lib/redact.h). */
static json_t *redacted(const char *s)
{
	char *r = redact_dup(s);
	json_t *j = json_string(r ? r : REDACT_MARK);

	free(r);
	return j;
}

static json_t *tenant_json(const struct tenant *t)
{
	json_t *allow = json_array(), *tr = json_array();
	for (uint32_t i = 0; i < t->allow.n; i++) {
		char c[64];
		cidr_format(&t->allow.v[i], c, sizeof(c));
		json_array_append_new(allow, json_string(c));
	}
	for (unsigned i = 0; i < t->n_trackers; i++)
		json_array_append_new(tr, redacted(t->trackers[i]));
	return json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:I,s:s,s:s}", "id", t->id, "name", t->name,
			 "bandwidth_bps", (json_int_t)t->bandwidth, "max_peers",
			 (json_int_t)t->max_peers, "allow", allow, "trackers", tr, "embargo_s",
			 (json_int_t)t->embargo_s, "seeding", tenant_seeding_name(t->seeding),
			 "source", t->from_api ? "api" : "config");
}

static json_t *release_json(const struct api *a, const struct node_release *r)
{
	char v1[41] = "", v2[65] = "";
	if (r->has_v1)
		hex_encode(r->ih_v1, 20, v1);
	if (r->has_v2)
		hex_encode(r->ih_v2, 32, v2);
	json_t *j = json_pack(
		"{s:s,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:b}", "id", r->id, "tenant", r->tenant, "state",
		catalog_state_name(r->state), "embargo_until",
		r->state == CATALOG_EMBARGOED ? time_or_null(r->embargo_until) : json_null(),
		"files", (json_int_t)r->files, "bytes_total", (json_int_t)r->bytes_total,
		"infohash_v1", r->has_v1 ? json_string(v1) : json_null(), "infohash_v2",
		r->has_v2 ? json_string(v2) : json_null(), "tenant_configured",
		node_tenant_find(a->node, r->tenant) != NULL);
	int s = rel_slot(a, r->id);
	uint64_t bt = 0, http = 0, rt = 0;
	if (s >= 0) {
		bt = a->cur->rel[s].bytes[DPSTATS_BT];
		http = a->cur->rel[s].bytes[DPSTATS_HTTP];
		rt = rate(a, bt + http,
			  a->prev->rel[s].bytes[DPSTATS_BT] + a->prev->rel[s].bytes[DPSTATS_HTTP]);
	}
	json_object_set_new(j, "bytes", proto_pair(bt, http));
	json_object_set_new(j, "rate_bps", json_integer((json_int_t)rt));
	return j;
}

static json_t *releases_json(const struct api *a)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < node_n_releases(a->node); i++) {
		const struct node_release *r = node_release_at(a->node, i);
		if (r->in_store)
			json_array_append_new(arr, release_json(a, r));
	}
	return arr;
}

/* A tenant's record of the last scrub that covered its releases (scrub.h),
 * or null. */
static json_t *tenant_scrub_json(const struct scrub_last *last, const char *tenant)
{
	const struct scrub_tenant *t = last ? scrub_last_tenant(last, tenant) : NULL;
	if (!t)
		return json_null();
	json_t *o = json_pack("{s:I,s:b}", "finished", (json_int_t)t->finished, "whole", t->whole);
	for (size_t k = 0; k < SCRUB_NSTATS; k++)
		json_object_set_new(o, scrub_stat_name(k),
				    json_integer((json_int_t)scrub_stat(&t->st, k)));
	return o;
}

/* last: the store's scrub record (may be NULL: never scrubbed). */
static json_t *tenants_status(const struct api *a, const struct scrub_last *last)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < node_n_tenants(a->node); i++) {
		const struct tenant *t = node_tenant_at(a->node, i);
		uint64_t bytes = 0, pbytes = 0;
		for (size_t k = 0; k < node_n_releases(a->node); k++) {
			const struct node_release *r = node_release_at(a->node, k);
			int s = strcmp(r->tenant, t->id) ? -1 : rel_slot(a, r->id);
			if (s < 0)
				continue;
			for (int p = 0; p < DPSTATS_NPROTO; p++) {
				bytes += a->cur->rel[s].bytes[p];
				pbytes += a->prev->rel[s].bytes[p];
			}
		}
		json_array_append_new(arr,
				      json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o}", "id", t->id,
						"name", t->name, "bytes", (json_int_t)bytes,
						"rate_bps", (json_int_t)rate(a, bytes, pbytes),
						"bandwidth_bps", (json_int_t)t->bandwidth, "peers",
						(json_int_t)tenant_peers(a, t->id), "max_peers",
						(json_int_t)t->max_peers, "scrub",
						tenant_scrub_json(last, t->id)));
	}
	return arr;
}

static json_t *trackers_json(const struct api *a)
{
	json_t *arr = json_array();
	if (!a->tracker)
		return arr;
	static struct tracker_status st[MAX_TRACKER_ROWS];
	size_t n = tracker_status(a->tracker, st, MAX_TRACKER_ROWS);
	if (n > MAX_TRACKER_ROWS)
		n = MAX_TRACKER_ROWS;
	static const char *const res[] = { "pending", "ok", "failure", "error" };
	for (size_t i = 0; i < n; i++) {
		char h[41];
		hex_encode(st[i].reg.info_hash, 20, h);
		json_array_append_new(
			arr, json_pack("{s:o,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:b}", "url",
				       redacted(st[i].reg.url), "release", st[i].reg.release,
				       "info_hash", h, "last_result", res[st[i].last_result & 3],
				       "message", redacted(st[i].last_message), "last_announce",
				       time_or_null(st[i].last_announce), "next_announce",
				       time_or_null(st[i].next_announce), "peers_seen",
				       (json_int_t)st[i].peers_seen, "stopping", st[i].stopping));
	}
	return arr;
}

static json_t *status_json(const struct api *a, int64_t now)
{
	const struct dpstats_worker *t = a->cur, *p = a->prev;
	json_t *dp = json_pack("{s:b}", "running", a->dp != NULL);
	if (a->dp) {
		json_object_set_new(dp, "pid", json_integer(a->dp_pid));
		json_object_set_new(dp, "workers", json_integer(dpstats_n_workers(a->dp)));
		json_object_set_new(dp, "started",
				    time_or_null((int64_t)(a->dp_start / 1000000000u)));
		json_object_set_new(dp, "releases_unloadable",
				    json_integer((json_int_t)dpstats_unloadable(a->dp)));
	}
	uint64_t hits = t->cache_hits, miss = t->cache_misses;
	json_t *refusals = json_object(), *admit = json_object();
	for (int i = 0; i < DPSTATS_NREFUSALS; i++)
		json_object_set_new(refusals, dpstats_refusal_names[i],
				    json_integer((json_int_t)t->refusals[i]));
	for (int i = 0; i < DPSTATS_NADMIT; i++)
		json_object_set_new(admit, dpstats_admit_names[i],
				    json_integer((json_int_t)t->admit_refusals[i]));
	json_t *totals =
		json_pack("{s:o,s:o,s:o,s:o,s:I,s:I,s:{s:I,s:I,s:I,s:f},s:o,s:o}", "bytes",
			  proto_pair(t->payload_bytes[0], t->payload_bytes[1]), "rate_bps",
			  proto_pair(rate(a, t->payload_bytes[0], p->payload_bytes[0]),
				     rate(a, t->payload_bytes[1], p->payload_bytes[1])),
			  "peers", proto_pair(t->conns_open[0], t->conns_open[1]), "requests",
			  proto_pair(t->requests[0], t->requests[1]), "verify_failures",
			  (json_int_t)t->verify_failures, "storage_errors",
			  (json_int_t)t->storage_errors, "cache", "hits", (json_int_t)hits,
			  "misses", (json_int_t)miss, "evictions", (json_int_t)t->cache_evictions,
			  "hit_ratio", hits + miss ? (double)hits / (double)(hits + miss) : 0.0,
			  "refusals", refusals, "admit_refusals", admit);
	/* a small file, read per request like /metrics: a scrub shows at once */
	struct scrub_last last;
	struct seed_err se;
	seed_err_clear(&se);
	int scrubbed = scrub_last(node_conf(a->node)->store, &last, &se) == 0;
	json_t *tenants = tenants_status(a, scrubbed ? &last : NULL);
	scrub_last_free(&last);
	return json_pack("{s:s,s:s,s:i,s:I,s:I,s:b,s:o,s:o,s:o,s:o,s:o}", "node",
			 node_conf(a->node)->name, "version", SEED_VERSION, "pid", (int)getpid(),
			 "uptime_s", (json_int_t)(now - a->started), "catalog_generation",
			 (json_int_t)node_generation(a->node), "draining", a->draining, "dataplane",
			 dp, "totals", totals, "tenants", tenants, "releases", releases_json(a),
			 "trackers", trackers_json(a));
}

/* ---- handlers ---- */

struct route_arg {
	const char *id; /* decoded path parameter */
	const char *verb;
};

static json_t *body_json(const struct httpd_request *req, struct httpd_conn *c, int *rc)
{
	if (!req->body_len)
		return json_object();
	json_error_t je;
	json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		char msg[300];
		snprintf(msg, sizeof(msg), "request body: %s (line %d, column %d)",
			 j ? "expected a JSON object" : je.text, je.line, je.column);
		json_decref(j);
		*rc = refuse(c, 400, msg);
		return NULL;
	}
	return j;
}

static int h_status(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		    const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg;
	return answer(c, 200, status_json(a, now));
}

static int h_metrics(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		     const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return httpd_respond_error(c, 500, "out of memory", NULL);
	/* a scrape gets the counters as they are now, not the last sample */
	struct dpstats_worker *fresh = a->dp ? malloc(sizeof(*fresh)) : NULL;
	if (fresh)
		dpstats_sum(a->dp, fresh);
	/* a small file, read per scrape: a scrub's record shows at once */
	struct scrub_last last;
	struct seed_err se;
	seed_err_clear(&se);
	int scrubbed = scrub_last(node_conf(a->node)->store, &last, &se) == 0;
	struct keeper_status ks;
	if (a->keeper)
		keeper_status(a->keeper, &ks);
	struct statvfs vfs;
	int have_fs = statvfs(node_conf(a->node)->store, &vfs) == 0;
	struct metrics_input in = { .node = a->node,
				    .dp = fresh ? a->dp : NULL,
				    .sum = fresh,
				    .now = now,
				    .started = a->started,
				    .scrub = scrubbed ? &last : NULL,
				    .keeper = a->keeper ? &ks : NULL,
				    .have_fs = have_fs,
				    .fs_size = have_fs ? (uint64_t)vfs.f_blocks * vfs.f_frsize : 0,
				    .fs_free =
					    have_fs ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0 };
	api_announce_totals(a, in.announces);
	int rc = metrics_write(f, &in);
	scrub_last_free(&last);
	free(fresh);
	fclose(f);
	if (rc < 0) {
		free(buf);
		return httpd_respond_error(c, 500, "metrics: write failed", NULL);
	}
	rc = httpd_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len, NULL);
	free(buf);
	return rc;
}

static int h_page(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		  const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	if (!a->page)
		return httpd_respond_error(c, 404, "status page not built in", NULL);
	return httpd_respond(c, 200, "text/html; charset=utf-8", a->page, a->page_len,
			     "Cache-Control: no-store\r\n");
}

static int h_releases(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		      const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	return answer(c, 200, json_pack("{s:o}", "releases", releases_json(a)));
}

static int h_release_verb(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
			  const struct route_arg *arg, int64_t now)
{
	int rc = 0;
	json_t *body = body_json(req, c, &rc);
	if (!body)
		return rc;
	struct seed_err err;
	seed_err_clear(&err);
	const char *v = arg->verb;
	if (!strcmp(v, "publish")) {
		json_t *nowf = json_object_get(body, "now");
		if (nowf && !json_is_boolean(nowf)) {
			json_decref(body);
			return httpd_respond_error(c, 400, "\"now\": expected true or false", NULL);
		}
		rc = node_release_publish(a->node, arg->id, now, nowf && json_is_true(nowf), &err);
	} else if (!strcmp(v, "embargo")) {
		int64_t until;
		json_t *u = json_object_get(body, "until");
		if (!u || parse_time(u, &until) < 0) {
			json_decref(body);
			return httpd_respond_error(
				c, 400,
				"\"until\": expected an RFC 3339 UTC time (2026-12-01T18:00:00Z) "
				"or unix seconds",
				NULL);
		}
		rc = node_release_embargo(a->node, arg->id, until, &err);
	} else if (!strcmp(v, "pause")) {
		rc = node_release_pause(a->node, arg->id, &err);
	} else if (!strcmp(v, "retire")) {
		rc = node_release_retire(a->node, arg->id, now, &err);
	} else {
		json_decref(body);
		return httpd_respond_error(c, 404, "unknown release action", NULL);
	}
	json_decref(body);
	if (rc < 0)
		return fail(c, rc, err.msg);
	return answer(c, 200, release_json(a, node_release_find(a->node, arg->id)));
}

static int h_tenants(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		     const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	json_t *arr = json_array();
	for (size_t i = 0; i < node_n_tenants(a->node); i++)
		json_array_append_new(arr, tenant_json(node_tenant_at(a->node, i)));
	return answer(c, 200, json_pack("{s:o}", "tenants", arr));
}

/*
 * The "trackers" field into t (which holds the tenant as it is, for a
 * PATCH): a list of http:// or udp:// URLs. A URL that holds REDACTED is
 * one a GET showed: it stands for the tenant's tracker it was made from,
 * so a GET body sent back edited keeps the passkeys. NULL, or why not.
 */
static const char *take_trackers(json_t *v, struct tenant *t)
{
	char *urls[TENANT_MAX_TRACKERS];
	size_t i, n = 0;
	json_t *x;
	const char *bad = NULL;

	if (!json_is_array(v) || json_array_size(v) > TENANT_MAX_TRACKERS)
		return "expected a list of at most 32 http:// or udp:// URLs";
	json_array_foreach(v, i, x)
	{
		const char *u = json_is_string(x) ? json_string_value(x) : "";
		const char *keep = u;

		if ((strncmp(u, "http://", 7) && strncmp(u, "udp://", 6)) ||
		    strlen(u) > TENANT_URL_MAX) {
			bad = "expected http:// or udp:// URLs";
			break;
		}
		if (strstr(u, REDACT_MARK)) {
			keep = NULL;
			for (unsigned k = 0; k < t->n_trackers && !keep; k++) {
				char *r = redact_dup(t->trackers[k]);
				if (r && !strcmp(r, u))
					keep = t->trackers[k];
				free(r);
			}
			if (!keep) {
				bad = "a URL holding REDACTED matches none of the tenant's "
				      "trackers: "
				      "send the full URL";
				break;
			}
		}
		urls[n] = strdup(keep);
		if (!urls[n]) {
			bad = "out of memory";
			break;
		}
		n++;
	}
	if (bad) {
		while (n)
			free(urls[--n]);
		return bad;
	}
	for (unsigned k = 0; k < t->n_trackers; k++)
		free(t->trackers[k]);
	for (i = 0; i < n; i++)
		t->trackers[i] = urls[i];
	t->n_trackers = (unsigned)n;
	return NULL;
}

/* Fills t from a JSON object over base (a PATCH starts from the tenant as
 * it is). Returns 0 or answers 400 naming the field and returns 1. */
static int tenant_from_json(struct httpd_conn *c, json_t *j, struct tenant *t, int *rc)
{
	const char *key;
	json_t *v;
	char msg[SEED_ERR_MSG_MAX + 200];
	json_object_foreach(j, key, v)
	{
		struct seed_err e;
		seed_err_clear(&e);
		const char *bad = NULL;
		if (!strcmp(key, "id")) {
			if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(t->id))
				bad = "expected a tenant id ([a-z0-9-], at most 32)";
			else if (*t->id && strcmp(t->id, json_string_value(v)))
				bad = "the id of a tenant cannot change";
			else
				snprintf(t->id, sizeof(t->id), "%s", json_string_value(v));
		} else if (!strcmp(key, "name")) {
			if (!json_is_string(v) || !*json_string_value(v) ||
			    strlen(json_string_value(v)) >= sizeof(t->name))
				bad = "expected a display name of 1 to 128 bytes";
			else
				snprintf(t->name, sizeof(t->name), "%s", json_string_value(v));
		} else if (!strcmp(key, "bandwidth") || !strcmp(key, "bandwidth_bps")) {
			if (json_is_integer(v) && json_integer_value(v) >= 0 &&
			    (uint64_t)json_integer_value(v) <= TENANT_RATE_MAX)
				t->bandwidth = (uint64_t)json_integer_value(v);
			else if (!json_is_string(v) ||
				 seedconf_parse_rate(json_string_value(v), &t->bandwidth, &e) < 0)
				bad = e.msg[0] ? e.msg : "expected bytes per second or a rate";
		} else if (!strcmp(key, "max_peers")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > TENANT_MAX_PEERS)
				bad = "expected 0 (unlimited) to 1000000";
			else
				t->max_peers = (uint32_t)json_integer_value(v);
		} else if (!strcmp(key, "embargo") || !strcmp(key, "embargo_s")) {
			if (json_is_integer(v) && json_integer_value(v) >= 0)
				t->embargo_s = json_integer_value(v);
			else if (!json_is_string(v) ||
				 seedconf_parse_duration(json_string_value(v), &t->embargo_s, &e) <
					 0)
				bad = e.msg[0] ? e.msg : "expected seconds or a duration";
		} else if (!strcmp(key, "allow")) {
			struct cidr_set s;
			cidr_set_init(&s);
			size_t i;
			json_t *x;
			if (!json_is_array(v))
				bad = "expected a list of CIDRs";
			json_array_foreach(v, i, x)
			{
				if (bad)
					break;
				if (!json_is_string(x) ||
				    cidr_set_add_str(&s, json_string_value(x), &e) < 0)
					bad = e.msg[0] ? e.msg : "expected CIDR strings";
			}
			if (!bad)
				t->allow = s;
		} else if (!strcmp(key, "trackers")) {
			bad = take_trackers(v, t);
		} else if (!strcmp(key, "seeding")) {
			/* docs/swarm.md; "default": the data plane's --seeding */
			if (!json_is_string(v) ||
			    tenant_seeding_parse(json_string_value(v), strlen(json_string_value(v)),
						 &t->seeding) < 0)
				bad = "expected \"default\", \"plain\", \"super\" or \"rarest\"";
		} else if (!strcmp(key, "source")) {
			/* echoed by GET: accepted and ignored, so a GET body can be
			 * sent back edited */
		} else {
			bad = "unknown field";
		}
		if (bad) {
			snprintf(msg, sizeof(msg), "tenant field \"%s\": %s", key, bad);
			*rc = refuse(c, 400, msg);
			return 1;
		}
	}
	return 0;
}

static int h_tenant_put(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
			const struct route_arg *arg, int64_t now)
{
	(void)now;
	int rc = 0;
	json_t *body = body_json(req, c, &rc);
	if (!body)
		return rc;
	struct tenant t;
	memset(&t, 0, sizeof(t));
	bool create = arg->id == NULL;
	if (!create) {
		const struct tenant *old = node_tenant_find(a->node, arg->id);
		if (!old) {
			json_decref(body);
			return httpd_respond_error(c, 404, "no such tenant", NULL);
		}
		if (tenant_copy(&t, old) < 0) {
			json_decref(body);
			return httpd_respond_error(c, 500, "out of memory", NULL);
		}
	}
	if (tenant_from_json(c, body, &t, &rc)) {
		json_decref(body);
		tenant_clear(&t);
		return rc;
	}
	json_decref(body);
	const char *bad = !tenant_id_valid(t.id) ? "tenant \"id\": expected [a-z0-9-]{1,32}"
			  : !*t.name		 ? "tenant \"name\" is required"
						 : NULL;
	struct seed_err err;
	seed_err_clear(&err);
	if (!bad)
		rc = node_tenant_put(a->node, &t, create, &err);
	tenant_clear(&t);
	if (bad)
		return httpd_respond_error(c, 400, bad, NULL);
	if (rc < 0)
		return fail(c, rc, err.msg);
	return answer(c, create ? 201 : 200, tenant_json(node_tenant_find(a->node, t.id)));
}

static int h_peers(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		   const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	const struct dpstats_worker *t = a->cur;
	json_t *tenants = json_array();
	for (size_t i = 0; i < node_n_tenants(a->node); i++) {
		const struct tenant *x = node_tenant_at(a->node, i);
		json_array_append_new(tenants, json_pack("{s:s,s:I,s:I}", "id", x->id, "peers",
							 (json_int_t)tenant_peers(a, x->id),
							 "max_peers", (json_int_t)x->max_peers));
	}
	return answer(c, 200,
		      json_pack("{s:o,s:o,s:o}", "total",
				proto_pair(t->conns_open[DPSTATS_BT], t->conns_open[DPSTATS_HTTP]),
				"accepted",
				proto_pair(t->conns_accepted[DPSTATS_BT],
					   t->conns_accepted[DPSTATS_HTTP]),
				"tenants", tenants));
}

/*
 * Runs one of seed-control's hooks (absent: -ENOSYS), then answers 200 with
 * what done() makes of it; on failure answers `status` with the hook's
 * message (or fallback when it left none).
 */
static int run_hook(struct api *a, struct httpd_conn *c, int (*hook)(void *, struct seed_err *),
		    int status, const char *fallback, json_t *(*done)(struct api *))
{
	struct seed_err err;

	seed_err_clear(&err);
	if ((hook ? hook(a->hooks.ctx, &err) : -ENOSYS) < 0)
		return refuse(c, (unsigned)status, err.msg[0] ? err.msg : fallback);
	return answer(c, 200, done(a));
}

static json_t *reloaded(struct api *a)
{
	return json_pack("{s:I}", "generation", (json_int_t)node_generation(a->node));
}

static json_t *drained(struct api *a)
{
	a->draining = true;
	return json_pack("{s:b}", "draining", 1);
}

static int h_reload(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		    const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	return run_hook(a, c, a->hooks.reload, 400, "reload failed", reloaded);
}

static int h_drain(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
		   const struct route_arg *arg, int64_t now)
{
	(void)req, (void)arg, (void)now;
	return run_hook(a, c, a->hooks.drain, 500, "drain failed", drained);
}

typedef int (*handler_fn)(struct api *, struct httpd_conn *, const struct httpd_request *,
			  const struct route_arg *, int64_t);

/* The route table: a path is "/api/v1/" + up to three segments. */
struct route {
	enum httpd_method method;
	const char *pattern; /* segments after /api/v1, '*' = parameter */
	bool write;
	handler_fn fn;
};

static const struct route routes[] = {
	{ HTTPD_GET, "status", false, h_status },
	{ HTTPD_GET, "releases", false, h_releases },
	{ HTTPD_POST, "releases/*/*", true, h_release_verb },
	{ HTTPD_GET, "tenants", false, h_tenants },
	{ HTTPD_POST, "tenants", true, h_tenant_put },
	{ HTTPD_PATCH, "tenants/*", true, h_tenant_put },
	{ HTTPD_GET, "peers", false, h_peers },
	{ HTTPD_POST, "reload", true, h_reload },
	{ HTTPD_POST, "drain", true, h_drain },
};

int api_handle(struct api *a, struct httpd_conn *c, const struct httpd_request *req,
	       const struct api_caller *who, int64_t now)
{
	bool get = req->method == HTTPD_GET || req->method == HTTPD_HEAD;
	if (!who->may_read)
		return httpd_respond_error(c, 403, who->refusal, NULL);
	if (req->path_len == 1 && req->path[0] == '/') {
		if (!get)
			return httpd_respond_error(c, 405, "the status page takes GET",
						   "Allow: GET, HEAD\r\n");
		return h_page(a, c, req, NULL, now);
	}
	if (req->path_len == 8 && !memcmp(req->path, "/metrics", 8)) {
		if (!get)
			return httpd_respond_error(c, 405, "/metrics takes GET",
						   "Allow: GET, HEAD\r\n");
		return h_metrics(a, c, req, NULL, now);
	}
	/* split and decode up to 5 segments: api, v1, a, b, c */
	char seg[5][256];
	size_t nseg = 0, pos = 0, sl;
	const char *s;
	while (httpd_path_segment(req->path, req->path_len, &pos, &s, &sl) == 1) {
		if (nseg == 5)
			return httpd_respond_error(c, 404, "no such endpoint", NULL);
		ssize_t d = httpd_pct_decode(s, sl, seg[nseg], sizeof(seg[0]) - 1);
		if (d < 0)
			return httpd_respond_error(c, 400, "bad percent-encoding in the path",
						   NULL);
		seg[nseg][d] = 0;
		if (memchr(seg[nseg], 0, (size_t)d))
			return httpd_respond_error(c, 400, "NUL in the path", NULL);
		nseg++;
	}
	if (nseg < 3 || strcmp(seg[0], "api") || strcmp(seg[1], "v1"))
		return httpd_respond_error(c, 404, "no such endpoint (see docs/api.md)", NULL);
	bool path_known = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		char pat[64];
		snprintf(pat, sizeof(pat), "%s", r->pattern);
		struct route_arg arg = { NULL, NULL };
		size_t k = 2;
		int match = 1;
		for (char *save = NULL, *tok = strtok_r(pat, "/", &save); tok;
		     tok = strtok_r(NULL, "/", &save), k++) {
			if (k >= nseg) {
				match = 0;
				break;
			}
			if (!strcmp(tok, "*")) {
				if (!arg.id)
					arg.id = seg[k];
				else
					arg.verb = seg[k];
			} else if (strcmp(tok, seg[k])) {
				match = 0;
				break;
			}
		}
		if (!match || k != nseg)
			continue;
		path_known = true;
		bool m = r->method == req->method || (r->method == HTTPD_GET && get);
		if (!m)
			continue;
		if (r->write && !who->may_write)
			return httpd_respond_error(c, 403, who->refusal, NULL);
		return r->fn(a, c, req, &arg, now);
	}
	if (path_known)
		return httpd_respond_error(c, 405, "method not allowed here", NULL);
	return httpd_respond_error(c, 404, "no such endpoint (see docs/api.md)", NULL);
}
