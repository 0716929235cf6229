/*
 * announce: see announce.h for the contract (URL forms, message layouts,
 * return codes, scheduler call order).
 *
 * Structure. Four parts, sharing only the byte helpers below; HTTP/1
 * lexing and the bounded writer are lib/http1's, big-endian fields
 * lib/byteio's:
 *  - URL parsing checks every byte first (printable ASCII, no space), then
 *    splits scheme, authority and target; nothing is decoded, the target is
 *    sent as given.
 *  - Builders write through struct http1_wbuf, which remembers an overflow
 *    and turns it into -ENOBUFS once at the end, so each field is one line.
 *  - The HTTP response parser is re-run from the start on every call with
 *    all bytes so far (the caller keeps them): a response is at most
 *    ANNOUNCE_HTTP_HEAD_MAX + a bounded body, so re-scanning is cheap and
 *    the engine keeps no per-connection state. A chunked body is copied,
 *    de-chunked, into a heap buffer freed before return (the control
 *    plane may allocate; bencode_parse does too). It validates the head line
 *    by line as far as it has arrived (so garbage fails early, before the
 *    rest comes), finds the body by Content-Length, chunking or close, and
 *    hands the body to bencode_parse(). Everything the caller gets is
 *    copied into struct announce_resp; no pointer into the input survives.
 *  - The scheduler is a small state machine over absolute ms times; all
 *    additions saturate, so a huge interval can never wrap into "due now".
 *
 * Invariants: a parser never reads outside [buf, end); every length read
 * from the wire is checked against the bytes present before use; peers are
 * stored only below peers_cap; tracker text reaches the caller only
 * sanitized and bounded; once a response prefix gets a verdict other than
 * -EAGAIN, more bytes (or the end of stream) never change it (the fuzz
 * harness checks this); the scheduler's next due time is never before
 * earliest_ms except for `stopped`.
 */
#include "announce.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bencode.h"
#include "byteio.h"
#include "http1.h"

/* ---- byte helpers ---- */

static int is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static int is_scheme_byte(uint8_t c, int first)
{
	if (is_alpha(c))
		return 1;
	return !first && (http1_is_digit(c) || c == '+' || c == '-' || c == '.');
}

/*
 * Copies tracker text into a fixed field: at most ANNOUNCE_MSG_MAX bytes,
 * every byte outside ' '..'~' replaced by '?', so the text is safe to log
 * or show as is (no terminal escapes, no newlines splitting a log line).
 * Trailing NULs and whitespace go first: opentracker ends its UDP error
 * text with a NUL, which would otherwise show as a stray '?'.
 */
static void copy_text(char dst[ANNOUNCE_MSG_MAX + 1], int *cut, const uint8_t *p, size_t n)
{
	size_t k;

	while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' ||
			 p[n - 1] == '\n'))
		n--;
	k = n < ANNOUNCE_MSG_MAX ? n : ANNOUNCE_MSG_MAX;

	for (size_t i = 0; i < k; i++)
		dst[i] = (p[i] >= 0x20 && p[i] <= 0x7e) ? (char)p[i] : '?';
	dst[k] = '\0';
	*cut = n > k;
}

/* ---- tracker URLs ---- */

/* Strict dotted quad: four decimal parts 0..255, no leading zeros. */
static int parse_ipv4(const char *p, size_t n, uint8_t out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return -1;
			i++;
		}
		while (i < n && http1_is_digit((uint8_t)p[i])) {
			if (digits == 1 && v == 0)
				return -1;
			v = v * 10 + (unsigned)(p[i] - '0');
			if (++digits > 3 || v > 255)
				return -1;
			i++;
		}
		if (!digits)
			return -1;
		out[part] = (uint8_t)v;
	}
	return i == n ? 0 : -1;
}

/* An IPv6 literal in text form (no brackets, no zone). */
static int parse_ipv6(const char *p, size_t n, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1 ? 0 : -1;
}

/* The host of a URL, [h, h + n) at offset off; IPv6 brackets already removed. */
static int parse_host(const char *h, size_t n, size_t off, int bracketed, struct announce_url *u,
		      struct seed_err *err)
{
	int numeric = 1;
	size_t label = 0;

	if (bracketed) {
		for (size_t i = 0; i < n; i++)
			if (h[i] == '%')
				return seed_err_set_at(
					err, -EINVAL, off + i,
					"tracker URL: IPv6 zone identifiers are not supported");
		if (parse_ipv6(h, n, u->addr) < 0)
			return seed_err_set_at(err, -EINVAL, off,
					       "tracker URL: bad IPv6 address '%.*s'", (int)n, h);
		u->host_kind = ANNOUNCE_HOST_IPV6;
		memcpy(u->host, h, n);
		u->host[n] = '\0';
		return 0;
	}
	if (n == 0)
		return seed_err_set_at(err, -EINVAL, off, "tracker URL: empty host");
	if (n > ANNOUNCE_HOST_MAX)
		return seed_err_set_at(err, -ENAMETOOLONG, off,
				       "tracker URL: host is %zu bytes, over %d", n,
				       ANNOUNCE_HOST_MAX);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)h[i];

		if (c == '.') {
			/* an empty label, except the root after a final dot */
			if (label == 0)
				return seed_err_set_at(err, -EINVAL, off + i,
						       "tracker URL: empty label in host");
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !http1_is_digit(c) && c != '-' && c != '_')
			return seed_err_set_at(err, -EINVAL, off + i,
					       "tracker URL: invalid byte '%c' in host", c);
		if (!http1_is_digit(c))
			numeric = 0;
		if (++label > 63)
			return seed_err_set_at(err, -EINVAL, off + i,
					       "tracker URL: host label over 63 bytes");
	}
	if (numeric) {
		/* digits and dots only: it must be an address, never a name */
		if (parse_ipv4(h, n, u->addr) < 0)
			return seed_err_set_at(err, -EINVAL, off,
					       "tracker URL: bad IPv4 address '%.*s'", (int)n, h);
		u->host_kind = ANNOUNCE_HOST_IPV4;
	} else {
		u->host_kind = ANNOUNCE_HOST_NAME;
	}
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	return 0;
}

int announce_url_parse(const char *buf, const char *end, struct announce_url *out,
		       struct seed_err *err)
{
	size_t len, i, a, auth_end, host_end;
	int rc, bracketed = 0;
	const char *h;
	size_t hn;

	if (!buf || !end || end < buf || !out)
		return seed_err_set(err, -EINVAL, "tracker URL: no input");
	memset(out, 0, sizeof(*out));
	len = (size_t)(end - buf);
	if (len > ANNOUNCE_URL_MAX)
		return seed_err_set(err, -ENAMETOOLONG, "tracker URL: %zu bytes, over the %d limit",
				    len, ANNOUNCE_URL_MAX);
	/* Every part ends up in a request line or a Host header: no controls, spaces or 8-bit. */
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)buf[i];

		if (c <= 0x20 || c >= 0x7f)
			return seed_err_set_at(err, -EINVAL, i,
					       "tracker URL: invalid byte 0x%02x at byte %zu", c,
					       i);
	}

	for (i = 0; i < len && is_scheme_byte((uint8_t)buf[i], i == 0); i++)
		;
	if (i == 0 || len - i < 3 || memcmp(buf + i, "://", 3) != 0)
		return seed_err_set_at(err, -EINVAL, i,
				       "tracker URL: no scheme (want http:// or udp://)");
	if (http1_ieq((const uint8_t *)buf, (const uint8_t *)buf + i, "http")) {
		out->scheme = ANNOUNCE_SCHEME_HTTP;
	} else if (http1_ieq((const uint8_t *)buf, (const uint8_t *)buf + i, "udp")) {
		out->scheme = ANNOUNCE_SCHEME_UDP;
	} else if (http1_ieq((const uint8_t *)buf, (const uint8_t *)buf + i, "https")) {
		return seed_err_set_at(err, -EPROTONOSUPPORT, 0,
				       "tracker URL: https trackers are not supported (no TLS "
				       "client); use http:// or udp://");
	} else {
		return seed_err_set_at(err, -EPROTONOSUPPORT, 0,
				       "tracker URL: scheme '%.*s' is not supported", (int)i, buf);
	}

	a = i + 3;
	for (auth_end = a; auth_end < len; auth_end++)
		if (buf[auth_end] == '/' || buf[auth_end] == '?' || buf[auth_end] == '#')
			break;
	for (i = a; i < auth_end; i++)
		if (buf[i] == '@')
			return seed_err_set_at(err, -EINVAL, i,
					       "tracker URL: user information is not supported");

	if (a < auth_end && buf[a] == '[') {
		const char *rb = memchr(buf + a, ']', auth_end - a);

		if (!rb)
			return seed_err_set_at(err, -EINVAL, a, "tracker URL: '[' without ']'");
		bracketed = 1;
		h = buf + a + 1;
		hn = (size_t)(rb - h);
		host_end = (size_t)(rb - buf) + 1;
		if (host_end < auth_end && buf[host_end] != ':')
			return seed_err_set_at(err, -EINVAL, host_end,
					       "tracker URL: junk after IPv6 address");
	} else {
		const char *colon = memchr(buf + a, ':', auth_end - a);

		host_end = colon ? (size_t)(colon - buf) : auth_end;
		h = buf + a;
		hn = host_end - a;
	}
	rc = parse_host(h, hn, (size_t)(h - buf), bracketed, out, err);
	if (rc)
		return rc;

	if (host_end < auth_end) { /* buf[host_end] == ':' */
		unsigned long port = 0;
		size_t p = host_end + 1;

		if (p == auth_end)
			return seed_err_set_at(err, -EINVAL, p, "tracker URL: empty port");
		for (i = p; i < auth_end; i++) {
			if (!http1_is_digit((uint8_t)buf[i]))
				return seed_err_set_at(err, -EINVAL, i,
						       "tracker URL: invalid byte '%c' in port",
						       buf[i]);
			if (i - p >= 5)
				return seed_err_set_at(err, -EINVAL, p,
						       "tracker URL: port out of range");
			port = port * 10 + (unsigned long)(buf[i] - '0');
		}
		if (port == 0 || port > 65535)
			return seed_err_set_at(err, -EINVAL, p,
					       "tracker URL: port %lu out of range", port);
		out->port = (uint16_t)port;
	} else if (out->scheme == ANNOUNCE_SCHEME_UDP) {
		return seed_err_set_at(err, -EINVAL, auth_end, "tracker URL: udp needs a port");
	} else {
		out->port = 80;
	}

	/* The fragment is never sent; one in a tracker URL is a mistake, so say so. */
	{
		const char *hash = memchr(buf + auth_end, '#', len - auth_end);

		if (hash)
			return seed_err_set_at(err, -EINVAL, (size_t)(hash - buf),
					       "tracker URL: fragments ('#') are not allowed");
	}
	if (out->scheme == ANNOUNCE_SCHEME_HTTP && (auth_end == len || buf[auth_end] == '?')) {
		out->target[0] = '/';
		memcpy(out->target + 1, buf + auth_end, len - auth_end);
		out->target[len - auth_end + 1] = '\0';
	} else {
		memcpy(out->target, buf + auth_end, len - auth_end);
		out->target[len - auth_end] = '\0';
	}
	return 0;
}

/* ---- requests ---- */

const char *announce_event_name(enum announce_event ev)
{
	switch (ev) {
	case ANNOUNCE_EVENT_NONE: return "none";
	case ANNOUNCE_EVENT_COMPLETED: return "completed";
	case ANNOUNCE_EVENT_STARTED: return "started";
	case ANNOUNCE_EVENT_STOPPED: return "stopped";
	}
	return "?";
}

static int check_req(const struct announce_req *req, struct seed_err *err)
{
	if (!req)
		return seed_err_set(err, -EINVAL, "announce: no request");
	if (req->port == 0)
		return seed_err_set(err, -EINVAL, "announce: port 0");
	if ((unsigned)req->event > ANNOUNCE_EVENT_STOPPED)
		return seed_err_set(err, -EINVAL, "announce: unknown event %d", (int)req->event);
	return 0;
}

int announce_http_build(const struct announce_url *url, const struct announce_req *req,
			const char *user_agent, char *out, size_t cap, struct seed_err *err)
{
	struct http1_wbuf w;
	uint8_t none, key[4];
	const char *ua = user_agent ? user_agent : ANNOUNCE_DEFAULT_UA;
	size_t ualen = strlen(ua), tlen;
	int rc;

	if (!url || url->scheme != ANNOUNCE_SCHEME_HTTP)
		return seed_err_set(err, -EINVAL, "announce: not an http tracker URL");
	rc = check_req(req, err);
	if (rc)
		return rc;
	if (ualen == 0 || ualen > ANNOUNCE_UA_MAX)
		return seed_err_set(err, -EINVAL, "announce: User-Agent of %zu bytes", ualen);
	for (size_t i = 0; i < ualen; i++)
		if ((uint8_t)ua[i] < 0x20 || (uint8_t)ua[i] > 0x7e)
			return seed_err_set(err, -EINVAL,
					    "announce: invalid byte 0x%02x in User-Agent",
					    (uint8_t)ua[i]);

	tlen = strnlen(url->target, sizeof(url->target));
	if (tlen == 0 || tlen == sizeof(url->target) || url->target[0] != '/' || !url->host[0])
		return seed_err_set(err, -EINVAL, "announce: malformed tracker URL");
	http1_wbuf_init(&w, out ? (void *)out : &none, out ? cap : 0);
	http1_put_str(&w, "GET ");
	http1_put(&w, url->target, tlen);
	if (!memchr(url->target, '?', tlen))
		http1_put_str(&w, "?");
	else if (url->target[tlen - 1] != '?' && url->target[tlen - 1] != '&')
		http1_put_str(&w, "&");
	http1_put_str(&w, "info_hash=");
	http1_put_pct(&w, req->info_hash, 20);
	http1_put_str(&w, "&peer_id=");
	http1_put_pct(&w, req->peer_id, 20);
	http1_put_str(&w, "&port=");
	http1_put_u64(&w, req->port);
	http1_put_str(&w, "&uploaded=");
	http1_put_u64(&w, req->uploaded);
	http1_put_str(&w, "&downloaded=");
	http1_put_u64(&w, req->downloaded);
	http1_put_str(&w, "&left=");
	http1_put_u64(&w, req->left);
	if (req->event != ANNOUNCE_EVENT_NONE) {
		http1_put_str(&w, "&event=");
		http1_put_str(&w, announce_event_name(req->event));
	}
	http1_put_str(&w, "&compact=1");
	if (req->numwant >= 0) {
		http1_put_str(&w, "&numwant=");
		http1_put_u64(&w, (uint64_t)req->numwant);
	}
	http1_put_str(&w, "&key=");
	byteio_put_be32(key, req->key);
	http1_put_hex(&w, key, 4, true); /* 8 uppercase digits */
	if (req->has_ip4) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, req->ip4, a, sizeof(a));
		http1_put_str(&w, "&ip=");
		http1_put_pct(&w, (const uint8_t *)a, strlen(a));
	}
	if (req->has_ip6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, req->ip6, a, sizeof(a));
		http1_put_str(&w, "&ipv6=");
		http1_put_pct(&w, (const uint8_t *)a, strlen(a));
	}
	http1_put_str(&w, " HTTP/1.1\r\nHost: ");
	if (url->host_kind == ANNOUNCE_HOST_IPV6) {
		http1_put_str(&w, "[");
		http1_put_str(&w, url->host);
		http1_put_str(&w, "]");
	} else {
		http1_put_str(&w, url->host);
	}
	if (url->port != 80) {
		http1_put_str(&w, ":");
		http1_put_u64(&w, url->port);
	}
	http1_put_str(&w, "\r\nUser-Agent: ");
	http1_put(&w, ua, ualen);
	http1_put_str(&w, "\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n");
	if (w.full)
		return seed_err_set(err, -ENOBUFS, "announce: request does not fit in %zu bytes",
				    cap);
	return (int)w.len;
}

/* ---- responses: common ---- */

void announce_resp_init(struct announce_resp *resp, struct announce_peer *peers, size_t cap)
{
	memset(resp, 0, sizeof(*resp));
	resp->peers = peers;
	resp->peers_cap = peers ? cap : 0;
	resp->interval_s = resp->min_interval_s = -1;
	resp->complete = resp->incomplete = -1;
}

static void resp_reset(struct announce_resp *resp)
{
	announce_resp_init(resp, resp->peers, resp->peers_cap);
}

/*
 * The start of every parse: resp reset (it must be given), then [buf, end)
 * checked and *out_len its length. `what` ("tracker response") starts the
 * messages.
 */
static int parse_start(const uint8_t *buf, const uint8_t *end, struct announce_resp *resp,
		       const char *what, size_t *out_len, struct seed_err *err)
{
	if (!resp)
		return seed_err_set(err, -EINVAL, "%s: no result", what);
	resp_reset(resp);
	if (!buf || !end || end < buf)
		return seed_err_set(err, -EINVAL, "%s: no input", what);
	*out_len = (size_t)(end - buf);
	return 0;
}

static void add_peer(struct announce_resp *r, enum announce_family fam, const uint8_t *addr,
		     uint16_t port)
{
	struct announce_peer *p;

	if (port == 0) {
		r->peers_invalid++;
		return;
	}
	if (r->n_peers >= r->peers_cap) {
		r->peers_dropped++;
		return;
	}
	p = &r->peers[r->n_peers++];
	memset(p, 0, sizeof(*p));
	p->family = fam;
	memcpy(p->addr, addr, fam == ANNOUNCE_FAMILY_V4 ? 4 : 16);
	p->port = port;
}

/* Compact entries: address then port, both network order (BEP 23, BEP 7). */
static void add_compact(struct announce_resp *r, enum announce_family fam, const uint8_t *p,
			size_t n)
{
	size_t al = fam == ANNOUNCE_FAMILY_V4 ? 4 : 16;

	for (size_t i = 0; i + al + 2 <= n; i += al + 2)
		add_peer(r, fam, p + i, byteio_be16(p + i + al));
}

static void set_failure(struct announce_resp *r, const uint8_t *p, size_t n)
{
	r->status = ANNOUNCE_RESP_FAILURE;
	copy_text(r->message, &r->message_cut, p, n);
}

/* ---- HTTP responses ---- */

/* Where a bencode node sits in the caller's buffer, for error offsets. */
struct body_map {
	const uint8_t *body; /* the bytes given to bencode_parse */
	uint64_t base;	     /* offset of the body in the response */
	int mapped;	     /* body lies in the response (not de-chunked) */
};

static uint64_t node_off(const struct body_map *m, const struct bencode_node *n)
{
	return m->mapped ? m->base + (uint64_t)(n->raw - m->body) : m->base;
}

/* An optional non-negative integer field; -1 stays when absent. */
static int get_count(const struct bencode_node *d, const char *key, const struct body_map *m,
		     int64_t *out, struct seed_err *err)
{
	const struct bencode_node *n = bencode_dict_get(d, key);

	if (!n)
		return 0;
	if (n->type != BENCODE_INT)
		return seed_err_set_at(err, -EINVAL, node_off(m, n),
				       "tracker response: '%s' is not an integer", key);
	if (n->u.i < 0)
		return seed_err_set_at(err, -EINVAL, node_off(m, n),
				       "tracker response: '%s' is negative (%lld)", key,
				       (long long)n->u.i);
	*out = n->u.i;
	return 0;
}

/* An optional string field: *out is NULL when absent. */
static int get_str(const struct bencode_node *d, const char *key, const struct body_map *m,
		   const struct bencode_node **out, struct seed_err *err)
{
	const struct bencode_node *n = bencode_dict_get(d, key);

	*out = NULL;
	if (n && n->type != BENCODE_STR)
		return seed_err_set_at(err, -EINVAL, node_off(m, n),
				       "tracker response: '%s' is not a string", key);
	*out = n;
	return 0;
}

/* A compact peer string (BEP 23, BEP 7), whole entries only; `what` names
 * it in the message. */
static int take_compact(struct announce_resp *r, enum announce_family fam,
			const struct bencode_node *v, const char *what, const struct body_map *m,
			struct seed_err *err)
{
	size_t es = fam == ANNOUNCE_FAMILY_V4 ? 6 : 18;

	if (v->u.s.len % es)
		return seed_err_set_at(err, -EINVAL, node_off(m, v),
				       "tracker response: %s is %zu bytes, not a multiple of %zu",
				       what, v->u.s.len, es);
	add_compact(r, fam, v->u.s.p, v->u.s.len);
	return 0;
}

/* One entry of the non-compact peer list: d5:ip<str>4:porti<n>e...e */
static int add_dict_peer(struct announce_resp *r, const struct bencode_node *e, size_t idx,
			 const struct body_map *m, struct seed_err *err)
{
	const struct bencode_node *ip, *port;
	uint8_t addr[16];
	char txt[INET6_ADDRSTRLEN];

	if (e->type != BENCODE_DICT)
		return seed_err_set_at(err, -EINVAL, node_off(m, e),
				       "tracker response: peers[%zu] is not a dictionary", idx);
	ip = bencode_dict_get(e, "ip");
	port = bencode_dict_get(e, "port");
	if (!ip || ip->type != BENCODE_STR)
		return seed_err_set_at(err, -EINVAL, node_off(m, e),
				       "tracker response: peers[%zu] has no 'ip' string", idx);
	if (!port || port->type != BENCODE_INT)
		return seed_err_set_at(err, -EINVAL, node_off(m, e),
				       "tracker response: peers[%zu] has no 'port' integer", idx);
	if (port->u.i <= 0 || port->u.i > 65535) {
		r->peers_invalid++;
		return 0;
	}
	/* A host name here would need a resolver: the peer is skipped, not fatal. */
	if (ip->u.s.len == 0 || ip->u.s.len >= sizeof(txt) || memchr(ip->u.s.p, 0, ip->u.s.len)) {
		r->peers_invalid++;
		return 0;
	}
	memcpy(txt, ip->u.s.p, ip->u.s.len);
	txt[ip->u.s.len] = '\0';
	if (parse_ipv4(txt, ip->u.s.len, addr) == 0)
		add_peer(r, ANNOUNCE_FAMILY_V4, addr, (uint16_t)port->u.i);
	else if (inet_pton(AF_INET6, txt, addr) == 1)
		add_peer(r, ANNOUNCE_FAMILY_V6, addr, (uint16_t)port->u.i);
	else
		r->peers_invalid++;
	return 0;
}

static int parse_body(const uint8_t *body, size_t n, const struct body_map *m,
		      struct announce_resp *r, struct seed_err *err)
{
	static const struct bencode_limits lim = { .max_depth = 8, .max_nodes = 1 << 17 };
	struct bencode_doc *doc = NULL;
	const struct bencode_node *root, *v;
	struct seed_err be;
	int rc;

	if (n == 0)
		return seed_err_set_at(err, -EINVAL, m->base, "tracker response: empty body");
	seed_err_clear(&be);
	rc = bencode_parse(body, body + n, &lim, &doc, &be);
	if (rc) {
		uint64_t off = m->base + (m->mapped && be.has_offset ? be.offset : 0);

		return seed_err_set_at(err, rc, off, "tracker response body: %s", be.msg);
	}
	root = bencode_root(doc);
	if (root->type != BENCODE_DICT) {
		rc = seed_err_set_at(err, -EINVAL, m->base,
				     "tracker response: body is not a dictionary");
		goto out;
	}
	if ((rc = get_str(root, "failure reason", m, &v, err)))
		goto out;
	if (v) {
		set_failure(r, v->u.s.p, v->u.s.len);
		goto out;
	}
	if ((rc = get_count(root, "interval", m, &r->interval_s, err)) ||
	    (rc = get_count(root, "min interval", m, &r->min_interval_s, err)) ||
	    (rc = get_count(root, "complete", m, &r->complete, err)) ||
	    (rc = get_count(root, "incomplete", m, &r->incomplete, err)) ||
	    (rc = get_str(root, "warning message", m, &v, err)))
		goto out;
	if (v) {
		r->has_warning = 1;
		copy_text(r->warning, &r->warning_cut, v->u.s.p, v->u.s.len);
	}
	v = bencode_dict_get(root, "peers");
	if (v && v->type == BENCODE_STR) {
		if ((rc = take_compact(r, ANNOUNCE_FAMILY_V4, v, "compact 'peers'", m, err)))
			goto out;
	} else if (v && v->type == BENCODE_LIST) {
		for (size_t i = 0; i < v->u.list.n; i++)
			if ((rc = add_dict_peer(r, v->u.list.items[i], i, m, err)))
				goto out;
	} else if (v) {
		rc = seed_err_set_at(err, -EINVAL, node_off(m, v),
				     "tracker response: 'peers' is neither a string nor a list");
		goto out;
	}
	if ((rc = get_str(root, "peers6", m, &v, err)) ||
	    (v && (rc = take_compact(r, ANNOUNCE_FAMILY_V6, v, "'peers6'", m, err))))
		goto out;
	r->status = ANNOUNCE_RESP_OK;
out:
	bencode_free(doc);
	return rc;
}

/*
 * The line starting at *pos: [*pos, *line_end) without its CRLF or LF, with
 * *pos moved past it. Returns 1 when a whole line is there, 0 when its end
 * has not arrived, -1 on a CR not followed by LF (at *line_end).
 */
static int next_line(const uint8_t *buf, size_t len, size_t *pos, size_t *line_end)
{
	const uint8_t *eol, *next;
	int got = http1_line(buf + *pos, buf + len, &eol, &next);

	if (got == 0)
		return 0;
	*line_end = (size_t)(eol - buf);
	if (got < 0)
		return -1;
	*pos = (size_t)(next - buf);
	return 1;
}

struct head {
	unsigned status;
	size_t reason, reason_len; /* the reason phrase in buf */
	size_t end;		   /* offset of the first body byte */
	int have_cl, chunked;
	uint64_t cl; /* saturates at UINT64_MAX */
};

static int parse_status_line(const uint8_t *b, size_t s, size_t e, struct head *h,
			     struct seed_err *err)
{
	size_t n = e - s;
	unsigned major, minor;

	if (n < 12 || http1_version(b + s, b + s + 8, &major, &minor) || major != 1 || minor > 1)
		return seed_err_set_at(err, -EINVAL, s,
				       "tracker response: not an HTTP/1.0 or 1.1 status line");
	if (b[s + 8] != ' ' || !http1_is_digit(b[s + 9]) || !http1_is_digit(b[s + 10]) ||
	    !http1_is_digit(b[s + 11]) || b[s + 9] < '1' || b[s + 9] > '5')
		return seed_err_set_at(err, -EINVAL, s + 8, "tracker response: bad status code");
	h->status = (unsigned)(b[s + 9] - '0') * 100 + (unsigned)(b[s + 10] - '0') * 10 +
		    (unsigned)(b[s + 11] - '0');
	if (n > 12 && b[s + 12] != ' ')
		return seed_err_set_at(err, -EINVAL, s + 12, "tracker response: bad status code");
	h->reason = n > 12 ? s + 13 : e;
	h->reason_len = e - h->reason;
	for (size_t i = h->reason; i < e; i++)
		if (!http1_is_field_byte(b[i]))
			return seed_err_set_at(
				err, -EINVAL, i,
				"tracker response: invalid byte 0x%02x in status line", b[i]);
	return 0;
}

static int parse_header(const uint8_t *b, size_t s, size_t e, struct head *h, struct seed_err *err)
{
	struct http1_field f;
	struct http1_fault ft;
	const uint8_t *name, *nend, *val, *vend;
	size_t vs, ve;

	if (http1_field_parse(b + s, b + e, &f, &ft)) {
		size_t at = s + ft.off;

		if (ft.kind == HTTP1_FAULT_FOLD)
			return seed_err_set_at(err, -EINVAL, at,
					       "tracker response: obsolete header line folding");
		if (ft.kind == HTTP1_FAULT_VALUE)
			return seed_err_set_at(err, -EINVAL, at,
					       "tracker response: invalid byte 0x%02x in header",
					       b[at]);
		return seed_err_set_at(err, -EINVAL, at, "tracker response: malformed header");
	}
	name = f.name;
	nend = name + f.name_len;
	val = f.value;
	vend = val + f.value_len;
	vs = (size_t)(val - b);
	ve = (size_t)(vend - b);
	if (http1_ieq(name, nend, "content-length")) {
		uint64_t v;
		size_t off;
		int rc = http1_parse_u64(val, vend, &v, &off);

		if (rc == -EINVAL && vs == ve)
			return seed_err_set_at(err, -EINVAL, vs,
					       "tracker response: empty Content-Length");
		if (rc == -EINVAL)
			return seed_err_set_at(err, -EINVAL, vs + off,
					       "tracker response: bad Content-Length");
		/* an overflow saturates: over ANNOUNCE_HTTP_BODY_MAX all the same */
		if (h->have_cl && h->cl != v)
			return seed_err_set_at(err, -EINVAL, s,
					       "tracker response: conflicting Content-Length");
		h->have_cl = 1;
		h->cl = v;
	} else if (http1_ieq(name, nend, "transfer-encoding")) {
		if (h->chunked || !http1_ieq(val, vend, "chunked"))
			return seed_err_set_at(err, -ENOTSUP, vs,
					       "tracker response: transfer coding '%.*s' is not "
					       "supported (only chunked)",
					       (int)(ve - vs > 64 ? 64 : ve - vs),
					       (const char *)b + vs);
		h->chunked = 1;
	} else if (http1_ieq(name, nend, "content-encoding")) {
		if (!http1_ieq(val, vend, "identity"))
			return seed_err_set_at(err, -ENOTSUP, vs,
					       "tracker response: content coding '%.*s' is not "
					       "supported",
					       (int)(ve - vs > 64 ? 64 : ve - vs),
					       (const char *)b + vs);
	}
	return 0;
}

/* The response stops at len before what it began is whole: an error (what
 * happened) once the tracker has closed, -EAGAIN while more may come. */
static int cut_short(int eof, size_t len, const char *what, struct seed_err *err)
{
	if (!eof)
		return -EAGAIN;
	return seed_err_set_at(err, -EINVAL, len, "tracker response: %s", what);
}

/*
 * Validates the head as far as it has arrived. Returns 0 with h->end set
 * once complete, -EAGAIN when more is needed, or an error. A non-200
 * status is returned (-EPROTO) as soon as the status line is whole.
 */
static int parse_head(const uint8_t *b, size_t len, int eof, struct head *h,
		      struct announce_resp *r, struct seed_err *err)
{
	size_t pos = 0, le;
	int first = 1, rc;

	for (;;) {
		size_t s = pos;
		int got = next_line(b, len, &pos, &le);

		if (got < 0)
			return seed_err_set_at(err, -EINVAL, le,
					       "tracker response: CR without LF in head");
		if (got == 0 || pos > ANNOUNCE_HTTP_HEAD_MAX) {
			if (pos > ANNOUNCE_HTTP_HEAD_MAX || len > ANNOUNCE_HTTP_HEAD_MAX)
				return seed_err_set_at(err, -E2BIG, ANNOUNCE_HTTP_HEAD_MAX,
						       "tracker response: head over %d bytes",
						       ANNOUNCE_HTTP_HEAD_MAX);
			return cut_short(eof, len, "ends inside the head", err);
		}
		if (first) {
			char reason[ANNOUNCE_MSG_MAX + 1];
			int cut;

			first = 0;
			if ((rc = parse_status_line(b, s, le, h, err)))
				return rc;
			r->http_status = h->status;
			if (h->status != 200) {
				copy_text(reason, &cut, b + h->reason,
					  h->reason_len > 64 ? 64 : h->reason_len);
				return seed_err_set_at(err, -EPROTO, s + 9,
						       "tracker answered HTTP %u %s", h->status,
						       reason);
			}
			continue;
		}
		if (le == s) {
			h->end = pos;
			return 0;
		}
		if ((rc = parse_header(b, s, le, h, err)))
			return rc;
	}
}

#define CHUNKED_WIRE_MAX (2 * ANNOUNCE_HTTP_BODY_MAX + ANNOUNCE_HTTP_HEAD_MAX)

/*
 * Walks the chunked body at buf[start..len). With dst (ANNOUNCE_HTTP_BODY_MAX
 * bytes) also copies the data. Returns 0 with *out_n the body length,
 * -EAGAIN when it has not all arrived, or an error.
 */
static int dechunk(const uint8_t *b, size_t len, size_t start, int eof, uint8_t *dst, size_t *out_n,
		   struct seed_err *err)
{
	size_t pos = start, total = 0, le;
	int got;

	for (;;) {
		size_t s = pos, off;
		uint64_t sz;

		/*
		 * Chunk framing costs bytes the body bound does not count;
		 * bound the wire too, so a server cannot make us buffer
		 * without end. Only bytes before the end count: what follows a
		 * complete body never changes the verdict.
		 */
		if (s - start > CHUNKED_WIRE_MAX)
			return seed_err_set_at(
				err, -E2BIG, s,
				"tracker response: chunked body over %d bytes on the "
				"wire",
				CHUNKED_WIRE_MAX);

		got = next_line(b, len, &pos, &le);
		if (got < 0)
			return seed_err_set_at(err, -EINVAL, le,
					       "tracker response: CR without LF in chunk size");
		if (got == 0) {
			/* 1024 bytes, a CR, and still no LF: it can only end too long */
			if (len - s > 1025)
				return seed_err_set_at(
					err, -EINVAL, s,
					"tracker response: chunk size line too long");
			goto short_body;
		}
		if (le - s > 1024)
			return seed_err_set_at(err, -EINVAL, s,
					       "tracker response: chunk size line too long");
		got = http1_chunk_size(b + s, b + le, ANNOUNCE_HTTP_BODY_MAX, &sz, &off);
		if (got == -E2BIG)
			return seed_err_set_at(err, -E2BIG, s,
					       "tracker response: body over %d bytes",
					       ANNOUNCE_HTTP_BODY_MAX);
		if (got < 0)
			return seed_err_set_at(err, -EINVAL, s + off,
					       "tracker response: bad chunk size");
		if (sz == 0)
			break;
		if (sz > ANNOUNCE_HTTP_BODY_MAX - total)
			return seed_err_set_at(err, -E2BIG, s,
					       "tracker response: body over %d bytes",
					       ANNOUNCE_HTTP_BODY_MAX);
		if (len - pos < sz)
			goto short_body;
		if (dst)
			memcpy(dst + total, b + pos, (size_t)sz);
		total += (size_t)sz;
		pos += (size_t)sz;
		s = pos;
		got = next_line(b, len, &pos, &le);
		if (got == 0 && (len == s || (len - s == 1 && b[s] == '\r')))
			goto short_body;
		if (got <= 0 || le != s)
			return seed_err_set_at(err, -EINVAL, s,
					       "tracker response: chunk data not followed by CRLF");
	}
	/* trailer fields, ignored, then the empty line */
	for (size_t ts = pos;;) {
		size_t s = pos;

		got = next_line(b, len, &pos, &le);
		if (got < 0)
			return seed_err_set_at(err, -EINVAL, le,
					       "tracker response: CR without LF in trailer");
		if ((got == 0 ? len : pos) - ts > ANNOUNCE_HTTP_HEAD_MAX)
			return seed_err_set_at(err, -E2BIG, s,
					       "tracker response: trailer over %d bytes",
					       ANNOUNCE_HTTP_HEAD_MAX);
		if (got == 0)
			goto short_body;
		if (le == s)
			break;
	}
	if (pos - start > CHUNKED_WIRE_MAX)
		return seed_err_set_at(err, -E2BIG, start + CHUNKED_WIRE_MAX,
				       "tracker response: chunked body over %d bytes on the wire",
				       CHUNKED_WIRE_MAX);
	*out_n = total;
	return 0;
short_body:
	if (!eof && len - start > CHUNKED_WIRE_MAX)
		return seed_err_set_at(err, -E2BIG, start + CHUNKED_WIRE_MAX,
				       "tracker response: chunked body over %d bytes on the wire",
				       CHUNKED_WIRE_MAX);
	return cut_short(eof, len, "chunked body cut short", err);
}

static int http_parse(const uint8_t *buf, const uint8_t *end, int eof, struct announce_resp *resp,
		      struct seed_err *err)
{
	struct head h;
	struct body_map m;
	size_t len, n;
	int rc;

	if ((rc = parse_start(buf, end, resp, "tracker response", &len, err)))
		return rc;
	memset(&h, 0, sizeof(h));
	rc = parse_head(buf, len, eof, &h, resp, err);
	if (rc)
		return rc;
	m.base = h.end;
	if (h.chunked && h.have_cl)
		return seed_err_set_at(err, -EINVAL, 0,
				       "tracker response: both Transfer-Encoding and "
				       "Content-Length");
	if (h.chunked) {
		uint8_t *body;

		rc = dechunk(buf, len, h.end, eof, NULL, &n, err);
		if (rc)
			return rc;
		body = malloc(n ? n : 1);
		if (!body)
			return seed_err_set(err, -ENOMEM, "tracker response: out of memory");
		dechunk(buf, len, h.end, eof, body, &n, NULL);
		m.body = body;
		m.mapped = 0;
		rc = parse_body(body, n, &m, resp, err);
		free(body);
		return rc;
	}
	if (h.have_cl) {
		if (h.cl > ANNOUNCE_HTTP_BODY_MAX)
			return seed_err_set_at(err, -E2BIG, 0,
					       "tracker response: Content-Length %llu over %d",
					       (unsigned long long)h.cl, ANNOUNCE_HTTP_BODY_MAX);
		if (len - h.end < h.cl) {
			if (eof)
				return seed_err_set_at(err, -EINVAL, len,
						       "tracker response: body ends after %zu of "
						       "%llu bytes",
						       len - h.end, (unsigned long long)h.cl);
			return -EAGAIN;
		}
		n = (size_t)h.cl;
	} else {
		/* no length: the body runs to the close */
		n = len - h.end;
		if (n > ANNOUNCE_HTTP_BODY_MAX)
			return seed_err_set_at(err, -E2BIG, h.end + ANNOUNCE_HTTP_BODY_MAX,
					       "tracker response: body over %d bytes",
					       ANNOUNCE_HTTP_BODY_MAX);
		if (!eof)
			return -EAGAIN;
	}
	m.body = buf + h.end;
	m.mapped = 1;
	return parse_body(buf + h.end, n, &m, resp, err);
}

int announce_http_parse(const uint8_t *buf, const uint8_t *end, int eof, struct announce_resp *resp,
			struct seed_err *err)
{
	int rc = http_parse(buf, end, eof, resp, err);

	/* a refused response gives nothing but its status: no half peer list */
	if (rc < 0 && resp) {
		unsigned status = resp->http_status;

		resp_reset(resp);
		resp->http_status = status;
	}
	return rc;
}

/* ---- UDP (BEP 15) ---- */

enum { UDP_CONNECT = 0, UDP_ANNOUNCE = 1, UDP_ERROR = 3 };

int announce_udp_connect_build(uint32_t tid, uint8_t *out, size_t cap)
{
	if (!out || cap < ANNOUNCE_UDP_CONNECT_LEN)
		return -ENOBUFS;
	byteio_put_be64(out, ANNOUNCE_UDP_PROTOCOL_ID);
	byteio_put_be32(out + 8, UDP_CONNECT);
	byteio_put_be32(out + 12, tid);
	return ANNOUNCE_UDP_CONNECT_LEN;
}

/*
 * The part common to both replies: length for action and transaction id,
 * then the tid, then an error reply, then the action (want, named `what`)
 * and the reply's length (at least min_len). Returns 1 when the caller
 * should go on with the action-specific part (*out_len set), 0 when done
 * (error reply), or -errno.
 */
static int udp_head(const uint8_t *buf, const uint8_t *end, uint32_t tid,
		    struct announce_resp *resp, uint32_t want, const char *what, size_t min_len,
		    size_t *out_len, struct seed_err *err)
{
	size_t len;
	uint32_t got, action;
	int rc;

	if ((rc = parse_start(buf, end, resp, "tracker UDP reply", &len, err)))
		return rc;
	if (len < 8)
		return seed_err_set_at(err, -EINVAL, len,
				       "tracker UDP reply: %zu bytes, shorter than 8", len);
	got = byteio_be32(buf + 4);
	if (got != tid)
		return seed_err_set_at(err, -ENOMSG, 4,
				       "tracker UDP reply: transaction id 0x%08x, expected 0x%08x",
				       got, tid);
	action = byteio_be32(buf);
	if (action == UDP_ERROR) {
		set_failure(resp, buf + 8, len - 8);
		return 0;
	}
	if (action != want)
		return seed_err_set_at(err, -EINVAL, 0,
				       "tracker UDP reply: action %u, expected %u (%s)", action,
				       want, what);
	if (len < min_len)
		return seed_err_set_at(err, -EINVAL, len,
				       "tracker UDP reply: %s reply of %zu bytes, need %zu", what,
				       len, min_len);
	*out_len = len;
	return 1;
}

int announce_udp_connect_parse(const uint8_t *buf, const uint8_t *end, uint32_t tid,
			       struct announce_resp *resp, struct seed_err *err)
{
	size_t len;
	int rc = udp_head(buf, end, tid, resp, UDP_CONNECT, "connect", ANNOUNCE_UDP_CONNECT_LEN,
			  &len, err);

	if (rc <= 0)
		return rc;
	resp->conn_id = byteio_be64(buf + 8);
	resp->status = ANNOUNCE_RESP_OK;
	return 0;
}

int announce_udp_conn_valid(uint64_t got_ms, uint64_t now_ms)
{
	return now_ms >= got_ms && now_ms - got_ms < ANNOUNCE_UDP_CONN_TTL_MS;
}

int announce_udp_announce_build(uint64_t conn_id, uint32_t tid, const struct announce_req *req,
				uint8_t *out, size_t cap, struct seed_err *err)
{
	int rc = check_req(req, err);

	if (rc)
		return rc;
	if (!out || cap < ANNOUNCE_UDP_ANNOUNCE_LEN)
		return seed_err_set(err, -ENOBUFS, "announce: UDP request needs %d bytes",
				    ANNOUNCE_UDP_ANNOUNCE_LEN);
	byteio_put_be64(out, conn_id);
	byteio_put_be32(out + 8, UDP_ANNOUNCE);
	byteio_put_be32(out + 12, tid);
	memcpy(out + 16, req->info_hash, 20);
	memcpy(out + 36, req->peer_id, 20);
	byteio_put_be64(out + 56, req->downloaded);
	byteio_put_be64(out + 64, req->left);
	byteio_put_be64(out + 72, req->uploaded);
	byteio_put_be32(out + 80, (uint32_t)req->event);
	byteio_put_be32(out + 84, 0);
	byteio_put_be32(out + 88, req->key);
	byteio_put_be32(out + 92, req->numwant < 0 ? UINT32_MAX : (uint32_t)req->numwant);
	byteio_put_be16(out + 96, req->port);
	return ANNOUNCE_UDP_ANNOUNCE_LEN;
}

int announce_udp_announce_parse(const uint8_t *buf, const uint8_t *end, uint32_t tid,
				enum announce_family fam, struct announce_resp *resp,
				struct seed_err *err)
{
	uint32_t iv;
	size_t len, es, rest;
	int rc;

	if (fam != ANNOUNCE_FAMILY_V4 && fam != ANNOUNCE_FAMILY_V6) {
		if (resp)
			resp_reset(resp);
		return seed_err_set(err, -EINVAL, "tracker UDP reply: unknown address family %d",
				    (int)fam);
	}
	rc = udp_head(buf, end, tid, resp, UDP_ANNOUNCE, "announce", 20, &len, err);
	if (rc <= 0)
		return rc;
	iv = byteio_be32(buf + 8);
	if (iv > INT32_MAX)
		return seed_err_set_at(err, -EINVAL, 8, "tracker UDP reply: negative interval");
	es = fam == ANNOUNCE_FAMILY_V4 ? 6 : 18;
	rest = len - 20;
	if (rest % es)
		return seed_err_set_at(err, -EINVAL, 20 + rest - rest % es,
				       "tracker UDP reply: trailing partial peer entry (%zu of %zu "
				       "bytes)",
				       rest % es, es);
	resp->interval_s = iv;
	resp->incomplete = byteio_be32(buf + 12);
	resp->complete = byteio_be32(buf + 16);
	add_compact(resp, fam, buf + 20, rest);
	resp->status = ANNOUNCE_RESP_OK;
	return 0;
}

uint64_t announce_udp_rto_ms(unsigned n)
{
	return 15000ULL << (n < 2 ? n : 2);
}

/* ---- the scheduler ---- */

static const struct announce_sched_cfg sched_defaults = {
	.default_interval_s = 1800,
	.interval_floor_s = 30,
	.interval_ceil_s = 86400,
	.backoff_base_s = 15,
	.backoff_max_s = 1800,
	.attempt_timeout_s = 120,
};

void announce_sched_cfg_default(struct announce_sched_cfg *cfg)
{
	*cfg = sched_defaults;
}

/* t + s seconds, saturating: a far deadline must never wrap into the past. */
static uint64_t after_s(uint64_t t, uint64_t s)
{
	uint64_t ms = s * 1000; /* s < 2^32, cannot overflow */

	return t > UINT64_MAX - ms ? UINT64_MAX : t + ms;
}

int announce_sched_init(struct announce_sched *s, const struct announce_sched_cfg *cfg,
			uint64_t now_ms)
{
	struct announce_sched_cfg d;

	if (!s)
		return -EINVAL;
	if (!cfg) {
		announce_sched_cfg_default(&d);
		cfg = &d;
	}
	if (!cfg->backoff_base_s || cfg->backoff_base_s > cfg->backoff_max_s ||
	    !cfg->attempt_timeout_s || !cfg->interval_floor_s ||
	    cfg->interval_floor_s > cfg->interval_ceil_s ||
	    cfg->default_interval_s < cfg->interval_floor_s ||
	    cfg->default_interval_s > cfg->interval_ceil_s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->state = ANNOUNCE_SCHED_STARTING;
	s->next_ms = now_ms;
	s->interval_s = cfg->default_interval_s;
	return 0;
}

uint64_t announce_sched_next_ms(const struct announce_sched *s)
{
	if (s->state == ANNOUNCE_SCHED_DONE)
		return ANNOUNCE_NEVER;
	return s->in_flight ? s->deadline_ms : s->next_ms;
}

static uint64_t backoff_s(const struct announce_sched *s)
{
	uint64_t d = s->cfg.backoff_base_s;

	for (uint32_t i = 1; i < s->failures && d < s->cfg.backoff_max_s; i++)
		d *= 2;
	return d < s->cfg.backoff_max_s ? d : s->cfg.backoff_max_s;
}

/* Ends the attempt in flight at now; ok with the tracker's intervals. */
static void finish(struct announce_sched *s, uint64_t now, int ok, int64_t iv, int64_t miv)
{
	s->in_flight = 0;
	if (s->flight_event == ANNOUNCE_EVENT_STOPPED) {
		/* sent once, whatever the outcome: a shutdown must not hang on a tracker */
		s->state = ANNOUNCE_SCHED_DONE;
		return;
	}
	if (ok) {
		uint32_t c = s->cfg.interval_ceil_s;

		if (iv < 0)
			iv = s->cfg.default_interval_s;
		else if (iv < s->cfg.interval_floor_s)
			iv = s->cfg.interval_floor_s;
		else if (iv > c)
			iv = c;
		if (miv < 0)
			miv = 0;
		else if (miv > c)
			miv = c;
		s->interval_s = (uint32_t)iv;
		s->min_interval_s = (uint32_t)miv;
		s->failures = 0;
		s->has_success = 1;
		s->last_success_ms = now;
		s->earliest_ms = after_s(now, (uint64_t)miv);
		s->next_ms = after_s(now, (uint64_t)(iv > miv ? iv : miv));
		s->state = ANNOUNCE_SCHED_RUNNING;
	} else {
		if (s->failures < UINT32_MAX)
			s->failures++;
		s->next_ms = after_s(now, backoff_s(s));
		if (s->next_ms < s->earliest_ms)
			s->next_ms = s->earliest_ms;
	}
	if (s->stop_requested) {
		s->stop_requested = 0;
		s->state = ANNOUNCE_SCHED_STOPPING;
		s->next_ms = now;
	}
}

int announce_sched_due(struct announce_sched *s, uint64_t now_ms, enum announce_event *out_event)
{
	enum announce_event ev;

	if (s->state == ANNOUNCE_SCHED_DONE)
		return 0;
	if (s->in_flight) {
		if (now_ms < s->deadline_ms)
			return 0;
		finish(s, s->deadline_ms, 0, -1, -1);
		if (s->state == ANNOUNCE_SCHED_DONE)
			return 0;
	}
	if (now_ms < s->next_ms)
		return 0;
	switch (s->state) {
	case ANNOUNCE_SCHED_STARTING:
		ev = ANNOUNCE_EVENT_STARTED;
		s->started_sent = 1;
		break;
	case ANNOUNCE_SCHED_RUNNING: ev = ANNOUNCE_EVENT_NONE; break;
	default: ev = ANNOUNCE_EVENT_STOPPED; break;
	}
	s->in_flight = 1;
	s->flight_event = ev;
	s->deadline_ms = after_s(now_ms, s->cfg.attempt_timeout_s);
	*out_event = ev;
	return 1;
}

int announce_sched_on_success(struct announce_sched *s, uint64_t now_ms, int64_t interval_s,
			      int64_t min_interval_s)
{
	if (!s->in_flight)
		return -EINVAL;
	finish(s, now_ms, 1, interval_s, min_interval_s);
	return 0;
}

int announce_sched_on_failure(struct announce_sched *s, uint64_t now_ms)
{
	if (!s->in_flight)
		return -EINVAL;
	finish(s, now_ms, 0, -1, -1);
	return 0;
}

void announce_sched_stop(struct announce_sched *s, uint64_t now_ms)
{
	if (s->state == ANNOUNCE_SCHED_DONE || s->state == ANNOUNCE_SCHED_STOPPING)
		return;
	if (s->in_flight) {
		s->stop_requested = 1;
		return;
	}
	if (!s->started_sent) {
		s->state = ANNOUNCE_SCHED_DONE;
		return;
	}
	s->state = ANNOUNCE_SCHED_STOPPING;
	s->next_ms = now_ms;
}

int announce_sched_done(const struct announce_sched *s)
{
	return s->state == ANNOUNCE_SCHED_DONE;
}
