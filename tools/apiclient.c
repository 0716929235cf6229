/*
 * apiclient: see apiclient.h. The exchange is connect, send, then receive
 * into one growing buffer until the answer is complete; parse_head() reads
 * the status line and headers from that buffer and does no I/O, so every
 * byte the server sends is checked against the bounds before it is kept.
 */
#include "apiclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

const char *apic_socket_path(const char *opt)
{
	if (opt)
		return opt;
	const char *env = getenv(APIC_SOCKET_ENV);
	return env && *env ? env : APIC_DEFAULT_SOCKET;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies src[0..n) into dst (always terminated), control bytes as '?'. */
static void clean_copy(char *dst, size_t dlen, const char *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < dlen; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	dst[j] = '\0';
}

/* Waits for `events` on fd until the deadline. 0, -ETIMEDOUT or -EINTR. */
static int wait_fd(int fd, short events, int64_t deadline, const _Atomic int *cancel)
{
	for (;;) {
		if (cancel && atomic_load(cancel))
			return -EINTR;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int do_connect(const char *path, int timeout_ms, const _Atomic int *cancel,
		      struct seed_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(sa.sun_path))
		return seed_err_set(err, -EINVAL, "API socket path \"%s\": %s", path,
				    n ? "too long for a Unix socket" : "empty");
	memcpy(sa.sun_path, path, n);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return seed_err_set(err, -errno, "cannot create a socket: %s", strerror(errno));
	/* A blocking connect honours SO_SNDTIMEO on Unix sockets (a full
	 * backlog waits), so it shares the exchange's deadline. */
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR && !(cancel && atomic_load(cancel)));
	if (r < 0) {
		int e = errno;
		close(fd);
		switch (e) {
		case ENOENT:
		case ECONNREFUSED:
			return seed_err_set(err, -ENOENT,
					    "seed-control is not running (no socket at %s)", path);
		case EACCES:
		case EPERM:
			return seed_err_set(err, -EACCES,
					    "permission denied on %s (seedctl needs membership of "
					    "seed-control's admin group, seed by default, or its "
					    "read-only group, seed-ro)",
					    path);
		case EINTR: return seed_err_set(err, -EINTR, "cancelled");
		case EAGAIN:
		case EINPROGRESS:
			return seed_err_set(err, -ETIMEDOUT,
					    "seed-control at %s is not accepting connections "
					    "(timed out after %d ms)",
					    path, timeout_ms);
		case ENOTDIR:
		case ENOTSOCK:
			return seed_err_set(err, -ENOENT,
					    "seed-control is not running (no socket at %s: %s)",
					    path, strerror(e));
		default:
			return seed_err_set(err, -e, "cannot connect to %s: %s", path, strerror(e));
		}
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return seed_err_set(err, -e, "%s: %s", path, strerror(e));
	}
	return fd;
}

/* The request line's parts must not smuggle CR, LF, spaces or controls. */
static int token_ok(const char *s, int allow_slash)
{
	if (!*s)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || (!allow_slash && *p == '/'))
			return 0;
	return 1;
}

/* ---- the response head (no I/O) ---- */

struct head {
	size_t len;	     /* bytes of status line + headers + blank line */
	int status;	     /* 100..999 */
	int minor;	     /* HTTP/1.minor */
	int has_cl, close;   /* Content-Length seen; Connection: close */
	uint64_t cl;	     /* Content-Length */
	char reason[64];     /* cleaned */
	const char *bad_hdr; /* for messages */
};

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Next line of buf[pos..end): sets *ln, *lnlen (without CR LF) and returns
 * the position after the LF, or 0 when no LF is there. */
static size_t next_line(const char *buf, size_t pos, size_t end, const char **ln, size_t *lnlen)
{
	const char *lf = memchr(buf + pos, '\n', end - pos);
	if (!lf)
		return 0;
	size_t n = (size_t)(lf - (buf + pos));
	if (n && buf[pos + n - 1] == '\r')
		n--;
	*ln = buf + pos;
	*lnlen = n;
	return (size_t)(lf - buf) + 1;
}

/* Case-insensitive: does the comma-separated list v[0..n) hold `tok`? */
static int list_has(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && !strncasecmp(v + s, tok, tl))
			return 1;
	}
	return 0;
}

/*
 * Parses the head at buf[0..n). Returns 1 when complete (h filled), 0 when
 * more bytes are needed, or -errno with err set.
 */
static int parse_head(const char *buf, size_t n, struct head *h, struct seed_err *err)
{
	const char *ln;
	size_t lnlen, pos;
	size_t lim = n < APIC_MAX_HEAD ? n : APIC_MAX_HEAD;

	memset(h, 0, sizeof(*h));
	pos = next_line(buf, 0, lim, &ln, &lnlen);
	if (!pos) {
		if (n >= 8 && memcmp(buf, "HTTP/1.", 7))
			goto bad_status;
		if (n >= APIC_MAX_HEAD)
			return seed_err_set(err, -EFBIG, "answer head longer than %u bytes",
					    APIC_MAX_HEAD);
		return 0;
	}
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (lnlen < 12 || memcmp(ln, "HTTP/1.", 7) || ln[7] < '0' || ln[7] > '9' || ln[8] != ' ' ||
	    ln[9] < '1' || ln[9] > '9' || ln[10] < '0' || ln[10] > '9' || ln[11] < '0' ||
	    ln[11] > '9' || (lnlen > 12 && ln[12] != ' '))
		goto bad_status;
	h->minor = ln[7] - '0';
	h->status = (ln[9] - '0') * 100 + (ln[10] - '0') * 10 + (ln[11] - '0');
	h->close = h->minor == 0;
	if (lnlen > 13)
		clean_copy(h->reason, sizeof(h->reason), ln + 13, lnlen - 13);

	for (;;) {
		size_t nx = next_line(buf, pos, lim, &ln, &lnlen);
		if (!nx) {
			if (n >= APIC_MAX_HEAD)
				return seed_err_set(err, -EFBIG, "answer head longer than %u bytes",
						    APIC_MAX_HEAD);
			return 0;
		}
		pos = nx;
		if (lnlen == 0)
			break;
		size_t c = 0;
		while (c < lnlen && is_tchar((unsigned char)ln[c]))
			c++;
		if (c == 0 || c == lnlen || ln[c] != ':') {
			char show[80];
			clean_copy(show, sizeof(show), ln, lnlen);
			return seed_err_set(err, -EPROTO,
					    "malformed header line in the answer: \"%s\"", show);
		}
		const char *v = ln + c + 1;
		size_t vn = lnlen - c - 1;
		while (vn && (*v == ' ' || *v == '\t'))
			v++, vn--;
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			vn--;
		if (c == 14 && !strncasecmp(ln, "content-length", 14)) {
			uint64_t x = 0;
			if (vn == 0 || vn > 18)
				goto bad_cl;
			for (size_t i = 0; i < vn; i++) {
				if (v[i] < '0' || v[i] > '9')
					goto bad_cl;
				x = x * 10 + (uint64_t)(v[i] - '0');
			}
			if (h->has_cl && h->cl != x)
				goto bad_cl;
			h->has_cl = 1;
			h->cl = x;
		} else if (c == 17 && !strncasecmp(ln, "transfer-encoding", 17)) {
			return seed_err_set(err, -EPROTO,
					    "the answer uses Transfer-Encoding, which seedctl does "
					    "not support (expected Content-Length)");
		} else if (c == 10 && !strncasecmp(ln, "connection", 10)) {
			if (list_has(v, vn, "close"))
				h->close = 1;
		}
	}
	h->len = pos;
	return 1;

bad_status:
	return seed_err_set(err, -EPROTO,
			    "not an HTTP/1.x answer (is this seed-control's socket?)");
bad_cl:
	return seed_err_set(err, -EPROTO, "malformed Content-Length in the answer");
}

/* ---- the exchange ---- */

static int send_all(int fd, const char *p, size_t n, int64_t deadline, const struct apic_opts *o,
		    const char *path, struct seed_err *err)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(fd, POLLOUT, deadline, o->cancel);
			if (r == -ETIMEDOUT)
				return seed_err_set(err, r,
						    "seed-control at %s did not take the request "
						    "within %d ms",
						    path, o->timeout_ms);
			if (r < 0)
				return seed_err_set(err, r, "cancelled");
			continue;
		}
		int e = w < 0 ? errno : EPIPE;
		return seed_err_set(err, -e, "sending to %s: %s", path, strerror(e));
	}
	return 0;
}

static char *build_request(const char *method, const char *path, const json_t *body,
			   size_t *out_len, struct seed_err *err)
{
	char *b = NULL, *req = NULL;
	size_t blen = 0;
	if (body) {
		b = json_dumps(body, JSON_COMPACT);
		if (!b) {
			seed_err_set(err, -ENOMEM, "cannot encode the request body");
			return NULL;
		}
		blen = strlen(b);
	}
	int n = asprintf(&req,
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: seedctl/%s\r\n"
			 "Accept: application/json\r\nConnection: close\r\n%s"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, path, SEED_VERSION,
			 body ? "Content-Type: application/json\r\n" : "", blen, b ? b : "");
	free(b);
	if (n < 0) {
		seed_err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	*out_len = (size_t)n;
	return req;
}

/* The error line for a non-2xx answer: its {"error": "..."} or the status. */
static int server_error(const struct head *h, const char *body, size_t n, struct seed_err *err)
{
	json_t *j = n ? json_loadb(body, n, 0, NULL) : NULL;
	const char *m = j ? json_string_value(json_object_get(j, "error")) : NULL;
	if (m && *m) {
		char clean[SEED_ERR_MSG_MAX];
		clean_copy(clean, sizeof(clean), m, strlen(m));
		seed_err_set(err, -EREMOTEIO, "%s", clean);
	} else {
		seed_err_set(err, -EREMOTEIO, "seed-control answered HTTP %d%s%s", h->status,
			     h->reason[0] ? " " : "", h->reason);
	}
	json_decref(j);
	return -EREMOTEIO;
}

int apic_call(const struct apic_opts *o_in, const char *method, const char *path,
	      const json_t *body, json_t **out_json, int *out_status, struct seed_err *err)
{
	struct apic_opts o = o_in ? *o_in : (struct apic_opts){ 0 };
	if (!o.socket_path)
		o.socket_path = apic_socket_path(NULL);
	if (o.timeout_ms <= 0)
		o.timeout_ms = APIC_TIMEOUT_MS;
	if (!o.max_body)
		o.max_body = APIC_MAX_BODY;
	*out_json = NULL;
	if (out_status)
		*out_status = 0;
	if (!token_ok(method, 0) || path[0] != '/' || !token_ok(path, 1))
		return seed_err_set(err, -EINVAL, "invalid request \"%s %s\"", method, path);

	int64_t deadline = now_ms() + o.timeout_ms;
	size_t reqlen;
	char *req = build_request(method, path, body, &reqlen, err);
	if (!req)
		return err ? err->code : -ENOMEM;
	int fd = do_connect(o.socket_path, o.timeout_ms, o.cancel, err);
	if (fd < 0) {
		free(req);
		return fd;
	}
	/* A server that refuses a request early (413) may close before taking
	 * all of it: its answer is still read, and the send error is only
	 * reported when there is none. */
	struct seed_err serr;
	seed_err_clear(&serr);
	int send_rc = send_all(fd, req, reqlen, deadline, &o, o.socket_path, &serr), rc = 0;
	free(req);
	if (send_rc < 0 && send_rc != -EPIPE && send_rc != -ECONNRESET) {
		close(fd);
		if (err && !err->code)
			*err = serr;
		return send_rc;
	}

	/* Receive. cap bounds what is ever kept: the head plus the body. */
	size_t cap_max = APIC_MAX_HEAD + o.max_body, cap = 16384, len = 0;
	char *buf = malloc(cap);
	struct head h;
	int have_head = 0, eof = 0;
	uint64_t want = 0; /* total bytes (head + body) when known */
	if (!buf) {
		close(fd);
		return seed_err_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		if (!have_head) {
			int r = parse_head(buf, len, &h, err);
			if (r < 0) {
				rc = r;
				goto out;
			}
			if (r > 0) {
				have_head = 1;
				if (h.status < 200) {
					rc = seed_err_set(err, -EPROTO,
							  "unexpected interim answer HTTP %d",
							  h.status);
					goto out;
				}
				if (h.status == 204 || h.status == 304) {
					h.has_cl = 1;
					h.cl = 0;
				}
				if (h.has_cl && h.cl > o.max_body) {
					rc = seed_err_set(
						err, -EFBIG,
						"answer too large: %llu bytes (limit %zu)",
						(unsigned long long)h.cl, o.max_body);
					goto out;
				}
				if (!h.has_cl && !h.close) {
					rc = seed_err_set(err, -EPROTO,
							  "answer without Content-Length");
					goto out;
				}
				if (h.has_cl)
					want = h.len + h.cl;
			}
		}
		if (have_head && h.has_cl && len >= want)
			break;
		if (eof) {
			if (!len && send_rc < 0)
				goto send_failed;
			if (!have_head)
				rc = seed_err_set(err, -EPROTO, "connection closed %s",
						  len ? "in the middle of the answer's head"
						      : "without an answer");
			else if (h.has_cl)
				rc = seed_err_set(err, -EPROTO,
						  "truncated answer: %zu of %llu body bytes",
						  len - h.len, (unsigned long long)h.cl);
			else
				break; /* Connection: close: the body ends here */
			goto out;
		}
		if (len == cap) {
			if (cap >= cap_max) {
				rc = have_head ? seed_err_set(err, -EFBIG,
							      "answer too large: more than %zu "
							      "bytes (limit %zu)",
							      len - h.len, o.max_body)
					       : seed_err_set(err, -EFBIG,
							      "answer head longer than %u bytes",
							      APIC_MAX_HEAD);
				goto out;
			}
			size_t nc = cap * 2 < cap_max ? cap * 2 : cap_max;
			char *nb = realloc(buf, nc);
			if (!nb) {
				rc = seed_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			buf = nb;
			cap = nc;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r > 0) {
			len += (size_t)r;
		} else if (r == 0) {
			eof = 1;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(fd, POLLIN, deadline, o.cancel);
			if (w == -ETIMEDOUT) {
				rc = seed_err_set(err, w,
						  "no answer from seed-control at %s within %d ms",
						  o.socket_path, o.timeout_ms);
				goto out;
			}
			if (w < 0) {
				rc = seed_err_set(err, w, "cancelled");
				goto out;
			}
		} else if (errno == ECONNRESET) {
			eof = 1; /* the server went away: as EOF, what it sent counts */
		} else if (errno != EINTR) {
			int e = errno;
			rc = seed_err_set(err, -e, "reading from %s: %s", o.socket_path,
					  strerror(e));
			goto out;
		}
	}

	/* Complete: the body is buf[h.len .. h.len + blen). */
	size_t blen = h.has_cl ? (size_t)h.cl : len - h.len;
	if (!h.has_cl && blen > o.max_body) {
		rc = seed_err_set(err, -EFBIG, "answer too large: %zu bytes (limit %zu)", blen,
				  o.max_body);
		goto out;
	}
	if (out_status)
		*out_status = h.status;
	if (h.status >= 300) {
		rc = server_error(&h, buf + h.len, blen, err);
		goto out;
	}
	if (blen) {
		json_error_t je;
		json_t *j = json_loadb(buf + h.len, blen, 0, &je);
		if (!j) {
			char m[200];
			clean_copy(m, sizeof(m), je.text, strlen(je.text));
			rc = seed_err_set(err, -EPROTO,
					  "seed-control sent a body that is not JSON: %s (byte %d)",
					  m, je.position);
			goto out;
		}
		*out_json = j;
	}
	rc = 0;
	goto out;
send_failed:
	if (err && !err->code)
		*err = serr;
	rc = send_rc;
out:
	if (rc == -EPROTO || rc == -EFBIG)
		seed_err_prefix(err, "answer from %s: ", o.socket_path);
	free(buf);
	close(fd);
	return rc;
}

/* ---- arguments ---- */

int apic_path_escape(const char *seg, char *out, size_t outlen)
{
	static const char hx[] = "0123456789ABCDEF";
	size_t j = 0;
	if (!*seg || !strcmp(seg, ".") || !strcmp(seg, ".."))
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)seg; *p; p++) {
		int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
			    *p == '~';
		size_t need = plain ? 1 : 3;
		if (j + need >= outlen)
			return -ENAMETOOLONG;
		if (plain) {
			out[j++] = (char)*p;
		} else {
			out[j++] = '%';
			out[j++] = hx[*p >> 4];
			out[j++] = hx[*p & 15];
		}
	}
	out[j] = '\0';
	return (int)j;
}

/* n digits at s into *v; 0 or -1. */
static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int days_in(int y, int m)
{
	static const int d[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

#define MAX_AHEAD_S (10LL * 366 * 86400)

static int format_utc(int64_t t, const char *arg, char *out, size_t outlen, struct seed_err *err)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t < 0 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999)
		return seed_err_set(err, -EINVAL, "time \"%s\" is out of range", arg);
	if (outlen < 21 || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		return seed_err_set(err, -EINVAL, "time \"%s\": no room to format it", arg);
	return 0;
}

static int duration_arg(const char *s, int64_t now, char *out, size_t outlen, struct seed_err *err)
{
	const char *p = s + 1;
	int64_t total = 0;
	if (!*p)
		goto bad;
	while (*p) {
		int64_t v = 0;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (++nd > 10)
				goto range;
			v = v * 10 + (*p++ - '0');
		}
		if (nd == 0)
			goto bad;
		int64_t unit = *p == 'd'   ? 86400
			       : *p == 'h' ? 3600
			       : *p == 'm' ? 60
			       : *p == 's' ? 1
					   : 0;
		if (!unit)
			goto bad;
		p++;
		if (v > MAX_AHEAD_S / unit)
			goto range;
		total += v * unit;
		if (total > MAX_AHEAD_S)
			goto range;
	}
	return format_utc(now + total, s, out, outlen, err);
bad:
	return seed_err_set(err, -EINVAL,
			    "time \"%s\": expected +DURATION like +2h, +30m, +45s or +1d12h", s);
range:
	return seed_err_set(err, -EINVAL, "time \"%s\": more than ten years ahead", s);
}

int apic_time_arg(const char *s, int64_t now, char *out, size_t outlen, struct seed_err *err)
{
	if (s[0] == '+')
		return duration_arg(s, now, out, outlen, err);

	/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	size_t n = strlen(s);
	if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		goto bad;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			goto bad;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		sign = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && !digits(p + 1, 2, &oh) &&
		   p[3] == ':' && !digits(p + 4, 2, &om)) {
		sign = *p == '+' ? 1 : -1;
	} else {
		goto bad;
	}
	if (M < 1 || M > 12 || D < 1 || D > days_in(Y, M) || h > 23 || m > 59 || sec > 59 ||
	    oh > 23 || om > 59)
		return seed_err_set(err, -EINVAL, "time \"%s\": no such date or time", s);
	struct tm tm = { .tm_year = Y - 1900,
			 .tm_mon = M - 1,
			 .tm_mday = D,
			 .tm_hour = h,
			 .tm_min = m,
			 .tm_sec = sec };
	int64_t t = (int64_t)timegm(&tm) - sign * (int64_t)(oh * 3600 + om * 60);
	return format_utc(t, s, out, outlen, err);
bad:
	return seed_err_set(err, -EINVAL,
			    "time \"%s\": expected RFC 3339 like 2026-12-01T18:00:00Z or "
			    "+DURATION like +2h",
			    s);
}
