/*
 * cmd_stats: prints the summed counters of a running (or stopped) data plane
 * from its --stats-file. The same numbers seed-control exports as metrics.
 */
#include "cmd_stats.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdopt.h"
#include "dpstats.h"
#include "jsonw.h"

static const char *const proto_names[DPSTATS_NPROTO] = { "bt", "http" };

enum { O_FILE = 1, O_JSON, O_HELP };

static const struct cmdopt opts[] = {
	CMDOPT("file", 1, O_FILE, "PATH", "the counters file (required)"),
	CMDOPT("json", 0, O_JSON, NULL, "one JSON object instead of text"),
	CMDOPT("help", 0, O_HELP, NULL, "show this help"),
	CMDOPT_END,
};

static void usage(FILE *f)
{
	cmdopt_usage(f, "stats", "--file PATH [--json]",
		     "Prints the data plane's counters from its shared-memory file\n"
		     "(seed-dataplane --stats-file PATH; the appliance uses\n"
		     "/run/seed/dataplane.stats)",
		     NULL, opts);
}

static const char *const mse_names[DPSTATS_NMSE] = { "plaintext", "rc4" };

/* "k": { names[0]: v[0], ... } */
/* The close reasons by name (lib/close_reason.h), for the ones shown apart. */
enum {
#define CR_ENUM_(name, value, label) CR_##name = (value),
	SEED_CLOSE_REASONS(CR_ENUM_)
#undef CR_ENUM_
};

static void json_counters(struct jsonw *j, const char *k, const char *const *names,
			  const _Atomic uint64_t *v, int n)
{
	jsonw_key(j, k);
	jsonw_obj_begin(j);
	for (int i = 0; i < n; i++)
		jsonw_ku64(j, names[i], v[i]);
	jsonw_obj_end(j);
}

static void json_proto_pair(struct jsonw *j, const char *k, const _Atomic uint64_t *v)
{
	json_counters(j, k, proto_names, v, DPSTATS_NPROTO);
}

static void print_json(const struct dpstats *s, const struct dpstats_worker *t)
{
	struct jsonw j;
	jsonw_init(&j, stdout);
	jsonw_obj_begin(&j);
	jsonw_key(&j, "pid");
	jsonw_i64(&j, dpstats_pid(s));
	jsonw_ku64(&j, "start_ns", dpstats_start_ns(s));
	jsonw_ku64(&j, "workers", dpstats_n_workers(s));
	json_proto_pair(&j, "conns_accepted", t->conns_accepted);
	json_proto_pair(&j, "conns_open", t->conns_open);
	json_proto_pair(&j, "payload_bytes", t->payload_bytes);
	json_proto_pair(&j, "requests", t->requests);
	json_counters(&j, "refusals", dpstats_refusal_names, t->refusals, DPSTATS_NREFUSALS);
	json_counters(&j, "admit_refusals", dpstats_admit_names, t->admit_refusals, DPSTATS_NADMIT);
	json_counters(&j, "closes", dpstats_close_names, t->closes, DPSTATS_CLOSE_REASONS);
	json_counters(&j, "mse_handshakes", mse_names, t->mse_handshakes, DPSTATS_NMSE);
	jsonw_ku64(&j, "verify_failures", t->verify_failures);
	jsonw_ku64(&j, "blocks_repaired", t->blocks_repaired);
	jsonw_ku64(&j, "repair_failures", t->repair_failures);
	jsonw_ku64(&j, "leaf_failures", t->leaf_failures);
	jsonw_ku64(&j, "cache_hits", t->cache_hits);
	jsonw_ku64(&j, "cache_misses", t->cache_misses);
	jsonw_ku64(&j, "cache_evictions", t->cache_evictions);
	jsonw_ku64(&j, "storage_reads", t->storage_reads);
	jsonw_ku64(&j, "storage_read_bytes", t->storage_read_bytes);
	jsonw_ku64(&j, "storage_errors", t->storage_errors);
	jsonw_ku64(&j, "readahead_reads", t->readahead_reads);
	jsonw_ku64(&j, "readahead_blocks", t->readahead_blocks);
	jsonw_ku64(&j, "readahead_splits", t->readahead_splits);
	jsonw_ku64(&j, "readahead_budget_waits", t->readahead_budget_waits);
	jsonw_ku64(&j, "blocks_parked", t->blocks_parked);
	/* the port and our TCP/IP stack (dpdk backend; 0 on uring) */
	jsonw_ku64(&j, "net_links_up", t->net_links_up);
	jsonw_ku64(&j, "net_rx_packets", t->net_rx_packets);
	jsonw_ku64(&j, "net_tx_packets", t->net_tx_packets);
	jsonw_ku64(&j, "net_rx_dropped", t->net_rx_dropped);
	jsonw_ku64(&j, "net_tx_dropped", t->net_tx_dropped);
	jsonw_ku64(&j, "net_input_errors", t->net_input_errors);
	jsonw_ku64(&j, "tcp_retransmits", t->tcp_retransmits);
	jsonw_ku64(&j, "tcp_timeouts", t->tcp_timeouts);
	jsonw_ku64(&j, "tcp_syn_cookies", t->tcp_syn_cookies);
	jsonw_ku64(&j, "tcp_bad_cookies", t->tcp_bad_cookies);
	jsonw_ku64(&j, "busy_cycles", t->busy_cycles);
	jsonw_ku64(&j, "utp_conns_accepted", t->utp_conns_accepted);
	jsonw_ku64(&j, "utp_payload_bytes", t->utp_payload_bytes);
	jsonw_ku64(&j, "utp_datagrams_in", t->utp_datagrams_in);
	jsonw_ku64(&j, "utp_datagrams_out", t->utp_datagrams_out);
	jsonw_ku64(&j, "utp_retransmits", t->utp_retransmits);
	jsonw_ku64(&j, "utp_timeouts", t->utp_timeouts);
	jsonw_ku64(&j, "utp_malformed", t->utp_malformed);
	/* which worker served what: a download's traffic lands on the worker
	 * its connection was accepted by (SO_REUSEPORT or the NIC's RSS) */
	jsonw_key(&j, "per_worker");
	jsonw_arr_begin(&j);
	for (unsigned i = 0; i < dpstats_n_workers(s); i++) {
		const struct dpstats_worker *wk = dpstats_worker_read(s, i);
		jsonw_obj_begin(&j);
		json_proto_pair(&j, "conns_accepted", wk->conns_accepted);
		json_proto_pair(&j, "payload_bytes", wk->payload_bytes);
		jsonw_ku64(&j, "cache_hits", wk->cache_hits);
		jsonw_ku64(&j, "cache_misses", wk->cache_misses);
		jsonw_ku64(&j, "storage_reads", wk->storage_reads);
		jsonw_ku64(&j, "storage_read_bytes", wk->storage_read_bytes);
		jsonw_obj_end(&j);
	}
	jsonw_arr_end(&j);
	jsonw_key(&j, "releases");
	jsonw_arr_begin(&j);
	for (unsigned i = 0; i < dpstats_n_releases(s); i++) {
		jsonw_obj_begin(&j);
		jsonw_kstr(&j, "id", dpstats_release_id(s, i));
		json_proto_pair(&j, "bytes", t->rel[i].bytes);
		json_proto_pair(&j, "requests", t->rel[i].requests);
		jsonw_obj_end(&j);
	}
	jsonw_arr_end(&j);
	jsonw_obj_end(&j);
	jsonw_finish(&j);
}

static void print_text(const struct dpstats *s, const struct dpstats_worker *t)
{
	printf("data plane pid %d, %u workers\n", (int)dpstats_pid(s), dpstats_n_workers(s));
	for (int p = 0; p < DPSTATS_NPROTO; p++)
		printf("%-5s conns open %llu, accepted %llu, requests %llu, payload bytes %llu\n",
		       proto_names[p], (unsigned long long)t->conns_open[p],
		       (unsigned long long)t->conns_accepted[p], (unsigned long long)t->requests[p],
		       (unsigned long long)t->payload_bytes[p]);
	printf("cache hits %llu, misses %llu, evictions %llu; blocks let go for peers not reading "
	       "%llu\n",
	       (unsigned long long)t->cache_hits, (unsigned long long)t->cache_misses,
	       (unsigned long long)t->cache_evictions, (unsigned long long)t->blocks_parked);
	printf("storage reads %llu, bytes %llu, errors %llu; verify failures %llu (rebuilt from "
	       "parity %llu, beyond it %llu, of those %llu on their SHA-256 leaf)\n",
	       (unsigned long long)t->storage_reads, (unsigned long long)t->storage_read_bytes,
	       (unsigned long long)t->storage_errors, (unsigned long long)t->verify_failures,
	       (unsigned long long)t->blocks_repaired, (unsigned long long)t->repair_failures,
	       (unsigned long long)t->leaf_failures);
	printf("read ahead: reads %llu, blocks %llu, split %llu, budget waits %llu\n",
	       (unsigned long long)t->readahead_reads, (unsigned long long)t->readahead_blocks,
	       (unsigned long long)t->readahead_splits,
	       (unsigned long long)t->readahead_budget_waits);
	printf("encrypted handshakes: plaintext %llu, rc4 %llu\n",
	       (unsigned long long)t->mse_handshakes[DPSTATS_MSE_PLAINTEXT],
	       (unsigned long long)t->mse_handshakes[DPSTATS_MSE_RC4]);
	if (t->net_rx_packets || t->net_links_up)
		printf("port: links up %llu, rx %llu frames (%llu dropped, %llu refused), tx %llu "
		       "(%llu dropped); tcp retransmits %llu, timeouts %llu, syn cookies %llu "
		       "(%llu bad)\n",
		       (unsigned long long)t->net_links_up, (unsigned long long)t->net_rx_packets,
		       (unsigned long long)t->net_rx_dropped,
		       (unsigned long long)t->net_input_errors,
		       (unsigned long long)t->net_tx_packets, (unsigned long long)t->net_tx_dropped,
		       (unsigned long long)t->tcp_retransmits, (unsigned long long)t->tcp_timeouts,
		       (unsigned long long)t->tcp_syn_cookies,
		       (unsigned long long)t->tcp_bad_cookies);
	printf("refusals:");
	for (int i = 0; i < DPSTATS_NREFUSALS; i++)
		printf(" %s=%llu", dpstats_refusal_names[i], (unsigned long long)t->refusals[i]);
	printf("\n");
	printf("refused at accept:");
	for (int i = 0; i < DPSTATS_NADMIT; i++)
		printf(" %s=%llu", dpstats_admit_names[i],
		       (unsigned long long)t->admit_refusals[i]);
	printf("; slots reclaimed %llu\n", (unsigned long long)t->closes[CR_RECLAIMED]);
	for (unsigned i = 0; i < dpstats_n_releases(s); i++)
		printf("release %s: bt %llu bytes, http %llu bytes\n", dpstats_release_id(s, i),
		       (unsigned long long)t->rel[i].bytes[DPSTATS_BT],
		       (unsigned long long)t->rel[i].bytes[DPSTATS_HTTP]);
}

int cmd_stats(int argc, char **argv)
{
	struct option lo[CMDOPT_MAX];
	const char *file = NULL;
	int json = 0, c;
	cmdopt_longopts(opts, lo);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:", lo, NULL)) != -1) {
		switch (c) {
		case O_FILE: file = optarg; break;
		case O_JSON: json = 1; break;
		case O_HELP: usage(stdout); return 0;
		case ':':
			return cmdopt_usage_err("stats", "option '%s' needs a value",
						argv[optind - 1]);
		default: return cmdopt_usage_err("stats", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cmdopt_usage_err("stats", "unexpected argument '%s'", argv[optind]);
	if (!file)
		return cmdopt_usage_err("stats", "%s", "--file PATH is required");
	struct dpstats *s;
	struct seed_err err = { 0 };
	if (dpstats_open(file, &s, &err) < 0)
		return cmdopt_fail("stats", &err);
	struct dpstats_worker *t = malloc(sizeof(*t));
	if (!t) {
		dpstats_close(s);
		return cmdopt_fail("stats", &(struct seed_err){ .code = -ENOMEM });
	}
	dpstats_sum(s, t);
	if (json)
		print_json(s, t);
	else
		print_text(s, t);
	free(t);
	dpstats_close(s);
	return 0;
}
