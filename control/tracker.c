/*
 * tracker: the I/O around the sans-I/O announce engine (announce.h), in a
 * thread of its own.
 *
 * What it does: the caller hands in the desired set of registrations
 * (tracker URL x info-hash); the thread keeps one entry per registration,
 * each with an announce_sched that says when to announce and with which
 * event, and runs every due announce as a non-blocking attempt in one
 * poll() loop: HTTP (connect, send the request announce_http_build wrote,
 * read at most RESP_MAX bytes, announce_http_parse) or UDP (BEP 15 connect
 * then announce, retransmitted after announce_udp_rto_ms, the connection id
 * kept per tracker address for its minute of validity).
 *
 * Threads and locks:
 *  - t->mu guards the desired set, the flags (stop_all, quit), the entry
 *    array and every entry's `st` (the status row) and t->totals. The
 *    tracker thread is the only writer of the entry array and of `st`; it
 *    reads them without the lock and writes them with it. It never holds
 *    the lock across a system call that can block (no I/O, no DNS).
 *  - Everything else in an entry (url, sched, the attempt and its socket)
 *    and the DNS and UDP-connection caches belong to the thread alone.
 *  - Host names are resolved by short-lived detached helper threads, one per
 *    lookup, so a slow resolver stalls only the announces to that host. A
 *    lookup owns a reference-counted job and a dup of the wake eventfd: it
 *    finishes on its own even after tracker_destroy, and frees the job when
 *    the tracker has dropped it. Results are cached DNS_TTL_MS (failures
 *    DNS_NEG_TTL_MS), at most DNS_SLOTS hosts and DNS_JOBS lookups at once.
 *
 * Invariants:
 *  - An entry has an attempt (a.state != ATT_NONE) exactly when its
 *    scheduler has one in flight; every attempt ends (attempt_end) before
 *    the scheduler's own attempt timeout, so the scheduler never times one
 *    out behind our back.
 *  - At most one live (not stopping) entry per (url, info-hash). A
 *    registration removed and re-added while its `stopped` is pending gets
 *    a fresh entry only once that `stopped` has ended, so a tracker never
 *    sees `started` overtaken by the old `stopped`.
 *  - Bounds: MAX_ACTIVE attempts at once, responses RESP_MAX bytes, UDP
 *    datagrams UDP_DGRAM_MAX, a `stopped` STOP_TIMEOUT_MS.
 *
 * Call order: tracker_create; tracker_set any number of times (and
 * tracker_status / tracker_totals from any thread); optionally
 * tracker_stop_all; tracker_destroy.
 *
 * Logging: one stderr line when a registration's result changes (first
 * success, failure, error, message change, `stopped` sent), never for a
 * regular success that follows a success.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "announce.h"
#include "log.h"
#include "redact.h"
#include "tracker.h"

static const struct log_module lm = LOG_MODULE("control.tracker");

#define MAX_ACTIVE	 64	      /* attempts in flight at once */
#define HTTP_TIMEOUT_MS	 10000	      /* one HTTP announce, connect to last byte */
#define UDP_TIMEOUT_MS	 105000	      /* sends at 0, 15 and 45 s (announce_udp_rto_ms) */
#define STOP_TIMEOUT_MS	 3000	      /* a `stopped`, HTTP or UDP: shutdown must not hang */
#define RESP_MAX	 (256 * 1024) /* HTTP response, head and body */
#define UDP_DGRAM_MAX	 8192	      /* opentracker's largest reply is ~1.2 KiB */
#define PEERS_KEPT	 64	      /* we only count peers: a small array suffices */
#define DNS_SLOTS	 32
#define DNS_JOBS	 8
#define DNS_ADDRS	 4
#define DNS_TTL_MS	 300000
#define DNS_NEG_TTL_MS	 30000
#define UDP_CONN_SLOTS	 32
#define POLL_MAX_MS	 60000
#define RESOLVE_RETRY_MS 250 /* a lookup that could not start yet */

/* ---- small helpers ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies src into dst[cap], cut to fit: status texts are bounded. */
static void set_text(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int64_t wall_s(void)
{
	return (int64_t)time(NULL);
}

/* Transaction ids and the announce key must be unpredictable (BEP 15: a
 * forged reply needs the tid); the clock fallback only covers a kernel
 * without getrandom, never seen on Debian 12. */
static uint32_t rand32(void)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec;
	x ^= x >> 31;
	return (uint32_t)(x * 0xBF58476D1CE4E5B9ULL >> 32);
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char h[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(out, cap, "%s:%u", h, ntohs(a->sin_port));
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(out, cap, "[%s]:%u", h, ntohs(a->sin6_port));
	}
}

static socklen_t sa_len(int family)
{
	return family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Same family, address and port (the UDP reply's source check). */
static bool sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

static void sa_from_raw(struct sockaddr_storage *ss, int family, const uint8_t *raw, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, raw, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, raw, 16);
	sa_set_port(ss, port);
}

/* ---- DNS: helper threads and a small cache ---- */

struct dns_job {
	atomic_int refs; /* the tracker's and the helper's */
	atomic_int done; /* set (release) when the results below are final */
	int wake_fd;	 /* a dup of the tracker's eventfd, the helper's to close */
	int family;
	char host[ANNOUNCE_HOST_MAX + 1];
	int rc; /* getaddrinfo's */
	int n;
	struct sockaddr_storage addrs[DNS_ADDRS];
};

struct dns_slot {
	char host[ANNOUNCE_HOST_MAX + 1]; /* "" = free */
	struct dns_job *job;		  /* a lookup in progress, or NULL */
	uint64_t expires_ms, used_ms;
	int rc, n;
	struct sockaddr_storage addrs[DNS_ADDRS];
};

static void dns_job_unref(struct dns_job *j)
{
	if (atomic_fetch_sub(&j->refs, 1) == 1)
		free(j);
}

static void *dns_main(void *arg)
{
	struct dns_job *j = arg;
	struct addrinfo hints = { .ai_family = j->family, .ai_socktype = SOCK_STREAM }, *res;
	uint64_t one = 1;

	j->rc = getaddrinfo(j->host, NULL, &hints, &res);
	if (!j->rc) {
		for (struct addrinfo *ai = res; ai && j->n < DNS_ADDRS; ai = ai->ai_next) {
			if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
			    ai->ai_addrlen > sizeof(j->addrs[0]))
				continue;
			memset(&j->addrs[j->n], 0, sizeof(j->addrs[0]));
			memcpy(&j->addrs[j->n], ai->ai_addr, ai->ai_addrlen);
			j->n++;
		}
		freeaddrinfo(res);
		if (!j->n)
			j->rc = EAI_NONAME;
	}
	atomic_store_explicit(&j->done, 1, memory_order_release);
	/* The write only wakes the loop; a full or orphaned eventfd is harmless. */
	if (write(j->wake_fd, &one, sizeof(one)) < 0) {
	}
	close(j->wake_fd);
	dns_job_unref(j);
	return NULL;
}

/* ---- entries and attempts ---- */

enum att_state {
	ATT_NONE = 0,
	ATT_RESOLVE, /* waiting for a DNS lookup */
	ATT_CONNECT, /* HTTP: non-blocking connect in progress */
	ATT_SEND,    /* HTTP: request partly sent */
	ATT_RECV,    /* HTTP: reading the response */
	ATT_UDP,     /* UDP: a connect or announce request is out */
};

struct attempt {
	enum att_state state;
	enum announce_event event;
	int fd;
	uint64_t deadline_ms;
	int n_addrs, cur; /* addresses to try, in order; the one in use */
	struct sockaddr_storage addrs[DNS_ADDRS];
	char last_err[160]; /* why the previous address failed */
	/* HTTP: the request (owned), then the response (owned, grows) */
	char *req;
	size_t req_len, req_off;
	uint8_t *buf;
	size_t len, cap;
	/* UDP */
	int announcing; /* 0: connect phase, 1: announce phase */
	int conn_cached;
	uint32_t tid;
	unsigned sends; /* of the current request */
	uint64_t resend_ms;
	uint64_t conn_id;
};

struct entry {
	struct tracker_status st; /* written by the thread under t->mu */
	int url_ok;
	struct announce_url url;
	struct announce_sched sched;
	struct attempt a;
	int wanted;	 /* reconcile scratch */
	int log_bad_url; /* the URL was refused: say so once, outside the lock */
};

struct udp_conn {
	struct sockaddr_storage addr; /* family 0 = free */
	uint64_t conn_id, got_ms;
};

struct tracker {
	struct tracker_config cfg;
	uint32_t key;
	int efd;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when entries go away (stop_all waits) */

	/* guarded by mu */
	struct tracker_reg *want;
	size_t n_want;
	int want_changed, stop_all, stop_all_seen, quit;
	struct entry **ents;
	size_t n_ents, cap_ents;
	uint64_t totals[3];

	/* the thread's alone */
	int n_active;
	int n_jobs;
	struct dns_slot dns[DNS_SLOTS];
	struct udp_conn conns[UDP_CONN_SLOTS];
	struct pollfd pfd[MAX_ACTIVE + 1]; /* the eventfd, then one per attempt */
	struct entry *pent[MAX_ACTIVE + 1];
};

static void wake(struct tracker *t)
{
	uint64_t one = 1;

	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the thread will wake */
	}
}

/* Takes a finished job's results into its slot. */
static void dns_absorb(struct tracker *t, struct dns_slot *s, uint64_t now)
{
	struct dns_job *j = s->job;

	s->rc = j->rc;
	s->n = j->n;
	memcpy(s->addrs, j->addrs, sizeof(s->addrs));
	s->expires_ms = now + (s->n ? DNS_TTL_MS : DNS_NEG_TTL_MS);
	s->job = NULL;
	t->n_jobs--;
	dns_job_unref(j);
}

/*
 * A DNS lookup for host. Returns 1 with *out set (s->n == 0: it failed,
 * s->rc says why), 0 while pending (the eventfd fires when it ends), or
 * -EAGAIN when no lookup can start now (try again shortly), -errno else.
 */
static int dns_get(struct tracker *t, const char *host, uint64_t now, struct dns_slot **out)
{
	struct dns_slot *s = NULL, *lru = NULL;

	for (int i = 0; i < DNS_SLOTS; i++) {
		struct dns_slot *c = &t->dns[i];
		if (c->host[0] && !strcmp(c->host, host)) {
			s = c;
			break;
		}
		if (c->job)
			continue;
		if (!lru || !c->host[0] || (lru->host[0] && c->used_ms < lru->used_ms))
			lru = c;
	}
	if (s && s->job) {
		if (!atomic_load_explicit(&s->job->done, memory_order_acquire))
			return 0;
		dns_absorb(t, s, now);
	}
	if (s && now < s->expires_ms) {
		s->used_ms = now;
		*out = s;
		return 1;
	}
	if (!s) {
		if (!lru)
			return -EAGAIN;
		s = lru;
		memset(s, 0, sizeof(*s));
		snprintf(s->host, sizeof(s->host), "%s", host);
	}
	if (t->n_jobs >= DNS_JOBS)
		return -EAGAIN;

	struct dns_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	atomic_init(&j->refs, 2);
	atomic_init(&j->done, 0);
	j->family = t->cfg.source_family ? t->cfg.source_family : AF_UNSPEC;
	snprintf(j->host, sizeof(j->host), "%s", host);
	j->wake_fd = fcntl(t->efd, F_DUPFD_CLOEXEC, 0);
	if (j->wake_fd < 0) {
		int e = errno;
		free(j);
		return -e;
	}
	pthread_attr_t at;
	pthread_t th;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 256 * 1024);
	int rc = pthread_create(&th, &at, dns_main, j);
	pthread_attr_destroy(&at);
	if (rc) {
		close(j->wake_fd);
		free(j);
		return -rc;
	}
	s->job = j;
	s->used_ms = now;
	t->n_jobs++;
	return 0;
}

/* Absorbs finished lookups nobody waits for, so their slots free up. */
static void dns_reap(struct tracker *t, uint64_t now)
{
	for (int i = 0; i < DNS_SLOTS; i++) {
		struct dns_slot *s = &t->dns[i];
		if (s->job && atomic_load_explicit(&s->job->done, memory_order_acquire))
			dns_absorb(t, s, now);
	}
}

static struct udp_conn *udp_conn_find(struct tracker *t, const struct sockaddr_storage *a)
{
	for (int i = 0; i < UDP_CONN_SLOTS; i++)
		if (t->conns[i].addr.ss_family && sa_equal(&t->conns[i].addr, a))
			return &t->conns[i];
	return NULL;
}

static void udp_conn_put(struct tracker *t, const struct sockaddr_storage *a, uint64_t id,
			 uint64_t now)
{
	struct udp_conn *c = udp_conn_find(t, a);

	for (int i = 0; !c && i < UDP_CONN_SLOTS; i++)
		if (!t->conns[i].addr.ss_family ||
		    !announce_udp_conn_valid(t->conns[i].got_ms, now))
			c = &t->conns[i];
	if (!c) /* all fresh: replace the oldest */
		for (int i = 0; i < UDP_CONN_SLOTS; i++)
			if (!c || t->conns[i].got_ms < c->got_ms)
				c = &t->conns[i];
	c->addr = *a;
	c->conn_id = id;
	c->got_ms = now;
}

/* ---- status and logs ---- */

static const char *result_word(enum tracker_result r)
{
	switch (r) {
	case TRACKER_OK: return "ok";
	case TRACKER_FAILURE: return "failure";
	case TRACKER_ERROR: return "error";
	default: return "pending";
	}
}

/* Wall-clock second of the scheduler's next call (0 when never). */
static int64_t next_wall(const struct entry *e, uint64_t now)
{
	uint64_t n = announce_sched_next_ms(&e->sched);

	if (!e->url_ok || n == ANNOUNCE_NEVER)
		return 0;
	return wall_s() + (int64_t)(n > now ? (n - now + 999) / 1000 : 0);
}

/*
 * Records how an announce ended: totals, the status row and, when the
 * result or its message changed (or a `stopped` went out), one log line.
 * resp is NULL for errors.
 */
static void record(struct tracker *t, struct entry *e, enum announce_event ev,
		   enum tracker_result res, const struct announce_resp *resp, const char *msg,
		   uint64_t now)
{
	char m[sizeof(e->st.last_message)];
	set_text(m, sizeof(m), res == TRACKER_OK || !msg ? "" : msg);
	/* parser messages may quote the tracker's bytes: keep logs and JSON clean */
	for (char *p = m; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	bool changed = e->st.last_result != res || strcmp(e->st.last_message, m) != 0;
	int64_t next = next_wall(e, now);
	int64_t wall = wall_s();

	pthread_mutex_lock(&t->mu);
	t->totals[res == TRACKER_OK ? 0 : res == TRACKER_FAILURE ? 1 : 2]++;
	e->st.last_result = res;
	memcpy(e->st.last_message, m, sizeof(m));
	e->st.last_announce = wall;
	e->st.next_announce = ev == ANNOUNCE_EVENT_STOPPED ? 0 : next;
	if (res == TRACKER_OK && resp) {
		e->st.peers_seen = (uint32_t)(resp->n_peers + resp->peers_dropped);
		e->st.seeders = resp->complete >= 0 && resp->complete <= UINT32_MAX
					? (uint32_t)resp->complete
					: 0;
		e->st.leechers = resp->incomplete >= 0 && resp->incomplete <= UINT32_MAX
					 ? (uint32_t)resp->incomplete
					 : 0;
	}
	pthread_mutex_unlock(&t->mu);

	/* A release has up to three info-hashes per tracker: name which one,
	 * shortened, at the end so the line still starts "... release R: ". */
	char ih[9];
	snprintf(ih, sizeof(ih), "%02x%02x%02x%02x", e->st.reg.info_hash[0], e->st.reg.info_hash[1],
		 e->st.reg.info_hash[2], e->st.reg.info_hash[3]);
	/* The URL may carry a passkey and the tracker's message may echo
	 * one: logs get them redacted (lib/redact.h). */
	char *url = redact_dup(e->st.reg.url), *rmsg = redact_dup(m);
	const char *u = url ? url : REDACT_MARK, *why = rmsg ? rmsg : REDACT_MARK;
	if (ev == ANNOUNCE_EVENT_STOPPED) {
		if (res == TRACKER_OK)
			log_info(&lm, "tracker %s release %s: stopped (info-hash %s)", u,
				 e->st.reg.release, ih);
		else
			log_warn(&lm,
				 "tracker %s release %s: stopped, unconfirmed: %s (info-hash %s)",
				 u, e->st.reg.release, why, ih);
	} else if (changed) {
		long long in = next > wall ? (long long)(next - wall) : 0;
		if (res == TRACKER_OK)
			log_info(&lm,
				 "tracker %s release %s: ok, %" PRIu32
				 " peers, next in %llds (info-hash %s)",
				 u, e->st.reg.release, e->st.peers_seen, in, ih);
		else
			log_warn(&lm,
				 "tracker %s release %s: %s: %s (retry in %llds, info-hash %s)", u,
				 e->st.reg.release, result_word(res), why, in, ih);
	}
	free(url);
	free(rmsg);
}

/* ---- attempts ---- */

/* Frees what an attempt holds (socket, request, response) and uncounts it. */
static void attempt_free(struct tracker *t, struct attempt *a)
{
	if (a->fd >= 0)
		close(a->fd);
	free(a->req);
	free(a->buf);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
	t->n_active--;
}

/* Ends the attempt: frees its resources and tells the scheduler. */
static void attempt_end(struct tracker *t, struct entry *e, enum tracker_result res,
			const struct announce_resp *resp, const char *msg, uint64_t now)
{
	enum announce_event ev = e->a.event;

	attempt_free(t, &e->a);
	if (res == TRACKER_OK)
		announce_sched_on_success(&e->sched, now, resp->interval_s, resp->min_interval_s);
	else
		announce_sched_on_failure(&e->sched, now);
	record(t, e, ev, res, resp, msg, now);
}

/* Drops the attempt without an outcome (the registration is going away). */
static void attempt_abandon(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;

	if (a->state == ATT_NONE)
		return;
	attempt_free(t, a);
	announce_sched_on_failure(&e->sched, now);
}

static void fail(struct tracker *t, struct entry *e, uint64_t now, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct tracker *t, struct entry *e, uint64_t now, const char *fmt, ...)
{
	char m[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	attempt_end(t, e, TRACKER_ERROR, NULL, m, now);
}

/* The announce request of entry e (HTTP or UDP), and a clear report. */
static void req_init(const struct tracker *t, const struct entry *e, enum announce_event ev,
		     struct announce_req *req, struct seed_err *err)
{
	*req = (struct announce_req){ .port = t->cfg.port,
				      .event = ev,
				      .key = t->key,
				      .numwant = t->cfg.numwant > INT32_MAX
							 ? INT32_MAX
							 : (int32_t)t->cfg.numwant };
	memcpy(req->info_hash, e->st.reg.info_hash, 20);
	memcpy(req->peer_id, t->cfg.peer_id, 20);
	seed_err_clear(err);
}

/* What one tracker reply is parsed into (on the stack of the read path). */
struct reply {
	struct announce_peer peers[PEERS_KEPT];
	struct announce_resp resp;
	struct seed_err err;
};

static void reply_init(struct reply *r)
{
	seed_err_clear(&r->err);
	announce_resp_init(&r->resp, r->peers, PEERS_KEPT);
}

/* A reply the parser refused: its message, or the errno's when it left none. */
static void reply_failed(struct tracker *t, struct entry *e, const struct reply *r, int rc,
			 uint64_t now)
{
	fail(t, e, now, "%s", r->err.msg[0] ? r->err.msg : strerror(-rc));
}

/* The announce's result: OK or the tracker's refusal. */
static void answered(struct tracker *t, struct entry *e, const struct announce_resp *resp,
		     uint64_t now)
{
	if (resp->status == ANNOUNCE_RESP_OK)
		attempt_end(t, e, TRACKER_OK, resp, NULL, now);
	else
		attempt_end(t, e, TRACKER_FAILURE, resp, resp->message, now);
}

/*
 * A socket of type for family, bound to the configured source address when
 * there is one. Returns the fd or -errno with why[] filled.
 */
static int open_socket(struct tracker *t, int family, int type, char *why, size_t cap)
{
	const struct tracker_config *c = &t->cfg;

	if (c->source_family && family != c->source_family) {
		snprintf(why, cap, "tracker address is IPv%d, the source address IPv%d",
			 family == AF_INET ? 4 : 6, c->source_family == AF_INET ? 4 : 6);
		return -EAFNOSUPPORT;
	}
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(why, cap, "socket: %s", strerror(e));
		return -e;
	}
	if (c->source_family) {
		struct sockaddr_storage src;
		int one = 1;
		sa_from_raw(&src, family, c->source_addr, 0);
		/* TCP: pick the port at connect time, so many announces from one
		 * address do not exhaust the ephemeral ports at bind time */
		if (type == SOCK_STREAM)
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sa_len(family)) < 0) {
			int e = errno;
			char s[64];
			addr_str(&src, s, sizeof(s));
			snprintf(why, cap, "binding the source address %s: %s", s, strerror(e));
			close(fd);
			return -e;
		}
	}
	return fd;
}

static void http_send(struct tracker *t, struct entry *e, uint64_t now);

/* Connects to the next address, or ends the attempt when none is left. */
static void http_connect(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;

	while (a->cur < a->n_addrs) {
		struct sockaddr_storage *sa = &a->addrs[a->cur];
		char why[160], as[64];
		int fd = open_socket(t, sa->ss_family, SOCK_STREAM, why, sizeof(why));
		if (fd < 0) {
			snprintf(a->last_err, sizeof(a->last_err), "%s", why);
			a->cur++;
			continue;
		}
		if (connect(fd, (struct sockaddr *)sa, sa_len(sa->ss_family)) == 0) {
			a->fd = fd;
			a->state = ATT_SEND;
			http_send(t, e, now);
			return;
		}
		if (errno == EINPROGRESS) {
			a->fd = fd;
			a->state = ATT_CONNECT;
			return;
		}
		addr_str(sa, as, sizeof(as));
		snprintf(a->last_err, sizeof(a->last_err), "connecting to %s: %s", as,
			 strerror(errno));
		close(fd);
		a->cur++;
	}
	fail(t, e, now, "%s", a->last_err[0] ? a->last_err : "no address to connect to");
}

static void http_send(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;

	while (a->req_off < a->req_len) {
		ssize_t n = send(a->fd, a->req + a->req_off, a->req_len - a->req_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail(t, e, now, "sending the announce: %s", strerror(errno));
			return;
		}
		a->req_off += (size_t)n;
	}
	a->state = ATT_RECV;
}

static void http_recv(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;
	int eof = 0;

	bool full = false;

	for (;;) {
		if (a->len == a->cap) {
			if (a->cap >= RESP_MAX) {
				full = true; /* parse what we have; more would be refused */
				break;
			}
			size_t nc = a->cap ? a->cap * 2 : 4096;
			if (nc > RESP_MAX)
				nc = RESP_MAX;
			uint8_t *nb = realloc(a->buf, nc);
			if (!nb) {
				fail(t, e, now, "out of memory reading the response");
				return;
			}
			a->buf = nb;
			a->cap = nc;
		}
		ssize_t n = recv(a->fd, a->buf + a->len, a->cap - a->len, 0);
		if (n > 0) {
			a->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			break;
		fail(t, e, now, "reading the response: %s", strerror(errno));
		return;
	}

	struct reply r;
	reply_init(&r);
	int rc = announce_http_parse(a->buf, a->buf + a->len, eof, &r.resp, &r.err);
	if (rc == -EAGAIN) {
		if (full)
			fail(t, e, now, "response over %d KiB", RESP_MAX / 1024);
		else if (eof) /* the parser promises not to; never spin on a closed socket */
			fail(t, e, now, "connection closed mid-response");
		return;
	}
	if (rc == -EPROTO)
		fail(t, e, now, "HTTP status %u", r.resp.http_status);
	else if (rc < 0)
		reply_failed(t, e, &r, rc, now);
	else
		answered(t, e, &r.resp, now);
}

static void udp_send(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;
	uint8_t pkt[ANNOUNCE_UDP_ANNOUNCE_LEN];
	int n;

	if (a->announcing) {
		struct announce_req req;
		struct seed_err err;
		req_init(t, e, a->event, &req, &err);
		n = announce_udp_announce_build(a->conn_id, a->tid, &req, pkt, sizeof(pkt), &err);
		if (n < 0) {
			fail(t, e, now, "%s", err.msg);
			return;
		}
	} else {
		n = announce_udp_connect_build(a->tid, pkt, sizeof(pkt));
	}
	if (send(a->fd, pkt, (size_t)n, 0) < 0 && errno != EAGAIN && errno != EINTR) {
		char as[64];
		addr_str(&a->addrs[a->cur], as, sizeof(as));
		fail(t, e, now, "sending to %s: %s", as, strerror(errno));
		return;
	}
	a->resend_ms = now + announce_udp_rto_ms(a->sends);
	a->sends++;
}

/* Starts a new request (connect or announce): a fresh transaction id. */
static void udp_request(struct tracker *t, struct entry *e, int announcing, uint64_t now)
{
	struct attempt *a = &e->a;

	a->announcing = announcing;
	a->tid = rand32();
	a->sends = 0;
	udp_send(t, e, now);
}

static void udp_open(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;
	struct sockaddr_storage *sa = &a->addrs[a->cur];
	char why[160], as[64];
	int fd = open_socket(t, sa->ss_family, SOCK_DGRAM, why, sizeof(why));

	if (fd < 0) {
		fail(t, e, now, "%s", why);
		return;
	}
	/* A connected socket gets the ICMP "port unreachable" as ECONNREFUSED
	 * and drops datagrams from other sources in the kernel; udp_recv still
	 * checks the source itself. */
	if (connect(fd, (struct sockaddr *)sa, sa_len(sa->ss_family)) < 0) {
		int en = errno;
		close(fd);
		addr_str(sa, as, sizeof(as));
		fail(t, e, now, "connecting to %s: %s", as, strerror(en));
		return;
	}
	a->fd = fd;
	a->state = ATT_UDP;
	struct udp_conn *c = udp_conn_find(t, sa);
	if (c && announce_udp_conn_valid(c->got_ms, now)) {
		a->conn_id = c->conn_id;
		a->conn_cached = 1;
		udp_request(t, e, 1, now);
	} else {
		udp_request(t, e, 0, now);
	}
}

static void udp_recv(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;
	uint8_t buf[UDP_DGRAM_MAX];
	char as[64];

	while (a->state == ATT_UDP) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		memset(&from, 0, sizeof(from));
		ssize_t n =
			recvfrom(a->fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			addr_str(&a->addrs[a->cur], as, sizeof(as));
			if (errno == ECONNREFUSED)
				fail(t, e, now, "no UDP tracker at %s (port unreachable)", as);
			else
				fail(t, e, now, "receiving from %s: %s", as, strerror(errno));
			return;
		}
		if (!sa_equal(&from, &a->addrs[a->cur]))
			continue; /* not from the tracker: forged or stray */
		if ((size_t)n > sizeof(buf)) {
			fail(t, e, now, "UDP reply of %zd bytes, over %d", n, UDP_DGRAM_MAX);
			return;
		}

		struct reply r;
		reply_init(&r);
		int rc;
		if (!a->announcing)
			rc = announce_udp_connect_parse(buf, buf + n, a->tid, &r.resp, &r.err);
		else
			rc = announce_udp_announce_parse(
				buf, buf + n, a->tid,
				from.ss_family == AF_INET ? ANNOUNCE_FAMILY_V4 : ANNOUNCE_FAMILY_V6,
				&r.resp, &r.err);
		if (rc == -ENOMSG)
			continue; /* another request's answer, or a guess: keep waiting */
		if (rc < 0) {
			reply_failed(t, e, &r, rc, now);
			return;
		}
		if (!a->announcing && r.resp.status == ANNOUNCE_RESP_OK) {
			udp_conn_put(t, &a->addrs[a->cur], r.resp.conn_id, now);
			a->conn_id = r.resp.conn_id;
			a->conn_cached = 0;
			udp_request(t, e, 1, now);
			continue;
		}
		answered(t, e, &r.resp, now);
		return;
	}
}

/* With addresses known: open the connection (HTTP) or socket (UDP). */
static void attempt_go(struct tracker *t, struct entry *e, uint64_t now)
{
	for (int i = 0; i < e->a.n_addrs; i++)
		sa_set_port(&e->a.addrs[i], e->url.port);
	if (e->url.scheme == ANNOUNCE_SCHEME_HTTP)
		http_connect(t, e, now);
	else
		udp_open(t, e, now);
}

static void attempt_resolve(struct tracker *t, struct entry *e, uint64_t now)
{
	struct dns_slot *s = NULL;
	int rc = dns_get(t, e->url.host, now, &s);

	if (rc == 0 || rc == -EAGAIN)
		return; /* the eventfd (or RESOLVE_RETRY_MS) brings us back */
	if (rc < 0) {
		fail(t, e, now, "resolving %s: cannot start a lookup: %s", e->url.host,
		     strerror(-rc));
		return;
	}
	if (!s->n) {
		fail(t, e, now, "resolving %s: %s", e->url.host,
		     s->rc == EAI_SYSTEM ? "system error" : gai_strerror(s->rc));
		return;
	}
	e->a.n_addrs = s->n;
	memcpy(e->a.addrs, s->addrs, sizeof(e->a.addrs));
	attempt_go(t, e, now);
}

static void attempt_start(struct tracker *t, struct entry *e, enum announce_event ev, uint64_t now)
{
	struct attempt *a = &e->a;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->event = ev;
	a->deadline_ms = now + (ev == ANNOUNCE_EVENT_STOPPED		? STOP_TIMEOUT_MS
				: e->url.scheme == ANNOUNCE_SCHEME_HTTP ? HTTP_TIMEOUT_MS
									: UDP_TIMEOUT_MS);
	a->state = ATT_RESOLVE;
	t->n_active++;

	if (e->url.scheme == ANNOUNCE_SCHEME_HTTP) {
		struct announce_req req;
		struct seed_err err;
		req_init(t, e, ev, &req, &err);
		if (t->cfg.announce_family == AF_INET) {
			req.has_ip4 = 1;
			memcpy(req.ip4, t->cfg.announce_addr, 4);
		} else if (t->cfg.announce_family == AF_INET6) {
			req.has_ip6 = 1;
			memcpy(req.ip6, t->cfg.announce_addr, 16);
		}
		a->req = malloc(ANNOUNCE_HTTP_REQ_MAX);
		if (!a->req) {
			fail(t, e, now, "out of memory building the request");
			return;
		}
		int n = announce_http_build(&e->url, &req, NULL, a->req, ANNOUNCE_HTTP_REQ_MAX,
					    &err);
		if (n < 0) {
			fail(t, e, now, "%s", err.msg);
			return;
		}
		a->req_len = (size_t)n;
	}

	if (e->url.host_kind == ANNOUNCE_HOST_NAME) {
		attempt_resolve(t, e, now);
		return;
	}
	int fam = e->url.host_kind == ANNOUNCE_HOST_IPV4 ? AF_INET : AF_INET6;
	sa_from_raw(&a->addrs[0], fam, e->url.addr, e->url.port);
	a->n_addrs = 1;
	attempt_go(t, e, now);
}

/* Timers: the deadline, a pending lookup, a UDP retransmission. */
static void attempt_tick(struct tracker *t, struct entry *e, uint64_t now)
{
	struct attempt *a = &e->a;

	if (now >= a->deadline_ms) {
		char as[64] = "";
		if (a->n_addrs)
			addr_str(&a->addrs[a->cur < a->n_addrs ? a->cur : 0], as, sizeof(as));
		if (a->state == ATT_RESOLVE)
			fail(t, e, now, "resolving %s: timed out", e->url.host);
		else if (a->state == ATT_CONNECT)
			fail(t, e, now, "connecting to %s: timed out", as);
		else
			fail(t, e, now, "no answer from %s within %llu s", as,
			     (unsigned long long)(a->event == ANNOUNCE_EVENT_STOPPED
							  ? STOP_TIMEOUT_MS / 1000
						  : e->url.scheme == ANNOUNCE_SCHEME_HTTP
							  ? HTTP_TIMEOUT_MS / 1000
							  : UDP_TIMEOUT_MS / 1000));
		return;
	}
	if (a->state == ATT_RESOLVE) {
		attempt_resolve(t, e, now);
	} else if (a->state == ATT_UDP && now >= a->resend_ms) {
		if (a->announcing && a->conn_cached) {
			/* the cached id may be what the tracker ignores: reconnect */
			struct udp_conn *c = udp_conn_find(t, &a->addrs[a->cur]);
			if (c)
				memset(c, 0, sizeof(*c));
			udp_request(t, e, 0, now);
		} else {
			udp_send(t, e, now);
		}
	}
}

static void attempt_io(struct tracker *t, struct entry *e, short rev, uint64_t now)
{
	struct attempt *a = &e->a;

	switch (a->state) {
	case ATT_CONNECT: {
		int so = 0;
		socklen_t sl = sizeof(so);
		if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0)
			so = errno;
		if (so) {
			char as[64];
			addr_str(&a->addrs[a->cur], as, sizeof(as));
			snprintf(a->last_err, sizeof(a->last_err), "connecting to %s: %s", as,
				 strerror(so));
			close(a->fd);
			a->fd = -1;
			a->cur++;
			http_connect(t, e, now);
			return;
		}
		if (!(rev & POLLOUT)) {
			if (rev & (POLLERR | POLLHUP | POLLNVAL))
				fail(t, e, now, "connection closed while connecting");
			return;
		}
		a->state = ATT_SEND;
		http_send(t, e, now);
		return;
	}
	case ATT_SEND: http_send(t, e, now); return;
	case ATT_RECV: http_recv(t, e, now); return;
	case ATT_UDP: udp_recv(t, e, now); return;
	default: return;
	}
}

/* ---- the set ---- */

static void entry_free(struct entry *e)
{
	if (e->a.fd >= 0)
		close(e->a.fd);
	free(e->a.req);
	free(e->a.buf);
	free(e);
}

static bool same_reg(const struct tracker_reg *a, const struct tracker_reg *b)
{
	return !memcmp(a->info_hash, b->info_hash, 20) && !strcmp(a->url, b->url);
}

/* Asks an entry to go: `stopped` when it ever announced. Called under mu. */
static void entry_stop(struct tracker *t, struct entry *e, uint64_t now)
{
	if (e->st.stopping)
		return;
	if (!e->url_ok) {
		e->st.stopping = 1; /* nothing was sent: reap() frees it */
		return;
	}
	/* A regular announce in flight would delay `stopped` by its timeout;
	 * drop it: `stopped` supersedes whatever it would have said. */
	if (e->a.state != ATT_NONE && e->a.event != ANNOUNCE_EVENT_STOPPED)
		attempt_abandon(t, e, now);
	announce_sched_stop(&e->sched, now);
	e->st.stopping = 1;
	e->st.next_announce = next_wall(e, now);
}

static struct entry *entry_new(const struct tracker_reg *r, uint64_t now)
{
	struct entry *e = calloc(1, sizeof(*e));
	struct seed_err err;

	if (!e)
		return NULL;
	e->st.reg = *r;
	e->a.fd = -1;
	seed_err_clear(&err);
	if (announce_url_parse(r->url, r->url + strlen(r->url), &e->url, &err) < 0) {
		e->st.last_result = TRACKER_ERROR;
		set_text(e->st.last_message, sizeof(e->st.last_message), err.msg);
		e->log_bad_url = 1;
		return e;
	}
	e->url_ok = 1;
	announce_sched_init(&e->sched, NULL, now);
	e->st.next_announce = wall_s();
	return e;
}

/*
 * Makes the entries follow the desired set. Called under mu, by the thread.
 * Returns false when an entry could not be allocated (try again later).
 */
static bool reconcile(struct tracker *t, uint64_t now)
{
	bool ok = true;

	for (size_t i = 0; i < t->n_ents; i++)
		t->ents[i]->wanted = 0;
	for (size_t w = 0; w < t->n_want; w++) {
		const struct tracker_reg *r = &t->want[w];
		struct entry *live = NULL;
		bool pending_stop = false;
		for (size_t i = 0; i < t->n_ents; i++) {
			struct entry *e = t->ents[i];
			if (!same_reg(&e->st.reg, r))
				continue;
			if (e->st.stopping)
				pending_stop = true;
			else
				live = e;
		}
		if (live) {
			live->wanted = 1;
			snprintf(live->st.reg.release, sizeof(live->st.reg.release), "%s",
				 r->release);
			continue;
		}
		if (pending_stop)
			continue; /* re-added once its `stopped` has ended */
		if (t->n_ents == t->cap_ents) {
			size_t nc = t->cap_ents ? t->cap_ents * 2 : 16;
			void *p = realloc(t->ents, nc * sizeof(*t->ents));
			if (!p) {
				ok = false;
				continue;
			}
			t->ents = p;
			t->cap_ents = nc;
		}
		struct entry *e = entry_new(r, now);
		if (!e) {
			ok = false;
			continue;
		}
		e->wanted = 1;
		t->ents[t->n_ents++] = e;
	}
	for (size_t i = 0; i < t->n_ents; i++)
		if (!t->ents[i]->wanted)
			entry_stop(t, t->ents[i], now);
	return ok;
}

/* Frees the entries that are over. Called under mu. Returns how many. */
static size_t reap(struct tracker *t)
{
	size_t j = 0, gone = 0;

	for (size_t i = 0; i < t->n_ents; i++) {
		struct entry *e = t->ents[i];
		bool over = e->a.state == ATT_NONE &&
			    (e->url_ok ? announce_sched_done(&e->sched) : e->st.stopping);
		if (over) {
			entry_free(e);
			gone++;
		} else {
			t->ents[j++] = e;
		}
	}
	t->n_ents = j;
	return gone;
}

/* ---- the thread ---- */

static void *tracker_main(void *arg)
{
	struct tracker *t = arg;
	sigset_t all;
	bool retry_set = false;

	/* Signals belong to the main loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);

	for (;;) {
		uint64_t now = mono_ms();

		pthread_mutex_lock(&t->mu);
		if (t->quit) {
			pthread_mutex_unlock(&t->mu);
			break;
		}
		if (t->stop_all && !t->stop_all_seen) {
			for (size_t i = 0; i < t->n_ents; i++)
				entry_stop(t, t->ents[i], now);
			t->stop_all_seen = 1;
		} else if (!t->stop_all && (t->want_changed || retry_set)) {
			retry_set = !reconcile(t, now);
		}
		t->want_changed = 0;
		if (reap(t)) {
			/* an entry waiting for its old self's `stopped` may start now */
			if (!t->stop_all)
				retry_set = !reconcile(t, now) || retry_set;
		}
		if (t->stop_all_seen)
			pthread_cond_broadcast(&t->cv);
		bool stopping_all = t->stop_all;
		pthread_mutex_unlock(&t->mu);

		for (size_t i = 0; i < t->n_ents; i++) {
			struct entry *e = t->ents[i];
			if (e->log_bad_url) {
				e->log_bad_url = 0;
				char *url = redact_dup(e->st.reg.url);
				log_error(&lm, "tracker %s release %s: %s (not announced)",
					  url ? url : REDACT_MARK, e->st.reg.release,
					  e->st.last_message);
				free(url);
			}
		}
		dns_reap(t, now);

		/* Start due announces, `stopped` first, within MAX_ACTIVE. */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < t->n_ents && t->n_active < MAX_ACTIVE; i++) {
				struct entry *e = t->ents[i];
				enum announce_event ev;
				if (!e->url_ok || e->a.state != ATT_NONE ||
				    (pass == 0) != (e->sched.state == ANNOUNCE_SCHED_STOPPING) ||
				    announce_sched_next_ms(&e->sched) > now)
					continue;
				if (announce_sched_due(&e->sched, now, &ev))
					attempt_start(t, e, ev, now);
			}
		}
		for (size_t i = 0; i < t->n_ents; i++)
			if (t->ents[i]->a.state != ATT_NONE)
				attempt_tick(t, t->ents[i], now);

		/* Entries whose attempt ended above may be over: reap before sleeping. */
		pthread_mutex_lock(&t->mu);
		bool reaped = reap(t) > 0;
		if (reaped && t->stop_all_seen)
			pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
		if (reaped && !stopping_all) {
			retry_set = true; /* re-adds wait for reap: see reconcile */
			continue;
		}

		/* Sleep until the next timer, I/O or a wake-up. */
		uint64_t wake_at = now + POLL_MAX_MS;
		size_t np = 1;
		t->pfd[0] = (struct pollfd){ .fd = t->efd, .events = POLLIN };
		for (size_t i = 0; i < t->n_ents; i++) {
			struct entry *e = t->ents[i];
			struct attempt *a = &e->a;
			uint64_t w = ANNOUNCE_NEVER;
			if (a->state != ATT_NONE) {
				w = a->deadline_ms;
				if (a->state == ATT_UDP && a->resend_ms < w)
					w = a->resend_ms;
				if (a->state == ATT_RESOLVE && now + RESOLVE_RETRY_MS < w)
					w = now + RESOLVE_RETRY_MS;
				if (a->fd >= 0 && np < MAX_ACTIVE + 1) {
					short ev = a->state == ATT_CONNECT || a->state == ATT_SEND
							   ? POLLOUT
							   : POLLIN;
					t->pfd[np] = (struct pollfd){ .fd = a->fd, .events = ev };
					t->pent[np++] = e;
				}
			} else if (e->url_ok && t->n_active < MAX_ACTIVE) {
				w = announce_sched_next_ms(&e->sched);
			}
			if (w < wake_at)
				wake_at = w;
		}
		int timeout = wake_at <= now ? 0 : (int)(wake_at - now);
		if (retry_set && timeout > RESOLVE_RETRY_MS)
			timeout = RESOLVE_RETRY_MS;
		int n = poll(t->pfd, (nfds_t)np, timeout);
		if (n <= 0)
			continue;
		if (t->pfd[0].revents) {
			uint64_t v;
			if (read(t->efd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else's wake-up was already read */
			}
		}
		now = mono_ms();
		for (size_t i = 1; i < np; i++)
			if (t->pfd[i].revents && t->pent[i]->a.fd == t->pfd[i].fd)
				attempt_io(t, t->pent[i], t->pfd[i].revents, now);
	}
	return NULL;
}

/* ---- the API ---- */

/* What tracker_create made, once no thread runs (tracker_destroy after the
 * join; tracker_create when the thread did not start). */
static void tracker_free(struct tracker *t)
{
	for (size_t i = 0; i < t->n_ents; i++)
		entry_free(t->ents[i]);
	free(t->ents);
	free(t->want);
	/* A lookup still running frees its job itself when it ends. */
	for (int i = 0; i < DNS_SLOTS; i++)
		if (t->dns[i].job)
			dns_job_unref(t->dns[i].job);
	close(t->efd);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int tracker_create(const struct tracker_config *cfg, struct tracker **out, struct seed_err *err)
{
	if (!cfg || !out)
		return seed_err_set(err, -EINVAL, "tracker: no config");
	if (!cfg->port)
		return seed_err_set(err, -EINVAL, "tracker: the announced port is 0");
	if (cfg->source_family && cfg->source_family != AF_INET && cfg->source_family != AF_INET6)
		return seed_err_set(err, -EINVAL, "tracker: source address family %d",
				    cfg->source_family);
	if (cfg->announce_family && cfg->announce_family != AF_INET &&
	    cfg->announce_family != AF_INET6)
		return seed_err_set(err, -EINVAL, "tracker: announce address family %d",
				    cfg->announce_family);

	struct tracker *t = calloc(1, sizeof(*t));
	if (!t)
		return seed_err_set(err, -ENOMEM, "tracker: out of memory");
	t->cfg = *cfg;
	t->key = rand32();
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->efd < 0) {
		int e = errno;
		free(t);
		return seed_err_set(err, -e, "tracker: eventfd: %s", strerror(e));
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&t->mu, NULL);
	int rc = pthread_create(&t->thr, NULL, tracker_main, t);
	if (rc) {
		tracker_free(t);
		return seed_err_set(err, -rc, "tracker: starting its thread: %s", strerror(rc));
	}
	*out = t;
	return 0;
}

void tracker_destroy(struct tracker *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	t->quit = 1;
	pthread_mutex_unlock(&t->mu);
	wake(t);
	pthread_join(t->thr, NULL);
	tracker_free(t);
}

int tracker_set(struct tracker *t, const struct tracker_reg *regs, size_t n)
{
	struct tracker_reg *copy = NULL;

	if (n) {
		if (n > SIZE_MAX / sizeof(*copy))
			return -ENOMEM;
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			copy[i] = regs[i];
			/* the caller's strings may lack their NUL: never read past */
			copy[i].url[TRACKER_URL_MAX] = '\0';
			copy[i].release[TRACKER_REL_MAX] = '\0';
		}
	}
	pthread_mutex_lock(&t->mu);
	if (t->stop_all) {
		pthread_mutex_unlock(&t->mu);
		free(copy);
		return 0;
	}
	struct tracker_reg *old = t->want;
	t->want = copy;
	t->n_want = n;
	t->want_changed = 1;
	pthread_mutex_unlock(&t->mu);
	free(old);
	wake(t);
	return 0;
}

void tracker_stop_all(struct tracker *t, unsigned timeout_ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->mu);
	t->stop_all = 1;
	pthread_mutex_unlock(&t->mu);
	wake(t);
	pthread_mutex_lock(&t->mu);
	while (!(t->stop_all_seen && t->n_ents == 0))
		if (pthread_cond_timedwait(&t->cv, &t->mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&t->mu);
}

size_t tracker_status(struct tracker *t, struct tracker_status *out, size_t cap)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->n_ents;
	for (size_t i = 0; i < n && i < cap; i++)
		out[i] = t->ents[i]->st;
	pthread_mutex_unlock(&t->mu);
	return n;
}

void tracker_totals(struct tracker *t, uint64_t out[3])
{
	pthread_mutex_lock(&t->mu);
	memcpy(out, t->totals, sizeof(t->totals));
	pthread_mutex_unlock(&t->mu);
}
