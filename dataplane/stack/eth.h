/*
 * eth: Ethernet II framing. Frames carrying an 802.1Q tag or a length
 * field instead of a type (802.3) are refused: the data plane's port is
 * untagged.
 */
#ifndef SEED_ETH_H
#define SEED_ETH_H

#include <stddef.h>
#include <stdint.h>

#define ETH_HDR_LEN   14
#define ETH_ADDR_LEN  6
#define ETH_TYPE_IPV4 0x0800
#define ETH_TYPE_ARP  0x0806
#define ETH_TYPE_IPV6 0x86dd

struct eth_view {
	const uint8_t *dst, *src; /* into the frame */
	uint16_t type;
	const uint8_t *payload;
	size_t len; /* payload length (may include the NIC's padding) */
};

/* Parses a frame. Returns 0, -EBADMSG when shorter than a header, or
 * -EPROTONOSUPPORT for a VLAN tag or an 802.3 length field. */
int eth_parse(const uint8_t *f, size_t len, struct eth_view *out);

/* Writes a 14-byte header at h. */
void eth_build(uint8_t *h, const uint8_t dst[ETH_ADDR_LEN], const uint8_t src[ETH_ADDR_LEN],
	       uint16_t type);

/* 1 for ff:ff:ff:ff:ff:ff. */
int eth_is_broadcast(const uint8_t a[ETH_ADDR_LEN]);

/* 1 when a frame with this destination is for a port with address mine:
 * mine itself or broadcast (multicast is not joined). */
int eth_is_for(const uint8_t dst[ETH_ADDR_LEN], const uint8_t mine[ETH_ADDR_LEN]);

#endif
