/*
 * utp_hdr: the uTP wire header (BEP 29) and its selective-ACK extension,
 * read and written (utp_parse, utp_build in utp.h).
 */
#include <errno.h>
#include <string.h>

#include "byteio.h"
#include "utp_int.h"

/* ---- header ---- */

int utp_parse(const uint8_t *p, size_t len, struct utp_hdr *out, size_t *out_fault)
{
	size_t at = UTP_HDR_LEN;
	uint8_t next;
	unsigned links = 0;

	*out_fault = 0;
	if (len < UTP_HDR_LEN) {
		*out_fault = len;
		return -EBADMSG;
	}
	memset(out, 0, sizeof(*out));
	out->type = p[0] >> 4;
	out->ver = p[0] & 15;
	if (out->ver != UTP_VERSION || out->type > UTP_ST_SYN)
		return -EBADMSG;
	next = p[1];
	out->conn_id = byteio_be16(p + 2);
	out->ts_us = byteio_be32(p + 4);
	out->ts_diff_us = byteio_be32(p + 8);
	out->wnd = byteio_be32(p + 12);
	out->seq = byteio_be16(p + 16);
	out->ack = byteio_be16(p + 18);
	/* each link: next type, length, body */
	while (next) {
		uint8_t type = next;
		size_t l;

		if (++links > UTP_MAX_EXTS || len - at < 2) {
			*out_fault = at;
			return -EBADMSG;
		}
		next = p[at];
		l = p[at + 1];
		if (len - at - 2 < l) {
			*out_fault = at + 1;
			return -EBADMSG;
		}
		if (type == UTP_EXT_SACK) {
			/* BEP 29 asks for multiples of 4 bytes; libutp reads any
			 * length, so a peer that sends another is not cut off */
			if (out->sack || l == 0 || l > UTP_SACK_MAX) {
				*out_fault = at + 1;
				return -EBADMSG;
			}
			out->sack = p + at + 2;
			out->sack_len = (uint8_t)l;
		}
		at += 2 + l;
	}
	out->data_off = (uint32_t)at;
	return 0;
}

size_t utp_build(uint8_t *p, const struct utp_hdr *h)
{
	size_t n = UTP_HDR_LEN;

	p[0] = (uint8_t)(h->type << 4 | UTP_VERSION);
	p[1] = h->sack_len ? UTP_EXT_SACK : 0;
	byteio_put_be16(p + 2, h->conn_id);
	byteio_put_be32(p + 4, h->ts_us);
	byteio_put_be32(p + 8, h->ts_diff_us);
	byteio_put_be32(p + 12, h->wnd);
	byteio_put_be16(p + 16, h->seq);
	byteio_put_be16(p + 18, h->ack);
	if (h->sack_len) {
		p[n++] = 0;
		p[n++] = h->sack_len;
		memcpy(p + n, h->sack, h->sack_len);
		n += h->sack_len;
	}
	return n;
}
