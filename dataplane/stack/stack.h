/*
 * stack: the userspace TCP/IP stack of one worker: Ethernet, ARP, IPv4,
 * ICMP echo and the server-side TCP (tcp.h), tied together, sans-I/O.
 *
 * Frames and time go in, frames and events come out (stack_types.h): the
 * DPDK backend (dataplane/netio/dpdk.c) calls stack_input() for each
 * received frame and stack_poll() once per loop pass, and transmits what
 * they appended; the simulator (tests/sim/) does the same over a simulated
 * link. One stack per worker: a connection lives on the worker whose queue
 * its packets reach (RSS), and nothing here is shared between workers.
 *
 * What a frame meets on the way in, each refusal counted in stack_stats:
 * Ethernet (for our address or broadcast, untagged), then ARP or IPv4
 * (header checks, our address, no fragments), then ICMP (echo requests
 * answered, "fragmentation needed" passed to TCP) or TCP (checksum, then
 * tcp_input). UDP waits for uTP (issue 18). On the way out, every frame
 * is routed (on-link or through the gateway), its next hop resolved by
 * ARP (a frame whose next hop is not resolved yet is dropped and a request
 * sent; TCP sends it again), and its checksums computed unless the NIC
 * offloads them.
 */
#ifndef SEED_STACK_H
#define SEED_STACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "arp.h"
#include "seed_err.h"
#include "stack_types.h"
#include "tcp.h"

struct stack_config {
	uint8_t mac[ETH_ADDR_LEN];
	uint32_t ip;	       /* host order */
	uint8_t prefix;	       /* of the port's subnet, 1..32 */
	uint32_t gateway;      /* host order; 0: every peer is on the link */
	uint16_t mtu;	       /* IP MTU (default 1500) */
	int tx_csum_offload;   /* the NIC completes IPv4 and TCP checksums */
	struct tcp_config tcp; /* mtu and hdr_off are set from the above */
	struct arp_config arp;
};

/* Per-frame receive flags. */
enum {
	STACK_RX_CSUM_OK = 1u << 0, /* the NIC verified the IPv4 and L4 checksums */
};

struct stack_stats {
	uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes;
	uint64_t eth_bad, eth_not_for_us, eth_vlan, eth_other_type;
	uint64_t ip_bad, ip_csum, ip_frag, ip_not_for_us, ip_martian, ip_other_proto;
	uint64_t icmp_echo, icmp_bad, icmp_other, icmp_frag_needed;
	uint64_t tcp_csum, udp;
	uint64_t arp_bad, arp_replies;
	uint64_t tx_no_route; /* dropped: next hop not resolved yet (or in time) */
	uint64_t tx_held;     /* held for an ARP reply (frames without payload) */
	uint64_t tx_full;     /* replies dropped for lack of tx room */
};

struct stack;

/* Returns 0, -EINVAL (naming the setting in err) or -ENOMEM. */
int stack_create(const struct stack_config *cfg, struct stack **out, struct seed_err *err);
void stack_destroy(struct stack *s);

int stack_listen(struct stack *s, uint16_t port, uint32_t tag);
void stack_stop_listening(struct stack *s);

/*
 * One received frame f[0..len), borrowed for the call; rx_handle is the
 * caller's name for it (an mbuf), echoed in STACK_EV_DATA and in
 * stack_tx.hold_rx where output points into the frame.
 */
void stack_input(struct stack *s, const uint8_t *f, size_t len, uint32_t rx_flags,
		 uint64_t rx_handle, uint64_t now_us, struct stack_out *out);

/* Timers and queued output; once per loop pass, after the inputs. */
void stack_poll(struct stack *s, uint64_t now_us, struct stack_out *out);

/* The TCP calls, by connection id (see tcp.h). */
int stack_send(struct stack *s, uint32_t conn, const struct iovec *iov, int n, uint64_t cookie);
void stack_close(struct stack *s, uint32_t conn);
void stack_abort(struct stack *s, uint32_t conn);

uint64_t stack_next_deadline(const struct stack *s);
const struct stack_stats *stack_stats(const struct stack *s);
struct tcp *stack_tcp(struct stack *s);
const struct arp *stack_arp(const struct stack *s);

#endif
