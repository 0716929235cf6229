/*
 * icmp: ICMPv4 parsing and echo replies (see icmp.h).
 *
 * An echo reply is the request with its type changed from 8 to 0: its
 * payload is sent from the received frame, unchanged (stack_tx.hold_rx),
 * so the checksum is not summed again over it but adjusted for the one
 * changed 16-bit word (RFC 1624 eqn. 3, which unlike RFC 1141's form never
 * yields -0 where +0 belongs).
 */
#include "icmp.h"

#include <errno.h>
#include <string.h>

#include "byteio.h"
#include "csum.h"

/* The quoted IPv4 header of a DEST_UNREACH, with the 8 bytes after it
 * that RFC 792 requires (the TCP ports and sequence number): its length,
 * or 0 when q[0..len) is not a plausible IPv4 header followed by them. */
static size_t quoted_len(const uint8_t *q, size_t len)
{
	size_t hlen;

	if (len < 20 || q[0] >> 4 != 4)
		return 0;
	hlen = (size_t)(q[0] & 0x0f) * 4;
	if (hlen < 20 || hlen + 8 > len)
		return 0;
	return len;
}

int icmp_parse(const uint8_t *p, size_t len, int verify_csum, struct icmp_view *out)
{
	if (len < ICMP_HDR_LEN)
		return -EBADMSG;
	if (verify_csum && csum_buf(p, len) != 0)
		return -EILSEQ;
	out->type = p[0];
	out->code = p[1];
	out->body = p + ICMP_HDR_LEN;
	out->len = len - ICMP_HDR_LEN;
	out->next_mtu = 0;
	out->quoted = NULL;
	out->quoted_len = 0;
	if (out->type == ICMP_DEST_UNREACH && out->code == ICMP_FRAG_NEEDED) {
		out->next_mtu = byteio_be16(p + 6);
		out->quoted_len = quoted_len(out->body, out->len);
		if (out->quoted_len)
			out->quoted = out->body;
	}
	return 0;
}

size_t icmp_echo_reply_hdr(uint8_t *h, const uint8_t *req, size_t len)
{
	uint16_t old_word, new_word, old_ck;
	uint32_t sum;

	if (len < ICMP_HDR_LEN)
		return 0;
	old_word = byteio_be16(req);
	new_word = (uint16_t)(ICMP_ECHO_REPLY << 8 | req[1]);
	old_ck = byteio_be16(req + 2);
	/* HC' = ~(~HC + ~m + m') */
	sum = (uint32_t)(uint16_t)~old_ck + (uint16_t)~old_word + new_word;
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	memmove(h + 4, req + 4, 4); /* identifier and sequence number */
	h[0] = ICMP_ECHO_REPLY;
	h[1] = req[1];
	byteio_put_be16(h + 2, (uint16_t)~sum);
	return ICMP_HDR_LEN;
}
