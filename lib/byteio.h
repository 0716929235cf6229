/*
 * byteio: fixed-width integers in big-endian (network, BitTorrent wire,
 * UDP tracker) and little-endian (the store's and catalog's on-disk
 * formats) byte order, loaded from and stored to unaligned memory.
 *
 * Byte-by-byte on purpose: the compiler turns these into one load or store
 * plus a bswap where the target allows, they never read or write past the
 * width they name, and they do not care about the pointer's alignment
 * (wire buffers and mapped files are not aligned).
 *
 * Header-only: every caller is on a parse or build path where a call per
 * field would cost more than the field.
 */
#ifndef SEED_BYTEIO_H
#define SEED_BYTEIO_H

#include <stdint.h>

static inline uint16_t byteio_be16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t byteio_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t byteio_be64(const uint8_t *p)
{
	return (uint64_t)byteio_be32(p) << 32 | byteio_be32(p + 4);
}

static inline void byteio_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void byteio_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void byteio_put_be64(uint8_t *p, uint64_t v)
{
	byteio_put_be32(p, (uint32_t)(v >> 32));
	byteio_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t byteio_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t byteio_le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t byteio_le64(const uint8_t *p)
{
	return byteio_le32(p) | (uint64_t)byteio_le32(p + 4) << 32;
}

static inline void byteio_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void byteio_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void byteio_put_le64(uint8_t *p, uint64_t v)
{
	byteio_put_le32(p, (uint32_t)v);
	byteio_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
