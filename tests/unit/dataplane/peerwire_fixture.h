/*
 * The fixture of the peer-wire engine's unit tests (test_peerwire.c,
 * test_peerwire_ext.c, test_peerwire_hash.c): each of them includes this
 * file first, so each test program gets its own copy of the catalog, the
 * engine and the transcripts. Not a test program itself.
 *
 * The engine is driven with byte strings and virtual time, no network.
 * A fake catalog serves three releases:
 *   r1  hybrid, piece_length 32 KiB, files a (40000 B, pieces 0-1, piece
 *       layer), b (5 B, piece 2), e (empty), c (70000 B, pieces 3-5, piece
 *       layer): pads after a and b, a short last piece (4464 B); info dict
 *       of 20000 bytes (two ut_metadata pieces);
 *   r2  v1 only, one file of 100000 B, piece_length 16 KiB;
 *   r3  v2, one file of 5000 pieces of 16 KiB (a big bitfield, deep proofs).
 * Expected bytes are written out here from BEP 3/6/9/10/52, not produced by
 * the engine; SHA-256 expectations come from OpenSSL over a naively built
 * tree. Every action an engine call appends goes into a transcript (SEND
 * bytes one by one, so how sends are split does not matter), which tests
 * compare with a hand-built one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "byteio.h"
#include "mse_initiator.h"
#include "peerwire.h"
#include "peerwire_releases.h"

/* Helpers some of the test programs do not use. */
#define MAYBE_UNUSED __attribute__((unused))

/* ---- the fake catalog ---- */

#define R3_PIECES 5000

static struct proto_file r1_files[4], r2_files[1], r3_files[1];
static struct proto_release r1, r2, r3;
static uint8_t r1_layer_a[PWR_HYB_LAYER_A], r1_layer_c[PWR_HYB_LAYER_C];
static uint8_t r1_root_a[32], r1_root_b[32], r1_root_c[32];
static uint8_t r3_layer[R3_PIECES * 32], r3_root[32];
static uint8_t r1_info[20000], r2_info[300], r3_info[100];
static int hide_r1;
/* The peer pointer of the last catalog lookup, and how many were made. */
static void *last_peer;
static unsigned n_lookups;

enum cat_key { BY_V1, BY_V2, BY_MSE };

/* The served release (r1 unless hidden, r2, r3) that key k names, as the
 * worker's index finds it: by v1 info-hash, by v2 info-hash truncated to 20
 * bytes, or by MSE's SHA1("req2" ih) of either (computed with OpenSSL, as
 * the worker's index does with its own hashing). Notes the asking peer. */
static const struct proto_release *cat_find(void *peer, const uint8_t k[20], enum cat_key by)
{
	const struct proto_release *all[] = { &r1, &r2, &r3 };

	last_peer = peer;
	n_lookups++;
	for (size_t i = hide_r1 ? 1 : 0; i < 3; i++) {
		const struct proto_release *r = all[i];
		int v1 = r->has_v1 && !memcmp(by == BY_MSE ? r->mse_req2_v1 : r->ih_v1, k, 20);
		int v2 = r->has_v2 && !memcmp(by == BY_MSE ? r->mse_req2_v2 : r->ih_v2, k, 20);

		if ((by != BY_V2 && v1) || (by != BY_V1 && v2))
			return r;
	}
	return NULL;
}

static const struct proto_release *cat_v1(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)ctx;
	return cat_find(peer, ih, BY_V1);
}

static const struct proto_release *cat_v2(void *ctx, void *peer, const uint8_t ih[20])
{
	(void)ctx;
	return cat_find(peer, ih, BY_V2);
}

static const struct proto_release *cat_mse(void *ctx, void *peer, const uint8_t h[20])
{
	(void)ctx;
	return cat_find(peer, h, BY_MSE);
}

static void set_req2(struct proto_release *r)
{
	mi_sha1("req2", r->ih_v1, 20, NULL, 0, r->mse_req2_v1);
	mi_sha1("req2", r->ih_v2, 20, NULL, 0, r->mse_req2_v2);
}

static void sha256_pair(const uint8_t *l, const uint8_t *r, uint8_t out[32])
{
	uint8_t b[64];

	memcpy(b, l, 32);
	memcpy(b + 32, r, 32);
	SHA256(b, 64, out);
}

/* Root of a piece layer padded to a power of two with pad (naive). */
static void naive_root(const uint8_t *layer, size_t n, const uint8_t pad[32], uint8_t out[32])
{
	size_t w = 1;
	uint8_t *t;

	while (w < n)
		w <<= 1;
	t = malloc(w * 32);
	for (size_t i = 0; i < w; i++)
		memcpy(t + i * 32, i < n ? layer + i * 32 : pad, 32);
	for (; w > 1; w /= 2)
		for (size_t i = 0; i < w / 2; i++)
			sha256_pair(t + 64 * i, t + 64 * i + 32, t + 32 * i);
	memcpy(out, t, 32);
	free(t);
}

/* z[k]: root of 2^k zero leaves */
static uint8_t zero_h[20][32];

static void build_catalog(void)
{
	memset(zero_h[0], 0, 32);
	for (int k = 1; k < 20; k++)
		sha256_pair(zero_h[k - 1], zero_h[k - 1], zero_h[k]);

	pwr_hybrid_layers(r1_layer_a, r1_layer_c);
	naive_root(r1_layer_a, 2, zero_h[1], r1_root_a);
	naive_root(r1_layer_c, 3, zero_h[1], r1_root_c);
	memset(r1_root_b, 0xbb, 32);
	for (size_t i = 0; i < sizeof(r1_info); i++)
		r1_info[i] = (uint8_t)(i * 31 + 5);

	pwr_hybrid(&r1, r1_files, 7, "t.r1.1",
		   (const uint8_t *const[]){ r1_root_a, r1_root_b, r1_root_c }, r1_layer_a,
		   r1_layer_c, r1_info, sizeof(r1_info), 100);
	for (int i = 0; i < 32; i++)
		r1.ih_v2[i] = (uint8_t)(0x20 + i);

	r2_files[0] = (struct proto_file){ "r2.bin", 100000, 0, 200, NULL, NULL };
	pwr_single(&r2, r2_files, 9, "t.r2.1", 1, 16384, r2_info, sizeof(r2_info));
	memset(r2.ih_v1, 0x33, 20);

	for (size_t i = 0; i < sizeof(r3_layer); i++)
		r3_layer[i] = (uint8_t)(i * 13 + (i >> 8));
	naive_root(r3_layer, R3_PIECES, zero_h[0], r3_root);
	r3_files[0] = (struct proto_file){ "r3.bin", (uint64_t)R3_PIECES * 16384, 0, 300, r3_root,
					   r3_layer };
	pwr_single(&r3, r3_files, 11, "t.r3.1", 0, 16384, r3_info, sizeof(r3_info));
	for (int i = 0; i < 32; i++)
		r3.ih_v2[i] = (uint8_t)(0x90 + i);
	set_req2(&r1);
	set_req2(&r2);
	set_req2(&r3);
	hide_r1 = 0;
}

/* ---- engine, peers, transcripts ---- */

static struct peerwire_engine eng;
static int eng_up;

static const uint8_t OUR_ID[20] = "-BS0100-testtesttest";
static const uint8_t PEER_ID[20] = "-XX0001-abcdefghijkl";

static void setup_cfg(const struct peerwire_config *cfg)
{
	struct proto_catalog cat = { NULL, cat_v1, cat_v2, NULL, cat_mse };
	struct peerwire_config c;
	struct seed_err err;

	if (eng_up) {
		cr_assert_eq(eng.n_conns, 0);
		peerwire_engine_free(&eng);
		eng_up = 0;
	}
	build_catalog();
	if (cfg) {
		c = *cfg;
	} else {
		peerwire_config_default(&c);
		memcpy(c.peer_id, OUR_ID, 20);
	}
	seed_err_clear(&err);
	cr_assert_eq(peerwire_engine_init(&eng, &c, &cat, NULL, &err), 0, "%s", err.msg);
	eng_up = 1;
}

static void setup(void)
{
	setup_cfg(NULL);
}

static void teardown(void)
{
	if (!eng_up)
		return;
	cr_assert_eq(eng.n_conns, 0, "a test leaked a connection");
	peerwire_engine_free(&eng);
	eng_up = 0;
}

MAYBE_UNUSED static struct peerwire_config test_cfg(void)
{
	struct peerwire_config c;

	peerwire_config_default(&c);
	memcpy(c.peer_id, OUR_ID, 20);
	return c;
}

/* Restarts the engine with test_cfg() changed by the statements given,
 * which name the config cfg: SETUP_WITH(cfg.max_requests = 2). */
#define SETUP_WITH(...)                                  \
	do {                                             \
		struct peerwire_config cfg = test_cfg(); \
		__VA_ARGS__;                             \
		setup_cfg(&cfg);                         \
	} while (0)

#define TR_MAX (1u << 18)

struct tr {
	uint8_t b[TR_MAX];
	size_t n;
};

struct peer {
	struct peerwire_conn c;
	struct proto_action a[256];
	struct proto_out out;
	size_t cap;
	uint64_t now;
	struct tr got;
	struct proto_action last[256]; /* the last call's actions */
	size_t n_last;
	size_t calls;
};

static void tr_put(struct tr *t, const void *p, size_t n)
{
	cr_assert_leq(t->n + n, TR_MAX);
	memcpy(t->b + t->n, p, n);
	t->n += n;
}

static void tr_send(struct tr *t, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		uint8_t x[2] = { 'S', b[i] };

		tr_put(t, x, 2);
	}
}

static void tr_data(struct tr *t, uint32_t rel, uint32_t file, uint64_t off, uint32_t len,
		    uint32_t piece, uint32_t begin)
{
	uint8_t x[1 + 4 + 4 + 8 + 4 + 4 + 4];

	x[0] = 'D';
	memcpy(x + 1, &rel, 4);
	memcpy(x + 5, &file, 4);
	memcpy(x + 9, &off, 8);
	memcpy(x + 17, &len, 4);
	memcpy(x + 21, &piece, 4);
	memcpy(x + 25, &begin, 4);
	tr_put(t, x, sizeof(x));
}

static void tr_zero(struct tr *t, uint32_t len)
{
	uint8_t x[5] = { 'Z' };

	memcpy(x + 1, &len, 4);
	tr_put(t, x, 5);
}

static void tr_close(struct tr *t, enum proto_close_reason why)
{
	uint8_t x[2] = { 'C', (uint8_t)why };

	tr_put(t, x, 2);
}

static void record(struct peer *p)
{
	p->n_last = p->out.n;
	memcpy(p->last, p->a, p->out.n * sizeof(p->a[0]));
	for (size_t i = 0; i < p->out.n; i++) {
		const struct proto_action *a = &p->a[i];

		switch (a->kind) {
		case PROTO_ACT_SEND:
			cr_assert_gt(a->u.send.len, 0);
			tr_send(&p->got, a->u.send.p, a->u.send.len);
			break;
		case PROTO_ACT_SEND_DATA:
			tr_data(&p->got, a->u.data.release, a->u.data.file, a->u.data.offset,
				a->u.data.len, a->u.data.piece, a->u.data.begin);
			break;
		case PROTO_ACT_SEND_ZERO: tr_zero(&p->got, a->u.zero.len); break;
		case PROTO_ACT_CLOSE:
			cr_assert_eq(i, p->out.n - 1, "CLOSE is not the last action");
			tr_close(&p->got, a->u.close.reason);
			break;
		default: cr_assert_fail("bad action kind %d", a->kind);
		}
	}
}

static struct peer *peer_new(uint64_t now)
{
	struct peer *p = calloc(1, sizeof(*p));

	cr_assert_not_null(p);
	p->now = now;
	p->cap = 256;
	p->out.a = p->a;
	cr_assert_eq(peerwire_conn_init(&p->c, &eng, now), 0);
	return p;
}

static void peer_free(struct peer *p)
{
	peerwire_conn_free(&p->c);
	free(p);
}

/* Feeds all of buf, calling again as the engine asks (it must make
 * progress whenever it returns short with an empty out). */
static void feed(struct peer *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	for (;;) {
		size_t n;

		p->out.n = 0;
		p->out.cap = p->cap;
		n = peerwire_on_bytes(&p->c, b, len, p->now, &p->out);
		p->calls++;
		record(p);
		cr_assert_leq(n, len);
		b += n;
		len -= n;
		if (!len)
			break;
		cr_assert_gt(p->out.n, 0, "on_bytes returned short without progress");
	}
}

MAYBE_UNUSED static void tick(struct peer *p, uint64_t now)
{
	p->now = now;
	p->out.n = 0;
	p->out.cap = p->cap;
	peerwire_on_tick(&p->c, now, &p->out);
	record(p);
}

static void clear(struct peer *p)
{
	p->got.n = 0;
}

static void expect(struct peer *p, const struct tr *want)
{
	size_t i = 0;

	while (i < p->got.n && i < want->n && p->got.b[i] == want->b[i])
		i++;
	cr_assert(i == p->got.n && i == want->n,
		  "transcript differs at %zu (got %zu bytes, want %zu): got '%c' want '%c'", i,
		  p->got.n, want->n, i < p->got.n ? p->got.b[i] : '-',
		  i < want->n ? want->b[i] : '-');
	clear(p);
}

MAYBE_UNUSED static void expect_nothing(struct peer *p)
{
	cr_assert_eq(p->got.n, 0, "unexpected actions (%zu transcript bytes)", p->got.n);
}

MAYBE_UNUSED static void expect_close(struct peer *p, enum proto_close_reason why)
{
	static struct tr t;

	t.n = 0;
	tr_close(&t, why);
	expect(p, &t);
	cr_assert(peerwire_is_closed(&p->c));
}

/* ---- hand-written messages ---- */

/* A peer's handshake: reserved[7] 0x04 = fast, reserved[5] 0x10 = BEP 10. */
static size_t hs(uint8_t out[68], const uint8_t ih[20], int fast, int ext)
{
	memcpy(out,
	       "\x13"
	       "BitTorrent protocol",
	       20);
	memset(out + 20, 0, 8);
	if (ext)
		out[25] = 0x10;
	if (fast)
		out[27] = 0x04;
	memcpy(out + 28, ih, 20);
	memcpy(out + 48, PEER_ID, 20);
	return 68;
}

/* Our expected handshake answer. */
MAYBE_UNUSED static void our_hs(struct tr *t, const uint8_t ih[20], int v2)
{
	uint8_t b[68];

	memcpy(b,
	       "\x13"
	       "BitTorrent protocol",
	       20);
	memcpy(b + 20, v2 ? "\0\0\0\0\0\x10\0\x14" : "\0\0\0\0\0\x10\0\x04", 8);
	memcpy(b + 28, ih, 20);
	memcpy(b + 48, OUR_ID, 20);
	tr_send(t, b, 68);
}

static const char EXT_HS_R1[] =
	"d1:md11:ut_metadatai1ee13:metadata_sizei20000e4:reqqi1000e1:v14:BitStream seede";

/* An extended message we expect: length, id 20, sub, then a[0..an) and
 * b[0..bn) (a bencoded dict and what follows it). */
static void tr_ext(struct tr *t, uint8_t sub, const void *a, size_t an, const void *b, size_t bn)
{
	uint8_t h[6];

	byteio_put_be32(h, (uint32_t)(2 + an + bn));
	h[4] = 20;
	h[5] = sub;
	tr_send(t, h, 6);
	tr_send(t, a, an);
	tr_send(t, b, bn);
}

MAYBE_UNUSED static void our_ext_hs(struct tr *t, const char *dict)
{
	tr_ext(t, 0, dict, strlen(dict), NULL, 0);
}

static const uint8_t HAVE_ALL[5] = { 0, 0, 0, 1, 0x0e };
static const uint8_t INTERESTED[5] = { 0, 0, 0, 1, 2 };
static const uint8_t NOT_INTERESTED[5] = { 0, 0, 0, 1, 3 };
static const uint8_t CHOKE[5] = { 0, 0, 0, 1, 0 };
static const uint8_t UNCHOKE[5] = { 0, 0, 0, 1, 1 };
static const uint8_t KEEPALIVE[4] = { 0, 0, 0, 0 };

/* id 6 request / 8 cancel / 0x10 reject: len 13, index, begin, length */
MAYBE_UNUSED static size_t msg3(uint8_t out[17], uint8_t id, uint32_t index, uint32_t begin,
				uint32_t len)
{
	byteio_put_be32(out, 13);
	out[4] = id;
	byteio_put_be32(out + 5, index);
	byteio_put_be32(out + 9, begin);
	byteio_put_be32(out + 13, len);
	return 17;
}

/* Feeds p a REQUEST (id 6), CANCEL (8) or REJECT (0x10) message. */
MAYBE_UNUSED static void feed_msg3(struct peer *p, uint8_t id, uint32_t index, uint32_t begin,
				   uint32_t len)
{
	uint8_t m[17];

	feed(p, m, msg3(m, id, index, begin, len));
}

/* The next actions are exactly a REJECT of (index, begin, len). */
MAYBE_UNUSED static void expect_reject(struct peer *p, uint32_t index, uint32_t begin, uint32_t len)
{
	static struct tr t;
	uint8_t rj[17];

	t.n = 0;
	tr_send(&t, rj, msg3(rj, 0x10, index, begin, len));
	expect(p, &t);
}

/* The worker could not read block (index, begin): what
 * peerwire_data_failed() returns, its actions recorded. */
MAYBE_UNUSED static int data_failed(struct peer *p, uint32_t index, uint32_t begin)
{
	int rc;

	p->out.n = 0;
	rc = peerwire_data_failed(&p->c, index, begin, &p->out);
	record(p);
	return rc;
}

/* The PIECE header we expect: len 9 + length, id 7, index, begin. */
MAYBE_UNUSED static void piece_hdr(struct tr *t, uint32_t index, uint32_t begin, uint32_t len)
{
	uint8_t b[13];

	byteio_put_be32(b, 9 + len);
	b[4] = 7;
	byteio_put_be32(b + 5, index);
	byteio_put_be32(b + 9, begin);
	tr_send(t, b, 13);
}

MAYBE_UNUSED static size_t ext_msg(uint8_t *out, uint8_t sub, const char *payload)
{
	size_t n = strlen(payload);

	byteio_put_be32(out, (uint32_t)n + 2);
	out[4] = 20;
	out[5] = sub;
	memcpy(out + 6, payload, n);
	return n + 6;
}

/* Feeds p an extended message (sub, payload). */
MAYBE_UNUSED static void feed_ext(struct peer *p, uint8_t sub, const char *payload)
{
	uint8_t m[256];

	cr_assert_lt(strlen(payload) + 6, sizeof(m));
	feed(p, m, ext_msg(m, sub, payload));
}

/* BEP 52 hash request / reject body */
MAYBE_UNUSED static size_t hash_msg(uint8_t out[53], uint8_t id, const uint8_t root[32],
				    uint32_t base, uint32_t index, uint32_t len, uint32_t proof)
{
	byteio_put_be32(out, 49);
	out[4] = id;
	memcpy(out + 5, root, 32);
	byteio_put_be32(out + 37, base);
	byteio_put_be32(out + 41, index);
	byteio_put_be32(out + 45, len);
	byteio_put_be32(out + 49, proof);
	return 53;
}

/* A peer past the handshake on r1 (fast and ext as given), transcript cleared. */
static struct peer *peer_open(const struct proto_release *r, int v2, int fast, int ext)
{
	struct peer *p = peer_new(1000);
	uint8_t b[68];

	hs(b, v2 ? r->ih_v2 : r->ih_v1, fast, ext);
	feed(p, b, 68);
	cr_assert(!peerwire_is_closed(&p->c));
	clear(p);
	return p;
}

/* An open, unchoked r1 peer. */
MAYBE_UNUSED static struct peer *peer_unchoked(int fast)
{
	struct peer *p = peer_open(&r1, 0, fast, 0);
	struct tr t = { .n = 0 };

	feed(p, INTERESTED, 5);
	tr_send(&t, UNCHOKE, 5);
	expect(p, &t);
	return p;
}

/* An open r1 peer (fast, extensions) that announced ut_metadata as id. */
MAYBE_UNUSED static struct peer *peer_with_ut_metadata(uint8_t id)
{
	struct peer *p = peer_open(&r1, 0, 1, 1);
	char d[64];

	snprintf(d, sizeof(d), "d1:md11:ut_metadatai%ue6:ut_pexi2ee1:v3:xyze", id);
	feed_ext(p, 0, d);
	expect_nothing(p);
	return p;
}
