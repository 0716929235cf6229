/*
 * fuzz_announce: libFuzzer target for control/announce.c.
 *
 * Input: two control bytes, then the payload.
 *   byte 0: bits 0-2 target:
 *             0, 6, 7  HTTP response parser
 *             1        UDP connect reply parser
 *             2, 3     UDP announce reply parser (IPv4, IPv6 peers)
 *             4        tracker URL parser, then the HTTP request builder
 *             5        scheduler, driven by the payload as operations
 *           bit 3 HTTP: also parse growing prefixes (split points from
 *                 byte 1), as bytes arriving from a socket would
 *           bits 4-5 peer array size: 0, 1, 4 or 64 entries
 *           bit 6 UDP: expect the transaction id the payload carries at
 *                 bytes 4..7 (so the parsers get past the tid check);
 *                 otherwise expect 0x41414141
 *   byte 1: seed of the prefix split points
 *
 * Properties checked (a violation aborts):
 *  - every return is 0 or a documented -errno; a failure fills err with
 *    that code and a message, -EAGAIN fills nothing; an error offset lies
 *    inside the input;
 *  - on success the status is OK or FAILURE, at most cap peers are stored,
 *    each with family 4 or 6 and a port, texts are NUL-terminated,
 *    printable and bounded, counters are -1 or non-negative; on failure
 *    there is no result;
 *  - HTTP: once a prefix is decided (not -EAGAIN) every longer prefix gets
 *    the same verdict, and so does the end of stream;
 *  - UDP: a matching tid never gives -ENOMSG; an accepted connect reply
 *    carries bytes 8..15 as its id; an accepted announce accounts for
 *    every entry (stored + dropped + invalid);
 *  - URL: an accepted URL builds a request whose request line has exactly
 *    two spaces and which holds CR/LF only as line ends;
 *  - scheduler: at most one attempt in flight, no announce but `stopped`
 *    before last success + max(interval, min interval) (clamped), `stopped`
 *    at most once and nothing after done.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "announce.h"
#include "byteio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_announce: %s\n", what);
		abort();
	}
}

static const size_t caps[4] = { 0, 1, 4, 64 };

static void check_text(const char *t)
{
	size_t n = strnlen(t, ANNOUNCE_MSG_MAX + 1);

	check(n <= ANNOUNCE_MSG_MAX, "text not terminated within its bound");
	for (size_t i = 0; i < n; i++)
		check(t[i] >= 0x20 && t[i] <= 0x7e, "unsanitized text");
}

static void check_err(int rc, const struct seed_err *err, size_t size)
{
	if (rc == -EAGAIN || rc == 0) {
		check(err->code == 0, "error filled without a failure");
		return;
	}
	check(rc == -EINVAL || rc == -E2BIG || rc == -ENOTSUP || rc == -EPROTO || rc == -ENOMEM ||
		      rc == -ENOMSG,
	      "undocumented return code");
	check(err->code == rc, "err code differs from the return");
	check(err->msg[0] != '\0', "failure without a message");
	check(!err->has_offset || err->offset <= size, "error offset outside the input");
}

static void check_resp(int rc, const struct announce_resp *r, size_t cap)
{
	check(r->n_peers <= cap, "more peers than room");
	if (rc != 0) {
		check(r->status == ANNOUNCE_RESP_NONE && r->n_peers == 0, "result from a failure");
		return;
	}
	check(r->status == ANNOUNCE_RESP_OK || r->status == ANNOUNCE_RESP_FAILURE, "no status");
	for (size_t i = 0; i < r->n_peers; i++) {
		check(r->peers[i].port != 0, "peer with port 0");
		check(r->peers[i].family == ANNOUNCE_FAMILY_V4 ||
			      r->peers[i].family == ANNOUNCE_FAMILY_V6,
		      "peer family");
	}
	check(r->interval_s >= -1 && r->min_interval_s >= -1 && r->complete >= -1 &&
		      r->incomplete >= -1,
	      "negative counter");
	check_text(r->message);
	check_text(r->warning);
}

struct verdict {
	int rc;
	enum announce_resp_status status;
	size_t n, dropped, invalid;
	int64_t interval;
};

static struct verdict http_once(const uint8_t *p, size_t n, int eof, struct announce_peer *peers,
				size_t cap)
{
	struct announce_resp r;
	struct seed_err err;
	struct verdict v;

	announce_resp_init(&r, peers, cap);
	seed_err_clear(&err);
	v.rc = announce_http_parse(p, p + n, eof, &r, &err);
	check(v.rc != -ENOMSG, "HTTP parser said -ENOMSG");
	check(eof ? v.rc != -EAGAIN : 1, "-EAGAIN at end of stream");
	check_err(v.rc, &err, n);
	check_resp(v.rc, &r, cap);
	v.status = r.status;
	v.n = r.n_peers;
	v.dropped = r.peers_dropped;
	v.invalid = r.peers_invalid;
	v.interval = r.interval_s;
	return v;
}

static int same(const struct verdict *a, const struct verdict *b)
{
	return a->rc == b->rc && a->status == b->status && a->n == b->n &&
	       a->dropped == b->dropped && a->invalid == b->invalid && a->interval == b->interval;
}

/* Once a verdict is decided (anything but -EAGAIN), every later one must be
 * the same: what names the property in the abort message. */
static void settle(struct verdict *decided, int *have, const struct verdict *v, const char *what)
{
	if (*have) {
		check(same(v, decided), what);
	} else if (v->rc != -EAGAIN) {
		*decided = *v;
		*have = 1;
	}
}

static void fuzz_http(const uint8_t *p, size_t n, int incremental, uint8_t seed,
		      struct announce_peer *peers, size_t cap)
{
	struct verdict decided = { .rc = -EAGAIN }, v;
	int have = 0;
	uint32_t x = 0x9e3779b9u ^ seed;

	if (incremental) {
		for (size_t k = 0; k < n;) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			k += 1 + x % 97;
			if (k > n)
				k = n;
			v = http_once(p, k, 0, peers, cap);
			settle(&decided, &have, &v, "a decided prefix changed its verdict");
		}
	}
	v = http_once(p, n, 0, peers, cap);
	settle(&decided, &have, &v, "the whole input changed a decided verdict");
	v = http_once(p, n, 1, peers, cap);
	settle(&decided, &have, &v, "end of stream changed a decided verdict");
}

static void fuzz_udp(const uint8_t *p, size_t n, int target, int tid_match,
		     struct announce_peer *peers, size_t cap)
{
	struct announce_resp r;
	struct seed_err err;
	uint32_t tid = tid_match && n >= 8 ? byteio_be32(p + 4) : 0x41414141;
	int rc;

	announce_resp_init(&r, peers, cap);
	seed_err_clear(&err);
	if (target == 1) {
		rc = announce_udp_connect_parse(p, p + n, tid, &r, &err);
	} else {
		enum announce_family fam = target == 2 ? ANNOUNCE_FAMILY_V4 : ANNOUNCE_FAMILY_V6;

		rc = announce_udp_announce_parse(p, p + n, tid, fam, &r, &err);
	}
	check(rc != -EAGAIN && rc != -EPROTO && rc != -E2BIG, "UDP return code");
	check_err(rc, &err, n);
	check_resp(rc, &r, cap);
	if (n >= 8 && byteio_be32(p + 4) == tid)
		check(rc != -ENOMSG, "-ENOMSG with a matching tid");
	if (rc != 0 || r.status != ANNOUNCE_RESP_OK)
		return;
	check(n >= 8 && byteio_be32(p + 4) == tid, "accepted a foreign tid");
	if (target == 1) {
		uint64_t id = 0;

		check(n >= 16 && byteio_be32(p) == 0, "accepted a short or foreign connect reply");
		for (int i = 0; i < 8; i++)
			id = id << 8 | p[8 + i];
		check(r.conn_id == id, "connection id");
	} else {
		size_t es = target == 2 ? 6 : 18;

		check(n >= 20 && byteio_be32(p) == 1, "accepted a short or foreign announce reply");
		check((n - 20) % es == 0, "accepted a partial entry");
		check(r.n_peers + r.peers_dropped + r.peers_invalid == (n - 20) / es,
		      "peer entries unaccounted");
		check(r.interval_s == (int64_t)byteio_be32(p + 8), "interval");
	}
}

static void fuzz_url(const uint8_t *p, size_t n)
{
	static char req[ANNOUNCE_HTTP_REQ_MAX];
	struct announce_url u;
	struct announce_req ar;
	struct seed_err err;
	int rc, len, spaces = 0;
	size_t i;

	seed_err_clear(&err);
	rc = announce_url_parse((const char *)p, (const char *)p + n, &u, &err);
	check(rc == 0 || rc == -EINVAL || rc == -EPROTONOSUPPORT || rc == -ENAMETOOLONG,
	      "URL return code");
	check(rc == 0 ? err.code == 0 : err.code == rc, "URL err code");
	check(!err.has_offset || err.offset <= n, "URL error offset");
	if (rc)
		return;
	check(u.port != 0, "URL port 0");
	check(u.scheme == ANNOUNCE_SCHEME_UDP || u.target[0] == '/', "HTTP target");
	memset(&ar, 0, sizeof(ar));
	memcpy(ar.info_hash, n >= 20 ? p : (const uint8_t *)"\r\n \x00+~ %%%%%%%%%%%%%%", 20);
	memcpy(ar.peer_id, "-BS0010-\r\n\r\n\x00\xff+~ %&?#", 20);
	ar.port = 6881;
	ar.numwant = -1;
	ar.has_ip6 = 1;
	ar.ip6[0] = 0xfe;
	len = announce_http_build(&u, &ar, NULL, req, sizeof(req), &err);
	if (u.scheme == ANNOUNCE_SCHEME_UDP) {
		check(len == -EINVAL, "HTTP request for a udp URL");
		return;
	}
	check(len > 0, "no request for a parsed URL");
	for (i = 0; i < (size_t)len && req[i] != '\r'; i++) {
		check(req[i] != '\n' && req[i] != '\0', "control byte in the request line");
		spaces += req[i] == ' ';
	}
	check(spaces == 2, "request line is not three words");
	for (; i + 1 < (size_t)len; i++)
		check((req[i] == '\r') == (req[i + 1] == '\n'), "CR without LF in the request");
	check(len >= 4 && !memcmp(req + len - 4, "\r\n\r\n", 4), "request does not end its head");
}

static void fuzz_sched(const uint8_t *p, size_t n)
{
	struct announce_sched s;
	uint64_t t = 1000, bound = 0;
	int stopped = 0, done = 0;

	check(announce_sched_init(&s, NULL, t) == 0, "sched init");
	for (size_t i = 0; i + 1 < n; i += 2) {
		enum announce_event ev;
		uint8_t op = p[i], arg = p[i + 1];

		switch (op & 3) {
		case 0: t += (uint64_t)arg * (op & 4 ? 60000 : 1000); break;
		case 1:
			if (announce_sched_due(&s, t, &ev)) {
				check(!done, "due after done");
				check(!stopped, "an announce after stopped");
				if (ev == ANNOUNCE_EVENT_STOPPED)
					stopped = 1;
				else
					check(t >= bound, "announce before min interval");
			}
			break;
		case 2:
			if (s.in_flight && !(op & 4)) {
				int64_t iv = (int64_t)arg * 20 - 100,
					miv = (int64_t)(op >> 3) * 100 - 100;
				int64_t ivc = iv < 0 ? 1800 : iv < 30 ? 30 : iv;
				int64_t mivc = miv < 0 ? 0 : miv;
				int was_stop = s.flight_event == ANNOUNCE_EVENT_STOPPED;

				check(announce_sched_on_success(&s, t, iv, miv) == 0, "on_success");
				if (!was_stop)
					bound = t + (uint64_t)(ivc > mivc ? ivc : mivc) * 1000;
			} else if (s.in_flight) {
				check(announce_sched_on_failure(&s, t) == 0, "on_failure");
			} else {
				check(announce_sched_on_failure(&s, t) == -EINVAL,
				      "report without attempt");
			}
			break;
		case 3: announce_sched_stop(&s, t); break;
		}
		if (announce_sched_done(&s)) {
			done = 1;
			check(announce_sched_next_ms(&s) == ANNOUNCE_NEVER, "done but a time");
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct announce_peer peers[64];
	const uint8_t *p;
	size_t n, cap;
	int target;

	if (size < 2)
		return 0;
	target = data[0] & 7;
	cap = caps[(data[0] >> 4) & 3];
	p = data + 2;
	n = size - 2;
	switch (target) {
	case 1:
	case 2:
	case 3: fuzz_udp(p, n, target, (data[0] >> 6) & 1, peers, cap); break;
	case 4: fuzz_url(p, n); break;
	case 5: fuzz_sched(p, n); break;
	default: fuzz_http(p, n, (data[0] >> 3) & 1, data[1], peers, cap); break;
	}
	return 0;
}
