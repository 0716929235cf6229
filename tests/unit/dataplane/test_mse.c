/*
 * Unit tests for dataplane/proto/mse.c alone: RC4 and the DH group against
 * OpenSSL, and the responder's bounds. The whole exchange through the
 * peer-wire engine is in test_peerwire.c (mse_*); real clients in
 * tests/integration/test_dataplane_mse.sh.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "hex.h"
#include "mse.h"
#include "mse_initiator.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

Test(mse, rc4_matches_openssl_after_the_1024_byte_drop)
{
	static const uint8_t key[20] = "0123456789abcdefghij";
	uint8_t a[3000], b[3000];
	struct mse_rc4 r;
	RC4_KEY k;

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	mse_rc4_init(&r, key, 20);
	mi_rc4_key(&k, key);
	/* uneven pieces: the state carries over between calls */
	mse_rc4_crypt(&r, a, 1);
	mse_rc4_crypt(&r, a + 1, 1000);
	mse_rc4_crypt(&r, a + 1001, sizeof(a) - 1001);
	RC4(&k, sizeof(b), b, b);
	cr_assert(!memcmp(a, b, sizeof(a)));
}

/* Classic RC4 test vector (key "Key", plaintext "Plaintext"), checked
 * through the raw keystream: init drops 1024 bytes, so the vector is
 * compared against OpenSSL's stream at the same offset. */
Test(mse, rc4_is_rc4)
{
	uint8_t p[9] = { 'P', 'l', 'a', 'i', 'n', 't', 'e', 'x', 't' };
	static const uint8_t want[9] = { 0xbb, 0xf3, 0x16, 0xe8, 0xd9, 0x40, 0xaf, 0x0a, 0xd3 };
	RC4_KEY k;

	RC4_set_key(&k, 3, (const uint8_t *)"Key");
	RC4(&k, 9, p, p);
	cr_assert(!memcmp(p, want, 9), "OpenSSL's RC4 is not the reference it is taken for");
}

#pragma GCC diagnostic pop

Test(mse, dh_agrees_with_openssl)
{
	struct mse_dh *dh = NULL;
	uint8_t xb[MSE_PRIV_LEN], yb[MSE_KEY_LEN], s_ours[MSE_KEY_LEN], s_theirs[MSE_KEY_LEN];
	uint8_t buf[96 + 512];
	struct mi m;
	BIGNUM *y;

	cr_assert_eq(mse_dh_create(&dh), 0);
	memset(xb, 0x5c, sizeof(xb));
	cr_assert_eq(mse_dh_public(dh, xb, yb), 0);
	/* the initiator's public key, made with OpenSSL */
	mi_step1(&m, 9, 0, buf);
	cr_assert_eq(mse_dh_secret(dh, xb, m.ya, s_ours), 0);
	y = BN_bin2bn(yb, 96, NULL);
	mi_modexp(y, m.xa, s_theirs);
	BN_free(y);
	cr_assert(!memcmp(s_ours, s_theirs, 96), "the two sides derive different secrets");
	mse_dh_free(dh);
}

/* 2^x mod P for x = 01 02 .. 14, worked out with Python's pow() from the
 * prime as the spec prints it: a known answer no OpenSSL call made. */
Test(mse, dh_known_answer)
{
	static const char want_hex[] =
		"96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556"
		"b0918db2b4c658e02a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d4"
		"06258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693";
	struct mse_dh *dh = NULL;
	uint8_t x[MSE_PRIV_LEN], pub[MSE_KEY_LEN], want[MSE_KEY_LEN];

	for (unsigned i = 0; i < MSE_PRIV_LEN; i++)
		x[i] = (uint8_t)(i + 1);
	cr_assert_eq(hex_decode(want_hex, strlen(want_hex), want, MSE_KEY_LEN), 0);
	cr_assert_eq(mse_dh_create(&dh), 0);
	cr_assert_eq(mse_dh_public(dh, x, pub), 0);
	cr_assert(!memcmp(pub, want, MSE_KEY_LEN), "2^x mod P differs from the known answer");
	mse_dh_free(dh);
}

Test(mse, dh_refuses_degenerate_keys)
{
	struct mse_dh *dh = NULL;
	uint8_t x[MSE_PRIV_LEN], k[MSE_KEY_LEN], s[MSE_KEY_LEN];
	BIGNUM *p = mi_prime(), *v = BN_new();

	cr_assert_eq(mse_dh_create(&dh), 0);
	memset(x, 0x11, sizeof(x));
	memset(k, 0, sizeof(k));
	cr_assert_eq(mse_dh_secret(dh, x, k, s), -EINVAL); /* 0 */
	k[95] = 1;
	cr_assert_eq(mse_dh_secret(dh, x, k, s), -EINVAL); /* 1 */
	k[95] = 2;
	cr_assert_eq(mse_dh_secret(dh, x, k, s), 0); /* 2 is fine */
	BN_sub_word(BN_copy(v, p), 1);
	BN_bn2binpad(v, k, 96);
	cr_assert_eq(mse_dh_secret(dh, x, k, s), -EINVAL); /* P - 1 */
	BN_bn2binpad(p, k, 96);
	cr_assert_eq(mse_dh_secret(dh, x, k, s), -EINVAL); /* P */
	memset(k, 0xff, sizeof(k));
	cr_assert_eq(mse_dh_secret(dh, x, k, s), -EINVAL); /* over P */
	BN_free(p);
	BN_free(v);
	mse_dh_free(dh);
}

/* ---- the responder alone ---- */

static const uint8_t SKEY[20] = "skey-skey-skey-skey-";

static void rnd(void *ctx, uint8_t *p, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + 7);
}

static int find_skey(void *ctx, const uint8_t req2[20], uint8_t skey[20])
{
	uint8_t h[20];

	(void)ctx;
	mi_sha1("req2", SKEY, 20, NULL, 0, h);
	if (memcmp(h, req2, 20))
		return -1;
	memcpy(skey, SKEY, 20);
	return 0;
}

struct run {
	struct mse_dh *dh;
	struct hash_ctx *hash;
	struct mse_env env;
	struct mse_resp m;
	uint8_t out[MSE_OUT_MAX];
	struct mi peer;
	uint8_t yb[96];
};

static void run_open(struct run *r)
{
	uint8_t b[96 + 512];
	size_t n, used, olen;

	memset(r, 0, sizeof(*r));
	cr_assert_eq(mse_dh_create(&r->dh), 0);
	cr_assert_eq(hash_ctx_create(HASH_IMPL_OPENSSL, &r->hash, NULL), 0);
	r->env = (struct mse_env){ r->dh, r->hash, rnd, NULL, find_skey, NULL };
	n = mi_step1(&r->peer, 4, 33, b);
	mse_resp_init(&r->m, b, 20);
	cr_assert_eq(mse_resp_feed(&r->m, &r->env, b + 20, n - 20, &used, r->out, &olen), MSE_MORE);
	/* it stops right after step 2: PadA is left for the next call */
	cr_assert_eq(used, 76);
	cr_assert_geq(olen, 96);
	memcpy(r->yb, r->out, 96);
	cr_assert_eq(mse_resp_feed(&r->m, &r->env, b + 96, n - 96, &used, r->out, &olen), MSE_MORE);
	cr_assert_eq(used, 33);
	cr_assert_eq(olen, 0);
}

static void run_close(struct run *r)
{
	mse_dh_free(r->dh);
	hash_ctx_destroy(r->hash);
}

Test(mse, ia_is_decrypted_and_the_rest_left_alone)
{
	static struct run r;
	uint8_t b[2048], ia[300];
	size_t n, used, olen;

	run_open(&r);
	for (size_t i = 0; i < sizeof(ia); i++)
		ia[i] = (uint8_t)(i ^ 0xa5);
	n = mi_step3(&r.peer, r.yb, SKEY, 3, 5, ia, sizeof(ia), b);
	memcpy(b + n, "PLAIN", 5);
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b, n + 5, &used, r.out, &olen), MSE_MORE);
	cr_assert_eq(olen, 14); /* step 4 first, IA not yet taken */
	size_t at = used;
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b + at, n + 5 - at, &used, r.out, &olen),
		     MSE_DONE);
	cr_assert_eq(at + used, n, "the plaintext after IA was consumed");
	cr_assert_eq(r.m.ia_len, sizeof(ia));
	cr_assert(!memcmp(r.m.ia, ia, sizeof(ia)));
	cr_assert(!memcmp(r.m.skey, SKEY, 20));
	run_close(&r);
}

Test(mse, padc_over_512_is_refused)
{
	static struct run r;
	uint8_t b[2048];
	size_t n, used, olen;

	run_open(&r);
	n = mi_step3(&r.peer, r.yb, SKEY, 3, 513, NULL, 0, b);
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b, n, &used, r.out, &olen), MSE_ERR_BOUND);
	cr_assert_eq(used, n);
	cr_assert_not_null(r.m.why);
	/* and stays failed */
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b, 3, &used, r.out, &olen), MSE_ERR_BOUND);
	cr_assert_eq(used, 3);
	run_close(&r);
}

Test(mse, ia_over_bound_is_refused)
{
	static struct run r;
	static uint8_t b[4096], ia[MSE_IA_MAX + 1];
	size_t n, used, olen;

	run_open(&r);
	n = mi_step3(&r.peer, r.yb, SKEY, 3, 0, ia, sizeof(ia), b);
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b, n, &used, r.out, &olen), MSE_ERR_BOUND);
	run_close(&r);
}

Test(mse, unknown_skey)
{
	static struct run r;
	uint8_t b[2048];
	size_t n, used, olen;

	run_open(&r);
	n = mi_step3(&r.peer, r.yb, (const uint8_t *)"some-other-torrent!!", 3, 0, NULL, 0, b);
	cr_assert_eq(mse_resp_feed(&r.m, &r.env, b, n, &used, r.out, &olen), MSE_ERR_UNKNOWN);
	run_close(&r);
}
