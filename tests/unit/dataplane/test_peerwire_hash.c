/*
 * Unit tests for dataplane/proto/peerwire_hash.c: BEP 52 hash requests
 * answered with piece-layer hashes and uncle proofs checked against a
 * naively built tree, and the requests we reject, through the engine's
 * public API (fixture: peerwire_fixture.h).
 */
#include "peerwire_fixture.h"

TestSuite(peerwire_hash, .init = setup, .fini = teardown);

/* ---- BEP 52 hashes ---- */

static void expect_hashes(struct peer *p, const uint8_t req[53], const uint8_t *hashes, size_t n)
{
	static struct tr t;
	uint8_t h[5];

	t.n = 0;
	byteio_put_be32(h, (uint32_t)(49 + 32 * n));
	h[4] = 22;
	tr_send(&t, h, 5);
	tr_send(&t, req + 5, 48);
	tr_send(&t, hashes, 32 * n);
	expect(p, &t);
}

static void expect_hash_reject(struct peer *p, const uint8_t req[53])
{
	static struct tr t;
	uint8_t r[53];

	t.n = 0;
	memcpy(r, req, 53);
	r[4] = 23;
	tr_send(&t, r, 53);
	expect(p, &t);
}

Test(peerwire_hash, hash_request_piece_layer)
{
	struct peer *p = peer_open(&r1, 1, 1, 0);
	uint8_t q[53], want[8 * 32];
	const uint8_t *L = r1_layer_c;

	/* file c: 3 pieces, layer padded to 4; piece layer base = log2(32K/16K) = 1 */
	hash_msg(q, 21, r1_root_c, 1, 0, 4, 0);
	feed(p, q, 53);
	memcpy(want, L, 96);
	memcpy(want + 96, zero_h[1], 32); /* pad: root of a piece of zero leaves */
	expect_hashes(p, q, want, 4);

	/* index 2, length 2, proof 1: [L2, pad] + uncle H(L0 || L1); and the
	 * same for length 1 (a layer truncated to one hash: uncles from height 0) */
	for (uint32_t len = 2; len >= 1; len--) {
		hash_msg(q, 21, r1_root_c, 1, 2, len, 1);
		feed(p, q, 53);
		memcpy(want, L + 64, 32);
		memcpy(want + 32, zero_h[1], 32);
		sha256_pair(L, L + 32, want + 64);
		expect_hashes(p, q, want, 3);
	}

	/* file a: 2 pieces, proof 0 */
	hash_msg(q, 21, r1_root_a, 1, 0, 2, 0);
	feed(p, q, 53);
	expect_hashes(p, q, r1_layer_a, 2);
	cr_assert_eq(p->c.stats.peerwire_hash_requests_total, 4);
	cr_assert_eq(p->c.stats.peerwire_hash_rejects_total, 0);
	peer_free(p);
}

static void hash_rejected(const struct proto_release *r, const uint8_t root[32], uint32_t base,
			  uint32_t index, uint32_t len, uint32_t proof)
{
	struct peer *p = peer_open(r, r->has_v2 && !r->has_v1, 1, 0);
	uint8_t q[53];

	hash_msg(q, 21, root, base, index, len, proof);
	feed(p, q, 53);
	expect_hash_reject(p, q);
	cr_assert_eq(p->c.stats.peerwire_hash_rejects_total, 1);
	cr_assert(!peerwire_is_closed(&p->c));
	peer_free(p);
}

Test(peerwire_hash, hash_request_rejects)
{
	uint8_t unknown[32];

	memset(unknown, 0x5a, 32);
	hash_rejected(&r1, r1_root_c, 0, 0, 2, 0); /* block layer: not held */
	hash_rejected(&r1, r1_root_c, 2, 0, 2, 0); /* above the piece layer */
	hash_rejected(&r1, unknown, 1, 0, 2, 0);   /* no such file */
	hash_rejected(&r1, r1_root_b, 1, 0, 1, 0); /* one-piece file: no layer */
	hash_rejected(&r1, r1_root_c, 1, 4, 4, 0); /* past the padded layer */
	hash_rejected(&r1, r1_root_c, 1, 1, 2, 0); /* index not a multiple */
	hash_rejected(&r1, r1_root_c, 1, 0, 3, 0); /* length not a power of two */
	hash_rejected(&r1, r1_root_c, 1, 0, 0, 0); /* length 0 */
	hash_rejected(&r1, r1_root_c, 1, 0, 2, 2); /* proof up to the root */
	hash_rejected(&r1, r1_root_c, 1, 0, 2, 0xffffffffu);
	hash_rejected(&r3, r3_root, 0, 0, 1024, 0); /* over 512 hashes */
	hash_rejected(&r2, r1_root_c, 1, 0, 2, 0);  /* v1-only release */
}

/* The tree above r3's 5000-piece layer, built naively. */
static uint8_t *r3_tree[14];

static void r3_build_tree(void)
{
	size_t w = 8192;

	for (int h = 0; h <= 13; h++, w /= 2) {
		r3_tree[h] = malloc(w * 32);
		for (size_t i = 0; i < w; i++) {
			if (h == 0)
				memcpy(r3_tree[0] + i * 32,
				       i < R3_PIECES ? r3_layer + i * 32 : zero_h[0], 32);
			else
				sha256_pair(r3_tree[h - 1] + 64 * i, r3_tree[h - 1] + 64 * i + 32,
					    r3_tree[h] + 32 * i);
		}
	}
	cr_assert_eq(memcmp(r3_tree[13], r3_root, 32), 0);
}

static void r3_free_tree(void)
{
	for (int h = 0; h <= 13; h++)
		free(r3_tree[h]);
}

Test(peerwire_hash, hash_request_deep_proof)
{
	struct peer *p = peer_open(&r3, 1, 1, 0);
	static uint8_t q[53], want[(512 + 4) * 32];
	uint8_t node[32];

	r3_build_tree();
	/* index 512, 512 hashes, proof to just below the root (height 13):
	 * uncles at heights 9..12 (subtrees of 512, 1024, 2048, 4096 pieces) */
	hash_msg(q, 21, r3_root, 0, 512, 512, 12);
	feed(p, q, 53);
	memcpy(want, r3_layer + 512 * 32, 512 * 32);
	memcpy(want + 512 * 32, r3_tree[9] + 0 * 32, 32);
	memcpy(want + 513 * 32, r3_tree[10] + 1 * 32, 32);
	memcpy(want + 514 * 32, r3_tree[11] + 1 * 32, 32);
	memcpy(want + 515 * 32, r3_tree[12] + 1 * 32, 32);
	expect_hashes(p, q, want, 516);

	/* and the proof verifies: fold up to the root */
	memcpy(node, r3_tree[9] + 1 * 32, 32);
	sha256_pair(want + 512 * 32, node, node);
	sha256_pair(node, want + 513 * 32, node);
	sha256_pair(node, want + 514 * 32, node);
	sha256_pair(node, want + 515 * 32, node);
	cr_assert_eq(memcmp(node, r3_root, 32), 0);

	/* the tail: 4608..5119 holds 392 pieces and 120 pads */
	hash_msg(q, 21, r3_root, 0, 4608, 512, 10);
	feed(p, q, 53);
	memcpy(want, r3_tree[0] + 4608 * 32, 512 * 32);
	memcpy(want + 512 * 32, r3_tree[9] + 8 * 32, 32);
	memcpy(want + 513 * 32, r3_tree[10] + 5 * 32, 32);
	expect_hashes(p, q, want, 514);
	r3_free_tree();
	peer_free(p);
}

Test(peerwire_hash, hash_request_over_work_bound)
{
	struct peer *p;
	uint8_t q[53];

	SETUP_WITH(cfg.max_hash_work = 4000);
	p = peer_open(&r3, 1, 1, 0);
	hash_msg(q, 21, r3_root, 0, 512, 512, 12); /* needs 512+1024+2048+904 */
	feed(p, q, 53);
	expect_hash_reject(p, q);
	hash_msg(q, 21, r3_root, 0, 512, 512, 10); /* needs 1536 */
	feed(p, q, 53);
	cr_assert_eq(p->n_last, 1);
	cr_assert_eq(p->last[0].u.send.p[4], 22);
	peer_free(p);
}
