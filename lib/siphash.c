/*
 * siphash: SipHash-2-4 as specified in the paper's §2 (little-endian words,
 * two compression rounds per word, four finalization rounds).
 */
#include "siphash.h"

#include "byteio.h"

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

struct sipstate {
	uint64_t v0, v1, v2, v3;
};

static inline void sipround(struct sipstate *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13) ^ s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16) ^ s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21) ^ s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17) ^ s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void sipabsorb(struct sipstate *s, uint64_t m)
{
	s->v3 ^= m;
	sipround(s);
	sipround(s);
	s->v0 ^= m;
}

uint64_t siphash24(const uint8_t key[16], const void *p, size_t len)
{
	const uint8_t *in = p;
	uint64_t k0 = byteio_le64(key), k1 = byteio_le64(key + 8);
	struct sipstate s = {
		.v0 = k0 ^ 0x736f6d6570736575ull,
		.v1 = k1 ^ 0x646f72616e646f6dull,
		.v2 = k0 ^ 0x6c7967656e657261ull,
		.v3 = k1 ^ 0x7465646279746573ull,
	};
	size_t i = 0;
	for (; i + 8 <= len; i += 8)
		sipabsorb(&s, byteio_le64(in + i));
	/* the last word: the remaining bytes, and the length in the top byte */
	uint64_t last = (uint64_t)(len & 0xff) << 56;
	for (size_t k = 0; i + k < len; k++)
		last |= (uint64_t)in[i + k] << (8 * k);
	sipabsorb(&s, last);
	s.v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		sipround(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
