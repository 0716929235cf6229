/* utf8: see utf8.h. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

/* Both checks share one decoder; printable adds the control-character rule. */
static bool check(const uint8_t *s, const uint8_t *end, bool printable)
{
	while (s < end) {
		unsigned c = *s, len, cp;
		if (c < 0x80) {
			if (printable && (c < 0x20 || c == 0x7f))
				return false;
			s++;
			continue;
		}
		/* 0xc0, 0xc1 could only start overlong two-byte forms; 0xf5+ is past U+10FFFF. */
		if (c >= 0xc2 && c <= 0xdf) {
			len = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - s) <= len)
			return false;
		for (unsigned i = 1; i <= len; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((len == 2 && cp < 0x800) || (len == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (printable && cp <= 0x9f))
			return false;
		s += len + 1;
	}
	return true;
}

bool utf8_valid(const void *p, size_t n)
{
	return check(p, (const uint8_t *)p + n, false);
}

bool utf8_valid_str(const char *s)
{
	return check((const uint8_t *)s, (const uint8_t *)s + strlen(s), false);
}

bool utf8_printable(const char *s)
{
	return check((const uint8_t *)s, (const uint8_t *)s + strlen(s), true);
}
