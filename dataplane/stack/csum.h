/*
 * csum: the Internet checksum (RFC 1071) over scattered bytes.
 *
 * AF_XDP and af_packet PMDs offer no checksum offload, so every frame's
 * IPv4 and TCP checksums are computed here in software; a TCP segment's
 * payload is several slices of cache memory of any length, so the sum
 * carries the parity of what it has seen (an odd-length slice shifts the
 * next one by a byte). Values are big-endian 16-bit words read as host
 * integers: store a result with byteio_put_be16().
 */
#ifndef SEED_CSUM_H
#define SEED_CSUM_H

#include <stddef.h>
#include <stdint.h>

struct csum {
	uint64_t acc;
	unsigned odd; /* bytes fed so far is odd */
};

static inline void csum_init(struct csum *c)
{
	c->acc = 0;
	c->odd = 0;
}

/* Adds p[0..len) as the next bytes of the checksummed data. */
void csum_feed(struct csum *c, const void *p, size_t len);

/* Adds a 16-bit word (host value of a big-endian field), at an even
 * offset: for pseudo-header fields. */
void csum_add16(struct csum *c, uint16_t v);

/* The folded sum, not inverted (what a pseudo-header leaves in the field
 * for a NIC that finishes the checksum). */
uint16_t csum_sum(const struct csum *c);

/* The checksum to store: ~sum. Over data that includes a correct checksum
 * field, csum_final() is 0. */
static inline uint16_t csum_final(const struct csum *c)
{
	return (uint16_t)~csum_sum(c);
}

/* The checksum of one buffer, as csum_final() gives it: the value to
 * store, and 0 over data that includes a correct checksum field. */
uint16_t csum_buf(const void *p, size_t len);

#endif
