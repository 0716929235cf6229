/* hex: see hex.h. */
#include "hex.h"

#include <errno.h>

static const char hex_lower[] = "0123456789abcdef";

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void hex_encode(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[p[i] >> 4];
		out[2 * i + 1] = hex_lower[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen / 2 != n || slen % 2)
		return -EINVAL;
	/* Check everything first so a bad digit leaves out untouched. */
	for (size_t i = 0; i < slen; i++)
		if (hex_digit((unsigned char)s[i]) < 0)
			return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(hex_digit((unsigned char)s[2 * i]) << 4 |
				   hex_digit((unsigned char)s[2 * i + 1]));
	return 0;
}
