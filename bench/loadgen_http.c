/*
 * loadgen_http: the HTTP/1.1 mode of loadgen (see loadgen.c for the run).
 *
 * Setup HEADs every --url once (on its own connection) for the file sizes,
 * maps the verify files, and connects --conns keep-alive connections. Each
 * connection then has one request outstanding at a time (like wrk: no
 * pipelining, so latency is request to complete body):
 *   range: GET of a random --range-size range, aligned to range-size, of
 *          a random URL; expects 206 with Content-Length equal to the
 *          range (200 is also right when the range is the whole file);
 *   whole: GET of the URLs in turn (each connection from its own start);
 *          expects 200 with the full length.
 * Bodies are consumed as they arrive (whole files are never held), counted
 * as payload only when status and length were right, and compared with the
 * verify file when there is one. Parsing covers what the servers under test
 * send: status line, Content-Length, Connection; a response without
 * Content-Length (chunked) is an error. A response with Connection: close,
 * or a server closing an idle connection, costs a reconnect (counted, not
 * an error); closing while a response is due is an error.
 *
 * Connection states: IDLE (connected, no request) -> HEAD (request sent,
 * waiting for the head) -> BODY -> IDLE; any -> CLOSING (shutdown; closed
 * once no op is posted) -> CONNECTING (a new socket) -> IDLE, or DEAD once
 * the run is stopping. A recv is always posted while connected, so a close
 * is seen at once.
 */
#include "loadgen_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "hex.h"

#define REQ_MAX	   8192u
#define TARGET_MAX 4096u
#define HEAD_MAX   (64u * 1024)
#define OP_RECV	   0u
#define OP_SEND	   1u
#define OP_CONNECT 2u

enum { HC_IDLE, HC_HEAD, HC_BODY, HC_CLOSING, HC_CONNECTING, HC_DEAD };

struct http_url {
	const char *url;    /* as given, for messages */
	const char *target; /* the request target: path and query, into url */
	uint64_t size;
	const uint8_t *map; /* the verify file, or NULL */
	char local[4096];
};

struct http_ctx {
	char authority[256]; /* Host header */
	struct http_url u[LG_MAX_URLS];
	uint32_t n;
};

struct hconn {
	int fd;
	uint32_t idx;
	uint8_t state;
	bool recv_posted, send_posted, close_after, ok, mism;
	uint8_t *rbuf;
	uint32_t rlen;
	char *req;
	uint32_t req_len, req_off;
	uint32_t url, next_url;
	uint64_t off, want, clen, got, sent_ns;
};

struct http_worker {
	struct hconn *c;
	uint32_t n;
	uint8_t *arena;
	size_t arena_len;
};

struct head {
	int status;
	bool has_len, close;
	uint64_t len;
};

/* ---- parsing ---- */

/* The head [p, p + n) up to and including the blank line. 0 or -1. */
static int parse_head(const char *p, size_t n, struct head *h)
{
	const char *end = p + n, *eol;

	*h = (struct head){ .status = 0 };
	if (n < 12 || strncmp(p, "HTTP/1.", 7) || p[8] != ' ')
		return -1;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		h->status = h->status * 10 + (p[i] - '0');
	}
	h->close = p[7] == '0'; /* HTTP/1.0 closes unless told otherwise */
	eol = memmem(p, n, "\r\n", 2);
	while (eol && eol + 2 < end) {
		const char *line = eol + 2, *colon, *v;
		size_t nl;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!eol || eol == line)
			break;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon)
			return -1;
		nl = (size_t)(colon - line);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		if (nl == 14 && !strncasecmp(line, "content-length", 14)) {
			uint64_t len = 0;

			if (v == eol)
				return -1;
			for (; v < eol && *v >= '0' && *v <= '9'; v++) {
				if (len > (UINT64_MAX - 9) / 10)
					return -1;
				len = len * 10 + (uint64_t)(*v - '0');
			}
			h->has_len = true;
			h->len = len;
		} else if (nl == 10 && !strncasecmp(line, "connection", 10)) {
			size_t vl = (size_t)(eol - v);

			for (size_t i = 0; i + 5 <= vl; i++)
				if (!strncasecmp(v + i, "close", 5))
					h->close = true;
			for (size_t i = 0; i + 10 <= vl; i++)
				if (!strncasecmp(v + i, "keep-alive", 10))
					h->close = false;
		}
	}
	return 0;
}

/* http://AUTHORITY/TARGET: AUTHORITY into auth, the target (at least "/")
 * returned, or NULL. */
static const char *split_url(const char *url, char *auth, size_t auth_len)
{
	const char *a, *slash;
	size_t al;

	if (strncasecmp(url, "http://", 7))
		return NULL;
	a = url + 7;
	slash = strchr(a, '/');
	al = slash ? (size_t)(slash - a) : strlen(a);
	if (!al || al >= auth_len)
		return NULL;
	memcpy(auth, a, al);
	auth[al] = 0;
	return slash ? slash : "/";
}

static int split_authority(const char *auth, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon;

	if (auth[0] == '[') {
		const char *rb = strchr(auth, ']');

		if (!rb || (size_t)(rb - auth + 1) >= hl)
			return -1;
		memcpy(host, auth, (size_t)(rb - auth + 1));
		host[rb - auth + 1] = 0;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb[1] && !colon)
			return -1;
	} else {
		colon = strchr(auth, ':');
		if ((size_t)(colon ? colon - auth : (long)strlen(auth)) >= hl)
			return -1;
		snprintf(host, hl, "%.*s", (int)(colon ? colon - auth : (long)strlen(auth)), auth);
	}
	snprintf(port, pl, "%s", colon && colon[1] ? colon + 1 : "80");
	return 0;
}

/* ---- setup ---- */

/* One HEAD on its own connection: the file size, or -1 with a message. */
static int head_size(const struct lg_ctx *ctx, const struct http_ctx *hc, struct http_url *u)
{
	char req[REQ_MAX], buf[HEAD_MAX];
	struct head h;
	size_t got = 0;
	char *end = NULL;
	int fd = lg_connect_blocking(ctx, 3000), n;

	if (fd < 0)
		return -1;
	n = snprintf(req, sizeof(req),
		     "HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n\r\n", u->target,
		     hc->authority);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto io;
	while (!end && got < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		if (r <= 0)
			goto io;
		got += (size_t)r;
		buf[got] = 0;
		end = memmem(buf, got, "\r\n\r\n", 4);
	}
	close(fd);
	if (!end || parse_head(buf, (size_t)(end + 4 - buf), &h)) {
		fprintf(stderr, "loadgen: HEAD %s: malformed response\n", u->url);
		return -1;
	}
	if (h.status != 200 || !h.has_len) {
		fprintf(stderr, "loadgen: HEAD %s: status %d%s\n", u->url, h.status,
			h.has_len ? "" : ", no Content-Length");
		return -1;
	}
	u->size = h.len;
	return 0;
io:
	fprintf(stderr, "loadgen: HEAD %s: %s\n", u->url,
		errno ? strerror(errno) : "connection closed");
	close(fd);
	return -1;
}

/* --verify-dir: the longest tail of the URL path naming a regular file of
 * the right size under dir (so the same DIR works for our seed's
 * /<id>/<name>/<path> and for nginx serving DIR at its root). */
static int find_local(const char *dir, struct http_url *u)
{
	char path[TARGET_MAX], cand[4096];
	size_t n = 0;
	struct stat sb;

	for (const char *s = u->target; *s && *s != '?' && *s != '#' && n + 1 < sizeof(path); s++) {
		if (*s == '%' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0) {
			path[n++] = (char)(hex_digit(s[1]) << 4 | hex_digit(s[2]));
			s += 2;
		} else {
			path[n++] = *s;
		}
	}
	path[n] = 0;
	for (const char *tail = path; tail; tail = strchr(tail + 1, '/')) {
		const char *rel = tail + (*tail == '/');

		if (!*rel || strstr(rel, ".."))
			continue;
		snprintf(cand, sizeof(cand), "%s/%s", dir, rel);
		if (!stat(cand, &sb) && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == u->size) {
			snprintf(u->local, sizeof(u->local), "%s", cand);
			return 0;
		}
	}
	fprintf(stderr, "loadgen: --verify-dir %s: no file of %llu bytes matches %s\n", dir,
		(unsigned long long)u->size, u->url);
	return -1;
}

static int map_local(struct http_url *u)
{
	struct stat sb;
	void *m;
	int fd = open(u->local, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) < 0) {
		fprintf(stderr, "loadgen: %s: %s\n", u->local, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((uint64_t)sb.st_size != u->size) {
		fprintf(stderr, "loadgen: %s is %llu bytes, but %s has %llu\n", u->local,
			(unsigned long long)sb.st_size, u->url, (unsigned long long)u->size);
		close(fd);
		return -1;
	}
	if (!u->size) {
		close(fd);
		return 0;
	}
	m = mmap(NULL, u->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fprintf(stderr, "loadgen: mmap %s: %s\n", u->local, strerror(errno));
		return -1;
	}
	u->map = m;
	return 0;
}

/* An HTTP connection goes straight to the loop. */
static int http_opened(struct lg_ctx *ctx, int fd, uint32_t i)
{
	(void)ctx;
	(void)i;
	return lg_sock_ready(fd);
}

static int http_setup(struct lg_ctx *ctx)
{
	struct http_ctx *hc = calloc(1, sizeof(*hc));
	const struct lg_opts *o = &ctx->o;
	char host[256], port[16], auth[256];

	ctx->mode = hc;
	ctx->variant = o->http_kind == LG_HTTP_RANGE ? "range" : "whole";
	if (!hc)
		return -1;
	for (uint32_t i = 0; i < o->n_urls; i++) {
		struct http_url *u = &hc->u[i];

		u->url = o->urls[i];
		u->target = split_url(u->url, auth, sizeof(auth));
		if (!u->target || strlen(u->target) >= TARGET_MAX) {
			fprintf(stderr, "loadgen: --url \"%s\": expected http://HOST[:PORT]/PATH\n",
				u->url);
			return -1;
		}
		if (!i) {
			snprintf(hc->authority, sizeof(hc->authority), "%s", auth);
		} else if (strcasecmp(auth, hc->authority)) {
			fprintf(stderr, "loadgen: every --url must name one server (%s, not %s)\n",
				hc->authority, auth);
			return -1;
		}
	}
	hc->n = o->n_urls;
	if (split_authority(hc->authority, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr, "loadgen: bad host in %s\n", hc->u[0].url);
		return -1;
	}
	if (lg_resolve(ctx, host, port))
		return -1;
	for (uint32_t i = 0; i < hc->n; i++) {
		struct http_url *u = &hc->u[i];

		if (head_size(ctx, hc, u))
			return -1;
		if (o->http_kind == LG_HTTP_RANGE && !u->size) {
			fprintf(stderr, "loadgen: %s is empty: no range to ask for\n", u->url);
			return -1;
		}
		if (o->n_verify_files)
			snprintf(u->local, sizeof(u->local), "%s", o->verify_files[i]);
		else if (o->verify_dir && find_local(o->verify_dir, u))
			return -1;
		if (u->local[0] && map_local(u))
			return -1;
	}
	return lg_connect_all(ctx, http_opened);
}

static void http_ctx_fini(struct lg_ctx *ctx)
{
	struct http_ctx *hc = ctx->mode;

	for (uint32_t i = 0; hc && i < hc->n; i++)
		if (hc->u[i].map)
			munmap((void *)hc->u[i].map, hc->u[i].size);
	free(hc);
	free(ctx->fds);
}

/* ---- per worker ---- */

static int http_worker_init(struct lg_worker *w)
{
	const struct http_ctx *hc = w->ctx->mode;
	struct http_worker *hw = calloc(1, sizeof(*hw));
	size_t per = LG_RBUF + REQ_MAX;

	if (!hw)
		return -1;
	w->mode = hw;
	hw->n = w->n_fds;
	hw->c = calloc(hw->n, sizeof(*hw->c));
	hw->arena_len = per * hw->n;
	hw->arena = mmap(NULL, hw->arena_len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!hw->c || hw->arena == MAP_FAILED) {
		hw->arena = NULL;
		fprintf(stderr, "loadgen: out of memory for %u connections\n", hw->n);
		return -1;
	}
	for (uint32_t i = 0; i < hw->n; i++) {
		struct hconn *c = &hw->c[i];

		c->fd = w->fds[i];
		c->idx = (uint32_t)(w->fds - w->ctx->fds) + i;
		c->rbuf = hw->arena + i * per;
		c->req = (char *)c->rbuf + LG_RBUF;
		c->next_url = c->idx % hc->n;
	}
	return 0;
}

static void http_worker_fini(struct lg_worker *w)
{
	struct http_worker *hw = w->mode;

	if (!hw)
		return;
	for (uint32_t i = 0; hw->c && i < hw->n; i++)
		if (hw->c[i].fd >= 0)
			close(hw->c[i].fd);
	if (hw->arena)
		munmap(hw->arena, hw->arena_len);
	free(hw->c);
	free(hw);
}

/* ---- connection events ---- */

static const char *hc_url(const struct lg_worker *w, const struct hconn *c)
{
	return ((const struct http_ctx *)w->ctx->mode)->u[c->url].url;
}

static void begin_close(struct hconn *c)
{
	if (c->state == HC_CLOSING || c->state == HC_DEAD)
		return;
	c->state = HC_CLOSING;
	shutdown(c->fd, SHUT_RDWR);
}

static void post_recv(struct lg_worker *w, struct hconn *c, uint32_t i)
{
	lg_post_recv(w, c->fd, c->rbuf + c->rlen, LG_RBUF - c->rlen, (uint64_t)i << 2 | OP_RECV);
	c->recv_posted = true;
}

/* The response to the request in flight: status and length as asked? */
static void on_head(struct lg_worker *w, struct hconn *c, const struct head *h)
{
	const struct http_ctx *hc = w->ctx->mode;
	bool range = w->ctx->o.http_kind == LG_HTTP_RANGE;
	bool whole_ok = c->off == 0 && c->want == hc->u[c->url].size;

	c->clen = h->len;
	c->got = 0;
	c->close_after = h->close;
	c->mism = false;
	c->ok = h->len == c->want &&
		((range && h->status == 206) || ((!range || whole_ok) && h->status == 200));
	if (!c->ok) {
		w->st.bad_status++;
		lg_error(w, "%s bytes %llu+%llu: status %d, Content-Length %llu", hc->u[c->url].url,
			 (unsigned long long)c->off, (unsigned long long)c->want, h->status,
			 (unsigned long long)h->len);
	}
	c->state = HC_BODY;
}

static void on_body(struct lg_worker *w, struct hconn *c, const uint8_t *p, uint64_t k)
{
	const struct http_url *u = &((const struct http_ctx *)w->ctx->mode)->u[c->url];

	if (!c->ok)
		return;
	w->st.bytes += k;
	if (u->map && !c->mism && !w->ctx->o.no_verify && memcmp(u->map + c->off + c->got, p, k)) {
		c->mism = true;
		w->st.mismatches++;
		lg_error(w, "%s: body bytes %llu..%llu differ from %s", u->url,
			 (unsigned long long)(c->off + c->got),
			 (unsigned long long)(c->off + c->got + k - 1), u->local);
	}
}

static void process(struct lg_worker *w, struct hconn *c, uint64_t now)
{
	const struct http_ctx *hc = w->ctx->mode;
	uint32_t p = 0;

	for (;;) {
		if (c->state == HC_HEAD) {
			uint8_t *end = memmem(c->rbuf + p, c->rlen - p, "\r\n\r\n", 4);
			struct head h;

			if (!end) {
				if (c->rlen - p > HEAD_MAX) {
					lg_error(w, "connection %u: response head over %u bytes",
						 c->idx, HEAD_MAX);
					begin_close(c);
				}
				break;
			}
			if (parse_head((char *)c->rbuf + p, (size_t)(end + 4 - (c->rbuf + p)),
				       &h) ||
			    !h.has_len) {
				w->st.bad_status++;
				lg_error(w, "connection %u: %s", c->idx,
					 h.status ? "response without Content-Length"
						  : "malformed response head");
				begin_close(c);
				break;
			}
			on_head(w, c, &h);
			p = (uint32_t)(end + 4 - c->rbuf);
		}
		if (c->state == HC_BODY) {
			uint64_t k = c->rlen - p;

			if (k > c->clen - c->got)
				k = c->clen - c->got;
			on_body(w, c, c->rbuf + p, k);
			c->got += k;
			p += (uint32_t)k;
			if (c->got < c->clen)
				break;
			if (c->ok && !c->mism) {
				w->st.requests++;
				lg_hist_add(&w->st.lat, now - c->sent_ns);
				if (hc->u[c->url].map && !w->ctx->o.no_verify)
					w->st.verified++;
			}
			c->state = HC_IDLE;
			if (c->close_after) {
				begin_close(c);
				break;
			}
		}
		if (c->state == HC_IDLE && p < c->rlen) {
			lg_error(w, "connection %u: %u bytes nobody asked for", c->idx,
				 c->rlen - p);
			begin_close(c);
		}
		break;
	}
	memmove(c->rbuf, c->rbuf + p, c->rlen - p);
	c->rlen -= p;
}

static void http_on_cqe(struct lg_worker *w, uint64_t ud, int res, uint64_t now)
{
	struct http_worker *hw = w->mode;
	uint32_t i = (uint32_t)(ud >> 2);
	struct hconn *c = &hw->c[i];

	switch (ud & 3) {
	case OP_CONNECT:
		c->send_posted = false;
		if (res < 0) {
			lg_error(w, "reconnect to %s: %s", w->ctx->addr_str, strerror(-res));
			close(c->fd);
			c->fd = -1;
			c->state = HC_DEAD;
			w->n_live--;
			return;
		}
		c->state = HC_IDLE;
		post_recv(w, c, i);
		return;
	case OP_SEND:
		c->send_posted = false;
		if (res < 0) {
			if (c->state != HC_CLOSING)
				lg_error(w, "connection %u: send: %s", c->idx, strerror(-res));
			begin_close(c);
		} else if (c->state == HC_HEAD && c->req_off + (uint32_t)res < c->req_len) {
			c->req_off += (uint32_t)res;
			lg_post_send(w, c->fd, c->req + c->req_off, c->req_len - c->req_off,
				     (uint64_t)i << 2 | OP_SEND);
			c->send_posted = true;
		}
		return;
	default: break;
	}
	c->recv_posted = false;
	if (res <= 0) {
		if (c->state == HC_BODY) {
			w->st.short_bodies++;
			lg_error(w, "%s: body ended after %llu of %llu bytes", hc_url(w, c),
				 (unsigned long long)c->got, (unsigned long long)c->clen);
		} else if (c->state == HC_HEAD) {
			lg_error(w, "connection %u: %s before the response", c->idx,
				 res ? strerror(-res) : "closed");
		}
		begin_close(c);
		return;
	}
	c->rlen += (uint32_t)res;
	process(w, c, now);
	if (c->state != HC_CLOSING)
		post_recv(w, c, i);
}

/* ---- issuing requests ---- */

static void issue(struct lg_worker *w, struct hconn *c, uint32_t i, uint64_t now)
{
	const struct http_ctx *hc = w->ctx->mode;
	const struct http_url *u;
	uint64_t rs = w->ctx->o.range_size;
	int n;

	if (w->ctx->o.http_kind == LG_HTTP_RANGE) {
		c->url = (uint32_t)(lg_rand(w) % hc->n);
		u = &hc->u[c->url];
		c->off = lg_rand(w) % ((u->size + rs - 1) / rs) * rs;
		c->want = u->size - c->off < rs ? u->size - c->off : rs;
		n = snprintf(c->req, REQ_MAX,
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n"
			     "Range: bytes=%llu-%llu\r\n\r\n",
			     u->target, hc->authority, (unsigned long long)c->off,
			     (unsigned long long)(c->off + c->want - 1));
	} else {
		c->url = c->next_url;
		c->next_url = (c->next_url + 1) % hc->n;
		u = &hc->u[c->url];
		c->off = 0;
		c->want = u->size;
		n = snprintf(c->req, REQ_MAX,
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: loadgen\r\n\r\n",
			     u->target, hc->authority);
	}
	c->req_len = (uint32_t)n;
	c->req_off = 0;
	c->sent_ns = now;
	c->state = HC_HEAD;
	lg_post_send(w, c->fd, c->req, c->req_len, (uint64_t)i << 2 | OP_SEND);
	c->send_posted = true;
}

/* A closed connection's last op is back: close it, and open a new one
 * unless the run is stopping. */
static void reopen(struct lg_worker *w, struct hconn *c, uint32_t i)
{
	int one = 1;

	close(c->fd);
	c->fd = -1;
	c->rlen = 0;
	if (w->stopping) {
		c->state = HC_DEAD;
		w->n_live--;
		return;
	}
	w->st.reconnects++;
	c->fd = socket(w->ctx->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		lg_error(w, "socket: %s", strerror(errno));
		c->state = HC_DEAD;
		w->n_live--;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = HC_CONNECTING;
	lg_post_connect(w, c->fd, (const struct sockaddr *)&w->ctx->addr, w->ctx->addr_len,
			(uint64_t)i << 2 | OP_CONNECT);
	c->send_posted = true; /* the connect holds the send side */
}

static void http_start(struct lg_worker *w, uint64_t now)
{
	struct http_worker *hw = w->mode;

	(void)now;
	for (uint32_t i = 0; i < hw->n; i++)
		post_recv(w, &hw->c[i], i);
	w->n_live = hw->n;
}

static void http_flush(struct lg_worker *w, uint64_t now)
{
	struct http_worker *hw = w->mode;

	for (uint32_t i = 0; i < hw->n; i++) {
		struct hconn *c = &hw->c[i];

		if (c->state == HC_CLOSING && !c->recv_posted && !c->send_posted)
			reopen(w, c, i);
		else if (c->state == HC_IDLE && !w->stopping && !c->send_posted)
			issue(w, c, i, now);
	}
}

static bool http_quiet(const struct lg_worker *w)
{
	const struct http_worker *hw = w->mode;

	for (uint32_t i = 0; i < hw->n; i++)
		if (hw->c[i].state == HC_HEAD || hw->c[i].state == HC_BODY)
			return false;
	return true;
}

static void http_shutdown(struct lg_worker *w)
{
	struct http_worker *hw = w->mode;

	for (uint32_t i = 0; i < hw->n; i++)
		if (hw->c[i].fd >= 0)
			shutdown(hw->c[i].fd, SHUT_RDWR);
}

const struct lg_mode_ops lg_http_ops = {
	.setup = http_setup,
	.worker_init = http_worker_init,
	.start = http_start,
	.on_cqe = http_on_cqe,
	.flush = http_flush,
	.quiet = http_quiet,
	.shutdown = http_shutdown,
	.worker_fini = http_worker_fini,
	.ctx_fini = http_ctx_fini,
};
