/*
 * tcp_int.h: the TCP engine's internals, shared by tcp.c (table, timers,
 * API, events), tcp_in.c (segment arrival), tcp_out.c (what to send and
 * building segments), tcp_cookie.c and tcp_cc.c. Not a public header.
 *
 * Sequence numbers compare modulo 2^32 (SEQ_LT and friends). The send
 * queue is a list of chunk references from a pool shared by the
 * connections; chunk k covers [seq, seq + len) of the stream, the head
 * chunk starts at or below snd_una, and buf_end is the sequence number
 * after the last queued byte (the FIN takes buf_end when queued).
 */
#ifndef SEED_TCP_INT_H
#define SEED_TCP_INT_H

#include <stdint.h>

#include "tcp.h"
#include "tcp_cc.h"

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

#define TCP_NIL	       UINT32_MAX
#define TCP_HDR_LEN    20
#define TCP_MAX_LISTEN 8
#define TCP_SACK_MAX   32 /* scoreboard ranges kept per connection */
#define TCP_DUPTHRESH  3
#define TCP_TS_OPT_LEN 12 /* NOP NOP TS(10) */

/* header flags */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

enum tcp_state {
	TCP_S_FREE = 0,
	TCP_S_ESTABLISHED,
	TCP_S_CLOSE_WAIT, /* peer sent FIN */
	TCP_S_FIN_WAIT_1, /* we sent FIN, not yet acknowledged */
	TCP_S_FIN_WAIT_2, /* our FIN acknowledged, theirs not here */
	TCP_S_CLOSING,	  /* both FINs sent, ours not acknowledged */
	TCP_S_LAST_ACK,	  /* peer's FIN came first, ours not acknowledged */
	TCP_S_CLOSED,	  /* done: reporting ACKED/CLOSED, then free */
};

/* Options of a segment, as parsed. */
struct tcp_opts {
	uint16_t mss;
	uint8_t wscale; /* valid with has_ws */
	uint8_t has_mss, has_ws, sack_ok, has_ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack[4][2];
};

struct tcp_chunk {
	const uint8_t *p;
	uint32_t len;
	uint32_t next; /* TCP_NIL at the tail */
	uint64_t cookie;
	uint8_t last; /* the last chunk of a tcp_send(): ACKED when acknowledged */
};

/* A place in the send queue: the chunk holding sequence number seq's
 * neighbourhood (chunk starts at cseq). Cursors make the next lookup near
 * the last one O(1); one falls back to the head when behind it. */
struct tcp_cursor {
	uint32_t chunk; /* TCP_NIL: invalid */
	uint32_t cseq;
};

struct tcp_conn {
	uint8_t state;
	uint8_t sack_ok, ts_ok, orphan, in_recovery, dirty, ack_now, fin_queued;
	uint8_t snd_wscale; /* the peer's shift, applied to the windows it sends */
	uint8_t backoff;    /* RTOs in a row */
	uint8_t nsack;
	uint8_t timer_kind;   /* TCP_T_* */
	uint8_t rtt_timing;   /* a Karn sample is running */
	uint8_t probing;      /* a zero-window probe is due */
	uint8_t probes_out;   /* zero-window probes the peer did not answer */
	uint8_t rto_recovery; /* go-back-N after an RTO until snd_nxt reaches recover */
	uint8_t peer_fin;     /* reported PEER_FIN */
	uint8_t rxt_head;     /* retransmit the segment at snd_una now */
	uint8_t head_rxt_out; /* the segment at snd_una was sent again ... */
	int32_t close_res;    /* CLOSED's res, when state is CLOSED */

	struct stack_addr local, remote;
	uint32_t tag;
	uint32_t hnext; /* hash chain */
	uint32_t dnext; /* dirty list */

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, buf_end;
	uint32_t snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	uint32_t smss; /* payload bytes per segment (options excluded) */
	uint32_t cwnd, ssthresh, cc_acc;
	uint32_t dupacks, recover, high_rxt;
	uint32_t sack_s[TCP_SACK_MAX], sack_e[TCP_SACK_MAX]; /* sorted, disjoint, above snd_una */
	/* the highest SACKed byte + 1, kept or not: ranges above the last
	 * kept one were forgotten for lack of slots (see tcp_sack_top) */
	uint32_t sack_high;
	uint32_t head_rxt_mark; /* ... when snd_max was this */
	uint64_t last_send_us;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv;
	uint32_t ts_recent, ts_off;

	/* RTT (RFC 6298), microseconds */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;
	uint64_t rtt_start_us;

	/* the send queue */
	uint32_t q_head, q_tail, q_chunks;
	uint32_t q_head_seq; /* sequence number of the head chunk's first byte */
	struct tcp_cursor cur_new, cur_rxt;

	/* the one timer: RTO, persist or FIN-WAIT-2 */
	uint64_t timer_at;
	uint32_t t_prev, t_next, t_slot;
};

enum { TCP_T_NONE = 0, TCP_T_RTO, TCP_T_PERSIST, TCP_T_FINWAIT };

struct tcp_tw {
	struct stack_addr local, remote;
	uint32_t snd_nxt, rcv_nxt, ts_recent, ts_off;
	uint64_t expires;
	uint32_t hnext;
	uint8_t used, ts_ok;
};

#define TCP_WHEEL_SLOTS	  1024u
#define TCP_WHEEL_TICK_US 1000u

struct tcp {
	struct tcp_config cfg;
	struct tcp_stats st;
	struct tcp_conn *conns;
	uint32_t free_head; /* free connection slots, through hnext */
	uint32_t n_conns;
	uint32_t *hash; /* 4-tuple -> connection, chains through hnext */
	uint32_t hmask;
	struct tcp_chunk *chunks;
	uint32_t chunk_free, chunks_used;
	uint32_t dirty_head, dirty_tail;
	struct {
		uint16_t port;
		uint32_t tag;
	} listen[TCP_MAX_LISTEN];
	uint32_t n_listen;
	int listening;
	/* the timer wheel */
	uint32_t wheel[TCP_WHEEL_SLOTS];
	uint64_t wheel_tick; /* ticks processed up to (exclusive) */
	uint32_t n_timers;
	/* TIME-WAIT: a ring in expiry order, and a hash over it */
	struct tcp_tw *tw;
	uint32_t tw_head, tw_count;
	uint32_t *tw_hash;
	uint32_t tw_hmask;
	/* RFC 5961 challenge ACKs */
	uint64_t chal_window_start;
	uint32_t chal_count;
	uint64_t now;
};

/* tcp.c */
/* SipHash of a connection's ends under the stack's secret, one value per
 * use (the table 'h', timestamp offsets 't', cookies 'c') so that none
 * tells a peer anything about another: a timestamp offset that was the
 * table hash would show a peer which chain its connection is on. */
#define TCP_MAC_EXTRA_MAX 16
uint64_t tcp_tuple_mac(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		       uint8_t use, const uint8_t *extra, size_t n);
uint32_t tcp_hash_tuple(const struct tcp *t, const struct stack_addr *l,
			const struct stack_addr *r);
struct tcp_conn *tcp_lookup(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
			    uint32_t *out_id);
uint32_t tcp_conn_id(const struct tcp *t, const struct tcp_conn *c);
struct tcp_conn *tcp_conn_new(struct tcp *t, const struct stack_addr *l,
			      const struct stack_addr *r);
void tcp_mark_dirty(struct tcp *t, struct tcp_conn *c);
void tcp_timer_set(struct tcp *t, struct tcp_conn *c, int kind, uint64_t at);
void tcp_timer_clear(struct tcp *t, struct tcp_conn *c);
void tcp_set_closed(struct tcp *t, struct tcp_conn *c, int32_t res);
void tcp_enter_timewait(struct tcp *t, struct tcp_conn *c);
struct tcp_tw *tcp_tw_lookup(struct tcp *t, const struct stack_addr *l, const struct stack_addr *r);
void tcp_tw_drop(struct tcp *t, struct tcp_tw *w);
int tcp_challenge_allowed(struct tcp *t);
uint32_t tcp_sacked_below(const struct tcp_conn *c, uint32_t seq);
/* Where the scoreboard's knowledge ends: the end of the highest kept
 * range (snd_una when none). Between it and sack_high lie ranges that did
 * not fit, and holes: that region has left the network as far as pipe is
 * concerned (delivered or lost, as FACK assumes), and is sent again when
 * the holes below it are repaired. */
static inline uint32_t tcp_sack_top(const struct tcp_conn *c)
{
	return c->nsack ? c->sack_e[c->nsack - 1] : c->snd_una;
}

/* tcp_in.c */
int tcp_parse_opts(const uint8_t *p, size_t len, int syn, struct tcp_opts *o);

/* tcp_out.c */
/* Sends what c may send now (data, retransmissions, FIN, probes, or a bare
 * ACK when one is owed). Returns 0, or -ENOBUFS when out is full. */
int tcp_output(struct tcp *t, struct tcp_conn *c, struct stack_out *out);
/* A segment with no payload from c's state (flags, seq). */
int tcp_send_ctl(struct tcp *t, struct tcp_conn *c, uint8_t flags, uint32_t seq,
		 struct stack_out *out);
/* A segment outside any connection (RST, SYN-ACK, TIME-WAIT ACK). */
struct tcp_raw {
	const struct stack_addr *local, *remote;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	/* options */
	uint16_t mss; /* SYN-ACK: 0 = none */
	int ws;	      /* -1 none */
	int sack_ok, ts;
	uint32_t tsval, tsecr;
};
int tcp_send_raw(struct tcp *t, const struct tcp_raw *r, struct stack_out *out);
void tcp_rto_fire(struct tcp *t, struct tcp_conn *c);
uint32_t tcp_flight(const struct tcp_conn *c);

/* tcp_cookie.c */
uint32_t tcp_cookie_make(const struct tcp *t, const struct stack_addr *l,
			 const struct stack_addr *r, uint32_t client_isn, uint64_t now_us,
			 const struct tcp_opts *o, uint16_t *out_mss);
/* Checks the cookie (ack - 1) of a final ACK; fills mss, wscale (-1 none)
 * and sack. Returns 0 or -EBADMSG. */
int tcp_cookie_check(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		     uint32_t client_isn, uint32_t cookie, uint64_t now_us, uint16_t *out_mss,
		     int *out_ws, int *out_sack);
uint32_t tcp_ts_offset(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r);

static inline uint32_t tcp_now_ms(uint64_t now_us)
{
	return (uint32_t)(now_us / 1000);
}

#endif
