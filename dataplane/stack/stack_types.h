/*
 * stack_types: what the userspace TCP/IP stack hands its caller, shared by
 * every layer (eth, arp, ipv4, icmp, tcp) and by stack.c which ties them.
 *
 * The stack is sans-I/O (../shared/DESIGN.md §4): frames and time go in,
 * frames to transmit and events come out, appended to a caller-provided
 * struct stack_out. Nothing here reads a clock, allocates on the hot path,
 * or knows about DPDK: dataplane/netio/dpdk.c turns stack_tx into mbufs and
 * the simulator (tests/sim/) turns them into bytes on a simulated link.
 *
 * Payload is never copied by the stack: a frame to transmit is a header the
 * stack built (hdr[0..hdr_len)) followed by payload slices that point into
 * memory the application handed to stack_send() (cache memory), or into a
 * received frame named by hold_rx (an ICMP echo reply). The transmitter
 * copies or attaches them; the memory stays valid until the events below
 * say otherwise.
 */
#ifndef SEED_STACK_TYPES_H
#define SEED_STACK_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Ethernet (14) + IPv4 without options (20) or IPv6 (40) + TCP with options
 * (60), rounded up. */
#define STACK_HDR_MAX 128
/* Payload slices per frame: a segment that would need more is cut short. */
#define STACK_TX_SLICES 8

/* Address families, so IPv6 (part 2) fits the same frames and events. */
enum stack_af { STACK_AF_INET = 4, STACK_AF_INET6 = 6 };

struct stack_addr {
	uint8_t af;	/* enum stack_af */
	uint16_t port;	/* host order; 0 where it has no meaning */
	uint8_t ip[16]; /* IPv4 in ip[0..4), network order */
};

struct stack_slice {
	const uint8_t *p;
	uint32_t len;
};

/* Checksum offload requests a frame carries when the NIC computes them
 * (stack_config.tx_csum_offload); otherwise the stack wrote them already. */
enum {
	STACK_TX_OL_IPV4_CSUM = 1u << 0,
	STACK_TX_OL_TCP_CSUM = 1u << 1, /* pseudo-header sum left in the field */
};

/* One frame to transmit: hdr[0..hdr_len) then pay[0..n_pay) in order. */
struct stack_tx {
	uint8_t hdr[STACK_HDR_MAX];
	uint16_t hdr_len;
	uint8_t l2_len, l3_len; /* for offload metadata */
	uint8_t l4_len;
	uint8_t n_pay;
	uint8_t ol_flags; /* STACK_TX_OL_* */
	uint32_t pay_len;
	/* Payload points into the received frame with this handle (the
	 * caller's, from stack_input()): keep that frame alive until this one
	 * is transmitted. 0 when the payload is application memory or none. */
	uint64_t hold_rx;
	/* The layer-3 ends and protocol, set by the layer that made the
	 * frame (TCP) for the one that routes it (stack.c). */
	struct stack_addr src, dst;
	uint8_t l4_proto;
	struct stack_slice pay[STACK_TX_SLICES];
};

enum stack_ev_kind {
	/* conn: a new connection finished its handshake on listener `tag`;
	 * peer = its address. Data may follow in the same call. */
	STACK_EV_ACCEPT = 1,
	/* conn: in-order bytes data[0..len), inside the received frame
	 * rx_handle: valid until the caller releases that frame. Each received
	 * frame yields at most one DATA event. */
	STACK_EV_DATA,
	/* conn: the peer sent FIN: no more bytes will come. The connection
	 * stays open for sending until stack_close(). */
	STACK_EV_PEER_FIN,
	/* conn: every byte of the stack_send() with this cookie was
	 * acknowledged (or the connection was reset): its memory is free. One
	 * per accepted send, in send order, always before CLOSED. */
	STACK_EV_ACKED,
	/* conn: gone (res 0 after an orderly close, -ECONNRESET, -ETIMEDOUT,
	 * -ECONNABORTED); the connection id may be reused after this. */
	STACK_EV_CLOSED,
};

struct stack_ev {
	enum stack_ev_kind kind;
	uint32_t conn;
	uint32_t tag;	     /* ACCEPT */
	int32_t res;	     /* CLOSED */
	const uint8_t *data; /* DATA */
	uint32_t len;
	uint64_t rx_handle;	/* DATA */
	uint64_t cookie;	/* ACKED */
	struct stack_addr peer; /* ACCEPT */
};

/*
 * Where a stack call appends its output. A layer that finds tx or ev full
 * stops and resumes on the next stack_poll() (TCP keeps unsent data and
 * unreported ACKED events; a reply that cannot be queued, such as an ARP
 * reply or a bare ACK, is dropped and counted, as a NIC queue would). Give
 * ev room for at least STACK_EV_MIN per received frame.
 */
#define STACK_EV_MIN 4
struct stack_out {
	struct stack_tx *tx;
	uint32_t ntx, txcap;
	struct stack_ev *ev;
	uint32_t nev, evcap;
};

/* The next free frame, not yet counted: the layer fills it and commits it
 * with o->ntx++ (so a frame it gives up on is never sent). NULL when full. */
static inline struct stack_tx *stack_out_tx(struct stack_out *o)
{
	return o->ntx < o->txcap ? &o->tx[o->ntx] : NULL;
}

/* The next event, counted already. NULL when full. */
static inline struct stack_ev *stack_out_ev(struct stack_out *o)
{
	return o->nev < o->evcap ? &o->ev[o->nev++] : NULL;
}

#endif
