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
		struct worker_params p = { &conf, sv, started, &stop, &ready, &dump };
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
	/* Totals on the way out, one key=value line (seed-control's telemetry
	 * will read the counters live). */
	uint64_t t[8] = { 0 };
	for (unsigned i = 0; i < started; i++) {
		const struct worker_counters *c = worker_counters(w[i]);
		t[0] += c->conns_accepted;
		t[1] += c->payload_bytes_bt;
		t[2] += c->payload_bytes_http;
		t[3] += c->verify_failures;
		t[4] += c->cache_hits;
		t[5] += c->cache_misses;
		t[6] += c->storage_read_bytes;
		t[7] += c->storage_errors;
		worker_free(w[i]);
	}
	if (started)
		fprintf(stderr,
			"seed-dataplane: stopped conns_accepted=%llu payload_bytes_bt=%llu "
			"payload_bytes_http=%llu "
			"verify_failures=%llu cache_hits=%llu cache_misses=%llu "
			"storage_read_bytes=%llu storage_errors=%llu\n",
			(unsigned long long)t[0], (unsigned long long)t[1],
			(unsigned long long)t[2], (unsigned long long)t[3],
			(unsigned long long)t[4], (unsigned long long)t[5],
			(unsigned long long)t[6], (unsigned long long)t[7]);
	free(w);
	served_free(sv);
	return rc;
}
