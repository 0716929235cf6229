/*
 * metrics: see metrics.h. Names follow Prometheus conventions: seed_ prefix,
 * base units (bytes, seconds), _total for counters.
 */
#include "metrics.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const proto_name[DPSTATS_NPROTO] = { "bt", "http" };

/* Label values may hold anything a config or a store allowed: escape the
 * three characters the text format reserves. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f), fputc(*v, f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long u(uint64_t v)
{
	return (unsigned long long)v;
}

static void per_proto(FILE *f, const char *name, const char *type, const char *help,
		      const _Atomic uint64_t *v)
{
	family(f, name, type, help);
	for (int p = 0; p < DPSTATS_NPROTO; p++)
		fprintf(f, "%s{protocol=\"%s\"} %llu\n", name, proto_name[p], u(v[p]));
}

/* A counter family with one sample per reason: names[i] labels v[i], for
 * i from first (0, or 1 where slot 0 means "none") to n - 1. */
static void per_reason(FILE *f, const char *name, const char *help, const char *const *names,
		       const _Atomic uint64_t *v, int first, int n)
{
	family(f, name, "counter", help);
	for (int i = first; i < n; i++)
		fprintf(f, "%s{reason=\"%s\"} %llu\n", name, names[i], u(v[i]));
}

static void scalar(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	family(f, name, type, help);
	fprintf(f, "%s %llu\n", name, u(v));
}

/* The node's view of a release id (tenant label), "" when unknown. */
static const char *tenant_of(const struct node *n, const char *id)
{
	const struct node_release *r = node_release_find(n, id);
	return r ? r->tenant : "";
}

enum rel_ctr { REL_BYTES, REL_REQUESTS };

/* A counter family by tenant, release and protocol, from the releases'
 * counters (which: bytes or requests). */
static void per_release(FILE *f, const struct metrics_input *in, const char *name, const char *help,
			enum rel_ctr which)
{
	family(f, name, "counter", help);
	for (unsigned i = 0; i < dpstats_n_releases(in->dp); i++) {
		const char *id = dpstats_release_id(in->dp, i);
		const struct dpstats_release_ctr *rc = &in->sum->rel[i];
		const _Atomic uint64_t *v = which == REL_BYTES ? rc->bytes : rc->requests;
		for (int p = 0; p < DPSTATS_NPROTO; p++) {
			fprintf(f, "%s{tenant=\"", name);
			label(f, tenant_of(in->node, id));
			fputs("\",release=\"", f);
			label(f, id);
			fprintf(f, "\",protocol=\"%s\"} %llu\n", proto_name[p], u(v[p]));
		}
	}
}

/* How the kernel (SO_REUSEPORT) or the NIC (RSS) spread peers over the
 * workers, and which of them read the store for the cache they share. */
static void per_worker(FILE *f, const struct dpstats *dp)
{
	family(f, "seed_worker_payload_bytes_total", "counter",
	       "Block payload bytes sent, by worker and protocol.");
	for (unsigned i = 0; i < dpstats_n_workers(dp); i++)
		for (int p = 0; p < DPSTATS_NPROTO; p++)
			fprintf(f,
				"seed_worker_payload_bytes_total{worker=\"%u\",protocol="
				"\"%s\"} %llu\n",
				i, proto_name[p], u(dpstats_worker_read(dp, i)->payload_bytes[p]));
	family(f, "seed_worker_storage_read_bytes_total", "counter",
	       "Bytes each worker read from the store into the shared block cache.");
	for (unsigned i = 0; i < dpstats_n_workers(dp); i++)
		fprintf(f, "seed_worker_storage_read_bytes_total{worker=\"%u\"} %llu\n", i,
			u(dpstats_worker_read(dp, i)->storage_read_bytes));
}

static void dataplane(FILE *f, const struct metrics_input *in)
{
	const struct dpstats_worker *t = in->sum;
	const struct dpstats *dp = in->dp;

	per_release(f, in, "seed_bytes_served_total",
		    "Block payload bytes sent, by tenant, release and protocol.", REL_BYTES);
	for (int p = 0; p < DPSTATS_NPROTO; p++)
		fprintf(f,
			"seed_bytes_served_total{tenant=\"\",release=\"\",protocol=\"%s\"} %llu\n",
			proto_name[p], u(t->unrouted_bytes[p]));

	per_release(f, in, "seed_requests_total",
		    "Block requests (BitTorrent) and ranges (HTTP) queued for sending, by tenant, "
		    "release and protocol.",
		    REL_REQUESTS);

	per_proto(f, "seed_peers", "gauge", "Connections open now, by protocol.", t->conns_open);
	family(f, "seed_tenant_peers", "gauge",
	       "Connections counted against each tenant's max_peers.");
	for (unsigned i = 0; i < dpstats_n_tenants(dp); i++) {
		fputs("seed_tenant_peers{tenant=\"", f);
		label(f, dpstats_tenant_id(dp, i));
		fprintf(f, "\"} %lld\n", (long long)dpstats_tenant_peers(dp, i));
	}
	per_proto(f, "seed_connections_accepted_total", "counter",
		  "Connections accepted, by protocol.", t->conns_accepted);
	/* BitTorrent by transport: uTP's share is counted, TCP's is the rest */
	family(f, "seed_bt_payload_bytes_total", "counter",
	       "BitTorrent block payload bytes sent, by transport.");
	uint64_t bt = u(t->payload_bytes[DPSTATS_BT]), ut = u(t->utp_payload_bytes);
	fprintf(f, "seed_bt_payload_bytes_total{transport=\"tcp\"} %llu\n",
		(unsigned long long)(bt > ut ? bt - ut : 0));
	fprintf(f, "seed_bt_payload_bytes_total{transport=\"utp\"} %llu\n", (unsigned long long)ut);
	per_proto(f, "seed_connections_closed_total", "counter", "Connections closed, by protocol.",
		  t->conns_closed);
	per_worker(f, dp);

	per_reason(f, "seed_refusals_total",
		   "Peers or requests refused before any payload, by reason.",
		   dpstats_refusal_names, t->refusals, 0, DPSTATS_NREFUSALS);
	per_reason(f, "seed_admit_refusals_total",
		   "Connections refused by the per-source limits (at accept; mse_rate when an MSE "
		   "handshake starts), by reason.",
		   dpstats_admit_names, t->admit_refusals, 0, DPSTATS_NADMIT);
	/* close reason 0 is "none" */
	per_reason(f, "seed_engine_closes_total",
		   "Connections the protocol engines closed, by reason.", dpstats_close_names,
		   t->closes, 1, DPSTATS_CLOSE_REASONS);

	family(f, "seed_bt_mse_handshakes_total", "counter",
	       "Encrypted (MSE/PE) peer-wire handshakes answered, by the method selected.");
	fprintf(f, "seed_bt_mse_handshakes_total{method=\"plaintext\"} %llu\n",
		u(t->mse_handshakes[DPSTATS_MSE_PLAINTEXT]));
	fprintf(f, "seed_bt_mse_handshakes_total{method=\"rc4\"} %llu\n",
		u(t->mse_handshakes[DPSTATS_MSE_RC4]));
	/* the data plane's plain totals: one sample each. Each field of struct
	 * dpstats_worker is named as its metric (CONVENTIONS rule 9): the name
	 * is seed_FIELD, with _total for a counter. */
#define TOTAL_ROW(field, type, suffix, help)                                              \
	{                                                                                 \
		"seed_" #field suffix, type, help, offsetof(struct dpstats_worker, field) \
	}
#define COUNTER(field, help) TOTAL_ROW(field, "counter", "_total", help)
#define GAUGE(field, help)   TOTAL_ROW(field, "gauge", "", help)
	static const struct {
		const char *name, *type, *help;
		size_t off; /* an _Atomic uint64_t of struct dpstats_worker */
	} totals[] = {
		COUNTER(verify_failures, "Blocks read from the store that failed their XXH3-128 "
					 "check (never served as read)."),
		COUNTER(blocks_repaired, "Bad blocks rebuilt from their stripe's parity on the way "
					 "into the cache, then served."),
		COUNTER(repair_failures, "Bad blocks whose stripe had more bad blocks than its "
					 "parity rebuilds (refused)."),
		COUNTER(leaf_failures, "Of those, blocks rebuilt whole that matched their XXH3-128 "
				       "but not their SHA-256 leaf (refused)."),
		COUNTER(cache_hits, "Block lookups served from the cache."),
		COUNTER(cache_misses, "Block lookups that needed a read."),
		COUNTER(cache_evictions, "Blocks evicted from the cache."),
		COUNTER(blocks_parked, "Blocks queued for peers that had stopped reading, let go "
				       "while the cache had no free slot."),
		GAUGE(cache_capacity_bytes, "Block memory of the cache."),
		COUNTER(storage_reads, "Reads issued to the store."),
		COUNTER(storage_read_bytes, "Bytes read from the store."),
		COUNTER(storage_errors, "Store reads that failed."),
		COUNTER(readahead_reads, "Store reads of several blocks (the rest of a piece or "
					 "range, read ahead)."),
		COUNTER(readahead_blocks,
			"Blocks those reads brought beyond the one a peer had asked for."),
		COUNTER(readahead_splits, "Reads ahead that failed or came back short; their "
					  "blocks were read again one by one."),
		COUNTER(readahead_budget_waits,
			"Misses read alone because the worker's read-ahead budget was in flight."),
		COUNTER(object_opens,
			"Object files opened for a read (each one not already open)."),
		GAUGE(object_fds_open,
		      "Object files open now, all workers (at most --object-fds)."),
		COUNTER(object_open_errors, "Object files that could not be opened (gone or "
					    "unreadable; blocks refused)."),
		COUNTER(object_fd_waits, "Reads that waited for a free object descriptor slot."),
		GAUGE(net_links_up, "Workers that see their port's link up (dpdk backend)."),
		COUNTER(net_rx_packets, "Frames received from the port (dpdk backend)."),
		COUNTER(net_tx_packets, "Frames sent on the port (dpdk backend)."),
		COUNTER(net_rx_dropped,
			"Frames the port dropped on receive: queue full, no buffers (dpdk)."),
		COUNTER(net_tx_dropped,
			"Frames the data plane could not queue for sending (dpdk)."),
		COUNTER(net_input_errors,
			"Frames our stack refused: bad headers, checksums, fragments (dpdk)."),
		COUNTER(tcp_retransmits, "TCP segments sent again (dpdk backend)."),
		COUNTER(tcp_timeouts, "TCP retransmission timeouts (dpdk backend)."),
		COUNTER(tcp_syn_cookies, "SYN-ACKs sent, each a SYN cookie (dpdk backend)."),
		COUNTER(tcp_bad_cookies,
			"ACKs matching no connection whose cookie did not check (dpdk)."),
		COUNTER(busy_cycles,
			"CPU cycles (TSC) of worker loop passes that did work (dpdk backend)."),
		COUNTER(utp_conns_accepted, "uTP (BEP 29) connections accepted."),
		COUNTER(utp_datagrams_in, "uTP datagrams received."),
		COUNTER(utp_datagrams_out, "uTP datagrams sent."),
		COUNTER(utp_retransmits, "uTP packets sent again (loss or timeout)."),
		COUNTER(utp_timeouts, "uTP retransmission timeouts."),
		COUNTER(utp_malformed, "uTP datagrams refused as malformed."),
	};
#undef GAUGE
#undef COUNTER
#undef TOTAL_ROW
	for (size_t k = 0; k < sizeof(totals) / sizeof(totals[0]); k++)
		scalar(f, totals[k].name, totals[k].type, totals[k].help,
		       *(const _Atomic uint64_t *)(const void *)((const char *)t + totals[k].off));

	family(f, "seed_storage_read_latency_seconds", "histogram",
	       "Store read latency, submission to completion.");
	uint64_t cum = 0;
	for (int i = 0; i < DPSTATS_LAT_BUCKETS - 1; i++) {
		cum += t->storage_lat_bucket[i];
		fprintf(f, "seed_storage_read_latency_seconds_bucket{le=\"%g\"} %llu\n",
			dpstats_lat_bounds_us[i] / 1e6, u(cum));
	}
	cum += t->storage_lat_bucket[DPSTATS_LAT_BUCKETS - 1];
	fprintf(f, "seed_storage_read_latency_seconds_bucket{le=\"+Inf\"} %llu\n", u(cum));
	fprintf(f, "seed_storage_read_latency_seconds_sum %.6f\n", t->storage_lat_sum_us / 1e6);
	fprintf(f, "seed_storage_read_latency_seconds_count %llu\n", u(cum));
}

/* The store keeper: the background scrub's pass and reclaim. */
static void keeper_metrics(FILE *f, const struct metrics_input *in)
{
	const struct keeper_status *k = in->keeper;
	const struct seedconf_node *nc = node_conf(in->node);
	scalar(f, "seed_scrub_running", "gauge", "1 while a background scrub pass runs.",
	       k->scrubbing);
	scalar(f, "seed_scrub_interval_seconds", "gauge",
	       "How often a background scrub pass starts (scrub_interval; 0: none).",
	       (uint64_t)nc->scrub_interval_s);
	scalar(f, "seed_scrub_rate_bytes", "gauge",
	       "How fast the background scrub reads the store (scrub_rate; 0: unpaced).",
	       nc->scrub_rate);
	if (k->pass_started)
		scalar(f, "seed_scrub_pass_start_time_seconds", "gauge",
		       "When the running (or last) background scrub pass started.",
		       (uint64_t)k->pass_started);
	if (k->next_pass)
		scalar(f, "seed_scrub_next_pass_time_seconds", "gauge",
		       "When the next background scrub pass starts.", (uint64_t)k->next_pass);
	family(f, "seed_scrub_passes_total", "counter",
	       "Background scrub passes since seed-control started, by how they ended.");
	fprintf(f, "seed_scrub_passes_total{result=\"finished\"} %llu\n", u(k->passes));
	fprintf(f, "seed_scrub_passes_total{result=\"failed\"} %llu\n", u(k->passes_failed));
	family(f, "seed_scrub_pass_found", "gauge",
	       "What the running (or last) background scrub pass has counted so far, by "
	       "counter (bytes and objects are its progress).");
	for (size_t i = 0; i < SCRUB_NSTATS; i++)
		fprintf(f, "seed_scrub_pass_found{counter=\"%s\"} %llu\n", scrub_stat_name(i),
			u(scrub_stat(&k->cur, i)));
	scalar(f, "seed_store_reclaimed_releases_total", "counter",
	       "Retired releases removed from the store after reclaim_retired.", k->reclaimed);
	scalar(f, "seed_store_reclaim_failures_total", "counter",
	       "Removals of retired releases that failed (retried after 10 minutes).",
	       k->reclaim_failed);
	scalar(f, "seed_store_reclaim_waiting", "gauge",
	       "Retired releases due for removal, waiting for the store's writer lock.",
	       k->reclaim_waiting);
	family(f, "seed_store_repair_records_total", "counter",
	       "Blocks the data plane found bad, whose stripes seed-control checked on disk, by "
	       "what it found.");
	static const char *const what[] = { "written_back", "whole", "lost", "failed", "dropped" };
	const uint64_t v[] = { k->written_back, k->found_whole, k->found_lost, k->check_failed,
			       k->records_dropped };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		fprintf(f, "seed_store_repair_records_total{result=\"%s\"} %llu\n", what[i],
			u(v[i]));
}

static const enum catalog_state states[] = { CATALOG_STAGED, CATALOG_EMBARGOED, CATALOG_LIVE,
					     CATALOG_PAUSED, CATALOG_RETIRED };
#define N_STATES (sizeof(states) / sizeof(states[0]))

/* A tenant's releases in the store; row n_tenants: tenants not configured. */
struct tenant_rows {
	uint64_t by_state[N_STATES];
	uint64_t releases, bytes, files;
};

/* Every release counted into its tenant's row in one pass (a scrape must
 * not cost tenants x releases). NULL when out of memory. */
static struct tenant_rows *tenant_rows(const struct node *nd)
{
	size_t nt = node_n_tenants(nd);
	struct tenant_rows *rows = calloc(nt + 1, sizeof(*rows));
	if (!rows)
		return NULL;
	const struct tenant *t0 = node_tenant_at(nd, 0);
	for (size_t i = 0; i < node_n_releases(nd); i++) {
		const struct node_release *r = node_release_at(nd, i);
		if (!r->in_store)
			continue;
		const struct tenant *t = node_tenant_find(nd, r->tenant);
		struct tenant_rows *row = &rows[t ? (size_t)(t - t0) : nt];
		for (size_t s = 0; s < N_STATES; s++)
			row->by_state[s] += r->state == states[s];
		row->releases++;
		row->bytes += r->bytes_total;
		row->files += r->files;
	}
	return rows;
}

/* What the store holds, by tenant (from the releases' manifests, as the
 * last rescan found them), and its file system's room. */
static void store_metrics(FILE *f, const struct metrics_input *in, const struct tenant_rows *rows)
{
	if (in->have_fs) {
		scalar(f, "seed_store_fs_size_bytes", "gauge",
		       "Size of the file system the store is on.", in->fs_size);
		scalar(f, "seed_store_fs_free_bytes", "gauge",
		       "Bytes of the store's file system free for its writer.", in->fs_free);
	}
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "seed_store_release_bytes",
		  "Bytes of the releases in the store (files as published, before sharing "
		  "between versions), by tenant." },
		{ "seed_store_release_files", "Files of the releases in the store, by tenant." },
	};
	for (size_t m = 0; m < 2; m++) {
		family(f, fam[m].name, "gauge", fam[m].help);
		for (size_t ti = 0; ti <= node_n_tenants(in->node); ti++) {
			const struct tenant *t = node_tenant_at(in->node, ti);
			uint64_t v = m == 0 ? rows[ti].bytes : rows[ti].files;
			if (!t && !rows[ti].releases)
				continue;
			fprintf(f, "%s{tenant=\"", fam[m].name);
			label(f, t ? t->id : "(unconfigured)");
			fprintf(f, "\"} %llu\n", u(v));
		}
	}
}

/* Per tenant, the last scrub that covered its releases (scrub.h: an object
 * two tenants share counts for the first in id order). Tenant names are
 * plain label values (A-Z a-z 0-9 - _, checked when scrub.last is read). */
static void scrub_tenant_metrics(FILE *f, const struct scrub_last *l)
{
	if (!l->n_tenants)
		return;
	family(f, "seed_scrub_tenant_last_finish_time_seconds", "gauge",
	       "When the last scrub that covered the tenant's releases finished.");
	for (size_t i = 0; i < l->n_tenants; i++)
		fprintf(f, "seed_scrub_tenant_last_finish_time_seconds{tenant=\"%s\"} %lld\n",
			l->tenants[i].tenant, (long long)l->tenants[i].finished);
	family(f, "seed_scrub_tenant_last_whole", "gauge",
	       "1 when the tenant's releases were whole after the last scrub that covered them.");
	for (size_t i = 0; i < l->n_tenants; i++)
		fprintf(f, "seed_scrub_tenant_last_whole{tenant=\"%s\"} %d\n", l->tenants[i].tenant,
			l->tenants[i].whole);
	family(f, "seed_scrub_tenant_last_found", "gauge",
	       "What the last scrub that covered the tenant's releases counted in them "
	       "(objects, bytes, blocks_rebuilt, blocks_lost, ...), by tenant and counter.");
	for (size_t i = 0; i < l->n_tenants; i++)
		for (size_t k = 0; k < SCRUB_NSTATS; k++)
			fprintf(f,
				"seed_scrub_tenant_last_found{tenant=\"%s\",counter=\"%s\"} %llu\n",
				l->tenants[i].tenant, scrub_stat_name(k),
				u(scrub_stat(&l->tenants[i].st, k)));
}

/* The seeding policies' counters (docs/swarm.md), summed over releases by
 * the data plane's main thread: one counter each. */
static void swarm_metrics(FILE *f, const struct dpstats *dp)
{
	static const char *const help[DPSTATS_NSWARM] = {
		[DPSTATS_SWARM_INJECTED] = "Pieces the seeding policy advertised to a peer "
					   "lacking them (super, rarest): copies put in flight.",
		[DPSTATS_SWARM_SECOND] = "Of the pieces advertised, those some peer already held "
					 "or was getting: second copies.",
		[DPSTATS_SWARM_FALLBACKS] = "Pieces given to a starving peer (rarest) or past a "
					    "stalled offer (super).",
		[DPSTATS_SWARM_SMALL] = "Pieces given under rarest's small-swarm rule "
					"(--swarm-small).",
		[DPSTATS_SWARM_PASSED] = "Pieces peers reported that we never sent them: copies "
					 "the swarm passed on.",
		[DPSTATS_SWARM_RELEASED] = "Advertised pieces a stalled peer stopped holding "
					   "back (rarest).",
		[DPSTATS_SWARM_BOOT] = "Pieces others held, given to slow peers from the "
				       "latecomers' top-up pool (rarest, --swarm-boot).",
		[DPSTATS_SWARM_REFUNDED] = "Of the top-ups, pieces the peer got elsewhere "
					   "first (or never asked for): back to the pool.",
		[DPSTATS_SWARM_LATE] = "Latecomers: peers that joined once every piece went out "
				       "once and half of them landed (rarest; each fed the pool).",
	};
	uint64_t v[DPSTATS_NSWARM];
	char name[64];

	dpstats_swarm(dp, v);
	for (unsigned k = 0; k < DPSTATS_NSWARM; k++) {
		snprintf(name, sizeof(name), "seed_dataplane_swarm_%s_total",
			 dpstats_swarm_names[k]);
		scalar(f, name, "counter", help[k], v[k]);
	}
}

/* The same per release, for releases that had a swarm view (super,
 * rarest): gauges seed_swarm_peers and _leechers, counters
 * seed_swarm_NAME_total. */
static void swarm_per_release(FILE *f, const struct metrics_input *in)
{
	static const char *const help[DPSTATS_NRSWARM] = {
		[DPSTATS_RSWARM_PEERS] = "Peers connected to a release seeded super or rarest.",
		[DPSTATS_RSWARM_LEECHERS] = "Of them, peers lacking a piece.",
		[DPSTATS_RSWARM_INJECTED] = "Pieces the seeding policy advertised to a peer "
					    "lacking them, by release.",
		[DPSTATS_RSWARM_PASSED] = "Pieces peers reported that we never sent them, by "
					  "release.",
		[DPSTATS_RSWARM_BOOT] = "Top-up pieces given to slow peers from the pool, by "
					"release (rarest).",
		[DPSTATS_RSWARM_LATE] = "Latecomers that fed the top-up pool, by release "
					"(rarest).",
	};
	unsigned n = dpstats_n_releases(in->dp);
	uint64_t v[DPSTATS_NRSWARM];
	char name[64];

	for (unsigned k = 0; k < DPSTATS_NRSWARM; k++) {
		int gauge = k < DPSTATS_RSWARM_GAUGES;

		snprintf(name, sizeof(name), gauge ? "seed_swarm_%s" : "seed_swarm_%s_total",
			 dpstats_rswarm_names[k]);
		family(f, name, gauge ? "gauge" : "counter", help[k]);
		for (unsigned i = 0; i < n; i++) {
			const char *id = dpstats_release_id(in->dp, i);
			int any = 0;

			dpstats_release_swarm(in->dp, i, v);
			for (unsigned j = 0; j < DPSTATS_NRSWARM; j++)
				any |= v[j] != 0;
			if (!any) /* no view: seeded plain, or no peer yet */
				continue;
			fprintf(f, "%s{tenant=\"", name);
			label(f, tenant_of(in->node, id));
			fputs("\",release=\"", f);
			label(f, id);
			fprintf(f, "\"} %llu\n", u(v[k]));
		}
	}
}

int metrics_write(FILE *f, const struct metrics_input *in)
{
	family(f, "seed_up", "gauge", "1 while seed-control runs.");
	fprintf(f, "seed_up 1\n");
	family(f, "seed_control_start_time_seconds", "gauge", "When seed-control started.");
	fprintf(f, "seed_control_start_time_seconds %lld\n", (long long)in->started);
	family(f, "seed_dataplane_up", "gauge", "1 when the data plane's counters file is mapped.");
	fprintf(f, "seed_dataplane_up %d\n", in->dp != NULL);
	if (in->dp) {
		family(f, "seed_dataplane_start_time_seconds", "gauge",
		       "When the running data plane started (counters restart then).");
		fprintf(f, "seed_dataplane_start_time_seconds %llu\n",
			u(dpstats_start_ns(in->dp) / 1000000000u));
		scalar(f, "seed_dataplane_workers", "gauge", "Data plane worker threads.",
		       dpstats_n_workers(in->dp));
		scalar(f, "seed_dataplane_releases_unloadable", "gauge",
		       "Releases in the store the data plane could not load (damage, memory, "
		       "descriptors): not served; its log names them.",
		       dpstats_unloadable(in->dp));
		swarm_metrics(f, in->dp);
		swarm_per_release(f, in);
	}
	scalar(f, "seed_catalog_generation", "gauge", "Catalog generation last written.",
	       node_generation(in->node));
	if (in->scrub) {
		scalar(f, "seed_scrub_last_finish_time_seconds", "gauge",
		       "When the last scrub of the store (seedctl store scrub) finished.",
		       (uint64_t)in->scrub->finished);
		scalar(f, "seed_scrub_last_whole", "gauge",
		       "1 when the store was whole after its last scrub.",
		       (uint64_t)in->scrub->whole);
		family(f, "seed_scrub_last_found", "gauge",
		       "What the last scrub of the store counted (rebuilt, lost, ...), by "
		       "counter.");
		for (size_t k = 0; k < SCRUB_NSTATS; k++)
			fprintf(f, "seed_scrub_last_found{counter=\"%s\"} %llu\n",
				scrub_stat_name(k), u(scrub_stat(&in->scrub->st, k)));
		scrub_tenant_metrics(f, in->scrub);
	}

	struct tenant_rows *rows = tenant_rows(in->node);
	if (!rows)
		return -ENOMEM;
	if (in->keeper)
		keeper_metrics(f, in);
	store_metrics(f, in, rows);

	family(f, "seed_releases", "gauge", "Releases in the store, by tenant and state.");
	for (size_t ti = 0; ti <= node_n_tenants(in->node); ti++) {
		/* the last row counts releases of tenants not configured */
		const struct tenant *t = node_tenant_at(in->node, ti);
		for (size_t s = 0; s < N_STATES; s++) {
			uint64_t k = rows[ti].by_state[s];
			if (!t && !k)
				continue;
			fputs("seed_releases{tenant=\"", f);
			label(f, t ? t->id : "(unconfigured)");
			fprintf(f, "\",state=\"%s\"} %llu\n", catalog_state_name(states[s]), u(k));
		}
	}

	family(f, "seed_announces_total", "counter", "Tracker announces, by result.");
	static const char *const res[METRICS_NANNOUNCE] = { "ok", "failure", "error" };
	for (int i = 0; i < METRICS_NANNOUNCE; i++)
		fprintf(f, "seed_announces_total{result=\"%s\"} %llu\n", res[i],
			u(in->announces[i]));

	free(rows);
	if (in->dp && in->sum)
		dataplane(f, in);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}
