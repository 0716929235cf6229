/*
 * ipv4: IPv4 header checks and building (see ipv4.h).
 *
 * Every length is checked against what the caller gave before a byte
 * behind it is read: the fixed header against len, IHL*4 against len,
 * total length against IHL*4 and len. The checks run in the order ipv4.h
 * lists them, so a packet wrong in two ways is counted under the first.
 * Options are neither parsed nor checked (RFC 1122 §3.2.1.8 lets a host
 * ignore the ones it does not implement, and a server needs none).
 */
#include "ipv4.h"

#include <errno.h>

#include "byteio.h"
#include "csum.h"

#define IPV4_FLAG_DF	   0x4000
#define IPV4_FLAG_MF	   0x2000
#define IPV4_FRAG_OFF_MASK 0x1fff

int ipv4_parse(const uint8_t *p, size_t len, int verify_csum, struct ipv4_view *out)
{
	size_t hlen, total;
	uint16_t frag;

	if (len < IPV4_HDR_LEN)
		return -EBADMSG;
	if (p[0] >> 4 != 4)
		return -EBADMSG;
	hlen = (size_t)(p[0] & 0x0f) * 4;
	if (hlen < IPV4_HDR_LEN || hlen > len)
		return -EBADMSG;
	total = byteio_be16(p + 2);
	if (total < hlen || total > len)
		return -EBADMSG;
	if (verify_csum && csum_buf(p, hlen) != 0)
		return -EILSEQ;
	frag = byteio_be16(p + 6);
	if (frag & (IPV4_FLAG_MF | IPV4_FRAG_OFF_MASK))
		return -EMSGSIZE;
	out->tos = p[1];
	out->id = byteio_be16(p + 4);
	out->ttl = p[8];
	out->proto = p[9];
	out->src = byteio_be32(p + 12);
	out->dst = byteio_be32(p + 16);
	out->hlen = hlen;
	out->payload = p + hlen;
	out->len = total - hlen;
	return 0;
}

void ipv4_build(uint8_t *h, uint32_t src, uint32_t dst, uint8_t proto, uint16_t total_len,
		uint16_t id, int csum)
{
	h[0] = 0x45; /* version 4, IHL 5 */
	h[1] = 0;    /* DSCP/ECN */
	byteio_put_be16(h + 2, total_len);
	byteio_put_be16(h + 4, id);
	byteio_put_be16(h + 6, IPV4_FLAG_DF);
	h[8] = IPV4_DEFAULT_TTL;
	h[9] = proto;
	byteio_put_be16(h + 10, 0);
	byteio_put_be32(h + 12, src);
	byteio_put_be32(h + 16, dst);
	if (csum)
		byteio_put_be16(h + 10, csum_buf(h, IPV4_HDR_LEN));
}

int ipv4_same_subnet(uint32_t a, uint32_t b, uint8_t prefix)
{
	uint32_t mask;

	if (prefix == 0)
		return 1;
	mask = prefix >= 32 ? UINT32_MAX : ~(UINT32_MAX >> prefix);
	return ((a ^ b) & mask) == 0;
}

int ipv4_is_martian(uint32_t a)
{
	uint8_t top = (uint8_t)(a >> 24);

	return top == 0 || top == 127 || top >= 224; /* 224/4 and 240/4 */
}

void ipv4_pseudo_sum(struct csum *c, uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	csum_add16(c, (uint16_t)(src >> 16));
	csum_add16(c, (uint16_t)src);
	csum_add16(c, (uint16_t)(dst >> 16));
	csum_add16(c, (uint16_t)dst);
	csum_add16(c, proto);
	csum_add16(c, l4_len);
}
