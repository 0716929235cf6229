/*
 * csum: the Internet checksum (RFC 1071) over scattered bytes.
 *
 * How it is fast: a slice is summed as native 64-bit loads into a 64-bit
 * one's complement accumulator (the carry out of each add is added back
 * in, which the compiler turns into add/adc), four words per iteration,
 * then the tail in 4-, 2- and 1-byte steps. One's complement addition is
 * commutative and byte-order independent (RFC 1071 §2(B)): summing the
 * slice as native words and swapping the folded 16-bit result once gives
 * the sum of its big-endian words. A slice that starts at an odd offset of
 * the checksummed data has its words shifted by a byte, which is the same
 * swap again (§2(A)), so parity costs one conditional swap per slice.
 *
 * Invariant: c->acc holds big-endian-word sums of complete slices, each
 * folded to 16 bits before it was added, so it cannot overflow before
 * 2^48 slices; csum_sum() folds it.
 *
 * Loads go through memcpy (no alignment assumption, no cast of the byte
 * pointer), which the compiler turns into plain unaligned loads on x86 and
 * arm64.
 */
#include "csum.h"

#include <string.h>

static inline uint64_t add_carry(uint64_t acc, uint64_t v)
{
	acc += v;
	return acc + (acc < v); /* end-around carry: cannot carry again */
}

static inline uint16_t fold64(uint64_t s)
{
	s = (s & 0xffffffffu) + (s >> 32); /* <= 2^33 */
	s = (s & 0xffffffffu) + (s >> 32); /* <= 2^32 */
	s = (s & 0xffffu) + (s >> 16);
	s = (s & 0xffffu) + (s >> 16);
	return (uint16_t)s;
}

static inline uint16_t swap16(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}

/* Adds the next n bytes of *p (n a constant: one load) as a native word
 * padded with zeros, and steps past them. A word shorter than 8 bytes
 * lands in the low bytes on little-endian machines and the high ones on
 * big-endian: 2^16 is 1 in one's complement arithmetic, so any shift by a
 * multiple of 16 bits leaves the sum alone, and a lone byte is the first
 * byte of a 16-bit word padded with 0 either way, as RFC 1071 pads it. */
static inline uint64_t add_next(uint64_t acc, const uint8_t **p, size_t *len, size_t n)
{
	uint64_t w = 0;

	memcpy(&w, *p, n);
	*p += n;
	*len -= n;
	return add_carry(acc, w);
}

/* The one's complement sum of p[0..len) as native-order 16-bit words,
 * folded; a last odd byte is the first byte of a word padded with 0. */
static uint16_t sum_native(const uint8_t *p, size_t len)
{
	uint64_t acc = 0, w0, w1, w2, w3;

	while (len >= 32) {
		memcpy(&w0, p, 8);
		memcpy(&w1, p + 8, 8);
		memcpy(&w2, p + 16, 8);
		memcpy(&w3, p + 24, 8);
		acc = add_carry(acc, w0);
		acc = add_carry(acc, w1);
		acc = add_carry(acc, w2);
		acc = add_carry(acc, w3);
		p += 32;
		len -= 32;
	}
	while (len >= 8)
		acc = add_next(acc, &p, &len, 8);
	if (len >= 4)
		acc = add_next(acc, &p, &len, 4);
	if (len >= 2)
		acc = add_next(acc, &p, &len, 2);
	if (len)
		acc = add_next(acc, &p, &len, 1);
	return fold64(acc);
}

void csum_feed(struct csum *c, const void *p, size_t len)
{
	uint16_t s;

	if (len == 0)
		return;
	s = sum_native(p, len);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* native words are byte-swapped big-endian words: swap back, unless
	 * the slice starts at an odd offset, whose shift swaps them again */
	if (!c->odd)
		s = swap16(s);
#else
	if (c->odd)
		s = swap16(s);
#endif
	c->acc += s;
	c->odd ^= (unsigned)(len & 1);
}

void csum_add16(struct csum *c, uint16_t v)
{
	c->acc += v;
}

uint16_t csum_sum(const struct csum *c)
{
	return fold64(c->acc);
}

uint16_t csum_buf(const void *p, size_t len)
{
	struct csum c;

	csum_init(&c);
	csum_feed(&c, p, len);
	return csum_final(&c);
}
