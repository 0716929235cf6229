/*
 * A test-side MSE initiator (the peer's half), built on OpenSSL alone
 * (bignum, SHA-1, its own RC4) so it shares no code with
 * dataplane/proto/mse.c: a wrong key derivation or keystream on our side
 * cannot cancel out against the same mistake here.
 */
#ifndef SEED_TEST_MSE_INITIATOR_H
#define SEED_TEST_MSE_INITIATOR_H

#include <openssl/bn.h>
#include <openssl/rc4.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#include "byteio.h"

/* OpenSSL 3 keeps RC4 and the SHA1_* calls as deprecated low-level API:
 * exactly the independent reference this wants. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

struct mi {
	uint8_t xa[20];
	uint8_t ya[96];
	uint8_t s[96];
	RC4_KEY enc;	 /* keyA: A -> B */
	RC4_KEY dec;	 /* keyB: B -> A */
	uint8_t vc_b[8]; /* what B's VC looks like encrypted */
};

/* The MSE spec's prime, as its text gives it. */
#define MI_PRIME_HEX                                                                               \
	"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879" \
	"8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A3621" \
	"0000000000090563"

static inline BIGNUM *mi_prime(void)
{
	BIGNUM *p = NULL;

	BN_hex2bn(&p, MI_PRIME_HEX);
	return p;
}

static inline void mi_modexp(const BIGNUM *base, const uint8_t xa[20], uint8_t out[96])
{
	BIGNUM *p = mi_prime(), *x = BN_bin2bn(xa, 20, NULL), *r = BN_new();
	BN_CTX *ctx = BN_CTX_new();

	BN_mod_exp(r, base, x, p, ctx);
	BN_bn2binpad(r, out, 96);
	BN_free(p);
	BN_free(x);
	BN_free(r);
	BN_CTX_free(ctx);
}

/* Step 1 into out: Ya then padlen bytes of PadA. Returns its length. */
static inline size_t mi_step1(struct mi *m, uint8_t seed, size_t padlen, uint8_t *out)
{
	BIGNUM *g = BN_new();

	for (int i = 0; i < 20; i++)
		m->xa[i] = (uint8_t)(seed * 29 + i * 7 + 1);
	BN_set_word(g, 2);
	mi_modexp(g, m->xa, m->ya);
	BN_free(g);
	memcpy(out, m->ya, 96);
	for (size_t i = 0; i < padlen; i++)
		out[96 + i] = (uint8_t)(i * 13 + seed);
	return 96 + padlen;
}

static inline void mi_sha1(const char *tag, const uint8_t *a, size_t alen, const uint8_t *b,
			   size_t blen, uint8_t out[20])
{
	SHA_CTX c;

	SHA1_Init(&c);
	SHA1_Update(&c, tag, 4);
	SHA1_Update(&c, a, alen);
	if (b)
		SHA1_Update(&c, b, blen);
	SHA1_Final(out, &c);
}

/* n bytes through one of the peer's ciphers, in place */
static inline void mi_rc4(RC4_KEY *k, uint8_t *p, size_t n)
{
	RC4(k, n, p, p);
}

static inline void mi_rc4_key(RC4_KEY *k, const uint8_t key[20])
{
	uint8_t drop[1024] = { 0 };

	RC4_set_key(k, 20, key);
	RC4(k, sizeof(drop), drop, drop);
}

/*
 * Yb (B's first 96 bytes) is in: the secret, both keystreams. Then step 3
 * into out: req1, req2 ^ req3, ENCRYPT(VC, provide, len(PadC), PadC,
 * len(IA)), ENCRYPT(IA). Returns its length.
 */
static inline size_t mi_step3(struct mi *m, const uint8_t yb[96], const uint8_t skey[20],
			      uint32_t provide, size_t padc, const uint8_t *ia, size_t ia_len,
			      uint8_t *out)
{
	BIGNUM *y = BN_bin2bn(yb, 96, NULL);
	uint8_t h[20], h3[20], key[20], *p = out;

	mi_modexp(y, m->xa, m->s);
	BN_free(y);
	mi_sha1("req1", m->s, 96, NULL, 0, p);
	p += 20;
	mi_sha1("req2", skey, 20, NULL, 0, h);
	mi_sha1("req3", m->s, 96, NULL, 0, h3);
	for (int i = 0; i < 20; i++)
		p[i] = h[i] ^ h3[i];
	p += 20;
	mi_sha1("keyA", m->s, 96, skey, 20, key);
	mi_rc4_key(&m->enc, key);
	mi_sha1("keyB", m->s, 96, skey, 20, key);
	mi_rc4_key(&m->dec, key);
	{
		RC4_KEY peek = m->dec;
		uint8_t z[8] = { 0 };

		RC4(&peek, 8, z, m->vc_b);
	}
	uint8_t *enc_start = p;
	memset(p, 0, 8);
	p += 8;
	byteio_put_be32(p, provide);
	p += 4;
	byteio_put_be16(p, (uint16_t)padc);
	p += 2;
	memset(p, 0x5a, padc);
	p += padc;
	byteio_put_be16(p, (uint16_t)ia_len);
	p += 2;
	if (ia_len)
		memcpy(p, ia, ia_len);
	p += ia_len;
	RC4(&m->enc, (size_t)(p - enc_start), enc_start, enc_start);
	return (size_t)(p - out);
}

/*
 * Finds step 4 in what B sent after Yb (in[0..len): PadB, then step 4):
 * returns the offset just past it and sets *select, or -1 when the VC is
 * not found or len(PadD) is not 0.
 */
static inline long mi_step4(struct mi *m, const uint8_t *in, size_t len, uint32_t *select)
{
	for (size_t o = 0; o + 14 <= len && o <= 512; o++) {
		uint8_t f[14];

		if (memcmp(in + o, m->vc_b, 8))
			continue;
		memcpy(f, in + o, 14);
		RC4(&m->dec, 14, f, f);
		*select = byteio_be32(f + 8);
		if (f[12] || f[13])
			return -1;
		return (long)(o + 14);
	}
	return -1;
}

#pragma GCC diagnostic pop

#endif
