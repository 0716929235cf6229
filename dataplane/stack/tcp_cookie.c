/*
 * tcp_cookie: SYN cookies (RFC 4987 §3.6), the only passive open there is.
 *
 * Our initial sequence number is the cookie; the final ACK acknowledges it
 * plus one, so the ACK alone rebuilds the connection and a SYN costs one
 * SYN-ACK and no state. Layout of the 32 bits, low to high:
 *   bit 0      SACK permitted
 *   bits 1-4   the client's window scale, 15 when it sent none
 *   bits 5-6   an index into mss_table (largest entry <= the client's MSS)
 *   bits 7-8   the low bits of a 60-second counter
 *   bits 9-31  23 bits of SipHash-2-4 over the 4-tuple, the client's ISN,
 *              the whole counter and bits 0-6, under the stack's secret
 * A cookie is accepted for up to three counter values (two to three
 * minutes, as Linux): the counter's low bits pick the candidate, the MAC
 * checks it. Timestamps need no bit: a client sends them in its final ACK
 * only when our SYN-ACK carried them (RFC 7323 §3.2), and then it echoes
 * our TSval, which cookie_accept() checks is one we could have sent
 * within the cookie's lifetime, so a TSopt the SYN did not negotiate is
 * ignored. Linux keeps 24 MAC bits in a cookie
 * without timestamps; keeping the window scale and SACK in every cookie
 * costs one, and keeps windows open for clients (Windows) that do not send
 * timestamps, where Linux would encode them there instead.
 */
#include <errno.h>
#include <string.h>

#include "byteio.h"
#include "tcp_int.h"

static const uint16_t mss_table[4] = { 536, 1220, 1440, 1460 };

#define COOKIE_PERIOD_US (60ull * 1000000)
#define COOKIE_MAX_AGE	 2 /* counter steps */

static uint32_t cookie_mac(const struct tcp *t, const struct stack_addr *l,
			   const struct stack_addr *r, uint32_t client_isn, uint64_t ctr,
			   uint32_t info)
{
	uint8_t x[9];
	byteio_put_be32(x, client_isn);
	byteio_put_be32(x + 4, (uint32_t)ctr);
	x[8] = (uint8_t)info;
	return (uint32_t)(tcp_tuple_mac(t, l, r, 'c', x, sizeof(x)) >> 41); /* 23 bits */
}

uint32_t tcp_cookie_make(const struct tcp *t, const struct stack_addr *l,
			 const struct stack_addr *r, uint32_t client_isn, uint64_t now_us,
			 const struct tcp_opts *o, uint16_t *out_mss)
{
	uint16_t peer_mss = o->has_mss ? o->mss : 536;
	uint32_t idx = 0;
	for (uint32_t k = 0; k < 4; k++)
		if (mss_table[k] <= peer_mss)
			idx = k;
	uint32_t ws = o->has_ws ? (o->wscale > 14 ? 14 : o->wscale) : 15;
	uint64_t ctr = now_us / COOKIE_PERIOD_US;
	uint32_t info = (o->sack_ok ? 1u : 0u) | ws << 1 | idx << 5 | (uint32_t)(ctr & 3) << 7;
	*out_mss = mss_table[idx];
	return cookie_mac(t, l, r, client_isn, ctr, info & 0x7f) << 9 | info;
}

int tcp_cookie_check(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r,
		     uint32_t client_isn, uint32_t cookie, uint64_t now_us, uint16_t *out_mss,
		     int *out_ws, int *out_sack)
{
	uint64_t now_ctr = now_us / COOKIE_PERIOD_US;
	uint32_t info = cookie & 0x1ff;
	for (uint64_t d = 0; d <= COOKIE_MAX_AGE && d <= now_ctr; d++) {
		uint64_t ctr = now_ctr - d;
		if ((ctr & 3) != (info >> 7))
			continue;
		if (cookie_mac(t, l, r, client_isn, ctr, info & 0x7f) != cookie >> 9)
			return -EBADMSG;
		uint32_t ws = (info >> 1) & 15;
		*out_sack = (int)(info & 1);
		*out_ws = ws == 15 ? -1 : (int)ws;
		*out_mss = mss_table[(info >> 5) & 3];
		return 0;
	}
	return -EBADMSG;
}

uint32_t tcp_ts_offset(const struct tcp *t, const struct stack_addr *l, const struct stack_addr *r)
{
	/* RFC 7323 §5.4: a per-connection offset, so timestamps do not
	 * reveal the uptime or link connections */
	return (uint32_t)tcp_tuple_mac(t, l, r, 't', NULL, 0);
}
