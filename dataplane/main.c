/*
 * seed-dataplane: serves the releases of a store to BitTorrent peers and
 * HTTP range clients. Loads the store, starts the workers (one per CPU by
 * default), then waits for SIGTERM/SIGINT: workers stop accepting, finish
 * the blocks in flight (bounded wait), close and exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dpconf.h"
#include "dpstats.h"
#include "served.h"
#include "worker.h"

static void set_port(struct dpconf_addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
}

static uint16_t get_port(const struct dpconf_addr *a)
{
	return ntohs(a->ss.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&a->ss)->sin6_port
						 : ((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void host_of(const struct dpconf_addr *a, char *buf, size_t n)
{
	if (a->ss.ss_family == AF_INET6) {
		char h[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, h,
			  sizeof(h));
		snprintf(buf, n, "[%s]", h);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, buf,
			  (socklen_t)n);
	}
}

int main(int argc, char **argv)
{
	struct dpconf conf;
	struct seed_err err;
	struct served *sv = NULL;
	int rc;

	seed_err_clear(&err);
	dpconf_defaults(&conf);
	rc = dpconf_parse_args(&conf, argc, argv, stdout, &err);
	if (rc == 1)
		return 0;
	if (rc < 0 || dpconf_check(&conf, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 2;
	}
	if (!conf.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		conf.workers = n > 0 ? (unsigned)n : 1;
	}
	if (conf.cache_size / conf.workers < (4u << 20)) {
		fprintf(stderr,
			"seed-dataplane: --cache-size %llu gives each of %u workers less than 4 "
			"MiB\n",
			(unsigned long long)conf.cache_size, conf.workers);
		return 2;
	}
	if (served_load(conf.store, &sv, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 1;
	}

	struct dpstats *stats = NULL;
	if (dpstats_create(conf.stats_file, conf.workers, &stats, &err) < 0) {
		fprintf(stderr, "seed-dataplane: --stats-file: %s\n", err.msg);
		served_free(sv);
		return 1;
	}
	/* Every release gets its counter slot before a worker can serve it. */
	int32_t *rel_slot = calloc(served_count(sv) ? served_count(sv) : 1, sizeof(*rel_slot));
	if (!rel_slot) {
		fprintf(stderr, "seed-dataplane: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < served_count(sv); i++) {
		int sl = dpstats_release_slot(stats, served_release(sv, i)->id);
		rel_slot[i] = sl < 0 ? -1 : sl;
	}

	/* Signals go to this thread only (sigwait below); workers never see them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	atomic_int stop = 0, ready = 0, dump = 0;
	struct worker **w = calloc(conf.workers, sizeof(*w));
	if (!w) {
		fprintf(stderr, "seed-dataplane: out of memory\n");
		return 1;
	}
	unsigned started = 0;
	for (; started < conf.workers; started++) {
		struct worker_params p = { .conf = &conf,
					   .served = sv,
					   .index = started,
					   .stop = &stop,
					   .ready = &ready,
					   .dump = &dump,
					   .ctr = dpstats_worker(stats, started),
					   .rel_slot = rel_slot };
		if (worker_start(&p, &w[started], &err) < 0) {
			fprintf(stderr, "seed-dataplane: worker %u: %s\n", started, err.msg);
			rc = 1;
			break;
		}
		if (started == 0) {
			/* Port 0 means "any": the other workers join the port the
			 * first one got, so SO_REUSEPORT spreads peers over all. */
			for (unsigned i = 0; i < conf.n_bt; i++)
				if (!get_port(&conf.bt[i]))
					set_port(&conf.bt[i], worker_bt_port(w[0], i));
			for (unsigned i = 0; i < conf.n_http; i++)
				if (!get_port(&conf.http[i]))
					set_port(&conf.http[i], worker_http_port(w[0], i));
		}
	}
	if (rc == 0) {
		char h[64];
		printf("seed-dataplane %s: serving %zu torrents from %s with %u workers\n",
		       SEED_VERSION, served_count(sv), conf.store, conf.workers);
		for (unsigned i = 0; i < conf.n_bt; i++) {
			host_of(&conf.bt[i], h, sizeof(h));
			printf("bittorrent  %s:%u\n", h, get_port(&conf.bt[i]));
		}
		for (unsigned i = 0; i < conf.n_http; i++) {
			host_of(&conf.http[i], h, sizeof(h));
			printf("http        http://%s:%u/\n", h, get_port(&conf.http[i]));
		}
		unsigned huge = 0;
		for (unsigned i = 0; i < conf.workers; i++)
			huge += (unsigned)worker_cache_hugepages(w[i]);
		/* Operators check this line: a box without reserved hugepages
		 * still serves, from plain pages, a little slower. */
		printf("cache       %llu MiB, %s\n", (unsigned long long)(conf.cache_size >> 20),
		       huge == conf.workers ? "2 MiB hugepages"
		       : huge		    ? "partly 2 MiB hugepages, partly plain pages"
					    : "plain pages");
		fflush(stdout);
		int sig;
		while (sigwait(&set, &sig) == 0 && sig == SIGUSR1)
			atomic_fetch_add(&dump, 1);
		fprintf(stderr, "seed-dataplane: %s, draining\n",
			sig == SIGTERM ? "SIGTERM" : "SIGINT");
	}
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < started; i++)
		worker_join(w[i]);
	/* Totals on the way out, one key=value line (while running, the
	 * counters file is where seed-control and `seedctl stats` read them). */
	for (unsigned i = 0; i < started; i++)
		worker_free(w[i]);
	if (started) {
		struct dpstats_worker *t = malloc(sizeof(*t));
		if (t) {
			dpstats_sum(stats, t);
			unsigned long long cl = 0;
			for (unsigned k = 0; k < DPSTATS_NPROTO; k++)
				cl += t->conns_accepted[k];
			fprintf(stderr,
				"seed-dataplane: stopped conns_accepted=%llu payload_bytes_bt=%llu "
				"payload_bytes_http=%llu "
				"verify_failures=%llu cache_hits=%llu cache_misses=%llu "
				"storage_read_bytes=%llu storage_errors=%llu\n",
				cl, (unsigned long long)t->payload_bytes[DPSTATS_BT],
				(unsigned long long)t->payload_bytes[DPSTATS_HTTP],
				(unsigned long long)t->verify_failures,
				(unsigned long long)t->cache_hits,
				(unsigned long long)t->cache_misses,
				(unsigned long long)t->storage_read_bytes,
				(unsigned long long)t->storage_errors);
			free(t);
		}
	}
	dpstats_close(stats);
	free(rel_slot);
	free(w);
	served_free(sv);
	return rc;
}
