/*
 * cmd_stats: prints the summed counters of a running (or stopped) data plane
 * from its --stats-file. The same numbers seed-control exports as metrics.
 */
#include "cmd_stats.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_release.h"
#include "dpstats.h"
#include "jsonw.h"

static const char *const proto_names[DPSTATS_NPROTO] = { "bt", "http" };

static void usage(FILE *f)
{
	fprintf(f, "usage: seedctl stats --file PATH [--json]\n\n"
		   "Prints the data plane's counters from its shared-memory file\n"
		   "(seed-dataplane --stats-file PATH; the appliance uses\n"
		   "/run/seed/dataplane.stats).\n\n"
		   "  --file PATH   the counters file\n"
		   "  --json        one JSON object instead of text\n");
}

static void json_proto_pair(struct jsonw *j, const char *k, const _Atomic uint64_t *v)
{
	jsonw_key(j, k);
	jsonw_obj_begin(j);
	for (int p = 0; p < DPSTATS_NPROTO; p++)
		jsonw_ku64(j, proto_names[p], v[p]);
	jsonw_obj_end(j);
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
	jsonw_key(&j, "refusals");
	jsonw_obj_begin(&j);
	for (int i = 0; i < DPSTATS_NREFUSALS; i++)
		jsonw_ku64(&j, dpstats_refusal_names[i], t->refusals[i]);
	jsonw_obj_end(&j);
	jsonw_key(&j, "mse_handshakes");
	jsonw_obj_begin(&j);
	jsonw_ku64(&j, "plaintext", t->mse_handshakes[DPSTATS_MSE_PLAINTEXT]);
	jsonw_ku64(&j, "rc4", t->mse_handshakes[DPSTATS_MSE_RC4]);
	jsonw_obj_end(&j);
	jsonw_ku64(&j, "verify_failures", t->verify_failures);
	jsonw_ku64(&j, "cache_hits", t->cache_hits);
	jsonw_ku64(&j, "cache_misses", t->cache_misses);
	jsonw_ku64(&j, "cache_evictions", t->cache_evictions);
	jsonw_ku64(&j, "storage_reads", t->storage_reads);
	jsonw_ku64(&j, "storage_read_bytes", t->storage_read_bytes);
	jsonw_ku64(&j, "storage_errors", t->storage_errors);
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
	printf("cache hits %llu, misses %llu, evictions %llu\n", (unsigned long long)t->cache_hits,
	       (unsigned long long)t->cache_misses, (unsigned long long)t->cache_evictions);
	printf("storage reads %llu, bytes %llu, errors %llu; verify failures %llu\n",
	       (unsigned long long)t->storage_reads, (unsigned long long)t->storage_read_bytes,
	       (unsigned long long)t->storage_errors, (unsigned long long)t->verify_failures);
	printf("encrypted handshakes: plaintext %llu, rc4 %llu\n",
	       (unsigned long long)t->mse_handshakes[DPSTATS_MSE_PLAINTEXT],
	       (unsigned long long)t->mse_handshakes[DPSTATS_MSE_RC4]);
	printf("refusals:");
	for (int i = 0; i < DPSTATS_NREFUSALS; i++)
		printf(" %s=%llu", dpstats_refusal_names[i], (unsigned long long)t->refusals[i]);
	printf("\n");
	for (unsigned i = 0; i < dpstats_n_releases(s); i++)
		printf("release %s: bt %llu bytes, http %llu bytes\n", dpstats_release_id(s, i),
		       (unsigned long long)t->rel[i].bytes[DPSTATS_BT],
		       (unsigned long long)t->rel[i].bytes[DPSTATS_HTTP]);
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = NULL;
	int json = 0, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "seedctl stats: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seedctl stats: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!file) {
		fprintf(stderr, "seedctl stats: --file PATH is required\n");
		return EXIT_USAGE;
	}
	struct dpstats *s;
	struct seed_err err = { 0 };
	if (dpstats_open(file, &s, &err) < 0) {
		fprintf(stderr, "seedctl stats: %s\n", err.msg);
		return 1;
	}
	struct dpstats_worker *t = malloc(sizeof(*t));
	if (!t) {
		dpstats_close(s);
		fprintf(stderr, "seedctl stats: out of memory\n");
		return 1;
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
