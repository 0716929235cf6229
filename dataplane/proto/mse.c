/*
 * mse: the MSE/PE responder (protocol in mse.h).
 *
 * Input is taken field by field into m->buf, never assuming a field is
 * contiguous in the caller's buffer. The one search, for HASH("req1" S),
 * slides over at most 532 bytes, one byte at a time: a match is checked
 * when each byte arrives, so bytes after step 3 are never consumed early.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/bn.h>

#include "byteio.h"
#include "mse.h"

#define VC_LEN	    8u
#define RC4_DISCARD 1024u
#define SYNC_WINDOW (MSE_PAD_MAX + 20u)
#define FIELD3_LEN  (VC_LEN + 4u + 2u) /* VC, crypto_provide, len(PadC) */

/* ---- RC4 ---- */

void mse_rc4_init(struct mse_rc4 *r, const uint8_t *key, size_t len)
{
	uint8_t j = 0;
	uint8_t drop[256];

	for (unsigned i = 0; i < 256; i++)
		r->s[i] = (uint8_t)i;
	for (unsigned i = 0; i < 256; i++) {
		uint8_t t = r->s[i];

		j = (uint8_t)(j + t + key[i % len]);
		r->s[i] = r->s[j];
		r->s[j] = t;
	}
	r->i = r->j = 0;
	for (unsigned k = 0; k < RC4_DISCARD / sizeof(drop); k++) {
		memset(drop, 0, sizeof(drop));
		mse_rc4_crypt(r, drop, sizeof(drop));
	}
}

void mse_rc4_crypt(struct mse_rc4 *r, uint8_t *p, size_t n)
{
	/* The state is worked on in a local copy: through r->s the compiler
	 * must assume every store to p may change it, and reloads it for
	 * each byte (that alone made this three times slower). */
	uint8_t st[256];
	uint8_t i = r->i, j = r->j;

	memcpy(st, r->s, sizeof(st));
	for (size_t k = 0; k < n; k++) {
		uint8_t ti, tj;

		i++;
		ti = st[i];
		j = (uint8_t)(j + ti);
		tj = st[j];
		st[i] = tj;
		st[j] = ti;
		p[k] ^= st[(uint8_t)(ti + tj)];
	}
	memcpy(r->s, st, sizeof(st));
	r->i = i;
	r->j = j;
}

/* ---- Diffie-Hellman over MSE's 768-bit group ---- */

/* The spec's prime (generator 2). It shares its first 88 bytes with the
 * RFC 2409 768-bit group but is not that group: the last 8 differ. */
static const uint8_t mse_prime[MSE_KEY_LEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc9, 0x0f, 0xda, 0xa2, 0x21, 0x68,
	0xc2, 0x34, 0xc4, 0xc6, 0x62, 0x8b, 0x80, 0xdc, 0x1c, 0xd1, 0x29, 0x02, 0x4e, 0x08,
	0x8a, 0x67, 0xcc, 0x74, 0x02, 0x0b, 0xbe, 0xa6, 0x3b, 0x13, 0x9b, 0x22, 0x51, 0x4a,
	0x08, 0x79, 0x8e, 0x34, 0x04, 0xdd, 0xef, 0x95, 0x19, 0xb3, 0xcd, 0x3a, 0x43, 0x1b,
	0x30, 0x2b, 0x0a, 0x6d, 0xf2, 0x5f, 0x14, 0x37, 0x4f, 0xe1, 0x35, 0x6d, 0x6d, 0x51,
	0xc2, 0x45, 0xe4, 0x85, 0xb5, 0x76, 0x62, 0x5e, 0x7e, 0xc6, 0xf4, 0x4c, 0x42, 0xe9,
	0xa6, 0x3a, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
};

struct mse_dh {
	BIGNUM *p, *p_minus_1, *g;
	BN_CTX *ctx;
};

void mse_dh_free(struct mse_dh *dh)
{
	if (!dh)
		return;
	BN_free(dh->p);
	BN_free(dh->p_minus_1);
	BN_free(dh->g);
	BN_CTX_free(dh->ctx);
	OPENSSL_free(dh);
}

int mse_dh_create(struct mse_dh **out)
{
	struct mse_dh *dh = OPENSSL_zalloc(sizeof(*dh));

	*out = NULL;
	if (!dh)
		return -ENOMEM;
	dh->p = BN_bin2bn(mse_prime, MSE_KEY_LEN, NULL);
	dh->p_minus_1 = BN_new();
	dh->g = BN_new();
	dh->ctx = BN_CTX_new();
	if (!dh->p || !dh->p_minus_1 || !dh->g || !dh->ctx || !BN_set_word(dh->g, 2) ||
	    !BN_sub(dh->p_minus_1, dh->p, BN_value_one()) || BN_num_bytes(dh->p) != MSE_KEY_LEN) {
		mse_dh_free(dh);
		return -ENOMEM;
	}
	*out = dh;
	return 0;
}

/* r = base^priv mod P into out (96 bytes, big-endian). */
static int modexp(struct mse_dh *dh, const BIGNUM *base, const uint8_t priv[MSE_PRIV_LEN],
		  uint8_t out[MSE_KEY_LEN])
{
	BIGNUM *x, *r;
	int ok = 0;

	BN_CTX_start(dh->ctx);
	x = BN_CTX_get(dh->ctx);
	r = BN_CTX_get(dh->ctx);
	if (r && BN_bin2bn(priv, MSE_PRIV_LEN, x)) {
		/* the exponent is the secret: keep its timing out of reach */
		BN_set_flags(x, BN_FLG_CONSTTIME);
		ok = BN_mod_exp(r, base, x, dh->p, dh->ctx) &&
		     BN_bn2binpad(r, out, MSE_KEY_LEN) == (int)MSE_KEY_LEN;
	}
	BN_CTX_end(dh->ctx);
	return ok ? 0 : -ENOMEM;
}

int mse_dh_public(struct mse_dh *dh, const uint8_t priv[MSE_PRIV_LEN], uint8_t pub[MSE_KEY_LEN])
{
	return modexp(dh, dh->g, priv, pub);
}

int mse_dh_secret(struct mse_dh *dh, const uint8_t priv[MSE_PRIV_LEN],
		  const uint8_t peer[MSE_KEY_LEN], uint8_t secret[MSE_KEY_LEN])
{
	BIGNUM *y;
	int rc = -ENOMEM;

	BN_CTX_start(dh->ctx);
	y = BN_CTX_get(dh->ctx);
	if (y && BN_bin2bn(peer, MSE_KEY_LEN, y)) {
		if (BN_is_zero(y) || BN_is_one(y) || BN_cmp(y, dh->p_minus_1) >= 0)
			rc = -EINVAL;
		else
			rc = modexp(dh, y, priv, secret);
	}
	BN_CTX_end(dh->ctx);
	return rc;
}

/* ---- the responder ---- */

/* SHA1(tag || a || b), tag 4 bytes; b may be NULL. */
static int tag_hash(const struct mse_env *env, const char *tag, const uint8_t *a, size_t alen,
		    const uint8_t *b, size_t blen, uint8_t out[20])
{
	uint8_t msg[4 + MSE_KEY_LEN + 20];

	memcpy(msg, tag, 4);
	memcpy(msg + 4, a, alen);
	if (b)
		memcpy(msg + 4 + alen, b, blen);
	return hash_sha1(env->hash, msg, 4 + alen + blen, out);
}

void mse_resp_init(struct mse_resp *m, const uint8_t *prefix, size_t n)
{
	memset(m, 0, offsetof(struct mse_resp, buf));
	m->state = MSE_S_YA;
	m->why = NULL;
	if (n > 20)
		n = 20;
	memcpy(m->buf, prefix, n);
	m->have = (uint16_t)n;
}

static int fail(struct mse_resp *m, int status, const char *why)
{
	m->state = MSE_S_FAILED;
	m->status = (uint8_t)status;
	m->why = why;
	return status;
}

/* Takes bytes until the current field holds need bytes; 1 when full. */
static int take(struct mse_resp *m, const uint8_t *in, size_t len, size_t *i, size_t need)
{
	size_t n = need - m->have;

	if (n > len - *i)
		n = len - *i;
	memcpy(m->buf + m->have, in + *i, n);
	m->have = (uint16_t)(m->have + n);
	*i += n;
	return m->have == need;
}

/* Ya is in: our key pair, the secret, the hashes step 3 is found by, and
 * step 2 into out. */
static int on_ya(struct mse_resp *m, const struct mse_env *env, uint8_t *out, size_t *out_len)
{
	uint8_t padlen[2];
	size_t npad;
	int rc;

	env->random(env->random_ctx, m->x, MSE_PRIV_LEN);
	rc = mse_dh_secret(env->dh, m->x, m->buf, m->secret);
	if (rc == -EINVAL)
		return fail(m, MSE_ERR_KEY, "MSE: the peer's DH key is out of range");
	if (rc < 0 || mse_dh_public(env->dh, m->x, out) < 0 ||
	    tag_hash(env, "req1", m->secret, MSE_KEY_LEN, NULL, 0, m->req1) < 0 ||
	    tag_hash(env, "req3", m->secret, MSE_KEY_LEN, NULL, 0, m->req3) < 0)
		return fail(m, MSE_ERR_NOMEM, "MSE: out of memory");
	env->random(env->random_ctx, padlen, 2);
	npad = (size_t)byteio_be16(padlen) % (MSE_PAD_MAX + 1);
	env->random(env->random_ctx, out + MSE_KEY_LEN, npad);
	*out_len = MSE_KEY_LEN + npad;
	m->state = MSE_S_SYNC;
	m->have = 0;
	return MSE_MORE;
}

/* req2 xor req3 is in buf: find SKEY, set up both keystreams. */
static int on_req2(struct mse_resp *m, const struct mse_env *env)
{
	uint8_t req2[20], key[20];

	for (unsigned k = 0; k < 20; k++)
		req2[k] = m->buf[k] ^ m->req3[k];
	if (!env->skey || env->skey(env->skey_ctx, req2, m->skey) < 0)
		return fail(m, MSE_ERR_UNKNOWN, "MSE: the handshake names no served release");
	if (tag_hash(env, "keyA", m->secret, MSE_KEY_LEN, m->skey, 20, key) < 0)
		return fail(m, MSE_ERR_NOMEM, "MSE: out of memory");
	mse_rc4_init(&m->dec, key, 20);
	if (tag_hash(env, "keyB", m->secret, MSE_KEY_LEN, m->skey, 20, key) < 0)
		return fail(m, MSE_ERR_NOMEM, "MSE: out of memory");
	mse_rc4_init(&m->enc, key, 20);
	/* the secret and our exponent are no longer needed */
	memset(m->x, 0, sizeof(m->x));
	memset(m->secret, 0, sizeof(m->secret));
	m->state = MSE_S_VC;
	m->have = 0;
	return MSE_MORE;
}

/* VC, crypto_provide, len(PadC) decrypted in buf. */
static int on_field3(struct mse_resp *m, const struct mse_env *env)
{
	static const uint8_t zero[VC_LEN];
	uint16_t padc;

	mse_rc4_crypt(&m->dec, m->buf, FIELD3_LEN);
	if (memcmp(m->buf, zero, VC_LEN))
		return fail(m, MSE_ERR_VC, "MSE: verification constant mismatch");
	m->provide = byteio_be32(m->buf + 8);
	padc = byteio_be16(m->buf + 12);
	if (padc > MSE_PAD_MAX)
		return fail(m, MSE_ERR_BOUND, "MSE: PadC over 512 bytes");
	m->select = 0;
	if (m->provide & MSE_PROVIDE_PLAIN)
		m->select = MSE_PROVIDE_PLAIN;
	else if ((m->provide & MSE_PROVIDE_RC4) && env->allow_rc4)
		m->select = MSE_PROVIDE_RC4;
	else if (m->provide & MSE_PROVIDE_RC4)
		return fail(m, MSE_ERR_RC4_ONLY,
			    "MSE: the peer insists on RC4, which this seed is set to refuse");
	else
		return fail(m, MSE_ERR_VC, "MSE: the peer offers no method we know");
	m->padc_left = padc;
	m->state = padc ? MSE_S_PADC : MSE_S_IALEN;
	m->have = 0;
	return MSE_MORE;
}

/* Step 4: ENCRYPT(VC, crypto_select, len(PadD) = 0). */
static void step4(struct mse_resp *m, uint8_t *out, size_t *out_len)
{
	memset(out, 0, FIELD3_LEN);
	byteio_put_be32(out + 8, m->select);
	mse_rc4_crypt(&m->enc, out, FIELD3_LEN);
	*out_len = FIELD3_LEN;
}

int mse_resp_feed(struct mse_resp *m, const struct mse_env *env, const uint8_t *in, size_t len,
		  size_t *consumed, uint8_t *out, size_t *out_len)
{
	size_t i = 0;
	int rc = MSE_MORE;

	*out_len = 0;
	if (m->state == MSE_S_FAILED) {
		*consumed = len;
		return m->status;
	}
	while (rc == MSE_MORE && m->state != MSE_S_DONE) {
		switch (m->state) {
		case MSE_S_YA:
			if (!take(m, in, len, &i, MSE_KEY_LEN))
				goto out;
			rc = on_ya(m, env, out, out_len);
			goto out; /* step 2 goes out before anything else */
		case MSE_S_SYNC:
			while (i < len) {
				m->buf[m->have++] = in[i++];
				if (m->have >= 20 && !memcmp(m->buf + m->have - 20, m->req1, 20)) {
					m->state = MSE_S_REQ2;
					m->have = 0;
					break;
				}
				if (m->have == SYNC_WINDOW) {
					rc = fail(m, MSE_ERR_SYNC, "MSE: no req1 hash after PadA");
					break;
				}
			}
			if (m->state == MSE_S_SYNC)
				goto out;
			break;
		case MSE_S_REQ2:
			if (!take(m, in, len, &i, 20))
				goto out;
			rc = on_req2(m, env);
			break;
		case MSE_S_VC:
			if (!take(m, in, len, &i, FIELD3_LEN))
				goto out;
			rc = on_field3(m, env);
			break;
		case MSE_S_PADC: {
			size_t n = m->padc_left < len - i ? m->padc_left : len - i;

			/* PadC only advances the keystream */
			while (n) {
				size_t k = n < sizeof(m->buf) ? n : sizeof(m->buf);

				memcpy(m->buf, in + i, k);
				mse_rc4_crypt(&m->dec, m->buf, k);
				i += k;
				n -= k;
				m->padc_left = (uint16_t)(m->padc_left - k);
			}
			if (m->padc_left)
				goto out;
			m->state = MSE_S_IALEN;
			m->have = 0;
			break;
		}
		case MSE_S_IALEN:
			if (!take(m, in, len, &i, 2))
				goto out;
			mse_rc4_crypt(&m->dec, m->buf, 2);
			m->ia_len = byteio_be16(m->buf);
			if (m->ia_len > MSE_IA_MAX) {
				rc = fail(m, MSE_ERR_BOUND, "MSE: IA over 1024 bytes");
				break;
			}
			m->state = MSE_S_IA;
			m->have = 0;
			step4(m, out, out_len);
			if (m->ia_len == 0) {
				m->state = MSE_S_DONE;
				rc = MSE_DONE;
			}
			goto out; /* step 4 goes out first */
		case MSE_S_IA: {
			size_t n = m->ia_len - m->have;

			if (n > len - i)
				n = len - i;
			memcpy(m->ia + m->have, in + i, n);
			mse_rc4_crypt(&m->dec, m->ia + m->have, n);
			m->have = (uint16_t)(m->have + n);
			i += n;
			if (m->have < m->ia_len)
				goto out;
			m->state = MSE_S_DONE;
			rc = MSE_DONE;
			break;
		}
		default: rc = fail(m, MSE_ERR_SYNC, "MSE: bad state"); break;
		}
	}
out:
	if (m->state == MSE_S_FAILED) {
		*consumed = len;
		*out_len = 0;
		return m->status;
	}
	*consumed = i;
	return m->state == MSE_S_DONE ? MSE_DONE : rc;
}
