/*
 * utp_int: what the uTP engine's files share (utp.c: connections, output,
 * input, timers and the API; utp_cc.c: delay measurement, LEDBAT and the
 * retransmission timer; utp_hdr.c: the wire header). Not an API: see utp.h.
 * Names defined in another file than utp.c start utp_cc_ (utp_cc.c).
 */
#ifndef SEED_UTP_INT_H
#define SEED_UTP_INT_H

#include <stdint.h>

#include "dlist.h"
#include "utp.h"

#define UTP_VERSION   1u
#define UTP_EXT_SACK  1u
#define UTP_MAX_EXTS  16u
#define UTP_SACK_MAX  128u /* mask bytes we accept from a peer */
#define UTP_OUR_SACK  32u  /* mask bytes we send at most */
#define COOKIE_PERIOD 60000000ull
#define DELAY_FILTER  4u       /* current delay: minimum of the last 4 samples */
#define SHIFT_SMALL   10000u   /* base shifts (drift) up to 10 ms a sample ... */
#define SHIFT_JUMP    1000000u /* ... or clock jumps of 1 s and more */
#define INIT_CWND_PKT 4u

enum { P_SACKED = 1, P_LOST = 2, P_FAST = 4 };

struct pkt {
	uint64_t off;	  /* stream offset of the payload */
	uint64_t sent_us; /* last transmission */
	uint32_t len;	  /* payload bytes */
	uint16_t seq;
	uint8_t type; /* DATA, FIN, SYN */
	uint8_t flags;
	uint16_t tx; /* transmissions */
};

struct sref {
	const uint8_t *p;
	uint64_t end; /* stream offset past this slice */
	uint64_t cookie;
	uint32_t len;
	uint8_t last; /* the last slice of a utp_send: ACKED reports it */
};

struct rslot {
	uint32_t off, len;
	uint16_t seq;
	uint8_t present, fin;
};

/* Minimum of delay samples over base_buckets buckets (RFC 6817 §4.2). */
struct hist {
	uint32_t b[16];
	uint32_t base;
	uint64_t start; /* when the current bucket began */
	uint8_t cur, has;
};

struct conn {
	uint8_t state;
	uint8_t closing;				/* utp_close: FIN after the queue */
	uint8_t fin_sent, fin_acked, got_fin, fin_done; /* fin_done: PEER_FIN reported */
	uint8_t ack_due, ss, cwnd_limited, abort_tx, probe, connected_ev;
	uint8_t dup_acks, backoff, closed_ev, initiator;
	struct utp_addr peer;
	uint16_t recv_id, send_id;
	uint16_t syn_seq; /* accepted: the peer's SYN, to know it again */
	void *user;
	/* send */
	uint16_t seq_nr; /* next sequence number */
	uint16_t una;	 /* oldest unacknowledged */
	uint16_t loss_seq;
	uint64_t off_una, off_nxt, off_end;
	uint32_t rh, rn; /* send slices: head, count */
	uint32_t flight, cwnd, ssthresh, peer_wnd;
	/* receive */
	uint16_t ack_nr, dlv_nr, fin_seq;
	uint32_t arena_used, held, held_bytes;
	/* time */
	uint32_t srtt, rttvar, rto, reply_micro;
	uint64_t rto_at, last_rx, last_tx, fin_at;
	struct hist txh, rxh;
	uint32_t cur[DELAY_FILTER];
	uint8_t ncur, icur, jumped;
	uint32_t jump_ts; /* the peer's first timestamp after its clock jumped */
	uint32_t our_delay;
	/* ending */
	int32_t res;
	const char *detail;
	/* bookkeeping */
	uint64_t deadline;
	uint32_t hpos, hnext;
	struct dlist dirty;
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t retransmits, timeouts, dup_acks_total, sacks;
};

struct utp {
	struct utp_config cfg;
	struct conn *c;
	struct pkt *pkts;
	struct sref *refs;
	struct rslot *rs;
	uint8_t *arena, *scratch;
	uint32_t *hash, hmask;
	uint32_t *heap, nheap;
	uint32_t *freel, nfree;
	struct dlist dirty;
	uint32_t max_payload;
	uint64_t id_ctr;
	struct utp_stats st;
};

/* ---- utp_cc.c ---- */

/* The lower bound of the window (bytes). */
uint32_t utp_cc_min_cwnd(const struct utp *u);
/* A packet's timestamps: our one-way delay sample, the base delay
 * history, the peer's clock drift and jumps (c->our_delay). */
void utp_cc_timestamps(struct utp *u, struct conn *c, const struct utp_hdr *h, uint64_t now);
/* acked bytes newly acknowledged: slow start or LEDBAT. */
void utp_cc_ack(struct utp *u, struct conn *c, uint32_t acked);
/* The packet at seq was lost: half the window, once per window of data. */
void utp_cc_loss(struct utp *u, struct conn *c, uint16_t seq);
/* The retransmission timeout from srtt and rttvar (RFC 6298). */
void utp_cc_rto_set(struct utp *u, struct conn *c);
/* A round-trip sample of a packet sent at `sent` (never retransmitted). */
void utp_cc_rtt_sample(struct utp *u, struct conn *c, uint64_t now, uint64_t sent);

#endif
