/*
 * ipv4: IPv4 header checks and building (RFC 791, RFC 1122 §3.2.1).
 *
 * Input checks, each with its own error so the stack counts them apart:
 * version 4, IHL >= 5 and within the packet, total length >= IHL*4 and
 * within the frame (bytes past total length are Ethernet padding and are
 * cut), the header checksum (unless the NIC verified it), and no fragment
 * (MF set or a fragment offset): the stack never reassembles; a client
 * sends requests far smaller than a fragment and the data plane sends with
 * DF, so a fragment is dropped and counted. Options are skipped.
 * Addresses are uint32_t in host order.
 */
#ifndef SEED_IPV4_H
#define SEED_IPV4_H

#include <stddef.h>
#include <stdint.h>

#define IPV4_HDR_LEN	 20 /* what we send: no options */
#define IPV4_PROTO_ICMP	 1
#define IPV4_PROTO_TCP	 6
#define IPV4_PROTO_UDP	 17
#define IPV4_DEFAULT_TTL 64

struct ipv4_view {
	uint32_t src, dst;
	uint8_t proto, ttl, tos;
	uint16_t id;
	size_t hlen;		/* header length with options */
	const uint8_t *payload; /* after the header */
	size_t len;		/* payload length, from total length */
};

/*
 * Parses and checks a packet p[0..len) (len may include link padding).
 * verify_csum: 0 when the NIC checked the header checksum already.
 * Returns 0, -EBADMSG (truncated, version, IHL, total length),
 * -EILSEQ (bad header checksum), or -EMSGSIZE (a fragment).
 */
int ipv4_parse(const uint8_t *p, size_t len, int verify_csum, struct ipv4_view *out);

/*
 * Writes a 20-byte header at h: DF set, TTL 64, the given id and total
 * length (header + payload). With csum, the header checksum is computed;
 * else it is left 0 for the NIC.
 */
void ipv4_build(uint8_t *h, uint32_t src, uint32_t dst, uint8_t proto, uint16_t total_len,
		uint16_t id, int csum);

/* Starts c (csum_init'ed) with the IPv4 pseudo-header that TCP and UDP
 * checksums cover (RFC 9293 §3.1): the addresses, the protocol and the
 * layer-4 length. */
struct csum;
void ipv4_pseudo_sum(struct csum *c, uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len);

/* 1 when dst is on the link of (ip, prefix), so it is reached directly
 * rather than through the gateway. prefix is 0..32. */
int ipv4_same_subnet(uint32_t a, uint32_t b, uint8_t prefix);

/* 1 for an address a host never answers or sends to: 0.0.0.0/8,
 * 127.0.0.0/8, multicast (224/4), 240/4, the limited broadcast. */
int ipv4_is_martian(uint32_t a);

#endif
