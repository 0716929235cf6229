/*
 * peerwire_hash: the BEP 52 hash messages of the peer-wire engine. A peer
 * asks for piece-layer hashes of a file (HASH_REQUEST, id 21: pieces root,
 * base layer, index, length, proof layers); we answer HASHES (id 22) from
 * the piece layer the release view holds (proto_file.layer), with the uncle
 * hashes up to the proof layer computed on the fly, or HASH_REJECT (id 23)
 * echoing the request. The rules a request must meet are in peerwire.h
 * (Hash request); the engine (peerwire.c) frames the message and calls
 * pw_hash_on_request with its 48-byte body in c->rbuf.
 *
 * Invariants:
 *  - nothing is appended until the whole answer (or the reject) is known
 *    to fit: pw_room first, then one SEND in the send buffer;
 *  - the work a request may cost is bounded before any hashing:
 *    cfg.max_hash_work SHA-256 node hashes, else HASH_REJECT;
 *  - uncle computation uses only the engine's scratch and job buffers
 *    (PW_SCRATCH_NODES nodes, allocated at engine set-up) and recursion at
 *    most 64 deep: no allocation per request;
 *  - e->zero[k] is the root of 2^k all-zero 16 KiB leaves, filled once by
 *    pw_hash_init_zero and read-only after.
 *
 * Call order: pw_hash_init_zero once from peerwire_engine_init, then
 * pw_hash_on_request per HASH_REQUEST (the engine ignores HASH_REJECT and
 * counts a glitch for HASHES: we never ask). Names shared with the engine
 * start pw_hash_ (see peerwire_int.h for the scheme).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "peerwire_int.h"

#define PW_HASH_MSG_HDR 53u /* 4 + 1 + 48 */

int pw_hash_init_zero(struct peerwire_engine *e)
{
	/* BEP 52 pads leaves with zero hashes; a pad node at height k is the
	 * root of 2^k zero leaves. */
	memset(e->zero[0], 0, 32);
	for (unsigned k = 1; k < 64; k++) {
		uint8_t pair[64];
		int rc;

		memcpy(pair, e->zero[k - 1], 32);
		memcpy(pair + 32, e->zero[k - 1], 32);
		rc = hash_sha256(e->hash, pair, 64, e->zero[k]);
		if (rc)
			return rc;
	}
	return 0;
}

/* floor(log2(v)), 0 for v <= 1; every caller passes a power of two. */
static unsigned log2u(uint64_t v)
{
	return v > 1 ? 63u - (unsigned)__builtin_clzll(v) : 0;
}

static uint64_t next_pow2(uint64_t v)
{
	uint64_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

/*
 * Root of the subtree of height h (above the piece layer) whose leftmost
 * piece-layer node is a, over the n hashes of layer padded with zero
 * subtrees. Recursion is at most 64 deep; subtrees of up to
 * PW_SCRATCH_NODES nodes are reduced level by level in batches.
 */
static int subtree_root(struct peerwire_engine *e, const uint8_t *layer, uint64_t n, unsigned pbase,
			unsigned h, uint64_t a, uint8_t out32[32])
{
	uint64_t size = 1ull << h;

	if (a >= n) {
		memcpy(out32, e->zero[pbase + h], 32);
		return 0;
	}
	if (h == 0) {
		memcpy(out32, layer + a * 32, 32);
		return 0;
	}
	if (size > PW_SCRATCH_NODES) {
		uint8_t pair[64];
		int rc = subtree_root(e, layer, n, pbase, h - 1, a, pair);

		if (!rc)
			rc = subtree_root(e, layer, n, pbase, h - 1, a + size / 2, pair + 32);
		return rc ? rc : hash_sha256(e->hash, pair, 64, out32);
	}
	{
		uint8_t *src = e->scratch, *dst = e->scratch + (size_t)PW_SCRATCH_NODES * 32;
		uint64_t real = pw_min64(size, n - a);

		memcpy(src, layer + a * 32, (size_t)real * 32);
		for (uint64_t j = real; j < size; j++)
			memcpy(src + j * 32, e->zero[pbase], 32);
		for (uint64_t m = size; m > 1; m /= 2) {
			uint8_t *t;
			int rc;

			for (uint64_t i = 0; i < m / 2; i++) {
				e->jobs[i].data = src + i * 64;
				e->jobs[i].len = 64;
				e->jobs[i].out = dst + i * 32;
			}
			rc = hash_sha256_batch(e->hash, e->jobs, (size_t)(m / 2));
			if (rc)
				return rc;
			t = src;
			src = dst;
			dst = t;
		}
		memcpy(out32, src, 32);
	}
	return 0;
}

static int hash_reject(struct peerwire_conn *c, struct proto_out *out)
{
	uint8_t *p;

	if (!pw_room(c, out, PW_HASH_MSG_HDR, 1))
		return PW_BLOCKED;
	p = pw_emit(c, out, PW_HASH_MSG_HDR);
	byteio_put_be32(p, 49);
	p[4] = PW_MSG_HASH_REJECT;
	memcpy(p + 5, c->rbuf, 48);
	c->stats.peerwire_hash_rejects_total++;
	return PW_OK;
}

int pw_hash_on_request(struct peerwire_conn *c, struct proto_out *out)
{
	struct peerwire_engine *e = c->e;
	const struct proto_release *r = c->rel;
	const uint8_t *root = c->rbuf;
	uint32_t base = byteio_be32(c->rbuf + 32), index = byteio_be32(c->rbuf + 36);
	uint32_t count = byteio_be32(c->rbuf + 40), proof = byteio_be32(c->rbuf + 44);
	const struct proto_file *f = NULL;
	unsigned pbase = log2u(r->piece_length / PEERWIRE_BLOCK), height, lc;
	uint64_t level, n, work = 0, n_unc;
	size_t need;
	uint8_t *p, *q;

	c->stats.peerwire_hash_requests_total++;
	if (!r->has_v2)
		return hash_reject(c, out);
	for (size_t i = 0; i < r->n_files; i++) {
		if (r->files[i].root && r->files[i].layer && r->files[i].length &&
		    !memcmp(r->files[i].root, root, 32)) {
			f = &r->files[i];
			break;
		}
	}
	if (!f || base != pbase || count > PEERWIRE_MAX_HASHES || !pw_is_pow2(count) ||
	    index % count)
		return hash_reject(c, out);
	n = proto_file_pieces(r, f);
	level = next_pow2(n);
	height = log2u(level);
	lc = log2u(count);
	if ((uint64_t)index + count > level || proof >= height || pbase + height >= 64)
		return hash_reject(c, out);
	n_unc = proof >= lc ? proof - lc + 1 : 0;
	for (unsigned hh = lc; hh <= proof; hh++) {
		uint64_t a = (((uint64_t)index >> hh) ^ 1) << hh;

		if (a < n)
			work += pw_min64(1ull << hh, n - a);
	}
	if (work > e->cfg.max_hash_work)
		return hash_reject(c, out);

	need = PW_HASH_MSG_HDR + 32 * (size_t)(count + n_unc);
	if (!pw_room(c, out, need, 1))
		return PW_BLOCKED;
	p = c->sbuf + c->sbuf_used;
	byteio_put_be32(p, (uint32_t)(need - 4));
	p[4] = PW_MSG_HASHES;
	memcpy(p + 5, c->rbuf, 48);
	q = p + PW_HASH_MSG_HDR;
	for (uint64_t j = 0; j < count; j++, q += 32)
		memcpy(q, index + j < n ? f->layer + (index + j) * 32 : e->zero[pbase], 32);
	for (unsigned hh = lc; hh <= proof; hh++, q += 32) {
		uint64_t a = (((uint64_t)index >> hh) ^ 1) << hh;

		if (subtree_root(e, f->layer, n, pbase, hh, a, q))
			return hash_reject(c, out);
	}
	pw_emit(c, out, need);
	return PW_OK;
}
