/*
 * Unit tests for dataplane/proto/peerwire_ext.c: our BEP 10 extension
 * handshake, the peer's, and BEP 9 ut_metadata requests, through the
 * engine's public API (fixture: peerwire_fixture.h).
 */
#include "peerwire_fixture.h"

TestSuite(peerwire_ext, .init = setup, .fini = teardown);

/* ---- extension protocol ---- */

Test(peerwire_ext, ext_handshake_is_canonical_bencode)
{
	struct peer *p = peer_new(1000);
	struct bencode_doc *doc = NULL;
	const struct bencode_node *root, *m, *v;
	struct seed_err err;
	uint8_t b[68];
	size_t off = 68 + 5, len;
	const uint8_t *s;

	hs(b, r1.ih_v1, 1, 1);
	feed(p, b, 68);
	cr_assert_eq(p->n_last, 1); /* handshake, HAVE_ALL, ext handshake: one SEND */
	s = p->last[0].u.send.p;
	len = p->last[0].u.send.len;
	cr_assert_gt(len, off + 6);
	cr_assert_eq(s[off + 4], 20);
	cr_assert_eq(s[off + 5], 0);
	seed_err_clear(&err);
	cr_assert_eq(bencode_parse(s + off + 6, s + len, NULL, &doc, &err), 0, "%s", err.msg);
	root = bencode_root(doc);
	m = bencode_dict_get(root, "m");
	cr_assert_not_null(m);
	v = bencode_dict_get(m, "ut_metadata");
	cr_assert(v && v->type == BENCODE_INT && v->u.i == 1);
	v = bencode_dict_get(root, "metadata_size");
	cr_assert(v && v->type == BENCODE_INT && v->u.i == 20000);
	v = bencode_dict_get(root, "reqq");
	cr_assert(v && v->type == BENCODE_INT && v->u.i == 1000);
	v = bencode_dict_get(root, "v");
	cr_assert(v && v->type == BENCODE_STR && v->u.s.len == 14 &&
		  !memcmp(v->u.s.p, "BitStream seed", 14));
	bencode_free(doc);
	peer_free(p);
}

/* The peer's ut_metadata request `ask` and the one answer it must get at
 * once: the dict `want` followed by `len` bytes of r1's info dict from
 * `from` (a data message), or by nothing (from NULL: a reject). */
static void ask_piece(struct peer *p, const char *ask, const char *want, const uint8_t *from,
		      size_t len)
{
	static struct tr t;

	t.n = 0;
	feed_ext(p, 1, ask);
	tr_ext(&t, 3, want, strlen(want), from, len); /* 3: the peer's id for ut_metadata */
	expect(p, &t);
}

Test(peerwire_ext, ut_metadata_pieces_and_reject)
{
	struct peer *p = peer_with_ut_metadata(3);
	const char *d0 = "d8:msg_typei1e5:piecei0e10:total_sizei20000ee";
	const char *d1 = "d8:msg_typei1e5:piecei1e10:total_sizei20000ee";
	const char *rj = "d8:msg_typei2e5:piecei2ee";

	ask_piece(p, "d8:msg_typei0e5:piecei0ee", d0, r1_info, 16384);
	ask_piece(p, "d8:msg_typei0e5:piecei1ee", d1, r1_info + 16384, 20000 - 16384);
	ask_piece(p, "d8:msg_typei0e5:piecei2ee", rj, NULL, 0);
	cr_assert_eq(p->c.stats.peerwire_metadata_requests_total, 3);
	cr_assert_eq(p->c.stats.peerwire_metadata_rejects_total, 1);

	/* data / reject from the peer: ignored, not a glitch */
	feed_ext(p, 1, "d8:msg_typei2e5:piecei0ee");
	expect_nothing(p);
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 0);
	peer_free(p);
}

Test(peerwire_ext, ut_metadata_negative_piece_rejected)
{
	struct peer *p = peer_with_ut_metadata(3);

	ask_piece(p, "d8:msg_typei0e5:piecei-1ee", "d8:msg_typei2e5:piecei-1ee", NULL, 0);
	peer_free(p);
}

Test(peerwire_ext, ut_metadata_unsorted_peer_handshake)
{
	struct peer *p = peer_open(&r1, 0, 1, 1);

	/* keys out of order: tolerated */
	feed_ext(p, 0, "d1:v3:abc1:md11:ut_metadatai7eee");
	expect_nothing(p);
	feed_ext(p, 1, "d5:piecei5e8:msg_typei0ee");
	cr_assert_eq(p->n_last, 1);
	cr_assert_eq(p->last[0].u.send.p[5], 7);
	peer_free(p);
}

/* Extended messages that are glitches: fed in order to one r1 peer (ext
 * bit as given), each is answered with nothing and counted. */
struct glitch {
	uint8_t sub;
	const char *payload;
};

static void expect_glitches(int ext, const struct glitch *g, size_t n)
{
	struct peer *p = peer_open(&r1, 0, 1, ext);

	for (size_t i = 0; i < n; i++) {
		feed_ext(p, g[i].sub, g[i].payload);
		expect_nothing(p);
		cr_assert_eq(p->c.stats.peerwire_glitches_total, i + 1, "%s", g[i].payload);
	}
	cr_assert(!peerwire_is_closed(&p->c));
	peer_free(p);
}

Test(peerwire_ext, ut_metadata_without_peer_handshake_is_glitch)
{
	static const struct glitch g[] = {
		{ 1, "d8:msg_typei0e5:piecei0ee" },
		{ 0, "d1:md11:ut_metadatai300eee" }, /* id out of range */
		{ 0, "d1:md11:ut_metadatai" },	     /* truncated */
		{ 9, "de" },			     /* an id we never announced */
	};

	expect_glitches(1, g, sizeof(g) / sizeof(g[0]));
}

Test(peerwire_ext, extended_without_ext_bit_is_glitch)
{
	static const struct glitch g[] = { { 0, "d1:md11:ut_metadatai3eee" } };

	expect_glitches(0, g, 1);
}

Test(peerwire_ext, big_extended_is_skipped_as_glitch)
{
	struct peer *p = peer_open(&r1, 0, 1, 1);
	static uint8_t m[6 + 10000];

	/* 10000 > ext_buf (8192) but <= max_extended: skipped */
	byteio_put_be32(m, 10002);
	m[4] = 20;
	m[5] = 0;
	memset(m + 6, 'x', 10000);
	feed(p, m, sizeof(m));
	feed(p, INTERESTED, 5);
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 1);
	cr_assert(!peerwire_choking(&p->c));
	peer_free(p);
}

/* ---- an info dict the view does not hold (proto_catalog.info) ---- */

static int info_ready; /* what the catalog's reader has done so far */
static unsigned info_asks;

static const uint8_t *cat_info(void *ctx, void *peer, const struct proto_release *r)
{
	(void)ctx;
	(void)peer;
	cr_assert_eq(r, &r1);
	info_asks++;
	return info_ready ? r1_info : NULL;
}

/* r1 with its info dict left out of the view, behind cat_info. */
static void info_behind_catalog(void)
{
	struct proto_catalog cat = { NULL, cat_v1, cat_v2, NULL, cat_mse, NULL, cat_info };

	peerwire_engine_set_catalog(&eng, &cat);
	r1.info = NULL;
	info_ready = 0;
	info_asks = 0;
}

Test(peerwire_ext, ut_metadata_waits_for_the_info_dict)
{
	info_behind_catalog();
	struct peer *p = peer_with_ut_metadata(3);
	static struct tr t;
	const char *d0 = "d8:msg_typei1e5:piecei0e10:total_sizei20000ee";
	const char *d1 = "d8:msg_typei1e5:piecei1e10:total_sizei20000ee";

	/* the handshake still names the size: the view knows it */
	cr_assert_eq(r1.info_len, 20000);
	feed_ext(p, 1, "d8:msg_typei0e5:piecei1ee");
	feed_ext(p, 1, "d8:msg_typei0e5:piecei0ee");
	expect_nothing(p);
	cr_assert_gt(info_asks, 0);
	cr_assert_leq(peerwire_next_deadline(&p->c), p->now + PEERWIRE_UTM_POLL_MS,
		      "a waiting request needs a call soon");
	tick(p, p->now + PEERWIRE_UTM_POLL_MS);
	expect_nothing(p);

	/* read: answered on the next call, in the order asked */
	info_ready = 1;
	tick(p, p->now + PEERWIRE_UTM_POLL_MS);
	tr_ext(&t, 3, d1, strlen(d1), r1_info + 16384, 20000 - 16384);
	tr_ext(&t, 3, d0, strlen(d0), r1_info, 16384);
	expect(p, &t);
	cr_assert_eq(p->c.utm_n, 0);
	cr_assert_gt(peerwire_next_deadline(&p->c), p->now + PEERWIRE_UTM_POLL_MS);

	/* and at once from then on */
	ask_piece(p, "d8:msg_typei0e5:piecei0ee", d0, r1_info, 16384);
	cr_assert_eq(p->c.stats.peerwire_metadata_requests_total, 3);
	cr_assert_eq(p->c.stats.peerwire_metadata_rejects_total, 0);
	peer_free(p);
}

Test(peerwire_ext, ut_metadata_gives_up_when_the_info_dict_never_comes)
{
	info_behind_catalog();
	struct peer *p = peer_with_ut_metadata(3);
	static struct tr t;
	char rj[64];
	uint64_t t0 = p->now;

	p->c.nudged = 1; /* the early keep-alive (test_peerwire.c) is not this test's */

	/* PEERWIRE_UTM_PEND wait; one more is rejected at once */
	for (unsigned i = 0; i <= PEERWIRE_UTM_PEND; i++) {
		char req[64];
		snprintf(req, sizeof(req), "d8:msg_typei0e5:piecei%ue%s", i % 2, "e");
		feed_ext(p, 1, req);
	}
	snprintf(rj, sizeof(rj), "d8:msg_typei2e5:piecei%uee", PEERWIRE_UTM_PEND % 2);
	tr_ext(&t, 3, rj, strlen(rj), NULL, 0);
	expect(p, &t);

	tick(p, t0 + PEERWIRE_UTM_WAIT_MS - 1);
	expect_nothing(p);
	tick(p, t0 + PEERWIRE_UTM_WAIT_MS);
	t.n = 0;
	for (unsigned i = 0; i < PEERWIRE_UTM_PEND; i++) {
		snprintf(rj, sizeof(rj), "d8:msg_typei2e5:piecei%uee", i % 2);
		tr_ext(&t, 3, rj, strlen(rj), NULL, 0);
	}
	expect(p, &t);
	cr_assert_eq(p->c.utm_n, 0);
	cr_assert_eq(p->c.stats.peerwire_metadata_rejects_total, PEERWIRE_UTM_PEND + 1);
	cr_assert(!peerwire_is_closed(&p->c));
	peer_free(p);
}
