/*
 * eth: Ethernet II framing (see eth.h). The type field decides what the
 * frame is: values below 0x0600 are an 802.3 length (LLC/SNAP, which the
 * port does not speak), and the 802.1Q/802.1ad tags put a tag where the
 * type should be; both are refused rather than skipped, because the data
 * plane's port is untagged and a tagged frame is for someone else.
 */
#include "eth.h"

#include <errno.h>
#include <string.h>

#include "byteio.h"

#define ETH_TYPE_MIN	  0x0600 /* below: an 802.3 length field */
#define ETH_TYPE_VLAN	  0x8100 /* 802.1Q */
#define ETH_TYPE_QINQ	  0x88a8 /* 802.1ad */
#define ETH_TYPE_QINQ_OLD 0x9100 /* pre-standard double tagging */

int eth_parse(const uint8_t *f, size_t len, struct eth_view *out)
{
	uint16_t type;

	if (len < ETH_HDR_LEN)
		return -EBADMSG;
	type = byteio_be16(f + 12);
	if (type < ETH_TYPE_MIN || type == ETH_TYPE_VLAN || type == ETH_TYPE_QINQ ||
	    type == ETH_TYPE_QINQ_OLD)
		return -EPROTONOSUPPORT;
	out->dst = f;
	out->src = f + ETH_ADDR_LEN;
	out->type = type;
	out->payload = f + ETH_HDR_LEN;
	out->len = len - ETH_HDR_LEN;
	return 0;
}

void eth_build(uint8_t *h, const uint8_t dst[ETH_ADDR_LEN], const uint8_t src[ETH_ADDR_LEN],
	       uint16_t type)
{
	memcpy(h, dst, ETH_ADDR_LEN);
	memcpy(h + ETH_ADDR_LEN, src, ETH_ADDR_LEN);
	byteio_put_be16(h + 12, type);
}

int eth_is_broadcast(const uint8_t a[ETH_ADDR_LEN])
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}

int eth_is_for(const uint8_t dst[ETH_ADDR_LEN], const uint8_t mine[ETH_ADDR_LEN])
{
	return memcmp(dst, mine, ETH_ADDR_LEN) == 0 || eth_is_broadcast(dst);
}
