/*
 * icmp: ICMPv4 (RFC 792): echo replies, and the "fragmentation needed"
 * messages that clamp a connection's MSS (RFC 1191).
 */
#ifndef SEED_ICMP_H
#define SEED_ICMP_H

#include <stddef.h>
#include <stdint.h>

#define ICMP_HDR_LEN	  8
#define ICMP_ECHO_REPLY	  0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_FRAG_NEEDED  4 /* code of DEST_UNREACH */

struct icmp_view {
	uint8_t type, code;
	const uint8_t *body; /* after the 8-byte header */
	size_t len;
	/* DEST_UNREACH/FRAG_NEEDED only: the next-hop MTU and the quoted
	 * original header (IPv4 + the first 8 bytes of TCP), so TCP can find
	 * the connection: quoted = body and quoted_len = len when the body
	 * starts with a version 4 header of IHL*4 bytes followed by at least 8
	 * more, else NULL and 0. next_mtu 0 and quoted NULL for other types. */
	uint16_t next_mtu;
	const uint8_t *quoted;
	size_t quoted_len;
};

/* Parses an ICMP message (the IPv4 payload). verify_csum as in ipv4.
 * Returns 0, -EBADMSG (shorter than 8 bytes) or -EILSEQ (checksum). */
int icmp_parse(const uint8_t *p, size_t len, int verify_csum, struct icmp_view *out);

/* Writes the 8-byte header of an echo reply to the request req (its full
 * message, len bytes) at h (h may be req); the reply's payload is
 * req[8..len), unchanged, so the checksum is the request's adjusted for the
 * type (RFC 1624), and is correct when the request's was. Returns 8, or 0
 * (nothing written) when len < 8. */
size_t icmp_echo_reply_hdr(uint8_t *h, const uint8_t *req, size_t len);

#endif
