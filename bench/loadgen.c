/*
 * loadgen: drives one seed (BitTorrent peer wire) or one HTTP server with N
 * concurrent connections for a fixed time and reports what it delivered:
 * payload Gbit/s, requests (blocks) per second, request latency p50/p99/
 * p999, errors, and the server's and our own CPU seconds per GiB served.
 *
 * How. Setup (not timed) connects every connection with blocking sockets
 * and, for BT, does the handshake, so a refused connection or a wrong
 * info-hash fails fast with a clear message. Then each worker thread (one
 * by default) drives its share of the connections through its own io_uring:
 * one recv and at most one send in flight per connection, into buffers
 * allocated at start; new requests are batched into one send per
 * connection and all SQEs are submitted once per loop turn. At --duration
 * no new requests are issued; what is in flight may finish for at most
 * 2 s (the drain). Every figure covers start to the end of the drain, so
 * bytes, time and both CPU readings describe the same interval.
 *
 * Latency is per request: BT from the turn the request was queued to the
 * turn its block was complete; HTTP from request to complete body. Samples
 * go into a fixed log-scaled histogram (no allocation per sample).
 *
 * Every BT block is verified (piece SHA-1, or with --v2 the BEP 52 merkle
 * of the piece's blocks against the piece layer); with a verify file every
 * HTTP body is compared byte for byte. Mismatches are errors. Exit status:
 * 0 clean, 1 errors seen or setup failed, 2 usage.
 */
#include "loadgen_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#define DRAIN_NS	   2000000000ull
#define WAIT_NS		   10000000ll /* loop wake-up when nothing completes */
#define TEARDOWN_NS	   500000000ull
#define MAX_CONNS	   65536u
#define MAX_DEPTH	   4096u
#define MAX_THREADS	   64u
#define MAX_DURATION	   3600.0
#define MAX_RANGE	   (64ull << 20)
#define CONNECT_TIMEOUT_MS 3000

static double proc_cpu_s(long pid);
static double self_cpu_s(void);
static double servers_cpu_s(const struct lg_opts *o);
static void begin_window(struct lg_worker *w);

/* ---- options: one table gives parsing and --help ---- */

enum opt_id {
	O_TORRENT,
	O_PEER,
	O_URL,
	O_CONNS,
	O_DEPTH,
	O_DURATION,
	O_PATTERN,
	O_V2,
	O_MODE,
	O_RANGE_SIZE,
	O_VERIFY_FILE,
	O_VERIFY_DIR,
	O_THREADS,
	O_SERVER_PID,
	O_JSON,
	O_NO_VERIFY,
	O_WARMUP,
	O_ONE_SOURCE,
};

struct opt {
	const char *name;
	const char *arg; /* NULL for a flag */
	unsigned modes;	 /* LG_BT | LG_HTTP */
	enum opt_id id;
	const char *help;
};

static const struct opt opts[] = {
	{ "torrent", "FILE", LG_BT, O_TORRENT, "the .torrent to request (required)" },
	{ "peer", "HOST:PORT", LG_BT, O_PEER, "the seed: IPv4, [IPv6] or a name (required)" },
	{ "url", "URL", LG_HTTP, O_URL,
	  "http://HOST[:PORT]/PATH; repeat for more files (same HOST:PORT for all)" },
	{ "conns", "N", LG_BT | LG_HTTP, O_CONNS, "concurrent connections (default 16)" },
	{ "depth", "Q", LG_BT, O_DEPTH, "16 KiB requests in flight per connection (default 16)" },
	{ "duration", "SEC", LG_BT | LG_HTTP, O_DURATION,
	  "issue requests for SEC seconds, then drain at most 2 s (default 10)" },
	{ "pattern", "P", LG_BT, O_PATTERN,
	  "random: pieces at random; sequential: in order per connection from a random start "
	  "(default random)" },
	{ "v2", NULL, LG_BT, O_V2,
	  "handshake with the v2 info-hash (truncated to 20 bytes) and verify blocks with the "
	  "BEP 52 merkle layers" },
	{ "mode", "M", LG_HTTP, O_MODE,
	  "range: GET random --range-size ranges (aligned), expect 206; whole: GET whole files "
	  "in turn, expect 200 (default range)" },
	{ "range-size", "BYTES", LG_HTTP, O_RANGE_SIZE, "bytes per range request (default 16384)" },
	{ "verify-file", "FILE", LG_HTTP, O_VERIFY_FILE,
	  "the local copy of the i-th --url, compared byte for byte; give one per --url, in "
	  "order" },
	{ "verify-dir", "DIR", LG_HTTP, O_VERIFY_DIR,
	  "find each URL's local copy under DIR: the longest tail of the URL path that names a "
	  "file in DIR (so /ID/NAME/a/b.bin finds DIR/a/b.bin or DIR/NAME/a/b.bin)" },
	{ "threads", "T", LG_BT | LG_HTTP, O_THREADS,
	  "worker threads, each with its own ring and share of the connections (default 1)" },
	{ "server-pid", "PID", LG_BT | LG_HTTP, O_SERVER_PID,
	  "report this process's CPU seconds (utime+stime, all threads) over the measured "
	  "window; repeat for a server of several processes (summed)" },
	{ "warmup", "SEC", LG_BT | LG_HTTP, O_WARMUP,
	  "run SEC seconds before the measured window (a seed's first unchoke, TCP windows); "
	  "nothing from it is counted but errors (default 0)" },
	{ "one-source", NULL, LG_BT | LG_HTTP, O_ONE_SOURCE,
	  "connect every connection from the kernel's source address; by default, to an IPv4 "
	  "loopback server each connection binds its own 127.1.x.y, as distinct peers would "
	  "(Transmission takes one connection per address)" },
	{ "json", NULL, LG_BT | LG_HTTP, O_JSON, "print one JSON object instead of the summary" },
	{ "no-verify", NULL, LG_BT | LG_HTTP, O_NO_VERIFY,
	  "skip hashing / comparing (to find the client's own limit; not for published figures)" },
};

static void usage(FILE *f)
{
	fputs("usage: loadgen bt   --torrent FILE --peer HOST:PORT [OPTIONS]\n"
	      "       loadgen http --url URL [--url URL ...] [OPTIONS]\n"
	      "       loadgen --help\n\n"
	      "Drives one seed (BitTorrent) or HTTP server with N connections for a fixed time;\n"
	      "prints payload Gbit/s, requests/s, latency p50/p99/p999 (request to complete\n"
	      "block or body), errors, and server/client CPU seconds per GiB served.\n\n",
	      f);
	for (unsigned m = LG_BT; m <= LG_HTTP; m <<= 1) {
		fprintf(f, "%s options:\n", m == LG_BT ? "bt" : "http");
		for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			char lhs[40];

			if (!(opts[i].modes & m))
				continue;
			snprintf(lhs, sizeof(lhs), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
				 opts[i].arg ? opts[i].arg : "");
			fprintf(f, "  %-22s %s\n", lhs, opts[i].help);
		}
		fputc('\n', f);
	}
	fputs("Every BitTorrent block is verified (v1: piece SHA-1; --v2: SHA-256 merkle of the\n"
	      "piece's blocks against its piece layer, or the file's pieces root); a mismatch\n"
	      "is an error. HTTP errors: a status other than 206 (range) / 200 (whole), a\n"
	      "Content-Length other than asked, a short body, a byte differing from the\n"
	      "verify file. blocks_per_s is payload bytes / 16 KiB per second in both modes.\n"
	      "Exit status: 0 no errors, 1 errors or setup failure, 2 usage.\n",
	      f);
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see loadgen --help)\n", stderr);
	return 2;
}

/* One of two words for --FLAG: *out = 0 for w0, 1 for w1, else a usage error. */
static int two_words(const char *flag, const char *v, const char *w0, const char *w1, bool *out)
{
	if (strcmp(v, w0) && strcmp(v, w1))
		return usage_err("--%s \"%s\": expected %s or %s", flag, v, w0, w1);
	*out = !strcmp(v, w1);
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* A whole number from lo to hi for --FLAG, else a usage error naming both. */
static int flag_u64(const char *flag, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	if (parse_u64(v, lo, hi, out))
		return usage_err("--%s \"%s\": expected %llu to %llu", flag, v,
				 (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

/* The same for a 32-bit setting from 1 to hi. */
static int flag_u32(const char *flag, const char *v, uint32_t hi, uint32_t *out)
{
	uint64_t n = 0; /* gcc -O3 cannot see that usage_err() is nonzero */
	if (flag_u64(flag, v, 1, hi, &n))
		return 2;
	*out = (uint32_t)n;
	return 0;
}

static int set_opt(struct lg_opts *o, const struct opt *d, const char *v)
{
	uint64_t n;
	char *end;

	switch (d->id) {
	case O_TORRENT: o->torrent = v; return 0;
	case O_PEER: o->peer = v; return 0;
	case O_URL:
		if (o->n_urls == LG_MAX_URLS)
			return usage_err("at most %u --url", LG_MAX_URLS);
		o->urls[o->n_urls++] = v;
		return 0;
	case O_VERIFY_FILE:
		if (o->n_verify_files == LG_MAX_URLS)
			return usage_err("at most %u --verify-file", LG_MAX_URLS);
		o->verify_files[o->n_verify_files++] = v;
		return 0;
	case O_VERIFY_DIR: o->verify_dir = v; return 0;
	case O_CONNS: return flag_u32("conns", v, MAX_CONNS, &o->conns);
	case O_DEPTH: return flag_u32("depth", v, MAX_DEPTH, &o->depth);
	case O_THREADS: return flag_u32("threads", v, MAX_THREADS, &o->threads);
	case O_RANGE_SIZE: return flag_u64("range-size", v, 1, MAX_RANGE, &o->range_size);
	case O_SERVER_PID:
		if (parse_u64(v, 1, 1u << 30, &n))
			return usage_err("--server-pid \"%s\": expected a process id", v);
		if (o->n_server_pids == LG_MAX_PIDS)
			return usage_err("at most %u --server-pid", LG_MAX_PIDS);
		o->server_pids[o->n_server_pids++] = (long)n;
		return 0;
	case O_WARMUP:
		errno = 0;
		o->warmup = strtod(v, &end);
		if (errno || end == v || *end || !(o->warmup >= 0) || o->warmup > MAX_DURATION)
			return usage_err("--warmup \"%s\": expected seconds in [0, %.0f]", v,
					 MAX_DURATION);
		return 0;
	case O_ONE_SOURCE: o->one_source = true; return 0;
	case O_DURATION:
		errno = 0;
		o->duration = strtod(v, &end);
		if (errno || end == v || *end || !(o->duration > 0) || o->duration > MAX_DURATION)
			return usage_err("--duration \"%s\": expected seconds in (0, %.0f]", v,
					 MAX_DURATION);
		return 0;
	case O_PATTERN: return two_words("pattern", v, "random", "sequential", &o->sequential);
	case O_MODE: {
		bool whole = false;
		int rc = two_words("mode", v, "range", "whole", &whole);
		if (rc == 0)
			o->http_kind = whole ? LG_HTTP_WHOLE : LG_HTTP_RANGE;
		return rc;
	}
	case O_V2: o->v2 = true; return 0;
	case O_JSON: o->json = true; return 0;
	case O_NO_VERIFY: o->no_verify = true; return 0;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct lg_opts *o)
{
	*o = (struct lg_opts){
		.conns = 16, .depth = 16, .threads = 1, .duration = 10.0, .range_size = LG_BLOCK
	};
	if (argc < 2)
		return usage_err("missing mode: bt or http");
	if (!strcmp(argv[1], "bt"))
		o->mode = LG_BT;
	else if (!strcmp(argv[1], "http"))
		o->mode = LG_HTTP;
	else
		return usage_err("unknown mode \"%s\": expected bt or http", argv[1]);

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		const struct opt *d = NULL;
		size_t nlen;
		int rc;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		}
		if (strncmp(a, "--", 2))
			return usage_err("unexpected argument \"%s\"", a);
		a += 2;
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a, nlen))
				d = &opts[k];
		if (!d)
			return usage_err("unknown option \"%s\"", argv[i]);
		if (!(d->modes & o->mode))
			return usage_err("--%s is not an option of %s mode", d->name, argv[1]);
		if (d->arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return usage_err("--%s needs a value (%s)", d->name, d->arg);
		} else if (eq) {
			return usage_err("--%s takes no value", d->name);
		}
		rc = set_opt(o, d, val);
		if (rc)
			return rc;
	}

	if (o->mode == LG_BT && (!o->torrent || !o->peer))
		return usage_err("bt mode needs --torrent FILE and --peer HOST:PORT");
	if (o->mode == LG_HTTP) {
		if (!o->n_urls)
			return usage_err("http mode needs at least one --url");
		if (o->n_verify_files && o->n_verify_files != o->n_urls)
			return usage_err("%u --verify-file for %u --url: give one per --url",
					 o->n_verify_files, o->n_urls);
		if (o->n_verify_files && o->verify_dir)
			return usage_err("--verify-file and --verify-dir exclude each other");
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	return 0;
}

/* ---- small shared helpers ---- */

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: fast, and a worker's sequence is its own (no shared state). */
uint64_t lg_rand(struct lg_worker *w)
{
	uint64_t x = w->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

void lg_error(struct lg_worker *w, const char *fmt, ...)
{
	va_list ap;

	w->st.errors++;
	if (w->first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->first_error, sizeof(w->first_error), fmt, ap);
	va_end(ap);
}

/* Each connection has at most one recv and one send (or connect) in
 * flight and the SQ holds two per connection, so this only flushes when a
 * turn posts more than the ring holds, never fails for lack of room. */
static struct io_uring_sqe *get_sqe(struct lg_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	while (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	w->ops_inflight++;
	return sqe;
}

void lg_post_recv(struct lg_worker *w, int fd, void *buf, size_t len, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_recv(sqe, fd, buf, len, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

void lg_post_send(struct lg_worker *w, int fd, const void *buf, size_t len, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud);
}

void lg_post_connect(struct lg_worker *w, int fd, const struct sockaddr *sa, socklen_t len,
		     uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(w);

	io_uring_prep_connect(sqe, fd, sa, len);
	io_uring_sqe_set_data64(sqe, ud);
}

int lg_resolve(struct lg_ctx *ctx, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char h[256];
	size_t hl = strlen(host);
	int rc;

	/* [v6] literals arrive with their brackets */
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		if (hl - 2 >= sizeof(h))
			return -1;
		memcpy(h, host + 1, hl - 2);
		h[hl - 2] = 0;
	} else {
		snprintf(h, sizeof(h), "%s", host);
	}
	rc = getaddrinfo(h, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "loadgen: cannot resolve %s port %s: %s\n", host, port,
			gai_strerror(rc));
		return -1;
	}
	memcpy(&ctx->addr, res->ai_addr, res->ai_addrlen);
	ctx->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(ctx->addr_str, sizeof(ctx->addr_str), "%s:%s", host, port);
	return 0;
}

int lg_connect_blocking(const struct lg_ctx *ctx, int timeout_ms)
{
	int fd = socket(ctx->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct pollfd pfd;
	int err = 0;
	socklen_t el = sizeof(err);

	if (fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		return -1;
	}
	/* A server may take one connection per address (Transmission does), and
	 * N peers come from N addresses: on loopback every 127/8 address is
	 * ours, so connection i binds its own. */
	if (!ctx->o.one_source && ctx->addr.ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)&ctx->addr)->sin_addr.s_addr) >> 24) == 127) {
		/* each run starts elsewhere: a server may refuse an address it
		 * saw disconnect a moment ago */
		static uint32_t next_source;
		uint32_t i = ((uint32_t)getpid() * 7919u + next_source++) % (254u * 254u);
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr =
			htonl((127u << 24) | (1u << 16) | ((1 + i / 254) << 8) | (1 + i % 254));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			err = errno;
			goto fail;
		}
	}
	/* non-blocking connect + poll: a bounded wait whatever the route */
	if (connect(fd, (const struct sockaddr *)&ctx->addr, ctx->addr_len) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, timeout_ms) != 1) {
			err = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err)
			goto fail;
	}
	/* setup reads and writes block (with a timeout) until lg_sock_ready */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
fail:
	fprintf(stderr, "loadgen: connect to %s: %s\n", ctx->addr_str, strerror(err));
	close(fd);
	return -1;
}

int lg_sock_ready(int fd)
{
	int one = 1;

	/* requests are small and latency is measured: never wait for Nagle */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int lg_connect_all(struct lg_ctx *ctx, int (*opened)(struct lg_ctx *ctx, int fd, uint32_t i))
{
	ctx->fds = malloc(ctx->o.conns * sizeof(int));
	if (!ctx->fds)
		return -1;
	for (uint32_t i = 0; i < ctx->o.conns; i++) {
		int fd = lg_connect_blocking(ctx, 3000);

		if (fd < 0 || opened(ctx, fd, i)) {
			if (fd >= 0)
				close(fd);
			for (uint32_t k = 0; k < i; k++)
				close(ctx->fds[k]);
			return -1;
		}
		ctx->fds[i] = fd;
	}
	return 0;
}

/* ---- latency histogram ---- */

static unsigned hist_index(uint64_t v)
{
	unsigned e;

	if (v < 16)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
	return (e - 3) * 16 + (unsigned)((v >> (e - 4)) & 15);
}

/* The middle of bucket i, in ns. */
static double hist_mid(unsigned i)
{
	unsigned e, m;

	if (i < 16)
		return i;
	e = i / 16 + 3;
	m = i % 16;
	return (double)((16ull + m) << (e - 4)) + (double)((1ull << (e - 4)) - 1) / 2;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
}

void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src)
{
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		dst->count[i] += src->count[i];
}

double lg_hist_quantile_us(const struct lg_hist *h, double q)
{
	uint64_t total = 0, want, acc = 0;

	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		total += h->count[i];
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
		acc += h->count[i];
		if (acc >= want)
			return hist_mid(i) / 1000.0;
	}
	return 0;
}

/* ---- the worker loop ---- */

static int ring_init(struct lg_worker *w)
{
	struct io_uring_params p;
	unsigned entries = 64;
	int rc;

	while (entries < 2 * w->n_fds + 16)
		entries <<= 1;
	/* one thread per ring: completions run only when it waits, in one place */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	rc = io_uring_queue_init_params(entries, &w->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_COOP_TASKRUN;
		rc = io_uring_queue_init_params(entries, &w->ring, &p);
	}
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &w->ring, &p);
	}
	return rc;
}

static unsigned reap(struct lg_worker *w, bool dispatch, uint64_t now)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&w->ring, head, cqe)
	{
		w->ops_inflight--;
		if (dispatch)
			w->ctx->ops->on_cqe(w, cqe->user_data, cqe->res, now);
		n++;
	}
	io_uring_cq_advance(&w->ring, n);
	return n;
}

static void *worker_loop(void *arg)
{
	struct lg_worker *w = arg;
	const struct lg_mode_ops *ops = w->ctx->ops;
	struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = WAIT_NS };
	struct io_uring_cqe *cqe;
	uint64_t now, deadline;
	int rc;

	rc = ring_init(w);
	if (rc < 0) {
		snprintf(w->first_error, sizeof(w->first_error), "io_uring setup: %s",
			 strerror(-rc));
		w->fatal = true;
		w->t_end = lg_now_ns();
		return NULL;
	}
	now = lg_now_ns();
	ops->start(w, now);
	ops->flush(w, now);
	for (;;) {
		rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
			snprintf(w->first_error, sizeof(w->first_error), "io_uring_enter: %s",
				 strerror(-rc));
			w->fatal = true;
			break;
		}
		now = lg_now_ns();
		reap(w, true, now);
		if (!w->measuring && now >= w->t_measure)
			begin_window(w);
		if (!w->stopping && now >= w->t_stop)
			w->stopping = true;
		ops->flush(w, now);
		if (w->fatal || (!w->n_live && !w->ops_inflight))
			break;
		if (w->stopping && (ops->quiet(w) || now >= w->t_drain))
			break;
	}
	w->t_end = now;

	/* shutdown() completes every recv/send still posted, so the buffers
	 * they point into are ours again before the ring and they go */
	ops->shutdown(w);
	deadline = lg_now_ns() + TEARDOWN_NS;
	while (w->ops_inflight && lg_now_ns() < deadline) {
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		reap(w, false, 0);
	}
	io_uring_queue_exit(&w->ring);
	return NULL;
}

/* ---- CPU readings ---- */

/* At the end of --warmup every counter but the error ones restarts, and
 * worker 0 takes the CPU readings the window starts from. */
static void begin_window(struct lg_worker *w)
{
	struct lg_stats *s = &w->st;

	w->measuring = true;
	s->bytes = s->requests = s->verified = 0;
	memset(&s->lat, 0, sizeof(s->lat));
	if (w->id == 0) {
		w->srv_cpu0 = servers_cpu_s(&w->ctx->o);
		w->cli_cpu0 = self_cpu_s();
	}
}

/* utime + stime of a process in seconds (all its threads), or -1. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* comm may hold spaces and ')': fields restart after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* field 3 (state) follows; utime and stime are fields 14 and 15 */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The sum over every --server-pid, -1 when one cannot be read (or none). */
static double servers_cpu_s(const struct lg_opts *o)
{
	double sum = 0;

	if (!o->n_server_pids)
		return -1;
	for (uint32_t i = 0; i < o->n_server_pids; i++) {
		double c = proc_cpu_s(o->server_pids[i]);

		if (c < 0)
			return -1;
		sum += c;
	}
	return sum;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* ---- report ---- */

struct figures {
	double secs, gbit, mib, rps, bps, p50, p99, p999, srv_cpu, srv_per_gib, cli_cpu;
	bool have_srv;
};

static void report(const struct lg_ctx *ctx, const struct lg_stats *s, const struct figures *f,
		   const char *first_error)
{
	const struct lg_opts *o = &ctx->o;
	const char *mode = o->mode == LG_BT ? "bt" : "http";
	unsigned depth = o->mode == LG_BT ? o->depth : 1;

	if (o->json) {
		printf("{\"mode\":\"%s\",\"variant\":\"%s\",\"conns\":%u,\"depth\":%u,"
		       "\"threads\":%u,\"duration_s\":%.3f,\"bytes\":%llu,\"gbit_s\":%.3f,"
		       "\"mib_s\":%.1f,\"requests\":%llu,\"requests_per_s\":%.1f,"
		       "\"blocks_per_s\":%.1f,",
		       mode, ctx->variant, o->conns, depth, o->threads, f->secs,
		       (unsigned long long)s->bytes, f->gbit, f->mib,
		       (unsigned long long)s->requests, f->rps, f->bps);
		/* no request completed in the window: no latency to report */
		if (s->requests)
			printf("\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,",
			       f->p50, f->p99, f->p999);
		else
			printf("\"lat_p50_us\":null,\"lat_p99_us\":null,\"lat_p999_us\":null,");
		printf("\"warmup_s\":%.3f,\"errors\":%llu,\"rejects\":%llu,\"chokes\":%llu,",
		       o->warmup, (unsigned long long)s->errors, (unsigned long long)s->rejects,
		       (unsigned long long)s->chokes);
		if (f->have_srv)
			printf("\"server_cpu_s\":%.3f,\"server_cpu_s_per_gib\":%.4f,", f->srv_cpu,
			       f->srv_per_gib);
		else
			printf("\"server_cpu_s\":null,\"server_cpu_s_per_gib\":null,");
		printf("\"client_cpu_s\":%.3f,\"mismatches\":%llu,\"bad_status\":%llu,"
		       "\"short_bodies\":%llu,\"verified\":%llu,\"unexpected\":%llu,"
		       "\"reconnects\":%llu,\"verify\":%s}\n",
		       f->cli_cpu, (unsigned long long)s->mismatches,
		       (unsigned long long)s->bad_status, (unsigned long long)s->short_bodies,
		       (unsigned long long)s->verified, (unsigned long long)s->unexpected,
		       (unsigned long long)s->reconnects, o->no_verify ? "false" : "true");
	} else {
		printf("loadgen %s (%s) -> %s: %u conns", mode, ctx->variant, ctx->addr_str,
		       o->conns);
		if (o->mode == LG_BT)
			printf(" x depth %u, %s pieces", depth,
			       o->sequential ? "sequential" : "random");
		printf(", %u thread%s, %.2f s", o->threads, o->threads > 1 ? "s" : "", f->secs);
		if (o->warmup > 0)
			printf(" after %.1f s warmup", o->warmup);
		printf("%s\n", o->no_verify ? ", NOT verified" : "");
		printf("  payload   %.3f Gbit/s  %.1f MiB/s  (%.3f GiB)\n", f->gbit, f->mib,
		       (double)s->bytes / (double)(1ull << 30));
		printf("  requests  %.0f/s  blocks %.0f/s  (%llu done, %llu verified)\n", f->rps,
		       f->bps, (unsigned long long)s->requests, (unsigned long long)s->verified);
		printf("  latency   p50 %.1f us  p99 %.1f us  p999 %.1f us\n", f->p50, f->p99,
		       f->p999);
		printf("  errors    %llu (mismatches %llu, bad status %llu, short bodies %llu)  "
		       "rejects %llu  chokes %llu  unexpected %llu  reconnects %llu\n",
		       (unsigned long long)s->errors, (unsigned long long)s->mismatches,
		       (unsigned long long)s->bad_status, (unsigned long long)s->short_bodies,
		       (unsigned long long)s->rejects, (unsigned long long)s->chokes,
		       (unsigned long long)s->unexpected, (unsigned long long)s->reconnects);
		if (f->have_srv)
			printf("  server    %.3f CPU-s  %.3f CPU-s/GiB\n", f->srv_cpu,
			       f->srv_per_gib);
		else
			printf("  server    CPU not measured (no --server-pid)\n");
		printf("  client    %.3f CPU-s  %.3f CPU-s/GiB\n", f->cli_cpu,
		       s->bytes ? f->cli_cpu / ((double)s->bytes / (double)(1ull << 30)) : 0.0);
	}
	if (first_error[0])
		fprintf(stderr, "loadgen: first error: %s\n", first_error);
}

int main(int argc, char **argv)
{
	struct lg_ctx ctx;
	struct lg_worker *w;
	struct lg_stats sum;
	struct figures f;
	pthread_t *tids;
	double srv0 = -1, srv1 = -1, cli0, cli1;
	uint64_t t0, t_end = 0;
	const char *first_error = "";
	bool fatal = false;
	int rc, status;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	rc = parse_args(argc, argv, &ctx.o);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	ctx.ops = ctx.o.mode == LG_BT ? &lg_bt_ops : &lg_http_ops;
	for (uint32_t i = 0; i < ctx.o.n_server_pids; i++)
		if (proc_cpu_s(ctx.o.server_pids[i]) < 0) {
			fprintf(stderr, "loadgen: cannot read /proc/%ld/stat: no such process?\n",
				ctx.o.server_pids[i]);
			return 1;
		}
	if (ctx.ops->setup(&ctx)) {
		ctx.ops->ctx_fini(&ctx); /* what setup got so far: no leak reports */
		return 1;
	}

	w = calloc(ctx.o.threads, sizeof(*w));
	tids = calloc(ctx.o.threads, sizeof(*tids));
	if (!w || !tids) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	t0 = lg_now_ns();
	for (uint32_t i = 0, at = 0; i < ctx.o.threads; i++) {
		uint32_t share = ctx.o.conns / ctx.o.threads + (i < ctx.o.conns % ctx.o.threads);

		w[i].ctx = &ctx;
		w[i].id = i;
		w[i].rng =
			(t0 ^ ((uint64_t)getpid() << 32) ^ (0x9E3779B97F4A7C15ull * (i + 1))) | 1;
		w[i].fds = ctx.fds + at;
		w[i].n_fds = share;
		at += share;
		if (ctx.ops->worker_init(&w[i]))
			return 1;
	}

	/* every thread shares one clock window */
	t0 = lg_now_ns();
	for (uint32_t i = 0; i < ctx.o.threads; i++) {
		w[i].t_start = t0;
		w[i].t_measure = t0 + (uint64_t)(ctx.o.warmup * 1e9);
		w[i].t_stop = w[i].t_measure + (uint64_t)(ctx.o.duration * 1e9);
		w[i].t_drain = w[i].t_stop + DRAIN_NS;
		if (ctx.o.warmup <= 0)
			begin_window(&w[i]);
	}
	for (uint32_t i = 1; i < ctx.o.threads; i++) {
		rc = pthread_create(&tids[i], NULL, worker_loop, &w[i]);
		if (rc) {
			fprintf(stderr, "loadgen: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	worker_loop(&w[0]);
	for (uint32_t i = 1; i < ctx.o.threads; i++)
		pthread_join(tids[i], NULL);
	cli1 = self_cpu_s();
	/* a run that ended inside its warmup measured nothing */
	srv0 = w[0].measuring ? w[0].srv_cpu0 : -1;
	cli0 = w[0].measuring ? w[0].cli_cpu0 : cli1;
	srv1 = servers_cpu_s(&ctx.o);

	memset(&sum, 0, sizeof(sum));
	for (uint32_t i = 0; i < ctx.o.threads; i++) {
		const struct lg_stats *s = &w[i].st;

		if (w[i].t_end > t_end)
			t_end = w[i].t_end;
		sum.bytes += s->bytes;
		sum.requests += s->requests;
		sum.errors += s->errors;
		sum.mismatches += s->mismatches;
		sum.bad_status += s->bad_status;
		sum.short_bodies += s->short_bodies;
		sum.rejects += s->rejects;
		sum.chokes += s->chokes;
		sum.verified += s->verified;
		sum.unexpected += s->unexpected;
		sum.reconnects += s->reconnects;
		lg_hist_merge(&sum.lat, &s->lat);
		fatal |= w[i].fatal;
		if (!first_error[0] && w[i].first_error[0])
			first_error = w[i].first_error;
	}

	memset(&f, 0, sizeof(f));
	f.secs = t_end > w[0].t_measure ? (double)(t_end - w[0].t_measure) / 1e9 : 0;
	if (f.secs <= 0)
		f.secs = 1e-9;
	f.gbit = (double)sum.bytes * 8 / f.secs / 1e9;
	f.mib = (double)sum.bytes / (double)(1u << 20) / f.secs;
	f.rps = (double)sum.requests / f.secs;
	f.bps = (double)sum.bytes / LG_BLOCK / f.secs;
	f.p50 = lg_hist_quantile_us(&sum.lat, 0.50);
	f.p99 = lg_hist_quantile_us(&sum.lat, 0.99);
	f.p999 = lg_hist_quantile_us(&sum.lat, 0.999);
	f.cli_cpu = cli1 - cli0;
	if (srv0 >= 0 && srv1 >= 0) {
		f.have_srv = true;
		f.srv_cpu = srv1 - srv0;
		f.srv_per_gib =
			sum.bytes ? f.srv_cpu / ((double)sum.bytes / (double)(1ull << 30)) : 0.0;
	} else if (ctx.o.n_server_pids) {
		fprintf(stderr, "loadgen: a --server-pid process exited during the run\n");
		fatal = true;
	}
	report(&ctx, &sum, &f, first_error);

	status = (sum.errors || fatal) ? 1 : 0;
	for (uint32_t i = 0; i < ctx.o.threads; i++)
		ctx.ops->worker_fini(&w[i]);
	ctx.ops->ctx_fini(&ctx);
	free(w);
	free(tids);
	return status;
}
