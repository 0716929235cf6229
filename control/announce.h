/*
 * announce: the sans-I/O tracker client engine. It registers a release's
 * info-hashes with HTTP trackers (BEP 3, compact peers BEP 23, IPv6 BEP 7)
 * and UDP trackers (BEP 15), and decides when to announce.
 *
 * The engine never touches a socket, a resolver or a clock and has no
 * globals. The caller owns the I/O: it resolves the tracker's host, sends the
 * bytes the builders write, collects the reply and hands it to a parser,
 * passing its monotonic clock (ms) where time matters. Parsers never print,
 * exit or abort on input; they return 0 or -errno and fill a struct seed_err
 * naming the fault and, where it has one, its byte offset.
 *
 * Three parts, usable alone:
 *
 *  1. Tracker URLs. announce_url_parse() splits `http://host[:port][/path]
 *     [?query]` or `udp://host:port[/...]` into struct announce_url. https is
 *     refused (-EPROTONOSUPPORT): the appliance has no TLS client.
 *
 *  2. Messages. Builders write into a caller buffer and return its length
 *     or -errno (-ENOBUFS when cap is too small; nothing useful is left in
 *     the buffer then). Parsers take the whole reply [buf, end) and fill a
 *     struct announce_resp the caller set up with announce_resp_init() and a
 *     peer array it owns. A reply the tracker sent on purpose to refuse us
 *     (HTTP `failure reason`, UDP action 3) is not an error: the parser
 *     returns 0 with resp->status == ANNOUNCE_RESP_FAILURE and the tracker's
 *     text, sanitized, in resp->message.
 *
 *     HTTP, per announce:
 *       announce_http_build()   -> send the bytes on a fresh connection
 *       announce_http_parse()   on all bytes received so far, after each read:
 *                               -EAGAIN means "read more"; at end of stream
 *                               call it once more with eof = 1.
 *     UDP, per announce (BEP 15):
 *       announce_udp_connect_build() -> announce_udp_connect_parse()
 *         gives a connection id, valid for announce_udp_conn_valid();
 *       announce_udp_announce_build() -> announce_udp_announce_parse().
 *       Retransmit an unanswered request after announce_udp_rto_ms(n).
 *
 *  3. The scheduler (announce_sched_*): pure state and time for one
 *     (tracker, info-hash) registration. It says when to announce and with
 *     which event; the caller reports how each attempt ended.
 *
 * Bounds: URLs ANNOUNCE_URL_MAX bytes, HTTP heads ANNOUNCE_HTTP_HEAD_MAX,
 * bodies ANNOUNCE_HTTP_BODY_MAX, tracker texts ANNOUNCE_MSG_MAX; peers
 * beyond the caller's array are counted, not stored.
 */
#ifndef SEED_ANNOUNCE_H
#define SEED_ANNOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "seed_err.h"

/* ---- tracker URLs ---- */

#define ANNOUNCE_URL_MAX  1024 /* whole URL, bytes */
#define ANNOUNCE_HOST_MAX 253  /* a DNS name (RFC 1035 presentation form) */

enum announce_scheme {
	ANNOUNCE_SCHEME_HTTP = 1,
	ANNOUNCE_SCHEME_UDP,
};

enum announce_host_kind {
	ANNOUNCE_HOST_NAME = 1, /* to be resolved by the caller */
	ANNOUNCE_HOST_IPV4,
	ANNOUNCE_HOST_IPV6,
};

struct announce_url {
	enum announce_scheme scheme;
	enum announce_host_kind host_kind;
	/* NUL-terminated; an IPv6 literal without its brackets */
	char host[ANNOUNCE_HOST_MAX + 1];
	/* a literal host in network order (IPv4 in addr[0..3]); zero for names */
	uint8_t addr[16];
	uint16_t port; /* as given, or 80 for http without one */
	/*
	 * HTTP: the request target, path and query as given ("/" when the URL
	 * has no path). UDP: whatever follows the port (BEP 41 URL data),
	 * possibly "", not sent by this engine.
	 */
	char target[ANNOUNCE_URL_MAX + 1];
};

/*
 * Parses the URL [buf, end) (no NUL needed; an embedded NUL is an error).
 * The scheme is case-insensitive. The host is a DNS name (letters, digits,
 * '-', '_', '.'; labels of 1..63 bytes), a dotted-quad IPv4 address or a
 * bracketed IPv6 literal (no zone id). A port is 1..65535; udp needs one.
 * The path and query may hold any byte from '!' to '~' except '#'.
 * Userinfo (`user@`) and fragments are refused.
 *
 * Returns 0 and fills *out, or -EINVAL (malformed; err->offset names the
 * byte), -EPROTONOSUPPORT (https or another scheme) or -ENAMETOOLONG (over
 * ANNOUNCE_URL_MAX, or a host over ANNOUNCE_HOST_MAX). *out is undefined
 * on failure.
 */
int announce_url_parse(const char *buf, const char *end, struct announce_url *out,
		       struct seed_err *err);

/* ---- what we announce ---- */

/* Numbered as on the UDP wire (BEP 15). */
enum announce_event {
	ANNOUNCE_EVENT_NONE = 0,
	ANNOUNCE_EVENT_COMPLETED = 1,
	ANNOUNCE_EVENT_STARTED = 2,
	ANNOUNCE_EVENT_STOPPED = 3,
};

/* "none", "completed", "started", "stopped"; "?" for anything else. */
const char *announce_event_name(enum announce_event ev);

struct announce_req {
	/* v1 info-hash, or a v2 one truncated to 20 bytes by the caller */
	uint8_t info_hash[20];
	uint8_t peer_id[20];
	uint16_t port; /* where peers reach us; 0 is refused */
	uint64_t uploaded, downloaded;
	uint64_t left; /* 0 for a seed */
	enum announce_event event;
	int32_t numwant; /* negative: the tracker's default */
	uint32_t key;	 /* HTTP: 8 uppercase hex digits; UDP: as is */
	/*
	 * Optional BEP 7 addresses for HTTP (`ip=`, `ipv6=`), network order.
	 * The UDP ip field is always 0 ("use the source address", BEP 15):
	 * trackers such as opentracker take it from the packet anyway.
	 */
	int has_ip4, has_ip6;
	uint8_t ip4[4];
	uint8_t ip6[16];
};

/* ---- what the tracker said ---- */

#define ANNOUNCE_MSG_MAX 256 /* tracker texts kept, bytes (longer ones are cut) */

enum announce_family {
	ANNOUNCE_FAMILY_V4 = 4,
	ANNOUNCE_FAMILY_V6 = 6,
};

struct announce_peer {
	enum announce_family family;
	uint8_t addr[16]; /* network order; IPv4 in addr[0..3], the rest zero */
	uint16_t port;	  /* host order, never 0 */
};

enum announce_resp_status {
	ANNOUNCE_RESP_NONE = 0, /* nothing parsed yet */
	ANNOUNCE_RESP_OK,	/* the announce (or UDP connect) was accepted */
	ANNOUNCE_RESP_FAILURE,	/* the tracker refused: see message */
};

/*
 * One parsed reply. Set up with announce_resp_init(), which lends the parser
 * a peer array; every parser resets all fields but peers/peers_cap on entry,
 * so one struct may serve many replies. Integers are -1 when the reply did
 * not carry them (trackers never send negative values: a parser refuses
 * them).
 */
struct announce_resp {
	struct announce_peer *peers; /* borrowed from the caller; may be NULL */
	size_t peers_cap;	     /* entries peers can hold */
	size_t n_peers;		     /* entries stored */
	size_t peers_dropped;	     /* valid peers with no room left */
	size_t peers_invalid;	     /* port 0, or a dict peer whose ip is no literal */

	enum announce_resp_status status;
	unsigned http_status; /* HTTP status code, 0 for UDP or before the head */
	int64_t interval_s, min_interval_s;
	int64_t complete, incomplete; /* seeders, leechers */
	uint64_t conn_id;	      /* UDP connect: the connection id */
	/*
	 * FAILURE: the tracker's reason, trailing NULs and whitespace
	 * dropped, then bytes outside ' '..'~' shown as '?'
	 */
	char message[ANNOUNCE_MSG_MAX + 1];
	int has_warning;
	char warning[ANNOUNCE_MSG_MAX + 1]; /* HTTP `warning message`, sanitized */
	int message_cut, warning_cut;	    /* the text was longer and was cut */
};

/* Lends resp the array peers[0..cap) (borrowed until the last parse) and clears the rest. */
void announce_resp_init(struct announce_resp *resp, struct announce_peer *peers, size_t cap);

/* ---- HTTP announce (BEP 3, 7, 23) ---- */

#define ANNOUNCE_HTTP_REQ_MAX  4096	    /* every request fits */
#define ANNOUNCE_HTTP_HEAD_MAX 16384	    /* response status line and headers */
#define ANNOUNCE_HTTP_BODY_MAX (512 * 1024) /* response body, de-chunked */
#define ANNOUNCE_UA_MAX	       128
#define ANNOUNCE_DEFAULT_UA    "BitStream/0.1"

/*
 * Writes the complete HTTP/1.1 GET request for one announce into
 * out[0..cap): the URL's target with the parameters appended ('?', or '&'
 * after an existing query), then Host (with ":port" unless 80), User-Agent
 * (user_agent, or ANNOUNCE_DEFAULT_UA when NULL), Accept-Encoding: identity
 * (we do not inflate) and Connection: close, ending in an empty line.
 *
 * Parameters, in this order: info_hash, peer_id, port, uploaded,
 * downloaded, left, event (omitted for NONE), compact=1, numwant (omitted
 * when negative), key, ip, ipv6. Every byte of info_hash, peer_id and the
 * addresses that is not RFC 3986 unreserved (ALPHA DIGIT - . _ ~) is sent
 * as %XX with uppercase hex: opentracker does not decode '+' as a space.
 *
 * Returns the request length, or -EINVAL (url is not HTTP, port 0, unknown
 * event, user_agent with bytes outside ' '..'~' or longer than
 * ANNOUNCE_UA_MAX) or -ENOBUFS (cap too small; ANNOUNCE_HTTP_REQ_MAX
 * always suffices). Borrows everything; out is not NUL-terminated.
 */
int announce_http_build(const struct announce_url *url, const struct announce_req *req,
			const char *user_agent, char *out, size_t cap, struct seed_err *err);

/*
 * Parses the HTTP response held so far in [buf, end); eof says the
 * connection has closed, so nothing more will come.
 *
 * The status line is HTTP/1.0 or 1.1 (opentracker answers 1.0); lines end
 * in CRLF or a bare LF; obsolete line folding is refused. The body is
 * delimited by Content-Length, by chunked transfer coding (de-chunked into
 * a temporary buffer) or by the end of the stream; a Content-Encoding other
 * than identity, or a transfer coding other than chunked, is refused.
 * Bytes after a Content-Length body are ignored.
 *
 * The body is strict bencode (bencode.h): a dict carrying either `failure
 * reason` (-> ANNOUNCE_RESP_FAILURE, other keys ignored) or the answer:
 * optional `interval`, `min interval`, `complete`, `incomplete` (integers,
 * not negative), `warning message`, `peers` as a compact string (6-byte
 * entries) or a list of dicts (`ip` string holding an IPv4 or IPv6
 * literal, `port` integer), and `peers6` (18-byte entries). Peers go to
 * resp->peers in that order (peers, then peers6).
 *
 * Returns:
 *   0        complete; resp->status is OK or FAILURE.
 *   -EAGAIN  incomplete and !eof: read more, then call again with all bytes.
 *   -EPROTO  the status is not 200 (named in err, kept in resp->http_status);
 *            returned as soon as the head is complete.
 *   -EINVAL  malformed HTTP, body cut short at eof, malformed bencode or a
 *            field of the wrong type or range (err->offset names the byte in
 *            buf; for a chunked body, the start of the body).
 *   -E2BIG   head over ANNOUNCE_HTTP_HEAD_MAX, body (declared or read) over
 *            ANNOUNCE_HTTP_BODY_MAX, or too many bencode values: stop reading.
 *   -ENOTSUP an unsupported content or transfer coding.
 *   -ENOMEM
 * On any negative return resp holds no result (status NONE, no peers),
 * only http_status once the status line was read. Borrows buf only for the
 * call: nothing in resp points into it.
 */
int announce_http_parse(const uint8_t *buf, const uint8_t *end, int eof, struct announce_resp *resp,
			struct seed_err *err);

/* ---- UDP announce (BEP 15) ---- */

#define ANNOUNCE_UDP_CONNECT_LEN  16
#define ANNOUNCE_UDP_ANNOUNCE_LEN 98
#define ANNOUNCE_UDP_PROTOCOL_ID  0x41727101980ULL
#define ANNOUNCE_UDP_CONN_TTL_MS  60000 /* BEP 15: one minute */

/*
 * Writes the 16-byte connect request with transaction id tid (the caller
 * draws it at random per request). Returns 16 or -ENOBUFS.
 */
int announce_udp_connect_build(uint32_t tid, uint8_t *out, size_t cap);

/*
 * Parses a datagram answering a connect request sent with tid.
 *   0        resp->status OK and resp->conn_id set; or FAILURE (action 3)
 *            with the tracker's message.
 *   -ENOMSG  the transaction id differs: not the answer to this request
 *            (a stale or forged datagram); the caller may keep waiting.
 *   -EINVAL  shorter than 8 bytes, an action other than 0 or 3, or a
 *            connect answer shorter than 16 bytes (trailing bytes ignored).
 */
int announce_udp_connect_parse(const uint8_t *buf, const uint8_t *end, uint32_t tid,
			       struct announce_resp *resp, struct seed_err *err);

/*
 * Whether a connection id received at got_ms may still be used at now_ms:
 * 1 for now_ms in [got_ms, got_ms + ANNOUNCE_UDP_CONN_TTL_MS), else 0 (a
 * clock that went back also says 0: connect again).
 */
int announce_udp_conn_valid(uint64_t got_ms, uint64_t now_ms);

/*
 * Writes the 98-byte announce request: conn_id, action 1, tid, info_hash,
 * peer_id, downloaded, left, uploaded, event, ip 0, key, num_want (-1 when
 * req->numwant is negative), port. Returns 98, -ENOBUFS, or -EINVAL (port 0,
 * unknown event).
 */
int announce_udp_announce_build(uint64_t conn_id, uint32_t tid, const struct announce_req *req,
				uint8_t *out, size_t cap, struct seed_err *err);

/*
 * Parses a datagram answering an announce sent with tid. fam is the
 * tracker's address family, which fixes the peer entry size (6 bytes for
 * V4, 18 for V6).
 *   0        resp->status OK: interval_s, incomplete (leechers), complete
 *            (seeders) and the peers; or FAILURE (action 3) with the message.
 *   -ENOMSG  the transaction id differs (see announce_udp_connect_parse).
 *   -EINVAL  shorter than 8 bytes, an action other than 1 or 3, an announce
 *            answer shorter than 20 bytes, a negative interval, a trailing
 *            partial peer entry, or an unknown fam.
 */
int announce_udp_announce_parse(const uint8_t *buf, const uint8_t *end, uint32_t tid,
				enum announce_family fam, struct announce_resp *resp,
				struct seed_err *err);

/*
 * Retransmission timeout after send number n (0 for the first send). BEP
 * 15 says 15 * 2^n s up to n = 8 (over an hour); a seed loses nothing by
 * giving up sooner, so we cap it: 15 s, 30 s, then 60 s for every later
 * send. The scheduler's attempt timeout (default 120 s) ends the attempt:
 * a UDP attempt thus sends at 0, 15 and 45 s (and 105 s) before it fails.
 */
uint64_t announce_udp_rto_ms(unsigned n);

/* ---- the scheduler ---- */

#define ANNOUNCE_NEVER UINT64_MAX

struct announce_sched_cfg {
	uint32_t default_interval_s; /* when the tracker sends none: 1800 */
	uint32_t interval_floor_s;   /* tracker intervals are clamped to */
	uint32_t interval_ceil_s;    /*   [floor, ceil]: 30 .. 86400 */
	uint32_t backoff_base_s;     /* first retry delay: 15, doubling per failure */
	uint32_t backoff_max_s;	     /* up to: 1800 */
	uint32_t attempt_timeout_s;  /* an unreported attempt fails after: 120 */
};

/* Fills the defaults named above. */
void announce_sched_cfg_default(struct announce_sched_cfg *cfg);

enum announce_sched_state {
	ANNOUNCE_SCHED_STARTING = 1, /* `started` is due (and retried until accepted) */
	ANNOUNCE_SCHED_RUNNING,	     /* registered: regular announces (event none) */
	ANNOUNCE_SCHED_STOPPING,     /* `stopped` is due or in flight */
	ANNOUNCE_SCHED_DONE,	     /* nothing more, ever */
};

/*
 * One registration. Fields are the scheduler's; read them, never write.
 *
 * Call order: init; then, whenever the caller's clock reaches
 * announce_sched_next_ms(), call announce_sched_due(). When it returns 1,
 * send one announce with *out_event and report its end with on_success or
 * on_failure (an attempt not reported by its deadline counts as failed
 * when due() is next called). stop() at any time; done() says when the
 * registration may be freed.
 *
 * Guarantees: at most one attempt in flight; after a success at t, no
 * announce other than `stopped` before t + min interval (nor, normally,
 * before t + interval); failures back off backoff_base_s * 2^(k-1), capped
 * at backoff_max_s, reset by a success; `stopped` is sent at most once and
 * only if `started` was ever sent.
 */
struct announce_sched {
	struct announce_sched_cfg cfg;
	enum announce_sched_state state;
	int in_flight;			     /* an attempt is out, not yet reported */
	enum announce_event flight_event;    /* its event */
	uint64_t deadline_ms;		     /* in flight: when it counts as failed */
	uint64_t next_ms;		     /* not in flight: when the next one is due */
	uint64_t earliest_ms;		     /* min interval: no non-stopped announce before */
	uint32_t failures;		     /* consecutive failed attempts */
	int stop_requested;		     /* stop() came while an attempt was out */
	int started_sent;		     /* a `started` has been handed out */
	uint32_t interval_s, min_interval_s; /* in force, after clamping */
	int has_success;
	uint64_t last_success_ms;
};

/*
 * Sets s up with `started` due at now. cfg may be NULL for the defaults.
 * Returns 0, or -EINVAL for an inconsistent cfg (zero base, timeout or
 * floor; base > max; floor > ceil; default outside [floor, ceil]).
 */
int announce_sched_init(struct announce_sched *s, const struct announce_sched_cfg *cfg,
			uint64_t now_ms);

/*
 * When the caller should next call announce_sched_due(): the due time, or
 * the deadline of the attempt in flight; ANNOUNCE_NEVER once done.
 */
uint64_t announce_sched_next_ms(const struct announce_sched *s);

/*
 * Returns 1 and sets *out_event when an announce must be sent now (the
 * attempt is then in flight until reported or timed out), else 0. First
 * fails an attempt whose deadline has passed, as of its deadline.
 */
int announce_sched_due(struct announce_sched *s, uint64_t now_ms, enum announce_event *out_event);

/*
 * The attempt in flight was accepted (ANNOUNCE_RESP_OK). interval_s and
 * min_interval_s are the tracker's (negative when absent, as in struct
 * announce_resp): the interval is clamped to [floor, ceil] (the default
 * when absent), min interval to [0, ceil]; the next regular announce comes
 * after the larger of the two. Returns 0, or -EINVAL when nothing is in
 * flight (state unchanged).
 */
int announce_sched_on_success(struct announce_sched *s, uint64_t now_ms, int64_t interval_s,
			      int64_t min_interval_s);

/*
 * The attempt in flight failed (no answer, malformed, non-200, or a
 * tracker FAILURE). Schedules a retry after the backoff, never before the
 * min-interval bound of the last success. A failed `stopped` is not
 * retried. Returns 0, or -EINVAL when nothing is in flight.
 */
int announce_sched_on_failure(struct announce_sched *s, uint64_t now_ms);

/*
 * Asks to withdraw the registration. Nothing ever sent: done at once.
 * Otherwise `stopped` becomes due at now, or, with an attempt in flight,
 * as soon as that attempt is reported or times out (a caller that abandons
 * it reports on_failure first). Repeated calls are harmless.
 */
void announce_sched_stop(struct announce_sched *s, uint64_t now_ms);

/* 1 once the registration is over (stopped sent and ended, or never started). */
int announce_sched_done(const struct announce_sched *s);

#endif
