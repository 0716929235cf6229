/*
 * peerwire_ext: the BEP 10 extension protocol and BEP 9 ut_metadata of the
 * peer-wire engine. We send our extension handshake after the BEP 3
 * handshake (pw_ext_handshake, called by the engine's greeting), learn the
 * peer's ut_metadata id from its extension handshake, and answer
 * ut_metadata requests with 16 KiB slices of the release's info dict. What
 * the messages mean and the bytes we send are in peerwire.h (Extended); the
 * engine (peerwire.c) frames an extended message and calls
 * pw_ext_on_message with its body (sub-id, then the bencoded dict and any
 * trailing data) in c->rbuf, or counts a glitch when it was too long to
 * buffer (cfg.ext_buf).
 *
 * Invariants:
 *  - the bencode reader below never allocates and never reads past the
 *    message: every step takes (p, end) and returns NULL on anything it
 *    does not understand; nesting is bounded (PW_BDEC_DEPTH);
 *  - a ut_metadata answer is built in the send buffer only after pw_room
 *    says the whole of it fits (header up to PW_UTM_HDR_MAX + the slice);
 *    info dict bytes are copied, never referenced (the release view is
 *    valid only until the call returns);
 *  - anything we do not understand from the peer is a glitch, never a
 *    close by itself.
 *
 * Call order: pw_ext_handshake once per connection, while greeting, when
 * the peer set the extension bit; pw_ext_on_message per extended message.
 * Names shared with the engine start pw_ext_ (see peerwire_int.h for the
 * scheme).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "peerwire_int.h"

#define PW_UTM_HDR_MAX 96u /* ut_metadata reply before the slice */

#define PW_BDEC_DEPTH 32

/* ---- writing: decimal numbers and literals into the send buffer ---- */

/* Appends the decimal form of v; returns the end. */
static uint8_t *put_dec(uint8_t *p, uint64_t v)
{
	uint8_t tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static uint8_t *put_lit(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* ---- a minimal bencode reader (no allocation, key order not checked) ---- */

static const uint8_t *bd_str(const uint8_t *p, const uint8_t *end, const uint8_t **s, size_t *n)
{
	size_t len = 0;

	if (p >= end || *p < '0' || *p > '9')
		return NULL;
	while (p < end && *p >= '0' && *p <= '9') {
		if (len > (size_t)(end - p))
			return NULL;
		len = len * 10 + (size_t)(*p - '0');
		p++;
	}
	if (p >= end || *p != ':')
		return NULL;
	p++;
	if (len > (size_t)(end - p))
		return NULL;
	*s = p;
	*n = len;
	return p + len;
}

static const uint8_t *bd_int(const uint8_t *p, const uint8_t *end, int64_t *v)
{
	int neg = 0, digits = 0;
	uint64_t x = 0;

	if (p >= end || *p != 'i')
		return NULL;
	p++;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return NULL;
		x = x * 10 + (uint64_t)(*p - '0');
		digits++;
		p++;
	}
	if (!digits || p >= end || *p != 'e' || x > (uint64_t)INT64_MAX)
		return NULL;
	*v = neg ? -(int64_t)x : (int64_t)x;
	return p + 1;
}

static const uint8_t *bd_skip(const uint8_t *p, const uint8_t *end, int depth)
{
	const uint8_t *s;
	size_t n;
	int64_t v;

	if (p >= end || depth > PW_BDEC_DEPTH)
		return NULL;
	if (*p == 'i')
		return bd_int(p, end, &v);
	if (*p >= '0' && *p <= '9')
		return bd_str(p, end, &s, &n);
	if (*p != 'l' && *p != 'd')
		return NULL;
	{
		int dict = *p == 'd';

		p++;
		while (p && p < end && *p != 'e') {
			if (dict)
				p = bd_str(p, end, &s, &n);
			if (p)
				p = bd_skip(p, end, depth + 1);
		}
	}
	if (!p || p >= end)
		return NULL;
	return p + 1;
}

/*
 * Looks up integer values by key in the dict at p. want[i] names a key,
 * got[i] its value (set only when found with an integer). Returns the end
 * of the dict, or NULL when it is not one well-formed dict. When sub_key is
 * not NULL, the dict value under it is searched (one level) instead.
 */
static const uint8_t *bd_dict_ints(const uint8_t *p, const uint8_t *end, const char *sub_key,
				   const char *const *want, int64_t *got, int *found, size_t n_want)
{
	const uint8_t *k;
	size_t kn;

	if (p >= end || *p != 'd')
		return NULL;
	p++;
	while (p < end && *p != 'e') {
		p = bd_str(p, end, &k, &kn);
		if (!p || p >= end)
			return NULL;
		if (sub_key && kn == strlen(sub_key) && !memcmp(k, sub_key, kn) && *p == 'd') {
			p = bd_dict_ints(p, end, NULL, want, got, found, n_want);
			if (!p)
				return NULL;
			continue;
		}
		if (!sub_key && *p == 'i') {
			for (size_t i = 0; i < n_want; i++) {
				if (kn == strlen(want[i]) && !memcmp(k, want[i], kn)) {
					const uint8_t *q = bd_int(p, end, &got[i]);

					if (q)
						found[i] = 1;
					break;
				}
			}
		}
		p = bd_skip(p, end, 1);
		if (!p)
			return NULL;
	}
	if (p >= end)
		return NULL;
	return p + 1;
}

/* ---- BEP 10 and BEP 9 ---- */

size_t pw_ext_handshake(const struct peerwire_conn *c, uint8_t *p)
{
	uint8_t *q = p + 6;

	q = put_lit(q, "d1:md");
	if (c->rel->info_len)
		q = put_lit(q, "11:ut_metadatai1e");
	q = put_lit(q, "e");
	if (c->rel->info_len) {
		q = put_lit(q, "13:metadata_sizei");
		q = put_dec(q, c->rel->info_len);
		q = put_lit(q, "e");
	}
	q = put_lit(q, "4:reqqi");
	q = put_dec(q, c->e->cfg.max_requests);
	q = put_lit(q, "e1:v14:BitStream seede");
	byteio_put_be32(p, (uint32_t)(q - p - 4));
	p[4] = PW_MSG_EXTENDED;
	p[5] = 0;
	return (size_t)(q - p);
}

/* A ut_metadata reject (msg_type 2) of piece. */
static int send_reject(struct peerwire_conn *c, struct proto_out *out, int64_t piece)
{
	uint8_t *p, *q;

	if (!pw_room(c, out, PW_UTM_HDR_MAX, 1))
		return PW_BLOCKED;
	p = c->sbuf + c->sbuf_used;
	q = put_lit(p + 6, "d8:msg_typei2e5:piecei");
	if (piece < 0) {
		*q++ = '-';
		q = put_dec(q, (uint64_t)(-(piece + 1)) + 1);
	} else {
		q = put_dec(q, (uint64_t)piece);
	}
	q = put_lit(q, "ee");
	byteio_put_be32(p, (uint32_t)(q - p - 4));
	p[4] = PW_MSG_EXTENDED;
	p[5] = c->peer_ut_metadata;
	pw_emit(c, out, (size_t)(q - p));
	c->stats.peerwire_metadata_rejects_total++;
	return PW_OK;
}

/* A ut_metadata data message (msg_type 1): piece of info, a valid index. */
static int send_piece(struct peerwire_conn *c, struct proto_out *out, const uint8_t *info,
		      uint32_t piece)
{
	const struct proto_release *r = c->rel;
	uint64_t at = (uint64_t)piece * PEERWIRE_BLOCK;
	size_t n = (size_t)pw_min64(PEERWIRE_BLOCK, r->info_len - at);
	uint8_t *p, *q;

	if (!pw_room(c, out, PW_UTM_HDR_MAX + n, 1))
		return PW_BLOCKED;
	p = c->sbuf + c->sbuf_used;
	q = put_lit(p + 6, "d8:msg_typei1e5:piecei");
	q = put_dec(q, piece);
	q = put_lit(q, "e10:total_sizei");
	q = put_dec(q, r->info_len);
	q = put_lit(q, "ee");
	memcpy(q, info + at, n);
	q += n;
	byteio_put_be32(p, (uint32_t)(q - p - 4));
	p[4] = PW_MSG_EXTENDED;
	p[5] = c->peer_ut_metadata;
	pw_emit(c, out, (size_t)(q - p));
	return PW_OK;
}

/* The release's info dict: in the view, else from the catalog (which may
 * still be reading it: NULL). */
static const uint8_t *rel_info(struct peerwire_conn *c)
{
	const struct proto_catalog *cat = &c->e->catalog;

	if (c->rel->info)
		return c->rel->info;
	return cat->info ? cat->info(cat->ctx, c->user, c->rel) : NULL;
}

int pw_ext_flush(struct peerwire_conn *c, struct proto_out *out, uint64_t now)
{
	const uint8_t *info;
	int rc = PW_OK;

	if (!c->utm_n)
		return PW_OK;
	info = rel_info(c);
	if (!info && now - c->utm_since < PEERWIRE_UTM_WAIT_MS) {
		c->utm_next = now + PEERWIRE_UTM_POLL_MS;
		return PW_OK;
	}
	/* answered in the order asked; what does not fit waits for the
	 * next call (the send buffer is empty again then) */
	while (c->utm_n && rc == PW_OK) {
		rc = info ? send_piece(c, out, info, c->utm_pend[0])
			  : send_reject(c, out, c->utm_pend[0]);
		if (rc == PW_OK) {
			memmove(c->utm_pend, c->utm_pend + 1, --c->utm_n * sizeof(c->utm_pend[0]));
			c->utm_since = now;
		}
	}
	c->utm_next = now;
	return rc;
}

/* ut_metadata (BEP 9) request to us. */
static int on_ut_metadata(struct peerwire_conn *c, struct proto_out *out, const uint8_t *d,
			  const uint8_t *end)
{
	static const char *const keys[2] = { "msg_type", "piece" };
	const struct proto_release *r = c->rel;
	int64_t v[2] = { -1, -1 };
	int found[2] = { 0, 0 };
	uint64_t n_meta = (r->info_len + PEERWIRE_BLOCK - 1) / PEERWIRE_BLOCK;
	const uint8_t *info;
	int rc;

	if (!r->info_len || !bd_dict_ints(d, end, NULL, keys, v, found, 2) || !found[0])
		return pw_glitch(c, out);
	if (v[0] != 0)
		return PW_OK; /* data or reject to a seed: nothing to do */
	if (!c->peer_ut_metadata || !found[1])
		return pw_glitch(c, out);
	if (v[1] < 0 || (uint64_t)v[1] >= n_meta) {
		rc = send_reject(c, out, v[1]);
		if (rc == PW_OK)
			c->stats.peerwire_metadata_requests_total++;
		return rc;
	}
	/* earlier requests first, so that answers keep the peer's order */
	rc = pw_ext_flush(c, out, c->t_rx);
	if (rc != PW_OK)
		return rc;
	info = c->utm_n ? NULL : rel_info(c);
	if (info)
		rc = send_piece(c, out, info, (uint32_t)v[1]);
	else if (c->utm_n == PEERWIRE_UTM_PEND)
		rc = send_reject(c, out, v[1]); /* a peer asking for more at once waits its turn */
	else {
		if (!c->utm_n)
			c->utm_since = c->t_rx;
		c->utm_pend[c->utm_n++] = (uint32_t)v[1];
		c->utm_next = c->t_rx + PEERWIRE_UTM_POLL_MS;
	}
	if (rc == PW_OK)
		c->stats.peerwire_metadata_requests_total++;
	return rc;
}

int pw_ext_on_message(struct peerwire_conn *c, struct proto_out *out)
{
	const uint8_t *d = c->rbuf + 1, *end = c->rbuf + c->msg_len - 1;

	if (!c->peer_ext)
		return pw_glitch(c, out);
	if (c->rbuf[0] == 0) {
		static const char *const keys[1] = { "ut_metadata" };
		int64_t v[1] = { 0 };
		int found[1] = { 0 };
		const uint8_t *e = bd_dict_ints(d, end, "m", keys, v, found, 1);

		if (!e || e != end)
			return pw_glitch(c, out);
		if (found[0] && (v[0] < 0 || v[0] > 255)) {
			c->peer_ut_metadata = 0;
			return pw_glitch(c, out);
		}
		c->peer_ut_metadata = found[0] ? (uint8_t)v[0] : 0;
		return PW_OK;
	}
	if (c->rbuf[0] == PEERWIRE_UT_METADATA)
		return on_ut_metadata(c, out, d, end);
	return pw_glitch(c, out);
}
