/*
 * loadgen_int.h: what the loadgen's files share (loadgen.c: CLI, event loop,
 * threads, figures; loadgen_bt.c: peer-wire mode; loadgen_http.c: HTTP mode).
 *
 * Call order, per run: the mode's setup() on the main thread (parse the
 * torrent or HEAD the URLs, connect every connection, handshake) fills
 * ctx->fds; worker_init() per worker (its share of ctx->fds, its buffers,
 * all allocated here and never on the hot path); then each worker thread
 * creates its own ring and runs lg_worker_loop(), which calls start() once,
 * then on_cqe() for every completion and flush() after every batch, until
 * the duration has passed and quiet() (or the drain bound); then shutdown()
 * and worker_fini(); ctx_fini() last.
 */
#ifndef SEED_LOADGEN_INT_H
#define SEED_LOADGEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <liburing.h>
#include <sys/socket.h>

#define LG_BLOCK	16384u	      /* a BitTorrent block; also the blocks_per_s unit */
#define LG_RBUF		(256u * 1024) /* receive buffer per connection */
#define LG_HIST_BUCKETS 1024u
#define LG_MAX_URLS	256u
#define LG_MAX_PIDS	64u

enum lg_mode_kind { LG_BT = 1, LG_HTTP = 2 };
enum lg_http_kind { LG_HTTP_RANGE = 0, LG_HTTP_WHOLE };

struct lg_opts {
	enum lg_mode_kind mode;
	uint32_t conns, depth, threads;
	double duration;
	bool sequential, v2, json, no_verify, one_source;
	long server_pids[LG_MAX_PIDS]; /* summed CPU; none given = not measured */
	uint32_t n_server_pids;
	double warmup; /* seconds of traffic before the measured window */
	const char *torrent, *peer;
	const char *urls[LG_MAX_URLS];
	uint32_t n_urls;
	const char *verify_files[LG_MAX_URLS];
	uint32_t n_verify_files;
	const char *verify_dir;
	enum lg_http_kind http_kind;
	uint64_t range_size;
};

/* Fixed log-scaled latency histogram in ns: 16 sub-buckets per power of
 * two (about 6 % resolution), so adding a sample never allocates. */
struct lg_hist {
	uint64_t count[LG_HIST_BUCKETS];
};

void lg_hist_add(struct lg_hist *h, uint64_t ns);
void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src);
/* The q-quantile (0..1) in µs, 0 when empty. */
double lg_hist_quantile_us(const struct lg_hist *h, double q);

/* Per worker, summed at the end. errors counts every kind of error once
 * (mismatches, bad_status and short_bodies are subsets of it). */
struct lg_stats {
	uint64_t bytes;	   /* payload bytes received (blocks, bodies) */
	uint64_t requests; /* requests completed successfully */
	uint64_t errors;
	uint64_t mismatches; /* hash or byte-compare failures */
	uint64_t bad_status; /* HTTP: unexpected status or length */
	uint64_t short_bodies;
	uint64_t rejects;    /* BT reject messages */
	uint64_t chokes;     /* BT chokes while requests were outstanding */
	uint64_t verified;   /* pieces / bodies checked and found good */
	uint64_t unexpected; /* BT blocks we had not asked for (ignored) */
	uint64_t reconnects;
	struct lg_hist lat;
};

struct lg_ctx;
struct lg_worker;

struct lg_mode_ops {
	int (*setup)(struct lg_ctx *ctx);
	int (*worker_init)(struct lg_worker *w);
	void (*start)(struct lg_worker *w, uint64_t now);
	void (*on_cqe)(struct lg_worker *w, uint64_t ud, int res, uint64_t now);
	void (*flush)(struct lg_worker *w, uint64_t now);
	bool (*quiet)(const struct lg_worker *w);
	void (*shutdown)(struct lg_worker *w);
	void (*worker_fini)(struct lg_worker *w);
	void (*ctx_fini)(struct lg_ctx *ctx);
};

struct lg_ctx {
	struct lg_opts o;
	const struct lg_mode_ops *ops;
	struct sockaddr_storage addr; /* the server */
	socklen_t addr_len;
	char addr_str[128];
	int *fds;	     /* connected sockets from setup, ctx->o.conns of them */
	void *mode;	     /* the mode's shared, read-only state */
	const char *variant; /* "v1", "v2", "range", "whole" */
};

struct lg_worker {
	struct io_uring ring;
	const struct lg_ctx *ctx;
	unsigned id;
	uint64_t rng;
	const int *fds; /* this worker's share of ctx->fds */
	uint32_t n_fds;
	uint64_t t_start, t_stop, t_drain, t_end; /* CLOCK_MONOTONIC ns */
	uint64_t t_measure;			  /* end of --warmup: counters restart here */
	bool measuring;				  /* past t_measure */
	bool stopping;				  /* past --duration: issue nothing new */
	double srv_cpu0, cli_cpu0;		  /* worker 0: CPU readings at t_measure */
	bool fatal;
	uint32_t n_live;       /* connections still open */
	uint32_t ops_inflight; /* SQEs whose CQE has not come back */
	struct lg_stats st;
	char first_error[256];
	void *mode; /* the mode's per-worker state */
};

extern const struct lg_mode_ops lg_bt_ops;
extern const struct lg_mode_ops lg_http_ops;

uint64_t lg_now_ns(void);
uint64_t lg_rand(struct lg_worker *w);

/* Counts one error and keeps the first message for the summary. */
void lg_error(struct lg_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* SQE helpers: each counts one op in flight; ud is the mode's tag. */
void lg_post_recv(struct lg_worker *w, int fd, void *buf, size_t len, uint64_t ud);
void lg_post_send(struct lg_worker *w, int fd, const void *buf, size_t len, uint64_t ud);
void lg_post_connect(struct lg_worker *w, int fd, const struct sockaddr *sa, socklen_t len,
		     uint64_t ud);

/* "HOST:PORT" (IPv4, [IPv6] or a name) into ctx->addr; 0 or -1 with a
 * message printed. */
int lg_resolve(struct lg_ctx *ctx, const char *host, const char *port);
/* A blocking TCP connection to ctx->addr with a connect timeout, or -1
 * with a message printed naming the server and the cause. */
int lg_connect_blocking(const struct lg_ctx *ctx, int timeout_ms);
/* Switches a setup socket to what the loop wants: non-blocking, no delay. */
int lg_sock_ready(int fd);
/* Connects ctx->o.conns sockets into ctx->fds (allocated here, freed by
 * the mode's ctx_fini), handing each to opened() with its index as it
 * connects; when a connect or opened() fails, closes every socket it made
 * and returns -1 (the failure printed), else 0. */
int lg_connect_all(struct lg_ctx *ctx, int (*opened)(struct lg_ctx *ctx, int fd, uint32_t i));

#endif
