/*
 * seed-dataplane: serves the releases of a store to BitTorrent peers and
 * HTTP range clients. Loads the store, starts the workers (one per CPU by
 * default), then waits for SIGTERM/SIGINT: workers stop accepting, finish
 * the blocks in flight (bounded wait), close and exit.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dpconf.h"
#include "admit.h"
#include "catalog.h"
#include "dpstats.h"
#include "log.h"
#include "netio.h"
#include "privs.h"
#include "proto_action.h"
#include "scache.h"
#include "served.h"
#include "storage.h"
#include "tenants.h"
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

static const struct log_module lm = LOG_MODULE("dataplane.main");

#define CATALOG_POLL_MS 200
#define REFILL_MS	2

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct tenants *g_tenants;
static struct admit *g_admit; /* the per-source limits, one table for all workers */

/* The seeding policy's counters of every release with a swarm view: one
 * line each when `lines` (SIGUSR1), and their sums (the stopped line);
 * into stats, per release slot (seed-control's per-release series). */
struct swarm_sums {
	unsigned long long injected, second, fallbacks, small, passed, released, boot, refunded,
		late;
};

/* per release slot, summed here (the main thread's alone) then published */
static uint64_t g_rswarm[DPSTATS_MAX_RELEASES][DPSTATS_NRSWARM];

static void swarm_report(const struct served *sv, struct dpstats *stats, int lines,
			 struct swarm_sums *sum)
{
	unsigned nrel = dpstats_n_releases(stats);

	memset(sum, 0, sizeof(*sum));
	memset(g_rswarm, 0, nrel * sizeof(g_rswarm[0]));
	for (size_t h = 0; h < served_count(sv); h++) {
		const struct swarm_view *v = served_swarm_peek(sv, (uint32_t)h);
		const struct proto_release *r = served_release(sv, h);
		int32_t sl = served_stats_slot(sv, (uint32_t)h);
		if (!v)
			continue;
		struct swarm_sums one = {
			atomic_load(&v->ctr.injected),	atomic_load(&v->ctr.second),
			atomic_load(&v->ctr.fallbacks), atomic_load(&v->ctr.small),
			atomic_load(&v->ctr.passed),	atomic_load(&v->ctr.released),
			atomic_load(&v->ctr.boot),	atomic_load(&v->ctr.refunded),
			atomic_load(&v->late),
		};
		uint64_t t0 = atomic_load(&v->t_first), tl = atomic_load(&v->t_late);
		sum->injected += one.injected;
		sum->second += one.second;
		sum->fallbacks += one.fallbacks;
		sum->small += one.small;
		sum->passed += one.passed;
		sum->released += one.released;
		sum->boot += one.boot;
		sum->refunded += one.refunded;
		sum->late += one.late;
		if (sl >= 0 && (unsigned)sl < nrel) {
			uint64_t *row = g_rswarm[sl];
			row[DPSTATS_RSWARM_PEERS] += atomic_load(&v->peers);
			row[DPSTATS_RSWARM_LEECHERS] += atomic_load(&v->leechers);
			row[DPSTATS_RSWARM_INJECTED] += one.injected;
			row[DPSTATS_RSWARM_PASSED] += one.passed;
			row[DPSTATS_RSWARM_BOOT] += one.boot;
			row[DPSTATS_RSWARM_LATE] += one.late;
		}
		/* first_late_ms: how long after its first peer the release's
		 * first latecomer came (-1: none yet, a crowd) */
		if (lines)
			log_info(&lm,
				 "swarm release=%s view=%zu pieces=%u peers=%u leechers=%u "
				 "injected=%llu second=%llu fallbacks=%llu small=%llu passed=%llu "
				 "released=%llu boot=%llu refunded=%llu covered=%u landed=%u "
				 "late=%llu first_late_ms=%lld",
				 r ? r->id : "(removed)", h, v->n_pieces, atomic_load(&v->peers),
				 atomic_load(&v->leechers), one.injected, one.second, one.fallbacks,
				 one.small, one.passed, one.released, one.boot, one.refunded,
				 atomic_load(&v->covered), atomic_load(&v->landed), one.late,
				 tl && t0 && tl >= t0 ? (long long)(tl - t0) : -1LL);
	}
	for (unsigned k = 0; k < nrel; k++)
		dpstats_set_release_swarm(stats, k, g_rswarm[k]);
}

/* The sums into the counters file, for seed-control's /metrics
 * (seed_dataplane_swarm_*_total). */
static void swarm_publish(struct dpstats *stats, const struct swarm_sums *ss)
{
	const uint64_t v[DPSTATS_NSWARM] = {
		[DPSTATS_SWARM_INJECTED] = ss->injected,   [DPSTATS_SWARM_SECOND] = ss->second,
		[DPSTATS_SWARM_FALLBACKS] = ss->fallbacks, [DPSTATS_SWARM_SMALL] = ss->small,
		[DPSTATS_SWARM_PASSED] = ss->passed,	   [DPSTATS_SWARM_RELEASED] = ss->released,
		[DPSTATS_SWARM_BOOT] = ss->boot,	   [DPSTATS_SWARM_REFUNDED] = ss->refunded,
		[DPSTATS_SWARM_LATE] = ss->late,
	};
	dpstats_set_swarm(stats, v);
}

/* Publishes a new generation (store rescanned, catalog cat) to the workers. */
static int refresh(struct served *sv, struct catalog *cat)
{
	/* slots and limits first: a worker that sees the new catalog finds
	 * every tenant it names */
	if (tenants_sync(g_tenants, cat) < 0)
		log_warn(&lm, "more than %d tenants: the new ones are not limited", TENANTS_MAX);
	struct seed_err err;
	seed_err_clear(&err);
	uint64_t before = served_count(sv);
	if (served_refresh(sv, cat, &err) < 0) {
		log_error(&lm, "refresh: %s; still serving generation %llu", err.msg,
			  (unsigned long long)served_generation(sv));
		/* the slots hold cat's limits now: back to the published ones */
		tenants_sync(g_tenants, served_current_catalog(sv));
		catalog_free(cat);
		return -1;
	}
	log_info(&lm, "catalog generation %llu: %zu torrents in the store (%llu new)",
		 cat ? (unsigned long long)catalog_generation(cat) : 0ull, served_live_count(sv),
		 (unsigned long long)(served_count(sv) - before));
	return 0;
}

/*
 * Loads the catalog at path when it changed and switches to it. At start
 * (first), a catalog that does not exist yet means an empty one; one that
 * exists but does not load is an error. Later, a bad file keeps the running
 * generation (and is reported once).
 */
static int switch_catalog(struct served *sv, const char *path, struct catalog_stamp *stamp,
			  int first)
{
	struct seed_err err;
	seed_err_clear(&err);
	/* An empty placeholder (no file yet) must not hide the writer's first
	 * generation, whatever its number. */
	static int placeholder;
	const struct catalog *now = served_current_catalog(sv);
	struct catalog *cat = NULL;
	int rc = catalog_reload(path, stamp, now && !placeholder ? catalog_generation(now) : 0,
				&cat, &err);
	if (rc == -ENOENT && first) {
		rc = catalog_create(1, 0, &cat, &err);
		if (rc == 0) {
			log_warn(&lm,
				 "catalog %s does not exist yet: serving nothing until it does",
				 path);
			memset(stamp, 0, sizeof(*stamp));
			placeholder = 1;
			return refresh(sv, cat);
		}
	}
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		log_error(&lm, "catalog: %s", err.msg);
		return first ? -1 : 0;
	}
	if (rc == 0)
		return 0;
	placeholder = 0;
	return refresh(sv, cat);
}

/*
 * A drain asked through a file: seed-control runs as another user and may
 * not signal this process, so it creates the file instead. Only a file
 * newer than this process counts: one left by an earlier drain must not
 * stop the next start. since is read from the coarse clock, the one file
 * times come from.
 */
static bool drain_asked(const char *path, const struct timespec *since)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return false;
	return st.st_mtim.tv_sec > since->tv_sec ||
	       (st.st_mtim.tv_sec == since->tv_sec && st.st_mtim.tv_nsec >= since->tv_nsec);
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

/* Descriptors open now (/proc/self/fd), or -1 when it cannot tell. */
static long fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = -1; /* the listing's own descriptor */
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Object files and peers' sockets share RLIMIT_NOFILE: --object-fds (all
 * workers) defaults to a quarter of what the process may still open, after
 * what each worker keeps for itself (rings, eventfd, listeners) and a
 * margin for the counters file and the store's listing; the sockets get
 * the rest. A value that cannot fit at all is refused here rather than
 * failing reads later.
 */
static int size_object_fds(struct dpconf *c, uint64_t *out_lim, struct seed_err *err)
{
	struct rlimit rl;
	long open_now = fds_open();
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || open_now < 0)
		return seed_err_set(err, -errno, "the descriptor limit: %s", strerror(errno));
	uint64_t lim = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_cur;
	*out_lim = lim;
	uint64_t keep = (uint64_t)open_now + 32 + (uint64_t)c->workers * (8 + c->n_bt + c->n_http);
	uint64_t avail = lim > keep ? lim - keep : 0;
	if (avail < 2ull * c->workers)
		return seed_err_set(err, -EMFILE,
				    "the descriptor limit (%llu, ulimit -n) leaves %llu for %u "
				    "workers' object files and peers: raise it",
				    (unsigned long long)lim, (unsigned long long)avail, c->workers);
	if (!c->object_fds) {
		uint64_t n = avail / 4;
		c->object_fds = (unsigned)(n > 262144 ? 262144 : n < c->workers ? c->workers : n);
	} else if (c->object_fds > avail) {
		return seed_err_set(err, -EINVAL,
				    "--object-fds %u: the descriptor limit (%llu, ulimit -n) "
				    "leaves %llu for object files and peers' sockets together",
				    c->object_fds, (unsigned long long)lim,
				    (unsigned long long)avail);
	} else if (c->object_fds < c->workers) {
		c->object_fds = c->workers; /* one file per worker at least */
	}
	/* Kernel sockets take descriptors too: more connection slots than the
	 * limit leaves would fail accepts with EMFILE (which a multishot
	 * accept retries at once, in a loop) instead of reclaiming the oldest
	 * idle connection as a full table does. The dpdk backend has no
	 * sockets. */
	uint64_t socks = avail > c->object_fds ? avail - c->object_fds : 0;
	if (strcmp(c->backend, "dpdk") && (uint64_t)c->max_conns * c->workers > socks) {
		uint64_t per = socks / c->workers;
		if (per < 16)
			return seed_err_set(
				err, -EMFILE,
				"the descriptor limit (%llu, ulimit -n) leaves %llu "
				"connections per worker (at least 16): raise it or lower "
				"--object-fds",
				(unsigned long long)lim, (unsigned long long)per);
		log_warn(&lm,
			 "--max-conns %u: the descriptor limit (%llu, ulimit -n) leaves room for "
			 "%llu connections per worker beside %u object files; using %llu",
			 c->max_conns, (unsigned long long)lim, (unsigned long long)per,
			 c->object_fds, (unsigned long long)per);
		c->max_conns = (unsigned)per;
	}
	return 0;
}

/* scache's wake: worker's peers wait for a block another worker read. */
static void wake_worker(void *arg, unsigned worker)
{
	const int *fds = arg;
	uint64_t one = 1;
	if (fds[worker] >= 0 && write(fds[worker], &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(&lm, "waking worker %u: %s", worker, strerror(errno));
}

int main(int argc, char **argv)
{
	struct dpconf conf;
	struct seed_err err;
	struct served *sv = NULL;
	int rc;
	struct timespec t_start;
	clock_gettime(CLOCK_REALTIME_COARSE, &t_start);

	seed_err_clear(&err);
	if (log_init("seed-dataplane", &err) < 0)
		fprintf(stderr, "seed-dataplane: SEED_LOG_LEVEL: %s; logging at info\n", err.msg);
	seed_err_clear(&err);
	dpconf_defaults(&conf);
	rc = dpconf_parse_args(&conf, argc, argv, stdout, &err);
	if (rc == 1)
		return 0;
	if (rc < 0 || dpconf_check(&conf, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 2;
	}
	if (*conf.log_level && log_configure(conf.log_level, &err) < 0) {
		fprintf(stderr, "seed-dataplane: --log-level: %s\n", err.msg);
		return 2;
	}
	if (!conf.workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		conf.workers = n > 0 ? (unsigned)n : 1;
	}
	/* IOPOLL only where the device completes polled reads (storage.h) */
	char poll_why[PATH_MAX + 160] = "--storage-poll no", probe_why[PATH_MAX + 160];
	char probe_file[PATH_MAX + 16];
	snprintf(probe_file, sizeof(probe_file), "%s/FORMAT", conf.store);
	if (conf.storage_poll == DPCONF_AUTO) {
		conf.storage_poll = storage_device_polls(conf.store, poll_why, sizeof(poll_why));
		if (conf.storage_poll &&
		    !storage_probe_iopoll(probe_file, probe_why, sizeof(probe_why))) {
			conf.storage_poll = 0;
			snprintf(poll_why, sizeof(poll_why), "%s", probe_why);
		}
	} else if (conf.storage_poll == 1) {
		if (!storage_probe_iopoll(probe_file, probe_why, sizeof(probe_why))) {
			fprintf(stderr,
				"seed-dataplane: --storage-poll yes: the store's device cannot "
				"poll "
				"(%s); use auto or no\n",
				probe_why);
			return 2;
		}
		if (!storage_device_polls(conf.store, poll_why, sizeof(poll_why)))
			log_warn(&lm,
				 "--storage-poll yes: %s, so each read still completes by "
				 "interrupt and the polling only costs CPU",
				 poll_why);
	}
	const struct netio_backend *backend = netio_backend_find(conf.backend);
	if (!backend) {
		fprintf(stderr,
			"seed-dataplane: --backend %s: this build has no %s backend (build it "
			"with libdpdk-dev installed: meson setup -Ddpdk=enabled)\n",
			conf.backend, conf.backend);
		return 2;
	}
	/* Who it will run as is settled before anything else needs root: a
	 * missing user is a start-up error like a bad flag. The restrictions
	 * that every thread inherits come before the first thread (the EAL's,
	 * then the workers). */
	struct privs pv;
	if (privs_plan(conf.user, conf.allow_root, geteuid(), &pv, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 2;
	}
	if (privs_restrict(&pv, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 1;
	}
	/* Every peer is a socket and every object read an open file: take all
	 * the descriptors the hard limit allows. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	uint64_t fd_limit = 0;
	if (size_object_fds(&conf, &fd_limit, &err) < 0) {
		fprintf(stderr, "seed-dataplane: %s\n", err.msg);
		return 2;
	}
	if (backend->init) {
		struct netio_env env = { .workers = conf.workers,
					 .max_conns = conf.max_conns,
					 .dpdk_args = conf.dpdk_args,
					 .dpdk_port = (uint16_t)conf.dpdk_port,
					 .ip = conf.ip,
					 .prefix = (uint8_t)conf.prefix,
					 .gateway = conf.gateway,
					 .mtu = (uint16_t)conf.mtu,
					 .idle_sleep_us = conf.dpdk_idle_sleep_us };
		if (backend->init(&env, &err) < 0) {
			fprintf(stderr, "seed-dataplane: %s\n", err.msg);
			return 2;
		}
	}
	struct dpstats *stats = NULL;
	if (dpstats_create(conf.stats_file, conf.workers, &stats, &err) < 0) {
		log_error(&lm, "--stats-file: %s", err.msg);
		return 1;
	}
	if (tenants_create(&g_tenants) < 0) {
		log_error(&lm, "out of memory");
		return 1;
	}
	struct admit_config ac = { .addr_conns = conf.addr_conns,
				   .prefix_conns = conf.prefix_conns,
				   .addr_rate = conf.addr_rate,
				   .addr_burst = conf.addr_burst,
				   .mse_rate = conf.mse_rate,
				   .mse_burst = conf.mse_burst,
				   .deny = conf.deny,
				   .exempt = conf.limit_exempt };
	if (admit_create(&ac, &g_admit, &err) < 0) {
		log_error(&lm, "%s", err.msg);
		return 1;
	}
	if (served_create(conf.store, conf.workers, stats, &sv, &err) < 0) {
		log_error(&lm, "%s", err.msg);
		dpstats_close(stats);
		return 1;
	}
	served_set_info_budget(sv, (size_t)conf.info_cache);
	/* With a catalog, nothing is served until it says so: a release under
	 * embargo must not leak because the control plane has not written its
	 * first generation yet. */
	struct catalog_stamp stamp;
	memset(&stamp, 0, sizeof(stamp));
	if (*conf.catalog && switch_catalog(sv, conf.catalog, &stamp, 1) < 0) {
		served_free(sv);
		dpstats_close(stats);
		return 1;
	}

	/* Signals go to this thread only (sigwait below); workers never see them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	atomic_int stop = 0, ready = 0, dump = 0;
	struct worker **w = calloc(conf.workers, sizeof(*w));
	int *wake_fds = calloc(conf.workers, sizeof(*wake_fds));
	if (!w || !wake_fds) {
		log_error(&lm, "out of memory");
		return 1;
	}
	/* One block cache for every worker (scache.h): a block is read once
	 * per box whichever worker's peer asks first; a fill wakes the other
	 * workers whose peers wait for it through their eventfds. */
	for (unsigned i = 0; i < conf.workers; i++)
		wake_fds[i] = -1;
	struct scache *cache = NULL;
	struct scache_config scfg = { .bytes = (size_t)conf.cache_size,
				      .try_hugepages = conf.hugepages,
				      .n_workers = conf.workers,
				      .wake = wake_worker,
				      .wake_arg = wake_fds };
	if (scache_create(&scfg, &cache, &err) < 0) {
		log_error(&lm, "--cache-size %llu: %s", (unsigned long long)conf.cache_size,
			  err.msg);
		free(w);
		free(wake_fds);
		served_free(sv);
		dpstats_close(stats);
		return 1;
	}
	/* Blocks read ahead hold cache slots until their reads complete: all
	 * workers' budgets together may take at most a quarter of the cache,
	 * or a flood of ranges that are never sent could fill it with reads
	 * in flight and leave no slot for the blocks peers are waiting for. */
	uint64_t ra_cap = conf.cache_size / 4 / conf.workers / SCACHE_BLOCK * SCACHE_BLOCK;
	if (conf.readahead > ra_cap) {
		log_warn(&lm,
			 "--readahead %llu per worker: with %u workers that is more than a quarter "
			 "of the %llu-byte cache; reading ahead at most %llu bytes per worker",
			 (unsigned long long)conf.readahead, conf.workers,
			 (unsigned long long)conf.cache_size, (unsigned long long)ra_cap);
		conf.readahead = ra_cap;
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
					   .stats = stats,
					   .tenants = g_tenants,
					   .admit = g_admit,
					   .backend = backend,
					   .seeding = conf.seeding,
					   .cache = cache };
		if (worker_start(&p, &w[started], &err) < 0) {
			log_error(&lm, "worker %u: %s", started, err.msg);
			rc = 1;
			break;
		}
		/* read by other workers' fills only after worker_go */
		wake_fds[started] = worker_wake_fd(w[started]);
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
	/* Every worker has bound its listeners, set up its rings and registered
	 * its cache: nothing below needs a privilege. */
	if (rc == 0 && privs_drop(&pv, &err) < 0) {
		log_error(&lm, "%s; stopping", err.msg);
		rc = 1;
	}
	/* Object tables are read when first needed, by a thread of their own
	 * that wakes the worker which asked (served.h). */
	if (rc == 0) {
		int *wake = calloc(conf.workers, sizeof(*wake));
		for (unsigned i = 0; wake && i < conf.workers; i++)
			wake[i] = worker_wake_fd(w[i]);
		if (!wake || served_start_loader(sv, wake, &err) < 0) {
			log_error(&lm, "%s", wake ? err.msg : "out of memory");
			rc = 1;
		}
		free(wake);
	}
	if (rc == 0 && pv.mode == PRIVS_ROOT)
		log_warn(&lm, "running as root (allow-root): a flaw in a protocol engine would "
			      "hand a peer the whole machine");
	/* Only now may the workers handle peers; after a failure they see
	 * stop and leave. */
	if (rc != 0)
		atomic_store(&stop, 1);
	for (unsigned i = 0; i < started; i++)
		worker_go(w[i]);
	if (rc == 0) {
		char h[64];
		printf("seed-dataplane %s: serving %zu torrents from %s with %u workers\n",
		       SEED_VERSION, served_count(sv), conf.store, conf.workers);
		for (unsigned i = 0; i < conf.n_bt; i++) {
			host_of(&conf.bt[i], h, sizeof(h));
			printf("bittorrent  %s:%u\n", h, get_port(&conf.bt[i]));
		}
		/* whether uTP-first clients (libtorrent's default) get an
		 * answer, or wait seconds for their TCP fallback */
		if (conf.n_bt && worker_utp_slots(w[0]))
			printf("utp         on the bittorrent ports, %u connections per worker\n",
			       worker_utp_slots(w[0]));
		else if (conf.n_bt)
			printf("utp         off (%s)\n",
			       !conf.utp_conns ? "--utp-conns 0"
					       : "this backend has no datagrams yet: TCP only");
		/* before the http lines, which tell scripts the banner is out */
		if (worker_storage_polled(w[0]))
			printf("storage     reads polled (IOPOLL): %s\n", poll_why);
		else
			printf("storage     reads complete by interrupt (%s)\n",
			       conf.storage_poll == 1
				       ? "a polled ring could not be set up: see the log"
				       : poll_why);
		for (unsigned i = 0; i < conf.n_http; i++) {
			host_of(&conf.http[i], h, sizeof(h));
			printf("http        http://%s:%u/\n", h, get_port(&conf.http[i]));
		}
		/* Operators check this line: a box without reserved hugepages
		 * still serves, from plain pages, a little slower. */
		printf("cache       %llu MiB, %s, shared by the workers\n",
		       (unsigned long long)(conf.cache_size >> 20),
		       scache_uses_hugepages(cache) ? "2 MiB hugepages" : "plain pages");
		/* the store may hold any number of files: this many are open */
		printf("objects     %zu, at most %u files open (%u per worker; descriptor limit "
		       "%llu)\n",
		       served_object_count(sv), conf.object_fds, conf.object_fds / conf.workers,
		       (unsigned long long)fd_limit);
		fflush(stdout);
		int sig;
		/* The bandwidth buckets refill every REFILL_MS while a tenant is
		 * capped; the catalog file is checked every CATALOG_POLL_MS. An
		 * uncapped box wakes only for the catalog: an idle seed stays
		 * idle. */
		struct timespec poll = { 0, REFILL_MS * 1000000L };
		uint64_t last_cat = 0;
		for (;;) {
			sig = sigtimedwait(&set, NULL, &poll);
			uint64_t t = mono_ns();
			bool capped = tenants_refill(g_tenants, t);
			poll.tv_nsec = (capped ? REFILL_MS : CATALOG_POLL_MS) * 1000000L;
			if (sig < 0 && t - last_cat < CATALOG_POLL_MS * 1000000ull)
				continue;
			last_cat = t;
			/* peers per tenant, for seed-control's status and metrics */
			for (unsigned k = 0;
			     k < tenants_count(g_tenants) && k < DPSTATS_MAX_TENANTS; k++)
				dpstats_tenant_set(stats, k, tenants_id(g_tenants, (int)k),
						   tenants_peers(g_tenants, (int)k));
			struct swarm_sums ss;
			swarm_report(sv, stats, sig == SIGUSR1, &ss);
			swarm_publish(stats, &ss);
			if (sig == SIGTERM || sig == SIGINT)
				break;
			if (*conf.drain_file && drain_asked(conf.drain_file, &t_start)) {
				sig = 0;
				break;
			}
			if (sig == SIGUSR1)
				atomic_fetch_add(&dump, 1);
			if (sig == SIGHUP) {
				/* rescan the store (new releases) and reread the catalog */
				memset(&stamp, 0, sizeof(stamp));
				if (!*conf.catalog)
					refresh(sv, NULL);
			}
			if (*conf.catalog)
				switch_catalog(sv, conf.catalog, &stamp, 0);
			served_reclaim(sv);
			/* a catalog that just capped a tenant refills from now on */
			if (tenants_refill(g_tenants, mono_ns()))
				poll.tv_nsec = REFILL_MS * 1000000L;
		}
		if (sig)
			log_info(&lm, "%s, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		else
			log_info(&lm, "%s appeared, draining", conf.drain_file);
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
		struct swarm_sums ss;
		swarm_report(sv, stats, 0, &ss); /* sums only: per release is SIGUSR1's */
		swarm_publish(stats, &ss);
		if (t) {
			dpstats_sum(stats, t);
			unsigned long long cl = 0, adm = 0;
			for (unsigned k = 0; k < DPSTATS_NPROTO; k++)
				cl += t->conns_accepted[k];
			for (unsigned k = 0; k < DPSTATS_NADMIT; k++)
				adm += t->admit_refusals[k];
			log_info(&lm,
				 "stopped conns_accepted=%llu payload_bytes_bt=%llu "
				 "payload_bytes_http=%llu "
				 "verify_failures=%llu blocks_repaired=%llu repair_failures=%llu "
				 "leaf_failures=%llu cache_hits=%llu cache_misses=%llu "
				 "storage_reads=%llu storage_read_bytes=%llu storage_errors=%llu "
				 "readahead_reads=%llu readahead_blocks=%llu readahead_splits=%llu "
				 "readahead_budget_waits=%llu blocks_parked=%llu object_opens=%llu "
				 "object_open_errors=%llu "
				 "closes_encryption=%llu mse_plaintext=%llu mse_rc4=%llu "
				 "admit_refusals=%llu closes_reclaimed=%llu "
				 "utp_conns_accepted=%llu utp_payload_bytes=%llu "
				 "utp_retransmits=%llu swarm_injected=%llu swarm_second=%llu "
				 "swarm_fallbacks=%llu swarm_small=%llu swarm_passed=%llu "
				 "swarm_released=%llu swarm_boot=%llu swarm_refunded=%llu "
				 "swarm_late=%llu",
				 cl, (unsigned long long)t->payload_bytes[DPSTATS_BT],
				 (unsigned long long)t->payload_bytes[DPSTATS_HTTP],
				 (unsigned long long)t->verify_failures,
				 (unsigned long long)t->blocks_repaired,
				 (unsigned long long)t->repair_failures,
				 (unsigned long long)t->leaf_failures,
				 (unsigned long long)t->cache_hits,
				 (unsigned long long)t->cache_misses,
				 (unsigned long long)t->storage_reads,
				 (unsigned long long)t->storage_read_bytes,
				 (unsigned long long)t->storage_errors,
				 (unsigned long long)t->readahead_reads,
				 (unsigned long long)t->readahead_blocks,
				 (unsigned long long)t->readahead_splits,
				 (unsigned long long)t->readahead_budget_waits,
				 (unsigned long long)t->blocks_parked,
				 (unsigned long long)t->object_opens,
				 (unsigned long long)t->object_open_errors,
				 (unsigned long long)t->closes[PROTO_CLOSE_ENCRYPTION],
				 (unsigned long long)t->mse_handshakes[DPSTATS_MSE_PLAINTEXT],
				 (unsigned long long)t->mse_handshakes[DPSTATS_MSE_RC4], adm,
				 (unsigned long long)t->closes[PROTO_CLOSE_RECLAIMED],
				 (unsigned long long)t->utp_conns_accepted,
				 (unsigned long long)t->utp_payload_bytes,
				 (unsigned long long)t->utp_retransmits, ss.injected, ss.second,
				 ss.fallbacks, ss.small, ss.passed, ss.released, ss.boot,
				 ss.refunded, ss.late);
			free(t);
		}
	}
	dpstats_close(stats);
	free(w);
	/* every worker is gone: no pin, fill or wake is left */
	scache_destroy(cache);
	free(wake_fds);
	served_free(sv);
	tenants_free(g_tenants);
	admit_free(g_admit);
	if (backend->fini)
		backend->fini();
	return rc;
}
