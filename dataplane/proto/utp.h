/*
 * utp: a sans-I/O uTP engine (BEP 29) for the seed, under the peer-wire
 * engine: datagrams and time in, datagrams to send and stream events out.
 * It never touches a socket or a clock, has no globals, and allocates only
 * in utp_create (every connection's memory is carved out of one set of
 * arrays sized there). docs/utp.md has the states, limits and LEDBAT
 * behaviour for operators.
 *
 * What it does:
 * - the v1 header (20 bytes, big-endian), types DATA, FIN, STATE, RESET,
 *   SYN, and the extension chain with selective ACK (type 1) read and
 *   written; unknown extensions are skipped; a datagram that breaks the
 *   format (version, type, lengths, a chain past its end) is dropped before
 *   it changes anything;
 * - connection ids as BEP 29 says: an accepted connection's recv_id is the
 *   SYN's id + 1 and its send_id the SYN's id; utp_connect picks recv_id
 *   and sends the SYN with it (send_id = recv_id + 1);
 * - SYNs cost no memory: the answer's sequence number is a SYN cookie (see
 *   utp.c), and a connection exists only once the initiator's first DATA
 *   (or FIN) acknowledges it; the caller's admit hook decides then;
 * - LEDBAT (RFC 6817) with slow start, a base delay that follows clock
 *   drift and jumps of the peer's clock, growth of gain_bytes per RTT under
 *   the target and a decrease in proportion to the excess over it (at most
 *   half a window per RTT, as LEDBAT++); RTO per RFC 6298 with back-off;
 *   fast retransmit after 3 duplicate or selective ACKs, half the window
 *   on loss; bounded send and receive windows, bounded reordering;
 * - FIN and RESET both ways, connect, idle and resend timeouts.
 *
 * Sending never copies: utp_send queues references to the caller's memory,
 * which must stay unchanged until the send's UTP_EV_ACKED. A datagram to
 * send (struct utp_tx) is a header the engine built followed by slices of
 * that memory; the caller copies or attaches them before its next call.
 * Packets are cut when first sent and never repacketised (uTP numbers
 * packets, not bytes), so a retransmission sends the same slices again.
 *
 * Call order: utp_create; then any sequence of utp_input (one received
 * datagram), utp_poll (timers, queued output and deferred events; once per
 * loop pass and whenever utp_next_deadline is due), utp_connect, utp_send,
 * utp_close, utp_abort (those four take effect at the next utp_poll or
 * utp_input); utp_destroy. One engine belongs to one thread.
 */
#ifndef SEED_UTP_H
#define SEED_UTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "seed_err.h"

#define UTP_HDR_LEN	20u /* the fixed header */
#define UTP_HDR_MAX	64u /* fixed header + our selective ACK (at most 32 bytes of mask) */
#define UTP_TX_SLICES	8u  /* payload slices per datagram; a packet needing more is cut short */
#define UTP_EV_MIN	4u  /* free event slots utp_input needs, or it drops the datagram */
#define UTP_NO_DEADLINE UINT64_MAX
#define UTP_NO_CONN	UINT32_MAX

enum utp_type {
	UTP_ST_DATA = 0,
	UTP_ST_FIN = 1,
	UTP_ST_STATE = 2,
	UTP_ST_RESET = 3,
	UTP_ST_SYN = 4,
};

enum utp_af { UTP_AF_INET = 4, UTP_AF_INET6 = 6 };

/* A peer's UDP address. Compared as bytes: zero what af does not use. */
struct utp_addr {
	uint8_t af;	/* enum utp_af */
	uint8_t zero;	/* always 0 (padding compared as bytes) */
	uint16_t port;	/* host order */
	uint8_t ip[16]; /* IPv4 in ip[0..4), network order */
};

/*
 * One parsed header. sack points into the datagram (sack_len bytes, 0: no
 * selective ACK); payload is p + data_off .. p + len.
 */
struct utp_hdr {
	uint8_t type, ver;
	uint16_t conn_id;
	uint32_t ts_us, ts_diff_us, wnd;
	uint16_t seq, ack;
	const uint8_t *sack;
	uint8_t sack_len;
	uint32_t data_off;
};

/*
 * Parses p[0..len): 0, or -EBADMSG with *out_fault the byte offset of the
 * fault (a datagram under 20 bytes, version other than 1, type over 4, an
 * extension chain running past the datagram or longer than 16 links, a
 * selective ACK whose mask is empty or over 128 bytes, a second selective
 * ACK). Unknown extension types are skipped; a mask that is not a multiple
 * of 4 bytes (BEP 29 asks for one) is taken as it is, as libutp does.
 */
int utp_parse(const uint8_t *p, size_t len, struct utp_hdr *out, size_t *out_fault);

/*
 * Writes h's fixed header (version 1, h->ver ignored) and, when
 * h->sack_len, one selective-ACK extension with that mask (a multiple of 4
 * up to 32 bytes) into p, which has UTP_HDR_MAX bytes. Returns the bytes
 * written.
 */
size_t utp_build(uint8_t *p, const struct utp_hdr *h);

/*
 * The admit hook: a connection from peer would be created at now_us (its
 * handshake just completed). Return 0 to admit it (and set *out_user to
 * what UTP_EV_ACCEPT and later events carry, e.g. the worker's context
 * holding an admit ticket), or a negative errno to refuse: the peer gets
 * ST_RESET (so it falls back to TCP at once) and nothing is kept.
 */
typedef int (*utp_admit_fn)(void *ctx, const struct utp_addr *peer, uint64_t now_us,
			    void **out_user);

/* Settings; utp_config_default fills them, utp_create checks bounds. */
struct utp_config {
	uint32_t max_conns;   /* connection slots (default 1024) */
	uint32_t max_packets; /* packets in flight per connection, a power of 2, 16..4096 (512) */
	/* Packets in flight on a short path (smoothed RTT up to near_rtt_us),
	 * growing in proportion to the RTT beyond it, up to max_packets (128,
	 * 20 ms; 0: max_packets always). A window bigger than the receiver's
	 * UDP socket buffer overflows it where the receiver is the slowest
	 * hop (loopback, a LAN), and there is no pacing; on a long path the
	 * window is spread along the path, which needs it (128 packets per
	 * 100 ms is 1.8 MB/s). */
	uint32_t near_packets;
	uint32_t near_rtt_us;
	uint32_t max_sends;	  /* queued utp_send slices per connection (256) */
	uint32_t sndbuf;	  /* queued bytes per connection (4 MiB) */
	uint32_t rcv_buf;	  /* out-of-order bytes held per connection, our window (32 KiB) */
	uint32_t max_reorder;	  /* out-of-order packets held, a power of 2, 4..256 (64) */
	uint32_t packet_size;	  /* datagram bytes, header + payload, 150..65507 (1400) */
	uint32_t target_delay_us; /* LEDBAT target (100 ms) */
	uint32_t gain_bytes;	  /* window growth per RTT at zero queueing delay (3000) */
	uint32_t base_bucket_ms;  /* base delay history: bucket length (60 s) */
	uint32_t base_buckets;	  /* ... and count, 2..16 (2: a 1-2 minute minimum) */
	uint32_t rto_min_ms;	  /* 500 */
	uint32_t rto_init_ms;	  /* 1000 */
	uint32_t rto_max_ms;	  /* 30000 */
	uint32_t max_timeouts;	  /* RTOs in a row before closing (5) */
	uint32_t syn_resends;	  /* SYN retransmissions of utp_connect (2) */
	uint32_t idle_timeout_ms; /* nothing received for this long → closed (120 s) */
	uint32_t keepalive_ms;	  /* a STATE after this long without sending (29 s, NATs) */
	uint32_t fin_timeout_ms;  /* after our FIN is acknowledged, the peer's may take (10 s) */
	uint8_t secret[16];	  /* SYN cookies, connection ids, hashing: random per process */
	utp_admit_fn admit;	  /* NULL: admit everyone */
	void *admit_ctx;
};

/* Engine counters (the worker sums them). */
struct utp_stats {
	uint64_t datagrams_in, datagrams_out, bytes_in, bytes_out; /* payload bytes */
	uint64_t malformed;					   /* utp_parse refused */
	uint64_t syn_in;					   /* SYNs answered with a cookie */
	uint64_t cookie_bad; /* DATA/FIN for no connection, no valid cookie: dropped */
	uint64_t no_conn;    /* STATE/RESET for no connection: dropped */
	uint64_t accepts;    /* connections created by a valid cookie */
	uint64_t refused;    /* the admit hook said no */
	uint64_t table_full; /* no free slot */
	uint64_t connects;   /* utp_connect */
	uint64_t resets_in, resets_out;
	uint64_t retransmits, fast_retransmits, timeouts;
	uint64_t dup_packets;	/* data we had already */
	uint64_t out_of_window; /* data too far ahead, or no room to hold it */
	uint64_t bad_ack;	/* acks of packets never sent, or far in the past */
	uint64_t tx_full;	/* output stopped for lack of tx room */
	uint64_t ev_short;	/* a datagram dropped for lack of event room */
};

/* Per-connection view (counters and SIGUSR1 dumps). */
enum utp_state {
	UTP_FREE = 0,
	UTP_SYN_SENT, /* utp_connect: waiting for the answer to our SYN */
	UTP_CONNECTED,
	UTP_FIN_SENT, /* utp_close: our FIN is out (or waiting to go) */
	UTP_DEAD,     /* closed; reporting its last events, then free */
};

struct utp_conn_info {
	enum utp_state state;
	struct utp_addr peer;
	uint16_t recv_id, send_id;
	uint32_t cwnd, peer_wnd, flight; /* bytes */
	uint32_t our_delay_us;		 /* queueing delay we measured, base removed */
	uint32_t base_delay_us;		 /* the base (raw: includes the clocks' offset) */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint8_t slow_start;
	uint32_t queued; /* bytes queued and not yet acknowledged */
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t retransmits, timeouts, dup_acks, sacks;
};

/* One payload slice of a datagram to send. */
struct utp_slice {
	const uint8_t *p;
	uint32_t len;
};

/* A datagram to send: hdr[0..hdr_len) then pay[0..n_pay), pay_len bytes. */
struct utp_tx {
	struct utp_addr to;
	uint32_t conn; /* UTP_NO_CONN for answers that belong to none */
	uint16_t hdr_len;
	uint8_t n_pay;
	uint32_t pay_len;
	uint8_t hdr[UTP_HDR_MAX];
	struct utp_slice pay[UTP_TX_SLICES];
};

enum utp_ev_kind {
	/* conn: a peer's connection was admitted; peer = its address, user =
	 * what the admit hook set. DATA may follow in the same call. */
	UTP_EV_ACCEPT = 1,
	/* conn: utp_connect's handshake finished. */
	UTP_EV_CONNECTED,
	/* conn: in-order bytes data[0..len): valid until the next utp_input
	 * (they point into the datagram, or into the engine's reorder
	 * memory). The caller takes them all. */
	UTP_EV_DATA,
	/* conn: the peer's FIN: no more bytes will come. We may still send
	 * until utp_close. */
	UTP_EV_PEER_FIN,
	/* conn: every byte of the utp_send with this cookie was acknowledged
	 * (or the connection closed): the memory is the caller's again. One
	 * per accepted send, in send order, always before CLOSED. */
	UTP_EV_ACKED,
	/* conn: gone; res 0 (orderly), -ECONNRESET (peer's RESET),
	 * -ECONNREFUSED (RESET to our SYN), -ETIMEDOUT (connect, idle, resend
	 * or FIN timeout: detail says which), -ECONNABORTED (utp_abort). The
	 * id may be reused after this event. */
	UTP_EV_CLOSED,
};

struct utp_ev {
	enum utp_ev_kind kind;
	uint32_t conn;
	void *user;
	int32_t res;	    /* CLOSED */
	const char *detail; /* CLOSED: static string, for logs */
	const uint8_t *data;
	uint32_t len;	      /* DATA */
	uint64_t cookie;      /* ACKED */
	struct utp_addr peer; /* ACCEPT */
};

/*
 * Where a call appends its output. Datagrams that find tx full stay queued
 * (data) or are dropped and counted (a bare ACK, a RESET, a SYN answer), as
 * a NIC queue would. Events that find ev full wait for the next utp_poll,
 * except that utp_input needs UTP_EV_MIN free slots to take a datagram.
 */
struct utp_out {
	struct utp_tx *tx;
	uint32_t ntx, txcap;
	struct utp_ev *ev;
	uint32_t nev, evcap;
};

struct utp;

void utp_config_default(struct utp_config *cfg);

/* Builds an engine (every connection's memory, about 60 KiB each with the
 * defaults, allocated here). cfg is copied. 0, -EINVAL (err names the
 * setting) or -ENOMEM. */
int utp_create(const struct utp_config *cfg, struct utp **out, struct seed_err *err);
void utp_destroy(struct utp *u);

/* One received datagram p[0..len) from `from` at now_us (borrowed for the
 * call; DATA events may point into it until the next utp_input). */
void utp_input(struct utp *u, const struct utp_addr *from, const uint8_t *p, size_t len,
	       uint64_t now_us, struct utp_out *out);

/* Runs timers due at now_us, sends what connections may send and reports
 * deferred events. */
void utp_poll(struct utp *u, uint64_t now_us, struct utp_out *out);

/* The earliest time utp_poll has work for (0: now; UTP_NO_DEADLINE). */
uint64_t utp_next_deadline(const struct utp *u);

/*
 * Opens a connection to `to` (the SYN goes out at the next utp_poll).
 * user comes back with its events. 0 with *out_conn, -ENOSPC (no slot).
 */
int utp_connect(struct utp *u, const struct utp_addr *to, void *user, uint64_t now_us,
		uint32_t *out_conn);

/*
 * Queues iov[0..n) after what is queued (bulk: all or nothing); the memory
 * is borrowed until UTP_EV_ACKED(cookie). 0, -EAGAIN (slices or bytes over
 * the connection's bounds: retry after an ACKED), -ENOTCONN (closing,
 * closed, unknown), -EINVAL (n < 1 or nothing to send).
 */
int utp_send(struct utp *u, uint32_t conn, const struct iovec *iov, int n, uint64_t cookie);

/* Sends FIN after what is queued (after the handshake, on a connection
 * still in SYN_SENT); the peer's data is still delivered (a half close).
 * CLOSED follows: res 0 once our FIN is acknowledged and the peer's is in,
 * or fin_timeout_ms after our FIN was acknowledged; our FIN is resent like
 * data, and max_timeouts RTOs without an acknowledgement end with res 0
 * when every byte of ours was acknowledged and the peer's FIN is in (it
 * did not linger), -ETIMEDOUT otherwise. Idempotent. */
void utp_close(struct utp *u, uint32_t conn);

/* Sends RESET and drops what is queued: ACKED for each queued send, then
 * CLOSED(-ECONNABORTED), at the next utp_poll. */
void utp_abort(struct utp *u, uint32_t conn);

/* Replaces the pointer a connection's events carry. */
void utp_set_user(struct utp *u, uint32_t conn, void *user);

/* 0 with *out filled, or -ENOENT (slot free). */
int utp_conn_info(const struct utp *u, uint32_t conn, struct utp_conn_info *out);

const struct utp_stats *utp_stats(const struct utp *u);

/* Connections in use (any state but FREE). */
uint32_t utp_conns(const struct utp *u);

#endif
