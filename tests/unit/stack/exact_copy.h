/*
 * exact_copy: bytes handed to the stack's parsers in a heap block of
 * exactly their length, so that a read past the end is an
 * AddressSanitizer error (test_eth.c, test_arp.c, test_ipv4.c,
 * test_icmp.c). Header-only; a test includes it after criterion.
 */
#ifndef SEED_TEST_EXACT_COPY_H
#define SEED_TEST_EXACT_COPY_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* p[0..len) copied into a block of len bytes (1 when len is 0, never
 * read); the caller frees it. */
static inline uint8_t *exact_copy(const void *p, size_t len)
{
	uint8_t *blk = malloc(len ? len : 1);

	cr_assert_not_null(blk);
	if (len)
		memcpy(blk, p, len);
	return blk;
}

#endif
