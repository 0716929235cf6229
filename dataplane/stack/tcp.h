/*
 * tcp: a server-side TCP for bulk sending, sans-I/O (DESIGN.md §4, §6).
 *
 * Segments and time in; frames to transmit and events out. It listens,
 * never connects. What it implements and why (../shared/reference/
 * dataplane-anchors.md §2, phase T0 plus SYN cookies):
 * - passive open through SYN cookies only (RFC 4987): a SYN costs one
 *   SYN-ACK and no memory; the cookie keeps MSS, window scale and
 *   SACK-permitted, timestamps are inferred from the final ACK;
 * - window scaling and timestamps (RFC 7323), used when the client offers
 *   them, never required; PAWS when they are on;
 * - RTO per RFC 6298 (Karn, back-off) on a hashed timer wheel; slow start
 *   and congestion avoidance (RFC 5681) with IW10 (RFC 6928) behind a
 *   congestion-control ops table (tcp_cc.h) so CUBIC can join;
 * - SACK (RFC 2018) with RFC 6675 loss recovery; NewReno (RFC 6582) when
 *   the client does not permit SACK;
 * - in-order receive (a client sends requests, not bulk: out-of-order data
 *   is dropped and re-ACKed, so nothing is buffered), zero-window probing,
 *   FIN and RST both ways, RFC 5961 challenge ACKs, a connection cap, a
 *   per-connection cap on queued payload, TIME-WAIT in a table of its own
 *   that holds no buffers.
 *
 * Sending never copies: tcp_send() queues references to the caller's
 * memory, which must stay unchanged until the send's STACK_EV_ACKED. Frames
 * come out with the TCP header at hdr + l2_len + l3_len (the caller sets
 * those offsets in tcp_config) and tx->l3 filled; stack.c writes the IP and
 * Ethernet headers and the checksums.
 *
 * Call order: tcp_input() per received segment, tcp_poll() once per loop
 * pass (timers, then queued output and ACKED events for connections that
 * changed). tcp_send()/tcp_close() take effect at the next tcp_poll().
 */
#ifndef SEED_TCP_H
#define SEED_TCP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "seed_err.h"
#include "stack_types.h"

struct tcp_cc_ops;

struct tcp_config {
	uint32_t max_conns;    /* connection slots (default 4096) */
	uint32_t max_timewait; /* TIME-WAIT entries (default = max_conns) */
	uint32_t chunk_pool;  /* queued send references, all connections (default 64 * max_conns) */
	uint32_t conn_chunks; /* ... at most per connection (default 1024) */
	uint32_t conn_sndbuf; /* queued bytes per connection (default 4 MiB) */
	uint16_t mtu;	      /* IP MTU of the port (default 1500) */
	uint16_t hdr_off;     /* where the TCP header starts in stack_tx.hdr (14 + 20) */
	uint32_t rcv_wnd;     /* receive window offered, at most 65535 (default 65535) */
	int sack;	      /* accept SACK-permitted (default 1; -1 = off) */
	int timestamps;	      /* accept timestamps (default 1; -1 = off) */
	uint32_t rto_min_us;  /* default 200 ms (as Linux; RFC 6298 says 1 s) */
	uint32_t rto_init_us; /* default 1 s */
	uint32_t rto_max_us;  /* default 60 s */
	uint32_t max_retries; /* RTOs in a row before giving up (default 10) */
	uint32_t orphan_retries;       /* ... after tcp_close() (default 6) */
	uint32_t fin_timeout_us;       /* FIN-WAIT-2 and TIME-WAIT lifetime (default 60 s) */
	uint32_t challenge_acks_per_s; /* RFC 5961 §7 limit (default 1000) */
	uint8_t secret[16]; /* SYN cookie and timestamp-offset key; all zero: the caller forgot */
	const struct tcp_cc_ops *cc; /* default tcp_cc_reno */
};

struct tcp_stats {
	uint64_t segs_in, segs_out, bytes_in, bytes_out;
	uint64_t syn_in, synack_out, cookie_ok, cookie_bad, accepts, accept_overflow;
	uint64_t rst_in, rst_out, challenge_acks, challenge_acks_limited;
	uint64_t retransmits, retransmit_bytes, rto, fast_recovery, sack_recovery;
	uint64_t dup_acks, ooo_dropped, out_of_window, paws_dropped, bad_ack;
	uint64_t zero_window_probes, timewait_in, timeouts, sndbuf_full;
	uint64_t tx_full; /* output stopped for lack of tx room */
	uint64_t malformed;
	uint64_t lost_retransmits; /* retransmissions found lost by SACK, sent again */
};

/* A received TCP segment, as stack.c hands it over (checksum checked). */
struct tcp_seg_in {
	struct stack_addr src, dst; /* ports filled from the header by tcp_input */
	const uint8_t *p;	    /* TCP header + payload */
	size_t len;
	uint64_t rx_handle; /* for STACK_EV_DATA */
};

struct tcp;

int tcp_create(const struct tcp_config *cfg, struct tcp **out, struct seed_err *err);
void tcp_destroy(struct tcp *t);

/* Accepts connections to (any local address, port); tag comes back with
 * STACK_EV_ACCEPT. Returns 0, -EADDRINUSE or -ENOSPC (8 listeners). */
int tcp_listen(struct tcp *t, uint16_t port, uint32_t tag);
/* Stops answering SYNs; existing connections continue. */
void tcp_stop_listening(struct tcp *t);

void tcp_input(struct tcp *t, const struct tcp_seg_in *seg, uint64_t now_us, struct stack_out *out);

/*
 * Handles an ICMP "fragmentation needed" quoting one of our segments
 * (quoted: its IPv4 header + at least 8 bytes of TCP header): lowers that
 * connection's segment size to fit mtu when the quoted sequence number is
 * one we have in flight (RFC 5927 §4.1). Other quotes are ignored.
 */
void tcp_icmp_mtu(struct tcp *t, const struct stack_addr *local, const struct stack_addr *remote,
		  uint32_t quoted_seq, uint16_t mtu);

/*
 * Queues iov[0..n) to send after what is queued (bulk: all or nothing).
 * The memory is borrowed until STACK_EV_ACKED(cookie). Returns 0, -EAGAIN
 * (the connection's queue or the pool is full: retry after an ACKED
 * event), -ENOTCONN (closed, closing, or no such connection), -EINVAL.
 */
int tcp_send(struct tcp *t, uint32_t conn, const struct iovec *iov, int n, uint64_t cookie);

/* Sends FIN after what is queued; CLOSED follows once the peer has it all
 * (or the connection times out or is reset). Idempotent. */
void tcp_close(struct tcp *t, uint32_t conn);
/* Sends RST and drops what is queued; ACKED for each queued send, then
 * CLOSED(-ECONNABORTED), at the next tcp_poll(). */
void tcp_abort(struct tcp *t, uint32_t conn);

/* Runs timers due at now_us, then sends what connections may send and
 * reports their ACKED/CLOSED events. Call once per loop pass. */
void tcp_poll(struct tcp *t, uint64_t now_us, struct stack_out *out);

/* The earliest time tcp_poll() has work for (UINT64_MAX: none): for a
 * caller that sleeps, or a simulator that jumps in time. O(timer slots). */
uint64_t tcp_next_deadline(const struct tcp *t);

/* Per-connection view, for counters and tests. */
struct tcp_conn_info {
	int state; /* enum tcp_state, tcp_int.h */
	uint32_t cwnd, ssthresh, srtt_us, rto_us, smss, snd_wnd, flight;
	uint8_t sack, ts, wscale_peer;
	uint32_t queued_bytes;
	/* where the send side stands, as offsets from snd_una */
	uint32_t nxt, max, end;
	uint8_t in_recovery, rto_recovery, nsack, backoff, timer;
};
int tcp_conn_info(const struct tcp *t, uint32_t conn, struct tcp_conn_info *out);

const struct tcp_stats *tcp_stats(const struct tcp *t);

/* One option of a TCP header's option list. */
struct tcp_opt {
	uint8_t kind;
	uint8_t len;	    /* of the whole option, kind and length bytes included */
	const uint8_t *val; /* its len - 2 value bytes */
};

/*
 * Steps through the option list p[0..len) from *at: passes NOPs and stops
 * at EOL or the end. Returns 1 with *out the next option and *at past it,
 * 0 at the end of the list, or -EBADMSG when an option's length is under 2
 * or runs past the list. It frames options and nothing more: what a kind
 * means, and which lengths it may have, is the caller's to check, so the
 * stack and the tests that read its segments share the framing alone.
 */
int tcp_opt_next(const uint8_t *p, size_t len, size_t *at, struct tcp_opt *out);

#endif
