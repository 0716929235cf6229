/*
 * tcp_cc: congestion control as an ops table, so a second algorithm
 * (CUBIC, RFC 9438, in part 2) is one file and one table. The engine calls
 * these at the RFC 5681 decision points; the algorithm owns cwnd and
 * ssthresh growth and reduction, the engine owns loss detection and what is
 * sent (RFC 6675 / RFC 6582).
 */
#ifndef SEED_TCP_CC_H
#define SEED_TCP_CC_H

#include <stdint.h>

struct tcp_conn;

struct tcp_cc_ops {
	const char *name;
	/* A new connection: cwnd = the initial window (RFC 6928). */
	void (*init)(struct tcp_conn *c);
	/* acked new bytes outside recovery (slow start or avoidance). */
	void (*on_ack)(struct tcp_conn *c, uint32_t acked, uint64_t now_us);
	/* Loss detected by duplicate ACKs or SACK: set ssthresh (and cwnd)
	 * for recovery; flight = bytes outstanding when it began. */
	void (*on_loss)(struct tcp_conn *c, uint32_t flight);
	/* Recovery ended (the ACK passed the recovery point). */
	void (*on_recovered)(struct tcp_conn *c);
	/* Retransmission timeout: ssthresh from flight, cwnd to one segment. */
	void (*on_rto)(struct tcp_conn *c, uint32_t flight);
	/* Sending resumes after an idle period longer than the RTO. */
	void (*on_idle_restart)(struct tcp_conn *c);
};

/* RFC 5681 with appropriate byte counting (RFC 3465, L = 2 SMSS). */
extern const struct tcp_cc_ops tcp_cc_reno;

#endif
