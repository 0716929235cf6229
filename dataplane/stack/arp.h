/*
 * arp: ARP for IPv4 over Ethernet (RFC 826), a cache of neighbours with
 * expiry.
 *
 * The data plane answers requests for its own address, learns the sender
 * of every valid request or reply aimed at it (RFC 826's merge rule), and
 * resolves next hops (the gateway, or an on-link client) on demand: a
 * lookup that misses tells the caller to send a request, at most one per
 * address per retry interval, so a flood of packets to an unresolved
 * address sends one request, not one each. Entries expire after ttl; a
 * full cache replaces its oldest entry (least recently learned or
 * resolved). Gratuitous ARP, and any packet not aimed at us, updates an
 * existing entry only.
 */
#ifndef SEED_ARP_H
#define SEED_ARP_H

#include <stddef.h>
#include <stdint.h>

#include "eth.h"

#define ARP_PKT_LEN   28			  /* IPv4 over Ethernet */
#define ARP_FRAME_LEN (ETH_HDR_LEN + ARP_PKT_LEN) /* 42; the NIC pads to 60 */

#define ARP_ENTRIES_MAX (1u << 20)

struct arp_config {
	uint32_t entries;  /* cache size (default 1024, at most ARP_ENTRIES_MAX) */
	uint64_t ttl_us;   /* entry lifetime (default 300 s) */
	uint64_t retry_us; /* between requests for one address (default 1 s) */
	/* key of the cache's hash, so that senders cannot choose addresses that
	 * share a bucket: a random value from start-up (0 works, unkeyed) */
	uint64_t hash_key;
};

struct arp_stats {
	uint64_t requests_in, replies_in, replies_out, requests_out;
	uint64_t malformed, not_for_us, learned, evicted;
};

struct arp;

/* Allocates all the memory the cache will use. Returns 0, -ENOMEM, or
 * -EINVAL for more than ARP_ENTRIES_MAX entries; cfg may be NULL, and its
 * zero fields take their defaults. */
int arp_create(const struct arp_config *cfg, struct arp **out);
void arp_destroy(struct arp *a);

/*
 * Handles an ARP packet p[0..len) (the Ethernet payload) arriving for the
 * port (my_ip, my_mac). When it is a request for my_ip, writes a reply
 * frame (Ethernet header included) into reply and returns its length
 * (ARP_FRAME_LEN); returns 0 when nothing is to be sent; -EBADMSG when
 * malformed (wrong hardware/protocol type or lengths, an operation other
 * than request or reply, truncated, a sender hardware address that is
 * broadcast, multicast or zero, a sender IP that is 0.0.0.0 for anything
 * but a request (an RFC 5227 probe: answered, never learned) or another
 * ipv4_is_martian() address). A packet from my_mac or claiming my_ip is
 * ignored (0). Bytes past the 28 of the packet (padding) are ignored.
 */
int arp_input(struct arp *a, const uint8_t *p, size_t len, uint32_t my_ip,
	      const uint8_t my_mac[ETH_ADDR_LEN], uint64_t now_us, uint8_t reply[ARP_FRAME_LEN]);

/*
 * Looks up ip. Returns 0 and fills out_mac; or -ENOENT on a miss or an
 * expired entry, in which case, if a request for ip is due (none in the
 * last retry interval), writes a broadcast request frame into req and sets
 * *out_req_len to ARP_FRAME_LEN, else sets it to 0. A miss takes an entry
 * (replacing the least recently used one when full) to remember the
 * request; no request is sent for an ipv4_is_martian() address, nor when
 * every entry is static. A hit counts as a use of the entry.
 */
int arp_resolve(struct arp *a, uint32_t ip, uint32_t my_ip, const uint8_t my_mac[ETH_ADDR_LEN],
		uint64_t now_us, uint8_t out_mac[ETH_ADDR_LEN], uint8_t req[ARP_FRAME_LEN],
		size_t *out_req_len);

/* Adds or refreshes a static entry that never expires, is never replaced
 * and is never changed by a packet (tests, a gateway given in the config);
 * an existing dynamic entry for ip becomes static. Returns 0, or -ENOSPC
 * when every entry is static already. */
int arp_add_static(struct arp *a, uint32_t ip, const uint8_t mac[ETH_ADDR_LEN]);

const struct arp_stats *arp_stats(const struct arp *a);

#endif
