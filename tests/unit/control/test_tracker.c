/*
 * Unit tests for control/tracker.c: the tracker thread driven against tiny
 * fake trackers run inside the test on 127.0.0.1 — an HTTP listener thread
 * answering canned bencoded responses and a UDP thread speaking BEP 15 —
 * which record what they were sent. Expected wire bytes come from BEP 3/15
 * and RFC 3986, not from the code under test.
 *
 * The scheduler clamps intervals to at least 30 s (announce.h), so a second
 * regular announce is not waited for here: the tests check that it is
 * scheduled (next_announce) with the tracker's interval instead. Every test
 * bounds its waits and finishes in well under 15 s.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "byteio.h"
#include "tracker.h"

#define PEER_ID	     "-BS0100-testtesttest"
#define BT_PORT	     6881
#define UDP_CONN_ID  0x1122334455667788ULL
#define UDP_PROTO_ID 0x41727101980ULL

/* Each tricky byte once: a space, '+', bytes over 0x7f, reserved characters. */
static const uint8_t IH_A[20] = { 0x20, '+', 0xff, '~', 'A', 'z',  '0',	 '-',  '.',  '_',
				  '%',	'/', '&',  '=', '?', 0x00, 0x7f, 0x80, 0x12, 0x34 };
static const uint8_t IH_B[20] = { 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9,
				  0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3 };

/* ---- time and waits ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Evaluates cond every 20 ms for at most ms; true once it holds. */
#define WAIT_UNTIL(ms, cond)                                 \
	({                                                   \
		int64_t until_ = now_ms() + (ms);            \
		bool ok_;                                    \
		while (!(ok_ = (cond)) && now_ms() < until_) \
			usleep(20000);                       \
		ok_;                                         \
	})

/* ---- the fake trackers ---- */

struct seen {
	char line[1600]; /* HTTP: the request line; UDP: unused */
	char peer[64];	 /* the source address as the tracker saw it */
	int event;	 /* UDP: the event field */
	uint8_t ih[20];	 /* UDP: the info-hash */
	uint16_t port;	 /* UDP: the port field */
	uint64_t conn_id;
};

enum {
	UDP_WRONG_TID = 1, /* send a reply with another transaction id first */
	UDP_FORGE = 2,	   /* send a refusal from another port first */
	UDP_FAIL = 4,	   /* refuse announces (action 3) */
	UDP_SHORT = 8,	   /* answer connects with a 12-byte datagram */
};

struct fake {
	int udp;
	int fd, fd2; /* fd2: UDP, the forger's socket */
	uint16_t port;
	pthread_t thr;
	atomic_int quit;
	pthread_mutex_t mu;
	/* HTTP: the whole response; answer the first answer_n requests (-1: all) */
	char *resp;
	size_t resp_len;
	int answer_n;
	int hold_idx; /* never answer request number hold_idx (-1: none) */
	int held[16], n_held;
	int udp_mode;
	/* what came in */
	struct seen seen[64];
	int n_seen;
	int connects;
};

static void peer_str(const struct sockaddr_in *a, char *out, size_t cap)
{
	char h[INET_ADDRSTRLEN] = "?";

	inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
	snprintf(out, cap, "%s", h);
}

/* Waits until f's socket is readable: true, or false once f must quit. */
static bool fake_wait(struct fake *f)
{
	while (!atomic_load(&f->quit)) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0)
			return true;
	}
	return false;
}

static void *http_main(void *arg)
{
	struct fake *f = arg;

	while (fake_wait(f)) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int c = accept(f->fd, (struct sockaddr *)&sa, &sl);
		if (c < 0)
			continue;
		char req[4096];
		size_t len = 0;
		int64_t until = now_ms() + 2000;
		req[0] = '\0';
		while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n") && now_ms() < until) {
			struct pollfd q = { .fd = c, .events = POLLIN };
			if (poll(&q, 1, 100) <= 0)
				continue;
			ssize_t n = recv(c, req + len, sizeof(req) - 1 - len, 0);
			if (n <= 0)
				break;
			len += (size_t)n;
			req[len] = '\0';
		}
		pthread_mutex_lock(&f->mu);
		int idx = f->n_seen < 64 ? f->n_seen++ : 63;
		struct seen *s = &f->seen[idx];
		char *eol = strstr(req, "\r\n");
		size_t ll = eol ? (size_t)(eol - req) : strlen(req);
		if (ll >= sizeof(s->line))
			ll = sizeof(s->line) - 1;
		memcpy(s->line, req, ll);
		s->line[ll] = '\0';
		peer_str(&sa, s->peer, sizeof(s->peer));
		bool answer = (f->answer_n < 0 || idx < f->answer_n) && idx != f->hold_idx;
		pthread_mutex_unlock(&f->mu);
		if (answer) {
			struct timeval tv = { .tv_sec = 2 };
			setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			size_t off = 0;
			while (off < f->resp_len) {
				ssize_t n = send(c, f->resp + off, f->resp_len - off, MSG_NOSIGNAL);
				if (n <= 0)
					break;
				off += (size_t)n;
			}
			close(c);
		} else if (f->n_held < 16) {
			f->held[f->n_held++] = c;
		} else {
			close(c);
		}
	}
	for (int i = 0; i < f->n_held; i++)
		close(f->held[i]);
	return NULL;
}

/* Sends the reply r[0..n) to `to`, after the decoys the mode asks for. */
static void udp_reply(struct fake *f, const struct sockaddr_in *to, uint8_t *r, size_t n)
{
	if (f->udp_mode & UDP_WRONG_TID) {
		uint8_t w[2048];
		memcpy(w, r, n);
		byteio_put_be32(w + 4, byteio_be32(r + 4) ^ 0x5a5a5a5a);
		/* a refusal: were it taken, the result would read "failure" */
		byteio_put_be32(w, 3);
		memcpy(w + 8, "wrong tid", 9);
		sendto(f->fd, w, 17, 0, (const struct sockaddr *)to, sizeof(*to));
	}
	if (f->udp_mode & UDP_FORGE) {
		uint8_t w[32];
		byteio_put_be32(w, 3);
		memcpy(w + 4, r + 4, 4); /* the right tid, from the wrong port */
		memcpy(w + 8, "forged", 6);
		sendto(f->fd2, w, 14, 0, (const struct sockaddr *)to, sizeof(*to));
		usleep(20000); /* let the decoy arrive first */
	}
	sendto(f->fd, r, n, 0, (const struct sockaddr *)to, sizeof(*to));
}

static void *udp_main(void *arg)
{
	struct fake *f = arg;

	while (fake_wait(f)) {
		uint8_t b[2048], r[2048];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(f->fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < 16)
			continue;
		if (byteio_be64(b) == UDP_PROTO_ID && byteio_be32(b + 8) == 0) {
			pthread_mutex_lock(&f->mu);
			f->connects++;
			pthread_mutex_unlock(&f->mu);
			byteio_put_be32(r, 0);
			memcpy(r + 4, b + 12, 4);
			byteio_put_be64(r + 8, UDP_CONN_ID);
			udp_reply(f, &from, r, f->udp_mode & UDP_SHORT ? 12 : 16);
			continue;
		}
		if (n < 98 || byteio_be32(b + 8) != 1)
			continue;
		pthread_mutex_lock(&f->mu);
		int idx = f->n_seen < 64 ? f->n_seen++ : 63;
		struct seen *s = &f->seen[idx];
		s->conn_id = byteio_be64(b);
		s->event = (int)byteio_be32(b + 80);
		memcpy(s->ih, b + 16, 20);
		s->port = (uint16_t)(b[96] << 8 | b[97]);
		peer_str(&from, s->peer, sizeof(s->peer));
		pthread_mutex_unlock(&f->mu);
		if (byteio_be64(b) != UDP_CONN_ID)
			continue; /* as a real tracker: an unknown connection id is ignored */
		memcpy(r + 4, b + 12, 4);
		if (f->udp_mode & UDP_FAIL) {
			byteio_put_be32(r, 3);
			memcpy(r + 8, "udp says no", 11);
			udp_reply(f, &from, r, 19);
			continue;
		}
		byteio_put_be32(r, 1);
		byteio_put_be32(r + 8, 50); /* interval */
		byteio_put_be32(r + 12, 4); /* leechers */
		byteio_put_be32(r + 16, 3); /* seeders */
		static const uint8_t peers[12] = {
			10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2
		};
		memcpy(r + 20, peers, 12);
		udp_reply(f, &from, r, 32);
	}
	return NULL;
}

static int bound_socket(int type, const char *ip, uint16_t *out_port)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, ip, &sa.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	*out_port = ntohs(sa.sin_port);
	return fd;
}

/* A port nothing listens on (TCP or UDP): bound, then closed. */
static uint16_t dead_port(int type)
{
	uint16_t port;
	close(bound_socket(type, "127.0.0.1", &port));
	return port;
}

static struct fake *fake_http(const char *resp, size_t len)
{
	struct fake *f = calloc(1, sizeof(*f));
	cr_assert_not_null(f);
	pthread_mutex_init(&f->mu, NULL);
	f->answer_n = -1;
	f->hold_idx = -1;
	f->resp = malloc(len ? len : 1);
	memcpy(f->resp, resp, len);
	f->resp_len = len;
	f->fd = bound_socket(SOCK_STREAM, "127.0.0.1", &f->port);
	cr_assert_eq(listen(f->fd, 16), 0);
	cr_assert_eq(pthread_create(&f->thr, NULL, http_main, f), 0);
	return f;
}

/* A 200 response whose body is b[0..n). */
static struct fake *fake_http_body(const char *b, size_t n)
{
	char *r = malloc(n + 128);
	int h = snprintf(r, 128, "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	memcpy(r + h, b, n);
	struct fake *f = fake_http(r, (size_t)h + n);
	free(r);
	return f;
}

/* A successful answer: 3 seeders, 4 leechers, two compact peers. */
static struct fake *fake_http_ok(int interval)
{
	char b[256];
	int n = snprintf(b, sizeof(b),
			 "d8:completei3e10:incompletei4e8:intervali%de5:peers12:", interval);
	static const uint8_t peers[12] = { 10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2 };
	memcpy(b + n, peers, 12);
	b[n + 12] = 'e';
	return fake_http_body(b, (size_t)n + 13);
}

static struct fake *fake_udp(int mode)
{
	struct fake *f = calloc(1, sizeof(*f));
	uint16_t p2;
	cr_assert_not_null(f);
	pthread_mutex_init(&f->mu, NULL);
	f->udp = 1;
	f->udp_mode = mode;
	f->fd = bound_socket(SOCK_DGRAM, "127.0.0.1", &f->port);
	f->fd2 = bound_socket(SOCK_DGRAM, "127.0.0.1", &p2);
	cr_assert_eq(pthread_create(&f->thr, NULL, udp_main, f), 0);
	return f;
}

static void fake_free(struct fake *f)
{
	atomic_store(&f->quit, 1);
	pthread_join(f->thr, NULL);
	close(f->fd);
	if (f->udp)
		close(f->fd2);
	free(f->resp);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static int fake_n(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->n_seen;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static struct seen fake_seen(struct fake *f, int i)
{
	pthread_mutex_lock(&f->mu);
	struct seen s = f->seen[i];
	pthread_mutex_unlock(&f->mu);
	return s;
}

/* HTTP requests (or UDP announces) carrying this event. */
static int fake_count(struct fake *f, const char *http_event, int udp_event)
{
	int c = 0;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->n_seen; i++) {
		if (f->udp ? f->seen[i].event == udp_event
			   : strstr(f->seen[i].line, http_event) != NULL)
			c++;
	}
	pthread_mutex_unlock(&f->mu);
	return c;
}

static char *http_url(const struct fake *f, char *out, size_t cap)
{
	snprintf(out, cap, "http://127.0.0.1:%u/announce", f->port);
	return out;
}

static char *udp_url(const struct fake *f, char *out, size_t cap)
{
	snprintf(out, cap, "udp://127.0.0.1:%u/announce", f->port);
	return out;
}

/* ---- the tracker under test ---- */

static void base_cfg(struct tracker_config *c)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->peer_id, PEER_ID, 20);
	c->port = BT_PORT;
	c->numwant = 0;
}

static struct tracker *start(const struct tracker_config *cfg)
{
	struct tracker *t = NULL;
	struct seed_err err;
	seed_err_clear(&err);
	cr_assert_eq(tracker_create(cfg, &t, &err), 0, "%s", err.msg);
	return t;
}

static struct tracker *start_default(void)
{
	struct tracker_config c;
	base_cfg(&c);
	return start(&c);
}

static struct tracker_reg reg(const char *url, const uint8_t ih[20], const char *rel)
{
	struct tracker_reg r;
	memset(&r, 0, sizeof(r));
	snprintf(r.url, sizeof(r.url), "%s", url);
	memcpy(r.info_hash, ih, 20);
	snprintf(r.release, sizeof(r.release), "%s", rel);
	return r;
}

static void set1(struct tracker *t, const struct tracker_reg *r)
{
	cr_assert_eq(tracker_set(t, r, 1), 0);
}

/* The status row of (url, ih); false when there is none. */
static bool row(struct tracker *t, const char *url, const uint8_t ih[20],
		struct tracker_status *out)
{
	struct tracker_status st[16];
	size_t n = tracker_status(t, st, 16);
	for (size_t i = 0; i < n && i < 16; i++) {
		if (!strcmp(st[i].reg.url, url) && !memcmp(st[i].reg.info_hash, ih, 20)) {
			if (out)
				*out = st[i];
			return true;
		}
	}
	return false;
}

static enum tracker_result result(struct tracker *t, const char *url, const uint8_t ih[20])
{
	struct tracker_status s;
	return row(t, url, ih, &s) ? s.last_result : (enum tracker_result) - 1;
}

static size_t n_rows(struct tracker *t)
{
	struct tracker_status st[1];
	return tracker_status(t, st, 0);
}

/* RFC 3986: every byte but ALPHA DIGIT - . _ ~ as %XX, uppercase. */
static void pct(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hx[c >> 4];
			*out++ = hx[c & 15];
		}
	}
	*out = '\0';
}

/*
 * One release (IH_A) registered at one tracker URL: the shape of most tests
 * below. one_begin starts a tracker (cfg NULL: the defaults) and registers
 * rel at url, or at f's URL when url is NULL; one_wait waits for the row's
 * result and returns the row; one_end destroys the tracker and frees f.
 */
struct one {
	struct fake *f; /* may be NULL: a URL nothing of ours answers */
	struct tracker *t;
	char url[128];
	struct tracker_reg r;
};

static void one_begin(struct one *o, const struct tracker_config *cfg, struct fake *f,
		      const char *url, const char *rel)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->t = cfg ? start(cfg) : start_default();
	if (url)
		snprintf(o->url, sizeof(o->url), "%s", url);
	else if (f->udp)
		udp_url(f, o->url, sizeof(o->url));
	else
		http_url(f, o->url, sizeof(o->url));
	o->r = reg(o->url, IH_A, rel);
	set1(o->t, &o->r);
}

static struct tracker_status one_wait(struct one *o, enum tracker_result want, int ms)
{
	struct tracker_status s;

	cr_assert(WAIT_UNTIL(ms, result(o->t, o->url, IH_A) == want),
		  "%s: result %d, not %d within %d ms", o->url, (int)result(o->t, o->url, IH_A),
		  (int)want, ms);
	cr_assert(row(o->t, o->url, IH_A, &s));
	return s;
}

static void one_end(struct one *o)
{
	tracker_destroy(o->t);
	if (o->f)
		fake_free(o->f);
}

/* A URL of the scheme ("http" or "udp") where nothing listens. */
static char *dead_url(const char *scheme, char *out, size_t cap)
{
	snprintf(out, cap, "%s://127.0.0.1:%u/announce", scheme,
		 dead_port(strcmp(scheme, "udp") ? SOCK_STREAM : SOCK_DGRAM));
	return out;
}

/* One release at a URL of scheme where nothing listens (one_begin): an
 * error whose message holds why or why2 (NULL: none), retried only after a
 * backoff of at least 10 s. */
static void one_unreachable(struct one *o, const char *scheme, const char *rel, const char *why,
			    const char *why2)
{
	char url[128];

	one_begin(o, NULL, NULL, dead_url(scheme, url, sizeof(url)), rel);
	struct tracker_status s = one_wait(o, TRACKER_ERROR, 5000);
	int64_t wall = time(NULL);
	cr_expect(strstr(s.last_message, why) || (why2 && strstr(s.last_message, why2)),
		  "message: %s", s.last_message);
	cr_expect(s.next_announce >= wall + 10, "next in %lld s",
		  (long long)(s.next_announce - wall));
	cr_expect_eq(s.last_result, TRACKER_ERROR);
}

/* Once o's announce is answered, the release is removed: one `stopped`
 * (HTTP event=stopped, UDP event 3) goes out, then the row goes; returns
 * what the tracker saw of that `stopped`. */
static struct seen one_remove(struct one *o)
{
	one_wait(o, TRACKER_OK, 5000);
	cr_assert_eq(tracker_set(o->t, NULL, 0), 0);
	cr_assert(WAIT_UNTIL(3000, fake_count(o->f, "event=stopped", 3) == 1), "no stopped in 3 s");
	cr_assert(WAIT_UNTIL(2000, n_rows(o->t) == 0), "the row should go once stopped is sent");
	return fake_seen(o->f, 1);
}

/* ---- HTTP ---- */

Test(tracker, http_started_then_regular_with_the_trackers_interval)
{
	struct one o;

	one_begin(&o, NULL, fake_http_ok(45), NULL, "acme.game.1");
	struct tracker_status s = one_wait(&o, TRACKER_OK, 5000);
	int64_t wall = time(NULL);
	cr_expect_str_eq(s.reg.release, "acme.game.1");
	cr_expect_str_eq(s.last_message, "");
	cr_expect_eq(s.peers_seen, 2);
	cr_expect_eq(s.seeders, 3);
	cr_expect_eq(s.leechers, 4);
	cr_expect_eq(s.stopping, 0);
	cr_expect(s.last_announce >= wall - 2 && s.last_announce <= wall);
	/* the regular announce comes after the tracker's interval */
	cr_expect(s.next_announce >= wall + 43 && s.next_announce <= wall + 47,
		  "next_announce %lld, now %lld: expected now + 45", (long long)s.next_announce,
		  (long long)wall);

	cr_assert_eq(fake_n(o.f), 1, "one announce expected, saw %d", fake_n(o.f));
	struct seen q = fake_seen(o.f, 0);
	char ih[61], want[256];
	pct(IH_A, 20, ih);
	snprintf(want, sizeof(want), "GET /announce?info_hash=%s&peer_id=%s&port=%d&", ih, PEER_ID,
		 BT_PORT);
	cr_expect(!strncmp(q.line, want, strlen(want)), "request line %s\nexpected to start %s",
		  q.line, want);
	cr_expect(strstr(q.line, "&uploaded=0&downloaded=0&left=0&event=started&compact=1&numwant=0"
				 "&key=") != NULL,
		  "%s", q.line);
	cr_expect(strstr(q.line, "&ip=") == NULL, "no ip= without announce_family: %s", q.line);
	cr_expect_str_eq(q.peer, "127.0.0.1");

	uint64_t tot[3];
	tracker_totals(o.t, tot);
	cr_expect_eq(tot[0], 1);
	cr_expect_eq(tot[1] + tot[2], 0);

	/* nothing more within a second: the next one is 45 s away */
	usleep(1000000);
	cr_expect_eq(fake_n(o.f), 1);
	one_end(&o);
}

Test(tracker, http_interval_is_clamped_to_the_floor)
{
	struct one o;

	one_begin(&o, NULL, fake_http_ok(1), NULL, "acme.game.1");
	struct tracker_status s = one_wait(&o, TRACKER_OK, 5000);
	int64_t wall = time(NULL);
	/* announce.h: intervals below 30 s are raised to 30 s */
	cr_expect(s.next_announce >= wall + 28 && s.next_announce <= wall + 32,
		  "next_announce in %lld s", (long long)(s.next_announce - wall));
	usleep(1500000);
	cr_expect_eq(fake_n(o.f), 1, "a 1 s interval must not cause announces every second");
	one_end(&o);
}

Test(tracker, http_failure_reason_is_reported_and_backed_off)
{
	static const char body[] = "d14:failure reason36:Requested download is not authorizede";
	struct one o;

	one_begin(&o, NULL, fake_http_body(body, sizeof(body) - 1), NULL, "acme.game.1");
	struct tracker_status s = one_wait(&o, TRACKER_FAILURE, 5000);
	int64_t wall = time(NULL);
	cr_expect_str_eq(s.last_message, "Requested download is not authorized");
	cr_expect(s.next_announce >= wall + 10, "backoff expected, next in %lld s",
		  (long long)(s.next_announce - wall));
	uint64_t tot[3];
	tracker_totals(o.t, tot);
	cr_expect_eq(tot[1], 1);
	one_end(&o);
}

Test(tracker, http_unreachable_is_an_error_with_backoff)
{
	struct one o;

	one_unreachable(&o, "http", "acme.game.1", "refused", NULL);
	uint64_t tot[3];
	tracker_totals(o.t, tot);
	cr_expect_eq(tot[2], 1);
	/* backoff: no second try right away */
	usleep(1000000);
	tracker_totals(o.t, tot);
	cr_expect_eq(tot[2], 1);
	one_end(&o);
}

/* A tracker that accepts and never answers: the attempt ends at its 10 s bound. */
Test(tracker, http_silent_tracker_times_out)
{
	struct fake *f = fake_http_ok(1800);
	struct one o;

	f->answer_n = 0;
	one_begin(&o, NULL, f, NULL, "a");
	int64_t t0 = now_ms();
	struct tracker_status s = one_wait(&o, TRACKER_ERROR, 12000);
	int64_t took = now_ms() - t0;
	cr_expect(took >= 9500, "timed out after %lld ms, expected ~10 s", (long long)took);
	cr_expect(strstr(s.last_message, "no answer") != NULL, "%s", s.last_message);
	one_end(&o);
}

/* Hostile or broken answers: each is an error, none a crash. */
Test(tracker, http_bad_answers_are_errors)
{
	static const char *const resp[] = {
		"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nnot benc!",
		"HTTP/1.0 200 OK\r\n\r\nd8:intervali-5ee",
		"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nd8:interval",
		"garbage\r\n\r\n",
		"",
	};
	for (size_t i = 0; i < sizeof(resp) / sizeof(resp[0]); i++) {
		struct one o;
		struct tracker_status s;

		one_begin(&o, NULL, fake_http(resp[i], strlen(resp[i])), NULL, "x");
		cr_expect(WAIT_UNTIL(5000, result(o.t, o.url, IH_A) == TRACKER_ERROR),
			  "response %zu: expected an error", i);
		cr_assert(row(o.t, o.url, IH_A, &s));
		cr_expect(s.last_message[0] != '\0', "response %zu: a reason is expected", i);
		one_end(&o);
	}
}

Test(tracker, http_oversized_answer_is_refused)
{
	size_t n = 300 * 1024;
	char *b = malloc(n);
	memset(b, 'x', n);
	memcpy(b, "d5:peers307199:", 15);
	struct fake *f = fake_http_body(b, n);
	free(b);
	struct one o;

	one_begin(&o, NULL, f, NULL, "x");
	cr_expect(one_wait(&o, TRACKER_ERROR, 5000).last_message[0] != '\0');
	one_end(&o);
}

Test(tracker, http_removal_sends_stopped_once)
{
	struct one o;

	one_begin(&o, NULL, fake_http_ok(1800), NULL, "acme.game.1");
	struct seen q = one_remove(&o);
	char ih[61];
	pct(IH_A, 20, ih);
	cr_expect(strstr(q.line, ih) != NULL, "%s", q.line);
	cr_expect(strstr(q.line, "&left=0&event=stopped&") != NULL, "%s", q.line);
	usleep(500000);
	cr_expect_eq(fake_n(o.f), 2, "started and stopped only, saw %d", fake_n(o.f));
	one_end(&o);
}

/*
 * Removed, then re-added while its `stopped` is still out: the new `started`
 * must wait for that `stopped` to end (here: time out after ~3 s, the
 * tracker holds it), or the tracker would drop us right after adding us.
 */
Test(tracker, http_readd_waits_for_stopped)
{
	struct fake *f = fake_http_ok(1800);
	struct one o;

	f->hold_idx = 1; /* the `stopped` */
	one_begin(&o, NULL, f, NULL, "acme.game.1");
	one_wait(&o, TRACKER_OK, 5000);
	cr_assert_eq(tracker_set(o.t, NULL, 0), 0);
	cr_assert(WAIT_UNTIL(2000, fake_n(f) == 2), "no stopped");
	int64_t t0 = now_ms();
	set1(o.t, &o.r);
	struct tracker_status s;
	cr_assert(row(o.t, o.url, IH_A, &s));
	cr_expect_eq(s.stopping, 1);
	cr_assert(WAIT_UNTIL(6000, fake_n(f) >= 3), "no new started");
	int64_t took = now_ms() - t0;
	cr_expect_geq(took, 2000, "started came %lld ms after the re-add, while stopped was out",
		      (long long)took);
	cr_expect(strstr(fake_seen(f, 0).line, "event=started") != NULL);
	cr_expect(strstr(fake_seen(f, 1).line, "event=stopped") != NULL);
	cr_expect(strstr(fake_seen(f, 2).line, "event=started") != NULL);
	one_wait(&o, TRACKER_OK, 3000);
	cr_expect_eq(n_rows(o.t), 1);
	one_end(&o);
}

/* Removed and re-added before the thread looked: nothing to announce. */
Test(tracker, http_remove_and_readd_at_once_is_no_change)
{
	struct one o;

	one_begin(&o, NULL, fake_http_ok(1800), NULL, "acme.game.1");
	one_wait(&o, TRACKER_OK, 5000);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(tracker_set(o.t, NULL, 0), 0);
		set1(o.t, &o.r);
	}
	one_wait(&o, TRACKER_OK, 3000);
	usleep(300000);
	/* each stopped the thread saw is followed by a started, in order */
	int n = fake_n(o.f);
	cr_expect_eq(n % 2, 1, "%d announces", n);
	for (int i = 0; i < n; i++)
		cr_expect(strstr(fake_seen(o.f, i).line, i % 2 ? "event=stopped" : "event=started"),
			  "announce %d: %s", i, fake_seen(o.f, i).line);
	one_end(&o);
}

Test(tracker, announce_ip_is_sent_and_source_is_bound)
{
	struct fake *f = fake_http_ok(1800);
	struct fake *u = fake_udp(0);
	struct tracker_config c;
	base_cfg(&c);
	c.announce_family = AF_INET;
	inet_pton(AF_INET, "10.1.2.3", c.announce_addr);
	c.source_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.2", c.source_addr);
	struct tracker *t = start(&c);
	char hu[128], uu[128];
	struct tracker_reg r[2] = { reg(http_url(f, hu, sizeof(hu)), IH_A, "a"),
				    reg(udp_url(u, uu, sizeof(uu)), IH_A, "a") };

	cr_assert_eq(tracker_set(t, r, 2), 0);
	cr_assert(WAIT_UNTIL(5000, result(t, hu, IH_A) == TRACKER_OK &&
					   result(t, uu, IH_A) == TRACKER_OK));
	struct seen q = fake_seen(f, 0);
	cr_expect_str_eq(q.peer, "127.0.0.2", "opentracker takes the peer from the source");
	cr_expect(strstr(q.line, "&ip=10.1.2.3") != NULL, "%s", q.line);
	q = fake_seen(u, 0);
	cr_expect_str_eq(q.peer, "127.0.0.2");
	tracker_destroy(t);
	fake_free(f);
	fake_free(u);
}

Test(tracker, source_bind_failure_is_reported)
{
	struct tracker_config c;
	struct one o;

	base_cfg(&c);
	c.source_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.77", c.source_addr); /* TEST-NET-1: not ours */
	one_begin(&o, &c, fake_http_ok(1800), NULL, "a");
	struct tracker_status s = one_wait(&o, TRACKER_ERROR, 5000);
	cr_expect(strstr(s.last_message, "192.0.2.77") != NULL, "%s", s.last_message);
	cr_expect_eq(fake_n(o.f), 0);
	one_end(&o);
}

Test(tracker, stop_all_sends_stopped_everywhere_in_time)
{
	struct fake *f = fake_http_ok(1800);
	struct fake *u = fake_udp(0);
	struct tracker *t = start_default();
	char hu[128], uu[128];
	struct tracker_reg r[3] = { reg(http_url(f, hu, sizeof(hu)), IH_A, "a"), reg(hu, IH_B, "b"),
				    reg(udp_url(u, uu, sizeof(uu)), IH_A, "a") };

	cr_assert_eq(tracker_set(t, r, 3), 0);
	cr_assert(WAIT_UNTIL(5000, result(t, hu, IH_A) == TRACKER_OK &&
					   result(t, hu, IH_B) == TRACKER_OK &&
					   result(t, uu, IH_A) == TRACKER_OK));
	int64_t t0 = now_ms();
	tracker_stop_all(t, 4000);
	int64_t took = now_ms() - t0;
	cr_expect_lt(took, 4500, "stop_all took %lld ms", (long long)took);
	cr_expect_eq(fake_count(f, "event=stopped", 0), 2);
	cr_expect_eq(fake_count(u, NULL, 3), 1);
	cr_expect_eq(n_rows(t), 0);
	/* later sets are ignored */
	cr_assert_eq(tracker_set(t, r, 3), 0);
	usleep(300000);
	cr_expect_eq(n_rows(t), 0);
	cr_expect_eq(fake_count(f, "event=started", 0), 2);
	tracker_destroy(t);
	fake_free(f);
	fake_free(u);
}

Test(tracker, stop_all_is_bounded_by_a_silent_tracker)
{
	struct fake *f = fake_http_ok(1800);
	struct one o;

	f->answer_n = 1; /* set before the first request; the thread reads it later */
	one_begin(&o, NULL, f, NULL, "a");
	one_wait(&o, TRACKER_OK, 5000);
	int64_t t0 = now_ms();
	tracker_stop_all(o.t, 1500);
	int64_t took = now_ms() - t0;
	cr_expect(took >= 1300 && took < 2200, "stop_all(1500) took %lld ms", (long long)took);
	cr_expect(WAIT_UNTIL(1000, fake_count(f, "event=stopped", 0) == 1));
	t0 = now_ms();
	tracker_destroy(o.t);
	cr_expect_lt(now_ms() - t0, 1000, "destroy must not wait for the tracker");
	fake_free(f);
}

Test(tracker, stop_all_with_nothing_announced_returns_at_once)
{
	struct tracker *t = start_default();
	struct tracker_reg r = reg("https://127.0.0.1/announce", IH_A, "a");
	set1(t, &r);
	cr_assert(WAIT_UNTIL(2000, n_rows(t) == 1));
	int64_t t0 = now_ms();
	tracker_stop_all(t, 5000);
	cr_expect_lt(now_ms() - t0, 1000);
	tracker_destroy(t);
}

Test(tracker, unusable_url_is_an_error_without_announces)
{
	struct tracker *t = start_default();
	struct tracker_reg r = reg("https://tracker.example/announce", IH_A, "a");

	set1(t, &r);
	cr_assert(WAIT_UNTIL(2000, result(t, r.url, IH_A) == TRACKER_ERROR));
	struct tracker_status s;
	cr_assert(row(t, r.url, IH_A, &s));
	cr_expect(s.last_message[0] != '\0');
	cr_expect_eq(s.next_announce, 0);
	uint64_t tot[3];
	tracker_totals(t, tot);
	cr_expect_eq(tot[0] + tot[1] + tot[2], 0, "nothing was sent");
	cr_assert_eq(tracker_set(t, NULL, 0), 0);
	cr_expect(WAIT_UNTIL(2000, n_rows(t) == 0));
	tracker_destroy(t);
}

Test(tracker, host_names_are_resolved)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	if (getaddrinfo("localhost", NULL, &hints, &res) != 0)
		cr_skip_test("localhost does not resolve here");
	freeaddrinfo(res);
	struct fake *f = fake_http_ok(1800);
	struct one o;
	char url[128];

	snprintf(url, sizeof(url), "http://localhost:%u/announce", f->port);
	one_begin(&o, NULL, f, url, "a");
	/* localhost may come back as ::1 first: refused there, then 127.0.0.1 */
	one_wait(&o, TRACKER_OK, 5000);
	one_end(&o);
}

Test(tracker, status_counts_rows_beyond_cap)
{
	struct tracker *t = start_default();
	struct tracker_reg r[3] = { reg("https://a.example/x", IH_A, "a"),
				    reg("https://a.example/x", IH_B, "b"),
				    reg("https://a.example/x", IH_A, "a") /* a duplicate */ };
	cr_assert_eq(tracker_set(t, r, 3), 0);
	cr_assert(WAIT_UNTIL(2000, n_rows(t) == 2), "duplicates collapse: %zu rows", n_rows(t));
	struct tracker_status st[1];
	cr_expect_eq(tracker_status(t, st, 1), 2);
	tracker_destroy(t);
}

Test(tracker, create_refuses_port_zero)
{
	struct tracker_config c;
	struct tracker *t = NULL;
	struct seed_err err;
	base_cfg(&c);
	c.port = 0;
	seed_err_clear(&err);
	cr_expect_eq(tracker_create(&c, &t, &err), -EINVAL);
	cr_expect(err.msg[0] != '\0');
}

/* ---- UDP (BEP 15) ---- */

Test(tracker, udp_started_ok)
{
	struct one o;

	one_begin(&o, NULL, fake_udp(0), NULL, "acme.game.1");
	struct tracker_status s = one_wait(&o, TRACKER_OK, 5000);
	int64_t wall = time(NULL);
	cr_expect_eq(s.peers_seen, 2);
	cr_expect_eq(s.seeders, 3);
	cr_expect_eq(s.leechers, 4);
	cr_expect(s.next_announce >= wall + 48 && s.next_announce <= wall + 52);
	cr_assert_eq(fake_n(o.f), 1);
	struct seen q = fake_seen(o.f, 0);
	cr_expect_eq(q.event, 2, "started is event 2");
	cr_expect_eq(q.conn_id, UDP_CONN_ID);
	cr_expect_eq(memcmp(q.ih, IH_A, 20), 0);
	cr_expect_eq(q.port, BT_PORT);
	one_end(&o);
}

Test(tracker, udp_connection_id_is_reused)
{
	struct fake *u = fake_udp(0);
	struct tracker *t = start_default();
	char url[128];
	struct tracker_reg r[2] = { reg(udp_url(u, url, sizeof(url)), IH_A, "a"),
				    reg(url, IH_B, "b") };

	cr_assert_eq(tracker_set(t, r, 1), 0);
	cr_assert(WAIT_UNTIL(5000, result(t, url, IH_A) == TRACKER_OK));
	cr_assert_eq(tracker_set(t, r, 2), 0);
	cr_assert(WAIT_UNTIL(5000, result(t, url, IH_B) == TRACKER_OK));
	pthread_mutex_lock(&u->mu);
	int connects = u->connects;
	pthread_mutex_unlock(&u->mu);
	cr_expect_eq(connects, 1, "one connect for both, saw %d", connects);
	tracker_destroy(t);
	fake_free(u);
}

Test(tracker, udp_wrong_transaction_id_and_forged_source_are_ignored)
{
	struct one o;
	struct tracker_status s;

	one_begin(&o, NULL, fake_udp(UDP_WRONG_TID | UDP_FORGE), NULL, "a");
	cr_assert(WAIT_UNTIL(5000, row(o.t, o.url, IH_A, NULL) &&
					   result(o.t, o.url, IH_A) != TRACKER_NONE));
	cr_assert(row(o.t, o.url, IH_A, &s));
	cr_expect_eq(s.last_result, TRACKER_OK, "decoys were taken: %d %s", (int)s.last_result,
		     s.last_message);
	cr_expect_eq(s.peers_seen, 2);
	one_end(&o);
}

Test(tracker, udp_refusal_is_a_failure)
{
	struct one o;

	one_begin(&o, NULL, fake_udp(UDP_FAIL), NULL, "a");
	cr_expect_str_eq(one_wait(&o, TRACKER_FAILURE, 5000).last_message, "udp says no");
	one_end(&o);
}

Test(tracker, udp_malformed_reply_is_an_error)
{
	struct one o;

	one_begin(&o, NULL, fake_udp(UDP_SHORT), NULL, "a");
	cr_expect(one_wait(&o, TRACKER_ERROR, 5000).last_message[0] != '\0');
	one_end(&o);
}

Test(tracker, udp_unreachable_is_an_error)
{
	struct one o;

	one_unreachable(&o, "udp", "a", "unreachable", "refused");
	one_end(&o);
}

Test(tracker, udp_removal_sends_stopped)
{
	struct one o;

	one_begin(&o, NULL, fake_udp(0), NULL, "a");
	struct seen q = one_remove(&o);
	cr_expect_eq(memcmp(q.ih, IH_A, 20), 0);
	one_end(&o);
}
