/*
 * mse: the responder half of Message Stream Encryption (MSE, also called
 * PE or "protocol encryption"), the obfuscated handshake libtorrent,
 * Transmission and most other clients try before plain BitTorrent. A pure
 * seed only ever answers: it never dials out.
 *
 * Why a seed needs it: libtorrent's default (out_enc_policy = enabled) is
 * to dial with MSE first and redial in plaintext only after the encrypted
 * attempt fails, which costs about a second per peer. Answering MSE and
 * selecting plaintext gets the peer straight to the peer wire, and the
 * payload still leaves from the verified cache without a copy.
 *
 * The exchange (A the peer, B us; S the Diffie-Hellman secret, SKEY the
 * torrent's 20-byte info-hash, HASH SHA-1, ENCRYPT RC4 with the first 1024
 * bytes of keystream dropped, keyed SHA1("keyA" S SKEY) for A->B and
 * SHA1("keyB" S SKEY) for B->A):
 *   1 A->B  Ya, PadA                     Ya: 96 bytes, PadA: 0-512 bytes
 *   2 B->A  Yb, PadB                     sent as soon as Ya is in
 *   3 A->B  HASH("req1" S), HASH("req2" SKEY) xor HASH("req3" S),
 *           ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4 B->A  ENCRYPT(VC, crypto_select, len(PadD) = 0)
 *   then the selected method: plaintext (1) or RC4 (2).
 * The responder finds step 3 by scanning for HASH("req1" S) in the 532
 * bytes after Ya, and learns SKEY by looking HASH("req2" SKEY) up among the
 * releases it serves (the caller's lookup; no release → failure). IA, the
 * peer's initial payload (its BitTorrent handshake for Transmission, empty
 * for libtorrent), is decrypted and handed back for the peer-wire engine.
 *
 * We select plaintext whenever the peer offers it: the payload then leaves
 * from the verified cache untouched. A peer that offers RC4 alone (for one,
 * Transmission's default "prefer encryption" does) gets RC4 when the caller
 * allows it (env.allow_rc4), and is refused otherwise (MSE_ERR_RC4_ONLY);
 * after an RC4 selection m->dec and m->enc carry on as the stream ciphers
 * of everything that follows, which whoever moves the bytes applies.
 *
 * Sans-I/O like the engines beside it: bytes in, bytes out; randomness and
 * the release lookup come from the caller (struct mse_env). The DH group
 * lives in a per-thread struct mse_dh (OpenSSL bignum), created once.
 */
#ifndef SEED_MSE_H
#define SEED_MSE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define MSE_KEY_LEN	  96u			      /* DH public keys and secret, 768 bits */
#define MSE_PRIV_LEN	  20u			      /* our private exponent, 160 bits */
#define MSE_PAD_MAX	  512u			      /* PadA..PadD bound (the spec's) */
#define MSE_IA_MAX	  1024u			      /* IA we accept; the spec sets no bound */
#define MSE_OUT_MAX	  (MSE_KEY_LEN + MSE_PAD_MAX) /* bytes one mse_resp_feed may write */
#define MSE_PROVIDE_PLAIN 0x01u
#define MSE_PROVIDE_RC4	  0x02u

/* RC4 keystream state. */
struct mse_rc4 {
	uint8_t s[256];
	uint8_t i, j;
};

/* Keys the state with key[0..len) and drops the first 1024 bytes of
 * keystream, as MSE requires. */
void mse_rc4_init(struct mse_rc4 *r, const uint8_t *key, size_t len);
/* XORs n bytes of keystream into p (encrypts or decrypts in place). */
void mse_rc4_crypt(struct mse_rc4 *r, uint8_t *p, size_t n);

/* MSE's 768-bit group (generator 2) with its bignum scratch; one per
 * thread. */
struct mse_dh;

/* 0, or -ENOMEM. */
int mse_dh_create(struct mse_dh **out);
void mse_dh_free(struct mse_dh *dh);
/* pub = 2^priv mod P, big-endian, 96 bytes. 0 or -ENOMEM. */
int mse_dh_public(struct mse_dh *dh, const uint8_t priv[MSE_PRIV_LEN], uint8_t pub[MSE_KEY_LEN]);
/* secret = peer^priv mod P. -EINVAL when peer is not in [2, P - 2] (a key
 * a well-behaved peer never sends: 0, 1 and P - 1 give a known secret),
 * -ENOMEM. */
int mse_dh_secret(struct mse_dh *dh, const uint8_t priv[MSE_PRIV_LEN],
		  const uint8_t peer[MSE_KEY_LEN], uint8_t secret[MSE_KEY_LEN]);

/* What a call needs from its caller. */
struct mse_env {
	struct mse_dh *dh;
	struct hash_ctx *hash; /* SHA-1 of short messages */
	/* n random bytes into p (private key, pad) */
	void (*random)(void *ctx, uint8_t *p, size_t n);
	void *random_ctx;
	/* The info-hash whose SHA1("req2" ih) is req2, into skey: 0, or -1
	 * when no served release has it. */
	int (*skey)(void *ctx, const uint8_t req2[20], uint8_t skey[20]);
	void *skey_ctx;
	int allow_rc4; /* select RC4 for a peer that offers nothing else */
};

/* Outcome of mse_resp_feed. */
enum mse_status {
	MSE_MORE = 0,	  /* call again with more input (or after sending out) */
	MSE_DONE,	  /* step 4 is out; IA is in m->ia; the rest is in m->select */
	MSE_ERR_KEY,	  /* Ya out of range */
	MSE_ERR_SYNC,	  /* no HASH("req1" S) within 532 bytes after Ya */
	MSE_ERR_UNKNOWN,  /* SKEY names no served release */
	MSE_ERR_VC,	  /* the verification constant did not decrypt to zero */
	MSE_ERR_RC4_ONLY, /* the peer offers no plaintext, and RC4 is not allowed */
	MSE_ERR_BOUND,	  /* PadC over 512 or IA over MSE_IA_MAX */
	MSE_ERR_NOMEM,
};

enum {
	MSE_S_YA = 0,
	MSE_S_SYNC,
	MSE_S_REQ2,
	MSE_S_VC,
	MSE_S_PADC,
	MSE_S_IALEN,
	MSE_S_IA,
	MSE_S_DONE,
	MSE_S_FAILED
};

/* One responder handshake. Fields are private to mse.c except the results:
 * ia / ia_len and skey after MSE_DONE, why after a failure. */
struct mse_resp {
	uint8_t state;
	uint8_t select; /* the method we chose */
	uint8_t status; /* the error, once failed */
	uint16_t have;	/* bytes of the current field in buf */
	uint16_t padc_left, ia_len;
	uint32_t provide;
	uint8_t x[MSE_PRIV_LEN];
	uint8_t req1[20], req3[20];
	uint8_t secret[MSE_KEY_LEN];
	uint8_t skey[20];
	uint8_t buf[MSE_PAD_MAX + 20]; /* Ya, then the req1 window, then fields */
	struct mse_rc4 dec, enc;
	uint8_t ia[MSE_IA_MAX];
	const char *why; /* after a failure, for logs */
};

/* Starts a handshake; prefix[0..n) are bytes of Ya already read (the
 * peer-wire engine reads up to 20 before it can tell a plain handshake
 * from Ya). n <= 20. */
void mse_resp_init(struct mse_resp *m, const uint8_t *prefix, size_t n);

/*
 * Input bytes. Consumes some of in[0..len) (*consumed) and writes bytes for
 * the peer into out[0..*out_len); out must hold MSE_OUT_MAX bytes. A call
 * stops right after it writes output, so the caller sends it and calls
 * again with the rest; it also stops at MSE_DONE, leaving the bytes after
 * IA (plaintext peer wire) unconsumed. Returns enum mse_status; after an
 * error every later call returns it again and consumes everything.
 */
int mse_resp_feed(struct mse_resp *m, const struct mse_env *env, const uint8_t *in, size_t len,
		  size_t *consumed, uint8_t *out, size_t *out_len);

#endif
