/*
 * seed-control: the appliance's control plane. One thread runs a poll loop
 * over the API socket, the status listener and their connections; the
 * tracker client runs in its own thread (tracker.c).
 *
 * The API socket and the status listener have separate connection pools
 * (api_max_conns, status_max_conns), so no number of TCP connections can
 * take a slot seedctl needs; a full status pool makes room for a newcomer
 * by closing the connection idle longest. Who may do what on each is
 * guard.c's: Host names on the status listener, SO_PEERCRED roles on the
 * API socket.
 *
 * Each pass: accept, read, answer (api.c), write; then, at most once a
 * second, sample the data plane's counters, pick up releases created in the
 * store, commit a new catalog generation when anything changed, and hand the
 * tracker the registrations of every servable release. The data plane never
 * waits on this process: it reads the catalog file when it changes, and
 * restarting seed-control leaves every peer connection alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "api.h"
#include "fsutil.h"
#include "guard.h"
#include "httpd.h"
#include "keeper.h"
#include "log.h"
#include "node.h"
#include "tracker.h"

#define EXIT_USAGE 2
/* A full status pool says so at most this often (a flood must not flood
 * the log too). */
#define FULL_WARN_MS 60000

static const struct log_module lm = LOG_MODULE("control.main");

extern const unsigned char seed_status_page[];
extern const size_t seed_status_page_len;

struct conn {
	int fd;
	bool tcp; /* the status listener's: Host is checked */
	struct api_caller who;
	char refusal[256]; /* who.refusal for an API socket caller */
	struct httpd_conn h;
	uint8_t pend[16384]; /* received, not yet taken by the engine */
	size_t pend_len;
};

struct ctl {
	struct node *node;
	struct api api;
	struct tracker *tracker;
	struct keeper *keeper;
	int api_fd, status_fd, sig_fd;
	struct pool {
		struct conn *v;
		size_t n, cap;
	} api_pool, status_pool;
	struct pollfd *pf; /* 3 + both pools' capacity */
	struct guard_hosts hosts;
	struct guard_ids ids;
	uint64_t full_warned;
	struct timespec releases_mtime;
	/* the data plane's repair records read so far, per worker, of the run
	 * that started at rep_start */
	uint64_t rep_seen[DPSTATS_MAX_WORKERS];
	uint64_t rep_start;
	bool draining, stop;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* 1 when addr can be bound here (it is one of this box's addresses). */
static int local_address(int family, const uint8_t *addr)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, addr, 4);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, addr, 16);
		len = sizeof(*a);
	}
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	int ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: seed-control [--config FILE]\n"
		   "       seed-control --check-config FILE\n\n"
		   "The BitStream seed appliance's control plane: tenants, the release\n"
		   "catalog the data plane serves, tracker registration, metrics, the\n"
		   "status page and the API seedctl speaks (docs/api.md).\n\n"
		   "  --config FILE        node and tenant config (default /etc/seed/seed.conf)\n"
		   "  --check-config FILE  parse FILE, print the first error (file:line: key:\n"
		   "                       why) or \"ok\", and exit 0 / 1\n"
		   "  --log-level SPEC     what to log on stderr: error, warn, info (default)\n"
		   "                       or debug, then MODULE=LEVEL entries, comma-\n"
		   "                       separated (info,control.tracker=debug); overrides\n"
		   "                       SEED_LOG_LEVEL\n"
		   "  --help, --version\n\n"
		   "Signals: SIGHUP rereads the config (refused whole when invalid: the\n"
		   "running config stays); SIGTERM and SIGINT stop it (the data plane keeps\n"
		   "serving).\n");
}

static int listen_unix(const char *path, const struct guard_ids *ids, struct seed_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return seed_err_set(err, -ENAMETOOLONG, "api socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "api socket: %s", strerror(errno));
	/* A socket file left by a previous run is replaced; a live one (another
	 * seed-control answering) is not. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return seed_err_set(err, -EADDRINUSE,
				    "api socket %s: another seed-control is answering on it", path);
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "api socket: %s", strerror(errno));
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0660) < 0 || listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "api socket %s: %s", path, strerror(e));
	}
	/* Connecting needs write access to the file: the ACL lets both
	 * groups' members in, and nobody else but the owner and its group. */
	struct seed_err aerr;
	seed_err_clear(&aerr);
	if (guard_socket_acl(path, ids, &aerr) < 0)
		log_warn(&lm, "%s; only its owner and group can connect", aerr.msg);
	return fd;
}

static int listen_tcp(const struct seedconf_node *nc, struct seed_err *err)
{
	int fd = socket(nc->status_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "status listener: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&nc->status_addr, nc->status_addr_len) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "status listener %s: %s", nc->status_listen,
				    strerror(e));
	}
	return fd;
}

/* The registrations of every servable release on its tenant's trackers. */
static void push_trackers(struct ctl *c, int64_t now)
{
	if (!c->tracker || c->draining)
		return;
	size_t cap = 64, n = 0;
	struct tracker_reg *regs = malloc(cap * sizeof(*regs));
	if (!regs)
		return;
	for (size_t i = 0; i < node_n_releases(c->node); i++) {
		const struct node_release *r = node_release_at(c->node, i);
		if (!node_release_servable(c->node, r, now))
			continue;
		const struct tenant *t = node_tenant_find(c->node, r->tenant);
		for (unsigned k = 0; t && k < t->n_trackers; k++) {
			const uint8_t *hs[3];
			int nh = 0;
			if (r->has_v1)
				hs[nh++] = r->ih_v1;
			if (r->has_v2)
				hs[nh++] = r->ih_v2; /* truncated to 20 bytes on the wire */
			if (r->has_companion)
				hs[nh++] = r->ih_companion;
			for (int h = 0; h < nh; h++) {
				if (n == cap) {
					void *p = realloc(regs, 2 * cap * sizeof(*regs));
					if (!p)
						goto out;
					regs = p;
					cap *= 2;
				}
				memset(&regs[n], 0, sizeof(regs[n]));
				snprintf(regs[n].url, sizeof(regs[n].url), "%s", t->trackers[k]);
				memcpy(regs[n].info_hash, hs[h], 20);
				snprintf(regs[n].release, sizeof(regs[n].release), "%s", r->id);
				n++;
			}
		}
	}
	tracker_set(c->tracker, regs, n);
out:
	free(regs);
}

static struct keeper_settings keeper_settings(const struct seedconf_node *nc)
{
	return (struct keeper_settings){ .scrub_interval_s = nc->scrub_interval_s,
					 .scrub_rate = nc->scrub_rate };
}

/* Blocks the data plane found bad since the last look go to the keeper,
 * which checks their stripes on disk and writes the repair back. */
static void take_repairs(struct ctl *c)
{
	const struct dpstats *dp = c->api.dp;
	if (!dp)
		return;
	if (c->api.dp_start != c->rep_start) {
		memset(c->rep_seen, 0, sizeof(c->rep_seen));
		c->rep_start = c->api.dp_start;
	}
	struct dpstats_repair r[DPSTATS_REPAIR_RING];
	for (unsigned i = 0; i < dpstats_n_workers(dp); i++) {
		uint64_t missed = 0;
		size_t n = dpstats_repairs_read(dp, i, &c->rep_seen[i], r, DPSTATS_REPAIR_RING,
						&missed);
		for (size_t j = 0; j < n; j++)
			keeper_repair(c->keeper, &r[j]);
		if (missed)
			keeper_records_missed(c->keeper, missed);
	}
}

/* Retired releases whose time in the store is over go to the keeper,
 * which removes them (and is told again until a rescan no longer finds
 * them in the store). */
static void reclaim_due(struct ctl *c, int64_t now)
{
	int64_t keep = node_conf(c->node)->reclaim_retired_s;
	for (size_t i = 0; keep > 0 && i < node_n_releases(c->node); i++) {
		const struct node_release *r = node_release_at(c->node, i);
		if (r->in_store && r->state == CATALOG_RETIRED && r->retired_at + keep <= now)
			keeper_reclaim(c->keeper, r->id);
	}
}

static void commit(struct ctl *c, int64_t now)
{
	if (!node_dirty(c->node))
		return;
	struct seed_err err;
	seed_err_clear(&err);
	if (node_commit(c->node, now, &err) < 0)
		log_warn(&lm, "writing the catalog: %s (will retry)", err.msg);
}

/* New or removed releases in the store: its releases/ directory changed. */
static void maybe_rescan(struct ctl *c)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/releases", node_conf(c->node)->store);
	struct stat st;
	if (stat(path, &st) < 0)
		return;
	if (st.st_mtim.tv_sec == c->releases_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->releases_mtime.tv_nsec)
		return;
	c->releases_mtime = st.st_mtim;
	struct seed_err err;
	seed_err_clear(&err);
	if (node_rescan(c->node, &err) < 0)
		log_warn(&lm, "rescanning the store: %s", err.msg);
}

static int do_reload(void *ctx, struct seed_err *err)
{
	struct ctl *c = ctx;
	int rc = node_reload_config(c->node, err);
	if (rc < 0) {
		log_error(&lm, "reload refused: %s", err->msg);
		return rc;
	}
	int64_t now = time(NULL);
	commit(c, now);
	push_trackers(c, now);
	struct keeper_settings ks = keeper_settings(node_conf(c->node));
	keeper_set(c->keeper, &ks);
	log_info(&lm, "config reloaded, catalog generation %llu",
		 (unsigned long long)node_generation(c->node));
	return 0;
}

static int do_drain(void *ctx, struct seed_err *err)
{
	struct ctl *c = ctx;
	/* The data plane's SIGTERM is its drain: stop accepting, let queued
	 * blocks go out, close. Its pid is in its counters file. Under the
	 * shipped units it runs as another user, which seed-control may not
	 * signal: then RUN_DIR/drain asks it (its --drain-file). */
	if (c->api.dp && c->api.dp_pid > 1 && kill(c->api.dp_pid, SIGTERM) < 0 && errno != ESRCH) {
		if (errno != EPERM)
			return seed_err_set(err, -errno, "signalling the data plane (pid %d): %s",
					    (int)c->api.dp_pid, strerror(errno));
		char path[SEEDCONF_PATH_MAX + 16];
		int n = snprintf(path, sizeof(path), "%s/drain", node_conf(c->node)->run_dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return seed_err_set(err, -ENAMETOOLONG,
					    "the drain file's path is too long");
		int rc = fsu_write_atomic(path, "drain\n", 6, 0644, err);
		if (rc < 0)
			return rc;
		log_info(&lm, "data plane (pid %d) is another user: asked through %s",
			 (int)c->api.dp_pid, path);
	}
	c->draining = true;
	if (c->tracker)
		tracker_stop_all(c->tracker, 5000);
	log_info(&lm, "draining: data plane told to stop, trackers told 'stopped'");
	return 0;
}

static void conn_close(struct pool *p, size_t i)
{
	close(p->v[i].fd);
	httpd_conn_free(&p->v[i].h);
	p->v[i] = p->v[--p->n];
}

/* The connection of p idle longest (no request under way, nothing to
 * send), or -1 when none is idle. */
static ssize_t idlest(const struct pool *p)
{
	ssize_t best = -1;
	uint64_t since = HTTPD_NO_DEADLINE;

	for (size_t i = 0; i < p->n; i++) {
		uint64_t s = httpd_conn_idle_since(&p->v[i].h);
		if (s < since) {
			since = s;
			best = (ssize_t)i;
		}
	}
	return best;
}

/* Sets up what x may do; false when the connection must go. */
static bool admit(struct ctl *c, struct conn *x)
{
	if (x->tcp) {
		/* GET only, whoever the client: the status listener has no
		 * notion of a caller */
		x->who = (struct api_caller){ true, false,
					      "read-only listener: changes go through the API "
					      "socket" };
		return true;
	}
	struct guard_peer p;
	int rc = guard_peer(x->fd, &c->ids, &p);
	if (rc < 0) {
		log_warn(&lm, "api socket: cannot read the caller's credentials: %s",
			 strerror(-rc));
		return false;
	}
	guard_refusal(&c->ids, &p, x->refusal, sizeof(x->refusal));
	x->who = (struct api_caller){ p.role != GUARD_NONE, p.role == GUARD_ADMIN, x->refusal };
	return true;
}

static void on_accept(struct ctl *c, int lfd, bool tcp, uint64_t now)
{
	struct pool *p = tcp ? &c->status_pool : &c->api_pool;

	for (int k = 0; k < 64; k++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (p->n == p->cap) {
			/* The status pool makes room by closing the connection
			 * idle longest; the API pool's callers are local users
			 * and keep their slots. */
			ssize_t old = tcp ? idlest(p) : -1;
			if (now - c->full_warned >= FULL_WARN_MS || !c->full_warned) {
				c->full_warned = now;
				log_warn(&lm, "%s full (%zu connections): %s",
					 tcp ? "status listener" : "api socket", p->cap,
					 old >= 0 ? "closing the one idle longest"
						  : "refusing newcomers");
			}
			if (old < 0) {
				close(fd);
				continue;
			}
			conn_close(p, (size_t)old);
		}
		struct conn *x = &p->v[p->n];
		x->fd = fd;
		x->tcp = tcp;
		x->pend_len = 0;
		if (!admit(c, x)) {
			close(fd);
			continue;
		}
		/* the last eighth of the API pool is kept for admins: read-only
		 * callers filling it must not lock out the operator who would
		 * stop them */
		if (!tcp && !x->who.may_write && p->n + p->cap / 8 >= p->cap) {
			close(fd);
			continue;
		}
		if (httpd_conn_init(&x->h, NULL, now) < 0) {
			httpd_conn_free(&x->h);
			close(fd);
			continue;
		}
		p->n++;
	}
}

/* Answers every request the engine has complete. */
static void answer_all(struct ctl *c, struct conn *x)
{
	struct httpd_request req;
	int rc;
	while ((rc = httpd_conn_next(&x->h, &req)) == 1) {
		size_t hl = 0;
		const char *host = httpd_request_header(&req, "host", &hl);
		if (x->tcp && !guard_host_ok(&c->hosts, host, hl))
			httpd_respond_error(&x->h, 421,
					    "this listener answers only the Host names of "
					    "status_hosts (see docs/api.md)",
					    NULL);
		else
			api_handle(&c->api, &x->h, &req, &x->who, time(NULL));
	}
	if (rc < 0 && rc != -EBUSY && rc != -EPIPE) {
		const char *msg;
		unsigned st = httpd_conn_error(&x->h, &msg);
		httpd_respond_error(&x->h, st ? st : 400, msg, NULL);
	}
}

/* Reads, answers what is complete, writes. Returns -1 when the connection
 * should go. Bytes the engine did not take yet (a request is in hand) wait
 * in x->pend and are offered again after the answer. */
static int serve(struct ctl *c, struct conn *x, short revents, uint64_t now)
{
	if ((revents & POLLIN) && x->pend_len < sizeof(x->pend)) {
		ssize_t n = read(x->fd, x->pend + x->pend_len, sizeof(x->pend) - x->pend_len);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n > 0)
			x->pend_len += (size_t)n;
	}
	for (int round = 0; round < 64; round++) {
		if (x->pend_len) {
			ssize_t took = httpd_conn_feed(&x->h, x->pend, x->pend_len, now);
			if (took < 0)
				return -1;
			memmove(x->pend, x->pend + took, x->pend_len - (size_t)took);
			x->pend_len -= (size_t)took;
		}
		answer_all(c, x);
		const uint8_t *out;
		size_t len;
		httpd_conn_output(&x->h, &out, &len);
		size_t sent = 0;
		while (len) {
			ssize_t w = send(x->fd, out, len, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno != EAGAIN)
					return -1;
				break;
			}
			httpd_conn_sent(&x->h, (size_t)w, now);
			sent += (size_t)w;
			httpd_conn_output(&x->h, &out, &len);
		}
		/* more to do only when output moved and input waits */
		if (!sent || !x->pend_len)
			break;
	}
	answer_all(c, x);
	if (httpd_conn_timed_out(&x->h, now))
		return -1;
	const uint8_t *out;
	size_t len;
	httpd_conn_output(&x->h, &out, &len);
	if (httpd_conn_wants_close(&x->h) && !len)
		return -1;
	return 0;
}

static void on_signal(struct ctl *c)
{
	struct signalfd_siginfo si;
	while (read(c->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			struct seed_err err;
			seed_err_clear(&err);
			do_reload(c, &err);
		} else {
			c->stop = true;
		}
	}
}

/* Serves every connection of p whose poll entries start at pf. */
static void serve_pool(struct ctl *c, struct pool *p, const struct pollfd *pf, size_t had, int k,
		       uint64_t now)
{
	/* newest first so removal keeps indexes valid */
	for (size_t i = had; i-- > 0;) {
		short re = k > 0 ? pf[i].revents : 0;
		if (re & (POLLERR | POLLHUP | POLLNVAL))
			re |= POLLIN;
		if (serve(c, &p->v[i], re, now) < 0)
			conn_close(p, i);
	}
}

static size_t poll_pool(const struct pool *p, struct pollfd *pf)
{
	for (size_t i = 0; i < p->n; i++) {
		const uint8_t *o;
		size_t ol;
		httpd_conn_output(&p->v[i].h, &o, &ol);
		pf[i] = (struct pollfd){ p->v[i].fd, (short)(POLLIN | (ol ? POLLOUT : 0)), 0 };
	}
	return p->n;
}

static int run(struct ctl *c)
{
	uint64_t last_tick = 0;
	struct pollfd *pf = c->pf;
	while (!c->stop) {
		size_t n = 0;
		pf[n++] = (struct pollfd){ c->sig_fd, POLLIN, 0 };
		pf[n++] = (struct pollfd){ c->api_fd, POLLIN, 0 };
		if (c->status_fd >= 0)
			pf[n++] = (struct pollfd){ c->status_fd, POLLIN, 0 };
		size_t api_base = n, n_api = poll_pool(&c->api_pool, pf + n);
		n += n_api;
		size_t st_base = n, n_st = poll_pool(&c->status_pool, pf + n);
		n += n_st;
		int k = poll(pf, n, 250);
		uint64_t now = mono_ms();
		/* the API socket's callers first: its connections, then its
		 * accepts, before anything of the status listener's */
		serve_pool(c, &c->api_pool, pf + api_base, n_api, k, now);
		if (k > 0) {
			if (pf[0].revents)
				on_signal(c);
			if (pf[1].revents)
				on_accept(c, c->api_fd, false, now);
		}
		serve_pool(c, &c->status_pool, pf + st_base, n_st, k, now);
		if (k > 0 && c->status_fd >= 0 && pf[2].revents)
			on_accept(c, c->status_fd, true, now);
		int64_t wall = time(NULL);
		if (now - last_tick >= 1000 || node_dirty(c->node)) {
			if (now - last_tick >= 1000) {
				last_tick = now;
				api_sample(&c->api, now);
				take_repairs(c);
				maybe_rescan(c);
				reclaim_due(c, wall);
			}
			commit(c, wall);
			push_trackers(c, wall);
		}
	}
	return 0;
}

/* Room for both pools and their descriptors: the soft RLIMIT_NOFILE is
 * raised toward the hard one when the pools need more. */
static int pools_init(struct ctl *c, const struct seedconf_node *nc, struct seed_err *err)
{
	size_t na = nc->api_max_conns, ns = nc->status_max_conns;
	c->api_pool = (struct pool){ calloc(na, sizeof(struct conn)), 0, na };
	c->status_pool = (struct pool){ calloc(ns, sizeof(struct conn)), 0, ns };
	c->pf = calloc(3 + na + ns, sizeof(*c->pf));
	if (!c->api_pool.v || !c->status_pool.v || !c->pf)
		return seed_err_set(err, -ENOMEM, "out of memory for %zu + %zu connections", na,
				    ns);
	struct rlimit rl;
	rlim_t want = (rlim_t)(na + ns + 64); /* and the tracker's, the store's */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < want)
			log_warn(&lm,
				 "open files limited to %llu, under the %llu that api_max_conns + "
				 "status_max_conns need: connections past it are refused",
				 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
	}
	return 0;
}

static void pools_fini(struct ctl *c)
{
	for (size_t i = c->api_pool.n; i-- > 0;)
		conn_close(&c->api_pool, i);
	for (size_t i = c->status_pool.n; i-- > 0;)
		conn_close(&c->status_pool, i);
	free(c->api_pool.v);
	free(c->status_pool.v);
	free(c->pf);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", required_argument, NULL, 'C' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *config = "/etc/seed/seed.conf", *check = NULL, *log_level = NULL;
	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'C': check = optarg; break;
		case 'L': log_level = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("seed-control %s\n", SEED_VERSION); return 0;
		default:
			fprintf(stderr,
				"seed-control: unknown option or missing value: %s (try --help)\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seed-control: unexpected argument '%s' (try --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	struct seed_err err;
	seed_err_clear(&err);
	/* a level the operator asked for and did not get is a usage error;
	 * --log-level replaces a bad SEED_LOG_LEVEL as it would a good one */
	int lrc = log_init("seed-control", &err);
	if (log_level) {
		seed_err_clear(&err);
		lrc = log_configure(log_level, &err);
	}
	if (lrc < 0) {
		fprintf(stderr, "seed-control: %s\n", err.msg);
		return EXIT_USAGE;
	}
	if (check) {
		struct seedconf *sc = NULL;
		if (seedconf_load_file(check, &sc, &err) < 0) {
			fprintf(stderr, "seed-control: %s\n", err.msg);
			return 1;
		}
		struct guard_ids ids;
		seed_err_clear(&err);
		if (guard_ids_init(&ids, &sc->node, &err) != 0)
			fprintf(stderr, "seed-control: warning: %s\n", err.msg);
		printf("%s: ok (node %s, %zu tenants)\n", check, sc->node.name, sc->n_tenants);
		seedconf_free(sc);
		return 0;
	}

	static struct ctl c;
	c.api_fd = c.status_fd = c.sig_fd = -1;
	if (node_open(config, &c.node, &err) < 0) {
		log_error(&lm, "%s", err.msg);
		return 1;
	}
	const struct seedconf_node *nc = node_conf(c.node);
	char stats[4200];
	snprintf(stats, sizeof(stats), "%s/dataplane.stats", nc->run_dir);
	if (api_init(&c.api, c.node, stats, time(NULL)) < 0) {
		log_error(&lm, "out of memory");
		return 1;
	}
	c.api.page = seed_status_page;
	c.api.page_len = seed_status_page_len;
	c.api.hooks = (struct api_hooks){ &c, do_reload, do_drain };

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	c.sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

	guard_hosts_init(&c.hosts, nc);
	int rc = guard_ids_init(&c.ids, nc, &err);
	if (rc < 0) {
		log_error(&lm, "%s", err.msg);
		return 1;
	}
	if (rc > 0)
		log_warn(&lm, "%s", err.msg);
	seed_err_clear(&err);
	if (pools_init(&c, nc, &err) < 0) {
		log_error(&lm, "%s", err.msg);
		return 1;
	}
	rc = listen_unix(nc->api_socket, &c.ids, &err);
	if (rc >= 0) {
		c.api_fd = rc;
		if (nc->status_addr_len) {
			rc = listen_tcp(nc, &err);
			c.status_fd = rc;
		}
	}
	if (rc >= 0) {
		struct tracker_config tc = { .port = nc->announce_port,
					     .announce_family = nc->announce_family,
					     .numwant = 0 };
		memcpy(tc.announce_addr, nc->announce_addr, 16);
		/* Trackers (opentracker among them) take the peer's address from
		 * the announce's source: with an explicit IP that is local to this
		 * box, announce from it. An address that is not (a public one
		 * behind NAT) is only sent as ip=/ipv6=. */
		if (nc->announce_family && local_address(nc->announce_family, nc->announce_addr)) {
			tc.source_family = nc->announce_family;
			memcpy(tc.source_addr, nc->announce_addr, 16);
		}
		memcpy(tc.peer_id, "-BS0100-", 8);
		for (int i = 8; i < 20; i++)
			tc.peer_id[i] =
				(uint8_t) "0123456789abcdefghijklmnopqrstuvwxyz"[rand() % 36];
		rc = tracker_create(&tc, &c.tracker, &err);
	}
	if (rc >= 0) {
		struct keeper_settings ks = keeper_settings(nc);
		rc = keeper_start(nc->store, &ks, &c.keeper, &err);
	}
	if (rc < 0) {
		log_error(&lm, "%s", err.msg);
		return 1;
	}
	c.api.tracker = c.tracker;
	c.api.keeper = c.keeper;
	int64_t now = time(NULL);
	commit(&c, now);
	api_sample(&c.api, mono_ms());
	push_trackers(&c, now);

	printf("seed-control %s: node %s, %zu tenants, %zu releases, catalog %s generation %llu\n",
	       SEED_VERSION, nc->name, node_n_tenants(c.node), node_n_releases(c.node),
	       node_catalog_path(c.node), (unsigned long long)node_generation(c.node));
	printf("api         unix:%s\n", nc->api_socket);
	if (c.status_fd >= 0) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN] = "?";
		unsigned port = 0;
		getsockname(c.status_fd, (struct sockaddr *)&ss, &sl);
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			port = ntohs(a->sin_port);
			printf("status      http://%s:%u/\n", host, port);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			port = ntohs(a->sin6_port);
			printf("status      http://[%s]:%u/\n", host, port);
		}
	}
	fflush(stdout);

	run(&c);

	/* Stopping seed-control leaves the data plane serving and the trackers
	 * registered: a restart must not drop peers. Only drain announces
	 * 'stopped'. */
	tracker_destroy(c.tracker);
	keeper_stop(c.keeper);
	pools_fini(&c);
	close(c.api_fd);
	if (c.status_fd >= 0)
		close(c.status_fd);
	unlink(nc->api_socket);
	api_fini(&c.api);
	node_close(c.node);
	log_info(&lm, "stopped");
	return 0;
}
