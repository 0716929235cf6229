/*
 * receiver: the simulator's client, a TCP receiver written for the test
 * and sharing no code with the stack under test (it computes its own
 * checksums and parses its own headers), so the two cannot agree on a
 * mistake.
 *
 * It behaves like a Linux client fetching one object: it resolves the
 * server by ARP (and answers the server's ARP requests), opens with a SYN
 * carrying a chosen option set (MSS, window scale, SACK-permitted,
 * timestamps, any combination, none included), sends a small request,
 * then receives: out-of-order data is buffered as ranges, the cumulative
 * ACK carries up to 4 SACK blocks (3 with timestamps; the one holding the
 * latest segment first, RFC 2018 §4) and a D-SACK block for duplicates
 * (RFC 2883), ACKs are delayed to every second segment (quick ACKs for the
 * first ones, immediate ACKs for out-of-order data and filled holes), and
 * timestamps are echoed per RFC 7323 §4.3. Once the server's FIN is in, it
 * ACKs it and sends its own FIN, retransmitted until acknowledged.
 *
 * It is also the judge: every frame it receives must be well formed
 * (Ethernet addresses, IPv4 header and checksum, TCP checksum), carry the
 * negotiated options and no others, fit the segment size and the window it
 * advertised, and every payload byte must equal pattern[offset % period];
 * the FIN must come exactly after the last byte. The first violation is
 * kept in err and the receiver stops (failed).
 */
#ifndef SEED_SIM_RECEIVER_H
#define SEED_SIM_RECEIVER_H

#include <stddef.h>
#include <stdint.h>

struct rcv_cfg {
	uint8_t mac[6];
	uint32_t ip, srv_ip; /* host order */
	uint16_t port, srv_port;
	uint16_t mss;		/* the MSS option sent; 0: none (the server assumes 536) */
	int ws;			/* our window scale shift; -1: no option */
	int sack, ts;		/* offer SACK-permitted, timestamps */
	int dsack;		/* report duplicates (RFC 2883) */
	uint32_t rcvbuf;	/* the window we offer, in bytes */
	uint16_t mtu;		/* IP MTU */
	uint64_t size;		/* bytes the server sends */
	const uint8_t *pattern; /* pattern[o % period] is byte o; readable to
				   period + 65536 */
	uint32_t period;
	const uint8_t *req; /* the request, sent after the handshake */
	uint32_t req_len;
	uint32_t isn, ts_off;
	uint64_t delack_ns;  /* delayed-ACK timer (default 40 ms) */
	uint64_t rto_min_ns; /* our own retransmissions (default 200 ms) */
	uint32_t quickack;   /* segments ACKed at once at the start (default 16) */
	/* where our frames go: f[0..len) is ours only during the call */
	void (*send)(void *arg, const uint8_t *f, size_t len);
	void *arg;
};

struct rcv_range {
	uint64_t s, e, touched;
};

enum rcv_state { RCV_ARP, RCV_SYN_SENT, RCV_EST, RCV_FIN_SENT, RCV_DONE };

struct rcv_stats {
	uint64_t frames, data_segs, dup_segs, ooo_segs, acks, dsacks, sack_blocks;
	uint64_t rtx, arp_answered;
};

struct rcv {
	struct rcv_cfg cfg;
	enum rcv_state state;
	uint8_t srv_mac[6];
	/* our sequence space */
	uint32_t snd_una, snd_nxt;
	int fin_sent;
	/* negotiated */
	int ws_ok, sack_ok, ts_ok;
	uint8_t rcv_shift;
	uint32_t eff_mss; /* the payload a server segment may carry */
	/* the server's stream, as offsets from its first byte */
	uint32_t irs;
	uint64_t rcv_nxt, right_edge;
	int fin_seen, got_fin;
	struct rcv_range *ooo;
	uint32_t n_ooo, ooo_cap;
	uint64_t touch;
	int have_dsack;
	uint64_t ds_s, ds_e;
	uint32_t pending, quick_left;
	uint64_t delack_at;
	uint32_t ts_recent;
	uint64_t last_ack_off;
	/* retransmission of our SYN, request and FIN */
	uint64_t rtx_at, rto_ns;
	uint32_t rtx_count;
	uint64_t t_syn, t_est, t_first, t_last, t_done, now;
	struct rcv_stats st;
	int failed;
	char err[320];
};

/* Starts: sends the ARP request at now_ns. Returns 0 or -ENOMEM. */
int rcv_init(struct rcv *r, const struct rcv_cfg *cfg, uint64_t now_ns);
void rcv_free(struct rcv *r);
/* A frame from the link, borrowed for the call. */
void rcv_input(struct rcv *r, const uint8_t *f, size_t len, uint64_t now_ns);
/* The earliest time rcv_timer() has work (UINT64_MAX: none). */
uint64_t rcv_deadline(const struct rcv *r);
void rcv_timer(struct rcv *r, uint64_t now_ns);

#endif
