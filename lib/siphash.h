/*
 * siphash: SipHash-2-4 (Aumasson and Bernstein, 2012), a keyed hash that an
 * attacker who does not know the key cannot predict or collide: what SYN
 * cookies and per-connection timestamp offsets need, where a fast unkeyed
 * hash (FNV, xxHash) would let a spoofer forge a cookie.
 */
#ifndef SEED_SIPHASH_H
#define SEED_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of p[0..len) under the 16-byte key. */
uint64_t siphash24(const uint8_t key[16], const void *p, size_t len);

#endif
