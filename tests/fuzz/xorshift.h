/*
 * xorshift: the deterministic generator the fuzz harnesses draw their
 * choices from (xorshift32, Marsaglia 2003): the same input bytes always
 * give the same run. A state of 0 starts from a fixed seed.
 */
#ifndef SEED_FUZZ_XORSHIFT_H
#define SEED_FUZZ_XORSHIFT_H

#include <stdint.h>

static inline uint32_t xorshift32(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

#endif
