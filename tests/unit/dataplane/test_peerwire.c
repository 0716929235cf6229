/*
 * Unit tests for dataplane/proto/peerwire.c, the engine: handshake, MSE,
 * requests and cancels, verification failures, framing bounds and
 * glitches, upload slots, timers, partial input and small out arrays,
 * configuration. The extension protocol is tested in
 * test_peerwire_ext.c, the BEP 52 hash messages in test_peerwire_hash.c;
 * the fake catalog and the transcripts are in peerwire_fixture.h.
 */
#include "peerwire_fixture.h"

TestSuite(peerwire, .init = setup, .fini = teardown);

/* ---- handshake ---- */

/* With MSE off, anything but a plain handshake is malformed at once (with
 * it on, such bytes are taken as the start of an MSE key: see mse_*). */
static void setup_mse_off(void)
{
	SETUP_WITH(cfg.mse = 0);
}

/*
 * A peer's whole handshake on ih (fast and ext bits as given) is answered
 * with our handshake (v2 bit as given), then HAVE_ALL (fast) or the
 * bitfield bf[0..bf_len), then, with ext, our extension handshake ext_hs;
 * the peer is open and choked.
 */
static void handshake_answered(const uint8_t ih[20], int fast, int ext, int v2, const void *bf,
			       size_t bf_len, const char *ext_hs)
{
	struct peer *p = peer_new(1000);
	static struct tr t;
	uint8_t b[68];

	t.n = 0;
	hs(b, ih, fast, ext);
	feed(p, b, 68);
	our_hs(&t, ih, v2);
	if (fast)
		tr_send(&t, HAVE_ALL, 5);
	else
		tr_send(&t, bf, bf_len);
	if (ext)
		our_ext_hs(&t, ext_hs);
	expect(p, &t);
	cr_assert(!peerwire_is_closed(&p->c));
	cr_assert(peerwire_choking(&p->c));
	peer_free(p);
}

Test(peerwire, handshake_fast_ext_v1_hash)
{
	handshake_answered(r1.ih_v1, 1, 1, 1, NULL, 0, EXT_HS_R1);
}

/* The catalog is asked on behalf of one connection: the engine passes that
 * connection's user pointer back, so the worker's gate checks the asking
 * peer (its tenant's allow-list and limits), not another one. */
Test(peerwire, lookups_pass_back_the_asking_connection)
{
	struct peer *a = peer_new(1000), *b = peer_new(1000);
	int ta, tb;
	uint8_t h[68];

	a->c.user = &ta;
	b->c.user = &tb;
	n_lookups = 0;
	hs(h, r1.ih_v1, 1, 1);
	feed(b, h, 68);
	cr_assert_gt(n_lookups, 0);
	cr_assert_eq(last_peer, &tb);
	n_lookups = 0;
	hs(h, r3.ih_v2, 1, 1);
	feed(a, h, 68);
	cr_assert_gt(n_lookups, 0);
	cr_assert_eq(last_peer, &ta);
	peer_free(a);
	peer_free(b);
}

Test(peerwire, handshake_answered_before_peer_id)
{
	struct peer *p = peer_new(1000);
	static struct tr t;
	uint8_t b[68];

	hs(b, r1.ih_v1, 1, 0);
	feed(p, b, 47);
	expect_nothing(p);
	feed(p, b + 47, 1); /* the info-hash is complete: BEP 3 lets us answer */
	our_hs(&t, r1.ih_v1, 1);
	tr_send(&t, HAVE_ALL, 5);
	expect(p, &t);
	feed(p, b + 48, 20);
	expect_nothing(p);
	peer_free(p);
}

Test(peerwire, handshake_no_fast_gets_bitfield)
{
	/* 6 pieces: one byte, bits 0-5 set, spare bits zero: 11111100 */
	handshake_answered(r1.ih_v1, 0, 0, 1, "\x00\x00\x00\x02\x05\xfc", 6, NULL);
}

Test(peerwire, handshake_v1_only_release_has_no_v2_bit)
{
	/* 7 pieces: 11111110 */
	handshake_answered(
		r2.ih_v1, 0, 1, 0, "\x00\x00\x00\x02\x05\xfe", 6,
		"d1:md11:ut_metadatai1ee13:metadata_sizei300e4:reqqi1000e1:v14:BitStream seede");
}

Test(peerwire, handshake_v2_found_by_truncated_hash)
{
	/* the first 20 bytes of the SHA-256 info-hash; our answer echoes them */
	handshake_answered(r1.ih_v2, 1, 0, 1, NULL, 0, NULL);
}

Test(peerwire, handshake_big_bitfield)
{
	static uint8_t bf[5 + 625];

	byteio_put_be32(bf, 626);
	bf[4] = 5;
	memset(bf + 5, 0xff, 625); /* 5000 pieces: 625 full bytes */
	handshake_answered(r3.ih_v2, 0, 0, 1, bf, sizeof(bf), NULL);
}

Test(peerwire, handshake_unknown_info_hash)
{
	struct peer *p = peer_new(1000);
	uint8_t b[68], ih[20];

	memset(ih, 0x77, 20);
	hs(b, ih, 1, 1);
	feed(p, b, 68);
	expect_close(p, PROTO_CLOSE_UNKNOWN_TORRENT);
	/* nothing after CLOSE, input dropped */
	cr_assert_eq(peerwire_on_bytes(&p->c, INTERESTED, 5, 2000, &p->out), 5);
	peer_free(p);
}

Test(peerwire, handshake_bad_pstrlen)
{
	struct peer *p;

	setup_mse_off();
	p = peer_new(1000);
	feed(p,
	     "\x12"
	     "BitTorrent protoco",
	     19);
	expect_close(p, PROTO_CLOSE_MALFORMED);
	peer_free(p);
}

Test(peerwire, handshake_bad_protocol_string)
{
	struct peer *p;

	setup_mse_off();
	p = peer_new(1000);
	feed(p,
	     "\x13"
	     "BitTorrent",
	     11);
	expect_nothing(p);
	feed(p, "-", 1); /* ' ' expected */
	expect_close(p, PROTO_CLOSE_MALFORMED);
	peer_free(p);
}

Test(peerwire, handshake_garbage_http)
{
	struct peer *p;

	setup_mse_off();
	p = peer_new(1000);
	feed(p, "GET / HTTP/1.1\r\n\r\n", 18);
	expect_close(p, PROTO_CLOSE_MALFORMED);
	peer_free(p);
}

/* ---- MSE (mse.h) ---- */

/* The raw bytes of a transcript that holds only SENDs; the rest of it (a
 * CLOSE) stays. */
static size_t take_sent(struct peer *p, uint8_t *out, size_t cap)
{
	size_t n = 0, i = 0;

	while (i + 1 < p->got.n && p->got.b[i] == 'S') {
		cr_assert_lt(n, cap);
		out[n++] = p->got.b[i + 1];
		i += 2;
	}
	memmove(p->got.b, p->got.b + i, p->got.n - i);
	p->got.n -= i;
	return n;
}

static void expect_raw(const uint8_t *got, size_t n, const struct tr *want)
{
	static struct tr t;

	t.n = 0;
	tr_send(&t, got, n);
	cr_assert_eq(t.n, want->n, "got %zu bytes, want %zu", n, want->n / 2);
	cr_assert(!memcmp(t.b, want->b, t.n), "bytes differ");
}

/* Steps 1 and 2: Ya and PadA in (in one piece or byte by byte), Yb and
 * PadB out, which is copied to yb. */
static void mse_open(struct peer *p, struct mi *m, size_t pad_a, int bytewise, uint8_t yb[96])
{
	static uint8_t b[96 + 512], got[96 + 512];
	size_t n = mi_step1(m, 3, pad_a, b), k;

	if (bytewise)
		for (size_t i = 0; i < n; i++)
			feed(p, b + i, 1);
	else
		feed(p, b, n);
	k = take_sent(p, got, sizeof(got));
	expect_nothing(p);
	cr_assert_geq(k, 96, "no Yb");
	cr_assert_leq(k, 96 + 512, "PadB over 512 bytes");
	memcpy(yb, got, 96);
	cr_assert(!peerwire_is_closed(&p->c));
}

/* Step 4 must open what we send next, selecting plaintext (PadB went out
 * with Yb); returns the offset of the plaintext after it. */
static size_t mse_expect_step4(struct mi *m, const uint8_t *got, size_t n)
{
	uint32_t sel = 0;
	long o = mi_step4(m, got, n, &sel);

	cr_assert_eq(o, 14, "step 4 not found first (at %ld)", o);
	cr_assert_eq(sel, 1, "crypto_select %u, want plaintext", sel);
	return (size_t)o;
}

/* What the engine sent after step 3: step 4 (selecting plaintext), then
 * our handshake answer on ih (v2 bit as given), HAVE_ALL and, when ext_hs
 * is not NULL, our extension handshake; nothing more. */
static void mse_expect_answer(struct peer *p, struct mi *m, const uint8_t ih[20], int v2,
			      const char *ext_hs)
{
	static uint8_t got[4096];
	static struct tr t;
	size_t k = take_sent(p, got, sizeof(got)), o;

	expect_nothing(p);
	o = mse_expect_step4(m, got, k);
	t.n = 0;
	our_hs(&t, ih, v2);
	tr_send(&t, HAVE_ALL, 5);
	if (ext_hs)
		our_ext_hs(&t, ext_hs);
	expect_raw(got + o, k - o, &t);
}

/*
 * An MSE exchange that must succeed: Ya with pad_a bytes of PadA, then step 3
 * offering provide with pad_c bytes of PadC, naming release r by its v1 or
 * v2 info-hash, carrying the first ia_len bytes of the peer's handshake (fast,
 * ext as given) in IA and the rest in plaintext after it; all of it fed in
 * one piece or byte by byte. The engine must answer with step 4, then our
 * handshake (v2 bit our_v2), HAVE_ALL and, with ext, our extension handshake.
 */
struct mse_case {
	size_t pad_a;
	int bytewise;
	const struct proto_release *r;
	int v2;
	uint32_t provide;
	uint16_t pad_c;
	size_t ia_len;
	int ext, our_v2;
};

static struct peer *mse_connect(const struct mse_case *c)
{
	struct peer *p = peer_new(1000);
	static uint8_t b[2048];
	uint8_t yb[96], h[68];
	const uint8_t *ih = c->v2 ? c->r->ih_v2 : c->r->ih_v1;
	struct mi m;
	size_t n;

	mse_open(p, &m, c->pad_a, c->bytewise, yb);
	hs(h, ih, 1, c->ext);
	n = mi_step3(&m, yb, ih, c->provide, c->pad_c, c->ia_len ? h : NULL, c->ia_len, b);
	memcpy(b + n, h + c->ia_len, 68 - c->ia_len);
	n += 68 - c->ia_len;
	if (c->bytewise)
		for (size_t i = 0; i < n; i++)
			feed(p, b + i, 1);
	else
		feed(p, b, n);
	mse_expect_answer(p, &m, ih, c->our_v2, c->ext ? EXT_HS_R1 : NULL);
	return p;
}

/* Transmission's way: the handshake travels in IA. */
Test(peerwire, mse_handshake_in_ia_then_plaintext)
{
	static struct tr t;
	struct peer *p = mse_connect(&(struct mse_case){ .pad_a = 100,
							 .r = &r1,
							 .provide = 3,
							 .pad_c = 7,
							 .ia_len = 68,
							 .ext = 1,
							 .our_v2 = 1 });

	cr_assert_eq(p->c.stats.peerwire_mse_handshakes_total, 1);
	/* the stream is plaintext from here */
	feed(p, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(p, &t);
	peer_free(p);
}

/* libtorrent's way: IA empty, the plaintext handshake follows step 3 (here
 * in the same buffer), and a v2 info-hash names the release. */
Test(peerwire, mse_empty_ia_v2_handshake_after)
{
	peer_free(mse_connect(
		&(struct mse_case){ .r = &r1, .v2 = 1, .provide = 3, .ia_len = 0, .our_v2 = 1 }));
}

/* Every field split across calls, one byte at a time, the largest pads. */
Test(peerwire, mse_byte_by_byte)
{
	peer_free(mse_connect(&(struct mse_case){
		.pad_a = 512, .bytewise = 1, .r = &r2, .provide = 1, .pad_c = 512, .ia_len = 40 }));
}

/*
 * An exchange the engine must refuse at step 3: step 3 names skey, offers
 * provide and carries ia (ia_len bytes); flip, when non-zero, is the offset
 * of a byte of step 3 to corrupt. The engine must close with why after
 * sending want_sent bytes past step 2 (0, or 14 when step 4 went out).
 */
static void mse_refused(const uint8_t skey[20], uint32_t provide, const uint8_t *ia, size_t ia_len,
			size_t flip, size_t want_sent, enum proto_close_reason why)
{
	struct peer *p = peer_new(1000);
	static uint8_t b[2048], got[4096];
	uint8_t yb[96];
	struct mi m;
	size_t n;

	mse_open(p, &m, 20, 0, yb);
	n = mi_step3(&m, yb, skey, provide, 0, ia, ia_len, b);
	if (flip)
		b[flip] ^= 1;
	feed(p, b, n);
	cr_assert_eq(take_sent(p, got, sizeof(got)), want_sent);
	expect_close(p, why);
	peer_free(p);
}

Test(peerwire, mse_rc4_only_is_refused_when_set_to_plaintext_only)
{
	uint8_t h[68];

	SETUP_WITH(cfg.mse = 1);
	hs(h, r1.ih_v1, 1, 1);
	mse_refused(r1.ih_v1, 2, h, 68, 0, 0, PROTO_CLOSE_ENCRYPTION);
}

/* Transmission's "prefer encryption" offers RC4 alone: we select it, and
 * the worker's part (decrypting input with peerwire_rc4_rx, encrypting
 * output with peerwire_rc4_tx) is played here. */
Test(peerwire, mse_rc4_selected_when_insisted_on)
{
	struct peer *p = peer_new(1000);
	static struct tr t;
	static uint8_t b[2048], got[4096];
	uint8_t yb[96], h[68], tail[5 + 68];
	struct mi m;
	uint32_t sel = 0;
	size_t n, k, used;
	long o;

	mse_open(p, &m, 64, 0, yb);
	cr_assert_null(peerwire_rc4_rx(&p->c));
	hs(h, r1.ih_v1, 1, 1);
	n = mi_step3(&m, yb, r1.ih_v1, 2, 3, h, 68, b);
	/* an INTERESTED right behind it, in the RC4 stream */
	memcpy(tail, INTERESTED, 5);
	mi_rc4(&m.enc, tail, 5);
	memcpy(b + n, tail, 5);
	p->out.n = 0;
	p->out.cap = p->cap;
	used = peerwire_on_bytes(&p->c, b, n + 5, p->now, &p->out);
	record(p);
	/* the call ends right after step 4: the rest is ciphertext */
	cr_assert_eq(used, n);
	k = take_sent(p, got, sizeof(got));
	expect_nothing(p);
	o = mi_step4(&m, got, k, &sel);
	cr_assert_eq(o, 14);
	cr_assert_eq((long)k, o, "plaintext went out after step 4");
	cr_assert_eq(sel, 2);
	cr_assert_not_null(peerwire_rc4_rx(&p->c));
	cr_assert_not_null(peerwire_rc4_tx(&p->c));
	/* the worker decrypts what is left, offers it again */
	mse_rc4_crypt(peerwire_rc4_rx(&p->c), b + n, 5);
	feed(p, b + n, 5);
	k = take_sent(p, got, sizeof(got));
	expect_nothing(p);
	/* ... and encrypts what the engine said; the peer decrypts it */
	mse_rc4_crypt(peerwire_rc4_tx(&p->c), got, k);
	mi_rc4(&m.dec, got, k);
	our_hs(&t, r1.ih_v1, 1);
	tr_send(&t, HAVE_ALL, 5);
	our_ext_hs(&t, EXT_HS_R1);
	tr_send(&t, UNCHOKE, 5);
	expect_raw(got, k, &t);
	peer_free(p);
}

Test(peerwire, mse_unknown_release)
{
	uint8_t ih[20];

	memset(ih, 0x77, 20);
	mse_refused(ih, 3, NULL, 0, 0, 0, PROTO_CLOSE_UNKNOWN_TORRENT);
}

Test(peerwire, mse_hidden_release_is_unknown)
{
	hide_r1 = 1; /* consulted when step 3 names it */
	mse_refused(r1.ih_v1, 3, NULL, 0, 0, 0, PROTO_CLOSE_UNKNOWN_TORRENT);
}

Test(peerwire, mse_bad_verification_constant)
{
	/* byte 40 of step 3 is the first of ENCRYPT(VC) */
	mse_refused(r1.ih_v1, 3, NULL, 0, 40, 0, PROTO_CLOSE_ENCRYPTION);
}

Test(peerwire, mse_handshake_must_name_the_mse_release)
{
	uint8_t h[68];

	hs(h, r2.ih_v1, 1, 0); /* a served release, but not the one of SKEY */
	/* step 4 goes out, then nothing but the CLOSE */
	mse_refused(r1.ih_v1, 3, h, 68, 0, 14, PROTO_CLOSE_ENCRYPTION);
}

/* No req1 hash in the 532 bytes after Ya: the peer is not speaking MSE. */
Test(peerwire, mse_no_sync_within_pad_bound)
{
	struct peer *p = peer_new(1000);
	static uint8_t junk[600];
	uint8_t yb[96];
	struct mi m;

	mse_open(p, &m, 0, 0, yb);
	memset(junk, 0x42, sizeof(junk));
	feed(p, junk, 531);
	expect_nothing(p);
	feed(p, junk, 1);
	expect_close(p, PROTO_CLOSE_ENCRYPTION);
	peer_free(p);
}

/* The worker charges an MSE key to the peer's address before the engine
 * spends a key exchange on it (catalog.admit_mse). */
static unsigned n_admit_asks;
static void *admit_asked_for;
static int admit_answer;

static int admit_mse_cb(void *ctx, void *peer)
{
	(void)ctx;
	n_admit_asks++;
	admit_asked_for = peer;
	return admit_answer;
}

static void with_admit(int answer)
{
	struct proto_catalog cat = { NULL, cat_v1, cat_v2, NULL, cat_mse, admit_mse_cb };

	peerwire_engine_set_catalog(&eng, &cat);
	n_admit_asks = 0;
	admit_asked_for = NULL;
	admit_answer = answer;
}

/* Refused: closed as `refused` with nothing sent (no Yb: no exponentiation). */
Test(peerwire, mse_key_refused_by_admission_gets_no_answer)
{
	struct peer *p = peer_new(1000);
	struct mi m;
	uint8_t b[96 + 512];
	size_t n;

	with_admit(0);
	p->c.user = (void *)0x1234;
	n = mi_step1(&m, 3, 40, b);
	feed(p, b, n);
	expect_close(p, PROTO_CLOSE_REFUSED);
	cr_assert_eq(n_admit_asks, 1);
	cr_assert_eq(admit_asked_for, (void *)0x1234, "asked for another connection");
	cr_assert_eq(p->c.stats.peerwire_mse_handshakes_total, 0);
	peer_free(p);
}

/* Admitted: answered as without admission; asked once, not per byte. A
 * plain handshake is never asked about. */
Test(peerwire, mse_key_admitted_is_answered_and_plain_is_not_asked)
{
	struct peer *p = peer_new(1000);
	struct mi m;
	uint8_t yb[96], h[68];

	with_admit(1);
	mse_open(p, &m, 0, 1, yb);
	cr_assert_eq(n_admit_asks, 1);
	peer_free(p);
	p = peer_new(1000);
	hs(h, r1.ih_v1, 1, 0);
	feed(p, h, 68);
	cr_assert(!peerwire_is_closed(&p->c));
	cr_assert_eq(n_admit_asks, 1);
	peer_free(p);
}

/* ---- what counts as using a connection ---- */

/* The worker gives slots to peers it serves: keep-alives, INTERESTED,
 * HAVE, the handshake and a choked peer's requests (rejected under the
 * fast extension) are not served; each block queued is one. */
Test(peerwire, requests_served_ignores_keepalives_and_refused_requests)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);
	uint8_t have[9] = { 0, 0, 0, 5, 4, 0, 0, 0, 1 };
	struct tr t = { .n = 0 };

	for (int i = 0; i < 10; i++)
		feed(p, KEEPALIVE, 4);
	feed(p, have, 9);
	feed_msg3(p, 6, 0, 0, 16384); /* choked: rejected */
	cr_assert_eq(p->c.stats.peerwire_rejects_total, 1);
	cr_assert_eq(peerwire_requests_served(&p->c), 0);
	clear(p);
	feed(p, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(p, &t);
	cr_assert_eq(peerwire_requests_served(&p->c), 0);
	feed_msg3(p, 6, 0, 0, 16384);
	cr_assert_eq(peerwire_requests_served(&p->c), 1);
	feed(p, KEEPALIVE, 4);
	cr_assert_eq(peerwire_requests_served(&p->c), 1);
	feed_msg3(p, 6, 0, 16384, 16384);
	cr_assert_eq(peerwire_requests_served(&p->c), 2);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 0), 0);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 16384), 0);
	peer_free(p);
}

/* An unchoked peer (fast extension) of an engine restarted to keep at
 * most two requests outstanding per peer. */
static struct peer *peer_two_requests(void)
{
	SETUP_WITH(cfg.max_requests = 2);
	return peer_unchoked(1);
}

/* One more request (piece, begin, len) is one too many: the peer is
 * closed for it, and freed. */
static void expect_one_too_many(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
	clear(p);
	feed_msg3(p, 6, piece, begin, len);
	expect_close(p, PROTO_CLOSE_TOO_MANY);
	peer_free(p);
}

/* The request table is handed out as requests come: entries freed by
 * data_done are used again once every fresh one was, for as long as the
 * peer keeps asking, and the bound still holds. */
Test(peerwire, request_table_reuses_entries)
{
	struct peer *p = peer_two_requests();

	for (int round = 0; round < 20; round++) {
		feed_msg3(p, 6, 0, 0, 16384);
		feed_msg3(p, 6, 0, 16384, 16384);
		cr_assert(!peerwire_is_closed(&p->c), "round %d", round);
		cr_assert_eq(peerwire_outstanding(&p->c), 2);
		cr_assert_eq(peerwire_data_done(&p->c, 0, 0), 0, "round %d", round);
		cr_assert_eq(peerwire_data_done(&p->c, 0, 16384), 0, "round %d", round);
	}
	cr_assert_eq(peerwire_requests_served(&p->c), 40);
	feed_msg3(p, 6, 0, 0, 16384);
	feed_msg3(p, 6, 0, 16384, 16384);
	expect_one_too_many(p, 3, 0, 16384);
}

/* What used to be a malformed handshake now waits for a whole key; a key
 * outside [2, P - 2] is refused before we answer. */
Test(peerwire, mse_degenerate_key)
{
	struct peer *p = peer_new(1000);
	static uint8_t ya[96];

	feed(p, "GET / HTTP/1.1\r\n\r\n", 18);
	expect_nothing(p);
	peer_free(p);
	p = peer_new(1000);
	memset(ya, 0, sizeof(ya));
	feed(p, ya, 96);
	expect_close(p, PROTO_CLOSE_ENCRYPTION);
	peer_free(p);
	p = peer_new(1000);
	memset(ya, 0, sizeof(ya));
	ya[95] = 1;
	feed(p, ya, 96);
	expect_close(p, PROTO_CLOSE_ENCRYPTION);
	peer_free(p);
}

Test(peerwire, mse_times_out_like_a_handshake)
{
	struct peer *p = peer_new(1000);
	uint8_t yb[96];
	struct mi m;

	mse_open(p, &m, 10, 0, yb);
	cr_assert_eq(peerwire_next_deadline(&p->c), 11000);
	tick(p, 11000);
	expect_close(p, PROTO_CLOSE_TIMEOUT);
	peer_free(p);
}

Test(peerwire, handshake_short_then_timeout)
{
	struct peer *p = peer_new(1000);
	uint8_t b[68];

	hs(b, r1.ih_v1, 1, 0);
	feed(p, b, 30);
	expect_nothing(p);
	cr_assert_eq(peerwire_next_deadline(&p->c), 11000);
	tick(p, 10999);
	expect_nothing(p);
	tick(p, 11000);
	expect_close(p, PROTO_CLOSE_TIMEOUT);
	cr_assert_eq(peerwire_next_deadline(&p->c), PEERWIRE_NO_DEADLINE);
	peer_free(p);
}

Test(peerwire, handshake_timeout_also_without_peer_id)
{
	struct peer *p = peer_new(1000);
	uint8_t b[68];

	hs(b, r1.ih_v1, 1, 0);
	feed(p, b, 50); /* answered, but the peer id never completes */
	clear(p);
	tick(p, 11000);
	expect_close(p, PROTO_CLOSE_TIMEOUT);
	peer_free(p);
}

Test(peerwire, release_withdrawn_closes)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);

	hide_r1 = 1;
	feed(p, INTERESTED, 5);
	expect_close(p, PROTO_CLOSE_UNKNOWN_TORRENT);
	peer_free(p);
}

static const struct proto_release *cat_none(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)peer;
	(void)ctx;
	(void)ih;
	return NULL;
}

Test(peerwire, catalog_switch)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);
	struct proto_catalog next = { NULL, cat_v1, cat_v2, NULL };
	struct proto_catalog empty = { NULL, cat_none, cat_none, NULL };
	static struct tr t;

	peerwire_engine_set_catalog(&eng, &next); /* same releases: carries on */
	feed(p, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(p, &t);
	peerwire_engine_set_catalog(&eng, &empty); /* withdrawn */
	tick(p, 2000);
	expect_close(p, PROTO_CLOSE_UNKNOWN_TORRENT);
	cr_assert_eq(eng.slots_used, 0);
	peer_free(p);
}

/* ---- requests ---- */

/* A REQUEST (index, begin, len) and the answer it must get: a PIECE header,
 * dlen bytes of file at off in release rel (none when dlen is 0), then
 * zeros bytes of pad. */
struct block {
	uint32_t index, begin, len;
	uint32_t rel, file;
	uint64_t off;
	uint32_t dlen, zeros;
};

static void request_blocks(struct peer *p, const struct block *b, size_t n)
{
	static struct tr t;

	for (size_t i = 0; i < n; i++, b++) {
		t.n = 0;
		feed_msg3(p, 6, b->index, b->begin, b->len);
		piece_hdr(&t, b->index, b->begin, b->len);
		if (b->dlen)
			tr_data(&t, b->rel, b->file, b->off, b->dlen, b->index, b->begin);
		if (b->zeros)
			tr_zero(&t, b->zeros);
		expect(p, &t);
	}
}

Test(peerwire, request_whole_block)
{
	static const struct block b = { 0, 0, 16384, 7, 0, 0, 16384, 0 };
	struct peer *p = peer_unchoked(1);

	request_blocks(p, &b, 1);
	cr_assert_eq(peerwire_outstanding(&p->c), 1);
	cr_assert_eq(p->c.stats.peerwire_requests_total, 1);
	cr_assert_eq(p->c.stats.peerwire_request_bytes_total, 16384);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 0), 0);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 0), -ENOENT);
	cr_assert_eq(peerwire_outstanding(&p->c), 0);
	peer_free(p);
}

Test(peerwire, request_into_pad_splits_data_and_zero)
{
	static const struct block b[] = {
		/* piece 1 = bytes 32768..65535 of file a (40000 B): 7232 bytes, then pad */
		{ 1, 0, 16384, 7, 0, 32768, 7232, 16384 - 7232 },
		/* straddling the file's end inside the block */
		{ 1, 7000, 1000, 7, 0, 39768, 232, 768 },
		/* wholly in pad: zeros, never outstanding */
		{ 1, 16384, 16384, 7, 0, 0, 0, 16384 },
		/* piece 2 = file b (5 bytes) then pad */
		{ 2, 0, 16, 7, 1, 0, 5, 11 },
		/* piece 4: file c (index 3, after the empty file), full piece */
		{ 4, 16384, 16384, 7, 3, 32768 + 16384, 16384, 0 },
		/* the last piece is short: 70000 - 65536 = 4464 bytes */
		{ 5, 0, 4464, 7, 3, 65536, 4464, 0 },
	};
	struct peer *p = peer_unchoked(1);

	request_blocks(p, b, 3);
	cr_assert_eq(peerwire_outstanding(&p->c), 2);
	request_blocks(p, b + 3, 3);
	cr_assert_eq(p->c.stats.peerwire_blocks_total, 6);
	peer_free(p);
}

Test(peerwire, request_v1_single_file)
{
	struct peer *p = peer_open(&r2, 0, 1, 0);

	feed(p, INTERESTED, 5);
	clear(p);
	/* last piece of r2: 100000 - 6 * 16384 = 1696 bytes */
	request_blocks(p, &(const struct block){ 6, 696, 1000, 9, 0, 6 * 16384 + 696, 1000, 0 }, 1);
	feed_msg3(p, 6, 6, 696, 1001);
	expect_close(p, PROTO_CLOSE_BAD_REQUEST);
	peer_free(p);
}

static void bad_request(uint32_t index, uint32_t begin, uint32_t len)
{
	struct peer *p = peer_unchoked(1);

	feed_msg3(p, 6, index, begin, len);
	expect_close(p, PROTO_CLOSE_BAD_REQUEST);
	peer_free(p);
}

Test(peerwire, request_index_past_last_piece)
{
	bad_request(6, 0, 16384);
}

Test(peerwire, request_index_huge)
{
	bad_request(0xffffffffu, 0, 16384);
}

Test(peerwire, request_straddles_end_of_last_piece)
{
	bad_request(5, 4000, 465);
}

Test(peerwire, request_length_16385)
{
	bad_request(0, 0, 16385);
}

Test(peerwire, request_length_0)
{
	bad_request(0, 0, 0);
}

Test(peerwire, request_begin_beyond_piece)
{
	bad_request(0, 32768, 1);
}

Test(peerwire, request_begin_overflow)
{
	bad_request(0, 0xffffff00u, 16384);
}

Test(peerwire, request_validated_also_when_choked)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);

	feed_msg3(p, 6, 6, 0, 16384);
	expect_close(p, PROTO_CLOSE_BAD_REQUEST);
	peer_free(p);
}

Test(peerwire, choked_request_fast_is_rejected)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);

	feed_msg3(p, 6, 3, 16384, 16384);
	expect_reject(p, 3, 16384, 16384);
	cr_assert_eq(peerwire_outstanding(&p->c), 0);
	cr_assert_eq(p->c.stats.peerwire_rejects_total, 1);
	peer_free(p);
}

Test(peerwire, choked_request_without_fast_is_ignored)
{
	struct peer *p = peer_open(&r1, 0, 0, 0);

	feed_msg3(p, 6, 3, 16384, 16384);
	expect_nothing(p);
	cr_assert_eq(peerwire_outstanding(&p->c), 0);
	cr_assert_eq(p->c.stats.peerwire_requests_total, 1);
	peer_free(p);
}

Test(peerwire, cancel_marks_but_block_still_owed)
{
	struct peer *p = peer_unchoked(1);

	feed_msg3(p, 6, 0, 0, 16384);
	clear(p);
	feed_msg3(p, 8, 0, 16384, 16384); /* matches nothing */
	cr_assert_eq(p->c.stats.peerwire_cancels_total, 0);
	feed_msg3(p, 8, 0, 0, 16384);
	expect_nothing(p); /* nothing queued to drop: no REJECT */
	cr_assert_eq(p->c.stats.peerwire_cancels_total, 1);
	cr_assert_eq(peerwire_outstanding(&p->c), 1);
	feed_msg3(p, 8, 0, 0, 16384); /* already cancelled */
	cr_assert_eq(p->c.stats.peerwire_cancels_total, 1);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 0), 0);
	cr_assert_eq(peerwire_outstanding(&p->c), 0);
	peer_free(p);
}

Test(peerwire, too_many_outstanding)
{
	struct peer *p = peer_two_requests();

	feed_msg3(p, 6, 0, 0, 16384);
	feed_msg3(p, 6, 0, 16384, 16384);
	/* a pad-only request is not outstanding */
	feed_msg3(p, 6, 1, 16384, 16384);
	cr_assert_eq(peerwire_outstanding(&p->c), 2);
	cr_assert_eq(peerwire_data_done(&p->c, 0, 16384), 0);
	feed_msg3(p, 6, 3, 0, 16384);
	cr_assert(!peerwire_is_closed(&p->c));
	/* a cancelled request stops counting against the bound at once */
	feed_msg3(p, 8, 3, 0, 16384);
	feed_msg3(p, 6, 3, 16384, 16384);
	cr_assert(!peerwire_is_closed(&p->c));
	cr_assert_eq(peerwire_outstanding(&p->c), 3);
	expect_one_too_many(p, 4, 0, 16384);
}

Test(peerwire, cancel_flood_is_bounded)
{
	struct peer *p = peer_two_requests();

	for (int i = 0; i < 4; i++) {
		feed_msg3(p, 6, 0, (uint32_t)i * 4096, 4096);
		feed_msg3(p, 8, 0, (uint32_t)i * 4096, 4096);
	}
	cr_assert_eq(peerwire_outstanding(&p->c), 4); /* 2 * max_requests entries */
	expect_one_too_many(p, 0, 20000, 4096);
}

Test(peerwire, piece_header_outlives_later_calls)
{
	struct peer *p = peer_with_ut_metadata(3);
	uint8_t want[13];
	const uint8_t *h;

	feed(p, INTERESTED, 5);
	feed_msg3(p, 6, 4, 0, 16384);
	cr_assert_eq(p->n_last, 2);
	cr_assert_eq(p->last[0].kind, PROTO_ACT_SEND);
	h = p->last[0].u.send.p;
	byteio_put_be32(want, 9 + 16384);
	want[4] = 7;
	byteio_put_be32(want + 5, 4);
	byteio_put_be32(want + 9, 0);
	/* more calls that fill the send buffer */
	feed_ext(p, 1, "d8:msg_typei0e5:piecei0ee");
	tick(p, 5000);
	cr_assert_eq(memcmp(h, want, 13), 0, "PIECE header overwritten before data_done");
	cr_assert_eq(peerwire_data_done(&p->c, 4, 0), 0);
	peer_free(p);
}

Test(peerwire, data_failed_fast_rejects)
{
	struct peer *p = peer_unchoked(1);

	feed_msg3(p, 6, 3, 0, 16384);
	feed_msg3(p, 6, 3, 16384, 16384);
	clear(p);
	cr_assert_eq(data_failed(p, 3, 0), 0);
	expect_reject(p, 3, 0, 16384);
	cr_assert_eq(peerwire_outstanding(&p->c), 1);
	cr_assert_eq(data_failed(p, 3, 0), -ENOENT);
	cr_assert_eq(p->out.n, 0);
	cr_assert(!peerwire_is_closed(&p->c));
	peer_free(p);
}

Test(peerwire, data_failed_without_fast_closes)
{
	struct peer *p = peer_unchoked(0);

	feed_msg3(p, 6, 3, 0, 16384);
	clear(p);
	cr_assert_eq(data_failed(p, 3, 0), 0);
	expect_close(p, PROTO_CLOSE_DATA_ERROR);
	peer_free(p);
}

Test(peerwire, data_failed_close_waits_for_room)
{
	struct peer *p = peer_unchoked(0);

	feed_msg3(p, 6, 3, 0, 16384);
	clear(p);
	p->out.n = p->out.cap; /* the worker's array is full */
	cr_assert_eq(peerwire_data_failed(&p->c, 3, 0, &p->out), 0);
	cr_assert(peerwire_is_closed(&p->c));
	cr_assert_eq(peerwire_next_deadline(&p->c), 0);
	tick(p, 2000);
	expect_close(p, PROTO_CLOSE_DATA_ERROR);
	cr_assert_eq(peerwire_next_deadline(&p->c), PEERWIRE_NO_DEADLINE);
	tick(p, 3000);
	expect_nothing(p);
	peer_free(p);
}

/* Regression (fuzz): a REJECT must not need send-buffer room, or a full
 * buffer after a big reply would make the worker drop a healthy peer. */
Test(peerwire, data_failed_with_full_send_buffer)
{
	struct peer *p = peer_with_ut_metadata(3);
	static uint8_t s[1024];
	size_t n = 0, calls;

	feed(p, INTERESTED, 5);
	clear(p);
	n += msg3(s + n, 6, 3, 0, 16384);
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei0ee"); /* 16435 bytes out */
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei1ee"); /* 3667 */
	for (int i = 0; i < 7; i++)			     /* 7 * 53 */
		n += hash_msg(s + n, 21, r1_root_c, 0, 0, 2, 0);
	calls = p->calls;
	feed(p, s, n);
	cr_assert_eq(p->calls, calls + 1, "not all in one call");
	cr_assert_lt(PEERWIRE_SEND_BUF - p->c.sbuf_used, 17, "send buffer not full enough");
	clear(p);
	cr_assert_eq(data_failed(p, 3, 0), 0);
	expect_reject(p, 3, 0, 16384);
	cr_assert_eq(peerwire_outstanding(&p->c), 0);
	cr_assert_eq(p->c.stats.peerwire_rejects_total, 1);
	/* the entry is reused only after the send buffer restarts */
	feed(p, s, msg3(s, 6, 3, 0, 16384));
	cr_assert_eq(peerwire_outstanding(&p->c), 1);
	cr_assert_eq(peerwire_data_done(&p->c, 3, 0), 0);
	peer_free(p);
}

Test(peerwire, data_failed_without_room_for_reject)
{
	struct peer *p = peer_unchoked(1);

	feed_msg3(p, 6, 3, 0, 16384);
	clear(p);
	p->out.n = p->out.cap;
	cr_assert_eq(peerwire_data_failed(&p->c, 3, 0, &p->out), -ENOSPC);
	cr_assert_eq(peerwire_outstanding(&p->c), 1); /* nothing done */
	peer_free(p);
}

/* ---- other messages ---- */

/* Bytes that end a connection: fed to a fresh r1 peer (fast and ext bits
 * as given) past its handshake, they close it with why. */
struct closing {
	const char *b;
	size_t n;
	enum proto_close_reason why;
};

#define BYTES(lit) lit, sizeof(lit) - 1

static void expect_closings(int fast, int ext, const struct closing *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct peer *p = peer_open(&r1, 0, fast, ext);

		feed(p, c[i].b, c[i].n);
		expect_close(p, c[i].why);
		peer_free(p);
	}
}

Test(peerwire, bitfield_lengths)
{
	static const struct closing bad[] = {
		{ BYTES("\x00\x00\x00\x01\x05"), PROTO_CLOSE_MALFORMED },
		{ BYTES("\x00\x00\x00\x02\x05\xfd"), PROTO_CLOSE_MALFORMED }, /* a spare bit set */
	};
	struct peer *p = peer_open(&r1, 0, 0, 0);

	feed(p, "\x00\x00\x00\x02\x05\xfc", 6); /* right: 6 pieces in one byte */
	expect_nothing(p);
	cr_assert(!peerwire_is_closed(&p->c));
	feed(p, "\x00\x00\x00\x03\x05\xfc\x00", 7);
	expect_close(p, PROTO_CLOSE_OVERSIZED);
	peer_free(p);
	expect_closings(0, 0, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(peerwire, oversized_messages)
{
	static const struct closing bad[] = {
		/* over max_message (1 MiB): closed on the length prefix alone */
		{ BYTES("\x00\x10\x00\x01"), PROTO_CLOSE_OVERSIZED },
		{ BYTES("\x00\x00\x40\x0e\x06"), PROTO_CLOSE_OVERSIZED }, /* request of 16398 */
		{ BYTES("\x00\x00\x40\x0e\x07"), PROTO_CLOSE_OVERSIZED }, /* piece of 16398 */
		{ BYTES("\x00\x01\x00\x01\x14"), PROTO_CLOSE_OVERSIZED }, /* extended of 65537 */
		{ BYTES("\x00\x00\x00\x0e\x06"), PROTO_CLOSE_MALFORMED }, /* request of 14 */
		{ BYTES("\x00\x00\x00\x02\x02\x00"),
		  PROTO_CLOSE_MALFORMED }, /* interested, a body */
	};

	expect_closings(1, 1, bad, sizeof(bad) / sizeof(bad[0]));
}

Test(peerwire, ignored_messages_and_glitches)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);
	uint8_t m[64];

	feed(p, KEEPALIVE, 4);
	feed(p, CHOKE, 5);
	feed(p, UNCHOKE, 5);
	feed(p, "\x00\x00\x00\x05\x04\x00\x00\x00\x05", 9); /* have 5 */
	feed(p, "\x00\x00\x00\x03\x09\x1a\xe1", 7);	    /* port */
	feed(p, "\x00\x00\x00\x05\x0d\x00\x00\x00\x01", 9); /* suggest */
	feed(p, HAVE_ALL, 5);
	feed(p, "\x00\x00\x00\x01\x0f", 5);		    /* have none */
	feed(p, "\x00\x00\x00\x05\x11\x00\x00\x00\x01", 9); /* allowed fast */
	feed_msg3(p, 0x10, 0, 0, 16384);		    /* reject */
	feed(p, m, hash_msg(m, 23, r1_root_c, 1, 0, 4, 0)); /* hash reject */
	expect_nothing(p);
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 0);

	feed(p, "\x00\x00\x00\x05\x04\x00\x00\x00\x06", 9); /* have past n_pieces */
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 1);
	/* an unsolicited piece is skipped whole, then parsing goes on */
	feed(p, "\x00\x00\x00\x0d\x07\x00\x00\x00\x00\x00\x00\x00\x00\xde\xad\xbe\xef", 17);
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 2);
	feed(p, "\x00\x00\x00\x03\x63\x01\x02", 7); /* unknown id 99 */
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 3);
	feed(p, INTERESTED, 5);
	cr_assert(!peerwire_choking(&p->c));
	cr_assert(!peerwire_is_closed(&p->c));
	peer_free(p);
}

Test(peerwire, fast_messages_without_fast_are_glitches)
{
	struct peer *p = peer_open(&r1, 0, 0, 0);

	feed(p, HAVE_ALL, 5);
	feed(p, "\x00\x00\x00\x05\x11\x00\x00\x00\x01", 9);
	expect_nothing(p);
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 2);
	peer_free(p);
}

Test(peerwire, too_many_glitches_close)
{
	struct peer *p;

	SETUP_WITH(cfg.max_glitches = 2);
	p = peer_open(&r1, 0, 1, 0);
	feed(p, "\x00\x00\x00\x01\x63", 5);
	feed(p, "\x00\x00\x00\x01\x63", 5);
	expect_nothing(p);
	feed(p, "\x00\x00\x00\x01\x63", 5);
	expect_close(p, PROTO_CLOSE_MALFORMED);
	peer_free(p);
}

/* ---- upload slots, choke and interest ---- */

Test(peerwire, interest_flow)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);
	static struct tr t;

	feed(p, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(p, &t);
	feed(p, INTERESTED, 5); /* again: nothing new */
	expect_nothing(p);
	feed(p, NOT_INTERESTED, 5);
	t.n = 0;
	tr_send(&t, CHOKE, 5);
	expect(p, &t);
	cr_assert_eq(eng.slots_used, 0);
	peer_free(p);
}

Test(peerwire, slots_fifo_and_handover)
{
	struct peer *a, *b, *c;
	struct peerwire_conn *got[4];
	static struct tr t;

	SETUP_WITH(cfg.upload_slots = 1);
	a = peer_open(&r1, 0, 1, 0);
	b = peer_open(&r1, 0, 1, 0);
	c = peer_open(&r1, 0, 1, 0);
	feed(a, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(a, &t);
	feed(b, INTERESTED, 5);
	expect_nothing(b);
	feed(c, INTERESTED, 5);
	expect_nothing(c);
	cr_assert_eq(eng.n_waiting, 2);
	/* b waits, choked: its requests are rejected (fast) */
	feed_msg3(b, 6, 0, 0, 16384);
	expect_reject(b, 0, 0, 16384);

	/* a loses interest: choked, and b (longest waiting) gets the slot */
	feed(a, NOT_INTERESTED, 5);
	t.n = 0;
	tr_send(&t, CHOKE, 5);
	expect(a, &t);
	cr_assert_eq(peerwire_next_deadline(&b->c), 0);
	cr_assert_eq(peerwire_engine_next_deadline(&eng), 0);
	cr_assert_eq(peerwire_engine_tick(&eng, 2000, got, 4), 1);
	cr_assert_eq(got[0], &b->c);
	cr_assert_eq(peerwire_engine_tick(&eng, 2000, got, 4), 0);
	tick(b, 2000);
	t.n = 0;
	tr_send(&t, UNCHOKE, 5);
	expect(b, &t);
	cr_assert_neq(peerwire_next_deadline(&b->c), 0);

	/* b goes away: c gets the slot */
	peer_free(b);
	cr_assert_eq(peerwire_engine_tick(&eng, 2000, got, 4), 1);
	cr_assert_eq(got[0], &c->c);
	tick(c, 2000);
	expect(c, &t);
	cr_assert_eq(eng.slots_used, 1);
	cr_assert_eq(eng.n_waiting, 0);
	peer_free(a);
	peer_free(c);
}

Test(peerwire, slots_rotate)
{
	struct peer *a, *b, *c;
	struct peerwire_conn *got[4];
	static struct tr tu, tc;

	SETUP_WITH(cfg.upload_slots = 1);
	tr_send(&tu, UNCHOKE, 5);
	tr_send(&tc, CHOKE, 5);
	a = peer_open(&r1, 0, 1, 0);
	b = peer_open(&r1, 0, 1, 0);
	c = peer_open(&r1, 0, 1, 0);
	feed(a, INTERESTED, 5);
	expect(a, &tu);
	b->now = 3000;
	feed(b, INTERESTED, 5);
	c->now = 4000;
	feed(c, INTERESTED, 5);
	/* armed when b started waiting: 3000 + 10000 */
	cr_assert_eq(peerwire_engine_next_deadline(&eng), 13000);
	cr_assert_eq(peerwire_engine_tick(&eng, 12999, got, 4), 0);
	cr_assert_eq(peerwire_engine_tick(&eng, 13000, got, 4), 2);
	cr_assert_eq(got[0], &a->c); /* longest unchoked yields */
	cr_assert_eq(got[1], &b->c); /* to the longest waiting */
	tick(a, 13000);
	expect(a, &tc);
	tick(b, 13000);
	expect(b, &tu);
	cr_assert_eq(peerwire_engine_next_deadline(&eng), 23000);
	/* next period: b yields to c (who waited longer than a) */
	cr_assert_eq(peerwire_engine_tick(&eng, 23000, got, 4), 2);
	cr_assert_eq(got[0], &b->c);
	cr_assert_eq(got[1], &c->c);
	tick(b, 23000);
	expect(b, &tc);
	/* the worker may also just pass no bytes: the choke change goes out */
	c->now = 23000;
	feed(c, NULL, 0);
	expect(c, &tu);
	peer_free(a);
	peer_free(b);
	peer_free(c);
	cr_assert_eq(eng.slots_used, 0);
	cr_assert_eq(peerwire_engine_next_deadline(&eng), 23000 + 10000);
	cr_assert_eq(peerwire_engine_tick(&eng, 33000, got, 4), 0);
	cr_assert_eq(peerwire_engine_next_deadline(&eng), PEERWIRE_NO_DEADLINE);
}

/* ---- timers ---- */

Test(peerwire, keepalive_and_idle_timeout)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);
	static struct tr t;

	/* opened (and greeted) at 1000, never interested: one keep-alive
	 * PEERWIRE_NUDGE_MS after the greeting, then one after every 90 s of
	 * our silence; idle until 121000 */
	cr_assert_eq(peerwire_next_deadline(&p->c), 1000 + PEERWIRE_NUDGE_MS);
	tick(p, 1000 + PEERWIRE_NUDGE_MS - 1);
	expect_nothing(p);
	tick(p, 1000 + PEERWIRE_NUDGE_MS);
	tr_send(&t, KEEPALIVE, 4);
	expect(p, &t);
	cr_assert_eq(peerwire_next_deadline(&p->c), 1000 + PEERWIRE_NUDGE_MS + 90000);
	tick(p, 1000 + PEERWIRE_NUDGE_MS + 89999);
	expect_nothing(p);
	tick(p, 1000 + PEERWIRE_NUDGE_MS + 90000);
	expect(p, &t);
	cr_assert_eq(p->c.stats.peerwire_keepalives_sent_total, 2);
	cr_assert_eq(peerwire_next_deadline(&p->c), 121000);
	p->now = 100000;
	feed(p, KEEPALIVE, 4); /* input resets the idle timer */
	cr_assert_eq(peerwire_next_deadline(&p->c), 1000 + PEERWIRE_NUDGE_MS + 180000);
	tick(p, 1000 + PEERWIRE_NUDGE_MS + 180000);
	expect(p, &t);
	tick(p, 219999);
	expect_nothing(p);
	tick(p, 220000);
	expect_close(p, PROTO_CLOSE_TIMEOUT);
	peer_free(p);
}

/* A peer interested before PEERWIRE_NUDGE_MS gets no early keep-alive. */
Test(peerwire, no_nudge_for_an_interested_peer)
{
	struct peer *p = peer_open(&r1, 0, 1, 0);

	p->now += 10;
	feed(p, INTERESTED, 5);
	clear(p);
	cr_assert_gt(peerwire_next_deadline(&p->c), 1000 + PEERWIRE_NUDGE_MS);
	tick(p, 1000 + PEERWIRE_NUDGE_MS);
	expect_nothing(p);
	cr_assert_eq(p->c.stats.peerwire_keepalives_sent_total, 0);
	peer_free(p);
}

/* ---- flow: partial input, small out arrays ---- */

static size_t build_session(uint8_t *s)
{
	size_t n = 0;

	n += hs(s + n, r1.ih_v1, 1, 1);
	n += ext_msg(s + n, 0, "d1:md11:ut_metadatai3eee");
	memcpy(s + n, INTERESTED, 5);
	n += 5;
	n += msg3(s + n, 6, 0, 0, 16384);
	n += msg3(s + n, 6, 1, 0, 16384);
	n += msg3(s + n, 6, 1, 16384, 16384);
	memcpy(s + n, KEEPALIVE, 4);
	n += 4;
	n += msg3(s + n, 8, 0, 0, 16384);
	n += hash_msg(s + n, 21, r1_root_c, 1, 2, 2, 1);
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei1ee");
	memcpy(s + n, "\x00\x00\x00\x05\x04\x00\x00\x00\x03", 9);
	n += 9;
	memcpy(s + n, "\x00\x00\x00\x03\x63\x01\x02", 7);
	n += 7;
	n += msg3(s + n, 6, 5, 0, 4464);
	memcpy(s + n, NOT_INTERESTED, 5);
	n += 5;
	memcpy(s + n, INTERESTED, 5);
	n += 5;
	n += msg3(s + n, 6, 2, 0, 16);
	return n;
}

Test(peerwire, split_input_same_actions)
{
	static uint8_t s[1024];
	static struct tr whole;
	size_t n = build_session(s);
	struct peer *p = peer_new(1000);

	feed(p, s, n);
	cr_assert(!peerwire_is_closed(&p->c));
	cr_assert_eq(p->c.stats.peerwire_glitches_total, 1);
	cr_assert_eq(p->c.stats.peerwire_blocks_total, 5);
	whole = p->got;
	peer_free(p);

	for (size_t k = 0; k <= n; k++) {
		p = peer_new(1000);
		feed(p, s, k);
		feed(p, s + k, n - k);
		cr_assert_eq(p->got.n, whole.n, "split at %zu", k);
		cr_assert_eq(memcmp(p->got.b, whole.b, whole.n), 0, "split at %zu", k);
		peer_free(p);
	}
	p = peer_new(1000);
	for (size_t k = 0; k < n; k++)
		feed(p, s + k, 1);
	cr_assert_eq(p->got.n, whole.n);
	cr_assert_eq(memcmp(p->got.b, whole.b, whole.n), 0, "byte by byte");
	peer_free(p);
}

Test(peerwire, small_out_array_same_actions)
{
	static uint8_t s[8192];
	static struct tr whole;
	size_t n = build_session(s);
	struct peer *p;

	/* plus many requests and two metadata pieces (the send buffer fills) */
	for (uint32_t i = 0; i < 40; i++)
		n += msg3(s + n, 6, 1 + (i % 5), 0, 100 + i);
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei0ee");
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei0ee");
	n += ext_msg(s + n, 1, "d8:msg_typei0e5:piecei1ee");

	p = peer_new(1000);
	feed(p, s, n);
	whole = p->got;
	cr_assert(!peerwire_is_closed(&p->c));
	cr_assert_gt(p->calls, 1, "the send buffer never filled");
	peer_free(p);

	p = peer_new(1000);
	p->cap = PEERWIRE_MIN_OUT;
	feed(p, s, n);
	cr_assert_gt(p->calls, 10);
	cr_assert_eq(p->got.n, whole.n);
	cr_assert_eq(memcmp(p->got.b, whole.b, whole.n), 0);
	peer_free(p);
}

Test(peerwire, out_array_too_small_does_nothing)
{
	struct peer *p = peer_new(1000);
	uint8_t b[68];

	hs(b, r1.ih_v1, 1, 1);
	p->out.n = 0;
	p->out.cap = PEERWIRE_MIN_OUT - 1;
	cr_assert_eq(peerwire_on_bytes(&p->c, b, 68, 1000, &p->out), 0);
	cr_assert_eq(p->out.n, 0);
	peer_free(p);
}

/* ---- configuration ---- */

Test(peerwire, config_bounds)
{
	struct peerwire_config cfg = test_cfg();
	struct proto_catalog cat = { NULL, cat_v1, cat_v2, NULL };
	struct peerwire_engine e2;
	struct seed_err err;
	size_t n;
	const struct peerwire_option *o = peerwire_options(&n);

	cr_assert_gt(n, 10);
	cr_assert_str_eq(o[0].name, "upload_slots");
	build_catalog();
	cfg.max_requests = 0;
	seed_err_clear(&err);
	cr_assert_eq(peerwire_engine_init(&e2, &cfg, &cat, NULL, &err), -EINVAL);
	cr_assert(strstr(err.msg, "max_requests"), "%s", err.msg);
	peerwire_engine_free(&e2);
	cfg = test_cfg();
	cfg.ext_buf = cfg.max_extended + 1;
	seed_err_clear(&err);
	cr_assert_eq(peerwire_engine_init(&e2, &cfg, &cat, NULL, &err), -EINVAL);
	peerwire_engine_free(&e2);
}
