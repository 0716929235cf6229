/*
 * hex: lowercase hexadecimal for info-hashes, pieces roots and digests in
 * ids, file names, logs, JSON and URLs.
 *
 * Encoding always writes lowercase (the store's file names and the API's
 * ids compare as strings); decoding accepts either case, as magnet links
 * and operators' typing do. Nothing here allocates or reads past the
 * lengths it is given.
 */
#ifndef SEED_HEX_H
#define SEED_HEX_H

#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit, or -1 when c is not one. */
int hex_digit(int c);

/* Writes 2*n lowercase digits and a NUL to out (2*n + 1 bytes). */
void hex_encode(const uint8_t *p, size_t n, char *out);

/*
 * Decodes exactly 2*n digits of s into out[0..n-1]. Returns 0, or -EINVAL
 * (out untouched) when slen != 2*n or any character is not a hex digit.
 */
int hex_decode(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
