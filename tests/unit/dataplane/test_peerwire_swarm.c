/*
 * Unit tests for the peer-wire engine under a seeding policy
 * (dataplane/proto/swarm_peerwire.c; the policy itself is tested in
 * test_swarm.c): the greeting (HAVE_NONE or nothing), the HAVEs that
 * follow the peer's bitfield or a wait for it, the window refilled by the
 * peer's HAVEs, a large bitfield fed in parts, BEP 16 super-seeding, a
 * request outside what was advertised, the view left clean on close, and
 * plain unchanged. The fake catalog is peerwire_fixture.h's.
 */
#include "peerwire_fixture.h"

static struct swarm_view *vw2, *vw3;
static enum swarm_policy policy;
static unsigned n_views;

static struct swarm_view *view_of(void *ctx, void *peer, const struct proto_release *r,
				  enum swarm_policy *out_policy)
{
	(void)ctx;
	(void)peer;
	n_views++;
	*out_policy = policy;
	if (r == &r2)
		return vw2;
	if (r == &r3)
		return vw3;
	return NULL;
}

static struct swarm_view *mkview(const struct proto_release *r)
{
	struct swarm_view *v = calloc(1, swarm_view_size(r->n_pieces));

	cr_assert_not_null(v);
	swarm_view_init(v, r->n_pieces, r->piece_length);
	return v;
}

static void sw_views(void)
{
	vw2 = mkview(&r2);
	vw3 = mkview(&r3);
	policy = SWARM_RAREST;
	n_views = 0;
	peerwire_engine_set_swarm(&eng, view_of, NULL);
}

static void sw_setup_cfg(const struct peerwire_config *cfg)
{
	setup_cfg(cfg);
	sw_views();
}

static void sw_setup(void)
{
	setup();
	sw_views();
}

/* The views must be as empty as they started once every peer left. */
static void sw_teardown(void)
{
	struct swarm_view *all[] = { vw2, vw3 };

	teardown();
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(atomic_load(&all[k]->peers), 0);
		cr_assert_eq(atomic_load(&all[k]->leechers), 0);
		for (uint32_t i = 0; i < all[k]->n_pieces; i++)
			cr_assert(atomic_load(&all[k]->p[i].avail) == 0 &&
					  atomic_load(&all[k]->p[i].pending) == 0,
				  "view %d piece %u: counts left", k, i);
		free(all[k]);
	}
	vw2 = vw3 = NULL;
}

TestSuite(peerwire_swarm, .init = sw_setup, .fini = sw_teardown);

#define SW_WITH(...)                                     \
	do {                                             \
		struct peerwire_config cfg = test_cfg(); \
		__VA_ARGS__;                             \
		free(vw2);                               \
		free(vw3);                               \
		sw_setup_cfg(&cfg);                      \
	} while (0)

static const uint8_t HAVE_NONE[5] = { 0, 0, 0, 1, 0x0f };

static void tr_have(struct tr *t, uint32_t piece)
{
	uint8_t m[9] = { 0, 0, 0, 5, 4 };

	byteio_put_be32(m + 5, piece);
	tr_send(t, m, 9);
}

static void feed_have(struct peer *p, uint32_t piece)
{
	uint8_t m[9] = { 0, 0, 0, 5, 4 };

	byteio_put_be32(m + 5, piece);
	feed(p, m, 9);
}

/* HAVE messages (9 bytes each) in p's transcript; the pieces in out. */
static size_t haves(struct peer *p, uint32_t *out, size_t cap)
{
	size_t n = 0;

	cr_assert_eq(p->got.n % 18, 0, "not whole HAVEs: %zu transcript bytes", p->got.n);
	for (size_t i = 0; i < p->got.n; i += 18) {
		uint8_t m[9];

		for (int k = 0; k < 9; k++)
			m[k] = p->got.b[i + 2 * k + 1];
		cr_assert(m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] == 5 && m[4] == 4,
			  "message %zu is not a HAVE", i / 18);
		if (n < cap)
			out[n] = byteio_be32(m + 5);
		n++;
	}
	clear(p);
	return n;
}

static struct peer *peer_hs(const struct proto_release *r, const uint8_t *ih, int v2, int fast)
{
	struct peer *p = peer_new(1000);
	static struct tr t;
	uint8_t b[68];

	t.n = 0;
	feed(p, b, hs(b, ih, fast, 0));
	our_hs(&t, ih, v2);
	if (fast)
		tr_send(&t, HAVE_NONE, 5);
	expect(p, &t);
	(void)r;
	return p;
}

/* A lone fast peer (a swarm too small to trade: any piece; 1 MiB of 16 KiB
 * pieces is more than r2 has)
 * is told HAVE_NONE, then, once its HAVE_NONE is in, HAVE for every piece
 * of the 7 of r2, from its cursor on. */
Test(peerwire_swarm, rarest_lone_fast_peer)
{
	struct peer *p = peer_hs(&r2, r2.ih_v1, 0, 1);
	static struct tr t;

	cr_assert_eq(n_views, 1);
	cr_assert_eq(atomic_load(&vw2->peers), 1);
	t.n = 0;
	feed(p, HAVE_NONE, 5);
	for (uint32_t i = 0; i < 7; i++)
		tr_have(&t, i);
	expect(p, &t);
	cr_assert_eq(p->c.stats.peerwire_swarm_haves_total, 7);
	/* everything advertised: nothing more to look for, only the nudge
	 * keep-alive to a peer not interested yet is due */
	cr_assert_eq(peerwire_next_deadline(&p->c), 1000 + PEERWIRE_NUDGE_MS);
	peer_free(p);
}

/* Without the fast extension we send no bitfield; the peer sends none
 * either (it holds nothing): HAVEs come PEERWIRE_SWARM_WAIT_MS after ours. */
Test(peerwire_swarm, rarest_waits_for_a_bitfield_that_never_comes)
{
	struct peer *p = peer_hs(&r2, r2.ih_v1, 0, 0);
	uint32_t got[8];

	cr_assert_eq(peerwire_next_deadline(&p->c), 1000 + 200);
	tick(p, 1199);
	expect_nothing(p);
	tick(p, 1200);
	cr_assert_eq(haves(p, got, 8), 7);
	peer_free(p);
}

/* In a swarm (small_swarm 0) a peer's window is 1 MiB: 64 pieces of r3's
 * 16 KiB, sent in one batch; each piece it reports frees one more. */
Test(peerwire_swarm, rarest_window_refilled_by_haves)
{
	struct peer *p;
	uint32_t got[128], more;

	SW_WITH(cfg.swarm_small = 0);
	p = peer_hs(&r3, r3.ih_v2, 1, 1);
	feed(p, HAVE_NONE, 5);
	cr_assert_eq(haves(p, got, 128), PEERWIRE_SWARM_BATCH);
	/* a full batch: the engine looks again at once, finds the window full */
	cr_assert_eq(peerwire_next_deadline(&p->c), 0);
	tick(p, 1000);
	expect_nothing(p);
	cr_assert_neq(peerwire_next_deadline(&p->c), 0);
	feed_have(p, got[3]);
	cr_assert_eq(haves(p, &more, 1), 1);
	for (int i = 0; i < 64; i++)
		cr_assert_neq(more, got[i], "piece %u advertised twice", more);
	cr_assert_eq(atomic_load(&vw3->p[got[3]].avail), 1);
	peer_free(p);
}

/* The peer's bitfield (626-byte body for 5000 pieces), fed in two parts
 * across calls, goes into the view: what it holds is never advertised. */
Test(peerwire_swarm, bitfield_in_parts_counts_and_is_skipped)
{
	static uint8_t m[5 + 625];
	struct peer *p;
	uint32_t got[128];
	size_t n;

	SW_WITH(cfg.swarm_small = 0);
	p = peer_hs(&r3, r3.ih_v2, 1, 1);
	byteio_put_be32(m, 626);
	m[4] = 5;
	memset(m + 5, 0xff, 625);
	memset(m + 5 + 1, 0, 624); /* pieces 0-7 held */
	m[5 + 100] = 0x80;	   /* and 800 */
	feed(p, m, 300);
	expect_nothing(p);
	feed(p, m + 300, sizeof(m) - 300);
	n = haves(p, got, 128);
	cr_assert_eq(n, PEERWIRE_SWARM_BATCH);
	for (size_t i = 0; i < n; i++)
		cr_assert(got[i] >= 8 && got[i] != 800, "piece %u is held by the peer", got[i]);
	cr_assert_eq(atomic_load(&vw3->p[800].avail), 1);
	cr_assert_eq(atomic_load(&vw3->p[7].avail), 1);
	cr_assert_eq(p->c.sw.n_have, 9);
	peer_free(p);
}

/* BEP 16: one piece on offer; the next only after another peer holds it. */
Test(peerwire_swarm, super_one_piece_at_a_time)
{
	struct peer *a, *b;
	uint32_t got, next;

	policy = SWARM_SUPER;
	a = peer_hs(&r2, r2.ih_v1, 0, 1);
	b = peer_hs(&r2, r2.ih_v1, 0, 1);
	feed(a, HAVE_NONE, 5);
	cr_assert_eq(haves(a, &got, 1), 1);
	feed(b, HAVE_NONE, 5);
	clear(b);
	feed_have(a, got);
	expect_nothing(a);
	feed_have(b, got); /* a passed it on */
	clear(b);
	tick(a, 1000 + SWARM_POLL_MS);
	cr_assert_eq(haves(a, &next, 1), 1);
	cr_assert_neq(next, got);
	peer_free(a);
	peer_free(b);
}

/* A request for a piece not advertised is served (right bytes all the
 * same) and counted. */
Test(peerwire_swarm, unadvertised_request_served_and_counted)
{
	struct peer *p;
	static struct tr t;
	uint32_t g, q;

	SW_WITH(cfg.swarm_small = 0; cfg.swarm_window_kib = 16);
	p = peer_hs(&r2, r2.ih_v1, 0, 1);
	feed(p, HAVE_NONE, 5);
	cr_assert_eq(haves(p, &g, 1), 1, "a window of one 16 KiB piece");
	q = g == 0 ? 1 : 0;
	feed(p, INTERESTED, 5);
	clear(p);
	feed_msg3(p, 6, q, 0, 16384);
	t.n = 0;
	piece_hdr(&t, q, 0, 16384);
	tr_data(&t, 9, 0, (uint64_t)q * 16384, 16384, q, 0);
	expect(p, &t);
	cr_assert_eq(p->c.stats.peerwire_swarm_unadvertised_total, 1);
	feed_msg3(p, 6, g, 0, 16384);
	clear(p);
	cr_assert_eq(p->c.stats.peerwire_swarm_unadvertised_total, 1);
	cr_assert_eq(peerwire_data_done(&p->c, q, 0), 0);
	cr_assert_eq(peerwire_data_done(&p->c, g, 0), 0);
	peer_free(p);
}

/* A fast peer's handshake on r2 under policy pol is answered as a plain
 * seed answers it (HAVE_ALL); returns the peer's plain-fallback count. */
static uint64_t greeted_plain(enum swarm_policy pol)
{
	struct peer *p = peer_new(1000);
	static struct tr t;
	uint8_t b[68];
	uint64_t n;

	policy = pol;
	t.n = 0;
	feed(p, b, hs(b, r2.ih_v1, 1, 0));
	our_hs(&t, r2.ih_v1, 0);
	tr_send(&t, HAVE_ALL, 5);
	expect(p, &t);
	cr_assert_eq(atomic_load(&vw2->peers), 0, "a plain peer joins no view");
	n = p->c.stats.peerwire_swarm_plain_total;
	peer_free(p);
	return n;
}

/* A plain policy greets as ever; a view the engine cannot use (its piece
 * count differs from the release's: a stale view) leaves the peer plain,
 * counted. */
Test(peerwire_swarm, plain_greeting_unchanged)
{
	cr_assert_eq(greeted_plain(SWARM_PLAIN), 0);
	vw2->n_pieces = 3;
	cr_assert_eq(greeted_plain(SWARM_RAREST), 1);
	vw2->n_pieces = 7;
}

/* A peer that closes (a malformed message) leaves the view at once, its
 * advertised pieces free for others. */
Test(peerwire_swarm, close_leaves_the_view)
{
	struct peer *p = peer_hs(&r2, r2.ih_v1, 0, 1);
	static const uint8_t bad[6] = { 0, 0, 0, 2, 0, 0 }; /* choke of length 2 */

	feed(p, HAVE_NONE, 5);
	clear(p);
	cr_assert_gt(atomic_load(&vw2->p[0].pending), 0);
	feed(p, bad, 6);
	expect_close(p, PROTO_CLOSE_MALFORMED);
	cr_assert_eq(atomic_load(&vw2->peers), 0);
	cr_assert_eq(atomic_load(&vw2->p[0].pending), 0);
	peer_free(p);
}
